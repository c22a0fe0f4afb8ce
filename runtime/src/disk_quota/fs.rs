//! `wasi:filesystem/types` for a call: wasmtime-wasi's implementation,
//! with the calls that can grow the tenant's directory first reserving
//! their room in the call's [`DiskCtx`]. Everything else is delegated
//! unchanged.

use super::stream::{self, OpenInput, QuotaFull, QuotaStream};
use super::{DiskCtx, OpenFile, depth, inode};
use rustix::fd::AsFd;
use rustix::fs::FileType;
use std::sync::Arc;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, Descriptor, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry,
    DirectoryEntryStream, ErrorCode, Filesize, HostDescriptor, HostDirectoryEntryStream, MetadataHashValue,
    NewTimestamp, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};

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

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

/// `fstat` of `file`, as an I/O error of the call.
fn fstat(file: &std::fs::File) -> FsResult<rustix::fs::Stat> {
    rustix::fs::fstat(file).map_err(|e| FsError::from(ErrorCode::from(std::io::Error::from(e))))
}

impl QuotaFsView<'_> {
    /// The open file behind `fd`, if it is a file.
    fn file_of(&self, fd: &Resource<Descriptor>) -> Option<Arc<std::fs::File>> {
        match self.fs.table.get(fd).ok()? {
            wasmtime_wasi::filesystem::Descriptor::File(f) => Some(f.file.clone()),
            wasmtime_wasi::filesystem::Descriptor::Dir(_) => None,
        }
    }

    /// The directory behind `fd`, if it is one.
    fn dir_of(&self, fd: &Resource<Descriptor>) -> Option<Arc<std::fs::File>> {
        match self.fs.table.get(fd).ok()? {
            wasmtime_wasi::filesystem::Descriptor::Dir(d) => Some(d.dir.clone()),
            wasmtime_wasi::filesystem::Descriptor::File(_) => None,
        }
    }

    fn usage(&self) -> Arc<super::DiskUsage> {
        self.disk.meter.usage.clone()
    }

    /// Refuses a directory that would lie deeper than `max_depth` levels:
    /// `height` levels below the last component of `path` under `fd`.
    fn check_depth(&self, fd: &Resource<Descriptor>, path: &str, height: u32) -> FsResult<()> {
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
    fn track(&mut self, res: &Resource<Descriptor>) {
        if let Some(file) = self.file_of(res)
            && let Ok(stat) = rustix::fs::fstat(&*file)
        {
            let open = OpenFile::new(&self.disk.meter.usage, inode(&stat));
            self.disk.open.insert(res.rep(), open);
        }
    }

    /// Gives back what destroying the entry `gone` frees.
    fn destroyed(&self, gone: &rustix::fs::Stat) {
        let usage = &self.disk.meter.usage;
        usage.release(0, 1);
        if FileType::from_raw_mode(gone.st_mode) == FileType::RegularFile && gone.st_nlink <= 1 {
            usage.unlinked(inode(gone), gone.st_size as u64);
        }
    }

    /// Replaces the stream at `res` by one that reserves what it writes.
    fn wrap_output(
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

impl HostDescriptor for QuotaFsView<'_> {
    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        o: Filesize,
        l: Filesize,
        a: Advice,
    ) -> FsResult<()> {
        self.fs.advise(fd, o, l, a).await
    }
    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.fs.sync_data(fd).await
    }
    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        self.fs.get_flags(fd).await
    }
    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorType> {
        self.fs.get_type(fd).await
    }
    async fn set_size(&mut self, fd: Resource<Descriptor>, size: Filesize) -> FsResult<()> {
        let Some(file) = self.file_of(&fd) else { return self.fs.set_size(fd, size).await };
        let usage = self.usage();
        let _op = usage.op.lock().await;
        let before = fstat(&file)?;
        let now = before.st_size as u64;
        let grow = size.saturating_sub(now);
        self.disk.meter.reserve(grow, false).await?;
        let r = self.fs.set_size(fd, size).await;
        let after = fstat(&file).map_or(now, |s| s.st_size as u64);
        let orphan = (before.st_nlink == 0).then(|| inode(&before));
        self.disk.meter.settle(grow, now, after, orphan);
        r
    }
    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        a: NewTimestamp,
        m: NewTimestamp,
    ) -> FsResult<()> {
        self.fs.set_times(fd, a, m).await
    }
    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: Filesize,
        o: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        self.fs.read(fd, len, o).await
    }
    async fn write(&mut self, fd: Resource<Descriptor>, buf: Vec<u8>, o: Filesize) -> FsResult<Filesize> {
        let Some(file) = self.file_of(&fd) else { return self.fs.write(fd, buf, o).await };
        let usage = self.usage();
        let _op = usage.op.lock().await;
        let before = fstat(&file)?;
        let now = before.st_size as u64;
        let end = o.checked_add(buf.len() as u64).ok_or(ErrorCode::Overflow)?;
        let grow = end.saturating_sub(now);
        self.disk.meter.reserve(grow, false).await?;
        let r = self.fs.write(fd, buf, o).await;
        let after = fstat(&file).map_or(end.max(now), |s| s.st_size as u64);
        let orphan = (before.st_nlink == 0).then(|| inode(&before));
        self.disk.meter.settle(grow, now, after, orphan);
        r
    }
    async fn read_directory(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DirectoryEntryStream>> {
        self.fs.read_directory(fd).await
    }
    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.fs.sync(fd).await
    }
    async fn create_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        let usage = self.usage();
        let _op = usage.op.lock().await;
        self.check_depth(&fd, &path, 0)?;
        self.disk.meter.reserve(1, true).await?;
        let r = self.fs.create_directory_at(fd, path).await;
        if r.is_err() {
            usage.release(0, 1);
        }
        r
    }
    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorStat> {
        self.fs.stat(fd).await
    }
    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        f: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        self.fs.stat_at(fd, f, path).await
    }
    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        f: PathFlags,
        path: String,
        a: NewTimestamp,
        m: NewTimestamp,
    ) -> FsResult<()> {
        self.fs.set_times_at(fd, f, path, a, m).await
    }
    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        f: PathFlags,
        old: String,
        new_fd: Resource<Descriptor>,
        new: String,
    ) -> FsResult<()> {
        let usage = self.usage();
        let _op = usage.op.lock().await;
        self.disk.meter.reserve(1, true).await?;
        let r = self.fs.link_at(fd, f, old, new_fd, new).await;
        if r.is_err() {
            usage.release(0, 1);
        }
        r
    }
    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        f: PathFlags,
        path: String,
        o: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let usage = self.usage();
        let _op = usage.op.lock().await;
        // What the open will find, resolved exactly as it resolves (the same
        // flags: through a final link when it follows one).
        let changes = o.intersects(OpenFlags::CREATE | OpenFlags::TRUNCATE);
        let before = match changes {
            true => self.fs.stat_at(borrow(&fd), f, path.clone()).await.ok(),
            false => None,
        };
        let reserved = o.contains(OpenFlags::CREATE) && before.is_none();
        if reserved {
            self.disk.meter.reserve(1, true).await?;
        }
        let r = self.fs.open_at(fd, f, path, o, flags).await;
        match &r {
            Err(_) if reserved => usage.release(0, 1),
            Err(_) => {}
            Ok(res) => {
                self.track(res);
                let truncated = before
                    .filter(|b| o.contains(OpenFlags::TRUNCATE) && b.type_ == DescriptorType::RegularFile);
                if let Some(b) = truncated {
                    let now = self.file_of(res).and_then(|f| rustix::fs::fstat(&*f).ok());
                    let now = now.map_or(b.size, |s| s.st_size as u64);
                    usage.release(b.size.saturating_sub(now), 0);
                }
            }
        }
        r
    }
    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        let rep = fd.rep();
        let r = HostDescriptor::drop(&mut self.fs, fd);
        self.disk.open.remove(&rep);
        r
    }
    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.fs.readlink_at(fd, path).await
    }
    async fn remove_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        let usage = self.usage();
        let _op = usage.op.lock().await;
        self.fs.remove_directory_at(fd, path).await?;
        usage.release(0, 1);
        Ok(())
    }
    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old: String,
        new_fd: Resource<Descriptor>,
        new: String,
    ) -> FsResult<()> {
        let usage = self.usage();
        let _op = usage.op.lock().await;
        let stat = |this: &Self, fd: &Resource<Descriptor>, path: &str| {
            this.dir_of(fd).and_then(|d| depth::stat_at(d.as_fd(), path))
        };
        let (from, to) = (stat(self, &fd, &old), stat(self, &new_fd, &new));
        let is_dir = from.is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
        if is_dir
            && let Some(dir) = self.dir_of(&fd)
            && let Some((parent, name)) = depth::parent_of(dir.as_fd(), &old)
        {
            // A walk of the moved subtree: on the blocking pool, never on
            // the worker other tenants' calls need.
            let height = tokio::task::spawn_blocking(move || depth::height(parent.as_fd(), &name))
                .await
                .unwrap_or(u32::MAX);
            self.check_depth(&new_fd, &new, height)?;
        }
        self.fs.rename_at(fd, old, new_fd, new).await?;
        if let (Some(from), Some(to)) = (from, to)
            && inode(&from) != inode(&to)
        {
            self.destroyed(&to);
        }
        Ok(())
    }
    async fn symlink_at(&mut self, fd: Resource<Descriptor>, src: String, dest: String) -> FsResult<()> {
        let usage = self.usage();
        let _op = usage.op.lock().await;
        self.disk.meter.reserve(1, true).await?;
        let r = self.fs.symlink_at(fd, src, dest).await;
        if r.is_err() {
            usage.release(0, 1);
        }
        r
    }
    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        let usage = self.usage();
        let _op = usage.op.lock().await;
        let gone = self.dir_of(&fd).and_then(|d| depth::stat_at(d.as_fd(), &path));
        self.fs.unlink_file_at(fd, path).await?;
        match gone {
            Some(gone) => self.destroyed(&gone),
            None => usage.release(0, 1),
        }
        Ok(())
    }
    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        o: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        let file = self.file_of(&fd);
        let res = self.fs.read_via_stream(fd, o)?;
        let Some(stat) = file.and_then(|f| rustix::fs::fstat(&*f).ok()) else { return Ok(res) };
        let inner = self.fs.table.delete(res)?;
        let open = OpenFile::new(&self.disk.meter.usage, inode(&stat));
        let wrapped: DynInputStream = Box::new(OpenInput { inner, _open: open });
        Ok(self.fs.table.push(wrapped)?)
    }
    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        o: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let res = self.fs.write_via_stream(borrow(&fd), o)?;
        self.wrap_output(&fd, res, stream::Mode::At(o))
    }
    fn append_via_stream(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        let res = self.fs.append_via_stream(borrow(&fd))?;
        self.wrap_output(&fd, res, stream::Mode::Append)
    }
    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        self.fs.is_same_object(a, b).await
    }
    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash(fd).await
    }
    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        f: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        self.fs.metadata_hash_at(fd, f, path).await
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
