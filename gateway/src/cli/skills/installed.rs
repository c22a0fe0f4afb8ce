//! The remote commands on a tenant's installed skills: `install` (a
//! package, or a bare component with its manifest, sent to the gateway; an
//! upgrade over an installed skill of that name, with its permission
//! changes printed), `list` and `remove`.

use super::package::manifest_beside;
use crate::cli::remote::{Remote, tenant_id};
use crate::cli::{cell, items, print_json, print_table, read_file, time_cell};
use base64::Engine;
use serde_json::{Value, json};
use std::path::PathBuf;
use wasmclaw::Error;
use wasmclaw::package;

/// What `skill install` accepts beyond a plain install.
#[derive(clap::Args, Debug)]
pub(crate) struct InstallFlags {
    /// Let the tenant's guest tokens list and invoke it.
    #[arg(long)]
    guest: bool,
    /// Accept an upgrade that widens the skill's permissions.
    #[arg(long)]
    accept_permissions: bool,
    /// Accept a version lower than, or equal to, the installed one.
    #[arg(long)]
    allow_downgrade: bool,
    /// Check only: print what would be installed and the permission
    /// changes, or the refusal, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `skill install`: `file` (a package, or a component with its manifest)
/// installed for `tenant`, or upgraded over its installed namesake.
pub(super) async fn install(
    file: PathBuf,
    tenant: String,
    manifest: Option<PathBuf>,
    flags: InstallFlags,
    remote: Remote,
) -> anyhow::Result<()> {
    let tenant = tenant_id(&tenant)?;
    let bytes = read_file(&file, "the skill")?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut body = json!({
        "guest": flags.guest,
        "accept_permissions": flags.accept_permissions,
        "allow_downgrade": flags.allow_downgrade,
        "dry_run": flags.dry_run,
    });
    if package::is_package(&bytes) {
        if manifest.is_some() {
            return Err(Error::InvalidInput("a package carries its manifest: drop --manifest".into()).into());
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

/// `skill list`: the tenant's installed skills.
pub(super) async fn list(tenant: String, remote: Remote) -> anyhow::Result<()> {
    let answer = remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "skills"], &[]).await?;
    if remote.json {
        print_json(&answer);
    } else {
        print_skills(items(&answer, "skills"));
    }
    Ok(())
}

/// `skill remove`: the tenant's installed skill `name`, removed.
pub(super) async fn remove(name: String, tenant: String, remote: Remote) -> anyhow::Result<()> {
    let answer = remote.client()?.delete(&["v1", "tenants", &tenant_id(&tenant)?, "skills", &name]).await?;
    if remote.json {
        print_json(&answer);
    } else {
        println!("removed skill {name}");
    }
    Ok(())
}

fn print_install(answer: &Value) {
    let dry = answer["dry_run"] == true;
    let (upgraded, installed) = if dry {
        ("dry run, nothing changed: would upgrade", "dry run, nothing changed: would install")
    } else {
        ("upgraded", "installed")
    };
    match answer["replaced"].as_str() {
        Some(from) => println!("{upgraded} {} {from} -> {}", cell(&answer["name"]), cell(&answer["version"])),
        None => println!("{installed} {} {}", cell(&answer["name"]), cell(&answer["version"])),
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
