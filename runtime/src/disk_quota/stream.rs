//! The streams of a quota-checked file: an output stream that reserves
//! what each write adds at its offset (under the tenant's lock, on the
//! blocking pool), and an input stream that keeps its file marked open.

use super::{Meter, OpenFile, inode};
use bytes::Bytes;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use wasmtime_wasi::p2::{DynInputStream, InputStream, OutputStream, Pollable, StreamError};

/// The most bytes one stream write takes (as wasmtime-wasi's own).
const WRITE_CAPACITY: usize = 64 * 1024;

/// The error of a stream write refused by the quota; reported to the guest
/// as the WASI `quota` error code.
#[derive(Debug, thiserror::Error)]
#[error("the tenant's disk quota is full")]
pub(super) struct QuotaFull;

/// Where a stream writes.
#[derive(Clone, Copy)]
pub(super) enum Mode {
    At(u64),
    Append,
}

enum State {
    Ready,
    Waiting(tokio::task::JoinHandle<std::io::Result<usize>>),
    Failed(std::io::Error),
    Closed,
}

/// An output stream to a file whose growth is reserved before it is written.
pub(super) struct QuotaStream {
    file: Arc<std::fs::File>,
    mode: Mode,
    meter: Arc<Meter>,
    state: State,
    _open: OpenFile,
}

impl QuotaStream {
    pub(super) fn new(file: Arc<std::fs::File>, mode: Mode, meter: Arc<Meter>) -> std::io::Result<Self> {
        let stat = rustix::fs::fstat(&*file)?;
        let open = OpenFile::new(&meter.usage, inode(&stat));
        Ok(QuotaStream { file, mode, meter, state: State::Ready, _open: open })
    }

    /// Writes all of `buf` (blocking; the caller holds the tenant's lock),
    /// after reserving what it adds past the end of the file.
    fn write_all(file: &std::fs::File, meter: &Meter, buf: &[u8], mode: Mode) -> std::io::Result<usize> {
        let before = rustix::fs::fstat(file)?;
        let size = before.st_size as u64;
        let at = match mode {
            Mode::At(p) => p,
            Mode::Append => size,
        };
        let end = at.checked_add(buf.len() as u64).ok_or_else(|| std::io::Error::other("offset overflow"))?;
        let grow = end.saturating_sub(size);
        meter.reserve_blocking(grow, false).map_err(|_| std::io::Error::other(QuotaFull))?;
        let written = file.write_all_at(buf, at);
        let after = rustix::fs::fstat(file).map(|s| s.st_size as u64).unwrap_or(end.max(size));
        let orphan = (before.st_nlink == 0).then(|| inode(&before));
        meter.settle(grow, size, after, orphan);
        written.map(|()| buf.len())
    }

    fn take_failure(&mut self) -> StreamError {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Failed(e) => failed(e),
            _ => StreamError::Closed,
        }
    }
}

/// A failed write as the guest sees it: `quota` for a refusal.
fn failed(e: std::io::Error) -> StreamError {
    if e.get_ref().is_some_and(|inner| inner.is::<QuotaFull>()) {
        return StreamError::LastOperationFailed(QuotaFull.into());
    }
    StreamError::LastOperationFailed(e.into())
}

#[wasmtime_wasi::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        match self.state {
            State::Ready => {}
            State::Closed => return Err(StreamError::Closed),
            State::Waiting(_) | State::Failed(_) => {
                return Err(StreamError::Trap(wasmtime::format_err!(
                    "write not permitted: check_write not called first"
                )));
            }
        }
        if bytes.len() > WRITE_CAPACITY {
            return Err(StreamError::Trap(wasmtime::format_err!("write past check_write's capacity")));
        }
        let (file, meter, mode) = (self.file.clone(), self.meter.clone(), self.mode);
        // The lock is awaited here, never on a blocking thread: a call
        // holding it may itself be waiting for one.
        self.state = State::Waiting(tokio::spawn(async move {
            let _op = meter.usage.op.lock().await;
            let m = meter.clone();
            tokio::task::spawn_blocking(move || Self::write_all(&file, &m, &bytes, mode))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
        }));
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        match self.state {
            State::Ready | State::Waiting(_) => Ok(()),
            State::Closed => Err(StreamError::Closed),
            State::Failed(_) => Err(self.take_failure()),
        }
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        match self.state {
            State::Ready => Ok(WRITE_CAPACITY),
            State::Waiting(_) => Ok(0),
            State::Closed => Err(StreamError::Closed),
            State::Failed(_) => Err(self.take_failure()),
        }
    }
    async fn cancel(&mut self) {
        if let State::Waiting(task) = std::mem::replace(&mut self.state, State::Closed) {
            let _ = task.await;
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        if let State::Waiting(task) = &mut self.state {
            self.state = match task.await {
                Ok(Ok(n)) => {
                    if let Mode::At(p) = &mut self.mode {
                        *p += n as u64;
                    }
                    State::Ready
                }
                Ok(Err(e)) => State::Failed(e),
                Err(e) => State::Failed(std::io::Error::other(e.to_string())),
            };
        }
    }
}

/// An input stream that keeps its file marked open while it lives (an
/// unlinked file read through it stays counted).
pub(super) struct OpenInput {
    pub(super) inner: DynInputStream,
    pub(super) _open: OpenFile,
}

#[wasmtime_wasi::async_trait]
impl InputStream for OpenInput {
    fn read(&mut self, size: usize) -> Result<Bytes, StreamError> {
        self.inner.read(size)
    }
    async fn blocking_read(&mut self, size: usize) -> Result<Bytes, StreamError> {
        self.inner.blocking_read(size).await
    }
    fn skip(&mut self, nelem: usize) -> Result<usize, StreamError> {
        self.inner.skip(nelem)
    }
    async fn blocking_skip(&mut self, nelem: usize) -> Result<usize, StreamError> {
        self.inner.blocking_skip(nelem).await
    }
    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OpenInput {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}
