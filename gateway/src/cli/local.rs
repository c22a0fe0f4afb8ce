//! The local commands: `run`, `describe` and the offline `secret set/list`.
//! They open the data directory themselves (no gateway involved).

use super::{Common, load_config, read_input, read_secret_value};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use wasmclaw::policy::TenantPolicy;
use wasmclaw::{Call, Error, LimitOverrides, Runtime, TenantId, UserId};

/// `wasmclaw run`.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The skill component (.wasm, built for wasm32-wasip2).
    skill: PathBuf,
    /// The tenant the call runs as (lower-case letters, digits, dashes).
    #[arg(long)]
    tenant: String,
    /// The user within the tenant whose memory scope the call uses.
    #[arg(long)]
    user: Option<String>,
    /// Input JSON; `@FILE` reads a file, `-` reads stdin. Without it, stdin
    /// is read when it is not a terminal.
    #[arg(long, value_name = "JSON|@FILE|-")]
    input: Option<String>,
    /// Fuel for the call (within the operator's cap).
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit, e.g. `64MiB` (within the operator's cap).
    #[arg(long, value_name = "SIZE")]
    memory: Option<bytesize::ByteSize>,
    /// Wall-clock limit, e.g. `500ms`, `5s` (within the operator's cap).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    /// Also print the call's usage (fuel, time, memory) as JSON on stderr.
    #[arg(long)]
    usage: bool,
    /// The skill's manifest (default: NAME.toml beside NAME.wasm, if any).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Store this policy (TOML) for the tenant before the call: the limits,
    /// HTTP origins, secrets, contacts and schedules it grants its skills.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// `wasmclaw describe`.
#[derive(Args, Debug)]
pub(crate) struct DescribeArgs {
    /// The skill component (.wasm).
    skill: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

/// Runs one call of a skill and prints its output.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    // Validate everything the caller gave before touching the disk.
    let tenant = TenantId::parse(&args.tenant).map_err(Error::from)?;
    let user = args.user.as_deref().map(UserId::parse).transpose().map_err(Error::from)?;
    let input = read_input(args.input.as_deref())?;
    let policy = args
        .policy
        .as_deref()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Error::Config(format!("cannot read the policy {}: {e}", p.display())))?;
            TenantPolicy::parse(&text).map_err(|e| Error::Config(format!("policy {}: {e}", p.display())))
        })
        .transpose()?;
    let config = load_config(&args.common)?;
    let runtime = Runtime::new(config)?;
    if let Some(policy) = &policy {
        runtime.set_policy("operator", &tenant, policy)?;
    }
    let skill = match &args.manifest {
        Some(m) => runtime.load_skill_files(&args.skill, Some(m)).await?,
        None => runtime.load_skill_file(&args.skill).await?,
    };
    let bound = runtime.bind(&skill, &tenant)?;
    let call = Call {
        user,
        overrides: LimitOverrides {
            fuel: args.fuel,
            memory_bytes: args.memory.map(|m| m.as_u64()),
            timeout: args.timeout,
        },
        ..Call::default()
    };
    let outcome = runtime.invoke(&bound, &call, &input).await?;
    println!("{}", outcome.output);
    if args.usage {
        eprintln!("{}", serde_json::to_string(&outcome.usage).context("usage")?);
    }
    // Messages the call queued get one delivery attempt before exiting;
    // the rest are delivered by the gateway's worker.
    match runtime.deliverer().deliver_due().await {
        Ok(r) if r.retried + r.dead > 0 => {
            eprintln!("messages: {} delivered, {} to retry, {} dead", r.delivered, r.retried, r.dead)
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: message delivery: {e}"),
    }
    Ok(())
}

/// Loads a skill and prints what it says about itself and what it imports.
pub(crate) async fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    let config = load_config(&args.common)?;
    let runtime = Runtime::new(config)?;
    let skill = runtime.load_skill_file(&args.skill).await?;
    if args.json {
        let v = serde_json::json!({
            "info": skill.info,
            "digest": skill.digest,
            "imports": skill.imports,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("name:        {}", skill.info.name);
        println!("version:     {}", skill.info.version);
        println!("description: {}", skill.info.description);
        println!("digest:      sha256:{}", skill.digest);
        println!("input:       {}", skill.info.input_schema);
        println!("imports:");
        for i in &skill.imports {
            println!("  {i}");
        }
    }
    Ok(())
}

/// `secret set --offline`: stores the value read from stdin, encrypted,
/// straight into the data directory.
pub(crate) async fn secret_set(name: &str, tenant: &str, common: &Common) -> anyhow::Result<()> {
    let tenant = TenantId::parse(tenant).map_err(Error::from)?;
    let value = read_secret_value()?;
    let runtime = Runtime::new(load_config(common)?)?;
    runtime.put_secret("operator", &tenant, name, &value)?;
    eprintln!("secret {name} stored for tenant {tenant}");
    Ok(())
}

/// `secret list --offline`: the tenant's secret names, one a line.
pub(crate) async fn secret_list(tenant: &str, common: &Common, json: bool) -> anyhow::Result<()> {
    let tenant = TenantId::parse(tenant).map_err(Error::from)?;
    let runtime = Runtime::new(load_config(common)?)?;
    let names = runtime.secret_names(&tenant)?;
    if json {
        super::print_json(&serde_json::json!({ "secrets": names }));
    } else {
        for name in names {
            println!("{name}");
        }
    }
    Ok(())
}
