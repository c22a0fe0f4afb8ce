//! The rest of the hostile corpus (the first twelve are in `hostile.rs`,
//! `http.rs`, `messaging.rs`, `cron.rs` and `packages.rs`): for each, what
//! the attacker gets, what its tenant sees, that another tenant is
//! unaffected, and what the audit log says.

use crate::server;
use crate::{bind, call, call_json, load, load_with_manifest, set_policy};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use wasmclaw::{Call, Error, LimitOverrides, Runtime};
use wasmclaw_tests::{runtime, runtime_with, tenant};

fn audit_of(rt: &Runtime, tenant: &str, action: &str) -> Vec<Value> {
    let all = rt.audit().read_all().unwrap();
    all.into_iter().filter(|e| e["tenant"] == tenant && e["action"] == action).collect()
}

fn pound_manifest() -> &'static str {
    "name = \"pound\"\nversion = \"0.1.0\"\n[permissions]\nsecrets = [\"API_KEY\"]\n"
}

#[tokio::test]
async fn pound_runs_out_of_fuel_in_its_host_call_loop() {
    let (_d, rt) = runtime();
    let pound = load_with_manifest(&rt, "pound", pound_manifest()).await;
    let c = Call {
        overrides: LimitOverrides { fuel: Some(20_000_000), ..Default::default() },
        ..Call::default()
    };
    for op in ["memory-get", "memory-list", "log", "names"] {
        let input = json!({"op": op}).to_string();
        let e = rt.invoke(&bind(&rt, &pound, "tenant-a"), &c, &input).await.unwrap_err();
        assert!(matches!(e, Error::OutOfFuel { limit: 20_000_000 }), "{op}: {e}");
    }
    // A bounded loop shows the host calls themselves work (the control).
    let out = call_json(&rt, &pound, "tenant-a", r#"{"op":"memory-get","n":1000}"#).await;
    assert_eq!(out, json!({"calls": 1000, "errors": 0}), "a missing key is `none`, not an error");
}

#[tokio::test]
async fn pound_denied_in_a_loop_leaves_a_bounded_audit_trail() {
    let (_d, rt) = runtime();
    // No policy grants API_KEY to tenant A: every `names` is denied.
    let pound = load_with_manifest(&rt, "pound", pound_manifest()).await;
    set_policy(&rt, "tenant-a", "");
    let out = call_json(&rt, &pound, "tenant-a", r#"{"op":"names","n":100000}"#).await;
    assert_eq!(out, json!({"calls": 100000, "errors": 0}), "names lists what is granted: nothing");
    let denied = audit_of(&rt, "tenant-a", "capability.denied");
    assert!(denied.len() <= 32, "one call wrote {} audit entries", denied.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pound_does_not_stop_another_tenant() {
    let (_d, rt) = runtime();
    let pound = load_with_manifest(&rt, "pound", pound_manifest()).await;
    let echo = load(&rt, "echo").await;
    let slow = Call {
        overrides: LimitOverrides { timeout: Some(Duration::from_millis(1500)), ..Default::default() },
        ..Call::default()
    };
    let a_bound = bind(&rt, &pound, "tenant-a");
    let a = rt.invoke(&a_bound, &slow, r#"{"op":"memory-get"}"#);
    let b = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut outs = Vec::new();
        for i in 0..50 {
            outs.push(call_json(&rt, &echo, "tenant-b", &json!({"i": i}).to_string()).await);
        }
        outs
    };
    let (a, b) = tokio::join!(a, b);
    assert!(matches!(a, Err(Error::OutOfFuel { .. } | Error::Timeout { .. })), "{a:?}");
    for (i, out) in b.into_iter().enumerate() {
        assert_eq!(out, json!({"i": i}));
    }
}

/// `search-hog` in `tenant`: fills `mb` MiB, then searches `n` times.
async fn search_hog(
    rt: &Runtime,
    hog: &std::sync::Arc<wasmclaw::Skill>,
    tenant: &str,
    mb: u32,
    n: u64,
) -> (Value, u64) {
    call_json(rt, hog, tenant, &json!({"op": "fill", "mb": mb}).to_string()).await;
    let out = call(rt, hog, tenant, &json!({"op": "search", "n": n}).to_string()).await.unwrap();
    (serde_json::from_str(&out.output).unwrap(), out.usage.fuel)
}

#[tokio::test]
async fn search_hog_pays_fuel_for_every_byte_it_scans() {
    let (_d, rt) = runtime();
    let hog = load(&rt, "search-hog").await;
    // Allowed: a small scope is searched and the match found.
    let (small, small_fuel) = search_hog(&rt, &hog, "tenant-a", 1, 10).await;
    assert_eq!(small, json!({"calls": 10, "errors": 0, "found": 10}));
    let (mid, mid_fuel) = search_hog(&rt, &hog, "tenant-b", 8, 10).await;
    assert_eq!(mid, json!({"calls": 10, "errors": 0, "found": 10}));
    // Ten searches of 1 MiB and of 8 MiB: the fuel follows the bytes read.
    assert!(small_fuel >= 10 << 20, "{small_fuel}");
    assert!(mid_fuel >= 80 << 20 && mid_fuel > 6 * small_fuel, "{small_fuel} {mid_fuel}");
}

#[tokio::test]
async fn search_hog_is_bounded_per_search_and_runs_out_of_fuel() {
    let (_d, rt) = runtime();
    let hog = load(&rt, "search-hog").await;
    // Denied: 40 MiB is more than one search reads (16 MiB): each is
    // `limit-exceeded`, charged for the 16 MiB it read and no more.
    let (big, fuel) = search_hog(&rt, &hog, "tenant-a", 40, 5).await;
    assert_eq!(big, json!({"calls": 5, "errors": 5, "found": 0, "error": "limit-exceeded"}));
    assert!((5 * (15 << 20)..5 * (17 << 20) + 50_000_000).contains(&fuel), "{fuel}");
    // Looping, it runs out of fuel after about fuel / 16 Mi searches.
    let c = Call {
        overrides: LimitOverrides { fuel: Some(200_000_000), ..Default::default() },
        ..Call::default()
    };
    let e = rt.invoke(&bind(&rt, &hog, "tenant-a"), &c, r#"{"op":"search"}"#).await.unwrap_err();
    assert!(matches!(e, Error::OutOfFuel { limit: 200_000_000 }), "{e}");
}

fn quota_runtime(max_bytes: u64, max_files: u64) -> (tempfile::TempDir, Runtime) {
    runtime_with(|c| {
        c.files_quota = wasmclaw::config::FilesQuota { max_bytes, max_files, ..Default::default() }
    })
}

#[tokio::test]
async fn fsbomb_huge_file_stops_at_the_disk_quota() {
    let (_d, rt) = quota_runtime(8 << 20, 1000);
    let fsbomb = load(&rt, "fsbomb").await;
    let out = call_json(&rt, &fsbomb, "tenant-a", r#"{"mode":"huge"}"#).await;
    assert_eq!(out["bytes"], 8 << 20, "{out}");
    // The refusal is the WASI `quota` error, but the guest's libc reports
    // any failed stream write as EIO.
    assert_eq!(out["error"], "I/O error (os error 29)", "{out}");
    let on_disk = std::fs::metadata(rt.tenant_files_dir(&tenant("tenant-a")).join("huge.bin")).unwrap().len();
    assert_eq!(on_disk, 8 << 20);
    // A second call gets no further.
    let again = call_json(&rt, &fsbomb, "tenant-a", r#"{"mode":"huge"}"#).await;
    assert_eq!(again["bytes"], 0, "{again}");
    // Tenant B has its own quota.
    let b = call_json(&rt, &fsbomb, "tenant-b", r#"{"mode":"huge","bytes":4194304}"#).await;
    assert_eq!((b["bytes"].as_u64(), b["error"].as_str()), (Some(4 << 20), Some("")), "{b}");
    let noted = audit_of(&rt, "tenant-a", "files.quota");
    assert_eq!(noted.len(), 2, "one note per refused call: {noted:?}");
    assert_eq!(noted[0]["outcome"], "limit-exceeded");
    assert!(audit_of(&rt, "tenant-b", "files.quota").is_empty());
}

#[tokio::test]
async fn fsbomb_many_files_stop_at_the_entry_quota() {
    let (_d, rt) = quota_runtime(1 << 30, 50);
    let fsbomb = load(&rt, "fsbomb").await;
    let out = call_json(&rt, &fsbomb, "tenant-a", r#"{"mode":"many"}"#).await;
    // The directory `many` is one of the 50 entries.
    assert_eq!(out["files"], 49, "{out}");
    assert!(out["error"].as_str().unwrap().to_lowercase().contains("quota"), "{out}");
    let dir = rt.tenant_files_dir(&tenant("tenant-a")).join("many");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 49);
    let b = call_json(&rt, &fsbomb, "tenant-b", r#"{"mode":"many","files":10}"#).await;
    assert_eq!((b["files"].as_u64(), b["error"].as_str()), (Some(10), Some("")), "{b}");
}

#[tokio::test]
async fn fsbomb_links_reach_nothing_outside_the_root() {
    let (dir, rt) = quota_runtime(1 << 30, 1000);
    let fsbomb = load(&rt, "fsbomb").await;
    let out = call_json(&rt, &fsbomb, "tenant-a", r#"{"mode":"links"}"#).await;
    let attempts = out["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 6, "{out}");
    for a in attempts {
        let ok = a["ok"].as_bool().unwrap();
        match a["name"].as_str().unwrap() {
            "hard-own" => assert!(ok, "the control failed: {a}"),
            // An absolute path resolves against the only preopen, the root:
            // there is no /etc/passwd in it.
            _ => assert!(!ok, "{a}"),
        }
    }
    let root = rt.tenant_files_dir(&tenant("tenant-a"));
    assert!(!root.parent().unwrap().join("escaped-link").exists());
    assert!(!dir.path().join("escaped-link").exists());
    assert_eq!(std::fs::read_to_string(root.join("mine-link.txt")).unwrap(), "mine");
}

#[tokio::test]
async fn bigkv_gets_invalid_for_giant_keys_and_values_and_scans_only_its_own() {
    let (_d, rt) = runtime();
    let notes = load(&rt, "notes").await;
    let bigkv = load(&rt, "bigkv").await;
    call_json(&rt, &notes, "tenant-b", r#"{"op":"add","text":"b-only"}"#).await;
    let input = json!({
        "key_bytes": 100_000,
        "value_bytes": 2 << 20,
        "prefixes": ["", "note", "tenant-b", "tenant-b/", "\u{0}", "../tenant-b/"]
    })
    .to_string();
    let out = call_json(&rt, &bigkv, "tenant-a", &input).await;
    assert_eq!(out["giant_key"], "invalid", "{out}");
    assert_eq!(out["giant_value"], "invalid", "{out}");
    assert_eq!(out["listed"], json!([]), "tenant A was shown: {out}");
    assert_eq!(out["list_errors"], json!([]), "{out}");
    assert_eq!(rt.db_for_tests().memory_usage(&tenant("tenant-a")).unwrap().entries, 0);
    // Control: the same scan as B shows B's notes.
    let own = call_json(&rt, &bigkv, "tenant-b", &input).await;
    assert!(
        own["listed"].as_array().unwrap().iter().any(|k| k.as_str().unwrap().starts_with("note:")),
        "{own}"
    );
}

#[tokio::test]
async fn logflood_is_capped_truncated_and_stripped() {
    let (_d, rt) = runtime();
    let logflood = load(&rt, "logflood").await;
    let out = call(&rt, &logflood, "tenant-a", r#"{"lines":100000,"len":10000}"#).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out.output).unwrap(), json!({"written": 100000}));
    assert_eq!(out.logs.len(), 100, "the default max_log_lines");
    assert_eq!((out.usage.log_lines, out.usage.log_dropped), (100, 99_900));
    for line in &out.logs {
        assert!(line.message.len() <= wasmclaw::caps::log::MAX_MESSAGE_BYTES + 4, "{}", line.message.len());
        assert!(!line.message.contains(['\n', '\r', '\u{1b}']), "{:?}", &line.message[..80]);
    }
}

#[tokio::test]
async fn stdflood_keeps_only_max_stdio_bytes() {
    let (_d, rt) = runtime();
    let stdflood = load(&rt, "stdflood").await;
    let out = call(&rt, &stdflood, "tenant-a", r#"{"bytes":10485760}"#).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out.output).unwrap(), json!({"written": 10485760}));
    assert_eq!(out.stdout.len(), 64 * 1024, "the default max_stdio_bytes");
}

#[tokio::test]
async fn bigout_past_max_output_bytes_is_refused_whole() {
    let (_d, rt) = runtime();
    let bigout = load(&rt, "bigout").await;
    let e = call(&rt, &bigout, "tenant-a", r#"{"bytes":4194304}"#).await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidOutput(m) if m == "the skill returned 4194304 bytes, the most is 1048576"),
        "{e}"
    );
    // Control: just under the cap passes.
    let out = call(&rt, &bigout, "tenant-a", r#"{"bytes":1048576}"#).await.unwrap();
    assert_eq!(out.output.len(), 1 << 20);
}

#[tokio::test]
async fn sleeper_is_ended_by_its_deadline_and_gives_its_slot_back() {
    let (_d, rt) = runtime_with(|c| c.defaults.concurrency = 1);
    let sleeper = load(&rt, "sleeper").await;
    let echo = load(&rt, "echo").await;
    let c = Call {
        overrides: LimitOverrides { timeout: Some(Duration::from_millis(500)), ..Default::default() },
        ..Call::default()
    };
    let start = Instant::now();
    let e = rt.invoke(&bind(&rt, &sleeper, "tenant-a"), &c, r#"{"secs":3600}"#).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { limit_ms: 500 }), "{e}");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    // Its only concurrency slot is free again.
    assert_eq!(call_json(&rt, &echo, "tenant-a", "5").await, json!(5));
}

#[tokio::test]
async fn secret_peek_never_gets_another_tenants_secret() {
    let srv = server::start().await;
    let (_d, rt) = runtime();
    let manifest = format!(
        "name = \"secret-peek\"\nversion = \"0.1.0\"\n[permissions]\nhttp = [\"{}\"]\nsecrets = [\"API_KEY\"]\n",
        srv.origin()
    );
    let peek = load_with_manifest(&rt, "secret-peek", &manifest).await;
    let policy = format!("[[http]]\norigin = \"{}\"\nsecrets = [\"API_KEY\"]\n", srv.origin());
    set_policy(&rt, "tenant-a", &policy);
    set_policy(&rt, "tenant-b", &policy);
    let b_secret = "sk-tenant-b-0123456789";
    rt.put_secret("test", &tenant("tenant-b"), "API_KEY", b_secret.as_bytes()).unwrap();
    let names = ["API_KEY", "../tenant-b/API_KEY", "tenant-b/API_KEY", "tenant-b:API_KEY", "OTHER"];
    let input = json!({"echo": srv.url("/echo"), "names": names}).to_string();

    let out = call(&rt, &peek, "tenant-a", &input).await.unwrap();
    assert!(!out.output.contains(b_secret), "{}", out.output);
    let v: Value = serde_json::from_str(&out.output).unwrap();
    assert_eq!(v["granted"], json!(["API_KEY"]));
    let outcomes: Vec<&str> =
        v["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    // A name that is not a secret name is `invalid`; a name not granted is
    // `denied`; the granted name, unset for A, is `not-found`.
    assert_eq!(outcomes, ["not-found", "invalid", "invalid", "invalid", "denied"], "{v}");
    assert!(!audit_of(&rt, "tenant-a", "capability.denied").is_empty());

    // Control: B's own call sends B's value, and it comes back redacted.
    let own = call_json(&rt, &peek, "tenant-b", &input).await;
    assert_eq!(own["results"][0]["outcome"], "sent", "{own}");
    assert_eq!(own["results"][0]["reflected"], "[redacted:API_KEY]", "{own}");
}

/// The review's disk attacks through a real skill: a 1 TiB sparse file, a
/// sparse stride, truncate-and-rewrite, and 12,000 nested directories, each
/// in its own tenant on a 1 MiB quota; then the operator backs up and
/// restores every tenant, and the gateway serves on with their trees whole.
#[tokio::test]
async fn fsbomb_sparse_stride_truncate_and_deep_stop_at_the_quota_and_survive_a_backup_and_restore() {
    let (_d, rt) = runtime_with(|c| {
        c.files_quota = wasmclaw::config::FilesQuota { max_bytes: 1 << 20, max_files: 15_000, max_depth: 64 }
    });
    for t in ["t-sparse", "t-stride", "t-trunc", "t-deep"] {
        rt.create_tenant("operator", &tenant(t)).unwrap();
    }
    let fsbomb = load(&rt, "fsbomb").await;
    let files = |t: &str| rt.tenant_files_dir(&tenant(t));

    let sparse = call_json(&rt, &fsbomb, "t-sparse", r#"{"mode":"sparse"}"#).await;
    assert_eq!(sparse["bytes"], 0, "1 byte at 2^40 is a 1 TiB file: refused {sparse}");
    assert_ne!(sparse["error"], "", "{sparse}");
    assert_eq!(std::fs::metadata(files("t-sparse").join("sparse.bin")).unwrap().len(), 0);

    let stride = call_json(&rt, &fsbomb, "t-stride", r#"{"mode":"stride","bytes":100000000}"#).await;
    let len = std::fs::metadata(files("t-stride").join("stride.bin")).unwrap();
    assert!(len.len() <= 1 << 20, "the holes count: {stride}");
    assert!(std::os::unix::fs::MetadataExt::blocks(&len) * 512 <= 2 << 20, "real disk stays near the quota");
    assert_ne!(stride["error"], "", "{stride}");

    let trunc = call_json(&rt, &fsbomb, "t-trunc", r#"{"mode":"truncate","bytes":600000,"files":20}"#).await;
    assert_eq!((trunc["bytes"].as_u64(), trunc["error"].as_str()), (Some(12_000_000), Some("")), "{trunc}");
    // Each truncate gave back what its write took, never more: the room is
    // exactly the quota again.
    let huge = call_json(&rt, &fsbomb, "t-trunc", r#"{"mode":"huge"}"#).await;
    assert_eq!(huge["bytes"], 1 << 20, "{huge}");

    let deep = call_json(&rt, &fsbomb, "t-deep", r#"{"mode":"deep","files":12000}"#).await;
    assert_eq!(deep["files"], 64, "directories nest at most max_depth levels: {deep}");
    assert_ne!(deep["error"], "", "{deep}");

    let before: Vec<_> = ["t-sparse", "t-stride", "t-trunc", "t-deep"]
        .iter()
        .map(|t| wasmclaw::disk_quota::measure(&files(t)))
        .collect();
    let backup = rt.backup("operator", None).await.unwrap();
    let restored = rt.restore("operator", backup, None).await.unwrap();
    assert_eq!(restored.restored.len(), 4, "{restored:?}");
    let after: Vec<_> = ["t-sparse", "t-stride", "t-trunc", "t-deep"]
        .iter()
        .map(|t| wasmclaw::disk_quota::measure(&files(t)))
        .collect();
    assert_eq!(before, after, "every tree came back whole");
    assert!(after.iter().all(|m| m.complete));
    let again = call_json(&rt, &fsbomb, "t-deep", r#"{"mode":"many","files":3}"#).await;
    assert_eq!((again["files"].as_u64(), again["error"].as_str()), (Some(3), Some("")), "{again}");
}

#[tokio::test]
async fn a_policy_past_the_tenant_memory_budget_is_refused() {
    let (_d, rt) = runtime();
    let parse = |p: &str| wasmclaw::policy::TenantPolicy::parse(p).unwrap();
    let t = tenant("tenant-a");
    // Allowed: 2 × 128 MiB and the defaults (4 × 64 MiB) fit in 256 MiB.
    rt.set_policy("test", &t, &parse("[limits]\nconcurrency = 2\nmemory_bytes = 134217728\n")).unwrap();
    rt.set_policy("test", &t, &parse("")).unwrap();
    // Denied: 64 × 256 MiB = 16 GiB from one tenant, or past the caps.
    for p in [
        "[limits]\nconcurrency = 64\nmemory_bytes = 268435456\n",
        "[limits]\nconcurrency = 5\n",
        "[limits]\nconcurrency = 65\nmemory_bytes = 1048576\n",
    ] {
        let e = rt.set_policy("test", &t, &parse(p)).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidInput(m) if m.contains("the operator allows a tenant")),
            "{p}: {e}"
        );
    }
    // The refused policies changed nothing: the last accepted one holds.
    assert_eq!(rt.policy(&t).unwrap().limits.concurrency, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_the_tenant_memory_budget_wait_then_are_busy() {
    let (_d, rt) = runtime_with(|c| {
        c.caps.tenant_memory_bytes = 128 << 20;
        c.defaults.concurrency = 4;
        c.defaults.queue_wait_ms = 200;
    });
    let sleeper = load(&rt, "sleeper").await;
    let echo = load(&rt, "echo").await;
    // Four calls of 64 MiB each within a concurrency of 4: two fit in the
    // 128 MiB budget and run; the other two wait, then are busy.
    let a = bind(&rt, &sleeper, "tenant-a");
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let (rt, a) = (rt.clone(), a.clone());
            tokio::spawn(async move { rt.invoke(&a, &Call::default(), r#"{"secs":1}"#).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let b = call_json(&rt, &echo, "tenant-b", r#"{"b":1}"#).await;
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let busy: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok, 2, "{results:?}");
    assert_eq!(busy.len(), 2, "{results:?}");
    for e in busy {
        assert!(matches!(e, Error::Busy(m) if m.contains("memory budget")), "{e}");
    }
    // Tenant B's budget is its own.
    assert_eq!(b, json!({"b": 1}));
}

/// Every hostile skill of this file's corpus (and `hostile.rs`'s that need
/// no setup) acts in a tenant of its own
/// (each its worst, as the tests above drive it); then the operator backs
/// up and restores every tenant at once: the restore brings each tree and
/// each tenant's data back, and every tenant is served on.
#[tokio::test]
async fn the_gateway_survives_the_corpus_under_a_backup_and_restore_of_all_tenants() {
    let (_d, rt) = runtime_with(|c| {
        c.files_quota = wasmclaw::config::FilesQuota { max_bytes: 8 << 20, max_files: 2000, max_depth: 64 }
    });
    let acts: &[(&str, &str)] = &[
        ("fsbomb", r#"{"mode":"huge"}"#),
        ("fsbomb", r#"{"mode":"many"}"#),
        ("fsbomb", r#"{"mode":"links"}"#),
        ("fsbomb", r#"{"mode":"sparse"}"#),
        ("fsbomb", r#"{"mode":"stride","bytes":100000000}"#),
        ("fsbomb", r#"{"mode":"truncate","bytes":600000,"files":5}"#),
        ("fsbomb", r#"{"mode":"deep","files":12000}"#),
        ("pound", r#"{"op":"names","n":1000}"#),
        ("logflood", r#"{"lines":1000,"len":10000}"#),
        ("stdflood", r#"{"bytes":1048576}"#),
        ("bigout", r#"{"bytes":4194304}"#),
        ("search-hog", r#"{"op":"fill","mb":2}"#),
        ("escape", "{}"),
        ("snoop", "{}"),
        ("flood", "{}"),
        ("panic", "{}"),
        ("deep", "{}"),
        ("hog", "{}"),
        ("spin", "{}"),
        ("notes", r#"{"op":"add","text":"kept across the restore"}"#),
    ];
    let names: Vec<String> = (0..acts.len()).map(|i| format!("c{i}")).collect();
    for t in &names {
        rt.create_tenant("operator", &tenant(t)).unwrap();
    }
    for ((skill, input), t) in acts.iter().zip(&names) {
        let s = load(&rt, skill).await;
        // Outcomes are the tests above; here only what follows matters.
        let _ = call(&rt, &s, t, input).await;
    }
    let files = |t: &str| rt.tenant_files_dir(&tenant(t));
    let before: Vec<_> = names.iter().map(|t| wasmclaw::disk_quota::measure(&files(t))).collect();
    let backup = rt.backup("operator", None).await.unwrap();
    let restored = rt.restore("operator", backup, None).await.unwrap();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(restored.restored, sorted, "{restored:?}");
    let after: Vec<_> = names.iter().map(|t| wasmclaw::disk_quota::measure(&files(t))).collect();
    assert_eq!(before, after, "every tree came back whole");
    let notes = load(&rt, "notes").await;
    let list = call_json(&rt, &notes, names.last().unwrap(), r#"{"op":"list"}"#).await.to_string();
    assert!(list.contains("kept across the restore"), "{list}");
    let echo = load(&rt, "echo").await;
    for t in &names {
        assert_eq!(call_json(&rt, &echo, t, "7").await, json!(7), "tenant {t} is served on");
    }
}
