//! Installing is a trust decision: signed packages from trusted publishers
//! only, imports as permissions, digests pinned at install and verified at
//! load, upgrades that show and gate what they widen. Every refusal gives
//! its exact error, is audited, and leaves the installed state unchanged.

use serde_json::{Value, json};
use std::sync::Arc;
use wasmclaw::installed::{InstallOptions, InstallOutcome, SkillSource};
use wasmclaw::package::Package;
use wasmclaw::records::InstalledSkill;
use wasmclaw::signing::PublisherKey;
use wasmclaw::{Call, Error, Runtime, RuntimeConfig};
use wasmclaw_tests::{
    manifest_text, package, package_with, publisher, runtime_with, skill_path, tenant, trust_tests,
};

fn setup_with(tweak: impl FnOnce(&mut RuntimeConfig)) -> (tempfile::TempDir, Runtime) {
    let (dir, rt) = runtime_with(tweak);
    rt.create_tenant("operator", &tenant("acme")).unwrap();
    trust_tests(&rt);
    (dir, rt)
}

fn setup() -> (tempfile::TempDir, Runtime) {
    setup_with(|_| {})
}

async fn install(rt: &Runtime, bytes: Vec<u8>, options: InstallOptions) -> Result<InstallOutcome, Error> {
    rt.install_skill("operator", &tenant("acme"), SkillSource::Package(bytes), options).await
}

async fn invoke(rt: &Runtime, name: &str, input: Value) -> Result<Value, Error> {
    let bound = rt.installed(&tenant("acme"), name).await?;
    let out = rt.invoke(&bound, &Call::default(), &input.to_string()).await?;
    Ok(serde_json::from_str(&out.output).unwrap())
}

/// What is installed, to compare before and after a refusal.
fn state(rt: &Runtime) -> Vec<InstalledSkill> {
    rt.installed_skills(&tenant("acme")).unwrap()
}

/// The last audit event's action and outcome.
fn last_audit(rt: &Runtime) -> (String, String) {
    let log = rt.audit().read_all().unwrap();
    let e = log.last().unwrap();
    (e["action"].as_str().unwrap().to_string(), e["outcome"].as_str().unwrap().to_string())
}

/// Asserts `result` is the error `kind` containing every one of `want`,
/// audited as a refusal of `action`, with nothing installed changed.
fn refused(
    rt: &Runtime,
    before: &[InstalledSkill],
    result: Result<InstallOutcome, Error>,
    kind: &str,
    want: &[&str],
    action: &str,
) {
    let e = result.expect_err("refused");
    let text = e.to_string();
    assert_eq!(e.kind(), kind, "{text}");
    for w in want {
        assert!(text.contains(w), "{w:?} not in {text:?}");
    }
    assert_eq!(state(rt), before, "a refused install changes nothing");
    let (a, outcome) = last_audit(rt);
    assert_eq!(a, action);
    assert!(outcome.starts_with("refused: ") && outcome.contains(want[0]), "{outcome}");
}

fn package_bytes(component: &[u8], manifest: &str, key: &PublisherKey) -> Package {
    Package::sign(component.to_vec(), manifest.to_string(), key).unwrap()
}

#[tokio::test]
async fn a_package_signed_by_a_trusted_key_installs_and_runs() {
    let (_d, rt) = setup();
    let out = install(&rt, package("greeter-v1"), InstallOptions::default()).await.unwrap();
    let skill = &out.skill;
    assert_eq!((skill.name.as_str(), skill.version.as_str()), ("greeter", "1.0.0"));
    let p = skill.publisher.as_ref().unwrap();
    assert_eq!((p.name.as_str(), p.key.clone()), ("tests", publisher().public().to_string()));
    assert_eq!(out.replaced, None);
    assert_eq!(invoke(&rt, "greeter", json!({"name": "Ada"})).await.unwrap()["greeting"], "Hello, Ada!");
    assert_eq!(last_audit(&rt).0, "skill.install");
}

#[tokio::test]
async fn tampered_packages_and_wrong_or_untrusted_keys_are_refused() {
    let (_d, rt) = setup();
    let component = std::fs::read(skill_path("greeter-v1")).unwrap();
    let manifest = manifest_text("greeter-v1");
    let good = package_bytes(&component, &manifest, publisher());

    let mut tampered = good.clone();
    *tampered.component.last_mut().unwrap() ^= 1;
    let r = install(&rt, tampered.to_bytes(), Default::default()).await;
    refused(&rt, &[], r, "untrusted", &["signature is invalid", "does not match"], "skill.install");

    let mut tampered = good.clone();
    tampered.manifest = manifest.replace("Greets by name.", "Greets by name!");
    let r = install(&rt, tampered.to_bytes(), Default::default()).await;
    refused(&rt, &[], r, "untrusted", &["signature is invalid"], "skill.install");

    // Signed by one key, claiming another (trusted) one.
    let stranger = PublisherKey::generate();
    let mut wrong = package_bytes(&component, &manifest, &stranger);
    wrong.publisher = publisher().public();
    let r = install(&rt, wrong.to_bytes(), Default::default()).await;
    refused(&rt, &[], r, "untrusted", &["signature is invalid"], "skill.install");

    // A valid signature by a key nobody trusted.
    let untrusted = package_bytes(&component, &manifest, &stranger).to_bytes();
    let r = install(&rt, untrusted, Default::default()).await;
    let key = stranger.public().to_string();
    refused(&rt, &[], r, "untrusted", &["not a trusted publisher key", &key], "skill.install");

    // Not a package at all.
    let r = install(&rt, component.clone(), Default::default()).await;
    refused(&rt, &[], r, "invalid-skill", &["not a valid skill package"], "skill.install");
}

#[tokio::test]
async fn unsigned_components_need_the_operator_to_allow_them() {
    let (_d, rt) = setup();
    let source =
        || SkillSource::Unsigned { component: std::fs::read(skill_path("echo")).unwrap(), manifest: None };
    let r = rt.install_skill("operator", &tenant("acme"), source(), Default::default()).await;
    refused(&rt, &[], r, "untrusted", &["unsigned skills are refused", "--allow-unsigned"], "skill.install");

    let (_d, rt) = setup_with(|c| c.trust.require_signed = false);
    let out = rt.install_skill("operator", &tenant("acme"), source(), Default::default()).await.unwrap();
    assert!(out.skill.publisher.is_none());
    assert_eq!(invoke(&rt, "echo", json!([1])).await.unwrap(), json!([1]));
}

#[tokio::test]
async fn imports_are_permissions_checked_against_the_manifest_and_the_allowed_set() {
    let (_d, rt) = setup();
    // `fetch` imports http; a manifest that does not declare it is refused.
    let component = std::fs::read(skill_path("fetch")).unwrap();
    let undeclared = package_bytes(&component, "name = \"fetch\"\nversion = \"0.1.0\"\n", publisher());
    let r = install(&rt, undeclared.to_bytes(), Default::default()).await;
    refused(
        &rt,
        &[],
        r,
        "invalid-skill",
        &["imports wasmclaw:skill/http@0.1.0", "does not declare", "`http`"],
        "skill.install",
    );

    // A WASI interface outside the linked set.
    let r = install(&rt, package("sockets"), Default::default()).await;
    refused(&rt, &[], r, "invalid-skill", &["imports wasi:sockets/", "may not import"], "skill.install");

    // A component that exports another world.
    let r = install(&rt, package("wrong-world"), Default::default()).await;
    refused(&rt, &[], r, "invalid-skill", &["does not export wasmclaw:skill/handler@0.1.0"], "skill.install");

    // A permission declared but not imported is a warning, not a refusal.
    let greedy = package_bytes(
        &std::fs::read(skill_path("greeter-v1")).unwrap(),
        "name = \"greeter\"\nversion = \"1.0.0\"\n[permissions]\nmessaging = true\n",
        publisher(),
    );
    let out = install(&rt, greedy.to_bytes(), Default::default()).await.unwrap();
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains("declares messaging"), "{:?}", out.warnings);
}

#[tokio::test]
async fn an_import_the_operator_allows_installs_and_traps_when_called() {
    let (_d, rt) = setup_with(|c| c.trust.allow_imports = vec!["wasi:sockets".into()]);
    let out = install(&rt, package("sockets"), Default::default()).await.unwrap();
    assert!(out.skill.imports.iter().any(|i| i.starts_with("wasi:sockets/")), "{:?}", out.skill.imports);
    let e = invoke(&rt, "sockets", json!({})).await.unwrap_err();
    assert_eq!(e.kind(), "trap", "{e}");
    assert!(e.to_string().contains("wasi:sockets"), "{e}");
}

#[tokio::test]
async fn an_upgrade_that_widens_permissions_needs_acceptance() {
    let (_d, rt) = setup();
    install(&rt, package("greeter-v1"), Default::default()).await.unwrap();
    let before = state(&rt);

    let r = install(&rt, package("greeter-v2"), Default::default()).await;
    refused(
        &rt,
        &before,
        r,
        "conflict",
        &[
            "upgrading 1.0.0 -> 2.0.0 widens its permissions",
            "+ import wasmclaw:skill/http",
            "+ http https://greetings.example:443",
            "--accept-permissions",
        ],
        "skill.upgrade",
    );
    assert_eq!(invoke(&rt, "greeter", json!({})).await.unwrap()["version"], 1, "1.0.0 still runs");

    let accept = InstallOptions { accept_permissions: true, ..Default::default() };
    let out = install(&rt, package("greeter-v2"), accept).await.unwrap();
    assert_eq!(out.replaced.as_deref(), Some("1.0.0"));
    let changes: Vec<String> = out.changes.iter().map(ToString::to_string).collect();
    assert_eq!(changes, ["+ import wasmclaw:skill/http", "+ http https://greetings.example:443"]);
    assert_eq!(
        invoke(&rt, "greeter", json!({})).await.unwrap()["version"],
        2,
        "the new version runs at once"
    );
    let (action, outcome) = last_audit(&rt);
    assert_eq!((action.as_str(), outcome.as_str()), ("skill.upgrade", "ok (2 wider permissions accepted)"));

    // Guest access is a permission too.
    let r = install(
        &rt,
        package("greeter-v2"),
        InstallOptions { guest: true, allow_downgrade: true, ..Default::default() },
    )
    .await;
    refused(&rt, &state(&rt), r, "conflict", &["~ guest false -> true (wider)"], "skill.upgrade");
}

#[tokio::test]
async fn a_downgrade_needs_allow_downgrade_and_the_same_bytes_are_no_upgrade() {
    let (_d, rt) = setup();
    let accept = InstallOptions { accept_permissions: true, ..Default::default() };
    install(&rt, package("greeter-v2"), accept.clone()).await.unwrap();
    let before = state(&rt);

    let r = install(&rt, package("greeter-v2"), accept.clone()).await;
    refused(&rt, &before, r, "conflict", &["installed already, with these exact bytes"], "skill.upgrade");

    let r = install(&rt, package("greeter-v1"), accept).await;
    refused(
        &rt,
        &before,
        r,
        "conflict",
        &["downgrade refused: 1.0.0 is lower than the installed 2.0.0", "--allow-downgrade"],
        "skill.upgrade",
    );

    // Narrowing needs no acceptance; the downgrade itself does.
    let out =
        install(&rt, package("greeter-v1"), InstallOptions { allow_downgrade: true, ..Default::default() })
            .await
            .unwrap();
    assert_eq!(out.replaced.as_deref(), Some("2.0.0"));
    assert!(out.changes.iter().all(|c| !c.widens), "{:?}", out.changes);
    assert_eq!(invoke(&rt, "greeter", json!({})).await.unwrap()["version"], 1);
}

#[tokio::test]
async fn a_new_publisher_for_an_installed_skill_is_a_widening() {
    let (_d, rt) = setup();
    install(&rt, package("greeter-v1"), Default::default()).await.unwrap();
    let other = PublisherKey::generate();
    rt.trust_add("operator", "other", &other.public().to_string()).unwrap();
    let before = state(&rt);
    let r = install(
        &rt,
        package_with("greeter-v2", &other),
        InstallOptions { accept_permissions: false, ..Default::default() },
    )
    .await;
    refused(&rt, &before, r, "conflict", &["~ publisher"], "skill.upgrade");
}

#[tokio::test]
async fn removing_trust_disables_the_publishers_skills_until_it_is_trusted_again() {
    let (_d, rt) = setup();
    install(&rt, package("greeter-v1"), Default::default()).await.unwrap();
    assert!(invoke(&rt, "greeter", json!({})).await.is_ok());

    let disabled = rt.trust_remove("operator", "tests").unwrap();
    assert_eq!(disabled.len(), 1);
    assert_eq!((disabled[0].tenant.as_str(), disabled[0].skill.as_str()), ("acme", "greeter"));
    let e = invoke(&rt, "greeter", json!({})).await.unwrap_err();
    assert_eq!(e.kind(), "untrusted");
    assert!(e.to_string().contains("skill greeter is disabled: its publisher key"), "{e}");
    let record = &state(&rt)[0];
    assert!(rt.skill_disabled(record).unwrap().is_some());
    assert_eq!(state(&rt).len(), 1, "disabled, not removed");
    let log = rt.audit().read_all().unwrap();
    assert!(log.iter().any(|e| e["action"] == "skill.disable" && e["target"] == "greeter"), "{log:?}");

    // A new install signed by the untrusted key is refused too.
    let r = install(
        &rt,
        package("greeter-v2"),
        InstallOptions { accept_permissions: true, ..Default::default() },
    )
    .await;
    refused(&rt, &state(&rt), r, "untrusted", &["not a trusted publisher key"], "skill.install");

    // Re-trusting the key (under any name) is the explicit re-enable.
    let enabled = rt.trust_add("operator", "tests-again", &publisher().public().to_string()).unwrap();
    assert_eq!(enabled.len(), 1);
    assert_eq!(invoke(&rt, "greeter", json!({})).await.unwrap()["version"], 1);
}

#[tokio::test]
async fn a_component_or_manifest_changed_after_install_is_refused_at_load() {
    for part in ["component", "manifest"] {
        let (dir, rt) = setup();
        install(&rt, package("greeter-v1"), Default::default()).await.unwrap();
        let record = state(&rt).remove(0);
        drop(rt);

        // Change the stored bytes behind the gateway's back, then restart.
        let db = wasmclaw::store::Db::open(&dir.path().join("data/wasmclaw.redb")).unwrap();
        if part == "component" {
            let other = std::fs::read(skill_path("echo")).unwrap();
            db.skill_component_overwrite(&tenant("acme"), "greeter", &other).unwrap();
        } else {
            let mut changed = record.clone();
            changed.manifest = Some(format!("{}\n[limits]\nfuel = 1\n", record.manifest.clone().unwrap()));
            db.skill_record_overwrite(&tenant("acme"), &changed).unwrap();
        }
        drop(db);
        let rt = wasmclaw_tests::reopen(
            &dir.path().join("data"),
            std::sync::Arc::new(wasmclaw::clock::SystemClock),
        );
        let e = invoke(&rt, "greeter", json!({})).await.unwrap_err();
        assert_eq!(e.kind(), "untrusted", "{e}");
        assert!(e.to_string().contains(&format!("stored {part} has SHA-256")), "{e}");
        assert!(e.to_string().contains("pinned at install"), "{e}");
        let (action, outcome) = last_audit(&rt);
        assert_eq!(action, "skill.load");
        assert!(outcome.starts_with("refused: untrusted: skill greeter's stored"), "{outcome}");
    }
}

#[tokio::test]
async fn unsigned_skills_installed_in_development_do_not_load_where_signatures_are_required() {
    let (dir, rt) = setup_with(|c| c.trust.require_signed = false);
    let component = std::fs::read(skill_path("echo")).unwrap();
    rt.install_skill(
        "operator",
        &tenant("acme"),
        SkillSource::Unsigned { component, manifest: None },
        Default::default(),
    )
    .await
    .unwrap();
    drop(rt);
    let rt =
        wasmclaw_tests::reopen(&dir.path().join("data"), std::sync::Arc::new(wasmclaw::clock::SystemClock));
    let e = invoke(&rt, "echo", json!(1)).await.unwrap_err();
    assert_eq!(e.kind(), "untrusted");
    assert!(e.to_string().contains("installed unsigned"), "{e}");
}

#[tokio::test]
async fn tenants_with_the_same_package_share_one_loaded_skill_and_nothing_else() {
    let (dir, rt) = setup();
    let (a, b, c) = (tenant("acme"), tenant("beta"), tenant("corp"));
    rt.create_tenant("operator", &b).unwrap();
    rt.create_tenant("operator", &c).unwrap();
    let other = PublisherKey::generate();
    rt.trust_add("operator", "other", &other.public().to_string()).unwrap();
    for (t, pkg) in [(&a, package("notes")), (&b, package("notes")), (&c, package_with("notes", &other))] {
        rt.install_skill("operator", t, SkillSource::Package(pkg), Default::default()).await.unwrap();
    }
    let check = |rt: Runtime| {
        let (a, b, c) = (a.clone(), b.clone(), c.clone());
        async move {
            let (na, nb, nc) = (
                rt.installed(&a, "notes").await.unwrap(),
                rt.installed(&b, "notes").await.unwrap(),
                rt.installed(&c, "notes").await.unwrap(),
            );
            // The same bytes, manifest and publisher: one compiled skill.
            assert!(Arc::ptr_eq(&na.skill, &nb.skill));
            // Another publisher: loaded on its own.
            assert!(!Arc::ptr_eq(&na.skill, &nc.skill));
            // Each binding is still its tenant's: B does not see A's notes.
            let add = r#"{"op":"add","text":"acme only"}"#;
            rt.invoke(&na, &Call::default(), add).await.unwrap();
            let list = |bound: Arc<wasmclaw::skill::BoundSkill>| {
                let rt = rt.clone();
                async move {
                    let out = rt.invoke(&bound, &Call::default(), r#"{"op":"list"}"#).await.unwrap();
                    serde_json::from_str::<Value>(&out.output).unwrap()["notes"].as_array().unwrap().len()
                }
            };
            assert!(list(na.clone()).await >= 1);
            assert_eq!(list(nb).await, 0, "tenant B sees none of tenant A's notes");
            assert_eq!(list(nc).await, 0);
        }
    };
    // At install, and after a restart (every skill loaded again).
    check(rt.clone()).await;
    drop(rt);
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    config.pool.max_instances = 16;
    let reopened = Runtime::new(config).unwrap();
    assert_eq!(reopened.load_installed().await.unwrap(), 3);
    check(reopened).await;
}
