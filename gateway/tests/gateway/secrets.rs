//! Secret values are write-only for every reader: what skills wrote (memory
//! entries, cron inputs) comes back through the API scrubbed of the
//! tenant's secrets, for members, admins and the operator alike.

use crate::harness::{ADMIN_KEY, Body, install, output, shared, tenant};
use serde_json::json;

const SECRET: &str = "sk-launder-0123456789abcdef";

#[test]
fn memory_and_cron_inputs_come_back_scrubbed_for_every_role() {
    let gw = shared();
    let a = tenant(gw, "sec-a");
    let b = tenant(gw, "sec-b");
    let policy = "[cron]\nmax_jobs = 10\nmin_interval_secs = 60\n";
    for t in [&a, &b] {
        install(gw, &t.id, ADMIN_KEY, "notes", false);
        install(gw, &t.id, ADMIN_KEY, "reminder", false);
        let r =
            gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", policy.into()));
        assert!(matches!(r.status, 200 | 204), "PUT policy: {} {}", r.status, r.text);
    }
    gw.req("PUT", &a.path("/secrets/API_KEY"), Some(&a.admin), Body::Raw("text/plain", SECRET.into()))
        .expect(204);
    // As if the skills had got the value reflected by an origin and kept it.
    for t in [&a, &b] {
        output(gw, &t.member, "notes", &json!({"op": "add", "text": format!("key={SECRET}")}));
        output(gw, &t.member, "reminder", &json!({"op": "add", "text": SECRET, "every_seconds": 3600}));
    }

    for (who, cred, prefix) in [
        ("member", a.member.as_str(), "/v1".to_string()),
        ("admin", a.admin.as_str(), "/v1".to_string()),
        ("operator", ADMIN_KEY, a.path("")),
    ] {
        let memory = gw.get(&format!("{prefix}/memory"), Some(cred)).expect(200);
        let text = memory.to_string();
        assert!(!text.contains(SECRET), "{who} read the value from memory: {text}");
        assert!(text.contains("key=[redacted:API_KEY]"), "{who}: {text}");
        let cron = gw.get(&format!("{prefix}/cron"), Some(cred)).expect(200);
        let text = cron.to_string();
        assert!(!text.contains(SECRET), "{who} read the value from cron: {text}");
        assert!(text.contains("[redacted:API_KEY]"), "{who}: {text}");
    }
    // Scrubbed with the tenant's own secrets only: B has none, its text is
    // its own.
    assert!(gw.get("/v1/memory", Some(&b.member)).expect(200).to_string().contains(SECRET));
    assert!(gw.get("/v1/cron", Some(&b.member)).expect(200).to_string().contains(SECRET));
}
