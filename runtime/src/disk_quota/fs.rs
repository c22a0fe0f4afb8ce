//! `wasi:filesystem/types` for a call: wasmtime-wasi's implementation,
//! with the calls that can grow the tenant's directory first reserving
//! their room in the call's [`DiskCtx`]. Everything else is delegated
//! unchanged.

use super::DiskCtx;
use bytes::Bytes;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, Descriptor, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry,
    DirectoryEntryStream, ErrorCode, Filesize, HostDescriptor, HostDirectoryEntryStream, MetadataHashValue,
    NewTimestamp, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, FsError, FsResult, OutputStream, Pollable, StreamError,
};

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

/// An output stream to a file whose bytes are reserved before they go.
struct QuotaStream {
    inner: DynOutputStream,
    disk: DiskCtx,
}

/// The error of a stream write refused by the quota; reported to the guest
/// as the WASI `quota` error code.
#[derive(Debug, thiserror::Error)]
#[error("the tenant's disk quota is full")]
struct QuotaFull;

impl QuotaStream {
    fn reserve(&mut self, n: u64) -> Result<(), StreamError> {
        self.disk.reserve(n, false).map_err(|_| StreamError::LastOperationFailed(QuotaFull.into()))
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.reserve(bytes.len() as u64)?;
        self.inner.write(bytes)
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        self.inner.flush()
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        self.inner.check_write()
    }
    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

impl QuotaFsView<'_> {
    /// Replaces the stream at `res` by one that reserves what it writes.
    fn wrap(&mut self, res: Resource<DynOutputStream>) -> FsResult<Resource<DynOutputStream>> {
        let inner = self.fs.table.delete(res)?;
        let stream = QuotaStream { inner, disk: self.disk.clone() };
        let wrapped: DynOutputStream = Box::new(stream);
        Ok(self.fs.table.push(wrapped)?)
    }

    /// Reserves one entry if `path` does not exist yet under `fd`.
    async fn reserve_new_entry(&mut self, fd: &Resource<Descriptor>, path: &str) -> FsResult<bool> {
        let fd = Resource::new_borrow(fd.rep());
        match self.fs.stat_at(fd, PathFlags::empty(), path.to_string()).await {
            Ok(_) => Ok(false),
            Err(_) => self.disk.reserve(1, true).map(|()| true).map_err(FsError::from),
        }
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

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
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
        let now = self.fs.stat(borrow(&fd)).await?.size;
        if size > now {
            self.disk.reserve(size - now, false)?;
        }
        self.fs.set_size(fd, size).await?;
        if size < now {
            self.disk.release(now - size, 0);
        }
        Ok(())
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
        self.disk.reserve(buf.len() as u64, false)?;
        self.fs.write(fd, buf, o).await
    }
    async fn read_directory(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DirectoryEntryStream>> {
        self.fs.read_directory(fd).await
    }
    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        self.fs.sync(fd).await
    }
    async fn create_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.disk.reserve(1, true)?;
        let r = self.fs.create_directory_at(fd, path).await;
        if r.is_err() {
            self.disk.release(0, 1);
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
        self.disk.reserve(1, true)?;
        let r = self.fs.link_at(fd, f, old, new_fd, new).await;
        if r.is_err() {
            self.disk.release(0, 1);
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
        let reserved = o.contains(OpenFlags::CREATE) && self.reserve_new_entry(&fd, &path).await?;
        let r = self.fs.open_at(fd, f, path, o, flags).await;
        if reserved && r.is_err() {
            self.disk.release(0, 1);
        }
        r
    }
    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.fs, fd)
    }
    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        self.fs.readlink_at(fd, path).await
    }
    async fn remove_directory_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        self.fs.remove_directory_at(fd, path).await?;
        self.disk.release(0, 1);
        Ok(())
    }
    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old: String,
        new_fd: Resource<Descriptor>,
        new: String,
    ) -> FsResult<()> {
        self.fs.rename_at(fd, old, new_fd, new).await
    }
    async fn symlink_at(&mut self, fd: Resource<Descriptor>, src: String, dest: String) -> FsResult<()> {
        self.disk.reserve(1, true)?;
        let r = self.fs.symlink_at(fd, src, dest).await;
        if r.is_err() {
            self.disk.release(0, 1);
        }
        r
    }
    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        let stat = self.fs.stat_at(borrow(&fd), PathFlags::empty(), path.clone()).await.ok();
        self.fs.unlink_file_at(fd, path).await?;
        // A file's bytes are freed with its last link only.
        let freed = stat.filter(|s| s.link_count <= 1 && s.type_ == DescriptorType::RegularFile);
        self.disk.release(freed.map_or(0, |s| s.size), 1);
        Ok(())
    }
    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        o: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        self.fs.read_via_stream(fd, o)
    }
    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        o: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let res = self.fs.write_via_stream(fd, o)?;
        self.wrap(res)
    }
    fn append_via_stream(&mut self, fd: Resource<Descriptor>) -> FsResult<Resource<DynOutputStream>> {
        let res = self.fs.append_via_stream(fd)?;
        self.wrap(res)
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
