//! Small SQL pieces the table families share: advisory locks, byte
//! ranges, u64 columns, JSON totals and the credential generation row.

use super::{StoreError, Transaction, codec};

/// The first key of the transaction advisory locks (two-key form, so they
/// never meet the migration lock) that serialise a check-then-write on one
/// owner where no row exists to lock. The second key names the owner.
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
pub(super) enum LockSpace {
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
pub(super) async fn lock(tx: &Transaction<'_>, space: LockSpace, what: &str) -> Result<(), StoreError> {
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

/// The smallest byte string above every string starting with `prefix`
/// (`None`: there is none, every string from `prefix` on qualifies). A
/// prefix scan is `key >= prefix AND key < upper`: a byte range, so `%`,
/// `_` and `\` are bytes like any other (never `LIKE`).
pub(super) fn prefix_upper(prefix: &[u8]) -> Option<Vec<u8>> {
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
pub(super) fn ordered(v: u64) -> i64 {
    (v ^ (1 << 63)) as i64
}

/// A u64 kept in a `bigint` column as is (counters far below `i64::MAX`);
/// refused rather than wrapped when it is not.
pub(super) fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("{what} {v} is out of range")))
}

/// A stored `bigint` counter back as a u64 (a negative one is corrupt).
pub(super) fn from_i64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Backend(format!("stored {what} {v} is corrupt")))
}

/// Adds to the JSON totals at (`tenant`, `key`) of `table` (key column
/// `key_col`, value column `val_col`) within `tx`: the row is created from
/// `T::default()` if missing and locked in the same statement, so two
/// concurrent adders never both start from nothing.
pub(super) async fn merge_row<T>(
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

/// The channel credential changes are notified on.
pub(super) const CREDENTIALS_CHANNEL: &str = "wasmclaw_credentials";

/// Bumps the `credentials_generation` row within `tx`, and notifies the
/// replicas listening on [`CREDENTIALS_CHANNEL`] when `tx` commits (see
/// [`PgBackend::credentials_generation`]).
pub(super) async fn bump_credentials(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached(
            "UPDATE credentials_generation SET generation = generation + 1 \
             RETURNING pg_notify('wasmclaw_credentials', generation::text)",
        )
        .await?;
    tx.execute(&stmt, &[]).await?;
    Ok(())
}
