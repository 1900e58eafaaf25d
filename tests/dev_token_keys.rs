//! Every private key of the development tokens, and the secret key that seals the RA's
//! TOTP secrets, was generated inside the token and can never leave it: read through
//! cryptoki directly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use hsm_config::ceremony::shares::TokenSecret;
use hsm_config::cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use hsm_config::cryptoki::object::{Attribute, AttributeType, ObjectClass};
use hsm_config::cryptoki::session::UserType;
use hsm_config::cryptoki::types::AuthPin;

#[test]
fn private_keys_are_sensitive_and_never_extractable() {
    let pki = common::DevPki::new();
    std::env::set_var("SOFTHSM2_CONF", pki.softhsm_conf());
    let root_pin = TokenSecret::from_share_files(
        "igc-root",
        &[
            pki.path("var/shares/igc-root-alice.share.json"),
            pki.path("var/shares/igc-root-carol.share.json"),
        ],
    )
    .unwrap()
    .user_pin();
    let online_pin = hsm_config::config::read_pin_file(&pki.path("var/hsm/online.pin")).unwrap();

    let ctx = Pkcs11::new(hsm_config::config::SOFTHSM_MODULE).unwrap();
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let mut seen = vec![];
    for (label, pin, expected) in [
        ("igc-root", root_pin, vec!["root-ca"]),
        (
            "igc-online",
            online_pin,
            vec![
                "ca-organisations",
                "ca-personnes",
                "ocsp-organisations",
                "ocsp-personnes",
                "ra-totp-seal",
                "tsa-unit-1",
            ],
        ),
    ] {
        let slot = ctx
            .get_slots_with_initialized_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == label)
            .unwrap_or_else(|| panic!("token {label} not found"));
        let session = ctx.open_ro_session(slot).unwrap();
        session
            .login(
                UserType::User,
                Some(&AuthPin::from(
                    secrecy::ExposeSecret::expose_secret(&pin).to_owned(),
                )),
            )
            .unwrap();
        let mut labels = vec![];
        let mut keys = session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .unwrap();
        keys.extend(
            session
                .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
                .unwrap(),
        );
        for key in keys {
            let attrs = session
                .get_attributes(
                    key,
                    &[
                        AttributeType::Label,
                        AttributeType::Token,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                        AttributeType::AlwaysSensitive,
                        AttributeType::Local,
                    ],
                )
                .unwrap();
            let mut name = String::new();
            for a in &attrs {
                match a {
                    Attribute::Label(l) => name = String::from_utf8(l.clone()).unwrap(),
                    Attribute::Token(v) => assert!(*v, "CKA_TOKEN"),
                    Attribute::Sensitive(v) => assert!(*v, "CKA_SENSITIVE"),
                    Attribute::Extractable(v) => assert!(!*v, "CKA_EXTRACTABLE"),
                    Attribute::NeverExtractable(v) => assert!(*v, "CKA_NEVER_EXTRACTABLE"),
                    Attribute::AlwaysSensitive(v) => assert!(*v, "CKA_ALWAYS_SENSITIVE"),
                    Attribute::Local(v) => assert!(*v, "CKA_LOCAL: generated in the token"),
                    other => panic!("unexpected attribute {other:?}"),
                }
            }
            labels.push(name);
        }
        labels.sort();
        assert_eq!(labels, expected, "private and secret keys of {label}");
        seen.extend(labels);
        session.logout().unwrap();
    }
    assert_eq!(seen.len(), 7);
}
