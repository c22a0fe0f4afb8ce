//! Agents: a tenant's conversational front to its skills.
//!
//! An agent ([`AgentSpec`]) names a provider and model, a system prompt, the
//! skills it may call as tools and its limits. A session is (tenant, agent,
//! peer): its history ([`Session`]) is stored whole after each turn and
//! trimmed to the agent's token budget. The peer is the call's user, so a
//! skill called as a tool sees that peer's own memory scope. The loop
//! itself is in [`turn`].

mod turn;

pub(crate) use turn::Tools;
pub use turn::{AgentReply, MonthSpend, ToolReport};

use crate::clock::SharedClock;
use crate::config::{QuotaConfig, RateCard, RuntimeConfig};
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::llm::ProviderConfig;
use crate::ratelimit::RateLimiter;
use crate::records::{AgentSpec, LlmUsage, Session};
use crate::services::recorder::Recorder;
use crate::services::secrets::SecretService;
use crate::services::skills::SkillService;
use crate::store::Db;
use crate::sync::lock;
use crate::tenants::existing;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Longest message a peer may send, in bytes.
pub const MAX_MESSAGE: usize = 32 * 1024;

/// One day of one agent's use of one model, and its price.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelUsage {
    /// The agent.
    pub agent: String,
    /// The model.
    pub model: String,
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// What was used.
    #[serde(flatten)]
    pub usage: LlmUsage,
    /// Its price by the rate card: the tokens at the model's price, plus
    /// the tool calls' fuel.
    pub cost: f64,
}

/// (tenant, agent, peer).
type SessionKey = (TenantId, String, UserId);

/// The most sessions one page lists.
pub const MAX_SESSION_PAGE: usize = 100;

/// One session as a list shows it: whose, how long, when it last changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionSummary {
    /// The peer (the user within the tenant).
    pub peer: String,
    /// Its turns.
    pub turns: usize,
    /// When it last changed, seconds since the Unix epoch.
    pub updated: u64,
}

/// A page of an agent's sessions ([`crate::Runtime::agent_sessions`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionPage {
    /// The sessions, by peer.
    pub sessions: Vec<SessionSummary>,
    /// The peer to ask for the next page after; `None` at the end.
    pub next: Option<String>,
}

/// The agents service: the tenants' agents and sessions in the database,
/// one lock per live session (turns of one session run one at a time), the
/// per-tenant message rate, and the providers' client. Turns run their
/// tools through [`Tools`] (the runtime).
pub(crate) struct AgentService {
    db: Arc<Db>,
    clock: SharedClock,
    audit: Recorder,
    secrets: Arc<SecretService>,
    skills: Arc<SkillService>,
    providers: BTreeMap<String, ProviderConfig>,
    quotas: QuotaConfig,
    card: RateCard,
    /// The gateway's request timeout: a turn ends a few seconds before.
    request_timeout_secs: u64,
    sessions: Mutex<HashMap<SessionKey, Arc<tokio::sync::Mutex<()>>>>,
    rate: RateLimiter,
    http: reqwest::Client,
}

impl AgentService {
    pub(crate) fn new(
        db: Arc<Db>,
        clock: SharedClock,
        audit: Recorder,
        secrets: Arc<SecretService>,
        skills: Arc<SkillService>,
        config: &RuntimeConfig,
    ) -> Self {
        AgentService {
            db,
            audit,
            secrets,
            skills,
            providers: config.providers.clone(),
            quotas: config.quotas.clone(),
            card: config.rate_card.clone(),
            request_timeout_secs: config.request_timeout_secs,
            sessions: Mutex::new(HashMap::new()),
            rate: RateLimiter::new(clock.clone()),
            clock,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// The client the providers (and the channels' replies) are reached with.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The lock of one session.
    fn lock(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = lock(&self.sessions);
        // Forget locks nobody holds, so the map stays as small as the live sessions.
        if map.len() > 1024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry((tenant.clone(), agent.to_string(), peer.clone())).or_default().clone()
    }
}

impl AgentService {
    /// Creates (`create`) or replaces an agent of `tenant`: the provider must
    /// be configured and every skill installed.
    pub(crate) fn agent_put(
        &self,
        actor: &str,
        tenant: &TenantId,
        spec: &AgentSpec,
        create: bool,
    ) -> Result<(), Error> {
        existing(&self.db, tenant)?;
        spec.validate().map_err(Error::InvalidInput)?;
        if !self.providers.contains_key(&spec.provider) {
            let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
            return Err(Error::InvalidInput(format!(
                "provider {:?} is not configured (configured: {})",
                spec.provider,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
        for skill in &spec.skills {
            self.skills.installed_skill(tenant, skill)?;
        }
        if !create && self.db.agent(tenant, &spec.name)?.is_none() {
            return Err(Error::NotFound(format!("tenant {tenant} has no agent {}", spec.name)));
        }
        if !self.db.agent_put(tenant, spec, create)? {
            return Err(Error::Conflict(format!("tenant {tenant} already has an agent {}", spec.name)));
        }
        self.audit.record(
            actor,
            Some(tenant),
            if create { "agent.create" } else { "agent.update" },
            &spec.name,
            "ok",
        );
        Ok(())
    }

    /// One agent of `tenant`.
    pub(crate) fn agent(&self, tenant: &TenantId, name: &str) -> Result<AgentSpec, Error> {
        self.db
            .agent(tenant, name)?
            .ok_or_else(|| Error::NotFound(format!("tenant {tenant} has no agent {name}")))
    }

    /// The agents of `tenant`, by name.
    pub(crate) fn agents(&self, tenant: &TenantId) -> Result<Vec<AgentSpec>, Error> {
        existing(&self.db, tenant)?;
        Ok(self.db.agents(tenant)?)
    }

    /// Removes an agent and every session with it.
    pub(crate) fn agent_remove(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        if !self.db.agent_remove(tenant, name)? {
            return Err(Error::NotFound(format!("tenant {tenant} has no agent {name}")));
        }
        self.audit.record(actor, Some(tenant), "agent.remove", name, "ok");
        Ok(())
    }

    /// The history of `peer`'s session with an agent (empty when it has
    /// none), scrubbed of the tenant's secrets.
    pub(crate) fn session(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Result<Session, Error> {
        self.agent(tenant, agent)?;
        let session = self.db.session(tenant, agent, peer)?.unwrap_or_default();
        // What the model and the tools said, scrubbed of the tenant's secrets.
        let mut v = serde_json::to_value(&session).map_err(|e| Error::Internal(format!("a session: {e}")))?;
        self.secrets.scrub_json(tenant, &mut v);
        serde_json::from_value(v).map_err(|e| Error::Internal(format!("a session: {e}")))
    }

    /// A page of an agent's sessions: the peers after `after` (in order), at
    /// most `limit`, each with its turns and last change; `next` is the
    /// last peer of a full page.
    pub(crate) fn sessions(
        &self,
        tenant: &TenantId,
        agent: &str,
        after: &str,
        limit: usize,
    ) -> Result<SessionPage, Error> {
        self.agent(tenant, agent)?;
        if limit == 0 || limit > MAX_SESSION_PAGE {
            return Err(Error::InvalidInput(format!("limit: 1 to {MAX_SESSION_PAGE}")));
        }
        if after.len() > 256 {
            return Err(Error::InvalidInput("after: not a peer".into()));
        }
        let rows = self.db.sessions(tenant, agent, after, limit)?;
        let next = (rows.len() == limit).then(|| rows.last().map(|(p, _)| p.as_str().to_string())).flatten();
        let sessions = rows
            .into_iter()
            .map(|(peer, s)| SessionSummary {
                peer: peer.as_str().to_string(),
                turns: s.turns.len(),
                updated: s.updated,
            })
            .collect();
        Ok(SessionPage { sessions, next })
    }

    /// `tenant`'s quota of agent use.
    pub(crate) fn quota(&self, tenant: &TenantId) -> crate::config::Quota {
        *self.quotas.of(tenant.as_str())
    }

    /// `tenant`'s model usage from the day of `since` (seconds since the
    /// Unix epoch) on, by agent, model and day, priced by the rate card.
    pub(crate) fn model_usage(&self, tenant: &TenantId, since: u64) -> Result<Vec<ModelUsage>, Error> {
        existing(&self.db, tenant)?;
        let card = &self.card;
        let rows = self.db.llm_usage(tenant, &turn::day_of(since))?;
        Ok(rows
            .into_iter()
            .map(|r| ModelUsage {
                cost: card.token_cost(&r.model, r.usage.input_tokens, r.usage.output_tokens)
                    + card.cost(0, r.usage.tool_fuel, 0),
                agent: r.agent,
                model: r.model,
                day: r.day,
                usage: r.usage,
            })
            .collect())
    }

    /// Forgets `peer`'s session with an agent.
    pub(crate) fn session_remove(
        &self,
        actor: &str,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
    ) -> Result<(), Error> {
        self.agent(tenant, agent)?;
        if !self.db.session_remove(tenant, agent, peer)? {
            return Err(Error::NotFound(format!("agent {agent} has no session with {peer}")));
        }
        self.audit.record(actor, Some(tenant), "session.remove", &format!("{agent}/{peer}"), "ok");
        Ok(())
    }
}
