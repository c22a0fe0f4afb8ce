//! `GET …/cron` shows each job's latest run and why it failed (the Cron
//! page's columns), as the scheduler recorded them.

use crate::harness::{ADMIN_KEY, Body, install, output, poll, shared, tenant};
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn a_jobs_last_run_and_last_error_follow_its_runs() {
    let gw = shared();
    let t = tenant(gw, "cron-runs");
    let policy = |extra: &str| {
        let toml = format!("[cron]\nmax_jobs = 5\nmin_interval_secs = 1\n{extra}");
        gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", toml.into_bytes()))
            .expect(200);
    };
    policy("");
    install(gw, &t.id, ADMIN_KEY, "reminder", false);
    let added = output(gw, &t.member, "reminder", &json!({"op": "add", "text": "tick", "every_seconds": 1}));
    let id = added["job_id"].as_str().unwrap().to_string();
    let job = |gw: &crate::harness::Gateway| -> Value {
        let v = gw.get("/v1/cron", Some(&t.member)).expect(200);
        v["jobs"].as_array().unwrap().iter().find(|j| j["id"] == id.as_str()).cloned().unwrap()
    };
    assert_eq!(job(gw)["last_run"], Value::Null, "not run yet");

    // Allowed to run: a last run and no error.
    let ran = poll(Duration::from_secs(20), || {
        let j = job(gw);
        j["last_run"].as_u64().map(|at| (at, j))
    });
    let (first, j) = ran.expect("the job runs within 20 s");
    assert_eq!(j["last_error"], Value::Null, "{j}");

    // Starved of fuel by the policy: the next runs fail, and say why.
    policy("[limits]\nfuel = 1000\n");
    let failed = poll(Duration::from_secs(20), || {
        let j = job(gw);
        (j["last_run"].as_u64() > Some(first) && j["last_error"].is_string()).then_some(j)
    });
    let j = failed.expect("a failed run is recorded");
    assert!(j["last_error"].as_str().unwrap().contains("fuel"), "{j}");
    assert!(j["last_error"].as_str().unwrap().len() <= 1024, "{j}");

    // The Cron page's route is the tenant's only: another tenant sees none.
    let other = tenant(gw, "cron-runs-other");
    let theirs = gw.get("/v1/cron", Some(&other.member)).expect(200);
    assert_eq!(theirs["jobs"], json!([]), "{theirs}");
}
