//! The vault on a real database: what it stores, that a blob opens only
//! where it was sealed, and that no key or value is ever shown.

use super::*;
use std::path::{Path, PathBuf};

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
