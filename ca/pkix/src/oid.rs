//! The object identifiers the workspace needs and `const_oid::db` does not name — each written
//! once, here. Everything else comes from `const_oid::db` (`rfc5280` for PKIX extensions and
//! key purposes, `rfc5912` for algorithms, `rfc5911` for CMS, `rfc4519` for name attributes,
//! `rfc6960` for OCSP).
//!
//! Names follow `const_oid::db`'s style: the ASN.1 name in upper snake case.

use const_oid::ObjectIdentifier;

/// id-at-organizationIdentifier (X.520, ETSI EN 319 412-1): the `organizationIdentifier`
/// attribute of a distinguished name.
pub const ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");

/// id-ct-TSTInfo (RFC 3161 §2.4.2): the content type of a time-stamp token's encapsulated
/// content.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// id-aa-signatureTimeStampToken (RFC 3161 appendix A): the unsigned attribute that carries a
/// time-stamp token over a signature (CAdES-T).
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");

#[cfg(test)]
mod tests {
    use super::*;

    /// If a later const-oid names one of these, use its name and drop ours.
    #[test]
    fn not_in_const_oid_db() {
        for oid in [
            ORGANIZATION_IDENTIFIER,
            ID_CT_TST_INFO,
            ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
        ] {
            assert_eq!(const_oid::db::DB.by_oid(&oid), None, "{oid}");
        }
    }
}
