//! Sealing: every value and every wrapped data key is one blob,
//! `1 || nonce (24) || ciphertext || tag (16)`, made with
//! XChaCha20-Poly1305 under associated data that names where it belongs
//! (the tenant, and for a value its name), so a blob moved elsewhere does
//! not open.

use super::{KEY_LEN, MasterKey, SecretValue, VaultError};
use crate::ids::TenantId;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

/// The first byte of every sealed blob.
const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
pub(super) const TAG_LEN: usize = 16;
pub(super) const HEADER_LEN: usize = 1 + NONCE_LEN;

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

/// Associated data of a tenant's wrapped data key.
pub(super) fn data_key_aad(tenant: &TenantId) -> Vec<u8> {
    [b"wasmclaw:data-key:".as_slice(), tenant.as_str().as_bytes()].concat()
}

/// Associated data of one secret value.
pub(super) fn secret_aad(tenant: &TenantId, name: &str) -> Vec<u8> {
    [b"wasmclaw:secret:".as_slice(), tenant.as_str().as_bytes(), b"\0", name.as_bytes()].concat()
}

/// Seals `plaintext` under `key`: `1 || nonce || ciphertext || tag`.
pub(super) fn seal(key: &[u8; KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
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
pub(super) fn open(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<SecretValue, String> {
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
