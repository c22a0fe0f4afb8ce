//! Channel records: a [`ChannelSpec`] as a tenant's admin defines it.
//! Taking inbound requests through it is [`crate::channels`]'s.

use serde::{Deserialize, Serialize};

/// The kinds of channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A signed JSON webhook.
    Webhook,
    /// Telegram Bot API, webhook mode.
    Telegram,
}

/// A channel, as the tenant's admin defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// Its name within the tenant (the last part of its endpoint).
    pub name: String,
    /// Its kind.
    pub kind: ChannelKind,
    /// The agent it feeds.
    pub agent: String,
    /// The tenant secret holding the webhook's HMAC key, or Telegram's
    /// webhook secret token.
    pub secret: String,
    /// Telegram: the tenant secret holding the bot token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token_secret: Option<String>,
}
