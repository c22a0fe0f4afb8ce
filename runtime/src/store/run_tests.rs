//! [`Db::run`] on a remote backend: one tenant cannot take every turn.

use super::{Db, MAX_BLOCKING, redb, testing::t};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// A gate the blocked operations wait on until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_holding_its_calls_on_the_store_leaves_turns_for_another() {
    let dir = tempfile::tempdir().unwrap();
    // A redb backend run as a remote one: the turns are what is tested, and
    // the operations below never reach the backend.
    let db = Arc::new(Db::with_backend(
        Arc::new(redb::RedbBackend::open(&dir.path().join("db.redb")).unwrap()),
        None,
        true,
    ));
    let (gate, entered) = (Arc::new(Gate::default()), Arc::new(AtomicUsize::new(0)));
    // Tenant A: 64 calls at once (the operator cap of a tenant's
    // concurrency), each in a store operation that does not return.
    let a = t("tenant-a");
    let mut held = Vec::new();
    for _ in 0..2 * MAX_BLOCKING {
        let (db, gate, entered, a) = (db.clone(), gate.clone(), entered.clone(), a.clone());
        held.push(tokio::spawn(async move {
            entered.fetch_add(1, Ordering::SeqCst);
            db.run(&a, move |_| {
                gate.wait();
                Ok(())
            })
            .await
        }));
    }
    while entered.load(Ordering::SeqCst) < 2 * MAX_BLOCKING {
        tokio::task::yield_now().await;
    }
    // Every one of A's calls has asked for its turn; B's must still get one.
    // (The timeout only ends a test that would otherwise hang.)
    let b = t("tenant-b");
    let b = db.run(&b, |_| Ok("B ran"));
    let got = tokio::time::timeout(std::time::Duration::from_secs(30), b).await;
    gate.open();
    for h in held {
        h.await.unwrap().unwrap();
    }
    assert_eq!(got.expect("tenant B waited behind tenant A for every turn").unwrap(), "B ran");
}
