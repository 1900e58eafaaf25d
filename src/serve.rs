//! `igc serve`: the public HTTP endpoints of the PKI.
//!
//! - `/healthz` (liveness), `/readyz` (HSM, database, TSA clock and recorder);
//! - `/ca/{name}.crt|.pem`: root and issuing CA certificates (`ca::publication`);
//! - `/crl/root.crl` (the root's ARL from its ceremony) and `/crl/{ca}.crl`,
//!   `/crl/{ca}-{partition}.crl` (signed by the issuing CAs, regenerated on a schedule, after
//!   each revocation here, and when another instance changed something; `ca::publication`);
//! - `/directory?idnat=…|name=…`: a professional's valid certificates (`ca::publication`);
//! - `/ocsp` (RFC 6960 / RFC 5019, `ca::ocsp`), `/tsa` (RFC 3161, `tsa::http`) when
//!   configured, `/metrics`;
//! - with `tsa.listen`, the TSA's dedicated listener on its own port (`POST /tsa`, `/healthz`,
//!   `/readyz`; `tsa::listener`);
//! - `/api/v1/verify`, `/api/v1/verify/certificate`: CAdES and certificate validation
//!   (`validation::http`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ca::ocsp::{OcspCa, OcspResponder};
use ca::publication::Publication;
use der::Encode;
use hsm_config::{HsmSignature, HsmSigner};
use metrics_exporter_prometheus::{Matcher, PrometheusHandle};

use crate::config::IgcConfig;
use crate::pki::{anchor_trust, read_certificate, read_pem_der, revocation_source, Pki};

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The CA certificates, CRLs and directory (`/ca/`, `/crl/`, `/directory`).
    publication: Arc<Publication>,
    pki: Pki,
    /// The HSM readiness probe, shared by every listener's `/readyz`: one signature (with
    /// the first CA's key) a second at most, whoever asks (`/readyz` is public).
    probe: Arc<tsa::probe::SignerProbe>,
    tsa: Option<tsa::TimeStampAuthority>,
    /// What the journal anchors made by `tsa` are checked against (with a `[tsa]` only).
    anchor_trust: Option<validation::anchor::AnchorTrust>,
    validator: Arc<validation::Validator>,
    metrics: Option<PrometheusHandle>,
}

/// What `serve` runs besides the router.
#[derive(Debug)]
pub struct Services {
    pub state: Arc<AppState>,
    pub ocsp: OcspResponder,
}

/// Opens everything (inside the Tokio runtime: the OCSP responder, the CRL schedule and the
/// TSA start background tasks); fails fast on any mismatch between keys and certificates.
pub async fn load(cfg: &IgcConfig, metrics: Option<PrometheusHandle>) -> Result<Services> {
    let mut certificates = HashMap::new();
    certificates.insert(
        "root".to_owned(),
        read_pem_der(&cfg.pki.root_certificate, "CERTIFICATE")?,
    );
    let root_crl = read_pem_der(&cfg.pki.root_crl, "X509 CRL")?;
    let pki = Pki::open(cfg).await?;
    // TOTP secrets left in clear by an older version are sealed before anything serves.
    let sealed = pki
        .store
        .seal_clear_totp_secrets()
        .await
        .context("sealing the TOTP secrets still in clear")?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed TOTP secrets found in clear");
    }
    // Before OCSP and the CRLs start: they answer for the certificates signed in ceremonies.
    crate::ceremony_cmd::backfill_infrastructure(cfg, &pki.store)
        .await
        .context("recording the infrastructure certificates (OCSP responders, TSA unit)")?;
    let mut ocsp_cas = Vec::new();
    for c in &pki.cas {
        let ca_cert = c.authority.certificate();
        let (responder_cert, _) = read_certificate(&c.config.ocsp_certificate)?;
        let signer = HsmSigner::new(&pki.token, &c.config.ocsp_key_label).with_context(|| {
            format!(
                "OCSP key {:?} of CA {}",
                c.config.ocsp_key_label, c.config.name
            )
        })?;
        if signer.spki_der()
            != responder_cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()?
        {
            bail!(
                "key {:?} in the token does not match the OCSP responder certificate of CA {}",
                c.config.ocsp_key_label,
                c.config.name
            );
        }
        ocsp_cas.push(
            OcspCa::new::<_, HsmSignature>(
                c.authority.name().clone(),
                ca_cert,
                &responder_cert,
                signer,
            )
            .with_context(|| format!("OCSP responder of CA {}", c.config.name))?,
        );
        certificates.insert(
            c.config.name.clone(),
            c.authority.certificate_der().to_vec(),
        );
    }
    let ocsp = OcspResponder::new(pki.store.clone(), cfg.ocsp.clone(), ocsp_cas)
        .await
        .context("starting the OCSP responder")?;
    let Some(first) = cfg.cas.first() else {
        bail!("no [[ca]] configured");
    };
    let probe_signer = HsmSigner::new(&pki.token, &first.key_label)?;
    let probe = Arc::new(tsa::probe::SignerProbe::new(
        tsa::probe::PROBE_INTERVAL,
        move || {
            probe_signer
                .sign(b"readiness probe")
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    ));
    // The first probe now: `/readyz` is right from the first call.
    if let Err(e) = probe.check().await.outcome {
        tracing::warn!(error = %e, "HSM readiness probe failed");
    }
    let tsa = match &cfg.tsa {
        None => None,
        Some(t) => {
            let signer = HsmSigner::new(&pki.token, &t.key_label)
                .with_context(|| format!("TSA key {:?}", t.key_label))?;
            Some(
                tsa::start::<_, HsmSignature, _>(
                    t,
                    signer,
                    tsa::StoreRecorder::new(pki.store.clone()),
                )
                .context("starting the TSA")?,
            )
        }
    };
    let validator = Arc::new(validator(cfg, &pki, &root_crl)?);
    let anchor_trust = match &tsa {
        Some(_) => Some(anchor_trust(cfg, &pki.store).context("TSA certificates for anchors")?),
        None => {
            tracing::warn!("no [tsa]: the audit journal is not anchored in time");
            None
        }
    };
    let publication = Arc::new(Publication::new(
        certificates,
        root_crl,
        pki.publisher.clone(),
        pki.store.clone(),
        pki.professions.clone(),
    ));
    Ok(Services {
        state: Arc::new(AppState {
            publication,
            pki,
            probe,
            tsa,
            anchor_trust,
            validator,
            metrics,
        }),
        ocsp,
    })
}

/// The validation service: our root as trust anchor, the issuing CAs as known intermediates,
/// revocation from the CA database (end entities) and the root's ARL (the issuing CAs), the
/// shipped signing rules, and the registry for signers whose certificate has no known title;
/// bounded by `[validation]`.
fn validator(cfg: &IgcConfig, pki: &Pki, root_arl_der: &[u8]) -> Result<validation::Validator> {
    use validation::Validator;
    let (root, _) = read_certificate(&cfg.pki.root_certificate)?;
    let intermediates = pki
        .cas
        .iter()
        .map(|c| c.authority.certificate().clone())
        .collect();
    let revocation = revocation_source(&pki.store, root_arl_der)?;
    // After the store and the ARL: the OCSP responders and CRLs of other CAs, when
    // `[validation.fetch]` allows hosts.
    let revocation: Arc<dyn validation::RevocationSource> =
        if cfg.validation.fetch.allow_hosts.is_empty() {
            Arc::new(revocation)
        } else {
            Arc::new(validation::FirstKnownRevocationSource::new(vec![
                Arc::new(revocation),
                Arc::new(validation::evidence::OnlineRevocationSource::new(
                    validation::evidence::Fetcher::new(cfg.validation.fetch.policy()),
                )),
            ]))
        };
    // A prescription or a medical or death certificate is signed under a SIGN policy of one
    // of our CAs: required through RFC 5280 policy processing.
    let mut signature_policies = Vec::new();
    for c in &pki.cas {
        if let Some(oid) = c.authority.policy_oid(ca::domain::Profile::Sign) {
            if !signature_policies.contains(&oid) {
                signature_policies.push(oid);
            }
        }
    }
    Ok(Validator::new(
        vec![root],
        intermediates,
        revocation,
        ca::domain::SigningRules::builtin()?,
        (*pki.professions).clone(),
    )?
    .with_policy(validation::ValidationPolicy {
        signature_policies,
        ..validation::ValidationPolicy::default()
    })
    .with_registry(pki.store.clone())
    .with_limits(cfg.validation.limits.clone())?)
}

/// The router: one function, so tests and `serve` share it.
pub fn router(services: &Services) -> Router {
    let state = services.state.clone();
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(ca::publication::router(state.publication.clone()))
        .merge(ca::ocsp::ocsp_router(services.ocsp.clone()))
        .merge(validation::http::router(state.validator.clone()));
    if let Some(t) = &state.tsa {
        app = app.merge(tsa::http::router(t.clone()));
    }
    app
}

async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let probe = state.probe.check().await;
    let hsm = probe.outcome;
    let db = state
        .pki
        .store
        .audit_head()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let tsa = state.tsa.as_ref().map(|t| t.status());
    let ready = hsm.is_ok() && db.is_ok() && tsa.as_ref().is_none_or(|t| t.ready);
    let show = |r: &std::result::Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    json_response(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        serde_json::json!({
            "status": if ready { "ready" } else { "not ready" },
            "hsm": show(&hsm),
            "hsm_checked_unix_ms": probe.checked_unix_ms,
            "database": show(&db),
            "tsa": tsa,
        }),
    )
}

/// The Prometheus recorder of `igc serve`, installed for the whole process.
fn install_metrics(
) -> std::result::Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(tsa::REQUEST_DURATION_METRIC.to_owned()),
            tsa::REQUEST_DURATION_BUCKETS,
        )?
        .install_recorder()
}

/// How often the recorder's histogram samples are folded into their buckets.
const METRICS_UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The exporter keeps every histogram sample until it is folded into the
/// buckets, which happens only in an upkeep or when `/metrics` is read:
/// without this task a server nobody scrapes would keep one sample per
/// time-stamp token in memory, for ever.
async fn metrics_upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(METRICS_UPKEEP_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => not_found("metrics"),
    }
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{what} not found\n"),
    )
        .into_response()
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen on this address instead of `server.listen` (port 0 picks a
    /// free port; the chosen address is printed).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// The RA portal's TLS listener instead of `portal.listen` (port 0 picks a free port).
    #[arg(long)]
    pub portal_listen: Option<std::net::SocketAddr>,
    /// The TSA's dedicated listener instead of `tsa.listen` (port 0 picks a free port; the
    /// chosen address is printed).
    #[arg(long)]
    pub tsa_listen: Option<std::net::SocketAddr>,
}

/// Starts the RA portal on its own TLS listener, when configured; returns its task.
async fn start_portal(
    cfg: &IgcConfig,
    services: &Services,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(pc) = cfg.portal.clone() else {
        return Ok(None);
    };
    let pki = &services.state.pki;
    // RA operators log in with a TLS client certificate chaining to the CA that issues the
    // ra-operator profile (CA Personnes); the server requests one and accepts none.
    let client_roots: Vec<Vec<u8>> = pki
        .cas
        .iter()
        .filter(|c| c.authority.issues(ca::domain::Profile::RaOperator))
        .map(|c| c.authority.certificate_der().to_vec())
        .collect();
    let tls = match (&pc.tls_cert, &pc.tls_key) {
        (Some(cert), Some(key)) => {
            ra_portal::tls::load_server_config_with_clients(cert, key, &client_roots)
                .context("[portal] TLS certificate")?
        }
        _ => {
            let host = pc.listen.ip().to_string();
            let (tls, _pem) = ra_portal::tls::self_signed_with_clients(
                &["localhost", host.as_str()],
                &client_roots,
            )
            .context("self-signed portal certificate")?;
            tls
        }
    };
    let listener = tokio::net::TcpListener::bind(pc.listen)
        .await
        .with_context(|| format!("binding the RA portal on {}", pc.listen))?;
    let addr = listener.local_addr()?;
    // The first administrators come from a witnessed key ceremony (`ra-administrators`),
    // never from a first login: without them the portal serves, but nobody can use it.
    let administrators = pki
        .store
        .operators()
        .await
        .context("reading the RA operators")?
        .iter()
        .filter(|o| {
            o.role == ca::storage::OperatorRole::Administrator
                && o.status == ca::storage::OperatorStatus::Active
        })
        .count();
    // Every status change made through the portal republishes the CRLs and is answered by
    // this instance's OCSP at once.
    let sink = ca::status::StatusSinks::new(vec![
        pki.publisher.clone(),
        std::sync::Arc::new(services.ocsp.clone()),
    ]);
    let state = ra_portal::PortalState::new(pki.workflow(std::sync::Arc::new(sink)), pc.clone());
    println!("igc portal on https://{addr}/connexion");
    if administrators < ca::storage::MIN_ACTIVE_ADMINISTRATORS {
        println!(
            "  Portail AE : {administrators} administrateur(s) actif(s) ; les premiers \
             administrateurs sont créés par la cérémonie ra-administrators (igc ceremony run …)."
        );
    }
    let app = ra_portal::router(state.clone());
    let limits = pc.limits;
    Ok(Some(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = ra_portal::serve_tls(listener, tls, limits, app, shutdown).await {
            tracing::error!(error = %e, "RA portal stopped");
        }
        // The refused logins counted since the last aggregated journal entry.
        state.flush_login_refusals().await;
    })))
}

/// Anchors the journal head every `period` (the first time one period after the start: the
/// TSA's clock is rarely confirmed at once), until `stop`. An attempt that fails is logged and
/// the next period tries again; a slow one delays the next tick rather than piling up.
async fn anchor_periodically(
    state: Arc<AppState>,
    period: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let (Some(tsa), Some(trust)) = (&state.tsa, &state.anchor_trust) else {
        return;
    };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopped = async {
            // The borrow of the value is dropped here: it must not live across the anchoring.
            let _ = stop.wait_for(|s| *s).await;
        };
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped => return,
        }
        validation::anchor::anchor_and_log(tsa, &state.pki.store, trust).await;
    }
}

/// How long the anchor at shutdown may take: it must not hold the stop up for long when the
/// TSA or the database is slow.
const SHUTDOWN_ANCHOR_LIMIT: Duration = Duration::from_secs(15);

/// Anchors the journal head once more at shutdown, so that what this instance journaled is
/// covered (a failure is logged; the next instance to run anchors it).
async fn anchor_at_shutdown(state: &AppState) {
    let (Some(tsa), Some(trust)) = (&state.tsa, &state.anchor_trust) else {
        return;
    };
    let attempt = validation::anchor::anchor_and_log(tsa, &state.pki.store, trust);
    if tokio::time::timeout(SHUTDOWN_ANCHOR_LIMIT, attempt)
        .await
        .is_err()
    {
        tracing::warn!(
            limit = ?SHUTDOWN_ANCHOR_LIMIT,
            "audit journal not anchored at shutdown: the attempt took too long"
        );
    }
}

/// Starts the TSA's dedicated listener, when `tsa.listen` is configured.
fn start_tsa_listener(cfg: &IgcConfig, services: &Services) -> Result<Option<tsa::TsaListener>> {
    let (Some(t), Some(tsa)) = (&cfg.tsa, &services.state.tsa) else {
        return Ok(None);
    };
    let Some(addr) = t.listen else {
        return Ok(None);
    };
    let threads = t
        .listen_threads
        .unwrap_or_else(|| tsa::listener::default_threads(tsa));
    // Listener threads sign besides the TSA's lanes, from the same session pool as the CAs'
    // and OCSP's signers: say so when the TSA alone could take every session.
    let tsa_sessions = tsa.signing_lanes() + threads;
    if tsa_sessions >= cfg.hsm.max_sessions {
        tracing::warn!(
            tsa_sessions,
            max_sessions = cfg.hsm.max_sessions,
            "the TSA may sign with as many HSM sessions as hsm.max_sessions allows in all \
             (signing lanes + listener threads): raise hsm.max_sessions, or other signers wait"
        );
    }
    let listener = tsa::TsaListener::start(
        addr,
        threads,
        tsa::listener::stall_limit(tsa, Duration::from_millis(cfg.hsm.session_wait_ms)),
        t.limits,
        tsa::http::listener_router_with_probe(tsa.clone(), services.state.probe.clone()),
    )
    .context("starting the TSA listener")?;
    Ok(Some(listener))
}

pub fn run(config: &Path, args: ServeArgs) -> Result<()> {
    // The command line's addresses, applied before the configuration is validated: the file may
    // set `tsa.listen_threads` and leave the address to `--tsa-listen`.
    let cfg = IgcConfig::load_with(config, |cfg| {
        if let Some(l) = args.listen {
            cfg.server.listen = l;
        }
        if let Some(l) = args.portal_listen {
            match cfg.portal.as_mut() {
                Some(p) => p.listen = l,
                None => bail!("--portal-listen given but igc.toml has no [portal]"),
            }
        }
        if let Some(l) = args.tsa_listen {
            match cfg.tsa.as_mut() {
                Some(t) => t.listen = Some(l),
                None => bail!("--tsa-listen given but igc.toml has no [tsa]"),
            }
        }
        Ok(())
    })?;
    cfg.export_softhsm_conf();
    raise_open_files_limit(&cfg);
    let metrics = install_metrics()
        .map_err(|e| tracing::warn!(error = %e, "metrics disabled"))
        .ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if let Some(handle) = metrics.clone() {
            tokio::spawn(metrics_upkeep(handle));
        }
        let services = load(&cfg, metrics).await?;
        let listener = tokio::net::TcpListener::bind(cfg.server.listen)
            .await
            .with_context(|| format!("binding {}", cfg.server.listen))?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let publisher = services.state.pki.publisher.clone();
        let mut crl_stop = stop_rx.clone();
        let crl_task = tokio::spawn(publisher.run(async move {
            let _ = crl_stop.wait_for(|s| *s).await;
        }));
        let anchor_period = Duration::from_secs(u64::from(cfg.audit.anchor_minutes) * 60);
        let anchor_task = tokio::spawn(anchor_periodically(
            services.state.clone(),
            anchor_period,
            stop_rx.clone(),
        ));
        // The portal first: if it cannot start (port taken, bad certificate), nothing has been
        // announced yet.
        let portal = start_portal(&cfg, &services, stop_rx.clone()).await?;
        let tsa_listener = start_tsa_listener(&cfg, &services)?;
        // Printed before the line below, which says that everything is up.
        if let Some(l) = &tsa_listener {
            println!(
                "igc TSA listening on http://{}/tsa ({} threads; /healthz, /readyz)",
                l.local_addr(),
                l.threads()
            );
        }
        // One line scripts and tests can wait for: everything is up once it is printed.
        println!("igc listening on http://{addr}");
        for name in services.state.publication.certificate_names() {
            println!("  CA certificate: http://{addr}/ca/{name}.crt (.pem)");
        }
        for c in &services.state.pki.cas {
            println!(
                "  CRL: http://{addr}/crl/{}.crl  (partitions: /crl/{}-N.crl)",
                c.authority.url_name(),
                c.authority.url_name()
            );
        }
        println!("  OCSP: http://{addr}/ocsp");
        if services.state.tsa.is_some() {
            println!("  TSA: http://{addr}/tsa (application/timestamp-query)");
        }
        println!("  directory: http://{addr}/directory?idnat=…|name=…");
        println!("  validation: POST http://{addr}/api/v1/verify, /api/v1/verify/certificate (JSON)");
        println!("  health: http://{addr}/healthz  readiness: http://{addr}/readyz  metrics: http://{addr}/metrics");
        let app = router(&services);
        // At the signal every listener stops accepting at once (the main one, the portal, the
        // TSA's own) and each drains what it has in progress.
        let stop_tx = Arc::new(stop_tx);
        let stop_all = {
            let stop_tx = stop_tx.clone();
            let stop_tsa = tsa_listener.as_ref().map(|l| l.begin_shutdown());
            move || {
                let _ = stop_tx.send(true);
                if let Some(stop) = &stop_tsa {
                    stop();
                }
            }
        };
        let served = ca::limits::serve(
            listener,
            ca::limits::LISTENER_MAIN,
            cfg.server.limits,
            app,
            ca::limits::PlainTcp,
            async move {
                shutdown_signal().await;
                stop_all();
            },
        )
        .await;
        // Also when the main listener failed: the rest still shuts down in order, and the
        // tokens delivered are recorded.
        let _ = stop_tx.send(true);
        if let Some(l) = tsa_listener {
            l.shutdown().await;
        }
        let _ = crl_task.await;
        if let Some(p) = portal {
            let _ = p.await;
        }
        let _ = anchor_task.await;
        // Every listener has drained: nothing journals any more, the head is final. Before the
        // token log's shutdown, which records the anchor's token with the others.
        anchor_at_shutdown(&services.state).await;
        if let Some(t) = &services.state.tsa {
            // Tokens already delivered must reach the database before we exit.
            if let Err(e) = t.log().shutdown(Duration::from_secs(5)).await {
                tracing::error!(error = %e, "unrecorded time-stamp tokens at shutdown");
            }
        }
        services.state.pki.store.close().await;
        served.context("serving HTTP")
    })
}

/// File descriptors kept for everything but client connections: the database pool, the HSM,
/// log files, the CRL and certificate files.
const RESERVED_FILES: u64 = 256;

/// Raises the soft open-files limit to the hard one: each connection is a descriptor, and the
/// listeners' `max_connections` must fit, with [`RESERVED_FILES`] besides. Says so when they do
/// not: then `accept` fails (counted as `accept_error`) before the caps are reached.
fn raise_open_files_limit(cfg: &IgcConfig) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let current = match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-files limit");
            limit.current
        }
    };
    let wanted = cfg.server.limits.max_connections as u64
        + cfg
            .portal
            .as_ref()
            .map_or(0, |p| p.limits.max_connections as u64)
        + cfg
            .tsa
            .as_ref()
            .filter(|t| t.listen.is_some())
            .map_or(0, |t| t.limits.max_connections as u64)
        + RESERVED_FILES;
    if let Some(current) = current.filter(|c| *c < wanted) {
        tracing::warn!(
            open_files_limit = current,
            wanted,
            "the open-files limit is below the listeners' max_connections (plus {RESERVED_FILES}): \
             raise it (LimitNOFILE= in the systemd unit) or lower [*.limits] max_connections"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
