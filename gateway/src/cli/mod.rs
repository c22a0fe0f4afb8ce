//! The pieces of the `wasmclaw` command: the options shared by the local
//! commands ([`Common`], [`load_config`]), input reading, output helpers
//! (human tables and `--json`), and the mapping of an error to its exit code.
//!
//! - `local`: `run`, `describe` and the offline `secret` commands (they open
//!   the data directory themselves).
//! - `serve`: `wasmclaw serve`.
//! - `client`: the HTTP client of the remote commands.
//! - `remote`, `tokens`, `secrets`, `reports`: the commands that talk to a running
//!   gateway (`secret` also works offline).
//! - `skills`: `skill new/pack/verify/inspect` (offline) and
//!   `skill install/list/remove` (remote); `scaffold` is `skill new`.
//! - `keys`: publisher keys (offline) and the gateway's trusted keys.
//! - `doctor`: `wasmclaw doctor`.
//! - `backup`: `backup` and `restore` (remote) and `backup rewrap` (offline).
//! - `store`: `store migrate` (offline): redb into PostgreSQL.
//! - `transfer`: a backup file streamed from and to the gateway;
//!   `progress`: the progress line of these long commands.

pub(crate) mod agents;
pub(crate) mod backup;
pub(crate) mod channels;
pub(crate) mod client;
pub(crate) mod doctor;
pub(crate) mod keys;
pub(crate) mod local;
pub(crate) mod progress;
pub(crate) mod remote;
pub(crate) mod reports;
pub(crate) mod scaffold;
pub(crate) mod secrets;
pub(crate) mod serve;
pub(crate) mod skills;
pub(crate) mod store;
pub(crate) mod tokens;
pub(crate) mod transfer;
pub(crate) mod usage;

use clap::Args;
use serde_json::Value;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};
use wasmclaw::{Error, RuntimeConfig};

/// The exit code of a command whose checks found a failure (`doctor`) or a
/// critical finding (`security audit`).
pub(crate) const CHECKS_FAILED_EXIT: u8 = 21;

/// Options of the commands that open the data directory themselves.
#[derive(Args, Clone)]
pub(crate) struct Common {
    /// Data directory: database, compiled cache and tenants' files.
    #[arg(long, env = "WASMCLAW_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Runtime configuration file (TOML): pool, default limits, caps, quotas.
    #[arg(long, env = "WASMCLAW_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The database: a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DB).
    /// Without it, the embedded redb file in the data directory. The URL is
    /// a secret: it is never printed with its password.
    #[arg(long, env = "WASMCLAW_STORE", value_name = "URL", hide_env_values = true)]
    pub(crate) store: Option<String>,
    /// The tenants' files (default: DATA_DIR/tenants). In a cluster, a
    /// volume every replica mounts (ReadWriteMany).
    #[arg(long, env = "WASMCLAW_TENANTS_DIR", value_name = "DIR")]
    pub(crate) tenants_dir: Option<PathBuf>,
    /// The compiled-component cache (default: DATA_DIR/cache); per node.
    #[arg(long, env = "WASMCLAW_CACHE_DIR", value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Common {
    /// Without the store URL's password (see `store`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = self.store.as_deref().map(|s| match wasmclaw::StoreLocation::parse(s) {
            Ok(loc) => loc.to_string(),
            Err(_) => "(not a store URL)".to_string(),
        });
        f.debug_struct("Common")
            .field("data_dir", &self.data_dir)
            .field("config", &self.config)
            .field("store", &store)
            .field("tenants_dir", &self.tenants_dir)
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

/// The operator's configuration: the `--config` file (or the defaults),
/// with `--data-dir` applied over it. An unreadable or invalid file is a
/// configuration error (exit 15).
pub(crate) fn load_config(common: &Common) -> anyhow::Result<RuntimeConfig> {
    let mut config = match &common.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        }
        None => RuntimeConfig::default(),
    };
    if let Some(dir) = &common.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(dir) = &common.tenants_dir {
        config.tenants_dir = Some(dir.clone());
    }
    if let Some(dir) = &common.cache_dir {
        config.cache_dir = Some(dir.clone());
    }
    if let Some(store) = common.store.as_deref().filter(|s| !s.is_empty()) {
        config.store =
            wasmclaw::StoreLocation::parse(store).map_err(|e| Error::Config(format!("--store: {e}")))?;
    }
    Ok(config)
}

/// A command's checks failed (exit 21); the checks themselves were printed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ChecksFailed(pub(crate) String);

/// The exit code for an error: the runtime's code for a runtime error, the
/// API code's for a gateway answer, 14 for a gateway that cannot be
/// reached, 21 for failed checks, 1 for anything else.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(e) = e.downcast_ref::<Error>() {
        e.exit_code()
    } else if let Some(e) = e.downcast_ref::<client::ClientError>() {
        e.exit_code()
    } else if e.downcast_ref::<ChecksFailed>().is_some() {
        CHECKS_FAILED_EXIT
    } else {
        1
    }
}

/// Reads a call's input: `-` reads stdin, `@FILE` a file, anything else is
/// the JSON itself; without the option, stdin when it is not a terminal.
pub(crate) fn read_input(arg: Option<&str>) -> anyhow::Result<String> {
    let from_stdin = || -> anyhow::Result<String> {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::InvalidInput(format!("cannot read stdin: {e}")))?;
        Ok(s)
    };
    match arg {
        Some("-") => from_stdin(),
        Some(a) if a.starts_with('@') => {
            let path = Path::new(&a[1..]);
            Ok(std::fs::read_to_string(path).map_err(|e| {
                Error::InvalidInput(format!("cannot read the input file {}: {e}", path.display()))
            })?)
        }
        Some(json) => Ok(json.to_string()),
        None if std::io::stdin().is_terminal() => Err(Error::InvalidInput(
            "no input: pass --input JSON, --input @FILE, or pipe JSON on stdin".into(),
        )
        .into()),
        None => from_stdin(),
    }
}

/// Reads a secret's value from stdin, dropping one trailing newline.
pub(crate) fn read_secret_value() -> anyhow::Result<Vec<u8>> {
    let mut value = Vec::new();
    std::io::stdin()
        .read_to_end(&mut value)
        .map_err(|e| Error::InvalidInput(format!("cannot read stdin: {e}")))?;
    if value.ends_with(b"\n") {
        value.pop();
    }
    Ok(value)
}

/// Reads a whole file the command was pointed at (exit 14 when it cannot).
pub(crate) fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| {
        Error::Io { context: format!("cannot read {what} {}", path.display()), source }.into()
    })
}

/// Prints a JSON value, pretty, on stdout.
pub(crate) fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}

/// A cell of a human table: strings as they are, `null` as `-`, anything
/// else as compact JSON.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A time of the API (seconds since the Unix epoch) as RFC 3339, `-` for
/// `null`; anything else as [`cell`] shows it.
pub(crate) fn time_cell(v: &Value) -> String {
    match v.as_u64() {
        Some(secs) => UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .map(|t| humantime::format_rfc3339_seconds(t).to_string())
            .unwrap_or_else(|| secs.to_string()),
        None => cell(v),
    }
}

/// The array under `key` of an answer (empty when absent).
pub(crate) fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// `text` safe to print to a terminal: control characters (escape
/// sequences, carriage returns, newlines, C1), bidirectional controls,
/// zero-width characters and line separators, which a tenant's skill may
/// have stored, shown as `\u{…}`.
pub(crate) fn terminal_safe(text: &str) -> String {
    let hostile = |c: char| {
        c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}'..='\u{200f}')
            || matches!(c, '\u{061c}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
    };
    if !text.chars().any(hostile) {
        return text.to_string();
    }
    text.chars().map(|c| if hostile(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// Prints rows under a header, columns padded to their widest cell (every
/// cell [`terminal_safe`]).
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| terminal_safe(c)).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                out.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&mut header.iter().copied());
    for row in &rows {
        line(&mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_times() {
        assert_eq!(cell(&Value::Null), "-");
        assert_eq!(cell(&serde_json::json!("a")), "a");
        assert_eq!(cell(&serde_json::json!(3)), "3");
        assert_eq!(time_cell(&serde_json::json!(0)), "1970-01-01T00:00:00Z");
        assert_eq!(time_cell(&Value::Null), "-");
        assert_eq!(time_cell(&serde_json::json!(u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn table_cells_cannot_drive_the_terminal() {
        // Allowed: plain text, accents, wide characters.
        assert_eq!(terminal_safe("héllo 世界"), "héllo 世界");
        // Refused: an escape sequence, a carriage return, a bidi override.
        assert_eq!(terminal_safe("\u{1b}[2Jx"), "\\u{1b}[2Jx");
        assert_eq!(terminal_safe("ok\rforged"), "ok\\u{d}forged");
        assert_eq!(terminal_safe("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(terminal_safe("a\u{200f}\u{9b}b"), "a\\u{200f}\\u{9b}b");
    }

    #[test]
    fn items_of_an_answer() {
        let v = serde_json::json!({"tenants":[1,2]});
        assert_eq!(items(&v, "tenants").len(), 2);
        assert!(items(&v, "nope").is_empty());
        assert!(items(&Value::Null, "tenants").is_empty());
    }
}
