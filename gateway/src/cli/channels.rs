//! `wasmclaw channel …`: add, list and remove a tenant's inbound channels
//! (a signed webhook or a Telegram bot feeding one of its agents) through
//! the gateway (routes in `docs/api.md`, "Channels"). A channel names the
//! tenant secrets that hold its credentials; their values are set with
//! `wasmclaw secret set` and never pass through these commands.

use super::remote::{Remote, tenant_id};
use super::{cell, items, print_json, print_table};
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};

/// A channel's kind.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A JSON webhook `{"sender","text"}`, signed with HMAC-SHA256 under the
    /// secret (`x-wasmclaw-timestamp`, `x-wasmclaw-signature: v1=<hex>`).
    Webhook,
    /// A Telegram bot in webhook mode (needs `--bot-token-secret`).
    Telegram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Telegram => "telegram",
        }
    }
}

/// `wasmclaw channel …`.
#[derive(Subcommand, Debug)]
pub(crate) enum ChannelCommand {
    /// Add an inbound channel feeding one of the tenant's agents; prints its
    /// endpoint.
    ///
    /// The channel's endpoint is `POST /v1/inbound/TENANT/NAME`; it takes no
    /// gateway credential, the channel's signature or secret token is the
    /// credential. `--secret` and `--bot-token-secret` are the NAMES of
    /// tenant secrets (set them first with `wasmclaw secret set`), never
    /// their values.
    ///
    /// webhook: the sender signs each request with HMAC-SHA256 under the
    /// value of the secret, as the gateway signs its own webhooks.
    ///
    /// telegram: register the endpoint with the Bot API's `setWebhook`, the
    /// url `<gateway URL>/v1/inbound/TENANT/NAME` (the gateway's public
    /// HTTPS address) and `secret_token` = the value of the secret `--secret`;
    /// the bot token (for replies and media) is the secret
    /// `--bot-token-secret`.
    Add {
        /// The tenant the channel belongs to.
        tenant: String,
        /// The channel's name within the tenant (`a-z`, `0-9`, `-`): the
        /// last part of its endpoint.
        name: String,
        /// How peers reach the agent.
        #[arg(long, value_enum)]
        kind: Kind,
        /// The agent the channel feeds.
        #[arg(long)]
        agent: String,
        /// The tenant secret holding the webhook's HMAC key, or Telegram's
        /// webhook secret token (its name, not its value).
        #[arg(long, value_name = "SECRET_NAME")]
        secret: String,
        /// Telegram only (and required): the tenant secret holding the bot
        /// token (its name, not its value).
        #[arg(long, value_name = "SECRET_NAME")]
        bot_token_secret: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a tenant's channels (the secrets by name, never their values).
    List {
        /// The tenant.
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a channel: its endpoint stops answering at once (the secrets
    /// it names stay).
    Remove {
        /// The tenant.
        tenant: String,
        /// The channel's name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `channel` command.
pub(crate) async fn channel(cmd: ChannelCommand) -> anyhow::Result<()> {
    match cmd {
        ChannelCommand::Add { tenant, name, kind, agent, secret, bot_token_secret, remote } => {
            let tenant = tenant_id(&tenant)?;
            let mut body = json!({ "name": name, "kind": kind.as_str(), "agent": agent, "secret": secret });
            if let Some(s) = bot_token_secret {
                body["bot_token_secret"] = json!(s);
            }
            let answer = remote.client()?.post(&["v1", "tenants", &tenant, "channels"], &body).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("added channel {}: POST {}", cell(&answer["name"]), cell(&answer["endpoint"]));
                if kind == Kind::Telegram {
                    eprintln!(
                        "register it with Telegram: setWebhook with url=<gateway URL>{} and \
                         secret_token=<the value of the secret {}>",
                        cell(&answer["endpoint"]),
                        cell(&answer["secret"])
                    );
                }
            }
        }
        ChannelCommand::List { tenant, remote } => {
            let answer =
                remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "channels"], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                let rows: Vec<Vec<String>> = items(&answer, "channels").iter().map(channel_row).collect();
                print_table(&["NAME", "KIND", "AGENT", "SECRET", "BOT TOKEN SECRET"], &rows);
            }
        }
        ChannelCommand::Remove { tenant, name, remote } => {
            let answer =
                remote.client()?.delete(&["v1", "tenants", &tenant_id(&tenant)?, "channels", &name]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("removed channel {name}");
            }
        }
    }
    Ok(())
}

/// A channel as a row of `channel list` (`-` for a missing bot token secret).
fn channel_row(c: &Value) -> Vec<String> {
    vec![
        cell(&c["name"]),
        cell(&c["kind"]),
        cell(&c["agent"]),
        cell(&c["secret"]),
        cell(&c["bot_token_secret"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_a_missing_bot_token_secret_as_a_dash() {
        let row = channel_row(&json!({"name": "hook", "kind": "webhook", "agent": "a", "secret": "K"}));
        assert_eq!(row, ["hook", "webhook", "a", "K", "-"]);
        let row = channel_row(
            &json!({"name": "tg", "kind": "telegram", "agent": "a", "secret": "S", "bot_token_secret": "T"}),
        );
        assert_eq!(row, ["tg", "telegram", "a", "S", "T"]);
    }
}
