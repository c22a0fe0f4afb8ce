//! Real `wasmclaw serve` replicas of the release binary for the cluster
//! benches: started over one database and one tenants directory, their
//! tenants made over HTTP, and closed-loop load against them.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The operator's key every replica is started with.
pub const ADMIN_KEY: &str = "wca_0123456789abcdef0123456789abcdef";
/// The master key, the same on every replica.
pub const MASTER_KEY: &str = "4b6579206f6620746865207465737420636c7573746572203132333435363738";
/// The call the load sends.
pub const ROUTE: &str = "/v1/skills/echo/invoke";

/// The `wasmclaw` binary of the bench's own profile (`target/release`
/// under `cargo bench`), if built.
pub fn binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("wasmclaw");
    bin.exists().then_some(bin)
}

/// One `wasmclaw serve` replica.
pub struct Replica {
    child: Child,
    /// `host:port`.
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Replica {
    /// Starts replica `node` over `store`, sharing `tenants`.
    pub fn start(bin: &Path, store: &str, node: &str, tenants: &Path) -> Replica {
        let dir = tempfile::tempdir().expect("a data directory");
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--node-id", node, "--tenants-dir"])
            .arg(tenants)
            .env("WASMCLAW_STORE", store)
            .env("WASMCLAW_ADMIN_KEY", ADMIN_KEY)
            .env("WASMCLAW_MASTER_KEY", MASTER_KEY)
            .env("WASMCLAW_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wasmclaw serve");
        let out = BufReader::new(child.stdout.take().expect("its stdout"));
        let mut addr = None;
        for line in out.lines() {
            let line = line.expect("a line");
            if let Some(a) = line.strip_prefix("wasmclaw listening on http://") {
                addr = Some(a.trim().to_string());
                break;
            }
        }
        Replica { child, addr: addr.expect("a listening line"), _dir: dir }
    }

    /// `http://addr` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its resident memory now (`VmRSS`), in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    }

    /// A graceful stop (SIGTERM: its leases are given up at once), and wait.
    pub fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }

    /// SIGKILL, and wait.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).stderr(Stdio::null()).status();
        let _ = self.child.wait();
    }
}

/// A blocking client (a 30 s timeout).
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// One request: the status and the JSON body (`null` when none).
pub fn call(
    c: &reqwest::blocking::Client,
    method: &str,
    url: &str,
    cred: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = c.request(method.parse().expect("a method"), url).bearer_auth(cred);
    if let Some(b) = body {
        rb = rb.header("content-type", "application/json").body(b.to_string());
    }
    let r = rb.send().expect("an answer");
    let status = r.status().as_u16();
    (status, r.text().ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null))
}

/// A tenant of the bench: its id, a member token and the token's id.
pub struct BenchTenant {
    pub id: String,
    pub token: String,
    pub token_id: String,
}

/// `count` tenants made through `r`, each with `echo` installed through
/// `via[i % via.len()]` (the first request about it, so that replica owns
/// it) and a member token.
pub fn tenants(
    c: &reqwest::blocking::Client,
    r: &Replica,
    via: &[&Replica],
    count: usize,
) -> Vec<BenchTenant> {
    let key = wasmclaw_tests::publisher().public().to_string();
    let _ = call(c, "POST", &r.url("/v1/trust"), ADMIN_KEY, Some(json!({"name": "tests", "key": key})));
    let package = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(wasmclaw_tests::package("echo"))
    };
    (0..count)
        .map(|i| {
            let id = format!("bench-{i}");
            let (s, _) = call(c, "POST", &r.url("/v1/tenants"), ADMIN_KEY, Some(json!({"id": id})));
            assert_eq!(s, 201, "tenant {id}");
            let owner = via[i % via.len()];
            let path = format!("/v1/tenants/{id}/skills");
            let (s, _) = call(c, "POST", &owner.url(&path), ADMIN_KEY, Some(json!({"package": package})));
            assert_eq!(s, 201, "install in {id}");
            let minted = json!({"role": "member"});
            let (s, v) =
                call(c, "POST", &r.url(&format!("/v1/tenants/{id}/tokens")), ADMIN_KEY, Some(minted));
            assert_eq!(s, 201, "a token of {id}");
            let token = v["token"].as_str().expect("a token").to_string();
            BenchTenant { id, token, token_id: v["id"].as_str().expect("its id").to_string() }
        })
        .collect()
}

/// Requests per second over `conns` connections for `secs`: connection `i`
/// sends tenant `tokens[i]`'s calls to `targets[i]`.
pub fn throughput(targets: &[String], tokens: &[String], secs: f64) -> f64 {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let done: usize = std::thread::scope(|s| {
        let conns: Vec<_> = targets
            .iter()
            .zip(tokens)
            .map(|(url, token)| {
                s.spawn(move || {
                    let c = client();
                    let mut n = 0;
                    while Instant::now() < end {
                        let (status, _) = call(&c, "POST", url, token, Some(json!({"msg": "hello"})));
                        n += usize::from(status == 200);
                    }
                    n
                })
            })
            .collect();
        conns.into_iter().map(|c| c.join().expect("a connection")).sum()
    });
    done as f64 / secs
}
