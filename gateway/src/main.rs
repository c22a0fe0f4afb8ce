//! The `wasmclaw` command: local commands over the runtime library, the
//! gateway (`serve`), and remote commands that talk to a running gateway
//! over HTTP. Errors go to stderr as `error: …` with a distinct exit code.

mod cli;

use clap::{Parser, Subcommand};
use cli::{
    agents, backup, channels, doctor, keys, local, remote, reports, secrets, serve, skills, store, tokens,
    usage,
};
use std::process::ExitCode;

/// wasmclaw: a multi-tenant agent gateway where every skill is a WebAssembly
/// component, isolated per tenant.
///
/// Exit codes: 0 ok, 1 internal (or a database that cannot be reached at
/// start), 2 usage, 3 invalid input, 4 invalid skill,
/// 5 skill error, 6 trap, 7 out of fuel, 8 timeout, 9 memory limit,
/// 10 denied, 11 busy, 12 invalid output, 13 storage, 14 I/O (or a gateway
/// that cannot be reached), 15 configuration, 16 not found, 17 conflict,
/// 18 unauthorized, 19 forbidden, 20 suspended, 21 checks failed, 22 too large, 23 untrusted,
/// 24 provider (an agent's model provider failed), 25 quota exceeded, 26 step limit.
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
    Run(local::RunArgs),
    /// Load a skill component and show what it says about itself and what it
    /// imports (its permissions).
    Describe(local::DescribeArgs),
    /// Start the gateway: the HTTP API over the data directory.
    Serve(serve::ServeArgs),
    /// Manage the gateway's tenants (admin key).
    #[command(subcommand)]
    Tenant(remote::TenantCommand),
    /// Manage a tenant's tokens (admin key, or an admin token of the tenant).
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Show or replace a tenant's policy.
    #[command(subcommand)]
    Policy(remote::PolicyCommand),
    /// Skills: create, pack and sign, verify and inspect (offline); install,
    /// upgrade, list and remove a tenant's skills (through the gateway).
    #[command(subcommand)]
    Skill(skills::SkillCommand),
    /// Publisher keys: generate one, print its public half.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The gateway's trusted publisher keys (admin key).
    #[command(subcommand)]
    Trust(keys::TrustCommand),
    /// Manage a tenant's secrets (values are write-only), through the
    /// gateway or, with `--offline`, in the data directory.
    #[command(subcommand)]
    Secret(secrets::SecretCommand),
    /// Manage a tenant's agents (admin key, or an admin token of the
    /// tenant) and talk to them as a peer (a member token suffices).
    #[command(subcommand)]
    Agent(agents::AgentCommand),
    /// Manage a tenant's inbound channels: a signed webhook or a Telegram
    /// bot feeding one of its agents (admin key, or an admin token of the
    /// tenant).
    #[command(subcommand)]
    Channel(channels::ChannelCommand),
    /// Invoke an installed skill as the token's tenant and print its output.
    Invoke(reports::InvokeArgs),
    /// Show the audit log's events.
    Audit(reports::AuditArgs),
    /// Show a page of a tenant's outbox: the messages its skills sent, their
    /// delivery state, attempts and last error.
    Outbox(reports::OutboxArgs),
    /// Show the metered usage per tenant and skill, and the model usage of
    /// agents per agent, model and day.
    Usage(usage::UsageArgs),
    /// Check the data directory's permissions, the configuration and the
    /// gateway's health; exit 21 if a check fails.
    Doctor(doctor::DoctorArgs),
    /// The running gateway's effective configuration (admin key).
    #[command(subcommand)]
    Config(reports::ConfigCommand),
    /// Security checks of the gateway and its files.
    #[command(subcommand)]
    Security(reports::SecurityCommand),
    /// Back up every tenant, or one, to a file while the gateway serves
    /// (admin key): rows, files, media, skills, jobs, and secrets still
    /// encrypted. `backup rewrap` re-wraps a backup for another master key.
    Backup(backup::BackupArgs),
    /// Restore a backup file's tenants, or one of them, into the running
    /// gateway (admin key); a corrupt file is refused and nothing changes.
    Restore(backup::RestoreArgs),
    /// Offline operations on a stopped gateway's database: `store migrate`
    /// moves it from the data directory's redb file into PostgreSQL.
    #[command(subcommand)]
    Store(store::StoreCommand),
}

/// The log filter: `WASMCLAW_LOG` (tracing's `EnvFilter` syntax), or
/// `warn,wasmclaw::guest=info` when it is unset or unreadable. Unless the
/// spec names `tokio_postgres` itself, that crate stays at `info`: at
/// `debug` it logs every statement's parameters, which are tenants' data
/// (memory values, session messages, token names).
fn log_filter(spec: Option<&str>) -> tracing_subscriber::EnvFilter {
    let default = || tracing_subscriber::EnvFilter::new("warn,wasmclaw::guest=info");
    let filter = spec
        .map_or_else(default, |s| tracing_subscriber::EnvFilter::try_new(s).unwrap_or_else(|_| default()));
    match spec {
        Some(s) if s.contains("tokio_postgres") => filter,
        _ => match "tokio_postgres=info".parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(log_filter(std::env::var("WASMCLAW_LOG").ok().as_deref()))
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
            Command::Run(args) => local::run(args).await,
            Command::Describe(args) => local::describe(args).await,
            Command::Serve(args) => serve::serve(args).await,
            Command::Tenant(cmd) => remote::tenant(cmd).await,
            Command::Token(cmd) => tokens::token(cmd).await,
            Command::Policy(cmd) => remote::policy(cmd).await,
            Command::Skill(cmd) => skills::skill(cmd).await,
            Command::Keys(cmd) => keys::keys(cmd),
            Command::Trust(cmd) => keys::trust(cmd).await,
            Command::Secret(cmd) => secrets::secret(cmd).await,
            Command::Agent(cmd) => agents::agent(cmd).await,
            Command::Channel(cmd) => channels::channel(cmd).await,
            Command::Invoke(args) => reports::invoke(args).await,
            Command::Audit(args) => reports::audit(args).await,
            Command::Outbox(args) => reports::outbox(args).await,
            Command::Usage(args) => usage::usage(args).await,
            Command::Doctor(args) => doctor::doctor(args).await,
            Command::Security(cmd) => reports::security(cmd).await,
            Command::Config(cmd) => reports::config(cmd).await,
            Command::Backup(args) => backup::backup(args).await,
            Command::Restore(args) => backup::restore(args).await,
            Command::Store(cmd) => store::store(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
