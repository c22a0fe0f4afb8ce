//! A tenant's directory, streamed into a backup and written back.
//!
//! Reading walks the tree with [`crate::tree::walk`] (iterative, relative
//! to descriptors, never through a link): a symlink a skill planted is
//! skipped, never followed (it could point at another tenant's files or the
//! host's), and so is anything that is neither a directory nor a regular
//! file, or whose name is not UTF-8. A file's data goes out as extents of
//! at most 1 MiB, found with `SEEK_DATA`/`SEEK_HOLE`, so a sparse file costs
//! what it holds, and no file is ever read whole into memory. Writing
//! creates each entry relative to its parent's descriptor below a fresh
//! staging directory (no path is ever formed, so depth and name lengths
//! cannot fail it), which the restore then swaps in with a rename.

use super::format::{BackupError, MAX_EXTENT, Record, TreeCursor, Writer};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, SeekFrom};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Writes the tree below `root` into `w` (nothing if `root` does not
/// exist); returns how many entries were skipped.
pub(crate) fn write_tree<W: Write>(w: &mut Writer<W>, root: &Path) -> Result<u64, BackupError> {
    let Some(top) = crate::tree::open_root(root)? else { return Ok(0) };
    let mut skipped = 0u64;
    let mut buf = Vec::new();
    let mut failed: Option<BackupError> = None;
    // Files with more than one link, by inode: the first path met. The
    // others are stored as links to it, so data is stored once per inode,
    // as the quota counts it.
    let mut linked: std::collections::HashMap<(u64, u64), String> = Default::default();
    let walked = crate::tree::walk(top.as_fd(), |e| {
        let keep = matches!(e.kind, FileType::Directory | FileType::RegularFile);
        let Some(path) = e.path().filter(|_| keep) else {
            skipped += 1;
            return Ok(false);
        };
        let inode = (e.stat.st_dev, e.stat.st_ino);
        let result = if e.kind == FileType::Directory {
            w.record(&Record::Dir(path))
        } else if let Some(to) = linked.get(&inode).filter(|_| e.stat.st_nlink > 1) {
            w.record(&Record::Link { path, to: to.clone() })
        } else {
            if e.stat.st_nlink > 1 {
                linked.insert(inode, path.clone());
            }
            copy_file(w, e.parent, e.name, path, &mut buf)
        };
        match result {
            Ok(()) => Ok(true),
            Err(err) => {
                failed = Some(err);
                Err(std::io::Error::other("backup write failed"))
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(skipped + walked?.deep)
}

/// Writes one regular file as a file record and its data's extents.
fn copy_file<W: Write>(
    w: &mut Writer<W>,
    dir: rustix::fd::BorrowedFd<'_>,
    name: &std::ffi::CStr,
    path: String,
    buf: &mut Vec<u8>,
) -> Result<(), BackupError> {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Replaced by a link or gone meanwhile: an empty file keeps its place.
        Err(_) => return w.record(&Record::File { path, size: 0 }),
    };
    let stat = rustix::fs::fstat(&fd).map_err(std::io::Error::from)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return w.record(&Record::File { path, size: 0 });
    }
    let size = stat.st_size as u64;
    w.record(&Record::File { path, size })?;
    let file = std::fs::File::from(fd);
    let mut pos = 0u64;
    while pos < size {
        let data = match rustix::fs::seek(&file, SeekFrom::Data(pos)) {
            Ok(at) => at,
            Err(rustix::io::Errno::NXIO) => break,
            Err(e) => return Err(std::io::Error::from(e).into()),
        };
        let hole = rustix::fs::seek(&file, SeekFrom::Hole(data)).map_err(std::io::Error::from)?;
        let (mut at, end) = (data, hole.min(size));
        while at < end {
            let n = (end - at).min(MAX_EXTENT as u64) as usize;
            buf.resize(n, 0);
            let got = file.read_at(&mut buf[..n], at)?;
            if got == 0 {
                break; // shrank meanwhile
            }
            w.record(&Record::Extent { offset: at, data: buf[..got].to_vec() })?;
            at += got as u64;
        }
        pos = end.max(data + 1);
    }
    Ok(())
}

/// Writes a tenant's tree from its records below `dest` (which it
/// creates): directories of mode 0700, files of mode 0600, each created
/// relative to its parent's descriptor. The records were validated
/// ([`super::format::check`]); they are placed again here all the same.
pub(crate) struct TreeWriter {
    cursor: TreeCursor,
    /// The open directories from `dest` down.
    dirs: Vec<OwnedFd>,
    /// The file being written, and its size.
    file: Option<(std::fs::File, u64)>,
}

fn invalid(e: String) -> BackupError {
    BackupError::Invalid(e)
}

impl TreeWriter {
    /// Creates `dest` (which must not exist).
    pub(crate) fn new(dest: &Path) -> Result<Self, BackupError> {
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(dest)?;
        let top =
            crate::tree::open_root(dest)?.ok_or_else(|| invalid("the staging directory vanished".into()))?;
        Ok(TreeWriter { cursor: TreeCursor::new(), dirs: vec![top], file: None })
    }

    /// Applies one record of the tenant's tree.
    pub(crate) fn apply(&mut self, rec: &Record) -> Result<(), BackupError> {
        match rec {
            Record::Dir(path) | Record::File { path, .. } => {
                self.close_file()?;
                let dir = matches!(rec, Record::Dir(_));
                let (parent, name) = self.cursor.enter(path, dir).map_err(invalid)?;
                self.dirs.truncate(parent + 1);
                let at = self.dirs[parent].as_fd();
                let name = CString::new(name).map_err(|e| invalid(e.to_string()))?;
                if dir {
                    rustix::fs::mkdirat(at, &name, Mode::from_raw_mode(0o700))
                        .map_err(std::io::Error::from)?;
                    let fd = crate::tree::open_dir_at(at, &name).map_err(std::io::Error::from)?;
                    self.dirs.push(fd);
                } else if let Record::File { size, .. } = rec {
                    let flags =
                        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    let fd = rustix::fs::openat(at, &name, flags, Mode::from_raw_mode(0o600))
                        .map_err(std::io::Error::from)?;
                    self.cursor.file(*size);
                    self.file = Some((std::fs::File::from(fd), *size));
                }
                Ok(())
            }
            Record::Link { path, to } => {
                self.close_file()?;
                let (parent, name) = self.cursor.enter(path, false).map_err(invalid)?;
                self.dirs.truncate(parent + 1);
                let name = CString::new(name).map_err(|e| invalid(e.to_string()))?;
                // The target, resolved from the root one directory at a
                // time (never through a link, no path length limit).
                let comps: Vec<&str> = to.split('/').collect();
                let mut at: Option<OwnedFd> = None;
                for c in &comps[..comps.len() - 1] {
                    let from = at.as_ref().map_or(self.dirs[0].as_fd(), |f| f.as_fd());
                    let c = CString::new(*c).map_err(|e| invalid(e.to_string()))?;
                    at = Some(crate::tree::open_dir_at(from, &c).map_err(std::io::Error::from)?);
                }
                let from = at.as_ref().map_or(self.dirs[0].as_fd(), |f| f.as_fd());
                let target = CString::new(comps[comps.len() - 1]).map_err(|e| invalid(e.to_string()))?;
                rustix::fs::linkat(
                    from,
                    &target,
                    self.dirs[parent].as_fd(),
                    &name,
                    rustix::fs::AtFlags::empty(),
                )
                .map_err(|e| invalid(format!("the link {path} to {to}: {e}")))?;
                Ok(())
            }
            Record::Extent { offset, data } => {
                self.cursor.extent(*offset, data.len()).map_err(invalid)?;
                let (file, _) =
                    self.file.as_ref().ok_or_else(|| invalid("file data outside a file".into()))?;
                file.write_all_at(data, *offset)?;
                Ok(())
            }
            _ => Err(invalid("not a record of a tenant's tree".into())),
        }
    }

    /// Sizes and syncs the last file (its holes stay holes).
    fn close_file(&mut self) -> Result<(), BackupError> {
        if let Some((file, size)) = self.file.take() {
            file.set_len(size)?;
            file.sync_all()?;
        }
        Ok(())
    }

    /// Finishes the tree.
    pub(crate) fn finish(mut self) -> Result<(), BackupError> {
        self.close_file()?;
        if let Some(top) = self.dirs.first() {
            rustix::fs::fsync(top).map_err(std::io::Error::from)?;
        }
        Ok(())
    }
}
