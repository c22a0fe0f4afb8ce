//! `wasmclaw keys …` (publisher keys, offline) and `wasmclaw trust …` (the
//! gateway's trusted publisher keys, with the admin key).

use super::remote::Remote;
use super::{cell, items, print_json, print_table, time_cell};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;
use wasmclaw::Error;
use wasmclaw::signing::PublisherKey;

/// `wasmclaw keys …`.
#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Create an ed25519 publisher key: the private key goes to FILE (PKCS#8
    /// PEM, mode 0600, never overwritten), the public key to stdout.
    Generate {
        /// Where to write the private key.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the public key of a private key file.
    Public {
        /// The private key file.
        file: PathBuf,
    },
}

/// Runs a `keys` command.
pub(crate) fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    let bad = |e: wasmclaw::signing::SigningError| Error::InvalidInput(e.to_string());
    match cmd {
        KeysCommand::Generate { out } => {
            let key = PublisherKey::generate();
            key.save_new(&out).map_err(bad)?;
            println!("{}", key.public());
            eprintln!(
                "wrote the private key to {} (keep it secret); trust it on a gateway with:\n  wasmclaw trust add NAME {}",
                out.display(),
                key.public()
            );
        }
        KeysCommand::Public { file } => println!("{}", PublisherKey::load(&file).map_err(bad)?.public()),
    }
    Ok(())
}

/// `wasmclaw trust …`.
#[derive(Subcommand, Debug)]
pub(crate) enum TrustCommand {
    /// Trust a publisher key; skills it signed that were disabled run again.
    Add {
        /// A name for the publisher (lower-case letters, digits, `-_.`).
        name: String,
        /// Its public key (`ed25519:…`, from `wasmclaw keys generate`).
        key: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List the trusted publisher keys.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// List the installed skills a trusted key signed, in every tenant: what
    /// removing it would disable.
    Skills {
        /// The publisher's name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop trusting a publisher; the skills it signed are disabled (not
    /// removed) until its key is trusted again.
    Remove {
        /// The publisher's name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `trust` command.
pub(crate) async fn trust(cmd: TrustCommand) -> anyhow::Result<()> {
    match cmd {
        TrustCommand::Add { name, key, remote } => {
            let answer = remote.client()?.post(&["v1", "trust"], &json!({"name": name, "key": key})).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("trusted {name}: {}", cell(&answer["key"]));
                print_affected("enabled", items(&answer, "enabled"));
            }
        }
        TrustCommand::List { remote } => {
            let answer = remote.client()?.get(&["v1", "trust"], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                let rows: Vec<Vec<String>> = items(&answer, "keys")
                    .iter()
                    .map(|k| vec![cell(&k["name"]), cell(&k["key"]), time_cell(&k["added"])])
                    .collect();
                print_table(&["NAME", "KEY", "ADDED"], &rows);
            }
        }
        TrustCommand::Skills { name, remote } => {
            let answer = remote.client()?.get(&["v1", "trust", &name, "skills"], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                print_affected("signed", items(&answer, "skills"));
            }
        }
        TrustCommand::Remove { name, remote } => {
            let answer = remote.client()?.delete(&["v1", "trust", &name]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("removed trust in {name}");
                print_affected("disabled", items(&answer, "disabled"));
            }
        }
    }
    Ok(())
}

fn print_affected(what: &str, skills: &[Value]) {
    for s in skills {
        println!("{what}: skill {} of tenant {}", cell(&s["skill"]), cell(&s["tenant"]));
    }
}
