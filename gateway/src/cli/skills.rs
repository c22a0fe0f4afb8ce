//! `wasmclaw skill …`: the offline commands of a skill's life (`new`,
//! `pack`, `verify`, `inspect`) and the remote ones that install, list and
//! remove a tenant's skills.

use super::remote::{Remote, tenant_id};
use super::{Common, cell, items, load_config, print_json, print_table, read_file, time_cell};
use base64::Engine;
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use wasmclaw::manifest::Manifest;
use wasmclaw::package::{self, Package};
use wasmclaw::permissions::{self, ImportStatus};
use wasmclaw::signing::{PublicKey, PublisherKey};
use wasmclaw::{Error, cache};

/// `wasmclaw skill …`.
#[derive(Subcommand, Debug)]
pub(crate) enum SkillCommand {
    /// Create a new skill crate (Cargo.toml, src/lib.rs, skill.toml, README).
    New(super::scaffold::NewArgs),
    /// Pack a component and its manifest into a package signed with a
    /// publisher key.
    Pack {
        /// The component (.wasm, built for wasm32-wasip2).
        #[arg(long, value_name = "FILE")]
        component: PathBuf,
        /// Its manifest (skill.toml).
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
        /// The publisher's private key (from `wasmclaw keys generate`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the package (NAME.wcpkg).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a package's signature offline (exit 23 if it is bad, or signed
    /// by none of the `--trust` keys when some are given).
    Verify {
        /// The package (.wcpkg).
        package: PathBuf,
        /// A trusted publisher key (`ed25519:…`); repeatable.
        #[arg(long, value_name = "PUBKEY")]
        trust: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a component's or package's imports (its real permissions),
    /// exports, manifest, digests and signature; exit 4 if an install would
    /// refuse its imports or exports.
    Inspect {
        /// A component (.wasm) or a package (.wcpkg).
        file: PathBuf,
        /// The manifest of a bare component (default: NAME.toml beside it).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Install a package (or, where the gateway allows it, a bare component)
    /// for a tenant; over an installed skill of that name, upgrade it.
    Install {
        /// The package (.wcpkg), or a bare component (.wasm).
        file: PathBuf,
        /// The tenant to install it for.
        #[arg(long)]
        tenant: String,
        /// The manifest of a bare component (default: NAME.toml beside
        /// NAME.wasm, if any); a package carries its own.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Let the tenant's guest tokens list and invoke it.
        #[arg(long)]
        guest: bool,
        /// Accept an upgrade that widens the skill's permissions.
        #[arg(long)]
        accept_permissions: bool,
        /// Accept a version lower than, or equal to, the installed one.
        #[arg(long)]
        allow_downgrade: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a tenant's installed skills.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove an installed skill.
    Remove {
        /// The skill's name.
        name: String,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `skill` command.
pub(crate) async fn skill(cmd: SkillCommand) -> anyhow::Result<()> {
    match cmd {
        SkillCommand::New(args) => super::scaffold::new_skill(args),
        SkillCommand::Pack { component, manifest, key, out } => pack(&component, &manifest, &key, &out),
        SkillCommand::Verify { package, trust, json } => verify(&package, &trust, json),
        SkillCommand::Inspect { file, manifest, json, common } => inspect(&file, manifest, json, &common),
        SkillCommand::Install {
            file,
            tenant,
            manifest,
            guest,
            accept_permissions,
            allow_downgrade,
            remote,
        } => {
            let tenant = tenant_id(&tenant)?;
            let bytes = read_file(&file, "the skill")?;
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let mut body = json!({
                "guest": guest,
                "accept_permissions": accept_permissions,
                "allow_downgrade": allow_downgrade,
            });
            if package::is_package(&bytes) {
                if manifest.is_some() {
                    return Err(Error::InvalidInput(
                        "a package carries its manifest: drop --manifest".into(),
                    )
                    .into());
                }
                body["package"] = Value::String(b64(&bytes));
            } else {
                body["component"] = Value::String(b64(&bytes));
                if let Some(text) = manifest_beside(&file, manifest)? {
                    body["manifest"] = Value::String(text);
                }
            }
            let answer = remote.client()?.post(&["v1", "tenants", &tenant, "skills"], &body).await?;
            if remote.json {
                print_json(&answer);
            } else {
                print_install(&answer);
            }
            Ok(())
        }
        SkillCommand::List { tenant, remote } => {
            let answer =
                remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "skills"], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                print_skills(items(&answer, "skills"));
            }
            Ok(())
        }
        SkillCommand::Remove { name, tenant, remote } => {
            let answer =
                remote.client()?.delete(&["v1", "tenants", &tenant_id(&tenant)?, "skills", &name]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("removed skill {name}");
            }
            Ok(())
        }
    }
}

/// The manifest given with `--manifest`, else `NAME.toml` beside the
/// component, if any.
fn manifest_beside(component: &Path, given: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    let path = given.or_else(|| Some(component.with_extension("toml")).filter(|m| m.is_file()));
    path.map(|m| {
        String::from_utf8(read_file(&m, "the manifest")?)
            .map_err(|_| Error::InvalidSkill(format!("manifest {}: not UTF-8 text", m.display())).into())
    })
    .transpose()
}

fn pack(component: &Path, manifest: &Path, key: &Path, out: &Path) -> anyhow::Result<()> {
    let bytes = read_file(component, "the component")?;
    cache::check_component_header(&bytes)?;
    let text = String::from_utf8(read_file(manifest, "the manifest")?)
        .map_err(|_| Error::InvalidSkill(format!("manifest {}: not UTF-8 text", manifest.display())))?;
    let parsed = Manifest::load(manifest).map_err(|e| Error::InvalidSkill(format!("manifest {e}")))?;
    let key = PublisherKey::load(key).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let package = Package::sign(bytes, text, &key).map_err(|e| Error::TooLarge(e.to_string()))?;
    write_atomically(out, &package.to_bytes())?;
    println!("packed {} {} into {}", parsed.name, parsed.version, out.display());
    println!("component  sha256:{}", cache::digest(&package.component));
    println!("manifest   sha256:{}", cache::digest(package.manifest.as_bytes()));
    println!("signed by  {}", package.publisher);
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |e: std::io::Error| Error::Io { context: format!("cannot write {}", path.display()), source: e };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Reads and checks a package file: framing, then signature.
fn read_package(path: &Path) -> anyhow::Result<(Package, Result<(), String>)> {
    let bytes = read_file(path, "the package")?;
    let package =
        Package::parse(&bytes).map_err(|e| Error::InvalidSkill(format!("{}: {e}", path.display())))?;
    let signature = package.verify().map_err(|e| e.to_string());
    Ok((package, signature))
}

/// Whether `key` is among the `--trust` keys (`None` when none were given).
fn trusted_by(key: &PublicKey, trust: &[String]) -> anyhow::Result<Option<bool>> {
    if trust.is_empty() {
        return Ok(None);
    }
    let mut keys = Vec::new();
    for t in trust {
        keys.push(PublicKey::parse(t).map_err(|e| Error::InvalidInput(format!("--trust {t:?}: {e}")))?);
    }
    Ok(Some(keys.contains(key)))
}

fn verify(path: &Path, trust: &[String], json: bool) -> anyhow::Result<()> {
    let (package, signature) = read_package(path)?;
    let trusted = trusted_by(&package.publisher, trust)?;
    let manifest = Manifest::parse(&package.manifest).ok();
    if json {
        print_json(&json!({
            "name": manifest.as_ref().map(|m| &m.name),
            "version": manifest.as_ref().map(|m| &m.version),
            "component_digest": cache::digest(&package.component),
            "manifest_digest": cache::digest(package.manifest.as_bytes()),
            "publisher": package.publisher.to_string(),
            "signature": if signature.is_ok() { "valid" } else { "invalid" },
            "trusted": trusted,
        }));
    }
    let key = package.publisher;
    signature.map_err(|e| Error::Untrusted(format!("{}: {e}", path.display())))?;
    if trusted == Some(false) {
        return Err(Error::Untrusted(format!(
            "{}: signed by {key}, which is none of the --trust keys",
            path.display()
        ))
        .into());
    }
    if !json {
        let what =
            manifest.map(|m| format!("{} {}", m.name, m.version)).unwrap_or_else(|| "(bad manifest)".into());
        let trust_note =
            if trusted == Some(true) { "a trusted key" } else { "a key not checked against any --trust" };
        println!("ok: {what}: the signature is valid, by {key} ({trust_note})");
    }
    Ok(())
}

fn inspect(path: &Path, manifest: Option<PathBuf>, json: bool, common: &Common) -> anyhow::Result<()> {
    let config = load_config(common)?;
    let bytes = read_file(path, "the skill")?;
    let (component, manifest_text, signature) = if package::is_package(&bytes) {
        if manifest.is_some() {
            return Err(Error::InvalidInput("a package carries its manifest: drop --manifest".into()).into());
        }
        let (p, sig) = read_package(path)?;
        let signature = json!({
            "publisher": p.publisher.to_string(),
            "valid": sig.is_ok(),
            "error": sig.err(),
        });
        (p.component, Some(p.manifest), signature)
    } else {
        (bytes, manifest_beside(path, manifest)?, json!("unsigned"))
    };
    let parsed = manifest_text
        .as_deref()
        .map(|t| Manifest::parse(t).map_err(|e| Error::InvalidSkill(format!("manifest: {e}"))))
        .transpose()?;
    let (imports, exports) = wasmclaw::runtime::component_interfaces(&component)?;
    let allow = &config.trust.allow_imports;
    let statuses: Vec<ImportStatus> =
        imports.iter().map(|i| permissions::classify(i, parsed.as_ref(), allow)).collect();
    let empty = Manifest::parse("name = \"x\"\nversion = \"0\"\n").map_err(anyhow::Error::msg)?;
    let verdict = permissions::check(&imports, &exports, parsed.as_ref().unwrap_or(&empty), allow);
    let answer = json!({
        "file": path.display().to_string(),
        "kind": if signature.is_string() { "component" } else { "package" },
        "digest": cache::digest(&component),
        "manifest_digest": manifest_text.as_deref().map(|t| cache::digest(t.as_bytes())),
        "signature": signature,
        "manifest": parsed.as_ref().map(|m| json!({
            "name": m.name, "version": m.version, "description": m.description,
            "capabilities": permissions::declared(m),
            "http": m.permissions.http.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "secrets": m.permissions.secrets,
            "limits": {"fuel": m.limits.fuel, "memory_bytes": m.limits.memory_bytes, "timeout_ms": m.limits.timeout_ms},
        })),
        "imports": imports.iter().zip(&statuses).map(|(i, s)| json!({"interface": i, "status": s})).collect::<Vec<_>>(),
        "exports": exports,
        "installable": verdict.is_ok(),
        "problem": verdict.as_ref().err(),
        "warnings": verdict.clone().unwrap_or_default(),
    });
    if json {
        print_json(&answer);
    } else {
        print_inspection(&answer);
    }
    match verdict {
        Ok(_) => Ok(()),
        Err(problem) => Err(Error::InvalidSkill(problem).into()),
    }
}

fn print_inspection(a: &Value) {
    let m = &a["manifest"];
    let skill = if m.is_null() {
        "(no manifest)".to_string()
    } else {
        format!("{} {}", cell(&m["name"]), cell(&m["version"]))
    };
    println!("skill       {skill}");
    println!("file        {} ({})", cell(&a["file"]), cell(&a["kind"]));
    println!("digest      sha256:{}", cell(&a["digest"]));
    if let Some(d) = a["manifest_digest"].as_str() {
        println!("manifest    sha256:{d}");
    }
    let s = &a["signature"];
    let sig = match s.as_str() {
        Some(text) => text.to_string(),
        None if s["valid"] == true => format!("valid, by {}", cell(&s["publisher"])),
        None => format!("INVALID ({}), claims {}", cell(&s["error"]), cell(&s["publisher"])),
    };
    println!("signature   {sig}");
    if !m.is_null() {
        let caps: Vec<String> = items(m, "capabilities").iter().map(cell).collect();
        println!("declares    {}", if caps.is_empty() { "-".into() } else { caps.join(", ") });
        for o in items(m, "http") {
            println!("  http      {}", cell(o));
        }
        for s in items(m, "secrets") {
            println!("  secret    {}", cell(s));
        }
    }
    println!();
    let rows: Vec<Vec<String>> =
        items(a, "imports").iter().map(|i| vec![cell(&i["interface"]), cell(&i["status"])]).collect();
    print_table(&["IMPORT", "STATUS"], &rows);
    println!();
    let rows: Vec<Vec<String>> = items(a, "exports").iter().map(|e| vec![cell(e)]).collect();
    print_table(&["EXPORT"], &rows);
    for w in items(a, "warnings") {
        println!("warning: {}", cell(w));
    }
}

fn print_install(answer: &Value) {
    match answer["replaced"].as_str() {
        Some(from) => println!("upgraded {} {from} -> {}", cell(&answer["name"]), cell(&answer["version"])),
        None => println!("installed {} {}", cell(&answer["name"]), cell(&answer["version"])),
    }
    for c in items(answer, "changes") {
        let line = match (c["from"].as_str(), c["to"].as_str()) {
            (None, Some(to)) => format!("+ {} {to}", cell(&c["permission"])),
            (Some(from), None) => format!("- {} {from}", cell(&c["permission"])),
            (from, to) => {
                format!("~ {} {} -> {}", cell(&c["permission"]), from.unwrap_or("-"), to.unwrap_or("-"))
            }
        };
        println!("  {line}");
    }
    for w in items(answer, "warnings") {
        eprintln!("warning: {}", cell(w));
    }
    print_skills(std::slice::from_ref(answer));
}

fn print_skills(skills: &[Value]) {
    let rows: Vec<Vec<String>> = skills
        .iter()
        .map(|s| {
            let caps: Vec<String> = items(s, "capabilities").iter().map(cell).collect();
            let digest =
                s["digest"].as_str().map(|d| d.chars().take(12).collect()).unwrap_or_else(|| "-".into());
            vec![
                cell(&s["name"]),
                cell(&s["version"]),
                cell(&s["status"]),
                s["publisher"]["name"].as_str().unwrap_or("unsigned").to_string(),
                cell(&s["guest"]),
                digest,
                time_cell(&s["installed"]),
                if caps.is_empty() { "-".into() } else { caps.join(",") },
            ]
        })
        .collect();
    print_table(
        &["NAME", "VERSION", "STATUS", "PUBLISHER", "GUEST", "DIGEST", "INSTALLED", "CAPABILITIES"],
        &rows,
    );
}
