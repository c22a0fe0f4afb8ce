//! The runtime's public face: each method hands on to the service that
//! owns it ([`crate::services`]); the runtime itself holds no state of
//! theirs.

use super::Runtime;
use crate::auth::Principal;
use crate::error::Error;
use crate::ids::TenantId;
use crate::manifest::Manifest;
use crate::metering::UsageRow;
use crate::records::{Role, Tenant, TokenInfo, TrustedKey};
use crate::skill::Skill;
use crate::trust::AffectedSkill;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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

    /// Stops trusting the publisher `name`; returns the installed skills it
    /// signed, which are disabled until its key is trusted again.
    pub fn trust_remove(&self, actor: &str, name: &str) -> Result<Vec<AffectedSkill>, Error> {
        self.inner.trust.remove(actor, name)
    }

    /// The name `key` is trusted under, if it is trusted.
    pub fn trusted_as(&self, key: &str) -> Option<String> {
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

    // Skills.

    /// Loads a skill from a component file, with the manifest found beside
    /// it (`<name>.toml` next to `<name>.wasm`), if any.
    pub async fn load_skill_file(&self, path: &Path) -> Result<Arc<Skill>, Error> {
        let beside = path.with_extension("toml");
        let manifest = if beside.is_file() { Some(beside) } else { None };
        self.load_skill_files(path, manifest.as_deref()).await
    }

    /// Loads a skill from a component file and an optional manifest file.
    pub async fn load_skill_files(&self, path: &Path, manifest: Option<&Path>) -> Result<Arc<Skill>, Error> {
        let manifest = manifest
            .map(|m| Manifest::load(m).map_err(|e| Error::InvalidSkill(format!("manifest {e}"))))
            .transpose()?;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| Error::io(format!("cannot read the skill {}", path.display()), e))?;
        self.inner.loader.load(bytes, manifest, None).await
    }

    /// Loads a skill from component bytes: compiles it (or takes it from the
    /// cache), refuses imports no skill may have and a component that does
    /// not export the skill world, resolves its imports once, asks it to
    /// describe itself and checks that against the manifest. Whether the
    /// manifest declares its capabilities is the installer's check
    /// ([`crate::permissions::check`]).
    pub async fn load_skill(&self, bytes: Vec<u8>, manifest: Option<Manifest>) -> Result<Arc<Skill>, Error> {
        self.inner.loader.load(bytes, manifest, None).await
    }
}
