//! The responder: request → status → (cached or fresh) signed response, plus the background
//! work that keeps the cache right (journal polling, refresh before nextUpdate).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256};
use const_oid::db::rfc6960::ID_PKIX_OCSP_NONCE;
use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use rand::Rng as _;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{CertId, OcspResponseStatus};

use super::budget::Budget;
use super::cache::{Cache, CacheStats, Cached, Miss, SerialKey, VARIANTS};
use super::request::{parse_request, CertIdHash, ParsedRequest};
use super::response::{
    assemble, core, error_response, response_data, single_response, unix_now, ResponseStatus,
};
use super::{OcspCa, OcspConfig, OcspError};
use crate::domain::Serial;
use crate::limits::{count_refused, LISTENER_MAIN};
use crate::storage::Store;

/// Journal entries read per poll query.
const POLL_PAGE: u32 = 512;
/// Serials per page when pre-signing.
const PRESIGN_PAGE: u32 = 1024;
/// Responses signed per blocking task in bulk work (refresh, pre-signing).
const BATCH: usize = 128;

/// What the responder answers: a DER OCSPResponse and, when successful, its validity and
/// entity tag for the HTTP caching headers.
#[derive(Debug, Clone)]
pub struct OcspReply {
    status: OcspResponseStatus,
    body: Bytes,
    validity: Option<(u64, u64)>,
    etag: u64,
}

static MALFORMED: [u8; 5] = error_response(OcspResponseStatus::MalformedRequest);
static INTERNAL: [u8; 5] = error_response(OcspResponseStatus::InternalError);
static TRY_LATER: [u8; 5] = error_response(OcspResponseStatus::TryLater);
static SIG_REQUIRED: [u8; 5] = error_response(OcspResponseStatus::SigRequired);
static UNAUTHORIZED: [u8; 5] = error_response(OcspResponseStatus::Unauthorized);

impl OcspReply {
    /// An unsuccessful response (status only).
    pub fn error(status: OcspResponseStatus) -> Self {
        let body: &'static [u8] = match status {
            OcspResponseStatus::MalformedRequest => &MALFORMED,
            OcspResponseStatus::InternalError => &INTERNAL,
            OcspResponseStatus::SigRequired => &SIG_REQUIRED,
            OcspResponseStatus::Unauthorized => &UNAUTHORIZED,
            // `successful` needs a body: an error reply that claims success would be a lie.
            OcspResponseStatus::TryLater | OcspResponseStatus::Successful => &TRY_LATER,
        };
        OcspReply {
            status: if status == OcspResponseStatus::Successful {
                OcspResponseStatus::TryLater
            } else {
                status
            },
            body: Bytes::from_static(body),
            validity: None,
            etag: 0,
        }
    }

    fn signed(body: Vec<u8>, this_update: u64, next_update: u64, etag: u64) -> Self {
        OcspReply {
            status: OcspResponseStatus::Successful,
            body: Bytes::from(body),
            validity: Some((this_update, next_update)),
            etag,
        }
    }

    /// The OCSP response status.
    pub fn status(&self) -> OcspResponseStatus {
        self.status
    }

    /// The DER OCSPResponse.
    pub fn der(&self) -> &[u8] {
        &self.body
    }

    /// The DER OCSPResponse, as a shareable buffer.
    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// thisUpdate of the (single) response, for `Last-Modified`.
    pub fn this_update(&self) -> Option<SystemTime> {
        self.validity
            .map(|(t, _)| SystemTime::UNIX_EPOCH + Duration::from_secs(t))
    }

    /// nextUpdate, for `Expires` and `max-age`.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.validity
            .map(|(_, t)| SystemTime::UNIX_EPOCH + Duration::from_secs(t))
    }

    /// Strong entity tag (quoted), for successful responses.
    pub fn etag(&self) -> Option<String> {
        self.validity.map(|_| format!("\"{:016x}\"", self.etag))
    }

    pub(crate) fn validity_secs(&self) -> Option<(u64, u64)> {
        self.validity
    }
}

/// One response to sign.
#[derive(Debug, Clone, Copy)]
struct Item {
    key: SerialKey,
    variant: usize,
    status: ResponseStatus,
    ticket: u64,
    hot: bool,
    /// An answer for a serial no CA issued, for the cache of such answers: valid
    /// [`OcspConfig::unknown_validity_secs`], never refreshed.
    short: bool,
}

/// Response form of a CertID: hash algorithm × NULL-or-absent parameters.
fn variant_of(hash: CertIdHash, null_params: bool) -> usize {
    match (hash, null_params) {
        (CertIdHash::Sha1, true) => 0,
        (CertIdHash::Sha1, false) => 1,
        (CertIdHash::Sha256, true) => 2,
        (CertIdHash::Sha256, false) => 3,
    }
}

fn variant_parts(variant: usize) -> (CertIdHash, bool) {
    match variant {
        0 => (CertIdHash::Sha1, true),
        1 => (CertIdHash::Sha1, false),
        2 => (CertIdHash::Sha256, true),
        _ => (CertIdHash::Sha256, false),
    }
}

/// DER INTEGER content octets of a (positive) serial.
fn serial_octets(serial: &Serial) -> Vec<u8> {
    let mut magnitude = serial.to_be_bytes();
    if magnitude.first().is_some_and(|b| b & 0x80 != 0) {
        magnitude.insert(0, 0);
    }
    magnitude
}

fn cert_id_for(ca: &OcspCa, variant: usize, serial: &[u8]) -> Result<CertId, OcspError> {
    let (hash, null_params) = variant_parts(variant);
    let (name_hash, key_hash) = ca.hashes(hash);
    // The serial exactly as the client encoded it (SerialNumber::new would re-encode).
    let len = u8::try_from(serial.len())
        .map_err(|_| OcspError::Setup("serial longer than 255 octets".into()))?;
    let mut tlv = Vec::with_capacity(serial.len() + 2);
    tlv.extend_from_slice(&[0x02, len]);
    tlv.extend_from_slice(serial);
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: match hash {
                CertIdHash::Sha1 => ID_SHA_1,
                CertIdHash::Sha256 => ID_SHA_256,
            },
            parameters: null_params.then(|| Null.into()),
        },
        issuer_name_hash: OctetString::new(name_hash)?,
        issuer_key_hash: OctetString::new(key_hash)?,
        serial_number: SerialNumber::from_der(&tlv)?,
    })
}

fn etag_of(core: &[u8]) -> u64 {
    let d = Sha256::digest(core);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// The OCSP responder. Cheap to clone (shared state); background tasks stop when the last
/// clone is dropped.
#[derive(Clone)]
pub struct OcspResponder {
    inner: Arc<Inner>,
}

impl fmt::Debug for OcspResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcspResponder")
            .field("cas", &self.inner.cas)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Store,
    config: OcspConfig,
    cas: Vec<OcspCa>,
    cache: Cache,
    /// Signed answers for serials no CA issued, apart so that random serials cannot evict
    /// the responses of real certificates.
    unknowns: Cache,
    /// Fresh signatures the public may still cause this second.
    budget: Budget,
    /// Journal position of the change feed.
    cursor: tokio::sync::Mutex<u64>,
    /// Unix second of the last warning about a failure on the request path (rate limit).
    last_warning: AtomicU64,
    /// Warnings suppressed since the last one logged.
    suppressed: AtomicU64,
    bulk_threads: usize,
}

impl OcspResponder {
    /// Sets the responder up: checks the configuration and each CA's responder (certificate
    /// validity now, one signature made and verified), takes the journal position from which
    /// changes made through other instances are followed, and starts the background tasks
    /// (journal polling, refresh) on the current Tokio runtime.
    pub async fn new(
        store: Store,
        config: OcspConfig,
        cas: Vec<OcspCa>,
    ) -> Result<Self, OcspError> {
        config.validate()?;
        if cas.is_empty() {
            return Err(OcspError::Setup("no CA to answer for".into()));
        }
        if cas.len() > 255 {
            return Err(OcspError::Setup("more than 255 CAs".into()));
        }
        let now = unix_now();
        for ca in &cas {
            if now < ca.not_before || now >= ca.not_after {
                return Err(OcspError::ResponderCertificate {
                    ca: ca.name.to_string(),
                    reason: "the responder certificate is not valid now".into(),
                });
            }
        }
        let cursor = store.status_change_cursor().await?;
        let inner = Arc::new(Inner {
            store,
            cache: Cache::new(config.cache_capacity),
            unknowns: Cache::new(config.unknown_cache_capacity),
            budget: Budget::new(config.fresh_signatures_per_sec),
            config,
            cas,
            cursor: tokio::sync::Mutex::new(cursor),
            last_warning: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            bulk_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 4),
        });
        // One signature per responder key, verified: a wrong key, mechanism or PIN shows now.
        for i in 0..inner.cas.len() {
            let probe = inner.clone();
            tokio::task::spawn_blocking(move || probe.cas[i].sign(b"igc OCSP responder probe"))
                .await
                .map_err(|e| OcspError::Task(e.to_string()))??;
        }
        spawn_maintenance(&inner);
        Ok(OcspResponder { inner })
    }

    pub fn config(&self) -> &OcspConfig {
        &self.inner.config
    }

    /// The CAs answered for.
    pub fn cas(&self) -> &[OcspCa] {
        &self.inner.cas
    }

    /// Size of the response cache (real certificates).
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }

    /// Size of the cache of signed answers for serials no CA issued.
    pub fn unknown_cache_stats(&self) -> CacheStats {
        self.inner.unknowns.stats()
    }

    /// Answers a DER OCSPRequest. Never fails: problems are OCSP statuses
    /// (`malformedRequest`, `unauthorized`, `tryLater`).
    ///
    /// A response that cannot come from a cache (a nonce to echo, several CertIDs, a serial
    /// that cannot be cached) is signed fresh while the budget of
    /// [`OcspConfig::fresh_signatures_per_sec`] lasts; beyond it a single CertID is answered
    /// as if it came without nonce (RFC 9654 lets a responder ignore the nonce), so a real
    /// certificate always gets its status, and several CertIDs get `tryLater`.
    pub async fn respond(&self, der: &[u8]) -> OcspReply {
        let req = match parse_request(der, self.inner.config.max_certs_per_request) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "malformed OCSP request");
                return OcspReply::error(OcspResponseStatus::MalformedRequest);
            }
        };
        let Some(ca) = self.inner.issuer_of(&req) else {
            return OcspReply::error(OcspResponseStatus::Unauthorized);
        };
        let single = match req.certs.as_slice() {
            [c] => c
                .hash
                .zip(SerialKey::new(ca, c.serial_octets()))
                .map(|(hash, key)| (key, variant_of(hash, c.null_params))),
            _ => None,
        };
        if let (None, Some((key, variant))) = (&req.nonce, single) {
            return self.inner.cached(key, variant).await;
        }
        if self.inner.budget.try_take() {
            return self.inner.fresh(ca, req).await;
        }
        match single {
            // The nonce, over the budget: the pre-signed answer, without it.
            Some((key, variant)) => {
                let reply = self.inner.cached(key, variant).await;
                if reply.status() == OcspResponseStatus::Successful {
                    count_refused(LISTENER_MAIN, "ocsp_nonce_dropped");
                }
                reply
            }
            None => {
                // Serials longer than any CA issues (not cacheable) are unknown by nature.
                count_refused(
                    LISTENER_MAIN,
                    if req.certs.len() == 1 {
                        "ocsp_unknown_try_later"
                    } else {
                        "ocsp_multi_try_later"
                    },
                );
                OcspReply::error(OcspResponseStatus::TryLater)
            }
        }
    }

    /// Tells the responder that the status of `serial` changed (revoked, suspended,
    /// reinstated, issued): its cached responses are dropped before this returns — the next
    /// request reads the database — and the ones that were cached are re-signed in the
    /// background (when called inside a Tokio runtime; otherwise on the next request).
    ///
    /// Call it after the change is committed. Other instances learn of it from the journal
    /// within [`OcspConfig::poll_interval_ms`].
    pub fn notify_status_change(&self, serial: &Serial) {
        let work = self.inner.invalidate(serial);
        if work.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let inner = self.inner.clone();
            let serial = serial.clone();
            rt.spawn(async move { inner.resign(&serial, work).await });
        }
    }

    /// Reads the journal now for changes made through other instances (the background poller
    /// does this every [`OcspConfig::poll_interval_ms`]).
    pub async fn poll_changes(&self) -> Result<(), OcspError> {
        self.inner.poll_once().await
    }

    /// Pre-signs the response most clients ask for (SHA-1 CertID, NULL parameters: OpenSSL,
    /// browsers, Windows) for every certificate of every CA, up to the cache capacity. Returns
    /// the number of responses signed. Signing runs on blocking threads, several at a time.
    pub async fn presign(&self) -> Result<usize, OcspError> {
        let inner = &self.inner;
        let variant = variant_of(CertIdHash::Sha1, true);
        let mut total = 0usize;
        for ca in 0..inner.cas.len() {
            let mut after: Option<Serial> = None;
            while total < inner.config.cache_capacity {
                let ticket = inner.cache.ticket();
                let page = inner
                    .store
                    .ocsp_states_page(&inner.cas[ca].name, after.as_ref(), PRESIGN_PAGE)
                    .await?;
                let Some((last, _)) = page.last() else { break };
                after = Some(last.clone());
                let items: Vec<Item> = page
                    .iter()
                    .filter_map(|(serial, status)| {
                        Some(Item {
                            key: SerialKey::new(ca, &serial_octets(serial))?,
                            variant,
                            status: ResponseStatus::from_stored(Some(status)),
                            ticket,
                            hot: true,
                            short: false,
                        })
                    })
                    .collect();
                for (item, signed) in inner.sign_bulk(items).await {
                    let entry = signed?;
                    inner.cache.insert(item.key, item.variant, entry);
                    total += 1;
                }
            }
        }
        Ok(total)
    }
}

fn spawn_maintenance(inner: &Arc<Inner>) {
    let poll = inner.config.poll_interval();
    let weak = Arc::downgrade(inner);
    tokio::spawn(every(poll, weak, |inner| async move {
        if let Err(e) = inner.poll_once().await {
            tracing::warn!(error = %e, "OCSP: reading the journal for status changes failed");
        }
    }));
    let tick = inner.config.refresh_tick();
    let weak = Arc::downgrade(inner);
    tokio::spawn(every(tick, weak, |inner| async move {
        inner.refresh_due().await;
    }));
}

/// Runs `f` every `period` while the responder exists.
async fn every<F, Fut>(period: Duration, weak: Weak<Inner>, f: F)
where
    F: Fn(Arc<Inner>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { break };
        f(inner).await;
    }
}

impl Inner {
    /// The CA all CertIDs designate; `None` (→ `unauthorized`) if one is foreign, hashed with
    /// an algorithm we do not support, or if they name different CAs.
    fn issuer_of(&self, req: &ParsedRequest) -> Option<usize> {
        let mut found = None;
        for c in &req.certs {
            let hash = c.hash?;
            let i = self.cas.iter().position(|ca| {
                ca.matches(
                    hash,
                    c.cert_id.issuer_name_hash.as_bytes(),
                    c.cert_id.issuer_key_hash.as_bytes(),
                )
            })?;
            if found.is_some_and(|j| j != i) {
                return None;
            }
            found = Some(i);
        }
        found
    }

    /// Logs a request-path failure, at most once per second (an outage under load must not
    /// flood the logs).
    fn warn_throttled(&self, what: &str, e: &dyn fmt::Display) {
        let now = unix_now();
        if self.last_warning.swap(now, Ordering::Relaxed) != now {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(error = %e, suppressed, "OCSP: {what}; answering tryLater");
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Status of a serial for CA `ca`: unknown unless the store says that CA issued it.
    async fn lookup(&self, ca: usize, serial: &[u8]) -> Result<ResponseStatus, OcspError> {
        // Negative (or empty) serials are never ours.
        if serial.first().is_none_or(|b| b & 0x80 != 0) {
            return Ok(ResponseStatus::Unknown);
        }
        let Ok(serial) = Serial::from_be_bytes(serial) else {
            return Ok(ResponseStatus::Unknown);
        };
        let state = self.store.ocsp_state(&serial).await?;
        Ok(match state {
            Some(s) if s.issuer == self.cas[ca].name => {
                ResponseStatus::from_stored(Some(&s.status))
            }
            _ => ResponseStatus::Unknown,
        })
    }

    fn reply(&self, ca: usize, e: &Cached) -> OcspReply {
        OcspReply::signed(
            assemble(&e.core, &self.cas[ca].certs_field),
            e.this_update,
            e.next_update,
            e.etag,
        )
    }

    /// A cached response of either cache, still valid.
    fn cache_get(&self, key: &SerialKey, variant: usize) -> Option<Arc<Cached>> {
        let now = unix_now();
        self.cache
            .get(key, variant, now)
            .or_else(|| self.unknowns.get(key, variant, now))
    }

    /// A single CertID without nonce: from a cache, or signed once for all concurrent
    /// requests and cached. A real certificate's response is always signed (their number is
    /// bounded by the certificates issued); an unknown serial's only within the fresh-signing
    /// budget, `tryLater` beyond.
    async fn cached(self: &Arc<Self>, key: SerialKey, variant: usize) -> OcspReply {
        if let Some(e) = self.cache_get(&key, variant) {
            return self.reply(key.ca(), &e);
        }
        let flight = self.cache.flight(&key, variant);
        let inner = self.clone();
        let result = flight
            .get_or_init(|| async move {
                // Another flight may have landed between our miss and this one.
                if let Some(e) = inner.cache_get(&key, variant) {
                    return Ok(e);
                }
                inner.sign_and_cache(key, variant).await
            })
            .await
            .clone();
        self.cache.land(&key, variant, &flight);
        match result {
            Ok(e) => self.reply(key.ca(), &e),
            // The HSM is answering wrongly: not a moment to retry, RFC 6960's internalError.
            Err(Miss::BadSignature) => OcspReply::error(OcspResponseStatus::InternalError),
            Err(miss) => {
                if miss == Miss::OverBudget {
                    count_refused(LISTENER_MAIN, "ocsp_unknown_try_later");
                }
                OcspReply::error(OcspResponseStatus::TryLater)
            }
        }
    }

    async fn sign_and_cache(
        self: &Arc<Self>,
        key: SerialKey,
        variant: usize,
    ) -> Result<Arc<Cached>, Miss> {
        // Tickets of both caches before the read: a status change (issuance of this serial
        // included) after it refuses what this read builds.
        let ticket = self.cache.ticket();
        let unknown_ticket = self.unknowns.ticket();
        let status = match self.lookup(key.ca(), key.serial()).await {
            Ok(s) => s,
            Err(e) => {
                self.warn_throttled("certificate status lookup failed", &e);
                return Err(Miss::Failed);
            }
        };
        let short = status == ResponseStatus::Unknown;
        if short && !self.budget.try_take() {
            return Err(Miss::OverBudget);
        }
        // Not hot yet: a response asked for once is dropped rather than refreshed.
        let item = Item {
            key,
            variant,
            status,
            ticket: if short { unknown_ticket } else { ticket },
            hot: false,
            short,
        };
        let inner = self.clone();
        let signed = tokio::task::spawn_blocking(move || inner.sign_item(&item))
            .await
            .map_err(|e| OcspError::Task(e.to_string()))
            .and_then(|r| r);
        match signed {
            Ok(entry) => {
                let cache = if short { &self.unknowns } else { &self.cache };
                cache.insert(key, variant, entry.clone());
                Ok(entry)
            }
            Err(e) => {
                self.warn_throttled("signing a response failed", &e);
                Err(match e {
                    OcspError::SelfCheck(_) => Miss::BadSignature,
                    _ => Miss::Failed,
                })
            }
        }
    }

    /// nextUpdate for a response signed at `now` by CA `ca`, valid `validity` seconds.
    fn next_update(&self, ca: &OcspCa, now: u64, validity: u64) -> Result<u64, OcspError> {
        let next = now.saturating_add(validity).min(ca.not_after);
        if next <= now {
            return Err(OcspError::ResponderCertificate {
                ca: ca.name.to_string(),
                reason: "the responder certificate has expired".into(),
            });
        }
        Ok(next)
    }

    /// Signs one cacheable response (blocking).
    fn sign_item(&self, item: &Item) -> Result<Arc<Cached>, OcspError> {
        let ca = &self.cas[item.key.ca()];
        let now = unix_now();
        let validity = if item.short {
            self.config.unknown_validity()
        } else {
            self.config.response_validity_secs
        };
        let next_update = self.next_update(ca, now, validity)?;
        let cert_id = cert_id_for(ca, item.variant, item.key.serial())?;
        let single = single_response(cert_id, item.status, now, next_update)?;
        let tbs = response_data(&ca.responder_key_hash, now, vec![single], None)?.to_der()?;
        let signature = ca.sign(&tbs)?;
        let core = core(&tbs, &ca.alg_der, &signature)?;
        let margin = self.config.refresh_margin_secs;
        let jitter = rand::thread_rng().gen_range(0..=margin / 2);
        // Answers for unknown serials are never re-signed: they expire and go.
        let refresh_at = if item.short {
            next_update
        } else {
            next_update.saturating_sub(margin + jitter).max(now + 1)
        };
        Ok(Arc::new(Cached {
            etag: etag_of(&core),
            core: core.into_boxed_slice(),
            this_update: now,
            next_update,
            refresh_at,
            ticket: item.ticket,
            hot: AtomicBool::new(item.hot),
            refreshing: AtomicBool::new(false),
        }))
    }

    /// Signs many cacheable responses on several blocking threads. Results in input order.
    async fn sign_bulk(
        self: &Arc<Self>,
        items: Vec<Item>,
    ) -> Vec<(Item, Result<Arc<Cached>, OcspError>)> {
        let mut tasks = tokio::task::JoinSet::new();
        let per_task = BATCH.min(items.len().div_ceil(self.bulk_threads).max(1));
        for (n, chunk) in items.chunks(per_task).enumerate() {
            let inner = self.clone();
            let chunk = chunk.to_vec();
            tasks.spawn_blocking(move || {
                let signed: Vec<_> = chunk
                    .into_iter()
                    .map(|item| {
                        let r = inner.sign_item(&item);
                        (item, r)
                    })
                    .collect();
                (n, signed)
            });
        }
        let mut parts = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(part) => parts.push(part),
                Err(e) => tracing::error!(error = %e, "OCSP: a signing task failed"),
            }
        }
        parts.sort_by_key(|(n, _)| *n);
        parts.into_iter().flat_map(|(_, v)| v).collect()
    }

    /// A response signed for this request only: with a nonce, or several CertIDs.
    async fn fresh(self: &Arc<Self>, ca: usize, req: ParsedRequest) -> OcspReply {
        let mut answers = Vec::with_capacity(req.certs.len());
        for c in req.certs {
            match self.lookup(ca, c.serial_octets()).await {
                Ok(status) => answers.push((c.cert_id, status)),
                Err(e) => {
                    self.warn_throttled("certificate status lookup failed", &e);
                    return OcspReply::error(OcspResponseStatus::TryLater);
                }
            }
        }
        let nonce = req.nonce;
        let inner = self.clone();
        let signed = tokio::task::spawn_blocking(move || inner.sign_fresh(ca, answers, nonce))
            .await
            .map_err(|e| OcspError::Task(e.to_string()))
            .and_then(|r| r);
        match signed {
            Ok(reply) => reply,
            Err(e) => {
                self.warn_throttled("signing a response failed", &e);
                OcspReply::error(match e {
                    OcspError::SelfCheck(_) => OcspResponseStatus::InternalError,
                    _ => OcspResponseStatus::TryLater,
                })
            }
        }
    }

    fn sign_fresh(
        &self,
        ca: usize,
        answers: Vec<(CertId, ResponseStatus)>,
        nonce: Option<OctetString>,
    ) -> Result<OcspReply, OcspError> {
        let ca_ref = &self.cas[ca];
        let now = unix_now();
        let next_update = self.next_update(ca_ref, now, self.config.response_validity_secs)?;
        let singles = answers
            .into_iter()
            .map(|(id, status)| single_response(id, status, now, next_update))
            .collect::<der::Result<Vec<_>>>()?;
        let nonce = nonce.map(|value| Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: value,
        });
        let tbs = response_data(&ca_ref.responder_key_hash, now, singles, nonce)?.to_der()?;
        let signature = ca_ref.sign(&tbs)?;
        let core = core(&tbs, &ca_ref.alg_der, &signature)?;
        Ok(OcspReply::signed(
            assemble(&core, &ca_ref.certs_field),
            now,
            next_update,
            etag_of(&core),
        ))
    }

    /// Drops the cached responses of `serial` (every CA); returns the forms to re-sign, with
    /// whether they were in use.
    fn invalidate(&self, serial: &Serial) -> Vec<(SerialKey, usize, bool)> {
        let octets = serial_octets(serial);
        let mut work = Vec::new();
        for ca in 0..self.cas.len() {
            if let Some(key) = SerialKey::new(ca, &octets) {
                // An answer that said the serial was unknown goes too, unsigned again.
                self.unknowns.invalidate(&key);
                let (_, forms) = self.cache.invalidate(&key);
                work.extend(forms.into_iter().map(|(v, hot)| (key, v, hot)));
            }
        }
        work
    }

    /// Re-signs the forms dropped by [`Inner::invalidate`] with the current status.
    async fn resign(self: &Arc<Self>, serial: &Serial, work: Vec<(SerialKey, usize, bool)>) {
        // The ticket is taken after the invalidation and before the read: these responses
        // may be cached.
        let ticket = self.cache.ticket();
        let state = match self.store.ocsp_state(serial).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, %serial, "OCSP: re-signing after a status change \
                    failed (the next request will sign)");
                return;
            }
        };
        let items = work
            .into_iter()
            .filter(|(_, v, _)| *v < VARIANTS)
            .map(|(key, variant, hot)| Item {
                key,
                variant,
                status: match &state {
                    Some(s) if s.issuer == self.cas[key.ca()].name => {
                        ResponseStatus::from_stored(Some(&s.status))
                    }
                    _ => ResponseStatus::Unknown,
                },
                ticket,
                hot,
                short: false,
            })
            .collect();
        for (item, signed) in self.sign_bulk(items).await {
            match signed {
                Ok(entry) => {
                    self.cache.insert(item.key, item.variant, entry);
                }
                Err(e) => tracing::warn!(error = %e, %serial, "OCSP: re-signing after a status \
                    change failed (the next request will sign)"),
            }
        }
    }

    /// Applies the journal entries written since the last poll.
    async fn poll_once(self: &Arc<Self>) -> Result<(), OcspError> {
        let mut cursor = self.cursor.lock().await;
        loop {
            let changes = self.store.status_changes_since(*cursor, POLL_PAGE).await?;
            for serial in &changes.serials {
                let work = self.invalidate(serial);
                if !work.is_empty() {
                    self.resign(serial, work).await;
                }
            }
            *cursor = changes.cursor;
            if !changes.more {
                return Ok(());
            }
        }
    }

    /// Re-signs the hot responses that are close to their nextUpdate; drops the cold ones.
    async fn refresh_due(self: &Arc<Self>) {
        // Expired unknown answers are dropped; none is ever due (refresh_at = nextUpdate).
        let stale = self.unknowns.sweep(unix_now());
        debug_assert!(stale.is_empty());
        let due = self.cache.sweep(unix_now());
        if due.is_empty() {
            return;
        }
        tracing::debug!(count = due.len(), "OCSP: refreshing cached responses");
        for chunk in due.chunks(BATCH * self.bulk_threads) {
            let ticket = self.cache.ticket();
            let mut items = Vec::with_capacity(chunk.len());
            let mut olds = std::collections::HashMap::with_capacity(chunk.len());
            for d in chunk {
                match self.lookup(d.key.ca(), d.key.serial()).await {
                    Ok(status) => {
                        items.push(Item {
                            key: d.key,
                            variant: d.variant,
                            status,
                            ticket,
                            hot: false,
                            short: false,
                        });
                        olds.insert((d.key, d.variant), d.entry.clone());
                    }
                    Err(e) => {
                        // Still valid until nextUpdate: try again at the next tick.
                        d.entry.refreshing.store(false, Ordering::Relaxed);
                        self.warn_throttled("refreshing a cached response failed", &e);
                    }
                }
            }
            for (item, signed) in self.sign_bulk(items).await {
                match signed {
                    Ok(entry) => {
                        self.cache.insert(item.key, item.variant, entry);
                    }
                    Err(e) => {
                        if let Some(old) = olds.get(&(item.key, item.variant)) {
                            old.refreshing.store(false, Ordering::Relaxed);
                        }
                        self.warn_throttled("refreshing a cached response failed", &e);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn variants_round_trip() {
        for v in 0..VARIANTS {
            let (h, null) = variant_parts(v);
            assert_eq!(variant_of(h, null), v);
        }
    }

    #[test]
    fn serial_octets_are_der_content() {
        let s: Serial = "7f01".parse().unwrap();
        assert_eq!(serial_octets(&s), vec![0x7f, 0x01]);
        let s: Serial = "80".parse().unwrap();
        assert_eq!(serial_octets(&s), vec![0x00, 0x80]);
    }
}
