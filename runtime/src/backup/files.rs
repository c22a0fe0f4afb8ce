//! A tenant's directory, read into a backup and written back.
//!
//! Reading opens every component with `openat(O_NOFOLLOW)`: a symlink a
//! skill planted is skipped, never walked (it could point at another
//! tenant's files or the host's), and so is anything that is neither a
//! directory nor a regular file. Writing goes to a fresh staging
//! directory, which the restore then swaps in with a rename.

use super::format::{FileEntry, valid_relative_path};
use crate::store::Bytes;
use rustix::fd::OwnedFd;
use rustix::fs::{FileType, Mode, OFlags};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Every directory and regular file below `root`, with paths relative to
/// it, in a stable order; empty when `root` does not exist.
pub(crate) fn read_tree(root: &Path) -> std::io::Result<Vec<FileEntry>> {
    let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    let fd = match rustix::fs::open(root, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    read_dir(&fd, "", &mut out)?;
    Ok(out)
}

fn read_dir(dir: &OwnedFd, prefix: &str, out: &mut Vec<FileEntry>) -> std::io::Result<()> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        // Not UTF-8 (lossy) or otherwise odd: it could not be restored as is.
        if name.contains(['/', '\u{fffd}']) {
            tracing::warn!(%prefix, %name, "a backup skips a file whose name is not plain UTF-8");
            continue;
        }
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK;
        let fd = match rustix::fs::openat(dir, name.as_str(), flags, Mode::empty()) {
            Ok(fd) => fd,
            // A symlink (ELOOP) or something gone meanwhile: not copied.
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOENT | rustix::io::Errno::NXIO) => continue,
            Err(e) => return Err(e.into()),
        };
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        match FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) {
            FileType::Directory => {
                out.push(FileEntry { path: path.clone(), dir: true, data: Bytes::default() });
                read_dir(&fd, &path, out)?;
            }
            FileType::RegularFile => {
                let mut data = Vec::new();
                std::fs::File::from(fd).read_to_end(&mut data)?;
                out.push(FileEntry { path, dir: false, data: Bytes(data) });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Creates `dest` (which must not exist) and writes `entries` below it:
/// directories of mode 0700, files of mode 0600. Every path is checked
/// again, so nothing can land outside `dest`.
pub(crate) fn write_tree(dest: &Path, entries: &[FileEntry]) -> std::io::Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.mode(0o700);
    dirs.create(dest)?;
    dirs.recursive(true);
    for e in entries {
        if !valid_relative_path(&e.path) {
            return Err(std::io::Error::other(format!("{:?} is not a relative path", e.path)));
        }
        let path = dest.join(&e.path);
        if e.dir {
            dirs.create(&path)?;
            continue;
        }
        if let Some(parent) = path.parent() {
            dirs.create(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(OFlags::NOFOLLOW.bits() as i32)
            .open(&path)?;
        std::io::Write::write_all(&mut file, &e.data.0)?;
        file.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_round_trips_and_a_symlink_is_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("t");
        std::fs::create_dir_all(root.join("files/users/ab/media")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("files/notes.json"), b"[1]").unwrap();
        std::fs::write(root.join("files/users/ab/media/p.png"), b"png").unwrap();
        std::fs::write(d.path().join("secret"), b"host").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret"), root.join("files/link")).unwrap();
        std::os::unix::fs::symlink(d.path(), root.join("files/dirlink")).unwrap();
        let tree = read_tree(&root).unwrap();
        let paths: Vec<&str> = tree.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "empty",
                "files",
                "files/notes.json",
                "files/users",
                "files/users/ab",
                "files/users/ab/media",
                "files/users/ab/media/p.png"
            ]
        );
        let copy = d.path().join("copy");
        write_tree(&copy, &tree).unwrap();
        assert_eq!(read_tree(&copy).unwrap(), tree);
        assert_eq!(std::fs::read(copy.join("files/users/ab/media/p.png")).unwrap(), b"png");
        assert!(read_tree(&d.path().join("none")).unwrap().is_empty());
        let bad = [FileEntry { path: "../x".into(), dir: false, data: Bytes::default() }];
        assert!(write_tree(&d.path().join("bad"), &bad).is_err());
        assert!(!d.path().join("x").exists());
    }
}
