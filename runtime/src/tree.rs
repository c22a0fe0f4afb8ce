//! Walks of tenant-made directory trees by the host: backup, quota
//! measurement and tenant deletion.
//!
//! A skill controls the shape of these trees (depth, name lengths, links),
//! so every walk here is iterative (no recursion, whatever the depth), works
//! relative to directory descriptors (`openat`/`fstatat`/`unlinkat`, so no
//! path ever reaches `PATH_MAX`) and never follows a symbolic link. It holds
//! one descriptor per level it is in, and enters at most [`MAX_WALK_DEPTH`]
//! levels: a deeper directory is reported as not entered (`deep`), never an
//! error. Guests cannot make trees that deep any more (`[files_quota]
//! max_depth` is refused at their `mkdir` and `rename`), but a data
//! directory from before that rule may hold them.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

/// The most directory levels a walk enters (and descriptors it holds).
pub const MAX_WALK_DEPTH: usize = 128;

/// One entry met by [`walk`].
pub struct Entry<'a> {
    /// The directory that holds it.
    pub parent: BorrowedFd<'a>,
    /// Its name in `parent`.
    pub name: &'a CStr,
    /// The names of the directories from the root down to `parent`.
    pub ancestors: &'a [CString],
    /// Its `fstatat(AT_SYMLINK_NOFOLLOW)`.
    pub stat: &'a Stat,
    /// Its type (a link is a link, never its target).
    pub kind: FileType,
}

impl Entry<'_> {
    /// Its path relative to the root, `/`-separated, or `None` if some
    /// component is not UTF-8.
    pub fn path(&self) -> Option<String> {
        let mut out = String::new();
        for c in self.ancestors.iter().map(CString::as_c_str).chain([self.name]) {
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(c.to_str().ok()?);
        }
        Some(out)
    }

    /// Its depth: 1 for an entry of the root.
    pub fn depth(&self) -> usize {
        self.ancestors.len() + 1
    }
}

/// What a walk could not enter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// Directories deeper than [`MAX_WALK_DEPTH`], not entered.
    pub deep: u64,
}

/// Opens `root` as a directory without following a link; `None` if it
/// does not exist.
pub fn open_root(root: &Path) -> io::Result<Option<OwnedFd>> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    match rustix::fs::open(root, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Opens the directory `name` in `dir`, never through a link.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    rustix::fs::openat(dir, name, flags, Mode::empty())
}

/// The names in `dir` (not `.` and `..`), sorted by their bytes.
fn names(dir: BorrowedFd<'_>) -> io::Result<Vec<CString>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            out.push(name.to_owned());
        }
    }
    out.sort();
    Ok(out)
}

/// Visits every entry below `root` in depth-first order (a directory
/// before what it holds, names in byte order). `visit` says whether to
/// enter a directory. Entries that vanish during the walk are skipped.
pub fn walk(
    root: BorrowedFd<'_>,
    mut visit: impl FnMut(&Entry<'_>) -> io::Result<bool>,
) -> io::Result<Walked> {
    struct Level {
        fd: Option<OwnedFd>,
        names: std::vec::IntoIter<CString>,
    }
    let mut walked = Walked::default();
    let mut stack = vec![Level { fd: None, names: names(root)?.into_iter() }];
    let mut ancestors: Vec<CString> = Vec::new();
    loop {
        let level = stack.len();
        let Some(top) = stack.last_mut() else { break };
        let Some(name) = top.names.next() else {
            stack.pop();
            ancestors.pop();
            continue;
        };
        let dir = top.fd.as_ref().map_or(root, |fd| fd.as_fd());
        let stat = match rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        let kind = FileType::from_raw_mode(stat.st_mode);
        let entry = Entry { parent: dir, name: &name, ancestors: &ancestors, stat: &stat, kind };
        if !visit(&entry)? || kind != FileType::Directory {
            continue;
        }
        if level >= MAX_WALK_DEPTH {
            walked.deep += 1;
            continue;
        }
        let fd = match open_dir_at(dir, &name) {
            Ok(fd) => fd,
            // Replaced meanwhile by a link, a file or nothing: not entered.
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => continue,
            Err(e) => return Err(e.into()),
        };
        let below = names(fd.as_fd())?;
        ancestors.push(name);
        stack.push(Level { fd: Some(fd), names: below.into_iter() });
    }
    Ok(walked)
}

/// Removes `root` and everything below it, whatever its depth: a subtree
/// deeper than [`MAX_WALK_DEPTH`] is first moved up to the root, then
/// removed in its turn. Fine if `root` does not exist.
pub fn remove_tree(root: &Path) -> io::Result<()> {
    struct Level {
        fd: OwnedFd,
        name: CString,
        names: std::vec::IntoIter<CString>,
    }
    let Some(top) = open_root(root)? else { return Ok(()) };
    let (mut moved, mut moved_since_listed) = (0u64, false);
    let mut top_names = names(top.as_fd())?.into_iter();
    let mut stack: Vec<Level> = Vec::new();
    loop {
        let level = stack.len();
        let (dir, next) = match stack.last_mut() {
            Some(l) => (l.fd.as_fd(), l.names.next()),
            None => (top.as_fd(), top_names.next()),
        };
        let Some(name) = next else {
            let Some(done) = stack.pop() else {
                if !moved_since_listed {
                    break;
                }
                // Subtrees moved up meanwhile: the root is listed again.
                moved_since_listed = false;
                top_names = names(top.as_fd())?.into_iter();
                continue;
            };
            drop(done.fd);
            let parent = stack.last().map_or(top.as_fd(), |l| l.fd.as_fd());
            match rustix::fs::unlinkat(parent, &done.name, AtFlags::REMOVEDIR) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
            continue;
        };
        let stat = match rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => stat,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
            match rustix::fs::unlinkat(dir, &name, AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if level >= MAX_WALK_DEPTH {
            // Too deep to hold a descriptor per level: moved up, under a
            // name no entry of the root has.
            loop {
                moved += 1;
                let to = CString::new(format!(".wasmclaw-deep-{moved}")).map_err(io::Error::other)?;
                let flags = rustix::fs::RenameFlags::NOREPLACE;
                match rustix::fs::renameat_with(dir, &name, top.as_fd(), &to, flags) {
                    Ok(()) => break,
                    Err(rustix::io::Errno::EXIST) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            moved_since_listed = true;
            continue;
        }
        match open_dir_at(dir, &name) {
            Ok(fd) => {
                let below = names(fd.as_fd())?.into_iter();
                stack.push(Level { fd, name, names: below });
            }
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    drop(top);
    match std::fs::remove_dir(root) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Makes `levels` nested directories named `name` below `root`,
    /// relative to descriptors (the path is far past `PATH_MAX`).
    pub(crate) fn deep_tree(root: &Path, levels: usize, name: &str) {
        let name = CString::new(name).unwrap();
        let mut fd = open_root(root).unwrap().unwrap();
        for _ in 0..levels {
            rustix::fs::mkdirat(&fd, &name, Mode::from_raw_mode(0o700)).unwrap();
            fd = open_dir_at(fd.as_fd(), &name).unwrap();
        }
        rustix::fs::openat(&fd, c"leaf", OFlags::CREATE | OFlags::WRONLY, Mode::from_raw_mode(0o600))
            .unwrap();
    }

    #[test]
    fn a_walk_is_ordered_never_follows_links_and_stops_at_its_depth() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("t");
        std::fs::create_dir_all(root.join("b/c")).unwrap();
        std::fs::write(root.join("b/c/f"), b"x").unwrap();
        std::fs::write(root.join("a"), b"y").unwrap();
        std::os::unix::fs::symlink("/", root.join("b/l")).unwrap();
        let fd = open_root(&root).unwrap().unwrap();
        let mut seen = Vec::new();
        let walked = walk(fd.as_fd(), |e| {
            seen.push((e.path().unwrap(), e.depth(), e.kind));
            Ok(true)
        })
        .unwrap();
        let paths: Vec<_> = seen.iter().map(|(p, d, _)| format!("{p}@{d}")).collect();
        assert_eq!(paths, ["a@1", "b@1", "b/c@2", "b/c/f@3", "b/l@2"]);
        assert_eq!(seen[4].2, FileType::Symlink);
        assert_eq!(walked, Walked::default());
        assert!(open_root(&d.path().join("none")).unwrap().is_none());
    }

    #[test]
    fn a_tree_far_deeper_than_the_walk_and_past_path_max_is_walked_and_removed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("t");
        std::fs::create_dir(&root).unwrap();
        // 1,000 levels of 200-byte names: 200 KB of path, on any stack.
        deep_tree(&root, 1000, &"n".repeat(200));
        let fd = open_root(&root).unwrap().unwrap();
        let mut entries = 0;
        let walked = walk(fd.as_fd(), |_| {
            entries += 1;
            Ok(true)
        })
        .unwrap();
        assert_eq!(entries, MAX_WALK_DEPTH);
        assert_eq!(walked.deep, 1);
        drop(fd);
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        remove_tree(&root).unwrap();
    }

    #[test]
    fn removing_never_follows_a_link_out_of_the_tree() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("t"), d.path().join("keep"));
        std::fs::create_dir_all(root.join("x")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("f"), b"keep").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("x/out")).unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"keep");
    }
}
