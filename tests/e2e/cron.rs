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
    let v = rt.db().memory_get(Scope { tenant: &t, user: None }, "fired:count").unwrap();
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
