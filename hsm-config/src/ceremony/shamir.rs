//! Shamir secret sharing over GF(2^8) (AES polynomial x^8+x^4+x^3+x+1).
//!
//! Each byte of the secret is the constant term of its own random polynomial
//! of degree `threshold - 1`; share `x` holds the polynomials' values at `x`.
//! Any `threshold` shares give the secret back by Lagrange interpolation at 0;
//! fewer reveal nothing about it.

use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80;
        a <<= 1;
        if carry != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8); a is never 0 here (share indexes are 1..=255
    // and their pairwise differences are non-zero).
    let mut result = 1u8;
    let mut base = a;
    let mut exp = 254u32;
    while exp > 0 {
        if exp & 1 != 0 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        exp >>= 1;
    }
    result
}

/// One share: its x coordinate (1..=255) and one byte per secret byte.
#[derive(Clone, PartialEq, Eq)]
pub struct Share {
    /// x coordinate, never 0.
    pub index: u8,
    /// Values of the polynomials at `index`.
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("index", &self.index)
            .field("value", &"<secret>")
            .finish()
    }
}

/// Splits `secret` into `total` shares, any `threshold` of which rebuild it.
pub fn split(secret: &[u8], threshold: u8, total: u8) -> Result<Vec<Share>> {
    if threshold < 2 || threshold > total {
        return Err(Error::Ceremony(format!(
            "need 2 <= threshold ({threshold}) <= custodians ({total})"
        )));
    }
    let mut rng = rand::rngs::OsRng;
    let mut shares: Vec<Share> = (1..=total)
        .map(|index| Share {
            index,
            value: Zeroizing::new(Vec::with_capacity(secret.len())),
        })
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; usize::from(threshold)]);
    for &byte in secret {
        coeffs[0] = byte;
        rng.fill_bytes(&mut coeffs[1..]);
        for share in &mut shares {
            // Horner's rule from the highest coefficient.
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = gf_mul(y, share.index) ^ c;
            }
            share.value.push(y);
        }
    }
    Ok(shares)
}

/// Rebuilds the secret from shares (at least the threshold; all must be
/// genuine — the caller checks the result against a commitment).
pub fn combine(shares: &[Share]) -> Result<Zeroizing<Vec<u8>>> {
    let first = shares
        .first()
        .ok_or_else(|| Error::Ceremony("no share given".into()))?;
    let len = first.value.len();
    for (i, s) in shares.iter().enumerate() {
        if s.index == 0 {
            return Err(Error::Ceremony("share index 0 is invalid".into()));
        }
        if s.value.len() != len {
            return Err(Error::Ceremony("shares have different lengths".into()));
        }
        if shares[..i].iter().any(|o| o.index == s.index) {
            return Err(Error::Ceremony(format!("share {} given twice", s.index)));
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len]);
    for (j, sj) in shares.iter().enumerate() {
        // Lagrange basis polynomial l_j evaluated at 0:
        // prod_{m != j} x_m / (x_m - x_j); subtraction is XOR in GF(2^8).
        let mut basis = 1u8;
        for (m, sm) in shares.iter().enumerate() {
            if m != j {
                basis = gf_mul(basis, gf_mul(sm.index, gf_inv(sm.index ^ sj.index)));
            }
        }
        for (out, &y) in secret.iter_mut().zip(sj.value.iter()) {
            *out ^= gf_mul(y, basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "a = {a}");
        }
    }

    #[test]
    fn any_threshold_subset_rebuilds_the_secret() {
        let secret: Vec<u8> = (0..32).map(|i| i * 7 + 3).collect();
        let shares = split(&secret, 3, 5).unwrap();
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let subset = [shares[a].clone(), shares[b].clone(), shares[c].clone()];
                    assert_eq!(&*combine(&subset).unwrap(), &secret);
                }
            }
        }
        // All five work too.
        assert_eq!(&*combine(&shares).unwrap(), &secret);
    }

    #[test]
    fn fewer_or_altered_shares_give_something_else() {
        let secret = vec![0x42u8; 32];
        let shares = split(&secret, 3, 5).unwrap();
        assert_ne!(&*combine(&shares[..2]).unwrap(), &secret);
        let mut bad = shares[..3].to_vec();
        bad[1].value[0] ^= 1;
        assert_ne!(&*combine(&bad).unwrap(), &secret);
    }

    #[test]
    fn bad_parameters_and_duplicates() {
        assert!(split(b"x", 1, 3).is_err());
        assert!(split(b"x", 4, 3).is_err());
        let shares = split(b"xy", 2, 3).unwrap();
        assert!(combine(&[shares[0].clone(), shares[0].clone()]).is_err());
        assert!(combine(&[]).is_err());
    }
}
