//! A cookie-keeping HTTPS client for the RA portal of a running `igc serve`, driven through
//! curl (an independent TLS and HTTP client): what an attacker or an operator's browser sends.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One answer of the portal.
#[derive(Debug)]
pub struct Page {
    /// curl's exit code (0: the HTTP exchange happened).
    pub exit: i32,
    pub status: u16,
    pub location: String,
    pub body: String,
}

/// A browser: its own cookie jar, so two of them are two people.
pub struct Browser {
    dir: PathBuf,
    jar: PathBuf,
    portal: String,
    /// The source address of its connections (curl's `--interface`); 127.0.0.1 when unset.
    source: Option<String>,
}

fn enc(s: &str) -> String {
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

/// The CSRF token of the first form of a page.
pub fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").expect("no csrf field") + 19;
    html[i..i + 64].to_owned()
}

/// The TOTP secret shown on the enrolment page, if any.
pub fn totp_secret_of(html: &str) -> Option<String> {
    let i = html.find("id=\"totp-secret\">")? + 17;
    let end = html[i..].find('<')?;
    Some(html[i..i + end].to_owned())
}

/// The TOTP code of `secret` (base32, as shown at enrolment) for the current time step plus
/// `ahead` steps (a step is accepted once: a second login in the same 30 s needs the next).
pub fn totp_code(secret: &str, ahead: i64) -> String {
    let key = ra_portal::base32_decode(secret).expect("base32 TOTP secret");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    ra_portal::totp_code(&key, ra_portal::current_step(now) + ahead)
}

impl Browser {
    /// A browser with an empty cookie jar, keeping its files under `dir`.
    pub fn new(dir: &Path, name: &str, portal: &str) -> Browser {
        std::fs::create_dir_all(dir).unwrap();
        Browser {
            dir: dir.to_owned(),
            jar: dir.join(format!("{name}.jar")),
            portal: portal.to_owned(),
            source: None,
        }
    }

    /// The same browser connecting from `address` (any of 127.0.0.0/8 on Linux): a person at
    /// a desk of their own, for a portal that limits login attempts per address.
    pub fn at_address(mut self, address: &str) -> Browser {
        self.source = Some(address.to_owned());
        self
    }

    pub fn get(&self, path: &str) -> Page {
        self.request(path, None)
    }

    /// POST an urlencoded form.
    pub fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request(path, Some(&body))
    }

    /// GET `path`, then POST its form with the page's CSRF token and `fields`.
    pub fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.submit_from(path, path, fields)
    }

    /// GET the page `form`, then POST `fields` to `action` with the page's CSRF token (the
    /// buttons of a page post elsewhere).
    pub fn submit_from(&self, form: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form);
        assert_eq!(page.status, 200, "GET {form}: {}", page.body);
        let csrf = csrf_of(&page.body);
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all)
    }

    /// GET the page `form`, then POST `fields` as multipart/form-data to `action` with the
    /// page's CSRF token (file uploads: a CSR).
    pub fn submit_multipart(&self, form: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let page = self.get(form);
        assert_eq!(page.status, 200, "GET {form}: {}", page.body);
        let csrf = csrf_of(&page.body);
        let mut args = vec!["--form-string".to_owned(), format!("csrf={csrf}")];
        for (k, v) in fields {
            args.push("--form-string".to_owned());
            args.push(format!("{k}={v}"));
        }
        self.request_with(action, &args)
    }

    /// The password (+ TOTP) login form.
    pub fn login(&self, login: &str, password: &str, totp: &str) -> Page {
        self.submit(
            "/connexion",
            &[("login", login), ("password", password), ("totp", totp)],
        )
    }

    fn request(&self, path: &str, form: Option<&str>) -> Page {
        let args: Vec<String> = form
            .map(|f| vec!["--data".to_owned(), f.to_owned()])
            .unwrap_or_default();
        self.request_with(path, &args)
    }

    fn request_with(&self, path: &str, extra: &[String]) -> Page {
        let head = self.dir.join("head.txt");
        let body = self.dir.join("body.html");
        let _ = std::fs::remove_file(&head);
        let _ = std::fs::remove_file(&body);
        let mut cmd = Command::new(super::find_tool("curl"));
        cmd.args(["-sS", "-k", "--max-time", "20", "-c"])
            .arg(&self.jar)
            .arg("-b")
            .arg(&self.jar)
            .arg("-D")
            .arg(&head)
            .arg("-o")
            .arg(&body);
        cmd.args(extra);
        if let Some(source) = &self.source {
            cmd.args(["--interface", source]);
        }
        let out = cmd.arg(format!("{}{path}", self.portal)).output().unwrap();
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
        Page {
            exit: out.status.code().unwrap_or(-1),
            status,
            location,
            body: std::fs::read_to_string(&body).unwrap_or_default(),
        }
    }
}

/// The password every test operator chooses at enrolment.
pub const PASSWORD: &str = "un mot de passe assez long";

/// The one-time password shown on an operators page, if any.
pub fn one_time_password_of(html: &str) -> Option<String> {
    let marker = "id=\"mot-de-passe-unique\">";
    let i = html.find(marker)? + marker.len();
    let end = html[i..].find('<')?;
    Some(html[i..i + end].to_owned())
}

impl Browser {
    /// First login with a one-time password: TOTP enrolment and the password [`PASSWORD`];
    /// returns the TOTP secret for later logins.
    pub fn enrol(&self, login: &str, otp: &str) -> String {
        let r = self.login(login, otp, "");
        assert_eq!(
            (r.status, r.location.as_str()),
            (303, "/enrolement"),
            "{login}: {}",
            r.body
        );
        let secret = totp_secret_of(&self.get("/enrolement").body).expect("secret shown");
        let r = self.submit(
            "/enrolement",
            &[
                ("password", PASSWORD),
                ("confirmation", PASSWORD),
                ("totp", &totp_code(&secret, 0)),
            ],
        );
        assert_eq!(
            (r.status, r.location.as_str()),
            (303, "/"),
            "{login}: {}",
            r.body
        );
        secret
    }

    /// An administrator creates an account (which awaits a second administrator): the page
    /// answers, and shows no one-time password to its creator.
    pub fn create_operator(&self, login: &str, role: &str, order: &str) -> Page {
        let r = self.submit(
            "/operateurs",
            &[
                ("login", login),
                ("name", login),
                ("role", role),
                ("order", order),
            ],
        );
        assert_eq!(r.status, 200, "create {login}: {}", r.body);
        r
    }

    /// A second administrator confirms an account and is shown its one-time password.
    pub fn confirm_operator(&self, login: &str) -> String {
        let r = self.submit_from(
            "/operateurs",
            &format!("/operateurs/{login}/confirmation"),
            &[],
        );
        assert_eq!(r.status, 200, "confirm {login}: {}", r.body);
        one_time_password_of(&r.body).expect("one-time password shown to the confirmer")
    }
}

impl Browser {
    /// A clerk registers a médecin (face-to-face check of a national identity card).
    pub fn register_medecin(&self, idnat: &str, surname: &str, given_names: &str) {
        let r = self.submit(
            "/professionnels",
            &[
                ("idnat", idnat),
                ("surname", surname),
                ("given_names", given_names),
                ("profession", "10"),
                ("document_type", "cni"),
                ("document_number", "AB1234567"),
                ("mode", "face-to-face"),
            ],
        );
        assert_eq!(r.status, 303, "registration of {idnat}: {}", r.body);
    }

    /// A clerk files a request for `idnat` with the CSR in PEM; returns the request's path.
    pub fn file_request(&self, idnat: &str, profile: &str, csr_pem: &str) -> String {
        let r = self.submit_multipart(
            &format!("/professionnels/{idnat}/demandes/nouvelle"),
            &format!("/professionnels/{idnat}/demandes"),
            &[("profile", profile), ("csr_pem", csr_pem)],
        );
        assert_eq!(r.status, 303, "filing for {idnat}: {}", r.body);
        r.location
    }
}

/// A P-256 key and CSR made by OpenSSL in `dir`, as a professional's card would: (key path,
/// CSR in PEM).
pub fn openssl_csr(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let out = super::tool(
        "openssl",
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=x",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            csr.to_str().unwrap(),
        ],
    );
    super::assert_success(&out, "openssl req");
    (key, std::fs::read_to_string(&csr).unwrap())
}

/// The two development administrators enrol; A creates a clerk (`agent.a`) and an approver
/// (`approb.b`) of the Ordre des médecins, B confirms them, and both enrol. Returns the clerk
/// and the approver, logged in.
pub fn medecins_clerk_and_approver(
    pki: &super::DevPki,
    portal: &str,
    dir: &Path,
) -> (Browser, Browser) {
    let a = Browser::new(dir, "admin-a", portal);
    let b = Browser::new(dir, "admin-b", portal);
    a.enrol("admin", &pki.first_login("admin"));
    b.enrol("admin.b", &pki.first_login("admin.b"));
    a.create_operator("agent.a", "clerk", "medecins");
    a.create_operator("approb.b", "approver", "medecins");
    let clerk = Browser::new(dir, "clerk", portal);
    let approver = Browser::new(dir, "approver", portal);
    clerk.enrol("agent.a", &b.confirm_operator("agent.a"));
    approver.enrol("approb.b", &b.confirm_operator("approb.b"));
    (clerk, approver)
}
