//! Agents, their sessions and their model usage.
//!
//! - `agents(tenant, name, spec)`: the agent (JSON);
//! - `sessions(tenant, key, session)`, key `agent \0 peer`: the history;
//! - `llm_usage(tenant, key, usage)`, key `agent \0 model \0 YYYY-MM-DD`:
//!   the day's model usage (JSON).
//!
//! Removing an agent removes its sessions (not its usage: that is billing).

use super::{PgBackend, StoreError, merge_row, prefix_upper};
use crate::ids::{TenantId, UserId};
use crate::records::{AgentSpec, LlmUsage, Session};
use crate::store::LlmUsageRow;

/// The parts joined by `\0`, as redb's keys are (after the tenant).
fn key(parts: &[&str]) -> Vec<u8> {
    parts.iter().map(|p| p.as_bytes()).collect::<Vec<_>>().join(&0u8)
}

fn decode<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
    super::codec::decode(what, json)
}

async fn add_usage(
    tx: &super::Transaction<'_>,
    tenant: &str,
    agent: &str,
    usage: &[(String, String, LlmUsage)],
) -> Result<(), StoreError> {
    for (model, day, delta) in usage {
        let k = key(&[agent, model, day]);
        let merge = |total: &mut LlmUsage| total.merge(delta);
        merge_row(tx, ("llm_usage", "key", "usage"), tenant, &k, merge).await?;
    }
    Ok(())
}

impl PgBackend {
    /// Stores an agent; with `create`, `Ok(false)` (nothing written) when the
    /// tenant has one of that name already.
    pub fn agent_put(&self, tenant: &TenantId, agent: &AgentSpec, create: bool) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let json = super::codec::encode(agent)?;
        let (tenant, name) = (tenant.to_string(), agent.name.as_bytes().to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let sql = if create {
                    "INSERT INTO agents (tenant, name, spec) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
                } else {
                    "INSERT INTO agents (tenant, name, spec) VALUES ($1, $2, $3) \
                     ON CONFLICT (tenant, name) DO UPDATE SET spec = EXCLUDED.spec"
                };
                let stmt = c.prepare_cached(sql).await?;
                Ok(c.execute(&stmt, &[&tenant, &name, &json]).await? == 1)
            })
        })
    }

    /// One agent of a tenant.
    pub fn agent(&self, tenant: &TenantId, name: &str) -> Result<Option<AgentSpec>, StoreError> {
        let (tenant, name) = (tenant.to_string(), name.as_bytes().to_vec());
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT spec FROM agents WHERE tenant = $1 AND name = $2").await?;
                c.query_opt(&stmt, &[&tenant, &name]).await?.map(|r| decode("agent", r.get(0))).transpose()
            })
        })
    }

    /// A tenant's agents, by name.
    pub fn agents(&self, tenant: &TenantId) -> Result<Vec<AgentSpec>, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT spec FROM agents WHERE tenant = $1 ORDER BY name").await?;
                c.query(&stmt, &[&tenant]).await?.iter().map(|r| decode("agent", r.get(0))).collect()
            })
        })
    }

    /// Removes an agent and its sessions in one transaction; whether it
    /// existed.
    pub fn agent_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, agent) = (tenant.to_string(), name.as_bytes().to_vec());
        let mut sessions = agent.clone();
        sessions.push(0);
        // `agent \0` + one: a name's sessions are a byte range.
        let upper = prefix_upper(&sessions);
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt = tx.prepare_cached("DELETE FROM agents WHERE tenant = $1 AND name = $2").await?;
                let existed = tx.execute(&stmt, &[&tenant, &agent]).await? > 0;
                match upper {
                    Some(upper) => {
                        let stmt = tx
                            .prepare_cached(
                                "DELETE FROM sessions WHERE tenant = $1 AND key >= $2 AND key < $3",
                            )
                            .await?;
                        tx.execute(&stmt, &[&tenant, &sessions, &upper]).await?;
                    }
                    None => {
                        let stmt =
                            tx.prepare_cached("DELETE FROM sessions WHERE tenant = $1 AND key >= $2").await?;
                        tx.execute(&stmt, &[&tenant, &sessions]).await?;
                    }
                }
                Ok(existed)
            })
        })
    }

    /// The session of `peer` with an agent, if it has one.
    pub fn session(
        &self,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
    ) -> Result<Option<Session>, StoreError> {
        let (tenant, k) = (tenant.to_string(), key(&[agent, peer.as_str()]));
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT session FROM sessions WHERE tenant = $1 AND key = $2").await?;
                c.query_opt(&stmt, &[&tenant, &k]).await?.map(|r| decode("session", r.get(0))).transpose()
            })
        })
    }

    /// Up to `limit` sessions of an agent whose peer comes after `after`,
    /// in peer order.
    pub fn sessions(
        &self,
        tenant: &TenantId,
        agent: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<(UserId, Session)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut prefix = key(&[agent]);
        prefix.push(0);
        let upper = prefix_upper(&prefix).unwrap_or_default();
        let (tenant, start) = (tenant.to_string(), key(&[agent, after]));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT key, session FROM sessions WHERE tenant = $1 AND key > $2 AND key < $3 \
                         ORDER BY key LIMIT $4",
                    )
                    .await?;
                let rows = c.query(&stmt, &[&tenant, &start, &upper, &limit]).await?;
                rows.iter()
                    .map(|r| {
                        let k: &[u8] = r.get(0);
                        let peer =
                            k.strip_prefix(prefix.as_slice()).and_then(|p| std::str::from_utf8(p).ok());
                        let peer = peer
                            .and_then(|p| UserId::parse(p).ok())
                            .ok_or_else(|| StoreError::Backend("a session's peer is not a user id".into()))?;
                        Ok((peer, decode("session", r.get(1))?))
                    })
                    .collect()
            })
        })
    }

    /// Stores a session and adds a turn's model usage, in one durable
    /// transaction (a turn is saved whole or not at all). Refused (nothing
    /// written) if the agent was removed meanwhile.
    pub fn session_save(
        &self,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
        session: &Session,
        usage: &[(String, String, LlmUsage)],
    ) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let json = super::codec::encode(session)?;
        let (tenant, agent, k, usage) =
            (tenant.to_string(), agent.to_string(), key(&[agent, peer.as_str()]), usage.to_vec());
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                // Shared-locks the agent: a removal waits for this turn,
                // then removes its session with the others.
                let stmt = tx
                    .prepare_cached("SELECT 1 FROM agents WHERE tenant = $1 AND name = $2 FOR SHARE")
                    .await?;
                if tx.query_opt(&stmt, &[&tenant, &agent.as_bytes()]).await?.is_none() {
                    return Ok(false);
                }
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO sessions (tenant, key, session) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, key) DO UPDATE SET session = EXCLUDED.session",
                    )
                    .await?;
                tx.execute(&stmt, &[&tenant, &k, &json]).await?;
                add_usage(tx, &tenant, &agent, &usage).await?;
                Ok(true)
            })
        })
    }

    /// Adds model usage (model, day, delta) of an agent (a failed turn's
    /// usage is billed too).
    pub fn llm_usage_add(
        &self,
        tenant: &TenantId,
        agent: &str,
        usage: &[(String, String, LlmUsage)],
    ) -> Result<(), StoreError> {
        let (tenant, agent, usage) = (tenant.to_string(), agent.to_string(), usage.to_vec());
        self.transact(move |tx| Box::pin(async move { add_usage(tx, &tenant, &agent, &usage).await }))
    }

    /// Removes a session; whether it existed.
    pub fn session_remove(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, k) = (tenant.to_string(), key(&[agent, peer.as_str()]));
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("DELETE FROM sessions WHERE tenant = $1 AND key = $2").await?;
                Ok(c.execute(&stmt, &[&tenant, &k]).await? > 0)
            })
        })
    }

    /// A tenant's model usage on or after `since_day` (`YYYY-MM-DD`), by
    /// agent, model and day.
    pub fn llm_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<LlmUsageRow>, StoreError> {
        let (tenant, since) = (tenant.to_string(), since_day.to_string());
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT key, usage FROM llm_usage WHERE tenant = $1 ORDER BY key")
                    .await?;
                let mut out = Vec::new();
                for row in c.query(&stmt, &[&tenant]).await? {
                    let k: &[u8] = row.get(0);
                    let parts: Vec<&[u8]> = k.split(|b| *b == 0).collect();
                    let [agent, model, day] = parts.as_slice() else { continue };
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    let day = text(day);
                    if day < since {
                        continue;
                    }
                    out.push(LlmUsageRow {
                        agent: text(agent),
                        model: text(model),
                        day,
                        usage: decode("usage", row.get(1))?,
                    });
                }
                Ok(out)
            })
        })
    }
}
