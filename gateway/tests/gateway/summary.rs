//! `GET …/summary`: what a tenant holds and its use of each quota (the
//! dashboard's tenant overview), and `wasmclaw tenant summary`.

use crate::harness::{ADMIN_KEY, Gateway, install, output, tenant};
use serde_json::json;

const CONFIG: &str = "[memory_quota]\nmax_bytes = 1048576\nmax_entries = 500\n\n\
                      [quotas.default]\ntokens_per_month = 5000\ncost_per_month = 2.5\n";

/// The size of the `notes.json` that `notes` exported for `tenant`, found
/// in the gateway's data directory.
fn exported(gw: &Gateway, tenant: &str) -> u64 {
    fn find(dir: &std::path::Path, tenant: &str, found: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                find(&path, tenant, found);
            } else if e.file_name() == "notes.json" && path.to_string_lossy().contains(tenant) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    find(gw.data_dir(), tenant, &mut found);
    assert_eq!(found.len(), 1, "one export of {tenant}: {found:?}");
    std::fs::metadata(&found[0]).unwrap().len()
}

#[test]
fn members_read_their_tenants_summary_and_no_one_elses() {
    let gw = Gateway::start_with_config(CONFIG);
    let a = tenant(&gw, "sum-a");
    let b = tenant(&gw, "sum-b");
    install(&gw, &a.id, ADMIN_KEY, "notes", false);
    output(&gw, &a.member, "notes", &json!({"op": "add", "text": "twelve bytes"}));

    let v = gw.get("/v1/summary", Some(&a.member)).expect(200);
    assert_eq!((v["tenant"].as_str(), v["status"].as_str()), (Some("sum-a"), Some("active")), "{v}");
    assert_eq!(
        v["counts"],
        json!({"skills": 1, "skills_disabled": 0, "agents": 0, "cron_jobs": 0, "channels": 0})
    );
    // The memory the note takes, against the configured quota.
    let entries = gw.get("/v1/memory", Some(&a.member)).expect(200)["entries"].as_array().unwrap().clone();
    let held: u64 = entries
        .iter()
        .map(|e| (e["key"].as_str().unwrap().len() + e["value"].as_str().unwrap().len()) as u64)
        .sum();
    assert_eq!(
        v["memory"],
        json!({"bytes": held, "entries": entries.len(), "max_bytes": 1048576, "max_entries": 500})
    );
    // Files: not counted until a call changes them (a note is memory only).
    assert_eq!(
        v["files"],
        json!({"bytes": null, "entries": null, "max_bytes": 1u64 << 30, "max_entries": 100_000}),
        "{v}"
    );
    assert_eq!(
        v["agents_this_month"],
        json!({"tokens": 0, "cost": 0.0, "tokens_quota": 5000, "cost_quota": 2.5})
    );
    // The operator reads the same by path; B's summary is B's own.
    assert_eq!(gw.get(&a.path("/summary"), Some(ADMIN_KEY)).expect(200), v);

    // An export writes one file: counted from then on, exactly; B's files
    // are still not counted.
    output(&gw, &a.member, "notes", &json!({"op": "export"}));
    let written = exported(&gw, "sum-a");
    let v = gw.get("/v1/summary", Some(&a.member)).expect(200);
    assert_eq!(
        (v["files"]["bytes"].as_u64(), v["files"]["entries"].as_u64()),
        (Some(written), Some(1)),
        "{v}"
    );
    let theirs = gw.get("/v1/summary", Some(&b.member)).expect(200);
    assert_eq!(
        (theirs["files"]["bytes"].clone(), theirs["files"]["entries"].clone()),
        (json!(null), json!(null))
    );
    assert_eq!(gw.get("/v1/summary", Some(&b.member)).expect(200)["counts"]["skills"], 0);

    // Denied: a guest, and A's tokens on B's path (404, as no tenant).
    gw.get("/v1/summary", Some(&a.guest)).expect_error(403, "forbidden");
    for cred in [&a.admin, &a.member, &a.guest] {
        gw.get(&b.path("/summary"), Some(cred)).expect_error(404, "not-found");
    }
    gw.get("/v1/tenants/no-such/summary", Some(ADMIN_KEY)).expect_error(404, "not-found");

    // Suspended shows as such to the operator.
    gw.post(&b.path("/suspend"), Some(ADMIN_KEY), json!({})).expect(200);
    assert_eq!(gw.get(&b.path("/summary"), Some(ADMIN_KEY)).expect(200)["status"], "suspended");

    // The CLI: key = value lines, by the admin key or the tenant's token.
    let out = gw.cli(&["tenant", "summary", "sum-a"], &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)], None);
    let text = out.ok();
    assert!(text.lines().any(|l| l == "memory.max_entries = 500"), "{text}");
    assert!(text.lines().any(|l| l == "counts.skills = 1"), "{text}");
    let own = gw.cli(&["tenant", "summary", "--json"], &[("WASMCLAW_TOKEN", &a.member)], None);
    assert_eq!(own.json()["tenant"], "sum-a");
}
