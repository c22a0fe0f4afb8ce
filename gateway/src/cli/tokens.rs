//! `wasmclaw token …`: mint, list, rotate and revoke a tenant's tokens
//! through the gateway. A new token is printed once, alone on the first
//! line of stdout.

use super::remote::{Remote, tenant_id};
use super::{cell, items, print_json, print_table, time_cell};
use clap::{Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::time::Duration;

/// A tenant token's role.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Role {
    /// Manages its tenant's tokens, skills, policy and secrets.
    Admin,
    /// Invokes skills; reads usage, contacts, memory and cron jobs.
    Member,
    /// Invokes, and lists, the skills installed with `--guest` only.
    Guest,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Guest => "guest",
        }
    }
}

/// `wasmclaw token …`.
#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Mint a tenant token; it is printed once, alone on the first line.
    Mint {
        /// The tenant the token belongs to.
        tenant: String,
        /// What the token may do.
        #[arg(long, value_enum)]
        role: Role,
        /// A name to recognise the token by (e.g. `ci`).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a tenant's tokens (never their secrets).
    List {
        /// The tenant.
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Replace a token by a new one, printed once, alone on the first line.
    Rotate {
        /// The tenant.
        tenant: String,
        /// The token's id (12 hex digits, as `token list` shows it).
        id: String,
        /// How long the old token keeps working, e.g. `10m` (default: it stops at once).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        grace: Option<Duration>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The tenant.
        tenant: String,
        /// The token's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `token` command.
pub(crate) async fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Mint { tenant, role, name, remote } => {
            let mut body = json!({ "role": role.as_str() });
            if let Some(name) = name {
                body["name"] = Value::String(name);
            }
            let answer =
                remote.client()?.post(&["v1", "tenants", &tenant_id(&tenant)?, "tokens"], &body).await?;
            print_new_token(&answer, remote.json);
        }
        TokenCommand::List { tenant, remote } => {
            let answer =
                remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "tokens"], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                let rows: Vec<Vec<String>> = items(&answer, "tokens")
                    .iter()
                    .map(|t| {
                        vec![
                            cell(&t["id"]),
                            cell(&t["prefix"]),
                            cell(&t["role"]),
                            cell(&t["name"]),
                            time_cell(&t["created"]),
                            time_cell(&t["last_used"]),
                            time_cell(&t["expires"]),
                        ]
                    })
                    .collect();
                print_table(&["ID", "PREFIX", "ROLE", "NAME", "CREATED", "LAST USED", "EXPIRES"], &rows);
            }
        }
        TokenCommand::Rotate { tenant, id, grace, remote } => {
            let body = match grace {
                Some(g) => json!({ "grace_secs": g.as_secs() }),
                None => json!({}),
            };
            let path = ["v1", "tenants", &tenant_id(&tenant)?, "tokens", &id, "rotate"];
            let answer = remote.client()?.post(&path, &body).await?;
            print_new_token(&answer, remote.json);
        }
        TokenCommand::Revoke { tenant, id, remote } => {
            let answer =
                remote.client()?.delete(&["v1", "tenants", &tenant_id(&tenant)?, "tokens", &id]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("revoked token {id}");
            }
        }
    }
    Ok(())
}

/// Prints a freshly minted token: alone on the first line of stdout, a note
/// on stderr.
fn print_new_token(answer: &Value, json: bool) {
    if json {
        print_json(answer);
        return;
    }
    println!("{}", cell(&answer["token"]));
    eprintln!(
        "token {} (role {}) of tenant {}: shown once, store it now",
        cell(&answer["id"]),
        cell(&answer["role"]),
        cell(&answer["tenant"])
    );
}
