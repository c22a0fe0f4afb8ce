//! Agents, their sessions and their model usage.
//!
//! - `agents`: `tenant \0 agent` → the agent (JSON).
//! - `sessions`: `tenant \0 agent \0 peer` → the session's history (JSON).
//! - `llm_usage`: `tenant \0 agent \0 model \0 YYYY-MM-DD` → the day's
//!   model usage (JSON), so a month's tokens are a range read.
//!
//! Removing an agent removes its sessions (not its usage: that is billing).

use super::RedbBackend;
use super::{remove_prefixed, tenant_prefix};
use crate::ids::{TenantId, UserId};
use crate::records::{AgentSpec, LlmUsage, Session};
use crate::store::{LlmUsageRow, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

const AGENTS: TableDefinition<&[u8], &str> = TableDefinition::new("agents");
const SESSIONS: TableDefinition<&[u8], &str> = TableDefinition::new("sessions");
const LLM_USAGE: TableDefinition<&[u8], &str> = TableDefinition::new("llm_usage");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(AGENTS)?;
    txn.open_table(SESSIONS)?;
    txn.open_table(LLM_USAGE)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    let prefix = tenant_prefix(tenant);
    remove_prefixed(&mut txn.open_table(AGENTS)?, &prefix)?;
    remove_prefixed(&mut txn.open_table(SESSIONS)?, &prefix)?;
    remove_prefixed(&mut txn.open_table(LLM_USAGE)?, &prefix)?;
    Ok(())
}

fn key(parts: &[&str]) -> Vec<u8> {
    let mut k = Vec::new();
    for p in parts {
        k.extend_from_slice(p.as_bytes());
        k.push(0);
    }
    k.pop();
    k
}

fn encode<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

fn decode<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored {what} is corrupt: {e}")))
}

impl RedbBackend {
    /// Stores an agent; with `create`, `Ok(false)` (nothing written) when the
    /// tenant has one of that name already.
    pub(super) fn agent_put(
        &self,
        tenant: &TenantId,
        agent: &AgentSpec,
        create: bool,
    ) -> Result<bool, StoreError> {
        let k = key(&[tenant.as_str(), &agent.name]);
        let json = encode(agent)?;
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(AGENTS)?;
            if create && table.get(k.as_slice())?.is_some() {
                return Ok(false);
            }
            table.insert(k.as_slice(), json.as_str())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// One agent of a tenant.
    pub(super) fn agent(&self, tenant: &TenantId, name: &str) -> Result<Option<AgentSpec>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(AGENTS)?;
        let v = table.get(key(&[tenant.as_str(), name]).as_slice())?;
        v.map(|v| decode("agent", v.value())).transpose()
    }

    /// A tenant's agents, by name.
    pub(super) fn agents(&self, tenant: &TenantId) -> Result<Vec<AgentSpec>, StoreError> {
        let txn = self.db.begin_read()?;
        super::values_prefixed(&txn.open_table(AGENTS)?, &tenant_prefix(tenant), |v| decode("agent", v))
    }

    /// Removes an agent and its sessions in one transaction; whether it
    /// existed.
    pub(super) fn agent_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = txn.open_table(AGENTS)?.remove(key(&[tenant.as_str(), name]).as_slice())?.is_some();
        let mut sessions = key(&[tenant.as_str(), name]);
        sessions.push(0);
        remove_prefixed(&mut txn.open_table(SESSIONS)?, &sessions)?;
        txn.commit()?;
        Ok(existed)
    }

    /// The session of `peer` with an agent, if it has one.
    pub(super) fn session(
        &self,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
    ) -> Result<Option<Session>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SESSIONS)?;
        let v = table.get(key(&[tenant.as_str(), agent, peer.as_str()]).as_slice())?;
        v.map(|v| decode("session", v.value())).transpose()
    }

    /// Up to `limit` sessions of an agent whose peer comes after `after`,
    /// in peer order.
    pub(super) fn sessions(
        &self,
        tenant: &TenantId,
        agent: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(UserId, Session)>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut prefix = key(&[tenant.as_str(), agent]);
        prefix.push(0);
        // Peers are never empty: excluding `tenant \0 agent \0` loses none.
        let start = key(&[tenant.as_str(), agent, after]);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SESSIONS)?;
        let range = (std::ops::Bound::Excluded(start.as_slice()), std::ops::Bound::Unbounded);
        for item in table.range::<&[u8]>(range)? {
            let (k, v) = item?;
            let Some(peer) = k.value().strip_prefix(prefix.as_slice()) else { break };
            let peer = std::str::from_utf8(peer).ok().and_then(|p| UserId::parse(p).ok());
            let peer = peer.ok_or_else(|| StoreError::Backend("a session's peer is not a user id".into()))?;
            out.push((peer, decode("session", v.value())?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Stores a session and adds a turn's model usage, in one durable
    /// transaction (a turn is saved whole or not at all). Refused (nothing
    /// written) if the agent was removed meanwhile.
    pub(super) fn session_save(
        &self,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
        session: &Session,
        usage: &[(String, String, LlmUsage)],
    ) -> Result<bool, StoreError> {
        let json = encode(session)?;
        let txn = self.db.begin_write()?;
        {
            if txn.open_table(AGENTS)?.get(key(&[tenant.as_str(), agent]).as_slice())?.is_none() {
                return Ok(false);
            }
            txn.open_table(SESSIONS)?
                .insert(key(&[tenant.as_str(), agent, peer.as_str()]).as_slice(), json.as_str())?;
            add_usage(&txn, tenant, agent, usage)?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// Adds model usage (model, day, delta) of an agent (a failed turn's
    /// usage is billed too).
    pub(super) fn llm_usage_add(
        &self,
        tenant: &TenantId,
        agent: &str,
        usage: &[(String, String, LlmUsage)],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        add_usage(&txn, tenant, agent, usage)?;
        txn.commit()?;
        Ok(())
    }

    /// Removes a session; whether it existed.
    pub(super) fn session_remove(
        &self,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = txn
            .open_table(SESSIONS)?
            .remove(key(&[tenant.as_str(), agent, peer.as_str()]).as_slice())?
            .is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// A tenant's model usage on or after `since_day` (`YYYY-MM-DD`), by
    /// agent, model and day.
    pub(super) fn llm_usage(
        &self,
        tenant: &TenantId,
        since_day: &str,
    ) -> Result<Vec<LlmUsageRow>, StoreError> {
        let prefix = tenant_prefix(tenant);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(LLM_USAGE)?;
        let mut out = Vec::new();
        for item in table.range(prefix.as_slice()..)? {
            let (k, v) = item?;
            let Some(rest) = k.value().strip_prefix(prefix.as_slice()) else { break };
            let parts: Vec<&[u8]> = rest.split(|b| *b == 0).collect();
            let [agent, model, day] = parts.as_slice() else { continue };
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let day = text(day);
            if day.as_str() < since_day {
                continue;
            }
            out.push(LlmUsageRow {
                agent: text(agent),
                model: text(model),
                day,
                usage: decode("usage", v.value())?,
            });
        }
        Ok(out)
    }
}

fn add_usage(
    txn: &WriteTransaction,
    tenant: &TenantId,
    agent: &str,
    usage: &[(String, String, LlmUsage)],
) -> Result<(), StoreError> {
    let mut table = txn.open_table(LLM_USAGE)?;
    for (model, day, delta) in usage {
        let k = key(&[tenant.as_str(), agent, model, day]);
        let mut total: LlmUsage = match table.get(k.as_slice())? {
            Some(v) => decode("usage", v.value())?,
            None => LlmUsage::default(),
        };
        total.merge(delta);
        table.insert(k.as_slice(), encode(&total)?.as_str())?;
    }
    Ok(())
}
