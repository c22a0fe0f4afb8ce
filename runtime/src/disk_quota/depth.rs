//! Where an entry lies in a tenant's tree: how deep a directory is, and
//! what a path names, resolved the way the guest's own call resolves it
//! (below the descriptor it is relative to, never above it).

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};
use std::ffi::CString;
use std::path::Path;

/// The directory that holds the last component of `path` (relative to
/// `dir`), and that component; `None` when it does not resolve below
/// `dir` or names `.` or `..`.
pub(super) fn parent_of(dir: BorrowedFd<'_>, path: &str) -> Option<(OwnedFd, CString)> {
    let path = path.trim_end_matches('/');
    let (parent, name) = path.rsplit_once('/').unwrap_or((".", path));
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    let parent = if parent.is_empty() { "." } else { parent };
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let fd = rustix::fs::openat2(dir, parent, flags, Mode::empty(), resolve).ok()?;
    Some((fd, CString::new(name).ok()?))
}

/// What `path` (relative to `dir`) names, not following a final link.
pub(super) fn stat_at(dir: BorrowedFd<'_>, path: &str) -> Option<Stat> {
    let (parent, name) = parent_of(dir, path)?;
    rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW).ok()
}

/// How deep the directory `dir` lies below `root` (0 for `root` itself),
/// found by climbing `..`; `None` if it is deeper than `limit` or not
/// below `root` at all.
pub(super) fn depth_of(dir: BorrowedFd<'_>, root: &Path, limit: u32) -> Option<u32> {
    let root = rustix::fs::stat(root).ok()?;
    let root = (root.st_dev, root.st_ino);
    let mut here = rustix::fs::fstat(dir).ok()?;
    let mut fd: Option<OwnedFd> = None;
    for depth in 0..=limit {
        if (here.st_dev, here.st_ino) == root {
            return Some(depth);
        }
        let from = fd.as_ref().map_or(dir, |f| f.as_fd());
        let up =
            rustix::fs::openat(from, "..", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .ok()?;
        let above = rustix::fs::fstat(&up).ok()?;
        if (above.st_dev, above.st_ino) == (here.st_dev, here.st_ino) {
            return None; // the filesystem's root: never met `root`
        }
        (here, fd) = (above, Some(up));
    }
    None
}

/// How many levels of directories lie below the directory `name` of
/// `parent` (0 when it holds none); `u32::MAX` past what a walk enters.
pub(super) fn height(parent: BorrowedFd<'_>, name: &std::ffi::CStr) -> u32 {
    let Ok(fd) = crate::tree::open_dir_at(parent, name) else { return u32::MAX };
    let mut deepest = 0;
    let walked = crate::tree::walk(fd.as_fd(), |e| {
        if e.kind == FileType::Directory {
            deepest = deepest.max(e.depth());
        }
        Ok(e.kind == FileType::Directory)
    });
    match walked {
        Ok(w) if w.deep == 0 => u32::try_from(deepest).unwrap_or(u32::MAX),
        _ => u32::MAX,
    }
}
