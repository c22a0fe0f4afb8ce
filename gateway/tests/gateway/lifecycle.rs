//! Lifecycles: suspending and resuming a tenant, deleting it, rotating and
//! revoking tokens, the policy overlay's refusals, and what a restart keeps.

use crate::harness::{
    ADMIN_KEY, Body, Gateway, audit_events, has_event, install, mint, output, poll, shared, skill_names,
    tenant, token_ids,
};
use serde_json::{Value, json};
use std::time::Duration;

/// `PUT path` with a TOML body, asserting success (200 or 204: the spec
/// does not say which).
#[track_caller]
fn put_policy_toml(gw: &Gateway, path: &str, cred: &str, toml: &str) {
    let r = gw.req("PUT", path, Some(cred), Body::Raw("application/toml", toml.as_bytes().to_vec()));
    assert!(matches!(r.status, 200 | 204), "PUT {path}: {} {}", r.status, r.text);
}

#[test]
fn a_suspended_tenants_tokens_are_refused_until_it_is_resumed() {
    let gw = shared();
    let t = tenant(gw, "life-susp");
    let other = tenant(gw, "life-susp-other");
    install(gw, &t.id, ADMIN_KEY, "echo", true);
    install(gw, &other.id, ADMIN_KEY, "echo", true);
    output(gw, &t.member, "echo", &json!({"before": 1}));

    let v = gw.req("POST", &t.path("/suspend"), Some(ADMIN_KEY), Body::None).expect(200);
    assert_eq!((v["id"].as_str(), v["status"].as_str()), (Some("life-susp"), Some("suspended")), "{v}");
    assert!(v["created"].is_u64(), "{v}");
    assert_eq!(gw.get(&t.path(""), Some(ADMIN_KEY)).expect(200)["status"], "suspended");
    let listed = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    let row = listed["tenants"].as_array().unwrap().iter().find(|x| x["id"] == "life-susp").cloned();
    assert_eq!(row.map(|r| r["status"].clone()), Some(json!("suspended")), "{listed}");

    // Every token of the tenant, on every kind of route, is refused with 403 `suspended`.
    for tok in [&t.admin, &t.member, &t.guest] {
        crate::harness::invoke(gw, tok, "echo", &json!({"during": 1})).expect_error(403, "suspended");
        gw.get("/v1/skills", Some(tok)).expect_error(403, "suspended");
        gw.get(&t.path("/skills"), Some(tok)).expect_error(403, "suspended");
        gw.get("/v1/memory", Some(tok)).expect_error(403, "suspended");
        gw.post("/v1/tokens", Some(tok), json!({"role": "admin"})).expect_error(403, "suspended");
    }
    // The other tenant is untouched.
    output(gw, &other.member, "echo", &json!({"other": 1}));

    let v = gw.req("POST", &t.path("/resume"), Some(ADMIN_KEY), Body::None).expect(200);
    assert_eq!((v["id"].as_str(), v["status"].as_str()), (Some("life-susp"), Some("active")), "{v}");
    for tok in [&t.admin, &t.member, &t.guest] {
        assert_eq!(output(gw, tok, "echo", &json!({"after": 1})), json!({"after": 1}));
    }
    gw.req("POST", "/v1/tenants/life-susp-none/suspend", Some(ADMIN_KEY), Body::None)
        .expect_error(404, "not-found");
    gw.req("POST", "/v1/tenants/life-susp-none/resume", Some(ADMIN_KEY), Body::None)
        .expect_error(404, "not-found");

    let events = audit_events(gw, "life-susp");
    assert!(has_event(&events, "tenant.suspend", Some("ok")), "{events:?}");
    assert!(has_event(&events, "tenant.resume", Some("ok")), "{events:?}");
}

#[test]
fn deleting_a_tenant_removes_everything_but_its_audit_records() {
    let gw = shared();
    let t = tenant(gw, "life-del");
    install(gw, &t.id, ADMIN_KEY, "echo", true);
    install(gw, &t.id, ADMIN_KEY, "notes", false);
    output(gw, &t.member, "notes", &json!({"op": "add", "text": "to be deleted"}));
    output(gw, &t.member, "notes", &json!({"op": "export"}));
    gw.req("PUT", &t.path("/secrets/DEL_SECRET"), Some(ADMIN_KEY), Body::Raw("text/plain", b"v".to_vec()))
        .expect(204);
    let files = gw.data_dir().join("tenants").join("life-del");
    assert!(files.exists(), "the export wrote into the tenant's directory: {}", files.display());

    assert_eq!(gw.delete(&t.path(""), Some(ADMIN_KEY)).expect(200), json!({"deleted": "life-del"}));

    for tok in [&t.admin, &t.member, &t.guest] {
        gw.get("/v1/skills", Some(tok)).expect_error(401, "unauthorized");
        crate::harness::invoke(gw, tok, "echo", &json!({})).expect_error(401, "unauthorized");
    }
    gw.get(&t.path(""), Some(ADMIN_KEY)).expect_error(404, "not-found");
    for rest in ["/skills", "/memory", "/secrets", "/tokens", "/usage", "/policy", "/cron"] {
        gw.get(&t.path(rest), Some(ADMIN_KEY)).expect_error(404, "not-found");
    }
    gw.delete(&t.path(""), Some(ADMIN_KEY)).expect_error(404, "not-found");
    let listed = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    assert!(!listed["tenants"].as_array().unwrap().iter().any(|x| x["id"] == "life-del"), "{listed}");
    assert!(!files.exists(), "its files are gone: {}", files.display());
    let usage = gw.get("/v1/usage?tenant=life-del", Some(ADMIN_KEY));
    if usage.status == 200 {
        assert_eq!(usage.json()["usage"], json!([]), "its usage is gone");
    } else {
        usage.expect_error(404, "not-found");
    }

    // The audit log keeps its records.
    let events = audit_events(gw, "life-del");
    assert!(has_event(&events, "tenant.create", Some("ok")), "{events:?}");
    assert!(has_event(&events, "skill.install", Some("ok")), "{events:?}");
    assert!(has_event(&events, "tenant.delete", None), "{events:?}");
    for e in &events {
        assert_eq!(e["tenant"], "life-del", "{e}");
        for key in ["time", "actor", "action", "target", "outcome"] {
            assert!(e.get(key).is_some(), "event field {key}: {e}");
        }
    }

    // A tenant created again under the same id starts empty.
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({"id": "life-del"})).expect(201);
    let get = |rest: &str| gw.get(&t.path(rest), Some(ADMIN_KEY)).expect(200);
    assert_eq!(get("/skills"), json!({"skills": []}));
    assert_eq!(get("/memory"), json!({"entries": []}));
    assert_eq!(get("/secrets"), json!({"secrets": []}));
    assert_eq!(get("/tokens"), json!({"tokens": []}));
    assert_eq!(get("/usage"), json!({"usage": [], "models": []}));
    assert_eq!(get("/agents"), json!({"agents": []}));
    assert_eq!(get("/cron"), json!({"jobs": []}));
    gw.get("/v1/skills", Some(&t.admin)).expect_error(401, "unauthorized");
}

#[test]
fn rotation_replaces_a_token_with_an_optional_grace_period() {
    let gw = shared();
    let t = tenant(gw, "life-rot");
    let works = |tok: &str| gw.get("/v1/skills", Some(tok)).status == 200;
    let (m1, m1_id) = mint(gw, &t.id, ADMIN_KEY, "member");

    // With a grace period the old token works until it ends.
    let v = gw
        .post(&t.path(&format!("/tokens/{m1_id}/rotate")), Some(&t.admin), json!({"grace_secs": 3600}))
        .expect(201);
    let (m2, m2_id) = crate::harness::check_minted(&v, &t.id, "member");
    assert_ne!(m2_id, m1_id);
    assert_eq!(v["name"], "t-member", "the new token keeps the name: {v}");
    assert!(works(&m1), "the old token works during its grace period");
    assert!(works(&m2));
    let list = gw.get("/v1/tokens", Some(&t.admin)).expect(200);
    let rec = |id: &str| list["tokens"].as_array().unwrap().iter().find(|x| x["id"] == id).cloned().unwrap();
    let now = v["created"].as_u64().unwrap();
    let expires =
        rec(&m1_id)["expires"].as_u64().unwrap_or_else(|| panic!("old token has an expiry: {list}"));
    assert!((now + 3500..=now + 3700).contains(&expires), "expires {expires}, now {now}");
    assert_eq!(rec(&m2_id)["expires"], Value::Null, "{list}");

    // Without a body (or grace 0) the old one stops at once.
    let v = gw.req("POST", &format!("/v1/tokens/{m2_id}/rotate"), Some(&t.admin), Body::None).expect(201);
    let (m3, m3_id) = crate::harness::check_minted(&v, &t.id, "member");
    gw.get("/v1/skills", Some(&m2)).expect_error(401, "unauthorized");
    assert!(works(&m3));
    let v =
        gw.post(&format!("/v1/tokens/{m3_id}/rotate"), Some(&t.admin), json!({"grace_secs": 0})).expect(201);
    let (m4, m4_id) = crate::harness::check_minted(&v, &t.id, "member");
    gw.get("/v1/skills", Some(&m3)).expect_error(401, "unauthorized");
    assert!(works(&m4));

    // A short grace period ends by itself.
    let v =
        gw.post(&format!("/v1/tokens/{m4_id}/rotate"), Some(&t.admin), json!({"grace_secs": 3})).expect(201);
    let (m5, _) = crate::harness::check_minted(&v, &t.id, "member");
    assert!(works(&m4), "still within its 3 s of grace");
    let ended =
        poll(Duration::from_secs(15), || (gw.get("/v1/skills", Some(&m4)).status == 401).then_some(()));
    assert!(ended.is_some(), "the old token is refused once its grace period is over");
    gw.get("/v1/skills", Some(&m4)).expect_error(401, "unauthorized");
    assert!(works(&m5));

    // Revoking the first (still in grace) ends it now.
    assert_eq!(
        gw.delete(&format!("/v1/tokens/{m1_id}"), Some(&t.admin)).expect(200),
        json!({"revoked": m1_id})
    );
    gw.get("/v1/skills", Some(&m1)).expect_error(401, "unauthorized");
    gw.post("/v1/tokens/0123456789ab/rotate", Some(&t.admin), json!({})).expect_error(404, "not-found");
    gw.delete("/v1/tokens/0123456789ab", Some(&t.admin)).expect_error(404, "not-found");

    let events = audit_events(gw, "life-rot");
    assert!(has_event(&events, "token.rotate", Some("ok")), "{events:?}");
    assert!(has_event(&events, "token.revoke", Some("ok")), "{events:?}");
}

#[test]
fn the_policy_overlay_refuses_operator_keys_by_name() {
    let gw = shared();
    let t = tenant(gw, "life-pol");
    let good =
        "[limits]\nfuel = 400000000\ntimeout_ms = 4000\n\n[cron]\nmax_jobs = 2\nmin_interval_secs = 120\n";
    put_policy_toml(gw, &t.path("/policy"), ADMIN_KEY, good);
    let policy = gw.get("/v1/policy", Some(&t.admin)).expect(200);
    assert_eq!(policy["limits"]["fuel"], 400_000_000u64, "{policy}");
    assert_eq!(policy["limits"]["timeout_ms"], 4000, "{policy}");
    assert_eq!(policy["cron"], json!({"max_jobs": 2, "min_interval_secs": 120}), "{policy}");

    let toml = |s: &str| Body::Raw("application/toml", s.as_bytes().to_vec());
    let refused: Vec<(Body, &str)> = vec![
        (toml("listen = \"0.0.0.0:80\"\n"), "listen"),
        (toml("[caps]\nfuel = 99999999999999\n"), "caps"),
        (toml("[limits]\nfuel = 1000\n\n[caps]\ntimeout_ms = 1\n"), "caps"),
        (toml("data_dir = \"/\"\n"), "data_dir"),
        (toml("[defaults]\nfuel = 1\n"), "defaults"),
        (Body::Json(json!({"caps": {"fuel": 1}})), "caps"),
        (Body::Json(json!({"listen": "0.0.0.0:1"})), "listen"),
    ];
    for (body, key) in refused {
        for (path, cred) in [(t.path("/policy"), ADMIN_KEY), ("/v1/policy".to_string(), t.admin.as_str())] {
            let body = match &body {
                Body::Json(v) => Body::Json(v.clone()),
                Body::Raw(ct, b) => Body::Raw(ct, b.clone()),
                Body::None => Body::None,
            };
            let msg = gw.req("PUT", &path, Some(cred), body).expect_error(400, "invalid-input");
            assert!(msg.contains(key), "the message names {key:?}: {msg}");
        }
    }
    // Other bad policies are refused too.
    for bad in ["bogus = 1\n", "[limits\nfuel = 1\n", "[limits]\nfuel = \"lots\"\n"] {
        gw.req("PUT", "/v1/policy", Some(&t.admin), toml(bad)).expect_error(400, "invalid-input");
    }
    assert_eq!(gw.get("/v1/policy", Some(&t.admin)).expect(200), policy, "nothing refused was stored");
}

#[test]
fn a_tenant_admin_may_grant_public_hosts_only_and_the_operator_any() {
    let gw = shared();
    let t = tenant(gw, "life-ssrf");
    let toml = |s: &str| Body::Raw("application/toml", s.as_bytes().to_vec());
    let inward = [
        "[[http]]\norigin = \"http://169.254.169.254\"\n",
        "[[http]]\norigin = \"http://127.0.0.1:8420\"\n",
        "[[http]]\norigin = \"http://localhost:8420\"\n",
        "[[contacts]]\nname = \"x\"\nchannel = \"webhook\"\nurl = \"http://10.0.0.1/hook\"\n",
    ];
    for policy in inward {
        let msg =
            gw.req("PUT", "/v1/policy", Some(&t.admin), toml(policy)).expect_error(400, "invalid-input");
        assert!(msg.contains("not a public"), "{policy}: {msg}");
    }
    assert_eq!(gw.get("/v1/policy", Some(&t.admin)).expect(200)["http"], json!([]), "nothing was stored");
    // A public origin is fine for the tenant; the operator may grant an inward one.
    gw.req("PUT", "/v1/policy", Some(&t.admin), toml("[[http]]\norigin = \"https://api.example.com\"\n"))
        .expect(200);
    gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), toml(inward[1])).expect(200);
    assert_eq!(
        gw.get("/v1/policy", Some(&t.admin)).expect(200)["http"][0]["origin"],
        "http://127.0.0.1:8420"
    );
}

#[test]
fn a_restart_keeps_tenants_tokens_skills_memory_secrets_and_usage() {
    let mut gw = Gateway::start();
    let t = tenant(&gw, "keep");
    let s = tenant(&gw, "keep-suspended");
    install(&gw, &t.id, ADMIN_KEY, "echo", true);
    install(&gw, &t.id, ADMIN_KEY, "notes", false);
    put_policy_toml(&gw, &t.path("/policy"), &t.admin, "[limits]\nfuel = 123456789\n");
    output(&gw, &t.member, "notes", &json!({"op": "add", "text": "survives a restart"}));
    for i in 0..3 {
        assert_eq!(output(&gw, &t.member, "echo", &json!({"i": i})), json!({"i": i}));
    }
    gw.req(
        "PUT",
        &t.path("/secrets/KEPT_SECRET"),
        Some(ADMIN_KEY),
        Body::Raw("text/plain", b"kept".to_vec()),
    )
    .expect(204);
    let (revoked, revoked_id) = mint(&gw, &t.id, ADMIN_KEY, "member");
    gw.delete(&format!("/v1/tokens/{revoked_id}"), Some(&t.admin)).expect(200);
    gw.req("POST", &s.path("/suspend"), Some(ADMIN_KEY), Body::None).expect(200);
    let tokens_before = token_ids(&gw.get("/v1/tokens", Some(&t.admin)).expect(200));

    gw.restart();

    gw.get("/healthz", None).expect(200);
    let tenants = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    let status = |id: &str| {
        tenants["tenants"].as_array().unwrap().iter().find(|x| x["id"] == id).map(|x| x["status"].clone())
    };
    assert_eq!(status("keep"), Some(json!("active")), "{tenants}");
    assert_eq!(status("keep-suspended"), Some(json!("suspended")), "{tenants}");
    gw.get("/v1/skills", Some(&s.member)).expect_error(403, "suspended");
    gw.get("/v1/skills", Some(&revoked)).expect_error(401, "unauthorized");

    // Usage first, before any new call: three calls of echo, one of notes.
    let usage = gw.get("/v1/usage", Some(&t.member)).expect(200);
    let row = |skill: &str| {
        usage["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["skill"] == skill)
            .cloned()
            .unwrap_or_else(|| panic!("{skill}: {usage}"))
    };
    assert_eq!(row("echo")["calls"], 3, "{usage}");
    assert_eq!(row("notes")["calls"], 1, "{usage}");
    assert_eq!(row("echo")["tenant"], "keep", "{usage}");
    for key in ["errors", "fuel", "wall_us", "memory_peak_bytes", "cost"] {
        assert!(row("echo").get(key).is_some(), "usage field {key}: {usage}");
    }
    assert!(row("echo")["fuel"].as_u64().is_some_and(|f| f > 0), "{usage}");

    assert_eq!(token_ids(&gw.get("/v1/tokens", Some(&t.admin)).expect(200)), tokens_before);
    assert_eq!(skill_names(&gw.get("/v1/skills", Some(&t.member)).expect(200)), ["echo", "notes"]);
    assert_eq!(skill_names(&gw.get("/v1/skills", Some(&t.guest)).expect(200)), ["echo"]);
    assert_eq!(gw.get("/v1/secrets", Some(&t.admin)).expect(200), json!({"secrets": ["KEPT_SECRET"]}));
    assert_eq!(gw.get("/v1/policy", Some(&t.admin)).expect(200)["limits"]["fuel"], 123456789);
    let memory = gw.get("/v1/memory?prefix=note:", Some(&t.member)).expect(200);
    assert_eq!(memory["entries"], json!([{"key": "note:00000001", "value": "survives a restart"}]));
    assert_eq!(
        output(&gw, &t.member, "notes", &json!({"op": "list"})),
        json!({"notes": [{"id": "00000001", "text": "survives a restart"}]})
    );
    assert_eq!(output(&gw, &t.guest, "echo", &json!({"after": true})), json!({"after": true}));
    let usage = gw.get(&t.path("/usage"), Some(ADMIN_KEY)).expect(200);
    let echo_calls =
        usage["usage"].as_array().unwrap().iter().find(|r| r["skill"] == "echo").map(|r| r["calls"].clone());
    assert_eq!(echo_calls, Some(json!(4)), "{usage}");
}
