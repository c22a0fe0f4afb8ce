//! Restore in a cluster (issue 18): a replica restores only while it is
//! the one live replica — another may own a restored tenant and remember
//! it (skills, disk count, caches) — so with another live it is refused
//! (409 `conflict`, naming it; nothing changed), and alone it restores,
//! and the restored state is what every replica serves once they are
//! back. Run from `gateway_pg` only.

use crate::cluster_leases::{CONFIG, MASTER_KEY};
use crate::harness::{ADMIN_KEY, Body, Gateway, tenant};

const BACKUP_TYPE: &str = "application/vnd.wasmclaw.backup";

fn replica(node: &str, store: Option<&str>) -> Gateway {
    let mut args = vec!["--node-id", node];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    Gateway::start_with_env(Some(CONFIG), &args, &[("WASMCLAW_MASTER_KEY", MASTER_KEY)])
}

/// The tenant's secret names, as `gw` lists them.
fn secrets(gw: &Gateway) -> Vec<String> {
    let v = gw.get("/v1/tenants/restored/secrets", Some(ADMIN_KEY)).expect(200);
    v["secrets"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn a_restore_runs_only_on_a_replica_alone_and_every_replica_then_serves_what_it_restored() {
    let r1 = replica("r1", None);
    let url = r1.store_url().unwrap().to_string();
    let mut r2 = replica("r2", Some(&url));
    // Owned by r2, which will be stopped: r1 restores a tenant it never held.
    tenant(&r2, "restored");
    let body = Body::Raw("text/plain", b"kept-value".to_vec());
    r2.req("PUT", "/v1/tenants/restored/secrets/KEPT", Some(ADMIN_KEY), body).expect(204);
    let backup = r1.get("/v1/backup?tenant=restored", Some(ADMIN_KEY));
    assert_eq!(backup.status, 200, "{}", backup.text);
    // Another put through the other replica, after the backup.
    let body = Body::Raw("text/plain", b"later-value".to_vec());
    r1.req("PUT", "/v1/tenants/restored/secrets/LATER", Some(ADMIN_KEY), body).expect(204);
    assert_eq!(secrets(&r1), ["KEPT", "LATER"]);
    let restore = |gw: &Gateway| {
        let body = Body::Raw(BACKUP_TYPE, backup.bytes.clone());
        gw.req("POST", "/v1/restore?tenant=restored", Some(ADMIN_KEY), body)
    };
    let refused = restore(&r1).expect_error(409, "conflict");
    assert!(refused.contains("(r2)"), "the other live replica is named: {refused}");
    assert_eq!(secrets(&r2), ["KEPT", "LATER"], "a refused restore changed nothing");
    // Alone, it restores.
    r2.stop();
    let v = restore(&r1).expect(200);
    assert_eq!(v["restored"], serde_json::json!(["restored"]), "{v}");
    assert_eq!(secrets(&r1), ["KEPT"], "the secrets of the backup, no more");
    // The other replica, started again, serves the restored state.
    r2.restart_stopped();
    assert_eq!(secrets(&r2), ["KEPT"], "through the other replica too");
    let events = crate::harness::audit_events(&r1, "restored");
    let refusal = "refused: a restore runs on one replica alone: stop the other live replicas first (r2)";
    assert!(
        crate::harness::has_event(&events, "backup.restore", Some(refusal)),
        "the refusal is audited as {refusal:?}: {events:?}"
    );
}
