//! Cross-tenant: tenant A's tokens on every route of tenant B get 404,
//! exactly as for a tenant that does not exist, nothing of B leaks into an
//! answer and nothing of B changes.

use crate::harness::{
    ADMIN_KEY, Body, Gateway, Resp, install, install_body, output, shared, skill_names, tenant, token_ids,
};
use serde_json::{Value, json};

/// Everything of a tenant that a cross-tenant attempt could change, as the
/// operator sees it.
fn state(gw: &Gateway, t: &str) -> Value {
    let get = |rest: &str| gw.get(&format!("/v1/tenants/{t}{rest}"), Some(ADMIN_KEY)).expect(200);
    json!({
        "tenant": get(""),
        "skills": skill_names(&get("/skills")),
        "tokens": token_ids(&get("/tokens")),
        "policy": get("/policy"),
        "secrets": get("/secrets"),
        "memory": get("/memory"),
        "cron": get("/cron")["jobs"].as_array().unwrap().iter().map(|j| j["id"].clone()).collect::<Vec<_>>(),
    })
}

/// A copy of a request body.
fn copy(body: &Body) -> Body {
    match body {
        Body::None => Body::None,
        Body::Json(v) => Body::Json(v.clone()),
        Body::Raw(ct, bytes) => Body::Raw(ct, bytes.clone()),
    }
}

#[test]
fn a_token_on_another_tenants_path_gets_404_and_nothing_changes() {
    let gw = shared();
    let a = tenant(gw, "iso-a");
    let b = tenant(gw, "iso-b");
    for t in [&a, &b] {
        install(gw, &t.id, ADMIN_KEY, "echo", true);
        install(gw, &t.id, ADMIN_KEY, "notes", false);
    }
    let policy = "[cron]\nmax_jobs = 10\nmin_interval_secs = 60\n\n[[contacts]]\nname = \"b-ops\"\nchannel = \"webhook\"\nurl = \"https://hooks.example.com/b-private-hook\"\n";
    let r = gw.req("PUT", &b.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", policy.into()));
    assert!(matches!(r.status, 200 | 204), "PUT policy: {} {}", r.status, r.text);
    install(gw, &b.id, ADMIN_KEY, "reminder", false);
    output(gw, &b.member, "notes", &json!({"op": "add", "text": "b-private-note"}));
    let job =
        output(gw, &b.member, "reminder", &json!({"op": "add", "text": "b-job", "every_seconds": 3600}));
    let job = job["job_id"].as_str().expect("job id").to_string();
    gw.req(
        "PUT",
        &b.path("/secrets/B_ONLY_SECRET"),
        Some(ADMIN_KEY),
        Body::Raw("text/plain", b"b-secret-value".to_vec()),
    )
    .expect(204);
    let b_member_id = b.member.rsplit('_').nth(1).unwrap().to_string();
    // One call of B's, so B has usage and audit records.
    output(gw, &b.member, "echo", &json!({"b": true}));

    let before = state(gw, &b.id);
    let b_usage_before = gw.get(&b.path("/usage"), Some(ADMIN_KEY)).expect(200);

    // Every tenant route of B, with a body where it takes one.
    let toml = |s: &str| Body::Raw("application/toml", s.as_bytes().to_vec());
    let routes: Vec<(&str, String, Body)> = vec![
        ("POST", "/skills/echo/invoke".into(), Body::Json(json!({"x": 1}))),
        ("POST", "/skills/notes/invoke".into(), Body::Json(json!({"op": "list"}))),
        ("GET", "/skills".into(), Body::None),
        ("POST", "/skills".into(), Body::Json(install_body("counter", true))),
        ("DELETE", "/skills/echo".into(), Body::None),
        ("GET", "/memory".into(), Body::None),
        ("GET", "/memory?prefix=note:".into(), Body::None),
        ("DELETE", "/memory/note:00000001".into(), Body::None),
        ("GET", "/cron".into(), Body::None),
        ("DELETE", format!("/cron/{job}"), Body::None),
        ("GET", "/contacts".into(), Body::None),
        ("GET", "/outbox".into(), Body::None),
        ("GET", "/summary".into(), Body::None),
        ("GET", "/outbox?state=pending".into(), Body::None),
        (
            "PUT",
            "/secrets/B_ONLY_SECRET".into(),
            Body::Raw("application/octet-stream", b"overwritten".to_vec()),
        ),
        ("PUT", "/secrets/PLANTED".into(), Body::Raw("application/octet-stream", b"planted".to_vec())),
        ("GET", "/secrets".into(), Body::None),
        ("GET", "/usage".into(), Body::None),
        ("GET", "/usage/series?step=day".into(), Body::None),
        ("GET", "/audit".into(), Body::None),
        ("GET", "/tokens".into(), Body::None),
        ("POST", "/tokens".into(), Body::Json(json!({"role": "admin", "name": "planted"}))),
        ("POST", format!("/tokens/{b_member_id}/rotate"), Body::Json(json!({}))),
        ("DELETE", format!("/tokens/{b_member_id}"), Body::None),
        ("GET", "/policy".into(), Body::None),
        ("PUT", "/policy".into(), toml("[limits]\nfuel = 1\n")),
        ("PUT", "/policy".into(), Body::Json(json!({}))),
    ];
    let secrets_of_b = [
        "b-private-note",
        "b-secret-value",
        "B_ONLY_SECRET",
        "b-private-hook",
        "b-ops",
        job.as_str(),
        b_member_id.as_str(),
    ];
    for cred in [&a.admin, &a.member, &a.guest] {
        for (method, rest, body) in &routes {
            let r: Resp = gw.req(method, &b.path(rest), Some(cred), copy(body));
            let msg = r.expect_error(404, "not-found");
            for s in secrets_of_b {
                assert!(!r.text.contains(s), "{} leaks {s:?}: {}", r.what, r.text);
            }
            // Exactly as for a tenant that does not exist.
            let ghost = gw.req(method, &format!("/v1/tenants/iso-none{rest}"), Some(cred), copy(body));
            let ghost_msg = ghost.expect_error(404, "not-found");
            assert_eq!(
                msg.replace("iso-b", "T"),
                ghost_msg.replace("iso-none", "T"),
                "{} vs {}",
                r.what,
                ghost.what
            );
        }
    }

    // A's tokens on the short routes, naming B's resources by id: not found.
    gw.delete(&format!("/v1/cron/{job}"), Some(&a.admin)).expect_error(404, "not-found");
    gw.delete(&format!("/v1/tokens/{b_member_id}"), Some(&a.admin)).expect_error(404, "not-found");
    gw.post(&format!("/v1/tokens/{b_member_id}/rotate"), Some(&a.admin), json!({}))
        .expect_error(404, "not-found");
    // A's own memory has no note of B's; deleting B's key from A finds nothing.
    assert_eq!(gw.get("/v1/memory", Some(&a.member)).expect(200)["entries"], json!([]));
    gw.delete("/v1/memory/note:00000001", Some(&a.member)).expect_error(404, "not-found");
    let a_secrets = gw.get("/v1/secrets", Some(&a.admin)).expect(200);
    assert_eq!(a_secrets, json!({"secrets": []}));
    assert_eq!(gw.get("/v1/contacts", Some(&a.member)).expect(200), json!({"contacts": []}));
    assert_eq!(gw.get("/v1/cron", Some(&a.member)).expect(200), json!({"jobs": []}));
    assert_eq!(output(gw, &a.member, "notes", &json!({"op": "list"})), json!({"notes": []}));
    let a_audit = gw.get("/v1/audit", Some(&a.admin)).expect(200);
    for e in a_audit["events"].as_array().unwrap() {
        assert_eq!(e["tenant"], "iso-a", "A's audit holds A's events only: {e}");
    }
    let a_usage = gw.get("/v1/usage", Some(&a.member)).expect(200);
    for row in a_usage["usage"].as_array().unwrap() {
        assert_eq!(row["tenant"], "iso-a", "A's usage holds A's rows only: {row}");
    }

    // Nothing of B changed, and B still works.
    assert_eq!(state(gw, &b.id), before);
    let b_usage_after = gw.get(&b.path("/usage"), Some(ADMIN_KEY)).expect(200);
    assert_eq!(
        b_usage_after["usage"].as_array().map(Vec::len),
        b_usage_before["usage"].as_array().map(Vec::len)
    );
    let calls =
        |v: &Value| v["usage"].as_array().unwrap().iter().filter_map(|r| r["calls"].as_u64()).sum::<u64>();
    assert_eq!(calls(&b_usage_after), calls(&b_usage_before), "no call of A's was counted as B's");
    let notes = output(gw, &b.member, "notes", &json!({"op": "list"}));
    assert_eq!(notes, json!({"notes": [{"id": "00000001", "text": "b-private-note"}]}));
    gw.get("/v1/skills", Some(&b.member)).expect(200);
    // B's own members see B's contacts: name and channel, never the URL.
    let contacts = gw.get("/v1/contacts", Some(&b.member)).expect(200);
    assert_eq!(contacts, json!({"contacts": [{"name": "b-ops", "channel": "webhook"}]}));
}

#[test]
fn a_token_naming_another_tenant_is_refused() {
    let gw = shared();
    let a = tenant(gw, "iso-c");
    tenant(gw, "iso-d");
    // The tenant named inside a token must be the token's own.
    let forged = a.member.replacen("wct_iso-c_", "wct_iso-d_", 1);
    gw.get("/v1/skills", Some(&forged)).expect_error(401, "unauthorized");
    gw.get("/v1/tenants/iso-d/skills", Some(&forged)).expect_error(401, "unauthorized");
}
