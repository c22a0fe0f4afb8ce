//! `wasmclaw backup`, `wasmclaw backup rewrap` and `wasmclaw restore`.
//!
//! Backup and restore go through the running gateway (`GET /v1/backup`,
//! `POST /v1/restore`, admin key), which alone may open its database;
//! `rewrap` is offline: it moves a backup's tenant data keys from one
//! master key to another, for a restore into a gateway with another key.

use super::client::{Body, ClientError};
use super::remote::{Remote, tenant_id};
use super::{print_json, read_file};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmclaw::Error;
use wasmclaw::backup::format;
use wasmclaw::vault::MasterKey;

/// The content type of a backup file.
const BACKUP_TYPE: &str = "application/vnd.wasmclaw.backup";

/// `wasmclaw backup …`.
#[derive(Args, Debug)]
pub(crate) struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// Back up only this tenant (default: every tenant).
    #[arg(long)]
    tenant: Option<String>,
    /// The backup file to write (mode 0600; replaced when it exists).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    remote: Remote,
}

/// What `wasmclaw backup` does besides taking a backup.
#[derive(Subcommand, Debug)]
pub(crate) enum BackupCommand {
    /// Offline: re-wrap a backup's secrets for another master key, so it
    /// can be restored into a gateway that has that key. The secrets stay
    /// encrypted; only each tenant's data key is unwrapped and wrapped
    /// again.
    Rewrap {
        /// The backup file.
        file: PathBuf,
        /// The master key the backup was made under (a key file such as
        /// `<data-dir>/master.key`: 64 hex digits, mode 0600).
        #[arg(long, value_name = "KEY_FILE")]
        from_key: PathBuf,
        /// The master key of the gateway to restore into (a key file).
        #[arg(long, value_name = "KEY_FILE")]
        to_key: PathBuf,
        /// The re-wrapped backup file to write (mode 0600).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
    },
}

/// `wasmclaw restore …`.
#[derive(Args, Debug)]
pub(crate) struct RestoreArgs {
    /// The backup file (from `wasmclaw backup`).
    file: PathBuf,
    /// Restore only this tenant of the backup (default: every tenant in it).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `wasmclaw backup`.
pub(crate) async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    if let Some(BackupCommand::Rewrap { file, from_key, to_key, out }) = args.command {
        return rewrap(&file, &from_key, &to_key, &out);
    }
    let out = args.out.ok_or_else(|| Error::InvalidInput("give the file to write with -o FILE".into()))?;
    let tenant = args.tenant.as_deref().map(tenant_id).transpose()?;
    let tmp = private_temp(&out)?;
    let bytes = fetch_backup(&args.remote, tenant.as_deref(), tmp.as_file()).await?;
    // Checked before it is kept: a backup that does not check is no backup.
    let summary =
        check_file(tmp.path()).map_err(|e| Error::Internal(format!("the gateway's backup: {e}")))?;
    persist(tmp, &out)?;
    let names = summary.tenants;
    if args.remote.json {
        print_json(&serde_json::json!({ "file": out, "bytes": bytes, "tenants": names }));
    } else {
        println!(
            "backed up {} tenant(s) ({}) to {} ({} bytes)",
            names.len(),
            names.join(", "),
            out.display(),
            bytes
        );
    }
    Ok(())
}

/// Reads and validates the backup file at `path` (streaming).
fn check_file(path: &Path) -> Result<format::Summary, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    format::check(std::io::BufReader::with_capacity(1 << 20, file), |_, _| Ok(())).map_err(|e| e.to_string())
}

/// Runs `wasmclaw restore`.
pub(crate) async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    // Refused here already when it is corrupt (the gateway checks again).
    check_file(&args.file).map_err(|e| Error::InvalidInput(format!("{}: {e}", args.file.display())))?;
    let bytes = read_file(&args.file, "the backup")?;
    let query: Vec<(&str, String)> =
        args.tenant.as_deref().map(tenant_id).transpose()?.map(|t| ("tenant", t)).into_iter().collect();
    let answer = args
        .remote
        .client()?
        .send(Method::POST, &["v1", "restore"], &query, Some(Body::raw(bytes, BACKUP_TYPE)), &[])
        .await?;
    if args.remote.json {
        print_json(&answer);
    } else {
        let names: Vec<&str> = answer["restored"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        println!("restored {} tenant(s): {}", names.len(), names.join(", "));
    }
    Ok(())
}

fn rewrap(file: &Path, from: &Path, to: &Path, out: &Path) -> anyhow::Result<()> {
    let key = |p: &Path| MasterKey::from_file(p).map_err(|e| Error::InvalidInput(e.to_string()));
    let (from, to) = (key(from)?, key(to)?);
    let input = std::fs::File::open(file).map_err(|source| Error::Io {
        context: format!("cannot read the backup {}", file.display()),
        source,
    })?;
    let tmp = private_temp(out)?;
    let reader = std::io::BufReader::with_capacity(1 << 20, input);
    let writer = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    format::rewrap(reader, writer, &from, &to)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", file.display())))?;
    let summary = check_file(tmp.path()).map_err(Error::Internal)?;
    persist(tmp, out)?;
    println!(
        "re-wrapped {} tenant(s) for the master key {} into {}",
        summary.tenants.len(),
        to.fingerprint(),
        out.display()
    );
    Ok(())
}

/// A temporary file of mode 0600 beside `path`, to be renamed into place
/// by [`persist`]: a backup is never half-written.
fn private_temp(path: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let io = |e: std::io::Error| Error::Io { context: format!("cannot write {}", path.display()), source: e };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok(tempfile::Builder::new().prefix(".wasmclaw-backup.").tempfile_in(&dir).map_err(io)?)
}

fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> anyhow::Result<()> {
    let io = |e: std::io::Error| Error::Io { context: format!("cannot write {}", path.display()), source: e };
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// `GET /v1/backup[?tenant=]`: the answer's bytes (the API client reads
/// JSON only).
async fn fetch_backup(remote: &Remote, tenant: Option<&str>, mut out: &std::fs::File) -> anyhow::Result<u64> {
    let shown = remote.url.as_str().trim_end_matches('/').to_string();
    let mut url = remote.url.clone();
    url.set_query(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["v1", "backup"]);
    }
    if let Some(t) = tenant {
        url.query_pairs_mut().append_pair("tenant", t);
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("wasmclaw/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
    let mut req = http.get(url);
    if let Some(c) = remote.admin_key.as_deref().or(remote.token.as_deref()) {
        req = req.bearer_auth(c.trim());
    }
    let unreachable =
        |e: reqwest::Error| ClientError::Unreachable { url: shown.clone(), reason: e.to_string() };
    let mut resp = req.send().await.map_err(unreachable)?;
    let status = resp.status();
    if status.is_success() {
        let mut written = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            std::io::Write::write_all(&mut out, &chunk)
                .map_err(|source| Error::Io { context: "cannot write the backup".into(), source })?;
            written += chunk.len() as u64;
        }
        return Ok(written);
    }
    let bytes = resp.bytes().await.map_err(unreachable)?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let text = |k: &str| v["error"][k].as_str().map(str::to_string);
    Err(ClientError::Api {
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| format!("http-{}", status.as_u16())),
        message: text("message").unwrap_or_else(|| format!("the gateway at {shown} answered {status}")),
        hint: String::new(),
    }
    .into())
}
