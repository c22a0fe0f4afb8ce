//! The audit log: one JSON line per security-relevant event, appended to
//! `<data-dir>/audit.log` and flushed before the call that caused it
//! returns. A line never holds a secret value: only names.

use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Rotation of the audit log: when the file passes `max_bytes`, it is
/// renamed `audit.log.1` (older ones shift up) and at most `keep` rotated
/// files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Size at which the log rotates, in bytes.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { max_bytes: 64 * 1024 * 1024, keep: 5 }
    }
}

/// One audit record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// Who acted: `operator`, `skill:<name>`, `scheduler`, a token id.
    pub actor: String,
    /// The tenant concerned, if any.
    pub tenant: Option<String>,
    /// What happened, e.g. `secret.redacted`, `secret.write`, `policy.set`.
    pub action: String,
    /// What it happened to (names, never values).
    pub target: String,
    /// `ok`, `denied`, `redacted`, …
    pub outcome: String,
}

/// An append-only JSON-lines file.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

impl AuditLog {
    /// Opens (or creates, mode 0600) the log at `path`.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        Ok(AuditLog { path: path.to_path_buf(), file: Mutex::new(opts.open(path)?) })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event` and flushes it to disk.
    pub fn record(&self, event: &Event) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&line)?;
        f.sync_data()
    }

    /// Every event in the log (for tests and the `audit` command).
    pub fn read_all(&self) -> std::io::Result<Vec<serde_json::Value>> {
        let text = std::fs::read_to_string(&self.path)?;
        Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.log")).unwrap();
        for i in 0..3 {
            log.record(&Event {
                time: i,
                actor: "operator".into(),
                tenant: Some("acme".into()),
                action: "policy.set".into(),
                target: "acme".into(),
                outcome: "ok".into(),
            })
            .unwrap();
        }
        let all = log.read_all().unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2]["time"], 2);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(log.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the audit log is private");
        }
    }
}
