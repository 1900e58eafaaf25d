//! RA portal: TLS client-certificate login with a real TLS client (curl) against `igc serve`.
//! An RA operator certificate (profile ra-operator, from CA Personnes, issued with
//! `igc cert issue --profile ra-operator --idnat LOGIN`) logs its operator in without password
//! and the journal records the method `tls-client-cert`; without a certificate, with a
//! certificate of another CA, or once the certificate is revoked, nobody is logged in (and a
//! session opened with it ends).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    assert_success, cli_operators, igc_with_credentials, stdout, tool, DevPki, PortalServer,
};

struct Resp {
    /// curl's exit code (0: the HTTP exchange happened).
    exit: i32,
    status: u16,
    location: String,
    body: String,
    stderr: String,
}

/// One HTTPS request with curl; `jar` keeps the cookies between calls.
fn curl(dir: &Path, jar: &str, cert: Option<(&str, &str)>, url: &str, form: Option<&str>) -> Resp {
    let extra: Vec<&str> = form.map(|f| vec!["--data", f]).unwrap_or_default();
    curl_with(dir, jar, cert, url, &extra)
}

/// A JSON API call with curl: POST `{}` when `post`, bearer token when given.
fn curl_api(
    dir: &Path,
    cert: Option<(&str, &str)>,
    url: &str,
    bearer: Option<&str>,
    post: bool,
) -> (Resp, serde_json::Value) {
    let auth = bearer.map(|t| format!("Authorization: Bearer {t}"));
    let mut extra = vec!["-H", "Content-Type: application/json"];
    if let Some(a) = &auth {
        extra.extend(["-H", a.as_str()]);
    }
    if post {
        extra.extend(["--data", "{}"]);
    }
    let jar = dir.join("api-jar").to_str().unwrap().to_owned();
    let r = curl_with(dir, &jar, cert, url, &extra);
    let v = serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null);
    (r, v)
}

fn curl_with(dir: &Path, jar: &str, cert: Option<(&str, &str)>, url: &str, extra: &[&str]) -> Resp {
    let head = dir.join("head.txt");
    let body = dir.join("body.html");
    let _ = std::fs::remove_file(&head);
    let _ = std::fs::remove_file(&body);
    let mut cmd = Command::new(common::find_tool("curl"));
    cmd.args(["-sS", "-k", "--max-time", "20", "-c", jar, "-b", jar, "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body);
    if let Some((c, k)) = cert {
        cmd.args(["--cert", c, "--key", k]);
    }
    cmd.args(extra);
    let out = cmd.arg(url).output().unwrap();
    let head = std::fs::read_to_string(&head).unwrap_or_default();
    let status = head
        .lines()
        .rfind(|l| l.starts_with("HTTP/"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("location:")
                .then(|| l[9..].trim().to_owned())
        })
        .unwrap_or_default();
    Resp {
        exit: out.status.code().unwrap_or(-1),
        status,
        location,
        body: std::fs::read_to_string(&body).unwrap_or_default(),
        stderr: common::stderr(&out),
    }
}

fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("no csrf field") + 19;
    html[i..i + 64].to_owned()
}

/// GET the login page (pre-login cookie + token), then POST /connexion/certificat.
fn cert_login(dir: &Path, portal: &str, jar: &str, cert: Option<(&str, &str)>) -> Resp {
    let page = curl(dir, jar, cert, &format!("{portal}/connexion"), None);
    if page.exit != 0 {
        return page;
    }
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = csrf_of(&page.body);
    curl(
        dir,
        jar,
        cert,
        &format!("{portal}/connexion/certificat"),
        Some(&format!("csrf={csrf}")),
    )
}

fn openssl(args: &[&str]) {
    let out = tool("openssl", args);
    assert_success(&out, &format!("openssl {args:?}"));
}

fn key_and_csr(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}-key.pem"));
    let csr = dir.join(format!("{name}.csr"));
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &format!("/CN={name}"),
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
    ]);
    (
        key.to_str().unwrap().to_owned(),
        csr.to_str().unwrap().to_owned(),
    )
}

async fn audit_methods(pki: &DevPki, action: &str) -> Vec<(String, String, String)> {
    let db = ["var/igc.sqlite", "igc.sqlite"]
        .iter()
        .map(|p| pki.path(p))
        .find(|p| p.exists())
        .expect("the dev sqlite database");
    let store = ca::storage::Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let (head, _) = store.audit_head().await.unwrap();
    let entries = store
        .audit_entries(head.saturating_sub(500), 500)
        .await
        .unwrap();
    store.close().await;
    entries
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| (e.actor, e.auth_method, e.outcome.to_string()))
        .collect()
}

#[test]
fn operator_certificate_logs_in_foreign_or_revoked_refused() {
    let started = std::time::Instant::now();
    let pki = DevPki::new();
    let srv = PortalServer::start(pki.dir.path());
    let portal = srv.portal.clone();
    let dir = pki.path("certlogin");
    std::fs::create_dir_all(&dir).unwrap();
    let f = |n: &str| dir.join(n).to_str().unwrap().to_owned();

    // An RA operator certificate for the administrator created at the first start.
    // Issued on the CLI by two operators of the registration office, who authenticate.
    let (key, csr) = key_and_csr(&dir, "admin-carte");
    let ops = cli_operators(
        &pki,
        &[
            ("ops-a", "registration-office", None),
            ("ops-b", "registration-office", None),
        ],
    );
    let out = igc_with_credentials(
        pki.dir.path(),
        &[
            "cert",
            "issue",
            "--idnat",
            "admin",
            "--profile",
            "ra-operator",
            "--csr",
            &csr,
            "--out",
            &f("admin-carte.pem"),
            "--actor",
            "ops-a",
            "--actor-credentials-fd",
            "3",
            "--approver",
            "ops-b",
            "--approver-credentials-fd",
            "4",
            "--json",
        ],
        &[ops[0].credentials(), ops[1].credentials()],
    );
    assert_success(&out, "igc cert issue --profile ra-operator");
    let issued: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    let serial = issued["serial"].as_str().expect("serial").to_owned();
    let card = (f("admin-carte.pem"), key);
    let card = Some((card.0.as_str(), card.1.as_str()));

    // 1. No certificate: a clear French refusal, no session.
    let r = cert_login(&dir, &portal, &f("jar0"), None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("Aucun certificat d"), "{}", r.body);

    // 2. The operator certificate logs the operator in, without password.
    let jar = f("jar1");
    let r = cert_login(&dir, &portal, &jar, card);
    assert_eq!((r.exit, r.status), (0, 303), "{} {}", r.stderr, r.body);
    assert_eq!(r.location, "/");
    let home = curl(&dir, &jar, card, &format!("{portal}/"), None);
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("(admin)"), "{}", home.body);
    // The session cookie alone, without the certificate on the connection, is not enough.
    let bare = curl(&dir, &jar, None, &format!("{portal}/"), None);
    assert_eq!((bare.status, bare.location.as_str()), (303, "/connexion"));
    let r = cert_login(&dir, &portal, &jar, card);
    assert_eq!(r.status, 303, "{}", r.body);

    // The same certificate opens a JSON API session; the bearer token works only with the
    // certificate on the connection (the administrator may not search professionals: 403,
    // authenticated but not allowed).
    let (r, v) = curl_api(
        &dir,
        card,
        &format!("{portal}/api/v1/sessions/certificate"),
        None,
        true,
    );
    assert_eq!(r.status, 201, "{} {}", r.stderr, r.body);
    let api_token = v["token"].as_str().expect("token").to_owned();
    let search = format!("{portal}/api/v1/professionals?name=x");
    let (r, v) = curl_api(&dir, card, &search, Some(&api_token), false);
    assert_eq!(
        (r.status, v["error"].as_str()),
        (403, Some("forbidden")),
        "{}",
        r.body
    );
    let (r, v) = curl_api(&dir, None, &search, Some(&api_token), false);
    assert_eq!(
        (r.status, v["error"].as_str()),
        (401, Some("unauthenticated")),
        "{}",
        r.body
    );
    let (r, v) = curl_api(
        &dir,
        None,
        &format!("{portal}/api/v1/sessions/certificate"),
        None,
        true,
    );
    assert_eq!(
        (r.status, v["error"].as_str()),
        (401, Some("certificate_refused")),
        "curl exit {}: {} {}",
        r.exit,
        r.stderr,
        r.body
    );
    let (r, _) = curl_api(
        &dir,
        card,
        &format!("{portal}/api/v1/sessions/certificate"),
        None,
        true,
    );
    let api_token = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let logins = rt.block_on(audit_methods(&pki, "login.certificate"));
    assert!(
        logins
            .iter()
            .any(|(a, m, o)| a == "admin" && m == "tls-client-cert" && o == "success"),
        "{logins:?}"
    );

    // 3. A client certificate of another CA (clientAuth, but not chained to CA Personnes):
    // the TLS handshake is refused, or at least nobody is logged in.
    let ca_key = f("autre-ca-key.pem");
    let ca_pem = f("autre-ca.pem");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/C=FR/O=Autre/CN=Autre AC",
        "-days",
        "30",
        "-keyout",
        &ca_key,
        "-out",
        &ca_pem,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    let (other_key, other_csr) = key_and_csr(&dir, "admin");
    std::fs::write(
        f("ext.cnf"),
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &other_csr,
        "-CA",
        &ca_pem,
        "-CAkey",
        &ca_key,
        "-days",
        "30",
        "-extfile",
        &f("ext.cnf"),
        "-out",
        &f("autre.pem"),
    ]);
    let other_pem = f("autre.pem");
    let r = cert_login(
        &dir,
        &portal,
        &f("jar2"),
        Some((other_pem.as_str(), other_key.as_str())),
    );
    assert!(
        r.exit != 0 || (r.status != 303 && r.status != 200),
        "foreign certificate accepted: {} {} {}",
        r.exit,
        r.status,
        r.body
    );
    assert!(
        !std::fs::read_to_string(f("jar2"))
            .unwrap_or_default()
            .contains(ra_portal::SESSION_COOKIE),
        "no session for a foreign certificate"
    );
    eprintln!(
        "foreign CA: curl exit {}, HTTP {} ({})",
        r.exit,
        r.status,
        r.stderr.trim()
    );

    // 4. Revoked: the open session ends at its next request, and a new login is refused.
    let out = igc_with_credentials(
        pki.dir.path(),
        &[
            "cert",
            "revoke",
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
            "--actor",
            "ops-a",
            "--actor-credentials-fd",
            "3",
        ],
        &[ops[0].credentials()],
    );
    assert_success(&out, "igc cert revoke");
    let after = curl(&dir, &jar, card, &format!("{portal}/"), None);
    assert_eq!(
        (after.status, after.location.as_str()),
        (303, "/connexion"),
        "a session of a revoked certificate goes on: {}",
        after.body
    );
    let (r, v) = curl_api(&dir, card, &search, Some(&api_token), false);
    assert_eq!(
        (r.status, v["error"].as_str()),
        (401, Some("unauthenticated")),
        "an API session of a revoked certificate goes on: {}",
        r.body
    );
    let (r, v) = curl_api(
        &dir,
        card,
        &format!("{portal}/api/v1/sessions/certificate"),
        None,
        true,
    );
    assert_eq!(
        (r.status, v["error"].as_str()),
        (401, Some("certificate_refused"))
    );
    let r = cert_login(&dir, &portal, &f("jar3"), card);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("révoqué"), "{}", r.body);
    let refusals = rt.block_on(audit_methods(&pki, "login"));
    assert!(
        refusals
            .iter()
            .any(|(_, m, o)| m == "tls-client-cert" && o == "denied"),
        "{refusals:?}"
    );
    eprintln!(
        "certificate login test done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(srv);
}
