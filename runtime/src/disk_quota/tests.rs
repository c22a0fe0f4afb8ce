//! The quota's host implementation driven without wasm: the review's five
//! bypasses, and random sequences of WASI file operations after each of
//! which the count must equal a fresh measurement of the tree (plus what
//! unlinked files still open hold) and stay within the quota.

use super::*;
use proptest::prelude::*;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::p2::DynOutputStream;
use wasmtime_wasi::p2::bindings::filesystem::preopens::Host as _;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

/// A tenant directory, its WASI context and the quota's state.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    ctx: WasiCtx,
    table: ResourceTable,
    disk: DiskCtx,
}

impl Fixture {
    fn new(quota: FilesQuota) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        std::fs::create_dir(&root).unwrap();
        let mut b = WasiCtxBuilder::new();
        b.preopened_dir(&root, ".", FsPerms::ReadWrite).unwrap();
        let disk = DiskCtx::new(Arc::default(), quota, root.clone());
        Fixture { _dir: dir, root, ctx: b.build(), table: ResourceTable::new(), disk }
    }

    fn view(&mut self) -> QuotaFsView<'_> {
        let fs = WasiFilesystemCtxView { ctx: self.ctx.filesystem(), table: &mut self.table };
        QuotaFsView { fs, disk: &mut self.disk }
    }

    fn root_fd(&mut self) -> Resource<Descriptor> {
        self.view().fs.get_directories().unwrap().remove(0).0
    }

    async fn open(
        &mut self,
        path: &str,
        o: OpenFlags,
        f: PathFlags,
    ) -> Result<Resource<Descriptor>, ErrorCode> {
        let root = self.root_fd();
        let flags = DescriptorFlags::READ | DescriptorFlags::WRITE;
        self.view().open_at(root, f, path.into(), o, flags).await.map_err(code)
    }

    async fn create(&mut self, path: &str) -> Result<Resource<Descriptor>, ErrorCode> {
        self.open(path, OpenFlags::CREATE, PathFlags::empty()).await
    }

    async fn stream_write(
        &mut self,
        fd: &Resource<Descriptor>,
        at: Option<u64>,
        n: usize,
    ) -> Result<(), ErrorCode> {
        let fd = Resource::new_borrow(fd.rep());
        let res = match at {
            Some(o) => self.view().write_via_stream(fd, o),
            None => self.view().append_via_stream(fd),
        }
        .map_err(code)?;
        let stream: &mut DynOutputStream = self.table.get_mut(&res).unwrap();
        let mut left = n;
        let mut result = Ok(());
        while left > 0 {
            let room = match stream.check_write() {
                Ok(0) => {
                    stream.ready().await;
                    continue;
                }
                Ok(room) => room,
                Err(_) => {
                    result = Err(ErrorCode::Quota);
                    break;
                }
            };
            let k = room.min(left);
            stream.write(bytes::Bytes::from(vec![7u8; k])).unwrap();
            left -= k;
        }
        stream.ready().await;
        if result.is_ok() && stream.check_write().is_err() {
            result = Err(ErrorCode::Quota);
        }
        drop(self.table.delete(res).unwrap());
        result
    }

    /// Another call of the same tenant: its own WASI context on the same
    /// directory, sharing this one's usage.
    fn sharing(&self) -> Self {
        let mut b = WasiCtxBuilder::new();
        b.preopened_dir(&self.root, ".", FsPerms::ReadWrite).unwrap();
        let disk = DiskCtx::new(self.disk.usage().clone(), self.disk.meter.quota, self.root.clone());
        let dir = tempfile::tempdir().unwrap();
        Fixture { _dir: dir, root: self.root.clone(), ctx: b.build(), table: ResourceTable::new(), disk }
    }

    /// The count, and a fresh measurement of the tree.
    fn counted_and_measured(&self) -> ((u64, u64), Measured) {
        (self.disk.usage().get(), measure(&self.root))
    }
}

fn code(e: wasmtime_wasi::p2::FsError) -> ErrorCode {
    e.downcast().unwrap_or(ErrorCode::Io)
}

fn borrow(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

const MIB: u64 = 1 << 20;

fn quota() -> FilesQuota {
    FilesQuota { max_bytes: MIB, max_files: 100, max_depth: 8 }
}

#[tokio::test]
async fn a_write_far_past_the_end_reserves_the_hole_it_makes() {
    let mut t = Fixture::new(quota());
    let fd = t.create("big").await.unwrap();
    let r = t.view().write(borrow(&fd), vec![1], 1 << 40).await.map_err(code);
    assert_eq!(r, Err(ErrorCode::Quota), "1 byte at 2^40 is a 1 TiB file");
    assert_eq!(t.stream_write(&fd, Some(1 << 40), 1).await, Err(ErrorCode::Quota));
    assert_eq!(std::fs::metadata(t.root.join("big")).unwrap().len(), 0);
    // Within the quota, the hole counts: 4 KiB strides are not 1 byte each.
    for i in 0..256u64 {
        let r = t.view().write(borrow(&fd), vec![1], i * 4096).await.map_err(code);
        assert_eq!(r, Ok(1), "stride {i}");
    }
    let r = t.view().write(borrow(&fd), vec![1], 256 * 4096).await.map_err(code);
    assert_eq!(r, Err(ErrorCode::Quota), "the 257th stride passes 1 MiB of apparent size");
    let (counted, measured) = t.counted_and_measured();
    assert_eq!(counted, (measured.bytes, measured.files));
    assert_eq!(counted.0, 255 * 4096 + 1);
}

#[tokio::test]
async fn a_truncate_gives_back_only_what_was_counted() {
    let mut t = Fixture::new(quota());
    let fd = t.create("a").await.unwrap();
    t.view().write(borrow(&fd), vec![1; 1000], MIB - 1000).await.unwrap();
    t.view().set_size(borrow(&fd), 0).await.unwrap();
    // The truncate freed exactly what the write took: the room is whole,
    // not more.
    let other = t.create("b").await.unwrap();
    assert_eq!(t.view().write(borrow(&other), vec![1; MIB as usize], 0).await.map_err(code), Ok(MIB));
    assert_eq!(t.view().write(borrow(&fd), vec![1], 0).await.map_err(code), Err(ErrorCode::Quota));
    // set-size past the end is growth.
    assert_eq!(t.view().set_size(borrow(&fd), 1).await.map_err(code), Err(ErrorCode::Quota));
    t.open("b", OpenFlags::TRUNCATE, PathFlags::empty()).await.unwrap();
    let (counted, measured) = t.counted_and_measured();
    assert_eq!(counted, (0, 2));
    assert_eq!(counted, (measured.bytes, measured.files));
}

#[tokio::test]
async fn creating_through_a_link_counts_the_file_it_makes() {
    let mut t = Fixture::new(FilesQuota { max_files: 10, ..quota() });
    let root = t.root_fd();
    for k in 0..20 {
        let (link, target) = (format!("l{k}"), format!("t{k}"));
        let made = t.view().symlink_at(borrow(&root), target, link.clone()).await.map_err(code);
        if made.is_err() {
            assert_eq!(made, Err(ErrorCode::Quota));
            break;
        }
        let _ = t.open(&link, OpenFlags::CREATE, PathFlags::SYMLINK_FOLLOW).await;
        t.view().unlink_file_at(borrow(&root), link).await.unwrap();
    }
    let (counted, measured) = t.counted_and_measured();
    assert_eq!(counted, (measured.bytes, measured.files));
    assert!(measured.files <= 10, "{} entries on a limit of 10", measured.files);
}

#[tokio::test]
async fn an_unlinked_file_still_open_stays_counted_until_it_closes() {
    let mut t = Fixture::new(quota());
    let root = t.root_fd();
    let fd = t.create("a").await.unwrap();
    t.view().write(borrow(&fd), vec![1; MIB as usize], 0).await.unwrap();
    t.view().unlink_file_at(borrow(&root), "a".into()).await.unwrap();
    // Its megabyte is still on disk: nothing else fits, and truncating the
    // orphan then growing it again cannot mint room.
    let b = t.create("b").await.unwrap();
    assert_eq!(t.view().write(borrow(&b), vec![1], 0).await.map_err(code), Err(ErrorCode::Quota));
    t.view().set_size(borrow(&fd), 0).await.unwrap();
    t.view().write(borrow(&fd), vec![1; 1000], 0).await.unwrap();
    assert_eq!(t.disk.usage().get().0, 1000);
    HostDescriptor::drop(&mut t.view(), fd).unwrap();
    assert_eq!(t.disk.usage().get(), (0, 1));
    assert_eq!(t.view().write(borrow(&b), vec![1; MIB as usize], 0).await.map_err(code), Ok(MIB));
}

#[tokio::test]
async fn a_tree_past_path_max_is_measured_whole() {
    let mut t = Fixture::new(FilesQuota { max_depth: 64, ..quota() });
    // 20 levels of 250-byte names: 5,000 bytes of path.
    let name = "d".repeat(250);
    let mut fd = t.root_fd();
    for _ in 0..20 {
        t.view().create_directory_at(borrow(&fd), name.clone()).await.unwrap();
        let flags = DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY;
        fd = t
            .view()
            .open_at(fd, PathFlags::empty(), name.clone(), OpenFlags::DIRECTORY, flags)
            .await
            .unwrap();
    }
    let flags = DescriptorFlags::READ | DescriptorFlags::WRITE;
    let f = t.view().open_at(borrow(&fd), PathFlags::empty(), "x".into(), OpenFlags::CREATE, flags).await;
    t.view().write(f.unwrap(), vec![1; 5000], 0).await.unwrap();
    let measured = measure(&t.root);
    assert_eq!(measured, Measured { bytes: 5000, files: 21, complete: true });
    t.disk.usage().measure(&t.root);
    assert_eq!(t.disk.usage().get(), (5000, 21));
    // A tree deeper than any walk enters (made before depth was bounded):
    // the walk that cannot see all of it never lowers the count.
    let mut dir = crate::tree::open_root(&t.root).unwrap().unwrap();
    for _ in 0..crate::tree::MAX_WALK_DEPTH + 2 {
        rustix::fs::mkdirat(&dir, c"n", rustix::fs::Mode::from_raw_mode(0o700)).unwrap();
        dir = crate::tree::open_dir_at(rustix::fd::AsFd::as_fd(&dir), c"n").unwrap();
    }
    assert!(!measure(&t.root).complete);
    t.disk.usage().state().bytes = 9_000_000;
    t.disk.usage().measure(&t.root);
    assert_eq!(t.disk.usage().get().0, 9_000_000);
}

#[tokio::test]
async fn directories_nest_no_deeper_than_max_depth_by_mkdir_or_rename() {
    let mut t = Fixture::new(FilesQuota { max_depth: 3, ..quota() });
    let root = t.root_fd();
    let mkdir = |p: &str| p.to_string();
    t.view().create_directory_at(borrow(&root), mkdir("a")).await.unwrap();
    t.view().create_directory_at(borrow(&root), mkdir("a/b")).await.unwrap();
    t.view().create_directory_at(borrow(&root), mkdir("a/b/c")).await.unwrap();
    let r = t.view().create_directory_at(borrow(&root), mkdir("a/b/c/d")).await.map_err(code);
    assert_eq!(r, Err(ErrorCode::NameTooLong));
    // Two levels moved under two levels: four deep.
    t.view().create_directory_at(borrow(&root), mkdir("x")).await.unwrap();
    t.view().create_directory_at(borrow(&root), mkdir("x/y")).await.unwrap();
    let r = t.view().rename_at(borrow(&root), "x".into(), borrow(&root), "a/b/x".into()).await.map_err(code);
    assert_eq!(r, Err(ErrorCode::NameTooLong));
    // The same move one level up fits.
    t.view().rename_at(borrow(&root), "x".into(), borrow(&root), "a/x".into()).await.unwrap();
    // Through a link to a deep directory: the real depth counts.
    t.view().symlink_at(borrow(&root), "a/b/c".into(), "deep".into()).await.unwrap();
    let r = t.view().create_directory_at(borrow(&root), mkdir("deep/d")).await.map_err(code);
    assert_eq!(r, Err(ErrorCode::NameTooLong));
    let m = measure(&t.root);
    assert!(m.complete);
    assert_eq!(t.disk.usage().get(), (m.bytes, m.files));
}

#[tokio::test]
async fn a_max_depth_past_what_host_walks_enter_is_held_to_what_they_enter() {
    // `max_depth` is the operator's, but the walks that measure, back up
    // and check the tree enter at most MAX_WALK_DEPTH levels: a tree the
    // guest could make deeper was measured incomplete (the count could
    // never be corrected again) and backed up without its bottom.
    let mut t = Fixture::new(FilesQuota { max_depth: 1000, max_files: 1000, ..quota() });
    let root = t.root_fd();
    let mut made = 0;
    for level in 1..=200 {
        let path = vec!["d"; level].join("/");
        match t.view().create_directory_at(borrow(&root), path).await.map_err(code) {
            Ok(()) => made = level,
            Err(e) => {
                assert_eq!(e, ErrorCode::NameTooLong);
                break;
            }
        }
    }
    assert_eq!(made, crate::tree::MAX_WALK_DEPTH - 1);
    let m = measure(&t.root);
    assert!(m.complete, "every directory the guest made is walked");
    assert_eq!(t.disk.usage().get(), (m.bytes, m.files));
}

#[test]
fn stream_writes_waiting_for_the_tenant_lock_cannot_starve_the_call_holding_it() {
    // A call holding the tenant's lock awaits the blocking pool (for its
    // own file operation); stream writes of another call of the tenant
    // used to wait for that lock *on* blocking-pool threads. Enough of
    // them (512 by default, 2 here) and the holder's operation never gets
    // a thread: the tenant's calls, and every other tenant's file I/O on
    // that pool, hang for good.
    const THREADS: usize = 2;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(THREADS)
        .enable_all()
        .build()
        .unwrap();
    let finished = rt.block_on(async {
        let mut a = Fixture::new(FilesQuota { max_files: 100_000, ..quota() });
        let mut b = a.sharing();
        // A tree from before this process: its first measurement (a walk
        // on the blocking pool, under the lock) takes a while.
        for i in 0..20_000 {
            std::fs::File::create(a.root.join(format!("old{i}"))).unwrap();
        }
        let fd = b.open("old0", OpenFlags::empty(), PathFlags::empty()).await.unwrap();
        let mut streams = Vec::new();
        for _ in 0..THREADS * 4 {
            streams.push(b.view().write_via_stream(borrow(&fd), 0).unwrap());
        }
        let root = a.root_fd();
        let flags = DescriptorFlags::READ | DescriptorFlags::WRITE;
        let mut view = a.view();
        let open = view.open_at(root, PathFlags::empty(), "g".into(), OpenFlags::CREATE, flags);
        let mut open = std::pin::pin!(open);
        // A takes the lock and awaits its first blocking step.
        tokio::select! {
            biased;
            r = &mut open => panic!("the open finished without the blocking pool: {:?}", r.map_err(code)),
            _ = std::future::ready(()) => {}
        }
        // Meanwhile B's streams each start a write.
        for s in &streams {
            let stream: &mut DynOutputStream = b.table.get_mut(s).unwrap();
            assert!(stream.check_write().unwrap() > 0);
            stream.write(bytes::Bytes::from_static(b"x")).unwrap();
        }
        let done = tokio::time::timeout(std::time::Duration::from_secs(20), &mut open).await;
        done.is_ok_and(|r| r.is_ok())
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    assert!(finished, "the call holding the tenant's lock never got a blocking thread");
}

#[tokio::test]
async fn links_renames_and_odd_paths_keep_the_count_exact() {
    // Attacks that held: each step must leave the count equal to the tree.
    let mut t = Fixture::new(FilesQuota { max_depth: 3, ..quota() });
    let root = t.root_fd();
    let exact = |t: &Fixture, orphans: u64, what: &str| {
        let (counted, m) = t.counted_and_measured();
        assert!(m.complete, "{what}");
        assert_eq!(counted, (m.bytes + orphans, m.files), "{what}");
        assert!(counted.0 <= MIB, "{what}");
    };
    let f = t.create("a").await.unwrap();
    t.view().write(borrow(&f), vec![1; 1000], 0).await.unwrap();
    // A hard link, renamed over its twin, then the twins unlinked in turn.
    t.view().link_at(borrow(&root), PathFlags::empty(), "a".into(), borrow(&root), "b".into()).await.unwrap();
    t.view().rename_at(borrow(&root), "a".into(), borrow(&root), "b".into()).await.unwrap();
    exact(&t, 0, "rename over a link of itself");
    t.view().symlink_at(borrow(&root), "b".into(), "l".into()).await.unwrap();
    // (wasmtime-wasi refuses to follow; either way the count holds.)
    let _ = t
        .view()
        .link_at(borrow(&root), PathFlags::SYMLINK_FOLLOW, "l".into(), borrow(&root), "c".into())
        .await;
    exact(&t, 0, "link through a link");
    let tr = t.open("l", OpenFlags::TRUNCATE, PathFlags::SYMLINK_FOLLOW).await.unwrap();
    exact(&t, 0, "truncate through a link");
    t.view().write(borrow(&f), vec![1; 500], 0).await.unwrap();
    // A stream outlives its descriptor and every link, and keeps writing.
    let s = t.view().write_via_stream(borrow(&f), 500).unwrap();
    HostDescriptor::drop(&mut t.view(), f).unwrap();
    for name in ["a", "b", "c"] {
        let _ = t.view().unlink_file_at(borrow(&root), name.into()).await;
    }
    {
        let stream: &mut DynOutputStream = t.table.get_mut(&s).unwrap();
        assert!(stream.check_write().unwrap() > 0);
        stream.write(bytes::Bytes::from(vec![2u8; 300])).unwrap();
        stream.ready().await;
    }
    exact(&t, 800, "an orphan written through a stream");
    drop(t.table.delete(s).unwrap());
    exact(&t, 800, "still open through the truncating descriptor");
    HostDescriptor::drop(&mut t.view(), tr).unwrap();
    exact(&t, 0, "the orphan's last handle closed");
    // Odd paths: `.`, `..`, trailing slashes, a directory into itself.
    let root2 = t.root_fd();
    for p in ["x", "x/./y/", "x/y/../z", "x/y/z", "x//y/w"] {
        let _ = t.view().create_directory_at(borrow(&root2), p.into()).await;
    }
    let r = t.view().create_directory_at(borrow(&root2), "x/y/z/q".into()).await.map_err(code);
    assert_eq!(r, Err(ErrorCode::NameTooLong));
    let r =
        t.view().rename_at(borrow(&root2), "x".into(), borrow(&root2), "x/y/x".into()).await.map_err(code);
    assert!(r.is_err());
    t.view().symlink_at(borrow(&root2), "x/y".into(), "up".into()).await.unwrap();
    t.view().create_directory_at(borrow(&root2), "m".into()).await.unwrap();
    let r =
        t.view().rename_at(borrow(&root2), "m".into(), borrow(&root2), "up/z/m".into()).await.map_err(code);
    assert_eq!(r, Err(ErrorCode::NameTooLong), "through a linked parent");
    let r = t.view().create_directory_at(borrow(&root2), "up/z/../../../../out".into()).await.map_err(code);
    assert!(r.is_err(), "above the root");
    exact(&t, 0, "odd paths");
}

/// One WASI file operation of a random sequence.
#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Trunc(usize),
    Write(usize, u64, usize),
    Stream(usize, Option<u64>, usize),
    SetSize(usize, u64),
    Unlink(usize),
    Link(usize, usize),
    Symlink(usize, usize),
    CreateViaLink(usize),
    Rename(usize, usize),
    Mkdir(usize),
    Rmdir(usize),
    Close(usize),
}

const NAMES: [&str; 5] = ["a", "b", "d/c", "d/e", "d/d2/f"];
const DIRS: [&str; 3] = ["d", "d/d2", "d/d2/d3"];

fn offsets() -> impl Strategy<Value = u64> {
    prop_oneof![0..5000u64, Just(MIB - 10), Just(1 << 40), Just(u64::MAX - 3)]
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NAMES.len();
    prop_oneof![
        n.clone().prop_map(Op::Create),
        n.clone().prop_map(Op::Trunc),
        (n.clone(), offsets(), 0..70_000usize).prop_map(|(i, o, l)| Op::Write(i, o, l)),
        (n.clone(), proptest::option::of(offsets()), 0..70_000usize)
            .prop_map(|(i, o, l)| Op::Stream(i, o, l)),
        (n.clone(), offsets()).prop_map(|(i, s)| Op::SetSize(i, s)),
        n.clone().prop_map(Op::Unlink),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Symlink(a, b)),
        n.clone().prop_map(Op::CreateViaLink),
        (n.clone(), n.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        (0..DIRS.len()).prop_map(Op::Mkdir),
        (0..DIRS.len()).prop_map(Op::Rmdir),
        (0..8usize).prop_map(Op::Close),
    ]
}

async fn run(t: &mut Fixture, open: &mut Vec<Resource<Descriptor>>, op: &Op) {
    let root = t.root_fd();
    let name = |i: usize| NAMES[i].to_string();
    let file = |open: &Vec<Resource<Descriptor>>, i: usize| open.get(i % open.len().max(1)).map(borrow);
    match op.clone() {
        Op::Create(i) => open.extend(t.create(NAMES[i]).await),
        Op::Trunc(i) => open.extend(t.open(NAMES[i], OpenFlags::TRUNCATE, PathFlags::empty()).await),
        Op::Write(i, o, l) => {
            if let Some(fd) = file(open, i) {
                let _ = t.view().write(fd, vec![3; l], o).await;
            }
        }
        Op::Stream(i, o, l) => {
            if let Some(fd) = file(open, i) {
                let _ = t.stream_write(&fd, o, l).await;
            }
        }
        Op::SetSize(i, s) => {
            if let Some(fd) = file(open, i) {
                let _ = t.view().set_size(fd, s).await;
            }
        }
        Op::Unlink(i) => {
            let _ = t.view().unlink_file_at(root, name(i)).await;
        }
        Op::Link(a, b) => {
            let _ = t.view().link_at(borrow(&root), PathFlags::empty(), name(a), root, name(b)).await;
        }
        Op::Symlink(a, b) => {
            let _ = t.view().symlink_at(root, name(a), name(b)).await;
        }
        Op::CreateViaLink(i) => {
            open.extend(t.open(NAMES[i], OpenFlags::CREATE, PathFlags::SYMLINK_FOLLOW).await)
        }
        Op::Rename(a, b) => {
            let _ = t.view().rename_at(borrow(&root), name(a), root, name(b)).await;
        }
        Op::Mkdir(i) => {
            let _ = t.view().create_directory_at(root, DIRS[i].into()).await;
        }
        Op::Rmdir(i) => {
            let _ = t.view().remove_directory_at(root, DIRS[i].into()).await;
        }
        Op::Close(i) => {
            if !open.is_empty() {
                let fd = open.remove(i % open.len());
                HostDescriptor::drop(&mut t.view(), fd).unwrap();
            }
        }
    }
}

/// The bytes of open files that no longer have a link.
fn orphaned(t: &Fixture, open: &[Resource<Descriptor>]) -> u64 {
    let mut seen = std::collections::HashSet::new();
    open.iter()
        .filter_map(|fd| match t.table.get(fd).ok()? {
            wasmtime_wasi::filesystem::Descriptor::File(f) => rustix::fs::fstat(&*f.file).ok(),
            _ => None,
        })
        .filter(|s| s.st_nlink == 0 && seen.insert(inode(s)))
        .map(|s| s.st_size as u64)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn the_count_is_always_what_the_tree_holds_and_never_passes_the_quota(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let q = FilesQuota { max_bytes: 200_000, max_files: 12, max_depth: 2 };
            let mut t = Fixture::new(q);
            let mut open = Vec::new();
            for op in &ops {
                run(&mut t, &mut open, op).await;
                let ((bytes, files), m) = t.counted_and_measured();
                let held = orphaned(&t, &open);
                prop_assert!(m.complete);
                prop_assert_eq!((bytes, files), (m.bytes + held, m.files), "after {:?}", op);
                prop_assert!(bytes <= q.max_bytes && files <= q.max_files, "after {:?}", op);
            }
            for fd in open.drain(..) {
                HostDescriptor::drop(&mut t.view(), fd).unwrap();
            }
            let ((bytes, files), m) = t.counted_and_measured();
            prop_assert_eq!((bytes, files), (m.bytes, m.files));
            Ok(())
        })?;
    }
}
