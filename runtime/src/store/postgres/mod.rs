//! The PostgreSQL store: the same operations as the redb store, on a shared
//! database, for a gateway started with `--store postgres://…`.
//!
//! **Sync over async.** The store's API is synchronous. [`PgBackend`] owns
//! a small tokio runtime of its own (threads named `wasmclaw-pg`) that
//! drives the `tokio-postgres` connections of a `deadpool-postgres` pool. A
//! method sends its future to that runtime and waits for the answer on a
//! std channel: this works from any thread, a tokio worker of another
//! runtime included (it blocks that thread, never that runtime's reactor,
//! and never panics the way `block_on` inside a runtime does). Callers that
//! must not block reach the store on a bounded blocking pool (the facade).
//!
//! **Bounded.** Every connection runs with a `statement_timeout`; the pool
//! waits a bounded time for a free connection and for a new one; and the
//! caller waits at most their sum (plus a margin) for any answer. Past any
//! bound the call is [`StoreError::Unavailable`] (retryable, HTTP 503):
//! never a hang. Connection errors and a server that went away are
//! `Unavailable` too; constraint and logic errors are the usual variants.
//!
//! **Secret URL.** The URL's password never reaches an error: every error
//! text leaving this module has it scrubbed, and the URL is shown only
//! with `***` for its password.
//!
//! **TLS.** `sslmode` and `sslrootcert` in the URL, as libpq reads them,
//! but verifying by default: no `sslmode` is `verify-full`, `require`
//! verifies too, and no mode accepts a certificate it could not verify
//! (see [`tls`]).
//!
//! **Schema.** `migrations/V<n>__*.sql`, applied by `refinery` at
//! [`PgBackend::connect`] under a session advisory lock, so gateways
//! starting together migrate once; a database already migrated past what
//! this binary knows is refused with both versions named. An applied
//! migration file is never edited (refinery checks its checksum): a change
//! is a new file.
//!
//! **Layout.** Every table keyed by tenant has a `tenant text` column and
//! the rest of redb's key as `bytea` (`key`, or a named column): the same
//! bytes as redb's `tenant \0 …` key without its tenant. Tenant ids are
//! `[a-z0-9-]`, so ordering by `(tenant, key)` is ordering redb's keys by
//! bytes: every list comes out in redb's order. Keys are `bytea`, not
//! `text`, because the store's API takes any `&str` (a key may hold `\0`,
//! which `text` refuses). Values redb stores as JSON text are stored
//! verbatim as `text` (JSON escapes `\0`), never `jsonb` (which rewrites
//! them and refuses `\u0000`); memory values and sealed bytes are `bytea`.

use super::StoreError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_postgres::NoTls;

mod agents;
mod calls;
mod channels;
mod cluster;
mod codec;
mod connect;
mod cron;
mod dump;
mod errors;
mod leases;
mod memory;
mod migrate;
mod outbox;
mod policy;
mod probe;
mod replays;
mod secrets;
mod skills;
mod sql;
mod tenants;
mod tls;
mod tokens;
mod trust;
mod usage;

use super::backend::{forward_to_inherent, with_operations};
with_operations!(forward_to_inherent PgBackend);

use calls::Transaction;
pub use errors::redacted_url;
use errors::{open_error, passwords_of, scrub};
pub use probe::{PgProbe, PgStatus};
use sql::{LockSpace, bump_credentials, from_i64, lock, merge_row, ordered, prefix_upper, to_i64};
use tls::Connector;

/// Bounds of a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Most connections held at once.
    pub pool_size: usize,
    /// The server cancels any statement running longer.
    pub statement_timeout: Duration,
    /// Longest wait for a free connection, and for a new one to open.
    pub pool_timeout: Duration,
    /// Worker threads of the store's own runtime.
    pub threads: usize,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            statement_timeout: Duration::from_secs(30),
            pool_timeout: Duration::from_secs(5),
            threads: 2,
        }
    }
}

/// The PostgreSQL store.
pub(crate) struct PgBackend {
    /// Owns the threads; taken (and shut down without waiting) on drop.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// The URL's passwords (as written and decoded), scrubbed from every
    /// error text.
    passwords: Vec<String>,
    /// The longest a caller waits for one answer.
    call_timeout: Duration,
    /// The in-process mirror of the `credentials_generation` row; see
    /// [`PgBackend::credentials_generation`].
    credentials: std::sync::Arc<AtomicU64>,
    /// The background read of the generation (a replica), and how fresh
    /// its last answer is.
    watch: std::sync::Arc<cluster::Watch>,
    /// The leases this process holds, checked by every write of a
    /// tenant's state once fencing is on (a replica).
    fence: std::sync::Arc<leases::Fence>,
    /// Where connections go: the watcher's `LISTEN` connection is made
    /// outside the pool, to it.
    target: connect::Target,
}

impl std::fmt::Debug for PgBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBackend").finish_non_exhaustive()
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, and panics inside another
        // runtime: shut it down in the background instead.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl PgBackend {
    /// Connects to the database at `url` with the default bounds, applying
    /// every migration it lacks.
    pub fn connect(url: &str) -> Result<PgBackend, StoreError> {
        Self::connect_with(url, &PgOptions::default())
    }

    /// [`PgBackend::connect`] with the given bounds.
    pub fn connect_with(url: &str, options: &PgOptions) -> Result<PgBackend, StoreError> {
        let secrets = passwords_of(url);
        Self::open(url, options, &secrets).map_err(|e| scrub(e, &secrets))
    }

    fn open(url: &str, options: &PgOptions, secrets: &[String]) -> Result<PgBackend, StoreError> {
        let target = connect::Target::new(url, options)?;
        let shown = target.shown.clone();

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .thread_name("wasmclaw-pg")
            .enable_all()
            .build()
            .map_err(|e| open_error(&shown, format!("cannot start the store's threads: {e}")))?;
        let handle = runtime.handle().clone();

        let recycling = || ManagerConfig { recycling_method: RecyclingMethod::Fast };
        let manager = match &target.connector {
            Connector::Plain => Manager::from_config(target.config.clone(), NoTls, recycling()),
            Connector::Rustls(tls) => Manager::from_config(target.config.clone(), tls.clone(), recycling()),
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .wait_timeout(Some(options.pool_timeout))
            .create_timeout(Some(options.pool_timeout))
            .recycle_timeout(Some(options.pool_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| open_error(&shown, format!("cannot build the connection pool: {e}")))?;

        let backend = PgBackend {
            runtime: Some(runtime),
            handle,
            pool,
            passwords: secrets.to_vec(),
            call_timeout: options.statement_timeout * 2 + options.pool_timeout * 2 + Duration::from_secs(5),
            credentials: std::sync::Arc::new(AtomicU64::new(0)),
            watch: Default::default(),
            fence: Default::default(),
            target,
        };
        let migrated = backend.run(migrate::migrate(backend.target.clone()));
        migrated.map_err(|e| match e {
            StoreError::Unavailable(m) | StoreError::Backend(m) => open_error(&shown, m),
            other => other,
        })?;
        Ok(backend)
    }

    /// The credential generation: it changes after every committed change
    /// that can make a credential invalid (a token updated or removed, a
    /// tenant suspended, resumed or deleted, tenants imported, a trusted
    /// key added or removed).
    ///
    /// Such a change also bumps the `credentials_generation` row in its own
    /// transaction, but this reads the in-process mirror, which every
    /// such method of this process moves after its own transaction: with
    /// one gateway per database every credential change is one of ours,
    /// and the token cache asks on every request, so it must not cost a
    /// round trip. A replica of a cluster also needs the others' changes:
    /// [`ClusterStore::watch_credentials`](crate::store::cluster::ClusterStore::watch_credentials)
    /// moves the mirror on every notification of a change (`LISTEN`), and
    /// reads the row in the background, moving the mirror when it moved
    /// (what bounds a notification lost in silence); while that read has
    /// not answered for longer than it is trusted (a replica just started,
    /// stalled, or the database slow or away), or while the `LISTEN`
    /// connection is down, every call returns a new generation, so no
    /// cache answers from memory.
    pub fn credentials_generation(&self) -> u64 {
        if self.watch.is_stale() {
            return self.credentials.fetch_add(1, Ordering::AcqRel) + 1;
        }
        self.credentials.load(Ordering::Acquire)
    }

    /// Moves the in-process mirror. Called after the attempt whether or not
    /// it committed, as the redb store does: a needless bump only costs
    /// the cache one re-read, a missing one would keep a revoked token.
    fn credentials_changed(&self) {
        self.credentials.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests;
