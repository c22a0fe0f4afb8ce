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
"#,
        fake.base("openai"),
        fake.base("anthropic")
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
