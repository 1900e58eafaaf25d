//! Key generation inside the token and public-key export.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use serde::{Deserialize, Serialize};
use spki::{DecodePublicKey, EncodePublicKey, SubjectPublicKeyInfoOwned};

use crate::error::{Error, Result};
use crate::token::Token;

/// Key types this layer generates and signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeySpec {
    /// ECDSA on NIST P-256, signs with SHA-256.
    EcP256,
    /// ECDSA on NIST P-384, signs with SHA-384.
    EcP384,
    /// RSA 2048 bits.
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits.
    Rsa4096,
}

impl KeySpec {
    /// Short stable name, as in ceremony files (`ec-p256`, `rsa-3072`, …).
    pub fn name(self) -> &'static str {
        match self {
            KeySpec::EcP256 => "ec-p256",
            KeySpec::EcP384 => "ec-p384",
            KeySpec::Rsa2048 => "rsa-2048",
            KeySpec::Rsa3072 => "rsa-3072",
            KeySpec::Rsa4096 => "rsa-4096",
        }
    }

    fn curve_oid(self) -> Option<ObjectIdentifier> {
        match self {
            KeySpec::EcP256 => Some(const_oid::db::rfc5912::SECP_256_R_1),
            KeySpec::EcP384 => Some(const_oid::db::rfc5912::SECP_384_R_1),
            _ => None,
        }
    }

    fn rsa_bits(self) -> Option<u64> {
        match self {
            KeySpec::Rsa2048 => Some(2048),
            KeySpec::Rsa3072 => Some(3072),
            KeySpec::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// Whether this is an RSA key.
    pub fn is_rsa(self) -> bool {
        self.rsa_bits().is_some()
    }
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KeySpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [
            KeySpec::EcP256,
            KeySpec::EcP384,
            KeySpec::Rsa2048,
            KeySpec::Rsa3072,
            KeySpec::Rsa4096,
        ]
        .into_iter()
        .find(|k| k.name() == s)
        .ok_or_else(|| {
            Error::UnsupportedKey(format!(
                "{s:?}; expected ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096"
            ))
        })
    }
}

/// A key in the token, as known from its public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// CKA_LABEL shared by the private and public objects.
    pub label: String,
    /// Key type and size.
    pub spec: KeySpec,
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
}

impl KeyInfo {
    /// The public key as PEM (`PUBLIC KEY`).
    pub fn public_key_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der.clone()))
    }

    /// The parsed SubjectPublicKeyInfo.
    pub fn spki(&self) -> Result<SubjectPublicKeyInfoOwned> {
        Ok(SubjectPublicKeyInfoOwned::from_der(&self.spki_der)?)
    }
}

/// Checks that `label` is a valid label no object of the token has yet, and draws a random
/// `CKA_ID` for the key about to be generated under it.
pub(crate) fn new_key_id(token: &Token, label: &str) -> Result<[u8; 16]> {
    if label.is_empty() || label.len() > 64 {
        return Err(Error::Config("key label must be 1 to 64 bytes".into()));
    }
    if label.starts_with(crate::token::KEY_ID_PREFIX) {
        return Err(Error::Config(format!(
            "key label {label:?} would read as a CKA_ID reference"
        )));
    }
    let exists = token.with_session(|s| {
        s.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])
            .map(|v| !v.is_empty())
    })?;
    if exists {
        return Err(Error::KeyExists(label.to_owned()));
    }
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
    Ok(id)
}

/// Generates a key pair inside the token. The private key is a token object,
/// sensitive, never extractable; the label must be new.
pub fn generate_key(token: &Token, spec: KeySpec, label: &str) -> Result<KeyInfo> {
    let id = new_key_id(token, label)?;
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ]
    };
    let mut public = common(false);
    public.push(Attribute::Verify(true));
    let mut private = common(true);
    private.extend([
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Decrypt(false),
        Attribute::Derive(false),
    ]);
    let mechanism = if let Some(oid) = spec.curve_oid() {
        public.push(Attribute::EcParams(oid.to_der()?));
        Mechanism::EccKeyPairGen
    } else {
        let bits = spec
            .rsa_bits()
            .ok_or_else(|| Error::UnsupportedKey(spec.to_string()))?;
        public.push(Attribute::ModulusBits(bits.into()));
        public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
        Mechanism::RsaPkcsKeyPairGen
    };
    let problems = token.with_session(|s| {
        let (public_handle, private_handle) = s.generate_key_pair(&mechanism, &public, &private)?;
        let problems = private_key_problems(s, private_handle)?;
        if !problems.is_empty() {
            // A key the token made weaker than asked is never left behind.
            s.destroy_object(private_handle)?;
            s.destroy_object(public_handle)?;
        }
        Ok(problems)
    })?;
    token.forget_objects();
    if !problems.is_empty() {
        return Err(Error::UnsupportedKey(format!(
            "the token created key {label:?} with {} (destroyed)",
            problems.join(", ")
        )));
    }
    public_key(token, label)
}

/// What a private key of this layer must read back as: a token object, private, sensitive
/// and never extractable, for signing. Returns the attributes that differ.
pub(crate) fn private_key_problems(
    s: &cryptoki::session::Session,
    key: cryptoki::object::ObjectHandle,
) -> std::result::Result<Vec<String>, cryptoki::error::Error> {
    let wanted = [
        (AttributeType::Token, true),
        (AttributeType::Private, true),
        (AttributeType::Sensitive, true),
        (AttributeType::Extractable, false),
        (AttributeType::AlwaysSensitive, true),
        (AttributeType::NeverExtractable, true),
        (AttributeType::Sign, true),
    ];
    let types: Vec<AttributeType> = wanted.iter().map(|(t, _)| *t).collect();
    let read = s.get_attributes(key, &types)?;
    let mut problems = Vec::new();
    for (attribute_type, want) in wanted {
        let got = read.iter().find_map(|a| match (attribute_type, a) {
            (AttributeType::Token, Attribute::Token(v))
            | (AttributeType::Private, Attribute::Private(v))
            | (AttributeType::Sensitive, Attribute::Sensitive(v))
            | (AttributeType::Extractable, Attribute::Extractable(v))
            | (AttributeType::AlwaysSensitive, Attribute::AlwaysSensitive(v))
            | (AttributeType::NeverExtractable, Attribute::NeverExtractable(v))
            | (AttributeType::Sign, Attribute::Sign(v)) => Some(*v),
            _ => None,
        });
        match got {
            Some(v) if v == want => {}
            Some(v) => problems.push(format!("{attribute_type} {v}")),
            None => problems.push(format!("{attribute_type} unreadable")),
        }
    }
    Ok(problems)
}

/// Checks that the private key labelled `label` is a token object, private, sensitive and
/// never extractable (a key imported or made by another tool may not be).
pub fn check_private_key(token: &Token, label: &str) -> Result<()> {
    let problems = token.with_object(ObjectClass::PRIVATE_KEY, label, private_key_problems)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::UnsupportedKey(format!(
            "private key {label:?}: {}",
            problems.join(", ")
        )))
    }
}

/// Reads the public key labelled `label` and returns it as SPKI.
pub fn public_key(token: &Token, label: &str) -> Result<KeyInfo> {
    let attrs = token.with_object(ObjectClass::PUBLIC_KEY, label, |s, h| {
        s.get_attributes(
            h,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
    })?;
    let (mut key_type, mut params, mut point, mut modulus, mut exponent) =
        (None, None, None, None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(k) => key_type = Some(k),
            Attribute::EcParams(v) => params = Some(v),
            Attribute::EcPoint(v) => point = Some(v),
            Attribute::Modulus(v) => modulus = Some(v),
            Attribute::PublicExponent(v) => exponent = Some(v),
            _ => {}
        }
    }
    let missing = |what: &str| Error::UnsupportedKey(format!("{label}: no {what} attribute"));
    let (spec, spki_der) = match key_type {
        Some(KeyType::EC) => {
            let params = params.ok_or_else(|| missing("CKA_EC_PARAMS"))?;
            let point = point.ok_or_else(|| missing("CKA_EC_POINT"))?;
            let oid = ObjectIdentifier::from_der(&params)?;
            // CKA_EC_POINT is a DER OCTET STRING; some modules return it raw.
            let raw = match OctetString::from_der(&point) {
                Ok(os) => os.as_bytes().to_vec(),
                Err(_) => point,
            };
            if oid == const_oid::db::rfc5912::SECP_256_R_1 {
                let pk = p256::PublicKey::from_sec1_bytes(&raw)
                    .map_err(|e| Error::UnsupportedKey(format!("{label}: bad P-256 point: {e}")))?;
                (KeySpec::EcP256, pk.to_public_key_der()?.into_vec())
            } else if oid == const_oid::db::rfc5912::SECP_384_R_1 {
                let pk = p384::PublicKey::from_sec1_bytes(&raw)
                    .map_err(|e| Error::UnsupportedKey(format!("{label}: bad P-384 point: {e}")))?;
                (KeySpec::EcP384, pk.to_public_key_der()?.into_vec())
            } else {
                return Err(Error::UnsupportedKey(format!("{label}: curve {oid}")));
            }
        }
        Some(KeyType::RSA) => {
            let n = modulus.ok_or_else(|| missing("CKA_MODULUS"))?;
            let e = exponent.ok_or_else(|| missing("CKA_PUBLIC_EXPONENT"))?;
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&n),
                rsa::BigUint::from_bytes_be(&e),
            )
            .map_err(|e| Error::UnsupportedKey(format!("{label}: {e}")))?;
            let spec = match rsa::traits::PublicKeyParts::size(&key) * 8 {
                2048 => KeySpec::Rsa2048,
                3072 => KeySpec::Rsa3072,
                4096 => KeySpec::Rsa4096,
                bits => return Err(Error::UnsupportedKey(format!("{label}: RSA-{bits}"))),
            };
            (spec, key.to_public_key_der()?.into_vec())
        }
        other => {
            return Err(Error::UnsupportedKey(format!(
                "{label}: key type {other:?}"
            )))
        }
    };
    Ok(KeyInfo {
        label: label.to_owned(),
        spec,
        spki_der,
    })
}

/// The `CKA_ID` of the private key `reference` names (a label, or `id:` and hex), or `None`
/// when the key has none: kryoptic leaves the attribute absent rather than empty.
pub fn key_id(token: &Token, reference: &str) -> Result<Option<Vec<u8>>> {
    let attrs = token.with_object(ObjectClass::PRIVATE_KEY, reference, |s, h| {
        s.get_attributes(h, &[AttributeType::Id])
    })?;
    Ok(attrs.into_iter().find_map(|a| match a {
        Attribute::Id(id) if !id.is_empty() => Some(id),
        _ => None,
    }))
}

/// Determines the key spec of a SubjectPublicKeyInfo (for keys outside the
/// token, e.g. a CSR's).
pub fn spec_of_spki(spki_der: &[u8]) -> Result<KeySpec> {
    if let Ok(k) = p256::PublicKey::from_public_key_der(spki_der) {
        let _ = k;
        return Ok(KeySpec::EcP256);
    }
    if p384::PublicKey::from_public_key_der(spki_der).is_ok() {
        return Ok(KeySpec::EcP384);
    }
    if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(spki_der) {
        return match rsa::traits::PublicKeyParts::size(&k) * 8 {
            2048 => Ok(KeySpec::Rsa2048),
            3072 => Ok(KeySpec::Rsa3072),
            4096 => Ok(KeySpec::Rsa4096),
            bits => Err(Error::UnsupportedKey(format!("RSA-{bits}"))),
        };
    }
    Err(Error::UnsupportedKey(
        "not a P-256, P-384 or RSA public key".into(),
    ))
}
