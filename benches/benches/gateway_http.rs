//! Throughput of the gateway over HTTP, against a native axum route that
//! answers the same JSON, measured in the same run.
//!
//! In one process: the gateway (`wasmclaw_gateway::run`) on a runtime on a
//! temporary directory, set up over HTTP (a tenant, a member token, `echo`
//! installed as a signed package), and a native axum server on another port whose
//! `POST /v1/skills/echo/invoke` parses the input and returns the bytes the
//! gateway returned for it. One load generator (reqwest) drives each target
//! in turn with C concurrent keep-alive connections (one client per
//! connection) for a fixed time after a warm-up, and prints requests/s, p50
//! and p99 latency of both, and the ratio of their throughputs (goal: the
//! gateway at least 50% of the native route).
//!
//! With a PostgreSQL server (`WASMCLAW_TEST_PG`; `benches/run` starts one)
//! a second gateway runs on a fresh database of it (`--store`), set up the
//! same way, and is held against the gateway on redb (row 3b; goal: at least
//! 90% of its throughput, since a warm call should touch no database). The
//! database's transaction count (`pg_stat_database`) over its windows, less
//! what the idle gateway's background workers made in as long, shows what
//! the requests themselves cost it. Without a server row 3b is skipped.
//!
//! The targets take turns, `WASMCLAW_BENCH_ROUNDS` rounds (default 3) of
//! redb gateway, native route, PostgreSQL gateway (the PostgreSQL gateway
//! first in every other round); each figure is the round
//! with the median throughput, and each ratio the ratio of the medians (the
//! range over the rounds beside it).
//!
//! `cargo bench -p wasmclaw-benches --bench gateway_http` runs it. Knobs:
//! `WASMCLAW_BENCH_CONNS` (C, default 16), `WASMCLAW_BENCH_SECS` (measured
//! seconds per target, default 5), `WASMCLAW_BENCH_WARMUP_SECS` (default 1),
//! `WASMCLAW_BENCH_ROUNDS`.
//! Without `--bench` (a `cargo test` of the bench) it runs for a fraction
//! of a second, as a smoke check.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use base64::Engine;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmclaw::StoreLocation;
use wasmclaw_benches::pg::Pg;
use wasmclaw_benches::{Row, Status, full, knob, ms};

/// The admin key the gateway is given.
const ADMIN_KEY: &str = "wca_0123456789abcdef0123456789abcdef";
/// The input of every call.
const INPUT: &str = r#"{"msg":"hello"}"#;
/// The route measured, on both servers.
const ROUTE: &str = "/v1/skills/echo/invoke";

/// What one target measured.
struct Measured {
    /// Successful requests in the measured window.
    requests: u64,
    /// Answers other than 200 (or transport errors) in the window.
    errors: u64,
    /// The window, seconds.
    secs: f64,
    /// Median latency.
    p50: Duration,
    /// 99th percentile latency.
    p99: Duration,
}

impl Measured {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

/// Drives `url` with `conns` keep-alive connections: `warmup`, then
/// `measure`, counting and timing only the requests started in the window.
async fn load(url: &str, token: &str, conns: usize, warmup: Duration, measure: Duration) -> Measured {
    let start = Instant::now() + warmup;
    let end = start + measure;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        // One client per worker: each keeps exactly one connection alive.
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let (url, auth) = (url.to_string(), format!("Bearer {token}"));
        tasks.spawn(async move {
            let (mut lat, mut errors) = (Vec::with_capacity(1 << 16), 0u64);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let resp = client
                    .post(&url)
                    .header(header::AUTHORIZATION, &auth)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(INPUT)
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => r.status() == reqwest::StatusCode::OK && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if t0 >= start {
                    if ok {
                        lat.push(t0.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        });
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    while let Some(r) = tasks.join_next().await {
        let (lat, e) = r.expect("load task");
        all.extend(lat);
        errors += e;
    }
    all.sort();
    let pick = |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied();
    Measured {
        requests: all.len() as u64,
        errors,
        secs: measure.as_secs_f64(),
        p50: pick(0.50).unwrap_or_default(),
        p99: pick(0.99).unwrap_or_default(),
    }
}

/// The native baseline's state: the bearer it accepts and the answer.
#[derive(Clone)]
struct Native {
    auth: Arc<str>,
    answer: Bytes,
}

/// The native route: checks the bearer, parses the input, returns the
/// gateway's answer for it.
async fn native_invoke(State(n): State<Native>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(&*n.auth) {
        return (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "application/json")], Bytes::new());
    }
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json")], Bytes::new());
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], n.answer)
}

/// `POST url` with JSON as `cred`; the answer, which must have `want`.
async fn call(
    client: &reqwest::Client,
    url: String,
    cred: &str,
    body: String,
    want: u16,
) -> serde_json::Value {
    let r = client
        .post(&url)
        .bearer_auth(cred)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, want, "POST {url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {url}: not JSON ({e}): {text}"))
}

/// A gateway in process, set up over HTTP: a tenant, a member token, `echo`
/// installed as a signed package, and one call answered.
struct Target {
    addr: SocketAddr,
    token: String,
    /// The answer of a call, for the native route to return.
    answer: Bytes,
    _dir: tempfile::TempDir,
}

/// Starts a gateway on `store`, its server on `servers`, and sets it up from
/// `clients`.
fn gateway(
    servers: &tokio::runtime::Runtime,
    clients: &tokio::runtime::Runtime,
    store: StoreLocation,
) -> Target {
    let (dir, runtime) = wasmclaw_tests::runtime_with(|c| c.store = store);
    runtime.ensure_admin_key(Some(ADMIN_KEY)).expect("admin key");
    wasmclaw_tests::trust_tests(&runtime);
    let gw = wasmclaw_gateway::Gateway::new(runtime);
    let addr: SocketAddr = servers.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the gateway");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(wasmclaw_gateway::run(listener, gw, std::future::pending()));
        addr
    });
    let base = format!("http://{addr}");
    let (token, answer) = clients.block_on(async {
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        call(&c, format!("{base}/v1/tenants"), ADMIN_KEY, r#"{"id":"bench"}"#.into(), 201).await;
        let minted = call(
            &c,
            format!("{base}/v1/tenants/bench/tokens"),
            ADMIN_KEY,
            r#"{"role":"member","name":"bench"}"#.into(),
            201,
        )
        .await;
        let token = minted["token"].as_str().expect("token").to_string();
        let body = serde_json::json!({
            "package": base64::engine::general_purpose::STANDARD.encode(wasmclaw_tests::package("echo")),
            "guest": false,
        });
        call(&c, format!("{base}/v1/tenants/bench/skills"), ADMIN_KEY, body.to_string(), 201).await;
        let r = c
            .post(format!("{base}{ROUTE}"))
            .bearer_auth(&token)
            .header(header::CONTENT_TYPE, "application/json")
            .body(INPUT)
            .send()
            .await
            .expect("invoke");
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let answer = r.bytes().await.expect("invoke body");
        let v: serde_json::Value = serde_json::from_slice(&answer).expect("JSON answer");
        assert_eq!(v["output"], serde_json::json!({"msg": "hello"}), "{v}");
        (token, answer)
    });
    Target { addr, token, answer, _dir: dir }
}

/// The round with the median throughput.
fn median_round(rounds: &[Measured]) -> &Measured {
    let mut by_rps: Vec<&Measured> = rounds.iter().collect();
    by_rps.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
    by_rps[by_rps.len() / 2]
}

/// The median and the range of `a[i] / b[i]`.
fn ratios(a: &[Measured], b: &[Measured]) -> (f64, f64, f64) {
    let mut r: Vec<f64> =
        a.iter().zip(b).map(|(a, b)| if b.rps() > 0.0 { a.rps() / b.rps() } else { 0.0 }).collect();
    r.sort_by(f64::total_cmp);
    (r[r.len() / 2], r[0], r[r.len() - 1])
}

fn print_target(name: &str, m: &Measured) {
    println!(
        "| {name} | {:.0} | {:.3} ms | {:.3} ms | {} | {} |",
        m.rps(),
        ms(m.p50),
        ms(m.p99),
        m.requests,
        m.errors
    );
}

fn main() {
    let full = full();
    let conns: usize = knob("WASMCLAW_BENCH_CONNS", 16).max(1);
    let (warmup, measure, rounds) = if full {
        (
            Duration::from_secs_f64(knob("WASMCLAW_BENCH_WARMUP_SECS", 1.0)),
            Duration::from_secs_f64(knob("WASMCLAW_BENCH_SECS", 5.0)),
            knob("WASMCLAW_BENCH_ROUNDS", 3usize).max(1),
        )
    } else {
        (Duration::from_millis(100), Duration::from_millis(300), 1)
    };

    // The servers run on their own runtime; the load generator on another.
    let servers = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("server runtime");
    let clients = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("client runtime");
    let redb = gateway(&servers, &clients, StoreLocation::Embedded);
    let pg = Pg::create("3b");
    let on_pg = pg.as_ref().map(|pg| gateway(&servers, &clients, pg.location()));

    let native = Native { auth: format!("Bearer {}", redb.token).into(), answer: redb.answer.clone() };
    let native_addr: SocketAddr = servers.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the baseline");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(ROUTE, post(native_invoke)).with_state(native);
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });

    let drive = |addr: SocketAddr, token: &str| {
        clients.block_on(load(&format!("http://{addr}{ROUTE}"), token, conns, warmup, measure))
    };
    let (mut on_redb, mut baseline, mut on_postgres, mut txns) = (Vec::new(), Vec::new(), Vec::new(), 0u64);
    for round in 0..rounds {
        // Every other round the order is reversed, so neither gateway always
        // follows the other.
        let pg_first = round % 2 == 1;
        let mut pg_round = || {
            if let (Some(pg), Some(g)) = (&pg, &on_pg) {
                let before = pg.transactions();
                on_postgres.push(drive(g.addr, &g.token));
                txns += pg.transactions() - before;
            }
        };
        if pg_first {
            pg_round();
        }
        on_redb.push(drive(redb.addr, &redb.token));
        baseline.push(drive(native_addr, &redb.token));
        if !pg_first {
            pg_round();
        }
    }
    // What the idle PostgreSQL gateway's workers (scheduler and outbox
    // polls, usage flush) do to its database in as long as one window.
    let idle_txns = pg.as_ref().map(|pg| {
        let before = pg.transactions();
        std::thread::sleep(warmup + measure);
        pg.transactions() - before
    });

    println!(
        "\n## gateway over HTTP: `POST {ROUTE}` `{INPUT}` ({conns} keep-alive connections, {:.1} s after {:.1} s warm-up per target, {rounds} round(s))\n",
        measure.as_secs_f64(),
        warmup.as_secs_f64()
    );
    println!("answer ({} bytes): {}\n", redb.answer.len(), String::from_utf8_lossy(&redb.answer));
    println!("| target (round) | requests/s | p50 | p99 | requests | errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for i in 0..rounds {
        print_target(&format!("wasmclaw gateway on redb ({})", i + 1), &on_redb[i]);
        print_target(&format!("native axum route ({})", i + 1), &baseline[i]);
        if let Some(m) = on_postgres.get(i) {
            print_target(&format!("wasmclaw gateway on PostgreSQL ({})", i + 1), m);
        }
    }
    let (gw, native) = (median_round(&on_redb), median_round(&baseline));
    let (ratio, low, high) = ratios(&on_redb, &baseline);
    println!("| ratio gateway / native (throughput, median round) | {:.1}% | | | | |", ratio * 100.0);
    let errors: u64 = on_redb.iter().map(|m| m.errors).sum();
    let mut rows = vec![Row {
        id: "3".into(),
        what: format!(
            "HTTP invoke of `echo` through the gateway, {conns} keep-alive connections: throughput, p50 / p99 (median of {rounds} rounds)"
        ),
        figure: format!("{:.0} req/s, {:.2} / {:.2} ms ({errors} errors)", gw.rps(), ms(gw.p50), ms(gw.p99)),
        baseline: format!(
            "native axum route, same JSON: {:.0} req/s, {:.2} / {:.2} ms",
            native.rps(),
            ms(native.p50),
            ms(native.p99)
        ),
        ratio: format!("{:.1}% of its throughput ({:.1}–{:.1}%)", ratio * 100.0, low * 100.0, high * 100.0),
        goal: "≥ 50% of its throughput".into(),
        status: Status::of(ratio >= 0.5 && errors == 0),
    }];
    if let (Some(pg), Some(idle)) = (&pg, idle_txns) {
        let m = median_round(&on_postgres);
        let (ratio, low, high) = ratios(&on_postgres, &on_redb);
        let errors: u64 = on_postgres.iter().map(|m| m.errors).sum();
        let requests: u64 = on_postgres.iter().map(|m| m.requests).sum();
        let by_requests = txns.saturating_sub(idle * rounds as u64);
        println!(
            "| ratio PostgreSQL / redb gateway (throughput, median round) | {:.1}% | | | | |",
            ratio * 100.0
        );
        println!(
            "\nPostgreSQL transactions: {txns} in {rounds} window(s) of {requests} requests; {idle} in one idle window"
        );
        rows.push(Row {
            id: "3b".into(),
            what: format!(
                "the same through a gateway on PostgreSQL (`--store`; {}): throughput, p50 / p99; database transactions",
                pg.settings()
            ),
            figure: format!(
                "{:.0} req/s, {:.2} / {:.2} ms ({errors} errors); {txns} transactions in {rounds} windows ({idle} in an idle one), {by_requests} beyond the idle ones for {requests} requests",
                m.rps(),
                ms(m.p50),
                ms(m.p99)
            ),
            baseline: format!("the gateway on redb: {:.0} req/s, {:.2} / {:.2} ms", gw.rps(), ms(gw.p50), ms(gw.p99)),
            ratio: format!("{:.1}% of its throughput ({:.1}–{:.1}%)", ratio * 100.0, low * 100.0, high * 100.0),
            goal: "≥ 90% of its throughput".into(),
            status: Status::of(ratio >= 0.9 && errors == 0),
        });
    }
    wasmclaw_benches::record("gateway_http", &rows);
    // The servers are dropped with their runtime.
    servers.shutdown_background();
}
