//! Version 2 CRLs (RFC 5280 §5), used for the root's ARL in ceremonies.
//!
//! x509-cert 0.2 has no CRL builder: the TBSCertList is assembled here, DER-encoded, signed
//! with the signer and wrapped into a `CertificateList`.

use der::asn1::{OctetString, Uint};
use der::Encode;
use signature::{Keypair, Signer};
use spki::{
    DynSignatureAlgorithmIdentifier, EncodePublicKey, ObjectIdentifier, SignatureBitStringEncoding,
};
use time::OffsetDateTime;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::name::DistributionPointName;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlReason};
use x509_cert::serial_number::SerialNumber;
use x509_cert::Version;

use super::profiles::{oids, subject_key_identifier, uri};
use super::{
    check_http_url, extension, key_id_hex, sign_and_check, signer_algorithm, x509_time, IssuerInfo,
    X509Error,
};

/// id-ce-cRLNumber
const CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
/// id-ce-cRLReasons (CRL entry extension reasonCode)
const CRL_REASON: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
/// id-ce-issuingDistributionPoint. (x509-cert 0.2's `IssuingDistributionPoint` type declares
/// a wrong associated OID, so the OID is always given explicitly here.)
const ISSUING_DISTRIBUTION_POINT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.28");

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial number of the revoked certificate.
    pub serial: SerialNumber,
    /// When it was revoked (not after the CRL's thisUpdate).
    pub revocation_date: OffsetDateTime,
    /// reasonCode entry extension; `None` omits it. `Unspecified` is refused (RFC 5280
    /// §5.3.1: omit the extension instead) and so is `RemoveFromCRL` (delta CRLs only).
    pub reason: Option<CrlReason>,
}

/// issuingDistributionPoint (critical): scope of a partitioned CRL or of an ARL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuingDistributionPointParams {
    /// HTTP URL where this CRL is published (the distributionPoint fullName): must be the URL
    /// in the CDP of the certificates it covers.
    ///
    /// Note: with a distribution point name, the CRL is out of scope for certificates without
    /// a CDP, the root included; `openssl verify -crl_check_all` also checks the trust anchor
    /// and then fails with "different CRL scope". Relying parties that do so need a root ARL
    /// without issuingDistributionPoint (`CrlParams::issuing_distribution_point = None`).
    pub url: String,
    /// Only end-entity certificates are covered.
    pub only_contains_user_certs: bool,
    /// Only CA certificates are covered (an ARL).
    pub only_contains_ca_certs: bool,
}

/// Inputs of [`build_crl`].
#[derive(Debug, Clone)]
pub struct CrlParams {
    /// The CRL issuer (the CA whose key signs the CRL).
    pub issuer: IssuerInfo,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate (always present, after thisUpdate).
    pub next_update: OffsetDateTime,
    /// cRLNumber (monotonically increasing per issuer and scope).
    pub crl_number: u64,
    /// Revoked certificates (may be empty).
    pub revoked: Vec<RevokedEntry>,
    /// Optional issuingDistributionPoint.
    pub issuing_distribution_point: Option<IssuingDistributionPointParams>,
}

impl CrlParams {
    /// Checks the parameters without signing anything.
    pub fn validate(&self) -> Result<(), X509Error> {
        self.issuer.validate()?;
        if self.next_update <= self.this_update {
            return Err(X509Error::InvalidValidity(
                "next_update must be later than this_update",
            ));
        }
        let this_update = x509_time(self.this_update)?;
        let next_update = x509_time(self.next_update)?;
        if next_update.to_unix_duration() <= this_update.to_unix_duration() {
            return Err(X509Error::InvalidValidity(
                "next_update must be at least one second after this_update",
            ));
        }
        for (i, entry) in self.revoked.iter().enumerate() {
            let bytes = entry.serial.as_bytes();
            match bytes.first() {
                Some(b) if b & 0x80 == 0 && bytes.iter().any(|b| *b != 0) => {}
                _ => {
                    return Err(X509Error::InvalidCrl(format!(
                        "revoked serial {} is not a positive integer",
                        entry.serial
                    )))
                }
            }
            if self.revoked[..i].iter().any(|e| e.serial == entry.serial) {
                return Err(X509Error::InvalidCrl(format!(
                    "serial {} is listed twice",
                    entry.serial
                )));
            }
            if entry.revocation_date > self.this_update {
                return Err(X509Error::InvalidCrl(format!(
                    "serial {} has a revocation date after this_update",
                    entry.serial
                )));
            }
            x509_time(entry.revocation_date)?;
            match entry.reason {
                Some(CrlReason::Unspecified) => {
                    return Err(X509Error::InvalidCrl(
                        "reason unspecified must not be encoded; use None".into(),
                    ))
                }
                Some(CrlReason::RemoveFromCRL) => {
                    return Err(X509Error::InvalidCrl(
                        "removeFromCRL is only for delta CRLs".into(),
                    ))
                }
                _ => {}
            }
        }
        if let Some(idp) = &self.issuing_distribution_point {
            check_http_url("issuing_distribution_point.url", &idp.url)?;
            if idp.only_contains_ca_certs && idp.only_contains_user_certs {
                return Err(X509Error::InvalidCrl(
                    "onlyContainsUserCerts and onlyContainsCACerts are exclusive".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Builds and signs a v2 CRL: issuer, thisUpdate, nextUpdate, revoked entries (with optional
/// reasonCode), CRL extensions AKI + cRLNumber (+ issuingDistributionPoint, critical).
///
/// The signer's key must match the issuer SKI (RFC 5280 method 1); the signature is verified
/// with the signer's public key before the CRL is returned.
pub fn build_crl<S, Sig>(params: &CrlParams, signer: &S) -> Result<CertificateList, X509Error>
where
    S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig>,
    S::VerifyingKey: EncodePublicKey,
    Sig: SignatureBitStringEncoding,
{
    params.validate()?;
    let (alg, signer_spki) = signer_algorithm(signer)?;
    if subject_key_identifier(&signer_spki) != params.issuer.ski {
        return Err(X509Error::IssuerKeyMismatch {
            expected: hex::encode(&params.issuer.ski),
            actual: key_id_hex(&signer_spki),
        });
    }

    let mut revoked = Vec::with_capacity(params.revoked.len());
    for entry in &params.revoked {
        let crl_entry_extensions = match entry.reason {
            Some(reason) => Some(vec![extension(CRL_REASON, false, &reason)?]),
            None => None,
        };
        revoked.push(RevokedCert {
            serial_number: entry.serial.clone(),
            revocation_date: x509_time(entry.revocation_date)?,
            crl_entry_extensions,
        });
    }

    let mut exts = vec![
        extension(
            oids::AUTHORITY_KEY_IDENTIFIER,
            false,
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(params.issuer.ski.as_slice())?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
        )?,
        extension(
            CRL_NUMBER,
            false,
            &Uint::new(&params.crl_number.to_be_bytes())?,
        )?,
    ];
    if let Some(idp) = &params.issuing_distribution_point {
        exts.push(extension(
            ISSUING_DISTRIBUTION_POINT,
            true,
            &IssuingDistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![uri(&idp.url)?])),
                only_contains_user_certs: idp.only_contains_user_certs,
                only_contains_ca_certs: idp.only_contains_ca_certs,
                only_some_reasons: None,
                indirect_crl: false,
                only_contains_attribute_certs: false,
            },
        )?);
    }

    let tbs = TbsCertList {
        version: Version::V2,
        signature: alg.clone(),
        issuer: params.issuer.name.clone(),
        this_update: x509_time(params.this_update)?,
        next_update: Some(x509_time(params.next_update)?),
        // RFC 5280 §5.1.2.6: absent, not empty, when nothing is revoked.
        revoked_certificates: if revoked.is_empty() {
            None
        } else {
            Some(revoked)
        },
        crl_extensions: Some(exts),
    };
    let tbs_der = tbs.to_der()?;
    let signature = sign_and_check(signer, &signer_spki, &alg, &tbs_der)?;
    Ok(CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature,
    })
}

/// PEM encoding of a CRL (`X509 CRL`).
pub fn crl_to_pem(crl: &CertificateList) -> Result<String, X509Error> {
    Ok(pem::encode(&pem::Pem::new("X509 CRL", crl.to_der()?)))
}
