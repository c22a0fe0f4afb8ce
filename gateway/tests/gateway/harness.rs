//! The harness: the real `wasmclaw serve` binary on `127.0.0.1:0` and a
//! fresh data directory, an HTTP client for it, the `wasmclaw` CLI pointed
//! at it, and the fixtures every test builds on (tenants, tokens, skills).
//!
//! A gateway is found ready by the line `wasmclaw listening on http://ADDR`
//! on its stdout (never by sleeping), and stopped with SIGTERM (the crash
//! tests kill it with SIGKILL and restart it on the same data directory).
//! Each one has a watchdog (`sh`, reading a pipe this process holds) that
//! terminates it if the test process dies first, so no gateway outlives the
//! tests: that is what lets [`shared`] keep one gateway in a static for the
//! tests that do not interfere with each other (each uses its own tenant
//! ids).

use base64::Engine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wasmclaw_tests::pg_testing::TestDb;

/// The operator's admin key every test gateway is started with.
pub const ADMIN_KEY: &str = "wca_00112233445566778899aabbccddeeff";

/// How long a gateway may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a gateway may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The stdout line announcing the bound address.
const LISTENING: &str = "wasmclaw listening on http://";

/// The `wasmclaw` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_wasmclaw")
}

/// A running `wasmclaw serve` on its own data directory.
pub struct Gateway {
    /// The bound address.
    pub addr: SocketAddr,
    /// Lines printed on stdout before the listening line (this start).
    pub preamble: Vec<String>,
    child: Option<Child>,
    watchdog: Option<(Child, ChildStdin)>,
    data_dir: PathBuf,
    log: PathBuf,
    admin_key: Option<String>,
    /// The `--config` file, if the test gave one.
    config: Option<PathBuf>,
    /// More `serve` arguments, after the harness's own (see [`serve_command`]).
    serve_args: Vec<String>,
    /// More environment for `serve` (every restart passes it again).
    serve_env: Vec<(String, String)>,
    /// How long the log was when this start began.
    log_start: u64,
    /// Owns the directory (none for the shared gateway, whose watchdog
    /// removes it when the test process exits, or once kept).
    dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database the gateway stores in, when this test binary
    /// runs its suites on PostgreSQL ([`crate::ON_POSTGRES`]); dropped with
    /// the gateway.
    store: Option<TestDb>,
}

/// The store of a new gateway: a fresh PostgreSQL database when this test
/// binary runs on PostgreSQL, else none (redb in the data directory).
/// Without a server (and not under `CI=true`, where that fails) the whole
/// binary is skipped: it says so and exits.
fn test_store() -> Option<TestDb> {
    if !crate::ON_POSTGRES {
        return None;
    }
    match TestDb::create() {
        Some(db) => Some(db),
        None => {
            eprintln!("skipped: no PostgreSQL (set WASMCLAW_TEST_PG to run the gateway suites on it)");
            std::process::exit(0)
        }
    }
}

impl Gateway {
    /// Starts a gateway on a fresh data directory with [`ADMIN_KEY`].
    pub fn start() -> Gateway {
        Self::start_with_key(Some(ADMIN_KEY))
    }

    /// Starts a gateway on a fresh data directory; `admin_key` is passed as
    /// `WASMCLAW_ADMIN_KEY` (none: the gateway generates or reuses one).
    pub fn start_with_key(admin_key: Option<&str>) -> Gateway {
        Self::start_with(admin_key, None, &[])
    }

    /// Starts a gateway with [`ADMIN_KEY`] and `config` (TOML) as its
    /// `--config` file.
    pub fn start_with_config(config: &str) -> Gateway {
        Self::start_with(Some(ADMIN_KEY), Some(config), &[])
    }

    /// Starts a gateway with [`ADMIN_KEY`], `config` (TOML) as its
    /// `--config` file and `serve_args` after the harness's own `serve`
    /// arguments (every restart passes them again).
    pub fn start_with_serve_args(config: &str, serve_args: &[&str]) -> Gateway {
        Self::start_with(Some(ADMIN_KEY), Some(config), serve_args)
    }

    /// Starts a gateway with [`ADMIN_KEY`] and `filter` as its
    /// `WASMCLAW_LOG` (every restart passes it again).
    // Used by pg_logs, which only gateway_pg runs.
    #[allow(dead_code)]
    pub fn start_with_log(filter: &str) -> Gateway {
        Self::start_with_env(None, &[], &[("WASMCLAW_LOG", filter)])
    }

    /// Starts a gateway with [`ADMIN_KEY`], `config` (TOML) as its
    /// `--config` file if given, `serve_args` after the harness's own and
    /// `env` added to its environment (every restart passes them again).
    // Used by the suites only gateway_pg runs.
    #[allow(dead_code)]
    pub fn start_with_env(config: Option<&str>, serve_args: &[&str], env: &[(&str, &str)]) -> Gateway {
        Self::start_full(Some(ADMIN_KEY), config, serve_args, env)
    }

    fn start_with(admin_key: Option<&str>, config: Option<&str>, serve_args: &[&str]) -> Gateway {
        Self::start_full(admin_key, config, serve_args, &[])
    }

    fn start_full(
        admin_key: Option<&str>,
        config: Option<&str>,
        serve_args: &[&str],
        env: &[(&str, &str)],
    ) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = config.map(|text| {
            let path = dir.path().join("wasmclaw.toml");
            std::fs::write(&path, text).expect("write the config");
            path
        });
        let mut gw = Gateway {
            addr: "0.0.0.0:0".parse().unwrap(),
            preamble: Vec::new(),
            child: None,
            watchdog: None,
            data_dir: dir.path().join("data"),
            log: dir.path().join("gateway.log"),
            admin_key: admin_key.map(str::to_string),
            config,
            serve_args: serve_args.iter().map(|a| a.to_string()).collect(),
            serve_env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log_start: 0,
            dir: Some(dir),
            store: test_store(),
        };
        gw.spawn(None);
        if admin_key.is_some() {
            gw.trust_test_publisher();
        }
        gw
    }

    /// Trusts the key the tests sign packages with, as `tests` (already
    /// trusted, on a store another replica started, is as good).
    fn trust_test_publisher(&self) {
        let key = wasmclaw_tests::publisher().public().to_string();
        let admin = self.admin_key.as_deref().expect("an admin key");
        let r = self.post("/v1/trust", Some(admin), json!({"name": "tests", "key": key}));
        if r.status == 409 {
            let keys = self.get("/v1/trust", Some(admin)).expect(200);
            assert!(keys.to_string().contains(&key), "another key trusted as tests: {keys}");
            return;
        }
        r.expect(201);
    }

    /// The URL of the PostgreSQL database the gateway stores in, when this
    /// test binary runs on PostgreSQL.
    // Used by pg_faults, which only gateway_pg runs.
    #[allow(dead_code)]
    pub fn store_url(&self) -> Option<&str> {
        self.store.as_ref().map(TestDb::url)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What the gateway wrote to stderr so far (its log).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the gateway wrote to stderr since its last start began.
    pub fn log_since_start(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let from = usize::try_from(self.log_start).unwrap_or(usize::MAX).min(text.len());
        String::from_utf8_lossy(&text[from..]).into_owned()
    }

    /// Keeps the gateway's directory (its data, log and config) after the
    /// test, to look into a failure; its path, none for the shared gateway.
    pub fn keep_dir(&mut self) -> Option<PathBuf> {
        self.dir.take().map(tempfile::TempDir::keep)
    }

    /// Spawns the process, waits for its listening line and arms the
    /// watchdog (which also removes `cleanup` once the process is gone).
    fn spawn(&mut self, cleanup: Option<&Path>) {
        self.try_spawn(cleanup).unwrap_or_else(|e| panic!("{e}; log:\n{}", self.log_text()));
    }

    /// [`Gateway::spawn`], with `Err` saying what happened when no
    /// listening line came within [`START_TIMEOUT`].
    fn try_spawn(&mut self, cleanup: Option<&Path>) -> Result<(), String> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        self.log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = serve_command(
            &self.data_dir,
            self.config.as_deref(),
            self.admin_key.as_deref(),
            self.store.as_ref().map(TestDb::url),
            &self.serve_args,
        );
        cmd.envs(self.serve_env.iter().map(|(k, v)| (k, v)));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn wasmclaw serve");
        let pid = child.id().to_string();
        let cleanup = cleanup.map(|p| p.display().to_string()).unwrap_or_default();
        let mut watchdog = Command::new("sh")
            .args([
                "-c",
                r#"cat >/dev/null; kill -TERM "$1" 2>/dev/null
                   if [ -n "$2" ]; then
                     for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
                     rm -rf "$2"
                   fi"#,
                "watchdog",
                pid.as_str(),
                cleanup.as_str(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the watchdog");
        let pipe = watchdog.stdin.take().expect("watchdog stdin");
        self.watchdog = Some((watchdog, pipe));

        // Stdout is read on a thread for as long as the process runs (a full
        // pipe would block the gateway); lines come back over a channel.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut preamble = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix(LISTENING) {
                        self.addr =
                            addr.trim().parse().map_err(|e| format!("listening line {line:?}: {e}"))?;
                        break;
                    }
                    preamble.push(line);
                }
                Err(e) => {
                    let status = self.child.as_mut().unwrap().try_wait().ok().flatten();
                    return Err(format!(
                        "no `{LISTENING}ADDR` line ({e}); exit status {status:?}; stdout so far {preamble:?}"
                    ));
                }
            }
        }
        self.preamble = preamble;
        Ok(())
    }

    /// Sends SIGTERM and waits for the process to exit; its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the gateway is running");
        let status =
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + STOP_TIMEOUT;
        let exit = loop {
            if let Some(s) = child.try_wait().expect("wait for the gateway") {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the gateway did not exit within {STOP_TIMEOUT:?} of SIGTERM; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.disarm();
        exit
    }

    /// Stops the gateway (asserting a clean exit 0, as docs/cli.md says of
    /// SIGTERM) and starts it again on the same data directory.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert_eq!(
            status.code(),
            Some(0),
            "SIGTERM must stop the gateway with exit 0; log:\n{}",
            self.log_text()
        );
        self.spawn(None);
    }

    /// Starts a gateway stopped with [`Gateway::stop`] (or killed with
    /// [`Gateway::kill`]) again on the same data directory.
    pub fn restart_stopped(&mut self) {
        assert!(self.child.is_none(), "the gateway is running");
        self.spawn(None);
    }

    /// [`Gateway::restart_stopped`], with `Err` saying what happened when
    /// the gateway printed no listening line in time.
    pub fn try_restart_stopped(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "the gateway is running");
        self.try_spawn(None)
    }

    /// Moves a stopped gateway onto the PostgreSQL database `db`: from its
    /// next start on it serves with `--store` on it, on the same data
    /// directory (`store migrate` copied its database there).
    pub fn set_store(&mut self, db: TestDb) {
        assert!(self.child.is_none(), "the gateway is running");
        self.store = Some(db);
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the process.
    // Used by the suites only gateway_pg runs.
    #[allow(dead_code)]
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the gateway is running").id().to_string();
        let status = Command::new("kill").args([&format!("-{signal}"), &pid]).status().expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits at most `bound` for the process to exit by itself; its exit
    /// status, or `None` (still running).
    // Used by the suites only gateway_pg runs.
    #[allow(dead_code)]
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        loop {
            let child = self.child.as_mut().expect("the gateway is running");
            if let Some(s) = child.try_wait().expect("wait for the gateway") {
                self.child = None;
                self.disarm();
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL (the process ends at once, whatever it was writing)
    /// and waits until it is gone.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the gateway is running");
        let _ = child.kill();
        let _ = child.wait();
        self.disarm();
    }

    /// Ends the watchdog without letting it signal anything.
    fn disarm(&mut self) {
        if let Some((mut dog, pipe)) = self.watchdog.take() {
            let _ = dog.kill();
            let _ = dog.wait();
            drop(pipe);
        }
    }

    /// Sends a request; `cred` is the bearer credential, if any.
    pub fn req(&self, method: &str, path: &str, cred: Option<&str>, body: Body) -> Resp {
        self.req_with(method, path, cred, &[], body)
    }

    /// Sends a request with extra headers.
    pub fn req_with(
        &self,
        method: &str,
        path: &str,
        cred: Option<&str>,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Resp {
        try_req_at(self.addr, method, path, cred, headers, body).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `GET path`.
    pub fn get(&self, path: &str, cred: Option<&str>) -> Resp {
        self.req("GET", path, cred, Body::None)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, cred: Option<&str>, body: Value) -> Resp {
        self.req("POST", path, cred, Body::Json(body))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str, cred: Option<&str>) -> Resp {
        self.req("DELETE", path, cred, Body::None)
    }

    /// Runs the `wasmclaw` CLI against this gateway (`WASMCLAW_URL` set);
    /// `env` adds variables (`WASMCLAW_ADMIN_KEY`, `WASMCLAW_TOKEN`, …).
    pub fn cli(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Cli {
        match &self.store {
            Some(db) => {
                let mut env = env.to_vec();
                env.push(("WASMCLAW_STORE", db.url()));
                cli_at(&self.url(""), args, &env, stdin)
            }
            None => cli_at(&self.url(""), args, env, stdin),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + STOP_TIMEOUT;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.disarm();
    }
}

/// The command line of `wasmclaw serve` on `data_dir`: the one place it is
/// built. `serve_args` come after the harness's own arguments (another
/// store, say), so a suite runs over another backend by passing them.
fn serve_command(
    data_dir: &Path,
    config: Option<&Path>,
    admin_key: Option<&str>,
    store: Option<&str>,
    serve_args: &[String],
) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("WASMCLAW_ADMIN_KEY")
        .env_remove("WASMCLAW_TOKEN")
        .env_remove("WASMCLAW_URL")
        .env_remove("WASMCLAW_CONFIG")
        .env_remove("WASMCLAW_DATA_DIR")
        .env_remove("WASMCLAW_MASTER_KEY")
        .env_remove("WASMCLAW_STORE");
    if let Some(key) = admin_key {
        cmd.env("WASMCLAW_ADMIN_KEY", key);
    }
    if let Some(url) = store {
        cmd.env("WASMCLAW_STORE", url);
    }
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.args(serve_args);
    cmd
}

/// The gateway shared by the tests that do not interfere with one another
/// (each works on tenants of its own). Started on first use; its watchdog
/// stops it and removes its directory when the test process exits.
pub fn shared() -> &'static Gateway {
    static SHARED: OnceLock<Gateway> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let mut gw = Gateway {
            addr: "0.0.0.0:0".parse().unwrap(),
            preamble: Vec::new(),
            child: None,
            watchdog: None,
            data_dir: dir.join("data"),
            log: dir.join("gateway.log"),
            admin_key: Some(ADMIN_KEY.to_string()),
            config: None,
            serve_args: Vec::new(),
            serve_env: Vec::new(),
            log_start: 0,
            dir: None,
            store: test_store(),
        };
        gw.spawn(Some(&dir));
        gw.trust_test_publisher();
        gw
    })
}

/// The HTTP client (no proxy, generous timeout). It keeps no idle
/// connection: a server that answers before reading a body (a 404 for an
/// install on a tenant it does not show) closes the connection, and a pooled
/// one could be reused just as it closes.
pub fn client() -> &'static reqwest::blocking::Client {
    static CLIENT: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("HTTP client")
    })
}

/// A request body.
pub enum Body {
    /// No body.
    None,
    /// JSON (`content-type: application/json`).
    Json(Value),
    /// Bytes with this content type.
    Raw(&'static str, Vec<u8>),
}

/// A request without a whole answer.
#[derive(Debug)]
pub struct Lost {
    /// Whether a connection was made (if not, the gateway never saw it).
    pub connected: bool,
    /// The request and what went wrong.
    pub what: String,
}

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

/// Sends a request to the gateway at `addr` (`cred`: the bearer credential,
/// if any); `Ok` only once the whole answer was read, `Err` when the
/// connection failed or the answer was cut short (the gateway killed).
pub fn try_req_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cred: Option<&str>,
    headers: &[(&str, &str)],
    body: Body,
) -> Result<Resp, Lost> {
    let method_v = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = client().request(method_v, format!("http://{addr}{path}"));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(c) = cred {
        rb = rb.bearer_auth(c);
    }
    rb = match body {
        Body::None => rb,
        Body::Json(v) => rb.header("content-type", "application/json").body(v.to_string()),
        Body::Raw(ct, bytes) => rb.header("content-type", ct).body(bytes),
    };
    let resp =
        rb.send().map_err(|e| Lost { connected: !e.is_connect(), what: format!("{method} {path}: {e}") })?;
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap_or_default().to_string());
    let bytes = resp
        .bytes()
        .map_err(|e| Lost { connected: true, what: format!("{method} {path}: reading the body: {e}") })?
        .to_vec();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(Resp { what: format!("{method} {path}"), status, content_type, text, bytes })
}

/// An answer, with what was asked for the failure messages.
#[derive(Debug, Clone)]
pub struct Resp {
    /// `METHOD path`.
    pub what: String,
    /// The status.
    pub status: u16,
    /// The `content-type` header.
    pub content_type: Option<String>,
    /// The body (as text, lossily).
    pub text: String,
    /// The body's bytes.
    pub bytes: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics, showing it, if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| {
            panic!("{} → {}: body is not JSON ({e}): {:?}", self.what, self.status, self.text)
        })
    }

    /// Asserts the status and returns the JSON body (`null` for an empty one).
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{} → {} {}", self.what, self.status, self.text);
        if self.text.is_empty() { Value::Null } else { self.json() }
    }

    /// Asserts an error answer: this status, and a body of exactly the
    /// shape `{"error":{"code","message"}}` with this code and a message.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{} → {} {}", self.what, self.status, self.text);
        assert_error_shape(&self.what, self.status, &self.text, Some(code))
    }
}

/// Checks that `text` is `{"error":{"code":C,"message":M}}` (no other
/// keys but a conflict's `changes`), with `code` if given and a non-empty
/// message; returns the message.
#[track_caller]
pub fn assert_error_shape(what: &str, status: u16, text: &str, code: Option<&str>) -> String {
    let (got, message) = error_shape(text).unwrap_or_else(|e| panic!("{what} → {status}: {e}: {text:?}"));
    if let Some(code) = code {
        assert_eq!(got, code, "{what} → {status}: {text}");
    }
    message
}

/// The code and message of an error body of exactly the shape
/// `{"error":{"code","message"}}` (a non-empty message), or what is wrong.
pub fn error_shape(text: &str) -> Result<(String, String), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("the error body is not JSON ({e})"))?;
    let obj = v.as_object().ok_or("the error body is not an object")?;
    if obj.len() != 1 {
        return Err("the error body has keys besides `error`".into());
    }
    let err = obj.get("error").and_then(Value::as_object).ok_or("no `error` object")?;
    let code = err.get("code").and_then(Value::as_str).ok_or("no `code` string")?;
    // The one extra key: a refused upgrade's permission changes.
    let extra = usize::from(code == "conflict" && err.get("changes").is_some_and(Value::is_array));
    if err.len() != 2 + extra {
        return Err("`error` has keys besides `code` and `message`".into());
    }
    let message = err.get("message").and_then(Value::as_str).ok_or("no `message` string")?;
    if message.is_empty() {
        return Err("an empty message".into());
    }
    Ok((code.to_string(), message.to_string()))
}

/// A CLI run's outcome.
#[derive(Debug)]
pub struct Cli {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Stdout.
    pub stdout: String,
    /// Stderr.
    pub stderr: String,
}

impl Cli {
    /// Asserts exit 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Asserts exit 0 and parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        let out = self.ok();
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out:?}"))
    }
}

/// Runs `wasmclaw ARGS` with `WASMCLAW_URL=url` and only the `WASMCLAW_*`
/// variables in `env`.
pub fn cli_at(url: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Cli {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    for var in [
        "WASMCLAW_ADMIN_KEY",
        "WASMCLAW_TOKEN",
        "WASMCLAW_CONFIG",
        "WASMCLAW_DATA_DIR",
        "WASMCLAW_MASTER_KEY",
        "WASMCLAW_LOG",
        "WASMCLAW_STORE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("WASMCLAW_URL", url);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wasmclaw");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write stdin");
    }
    drop(input);
    let Output { status, stdout, stderr } = child.wait_with_output().expect("wait for wasmclaw");
    Cli {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A tenant created for a test, with one token of each role.
pub struct Tenant {
    /// Its id.
    pub id: String,
    /// An `admin` token.
    pub admin: String,
    /// A `member` token.
    pub member: String,
    /// A `guest` token.
    pub guest: String,
}

impl Tenant {
    /// `/v1/tenants/<id>` + `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/v1/tenants/{}{rest}", self.id)
    }
}

/// Creates tenant `id` as the operator (201, the tenant's shape) and mints
/// an admin, a member and a guest token for it.
pub fn tenant(gw: &Gateway, id: &str) -> Tenant {
    let t = gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": id })).expect(201);
    assert_eq!(t["id"], id, "{t}");
    assert_eq!(t["status"], "active", "{t}");
    assert!(t["created"].as_u64().is_some_and(|c| c > 1_600_000_000), "created is epoch seconds: {t}");
    let (admin, _) = mint(gw, id, ADMIN_KEY, "admin");
    let (member, _) = mint(gw, id, ADMIN_KEY, "member");
    let (guest, _) = mint(gw, id, ADMIN_KEY, "guest");
    Tenant { id: id.to_string(), admin, member, guest }
}

/// Mints a token of `role` for `tenant` with `cred` on the long route;
/// checks the answer's shape and returns the token and its id.
pub fn mint(gw: &Gateway, tenant: &str, cred: &str, role: &str) -> (String, String) {
    let v = gw
        .post(
            &format!("/v1/tenants/{tenant}/tokens"),
            Some(cred),
            json!({ "role": role, "name": format!("t-{role}") }),
        )
        .expect(201);
    check_minted(&v, tenant, role)
}

/// Checks a minted (or rotated) token's answer: `{"token", …token}`;
/// returns the token and its id.
#[track_caller]
pub fn check_minted(v: &Value, tenant: &str, role: &str) -> (String, String) {
    let token = v["token"].as_str().unwrap_or_else(|| panic!("no token: {v}")).to_string();
    let id = v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}")).to_string();
    assert_eq!(v["tenant"], tenant, "{v}");
    assert_eq!(v["role"], role, "{v}");
    assert_eq!(id.len(), 12, "the id is 12 hex digits: {v}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{v}");
    let prefix = format!("wct_{tenant}_{id}");
    assert_eq!(v["prefix"], prefix.as_str(), "{v}");
    let secret = token.strip_prefix(&format!("{prefix}_")).unwrap_or_else(|| panic!("token form: {token}"));
    assert_eq!(secret.len(), 32, "the secret is 32 hex digits: {token}");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    for key in ["name", "created", "last_used", "expires"] {
        assert!(v.get(key).is_some(), "token field {key}: {v}");
    }
    (token, id)
}

/// The install body of a compiled skill: its package (with its manifest,
/// signed by the tests' publisher key) in base64, and `guest`.
pub fn install_body(skill: &str, guest: bool) -> Value {
    json!({
        "package": base64::engine::general_purpose::STANDARD.encode(wasmclaw_tests::package(skill)),
        "guest": guest,
    })
}

/// Installs `skill` in `tenant` with `cred` (201, the skill's shape).
pub fn install(gw: &Gateway, tenant: &str, cred: &str, skill: &str, guest: bool) -> Value {
    let v =
        gw.post(&format!("/v1/tenants/{tenant}/skills"), Some(cred), install_body(skill, guest)).expect(201);
    assert_eq!(v["name"], skill, "{v}");
    assert_eq!(v["guest"], guest, "{v}");
    for key in ["version", "description", "digest", "installed", "capabilities"] {
        assert!(v.get(key).is_some(), "skill field {key}: {v}");
    }
    v
}

/// The fake model provider (both wire formats), started once on a runtime
/// of its own that lives as long as the test process.
pub fn fake_llm() -> &'static wasmclaw_tests::fake_llm::FakeLlm {
    static FAKE: OnceLock<(tokio::runtime::Runtime, wasmclaw_tests::fake_llm::FakeLlm)> = OnceLock::new();
    let (_, fake) = FAKE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let fake = rt.block_on(wasmclaw_tests::fake_llm::FakeLlm::start());
        (rt, fake)
    });
    fake
}

/// Invokes `skill` on the short route with `cred`.
pub fn invoke(gw: &Gateway, cred: &str, skill: &str, input: &Value) -> Resp {
    gw.req("POST", &format!("/v1/skills/{skill}/invoke"), Some(cred), Body::Json(input.clone()))
}

/// Invokes `skill` and returns its output (asserting 200 and a `usage`).
#[track_caller]
pub fn output(gw: &Gateway, cred: &str, skill: &str, input: &Value) -> Value {
    let v = invoke(gw, cred, skill, input).expect(200);
    assert!(v["usage"].is_object(), "usage: {v}");
    v["output"].clone()
}

/// The names in `{"skills":[…]}`, sorted.
pub fn skill_names(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = v["skills"]
        .as_array()
        .unwrap_or_else(|| panic!("skills: {v}"))
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    names
}

/// The ids in `{"tokens":[…]}`, sorted.
pub fn token_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["tokens"]
        .as_array()
        .unwrap_or_else(|| panic!("tokens: {v}"))
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

/// A raw HTTP/1.1 answer.
#[derive(Debug)]
pub struct RawResp {
    /// The status.
    pub status: u16,
    /// The body (de-chunked).
    pub body: String,
}

/// What a raw request sends as its body.
pub enum RawBody {
    /// Nothing.
    Empty,
    /// These bytes.
    Bytes(Vec<u8>),
    /// `prefix` then `filler` repeated up to `len` bytes in all, written
    /// while the answer is read (the server may answer before the end).
    Huge { prefix: Vec<u8>, filler: u8, len: usize },
}

/// Sends one request over a fresh connection exactly as given (the path is
/// not normalized, header values may be any bytes) and reads the answer.
pub fn raw(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &[u8])], body: RawBody) -> RawResp {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let len = match &body {
        RawBody::Empty => 0,
        RawBody::Bytes(b) => b.len(),
        RawBody::Huge { len, .. } => *len,
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n").into_bytes();
    for (k, v) in headers {
        head.extend_from_slice(k.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(v);
        head.extend_from_slice(b"\r\n");
    }
    if len > 0 || method != "GET" {
        head.extend_from_slice(format!("content-length: {len}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    stream.write_all(&head).expect("write the head");
    let writer = match body {
        RawBody::Empty => None,
        RawBody::Bytes(b) => {
            stream.write_all(&b).expect("write the body");
            None
        }
        RawBody::Huge { prefix, filler, len } => {
            let mut w = stream.try_clone().expect("clone the stream");
            Some(std::thread::spawn(move || {
                // The server may answer and close before the end: errors end the writing.
                if w.write_all(&prefix).is_err() {
                    return;
                }
                let chunk = vec![filler; 64 * 1024];
                let mut left = len.saturating_sub(prefix.len());
                while left > 0 {
                    let n = left.min(chunk.len());
                    if w.write_all(&chunk[..n]).is_err() {
                        return;
                    }
                    left -= n;
                }
            }))
        }
    };
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            // A reset after the answer arrived: keep what was read.
            Err(e) if !buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("{method} {path}: reading the answer: {e}"),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    if let Some(w) = writer {
        let _ = w.join();
    }
    parse_raw(&buf)
        .unwrap_or_else(|| panic!("{method} {path}: not an HTTP answer: {:?}", String::from_utf8_lossy(&buf)))
}

/// Parses an HTTP/1.1 answer (content-length, chunked or until close).
fn parse_raw(buf: &[u8]) -> Option<RawResp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (k, v) = line.split_once(':')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
            "content-length" => length = v.trim().parse::<usize>().ok(),
            _ => {}
        }
    }
    let rest = &buf[end + 4..];
    let body = if chunked {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let line_end = at + rest[at..].windows(2).position(|w| w == b"\r\n")?;
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[at..line_end]).ok()?.trim(), 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(at..at + size)?);
            at += size + 2;
        }
        out
    } else {
        match length {
            Some(n) => rest.get(..n)?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Some(RawResp { status, body: String::from_utf8_lossy(&body).into_owned() })
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Operator's audit events of `tenant` (`GET /v1/audit?tenant=`).
pub fn audit_events(gw: &Gateway, tenant: &str) -> Vec<Value> {
    let v = gw.get(&format!("/v1/audit?tenant={tenant}"), Some(ADMIN_KEY)).expect(200);
    v["events"].as_array().unwrap_or_else(|| panic!("events: {v}")).clone()
}

/// Whether `events` has one with this action (and outcome, if given).
pub fn has_event(events: &[Value], action: &str, outcome: Option<&str>) -> bool {
    events.iter().any(|e| e["action"] == action && outcome.is_none_or(|o| e["outcome"] == o))
}
