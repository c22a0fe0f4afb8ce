//! The schema: `migrations/V<n>__*.sql`, applied by refinery under a session
//! advisory lock, so gateways starting together migrate once; a database
//! migrated past what this binary knows is refused, naming both versions.
//! An applied migration file is never edited (refinery checks its
//! checksum): a change is a new file.

use super::StoreError;

refinery::embed_migrations!("src/store/postgres/migrations");

/// The table refinery records applied migrations in.
pub(super) const HISTORY_TABLE: &str = "wasmclaw_schema_history";

/// The session advisory lock a migrating gateway holds (an arbitrary
/// constant, `wasmclaw` in ASCII): the others wait for it, then find
/// nothing left to apply.
pub(super) const MIGRATION_LOCK: i64 = 0x7761_736d_636c_6177;

/// Applies every migration the database lacks, holding the migration lock
/// on a connection of its own; refuses a database migrated past this
/// binary.
pub(super) async fn migrate(target: super::connect::Target) -> Result<(), StoreError> {
    let (mut client, driver) = target.connect_once().await?;
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

/// The schema version this binary migrates a database to.
pub(super) fn known_version() -> i64 {
    migrations::runner().get_migrations().iter().map(|m| i64::from(m.version())).max().unwrap_or(0)
}

/// The version the database's schema is at; `None` before its first
/// migration. Reads only.
pub(super) async fn applied_version(client: &tokio_postgres::Client) -> Result<Option<i64>, StoreError> {
    let exists: Option<String> =
        client.query_one("SELECT to_regclass($1)::text", &[&HISTORY_TABLE]).await?.get(0);
    if exists.is_none() {
        return Ok(None);
    }
    let applied: Option<i32> =
        client.query_one(&format!("SELECT max(version) FROM {HISTORY_TABLE}"), &[]).await?.get(0);
    Ok(applied.map(i64::from))
}

pub(super) async fn apply_migrations(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let mut runner = migrations::runner();
    runner.set_migration_table_name(HISTORY_TABLE);
    let known = known_version();
    if let Some(applied) = applied_version(client).await?.filter(|a| *a > known) {
        return Err(StoreError::Backend(format!(
            "the database's schema is at version {applied}, newer than this wasmclaw knows \
             (up to version {known}): run a wasmclaw of that version or later"
        )));
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
