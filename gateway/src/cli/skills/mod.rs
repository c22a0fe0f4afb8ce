//! `wasmclaw skill …`: the offline commands of a skill's life (`new`,
//! `pack`, `verify`, `inspect`) and the remote ones that install, list and
//! remove a tenant's skills.
//!
//! Here: the commands and their dispatch. The offline ones (`pack`,
//! `verify`, `inspect`: reading, signing and checking a package or a
//! component on this machine) are in `package`; the remote ones (`install`,
//! `list`, `remove`: a tenant's installed skills on a gateway) in
//! `installed`.

mod installed;
mod package;

use super::Common;
use super::remote::Remote;
use clap::Subcommand;
use std::path::PathBuf;

/// `wasmclaw skill …`.
#[derive(Subcommand, Debug)]
pub(crate) enum SkillCommand {
    /// Create a new skill crate (Cargo.toml, src/lib.rs, skill.toml, README).
    New(super::scaffold::NewArgs),
    /// Pack a component and its manifest into a package signed with a
    /// publisher key.
    Pack {
        /// The component (.wasm, built for wasm32-wasip2).
        #[arg(long, value_name = "FILE")]
        component: PathBuf,
        /// Its manifest (skill.toml).
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
        /// The publisher's private key (from `wasmclaw keys generate`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Where to write the package (NAME.wcpkg).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a package's signature offline (exit 23 if it is bad, or signed
    /// by none of the `--trust` keys when some are given).
    Verify {
        /// The package (.wcpkg).
        package: PathBuf,
        /// A trusted publisher key (`ed25519:…`); repeatable.
        #[arg(long, value_name = "PUBKEY")]
        trust: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a component's or package's imports (its real permissions),
    /// exports, manifest, digests and signature; exit 4 if an install would
    /// refuse its imports or exports.
    Inspect {
        /// A component (.wasm) or a package (.wcpkg).
        file: PathBuf,
        /// The manifest of a bare component (default: NAME.toml beside it).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Install a package (or, where the gateway allows it, a bare component)
    /// for a tenant; over an installed skill of that name, upgrade it.
    Install {
        /// The package (.wcpkg), or a bare component (.wasm).
        file: PathBuf,
        /// The tenant to install it for.
        #[arg(long)]
        tenant: String,
        /// The manifest of a bare component (default: NAME.toml beside
        /// NAME.wasm, if any); a package carries its own.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        flags: installed::InstallFlags,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a tenant's installed skills.
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove an installed skill.
    Remove {
        /// The skill's name.
        name: String,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `skill` command.
pub(crate) async fn skill(cmd: SkillCommand) -> anyhow::Result<()> {
    match cmd {
        SkillCommand::New(args) => super::scaffold::new_skill(args),
        SkillCommand::Pack { component, manifest, key, out } => {
            package::pack(&component, &manifest, &key, &out)
        }
        SkillCommand::Verify { package, trust, json } => package::verify(&package, &trust, json),
        SkillCommand::Inspect { file, manifest, json, common } => {
            package::inspect(&file, manifest, json, &common)
        }
        SkillCommand::Install { file, tenant, manifest, flags, remote } => {
            installed::install(file, tenant, manifest, flags, remote).await
        }
        SkillCommand::List { tenant, remote } => installed::list(tenant, remote).await,
        SkillCommand::Remove { name, tenant, remote } => installed::remove(name, tenant, remote).await,
    }
}
