//! `messaging` end to end: contacts per tenant, a signed webhook delivered
//! by the host's worker to a real receiver, and a spammer that reaches no
//! one.

use crate::server;
use crate::{call, call_json, load, set_policy, skill_error_kind};
use serde_json::json;
use std::sync::Arc;
use wasmclaw::clock::ManualClock;
use wasmclaw_tests::{runtime_with_clock, tenant};

fn policy(contact: &str, url: &str) -> String {
    format!(
        "[[contacts]]\nname = \"{contact}\"\nchannel = \"webhook\"\nurl = \"{url}\"\n\
         [messaging]\nsigning_secret = \"HOOK_KEY\"\nper_minute = 5\n"
    )
}

#[tokio::test]
async fn notify_is_delivered_signed_to_the_tenants_contact() {
    let srv = server::start().await;
    let clock = ManualClock::new(1_700_000_000);
    let (_d, rt) = runtime_with_clock(Arc::new(clock.clone()));
    set_policy(&rt, "tenant-a", &policy("ops", &srv.url("/hook")));
    rt.put_secret("test", &tenant("tenant-a"), "HOOK_KEY", b"hook-signing-key").unwrap();
    let notify = load(&rt, "notify").await;

    assert_eq!(call_json(&rt, &notify, "tenant-a", "{}").await, json!({"contacts": ["ops"]}));
    let sent = call_json(&rt, &notify, "tenant-a", r#"{"contact":"ops","text":"disk full"}"#).await;
    let id = sent["message_id"].as_str().unwrap().to_string();
    let status = json!({"status": id}).to_string();
    assert_eq!(call_json(&rt, &notify, "tenant-a", &status).await, json!({"state": "pending"}));

    let report = rt.deliverer().deliver_due().await.unwrap();
    assert_eq!(report.delivered, 1);
    let hooks = srv.hooks();
    assert_eq!(hooks.len(), 1);
    let h = &hooks[0];
    assert_eq!(h.path, "/hook");
    let body: serde_json::Value = serde_json::from_str(&h.body).unwrap();
    assert_eq!(
        (body["tenant"].as_str(), body["contact"].as_str(), body["body"].as_str()),
        (Some("tenant-a"), Some("ops"), Some("disk full"))
    );
    let ts: u64 = h.headers["x-wasmclaw-timestamp"].parse().unwrap();
    assert!(wasmclaw::messaging::verify(
        b"hook-signing-key",
        ts,
        h.body.as_bytes(),
        &h.headers["x-wasmclaw-signature"]
    ));
    assert!(!wasmclaw::messaging::verify(
        b"another-key",
        ts,
        h.body.as_bytes(),
        &h.headers["x-wasmclaw-signature"]
    ));
    assert_eq!(call_json(&rt, &notify, "tenant-a", &status).await, json!({"state": "delivered"}));
    // Delivered once: another round sends nothing.
    rt.deliverer().deliver_due().await.unwrap();
    assert_eq!(srv.hooks().len(), 1);

    // Cross-tenant: tenant B, with a contact of its own, cannot read A's
    // message state by its id.
    set_policy(&rt, "tenant-b", &policy("ops", &srv.url("/hook")));
    let e = call(&rt, &notify, "tenant-b", &status).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "not-found", "{e}");
}

#[tokio::test]
async fn messaging_without_a_contact_grant_is_denied() {
    let (_d, rt) = runtime_with_clock(Arc::new(ManualClock::new(1_700_000_000)));
    let notify = load(&rt, "notify").await;
    let e = call(&rt, &notify, "tenant-a", r#"{"contact":"ops","text":"x"}"#).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "denied", "{e}");
}

#[tokio::test]
async fn spammer_reaches_no_one_and_the_rate_limit_holds() {
    let srv = server::start().await;
    let clock = ManualClock::new(1_700_000_000);
    let (_d, rt) = runtime_with_clock(Arc::new(clock.clone()));
    set_policy(&rt, "tenant-a", &policy("ops", &srv.url("/hook")));
    set_policy(&rt, "tenant-b", &policy("b-ops", &srv.url("/hook")));
    rt.put_secret("test", &tenant("tenant-b"), "HOOK_KEY", b"k").unwrap();
    let spammer = load(&rt, "spammer").await;
    let targets = json!({"targets": ["b-ops", srv.url("/hook"), "+15551234567", "ops@example.com", "../b-ops", "tenant-b/ops"]});
    let out = call_json(&rt, &spammer, "tenant-a", &targets.to_string()).await;
    for a in out["attempts"].as_array().unwrap() {
        assert_eq!((a["ok"].as_bool(), a["error"].as_str()), (Some(false), Some("denied")), "{a}");
    }
    assert!(rt.db_for_tests().outbox_list(&tenant("tenant-a"), "", 100).unwrap().is_empty());
    rt.deliverer().deliver_due().await.unwrap();
    assert!(srv.hooks().is_empty(), "nothing reached any receiver");

    // The tenant's own contact works, until its per-minute budget (5) is spent.
    let notify = load(&rt, "notify").await;
    for _ in 0..5 {
        call_json(&rt, &notify, "tenant-b", r#"{"contact":"b-ops","text":"x"}"#).await;
    }
    let e = call(&rt, &notify, "tenant-b", r#"{"contact":"b-ops","text":"x"}"#).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "limit-exceeded", "{e}");
    // Tenant A's budget is its own.
    let e = call(&rt, &notify, "tenant-a", r#"{"contact":"ops","text":"x"}"#).await;
    assert!(e.is_ok(), "{e:?}");
    clock.advance(60);
    call_json(&rt, &notify, "tenant-b", r#"{"contact":"b-ops","text":"x"}"#).await;
}

#[tokio::test]
async fn failed_deliveries_retry_then_go_dead() {
    let srv = server::start().await;
    let clock = ManualClock::new(1_700_000_000);
    let (_d, rt) = runtime_with_clock(Arc::new(clock.clone()));
    set_policy(&rt, "tenant-a", &policy("ops", &srv.url("/hook/fail")));
    rt.put_secret("test", &tenant("tenant-a"), "HOOK_KEY", b"k").unwrap();
    let notify = load(&rt, "notify").await;
    let id =
        call_json(&rt, &notify, "tenant-a", r#"{"contact":"ops","text":"x"}"#).await["message_id"].clone();
    let status = json!({"status": id}).to_string();
    let deliverer = rt.deliverer();
    for _ in 0..10 {
        deliverer.deliver_due().await.unwrap();
        clock.advance(3600);
    }
    assert_eq!(srv.hooks().len(), 5, "one attempt per backoff step, up to the maximum");
    assert_eq!(call_json(&rt, &notify, "tenant-a", &status).await, json!({"state": "dead"}));
}
