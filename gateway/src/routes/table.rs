//! The route table: every route once, with who may call it. It names no
//! handler, so the OpenAPI document ([`crate::openapi`]) reads it without
//! reaching the handlers; the router ([`super::router`]) pairs each entry
//! with its handler.

use crate::auth::{ANYONE, INVOKERS, MANAGERS, MEMBERS, OPERATOR, Who};

/// One route, as documented.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path under the host; `{tenant}` routes also exist without the
    /// `/tenants/{tenant}` part, for tokens.
    pub path: &'static str,
    /// Who may call it (empty: anyone, without a credential).
    pub who: &'static [Who],
    /// What it does.
    pub summary: &'static str,
}

const fn r(method: &'static str, path: &'static str, who: &'static [Who], summary: &'static str) -> Route {
    Route { method, path, who, summary }
}

/// Every route.
pub const ROUTES: &[Route] = &[
    r("GET", "/healthz", &[], "Liveness."),
    r("GET", "/readyz", &[], "Readiness; 503 while draining or while the store does not answer."),
    r("GET", "/openapi.json", &[], "This document."),
    r("GET", "/metrics", OPERATOR, "Prometheus metrics."),
    r("POST", "/v1/tenants", OPERATOR, "Create a tenant."),
    r("GET", "/v1/tenants", OPERATOR, "List tenants."),
    r("GET", "/v1/tenants/{tenant}", OPERATOR, "Show a tenant."),
    r(
        "GET",
        "/v1/tenants/{tenant}/summary",
        MEMBERS,
        "What the tenant holds and its use of each quota (memory, files, agents this month).",
    ),
    r("DELETE", "/v1/tenants/{tenant}", OPERATOR, "Delete a tenant and everything it owns."),
    r("POST", "/v1/tenants/{tenant}/suspend", OPERATOR, "Suspend a tenant."),
    r("POST", "/v1/tenants/{tenant}/resume", OPERATOR, "Resume a tenant."),
    r("POST", "/v1/tenants/{tenant}/tokens", MANAGERS, "Mint a token (shown once)."),
    r("GET", "/v1/tenants/{tenant}/tokens", MANAGERS, "List tokens (never secrets)."),
    r("POST", "/v1/tenants/{tenant}/tokens/{id}/rotate", MANAGERS, "Rotate a token."),
    r("DELETE", "/v1/tenants/{tenant}/tokens/{id}", MANAGERS, "Revoke a token."),
    r("GET", "/v1/tenants/{tenant}/policy", MANAGERS, "Read the tenant's policy."),
    r("PUT", "/v1/tenants/{tenant}/policy", MANAGERS, "Replace the tenant's policy (TOML or JSON)."),
    r("POST", "/v1/tenants/{tenant}/skills", MANAGERS, "Install a skill."),
    r("GET", "/v1/tenants/{tenant}/skills", ANYONE, "List skills (guests see guest skills)."),
    r("DELETE", "/v1/tenants/{tenant}/skills/{name}", MANAGERS, "Remove a skill."),
    r("POST", "/v1/tenants/{tenant}/skills/{name}/invoke", INVOKERS, "Invoke a skill."),
    r("POST", "/v1/tenants/{tenant}/agents", MANAGERS, "Create an agent."),
    r("GET", "/v1/tenants/{tenant}/agents", MEMBERS, "List agents."),
    r("GET", "/v1/tenants/{tenant}/agents/{name}", MEMBERS, "Show an agent."),
    r("PUT", "/v1/tenants/{tenant}/agents/{name}", MANAGERS, "Replace an agent."),
    r("DELETE", "/v1/tenants/{tenant}/agents/{name}", MANAGERS, "Remove an agent and its sessions."),
    r(
        "POST",
        "/v1/tenants/{tenant}/agents/{name}/messages",
        MEMBERS,
        "Send a peer's message to an agent; returns its reply.",
    ),
    r(
        "GET",
        "/v1/tenants/{tenant}/agents/{name}/sessions",
        MEMBERS,
        "A page of the agent's sessions by peer (`?after=PEER&limit=N`).",
    ),
    r("GET", "/v1/tenants/{tenant}/agents/{name}/sessions/{peer}", MEMBERS, "A peer's session history."),
    r("DELETE", "/v1/tenants/{tenant}/agents/{name}/sessions/{peer}", MEMBERS, "Forget a peer's session."),
    r("POST", "/v1/tenants/{tenant}/channels", MANAGERS, "Add an inbound channel (webhook or telegram)."),
    r("GET", "/v1/tenants/{tenant}/channels", MANAGERS, "List channels."),
    r("DELETE", "/v1/tenants/{tenant}/channels/{name}", MANAGERS, "Remove a channel."),
    r(
        "POST",
        "/v1/inbound/{tenant}/{channel}",
        &[],
        "A channel's inbound endpoint: a signed webhook or a Telegram update (no credential: the signature is).",
    ),
    r("PUT", "/v1/tenants/{tenant}/secrets/{name}", MANAGERS, "Write a secret (write-only)."),
    r("GET", "/v1/tenants/{tenant}/secrets", MANAGERS, "List secret names."),
    r("GET", "/v1/tenants/{tenant}/memory", MEMBERS, "List memory entries."),
    r("DELETE", "/v1/tenants/{tenant}/memory/{key}", MEMBERS, "Delete a memory entry."),
    r("GET", "/v1/tenants/{tenant}/cron", MEMBERS, "List cron jobs."),
    r("DELETE", "/v1/tenants/{tenant}/cron/{id}", MEMBERS, "Remove a cron job."),
    r(
        "GET",
        "/v1/tenants/{tenant}/outbox",
        MEMBERS,
        "A page of the outbox (`?state=pending|delivered|dead&after=ID&limit=N`).",
    ),
    r("GET", "/v1/tenants/{tenant}/contacts", MEMBERS, "List contacts."),
    r("GET", "/v1/tenants/{tenant}/usage", MEMBERS, "The tenant's usage."),
    r(
        "GET",
        "/v1/tenants/{tenant}/usage/series",
        MEMBERS,
        "The tenant's usage by hour or day and skill, with latency percentiles \
         (`?step=hour|day&since=&until=&skill=`).",
    ),
    r("GET", "/v1/tenants/{tenant}/audit", MANAGERS, "The tenant's audit events."),
    r("GET", "/v1/usage", MEMBERS, "Usage: every tenant's (operator, `?tenant=` filters) or the token's."),
    r("GET", "/v1/audit", MANAGERS, "Audit events: every tenant's (operator, `?tenant=`) or the token's."),
    r("GET", "/v1/security/audit", OPERATOR, "Security findings."),
    r("GET", "/v1/config", OPERATOR, "The effective configuration, credentials in URLs hidden."),
    r("POST", "/v1/trust", OPERATOR, "Trust a publisher key (re-enables the skills it signed)."),
    r("GET", "/v1/trust", OPERATOR, "List the trusted publisher keys."),
    r("GET", "/v1/cluster", OPERATOR, "The cluster's nodes and their ages (or `clustered: false`)."),
    r(
        "GET",
        "/v1/trust/{name}/skills",
        OPERATOR,
        "The installed skills a trusted key signed, in every tenant (what removing it would disable).",
    ),
    r(
        "DELETE",
        "/v1/trust/{name}",
        OPERATOR,
        "Stop trusting a publisher key (disables the skills it signed).",
    ),
    r("GET", "/v1/backup", OPERATOR, "A backup file of every tenant, or of `?tenant=`."),
    r("POST", "/v1/restore", OPERATOR, "Restore a backup file's tenants, or only `?tenant=`."),
];

/// The short form of a tenant route, for tokens: `/v1/tenants/{tenant}/x`
/// is also `/v1/x`. Routes about the tenant itself have none.
pub fn short_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/tenants/{tenant}/")?;
    let first = rest.split('/').next().unwrap_or("");
    (!matches!(first, "suspend" | "resume") && !matches!(rest, "usage" | "audit"))
        .then(|| format!("/v1/{rest}"))
}
