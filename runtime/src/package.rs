//! The skill package (`.wcpkg`): a component, its manifest and a publisher's
//! signature over both ([`crate::signing`] defines the signed bytes).
//!
//! ```text
//! offset  length  content
//!      0       8  magic b"\0wcpkg1\n"
//!      8       4  manifest length M, u32 little-endian (at most 64 KiB)
//!     12       M  the manifest (skill.toml, UTF-8)
//!   12+M       4  component length C, u32 little-endian (at most 32 MiB)
//!   16+M       C  the component (.wasm)
//! 16+M+C      32  the publisher's ed25519 public key
//! 48+M+C      64  the signature
//! ```
//!
//! Nothing may follow the signature. Parsing checks the framing only;
//! [`Package::verify`] checks the signature, and the trust decision (is that
//! key trusted?) belongs to the installer.

use crate::signing::{PublicKey, PublisherKey, SigningError};

/// The first bytes of every package (a component starts `\0asm`).
pub const MAGIC: &[u8; 8] = b"\0wcpkg1\n";

/// The largest manifest a package may carry.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// The largest component a package may carry, and the largest accepted at
/// all (an unsigned install is held to it too).
pub const MAX_COMPONENT_BYTES: usize = 32 * 1024 * 1024;

/// Why a package was refused.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The bytes are not a well-formed package.
    #[error("not a valid skill package: {0}")]
    Malformed(String),
    /// The signature or the key is bad.
    #[error(transparent)]
    Signature(#[from] SigningError),
}

/// A parsed package.
#[derive(Clone, PartialEq, Eq)]
pub struct Package {
    /// The manifest's text, exactly as signed.
    pub manifest: String,
    /// The component's bytes, exactly as signed.
    pub component: Vec<u8>,
    /// The key that signed it.
    pub publisher: PublicKey,
    /// The signature.
    pub signature: [u8; 64],
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("manifest_bytes", &self.manifest.len())
            .field("component_bytes", &self.component.len())
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}

/// Whether `bytes` start like a package.
pub fn is_package(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

impl Package {
    /// Packs and signs a component and its manifest.
    pub fn sign(component: Vec<u8>, manifest: String, key: &PublisherKey) -> Result<Package, PackageError> {
        if manifest.len() > MAX_MANIFEST_BYTES {
            return Err(PackageError::Malformed(format!("the manifest is over {MAX_MANIFEST_BYTES} bytes")));
        }
        if component.len() > MAX_COMPONENT_BYTES {
            return Err(PackageError::Malformed(format!(
                "the component is over {MAX_COMPONENT_BYTES} bytes"
            )));
        }
        let signature = key.sign(&component, manifest.as_bytes());
        Ok(Package { manifest, component, publisher: key.public(), signature })
    }

    /// The package's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 8 + self.manifest.len() + self.component.len() + 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.manifest.len() as u32).to_le_bytes());
        out.extend_from_slice(self.manifest.as_bytes());
        out.extend_from_slice(&(self.component.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.component);
        out.extend_from_slice(&self.publisher.to_bytes());
        out.extend_from_slice(&self.signature);
        out
    }

    /// Parses a package's framing (not its signature: see [`Package::verify`]).
    pub fn parse(bytes: &[u8]) -> Result<Package, PackageError> {
        let bad = |m: &str| PackageError::Malformed(m.to_string());
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| bad("it does not start with the package magic"))?;
        let (manifest, rest) = take_sized(rest, MAX_MANIFEST_BYTES, "manifest")?;
        let manifest =
            std::str::from_utf8(manifest).map_err(|_| bad("the manifest is not UTF-8"))?.to_string();
        let (component, rest) = take_sized(rest, MAX_COMPONENT_BYTES, "component")?;
        if rest.len() < 96 {
            return Err(bad("it is truncated: the public key and signature are missing"));
        }
        if rest.len() > 96 {
            return Err(bad("bytes follow the signature"));
        }
        let (Some(key), Some(signature)) =
            (rest.first_chunk::<32>(), rest.get(32..).and_then(|r| r.first_chunk::<64>()))
        else {
            return Err(bad("the key and signature are truncated"));
        };
        let (key, signature) = (*key, *signature);
        Ok(Package {
            manifest,
            component: component.to_vec(),
            publisher: PublicKey::from_bytes(&key)?,
            signature,
        })
    }

    /// Checks the signature with the package's own key.
    pub fn verify(&self) -> Result<(), PackageError> {
        Ok(self.publisher.verify(&self.component, self.manifest.as_bytes(), &self.signature)?)
    }
}

/// Splits a length-prefixed field off `bytes`.
fn take_sized<'a>(bytes: &'a [u8], max: usize, what: &str) -> Result<(&'a [u8], &'a [u8]), PackageError> {
    let bad = |m: String| PackageError::Malformed(m);
    let len: [u8; 4] =
        *bytes.first_chunk::<4>().ok_or_else(|| bad(format!("it is truncated before the {what} length")))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(bad(format!("its {what} is {len} bytes, over the {max}-byte limit")));
    }
    let rest = &bytes[4..];
    if rest.len() < len {
        return Err(bad(format!("it is truncated inside the {what}")));
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg() -> (PublisherKey, Package) {
        let key = PublisherKey::generate();
        let p = Package::sign(b"\0asm\r\0\x01\0rest".to_vec(), "name = \"x\"\n".into(), &key).unwrap();
        (key, p)
    }

    #[test]
    fn a_package_round_trips_and_verifies() {
        let (key, p) = pkg();
        let bytes = p.to_bytes();
        assert!(is_package(&bytes));
        let back = Package::parse(&bytes).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.publisher, key.public());
        back.verify().unwrap();
    }

    #[test]
    fn tampering_with_either_half_breaks_the_signature() {
        let (_, p) = pkg();
        let mut c = p.clone();
        c.component.push(0);
        assert!(matches!(c.verify(), Err(PackageError::Signature(_))));
        let mut m = p.clone();
        m.manifest.push('\n');
        assert!(matches!(m.verify(), Err(PackageError::Signature(_))));
        // Re-signing the same halves with another key does not verify as the first.
        let mut other = p.clone();
        other.publisher = PublisherKey::generate().public();
        assert!(other.verify().is_err());
    }

    #[test]
    fn malformed_framing_is_refused_with_a_reason() {
        let (_, p) = pkg();
        let good = p.to_bytes();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"\0asm\r\0\x01\0".to_vec(), "magic"),
            (MAGIC.to_vec(), "before the manifest length"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            ([good.as_slice(), b"x"].concat(), "follow the signature"),
            ([MAGIC.as_slice(), &u32::MAX.to_le_bytes()].concat(), "over the"),
            ([MAGIC.as_slice(), &2u32.to_le_bytes(), &[0xff, 0xfe]].concat(), "UTF-8"),
            (
                [MAGIC.as_slice(), &0u32.to_le_bytes(), &9u32.to_le_bytes(), b"abc"].concat(),
                "inside the component",
            ),
        ];
        for (bytes, want) in cases {
            let e = Package::parse(&bytes).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
    }
}
