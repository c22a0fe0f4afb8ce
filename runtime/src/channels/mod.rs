//! Inbound channels: how peers reach a tenant's agent from outside.
//!
//! A channel belongs to a tenant and feeds one of its agents. Its
//! credentials are the tenant's own secrets (encrypted in the vault), named
//! by the channel, never stored in it:
//! - `webhook`: the sender signs each request as the gateway signs its own
//!   outbound webhooks ([`crate::messaging::sign`]): `x-wasmclaw-timestamp`
//!   and `x-wasmclaw-signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`
//!   under the secret `secret`; the body is `{"sender","text"}` and the
//!   sender becomes the peer. The reply is the response.
//! - `telegram`: the Bot API's webhook mode. Telegram sends the secret
//!   token (the secret `secret`) in `x-telegram-bot-api-secret-token`; the
//!   peer is `telegram:<user id>`; a photo or document is fetched with the
//!   bot token (the secret `bot_token_secret`) and stored in the peer's
//!   `media/`; the reply goes to the chat through `sendMessage`.
//!
//! A request is taken once: its replay key (what was signed for a webhook,
//! the `update_id` for Telegram) is recorded durably under the tenant
//! ([`crate::store::Db::replay_first`]), so neither a re-spelt signature nor
//! a restart lets it run the agent twice.
//!
//! The inbound endpoint takes no gateway credential: the signature or
//! secret token is the credential, and every refusal — an unknown tenant or
//! channel, a bad signature, a stale timestamp — is the same 401, so the
//! endpoint tells an outsider nothing about who exists.

pub mod media;
pub mod telegram;

use crate::agents::{AgentReply, AgentService, Tools};
use crate::clock::SharedClock;
use crate::config::ChannelsConfig;
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::records::{ChannelKind, ChannelSpec};
use crate::services::recorder::Recorder;
use crate::services::secrets::SecretService;
use crate::services::tenants::TenantService;
use crate::store::{Db, Replay};
use crate::tenants::existing;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// What an accepted inbound request led to.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Delivered {
    /// The agent answered (webhook: the reply; telegram: also sent).
    Replied {
        /// The answer.
        #[serde(flatten)]
        reply: AgentReply,
    },
    /// The update carried nothing to answer (acknowledged).
    Ignored,
    /// The turn failed; the peer was told (telegram), and this says why.
    Failed {
        /// The error's kind.
        kind: String,
    },
}

/// How long a Telegram `update_id` is remembered, seconds.
const TELEGRAM_REPLAY_SECS: u64 = 24 * 3600;

/// The one answer to every refused inbound request.
fn refused() -> Error {
    Error::Unauthorized("unknown channel, or a missing or bad signature".into())
}

/// The body of a webhook request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookBody {
    sender: String,
    text: String,
}

/// The channels service: the tenants' channels in the database, and the
/// inbound requests they take, each once, for an agent of the tenant.
pub(crate) struct ChannelService {
    db: Arc<Db>,
    clock: SharedClock,
    audit: Recorder,
    secrets: Arc<SecretService>,
    agents: Arc<AgentService>,
    tenants: Arc<TenantService>,
    config: ChannelsConfig,
}

impl ChannelService {
    pub(crate) fn new(
        db: Arc<Db>,
        clock: SharedClock,
        audit: Recorder,
        secrets: Arc<SecretService>,
        agents: Arc<AgentService>,
        tenants: Arc<TenantService>,
        config: &ChannelsConfig,
    ) -> Self {
        ChannelService { db, clock, audit, secrets, agents, tenants, config: config.clone() }
    }

    /// Adds a channel to `tenant`: its agent must exist, and the secrets it
    /// names must be set.
    pub(crate) fn add(&self, actor: &str, tenant: &TenantId, spec: &ChannelSpec) -> Result<(), Error> {
        if !crate::records::valid_name(&spec.name) {
            return Err(Error::InvalidInput(
                "channel name: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'".into(),
            ));
        }
        self.agents.agent(tenant, &spec.agent)?;
        let mut secrets = vec![("secret", &spec.secret)];
        match (spec.kind, &spec.bot_token_secret) {
            (ChannelKind::Telegram, Some(s)) => secrets.push(("bot_token_secret", s)),
            (ChannelKind::Telegram, None) => {
                return Err(Error::InvalidInput("a telegram channel needs bot_token_secret".into()));
            }
            (ChannelKind::Webhook, Some(_)) => {
                return Err(Error::InvalidInput("bot_token_secret is for telegram channels".into()));
            }
            (ChannelKind::Webhook, None) => {}
        }
        let names = self.secrets.names(tenant)?;
        for (field, name) in secrets {
            if !names.iter().any(|n| n == name) {
                return Err(Error::InvalidInput(format!("{field}: tenant {tenant} has no secret {name:?}")));
            }
        }
        if !self.db.channel_add(tenant, spec)? {
            return Err(Error::Conflict(format!("tenant {tenant} already has a channel {}", spec.name)));
        }
        self.audit.record(actor, Some(tenant), "channel.add", &spec.name, "ok");
        Ok(())
    }

    /// The channels of `tenant`.
    pub(crate) fn list(&self, tenant: &TenantId) -> Result<Vec<ChannelSpec>, Error> {
        existing(&self.db, tenant)?;
        Ok(self.db.channels(tenant)?)
    }

    /// Removes a channel.
    pub(crate) fn remove(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        if !self.db.channel_remove(tenant, name)? {
            return Err(Error::NotFound(format!("tenant {tenant} has no channel {name}")));
        }
        self.audit.record(actor, Some(tenant), "channel.remove", name, "ok");
        Ok(())
    }

    /// The channel an inbound request names, and the value of its secret.
    fn inbound(
        &self,
        tenant: &str,
        name: &str,
        kind: ChannelKind,
    ) -> Result<(TenantId, ChannelSpec, zeroize::Zeroizing<Vec<u8>>), Error> {
        let tenant = TenantId::parse(tenant).map_err(|_| refused())?;
        let spec = self.db.channel(&tenant, name)?.filter(|s| s.kind == kind).ok_or_else(refused)?;
        let secret = self.secret_value(&tenant, &spec.secret)?.ok_or_else(|| {
            tracing::warn!(%tenant, channel = %name, secret = %spec.secret, "a channel's secret is not set");
            refused()
        })?;
        Ok((tenant, spec, secret))
    }

    fn secret_value(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, Error> {
        self.secrets.value(tenant, name)
    }

    /// Audits a refused inbound request under no tenant: the request is
    /// unauthenticated, so the tenant it names is only its claim
    /// ([`crate::refusals`]; rate-limited).
    fn refuse_inbound(&self, tenant: &TenantId, name: &str, why: &str) -> Error {
        let target = format!("{tenant}/{name}");
        self.audit.refusal("anonymous", None, "channel.inbound", &target, &format!("refused: {why}"));
        refused()
    }

    /// Records inbound request `key` of `tenant` (durably, until `until`):
    /// `Err(None)` if it was taken already, `Err(Some(_))` if it cannot be
    /// recorded (the tenant is at its cap: 429; or the store failed).
    fn take_once(&self, tenant: &TenantId, key: &str, now: u64, until: u64) -> Result<(), Option<Error>> {
        let cap = self.config.max_replays_per_tenant;
        match self.db.replay_first(tenant, key, now, until, cap) {
            Ok(Replay::First) => Ok(()),
            Ok(Replay::Seen) => Err(None),
            Ok(Replay::Full) => Err(Some(Error::Busy(format!(
                "tenant {tenant} holds {cap} recent inbound requests; try again later"
            )))),
            Err(e) => Err(Some(e.into())),
        }
    }

    /// A signed webhook request to channel `name` of `tenant`.
    pub(crate) async fn webhook(
        &self,
        runner: &impl Tools,
        tenant: &str,
        name: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<AgentReply, Error> {
        let (tenant, spec, key) = self.inbound(tenant, name, ChannelKind::Webhook)?;
        let now = self.clock.now();
        let Some(ts) = timestamp.and_then(|t| t.trim().parse::<u64>().ok()) else {
            return Err(self.refuse_inbound(&tenant, name, "no timestamp"));
        };
        if now.abs_diff(ts) > self.config.max_skew_secs {
            return Err(self.refuse_inbound(&tenant, name, "stale timestamp"));
        }
        if !signature.is_some_and(|s| crate::messaging::verify(&key, ts, body, s)) {
            return Err(self.refuse_inbound(&tenant, name, "bad signature"));
        }
        // The replay key is what was signed, not how the signature was
        // spelled: a resend with its hex in another case is the same request.
        let window = self.config.max_skew_secs;
        let mut signed = Sha256::new();
        signed.update(ts.to_string().as_bytes());
        signed.update(b".");
        signed.update(body);
        let key = format!("webhook:{name}:{}", hex::encode(signed.finalize()));
        self.take_once(&tenant, &key, now, ts.saturating_add(window).max(now) + 1).map_err(|replay| {
            replay
                .unwrap_or_else(|| Error::Conflict("this signed request was already taken (a replay)".into()))
        })?;
        let msg: WebhookBody = serde_json::from_slice(body)
            .map_err(|e| Error::InvalidInput(format!("the body is not {{\"sender\",\"text\"}}: {e}")))?;
        let peer = UserId::parse(&msg.sender)?;
        self.agents.message(runner, &format!("channel:{name}"), &tenant, &spec.agent, &peer, &msg.text).await
    }

    /// A Telegram update to channel `name` of `tenant`.
    pub(crate) async fn telegram(
        &self,
        runner: &impl Tools,
        tenant: &str,
        name: &str,
        secret_token: Option<&str>,
        body: &[u8],
    ) -> Result<Delivered, Error> {
        let (tenant, spec, secret) = self.inbound(tenant, name, ChannelKind::Telegram)?;
        let given: [u8; 32] = Sha256::digest(secret_token.unwrap_or("").as_bytes()).into();
        let wanted: [u8; 32] = Sha256::digest(&secret[..]).into();
        if secret_token.is_none() || !crate::auth::constant_time_eq(&given, &wanted) {
            return Err(self.refuse_inbound(&tenant, name, "bad secret token"));
        }
        let Some(update) = telegram::parse_update(body)? else {
            return Ok(Delivered::Ignored);
        };
        // Telegram redelivers an update it thinks failed: take each once.
        let now = self.clock.now();
        let key = format!("telegram:{name}:{}", update.update_id);
        match self.take_once(&tenant, &key, now, now + TELEGRAM_REPLAY_SECS) {
            Ok(()) => {}
            Err(None) => return Ok(Delivered::Ignored),
            Err(Some(e)) => return Err(e),
        }
        let token_name = spec.bot_token_secret.as_deref().unwrap_or_default();
        let token = self.secret_value(&tenant, token_name)?.ok_or_else(|| {
            Error::InvalidInput(format!("channel {name}: tenant {tenant} has no secret {token_name:?}"))
        })?;
        let token = String::from_utf8(token.to_vec())
            .map_err(|_| Error::InvalidInput("the bot token is not text".into()))?;
        let config = &self.config;
        let bot = telegram::Bot {
            http: self.agents.http(),
            base: config.telegram_api_base.trim_end_matches('/'),
            token: token.trim(),
        };
        let peer = UserId::parse(&format!("telegram:{}", update.from))?;
        let mut text = update.text.clone();
        if let Some(a) = &update.attachment {
            let saved = match bot.download(&a.file_id, config.max_media_bytes).await {
                Ok(bytes) => crate::wasi::user_dir(&self.tenants.files_dir(&tenant), &peer, &["media"])
                    .and_then(|media| media::store(&media.path(), &bytes, config.max_media_bytes)),
                Err(e) => Err(e),
            };
            match saved {
                Ok(path) => {
                    self.audit.record(&format!("channel:{name}"), Some(&tenant), "media.store", &path, "ok");
                    text = format!("{text}\n[{} saved as {path}]", a.kind).trim().to_string();
                }
                Err(e) => {
                    self.audit.record(
                        &format!("channel:{name}"),
                        Some(&tenant),
                        "media.store",
                        a.kind,
                        &format!("refused: {e}"),
                    );
                    // The sender learns what it can fix, never a host detail.
                    let why = match &e {
                        Error::TooLarge(_) | Error::InvalidInput(_) => e.to_string(),
                        _ => "it could not be stored".to_string(),
                    };
                    bot.send_message(update.chat, &format!("I could not take that {}: {why}", a.kind))
                        .await?;
                    return Ok(Delivered::Failed { kind: e.kind().into() });
                }
            }
        }
        match self
            .agents
            .message(runner, &format!("channel:{name}"), &tenant, &spec.agent, &peer, &text)
            .await
        {
            Ok(reply) => {
                bot.send_message(update.chat, &reply.reply).await?;
                Ok(Delivered::Replied { reply })
            }
            Err(e) => {
                tracing::warn!(%tenant, channel = %name, error = %e, "a telegram turn failed");
                let sorry = match &e {
                    Error::QuotaExceeded(_) => "Too many messages for now; please try again later.",
                    _ => "Sorry, I could not answer that.",
                };
                bot.send_message(update.chat, sorry).await?;
                Ok(Delivered::Failed { kind: e.kind().into() })
            }
        }
    }
}
