//! RA portal, end to end in a real browser (issue 6 acceptance): `igc dev-setup`, `igc serve`
//! with the portal on a free port, headless Chromium driven through chromedriver's W3C
//! WebDriver HTTP API. The first administrator logs in with the one-time password printed by
//! the `ra-administrators` ceremony of `igc dev-setup`, enrols TOTP and creates a clerk and an
//! approver of the Ordre des médecins, which the second administrator confirms; the
//! clerk registers a médecin and files a SIGN request with a CSR made by `openssl req`; the
//! approver approves; the certificate is downloaded and `openssl verify` accepts it; it is
//! revoked in the portal, and the CRL and OCSP served by `igc serve` say so. On the way, the
//! clerk imports a CSV file of two médecins, one of them already registered, and reads the
//! job's report.
//! Screenshots of each step: target/artifacts/ra-portal/NN-step.png.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{assert_success, rpps, stdout, tool, DevPki, PortalServer};
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

// ----- a tiny HTTP/1.1 JSON client (loopback, chromedriver) ----------------------------------

fn http_json(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut s) = TcpStream::connect(host) else {
        return (0, Value::Null);
    };
    s.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let payload = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    // chromedriver keeps the connection open: read the head, then Content-Length bytes.
    let mut buf = vec![];
    let mut chunk = [0u8; 8192];
    let split = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return (0, Value::Null),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let mut data = buf[split + 4..].to_vec();
    match length {
        Some(n) => {
            while data.len() < n {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => data.extend_from_slice(&chunk[..k]),
                }
            }
            data.truncate(n);
        }
        None => {
            let _ = s.read_to_end(&mut data);
            if head.contains("transfer-encoding: chunked") {
                data = dechunk(&data);
            }
        }
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let value = serde_json::from_slice(&data).unwrap_or(Value::Null);
    (status, value)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        data = &data[eol + 2..];
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ----- WebDriver ------------------------------------------------------------------------------

/// chromedriver (and the Chromium it starts) with one browser session;
/// on drop the session is deleted and the processes it started are killed by pid.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    shots: PathBuf,
    step: u32,
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(common::find_tool("chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian chromium-driver; make test installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            shots: PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("artifacts/ra-portal"),
            step: 0,
        };
        let ready = common::wait_until(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http_json("GET", &format!("{}/status", b.base), None).1["value"]["ready"]
                    == json!(true)
        });
        assert!(ready, "chromedriver not ready within 20 s");
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "pageLoadStrategy": "normal",
            "goog:chromeOptions": {
                "binary": common::find_tool("chromium").to_str().unwrap(),
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1280,1100", "--lang=fr-FR"],
            },
        }}});
        let (status, v) = http_json("POST", &format!("{}/session", b.base), Some(&caps));
        assert_eq!(status, 200, "new WebDriver session: {v}");
        b.session = v["value"]["sessionId"].as_str().unwrap().to_owned();
        b.cmd(
            "POST",
            "/timeouts",
            Some(json!({ "implicit": 0, "pageLoad": 30000, "script": 10000 })),
        );
        std::fs::create_dir_all(&b.shots).unwrap();
        b
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let (status, v) = http_json(method, &url, body.as_ref());
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_owned()
    }

    /// The element matching `css`, waiting up to 15 s for it.
    fn find(&self, css: &str) -> String {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let body = json!({ "using": "css selector", "value": css });
            let (status, v) = http_json("POST", &url, Some(&body));
            if status == 200 {
                return v["value"][ELEMENT]
                    .as_str()
                    .unwrap_or_else(|| panic!("find {css}: {v}"))
                    .to_owned();
            }
            assert!(
                Instant::now() < end,
                "no element {css} on {} within 15 s; page text:\n{}",
                self.url(),
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn page_text(&self) -> String {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": "return document.body ? document.body.innerText : '';", "args": [] })),
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The text of the element matching `css`. The page may still be replaced right after a
    /// navigation (the element found then belongs to the old document): found again then.
    fn text(&self, css: &str) -> String {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let e = self.find(css);
            let url = format!("{}/session/{}/element/{e}/text", self.base, self.session);
            let (status, v) = http_json("GET", &url, None);
            if status == 200 {
                return v["value"].as_str().unwrap().to_owned();
            }
            let message = v["value"]["message"].as_str().unwrap_or_default();
            let stale = v["value"]["error"] == "stale element reference"
                || message.contains("does not belong to the document");
            assert!(
                stale && Instant::now() < end,
                "WebDriver text of {css}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Waits (15 s at most) until the current URL's path satisfies `f`.
    fn wait_path(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.url();
            let path = url
                .strip_prefix("https://")
                .and_then(|r| r.find('/').map(|i| r[i..].to_owned()))
                .unwrap_or_default();
            if f(&path) {
                return path;
            }
            assert!(
                Instant::now() < end,
                "expected {what}, still on {url}; page text:\n{}",
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self, name: &str) {
        self.step += 1;
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let file = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&file, png).unwrap();
    }

    fn cookie(&self, name: &str) -> String {
        self.cmd("GET", &format!("/cookie/{name}"), None)["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The processes descending from `root` (from /proc), deepest last.
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parent_of.push((pid, ppid));
        }
    }
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (child, _) in parent_of.iter().filter(|(_, pp)| *pp == p) {
            out.push(*child);
            frontier.push(*child);
        }
    }
    out
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Chromium quits with its session (bounded by http_json's read timeout).
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = http_json("DELETE", &url, None);
        }
        // Whatever Chromium left behind, by pid (only what this chromedriver started).
        // Positive pids above 1 only: `kill -KILL -1` or a group id would hit far more.
        for pid in descendants(self.driver.id()).into_iter().filter(|&p| p > 1) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

// ----- TOTP of the test's operators -----------------------------------------------------------

/// A TOTP secret and the last step used (the portal refuses a step twice).
struct Totp {
    secret: Vec<u8>,
    last: i64,
}

impl Totp {
    fn new(b32: &str) -> Totp {
        Totp {
            secret: ra_portal::base32_decode(b32.trim()).expect("base32 TOTP secret"),
            last: 0,
        }
    }

    /// The code of the current step, or of the next one when the current one was used
    /// (the portal accepts ±1 step).
    fn next(&mut self) -> String {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let step = ra_portal::current_step(now).max(self.last + 1);
        self.last = step;
        ra_portal::totp_code(&self.secret, step)
    }
}

// ----- the flow -----------------------------------------------------------------------------

fn login(b: &mut Browser, portal: &str, login: &str, password: &str, totp: &str) {
    b.goto(&format!("{portal}/connexion"));
    b.fill("#login", login);
    b.fill("#password", password);
    b.fill("#totp", totp);
    b.click("#se-connecter");
}

fn logout(b: &Browser) {
    b.click("#deconnexion");
    b.wait_path("the login page", |p| p.starts_with("/connexion"));
}

/// First login with a one-time password: TOTP enrolment and a new password. Returns the
/// operator's TOTP.
fn first_login(b: &mut Browser, portal: &str, who: &str, otp: &str, password: &str) -> Totp {
    login(b, portal, who, otp, "");
    b.wait_path("the enrolment page", |p| p == "/enrolement");
    let mut totp = Totp::new(&b.text("#totp-secret"));
    b.screenshot(&format!("enrolement-{who}"));
    b.fill("#password", password);
    b.fill("#confirmation", password);
    b.fill("#totp", &totp.next());
    b.click("#valider");
    b.wait_path("the dashboard", |p| p == "/");
    totp
}

/// One administrator creates an account: it awaits a second one, and no password is shown.
fn create_operator(b: &mut Browser, portal: &str, who: &str, name: &str, role: &str) {
    b.goto(&format!("{portal}/operateurs"));
    b.fill("#login", who);
    b.fill("#name", name);
    b.click(&format!("#role option[value=\"{role}\"]"));
    b.click("#order option[value=\"medecins\"]");
    b.click("#creer");
    assert!(
        b.text("#notice")
            .contains("Un autre administrateur doit confirmer"),
        "{}",
        b.page_text()
    );
    assert!(!b.page_text().contains("Mot de passe à usage unique"));
    b.screenshot(&format!("operateur-{who}"));
}

/// The second administrator confirms an account and is shown its one-time password.
fn confirm_operator(b: &mut Browser, portal: &str, who: &str) -> String {
    b.goto(&format!("{portal}/operateurs"));
    b.click(&format!("[id=\"confirmer-{who}\"]"));
    let otp = b.text("#mot-de-passe-unique");
    b.screenshot(&format!("confirmation-{who}"));
    otp
}

fn openssl(args: &[&str]) -> (bool, String) {
    let out = tool("openssl", args);
    let text = format!("{}{}", stdout(&out), common::stderr(&out));
    (out.status.success(), text)
}

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_owned()
}

#[test]
fn clerk_and_approver_in_headless_chromium() {
    let started = Instant::now();
    let pki = DevPki::new();
    let srv = PortalServer::start(pki.dir.path());
    let portal = srv.portal.clone();
    let admin_otp = pki.first_login("admin");
    let admin_b_otp = pki.first_login("admin.b");
    let work = pki.path("e2e");
    std::fs::create_dir_all(&work).unwrap();
    let w = |f: &str| work.join(f).to_str().unwrap().to_owned();

    // The professional's key and CSR, made by OpenSSL as a card would.
    let (ok, text) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &w("key.pem"),
        "-out",
        &w("csr.pem"),
        "-subj",
        "/CN=carte de test",
    ]);
    assert!(ok, "openssl req: {text}");

    let mut b = Browser::start();

    // 1. The administrator: one-time password, TOTP enrolment, new password, two operators.
    b.goto(&format!("{portal}/connexion"));
    b.find("#se-connecter");
    b.screenshot("connexion");
    let _admin = first_login(&mut b, &portal, "admin", &admin_otp, "admin-mot-de-passe-1");
    b.screenshot("accueil-admin");
    create_operator(&mut b, &portal, "agent.a", "Agent A", "clerk");
    create_operator(&mut b, &portal, "approb.b", "Approbateur B", "approver");
    logout(&b);
    // The second administrator (from the same ceremony) confirms both: only they see the
    // one-time passwords.
    let _admin_b = first_login(
        &mut b,
        &portal,
        "admin.b",
        &admin_b_otp,
        "admin-mot-de-passe-2",
    );
    let otp_a = confirm_operator(&mut b, &portal, "agent.a");
    let otp_b = confirm_operator(&mut b, &portal, "approb.b");
    logout(&b);

    // 2. Clerk A: enrols, logs out, logs in again with password + TOTP.
    let pw_a = "agent-a-mot-de-passe";
    let mut totp_a = first_login(&mut b, &portal, "agent.a", &otp_a, pw_a);
    logout(&b);
    login(&mut b, &portal, "agent.a", pw_a, &totp_a.next());
    b.wait_path("the dashboard", |p| p == "/");
    assert!(b.text("#operateur").contains("agent.a"));
    b.screenshot("accueil-agent-a");

    // 3. Registers a médecin (valid RPPS) with identity proofing.
    let rpps = rpps(1_234_567_890);
    b.goto(&format!("{portal}/professionnels/nouveau"));
    b.fill("#idnat", &rpps);
    b.fill("#surname", "DUPONT");
    b.fill("#given_names", "Jeanne");
    b.click("#profession option[value=\"10\"]");
    b.click("#document_type option[value=\"cni\"]");
    b.fill("#document_number", "AB1234567");
    b.click("#mode option[value=\"face-to-face\"]");
    b.screenshot("enregistrement-saisie");
    b.click("#enregistrer");
    let idnat = format!("8{rpps}");
    b.wait_path("the professional's page", |p| {
        p == format!("/professionnels/{idnat}")
    });
    assert_eq!(b.text("#idnat"), idnat);
    b.screenshot("professionnel-enregistre");

    // 3b. Imports a CSV file: a new médecin, and the one just registered (refused as a
    // duplicate); the job page refreshes itself until its report is complete.
    let imported = common::rpps(1_234_567_891);
    std::fs::write(
        w("lot.csv"),
        format!(
            "rpps;nom;prenoms;profession;type_piece;numero_piece;modalite\n\
             {imported};MARTIN;Claire;10;passport;P1234567;remote\n\
             {rpps};DUPONT;Jeanne;10;cni;AB1234567;face-to-face\n"
        ),
    )
    .unwrap();
    b.goto(&format!("{portal}/importations"));
    let file = b.find("#csv_file");
    b.cmd(
        "POST",
        &format!("/element/{file}/value"),
        Some(json!({ "text": w("lot.csv") })),
    );
    b.click("#importer");
    b.wait_path("the import job's page", |p| {
        p.strip_prefix("/importations/")
            .is_some_and(|id| id.len() == 32)
    });
    let end = Instant::now() + Duration::from_secs(30);
    while !b.page_text().contains("Importation terminée") {
        assert!(
            Instant::now() < end,
            "import not finished: {}",
            b.page_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let report = b.text("#bilan");
    assert!(
        report.contains("1 professionnel(s) enregistré(s), 1 ligne(s) refusée(s)"),
        "{report}"
    );
    assert!(
        b.text("#rapport").contains("déjà"),
        "{}",
        b.text("#rapport")
    );
    b.screenshot("importation-csv");
    b.goto(&format!("{portal}/professionnels/8{imported}"));
    assert_eq!(b.text("#idnat"), format!("8{imported}"));
    // Back to the médecin registered by hand, whose request follows.
    b.goto(&format!("{portal}/professionnels/{idnat}"));
    assert_eq!(b.text("#idnat"), idnat);

    // 4. Files a SIGN request with the CSR file.
    b.click("#nouvelle-demande");
    b.wait_path("the request form", |p| p.ends_with("/demandes/nouvelle"));
    b.click("#profile option[value=\"sign\"]");
    let file = b.find("#csr_file");
    b.cmd(
        "POST",
        &format!("/element/{file}/value"),
        Some(json!({ "text": w("csr.pem") })),
    );
    b.screenshot("demande-saisie");
    b.click("#deposer");
    let request_path = b.wait_path("the request's page", |p| {
        p.starts_with("/demandes/") && p[10..].bytes().all(|c| c.is_ascii_digit())
    });
    assert_eq!(b.text("#etat"), "en attente d'approbation");
    b.screenshot("demande-deposee");
    logout(&b);

    // 5. Approver B: enrols, approves; the CA issues.
    let _totp_b = first_login(&mut b, &portal, "approb.b", &otp_b, "approb-b-mot-de-passe");
    b.goto(&format!("{portal}{request_path}"));
    b.find("#approuver");
    b.screenshot("demande-a-approuver");
    b.click("#approuver");
    let cert_path = b.wait_path("the certificate's page", |p| p.starts_with("/certificats/"));
    let serial = b.text("#serial");
    assert_eq!(cert_path, format!("/certificats/{serial}"));
    assert_eq!(b.text("#etat"), "valide");
    b.screenshot("certificat-emis");

    // 6. Downloads the PEM with the browser's session cookie; OpenSSL verifies the chain.
    let cookie = b.cookie(ra_portal::SESSION_COOKIE);
    let out = Command::new(common::find_tool("curl"))
        .args([
            "-sS",
            "-k",
            "--max-time",
            "20",
            "-f",
            "-b",
            &format!("{}={cookie}", ra_portal::SESSION_COOKIE),
            "-o",
            &w("cert.pem"),
            &format!("{portal}/certificats/{serial}/pem"),
        ])
        .output()
        .unwrap();
    assert_success(&out, "curl (certificate download)");
    let pem = std::fs::read_to_string(w("cert.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let root = pki.pki("root.pem");
    let personnes = pki.pki("personnes.pem");
    let (root, personnes) = (root.to_str().unwrap(), personnes.to_str().unwrap());
    let (ok, text) = openssl(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        root,
        "-untrusted",
        personnes,
        &w("cert.pem"),
    ]);
    assert!(ok && text.contains(": OK"), "openssl verify: {text}");
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(root).unwrap(),
        std::fs::read_to_string(personnes).unwrap()
    );
    std::fs::write(w("chain.pem"), chain).unwrap();
    let ocsp = |expect: &str| {
        let (_, text) = openssl(&[
            "ocsp",
            "-issuer",
            personnes,
            "-cert",
            &w("cert.pem"),
            "-url",
            &format!("{}/ocsp", srv.server.base),
            "-CAfile",
            &w("chain.pem"),
            "-timeout",
            "20",
        ]);
        text.contains("Response verify OK") && text.contains(&format!("cert.pem: {expect}"))
    };
    assert!(ocsp("good"), "OCSP says good before the revocation");

    // 7. Revokes it in the portal.
    b.click("#reason option[value=\"keyCompromise\"]");
    b.screenshot("revocation-saisie");
    b.click("#revoquer");
    // The confirmation page shows the certificate and the reason; only its button revokes.
    b.wait_path("the revocation's confirmation page", |p| {
        p.starts_with(&format!("/certificats/{serial}/revocation?"))
    });
    b.click("#confirmer-revocation");
    let end = Instant::now() + Duration::from_secs(15);
    while !b.text("#etat").starts_with("révoqué") {
        assert!(Instant::now() < end, "not revoked: {}", b.page_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    b.screenshot("certificat-revoque");

    // 8. The CRL at the certificate's CDP path, served by igc serve, lists it.
    let (ok, text) = openssl(&[
        "x509",
        "-in",
        &w("cert.pem"),
        "-noout",
        "-ext",
        "crlDistributionPoints",
    ]);
    assert!(ok, "{text}");
    let cdp = text
        .split_whitespace()
        .find_map(|t| t.strip_prefix("URI:"))
        .expect("CDP URI")
        .to_owned();
    let crl_url = format!("{}{}", srv.server.base, path_of(&cdp));
    let revoked_in_crl = common::wait_until(Duration::from_secs(30), || {
        let (status, der, _) = common::http_get(&crl_url);
        if status != 200 {
            return false;
        }
        std::fs::write(w("crl.der"), der).unwrap();
        let (ok, _) = openssl(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            &w("crl.der"),
            "-out",
            &w("crl.pem"),
        ]);
        let (verified, text) = openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            root,
            "-untrusted",
            personnes,
            "-CRLfile",
            &w("crl.pem"),
            &w("cert.pem"),
        ]);
        ok && !verified && text.contains("certificate revoked")
    });
    assert!(
        revoked_in_crl,
        "the CRL at {crl_url} does not list {serial}"
    );

    // 9. And OCSP answers revoked.
    assert!(
        common::wait_until(Duration::from_secs(30), || ocsp("revoked")),
        "OCSP does not say revoked"
    );
    eprintln!(
        "e2e done in {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        b.shots.display()
    );
    drop(b);
    drop(srv);
}
