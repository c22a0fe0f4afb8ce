//! The `wasmclaw` command: a thin edge over the runtime library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use wasmclaw::policy::TenantPolicy;
use wasmclaw::{Call, Error, LimitOverrides, Runtime, RuntimeConfig, TenantId, UserId};

/// wasmclaw: a multi-tenant agent gateway where every skill is a WebAssembly
/// component, isolated per tenant.
#[derive(Parser)]
#[command(name = "wasmclaw", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one call of a skill component as a tenant and print its output.
    ///
    /// The output (JSON) goes to stdout; errors go to stderr with a non-zero
    /// exit code: 3 invalid input, 4 invalid skill, 5 skill error, 6 trap,
    /// 7 out of fuel, 8 timeout, 9 memory limit, 10 denied, 11 busy,
    /// 12 invalid output, 13 storage, 14 I/O, 15 configuration, 1 internal.
    Run(RunArgs),
    /// Load a skill component and show what it says about itself and what it
    /// imports (its permissions).
    Describe(DescribeArgs),
    /// Manage a tenant's secrets (values are write-only).
    #[command(subcommand)]
    Secret(SecretCommand),
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Store a secret for a tenant; the value is read from stdin (one
    /// trailing newline is dropped) and stored encrypted.
    Set {
        /// The secret's name (A-Z, 0-9, _; starting with a letter).
        name: String,
        /// The tenant owning the secret.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        common: Common,
    },
    /// List a tenant's secret names (never values).
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    /// Data directory: database, compiled cache and tenants' files.
    #[arg(long, env = "WASMCLAW_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Runtime configuration file (TOML): pool, default limits, caps, quotas.
    #[arg(long, env = "WASMCLAW_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
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

#[derive(Args)]
struct DescribeArgs {
    /// The skill component (.wasm).
    skill: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMCLAW_LOG")
                .unwrap_or_else(|_| "warn,wasmclaw::guest=info".into()),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Describe(args) => describe(args).await,
            Command::Secret(cmd) => secret(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let code = e.downcast_ref::<Error>().map(Error::exit_code).unwrap_or(1);
            ExitCode::from(code)
        }
    }
}

fn load_config(common: &Common) -> anyhow::Result<RuntimeConfig> {
    let mut config = match &common.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        }
        None => RuntimeConfig::default(),
    };
    if let Some(dir) = &common.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

fn read_input(arg: Option<&str>) -> anyhow::Result<String> {
    let from_stdin = || -> anyhow::Result<String> {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Error::InvalidInput(format!("cannot read stdin: {e}")))?;
        Ok(s)
    };
    match arg {
        Some("-") => from_stdin(),
        Some(a) if a.starts_with('@') => {
            let path = Path::new(&a[1..]);
            Ok(std::fs::read_to_string(path).map_err(|e| {
                Error::InvalidInput(format!("cannot read the input file {}: {e}", path.display()))
            })?)
        }
        Some(json) => Ok(json.to_string()),
        None if std::io::stdin().is_terminal() => Err(Error::InvalidInput(
            "no input: pass --input JSON, --input @FILE, or pipe JSON on stdin".into(),
        )
        .into()),
        None => from_stdin(),
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
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

async fn secret(cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Set { name, tenant, common } => {
            let tenant = TenantId::parse(&tenant).map_err(Error::from)?;
            let mut value = Vec::new();
            std::io::stdin()
                .read_to_end(&mut value)
                .map_err(|e| Error::InvalidInput(format!("cannot read stdin: {e}")))?;
            if value.ends_with(b"\n") {
                value.pop();
            }
            let runtime = Runtime::new(load_config(&common)?)?;
            runtime.put_secret("operator", &tenant, &name, &value)?;
            eprintln!("secret {name} stored for tenant {tenant}");
        }
        SecretCommand::List { tenant, common } => {
            let tenant = TenantId::parse(&tenant).map_err(Error::from)?;
            let runtime = Runtime::new(load_config(&common)?)?;
            for name in runtime.secret_names(&tenant)? {
                println!("{name}");
            }
        }
    }
    Ok(())
}

async fn describe(args: DescribeArgs) -> anyhow::Result<()> {
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
