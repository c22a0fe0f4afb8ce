//! The `wasmclaw:skill/memory` capability: key-value memory and search,
//! scoped by the host to the call's tenant (and user).
//!
//! Every function charges the call fuel for its work (bytes read, written,
//! scanned and returned, entries visited: [`super::FuelDebt`]). `list` and
//! `search` read the store on a blocking thread, never on the async worker
//! other tenants' calls run on; in a tenant holding more than
//! [`TURN_BYTES`] they first take a long-call turn (see [`crate::slices`])
//! and keep it while they read, so a scan counts like guest code against
//! the cores left to short calls, and it stops at the call's deadline. One
//! `search` reads at most [`MAX_SCAN_BYTES`] and [`MAX_SCAN_ENTRIES`], and
//! no more than the call's fuel pays for.

use super::FuelDebt;
use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::memory as wit;
use crate::config::MemoryQuota;
use crate::ids::{TenantId, UserId};
use crate::slices::Turns;
use crate::store::{Db, MemoryEntry, ScanBound, ScanStop, Scope, StoreError};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasData, Linker};

/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Longest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most entries one `list` or `search` returns, whatever `limit` asks.
pub const MAX_LIST_ENTRIES: usize = 1000;
/// Most bytes (keys plus values) one `list` or `search` returns.
pub const MAX_LIST_BYTES: usize = 4 * 1024 * 1024;
/// Longest search query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;
/// Most bytes (keys plus values) one `search` reads; a scope holding more
/// is searched only this far (`limit-exceeded` when no `limit` matches
/// were found in it).
pub const MAX_SCAN_BYTES: usize = 16 * 1024 * 1024;
/// Most entries one `search` reads (likewise).
pub const MAX_SCAN_ENTRIES: usize = 20_000;
/// A tenant holding more memory bytes than this has its `list` and
/// `search` calls take a long-call turn.
pub const TURN_BYTES: u64 = 256 * 1024;

/// The memory capability of one call.
pub struct MemoryCtx {
    access: Result<Access, String>,
    debt: FuelDebt,
    /// The call's turns and deadline, for heavy reads (none outside a call).
    call: Option<(Turns, Instant)>,
}

#[derive(Clone)]
struct Access {
    db: Arc<Db>,
    tenant: TenantId,
    user: Option<UserId>,
    quota: MemoryQuota,
}

impl Access {
    fn scope(&self) -> Scope<'_> {
        Scope { tenant: &self.tenant, user: self.user.as_ref() }
    }
}

impl MemoryCtx {
    /// Memory of `tenant` (and `user`, when given) with the tenant's quota.
    pub fn new(db: Arc<Db>, tenant: TenantId, user: Option<UserId>, quota: MemoryQuota) -> Self {
        MemoryCtx { access: Ok(Access { db, tenant, user, quota }), debt: FuelDebt::default(), call: None }
    }

    /// A context in which every call returns `denied` with `reason`.
    pub fn denied(reason: impl Into<String>) -> Self {
        MemoryCtx { access: Err(reason.into()), debt: FuelDebt::default(), call: None }
    }

    /// Charges the work of every function to `debt`.
    pub fn with_debt(mut self, debt: FuelDebt) -> Self {
        self.debt = debt;
        self
    }

    /// Runs heavy reads in the call's `turns`, stopping them at `deadline`.
    pub(crate) fn with_turns(mut self, turns: Turns, deadline: Instant) -> Self {
        self.call = Some((turns, deadline));
        self
    }

    fn access(&self) -> Result<(&Access, Scope<'_>), WitError> {
        match &self.access {
            Ok(a) => Ok((a, a.scope())),
            Err(reason) => Err(WitError::Denied(reason.clone())),
        }
    }

    /// In a tenant holding more than [`TURN_BYTES`], waits for a long-call
    /// turn (kept until the guest's next epoch tick); `unavailable` if the
    /// deadline passes first (the guest then ends at its next check).
    async fn take_turn_if_heavy(&self, a: &Access) -> Result<Option<Instant>, WitError> {
        let Some((turns, deadline)) = &self.call else { return Ok(None) };
        if a.db.memory_usage(&a.tenant).map_err(store_error)?.bytes > TURN_BYTES {
            turns.next_turn(*deadline).await;
        }
        if Instant::now() >= *deadline {
            return Err(WitError::Unavailable("the call passed its deadline".into()));
        }
        Ok(Some(*deadline))
    }
}

fn check_key(key: &str) -> Result<(), WitError> {
    if key.is_empty() {
        return Err(WitError::Invalid("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(WitError::Invalid(format!(
            "the key is {} bytes, the most is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

fn store_error(e: StoreError) -> WitError {
    match e {
        StoreError::QuotaExceeded(m) => WitError::LimitExceeded(m),
        other => {
            tracing::error!(error = %other, "memory capability: storage failure");
            WitError::Unavailable("storage is unavailable".into())
        }
    }
}

/// Runs a store read on a blocking thread.
async fn blocking<R: Send + 'static>(
    read: impl FnOnce() -> Result<R, StoreError> + Send + 'static,
) -> Result<R, WitError> {
    match tokio::task::spawn_blocking(read).await {
        Ok(r) => r.map_err(store_error),
        Err(e) => {
            tracing::error!(error = %e, "memory capability: a store read failed");
            Err(WitError::Unavailable("storage is unavailable".into()))
        }
    }
}

fn entry_bytes(entries: &[MemoryEntry]) -> u64 {
    entries.iter().map(|e| (e.key.len() + e.value.len()) as u64).sum()
}

fn to_wit(entries: Vec<MemoryEntry>) -> Vec<wit::Entry> {
    entries.into_iter().map(|e| wit::Entry { key: e.key, value: e.value }).collect()
}

fn list_limit(limit: u32) -> usize {
    (limit as usize).min(MAX_LIST_ENTRIES)
}

impl wit::Host for MemoryCtx {
    async fn get(&mut self, key: String) -> Result<String, WitError> {
        let a = self.access()?.0.clone();
        check_key(&key)?;
        let (k, tenant) = (key.clone(), a.scope().tenant.clone());
        let value =
            a.db.clone().run(&tenant, move |db| db.memory_get(a.scope(), &k)).await.map_err(store_error)?;
        self.debt.charge_work((key.len() + value.as_ref().map_or(0, String::len)) as u64, 1);
        value.ok_or_else(|| WitError::NotFound(format!("no entry {key:?}")))
    }

    async fn set(&mut self, key: String, value: String) -> Result<(), WitError> {
        let a = self.access()?.0.clone();
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(WitError::Invalid(format!(
                "the value is {} bytes, the most is {MAX_VALUE_BYTES}",
                value.len()
            )));
        }
        self.debt.charge_work((key.len() + value.len()) as u64, 1);
        let tenant = a.scope().tenant.clone();
        a.db.clone()
            .run(&tenant, move |db| db.memory_set(a.scope(), &key, &value, &a.quota))
            .await
            .map_err(store_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), WitError> {
        let a = self.access()?.0.clone();
        check_key(&key)?;
        self.debt.charge_work(key.len() as u64, 1);
        let (k, tenant) = (key.clone(), a.scope().tenant.clone());
        match a
            .db
            .clone()
            .run(&tenant, move |db| db.memory_delete(a.scope(), &k))
            .await
            .map_err(store_error)?
        {
            true => Ok(()),
            false => Err(WitError::NotFound(format!("no entry {key:?}"))),
        }
    }

    async fn list(&mut self, prefix: String, limit: u32) -> Result<Vec<wit::Entry>, WitError> {
        let a = self.access()?.0.clone();
        if prefix.len() > MAX_KEY_BYTES {
            return Err(WitError::Invalid(format!("the prefix is longer than {MAX_KEY_BYTES} bytes")));
        }
        self.take_turn_if_heavy(&a).await?;
        // A list reads what it returns (and the one entry that did not fit).
        let max_bytes = MAX_LIST_BYTES.min(self.debt.affordable_bytes());
        let limit = list_limit(limit);
        let entries = blocking(move || a.db.memory_list(a.scope(), &prefix, limit, max_bytes)).await?;
        self.debt.charge_work(entry_bytes(&entries), entries.len() as u64 + 1);
        Ok(to_wit(entries))
    }

    async fn search(&mut self, query: String, limit: u32) -> Result<Vec<wit::Entry>, WitError> {
        let a = self.access()?.0.clone();
        if query.len() > MAX_QUERY_BYTES {
            return Err(WitError::Invalid(format!("the query is longer than {MAX_QUERY_BYTES} bytes")));
        }
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return Err(WitError::Invalid("the query has no words".into()));
        }
        let deadline = self.take_turn_if_heavy(&a).await?;
        let affordable = self.debt.affordable();
        let bound = ScanBound {
            max_bytes: MAX_SCAN_BYTES.min(self.debt.affordable_bytes()),
            max_entries: MAX_SCAN_ENTRIES
                .min(usize::try_from(affordable / super::FUEL_PER_ENTRY).unwrap_or(usize::MAX)),
            deadline,
        };
        let fuel_bound = bound.max_bytes < MAX_SCAN_BYTES || bound.max_entries < MAX_SCAN_ENTRIES;
        let limit = list_limit(limit);
        let scan =
            blocking(move || a.db.memory_search(a.scope(), &words, limit, MAX_LIST_BYTES, &bound)).await?;
        self.debt.charge_work(
            scan.scanned_bytes + entry_bytes(&scan.entries),
            scan.scanned_entries + scan.entries.len() as u64 + 1,
        );
        match scan.stopped {
            None => Ok(to_wit(scan.entries)),
            Some(ScanStop::Bound) if fuel_bound => {
                // The call cannot pay for the rest: it ends out of fuel.
                self.debt.charge(u64::MAX);
                Err(WitError::LimitExceeded("the call has no fuel left to search further".into()))
            }
            Some(ScanStop::Bound) => Err(WitError::LimitExceeded(format!(
                "the search read {} entries ({} bytes), the most one search reads, before finding {limit} matches",
                scan.scanned_entries, scan.scanned_bytes
            ))),
            Some(ScanStop::Deadline) => Err(WitError::Unavailable("the call passed its deadline".into())),
        }
    }
}

struct HasMemory;

impl HasData for HasMemory {
    type Data<'a> = &'a mut MemoryCtx;
}

/// Adds `wasmclaw:skill/memory` to `linker`, reaching each call's context
/// through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut MemoryCtx,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasMemory>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::Host;

    fn ctx(db: &Arc<Db>, tenant: &str, user: Option<&str>) -> MemoryCtx {
        MemoryCtx::new(
            db.clone(),
            TenantId::parse(tenant).unwrap(),
            user.map(|u| UserId::parse(u).unwrap()),
            MemoryQuota { max_entries: 5, max_bytes: 4 * MAX_VALUE_BYTES as u64 },
        )
    }

    fn db() -> (tempfile::TempDir, Arc<Db>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&dir.path().join("db.redb")).unwrap());
        (dir, db)
    }

    #[tokio::test]
    async fn allowed_round_trip() {
        let (_d, db) = db();
        let mut m = ctx(&db, "acme", None);
        m.set("k".into(), "v".into()).await.unwrap();
        assert_eq!(m.get("k".into()).await.unwrap(), "v");
        assert_eq!(m.list("".into(), 10).await.unwrap().len(), 1);
        assert_eq!(m.search("V".into(), 10).await.unwrap().len(), 1);
        m.delete("k".into()).await.unwrap();
        assert!(matches!(m.get("k".into()).await, Err(WitError::NotFound(_))));
        assert!(matches!(m.delete("k".into()).await, Err(WitError::NotFound(_))));
    }

    #[tokio::test]
    async fn denied_context_returns_denied_for_every_function() {
        let mut m = MemoryCtx::denied("no memory in describe");
        let is_denied = |r: Result<(), WitError>| matches!(r, Err(WitError::Denied(ref s)) if s == "no memory in describe");
        assert!(is_denied(m.get("k".into()).await.map(drop)));
        assert!(is_denied(m.set("k".into(), "v".into()).await));
        assert!(is_denied(m.delete("k".into()).await));
        assert!(is_denied(m.list("".into(), 1).await.map(drop)));
        assert!(is_denied(m.search("q".into(), 1).await.map(drop)));
    }

    #[tokio::test]
    async fn bounds_are_invalid_not_traps() {
        let (_d, db) = db();
        let mut m = ctx(&db, "acme", None);
        assert!(matches!(m.set("".into(), "v".into()).await, Err(WitError::Invalid(_))));
        assert!(matches!(m.set("k".repeat(513), "v".into()).await, Err(WitError::Invalid(_))));
        m.set("k".repeat(512), "v".into()).await.unwrap();
        assert!(matches!(
            m.set("k".into(), "v".repeat(MAX_VALUE_BYTES + 1)).await,
            Err(WitError::Invalid(_))
        ));
        m.set("big".into(), "v".repeat(MAX_VALUE_BYTES)).await.unwrap();
        assert!(matches!(m.search("   ".into(), 1).await, Err(WitError::Invalid(_))));
        assert!(matches!(m.search("q".repeat(2000), 1).await, Err(WitError::Invalid(_))));
    }

    #[tokio::test]
    async fn quota_is_limit_exceeded() {
        let (_d, db) = db();
        let mut m = ctx(&db, "acme", None);
        for i in 0..5 {
            m.set(format!("k{i}"), "v".into()).await.unwrap();
        }
        assert!(matches!(m.set("k5".into(), "v".into()).await, Err(WitError::LimitExceeded(_))));
        // Another tenant's quota is its own.
        ctx(&db, "other", None).set("k5".into(), "v".into()).await.unwrap();
    }

    #[tokio::test]
    async fn list_limit_is_capped() {
        let (_d, db) = db();
        let mut m = MemoryCtx::new(
            db.clone(),
            TenantId::parse("acme").unwrap(),
            None,
            MemoryQuota { max_entries: 2000, max_bytes: 1 << 30 },
        );
        for i in 0..(MAX_LIST_ENTRIES + 5) {
            m.set(format!("k{i:05}"), "v".into()).await.unwrap();
        }
        assert_eq!(m.list("".into(), u32::MAX).await.unwrap().len(), MAX_LIST_ENTRIES);
    }

    #[tokio::test]
    async fn cross_tenant_and_cross_user_reads_fail() {
        let (_d, db) = db();
        ctx(&db, "tenant-b", None).set("secret".into(), "b-secret".into()).await.unwrap();
        ctx(&db, "tenant-a", Some("alice")).set("secret".into(), "alice-secret".into()).await.unwrap();
        let mut a = ctx(&db, "tenant-a", None);
        assert!(matches!(a.get("secret".into()).await, Err(WitError::NotFound(_))));
        assert!(a.list("".into(), 100).await.unwrap().is_empty());
        assert!(a.search("secret".into(), 100).await.unwrap().is_empty());
        let mut bob = ctx(&db, "tenant-a", Some("bob"));
        assert!(bob.list("".into(), 100).await.unwrap().is_empty());
        assert!(matches!(a.delete("secret".into()).await, Err(WitError::NotFound(_))));
        // B's entry is intact after A's attempts.
        assert_eq!(ctx(&db, "tenant-b", None).get("secret".into()).await.unwrap(), "b-secret");
    }

    fn big_ctx(db: &Arc<Db>, tenant: &str, debt: &FuelDebt) -> MemoryCtx {
        MemoryCtx::new(
            db.clone(),
            TenantId::parse(tenant).unwrap(),
            None,
            MemoryQuota { max_entries: 100_000, max_bytes: 1 << 30 },
        )
        .with_debt(debt.clone())
    }

    /// Fills `m` with `n` entries of `size`-byte values, none holding "needle".
    async fn fill(m: &mut MemoryCtx, n: usize, size: usize) {
        for i in 0..n {
            m.set(format!("k{i:06}"), "x".repeat(size)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn every_function_charges_its_work_to_the_debt() {
        let (_d, db) = db();
        let debt = FuelDebt::default();
        let mut m = big_ctx(&db, "acme", &debt);
        m.set("key".into(), "v".repeat(1000)).await.unwrap();
        assert_eq!(debt.take(), 1003 * crate::caps::FUEL_PER_BYTE + crate::caps::FUEL_PER_ENTRY);
        m.get("key".into()).await.unwrap();
        assert_eq!(debt.take(), 1003 * crate::caps::FUEL_PER_BYTE + crate::caps::FUEL_PER_ENTRY);
        m.list("".into(), 10).await.unwrap();
        assert!(debt.take() >= 1003);
        m.search("vvv".into(), 10).await.unwrap();
        assert!(debt.take() >= 2 * 1003, "read once, returned once");
    }

    #[tokio::test]
    async fn search_fuel_grows_with_the_scope_it_reads() {
        let (_d, db) = db();
        let (small_debt, big_debt) = (FuelDebt::default(), FuelDebt::default());
        let mut small = big_ctx(&db, "small", &small_debt);
        let mut big = big_ctx(&db, "big", &big_debt);
        fill(&mut small, 10, 10_000).await;
        fill(&mut big, 100, 10_000).await;
        small.set("hit".into(), "the Needle".into()).await.unwrap();
        big.set("hit".into(), "the Needle".into()).await.unwrap();
        small_debt.take();
        big_debt.take();
        // Allowed: a search in a small scope finds its match.
        let hits = small.search("NEEDLE".into(), 10).await.unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].key, "hit");
        assert_eq!(big.search("needle".into(), 10).await.unwrap().len(), 1);
        let (s, b) = (small_debt.take(), big_debt.take());
        assert!(s >= 100_000 && b >= 1_000_000, "fuel per byte read: {s}, {b}");
        assert!(b > 9 * s, "ten times the scope, ten times the fuel: {s}, {b}");
    }

    #[tokio::test]
    async fn a_search_reads_no_more_than_its_bound() {
        let (_d, db) = db();
        let debt = FuelDebt::default();
        let mut m = big_ctx(&db, "acme", &debt);
        // 20 MiB: more than one search reads.
        fill(&mut m, 20, MAX_VALUE_BYTES).await;
        debt.take();
        let e = m.search("needle".into(), 10).await.unwrap_err();
        assert!(matches!(&e, WitError::LimitExceeded(m) if m.contains("the most one search reads")), "{e:?}");
        let owed = debt.take();
        assert!(owed >= MAX_SCAN_BYTES as u64 / 2 && owed <= 2 * MAX_SCAN_BYTES as u64 + 100_000, "{owed}");
    }

    #[tokio::test]
    async fn a_search_reads_no_more_than_the_call_can_pay_for() {
        let (_d, db) = db();
        let debt = FuelDebt::default();
        let mut m = big_ctx(&db, "acme", &debt);
        fill(&mut m, 4, MAX_VALUE_BYTES).await;
        debt.take();
        debt.set_left(1_000_000);
        assert!(matches!(m.search("needle".into(), 10).await, Err(WitError::LimitExceeded(_))));
        assert_eq!(debt.take(), u64::MAX, "the call is left owing more than it has");
    }

    #[tokio::test]
    async fn words_match_case_insensitively_in_ascii_and_unicode() {
        let (_d, db) = db();
        let mut m = ctx(&db, "acme", None);
        m.set("ascii".into(), "Hello WORLD".into()).await.unwrap();
        m.set("unicode".into(), "ÄPFEL und Birnen".into()).await.unwrap();
        for (query, hits) in [("world hello", 1), ("äpfel BIRNEN", 1), ("hello äpfel", 0), ("E", 2)] {
            assert_eq!(
                m.search(query.into(), 10).await.unwrap().len(),
                hits,
                "{query}: every word in one entry"
            );
        }
    }
}
