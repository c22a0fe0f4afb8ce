//! Backup and restore on a runtime: a restore that fails at its last step
//! (the database) puts the tenant's files back and changes nothing.

use super::format::{self, BackupError, Header, Record, Writer};
use crate::records::{Job, Schedule};
use crate::store::Scope;
use crate::{Error, Runtime, RuntimeConfig, TenantId};
use std::io::{Read, Seek, Write};

fn read_all(mut f: std::fs::File) -> Vec<u8> {
    let mut out = Vec::new();
    f.read_to_end(&mut out).unwrap();
    out
}

fn file_of(bytes: &[u8]) -> std::fs::File {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(bytes).unwrap();
    f.rewind().unwrap();
    f
}

fn runtime(dir: &std::path::Path) -> Runtime {
    let mut config = RuntimeConfig::with_data_dir(dir.join("data"));
    config.pool.max_instances = 4;
    Runtime::new(config).unwrap()
}

/// Makes `levels` nested directories named `name` below `root`, relative
/// to descriptors (as a guest's `openat` does), with a file at the bottom.
fn nest(root: &std::path::Path, levels: usize, name: &str) {
    use rustix::fs::{Mode, OFlags};
    std::fs::create_dir_all(root).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut fd = crate::tree::open_root(root).unwrap().unwrap();
    for _ in 0..levels {
        rustix::fs::mkdirat(&fd, &name, Mode::from_raw_mode(0o700)).unwrap();
        fd = crate::tree::open_dir_at(rustix::fd::AsFd::as_fd(&fd), &name).unwrap();
    }
    let leaf = rustix::fs::openat(&fd, c"leaf", OFlags::CREATE | OFlags::WRONLY, Mode::from_raw_mode(0o600))
        .unwrap();
    rustix::io::write(&leaf, b"bottom").unwrap();
}

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn memory(rt: &Runtime, tenant: &TenantId) -> Option<String> {
    rt.db_for_tests().memory_get(Scope { tenant, user: None }, "k").unwrap()
}

fn set_memory(rt: &Runtime, tenant: &TenantId, value: &str) {
    rt.db_for_tests().memory_set(Scope { tenant, user: None }, "k", value, &Default::default()).unwrap();
}

#[tokio::test]
async fn a_restore_failing_in_the_database_puts_the_files_back_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    config.pool.max_instances = 4;
    let rt = Runtime::new(config).unwrap();
    let (a, b) = (t("a"), t("b"));
    rt.create_tenant("operator", &a).unwrap();
    rt.create_tenant("operator", &b).unwrap();
    let file = rt.tenant_files_dir(&a).join("x.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "before").unwrap();
    set_memory(&rt, &a, "v1");
    let bytes = read_all(rt.backup("operator", Some(&a)).await.unwrap());

    std::fs::write(&file, "after").unwrap();
    set_memory(&rt, &a, "v2");
    // B holds a cron job whose id a crafted backup of A reuses: the
    // database refuses it, after A's files were swapped in.
    let job = Job {
        id: "j1".into(),
        tenant: b.clone(),
        skill: "s".into(),
        scope: Default::default(),
        schedule: Schedule::EverySeconds(60),
        input: "{}".into(),
        next_run: 10,
        created: 1,
        last: None,
    };
    rt.db_for_tests().cron_add(&job, 10, 10).unwrap();
    let stolen = Job { tenant: a.clone(), ..job };
    let crafted = format::transform(&bytes[..], Vec::new(), |rec| {
        if let Record::Tenant(rows) = rec {
            let job = crate::store::Bytes(serde_json::to_vec(&stolen).unwrap());
            rows.families
                .entry("cron_jobs".into())
                .or_default()
                .push((crate::store::Bytes(b"j1".to_vec()), job));
        }
        Ok(())
    })
    .unwrap();
    let err = rt.restore("operator", file_of(&crafted), None).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "after", "the files were put back");
    assert_eq!(memory(&rt, &a).as_deref(), Some("v2"));
    assert_eq!(rt.db_for_tests().cron_list_tenant(&b).unwrap().len(), 1);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("data/tenants"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a"], "no staging directory is left");

    let done = rt.restore("operator", file_of(&bytes), None).await.unwrap();
    assert_eq!(done.restored, ["a"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "before");
    assert_eq!(memory(&rt, &a).as_deref(), Some("v1"));
}

#[tokio::test]
async fn a_hostile_tree_never_fails_the_gateway_nor_another_tenants_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let (deep, sparse, long, good) = (t("deep"), t("sparse"), t("long"), t("good"));
    for x in [&deep, &sparse, &long, &good] {
        rt.create_tenant("operator", x).unwrap();
    }
    // 12,000 nested directories (made before depth was bounded): the old
    // recursive walk overflowed the thread's stack and aborted the gateway.
    nest(&rt.tenant_files_dir(&deep), 12_000, "d");
    // A 1 TiB sparse file (1 byte at 2^40): the old backup read it whole.
    let files = rt.tenant_files_dir(&sparse);
    std::fs::create_dir_all(&files).unwrap();
    let f = std::fs::File::create(files.join("hole")).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"!", 1 << 40).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"start", 0).unwrap();
    // 20 levels of 250-byte names: past PATH_MAX, so a restore by path
    // failed with "File name too long".
    nest(&rt.tenant_files_dir(&long), 20, &"n".repeat(250));
    std::fs::create_dir_all(rt.tenant_files_dir(&good)).unwrap();
    std::fs::write(rt.tenant_files_dir(&good).join("ok.txt"), "fine").unwrap();
    set_memory(&rt, &good, "kept");

    let file = rt.backup("operator", None).await.unwrap();
    let size = file.metadata().unwrap().len();
    assert!(size < 4 << 20, "the sparse terabyte is stored by its data: {size} bytes");
    let bytes = read_all(file);
    let summary = format::check(&bytes[..], |_, _| Ok(())).unwrap();
    assert_eq!(summary.tenants, ["deep", "good", "long", "sparse"]);

    for x in [&deep, &sparse, &long, &good] {
        crate::tree::remove_tree(&rt.config().data_dir.join("tenants").join(x.as_str())).unwrap();
    }
    set_memory(&rt, &good, "changed");
    let done = rt.restore("operator", file_of(&bytes), None).await.unwrap();
    assert_eq!(done.restored.len(), 4);
    assert_eq!(std::fs::read_to_string(rt.tenant_files_dir(&good).join("ok.txt")).unwrap(), "fine");
    assert_eq!(memory(&rt, &good).as_deref(), Some("kept"));
    let hole = rt.tenant_files_dir(&sparse).join("hole");
    let meta = std::fs::metadata(&hole).unwrap();
    assert_eq!(meta.len(), (1 << 40) + 1);
    assert!(std::os::unix::fs::MetadataExt::blocks(&meta) < 1024, "restored sparse");
    let f = std::fs::File::open(&hole).unwrap();
    let mut b = [0u8; 5];
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, 0).unwrap();
    assert_eq!(&b, b"start");
    std::os::unix::fs::FileExt::read_exact_at(&f, &mut b[..1], 1 << 40).unwrap();
    assert_eq!(b[0], b'!');
    // The long tree came back whole, leaf and all.
    let m = crate::disk_quota::measure(&rt.tenant_files_dir(&long));
    assert_eq!((m.files, m.bytes, m.complete), (21, 6, true));
    // The deep tree: what a walk enters came back, the rest was counted.
    let m = crate::disk_quota::measure(&rt.tenant_files_dir(&deep));
    assert_eq!(m.files as usize, crate::tree::MAX_WALK_DEPTH - 1);
    // And the deep tenant can still be deleted, whatever its depth.
    nest(&rt.tenant_files_dir(&deep), 12_000, "again");
    rt.delete_tenant("operator", &deep).await.unwrap();
    assert!(!rt.config().data_dir.join("tenants/deep").exists());
}

fn sample(entries: &[Record]) -> Vec<u8> {
    let header = Header { created: 5, gateway: "0.1.0".into(), master_key: "ab".repeat(32) };
    let mut w = Writer::new(Vec::new(), &header).unwrap();
    let rows = crate::store::TenantRows {
        tenant: "acme".into(),
        families: [(
            "tenant".to_string(),
            vec![(
                crate::store::Bytes::default(),
                crate::store::Bytes(br#"{"created":1,"suspended":false}"#.to_vec()),
            )],
        )]
        .into(),
    };
    w.record(&Record::Tenant(Box::new(rows))).unwrap();
    for e in entries {
        w.record(e).unwrap();
    }
    w.record(&Record::TenantEnd { skipped: 0 }).unwrap();
    w.finish().unwrap()
}

#[test]
fn every_truncation_and_every_flipped_byte_is_refused() {
    let bytes = sample(&[
        Record::Dir("files".into()),
        Record::File { path: "files/a".into(), size: 5 },
        Record::Extent { offset: 0, data: b"hello".to_vec() },
    ]);
    assert_eq!(format::check(&bytes[..], |_, _| Ok(())).unwrap().tenants, ["acme"]);
    for len in 0..bytes.len() {
        assert!(format::check(&bytes[..len], |_, _| Ok(())).is_err(), "truncated to {len} bytes");
    }
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x01;
        assert!(format::check(&bad[..], |_, _| Ok(())).is_err(), "byte {i} flipped");
    }
    let mut longer = bytes.clone();
    longer.push(b' ');
    assert!(matches!(format::check(&longer[..], |_, _| Ok(())), Err(BackupError::Checksum(_))));
    let v1 = b"wasmclaw-backup 1 sha256=00\n{}";
    assert!(matches!(format::check(&v1[..], |_, _| Ok(())), Err(BackupError::Version(_))));
}

#[test]
fn a_consistent_but_hostile_tree_is_refused() {
    let dir = |p: &str| Record::Dir(p.into());
    let file = |p: &str| Record::File { path: p.into(), size: 1 };
    let cases: Vec<(&str, Vec<Record>)> = vec![
        ("escapes", vec![file("../other/x")]),
        ("absolute", vec![file("/etc/x")]),
        ("parent missing", vec![file("a/x")]),
        ("twice", vec![file("x"), file("x")]),
        ("out of order", vec![file("b"), file("a")]),
        ("file as parent", vec![file("a"), file("a/x")]),
        ("closed parent", vec![dir("a"), dir("b"), file("a/x")]),
        ("extent past size", vec![file("x"), Record::Extent { offset: 1, data: vec![1] }]),
        (
            "extents backwards",
            vec![
                Record::File { path: "x".into(), size: 9 },
                Record::Extent { offset: 4, data: vec![1] },
                Record::Extent { offset: 0, data: vec![1] },
            ],
        ),
        ("extent without file", vec![dir("a"), Record::Extent { offset: 0, data: vec![1] }]),
        ("too deep", (1..=crate::tree::MAX_WALK_DEPTH + 1).map(|n| dir(&vec!["d"; n].join("/"))).collect()),
    ];
    for (what, entries) in cases {
        let bytes = sample(&entries);
        assert!(
            matches!(format::check(&bytes[..], |_, _| Ok(())), Err(BackupError::Invalid(_))),
            "{what} was accepted"
        );
    }
    let fine = sample(&[dir("a"), dir("a/b"), file("a/b/x"), file("a/c"), dir("b"), file("c")]);
    format::check(&fine[..], |_, _| Ok(())).unwrap();
}

#[tokio::test]
async fn a_backup_never_follows_a_link_nor_keeps_one() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let (a, b) = (t("a"), t("b"));
    rt.create_tenant("operator", &a).unwrap();
    rt.create_tenant("operator", &b).unwrap();
    let (fa, fb) = (rt.tenant_files_dir(&a), rt.tenant_files_dir(&b));
    std::fs::create_dir_all(fa.join("sub")).unwrap();
    std::fs::create_dir_all(&fb).unwrap();
    std::fs::write(fb.join("diary.txt"), "b's secret diary").unwrap();
    std::fs::write(fa.join("sub/mine.txt"), "a's own").unwrap();
    std::os::unix::fs::symlink(&fb, fa.join("to-b")).unwrap();
    std::os::unix::fs::symlink(fb.join("diary.txt"), fa.join("sub/diary.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", fa.join("etc")).unwrap();
    let bytes = read_all(rt.backup("operator", Some(&a)).await.unwrap());
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("b's secret diary"), "a link's target was copied");
    assert!(!text.contains("to-b") && !text.contains("sub/diary.txt"), "a link was kept");
    let mut r = format::Reader::new(&bytes[..]).unwrap();
    let mut skipped = None;
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::TenantEnd { skipped: n } = rec {
            skipped = Some(n);
        }
    }
    assert_eq!(skipped, Some(3), "the three links are counted as skipped");
    crate::tree::remove_tree(&fa).unwrap();
    rt.restore("operator", file_of(&bytes), None).await.unwrap();
    assert_eq!(std::fs::read_to_string(fa.join("sub/mine.txt")).unwrap(), "a's own");
    assert!(std::fs::symlink_metadata(fa.join("to-b")).is_err());
    assert_eq!(std::fs::read_to_string(fb.join("diary.txt")).unwrap(), "b's secret diary");
}

#[tokio::test]
async fn hard_links_cost_their_inode_once_in_the_backup_and_after_a_restore() {
    // The quota counts a hard-linked file once (link-at costs one entry,
    // no bytes), so a tenant at its byte quota may link its one big file
    // as often as it has entries. The backup must not store (and a restore
    // must not write) that file once per link: 1 MiB linked 64 times was
    // 64 MiB in the backup and 64 MiB on disk after a restore, a tenant at
    // 1 GiB with 100,000 entries 100 TB.
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let a = t("a");
    rt.create_tenant("operator", &a).unwrap();
    let files = rt.tenant_files_dir(&a);
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("big"), vec![7u8; 1 << 20]).unwrap();
    for i in 0..64 {
        std::fs::hard_link(files.join("big"), files.join(format!("link{i}"))).unwrap();
    }
    let before = crate::disk_quota::measure(&files);
    assert_eq!(before.bytes, 1 << 20);

    let file = rt.backup("operator", Some(&a)).await.unwrap();
    let size = file.metadata().unwrap().len();
    let bytes = read_all(file);
    crate::tree::remove_tree(&files).unwrap();
    rt.restore("operator", file_of(&bytes), None).await.unwrap();
    let after = crate::disk_quota::measure(&rt.tenant_files_dir(&a));
    assert_eq!(after.files, before.files, "every link came back");
    assert_eq!(after.bytes, before.bytes, "the restored tree is what the quota counted");
    assert!(size < 2 << 20, "the linked megabyte is stored once: {size} bytes");
}
