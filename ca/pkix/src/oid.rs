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

/// id-aa-ets-certValues (RFC 5126 §6.3.3, ETSI EN 319 122-1): the certificate-values
/// unsigned attribute (`CertificateValues ::= SEQUENCE OF Certificate`).
pub const ID_AA_ETS_CERT_VALUES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.23");

/// id-aa-ets-revocationValues (RFC 5126 §6.3.4, ETSI EN 319 122-1): the revocation-values
/// unsigned attribute (CRLs and basic OCSP responses).
pub const ID_AA_ETS_REVOCATION_VALUES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.24");

/// id-aa-ets-archiveTimestampV3 (ETSI EN 319 122-1 §5.5.3): the archive-time-stamp-v3
/// unsigned attribute (CAdES-LTA).
pub const ID_AA_ETS_ARCHIVE_TIMESTAMP_V3: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.4.0.1733.2.4");

/// id-aa-ATSHashIndex-v3 (ETSI EN 319 122-1 §5.5.2): the ats-hash-index-v3 unsigned attribute
/// of an archive time-stamp token's SignerInfo.
pub const ID_AA_ATS_HASH_INDEX_V3: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("0.4.0.19122.1.5");

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
            ID_AA_ETS_CERT_VALUES,
            ID_AA_ETS_REVOCATION_VALUES,
            ID_AA_ETS_ARCHIVE_TIMESTAMP_V3,
            ID_AA_ATS_HASH_INDEX_V3,
        ] {
            assert_eq!(const_oid::db::DB.by_oid(&oid), None, "{oid}");
        }
    }
}
