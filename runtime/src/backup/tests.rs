//! Backup and restore on a runtime: a restore that fails at its last step
//! (the database) puts the tenant's files back and changes nothing.

use super::Backup;
use crate::cron::{Job, Schedule};
use crate::store::Scope;
use crate::{Error, Runtime, RuntimeConfig, TenantId};

fn t(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn memory(rt: &Runtime, tenant: &TenantId) -> Option<String> {
    rt.inner.db.memory_get(Scope { tenant, user: None }, "k").unwrap()
}

fn set_memory(rt: &Runtime, tenant: &TenantId, value: &str) {
    rt.inner.db.memory_set(Scope { tenant, user: None }, "k", value, &Default::default()).unwrap();
}

#[tokio::test]
async fn a_restore_failing_in_the_database_puts_the_files_back_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    config.pool.max_instances = 4;
    let rt = Runtime::new(config).unwrap();
    let (a, b) = (t("a"), t("b"));
    rt.create_tenant("operator", &a).unwrap();
    rt.create_tenant("operator", &b).unwrap();
    let file = rt.tenant_files_dir(&a).join("x.txt");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "before").unwrap();
    set_memory(&rt, &a, "v1");
    let bytes = rt.backup("operator", Some(&a)).await.unwrap();

    std::fs::write(&file, "after").unwrap();
    set_memory(&rt, &a, "v2");
    // B holds a cron job whose id a crafted backup of A reuses: the
    // database refuses it, after A's files were swapped in.
    let job = Job {
        id: "j1".into(),
        tenant: b.clone(),
        skill: "s".into(),
        schedule: Schedule::EverySeconds(60),
        input: "{}".into(),
        next_run: 10,
        created: 1,
    };
    rt.inner.db.cron_add(&job, 10, 10).unwrap();
    let mut crafted = Backup::decode(&bytes).unwrap();
    let stolen = Job { tenant: a.clone(), ..job };
    crafted.tenants[0].rows.cron_jobs.push(("j1".into(), serde_json::to_string(&stolen).unwrap()));
    let err = rt.restore("operator", &crafted.encode().unwrap(), None).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "after", "the files were put back");
    assert_eq!(memory(&rt, &a).as_deref(), Some("v2"));
    assert_eq!(rt.inner.db.cron_list_tenant(&b).unwrap().len(), 1);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("data/tenants"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a"], "no staging directory is left");

    let done = rt.restore("operator", &bytes, None).await.unwrap();
    assert_eq!(done.restored, ["a"]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "before");
    assert_eq!(memory(&rt, &a).as_deref(), Some("v1"));
}
