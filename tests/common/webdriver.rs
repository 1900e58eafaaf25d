//! Headless Chromium driven through chromedriver's W3C WebDriver HTTP API, over a tiny
//! HTTP/1.1 client: what the browser tests of the RA portal see and do as a person would
//! (`tests/ra_portal_e2e.rs`, `tests/ra_portal_a11y.rs`). Screenshots go to
//! `target/artifacts/<dir>/NN-step.png`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use super::{find_tool, wait_until};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

// ----- a tiny HTTP/1.1 JSON client (loopback, chromedriver) ----------------------------------

pub fn http_json(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ----- WebDriver ------------------------------------------------------------------------------

/// chromedriver (and the Chromium it starts) with one browser session;
/// on drop the session is deleted and the processes it started are killed by pid.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    /// Where [`Browser::screenshot`] writes: `target/artifacts/<dir>`.
    pub shots: PathBuf,
    step: u32,
}

impl Browser {
    /// chromedriver on a free loopback port and a headless Chromium session; screenshots go
    /// to `target/artifacts/<artifacts>`.
    pub fn start(artifacts: &str) -> Browser {
        let port = free_port();
        let driver = Command::new(find_tool("chromedriver"))
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
                .join("artifacts")
                .join(artifacts),
            step: 0,
        };
        let ready = wait_until(Duration::from_secs(20), || {
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
                "binary": find_tool("chromium").to_str().unwrap(),
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

    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let (status, v) = http_json(method, &url, body.as_ref());
        assert_eq!(status, 200, "WebDriver {method} {path}: {v}");
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None).as_str().unwrap().to_owned()
    }

    /// The element matching `css`, waiting up to 15 s for it.
    pub fn find(&self, css: &str) -> String {
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

    pub fn page_text(&self) -> String {
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
    pub fn text(&self, css: &str) -> String {
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

    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), Some(json!({})));
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Waits (15 s at most) until the current URL's path satisfies `f`.
    pub fn wait_path(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
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

    pub fn screenshot(&mut self, name: &str) {
        self.step += 1;
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let file = self.shots.join(format!("{:02}-{name}.png", self.step));
        std::fs::write(&file, png).unwrap();
    }

    pub fn cookie(&self, name: &str) -> String {
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
pub struct Totp {
    secret: Vec<u8>,
    last: i64,
}

impl Totp {
    pub fn new(b32: &str) -> Totp {
        Totp {
            secret: ra_portal::base32_decode(b32.trim()).expect("base32 TOTP secret"),
            last: 0,
        }
    }

    /// The code of the current step, or of the next one when the current one was used
    /// (the portal accepts ±1 step); when that one was used too, waits for the next step
    /// (30 s at most).
    pub fn next(&mut self) -> String {
        let now_step = || ra_portal::current_step(time::OffsetDateTime::now_utc().unix_timestamp());
        while self.last + 1 > now_step() + 1 {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        let step = now_step().max(self.last + 1);
        self.last = step;
        ra_portal::totp_code(&self.secret, step)
    }
}

// ----- steps of the portal's flows ------------------------------------------------------------

pub fn login(b: &mut Browser, portal: &str, login: &str, password: &str, totp: &str) {
    b.goto(&format!("{portal}/connexion"));
    b.fill("#login", login);
    b.fill("#password", password);
    b.fill("#totp", totp);
    b.click("#se-connecter");
}

pub fn logout(b: &Browser) {
    b.click("#deconnexion");
    b.wait_path("the login page", |p| p.starts_with("/connexion"));
}

/// First login with a one-time password: TOTP enrolment and a new password. Returns the
/// operator's TOTP.
pub fn first_login(b: &mut Browser, portal: &str, who: &str, otp: &str, password: &str) -> Totp {
    first_login_with(b, portal, who, otp, password, |_| {})
}

/// [`first_login`], running `on_enrolment_page` on the enrolment page before it is filled in.
pub fn first_login_with(
    b: &mut Browser,
    portal: &str,
    who: &str,
    otp: &str,
    password: &str,
    on_enrolment_page: impl FnOnce(&mut Browser),
) -> Totp {
    login(b, portal, who, otp, "");
    b.wait_path("the enrolment page", |p| p == "/enrolement");
    let mut totp = Totp::new(&b.text("#totp-secret"));
    b.screenshot(&format!("enrolement-{who}"));
    on_enrolment_page(b);
    b.fill("#password", password);
    b.fill("#confirmation", password);
    b.fill("#totp", &totp.next());
    b.click("#valider");
    b.wait_path("the dashboard", |p| p == "/");
    totp
}

/// One administrator creates an account: it awaits a second one, and no password is shown.
pub fn create_operator(b: &mut Browser, portal: &str, who: &str, name: &str, role: &str) {
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
pub fn confirm_operator(b: &mut Browser, portal: &str, who: &str) -> String {
    b.goto(&format!("{portal}/operateurs"));
    b.click(&format!("[id=\"confirmer-{who}\"]"));
    let otp = b.text("#mot-de-passe-unique");
    b.screenshot(&format!("confirmation-{who}"));
    otp
}
