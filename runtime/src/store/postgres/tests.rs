//! What only the PostgreSQL store can get wrong: its URL's secret, a
//! server that is missing or newer, concurrent starts, bounds, and bytes
//! that SQL treats specially.

use super::{PgBackend, PgOptions, StoreError};
use crate::ids::UserId;
use crate::store::Scope;
use crate::store::pg_testing::TestDb;
use crate::store::testing::{pg_options as options, t};
use std::time::Duration;

/// A store on `db`.
fn connect(db: &TestDb) -> PgBackend {
    PgBackend::connect_with(db.url(), &options()).expect("connect to the test database")
}

/// A store on a fresh database, kept alive by the guard.
fn pg() -> Option<(TestDb, PgBackend)> {
    let db = TestDb::create()?;
    let store = connect(&db);
    Some((db, store))
}

impl PgBackend {
    /// The first column of the first row of `sql`, as text (tests only).
    pub(super) fn text_of(&self, sql: &str) -> Result<Option<String>, StoreError> {
        let sql = sql.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let rows = c.simple_query(&sql).await?;
                Ok(rows.iter().find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                }))
            })
        })
    }
}

/// `url` with `password` in place of its own.
fn with_password(url: &str, password: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    u.set_password(Some(password)).unwrap();
    u.to_string()
}

/// A local port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_password_never_appears_in_an_error() {
    let Some(db) = TestDb::create() else { return };
    let secret = "Sw0rdf1sh-never-shown";
    // A wrong password on a live server, and the right form of URL to a
    // port where nothing listens.
    let wrong = with_password(db.url(), secret);
    let mut dead = url::Url::parse(&wrong).unwrap();
    dead.set_port(Some(closed_port())).unwrap();
    for (url, reachable) in [(wrong, true), (dead.to_string(), false)] {
        let e = PgBackend::connect_with(&url, &options()).unwrap_err();
        // A server that answers and refuses is no unreachable database.
        assert_eq!(matches!(e, StoreError::Open { .. }), reachable, "{e:?}");
        assert_eq!(matches!(e, StoreError::Unreachable { .. }), !reachable, "{e:?}");
        let (shown, debug) = (e.to_string(), format!("{e:?}"));
        assert!(!shown.contains(secret) && !debug.contains(secret), "{shown} / {debug}");
        assert!(shown.contains("***"), "the URL is named, its password hidden: {shown}");
    }
    // A password PostgreSQL echoes nowhere still never appears when it
    // is in an error text.
    let e = super::scrub(StoreError::Backend(format!("boom {secret}")), &[secret.to_string()]);
    assert!(!e.to_string().contains(secret));
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let port = closed_port();
    let url = format!("postgres://u:pw@127.0.0.1:{port}/db");
    let e = PgBackend::connect_with(&url, &options()).unwrap_err();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
    let shown = e.to_string();
    let named =
        format!("cannot reach the database at 127.0.0.1:{port} (postgres://u:***@127.0.0.1:{port}/db)");
    assert!(shown.starts_with(&named), "{shown}");
    assert!(shown.contains("Connection refused"), "says why: {shown}");
    assert!(!shown.contains(":pw@") && !shown.contains('\n'), "one line, no password: {shown}");
    // Every host of the URL is named; a name that does not resolve is
    // unreachable too.
    let url = format!("postgres://u:pw@no-such-host.invalid:{port},127.0.0.1:{port}/db?sslmode=disable");
    let e = PgBackend::connect_with(&url, &options()).unwrap_err();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&format!("at no-such-host.invalid:{port},127.0.0.1:{port} (")), "{e}");
    let e = PgBackend::connect_with("postgres://u:pw@[::1", &options()).unwrap_err();
    assert!(e.to_string().contains("not a valid PostgreSQL URL"), "{e}");
}

#[test]
fn a_schema_newer_than_the_binary_is_refused() {
    let Some(db) = TestDb::create() else { return };
    drop(connect(&db));
    drop(connect(&db));
    let known = super::migrate::known_version();
    let future = known + 1;
    connect(&db)
        .text_of(&format!(
            "INSERT INTO wasmclaw_schema_history (version, name, applied_on, checksum) \
             VALUES ({future}, 'from_the_future', '2030-01-01T00:00:00Z', '0')"
        ))
        .unwrap();
    let e = PgBackend::connect_with(db.url(), &options()).unwrap_err().to_string();
    assert!(
        e.contains(&format!("at version {future}")) && e.contains(&format!("up to version {known}")),
        "{e}"
    );
}

#[test]
fn concurrent_starts_migrate_once() {
    let Some(db) = TestDb::create() else { return };
    let url = db.url().to_string();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgBackend::connect_with(&url, &options()).map(drop))
        })
        .collect();
    for s in starts {
        s.join().unwrap().unwrap();
    }
    let store = connect(&db);
    let applied = store.text_of("SELECT count(*) FROM wasmclaw_schema_history").unwrap();
    let known = super::migrate::known_version().to_string();
    assert_eq!(applied.as_deref(), Some(known.as_str()), "each migration applied once");
}

#[test]
fn every_connection_has_a_statement_timeout() {
    let Some(db) = TestDb::create() else { return };
    let quick = PgOptions { statement_timeout: Duration::from_millis(200), ..options() };
    let store = PgBackend::connect_with(db.url(), &quick).unwrap();
    assert_eq!(store.text_of("SHOW statement_timeout").unwrap().as_deref(), Some("200ms"));
    let e = store.text_of("SELECT pg_sleep(5)::text").unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "a cancelled statement is retryable: {e}");
    assert_eq!(connect(&db).text_of("SHOW statement_timeout").unwrap().as_deref(), Some("30s"));
}

#[test]
fn an_exhausted_pool_answers_unavailable_instead_of_waiting() {
    let Some(db) = TestDb::create() else { return };
    let tight = PgOptions { pool_size: 1, pool_timeout: Duration::from_millis(300), ..options() };
    let store = std::sync::Arc::new(PgBackend::connect_with(db.url(), &tight).unwrap());
    let info = crate::records::TokenInfo {
        id: "tok".into(),
        tenant: t("a"),
        role: crate::records::Role::Member,
        name: String::new(),
        created: 1,
        last_used: None,
        expires: None,
    };
    assert!(store.token_insert(&info, &[0; 32]).unwrap());
    // A token update holds its connection while its closure runs: the
    // closure waits until the other call has been refused.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let store = store.clone();
        std::thread::spawn(move || {
            store.token_update(&t("a"), "tok", &mut |i| {
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                i.name = "renamed".into();
            })
        })
    };
    held_rx.recv().unwrap();
    let e = store.tenant(&t("a")).unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    go_tx.send(()).unwrap();
    assert_eq!(holder.join().unwrap().unwrap().unwrap().name, "renamed");
    assert!(store.tenant(&t("a")).unwrap().is_none(), "served again once the connection is back");
}

#[test]
fn a_caller_on_a_tokio_runtime_is_served_and_may_drop_the_store() {
    let Some(db) = TestDb::create() else { return };
    for multi in [false, true] {
        let rt = if multi {
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
        } else {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
        };
        rt.block_on(async {
            let store = connect(&db);
            let a = t("a");
            let s = Scope { tenant: &a, user: None };
            store.memory_set(s, "k", "v", &Default::default()).unwrap();
            assert_eq!(store.memory_get(s, "k").unwrap().as_deref(), Some("v"));
            drop(store);
        });
    }
}

/// Strings SQL gives a meaning to: NUL, LIKE's wildcards and escape,
/// quotes, a backslash escape, and non-ASCII.
const NASTY: [&str; 8] =
    ["\0", "%", "_", "\\", "'", "\"", "a'; DROP TABLE memory; --", "\u{0}é%_\\'\"\u{1F600}"];

#[test]
fn special_bytes_in_every_stored_string_round_trip_and_through_a_dump() {
    let Some((_d, db)) = pg() else { return };
    let a = t("a");
    let alice = UserId::parse("alice").unwrap();
    let quota = crate::config::MemoryQuota { max_entries: 1000, max_bytes: 1 << 20 };
    for (i, s) in NASTY.iter().enumerate() {
        let text = format!("x{s}y{i}");
        for user in [None, Some(&alice)] {
            let scope = Scope { tenant: &a, user };
            db.memory_set(scope, &text, &text, &quota).unwrap();
            assert_eq!(db.memory_get(scope, &text).unwrap().as_deref(), Some(text.as_str()));
        }
        db.put_secret(&a, &text, text.as_bytes()).unwrap();
        assert_eq!(db.secret(&a, &text).unwrap().as_deref(), Some(text.as_bytes()));
        db.put_secret_key(&a, text.as_bytes()).unwrap();
        assert_eq!(db.secret_key(&a).unwrap().as_deref(), Some(text.as_bytes()));

        let agent: crate::records::AgentSpec =
            serde_json::from_value(serde_json::json!({"name": text, "provider": text, "model": text}))
                .unwrap();
        assert!(db.agent_put(&a, &agent, true).unwrap());
        assert_eq!(db.agent(&a, &text).unwrap(), Some(agent));
        let session = crate::records::Session {
            turns: vec![crate::records::Turn::User { text: text.clone() }],
            updated: 1,
        };
        let usage = [(
            text.clone(),
            "2026-01-01".to_string(),
            crate::records::LlmUsage { turns: 1, ..Default::default() },
        )];
        assert!(db.session_save(&a, &text, &alice, &session, &usage).unwrap());
        assert_eq!(db.session(&a, &text, &alice).unwrap(), Some(session));
        // As in redb, a usage key is split at NUL: an agent or model name
        // holding one is not listed (no other row is shown in its place).
        let listed = db.llm_usage(&a, "").unwrap().iter().any(|r| r.agent == text && r.model == text);
        assert_eq!(listed, !text.contains('\0'), "{text:?}");

        let channel: crate::records::ChannelSpec = serde_json::from_value(
            serde_json::json!({"name": text, "kind": "webhook", "agent": text, "secret": "K"}),
        )
        .unwrap();
        assert!(db.channel_add(&a, &channel).unwrap());
        assert_eq!(db.channel(&a, &text).unwrap(), Some(channel));

        let token = crate::records::TokenInfo {
            id: text.clone(),
            tenant: a.clone(),
            role: crate::records::Role::Member,
            name: text.clone(),
            created: 1,
            last_used: None,
            expires: None,
        };
        assert!(db.token_insert(&token, &[1; 32]).unwrap());
        assert_eq!(db.token(&text).unwrap().map(|(t, _)| t), Some(token));

        let key = crate::records::TrustedKey { name: text.clone(), key: text.clone(), added: 1 };
        db.trust_add(&key).unwrap().unwrap();
        assert!(db.trusted_keys().unwrap().contains(&key));

        let mut skill: crate::records::InstalledSkill =
            serde_json::from_value(serde_json::json!({"name": text, "version": "1", "description": text,
                "digest": "00", "guest": false, "installed": 1, "manifest": null, "manifest_digest": "",
                "publisher": null, "imports": [], "exports": [], "capabilities": []}))
            .unwrap();
        skill.name = text.clone();
        assert!(db.skill_put(&a, &skill, text.as_bytes(), None).unwrap());
        assert_eq!(db.skill(&a, &text).unwrap(), Some((skill, text.as_bytes().to_vec())));

        let totals = crate::records::UsageTotals { calls: 1, ..Default::default() };
        db.usage_add(&[crate::records::UsageDelta::of(&a, &text, 3600, totals)]).unwrap();
        assert!(db.usage(Some(&a)).unwrap().iter().any(|(_, s, _)| *s == text));

        let m = crate::records::Message {
            id: format!("m{i}{}", s.replace('\0', "")),
            tenant: a.clone(),
            skill: text.clone(),
            contact: text.clone(),
            url: text.clone(),
            body: text.clone(),
            created: 1,
            state: crate::records::MessageState::Pending,
            attempts: 0,
            next_attempt: 1,
            last_error: Some(text.clone()),
        };
        db.outbox_put(&m).unwrap();
        assert_eq!(db.outbox_get(&a, &m.id).unwrap(), Some(m));

        let job = crate::records::Job {
            id: format!("j{i}{}", s.replace('\0', "")),
            tenant: a.clone(),
            skill: format!("s{}", s.replace('\0', "")),
            scope: Default::default(),
            schedule: crate::records::Schedule::EverySeconds(60),
            input: text.clone(),
            next_run: 1,
            created: 1,
            last: None,
        };
        db.cron_add(&job, 100, 100).unwrap();
        assert_eq!(db.cron_list(&a, &job.skill).unwrap(), vec![job]);

        let replay = format!("r{i}{}", s.replace('\0', ""));
        assert_eq!(db.replay_first(&a, &replay, 0, 10, 100).unwrap(), crate::store::Replay::First);
        assert_eq!(db.replay_first(&a, &replay, 0, 10, 100).unwrap(), crate::store::Replay::Seen);
    }
    let names = db.secret_names(&a).unwrap();
    assert_eq!(names.len(), NASTY.len());
    assert!(db.memory_list(Scope { tenant: &a, user: None }, "", 100, 1 << 20).unwrap().len() == NASTY.len());
    // Nothing leaked into another tenant, and a delete takes it all.
    assert!(db.memory_list(Scope { tenant: &t("b"), user: None }, "", 100, 1 << 20).unwrap().is_empty());
    db.tenant_delete(&a).unwrap();
    assert!(db.secret_names(&a).unwrap().is_empty() && db.skills(&a).unwrap().is_empty());
}

#[test]
fn a_prefix_scan_matches_literal_bytes_only() {
    let Some((_d, db)) = pg() else { return };
    let a = t("a");
    let s = Scope { tenant: &a, user: None };
    let q = crate::config::MemoryQuota { max_entries: 100, max_bytes: 10_000 };
    for k in ["a%b", "a_b", "axb", "a\\b", "a\\%", "ab", "a", "b%", "a\0b", "a\u{ff}"] {
        db.memory_set(s, k, "v", &q).unwrap();
    }
    let keys = |prefix: &str| -> Vec<String> {
        db.memory_list(s, prefix, 100, 1 << 20).unwrap().into_iter().map(|e| e.key).collect()
    };
    assert_eq!(keys("a%"), ["a%b"]);
    assert_eq!(keys("a_"), ["a_b"]);
    assert_eq!(keys("a\\"), ["a\\%", "a\\b"]);
    assert_eq!(keys("%"), Vec::<String>::new());
    assert_eq!(keys("_"), Vec::<String>::new());
    // Byte order, as redb's: NUL first, then ASCII, then the rest.
    assert_eq!(keys("a"), ["a", "a\0b", "a%b", "a\\%", "a\\b", "a_b", "ab", "axb", "a\u{ff}"]);
    let found = db.memory_search(
        s,
        &["%".into()],
        100,
        1 << 20,
        &crate::store::ScanBound { max_bytes: usize::MAX, max_entries: usize::MAX, deadline: None },
    );
    let found: Vec<String> = found.unwrap().entries.into_iter().map(|e| e.key).collect();
    assert_eq!(found, ["a%b", "a\\%", "b%"]);
}

#[test]
fn the_credential_generation_row_moves_with_the_mirror() {
    let Some((_d, db)) = pg() else { return };
    let row = || db.text_of("SELECT generation FROM credentials_generation").unwrap().unwrap();
    let (row0, mirror0) = (row(), db.credentials_generation());
    let tenant = crate::records::Tenant { id: t("a"), created: 1, suspended: false };
    db.tenant_create(&tenant).unwrap();
    db.tenant_set_suspended(&t("a"), true).unwrap();
    db.tenant_delete(&t("a")).unwrap();
    assert_eq!(row().parse::<u64>().unwrap(), row0.parse::<u64>().unwrap() + 2);
    assert_eq!(db.credentials_generation(), mirror0 + 2);
}

#[test]
fn a_dump_of_special_bytes_is_the_same_bytes_from_either_backend() {
    let Some(pg_a) = TestDb::create() else { return };
    let source = crate::store::Db::open_postgres_with(pg_a.url(), &options()).unwrap();
    let d = t("d");
    let alice = UserId::parse("alice").unwrap();
    source.tenant_create(&crate::records::Tenant { id: d.clone(), created: 7, suspended: true }).unwrap();
    let policy =
        crate::policy::TenantPolicy::parse("[cron]\nmax_jobs = 3\nmin_interval_secs = 60\n").unwrap();
    source.set_policy(&d, &policy).unwrap();
    source.put_secret_key(&d, b"wrapped\0key").unwrap();
    let quota = crate::config::MemoryQuota { max_entries: 1000, max_bytes: 1 << 20 };
    for (i, s) in NASTY.iter().enumerate() {
        // Names (keys of one part) cannot hold NUL in a dump; values can.
        let name = format!("n{i}{}", s.replace('\0', ""));
        let value = format!("v{s}{i}");
        for user in [None, Some(&alice)] {
            source.memory_set(Scope { tenant: &d, user }, &value, &value, &quota).unwrap();
        }
        source.put_secret(&d, &name, value.as_bytes()).unwrap();
        let agent: crate::records::AgentSpec =
            serde_json::from_value(serde_json::json!({"name": name, "provider": value, "model": value}))
                .unwrap();
        source.agent_put(&d, &agent, true).unwrap();
        let session = crate::records::Session {
            turns: vec![crate::records::Turn::User { text: value.clone() }],
            updated: 1,
        };
        let usage = [(
            name.clone(),
            "2026-01-01".to_string(),
            crate::records::LlmUsage { turns: 1, ..Default::default() },
        )];
        source.session_save(&d, &name, &alice, &session, &usage).unwrap();
        let channel: crate::records::ChannelSpec = serde_json::from_value(
            serde_json::json!({"name": name, "kind": "webhook", "agent": value, "secret": "K"}),
        )
        .unwrap();
        source.channel_add(&d, &channel).unwrap();
        let skill: crate::records::InstalledSkill = serde_json::from_value(serde_json::json!({"name": name,
            "version": "1", "description": value, "digest": "00", "guest": false, "installed": 1,
            "manifest": null, "manifest_digest": "", "publisher": null, "imports": [], "exports": [],
            "capabilities": []}))
        .unwrap();
        // Two installs of the same bytes: one component row, two rows in the dump.
        source.skill_put(&d, &skill, b"same\0bytes", None).unwrap();
        source
            .usage_add(&[crate::records::UsageDelta::of(
                &d,
                &name,
                3600,
                crate::records::UsageTotals { calls: 1, ..Default::default() },
            )])
            .unwrap();
        source
            .outbox_put(&crate::records::Message {
                id: name.clone(),
                tenant: d.clone(),
                skill: value.clone(),
                contact: value.clone(),
                url: value.clone(),
                body: value.clone(),
                created: 1,
                state: if i % 2 == 0 {
                    crate::records::MessageState::Pending
                } else {
                    crate::records::MessageState::Dead
                },
                attempts: 0,
                next_attempt: u64::MAX - i as u64,
                last_error: None,
            })
            .unwrap();
        source
            .cron_add(
                &crate::records::Job {
                    id: name.clone(),
                    tenant: d.clone(),
                    skill: name.clone(),
                    scope: Default::default(),
                    schedule: crate::records::Schedule::EverySeconds(60),
                    input: value.clone(),
                    next_run: i as u64,
                    created: 1,
                    last: None,
                },
                100,
                100,
            )
            .unwrap();
        source.replay_first(&d, &name, 0, 10, 100).unwrap();
    }
    let dump = source.export_tenants(std::slice::from_ref(&d)).unwrap();
    let usage = source.memory_usage(&d).unwrap();

    // Into redb and out: the same rows.
    let (_dir, redb) = crate::store::testing::db();
    redb.import_tenants(&dump).unwrap();
    assert_eq!(redb.export_tenants(std::slice::from_ref(&d)).unwrap(), dump, "redb gives back the same rows");
    assert_eq!(redb.memory_usage(&d).unwrap(), usage, "memory usage rebuilt alike");
    // Into a fresh PostgreSQL and out: the same rows, and the derived rows
    // rebuilt (due messages and jobs, usage).
    let Some(pg_b) = TestDb::create() else { return };
    let target = crate::store::Db::open_postgres_with(pg_b.url(), &options()).unwrap();
    target.import_tenants(&redb.export_tenants(std::slice::from_ref(&d)).unwrap()).unwrap();
    assert_eq!(
        target.export_tenants(std::slice::from_ref(&d)).unwrap(),
        dump,
        "PostgreSQL gives back the same rows"
    );
    assert_eq!(target.memory_usage(&d).unwrap(), usage);
    assert_eq!(target.outbox_due(u64::MAX, 100).unwrap(), source.outbox_due(u64::MAX, 100).unwrap());
    assert_eq!(target.cron_due(u64::MAX, 100).unwrap(), redb.cron_due(u64::MAX, 100).unwrap());
    assert_eq!(target.tenant(&d).unwrap(), source.tenant(&d).unwrap());
    // Restoring over the tenant itself changes nothing.
    source.import_tenants(&dump).unwrap();
    assert_eq!(source.export_tenants(std::slice::from_ref(&d)).unwrap(), dump);
}

#[test]
fn a_component_is_stored_once_and_goes_with_its_last_install() {
    let Some((_d, db)) = pg() else { return };
    let components = || db.text_of("SELECT count(*) FROM components").unwrap().unwrap();
    let skill = |name: &str| -> crate::records::InstalledSkill {
        serde_json::from_value(serde_json::json!({"name": name, "version": "1", "description": "",
            "digest": "00", "guest": false, "installed": 1, "manifest": null, "manifest_digest": "",
            "publisher": null, "imports": [], "exports": [], "capabilities": []}))
        .unwrap()
    };
    assert!(db.skill_put(&t("a"), &skill("echo"), b"bytes-1", None).unwrap());
    assert!(db.skill_put(&t("b"), &skill("echo"), b"bytes-1", None).unwrap());
    assert!(db.skill_put(&t("b"), &skill("other"), b"bytes-1", None).unwrap());
    assert_eq!(components(), "1", "three installs of the same bytes, one row");
    assert!(db.skill_remove(&t("a"), "echo").unwrap());
    db.tenant_delete(&t("b")).unwrap();
    assert_eq!(components(), "0", "the last install took it");
    assert!(db.skill_put(&t("a"), &skill("echo"), b"bytes-1", None).unwrap());
    assert!(db.skill_put(&t("a"), &skill("echo"), b"bytes-2", Some("00")).unwrap());
    assert_eq!(components(), "1", "a replaced component goes");
    db.skill_component_overwrite(&t("a"), "echo", b"tampered").unwrap();
    assert_eq!(db.skill(&t("a"), "echo").unwrap().unwrap().1, b"tampered");
    assert_eq!(components(), "1");
}

#[test]
fn byte_ranges_and_unsigned_times_keep_redbs_order() {
    let Some((_d, db)) = pg() else { return };
    let a = t("a");
    let s = Scope { tenant: &a, user: None };
    let q = crate::config::MemoryQuota { max_entries: 1000, max_bytes: 100_000 };
    // More entries than one round trip reads: all of them, in key order.
    for i in 0..300 {
        db.memory_set(s, &format!("bulk:{i:04}"), "v", &q).unwrap();
    }
    let all = db.memory_list(s, "bulk:", 1000, 1 << 20).unwrap();
    assert_eq!(all.len(), 300);
    assert!(all.windows(2).all(|w| w[0].key < w[1].key));
    let unbounded =
        crate::store::ScanBound { max_bytes: usize::MAX, max_entries: usize::MAX, deadline: None };
    assert_eq!(db.memory_search(s, &["zzz".into()], 100, 1 << 20, &unbounded).unwrap().scanned_entries, 300);
    // An agent's sessions are the range of `name \0`, not of the name's prefix.
    let agent = |n: &str| -> crate::records::AgentSpec {
        serde_json::from_value(serde_json::json!({"name": n, "provider": "p", "model": "m"})).unwrap()
    };
    let alice = UserId::parse("alice").unwrap();
    let session = crate::records::Session { turns: vec![], updated: 1 };
    for n in ["helper", "helper2"] {
        db.agent_put(&a, &agent(n), true).unwrap();
        db.session_save(&a, n, &alice, &session, &[]).unwrap();
    }
    assert!(db.agent_remove(&a, "helper").unwrap());
    assert!(db.session(&a, "helper2", &alice).unwrap().is_some());
    // Times past i64::MAX order as u64.
    let job = |id: &str, next_run: u64| crate::records::Job {
        id: id.into(),
        tenant: a.clone(),
        skill: "s".into(),
        scope: Default::default(),
        schedule: crate::records::Schedule::EverySeconds(60),
        input: String::new(),
        next_run,
        created: 1,
        last: None,
    };
    for (id, at) in [("never", u64::MAX), ("late", 1 << 63), ("soon", 5)] {
        db.cron_add(&job(id, at), 10, 10).unwrap();
    }
    let ids = |v: Vec<crate::records::Job>| v.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(ids(db.cron_due(i64::MAX as u64, 10).unwrap()), ["soon"]);
    assert_eq!(ids(db.cron_due(u64::MAX, 10).unwrap()), ["soon", "late", "never"]);
}

#[test]
fn a_connection_the_server_closes_is_unavailable_then_replaced() {
    let Some((db, store)) = pg() else { return };
    let info = crate::records::TokenInfo {
        id: "tok".into(),
        tenant: t("a"),
        role: crate::records::Role::Member,
        name: String::new(),
        created: 1,
        last_used: None,
        expires: None,
    };
    assert!(store.token_insert(&info, &[0; 32]).unwrap());
    // While the update's transaction waits for its closure, the server
    // ends every other connection to the database (as a restart would).
    let other = connect(&db);
    let e = store
        .token_update(&t("a"), "tok", &mut |i| {
            other
                .text_of(
                    "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                .unwrap();
            i.name = "lost".into();
        })
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    // Nothing was written, and the next call gets a new connection.
    let (stored, _) = store.token("tok").unwrap().unwrap();
    assert_eq!(stored.name, "", "the update was not half applied");
}

#[test]
fn a_connection_that_failed_is_not_handed_back_to_the_pool() {
    let Some((db, holder)) = pg() else { return };
    let quick = PgOptions { pool_size: 1, statement_timeout: Duration::from_millis(300), ..options() };
    let waiter = PgBackend::connect_with(db.url(), &quick).unwrap();
    let info = crate::records::TokenInfo {
        id: "tok".into(),
        tenant: t("a"),
        role: crate::records::Role::Member,
        name: String::new(),
        created: 1,
        last_used: None,
        expires: None,
    };
    assert!(holder.token_insert(&info, &[0; 32]).unwrap());
    assert!(waiter.token("tok").unwrap().is_some());
    assert_eq!(waiter.pool.status().size, 1, "one pooled connection");
    // The holder locks the token's row while the waiter's read of it times
    // out: an Unavailable in the first step of a two-step transaction.
    holder
        .token_update(&t("a"), "tok", &mut |_| {
            let e = waiter.token_touch(&t("a"), "tok", 5).unwrap_err();
            assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
        })
        .unwrap();
    assert_eq!(waiter.pool.status().size, 0, "the failed connection was dropped");
    assert_eq!(waiter.token_touch(&t("a"), "tok", 6).unwrap().unwrap().last_used, Some(6));
}

#[test]
fn a_batch_claim_skips_the_messages_another_worker_is_leasing() {
    let Some((db, holder)) = pg() else { return };
    let other = connect(&db);
    let msg = |id: &str| crate::records::Message {
        id: id.into(),
        tenant: t("a"),
        skill: "notify".into(),
        contact: "ops".into(),
        url: "http://127.0.0.1:9/hook".into(),
        body: String::new(),
        created: 1,
        state: crate::records::MessageState::Pending,
        attempts: 0,
        next_attempt: 100,
        last_error: None,
    };
    holder.outbox_put(&msg("m1")).unwrap();
    holder.outbox_put(&msg("m2")).unwrap();
    let ids = |v: Vec<crate::records::Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    // The holder's worker has m1's row locked (its own claim in progress):
    // the other's claim takes m2 without waiting for it.
    let got = holder
        .transact_with(
            |tx| {
                Box::pin(async move {
                    tx.query_one("SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE", &[&b"m1".as_slice()])
                        .await?;
                    Ok(())
                })
            },
            |()| other.outbox_claim_due(200, 260, 10),
            |_, got| Box::pin(async move { Ok(got) }),
        )
        .unwrap()
        .expect("no wait for the locked row");
    assert_eq!(ids(got), ["m2"]);
    assert_eq!(ids(other.outbox_claim_due(200, 260, 10).unwrap()), ["m1"], "free again once unlocked");
}

#[test]
fn every_table_with_a_tenant_column_is_purged_with_the_tenant() {
    let Some((_db, store)) = pg() else { return };
    let tables = store
        .text_of(
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_name = 'tenant'",
        )
        .unwrap()
        .unwrap_or_default();
    // The tenant record itself, the lease of whoever serves it and the
    // shared components (`skills::purge`) go by their own statements.
    let own = ["tenants", "tenant_leases", "skill_components"];
    let missed: Vec<&str> = tables
        .split(',')
        .filter(|t| !own.contains(t) && !super::tenants::TENANT_TABLES.contains(t))
        .collect();
    assert_eq!(missed, Vec::<&str>::new(), "tables a tenant's purge would leave rows in (of {tables})");
}
