//! Signed skill packages through the real gateway and CLI: the trust
//! routes (operator only), unsigned and untrusted installs refused, an
//! upgrade gated by `--accept-permissions`, a publisher's trust removed and
//! restored, a component changed on disk refused after a restart, and the
//! offline `keys`, `skill pack/verify/inspect` commands.

use crate::harness::{ADMIN_KEY, Gateway, audit_events, has_event, install_body, output, shared, tenant};
use base64::Engine;
use serde_json::{Value, json};
use wasmclaw_tests::{package, package_with, skill_path};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn trust_is_the_operators_alone() {
    let gw = shared();
    let t = tenant(gw, "pk-trust");
    let key = wasmclaw::signing::PublisherKey::generate().public().to_string();
    for cred in [&t.admin, &t.member, &t.guest] {
        gw.post("/v1/trust", Some(cred), json!({"name": "x", "key": key})).expect_error(403, "forbidden");
        gw.get("/v1/trust", Some(cred)).expect_error(403, "forbidden");
        gw.delete("/v1/trust/tests", Some(cred)).expect_error(403, "forbidden");
    }
    gw.post("/v1/trust", None, json!({"name": "x", "key": key})).expect_error(401, "unauthorized");
    let keys = gw.get("/v1/trust", Some(ADMIN_KEY)).expect(200);
    assert!(keys["keys"].as_array().unwrap().iter().any(|k| k["name"] == "tests"), "{keys}");

    // Bad input is a 400 naming what is wrong; a duplicate is a 409.
    let e = gw
        .post("/v1/trust", Some(ADMIN_KEY), json!({"name": "x", "key": "ed25519:AAAA"}))
        .expect_error(400, "invalid-input");
    assert!(e.contains("not 32 bytes"), "{e}");
    let e = gw
        .post("/v1/trust", Some(ADMIN_KEY), json!({"name": "Bad Name", "key": key}))
        .expect_error(400, "invalid-input");
    assert!(e.contains("publisher name"), "{e}");
    let tests_key = wasmclaw_tests::publisher().public().to_string();
    let e = gw
        .post("/v1/trust", Some(ADMIN_KEY), json!({"name": "again", "key": tests_key}))
        .expect_error(409, "conflict");
    assert!(e.contains("trusted already, as tests"), "{e}");
    gw.delete("/v1/trust/nobody", Some(ADMIN_KEY)).expect_error(404, "not-found");
}

#[test]
fn unsigned_and_untrusted_installs_are_refused_and_audited() {
    let gw = shared();
    let t = tenant(gw, "pk-refuse");
    let unsigned = json!({"component": b64(&std::fs::read(skill_path("echo")).unwrap())});
    let e = gw.post(&t.path("/skills"), Some(&t.admin), unsigned).expect_error(403, "untrusted");
    assert!(e.contains("unsigned skills are refused"), "{e}");

    let stranger = wasmclaw::signing::PublisherKey::generate();
    let body = json!({"package": b64(&package_with("echo", &stranger))});
    let e = gw.post(&t.path("/skills"), Some(&t.admin), body).expect_error(403, "untrusted");
    assert!(e.contains("not a trusted publisher key") && e.contains(&stranger.public().to_string()), "{e}");

    let both = json!({"package": b64(&package("echo")), "component": "AA=="});
    gw.post(&t.path("/skills"), Some(&t.admin), both).expect_error(400, "invalid-input");
    let with_manifest = json!({"package": b64(&package("echo")), "manifest": "name = \"echo\""});
    gw.post(&t.path("/skills"), Some(&t.admin), with_manifest).expect_error(400, "invalid-input");

    let skills = gw.get(&t.path("/skills"), Some(&t.admin)).expect(200);
    assert_eq!(skills["skills"], json!([]), "nothing was installed");
    let events = audit_events(gw, &t.id);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "skill.install"
                && e["outcome"].as_str().unwrap().starts_with("refused: untrusted"))
            .count(),
        2,
        "{events:?}"
    );
}

#[test]
fn an_upgrade_shows_its_permission_changes_and_needs_acceptance_to_widen() {
    let gw = shared();
    let t = tenant(gw, "pk-upgrade");
    let v = gw.post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v1", false)).expect(201);
    assert_eq!((v["version"].as_str(), v["status"].as_str()), (Some("1.0.0"), Some("enabled")), "{v}");
    assert_eq!(v["publisher"]["name"], "tests", "{v}");
    assert!(v["publisher"].get("signature").is_none(), "the listing leaves the signature out: {v}");

    let e = gw
        .post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v2", false))
        .expect_error(409, "conflict");
    assert!(e.contains("widens its permissions") && e.contains("+ import wasmclaw:skill/http"), "{e}");
    assert_eq!(output(gw, &t.member, "greeter", &json!({}))["version"], 1);

    let mut body = install_body("greeter-v2", false);
    body["accept_permissions"] = json!(true);
    let v = gw.post(&t.path("/skills"), Some(&t.admin), body).expect(200);
    assert_eq!(v["replaced"], "1.0.0", "{v}");
    let changes: Vec<&str> =
        v["changes"].as_array().unwrap().iter().map(|c| c["permission"].as_str().unwrap()).collect();
    assert_eq!(changes, ["import", "http"], "{v}");
    assert_eq!(output(gw, &t.member, "greeter", &json!({}))["version"], 2);

    let e = gw
        .post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v1", false))
        .expect_error(409, "conflict");
    assert!(e.contains("downgrade refused"), "{e}");
    let events = audit_events(gw, &t.id);
    assert!(has_event(&events, "skill.upgrade", Some("ok (2 wider permissions accepted)")), "{events:?}");
    assert!(
        events.iter().any(|e| e["action"] == "skill.upgrade"
            && e["outcome"].as_str().unwrap().contains("downgrade refused")),
        "{events:?}"
    );
}

#[test]
fn a_dry_run_decides_everything_and_changes_nothing_and_a_refused_widening_is_structured() {
    let gw = shared();
    let t = tenant(gw, "pk-dry");
    let dry = |skill: &str, accept: bool| {
        let mut body = install_body(skill, false);
        body["dry_run"] = json!(true);
        body["accept_permissions"] = json!(accept);
        body
    };
    // A first install, dry: 200, nothing installed, nothing to invoke.
    let v = gw.post(&t.path("/skills"), Some(&t.admin), dry("greeter-v1", false)).expect(200);
    assert_eq!((v["dry_run"].as_bool(), v["decision"].as_str()), (Some(true), Some("install")), "{v}");
    assert_eq!(gw.get(&t.path("/skills"), Some(&t.admin)).expect(200)["skills"], json!([]));
    gw.post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v1", false)).expect(201);

    // An upgrade that widens, dry: refused as a real one is, with every
    // change structured in the error.
    let r = gw.post(&t.path("/skills"), Some(&t.admin), dry("greeter-v2", false));
    r.expect_error(409, "conflict");
    let changes = r.json()["error"]["changes"].clone();
    let listed: Vec<(&str, bool)> = changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["permission"].as_str().unwrap(), c["widens"].as_bool().unwrap()))
        .collect();
    assert_eq!(listed, [("import", true), ("http", true)], "{changes}");
    // The real install's 409 carries them too.
    let r = gw.post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v2", false));
    assert_eq!(r.json()["error"]["changes"], changes);
    // Accepted, dry: the decision and the changes, and still version 1.
    let v = gw.post(&t.path("/skills"), Some(&t.admin), dry("greeter-v2", true)).expect(200);
    assert_eq!((v["decision"].as_str(), v["replaced"].as_str()), (Some("upgrade"), Some("1.0.0")), "{v}");
    assert_eq!(v["changes"], changes);
    assert_eq!(output(gw, &t.member, "greeter", &json!({}))["version"], 1);
    // Installing against the changes checked: refused when they differ.
    let mut body = install_body("greeter-v2", false);
    body["accept_permissions"] = json!(true);
    body["expect_changes"] = json!([]);
    let e = gw.post(&t.path("/skills"), Some(&t.admin), body.clone()).expect_error(409, "conflict");
    assert!(e.contains("not the ones checked"), "{e}");
    assert_eq!(output(gw, &t.member, "greeter", &json!({}))["version"], 1);
    body["expect_changes"] = changes.clone();
    gw.post(&t.path("/skills"), Some(&t.admin), body).expect(200);
    assert_eq!(output(gw, &t.member, "greeter", &json!({}))["version"], 2);
    // Denied: a member may not check an install either.
    gw.post(&t.path("/skills"), Some(&t.member), dry("greeter-v2", true)).expect_error(403, "forbidden");
    // The audit log says it was a check.
    let events = audit_events(gw, &t.id);
    assert!(has_event(&events, "skill.check", Some("ok")), "{events:?}");
    assert!(!has_event(&events, "skill.upgrade", Some("ok")), "{events:?}");
}

#[test]
fn removing_a_publishers_trust_disables_its_skills_until_it_is_restored() {
    let mut gw = Gateway::start();
    let t = tenant(&gw, "acme");
    let other = wasmclaw::signing::PublisherKey::generate();
    gw.post("/v1/trust", Some(ADMIN_KEY), json!({"name": "other", "key": other.public().to_string()}))
        .expect(201);
    let body = json!({"package": b64(&package_with("echo", &other))});
    gw.post(&t.path("/skills"), Some(&t.admin), body).expect(201);
    gw.post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v1", false)).expect(201);

    // What removing it would disable, listed first; the same list after.
    let signed = gw.get("/v1/trust/other/skills", Some(ADMIN_KEY)).expect(200);
    assert_eq!(signed["skills"], json!([{"tenant": "acme", "skill": "echo"}]), "{signed}");
    assert_eq!(signed["key"], other.public().to_string());
    gw.get("/v1/trust/other/skills", Some(&t.admin)).expect_error(403, "forbidden");
    gw.get("/v1/trust/nobody/skills", Some(ADMIN_KEY)).expect_error(404, "not-found");
    let cli = gw.cli(&["trust", "skills", "other"], &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)], None);
    assert_eq!(cli.ok().trim(), "signed: skill echo of tenant acme");
    let v = gw.delete("/v1/trust/other", Some(ADMIN_KEY)).expect(200);
    assert_eq!(v["disabled"], signed["skills"], "{v}");
    let e = crate::harness::invoke(&gw, &t.member, "echo", &json!(1)).expect_error(403, "untrusted");
    assert!(e.contains("skill echo is disabled"), "{e}");
    assert_eq!(
        output(&gw, &t.member, "greeter", &json!({}))["version"],
        1,
        "another publisher's skill runs on"
    );
    let list = gw.get(&t.path("/skills"), Some(&t.admin)).expect(200);
    let echo = list["skills"].as_array().unwrap().iter().find(|s| s["name"] == "echo").unwrap().clone();
    assert_eq!(echo["status"], "disabled", "{echo}");

    // Still disabled after a restart; enabled again by trusting the key.
    gw.restart();
    crate::harness::invoke(&gw, &t.member, "echo", &json!(1)).expect_error(403, "untrusted");
    let v = gw
        .post("/v1/trust", Some(ADMIN_KEY), json!({"name": "other", "key": other.public().to_string()}))
        .expect(201);
    assert_eq!(v["enabled"], json!([{"tenant": "acme", "skill": "echo"}]), "{v}");
    assert_eq!(output(&gw, &t.member, "echo", &json!(1)), json!(1));
    let events = audit_events(&gw, "acme");
    assert!(
        has_event(&events, "skill.disable", None) && has_event(&events, "skill.enable", None),
        "{events:?}"
    );
}

#[test]
fn a_component_changed_on_disk_after_install_is_refused_after_a_restart() {
    let mut gw = Gateway::start();
    let t = tenant(&gw, "acme");
    gw.post(&t.path("/skills"), Some(&t.admin), install_body("greeter-v1", false)).expect(201);
    assert_eq!(output(&gw, &t.member, "greeter", &json!({}))["version"], 1);
    let status = gw.stop();
    assert_eq!(status.code(), Some(0));
    {
        let db = wasmclaw::store::Db::open(&gw.data_dir().join("wasmclaw.redb")).unwrap();
        let other = std::fs::read(skill_path("echo")).unwrap();
        db.skill_component_overwrite(&wasmclaw::TenantId::parse("acme").unwrap(), "greeter", &other).unwrap();
    }
    gw.restart_stopped();
    let e = crate::harness::invoke(&gw, &t.member, "greeter", &json!({})).expect_error(403, "untrusted");
    assert!(e.contains("stored component has SHA-256") && e.contains("pinned at install"), "{e}");
    let events = audit_events(&gw, "acme");
    let refused = events.iter().find(|e| e["action"] == "skill.load").unwrap_or_else(|| panic!("{events:?}"));
    assert!(refused["outcome"].as_str().unwrap().starts_with("refused: untrusted"), "{refused}");
}

#[test]
fn keys_pack_verify_inspect_and_install_through_the_cli() {
    let gw = shared();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("publisher.key");
    let key_s = key.to_str().unwrap();
    let public = gw.cli(&["keys", "generate", "--out", key_s], &[], None).ok().trim().to_string();
    assert!(public.starts_with("ed25519:"), "{public}");
    assert_eq!(gw.cli(&["keys", "public", key_s], &[], None).ok().trim(), public);
    let again = gw.cli(&["keys", "generate", "--out", key_s], &[], None);
    assert_eq!(again.code, Some(3), "an existing key file is never overwritten: {}", again.stderr);

    let pkg = dir.path().join("greeter.wcpkg");
    let pkg_s = pkg.to_str().unwrap();
    let wasm = skill_path("greeter-v2");
    let manifest = wasm.with_extension("toml");
    let out = gw.cli(
        &[
            "skill",
            "pack",
            "--component",
            wasm.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
            "--key",
            key_s,
            "-o",
            pkg_s,
        ],
        &[],
        None,
    );
    assert!(out.ok().contains("packed greeter 2.0.0"), "{}", out.stdout);

    let ok = gw.cli(&["skill", "verify", pkg_s, "--trust", &public], &[], None);
    assert!(ok.ok().contains("the signature is valid"), "{}", ok.stdout);
    let stranger = wasmclaw::signing::PublisherKey::generate().public().to_string();
    let bad = gw.cli(&["skill", "verify", pkg_s, "--trust", &stranger], &[], None);
    assert_eq!(bad.code, Some(23), "{}", bad.stderr);
    assert!(bad.stderr.contains("none of the --trust keys"), "{}", bad.stderr);
    let mut tampered = std::fs::read(&pkg).unwrap();
    let at = tampered.len() - 200;
    tampered[at] ^= 1;
    let tampered_path = dir.path().join("tampered.wcpkg");
    std::fs::write(&tampered_path, tampered).unwrap();
    let bad = gw.cli(&["skill", "verify", tampered_path.to_str().unwrap()], &[], None);
    assert_eq!(bad.code, Some(23), "{}", bad.stderr);

    let inspected = gw.cli(&["skill", "inspect", pkg_s, "--json"], &[], None).json();
    assert_eq!(inspected["manifest"]["name"], "greeter");
    assert_eq!(inspected["signature"]["valid"], true, "{inspected}");
    assert_eq!(inspected["signature"]["publisher"], public.as_str());
    let imports: Vec<(String, String)> = inspected["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["interface"].as_str().unwrap().to_string(), i["status"].as_str().unwrap().to_string()))
        .collect();
    assert!(imports.contains(&("wasmclaw:skill/http@0.1.0".into(), "declared".into())), "{imports:?}");
    assert!(inspected["exports"].as_array().unwrap().contains(&json!("wasmclaw:skill/handler@0.1.0")));
    let human = gw.cli(&["skill", "inspect", pkg_s], &[], None);
    assert!(human.ok().contains("IMPORT") && human.stdout.contains("declared"), "{}", human.stdout);
    let sockets = gw.cli(&["skill", "inspect", skill_path("sockets").to_str().unwrap()], &[], None);
    assert_eq!(sockets.code, Some(4), "{}", sockets.stderr);
    assert!(
        sockets.stdout.contains("forbidden") && sockets.stderr.contains("wasi:sockets/"),
        "{}",
        sockets.stderr
    );

    // Trust the new key and install the package with the CLI.
    let admin = [("WASMCLAW_ADMIN_KEY", ADMIN_KEY)];
    let t = tenant(gw, "pk-cli");
    gw.cli(&["trust", "add", "pk-cli-publisher", &public], &admin, None).ok();
    let listed = gw.cli(&["trust", "list", "--json"], &admin, None).json();
    assert!(listed["keys"].as_array().unwrap().iter().any(|k| k["key"] == public.as_str()), "{listed}");
    let dry = gw.cli(&["skill", "install", pkg_s, "--tenant", &t.id, "--dry-run"], &admin, None);
    assert!(dry.ok().contains("dry run, nothing changed: would install greeter 2.0.0"), "{}", dry.stdout);
    assert_eq!(gw.get(&t.path("/skills"), Some(&t.admin)).expect(200)["skills"], serde_json::json!([]));
    let installed = gw.cli(&["skill", "install", pkg_s, "--tenant", &t.id], &admin, None);
    assert!(installed.ok().contains("installed greeter 2.0.0"), "{}", installed.stdout);
    let again = gw.cli(&["skill", "install", pkg_s, "--tenant", &t.id], &admin, None);
    assert_eq!(again.code, Some(17), "{}", again.stderr);
    let removed = gw.cli(&["trust", "remove", "pk-cli-publisher"], &admin, None);
    assert!(removed.ok().contains("disabled: skill greeter of tenant pk-cli"), "{}", removed.stdout);
    let v: Value = gw.get(&t.path("/skills"), Some(&t.admin)).expect(200);
    assert_eq!(v["skills"][0]["status"], "disabled", "{v}");
}
