//! Roles: for every route of docs/api.md, each kind of credential is
//! allowed exactly where the "who" column says, and refused (403
//! `forbidden`, nothing changed) everywhere else. Tenant routes are tried
//! on both forms, `/v1/tenants/{t}/…` and the short `/v1/…`.

use crate::harness::{
    ADMIN_KEY, Body, Gateway, Tenant, install, install_body, output, shared, skill_names, tenant, token_ids,
};
use serde_json::{Value, json};

/// A kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Operator,
    Admin,
    Member,
    Guest,
}

const ALL: &[Who] = &[Who::Operator, Who::Admin, Who::Member, Who::Guest];
const MEMBERS: &[Who] = &[Who::Operator, Who::Admin, Who::Member];
const MANAGERS: &[Who] = &[Who::Operator, Who::Admin];
const TOKENS: &[Who] = &[Who::Admin, Who::Member, Who::Guest];

/// The credential of `who` in tenant `t`.
fn cred(t: &Tenant, who: Who) -> &str {
    match who {
        Who::Operator => ADMIN_KEY,
        Who::Admin => &t.admin,
        Who::Member => &t.member,
        Who::Guest => &t.guest,
    }
}

/// The paths by which `who` reaches tenant route `rest`: the long form
/// always, the short form for tokens (the operator has no tenant of its own).
fn paths(t: &Tenant, who: Who, rest: &str) -> Vec<String> {
    let mut v = vec![t.path(rest)];
    if who != Who::Operator {
        v.push(format!("/v1{rest}"));
    }
    v
}

/// The operator's view of the tenant's token ids.
fn tokens_now(gw: &Gateway, t: &Tenant) -> Vec<String> {
    token_ids(&gw.get(&t.path("/tokens"), Some(ADMIN_KEY)).expect(200))
}

/// A token's record, as the operator lists it.
fn token_record(gw: &Gateway, t: &Tenant, id: &str) -> Option<Value> {
    let v = gw.get(&t.path("/tokens"), Some(ADMIN_KEY)).expect(200);
    v["tokens"].as_array().unwrap().iter().find(|x| x["id"] == id).cloned()
}

/// The id part of a token `wct_<tenant>_<id>_<secret>`.
fn id_of(token: &str) -> String {
    token.rsplit('_').nth(1).unwrap().to_string()
}

#[test]
fn reads_are_allowed_by_role_exactly_as_documented() {
    let gw = shared();
    let t = tenant(gw, "roles-read");
    install(gw, &t.id, ADMIN_KEY, "echo", true);
    install(gw, &t.id, ADMIN_KEY, "notes", false);
    output(gw, &t.member, "notes", &json!({"op": "add", "text": "one"}));
    gw.req(
        "PUT",
        &t.path("/secrets/ROLE_SECRET"),
        Some(ADMIN_KEY),
        Body::Raw("application/octet-stream", b"s3cret-value".to_vec()),
    )
    .expect(204);

    // (route, who may, the key of the list in the answer)
    let reads: &[(&str, &[Who], &str)] = &[
        ("/tokens", MANAGERS, "tokens"),
        ("/policy", MANAGERS, ""),
        ("/skills", ALL, "skills"),
        ("/secrets", MANAGERS, "secrets"),
        ("/memory", MEMBERS, "entries"),
        ("/cron", MEMBERS, "jobs"),
        ("/contacts", MEMBERS, "contacts"),
        ("/outbox", MEMBERS, "messages"),
        ("/summary", MEMBERS, ""),
        ("/usage", MEMBERS, "usage"),
        ("/usage/series", MEMBERS, "rows"),
        ("/audit", MANAGERS, "events"),
    ];
    for &(rest, allowed, key) in reads {
        for &who in ALL {
            for path in paths(&t, who, rest) {
                let r = gw.get(&path, Some(cred(&t, who)));
                if allowed.contains(&who) {
                    let v = r.expect(200);
                    if key.is_empty() {
                        assert!(v.is_object(), "{who:?} GET {path}: {v}");
                    } else {
                        assert!(v[key].is_array(), "{who:?} GET {path}: `{key}` list: {v}");
                    }
                    assert!(!r.text.contains("s3cret-value"), "a secret value never leaves: {}", r.text);
                    for tok in [&t.admin, &t.member, &t.guest] {
                        let secret = tok.rsplit('_').next().unwrap();
                        assert!(
                            !r.text.contains(secret),
                            "a token's secret never leaves: GET {path}: {}",
                            r.text
                        );
                    }
                } else {
                    r.expect_error(403, "forbidden");
                }
            }
        }
    }

    // What each role sees.
    for &who in ALL {
        for path in paths(&t, who, "/skills") {
            let names = skill_names(&gw.get(&path, Some(cred(&t, who))).expect(200));
            let want: &[&str] = if who == Who::Guest { &["echo"] } else { &["echo", "notes"] };
            assert_eq!(names, want, "{who:?} GET {path}: a guest sees the guest skills only");
        }
    }
    let secrets = gw.get("/v1/secrets", Some(&t.admin)).expect(200);
    assert_eq!(secrets, json!({"secrets": ["ROLE_SECRET"]}));
    let memory = gw.get("/v1/memory", Some(&t.member)).expect(200);
    let entries = memory["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["key"] == "note:00000001" && e["value"] == "one"),
        "the note is in the tenant's memory: {memory}"
    );

    // Operator-only routes: every token is refused.
    let operator_gets =
        ["/v1/tenants".to_string(), t.path(""), "/metrics".into(), "/v1/security/audit".into()];
    for path in &operator_gets {
        let r = gw.get(path, Some(ADMIN_KEY));
        assert_eq!(r.status, 200, "operator GET {path}: {}", r.text);
        for &who in TOKENS {
            gw.get(path, Some(cred(&t, who))).expect_error(403, "forbidden");
        }
    }
    let tenants = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    assert!(tenants["tenants"].as_array().unwrap().iter().any(|x| x["id"] == t.id.as_str()), "{tenants}");
    let one = gw.get(&t.path(""), Some(ADMIN_KEY)).expect(200);
    assert_eq!((one["id"].as_str(), one["status"].as_str()), (Some(t.id.as_str()), Some("active")), "{one}");
    let usage = gw.get(&format!("/v1/usage?tenant={}", t.id), Some(ADMIN_KEY)).expect(200);
    assert!(usage["usage"].is_array(), "{usage}");
    let audit = gw.get(&format!("/v1/audit?tenant={}", t.id), Some(ADMIN_KEY)).expect(200);
    let events = audit["events"].as_array().unwrap_or_else(|| panic!("{audit}"));
    assert!(events.len() >= 6, "create, 3 mints, 2 installs, a secret: {audit}");
    for e in events {
        assert_eq!(e["tenant"], t.id.as_str(), "{e}");
        for key in ["time", "actor", "action", "target", "outcome"] {
            assert!(e.get(key).is_some(), "event field {key}: {e}");
        }
    }
    // `limit` and `since`.
    let one = gw.get("/v1/audit?limit=1", Some(&t.admin)).expect(200);
    assert_eq!(one["events"].as_array().map(Vec::len), Some(1), "{one}");
    let later = gw.get(&t.path("/audit?since=4000000000"), Some(ADMIN_KEY)).expect(200);
    assert_eq!(later["events"], json!([]), "nothing after the year 2096: {later}");
    let all = gw.get("/v1/audit?since=0", Some(&t.admin)).expect(200);
    assert_eq!(all["events"].as_array().map(Vec::len), Some(events.len()), "{all}");
}

#[test]
fn invoke_is_for_tokens_and_guests_get_guest_skills_only() {
    let gw = shared();
    let t = tenant(gw, "roles-invoke");
    install(gw, &t.id, ADMIN_KEY, "echo", true);
    install(gw, &t.id, ADMIN_KEY, "notes", false);
    let input = json!({"a": 1, "b": ["x"]});

    // The admin key is refused where only tenants are allowed.
    gw.req("POST", &t.path("/skills/echo/invoke"), Some(ADMIN_KEY), Body::Json(input.clone()))
        .expect_error(403, "forbidden");

    for &who in TOKENS {
        for path in paths(&t, who, "/skills/echo/invoke") {
            let v = gw.req("POST", &path, Some(cred(&t, who)), Body::Json(input.clone())).expect(200);
            assert_eq!(v["output"], input, "{who:?} POST {path}: {v}");
            assert!(v["usage"].is_object(), "{v}");
        }
        for path in paths(&t, who, "/skills/notes/invoke") {
            let r = gw.req("POST", &path, Some(cred(&t, who)), Body::Json(json!({"op": "list"})));
            if who == Who::Guest {
                r.expect_error(403, "forbidden");
            } else {
                assert_eq!(r.expect(200)["output"], json!({"notes": []}), "{who:?} POST {path}");
            }
        }
    }
}

/// The guest check on invoke reads the binding, not the stored record: the
/// flag must follow the binding through a policy change (which rebinds)
/// and an upgrade (which replaces it).
#[test]
fn the_guest_flag_follows_the_binding_through_a_policy_change_and_an_upgrade() {
    let gw = shared();
    let t = tenant(gw, "roles-guest-flag");
    gw.post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v1", true)).expect(201);
    assert_eq!(output(gw, &t.guest, "greeter", &json!({}))["version"], 1);
    let policy = Body::Raw("application/toml", b"[limits]\nfuel = 123456789\n".to_vec());
    gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), policy).expect(200);
    assert_eq!(output(gw, &t.guest, "greeter", &json!({}))["version"], 1, "still a guest skill");

    let mut body = install_body("greeter-v2", false);
    body["accept_permissions"] = json!(true);
    gw.post(&t.path("/skills"), Some(&t.admin), body).expect(200);
    crate::harness::invoke(gw, &t.guest, "greeter", &json!({})).expect_error(403, "forbidden");
    assert_eq!(output(gw, &t.member, "greeter", &json!({}))["version"], 2);
}

#[test]
fn operator_routes_refuse_tokens_and_change_nothing() {
    let gw = shared();
    let t = tenant(gw, "roles-op");
    for &who in TOKENS {
        let c = cred(&t, who);
        gw.post("/v1/tenants", Some(c), json!({"id": format!("roles-op-{who:?}").to_lowercase()}))
            .expect_error(403, "forbidden");
        gw.delete(&t.path(""), Some(c)).expect_error(403, "forbidden");
        gw.post(&t.path("/suspend"), Some(c), json!({})).expect_error(403, "forbidden");
        gw.post(&t.path("/resume"), Some(c), json!({})).expect_error(403, "forbidden");
    }
    // Creating it again is a conflict.
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({"id": "roles-op"})).expect_error(409, "conflict");
    let tenants = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    let ids: Vec<&str> =
        tenants["tenants"].as_array().unwrap().iter().filter_map(|x| x["id"].as_str()).collect();
    assert!(ids.contains(&"roles-op"), "{tenants}");
    assert!(!ids.iter().any(|i| i.starts_with("roles-op-")), "no tenant was created by a token: {ids:?}");
    let one = gw.get(&t.path(""), Some(ADMIN_KEY)).expect(200);
    assert_eq!(one["status"], "active", "still active: {one}");
    // Still usable.
    gw.get("/v1/skills", Some(&t.member)).expect(200);
}

#[test]
fn tokens_are_managed_by_the_operator_and_tenant_admins_only() {
    let gw = shared();
    let t = tenant(gw, "roles-tokens");
    install(gw, &t.id, ADMIN_KEY, "echo", true);
    let before = tokens_now(gw, &t);

    // Mint: member and guest refused, on both forms.
    for who in [Who::Member, Who::Guest] {
        for path in paths(&t, who, "/tokens") {
            gw.post(&path, Some(cred(&t, who)), json!({"role": "admin", "name": "escalate"}))
                .expect_error(403, "forbidden");
        }
    }
    assert_eq!(tokens_now(gw, &t), before, "no token was minted");

    // Admin (short form) and operator mint.
    let by_admin = gw.post("/v1/tokens", Some(&t.admin), json!({"role": "member", "name": "ci"})).expect(201);
    let (admin_minted, admin_minted_id) = crate::harness::check_minted(&by_admin, &t.id, "member");
    assert_eq!(by_admin["name"], "ci");
    let (op_minted, op_minted_id) = crate::harness::mint(gw, &t.id, ADMIN_KEY, "guest");
    for tok in [&admin_minted, &op_minted] {
        gw.get("/v1/skills", Some(tok)).expect(200);
    }
    let listed = gw.get("/v1/tokens", Some(&t.admin)).expect(200);
    let ids = token_ids(&listed);
    assert!(ids.contains(&admin_minted_id) && ids.contains(&op_minted_id), "{listed}");
    assert!(
        !listed.to_string().contains(admin_minted.rsplit('_').next().unwrap()),
        "never a secret: {listed}"
    );

    // Rotate and revoke: member and guest refused; the token still works.
    for who in [Who::Member, Who::Guest] {
        for path in paths(&t, who, &format!("/tokens/{admin_minted_id}/rotate")) {
            gw.post(&path, Some(cred(&t, who)), json!({})).expect_error(403, "forbidden");
        }
        for path in paths(&t, who, &format!("/tokens/{admin_minted_id}")) {
            gw.delete(&path, Some(cred(&t, who))).expect_error(403, "forbidden");
        }
    }
    gw.get("/v1/skills", Some(&admin_minted)).expect(200);
    assert!(token_record(gw, &t, &admin_minted_id).is_some());

    // Admin rotates (short form), operator rotates (long form).
    let rotated =
        gw.post(&format!("/v1/tokens/{admin_minted_id}/rotate"), Some(&t.admin), json!({})).expect(201);
    let (new_tok, new_id) = crate::harness::check_minted(&rotated, &t.id, "member");
    assert_ne!(new_id, admin_minted_id);
    gw.get("/v1/skills", Some(&admin_minted)).expect_error(401, "unauthorized");
    gw.get("/v1/skills", Some(&new_tok)).expect(200);
    let rotated =
        gw.post(&t.path(&format!("/tokens/{op_minted_id}/rotate")), Some(ADMIN_KEY), json!({})).expect(201);
    let (op_new, op_new_id) = crate::harness::check_minted(&rotated, &t.id, "guest");
    gw.get("/v1/skills", Some(&op_new)).expect(200);

    // Admin revokes (short form), operator revokes (long form).
    assert_eq!(
        gw.delete(&format!("/v1/tokens/{new_id}"), Some(&t.admin)).expect(200),
        json!({"revoked": new_id})
    );
    gw.get("/v1/skills", Some(&new_tok)).expect_error(401, "unauthorized");
    assert_eq!(
        gw.delete(&t.path(&format!("/tokens/{op_new_id}")), Some(ADMIN_KEY)).expect(200),
        json!({"revoked": op_new_id})
    );
    gw.get("/v1/skills", Some(&op_new)).expect_error(401, "unauthorized");
    gw.delete(&format!("/v1/tokens/{new_id}"), Some(&t.admin)).expect_error(404, "not-found");
    assert_eq!(tokens_now(gw, &t), before, "back to the three tokens of the fixture");
    // The fixture's tokens were never touched.
    for tok in [&t.admin, &t.member, &t.guest] {
        gw.get("/v1/skills", Some(tok)).expect(200);
    }
    assert_eq!(id_of(&t.admin).len(), 12);
}

#[test]
fn policy_skills_and_secrets_are_managed_by_the_operator_and_tenant_admins_only() {
    let gw = shared();
    let t = tenant(gw, "roles-manage");
    install(gw, &t.id, ADMIN_KEY, "echo", true);

    // Policy.
    let policy_before = gw.get(&t.path("/policy"), Some(ADMIN_KEY)).expect(200);
    for who in [Who::Member, Who::Guest] {
        for path in paths(&t, who, "/policy") {
            gw.req(
                "PUT",
                &path,
                Some(cred(&t, who)),
                Body::Json(json!({"cron": {"max_jobs": 9, "min_interval_secs": 60}})),
            )
            .expect_error(403, "forbidden");
        }
    }
    assert_eq!(gw.get(&t.path("/policy"), Some(ADMIN_KEY)).expect(200), policy_before, "unchanged");
    let r = gw.req(
        "PUT",
        "/v1/policy",
        Some(&t.admin),
        Body::Json(json!({"cron": {"max_jobs": 3, "min_interval_secs": 60}})),
    );
    assert!(matches!(r.status, 200 | 204), "admin PUT policy: {} {}", r.status, r.text);
    assert_eq!(gw.get("/v1/policy", Some(&t.admin)).expect(200)["cron"]["max_jobs"], 3);
    let toml = "[cron]\nmax_jobs = 5\nmin_interval_secs = 60\n";
    let r = gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", toml.into()));
    assert!(matches!(r.status, 200 | 204), "operator PUT policy: {} {}", r.status, r.text);
    assert_eq!(gw.get(&t.path("/policy"), Some(ADMIN_KEY)).expect(200)["cron"]["max_jobs"], 5);

    // Skills: install and remove.
    for who in [Who::Member, Who::Guest] {
        for path in paths(&t, who, "/skills") {
            gw.post(&path, Some(cred(&t, who)), crate::harness::install_body("counter", false))
                .expect_error(403, "forbidden");
        }
    }
    assert_eq!(skill_names(&gw.get("/v1/skills", Some(&t.admin)).expect(200)), ["echo"]);
    let v = gw.post("/v1/skills", Some(&t.admin), crate::harness::install_body("counter", false)).expect(201);
    assert_eq!(v["name"], "counter");
    // A second install of the name is a conflict (remove it first).
    gw.post("/v1/skills", Some(&t.admin), crate::harness::install_body("counter", true))
        .expect_error(409, "conflict");
    for who in [Who::Member, Who::Guest] {
        for path in paths(&t, who, "/skills/echo") {
            gw.delete(&path, Some(cred(&t, who))).expect_error(403, "forbidden");
        }
    }
    assert_eq!(skill_names(&gw.get("/v1/skills", Some(&t.admin)).expect(200)), ["counter", "echo"]);
    assert_eq!(gw.delete("/v1/skills/counter", Some(&t.admin)).expect(200), json!({"removed": "counter"}));
    install(gw, &t.id, ADMIN_KEY, "counter", false);
    assert_eq!(
        gw.delete(&t.path("/skills/counter"), Some(ADMIN_KEY)).expect(200),
        json!({"removed": "counter"})
    );
    assert_eq!(skill_names(&gw.get("/v1/skills", Some(&t.admin)).expect(200)), ["echo"]);
    crate::harness::invoke(gw, &t.member, "counter", &json!({})).expect_error(404, "not-found");

    // Secrets.
    let value = |s: &str| Body::Raw("application/octet-stream", s.as_bytes().to_vec());
    for who in [Who::Member, Who::Guest] {
        for path in paths(&t, who, "/secrets/SNEAKY") {
            gw.req("PUT", &path, Some(cred(&t, who)), value("x")).expect_error(403, "forbidden");
        }
    }
    assert_eq!(gw.get("/v1/secrets", Some(&t.admin)).expect(200), json!({"secrets": []}));
    assert_eq!(
        gw.req("PUT", "/v1/secrets/BY_ADMIN", Some(&t.admin), value("a-value")).expect(204),
        Value::Null
    );
    assert_eq!(
        gw.req("PUT", &t.path("/secrets/BY_OPERATOR"), Some(ADMIN_KEY), value("o-value")).expect(204),
        Value::Null
    );
    let mut names: Vec<String> =
        serde_json::from_value(gw.get(&t.path("/secrets"), Some(ADMIN_KEY)).expect(200)["secrets"].clone())
            .unwrap();
    names.sort();
    assert_eq!(names, ["BY_ADMIN", "BY_OPERATOR"]);
}

#[test]
fn memory_and_cron_are_managed_by_members_and_up() {
    let gw = shared();
    let t = tenant(gw, "roles-data");
    let toml = "[cron]\nmax_jobs = 10\nmin_interval_secs = 60\n";
    let r = gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", toml.into()));
    assert!(matches!(r.status, 200 | 204), "PUT policy: {} {}", r.status, r.text);
    install(gw, &t.id, ADMIN_KEY, "notes", false);
    install(gw, &t.id, ADMIN_KEY, "reminder", false);
    for text in ["one", "two", "three"] {
        output(gw, &t.member, "notes", &json!({"op": "add", "text": text}));
    }
    let jobs: Vec<String> = (0..3)
        .map(|i| {
            let out = output(
                gw,
                &t.member,
                "reminder",
                &json!({"op": "add", "text": format!("r{i}"), "every_seconds": 3600}),
            );
            out["job_id"].as_str().unwrap_or_else(|| panic!("job id: {out}")).to_string()
        })
        .collect();
    let listed = gw.get("/v1/cron", Some(&t.member)).expect(200);
    let mut ids: Vec<String> =
        listed["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    let mut want = jobs.clone();
    want.sort();
    assert_eq!(ids, want, "{listed}");

    // A guest may neither delete memory nor cron jobs.
    for path in paths(&t, Who::Guest, "/memory/note:00000001") {
        gw.delete(&path, Some(&t.guest)).expect_error(403, "forbidden");
    }
    for path in paths(&t, Who::Guest, &format!("/cron/{}", jobs[0])) {
        gw.delete(&path, Some(&t.guest)).expect_error(403, "forbidden");
    }
    assert_eq!(
        gw.get("/v1/memory?prefix=note:", Some(&t.member)).expect(200)["entries"].as_array().unwrap().len(),
        3
    );
    assert_eq!(gw.get("/v1/cron", Some(&t.member)).expect(200)["jobs"].as_array().unwrap().len(), 3);

    // Member, admin and operator may.
    let deleters =
        [(t.member.as_str(), "/v1".to_string()), (t.admin.as_str(), "/v1".into()), (ADMIN_KEY, t.path(""))];
    for (i, (c, base)) in deleters.iter().enumerate() {
        let key = format!("note:{:08}", i + 1);
        assert_eq!(gw.delete(&format!("{base}/memory/{key}"), Some(c)).expect(200), json!({"deleted": true}));
        gw.delete(&format!("{base}/memory/{key}"), Some(c)).expect_error(404, "not-found");
        assert_eq!(
            gw.delete(&format!("{base}/cron/{}", jobs[i]), Some(c)).expect(200),
            json!({"removed": jobs[i]})
        );
        gw.delete(&format!("{base}/cron/{}", jobs[i]), Some(c)).expect_error(404, "not-found");
    }
    assert_eq!(gw.get("/v1/memory?prefix=note:", Some(&t.member)).expect(200)["entries"], json!([]));
    assert_eq!(gw.get("/v1/cron", Some(&t.member)).expect(200)["jobs"], json!([]));
    // Memory per user: a call with `x-wasmclaw-user` writes in that user's
    // scope, listed and deleted with `?user=`.
    let add = json!({"op": "add", "text": "alice's"});
    let r = gw.req_with(
        "POST",
        "/v1/skills/notes/invoke",
        Some(&t.member),
        &[("x-wasmclaw-user", "alice")],
        Body::Json(add),
    );
    assert_eq!(r.expect(200)["output"], json!({"id": "00000001"}), "alice's own counter starts at 1");
    let alice = gw.get("/v1/memory?user=alice&prefix=note:", Some(&t.member)).expect(200);
    assert_eq!(alice["entries"], json!([{"key": "note:00000001", "value": "alice's"}]));
    assert_eq!(
        gw.get("/v1/memory?prefix=note:", Some(&t.member)).expect(200)["entries"],
        json!([]),
        "not tenant-wide"
    );
    assert_eq!(gw.get("/v1/memory?user=bob&prefix=note:", Some(&t.member)).expect(200)["entries"], json!([]));
    gw.delete("/v1/memory/note:00000001", Some(&t.member)).expect_error(404, "not-found");
    assert_eq!(
        gw.delete("/v1/memory/note:00000001?user=alice", Some(&t.member)).expect(200),
        json!({"deleted": true})
    );
    assert_eq!(
        gw.get("/v1/memory?user=alice&prefix=note:", Some(&t.member)).expect(200)["entries"],
        json!([])
    );

    // The prefix filter: only the counter is left.
    let meta = gw.get("/v1/memory?prefix=meta:", Some(&t.member)).expect(200);
    assert_eq!(meta["entries"], json!([{"key": "meta:next-id", "value": "4"}]), "{meta}");
}
