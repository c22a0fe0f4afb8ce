//! `wasmclaw agent …`: create, list, show and remove a tenant's agents, and
//! talk to one as a peer, through the gateway (routes in `docs/api.md`,
//! "Agents").

use super::remote::{Remote, tenant_id};
use super::{cell, items, print_json, print_table, read_file, time_cell};
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;
use wasmclaw::Error;

/// `wasmclaw agent …`.
#[derive(Subcommand, Debug)]
pub(crate) enum AgentCommand {
    /// Create an agent of a tenant: a provider and model, a system prompt and
    /// the installed skills it may call as tools.
    Create {
        /// The tenant the agent belongs to.
        tenant: String,
        /// The agent's name within the tenant (`a-z`, `0-9`, `-`).
        name: String,
        /// The model provider, by the name the operator configured it under
        /// (`[providers.NAME]`).
        #[arg(long)]
        provider: String,
        /// The model, as the provider names it.
        #[arg(long)]
        model: String,
        /// The system prompt.
        #[arg(long, value_name = "TEXT", conflicts_with = "system_prompt_file")]
        system_prompt: Option<String>,
        /// Read the system prompt from this file (UTF-8).
        #[arg(long, value_name = "FILE")]
        system_prompt_file: Option<PathBuf>,
        /// An installed skill the agent may call as a tool (repeat for more).
        #[arg(long = "skill", value_name = "SKILL")]
        skills: Vec<String>,
        /// The tenant secret holding the provider's API key (without it, the
        /// operator's key is used and billed to the tenant).
        #[arg(long, value_name = "NAME")]
        api_key_secret: Option<String>,
        /// Most tool steps in one turn (the gateway's default: 8).
        #[arg(long, value_name = "N")]
        max_steps: Option<u32>,
        /// Most tokens one model answer may have (the gateway's default: 1024).
        #[arg(long, value_name = "N")]
        max_tokens: Option<u32>,
        /// The session history kept, in tokens (the gateway's default: 8000).
        #[arg(long, value_name = "N")]
        history_tokens: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a tenant's agents.
    List {
        /// The tenant.
        tenant: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one agent: its provider, model, skills, limits and system prompt.
    Show {
        /// The tenant.
        tenant: String,
        /// The agent's name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove an agent and its sessions (its usage stays).
    Remove {
        /// The tenant.
        tenant: String,
        /// The agent's name.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List an agent's sessions: each peer, its turns and last change.
    Sessions {
        /// The tenant.
        tenant: String,
        /// The agent's name.
        name: String,
        /// The page after this peer (the `next` a page printed).
        #[arg(long, value_name = "PEER")]
        after: Option<String>,
        /// At most this many sessions (1 to 100; default 50).
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Send an agent a message as a peer and print its reply.
    Say {
        /// The tenant.
        tenant: String,
        /// The agent's name.
        name: String,
        /// The user the message is from (a user id of the tenant); each peer
        /// has its own session and memory.
        #[arg(long, value_name = "USER")]
        peer: String,
        /// The message.
        text: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs an `agent` command.
pub(crate) async fn agent(cmd: AgentCommand) -> anyhow::Result<()> {
    match cmd {
        AgentCommand::Create {
            tenant,
            name,
            provider,
            model,
            system_prompt,
            system_prompt_file,
            skills,
            api_key_secret,
            max_steps,
            max_tokens,
            history_tokens,
            remote,
        } => {
            let tenant = tenant_id(&tenant)?;
            let system_prompt = match (system_prompt, system_prompt_file) {
                (Some(text), _) => Some(text),
                (None, Some(path)) => {
                    Some(String::from_utf8(read_file(&path, "the system prompt")?).map_err(|_| {
                        Error::InvalidInput(format!("the system prompt file {} is not UTF-8", path.display()))
                    })?)
                }
                (None, None) => None,
            };
            let mut body = json!({ "name": name, "provider": provider, "model": model, "skills": skills });
            if let Some(text) = system_prompt {
                body["system_prompt"] = json!(text);
            }
            if let Some(secret) = api_key_secret {
                body["api_key_secret"] = json!(secret);
            }
            if let Some(n) = max_steps {
                body["max_steps"] = json!(n);
            }
            if let Some(n) = max_tokens {
                body["max_tokens"] = json!(n);
            }
            if let Some(n) = history_tokens {
                body["history_tokens"] = json!(n);
            }
            let answer = remote.client()?.post(&["v1", "tenants", &tenant, "agents"], &body).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!(
                    "created agent {} of tenant {tenant} ({} {})",
                    cell(&answer["name"]),
                    cell(&answer["provider"]),
                    cell(&answer["model"])
                );
            }
        }
        AgentCommand::List { tenant, remote } => {
            let answer =
                remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "agents"], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                let rows: Vec<Vec<String>> = items(&answer, "agents")
                    .iter()
                    .map(|a| vec![cell(&a["name"]), cell(&a["provider"]), cell(&a["model"]), skills_cell(a)])
                    .collect();
                print_table(&["NAME", "PROVIDER", "MODEL", "SKILLS"], &rows);
            }
        }
        AgentCommand::Show { tenant, name, remote } => {
            let answer =
                remote.client()?.get(&["v1", "tenants", &tenant_id(&tenant)?, "agents", &name], &[]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                print_agent(&answer);
            }
        }
        AgentCommand::Remove { tenant, name, remote } => {
            let answer =
                remote.client()?.delete(&["v1", "tenants", &tenant_id(&tenant)?, "agents", &name]).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("removed agent {name}");
            }
        }
        AgentCommand::Sessions { tenant, name, after, limit, remote } => {
            let mut query = Vec::new();
            if let Some(after) = after {
                query.push(("after", after));
            }
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            let path = ["v1", "tenants", &tenant_id(&tenant)?, "agents", &name, "sessions"];
            let answer = remote.client()?.get(&path, &query).await?;
            if remote.json {
                print_json(&answer);
            } else {
                let rows: Vec<Vec<String>> = items(&answer, "sessions")
                    .iter()
                    .map(|s| vec![cell(&s["peer"]), cell(&s["turns"]), time_cell(&s["updated"])])
                    .collect();
                print_table(&["PEER", "TURNS", "UPDATED"], &rows);
                if let Some(next) = answer["next"].as_str() {
                    eprintln!("more: --after {next}");
                }
            }
        }
        AgentCommand::Say { tenant, name, peer, text, remote } => {
            let path = ["v1", "tenants", &tenant_id(&tenant)?, "agents", &name, "messages"];
            let answer = remote.client()?.post(&path, &json!({ "peer": peer, "text": text })).await?;
            if remote.json {
                print_json(&answer);
            } else {
                println!("{}", cell(&answer["reply"]));
            }
        }
    }
    Ok(())
}

/// An agent's skills, comma-separated (`-` for none).
fn skills_cell(agent: &Value) -> String {
    let skills: Vec<String> = items(agent, "skills").iter().map(cell).collect();
    if skills.is_empty() { "-".into() } else { skills.join(",") }
}

/// Prints an agent as `key  value` lines, the system prompt last (each of
/// its lines indented).
fn print_agent(a: &Value) {
    println!("name            {}", cell(&a["name"]));
    println!("provider        {}", cell(&a["provider"]));
    println!("model           {}", cell(&a["model"]));
    println!("skills          {}", skills_cell(a));
    println!("api key secret  {}", cell(&a["api_key_secret"]));
    println!("max steps       {}", cell(&a["max_steps"]));
    println!("max tokens      {}", cell(&a["max_tokens"]));
    println!("history tokens  {}", cell(&a["history_tokens"]));
    match a["system_prompt"].as_str() {
        Some(prompt) if !prompt.is_empty() => {
            println!("system prompt");
            for line in prompt.lines() {
                println!("  {line}");
            }
        }
        _ => println!("system prompt   -"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_show_comma_separated() {
        assert_eq!(skills_cell(&json!({"skills": ["notes", "echo"]})), "notes,echo");
        assert_eq!(skills_cell(&json!({"skills": []})), "-");
        assert_eq!(skills_cell(&json!({})), "-");
    }
}
