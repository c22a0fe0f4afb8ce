//! `GET …/usage/series`: a tenant's usage by hour or day and skill, with
//! latency percentiles from each bucket's histogram, and `wasmclaw usage
//! series`; the same calls in `/metrics` as a histogram, read by the
//! Prometheus client's own parser.

use crate::harness::{ADMIN_KEY, Gateway, install, invoke, output, tenant};
use serde_json::{Value, json};

/// The sum of `field` over a series' rows (of `skill` only, if given).
fn sum(series: &Value, field: &str, skill: Option<&str>) -> u64 {
    series["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows: {series}"))
        .iter()
        .filter(|r| skill.is_none_or(|s| r["skill"] == s))
        .map(|r| r[field].as_u64().unwrap_or_else(|| panic!("{field}: {r}")))
        .sum()
}

#[test]
fn a_tenants_series_adds_up_to_its_totals_and_is_its_own() {
    let mut gw = Gateway::start();
    let a = tenant(&gw, "ser");
    let b = tenant(&gw, "ser-b");
    install(&gw, &a.id, ADMIN_KEY, "echo", true);
    install(&gw, &a.id, ADMIN_KEY, "panic", false);
    install(&gw, &b.id, ADMIN_KEY, "echo", false);
    for i in 0..3 {
        output(&gw, &a.member, "echo", &json!({"i": i}));
    }
    let failed = invoke(&gw, &a.member, "panic", &json!({}));
    assert!(failed.status >= 400, "{failed:?}");
    output(&gw, &b.member, "echo", &json!({}));

    // By the hour (the default) and by the day: every call, once.
    let totals = gw.get("/v1/usage", Some(&a.member)).expect(200);
    let echo = totals["usage"].as_array().unwrap().iter().find(|r| r["skill"] == "echo").unwrap().clone();
    for step in ["hour", "day"] {
        let s = gw.get(&format!("/v1/usage/series?step={step}"), Some(&a.member)).expect(200);
        assert_eq!(s["step"], step);
        let width = if step == "hour" { 3600 } else { 86_400 };
        let (since, until) = (s["since"].as_u64().unwrap(), s["until"].as_u64().unwrap());
        assert_eq!((since % width, until % width), (0, 0), "whole buckets: {s}");
        assert_eq!(sum(&s, "calls", Some("echo")), 3, "{s}");
        assert_eq!(sum(&s, "calls", Some("panic")), 1, "{s}");
        assert_eq!(sum(&s, "fuel", Some("echo")), echo["fuel"].as_u64().unwrap());
        assert_eq!(sum(&s, "wall_us", Some("echo")), echo["wall_us"].as_u64().unwrap());
        for r in s["rows"].as_array().unwrap() {
            assert!(
                r["start"].as_u64().unwrap() % width == 0
                    && (since..until).contains(&r["start"].as_u64().unwrap())
            );
            let (p50, p95, p99) = (r["p50_us"].as_u64(), r["p95_us"].as_u64(), r["p99_us"].as_u64());
            assert!(p50.is_some() && p50 <= p95 && p95 <= p99, "percentiles in order: {r}");
        }
        let panics: Vec<&Value> =
            s["rows"].as_array().unwrap().iter().filter(|r| r["skill"] == "panic").collect();
        assert_eq!(panics.len(), 1);
        assert_eq!(
            panics[0]["errors"].as_object().unwrap().values().filter_map(Value::as_u64).sum::<u64>(),
            1
        );
    }
    // One skill's rows only; the operator reads the same by path.
    let one = gw.get("/v1/usage/series?skill=echo", Some(&a.member)).expect(200);
    assert!(one["rows"].as_array().unwrap().iter().all(|r| r["skill"] == "echo"), "{one}");
    assert_eq!(sum(&one, "calls", None), 3);
    let by_path = gw.get(&a.path("/usage/series?skill=echo"), Some(ADMIN_KEY)).expect(200);
    assert_eq!(by_path["rows"], one["rows"]);

    // B's series is B's: one call of its own, none of A's.
    let theirs = gw.get("/v1/usage/series", Some(&b.member)).expect(200);
    assert_eq!((sum(&theirs, "calls", None), theirs["rows"].as_array().unwrap().len()), (1, 1), "{theirs}");
    // Denied: a guest, and A's tokens on B's path (404, as no tenant).
    gw.get("/v1/usage/series", Some(&a.guest)).expect_error(403, "forbidden");
    for cred in [&a.admin, &a.member, &a.guest] {
        gw.get(&b.path("/usage/series"), Some(cred)).expect_error(404, "not-found");
    }
    gw.get("/v1/tenants/no-such/usage/series", Some(ADMIN_KEY)).expect_error(404, "not-found");

    // Nothing lost across a restart: the tally is flushed on shutdown.
    gw.restart();
    let after = gw.get("/v1/usage/series?step=day", Some(&a.member)).expect(200);
    assert_eq!((sum(&after, "calls", Some("echo")), sum(&after, "calls", Some("panic"))), (3, 1), "{after}");

    // The CLI: one row per bucket and skill.
    let out = gw.cli(
        &["usage", "series", "--tenant", "ser", "--step", "day", "--skill", "echo"],
        &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)],
        None,
    );
    let text = out.ok();
    let row = text.lines().find(|l| l.contains(" echo ")).unwrap_or_else(|| panic!("{text}"));
    assert_eq!(row.split_whitespace().nth(2), Some("3"), "CALLS of {row:?} in:\n{text}");
    let json = gw.cli(&["usage", "series", "--json"], &[("WASMCLAW_TOKEN", &b.member)], None).json();
    assert_eq!(json["rows"][0]["calls"], 1);
}

#[test]
fn a_bad_series_query_is_refused_naming_what_is_wrong() {
    let gw = crate::harness::shared();
    let t = tenant(gw, "ser-bad");
    for (query, says) in [
        ("step=week", "step"),
        ("step=HOUR", "step"),
        ("since=100&until=100", "before until"),
        ("since=200&until=100", "before until"),
        ("step=hour&since=0&until=2764800", "at most 31 days"),
        ("step=day&since=0&until=86400000", "at most 62 days"),
        ("until=253402300800", "at most 253402300799"),
        ("since=18446744073709551615", "at most"),
        ("since=-1", "since"),
        ("since=1e3", "since"),
        ("since=1&since=2", "since"),
        ("window=1", "window"),
    ] {
        let r = gw.get(&format!("/v1/usage/series?{query}"), Some(&t.member));
        assert_eq!(r.status, 400, "{query}: {r:?}");
        let v: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(v["error"]["code"], "invalid-input", "{query}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(says), "{query}: {v}");
    }
    // The longest spans allowed are answered.
    gw.get("/v1/usage/series?step=hour&since=0&until=2678400", Some(&t.member)).expect(200);
    gw.get("/v1/usage/series?step=day&since=0&until=5356800", Some(&t.member)).expect(200);
}

#[test]
fn call_latency_is_a_histogram_the_prometheus_parser_reads() {
    let python = std::path::Path::new("/usr/bin/python3");
    let parser_here = std::process::Command::new(python)
        .args(["-c", "import prometheus_client.parser"])
        .status()
        .is_ok_and(|s| s.success());
    if !parser_here {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the Prometheus client's parser is missing (apt-get install python3-prometheus-client)"
        );
        eprintln!("skipped: no python3-prometheus-client");
        return;
    }
    let gw = Gateway::start();
    let t = tenant(&gw, "hist");
    install(&gw, &t.id, ADMIN_KEY, "echo", false);
    for i in 0..4 {
        output(&gw, &t.member, "echo", &json!({"i": i}));
    }
    let text = gw.get("/metrics", Some(ADMIN_KEY));
    assert_eq!(text.status, 200);
    // The parser's families as JSON: name, type and samples.
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = [{"name": f.name, "type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
       for f in text_string_to_metric_families(sys.stdin.read())]
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(text.text.as_bytes()).unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "the parser refused /metrics: {}", String::from_utf8_lossy(&done.stderr));
    let families: Vec<Value> = serde_json::from_slice(&done.stdout).unwrap();
    let h = families
        .iter()
        .find(|f| f["name"] == "wasmclaw_call_duration_seconds")
        .unwrap_or_else(|| panic!("no histogram in {families:?}"));
    assert_eq!(h["type"], "histogram");
    let samples = h["samples"].as_array().unwrap();
    let value = |name: &str, le: Option<&str>| {
        samples
            .iter()
            .find(|s| s[0] == name && le.is_none_or(|le| s[1]["le"] == le))
            .and_then(|s| s[2].as_f64())
            .unwrap_or_else(|| panic!("{name} {le:?} in {samples:?}"))
    };
    assert_eq!(value("wasmclaw_call_duration_seconds_count", None), 4.0, "this gateway's four calls");
    assert_eq!(value("wasmclaw_call_duration_seconds_bucket", Some("+Inf")), 4.0);
    // Cumulative: never decreasing, in the parser's reading.
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|s| s[0] == "wasmclaw_call_duration_seconds_bucket")
        .map(|s| s[2].as_f64().unwrap())
        .collect();
    assert_eq!(buckets.len(), 19);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    let sum = value("wasmclaw_call_duration_seconds_sum", None);
    let wall: u64 = gw.get("/v1/usage", Some(&t.member)).expect(200)["usage"][0]["wall_us"].as_u64().unwrap();
    assert!((sum - wall as f64 / 1e6).abs() < 1e-6, "sum {sum} s, the tenant's wall time {wall} µs");
}
