//! Builds every skill in `../skills` for `wasm32-wasip2` (release) into
//! `../target/wasm-skills`, copies each skill's `skill.toml` beside its
//! component as `<name>.toml`, and tells the crate where they are. This is
//! what makes one `cargo test` build the skills and run every test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let skills = root.join("skills");
    let target_dir = root.join("target").join("wasm-skills");

    for p in ["wit", "guest-sdk/src", "guest-sdk/Cargo.toml", "skills/Cargo.toml", "skills/Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    let mut crates = Vec::new();
    for entry in std::fs::read_dir(&skills).expect("read skills/") {
        let dir = entry.expect("skills/ entry").path();
        if dir.join("Cargo.toml").exists() {
            for f in ["Cargo.toml", "src", "skill.toml"] {
                println!("cargo:rerun-if-changed={}", dir.join(f).display());
            }
            crates.push(dir);
        }
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(skills.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // The host build's flags and target must not leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_PKG_NAME",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("run cargo for the skills");
    if !status.success() {
        panic!("building the skills failed (is the target installed? `rustup target add wasm32-wasip2`)");
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    assert!(Path::new(&out).join("echo.wasm").exists(), "echo.wasm was not built");
    for dir in crates {
        let name = dir.file_name().unwrap().to_string_lossy().replace('-', "_");
        let manifest = dir.join("skill.toml");
        let dest = out.join(format!("{name}.toml"));
        if manifest.exists() {
            std::fs::copy(&manifest, &dest).expect("copy skill.toml");
        } else {
            let _ = std::fs::remove_file(&dest);
        }
    }
    println!("cargo:rustc-env=WASMCLAW_SKILLS_DIR={}", out.display());
}
