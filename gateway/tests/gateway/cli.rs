//! The remote commands of docs/cli.md against a running gateway: the
//! operator's flows (tenants, tokens, skills, policy, secrets, usage,
//! audit), `invoke` with a token, agents (against the fake model
//! provider) and their channels, and the exit codes of API errors.

use crate::harness::{
    ADMIN_KEY, Gateway, audit_events, cli_at, fake_llm, has_event, install, shared, skill_names,
};
use serde_json::{Value, json};

/// The operator's environment.
const OP: &[(&str, &str)] = &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)];

/// The first line of `out`, which must be a token of `tenant`.
#[track_caller]
fn first_line_token(out: &str, tenant: &str) -> String {
    let line = out.lines().next().unwrap_or_default().trim().to_string();
    assert!(line.starts_with(&format!("wct_{tenant}_")), "the token alone on the first line: {out:?}");
    assert_eq!(line.split('_').count(), 4, "{line}");
    line
}

/// Mints a token with the CLI (human mode) and returns it.
fn cli_mint(gw: &Gateway, tenant: &str, role: &str) -> String {
    let out = gw.cli(&["token", "mint", tenant, "--role", role, "--name", "cli"], OP, None);
    first_line_token(out.ok(), tenant)
}

/// The list under `key` in a `--json` answer.
#[track_caller]
fn list<'a>(v: &'a Value, key: &str) -> &'a Vec<Value> {
    v[key].as_array().unwrap_or_else(|| panic!("`{key}` list in {v}"))
}

#[test]
fn operator_manages_tenants_and_tokens_with_the_cli() {
    let gw = shared();
    gw.cli(&["tenant", "create", "cli-ops"], OP, None).ok();
    let listed = gw.cli(&["tenant", "list", "--json"], OP, None).json();
    let row = list(&listed, "tenants").iter().find(|t| t["id"] == "cli-ops").cloned();
    assert_eq!(row.map(|r| r["status"].clone()), Some(json!("active")), "{listed}");
    let human = gw.cli(&["tenant", "list"], OP, None);
    assert!(human.ok().contains("cli-ops"), "{}", human.stdout);
    let shown = gw.cli(&["tenant", "show", "cli-ops", "--json"], OP, None).json();
    assert_eq!(
        (shown["id"].as_str(), shown["status"].as_str()),
        (Some("cli-ops"), Some("active")),
        "{shown}"
    );

    // Suspend, resume.
    let out = gw.cli(&["tenant", "suspend", "cli-ops", "--json"], OP, None).json();
    assert_eq!(out["status"], "suspended", "{out}");
    assert_eq!(gw.get("/v1/tenants/cli-ops", Some(ADMIN_KEY)).expect(200)["status"], "suspended");
    let out = gw.cli(&["tenant", "resume", "cli-ops", "--json"], OP, None).json();
    assert_eq!(out["status"], "active", "{out}");

    // Mint (human: the token alone on the first line; it works).
    let member = cli_mint(gw, "cli-ops", "member");
    gw.get("/v1/skills", Some(&member)).expect(200);
    let minted = gw.cli(&["token", "mint", "cli-ops", "--role", "admin", "--json"], OP, None).json();
    let admin = minted["token"].as_str().unwrap_or_else(|| panic!("{minted}")).to_string();
    assert_eq!(minted["role"], "admin", "{minted}");
    gw.get("/v1/tokens", Some(&admin)).expect(200);

    // List, rotate, revoke.
    let tokens = gw.cli(&["token", "list", "cli-ops", "--json"], OP, None).json();
    assert_eq!(list(&tokens, "tokens").len(), 2, "{tokens}");
    assert!(!tokens.to_string().contains(member.rsplit('_').next().unwrap()), "never a secret: {tokens}");
    let member_id = member.split('_').nth(2).unwrap().to_string();
    let out = gw.cli(&["token", "rotate", "cli-ops", &member_id], OP, None);
    let rotated = first_line_token(out.ok(), "cli-ops");
    gw.get("/v1/skills", Some(&member)).expect_error(401, "unauthorized");
    gw.get("/v1/skills", Some(&rotated)).expect(200);
    let rotated_id = rotated.split('_').nth(2).unwrap().to_string();
    let out = gw.cli(&["token", "rotate", "cli-ops", &rotated_id, "--grace", "1h"], OP, None);
    let graced = first_line_token(out.ok(), "cli-ops");
    gw.get("/v1/skills", Some(&rotated)).expect(200);
    gw.get("/v1/skills", Some(&graced)).expect(200);
    gw.cli(&["token", "revoke", "cli-ops", &rotated_id], OP, None).ok();
    gw.get("/v1/skills", Some(&rotated)).expect_error(401, "unauthorized");

    // Delete.
    gw.cli(&["tenant", "create", "cli-gone"], OP, None).ok();
    gw.cli(&["tenant", "delete", "cli-gone"], OP, None).ok();
    gw.get("/v1/tenants/cli-gone", Some(ADMIN_KEY)).expect_error(404, "not-found");

    let events = audit_events(gw, "cli-ops");
    for action in
        ["tenant.create", "tenant.suspend", "tenant.resume", "token.mint", "token.rotate", "token.revoke"]
    {
        assert!(has_event(&events, action, Some("ok")), "{action}: {events:?}");
    }
}

#[test]
fn skills_policy_secrets_invoke_usage_and_audit_through_the_cli() {
    let gw = shared();
    gw.cli(&["tenant", "create", "cli-run"], OP, None).ok();
    let member = cli_mint(gw, "cli-run", "member");
    let guest = cli_mint(gw, "cli-run", "guest");
    let as_member = [("WASMCLAW_TOKEN", member.as_str())];
    let as_guest = [("WASMCLAW_TOKEN", guest.as_str())];

    // Policy (the reminder needs cron), as TOML from a file.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[cron]\nmax_jobs = 4\nmin_interval_secs = 60\n").unwrap();
    gw.cli(&["policy", "set", "cli-run", policy.to_str().unwrap()], OP, None).ok();
    let shown = gw.cli(&["policy", "show", "cli-run", "--json"], OP, None).json();
    assert_eq!(shown["cron"]["max_jobs"], 4, "{shown}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"0.0.0.0:80\"\n").unwrap();
    let out = gw.cli(&["policy", "set", "cli-run", bad.to_str().unwrap()], OP, None);
    assert_eq!(out.code, Some(3), "invalid-input is exit 3: {out:?}");
    assert!(out.stderr.contains("listen"), "the error names the key: {}", out.stderr);

    // Install signed packages: echo for guests; reminder with its manifest.
    let packed = |name: &str| {
        let path = dir.path().join(format!("{name}.wcpkg"));
        std::fs::write(&path, wasmclaw_tests::package(name)).unwrap();
        path.display().to_string()
    };
    let echo = packed("echo");
    let reminder = packed("reminder");
    gw.cli(&["skill", "install", &echo, "--tenant", "cli-run", "--guest"], OP, None).ok();
    gw.cli(&["skill", "install", &reminder, "--tenant", "cli-run"], OP, None).ok();
    let skills = gw.cli(&["skill", "list", "--tenant", "cli-run", "--json"], OP, None).json();
    assert_eq!(skill_names(&skills), ["echo", "reminder"]);
    let rem = list(&skills, "skills").iter().find(|s| s["name"] == "reminder").cloned().unwrap();
    assert_eq!(rem["capabilities"], json!(["cron"]), "the package carried the manifest: {rem}");
    let ech = list(&skills, "skills").iter().find(|s| s["name"] == "echo").cloned().unwrap();
    assert_eq!(ech["guest"], true, "{ech}");
    assert_eq!(skill_names(&gw.get("/v1/skills", Some(&guest)).expect(200)), ["echo"]);
    let out = gw.cli(&["skill", "install", &echo, "--tenant", "cli-run"], OP, None);
    assert_eq!(out.code, Some(17), "installing a name twice is a conflict: {out:?}");

    // Invoke with a token: the output JSON on stdout.
    let out = gw.cli(&["invoke", "echo", "--input", r#"{"a":1}"#], &as_member, None);
    let printed: Value =
        serde_json::from_str(out.ok().trim()).unwrap_or_else(|e| panic!("{e}: {:?}", out.stdout));
    assert_eq!(printed, json!({"a": 1}));
    let out = gw.cli(&["invoke", "echo", "--input", "-"], &as_guest, Some(r#"[1,"two"]"#));
    assert_eq!(serde_json::from_str::<Value>(out.ok().trim()).unwrap(), json!([1, "two"]));
    let out = gw.cli(&["invoke", "echo", "--input", r#"{"u":true}"#, "--usage"], &as_member, None);
    assert_eq!(serde_json::from_str::<Value>(out.ok().trim()).unwrap(), json!({"u": true}));
    assert!(out.stderr.contains("fuel"), "--usage prints the usage JSON on stderr: {}", out.stderr);
    let job = gw.cli(
        &["invoke", "reminder", "--input", r#"{"op":"add","text":"t","every_seconds":600}"#],
        &as_member,
        None,
    );
    let job: Value = serde_json::from_str(job.ok().trim()).unwrap();
    assert!(job["job_id"].is_string(), "{job}");

    // Secrets through the gateway.
    gw.cli(&["secret", "set", "CLI_SECRET", "--tenant", "cli-run"], OP, Some("the-value\n")).ok();
    let names = gw.cli(&["secret", "list", "--tenant", "cli-run"], OP, None);
    assert!(names.ok().contains("CLI_SECRET"), "{}", names.stdout);
    assert!(!names.stdout.contains("the-value"));
    assert_eq!(
        gw.get("/v1/tenants/cli-run/secrets", Some(ADMIN_KEY)).expect(200),
        json!({"secrets": ["CLI_SECRET"]})
    );

    // Usage and audit.
    let usage = gw.cli(&["usage", "--tenant", "cli-run", "--json"], OP, None).json();
    let echo_row = list(&usage, "usage").iter().find(|r| r["skill"] == "echo").cloned();
    assert_eq!(echo_row.map(|r| r["calls"].clone()), Some(json!(3)), "{usage}");
    let human = gw.cli(&["usage", "--tenant", "cli-run"], OP, None);
    assert!(human.ok().contains("echo"), "{}", human.stdout);
    let audit = gw.cli(&["audit", "--tenant", "cli-run", "--json"], OP, None).json();
    let events = list(&audit, "events");
    for action in ["tenant.create", "token.mint", "policy.set", "skill.install", "secret.write"] {
        assert!(has_event(events, action, Some("ok")), "{action}: {audit}");
    }
    assert!(events.iter().all(|e| e["tenant"] == "cli-run"), "{audit}");
    let limited = gw.cli(&["audit", "--tenant", "cli-run", "--limit", "2", "--json"], OP, None).json();
    assert_eq!(list(&limited, "events").len(), 2, "{limited}");

    // Remove.
    gw.cli(&["skill", "remove", "reminder", "--tenant", "cli-run"], OP, None).ok();
    let skills = gw.cli(&["skill", "list", "--tenant", "cli-run", "--json"], OP, None).json();
    assert_eq!(skill_names(&skills), ["echo"]);
}

#[test]
fn api_errors_map_to_the_documented_exit_codes() {
    let gw = shared();
    gw.cli(&["tenant", "create", "cli-codes"], OP, None).ok();
    let member = cli_mint(gw, "cli-codes", "member");
    let tok = [("WASMCLAW_TOKEN", member.as_str())];
    let garbage = [("WASMCLAW_TOKEN", "wct_cli-codes_000000000000_00000000000000000000000000000000")];

    // (arguments, environment, exit code)
    type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], i32);
    let cases: Vec<Case> = vec![
        (vec!["tenant", "create", "cli-codes"], OP, 17),
        (vec!["tenant", "create", "Not_Valid"], OP, 3),
        (vec!["tenant", "show", "cli-codes-none"], OP, 16),
        (vec!["invoke", "nope", "--input", "{}"], &tok[..], 16),
        (vec!["invoke", "echo", "--input", "{}"], &garbage[..], 18),
        // The member token is sent (no admin key): a token may not create tenants.
        (vec!["tenant", "create", "cli-codes-x"], &tok[..], 19),
        (vec!["token", "mint", "cli-codes", "--role", "admin"], &tok[..], 19),
    ];
    for (args, env, code) in cases {
        let out = gw.cli(&args, env, None);
        assert_eq!(out.code, Some(code), "wasmclaw {args:?}: {out:?}");
        assert!(out.stdout.trim().is_empty(), "errors go to stderr: {args:?}: {out:?}");
        assert!(!out.stderr.trim().is_empty(), "{args:?}: an error message");
        assert!(!out.stderr.contains("panicked"), "{args:?}: {}", out.stderr);
    }
    gw.cli(&["tenant", "suspend", "cli-codes"], OP, None).ok();
    let out = gw.cli(&["invoke", "echo", "--input", "{}"], &tok, None);
    assert_eq!(out.code, Some(20), "suspended: {out:?}");
    gw.cli(&["tenant", "resume", "cli-codes"], OP, None).ok();

    // A gateway that cannot be reached: 14, naming the URL.
    let out = cli_at("http://127.0.0.1:1", &["tenant", "list"], OP, None);
    assert_eq!(out.code, Some(14), "{out:?}");
    assert!(out.stderr.contains("127.0.0.1:1"), "the message names the URL: {}", out.stderr);
    // Usage errors: 2.
    // An invalid `--role`: a usage error (2) if the CLI checks the value
    // (`admin|member|guest`), else the API's invalid-input (3).
    let out = gw.cli(&["token", "mint", "cli-codes", "--role", "root"], OP, None);
    assert!(matches!(out.code, Some(2 | 3)), "an invalid --role value: {out:?}");
}

#[test]
fn doctor_and_security_audit_check_a_running_gateway() {
    let gw = shared();
    let data = gw.data_dir().display().to_string();
    let url = gw.url("");
    let out = gw.cli(&["doctor", "--data-dir", &data, "--url", &url], &[], None);
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "one line per check: {out:?}");
    for line in &lines {
        assert!(line.starts_with("ok") || line.starts_with("warn"), "no check fails: {line:?}");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("ok") && l.contains("/healthz")),
        "the gateway answers: {out:?}"
    );

    // A gateway that does not answer: its check is not `ok` (docs/cli.md
    // does not say whether it is `warn` or `FAIL`), and the exit code is 21
    // exactly when a line says `FAIL`.
    let out = gw.cli(&["doctor", "--data-dir", &data, "--url", "http://127.0.0.1:1"], &[], None);
    let gateway_line =
        out.stdout.lines().find(|l| l.contains("127.0.0.1:1")).unwrap_or_else(|| panic!("{out:?}"));
    assert!(!gateway_line.starts_with("ok"), "{gateway_line:?}");
    let failed = out.stdout.lines().any(|l| l.starts_with("FAIL"));
    assert_eq!(out.code, Some(if failed { 21 } else { 0 }), "{out:?}");

    // Findings from the gateway (admin key), JSON; exit 21 only for a critical one.
    let out = gw.cli(&["security", "audit", "--data-dir", &data, "--json"], OP, None);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let findings = list(&v, "findings");
    let critical = findings.iter().any(|f| f["severity"] == "critical");
    assert_eq!(out.code, Some(if critical { 21 } else { 0 }), "{out:?}");
    let api = gw.get("/v1/security/audit", Some(ADMIN_KEY)).expect(200);
    assert_eq!(findings.len(), list(&api, "findings").len(), "the CLI shows the gateway's findings: {api}");
}

#[test]
fn agents_are_managed_talked_to_and_metered_through_the_cli() {
    let fake = fake_llm();
    let config = format!(
        r#"
[providers.openai]
kind = "openai"
base_url = "{}"
max_retries = 0

[rate_card.models."gpt-test"]
input_per_1k = 1.0
output_per_1k = 2.0
"#,
        fake.base("openai")
    );
    let gw = Gateway::start_with_config(&config);
    let gw = &gw;
    gw.cli(&["tenant", "create", "cli-agents"], OP, None).ok();
    install(gw, "cli-agents", ADMIN_KEY, "notes", false);
    let key = format!("{}\n", wasmclaw_tests::fake_llm::FAKE_KEY);
    gw.cli(&["secret", "set", "LLM_KEY", "--tenant", "cli-agents"], OP, Some(&key)).ok();
    let member = cli_mint(gw, "cli-agents", "member");
    let as_member = [("WASMCLAW_TOKEN", member.as_str())];

    // Every command explains itself.
    for args in [
        &["agent", "--help"][..],
        &["agent", "create", "--help"],
        &["agent", "list", "--help"],
        &["agent", "show", "--help"],
        &["agent", "remove", "--help"],
        &["agent", "say", "--help"],
    ] {
        let out = gw.cli(args, &[], None);
        assert!(out.ok().contains("Usage:"), "{args:?}: {out:?}");
    }
    let help = gw.cli(&["agent", "create", "--help"], &[], None);
    for option in
        ["--provider", "--model", "--system-prompt-file", "--skill", "--api-key-secret", "--max-steps"]
    {
        assert!(help.stdout.contains(option), "{option}: {}", help.stdout);
    }

    // Create (the system prompt from a file), list, show.
    let dir = tempfile::tempdir().unwrap();
    let prompt = dir.path().join("prompt.txt");
    std::fs::write(&prompt, "You keep notes.\nBe brief.").unwrap();
    let out = gw.cli(
        &[
            "agent",
            "create",
            "cli-agents",
            "helper",
            "--provider",
            "openai",
            "--model",
            "gpt-test",
            "--system-prompt-file",
            prompt.to_str().unwrap(),
            "--skill",
            "notes",
            "--api-key-secret",
            "LLM_KEY",
            "--max-steps",
            "4",
        ],
        OP,
        None,
    );
    assert!(out.ok().contains("helper"), "{out:?}");
    let human = gw.cli(&["agent", "list", "cli-agents"], OP, None);
    let row = human.ok().lines().find(|l| l.starts_with("helper")).unwrap_or_else(|| panic!("{human:?}"));
    for word in ["openai", "gpt-test", "notes"] {
        assert!(row.contains(word), "{word}: {row:?}");
    }
    let listed = gw.cli(&["agent", "list", "cli-agents", "--json"], &as_member, None).json();
    assert_eq!(list(&listed, "agents").len(), 1, "{listed}");
    let shown = gw.cli(&["agent", "show", "cli-agents", "helper", "--json"], OP, None).json();
    assert_eq!(shown["system_prompt"], "You keep notes.\nBe brief.", "{shown}");
    assert_eq!(shown["skills"], json!(["notes"]), "{shown}");
    assert_eq!(shown["api_key_secret"], "LLM_KEY", "{shown}");
    assert_eq!((shown["max_steps"].as_u64(), shown["max_tokens"].as_u64()), (Some(4), Some(1024)), "{shown}");
    let human = gw.cli(&["agent", "show", "cli-agents", "helper"], OP, None);
    for word in ["gpt-test", "LLM_KEY", "Be brief."] {
        assert!(human.ok().contains(word), "{word}: {}", human.stdout);
    }
    let out = gw.cli(
        &["agent", "create", "cli-agents", "helper", "--provider", "openai", "--model", "m"],
        OP,
        None,
    );
    assert_eq!(out.code, Some(17), "a duplicate name is a conflict: {out:?}");

    // Say (a member may): the reply alone on stdout; `--json` the whole answer.
    let out =
        gw.cli(&["agent", "say", "cli-agents", "helper", "--peer", "alice", "note hi"], &as_member, None);
    assert_eq!(out.ok().trim(), r#"noted: {"id":"00000001"}"#, "{out:?}");
    let answer = gw
        .cli(
            &["agent", "say", "cli-agents", "helper", "--peer", "alice", "note again", "--json"],
            &as_member,
            None,
        )
        .json();
    assert_eq!(answer["reply"], r#"noted: {"id":"00000002"}"#, "{answer}");
    assert_eq!(answer["tool_calls"], json!([{"skill": "notes"}]), "{answer}");
    assert!(answer["usage"]["input_tokens"].as_u64().is_some_and(|n| n > 0), "{answer}");

    // Usage: the model row beside the skill rows.
    let usage = gw.cli(&["usage", "--tenant", "cli-agents", "--json"], OP, None).json();
    let row = list(&usage, "models").iter().find(|m| m["agent"] == "helper").cloned();
    let row = row.unwrap_or_else(|| panic!("a model row: {usage}"));
    assert_eq!(row["model"], "gpt-test", "{row}");
    assert!(row["output_tokens"].as_u64().is_some_and(|n| n > 0), "{row}");
    assert!(row["cost"].as_f64().is_some_and(|c| c > 0.0), "priced by the rate card: {row}");
    assert!(list(&usage, "usage").iter().any(|r| r["skill"] == "notes"), "{usage}");
    let human = gw.cli(&["usage", "--tenant", "cli-agents"], OP, None);
    let line = human.ok().lines().find(|l| l.contains("helper")).unwrap_or_else(|| panic!("{human:?}"));
    assert!(line.contains("gpt-test") && line.contains("cli-agents"), "{line:?}");
    assert!(human.stdout.contains("notes"), "the skill rows stay: {}", human.stdout);
    let all = gw.cli(&["usage", "--since", "1h", "--json"], OP, None).json();
    let row = list(&all, "models").iter().find(|m| m["agent"] == "helper").cloned();
    assert_eq!(row.map(|r| r["tenant"].clone()), Some(json!("cli-agents")), "{all}");
    let later =
        gw.cli(&["usage", "--tenant", "cli-agents", "--since", "4102444800", "--json"], OP, None).json();
    assert_eq!(list(&later, "models").len(), 0, "--since is passed on: {later}");
    let out = gw.cli(&["usage", "--since", "soon"], OP, None);
    assert_eq!(out.code, Some(2), "{out:?}");

    // Remove; then it is not found (16). A provider the operator has not
    // configured is invalid input (3); a member may not create (19).
    let out = gw.cli(&["agent", "remove", "cli-agents", "helper"], OP, None);
    assert!(out.ok().contains("helper"), "{out:?}");
    for (args, env, code) in [
        (vec!["agent", "show", "cli-agents", "helper"], OP, 16),
        (vec!["agent", "say", "cli-agents", "helper", "--peer", "alice", "hi"], &as_member[..], 16),
        (vec!["agent", "remove", "cli-agents", "helper"], OP, 16),
        (vec!["agent", "create", "cli-agents", "x", "--provider", "nowhere", "--model", "m"], OP, 3),
        (
            vec!["agent", "create", "cli-agents", "x", "--provider", "openai", "--model", "m"],
            &as_member[..],
            19,
        ),
        (vec!["agent", "list", "Not_Valid"], OP, 3),
    ] {
        let out = gw.cli(&args, env, None);
        assert_eq!(out.code, Some(code), "wasmclaw {args:?}: {out:?}");
        assert!(out.stdout.trim().is_empty(), "errors go to stderr: {args:?}: {out:?}");
        assert!(!out.stderr.trim().is_empty(), "{args:?}: an error message");
    }
    let out =
        gw.cli(&["agent", "create", "cli-agents", "x", "--provider", "nowhere", "--model", "m"], OP, None);
    assert!(out.stderr.contains("nowhere"), "the error names the provider: {}", out.stderr);
    let out = gw.cli(&["agent", "create", "cli-agents", "x", "--model", "m"], OP, None);
    assert_eq!(out.code, Some(2), "--provider is required: {out:?}");
    let listed = gw.cli(&["agent", "list", "cli-agents", "--json"], OP, None).json();
    assert_eq!(list(&listed, "agents").len(), 0, "{listed}");
}

#[test]
fn channels_are_added_listed_and_removed_through_the_cli() {
    let fake = fake_llm();
    let config = format!(
        r#"
[providers.openai]
kind = "openai"
base_url = "{}"
max_retries = 0
"#,
        fake.base("openai")
    );
    let gw = Gateway::start_with_config(&config);
    let gw = &gw;
    gw.cli(&["tenant", "create", "cli-chan"], OP, None).ok();
    install(gw, "cli-chan", ADMIN_KEY, "notes", false);
    let key = format!("{}\n", wasmclaw_tests::fake_llm::FAKE_KEY);
    for (name, value) in [
        ("LLM_KEY", key.as_str()),
        ("HOOK_KEY", "hook-key\n"),
        ("TG_HOOK", "tg-hook\n"),
        ("TG_TOKEN", "1:tok\n"),
    ] {
        gw.cli(&["secret", "set", name, "--tenant", "cli-chan"], OP, Some(value)).ok();
    }
    let args = ["agent", "create", "cli-chan", "helper", "--provider", "openai", "--model", "gpt-test"];
    gw.cli(&[&args[..], &["--skill", "notes", "--api-key-secret", "LLM_KEY"]].concat(), OP, None).ok();
    let member = cli_mint(gw, "cli-chan", "member");
    let as_member = [("WASMCLAW_TOKEN", member.as_str())];

    // Every command explains itself; `add` says how to register a Telegram bot.
    for args in [
        &["channel", "--help"][..],
        &["channel", "add", "--help"],
        &["channel", "list", "--help"],
        &["channel", "remove", "--help"],
    ] {
        let out = gw.cli(args, &[], None);
        assert!(out.ok().contains("Usage:"), "{args:?}: {out:?}");
    }
    let help = gw.cli(&["channel", "add", "--help"], &[], None);
    for word in ["--kind", "--agent", "--secret", "--bot-token-secret", "webhook", "telegram", "setWebhook"] {
        assert!(help.stdout.contains(word), "{word}: {}", help.stdout);
    }
    assert!(gw.cli(&["--help"], &[], None).ok().contains("channel"), "listed in the top-level help");

    // A webhook channel: the endpoint is printed.
    let add = ["channel", "add", "cli-chan"];
    let out = gw.cli(
        &[&add[..], &["hook", "--kind", "webhook", "--agent", "helper", "--secret", "HOOK_KEY"]].concat(),
        OP,
        None,
    );
    assert_eq!(out.ok().trim(), "added channel hook: POST /v1/inbound/cli-chan/hook", "{out:?}");

    // A telegram channel needs the bot token's secret (3), then is added (`--json`).
    let tg = [&add[..], &["tg", "--kind", "telegram", "--agent", "helper", "--secret", "TG_HOOK"]].concat();
    let out = gw.cli(&tg, OP, None);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("bot_token_secret"), "the error says what is missing: {}", out.stderr);
    let answer = gw.cli(&[&tg[..], &["--bot-token-secret", "TG_TOKEN", "--json"]].concat(), OP, None).json();
    assert_eq!(answer["endpoint"], "/v1/inbound/cli-chan/tg", "{answer}");
    assert_eq!(answer["kind"], "telegram", "{answer}");
    assert_eq!(answer["bot_token_secret"], "TG_TOKEN", "{answer}");

    // List: both, secrets by name only.
    let human = gw.cli(&["channel", "list", "cli-chan"], OP, None);
    let out = human.ok();
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "KIND", "AGENT", "SECRET", "BOT TOKEN SECRET"] {
        assert!(header.contains(column), "{column}: {header:?}");
    }
    let row = |name: &str| {
        let row =
            out.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{out:?}"));
        row.split_whitespace().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(row("hook"), ["hook", "webhook", "helper", "HOOK_KEY", "-"], "{out}");
    assert_eq!(row("tg"), ["tg", "telegram", "helper", "TG_HOOK", "TG_TOKEN"], "{out}");
    for value in ["hook-key", "tg-hook", "1:tok"] {
        assert!(!out.contains(value), "no secret value is shown: {out}");
    }
    let listed = gw.cli(&["channel", "list", "cli-chan", "--json"], OP, None).json();
    let channels = list(&listed, "channels");
    let mut names: Vec<_> = channels.iter().map(|c| c["name"].clone()).collect();
    names.sort_by_key(|n| n.to_string());
    assert_eq!(names, [json!("hook"), json!("tg")], "{listed}");
    let hook = channels.iter().find(|c| c["name"] == "hook").unwrap();
    assert_eq!(
        (&hook["kind"], &hook["agent"], &hook["secret"]),
        (&json!("webhook"), &json!("helper"), &json!("HOOK_KEY"))
    );

    // A duplicate name is a conflict (17); a member may not manage channels (19).
    let out = gw.cli(
        &[&add[..], &["hook", "--kind", "webhook", "--agent", "helper", "--secret", "HOOK_KEY"]].concat(),
        OP,
        None,
    );
    assert_eq!(out.code, Some(17), "{out:?}");
    let hook2 =
        [&add[..], &["hook2", "--kind", "webhook", "--agent", "helper", "--secret", "HOOK_KEY"]].concat();
    for args in
        [hook2.clone(), vec!["channel", "list", "cli-chan"], vec!["channel", "remove", "cli-chan", "hook"]]
    {
        let out = gw.cli(&args, &as_member, None);
        assert_eq!(out.code, Some(19), "wasmclaw {args:?}: {out:?}");
        assert!(out.stdout.trim().is_empty(), "errors go to stderr: {args:?}: {out:?}");
    }

    // Remove; then it is not found (16) and no longer listed.
    let out = gw.cli(&["channel", "remove", "cli-chan", "hook"], OP, None);
    assert_eq!(out.ok().trim(), "removed channel hook", "{out:?}");
    let out = gw.cli(&["channel", "remove", "cli-chan", "hook"], OP, None);
    assert_eq!(out.code, Some(16), "{out:?}");
    assert!(!out.stderr.trim().is_empty(), "an error message: {out:?}");
    let removed = gw.cli(&["channel", "remove", "cli-chan", "tg", "--json"], OP, None).json();
    assert_eq!(removed, json!({"removed": "tg"}));
    let listed = gw.cli(&["channel", "list", "cli-chan", "--json"], OP, None).json();
    assert_eq!(list(&listed, "channels").len(), 0, "{listed}");

    // Usage errors (2): an unknown kind, a missing --secret; a bad tenant id is 3.
    for (args, code) in [
        (
            vec![
                "channel", "add", "cli-chan", "x", "--kind", "sms", "--agent", "helper", "--secret",
                "HOOK_KEY",
            ],
            2,
        ),
        (vec!["channel", "add", "cli-chan", "x", "--kind", "webhook", "--agent", "helper"], 2),
        (vec!["channel", "list", "Not_Valid"], 3),
    ] {
        let out = gw.cli(&args, OP, None);
        assert_eq!(out.code, Some(code), "wasmclaw {args:?}: {out:?}");
    }
}
