//! The contract of cron: the redb and PostgreSQL backends alike.

use crate::records::Schedule;
use crate::store::backend::names::*;
use crate::store::testing::t;
use crate::store::*;

fn job(id: &str, tenant: &str, skill: &str, next_run: u64) -> Job {
    Job {
        id: id.into(),
        tenant: t(tenant),
        skill: skill.into(),
        scope: Default::default(),
        schedule: Schedule::EverySeconds(60),
        input: format!("{{\"job\":\"{id}\"}}"),
        next_run,
        created: next_run,
        last: None,
    }
}

fn ids(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|j| j.id.as_str()).collect()
}

#[test]
fn jobs_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let j = job("j", "a", "s", 42);
    Db::open(&path).unwrap().cron_add(&j, 10, 10).unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.cron_list(&t("a"), "s").unwrap(), vec![j.clone()]);
    assert_eq!(db.cron_due(42, 10).unwrap(), vec![j]);
}

super::contract! {
    fn a_run_is_recorded_on_its_own_tenants_job_only(db: &Db) {
        db.cron_add(&job("j1", "a", "s", 100), 10, 10).unwrap();
        let failed = crate::records::LastRun { at: 90, error: Some("boom".into()) };
        assert!(db.cron_record_run(&t("a"), "j1", &failed).unwrap());
        let listed = db.cron_list_tenant(&t("a")).unwrap();
        assert_eq!((listed[0].last.as_ref(), listed[0].next_run), (Some(&failed), 100));
        // Denied: another tenant's id, or none.
        let other = crate::records::LastRun { at: 95, error: None };
        assert!(!db.cron_record_run(&t("ab"), "j1", &other).unwrap());
        assert!(!db.cron_record_run(&t("a"), "nope", &other).unwrap());
        assert_eq!(db.cron_list_tenant(&t("a")).unwrap()[0].last.as_ref(), Some(&failed));
        // A claim after a recorded run keeps it; a later run replaces it.
        assert!(db.cron_reschedule(&t("a"), "j1", 100, 160).unwrap());
        assert_eq!(db.cron_due(160, 10).unwrap()[0].last.as_ref(), Some(&failed));
        assert!(db.cron_record_run(&t("a"), "j1", &other).unwrap());
        assert_eq!(db.cron_list_tenant(&t("a")).unwrap()[0].last.as_ref(), Some(&other));
    }

    fn add_list_round_trip(db: &Db) {
        let j = job("j1", "acme", "notes", 100);
        db.cron_add(&j, 10, 10).unwrap();
        assert_eq!(db.cron_list(&t("acme"), "notes").unwrap(), vec![j.clone()]);
        assert_eq!(db.cron_list_tenant(&t("acme")).unwrap(), vec![j]);
        assert_eq!(db.cron_count(&t("acme")).unwrap(), 1);
        // The same id cannot be added twice.
        assert!(db.cron_add(&job("j1", "other", "notes", 5), 10, 10).is_err());
        assert_eq!(db.cron_count(&t("other")).unwrap(), 0);
    }

    fn owners_do_not_see_each_other(db: &Db) {
        db.cron_add(&job("ab1", "ab", "notes", 1), 10, 10).unwrap();
        db.cron_add(&job("b1", "b", "notes", 1), 10, 10).unwrap();
        db.cron_add(&job("a-notes", "a", "notes", 1), 10, 10).unwrap();
        db.cron_add(&job("a-mail", "a", "mail", 1), 10, 10).unwrap();
        // Tenant "a" is a string prefix of tenant "ab": the separator keeps them apart.
        assert_eq!(ids(&db.cron_list_tenant(&t("a")).unwrap()), vec!["a-mail", "a-notes"]);
        assert_eq!(db.cron_count(&t("a")).unwrap(), 2);
        assert_eq!(ids(&db.cron_list(&t("a"), "notes").unwrap()), vec!["a-notes"]);
        assert_eq!(ids(&db.cron_list(&t("a"), "mail").unwrap()), vec!["a-mail"]);
        assert_eq!(ids(&db.cron_list(&t("ab"), "notes").unwrap()), vec!["ab1"]);
        assert_eq!(ids(&db.cron_list(&t("b"), "notes").unwrap()), vec!["b1"]);
        assert!(db.cron_list(&t("a"), "note").unwrap().is_empty());
        assert!(db.cron_list(&t("a"), "notes\0a-notes").unwrap().is_empty());
        // Removing needs the right tenant and the right skill.
        assert!(!db.cron_remove(&t("a"), "notes", "ab1").unwrap());
        assert!(!db.cron_remove(&t("b"), "notes", "a-notes").unwrap());
        assert!(!db.cron_remove(&t("a"), "mail", "a-notes").unwrap());
        assert!(!db.cron_remove(&t("a"), "notes", "missing").unwrap());
        assert_eq!(db.cron_count(&t("ab")).unwrap(), 1);
        assert_eq!(db.cron_count(&t("b")).unwrap(), 1);
        assert_eq!(db.cron_count(&t("a")).unwrap(), 2);
        assert_eq!(db.cron_due(u64::MAX, 100).unwrap().len(), 4);
        // The owner can.
        assert!(db.cron_remove(&t("a"), "notes", "a-notes").unwrap());
        assert!(!db.cron_remove(&t("a"), "notes", "a-notes").unwrap());
        assert_eq!(ids(&db.cron_list_tenant(&t("a")).unwrap()), vec!["a-mail"]);
        assert_eq!(db.cron_due(u64::MAX, 100).unwrap().len(), 3);
    }

    fn quota_counts_tenant_and_skill(db: &Db) {
        db.cron_add(&job("1", "a", "s1", 1), 3, 2).unwrap();
        db.cron_add(&job("2", "a", "s1", 1), 3, 2).unwrap();
        // The skill is at its maximum.
        let e = db.cron_add(&job("3", "a", "s1", 1), 3, 2).unwrap_err();
        assert!(matches!(&e, StoreError::QuotaExceeded(m) if m.contains("skill")), "{e}");
        db.cron_add(&job("4", "a", "s2", 1), 3, 2).unwrap();
        // The tenant is at its maximum, whatever the skill.
        let e = db.cron_add(&job("5", "a", "s3", 1), 3, 2).unwrap_err();
        assert!(matches!(&e, StoreError::QuotaExceeded(m) if m.contains("tenant")), "{e}");
        // The refused adds changed nothing; other tenants have their own quota.
        assert_eq!(db.cron_count(&t("a")).unwrap(), 3);
        assert!(db.cron_due(u64::MAX, 100).unwrap().iter().all(|j| j.id != "3" && j.id != "5"));
        db.cron_add(&job("6", "ab", "s1", 1), 3, 2).unwrap();
        // Removing frees a place.
        assert!(db.cron_remove(&t("a"), "s1", "1").unwrap());
        db.cron_add(&job("7", "a", "s1", 1), 3, 2).unwrap();
    }

    fn due_in_order_up_to_now_and_limit(db: &Db) {
        db.cron_add(&job("late", "a", "s", 300), 10, 10).unwrap();
        db.cron_add(&job("b-early", "b", "s", 100), 10, 10).unwrap();
        db.cron_add(&job("a-early", "a", "s", 100), 10, 10).unwrap();
        db.cron_add(&job("mid", "c", "s", 200), 10, 10).unwrap();
        assert!(db.cron_due(99, 10).unwrap().is_empty());
        assert_eq!(ids(&db.cron_due(100, 10).unwrap()), vec!["a-early", "b-early"]);
        assert_eq!(ids(&db.cron_due(250, 10).unwrap()), vec!["a-early", "b-early", "mid"]);
        assert_eq!(ids(&db.cron_due(250, 2).unwrap()), vec!["a-early", "b-early"]);
        assert!(db.cron_due(1000, 0).unwrap().is_empty());
        assert_eq!(ids(&db.cron_due(u64::MAX, 10).unwrap()), vec!["a-early", "b-early", "mid", "late"]);
    }

    fn reschedule_moves_the_job(db: &Db) {
        db.cron_add(&job("j", "a", "s", 100), 10, 10).unwrap();
        assert!(db.cron_reschedule(&t("a"), "j", 100, 500).unwrap());
        assert!(db.cron_due(499, 10).unwrap().is_empty());
        let due = db.cron_due(500, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].next_run, 500);
        assert_eq!(db.cron_list(&t("a"), "s").unwrap()[0].next_run, 500);
        // A claim of a fire time already claimed, of another tenant's job
        // or of an unknown id changes nothing; removal cleans the due index.
        assert!(!db.cron_reschedule(&t("a"), "j", 100, 900).unwrap(), "claimed once only");
        assert!(!db.cron_reschedule(&t("b"), "j", 500, 900).unwrap(), "another tenant's job");
        assert!(!db.cron_reschedule(&t("a"), "missing", 1, 2).unwrap());
        assert_eq!(db.cron_list(&t("a"), "s").unwrap()[0].next_run, 500, "unchanged by the refusals");
        assert!(db.cron_remove(&t("a"), "s", "j").unwrap());
        assert!(db.cron_due(u64::MAX, 10).unwrap().is_empty());
    }

    fn refuses_separator_in_skill_or_id(db: &Db) {
        assert!(db.cron_add(&job("j", "a", "s\0x", 1), 10, 10).is_err());
        assert!(db.cron_add(&job("j\0", "a", "s", 1), 10, 10).is_err());
        assert!(db.cron_add(&job("j", "a", "", 1), 10, 10).is_err());
        assert_eq!(db.cron_count(&t("a")).unwrap(), 0);
    }
}
