//! The WASI a skill sees: the tenant's own directory as its only filesystem,
//! (its writes checked against the tenant's disk quota, see
//! [`crate::disk_quota`]), bounded stdout/stderr, clocks and random. No environment, no arguments, no
//! stdin, and no `wasi:sockets` at all: those interfaces are not in the
//! linker, and a component importing them is refused at load (or, where the
//! operator's `[trust] allow_imports` allows them, loads with imports that
//! trap when called; see [`crate::permissions`]).

use crate::disk_quota::{QuotaFilesystem, QuotaView};
use crate::sync::lock;
use bytes::{Bytes, BytesMut};
use std::path::Path;
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiView};

/// The name under which the tenant's directory is preopened.
pub const GUEST_ROOT: &str = ".";

/// Builds the WASI context of one call: `root` preopened read-write as the
/// only directory, output into the two pipes, everything else closed.
pub fn context(root: &Path, stdout: BoundedPipe, stderr: BoundedPipe) -> std::io::Result<WasiCtx> {
    let mut b = WasiCtxBuilder::new();
    b.stdout(stdout).stderr(stderr);
    b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
    b.preopened_dir(root, GUEST_ROOT, FsPerms::ReadWrite)
        .map_err(|e| std::io::Error::other(format!("cannot open {}: {e}", root.display())))?;
    Ok(b.build())
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Adds the WASI interfaces a skill may import (cli, clocks, filesystem,
/// io, random; not sockets) to `linker`.
pub fn add_to_linker<T: WasiView + QuotaView + 'static>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random};
    io::error::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    io::poll::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    io::streams::add_to_linker::<T, HasIo>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    filesystem::types::add_to_linker::<T, QuotaFilesystem>(l, T::quota_fs)?;
    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    Ok(())
}

/// An output pipe that keeps the first `capacity` bytes and silently drops
/// the rest (counting them), so a chatty guest neither grows host memory nor
/// fails on a closed stdout.
#[derive(Clone)]
pub struct BoundedPipe {
    inner: Arc<Mutex<PipeState>>,
}

struct PipeState {
    buf: BytesMut,
    capacity: usize,
    dropped: u64,
}

impl BoundedPipe {
    /// A pipe keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        BoundedPipe { inner: Arc::new(Mutex::new(PipeState { buf: BytesMut::new(), capacity, dropped: 0 })) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PipeState> {
        lock(&self.inner)
    }

    /// What was kept, as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.state().buf).into_owned()
    }

    /// Bytes dropped past the capacity.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }

    fn push(&self, bytes: &[u8]) {
        let mut s = self.state();
        let room = s.capacity - s.buf.len();
        let kept = bytes.len().min(room);
        s.buf.extend_from_slice(&bytes[..kept]);
        s.dropped += (bytes.len() - kept) as u64;
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for BoundedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }
    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for BoundedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for BoundedPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.push(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl IsTerminal for BoundedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_keeps_capacity_and_counts_the_rest() {
        let mut p = BoundedPipe::new(5);
        p.write(Bytes::from_static(b"hello world")).unwrap();
        p.write(Bytes::from_static(b"!")).unwrap();
        assert_eq!(p.text(), "hello");
        assert_eq!(p.dropped(), 7);
        assert!(p.check_write().unwrap() > 0, "a full pipe still accepts writes");
    }

    #[test]
    fn context_refuses_a_missing_root() {
        let e = context(Path::new("/nonexistent/wasmclaw"), BoundedPipe::new(1), BoundedPipe::new(1));
        assert!(e.is_err());
    }
}

/// A directory below a tenant's root, opened one component at a time
/// without following a symlink (`openat` with `O_NOFOLLOW`), created where
/// absent, and held open. A guest can plant a relative symlink such as
/// `users/x → ../../../other/files` inside its root; the host, which is not
/// confined, must never walk it.
pub struct HeldDir(rustix::fd::OwnedFd);

impl HeldDir {
    /// Opens (creating as needed) `root/c1/c2/…`; `root` itself is the
    /// host's own path and trusted.
    pub fn open(root: &Path, components: &[&str]) -> std::io::Result<HeldDir> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY;
        let mut fd = rustix::fs::open(root, flags, Mode::empty())?;
        for c in components {
            if c.is_empty() || *c == "." || *c == ".." || c.contains('/') {
                return Err(std::io::Error::other(format!("{c:?} is not one path component")));
            }
            match rustix::fs::mkdirat(&fd, *c, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            fd = rustix::fs::openat(&fd, *c, flags | OFlags::NOFOLLOW, Mode::empty()).map_err(|e| {
                std::io::Error::other(format!("{c} below {} is not a plain directory: {e}", root.display()))
            })?;
        }
        Ok(HeldDir(fd))
    }

    /// A path naming exactly this directory, whatever is renamed or
    /// replaced meanwhile (`/proc/self/fd/N`), valid while `self` lives.
    pub fn path(&self) -> std::path::PathBuf {
        use std::os::fd::AsRawFd;
        std::path::PathBuf::from(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
    }
}

/// The directory of a call made for one user of a tenant,
/// `<tenant>/users/<hex of the user id>/` (and `below` it), created on
/// first use and opened without following a symlink the tenant's skills may
/// have planted. Hex keeps any user id (even `..`) one inert path
/// component, distinct by case.
pub(crate) fn user_dir(
    tenant_files: &std::path::Path,
    user: &crate::ids::UserId,
    below: &[&str],
) -> Result<HeldDir, crate::error::Error> {
    std::fs::create_dir_all(tenant_files)
        .map_err(|e| crate::error::Error::io(format!("{}", tenant_files.display()), e))?;
    let hex = hex::encode(user.as_str());
    let components: Vec<&str> = ["users", hex.as_str()].into_iter().chain(below.iter().copied()).collect();
    HeldDir::open(tenant_files, &components)
        .map_err(|e| crate::error::Error::io(format!("user {user}'s directory"), e))
}

#[cfg(test)]
mod held_dir_tests {
    use super::HeldDir;

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("root"), d.path().join("outside"));
        std::fs::create_dir_all(root.join("users")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink("../../outside", root.join("users/evil")).unwrap();
        let e = HeldDir::open(&root, &["users", "evil"]).err().expect("refused");
        assert!(e.to_string().contains("not a plain directory"), "{e}");
        std::os::unix::fs::symlink("../outside", root.join("media")).unwrap();
        assert!(HeldDir::open(&root, &["media"]).is_err());
        assert!(HeldDir::open(&root, &[".."]).is_err());
        // A plain path is created and usable through its held path.
        let ok = HeldDir::open(&root, &["users", "alice", "media"]).unwrap();
        std::fs::write(ok.path().join("f"), b"x").unwrap();
        assert_eq!(std::fs::read(root.join("users/alice/media/f")).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing reached outside");
    }
}
