//! The remote commands that manage a gateway's tenants and policies
//! over HTTP (routes in `docs/api.md`). Each prints a
//! human table, or the gateway's JSON with `--json`.

use super::client::{Body, Client, DEFAULT_URL, parse_url};
use super::{cell, items, print_json, print_table, read_file, time_cell};
use clap::{Args, Subcommand};
use reqwest::Url;
use serde_json::{Value, json};
use std::path::PathBuf;
use wasmclaw::{Error, TenantId};

/// Options of every remote command: where the gateway is, the credential,
/// and the output format.
#[derive(Args, Debug, Clone)]
pub(crate) struct Remote {
    /// The gateway's base URL.
    #[arg(long, env = "WASMCLAW_URL", default_value = DEFAULT_URL, value_name = "URL", value_parser = parse_url)]
    pub(crate) url: Url,
    /// The operator's admin key (`wca_…`); sent when given, else the token.
    #[arg(long, env = "WASMCLAW_ADMIN_KEY", hide_env_values = true, value_name = "KEY")]
    pub(crate) admin_key: Option<String>,
    /// A tenant token (`wct_…`).
    #[arg(long, env = "WASMCLAW_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub(crate) token: Option<String>,
    /// Print the gateway's JSON instead of a human table.
    #[arg(long)]
    pub(crate) json: bool,
}

impl Remote {
    /// A client sending the admin key when given, else the token.
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        Client::new(&self.url, self.admin_key.as_deref().or(self.token.as_deref()))
    }
}

/// Checks a tenant id before it goes into a URL (exit 3 when malformed).
pub(crate) fn tenant_id(id: &str) -> anyhow::Result<String> {
    Ok(TenantId::parse(id).map_err(Error::from)?.as_str().to_string())
}

/// `wasmclaw tenant …`.
#[derive(Subcommand, Debug)]
pub(crate) enum TenantCommand {
    /// Create a tenant.
    Create {
        /// The new tenant's id (lower-case letters, digits, dashes).
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List every tenant.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one tenant.
    Show {
        /// The tenant's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show what a tenant holds and its use of each quota (the admin key
    /// names the tenant; a token of it may leave the id out).
    Summary {
        /// The tenant's id.
        id: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Suspend a tenant: its tokens are refused until it is resumed.
    Suspend {
        /// The tenant's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Resume a suspended tenant.
    Resume {
        /// The tenant's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Delete a tenant and everything it owns (the audit log keeps its records).
    Delete {
        /// The tenant's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `tenant` command.
pub(crate) async fn tenant(cmd: TenantCommand) -> anyhow::Result<()> {
    let (answer, remote) = match &cmd {
        TenantCommand::Create { id, remote } => {
            let id = tenant_id(id)?;
            (remote.client()?.post(&["v1", "tenants"], &json!({ "id": id })).await?, remote)
        }
        TenantCommand::List { remote } => (remote.client()?.get(&["v1", "tenants"], &[]).await?, remote),
        TenantCommand::Show { id, remote } => {
            (remote.client()?.get(&["v1", "tenants", &tenant_id(id)?], &[]).await?, remote)
        }
        TenantCommand::Summary { id: Some(id), remote } => {
            (remote.client()?.get(&["v1", "tenants", &tenant_id(id)?, "summary"], &[]).await?, remote)
        }
        TenantCommand::Summary { id: None, remote } => {
            (remote.client()?.get(&["v1", "summary"], &[]).await?, remote)
        }
        TenantCommand::Suspend { id, remote } => {
            (remote.client()?.post(&["v1", "tenants", &tenant_id(id)?, "suspend"], &json!({})).await?, remote)
        }
        TenantCommand::Resume { id, remote } => {
            (remote.client()?.post(&["v1", "tenants", &tenant_id(id)?, "resume"], &json!({})).await?, remote)
        }
        TenantCommand::Delete { id, remote } => {
            (remote.client()?.delete(&["v1", "tenants", &tenant_id(id)?]).await?, remote)
        }
    };
    if remote.json {
        print_json(&answer);
        return Ok(());
    }
    match cmd {
        TenantCommand::Delete { id, .. } => println!("deleted tenant {id}"),
        TenantCommand::List { .. } => print_tenants(items(&answer, "tenants")),
        TenantCommand::Summary { .. } => print_summary(&answer),
        _ => print_tenants(std::slice::from_ref(&answer)),
    }
    Ok(())
}

/// A summary as `key = value` lines (`memory.bytes = 120`), a quota of 0
/// meaning none.
fn print_summary(summary: &Value) {
    for (key, value) in wasmclaw::config::dotted(summary) {
        println!("{key} = {}", super::terminal_safe(&value));
    }
}

fn print_tenants(tenants: &[Value]) {
    let rows: Vec<Vec<String>> =
        tenants.iter().map(|t| vec![cell(&t["id"]), cell(&t["status"]), time_cell(&t["created"])]).collect();
    print_table(&["ID", "STATUS", "CREATED"], &rows);
}

/// `wasmclaw policy …`.
#[derive(Subcommand, Debug)]
pub(crate) enum PolicyCommand {
    /// Show a tenant's policy (as TOML; `--json` for the API's JSON).
    Show {
        /// The tenant.
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Replace a tenant's policy by the one in a TOML file.
    Set {
        /// The tenant.
        tenant: String,
        /// The policy (TOML): limits, HTTP origins and secrets, contacts, messaging, cron.
        file: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `policy` command.
pub(crate) async fn policy(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Show { tenant, remote } => {
            let answer =
                remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "policy"], &[]).await?;
            match toml::to_string_pretty(&without_nulls(answer.clone())) {
                Ok(text) if !remote.json => print!("{text}"),
                _ => print_json(&answer),
            }
        }
        PolicyCommand::Set { tenant, file, remote } => {
            let tenant = tenant_id(&tenant)?;
            let text = read_file(&file, "the policy")?;
            let body = Body::raw(text, "application/toml");
            let answer = remote.client()?.put(&["v1", "tenants", &tenant, "policy"], body).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("policy of tenant {tenant} replaced");
            }
        }
    }
    Ok(())
}

/// `v` without its `null` members (TOML has no null: absent means unset).
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_shows_as_toml_without_nulls() {
        let v = json!({"cron": null, "limits": {"fuel": 5, "timeout_ms": null}, "http": []});
        let text = toml::to_string_pretty(&without_nulls(v)).unwrap();
        assert!(!text.contains("cron") && !text.contains("timeout_ms"), "{text}");
        assert!(text.contains("[limits]") && text.contains("fuel = 5"), "{text}");
    }
}
