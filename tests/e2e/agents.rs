//! Agents end to end: the real runtime, the real `notes` skill, and a fake
//! provider on 127.0.0.1:0 speaking both wire formats (it validates every
//! request; the tests assert it saw no violation).

use serde_json::{Value, json};
use std::sync::Arc;
use wasmclaw::clock::ManualClock;
use wasmclaw::config::Quota;
use wasmclaw::installed::SkillSource;
use wasmclaw::llm::{Kind, ProviderConfig};
use wasmclaw::records::{AgentSpec, Turn};
use wasmclaw::{Error, Runtime, RuntimeConfig, UserId};
use wasmclaw_tests::fake_llm::{FAKE_KEY, FakeLlm};
use wasmclaw_tests::{package, tenant, trust_tests};

const T0: u64 = 1_795_000_000; // 2026-11-18
/// The environment variable holding the operator-level key in these tests.
const OPERATOR_KEY_ENV: &str = "WASMCLAW_TEST_FAKE_LLM_KEY";

fn provider(fake: &FakeLlm, kind: Kind, format: &str) -> ProviderConfig {
    ProviderConfig {
        kind,
        base_url: Some(fake.base(format)),
        api_key_env: Some(OPERATOR_KEY_ENV.into()),
        timeout_secs: 10,
        max_retries: 1,
    }
}

async fn setup_with(fake: &FakeLlm, tweak: impl FnOnce(&mut RuntimeConfig)) -> (tempfile::TempDir, Runtime) {
    // SAFETY: set once, to the same value, before any runtime reads it.
    unsafe { std::env::set_var(OPERATOR_KEY_ENV, FAKE_KEY) };
    let dir = tempfile::tempdir().unwrap();
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    config.pool.max_instances = 64;
    config.providers.insert("openai".into(), provider(fake, Kind::Openai, "openai"));
    config.providers.insert("anthropic".into(), provider(fake, Kind::Anthropic, "anthropic"));
    tweak(&mut config);
    let rt = Runtime::with_clock(config, Arc::new(ManualClock::new(T0))).unwrap();
    trust_tests(&rt);
    for t in ["acme", "globex"] {
        rt.create_tenant("operator", &tenant(t)).unwrap();
        rt.install_skill("operator", &tenant(t), SkillSource::Package(package("notes")), Default::default())
            .await
            .unwrap();
        rt.put_secret("operator", &tenant(t), "LLM_KEY", FAKE_KEY.as_bytes()).unwrap();
    }
    (dir, rt)
}

fn agent(name: &str, provider: &str, extra: Value) -> AgentSpec {
    let mut v = json!({
        "name": name, "provider": provider, "model": format!("{provider}-model"),
        "system_prompt": "You keep notes.", "skills": ["notes"], "api_key_secret": "LLM_KEY",
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn peer(p: &str) -> UserId {
    UserId::parse(p).unwrap()
}

async fn say(
    rt: &Runtime,
    t: &str,
    agent: &str,
    p: &str,
    text: &str,
) -> Result<wasmclaw::agents::AgentReply, Error> {
    rt.agent_message("test", &tenant(t), agent, &peer(p), text).await
}

#[tokio::test]
async fn a_conversation_through_each_provider_format_calls_notes_and_answers() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |_| {}).await;
    for format in ["openai", "anthropic"] {
        rt.agent_put("test", &tenant("acme"), &agent(format, format, json!({})), true).unwrap();
        let r = say(&rt, "acme", format, "alice", "note buy milk").await.unwrap();
        assert_eq!(r.reply, r#"noted: {"id":"00000001"}"#, "{format}");
        assert_eq!(r.steps, 1);
        assert_eq!(r.tool_calls.len(), 1);
        assert_eq!((r.tool_calls[0].skill.as_str(), r.tool_calls[0].error.as_deref()), ("notes", None));
        let r = say(&rt, "acme", format, "alice", "list notes").await.unwrap();
        assert_eq!(r.reply, r#"notes: {"notes":[{"id":"00000001","text":"buy milk"}]}"#, "{format}");
        // The model is sent the stored history: both earlier messages.
        let r = say(&rt, "acme", format, "alice", "history").await.unwrap();
        assert_eq!(r.reply, "note buy milk | list notes | history");
        assert_eq!(r.steps, 0);
        let s = rt.session(&tenant("acme"), format, &peer("alice")).unwrap();
        assert_eq!(s.turns.len(), 3 * 2 + 2 * 2, "{:?}", s.turns);
        assert!(matches!(&s.turns[1], Turn::Assistant { tool_calls, .. } if tool_calls[0].name == "notes"));
        // The note is in alice's own memory scope, not the tenant-wide one.
        let mine = rt.memory_entries(&tenant("acme"), Some(&peer("alice")), "note:").unwrap();
        assert_eq!(mine.len(), 1);
        assert!(rt.memory_entries(&tenant("acme"), None, "note:").unwrap().is_empty());
        rt.delete_memory("test", &tenant("acme"), Some(&peer("alice")), "note:00000001").unwrap();
        rt.delete_memory("test", &tenant("acme"), Some(&peer("alice")), "meta:next-id").unwrap();
    }
    assert_eq!(fake.violations(), Vec::<String>::new());
    let formats: Vec<&str> = fake.received().iter().map(|r| r.format).collect();
    assert!(formats.contains(&"openai") && formats.contains(&"anthropic"));
    // Usage: 2 tool steps + 3 answers per format, 5 output tokens each.
    let usage = rt.model_usage(&tenant("acme"), T0).unwrap();
    assert_eq!(usage.len(), 2);
    for u in &usage {
        assert_eq!(
            (u.usage.turns, u.usage.requests, u.usage.tool_calls, u.usage.output_tokens),
            (3, 5, 2, 25),
            "{u:?}"
        );
        assert!(u.usage.input_tokens > 0);
        assert!(u.usage.tool_fuel > 0 && u.usage.wall_us > 0, "{u:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_and_two_peers_talk_at_once_without_cross_talk() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |_| {}).await;
    for t in ["acme", "globex"] {
        // globex uses the operator's key (no tenant secret named).
        let extra = if t == "globex" { json!({"api_key_secret": null}) } else { json!({}) };
        rt.agent_put("test", &tenant(t), &agent("helper", "openai", extra), true).unwrap();
    }
    let mut talks = Vec::new();
    for t in ["acme", "globex"] {
        for p in ["alice", "bob"] {
            let rt = rt.clone();
            talks.push(tokio::spawn(async move {
                let secret = format!("{t}-{p}-secret");
                let mut replies = Vec::new();
                for text in
                    [format!("note {secret}"), "export notes".into(), "list notes".into(), "history".into()]
                {
                    replies.push(say(&rt, t, "helper", p, &text).await.unwrap().reply);
                }
                (t, p, replies)
            }));
        }
    }
    for talk in talks {
        let (t, p, replies) = talk.await.unwrap();
        let mine = format!("{t}-{p}-secret");
        assert_eq!(replies[2], format!(r#"notes: {{"notes":[{{"id":"00000001","text":"{mine}"}}]}}"#));
        assert_eq!(replies[3], format!("note {mine} | export notes | list notes | history"));
        for r in &replies {
            for other in ["acme-alice", "acme-bob", "globex-alice", "globex-bob"] {
                if other != format!("{t}-{p}") {
                    assert!(!r.contains(other), "{t}/{p} saw {other}: {r}");
                }
            }
        }
        // Memory, history and files are the peer's own.
        let notes = rt.memory_entries(&tenant(t), Some(&peer(p)), "note:").unwrap();
        assert_eq!(notes.iter().map(|e| e.value.as_str()).collect::<Vec<_>>(), vec![mine.as_str()]);
        let history = rt.session(&tenant(t), "helper", &peer(p)).unwrap();
        let text = serde_json::to_string(&history.turns).unwrap();
        assert!(text.contains(&mine) && text.matches("-secret").count() >= 1);
        assert!(
            !["acme-alice", "acme-bob", "globex-alice", "globex-bob"]
                .iter()
                .any(|o| *o != format!("{t}-{p}") && text.contains(o))
        );
    }
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_files_are_the_peers_own() {
    let fake = FakeLlm::start().await;
    let (d, rt) = setup_with(&fake, |_| {}).await;
    rt.agent_put("test", &tenant("acme"), &agent("helper", "anthropic", json!({})), true).unwrap();
    for p in ["alice", "bob"] {
        say(&rt, "acme", "helper", p, &format!("note {p} only")).await.unwrap();
        let r = say(&rt, "acme", "helper", p, "export notes").await.unwrap();
        assert_eq!(r.reply, r#"exported: {"path":"notes.json","count":1}"#);
    }
    // Each peer's notes.json is in its own directory; nothing at the tenant root.
    let root = d.path().join("data/tenants/acme/files");
    assert!(!root.join("notes.json").exists());
    let mut found = Vec::new();
    for entry in std::fs::read_dir(root.join("users")).unwrap() {
        found.push(std::fs::read_to_string(entry.unwrap().path().join("notes.json")).unwrap());
    }
    found.sort();
    assert_eq!(found.len(), 2);
    assert!(found[0].contains("alice only") && !found[0].contains("bob only"), "{found:?}");
    assert!(found[1].contains("bob only") && !found[1].contains("alice only"), "{found:?}");
}

#[tokio::test]
async fn the_step_limit_ends_a_turn_that_never_answers() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |_| {}).await;
    rt.agent_put("test", &tenant("acme"), &agent("helper", "anthropic", json!({"max_steps": 3})), true)
        .unwrap();
    let e = say(&rt, "acme", "helper", "alice", "loop").await.unwrap_err();
    assert!(matches!(&e, Error::StepLimit(m) if m.contains("3 times")), "{e}");
    assert_eq!(e.exit_code(), 26);
    // The unanswered turn is not kept; its usage is.
    assert!(rt.session(&tenant("acme"), "helper", &peer("alice")).unwrap().turns.is_empty());
    let u = &rt.model_usage(&tenant("acme"), T0).unwrap()[0].usage;
    assert_eq!((u.turns, u.requests, u.tool_calls, u.errors), (1, 4, 3, 1));
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn provider_errors_are_surfaced_cleanly_and_a_transient_one_is_retried() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |_| {}).await;
    for f in ["openai", "anthropic"] {
        rt.agent_put("test", &tenant("acme"), &agent(f, f, json!({})), true).unwrap();
        let e = say(&rt, "acme", f, "alice", "fail 400").await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("provider: agent {f} ({f}): the provider answered 400: scripted failure 400")
        );
        assert_eq!(e.kind(), "provider");
        let e = say(&rt, "acme", f, "alice", "leak").await.unwrap_err();
        assert!(e.to_string().contains("[redacted]") && !e.to_string().contains(FAKE_KEY), "{e}");
        let before = fake.received().len();
        let e = say(&rt, "acme", f, "alice", "fail 500").await.unwrap_err();
        assert!(e.to_string().contains("answered 500"), "{e}");
        assert_eq!(fake.received().len() - before, 2, "a 5xx is retried max_retries (1) times");
        let r = say(&rt, "acme", f, "alice", "flaky").await.unwrap();
        assert_eq!(r.reply, "echo: flaky", "{f}: a 503 then a success is a success");
        // A tool the agent does not have is a typed error the model sees.
        let r = say(&rt, "acme", f, "alice", "call nosuch {}").await.unwrap();
        assert_eq!(r.tool_calls[0].error.as_deref(), Some("not-found"));
        assert!(r.reply.starts_with(r#"result: {"error":{"kind":"not-found""#), "{}", r.reply);
        // Failed turns left nothing in the history.
        let s = rt.session(&tenant("acme"), f, &peer("alice")).unwrap();
        assert_eq!(s.turns.iter().filter(|t| matches!(t, Turn::User { .. })).count(), 2);
    }
    // A wrong key is the provider's 401, not retried.
    rt.put_secret("operator", &tenant("acme"), "LLM_KEY", b"sk-wrong").unwrap();
    let e = say(&rt, "acme", "openai", "alice", "hello").await.unwrap_err();
    assert!(e.to_string().contains("answered 401: Incorrect API key"), "{e}");
    // A missing secret is the tenant's to fix.
    rt.agent_put(
        "test",
        &tenant("acme"),
        &agent("nokey", "openai", json!({"api_key_secret": "ABSENT"})),
        true,
    )
    .unwrap();
    let e = say(&rt, "acme", "nokey", "alice", "hello").await.unwrap_err();
    assert!(matches!(&e, Error::InvalidInput(m) if m.contains("ABSENT")), "{e}");
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn agents_are_validated_and_belong_to_their_tenant() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |_| {}).await;
    let acme = tenant("acme");
    let e = rt.agent_put("test", &acme, &agent("x", "nowhere", json!({})), true).unwrap_err();
    assert!(
        e.to_string().contains("provider \"nowhere\" is not configured (configured: anthropic, openai)"),
        "{e}"
    );
    let e =
        rt.agent_put("test", &acme, &agent("x", "openai", json!({"skills": ["weather"]})), true).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    rt.agent_put("test", &acme, &agent("helper", "openai", json!({})), true).unwrap();
    let e = rt.agent_put("test", &acme, &agent("helper", "openai", json!({})), true).unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e}");
    // globex cannot see, talk to or remove acme's agent.
    assert!(matches!(rt.agent(&tenant("globex"), "helper"), Err(Error::NotFound(_))));
    assert!(matches!(say(&rt, "globex", "helper", "alice", "hi").await, Err(Error::NotFound(_))));
    assert!(matches!(rt.agent_remove("test", &tenant("globex"), "helper"), Err(Error::NotFound(_))));
    say(&rt, "acme", "helper", "alice", "hi").await.unwrap();
    assert!(matches!(say(&rt, "acme", "helper", "alice", " ").await, Err(Error::InvalidInput(_))));
    let long = "x".repeat(wasmclaw::agents::MAX_MESSAGE + 1);
    assert!(matches!(say(&rt, "acme", "helper", "alice", &long).await, Err(Error::TooLarge(_))));
    rt.agent_remove("test", &acme, "helper").unwrap();
    assert!(matches!(rt.session(&acme, "helper", &peer("alice")), Err(Error::NotFound(_))));
}

#[tokio::test]
async fn quotas_answer_quota_exceeded_for_that_tenant_only() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |c| {
        c.quotas.tenants.insert("acme".into(), Quota { tokens_per_month: 20, ..Quota::default() });
        c.quotas.tenants.insert("globex".into(), Quota { requests_per_minute: 2, ..Quota::default() });
    })
    .await;
    for t in ["acme", "globex"] {
        rt.agent_put("test", &tenant(t), &agent("helper", "openai", json!({})), true).unwrap();
    }
    // acme: the first message uses 25 tokens, over its 20; the next is refused.
    say(&rt, "acme", "helper", "alice", "hi").await.unwrap();
    let e = say(&rt, "acme", "helper", "alice", "hi again").await.unwrap_err();
    assert!(
        matches!(&e, Error::QuotaExceeded(m) if m.contains("used 25 of its 20 model tokens this month")),
        "{e}"
    );
    assert_eq!(e.kind(), "quota-exceeded");
    // globex is unaffected by acme's quota, and has its own rate.
    say(&rt, "globex", "helper", "alice", "one").await.unwrap();
    say(&rt, "globex", "helper", "bob", "two").await.unwrap();
    let e = say(&rt, "globex", "helper", "alice", "three").await.unwrap_err();
    assert!(matches!(&e, Error::QuotaExceeded(m) if m.contains("over 2 agent messages a minute")), "{e}");
    let audit = rt.audit().read_all().unwrap();
    let refused: Vec<_> = audit.iter().filter(|e| e["action"] == "agent.message").collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|e| e["outcome"].as_str().unwrap().starts_with("refused: ")));
}

#[tokio::test]
async fn in_a_session_a_skill_may_message_only_the_peers_own_contacts() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |_| {}).await;
    let acme = tenant("acme");
    rt.install_skill("operator", &acme, SkillSource::Package(package("notify")), Default::default())
        .await
        .unwrap();
    let policy = |any: bool| {
        let text = format!(
            "[[contacts]]\nname = \"alice-phone\"\nchannel = \"webhook\"\nurl = \"https://hooks.example/a\"\npeer = \"alice\"\n\
             [[contacts]]\nname = \"ops\"\nchannel = \"webhook\"\nurl = \"https://hooks.example/ops\"\n\
             [messaging]\nsessions_message_any = {any}\n"
        );
        wasmclaw::policy::TenantPolicy::parse(&text).unwrap()
    };
    rt.set_policy("operator", &acme, &policy(false)).unwrap();
    rt.agent_put("test", &acme, &agent("helper", "openai", json!({"skills": ["notes", "notify"]})), true)
        .unwrap();
    let send = |p: &'static str, contact: &'static str| {
        let rt = rt.clone();
        async move {
            let text = format!(r#"call notify {{"contact":"{contact}","text":"hello"}}"#);
            say(&rt, "acme", "helper", p, &text).await.unwrap()
        }
    };
    let r = say(&rt, "acme", "helper", "alice", "call notify {}").await.unwrap();
    assert_eq!(r.reply, r#"result: {"contacts":["alice-phone"]}"#, "alice sees only her own contact");
    let r = send("alice", "alice-phone").await;
    assert_eq!(r.tool_calls[0].error, None, "{}", r.reply);
    assert!(r.reply.contains("message_id"), "{}", r.reply);
    for (p, contact) in [("alice", "ops"), ("bob", "alice-phone"), ("bob", "ops")] {
        let r = send(p, contact).await;
        assert_eq!(r.tool_calls[0].error.as_deref(), Some("skill-error"), "{p} → {contact}: {}", r.reply);
        assert!(r.reply.contains("denied"), "{p} → {contact}: {}", r.reply);
    }
    // Outside a session, the skill still reaches every granted contact.
    let bound = rt.installed(&acme, "notify").await.unwrap();
    let out = rt.invoke(&bound, &wasmclaw::Call::default(), "{}").await.unwrap().output;
    assert_eq!(out, r#"{"contacts":["alice-phone","ops"]}"#);
    // The tenant may let sessions message any contact.
    rt.set_policy("operator", &acme, &policy(true)).unwrap();
    let r = send("bob", "ops").await;
    assert_eq!(r.tool_calls[0].error, None, "{}", r.reply);
}

/// How many calls of `skill` the tenant has run.
fn skill_calls(rt: &Runtime, t: &str, skill: &str) -> u64 {
    let rows = rt.usage(Some(&tenant(t))).unwrap();
    rows.iter().filter(|r| r.skill == skill).map(|r| r.totals.calls).sum()
}

#[tokio::test]
async fn one_reply_asking_for_a_thousand_tools_runs_only_the_agents_bound() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup_with(&fake, |_| {}).await;
    let acme = tenant("acme");
    // Allowed: a reply within the bound runs every call it asks for.
    rt.agent_put("test", &acme, &agent("helper", "openai", json!({"max_steps": 1})), true).unwrap();
    let r = say(&rt, "acme", "helper", "alice", r#"fan 3 notes {"op":"list"}"#).await.unwrap();
    assert_eq!(r.tool_calls.len(), 3);
    assert!(r.tool_calls.iter().all(|t| t.error.is_none()), "{:?}", r.tool_calls);
    assert_eq!(skill_calls(&rt, "acme", "notes"), 3);

    // Denied: 1,000 calls in one reply with max_steps = 1 run the default 16;
    // the rest are answered to the model as refused, and the turn still ends.
    let r = say(&rt, "acme", "helper", "alice", r#"fan 1000 notes {"op":"list"}"#).await.unwrap();
    assert_eq!(r.tool_calls.len(), 1000, "every call is answered");
    let refused = r.tool_calls.iter().filter(|t| t.error.as_deref() == Some("limit-exceeded")).count();
    assert_eq!(refused, 1000 - 16);
    assert_eq!(skill_calls(&rt, "acme", "notes"), 3 + 16, "16 skill runs, not 1,000");
    assert_eq!(fake.violations(), Vec::<String>::new(), "each call id was answered");
    assert_eq!(
        r.reply,
        r#"result: {"error":{"kind":"limit-exceeded","message":"refused: a reply may run at most 16 tool calls (max_tool_calls_per_reply)"}}"#
    );

    // The per-turn bound holds over several replies.
    let spec = json!({"max_steps": 4, "max_tool_calls_per_reply": 10, "max_tool_calls_per_turn": 12});
    rt.agent_put("test", &acme, &agent("looper", "openai", spec), true).unwrap();
    let before = skill_calls(&rt, "acme", "notes");
    let e = say(&rt, "acme", "looper", "alice", "loop 10").await.unwrap_err();
    assert!(matches!(e, Error::StepLimit(_)), "{e}");
    assert_eq!(skill_calls(&rt, "acme", "notes") - before, 12, "10, then 2 of 10, then none");
    assert_eq!(fake.violations(), Vec::<String>::new());
    let r = say(&rt, "acme", "looper", "bob", r#"fan 10 notes {"op":"list"}"#).await.unwrap();
    assert_eq!(r.tool_calls.iter().filter(|t| t.error.is_none()).count(), 10);
    let e = rt.agent_put("test", &acme, &agent("x", "openai", json!({"max_tool_calls_per_reply": 0})), true);
    assert!(matches!(e, Err(Error::InvalidInput(_))), "{e:?}");
}

#[tokio::test]
async fn the_turn_deadline_is_checked_between_tool_calls() {
    let fake = FakeLlm::start().await;
    // A one-second turn budget (request_timeout_secs less 5, at least 1).
    let (_d, rt) = setup_with(&fake, |c| c.request_timeout_secs = 1).await;
    let acme = tenant("acme");
    rt.install_skill("operator", &acme, SkillSource::Package(package("sleeper")), Default::default())
        .await
        .unwrap();
    rt.agent_put("test", &acme, &agent("helper", "openai", json!({"skills": ["sleeper"]})), true).unwrap();
    // Each call sleeps past the whole budget: the first runs, the turn then ends.
    let e = say(&rt, "acme", "helper", "alice", r#"fan 5 sleeper {"secs":2}"#).await.unwrap_err();
    assert!(matches!(&e, Error::StepLimit(m) if m.contains("deadline")), "{e}");
    assert_eq!(skill_calls(&rt, "acme", "sleeper"), 1, "no tool call started after the deadline");
}
