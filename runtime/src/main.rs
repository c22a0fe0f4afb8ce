//! The `wasmclaw` command: a thin edge over the runtime library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
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
    let config = load_config(&args.common)?;
    let runtime = Runtime::new(config)?;
    let skill = runtime.load_skill_file(&args.skill).await?;
    let call = Call {
        tenant,
        user,
        overrides: LimitOverrides {
            fuel: args.fuel,
            memory_bytes: args.memory.map(|m| m.as_u64()),
            timeout: args.timeout,
        },
    };
    let outcome = runtime.invoke(&skill, &call, &input).await?;
    println!("{}", outcome.output);
    if args.usage {
        eprintln!("{}", serde_json::to_string(&outcome.usage).context("usage")?);
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
