//! The tenant disk quota: `wasi:filesystem/types` as wasmtime-wasi
//! implements it, with every call that can grow a tenant's directory
//! checked against `[files_quota]` first.
//!
//! What it bounds, exactly: the **apparent size** (`st_size`) of the
//! tenant's regular files, counted once per inode, and its **entries**
//! (files, directories, links). Apparent size is what each WASI operation
//! says it will add before it runs (a write at `offset` of `len` bytes adds
//! `max(0, offset + len - size)`), so every reservation is exact and made
//! before the disk is touched; a sparse file counts at its full length, so
//! holes buy nothing. The disk really used is at most `max_bytes` plus one
//! filesystem block per entry (`max_files` × 4 KiB on ext4), whatever the
//! guest writes.
//!
//! - Each tenant has one [`DiskUsage`], measured by walking its directory
//!   ([`crate::tree`]: relative to descriptors, never through a link, no
//!   path length limit) the first time one of its calls changes it, then
//!   kept exact by the calls themselves: every call that changes the tree
//!   runs under the tenant's lock and stats what it changes before and
//!   after, so it reserves before it grows and gives back only what was
//!   counted.
//! - Growth past the quota is refused with the WASI error `quota` (the guest
//!   sees `EDQUOT`): positional and stream writes, `set-size`, new entries
//!   (`open-at` with `create`, through a link too, `create-directory-at`,
//!   `link-at`, `symlink-at`). Deletions, truncations and renames over an
//!   entry give back what they destroy. An unlinked file that some call
//!   still holds open stays counted until its last handle closes.
//! - Directories nest at most `max_depth` levels: `create-directory-at` or
//!   a `rename-at` that would go deeper is refused with `name-too-long`, so
//!   every host walk of the tree (backup, measurement, deletion) sees all
//!   of it.
//! - Before a growth is refused the directory is measured again (at most
//!   once a second per tenant). A measurement that could not see all of the
//!   tree never lowers the count.
//!
//! Everything else is delegated unchanged to wasmtime-wasi (`fs` is the
//! call's view of its filesystem, `descriptor` its descriptor calls).

mod depth;
mod descriptor;
mod fs;
mod stream;
#[cfg(test)]
mod tests;

use crate::config::FilesQuota;
use crate::sync::lock;
pub use fs::{QuotaFilesystem, QuotaFsView, QuotaView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime_wasi::p2::bindings::filesystem::types::ErrorCode;

/// A file's identity: device and inode.
type Inode = (u64, u64);

fn inode(stat: &rustix::fs::Stat) -> Inode {
    (stat.st_dev, stat.st_ino)
}

/// One tenant's disk usage, shared by its calls.
#[derive(Debug, Default)]
pub struct DiskUsage {
    /// Held by every call that changes the tenant's tree, for the whole
    /// change: each then sees its own effect exactly.
    op: tokio::sync::Mutex<()>,
    state: std::sync::Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    bytes: u64,
    files: u64,
    /// When the directory was last walked (`None`: never).
    measured: Option<std::time::Instant>,
    /// The tenant's open files (descriptors and streams) by inode.
    open: HashMap<Inode, u32>,
    /// Unlinked files still open, with the bytes of each still counted.
    orphans: HashMap<Inode, u64>,
}

/// How often a tenant's directory may be walked again to correct the count.
const REMEASURE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl DiskUsage {
    /// `(bytes, entries)` as last counted (not measured if never needed).
    pub fn get(&self) -> (u64, u64) {
        let s = self.state();
        (s.bytes, s.files)
    }

    /// `(bytes, entries)` once the tenant's directory has been walked
    /// (its first call that needed the count); `None` before.
    pub fn counted(&self) -> Option<(u64, u64)> {
        let s = self.state();
        s.measured.map(|_| (s.bytes, s.files))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Walks `root` and takes what it found as the count (blocking; the
    /// caller holds `op`). A walk that could not see everything only ever
    /// raises the count.
    fn measure(&self, root: &Path) {
        let found = measure(root);
        let mut s = self.state();
        let orphans: u64 = s.orphans.values().sum();
        let bytes = found.bytes.saturating_add(orphans);
        if found.complete {
            (s.bytes, s.files) = (bytes, found.files);
        } else {
            (s.bytes, s.files) = (s.bytes.max(bytes), s.files.max(found.files));
        }
        s.measured = Some(std::time::Instant::now());
    }

    /// Whether a walk is due: never measured, or `again` and the last walk
    /// is older than [`REMEASURE_EVERY`].
    fn due(&self, again: bool) -> bool {
        match self.state().measured {
            None => true,
            Some(at) => again && at.elapsed() >= REMEASURE_EVERY,
        }
    }

    /// Takes `n` bytes (or entries) if they fit under `max`.
    fn try_take(&self, n: u64, entries: bool, max: u64) -> bool {
        let mut s = self.state();
        let counter = if entries { &mut s.files } else { &mut s.bytes };
        match counter.checked_add(n).filter(|total| *total <= max) {
            Some(total) => {
                *counter = total;
                true
            }
            None => false,
        }
    }

    /// Gives back `bytes` and `entries` (never below zero).
    fn release(&self, bytes: u64, entries: u64) {
        let mut s = self.state();
        s.bytes = s.bytes.saturating_sub(bytes);
        s.files = s.files.saturating_sub(entries);
    }

    /// Adds bytes that grew without a reservation (should not happen: kept
    /// so that the count never falls behind the disk).
    fn force(&self, bytes: u64) {
        let mut s = self.state();
        s.bytes = s.bytes.saturating_add(bytes);
    }

    fn opened(&self, file: Inode) {
        *self.state().open.entry(file).or_default() += 1;
    }

    fn closed(&self, file: Inode) {
        let mut s = self.state();
        let Some(n) = s.open.get_mut(&file) else { return };
        *n -= 1;
        if *n == 0 {
            s.open.remove(&file);
            if let Some(bytes) = s.orphans.remove(&file) {
                s.bytes = s.bytes.saturating_sub(bytes);
            }
        }
    }

    /// A file of `size` bytes lost its last link: its bytes are freed now,
    /// or with its last handle if it is open.
    fn unlinked(&self, file: Inode, size: u64) {
        let mut s = self.state();
        if s.open.contains_key(&file) {
            *s.orphans.entry(file).or_default() += size;
        } else {
            s.bytes = s.bytes.saturating_sub(size);
        }
    }

    /// An unlinked, open file changed size by `delta` bytes (counted or
    /// released by the caller as for any file); kept beside it so that its
    /// last close gives back exactly what it holds.
    fn orphan_resized(&self, file: Inode, delta: i128) {
        let mut s = self.state();
        let held = s.orphans.entry(file).or_default();
        *held = (i128::from(*held) + delta).clamp(0, i128::from(u64::MAX)) as u64;
    }
}

/// What a walk of a tenant's directory found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measured {
    /// Apparent size of its regular files, each inode once.
    pub bytes: u64,
    /// Its entries: files, directories, links.
    pub files: u64,
    /// Whether the walk saw all of it (nothing deeper than it may go).
    pub complete: bool,
}

/// What is under `root`, not following links, counting a hard-linked file
/// once; entries that vanish during the walk are skipped.
pub fn measure(root: &Path) -> Measured {
    let mut m = Measured { complete: true, ..Default::default() };
    let fd = match crate::tree::open_root(root) {
        Ok(Some(fd)) => fd,
        Ok(None) => return m,
        Err(_) => return Measured { complete: false, ..m },
    };
    let mut linked = std::collections::HashSet::new();
    let walked = crate::tree::walk(rustix::fd::AsFd::as_fd(&fd), |e| {
        m.files += 1;
        if e.kind == rustix::fs::FileType::RegularFile
            && (e.stat.st_nlink <= 1 || linked.insert(inode(e.stat)))
        {
            m.bytes = m.bytes.saturating_add(e.stat.st_size as u64);
        }
        Ok(true)
    });
    m.complete = matches!(walked, Ok(w) if w.deep == 0);
    m
}

/// The quota side of one call, shared with the streams it opens.
struct Meter {
    usage: Arc<DiskUsage>,
    quota: FilesQuota,
    root: PathBuf,
    audit: crate::caps::CallAudit,
    /// Whether this call's first refusal was noted for the audit log.
    noted: AtomicBool,
}

impl Meter {
    /// Notes the call's first refusal for the audit log.
    fn refused(&self, what: &'static str, limit: String) {
        if !self.noted.swap(true, Ordering::Relaxed) {
            self.audit.limited(what, &limit);
        }
    }

    fn max(&self, entries: bool) -> u64 {
        if entries { self.quota.max_files } else { self.quota.max_bytes }
    }

    /// Takes `n` from the tenant's room (blocking; the caller holds the
    /// tenant's lock), measuring first if the count is missing or if it
    /// would refuse; refuses with `quota` when it still does not fit.
    fn reserve_blocking(&self, n: u64, entries: bool) -> Result<(), ErrorCode> {
        if n == 0 {
            return Ok(());
        }
        if self.usage.due(false) {
            self.usage.measure(&self.root);
        }
        if self.usage.try_take(n, entries, self.max(entries)) {
            return Ok(());
        }
        if self.usage.due(true) {
            self.usage.measure(&self.root);
            if self.usage.try_take(n, entries, self.max(entries)) {
                return Ok(());
            }
        }
        let what = if entries { "entries" } else { "bytes" };
        self.refused("files.quota", format!("{what}: {}", self.max(entries)));
        Err(ErrorCode::Quota)
    }

    /// [`Meter::reserve_blocking`] from a call's task: any walk runs on the
    /// blocking pool.
    async fn reserve(self: &Arc<Self>, n: u64, entries: bool) -> Result<(), ErrorCode> {
        if n == 0 {
            return Ok(());
        }
        if !self.usage.due(false) && self.usage.try_take(n, entries, self.max(entries)) {
            return Ok(());
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.reserve_blocking(n, entries))
            .await
            .unwrap_or(Err(ErrorCode::Io))
    }

    /// Settles a reservation of `reserved` bytes once the file went from
    /// `before` to `after` bytes; `orphan` is the file if it has no link.
    fn settle(&self, reserved: u64, before: u64, after: u64, orphan: Option<Inode>) {
        let grown = after.saturating_sub(before);
        let shrunk = before.saturating_sub(after);
        if grown > reserved {
            self.usage.force(grown - reserved);
        } else {
            self.usage.release(reserved - grown + shrunk, 0);
        }
        if let Some(file) = orphan {
            self.usage.orphan_resized(file, i128::from(after) - i128::from(before));
        }
    }
}

/// Marks a file open for as long as it lives.
struct OpenFile {
    usage: Arc<DiskUsage>,
    file: Inode,
}

impl OpenFile {
    fn new(usage: &Arc<DiskUsage>, file: Inode) -> Self {
        usage.opened(file);
        OpenFile { usage: usage.clone(), file }
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        self.usage.closed(self.file);
    }
}

/// The quota side of one call: the tenant's usage and where to measure it.
pub struct DiskCtx {
    meter: Arc<Meter>,
    /// The files this call's descriptors hold open, by resource.
    open: HashMap<u32, OpenFile>,
}

impl DiskCtx {
    /// A call's context: `usage` is the tenant's, `root` its files directory.
    pub fn new(usage: Arc<DiskUsage>, quota: FilesQuota, root: PathBuf) -> Self {
        let meter = Meter { usage, quota, root, audit: Default::default(), noted: AtomicBool::new(false) };
        DiskCtx { meter: Arc::new(meter), open: HashMap::new() }
    }

    /// Notes the call's first refusal in `audit` (`files.quota`,
    /// `files.depth`).
    pub fn with_audit(mut self, audit: crate::caps::CallAudit) -> Self {
        // Unshared right after `new`: no stream holds the meter yet.
        if let Some(meter) = Arc::get_mut(&mut self.meter) {
            meter.audit = audit;
        }
        self
    }

    /// A context in which nothing may grow (`describe`).
    pub fn denied() -> Self {
        let quota = FilesQuota { max_bytes: 0, max_files: 0, max_depth: 0 };
        DiskCtx::new(Arc::default(), quota, PathBuf::new())
    }

    /// The tenant's usage.
    pub fn usage(&self) -> &Arc<DiskUsage> {
        &self.meter.usage
    }
}
