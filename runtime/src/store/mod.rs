//! Storage: the one door to persistence.
//!
//! [`Db`] is the facade every caller uses: tenant-scoped operations on plain
//! Rust types. Behind it is one [`backend::Backend`]: redb (`redb/`, the
//! embedded default, one file in the data directory) or PostgreSQL
//! (`postgres/`, a shared database). The operations are listed once, in
//! `backend.rs`; each backend implements every one of them, and the
//! contract tests (`contract/`) run against both.
//!
//! # Synchronous, and where it may wait
//!
//! The store is synchronous for both backends. redb answers a read in
//! about a microsecond and commits on the calling thread, so callers call
//! it in place, as they always have. A PostgreSQL operation is a network
//! round trip (22–30 µs for a primary-key read here, more under load): its
//! backend drives its connections on a runtime of its own and the calling
//! thread waits (under `block_in_place` when that thread is a tokio
//! worker). Host calls that reach the store (`memory`, `cron`,
//! `messaging`) are async and go through [`Db::run`], which runs the
//! operation in place for redb and on a bounded pool of blocking threads
//! for PostgreSQL (32 turns, at most a quarter of them for one tenant), so
//! a round trip never holds a tokio worker other tenants' calls need.
//!
//! Measured (`benches/README.md`, rows 2, 2b, 2c; 2 shared cores): a
//! `memory.get` host call on PostgreSQL takes 176–196 µs, 269× a direct
//! redb read (0.72 µs), against 1.02 µs (1.42×) on redb; a `memory.set`
//! on PostgreSQL is 2.87× the same on redb (durable on both). An async
//! design end to end would not change these: the round trip, not the
//! thread hop, is the cost, and a warm gateway call touches no database
//! (row 3b: 101.8% of redb's throughput). Row 2 on redb was not measured
//! again after the host calls became async (on redb they run in place,
//! as before).
//!
//! Every write is durable when it returns `Ok`.

use crate::ids::{TenantId, UserId};
use crate::sync::lock;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub(crate) mod backend;
pub mod cluster;
mod codec;
#[cfg(test)]
mod contract;
pub mod dump;
pub mod migrate;
#[cfg(test)]
mod pg_testing;
mod postgres;
mod redb;
#[cfg(test)]
mod run_tests;
mod types;

pub use codec::MAX_MESSAGE_ID_BYTES;
pub use dump::{Bytes, TenantRows};
pub use postgres::{PgOptions, PgProbe, PgStatus, redacted_url};
pub(crate) use types::{Budget, Search, split_usage_hour, usage_hour_key};
pub use types::{LlmUsageRow, MemoryEntry, MemoryUsage, Replay, ScanBound, ScanStop, SearchScan};

// Defined beside the runtime's `Error`, which carries it, so that the error
// type sits below the store instead of importing it.
pub use crate::error::StoreError;

/// The scope of a memory operation: a tenant, and optionally one user in it.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The tenant every read and write is confined to.
    pub tenant: &'a TenantId,
    /// The user within the tenant, when the call has one.
    pub user: Option<&'a UserId>,
}

/// The most operations of a remote backend waiting at once on blocking
/// threads for [`Db::run`]; more wait for a turn without holding a thread.
const MAX_BLOCKING: usize = 32;

/// The most of those turns one tenant may hold or wait for at once: a
/// quarter, so that one tenant's calls (up to 64 of them at once, each
/// looping on the store) can never take every turn and stall the others.
const MAX_BLOCKING_PER_TENANT: usize = MAX_BLOCKING / 4;

/// Tenants with no operation in [`Db::run`] are dropped from its map of
/// shares once it holds this many.
const IDLE_SHARES_KEPT: usize = 1024;

/// The gateway's database: the facade over its backend.
pub struct Db {
    backend: Arc<dyn backend::Backend>,
    /// The cluster operations, on a shared backend (PostgreSQL).
    cluster: Option<Arc<dyn cluster::ClusterStore>>,
    /// Whether an operation may wait on the network (see the module
    /// documentation): then [`Db::run`] moves it off the async workers.
    remote: bool,
    /// Turns on the blocking pool for [`Db::run`] (remote backends).
    blocking: Arc<Semaphore>,
    /// Each tenant's share of `blocking` (at most [`MAX_BLOCKING_PER_TENANT`]).
    shares: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
}

impl Db {
    fn with_backend(
        backend: Arc<dyn backend::Backend>,
        cluster: Option<Arc<dyn cluster::ClusterStore>>,
        remote: bool,
    ) -> Db {
        Db {
            backend,
            cluster,
            remote,
            blocking: Arc::new(Semaphore::new(MAX_BLOCKING)),
            shares: Mutex::new(HashMap::new()),
        }
    }

    /// Opens (or creates) the redb database file at `path` and its tables.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        Ok(Db::with_backend(Arc::new(redb::RedbBackend::open(path)?), None, false))
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://…`) with
    /// the default bounds, applying the schema migrations it lacks.
    pub fn open_postgres(url: &str) -> Result<Db, StoreError> {
        Ok(Db::shared(postgres::PgBackend::connect(url)?))
    }

    /// [`Db::open_postgres`] with the given bounds.
    pub fn open_postgres_with(url: &str, options: &PgOptions) -> Result<Db, StoreError> {
        Ok(Db::shared(postgres::PgBackend::connect_with(url, options)?))
    }

    /// A facade over a shared backend: its operations and its cluster ones.
    fn shared(backend: postgres::PgBackend) -> Db {
        let backend = Arc::new(backend);
        Db::with_backend(backend.clone(), Some(backend), true)
    }

    /// The cluster operations: `Some` on a shared backend (PostgreSQL),
    /// `None` on redb (one process's file, never a cluster).
    pub fn cluster(&self) -> Option<&Arc<dyn cluster::ClusterStore>> {
        self.cluster.as_ref()
    }

    /// Runs `op` on the store from async code without holding an async
    /// worker through a network wait: in place on redb (as a direct call),
    /// on a bounded pool of blocking threads on a remote backend, where
    /// `tenant`'s operations take at most [`MAX_BLOCKING_PER_TENANT`] of
    /// its turns and wait for their tenant's share before queueing for one.
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        tenant: &TenantId,
        op: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if !self.remote {
            return op(self);
        }
        let share = self.share_of(tenant).acquire_owned().await;
        let turn = self.blocking.clone().acquire_owned().await;
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let _turns = (share, turn);
            op(&db)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("a store operation did not finish: {e}")))?
    }

    /// `tenant`'s share of the turns of [`Db::run`].
    fn share_of(&self, tenant: &TenantId) -> Arc<Semaphore> {
        let mut shares = lock(&self.shares);
        if shares.len() >= IDLE_SHARES_KEPT {
            // A share is idle when the map holds the only reference to it.
            shares.retain(|_, s| Arc::strong_count(s) > 1);
        }
        shares
            .entry(tenant.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_BLOCKING_PER_TENANT)))
            .clone()
    }

    /// Whether operations may wait on the network (PostgreSQL).
    pub fn is_remote(&self) -> bool {
        self.remote
    }
}

/// Helpers for the storage tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Db;
    use crate::ids::TenantId;

    /// A redb database in a fresh temporary directory (kept alive by the guard).
    pub(crate) fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db.redb")).unwrap();
        (dir, db)
    }

    /// A fresh PostgreSQL database, or `None` (the test is skipped) when no
    /// server is configured; under `CI=true` a missing server fails. The
    /// guard drops the database.
    pub(crate) fn postgres() -> Option<(Box<dyn std::any::Any>, Db)> {
        let guard = super::pg_testing::TestDb::create()?;
        let db = Db::open_postgres_with(guard.url(), &pg_options()).expect("open the test database");
        Some((Box::new(guard), db))
    }

    /// Two stores on one fresh PostgreSQL database, as two replicas hold
    /// it (`None` as for [`postgres`]).
    pub(crate) fn postgres_pair() -> Option<(Box<dyn std::any::Any>, Db, Db)> {
        let guard = super::pg_testing::TestDb::create()?;
        let open = || Db::open_postgres_with(guard.url(), &pg_options()).expect("open the test database");
        let (a, b) = (open(), open());
        Some((Box::new(guard), a, b))
    }

    /// The bounds of a test store: a small pool (tests run in parallel on
    /// one server).
    pub(crate) fn pg_options() -> super::PgOptions {
        super::PgOptions { pool_size: 4, ..Default::default() }
    }

    /// A tenant id the test knows is valid.
    pub(crate) fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }
}
