//! `wasmclaw secret set/list`: through the gateway, or with `--offline`
//! straight on the data directory (while the gateway is stopped).

use super::client::Body;
use super::remote::{Remote, tenant_id};
use super::{Common, cell, items, print_json, read_secret_value};
use clap::Subcommand;

/// `wasmclaw secret …`.
#[derive(Subcommand, Debug)]
pub(crate) enum SecretCommand {
    /// Store a secret for a tenant; the value is read from stdin (one
    /// trailing newline is dropped) and stored encrypted.
    Set {
        /// The secret's name (A-Z, 0-9, _; starting with a letter).
        name: String,
        /// The tenant owning the secret.
        #[arg(long)]
        tenant: String,
        /// Open the data directory directly instead of asking the gateway
        /// (while the gateway is stopped).
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a tenant's secret names (never values).
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Open the data directory directly instead of asking the gateway
        /// (while the gateway is stopped).
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `secret` command, through the gateway or, with `--offline`, on
/// the data directory.
pub(crate) async fn secret(cmd: SecretCommand) -> anyhow::Result<()> {
    match cmd {
        SecretCommand::Set { name, tenant, offline: true, common, .. } => {
            super::local::secret_set(&name, &tenant, &common).await
        }
        SecretCommand::List { tenant, offline: true, common, remote } => {
            super::local::secret_list(&tenant, &common, remote.json).await
        }
        SecretCommand::Set { name, tenant, remote, .. } => {
            let tenant = tenant_id(&tenant)?;
            let client = remote.client()?;
            let value = read_secret_value()?;
            let body = Body::raw(value, "application/octet-stream");
            client.put(&["v1", "tenants", &tenant, "secrets", &name], body).await?;
            eprintln!("secret {name} stored for tenant {tenant}");
            Ok(())
        }
        SecretCommand::List { tenant, remote, .. } => {
            let answer =
                remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "secrets"], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                for name in items(&answer, "secrets") {
                    println!("{}", cell(name));
                }
            }
            Ok(())
        }
    }
}
