//! The `wasmclaw` binary end to end: output on stdout, errors on stderr,
//! a distinct exit code per failure, `--help` everywhere.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use wasmclaw_tests::skill_path;

fn wasmclaw(args: &[&str], data: &std::path::Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmclaw"))
        .args(args)
        .env("WASMCLAW_DATA_DIR", data)
        .env_remove("WASMCLAW_CONFIG")
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
    let cases: [&[&str]; 7] = [
        &["--help"],
        &["run", "--help"],
        &["describe", "--help"],
        &["secret", "--help"],
        &["secret", "set", "--help"],
        &["secret", "list", "--help"],
        &["help"],
    ];
    for args in cases {
        let out = wasmclaw(args, d.path(), None);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
    let out = wasmclaw(&["--version"], d.path(), None);
    assert_eq!(text(&out.stdout).trim(), format!("wasmclaw {}", env!("CARGO_PKG_VERSION")));
    let out = wasmclaw(&[], d.path(), None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn secrets_are_write_only_and_policies_are_validated() {
    let d = tempfile::tempdir().unwrap();
    let out = wasmclaw(&["secret", "set", "API_KEY", "--tenant", "acme"], d.path(), Some("sk-cli-value\n"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = wasmclaw(&["secret", "list", "--tenant", "acme"], d.path(), None);
    assert_eq!(text(&out.stdout), "API_KEY\n");
    let out = wasmclaw(&["secret", "list", "--tenant", "other"], d.path(), None);
    assert_eq!(text(&out.stdout), "", "another tenant sees no names");
    // The value is nowhere in the data directory in clear.
    for entry in walk(d.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(!bytes.windows(12).any(|w| w == b"sk-cli-value"), "{} holds the value", entry.display());
    }
    let out = wasmclaw(&["secret", "set", "bad name", "--tenant", "acme"], d.path(), Some("x"));
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
