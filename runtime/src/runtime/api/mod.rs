//! The runtime's public face: each method hands on to the service that
//! owns it ([`crate::services`], and the feature folders' services); the
//! runtime itself holds no state of theirs. Here: the audit trail,
//! credentials, trust, metering, secrets, tenants and backups; the skills
//! and a tenant's data in [`skills`], agents and channels in [`agents`], a
//! tenant's summary in [`summary`].

mod agents;
mod cluster;
pub(crate) mod series;
mod skills;
pub(crate) mod summary;

use super::Runtime;
use crate::auth::Principal;
use crate::backup::RestoreOutcome;
use crate::error::Error;
use crate::ids::TenantId;
use crate::metering::UsageRow;
use crate::records::{Role, Tenant, TokenInfo, TrustedKey};
use crate::trust::AffectedSkill;
use std::path::PathBuf;
use std::time::Duration;

impl Runtime {
    // Audit.

    /// Appends an audit event (`actor` is `operator`, `token:<id>`,
    /// `skill:<name>`, …; `target` names, never values); a failure to write
    /// is logged, never hidden.
    pub fn record(&self, actor: &str, tenant: Option<&TenantId>, action: &str, target: &str, outcome: &str) {
        self.inner.audit.record(actor, tenant, action, target, outcome)
    }

    /// Audits a refused request, rate-limited per stream (see the module
    /// documentation). `tenant` is the *authenticated* tenant, or `None` for
    /// an unauthenticated request whatever tenant it named.
    pub fn record_refusal(
        &self,
        actor: &str,
        tenant: Option<&TenantId>,
        action: &str,
        target: &str,
        outcome: &str,
    ) {
        self.inner.audit.refusal(actor, tenant, action, target, outcome)
    }

    /// Writes the summary line of every stream whose window has ended with
    /// refusals suppressed.
    pub fn flush_refusals(&self) {
        self.inner.audit.flush_refusals()
    }

    // Credentials.

    /// Makes sure an admin key is configured. With `from_env` (the value of
    /// `WASMCLAW_ADMIN_KEY`), its hash replaces the stored one; without it,
    /// a stored hash is kept, or a key is generated, stored as a hash and
    /// returned — the only time it is ever shown.
    pub fn ensure_admin_key(&self, from_env: Option<&str>) -> Result<Option<String>, Error> {
        self.inner.tokens.ensure_admin_key(from_env)
    }

    /// Checks a presented credential (the bearer value). Unknown, revoked,
    /// expired and malformed credentials are all `Unauthorized` with the
    /// same message; a valid token of a suspended tenant is `Suspended`.
    /// Every refusal is audited, rate-limited ([`crate::refusals`]): a
    /// credential that does not authenticate is filed under no tenant (the
    /// tenant it names is only a claim; the target says what it claimed).
    pub fn authenticate(&self, credential: &str) -> Result<Principal, Error> {
        self.inner.tokens.authenticate(credential)
    }

    /// The principal of a tenant token, without touching the database, when
    /// the cache proves it valid; `None` otherwise (then call
    /// [`Runtime::authenticate`], which decides and audits).
    pub fn authenticate_cached(&self, credential: &str) -> Option<Principal> {
        self.inner.tokens.authenticate_cached(credential)
    }

    /// Mints a token for an existing tenant; returns its record and the
    /// token itself (shown once).
    pub fn mint_token(
        &self,
        actor: &str,
        tenant: &TenantId,
        role: Role,
        name: &str,
    ) -> Result<(TokenInfo, String), Error> {
        self.inner.tokens.mint(actor, tenant, role, name)
    }

    /// A tenant's tokens (records only).
    pub fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenInfo>, Error> {
        self.inner.tokens.list(tenant)
    }

    /// Replaces token `id` with a new one of the same role and name. The old
    /// one stops working after `grace` (at once when it is zero).
    pub fn rotate_token(
        &self,
        actor: &str,
        tenant: &TenantId,
        id: &str,
        grace: Duration,
    ) -> Result<(TokenInfo, String), Error> {
        self.inner.tokens.rotate(actor, tenant, id, grace)
    }

    /// Revokes token `id` of `tenant`.
    pub fn revoke_token(&self, actor: &str, tenant: &TenantId, id: &str) -> Result<(), Error> {
        self.inner.tokens.revoke(actor, tenant, id)
    }

    // Trust.

    /// Trusts `key` under `name`; returns the installed skills it signed
    /// (enabled again if they were disabled). `Conflict` if the name or the
    /// key is already trusted.
    pub fn trust_add(&self, actor: &str, name: &str, key: &str) -> Result<Vec<AffectedSkill>, Error> {
        self.inner.trust.add(actor, name, key)
    }

    /// The trusted keys, by name.
    pub fn trusted_keys(&self) -> Result<Vec<TrustedKey>, Error> {
        self.inner.trust.keys()
    }

    /// The trusted key `name` and the installed skills it signed, in every
    /// tenant (what removing it would disable); `NotFound` if none.
    pub fn trusted_key_skills(&self, name: &str) -> Result<(TrustedKey, Vec<AffectedSkill>), Error> {
        self.inner.trust.signed(name)
    }

    /// Stops trusting the publisher `name`; returns the installed skills it
    /// signed, which are disabled until its key is trusted again.
    pub fn trust_remove(&self, actor: &str, name: &str) -> Result<Vec<AffectedSkill>, Error> {
        self.inner.trust.remove(actor, name)
    }

    /// The name `key` is trusted under, if it is trusted (`Err` when the
    /// store cannot say).
    pub fn trusted_as(&self, key: &str) -> Result<Option<String>, Error> {
        self.inner.trust.trusted_as(key)
    }

    // Metering.

    /// Writes the pending tally to the database in one transaction.
    pub fn flush_usage(&self) -> Result<(), Error> {
        self.inner.metering.flush()
    }

    /// Usage of one tenant (or every tenant) per skill: what is stored plus
    /// what is pending, priced by the rate card.
    pub fn usage(&self, tenant: Option<&TenantId>) -> Result<Vec<UsageRow>, Error> {
        self.inner.metering.usage(tenant)
    }

    // Secrets.

    /// Stores a tenant's secret (encrypted). Values are write-only: nothing
    /// in the runtime's API returns them.
    pub fn put_secret(&self, actor: &str, tenant: &TenantId, name: &str, value: &[u8]) -> Result<(), Error> {
        self.inner.secrets.put(actor, tenant, name, value)
    }

    /// Bytes the cached redactors take (at most
    /// `secret_limits.redactor_cache_bytes`).
    pub fn redactor_cache_bytes(&self) -> usize {
        self.inner.secrets.redactor_cache_bytes()
    }

    /// The names of a tenant's secrets.
    pub fn secret_names(&self, tenant: &TenantId) -> Result<Vec<String>, Error> {
        self.inner.secrets.names(tenant)
    }

    /// `text` with every secret value of `tenant` (in clear and in every
    /// encoding the redactor knows) replaced by `[redacted:NAME]`.
    pub fn scrub_text(&self, tenant: &TenantId, text: &str) -> String {
        self.inner.secrets.scrub_text(tenant, text)
    }

    /// Scrubs every string of `value` (object keys included) as
    /// [`Runtime::scrub_text`] does, for a JSON answer of the API holding
    /// what skills or models wrote.
    pub fn scrub_json(&self, tenant: &TenantId, value: &mut serde_json::Value) {
        self.inner.secrets.scrub_json(tenant, value)
    }

    // Tenants.

    /// Creates a tenant; `Conflict` if it exists.
    pub fn create_tenant(&self, actor: &str, id: &TenantId) -> Result<Tenant, Error> {
        self.inner.tenants.create(actor, id)
    }

    /// Every tenant.
    pub fn tenants(&self) -> Result<Vec<Tenant>, Error> {
        self.inner.tenants.list()
    }

    /// One tenant; `NotFound` if there is none.
    pub fn tenant(&self, id: &TenantId) -> Result<Tenant, Error> {
        self.inner.tenants.get(id)
    }

    /// Suspends a tenant: its tokens are refused, its cron jobs do not fire
    /// and its messages are held until it is resumed.
    pub fn suspend_tenant(&self, actor: &str, id: &TenantId) -> Result<Tenant, Error> {
        self.inner.tenants.set_suspended(actor, id, true)
    }

    /// Resumes a suspended tenant.
    pub fn resume_tenant(&self, actor: &str, id: &TenantId) -> Result<Tenant, Error> {
        self.inner.tenants.set_suspended(actor, id, false)
    }

    /// The directory a tenant's skills see as their filesystem root.
    pub fn tenant_files_dir(&self, tenant: &TenantId) -> PathBuf {
        self.inner.tenants.files_dir(tenant)
    }

    // Backups.

    /// A backup of `only`, or of every tenant: a file (unlinked, in the
    /// data directory, read from its start) in the format of
    /// [`format`]; audited per tenant. The tenants' calls are held back
    /// while it is written, not while the caller reads it.
    pub async fn backup(&self, actor: &str, only: Option<&TenantId>) -> Result<std::fs::File, Error> {
        self.inner.backups.backup(actor, only).await
    }

    /// Restores the tenants of the backup `file` (only `only`, when given)
    /// as the module documentation says; audited per tenant, a refusal too.
    ///
    /// A replica of a cluster restores only while it is the one live
    /// replica: another may own a restored tenant and hold what it
    /// remembers of it (its skills, its disk count, its caches), which a
    /// restore underneath it would leave stale. [`Error::Conflict`], naming
    /// the others, otherwise; nothing is changed.
    pub async fn restore(
        &self,
        actor: &str,
        file: std::fs::File,
        only: Option<&TenantId>,
    ) -> Result<RestoreOutcome, Error> {
        if let (Some(me), Some(nodes)) = (self.node_id(), self.cluster_nodes().await?) {
            let others: Vec<String> =
                nodes.into_iter().filter(|n| n.live && n.node_id != me).map(|n| n.node_id).collect();
            if !others.is_empty() {
                let target = only.map_or("*", TenantId::as_str);
                let why = format!(
                    "a restore runs on one replica alone: stop the other live replicas first ({})",
                    others.join(", ")
                );
                self.inner.audit.record(actor, only, "backup.restore", target, &format!("refused: {why}"));
                return Err(Error::Conflict(why));
            }
        }
        let forget = |id: &TenantId| self.forget_tenant(id);
        self.inner.backups.restore(actor, file, only, &forget).await
    }
}
