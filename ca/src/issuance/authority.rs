//! The issuing CA: policy + CA certificate + signer + store.

use std::collections::HashMap;
use std::sync::Arc;

use der::asn1::BitString;
use der::{Decode, Encode};
use pkix::verify::{self, PublicKeyKind, VerifyError};
use pkix::{
    check_serial, name_to_string, parse_and_verify_csr, x509_time, CheckedCsr, IssuerInfo,
    X509Error,
};
use serde::Serialize;
use spki::ObjectIdentifier;
use time::OffsetDateTime;
use x509_cert::certificate::Certificate;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::commit::GroupCommit;
use super::config::{parse_policy_oid, PolicyConfig, ResolvedUrls};
use super::lint::{lint_tbs_der, LintContext};
use super::profile::{build_tbs, TbsInputs};
use super::signer::CaSigner;
use super::subject::{check_dns_names, operator_dn, professional_dn, server_dn};
use crate::domain::{
    Actor, CaName, IdNatPs, IdNatStruct, ProfessionTable, Profile, RequestStatus, Serial,
};
use crate::error::{Error, Result};
use crate::storage::{
    CertificateRequest, CertificateStatus, NewCertificate, RequestId, RequestSubject, Store,
};

/// What to issue: an approved request (its profile, subject and CSR come from the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRequest {
    /// The approved certificate request.
    pub request: RequestId,
    /// Server profile only: the approved DNS names (the first one is the CN). The CSR's own
    /// subject and extensions are never used.
    pub dns_names: Vec<String>,
    /// Renewal: the certificate this one replaces (same profile and subject, new key). Once
    /// the new certificate is recorded, the old one is marked superseded by it (in the same
    /// transaction); it stays valid until revoked or expired.
    pub renewal_of: Option<Serial>,
}

impl IssueRequest {
    /// Issue for an approved request (not a renewal, no DNS names).
    pub fn new(request: RequestId) -> Self {
        IssueRequest {
            request,
            dns_names: Vec::new(),
            renewal_of: None,
        }
    }
}

/// A certificate the CA signed and recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedCertificate {
    pub serial: Serial,
    pub profile: Profile,
    /// Subject DN (RFC 4514-like text, encoding order).
    pub subject: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// CRL partition the certificate is listed in if revoked.
    pub crl_partition: u32,
    /// Its CDP (the partition CRL's URL).
    pub crl_url: String,
    /// The renewed certificate, when this is a renewal.
    pub supersedes: Option<Serial>,
    /// DER.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// A professional's certificate issued through the workflow: the code that suspends it
    /// if the card is lost, to give to the holder now (it is never shown again).
    #[serde(skip)]
    pub revocation_code: Option<crate::credentials::RevocationCode>,
}

impl IssuedCertificate {
    /// PEM (`CERTIFICATE`).
    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }
}

/// What a CA would sign for a request, shown to its approver ([`CertificateAuthority::preview`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuancePreview {
    /// The issuing CA.
    pub ca: String,
    pub profile: Profile,
    /// The subject DN, from the registry as it is now.
    pub subject: String,
    /// Days of validity from issuance.
    pub validity_days: u32,
    /// The certificate policy asserted.
    pub policy_oid: String,
    /// Algorithm and size of the key to certify.
    pub key: String,
    /// SHA-256 (hex) of the DER SubjectPublicKeyInfo to certify.
    pub spki_sha256: String,
}

/// A subject built from the registry.
#[derive(Debug, Default)]
struct RegistrySubject {
    name: x509_cert::name::Name,
    text: String,
    expected_cn: String,
    professional: Option<IdNatPs>,
    structure: Option<IdNatStruct>,
    dns_names: Vec<String>,
}

/// Parses a PKCS#10 request (PEM or DER), verifies its self-signature (proof of possession)
/// and checks its key against the end-entity key policy: EC P-256 / P-384, RSA 2048 to 8192
/// bits (rsaEncryption keys; RSASSA-PSS-only keys are refused). The RA calls this before
/// filing a request; [`CertificateAuthority::issue`] calls it again.
pub fn check_csr(csr: &[u8]) -> Result<(CheckedCsr, PublicKeyKind)> {
    let checked = parse_and_verify_csr(csr).map_err(csr_error)?;
    let kind =
        verify::check_public_key(&checked.subject_spki).map_err(|e| Error::UnsupportedKey {
            reason: key_reason(&e),
        })?;
    if let PublicKeyKind::Rsa { pss_only: true, .. } = kind {
        return Err(Error::UnsupportedKey {
            reason: "RSASSA-PSS-only (id-RSASSA-PSS) keys are not accepted; \
                     use an rsaEncryption key"
                .into(),
        });
    }
    Ok((checked, kind))
}

fn key_reason(e: &VerifyError) -> String {
    match e {
        VerifyError::UnsupportedCurve(oid) => {
            let name = match oid.to_string().as_str() {
                "1.3.132.0.35" => " (P-521)",
                "1.3.132.0.10" => " (secp256k1)",
                "1.3.36.3.3.2.8.1.1.7" => " (brainpoolP256r1)",
                _ => "",
            };
            format!("unsupported elliptic curve {oid}{name}; accepted: P-256, P-384")
        }
        other => format!("{other}; accepted: EC P-256, P-384, RSA ≥ 2048 bits"),
    }
}

fn csr_error(e: X509Error) -> Error {
    match e {
        X509Error::CsrSignature(ve) => match ve {
            VerifyError::UnsupportedCurve(_)
            | VerifyError::UnsupportedKeyAlgorithm(_)
            | VerifyError::RsaKeyTooSmall { .. }
            | VerifyError::RsaKeyTooLarge { .. }
            | VerifyError::InvalidPublicKey(_) => Error::UnsupportedKey {
                reason: key_reason(&ve),
            },
            other => Error::CsrProofOfPossession {
                reason: other.to_string(),
            },
        },
        X509Error::CsrTooLarge(n) => Error::MalformedCsr {
            reason: format!("{n} bytes, larger than accepted"),
        },
        X509Error::MalformedCsr(reason) | X509Error::Pem(reason) => Error::MalformedCsr { reason },
        X509Error::Der(e) => Error::MalformedCsr {
            reason: e.to_string(),
        },
        other => Error::MalformedCsr {
            reason: other.to_string(),
        },
    }
}

/// An issuing CA (CA Personnes, CA Organisations): its name, certificate, signing key and
/// policy, and the store it records into. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct CertificateAuthority {
    name: CaName,
    certificate: Certificate,
    certificate_der: Vec<u8>,
    issuer: IssuerInfo,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    signer: CaSigner,
    policy: PolicyConfig,
    pub(crate) urls: ResolvedUrls,
    policy_oids: HashMap<Profile, ObjectIdentifier>,
    operator_organization: String,
    store: Store,
    professions: Arc<ProfessionTable>,
    committer: GroupCommit,
}

fn unix(t: &x509_cert::time::Time) -> Result<OffsetDateTime> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| Error::invalid("CA certificate", "validity out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| Error::invalid("CA certificate", "validity out of range"))
}

impl CertificateAuthority {
    /// Sets up a CA. Checks the policy, that the certificate is a CA certificate allowed to
    /// sign certificates and CRLs, and that the signer holds the certificate's key.
    pub fn new(
        name: CaName,
        certificate_der: &[u8],
        signer: CaSigner,
        policy: PolicyConfig,
        store: Store,
        professions: Arc<ProfessionTable>,
    ) -> Result<Self> {
        policy.validate(name.as_str())?;
        let urls = policy.resolve_urls(name.as_str())?;
        let certificate = Certificate::from_der(certificate_der).map_err(X509Error::from)?;
        let tbs = &certificate.tbs_certificate;
        // A CA certificate allowed to sign certificates and CRLs.
        match tbs.get::<x509_cert::ext::pkix::BasicConstraints>() {
            Ok(Some((_, bc))) if bc.ca => {}
            _ => {
                return Err(Error::invalid(
                    "CA certificate",
                    "not a CA certificate (basicConstraints cA)",
                ))
            }
        }
        if let Ok(Some((_, ku))) = tbs.get::<x509_cert::ext::pkix::KeyUsage>() {
            use x509_cert::ext::pkix::KeyUsages;
            if !ku.0.contains(KeyUsages::KeyCertSign) || !ku.0.contains(KeyUsages::CRLSign) {
                return Err(Error::invalid(
                    "CA certificate",
                    "keyUsage must include keyCertSign and cRLSign",
                ));
            }
        }
        if signer.public_key() != &tbs.subject_public_key_info {
            return Err(Error::SignerKeyMismatch {
                ca: name.to_string(),
            });
        }
        let issuer = IssuerInfo::from_certificate(&certificate)?;
        let not_before = unix(&tbs.validity.not_before)?;
        let not_after = unix(&tbs.validity.not_after)?;
        let mut policy_oids = HashMap::new();
        for (profile, pp) in policy.profiles.iter() {
            policy_oids.insert(profile, parse_policy_oid(profile, &pp.policy_oid)?);
        }
        let operator_organization = match &policy.operator_organization {
            Some(o) => o.clone(),
            None => pkix::DnBuilder::from_name(&tbs.subject)?
                .rdns()
                .iter()
                .flatten()
                .find(|(a, _)| *a == pkix::Attr::Organization)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| name.to_string()),
        };
        Ok(CertificateAuthority {
            name,
            certificate_der: certificate_der.to_vec(),
            certificate,
            issuer,
            not_before,
            not_after,
            signer,
            policy,
            urls,
            policy_oids,
            operator_organization,
            store,
            professions,
            committer: GroupCommit::default(),
        })
    }

    pub fn name(&self) -> &CaName {
        &self.name
    }

    /// Name of the CA in URLs (`ca-personnes`).
    pub fn url_name(&self) -> &str {
        &self.urls.name
    }

    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The certificate policy this CA asserts in certificates of `profile`, when it issues
    /// that profile.
    pub fn policy_oid(&self, profile: Profile) -> Option<ObjectIdentifier> {
        self.policy_oids.get(&profile).copied()
    }

    /// DER of the CA certificate (served at `/ca/{url_name}.crt`).
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// `{url_name}.crt`.
    pub fn certificate_file_name(&self) -> String {
        format!("{}.crt", self.urls.name)
    }

    pub fn policy(&self) -> &PolicyConfig {
        &self.policy
    }

    pub fn signer(&self) -> &CaSigner {
        &self.signer
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn issuer_info(&self) -> &IssuerInfo {
        &self.issuer
    }

    /// End of the CA certificate's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Whether this CA issues `profile`.
    pub fn issues(&self, profile: Profile) -> bool {
        self.policy.profiles.get(profile).is_some()
    }

    /// The CRL partition of a certificate expiring at `not_after`: the number of the
    /// `crl.partition_days`-wide window (counted from the Unix epoch) that contains it.
    pub fn partition_of(&self, not_after: OffsetDateTime) -> Result<u32> {
        let width = i64::from(self.policy.crl.partition_days) * 86_400;
        u32::try_from(not_after.unix_timestamp().div_euclid(width))
            .map_err(|_| Error::invalid("notAfter", "outside the partition range"))
    }

    /// The notAfter window `[start, end)` of a partition.
    pub fn partition_window(&self, partition: u32) -> (OffsetDateTime, OffsetDateTime) {
        let width = i64::from(self.policy.crl.partition_days) * 86_400;
        let at = |p: i64| {
            OffsetDateTime::from_unix_timestamp(p * width).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        (at(i64::from(partition)), at(i64::from(partition) + 1))
    }

    /// URL of the full CRL (`None`) or of a partition CRL.
    pub fn crl_url(&self, partition: Option<u32>) -> String {
        self.urls.crl_url(partition)
    }

    /// File name under `/crl/` of the full CRL (`None`) or of a partition CRL.
    pub fn crl_file_name(&self, partition: Option<u32>) -> String {
        self.urls.crl_file(partition)
    }

    /// Issues a certificate for an approved request.
    ///
    /// The subject comes from the registry (professional, structure or operator of the
    /// request), never from the CSR; the CSR is only the proof of possession of the key. The
    /// TBSCertificate is linted against the profile before the CA key signs it, the signature
    /// is verified against the CA certificate, and the certificate, the request's transition
    /// to `issued` and the audit entry are committed in one transaction. On any error nothing
    /// is written.
    pub async fn issue(&self, req: IssueRequest, actor: &Actor) -> Result<IssuedCertificate> {
        let request = self
            .store
            .request(req.request)
            .await?
            .ok_or(Error::RequestNotFound { id: req.request.0 })?;
        if request.status != RequestStatus::Approved {
            return Err(Error::RequestNotInState {
                id: request.id.0,
                expected: RequestStatus::Approved,
                found: request.status,
            });
        }
        let profile = request.profile;
        let Some(profile_policy) = self.policy.profiles.get(profile) else {
            return Err(Error::ProfileNotIssued {
                ca: self.name.to_string(),
                profile,
            });
        };
        let policy_oid = *self
            .policy_oids
            .get(&profile)
            .ok_or(Error::ProfileNotIssued {
                ca: self.name.to_string(),
                profile,
            })?;
        if profile != Profile::Server && !req.dns_names.is_empty() {
            return Err(Error::invalid(
                "DNS names",
                "only server certificates carry dNSNames",
            ));
        }
        let (csr, key_kind) = check_csr(&request.csr_der)?;

        // The subject, from the registry.
        let RegistrySubject {
            name: subject,
            text: subject_text,
            expected_cn,
            professional,
            structure: structure_id,
            dns_names,
        } = self
            .registry_subject(&request.subject, &req.dns_names)
            .await?;

        if let Some(old) = &req.renewal_of {
            self.check_renewal(
                old,
                profile,
                &professional,
                &structure_id,
                &subject_text,
                &csr,
            )
            .await?;
        }

        // Validity: from now (whole seconds) for the profile's configured days.
        let now = OffsetDateTime::now_utc();
        let not_before = now
            .replace_nanosecond(0)
            .map_err(|e| Error::invalid("time", e.to_string()))?;
        let not_after = not_before + time::Duration::days(i64::from(profile_policy.validity_days));
        if not_after > self.not_after {
            return Err(Error::OutlivesCa {
                not_after: not_after.to_string(),
                ca_not_after: self.not_after.to_string(),
            });
        }
        let validity = Validity {
            not_before: x509_time(not_before)?,
            not_after: x509_time(not_after)?,
        };
        let partition = self.partition_of(not_after)?;
        let crl_url = self.crl_url(Some(partition));
        let (serial, serial_number) = fresh_serial()?;

        let tbs = build_tbs(&TbsInputs {
            profile,
            key_kind,
            serial: serial_number,
            algorithm: self.signer.algorithm(),
            issuer: &self.issuer.name,
            issuer_ski: &self.issuer.ski,
            validity,
            subject,
            spki: csr.subject_spki.clone(),
            policy_oid,
            crl_url: &crl_url,
            ca_issuers_url: &self.urls.ca_issuers,
            ocsp_url: &self.urls.ocsp,
            dns_names: &dns_names,
        })?;
        let tbs_der = tbs.to_der().map_err(X509Error::from)?;

        // Lint before signing, on the exact bytes to be signed.
        let findings = lint_tbs_der(
            &tbs_der,
            &LintContext {
                profile,
                ca_subject: &self.issuer.name,
                ca_ski: &self.issuer.ski,
                ca_not_before: self.not_before,
                ca_not_after: self.not_after,
                algorithm: self.signer.algorithm(),
                policy_oid,
                validity_days: profile_policy.validity_days,
                crl_url: &crl_url,
                ca_issuers_url: &self.urls.ca_issuers,
                ocsp_url: &self.urls.ocsp,
                expected_cn: &expected_cn,
                dns_names: &dns_names,
            },
        );
        if !findings.is_empty() {
            return Err(Error::Lint { profile, findings });
        }

        // Signed with the CA key and the signature verified with the CA public key (the
        // signer's key is the CA certificate's key, checked when the CA was set up).
        let (tbs_der, signature) = self.signer.sign(tbs_der).await?;
        let certificate = Certificate {
            tbs_certificate: tbs,
            signature_algorithm: self.signer.algorithm().clone(),
            signature: BitString::from_bytes(&signature).map_err(X509Error::from)?,
        };
        let der = certificate.to_der().map_err(X509Error::from)?;
        // The certificate carries exactly the bytes that were linted, signed and verified.
        let signed = pkix::csr::first_element_tlv(&der).map_err(X509Error::from)?;
        if signed != tbs_der.as_slice() {
            return Err(Error::Task(
                "the encoded certificate does not carry the signed TBSCertificate".into(),
            ));
        }

        let record = NewCertificate {
            serial: serial.clone(),
            issuer: self.name.clone(),
            profile,
            professional,
            structure: structure_id,
            subject: subject_text.clone(),
            not_before,
            not_after,
            der: der.clone(),
            crl_partition: partition,
            supersedes: req.renewal_of.clone(),
        };
        // Durable before we return; concurrent issuances share the commit.
        self.committer
            .record(&self.store, record, Some(request.id), actor.clone())
            .await?;
        tracing::info!(
            ca = %self.name, serial = %serial, profile = %profile, subject = %subject_text,
            "certificate issued"
        );
        Ok(IssuedCertificate {
            serial,
            profile,
            subject: subject_text,
            not_before,
            not_after,
            crl_partition: partition,
            crl_url,
            supersedes: req.renewal_of,
            der,
            revocation_code: None,
        })
    }

    /// The subject of a certificate for `subject`, built from the registry as it is now: the
    /// name, its text, the CN the linter expects, and the registry links of the record.
    async fn registry_subject(
        &self,
        subject: &RequestSubject,
        requested_dns_names: &[String],
    ) -> Result<RegistrySubject> {
        let mut out = RegistrySubject::default();
        match subject {
            RequestSubject::Professional(idnat) => {
                let p = self.store.find_professional(idnat).await?.ok_or_else(|| {
                    Error::ProfessionalNotFound {
                        idnat: idnat.to_string(),
                    }
                })?;
                if !p.is_active() {
                    return Err(Error::ProfessionalNotActive {
                        idnat: idnat.to_string(),
                    });
                }
                let profession = self.professions.get(&p.profession)?;
                let structure = match &p.structure {
                    Some(s) => Some(self.store.find_structure(s).await?.ok_or_else(|| {
                        Error::StructureNotFound {
                            idnat: s.to_string(),
                        }
                    })?),
                    None => None,
                };
                let (name, text) = professional_dn(
                    &p,
                    profession,
                    structure.as_ref(),
                    &self.policy.registration_office,
                )?;
                out.name = name;
                out.text = text;
                out.expected_cn = idnat.to_string();
                out.professional = Some(idnat.clone());
            }
            RequestSubject::Structure(idnat) => {
                let s = self.store.find_structure(idnat).await?.ok_or_else(|| {
                    Error::StructureNotFound {
                        idnat: idnat.to_string(),
                    }
                })?;
                out.dns_names = check_dns_names(requested_dns_names)?;
                let host = out.dns_names.first().cloned().unwrap_or_default();
                let (name, text) = server_dn(&s, &host)?;
                out.name = name;
                out.text = text;
                out.expected_cn = host;
                out.structure = Some(idnat.clone());
            }
            RequestSubject::Operator(login) => {
                let (name, text) = operator_dn(login, &self.operator_organization)?;
                out.name = name;
                out.text = text;
                out.expected_cn = login.to_string();
            }
        }
        Ok(out)
    }

    /// What this CA would sign for `request` if it issued it now: subject built from the
    /// registry, profile, validity, policy, and the key of the CSR. The approver is shown
    /// this, so that what is approved is what is signed.
    pub async fn preview(&self, request: &CertificateRequest) -> Result<IssuancePreview> {
        let profile = request.profile;
        let (Some(profile_policy), Some(policy_oid)) = (
            self.policy.profiles.get(profile),
            self.policy_oids.get(&profile),
        ) else {
            return Err(Error::ProfileNotIssued {
                ca: self.name.to_string(),
                profile,
            });
        };
        let (csr, key_kind) = check_csr(&request.csr_der)?;
        // A server's host names are given at issuance; the preview shows the rest of its name.
        let subject = self.registry_subject(&request.subject, &[]).await?;
        let spki_der = csr.subject_spki.to_der().map_err(X509Error::from)?;
        Ok(IssuancePreview {
            ca: self.name.to_string(),
            profile,
            subject: subject.text,
            validity_days: profile_policy.validity_days,
            policy_oid: policy_oid.to_string(),
            key: match key_kind {
                PublicKeyKind::EcP256 => "EC P-256".to_owned(),
                PublicKeyKind::EcP384 => "EC P-384".to_owned(),
                PublicKeyKind::Rsa { bits, .. } => format!("RSA {bits} bits"),
            },
            spki_sha256: crate::storage::sha256_hex(&spki_der),
        })
    }

    async fn check_renewal(
        &self,
        old: &Serial,
        profile: Profile,
        professional: &Option<IdNatPs>,
        structure: &Option<IdNatStruct>,
        subject_text: &str,
        csr: &CheckedCsr,
    ) -> Result<()> {
        let refuse = |reason: &str| Error::RenewalRefused {
            serial: old.to_string(),
            reason: reason.to_owned(),
        };
        let rec = self
            .store
            .certificate(old)
            .await?
            .ok_or_else(|| Error::CertificateNotFound {
                serial: old.to_string(),
            })?;
        if rec.issuer != self.name {
            return Err(refuse("it was issued by another CA"));
        }
        if rec.profile != profile {
            return Err(refuse(&format!(
                "it is a {} certificate, the request is for {profile}",
                rec.profile
            )));
        }
        if &rec.professional != professional || &rec.structure != structure {
            return Err(refuse("it belongs to another subject"));
        }
        if professional.is_none() && structure.is_none() && rec.subject != subject_text {
            return Err(refuse("it belongs to another subject"));
        }
        if let CertificateStatus::Revoked { .. } = rec.status {
            return Err(refuse(
                "it is revoked; a revoked certificate is replaced by a new issuance",
            ));
        }
        if rec.superseded_by.is_some() {
            return Err(refuse("it has already been renewed"));
        }
        if rec.not_after <= OffsetDateTime::now_utc() {
            return Err(refuse("it has expired"));
        }
        let old_cert = Certificate::from_der(&rec.der).map_err(X509Error::from)?;
        if old_cert.tbs_certificate.subject_public_key_info == csr.subject_spki {
            return Err(refuse(
                "a renewal needs a new key; the request reuses the old one",
            ));
        }
        Ok(())
    }
}

/// A random serial (127 bits from the OS generator, positive) with at least 8 significant
/// octets, as the domain value and the X.509 INTEGER.
fn fresh_serial() -> Result<(Serial, SerialNumber)> {
    loop {
        let serial = Serial::random();
        let mut bytes = serial.to_be_bytes();
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            bytes.insert(0, 0);
        }
        let number = SerialNumber::new(&bytes).map_err(X509Error::from)?;
        if check_serial(&number).is_ok() {
            return Ok((serial, number));
        }
    }
}

/// The subject DN text of a certificate (for tools and tests).
pub fn subject_text(cert: &Certificate) -> String {
    name_to_string(&cert.tbs_certificate.subject)
}
