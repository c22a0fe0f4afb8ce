//! The vault: tenants' secret values, encrypted at rest.
//!
//! Two levels of keys:
//!
//! - the **master key** (32 bytes) never touches the database: it comes from
//!   the environment variable `WASMCLAW_MASTER_KEY` (64 hex characters) or
//!   from `<data_dir>/master.key` (64 hex characters, mode 0600, created on
//!   first start from the OS random generator);
//! - each tenant has a random 32-byte **data key**, made on first use and
//!   stored wrapped (sealed) by the master key.
//!
//! Every value is sealed with XChaCha20-Poly1305 and a fresh random 24-byte
//! nonce. A sealed blob is `1 || nonce (24) || ciphertext || tag (16)`, the
//! first byte being the format version. The associated data binds each blob
//! to where it belongs, so a blob copied to another tenant or another name
//! fails to open instead of yielding the wrong secret:
//!
//! - a wrapped data key: `"wasmclaw:data-key:" || tenant`;
//! - a secret value: `"wasmclaw:secret:" || tenant || "\0" || name`.
//!
//! Tenant ids cannot contain `:` or `\0` and secret names cannot contain
//! `\0`, so these strings are unambiguous. Keys and decrypted values live in
//! [`Zeroizing`] buffers, wiped when dropped; nothing here prints a key or a
//! value (errors name the tenant and the secret, never its content).

use crate::ids::TenantId;
use crate::manifest::valid_secret_name;
use crate::store::{Db, StoreError};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A decrypted secret value; its memory is wiped when dropped.
pub type SecretValue = Zeroizing<Vec<u8>>;

/// Largest secret value accepted, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// The environment variable that, when set, holds the master key (64 hex
/// characters) instead of the key file.
pub const MASTER_KEY_ENV: &str = "WASMCLAW_MASTER_KEY";
/// The master key file's name in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// The first byte of every sealed blob.
const FORMAT_VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
/// Most bytes read from the key file (64 hex characters and a newline fit).
const MAX_KEY_FILE_BYTES: u64 = 256;

/// Why a vault operation failed.
#[derive(thiserror::Error, Debug)]
pub enum VaultError {
    /// The secret name is not valid.
    #[error("{0:?} is not a secret name (1 to 64 of A-Z, 0-9 and _, starting with a letter)")]
    InvalidName(String),
    /// The value is larger than [`MAX_SECRET_BYTES`].
    #[error("the secret value is {size} bytes, the most is {max}")]
    TooLarge {
        /// The value's size, in bytes.
        size: usize,
        /// The largest size accepted, in bytes.
        max: usize,
    },
    /// The master key could not be loaded or created.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A stored blob does not open: a wrong master key, or data altered or
    /// moved in the database.
    #[error("the vault cannot open its data: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("vault storage: {0}")]
    Store(#[from] StoreError),
}

/// The master key: 32 bytes, wiped when dropped, never printed.
pub struct MasterKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A master key of the given bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> MasterKey {
        MasterKey(Zeroizing::new(bytes))
    }

    /// The master key from the environment variable `WASMCLAW_MASTER_KEY`
    /// when it is set, else from `<data_dir>/master.key`, which is created
    /// (mode 0600) when absent. See [`MasterKey::load_or_create_with`].
    pub fn load_or_create(data_dir: &Path) -> Result<MasterKey, VaultError> {
        let env = match std::env::var(MASTER_KEY_ENV) {
            Ok(v) => Some(v),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(VaultError::MasterKey(format!(
                    "{MASTER_KEY_ENV} is set but is not text; it must be 64 hex characters"
                )));
            }
        };
        Self::load_or_create_with(env, data_dir)
    }

    /// Like [`MasterKey::load_or_create`] with the environment variable's
    /// value passed in (`None`: not set).
    ///
    /// - `Some(text)`: `text` must be 64 hex characters (surrounding white
    ///   space is ignored); the file is not looked at.
    /// - `None`: `<data_dir>/master.key` must hold 64 hex characters and be
    ///   readable by its owner only (no group or other permission bits). When
    ///   it does not exist, it is created with 32 bytes from the OS random
    ///   generator: written to a temporary file of mode 0600 in the same
    ///   directory, synced, then renamed into place (never replacing a file
    ///   another process created meanwhile), so it is never readable by
    ///   anyone else, and never half-written.
    pub fn load_or_create_with(env: Option<String>, data_dir: &Path) -> Result<MasterKey, VaultError> {
        if let Some(text) = env {
            let text = Zeroizing::new(text);
            return parse_hex_key(&text, &format!("the environment variable {MASTER_KEY_ENV}"));
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match read_key_file(&path)? {
            Some(key) => Ok(key),
            None => create_key_file(&path),
        }
    }
}

impl MasterKey {
    /// A fingerprint of the key, safe to show and to store: the hex SHA-256
    /// of a domain-separated string and the key (the key cannot be derived
    /// from it). Backups record it, to tell a wrong master key up front.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"wasmclaw:master-key-fingerprint:v1\0");
        h.update(&self.0[..]);
        hex::encode(h.finalize())
    }

    /// The key in a key file (64 hex characters, readable by its owner
    /// only), as `master.key` holds it; an error when there is none.
    pub fn from_file(path: &Path) -> Result<MasterKey, VaultError> {
        read_key_file(path)?
            .ok_or_else(|| VaultError::MasterKey(format!("there is no key file {}", path.display())))
    }
}

/// A tenant's data key wrapped by `from`, wrapped by `to` instead (for a
/// backup restored under another master key). `Corrupt` when `from` does
/// not open it.
pub fn rewrap_data_key(
    tenant: &TenantId,
    wrapped: &[u8],
    from: &MasterKey,
    to: &MasterKey,
) -> Result<Vec<u8>, VaultError> {
    let plain = open(&from.0, &data_key_aad(tenant), wrapped)
        .map_err(|why| VaultError::Corrupt(format!("the data key of tenant {tenant}: {why}")))?;
    seal(&to.0, &data_key_aad(tenant), &plain)
}

/// Parses 64 hex characters (after trimming white space) into a key. The
/// error never shows the text.
fn parse_hex_key(text: &str, source: &str) -> Result<MasterKey, VaultError> {
    let text = text.trim();
    if text.len() != 2 * KEY_LEN {
        return Err(VaultError::MasterKey(format!(
            "{source} must be 64 hex characters (32 bytes); it has {}",
            text.chars().count()
        )));
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    hex::decode_to_slice(text, &mut key[..]).map_err(|_| {
        VaultError::MasterKey(format!(
            "{source} must be 64 hex characters (32 bytes); it has characters that are not hex digits"
        ))
    })?;
    Ok(MasterKey(key))
}

fn key_error(path: &Path, what: &str, e: impl fmt::Display) -> VaultError {
    VaultError::MasterKey(format!("cannot {what} {}: {e}", path.display()))
}

/// Reads the key file; `None` when it does not exist.
fn read_key_file(path: &Path) -> Result<Option<MasterKey>, VaultError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(key_error(path, "open", e)),
    };
    // Judge the file opened, not the path (which could change meanwhile).
    let meta = file.metadata().map_err(|e| key_error(path, "inspect", e))?;
    if !meta.is_file() {
        return Err(VaultError::MasterKey(format!("{} is not a regular file", path.display())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(VaultError::MasterKey(format!(
                "{path} is accessible to group or others (mode {mode:03o}); \
                 restrict it with `chmod 600 {path}`",
                path = path.display()
            )));
        }
    }
    // Capacity for the whole (bounded) read, so the buffer never moves and
    // leaves an unwiped copy behind.
    let mut text = Zeroizing::new(String::with_capacity(2 * MAX_KEY_FILE_BYTES as usize));
    file.take(MAX_KEY_FILE_BYTES).read_to_string(&mut text).map_err(|e| key_error(path, "read", e))?;
    parse_hex_key(&text, &format!("the key file {}", path.display())).map(Some)
}

/// Creates the key file with a fresh random key (see
/// [`MasterKey::load_or_create_with`]).
fn create_key_file(path: &Path) -> Result<MasterKey, VaultError> {
    let dir: PathBuf = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng
        .try_fill_bytes(&mut key[..])
        .map_err(|e| VaultError::MasterKey(format!("the operating system's random generator failed: {e}")))?;
    let text = Zeroizing::new(hex::encode(&key[..]));

    let mut builder = tempfile::Builder::new();
    builder.prefix(".master.key.").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(|e| key_error(&dir, "create a file in", e))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.write_all(b"\n"))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| key_error(tmp.path(), "write", e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {}
        // Another process created the file first: use its key.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            return read_key_file(path)?
                .ok_or_else(|| VaultError::MasterKey(format!("{} vanished while created", path.display())));
        }
        Err(e) => return Err(key_error(path, "create", e.error)),
    }
    // Make the rename itself durable.
    #[cfg(unix)]
    File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| key_error(&dir, "sync", e))?;
    tracing::info!(path = %path.display(), "created a new master key");
    Ok(MasterKey(key))
}

/// Associated data of a tenant's wrapped data key.
fn data_key_aad(tenant: &TenantId) -> Vec<u8> {
    [b"wasmclaw:data-key:".as_slice(), tenant.as_str().as_bytes()].concat()
}

/// Associated data of one secret value.
fn secret_aad(tenant: &TenantId, name: &str) -> Vec<u8> {
    [b"wasmclaw:secret:".as_slice(), tenant.as_str().as_bytes(), b"\0", name.as_bytes()].concat()
}

/// Seals `plaintext` under `key`: `1 || nonce || ciphertext || tag`.
fn seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&nonce);
    // Encrypted in place: the plaintext copy is overwritten, and the
    // capacity above means the buffer never moves.
    out.extend_from_slice(plaintext);
    let tag = cipher
        .encrypt_inout_detached(&XNonce::from(nonce), aad, (&mut out[HEADER_LEN..]).into())
        .map_err(|_| VaultError::Corrupt("encryption failed".into()))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Opens a blob made by [`seal`]; the error says why, without content.
fn open(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<SecretValue, String> {
    if sealed.len() < HEADER_LEN + TAG_LEN {
        return Err(format!("it is {} bytes, too short to be sealed data", sealed.len()));
    }
    if sealed[0] != FORMAT_VERSION {
        return Err(format!("unknown format version {}", sealed[0]));
    }
    let nonce = XNonce::try_from(&sealed[1..HEADER_LEN]).map_err(|_| "bad nonce".to_string())?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut buf = Zeroizing::new(sealed[HEADER_LEN..].to_vec());
    cipher.decrypt_in_place(&nonce, aad, &mut *buf).map_err(|_| {
        "authentication failed (a wrong master key, or data altered or moved to another tenant or name)"
            .to_string()
    })?;
    Ok(buf)
}

pub(crate) fn check_name(name: &str) -> Result<(), VaultError> {
    if valid_secret_name(name) {
        return Ok(());
    }
    // Never echo an unbounded or control-laden string back.
    let shown = name.chars().take(80).map(|c| if c.is_control() { '?' } else { c }).collect();
    Err(VaultError::InvalidName(shown))
}

/// Tenants' secrets, encrypted at rest in the database (see the module
/// documentation for the scheme).
pub struct Vault {
    db: Arc<Db>,
    master: MasterKey,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault { .. }")
    }
}

impl Vault {
    /// A vault over `db`, with `master` wrapping the tenants' data keys.
    pub fn new(db: Arc<Db>, master: MasterKey) -> Vault {
        Vault { db, master }
    }

    /// Stores (or replaces) the tenant's secret `name`, durably. The name
    /// must be a valid secret name and the value at most
    /// [`MAX_SECRET_BYTES`]. Creates the tenant's data key on first use.
    pub fn put(&self, tenant: &TenantId, name: &str, value: &[u8]) -> Result<(), VaultError> {
        check_name(name)?;
        if value.len() > MAX_SECRET_BYTES {
            return Err(VaultError::TooLarge { size: value.len(), max: MAX_SECRET_BYTES });
        }
        let key = self.data_key_or_create(tenant)?;
        let sealed = seal(&key, &secret_aad(tenant, name), value)?;
        self.db.put_secret(tenant, name, &sealed)?;
        Ok(())
    }

    /// The tenant's secret `name`, decrypted; `None` when not set.
    /// `Err(Corrupt)` when the stored blob does not open (a wrong master
    /// key, or data altered or moved in the database).
    pub fn get(&self, tenant: &TenantId, name: &str) -> Result<Option<SecretValue>, VaultError> {
        check_name(name)?;
        let Some(sealed) = self.db.secret(tenant, name)? else {
            return Ok(None);
        };
        let Some(wrapped) = self.db.secret_key(tenant)? else {
            return Err(VaultError::Corrupt(format!("tenant {tenant} has a secret {name} but no data key")));
        };
        let key = self.unwrap_data_key(tenant, &wrapped)?;
        let value = open(&key, &secret_aad(tenant, name), &sealed)
            .map_err(|why| VaultError::Corrupt(format!("the secret {name} of tenant {tenant}: {why}")))?;
        Ok(Some(value))
    }

    /// The names of the tenant's secrets, sorted.
    pub fn names(&self, tenant: &TenantId) -> Result<Vec<String>, VaultError> {
        Ok(self.db.secret_names(tenant)?)
    }

    /// The tenant's secrets with the size of each value in bytes (read from
    /// the sealed blobs' lengths, without opening them), sorted by name.
    pub fn sizes(&self, tenant: &TenantId) -> Result<Vec<(String, usize)>, VaultError> {
        let mut out = Vec::new();
        for name in self.db.secret_names(tenant)? {
            if let Some(sealed) = self.db.secret(tenant, &name)? {
                out.push((name, sealed.len().saturating_sub(HEADER_LEN + TAG_LEN)));
            }
        }
        Ok(out)
    }

    /// Deletes the tenant's secret `name`, durably; `false` when it was not
    /// set.
    pub fn delete(&self, tenant: &TenantId, name: &str) -> Result<bool, VaultError> {
        check_name(name)?;
        Ok(self.db.delete_secret(tenant, name)?)
    }

    /// The fingerprint of the master key ([`MasterKey::fingerprint`]).
    pub fn master_fingerprint(&self) -> String {
        self.master.fingerprint()
    }

    /// Checks that the master key opens `wrapped` as the tenant's data key.
    pub fn check_data_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<(), VaultError> {
        self.unwrap_data_key(tenant, wrapped).map(drop)
    }

    /// The tenant's data key, made and stored (wrapped) if it has none.
    fn data_key_or_create(&self, tenant: &TenantId) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
        if let Some(wrapped) = self.db.secret_key(tenant)? {
            return self.unwrap_data_key(tenant, &wrapped);
        }
        let mut fresh = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(&mut fresh[..]);
        let wrapped = seal(&self.master.0, &data_key_aad(tenant), &fresh[..])?;
        // Atomic: when another call made a key meanwhile, use that one.
        let stored = self.db.secret_key_or_insert(tenant, &wrapped)?;
        self.unwrap_data_key(tenant, &stored)
    }

    fn unwrap_data_key(
        &self,
        tenant: &TenantId,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
        let plain = open(&self.master.0, &data_key_aad(tenant), wrapped)
            .map_err(|why| VaultError::Corrupt(format!("the data key of tenant {tenant}: {why}")))?;
        if plain.len() != KEY_LEN {
            return Err(VaultError::Corrupt(format!(
                "the data key of tenant {tenant} is {} bytes, not {KEY_LEN}",
                plain.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&plain);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn vault_at(path: &Path, master: [u8; 32]) -> Vault {
        Vault::new(Arc::new(Db::open(path).unwrap()), MasterKey::from_bytes(master))
    }

    fn setup() -> (tempfile::TempDir, PathBuf, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let v = vault_at(&path, [7; 32]);
        (dir, path, v)
    }

    #[test]
    fn put_get_names_delete() {
        let (_d, _p, v) = setup();
        let a = t("acme");
        assert_eq!(v.get(&a, "API_KEY").unwrap(), None);
        v.put(&a, "API_KEY", b"k-123").unwrap();
        v.put(&a, "OTHER", b"").unwrap();
        assert_eq!(v.get(&a, "API_KEY").unwrap().unwrap().as_slice(), b"k-123");
        assert_eq!(v.get(&a, "OTHER").unwrap().unwrap().as_slice(), b"");
        v.put(&a, "API_KEY", b"k-456").unwrap();
        assert_eq!(v.get(&a, "API_KEY").unwrap().unwrap().as_slice(), b"k-456");
        assert_eq!(v.names(&a).unwrap(), vec!["API_KEY".to_string(), "OTHER".to_string()]);
        assert!(v.delete(&a, "API_KEY").unwrap());
        assert!(!v.delete(&a, "API_KEY").unwrap());
        assert_eq!(v.get(&a, "API_KEY").unwrap(), None);
        // Another tenant sees nothing.
        assert!(v.names(&t("other")).unwrap().is_empty());
        assert_eq!(v.get(&t("other"), "OTHER").unwrap(), None);
    }

    #[test]
    fn sealed_format_is_versioned_and_nonces_are_fresh() {
        let (_d, _p, v) = setup();
        let a = t("acme");
        v.put(&a, "K", b"same").unwrap();
        let first = v.db.secret(&a, "K").unwrap().unwrap();
        v.put(&a, "K", b"same").unwrap();
        let second = v.db.secret(&a, "K").unwrap().unwrap();
        assert_eq!(first.len(), 1 + 24 + 4 + 16);
        assert_eq!(first[0], 1);
        assert_ne!(first[1..25], second[1..25], "each seal has a fresh nonce");
        let wrapped = v.db.secret_key(&a).unwrap().unwrap();
        assert_eq!(wrapped.len(), 1 + 24 + 32 + 16);
        assert_eq!(wrapped[0], 1);
    }

    #[test]
    fn invalid_names_and_large_values_are_refused() {
        let (_d, _p, v) = setup();
        let a = t("acme");
        for bad in ["", "lower", "1ABC", "A-B", "A\0B", &"A".repeat(65)] {
            assert!(matches!(v.put(&a, bad, b"x"), Err(VaultError::InvalidName(_))), "{bad:?}");
            assert!(matches!(v.get(&a, bad), Err(VaultError::InvalidName(_))), "{bad:?}");
            assert!(matches!(v.delete(&a, bad), Err(VaultError::InvalidName(_))), "{bad:?}");
        }
        v.put(&a, "BIG", &vec![1; MAX_SECRET_BYTES]).unwrap();
        let e = v.put(&a, "BIG", &vec![1; MAX_SECRET_BYTES + 1]).unwrap_err();
        assert!(
            matches!(e, VaultError::TooLarge { size, max } if size == MAX_SECRET_BYTES + 1 && max == MAX_SECRET_BYTES)
        );
        assert_eq!(v.get(&a, "BIG").unwrap().unwrap().len(), MAX_SECRET_BYTES);
    }

    #[test]
    fn blob_moved_to_another_tenant_or_name_does_not_open() {
        let (_d, _p, v) = setup();
        let (a, b) = (t("tenant-a"), t("tenant-b"));
        v.put(&a, "TOKEN", b"value-of-a").unwrap();
        v.put(&b, "TOKEN", b"value-of-b").unwrap();
        let blob = v.db.secret(&a, "TOKEN").unwrap().unwrap();

        // Under tenant B (whose data key differs, and whose AAD differs).
        v.db.put_secret(&b, "TOKEN", &blob).unwrap();
        assert!(matches!(v.get(&b, "TOKEN"), Err(VaultError::Corrupt(_))));
        // Under another name of tenant A (same data key, other AAD).
        v.db.put_secret(&a, "OTHER", &blob).unwrap();
        assert!(matches!(v.get(&a, "OTHER"), Err(VaultError::Corrupt(_))));
        // Tenant A's wrapped data key copied to tenant B does not open either.
        let wrapped_a = v.db.secret_key(&a).unwrap().unwrap();
        v.db.put_secret_key(&b, &wrapped_a).unwrap();
        v.db.put_secret(&b, "TOKEN", &blob).unwrap();
        assert!(matches!(v.get(&b, "TOKEN"), Err(VaultError::Corrupt(_))));
        // A's own value is intact.
        assert_eq!(v.get(&a, "TOKEN").unwrap().unwrap().as_slice(), b"value-of-a");
    }

    #[test]
    fn tampered_blobs_do_not_open() {
        let (_d, _p, v) = setup();
        let a = t("acme");
        v.put(&a, "K", b"secret-value").unwrap();
        let blob = v.db.secret(&a, "K").unwrap().unwrap();
        let mut flipped = blob.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let mut version = blob.clone();
        version[0] = 2;
        for bad in [flipped, version, blob[..20].to_vec(), Vec::new()] {
            v.db.put_secret(&a, "K", &bad).unwrap();
            assert!(matches!(v.get(&a, "K"), Err(VaultError::Corrupt(_))));
        }
        // A secret without a data key is corrupt, not absent.
        v.db.put_secret(&t("nokey"), "K", &blob).unwrap();
        assert!(matches!(v.get(&t("nokey"), "K"), Err(VaultError::Corrupt(_))));
    }

    #[test]
    fn the_value_is_not_in_the_database_file() {
        let (_d, path, v) = setup();
        let value = b"plain-text-secret-0123456789-ZZZ";
        v.put(&t("acme"), "K", value).unwrap();
        let sealed = v.db.secret(&t("acme"), "K").unwrap().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // The file does hold the write (so the search below means something).
        assert!(bytes.windows(sealed.len()).any(|w| w == sealed));
        assert!(!bytes.windows(value.len()).any(|w| w == value));
        let hex = hex::encode(value);
        assert!(!bytes.windows(hex.len()).any(|w| w == hex.as_bytes()));
        // The master key is not in it either.
        assert!(!bytes.windows(32).any(|w| w == [7u8; 32]));
    }

    #[test]
    fn a_wrong_master_key_cannot_open() {
        let (_d, path, v) = setup();
        v.put(&t("acme"), "K", b"value").unwrap();
        drop(v);
        let wrong = vault_at(&path, [8; 32]);
        assert!(matches!(wrong.get(&t("acme"), "K"), Err(VaultError::Corrupt(_))));
        // Nor can it write under the tenant's key (it would be unreadable).
        assert!(matches!(wrong.put(&t("acme"), "L", b"v"), Err(VaultError::Corrupt(_))));
    }

    #[test]
    fn reopening_with_the_same_master_key_reads_back() {
        let (_d, path, v) = setup();
        v.put(&t("acme"), "K", b"persisted").unwrap();
        drop(v);
        let again = vault_at(&path, [7; 32]);
        assert_eq!(again.get(&t("acme"), "K").unwrap().unwrap().as_slice(), b"persisted");
    }

    #[test]
    fn debug_prints_no_key() {
        let k = MasterKey::from_bytes([0xAB; 32]);
        let shown = format!("{k:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        let (_d, _p, v) = setup();
        assert_eq!(format!("{v:?}"), "Vault { .. }");
    }

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn expected() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn master_key_from_env() {
        let dir = tempfile::tempdir().unwrap();
        let k = MasterKey::load_or_create_with(Some(HEX.into()), dir.path()).unwrap();
        assert_eq!(*k.0, expected());
        let k =
            MasterKey::load_or_create_with(Some(format!(" {}\n", HEX.to_uppercase())), dir.path()).unwrap();
        assert_eq!(*k.0, expected());
        // The env wins: no file is made.
        assert!(!dir.path().join(MASTER_KEY_FILE).exists());
        for bad in ["", "abc", &HEX[..62], &format!("{}zz", &HEX[..62]), &format!("{HEX}00")] {
            let e = MasterKey::load_or_create_with(Some(bad.to_string()), dir.path()).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, VaultError::MasterKey(_)), "{bad:?}");
            assert!(msg.contains(MASTER_KEY_ENV) && msg.contains("64 hex"), "{msg}");
            if bad.len() > 8 {
                assert!(!msg.contains(&bad[..8]), "the error shows the value: {msg}");
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn master_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = MasterKey::load_or_create_with(None, dir.path()).unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert_eq!(hex::decode(text.trim()).unwrap(), first.0.to_vec());
        assert_ne!(*first.0, [0; 32]);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(MASTER_KEY_FILE)]);
        let second = MasterKey::load_or_create_with(None, dir.path()).unwrap();
        assert_eq!(*first.0, *second.0);
    }

    #[cfg(unix)]
    #[test]
    fn master_key_file_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        std::fs::write(&path, format!("{HEX}\n")).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = MasterKey::load_or_create_with(None, dir.path()).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("chmod 600") && msg.contains(&path.display().to_string()), "{msg}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let k = MasterKey::load_or_create_with(None, dir.path()).unwrap();
        assert_eq!(*k.0, expected());
        // The file is never rewritten.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{HEX}\n"));
    }

    #[cfg(unix)]
    #[test]
    fn master_key_file_with_bad_content_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MASTER_KEY_FILE);
        for bad in ["", "not hex", &"g".repeat(64), &"0".repeat(1000)] {
            std::fs::write(&path, bad).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let e = MasterKey::load_or_create_with(None, dir.path()).unwrap_err();
            assert!(e.to_string().contains("64 hex"), "{e}");
        }
    }

    #[test]
    fn master_key_in_a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = MasterKey::load_or_create_with(None, &dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, VaultError::MasterKey(_)), "{e}");
    }
}
