//! `wasmclaw usage`: the metered totals per tenant and skill (and the
//! model usage of agents), and `usage series`: a tenant's usage by hour or
//! day with latency percentiles.

use super::remote::{Remote, tenant_id};
use super::reports::parse_since;
use super::{cell, items, print_json, print_table, time_cell};
use clap::{Args, Subcommand};
use serde_json::Value;

/// `wasmclaw usage`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct UsageArgs {
    #[command(subcommand)]
    command: Option<UsageCommand>,
    /// Only this tenant's usage (without it: every tenant's, for the
    /// operator; the token's tenant's, for a token).
    #[arg(long)]
    tenant: Option<String>,
    /// Only the model usage of agents from the day of this time on: a
    /// duration back from now (`1h`, `7days`) or seconds since the Unix
    /// epoch (skill usage is always the totals).
    #[arg(long, value_name = "DURATION|EPOCH_SECS", value_parser = parse_since)]
    since: Option<u64>,
    #[command(flatten)]
    remote: Remote,
}

/// Prints the metered usage per tenant and skill, then the model usage of
/// agents per agent, model and day (when there is any).
pub(crate) async fn usage(args: UsageArgs) -> anyhow::Result<()> {
    if let Some(UsageCommand::Series(series_args)) = args.command {
        return series(series_args).await;
    }
    let mut query = Vec::new();
    if let Some(since) = args.since {
        query.push(("since", since.to_string()));
    }
    let client = args.remote.client()?;
    let tenant = args.tenant.as_deref().map(tenant_id).transpose()?;
    let answer = match &tenant {
        Some(t) => client.get(&["v1", "tenants", t, "usage"], &query).await?,
        None => client.get(&["v1", "usage"], &query).await?,
    };
    if args.remote.json {
        print_json(&answer);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = items(&answer, "usage")
        .iter()
        .map(|u| {
            let errors = match u["errors"].as_object() {
                Some(m) if !m.is_empty() => {
                    m.iter().map(|(k, n)| format!("{k}={n}")).collect::<Vec<_>>().join(",")
                }
                _ => "-".into(),
            };
            vec![
                cell(&u["tenant"]),
                cell(&u["skill"]),
                cell(&u["calls"]),
                errors,
                cell(&u["fuel"]),
                cell(&u["wall_us"]),
                cell(&u["memory_peak_bytes"]),
                cell(&u["cost"]),
            ]
        })
        .collect();
    print_table(&["TENANT", "SKILL", "CALLS", "ERRORS", "FUEL", "WALL US", "MEMORY PEAK", "COST"], &rows);
    let models = items(&answer, "models");
    if !models.is_empty() {
        // The tenant's own route leaves `tenant` out of its rows.
        let rows: Vec<Vec<String>> = models
            .iter()
            .map(|m| {
                let tenant = match (&m["tenant"], &tenant) {
                    (Value::Null, Some(t)) => t.clone(),
                    (v, _) => cell(v),
                };
                vec![
                    tenant,
                    cell(&m["agent"]),
                    cell(&m["model"]),
                    cell(&m["day"]),
                    cell(&m["input_tokens"]),
                    cell(&m["output_tokens"]),
                    cell(&m["tool_calls"]),
                    cell(&m["cost"]),
                ]
            })
            .collect();
        println!();
        print_table(
            &["TENANT", "AGENT", "MODEL", "DAY", "INPUT TOKENS", "OUTPUT TOKENS", "TOOL CALLS", "COST"],
            &rows,
        );
    }
    Ok(())
}

/// `wasmclaw usage …`.
#[derive(Subcommand, Debug)]
pub(crate) enum UsageCommand {
    /// A tenant's usage by hour or day and skill: calls, errors, fuel,
    /// wall time, cost and the p50/p95/p99 wall time.
    Series(SeriesArgs),
}

/// `wasmclaw usage series`.
#[derive(Args, Debug)]
pub(crate) struct SeriesArgs {
    /// The tenant (the operator must name it; a token's tenant is its own).
    #[arg(long)]
    tenant: Option<String>,
    /// The buckets' width.
    #[arg(long, value_parser = ["hour", "day"], default_value = "hour")]
    step: String,
    /// From then: a duration back from now (`6h`, `7days`) or seconds since
    /// the Unix epoch (default: a day back by the hour, 30 days by the day).
    #[arg(long, value_name = "DURATION|EPOCH_SECS", value_parser = parse_since)]
    since: Option<u64>,
    /// Until then (default: now), as `--since`.
    #[arg(long, value_name = "DURATION|EPOCH_SECS", value_parser = parse_since)]
    until: Option<u64>,
    /// Only this skill.
    #[arg(long)]
    skill: Option<String>,
    #[command(flatten)]
    remote: Remote,
}

/// Prints one row per bucket and skill that had calls.
async fn series(args: SeriesArgs) -> anyhow::Result<()> {
    let mut query = vec![("step", args.step.clone())];
    query.extend(args.since.map(|s| ("since", s.to_string())));
    query.extend(args.until.map(|u| ("until", u.to_string())));
    query.extend(args.skill.clone().map(|s| ("skill", s)));
    let client = args.remote.client()?;
    let answer = match args.tenant.as_deref().map(tenant_id).transpose()? {
        Some(t) => client.get(&["v1", "tenants", &t, "usage", "series"], &query).await?,
        None => client.get(&["v1", "usage", "series"], &query).await?,
    };
    if args.remote.json {
        print_json(&answer);
        return Ok(());
    }
    let micros = |v: &Value| v.as_u64().map_or("-".to_string(), |us| us.to_string());
    let rows: Vec<Vec<String>> = items(&answer, "rows")
        .iter()
        .map(|r| {
            let errors: u64 =
                r["errors"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
            vec![
                time_cell(&r["start"]),
                cell(&r["skill"]),
                cell(&r["calls"]),
                errors.to_string(),
                cell(&r["fuel"]),
                cell(&r["wall_us"]),
                cell(&r["cost"]),
                micros(&r["p50_us"]),
                micros(&r["p95_us"]),
                micros(&r["p99_us"]),
            ]
        })
        .collect();
    print_table(
        &["START", "SKILL", "CALLS", "ERRORS", "FUEL", "WALL US", "COST", "P50 US", "P95 US", "P99 US"],
        &rows,
    );
    Ok(())
}
