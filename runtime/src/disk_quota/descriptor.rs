//! The descriptor calls of `wasi:filesystem/types` on a [`QuotaFsView`]:
//! each that can grow the tenant's tree (`set-size`, `write`, `open-at`
//! with `create`, `create-directory-at`, `link-at`, `symlink-at`, the
//! write streams) reserves first under the tenant's lock and settles after;
//! each that destroys (`unlink-file-at`, `remove-directory-at`, a rename
//! over an entry, a truncating open) gives back what was counted; the rest
//! are delegated unchanged.

use super::fs::{QuotaFsView, borrow, fstat};
use super::stream::{self, OpenInput};
use super::{OpenFile, depth, inode};
use rustix::fd::AsFd;
use rustix::fs::FileType;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Advice, Descriptor, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntryStream, ErrorCode,
    Filesize, HostDescriptor, MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsResult};

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
