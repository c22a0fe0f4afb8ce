//! Credential records: the two credential prefixes, a token's [`Role`] and
//! its stored [`TokenInfo`] (never its secret). Minting, checking and
//! rotating credentials is [`crate::auth`]'s.

use crate::ids::TenantId;
use serde::{Deserialize, Serialize};

/// The prefix of admin keys.
pub const ADMIN_PREFIX: &str = "wca_";
/// The prefix of tenant tokens.
pub const TOKEN_PREFIX: &str = "wct_";

/// What a tenant token may do within its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages the tenant's tokens, skills, policy and secrets, and invokes.
    Admin,
    /// Invokes skills; manages the tenant's memory and cron jobs.
    Member,
    /// Invokes only the skills installed for guests.
    Guest,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }
}

/// A role name that is none of `admin`, `member` and `guest` (an
/// [`crate::Error::InvalidInput`] when it reaches the runtime's error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {shown:?}: use admin, member or guest")]
pub struct UnknownRole {
    shown: String,
}

impl std::str::FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "guest" => Ok(Role::Guest),
            _ => Err(UnknownRole { shown: short(s) }),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// At most 40 printable characters of `s`, for error messages.
pub(crate) fn short(s: &str) -> String {
    s.chars().take(40).map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// A tenant token's record (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its public id (12 hex digits).
    pub id: String,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its role.
    pub role: Role,
    /// A label given when it was minted.
    pub name: String,
    /// When it was minted.
    pub created: u64,
    /// When it was last used (to the minute).
    pub last_used: Option<u64>,
    /// When it stops working (a rotated token in its grace period).
    pub expires: Option<u64>,
}

impl TokenInfo {
    /// The public part of the token: `wct_<tenant>_<id>`.
    pub fn prefix(&self) -> String {
        format!("{TOKEN_PREFIX}{}_{}", self.tenant, self.id)
    }
}

impl Serialize for TokenInfo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Token", 8)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("prefix", &self.prefix())?;
        st.serialize_field("tenant", self.tenant.as_str())?;
        st.serialize_field("role", &self.role)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("created", &self.created)?;
        st.serialize_field("last_used", &self.last_used)?;
        st.serialize_field("expires", &self.expires)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_by_name_only() {
        for r in [Role::Admin, Role::Member, Role::Guest] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        let e = "Admin\u{0}".parse::<Role>().unwrap_err();
        assert_eq!(e.to_string(), "unknown role \"Admin?\": use admin, member or guest");
        assert_eq!("x".repeat(100).parse::<Role>().unwrap_err().shown.len(), 40);
    }
}
