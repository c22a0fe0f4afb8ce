//! PostgreSQL for the benches' PostgreSQL rows: a fresh database on the
//! server `WASMCLAW_TEST_PG` names (what `scripts/pg-test-cluster.sh start`
//! exports; `benches/run` starts a durable one when none is given), the
//! server's durability settings for the row's text, and its transaction
//! count, to show what a request made the database do.
//!
//! Without `WASMCLAW_TEST_PG` the PostgreSQL rows are skipped, with a line
//! saying so, under CI too: the benches must run without PostgreSQL.

use std::time::Duration;
use wasmclaw::StoreLocation;
use wasmclaw_tests::pg_testing::{ENV_VAR, TestDb};

/// How long the server's other backends may take to publish their
/// statistics once idle (PostgreSQL 15 flushes an idle backend's counters
/// after at most a second).
const STATS_FLUSH: Duration = Duration::from_millis(1500);

/// A fresh database for one bench, dropped with it.
pub struct Pg {
    db: TestDb,
    /// The server's URL from the environment (its administrative database).
    admin_url: String,
    /// `PostgreSQL 15.14, fsync on, synchronous_commit on`.
    settings: String,
}

impl Pg {
    /// A fresh database, or `None` after printing that `rows` are skipped
    /// when `WASMCLAW_TEST_PG` is unset.
    pub fn create(rows: &str) -> Option<Pg> {
        let admin_url = std::env::var(ENV_VAR).ok().filter(|u| !u.trim().is_empty());
        let Some(admin_url) = admin_url else {
            println!(
                "\nPostgreSQL rows ({rows}) skipped: {ENV_VAR} is unset (`bash benches/run` starts a \
                 cluster when PostgreSQL is installed; or `eval \"$(PG_TEST_DURABLE=1 bash \
                 scripts/pg-test-cluster.sh start)\"`)"
            );
            return None;
        };
        let db = TestDb::create().expect("a database on the configured server");
        let settings = query(
            &admin_url,
            "SELECT 'PostgreSQL ' || current_setting('server_version') || ', fsync ' || \
             current_setting('fsync') || ', synchronous_commit ' || current_setting('synchronous_commit')",
        );
        println!("PostgreSQL rows ({rows}) on {settings}");
        Some(Pg { db, admin_url, settings })
    }

    /// The database's URL (it holds the server's password: never print it).
    pub fn url(&self) -> &str {
        self.db.url()
    }

    /// The database as a runtime's store (`RuntimeConfig.store`).
    pub fn location(&self) -> StoreLocation {
        StoreLocation::parse(self.url()).expect("a PostgreSQL URL")
    }

    /// The server's version and durability settings.
    pub fn settings(&self) -> &str {
        &self.settings
    }

    /// Runs `sql` on the bench's database; the first column of its first
    /// row, as text.
    pub fn query(&self, sql: &str) -> String {
        query(self.url(), sql)
    }

    /// Transactions committed or rolled back in this database so far
    /// (`pg_stat_database`), read from the administrative database after
    /// waiting [`STATS_FLUSH`] for idle backends to publish theirs.
    pub fn transactions(&self) -> u64 {
        std::thread::sleep(STATS_FLUSH);
        let sql = format!(
            "SELECT (xact_commit + xact_rollback)::text FROM pg_stat_database WHERE datname = '{}'",
            self.db.name()
        );
        query(&self.admin_url, &sql).parse().expect("a transaction count")
    }
}

/// Runs `sql` on `url` (on a thread and runtime of its own) and returns the
/// first column of the first row, as text.
fn query(url: &str, sql: &str) -> String {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        rt.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
            tokio::spawn(connection);
            client.query_one(sql.as_str(), &[]).await.expect("a query of the bench").get::<_, String>(0)
        })
    })
    .join()
    .expect("the query thread")
}
