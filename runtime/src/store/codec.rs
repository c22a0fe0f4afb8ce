//! The stored forms (JSON text) of the records whose stored form is not
//! their own serde form: one copy for both backends, so a row either
//! backend writes, and so a dump's value, is the same bytes.

use super::StoreError;
use crate::ids::TenantId;
use crate::records::{Message, MessageState, Role, Tenant, TokenInfo};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct RawTenant {
    created: u64,
    suspended: bool,
}

/// The tenant `id` from its stored record.
pub(crate) fn tenant_decode(id: &str, json: &str) -> Result<Tenant, StoreError> {
    let tenant =
        TenantId::parse(id).map_err(|e| StoreError::Backend(format!("stored tenant id is corrupt: {e}")))?;
    let raw: RawTenant = serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("stored tenant {id} is corrupt: {e}")))?;
    Ok(Tenant { id: tenant, created: raw.created, suspended: raw.suspended })
}

/// A tenant's stored record (its id is the key).
pub(crate) fn tenant_encode(t: &Tenant) -> Result<String, StoreError> {
    serde_json::to_string(&RawTenant { created: t.created, suspended: t.suspended })
        .map_err(|e| StoreError::Backend(e.to_string()))
}

#[derive(Serialize, Deserialize)]
struct RawToken {
    tenant: String,
    role: Role,
    name: String,
    created: u64,
    last_used: Option<u64>,
    expires: Option<u64>,
    sha256: String,
}

/// Token `id`'s record and hash from its stored form.
pub(crate) fn token_decode(id: &str, json: &str) -> Result<(TokenInfo, [u8; 32]), StoreError> {
    let corrupt = |e: String| StoreError::Backend(format!("stored token {id} is corrupt: {e}"));
    let raw: RawToken = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
    let tenant = TenantId::parse(&raw.tenant).map_err(|e| corrupt(e.to_string()))?;
    let hash: [u8; 32] = hex::decode(&raw.sha256)
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| corrupt("bad hash".into()))?;
    let info = TokenInfo {
        id: id.to_string(),
        tenant,
        role: raw.role,
        name: raw.name,
        created: raw.created,
        last_used: raw.last_used,
        expires: raw.expires,
    };
    Ok((info, hash))
}

/// A token's stored form (its id is the key; only the secret's hash).
pub(crate) fn token_encode(info: &TokenInfo, hash: &[u8; 32]) -> Result<String, StoreError> {
    serde_json::to_string(&RawToken {
        tenant: info.tenant.to_string(),
        role: info.role,
        name: info.name.clone(),
        created: info.created,
        last_used: info.last_used,
        expires: info.expires,
        sha256: hex::encode(hash),
    })
    .map_err(|e| StoreError::Backend(e.to_string()))
}

/// Longest message id accepted, in bytes.
pub const MAX_MESSAGE_ID_BYTES: usize = 128;

/// Whether `id` can name a message: not empty, bounded, no `\0`.
pub(crate) fn valid_message_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MESSAGE_ID_BYTES && !id.contains('\0')
}

/// [`valid_message_id`] as an error.
pub(crate) fn check_message_id(id: &str) -> Result<(), StoreError> {
    if valid_message_id(id) {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "a message id must be 1 to {MAX_MESSAGE_ID_BYTES} bytes without NUL"
        )))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawState {
    Pending,
    Delivered,
    Dead,
}

/// The stored form of a [`Message`].
#[derive(Serialize, Deserialize)]
struct RawMessage {
    id: String,
    tenant: String,
    skill: String,
    contact: String,
    url: String,
    body: String,
    created: u64,
    state: RawState,
    attempts: u32,
    next_attempt: u64,
    last_error: Option<String>,
}

/// The stored form of `m`.
pub(crate) fn message_encode(m: &Message) -> Result<String, StoreError> {
    let raw = RawMessage {
        id: m.id.clone(),
        tenant: m.tenant.as_str().to_string(),
        skill: m.skill.clone(),
        contact: m.contact.clone(),
        url: m.url.clone(),
        body: m.body.clone(),
        created: m.created,
        state: match m.state {
            MessageState::Pending => RawState::Pending,
            MessageState::Delivered => RawState::Delivered,
            MessageState::Dead => RawState::Dead,
        },
        attempts: m.attempts,
        next_attempt: m.next_attempt,
        last_error: m.last_error.clone(),
    };
    serde_json::to_string(&raw).map_err(|e| StoreError::Backend(format!("cannot encode a message: {e}")))
}

/// A stored message, checked to belong where it was found: `belongs` is
/// given the tenant and id it names.
pub(crate) fn message_decode(
    json: &str,
    belongs: impl FnOnce(&TenantId, &str) -> bool,
) -> Result<Message, StoreError> {
    let corrupt = |why: String| StoreError::Backend(format!("stored message is corrupt: {why}"));
    let raw: RawMessage = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
    let tenant = TenantId::parse(&raw.tenant).map_err(|e| corrupt(e.to_string()))?;
    if !belongs(&tenant, &raw.id) {
        return Err(corrupt("its tenant or id does not match its key".into()));
    }
    Ok(Message {
        id: raw.id,
        tenant,
        skill: raw.skill,
        contact: raw.contact,
        url: raw.url,
        body: raw.body,
        created: raw.created,
        state: match raw.state {
            RawState::Pending => MessageState::Pending,
            RawState::Delivered => MessageState::Delivered,
            RawState::Dead => MessageState::Dead,
        },
        attempts: raw.attempts,
        next_attempt: raw.next_attempt,
        last_error: raw.last_error,
    })
}
