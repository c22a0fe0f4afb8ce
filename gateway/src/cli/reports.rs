//! The remote commands that call skills and read reports: `invoke`,
//! `audit`, `outbox` and `security audit`
//! (which falls back to the local file and configuration checks when the
//! gateway cannot be reached).

use super::client::{Client, ClientError};
use super::remote::{Remote, tenant_id};
use super::{ChecksFailed, Common, cell, items, load_config, print_json, print_table, read_input, time_cell};
use clap::{Args, Subcommand};
use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use wasmclaw::{Error, UserId};

/// `wasmclaw invoke`.
#[derive(Args, Debug)]
pub(crate) struct InvokeArgs {
    /// The installed skill's name.
    skill: String,
    /// Input JSON; `@FILE` reads a file, `-` reads stdin. Without it, stdin
    /// is read when it is not a terminal.
    #[arg(long, value_name = "JSON|@FILE|-")]
    input: Option<String>,
    /// The user within the tenant whose memory scope the call uses.
    #[arg(long)]
    user: Option<String>,
    /// Also print the call's usage (fuel, time, memory) as JSON on stderr.
    #[arg(long)]
    usage: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Invokes an installed skill as the token's tenant and prints its output.
pub(crate) async fn invoke(args: InvokeArgs) -> anyhow::Result<()> {
    let user = args.user.as_deref().map(UserId::parse).transpose().map_err(Error::from)?;
    let input = read_input(args.input.as_deref())?;
    // Skills are invoked by tenant tokens only (the tenant is the token's).
    let client = Client::new(&args.remote.url, args.remote.token.as_deref())?;
    let mut headers = Vec::new();
    if let Some(user) = user {
        let value = HeaderValue::from_str(user.as_str())
            .map_err(|_| Error::InvalidInput("the user id cannot be sent as a header".into()))?;
        headers.push((HeaderName::from_static("x-wasmclaw-user"), value));
    }
    let body = super::client::Body::raw(input.into_bytes(), "application/json");
    let path = ["v1", "skills", &args.skill, "invoke"];
    let answer = client.send(Method::POST, &path, &[], Some(body), &headers).await?;
    if args.remote.json {
        print_json(&answer);
    } else {
        println!("{}", answer.get("output").unwrap_or(&Value::Null));
    }
    if args.usage {
        eprintln!("{}", answer.get("usage").unwrap_or(&Value::Null));
    }
    Ok(())
}

/// Parses `--since`: seconds since the Unix epoch, or a duration back from
/// now (`1h`, `2days`).
pub(super) fn parse_since(s: &str) -> Result<u64, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(secs);
    }
    let ago = humantime::parse_duration(s)
        .map_err(|e| format!("neither seconds since the epoch nor a duration such as `1h`: {e}"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Ok(now.saturating_sub(ago.as_secs()))
}

/// `wasmclaw audit`.
#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// Only this tenant's events (without it: every tenant's, for the
    /// operator; the token's tenant's, for a token).
    #[arg(long)]
    tenant: Option<String>,
    /// Only events since then: a duration back from now (`1h`, `7days`) or
    /// seconds since the Unix epoch.
    #[arg(long, value_name = "DURATION|EPOCH_SECS", value_parser = parse_since)]
    since: Option<u64>,
    /// At most this many events.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Only this action (`token.mint`), or actions starting with a prefix
    /// ending in `*` (`token.*`).
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Only this outcome (`ok`, `denied`, `failed`, …).
    #[arg(long, value_name = "WORD")]
    outcome: Option<String>,
    /// Leave out this many of the latest matching events (the next page).
    #[arg(long, value_name = "N")]
    skip: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

/// Prints the audit events the credential may read.
pub(crate) async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    let mut query = Vec::new();
    if let Some(since) = args.since {
        query.push(("since", since.to_string()));
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    for (key, value) in [("action", &args.action), ("outcome", &args.outcome)] {
        if let Some(v) = value {
            query.push((key, v.clone()));
        }
    }
    if let Some(skip) = args.skip {
        query.push(("skip", skip.to_string()));
    }
    let client = args.remote.client()?;
    let answer = match &args.tenant {
        Some(t) => client.get(&["v1", "tenants", &tenant_id(t)?, "audit"], &query).await?,
        None => client.get(&["v1", "audit"], &query).await?,
    };
    if args.remote.json {
        print_json(&answer);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items(&answer, "events")
        .iter()
        .map(|e| {
            vec![
                time_cell(&e["time"]),
                cell(&e["actor"]),
                cell(&e["tenant"]),
                cell(&e["action"]),
                cell(&e["target"]),
                cell(&e["outcome"]),
            ]
        })
        .collect();
    print_table(&["TIME", "ACTOR", "TENANT", "ACTION", "TARGET", "OUTCOME"], &rows);
    Ok(())
}

/// `wasmclaw outbox`.
#[derive(Args, Debug)]
pub(crate) struct OutboxArgs {
    /// The tenant (the admin key needs it; a token reads its own tenant's).
    #[arg(long)]
    tenant: Option<String>,
    /// Only messages in this state.
    #[arg(long, value_parser = ["pending", "delivered", "dead"])]
    state: Option<String>,
    /// The page after this message id (the `next` a page printed).
    #[arg(long, value_name = "ID")]
    after: Option<String>,
    /// At most this many messages (1 to 100; default 50).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

/// Prints a page of a tenant's outbox, and where the next page starts.
pub(crate) async fn outbox(args: OutboxArgs) -> anyhow::Result<()> {
    let mut query = Vec::new();
    for (key, value) in [("state", &args.state), ("after", &args.after)] {
        if let Some(v) = value {
            query.push((key, v.clone()));
        }
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    let client = args.remote.client()?;
    let answer = match &args.tenant {
        Some(t) => client.get(&["v1", "tenants", &tenant_id(t)?, "outbox"], &query).await?,
        None => client.get(&["v1", "outbox"], &query).await?,
    };
    if args.remote.json {
        print_json(&answer);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items(&answer, "messages")
        .iter()
        .map(|m| {
            vec![
                cell(&m["id"]),
                time_cell(&m["created"]),
                cell(&m["skill"]),
                cell(&m["contact"]),
                cell(&m["state"]),
                cell(&m["attempts"]),
                cell(&m["last_error"]),
            ]
        })
        .collect();
    print_table(&["ID", "CREATED", "SKILL", "CONTACT", "STATE", "ATTEMPTS", "LAST ERROR"], &rows);
    if let Some(next) = answer["next"].as_str() {
        eprintln!("more: --after {next}");
    }
    Ok(())
}

/// `wasmclaw config`.
#[derive(Subcommand, Debug)]
pub(crate) enum ConfigCommand {
    /// Print the running gateway's effective configuration (admin key),
    /// one `key = value` per line, credentials in URLs hidden.
    Show(ConfigShowArgs),
}

/// `wasmclaw config show`.
#[derive(Args, Debug)]
pub(crate) struct ConfigShowArgs {
    #[command(flatten)]
    remote: Remote,
}

/// Prints the gateway's effective configuration.
pub(crate) async fn config(cmd: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Show(args) = cmd;
    let answer = args.remote.client()?.get(&["v1", "config"], &[]).await?;
    if args.remote.json {
        print_json(&answer);
        return Ok(());
    }
    for (key, value) in wasmclaw::config::dotted(&answer["config"]) {
        println!("{key} = {}", super::terminal_safe(&value));
    }
    Ok(())
}

/// `wasmclaw security …`.
#[derive(Subcommand, Debug)]
pub(crate) enum SecurityCommand {
    /// Ask the gateway for its security findings (falls back to the local
    /// file and configuration checks when it cannot be reached); exit 21
    /// when a finding is critical.
    Audit(SecurityAuditArgs),
}

/// `wasmclaw security audit`.
#[derive(Args, Debug)]
pub(crate) struct SecurityAuditArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    remote: Remote,
}

/// A finding, as the API and `wasmclaw::security` give it.
#[derive(Debug, Serialize, Deserialize)]
struct Finding {
    /// `critical`, `warning` or `info`.
    severity: String,
    /// A stable name of the finding.
    code: String,
    /// What is wrong and how to fix it.
    message: String,
    /// The tenant it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
}

/// Runs a `security` command.
pub(crate) async fn security(cmd: SecurityCommand) -> anyhow::Result<()> {
    let SecurityCommand::Audit(args) = cmd;
    let findings: Vec<Finding> = match args.remote.client()?.get(&["v1", "security", "audit"], &[]).await {
        Ok(answer) => serde_json::from_value(answer.get("findings").cloned().unwrap_or(Value::Null))
            .map_err(|e| Error::Internal(format!("the gateway's findings do not parse: {e}")))?,
        Err(e) if matches!(e.downcast_ref::<ClientError>(), Some(ClientError::Unreachable { .. })) => {
            eprintln!("warning: {e:#}; showing the local file and configuration checks only");
            local_findings(&args.common)?
        }
        Err(e) => return Err(e),
    };
    if args.remote.json {
        print_json(&serde_json::json!({ "findings": findings }));
    } else {
        if findings.is_empty() {
            eprintln!("no findings");
        }
        for f in &findings {
            println!("{} {} {}", f.severity.to_uppercase(), f.code, f.message);
        }
    }
    let critical = findings.iter().filter(|f| f.severity == "critical").count();
    if critical > 0 {
        return Err(ChecksFailed(format!(
            "{critical} critical finding{}",
            if critical == 1 { "" } else { "s" }
        ))
        .into());
    }
    Ok(())
}

/// The local file and configuration checks (`wasmclaw::security`).
fn local_findings(common: &Common) -> anyhow::Result<Vec<Finding>> {
    let config = load_config(common)?;
    let found = wasmclaw::security::file_findings(&config);
    let value = serde_json::to_value(found).map_err(|e| Error::Internal(format!("findings: {e}")))?;
    Ok(serde_json::from_value(value).map_err(|e| Error::Internal(format!("findings: {e}")))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_epoch_seconds_or_a_duration_ago() {
        assert_eq!(parse_since("1700000000"), Ok(1_700_000_000));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let hour_ago = parse_since("1h").unwrap();
        assert!(hour_ago <= now - 3600 && hour_ago >= now - 3700);
        assert!(parse_since("soon").is_err());
        assert!(parse_since("-5").is_err());
    }
}
