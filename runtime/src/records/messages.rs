//! Message records: one queued [`Message`] and where it is in its
//! delivery ([`MessageState`]). Queuing is the `messaging` capability's
//! ([`crate::messaging::cap`]); delivering, [`crate::messaging`]'s.

use crate::ids::TenantId;

/// Where a message is in its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageState {
    /// Queued; not yet delivered (it may have failed attempts).
    Pending,
    /// Accepted by the receiver (a 2xx answer).
    Delivered,
    /// Given up after the maximum number of attempts.
    Dead,
}

impl MessageState {
    /// Its name in the API: `pending`, `delivered` or `dead`.
    pub fn as_str(&self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Delivered => "delivered",
            MessageState::Dead => "dead",
        }
    }

    /// The state named `name` (as [`MessageState::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        [MessageState::Pending, MessageState::Delivered, MessageState::Dead]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// One queued message and its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message id (random, hex), unique within its tenant.
    pub id: String,
    /// The tenant that sent it.
    pub tenant: TenantId,
    /// The skill that sent it.
    pub skill: String,
    /// The contact's name.
    pub contact: String,
    /// Where it is delivered: the contact's URL when it was sent.
    pub url: String,
    /// The body (already scrubbed of secret values).
    pub body: String,
    /// When it was queued, seconds since the Unix epoch.
    pub created: u64,
    /// Its delivery state.
    pub state: MessageState,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due, seconds since the Unix epoch
    /// (meaningful while pending).
    pub next_attempt: u64,
    /// Why the last attempt failed, if one did.
    pub last_error: Option<String>,
}
