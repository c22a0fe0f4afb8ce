//! Records: the plain rows every layer shares — what the store keeps and
//! the services hand around (tenants, tokens, installed skills and trusted
//! keys, agents and their sessions, channels, cron jobs, messages, usage).
//!
//! This is the bottom of the crate: a record knows its fields, its serde
//! form and its own bounds, and imports nothing but validated ids, the
//! manifest's name checks and other records. What is done with a record
//! (minting, installing, scheduling, delivering) lives in the service that
//! owns it, above the store.

mod agents;
mod channels;
mod cron;
mod messages;
mod skills;
mod tenants;
mod tokens;
mod usage;

pub(crate) use agents::valid_name;
pub use agents::{
    AgentSpec, LlmUsage, MAX_STEPS, MAX_SYSTEM_PROMPT, MAX_TOOL_CALLS_PER_REPLY, MAX_TOOL_CALLS_PER_TURN,
    MAX_TOOLS, Session, ToolCall, Turn,
};
pub use channels::{ChannelKind, ChannelSpec};
pub use cron::{Job, JobScope, LastRun, MAX_LAST_ERROR, Schedule};
pub use messages::{Message, MessageState};
pub use skills::{InstalledSkill, Publisher, TrustedKey};
pub use tenants::Tenant;
pub(crate) use tokens::short;
pub use tokens::{ADMIN_PREFIX, Role, TOKEN_PREFIX, TokenInfo, UnknownRole};
pub use usage::{LATENCY_BOUNDS_US, Latency, SERIES_KEEP_HOURS, UsageBucket, UsageDelta, UsageTotals};
