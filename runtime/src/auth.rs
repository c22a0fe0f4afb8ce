//! Credentials: the operator's admin key and tenant tokens.
//!
//! - An admin key is `wca_` + 32 hex digits. It comes from
//!   `WASMCLAW_ADMIN_KEY` or is generated once; only its SHA-256 is stored.
//! - A tenant token is `wct_<tenant>_<id>_<secret>`: `id` is 12 hex digits,
//!   `secret` 32 hex digits (128 bits of OS randomness). Only its SHA-256 is
//!   stored, and compared in constant time. The tenant named in the token
//!   must be the tenant of the stored record.
//!
//! The two classes have different prefixes, so neither can be taken for the
//! other. This module holds their forms, records and hashing;
//! [`crate::services::tokens`] mints, checks and revokes them.

use crate::error::Error;
use crate::ids::TenantId;
use crate::records::{ADMIN_PREFIX, TOKEN_PREFIX, TokenInfo};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// How often `last_used` is written for one token, at most (seconds).
pub(crate) const LAST_USED_RESOLUTION: u64 = 60;

/// Who presented a valid credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator (admin key).
    Operator,
    /// A tenant token.
    Token(TokenInfo),
}

impl Principal {
    /// The actor named in audit records: `operator` or `token:<id>`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Operator => "operator".into(),
            Principal::Token(t) => format!("token:{}", t.id),
        }
    }
}

pub(crate) fn hash(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `bytes` bytes of OS randomness, as hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::Internal(format!("the operating system's random generator failed: {e}")))?;
    Ok(hex::encode(buf))
}

/// A fresh admin key.
pub fn generate_admin_key() -> Result<String, Error> {
    Ok(format!("{ADMIN_PREFIX}{}", random_hex(16)?))
}

pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `key` has the admin key's form.
pub fn is_admin_key(key: &str) -> bool {
    key.strip_prefix(ADMIN_PREFIX).is_some_and(|rest| is_hex(rest, 32))
}

/// Splits a token into its tenant, id and secret, if it has the form.
pub fn parse_token(token: &str) -> Option<(TenantId, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let mut parts = rest.split('_');
    let (tenant, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_hex(id, 12) || !is_hex(secret, 32) {
        return None;
    }
    Some((TenantId::parse(tenant).ok()?, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_forms_are_strict() {
        let ok = format!("wct_acme_{}_{}", "a".repeat(12), "b".repeat(32));
        assert_eq!(parse_token(&ok).unwrap().0.as_str(), "acme");
        for bad in [
            format!("wct_acme_{}_{}", "a".repeat(11), "b".repeat(32)),
            format!("wct_Acme_{}_{}", "a".repeat(12), "b".repeat(32)),
            format!("wct_acme_{}_{}_x", "a".repeat(12), "b".repeat(32)),
            format!("wca_acme_{}_{}", "a".repeat(12), "b".repeat(32)),
            format!("wct_acme_{}_{}", "a".repeat(12), "B".repeat(32)),
        ] {
            assert!(parse_token(&bad).is_none(), "{bad}");
        }
        assert!(is_admin_key(&generate_admin_key().unwrap()));
        assert!(!is_admin_key(&ok), "a token is not an admin key");
        assert!(!is_admin_key("wca_short"));
    }
}
