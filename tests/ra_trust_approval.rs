//! Issue 19, finding 6 — the approver sees what they approve, run against `igc serve` (curl
//! over HTTPS) with OpenSSL as the independent reference: the approval page shows the subject
//! DN built from the registry, the profile, validity, the key's algorithm and the SHA-256 of
//! its SubjectPublicKeyInfo (computed here by OpenSSL from the CSR), and the identity proofing;
//! a request whose professional changed in the registry after filing is refused at approval,
//! and nothing is issued.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::{medecins_clerk_and_approver, openssl_csr};
use common::{rpps, with_db, DevPki, PortalServer};

/// SHA-256 (hex) of the DER SubjectPublicKeyInfo of the key in `key`, by OpenSSL.
fn spki_sha256(key: &std::path::Path) -> String {
    let der = key.with_extension("spki.der");
    let out = common::tool(
        "openssl",
        &[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
            "-out",
            der.to_str().unwrap(),
        ],
    );
    common::assert_success(&out, "openssl pkey -pubout");
    let out = common::tool("openssl", &["dgst", "-sha256", "-r", der.to_str().unwrap()]);
    common::assert_success(&out, "openssl dgst");
    common::stdout(&out)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn the_approver_sees_what_is_signed_and_a_changed_subject_is_refused() {
    let pki = DevPki::new();
    let srv = PortalServer::start(pki.dir.path());
    let dir = pki.path("approval");
    let (clerk, approver) = medecins_clerk_and_approver(&pki, &srv.portal, &dir);
    let idnat = format!("8{}", rpps(1_600_456));
    clerk.register_medecin(&idnat, "APERCU", "Jeanne");
    let (key, csr) = openssl_csr(&dir, "sign");
    let request = clerk.file_request(&idnat, "sign", &csr);

    let page = approver.get(&request);
    assert_eq!(page.status, 200, "{}", page.body);
    let fingerprint = spki_sha256(&key);
    for (what, expected) in [
        ("the key's SPKI SHA-256", fingerprint.as_str()),
        ("the key's algorithm", "EC P-256"),
        ("the subject DN's CN", idnat.as_str()),
        ("the surname from the registry", "APERCU"),
        ("the profession's title", "Médecin"),
        ("the validity", "1095 jours"),
        ("the identity document", "AB1234567"),
        ("who checked it", "agent.a"),
    ] {
        assert!(
            page.body.contains(expected),
            "the approval page does not show {what} ({expected}): {}",
            page.body
        );
    }

    // The registry changes after filing (a given name corrected, a proofing replaced…): the
    // request cannot be approved as filed.
    let db = format!("sqlite://{}", pki.path("var/igc.sqlite").display());
    with_db(&db, |pool| async move {
        sqlx::query("UPDATE professionals SET given_names = 'Autre' WHERE idnat = $1")
            .bind(&idnat)
            .execute(&pool)
            .await
            .unwrap();
    });
    let r = approver.submit_from(&request, &format!("{request}/approbation"), &[]);
    assert_eq!(r.status, 409, "approval of a changed subject: {}", r.body);
    assert!(r.body.contains("déposez-la à nouveau"), "{}", r.body);
    let page = approver.get(&request);
    assert!(
        page.body.contains("id=\"etat\">en attente"),
        "still filed: {}",
        page.body
    );
    assert!(!page.body.contains("id=\"certificat\""), "{}", page.body);
    let idnat_count = with_db(&db, |pool| async move {
        // Infrastructure certificates (OCSP responders, TSA unit) are recorded by their
        // ceremony, without a request: count what was issued for a request.
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM certificates WHERE request_id IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    });
    assert_eq!(idnat_count, 0, "nothing issued");
}
