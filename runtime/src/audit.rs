//! The audit log: one JSON line per security-relevant event, appended to
//! `<data-dir>/audit.log` and flushed before the call that caused it
//! returns. A line never holds a secret value: only names.
//!
//! The log rotates by size ([`AuditConfig`]): `audit.log` becomes
//! `audit.log.1`, older files shift up and those past `keep` are dropped.
//! [`AuditLog::query`] reads the rotated files and the current one, oldest
//! first.

use crate::sync::lock;
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rotation of the audit log: when the file passes `max_bytes`, it is
/// renamed `audit.log.1` (older ones shift up) and at most `keep` rotated
/// files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Only this action (`token.mint`), or the actions starting with it
    /// when it ends with `*` (`token.*`).
    pub action: Option<String>,
    /// Only this outcome (`ok`, `denied`, …).
    pub outcome: Option<String>,
    /// Leave out this many of the latest matching events first (the next
    /// page of a listing that shows the latest first).
    pub skip: usize,
    /// Only events from `tenant`'s latest `tenant.create` on: a tenant
    /// created again under a deleted one's id does not read its
    /// predecessor's history (what tenants read; the operator reads all).
    pub since_created: bool,
}

/// The action that starts a tenant's history.
const TENANT_CREATE: &str = "tenant.create";

impl AuditFilter {
    /// Whether `e` starts the history this filter reads anew (the
    /// tenant's creation, when [`AuditFilter::since_created`]).
    fn starts_over(&self, e: &Event) -> bool {
        self.since_created && e.action == TENANT_CREATE && self.tenant.is_some() && e.tenant == self.tenant
    }

    fn matches(&self, e: &Event) -> bool {
        let action = match self.action.as_deref() {
            None => true,
            Some(a) => match a.strip_suffix('*') {
                Some(prefix) => e.action.starts_with(prefix),
                None => e.action == a,
            },
        };
        self.tenant.as_ref().is_none_or(|t| e.tenant.as_ref() == Some(t))
            && self.since.is_none_or(|s| e.time >= s)
            && action
            && self.outcome.as_ref().is_none_or(|o| &e.outcome == o)
    }
}

/// An append-only JSON-lines file, rotated by size.
///
/// One process writes a data directory's log (the database's lock keeps a
/// second gateway out); within it, [`AuditLog::record`] serializes writers
/// and rotations, and [`AuditLog::query`] reads without blocking them.
pub struct AuditLog {
    path: PathBuf,
    config: AuditConfig,
    file: Mutex<Current>,
    /// A sequence lock over the set of files: odd while a rotation renames
    /// them, bumped again when it is done. A query that sees it move reads
    /// again, so it never counts a line twice or misses a file.
    rotations: AtomicU64,
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

/// `Ok` when `r` succeeded or failed only because the file was not there.
fn unless_missing(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes renames and creations in `dir` durable (best effort: not every
/// file system can sync a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// What one pass over the log sees of each event: whether it starts the
/// history over ([`AuditFilter::starts_over`]) and whether it matches.
enum Seen {
    StartsOver { matches: bool },
    Matches,
    Other,
}

/// Passes every event of the file at `path` to `each`, as `filter` sees
/// it, until `each` returns false (then `Ok(false)`). A missing file has
/// none; a line that does not parse is skipped.
fn each_event(
    path: &Path,
    filter: &AuditFilter,
    mut each: impl FnMut(Event, Seen) -> bool,
) -> std::io::Result<bool> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(file).split(b'\n') {
        let Ok(event) = serde_json::from_slice::<Event>(&line?) else { continue };
        let matches = filter.matches(&event);
        let seen = if filter.starts_over(&event) {
            Seen::StartsOver { matches }
        } else if matches {
            Seen::Matches
        } else {
            Seen::Other
        };
        if !each(event, seen) {
            return Ok(false);
        }
    }
    Ok(true)
}

impl AuditLog {
    /// Opens (or creates, mode 0600) the log at `path`, rotating it as
    /// `config` says. A last line torn by a crash is ended, so the next
    /// record starts on a line of its own.
    pub fn open(path: &Path, config: &AuditConfig) -> std::io::Result<AuditLog> {
        let mut file = open_append(path)?;
        let mut len = file.metadata()?.len();
        if len > 0 && !ends_with_newline(path)? {
            file.write_all(b"\n")?;
            file.sync_data()?;
            len += 1;
        }
        Ok(AuditLog {
            path: path.to_path_buf(),
            config: *config,
            file: Mutex::new(Current { file, len }),
            rotations: AtomicU64::new(0),
        })
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

    /// The files of the log, oldest first: the rotated ones, then the
    /// current one.
    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = (1..=self.config.keep).rev().map(|n| self.rotated(n)).collect();
        files.push(self.path.clone());
        files
    }

    /// Shifts `audit.log.N` up by one (dropping what passes `keep`), moves
    /// the current file to `audit.log.1` and starts a new one. Called with
    /// the lock held; a line is never in two files at once, and leaves the
    /// last one only when it passes `keep`.
    fn rotate(&self, current: &mut Current) -> std::io::Result<()> {
        self.rotations.fetch_add(1, Ordering::SeqCst);
        let renamed = self.shift_files();
        // Even a failed rotation may have moved files: let queries re-read.
        self.rotations.fetch_add(1, Ordering::SeqCst);
        renamed?;
        current.file = open_append(&self.path)?;
        current.len = 0;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir);
        }
        Ok(())
    }

    fn shift_files(&self) -> std::io::Result<()> {
        let keep = self.config.keep;
        if keep == 0 {
            // No rotated file is kept: the full log is dropped.
            return unless_missing(std::fs::remove_file(&self.path));
        }
        // The oldest kept file, and any left beyond it by a larger `keep`.
        let mut n = keep;
        while self.rotated(n).exists() {
            std::fs::remove_file(self.rotated(n))?;
            n += 1;
        }
        for n in (1..keep).rev() {
            unless_missing(std::fs::rename(self.rotated(n), self.rotated(n + 1)))?;
        }
        // Missing only when an earlier rotation failed after this rename.
        unless_missing(std::fs::rename(&self.path, self.rotated(1)))
    }

    /// Appends `event` and flushes it to disk before returning, rotating
    /// first when the line would take the current file past `max_bytes`
    /// (a line longer than that gets a file of its own).
    pub fn record(&self, event: &Event) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut current = lock(&self.file);
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
        if filter.limit == 0 {
            return Ok(Vec::new());
        }
        for _ in 0..3 {
            let before = self.rotations.load(Ordering::SeqCst);
            if before % 2 == 1 {
                std::thread::yield_now();
                continue;
            }
            let events = self.scan(filter)?;
            if self.rotations.load(Ordering::SeqCst) == before {
                return Ok(events);
            }
        }
        // Rotations keep overtaking the reads: read with writers held off.
        let _current = lock(&self.file);
        self.scan(filter)
    }

    /// The matching events `filter` asks for (from the tenant's latest
    /// creation on, if it says so). Without `skip`, one pass keeping the
    /// last `limit`; with it, a pass that counts the matches and one that
    /// keeps the `limit` before the last `skip`, so memory is bounded by
    /// `limit` whatever `skip` is (events appended between the passes come
    /// after the window; a rotation is caught by the caller).
    fn scan(&self, filter: &AuditFilter) -> std::io::Result<Vec<Event>> {
        let files = self.files();
        if filter.skip == 0 {
            let mut out = VecDeque::new();
            for path in &files {
                each_event(path, filter, |e, seen| {
                    let keep = match seen {
                        Seen::StartsOver { matches } => {
                            out.clear();
                            matches
                        }
                        Seen::Matches => true,
                        Seen::Other => false,
                    };
                    if keep {
                        out.push_back(e);
                        if out.len() > filter.limit {
                            out.pop_front();
                        }
                    }
                    true
                })?;
            }
            return Ok(out.into());
        }
        // Pass 1: the matches since the last start (and where it is).
        let (mut total, mut event_index, mut start_at) = (0usize, 0usize, 0usize);
        for path in &files {
            each_event(path, filter, |_, seen| {
                match seen {
                    Seen::StartsOver { matches } => {
                        total = usize::from(matches);
                        start_at = event_index;
                    }
                    Seen::Matches => total += 1,
                    Seen::Other => {}
                }
                event_index += 1;
                true
            })?;
        }
        let end = total.saturating_sub(filter.skip);
        let start = end.saturating_sub(filter.limit);
        // Pass 2: the page, counting matches from the last start.
        let (mut event_index, mut index, mut out) = (0usize, 0usize, Vec::new());
        for path in &files {
            let more = each_event(path, filter, |e, seen| {
                let counted = event_index >= start_at
                    && !matches!(seen, Seen::Other | Seen::StartsOver { matches: false });
                event_index += 1;
                if counted {
                    if index >= start && index < end {
                        out.push(e);
                    }
                    index += 1;
                }
                index < end
            })?;
            if !more {
                break;
            }
        }
        Ok(out)
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
    fn events_filter_by_action_and_outcome_and_page_from_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.log"), &AuditConfig::default()).unwrap();
        for i in 0..10 {
            let action = if i % 2 == 0 { "token.mint" } else { "tenant.suspend" };
            let outcome = if i % 3 == 0 { "denied" } else { "ok" };
            let event = Event {
                time: i,
                actor: "operator".into(),
                tenant: None,
                action: action.into(),
                target: format!("t{i}"),
                outcome: outcome.into(),
            };
            log.record(&event).unwrap();
        }
        let targets = |f: AuditFilter| -> Vec<String> {
            log.query(&AuditFilter { limit: f.limit.max(1), ..f })
                .unwrap()
                .into_iter()
                .map(|e| e.target)
                .collect()
        };
        let mints =
            targets(AuditFilter { action: Some("token.mint".into()), limit: 100, ..Default::default() });
        assert_eq!(mints, ["t0", "t2", "t4", "t6", "t8"]);
        let prefix =
            targets(AuditFilter { action: Some("tenant.*".into()), limit: 100, ..Default::default() });
        assert_eq!(prefix, ["t1", "t3", "t5", "t7", "t9"]);
        assert!(
            targets(AuditFilter { action: Some("token.".into()), limit: 100, ..Default::default() })
                .is_empty()
        );
        let denied =
            targets(AuditFilter { outcome: Some("denied".into()), limit: 100, ..Default::default() });
        assert_eq!(denied, ["t0", "t3", "t6", "t9"]);
        // Pages of three, the latest first: skip 0, 3, 6, 9.
        let page = |skip| targets(AuditFilter { limit: 3, skip, ..Default::default() });
        assert_eq!(page(0), ["t7", "t8", "t9"]);
        assert_eq!(page(3), ["t4", "t5", "t6"]);
        assert_eq!(page(9), ["t0"]);
        assert!(page(10).is_empty());
    }

    #[test]
    fn a_tenant_created_again_reads_only_its_own_history_in_one_page_or_many() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.log"), &AuditConfig::default()).unwrap();
        let mut time = 0;
        let mut add = |tenant: &str, action: &str, target: &str| {
            time += 1;
            let event = Event {
                time,
                actor: "operator".into(),
                tenant: Some(tenant.into()),
                action: action.into(),
                target: target.into(),
                outcome: "ok".into(),
            };
            log.record(&event).unwrap();
        };
        add("reuse", "tenant.create", "reuse");
        add("reuse", "token.mint", "old-1");
        add("other", "token.mint", "theirs");
        add("reuse", "tenant.delete", "reuse");
        add("reuse", "tenant.create", "reuse");
        add("reuse", "token.mint", "new-1");
        add("reuse", "token.mint", "new-2");
        let targets = |f: AuditFilter| -> Vec<String> {
            log.query(&f).unwrap().into_iter().map(|e| e.target).collect()
        };
        let base = AuditFilter {
            tenant: Some("reuse".into()),
            limit: 100,
            since_created: true,
            ..Default::default()
        };
        assert_eq!(targets(base.clone()), ["reuse", "new-1", "new-2"]);
        let mints = AuditFilter { action: Some("token.mint".into()), ..base.clone() };
        assert_eq!(targets(mints.clone()), ["new-1", "new-2"]);
        assert_eq!(targets(AuditFilter { limit: 1, skip: 1, ..mints.clone() }), ["new-1"]);
        assert!(targets(AuditFilter { limit: 1, skip: 2, ..mints.clone() }).is_empty(), "not old-1");
        assert_eq!(targets(AuditFilter { limit: 2, skip: 1, ..base.clone() }), ["reuse", "new-1"]);
        // The operator reads the whole history.
        let all = AuditFilter { since_created: false, ..mints };
        assert_eq!(targets(all), ["old-1", "new-1", "new-2"]);
    }

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

        let b = log
            .query(&AuditFilter {
                tenant: Some("b".into()),
                since: Some(5),
                limit: 100,
                ..Default::default()
            })
            .unwrap();
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

    /// The length of `event(_, "a")`'s line with times below 10.
    fn line_len() -> u64 {
        serde_json::to_vec(&event(0, "a")).unwrap().len() as u64 + 1
    }

    fn lines_in(path: &Path) -> Vec<String> {
        match std::fs::read_to_string(path) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }

    fn times(log: &AuditLog, filter: &AuditFilter) -> Vec<u64> {
        log.query(filter).unwrap().iter().map(|e| e.time).collect()
    }

    fn everything() -> AuditFilter {
        AuditFilter { limit: usize::MAX, ..Default::default() }
    }

    #[test]
    fn rotation_happens_when_the_next_line_would_pass_max_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, &AuditConfig { max_bytes: line_len() * 3, keep: 3 }).unwrap();
        for i in 0..3 {
            log.record(&event(i, "a")).unwrap();
        }
        assert_eq!(std::fs::metadata(&path).unwrap().len(), line_len() * 3, "exactly full");
        assert!(!dir.path().join("audit.log.1").exists(), "reaching max_bytes is not passing it");
        log.record(&event(3, "a")).unwrap();
        assert_eq!(lines_in(&dir.path().join("audit.log.1")).len(), 3);
        assert_eq!(lines_in(&path).len(), 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), line_len());
    }

    #[test]
    fn a_line_longer_than_max_bytes_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, &AuditConfig { max_bytes: 10, keep: 5 }).unwrap();
        for i in 0..3 {
            log.record(&event(i, "a")).unwrap();
        }
        for f in ["audit.log", "audit.log.1", "audit.log.2"] {
            assert_eq!(lines_in(&dir.path().join(f)).len(), 1, "{f}");
        }
        assert_eq!(times(&log, &everything()), [0, 1, 2]);
    }

    #[test]
    fn many_rotations_lose_and_duplicate_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let max_bytes = line_len() * 4 + 7;
        let log = AuditLog::open(&path, &AuditConfig { max_bytes, keep: 100 }).unwrap();
        for i in 0..120 {
            log.record(&event(i, "a")).unwrap();
        }
        let mut files = vec![path.clone()];
        files.extend((1..=100).map(|n| dir.path().join(format!("audit.log.{n}"))));
        let mut lines = 0;
        for f in &files {
            if let Ok(meta) = std::fs::metadata(f) {
                assert!(meta.len() <= max_bytes, "{} has {} bytes", f.display(), meta.len());
                lines += lines_in(f).len();
            }
        }
        assert_eq!(lines, 120);
        assert_eq!(times(&log, &everything()), (0..120).collect::<Vec<_>>());
    }

    #[test]
    fn at_most_keep_rotated_files_remain_even_after_keep_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, &AuditConfig { max_bytes: 1, keep: 4 }).unwrap();
        for i in 0..10 {
            log.record(&event(i, "a")).unwrap();
        }
        assert!(dir.path().join("audit.log.4").exists() && !dir.path().join("audit.log.5").exists());
        drop(log);
        let log = AuditLog::open(&path, &AuditConfig { max_bytes: 1, keep: 2 }).unwrap();
        log.record(&event(10, "a")).unwrap();
        let left: Vec<bool> = (1..=5).map(|n| dir.path().join(format!("audit.log.{n}")).exists()).collect();
        assert_eq!(left, [true, true, false, false, false]);
        assert_eq!(times(&log, &everything()), [8, 9, 10]);
    }

    #[test]
    fn keep_zero_drops_the_full_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, &AuditConfig { max_bytes: line_len() * 2, keep: 0 }).unwrap();
        for i in 0..5 {
            log.record(&event(i, "a")).unwrap();
        }
        assert!(!dir.path().join("audit.log.1").exists());
        assert_eq!(times(&log, &everything()), [4]);
    }

    #[test]
    fn a_reopened_log_counts_what_the_file_already_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let config = AuditConfig { max_bytes: line_len() * 3, keep: 2 };
        let log = AuditLog::open(&path, &config).unwrap();
        log.record(&event(0, "a")).unwrap();
        log.record(&event(1, "a")).unwrap();
        drop(log);
        let log = AuditLog::open(&path, &config).unwrap();
        log.record(&event(2, "a")).unwrap();
        log.record(&event(3, "a")).unwrap();
        assert_eq!(lines_in(&dir.path().join("audit.log.1")).len(), 3);
        assert_eq!(times(&log, &everything()), [0, 1, 2, 3]);
    }

    #[test]
    fn the_tenant_filter_is_exact_and_a_zero_limit_returns_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.log"), &AuditConfig::default()).unwrap();
        log.record(&event(1, "acme")).unwrap();
        log.record(&event(2, "ac")).unwrap();
        log.record(&Event { tenant: None, ..event(3, "") }).unwrap();
        let acme = AuditFilter { tenant: Some("ac".into()), ..everything() };
        assert_eq!(times(&log, &acme), [2]);
        assert_eq!(times(&log, &AuditFilter { since: Some(2), ..everything() }), [2, 3]);
        assert_eq!(times(&log, &AuditFilter { since: Some(4), ..everything() }), Vec::<u64>::new());
        assert!(log.query(&AuditFilter::default()).unwrap().is_empty());
    }

    #[test]
    fn a_torn_line_in_a_rotated_file_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let config = AuditConfig { max_bytes: line_len() * 2, keep: 3 };
        let log = AuditLog::open(&path, &config).unwrap();
        log.record(&event(0, "a")).unwrap();
        drop(log);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"ti").unwrap();
        let log = AuditLog::open(&path, &config).unwrap();
        for i in 1..4 {
            log.record(&event(i, "a")).unwrap();
        }
        // .2 holds line 0 and the torn line, .1 lines 1 and 2, the current file line 3.
        assert_eq!(lines_in(&dir.path().join("audit.log.2")).last().unwrap(), "{\"ti");
        assert_eq!(times(&log, &everything()), [0, 1, 2, 3]);
    }

    #[test]
    fn a_query_racing_rotations_sees_every_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, &AuditConfig { max_bytes: line_len() * 2, keep: 200 }).unwrap();
        let n = 150;
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                for i in 0..n {
                    log.record(&event(i, "a")).unwrap();
                }
            });
            loop {
                let done = writer.is_finished();
                let seen = times(&log, &everything());
                assert_eq!(seen, (0..seen.len() as u64).collect::<Vec<_>>(), "a gap or a duplicate");
                if done {
                    assert_eq!(seen.len() as u64, n);
                    break;
                }
            }
        });
    }
}
