//! Adversarial probes of a cron job's last run/last error (`GET …/cron`)
//! and of the tenant summary (`GET …/summary`, `/ui/t/{t}/`).
//!
//! Tried (see each test):
//! - a failing run's error (fuel- and memory-starved, skill uninstalled):
//!   at most 1 KiB, no terminal escapes or control bytes, nothing of the
//!   host (data directory, source paths), scrubbed of a secret set after
//!   the run;
//! - a job removed (by the API) while it keeps firing: never brought back
//!   by a run being recorded;
//! - a tenant deleted while its job fires, then created again under the
//!   same id: none of its predecessor's jobs, memory, files count, last
//!   errors; the old tokens dead;
//! - backup and restore of a job with a last run;
//! - the summary's roles and other tenants' paths in several spellings
//!   (case, trailing slash, `..`, `%2F`, `%2D`, a `?tenant=` query), and the
//!   dashboard overview for a guest and for another tenant's member.
//!
//! Got through: nothing. The errors seen were the host's own short texts
//! ("out of fuel: …", "memory limit: …", "not found: no skill …"): a skill
//! cannot put its own text, a secret or a host path into a cron run's error
//! through the skills there are. So the 1 KiB cut splitting a secret that
//! was set after the run is not reachable from here (untested).
//!

use crate::harness::{ADMIN_KEY, Body, Gateway, Tenant, install, output, poll, shared, tenant};
use serde_json::{Value, json};
use std::time::Duration;

fn policy(gw: &Gateway, t: &Tenant, extra: &str) {
    let toml = format!("[cron]\nmax_jobs = 5\nmin_interval_secs = 1\n{extra}");
    gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", toml.into_bytes()))
        .expect(200);
}

fn jobs(gw: &Gateway, t: &Tenant) -> Vec<Value> {
    gw.get(&t.path("/cron"), Some(ADMIN_KEY)).expect(200)["jobs"].as_array().unwrap().clone()
}

fn job(gw: &Gateway, t: &Tenant, id: &str) -> Option<Value> {
    jobs(gw, t).into_iter().find(|j| j["id"] == id)
}

/// A `reminder` job firing every second; its id.
fn every_second(gw: &Gateway, t: &Tenant, text: &str) -> String {
    let added = output(gw, &t.member, "reminder", &json!({"op": "add", "text": text, "every_seconds": 1}));
    added["job_id"].as_str().unwrap().to_string()
}

/// Waits for a run of `id` after `after` that failed; its last error.
fn failed_after(gw: &Gateway, t: &Tenant, id: &str, after: u64) -> String {
    poll(Duration::from_secs(25), || {
        let j = job(gw, t, id)?;
        (j["last_run"].as_u64() > Some(after)).then(|| j["last_error"].as_str().map(str::to_string)).flatten()
    })
    .unwrap_or_else(|| panic!("no failed run recorded: {:?}", job(gw, t, id)))
}

/// What a last error must never carry: more than 1 KiB, control bytes
/// (terminal escapes), the host's paths.
fn assert_clean(gw: &Gateway, what: &str, e: &str) {
    eprintln!("{what}: last_error = {e:?}");
    assert!(e.len() <= 1024, "{what}: {} bytes", e.len());
    assert!(!e.chars().any(|c| c.is_control() && c != '\n'), "{what}: control bytes in {e:?}");
    let data = gw.data_dir().to_string_lossy().to_string();
    for host in [data.as_str(), "/home/", "/tmp/", "/work/", "/root/", ".cargo", "src/", ".rs:"] {
        assert!(!e.contains(host), "{what}: the error shows the host ({host}): {e:?}");
    }
}

#[test]
fn a_failed_runs_error_is_bounded_and_shows_nothing_of_the_host() {
    let gw = shared();
    let t = tenant(gw, "sa-err");
    policy(gw, &t, "");
    install(gw, &t.id, ADMIN_KEY, "reminder", false);
    let id = every_second(gw, &t, "tick");

    policy(gw, &t, "[limits]\nfuel = 1000\n");
    let fuel = failed_after(gw, &t, &id, 0);
    assert_clean(gw, "fuel", &fuel);

    policy(gw, &t, "[limits]\nmemory_bytes = 65536\n");
    let at = job(gw, &t, &id).unwrap()["last_run"].as_u64().unwrap();
    let mem = failed_after(gw, &t, &id, at);
    assert_clean(gw, "memory", &mem);

    // A secret set after the run (the whole fuel error, as a value the tenant
    // sets later): the stored error is scrubbed of it when read.
    policy(gw, &t, "[limits]\nfuel = 1000\n");
    let at = job(gw, &t, &id).unwrap()["last_run"].as_u64().unwrap();
    let fuel = failed_after(gw, &t, &id, at);
    let body = Body::Raw("text/plain", fuel.as_bytes().to_vec());
    gw.req("PUT", &t.path("/secrets/LATER"), Some(ADMIN_KEY), body).expect(204);
    let shown = gw.get("/v1/cron", Some(&t.member)).expect(200).to_string();
    assert!(!shown.contains(&fuel), "a secret set after the run is shown: {shown}");

    // The skill uninstalled under its job.
    policy(gw, &t, "");
    gw.delete(&t.path("/skills/reminder"), Some(ADMIN_KEY));
    if let Some(j) = job(gw, &t, &id) {
        let at = j["last_run"].as_u64().unwrap_or(0);
        if let Some(e) = poll(Duration::from_secs(6), || {
            let j = job(gw, &t, &id)?;
            (j["last_run"].as_u64() > Some(at))
                .then(|| j["last_error"].as_str().map(str::to_string))
                .flatten()
        }) {
            assert_clean(gw, "uninstalled", &e);
        }
    }
}

#[test]
fn a_removed_job_stays_removed_though_its_runs_are_recorded() {
    let gw = shared();
    let t = tenant(gw, "sa-removed");
    policy(gw, &t, "");
    install(gw, &t.id, ADMIN_KEY, "reminder", false);
    for round in 0..3 {
        let id = every_second(gw, &t, &format!("round {round}"));
        poll(Duration::from_secs(20), || job(gw, &t, &id)?["last_run"].as_u64()).expect("it runs");
        // Removed as it fires (every second): whichever lands last, it stays gone.
        gw.delete(&format!("/v1/cron/{id}"), Some(&t.member)).expect(200);
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(500));
            assert!(job(gw, &t, &id).is_none(), "round {round}: job {id} came back: {:?}", jobs(gw, &t));
        }
        assert_eq!(gw.get("/v1/summary", Some(&t.member)).expect(200)["counts"]["cron_jobs"], 0);
    }
}

#[test]
fn a_tenant_created_again_inherits_nothing_of_its_predecessor() {
    let gw = Gateway::start_with_config("[memory_quota]\nmax_bytes = 1048576\nmax_entries = 500\n");
    let t = tenant(&gw, "sa-again");
    policy(&gw, &t, "");
    install(&gw, &t.id, ADMIN_KEY, "reminder", false);
    install(&gw, &t.id, ADMIN_KEY, "notes", false);
    for i in 0..5 {
        output(&gw, &t.member, "notes", &json!({"op": "add", "text": format!("predecessor note {i}")}));
    }
    output(&gw, &t.member, "notes", &json!({"op": "export"}));
    let id = every_second(&gw, &t, "old tenant's reminder");
    policy(&gw, &t, "[limits]\nfuel = 1000\n");
    failed_after(&gw, &t, &id, 0);
    let before = gw.get("/v1/summary", Some(&t.member)).expect(200);
    assert!(before["memory"]["entries"].as_u64() > Some(0), "{before}");

    // Deleted while its job fires every second, and created again at once.
    gw.delete(&format!("/v1/tenants/{}", t.id), Some(ADMIN_KEY)).expect(200);
    let again = tenant(&gw, "sa-again");
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        let v = gw.get("/v1/summary", Some(&again.member)).expect(200);
        assert_eq!(
            v["counts"],
            json!({"skills": 0, "skills_disabled": 0, "agents": 0, "cron_jobs": 0, "channels": 0}),
            "{v}"
        );
        assert_eq!(
            (v["memory"]["bytes"].as_u64(), v["memory"]["entries"].as_u64()),
            (Some(0), Some(0)),
            "{v}"
        );
        let files = &v["files"];
        assert!(
            files["bytes"].is_null() || files["bytes"] == 0,
            "the predecessor's files count: {v} (before: {before})"
        );
        assert!(files["entries"].is_null() || files["entries"] == 0, "{v}");
        assert_eq!(v["agents_this_month"]["tokens"], 0, "{v}");
        let cron = gw.get("/v1/cron", Some(&again.member)).expect(200);
        assert_eq!(cron["jobs"], json!([]), "the predecessor's job: {cron}");
        assert_eq!(gw.get("/v1/memory", Some(&again.member)).expect(200)["entries"], json!([]));
    }
    // The predecessor's tokens are dead on the new tenant.
    for old in [&t.admin, &t.member, &t.guest] {
        let r = gw.get("/v1/summary", Some(old));
        assert_eq!(r.status, 401, "an old token on the new tenant: {} {}", r.status, r.text);
    }
}

#[test]
fn a_job_with_a_last_run_survives_backup_and_restore() {
    let gw = shared();
    let t = tenant(gw, "sa-backup");
    policy(gw, &t, "");
    install(gw, &t.id, ADMIN_KEY, "reminder", false);
    let id = every_second(gw, &t, "backed up");
    policy(gw, &t, "[limits]\nfuel = 1000\n");
    failed_after(gw, &t, &id, 0);
    policy(gw, &t, ""); // keeps the job, stops failing
    let r = gw.get(&format!("/v1/backup?tenant={}", t.id), Some(ADMIN_KEY));
    assert_eq!(r.status, 200, "a backup of a job with a last run: {}", r.text);
    let restored = gw.req(
        "POST",
        &format!("/v1/restore?tenant={}", t.id),
        Some(ADMIN_KEY),
        Body::Raw("application/vnd.wasmclaw.backup", r.bytes),
    );
    assert_eq!(restored.status, 200, "a restore of a job with a last run: {}", restored.text);
    let j = job(gw, &t, &id).expect("the job is restored");
    assert!(j["last_run"].is_u64(), "{j}");
}

#[test]
fn the_summary_is_the_tenants_own_by_every_spelling_of_a_path() {
    let gw = shared();
    let a = tenant(gw, "sa-own");
    let b = tenant(gw, "sa-theirs");
    install(gw, &b.id, ADMIN_KEY, "notes", false);
    output(gw, &b.member, "notes", &json!({"op": "add", "text": "b's"}));
    gw.get("/v1/summary", Some(&a.guest)).expect_error(403, "forbidden");
    gw.get(&a.path("/summary"), Some(&a.guest)).expect_error(403, "forbidden");
    for path in [
        "/v1/tenants/sa-theirs/summary",
        "/v1/tenants/SA-THEIRS/summary",
        "/v1/tenants/sa-theirs/summary/",
        "/v1/tenants/sa-own/../sa-theirs/summary",
        "/v1/tenants/sa-own%2F..%2Fsa-theirs/summary",
        "/v1/tenants/sa%2Dtheirs/summary",
        "/v1/summary?tenant=sa-theirs",
    ] {
        for cred in [&a.admin, &a.member, &a.guest] {
            let r = gw.get(path, Some(cred));
            assert!(
                r.status != 200 || r.json()["tenant"] == "sa-own",
                "{path} with a token of sa-own: {} {}",
                r.status,
                r.text
            );
            assert!(!r.text.contains("sa-theirs") || r.status != 200, "{path}: {}", r.text);
        }
    }
    // The dashboard's overview: a guest is refused, another tenant's is not shown.
    let c = reqwest::blocking::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = format!("http://127.0.0.1:{}", gw.addr.port());
    let login = |cred: &str| {
        let r = c
            .post(gw.url("/ui/login"))
            .header("origin", &origin)
            .form(&[("credential", cred), ("next", "/ui/")])
            .send()
            .unwrap();
        // A credential refused at the door (a guest's) gets no session at all.
        let set = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
        set.map(|s| s.split(';').next().unwrap().to_string()).unwrap_or_default()
    };
    let (guest, member) = (login(&a.guest), login(&a.member));
    let see = |path: &str, cookie: &str| {
        let r = c.get(gw.url(path)).header("cookie", cookie).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, _) = see("/ui/t/sa-own/", &member);
    assert_eq!(status, 200, "a member reads its overview");
    for (path, cookie) in
        [("/ui/t/sa-own/", &guest), ("/ui/t/sa-theirs/", &member), ("/ui/t/sa-theirs/", &guest)]
    {
        let (status, text) = see(path, cookie);
        let no_session = cookie.is_empty() && (status == 303 || status == 401);
        assert!(
            no_session || status == 403 || status == 404,
            "{path}: {status} {}",
            &text[..text.len().min(300)]
        );
    }
}
