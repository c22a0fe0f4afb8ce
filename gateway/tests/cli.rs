//! The `wasmclaw` binary end to end: output on stdout, errors on stderr,
//! a distinct exit code per failure, `--help` everywhere. (The remote
//! commands against a running gateway are tested with the gateway; here,
//! only what needs none.)

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use wasmclaw_tests::skill_path;

fn wasmclaw(args: &[&str], data: &std::path::Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmclaw"))
        .args(args)
        .env("WASMCLAW_DATA_DIR", data)
        .env_remove("WASMCLAW_CONFIG")
        .env_remove("WASMCLAW_URL")
        .env_remove("WASMCLAW_TOKEN")
        .env_remove("WASMCLAW_ADMIN_KEY")
        .env_remove("WASMCLAW_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wasmclaw");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn echo() -> String {
    skill_path("echo").display().to_string()
}

#[test]
fn run_prints_the_output_on_stdout() {
    let d = tempfile::tempdir().unwrap();
    let out = wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", r#"{"hi":1}"#], d.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\"hi\":1}\n");
}

#[test]
fn input_from_a_file_and_from_stdin() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("in.json");
    std::fs::write(&f, "[1,2]").unwrap();
    let at = format!("@{}", f.display());
    let out = wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", &at], d.path(), None);
    assert_eq!(text(&out.stdout), "[1,2]\n", "{}", text(&out.stderr));
    let out = wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", "-"], d.path(), Some("\"x\""));
    assert_eq!(text(&out.stdout), "\"x\"\n", "{}", text(&out.stderr));
    let out = wasmclaw(&["run", &echo(), "--tenant", "acme"], d.path(), Some("true"));
    assert_eq!(text(&out.stdout), "true\n", "{}", text(&out.stderr));
}

#[test]
fn errors_go_to_stderr_with_distinct_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--tenant", "Bad_Tenant", "--input", "{}"], 3, "invalid tenant id"),
        (&["--tenant", "../etc", "--input", "{}"], 3, "invalid tenant id"),
        (&["--tenant", "acme", "--input", "{nope"], 3, "not JSON"),
        (&["--tenant", "acme", "--input", "@/nonexistent/in.json"], 3, "cannot read the input file"),
    ];
    let echo = echo();
    for (i, (args, code, msg)) in cases.iter().enumerate() {
        let mut all = vec!["run", &echo[..]];
        all.extend_from_slice(args);
        let data = d.path().join(format!("case-{i}"));
        let out = wasmclaw(&all, &data, None);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(msg), "{args:?}: {}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        assert!(!text(&out.stderr).contains("panicked"));
        if msg.contains("tenant") {
            assert!(!data.exists(), "a bad tenant id is refused before anything is created on disk");
        }
    }

    let missing =
        wasmclaw(&["run", "/nonexistent.wasm", "--tenant", "acme", "--input", "{}"], d.path(), None);
    assert_eq!(missing.status.code(), Some(14), "{}", text(&missing.stderr));
    let wrong = skill_path("wrong-world").display().to_string();
    let out = wasmclaw(&["run", &wrong, "--tenant", "acme", "--input", "{}"], d.path(), None);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[test]
fn limits_from_flags_produce_their_exit_codes() {
    let d = tempfile::tempdir().unwrap();
    let spin = skill_path("spin").display().to_string();
    let hog = skill_path("hog").display().to_string();
    let out =
        wasmclaw(&["run", &spin, "--tenant", "acme", "--input", "{}", "--fuel", "1000000"], d.path(), None);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("out of fuel"));
    let out = wasmclaw(
        &["run", &spin, "--tenant", "acme", "--input", "{}", "--fuel", "100000000000", "--timeout", "200ms"],
        d.path(),
        None,
    );
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    let out =
        wasmclaw(&["run", &hog, "--tenant", "acme", "--input", "{}", "--memory", "8MiB"], d.path(), None);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out.stderr));
    let out =
        wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", "{}", "--timeout", "soon"], d.path(), None);
    assert_eq!(out.status.code(), Some(2), "a bad flag value is a usage error");
}

#[test]
fn describe_shows_info_and_imports() {
    let d = tempfile::tempdir().unwrap();
    let notes = skill_path("notes").display().to_string();
    let out = wasmclaw(&["describe", &notes, "--json"], d.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["info"]["name"], "notes");
    assert!(
        v["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().starts_with("wasmclaw:skill/memory"))
    );
    assert_eq!(v["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn help_and_version_everywhere() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["--help"],
        &["run", "--help"],
        &["describe", "--help"],
        &["serve", "--help"],
        &["secret", "--help"],
        &["secret", "set", "--help"],
        &["secret", "list", "--help"],
        &["tenant", "--help"],
        &["tenant", "create", "--help"],
        &["tenant", "list", "--help"],
        &["tenant", "show", "--help"],
        &["tenant", "suspend", "--help"],
        &["tenant", "resume", "--help"],
        &["tenant", "delete", "--help"],
        &["token", "--help"],
        &["token", "mint", "--help"],
        &["token", "list", "--help"],
        &["token", "rotate", "--help"],
        &["token", "revoke", "--help"],
        &["policy", "--help"],
        &["policy", "show", "--help"],
        &["policy", "set", "--help"],
        &["skill", "--help"],
        &["skill", "install", "--help"],
        &["skill", "list", "--help"],
        &["skill", "remove", "--help"],
        &["invoke", "--help"],
        &["audit", "--help"],
        &["usage", "--help"],
        &["doctor", "--help"],
        &["security", "--help"],
        &["security", "audit", "--help"],
        &["store", "--help"],
        &["store", "migrate", "--help"],
        &["help"],
        &["help", "token"],
    ];
    for args in cases {
        let out = wasmclaw(args, d.path(), None);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
    let out = wasmclaw(&["--version"], d.path(), None);
    assert_eq!(text(&out.stdout).trim(), format!("wasmclaw {}", env!("CARGO_PKG_VERSION")));
    let out = wasmclaw(&[], d.path(), None);
    assert_eq!(out.status.code(), Some(2));
    let out = wasmclaw(&["token", "mint", "acme", "--role", "root"], d.path(), None);
    assert_eq!(out.status.code(), Some(2), "an unknown role is a usage error");
    let out = wasmclaw(&["tenant", "list", "--url", "ftp://example.com"], d.path(), None);
    assert_eq!(out.status.code(), Some(2), "a URL that is not http(s) is a usage error");
}

#[test]
fn secrets_are_write_only_and_policies_are_validated() {
    let d = tempfile::tempdir().unwrap();
    let out = wasmclaw(
        &["secret", "set", "API_KEY", "--tenant", "acme", "--offline"],
        d.path(),
        Some("sk-cli-value\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = wasmclaw(&["secret", "list", "--tenant", "acme", "--offline"], d.path(), None);
    assert_eq!(text(&out.stdout), "API_KEY\n");
    let out = wasmclaw(&["secret", "list", "--tenant", "other", "--offline"], d.path(), None);
    assert_eq!(text(&out.stdout), "", "another tenant sees no names");
    // The value is nowhere in the data directory in clear.
    for entry in walk(d.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(!bytes.windows(12).any(|w| w == b"sk-cli-value"), "{} holds the value", entry.display());
    }
    let out = wasmclaw(&["secret", "set", "bad name", "--tenant", "acme", "--offline"], d.path(), Some("x"));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    // A policy that tries to set what it may not is refused, naming the key.
    let policy = d.path().join("policy.toml");
    std::fs::write(&policy, "[limits]\nfuel = 5\nlisten = \"0.0.0.0:80\"\n").unwrap();
    let p = policy.display().to_string();
    let out =
        wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", "{}", "--policy", &p], d.path(), None);
    assert_eq!(out.status.code(), Some(15), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("listen"), "{}", text(&out.stderr));
    // A good policy is applied: its fuel limit stops the spin skill.
    std::fs::write(&policy, "[limits]\nfuel = 1000000\n").unwrap();
    let spin = skill_path("spin").display().to_string();
    let out = wasmclaw(&["run", &spin, "--tenant", "acme", "--input", "{}", "--policy", &p], d.path(), None);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1000000"), "{}", text(&out.stderr));
}

#[test]
fn a_manifest_that_disagrees_with_the_component_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m.toml");
    std::fs::write(&m, "name = \"not-echo\"\nversion = \"0.1.0\"\n").unwrap();
    let mp = m.display().to_string();
    let out =
        wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", "{}", "--manifest", &mp], d.path(), None);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not-echo"), "{}", text(&out.stderr));
    std::fs::write(&m, "name = \"echo\"\nversion = \"0.1.0\"\nbogus = 1\n").unwrap();
    let out =
        wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", "{}", "--manifest", &mp], d.path(), None);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("bogus"), "{}", text(&out.stderr));
}

/// A URL where no gateway listens.
const NOWHERE: &str = "http://127.0.0.1:1";

#[test]
fn an_unreachable_gateway_is_exit_14_naming_the_url() {
    let d = tempfile::tempdir().unwrap();
    let cases: &[&[&str]] = &[
        &["tenant", "list", "--url", NOWHERE, "--admin-key", "wca_00000000000000000000000000000000"],
        &["invoke", "echo", "--input", "{}", "--url", NOWHERE, "--token", "wct_acme_0_0"],
        &["token", "mint", "acme", "--role", "member", "--url", NOWHERE],
        &["secret", "list", "--tenant", "acme", "--url", NOWHERE],
        &["audit", "--since", "1h", "--url", NOWHERE],
    ];
    for args in cases {
        let out = wasmclaw(args, d.path(), Some("x"));
        assert_eq!(out.status.code(), Some(14), "{args:?}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains("cannot reach the gateway at http://127.0.0.1:1"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!err.contains("panicked"));
    }
    // The URL also comes from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_wasmclaw"))
        .args(["tenant", "list"])
        .env("WASMCLAW_URL", NOWHERE)
        .env_remove("WASMCLAW_ADMIN_KEY")
        .env_remove("WASMCLAW_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(14), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(NOWHERE));
    // Remote commands never touch the data directory.
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn a_bad_tenant_id_is_refused_before_any_request() {
    let d = tempfile::tempdir().unwrap();
    let out = wasmclaw(&["tenant", "show", "../etc", "--url", NOWHERE], d.path(), None);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("invalid tenant id"), "{}", text(&out.stderr));
}

/// The lines `doctor` printed that start with `level`.
/// `store migrate` refuses what it cannot use before touching anything,
/// and never prints the target's password (the success and the refused
/// second run are tested with the gateway, on a PostgreSQL server).
#[test]
fn store_migrate_refuses_bad_input_without_printing_the_password() {
    let d = tempfile::tempdir().unwrap();
    let help = wasmclaw(&["store", "migrate", "--help"], d.path(), None);
    let help = text(&help.stdout);
    assert!(help.contains("Stop the gateway first") && help.contains("WASMCLAW_MASTER_KEY"), "{help}");
    let from = d.path().display().to_string();
    let migrate = |to: &str| wasmclaw(&["store", "migrate", "--from", &from, "--to", to], d.path(), None);

    let out = migrate("mysql://u:hunter2@db.internal/wasmclaw");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let pg = "postgres://u:hunter2@127.0.0.1:9/wasmclaw";
    let out = migrate(pg);
    assert_eq!(out.status.code(), Some(16), "no database in the directory: {}", text(&out.stderr));
    assert!(!d.path().join("wasmclaw.redb").exists(), "the source is never created");

    // A data directory with a database, and a server that cannot be reached.
    let run = wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", "1"], d.path(), None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let out = migrate(pg);
    assert_eq!(out.status.code(), Some(1), "an unreachable database: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot reach the database at 127.0.0.1:9 (postgres://u:***@"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("u:***@127.0.0.1:9"), "{}", text(&out.stderr));
    for out in [&out, &migrate("mysql://u:hunter2@db.internal/wasmclaw")] {
        assert!(!text(&out.stdout).contains("hunter2") && !text(&out.stderr).contains("hunter2"), "{out:?}");
    }
}

/// `serve` with a database nothing answers at exits 1 at once, with one
/// error line naming the host and port and never the password; a store URL
/// that is no PostgreSQL URL stays a configuration error (15).
#[test]
fn serve_with_an_unreachable_database_exits_1_naming_the_host_and_port_never_the_password() {
    let d = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = format!("postgres://gw:hunter2-5e0c@127.0.0.1:{port}/wasmclaw");
    let serve =
        |store: &str| wasmclaw(&["serve", "--listen", "127.0.0.1:0", "--store", store], d.path(), None);
    let out = serve(&store);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("listening"), "{stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {stderr}");
    assert!(
        lines[0].starts_with(&format!(
            "error: cannot reach the database at 127.0.0.1:{port} (postgres://gw:***@127.0.0.1:{port}/wasmclaw): "
        )),
        "{stderr}"
    );
    assert!(lines[0].contains("Connection refused"), "says why: {stderr}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"), "{stdout}{stderr}");

    let out = serve("mysql://gw:hunter2-5e0c@127.0.0.1/wasmclaw");
    assert_eq!(out.status.code(), Some(15), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("hunter2"), "{}", text(&out.stderr));
}

fn doctor_lines<'a>(stdout: &'a str, level: &str) -> Vec<&'a str> {
    stdout.lines().filter(|l| l.split_whitespace().next() == Some(level)).collect()
}

#[cfg(unix)]
#[test]
fn doctor_passes_a_fresh_data_dir_and_fails_a_readable_key() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    let out = wasmclaw(&["run", &echo(), "--tenant", "acme", "--input", "{}"], &data, None);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = wasmclaw(&["doctor", "--url", NOWHERE], &data, None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(doctor_lines(&stdout, "FAIL").is_empty(), "{stdout}");
    for name in ["master.key", "wasmclaw.redb", "audit.log"] {
        assert!(
            doctor_lines(&stdout, "ok").iter().any(|l| l.contains(name)),
            "{name} is checked and ok: {stdout}"
        );
    }
    assert!(doctor_lines(&stdout, "ok").iter().any(|l| l.contains("data dir")), "{stdout}");
    // The gateway is not running: a warning naming the URL, not a failure.
    assert!(doctor_lines(&stdout, "warn").iter().any(|l| l.contains(NOWHERE)), "{stdout}");

    let key = data.join("master.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = wasmclaw(&["doctor", "--url", NOWHERE], &data, None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(21), "{stdout}{}", text(&out.stderr));
    let failed = doctor_lines(&stdout, "FAIL");
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(failed[0].contains("master.key") && failed[0].contains("644"), "{stdout}");
    assert!(text(&out.stderr).starts_with("error: "), "{}", text(&out.stderr));

    // A config file that does not parse fails too.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = d.path().join("bad.toml");
    std::fs::write(&config, "bogus_key = 1\n").unwrap();
    let c = config.display().to_string();
    let out = wasmclaw(&["doctor", "--url", NOWHERE, "--config", &c], &data, None);
    assert_eq!(out.status.code(), Some(21), "{}", text(&out.stdout));
    assert!(doctor_lines(&text(&out.stdout), "FAIL").iter().any(|l| l.contains("bogus_key")));
}

/// With `--store`, doctor checks the database: one that cannot be reached
/// is a `FAIL` line naming its host and port, never the password, and
/// exit 21; without `--store` there is no store line at all.
#[test]
fn doctor_fails_a_store_that_cannot_be_reached_naming_it_without_the_password() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("none");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = format!("postgres://gw:hunter2-d0c7@127.0.0.1:{port}/wasmclaw");
    let out = wasmclaw(&["doctor", "--url", NOWHERE, "--store", &store], &data, None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(21), "{stdout}{stderr}");
    let failed = doctor_lines(&stdout, "FAIL");
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(
        failed[0]
            .contains(&format!("store: cannot reach the database at 127.0.0.1:{port} (postgres://gw:***@")),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"), "{stdout}{stderr}");
    // A store URL the store would refuse (an unknown sslmode) fails too.
    let out =
        wasmclaw(&["doctor", "--url", NOWHERE, "--store", &format!("{store}?sslmode=maybe")], &data, None);
    assert_eq!(out.status.code(), Some(21), "{}", text(&out.stdout));
    assert!(
        doctor_lines(&text(&out.stdout), "FAIL").iter().any(|l| l.contains("sslmode")),
        "{}",
        text(&out.stdout)
    );

    let out = wasmclaw(&["doctor", "--url", NOWHERE], &data, None);
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains("store:") && !stdout.contains("store postgres"),
        "no store line on redb: {stdout}"
    );
}

#[test]
fn doctor_warns_about_a_data_dir_that_does_not_exist() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("none");
    let out = wasmclaw(&["doctor", "--url", NOWHERE], &data, None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(doctor_lines(&text(&out.stdout), "warn").iter().any(|l| l.contains("does not exist")));
    assert!(!data.exists(), "doctor creates nothing");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `serve ARGS` with `env`, on a fresh data directory: it must refuse to
/// start (it is killed after a minute otherwise).
fn serve_refused(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let d = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmclaw"));
    cmd.arg("serve");
    if !args.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    cmd.args(args).env("WASMCLAW_DATA_DIR", d.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("WASMCLAW_") && k != "WASMCLAW_DATA_DIR" {
            cmd.env_remove(k);
        }
    }
    let mut child =
        cmd.envs(env.iter().copied()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("serve {args:?} did not refuse to start");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code(), text(&out.stderr))
}

#[test]
fn serve_refuses_a_replica_it_cannot_run() {
    let key = [("WASMCLAW_ADMIN_KEY", "wca_0123456789abcdef0123456789abcdef")];
    // A cluster needs a shared store: redb is one process's file.
    let (code, err) = serve_refused(&["--node-id", "r1"], &key);
    assert_eq!(code, Some(15), "{err}");
    assert!(err.contains("needs a shared store") && err.contains("--store postgres://"), "{err}");
    // Replicas starting together must not each generate an admin key.
    let (code, err) = serve_refused(&["--node-id", "r1"], &[]);
    assert_eq!(code, Some(15), "{err}");
    assert!(err.contains("needs WASMCLAW_ADMIN_KEY"), "{err}");
    for (args, says) in [
        (&["--node-id", "R_1"][..], "node id \"R_1\""),
        (&["--node-id", "r1", "--advertise", "http://u:p@h:1"][..], "--advertise"),
        (&["--node-id", "r1", "--advertise", "h:1"][..], "--advertise"),
        (&["--node-id", "r1", "--listen", "0.0.0.0:0"][..], "--advertise http://HOST:PORT"),
    ] {
        let (code, err) = serve_refused(args, &key);
        assert_eq!(code, Some(15), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // --advertise means nothing without a node id.
    let (code, err) = serve_refused(&["--advertise", "http://h:1"], &key);
    assert_eq!(code, Some(2), "{err}");
}
