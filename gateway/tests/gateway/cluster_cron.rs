//! Cron across replicas (issue 18): each job's fire time runs once, at
//! its tenant's owner, whichever replicas read it due; none is skipped
//! while every replica lives, and a killed replica causes no second run.
//! Runs are read from each replica's audit log (`cron.run`, with the job
//! and the fire time it claimed). Real processes on one PostgreSQL
//! database. Run from `gateway_pg` only.

use crate::cluster_leases::three;
use crate::harness::{ADMIN_KEY, Body, Gateway, install, output, tenant};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TENANTS: usize = 10;
const JOBS_PER_TENANT: usize = 5;

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Every `cron.run` in the audit logs of `gws`: (tenant, job id) → the
/// fire times run, as many times as each ran (over all replicas), and
/// whether the run succeeded.
pub(crate) fn runs<G: std::borrow::Borrow<Gateway>>(
    gws: &[G],
) -> BTreeMap<(String, String), Vec<(u64, bool)>> {
    let mut out: BTreeMap<(String, String), Vec<(u64, bool)>> = BTreeMap::new();
    for gw in gws.iter().map(std::borrow::Borrow::borrow) {
        let v = gw.get("/v1/audit?limit=100000", Some(ADMIN_KEY)).expect(200);
        for e in v["events"].as_array().unwrap() {
            if e["action"] != "cron.run" {
                continue;
            }
            // "SKILL JOB due SECS"
            let target = e["target"].as_str().unwrap();
            let parts: Vec<&str> = target.split(' ').collect();
            assert_eq!((parts.len(), parts[2]), (4, "due"), "{e}");
            let key = (e["tenant"].as_str().unwrap().to_string(), parts[1].to_string());
            out.entry(key).or_default().push((parts[3].parse().unwrap(), e["outcome"] == "ok"));
        }
    }
    for times in out.values_mut() {
        times.sort_unstable();
    }
    out
}

/// The (tenant, job, fire time)s that ran more than once.
pub(crate) fn duplicates(runs: &BTreeMap<(String, String), Vec<(u64, bool)>>) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for ((tenant, job), times) in runs {
        for w in times.windows(2) {
            if w[0].0 == w[1].0 {
                out.push((tenant.clone(), job.clone(), w[0].0));
            }
        }
    }
    out
}

#[test]
fn fifty_jobs_every_second_run_once_per_fire_time_across_replicas_and_a_kill() {
    let mut gws = three();
    let mut jobs = BTreeSet::new();
    let policy = b"[cron]\nmax_jobs = 5\nmin_interval_secs = 1\n".to_vec();
    for i in 0..TENANTS {
        let id = format!("cron-{i}");
        let gw = &gws[i % 3];
        let t = tenant(gw, &id);
        gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", policy.clone()))
            .expect(200);
        install(gw, &id, ADMIN_KEY, "reminder", false);
        for j in 0..JOBS_PER_TENANT {
            // Added through every replica in turn.
            let input = json!({"op": "add", "text": format!("{id}/{j}"), "every_seconds": 1});
            let added = output(&gws[(i + j) % 3], &t.member, "reminder", &input);
            jobs.insert((id.clone(), added["job_id"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(jobs.len(), TENANTS * JOBS_PER_TENANT);
    // 20 s with every replica alive; the window checked leaves out the
    // first and last two seconds (jobs still being added; runs going).
    let from = unix_now() + 2;
    std::thread::sleep(Duration::from_secs(20));
    let to = unix_now() - 2;
    let seen = runs(&gws);
    assert_eq!(duplicates(&seen), [], "a fire time ran twice");
    let mut missed = Vec::new();
    for job in &jobs {
        // Only runs that succeeded count as run.
        let times: BTreeSet<u64> =
            seen.get(job).map(|t| t.iter().filter(|r| r.1).map(|r| r.0).collect()).unwrap_or_default();
        missed.extend((from..=to).filter(|s| !times.contains(s)).map(|s| (job.clone(), s)));
    }
    let total: usize = seen.values().map(Vec::len).sum();
    eprintln!(
        "{total} runs of {} jobs in 20 s over 3 replicas; {} fire times of {} in the window missed",
        jobs.len(),
        missed.len(),
        jobs.len() as u64 * (to - from + 1)
    );
    assert_eq!(missed, [], "a fire time was skipped while every replica lived");

    // Kill the replica that owns the most of these tenants, mid-run; its
    // tenants move to the others after its TTL, then it comes back.
    let owners: Vec<String> =
        (0..TENANTS).filter_map(|i| crate::cluster_leases::owner(&gws[0], &format!("cron-{i}"))).collect();
    let busiest = ["r1", "r2", "r3"].iter().max_by_key(|n| owners.iter().filter(|o| o == n).count()).unwrap();
    let victim = crate::cluster_leases::index_of(busiest);
    let killed_at = unix_now();
    gws[victim].kill();
    std::thread::sleep(Duration::from_secs(5));
    gws[victim].restart_stopped();
    std::thread::sleep(Duration::from_secs(5));
    let after = runs(&gws);
    assert_eq!(duplicates(&after), [], "a fire time ran twice across the kill of {busiest}");
    let more: usize = after.values().map(Vec::len).sum::<usize>() - total;
    // Every job runs on: the dead owner's tenants were taken over.
    for job in &jobs {
        let last = after.get(job).and_then(|t| t.iter().filter(|r| r.1).map(|r| r.0).max()).unwrap_or(0);
        assert!(last >= killed_at + 5, "{job:?} last ran at {last}, killed at {killed_at}");
    }
    eprintln!("{more} runs across the kill of {busiest} (owner of {} tenants), none twice", {
        owners.iter().filter(|o| o == busiest).count()
    });
}
