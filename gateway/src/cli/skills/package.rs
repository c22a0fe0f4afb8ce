//! The offline commands of a skill's life: `pack` (a component and its
//! manifest signed into a package), `verify` (a package's signature,
//! optionally against trusted keys) and `inspect` (a component's or
//! package's imports, exports, manifest, digests and signature, and
//! whether an install would take it).

use crate::cli::{Common, cell, items, load_config, print_json, print_table, read_file};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use wasmclaw::manifest::Manifest;
use wasmclaw::package::{self, Package};
use wasmclaw::permissions::{self, ImportStatus};
use wasmclaw::signing::{PublicKey, PublisherKey};
use wasmclaw::{Error, cache};

/// The manifest given with `--manifest`, else `NAME.toml` beside the
/// component, if any.
pub(super) fn manifest_beside(component: &Path, given: Option<PathBuf>) -> anyhow::Result<Option<String>> {
    let path = given.or_else(|| Some(component.with_extension("toml")).filter(|m| m.is_file()));
    path.map(|m| {
        String::from_utf8(read_file(&m, "the manifest")?)
            .map_err(|_| Error::InvalidSkill(format!("manifest {}: not UTF-8 text", m.display())).into())
    })
    .transpose()
}

pub(super) fn pack(component: &Path, manifest: &Path, key: &Path, out: &Path) -> anyhow::Result<()> {
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

pub(super) fn verify(path: &Path, trust: &[String], json: bool) -> anyhow::Result<()> {
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

pub(super) fn inspect(
    path: &Path,
    manifest: Option<PathBuf>,
    json: bool,
    common: &Common,
) -> anyhow::Result<()> {
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
