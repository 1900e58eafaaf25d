//! Lint before signing: structural checks of a TBSCertificate against the end-entity profile
//! rules, run on the DER that is about to be signed (decoded back), before the CA key is used.
//!
//! The rules here are written out independently of the builder in [`super::profile`] (a
//! second statement of DESIGN.md §3, not a call into the code it checks), so that a builder
//! bug is caught rather than mirrored. Findings are plain sentences; any finding refuses the
//! issuance.

use std::collections::BTreeSet;

use const_oid::db::rfc4519;
use const_oid::db::rfc5280::{
    ID_AD_CA_ISSUERS, ID_AD_OCSP, ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_CERTIFICATE_POLICIES,
    ID_CE_CRL_DISTRIBUTION_POINTS, ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_CE_SUBJECT_ALT_NAME,
    ID_CE_SUBJECT_KEY_IDENTIFIER, ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION, ID_KP_SERVER_AUTH,
    ID_PE_AUTHORITY_INFO_ACCESS,
};
use der::asn1::{Ia5String, ObjectIdentifier, OctetString};
use der::{Decode, Tag, Tagged};
use pkix::verify::{self, PublicKeyKind};
use pkix::{check_serial, subject_key_identifier, Attr, DnBuilder};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, CertificatePolicies, CrlDistributionPoints,
    ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::name::Name;
use x509_cert::time::Time;

use crate::domain::Profile;

/// What the certificate must say besides the profile rules.
#[derive(Debug, Clone)]
pub struct LintContext<'a> {
    pub profile: Profile,
    /// The issuing CA's subject (the TBS issuer must be this, byte for byte).
    pub ca_subject: &'a Name,
    /// The issuing CA's subject key identifier (the AKI).
    pub ca_ski: &'a [u8],
    pub ca_not_before: OffsetDateTime,
    pub ca_not_after: OffsetDateTime,
    /// The CA signer's signature algorithm.
    pub algorithm: &'a AlgorithmIdentifierOwned,
    pub policy_oid: ObjectIdentifier,
    /// Configured validity, in days (notAfter − notBefore must be exactly this).
    pub validity_days: u32,
    /// URL of the certificate's CRL partition.
    pub crl_url: &'a str,
    pub ca_issuers_url: &'a str,
    pub ocsp_url: &'a str,
    /// The subject's CN as decided by the CA (IdNat_PS, host, login).
    pub expected_cn: &'a str,
    /// Server: the approved DNS names, in order. Empty for the other profiles.
    pub dns_names: &'a [String],
}

/// The profile rules (DESIGN.md §3), restated: keyUsage bits, extKeyUsage purposes, SAN.
struct Rules {
    key_usage: &'static [KeyUsages],
    eku: Option<&'static [ObjectIdentifier]>,
    san: bool,
}

fn rules(profile: Profile, rsa: bool) -> Option<Rules> {
    use KeyUsages::*;
    Some(match profile {
        Profile::Auth | Profile::RaOperator => Rules {
            key_usage: &[DigitalSignature],
            eku: Some(&[ID_KP_CLIENT_AUTH]),
            san: false,
        },
        Profile::Sign => Rules {
            key_usage: &[NonRepudiation],
            eku: None,
            san: false,
        },
        Profile::Conf => Rules {
            key_usage: if rsa {
                &[KeyEncipherment]
            } else {
                &[KeyAgreement]
            },
            eku: Some(&[ID_KP_EMAIL_PROTECTION]),
            san: false,
        },
        Profile::Server => Rules {
            key_usage: if rsa {
                &[DigitalSignature, KeyEncipherment]
            } else {
                &[DigitalSignature]
            },
            eku: Some(&[ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH]),
            san: true,
        },
        Profile::OcspSigner | Profile::TsaUnit | Profile::SubCa => return None,
    })
}

fn time_of(t: &Time) -> OffsetDateTime {
    let secs = t.to_unix_duration().as_secs();
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn single_uri(names: &[GeneralName]) -> Option<&str> {
    match names {
        [GeneralName::UniformResourceIdentifier(u)] => Some(u.as_str()),
        _ => None,
    }
}

/// Lints a TBSCertificate; an empty result means it may be signed.
pub fn lint_tbs(tbs: &TbsCertificate, ctx: &LintContext<'_>) -> Vec<String> {
    let mut f: Vec<String> = Vec::new();
    let profile = ctx.profile;

    if tbs.version != Version::V3 {
        f.push("version is not v3".into());
    }
    if let Err(e) = check_serial(&tbs.serial_number) {
        f.push(format!("serial number: {e}"));
    }
    if &tbs.signature != ctx.algorithm {
        f.push("signature algorithm is not the CA signer's".into());
    }
    if &tbs.issuer != ctx.ca_subject {
        f.push("issuer is not the CA certificate's subject".into());
    }
    if tbs.issuer_unique_id.is_some() || tbs.subject_unique_id.is_some() {
        f.push("unique identifiers must be absent".into());
    }

    // Validity.
    let (nb, na) = (&tbs.validity.not_before, &tbs.validity.not_after);
    for (what, t) in [("notBefore", nb), ("notAfter", na)] {
        let year = time_of(t).year();
        let utc = matches!(t, Time::UtcTime(_));
        if utc != (year < 2050) {
            f.push(format!(
                "{what}: UTCTime through 2049, GeneralizedTime from 2050"
            ));
        }
    }
    let (nb, na) = (time_of(nb), time_of(na));
    let expected = time::Duration::days(i64::from(ctx.validity_days));
    if na - nb != expected {
        f.push(format!(
            "validity is {} seconds, the policy says {} days",
            (na - nb).whole_seconds(),
            ctx.validity_days
        ));
    }
    if nb < ctx.ca_not_before || na > ctx.ca_not_after {
        f.push("validity is not within the CA certificate's validity".into());
    }

    // Subject public key.
    let kind = match verify::check_public_key(&tbs.subject_public_key_info) {
        Ok(PublicKeyKind::Rsa { pss_only: true, .. }) => {
            f.push("RSASSA-PSS-only subject keys are not issued to end entities".into());
            None
        }
        Ok(kind) => Some(kind),
        Err(e) => {
            f.push(format!("subject public key: {e}"));
            None
        }
    };
    let rsa = matches!(kind, Some(PublicKeyKind::Rsa { .. }));
    let Some(rules) = rules(profile, rsa) else {
        f.push(format!("{profile} is not an end-entity request profile"));
        return f;
    };

    lint_subject(tbs, ctx, &mut f);

    // Extensions: the exact set, once each, with the right criticality.
    let exts = tbs.extensions.as_deref().unwrap_or(&[]);
    let mut expected: Vec<(ObjectIdentifier, bool)> = vec![
        (ID_CE_KEY_USAGE, true),
        (ID_CE_SUBJECT_KEY_IDENTIFIER, false),
        (ID_CE_AUTHORITY_KEY_IDENTIFIER, false),
        (ID_CE_CRL_DISTRIBUTION_POINTS, false),
        (ID_PE_AUTHORITY_INFO_ACCESS, false),
        (ID_CE_CERTIFICATE_POLICIES, false),
    ];
    if rules.eku.is_some() {
        expected.push((ID_CE_EXT_KEY_USAGE, false));
    }
    if rules.san {
        expected.push((ID_CE_SUBJECT_ALT_NAME, false));
    }
    let mut seen = BTreeSet::new();
    for ext in exts {
        let id = ext.extn_id;
        if !seen.insert(id) {
            f.push(format!("extension {id} appears twice"));
        }
        match expected.iter().find(|(oid, _)| *oid == id) {
            None => f.push(format!(
                "extension {id} is not part of the {profile} profile"
            )),
            Some((_, critical)) if *critical != ext.critical => f.push(format!(
                "extension {id} must be {}",
                if *critical {
                    "critical"
                } else {
                    "non-critical"
                }
            )),
            Some(_) => {}
        }
    }
    for (oid, _) in &expected {
        if !seen.contains(oid) {
            f.push(format!("extension {oid} is missing"));
        }
    }
    let value = |oid: ObjectIdentifier| {
        exts.iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    };

    if let Some(v) = value(ID_CE_KEY_USAGE) {
        match KeyUsage::from_der(v) {
            Ok(ku) => {
                let want: BTreeSet<String> =
                    rules.key_usage.iter().map(|k| format!("{k:?}")).collect();
                let got: BTreeSet<String> = ku.0.into_iter().map(|k| format!("{k:?}")).collect();
                if want != got {
                    f.push(format!("keyUsage is {got:?}, the profile says {want:?}"));
                }
            }
            Err(e) => f.push(format!("keyUsage does not decode: {e}")),
        }
    }
    if let (Some(v), Some(want)) = (value(ID_CE_EXT_KEY_USAGE), rules.eku) {
        match ExtendedKeyUsage::from_der(v) {
            Ok(eku) => {
                let got: Vec<String> = eku.0.iter().map(ToString::to_string).collect();
                let want: Vec<String> = want.iter().map(ToString::to_string).collect();
                if got != want {
                    f.push(format!("extKeyUsage is {got:?}, the profile says {want:?}"));
                }
            }
            Err(e) => f.push(format!("extKeyUsage does not decode: {e}")),
        }
    }
    if let Some(v) = value(ID_CE_SUBJECT_ALT_NAME) {
        match SubjectAltName::from_der(v) {
            Ok(san) => {
                let got: Vec<Option<&str>> = san
                    .0
                    .iter()
                    .map(|g| match g {
                        GeneralName::DnsName(d) => Some(d.as_str()),
                        _ => None,
                    })
                    .collect();
                let want: Vec<Option<&str>> =
                    ctx.dns_names.iter().map(|s| Some(s.as_str())).collect();
                if got != want || want.is_empty() {
                    f.push(format!(
                        "subjectAltName must be exactly the dNSNames {:?}",
                        ctx.dns_names
                    ));
                }
            }
            Err(e) => f.push(format!("subjectAltName does not decode: {e}")),
        }
    }
    if let Some(v) = value(ID_CE_SUBJECT_KEY_IDENTIFIER) {
        match OctetString::from_der(v) {
            Ok(ski) if ski.as_bytes() == subject_key_identifier(&tbs.subject_public_key_info) => {}
            Ok(_) => f.push("subjectKeyIdentifier is not the SHA-1 of the subject key".into()),
            Err(e) => f.push(format!("subjectKeyIdentifier does not decode: {e}")),
        }
    }
    if let Some(v) = value(ID_CE_AUTHORITY_KEY_IDENTIFIER) {
        match AuthorityKeyIdentifier::from_der(v) {
            Ok(aki) => {
                if aki.key_identifier.as_ref().map(OctetString::as_bytes) != Some(ctx.ca_ski) {
                    f.push("authorityKeyIdentifier is not the CA's key identifier".into());
                }
                if aki.authority_cert_issuer.is_some() || aki.authority_cert_serial_number.is_some()
                {
                    f.push("authorityKeyIdentifier must only carry keyIdentifier".into());
                }
            }
            Err(e) => f.push(format!("authorityKeyIdentifier does not decode: {e}")),
        }
    }
    if let Some(v) = value(ID_CE_CRL_DISTRIBUTION_POINTS) {
        match CrlDistributionPoints::from_der(v) {
            Ok(CrlDistributionPoints(dps)) => match dps.as_slice() {
                [DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(names)),
                    reasons: None,
                    crl_issuer: None,
                }] if single_uri(names) == Some(ctx.crl_url) => {}
                _ => f.push(format!(
                    "cRLDistributionPoints must be the one URI {}",
                    ctx.crl_url
                )),
            },
            Err(e) => f.push(format!("cRLDistributionPoints does not decode: {e}")),
        }
    }
    if let Some(v) = value(ID_PE_AUTHORITY_INFO_ACCESS) {
        match AuthorityInfoAccessSyntax::from_der(v) {
            Ok(aia) => {
                let got: Vec<(String, Option<&str>)> = aia
                    .0
                    .iter()
                    .map(|ad| {
                        (
                            ad.access_method.to_string(),
                            single_uri(std::slice::from_ref(&ad.access_location)),
                        )
                    })
                    .collect();
                let want = vec![
                    (ID_AD_CA_ISSUERS.to_string(), Some(ctx.ca_issuers_url)),
                    (ID_AD_OCSP.to_string(), Some(ctx.ocsp_url)),
                ];
                if got != want {
                    f.push(format!(
                        "authorityInfoAccess must be caIssuers {} and OCSP {}",
                        ctx.ca_issuers_url, ctx.ocsp_url
                    ));
                }
            }
            Err(e) => f.push(format!("authorityInfoAccess does not decode: {e}")),
        }
    }
    if let Some(v) = value(ID_CE_CERTIFICATE_POLICIES) {
        match CertificatePolicies::from_der(v) {
            Ok(cp) => {
                let ok = matches!(cp.0.as_slice(), [p] if p.policy_identifier == ctx.policy_oid
                    && p.policy_qualifiers.is_none());
                if !ok {
                    f.push(format!(
                        "certificatePolicies must be the one policy {}",
                        ctx.policy_oid
                    ));
                }
            }
            Err(e) => f.push(format!("certificatePolicies does not decode: {e}")),
        }
    }
    for url in [ctx.crl_url, ctx.ca_issuers_url, ctx.ocsp_url] {
        if !url.starts_with("http://") || Ia5String::new(url).is_err() {
            f.push(format!("{url:?} is not a plain http:// IA5 URL"));
        }
    }
    f
}

fn lint_subject(tbs: &TbsCertificate, ctx: &LintContext<'_>, f: &mut Vec<String>) {
    let subject = &tbs.subject;
    // C=FR first, as a PrintableString.
    let country_ok = subject.0.first().is_some_and(|rdn| {
        matches!(rdn.0.as_slice(), [atv] if atv.oid == rfc4519::C
            && atv.value.tag() == Tag::PrintableString
            && atv.value.value() == b"FR")
    });
    if !country_ok {
        f.push("the subject must start with C=FR as a PrintableString".into());
    }
    let dn = match DnBuilder::from_name(subject) {
        Ok(dn) => dn,
        Err(e) => {
            f.push(format!("subject: {e}"));
            return;
        }
    };
    if let Err(e) = dn.build() {
        f.push(format!("subject: {e}"));
    }
    let rdns = dn.rdns();
    let singles: Vec<Attr> = rdns
        .iter()
        .filter(|r| r.len() == 1)
        .map(|r| r[0].0)
        .collect();
    let last = rdns.last().map(Vec::as_slice).unwrap_or(&[]);
    let cn_of = |rdn: &[(Attr, String)]| {
        rdn.iter()
            .find(|(a, _)| *a == Attr::CommonName)
            .map(|(_, v)| v.clone())
    };
    match ctx.profile {
        Profile::Auth | Profile::Sign | Profile::Conf => {
            let attrs: BTreeSet<&str> = last.iter().map(|(a, _)| a.key()).collect();
            if attrs != BTreeSet::from(["CN", "SN", "GN"]) || last.len() != 3 {
                f.push("the last RDN must be CN+SN+GN".into());
            }
            for a in [Attr::Organization, Attr::Title] {
                if !singles.contains(&a) {
                    f.push(format!("the subject has no {a}"));
                }
            }
        }
        Profile::Server => {
            for a in [
                Attr::State,
                Attr::Organization,
                Attr::OrganizationalUnit,
                Attr::CommonName,
            ] {
                if !singles.contains(&a) {
                    f.push(format!("the subject has no {a}"));
                }
            }
            if ctx.dns_names.first().map(String::as_str) != Some(ctx.expected_cn) {
                f.push("the CN of a server certificate is its first dNSName".into());
            }
        }
        Profile::RaOperator => {
            if !singles.contains(&Attr::Organization) {
                f.push("the subject has no O".into());
            }
        }
        Profile::OcspSigner | Profile::TsaUnit | Profile::SubCa => {}
    }
    if cn_of(last).as_deref() != Some(ctx.expected_cn) {
        f.push(format!("the CN must be {:?}", ctx.expected_cn));
    }
    if rdns.iter().flatten().any(|(a, _)| *a == Attr::CommonName)
        && rdns
            .iter()
            .flatten()
            .filter(|(a, _)| *a == Attr::CommonName)
            .count()
            != 1
    {
        f.push("the subject has more than one CN".into());
    }
}

/// Convenience for tests and tools: decodes a DER TBSCertificate and lints it.
pub fn lint_tbs_der(tbs_der: &[u8], ctx: &LintContext<'_>) -> Vec<String> {
    match TbsCertificate::from_der(tbs_der) {
        Ok(tbs) => lint_tbs(&tbs, ctx),
        Err(e) => vec![format!("the TBSCertificate does not decode: {e}")],
    }
}
