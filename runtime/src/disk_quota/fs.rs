//! `wasi:filesystem/types` for a call: wasmtime-wasi's implementation,
//! with the calls that can grow the tenant's directory first reserving
//! their room in the call's [`DiskCtx`]. Everything else is delegated
//! unchanged.
//!
//! Here: the view a call's store lends ([`QuotaFsView`]: the filesystem
//! with the call's quota beside it) and the bookkeeping the descriptor
//! calls share (the file or directory behind a descriptor, the depth check,
//! open files tracked, what a destroyed entry gives back, a write stream
//! that reserves). The descriptor calls themselves are in `descriptor`.

use super::stream::{self, QuotaFull, QuotaStream};
use super::{DiskCtx, OpenFile, depth, inode};
use rustix::fd::AsFd;
use rustix::fs::FileType;
use std::sync::Arc;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Descriptor, DirectoryEntry, DirectoryEntryStream, ErrorCode, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{DynOutputStream, FsError, FsResult};

/// A store's state that has a quota-checked filesystem.
pub trait QuotaView: Send {
    /// The filesystem and the call's quota, borrowed together.
    fn quota_fs(&mut self) -> QuotaFsView<'_>;
}

/// The [`HasData`] of the quota-checked filesystem.
pub struct QuotaFilesystem;

impl HasData for QuotaFilesystem {
    type Data<'a> = QuotaFsView<'a>;
}

/// wasmtime-wasi's filesystem view, with the call's quota beside it.
pub struct QuotaFsView<'a> {
    /// The filesystem everything is delegated to.
    pub fs: WasiFilesystemCtxView<'a>,
    /// The call's quota.
    pub disk: &'a mut DiskCtx,
}

pub(super) fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

/// `fstat` of `file`, as an I/O error of the call.
pub(super) fn fstat(file: &std::fs::File) -> FsResult<rustix::fs::Stat> {
    rustix::fs::fstat(file).map_err(|e| FsError::from(ErrorCode::from(std::io::Error::from(e))))
}

impl QuotaFsView<'_> {
    /// The open file behind `fd`, if it is a file.
    pub(super) fn file_of(&self, fd: &Resource<Descriptor>) -> Option<Arc<std::fs::File>> {
        match self.fs.table.get(fd).ok()? {
            wasmtime_wasi::filesystem::Descriptor::File(f) => Some(f.file.clone()),
            wasmtime_wasi::filesystem::Descriptor::Dir(_) => None,
        }
    }

    /// The directory behind `fd`, if it is one.
    pub(super) fn dir_of(&self, fd: &Resource<Descriptor>) -> Option<Arc<std::fs::File>> {
        match self.fs.table.get(fd).ok()? {
            wasmtime_wasi::filesystem::Descriptor::Dir(d) => Some(d.dir.clone()),
            wasmtime_wasi::filesystem::Descriptor::File(_) => None,
        }
    }

    pub(super) fn usage(&self) -> Arc<super::DiskUsage> {
        self.disk.meter.usage.clone()
    }

    /// Refuses a directory that would lie deeper than `max_depth` levels:
    /// `height` levels below the last component of `path` under `fd`.
    pub(super) fn check_depth(&self, fd: &Resource<Descriptor>, path: &str, height: u32) -> FsResult<()> {
        // Never deeper than the host's walks enter (measure, backup,
        // removal), whatever the configuration says.
        let walks = u32::try_from(crate::tree::MAX_WALK_DEPTH - 1).unwrap_or(u32::MAX);
        let max = self.disk.meter.quota.max_depth.min(walks);
        let Some(dir) = self.dir_of(fd) else { return Ok(()) };
        // Unresolvable: the call itself fails and reports why.
        let Some((parent, _)) = depth::parent_of(dir.as_fd(), path) else { return Ok(()) };
        let fits = depth::depth_of(parent.as_fd(), &self.disk.meter.root, max)
            .is_some_and(|d| u64::from(d) + 1 + u64::from(height) <= u64::from(max));
        if fits {
            return Ok(());
        }
        self.disk.meter.refused("files.depth", format!("depth: {max}"));
        Err(ErrorCode::NameTooLong.into())
    }

    /// Marks the file `res` opened by this call as open until it is dropped.
    pub(super) fn track(&mut self, res: &Resource<Descriptor>) {
        if let Some(file) = self.file_of(res)
            && let Ok(stat) = rustix::fs::fstat(&*file)
        {
            let open = OpenFile::new(&self.disk.meter.usage, inode(&stat));
            self.disk.open.insert(res.rep(), open);
        }
    }

    /// Gives back what destroying the entry `gone` frees.
    pub(super) fn destroyed(&self, gone: &rustix::fs::Stat) {
        let usage = &self.disk.meter.usage;
        usage.release(0, 1);
        if FileType::from_raw_mode(gone.st_mode) == FileType::RegularFile && gone.st_nlink <= 1 {
            usage.unlinked(inode(gone), gone.st_size as u64);
        }
    }

    /// Replaces the stream at `res` by one that reserves what it writes.
    pub(super) fn wrap_output(
        &mut self,
        fd: &Resource<Descriptor>,
        res: Resource<DynOutputStream>,
        mode: stream::Mode,
    ) -> FsResult<Resource<DynOutputStream>> {
        let Some(file) = self.file_of(fd) else { return Ok(res) };
        drop(self.fs.table.delete(res)?);
        let stream = QuotaStream::new(file, mode, self.disk.meter.clone())
            .map_err(|e| FsError::from(ErrorCode::from(e)))?;
        let wrapped: DynOutputStream = Box::new(stream);
        Ok(self.fs.table.push(wrapped)?)
    }
}

impl types::Host for QuotaFsView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }
    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        if self.fs.table.get(&err)?.downcast_ref::<QuotaFull>().is_some() {
            return Ok(Some(ErrorCode::Quota));
        }
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl HostDirectoryEntryStream for QuotaFsView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirectoryEntryStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        self.fs.read_directory_entry(stream).await
    }
    fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}
