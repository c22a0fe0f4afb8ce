//! The outbox of the `messaging` capability: `outbox(tenant, id, message,
//! due)`, the message as JSON and `due` its next attempt (sign bit
//! flipped) while it is pending, NULL otherwise: the partial index on it is
//! redb's `outbox_due` table, written with the message in one statement.

use super::{PgBackend, StoreError, ordered};
use crate::ids::TenantId;
use crate::records::{Message, MessageState};
use crate::store::codec::{check_message_id as check_id, message_encode, valid_message_id as valid_id};
use tokio_postgres::types::ToSql;

/// A stored message found under (`tenant`, `id`), checked to belong there.
fn message_decode(tenant: &str, id: &[u8], json: &str) -> Result<Message, StoreError> {
    crate::store::codec::message_decode(json, |t, i| t.as_str() == tenant && i.as_bytes() == id)
}

/// The `due` column of `m`.
fn due(m: &Message) -> Option<i64> {
    (m.state == MessageState::Pending).then(|| ordered(m.next_attempt))
}

impl PgBackend {
    /// Queues a new message, durably (indexed as due at its `next_attempt`
    /// when pending). Fails if the tenant already has a message with its id.
    pub fn outbox_put(&self, m: &Message) -> Result<(), StoreError> {
        let fence = self.fence_for(m.tenant.as_str())?;
        check_id(&m.id)?;
        let (json, due) = (message_encode(m)?, due(m));
        let (tenant, id) = (m.tenant.to_string(), m.id.clone());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO outbox (tenant, id, message, due) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT DO NOTHING",
                    )
                    .await?;
                if c.execute(&stmt, &[&tenant, &id.as_bytes(), &json, &due]).await? == 0 {
                    return Err(StoreError::Backend(format!("message {id} of {tenant} already exists")));
                }
                Ok(())
            })
        })
    }

    /// One message of `tenant`; `None` when `tenant` has no message `id`
    /// (whether or not another tenant has).
    pub fn outbox_get(&self, tenant: &TenantId, id: &str) -> Result<Option<Message>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let (tenant, id) = (tenant.to_string(), id.as_bytes().to_vec());
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT message FROM outbox WHERE tenant = $1 AND id = $2").await?;
                let row = c.query_opt(&stmt, &[&tenant, &id]).await?;
                row.map(|r| message_decode(&tenant, &id, r.get(0))).transpose()
            })
        })
    }

    /// Up to `limit` messages of `tenant` whose id comes after `after`
    /// (bytewise; `""`: from the first), in id order.
    pub fn outbox_list(
        &self,
        tenant: &TenantId,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (tenant, limit) = (tenant.to_string(), i64::try_from(limit).unwrap_or(i64::MAX));
        let after = after.as_bytes().to_vec();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT id, message FROM outbox WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3",
                    )
                    .await?;
                let rows = c.query(&stmt, &[&tenant, &after, &limit]).await?;
                rows.iter().map(|r| message_decode(&tenant, r.get(0), r.get(1))).collect()
            })
        })
    }

    /// Up to `limit` pending messages whose `next_attempt` is at or before
    /// `now`, over all tenants, soonest due first. (For the delivery worker
    /// only: it is the one read not scoped to a tenant.) A corrupt record is
    /// logged and skipped rather than stopping every tenant's delivery, and
    /// does not count against `limit`.
    pub fn outbox_due(&self, now: u64, limit: usize) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let batch = i32::try_from(limit).unwrap_or(i32::MAX).min(128);
        let params: Vec<Box<dyn ToSql + Send + Sync>> = vec![Box::new(ordered(now))];
        self.scan(
            "SELECT tenant, id, message, due FROM outbox WHERE due IS NOT NULL AND due <= $1 \
             ORDER BY due, tenant, id",
            params,
            batch,
            |rows| {
                for row in rows {
                    let at: i64 = row.get(3);
                    match message_decode(row.get(0), row.get(1), row.get(2)) {
                        Ok(m) if m.state == MessageState::Pending && ordered(m.next_attempt) == at => {
                            out.push(m)
                        }
                        Ok(m) => tracing::error!(tenant = %m.tenant, id = %m.id, "outbox: a stale due entry"),
                        Err(e) => tracing::error!(error = %e, "outbox: skipping a message"),
                    }
                    if out.len() >= limit {
                        return false;
                    }
                }
                true
            },
        )?;
        Ok(out)
    }

    /// Replaces a stored message (same tenant and id) with `m`, durably,
    /// moving or dropping its due-index entry to match `m`'s state and
    /// `next_attempt`. Fails if there is no such message.
    pub fn outbox_update(&self, m: &Message) -> Result<(), StoreError> {
        self.outbox_replace(m, None).map(drop)
    }

    /// Leases a due message to one delivery worker: if the stored message
    /// is still exactly `m`, sets its `next_attempt` to `until` (so no other
    /// worker picks it up meanwhile, and a worker that dies mid-attempt
    /// leaves it due again at `until`) and returns `true`; otherwise changes
    /// nothing and returns `false`.
    pub fn outbox_claim(&self, m: &Message, until: u64) -> Result<bool, StoreError> {
        let claimed = Message { next_attempt: until, ..m.clone() };
        self.outbox_replace(&claimed, Some(m))
    }

    /// Leases a batch in one transaction: the due rows no other worker
    /// holds, locked (`SKIP LOCKED`), moved to `until` in one statement.
    pub fn outbox_claim_due(&self, now: u64, until: u64, limit: usize) -> Result<Vec<Message>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.transact(move |tx| {
            Box::pin(async move {
                let stmt = tx
                    .prepare_cached(
                        "SELECT tenant, id, message, due FROM outbox WHERE due IS NOT NULL AND due <= $1 \
                         ORDER BY due, tenant, id LIMIT $2 FOR UPDATE SKIP LOCKED",
                    )
                    .await?;
                let rows = tx.query(&stmt, &[&ordered(now), &limit]).await?;
                let mut claimed = Vec::with_capacity(rows.len());
                let (mut tenants, mut ids, mut jsons, mut dues) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for row in rows {
                    let at: i64 = row.get(3);
                    match message_decode(row.get(0), row.get(1), row.get(2)) {
                        Ok(m) if m.state == MessageState::Pending && ordered(m.next_attempt) == at => {
                            let m = Message { next_attempt: until, ..m };
                            tenants.push(m.tenant.to_string());
                            ids.push(m.id.as_bytes().to_vec());
                            jsons.push(message_encode(&m)?);
                            dues.push(due(&m));
                            claimed.push(m);
                        }
                        Ok(m) => tracing::error!(tenant = %m.tenant, id = %m.id, "outbox: a stale due entry"),
                        Err(e) => tracing::error!(error = %e, "outbox: skipping a message"),
                    }
                }
                if !claimed.is_empty() {
                    let stmt = tx
                        .prepare_cached(
                            "UPDATE outbox o SET message = v.message, due = v.due \
                             FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bigint[]) \
                             AS v(tenant, id, message, due) WHERE o.tenant = v.tenant AND o.id = v.id",
                        )
                        .await?;
                    tx.execute(&stmt, &[&tenants, &ids, &jsons, &dues]).await?;
                }
                Ok(claimed)
            })
        })
    }

    /// An attempt's outcome, written only over the message as leased.
    pub fn outbox_settle(&self, leased: &Message, outcome: &Message) -> Result<bool, StoreError> {
        self.outbox_replace(outcome, Some(leased))
    }

    /// Writes `m` over the stored message with its tenant and id, if there is
    /// one and (when `expected` is given) it equals `expected`; a missing
    /// message is an error without `expected`, `false` with it.
    fn outbox_replace(&self, m: &Message, expected: Option<&Message>) -> Result<bool, StoreError> {
        check_id(&m.id)?;
        let (json, due) = (message_encode(m)?, due(m));
        let (tenant, id, expected) = (m.tenant.to_string(), m.id.clone(), expected.cloned());
        self.transact(move |tx| {
            Box::pin(async move {
                let stmt = tx
                    .prepare_cached("SELECT message FROM outbox WHERE tenant = $1 AND id = $2 FOR UPDATE")
                    .await?;
                let Some(row) = tx.query_opt(&stmt, &[&tenant, &id.as_bytes()]).await? else {
                    if expected.is_some() {
                        return Ok(false);
                    }
                    return Err(StoreError::Backend(format!("message {id} of {tenant} does not exist")));
                };
                let old = message_decode(&tenant, id.as_bytes(), row.get(0))?;
                if expected.is_some_and(|e| e != old) {
                    return Ok(false);
                }
                let stmt = tx
                    .prepare_cached("UPDATE outbox SET message = $3, due = $4 WHERE tenant = $1 AND id = $2")
                    .await?;
                tx.execute(&stmt, &[&tenant, &id.as_bytes(), &json, &due]).await?;
                Ok(true)
            })
        })
    }
}
