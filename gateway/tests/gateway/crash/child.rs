//! The child: the real `wasmclaw serve` as a harness [`Gateway`] on a data
//! directory of its own, SIGKILLed at each round's end and restarted on the
//! same directory. It counts as up once it has printed its listening line
//! (the harness), answers `/readyz` and has logged no error while opening
//! the store, the vault and the installed skills.

use crate::harness::{Body, Gateway, try_req_at};
use std::time::{Duration, Instant};

/// How long a started gateway may take to answer `/readyz` once listening.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The configuration: a provider that is never reached (agents need one,
/// and the secret checks stop at the signature), and the secret caps raised
/// (the writers put a new secret per write, past the default cap of 100 per
/// tenant; the cap is not what this test is about, `http::secrets_are_capped…`
/// is).
pub(super) const CONFIG: &str = "[providers.dead]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nmax_retries = 0\n\
                      [secret_limits]\nmax_count = 1000000\nmax_total_bytes = 1073741824\n";

/// Starts the gateway on a fresh directory with [`CONFIG`], `serve_args`
/// after the harness's own `serve` arguments (every restart passes them
/// again: `--store …` runs the suite over another store). The harness
/// trusts the tests' publisher key (asserting its 201).
pub(super) fn start(serve_args: &[&str]) -> Gateway {
    Gateway::start_with_serve_args(CONFIG, serve_args)
}

/// Starts a killed gateway again on its data directory; `Err` with what
/// happened when it is not up.
pub(super) fn restart(gw: &mut Gateway) -> Result<(), String> {
    gw.try_restart_stopped()?;
    ready(gw)
}

/// Waits until a listening gateway answers `/readyz` with 200, then checks
/// that this start logged no error (a skill that does not load is logged,
/// not fatal); `Err` with what happened.
pub(super) fn ready(gw: &Gateway) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(r) = try_req_at(gw.addr, "GET", "/readyz", None, &[], Body::None)
            && r.status == 200
        {
            let log = gw.log_since_start();
            if let Some(line) = log.lines().find(|l| l.contains("ERROR") || l.contains("panicked")) {
                return Err(format!("the start logged an error: {line}"));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err("/readyz never answered 200".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last lines of the gateway's log.
pub(super) fn log_tail(gw: &Gateway) -> String {
    let text = gw.log_text();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
