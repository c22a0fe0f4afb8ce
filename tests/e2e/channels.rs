//! Inbound channels end to end: a signed webhook and Telegram's webhook
//! mode (with a photo) reach the right tenant's agent as the right peer;
//! every refusal is the same 401; media lands in that tenant's (and peer's)
//! directory only.

use serde_json::json;
use std::sync::Arc;
use wasmclaw::channels::Delivered;
use wasmclaw::clock::ManualClock;
use wasmclaw::installed::SkillSource;
use wasmclaw::llm::{Kind, ProviderConfig};
use wasmclaw::records::{AgentSpec, ChannelKind, ChannelSpec};
use wasmclaw::{Error, Runtime, RuntimeConfig, UserId};
use wasmclaw_tests::fake_llm::{FAKE_BOT_TOKEN, FAKE_KEY, FakeLlm};
use wasmclaw_tests::{package, tenant, trust_tests, user_dir_name};

const T0: u64 = 1_795_000_000;
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake image";

/// The configuration of a runtime over `dir`'s data directory.
fn config(dir: &std::path::Path, fake: &FakeLlm) -> RuntimeConfig {
    let mut config = RuntimeConfig::with_data_dir(dir.join("data"));
    config.pool.max_instances = 64;
    config.providers.insert(
        "openai".into(),
        ProviderConfig {
            kind: Kind::Openai,
            base_url: Some(fake.base("openai")),
            api_key_env: None,
            timeout_secs: 10,
            max_retries: 0,
        },
    );
    config.channels.telegram_api_base = fake.telegram_base();
    config.channels.max_media_bytes = 1024;
    config
}

/// The runtime over `dir`'s data directory again, as after a restart.
fn restart(dir: &std::path::Path, fake: &FakeLlm, config: impl FnOnce(&mut RuntimeConfig)) -> Runtime {
    let mut c = self::config(dir, fake);
    config(&mut c);
    Runtime::with_clock(c, Arc::new(ManualClock::new(T0))).unwrap()
}

async fn setup(fake: &FakeLlm) -> (tempfile::TempDir, Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::with_clock(config(dir.path(), fake), Arc::new(ManualClock::new(T0))).unwrap();
    trust_tests(&rt);
    for t in ["acme", "globex"] {
        let id = tenant(t);
        rt.create_tenant("operator", &id).unwrap();
        rt.install_skill("operator", &id, SkillSource::Package(package("notes")), Default::default())
            .await
            .unwrap();
        rt.put_secret("operator", &id, "LLM_KEY", FAKE_KEY.as_bytes()).unwrap();
        rt.put_secret("operator", &id, "TG_TOKEN", FAKE_BOT_TOKEN.as_bytes()).unwrap();
        rt.put_secret("operator", &id, "TG_HOOK", format!("hook-secret-of-{t}").as_bytes()).unwrap();
        rt.put_secret("operator", &id, "HOOK_KEY", format!("hmac-key-of-{t}").as_bytes()).unwrap();
        let agent: AgentSpec = serde_json::from_value(json!({
            "name": "helper", "provider": "openai", "model": "m", "skills": ["notes"], "api_key_secret": "LLM_KEY",
        }))
        .unwrap();
        rt.agent_put("operator", &id, &agent, true).unwrap();
        let tg = ChannelSpec {
            name: "tg".into(),
            kind: ChannelKind::Telegram,
            agent: "helper".into(),
            secret: "TG_HOOK".into(),
            bot_token_secret: Some("TG_TOKEN".into()),
        };
        rt.channel_add("operator", &id, &tg).unwrap();
        let hook = ChannelSpec {
            name: "hook".into(),
            kind: ChannelKind::Webhook,
            agent: "helper".into(),
            secret: "HOOK_KEY".into(),
            bot_token_secret: None,
        };
        rt.channel_add("operator", &id, &hook).unwrap();
    }
    (dir, rt)
}

fn update(id: i64, from: i64, message: serde_json::Value) -> Vec<u8> {
    let mut m = message;
    m["from"] = json!({"id": from, "is_bot": false, "first_name": "A"});
    m["chat"] = json!({"id": from, "type": "private"});
    m["message_id"] = json!(id);
    json!({"update_id": id, "message": m}).to_string().into_bytes()
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_telegram_photo_lands_in_the_right_tenants_media_and_the_reply_goes_back() {
    let fake = FakeLlm::start().await;
    let (d, rt) = setup(&fake).await;
    fake.add_telegram_file("photo-big", "photos/file_1.jpg", PNG);
    let body = update(
        1,
        42,
        json!({"caption": "note my receipt", "photo": [
            {"file_id": "photo-small", "file_size": 10, "width": 90, "height": 90},
            {"file_id": "photo-big", "file_size": PNG.len(), "width": 800, "height": 800},
        ]}),
    );
    let done = rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &body).await.unwrap();
    let Delivered::Replied { reply } = done else { panic!("{done:?}") };
    assert_eq!(reply.reply, r#"noted: {"id":"00000001"}"#);
    // The photo is in acme's directory, under the peer's media/, with a random name.
    let peer_dir = format!("users/{}", user_dir_name("telegram:42"));
    let acme = files_under(&d.path().join("data/tenants/acme/files"));
    assert_eq!(acme.len(), 1, "{acme:?}");
    assert!(acme[0].starts_with(&format!("{peer_dir}/media/")) && acme[0].ends_with(".png"), "{acme:?}");
    assert_eq!(std::fs::read(d.path().join("data/tenants/acme/files").join(&acme[0])).unwrap(), PNG);
    assert!(files_under(&d.path().join("data/tenants/globex/files")).is_empty(), "globex got nothing");
    // The model was told where the photo is; the note (in the peer's memory) says so.
    let notes =
        rt.memory_entries(&tenant("acme"), Some(&UserId::parse("telegram:42").unwrap()), "note:").unwrap();
    let saved = acme[0].strip_prefix(&format!("{peer_dir}/")).unwrap();
    assert_eq!(notes[0].value, format!("my receipt\n[photo saved as {saved}]"));
    // The reply went to the chat through sendMessage.
    assert_eq!(fake.telegram_sent(), vec![(42, r#"noted: {"id":"00000001"}"#.to_string())]);

    // A plain text message: the same peer's session carries on.
    let body = update(2, 42, json!({"text": "history"}));
    rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &body).await.unwrap();
    assert!(fake.telegram_sent()[1].1.starts_with("note my receipt"), "{:?}", fake.telegram_sent());

    // A file that is not an accepted type, or too large, is refused and the chat told.
    fake.add_telegram_file("exe", "documents/file_2.exe", b"MZ\x90\0\x03\0\0\0");
    fake.add_telegram_file("huge", "documents/file_3.txt", &[b'a'; 2048]);
    for (n, id, why) in [(3, "exe", "not an accepted type"), (4, "huge", "larger than 1024 bytes")] {
        let body = update(n, 42, json!({"document": {"file_id": id, "file_name": "x"}}));
        let done = rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &body).await.unwrap();
        assert!(matches!(done, Delivered::Failed { .. }), "{done:?}");
        let told = fake.telegram_sent().last().unwrap().1.clone();
        assert!(told.starts_with("I could not take that document") && told.contains(why), "{told}");
    }
    assert_eq!(files_under(&d.path().join("data/tenants/acme/files")).len(), 1, "nothing refused was kept");

    // An update that carries nothing to answer is acknowledged and ignored.
    let sticker = update(5, 42, json!({"sticker": {"file_id": "s"}}));
    let done = rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &sticker).await.unwrap();
    assert!(matches!(done, Delivered::Ignored));
    // An update Telegram redelivers is taken once.
    let sent = fake.telegram_sent().len();
    let again = update(2, 42, json!({"text": "history"}));
    let done = rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &again).await.unwrap();
    assert!(matches!(done, Delivered::Ignored), "{done:?}");
    assert_eq!(fake.telegram_sent().len(), sent, "no second reply");
    assert_eq!(fake.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn telegram_refuses_a_wrong_or_another_tenants_secret_token_the_same_way() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup(&fake).await;
    let body = update(1, 7, json!({"text": "hi"}));
    let refusals = [
        ("acme", "tg", None),
        ("acme", "tg", Some("wrong")),
        ("acme", "tg", Some("hook-secret-of-globex")), // another tenant's token
        ("globex", "tg", Some("hook-secret-of-acme")),
        ("acme", "nosuch", Some("hook-secret-of-acme")),
        ("acme", "hook", Some("hook-secret-of-acme")), // a webhook channel is not telegram
        ("no-such-tenant", "tg", Some("x")),
        ("../acme", "tg", Some("hook-secret-of-acme")),
    ];
    let mut messages = Vec::new();
    for (t, c, token) in refusals {
        let e = rt.channel_telegram(t, c, token, &body).await.unwrap_err();
        assert!(matches!(e, Error::Unauthorized(_)), "{t}/{c}: {e}");
        messages.push(e.to_string());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "every refusal reads the same: {messages:?}");
    assert!(fake.telegram_sent().is_empty() && fake.received().is_empty(), "nothing reached an agent");
    let audit = rt.audit().read_all().unwrap();
    let refused = audit.iter().filter(|e| e["action"] == "channel.inbound").count();
    assert_eq!(refused, 4, "refusals on a real channel are audited");
}

#[tokio::test]
async fn a_signed_webhook_reaches_the_agent_as_its_sender() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup(&fake).await;
    let body = json!({"sender": "customer-17", "text": "note call back"}).to_string();
    let sign = |key: &str, ts: u64| wasmclaw::messaging::sign(key.as_bytes(), ts, body.as_bytes());
    let good = sign("hmac-key-of-acme", T0);
    let ts = T0.to_string();
    let reply = rt.channel_webhook("acme", "hook", Some(&ts), Some(&good), body.as_bytes()).await.unwrap();
    assert_eq!(reply.reply, r#"noted: {"id":"00000001"}"#);
    // The same signed request again is a replay: refused, nothing noted twice.
    let e = rt.channel_webhook("acme", "hook", Some(&ts), Some(&good), body.as_bytes()).await.unwrap_err();
    assert!(matches!(&e, Error::Conflict(m) if m.contains("replay")), "{e}");
    let peer = UserId::parse("customer-17").unwrap();
    assert_eq!(rt.memory_entries(&tenant("acme"), Some(&peer), "note:").unwrap()[0].value, "call back");
    assert!(rt.memory_entries(&tenant("globex"), Some(&peer), "note:").unwrap().is_empty());

    let stale = (T0 - 301).to_string();
    let old = sign("hmac-key-of-acme", T0 - 301);
    let other = sign("hmac-key-of-globex", T0);
    let tampered = json!({"sender": "customer-17", "text": "note evil"}).to_string();
    for (t, ts, sig, b) in [
        ("acme", Some(ts.as_str()), Some(other.as_str()), body.as_str()), // globex's key
        ("globex", Some(ts.as_str()), Some(good.as_str()), body.as_str()), // acme's signature at globex
        ("acme", Some(stale.as_str()), Some(old.as_str()), body.as_str()), // too old
        ("acme", None, Some(good.as_str()), body.as_str()),
        ("acme", Some(ts.as_str()), None, body.as_str()),
        ("acme", Some(ts.as_str()), Some(good.as_str()), tampered.as_str()),
    ] {
        let e = rt.channel_webhook(t, "hook", ts, sig, b.as_bytes()).await.unwrap_err();
        assert!(matches!(e, Error::Unauthorized(_)), "{t}: {e}");
    }
    // A well-signed body that is not {"sender","text"} is the sender's error.
    let junk = r#"{"from":"x"}"#;
    let sig = wasmclaw::messaging::sign(b"hmac-key-of-acme", T0, junk.as_bytes());
    let e = rt.channel_webhook("acme", "hook", Some(&ts), Some(&sig), junk.as_bytes()).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
    assert_eq!(
        rt.memory_entries(&tenant("acme"), Some(&peer), "note:").unwrap().len(),
        1,
        "nothing else got in"
    );
}

#[tokio::test]
async fn channels_are_checked_when_added() {
    let fake = FakeLlm::start().await;
    let (_d, rt) = setup(&fake).await;
    let acme = tenant("acme");
    let spec = |name: &str, kind, agent: &str, secret: &str, bot: Option<&str>| ChannelSpec {
        name: name.into(),
        kind,
        agent: agent.into(),
        secret: secret.into(),
        bot_token_secret: bot.map(str::to_string),
    };
    let cases = [
        (spec("tg", ChannelKind::Webhook, "helper", "HOOK_KEY", None), "conflict"),
        (spec("Bad", ChannelKind::Webhook, "helper", "HOOK_KEY", None), "invalid-input"),
        (spec("x", ChannelKind::Webhook, "nobody", "HOOK_KEY", None), "not-found"),
        (spec("x", ChannelKind::Webhook, "helper", "MISSING", None), "invalid-input"),
        (spec("x", ChannelKind::Telegram, "helper", "TG_HOOK", None), "invalid-input"),
        (spec("x", ChannelKind::Webhook, "helper", "HOOK_KEY", Some("TG_TOKEN")), "invalid-input"),
    ];
    for (s, kind) in cases {
        let e = rt.channel_add("operator", &acme, &s).unwrap_err();
        assert_eq!(e.kind(), kind, "{s:?}: {e}");
    }
    assert_eq!(rt.channels(&acme).unwrap().len(), 2);
    rt.channel_remove("operator", &acme, "tg").unwrap();
    assert!(matches!(rt.channel_remove("operator", &tenant("globex"), "nosuch"), Err(Error::NotFound(_))));
    assert_eq!(rt.channels(&tenant("globex")).unwrap().len(), 2, "globex keeps its own");
}

#[tokio::test]
async fn a_symlink_planted_in_a_tenants_files_never_leads_the_host_into_another_tenant() {
    // A tenant's own (tenant-wide) skill can create relative symlinks inside
    // its root; here the host plants them where the user and media
    // directories go, pointing at globex's files.
    let fake = FakeLlm::start().await;
    let (d, rt) = setup(&fake).await;
    let files = d.path().join("data/tenants");
    std::fs::create_dir_all(files.join("globex/files")).unwrap();
    let users = files.join("acme/files/users");
    std::fs::create_dir_all(&users).unwrap();
    std::os::unix::fs::symlink("../../../globex/files", users.join(user_dir_name("alice"))).unwrap();
    std::fs::create_dir_all(users.join(user_dir_name("telegram:42"))).unwrap();
    std::os::unix::fs::symlink(
        "../../../../globex/files",
        users.join(user_dir_name("telegram:42")).join("media"),
    )
    .unwrap();

    // A call for alice is refused rather than rooted in globex's files.
    let notes = rt.installed(&tenant("acme"), "notes").await.unwrap();
    let call = wasmclaw::Call { user: Some(UserId::parse("alice").unwrap()), ..Default::default() };
    let e = rt.invoke(&notes, &call, r#"{"op":"export"}"#).await.unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    // A photo for telegram:42 is refused rather than written into globex's files.
    fake.add_telegram_file("p", "photos/p.png", PNG);
    let body = update(1, 42, json!({"photo": [{"file_id": "p", "file_size": PNG.len()}]}));
    let done = rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &body).await.unwrap();
    assert!(matches!(done, Delivered::Failed { .. }), "{done:?}");
    let told = fake.telegram_sent().last().unwrap().1.clone();
    assert_eq!(told, "I could not take that photo: it could not be stored", "no host path in the chat");
    assert!(files_under(&files.join("globex/files")).is_empty(), "nothing reached globex");
}

#[tokio::test]
async fn a_webhook_resent_in_another_hex_case_or_after_a_restart_is_a_replay() {
    let fake = FakeLlm::start().await;
    let (d, rt) = setup(&fake).await;
    let body = json!({"sender": "customer-17", "text": "note once"}).to_string();
    let good = wasmclaw::messaging::sign(b"hmac-key-of-acme", T0, body.as_bytes());
    let ts = T0.to_string();
    rt.channel_webhook("acme", "hook", Some(&ts), Some(&good), body.as_bytes()).await.unwrap();
    let upper = format!("v1={}", good.strip_prefix("v1=").unwrap().to_uppercase());
    let mixed: String =
        good.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect();
    let mixed = format!("v1={}", &mixed[3..]);
    for sig in [upper.as_str(), mixed.as_str(), &format!("  {good} ")] {
        let e = rt.channel_webhook("acme", "hook", Some(&ts), Some(sig), body.as_bytes()).await.unwrap_err();
        assert!(matches!(&e, Error::Conflict(m) if m.contains("replay")), "{sig}: {e}");
    }
    drop(rt);
    let rt = restart(d.path(), &fake, |_| {});
    let e = rt.channel_webhook("acme", "hook", Some(&ts), Some(&good), body.as_bytes()).await.unwrap_err();
    assert!(matches!(&e, Error::Conflict(m) if m.contains("replay")), "after a restart: {e}");
    let peer = UserId::parse("customer-17").unwrap();
    assert_eq!(rt.memory_entries(&tenant("acme"), Some(&peer), "note:").unwrap().len(), 1, "noted once");
}

#[tokio::test]
async fn a_telegram_update_redelivered_after_a_restart_is_ignored() {
    let fake = FakeLlm::start().await;
    let (d, rt) = setup(&fake).await;
    let body = update(7, 42, json!({"text": "note once"}));
    let done = rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &body).await.unwrap();
    assert!(matches!(done, Delivered::Replied { .. }), "{done:?}");
    drop(rt);
    let rt = restart(d.path(), &fake, |_| {});
    let done = rt.channel_telegram("acme", "tg", Some("hook-secret-of-acme"), &body).await.unwrap();
    assert!(matches!(done, Delivered::Ignored), "{done:?}");
    assert_eq!(fake.telegram_sent().len(), 1, "no second reply");
    // The same update_id at another tenant's channel is that tenant's own.
    let done = rt.channel_telegram("globex", "tg", Some("hook-secret-of-globex"), &body).await.unwrap();
    assert!(matches!(done, Delivered::Replied { .. }), "{done:?}");
}

#[tokio::test]
async fn one_tenants_flood_of_signed_requests_evicts_no_other_tenants_replay_record() {
    let fake = FakeLlm::start().await;
    let (d, rt) = setup(&fake).await;
    drop(rt);
    let rt = restart(d.path(), &fake, |c| c.channels.max_replays_per_tenant = 8);
    let body = json!({"sender": "customer-17", "text": "note once"}).to_string();
    let good = wasmclaw::messaging::sign(b"hmac-key-of-globex", T0, body.as_bytes());
    let ts = T0.to_string();
    rt.channel_webhook("globex", "hook", Some(&ts), Some(&good), body.as_bytes()).await.unwrap();
    // acme floods its own channel with signed (junk) requests, far past the cap.
    let mut busy = 0;
    for i in 0..40 {
        let junk = format!(r#"{{"n":{i}}}"#);
        let sig = wasmclaw::messaging::sign(b"hmac-key-of-acme", T0, junk.as_bytes());
        match rt.channel_webhook("acme", "hook", Some(&ts), Some(&sig), junk.as_bytes()).await.unwrap_err() {
            Error::InvalidInput(_) => {}
            Error::Busy(_) => busy += 1,
            e => panic!("{e}"),
        }
    }
    assert_eq!(busy, 32, "acme is refused past its own cap");
    let e = rt.channel_webhook("globex", "hook", Some(&ts), Some(&good), body.as_bytes()).await.unwrap_err();
    assert!(matches!(&e, Error::Conflict(m) if m.contains("replay")), "globex's record survives: {e}");
}
