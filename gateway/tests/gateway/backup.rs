//! Backup and restore (`GET /v1/backup`, `POST /v1/restore`, `wasmclaw
//! backup`, `wasmclaw restore`, `wasmclaw backup rewrap`): one tenant
//! restored exactly while its neighbour keeps its changes; corrupt backups
//! refused with nothing changed; another master key refused until the
//! backup is re-wrapped; both audited; operator only.

use crate::harness::{
    ADMIN_KEY, Body, Gateway, Tenant, audit_events, has_event, install, output, shared, tenant,
};
use serde_json::{Value, json};
use std::path::Path;

const OP: &[(&str, &str)] = &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)];
const BACKUP_TYPE: &str = "application/vnd.wasmclaw.backup";

/// The value of the tenant's secret `API_KEY`.
fn secret_of(id: &str) -> String {
    format!("sekrit-{id}-0123456789")
}

fn put_secret(gw: &Gateway, t: &Tenant, name: &str, value: &str) {
    let body = Body::Raw("text/plain", value.as_bytes().to_vec());
    gw.req("PUT", &t.path(&format!("/secrets/{name}")), Some(ADMIN_KEY), body).expect(204);
}

/// A tenant with a cron policy, three skills, a secret, a note in memory,
/// an exported file and a cron job.
fn populate(gw: &Gateway, id: &str) -> Tenant {
    let t = tenant(gw, id);
    let policy = Body::Raw("application/toml", b"[cron]\nmax_jobs = 4\nmin_interval_secs = 60\n".to_vec());
    gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), policy).expect(200);
    for skill in ["echo", "notes", "reminder"] {
        install(gw, id, ADMIN_KEY, skill, false);
    }
    put_secret(gw, &t, "API_KEY", &secret_of(id));
    output(gw, &t.member, "notes", &json!({"op": "add", "text": format!("note of {id}")}));
    output(gw, &t.member, "notes", &json!({"op": "export"}));
    let job = output(gw, &t.member, "reminder", &json!({"op": "add", "text": "r", "every_seconds": 600}));
    assert!(job["job_id"].is_string(), "{job}");
    t
}

/// Every file below `dir`, with its contents, sorted.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()));
            }
        }
    }
    out.sort();
    out
}

/// What the operator sees of a tenant, and its files on disk.
fn state(gw: &Gateway, id: &str) -> Value {
    let get = |rest: &str| gw.get(&format!("/v1/tenants/{id}{rest}"), Some(ADMIN_KEY)).expect(200);
    let mut skills = get("/skills");
    for s in skills["skills"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("status");
    }
    json!({
        "tenant": get(""), "policy": get("/policy"), "skills": skills, "secrets": get("/secrets"),
        "memory": get("/memory"), "cron": get("/cron"), "agents": get("/agents"),
        "files": files(&gw.data_dir().join("tenants").join(id)),
    })
}

/// Whether echoing the secret's value comes back redacted: the gateway
/// decrypts the tenant's secrets to scrub outputs.
fn secret_is_redacted(gw: &Gateway, cred: &str, value: &str) -> bool {
    let out = output(gw, cred, "echo", &json!({ "v": value })).to_string();
    out.contains("[redacted:") && !out.contains(value)
}

fn backup_of(gw: &Gateway, id: &str) -> Vec<u8> {
    let r = gw.get(&format!("/v1/backup?tenant={id}"), Some(ADMIN_KEY));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type.as_deref(), Some(BACKUP_TYPE));
    assert!(r.bytes.starts_with(b"wasmclaw-backup 3\n"), "{}", &r.text[..40.min(r.text.len())]);
    let secret = secret_of(id);
    assert!(
        !r.bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "a secret's value is never in a backup"
    );
    r.bytes
}

fn restore(gw: &Gateway, query: &str, bytes: Vec<u8>) -> crate::harness::Resp {
    gw.req("POST", &format!("/v1/restore{query}"), Some(ADMIN_KEY), Body::Raw(BACKUP_TYPE, bytes))
}

#[test]
fn restoring_one_tenant_brings_it_back_exactly_and_leaves_its_neighbour() {
    let gw = shared();
    let a = populate(gw, "bk-a");
    let b = populate(gw, "bk-b");
    let backed_up = state(gw, "bk-a");
    let bytes = backup_of(gw, "bk-a");

    // A and B change after the backup.
    output(gw, &a.member, "notes", &json!({"op": "add", "text": "after the backup"}));
    output(gw, &a.member, "notes", &json!({"op": "export"}));
    let job =
        gw.get(&a.path("/cron"), Some(ADMIN_KEY)).expect(200)["jobs"][0]["id"].as_str().unwrap().to_string();
    gw.delete(&a.path(&format!("/cron/{job}")), Some(ADMIN_KEY)).expect(200);
    put_secret(gw, &a, "API_KEY", "a-changed-value-0123456789");
    put_secret(gw, &a, "OTHER", "other-value-0123456789");
    gw.delete(&a.path("/skills/reminder"), Some(ADMIN_KEY)).expect(200);
    output(gw, &b.member, "notes", &json!({"op": "add", "text": "b after the backup"}));
    put_secret(gw, &b, "B_NEW", "b-new-value-0123456789");
    assert!(secret_is_redacted(gw, &a.member, "a-changed-value-0123456789"), "cached before the restore");
    let b_changed = state(gw, "bk-b");
    assert_ne!(state(gw, "bk-a"), backed_up);

    let v = restore(gw, "?tenant=bk-a", bytes).expect(200);
    assert_eq!(v["restored"], json!(["bk-a"]), "{v}");
    assert_eq!(state(gw, "bk-a"), backed_up, "A is back exactly as backed up");
    assert_eq!(state(gw, "bk-b"), b_changed, "B keeps its changes");

    // Skills, files, cron and the secret work again, with A's own tokens.
    let notes = output(gw, &a.member, "notes", &json!({"op": "list"})).to_string();
    assert!(notes.contains("note of bk-a") && !notes.contains("after the backup"), "{notes}");
    let exported = output(gw, &a.member, "notes", &json!({"op": "read-export"})).to_string();
    assert!(exported.contains("note of bk-a") && !exported.contains("after the backup"), "{exported}");
    let jobs = output(gw, &a.member, "reminder", &json!({"op": "list"}));
    assert_eq!(jobs["jobs"][0]["id"], job.as_str(), "the cron job is back, seen by its skill: {jobs}");
    assert!(secret_is_redacted(gw, &a.member, &secret_of("bk-a")), "the restored secret decrypts");
    assert!(!secret_is_redacted(gw, &a.member, "a-changed-value-0123456789"));
    assert!(secret_is_redacted(gw, &b.member, "b-new-value-0123456789"));

    let events = audit_events(gw, "bk-a");
    assert!(has_event(&events, "backup.create", Some("ok")), "{events:?}");
    assert!(has_event(&events, "backup.restore", Some("ok")), "{events:?}");
    assert!(!has_event(&audit_events(gw, "bk-b"), "backup.restore", None), "B was not restored");
}

#[test]
fn a_truncated_or_altered_backup_is_refused_and_nothing_changes() {
    let gw = shared();
    let c = populate(gw, "bk-c");
    let bytes = backup_of(gw, "bk-c");
    output(gw, &c.member, "notes", &json!({"op": "add", "text": "after the backup"}));
    let before = state(gw, "bk-c");

    let truncated = bytes[..bytes.len() - 100].to_vec();
    let mut flipped = bytes.clone();
    let at = bytes.len() / 2;
    flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
    for bad in [truncated.clone(), flipped, b"garbage".to_vec(), Vec::new()] {
        restore(gw, "?tenant=bk-c", bad).expect_error(400, "invalid-input");
        assert_eq!(state(gw, "bk-c"), before, "nothing changed");
    }
    restore(gw, "?tenant=bk-none", bytes).expect_error(404, "not-found");
    assert_eq!(state(gw, "bk-c"), before);

    // Through the CLI: a clear message and a non-zero exit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.backup");
    std::fs::write(&path, &truncated).unwrap();
    let out = gw.cli(&["restore", path.to_str().unwrap()], OP, None);
    assert_eq!(out.code, Some(3), "{out:?}");
    assert!(out.stderr.contains("corrupt or truncated"), "{}", out.stderr);
    assert_eq!(state(gw, "bk-c"), before);

    let events = audit_events(gw, "bk-c");
    assert!(
        events.iter().any(|e| e["action"] == "backup.restore"
            && e["outcome"].as_str().is_some_and(|o| o.starts_with("refused:"))),
        "{events:?}"
    );
}

#[test]
fn only_the_operator_may_back_up_or_restore() {
    let gw = shared();
    let t = tenant(gw, "bk-roles");
    for cred in [Some(t.admin.as_str()), Some(t.member.as_str()), Some(t.guest.as_str())] {
        gw.get("/v1/backup", cred).expect_error(403, "forbidden");
        gw.get("/v1/backup?tenant=bk-roles", cred).expect_error(403, "forbidden");
        let body = Body::Raw(BACKUP_TYPE, b"x".to_vec());
        gw.req("POST", "/v1/restore", cred, body).expect_error(403, "forbidden");
    }
    gw.get("/v1/backup", None).expect_error(401, "unauthorized");
    gw.get("/v1/backup?tenant=bk-nobody", Some(ADMIN_KEY)).expect_error(404, "not-found");
    let out = gw.cli(&["backup", "-o", "/dev/null"], &[("WASMCLAW_TOKEN", &t.admin)], None);
    assert_eq!(out.code, Some(19), "forbidden is exit 19: {out:?}");
}

#[test]
fn another_master_key_is_refused_until_the_backup_is_rewrapped() {
    let from = Gateway::start();
    let to = Gateway::start();
    populate(&from, "bk-m");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.backup");
    let file_s = file.to_str().unwrap();
    let out = from.cli(&["backup", "--tenant", "bk-m", "-o", file_s], OP, None);
    assert!(out.ok().contains("backed up 1 tenant(s)"), "{out:?}");
    assert_eq!(out.stderr, "", "no progress line off a terminal");

    let out = to.cli(&["restore", file_s], OP, None);
    assert_eq!(out.code, Some(17), "{out:?}");
    assert!(out.stderr.contains("another master key") && out.stderr.contains("rewrap"), "{}", out.stderr);
    restore(&to, "", std::fs::read(&file).unwrap()).expect_error(409, "conflict");
    to.get("/v1/tenants/bk-m", Some(ADMIN_KEY)).expect_error(404, "not-found");

    let keys = |gw: &Gateway| gw.data_dir().join("master.key").display().to_string();
    let moved = dir.path().join("moved.backup");
    let moved_s = moved.to_str().unwrap();
    let args = ["backup", "rewrap", file_s, "--from-key", &keys(&to), "--to-key", &keys(&to), "-o", moved_s];
    assert_eq!(to.cli(&args, &[], None).code, Some(3), "--from-key must be the backup's key");
    let args =
        ["backup", "rewrap", file_s, "--from-key", &keys(&from), "--to-key", &keys(&to), "-o", moved_s];
    to.cli(&args, &[], None).ok();
    let out = to.cli(&["restore", moved_s], OP, None);
    assert!(out.ok().contains("bk-m"), "{out:?}");
    assert_eq!(out.stderr, "", "no progress line off a terminal");

    // Tokens stay behind: the operator mints new ones where it restored.
    let (member, _) = crate::harness::mint(&to, "bk-m", ADMIN_KEY, "member");
    assert!(secret_is_redacted(&to, &member, &secret_of("bk-m")), "the secret decrypts under the new key");
    let notes = output(&to, &member, "notes", &json!({"op": "list"})).to_string();
    assert!(notes.contains("note of bk-m"), "{notes}");
    assert_eq!(
        to.get("/v1/tenants/bk-m/cron", Some(ADMIN_KEY)).expect(200)["jobs"].as_array().unwrap().len(),
        1
    );
    assert!(has_event(&audit_events(&to, "bk-m"), "backup.restore", Some("ok")));
}
