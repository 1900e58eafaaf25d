//! Custodian share files of a token secret, and the PINs derived from it.
//!
//! `init-token` draws a 32-byte secret, derives the token's SO and user PINs
//! from it, and splits it M-of-N among custodians. Each share file carries a
//! commitment to the secret (a domain-separated SHA-256) and the digest of
//! every share, so a wrong, altered or foreign share is detected — and named
//! — before any `C_Login`: wrong shares can never exhaust the PIN counter.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cryptoki::types::AuthPin;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::shamir::{self, Share};
use crate::config::write_secret_file;
use crate::error::{Error, Result};

const FORMAT: &str = "igc-pin-share/1";
const SECRET_LEN: usize = 32;

/// One custodian's share file (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareFile {
    /// Always `igc-pin-share/1`.
    pub format: String,
    /// Token whose PINs this share protects.
    pub token_label: String,
    /// Name of the custodian who holds this share.
    pub custodian: String,
    /// Shares needed to rebuild the secret (M).
    pub threshold: u8,
    /// Shares made (N).
    pub total: u8,
    /// x coordinate of this share (1..=N).
    pub index: u8,
    /// The share, hex.
    pub share: String,
    /// SHA-256("igc-pin-share/1 secret" ‖ secret), hex.
    pub secret_commitment: String,
    /// Digest of every share of the set, by index, hex.
    pub share_digests: BTreeMap<u8, String>,
}

impl ShareFile {
    /// Parses one share file and checks what it can alone: format, hex,
    /// length, and that the share matches its own recorded digest.
    pub fn parse(bytes: &[u8]) -> Result<ShareFile> {
        let f: ShareFile = serde_json::from_slice(bytes)
            .map_err(|e| Error::Ceremony(format!("not a share file: {e}")))?;
        if f.format != FORMAT {
            return Err(Error::Ceremony(format!("unknown format {:?}", f.format)));
        }
        if f.index == 0 || f.index > f.total || f.threshold < 2 || f.threshold > f.total {
            return Err(Error::Ceremony(
                "inconsistent index, threshold or total".into(),
            ));
        }
        let value = f.value()?;
        match f.share_digests.get(&f.index) {
            Some(d) if *d == share_digest(f.index, &value) => Ok(f),
            _ => Err(Error::Ceremony(
                "share does not match its recorded digest (altered?)".into(),
            )),
        }
    }

    fn value(&self) -> Result<Zeroizing<Vec<u8>>> {
        let value = Zeroizing::new(
            hex::decode(&self.share).map_err(|_| Error::Ceremony("share is not hex".into()))?,
        );
        if value.len() != SECRET_LEN {
            return Err(Error::Ceremony("share has the wrong length".into()));
        }
        Ok(value)
    }
}

fn share_digest(index: u8, value: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(b" share");
    h.update([index]);
    h.update(value);
    hex::encode(h.finalize())
}

fn commitment(secret: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(b" secret");
    h.update(secret);
    hex::encode(h.finalize())
}

/// The secret shared among custodians, with the PINs derived from it.
pub struct TokenSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(<secret>)")
    }
}

impl TokenSecret {
    /// Draws a new random secret.
    pub fn generate() -> Self {
        let mut s = Zeroizing::new(vec![0u8; SECRET_LEN]);
        rand::rngs::OsRng.fill_bytes(&mut s);
        TokenSecret(s)
    }

    fn derive(&self, purpose: &str) -> AuthPin {
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        h.update(purpose.as_bytes());
        h.update(&*self.0);
        AuthPin::from(hex::encode(h.finalize()))
    }

    /// The token's user PIN.
    pub fn user_pin(&self) -> AuthPin {
        self.derive(" user-pin")
    }

    /// The token's security officer PIN.
    pub fn so_pin(&self) -> AuthPin {
        self.derive(" so-pin")
    }

    /// Splits the secret into one share file per custodian, written into
    /// `dir` as `<token>-<custodian>.share.json` (mode 0600, never
    /// overwritten). Returns the paths written.
    pub fn write_shares(
        &self,
        token_label: &str,
        custodians: &[String],
        threshold: u8,
        dir: &Path,
    ) -> Result<Vec<PathBuf>> {
        let total = u8::try_from(custodians.len())
            .map_err(|_| Error::Ceremony("at most 255 custodians".into()))?;
        let paths = share_paths(token_label, custodians, dir);
        for p in &paths {
            if p.exists() {
                return Err(Error::Ceremony(format!(
                    "{} exists; share files are never overwritten",
                    p.display()
                )));
            }
        }
        let shares = shamir::split(&self.0, threshold, total)?;
        let digests: BTreeMap<u8, String> = shares
            .iter()
            .map(|s| (s.index, share_digest(s.index, &s.value)))
            .collect();
        let commit = commitment(&self.0);
        for ((share, custodian), path) in shares.iter().zip(custodians).zip(&paths) {
            let file = ShareFile {
                format: FORMAT.into(),
                token_label: token_label.into(),
                custodian: custodian.clone(),
                threshold,
                total,
                index: share.index,
                share: hex::encode(&*share.value),
                secret_commitment: commit.clone(),
                share_digests: digests.clone(),
            };
            let json = Zeroizing::new(
                serde_json::to_vec_pretty(&file).map_err(|e| Error::Encoding(e.to_string()))?,
            );
            write_secret_file(path, &json)?;
        }
        Ok(paths)
    }

    /// Rebuilds the secret from share files, checking everything that can be
    /// checked without the token: format, same set, distinct custodians,
    /// enough shares, each share's digest, and the commitment.
    pub fn from_share_files(token_label: &str, files: &[PathBuf]) -> Result<Self> {
        let mut loaded: Vec<(PathBuf, ShareFile)> = Vec::new();
        for path in files {
            let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
            let f = ShareFile::parse(&bytes)
                .map_err(|e| Error::Ceremony(format!("{}: {e}; share refused", path.display())))?;
            loaded.push((path.clone(), f));
        }
        let (first_path, first) = loaded
            .first()
            .ok_or_else(|| Error::Ceremony("no share file given".into()))?;
        for (path, f) in &loaded {
            let bad =
                |what: &str| Error::Ceremony(format!("{}: {what}; share refused", path.display()));
            if f.token_label != token_label {
                return Err(bad(&format!(
                    "belongs to token {:?}, not {token_label:?}",
                    f.token_label
                )));
            }
            if f.threshold != first.threshold
                || f.total != first.total
                || f.secret_commitment != first.secret_commitment
                || f.share_digests != first.share_digests
            {
                return Err(bad(&format!(
                    "does not belong to the same share set as {}",
                    first_path.display()
                )));
            }
        }
        for (i, (path, f)) in loaded.iter().enumerate() {
            if loaded[..i].iter().any(|(_, o)| o.index == f.index) {
                return Err(Error::Ceremony(format!(
                    "{}: share {} of custodian {:?} given twice",
                    path.display(),
                    f.index,
                    f.custodian
                )));
            }
        }
        if loaded.len() < usize::from(first.threshold) {
            return Err(Error::Ceremony(format!(
                "{} share(s) given, {} of {} custodians are required",
                loaded.len(),
                first.threshold,
                first.total
            )));
        }
        let mut shares = Vec::with_capacity(loaded.len());
        for (_, f) in &loaded {
            shares.push(Share {
                index: f.index,
                value: f.value()?,
            });
        }
        let secret = shamir::combine(&shares)?;
        if commitment(&secret) != first.secret_commitment {
            return Err(Error::Ceremony(
                "the shares do not rebuild the token secret (a share is wrong)".into(),
            ));
        }
        Ok(TokenSecret(secret))
    }
}

/// Where `write_shares` puts each custodian's file.
pub fn share_paths(token_label: &str, custodians: &[String], dir: &Path) -> Vec<PathBuf> {
    custodians
        .iter()
        .map(|c| dir.join(format!("{token_label}-{c}.share.json")))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use secrecy::ExposeSecret;

    fn custodians() -> Vec<String> {
        ["alice", "bob", "carol"].map(String::from).to_vec()
    }

    #[test]
    fn shares_rebuild_pins_and_reject_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let secret = TokenSecret::generate();
        let paths = secret
            .write_shares("root", &custodians(), 2, dir.path())
            .unwrap();
        let back = TokenSecret::from_share_files("root", &paths[1..]).unwrap();
        assert_eq!(
            back.user_pin().expose_secret(),
            secret.user_pin().expose_secret()
        );
        assert_ne!(
            back.user_pin().expose_secret(),
            back.so_pin().expose_secret()
        );

        // Fewer than M.
        let e = TokenSecret::from_share_files("root", &paths[..1]).unwrap_err();
        assert!(e.to_string().contains("2 of 3"), "{e}");
        // Same share twice.
        let e = TokenSecret::from_share_files("root", &[paths[0].clone(), paths[0].clone()])
            .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
        // Wrong token.
        assert!(TokenSecret::from_share_files("other", &paths).is_err());
        // Never overwritten.
        assert!(secret
            .write_shares("root", &custodians(), 2, dir.path())
            .is_err());

        // Tamper with one byte of bob's share: named, refused.
        let mut f: ShareFile = serde_json::from_slice(&std::fs::read(&paths[1]).unwrap()).unwrap();
        let mut v = hex::decode(&f.share).unwrap();
        v[3] ^= 0x55;
        f.share = hex::encode(v);
        let tampered = dir.path().join("tampered.json");
        std::fs::write(&tampered, serde_json::to_vec(&f).unwrap()).unwrap();
        let e = TokenSecret::from_share_files("root", &[paths[0].clone(), tampered.clone()])
            .unwrap_err();
        assert!(e.to_string().contains("tampered.json"), "{e}");

        // Tamper with the share and its digest in that file: the set no
        // longer matches the others.
        f.share_digests.insert(
            f.index,
            share_digest(f.index, &hex::decode(&f.share).unwrap()),
        );
        std::fs::write(&tampered, serde_json::to_vec(&f).unwrap()).unwrap();
        assert!(TokenSecret::from_share_files("root", &[paths[0].clone(), tampered]).is_err());

        // Garbage.
        let junk = dir.path().join("junk.json");
        std::fs::write(&junk, b"{not json").unwrap();
        assert!(TokenSecret::from_share_files("root", &[paths[0].clone(), junk]).is_err());
    }
}
