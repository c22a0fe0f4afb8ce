//! Trusted publishers: the operator's list of keys whose signed packages
//! may be installed. Removing a key disables every skill it signed, in every
//! tenant, at their next call; adding it back re-enables them. Both are
//! audited with the skills they affect. This module holds the records and
//! the name rule; [`crate::services::trust`] keeps the keys.

use crate::ids::TenantId;
use serde::Serialize;
use std::collections::HashMap;

/// An installed skill a trust change affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedSkill {
    /// Its tenant.
    #[serde(serialize_with = "as_str")]
    pub tenant: TenantId,
    /// Its name.
    pub skill: String,
}

fn as_str<S: serde::Serializer>(t: &TenantId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// Whether `name` is a valid publisher name: 1–64 of `a-z`, `0-9`, `-`,
/// `_`, `.`, starting with a letter or digit (so never `.` or `..`, which
/// URLs resolve away: such a key could not be named in a path).
pub fn valid_publisher_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// The trusted keys as held in memory: key text → publisher name.
pub(crate) type TrustCache = HashMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_names() {
        assert!(valid_publisher_name("acme-labs_2.io"));
        for bad in ["", "Acme", "a b", "a/b", ".", "..", ".acme", "-a", "_a", &"a".repeat(65)] {
            assert!(!valid_publisher_name(bad), "{bad:?}");
        }
    }
}
