//! Hostile skills: each gets exactly the outcome the runtime promises, and
//! the host (and every other tenant) carries on.

use crate::{bind, call, call_json, load};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmclaw::{Call, Error, LimitOverrides, Runtime, Skill};
use wasmclaw_tests::{runtime, runtime_with, tenant};

fn with(overrides: LimitOverrides) -> Call {
    Call { overrides, ..Call::default() }
}

/// A runtime whose fuel cap is lifted, so that a `spin` given ample fuel is
/// ended by its wall-clock deadline alone. (Under the default cap of 2·10¹⁰
/// units, `spin` alone on a core runs out of fuel in about 1.9 s on the
/// CI machine, and sooner on a faster one.)
fn runtime_without_fuel_cap(
    tweak: impl FnOnce(&mut wasmclaw::RuntimeConfig),
) -> (tempfile::TempDir, Runtime) {
    runtime_with(|c| {
        c.caps.fuel = u64::MAX;
        tweak(c);
    })
}

#[tokio::test]
async fn spin_runs_out_of_fuel() {
    let (_d, rt) = runtime();
    let spin = load(&rt, "spin").await;
    let c = with(LimitOverrides { fuel: Some(5_000_000), ..Default::default() });
    let e = rt.invoke(&bind(&rt, &spin, "acme"), &c, "{}").await.unwrap_err();
    assert!(matches!(e, Error::OutOfFuel { limit: 5_000_000 }), "{e}");
    assert_eq!(e.exit_code(), 7);
}

#[tokio::test]
async fn spin_with_ample_fuel_times_out_within_the_bound() {
    let (_d, rt) = runtime();
    let spin = load(&rt, "spin").await;
    let c = with(LimitOverrides {
        fuel: Some(u64::MAX),
        timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    let start = Instant::now();
    let e = rt.invoke(&bind(&rt, &spin, "acme"), &c, "{}").await.unwrap_err();
    let took = start.elapsed();
    assert!(matches!(e, Error::Timeout { limit_ms: 300 }), "{e}");
    assert!(took >= Duration::from_millis(300), "stopped early: {took:?}");
    assert!(took < Duration::from_secs(5), "not stopped in time: {took:?}");
}

#[tokio::test]
async fn hog_hits_the_memory_limit_and_the_host_is_unharmed() {
    let (_d, rt) = runtime();
    let hog = load(&rt, "hog").await;
    let echo = load(&rt, "echo").await;
    let c = with(LimitOverrides { memory_bytes: Some(16 << 20), ..Default::default() });
    let e = rt.invoke(&bind(&rt, &hog, "acme"), &c, "{}").await.unwrap_err();
    assert!(matches!(e, Error::MemoryLimit { limit_bytes } if limit_bytes == 16 << 20), "{e}");
    assert_eq!(call_json(&rt, &echo, "acme", "[true]").await, json!([true]));
}

#[tokio::test]
async fn deep_recursion_traps_with_stack_overflow() {
    let (_d, rt) = runtime();
    let deep = load(&rt, "deep").await;
    let e = call(&rt, &deep, "acme", "{}").await.unwrap_err();
    assert!(matches!(&e, Error::Trap { message, .. } if message == "stack overflow"), "{e}");
    let echo = load(&rt, "echo").await;
    assert_eq!(call_json(&rt, &echo, "acme", "1").await, json!(1));
}

#[tokio::test]
async fn a_guest_panic_is_a_trap_carrying_its_message() {
    let (_d, rt) = runtime();
    let panic = load(&rt, "panic").await;
    let e = call(&rt, &panic, "acme", "{}").await.unwrap_err();
    assert!(
        matches!(&e, Error::Trap { stderr, .. } if stderr.contains("panic skill: deliberate panic")),
        "{e}"
    );
    assert_eq!(e.exit_code(), 6);
}

/// Files named `wasmclaw-escape*` under `dir` but outside `tenant_root`.
/// Entries that vanish while walking (other tests' temp files) are skipped.
fn find_escapes(dir: &Path, tenant_root: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if entry.file_name().to_string_lossy().starts_with("wasmclaw-escape")
            && !path.starts_with(tenant_root)
        {
            found.push(path.display().to_string());
        }
        if meta.is_dir() {
            find_escapes(&path, tenant_root, found);
        }
    }
}

#[tokio::test]
async fn escape_finds_no_way_out_of_the_tenant_root() {
    let (dir, rt) = runtime();
    let escape = load(&rt, "escape").await;
    let acme = tenant("acme");
    let root = rt.tenant_files_dir(&acme);
    std::fs::create_dir_all(&root).unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "host secret").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../..", root.join("rel-link")).unwrap();

    let out = call_json(&rt, &escape, "acme", "{}").await;
    let attempts = out["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 17, "{out}");
    for a in attempts {
        let name = a["name"].as_str().unwrap();
        let ok = a["ok"].as_bool().unwrap();
        match name {
            "inside-write" | "inside-read" => assert!(ok, "the control failed: {a}"),
            // The guest's libc resolves an absolute path against its only
            // preopen, the tenant root: the write lands inside the root.
            "abs-write-root" => {
                if ok {
                    assert!(root.join("wasmclaw-escape-root").exists(), "{a}");
                }
            }
            _ => assert!(!ok, "attempt {name} succeeded: {a}"),
        }
    }
    // Nothing was created outside the root, anywhere we can see.
    let mut found = Vec::new();
    find_escapes(dir.path(), &root, &mut found);
    for p in ["/wasmclaw-escape-root", "/tmp/wasmclaw-escape-tmp", "/wasmclaw-escape-up"] {
        if Path::new(p).exists() {
            found.push(p.into());
        }
    }
    assert!(found.is_empty(), "files escaped the root: {found:?}");
    // The refused rename left the file where it was; the host file is intact.
    assert_eq!(std::fs::read_to_string(root.join("inside.txt")).unwrap(), "ok");
    assert_eq!(std::fs::read_to_string(outside.join("secret.txt")).unwrap(), "host secret");
}

#[tokio::test]
async fn snoop_sees_nothing_of_another_tenant() {
    let (_d, rt) = runtime();
    let notes = load(&rt, "notes").await;
    let snoop = load(&rt, "snoop").await;
    call_json(&rt, &notes, "tenant-b", r#"{"op":"add","text":"b-secret-4242"}"#).await;
    call_json(&rt, &notes, "tenant-b", r#"{"op":"export"}"#).await;

    let guesses = json!({
        "keys": ["note:00000001", "meta:next-id", "tenant-b/note:00000001",
                 "tenant-b\u{0}\u{0}note:00000001", "../tenant-b/note:00000001", "\u{0}note:00000001"],
        "prefixes": ["", "note", "tenant-b", "\u{0}", "tenant-b\u{0}"],
        "queries": ["b-secret-4242", "secret", "note"],
        "paths": ["notes.json", "../tenant-b/files/notes.json", "../../tenant-b/files/notes.json",
                  "/tenants/tenant-b/files/notes.json", "..", "../..", "/"]
    })
    .to_string();

    // Control: the same guesses, run as tenant B, do find B's data.
    let own = call_json(&rt, &snoop, "tenant-b", &guesses).await;
    assert!(own.to_string().contains("b-secret-4242"), "control found nothing: {own}");

    let stolen = call_json(&rt, &snoop, "tenant-a", &guesses).await;
    assert_eq!(stolen["found"], json!([]), "tenant A saw: {stolen}");
    assert!(stolen["errors"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn flood_stops_at_the_quota_and_other_tenants_keep_writing() {
    let (_d, rt) = runtime_with(|c| {
        c.memory_quota.max_entries = 1000;
        c.memory_quota.max_bytes = 20_000;
    });
    let flood = load(&rt, "flood").await;
    let notes = load(&rt, "notes").await;
    let out = call_json(&rt, &flood, "tenant-a", r#"{"value_size":1024}"#).await;
    assert_eq!(out["error_kind"], "limit-exceeded", "{out}");
    // Each entry is 14 key bytes + 1024 value bytes: 19 fit in 20,000.
    assert_eq!(out["written"], 19, "{out}");
    let usage = rt.db_for_tests().memory_usage(&tenant("tenant-a")).unwrap();
    assert_eq!((usage.entries, usage.bytes), (19, 19 * 1038));
    // Tenant B is unaffected; tenant A, with 278 bytes of quota left, cannot
    // add a 300-byte note.
    let id = call_json(&rt, &notes, "tenant-b", r#"{"op":"add","text":"fine"}"#).await;
    assert_eq!(id, json!({"id": "00000001"}));
    let big_note = json!({"op": "add", "text": "x".repeat(300)}).to_string();
    let e = call(&rt, &notes, "tenant-a", &big_note).await.unwrap_err();
    assert!(matches!(e, Error::Skill(wasmclaw::bindings::WitError::LimitExceeded(_))), "{e}");
}

#[tokio::test]
async fn a_trapping_tenant_does_not_stop_another() {
    let (_d, rt) = runtime_without_fuel_cap(|_| {});
    let spin = load(&rt, "spin").await;
    let deep = load(&rt, "deep").await;
    let echo = load(&rt, "echo").await;
    let slow = with(LimitOverrides {
        fuel: Some(u64::MAX),
        timeout: Some(Duration::from_millis(1500)),
        ..Default::default()
    });
    let a_spin_bound = bind(&rt, &spin, "tenant-a");
    let a_spin = rt.invoke(&a_spin_bound, &slow, "{}");
    let a_deep = call(&rt, &deep, "tenant-a", "{}");
    let b_calls = async {
        let mut outs = Vec::new();
        for i in 0..50 {
            let input = json!({"i": i}).to_string();
            outs.push(call(&rt, &echo, "tenant-b", &input).await.map(|o| o.output));
        }
        outs
    };
    let (spin_res, deep_res, b_outs) = tokio::join!(a_spin, a_deep, b_calls);
    assert!(matches!(spin_res, Err(Error::Timeout { .. })), "{spin_res:?}");
    assert!(matches!(deep_res, Err(Error::Trap { .. })), "{deep_res:?}");
    for (i, out) in b_outs.into_iter().enumerate() {
        let v: Value = serde_json::from_str(&out.expect("tenant B's call failed")).unwrap();
        assert_eq!(v, json!({"i": i}));
    }
}

/// Starts `spin` as `tenant` (ending by its 1.5 s deadline, not by fuel) and
/// returns once it holds its slots.
async fn hold_a_slot(
    rt: &Runtime,
    spin: &Arc<Skill>,
    tenant: &str,
) -> tokio::task::JoinHandle<Result<wasmclaw::Outcome, Error>> {
    let slow = with(LimitOverrides {
        fuel: Some(u64::MAX),
        timeout: Some(Duration::from_millis(1500)),
        ..Default::default()
    });
    let (rt2, bound) = (rt.clone(), bind(rt, spin, tenant));
    let holder = tokio::spawn(async move { rt2.invoke(&bound, &slow, "{}").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_at_its_concurrency_limit_gets_busy_while_others_run() {
    let (_d, rt) = runtime_without_fuel_cap(|c| {
        c.defaults.concurrency = 1;
        c.defaults.queue_wait_ms = 100;
    });
    let spin = load(&rt, "spin").await;
    let echo = load(&rt, "echo").await;
    let holder = hold_a_slot(&rt, &spin, "tenant-a").await;
    let e = call(&rt, &echo, "tenant-a", "{}").await.unwrap_err();
    assert!(matches!(&e, Error::Busy(m) if m.contains("tenant-a")), "{e}");
    assert_eq!(e.exit_code(), 11);
    assert_eq!(call_json(&rt, &echo, "tenant-b", "2").await, json!(2));
    let held = holder.await.unwrap();
    assert!(matches!(held, Err(Error::Timeout { .. })), "{held:?}");
    // Once the slot is free, tenant A runs again.
    assert_eq!(call_json(&rt, &echo, "tenant-a", "3").await, json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_gateway_answers_busy_to_every_tenant() {
    let (_d, rt) = runtime_without_fuel_cap(|c| {
        c.pool.max_instances = 1;
        c.defaults.queue_wait_ms = 100;
    });
    let spin = load(&rt, "spin").await;
    let echo = load(&rt, "echo").await;
    let holder = hold_a_slot(&rt, &spin, "tenant-a").await;
    // Tenant B is under its own limit, but the one instance slot is taken.
    let e = call(&rt, &echo, "tenant-b", "{}").await.unwrap_err();
    assert!(matches!(&e, Error::Busy(m) if m.contains("capacity")), "{e}");
    let held = holder.await.unwrap();
    assert!(matches!(held, Err(Error::Timeout { .. })), "{held:?}");
    assert_eq!(call_json(&rt, &echo, "tenant-b", "4").await, json!(4));
}
