//! Adversarial probes of `GET …/usage/series`: a tenant's usage by hour
//! or day and skill (and the short route `/v1/usage/series`).
//!
//! Tried (see each test):
//! - tenants whose ids prefix each other (`sat`, `sat0`, `sat-b`), each
//!   with calls in the same hour: each reads exactly its own calls; one
//!   tenant's tokens on another's path in many spellings (case, trailing
//!   slash, `%30` for a digit, `..`, `%2F`, a NUL, a doubled slash), a
//!   `?tenant=` query on either route, and the operator on the short route;
//! - the span at its edges: `until` 1 and 0, `since` 0, times at and one
//!   past the end of 9999, spans that widened to whole buckets are exactly
//!   the limit or one bucket past it, arithmetic near `MAX_TIME`;
//! - query keys duplicated, unknown, empty, in another case, non-UTF-8;
//!   a `skill` that cannot be a skill's name;
//! - a tenant deleted (its usage flushed, pending, and a cron job firing
//!   every second) and created again under the same id: none of its
//!   predecessor's rows, then or after a flush;
//! - a backup restored over a tenant that has called since: the series is
//!   the backup's, nothing of the calls made after it (flushed or pending),
//!   and the neighbour's is left alone.
//!
//! Got through when written, fixed since: a `skill` filter that is no
//! skill's name (empty, upper case, with NUL or `/`, too long) answered
//! 200 with no rows; it is now 400 naming `skill`.
//!
//! Not tried here (reasoned instead): skill names with NUL, `/` or digits
//! that read as an hour key cannot come through the API (a manifest's name
//! is `a-z0-9-`); the store is probed with them directly in
//! `runtime/src/store/contract/usage_attacks.rs`. The clock is the
//! gateway's own, so calls at an hour boundary cannot be placed from here.

use crate::harness::{ADMIN_KEY, Body, Gateway, RawBody, Tenant, install, output, poll, raw, shared, tenant};
use serde_json::{Value, json};
use std::time::Duration;

/// The end of the year 9999, the latest time a series may name.
const MAX_TIME: u64 = 253_402_300_799;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// `(skill, calls)` of every row of a series, in order.
fn rows(series: &Value) -> Vec<(String, u64)> {
    series["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows: {series}"))
        .iter()
        .map(|r| (r["skill"].as_str().unwrap().to_string(), r["calls"].as_u64().unwrap()))
        .collect()
}

/// The calls of a series, all rows.
fn calls(series: &Value) -> u64 {
    rows(series).iter().map(|(_, n)| n).sum()
}

/// Both steps of a tenant's series, by its member on the short route.
fn both_steps(gw: &Gateway, cred: &str) -> [Value; 2] {
    ["hour", "day"].map(|step| gw.get(&format!("/v1/usage/series?step={step}"), Some(cred)).expect(200))
}

#[test]
fn tenants_whose_ids_prefix_each_other_read_only_their_own_series() {
    let gw = shared();
    let ids = ["sat", "sat0", "sat-b"];
    let ts: Vec<Tenant> = ids.iter().map(|id| tenant(gw, id)).collect();
    for (i, t) in ts.iter().enumerate() {
        install(gw, &t.id, ADMIN_KEY, "echo", false);
        for n in 0..=i {
            output(gw, &t.member, "echo", &json!({ "n": n }));
        }
    }
    for (i, t) in ts.iter().enumerate() {
        let want = vec![("echo".to_string(), i as u64 + 1)];
        for s in both_steps(gw, &t.member) {
            assert_eq!(rows(&s), want, "{}: {s}", t.id);
        }
        // The operator by the path reads the same.
        let by_path = gw.get(&t.path("/usage/series?step=day"), Some(ADMIN_KEY)).expect(200);
        assert_eq!(rows(&by_path), want, "{}: {by_path}", t.id);
    }
}

#[test]
fn another_tenants_series_is_not_found_in_any_spelling_of_its_path() {
    let gw = shared();
    let a = tenant(gw, "sat-pa");
    let b = tenant(gw, "sat-pa0");
    install(gw, &b.id, ADMIN_KEY, "echo", false);
    output(gw, &b.member, "echo", &json!({"secret-ish": "b's call"}));
    let spellings = [
        "/v1/tenants/sat-pa0/usage/series".to_string(),
        "/v1/tenants/SAT-PA0/usage/series".into(),
        "/v1/tenants/sat-pa0/usage/series/".into(),
        "/v1/tenants/sat-pa%30/usage/series".into(),
        "/v1/tenants/sat-pa%2D0/usage/series".into(),
        "/v1/tenants/sat-pa/../sat-pa0/usage/series".into(),
        "/v1/tenants/sat-pa%2F..%2Fsat-pa0/usage/series".into(),
        "/v1/tenants/sat-pa0%00/usage/series".into(),
        "/v1/tenants/sat-pa0//usage/series".into(),
        "//v1/tenants/sat-pa0/usage/series".into(),
        "/v1/tenants/sat-pa0/usage/series?step=day".into(),
        "/v1/tenants/sat-pa0/./usage/series".into(),
    ];
    for cred in [&a.admin, &a.member, &a.guest] {
        for path in &spellings {
            let auth = format!("Bearer {cred}");
            let r = raw(gw.addr, "GET", path, &[("authorization", auth.as_bytes())], RawBody::Empty);
            assert_eq!(r.status, 404, "{path}: {r:?}");
            assert!(!r.body.contains("\"rows\""), "{path}: b's series: {}", r.body);
        }
    }
    // A `?tenant=` is no way round: unknown on both routes, for a member
    // and for the operator.
    for (path, cred) in [
        ("/v1/usage/series?tenant=sat-pa0", a.member.as_str()),
        ("/v1/tenants/sat-pa/usage/series?tenant=sat-pa0", a.member.as_str()),
        ("/v1/tenants/sat-pa/usage/series?tenant=sat-pa0", ADMIN_KEY),
        ("/v1/usage/series?tenant=sat-pa0", ADMIN_KEY),
    ] {
        let msg = gw.get(path, Some(cred)).expect_error(400, "invalid-input");
        assert!(msg.contains("tenant"), "{path}: {msg}");
    }
    // The operator on the short route has no tenant: refused, naming the
    // long route, and nothing of anyone's.
    let msg = gw.get("/v1/usage/series", Some(ADMIN_KEY)).expect_error(400, "invalid-input");
    assert!(msg.contains("/v1/tenants/{tenant}/"), "{msg}");
    // A's own series has none of B's call.
    for s in both_steps(gw, &a.member) {
        assert_eq!(rows(&s), vec![], "{s}");
    }
    // No credential, or a made-up one, on B's path.
    gw.get(&b.path("/usage/series"), None).expect_error(401, "unauthorized");
    gw.get(&b.path("/usage/series"), Some("wc_0123456789abcdef0123456789abcdef"))
        .expect_error(401, "unauthorized");
}

#[test]
fn the_span_at_its_edges_is_exactly_the_limit_and_never_overflows() {
    let gw = shared();
    let t = tenant(gw, "sat-edges");
    // (query, since, until) of the answer: widened to whole buckets.
    let end = MAX_TIME + 1; // a day's (and an hour's) start
    assert_eq!((end % HOUR, end % DAY), (0, 0));
    let ok: Vec<(String, u64, u64)> = vec![
        ("since=0&until=1".into(), 0, HOUR),
        ("step=day&since=0&until=1".into(), 0, DAY),
        ("until=1".into(), 0, HOUR),
        ("step=day&until=1".into(), 0, DAY),
        (format!("since={}&until={MAX_TIME}", MAX_TIME - 1), end - HOUR, end),
        (format!("step=day&since={}&until={MAX_TIME}", MAX_TIME - 1), end - DAY, end),
        // The longest spans, widened: exactly 31 days by the hour, 62 by the day.
        (format!("since=1&until={}", 31 * DAY), 0, 31 * DAY),
        (format!("since={HOUR}&until={}", 31 * DAY + HOUR), HOUR, 31 * DAY + HOUR),
        (format!("since={}&until={MAX_TIME}", end - 31 * DAY), end - 31 * DAY, end),
        (format!("step=day&since={}&until={MAX_TIME}", end - 62 * DAY), end - 62 * DAY, end),
        (format!("step=day&since=1&until={}", 62 * DAY), 0, 62 * DAY),
    ];
    for (query, since, until) in ok {
        let s = gw.get(&format!("/v1/usage/series?{query}"), Some(&t.member)).expect(200);
        assert_eq!((s["since"].as_u64(), s["until"].as_u64()), (Some(since), Some(until)), "{query}: {s}");
        assert_eq!(s["rows"], json!([]), "{query}: {s}");
    }
    // One bucket past a limit once widened, or one second past the end.
    let refused: Vec<(String, &str)> = vec![
        (format!("since=1&until={}", 31 * DAY + 1), "at most 31 days"),
        (format!("since={}&until={}", HOUR - 1, 31 * DAY + HOUR), "at most 31 days"),
        (format!("since={}&until={MAX_TIME}", end - 31 * DAY - 1), "at most 31 days"),
        (format!("step=day&since={}&until={MAX_TIME}", end - 62 * DAY - 1), "at most 62 days"),
        (format!("step=day&since=1&until={}", 62 * DAY + 1), "at most 62 days"),
        (format!("since={MAX_TIME}&until={}", MAX_TIME + 1), "at most 253402300799"),
        (format!("since={}", MAX_TIME + 1), "at most 253402300799"),
        (format!("until={}", u64::MAX), "at most 253402300799"),
        ("until=18446744073709551616".into(), "until"),
        ("until=0".into(), "before until"),
        ("since=0&until=0".into(), "before until"),
        (format!("since={MAX_TIME}"), "before until"),
        (format!("since={MAX_TIME}&until={MAX_TIME}"), "before until"),
    ];
    for (query, says) in refused {
        let r = gw.get(&format!("/v1/usage/series?{query}"), Some(&t.member));
        let msg = r.expect_error(400, "invalid-input");
        assert!(msg.contains(says), "{query}: {msg}");
    }
}

#[test]
fn a_bad_query_key_or_value_is_refused_naming_it() {
    let gw = shared();
    let t = tenant(gw, "sat-keys");
    for (query, says) in [
        ("step=hour&step=day", "step"),
        ("step=day&step=day", "step"),
        ("until=5&until=6", "until"),
        ("skill=echo&skill=panic", "skill"),
        ("Step=hour", "Step"),
        ("STEP=hour", "STEP"),
        ("tenant=sat-keys", "tenant"),
        ("step=", "step"),
        ("step=hour%00", "step"),
        ("step=%68our", ""),
        ("since=", "since"),
        ("until=", "until"),
        ("since=0x10", "since"),
        ("since=1.0", "since"),
        ("since=%FF", "UTF-8"),
        ("skill=%FF", "UTF-8"),
        ("skill=%C0%80", "UTF-8"),
    ] {
        let r = gw.get(&format!("/v1/usage/series?{query}"), Some(&t.member));
        if query == "step=%68our" {
            // `%68` is `h`: this one is `step=hour`, answered.
            assert_eq!(r.status, 200, "{query}: {r:?}");
            continue;
        }
        let msg = r.expect_error(400, "invalid-input");
        assert!(msg.contains(says), "{query}: {msg}");
    }
}

/// Docs: "every bad query 400 naming what is wrong". A `skill` that no
/// skill can be named (a manifest's name is 1–64 of `a-z0-9-`) is a bad
/// query, not an empty series.
#[test]
fn a_skill_filter_that_is_no_skill_name_is_refused() {
    let gw = shared();
    let t = tenant(gw, "sat-skill");
    install(gw, &t.id, ADMIN_KEY, "echo", false);
    output(gw, &t.member, "echo", &json!({}));
    let long = "a".repeat(65);
    for skill in ["", "ECHO", "echo%00", "ec%2Fho", "%20echo", long.as_str()] {
        let q = format!("/v1/usage/series?skill={skill}");
        let msg = gw.get(&q, Some(&t.member)).expect_error(400, "invalid-input");
        assert!(msg.contains("skill"), "{q}: {msg}");
    }
    // A skill name that has no rows is an empty series, and its own is its own.
    let none = gw.get("/v1/usage/series?skill=no-such", Some(&t.member)).expect(200);
    assert_eq!(rows(&none), vec![]);
    let echo = gw.get("/v1/usage/series?skill=echo", Some(&t.member)).expect(200);
    assert_eq!(rows(&echo), vec![("echo".to_string(), 1)]);
}

fn cron_policy(gw: &Gateway, t: &Tenant) {
    let toml = b"[cron]\nmax_jobs = 5\nmin_interval_secs = 1\n".to_vec();
    gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", toml)).expect(200);
}

#[test]
fn a_tenant_created_again_sees_none_of_its_predecessors_series() {
    let mut gw = Gateway::start();
    let t = tenant(&gw, "sat-del");
    install(&gw, &t.id, ADMIN_KEY, "echo", false);
    install(&gw, &t.id, ADMIN_KEY, "reminder", false);
    cron_policy(&gw, &t);
    for i in 0..3 {
        output(&gw, &t.member, "echo", &json!({ "i": i }));
    }
    // Flushed (the tally is written on shutdown), then one more pending,
    // and a job calling `reminder` every second while it is deleted.
    gw.restart();
    output(&gw, &t.member, "echo", &json!({"pending": true}));
    output(&gw, &t.member, "reminder", &json!({"op": "add", "text": "tick", "every_seconds": 1}));
    let fired = poll(Duration::from_secs(20), || {
        let s = gw.get("/v1/usage/series?skill=reminder", Some(&t.member)).expect(200);
        (calls(&s) >= 3).then_some(())
    });
    assert!(fired.is_some(), "the job fired");
    gw.delete(&format!("/v1/tenants/{}", t.id), Some(ADMIN_KEY)).expect(200);

    let again = tenant(&gw, "sat-del");
    let check = |gw: &Gateway, when: &str| {
        for s in both_steps(gw, &again.member) {
            assert_eq!(rows(&s), vec![], "{when}: the predecessor's series: {s}");
        }
        let by_path = gw.get(&again.path("/usage/series?step=day"), Some(ADMIN_KEY)).expect(200);
        assert_eq!(rows(&by_path), vec![], "{when}: {by_path}");
        let totals = gw.get("/v1/usage", Some(&again.member)).expect(200);
        assert_eq!(totals["usage"], json!([]), "{when}: the predecessor's totals: {totals}");
    };
    check(&gw, "at once");
    // Past a flush interval (5 s): nothing written back for the old tenant.
    std::thread::sleep(Duration::from_secs(6));
    check(&gw, "after a flush");
    gw.restart();
    check(&gw, "after a restart");
    // Its own first call is its only row.
    install(&gw, &again.id, ADMIN_KEY, "echo", false);
    output(&gw, &again.member, "echo", &json!({}));
    for s in both_steps(&gw, &again.member) {
        assert_eq!(rows(&s), vec![("echo".to_string(), 1)], "{s}");
    }
}

#[test]
fn a_backup_restored_over_a_tenant_replaces_its_series_and_leaves_the_neighbours() {
    const BACKUP_TYPE: &str = "application/vnd.wasmclaw.backup";
    let mut gw = Gateway::start();
    let a = tenant(&gw, "sat-rs");
    let b = tenant(&gw, "sat-rs0");
    for t in [&a, &b] {
        install(&gw, &t.id, ADMIN_KEY, "echo", false);
    }
    for i in 0..2 {
        output(&gw, &a.member, "echo", &json!({ "i": i }));
    }
    output(&gw, &b.member, "echo", &json!({}));
    gw.restart(); // flushed: the backup holds A's two calls
    let r = gw.get(&format!("/v1/backup?tenant={}", a.id), Some(ADMIN_KEY));
    assert_eq!(r.status, 200, "{}", r.text);
    let backup = r.bytes;

    // Since the backup: three calls flushed, one pending, one of B's.
    for i in 0..3 {
        output(&gw, &a.member, "echo", &json!({ "later": i }));
    }
    gw.restart();
    output(&gw, &a.member, "echo", &json!({"pending": true}));
    output(&gw, &b.member, "echo", &json!({}));
    assert_eq!(calls(&gw.get("/v1/usage/series", Some(&a.member)).expect(200)), 6);

    let restored = gw.req(
        "POST",
        &format!("/v1/restore?tenant={}", a.id),
        Some(ADMIN_KEY),
        Body::Raw(BACKUP_TYPE, backup),
    );
    assert_eq!(restored.status, 200, "{}", restored.text);
    let check = |gw: &Gateway, when: &str| {
        for s in both_steps(gw, &a.member) {
            assert_eq!(rows(&s), vec![("echo".to_string(), 2)], "{when}: the backup's two calls only: {s}");
        }
        for s in both_steps(gw, &b.member) {
            assert_eq!(rows(&s), vec![("echo".to_string(), 2)], "{when}: B's own: {s}");
        }
    };
    check(&gw, "at once");
    std::thread::sleep(Duration::from_secs(6));
    check(&gw, "after a flush");
    gw.restart();
    check(&gw, "after a restart");
}

#[test]
fn the_call_latency_histogram_is_the_operators_only_and_names_no_tenant() {
    let gw = shared();
    let t = tenant(gw, "sat-metrics");
    install(gw, &t.id, ADMIN_KEY, "echo", false);
    output(gw, &t.member, "echo", &json!({}));
    for cred in [&t.admin, &t.member, &t.guest] {
        let msg = gw.get("/metrics", Some(cred)).expect_error(403, "forbidden");
        assert!(!msg.contains("wasmclaw_call_duration"), "{msg}");
    }
    gw.get("/metrics", None).expect_error(401, "unauthorized");
    let r = gw.get("/metrics", Some(ADMIN_KEY));
    assert_eq!(r.status, 200, "{}", r.text);
    let lines: Vec<&str> =
        r.text.lines().filter(|l| l.starts_with("wasmclaw_call_duration_seconds")).collect();
    assert_eq!(lines.len(), 21, "19 buckets, the sum and the count: {lines:?}");
    assert!(lines.iter().all(|l| !l.contains("tenant=") && !l.contains("skill=")), "{lines:?}");
}
