//! `cron` end to end: jobs per (tenant, skill), fired by the scheduler on an
//! injected clock, kept across a restart, caught up once, and out of reach
//! of other tenants.

use crate::{call, call_json, load, set_policy, skill_error_kind};
use serde_json::json;
use std::sync::Arc;
use wasmclaw::clock::ManualClock;
use wasmclaw::store::Scope;
use wasmclaw_tests::{reopen, runtime_with_clock, tenant};

const POLICY: &str = "[cron]\nmax_jobs = 3\nmin_interval_secs = 60\n";
const T0: u64 = 1_700_000_000;

fn fired(rt: &wasmclaw::Runtime, t: &str) -> u64 {
    let t = tenant(t);
    let v = rt.db_for_tests().memory_get(Scope { tenant: &t, user: None }, "fired:count").unwrap();
    v.map(|s| s.parse().unwrap()).unwrap_or(0)
}

#[tokio::test]
async fn a_job_fires_as_its_tenant_survives_restart_and_catches_up_once() {
    let clock = ManualClock::new(T0);
    let (dir, rt) = runtime_with_clock(Arc::new(clock.clone()));
    set_policy(&rt, "tenant-a", POLICY);
    let reminder = load(&rt, "reminder").await;
    let added =
        call_json(&rt, &reminder, "tenant-a", r#"{"op":"add","text":"stand up","every_seconds":60}"#).await;
    let id = added["job_id"].as_str().unwrap().to_string();
    let jobs = call_json(&rt, &reminder, "tenant-a", r#"{"op":"list"}"#).await;
    assert_eq!(jobs["jobs"][0]["id"], id.as_str());
    assert_eq!(jobs["jobs"][0]["next_run"], T0 + 60);

    let scheduler = rt.scheduler();
    clock.advance(59);
    assert!(scheduler.tick(&rt).await.unwrap().is_empty(), "not due yet");
    clock.advance(1);
    let fired_now = scheduler.tick(&rt).await.unwrap();
    assert_eq!(fired_now.len(), 1);
    assert!(fired_now[0].result.is_ok(), "{:?}", fired_now[0].result);
    assert_eq!(fired(&rt, "tenant-a"), 1, "the job ran the skill with its stored input, as tenant A");
    assert_eq!(fired(&rt, "tenant-b"), 0);

    // Restart: the job is still there; ten missed intervals fire once.
    drop(scheduler);
    drop(rt);
    let rt = reopen(&dir.path().join("data"), Arc::new(clock.clone()));
    let reminder = load(&rt, "reminder").await;
    crate::bind(&rt, &reminder, "tenant-a");
    clock.advance(600);
    assert_eq!(rt.scheduler().tick(&rt).await.unwrap().len(), 1);
    assert!(rt.scheduler().tick(&rt).await.unwrap().is_empty());
    assert_eq!(fired(&rt, "tenant-a"), 2);
    let jobs = call_json(&rt, &reminder, "tenant-a", r#"{"op":"list"}"#).await;
    assert_eq!(jobs["jobs"][0]["next_run"], T0 + 60 + 600 + 60);
}

#[tokio::test]
async fn cron_is_denied_without_a_grant_and_bounded_with_one() {
    let clock = ManualClock::new(T0);
    let (_d, rt) = runtime_with_clock(Arc::new(clock.clone()));
    let reminder = load(&rt, "reminder").await;
    let add = r#"{"op":"add","text":"x","every_seconds":60}"#;
    let e = call(&rt, &reminder, "tenant-a", add).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "denied", "{e}");

    set_policy(&rt, "tenant-a", POLICY);
    let e =
        call(&rt, &reminder, "tenant-a", r#"{"op":"add","text":"x","every_seconds":10}"#).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "limit-exceeded", "{e}");
    let e = call(&rt, &reminder, "tenant-a", r#"{"op":"add","text":"x","cron":"* * * * * *"}"#)
        .await
        .unwrap_err();
    assert_eq!(skill_error_kind(&e), "limit-exceeded", "{e}");
    let e = call(&rt, &reminder, "tenant-a", r#"{"op":"add","text":"x","cron":"not a schedule"}"#)
        .await
        .unwrap_err();
    assert_eq!(skill_error_kind(&e), "invalid", "{e}");
    // A weekday-morning expression is well above the minimum interval.
    call_json(&rt, &reminder, "tenant-a", r#"{"op":"add","text":"x","cron":"0 0 9 * * Mon-Fri"}"#).await;
    for _ in 0..2 {
        call_json(&rt, &reminder, "tenant-a", add).await;
    }
    let e = call(&rt, &reminder, "tenant-a", add).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "limit-exceeded", "{e}");
}

#[tokio::test]
async fn cron_hijack_sees_and_touches_nothing_of_another_tenant() {
    let clock = ManualClock::new(T0);
    let (_d, rt) = runtime_with_clock(Arc::new(clock.clone()));
    set_policy(&rt, "tenant-a", POLICY);
    set_policy(&rt, "tenant-b", POLICY);
    let reminder = load(&rt, "reminder").await;
    let hijack = load(&rt, "cron-hijack").await;
    let id = call_json(&rt, &reminder, "tenant-a", r#"{"op":"add","text":"a's","every_seconds":60}"#).await["job_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Tenant B, and another skill of tenant A, know the exact id.
    for t in ["tenant-b", "tenant-a"] {
        let out = call_json(&rt, &hijack, t, &json!({"ids": [id]}).to_string()).await;
        assert_eq!(out["listed"], json!([]), "{t}: {out}");
        for r in out["removes"].as_array().unwrap() {
            assert_eq!(r["error"], "not-found", "{t}: {r}");
        }
    }
    // A's job is intact and fires as A.
    let jobs = call_json(&rt, &reminder, "tenant-a", r#"{"op":"list"}"#).await;
    assert_eq!(jobs["jobs"][0]["id"], id.as_str());
    clock.advance(60);
    let fired_now = rt.scheduler().tick(&rt).await.unwrap();
    assert_eq!(fired_now.len(), 1);
    assert_eq!(fired_now[0].tenant, tenant("tenant-a"));
    assert_eq!(fired(&rt, "tenant-a"), 1);

    // Once tenant A revokes cron, its job no longer runs.
    set_policy(&rt, "tenant-a", "");
    clock.advance(60);
    let fired_now = rt.scheduler().tick(&rt).await.unwrap();
    assert!(
        fired_now[0].result.as_ref().is_err_and(|e| e.contains("no longer grants cron")),
        "{:?}",
        fired_now[0].result
    );
    assert_eq!(fired(&rt, "tenant-a"), 1);
}

/// A job fires in exactly the scope of the call that added it: a user's job
/// as that user (their files, their memory), a peer's job from an agent's
/// session inside that session's limits; and one user cannot list or remove
/// another's jobs of the same skill.
#[tokio::test]
async fn a_job_fires_in_the_scope_of_the_call_that_added_it() {
    use wasmclaw::{Call, UserId};
    let clock = ManualClock::new(T0);
    let (dir, rt) = runtime_with_clock(Arc::new(clock.clone()));
    set_policy(
        &rt,
        "tenant-a",
        "[cron]\nmax_jobs = 5\nmin_interval_secs = 60\n\
         [[contacts]]\nname = \"ops\"\nchannel = \"webhook\"\nurl = \"https://hooks.example/ops\"\n",
    );
    let skill = load(&rt, "cron-snoop").await;
    let bound = crate::bind(&rt, &skill, "tenant-a");
    let files = dir.path().join("data/tenants/tenant-a/files");
    let alice_dir = files.join("users").join(wasmclaw_tests::user_dir_name("alice"));
    std::fs::create_dir_all(&alice_dir).unwrap();
    std::fs::write(alice_dir.join("diary.txt"), "alice's secrets").unwrap();
    let alice = UserId::parse("alice").unwrap();
    let mallory = UserId::parse("mallory").unwrap();
    let as_alice = Call { user: Some(alice.clone()), ..Call::default() };
    let as_mallory = Call { user: Some(mallory.clone()), ..Call::default() };
    let in_session = Call { user: Some(mallory.clone()), in_session: true, ..Call::default() };
    let run = |call: &Call, input: serde_json::Value| {
        let (rt, bound, call) = (rt.clone(), bound.clone(), call.clone());
        async move {
            let out = rt.invoke(&bound, &call, &input.to_string()).await;
            out.map(|o| serde_json::from_str::<serde_json::Value>(&o.output).unwrap())
        }
    };
    let alices = run(&as_alice, json!({"op": "add", "path": "diary.txt", "contact": "ops"})).await.unwrap();
    let alices = alices["job_id"].as_str().unwrap().to_string();
    let alice_path = format!("users/{}/diary.txt", wasmclaw_tests::user_dir_name("alice"));
    run(&in_session, json!({"op": "add", "path": alice_path, "contact": "ops"})).await.unwrap();

    // mallory, as a member's user or in her session, sees and removes nothing of alice's.
    for call in [&as_mallory, &in_session] {
        let listed = run(call, json!({"op": "list"})).await.unwrap();
        assert!(!listed["jobs"].as_array().unwrap().iter().any(|j| j == alices.as_str()), "{listed}");
        let e = run(call, json!({"op": "remove", "id": alices})).await.unwrap_err();
        assert_eq!(skill_error_kind(&e), "not-found", "{e}");
    }
    assert_eq!(run(&as_alice, json!({"op": "list"})).await.unwrap()["jobs"], json!([alices]));

    clock.advance(60);
    let fired_now = rt.scheduler().tick(&rt).await.unwrap();
    assert_eq!(fired_now.len(), 2);
    assert!(fired_now.iter().all(|f| f.result.is_ok()), "{fired_now:?}");
    let t = tenant("tenant-a");
    let mem = |user: Option<&UserId>, key: &str| {
        rt.db_for_tests().memory_get(Scope { tenant: &t, user }, key).unwrap()
    };
    // Allowed: alice's job ran as alice, read her diary, and reached the contact she could.
    assert_eq!(mem(Some(&alice), "snoop:read").as_deref(), Some("alice's secrets"));
    assert_eq!(mem(Some(&alice), "snoop:send").as_deref(), Some("sent"));
    // Denied: the job from mallory's session ran in that session — mallory's
    // files (no users/alice there) and only her own contacts (not ops).
    assert_eq!(mem(Some(&mallory), "snoop:read").as_deref(), Some("error"));
    assert_eq!(mem(Some(&mallory), "snoop:send").as_deref(), Some("denied"));
    assert_eq!(mem(None, "snoop:read"), None, "no job ran tenant-wide");
}
