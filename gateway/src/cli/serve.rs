//! `wasmclaw serve`: the gateway on embedded defaults.

use super::{Common, load_config};
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use wasmclaw::config::NodeIdentity;
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
    /// Run as a replica of a cluster under this node id (1 to 63 of a-z,
    /// 0-9 and '-'): several gateways over one PostgreSQL store
    /// (`--store`), each with its own node id. Needs WASMCLAW_ADMIN_KEY
    /// and the same WASMCLAW_MASTER_KEY on every replica.
    #[arg(long, value_name = "ID", env = "WASMCLAW_NODE_ID")]
    node_id: Option<String>,
    /// The base URL the other replicas reach this one at
    /// (http://HOST:PORT); default: the address it listens on, which must
    /// then be a specific one (not 0.0.0.0).
    #[arg(long, value_name = "URL", env = "WASMCLAW_ADVERTISE", requires = "node_id")]
    advertise: Option<String>,
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
    wasmclaw_gateway::dashboard::check(&config.dashboard).map_err(Error::Config)?;
    let from_env = std::env::var("WASMCLAW_ADMIN_KEY").ok().filter(|k| !k.is_empty());
    if args.node_id.is_some() && from_env.is_none() {
        // Replicas starting together would each generate a key, and all
        // but the last printed would be wrong.
        return Err(Error::Config(
            "a replica of a cluster (--node-id) needs WASMCLAW_ADMIN_KEY, the same on every replica".into(),
        )
        .into());
    }
    let runtime = Runtime::new(config.clone())?;
    if let Some(key) = runtime.ensure_admin_key(from_env.as_deref())? {
        println!("admin key (shown once): {key}");
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Io { context: format!("cannot listen on {}", config.listen), source: e })?;
    let addr = listener.local_addr().context("the bound address")?;
    if let Some(node_id) = &args.node_id {
        let advertise = match &args.advertise {
            Some(url) => url.clone(),
            None if addr.ip().is_unspecified() => {
                return Err(Error::Config(format!(
                    "--node-id with --listen {addr}: say where the other replicas reach this one \
                     (--advertise http://HOST:PORT)"
                ))
                .into());
            }
            None => format!("http://{addr}"),
        };
        let identity = NodeIdentity::new(node_id, &advertise).map_err(Error::Config)?;
        runtime.join_cluster(&identity).await?;
        tracing::info!(node = %identity.node_id, advertise = %identity.advertise, "joined the cluster");
    }
    let loaded = runtime.load_installed().await?;
    tracing::info!(%addr, skills = loaded, data_dir = %config.data_dir.display(), store = %config.store, "serving");
    println!("wasmclaw listening on http://{addr}");
    std::io::stdout().flush().ok();
    // A replica whose node id another process took (it stalled past the
    // TTL) stops: two processes must never serve as one node.
    let lost = {
        let rt = runtime.clone();
        async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                if rt.cluster_lost() {
                    return;
                }
            }
        }
    };
    let stop = async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = lost => {}
        }
    };
    wasmclaw_gateway::run(listener, Gateway::new(runtime.clone()), stop)
        .await
        .map_err(|e| Error::Io { context: "serving".into(), source: e })?;
    if runtime.cluster_lost() {
        return Err(Error::Conflict(
            "this replica's node id was taken over by another process while it did not beat; it stopped"
                .into(),
        )
        .into());
    }
    if let Err(e) = runtime.leave_cluster().await {
        tracing::warn!(error = %e, "could not leave the cluster; its row expires by itself");
    }
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
