//! The README's skill-author walk-through, run as written: the block
//! fenced "```sh skill-walkthrough" goes through `bash -euo pipefail` in a
//! fresh directory against a real `wasmclaw serve`, with the built
//! `wasmclaw` first on PATH. Its last line of output must be the skill's
//! answer.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const ADMIN_KEY: &str = "wca_00112233445566778899aabbccddeeff";

/// Kills the gateway when the test ends, passed or not.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn walkthrough_block() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("read README.md");
    let start =
        text.find("```sh skill-walkthrough\n").expect("README.md has a ```sh skill-walkthrough block");
    let body = &text[start..].split_once('\n').expect("fence line").1;
    let end = body.find("\n```").expect("the walk-through block is closed");
    body[..end].to_string()
}

#[test]
fn the_readme_skill_walkthrough_runs_as_written() {
    let block = walkthrough_block();
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_wasmclaw"));
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WASMCLAW_DATA_DIR", dir.path().join("data"))
        .env("WASMCLAW_ADMIN_KEY", ADMIN_KEY)
        .env_remove("WASMCLAW_CONFIG")
        .env_remove("WASMCLAW_TOKEN")
        .env_remove("WASMCLAW_URL")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn wasmclaw serve");
    let stdout = child.stdout.take().unwrap();
    let serve = Serve(child);
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the gateway's stdout");
        if let Some(u) = line.strip_prefix("wasmclaw listening on ") {
            url = Some(u.to_string());
            break;
        }
    }
    let url = url.expect("the gateway printed its listening line");

    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &block])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("WASMCLAW_URL", &url)
        .env("WASMCLAW_ADMIN_KEY", ADMIN_KEY)
        .env_remove("WASMCLAW_TOKEN")
        .env_remove("WASMCLAW_DATA_DIR")
        .env_remove("WASMCLAW_CONFIG");
    // The host build's settings must not leak into the skill's cargo build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_PKG_NAME",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = || {
        format!(
            "stdout:\n{stdout}\nstderr:\n{stderr}\ngateway log:\n{}",
            std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
        )
    };
    assert!(out.status.success(), "the walk-through failed ({}):\n{}", out.status, report());
    let last = stdout.lines().last().unwrap_or_default();
    let answer: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{}", report()));
    assert_eq!(answer, serde_json::json!({"greeting": "Hello, world!"}), "{}", report());
    assert!(stdout.contains("wasmclaw:skill/handler@0.1.0"), "inspect showed the exports:\n{}", report());
    drop(serve);
}
