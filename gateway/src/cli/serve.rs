//! `wasmclaw serve`: the gateway on embedded defaults.

use super::{Common, load_config};
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use wasmclaw::{Error, Runtime};
use wasmclaw_gateway::Gateway;

/// Options of `serve`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (default from the configuration, else
    /// 127.0.0.1:8420; port 0 picks a free port).
    #[arg(long, value_name = "ADDR", env = "WASMCLAW_LISTEN")]
    listen: Option<SocketAddr>,
    /// Install and run unsigned skills (bare components) too: for
    /// development only; `security audit` flags it.
    #[arg(long)]
    allow_unsigned: bool,
    #[command(flatten)]
    common: Common,
}

/// Opens the data directory, makes sure an admin key exists, loads the
/// installed skills and serves until SIGINT or SIGTERM.
pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(&args.common)?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.allow_unsigned {
        config.trust.require_signed = false;
        eprintln!("wasmclaw: --allow-unsigned: unsigned skills are accepted (development only)");
    }
    let runtime = Runtime::new(config.clone())?;
    let from_env = std::env::var("WASMCLAW_ADMIN_KEY").ok().filter(|k| !k.is_empty());
    if let Some(key) = runtime.ensure_admin_key(from_env.as_deref())? {
        println!("admin key (shown once): {key}");
    }
    let loaded = runtime.load_installed().await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Io { context: format!("cannot listen on {}", config.listen), source: e })?;
    let addr = listener.local_addr().context("the bound address")?;
    tracing::info!(%addr, skills = loaded, data_dir = %config.data_dir.display(), store = %config.store, "serving");
    println!("wasmclaw listening on http://{addr}");
    std::io::stdout().flush().ok();
    wasmclaw_gateway::run(listener, Gateway::new(runtime), shutdown_signal())
        .await
        .map_err(|e| Error::Io { context: "serving".into(), source: e })?;
    eprintln!("wasmclaw: stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
