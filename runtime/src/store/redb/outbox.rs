//! The message outbox (`messaging` capability and delivery worker).
//!
//! Tables:
//!
//! - `outbox`: `tenant \0 id` → the message as JSON. Every tenant read
//!   ([`Db::outbox_get`], [`Db::outbox_list`]) builds its key or range from
//!   a validated [`TenantId`], which cannot contain `\0`, so a tenant can
//!   only ever reach its own messages, whatever id it asks for.
//! - `outbox_due`: `(next_attempt, tenant \0 id)` → `()`, one row per
//!   *pending* message, so the worker finds what is due with one ordered
//!   scan ([`Db::outbox_due`]). Every write of a message updates this index
//!   in the same transaction ([`Db::outbox_put`], [`Db::outbox_update`],
//!   [`Db::outbox_claim`]).
//!
//! A stored message is checked on load: its tenant must be a valid tenant id
//! and match the key it was found under.
//!
//! The [`Message`] type lives in [`crate::messaging`] (as cron's `Job` lives
//! in [`crate::cron`]), so the rest of the crate can name it; this module
//! only stores it, through a private raw form.

use super::RedbBackend;
use crate::ids::TenantId;
use crate::records::{Message, MessageState};
use crate::store::StoreError;
use crate::store::codec::{
    self, check_message_id as check_id, message_encode as to_json, valid_message_id as valid_id,
};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

/// Messages: `tenant \0 id` → JSON.
const OUTBOX: TableDefinition<&[u8], &str> = TableDefinition::new("outbox");
/// Pending messages by due time: `(next_attempt, tenant \0 id)` → `()`.
const OUTBOX_DUE: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("outbox_due");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(OUTBOX)?;
    txn.open_table(OUTBOX_DUE)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    let prefix = tenant_prefix(tenant);
    super::remove_prefixed(&mut txn.open_table(OUTBOX)?, &prefix)?;
    let mut due = txn.open_table(OUTBOX_DUE)?;
    let mut stale = Vec::new();
    for item in due.iter()? {
        let (k, _) = item?;
        let (at, key) = k.value();
        if key.starts_with(&prefix) {
            stale.push((at, key.to_vec()));
        }
    }
    for (at, key) in stale {
        due.remove((at, key.as_slice()))?;
    }
    Ok(())
}

/// Decodes a stored message found under `key`, checking that it belongs
/// there.
fn from_json(key: &[u8], json: &str) -> Result<Message, StoreError> {
    codec::message_decode(json, |tenant, id| key == outbox_key(tenant, id).as_slice())
}

/// `tenant \0`: the start of every key of `tenant`.
fn tenant_prefix(tenant: &TenantId) -> Vec<u8> {
    let mut p = Vec::with_capacity(tenant.as_str().len() + 1);
    p.extend_from_slice(tenant.as_str().as_bytes());
    p.push(0);
    p
}

/// `tenant \0 id`.
fn outbox_key(tenant: &TenantId, id: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(id.as_bytes());
    k
}

impl RedbBackend {
    /// Queues a new message, durably (indexed as due at its `next_attempt`
    /// when pending). Fails if the tenant already has a message with its id.
    pub(super) fn outbox_put(&self, m: &Message) -> Result<(), StoreError> {
        check_id(&m.id)?;
        let key = outbox_key(&m.tenant, &m.id);
        let json = to_json(m)?;
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(OUTBOX)?;
            if table.get(key.as_slice())?.is_some() {
                return Err(StoreError::Backend(format!("message {} of {} already exists", m.id, m.tenant)));
            }
            table.insert(key.as_slice(), json.as_str())?;
            if m.state == MessageState::Pending {
                txn.open_table(OUTBOX_DUE)?.insert((m.next_attempt, key.as_slice()), ())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// One message of `tenant`; `None` when `tenant` has no message `id`
    /// (whether or not another tenant has).
    pub(super) fn outbox_get(&self, tenant: &TenantId, id: &str) -> Result<Option<Message>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let key = outbox_key(tenant, id);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OUTBOX)?;
        let json = table.get(key.as_slice())?.map(|v| v.value().to_string());
        json.map(|j| from_json(&key, &j)).transpose()
    }

    /// Up to `limit` messages of `tenant` whose id comes after `after`
    /// (bytewise; `""`: from the first), in id order.
    pub(super) fn outbox_list(
        &self,
        tenant: &TenantId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let prefix = tenant_prefix(tenant);
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        // Ids are never empty, so excluding `tenant \0` itself loses none.
        let start = outbox_key(tenant, after);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(OUTBOX)?;
        let range = (std::ops::Bound::Excluded(start.as_slice()), std::ops::Bound::Unbounded);
        for item in table.range::<&[u8]>(range)? {
            let (k, v) = item?;
            if !k.value().starts_with(&prefix) {
                break;
            }
            out.push(from_json(k.value(), v.value())?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `limit` pending messages whose `next_attempt` is at or before
    /// `now`, over all tenants, soonest due first. (For the delivery worker
    /// only: it is the one read not scoped to a tenant.) A corrupt record is
    /// logged and skipped rather than stopping every tenant's delivery.
    pub(super) fn outbox_due(&self, now: u64, limit: usize) -> Result<Vec<Message>, StoreError> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(OUTBOX_DUE)?;
        let table = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for item in due.iter()? {
            let (k, _) = item?;
            let (at, key) = k.value();
            if at > now {
                break;
            }
            let Some(json) = table.get(key)?.map(|v| v.value().to_string()) else {
                tracing::error!("outbox: a due entry has no message");
                continue;
            };
            match from_json(key, &json) {
                Ok(m) if m.state == MessageState::Pending && m.next_attempt == at => out.push(m),
                Ok(m) => tracing::error!(tenant = %m.tenant, id = %m.id, "outbox: a stale due entry"),
                Err(e) => tracing::error!(error = %e, "outbox: skipping a message"),
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Replaces a stored message (same tenant and id) with `m`, durably,
    /// moving or dropping its due-index entry to match `m`'s state and
    /// `next_attempt`. Fails if there is no such message.
    pub(super) fn outbox_update(&self, m: &Message) -> Result<(), StoreError> {
        self.outbox_replace(m, None).map(drop)
    }

    /// Leases a due message to one delivery worker: if the stored message
    /// is still exactly `m`, sets its `next_attempt` to `until` (so no other
    /// worker picks it up meanwhile, and a worker that dies mid-attempt
    /// leaves it due again at `until`) and returns `true`; otherwise changes
    /// nothing and returns `false`.
    pub(super) fn outbox_claim(&self, m: &Message, until: u64) -> Result<bool, StoreError> {
        let claimed = Message { next_attempt: until, ..m.clone() };
        self.outbox_replace(&claimed, Some(m))
    }

    /// Leases what [`Self::outbox_due`] finds (one writer at a time, so the
    /// compare-and-set of each claim only fails for a message changed
    /// since the read).
    pub(super) fn outbox_claim_due(
        &self,
        now: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::new();
        for m in self.outbox_due(now, limit)? {
            if self.outbox_claim(&m, until)? {
                out.push(Message { next_attempt: until, ..m });
            }
        }
        Ok(out)
    }

    /// An attempt's outcome, written only over the message as leased.
    pub(super) fn outbox_settle(&self, leased: &Message, outcome: &Message) -> Result<bool, StoreError> {
        self.outbox_replace(outcome, Some(leased))
    }

    /// Writes `m` over the stored message with its tenant and id, if there is
    /// one and (when `expected` is given) it equals `expected`; a missing
    /// message is an error without `expected`, `false` with it.
    fn outbox_replace(&self, m: &Message, expected: Option<&Message>) -> Result<bool, StoreError> {
        check_id(&m.id)?;
        let key = outbox_key(&m.tenant, &m.id);
        let json = to_json(m)?;
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(OUTBOX)?;
            let mut due = txn.open_table(OUTBOX_DUE)?;
            let old = table.get(key.as_slice())?.map(|v| v.value().to_string());
            let Some(old) = old else {
                if expected.is_some() {
                    return Ok(false);
                }
                return Err(StoreError::Backend(format!("message {} of {} does not exist", m.id, m.tenant)));
            };
            let old = from_json(&key, &old)?;
            if expected.is_some_and(|e| *e != old) {
                return Ok(false);
            }
            if old.state == MessageState::Pending {
                due.remove((old.next_attempt, key.as_slice()))?;
            }
            table.insert(key.as_slice(), json.as_str())?;
            if m.state == MessageState::Pending {
                due.insert((m.next_attempt, key.as_slice()), ())?;
            }
        }
        txn.commit()?;
        Ok(true)
    }
}
