//! Validated identifiers. A tenant or user id is checked here, once, before
//! it can reach a path, a storage key or a log line; everything downstream
//! takes the validated type, never a raw string.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {shown:?}: {reason}")]
pub struct InvalidId {
    kind: &'static str,
    shown: String,
    reason: &'static str,
}

impl InvalidId {
    fn new(kind: &'static str, raw: &str, reason: &'static str) -> Self {
        // Never echo an unbounded or control-laden string back.
        let shown: String = raw.chars().take(80).map(|c| if c.is_control() { '?' } else { c }).collect();
        InvalidId { kind, shown, reason }
    }
}

/// A tenant id: 1 to 63 characters of `a-z`, `0-9` and `-`, neither starting
/// nor ending with `-`. Safe to use as one path component and as the first
/// component of a storage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    /// The longest tenant id accepted.
    pub const MAX_LEN: usize = 63;

    /// Validates `raw` as a tenant id.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let err = |reason| Err(InvalidId::new("tenant", raw, reason));
        if raw.is_empty() {
            return err("it is empty");
        }
        if raw.len() > Self::MAX_LEN {
            return err("it is longer than 63 characters");
        }
        if !raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return err("only lower-case letters, digits and '-' are allowed");
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return err("it may not start or end with '-'");
        }
        Ok(TenantId(raw.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A user (peer) id within a tenant: 1 to 128 characters of ASCII letters,
/// digits and `. _ : @ + -`. It scopes memory inside the tenant; it never
/// reaches a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    /// The longest user id accepted.
    pub const MAX_LEN: usize = 128;

    /// Validates `raw` as a user id.
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let err = |reason| Err(InvalidId::new("user", raw, reason));
        if raw.is_empty() {
            return err("it is empty");
        }
        if raw.len() > Self::MAX_LEN {
            return err("it is longer than 128 characters");
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:@+".contains(&b)) {
            return err("only ASCII letters, digits and . _ : @ + - are allowed");
        }
        Ok(UserId(raw.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for UserId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_accepted() {
        for ok in ["a", "acme", "acme-2", "0", &"a".repeat(63)] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn tenant_ids_refused() {
        for bad in ["", "-a", "a-", "A", "a b", "../b", "a/b", "a\0b", ".", "..", "é", "a_b", &"a".repeat(64)]
        {
            let e = TenantId::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid tenant id"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn user_ids() {
        for ok in ["alice", "tg:12345", "a.b@c+d-e_f"] {
            assert!(UserId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a\0b", "ü", &"u".repeat(129)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_text_is_bounded_and_printable() {
        let e = TenantId::parse(&format!("\n{}", "x".repeat(1000))).unwrap_err().to_string();
        assert!(e.len() < 200, "{e}");
        assert!(!e.contains('\n'));
    }
}
