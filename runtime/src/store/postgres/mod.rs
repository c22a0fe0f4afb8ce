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
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

mod agents;
mod channels;
mod codec;
mod cron;
mod dump;
mod memory;
mod outbox;
mod policy;
mod replays;
mod secrets;
mod skills;
mod tenants;
mod tokens;
mod trust;
mod usage;

refinery::embed_migrations!("src/store/postgres/migrations");

use super::backend::{forward_to_inherent, with_operations};
with_operations!(forward_to_inherent PgBackend);

/// The table refinery records applied migrations in.
const HISTORY_TABLE: &str = "wasmclaw_schema_history";

/// The session advisory lock a migrating gateway holds (an arbitrary
/// constant, `wasmclaw` in ASCII): the others wait for it, then find
/// nothing left to apply.
const MIGRATION_LOCK: i64 = 0x7761_736d_636c_6177;

/// The first key of the transaction advisory locks (two-key form, so they
/// never meet [`MIGRATION_LOCK`]) that serialise a check-then-write on one
/// owner where no row exists to lock. The second key names the owner.
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
enum LockSpace {
    /// A tenant's cron jobs (the quota counts).
    Cron = 1,
    /// A tenant's replay records (the cap).
    Replays = 2,
    /// One component digest (its row is shared by installs).
    Component = 3,
    /// The trusted keys (names and keys are unique over the table).
    Trust = 4,
}

/// Takes the transaction advisory lock of `what` in `space`, held until the
/// transaction ends.
async fn lock(tx: &Transaction<'_>, space: LockSpace, what: &str) -> Result<(), StoreError> {
    // A 32-bit FNV-1a of the name: two names sharing a lock only wait for
    // each other, never see each other's rows.
    let mut h: u32 = 0x811c_9dc5;
    for b in what.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let stmt = tx.prepare_cached("SELECT pg_advisory_xact_lock($1, $2)").await?;
    tx.execute(&stmt, &[&(space as i32), &(h as i32)]).await?;
    Ok(())
}

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

/// A transaction on a pooled connection (its statements prepared once per
/// connection through `prepare_cached`).
pub(crate) type Transaction<'a> = deadpool_postgres::Transaction<'a>;

/// A boxed future borrowing a transaction or a client, for the closures
/// [`PgBackend`] runs on its runtime.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The PostgreSQL store.
pub(crate) struct PgBackend {
    /// Owns the threads; taken (and shut down without waiting) on drop.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// The URL's password, scrubbed from every error text.
    password: Option<String>,
    /// The longest a caller waits for one answer.
    call_timeout: Duration,
    /// The in-process mirror of the `credentials_generation` row; see
    /// [`PgBackend::credentials_generation`].
    credentials: AtomicU64,
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

/// The store at `shown` could not be opened: a fatal error at start, not a
/// retryable one.
fn open_error(shown: &str, reason: String) -> StoreError {
    StoreError::Open { store: shown.to_string(), reason }
}

/// `url` with its password shown as `***`, for messages.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "the PostgreSQL URL (unparsable, not shown)".to_string(),
    }
}

/// The password in `url`, if it has one (percent-decoded, and as written).
fn passwords_of(url: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(url) else { return Vec::new() };
    let Some(raw) = u.password() else { return Vec::new() };
    let mut out = vec![raw.to_string()];
    if let Ok(decoded) = percent_encoding::percent_decode_str(raw).decode_utf8() {
        out.push(decoded.into_owned());
    }
    out.retain(|p| !p.is_empty());
    out
}

fn scrub_text(text: &mut String, secrets: &[String]) {
    for s in secrets {
        if text.contains(s.as_str()) {
            *text = text.replace(s.as_str(), "***");
        }
    }
}

/// `e` with every secret in `secrets` replaced by `***`.
fn scrub(e: StoreError, secrets: &[String]) -> StoreError {
    match e {
        StoreError::QuotaExceeded(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::QuotaExceeded(m)
        }
        StoreError::Backend(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::Backend(m)
        }
        StoreError::Invalid(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::Invalid(m)
        }
        StoreError::Unavailable(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::Unavailable(m)
        }
        StoreError::Open { mut store, mut reason } => {
            scrub_text(&mut store, secrets);
            scrub_text(&mut reason, secrets);
            StoreError::Open { store, reason }
        }
    }
}

/// SQLSTATE classes and codes that say "try again later": the connection
/// (08), too many connections or no room (53), the server shutting down or
/// refusing connections (57P0x), a statement or lock timeout (57014,
/// 55P03), and a serialisation failure or deadlock (40001, 40P01).
fn retryable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "57014" | "55P03" | "40001" | "40P01")
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let msg = format!("PostgreSQL: {} ({})", db.message(), db.code().code());
            return if retryable(db.code().code()) {
                StoreError::Unavailable(msg)
            } else {
                StoreError::Backend(msg)
            };
        }
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io || e.code().is_some_and(|c| retryable(c.code())) {
            return StoreError::Unavailable(format!("PostgreSQL connection: {e}"));
        }
        // Without a server error, tokio-postgres fails on the connection
        // (connecting, a timeout, a broken stream) or on a conversion; only
        // the conversions are this program's to fix.
        let text = e.to_string();
        if text.starts_with("error serializing") || text.starts_with("error deserializing") {
            StoreError::Backend(format!("PostgreSQL: {text}"))
        } else {
            StoreError::Unavailable(format!("PostgreSQL connection: {text}"))
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(kind) => {
                StoreError::Unavailable(format!("no PostgreSQL connection in time ({kind:?})"))
            }
            PoolError::Closed => StoreError::Unavailable("the PostgreSQL pool is closed".into()),
            other => StoreError::Unavailable(format!("PostgreSQL pool: {other}")),
        }
    }
}

/// The smallest byte string above every string starting with `prefix`
/// (`None`: there is none, every string from `prefix` on qualifies). A
/// prefix scan is `key >= prefix AND key < upper`: a byte range, so `%`,
/// `_` and `\` are bytes like any other (never `LIKE`).
fn prefix_upper(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// A u64 as an i64 of the same order (the sign bit flipped): the form of
/// the `bigint` columns that index unsigned times (cron's next run, a
/// message's next attempt), where `u64::MAX` is a valid "never".
fn ordered(v: u64) -> i64 {
    (v ^ (1 << 63)) as i64
}

/// A u64 kept in a `bigint` column as is (counters far below `i64::MAX`);
/// refused rather than wrapped when it is not.
fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("{what} {v} is out of range")))
}

/// A stored `bigint` counter back as a u64 (a negative one is corrupt).
fn from_i64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("stored {what} {v} is corrupt")))
}

/// Adds to the JSON totals at (`tenant`, `key`) of `table` (key column
/// `key_col`, value column `val_col`) within `tx`: the row is created from
/// `T::default()` if missing and locked in the same statement, so two
/// concurrent adders never both start from nothing.
async fn merge_row<T>(
    tx: &Transaction<'_>,
    (table, key_col, val_col): (&str, &str, &str),
    tenant: &str,
    key: &[u8],
    merge: impl FnOnce(&mut T),
) -> Result<(), StoreError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Default,
{
    let stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO {table} (tenant, {key_col}, {val_col}) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, {key_col}) DO UPDATE SET {val_col} = {table}.{val_col} RETURNING {val_col}"
        ))
        .await?;
    let empty = codec::encode(&T::default())?;
    let row = tx.query_one(&stmt, &[&tenant, &key, &empty]).await?;
    let mut totals: T = codec::decode(table, row.get(0))?;
    merge(&mut totals);
    let stmt = tx
        .prepare_cached(&format!("UPDATE {table} SET {val_col} = $3 WHERE tenant = $1 AND {key_col} = $2"))
        .await?;
    tx.execute(&stmt, &[&tenant, &key, &codec::encode(&totals)?]).await?;
    Ok(())
}

/// Bumps the `credentials_generation` row within `tx` (see
/// [`PgBackend::credentials_generation`]).
async fn bump_credentials(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let stmt = tx.prepare_cached("UPDATE credentials_generation SET generation = generation + 1").await?;
    tx.execute(&stmt, &[]).await?;
    Ok(())
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
        let shown = redacted_url(url);
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|_| open_error(&shown, "not a valid PostgreSQL URL".into()))?;
        let mut opts = config.get_options().unwrap_or_default().to_string();
        // The server bounds every statement; a transaction left idle (a
        // caller that never came back) is ended too.
        let ms = options.statement_timeout.as_millis().max(1);
        opts.push_str(&format!(
            " -c statement_timeout={ms} -c idle_in_transaction_session_timeout={}",
            ms.saturating_mul(2)
        ));
        config.options(opts.trim());
        if config.get_application_name().is_none() {
            config.application_name("wasmclaw");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.pool_timeout);
        }
        config.keepalives(true);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .thread_name("wasmclaw-pg")
            .enable_all()
            .build()
            .map_err(|e| open_error(&shown, format!("cannot start the store's threads: {e}")))?;
        let handle = runtime.handle().clone();

        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
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
            password: secrets.first().cloned(),
            call_timeout: options.statement_timeout * 2 + options.pool_timeout * 2 + Duration::from_secs(5),
            credentials: AtomicU64::new(0),
        };
        let migrated = backend.run(migrate(config));
        migrated.map_err(|e| match e {
            StoreError::Unavailable(m) | StoreError::Backend(m) => open_error(&shown, m),
            other => other,
        })?;
        Ok(backend)
    }

    /// Runs `f` on the store's runtime and waits for it, at most the call
    /// timeout.
    fn run<T, F>(&self, f: F) -> Result<T, StoreError>
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
        // The task always answers (its own timeout), unless it panicked or
        // the runtime is gone: then the sender is dropped and recv fails.
        let out = match rx.recv_timeout(limit + Duration::from_secs(1)) {
            Ok(out) => out,
            Err(_) => Err(StoreError::Unavailable("the PostgreSQL store's task failed".into())),
        };
        out.map_err(|e| self.scrubbed(e))
    }

    fn scrubbed(&self, e: StoreError) -> StoreError {
        match &self.password {
            Some(p) => scrub(e, std::slice::from_ref(p)),
            None => e,
        }
    }

    /// Runs `f` with a pooled connection (no transaction: one statement is
    /// atomic on its own).
    fn with_client<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Object) -> BoxFut<'a, T> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.run(async move { using(&pool, move |c| f(&*c)).await })
    }

    /// Runs `f` in a transaction (read committed), committed when `f`
    /// returns `Ok`, rolled back otherwise.
    fn transact<T, F>(&self, f: F) -> Result<T, StoreError>
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
    fn transact_with<A, B, T, R, D, W>(&self, read: R, decide: D, write: W) -> Result<T, StoreError>
    where
        A: Send + 'static,
        B: Send + 'static,
        T: Send + 'static,
        R: for<'a> FnOnce(&'a Transaction<'a>) -> BoxFut<'a, A> + Send + 'static,
        D: FnOnce(A) -> B,
        W: for<'a> FnOnce(&'a Transaction<'a>, B) -> BoxFut<'a, T> + Send + 'static,
    {
        let (read_tx, read_rx) = std::sync::mpsc::sync_channel::<Result<A, StoreError>>(1);
        let (decided_tx, decided_rx) = tokio::sync::oneshot::channel::<B>();
        let pool = self.pool.clone();
        let limit = self.call_timeout;
        let done = self.run_detached(async move {
            using(&pool, move |c| {
                Box::pin(async move {
                    let tx = c.transaction().await?;
                    match read(&tx).await {
                        Ok(a) => {
                            let _ = read_tx.send(Ok(a));
                        }
                        Err(e) => {
                            let _ = read_tx.send(Err(e));
                            return Err(StoreError::Backend("the read failed".into()));
                        }
                    }
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
        let a = match read_rx.recv_timeout(limit + Duration::from_secs(1)) {
            Ok(Ok(a)) => a,
            Ok(Err(e)) => return Err(self.scrubbed(e)),
            // The task answered before reading: its own error says why.
            Err(_) => return Err(self.wait(done)),
        };
        let _ = decided_tx.send(decide(a));
        match done.recv_timeout(limit + Duration::from_secs(1)) {
            Ok(out) => out.map_err(|e| self.scrubbed(e)),
            Err(_) => Err(StoreError::Unavailable("the PostgreSQL store's task failed".into())),
        }
    }

    /// Spawns `f` on the store's runtime (bounded by the call timeout); its
    /// answer arrives on the returned channel.
    fn run_detached<T, F>(&self, f: F) -> std::sync::mpsc::Receiver<Result<T, StoreError>>
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
    fn wait<T>(&self, done: std::sync::mpsc::Receiver<Result<T, StoreError>>) -> StoreError {
        match done.recv_timeout(self.call_timeout + Duration::from_secs(1)) {
            Ok(Err(e)) => self.scrubbed(e),
            _ => StoreError::Unavailable("the PostgreSQL store's task failed".into()),
        }
    }

    /// Reads the rows of `sql` (with `params`) in batches of `batch`, in
    /// one read-only snapshot (repeatable read), handing each batch to
    /// `visit` on the caller's thread until it returns `false` or the rows
    /// end. The matching work of a scan thus never runs on the store's own
    /// threads, and no more than one batch is in memory.
    fn scan(
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
            match rows_rx.recv_timeout(limit + Duration::from_secs(1)) {
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

    /// The credential generation: it changes after every committed change
    /// that can make a credential invalid (a token updated or removed, a
    /// tenant suspended, resumed or deleted, tenants imported).
    ///
    /// Such a change also bumps the `credentials_generation` row in its own
    /// transaction, but this reads the in-process mirror, which every
    /// such method of this process moves after its own transaction: with
    /// one gateway per database (this step) every credential change is one
    /// of ours, and the token cache asks on every request, so it must not
    /// cost a round trip. Several gateways on one database (the next step)
    /// need another's changes too: they will LISTEN for a NOTIFY sent by
    /// those transactions, or read the row, into this mirror.
    pub fn credentials_generation(&self) -> u64 {
        self.credentials.load(Ordering::Acquire)
    }

    /// Moves the in-process mirror. Called after the attempt whether or not
    /// it committed, as the redb store does: a needless bump only costs
    /// the cache one re-read, a missing one would keep a revoked token.
    fn credentials_changed(&self) {
        self.credentials.fetch_add(1, Ordering::AcqRel);
    }
}

/// Runs `f` with a connection of `pool`. After an [`StoreError::Unavailable`]
/// the connection is dropped instead of going back to the pool: it may be
/// one the server closed (a restart), which the pool's cheap check on
/// reuse does not always see yet, and the next call must not meet it.
async fn using<T, F>(pool: &Pool, f: F) -> Result<T, StoreError>
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

/// Applies every migration the database lacks, holding the migration lock
/// on a connection of its own; refuses a database migrated past this
/// binary.
async fn migrate(config: tokio_postgres::Config) -> Result<(), StoreError> {
    let (mut client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let out = async {
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        let out = apply_migrations(&mut client).await;
        // Unlocked explicitly; closing the connection would release it too.
        let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
        out?;
        unlocked?;
        Ok(())
    }
    .await;
    drop(client);
    let _ = driver.await;
    out
}

async fn apply_migrations(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let mut runner = migrations::runner();
    runner.set_migration_table_name(HISTORY_TABLE);
    let known = runner.get_migrations().iter().map(|m| m.version()).max().unwrap_or(0);
    let exists: Option<String> =
        client.query_one("SELECT to_regclass($1)::text", &[&HISTORY_TABLE]).await?.get(0);
    if exists.is_some() {
        let applied: Option<i32> =
            client.query_one(&format!("SELECT max(version) FROM {HISTORY_TABLE}"), &[]).await?.get(0);
        if let Some(applied) = applied.filter(|a| i64::from(*a) > i64::from(known)) {
            return Err(StoreError::Backend(format!(
                "the database's schema is at version {applied}, newer than this wasmclaw knows \
                 (up to version {known}): run a wasmclaw of that version or later"
            )));
        }
    }
    runner.run_async(client).await.map_err(|e| {
        // refinery's own text is generic ("db error"): add the causes.
        let mut msg = format!("migrating the schema: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            msg.push_str(&format!(": {c}"));
            cause = c.source();
        }
        match e.kind() {
            refinery::error::Kind::Connection(..) => StoreError::Unavailable(msg),
            _ => StoreError::Backend(msg),
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;
