//! `wasmclaw backup`, `wasmclaw backup rewrap` and `wasmclaw restore`.
//!
//! Backup and restore go through the running gateway (`GET /v1/backup`,
//! `POST /v1/restore`, admin key), which alone may open its database; the
//! file is streamed both ways (`transfer`). `rewrap` is offline: it moves
//! a backup's tenant data keys from one master key to another, for a
//! restore into a gateway with another key. On a terminal each draws its
//! progress on stderr (`progress`); `--json` and scripts see none.

use super::remote::{Remote, tenant_id};
use super::{print_json, progress, transfer};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use serde_json::Value;
use std::path::{Path, PathBuf};
use wasmclaw::Error;
use wasmclaw::backup::format;
use wasmclaw::vault::MasterKey;

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
    let bar = progress::line(progress::wanted(args.remote.json), "backup");
    let bytes = transfer::download(&args.remote, tenant.as_deref(), tmp.as_file(), &bar).await;
    let bytes = bytes.inspect_err(|_| bar.finish_and_clear())?;
    // Checked before it is kept: a backup that does not check is no backup.
    let summary = check_file(tmp.path(), &bar);
    bar.finish_and_clear();
    let summary = summary.map_err(|e| Error::Internal(format!("the gateway's backup: {e}")))?;
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

/// Reads and validates the backup file at `path` (streaming), drawing
/// the bytes read on `bar`.
fn check_file(path: &Path, bar: &ProgressBar) -> Result<format::Summary, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    bar.reset();
    bar.set_length(file.metadata().map(|m| m.len()).unwrap_or(0));
    bar.set_message("");
    bar.set_prefix("checking");
    bar.set_style(progress::bytes());
    let read = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(file));
    format::check(read, |_, _| Ok(())).map_err(|e| e.to_string())
}

/// Runs `wasmclaw restore`.
pub(crate) async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let tenant = args.tenant.as_deref().map(tenant_id).transpose()?;
    let bar = progress::line(progress::wanted(args.remote.json), "restore");
    // Refused here already when it is corrupt (the gateway checks again).
    let checked = check_file(&args.file, &bar);
    let checked = checked.map_err(|e| Error::InvalidInput(format!("{}: {e}", args.file.display())));
    let answer = match checked {
        Ok(_) => transfer::upload(&args.remote, tenant.as_deref(), &args.file, &bar).await,
        Err(e) => Err(e.into()),
    };
    bar.finish_and_clear();
    let answer = answer?;
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
    let bar = progress::line(progress::wanted(false), "rewrap");
    bar.set_length(input.metadata().map(|m| m.len()).unwrap_or(0));
    bar.set_style(progress::bytes());
    let reader = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(input));
    let writer = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    let rewrapped = format::rewrap(reader, writer, &from, &to)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", file.display())));
    let summary = rewrapped.map(|_| check_file(tmp.path(), &bar));
    bar.finish_and_clear();
    let summary = summary?.map_err(Error::Internal)?;
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
