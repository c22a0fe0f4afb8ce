//! Inbound replay keys across an owner change (issue 18): a Telegram
//! update taken by one owner of the tenant is not taken again by the next
//! one (the keys live in the store, not in a replica's memory), while new
//! updates are. Real processes on one PostgreSQL database. Run from
//! `gateway_pg` only.

use crate::cluster_leases::{CONFIG, MASTER_KEY, index_of, owner};
use crate::harness::{ADMIN_KEY, Body, Gateway, fake_llm, install, tenant};
use serde_json::json;
use std::time::{Duration, Instant};

/// A chat id no other test uses, so this test's replies can be told apart
/// at the shared fake Bot API.
const CHAT: i64 = 990_417;

fn replica(node: &str, store: Option<&str>, config: &str) -> Gateway {
    let mut args = vec!["--node-id", node];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    Gateway::start_with_env(Some(config), &args, &[("WASMCLAW_MASTER_KEY", MASTER_KEY)])
}

fn update(gw: &Gateway, update_id: u64) -> u16 {
    let update = json!({"update_id": update_id, "message": {"message_id": update_id,
        "from": {"id": CHAT, "is_bot": false}, "chat": {"id": CHAT, "type": "private"},
        "text": format!("hello {update_id}")}});
    crate::harness::client()
        .post(gw.url("/v1/inbound/replays/tg"))
        .header("x-telegram-bot-api-secret-token", "replay-hook-token")
        .header("content-type", "application/json")
        .body(update.to_string())
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// How many replies the agent sent to this test's chat.
fn replies() -> usize {
    fake_llm().telegram_sent().iter().filter(|(chat, _)| *chat == CHAT).count()
}

fn replies_reach(n: usize) {
    let started = Instant::now();
    while replies() < n {
        assert!(started.elapsed() < Duration::from_secs(20), "{} replies, not {n}", replies());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_update_taken_by_one_owner_is_not_taken_again_by_the_next() {
    let fake = fake_llm();
    let config = format!(
        "{CONFIG}\n[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\nmax_retries = 0\n\n\
         [channels]\ntelegram_api_base = \"{}\"\n",
        fake.base("openai"),
        fake.telegram_base()
    );
    let a = replica("r1", None, &config);
    let url = a.store_url().unwrap().to_string();
    let mut gws = [a, replica("r2", Some(&url), &config), replica("r3", Some(&url), &config)];
    let t = tenant(&gws[0], "replays");
    install(&gws[1], "replays", ADMIN_KEY, "echo", false);
    for (name, value) in [
        ("LLM_KEY", wasmclaw_tests::fake_llm::FAKE_KEY),
        ("TG_TOKEN", wasmclaw_tests::fake_llm::FAKE_BOT_TOKEN),
        ("TG_HOOK", "replay-hook-token"),
    ] {
        let body = Body::Raw("application/octet-stream", value.as_bytes().to_vec());
        gws[2].req("PUT", &t.path(&format!("/secrets/{name}")), Some(ADMIN_KEY), body).expect(204);
    }
    let agent = json!({"name": "helper", "provider": "openai", "model": "gpt-test", "skills": ["echo"],
        "api_key_secret": "LLM_KEY", "system_prompt": "You answer."});
    gws[0].post("/v1/agents", Some(&t.admin), agent).expect(201);
    let channel = json!({"name": "tg", "kind": "telegram", "agent": "helper", "secret": "TG_HOOK",
        "bot_token_secret": "TG_TOKEN"});
    gws[1].post("/v1/channels", Some(&t.admin), channel).expect(201);

    let before = replies();
    assert_eq!(update(&gws[0], 5), 200);
    replies_reach(before + 1);
    let first = owner(&gws[0], "replays").expect("the update's owner");
    // The owner stops; the tenant moves to whichever replica takes it next.
    let was = index_of(&first);
    gws[was].stop();
    let other = (was + 1) % 3;
    for gw in [&gws[other], &gws[(was + 2) % 3]] {
        // Telegram sends the same update again (it thought it failed).
        let status = update(gw, 5);
        assert_eq!(status, 200, "a replay is answered 200, so Telegram stops sending it");
    }
    let next = owner(&gws[other], "replays").expect("a new owner");
    assert_ne!(next, first, "the tenant moved");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(replies(), before + 1, "the update was taken once, across the owner change");
    // A new update is taken by the new owner.
    assert_eq!(update(&gws[other], 6), 200);
    replies_reach(before + 2);
}
