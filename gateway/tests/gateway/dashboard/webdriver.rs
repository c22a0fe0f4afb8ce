//! A W3C WebDriver client (plain JSON over the blocking HTTP client) for
//! Debian's `chromedriver` and headless Chromium.
//!
//! One `chromedriver --port=0` serves the whole test binary (it reads the
//! port from its "started successfully on port N" line, and a watchdog
//! ends it with the test process). Each [`Browser`] is a new session with a
//! fresh `--user-data-dir`, loopback only. Sessions are taken one at a time
//! ([`Browser::open`] holds a lock), so two Chromiums never share the two
//! cores.
//!
//! Without chromedriver the tests skip, saying so, except under `CI=true`,
//! where they fail.

use base64::Engine;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The element key of W3C WebDriver.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    base: String,
    _child: Child,
    _watchdog: (Child, ChildStdin),
}

static DRIVER: OnceLock<Option<Driver>> = OnceLock::new();
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn find(binary: &str) -> Option<String> {
    ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
        .iter()
        .map(|d| format!("{d}/{binary}"))
        .find(|p| std::path::Path::new(p).exists())
}

fn start_driver() -> Option<Driver> {
    let path = find("chromedriver")?;
    let mut child = Command::new(path)
        .args(["--port=0", "--allowed-ips=127.0.0.1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let pid = child.id().to_string();
    let mut watchdog = Command::new("sh")
        .args([
            "-c",
            r#"cat >/dev/null; kill -TERM "$1" 2>/dev/null; pkill -TERM -P "$1" 2>/dev/null"#,
            "watchdog",
            &pid,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let pipe = watchdog.stdin.take()?;
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line.split("started successfully on port ").nth(1) {
                let _ = tx.send(port.trim_end_matches('.').trim().to_string());
            }
        }
    });
    let port = rx.recv_timeout(Duration::from_secs(30)).expect("chromedriver printed its port");
    Some(Driver { base: format!("http://127.0.0.1:{port}"), _child: child, _watchdog: (watchdog, pipe) })
}

/// Whether the browser tests can run here; without chromedriver, false
/// (after saying so), or a failure under `CI=true`.
pub fn available() -> bool {
    let up = DRIVER.get_or_init(start_driver).is_some();
    if !up {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is missing: .ci/run installs Debian's chromium and chromium-driver"
        );
        eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver)");
    }
    up
}

fn client() -> &'static reqwest::blocking::Client {
    static C: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(120)).build().unwrap()
    })
}

fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
    let mut rb = client().request(method.clone(), url);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status();
    let v: Value = resp.json().unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {url}: {status} {v}");
    v["value"].clone()
}

/// How a browser is opened.
#[derive(Clone, Copy, Debug)]
pub struct Opts {
    /// The viewport, CSS pixels.
    pub width: u32,
    pub height: u32,
    /// Whether JavaScript runs in pages.
    pub javascript: bool,
}

/// The two viewports every page is tried at.
pub const DESKTOP: Opts = Opts { width: 1280, height: 900, javascript: true };
pub const PHONE: Opts = Opts { width: 390, height: 844, javascript: true };

/// One browser session.
pub struct Browser {
    base: String,
    _dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// A new session of headless Chromium.
    pub fn open(opts: Opts) -> Browser {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let driver =
            DRIVER.get_or_init(start_driver).as_ref().expect("chromedriver (check available() first)");
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-features=Translate,OptimizationHints,MediaRouter",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--font-render-hinting=none",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--user-data-dir={}", dir.path().display()));
        let chrome = json!({
            "binary": find("chromium").unwrap_or_else(|| "/usr/bin/chromium".into()),
            "args": args,
            "mobileEmulation": { "deviceMetrics": { "width": opts.width, "height": opts.height, "pixelRatio": 1.0 } },
        });
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": chrome,
            "goog:loggingPrefs": { "browser": "ALL" },
            "unhandledPromptBehavior": "ignore",
        }}});
        let v = call(reqwest::Method::POST, &format!("{}/session", driver.base), Some(caps));
        let sid = v["sessionId"].as_str().expect("a session id").to_string();
        let b = Browser { base: format!("{}/session/{sid}", driver.base), _dir: dir, _turn: turn };
        if !opts.javascript {
            // No script of the page's loads (htmx is the dashboard's only
            // one); WebDriver's own still run. (Chromium's JavaScript
            // content setting also stops WebDriver's navigation waits.)
            b.post("/goog/cdp/execute", json!({ "cmd": "Network.enable", "params": {} }));
            b.post(
                "/goog/cdp/execute",
                json!({ "cmd": "Network.setBlockedURLs", "params": { "urls": ["*.js"] } }),
            );
        }
        b
    }

    /// Waits up to 10 s for `done`; false if it never held.
    pub fn wait_for(&self, mut done: impl FnMut(&Browser) -> bool) -> bool {
        for _ in 0..100 {
            if done(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn post(&self, path: &str, body: Value) -> Value {
        call(reqwest::Method::POST, &format!("{}{path}", self.base), Some(body))
    }

    fn get(&self, path: &str) -> Value {
        call(reqwest::Method::GET, &format!("{}{path}", self.base), None)
    }

    /// Loads `url` and waits for it.
    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.get("/url").as_str().unwrap_or_default().to_string()
    }

    /// The first element matching `css`, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let url = format!("{}/elements", self.base);
        let v = call(reqwest::Method::POST, &url, Some(json!({ "using": "css selector", "value": css })));
        v.as_array()?.first().map(|e| e[ELEMENT].as_str().unwrap_or_default().to_string())
    }

    /// The first element matching `css` (the test fails without one).
    pub fn el(&self, css: &str) -> String {
        self.find(css).unwrap_or_else(|| panic!("no element {css:?} on {}", self.url()))
    }

    /// Clicks an element.
    pub fn click(&self, el: &str) {
        self.post(&format!("/element/{el}/click"), json!({}));
    }

    /// Clicks the button `css` of a form that loads a new page, and waits
    /// for that page.
    pub fn submit(&self, css: &str) {
        let el = self.el(css);
        self.exec("window.__old_page = true; return true;", json!([]));
        self.click(&el);
        let loaded = self.wait_for(|b| {
            b.exec("return window.__old_page !== true && document.readyState === 'complete';", json!([]))
                == json!(true)
        });
        assert!(loaded, "{css}: no new page came");
    }

    /// Types into an element.
    pub fn type_into(&self, el: &str, text: &str) {
        self.post(&format!("/element/{el}/value"), json!({ "text": text }));
    }

    /// Runs `script` (a function body) with `args`; returns its value.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Runs an async `script` whose last argument is the callback.
    pub fn exec_async(&self, script: &str, args: Value) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
    }

    /// The text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        let el = self.el(css);
        self.get(&format!("/element/{el}/text")).as_str().unwrap_or_default().to_string()
    }

    /// A screenshot of the viewport (PNG).
    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.get("/screenshot");
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).unwrap()
    }

    /// The cookies the browser holds for the current page.
    pub fn cookies(&self) -> Vec<Value> {
        self.get("/cookie").as_array().cloned().unwrap_or_default()
    }

    /// The browser's console entries since the last call (CSP violations,
    /// script errors).
    pub fn logs(&self) -> Vec<Value> {
        self.post("/se/log", json!({ "type": "browser" })).as_array().cloned().unwrap_or_default()
    }

    /// Whether an alert or other dialog is open.
    pub fn dialog_open(&self) -> bool {
        let url = format!("{}/alert/text", self.base);
        client().get(url).send().map(|r| r.status().is_success()).unwrap_or(false)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = client().delete(&self.base).send();
    }
}
