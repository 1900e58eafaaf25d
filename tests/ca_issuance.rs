//! Issuance and revocation end to end, on SQLite and on PostgreSQL: a médecin registered with
//! a valid RPPS gets AUTH, SIGN and CONF certificates from CSRs made by `openssl req` (keys
//! outside our process), signed by a CA key in SoftHSM2; OpenSSL (`verify -x509_strict
//! -crl_check` against the partition CRL) and pkilint check every certificate and CRL, across
//! revocation, suspension and reinstatement. Bad input is refused with a clear error and
//! writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
#[path = "../ca/tests/issuance_common/mod.rs"]
mod issuance_common;
#[path = "../ca/tests/support/mod.rs"]
mod support;

on_both_backends!(
    medecin_auth_sign_conf_lifecycle,
    bad_input_writes_nothing,
    renewal_supersedes,
    server_and_operator_profiles,
    strike_off_revokes_everything,
    revoking_twice_is_refused,
    concurrent_issuance_shares_commits,
);

mod scenarios {
    use ca::domain::{Profile, RevocationReason};
    use ca::issuance::{check_csr, IssueRequest};
    use ca::storage::{CertificateStatus, NewRequest, RequestSubject};
    use ca::Error;
    use der::Decode;
    use x509_cert::crl::CertificateList;

    use crate::issuance_common::*;

    pub async fn medecin_auth_sign_conf_lifecycle(db: Db) {
        let env = Env::new(db).await;
        let store = env.store();
        let id = idnat(1_000_123_456);
        register(store, &id, "Lefèvre", "Anne-Marie", "10", None).await;
        let ca = env.personnes.clone();
        let subject = RequestSubject::Professional(id.clone());

        let mut issued = Vec::new();
        for profile in [Profile::Auth, Profile::Sign, Profile::Conf] {
            let csr = openssl_csr(env.files.path(), "ec:P-256");
            let cert = env
                .request_and_issue(&ca, profile, subject.clone(), &csr, &[], None)
                .await
                .unwrap();
            assert_eq!(cert.profile, profile);
            // The subject comes from the registry, not from the CSR (/CN=x).
            let dn = subject_of(&cert.der);
            assert_eq!(
                dn,
                format!(
                    "C=FR, O=Ordre des médecins, title=Médecin, CN={id}+SN=Lefèvre+GN=Anne-Marie"
                )
            );
            assert!(cert
                .crl_url
                .ends_with(&format!("/crl/ca-personnes-{}.crl", cert.crl_partition)));
            let rec = store.certificate(&cert.serial).await.unwrap().unwrap();
            assert_eq!(rec.der, cert.der);
            let parsed = x509_cert::Certificate::from_der(&cert.der).unwrap();
            pkix::verify::verify_certificate_signed_by(&parsed, &pki().personnes).unwrap();
            assert_eq!(rec.status, CertificateStatus::Good);
            issued.push(cert);
        }
        // Issuance does not touch the CRLs: they are current from the start.
        for cert in &issued {
            assert_ok(&env.openssl_verify(cert, &personnes_name()), "fresh");
        }
        // openssl x509 -text shows the profile's key usage.
        let text = |c: &ca::issuance::IssuedCertificate| {
            let p = env.write_cert("t.pem", &c.der);
            run("openssl", &["x509", "-noout", "-text", "-in", s(&p)]).stdout
        };
        let t = text(&issued[0]);
        assert!(t.contains("Digital Signature") && t.contains("TLS Web Client Authentication"));
        let t = text(&issued[1]);
        assert!(t.contains("Non Repudiation") && !t.contains("Extended Key Usage"));
        let t = text(&issued[2]);
        assert!(t.contains("Key Agreement") && t.contains("E-mail Protection"));
        assert!(t.contains("1.3.6.1.5.5.7.13.3"), "{t}");

        let mut certs_for_lint: Vec<std::path::PathBuf> = issued
            .iter()
            .map(|c| env.write_cert(&format!("lint-{}.pem", c.profile), &c.der))
            .collect();
        let mut crls_for_lint = vec![env.write_crl(
            &personnes_name(),
            Some(issued[0].crl_partition),
            "lint-partition-empty.pem",
        )];

        let numbers_before = crl_number(&env, issued[0].crl_partition);

        // Revoke AUTH (keyCompromise): OpenSSL now rejects it; SIGN and CONF stay good.
        let out = env
            .revocations
            .revoke(
                &issued[0].serial,
                RevocationReason::KeyCompromise,
                &clerk("clerk-b"),
            )
            .await
            .unwrap();
        assert!(out.crl_error.is_none(), "{:?}", out.crl_error);
        assert_eq!(out.serials, vec![issued[0].serial.clone()]);
        assert_eq!(out.crls.len(), 2, "partition + full CRL");
        assert_revoked(
            &env.openssl_verify(&issued[0], &personnes_name()),
            "revoked AUTH",
        );
        assert_ok(&env.openssl_verify(&issued[1], &personnes_name()), "SIGN");
        assert!(crl_number(&env, issued[0].crl_partition) > numbers_before);

        // Suspend SIGN: revoked with reason certificateHold.
        env.revocations
            .suspend(&issued[1].serial, &clerk("clerk-b"))
            .await
            .unwrap();
        assert_revoked(
            &env.openssl_verify(&issued[1], &personnes_name()),
            "held SIGN",
        );
        let crl_path = env.write_crl(&personnes_name(), Some(issued[1].crl_partition), "held.pem");
        let crl_text = run("openssl", &["crl", "-noout", "-text", "-in", s(&crl_path)]).stdout;
        assert!(crl_text.contains("Certificate Hold"), "{crl_text}");
        assert!(crl_text.contains("Key Compromise"), "{crl_text}");
        assert!(
            crl_text.contains("Issuing Distribution Point: critical"),
            "{crl_text}"
        );
        crls_for_lint.push(crl_path);
        let full_path = env.write_crl(&personnes_name(), None, "full-held.pem");
        crls_for_lint.push(full_path.clone());
        // The full CRL (no IDP) is accepted for every certificate of the CA too.
        let p = pki();
        let leaf = env.write_cert("sign.pem", &issued[1].der);
        assert_revoked(
            &openssl_verify(&p.root_pem, &p.personnes_pem, &full_path, &leaf),
            "held SIGN, full CRL",
        );
        let leaf = env.write_cert("conf.pem", &issued[2].der);
        assert_ok(
            &openssl_verify(&p.root_pem, &p.personnes_pem, &full_path, &leaf),
            "CONF, full CRL",
        );

        // Reinstate SIGN: it leaves the CRL, OpenSSL accepts it again.
        env.revocations
            .reinstate(&issued[1].serial, &clerk("clerk-b"))
            .await
            .unwrap();
        assert_ok(
            &env.openssl_verify(&issued[1], &personnes_name()),
            "reinstated SIGN",
        );
        let der = env
            .publisher
            .current(&personnes_name(), Some(issued[1].crl_partition))
            .unwrap();
        let crl = CertificateList::from_der(&der).unwrap();
        let listed: Vec<String> = crl
            .tbs_cert_list
            .revoked_certificates
            .unwrap_or_default()
            .iter()
            .map(|r| hex::encode(r.serial_number.as_bytes()))
            .collect();
        assert_eq!(
            listed.len(),
            1,
            "only the revoked AUTH is listed: {listed:?}"
        );
        assert!(listed[0].ends_with(issued[0].serial.as_str()));
        assert_ok(&env.openssl_verify(&issued[2], &personnes_name()), "CONF");

        // Revoke CONF while it is held: hold → revoked.
        env.revocations
            .suspend(&issued[2].serial, &clerk("clerk-b"))
            .await
            .unwrap();
        env.revocations
            .revoke(
                &issued[2].serial,
                RevocationReason::CessationOfOperation,
                &clerk("clerk-b"),
            )
            .await
            .unwrap();
        assert_revoked(&env.openssl_verify(&issued[2], &personnes_name()), "CONF");
        crls_for_lint.push(env.write_crl(
            &personnes_name(),
            Some(issued[2].crl_partition),
            "final.pem",
        ));
        certs_for_lint.push(p.personnes_pem.clone());
        assert_pkilint_clean(&certs_for_lint, &crls_for_lint);
        let crl = env.publisher.current(&personnes_name(), None).unwrap();
        assert_pkilint_catches_errors(env.files.path(), &crl);
        env.keep_files();

        // The journal is intact and recorded every step.
        let v = store.verify_audit_chain().await.unwrap();
        assert!(v.is_intact(), "{v:?}");
        let entries = store.audit_entries(0, 10_000).await.unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        for a in [
            "certificate.issue",
            "certificate.revoke",
            "certificate.hold",
            "certificate.reinstate",
            "crl.numbers",
        ] {
            assert!(actions.contains(&a), "{a} missing from {actions:?}");
        }
    }

    fn crl_number(env: &Env, partition: u32) -> u64 {
        env.publisher
            .get(&env.personnes.crl_file_name(Some(partition)))
            .unwrap()
            .number
    }

    pub async fn bad_input_writes_nothing(db: Db) {
        let env = Env::new(db).await;
        let store = env.store();
        let dir = env.files.path();
        let ca = env.personnes.clone();
        let id = idnat(1_000_200_300);
        register(store, &id, "Martin", "Paul", "10", None).await;
        let subject = RequestSubject::Professional(id.clone());

        // A bad Luhn digit never becomes an identifier.
        let good = rpps(1_000_200_301);
        let last = good.chars().last().unwrap().to_digit(10).unwrap();
        let bad = format!("{}{}", &good[..10], (last + 1) % 10);
        let before = snapshot(&env.db).await;
        let e = bad.parse::<ca::domain::Rpps>().unwrap_err();
        assert!(matches!(e, Error::BadCheckDigit { .. }), "bad Luhn: {e}");
        assert!(e.to_string().contains("check digit"), "{e}");
        assert!(format!("8{bad}").parse::<ca::domain::IdNatPs>().is_err());
        assert_eq!(snapshot(&env.db).await, before);

        // Each bad CSR: refused by the RA check before filing, and refused by the CA even if
        // it was filed and approved; nothing written by the issuance attempt.
        let good_csr = csr_der(&openssl_csr(dir, "ec:P-256"));
        let mut broken_sig = good_csr.clone();
        let n = broken_sig.len();
        broken_sig[n - 2] ^= 0x55; // inside the signature value
        type Case = (&'static str, Vec<u8>, fn(&Error) -> bool, &'static str);
        let cases: Vec<Case> = vec![
            (
                "signature does not verify",
                broken_sig,
                |e| matches!(e, Error::CsrProofOfPossession { .. }),
                "proof of possession",
            ),
            (
                "RSA-1024",
                csr_der(&openssl_csr(dir, "rsa:1024")),
                |e| matches!(e, Error::UnsupportedKey { .. }),
                "1024 bits is too small",
            ),
            (
                "P-521",
                csr_der(&openssl_csr(dir, "ec:P-521")),
                |e| matches!(e, Error::UnsupportedKey { .. }),
                "P-521",
            ),
            (
                "secp256k1",
                csr_der(&openssl_csr(dir, "ec:secp256k1")),
                |e| matches!(e, Error::UnsupportedKey { .. }),
                "secp256k1",
            ),
            (
                "garbage",
                b"\x30\x82\x01\x00this is not a certificate request at all".to_vec(),
                |e| matches!(e, Error::MalformedCsr { .. }),
                "malformed certificate request",
            ),
        ];
        for (what, csr, expected, text) in cases {
            let e = check_csr(&csr).unwrap_err();
            assert!(expected(&e), "{what}: {e:?}");
            assert!(e.to_string().contains(text), "{what}: {e}");

            let id = env
                .approved_request(Profile::Auth, subject.clone(), &csr)
                .await;
            let before = snapshot(&env.db).await;
            let e = ca
                .issue(IssueRequest::new(id), &ca_actor())
                .await
                .unwrap_err();
            assert!(expected(&e), "{what} at issuance: {e:?}");
            assert_eq!(snapshot(&env.db).await, before, "{what} wrote something");
            let req = store.request(id).await.unwrap().unwrap();
            assert_eq!(req.status, ca::domain::RequestStatus::Approved, "{what}");
        }

        // Unknown profession: the registry holds a code the profession table does not know
        // (registered behind the RA's back); the CA refuses to name it.
        let stray = idnat(1_000_200_302);
        register(store, &stray, "Inconnu", "Jean", "99", None).await;
        let csr = openssl_csr(dir, "ec:P-256");
        let req = env
            .approved_request(
                Profile::Auth,
                RequestSubject::Professional(stray.clone()),
                &csr,
            )
            .await;
        let before = snapshot(&env.db).await;
        let e = ca
            .issue(IssueRequest::new(req), &ca_actor())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::UnknownProfession { .. }), "{e:?}");
        assert!(
            e.to_string().contains("unknown profession code \"99\""),
            "{e}"
        );
        assert_eq!(snapshot(&env.db).await, before);

        // A request that is not approved, a profile this CA does not issue, DNS names on a
        // professional profile: refused, nothing written.
        let csr = csr_der(&openssl_csr(dir, "ec:P-256"));
        let filed = store
            .file_request(
                &NewRequest {
                    profile: Profile::Sign,
                    subject: subject.clone(),
                    csr_der: csr.clone(),
                },
                &clerk("clerk-a"),
            )
            .await
            .unwrap();
        let before = snapshot(&env.db).await;
        let e = ca
            .issue(IssueRequest::new(filed), &ca_actor())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::RequestNotInState { .. }), "{e:?}");
        let approved = env
            .approved_request(Profile::Sign, subject.clone(), &csr)
            .await;
        let before2 = snapshot(&env.db).await;
        let e = env
            .orgs
            .issue(IssueRequest::new(approved), &ca_actor())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::ProfileNotIssued { .. }), "{e:?}");
        let e = ca
            .issue(
                IssueRequest {
                    request: approved,
                    dns_names: vec!["x.example.fr".into()],
                    renewal_of: None,
                },
                &ca_actor(),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidValue { .. }), "{e:?}");
        assert_eq!(snapshot(&env.db).await, before2);
        assert_eq!(before.0, before2.0);

        // And the good CSR still works on the same request.
        ca.issue(IssueRequest::new(approved), &ca_actor())
            .await
            .unwrap();
        assert!(store.verify_audit_chain().await.unwrap().is_intact());
    }

    pub async fn renewal_supersedes(db: Db) {
        let env = Env::new(db).await;
        let store = env.store();
        let dir = env.files.path();
        let id = idnat(1_000_300_400);
        register(store, &id, "Durand", "Chloé", "50", None).await;
        let subject = RequestSubject::Professional(id.clone());
        let ca = env.personnes.clone();
        let csr1 = openssl_csr(dir, "ec:P-256");
        let old = env
            .request_and_issue(&ca, Profile::Sign, subject.clone(), &csr1, &[], None)
            .await
            .unwrap();
        assert!(subject_of(&old.der).contains("O=Ordre des sages-femmes, title=Sage-Femme"));

        // Same key: refused, nothing written.
        let req = env
            .approved_request(Profile::Sign, subject.clone(), &csr1)
            .await;
        let before = snapshot(&env.db).await;
        let e = ca
            .issue(
                IssueRequest {
                    request: req,
                    dns_names: vec![],
                    renewal_of: Some(old.serial.clone()),
                },
                &ca_actor(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::RenewalRefused { reason, .. } if reason.contains("new key")),
            "{e:?}"
        );
        assert_eq!(snapshot(&env.db).await, before);

        // Another profile: refused.
        let csr2 = openssl_csr(dir, "ec:P-384");
        let e = env
            .request_and_issue(
                &ca,
                Profile::Auth,
                subject.clone(),
                &csr2,
                &[],
                Some(old.serial.clone()),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::RenewalRefused { .. }), "{e:?}");

        // New key, same identity: issued, the old one is superseded by it.
        let new = env
            .request_and_issue(
                &ca,
                Profile::Sign,
                subject.clone(),
                &csr2,
                &[],
                Some(old.serial.clone()),
            )
            .await
            .unwrap();
        assert_eq!(new.supersedes.as_ref(), Some(&old.serial));
        assert_eq!(subject_of(&new.der), subject_of(&old.der));
        let rec = store.certificate(&old.serial).await.unwrap().unwrap();
        assert_eq!(rec.superseded_by.as_ref(), Some(&new.serial));
        // Both still verify (the old one stays valid until revoked or expired).
        assert_ok(&env.openssl_verify(&new, &personnes_name()), "renewed");
        assert_ok(&env.openssl_verify(&old, &personnes_name()), "superseded");
        // Renewing the superseded certificate again: refused.
        let csr3 = openssl_csr(dir, "ec:P-256");
        let e = env
            .request_and_issue(
                &ca,
                Profile::Sign,
                subject.clone(),
                &csr3,
                &[],
                Some(old.serial.clone()),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::RenewalRefused { .. }), "{e:?}");
        // A renewal may use RSA: keyEncipherment would only matter for CONF.
        let csr4 = openssl_csr(dir, "rsa:2048");
        let rsa = env
            .request_and_issue(&ca, Profile::Conf, subject, &csr4, &[], None)
            .await
            .unwrap();
        let p = env.write_cert("rsa-conf.pem", &rsa.der);
        let t = run("openssl", &["x509", "-noout", "-text", "-in", s(&p)]).stdout;
        assert!(
            t.contains("Key Encipherment") && !t.contains("Key Agreement"),
            "{t}"
        );
        assert_ok(&env.openssl_verify(&rsa, &personnes_name()), "RSA CONF");
        assert_pkilint_clean(&[env.write_cert("renewed.pem", &new.der), p], &[]);
    }

    pub async fn server_and_operator_profiles(db: Db) {
        let env = Env::new(db).await;
        let store = env.store();
        let dir = env.files.path();
        let st = register_structure(store).await;
        // A professional practising in a structure: O = structure, OU = its IdNat.
        let id = idnat(1_000_400_500);
        register(store, &id, "Nguyen", "Linh", "21", Some(st.idnat.clone())).await;
        let auth = env
            .request_and_issue(
                &env.personnes,
                Profile::Auth,
                RequestSubject::Professional(id.clone()),
                &openssl_csr(dir, "ec:P-256"),
                &[],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            subject_of(&auth.der),
            format!(
                "C=FR, O=Hôpital Saint-Exemple, OU=1750000010, title=Pharmacien, CN={id}+SN=Nguyen+GN=Linh"
            )
        );

        // Server: CA Organisations, DNS names required.
        let csr = openssl_csr(dir, "ec:P-256");
        let e = env
            .request_and_issue(
                &env.orgs,
                Profile::Server,
                RequestSubject::Structure(st.idnat.clone()),
                &csr,
                &[],
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidValue { .. }), "{e:?}");
        let server = env
            .request_and_issue(
                &env.orgs,
                Profile::Server,
                RequestSubject::Structure(st.idnat.clone()),
                &csr,
                &["Portail.Hopital-Exemple.fr", "api.hopital-exemple.fr"],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            subject_of(&server.der),
            "C=FR, ST=Paris (75), O=Hôpital Saint-Exemple, OU=1750000010, CN=portail.hopital-exemple.fr"
        );
        assert!(server.crl_url.contains("/crl/ca-organisations-"));
        assert_ok(&env.openssl_verify(&server, &orgs_name()), "server");
        let p = env.write_cert("server.pem", &server.der);
        let t = run("openssl", &["x509", "-noout", "-text", "-in", s(&p)]).stdout;
        assert!(
            t.contains("DNS:portail.hopital-exemple.fr, DNS:api.hopital-exemple.fr"),
            "{t}"
        );
        assert!(
            t.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
            "{t}"
        );
        // RSA server key: digitalSignature + keyEncipherment.
        let rsa = env
            .request_and_issue(
                &env.orgs,
                Profile::Server,
                RequestSubject::Structure(st.idnat.clone()),
                &openssl_csr(dir, "rsa:2048"),
                &["www.hopital-exemple.fr"],
                None,
            )
            .await
            .unwrap();
        let prsa = env.write_cert("server-rsa.pem", &rsa.der);
        let t = run("openssl", &["x509", "-noout", "-text", "-in", s(&prsa)]).stdout;
        assert!(t.contains("Digital Signature, Key Encipherment"), "{t}");
        // openssl verify -purpose sslserver accepts it for TLS.
        let crl = env.write_crl(&orgs_name(), Some(rsa.crl_partition), "orgs.pem");
        let pk = pki();
        let out = run(
            "openssl",
            &[
                "verify",
                "-x509_strict",
                "-crl_check",
                "-purpose",
                "sslserver",
                "-CAfile",
                s(&pk.root_pem),
                "-untrusted",
                s(&pk.orgs_pem),
                "-CRLfile",
                s(&crl),
                s(&prsa),
            ],
        );
        assert_ok(&out, "server -purpose sslserver");

        // RA operator: subject from the login.
        let op = env
            .request_and_issue(
                &env.personnes,
                Profile::RaOperator,
                RequestSubject::Operator("clerk.ordre-medecins".parse().unwrap()),
                &openssl_csr(dir, "ec:P-384"),
                &[],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            subject_of(&op.der),
            "C=FR, O=IGC Santé (test), OU=Autorité d'enregistrement, CN=clerk.ordre-medecins"
        );
        assert_ok(&env.openssl_verify(&op, &personnes_name()), "operator");
        let pop = env.write_cert("operator.pem", &op.der);
        let pauth = env.write_cert("auth-structure.pem", &auth.der);
        assert_pkilint_clean(&[p, prsa, pop, pauth], &[crl]);
    }

    pub async fn strike_off_revokes_everything(db: Db) {
        let env = Env::new(db).await;
        let store = env.store();
        let dir = env.files.path();
        let id = idnat(1_000_500_600);
        register(store, &id, "Bernard", "Luc", "40", None).await;
        let subject = RequestSubject::Professional(id.clone());
        let mut certs = Vec::new();
        for profile in [Profile::Auth, Profile::Sign, Profile::Conf] {
            certs.push(
                env.request_and_issue(
                    &env.personnes,
                    profile,
                    subject.clone(),
                    &openssl_csr(dir, "ec:P-256"),
                    &[],
                    None,
                )
                .await
                .unwrap(),
            );
        }
        env.revocations
            .suspend(&certs[1].serial, &clerk("clerk-b"))
            .await
            .unwrap();
        let out = env
            .revocations
            .strike_off(&id, &clerk("clerk-b"))
            .await
            .unwrap();
        assert!(out.crl_error.is_none());
        let mut expected: Vec<_> = certs.iter().map(|c| c.serial.clone()).collect();
        expected.sort();
        assert_eq!(out.serials, expected);
        for c in &certs {
            assert_revoked(&env.openssl_verify(c, &personnes_name()), "struck off");
            match store.certificate_status(&c.serial).await.unwrap().unwrap() {
                CertificateStatus::Revoked { reason, .. } => {
                    assert_eq!(reason, RevocationReason::AffiliationChanged)
                }
                other => panic!("{other:?}"),
            }
        }
        let crl = env.write_crl(
            &personnes_name(),
            Some(certs[0].crl_partition),
            "struck.pem",
        );
        let t = run("openssl", &["crl", "-noout", "-text", "-in", s(&crl)]).stdout;
        assert_eq!(t.matches("Affiliation Changed").count(), 3, "{t}");
        // No new request for a struck-off professional.
        let e = store
            .file_request(
                &NewRequest {
                    profile: Profile::Auth,
                    subject,
                    csr_der: csr_der(&openssl_csr(dir, "ec:P-256")),
                },
                &clerk("clerk-a"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::ProfessionalNotActive { .. }), "{e:?}");
    }

    pub async fn revoking_twice_is_refused(db: Db) {
        let env = Env::new(db).await;
        let store = env.store();
        let id = idnat(1_000_600_700);
        register(store, &id, "Petit", "Léa", "60", None).await;
        let c = env
            .request_and_issue(
                &env.personnes,
                Profile::Auth,
                RequestSubject::Professional(id),
                &openssl_csr(env.files.path(), "ec:P-256"),
                &[],
                None,
            )
            .await
            .unwrap();
        let e = env
            .revocations
            .revoke(&c.serial, RevocationReason::CertificateHold, &clerk("x"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidValue { .. }), "{e:?}");
        let e = env
            .revocations
            .reinstate(&c.serial, &clerk("x"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotOnHold { .. }), "{e:?}");
        env.revocations
            .revoke(&c.serial, RevocationReason::Superseded, &clerk("x"))
            .await
            .unwrap();
        let number = env
            .publisher
            .get(&env.personnes.crl_file_name(Some(c.crl_partition)))
            .unwrap()
            .number;
        let before = snapshot(&env.db).await;
        let e = env
            .revocations
            .revoke(&c.serial, RevocationReason::KeyCompromise, &clerk("x"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::AlreadyRevoked { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("certificate {} is already revoked", c.serial)
        );
        let e = env
            .revocations
            .suspend(&c.serial, &clerk("x"))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::AlreadyRevoked { .. }), "{e:?}");
        assert_eq!(snapshot(&env.db).await, before);
        // Nothing regenerated either.
        assert_eq!(
            env.publisher
                .get(&env.personnes.crl_file_name(Some(c.crl_partition)))
                .unwrap()
                .number,
            number
        );
        let unknown: ca::domain::Serial = "7f00112233445566".parse().unwrap();
        assert!(matches!(
            env.revocations
                .revoke(&unknown, RevocationReason::KeyCompromise, &clerk("x"))
                .await,
            Err(Error::CertificateNotFound { .. })
        ));
    }

    /// Many concurrent issuances (group commit), two of them racing for the same request:
    /// every certificate is recorded with its audit entry, the loser of each race gets a clear
    /// error and nothing of it is written.
    pub async fn concurrent_issuance_shares_commits(db: Db) {
        let env = Env::new(db).await;
        let store = env.store();
        let id = idnat(1_000_700_800);
        register(store, &id, "Roux", "Émile", "10", None).await;
        let subject = RequestSubject::Professional(id);
        let name = pkix::parse_dn("CN=x").unwrap();
        let mut ids = Vec::new();
        for _ in 0..24 {
            let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
            let csr = pkix::build_csr::<_, p256::ecdsa::DerSignature>(&name, &[], &key).unwrap();
            let der = der::Encode::to_der(&csr).unwrap();
            ids.push(
                env.approved_request(Profile::Auth, subject.clone(), &der)
                    .await,
            );
        }
        let before = snapshot(&env.db).await;
        let mut tasks = Vec::new();
        // Requests 0 and 1 are asked for twice.
        for (k, id) in ids.iter().chain(ids[..2].iter()).enumerate() {
            let ca = env.personnes.clone();
            let id = *id;
            tasks.push(tokio::spawn(async move {
                (k, ca.issue(IssueRequest::new(id), &ca_actor()).await)
            }));
        }
        let mut ok = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                (_, Ok(_)) => ok += 1,
                (_, Err(Error::RequestNotInState { .. })) => refused += 1,
                (k, Err(e)) => panic!("issuance {k}: {e:?}"),
            }
        }
        assert_eq!((ok, refused), (24, 2));
        let after = snapshot(&env.db).await;
        assert_eq!(after.0, before.0 + 24, "certificates");
        assert_eq!(after.1, before.1 + 24, "requests issued");
        assert_eq!(
            after.3 .0,
            before.3 .0 + 24,
            "one audit entry per certificate"
        );
        assert!(store.verify_audit_chain().await.unwrap().is_intact());
        for id in ids {
            let r = store.request(id).await.unwrap().unwrap();
            assert_eq!(r.status, ca::domain::RequestStatus::Issued);
        }
    }
}
