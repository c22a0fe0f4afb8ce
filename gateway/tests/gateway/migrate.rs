//! `wasmclaw store migrate` (docs/cli.md): a gateway on redb with tenants,
//! tokens, skills, memory, a cron job and a secret is stopped, its
//! database copied into an empty PostgreSQL database, and the gateway
//! started again on the same data directory with `--store`: the same
//! tenants, the old tokens work, memory and jobs are there, and the secret
//! still unseals (the memory that holds its value comes back scrubbed,
//! which needs its value). A second migration into that database is
//! refused, and the URL's password is never printed nor audited.
//!
//! Needs a PostgreSQL server (`WASMCLAW_TEST_PG`); skipped without one,
//! except under `CI=true`.

use crate::harness::{ADMIN_KEY, Body, Gateway, cli_at, install, output, tenant};
use serde_json::json;
use wasmclaw_tests::pg_testing::TestDb;

const SECRET: &str = "sk-migrate-0123456789abcdef";

/// The password of a `postgres://USER:PASSWORD@HOST…` URL.
fn password_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let userinfo = rest.split_once('@').map_or("", |(u, _)| u);
    userinfo.split_once(':').map_or("", |(_, p)| p)
}

#[test]
fn a_stopped_gateway_moves_to_postgres_and_serves_the_same_state() {
    let Some(db) = TestDb::create() else { return };
    let url = db.url().to_string();
    let password = password_of(&url).to_string();
    assert!(password.len() >= 8, "the test server's URL has a password to hide");

    let mut gw = Gateway::start();
    let a = tenant(&gw, "mig-a");
    let b = tenant(&gw, "mig-b");
    let policy = "[cron]\nmax_jobs = 10\nmin_interval_secs = 60\n";
    let r = gw.req("PUT", &a.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", policy.into()));
    assert!(matches!(r.status, 200 | 204), "PUT policy: {} {}", r.status, r.text);
    install(&gw, &a.id, ADMIN_KEY, "notes", false);
    install(&gw, &a.id, ADMIN_KEY, "reminder", false);
    install(&gw, &b.id, ADMIN_KEY, "notes", false);
    gw.req("PUT", &a.path("/secrets/API_KEY"), Some(&a.admin), Body::Raw("text/plain", SECRET.into()))
        .expect(204);
    output(&gw, &a.member, "notes", &json!({"op": "add", "text": format!("key={SECRET}")}));
    output(&gw, &a.member, "reminder", &json!({"op": "add", "text": "standup", "every_seconds": 3600}));
    output(&gw, &b.member, "notes", &json!({"op": "add", "text": "b's own note"}));
    let tenants_before = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    let memory_before = gw.get("/v1/memory", Some(&a.member)).expect(200);
    let cron_before = gw.get("/v1/cron", Some(&a.member)).expect(200);
    assert!(memory_before.to_string().contains("key=[redacted:API_KEY]"), "{memory_before}");

    let data_dir = gw.data_dir().to_string_lossy().into_owned();
    let migrate = |extra: &[&str]| {
        let mut args = vec!["store", "migrate", "--from", &data_dir];
        args.extend_from_slice(extra);
        // Remote commands are not used: no gateway is needed at this URL.
        cli_at("http://127.0.0.1:9", &args, &[("WASMCLAW_STORE", &url)], None)
    };
    // The running gateway holds its database: nothing is read.
    let busy = migrate(&[]);
    assert_eq!(busy.code, Some(13), "{busy:?}");
    assert!(busy.stderr.contains("stop it first"), "{busy:?}");

    let nowhere = cli_at(
        "http://127.0.0.1:9",
        &["store", "migrate", "--from", "/nonexistent", "--to", &url],
        &[],
        None,
    );
    assert_eq!(nowhere.code, Some(16), "{nowhere:?}");
    assert!(!nowhere.stderr.contains(&password), "{nowhere:?}");

    gw.stop();
    let moved = migrate(&["--json"]);
    let summary = moved.json();
    assert!(!moved.stdout.contains(&password) && !moved.stderr.contains(&password), "{moved:?}");
    assert!(moved.stderr.is_empty(), "no progress display off a terminal: {:?}", moved.stderr);
    let names: Vec<&str> =
        summary["tenants"].as_array().unwrap().iter().map(|t| t["tenant"].as_str().unwrap()).collect();
    assert_eq!(names, ["mig-a", "mig-b"], "{summary}");
    assert_eq!(summary["tenants"][0]["tokens"], 3, "{summary}");
    assert_eq!(summary["tenants"][0]["families"]["cron_jobs"], 1, "{summary}");
    assert_eq!(summary["tenants"][0]["families"]["secrets"], 1, "{summary}");
    assert_eq!((summary["trusted_keys"].as_u64(), summary["admin_key"].as_bool()), (Some(1), Some(true)));
    assert!(summary["to"].as_str().unwrap().contains(":***@"), "{summary}");

    gw.set_store(db);
    gw.restart_stopped();
    assert_eq!(gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200), tenants_before);
    let memory = gw.get("/v1/memory", Some(&a.member)).expect(200);
    assert_eq!(
        memory, memory_before,
        "the old member token reads the same memory, the secret still scrubbed"
    );
    assert!(!memory.to_string().contains(SECRET), "{memory}");
    assert_eq!(gw.get("/v1/cron", Some(&a.member)).expect(200), cron_before);
    assert_eq!(gw.get(&a.path("/secrets"), Some(&a.admin)).expect(200), json!({"secrets": ["API_KEY"]}));
    let notes = output(&gw, &b.member, "notes", &json!({"op": "list"}));
    assert!(notes.to_string().contains("b's own note") && !notes.to_string().contains("key="), "{notes}");
    gw.get("/v1/memory", Some("wct_mig-a_000000000000_00000000000000000000000000000000"))
        .expect_error(401, "unauthorized");

    // The database is in use now: a second migration is refused.
    let again = migrate(&[]);
    assert_eq!(again.code, Some(17), "{again:?}");
    assert!(again.stderr.contains("not empty"), "{again:?}");
    assert!(!again.stdout.contains(&password) && !again.stderr.contains(&password), "{again:?}");

    // Both runs that opened the database are audited, the URL without its
    // password (the one the running redb gateway refused could not be).
    let log = std::fs::read_to_string(gw.data_dir().join("audit.log")).unwrap();
    let runs: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["action"] == "store.migrate")
        .collect();
    let outcomes: Vec<&str> = runs.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["ok", "conflict"], "{runs:?}");
    assert!(runs.iter().all(|e| e["target"].as_str().unwrap().contains(":***@")), "{runs:?}");
    assert!(!log.contains(&password));
}
