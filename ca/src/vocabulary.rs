//! Closed vocabularies stored and shown as fixed text: the certificate profiles, request and
//! certificate states, revocation reasons, and [`spelled_enum!`], which the other modules use
//! for their own. This module sits below [`crate::error`] (whose variants carry these values),
//! so it reports a bad spelling with its own [`UnknownValue`], which converts into
//! [`crate::Error::InvalidValue`].

use serde::{Deserialize, Serialize};

/// A text that is none of the spellings of a [`spelled_enum!`] type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {}", self.reason())]
pub struct UnknownValue {
    /// What was being read ("certificate profile", "operator status", …).
    pub what: &'static str,
    /// The text given.
    pub found: String,
    /// The spellings that would have been accepted, so that the message says what to write.
    pub expected: &'static [&'static str],
}

impl UnknownValue {
    /// `unknown value "x" (expected one of: a, b)`.
    pub fn reason(&self) -> String {
        format!(
            "unknown value {:?} (expected one of: {})",
            self.found,
            self.expected.join(", ")
        )
    }
}

/// For a fieldless enum with one fixed spelling a variant (the text stored in the database
/// and shown to users): `as_str`, `FromStr` (error [`UnknownValue`]) and `Display`.
///
/// `spelled_enum!(Colour, "colour", { Red => "red", Green => "green" });`
macro_rules! spelled_enum {
    ($t:ident, $what:literal, { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $s),+
                }
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $crate::vocabulary::UnknownValue;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($s => Ok($t::$v),)+
                    _ => Err($crate::vocabulary::UnknownValue {
                        what: $what,
                        found: s.to_owned(),
                        expected: &[$($s),+],
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use spelled_enum;

/// Certificate profile (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Professional authentication (CPS AUTH).
    Auth,
    /// Professional signature, non-repudiation (CPS SIGN).
    Sign,
    /// Professional encryption (CPS CONF).
    Conf,
    /// Establishment server (TLS).
    Server,
    /// RA operator (clerk) client certificate.
    RaOperator,
    /// Delegated OCSP responder (infrastructure, no request).
    OcspSigner,
    /// Time-stamping unit (infrastructure, no request).
    TsaUnit,
    /// Issuing CA certificate signed by the offline root in an `intermediate` ceremony
    /// (infrastructure, no request). Its status is published by the root's ARL, made in a
    /// `crl` ceremony; no online CA signs a CRL or an OCSP response for it.
    SubCa,
}

spelled_enum!(Profile, "certificate profile", {
    Auth => "auth",
    Sign => "sign",
    Conf => "conf",
    Server => "server",
    RaOperator => "ra-operator",
    OcspSigner => "ocsp-signer",
    TsaUnit => "tsa-unit",
    SubCa => "sub-ca",
});

/// What a certificate of a profile is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    Professional,
    Structure,
    Operator,
    /// CA infrastructure (OCSP responder, TSA unit, sub-CA): issued by ceremony, not by request.
    Infrastructure,
}

impl Profile {
    pub const ALL: &'static [Profile] = &[
        Profile::Auth,
        Profile::Sign,
        Profile::Conf,
        Profile::Server,
        Profile::RaOperator,
        Profile::OcspSigner,
        Profile::TsaUnit,
        Profile::SubCa,
    ];

    pub fn subject_kind(self) -> SubjectKind {
        match self {
            Profile::Auth | Profile::Sign | Profile::Conf => SubjectKind::Professional,
            Profile::Server => SubjectKind::Structure,
            Profile::RaOperator => SubjectKind::Operator,
            Profile::OcspSigner | Profile::TsaUnit | Profile::SubCa => SubjectKind::Infrastructure,
        }
    }

    /// Whether certificates of this profile go through the RA request workflow.
    pub fn is_requestable(self) -> bool {
        self.subject_kind() != SubjectKind::Infrastructure
    }
}

/// State of a certificate request: filed → approved → issued, or filed → rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    Filed,
    Approved,
    Rejected,
    Issued,
}

spelled_enum!(RequestStatus, "request status", {
    Filed => "filed",
    Approved => "approved",
    Rejected => "rejected",
    Issued => "issued",
});

impl RequestStatus {
    pub const ALL: &'static [RequestStatus] = &[
        RequestStatus::Filed,
        RequestStatus::Approved,
        RequestStatus::Rejected,
        RequestStatus::Issued,
    ];
}

/// Revocation state of a certificate as stored (`hold` = suspended by certificateHold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertStatus {
    Good,
    Revoked,
    Hold,
}

spelled_enum!(CertStatus, "certificate status", {
    Good => "good",
    Revoked => "revoked",
    Hold => "hold",
});

impl CertStatus {
    pub const ALL: &'static [CertStatus] =
        &[CertStatus::Good, CertStatus::Revoked, CertStatus::Hold];
}

/// RFC 5280 CRLReason values that a certificate can be revoked with. `removeFromCRL` (8) is a
/// CRL-entry artefact of delta CRLs, not a state, and is not listed; `certificateHold` puts the
/// certificate on hold (reversible) instead of revoking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RevocationReason {
    #[serde(rename = "unspecified")]
    Unspecified,
    #[serde(rename = "keyCompromise")]
    KeyCompromise,
    #[serde(rename = "cACompromise")]
    CaCompromise,
    #[serde(rename = "affiliationChanged")]
    AffiliationChanged,
    #[serde(rename = "superseded")]
    Superseded,
    #[serde(rename = "cessationOfOperation")]
    CessationOfOperation,
    #[serde(rename = "certificateHold")]
    CertificateHold,
    #[serde(rename = "privilegeWithdrawn")]
    PrivilegeWithdrawn,
    #[serde(rename = "aACompromise")]
    AaCompromise,
}

spelled_enum!(RevocationReason, "revocation reason", {
    Unspecified => "unspecified",
    KeyCompromise => "keyCompromise",
    CaCompromise => "cACompromise",
    AffiliationChanged => "affiliationChanged",
    Superseded => "superseded",
    CessationOfOperation => "cessationOfOperation",
    CertificateHold => "certificateHold",
    PrivilegeWithdrawn => "privilegeWithdrawn",
    AaCompromise => "aACompromise",
});

impl RevocationReason {
    pub const ALL: &'static [RevocationReason] = &[
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        RevocationReason::ALL
            .iter()
            .copied()
            .find(|r| r.code() == code)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn reasons() {
        for &r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(r));
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        assert_eq!(RevocationReason::from_code(8), None);
        assert_eq!(RevocationReason::from_code(7), None);
    }

    #[test]
    fn profiles() {
        for &p in Profile::ALL {
            assert_eq!(p.as_str().parse::<Profile>().unwrap(), p);
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.as_str())
            );
        }
        assert!(Profile::RaOperator.is_requestable());
        assert!(!Profile::TsaUnit.is_requestable());
        assert_eq!(Profile::SubCa.as_str(), "sub-ca");
        assert_eq!(Profile::SubCa.subject_kind(), SubjectKind::Infrastructure);
        assert!(!Profile::SubCa.is_requestable());
    }

    #[test]
    fn an_unknown_spelling_says_what_would_be_accepted() {
        let e = "cps".parse::<Profile>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid certificate profile: unknown value \"cps\" (expected one of: auth, sign, \
             conf, server, ra-operator, ocsp-signer, tsa-unit, sub-ca)"
        );
        assert_eq!(
            crate::Error::from(e).to_string(),
            "invalid certificate profile: unknown value \"cps\" (expected one of: auth, sign, \
             conf, server, ra-operator, ocsp-signer, tsa-unit, sub-ca)"
        );
    }
}

// ----- lost or stolen cards -------------------------------------------------------------------

/// How a declaration of loss or theft reached the RA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossChannel {
    /// The holder, on the portal's public page.
    HolderPortal,
    /// The holder, through the JSON API (the Orders' software relaying it).
    HolderApi,
    /// An operator of the Order (a telephone call, `igc cert suspend-all`).
    Operator,
}

spelled_enum!(LossChannel, "loss declaration channel", {
    HolderPortal => "holder-portal",
    HolderApi => "holder-api",
    Operator => "operator",
});

/// Where a declaration of loss or theft stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossStatus {
    /// Its certificates are suspended; an operator has still to decide.
    Open,
    /// An operator confirmed it: its certificates were revoked (keyCompromise).
    Revoked,
    /// An operator lifted the suspension (the card was found, or the declaration was not the
    /// holder's).
    Reinstated,
}

spelled_enum!(LossStatus, "loss declaration status", {
    Open => "open",
    Revoked => "revoked",
    Reinstated => "reinstated",
});
