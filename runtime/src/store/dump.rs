//! Dumps: every row a tenant owns, as backend-neutral logical rows. What
//! backups are made of ([`crate::backup`]) and what moves a gateway from
//! one backend to another.
//!
//! A dump is, for each table family of [`FAMILIES`], the family's rows as
//! (key, value) pairs in key order. The key is the row's key within the
//! tenant (the tenant itself is not repeated); the value is the row as the
//! store encodes it (JSON text for records, bytes for memory values, sealed
//! secrets, wrapped keys and components). Indexes that follow from the rows
//! (memory usage, the cron and outbox due indexes) are not dumped: a
//! backend rebuilds them on import. Secrets stay sealed: nothing here
//! decrypts. Tokens are credentials, not data: a dump carries none, and an
//! import leaves the tenant's tokens as they are.

use super::StoreError;
use crate::ids::{TenantId, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a family's values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// UTF-8 text (JSON records, memory values).
    Text,
    /// Bytes.
    Bytes,
}

/// How a family's rows are keyed within the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    /// At most one row, under the empty key.
    One,
    /// By name or id (no NUL).
    Name,
    /// By two or more parts joined by NUL.
    Parts,
    /// Memory: `user \0 key` (user empty when tenant-wide).
    Memory,
}

/// One table family of a tenant's dump.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// Its name in a dump.
    pub name: &'static str,
    /// Its key shape.
    pub keys: Keys,
    /// Its values.
    pub values: Values,
}

const fn family(name: &'static str, keys: Keys, values: Values) -> Family {
    Family { name, keys, values }
}

/// Every table family a tenant owns but its tokens: the registry both
/// backends export, import and purge by.
pub const FAMILIES: [Family; 16] = [
    family("tenant", Keys::One, Values::Text),
    family("policy", Keys::One, Values::Text),
    family("data_key", Keys::One, Values::Bytes),
    family("memory", Keys::Memory, Values::Text),
    family("secrets", Keys::Name, Values::Bytes),
    family("skills", Keys::Name, Values::Text),
    family("skill_components", Keys::Name, Values::Bytes),
    family("agents", Keys::Name, Values::Text),
    family("sessions", Keys::Parts, Values::Text),
    family("llm_usage", Keys::Parts, Values::Text),
    family("channels", Keys::Name, Values::Text),
    family("replays", Keys::Name, Values::Text),
    family("usage", Keys::Name, Values::Text),
    family("usage_hours", Keys::Parts, Values::Text),
    family("outbox", Keys::Name, Values::Text),
    family("cron_jobs", Keys::Name, Values::Text),
];

/// The family named `name`.
pub fn family_named(name: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.name == name)
}

/// Bytes, as base64 text in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// Every row one tenant owns (see the module documentation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRows {
    /// The tenant.
    pub tenant: String,
    /// Family name → its rows (key, value) in key order. A family with no
    /// rows may be absent.
    pub families: BTreeMap<String, Vec<(Bytes, Bytes)>>,
}

impl TenantRows {
    /// The rows of `family` (none when absent).
    pub fn rows(&self, family: &str) -> &[(Bytes, Bytes)] {
        self.families.get(family).map(Vec::as_slice).unwrap_or_default()
    }

    /// The one row of a [`Keys::One`] family, if any.
    pub fn one(&self, family: &str) -> Option<&[u8]> {
        self.rows(family).first().map(|(_, v)| v.0.as_slice())
    }

    /// Checks that every family is known, every key has its family's shape,
    /// keys are in order without repeats, values decode as their family
    /// expects, and every job and message belongs to the tenant; the
    /// tenant's id.
    pub fn check(&self) -> Result<TenantId, String> {
        let tenant = TenantId::parse(&self.tenant).map_err(|e| e.to_string())?;
        let Some(record) = self.one("tenant") else {
            return Err(format!("tenant {tenant}: no tenant record"));
        };
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Record {
            created: u64,
            suspended: bool,
        }
        serde_json::from_slice::<Record>(record).map_err(|e| format!("tenant {tenant}'s record: {e}"))?;
        if let Some(p) = self.one("policy") {
            serde_json::from_slice::<crate::policy::TenantPolicy>(p)
                .map_err(|e| format!("tenant {tenant}'s policy: {e}"))?;
        }
        for (name, rows) in &self.families {
            let Some(family) = family_named(name) else {
                return Err(format!("tenant {tenant}: unknown table family {name:?}"));
            };
            if family.keys == Keys::One && rows.len() > 1 {
                return Err(format!("tenant {tenant}: {name} has more than one row"));
            }
            for (i, (k, v)) in rows.iter().enumerate() {
                check_key(family, &k.0).map_err(|why| format!("tenant {tenant}: a key of {name} {why}"))?;
                if i > 0 && rows[i - 1].0 >= *k {
                    return Err(format!("tenant {tenant}: the keys of {name} are not in order"));
                }
                if family.values == Values::Text && std::str::from_utf8(&v.0).is_err() {
                    return Err(format!("tenant {tenant}: a row of {name} is not text"));
                }
                // Records are JSON, which never holds a raw NUL (serde
                // escapes it); PostgreSQL's text columns refuse one, so a
                // dump that has one is refused here, on every backend alike.
                // Memory values are guest text and may hold NUL.
                if family.values == Values::Text && family.keys != Keys::Memory && v.0.contains(&0) {
                    return Err(format!("tenant {tenant}: a row of {name} holds a NUL byte"));
                }
            }
        }
        for (id, json) in self.rows("cron_jobs") {
            let job: crate::records::Job =
                serde_json::from_slice(&json.0).map_err(|e| format!("tenant {tenant}: a cron job: {e}"))?;
            if job.id.as_bytes() != id.0.as_slice()
                || job.tenant != tenant
                || job.skill.is_empty()
                || job.skill.contains('\0')
            {
                return Err(format!("tenant {tenant}: cron job {} does not belong to it", job.id));
            }
        }
        for (id, json) in self.rows("outbox") {
            let m = outbox_head(&json.0).map_err(|e| format!("tenant {tenant}: a message: {e}"))?;
            if m.id.as_bytes() != id.0.as_slice() || m.tenant != tenant.as_str() {
                return Err(format!("tenant {tenant}: a message belongs to another tenant"));
            }
        }
        Ok(tenant)
    }
}

fn check_key(family: &Family, key: &[u8]) -> Result<(), &'static str> {
    match family.keys {
        Keys::One if !key.is_empty() => Err("is not empty"),
        Keys::One => Ok(()),
        Keys::Name if key.is_empty() || key.contains(&0) => Err("is empty or holds NUL"),
        Keys::Parts if key.is_empty() || key.first() == Some(&0) => Err("has an empty first part"),
        Keys::Name | Keys::Parts => std::str::from_utf8(key).map(drop).map_err(|_| "is not text"),
        Keys::Memory => {
            let (user, rest) = split_memory_key(key).ok_or("has no user part")?;
            if !user.is_empty() && UserId::parse(user).is_err() {
                return Err("names an invalid user");
            }
            std::str::from_utf8(rest).map(drop).map_err(|_| "is not text")
        }
    }
}

/// A memory key of a dump split into its user (empty when tenant-wide)
/// and the key within that scope.
pub fn split_memory_key(key: &[u8]) -> Option<(&str, &[u8])> {
    let sep = key.iter().position(|&b| b == 0)?;
    Some((std::str::from_utf8(&key[..sep]).ok()?, &key[sep + 1..]))
}

/// The fields of a stored message that say where it belongs and when it
/// is due.
#[derive(Deserialize)]
pub(crate) struct OutboxHead {
    pub(crate) id: String,
    pub(crate) tenant: String,
    pub(crate) state: String,
    pub(crate) next_attempt: u64,
}

/// Reads a stored message's [`OutboxHead`].
pub(crate) fn outbox_head(json: &[u8]) -> Result<OutboxHead, StoreError> {
    serde_json::from_slice(json).map_err(|e| StoreError::Invalid(format!("a stored message: {e}")))
}
