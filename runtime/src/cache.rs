//! The compiled-component cache.
//!
//! Content-addressed: an artifact's file name is the SHA-256 of the
//! component's bytes plus a digest of the engine's compatibility hash, so a
//! different component, wasmtime version or engine configuration never hits
//! another's artifact. A hit deserializes the precompiled artifact; a miss
//! compiles and writes it atomically (temporary file, fsync, rename).
//!
//! An artifact is `MAGIC || SHA-256(payload) || payload`. The digest is
//! checked before wasmtime sees the payload, so a truncated, corrupted or
//! foreign file is recompiled (and replaced), never deserialized blindly.

use crate::error::Error;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"WCLAWC01";
const HEADER_LEN: usize = MAGIC.len() + 32;

/// How a component was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid artifact was deserialized.
    Hit,
    /// There was no artifact; the component was compiled and cached.
    Miss,
    /// An artifact existed but was refused (the reason); the component was
    /// recompiled and the artifact replaced.
    Replaced(String),
}

/// A directory of precompiled artifacts for one engine.
pub struct CompiledCache {
    dir: PathBuf,
    engine_tag: String,
}

/// Feeds `Hash` output into SHA-256, to turn the engine's compatibility hash
/// into a stable file-name component.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The hex SHA-256 of `bytes`: a component's digest.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `bytes` start like a component (as opposed to a core module or
/// anything else), with a message saying what they are otherwise.
pub fn check_component_header(bytes: &[u8]) -> Result<(), Error> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00]) => Ok(()),
        Some([0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00]) => Err(Error::InvalidSkill(
            "this is a core WebAssembly module, not a component: build the skill with \
             `cargo build --release --target wasm32-wasip2`"
                .into(),
        )),
        _ => Err(Error::InvalidSkill("this is not a WebAssembly component".into())),
    }
}

impl CompiledCache {
    /// A cache in `dir` (created if missing) for `engine`.
    pub fn new(dir: &Path, engine: &Engine) -> Result<Self, Error> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| Error::io(format!("cannot create the cache directory {}", dir.display()), e))?;
        let mut h = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_tag = hex::encode(&h.0.finalize()[..8]);
        Ok(CompiledCache { dir: dir.to_path_buf(), engine_tag })
    }

    /// The artifact path for a component of digest `digest`.
    pub fn path_for(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_tag))
    }

    /// Returns the compiled component for `bytes` (whose digest is
    /// `digest`), from the cache when a valid artifact is there.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(Component, CacheOutcome), Error> {
        let path = self.path_for(digest);
        let outcome = match std::fs::read(&path) {
            Ok(file) => match Self::deserialize(engine, &file) {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "refusing a cached artifact; recompiling");
                    CacheOutcome::Replaced(reason)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => CacheOutcome::Miss,
            Err(e) => CacheOutcome::Replaced(format!("unreadable: {e}")),
        };
        check_component_header(bytes)?;
        let component = Component::new(engine, bytes)
            .map_err(|e| Error::InvalidSkill(format!("cannot compile the component: {e:#}")))?;
        match component.serialize() {
            Ok(payload) => {
                if let Err(e) = self.write_atomically(&path, &payload) {
                    // A cache that cannot be written costs speed, not correctness.
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled cache");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot serialize a compiled component"),
        }
        Ok((component, outcome))
    }

    fn deserialize(engine: &Engine, file: &[u8]) -> Result<Component, String> {
        if file.len() < HEADER_LEN || &file[..MAGIC.len()] != MAGIC {
            return Err("not a wasmclaw cache artifact".into());
        }
        let (want, payload) = file[MAGIC.len()..].split_at(32);
        if Sha256::digest(payload).as_slice() != want {
            return Err("the artifact's digest does not match its contents".into());
        }
        // SAFETY: the payload is byte-for-byte what `Component::serialize`
        // wrote for this engine configuration (the digest above proves the
        // file is intact, the file name binds it to the engine's
        // compatibility hash), and wasmtime checks its own header again.
        unsafe { Component::deserialize(engine, payload) }.map_err(|e| format!("wasmtime refused it: {e}"))
    }

    fn write_atomically(&self, path: &Path, payload: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&Sha256::digest(payload))?;
        tmp.write_all(payload)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAT: &str = r#"(component (core module (func (export "f"))))"#;

    fn setup() -> (tempfile::TempDir, Engine, CompiledCache, Vec<u8>, String) {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompiledCache::new(&dir.path().join("cache"), &engine).unwrap();
        let bytes = wat::parse_str(WAT).unwrap();
        let d = digest(&bytes);
        (dir, engine, cache, bytes, d)
    }

    #[test]
    fn miss_then_hit() {
        let (_d, engine, cache, bytes, d) = setup();
        assert_eq!(cache.load(&engine, &bytes, &d).unwrap().1, CacheOutcome::Miss);
        assert!(cache.path_for(&d).exists());
        assert_eq!(cache.load(&engine, &bytes, &d).unwrap().1, CacheOutcome::Hit);
    }

    #[test]
    fn corrupt_truncated_and_foreign_artifacts_are_recompiled() {
        let (_d, engine, cache, bytes, d) = setup();
        cache.load(&engine, &bytes, &d).unwrap();
        let path = cache.path_for(&d);
        let good = std::fs::read(&path).unwrap();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        let truncated = good[..good.len() / 2].to_vec();
        let foreign = b"\x7fELF definitely not ours".to_vec();
        // A valid wrapper around a payload that is not a wasmtime artifact.
        let mut forged = MAGIC.to_vec();
        forged.extend_from_slice(&Sha256::digest(b"junk"));
        forged.extend_from_slice(b"junk");

        for bad in [flipped, truncated, foreign, forged, Vec::new()] {
            std::fs::write(&path, &bad).unwrap();
            let (_, outcome) = cache.load(&engine, &bytes, &d).unwrap();
            assert!(matches!(outcome, CacheOutcome::Replaced(_)), "{outcome:?}");
            // The bad file was replaced by a good one.
            assert_eq!(cache.load(&engine, &bytes, &d).unwrap().1, CacheOutcome::Hit);
        }
    }

    #[test]
    fn other_engine_configuration_does_not_share_artifacts() {
        let (dir, engine, cache, bytes, d) = setup();
        cache.load(&engine, &bytes, &d).unwrap();
        let mut cfg = wasmtime::Config::new();
        cfg.consume_fuel(true);
        let other = Engine::new(&cfg).unwrap();
        let other_cache = CompiledCache::new(&dir.path().join("cache"), &other).unwrap();
        assert_ne!(other_cache.path_for(&d), cache.path_for(&d));
        assert_eq!(other_cache.load(&other, &bytes, &d).unwrap().1, CacheOutcome::Miss);
    }

    #[test]
    fn non_components_are_invalid_skills() {
        let (_d, engine, cache, _, _) = setup();
        let core = wat::parse_str("(module)").unwrap();
        for (bytes, want) in [(core, "core WebAssembly module"), (b"hello".to_vec(), "not a WebAssembly")] {
            let e = cache.load(&engine, &bytes, &digest(&bytes)).unwrap_err();
            assert!(matches!(&e, Error::InvalidSkill(m) if m.contains(want)), "{e}");
        }
    }
}
