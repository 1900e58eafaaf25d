//! Shared helpers of the end-to-end tests: the development PKI in a
//! temporary directory, and the independent tools (OpenSSL, pkilint).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;
pub mod served;
pub mod tokens;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const IGC: &str = env!("CARGO_BIN_EXE_igc");

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A development hierarchy made by `igc dev-setup` in a fresh directory.
pub struct DevPki {
    pub dir: tempfile::TempDir,
    /// (login, one-time password) of the first RA administrators, as printed by the
    /// `ra-administrators` ceremony.
    pub first_logins: Vec<(String, String)>,
}

impl DevPki {
    pub fn new() -> DevPki {
        Self::with_config(|c| c)
    }

    /// A development hierarchy whose database is `url` from the start (the ceremonies create
    /// the first RA administrators there).
    pub fn with_database(url: &str) -> DevPki {
        Self::with_config(|c| {
            let sqlite = "url = \"sqlite://igc.sqlite?mode=rwc\"";
            assert!(c.contains(sqlite));
            c.replace(sqlite, &format!("url = \"{url}\""))
        })
    }

    /// A development hierarchy whose `var/igc.toml` is the development configuration changed
    /// by `edit` before `igc dev-setup` runs (the ceremonies read it).
    pub fn with_config(edit: impl FnOnce(String) -> String) -> DevPki {
        let dir = tempfile::tempdir().unwrap();
        let config = std::fs::read_to_string(repo().join("src/dev-igc.toml")).unwrap();
        std::fs::create_dir_all(dir.path().join("var")).unwrap();
        std::fs::write(dir.path().join("var/igc.toml"), edit(config)).unwrap();
        let out = igc(
            dir.path(),
            &[
                "dev-setup",
                "--ceremonies",
                dev_ceremonies().to_str().unwrap(),
            ],
        );
        assert_success(&out, "igc dev-setup");
        let first_logins = stdout(&out)
            .lines()
            .filter_map(|l| {
                let login = l.split("identifiant « ").nth(1)?.split(" »").next()?;
                let otp = l.split("usage unique « ").nth(1)?.split(" »").next()?;
                Some((login.to_owned(), otp.to_owned()))
            })
            .collect();
        DevPki { dir, first_logins }
    }

    /// The one-time password the ceremony printed for administrator `login`.
    pub fn first_login(&self, login: &str) -> String {
        self.first_logins
            .iter()
            .find(|(l, _)| l == login)
            .map(|(_, otp)| otp.clone())
            .unwrap_or_else(|| {
                panic!(
                    "no first login printed for {login}: {:?}",
                    self.first_logins
                )
            })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn pki(&self, file: &str) -> PathBuf {
        self.path(&format!("var/pki/{file}"))
    }

    pub fn softhsm_conf(&self) -> PathBuf {
        self.path("var/hsm/softhsm2.conf")
    }
}

pub fn dev_ceremonies() -> PathBuf {
    repo().join("hsm-config/ceremonies/dev")
}

/// Runs igc in `cwd` with the development SoftHSM configuration, if any.
pub fn igc(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(IGC);
    cmd.current_dir(cwd).args(args).env_remove("IGC_CONFIG");
    let conf = cwd.join("var/hsm/softhsm2.conf");
    if conf.exists() {
        cmd.env("SOFTHSM2_CONF", conf);
    } else {
        cmd.env_remove("SOFTHSM2_CONF");
    }
    cmd.output().unwrap()
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs an external tool; a missing tool fails the test (make test installs them).
pub fn tool(program: &str, args: &[&str]) -> Output {
    Command::new(find_tool(program))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (run `make test`, which installs it)")
        })
}

/// Finds a tool on PATH or in the project's virtualenv (`.venv/bin`).
pub fn find_tool(program: &str) -> PathBuf {
    let venv = repo().join(".venv/bin").join(program);
    if venv.exists() {
        return venv;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(program);
            if p.exists() {
                return p;
            }
        }
    }
    panic!("{program} not found on PATH or in .venv/bin: run `make test`, which installs it");
}

/// pkilint findings at ERROR or FATAL severity (JSON output parsed).
pub fn pkilint_errors(program: &str, extra: &[&str], file: &Path) -> Vec<String> {
    let mut args = vec!["lint"];
    args.extend(extra);
    args.extend(["-s", "ALL", "-f", "JSON", file.to_str().unwrap()]);
    let out = tool(program, &args);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{program} did not print JSON ({e}): {}\n{}",
            stdout(&out),
            stderr(&out)
        )
    });
    let results = json["results"].as_array().expect("pkilint results");
    assert!(
        !results.is_empty(),
        "{program} ran no validation on {}",
        file.display()
    );
    let mut errors = vec![];
    for r in results {
        for f in r["finding_descriptions"].as_array().unwrap() {
            let sev = f["severity"].as_str().unwrap();
            if sev == "ERROR" || sev == "FATAL" {
                errors.push(format!("{sev} {} at {}", f["code"], r["node_path"]));
            }
        }
    }
    errors
}

/// A running `igc serve` on a free loopback port, killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    /// `http://127.0.0.1:PORT/tsa` of the TSA's dedicated listener, when the configuration
    /// has a `[tsa]` (from the `igc TSA listening on …` line).
    pub tsa_listener: Option<String>,
}

/// `igc serve` on free loopback ports: the dev configuration's ports (8080, 8443, 8081) are
/// shared by every test running at once.
fn serve_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(IGC);
    cmd.current_dir(cwd).args([
        "serve",
        "--config",
        "var/igc.toml",
        "--listen",
        "127.0.0.1:0",
        "--portal-listen",
        "127.0.0.1:0",
    ]);
    let config = std::fs::read_to_string(cwd.join("var/igc.toml")).unwrap();
    if config.contains("\n[tsa]") {
        cmd.args(["--tsa-listen", "127.0.0.1:0"]);
    }
    cmd
}

/// The URL in an `igc TSA listening on http://…/tsa (…)` line.
fn tsa_listener_url(line: &str) -> Option<String> {
    let rest = line.strip_prefix("igc TSA listening on ")?;
    rest.split_whitespace().next().map(str::to_owned)
}

impl Server {
    pub fn start(cwd: &Path) -> Server {
        let mut cmd = serve_command(cwd);
        cmd.env("SOFTHSM2_CONF", cwd.join("var/hsm/softhsm2.conf"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = tsa_listener_url(&line) {
                    let _ = tx.send((1, url));
                } else if let Some(rest) = line.strip_prefix("igc listening on ") {
                    let _ = tx.send((0, rest.trim().to_owned()));
                }
            }
        });
        let mut tsa_listener = None;
        let end = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let left = end.saturating_duration_since(Instant::now());
            match rx
                .recv_timeout(left)
                .expect("igc serve did not report its address within 30 s")
            {
                (0, base) => break base,
                (_, url) => tsa_listener = Some(url),
            }
        };
        Server {
            child,
            base,
            tsa_listener,
        }
    }

    pub fn get(&self, path: &str) -> (u16, Vec<u8>, String) {
        http_get(&format!("{}{path}", self.base))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Minimal HTTP/1.1 GET over loopback: (status, body, content-type).
pub fn http_get(url: &str) -> (u16, Vec<u8>, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = vec![];
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut body = buf[split + 4..].to_vec();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut content_type = String::new();
    let mut chunked = false;
    for line in head.lines() {
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-type:") {
            content_type = v.trim().to_owned();
        }
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    (status, body, content_type)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        data = &data[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Waits (bounded) until `f` holds.
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A valid RPPS: `base` (10 digits) followed by its Luhn check digit.
pub fn rpps(base: u64) -> String {
    let body = format!("{base:010}");
    let mut sum = 0;
    for (i, c) in body.chars().rev().enumerate() {
        let mut d = c.to_digit(10).unwrap();
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// Points the dev configuration's `[database]` at `url`.
pub fn use_database(pki: &DevPki, url: &str) {
    let path = pki.path("var/igc.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "url = \"sqlite://igc.sqlite?mode=rwc\"",
        &format!("url = \"{url}\""),
    );
    assert!(text.contains(url));
    std::fs::write(path, text).unwrap();
}

/// An SNTP server on loopback (std thread) answering with the system time plus a settable
/// offset; the packet laid out by hand from RFC 4330 §4, independently of the TSA's client.
pub struct Sntp {
    pub addr: std::net::SocketAddr,
    offset_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn ntp_now(offset_ms: i64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let nanos = now.as_nanos() as i128 + i128::from(offset_ms) * 1_000_000;
    let secs = nanos.div_euclid(1_000_000_000) + 2_208_988_800;
    let frac = (nanos.rem_euclid(1_000_000_000) << 32) / 1_000_000_000;
    ((secs as u64) << 32) | frac as u64
}

impl Sntp {
    pub fn start(offset_ms: i64) -> Sntp {
        use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
        use std::sync::Arc;
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let offset = Arc::new(AtomicI64::new(offset_ms));
        let stop = Arc::new(AtomicBool::new(false));
        let (o, s) = (offset.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n < 48 {
                    continue;
                }
                let off = o.load(Ordering::Relaxed);
                let receive = ntp_now(off);
                let mut r = [0u8; 48];
                r[0] = (4 << 3) | 4; // LI 0, VN 4, mode 4 (server)
                r[1] = 1; // stratum 1
                r[2] = buf[2];
                r[3] = 0xec;
                r[12..16].copy_from_slice(b"LOCL");
                r[16..24].copy_from_slice(&receive.to_be_bytes());
                r[24..32].copy_from_slice(&buf[40..48]);
                r[32..40].copy_from_slice(&receive.to_be_bytes());
                r[40..48].copy_from_slice(&ntp_now(off).to_be_bytes());
                let _ = sock.send_to(&r, peer);
            }
        });
        Sntp {
            addr,
            offset_ms: offset,
            stop,
        }
    }

    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for Sntp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Minimal HTTP/1.1 POST over loopback: (status, body, content-type).
pub fn http_post(url: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut buf = vec![];
    s.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut body = buf[split + 4..].to_vec();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut content_type = String::new();
    let mut chunked = false;
    for line in head.lines() {
        let l = line.to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-type:") {
            content_type = v.trim().to_owned();
        }
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    (status, body, content_type)
}

/// `igc serve` with the RA portal on a free loopback port as well (`--portal-listen
/// 127.0.0.1:0`), killed on drop.
pub struct PortalServer {
    pub server: Server,
    /// `https://127.0.0.1:PORT` (from the `igc portal on https://…/connexion` line).
    pub portal: String,
}

impl PortalServer {
    pub fn start(cwd: &Path) -> PortalServer {
        let mut cmd = serve_command(cwd);
        cmd.env("SOFTHSM2_CONF", cwd.join("var/hsm/softhsm2.conf"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<(u8, String)>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = tsa_listener_url(&line) {
                    let _ = tx.send((3, url));
                } else if let Some(rest) = line.strip_prefix("igc listening on ") {
                    let _ = tx.send((0, rest.trim().to_owned()));
                } else if let Some(rest) = line.strip_prefix("igc portal on ") {
                    let base = rest.trim().trim_end_matches("/connexion").to_owned();
                    let _ = tx.send((1, base));
                }
            }
        });
        let (mut base, mut portal, mut tsa_listener) = (None, None, None);
        let end = Instant::now() + Duration::from_secs(60);
        while base.is_none() || portal.is_none() {
            let left = end.saturating_duration_since(Instant::now());
            let (kind, value) = rx
                .recv_timeout(left)
                .expect("igc serve did not report its addresses within 60 s");
            match kind {
                0 => base = Some(value),
                1 => portal = Some(value),
                _ => tsa_listener = Some(value),
            }
        }
        PortalServer {
            server: Server {
                child,
                base: base.unwrap(),
                tsa_listener,
            },
            portal: portal.unwrap(),
        }
    }
}

/// Runs `f` with a connection pool on `db_url` (SQLite or PostgreSQL), on a runtime of its
/// own: the tests that look into the database behind `igc` are synchronous. The pool is
/// closed afterwards.
pub fn with_db<T, F: std::future::Future<Output = T>>(
    db_url: &str,
    f: impl FnOnce(sqlx::AnyPool) -> F,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(db_url).await.unwrap();
        let out = f(pool.clone()).await;
        pool.close().await;
        out
    })
}

// ----- operators who authenticate on the command line ---------------------------------------

/// The password of every operator made by [`cli_operators`].
pub const CLI_PASSWORD: &str = browser::PASSWORD;

/// The database URL of a development PKI's `var/igc.toml` (SQLite paths are relative to it).
pub fn db_url(pki: &DevPki) -> String {
    let text = std::fs::read_to_string(pki.path("var/igc.toml")).unwrap();
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("[database] url in var/igc.toml")
        .to_owned();
    match url.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') => {
            format!("sqlite://{}", pki.path("var").join(rest).display())
        }
        _ => url,
    }
}

/// An RA operator, created and enrolled in the database as an administrator and the
/// operator's own first login would, whose password and TOTP codes the tests hand to `igc`
/// on a file descriptor, as a script does.
pub struct CliOperator {
    pub login: String,
    secret: Vec<u8>,
    /// The last TOTP step handed out (a step is accepted once).
    last_step: std::cell::Cell<i64>,
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl CliOperator {
    fn step_after(&self, last: i64) -> i64 {
        loop {
            // Never the previous step (accepted for clock skew): a slow start of `igc` could
            // see it expire before the check; the current or the next one stays valid ≥ 30 s.
            let now = ca::credentials::current_step(unix_now());
            let step = (last + 1).max(now);
            if step <= now + 1 {
                return step;
            }
            // Every code of the ±1 window has been used: wait for the next step.
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Password and a fresh TOTP code (two lines), the code counted as used.
    pub fn credentials(&self) -> String {
        let step = self.step_after(self.last_step.get());
        self.last_step.set(step);
        format!(
            "{CLI_PASSWORD}\n{}\n",
            ca::credentials::totp_code(&self.secret, step)
        )
    }

    /// Password and a fresh code not counted as used: for commands that must be refused
    /// before anybody is authenticated (a later use of the same code then succeeds).
    pub fn credentials_not_used(&self) -> String {
        let step = self.step_after(self.last_step.get());
        format!(
            "{CLI_PASSWORD}\n{}\n",
            ca::credentials::totp_code(&self.secret, step)
        )
    }

    /// Password and the code of the step after the current one (accepted for clock skew), so
    /// that a replay of it within 30 s is still inside the accepted window.
    pub fn credentials_ahead(&self) -> String {
        loop {
            let step = ca::credentials::current_step(unix_now()) + 1;
            if step > self.last_step.get() {
                self.last_step.set(step);
                return format!(
                    "{CLI_PASSWORD}\n{}\n",
                    ca::credentials::totp_code(&self.secret, step)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Password and the code last handed out (a replay).
    pub fn last_credentials(&self) -> String {
        format!(
            "{CLI_PASSWORD}\n{}\n",
            ca::credentials::totp_code(&self.secret, self.last_step.get())
        )
    }

    /// The right password with a TOTP code valid at no step around now.
    pub fn credentials_wrong_totp(&self) -> String {
        let now = ca::credentials::current_step(unix_now());
        let valid: Vec<String> = (now - 2..=now + 2)
            .map(|s| ca::credentials::totp_code(&self.secret, s))
            .collect();
        let wrong = (0..)
            .map(|n: u32| format!("{:06}", 999_999 - n))
            .find(|c| !valid.contains(c))
            .unwrap();
        format!("{CLI_PASSWORD}\n{wrong}\n")
    }
}

/// The operator of `ops` whose next TOTP code can be used soonest (at once if any can):
/// spreading commands over several operators keeps tests from waiting for new codes.
pub fn ready(ops: &[CliOperator]) -> &CliOperator {
    ops.iter().min_by_key(|o| o.last_step.get()).unwrap()
}

/// Creates operators `(login, role, Order slug)` as the RA does it, through the portal of an
/// `igc serve` started on `pki` for the purpose: the ceremony's administrator A creates each
/// account, administrator B confirms it (and is shown its one-time password), and the
/// operator enrols TOTP with the password [`CLI_PASSWORD`]. Uses the administrators' first
/// logins: once per `DevPki`.
pub fn cli_operators(pki: &DevPki, specs: &[(&str, &str, Option<&str>)]) -> Vec<CliOperator> {
    let srv = PortalServer::start(pki.dir.path());
    let dir = pki.path("cli-operators");
    let a = browser::Browser::new(&dir, "admin-a", &srv.portal);
    let b = browser::Browser::new(&dir, "admin-b", &srv.portal);
    a.enrol("admin", &pki.first_login("admin"));
    b.enrol("admin.b", &pki.first_login("admin.b"));
    let mut made = Vec::new();
    for (i, (login, role, order)) in specs.iter().enumerate() {
        a.create_operator(login, role, order.unwrap_or(""));
        let otp = b.confirm_operator(login);
        // Each from a desk of their own (127.0.3.x): the portal limits login attempts per
        // address, and some tests make more operators than one address may enrol a minute.
        let operator = browser::Browser::new(&dir, login, &srv.portal)
            .at_address(&format!("127.0.3.{}", i % 250 + 2));
        let secret = operator.enrol(login, &otp);
        made.push(CliOperator {
            login: (*login).to_owned(),
            secret: ca::credentials::base32_decode(&secret).unwrap(),
            // Enrolment used the code of the current step.
            last_step: std::cell::Cell::new(ca::credentials::current_step(unix_now())),
        });
    }
    made
}

/// `igc` with operators' credentials on descriptors 3, 4, … (`creds[0]` on 3), opened by a
/// shell as a script would (`igc … 3<clerk.credentials`), and stdin closed (no terminal).
/// The credential files live in the returned directory, to be kept until the process ends.
pub fn igc_command_with_credentials(
    cwd: &Path,
    args: &[&str],
    creds: &[String],
) -> (Command, tempfile::TempDir) {
    use std::os::unix::fs::PermissionsExt as _;
    let files = tempfile::tempdir().unwrap();
    let mut script = String::from("exec \"$0\" \"$@\"");
    let mut cmd = Command::new("sh");
    for (i, c) in creds.iter().enumerate() {
        let fd = i + 3;
        let path = files.path().join(format!("fd{fd}"));
        std::fs::write(&path, c).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        script.push_str(&format!(" {fd}<\"$IGC_TEST_FD{fd}\""));
        cmd.env(format!("IGC_TEST_FD{fd}"), &path);
    }
    cmd.arg("-c")
        .arg(script)
        .arg(IGC)
        .args(args)
        .current_dir(cwd)
        .env_remove("IGC_CONFIG")
        .stdin(Stdio::null());
    let conf = cwd.join("var/hsm/softhsm2.conf");
    if conf.exists() {
        cmd.env("SOFTHSM2_CONF", conf);
    } else {
        cmd.env_remove("SOFTHSM2_CONF");
    }
    (cmd, files)
}

/// Runs [`igc_command_with_credentials`] to completion.
pub fn igc_with_credentials(cwd: &Path, args: &[&str], creds: &[String]) -> Output {
    let (mut cmd, _files) = igc_command_with_credentials(cwd, args, creds);
    cmd.output().unwrap()
}

/// Points the TSA's clock guard at two SNTP responders on loopback (the development
/// configuration names public NTP servers, which tests must not depend on).
pub fn configure_clock(pki: &DevPki, a: &Sntp, b: &Sntp) {
    let path = pki.path("var/igc.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("servers = [").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let text = format!(
        "{}servers = [\"{}\", \"{}\"]\npoll_interval_ms = 300\nretry_interval_ms = 200\nquery_timeout_ms = 200{}",
        &text[..start],
        a.addr,
        b.addr,
        &text[end..]
    );
    std::fs::write(path, text).unwrap();
}
