//! The runtime's public face for agents and their sessions, and for the
//! channels that feed them.

use crate::agents::{AgentReply, ModelUsage};
use crate::channels::Delivered;
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::records::{AgentSpec, ChannelSpec, Session};
use crate::runtime::Runtime;

impl Runtime {
    // Agents.

    /// Creates (`create`) or replaces an agent of `tenant`: the provider must
    /// be configured and every skill installed.
    pub fn agent_put(
        &self,
        actor: &str,
        tenant: &TenantId,
        spec: &AgentSpec,
        create: bool,
    ) -> Result<(), Error> {
        self.inner.agents.agent_put(actor, tenant, spec, create)
    }

    /// One agent of `tenant`.
    pub fn agent(&self, tenant: &TenantId, name: &str) -> Result<AgentSpec, Error> {
        self.inner.agents.agent(tenant, name)
    }

    /// The agents of `tenant`, by name.
    pub fn agents(&self, tenant: &TenantId) -> Result<Vec<AgentSpec>, Error> {
        self.inner.agents.agents(tenant)
    }

    /// Removes an agent and every session with it.
    pub fn agent_remove(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        self.inner.agents.agent_remove(actor, tenant, name)
    }

    /// A page of an agent's sessions: peers after `after`, at most `limit`.
    pub fn agent_sessions(
        &self,
        tenant: &TenantId,
        agent: &str,
        after: &str,
        limit: usize,
    ) -> Result<crate::agents::SessionPage, Error> {
        self.inner.agents.sessions(tenant, agent, after, limit)
    }

    /// The history of `peer`'s session with an agent (empty when it has
    /// none), scrubbed of the tenant's secrets.
    pub fn session(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Result<Session, Error> {
        self.inner.agents.session(tenant, agent, peer)
    }

    /// `tenant`'s model usage from the day of `since` (seconds since the
    /// Unix epoch) on, by agent, model and day, priced by the rate card.
    pub fn model_usage(&self, tenant: &TenantId, since: u64) -> Result<Vec<ModelUsage>, Error> {
        self.inner.agents.model_usage(tenant, since)
    }

    /// Forgets `peer`'s session with an agent.
    pub fn session_remove(
        &self,
        actor: &str,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
    ) -> Result<(), Error> {
        self.inner.agents.session_remove(actor, tenant, agent, peer)
    }

    /// Takes `peer`'s message to an agent of `tenant` and returns the answer.
    pub async fn agent_message(
        &self,
        actor: &str,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
        text: &str,
    ) -> Result<AgentReply, Error> {
        self.inner.agents.message(self, actor, tenant, agent, peer, text).await
    }

    // Channels.

    /// Adds a channel to `tenant`: its agent must exist, and the secrets it
    /// names must be set.
    pub fn channel_add(&self, actor: &str, tenant: &TenantId, spec: &ChannelSpec) -> Result<(), Error> {
        self.inner.channels.add(actor, tenant, spec)
    }

    /// The channels of `tenant`.
    pub fn channels(&self, tenant: &TenantId) -> Result<Vec<ChannelSpec>, Error> {
        self.inner.channels.list(tenant)
    }

    /// Removes a channel.
    pub fn channel_remove(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        self.inner.channels.remove(actor, tenant, name)
    }

    /// A signed webhook request to channel `name` of `tenant`.
    pub async fn channel_webhook(
        &self,
        tenant: &str,
        name: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<AgentReply, Error> {
        self.inner.channels.webhook(self, tenant, name, timestamp, signature, body).await
    }

    /// A Telegram update to channel `name` of `tenant`.
    pub async fn channel_telegram(
        &self,
        tenant: &str,
        name: &str,
        secret_token: Option<&str>,
        body: &[u8],
    ) -> Result<Delivered, Error> {
        self.inner.channels.telegram(self, tenant, name, secret_token, body).await
    }
}
