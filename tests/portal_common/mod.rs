//! Helpers shared by the RA portal's handler tests (`tower::ServiceExt::oneshot` on the
//! router): requests with a session cookie, forms, the first login of an operator (password,
//! TOTP enrolment, then an API session).
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use ca::storage::Store;
use tower::ServiceExt as _;

pub struct Resp {
    pub status: StatusCode,
    pub location: String,
    pub set_cookies: Vec<String>,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

pub async fn send(app: &Router, req: Request<Body>) -> Resp {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let location = headers
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let set_cookies = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = axum::body::to_bytes(res.into_body(), 4 << 20)
        .await
        .unwrap();
    Resp {
        status,
        location,
        set_cookies,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub const BOUNDARY: &str = "----igc-test-boundary";

pub fn multipart_body(fields: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (k, v) in fields {
        s.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    s.push_str(&format!("--{BOUNDARY}--\r\n"));
    s
}

#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    /// Bearer token of an API session (`POST /api/v1/sessions`).
    pub bearer: String,
}

pub fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("no csrf field") + 19;
    html[i..i + 64].to_owned()
}

pub fn get(path: &str, s: Option<&Session>) -> Request<Body> {
    let mut b = Request::get(path);
    if let Some(s) = s {
        b = b.header(
            header::COOKIE,
            format!("{}={}", ra_portal::SESSION_COOKIE, s.cookie),
        );
    }
    b.body(Body::empty()).unwrap()
}

pub fn post_form(path: &str, s: Option<&Session>, fields: &[(&str, &str)]) -> Request<Body> {
    let mut b =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(s) = s {
        b = b.header(
            header::COOKIE,
            format!("{}={}", ra_portal::SESSION_COOKIE, s.cookie),
        );
    }
    b.body(Body::from(form_body(fields))).unwrap()
}

pub fn post_multipart(path: &str, s: &Session, fields: &[(&str, &str)]) -> Request<Body> {
    multipart_request(path, s, multipart_body(fields))
}

/// A `multipart/form-data` POST (parts separated by [`BOUNDARY`]) with the session cookie.
pub fn multipart_request(path: &str, s: &Session, body: String) -> Request<Body> {
    Request::post(path)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(
            header::COOKIE,
            format!("{}={}", ra_portal::SESSION_COOKIE, s.cookie),
        )
        .body(Body::from(body))
        .unwrap()
}

pub fn totp_now(store_secret: &str) -> String {
    let secret = ra_portal::base32_decode(store_secret).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    ra_portal::totp_code(&secret, ra_portal::current_step(now))
}

pub const NEW_PASSWORD: &str = "un mot de passe assez long";

/// First login of an operator created with a one-time password: password, TOTP enrolment.
pub async fn first_login(app: &Router, store: &Store, login: &str, otp: &str) -> Session {
    let pre = "p".repeat(64);
    let req = Request::post("/connexion")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(
            header::COOKIE,
            format!("{}={pre}", ra_portal::PRELOGIN_COOKIE),
        )
        .body(Body::from(form_body(&[
            ("csrf", &pre),
            ("login", login),
            ("password", otp),
            ("totp", ""),
        ])))
        .unwrap();
    let r = send(app, req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "login {login}: {}", r.body);
    assert_eq!(r.location, "/enrolement");
    let cookie = r
        .set_cookies
        .iter()
        .find(|c| c.starts_with(ra_portal::SESSION_COOKIE))
        .unwrap();
    assert!(
        cookie.contains("Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
    );
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let mut s = Session {
        cookie: token,
        csrf: String::new(),
        bearer: String::new(),
    };
    // An enrolment session reaches nothing else.
    let r = send(app, get("/", Some(&s))).await;
    assert_eq!(r.location, "/enrolement");
    let r = send(app, get("/enrolement", Some(&s))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("data:image/svg+xml;base64,"),
        "QR code shown"
    );
    s.csrf = csrf_of(&r.body);
    let secret = store
        .operator_credentials(login)
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap();
    assert!(r.body.contains(&secret), "secret shown for manual entry");
    let code = totp_now(&secret);
    let r = send(
        app,
        post_form(
            "/enrolement",
            Some(&s),
            &[
                ("csrf", &s.csrf),
                ("password", NEW_PASSWORD),
                ("confirmation", NEW_PASSWORD),
                ("totp", &code),
            ],
        ),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::SEE_OTHER,
        "enrolment {login}: {}",
        r.body
    );
    assert_eq!(r.location, "/");
    let r = send(app, get("/", Some(&s))).await;
    assert_eq!(r.status, StatusCode::OK);
    // An API session too: the enrolment used the code of the current step, so the next
    // step's code (accepted for clock skew) is not a replay.
    let secret = ra_portal::base32_decode(&secret).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let code = ra_portal::totp_code(&secret, ra_portal::current_step(now) + 1);
    let r = send(
        app,
        post_json(
            "/api/v1/sessions",
            None,
            &serde_json::json!({ "login": login, "password": NEW_PASSWORD, "totp": code }),
        ),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "API login {login}: {}",
        r.body
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    s.bearer = v["token"].as_str().unwrap().to_owned();
    s
}

pub fn get_bearer(path: &str, token: &str) -> Request<Body> {
    Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

pub fn post_json(path: &str, token: Option<&str>, body: &serde_json::Value) -> Request<Body> {
    let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

/// An API answer is JSON, and an error carries a machine code and a French message.
pub fn assert_api_json(r: &Resp, what: &str) {
    let ct = r
        .headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "{what}: content type {ct:?}: {}",
        r.body
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    if !r.status.is_success() {
        assert!(v["error"].is_string(), "{what}: {}", r.body);
        assert!(v["message"].is_string(), "{what}: {}", r.body);
    }
}
