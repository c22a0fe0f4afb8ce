//! The master key: 32 bytes from the environment variable
//! [`MASTER_KEY_ENV`] or from the key file [`MASTER_KEY_FILE`] in the data
//! directory, which is made on first start (mode 0600, written whole and
//! renamed into place) and refused when others may read it. The key is
//! wiped when dropped and never printed; only its fingerprint is shown.

use super::{KEY_LEN, VaultError};
use rand::TryRngCore;
use rand::rngs::OsRng;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The environment variable that, when set, holds the master key (64 hex
/// characters) instead of the key file.
pub const MASTER_KEY_ENV: &str = "WASMCLAW_MASTER_KEY";
/// The master key file's name in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Most bytes read from the key file (64 hex characters and a newline fit).
const MAX_KEY_FILE_BYTES: u64 = 256;

/// The master key: 32 bytes, wiped when dropped, never printed.
pub struct MasterKey(pub(super) Zeroizing<[u8; KEY_LEN]>);

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

    /// A key for another use than the vault's, derived from this one and
    /// `label` (HMAC-SHA256, domain-separated): every process with the same
    /// master key derives the same key, and neither reveals the other.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        use hmac::{KeyInit, Mac};
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.0[..])
            .expect("HMAC accepts keys of any length");
        mac.update(b"wasmclaw:derived-key:v1\0");
        mac.update(label.as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    }

    /// The key in a key file (64 hex characters, readable by its owner
    /// only), as `master.key` holds it; an error when there is none.
    pub fn from_file(path: &Path) -> Result<MasterKey, VaultError> {
        read_key_file(path)?
            .ok_or_else(|| VaultError::MasterKey(format!("there is no key file {}", path.display())))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn expected() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn a_derived_key_is_the_same_for_the_same_master_key_and_label_only() {
        let (a, b) = (MasterKey::from_bytes([7; KEY_LEN]), MasterKey::from_bytes([8; KEY_LEN]));
        assert_eq!(*a.derive("cluster-hop"), *MasterKey::from_bytes([7; KEY_LEN]).derive("cluster-hop"));
        assert_ne!(*a.derive("cluster-hop"), *a.derive("other"));
        assert_ne!(*a.derive("cluster-hop"), *b.derive("cluster-hop"));
        assert_ne!(&a.derive("cluster-hop")[..], &a.0[..], "not the master key itself");
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
