//! The contract of outbox: the redb and PostgreSQL backends alike.

use crate::records::MessageState;
use crate::store::backend::names::*;
use crate::store::testing::t;
use crate::store::*;

fn msg(tenant: &str, id: &str, next_attempt: u64) -> Message {
    Message {
        id: id.into(),
        tenant: t(tenant),
        skill: "notify".into(),
        contact: "ops".into(),
        url: "http://127.0.0.1:9/hook".into(),
        body: format!("body of {id}"),
        created: 100,
        state: MessageState::Pending,
        attempts: 0,
        next_attempt,
        last_error: None,
    }
}

#[test]
fn outbox_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    {
        Db::open(&path).unwrap().outbox_put(&msg("a", "m1", 100)).unwrap();
    }
    let db = Db::open(&path).unwrap();
    assert!(db.outbox_get(&t("a"), "m1").unwrap().is_some());
    assert_eq!(db.outbox_due(100, 10).unwrap().len(), 1);
}

super::contract! {
    fn a_batch_claim_leases_each_due_message_once_until_its_lease_ends(db: &Db) {
        db.outbox_put(&msg("a", "m1", 100)).unwrap();
        db.outbox_put(&msg("b", "m2", 101)).unwrap();
        db.outbox_put(&msg("a", "m3", 102)).unwrap();
        db.outbox_put(&msg("a", "later", 500)).unwrap();
        let mut delivered = msg("a", "done", 100);
        delivered.state = MessageState::Delivered;
        db.outbox_put(&delivered).unwrap();
        let ids = |v: Vec<Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        let first = db.outbox_claim_due(200, 260, 2).unwrap();
        assert!(first.iter().all(|m| m.next_attempt == 260), "returned as leased: {first:?}");
        assert_eq!(ids(first), ["m1", "m2"], "soonest due first, at most the limit");
        assert_eq!(ids(db.outbox_claim_due(200, 260, 10).unwrap()), ["m3"], "the leased ones are not due");
        assert!(db.outbox_claim_due(259, 300, 10).unwrap().is_empty());
        assert_eq!(db.outbox_get(&t("b"), "m2").unwrap().unwrap().next_attempt, 260, "durably");
        // A lease that ran out (its worker died) is due again.
        assert_eq!(ids(db.outbox_claim_due(260, 320, 10).unwrap()), ["m1", "m3", "m2"], "then by tenant");
        assert!(db.outbox_claim_due(1000, 1060, 0).unwrap().is_empty());
        assert_eq!(ids(db.outbox_claim_due(1000, 1060, 10).unwrap()), ["m1", "m3", "m2", "later"]);
    }

    fn an_outcome_settles_only_over_the_message_as_leased(db: &Db) {
        db.outbox_put(&msg("a", "m1", 100)).unwrap();
        let leased = db.outbox_claim_due(200, 260, 10).unwrap().remove(0);
        let mut delivered = leased.clone();
        delivered.state = MessageState::Delivered;
        // The lease ran out and another worker took the message: the first
        // worker's late outcome is dropped.
        let again = db.outbox_claim_due(260, 320, 10).unwrap().remove(0);
        let mut failed = leased.clone();
        failed.attempts = 1;
        assert!(!db.outbox_settle(&leased, &failed).unwrap(), "the lease moved");
        assert!(db.outbox_settle(&again, &delivered).unwrap());
        assert_eq!(db.outbox_get(&t("a"), "m1").unwrap().unwrap().state, MessageState::Delivered);
        assert!(!db.outbox_settle(&again, &failed).unwrap(), "a delivered message is not reopened");
        assert_eq!(db.outbox_get(&t("a"), "m1").unwrap().unwrap().attempts, 0);
        // A message whose tenant went meanwhile: nothing to settle.
        assert!(!db.outbox_settle(&msg("a", "gone", 1), &msg("a", "gone", 2)).unwrap());
    }

    fn outbox_round_trip(db: &Db) {
        let mut m = msg("a", "m1", 100);
        db.outbox_put(&m).unwrap();
        assert_eq!(db.outbox_get(&t("a"), "m1").unwrap(), Some(m.clone()));
        assert!(db.outbox_put(&m).is_err(), "an id is never reused");
        m.state = MessageState::Dead;
        m.attempts = 5;
        m.last_error = Some("HTTP 500".into());
        db.outbox_update(&m).unwrap();
        assert_eq!(db.outbox_get(&t("a"), "m1").unwrap(), Some(m));
        assert!(db.outbox_update(&msg("a", "nope", 1)).is_err());
    }

    fn outbox_is_isolated_per_tenant(db: &Db) {
        let (a, ab) = (t("a"), t("ab"));
        db.outbox_put(&msg("ab", "m1", 100)).unwrap();
        db.outbox_put(&msg("b", "m2", 100)).unwrap();
        // "a" is a string prefix of "ab": the separator keeps them apart.
        assert_eq!(db.outbox_get(&a, "m1").unwrap(), None);
        assert_eq!(db.outbox_get(&a, "b\0m2").unwrap(), None);
        assert_eq!(db.outbox_get(&a, "").unwrap(), None);
        assert!(db.outbox_list(&a, "", 100).unwrap().is_empty());
        let listed = db.outbox_list(&ab, "", 100).unwrap();
        assert_eq!(listed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["m1"]);
        // The same id in two tenants is two messages.
        db.outbox_put(&msg("a", "m1", 100)).unwrap();
        assert_eq!(db.outbox_get(&a, "m1").unwrap().unwrap().tenant, a);
        assert_eq!(db.outbox_get(&ab, "m1").unwrap().unwrap().tenant, ab);
        for i in 0..5 {
            db.outbox_put(&msg("a", &format!("x{i}"), 100)).unwrap();
        }
        assert_eq!(db.outbox_list(&a, "", 3).unwrap().len(), 3);
        assert_eq!(db.outbox_list(&a, "", 100).unwrap().len(), 6);
        // Paging: after an id, never reaching the next tenant's ("ab").
        let ids = |after: &str, n| {
            db.outbox_list(&a, after, n).unwrap().into_iter().map(|m| m.id).collect::<Vec<_>>()
        };
        assert_eq!(ids("", 2), ["m1", "x0"]);
        assert_eq!(ids("x0", 2), ["x1", "x2"]);
        assert_eq!(ids("x2", 100), ["x3", "x4"]);
        assert_eq!(ids("x1x", 1), ["x2"], "an id that is not stored still places the page");
        assert!(ids("x4", 100).is_empty());
        assert!(ids("\u{10ffff}", 100).is_empty());
        assert!(db.outbox_list(&a, "x0", 0).unwrap().is_empty());
    }

    fn outbox_due_index_follows_updates(db: &Db) {
        db.outbox_put(&msg("a", "late", 300)).unwrap();
        db.outbox_put(&msg("b", "soon", 100)).unwrap();
        db.outbox_put(&msg("a", "now", 200)).unwrap();
        let mut done = msg("a", "done", 50);
        done.state = MessageState::Delivered;
        db.outbox_put(&done).unwrap();
        let ids = |v: Vec<Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
        assert!(db.outbox_due(99, 10).unwrap().is_empty());
        assert_eq!(ids(db.outbox_due(200, 10).unwrap()), ["soon", "now"]);
        assert_eq!(ids(db.outbox_due(1000, 2).unwrap()), ["soon", "now"]);
        // Rescheduled: moves in the index.
        let mut soon = db.outbox_get(&t("b"), "soon").unwrap().unwrap();
        soon.attempts = 1;
        soon.next_attempt = 400;
        db.outbox_update(&soon).unwrap();
        assert_eq!(ids(db.outbox_due(300, 10).unwrap()), ["now", "late"]);
        assert_eq!(ids(db.outbox_due(400, 10).unwrap()), ["now", "late", "soon"]);
        // Delivered or dead: leaves the index.
        let mut now = db.outbox_get(&t("a"), "now").unwrap().unwrap();
        now.state = MessageState::Delivered;
        db.outbox_update(&now).unwrap();
        soon.state = MessageState::Dead;
        db.outbox_update(&soon).unwrap();
        assert_eq!(ids(db.outbox_due(u64::MAX, 10).unwrap()), ["late"]);
    }

    fn outbox_claim_is_compare_and_set(db: &Db) {
        let m = msg("a", "m1", 100);
        db.outbox_put(&m).unwrap();
        assert!(db.outbox_claim(&m, 160).unwrap());
        // A second worker holding the same snapshot loses.
        assert!(!db.outbox_claim(&m, 160).unwrap());
        assert!(db.outbox_due(159, 10).unwrap().is_empty());
        assert_eq!(db.outbox_due(160, 10).unwrap().len(), 1);
    }
}
