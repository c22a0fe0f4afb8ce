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
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
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

/// Which events a query returns.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this tenant's events.
    pub tenant: Option<String>,
    /// Only events at or after this time (seconds since the Unix epoch).
    pub since: Option<u64>,
    /// At most this many (the latest).
    pub limit: usize,
}

impl AuditFilter {
    fn matches(&self, e: &Event) -> bool {
        self.tenant.as_ref().is_none_or(|t| e.tenant.as_ref() == Some(t))
            && self.since.is_none_or(|s| e.time >= s)
    }
}

/// An append-only JSON-lines file, rotated by size.
pub struct AuditLog {
    path: PathBuf,
    config: AuditConfig,
    file: Mutex<Current>,
}

struct Current {
    file: std::fs::File,
    len: u64,
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

impl AuditLog {
    /// Opens (or creates, mode 0600) the log at `path`, rotating it as
    /// `config` says.
    pub fn open(path: &Path, config: &AuditConfig) -> std::io::Result<AuditLog> {
        let mut file = open_append(path)?;
        let mut len = file.metadata()?.len();
        if len > 0 && !ends_with_newline(path)? {
            // A crash tore the last line: end it, so the next one is whole.
            file.write_all(b"\n")?;
            len += 1;
        }
        Ok(AuditLog { path: path.to_path_buf(), config: *config, file: Mutex::new(Current { file, len }) })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of the `n`-th rotated file (`audit.log.1` is the newest).
    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    /// Shifts `audit.log.N` up by one (dropping what passes `keep`), moves
    /// the current file to `audit.log.1` and starts a new one.
    fn rotate(&self, current: &mut Current) -> std::io::Result<()> {
        let keep = self.config.keep;
        if keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(keep));
            for n in (1..keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        current.file = open_append(&self.path)?;
        current.len = 0;
        Ok(())
    }

    /// Appends `event` and flushes it to disk, rotating first when the
    /// line would take the file past its size.
    pub fn record(&self, event: &Event) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut current = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if current.len > 0 && current.len + line.len() as u64 > self.config.max_bytes {
            self.rotate(&mut current)?;
        }
        current.file.write_all(&line)?;
        current.len += line.len() as u64;
        current.file.sync_data()
    }

    /// The events matching `filter`, oldest first: the last `limit` of
    /// them, over the rotated files and the current one. Lines that do not
    /// parse (a torn last line after a crash) are skipped.
    pub fn query(&self, filter: &AuditFilter) -> std::io::Result<Vec<Event>> {
        let mut files: Vec<PathBuf> = (1..=self.config.keep).rev().map(|n| self.rotated(n)).collect();
        files.push(self.path.clone());
        let mut out = std::collections::VecDeque::new();
        for path in files {
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for event in text.lines().filter_map(|l| serde_json::from_str::<Event>(l).ok()) {
                if filter.matches(&event) {
                    out.push_back(event);
                    if out.len() > filter.limit {
                        out.pop_front();
                    }
                }
            }
        }
        Ok(out.into())
    }

    /// Every event in the log, as JSON values (for tests).
    pub fn read_all(&self) -> std::io::Result<Vec<serde_json::Value>> {
        let all = self.query(&AuditFilter { limit: usize::MAX, ..Default::default() })?;
        all.iter().map(|e| serde_json::to_value(e).map_err(std::io::Error::other)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_appended_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.log"), &AuditConfig::default()).unwrap();
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

    fn event(time: u64, tenant: &str) -> Event {
        Event {
            time,
            actor: "operator".into(),
            tenant: Some(tenant.into()),
            action: "policy.set".into(),
            target: tenant.into(),
            outcome: "ok".into(),
        }
    }

    #[test]
    fn rotation_keeps_every_line_within_keep_files_and_queries_span_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let line = serde_json::to_vec(&event(0, "a")).unwrap().len() as u64 + 1;
        let config = AuditConfig { max_bytes: line * 3, keep: 2 };
        let log = AuditLog::open(&path, &config).unwrap();
        for i in 0..8 {
            log.record(&event(i, if i % 2 == 0 { "a" } else { "b" })).unwrap();
        }
        // Three lines per file: .2 holds 0..3, .1 holds 3..6, the current file 6..8.
        assert!(dir.path().join("audit.log.1").exists() && dir.path().join("audit.log.2").exists());
        assert!(!dir.path().join("audit.log.3").exists());
        let all = log.query(&AuditFilter { limit: 100, ..Default::default() }).unwrap();
        assert_eq!(all.iter().map(|e| e.time).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
        for _ in 8..11 {
            log.record(&event(9, "a")).unwrap();
        }
        let all = log.query(&AuditFilter { limit: 100, ..Default::default() }).unwrap();
        assert_eq!(all.len(), 8, "the oldest file was dropped: keep = 2 rotated files");
        assert_eq!(all[0].time, 3);

        let b = log.query(&AuditFilter { tenant: Some("b".into()), since: Some(5), limit: 100 }).unwrap();
        assert_eq!(b.iter().map(|e| e.time).collect::<Vec<_>>(), [5, 7]);
        let last = log.query(&AuditFilter { limit: 2, ..Default::default() }).unwrap();
        assert_eq!(last.len(), 2);
        assert_eq!(last[0].time, 9, "the limit keeps the latest");
        #[cfg(unix)]
        for f in ["audit.log", "audit.log.1", "audit.log.2"] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{f} is private");
        }
    }

    #[test]
    fn a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, &AuditConfig::default()).unwrap();
        log.record(&event(1, "a")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"time\":2,\"act")
            .unwrap();
        let reopened = AuditLog::open(&path, &AuditConfig::default()).unwrap();
        reopened.record(&event(3, "a")).unwrap();
        let times: Vec<u64> = reopened
            .query(&AuditFilter { limit: 10, ..Default::default() })
            .unwrap()
            .iter()
            .map(|e| e.time)
            .collect();
        assert_eq!(times, [1, 3], "the torn line is skipped; the next one starts on a line of its own");
    }
}
