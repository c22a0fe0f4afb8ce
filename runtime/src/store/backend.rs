//! The backend contract: every storage operation, listed once.
//!
//! [`with_operations!`] holds the list. From it, [`define_backend!`] writes
//! the [`Backend`] trait every backend (`redb/`, `postgres/`) implements and
//! the [`Db`] methods that forward to it, and [`forward_to_inherent!`]
//! implements the trait for a backend that writes each operation as an
//! inherent method (one file per table family), so the facade, the trait
//! and the backends cannot drift apart. The special operations (closures,
//! the credential generation, dumps) get their [`Db`] methods by hand, at
//! the end of this file.

/// The names the operations' signatures use, for the modules that expand
/// [`forward_to_inherent!`].
pub(crate) mod names {
    pub(crate) use crate::config::MemoryQuota;
    pub(crate) use crate::ids::{TenantId, UserId};
    pub(crate) use crate::policy::TenantPolicy;
    pub(crate) use crate::records::ChannelSpec;
    pub(crate) use crate::records::InstalledSkill;
    pub(crate) use crate::records::Job;
    pub(crate) use crate::records::LastRun;
    pub(crate) use crate::records::Message;
    pub(crate) use crate::records::Tenant;
    pub(crate) use crate::records::TokenInfo;
    pub(crate) use crate::records::TrustedKey;
    pub(crate) use crate::records::{AgentSpec, LlmUsage, Session};
    pub(crate) use crate::records::{UsageDelta, UsageTotals};
    pub(crate) use crate::store::{
        LlmUsageRow, MemoryEntry, MemoryUsage, Replay, ScanBound, Scope, SearchScan, StoreError, TenantRows,
    };
}
use super::Db;
use names::*;

/// Calls `$cb!` with the whole list of operations, as
/// `[$pre] plain {…} special {…}`.
macro_rules! with_operations {
    ($cb:ident $($pre:tt)*) => {
        $cb! {
            [$($pre)*]
            plain {
    // Agents, their sessions and model usage.
    /// Stores an agent; with `create`, `Ok(false)` (nothing written) when the
    /// tenant has one of that name already.
    fn agent_put(&self, tenant: &TenantId, agent: &AgentSpec, create: bool) -> Result<bool, StoreError>;
    /// One agent of a tenant.
    fn agent(&self, tenant: &TenantId, name: &str) -> Result<Option<AgentSpec>, StoreError>;
    /// A tenant's agents, by name.
    fn agents(&self, tenant: &TenantId) -> Result<Vec<AgentSpec>, StoreError>;
    /// Removes an agent and its sessions in one transaction; whether it
    /// existed.
    fn agent_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError>;
    /// The session of `peer` with an agent, if it has one.
    fn session(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Result<Option<Session>, StoreError>;
    /// Up to `limit` sessions of an agent whose peer comes after `after`
    /// (bytewise; `""`: from the first), in peer order.
    fn sessions(&self, tenant: &TenantId, agent: &str, after: &str, limit: usize) -> Result<Vec<(UserId, Session)>, StoreError>;
    /// Stores a session and adds a turn's model usage, in one durable
    /// transaction (a turn is saved whole or not at all). Refused (nothing
    /// written) if the agent was removed meanwhile.
    fn session_save(&self, tenant: &TenantId, agent: &str, peer: &UserId, session: &Session, usage: &[(String, String, LlmUsage)]) -> Result<bool, StoreError>;
    /// Adds model usage (model, day, delta) of an agent (a failed turn's
    /// usage is billed too).
    fn llm_usage_add(&self, tenant: &TenantId, agent: &str, usage: &[(String, String, LlmUsage)]) -> Result<(), StoreError>;
    /// Removes a session; whether it existed.
    fn session_remove(&self, tenant: &TenantId, agent: &str, peer: &UserId) -> Result<bool, StoreError>;
    /// A tenant's model usage on or after `since_day` (`YYYY-MM-DD`), by
    /// agent, model and day.
    fn llm_usage(&self, tenant: &TenantId, since_day: &str) -> Result<Vec<LlmUsageRow>, StoreError>;

    // Channels.
    /// Adds a channel; `Ok(false)` (nothing written) if the tenant has one
    /// of that name.
    fn channel_add(&self, tenant: &TenantId, spec: &ChannelSpec) -> Result<bool, StoreError>;
    /// One channel of a tenant.
    fn channel(&self, tenant: &TenantId, name: &str) -> Result<Option<ChannelSpec>, StoreError>;
    /// A tenant's channels, by name.
    fn channels(&self, tenant: &TenantId) -> Result<Vec<ChannelSpec>, StoreError>;
    /// Removes a channel; whether it existed.
    fn channel_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError>;

    // Cron jobs.
    /// Adds `job`, durably, unless its tenant already holds
    /// `tenant_max_jobs` jobs or its skill (within the tenant)
    /// `skill_max_jobs`: then [`StoreError::QuotaExceeded`]. The counts are
    /// read in the same write transaction as the insert, so concurrent adds
    /// cannot overshoot the quota.
    fn cron_add(&self, job: &Job, tenant_max_jobs: u32, skill_max_jobs: u32) -> Result<(), StoreError>;
    /// The jobs `skill` holds for `tenant`, oldest first.
    fn cron_list(&self, tenant: &TenantId, skill: &str) -> Result<Vec<Job>, StoreError>;
    /// Every job of `tenant`, over all its skills, oldest first.
    fn cron_list_tenant(&self, tenant: &TenantId) -> Result<Vec<Job>, StoreError>;
    /// Removes job `id`, durably, if it exists and belongs to `tenant` and
    /// `skill`; `false` otherwise (whether the id is unknown or another
    /// owner's: the caller cannot tell which).
    fn cron_remove(&self, tenant: &TenantId, skill: &str, id: &str) -> Result<bool, StoreError>;
    /// Up to `limit` jobs whose next run is at or before `now`, earliest
    /// first (then by id).
    fn cron_due(&self, now: u64, limit: usize) -> Result<Vec<Job>, StoreError>;
    /// Claims one fire time of `tenant`'s job `id`: moves its next run from
    /// `from` to `to`, durably, if it is still `from` (a compare-and-set).
    /// `false`, with nothing written, when the job is gone, is another
    /// tenant's, or was moved meanwhile (another scheduler claimed it). A
    /// tenant's write: on a replica, fenced by the tenant's lease.
    fn cron_reschedule(&self, tenant: &TenantId, id: &str, from: u64, to: u64) -> Result<bool, StoreError>;
    /// How many jobs `tenant` holds, over all its skills.
    fn cron_count(&self, tenant: &TenantId) -> Result<u64, StoreError>;
    /// Records `tenant`'s job `id`'s latest run, durably, leaving its
    /// schedule as it is; `false` when the job is gone or another
    /// tenant's. A tenant's write: on a replica, fenced by its lease.
    fn cron_record_run(&self, tenant: &TenantId, id: &str, last: &LastRun) -> Result<bool, StoreError>;

    // Memory entries.
    /// Reads one entry.
    fn memory_get(&self, scope: Scope<'_>, key: &str) -> Result<Option<String>, StoreError>;
    /// Writes one entry, durably, if the tenant's quota allows it.
    fn memory_set(&self, scope: Scope<'_>, key: &str, value: &str, quota: &MemoryQuota) -> Result<(), StoreError>;
    /// Deletes one entry, durably; `false` when there was none.
    fn memory_delete(&self, scope: Scope<'_>, key: &str) -> Result<bool, StoreError>;
    /// Lists up to `limit` entries whose key starts with `prefix`, stopping
    /// before the total of keys and values would pass `max_bytes`.
    fn memory_list(&self, scope: Scope<'_>, prefix: &str, limit: usize, max_bytes: usize) -> Result<Vec<MemoryEntry>, StoreError>;
    /// Finds up to `limit` entries whose key or value contains every one of
    /// `words` (case-insensitive), with the same byte budget as
    /// [`Db::memory_list`], reading no more of the scope than `bound`
    /// allows. The result says what was read, for the caller to charge.
    fn memory_search(&self, scope: Scope<'_>, words: &[String], limit: usize, max_bytes: usize, bound: &ScanBound) -> Result<SearchScan, StoreError>;
    /// A tenant's memory usage.
    fn memory_usage(&self, tenant: &TenantId) -> Result<MemoryUsage, StoreError>;

    // The outbox.
    /// Queues a new message, durably (indexed as due at its `next_attempt`
    /// when pending). Fails if the tenant already has a message with its id.
    fn outbox_put(&self, m: &Message) -> Result<(), StoreError>;
    /// One message of `tenant`; `None` when `tenant` has no message `id`
    /// (whether or not another tenant has).
    fn outbox_get(&self, tenant: &TenantId, id: &str) -> Result<Option<Message>, StoreError>;
    /// Up to `limit` messages of `tenant` whose id comes after `after`
    /// (bytewise; `""`: from the first), in id order.
    fn outbox_list(&self, tenant: &TenantId, after: &str, limit: usize) -> Result<Vec<Message>, StoreError>;
    /// Up to `limit` pending messages whose `next_attempt` is at or before
    /// `now`, over all tenants, soonest due first. (For the delivery worker
    /// only: it is the one read not scoped to a tenant.) A corrupt record is
    /// logged and skipped rather than stopping every tenant's delivery.
    fn outbox_due(&self, now: u64, limit: usize) -> Result<Vec<Message>, StoreError>;
    /// Replaces a stored message (same tenant and id) with `m`, durably,
    /// moving or dropping its due-index entry to match `m`'s state and
    /// `next_attempt`. Fails if there is no such message.
    fn outbox_update(&self, m: &Message) -> Result<(), StoreError>;
    /// Leases a due message to one delivery worker: if the stored message
    /// is still exactly `m`, sets its `next_attempt` to `until` (so no other
    /// worker picks it up meanwhile, and a worker that dies mid-attempt
    /// leaves it due again at `until`) and returns `true`; otherwise changes
    /// nothing and returns `false`.
    fn outbox_claim(&self, m: &Message, until: u64) -> Result<bool, StoreError>;
    /// Writes `outcome` (an attempt's result) over the message if it is
    /// still exactly `leased`, as this worker leased it, and returns
    /// `true`; `false`, with nothing written, when the lease moved (another
    /// worker took the message after this one's lease ended, or its tenant
    /// is gone). So a late outcome never reopens a delivered message nor
    /// counts an attempt twice.
    fn outbox_settle(&self, leased: &Message, outcome: &Message) -> Result<bool, StoreError>;
    /// Leases up to `limit` pending messages due at `now` to this worker at
    /// once, soonest due first: each one's `next_attempt` becomes `until`,
    /// durably, and they are returned as leased. On PostgreSQL the rows
    /// another worker is leasing are skipped (`FOR UPDATE SKIP LOCKED`), so
    /// the workers of several replicas take disjoint batches without
    /// waiting on one another.
    fn outbox_claim_due(&self, now: u64, until: u64, limit: usize) -> Result<Vec<Message>, StoreError>;

    // Tenant policies.
    /// Replaces a tenant's policy, durably.
    fn set_policy(&self, tenant: &TenantId, policy: &TenantPolicy) -> Result<(), StoreError>;
    /// A tenant's policy; the empty policy (nothing granted) when none is set.
    fn policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError>;

    // Inbound replay records.
    /// Records `key` for `tenant` until `until` (unix seconds), durably,
    /// unless a live record of it exists ([`Replay::Seen`]) or the tenant
    /// already holds `cap` live records ([`Replay::Full`]). Expired records
    /// of the tenant are dropped on the way. `key` must not contain `\0`.
    fn replay_first(&self, tenant: &TenantId, key: &str, now: u64, until: u64, cap: usize) -> Result<Replay, StoreError>;

    // Sealed secrets and tenant data keys.
    /// The tenant's wrapped data key, if it has one.
    fn secret_key(&self, tenant: &TenantId) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores (or replaces) the tenant's wrapped data key, durably.
    ///
    /// Replacing a key makes every secret sealed under the old one
    /// unreadable; the vault creates keys with
    /// [`Db::secret_key_or_insert`], which never replaces one.
    fn put_secret_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<(), StoreError>;
    /// The tenant's wrapped data key; when it has none, stores `wrapped`
    /// (durably) and returns it. Atomic: of two concurrent first uses, both
    /// get the same key.
    fn secret_key_or_insert(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Stores (or replaces) one sealed secret value, durably.
    fn put_secret(&self, tenant: &TenantId, name: &str, sealed: &[u8]) -> Result<(), StoreError>;
    /// One sealed secret value, if set.
    fn secret(&self, tenant: &TenantId, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The names of the tenant's secrets, sorted.
    fn secret_names(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError>;
    /// Deletes one secret value, durably; `false` when there was none.
    fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError>;

    // Installed skills and their components.
    /// Installs or replaces a skill of `tenant`, durably, if what is
    /// installed under its name is still `expected` (the digest of the
    /// installed component, or `None` for nothing installed); `false` and
    /// nothing written otherwise (a concurrent install won).
    fn skill_put(&self, tenant: &TenantId, skill: &InstalledSkill, component: &[u8], expected: Option<&str>) -> Result<bool, StoreError>;
    /// Replaces the stored component bytes of an installed skill without
    /// touching its record (and so its pinned digest): for repair tools and
    /// for the tests that prove a changed component is refused at load.
    #[doc(hidden)]
    fn skill_component_overwrite(&self, tenant: &TenantId, name: &str, component: &[u8]) -> Result<(), StoreError>;
    /// Replaces the stored record of an installed skill as given (repair and
    /// tests: a changed manifest must be refused at load).
    #[doc(hidden)]
    fn skill_record_overwrite(&self, tenant: &TenantId, skill: &InstalledSkill) -> Result<(), StoreError>;
    /// One installed skill of `tenant`, with its component's bytes.
    fn skill(&self, tenant: &TenantId, name: &str) -> Result<Option<(InstalledSkill, Vec<u8>)>, StoreError>;
    /// The skills installed for `tenant`, by name.
    fn skills(&self, tenant: &TenantId) -> Result<Vec<InstalledSkill>, StoreError>;
    /// Uninstalls a skill of `tenant`, durably; `false` if none of that name.
    fn skill_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError>;

    // Tenants.
    /// Creates a tenant, durably; `false` (and nothing written) if it exists.
    fn tenant_create(&self, tenant: &Tenant) -> Result<bool, StoreError>;
    /// One tenant's record.
    fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError>;
    /// Every tenant, by id.
    fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Whether the tenant exists and is suspended.
    fn tenant_suspended(&self, id: &TenantId) -> Result<bool, StoreError>;
    /// Sets a tenant's suspension, durably; `None` if there is no such tenant.
    fn tenant_set_suspended(&self, id: &TenantId, suspended: bool) -> Result<Option<Tenant>, StoreError>;
    /// Deletes a tenant and everything it owns in the database (memory,
    /// policy, secrets and data key, cron jobs, messages, tokens, skills,
    /// usage, agents, sessions, model usage, channels, inbound replay records) in one durable
    /// transaction; `false` if there was no tenant.
    fn tenant_delete(&self, id: &TenantId) -> Result<bool, StoreError>;

    // Tokens and the admin key.
    /// Stores a new token, durably; `false` if its id is taken.
    fn token_insert(&self, info: &TokenInfo, hash: &[u8; 32]) -> Result<bool, StoreError>;
    /// A token's record and hash, by id (over all tenants: the caller checks
    /// the tenant the presented token names against it).
    fn token(&self, id: &str) -> Result<Option<(TokenInfo, [u8; 32])>, StoreError>;
    /// A tenant's tokens, by id.
    fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenInfo>, StoreError>;
    /// Records that token `id` of `tenant` was used at `now`, durably. This
    /// changes no credential's validity, so it leaves the credential
    /// generation alone.
    fn token_touch(&self, tenant: &TenantId, id: &str, now: u64) -> Result<Option<TokenInfo>, StoreError>;
    /// Deletes token `id` of `tenant`, durably; `false` if it has no such token.
    fn token_remove(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError>;
    /// The stored hash of the operator's admin key.
    fn admin_key_hash(&self) -> Result<Option<[u8; 32]>, StoreError>;
    /// Replaces the hash of the operator's admin key, durably.
    fn set_admin_key_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError>;

    // Trusted publisher keys.
    /// Adds a trusted key, durably; `Err(existing)` (nothing written) if the
    /// name or the key is already trusted.
    fn trust_add(&self, key: &TrustedKey) -> Result<Result<(), TrustedKey>, StoreError>;
    /// Every trusted key, by name.
    fn trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError>;
    /// Removes a trusted key, durably; the removed record, if there was one.
    fn trust_remove(&self, name: &str) -> Result<Option<TrustedKey>, StoreError>;

    // Usage totals, and their series by hour.
    /// Adds each delta to its `(tenant, skill)` totals and to its hour of
    /// the series, in one durable transaction; drops each tenant's hours
    /// older than [`crate::records::SERIES_KEEP_HOURS`] before its newest.
    fn usage_add(&self, deltas: &[UsageDelta]) -> Result<(), StoreError>;
    /// A tenant's stored hours in `[from, to)` (Unix seconds of the hours'
    /// starts), sorted by hour then skill.
    fn usage_series(&self, tenant: &TenantId, from: u64, to: u64) -> Result<Vec<UsageDelta>, StoreError>;
    /// Stored totals of one tenant (or every tenant), as `(tenant, skill,
    /// totals)` sorted by tenant then skill.
    fn usage(&self, tenant: Option<&TenantId>) -> Result<Vec<(TenantId, String, UsageTotals)>, StoreError>;
            }
            special {
    /// Changes one token in place, bumping the credential generation.
    fn token_update(&self, tenant: &TenantId, id: &str, change: &mut dyn FnMut(&mut TokenInfo)) -> Result<Option<TokenInfo>, StoreError>;
    /// Removes one job of a (tenant, skill) if `also` holds for it.
    fn cron_remove_if(&self, tenant: &TenantId, skill: &str, id: &str, also: &dyn Fn(&Job) -> bool) -> Result<bool, StoreError>;
    /// The credential generation (see [`Db::credentials_generation`]).
    fn credentials_generation(&self) -> u64;
    /// Every row of each tenant, in one snapshot (see [`Db::export_tenants`]).
    fn export_tenants(&self, tenants: &[TenantId]) -> Result<Vec<TenantRows>, StoreError>;
    /// Replaces each dump's tenant by it, in one transaction (see
    /// [`Db::import_tenants`]); the dumps are checked already.
    fn import_tenants(&self, dumps: &[(TenantId, &TenantRows)]) -> Result<(), StoreError>;
            }
        }
    };
}

/// Writes the [`Backend`] trait and the forwarding [`Db`] methods.
macro_rules! define_backend {
    (
        []
        plain { $( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )* }
        special { $( $(#[$smeta:meta])* fn $sname:ident(&self $(, $sarg:ident: $sty:ty)* $(,)?) -> $sret:ty; )* }
    ) => {
        /// A storage backend: what [`Db`] forwards to. Every method is one
        /// transaction of the backend; a write returns `Ok` only once it is
        /// durable. Implementations behave identically: the store's
        /// contract tests run against each.
        pub(crate) trait Backend: Send + Sync {
            $( $(#[$meta])* fn $name(&self $(, $arg: $ty)*) -> $ret; )*
            $( $(#[$smeta])* fn $sname(&self $(, $sarg: $sty)*) -> $sret; )*
        }

        impl Db {
            $(
                $(#[$meta])*
                pub fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.backend.$name($($arg),*)
                }
            )*
        }
    };
}

/// `with_operations!(forward_to_inherent Type)` implements [`Backend`] for
/// `Type` by calling its inherent methods of the same names and signatures.
macro_rules! forward_to_inherent {
    (
        [$t:ty]
        plain { $( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )* }
        special { $( $(#[$smeta:meta])* fn $sname:ident(&self $(, $sarg:ident: $sty:ty)* $(,)?) -> $sret:ty; )* }
    ) => {
        const _: () = {
            use $crate::store::backend::names::*;
            impl $crate::store::backend::Backend for $t {
                $( fn $name(&self $(, $arg: $ty)*) -> $ret { <$t>::$name(self $(, $arg)*) } )*
                $( fn $sname(&self $(, $sarg: $sty)*) -> $sret { <$t>::$sname(self $(, $sarg)*) } )*
            }
        };
    };
}
pub(crate) use {forward_to_inherent, with_operations};

with_operations!(define_backend);

impl Db {
    /// Changes one token in place: `change` edits it, the result is stored
    /// and the credential generation bumped. The new record, or `None` if
    /// the token does not exist (or is another tenant's).
    pub fn token_update(
        &self,
        tenant: &TenantId,
        id: &str,
        change: impl FnOnce(&mut TokenInfo),
    ) -> Result<Option<TokenInfo>, StoreError> {
        let mut change = Some(change);
        self.backend.token_update(tenant, id, &mut |t| {
            if let Some(c) = change.take() {
                c(t)
            }
        })
    }

    /// Removes one job of a (tenant, skill) in one transaction, if `also`
    /// holds for the stored job; whether it was removed.
    pub fn cron_remove_if(
        &self,
        tenant: &TenantId,
        skill: &str,
        id: &str,
        also: impl Fn(&Job) -> bool,
    ) -> Result<bool, StoreError> {
        self.backend.cron_remove_if(tenant, skill, id, &also)
    }

    /// The credential generation: it changes after every committed change
    /// that can make a credential invalid (a token updated or removed, a
    /// tenant suspended, resumed, deleted or restored) and after every
    /// change of the trusted publisher keys. A caching reader
    /// takes it before reading and trusts what it read only while it is
    /// unchanged.
    pub fn credentials_generation(&self) -> u64 {
        self.backend.credentials_generation()
    }

    /// Every row of each tenant in `tenants` (all but its tokens), read in
    /// one snapshot, as backend-neutral logical rows ([`TenantRows`]).
    /// `StoreError::Invalid` names a tenant that does not exist.
    pub fn export_tenants(&self, tenants: &[TenantId]) -> Result<Vec<TenantRows>, StoreError> {
        self.backend.export_tenants(tenants)
    }

    /// Replaces, for each dump, everything its tenant owns but its tokens by
    /// the dump, in one durable transaction: on any error nothing changes.
    /// Other tenants are untouched. Each dump is checked first
    /// ([`TenantRows::check`]); a tenant twice, or a cron job id held by
    /// another tenant, is `StoreError::Invalid`.
    pub fn import_tenants(&self, dumps: &[TenantRows]) -> Result<(), StoreError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut checked = Vec::with_capacity(dumps.len());
        for d in dumps {
            let tenant = d.check().map_err(StoreError::Invalid)?;
            if !seen.insert(tenant.clone()) {
                return Err(StoreError::Invalid(format!("tenant {tenant} appears twice")));
            }
            checked.push((tenant, d));
        }
        self.backend.import_tenants(&checked)
    }
}
