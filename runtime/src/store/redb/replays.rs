//! Inbound requests already taken, per tenant: `tenant \0 key` → the unix
//! second after which the record may be forgotten (decimal text).
//!
//! Durable, so a signed webhook or a Telegram update replayed just after a
//! restart is still recognised; keyed by the tenant, so a tenant delete
//! purges its records and a backup carries them; capped per tenant, so one
//! tenant's flood can fill only its own records and never evicts another's.
//! A record is never dropped before it expires: a tenant at its cap has new
//! requests refused until some of its records expire.

use super::RedbBackend;
use super::{remove_prefixed, tenant_prefix};
use crate::ids::TenantId;
use crate::store::{Replay, StoreError};
use redb::{ReadableTable, TableDefinition, WriteTransaction};

const REPLAYS: TableDefinition<&[u8], &str> = TableDefinition::new("replays");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(REPLAYS)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    remove_prefixed(&mut txn.open_table(REPLAYS)?, &tenant_prefix(tenant))?;
    Ok(())
}

fn expiry(v: &str) -> u64 {
    // A corrupt value counts as live for ever: refusing is the safe side.
    v.parse().unwrap_or(u64::MAX)
}

impl RedbBackend {
    /// Records `key` for `tenant` until `until` (unix seconds), durably,
    /// unless a live record of it exists ([`Replay::Seen`]) or the tenant
    /// already holds `cap` live records ([`Replay::Full`]). Expired records
    /// of the tenant are dropped on the way. `key` must not contain `\0`.
    pub(super) fn replay_first(
        &self,
        tenant: &TenantId,
        key: &str,
        now: u64,
        until: u64,
        cap: usize,
    ) -> Result<Replay, StoreError> {
        let prefix = tenant_prefix(tenant);
        let k = [prefix.as_slice(), key.as_bytes()].concat();
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut table = txn.open_table(REPLAYS)?;
            if table.get(k.as_slice())?.is_some_and(|v| expiry(v.value()) > now) {
                return Ok(Replay::Seen);
            }
            let (mut live, mut expired) = (0usize, Vec::new());
            for item in table.range(prefix.as_slice()..)? {
                let (rk, v) = item?;
                if !rk.value().starts_with(&prefix) {
                    break;
                }
                if expiry(v.value()) > now {
                    live += 1;
                } else {
                    expired.push(rk.value().to_vec());
                }
            }
            for e in &expired {
                table.remove(e.as_slice())?;
            }
            if live >= cap {
                Replay::Full
            } else {
                table.insert(k.as_slice(), until.to_string().as_str())?;
                Replay::First
            }
        };
        txn.commit()?;
        Ok(outcome)
    }
}
