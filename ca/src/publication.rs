//! What the CA publishes to relying parties over HTTP, as a router the service merges:
//!
//! - `GET /ca/{name}.crt|.der|.cer` (DER) and `/ca/{name}.pem`: the root and issuing CA
//!   certificates, under the names the service gives them (`root`, `personnes`, …);
//! - `GET /crl/root.crl` (the root's ARL from its ceremony) and `/crl/{ca}.crl`,
//!   `/crl/{ca}-{partition}.crl`: the CRLs the [`CrlPublisher`] keeps (a partition not yet in
//!   memory is generated on demand), cached until shortly before their nextUpdate;
//! - `GET /directory?idnat=…` or `?name=…`: a professional's valid certificates (JSON with
//!   PEM), read from the [`Store`]; only what the certificates already publish, never
//!   identity-proofing data.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::crl::CrlPublisher;
use crate::domain::{IdNatPs, ProfessionTable};
use crate::storage::Store;

/// What the publication handlers serve from.
#[derive(Debug)]
pub struct Publication {
    /// DER certificates by URL name (`root`, `personnes`, …).
    certificates: HashMap<String, Vec<u8>>,
    /// The root's ARL (DER).
    root_crl: Vec<u8>,
    crls: Arc<CrlPublisher>,
    store: Store,
    professions: Arc<ProfessionTable>,
}

impl Publication {
    /// `certificates`: DER by the name of their URL (`/ca/{name}.crt`); `root_crl`: the DER
    /// of the root's ARL, served as `/crl/root.crl`; the issuing CAs' CRLs come from `crls`,
    /// the directory from `store` (profession labels from `professions`).
    pub fn new(
        certificates: HashMap<String, Vec<u8>>,
        root_crl: Vec<u8>,
        crls: Arc<CrlPublisher>,
        store: Store,
        professions: Arc<ProfessionTable>,
    ) -> Self {
        Publication {
            certificates,
            root_crl,
            crls,
            store,
            professions,
        }
    }

    /// The names the CA certificates are published under.
    pub fn certificate_names(&self) -> impl Iterator<Item = &str> {
        self.certificates.keys().map(String::as_str)
    }
}

/// Routes `GET /ca/{file}`, `GET /crl/{file}` and `GET /directory`. Merge it into the
/// service's router.
pub fn router(publication: Arc<Publication>) -> Router {
    Router::new()
        .route("/ca/{file}", get(ca_certificate))
        .route("/crl/{file}", get(crl))
        .route("/directory", get(directory))
        .with_state(publication)
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// The directory's answer when the store fails: logged, and 503 for the client.
fn directory_unavailable(e: &crate::Error) -> Response {
    tracing::error!(error = %e, "directory lookup failed");
    json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"error": "directory temporarily unavailable"}),
    )
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{what} not found\n"),
    )
        .into_response()
}

async fn ca_certificate(
    State(state): State<Arc<Publication>>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    let (name, ext) = file.rsplit_once('.').unwrap_or((&file, ""));
    let Some(der) = state.certificates.get(name) else {
        return not_found("certificate");
    };
    match ext {
        "crt" | "der" | "cer" => der_response("application/pkix-cert", der.clone(), 3600),
        "pem" => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-pem-file"),
            )],
            pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())),
        )
            .into_response(),
        _ => not_found("certificate"),
    }
}

async fn crl(State(state): State<Arc<Publication>>, UrlPath(file): UrlPath<String>) -> Response {
    if file == "root.crl" {
        return der_response("application/pkix-crl", state.root_crl.clone(), 3600);
    }
    match state.crls.fetch(&file).await {
        Ok(Some(c)) => {
            let max_age = (c.next_update - time::OffsetDateTime::now_utc())
                .whole_seconds()
                .clamp(0, 3600);
            let mut r = der_response("application/pkix-crl", c.der.to_vec(), max_age as u64);
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(
                std::time::UNIX_EPOCH
                    + Duration::from_secs(c.this_update.unix_timestamp().max(0) as u64),
            )) {
                r.headers_mut().insert(header::LAST_MODIFIED, v);
            }
            r
        }
        Ok(None) => not_found("CRL"),
        Err(e) => {
            tracing::error!(error = %e, file, "CRL not available");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "30")],
                "CRL temporarily unavailable\n",
            )
                .into_response()
        }
    }
}

fn der_response(content_type: &'static str, body: Vec<u8>, max_age: u64) -> Response {
    let cache = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct DirectoryQuery {
    idnat: Option<String>,
    name: Option<String>,
}

/// Most professionals returned for one name.
const DIRECTORY_NAME_LIMIT: u32 = 50;

/// `GET /directory?idnat=…` or `?name=…`: the professionals' valid certificates, as relying
/// parties need them (encryption certificates for senders). Only what the certificates
/// already publish: never identity-proofing data.
async fn directory(
    State(state): State<Arc<Publication>>,
    query: Result<Query<DirectoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let bad = |reason: &str| {
        json_response(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": reason}),
        )
    };
    let Ok(Query(q)) = query else {
        return bad("query must be ?idnat=… or ?name=…");
    };
    let store = &state.store;
    let now = time::OffsetDateTime::now_utc();
    let people = match (q.idnat.as_deref(), q.name.as_deref()) {
        (Some(id), None) => match id.trim().parse::<IdNatPs>() {
            Ok(id) => store
                .find_professional(&id)
                .await
                .map(|p| p.into_iter().collect::<Vec<_>>()),
            Err(e) => return bad(&format!("invalid idnat: {e}")),
        },
        (None, Some(name)) if !name.trim().is_empty() && name.len() <= 128 => {
            store
                .find_certified_professionals_by_name(name, now, DIRECTORY_NAME_LIMIT)
                .await
        }
        _ => return bad("give exactly one of idnat (8+RPPS or 0+ADELI) and name (surname)"),
    };
    let people = match people {
        Ok(p) => p,
        Err(e) => return directory_unavailable(&e),
    };
    let mut out = Vec::new();
    for p in people {
        let certs = match store.valid_certificates_of(&p.idnat, now).await {
            // The directory publishes certificates: a professional without a valid one (not
            // yet issued, all revoked or expired) is not listed at all.
            Ok(c) if c.is_empty() => continue,
            Ok(c) => c,
            Err(e) => return directory_unavailable(&e),
        };
        let profession = state
            .professions
            .lookup(&p.profession)
            .map(|x| x.label.clone());
        out.push(serde_json::json!({
            "idnat": p.idnat.to_string(),
            "surname": p.surname.to_string(),
            "given_names": p.given_names.to_string(),
            "profession": profession,
            "certificates": certs.iter().map(|c| serde_json::json!({
                "serial": c.serial.to_string(),
                "profile": c.profile,
                "issuer": c.issuer.to_string(),
                "subject": c.subject,
                "not_before": c.not_before.format(&time::format_description::well_known::Rfc3339).ok(),
                "not_after": c.not_after.format(&time::format_description::well_known::Rfc3339).ok(),
                "pem": pem::encode(&pem::Pem::new("CERTIFICATE", c.der.clone())),
            })).collect::<Vec<_>>(),
        }));
    }
    json_response(StatusCode::OK, serde_json::json!({ "professionals": out }))
}
