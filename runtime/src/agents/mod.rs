//! Agents: a tenant's conversational front to its skills.
//!
//! An agent ([`AgentSpec`]) names a provider and model, a system prompt, the
//! skills it may call as tools and its limits. A session is (tenant, agent,
//! peer): its history ([`Session`]) is stored whole after each turn and
//! trimmed to the agent's token budget. The peer is the call's user, so a
//! skill called as a tool sees that peer's own memory scope. The loop
//! itself is in [`turn`].

mod turn;

pub use turn::{AgentReply, ToolReport};

use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::llm::Turn;
use crate::ratelimit::RateLimiter;
use crate::runtime::Runtime;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Longest system prompt, in bytes.
pub const MAX_SYSTEM_PROMPT: usize = 32 * 1024;
/// Most skills one agent may call.
pub const MAX_TOOLS: usize = 64;
/// Most tool steps a turn may be allowed.
pub const MAX_STEPS: u32 = 32;
/// Most tool calls one model reply may be allowed to run.
pub const MAX_TOOL_CALLS_PER_REPLY: u32 = 64;
/// Most tool calls one turn may be allowed to run.
pub const MAX_TOOL_CALLS_PER_TURN: u32 = 256;
/// Longest message a peer may send, in bytes.
pub const MAX_MESSAGE: usize = 32 * 1024;

/// An agent, as its tenant's admin defines it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Its name within the tenant (`a-z`, `0-9`, `-`; 1 to 63).
    pub name: String,
    /// The system prompt.
    #[serde(default)]
    pub system_prompt: String,
    /// The provider, by the name the operator configured it under.
    pub provider: String,
    /// The model, as the provider names it.
    pub model: String,
    /// The tenant secret holding the provider's API key; when absent the
    /// operator's key is used (and billed to the tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
    /// The installed skills it may call as tools.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Most tool steps (model answers asking for tools) in one turn.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// Most tool calls run from one model reply; the reply's further calls
    /// are answered to the model as refused (`limit-exceeded`).
    #[serde(default = "default_max_tool_calls_per_reply")]
    pub max_tool_calls_per_reply: u32,
    /// Most tool calls run in one turn, over all its replies; further calls
    /// are answered to the model as refused (`limit-exceeded`).
    #[serde(default = "default_max_tool_calls_per_turn")]
    pub max_tool_calls_per_turn: u32,
    /// Most tokens one model answer may have.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// The session history kept, in (estimated) tokens.
    #[serde(default = "default_history_tokens")]
    pub history_tokens: u64,
}

fn default_max_steps() -> u32 {
    8
}

fn default_max_tool_calls_per_reply() -> u32 {
    16
}

fn default_max_tool_calls_per_turn() -> u32 {
    64
}

fn default_max_tokens() -> u32 {
    1024
}

fn default_history_tokens() -> u64 {
    8000
}

/// Whether `s` may name an agent or a channel: 1 to 63 of `a-z`, `0-9`
/// and `-`, not starting or ending with `-` (the rule of tenant ids).
pub(crate) fn valid_name(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

impl AgentSpec {
    /// Checks every field's bounds, naming the first one out of them.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_name(&self.name) {
            return Err(format!(
                "agent name {:?}: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'",
                self.name.chars().take(80).collect::<String>()
            ));
        }
        if self.system_prompt.len() > MAX_SYSTEM_PROMPT {
            return Err(format!("system_prompt is longer than {MAX_SYSTEM_PROMPT} bytes"));
        }
        if self.model.is_empty() || self.model.len() > 128 || self.model.chars().any(char::is_control) {
            return Err("model: 1 to 128 characters, no control characters".into());
        }
        if let Some(s) = &self.api_key_secret
            && !crate::manifest::valid_secret_name(s)
        {
            return Err(
                "api_key_secret: a secret name (1 to 64 of A-Z, 0-9 and _, starting with a letter)".into()
            );
        }
        if self.skills.len() > MAX_TOOLS {
            return Err(format!("skills: at most {MAX_TOOLS}"));
        }
        for s in &self.skills {
            if !crate::manifest::valid_skill_name(s) {
                return Err(format!(
                    "skills: {:?} is not a skill name",
                    s.chars().take(80).collect::<String>()
                ));
            }
        }
        if !(1..=MAX_STEPS).contains(&self.max_steps) {
            return Err(format!("max_steps: 1 to {MAX_STEPS}"));
        }
        if !(1..=MAX_TOOL_CALLS_PER_REPLY).contains(&self.max_tool_calls_per_reply) {
            return Err(format!("max_tool_calls_per_reply: 1 to {MAX_TOOL_CALLS_PER_REPLY}"));
        }
        if !(1..=MAX_TOOL_CALLS_PER_TURN).contains(&self.max_tool_calls_per_turn) {
            return Err(format!("max_tool_calls_per_turn: 1 to {MAX_TOOL_CALLS_PER_TURN}"));
        }
        if !(16..=65_536).contains(&self.max_tokens) {
            return Err("max_tokens: 16 to 65536".into());
        }
        if !(256..=1_000_000).contains(&self.history_tokens) {
            return Err("history_tokens: 256 to 1000000".into());
        }
        Ok(())
    }
}

/// A session's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Its turns, oldest first.
    pub turns: Vec<Turn>,
    /// When it last changed, seconds since the Unix epoch.
    pub updated: u64,
}

impl Session {
    /// Drops the oldest turns until the rest fit in `budget` estimated
    /// tokens, cutting only before a user turn (so a tool call is never
    /// separated from its result). The newest user turn is always kept.
    pub fn trim(&mut self, budget: u64) {
        let mut total: u64 = self.turns.iter().map(Turn::estimated_tokens).sum();
        let mut cut = 0;
        while total > budget {
            let Some(next) = self.turns[cut + 1..].iter().position(|t| matches!(t, Turn::User { .. })) else {
                break;
            };
            let next = cut + 1 + next;
            total -= self.turns[cut..next].iter().map(Turn::estimated_tokens).sum::<u64>();
            cut = next;
        }
        self.turns.drain(..cut);
    }
}

/// Model usage of an agent (per model and day, in the store).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmUsage {
    /// Messages answered (turns), successful or not.
    pub turns: u64,
    /// Requests sent to the provider.
    pub requests: u64,
    /// Input (prompt) tokens.
    pub input_tokens: u64,
    /// Output (completion) tokens.
    pub output_tokens: u64,
    /// Skills called as tools.
    pub tool_calls: u64,
    /// Turns that failed (provider error, step limit).
    pub errors: u64,
    /// Fuel of the tool calls that returned (a failed call's fuel is in
    /// its skill's usage only).
    pub tool_fuel: u64,
    /// Wall-clock time of the turns, microseconds.
    pub wall_us: u64,
}

impl LlmUsage {
    /// Adds `d`.
    pub fn merge(&mut self, d: &LlmUsage) {
        self.turns += d.turns;
        self.requests += d.requests;
        self.input_tokens += d.input_tokens;
        self.output_tokens += d.output_tokens;
        self.tool_calls += d.tool_calls;
        self.errors += d.errors;
        self.tool_fuel += d.tool_fuel;
        self.wall_us += d.wall_us;
    }
}

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

/// The runtime's agent state: one lock per live session (turns of one
/// session run one at a time) and the per-tenant message rate.
pub(crate) struct AgentState {
    sessions: Mutex<HashMap<SessionKey, Arc<tokio::sync::Mutex<()>>>>,
    pub(crate) rate: RateLimiter,
    pub(crate) http: reqwest::Client,
}

impl AgentState {
    pub(crate) fn new(clock: crate::clock::SharedClock) -> Self {
        AgentState {
            sessions: Mutex::new(HashMap::new()),
            rate: RateLimiter::new(clock),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
        }
    }

    /// The lock of one session.
    fn lock(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        // Forget locks nobody holds, so the map stays as small as the live sessions.
        if map.len() > 1024 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry((tenant.clone(), agent.to_string(), peer.clone())).or_default().clone()
    }
}

impl Runtime {
    /// Creates (`create`) or replaces an agent of `tenant`: the provider must
    /// be configured and every skill installed.
    pub fn agent_put(
        &self,
        actor: &str,
        tenant: &TenantId,
        spec: &AgentSpec,
        create: bool,
    ) -> Result<(), Error> {
        self.tenant(tenant)?;
        spec.validate().map_err(Error::InvalidInput)?;
        if !self.inner.config.providers.contains_key(&spec.provider) {
            let known: Vec<&str> = self.inner.config.providers.keys().map(String::as_str).collect();
            return Err(Error::InvalidInput(format!(
                "provider {:?} is not configured (configured: {})",
                spec.provider,
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
        for skill in &spec.skills {
            self.installed_skill(tenant, skill)?;
        }
        if !create && self.inner.db.agent(tenant, &spec.name)?.is_none() {
            return Err(Error::NotFound(format!("tenant {tenant} has no agent {}", spec.name)));
        }
        if !self.inner.db.agent_put(tenant, spec, create)? {
            return Err(Error::Conflict(format!("tenant {tenant} already has an agent {}", spec.name)));
        }
        self.record(
            actor,
            Some(tenant),
            if create { "agent.create" } else { "agent.update" },
            &spec.name,
            "ok",
        );
        Ok(())
    }

    /// One agent of `tenant`.
    pub fn agent(&self, tenant: &TenantId, name: &str) -> Result<AgentSpec, Error> {
        self.inner
            .db
            .agent(tenant, name)?
            .ok_or_else(|| Error::NotFound(format!("tenant {tenant} has no agent {name}")))
    }

    /// The agents of `tenant`, by name.
    pub fn agents(&self, tenant: &TenantId) -> Result<Vec<AgentSpec>, Error> {
        self.tenant(tenant)?;
        Ok(self.inner.db.agents(tenant)?)
    }

    /// Removes an agent and every session with it.
    pub fn agent_remove(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        if !self.inner.db.agent_remove(tenant, name)? {
            return Err(Error::NotFound(format!("tenant {tenant} has no agent {name}")));
        }
        self.record(actor, Some(tenant), "agent.remove", name, "ok");
        Ok(())
    }

    /// The history of `peer`'s session with an agent (empty when it has
    /// none), scrubbed of the tenant's secrets.
    pub fn session(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Result<Session, Error> {
        self.agent(tenant, agent)?;
        let session = self.inner.db.session(tenant, agent, peer)?.unwrap_or_default();
        // What the model and the tools said, scrubbed of the tenant's secrets.
        let mut v = serde_json::to_value(&session).map_err(|e| Error::Internal(format!("a session: {e}")))?;
        self.scrub_json(tenant, &mut v);
        serde_json::from_value(v).map_err(|e| Error::Internal(format!("a session: {e}")))
    }

    /// `tenant`'s model usage from the day of `since` (seconds since the
    /// Unix epoch) on, by agent, model and day, priced by the rate card.
    pub fn model_usage(&self, tenant: &TenantId, since: u64) -> Result<Vec<ModelUsage>, Error> {
        self.tenant(tenant)?;
        let card = &self.inner.config.rate_card;
        let rows = self.inner.db.llm_usage(tenant, &turn::day_of(since))?;
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
    pub fn session_remove(
        &self,
        actor: &str,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
    ) -> Result<(), Error> {
        self.agent(tenant, agent)?;
        if !self.inner.db.session_remove(tenant, agent, peer)? {
            return Err(Error::NotFound(format!("agent {agent} has no session with {peer}")));
        }
        self.record(actor, Some(tenant), "session.remove", &format!("{agent}/{peer}"), "ok");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AgentSpec {
        serde_json::from_value(serde_json::json!({"name": "helper", "provider": "p", "model": "m"})).unwrap()
    }

    #[test]
    fn defaults_are_valid_and_each_bound_is_checked() {
        assert!(spec().validate().is_ok());
        type Change = fn(&mut AgentSpec);
        let bad: Vec<(Change, &str)> = vec![
            (|s| s.name = "Helper".into(), "agent name"),
            (|s| s.name = "-x".into(), "agent name"),
            (|s| s.model = String::new(), "model"),
            (|s| s.system_prompt = "x".repeat(MAX_SYSTEM_PROMPT + 1), "system_prompt"),
            (|s| s.skills = vec!["../etc".into()], "skills"),
            (|s| s.max_steps = 0, "max_steps"),
            (|s| s.max_steps = MAX_STEPS + 1, "max_steps"),
            (|s| s.max_tool_calls_per_reply = 0, "max_tool_calls_per_reply"),
            (|s| s.max_tool_calls_per_reply = MAX_TOOL_CALLS_PER_REPLY + 1, "max_tool_calls_per_reply"),
            (|s| s.max_tool_calls_per_turn = 0, "max_tool_calls_per_turn"),
            (|s| s.max_tool_calls_per_turn = MAX_TOOL_CALLS_PER_TURN + 1, "max_tool_calls_per_turn"),
            (|s| s.max_tokens = 1, "max_tokens"),
            (|s| s.history_tokens = 10, "history_tokens"),
            (|s| s.api_key_secret = Some(String::new()), "api_key_secret"),
        ];
        for (change, field) in bad {
            let mut s = spec();
            change(&mut s);
            let e = s.validate().unwrap_err();
            assert!(e.starts_with(field), "{field}: {e}");
        }
        let e = serde_json::from_value::<AgentSpec>(
            serde_json::json!({"name":"a","provider":"p","model":"m","tools":[]}),
        );
        assert!(e.unwrap_err().to_string().contains("tools"));
    }

    fn user(text: &str) -> Turn {
        Turn::User { text: text.into() }
    }

    #[test]
    fn trimming_drops_whole_old_exchanges_and_keeps_the_newest_message() {
        let call = crate::llm::ToolCall { id: "c".into(), name: "notes".into(), arguments: "{}".into() };
        let mut s = Session {
            turns: vec![
                user(&"a".repeat(400)),
                Turn::Assistant { text: None, tool_calls: vec![call] },
                Turn::Tool {
                    call_id: "c".into(),
                    name: "notes".into(),
                    content: "x".repeat(400),
                    is_error: false,
                },
                Turn::Assistant { text: Some("done".into()), tool_calls: vec![] },
                user("b"),
                Turn::Assistant { text: Some("ok".into()), tool_calls: vec![] },
                user(&"c".repeat(4000)),
            ],
            updated: 0,
        };
        let mut all = s.clone();
        all.trim(1_000_000);
        assert_eq!(all.turns.len(), 7, "under budget nothing goes");
        s.trim(300);
        assert_eq!(
            s.turns,
            vec![user(&"c".repeat(4000))],
            "over budget, whole exchanges go, never the newest"
        );
        let mut t = Session { turns: vec![user(&"a".repeat(400)), user("b")], updated: 0 };
        t.trim(50);
        assert_eq!(t.turns, vec![user("b")]);
    }
}
