//! The HSM side of [`pkix::sealing::SecretSealer`]: AES-256-GCM with a secret key generated
//! inside the online token that never leaves it (CKA_SENSITIVE, not CKA_EXTRACTABLE).
//!
//! Each seal draws a fresh 96-bit IV from the operating system and asks the token for
//! CKM_AES_GCM with a 128-bit tag; the result is IV ‖ ciphertext ‖ tag. Sessions, key-handle
//! caching and recovery are the [`Token`]'s.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};

use pkix::sealing::{SealError, SecretSealer};

use crate::error::{Error, Result};
use crate::keys::new_key_id;
use crate::token::Token;

/// AES-GCM IV length (bytes): the 96 bits GCM is designed for.
pub const IV_LEN: usize = 12;
/// AES-GCM tag length (bytes).
pub const TAG_LEN: usize = 16;
/// AES-GCM tag length (bits), as CKM_AES_GCM takes it.
const TAG_BITS: u64 = 128;
/// AES key length (bytes).
const KEY_LEN: u64 = 32;

/// Generates an AES-256 sealing key inside the token: a token object, private, sensitive,
/// never extractable, for encryption and decryption only. The label must be new; the key's
/// attributes are read back and checked.
pub fn generate_sealing_key(token: &Token, label: &str) -> Result<()> {
    let id = new_key_id(token, label)?;
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(KEY_LEN.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ];
    token.with_session(|s| s.generate_key(&Mechanism::AesKeyGen, &template))?;
    token.forget_objects();
    if let Err(problem) = check_sealing_key(token, label) {
        // A key the token made weaker than asked is never left behind.
        let destroyed =
            token.with_object(ObjectClass::SECRET_KEY, label, |s, h| s.destroy_object(h));
        token.forget_objects();
        if let Err(e) = destroyed {
            tracing::error!(key = label, error = %e, "could not destroy a sealing key that failed its checks");
        }
        return Err(problem);
    }
    Ok(())
}

/// Checks that `label` names an AES-256 secret key of the token that is sensitive, has never
/// been extractable, and may encrypt and decrypt.
pub fn check_sealing_key(token: &Token, label: &str) -> Result<()> {
    let attrs = token.with_object(ObjectClass::SECRET_KEY, label, |s, h| {
        s.get_attributes(
            h,
            &[
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Token,
                AttributeType::Private,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Encrypt,
                AttributeType::Decrypt,
            ],
        )
    })?;
    let mut problems = Vec::new();
    let (mut key_type, mut len) = (None, None);
    // Each flag as read, true when it has the value a sealing key needs.
    let mut flags = std::collections::HashMap::new();
    for a in attrs {
        let (name, good) = match a {
            Attribute::KeyType(k) => {
                key_type = Some(k);
                continue;
            }
            Attribute::ValueLen(l) => {
                len = Some(u64::from(l));
                continue;
            }
            Attribute::Token(b) => ("CKA_TOKEN", b),
            Attribute::Private(b) => ("CKA_PRIVATE", b),
            Attribute::Sensitive(b) => ("CKA_SENSITIVE", b),
            Attribute::Extractable(b) => ("CKA_EXTRACTABLE", !b),
            Attribute::AlwaysSensitive(b) => ("CKA_ALWAYS_SENSITIVE", b),
            Attribute::NeverExtractable(b) => ("CKA_NEVER_EXTRACTABLE", b),
            Attribute::Encrypt(b) => ("CKA_ENCRYPT", b),
            Attribute::Decrypt(b) => ("CKA_DECRYPT", b),
            _ => continue,
        };
        flags.insert(name, good);
    }
    if key_type != Some(KeyType::AES) || len != Some(KEY_LEN) {
        problems.push("not an AES-256 key".to_owned());
    }
    for name in [
        "CKA_TOKEN",
        "CKA_PRIVATE",
        "CKA_SENSITIVE",
        "CKA_EXTRACTABLE",
        "CKA_ALWAYS_SENSITIVE",
        "CKA_NEVER_EXTRACTABLE",
        "CKA_ENCRYPT",
        "CKA_DECRYPT",
    ] {
        if flags.get(name) != Some(&true) {
            let want = if name == "CKA_EXTRACTABLE" {
                "false"
            } else {
                "true"
            };
            problems.push(format!("{name} is not {want}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::UnsupportedKey(format!(
            "sealing key {label:?}: {}",
            problems.join(", ")
        )))
    }
}

/// Seals with an AES-256-GCM key of the token.
#[derive(Debug, Clone)]
pub struct HsmSealer {
    token: Token,
    label: String,
}

impl HsmSealer {
    /// The sealer of key `label`; fails when the token holds no such key, or one that is not
    /// an AES-256 key kept sensitive and unextractable.
    pub fn new(token: &Token, label: &str) -> Result<HsmSealer> {
        check_sealing_key(token, label)?;
        Ok(HsmSealer {
            token: token.clone(),
            label: label.to_owned(),
        })
    }

    /// Label of the key.
    pub fn label(&self) -> &str {
        &self.label
    }
}

fn seal_error(e: Error) -> SealError {
    match e {
        e if e.is_unavailable() => SealError::Unavailable(e.to_string()),
        Error::KeyNotFound(l) => SealError::Unavailable(format!("no sealing key {l:?}")),
        e => SealError::Failed(e.to_string()),
    }
}

impl SecretSealer for HsmSealer {
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, SealError> {
        let mut iv = [0u8; IV_LEN];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);
        let module = self.token.module();
        let sealed = self
            .token
            .with_object(ObjectClass::SECRET_KEY, &self.label, |s, h| {
                let mut iv = iv;
                let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                s.encrypt_init(&Mechanism::AesGcm(params), h)?;
                // No length query: NSS softoken's omits the tag (and then refuses a buffer
                // of the size it gave).
                module.encrypt_into(s, plaintext, plaintext.len() + TAG_LEN)
            })
            .map_err(seal_error)?;
        if sealed.len() != plaintext.len() + TAG_LEN {
            return Err(SealError::Failed(format!(
                "the token returned {} bytes for {} and a {TAG_LEN}-byte tag",
                sealed.len(),
                plaintext.len()
            )));
        }
        let mut out = Vec::with_capacity(IV_LEN + sealed.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, SealError> {
        if sealed.len() < IV_LEN + TAG_LEN {
            return Err(SealError::DoesNotOpen);
        }
        // At least IV_LEN bytes long (checked above): split_at cannot panic.
        let (sealed_iv, body) = sealed.split_at(IV_LEN);
        let opened = self
            .token
            .with_object(ObjectClass::SECRET_KEY, &self.label, |s, h| {
                let mut iv = [0u8; IV_LEN];
                iv.copy_from_slice(sealed_iv);
                let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())?;
                match s.decrypt(&Mechanism::AesGcm(params), h, body) {
                    // SoftHSM2 reports a tag that does not verify as CKR_GENERAL_ERROR, which
                    // the token layer otherwise takes for a lost device (and re-initialises
                    // the module). The session still answering tells the two apart.
                    Err(CkError::Pkcs11(RvError::GeneralError, f))
                        if s.get_session_info().is_ok() =>
                    {
                        Err(CkError::Pkcs11(RvError::EncryptedDataInvalid, f))
                    }
                    other => other,
                }
            });
        match opened {
            Ok(clear) => Ok(clear),
            Err(Error::Pkcs11(CkError::Pkcs11(
                RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange,
                _,
            ))) => Err(SealError::DoesNotOpen),
            Err(e) => Err(seal_error(e)),
        }
    }
}
