//! Tenants as the gateway manages them, through the runtime library:
//! tokens and their classes, suspension (tokens refused, cron paused),
//! rotation with a grace period, and deletion of everything a tenant owns
//! while its neighbour keeps everything.

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use wasmclaw::auth::Principal;
use wasmclaw::clock::ManualClock;
use wasmclaw::installed::SkillSource;
use wasmclaw::records::Role;
use wasmclaw::store::Scope;
use wasmclaw::{Call, Error, Runtime};
use wasmclaw_tests::{package, runtime_with_clock, tenant, trust_tests};

const T0: u64 = 1_700_000_000;
const CRON_POLICY: &str = "[cron]\nmax_jobs = 3\nmin_interval_secs = 60\n";

async fn install(rt: &Runtime, t: &str, name: &str) {
    let source = SkillSource::Package(package(name));
    rt.install_skill("operator", &tenant(t), source, Default::default())
        .await
        .unwrap_or_else(|e| panic!("install {name}: {e}"));
}

async fn invoke(rt: &Runtime, t: &str, name: &str, input: serde_json::Value) -> Result<String, Error> {
    let bound = rt.installed(&tenant(t), name).await?;
    Ok(rt.invoke(&bound, &Call::default(), &input.to_string()).await?.output)
}

fn setup() -> (tempfile::TempDir, Runtime, ManualClock) {
    let clock = ManualClock::new(T0);
    let (dir, rt) = runtime_with_clock(Arc::new(clock.clone()));
    for t in ["acme", "globex"] {
        rt.create_tenant("operator", &tenant(t)).unwrap();
    }
    trust_tests(&rt);
    (dir, rt, clock)
}

#[tokio::test]
async fn tokens_authenticate_only_as_minted_and_classes_do_not_mix() {
    let (_dir, rt, _clock) = setup();
    let admin = rt.ensure_admin_key(None).unwrap().expect("a generated key is shown once");
    assert_eq!(rt.ensure_admin_key(None).unwrap(), None, "and never again");
    assert_eq!(rt.authenticate(&admin).unwrap(), Principal::Operator);

    let (info, token) = rt.mint_token("operator", &tenant("acme"), Role::Member, "ci").unwrap();
    assert!(token.starts_with(&format!("{}_", info.prefix())), "{token}");
    let Principal::Token(seen) = rt.authenticate(&token).unwrap() else {
        panic!("a token is not an admin key")
    };
    assert_eq!((seen.tenant.as_str(), seen.role), ("acme", Role::Member));

    // Tampering with any part of the token is refused: the tenant, the id, the secret.
    let forged_tenant = token.replacen("wct_acme_", "wct_globex_", 1);
    let mut flipped = token.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == '0' { '1' } else { '0' });
    for bad in [forged_tenant.as_str(), flipped.as_str(), "wct_acme", "", "Bearer x", &admin[..10]] {
        assert!(matches!(rt.authenticate(bad), Err(Error::Unauthorized(_))), "{bad:?} was accepted");
    }
    // An admin key with the token's secret, or a token in the admin form, is refused.
    let secret = token.rsplit('_').next().unwrap();
    assert!(matches!(rt.authenticate(&format!("wca_{secret}")), Err(Error::Unauthorized(_))));
    assert!(rt.mint_token("operator", &tenant("nobody"), Role::Admin, "").is_err(), "no tenant, no token");

    let listed = rt.tokens(&tenant("acme")).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!serde_json::to_string(&listed).unwrap().contains(secret), "a listing never holds the secret");
    assert!(rt.tokens(&tenant("globex")).unwrap().is_empty());
    assert!(
        matches!(rt.revoke_token("operator", &tenant("globex"), &info.id), Err(Error::NotFound(_))),
        "another tenant cannot revoke it"
    );
    rt.revoke_token("operator", &tenant("acme"), &info.id).unwrap();
    assert!(matches!(rt.authenticate(&token), Err(Error::Unauthorized(_))), "revoked");
}

#[tokio::test]
async fn rotation_keeps_the_old_token_only_for_its_grace_period() {
    let (_dir, rt, clock) = setup();
    let acme = tenant("acme");
    let (old, old_token) = rt.mint_token("operator", &acme, Role::Admin, "deploy").unwrap();
    let (new, new_token) = rt.rotate_token("operator", &acme, &old.id, Duration::from_secs(60)).unwrap();
    assert_eq!((new.role, new.name.as_str()), (Role::Admin, "deploy"));
    assert!(rt.authenticate(&new_token).is_ok());
    assert!(rt.authenticate(&old_token).is_ok(), "still inside the grace period");
    clock.advance(60);
    assert!(matches!(rt.authenticate(&old_token), Err(Error::Unauthorized(_))), "expired");
    assert!(rt.authenticate(&new_token).is_ok());

    let (_, newer_token) = rt.rotate_token("operator", &acme, &new.id, Duration::ZERO).unwrap();
    assert!(matches!(rt.authenticate(&new_token), Err(Error::Unauthorized(_))), "no grace: refused at once");
    assert!(rt.authenticate(&newer_token).is_ok());
}

#[tokio::test]
async fn suspension_refuses_tokens_and_pauses_cron_until_resumed() {
    let (_dir, rt, clock) = setup();
    let acme = tenant("acme");
    rt.set_policy("operator", &acme, &wasmclaw::policy::TenantPolicy::parse(CRON_POLICY).unwrap()).unwrap();
    install(&rt, "acme", "reminder").await;
    invoke(&rt, "acme", "reminder", json!({"op":"add","text":"tick","every_seconds":60})).await.unwrap();
    let log = rt.audit().read_all().unwrap();
    assert!(
        log.iter()
            .any(|e| e["action"] == "cron.add" && e["actor"] == "skill:reminder" && e["tenant"] == "acme"),
        "adding a job is audited"
    );
    let (_, token) = rt.mint_token("operator", &acme, Role::Member, "").unwrap();
    let fired = |rt: &Runtime| {
        let v = rt.db_for_tests().memory_get(Scope { tenant: &acme, user: None }, "fired:count").unwrap();
        v.map(|s| s.parse::<u64>().unwrap()).unwrap_or(0)
    };

    rt.suspend_tenant("operator", &acme).unwrap();
    assert!(matches!(rt.authenticate(&token), Err(Error::Suspended(_))));
    clock.advance(60);
    let ran = rt.scheduler().tick(&rt).await.unwrap();
    assert_eq!(ran.len(), 1);
    assert!(ran[0].result.as_ref().unwrap_err().contains("suspended"), "{:?}", ran[0].result);
    assert_eq!(fired(&rt), 0, "a suspended tenant's job does not run");

    rt.resume_tenant("operator", &acme).unwrap();
    assert!(rt.authenticate(&token).is_ok());
    clock.advance(60);
    assert!(rt.scheduler().tick(&rt).await.unwrap()[0].result.is_ok());
    assert_eq!(fired(&rt), 1, "resumed: the job runs again");
}

#[tokio::test]
async fn deleting_a_tenant_removes_everything_it_owns_and_nothing_of_its_neighbour() {
    let (dir, rt, _clock) = setup();
    for t in ["acme", "globex"] {
        let id = tenant(t);
        rt.set_policy("operator", &id, &wasmclaw::policy::TenantPolicy::parse(CRON_POLICY).unwrap()).unwrap();
        install(&rt, t, "notes").await;
        install(&rt, t, "reminder").await;
        invoke(&rt, t, "notes", json!({"op":"add","text":"hello"})).await.unwrap();
        invoke(&rt, t, "reminder", json!({"op":"add","text":"tick","every_seconds":60})).await.unwrap();
        rt.put_secret("operator", &id, "API_KEY", b"s3cret").unwrap();
        rt.mint_token("operator", &id, Role::Member, "").unwrap();
        std::fs::write(rt.tenant_files_dir(&id).join("file.txt"), "x").unwrap();
    }
    rt.flush_usage().unwrap();
    let acme = tenant("acme");
    let (_, token) = rt.mint_token("operator", &acme, Role::Admin, "").unwrap();

    rt.delete_tenant("operator", &acme).await.unwrap();
    assert!(matches!(rt.tenant(&acme), Err(Error::NotFound(_))));
    assert!(matches!(rt.authenticate(&token), Err(Error::Unauthorized(_))), "its tokens are gone");
    assert!(rt.db_for_tests().tokens(&acme).unwrap().is_empty());
    assert!(rt.db_for_tests().skills(&acme).unwrap().is_empty());
    assert!(matches!(invoke(&rt, "acme", "notes", json!({"op":"list"})).await, Err(Error::NotFound(_))));
    assert!(
        rt.db_for_tests()
            .memory_list(Scope { tenant: &acme, user: None }, "", 100, 1 << 20)
            .unwrap()
            .is_empty()
    );
    assert!(rt.db_for_tests().cron_list_tenant(&acme).unwrap().is_empty());
    assert!(rt.secret_names(&acme).unwrap().is_empty());
    assert!(rt.db_for_tests().secret_key(&acme).unwrap().is_none(), "its data key is gone too");
    assert!(rt.usage(Some(&acme)).unwrap().is_empty());
    assert!(!dir.path().join("data/tenants/acme").exists(), "its files are gone");
    assert!(matches!(rt.delete_tenant("operator", &acme).await, Err(Error::NotFound(_))));

    // The neighbour keeps everything.
    let globex = tenant("globex");
    let notes: serde_json::Value =
        serde_json::from_str(&invoke(&rt, "globex", "notes", json!({"op":"list"})).await.unwrap()).unwrap();
    assert_eq!(notes["notes"].as_array().map(Vec::len), Some(1), "{notes}");
    assert_eq!(rt.db_for_tests().cron_list_tenant(&globex).unwrap().len(), 1);
    assert_eq!(rt.secret_names(&globex).unwrap(), ["API_KEY"]);
    assert_eq!(rt.db_for_tests().tokens(&globex).unwrap().len(), 1);
    assert!(rt.usage(Some(&globex)).unwrap().iter().any(|r| r.skill == "notes" && r.totals.calls == 2));
    assert!(rt.tenant_files_dir(&globex).join("file.txt").exists());

    // The audit log keeps the deleted tenant's records.
    let log = rt.audit().read_all().unwrap();
    assert!(log.iter().any(|e| e["tenant"] == "acme" && e["action"] == "tenant.delete"));
    assert!(log.iter().any(|e| e["tenant"] == "acme" && e["action"] == "skill.install"));
}

#[tokio::test]
async fn usage_is_metered_per_tenant_and_skill_and_survives_a_flush() {
    let (_dir, rt, _clock) = setup();
    install(&rt, "acme", "echo").await;
    install(&rt, "acme", "spin").await;
    invoke(&rt, "acme", "echo", json!({"a":1})).await.unwrap();
    invoke(&rt, "acme", "echo", json!({"a":2})).await.unwrap();
    let bound = rt.installed(&tenant("acme"), "spin").await.unwrap();
    let call = Call {
        overrides: wasmclaw::LimitOverrides { fuel: Some(1_000_000), ..Default::default() },
        ..Default::default()
    };
    assert!(matches!(rt.invoke(&bound, &call, "{}").await, Err(Error::OutOfFuel { .. })));

    let check = |rt: &Runtime| {
        let rows = rt.usage(Some(&tenant("acme"))).unwrap();
        let echo = rows.iter().find(|r| r.skill == "echo").expect("echo row");
        assert_eq!(echo.totals.calls, 2);
        assert!(echo.totals.fuel > 0 && echo.totals.memory_peak_bytes > 0 && echo.totals.wall_us > 0);
        let spin = rows.iter().find(|r| r.skill == "spin").expect("spin row");
        assert_eq!(spin.totals.errors.get("out-of-fuel"), Some(&1));
        assert!(rt.usage(Some(&tenant("globex"))).unwrap().is_empty(), "nothing of acme's shows for globex");
    };
    check(&rt);
    rt.flush_usage().unwrap();
    check(&rt);
}

#[tokio::test]
async fn a_capability_denial_is_audited_and_a_granted_call_is_not() {
    let (_dir, rt, _clock) = setup();
    install(&rt, "acme", "fetch").await;
    // The manifest asks for https://example.com; acme's policy grants nothing.
    let r = invoke(&rt, "acme", "fetch", json!({"url": "https://example.com/"})).await;
    assert!(matches!(r, Err(Error::Skill(_))), "{r:?}");
    install(&rt, "acme", "echo").await;
    invoke(&rt, "acme", "echo", json!({"ok": true})).await.unwrap();

    let denied: Vec<_> =
        rt.audit().read_all().unwrap().into_iter().filter(|e| e["action"] == "capability.denied").collect();
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["tenant"], "acme");
    assert_eq!(denied[0]["actor"], "skill:fetch");
    assert!(denied[0]["target"].as_str().unwrap().starts_with("http: "), "{}", denied[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_waits_for_the_calls_in_flight() {
    let (_dir, rt, _clock) = setup();
    install(&rt, "acme", "spin").await;
    let bound = rt.installed(&tenant("acme"), "spin").await.unwrap();
    let call = Call {
        overrides: wasmclaw::LimitOverrides {
            timeout: Some(Duration::from_millis(800)),
            fuel: Some(u64::MAX), // clamped to the cap: the deadline ends it, not fuel
            ..Default::default()
        },
        ..Default::default()
    };
    let running = {
        let (rt, bound, call) = (rt.clone(), bound.clone(), call.clone());
        tokio::spawn(async move { rt.invoke(&bound, &call, "{}").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    rt.delete_tenant("operator", &tenant("acme")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400), "the delete waited for the call in flight");
    assert!(matches!(running.await.unwrap(), Err(Error::Timeout { .. })), "and the call ran to its own end");
    assert!(matches!(rt.tenant(&tenant("acme")), Err(Error::NotFound(_))));
    // A binding taken before the delete cannot run as the deleted tenant…
    assert!(matches!(rt.invoke(&bound, &call, "{}").await, Err(Error::NotFound(_))));
    assert!(!rt.tenant_files_dir(&tenant("acme")).exists(), "nor bring its directory back");
    // …until a tenant of that id is created again.
    rt.create_tenant("operator", &tenant("acme")).unwrap();
    install(&rt, "acme", "echo").await;
    assert_eq!(invoke(&rt, "acme", "echo", json!({"again": true})).await.unwrap(), r#"{"again":true}"#);
}

/// A flood of made-up bearers naming a tenant is filed under no tenant,
/// bounded, and summarised; the tenant's own history stays in its view. A
/// tenant's own authenticated refusals are bounded the same way.
#[tokio::test]
async fn a_flood_of_refused_bearers_never_buries_the_tenants_own_audit() {
    use wasmclaw::audit::AuditFilter;
    use wasmclaw::refusals::PER_WINDOW;
    let clock = ManualClock::new(T0);
    let (_d, rt) = runtime_with_clock(Arc::new(clock.clone()));
    trust_tests(&rt);
    let acme = tenant("acme");
    rt.create_tenant("operator", &acme).unwrap();
    install(&rt, "acme", "echo").await;
    for i in 0..1200u32 {
        let made_up = format!("wct_acme_{i:012x}_{:032x}", u128::from(i) * 7919);
        assert!(matches!(rt.authenticate(&made_up), Err(Error::Unauthorized(_))));
    }
    let view = |rt: &Runtime| {
        let filter = AuditFilter { tenant: Some("acme".into()), limit: 1000, ..Default::default() };
        rt.audit().query(&filter).unwrap()
    };
    let acme_view = view(&rt);
    assert!(acme_view.iter().any(|e| e.action == "skill.install"), "{acme_view:?}");
    assert!(acme_view.iter().all(|e| e.actor != "anonymous"), "nothing anonymous filed under acme");
    let anonymous = |rt: &Runtime| -> Vec<serde_json::Value> {
        let all = rt.audit().read_all().unwrap();
        all.into_iter().filter(|e| e["actor"] == "anonymous").collect()
    };
    let lines = anonymous(&rt);
    assert_eq!(lines.len(), PER_WINDOW as usize, "the first of the window only");
    assert!(
        lines.iter().all(|e| e["tenant"].is_null() && e["target"].as_str().unwrap().starts_with("acme/"))
    );
    clock.advance(60);
    rt.flush_refusals();
    let summary: Vec<_> = anonymous(&rt).into_iter().filter(|e| e["action"] == "audit.suppressed").collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert_eq!(summary[0]["outcome"], format!("{} more refused", 1200 - PER_WINDOW));

    // acme's own refused requests (a suspended tenant's valid token): bounded too.
    let (_, token) = rt.mint_token("operator", &acme, Role::Member, "").unwrap();
    rt.suspend_tenant("operator", &acme).unwrap();
    for _ in 0..1200 {
        assert!(matches!(rt.authenticate(&token), Err(Error::Suspended(_))));
    }
    clock.advance(60);
    rt.flush_refusals();
    let acme_view = view(&rt);
    let refused = acme_view.iter().filter(|e| e.outcome == "suspended").count();
    assert_eq!(refused, PER_WINDOW as usize);
    assert!(acme_view.iter().any(|e| e.outcome == format!("{} more refused", 1200 - PER_WINDOW)));
    assert!(acme_view.iter().any(|e| e.action == "skill.install"), "its history is still in view");
}
