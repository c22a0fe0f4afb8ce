//! `wasmclaw doctor`: checks that the configuration parses, that the data
//! directory and its key, database and audit files are private to their
//! owner, that a PostgreSQL store (`--store`) answers, and that the gateway
//! answers `/healthz`. One line per check (`ok`, `warn`, `FAIL`); exit 21
//! when a check fails.

use super::client::{Client, ClientError, DEFAULT_URL, parse_url};
use super::{ChecksFailed, Common, load_config};
use clap::Args;
use reqwest::Url;
use std::fmt;
use std::path::Path;
use wasmclaw::store::{PgProbe, PgStatus};
use wasmclaw::{RuntimeConfig, StoreLocation, StoreUrl};

/// The files of the data directory that must be readable by their owner only.
const PRIVATE_FILES: &[&str] = &["master.key", "wasmclaw.redb", "audit.log"];

/// The environment variable that, when set, holds the master key instead of
/// `master.key`.
const MASTER_KEY_ENV: &str = "WASMCLAW_MASTER_KEY";

/// `wasmclaw doctor`.
#[derive(Args, Debug)]
pub(crate) struct DoctorArgs {
    #[command(flatten)]
    common: Common,
    /// The gateway whose `/healthz` is checked.
    #[arg(long, env = "WASMCLAW_URL", default_value = DEFAULT_URL, value_name = "URL", value_parser = parse_url)]
    url: Url,
}

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        })
    }
}

/// One check's outcome.
#[derive(Debug)]
struct Check {
    level: Level,
    message: String,
}

fn check(level: Level, message: impl Into<String>) -> Check {
    Check { level, message: message.into() }
}

/// Runs the checks, printing one line each.
pub(crate) async fn doctor(args: DoctorArgs) -> anyhow::Result<()> {
    let mut checks = Vec::new();
    let (data_dir, store) = match load_config(&args.common) {
        Ok(config) => {
            checks.push(match &args.common.config {
                Some(path) => check(Level::Ok, format!("config {}: parses", path.display())),
                None => check(Level::Ok, "config: none given, the defaults apply"),
            });
            (config.data_dir, Some(config.store))
        }
        Err(e) => {
            checks.push(check(Level::Fail, format!("{e:#}")));
            (args.common.data_dir.clone().unwrap_or_else(|| RuntimeConfig::default().data_dir), None)
        }
    };
    let on_postgres = matches!(store, Some(StoreLocation::Postgres(_)));
    checks.extend(file_checks(&data_dir, std::env::var_os(MASTER_KEY_ENV).is_some(), on_postgres));
    if let Some(StoreLocation::Postgres(url)) = &store {
        checks.push(store_check(url).await);
    }
    checks.push(gateway_check(&args.url).await);

    for c in &checks {
        println!("{:<4}  {}", c.level, one_line(&c.message));
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    if failed > 0 {
        return Err(
            ChecksFailed(format!("{failed} check{} failed", if failed == 1 { "" } else { "s" })).into()
        );
    }
    Ok(())
}

/// A message on one line: its lines joined, without the source snippets
/// of a TOML error (`1 | key = …`, `|   ^^^`).
fn one_line(message: &str) -> String {
    let snippet = |l: &str| l.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start().starts_with('|');
    let lines: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty() && !snippet(l)).collect();
    lines.join(": ")
}

/// The data directory (0700) and its private files (0600). A missing data
/// directory is a warning (it is created on the first `run` or `serve`); a
/// missing file in an existing one is a failure, except `master.key` when
/// the master key comes from the environment and `wasmclaw.redb` when the
/// store is PostgreSQL (a redb file left there by `store migrate` is still
/// checked: it holds the data as it was).
fn file_checks(dir: &Path, key_from_env: bool, on_postgres: bool) -> Vec<Check> {
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![check(
                Level::Warn,
                format!("data dir {}: does not exist (`run` or `serve` creates it)", dir.display()),
            )];
        }
        Err(e) => {
            return vec![check(Level::Fail, format!("data dir {}: cannot inspect: {e}", dir.display()))];
        }
    };
    if !meta.is_dir() {
        return vec![check(Level::Fail, format!("data dir {}: not a directory", dir.display()))];
    }
    let mut checks = vec![mode_check(&format!("data dir {}", dir.display()), dir, &meta, 0o700)];
    for name in PRIVATE_FILES {
        let path = dir.join(name);
        let what = path.display().to_string();
        checks.push(match std::fs::metadata(&path) {
            Ok(m) if !m.is_file() => check(Level::Fail, format!("{what}: not a regular file")),
            Ok(m) => mode_check(&what, &path, &m, 0o600),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && *name == "master.key" && key_from_env => {
                check(Level::Ok, format!("{what}: absent; the master key comes from {MASTER_KEY_ENV}"))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && *name == "wasmclaw.redb" && on_postgres => {
                check(Level::Ok, format!("{what}: absent; the store is PostgreSQL (--store)"))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                check(Level::Fail, format!("{what}: missing"))
            }
            Err(e) => check(Level::Fail, format!("{what}: cannot inspect: {e}")),
        });
    }
    checks
}

/// Whether `meta` gives nothing to group or others (the mode should be
/// `want`).
#[cfg(unix)]
fn mode_check(what: &str, path: &Path, meta: &std::fs::Metadata, want: u32) -> Check {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        check(Level::Ok, format!("{what}: private (mode {mode:03o})"))
    } else {
        check(
            Level::Fail,
            format!(
                "{what}: accessible to group or others (mode {mode:03o}); restrict it with `chmod {want:03o} {}`",
                path.display()
            ),
        )
    }
}

/// Permissions are not checked where there are no Unix modes.
#[cfg(not(unix))]
fn mode_check(what: &str, _path: &Path, _meta: &std::fs::Metadata, _want: u32) -> Check {
    check(Level::Warn, format!("{what}: permissions not checked on this platform"))
}

/// Whether the PostgreSQL store answers, over what, and at which schema
/// version: a connection made as the gateway makes its own (same URL, TLS
/// and bounds) that reads and writes nothing. A database that cannot be
/// reached, refuses the gateway or is newer than this binary fails; one
/// reached in plain text from another machine is a warning.
async fn store_check(url: &StoreUrl) -> Check {
    let status = match PgProbe::new(url.expose()) {
        Ok(probe) => probe.check().await,
        Err(e) => Err(e),
    };
    match status {
        Ok(status) => store_status(url, &status),
        // The error names the store, without its password.
        Err(e) => check(Level::Fail, format!("store: {e}")),
    }
}

/// The line of a store that answered.
fn store_status(url: &StoreUrl, s: &PgStatus) -> Check {
    let known = s.known_schema;
    let (schema_level, schema) = match s.schema {
        None => (Level::Ok, format!("no schema yet (serve creates version {known})")),
        Some(v) if v == known => (Level::Ok, format!("schema version {v} (current)")),
        Some(v) if v < known => (Level::Ok, format!("schema version {v} (serve migrates it to {known})")),
        Some(v) => (
            Level::Fail,
            format!(
                "schema version {v}, newer than this wasmclaw knows (up to {known}): serve would refuse it"
            ),
        ),
    };
    let (tls_level, tls) = match &s.tls {
        Some(v) => (Level::Ok, format!("TLS {v} (sslmode={})", s.sslmode)),
        None if s.local => (Level::Ok, format!("without TLS (sslmode={}, this machine)", s.sslmode)),
        None => (
            Level::Warn,
            format!("without TLS (sslmode={}): the connection leaves this machine unencrypted", s.sslmode),
        ),
    };
    let level = if schema_level == Level::Fail { Level::Fail } else { tls_level };
    let cluster = match s.live_nodes.as_slice() {
        [] => String::new(),
        nodes => {
            let named: Vec<String> = nodes.iter().map(|(id, addr)| format!("{id} {addr}")).collect();
            format!(", cluster: {} live replica(s) ({})", nodes.len(), named.join(", "))
        }
    };
    check(
        level,
        format!(
            "store {url}: reachable at {}, PostgreSQL {}, {tls}, {schema}{cluster}",
            s.endpoints, s.server_version
        ),
    )
}

/// Whether the gateway answers `/healthz`. A gateway that cannot be reached
/// is a warning (it may simply be stopped); one that answers badly fails.
async fn gateway_check(url: &Url) -> Check {
    let shown = url.as_str().trim_end_matches('/');
    let client = match Client::new(url, None) {
        Ok(c) => c,
        Err(e) => return check(Level::Fail, format!("gateway {shown}: {e:#}")),
    };
    match client.get(&["healthz"], &[]).await {
        Ok(v) if v["status"] == "ok" => check(Level::Ok, format!("gateway {shown}: /healthz answers ok")),
        Ok(v) => check(Level::Fail, format!("gateway {shown}: /healthz answered {v}")),
        Err(e) => match e.downcast_ref::<ClientError>() {
            Some(ClientError::Unreachable { reason, .. }) => check(
                Level::Warn,
                format!("gateway {shown}: cannot reach it ({reason}); is `wasmclaw serve` running?"),
            ),
            _ => check(Level::Fail, format!("gateway {shown}: /healthz: {e:#}")),
        },
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn levels(checks: &[Check]) -> Vec<Level> {
        checks.iter().map(|c| c.level).collect()
    }

    #[test]
    fn messages_fit_on_one_line() {
        let e = "configuration: f.toml: TOML parse error at line 1, column 1\n  |\n1 | bogus = 1\n  | ^^^^^\nunknown field `bogus`\n";
        assert_eq!(
            one_line(e),
            "configuration: f.toml: TOML parse error at line 1, column 1: unknown field `bogus`"
        );
        assert_eq!(one_line("plain"), "plain");
    }

    #[test]
    fn a_missing_data_dir_is_a_warning() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(levels(&file_checks(&d.path().join("nope"), false, false)), [Level::Warn]);
    }

    #[test]
    fn modes_and_missing_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        for f in PRIVATE_FILES {
            std::fs::write(d.path().join(f), "x").unwrap();
            std::fs::set_permissions(d.path().join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(levels(&file_checks(d.path(), false, false)), [Level::Ok; 4]);
        std::fs::set_permissions(d.path().join("master.key"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let checks = file_checks(d.path(), false, false);
        assert_eq!(levels(&checks), [Level::Ok, Level::Fail, Level::Ok, Level::Ok]);
        assert!(checks[1].message.contains("master.key") && checks[1].message.contains("644"));
        std::fs::remove_file(d.path().join("master.key")).unwrap();
        assert_eq!(levels(&file_checks(d.path(), false, false))[1], Level::Fail);
        assert_eq!(levels(&file_checks(d.path(), true, false))[1], Level::Ok);
        // No redb file: a failure on redb, none with a PostgreSQL store.
        std::fs::remove_file(d.path().join("wasmclaw.redb")).unwrap();
        assert_eq!(levels(&file_checks(d.path(), true, false))[2], Level::Fail);
        assert_eq!(levels(&file_checks(d.path(), true, true))[2], Level::Ok);
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(levels(&file_checks(d.path(), true, false))[0], Level::Fail);
    }

    fn status(schema: Option<i64>, tls: Option<&str>, local: bool) -> PgStatus {
        PgStatus {
            endpoints: "db:5432".into(),
            server_version: "17.2".into(),
            tls: tls.map(str::to_string),
            sslmode: if tls.is_some() { "verify-full" } else { "disable" },
            local,
            schema,
            known_schema: 3,
            live_nodes: Vec::new(),
        }
    }

    #[test]
    fn a_store_line_says_what_the_probe_found_and_fails_a_newer_schema() {
        let url = StoreUrl::parse("postgres://gw:hunter2@db:5432/w").unwrap();
        let line = |s: &PgStatus| {
            let c = store_status(&url, s);
            assert!(!c.message.contains("hunter2"), "{}", c.message);
            (c.level, c.message)
        };
        assert_eq!(
            line(&status(Some(3), Some("TLSv1.3"), false)),
            (
                Level::Ok,
                "store postgres://gw:***@db:5432/w: reachable at db:5432, PostgreSQL 17.2, TLS TLSv1.3 \
                 (sslmode=verify-full), schema version 3 (current)"
                    .into()
            )
        );
        assert!(line(&status(Some(2), Some("TLSv1.3"), false)).1.contains("serve migrates it to 3"));
        assert!(
            line(&status(None, Some("TLSv1.3"), false)).1.contains("no schema yet (serve creates version 3)")
        );
        let (level, text) = line(&status(Some(4), Some("TLSv1.3"), false));
        assert!(level == Level::Fail && text.contains("newer than this wasmclaw knows"), "{text}");
        // Plain text: fine on this machine, a warning across the network.
        assert_eq!(line(&status(Some(3), None, true)).0, Level::Ok);
        let (level, text) = line(&status(Some(3), None, false));
        assert!(level == Level::Warn && text.contains("leaves this machine unencrypted"), "{text}");
        // The live replicas of a cluster on it are named.
        let mut clustered = status(Some(3), Some("TLSv1.3"), false);
        clustered.live_nodes = vec![("r1".into(), "http://10.0.0.1:8080".into())];
        let (level, text) = line(&clustered);
        assert_eq!(level, Level::Ok);
        assert!(text.ends_with(", cluster: 1 live replica(s) (r1 http://10.0.0.1:8080)"), "{text}");
    }
}
