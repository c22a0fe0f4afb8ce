//! A replica whose wall clock is an hour off (issue 18): membership and
//! leases are judged by PostgreSQL's `now()` only, so a replica an hour
//! ahead or behind neither takes a live owner's tenant nor a dead owner's
//! before its row has lapsed by the database's clock; and the runtime's
//! own clock (cron, the outbox, token expiry, audit stamps) is kept to the
//! database's, so the skewed replicas stamp what they do with the real
//! time. The clocks are
//! shifted with libfaketime (Debian's `libfaketime`, which `.ci/run`
//! installs). Real processes on one PostgreSQL database. Run from
//! `gateway_pg` only.

use crate::cluster_leases::{CONFIG, MASTER_KEY, owner};
use crate::harness::{ADMIN_KEY, Gateway, install, output, tenant};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The library, or `None` (the test is skipped) when it is not installed;
/// under `CI=true` a missing library fails the test.
pub(crate) fn libfaketime() -> Option<&'static str> {
    if std::path::Path::new(LIBFAKETIME).exists() {
        return Some(LIBFAKETIME);
    }
    assert!(std::env::var("CI").is_err(), "{LIBFAKETIME} is missing under CI: apt-get install libfaketime");
    eprintln!("skipped: {LIBFAKETIME} is not installed");
    None
}

/// A replica of `store` whose clocks run `offset` (`+1h`, `-1h`) off.
fn replica_off(node: &str, store: &str, lib: &str, offset: &str) -> Gateway {
    let env = [("WASMCLAW_MASTER_KEY", MASTER_KEY), ("LD_PRELOAD", lib), ("FAKETIME", offset)];
    Gateway::start_with_env(Some(CONFIG), &["--node-id", node, "--store", store], &env)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The time `gw`'s own clock gave its audit event of `action` on `target`.
fn audited_at(gw: &Gateway, action: &str, target: &str) -> i64 {
    let v = gw.get("/v1/audit?limit=100000", Some(ADMIN_KEY)).expect(200);
    let events = v["events"].as_array().unwrap();
    let e = events.iter().rev().find(|e| e["action"] == action && e["target"] == target);
    e.unwrap_or_else(|| panic!("no {action} {target} in {v}"))["time"].as_i64().unwrap()
}

/// The time of the first log line (`2026-12-07T11:48:05.329579Z`, as the
/// process's clock gave it), seconds since the epoch.
fn first_log_time(log: &str) -> i64 {
    let at = log.find('Z').expect("a timestamped log line");
    let stamp = &log[..at];
    let stamp = &stamp[stamp.len().saturating_sub(26)..];
    let num = |r: std::ops::Range<usize>| stamp[r].parse::<i64>().expect("a timestamp");
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

/// The epoch of `tenant`'s lease.
fn epoch(gw: &Gateway, tenant: &str) -> i64 {
    let v = gw.get("/v1/cluster", Some(ADMIN_KEY)).expect(200);
    let leases = v["leases"].as_array().unwrap();
    leases.iter().find(|l| l["tenant"] == tenant).unwrap()["epoch"].as_i64().unwrap()
}

#[test]
fn replicas_an_hour_ahead_or_behind_never_take_a_lease_early() {
    let Some(lib) = libfaketime() else { return };
    let r1 =
        Gateway::start_with_env(Some(CONFIG), &["--node-id", "r1"], &[("WASMCLAW_MASTER_KEY", MASTER_KEY)]);
    let url = r1.store_url().unwrap().to_string();
    let ahead = replica_off("r2", &url, lib, "+1h");
    let behind = replica_off("r3", &url, lib, "-1h");
    // The shift took: each process's own clock stamps its log lines ...
    let log_skew = |gw: &Gateway| first_log_time(&gw.log_text()) - unix_now();
    assert!((3500..3700).contains(&log_skew(&ahead)), "r2 is an hour ahead");
    assert!((-3700..-3500).contains(&log_skew(&behind)), "r3 is an hour behind");
    // ... but the runtime's clock is the database's: what they audit is
    // stamped with the real time.
    tenant(&ahead, "made-ahead");
    tenant(&behind, "made-behind");
    let skew = |gw: &Gateway, t: &str| audited_at(gw, "tenant.create", t) - unix_now();
    assert!(skew(&ahead, "made-ahead").abs() <= 5, "r2 stamps the database's time");
    assert!(skew(&behind, "made-behind").abs() <= 5, "r3 stamps the database's time");

    let t = tenant(&r1, "clocked");
    install(&r1, "clocked", ADMIN_KEY, "echo", false);
    assert_eq!(output(&r1, &t.member, "echo", &json!(1)), 1);
    assert_eq!(owner(&r1, "clocked").as_deref(), Some("r1"));
    let taken = epoch(&r1, "clocked");
    // A live owner's lease, to a replica that thinks an hour has passed
    // (or that it will not end for an hour): forwarded, never taken.
    for gw in [&ahead, &behind] {
        for i in 0..5 {
            assert_eq!(output(gw, &t.member, "echo", &json!(i)), i);
        }
    }
    assert_eq!(owner(&ahead, "clocked").as_deref(), Some("r1"));
    assert_eq!(epoch(&behind, "clocked"), taken, "the lease never moved");

    // The owner dies: its tenant stays unavailable through both skewed
    // replicas until its row lapses by the database's clock (its last
    // beat + the 1.5 s TTL, so at least 1.25 s after the kill with beats
    // every 250 ms), with a Retry-After; then one of them takes it.
    let mut r1 = r1;
    r1.kill();
    let killed = Instant::now();
    let mut unavailable = 0;
    let served = 'served: loop {
        for gw in [&ahead, &behind] {
            let r = crate::harness::client()
                .post(gw.url("/v1/skills/echo/invoke"))
                .bearer_auth(&t.member)
                .header("content-type", "application/json")
                .body("2")
                .send()
                .unwrap();
            let status = r.status().as_u16();
            let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
            let body: Value = r.json().unwrap_or(Value::Null);
            match status {
                200 => break 'served killed.elapsed(),
                503 => {
                    assert_eq!(body["error"]["code"], "tenant-unavailable", "{body}");
                    let secs: u64 = retry.expect("a Retry-After").parse().expect("whole seconds");
                    assert!((1..=2).contains(&secs), "Retry-After {secs} for a TTL of 1.5 s");
                    unavailable += 1;
                }
                _ => panic!("neither served nor unavailable: {status} {body}"),
            }
        }
        assert!(killed.elapsed() < Duration::from_secs(10), "not taken over after 10 s");
        std::thread::sleep(Duration::from_millis(25));
    };
    eprintln!("taken over by a skewed replica {served:?} after the kill ({unavailable} answers of 503)");
    assert!(served >= Duration::from_millis(1200), "taken {served:?} after the kill, before the row lapsed");
    assert!(epoch(&ahead, "clocked") > taken, "taken at a higher epoch");
}
