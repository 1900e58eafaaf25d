//! The validation data a long-term signature carries (ETSI EN 319 122-1 B-LT/B-LTA), gathered
//! for the validator: certificates and revocation values from the SignedData
//! (`certificates`, `crls`), from the SignerInfo's certificate-values and revocation-values,
//! and from the same places inside each of its time-stamp tokens (where the validation data
//! of the newest archive time-stamp's TSA is kept).
//!
//! Evidence is only gathered here, never trusted: every OCSP response and CRL is verified
//! against the issuer of the certificate it is asked about
//! ([`EvidenceRevocationSource`](crate::evidence::EvidenceRevocationSource)), every
//! certificate must chain to a trust anchor. What cannot be decoded is named in
//! [`Embedded::problems`] and left out.

use cms::content_info::ContentInfo;
use cms::revocation::RevocationInfoChoice;
use cms::signed_data::{SignedData, SignerInfo};
use der::asn1::Any;
use der::Encode;
use x509_cert::attr::Attribute;
use x509_cert::crl::CertificateList;
use x509_cert::Certificate;

use crate::ltv::{CertificateValues, RevocationValues};

/// The validation data found in a signature.
#[derive(Debug, Default, Clone)]
pub struct Embedded {
    /// Certificates (duplicates removed).
    pub certificates: Vec<Certificate>,
    /// OCSP responses, DER (OCSPResponse or BasicOCSPResponse).
    pub ocsp: Vec<Vec<u8>>,
    /// CRLs.
    pub crls: Vec<CertificateList>,
    /// Values that could not be read, in words (they are ignored).
    pub problems: Vec<String>,
}

impl Embedded {
    /// Whether any revocation value was found.
    pub fn has_revocation_values(&self) -> bool {
        !self.ocsp.is_empty() || !self.crls.is_empty()
    }

    /// Gathers the validation data of the SignerInfo `si` of `sd`: the SignedData's
    /// certificates and crls, the SignerInfo's certificate-values and revocation-values, and
    /// the same in each time-stamp token of `tokens` (signature and archive time-stamps).
    pub fn gather(sd: &SignedData, si: &SignerInfo, tokens: &[&Any]) -> Embedded {
        let mut out = Embedded::default();
        out.add_signed_data(sd, "the signature");
        out.add_attributes(
            si.unsigned_attrs.iter().flat_map(|s| s.iter()),
            "the signature",
        );
        for (i, token) in tokens.iter().enumerate() {
            let what = format!("time-stamp token {}", i + 1);
            let Ok(ci) = token.decode_as::<ContentInfo>() else {
                continue; // the time-stamp's own check reports it
            };
            let Ok(tsd) = ci.content.decode_as::<SignedData>() else {
                continue;
            };
            out.add_signed_data(&tsd, &what);
            for tsi in tsd.signer_infos.0.iter() {
                out.add_attributes(tsi.unsigned_attrs.iter().flat_map(|s| s.iter()), &what);
            }
        }
        out
    }

    /// Adds the validation data of a PDF's DSS (PAdES): certificates, OCSP responses and
    /// CRLs (DER). A CRL that does not decode is a problem, not a failure.
    pub fn add_document_data(
        &mut self,
        certificates: &[Certificate],
        ocsp: &[Vec<u8>],
        crls: &[Vec<u8>],
    ) {
        for c in certificates {
            self.add_certificate(c.clone());
        }
        for o in ocsp {
            self.add_ocsp(o.clone());
        }
        for (i, der) in crls.iter().enumerate() {
            match <CertificateList as der::Decode>::from_der(der) {
                Ok(crl) => self.add_crl(crl),
                Err(e) => self
                    .problems
                    .push(format!("CRL {} of the document security store: {e}", i + 1)),
            }
        }
    }

    fn add_certificate(&mut self, c: Certificate) {
        if !self.certificates.contains(&c) {
            self.certificates.push(c);
        }
    }

    fn add_ocsp(&mut self, der: Vec<u8>) {
        if !self.ocsp.contains(&der) {
            self.ocsp.push(der);
        }
    }

    fn add_crl(&mut self, crl: CertificateList) {
        if !self.crls.contains(&crl) {
            self.crls.push(crl);
        }
    }

    fn add_signed_data(&mut self, sd: &SignedData, what: &str) {
        for c in sd.certificates.iter().flat_map(|s| s.0.iter()) {
            if let cms::cert::CertificateChoices::Certificate(c) = c {
                self.add_certificate(c.clone());
            }
        }
        for r in sd.crls.iter().flat_map(|s| s.0.iter()) {
            match r {
                RevocationInfoChoice::Crl(crl) => self.add_crl(crl.clone()),
                // The `cms` crate models OtherRevocationInfoFormat with an AlgorithmIdentifier
                // where RFC 5652 has an OID, so OCSP responses in SignedData.crls (RFC 5940)
                // cannot be read faithfully: they are named and left out.
                RevocationInfoChoice::Other(o) => self.problems.push(format!(
                    "{what}: revocation information of another format ({}) in SignedData.crls is not read",
                    o.other_format.oid
                )),
            }
        }
    }

    fn add_attributes<'a>(&mut self, attrs: impl Iterator<Item = &'a Attribute>, what: &str) {
        for a in attrs {
            if a.oid == pkix::oid::ID_AA_ETS_CERT_VALUES {
                for v in a.values.iter() {
                    match v.decode_as::<CertificateValues>() {
                        Ok(CertificateValues(certs)) => {
                            certs.into_iter().for_each(|c| self.add_certificate(c))
                        }
                        Err(e) => self.problems.push(format!(
                            "{what}: certificate-values is not a list of certificates ({e}); ignored"
                        )),
                    }
                }
            } else if a.oid == pkix::oid::ID_AA_ETS_REVOCATION_VALUES {
                for v in a.values.iter() {
                    match v.decode_as::<RevocationValues>() {
                        Ok(r) => {
                            for crl in r.crl_vals.into_iter().flatten() {
                                self.add_crl(crl);
                            }
                            for basic in r.ocsp_vals.into_iter().flatten() {
                                match basic.to_der() {
                                    Ok(d) => self.add_ocsp(d),
                                    Err(e) => self
                                        .problems
                                        .push(format!("{what}: an OCSP response: {e}")),
                                }
                            }
                            if let Some(other) = r.other_rev_vals {
                                self.problems.push(format!(
                                    "{what}: revocation values of unknown format {} ignored",
                                    other.other_rev_val_type
                                ));
                            }
                        }
                        Err(e) => self.problems.push(format!(
                            "{what}: revocation-values holds neither OCSP responses nor CRLs ({e}); ignored"
                        )),
                    }
                }
            }
        }
    }
}
