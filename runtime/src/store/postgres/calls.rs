//! How an operation reaches the database: a future sent to the store's own
//! runtime, its answer awaited on a std channel (from any thread), with a
//! pooled connection, in a transaction, in two steps around the caller's
//! thread, or as a scan in batches; every wait bounded by the call timeout.

use super::errors::scrub;
use super::{PgBackend, StoreError};
use deadpool_postgres::{Object, Pool};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio_postgres::types::ToSql;

/// A transaction on a pooled connection (its statements prepared once per
/// connection through `prepare_cached`).
pub(super) type Transaction<'a> = deadpool_postgres::Transaction<'a>;

/// A boxed future borrowing a transaction or a client, for the closures
/// [`PgBackend`] runs on its runtime.
pub(super) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

impl PgBackend {
    /// Runs `f` on the store's runtime and waits for it, at most the call
    /// timeout.
    pub(super) fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let limit = self.call_timeout;
        let rx = self.run_detached(f);
        // The task always answers (its own timeout), unless it panicked or
        // the runtime is gone: then the sender is dropped and recv fails.
        let out = match receive(&rx, limit + Duration::from_secs(1)) {
            Ok(out) => out,
            Err(_) => Err(StoreError::Unavailable("the PostgreSQL store's task failed".into())),
        };
        out.map_err(|e| self.scrubbed(e))
    }

    pub(super) fn scrubbed(&self, e: StoreError) -> StoreError {
        scrub(e, &self.passwords)
    }

    /// Runs `f` with a pooled connection (no transaction: one statement is
    /// atomic on its own).
    pub(super) fn with_client<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Object) -> BoxFut<'a, T> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.run(async move { using(&pool, move |c| f(&*c)).await })
    }

    /// Runs `f` in a transaction (read committed), committed when `f`
    /// returns `Ok`, rolled back otherwise.
    pub(super) fn transact<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Transaction<'a>) -> BoxFut<'a, T> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.run(async move {
            using(&pool, move |c| {
                Box::pin(async move {
                    let tx = c.transaction().await?;
                    let out = f(&tx).await?;
                    tx.commit().await?;
                    Ok(out)
                })
            })
            .await
        })
    }

    /// A transaction in two steps with the caller's thread between them:
    /// `read` runs in the transaction (typically locking what it reads),
    /// `decide` runs here on what it read (so it may be any closure, `Send`
    /// or not), and `write` applies the decision in the same transaction.
    /// Nothing is committed unless all three succeed.
    pub(super) fn transact_with<A, B, T, R, D, W>(
        &self,
        read: R,
        decide: D,
        write: W,
    ) -> Result<T, StoreError>
    where
        A: Send + 'static,
        B: Send + 'static,
        T: Send + 'static,
        R: for<'a> FnOnce(&'a Transaction<'a>) -> BoxFut<'a, A> + Send + 'static,
        D: FnOnce(A) -> B,
        W: for<'a> FnOnce(&'a Transaction<'a>, B) -> BoxFut<'a, T> + Send + 'static,
    {
        let (read_tx, read_rx) = std::sync::mpsc::sync_channel::<A>(1);
        let (decided_tx, decided_rx) = tokio::sync::oneshot::channel::<B>();
        let pool = self.pool.clone();
        let limit = self.call_timeout;
        let done = self.run_detached(async move {
            using(&pool, move |c| {
                Box::pin(async move {
                    let tx = c.transaction().await?;
                    // A failed read ends the task with its error, which
                    // the caller then takes from `done`: so it is answered
                    // only once a broken connection has been dropped.
                    let a = read(&tx).await?;
                    let _ = read_tx.send(a);
                    // The caller gone (or panicked in `decide`): roll back.
                    let decided = tokio::time::timeout(limit, decided_rx)
                        .await
                        .map_err(|_| StoreError::Unavailable("the store's caller did not answer".into()))?
                        .map_err(|_| StoreError::Backend("the store's caller went away".into()))?;
                    let out = write(&tx, decided).await?;
                    tx.commit().await?;
                    Ok(out)
                })
            })
            .await
        });
        let a = match receive(&read_rx, limit + Duration::from_secs(1)) {
            Ok(a) => a,
            // The task ended before reading: its own error says why.
            Err(_) => return Err(self.wait(done)),
        };
        let _ = decided_tx.send(decide(a));
        match receive(&done, limit + Duration::from_secs(1)) {
            Ok(out) => out.map_err(|e| self.scrubbed(e)),
            Err(_) => Err(StoreError::Unavailable("the PostgreSQL store's task failed".into())),
        }
    }

    /// Spawns `f` on the store's runtime (bounded by the call timeout); its
    /// answer arrives on the returned channel.
    pub(super) fn run_detached<T, F>(&self, f: F) -> std::sync::mpsc::Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let limit = self.call_timeout;
        self.handle.spawn(async move {
            let out = match tokio::time::timeout(limit, f).await {
                Ok(out) => out,
                Err(_) => Err(StoreError::Unavailable("PostgreSQL did not answer in time".into())),
            };
            let _ = tx.send(out);
        });
        rx
    }

    /// The error a detached task ended with, once it has.
    pub(super) fn wait<T>(&self, done: std::sync::mpsc::Receiver<Result<T, StoreError>>) -> StoreError {
        match receive(&done, self.call_timeout + Duration::from_secs(1)) {
            Ok(Err(e)) => self.scrubbed(e),
            _ => StoreError::Unavailable("the PostgreSQL store's task failed".into()),
        }
    }

    /// Reads the rows of `sql` (with `params`) in batches of `batch`, in
    /// one read-only snapshot (repeatable read), handing each batch to
    /// `visit` on the caller's thread until it returns `false` or the rows
    /// end. The matching work of a scan thus never runs on the store's own
    /// threads, and no more than one batch is in memory.
    pub(super) fn scan(
        &self,
        sql: &'static str,
        params: Vec<Box<dyn ToSql + Send + Sync>>,
        batch: i32,
        mut visit: impl FnMut(Vec<tokio_postgres::Row>) -> bool,
    ) -> Result<(), StoreError> {
        // The caller asks for each batch (an unbounded tokio channel: a
        // send never blocks, from any thread) and waits for it on a std
        // channel. Dropping `more` ends the task, which rolls back.
        let (more, mut asked) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (rows_tx, rows_rx) = std::sync::mpsc::channel::<Result<Vec<tokio_postgres::Row>, StoreError>>();
        let pool = self.pool.clone();
        let limit = self.call_timeout;
        self.handle.spawn(async move {
            let feed = rows_tx.clone();
            let read = async move {
                using(&pool, move |c| {
                    Box::pin(async move {
                        let tx = c
                            .build_transaction()
                            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                            .read_only(true)
                            .start()
                            .await?;
                        let stmt = tx.prepare_cached(sql).await?;
                        let refs: Vec<&(dyn ToSql + Sync)> =
                            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
                        let portal = tx.bind(&stmt, &refs).await?;
                        while asked.recv().await.is_some() {
                            let rows = tx.query_portal(&portal, batch).await?;
                            if feed.send(Ok(rows)).is_err() {
                                break;
                            }
                        }
                        Ok(())
                    })
                })
                .await
            };
            let out = tokio::time::timeout(limit, read)
                .await
                .unwrap_or_else(|_| Err(StoreError::Unavailable("PostgreSQL did not answer in time".into())));
            if let Err(e) = out {
                let _ = rows_tx.send(Err(e));
            }
        });
        loop {
            // A failed send means the task ended: its error is on the way.
            let _ = more.send(());
            match receive(&rows_rx, limit + Duration::from_secs(1)) {
                Ok(Ok(rows)) => {
                    let last = rows.len() < batch as usize;
                    if !visit(rows) || last {
                        return Ok(());
                    }
                }
                Ok(Err(e)) => return Err(self.scrubbed(e)),
                Err(_) => return Err(StoreError::Unavailable("the PostgreSQL store's task failed".into())),
            }
        }
    }
}

/// Waits at most `limit` for the answer on `rx`. On a worker of a
/// multi-threaded tokio runtime (a gateway handler calling the store's
/// synchronous API) the wait goes through `block_in_place`, which first
/// hands the worker's other tasks to another thread: a statement waiting on
/// a lock, or a call waiting for a free connection, must not stall the
/// requests that need no store, nor those that could be served meanwhile.
fn receive<T>(
    rx: &std::sync::mpsc::Receiver<T>,
    limit: Duration,
) -> Result<T, std::sync::mpsc::RecvTimeoutError> {
    let wait = || rx.recv_timeout(limit);
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

/// Runs `f` with a connection of `pool`. After an [`StoreError::Unavailable`]
/// the connection is dropped instead of going back to the pool: it may be
/// one the server closed (a restart), which the pool's cheap check on
/// reuse does not always see yet, and the next call must not meet it.
pub(super) async fn using<T, F>(pool: &Pool, f: F) -> Result<T, StoreError>
where
    F: for<'a> FnOnce(&'a mut Object) -> BoxFut<'a, T>,
{
    let mut client = pool.get().await?;
    let out = f(&mut client).await;
    if matches!(out, Err(StoreError::Unavailable(_))) {
        drop(Object::take(client));
    }
    out
}
