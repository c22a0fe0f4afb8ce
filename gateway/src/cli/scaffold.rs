//! `wasmclaw skill new NAME`: a skill crate that builds with
//! `cargo build --release --target wasm32-wasip2` and packs with
//! `wasmclaw skill pack`. Its Cargo.lock starts from the dependency
//! versions wasmclaw's own skills are tested with.

use std::path::{Path, PathBuf};
use wasmclaw::Error;
use wasmclaw::manifest::valid_skill_name;

/// Options of `skill new`.
#[derive(clap::Args, Debug)]
pub(crate) struct NewArgs {
    /// The skill's name: 1-64 lower-case letters, digits or dashes.
    pub(crate) name: String,
    /// Directory to create (default: ./NAME). Must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// The wasmclaw guest SDK (`guest-sdk/` of the wasmclaw source tree).
    /// Default: the one this binary was built from.
    #[arg(long, value_name = "DIR")]
    pub(crate) sdk: Option<PathBuf>,
}

const CARGO_TOML: &str = r#"[package]
name = "{{name}}"
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
wasmclaw-sdk = { path = "{{sdk}}" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# A crate of its own, never a member of an enclosing workspace.
[workspace]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
panic = "abort"
"#;

const LIB_RS: &str = r#"//! `{{name}}`: a wasmclaw skill. It greets someone by name.
//!
//! Each call runs in a fresh WebAssembly instance. What the skill may do
//! beyond computing is what its component imports (`wasmclaw_sdk::memory`,
//! `http`, `secrets`, …), and each import beyond `memory` and `log` must be
//! declared in skill.toml: `wasmclaw skill inspect` shows them.

use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    name: String,
}

#[derive(Serialize)]
struct Output {
    greeting: String,
}

struct Handler;

impl Skill for Handler {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "{{name}}";
    // Must equal `version` in skill.toml.
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Greets someone by name.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "required": ["name"],
            "properties": { "name": { "type": "string" } }
        })
    }

    fn run(input: Input) -> Result<Output, Error> {
        if input.name.is_empty() {
            return Err(Error::invalid("name: must not be empty"));
        }
        Ok(Output { greeting: format!("Hello, {}!", input.name) })
    }
}

export_skill!(Handler);
"#;

const SKILL_TOML: &str = r#"# The skill's manifest: packed and signed with the component.
name = "{{name}}"
version = "0.1.0"
description = "Greets someone by name."
input_schema = { type = "object", required = ["name"], properties = { name = { type = "string" } } }

# What the skill asks for. Every capability the component imports beyond
# memory and log must be declared here, or install refuses it.
[permissions]
# http = ["https://api.example.com"]
# secrets = ["API_KEY"]
# messaging = true
# cron = { max_jobs = 1, min_interval_secs = 3600 }

# Limits it wants (the tenant's and the operator's caps still apply).
[limits]
# fuel = 100000000
# memory_bytes = 16777216
# timeout_ms = 2000
"#;

const README: &str = r#"# {{name}}

A wasmclaw skill: `src/lib.rs` is the code, `skill.toml` its manifest (name,
version, input schema, the permissions it asks for).

```sh
cargo build --release --target wasm32-wasip2     # rustup target add wasm32-wasip2
wasmclaw skill inspect target/wasm32-wasip2/release/{{artifact}}.wasm --manifest skill.toml
wasmclaw keys generate --out publisher.key       # once; keep it secret
wasmclaw skill pack --component target/wasm32-wasip2/release/{{artifact}}.wasm \
  --manifest skill.toml --key publisher.key -o {{name}}.wcpkg
wasmclaw skill install {{name}}.wcpkg --tenant TENANT   # the gateway must trust your key
```

The component's imports are its permissions: `wasmclaw skill inspect` lists
them, and install refuses one that `skill.toml` does not declare. Raise
`version` (here and in Cargo.toml) for each release: a gateway refuses a
lower or equal version over an installed one, and shows any permission the
new version adds before accepting it.
"#;

const GITIGNORE: &str = "/target\n*.wcpkg\n*.key\n";

/// The lockfile of wasmclaw's own skills: the versions the SDK is tested with.
const CARGO_LOCK: &str = include_str!("../../../skills/Cargo.lock");

/// Creates the skill crate.
pub(crate) fn new_skill(args: NewArgs) -> anyhow::Result<()> {
    let name = &args.name;
    if !valid_skill_name(name) {
        return Err(Error::InvalidInput(format!(
            "skill name {name:?}: use 1-64 lower-case letters, digits or dashes"
        ))
        .into());
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::Conflict(format!("{} exists and is not empty", dir.display())).into());
    }
    let sdk = sdk_path(args.sdk.as_deref())?;
    let sdk_text = sdk.to_str().ok_or_else(|| Error::InvalidInput("the SDK path is not UTF-8".into()))?;
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{artifact}}", &name.replace('-', "_"))
            .replace("{{sdk}}", sdk_text)
    };
    let files: [(&str, String); 6] = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("Cargo.lock", CARGO_LOCK.to_string()),
        ("src/lib.rs", fill(LIB_RS)),
        ("skill.toml", fill(SKILL_TOML)),
        ("README.md", fill(README)),
        (".gitignore", GITIGNORE.to_string()),
    ];
    for (rel, text) in &files {
        let path = dir.join(rel);
        let io = |e| Error::Io { context: format!("cannot write {}", path.display()), source: e };
        std::fs::create_dir_all(path.parent().unwrap_or(&dir)).map_err(io)?;
        std::fs::write(&path, text).map_err(io)?;
    }
    println!("created skill {name} in {}", dir.display());
    println!("next:");
    println!(
        "  cargo build --release --target wasm32-wasip2 --manifest-path {}",
        dir.join("Cargo.toml").display()
    );
    println!(
        "  wasmclaw skill pack --component {} --manifest {} --key publisher.key -o {name}.wcpkg",
        dir.join("target/wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_"))).display(),
        dir.join("skill.toml").display()
    );
    Ok(())
}

/// The SDK directory: `--sdk`, else the source tree this binary was built in.
fn sdk_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = given
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-sdk")));
    match dir.canonicalize() {
        Ok(d) if d.join("Cargo.toml").is_file() => Ok(d),
        _ => Err(Error::InvalidInput(format!(
            "no wasmclaw guest SDK at {}: pass --sdk PATH (the guest-sdk/ directory of the wasmclaw source)",
            dir.display()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str, dir: &Path) -> NewArgs {
        NewArgs { name: name.into(), dir: Some(dir.to_path_buf()), sdk: None }
    }

    #[test]
    fn a_scaffold_has_a_valid_manifest_and_cargo_toml() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("my-skill");
        new_skill(args("my-skill", &dir)).unwrap();
        let m = wasmclaw::manifest::Manifest::load(&dir.join("skill.toml")).unwrap();
        assert_eq!((m.name.as_str(), m.version.as_str()), ("my-skill", "0.1.0"));
        let cargo: toml::Value =
            toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
        assert_eq!(cargo["package"]["name"].as_str(), Some("my-skill"));
        assert_eq!(cargo["package"]["version"].as_str(), Some(m.version.as_str()), "describe's version");
        let sdk = cargo["dependencies"]["wasmclaw-sdk"]["path"].as_str().unwrap();
        assert!(Path::new(sdk).join("Cargo.toml").is_file(), "{sdk}");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("const NAME: &'static str = \"my-skill\";"), "{lib}");
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains("release/my_skill.wasm"), "{readme}");
    }

    #[test]
    fn bad_names_non_empty_dirs_and_missing_sdks_are_refused() {
        let d = tempfile::tempdir().unwrap();
        for bad in ["", "My", "a b", "../x"] {
            let e = new_skill(args(bad, &d.path().join("x"))).unwrap_err();
            assert_eq!(crate::cli::exit_code(&e), 3, "{bad:?}: {e}");
        }
        std::fs::write(d.path().join("file"), "x").unwrap();
        let e = new_skill(args("ok", d.path())).unwrap_err();
        assert_eq!(crate::cli::exit_code(&e), 17, "{e}");
        let e = new_skill(NewArgs { sdk: Some(d.path().join("nowhere")), ..args("ok", &d.path().join("y")) })
            .unwrap_err();
        assert!(e.to_string().contains("--sdk"), "{e}");
        assert!(!d.path().join("y").exists(), "nothing written on refusal");
    }
}
