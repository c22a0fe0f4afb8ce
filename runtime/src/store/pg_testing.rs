//! Test support: an empty PostgreSQL database of its own for each test.
//!
//! The server is the one `WASMCLAW_TEST_PG` names, a superuser URL such as
//! `postgres://USER:PASSWORD@127.0.0.1:PORT/postgres` (what
//! `scripts/pg-test-cluster.sh start` exports; `.ci/run` starts one).
//! [`TestDb::create`] makes `wasmclaw_test_<random>` on it and hands back a
//! guard holding that database's URL; dropping the guard drops the database,
//! closing whatever connections are still open to it. When the variable is
//! unset, `create` returns `None` after printing `skipped: no PostgreSQL`,
//! except under CI (`CI=true`), where a missing server is a failure: CI
//! must not pass by skipping.
//!
//! The API is synchronous, so sync tests and `#[tokio::test]` tests use it
//! alike: each administrative statement runs on a small runtime of its own
//! on a thread of its own, never on the caller's runtime.
//!
//! This file stands alone (tokio, tokio-postgres, url and rand, nothing of
//! the runtime crate) because two crates compile it: the runtime's unit
//! tests (`#[cfg(test)] mod pg_testing;` in `store/mod.rs`) and the
//! `wasmclaw-tests` crate, which exports it as `wasmclaw_tests::pg_testing`
//! for the end-to-end and gateway tests.

use std::future::Future;
use std::time::Duration;
use tokio_postgres::NoTls;

/// The environment variable naming the test server.
pub const ENV_VAR: &str = "WASMCLAW_TEST_PG";

/// How long a connection attempt to the test server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An empty database of its own on the test server, dropped with the guard.
pub struct TestDb {
    /// This database's URL.
    url: String,
    /// This database's name.
    name: String,
    /// The server's URL from the environment (its administrative database).
    admin_url: String,
}

impl TestDb {
    /// A new, empty database on the server `WASMCLAW_TEST_PG` names.
    ///
    /// `None`, after printing `skipped: no PostgreSQL`, when the variable is
    /// unset or empty and `CI` is not `true` (the caller returns early: the
    /// test is skipped). Panics when the variable is unset under CI, and when
    /// it is set but the server cannot be reached or refuses to create the
    /// database: a configured server that does not work is a failure.
    pub fn create() -> Option<TestDb> {
        let admin_url =
            match server(std::env::var(ENV_VAR).ok().as_deref(), std::env::var("CI").ok().as_deref()) {
                Server::Url(url) => url,
                Server::Skip => {
                    println!("skipped: no PostgreSQL ({ENV_VAR} is unset; see the README's Tests section)");
                    return None;
                }
                Server::Missing => panic!(
                    "{ENV_VAR} is unset under CI: the PostgreSQL tests need a server \
                 (`eval \"$(bash scripts/pg-test-cluster.sh start)\"`; .ci/run starts one)"
                ),
            };
        let name = format!("wasmclaw_test_{:016x}", rand::random::<u64>());
        let url = database_url(&admin_url, &name);
        let create = format!("CREATE DATABASE \"{name}\"");
        if let Err(e) = run_admin(&admin_url, &create) {
            panic!("{ENV_VAR}: cannot create the test database {name}: {}", describe(&e));
        }
        Some(TestDb { url, name, admin_url })
    }

    /// This database's URL (the server's URL with this database's name).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This database's name, `wasmclaw_test_` and 16 hex digits.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = run_admin(&self.admin_url, &drop) {
            let message = format!("cannot drop the test database {}: {}", self.name, describe(&e));
            // A second panic while unwinding would abort the whole test binary.
            if std::thread::panicking() {
                eprintln!("{message}");
            } else {
                panic!("{message}");
            }
        }
    }
}

// Not derived: the URLs hold the server's password.
impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("name", &self.name).finish_non_exhaustive()
    }
}

/// What the environment says about the test server.
#[derive(Debug, PartialEq)]
enum Server {
    /// Use the server at this URL.
    Url(String),
    /// No server, and that is allowed: skip.
    Skip,
    /// No server under CI: fail.
    Missing,
}

/// Reads `WASMCLAW_TEST_PG` and `CI` (given as arguments, so tests need not
/// change the process's environment).
fn server(pg: Option<&str>, ci: Option<&str>) -> Server {
    match pg.map(str::trim).filter(|url| !url.is_empty()) {
        Some(url) => Server::Url(url.to_owned()),
        None if matches!(ci, Some(v) if v.eq_ignore_ascii_case("true") || v == "1") => Server::Missing,
        None => Server::Skip,
    }
}

/// The server's URL with its database replaced by `name`, and
/// `sslmode=disable` unless the server's URL says otherwise: the store
/// requires a verified TLS connection by default, and the test cluster
/// (`scripts/pg-test-cluster.sh`) offers none.
fn database_url(admin_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin_url).unwrap_or_else(|e| {
        panic!("{ENV_VAR} must be a URL like postgres://USER:PASSWORD@HOST:PORT/postgres: {e}")
    });
    url.set_path(&format!("/{name}"));
    if !url.query_pairs().any(|(k, _)| k == "sslmode") {
        url.query_pairs_mut().append_pair("sslmode", "disable");
    }
    url.into()
}

/// Connects to `url` and runs `sql` (no parameters), off the caller's
/// runtime.
fn run_admin(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    block_on(async {
        let client = connect(url).await?;
        client.batch_execute(sql).await
    })
}

/// A connection to `url`, driven by a task on the current runtime.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = url.parse()?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// `e` with its cause: tokio-postgres's own text is only "db error" or
/// "error connecting to server".
fn describe(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Runs `future` to completion on a current-thread runtime on a new thread,
/// so that it works from sync code and from inside another runtime alike.
fn block_on<T: Send>(future: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the test database's administration")
                .block_on(future)
        });
        thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_decides_between_a_server_a_skip_and_a_failure() {
        let url = "postgres://u:p@127.0.0.1:5432/postgres";
        assert_eq!(server(Some(url), None), Server::Url(url.into()));
        assert_eq!(server(Some(url), Some("true")), Server::Url(url.into()));
        // Unset or empty: skipped on a developer's machine, a failure under CI.
        assert_eq!(server(None, None), Server::Skip);
        assert_eq!(server(Some(" "), Some("false")), Server::Skip);
        assert_eq!(server(None, Some("true")), Server::Missing);
        assert_eq!(server(Some(""), Some("1")), Server::Missing);
    }

    #[test]
    fn a_database_url_keeps_the_server_and_names_the_database() {
        let url = database_url(
            "postgres://u:p%40ss@127.0.0.1:5432/postgres?sslmode=disable",
            "wasmclaw_test_0123456789abcdef",
        );
        assert_eq!(url, "postgres://u:p%40ss@127.0.0.1:5432/wasmclaw_test_0123456789abcdef?sslmode=disable");
        // Without an sslmode, the test database's URL connects without TLS
        // (the test cluster has none); one the server's URL gives is kept.
        let url = database_url("postgres://u:p@127.0.0.1:5432/postgres", "wasmclaw_test_0");
        assert_eq!(url, "postgres://u:p@127.0.0.1:5432/wasmclaw_test_0?sslmode=disable");
        let url = database_url("postgres://u:p@db:5432/postgres?sslmode=verify-full", "wasmclaw_test_0");
        assert_eq!(url, "postgres://u:p@db:5432/wasmclaw_test_0?sslmode=verify-full");
    }

    type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

    /// Runs `sql` on `url` and returns the first column of the first row.
    fn query_i64(url: &str, sql: &str, params: Params<'_>) -> i64 {
        block_on(async {
            let client = connect(url).await.expect("connect");
            client.query_one(sql, params).await.expect("query").get(0)
        })
    }

    /// Tables, views, sequences, … in the database at `url` outside the
    /// system schemas.
    fn user_relations(url: &str) -> i64 {
        query_i64(
            url,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%'",
            &[],
        )
    }

    // A sync test: the guard is made and dropped outside any runtime.
    #[test]
    fn each_call_gets_a_database_of_its_own_and_empty() {
        let Some(a) = TestDb::create() else { return };
        let b = TestDb::create().expect("the server was there a moment ago");
        assert_ne!(a.name(), b.name());
        assert_ne!(a.url(), b.url());
        assert!(a.name().starts_with("wasmclaw_test_"));

        let current = block_on(async {
            let client = connect(a.url()).await.expect("connect to a");
            let name: String =
                client.query_one("SELECT current_database()", &[]).await.expect("current_database").get(0);
            client.batch_execute("CREATE TABLE only_in_a (x int)").await.expect("create a table in a");
            name
        });
        assert_eq!(current, a.name(), "a's URL leads to a");
        assert_eq!(user_relations(a.url()), 1, "a holds the table just made");
        assert_eq!(user_relations(b.url()), 0, "b is empty: a's table is not in it");
        let c = TestDb::create().expect("a third database");
        assert_eq!(user_relations(c.url()), 0, "a new database starts empty");
    }

    // An async test: the guard is made and dropped inside a runtime, with a
    // connection to the database still open when it drops.
    #[tokio::test]
    async fn the_database_is_gone_after_the_guard_drops() {
        let Some(db) = TestDb::create() else { return };
        let (name, admin_url) = (db.name().to_owned(), db.admin_url.clone());
        let held = connect(db.url()).await.expect("connect to the test database");
        held.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
            .await
            .expect("use the test database");
        let count = "SELECT count(*) FROM pg_database WHERE datname = $1";
        assert_eq!(query_i64(&admin_url, count, &[&name]), 1);

        drop(db);

        assert_eq!(query_i64(&admin_url, count, &[&name]), 0, "dropped");
        assert!(
            held.batch_execute("SELECT 1").await.is_err(),
            "the connection still open to the dropped database was closed"
        );
    }
}
