//! RA portal, end to end in a real browser (issues 6 and 25): `igc dev-setup`, `igc serve`
//! with the portal on a free port, headless Chromium driven through chromedriver's W3C
//! WebDriver HTTP API. The first administrator logs in with the one-time password printed by
//! the `ra-administrators` ceremony of `igc dev-setup`, enrols TOTP and creates a clerk and an
//! approver of the Ordre des médecins, which the second administrator confirms; the clerk
//! registers a médecin, imports a CSV file of two médecins (one already registered) and reads
//! the job's report, and files a SIGN request with a CSR made by `openssl req`; the approver
//! finds it in the queue of their home page and approves it: the certificate comes with the
//! professional's revocation code; it is downloaded and `openssl verify` accepts it. The clerk
//! lists the certificates nearing their end and files its renewal, which the approver
//! approves. At night the professional declares the card lost on the public page with the
//! revocation code: OCSP says certificateHold within 2 s; the clerk confirms the declaration
//! from their home page, and the CRL and OCSP served by `igc serve` say revoked
//! (keyCompromise).
//! Screenshots of each step: target/artifacts/ra-portal/NN-step.png.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::webdriver::{confirm_operator, create_operator, first_login, login, logout, Browser};
use common::{assert_success, rpps, stdout, tool, DevPki, PortalServer};
use serde_json::json;

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

    let mut b = Browser::start("ra-portal");

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
    // duplicate); the clerk reloads the job's page until its report is complete.
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
    // The page does not refresh itself (a timed refresh disorients screen-reader users,
    // WCAG 2.2.1): the clerk reloads it.
    let job_url = b.url();
    let end = Instant::now() + Duration::from_secs(30);
    while !b.page_text().contains("Importation terminée") {
        assert!(
            Instant::now() < end,
            "import not finished: {}",
            b.page_text()
        );
        std::thread::sleep(Duration::from_millis(200));
        b.goto(&job_url);
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

    // 5. Approver B: enrols; their home page lists the request the clerk filed, oldest
    // first; approves it from there; the CA issues.
    let mut totp_b = first_login(&mut b, &portal, "approb.b", &otp_b, "approb-b-mot-de-passe");
    let queued = format!("#a-decider a[href=\"{request_path}\"]");
    b.find(&queued);
    assert!(b.text("#a-decider").contains(&idnat), "{}", b.page_text());
    b.screenshot("file-d-attente-approbateur");
    b.click(&queued);
    b.wait_path("the request's page", |p| p == request_path);
    b.find("#approuver");
    b.screenshot("demande-a-approuver");
    b.click("#approuver");
    // The issued certificate, with the professional's revocation code shown this once.
    let revocation_code = b.text("#code-revocation");
    assert_eq!(revocation_code.len(), 19, "{revocation_code}");
    b.screenshot("certificat-emis-code-de-revocation");
    b.click("#certificat-emis");
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
    // OCSP's status for the certificate and the reason it gives.
    let ocsp_says = |status: &str, reason: &str| {
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
        text.contains("Response verify OK")
            && text.contains(&format!("cert.pem: {status}"))
            && text.contains(&format!("Reason: {reason}"))
    };

    // 6b. Clerk A lists the Order's certificates expiring within the horizon they choose
    // (this one ends in three years) and files its renewal with the professional's new CSR;
    // approver B approves it from the queue.
    logout(&b);
    login(&mut b, &portal, "agent.a", pw_a, &totp_a.next());
    b.wait_path("the dashboard", |p| p == "/");
    b.goto(&format!("{portal}/echeances?jours=1200"));
    let renew = format!("#echeances a[href=\"/certificats/{serial}/renouvellement\"]");
    b.find(&renew);
    b.screenshot("echeances");
    b.click(&renew);
    b.wait_path("the renewal form", |p| p.ends_with("/renouvellement"));
    let (ok, text) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &w("key2.pem"),
        "-out",
        &w("csr2.pem"),
        "-subj",
        "/CN=carte renouvelee",
    ]);
    assert!(ok, "openssl req: {text}");
    b.fill("#csr_pem", &std::fs::read_to_string(w("csr2.pem")).unwrap());
    b.screenshot("renouvellement-saisie");
    b.click("#deposer");
    let renewal_path = b.wait_path("the renewal request's page", |p| {
        p.starts_with("/demandes/") && p != request_path
    });
    assert_eq!(b.text("#etat"), "en attente d'approbation");
    logout(&b);
    login(
        &mut b,
        &portal,
        "approb.b",
        "approb-b-mot-de-passe",
        &totp_b.next(),
    );
    let queued = format!("#a-decider a[href=\"{renewal_path}\"]");
    b.click(&queued);
    b.wait_path("the renewal request's page", |p| p == renewal_path);
    b.click("#approuver");
    let renewal_code = b.text("#code-revocation");
    assert_ne!(renewal_code, revocation_code);
    b.screenshot("renouvellement-emis");
    logout(&b);

    // 7. The professional loses the card at night: on the public page, their IdNat and the
    // revocation code given at the first issuance suspend every certificate at once, and OCSP
    // says so within 2 s.
    b.goto(&format!("{portal}/connexion"));
    b.click("#perte-ou-vol");
    b.wait_path("the lost-card page", |p| p == "/perte-ou-vol");
    b.fill("#idnat", &idnat);
    b.fill("#code", &revocation_code.to_lowercase());
    b.screenshot("perte-ou-vol-saisie");
    b.click("#declarer");
    b.find("#declaration-enregistree");
    let declared = Instant::now();
    assert!(
        b.text("#certificats-suspendus").contains(&serial),
        "{}",
        b.page_text()
    );
    b.screenshot("perte-ou-vol-enregistree");
    let mut held = false;
    while !held && declared.elapsed() < Duration::from_secs(2) {
        held = ocsp_says("revoked", "certificateHold");
    }
    assert!(
        held,
        "OCSP does not say certificateHold within 2 s of the declaration"
    );
    eprintln!(
        "OCSP said certificateHold {:.2} s after the declaration",
        declared.elapsed().as_secs_f64()
    );

    // 7b. Clerk A finds the declaration on their home page, reads it and confirms it: the
    // certificates are revoked (keyCompromise).
    login(&mut b, &portal, "agent.a", pw_a, &totp_a.next());
    b.wait_path("the dashboard", |p| p == "/");
    b.find("#pertes-a-traiter");
    b.screenshot("accueil-pertes-a-traiter");
    b.click("#pertes-a-traiter a");
    b.wait_path("the declaration's page", |p| p.contains("/pertes/"));
    b.screenshot("declaration-de-perte");
    b.click("#confirmer");
    b.click("#confirmer-revocation");
    b.find("#notice");
    assert!(
        b.text("#notice").contains("2 certificat(s) révoqué(s)"),
        "{}",
        b.page_text()
    );
    b.screenshot("declaration-confirmee");
    assert!(
        common::wait_until(Duration::from_secs(10), || ocsp_says(
            "revoked",
            "keyCompromise"
        )),
        "OCSP does not say revoked (keyCompromise)"
    );

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
