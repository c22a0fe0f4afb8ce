//! Migrations: a redb store with every family populated moves whole (into
//! PostgreSQL when a server is configured, into another redb store
//! always); a target that holds anything is refused and left as it was; a
//! copy that differs from its source in any row, token or global fails
//! the check, naming the tenant.

use super::*;
use crate::records::{
    ChannelKind, ChannelSpec, InstalledSkill, Job, LlmUsage, Message, MessageState, Role, Schedule, Session,
    Tenant, TrustedKey, Turn, UsageTotals,
};
use crate::store::dump::FAMILIES;
use crate::store::testing::{db, t};
use crate::store::{MemoryUsage, Scope};

fn scope(id: &TenantId) -> Scope<'_> {
    Scope { tenant: id, user: None }
}

fn token(id: &str, tenant: &str, role: Role) -> TokenInfo {
    TokenInfo {
        id: id.into(),
        tenant: t(tenant),
        role,
        name: format!("{id}-name"),
        created: 7,
        last_used: Some(60),
        expires: None,
    }
}

/// Writes a row of every family for `id`, two tokens, and its share of the
/// globals.
fn populate(db: &Db, id: &str, n: u8) {
    let tenant = t(id);
    assert!(
        db.tenant_create(&Tenant { id: tenant.clone(), created: 100 + u64::from(n), suspended: n == 2 })
            .unwrap()
    );
    let policy =
        crate::policy::TenantPolicy::parse("[cron]\nmax_jobs = 10\nmin_interval_secs = 60\n").unwrap();
    db.set_policy(&tenant, &policy).unwrap();
    db.put_secret_key(&tenant, &[n; 40]).unwrap();
    db.put_secret(&tenant, "API_KEY", &[0xa0 + n; 48]).unwrap();
    let quota = Default::default();
    db.memory_set(scope(&tenant), "notes/1", &format!("hello from {id}"), &quota).unwrap();
    let alice = crate::ids::UserId::parse("alice").unwrap();
    db.memory_set(Scope { tenant: &tenant, user: Some(&alice) }, "k\0with-nul", "v", &quota).unwrap();
    let skill = InstalledSkill {
        name: "notes".into(),
        version: "1.0.0".into(),
        description: "takes notes".into(),
        digest: "00".into(),
        manifest_digest: String::new(),
        guest: false,
        installed: 5,
        manifest: None,
        publisher: None,
        imports: vec!["wasmclaw:skill/memory@0.1.0".into()],
        exports: vec![],
        capabilities: vec!["memory".into()],
    };
    assert!(db.skill_put(&tenant, &skill, &[0u8, 0x61, 0x73, 0x6d, n], None).unwrap());
    let agent: crate::records::AgentSpec =
        serde_json::from_value(serde_json::json!({"name": "helper", "provider": "p", "model": "m"})).unwrap();
    assert!(db.agent_put(&tenant, &agent, true).unwrap());
    let session = Session { turns: vec![Turn::User { text: format!("hi {id}") }], updated: 9 };
    let usage =
        [("m".to_string(), "2026-11-25".to_string(), LlmUsage { input_tokens: 5, ..Default::default() })];
    assert!(db.session_save(&tenant, "helper", &alice, &session, &usage).unwrap());
    let channel = ChannelSpec {
        name: "hook".into(),
        kind: ChannelKind::Webhook,
        agent: "helper".into(),
        secret: "WEBHOOK_SECRET".into(),
        bot_token_secret: None,
    };
    assert!(db.channel_add(&tenant, &channel).unwrap());
    db.replay_first(&tenant, "delivery-1", 10, 4_000_000_000, 5).unwrap();
    db.usage_add(&[crate::records::UsageDelta::of(
        &tenant,
        "notes",
        7200,
        UsageTotals { calls: 3, fuel: 30, ..Default::default() },
    )])
    .unwrap();
    db.outbox_put(&Message {
        id: format!("m-{id}"),
        tenant: tenant.clone(),
        skill: "notes".into(),
        contact: "ops".into(),
        url: "http://127.0.0.1:9/hook".into(),
        body: "body".into(),
        created: 100,
        state: MessageState::Pending,
        attempts: 0,
        next_attempt: 200 + u64::from(n),
        last_error: None,
    })
    .unwrap();
    let job = Job {
        id: format!("job-{id}"),
        tenant: tenant.clone(),
        skill: "notes".into(),
        scope: Default::default(),
        schedule: Schedule::EverySeconds(60),
        input: "{}".into(),
        next_run: 300 + u64::from(n),
        created: 1,
        last: None,
    };
    db.cron_add(&job, 10, 10).unwrap();
    assert!(db.token_insert(&token(&format!("{id}-admin"), id, Role::Admin), &[n; 32]).unwrap());
    assert!(db.token_insert(&token(&format!("{id}-member"), id, Role::Member), &[n + 10; 32]).unwrap());
    db.trust_add(&TrustedKey { name: format!("pub-{id}"), key: format!("ed25519:{id}"), added: 3 })
        .unwrap()
        .unwrap();
}

/// A redb source with two tenants, every family of each populated.
fn source() -> (tempfile::TempDir, Db) {
    let (dir, db) = db();
    db.set_admin_key_hash(&[0x5a; 32]).unwrap();
    populate(&db, "acme", 1);
    populate(&db, "beta", 2);
    let dump = db.export_tenants(&[t("acme")]).unwrap();
    for f in &FAMILIES {
        assert!(!dump[0].rows(f.name).is_empty(), "the fixture leaves family {} empty", f.name);
    }
    (dir, db)
}

/// Migrates `from` into `to` and checks what the target answers.
fn moves_whole(from: &Db, to: &Db) {
    let mut seen: Vec<(Stage, usize, u64, u64, u64, u64)> = Vec::new();
    let summary = migrate(from, to, &mut |p| {
        seen.push((p.stage, p.tenants_done, p.rows_done, p.rows, p.bytes_done, p.bytes));
    })
    .unwrap();

    assert_eq!(summary.tenants.iter().map(|s| s.tenant.as_str()).collect::<Vec<_>>(), ["acme", "beta"]);
    assert_eq!((summary.trusted_keys, summary.admin_key), (2, true));
    for s in &summary.tenants {
        assert_eq!(s.families.len(), FAMILIES.len(), "{s:?}");
        assert_eq!(s.tokens, 2);
        assert_eq!(s.sha256.len(), 64);
    }
    let copied = seen.iter().rfind(|s| s.0 == Stage::Copying).copied().unwrap();
    assert_eq!((copied.1, copied.2, copied.4), (2, summary.rows, summary.bytes), "{seen:?}");
    assert_eq!((copied.3, copied.5), (summary.rows, summary.bytes), "the totals were known before the copy");
    let stages: Vec<Stage> = seen.iter().map(|s| s.0).collect();
    assert!(stages.is_sorted_by_key(|s| *s as u8), "{stages:?}");
    assert_eq!(stages.last(), Some(&Stage::Verifying));

    // What the gateway on the target will read.
    assert_eq!(to.tenants().unwrap(), from.tenants().unwrap());
    assert!(to.tenant_suspended(&t("beta")).unwrap(), "a suspension moves with its tenant");
    assert_eq!(to.admin_key_hash().unwrap(), Some([0x5a; 32]));
    assert_eq!(to.trusted_keys().unwrap(), from.trusted_keys().unwrap());
    for (id, n) in [("acme", 1u8), ("beta", 2)] {
        let tenant = t(id);
        assert_eq!(
            to.token(&format!("{id}-member")).unwrap(),
            Some((token(&format!("{id}-member"), id, Role::Member), [n + 10; 32]))
        );
        assert_eq!(to.memory_get(scope(&tenant), "notes/1").unwrap(), Some(format!("hello from {id}")));
        assert_eq!(to.memory_usage(&tenant).unwrap(), from.memory_usage(&tenant).unwrap());
        assert_ne!(to.memory_usage(&tenant).unwrap(), MemoryUsage::default());
        assert_eq!(
            to.secret(&tenant, "API_KEY").unwrap(),
            Some(vec![0xa0 + n; 48]),
            "still sealed, byte for byte"
        );
        assert_eq!(to.secret_key(&tenant).unwrap(), Some(vec![n; 40]));
        assert_eq!(to.skill(&tenant, "notes").unwrap(), from.skill(&tenant, "notes").unwrap());
        assert_eq!(to.policy(&tenant).unwrap(), from.policy(&tenant).unwrap());
    }
    // The derived indexes were rebuilt: due work is found on the target.
    let due: Vec<String> = to.cron_due(u64::MAX, 10).unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(due, ["job-acme", "job-beta"]);
    let due: Vec<String> = to.outbox_due(u64::MAX, 10).unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(due, ["m-acme", "m-beta"]);
    assert_eq!(verify(to, from, &mut |_| {}).unwrap(), summary, "the check holds both ways");
}

#[test]
fn a_redb_store_moves_whole_into_postgres() {
    let Some((_guard, to)) = crate::store::testing::postgres() else { return };
    let (_dir, from) = source();
    moves_whole(&from, &to);
}

#[test]
fn a_redb_store_moves_whole_into_another_redb_store() {
    let (_dir, from) = source();
    let (_dir2, to) = db();
    moves_whole(&from, &to);
}

/// A change made to a store.
type Change<'a> = &'a dyn Fn(&Db);

/// A fresh target store, and the guard that keeps it.
type Target<'a> = &'a dyn Fn() -> (Box<dyn std::any::Any>, Db);

/// Each way a target can hold something, on `target()`: refused before a
/// single write, and the target is as it was.
fn refuses_non_empty(target: Target) {
    let (_dir, from) = source();
    let occupy: [(&str, Change); 3] = [
        ("tenant", &|db| {
            db.tenant_create(&Tenant { id: t("other"), created: 1, suspended: false }).unwrap();
        }),
        ("trusted key", &|db| {
            db.trust_add(&TrustedKey { name: "k".into(), key: "ed25519:K".into(), added: 1 })
                .unwrap()
                .unwrap();
        }),
        ("admin key", &|db| db.set_admin_key_hash(&[1; 32]).unwrap()),
    ];
    for (what, occupy) in occupy {
        let (_guard, to) = target();
        occupy(&to);
        let before = (to.tenants().unwrap(), to.trusted_keys().unwrap(), to.admin_key_hash().unwrap());
        let mut calls = 0;
        let e = migrate(&from, &to, &mut |_| calls += 1).unwrap_err();
        assert!(
            matches!(&e, StoreError::Invalid(m) if m.contains("not empty") && m.contains(what)),
            "{what}: {e}"
        );
        assert_eq!(calls, 0, "{what}: refused before anything began");
        let after = (to.tenants().unwrap(), to.trusted_keys().unwrap(), to.admin_key_hash().unwrap());
        assert_eq!(after, before, "{what}: the target is unchanged");
        assert!(to.token("acme-admin").unwrap().is_none(), "{what}");
    }
}

#[test]
fn a_non_empty_target_is_refused_and_left_unchanged() {
    refuses_non_empty(&|| {
        let (dir, db) = db();
        (Box::new(dir), db)
    });
    if crate::store::testing::postgres().is_some() {
        refuses_non_empty(&|| crate::store::testing::postgres().unwrap());
    }
}

/// Each tampering of a good copy in `target()` fails the check with a
/// message naming what differs.
fn catches_tampering(target: Target) {
    let (_dir, from) = source();
    let tamperings: [(&str, Change); 7] = [
        ("tenant beta: its rows of memory differ", &|db| {
            db.memory_set(scope(&t("beta")), "notes/1", "changed", &Default::default()).unwrap();
        }),
        ("tenant acme: its rows of secrets differ", &|db| {
            db.put_secret(&t("acme"), "API_KEY", b"other").unwrap()
        }),
        ("tenant acme: its rows of cron_jobs, usage, usage_hours differ", &|db| {
            let next = db.cron_list(&t("acme"), "notes").unwrap()[0].next_run;
            assert!(db.cron_reschedule(&t("acme"), "job-acme", next, 999).unwrap());
            db.usage_add(&[crate::records::UsageDelta::of(
                &t("acme"),
                "notes",
                0,
                UsageTotals { calls: 1, ..Default::default() },
            )])
            .unwrap();
        }),
        ("tenant beta: its tokens differ", &|db| {
            db.token_update(&t("beta"), "beta-member", |i| i.role = Role::Admin).unwrap().unwrap();
        }),
        ("tenant acme: its tokens differ", &|db| assert!(db.token_remove(&t("acme"), "acme-admin").unwrap())),
        ("tenant intruder is not in the source", &|db| {
            db.tenant_create(&Tenant { id: t("intruder"), created: 1, suspended: false }).unwrap();
        }),
        ("the trusted keys differ", &|db| assert!(db.trust_remove("pub-beta").unwrap().is_some())),
    ];
    for (why, tamper) in tamperings {
        let (_guard, to) = target();
        migrate(&from, &to, &mut |_| {}).unwrap();
        verify(&from, &to, &mut |_| {}).expect("the untouched copy checks");
        tamper(&to);
        let e = verify(&from, &to, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains(why), "expected {why:?}, got: {e}");
    }
    let (_guard, to) = target();
    migrate(&from, &to, &mut |_| {}).unwrap();
    to.set_admin_key_hash(&[0; 32]).unwrap();
    assert!(verify(&from, &to, &mut |_| {}).unwrap_err().to_string().contains("admin key"));
    to.set_admin_key_hash(&[0x5a; 32]).unwrap();
    assert!(to.tenant_delete(&t("beta")).unwrap());
    assert!(verify(&from, &to, &mut |_| {}).unwrap_err().to_string().contains("tenant beta is missing"));
}

#[test]
fn the_check_catches_a_tampered_copy() {
    catches_tampering(&|| {
        let (dir, db) = db();
        (Box::new(dir), db)
    });
    if crate::store::testing::postgres().is_some() {
        catches_tampering(&|| crate::store::testing::postgres().unwrap());
    }
}
