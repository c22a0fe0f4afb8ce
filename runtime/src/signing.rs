//! Publisher keys and the signature over a skill package.
//!
//! A publisher key is an ed25519 key pair. The private half lives in a
//! PKCS#8 PEM file readable by its owner only (`openssl pkey` reads it);
//! the public half is written `ed25519:<base64 of its 32 bytes>`, the form
//! `wasmclaw trust add` takes.
//!
//! # The signed bytes
//!
//! A package's signature is the ed25519 signature (RFC 8032, verified with
//! `verify_strict`) of exactly these 90 bytes:
//!
//! ```text
//! offset  length  content
//!      0      26  b"wasmclaw/skill-package/v1\n"   (the context)
//!     26      32  SHA-256 of the component's bytes
//!     58      32  SHA-256 of the manifest's bytes (the skill.toml text as packed)
//! ```
//!
//! - The context string separates these signatures from anything else the
//!   same key might sign, and from a later version of the format.
//! - Digests rather than the raw bytes keep the message fixed-length: there
//!   is no boundary between the two parts to move, so no pair of
//!   (component, manifest) can be re-split into another pair with the same
//!   message.
//! - Both digests are signed, so neither half can be swapped for another
//!   signed one: the manifest is what grants permissions, the component is
//!   what runs, and the signature covers the pair.
//! - The public key is not in the message: an ed25519 signature already
//!   commits to its key, and `verify_strict` refuses weak keys.
//! - The package's framing (magic, lengths) is not signed; it only carries
//!   the two signed byte strings.

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The context that starts every signed message.
pub const CONTEXT: &[u8; 26] = b"wasmclaw/skill-package/v1\n";

/// The length of the signed message.
pub const MESSAGE_LEN: usize = CONTEXT.len() + 32 + 32;

/// The prefix of a public key's text form.
const PUBLIC_PREFIX: &str = "ed25519:";

/// Why a key or a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// A public key's text is malformed or not a valid ed25519 point.
    #[error("not a publisher public key (expected ed25519:<base64 of 32 bytes>): {0}")]
    BadPublicKey(String),
    /// A private key file cannot be used.
    #[error("{0}")]
    BadKeyFile(String),
    /// The signature does not verify with the key.
    #[error("the signature does not match the component and manifest for key {0}")]
    BadSignature(String),
}

/// A publisher's public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses `ed25519:<base64>` (standard alphabet, padded).
    pub fn parse(text: &str) -> Result<Self, SigningError> {
        let bad = |why: &str| SigningError::BadPublicKey(why.to_string());
        let b64 = text.trim().strip_prefix(PUBLIC_PREFIX).ok_or_else(|| bad("no ed25519: prefix"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad("the key is not base64"))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad("the key is not 32 bytes"))?;
        Self::from_bytes(&bytes)
    }

    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SigningError> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| SigningError::BadPublicKey("not a valid ed25519 key".into()))?;
        if key.is_weak() {
            return Err(SigningError::BadPublicKey("a weak (small-order) key".into()));
        }
        Ok(PublicKey(key))
    }

    /// Its 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Checks `signature` over the package message of `component` and
    /// `manifest`.
    pub fn verify(
        &self,
        component: &[u8],
        manifest: &[u8],
        signature: &[u8; 64],
    ) -> Result<(), SigningError> {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0
            .verify_strict(&signed_message(component, manifest), &sig)
            .map_err(|_| SigningError::BadSignature(self.to_string()))
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// The exact bytes a package signature covers (see the module docs).
pub fn signed_message(component: &[u8], manifest: &[u8]) -> [u8; MESSAGE_LEN] {
    let mut m = [0u8; MESSAGE_LEN];
    m[..CONTEXT.len()].copy_from_slice(CONTEXT);
    m[CONTEXT.len()..CONTEXT.len() + 32].copy_from_slice(&Sha256::digest(component));
    m[CONTEXT.len() + 32..].copy_from_slice(&Sha256::digest(manifest));
    m
}

/// A publisher's private key.
pub struct PublisherKey(SigningKey);

impl PublisherKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rand::fill(&mut seed[..]);
        PublisherKey(SigningKey::from_bytes(&seed))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs the package message of `component` and `manifest`.
    pub fn sign(&self, component: &[u8], manifest: &[u8]) -> [u8; 64] {
        self.0.sign(&signed_message(component, manifest)).to_bytes()
    }

    /// Writes the key as PKCS#8 PEM to a new file readable by its owner only;
    /// refuses to overwrite an existing file.
    pub fn save_new(&self, path: &Path) -> Result<(), SigningError> {
        use std::io::Write;
        let pem = self
            .0
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| SigningError::BadKeyFile(format!("cannot encode the key: {e}")))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .map_err(|e| SigningError::BadKeyFile(format!("cannot create {}: {e}", path.display())))?;
        file.write_all(pem.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| SigningError::BadKeyFile(format!("cannot write {}: {e}", path.display())))
    }

    /// Reads a PKCS#8 PEM key file.
    pub fn load(path: &Path) -> Result<Self, SigningError> {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| SigningError::BadKeyFile(format!("cannot read {}: {e}", path.display())))?,
        );
        SigningKey::from_pkcs8_pem(&text).map(PublisherKey).map_err(|e| {
            SigningError::BadKeyFile(format!(
                "{}: not an ed25519 private key in PKCS#8 PEM: {e}",
                path.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_context_then_both_digests() {
        let m = signed_message(b"component", b"manifest");
        assert_eq!(&m[..26], b"wasmclaw/skill-package/v1\n");
        assert_eq!(hex::encode(&m[26..58]), hex::encode(Sha256::digest(b"component")));
        assert_eq!(hex::encode(&m[58..]), hex::encode(Sha256::digest(b"manifest")));
    }

    #[test]
    fn a_signature_verifies_and_binds_both_halves() {
        let key = PublisherKey::generate();
        let sig = key.sign(b"wasm", b"toml");
        let public = key.public();
        public.verify(b"wasm", b"toml", &sig).unwrap();
        assert!(public.verify(b"wasm!", b"toml", &sig).is_err(), "changed component");
        assert!(public.verify(b"wasm", b"toml!", &sig).is_err(), "changed manifest");
        assert!(public.verify(b"toml", b"wasm", &sig).is_err(), "swapped halves");
        let other = PublisherKey::generate().public();
        let e = other.verify(b"wasm", b"toml", &sig).unwrap_err().to_string();
        assert!(e.contains(&other.to_string()), "{e}");
    }

    #[test]
    fn public_keys_round_trip_and_bad_ones_are_refused() {
        let public = PublisherKey::generate().public();
        assert_eq!(PublicKey::parse(&public.to_string()).unwrap(), public);
        assert_eq!(PublicKey::parse(&format!("  {public}\n")).unwrap(), public);
        for bad in ["", "ed25519:", "ed25519:!!", "rsa:AAAA", "ed25519:AAAA", &public.to_string()[8..]] {
            assert!(PublicKey::parse(bad).is_err(), "{bad:?}");
        }
        // The identity point is a small-order (weak) key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(PublicKey::from_bytes(&identity).is_err());
    }

    #[test]
    fn key_files_are_private_pem_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let key = PublisherKey::generate();
        key.save_new(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(PublisherKey::load(&path).unwrap().public(), key.public());
        let e = PublisherKey::generate().save_new(&path).unwrap_err().to_string();
        assert!(e.contains("cannot create"), "{e}");
        assert_eq!(PublisherKey::load(&path).unwrap().public(), key.public(), "unchanged");
        std::fs::write(dir.path().join("junk"), "not a key").unwrap();
        let e = PublisherKey::load(&dir.path().join("junk")).err().unwrap().to_string();
        assert!(e.contains("PKCS#8"), "{e}");
    }
}
