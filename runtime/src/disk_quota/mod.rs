//! The tenant disk quota: `wasi:filesystem/types` as wasmtime-wasi
//! implements it, with every call that can grow a tenant's directory
//! checked against `[files_quota]` first.
//!
//! - Each tenant has one [`DiskUsage`] (bytes of regular files, and
//!   entries: files, directories and links), measured by walking its
//!   directory the first time one of its calls writes, then kept up to date
//!   by the calls themselves.
//! - Growth is counted before it happens and refused with the WASI error
//!   `quota` (the guest sees `EDQUOT`) when it would pass the quota: bytes
//!   written through streams or `write`, `set-size` past the end, and new
//!   entries (`open-at` with `create`, `create-directory-at`, `link-at`,
//!   `symlink-at`). Deletions give their room back.
//! - The count errs high, never low: an overwrite counts as growth. When a
//!   write would pass the quota, the directory is measured again before the
//!   write is refused (at most once a second per tenant, so that a guest
//!   retrying in a loop cannot make the host walk its tree over and over).
//!
//! Everything else is delegated unchanged to wasmtime-wasi (in `fs`).

mod fs;

pub use fs::{QuotaFilesystem, QuotaFsView, QuotaView};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;

/// Per-tenant quota of the files directory (`[files_quota]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesQuota {
    /// Bytes of regular files a tenant may hold, over all its users.
    pub max_bytes: u64,
    /// Entries (files, directories, links) a tenant may hold.
    pub max_files: u64,
}

impl Default for FilesQuota {
    fn default() -> Self {
        FilesQuota { max_bytes: 1 << 30, max_files: 100_000 }
    }
}

/// One tenant's disk usage, shared by its calls.
#[derive(Debug, Default)]
pub struct DiskUsage {
    bytes: AtomicU64,
    files: AtomicU64,
    /// When the directory was last walked (`None`: never).
    measured: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How often a tenant's directory may be walked again to correct the count.
const REMEASURE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl DiskUsage {
    /// `(bytes, entries)` as last counted (not measured if never needed).
    pub fn get(&self) -> (u64, u64) {
        (self.bytes.load(Ordering::Relaxed), self.files.load(Ordering::Relaxed))
    }

    /// Measures `root` if it never was, or if `again` and the last
    /// measurement is older than [`REMEASURE_EVERY`]. True if it measured.
    fn measure_if_due(&self, root: &Path, again: bool) -> bool {
        let mut measured = self.measured.lock().unwrap_or_else(|e| e.into_inner());
        let due = match *measured {
            None => true,
            Some(at) => again && at.elapsed() >= REMEASURE_EVERY,
        };
        if due {
            self.store(measure(root));
            *measured = Some(std::time::Instant::now());
        }
        due
    }

    fn store(&self, (bytes, files): (u64, u64)) {
        self.bytes.store(bytes, Ordering::Relaxed);
        self.files.store(files, Ordering::Relaxed);
    }
}

/// `(bytes of regular files, entries)` under `root`, not following links.
/// Entries that vanish during the walk are skipped.
pub fn measure(root: &Path) -> (u64, u64) {
    let (mut bytes, mut files) = (0u64, 0u64);
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            files += 1;
            if meta.is_dir() {
                dirs.push(entry.path());
            } else if meta.is_file() {
                bytes += meta.len();
            }
        }
    }
    (bytes, files)
}

/// The quota side of one call: the tenant's usage and where to measure it.
#[derive(Clone)]
pub struct DiskCtx {
    usage: Arc<DiskUsage>,
    quota: FilesQuota,
    root: PathBuf,
    audit: crate::caps::CallAudit,
    /// Whether this call's first refusal was noted for the audit log.
    noted: Arc<std::sync::atomic::AtomicBool>,
}

impl DiskCtx {
    /// A call's context: `usage` is the tenant's, `root` its files directory.
    pub fn new(usage: Arc<DiskUsage>, quota: FilesQuota, root: PathBuf) -> Self {
        DiskCtx { usage, quota, root, audit: Default::default(), noted: Default::default() }
    }

    /// Notes the call's first refusal in `audit` (`files.quota`).
    pub fn with_audit(mut self, audit: crate::caps::CallAudit) -> Self {
        self.audit = audit;
        self
    }

    /// A context in which nothing may grow (`describe`).
    pub fn denied() -> Self {
        DiskCtx::new(Arc::default(), FilesQuota { max_bytes: 0, max_files: 0 }, PathBuf::new())
    }

    /// Takes `n` from the tenant's room in `counter` (bytes or entries), or
    /// refuses with `quota` once a fresh measurement confirms it is full.
    fn reserve(&self, n: u64, entries: bool) -> Result<(), ErrorCode> {
        self.usage.measure_if_due(&self.root, false);
        let mut measured_again = false;
        loop {
            let (counter, max) = match entries {
                true => (&self.usage.files, self.quota.max_files),
                false => (&self.usage.bytes, self.quota.max_bytes),
            };
            let took = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|total| *total <= max)
            });
            match took {
                Ok(_) => return Ok(()),
                Err(_) if !measured_again && self.usage.measure_if_due(&self.root, true) => {
                    measured_again = true;
                }
                Err(_) => {
                    if !self.noted.swap(true, Ordering::Relaxed) {
                        let what = if entries { "entries" } else { "bytes" };
                        self.audit.limited("files.quota", &format!("{what}: {max}"));
                    }
                    return Err(ErrorCode::Quota);
                }
            }
        }
    }

    fn release(&self, bytes: u64, entries: u64) {
        let sub = |c: &AtomicU64, n: u64| {
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| Some(u.saturating_sub(n)));
        };
        sub(&self.usage.bytes, bytes);
        sub(&self.usage.files, entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(dir: &Path, quota: FilesQuota) -> DiskCtx {
        DiskCtx::new(Arc::new(DiskUsage::default()), quota, dir.to_path_buf())
    }

    #[test]
    fn measures_files_and_bytes_without_following_links() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), [0; 100]).unwrap();
        std::fs::write(d.path().join("b"), [0; 20]).unwrap();
        std::os::unix::fs::symlink("/usr", d.path().join("link")).unwrap();
        assert_eq!(measure(d.path()), (120, 4));
    }

    #[test]
    fn reserves_up_to_the_quota_then_refuses() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), [0; 40]).unwrap();
        let c = ctx(d.path(), FilesQuota { max_bytes: 100, max_files: 2 });
        assert_eq!(c.reserve(60, false), Ok(()));
        assert_eq!(c.reserve(1, false), Err(ErrorCode::Quota));
        assert_eq!(c.reserve(1, true), Ok(()));
        assert_eq!(c.reserve(1, true), Err(ErrorCode::Quota));
        assert_eq!(c.usage.get(), (100, 2));
    }

    #[test]
    fn an_overcount_is_corrected_by_measuring_before_refusing() {
        let d = tempfile::tempdir().unwrap();
        let c = ctx(d.path(), FilesQuota { max_bytes: 100, max_files: 10 });
        assert_eq!(c.reserve(10, false), Ok(()));
        // Measured just now: no second walk within the second.
        assert_eq!(c.reserve(95, false), Err(ErrorCode::Quota));
        *c.usage.measured.lock().unwrap() = Some(std::time::Instant::now() - REMEASURE_EVERY);
        // As if a file had been overwritten in place: counted, not grown.
        // The directory is empty, so the overcount must not refuse.
        assert_eq!(c.reserve(95, false), Ok(()));
        assert_eq!(c.usage.get().0, 95);
        assert_eq!(c.reserve(6, false), Err(ErrorCode::Quota));
    }

    #[test]
    fn releases_never_go_below_zero() {
        let d = tempfile::tempdir().unwrap();
        let c = ctx(d.path(), FilesQuota::default());
        c.reserve(5, false).unwrap();
        c.release(10, 3);
        assert_eq!(c.usage.get(), (0, 0));
    }
}
