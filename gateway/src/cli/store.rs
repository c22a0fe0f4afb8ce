//! `wasmclaw store migrate`: moves a stopped gateway's database from the
//! embedded redb file of its data directory into an empty PostgreSQL
//! database (the copy and its check are [`wasmclaw::store::migrate`]'s).
//!
//! Offline: the gateway must be stopped (redb lets one process open the
//! file, so a running gateway makes this fail before anything is read).
//! On a terminal, progress goes to stderr; `--json` prints the summary
//! only. The target URL is a secret: it is shown with `***` for its
//! password, and the store's errors are scrubbed of it.

use super::{print_json, progress};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmclaw::audit::{AuditConfig, AuditLog, Event};
use wasmclaw::store::migrate::{self, Progress, Stage, Summary};
use wasmclaw::store::{Db, PgOptions, StoreError};
use wasmclaw::{Error, StoreUrl};

/// `wasmclaw store …`.
#[derive(Subcommand)]
pub(crate) enum StoreCommand {
    /// Copy a stopped gateway's whole database from its data directory's
    /// redb file into an empty PostgreSQL database, and check the copy.
    ///
    /// Everything moves: the admin key's hash, trusted publisher keys,
    /// tenants, tokens, policies, skills, secrets (still sealed), memory,
    /// cron jobs, the outbox, agents, sessions, channels and usage. The
    /// copy is then read back and compared with the source, tenant by
    /// tenant (rows, their SHA-256, tokens) and the globals; a difference
    /// fails with the tenant named. A target that holds anything is
    /// refused before anything is written.
    ///
    /// Stop the gateway first. The redb file is left as it was. The master
    /// key does not move: secrets stay sealed under it, so start the
    /// gateway on PostgreSQL with the same data directory (its
    /// `master.key`, and the tenants' files) or the same
    /// WASMCLAW_MASTER_KEY: `wasmclaw serve --data-dir DIR --store URL`.
    ///
    /// Exit codes: 0 copied and checked, 16 no database in DIR, 17 the
    /// target is not empty, 13 a storage failure or a copy that does not
    /// check (the target then holds a partial copy: drop and create the
    /// database again before another try).
    Migrate(MigrateArgs),
}

/// `wasmclaw store migrate`.
#[derive(Args)]
pub(crate) struct MigrateArgs {
    /// The stopped gateway's data directory (its `wasmclaw.redb`).
    #[arg(long = "from", value_name = "DATA_DIR", env = "WASMCLAW_DATA_DIR")]
    from: PathBuf,
    /// The empty PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DB
    /// (or WASMCLAW_STORE, which keeps the password off the command line).
    #[arg(long = "to", value_name = "URL", env = "WASMCLAW_STORE", hide_env_values = true)]
    to: String,
    /// Print only a summary, as JSON, on stdout (no progress display).
    #[arg(long)]
    json: bool,
}

/// Runs `wasmclaw store …`.
pub(crate) async fn store(cmd: StoreCommand) -> anyhow::Result<()> {
    match cmd {
        StoreCommand::Migrate(args) => migrate_command(args).await,
    }
}

async fn migrate_command(args: MigrateArgs) -> anyhow::Result<()> {
    let url = StoreUrl::parse(&args.to).map_err(|e| Error::InvalidInput(format!("--to: {e}")))?;
    let shown = url.redacted();
    let file = args.from.join("wasmclaw.redb");
    if !file.is_file() {
        return Err(Error::NotFound(format!(
            "no gateway database at {}: give the gateway's data directory with --from",
            file.display()
        ))
        .into());
    }
    let json = args.json;
    let started = Instant::now();
    let bar = Bar::new(progress::wanted(json));
    let data_dir = args.from.clone();
    let (summary, bar) = tokio::task::spawn_blocking(move || {
        let mut bar = bar;
        let summary = copy(&data_dir, &url, &mut bar);
        (summary, bar)
    })
    .await
    .map_err(|e| Error::Internal(format!("the migration did not finish: {e}")))?;
    bar.finish();
    let summary = summary?;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut v = serde_json::to_value(&summary).map_err(|e| Error::Internal(e.to_string()))?;
        v["from"] = serde_json::json!(args.from);
        v["to"] = serde_json::json!(shown);
        v["seconds"] = serde_json::json!((seconds * 1000.0).round() / 1000.0);
        print_json(&v);
        return Ok(());
    }
    let names: Vec<&str> = summary.tenants.iter().map(|t| t.tenant.as_str()).collect();
    let tokens: u64 = summary.tenants.iter().map(|t| t.tokens).sum();
    println!(
        "copied and checked {} tenant(s) ({}), {tokens} token(s), {} trusted key(s){}: {} rows, {}, in {seconds:.1} s",
        names.len(),
        if names.is_empty() { "-".to_string() } else { names.join(", ") },
        summary.trusted_keys,
        if summary.admin_key { ", the admin key" } else { "" },
        summary.rows,
        bytesize::ByteSize(summary.bytes),
    );
    println!("from {} to {shown}", args.from.join("wasmclaw.redb").display());
    println!(
        "next: start the gateway on it with the same data directory (its master.key unseals the \
         secrets; or the same WASMCLAW_MASTER_KEY):\n  wasmclaw serve --data-dir {} --store '{shown}'",
        args.from.display()
    );
    println!("the redb file is left as it was; the gateway reads it again only if started without --store");
    Ok(())
}

/// Opens both stores, refuses a target in use, migrates, and files the
/// outcome in the data directory's audit log (`store.migrate`, the target
/// URL without its password).
fn copy(data_dir: &Path, url: &StoreUrl, bar: &mut Bar) -> anyhow::Result<Summary> {
    let from = Db::open(&data_dir.join("wasmclaw.redb")).map_err(|e| match e {
        StoreError::Open { store, reason } => Error::Store(StoreError::Open {
            store,
            reason: format!(
                "{reason} (if the gateway is still running on this data directory, stop it first: \
                 only one process may open its database)"
            ),
        }),
        other => Error::Store(other),
    })?;
    // The database is ours now, and so is the audit log beside it.
    let audit = AuditLog::open(&data_dir.join("audit.log"), &AuditConfig::default()).map_err(|source| {
        Error::Io { context: format!("cannot open {}", data_dir.join("audit.log").display()), source }
    })?;
    let outcome = (|| -> anyhow::Result<Summary> {
        // A tenant is imported in one transaction: give a large one time.
        let options =
            PgOptions { pool_size: 2, statement_timeout: Duration::from_secs(600), ..Default::default() };
        let to = Db::open_postgres_with(url.expose(), &options).map_err(Error::from)?;
        if let Some(held) = migrate::occupant(&to).map_err(Error::from)? {
            return Err(Error::Conflict(format!(
                "{url} is not empty: it holds {held}; migrate into an empty database (create a new one, \
                 or drop and create this one again); nothing was written"
            ))
            .into());
        }
        Ok(migrate::migrate(&from, &to, &mut |p| bar.show(p)).map_err(Error::from)?)
    })();
    let result = match &outcome {
        Ok(_) => "ok".to_string(),
        Err(e) => e.downcast_ref::<Error>().map_or("failed", Error::kind).to_string(),
    };
    let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let event = Event {
        time,
        actor: "operator".into(),
        tenant: None,
        action: "store.migrate".into(),
        target: url.redacted(),
        outcome: result,
    };
    if let Err(e) = audit.record(&event) {
        tracing::warn!("cannot write the audit log: {e}");
    }
    outcome
}

/// The progress of a migration: a bar by bytes per stage (hidden when
/// stderr is not a terminal, or with `--json`).
struct Bar {
    bar: ProgressBar,
    stage: Option<Stage>,
}

impl Bar {
    fn new(visible: bool) -> Bar {
        Bar { bar: progress::line(visible, "opening"), stage: None }
    }

    fn show(&mut self, p: &Progress) {
        if self.stage != Some(p.stage) {
            self.stage = Some(p.stage);
            self.bar.reset();
            self.bar.set_style(if p.stage == Stage::Counting {
                progress::spinner()
            } else {
                progress::bytes()
            });
            self.bar.set_prefix(match p.stage {
                Stage::Counting => "counting",
                Stage::Copying => "copying",
                Stage::Verifying => "checking",
            });
        }
        self.bar.set_length(p.bytes);
        self.bar.set_position(p.bytes_done);
        // The tenant last: a narrow terminal cuts it first.
        let tenant = p.tenant.map(|t| format!(" ({t})")).unwrap_or_default();
        self.bar.set_message(format!(
            "{}/{} tenants, {}/{} rows{tenant}",
            p.tenants_done, p.tenants, p.rows_done, p.rows
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
