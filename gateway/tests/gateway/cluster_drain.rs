//! A replica drained (SIGTERM) while the others forward its tenants'
//! requests to it (issue 18): the calls forwarded before the signal run to
//! the end and are answered through the replica they came in by; a
//! request forwarded during the drain is refused with a retryable 503 and
//! does not run; once it exits (0), its tenants are served by another
//! replica at once, without waiting out a TTL. Run from `gateway_pg` only.

use crate::cluster_leases::{index_of, owner, three};
use crate::harness::{ADMIN_KEY, install, invoke, tenant};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_draining_owner_finishes_the_calls_forwarded_to_it_then_its_tenants_move_at_once() {
    let mut gws = three();
    let t = tenant(&gws[0], "drained");
    install(&gws[0], "drained", ADMIN_KEY, "sleeper", false);
    let o = index_of(&owner(&gws[0], "drained").expect("a lease"));
    let others = [(o + 1) % 3, (o + 2) % 3];
    std::thread::scope(|s| {
        let calls: Vec<_> = others
            .iter()
            .map(|&i| {
                let (gw, token) = (&gws[i], t.member.clone());
                s.spawn(move || invoke(gw, &token, "sleeper", &json!({ "secs": 2 })))
            })
            .collect();
        // Both running at the owner (forwarded there), then the signal.
        std::thread::sleep(Duration::from_millis(700));
        gws[o].signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        // A new request during the drain: refused, retryable, not run.
        let during = invoke(&gws[others[0]], &t.member, "sleeper", &json!({ "secs": 0 }));
        assert_eq!(during.status, 503, "{during:?}");
        let code = crate::harness::error_shape(&during.text).unwrap().0;
        assert!(matches!(code.as_str(), "draining" | "tenant-unavailable"), "{during:?}");
        for call in calls {
            let r = call.join().unwrap();
            assert_eq!(r.expect(200)["output"], json!({ "slept": 2 }), "a forwarded call ran to its end");
        }
    });
    let status = gws[o].wait_exit(Duration::from_secs(40)).expect("the drained replica exits");
    assert_eq!(status.code(), Some(0), "a drain exits 0");
    let gone = Instant::now();
    let r = invoke(&gws[others[1]], &t.member, "sleeper", &json!({ "secs": 0 }));
    assert_eq!(r.expect(200)["output"], json!({ "slept": 0 }));
    // TTL 1.5 s: a lease waited out would take longer than this.
    assert!(
        gone.elapsed() < Duration::from_millis(1000),
        "the lease was not freed at once: {:?}",
        gone.elapsed()
    );
    let new_owner = owner(&gws[others[1]], "drained").expect("taken again");
    assert_ne!(index_of(&new_owner), o);
}
