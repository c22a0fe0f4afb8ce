//! Faults of the PostgreSQL store under the real gateway (issue 17 §4): a
//! database unreachable or silent at start, restarted under load, a pool
//! exhausted by a lock held from outside, a statement timeout; and, with
//! the database down, every route: 2xx or 503 `store-unavailable` with
//! `Retry-After` — never a 500, a panic or a hang past a bound — nothing
//! acknowledged lost, and the store URL's password shown nowhere (log,
//! error, answer, `doctor`, `security audit`).
//!
//! Run from `gateway_pg` only. The tests that stop the server start a
//! cluster of their own (`scripts/pg-test-cluster.sh start`, `down`, `up`),
//! so no other test's database goes away.
//!
//! The bounds here are hang detectors, not speed figures: a server that
//! answers ends a statement at its statement timeout (30 s) and the pool
//! gives up on a connection at its timeout (5 s); against one that answers
//! nothing the store gives up on a call at its call timeout (twice each,
//! plus 5 s: 75 s). A request stops at its first failed store call, so an
//! answer later than [`ANSWER_BOUND`] is a hang.

use crate::harness::{ADMIN_KEY, Body, Gateway, bin, install, poll, tenant};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmclaw_tests::pg_testing;

/// The longest any answer may take: the store's call timeout (75 s), with
/// room for a loaded machine.
pub(crate) const ANSWER_BOUND: Duration = Duration::from_secs(90);

/// A PostgreSQL cluster of the test's own, which it may stop and start
/// under a running gateway; removed on drop.
pub(crate) struct Cluster {
    dir: PathBuf,
    /// The superuser URL (its `postgres` database).
    url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-cluster.sh")
}

fn run_script(args: &[&str]) -> String {
    let out = Command::new("bash").arg(script()).args(args).stdin(Stdio::null()).output().expect("run bash");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pg-test-cluster.sh {args:?}: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Cluster {
    /// A new cluster, or `None` where the gateway_pg suites are skipped
    /// (no `WASMCLAW_TEST_PG`; under CI that fails in the harness first).
    pub(crate) fn start() -> Option<Cluster> {
        pg_testing::TestDb::create()?;
        let dir = run_script(&["dir"]).trim().to_string();
        let mut cluster = Cluster { dir: PathBuf::from(&dir), url: String::new() };
        for line in run_script(&["start", &dir]).lines() {
            if let Some(v) = line.strip_prefix("export WASMCLAW_TEST_PG='") {
                cluster.url = v.trim_end_matches('\'').to_string();
            }
        }
        assert!(cluster.url.starts_with("postgres://"), "no URL from pg-test-cluster.sh start");
        Some(cluster)
    }

    /// A new database `name` on this cluster; its URL.
    pub(crate) fn database(&self, name: &str) -> String {
        sql(&self.url, &format!("CREATE DATABASE \"{name}\""));
        let mut url = url::Url::parse(&self.url).expect("the cluster's URL");
        url.set_path(&format!("/{name}"));
        url.into()
    }

    /// Stops the server (a fast shutdown: committed work is kept).
    pub(crate) fn down(&self) {
        run_script(&["down", self.dir.to_str().unwrap()]);
    }

    /// Starts it again, on the same port.
    pub(crate) fn up(&self) {
        run_script(&["up", self.dir.to_str().unwrap()]);
    }

    /// Stops the server's processes where they are (SIGSTOP): its
    /// connections stay open and nothing answers, as a hung server.
    fn freeze(&self) {
        run_script(&["freeze", self.dir.to_str().unwrap()]);
    }

    /// Lets them go on.
    fn thaw(&self) {
        run_script(&["thaw", self.dir.to_str().unwrap()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A frozen server would not stop.
        let _ = Command::new("bash").arg(script()).args(["thaw", self.dir.to_str().unwrap()]).output();
        let _ = Command::new("bash").arg(script()).args(["stop", self.dir.to_str().unwrap()]).output();
    }
}

/// A small runtime for the test's own connections.
fn pg_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

/// Runs `statements` on `url`.
fn sql(url: &str, statements: &str) {
    let rt = pg_runtime();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(conn);
        client.batch_execute(statements).await.expect("run the statements");
    });
}

/// A transaction held open on `url` (its locks with it) until dropped.
struct Held {
    _rt: tokio::runtime::Runtime,
    _client: tokio_postgres::Client,
}

fn hold(url: &str, statements: &str) -> Held {
    let rt = pg_runtime();
    let client = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(conn);
        client.batch_execute(&format!("BEGIN; {statements}")).await.expect("take the lock");
        client
    });
    Held { _rt: rt, _client: client }
}

/// The password of a PostgreSQL URL.
pub(crate) fn password_of(url: &str) -> String {
    let p = url::Url::parse(url).expect("a URL").password().expect("a password").to_string();
    assert!(p.len() >= 16, "a password long enough to be found: {p:?}");
    p
}

/// `url` with its password moved into the query string (`?password=`),
/// which PostgreSQL's URLs also take.
fn password_in_query(url: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let password = u.password().unwrap().to_string();
    u.set_password(None).unwrap();
    u.query_pairs_mut().append_pair("password", &password);
    u.into()
}

/// An answer, with the header a 503 must carry.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) what: String,
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    pub(crate) text: String,
}

impl Answer {
    /// The error code of an error answer.
    pub(crate) fn code(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.text).ok()?;
        v["error"]["code"].as_str().map(str::to_string)
    }

    /// A 503 `store-unavailable` with a `Retry-After` of whole seconds.
    fn is_store_unavailable(&self) -> bool {
        self.status == 503
            && self.code().as_deref() == Some("store-unavailable")
            && self.retry_after.as_deref().is_some_and(|s| s.parse::<u32>().is_ok())
    }

    /// A 503 with a `Retry-After` of whole seconds: `store-unavailable`, a
    /// skill that ended on the host's `unavailable` (its memory could not
    /// be reached), or (in a cluster) a tenant whose owner cannot be told
    /// or that moved while the request ran.
    fn is_unavailable(&self) -> bool {
        let retry = self.retry_after.as_deref().is_some_and(|s| s.parse::<u32>().is_ok());
        let cluster = matches!(self.code().as_deref(), Some("tenant-unavailable" | "tenant-moved"));
        self.is_store_unavailable()
            || (self.status == 503 && cluster && retry)
            || (self.status == 503
                && self.code().as_deref() == Some("skill-error")
                && self.text.contains("unavailable")
                && self.retry_after.as_deref().is_some_and(|s| s.parse::<u32>().is_ok()))
    }

    /// 2xx, or a 503 `store-unavailable` as [`Answer::is_store_unavailable`].
    #[track_caller]
    fn assert_ok_or_unavailable(&self) {
        assert!(
            (200..300).contains(&self.status) || self.is_store_unavailable(),
            "{} → {} (Retry-After {:?}) {}",
            self.what,
            self.status,
            self.retry_after,
            self.text
        );
    }
}

/// Sends one request, waiting at most [`ANSWER_BOUND`] for the whole answer.
pub(crate) fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cred: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let body = body.map_or(Body::None, |v| Body::Json(v.clone()));
    try_send(addr, method, path, cred, body, ANSWER_BOUND).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends one request, waiting at most `bound` for the whole answer; `Err`
/// says what happened when no whole answer came.
pub(crate) fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cred: Option<&str>,
    body: Body,
    bound: Duration,
) -> Result<Answer, String> {
    let what = format!("{method} {path}");
    let started = Instant::now();
    let mut rb = crate::harness::client()
        .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), format!("http://{addr}{path}"))
        .timeout(bound);
    if let Some(c) = cred {
        rb = rb.bearer_auth(c);
    }
    rb = match body {
        Body::None => rb,
        Body::Json(v) => rb.header("content-type", "application/json").body(v.to_string()),
        Body::Raw(ct, bytes) => rb.header("content-type", ct).body(bytes),
    };
    let failed = |e: reqwest::Error| format!("{what}: no whole answer after {:?}: {e}", started.elapsed());
    let resp = rb.send().map_err(failed)?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = resp.text().map_err(failed)?;
    Ok(Answer { what, status, retry_after, text })
}

/// Runs `wasmclaw ARGS` with only `env` (and no `WASMCLAW_*` of the test's
/// own environment), killed after `bound`; its exit code, stdout and stderr.
pub(crate) fn wasmclaw(
    args: &[&str],
    env: &[(&str, &str)],
    bound: Duration,
) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("WASMCLAW_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("spawn wasmclaw");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > bound {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "wasmclaw {args:?} still running after {bound:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const BACKUP_TYPE: &str = "application/vnd.wasmclaw.backup";

/// The exit code of a start whose database cannot be reached.
const UNREACHABLE_EXIT: i32 = 1;

#[test]
fn a_database_unreachable_at_start_exits_at_once_naming_the_host_and_never_the_password() {
    if pg_testing::TestDb::create().is_none() {
        return;
    }
    let port = closed_port();
    let password = "pw-e1a9c4f2b7d35e80";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for store in [
        format!("postgres://gw:{password}@127.0.0.1:{port}/wasmclaw"),
        format!("postgres://gw@127.0.0.1:{port}/wasmclaw?password={password}"),
    ] {
        let (code, stdout, stderr) = wasmclaw(
            &["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap()],
            &[("WASMCLAW_STORE", &store), ("WASMCLAW_LOG", "debug")],
            Duration::from_secs(30),
        );
        assert_eq!(code, Some(UNREACHABLE_EXIT), "{store}: stdout {stdout:?} stderr {stderr}");
        assert!(!stdout.contains("listening"), "{stdout}");
        let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(error.len(), 1, "one error line: {stderr}");
        assert!(
            error[0].starts_with(&format!("error: cannot reach the database at 127.0.0.1:{port} (")),
            "the host and port are named: {stderr}"
        );
        assert!(stderr.to_lowercase().contains("refused"), "the cause is said: {stderr}");
        assert!(!stderr.contains(password), "the password is never shown: {stderr}");
    }
}

#[test]
fn a_database_that_answers_and_refuses_the_login_at_start_is_a_store_error_not_unreachable() {
    let Some(db) = pg_testing::TestDb::create() else { return };
    let password = "pw-0d4b9e7a13c6f582";
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_password(Some(password)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = wasmclaw(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.path().join("data").to_str().unwrap()],
        &[("WASMCLAW_STORE", url.as_str())],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(13), "{stderr}");
    assert!(stderr.contains("cannot open the store") && stderr.contains("28P01"), "{stderr}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");
    assert!(!stderr.contains(password), "{stderr}");
}

/// The newest schema version this source knows: its migration files are
/// `V<n>__*.sql`.
fn known_schema_version() -> u32 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/src/store/postgres/migrations");
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix('V')?.split_once("__")?.0.parse().ok()
        })
        .max()
        .unwrap()
}

#[test]
fn doctor_reports_a_reachable_store_its_schema_and_tls_and_fails_one_that_refuses() {
    let gw = Gateway::start();
    let store = gw.store_url().expect("a PostgreSQL gateway").to_string();
    let data = gw.data_dir().display().to_string();
    let env = [("WASMCLAW_STORE", store.as_str())];
    let (code, stdout, stderr) =
        wasmclaw(&["doctor", "--data-dir", &data, "--url", &gw.url("")], &env, Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let port = url::Url::parse(&store).unwrap().port().unwrap();
    let line = stdout.lines().find(|l| l.contains("store postgres://")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.starts_with("ok "), "{line}");
    for said in [
        format!("reachable at 127.0.0.1:{port}"),
        "without TLS (sslmode=disable, this machine)".into(),
        format!("schema version {} (current)", known_schema_version()),
    ] {
        assert!(line.contains(&said), "{said:?} in {line}");
    }
    // The redb file is not looked for on PostgreSQL.
    assert!(!stdout.contains("FAIL"), "{stdout}");
    let password = password_of(&store);
    assert!(!stdout.contains(&password) && !stderr.contains(&password), "{stdout}{stderr}");

    // The same server refusing the password: a FAIL line saying why.
    let mut wrong = url::Url::parse(&store).unwrap();
    wrong.set_password(Some("pw-9a1c0e5d7b3f2468")).unwrap();
    let (code, stdout, _) = wasmclaw(
        &["doctor", "--data-dir", &data, "--url", &gw.url(""), "--store", wrong.as_str()],
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(21), "{stdout}");
    let line = stdout.lines().find(|l| l.starts_with("FAIL")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("store: cannot open the store") && line.contains("28P01"), "{line}");
    assert!(!stdout.contains("pw-9a1c0e5d7b3f2468"), "{stdout}");
}

#[test]
fn a_database_that_accepts_but_never_answers_fails_the_start_within_the_connect_bound() {
    if pg_testing::TestDb::create().is_none() {
        return;
    }
    // A server that takes the connection and says nothing (a hung
    // database): the start must give up on its connect timeout (5 s), not
    // on the much longer bound of a whole call.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        silent.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until && open.len() < 16 {
            match silent.accept() {
                Ok((s, _)) => open.push(s),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let password = "pw-5c0e77d1a9b2f348";
    let (code, _, stderr) = wasmclaw(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.path().join("data").to_str().unwrap()],
        &[("WASMCLAW_STORE", &format!("postgres://gw:{password}@127.0.0.1:{port}/db"))],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(UNREACHABLE_EXIT), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach the database at 127.0.0.1:{port} (")), "{stderr}");
    assert!(stderr.contains("no answer from the server within"), "{stderr}");
    assert!(!stderr.contains(password), "{stderr}");
    drop(held);
}

#[test]
fn a_statement_held_by_a_lock_is_cancelled_by_the_statement_timeout_and_answers_503() {
    let gw = Gateway::start();
    let url = gw.store_url().expect("a PostgreSQL gateway").to_string();
    tenant(&gw, "held-before");
    {
        // Every read and write of `tenants` waits for this lock.
        let _lock = hold(&url, "LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE");
        let a = send(gw.addr, "POST", "/v1/tenants", Some(ADMIN_KEY), Some(&json!({"id": "held"})));
        assert!(a.is_store_unavailable(), "{a:?}");
        // The server cancelled the statement (SQLSTATE 57014): the
        // gateway's connections run with a statement timeout.
        let log = gw.log_text();
        assert!(log.contains("statement timeout") && log.contains("57014"), "{log}");
    }
    // The connection that timed out was replaced: the next write is served.
    send(gw.addr, "POST", "/v1/tenants", Some(ADMIN_KEY), Some(&json!({"id": "held"})))
        .assert_ok_or_unavailable();
    let list = send(gw.addr, "GET", "/v1/tenants", Some(ADMIN_KEY), None);
    assert_eq!(list.status, 200, "{list:?}");
    assert!(list.text.contains("\"held\"") && list.text.contains("\"held-before\""), "{list:?}");
}

#[test]
fn an_exhausted_pool_answers_503_within_a_bound_and_the_rest_of_the_gateway_keeps_answering() {
    let gw = Gateway::start();
    let url = gw.store_url().expect("a PostgreSQL gateway").to_string();
    let lock = hold(&url, "LOCK TABLE tenants IN ACCESS EXCLUSIVE MODE");
    // More writers than the pool has connections (16): each one that gets
    // a connection waits on the lock until the statement timeout, the rest
    // wait for a connection until the pool timeout.
    let addr = gw.addr;
    let writers: Vec<_> = (0..24)
        .map(|i| {
            std::thread::spawn(move || {
                let body = json!({"id": format!("pool-{i}")});
                try_send(addr, "POST", "/v1/tenants", Some(ADMIN_KEY), Body::Json(body), ANSWER_BOUND)
            })
        })
        .collect();
    // Meanwhile, what needs no store answers: the store's waits hold no
    // thread the gateway's other requests need.
    std::thread::sleep(Duration::from_millis(500));
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let a = try_send(addr, "GET", path, None, Body::None, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("while the pool is exhausted: {e}"));
        assert_eq!(a.status, 200, "{a:?}");
    }
    for w in writers {
        let a = w.join().unwrap().unwrap_or_else(|e| panic!("while the pool is exhausted: {e}"));
        assert!(a.is_store_unavailable(), "{a:?}");
    }
    drop(lock);
    let a = send(addr, "POST", "/v1/tenants", Some(ADMIN_KEY), Some(&json!({"id": "pool-after"})));
    assert_eq!(a.status, 201, "the pool is whole again: {a:?}");
}

/// What one writer of the restart test did.
#[derive(Default)]
pub(crate) struct Tally {
    /// What was acknowledged (2xx): the writer's own record of it.
    pub(crate) acked: Vec<String>,
    /// 503 `store-unavailable` answers.
    pub(crate) unavailable: usize,
    /// Answers that are neither (each a failure), and lost requests.
    pub(crate) wrong: Vec<String>,
}

/// One kind of write, sent in a loop by a writer thread; `i` numbers it.
pub(crate) type Write = Box<dyn Fn(usize) -> Result<Answer, String> + Send>;

/// The id an acknowledged write answered: a token's or a tenant's `id`, a
/// note's `output.id`.
fn written_id(a: &Answer) -> String {
    let v: Value = serde_json::from_str(&a.text).unwrap_or_default();
    let id = v["id"].as_str().or(v["output"]["id"].as_str());
    id.map(str::to_string).unwrap_or_else(|| panic!("no id in {a:?}"))
}

pub(crate) fn writer(write: Write, stop: Arc<AtomicBool>) -> Arc<Mutex<Tally>> {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let out = tally.clone();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(240);
        for i in 0..5000 {
            if stop.load(Ordering::Relaxed) || Instant::now() > until {
                break;
            }
            let a = write(i);
            let mut t = tally.lock().unwrap();
            let pause = match a {
                Ok(a) if (200..300).contains(&a.status) => {
                    t.acked.push(written_id(&a));
                    5
                }
                Ok(a) if a.is_unavailable() => {
                    t.unavailable += 1;
                    50
                }
                Ok(a) => {
                    t.wrong.push(format!("{} → {} {:?} {}", a.what, a.status, a.retry_after, a.text));
                    50
                }
                Err(e) => {
                    t.wrong.push(e);
                    50
                }
            };
            drop(t);
            std::thread::sleep(Duration::from_millis(pause));
        }
    });
    out
}

pub(crate) fn acked(t: &Arc<Mutex<Tally>>) -> usize {
    t.lock().unwrap().acked.len()
}

#[test]
fn a_database_restarted_under_load_answers_2xx_or_503_and_keeps_every_acknowledged_write() {
    let Some(cluster) = Cluster::start() else { return };
    let store = cluster.database("load");
    let gw = Gateway::start_with_serve_args("", &["--store", &store]);
    let t = tenant(&gw, "load");
    install(&gw, "load", ADMIN_KEY, "notes", false);
    let addr = gw.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let bound = ANSWER_BOUND;
    let tokens = |w: usize| -> Write {
        Box::new(move |i| {
            let body = json!({"role": "member", "name": format!("w{w}-{i}")});
            try_send(addr, "POST", "/v1/tenants/load/tokens", Some(ADMIN_KEY), Body::Json(body), bound)
        })
    };
    let tenants: Write = Box::new(move |i| {
        let body = Body::Json(json!({"id": format!("load-{i}")}));
        try_send(addr, "POST", "/v1/tenants", Some(ADMIN_KEY), body, bound)
    });
    // Memory written by a skill: one writer (notes numbers its notes from
    // a counter in memory, so concurrent adds would race each other).
    let member = t.member.clone();
    let notes: Write = Box::new(move |i| {
        let input = json!({"op": "add", "text": format!("note {i}")});
        try_send(addr, "POST", "/v1/skills/notes/invoke", Some(&member), Body::Json(input), bound)
    });
    let tallies = [
        ("token", writer(tokens(0), stop.clone())),
        ("token", writer(tokens(1), stop.clone())),
        ("tenant", writer(tenants, stop.clone())),
        ("note", writer(notes, stop.clone())),
    ];
    let all_past = |n: usize| {
        poll(Duration::from_secs(120), || tallies.iter().all(|(_, t)| acked(t) >= n).then_some(()))
    };
    all_past(3).expect("every writer is acknowledged before the restart");

    cluster.down();
    std::thread::sleep(Duration::from_secs(3));
    cluster.up();
    let before: Vec<usize> = tallies.iter().map(|(_, t)| acked(t)).collect();
    poll(Duration::from_secs(120), || {
        tallies.iter().zip(&before).all(|((_, t), b)| acked(t) >= b + 3).then_some(())
    })
    .unwrap_or_else(|| {
        let seen: Vec<String> = tallies
            .iter()
            .map(|(kind, t)| {
                let t = t.lock().unwrap();
                format!("{kind}: {} acked, {} unavailable, wrong {:?}", t.acked.len(), t.unavailable, t.wrong)
            })
            .collect();
        panic!("not every writer is acknowledged again after the restart: {seen:#?}\nlog:\n{}", gw.log_text())
    });
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(1));

    let mut unavailable = 0;
    for (kind, t) in &tallies {
        let t = t.lock().unwrap();
        assert!(t.wrong.is_empty(), "{kind} writer: {:#?}", t.wrong);
        unavailable += t.unavailable;
    }
    assert!(unavailable > 0, "the restart was seen: some answers were 503");

    // Everything acknowledged is there.
    let listed = send(addr, "GET", "/v1/tenants/load/tokens", Some(ADMIN_KEY), None);
    let tenants_now = send(addr, "GET", "/v1/tenants", Some(ADMIN_KEY), None);
    let notes_now =
        send(addr, "POST", "/v1/skills/notes/invoke", Some(&t.member), Some(&json!({"op": "list"})));
    for (kind, t) in &tallies {
        let answer = match *kind {
            "token" => &listed,
            "tenant" => &tenants_now,
            _ => &notes_now,
        };
        assert_eq!(answer.status, 200, "{answer:?}");
        for id in &t.lock().unwrap().acked {
            let needle = format!("\"id\":\"{id}\"");
            assert!(answer.text.contains(&needle), "acknowledged {kind} {id} is gone: {}", answer.text);
        }
    }
    let log = gw.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(&password_of(&store)), "the log shows the password");
}

/// A `wasmclaw serve` of the test's own, for what the harness does not
/// set: its environment (`WASMCLAW_LOG`, `WASMCLAW_STORE`). Stderr goes to
/// a file; SIGTERM on drop.
struct Serve {
    child: std::process::Child,
    addr: SocketAddr,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Serve {
    fn start(env: &[(&str, &str)]) -> Serve {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("stderr");
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.path().join("data"));
        for (k, _) in std::env::vars() {
            if k.starts_with("WASMCLAW_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("WASMCLAW_ADMIN_KEY", ADMIN_KEY).envs(env.iter().copied());
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn wasmclaw serve");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("wasmclaw listening on http://") {
                        break a.trim().parse().unwrap();
                    }
                }
                _ => panic!("no listening line; stderr: {}", std::fs::read_to_string(&stderr).unwrap()),
            }
        };
        // Keep reading stdout so the gateway never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        Serve { child, addr, stderr, _dir: dir }
    }

    /// Stops the gateway (SIGTERM) and returns its stderr.
    fn stop(mut self) -> String {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.stderr).unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_store_password_is_shown_nowhere_in_the_log_the_answers_or_the_cli() {
    let Some(db) = pg_testing::TestDb::create() else { return };
    let password = password_of(db.url());
    // What a failure prints must not show it either.
    let hide = |text: &str| text.replace(&password, "<PASSWORD>");
    for (form, store) in [("user", db.url().to_string()), ("query", password_in_query(db.url()))] {
        let gw = Serve::start(&[("WASMCLAW_STORE", &store), ("WASMCLAW_LOG", "debug")]);
        let mut seen = Vec::new();
        for (method, path, body) in [
            ("POST", "/v1/tenants", Some(json!({"id": "leak"}))),
            ("POST", "/v1/tenants", Some(json!({"id": "leak"}))),
            ("GET", "/v1/tenants", None),
            ("GET", "/v1/security/audit", None),
            ("GET", "/metrics", None),
            ("GET", "/v1/usage", None),
            ("GET", "/v1/no-such-route", None),
            ("GET", "/openapi.json", None),
        ] {
            seen.push(send(gw.addr, method, path, Some(ADMIN_KEY), body.as_ref()));
        }
        for a in &seen {
            assert!(a.status < 500, "{a:?}");
            assert!(!a.text.contains(&password), "{} shows the password: {}", a.what, hide(&a.text));
        }
        let url = format!("http://{}", gw.addr);
        let port = url::Url::parse(&store).unwrap().port().unwrap();
        let out_of_range = store.replace(&format!(":{port}/"), ":99999/");
        let env =
            [("WASMCLAW_STORE", store.as_str()), ("WASMCLAW_URL", &url), ("WASMCLAW_ADMIN_KEY", ADMIN_KEY)];
        for args in [
            &["doctor"][..],
            &["security", "audit"],
            &["serve", "--help"],
            &["doctor", "--help"],
            &["tenant", "list"],
            // A store URL refused by the command line (its port is out of range).
            &["doctor", "--store", &out_of_range],
        ] {
            let (_, stdout, stderr) = wasmclaw(args, &env, Duration::from_secs(60));
            let all = format!("{stdout}{stderr}");
            assert!(
                !all.contains(&password),
                "{form}: {:?} shows the password: {}",
                hide(&args.join(" ")),
                hide(&all)
            );
        }
        let log = gw.stop();
        assert!(log.contains("serving"), "the log at debug level: {}", hide(&log));
        assert!(!log.contains(&password), "{form}: the gateway's log shows the password: {}", hide(&log));
    }
}

/// The fake model provider and Telegram, for agents and channels.
fn agent_config() -> String {
    let fake = crate::harness::fake_llm();
    format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\nmax_retries = 0\n\n\
         [channels]\ntelegram_api_base = \"{}\"\n",
        fake.base("openai"),
        fake.telegram_base()
    )
}

/// Sends a Telegram update to `path` with its secret token (no gateway
/// credential).
fn telegram(addr: SocketAddr, path: &str, token: &str, update_id: u64) -> Answer {
    let update = json!({"update_id": update_id, "message": {"message_id": update_id,
        "from": {"id": 880_001, "is_bot": false}, "chat": {"id": 880_001, "type": "private"},
        "text": format!("note from telegram {update_id}")}});
    let resp = crate::harness::client()
        .post(format!("http://{addr}{path}"))
        .timeout(ANSWER_BOUND)
        .header("x-telegram-bot-api-secret-token", token)
        .header("content-type", "application/json")
        .body(update.to_string())
        .send()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    Answer { what: format!("POST {path} (telegram)"), status, retry_after, text: resp.text().unwrap() }
}

#[test]
fn with_the_database_down_every_route_answers_2xx_or_503_and_nothing_acknowledged_is_lost() {
    let Some(cluster) = Cluster::start() else { return };
    let store = cluster.database("down");
    let gw = Gateway::start_with_serve_args(&agent_config(), &["--store", &store]);
    let addr = gw.addr;
    let t = tenant(&gw, "down");
    let policy = Body::Raw("application/toml", b"[cron]\nmax_jobs = 4\nmin_interval_secs = 60\n".to_vec());
    gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), policy).expect(200);
    for skill in ["notes", "reminder", "echo"] {
        install(&gw, "down", ADMIN_KEY, skill, false);
    }
    for (name, value) in [
        ("LLM_KEY", wasmclaw_tests::fake_llm::FAKE_KEY),
        ("TG_TOKEN", wasmclaw_tests::fake_llm::FAKE_BOT_TOKEN),
        ("TG_HOOK", "secret-token-down"),
    ] {
        let body = Body::Raw("application/octet-stream", value.as_bytes().to_vec());
        gw.req("PUT", &t.path(&format!("/secrets/{name}")), Some(ADMIN_KEY), body).expect(204);
    }
    let agent = json!({"name": "helper", "provider": "openai", "model": "gpt-test", "skills": ["notes"],
        "api_key_secret": "LLM_KEY", "system_prompt": "You keep notes."});
    gw.post("/v1/agents", Some(&t.admin), agent.clone()).expect(201);
    let channel = json!({"name": "tg", "kind": "telegram", "agent": "helper", "secret": "TG_HOOK",
        "bot_token_secret": "TG_TOKEN"});
    gw.post("/v1/channels", Some(&t.admin), channel.clone()).expect(201);
    let note = crate::harness::output(&gw, &t.member, "notes", &json!({"op": "add", "text": "kept"}));
    let job = crate::harness::output(
        &gw,
        &t.member,
        "reminder",
        &json!({"op": "add", "text": "r", "every_seconds": 600}),
    );
    let job = job["job_id"].as_str().expect("a job id").to_string();
    let (uncached, uncached_id) = crate::harness::mint(&gw, "down", ADMIN_KEY, "member");
    let (_, spare_id) = crate::harness::mint(&gw, "down", ADMIN_KEY, "guest");
    let backup = gw.get("/v1/backup?tenant=down", Some(ADMIN_KEY));
    assert_eq!(backup.status, 200, "{backup:?}");
    // The admin token is used now, so it is in the token cache when the
    // database goes down; `uncached` was never used.
    gw.get("/v1/skills", Some(&t.admin)).expect(200);

    cluster.down();
    let short = |rest: &str| format!("/v1{rest}");
    let mut routes: Vec<(&str, String, Option<&str>, Body)> = vec![
        ("GET", "/healthz".into(), None, Body::None),
        ("GET", "/readyz".into(), None, Body::None),
        ("GET", "/openapi.json".into(), None, Body::None),
        ("GET", "/metrics".into(), Some(ADMIN_KEY), Body::None),
        ("POST", "/v1/tenants".into(), Some(ADMIN_KEY), Body::Json(json!({"id": "down-new"}))),
        ("GET", "/v1/tenants".into(), Some(ADMIN_KEY), Body::None),
        ("GET", "/v1/tenants/down".into(), Some(ADMIN_KEY), Body::None),
        ("POST", "/v1/tenants/down/suspend".into(), Some(ADMIN_KEY), Body::None),
        ("DELETE", "/v1/tenants/down".into(), Some(ADMIN_KEY), Body::None),
        ("GET", "/v1/security/audit".into(), Some(ADMIN_KEY), Body::None),
        ("GET", "/v1/trust".into(), Some(ADMIN_KEY), Body::None),
        ("GET", "/v1/backup?tenant=down".into(), Some(ADMIN_KEY), Body::None),
        ("POST", "/v1/restore".into(), Some(ADMIN_KEY), Body::Raw(BACKUP_TYPE, backup.bytes.clone())),
    ];
    for cred in [t.admin.as_str(), uncached.as_str()] {
        let c = Some(cred);
        routes.extend([
            ("GET", short("/tokens"), c, Body::None),
            ("POST", short("/tokens"), c, Body::Json(json!({"role": "guest", "name": "x"}))),
            ("POST", short(&format!("/tokens/{spare_id}/rotate")), c, Body::Json(json!({}))),
            ("DELETE", short(&format!("/tokens/{spare_id}")), c, Body::None),
            ("GET", short("/policy"), c, Body::None),
            ("GET", short("/skills"), c, Body::None),
            ("POST", short("/skills"), c, Body::Json(crate::harness::install_body("greeter-v1", false))),
            ("DELETE", short("/skills/echo"), c, Body::None),
            ("POST", short("/skills/echo/invoke"), c, Body::Json(json!({"say": "hi"}))),
            ("POST", short("/skills/notes/invoke"), c, Body::Json(json!({"op": "list"}))),
            ("POST", short("/skills/notes/invoke"), c, Body::Json(json!({"op": "add", "text": "lost?"}))),
            ("GET", short("/agents"), c, Body::None),
            ("GET", short("/agents/helper"), c, Body::None),
            ("PUT", short("/agents/helper"), c, Body::Json(agent.clone())),
            (
                "POST",
                short("/agents/helper/messages"),
                c,
                Body::Json(json!({"peer": "alice", "text": "note hi"})),
            ),
            ("GET", short("/agents/helper/sessions/alice"), c, Body::None),
            ("DELETE", short("/agents/helper/sessions/alice"), c, Body::None),
            ("GET", short("/channels"), c, Body::None),
            ("DELETE", short("/channels/tg"), c, Body::None),
            ("PUT", short("/secrets/NEW"), c, Body::Raw("text/plain", b"v".to_vec())),
            ("GET", short("/secrets"), c, Body::None),
            ("GET", short("/memory"), c, Body::None),
            ("DELETE", short("/memory/note:00000001"), c, Body::None),
            ("GET", short("/cron"), c, Body::None),
            ("DELETE", short(&format!("/cron/{job}")), c, Body::None),
            ("GET", short("/contacts"), c, Body::None),
            ("GET", short("/usage"), c, Body::None),
            ("GET", short("/audit"), c, Body::None),
        ]);
    }
    let mut answers = Vec::new();
    for (method, path, cred, body) in routes {
        answers
            .push(try_send(addr, method, &path, cred, body, ANSWER_BOUND).unwrap_or_else(|e| panic!("{e}")));
    }
    answers.push(telegram(addr, "/v1/inbound/down/tg", "secret-token-down", 1));
    let wrong: Vec<&Answer> =
        answers.iter().filter(|a| !((200..300).contains(&a.status) || a.is_unavailable())).collect();
    assert!(wrong.is_empty(), "with the database down: {wrong:#?}");
    for a in answers.iter().filter(|a| a.what == "GET /healthz" || a.what == "GET /openapi.json") {
        assert_eq!(a.status, 200, "{a:?}");
    }

    cluster.up();
    poll(Duration::from_secs(60), || {
        (send(addr, "GET", "/v1/tenants/down", Some(ADMIN_KEY), None).status == 200).then_some(())
    })
    .expect("the gateway is served again once the database is back");
    // Nothing acknowledged before the outage is gone, and the token that
    // could not be checked meanwhile works again.
    let notes = send(addr, "POST", "/v1/skills/notes/invoke", Some(&uncached), Some(&json!({"op": "list"})));
    assert_eq!(notes.status, 200, "{notes:?}");
    assert!(notes.text.contains(&format!("\"id\":\"{}\"", note["id"].as_str().unwrap())), "{notes:?}");
    let cron = send(addr, "GET", "/v1/cron", Some(&t.admin), None);
    assert!(cron.status == 200 && cron.text.contains(&job), "{cron:?}");
    let tokens = send(addr, "GET", "/v1/tokens", Some(&t.admin), None);
    assert!(tokens.status == 200 && tokens.text.contains(&uncached_id), "{tokens:?}");
    for (path, needle) in
        [("/v1/agents/helper", "helper"), ("/v1/channels", "\"tg\""), ("/v1/secrets", "TG_HOOK")]
    {
        let a = send(addr, "GET", path, Some(&t.admin), None);
        assert!(a.status == 200 && a.text.contains(needle), "{a:?}");
    }
    let tenant_now = send(addr, "GET", "/v1/tenants/down", Some(ADMIN_KEY), None);
    assert!(tenant_now.text.contains("\"active\""), "{tenant_now:?}");
    // The Telegram update the gateway could not take is taken now (a 503
    // makes Telegram send it again).
    let again = telegram(addr, "/v1/inbound/down/tg", "secret-token-down", 1);
    assert_eq!(again.status, 200, "{again:?}");
    let log = gw.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(!log.contains(&password_of(&store)), "the log shows the password");
}

#[test]
fn a_password_changed_under_a_running_gateway_answers_503_until_it_is_set_back() {
    let Some(cluster) = Cluster::start() else { return };
    // The gateway's own role, whose password the operator rotates.
    let password = "pw-3b8f0e6a1c9d47e2a5";
    sql(&cluster.url, &format!("CREATE ROLE gw LOGIN PASSWORD '{password}'"));
    sql(&cluster.url, "CREATE DATABASE gwdb OWNER gw");
    let mut url = url::Url::parse(&cluster.url).unwrap();
    url.set_username("gw").unwrap();
    url.set_password(Some(password)).unwrap();
    url.set_path("/gwdb");
    let store: String = url.into();
    let gw = Gateway::start_with_serve_args("", &["--store", &store]);
    tenant(&gw, "rotated");
    // A new password, and the gateway's connections ended: every new one
    // is refused (SQLSTATE 28P01).
    sql(
        &cluster.url,
        "ALTER ROLE gw PASSWORD 'pw-another-one-0000'; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'gw'",
    );
    for (method, path, body) in [
        ("GET", "/v1/tenants", None),
        ("POST", "/v1/tenants", Some(json!({"id": "rotated-2"}))),
        ("GET", "/v1/tenants/rotated/tokens", None),
    ] {
        let a = send(gw.addr, method, path, Some(ADMIN_KEY), body.as_ref());
        assert!(a.is_store_unavailable(), "a store the gateway cannot log in to: {a:?}");
    }
    sql(&cluster.url, &format!("ALTER ROLE gw PASSWORD '{password}'"));
    let a = send(gw.addr, "GET", "/v1/tenants/rotated", Some(ADMIN_KEY), None);
    assert_eq!(a.status, 200, "served again with the password set back: {a:?}");
    assert!(!gw.log_text().contains(password), "the log shows the password");
}

#[test]
fn a_database_that_stops_answering_under_a_running_gateway_answers_503_within_the_bound() {
    let Some(cluster) = Cluster::start() else { return };
    let store = cluster.database("hung");
    let gw = Gateway::start_with_serve_args("", &["--store", &store]);
    let t = tenant(&gw, "hung");
    let addr = gw.addr;
    // Connections are open in the pool; then the server stops answering
    // on them, and takes new ones without a word.
    cluster.freeze();
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let body = Body::Json(json!({"id": format!("hung-{i}")}));
            std::thread::spawn(move || {
                try_send(addr, "POST", "/v1/tenants", Some(ADMIN_KEY), body, ANSWER_BOUND)
            })
        })
        .collect();
    let member = t.member.clone();
    let reader = std::thread::spawn(move || {
        try_send(addr, "GET", "/v1/skills", Some(&member), Body::None, ANSWER_BOUND)
    });
    std::thread::sleep(Duration::from_millis(500));
    let health = try_send(addr, "GET", "/healthz", None, Body::None, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("while the database is hung: {e}"));
    assert_eq!(health.status, 200, "{health:?}");
    for w in writers {
        let a = w.join().unwrap().unwrap_or_else(|e| panic!("while the database is hung: {e}"));
        assert!(a.is_store_unavailable(), "{a:?}");
    }
    let a = reader.join().unwrap().unwrap_or_else(|e| panic!("while the database is hung: {e}"));
    a.assert_ok_or_unavailable();
    cluster.thaw();
    poll(Duration::from_secs(60), || {
        (send(addr, "GET", "/v1/tenants/hung", Some(ADMIN_KEY), None).status == 200).then_some(())
    })
    .expect("served again once the database answers");
    let log = gw.log_text();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn readyz_answers_503_with_retry_after_while_the_database_is_hung_or_down_and_200_once_it_is_back() {
    let Some(cluster) = Cluster::start() else { return };
    let store = cluster.database("ready");
    let gw = Gateway::start_with_serve_args("", &["--store", &store]);
    let addr = gw.addr;
    // Hang detectors, not speed figures: /readyz gives the database 2 s.
    let get = |path: &str| {
        try_send(addr, "GET", path, None, Body::None, Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let ready = get("/readyz");
    assert_eq!((ready.status, ready.text.as_str()), (200, r#"{"status":"ready"}"#), "{ready:?}");
    let not_ready = || poll(Duration::from_secs(30), || Some(get("/readyz")).filter(|a| a.status != 200));
    let ready_again = || poll(Duration::from_secs(60), || Some(get("/readyz")).filter(|a| a.status == 200));

    // A hung server (its processes stopped): connections open, no answer.
    cluster.freeze();
    let a = not_ready().expect("/readyz stops answering 200 while the database is hung");
    assert!(a.is_store_unavailable(), "503 store-unavailable with Retry-After: {a:?}");
    assert_eq!(get("/healthz").status, 200, "the process itself is alive");
    cluster.thaw();
    ready_again().expect("ready again once the database answers");

    // A server that is gone: nothing listens.
    cluster.down();
    let a = not_ready().expect("/readyz stops answering 200 while the database is down");
    assert!(a.is_store_unavailable(), "{a:?}");
    cluster.up();
    ready_again().expect("ready again once the database is back");

    let log = gw.log_text();
    assert!(log.contains("the store does not answer: not ready"), "said once it stopped: {log}");
    assert!(!log.contains(&password_of(&store)), "the log shows the password");
    assert!(!log.contains("panicked"), "{log}");
}
