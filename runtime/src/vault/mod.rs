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
//!
//! The parts: `master_key` (the master key: from the environment or its
//! key file, made on first start, never printed) and `seal` (the sealed
//! blob, its associated data, and the re-wrapping of a data key); the
//! [`Vault`] here keeps the tenants' sealed values in the database.

mod master_key;
mod seal;
#[cfg(test)]
mod tests;

pub use master_key::{MASTER_KEY_ENV, MASTER_KEY_FILE, MasterKey};
pub use seal::rewrap_data_key;

use crate::ids::TenantId;
use crate::manifest::valid_secret_name;
use crate::store::{Db, StoreError};
use rand::RngCore;
use seal::{HEADER_LEN, TAG_LEN, data_key_aad, open, seal, secret_aad};
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A decrypted secret value; its memory is wiped when dropped.
pub type SecretValue = Zeroizing<Vec<u8>>;

/// Largest secret value accepted, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// Bytes of the master key and of every data key.
const KEY_LEN: usize = 32;

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
