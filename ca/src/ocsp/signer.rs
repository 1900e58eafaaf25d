//! One CA as the responder sees it: the hashes that identify it in CertIDs, and its delegated
//! responder (certificate + signer).

use std::fmt;

use const_oid::db::{rfc5280, rfc6960};
use der::asn1::BitString;
use der::Encode;
use pkix::key::{CheckedKey, SignError};
use pkix::verify;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use signature::{Keypair, Signer};
use spki::{
    AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey,
    SignatureBitStringEncoding,
};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

use super::request::CertIdHash;
use super::response::certs_field;
use super::OcspError;
use crate::domain::CaName;

/// A CA served by the responder, with its delegated OCSP responder.
pub struct OcspCa {
    pub(crate) name: CaName,
    sha1_name: [u8; 20],
    sha1_key: [u8; 20],
    sha256_name: [u8; 32],
    sha256_key: [u8; 32],
    /// ResponderID byKey: SHA-1 of the responder's subjectPublicKey.
    pub(crate) responder_key_hash: [u8; 20],
    /// `[0] EXPLICIT SEQUENCE OF Certificate` with the responder certificate.
    pub(crate) certs_field: Vec<u8>,
    alg: AlgorithmIdentifierOwned,
    pub(crate) alg_der: Vec<u8>,
    /// Responder certificate validity, Unix seconds.
    pub(crate) not_before: u64,
    pub(crate) not_after: u64,
    signer: CheckedKey,
}

impl fmt::Debug for OcspCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcspCa")
            .field("name", &self.name)
            .field("sha1_key_hash", &hex::encode(self.sha1_key))
            .field("responder_key_hash", &hex::encode(self.responder_key_hash))
            .field("algorithm", &self.alg.oid)
            .field("responder_not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

fn unix_of(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

impl OcspCa {
    /// Describes a CA: `name` is the issuer name its certificates are recorded under in the
    /// store (`CertificateRecord::issuer`), `ca_cert` its certificate, `responder_cert` the
    /// delegated OCSP responder certificate it issued (EKU id-kp-OCSPSigning), and `signer` the
    /// responder's key (an `hsm_config::HsmSigner` in production).
    ///
    /// Refuses a responder certificate that the CA did not sign, that lacks OCSPSigning, or
    /// whose key is not the signer's; a signature algorithm our verifier does not support.
    pub fn new<S, Sig>(
        name: CaName,
        ca_cert: &Certificate,
        responder_cert: &Certificate,
        signer: S,
    ) -> Result<Self, OcspError>
    where
        S: Keypair + DynSignatureAlgorithmIdentifier + Signer<Sig> + Send + Sync + 'static,
        S::VerifyingKey: EncodePublicKey,
        Sig: SignatureBitStringEncoding + 'static,
    {
        let bad = |reason: String| OcspError::ResponderCertificate {
            ca: name.to_string(),
            reason,
        };
        verify::verify_certificate_signed_by(responder_cert, ca_cert)
            .map_err(|e| bad(format!("not issued by the CA certificate: {e}")))?;
        let rtbs = &responder_cert.tbs_certificate;
        match rtbs.get::<ExtendedKeyUsage>() {
            Ok(Some((_, eku))) if eku.0.contains(&rfc5280::ID_KP_OCSP_SIGNING) => {}
            Ok(_) => return Err(bad("extendedKeyUsage lacks id-kp-OCSPSigning".into())),
            Err(e) => return Err(bad(format!("extendedKeyUsage: {e}"))),
        }
        let has_nocheck = rtbs
            .extensions
            .iter()
            .flatten()
            .any(|e| e.extn_id == rfc6960::ID_PKIX_OCSP_NOCHECK);
        if !has_nocheck {
            tracing::warn!(ca = %name, "OCSP responder certificate has no id-pkix-ocsp-nocheck");
        }

        let signer = CheckedKey::from_signer(signer, "ocsp")
            .map_err(|e| bad(format!("responder key: {e}")))?;
        let (alg, spki) = (signer.algorithm().clone(), signer.public_key().clone());
        if spki != rtbs.subject_public_key_info {
            return Err(bad(
                "the signer's key is not the responder certificate's key".into(),
            ));
        }

        let subject = ca_cert.tbs_certificate.subject.to_der()?;
        let key = ca_cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        Ok(OcspCa {
            sha1_name: Sha1::digest(&subject).into(),
            sha1_key: Sha1::digest(key).into(),
            sha256_name: Sha256::digest(&subject).into(),
            sha256_key: Sha256::digest(key).into(),
            responder_key_hash: Sha1::digest(spki.subject_public_key.raw_bytes()).into(),
            certs_field: certs_field(&responder_cert.to_der()?),
            alg_der: alg.to_der()?,
            alg,
            not_before: unix_of(&rtbs.validity.not_before),
            not_after: unix_of(&rtbs.validity.not_after),
            signer,
            name,
        })
    }

    /// The issuer name its certificates are recorded under.
    pub fn name(&self) -> &CaName {
        &self.name
    }

    /// Whether a CertID's issuer hashes designate this CA.
    pub(crate) fn matches(&self, hash: CertIdHash, name_hash: &[u8], key_hash: &[u8]) -> bool {
        match hash {
            CertIdHash::Sha1 => name_hash == self.sha1_name && key_hash == self.sha1_key,
            CertIdHash::Sha256 => name_hash == self.sha256_name && key_hash == self.sha256_key,
        }
    }

    /// The issuer hashes of this CA for a CertID algorithm.
    pub(crate) fn hashes(&self, hash: CertIdHash) -> (&[u8], &[u8]) {
        match hash {
            CertIdHash::Sha1 => (&self.sha1_name, &self.sha1_key),
            CertIdHash::Sha256 => (&self.sha256_name, &self.sha256_key),
        }
    }

    /// Signs `tbs` (blocking: call from a blocking thread); the signature is verified before
    /// it is returned ([`CheckedKey`]).
    pub(crate) fn sign(&self, tbs: &[u8]) -> Result<BitString, OcspError> {
        let raw = self.signer.sign(tbs).map_err(|e| match e {
            SignError::SelfCheck(v) => OcspError::SelfCheck(v),
            other => OcspError::Signing(other.to_string()),
        })?;
        Ok(BitString::from_bytes(&raw)?)
    }
}
