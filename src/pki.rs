//! The running PKI as the binary assembles it from `igc.toml`: the store, the online token,
//! the issuing CAs with their HSM signers and the CRL publisher, and the RA workflow over them.
//! `igc serve` and the operator commands (`igc cert …`, `igc crl …`) share it, so the CLI
//! issues and revokes exactly as the server would.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use ca::crl::CrlPublisher;
use ca::domain::{CaName, ProfessionTable, Profile};
use ca::issuance::{CaSigner, CertificateAuthority};
use ca::status::StatusSink;
use ca::storage::Store;
use ca::workflow::Workflow;
use der::Decode;
use hsm_config::{HsmSealer, HsmSigner, Token};
use x509_cert::Certificate;

use crate::config::{CaConfig, IgcConfig};

/// Reads a PEM file holding one block with the given tag; returns its DER.
pub fn read_pem_der(path: &Path, tag: &str) -> Result<Vec<u8>> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let p = pem::parse(&text).with_context(|| format!("{} is not PEM", path.display()))?;
    if p.tag() != tag {
        bail!("{}: expected {tag}, found {}", path.display(), p.tag());
    }
    Ok(p.into_contents())
}

/// Reads and parses a PEM certificate.
pub fn read_certificate(path: &Path) -> Result<(Certificate, Vec<u8>)> {
    let der = read_pem_der(path, "CERTIFICATE")?;
    let cert = Certificate::from_der(&der)
        .with_context(|| format!("{} is not an X.509 certificate", path.display()))?;
    Ok((cert, der))
}

/// The name a CA's certificates are recorded under: its subject CN ("CA Personnes").
pub fn ca_name_of(cert: &Certificate, fallback: &str) -> Result<CaName> {
    let subject = pkix::DnBuilder::from_name(&cert.tbs_certificate.subject)?;
    let cn = subject
        .rdns()
        .iter()
        .flatten()
        .find(|(a, _)| *a == pkix::Attr::CommonName)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| fallback.to_owned());
    Ok(cn.parse()?)
}

/// One configured CA, opened.
#[derive(Debug)]
pub struct OpenCa {
    pub config: CaConfig,
    pub authority: Arc<CertificateAuthority>,
}

/// Everything that issues and revokes.
#[derive(Debug)]
pub struct Pki {
    pub store: Store,
    pub token: Token,
    pub professions: Arc<ProfessionTable>,
    pub cas: Vec<OpenCa>,
    pub publisher: Arc<CrlPublisher>,
}

/// Where the status of certificates comes from: the CA database (end entities, the TSA unit)
/// first, then the root's ARL (the issuing CAs).
pub fn revocation_source(
    store: &Store,
    root_arl_der: &[u8],
) -> Result<validation::FirstKnownRevocationSource> {
    use validation::{CrlRevocationSource, FirstKnownRevocationSource, StoreRevocationSource};
    Ok(FirstKnownRevocationSource::new(vec![
        Arc::new(StoreRevocationSource::new(store.clone())),
        Arc::new(
            CrlRevocationSource::from_bytes(&[root_arl_der.to_vec()])
                .map_err(anyhow::Error::msg)?,
        ),
    ]))
}

/// What anchors of the audit journal are checked against: our root, the configured TSA
/// certificates (unit and chain) as intermediates, and [`revocation_source`]. Tokens carry
/// their TSA certificate, so anchors made before a TSA certificate was renewed still verify.
pub fn anchor_trust(cfg: &IgcConfig, store: &Store) -> Result<validation::anchor::AnchorTrust> {
    let (root, _) = read_certificate(&cfg.pki.root_certificate)?;
    let mut intermediates = Vec::new();
    if let Some(t) = &cfg.tsa {
        for path in std::iter::once(&t.certificate).chain(&t.chain) {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            intermediates.extend(
                Certificate::load_pem_chain(&pem)
                    .with_context(|| format!("{} is not PEM certificates", path.display()))?,
            );
        }
    }
    let root_arl = read_pem_der(&cfg.pki.root_crl, "X509 CRL")?;
    Ok(validation::anchor::AnchorTrust::new(
        vec![root],
        intermediates,
        Arc::new(revocation_source(store, &root_arl)?),
    ))
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_store(cfg: &IgcConfig) -> Result<Store> {
    let store = Store::connect(&cfg.database.url)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// The store with the online token's TOTP sealing key, for commands that authenticate
/// operators without needing the CAs (`igc professional add`).
pub async fn open_operator_store(cfg: &IgcConfig) -> Result<Store> {
    let store = open_store(cfg).await?;
    let token = Token::from_config(&cfg.hsm).context("opening the online token")?;
    Ok(store.with_sealer(Arc::new(sealer_of(cfg, &token)?)))
}

fn sealer_of(cfg: &IgcConfig, token: &Token) -> Result<HsmSealer> {
    let label = &cfg.hsm.totp_seal_key_label;
    HsmSealer::new(token, label).with_context(|| {
        format!(
            "TOTP sealing key {label:?} of token {:?} ([hsm] totp_seal_key_label; created by \
             a secret-key ceremony such as hsm-config/ceremonies/dev/10-key-ra-totp-seal.yaml)",
            cfg.hsm.token_label
        )
    })
}

impl Pki {
    /// Opens the store and the token and sets up every configured CA; fails when a key in
    /// the token does not match its certificate.
    pub async fn open(cfg: &IgcConfig) -> Result<Pki> {
        let store = open_store(cfg).await?;
        let token = Token::from_config(&cfg.hsm).context("opening the online token")?;
        Self::with(cfg, store, token)
    }

    /// Same, with a store and token already open. The store is given the token's TOTP
    /// sealing key, so that every reader of operator credentials gets the secrets opened and
    /// the database only ever holds them sealed.
    pub fn with(cfg: &IgcConfig, store: Store, token: Token) -> Result<Pki> {
        let store = store.with_sealer(Arc::new(sealer_of(cfg, &token)?));
        let professions = Arc::new(ProfessionTable::builtin()?);
        let mut cas = Vec::new();
        for c in &cfg.cas {
            let (cert, der) = read_certificate(&c.certificate)?;
            let signer = HsmSigner::new(&token, &c.key_label)
                .with_context(|| format!("key {:?} of CA {}", c.key_label, c.name))?;
            let authority = CertificateAuthority::new(
                ca_name_of(&cert, &c.name)?,
                &der,
                CaSigner::new(signer)?,
                c.policy(&cfg.server.base_url),
                store.clone(),
                professions.clone(),
            )
            .with_context(|| format!("setting up CA {}", c.name))?;
            cas.push(OpenCa {
                config: c.clone(),
                authority: Arc::new(authority),
            });
        }
        let publisher = Arc::new(CrlPublisher::new(
            cas.iter().map(|c| c.authority.clone()).collect(),
        )?);
        Ok(Pki {
            store,
            token,
            professions,
            cas,
            publisher,
        })
    }

    /// The RA workflow over the store and these CAs; every status change made through it
    /// reaches `sink` (the CRL publisher, and in `igc serve` the OCSP responder too).
    pub fn workflow(&self, sink: Arc<dyn StatusSink>) -> Workflow {
        Workflow::new(
            self.store.clone(),
            self.professions.clone(),
            self.cas.iter().map(|c| c.authority.clone()).collect(),
            sink,
        )
    }

    /// The CA that issues `profile`: the one named by `ca` (its configured name), or the only
    /// one whose policy lists the profile.
    pub fn issuer_for(
        &self,
        profile: Profile,
        ca: Option<&str>,
    ) -> Result<&Arc<CertificateAuthority>> {
        if let Some(name) = ca {
            let Some(c) = self.cas.iter().find(|c| c.config.name == name) else {
                bail!("no CA named {name:?} in the configuration");
            };
            if !c.authority.issues(profile) {
                bail!("CA {name} does not issue the {} profile", profile.as_str());
            }
            return Ok(&c.authority);
        }
        let mut candidates = self.cas.iter().filter(|c| c.authority.issues(profile));
        match (candidates.next(), candidates.next()) {
            (Some(c), None) => Ok(&c.authority),
            (None, _) => bail!("no configured CA issues the {} profile", profile.as_str()),
            (Some(_), Some(_)) => bail!(
                "several CAs issue the {} profile: choose one with --ca",
                profile.as_str()
            ),
        }
    }
}
