//! The backup file: one header line, then a JSON body.
//!
//! ```text
//! wasmclaw-backup 1 sha256=<64 hex digits of the SHA-256 of the body>\n
//! {"created":…,"gateway":"0.1.0","master_key":"<fingerprint>","tenants":[…]}
//! ```
//!
//! Each tenant carries its database rows as stored ([`TenantRows`]: sealed
//! secrets and the data key wrapped by the master key, never a plaintext)
//! and its directory's files (base64). `master_key` is the fingerprint of
//! the master key that wrapped the data keys ([`MasterKey::fingerprint`]),
//! never the key. [`Backup::decode`] checks the header, then the checksum
//! of the whole body, then parses and validates everything, so a truncated,
//! altered or malformed file is refused before anything is applied.

use crate::store::{Bytes, TenantRows};
use crate::vault::{MasterKey, rewrap_data_key};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// The first word of every backup.
pub const MAGIC: &str = "wasmclaw-backup";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// The longest header line read.
const MAX_HEADER: usize = 256;

/// Why a backup was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file does not start with a backup header.
    #[error("not a wasmclaw backup: {0}")]
    NotABackup(String),
    /// The file is of another format version.
    #[error("the backup is of format version {0}; this gateway reads version {VERSION}")]
    Version(String),
    /// The body does not match the header's checksum.
    #[error("the backup is corrupt or truncated: its SHA-256 is {actual}, the header says {expected}")]
    Checksum {
        /// The header's.
        expected: String,
        /// The body's.
        actual: String,
    },
    /// The body does not parse or holds invalid data.
    #[error("the backup's contents are invalid: {0}")]
    Invalid(String),
    /// The secrets were wrapped under another master key.
    #[error(
        "the backup's secrets were encrypted under another master key (fingerprint {backup}, this \
         one's is {current}); re-wrap it first with `wasmclaw backup rewrap FILE --from-key OLD.key \
         --to-key NEW.key -o OUT`"
    )]
    MasterKey {
        /// The backup's fingerprint.
        backup: String,
        /// The current key's.
        current: String,
    },
}

/// A whole backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// When it was made, seconds since the Unix epoch.
    pub created: u64,
    /// The version of the gateway that made it.
    pub gateway: String,
    /// The fingerprint of the master key that wrapped its data keys.
    pub master_key: String,
    /// The tenants, each with its rows and files.
    pub tenants: Vec<TenantBackup>,
}

/// One tenant in a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantBackup {
    /// Its database rows.
    pub rows: TenantRows,
    /// Its directory: every directory and regular file (symlinks are never
    /// followed nor kept).
    pub files: Vec<FileEntry>,
}

/// A directory or a regular file of a tenant's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Its path relative to the tenant's directory, `/`-separated.
    pub path: String,
    /// Whether it is a directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dir: bool,
    /// A file's bytes.
    #[serde(default)]
    pub data: Bytes,
}

/// Whether `path` is a relative path of plain components (no `.`, `..`,
/// empty component, NUL or absolute path).
pub fn valid_relative_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Backup {
    /// The file's bytes: the header line, then the body.
    pub fn encode(&self) -> Result<Vec<u8>, BackupError> {
        let body = serde_json::to_vec(self).map_err(|e| BackupError::Invalid(e.to_string()))?;
        let mut out = format!("{MAGIC} {VERSION} sha256={}\n", hex_sha256(&body)).into_bytes();
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Parses and validates a file made by [`Backup::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Backup, BackupError> {
        let end = bytes
            .iter()
            .take(MAX_HEADER)
            .position(|&b| b == b'\n')
            .ok_or_else(|| BackupError::NotABackup("no header line".into()))?;
        let header = std::str::from_utf8(&bytes[..end])
            .map_err(|_| BackupError::NotABackup("the header is not text".into()))?;
        let mut words = header.split(' ');
        if words.next() != Some(MAGIC) {
            return Err(BackupError::NotABackup(format!("the file does not start with {MAGIC:?}")));
        }
        let version = words.next().unwrap_or_default();
        if version != VERSION.to_string() {
            let shown: String = version.chars().take(16).collect();
            return Err(BackupError::Version(shown));
        }
        let expected = words
            .next()
            .and_then(|w| w.strip_prefix("sha256="))
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or_else(|| BackupError::NotABackup("the header has no sha256=<64 hex digits>".into()))?;
        if words.next().is_some() {
            return Err(BackupError::NotABackup("the header has more than three words".into()));
        }
        let body = &bytes[end + 1..];
        let actual = hex_sha256(body);
        if actual != expected {
            return Err(BackupError::Checksum { expected: expected.to_string(), actual });
        }
        let backup: Backup = serde_json::from_slice(body).map_err(|e| BackupError::Invalid(e.to_string()))?;
        backup.validate()?;
        Ok(backup)
    }

    /// Checks every tenant's rows and file paths, and that no tenant
    /// appears twice.
    pub fn validate(&self) -> Result<(), BackupError> {
        let invalid = BackupError::Invalid;
        if self.master_key.len() != 64 || !self.master_key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("master_key is not a fingerprint (64 hex digits)".into()));
        }
        let mut seen = BTreeSet::new();
        for t in &self.tenants {
            let id = t.rows.check().map_err(invalid)?;
            if !seen.insert(id.clone()) {
                return Err(invalid(format!("tenant {id} appears twice")));
            }
            let mut paths = BTreeSet::new();
            for f in &t.files {
                if !valid_relative_path(&f.path) {
                    let shown: String = f.path.chars().take(80).collect();
                    return Err(invalid(format!("tenant {id}: {shown:?} is not a relative path")));
                }
                if !paths.insert(f.path.as_str()) || (f.dir && !f.data.0.is_empty()) {
                    return Err(invalid(format!(
                        "tenant {id}: {} is listed twice or is a directory with data",
                        f.path
                    )));
                }
            }
        }
        Ok(())
    }

    /// Re-wraps every tenant's data key from the master key `from` to `to`
    /// (offline: no gateway involved). Refused when the backup was not made
    /// under `from`.
    pub fn rewrap(&mut self, from: &MasterKey, to: &MasterKey) -> Result<(), BackupError> {
        if self.master_key != from.fingerprint() {
            return Err(BackupError::Invalid(format!(
                "the backup was made under the master key of fingerprint {}, not under --from-key's {}",
                self.master_key,
                from.fingerprint()
            )));
        }
        for t in &mut self.tenants {
            let tenant = t.rows.check().map_err(BackupError::Invalid)?;
            if let Some(key) = &mut t.rows.data_key {
                key.0 = rewrap_data_key(&tenant, &key.0, from, to)
                    .map_err(|e| BackupError::Invalid(e.to_string()))?;
            }
        }
        self.master_key = to.fingerprint();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sample() -> Backup {
        let rows = TenantRows {
            tenant: "acme".into(),
            record: r#"{"created":1,"suspended":false}"#.into(),
            policy: None,
            data_key: None,
            memory_usage: Some((1, 2)),
            tables: BTreeMap::from([(
                "memory".to_string(),
                vec![(Bytes(b"acme\0\0k".to_vec()), Bytes(b"v".to_vec()))],
            )]),
            cron_jobs: Vec::new(),
            outbox_due: Vec::new(),
        };
        let files = vec![
            FileEntry { path: "files".into(), dir: true, data: Bytes::default() },
            FileEntry { path: "files/a.txt".into(), dir: false, data: Bytes(b"hello".to_vec()) },
        ];
        Backup {
            created: 5,
            gateway: "0.1.0".into(),
            master_key: MasterKey::from_bytes([1; 32]).fingerprint(),
            tenants: vec![TenantBackup { rows, files }],
        }
    }

    #[test]
    fn a_backup_round_trips() {
        let b = sample();
        let bytes = b.encode().unwrap();
        assert!(bytes.starts_with(b"wasmclaw-backup 1 sha256="));
        assert_eq!(Backup::decode(&bytes).unwrap(), b);
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let bytes = sample().encode().unwrap();
        for len in 0..bytes.len() {
            assert!(Backup::decode(&bytes[..len]).is_err(), "truncated to {len} bytes");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(Backup::decode(&bad).is_err(), "byte {i} flipped");
        }
        let mut longer = bytes.clone();
        longer.push(b' ');
        assert!(matches!(Backup::decode(&longer), Err(BackupError::Checksum { .. })));
    }

    #[test]
    fn a_consistent_but_hostile_body_is_refused() {
        let mut b = sample();
        b.tenants[0].files.push(FileEntry { path: "../other/x".into(), dir: false, data: Bytes::default() });
        assert!(matches!(Backup::decode(&b.encode().unwrap()), Err(BackupError::Invalid(_))));
        let mut b = sample();
        b.tenants[0].rows.tables.get_mut("memory").unwrap()[0].0 = Bytes(b"other\0\0k".to_vec());
        assert!(matches!(Backup::decode(&b.encode().unwrap()), Err(BackupError::Invalid(_))));
        let mut b = sample();
        b.tenants.push(b.tenants[0].clone());
        assert!(matches!(Backup::decode(&b.encode().unwrap()), Err(BackupError::Invalid(_))));
        for p in ["", "/etc", "a//b", "a/./b", "a/.."] {
            assert!(!valid_relative_path(p), "{p:?}");
        }
        let v2 = String::from_utf8(sample().encode().unwrap()).unwrap().replacen(" 1 ", " 2 ", 1);
        assert!(matches!(Backup::decode(v2.as_bytes()), Err(BackupError::Version(_))));
    }

    #[test]
    fn rewrapping_moves_the_data_keys_to_the_new_master_key() {
        let (old, new) = (MasterKey::from_bytes([1; 32]), MasterKey::from_bytes([2; 32]));
        let tenant = crate::TenantId::parse("acme").unwrap();
        let mut b = sample();
        b.tenants[0].rows.data_key = Some(Bytes(wrapped_by([1; 32], &tenant)));
        assert!(b.clone().rewrap(&new, &old).is_err(), "--from-key must be the backup's key");
        b.rewrap(&old, &new).unwrap();
        assert_eq!(b.master_key, new.fingerprint());
        let moved = &b.tenants[0].rows.data_key.as_ref().unwrap().0;
        assert!(rewrap_data_key(&tenant, moved, &old, &new).is_err(), "the old key no longer opens it");
        rewrap_data_key(&tenant, moved, &new, &new).unwrap();
    }

    /// A data key wrapped by the master key `key`, made through a vault.
    fn wrapped_by(key: [u8; 32], tenant: &crate::TenantId) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let db = std::sync::Arc::new(crate::store::Db::open(&dir.path().join("db")).unwrap());
        let vault = crate::vault::Vault::new(db.clone(), MasterKey::from_bytes(key));
        vault.put(tenant, "S", b"v").unwrap();
        db.secret_key(tenant).unwrap().unwrap()
    }
}
