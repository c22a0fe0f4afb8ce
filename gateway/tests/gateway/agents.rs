//! Agents over HTTP: managed by admins, talked to by members as a peer,
//! priced by the rate card, bounded by quotas, and invisible to other
//! tenants. The provider is the fake on 127.0.0.1 (both formats).

use crate::harness::{ADMIN_KEY, Gateway, fake_llm, install, tenant};
use serde_json::{Value, json};
use wasmclaw_tests::fake_llm::FAKE_KEY;

fn config() -> String {
    let fake = fake_llm();
    format!(
        r#"
[providers.openai]
kind = "openai"
base_url = "{}"
max_retries = 0

[providers.claude]
kind = "anthropic"
base_url = "{}"
max_retries = 0

[rate_card.models."gpt-test"]
input_per_1k = 1.0
output_per_1k = 2.0

[quotas.tenants.agents-b]
tokens_per_month = 1

[channels]
telegram_api_base = "{}"
"#,
        fake.base("openai"),
        fake.base("anthropic"),
        fake.telegram_base()
    )
}

fn agent(name: &str, provider: &str, model: &str) -> Value {
    json!({"name": name, "provider": provider, "model": model, "skills": ["notes"], "api_key_secret": "LLM_KEY",
           "system_prompt": "You keep notes."})
}

#[test]
fn agents_are_managed_talked_to_metered_and_kept_to_their_tenant() {
    let gw = Gateway::start_with_config(&config());
    let a = tenant(&gw, "agents-a");
    let b = tenant(&gw, "agents-b");
    for t in [&a, &b] {
        install(&gw, &t.id, ADMIN_KEY, "notes", false);
        let body = crate::harness::Body::Raw("application/octet-stream", FAKE_KEY.as_bytes().to_vec());
        assert_eq!(gw.req("PUT", &t.path("/secrets/LLM_KEY"), Some(&t.admin), body).status, 204);
    }
    // Admins manage agents; members may not.
    gw.post("/v1/agents", Some(&a.member), agent("helper", "openai", "gpt-test"))
        .expect_error(403, "forbidden");
    let created = gw.post("/v1/agents", Some(&a.admin), agent("helper", "openai", "gpt-test")).expect(201);
    assert_eq!(created["max_steps"], 8, "defaults are filled in: {created}");
    gw.post("/v1/agents", Some(&a.admin), agent("helper", "openai", "gpt-test"))
        .expect_error(409, "conflict");
    let e =
        gw.post("/v1/agents", Some(&a.admin), agent("x", "nowhere", "m")).expect_error(400, "invalid-input");
    assert!(e.contains("nowhere"), "{e}");
    gw.post("/v1/agents", Some(&a.admin), agent("claude", "claude", "claude-test")).expect(201);
    // Replacing: an admin may, a member may not, and only an agent that exists.
    let mut changed = agent("claude", "claude", "claude-test");
    changed["max_steps"] = json!(3);
    gw.req("PUT", "/v1/agents/claude", Some(&a.member), crate::harness::Body::Json(changed.clone()))
        .expect_error(403, "forbidden");
    let r =
        gw.req("PUT", "/v1/agents/claude", Some(&a.admin), crate::harness::Body::Json(changed)).expect(200);
    assert_eq!(r["max_steps"], 3, "{r}");
    let ghost = agent("ghost", "claude", "m");
    gw.req("PUT", "/v1/agents/ghost", Some(&a.admin), crate::harness::Body::Json(ghost))
        .expect_error(404, "not-found");
    let list = gw.get("/v1/agents", Some(&a.member)).expect(200);
    assert_eq!(list["agents"].as_array().unwrap().len(), 2, "{list}");

    // A member talks to the agent as a peer; the agent calls notes.
    // Memory is the peer's within the tenant, shared by its agents: alice's
    // second note (through the second agent) is number 2.
    for (n, name) in ["helper", "claude"].into_iter().enumerate() {
        let r = gw
            .post(
                &format!("/v1/agents/{name}/messages"),
                Some(&a.member),
                json!({"peer": "alice", "text": "note hi"}),
            )
            .expect(200);
        assert_eq!(r["reply"], format!(r#"noted: {{"id":"0000000{}"}}"#, n + 1), "{name}: {r}");
        assert_eq!(r["tool_calls"], json!([{"skill": "notes"}]));
        let s = gw.get(&format!("/v1/agents/{name}/sessions/alice"), Some(&a.member)).expect(200);
        assert_eq!(s["turns"][0], json!({"role": "user", "text": "note hi"}), "{s}");
        // bob has his own numbering: alice's notes are not his.
        let r = gw
            .post(
                &format!("/v1/agents/{name}/messages"),
                Some(&a.member),
                json!({"peer": "bob", "text": "note yo"}),
            )
            .expect(200);
        assert_eq!(r["reply"], format!(r#"noted: {{"id":"0000000{}"}}"#, n + 1), "{r}");
        gw.delete(&format!("/v1/agents/{name}/sessions/bob"), Some(&a.member)).expect(200);
        gw.get(&format!("/v1/agents/{name}/sessions/bob"), Some(&a.member)).expect(200);
    }
    // The sessions, listed by peer: alice's (bob's was forgotten).
    for name in ["helper", "claude"] {
        let list = gw.get(&format!("/v1/agents/{name}/sessions"), Some(&a.member)).expect(200);
        let peers: Vec<&str> =
            list["sessions"].as_array().unwrap().iter().map(|s| s["peer"].as_str().unwrap()).collect();
        assert_eq!(peers, ["alice"], "{list}");
        assert!(list["sessions"][0]["turns"].as_u64().unwrap() >= 2, "{list}");
        assert_eq!(list["next"], Value::Null);
    }
    gw.post("/v1/agents/helper/messages", Some(&a.member), json!({"peer": "carl", "text": "note x"}))
        .expect(200);
    let page = gw.get("/v1/agents/helper/sessions?limit=1", Some(&a.member)).expect(200);
    assert_eq!((page["sessions"][0]["peer"].as_str(), page["next"].as_str()), (Some("alice"), Some("alice")));
    let rest = gw.get("/v1/agents/helper/sessions?after=alice", Some(&a.member)).expect(200);
    assert_eq!(rest["sessions"][0]["peer"], "carl", "{rest}");
    // Denied: a guest, another tenant, bad bounds, a missing agent.
    gw.get("/v1/agents/helper/sessions", Some(&a.guest)).expect_error(403, "forbidden");
    gw.get("/v1/tenants/agents-a/agents/helper/sessions", Some(&b.admin)).expect_error(404, "not-found");
    gw.get("/v1/agents/helper/sessions", Some(&b.member)).expect_error(404, "not-found");
    gw.get("/v1/agents/helper/sessions?limit=0", Some(&a.member)).expect_error(400, "invalid-input");
    gw.get("/v1/agents/helper/sessions?limit=101", Some(&a.member)).expect_error(400, "invalid-input");
    gw.get("/v1/agents/nope/sessions", Some(&a.member)).expect_error(404, "not-found");
    let cli = gw.cli(
        &["agent", "sessions", "agents-a", "helper"],
        &[("WASMCLAW_ADMIN_KEY", crate::harness::ADMIN_KEY)],
        None,
    );
    let text = cli.ok();
    assert!(text.starts_with("PEER") && text.contains("alice") && text.contains("carl"), "{text}");

    // Bad input is a 4xx with the error shape.
    let msg = |body: Value| gw.post("/v1/agents/helper/messages", Some(&a.member), body);
    msg(json!({"peer": "../x", "text": "hi"})).expect_error(400, "invalid-input");
    msg(json!({"peer": "alice"})).expect_error(400, "invalid-input");
    msg(json!({"peer": "alice", "text": ""})).expect_error(400, "invalid-input");
    msg(json!({"peer": "alice", "text": "fail 400"})).expect_error(502, "provider");
    gw.post("/v1/agents/nope/messages", Some(&a.member), json!({"peer": "a", "text": "hi"}))
        .expect_error(404, "not-found");

    // Tenant B sees nothing of A's agents, on either path form.
    gw.get("/v1/tenants/agents-a/agents/helper", Some(&b.admin)).expect_error(404, "not-found");
    gw.post(
        "/v1/tenants/agents-a/agents/helper/messages",
        Some(&b.member),
        json!({"peer": "alice", "text": "history"}),
    )
    .expect_error(404, "not-found");
    gw.get("/v1/agents/helper", Some(&b.member)).expect_error(404, "not-found");
    gw.get("/v1/tenants/agents-a/agents/helper/sessions/alice", Some(&b.admin))
        .expect_error(404, "not-found");

    // Usage: model tokens priced by the rate card (gpt-test: 1 per 1k in, 2 per 1k out).
    let u = gw.get("/v1/usage", Some(&a.member)).expect(200);
    let helper = u["models"].as_array().unwrap().iter().find(|m| m["agent"] == "helper").unwrap().clone();
    let (input, output) =
        (helper["input_tokens"].as_f64().unwrap(), helper["output_tokens"].as_f64().unwrap());
    assert!(input > 0.0 && output > 0.0, "{helper}");
    let cost = helper["cost"].as_f64().unwrap();
    assert!((cost - (input / 1000.0 + output * 2.0 / 1000.0)).abs() < 1e-9, "{helper}");

    // B's quota is one token a month: its first message passes, the next is 429.
    gw.post("/v1/agents", Some(&b.admin), agent("helper", "openai", "gpt-test")).expect(201);
    let say = |text: &str| {
        gw.post("/v1/agents/helper/messages", Some(&b.member), json!({"peer": "carol", "text": text}))
    };
    say("hello").expect(200);
    let e = say("again").expect_error(429, "quota-exceeded");
    assert!(e.contains("model tokens this month"), "{e}");
    // …while A carries on.
    msg(json!({"peer": "alice", "text": "hello"})).expect(200);

    // Removing the agent removes its sessions.
    gw.delete("/v1/agents/helper", Some(&a.member)).expect_error(403, "forbidden");
    gw.delete("/v1/agents/helper", Some(&a.admin)).expect(200);
    gw.get("/v1/agents/helper/sessions/alice", Some(&a.member)).expect_error(404, "not-found");
    assert_eq!(fake_llm().violations(), Vec::<String>::new());
}

/// Puts `value` in tenant secret `name` (204).
fn put_secret(gw: &Gateway, t: &crate::harness::Tenant, name: &str, value: &str) {
    let body = crate::harness::Body::Raw("application/octet-stream", value.as_bytes().to_vec());
    assert_eq!(gw.req("PUT", &t.path(&format!("/secrets/{name}")), Some(&t.admin), body).status, 204);
}

#[test]
fn a_telegram_bot_answers_through_the_gateway_and_keeps_media_to_its_tenant() {
    let gw = Gateway::start_with_config(&config());
    let fake = fake_llm();
    let t = tenant(&gw, "tg-a");
    let other = tenant(&gw, "tg-b");
    for x in [&t, &other] {
        install(&gw, &x.id, ADMIN_KEY, "notes", false);
        put_secret(&gw, x, "LLM_KEY", FAKE_KEY);
        put_secret(&gw, x, "TG_TOKEN", wasmclaw_tests::fake_llm::FAKE_BOT_TOKEN);
        put_secret(&gw, x, "TG_HOOK", &format!("secret-token-{}", x.id));
        gw.post("/v1/agents", Some(&x.admin), agent("helper", "openai", "gpt-test")).expect(201);
    }
    let channel = json!({"name": "tg", "kind": "telegram", "agent": "helper", "secret": "TG_HOOK", "bot_token_secret": "TG_TOKEN"});
    gw.post("/v1/channels", Some(&t.member), channel.clone()).expect_error(403, "forbidden");
    let added = gw.post("/v1/channels", Some(&t.admin), channel.clone()).expect(201);
    assert_eq!(added["endpoint"], "/v1/inbound/tg-a/tg");
    gw.post("/v1/channels", Some(&other.admin), channel).expect(201);

    let png: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR gateway test";
    fake.add_telegram_file("gw-photo", "photos/gw.png", png);
    let chat = 770_001;
    let update = json!({"update_id": 1, "message": {"message_id": 1, "from": {"id": chat, "is_bot": false},
        "chat": {"id": chat, "type": "private"}, "caption": "note a photo",
        "photo": [{"file_id": "gw-photo", "file_size": png.len(), "width": 1, "height": 1}]}});
    let send = |path: &str, token: Option<&str>| {
        let headers: Vec<(&str, &str)> =
            token.map(|tok| ("x-telegram-bot-api-secret-token", tok)).into_iter().collect();
        gw.req_with("POST", path, None, &headers, crate::harness::Body::Json(update.clone()))
    };
    let r = send("/v1/inbound/tg-a/tg", Some("secret-token-tg-a")).expect(200);
    assert_eq!(r["outcome"], "replied", "{r}");
    assert_eq!(r["reply"], r#"noted: {"id":"00000001"}"#);
    assert!(fake.telegram_sent().contains(&(chat, r#"noted: {"id":"00000001"}"#.to_string())));
    // The photo is in tg-a's files (the peer's media/), nowhere in tg-b's.
    let media = gw
        .data_dir()
        .join("tenants/tg-a/files/users")
        .join(wasmclaw_tests::user_dir_name("telegram:770001"))
        .join("media");
    let files: Vec<_> = std::fs::read_dir(&media).unwrap().collect();
    assert_eq!(files.len(), 1);
    assert!(!gw.data_dir().join("tenants/tg-b/files/users").exists());

    // Refusals: all 401, the same message, nothing sent.
    let sent = fake.telegram_sent().len();
    let mut messages = Vec::new();
    for (path, token) in [
        ("/v1/inbound/tg-a/tg", None),
        ("/v1/inbound/tg-a/tg", Some("secret-token-tg-b")),
        ("/v1/inbound/tg-b/tg", Some("secret-token-tg-a")),
        ("/v1/inbound/tg-a/nosuch", Some("secret-token-tg-a")),
        ("/v1/inbound/nosuch/tg", Some("secret-token-tg-a")),
    ] {
        messages.push(send(path, token).expect_error(401, "unauthorized"));
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(fake.telegram_sent().len(), sent);
    assert_eq!(fake.violations(), Vec::<String>::new());
}
