//! Agent records: an [`AgentSpec`] and its bounds, a [`Session`]'s history
//! of provider-neutral [`Turn`]s, and an agent's model usage
//! ([`LlmUsage`]). Running a turn is [`crate::agents`]'s; talking to a
//! provider, [`crate::llm`]'s.

use serde::{Deserialize, Serialize};

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

/// One turn of a conversation, in the runtime's own (provider-neutral) form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Turn {
    /// What the peer said.
    User {
        /// The text.
        text: String,
    },
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// The text, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        /// The tools it asked for, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call, given back to the model.
    Tool {
        /// The id of the call it answers.
        call_id: String,
        /// The tool (skill) that ran.
        name: String,
        /// Its output (JSON), or `{"error":{"kind","message"}}`.
        content: String,
        /// Whether the call failed.
        #[serde(default)]
        is_error: bool,
    },
}

impl Turn {
    /// A rough token count (4 bytes a token, plus framing), used to trim a
    /// history to its budget without a tokenizer.
    pub fn estimated_tokens(&self) -> u64 {
        let bytes = match self {
            Turn::User { text } => text.len(),
            Turn::Assistant { text, tool_calls } => {
                text.as_deref().map_or(0, str::len)
                    + tool_calls.iter().map(|c| c.name.len() + c.arguments.len() + c.id.len()).sum::<usize>()
            }
            Turn::Tool { content, call_id, .. } => content.len() + call_id.len(),
        };
        bytes.div_ceil(4) as u64 + 4
    }
}

/// A tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (echoed with its result).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON text (possibly malformed: the model wrote it).
    pub arguments: String,
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
        let call = ToolCall { id: "c".into(), name: "notes".into(), arguments: "{}".into() };
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

    #[test]
    fn tokens_are_estimated_from_bytes() {
        let t = Turn::User { text: "x".repeat(400) };
        assert_eq!(t.estimated_tokens(), 104);
    }
}
