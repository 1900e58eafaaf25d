//! Accessibility of the RA portal (issue 25 acceptance): every HTML page of the portal, as seen
//! by each role and by an anonymous visitor, audited by axe-core in headless Chromium.
//!
//! `igc dev-setup` and `igc serve` as in `ra_portal_e2e`; the ceremony's administrators (over
//! curl) create one operator of each role, and a clerk and an approver of the Ordre des
//! médecins make the objects the pages show: a registered médecin, certificates (one valid,
//! one held by a loss declaration), a pending request, a CSV import. In Chromium, an anonymous
//! visitor opens the public pages; each new operator logs in for the first time (the enrolment
//! page is audited) and visits every GET route of `ra_portal::route_table()` that is an HTML
//! page, its path parameters filled with those objects; pages the role may not see are audited
//! too (their error pages are pages a user sees). Two answers to forms are audited as well: the
//! approval (the revocation code shown once) and the holder's loss declaration.
//!
//! axe-core (pinned by `tests/a11y/package-lock.json`, installed by `scripts/install-deps.sh
//! test`) is injected through WebDriver, whose scripts run outside the page's
//! Content-Security-Policy: the portal's `default-src 'none'` stays as it is. Each page is then
//! walked with the Tab key alone: every focusable element must be reached and show its focus.
//!
//! Fails on any finding of impact serious or critical, and on a route whose path parameter this
//! test cannot fill (add a fixture for it). A faulty test page shows that the audit can fail.
//! All results, moderate and minor included: target/artifacts/a11y/report.json.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::browser::{self as curl, csrf_of, openssl_csr, PASSWORD};
use common::webdriver::{first_login_with, logout, Browser};
use common::{find_tool, repo, rpps, wait_until, DevPki, PortalServer};
use ra_portal::{route_table, Permission, RouteMethod};
use serde_json::{json, Value};

/// axe-core as `npm ci --prefix tests/a11y` installs it.
const AXE: &str = "tests/a11y/node_modules/axe-core/axe.min.js";

/// The impacts that fail the test (axe's two highest).
const FAILING_IMPACTS: [&str; 2] = ["serious", "critical"];

/// The path parameters this test knows how to fill.
const KNOWN_PARAMETERS: [&str; 5] = ["idnat", "id", "serial", "job", "declaration"];

/// Runs axe-core on the page once it is loaded; the answer keeps what the report needs.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
const nodes = (v) => v.nodes.map((n) => ({
  target: n.target,
  impact: n.impact,
  summary: n.failureSummary,
  messages: [...n.any, ...n.all, ...n.none].map((c) => c.message),
}));
axe.run(document, { resultTypes: ['violations'] }).then(
  (r) => done({
    axe: axe.version,
    title: document.title,
    path: location.pathname,
    violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl, nodes: nodes(v) })),
    incomplete: r.incomplete.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: nodes(v) })),
    passes: r.passes.map((v) => v.id),
  }),
  (e) => done({ error: String(e) }),
);
"#;

/// Marks the page's focusable elements (in document order) and records, for each element that
/// receives the focus, whether it shows a focus indicator (an outline or a shadow); returns a
/// description of each focusable element.
const WATCH_FOCUS: &str = r#"
const focusable = [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
  .filter((e) => !e.disabled && e.type !== 'hidden' && e.tabIndex >= 0 && e.getClientRects().length > 0
    && getComputedStyle(e).visibility !== 'hidden');
focusable.forEach((e, i) => { e.dataset.clavier = String(i); });
window.focusSeen = [];
document.addEventListener('focusin', (ev) => {
  const s = getComputedStyle(ev.target);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
  window.focusSeen.push({ index: ev.target.dataset.clavier ?? null, visible: outline || s.boxShadow !== 'none' });
}, true);
if (document.activeElement) { document.activeElement.blur(); }
const text = (e) => (e.textContent || '').trim().slice(0, 40);
return focusable.map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
  + (e.name ? '[name=' + e.name + ']' : '') + (e.getAttribute('href') ? '[href=' + e.getAttribute('href') + ']' : '')
  + (e.tagName === 'BUTTON' ? ' « ' + text(e) + ' »' : ''));
"#;

/// The GET routes of the portal that answer an HTML page: not the JSON API, not the
/// stylesheet, not the certificate downloads.
fn html_routes() -> Vec<&'static str> {
    route_table()
        .into_iter()
        .filter(|r| {
            r.method == RouteMethod::Get
                && !r.api
                && !r.path.starts_with("/api/")
                && !r.path.starts_with("/static/")
                && !r.path.ends_with("/pem")
                && !r.path.ends_with("/der")
        })
        .map(|r| r.path)
        .collect()
}

/// The `{name}` parameters of an axum path pattern.
fn parameters(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// Every path `pattern` names with `fixtures` (one per combination of values).
fn fill(pattern: &str, fixtures: &BTreeMap<&str, Vec<String>>) -> Vec<String> {
    let mut paths = vec![pattern.to_owned()];
    for name in parameters(pattern) {
        let values = &fixtures[name];
        paths = paths
            .iter()
            .flat_map(|p| {
                values
                    .iter()
                    .map(move |v| p.replace(&format!("{{{name}}}"), v))
            })
            .collect();
    }
    paths
}

/// The results of axe-core on one page, as one role sees it.
struct Audited {
    role: String,
    route: String,
    path: String,
    result: Value,
    keyboard: Value,
}

impl Audited {
    /// Its violations of a failing impact, one line each.
    fn failures(&self) -> Vec<String> {
        let mut out = vec![];
        for v in self.result["violations"].as_array().into_iter().flatten() {
            let impact = v["impact"].as_str().unwrap_or_default();
            if !FAILING_IMPACTS.contains(&impact) {
                continue;
            }
            let targets: Vec<String> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| n["target"].to_string())
                .collect();
            out.push(format!(
                "{} as {}: {} ({impact}) on {}: {} ({})",
                self.path,
                self.role,
                v["id"].as_str().unwrap_or_default(),
                targets.join(", "),
                v["help"].as_str().unwrap_or_default(),
                v["helpUrl"].as_str().unwrap_or_default(),
            ));
        }
        for problem in self.keyboard["problems"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} as {}: keyboard: {}",
                self.path,
                self.role,
                problem.as_str().unwrap_or_default()
            ));
        }
        out
    }
}

/// Injects axe-core into the page the browser shows and runs it there.
fn audit_current(b: &mut Browser, axe: &str, role: &str, route: &str, path: &str) -> Audited {
    // WebDriver runs the script as a function body; axe-core sets `window.axe`.
    let loaded = b.cmd(
        "POST",
        "/execute/sync",
        Some(json!({ "script": format!("{axe}\n;return typeof window.axe;"), "args": [] })),
    );
    assert_eq!(loaded, json!("object"), "axe-core not loaded on {path}");
    let result = b.cmd(
        "POST",
        "/execute/async",
        Some(json!({ "script": RUN_AXE, "args": [] })),
    );
    assert!(
        result.get("error").is_none(),
        "axe.run on {path} as {role}: {result}"
    );
    // What a reader of the report needs to see: the pages axe-core faults or doubts about.
    let flagged = |key: &str| result[key].as_array().is_some_and(|v| !v.is_empty());
    if flagged("violations") || flagged("incomplete") {
        let name: String = format!("{role}{path}")
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .collect();
        b.screenshot(&name);
    }
    let keyboard = keyboard_check(b);
    Audited {
        role: role.to_owned(),
        route: route.to_owned(),
        path: path.to_owned(),
        result,
        keyboard,
    }
}

/// Moves through the page with the Tab key alone: every focusable element must be reached,
/// and show where the focus is. Returns what the report keeps, with the failures in
/// `problems` (the page is then left with its focus moved; audit it first).
fn keyboard_check(b: &Browser) -> Value {
    let focusable = b.cmd(
        "POST",
        "/execute/sync",
        Some(json!({ "script": WATCH_FOCUS, "args": [] })),
    );
    let focusable: Vec<String> = focusable
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let tab = [
        json!({ "type": "keyDown", "value": "\u{E004}" }),
        json!({ "type": "keyUp", "value": "\u{E004}" }),
    ];
    let presses: Vec<Value> = (0..=focusable.len()).flat_map(|_| tab.clone()).collect();
    b.cmd(
        "POST",
        "/actions",
        Some(json!({ "actions": [{ "type": "key", "id": "clavier", "actions": presses }] })),
    );
    b.cmd("DELETE", "/actions", None);
    let seen = b.cmd(
        "POST",
        "/execute/sync",
        Some(json!({ "script": "return window.focusSeen;", "args": [] })),
    );
    let seen = seen.as_array().unwrap();
    let index_of = |v: &Value| v["index"].as_str().and_then(|i| i.parse::<usize>().ok());
    let mut problems = vec![];
    for (i, element) in focusable.iter().enumerate() {
        let focused: Vec<&Value> = seen.iter().filter(|v| index_of(v) == Some(i)).collect();
        if focused.is_empty() {
            problems.push(format!("{element}: not reached with the Tab key"));
        } else if !focused.iter().any(|v| v["visible"] == json!(true)) {
            problems.push(format!("{element}: no visible focus indicator"));
        }
    }
    json!({ "focusable": focusable, "problems": problems })
}

/// Opens `path` and audits it.
fn audit(b: &mut Browser, axe: &str, portal: &str, role: &str, route: &str, path: &str) -> Audited {
    b.goto(&format!("{portal}{path}"));
    audit_current(b, axe, role, route, path)
}

/// The clerk imports a CSV file of one médecin through the portal's form (a file upload, sent
/// by curl with the clerk's cookie jar); returns the job's id once its report is complete.
fn import_job(clerk: &curl::Browser, dir: &std::path::Path, portal: &str) -> String {
    let csv = dir.join("lot.csv");
    std::fs::write(
        &csv,
        format!(
            "rpps;nom;prenoms;profession;type_piece;numero_piece;modalite\n\
             {};MARTIN;Claire;10;passport;P1234567;remote\n",
            rpps(1_234_567_893)
        ),
    )
    .unwrap();
    let csrf = csrf_of(&clerk.get("/importations").body);
    let jar = dir.join("clerk.jar");
    let out = Command::new(find_tool("curl"))
        .args(["-sS", "-k", "--max-time", "20", "-o", "/dev/null"])
        .args(["-w", "%{http_code} %{redirect_url}", "-b"])
        .arg(&jar)
        .arg("-F")
        .arg(format!("csrf={csrf}"))
        .arg("-F")
        .arg(format!("csv_file=@{}", csv.display()))
        .arg(format!("{portal}/importations"))
        .output()
        .unwrap();
    let answer = String::from_utf8_lossy(&out.stdout).into_owned();
    let job = answer
        .split_once("/importations/")
        .map(|(_, id)| id.trim().to_owned())
        .unwrap_or_else(|| panic!("import not started: {answer}"));
    let done = wait_until(Duration::from_secs(30), || {
        clerk
            .get(&format!("/importations/{job}"))
            .body
            .contains("Importation terminée")
    });
    assert!(done, "import {job} not finished within 30 s");
    job
}

/// The clerk files a request for `idnat` with a CSR made by OpenSSL, the approver approves it
/// and the certificate is issued: (request path, serial, the revocation code shown once).
fn issue(
    clerk: &curl::Browser,
    approver: &curl::Browser,
    dir: &std::path::Path,
    idnat: &str,
    profile: &str,
) -> (String, String, String) {
    let (_, csr) = openssl_csr(dir, profile);
    let request = clerk.file_request(idnat, profile, &csr);
    let r = approver.submit_from(&request, &format!("{request}/approbation"), &[]);
    let shown = |marker: &str, end: char| {
        let i = r.body.find(marker).map(|i| i + marker.len());
        let value = i.and_then(|i| Some(&r.body[i..i + r.body[i..].find(end)?]));
        value
            .unwrap_or_else(|| panic!("approval of {request}: {} {}", r.status, r.body))
            .to_owned()
    };
    let serial = shown("id=\"certificat-emis\" href=\"/certificats/", '"');
    let code = shown("id=\"code-revocation\">", '<');
    (request, serial, code)
}

#[test]
fn every_page_for_every_role_passes_axe() {
    let started = Instant::now();
    // A route whose parameter has no fixture fails here, before anything is started.
    let routes = html_routes();
    let public: Vec<&str> = route_table()
        .into_iter()
        .filter(|r| r.permission == Permission::Public)
        .map(|r| r.path)
        .collect();
    let unknown: Vec<String> = routes
        .iter()
        .flat_map(|r| {
            parameters(r)
                .into_iter()
                .filter(|p| !KNOWN_PARAMETERS.contains(p))
                .map(move |p| format!("{r} ({{{p}}})"))
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "routes with a path parameter this test cannot fill (add a fixture for it in \
         tests/ra_portal_a11y.rs): {unknown:?}"
    );
    let axe = std::fs::read_to_string(repo().join(AXE)).unwrap_or_else(|e| {
        panic!("{AXE}: {e} (run `scripts/install-deps.sh test`, which `make test` runs)")
    });

    let pki = DevPki::new();
    let srv = PortalServer::start(pki.dir.path());
    let portal = srv.portal.clone();
    let dir = pki.path("a11y");

    // The ceremony's administrators (their curl sessions stay in their cookie jars), a clerk
    // and an approver of the Ordre des médecins who make the objects the pages show.
    let (clerk, approver) = curl::medecins_clerk_and_approver(&pki, &portal, &dir);
    let admin_a = curl::Browser::new(&dir, "admin-a", &portal);
    let admin_b = curl::Browser::new(&dir, "admin-b", &portal);
    let idnat = format!("8{}", rpps(1_234_567_890));
    clerk.register_medecin(&idnat, "DUPONT", "Jeanne");
    let (issued_request, held_serial, _) = issue(&clerk, &approver, &dir, &idnat, "sign");
    // The Order suspends the médecin's certificates: a loss declaration, the certificate held.
    let professional = format!("/professionnels/{idnat}");
    let r = approver.submit_from(&professional, &format!("{professional}/suspension"), &[]);
    let declaration = r
        .location
        .strip_prefix(&format!("{professional}/pertes/"))
        .unwrap_or_else(|| panic!("suspension of {idnat}: {} {}", r.status, r.body))
        .to_owned();
    let (_, valid_serial, valid_code) = issue(&clerk, &approver, &dir, &idnat, "auth");
    let (_, csr) = openssl_csr(&dir, "pending");
    let pending_request = clerk.file_request(&idnat, "conf", &csr);
    let job = import_job(&clerk, &dir, &portal);
    let request_id = |p: &str| p.strip_prefix("/demandes/").unwrap().to_owned();
    let pending_id = request_id(&pending_request);
    let fixtures: BTreeMap<&str, Vec<String>> = BTreeMap::from([
        ("idnat", vec![idnat.clone()]),
        ("id", vec![pending_id.clone(), request_id(&issued_request)]),
        ("serial", vec![valid_serial, held_serial]),
        ("job", vec![job]),
        ("declaration", vec![declaration]),
    ]);

    // One operator of each role, made as the RA does: A creates, B confirms.
    let roles = [
        ("administrator", "admin.c", ""),
        ("clerk", "agent.c", "medecins"),
        ("approver", "approb.c", "medecins"),
        ("auditor", "audit.c", ""),
        ("registration-office", "bureau.c", ""),
    ];
    let operators: Vec<(&str, &str, String)> = roles
        .iter()
        .map(|(role, login, order)| {
            admin_a.create_operator(login, role, order);
            (*role, *login, admin_b.confirm_operator(login))
        })
        .collect();
    let setup = started.elapsed();

    let mut b = Browser::start("a11y");
    b.cmd("POST", "/timeouts", Some(json!({ "script": 60000 })));
    // The audit can fail: a page in no language whose field has no label and hides its focus.
    b.goto(
        "data:text/html;charset=utf-8,%3Ctitle%3Et%3C/title%3E\
         %3Cinput%20id%3Dchamp%20style%3D%22outline%3Anone%22%3E",
    );
    let canary = audit_current(&mut b, &axe, "témoin", "-", "une page fautive");
    let canary = canary.failures().join("\n");
    assert!(
        canary.contains(": label (critical)")
            && canary.contains(": html-has-lang (serious)")
            && canary.contains("keyboard: input#champ: no visible focus indicator"),
        "the audit missed faults of the test page: {canary}"
    );
    let mut audited = vec![];
    for route in routes.iter().filter(|r| public.contains(*r)) {
        for path in fill(route, &fixtures) {
            audited.push(audit(&mut b, &axe, &portal, "anonyme", route, &path));
        }
    }
    for (role, login, otp) in &operators {
        first_login_with(&mut b, &portal, login, otp, PASSWORD, |b| {
            let role = format!("{role} (enrôlement)");
            audited.push(audit_current(b, &axe, &role, "/enrolement", "/enrolement"));
        });
        for route in &routes {
            for path in fill(route, &fixtures) {
                audited.push(audit(&mut b, &axe, &portal, role, route, &path));
            }
        }
        if *role == "approver" {
            // The page after an approval (a POST's answer), with the revocation code.
            b.goto(&format!("{portal}/demandes/{pending_id}"));
            b.click("#approuver");
            b.find("#code-revocation");
            let route = "/demandes/{id}/approbation";
            let path = format!("/demandes/{pending_id}/approbation");
            audited.push(audit_current(&mut b, &axe, role, route, &path));
        }
        b.goto(&format!("{portal}/"));
        logout(&b);
    }
    // The holder declares the card lost with the code given at issuance (a POST's answer).
    b.goto(&format!("{portal}/perte-ou-vol"));
    b.fill("#idnat", &idnat);
    b.fill("#code", &valid_code);
    b.click("#declarer");
    b.find("#declaration-enregistree");
    audited.push(audit_current(
        &mut b,
        &axe,
        "anonyme",
        "/perte-ou-vol",
        "/perte-ou-vol (déclaration enregistrée)",
    ));
    drop(b);
    drop(srv);

    let report: Vec<Value> = audited
        .iter()
        .map(|a| {
            json!({
                "role": a.role,
                "route": a.route,
                "path": a.path,
                "title": a.result["title"],
                "violations": a.result["violations"],
                "incomplete": a.result["incomplete"],
                "passes": a.result["passes"],
                "keyboard": a.keyboard,
            })
        })
        .collect();
    let artifacts = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("artifacts/a11y");
    std::fs::create_dir_all(&artifacts).unwrap();
    let report_file = artifacts.join("report.json");
    std::fs::write(
        &report_file,
        serde_json::to_vec_pretty(&json!({
            "axe": audited.first().map(|a| a.result["axe"].clone()),
            "pages": report,
        }))
        .unwrap(),
    )
    .unwrap();

    let failures: Vec<String> = audited.iter().flat_map(Audited::failures).collect();
    eprintln!(
        "a11y: {} pages audited ({} routes, {} roles and anonymous) in {:.1} s (setup {:.1} s); \
         report in {}",
        audited.len(),
        routes.len(),
        operators.len(),
        started.elapsed().as_secs_f64(),
        setup.as_secs_f64(),
        report_file.display()
    );
    assert!(
        failures.is_empty(),
        "{} serious or critical accessibility violations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
