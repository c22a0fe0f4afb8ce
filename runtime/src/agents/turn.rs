//! One turn of a session: the peer's message in, the model's answer out,
//! with the skills it asks for run as tools in between.
//!
//! The model asks for a tool → the skill runs as the tenant with the peer as
//! the call's user, in a fresh instance with the tenant's limits → its
//! output (or a typed error) goes back to the model → until the model
//! answers without a tool or the agent's step limit is reached. The session
//! is stored only when the turn ends with an answer; the model usage of
//! every turn is stored, answered or not.

use super::{AgentService, MAX_MESSAGE};
use crate::call::Outcome;
use crate::error::Error;
use crate::host::Call;
use crate::ids::{TenantId, UserId};
use crate::llm::{self, ModelReply, Provider, TokenUsage, ToolSpec};
use crate::records::{AgentSpec, LlmUsage, ToolCall, Turn};
use crate::skill::BoundSkill;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a turn needs of the runtime: a skill bound to its tenant, run as a
/// tool (the runtime's invoke, metered and scrubbed as every call).
pub(crate) trait Tools: Sync {
    /// Runs one call of `bound` with `input`.
    fn invoke(
        &self,
        bound: &BoundSkill,
        call: &Call,
        input: &str,
    ) -> impl std::future::Future<Output = Result<Outcome, Error>> + Send;
}

/// Largest tool output given back to the model, in bytes.
const MAX_TOOL_OUTPUT: usize = 64 * 1024;

/// What a turn answered.
#[derive(Debug, Clone, Serialize)]
pub struct AgentReply {
    /// The model's answer.
    pub reply: String,
    /// Model answers that asked for tools.
    pub steps: u32,
    /// The tools called, in order.
    pub tool_calls: Vec<ToolReport>,
    /// Tokens used by the turn.
    pub usage: TokenUsage,
}

/// One tool call of a turn.
#[derive(Debug, Clone, Serialize)]
pub struct ToolReport {
    /// The skill.
    pub skill: String,
    /// `None` when it succeeded, else the error's kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `YYYY-MM-DD` of a time (UTC). A time past the year 9999 (a `since` a
/// client sent, say) is the last day of 9999, so it still sorts after every
/// stored day instead of growing a fifth digit of year.
pub(crate) fn day_of(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .filter(|t| t.year() <= 9999)
        .map_or_else(|| "9999-12-31".into(), |t| t.format("%Y-%m-%d").to_string())
}

/// The first day of the month of a time.
fn month_of(secs: u64) -> String {
    let mut day = day_of(secs);
    day.replace_range(8.., "01");
    day
}

/// A tenant's model use this month, as its quota counts it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MonthSpend {
    /// Model tokens, input plus output.
    pub tokens: u64,
    /// Their cost by the rate card, tool calls' fuel included.
    pub cost: f64,
}

impl AgentService {
    /// Takes `peer`'s message to an agent of `tenant` and returns the
    /// answer, running the skills it asks for through `runner`.
    pub(crate) async fn message(
        &self,
        runner: &impl Tools,
        actor: &str,
        tenant: &TenantId,
        agent: &str,
        peer: &UserId,
        text: &str,
    ) -> Result<AgentReply, Error> {
        if text.trim().is_empty() {
            return Err(Error::InvalidInput("the message is empty".into()));
        }
        if text.len() > MAX_MESSAGE {
            return Err(Error::TooLarge(format!("the message is longer than {MAX_MESSAGE} bytes")));
        }
        let t = crate::tenants::existing(&self.db, tenant)?;
        if t.suspended {
            return Err(Error::Suspended(format!("tenant {tenant} is suspended")));
        }
        let spec = self.agent(tenant, agent)?;
        self.check_quota(actor, tenant, agent)?;
        let provider = self.provider(&spec)?;
        let key = self.api_key(tenant, &spec)?;
        let lock = self.lock(tenant, agent, peer);
        let _turn = lock.lock().await;

        let now = self.clock.now();
        let started = Instant::now();
        let mut session = self.db.session(tenant, agent, peer)?.unwrap_or_default();
        session.turns.push(Turn::User { text: text.to_string() });
        session.trim(spec.history_tokens);
        let (tools, bound) = self.tools(tenant, &spec).await;
        // A few seconds inside the gateway's request timeout, so the turn
        // ends with its own error (and its usage stored) rather than a 408.
        let budget = self.request_timeout_secs.saturating_sub(5).max(1);
        let deadline = Instant::now() + Duration::from_secs(budget);
        let mut usage = LlmUsage { turns: 1, ..Default::default() };
        let mut reports = Vec::new();
        let mut steps = 0;
        let outcome = 'turn: loop {
            let req = llm::Request {
                model: &spec.model,
                system: &spec.system_prompt,
                turns: &session.turns,
                tools: &tools,
                max_tokens: spec.max_tokens,
            };
            usage.requests += 1;
            let reply: ModelReply = match provider.complete(&req, &key, deadline).await {
                Ok(r) => r,
                Err(e) => {
                    // A provider may echo the key it was sent (the operator's,
                    // for some agents): never pass it on.
                    let message = e.to_string().replace(key.as_str(), "[redacted]");
                    let message = self.secrets.scrub_text(tenant, &message);
                    break Err(Error::Provider(format!("agent {agent} ({}): {message}", spec.provider)));
                }
            };
            usage.input_tokens += reply.usage.input;
            usage.output_tokens += reply.usage.output;
            if reply.tool_calls.is_empty() {
                let answer = reply.text.clone().unwrap_or_default();
                session.turns.push(Turn::Assistant { text: reply.text, tool_calls: Vec::new() });
                break Ok(answer);
            }
            if steps == spec.max_steps {
                break Err(Error::StepLimit(format!(
                    "agent {agent} asked for tools {steps} times without answering (its max_steps)"
                )));
            }
            steps += 1;
            let calls = reply.tool_calls.clone();
            session.turns.push(Turn::Assistant { text: reply.text, tool_calls: reply.tool_calls });
            for (i, c) in calls.into_iter().enumerate() {
                // Between tool calls, not only around model requests: a reply
                // asking for many slow tools cannot outlast the turn.
                if Instant::now() >= deadline {
                    break 'turn Err(Error::StepLimit(format!(
                        "agent {agent}'s turn passed its {budget} s deadline while running tools"
                    )));
                }
                let (content, error, fuel) = match tool_call_refused(&spec, i, usage.tool_calls) {
                    Some(why) => {
                        let body = serde_json::json!({"error": {"kind": "limit-exceeded", "message": why}});
                        (body.to_string(), Some("limit-exceeded".to_string()), 0)
                    }
                    None => {
                        usage.tool_calls += 1;
                        self.run_tool(runner, &bound, peer, &c).await
                    }
                };
                usage.tool_fuel += fuel;
                reports.push(ToolReport { skill: c.name.clone(), error: error.clone() });
                session.turns.push(Turn::Tool {
                    call_id: c.id,
                    name: c.name,
                    content,
                    is_error: error.is_some(),
                });
            }
        };
        usage.wall_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let day = vec![(spec.model.clone(), day_of(now), usage.clone())];
        let tokens = TokenUsage { input: usage.input_tokens, output: usage.output_tokens };
        match outcome {
            Ok(reply) => {
                session.updated = now;
                if !self.db.session_save(tenant, agent, peer, &session, &day)? {
                    return Err(Error::NotFound(format!("agent {agent} was removed during the turn")));
                }
                let reply = self.secrets.scrub_text(tenant, &reply);
                Ok(AgentReply { reply, steps, tool_calls: reports, usage: tokens })
            }
            Err(e) => {
                let mut day = day;
                day[0].2.errors = 1;
                self.db.llm_usage_add(tenant, agent, &day)?;
                Err(e)
            }
        }
    }

    /// `tenant`'s model tokens and their cost this calendar month (UTC), as
    /// its quota counts them: tokens, and the tool calls' fuel.
    pub(crate) fn month_spend(&self, tenant: &TenantId) -> Result<MonthSpend, Error> {
        let rows = self.db.llm_usage(tenant, &month_of(self.clock.now()))?;
        let card = &self.card;
        Ok(MonthSpend {
            tokens: rows.iter().map(|r| r.usage.input_tokens + r.usage.output_tokens).sum(),
            cost: rows
                .iter()
                .map(|r| {
                    card.token_cost(&r.model, r.usage.input_tokens, r.usage.output_tokens)
                        + card.cost(0, r.usage.tool_fuel, 0)
                })
                .sum(),
        })
    }

    /// Refuses the message, with an audit line, when the tenant is over its
    /// message rate or its month's tokens or cost.
    fn check_quota(&self, actor: &str, tenant: &TenantId, agent: &str) -> Result<(), Error> {
        let quota = *self.quotas.of(tenant.as_str());
        let refuse = |why: String| {
            self.audit.refusal(actor, Some(tenant), "agent.message", agent, &format!("refused: {why}"));
            Err(Error::QuotaExceeded(format!("tenant {tenant}: {why}")))
        };
        if quota.requests_per_minute > 0 && !self.rate.try_take(tenant, quota.requests_per_minute) {
            return refuse(format!(
                "over {} agent messages a minute; retry later",
                quota.requests_per_minute
            ));
        }
        if quota.tokens_per_month == 0 && quota.cost_per_month <= 0.0 {
            return Ok(());
        }
        let MonthSpend { tokens, cost } = self.month_spend(tenant)?;
        if quota.tokens_per_month > 0 && tokens >= quota.tokens_per_month {
            return refuse(format!(
                "used {tokens} of its {} model tokens this month",
                quota.tokens_per_month
            ));
        }
        if quota.cost_per_month > 0.0 && cost >= quota.cost_per_month {
            return refuse(format!(
                "spent {cost:.4} of its {} model budget this month",
                quota.cost_per_month
            ));
        }
        Ok(())
    }

    fn provider(&self, spec: &AgentSpec) -> Result<Provider, Error> {
        let config = self.providers.get(&spec.provider).ok_or_else(|| {
            Error::InvalidInput(format!(
                "agent {}: provider {:?} is no longer configured",
                spec.name, spec.provider
            ))
        })?;
        Ok(Provider::new(self.http.clone(), config.clone()))
    }

    /// The API key: the tenant's secret the agent names, else the
    /// operator's key for the provider.
    fn api_key(&self, tenant: &TenantId, spec: &AgentSpec) -> Result<zeroize::Zeroizing<String>, Error> {
        if let Some(name) = &spec.api_key_secret {
            let value = self.secrets.value(tenant, name)?.ok_or_else(|| {
                Error::InvalidInput(format!(
                    "agent {} names the secret {name}, which tenant {tenant} has not set",
                    spec.name
                ))
            })?;
            let text = String::from_utf8(value.to_vec())
                .map_err(|_| Error::InvalidInput(format!("the secret {name} is not UTF-8 text")))?;
            return Ok(zeroize::Zeroizing::new(text.trim().to_string()));
        }
        let env = self.providers.get(&spec.provider).and_then(|p| p.api_key_env.as_deref());
        match env.and_then(|v| std::env::var(v).ok()) {
            Some(k) => Ok(zeroize::Zeroizing::new(k)),
            None => Err(Error::InvalidInput(format!(
                "agent {} has no API key: name a tenant secret in api_key_secret, or the operator sets the provider's api_key_env",
                spec.name
            ))),
        }
    }

    /// The agent's skills that are installed and enabled, as tools.
    async fn tools(
        &self,
        tenant: &TenantId,
        spec: &AgentSpec,
    ) -> (Vec<ToolSpec>, BTreeMap<String, Arc<BoundSkill>>) {
        let mut tools = Vec::new();
        let mut bound = BTreeMap::new();
        for name in &spec.skills {
            match self.skills.installed(tenant, name).await {
                Ok(b) => {
                    let info = &b.skill.info;
                    tools.push(ToolSpec {
                        name: name.clone(),
                        description: info.description.clone(),
                        input_schema: info.input_schema.clone(),
                    });
                    bound.insert(name.clone(), b);
                }
                Err(e) => {
                    tracing::warn!(%tenant, agent = %spec.name, skill = %name, error = %e, "a tool is unavailable")
                }
            }
        }
        (tools, bound)
    }

    /// Runs one tool call as the session's peer: its output, or an error
    /// object and the error's kind; and the fuel it used.
    async fn run_tool(
        &self,
        runner: &impl Tools,
        bound: &BTreeMap<String, Arc<BoundSkill>>,
        peer: &UserId,
        call: &ToolCall,
    ) -> (String, Option<String>, u64) {
        let failed = |kind: &str, message: String| {
            let body = serde_json::json!({"error": {"kind": kind, "message": message}});
            (body.to_string(), Some(kind.to_string()), 0)
        };
        let Some(skill) = bound.get(&call.name) else {
            return failed("not-found", format!("there is no tool named {:?}", call.name));
        };
        if serde_json::from_str::<serde::de::IgnoredAny>(&call.arguments).is_err() {
            return failed("invalid-input", "the arguments are not JSON".into());
        }
        let c = Call { user: Some(peer.clone()), in_session: true, ..Call::default() };
        match runner.invoke(skill, &c, &call.arguments).await {
            Ok(out) if out.output.len() <= MAX_TOOL_OUTPUT => (out.output, None, out.usage.fuel),
            Ok(out) => {
                let message = format!(
                    "the output is {} bytes; at most {MAX_TOOL_OUTPUT} go to the model",
                    out.output.len()
                );
                let (content, error, _) = failed("too-large", message);
                (content, error, out.usage.fuel)
            }
            Err(e) => failed(e.kind(), e.to_string()),
        }
    }
}

/// Why the `index`th tool call of a reply is not run, when `ran` calls of
/// the turn have run already: past the agent's per-reply or per-turn bound.
fn tool_call_refused(spec: &AgentSpec, index: usize, ran: u64) -> Option<String> {
    let per_reply = spec.max_tool_calls_per_reply;
    let per_turn = spec.max_tool_calls_per_turn;
    if index >= per_reply as usize {
        Some(format!("refused: a reply may run at most {per_reply} tool calls (max_tool_calls_per_reply)"))
    } else if ran >= u64::from(per_turn) {
        Some(format!("refused: a turn may run at most {per_turn} tool calls (max_tool_calls_per_turn)"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months_are_utc_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_795_000_000), "2026-11-18");
        assert_eq!(month_of(1_795_000_000), "2026-11-01");
        assert_eq!(day_of(1_709_208_000), "2024-02-29");
        assert_eq!(day_of(253_402_300_799), "9999-12-31");
        assert_eq!(day_of(253_402_300_800), "9999-12-31", "not 10000-01-01");
        assert_eq!(day_of(u64::MAX), "9999-12-31");
    }
}
