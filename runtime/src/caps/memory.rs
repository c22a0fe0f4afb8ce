//! The `wasmclaw:skill/memory` capability: key-value memory and search,
//! scoped by the host to the call's tenant (and user).

use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::memory as wit;
use crate::config::MemoryQuota;
use crate::ids::{TenantId, UserId};
use crate::store::{Db, MemoryEntry, Scope, StoreError};
use std::sync::Arc;
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

/// The memory capability of one call.
pub struct MemoryCtx {
    access: Result<Access, String>,
}

struct Access {
    db: Arc<Db>,
    tenant: TenantId,
    user: Option<UserId>,
    quota: MemoryQuota,
}

impl MemoryCtx {
    /// Memory of `tenant` (and `user`, when given) with the tenant's quota.
    pub fn new(db: Arc<Db>, tenant: TenantId, user: Option<UserId>, quota: MemoryQuota) -> Self {
        MemoryCtx { access: Ok(Access { db, tenant, user, quota }) }
    }

    /// A context in which every call returns `denied` with `reason`.
    pub fn denied(reason: impl Into<String>) -> Self {
        MemoryCtx { access: Err(reason.into()) }
    }

    fn access(&self) -> Result<(&Access, Scope<'_>), WitError> {
        match &self.access {
            Ok(a) => Ok((a, Scope { tenant: &a.tenant, user: a.user.as_ref() })),
            Err(reason) => Err(WitError::Denied(reason.clone())),
        }
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

fn to_wit(entries: Vec<MemoryEntry>) -> Vec<wit::Entry> {
    entries.into_iter().map(|e| wit::Entry { key: e.key, value: e.value }).collect()
}

fn list_limit(limit: u32) -> usize {
    (limit as usize).min(MAX_LIST_ENTRIES)
}

impl wit::Host for MemoryCtx {
    fn get(&mut self, key: String) -> Result<String, WitError> {
        let (a, scope) = self.access()?;
        check_key(&key)?;
        a.db.memory_get(scope, &key)
            .map_err(store_error)?
            .ok_or_else(|| WitError::NotFound(format!("no entry {key:?}")))
    }

    fn set(&mut self, key: String, value: String) -> Result<(), WitError> {
        let (a, scope) = self.access()?;
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(WitError::Invalid(format!(
                "the value is {} bytes, the most is {MAX_VALUE_BYTES}",
                value.len()
            )));
        }
        a.db.memory_set(scope, &key, &value, &a.quota).map_err(store_error)
    }

    fn delete(&mut self, key: String) -> Result<(), WitError> {
        let (a, scope) = self.access()?;
        check_key(&key)?;
        match a.db.memory_delete(scope, &key).map_err(store_error)? {
            true => Ok(()),
            false => Err(WitError::NotFound(format!("no entry {key:?}"))),
        }
    }

    fn list(&mut self, prefix: String, limit: u32) -> Result<Vec<wit::Entry>, WitError> {
        let (a, scope) = self.access()?;
        if prefix.len() > MAX_KEY_BYTES {
            return Err(WitError::Invalid(format!("the prefix is longer than {MAX_KEY_BYTES} bytes")));
        }
        let entries = a.db.memory_list(scope, &prefix, list_limit(limit), MAX_LIST_BYTES);
        Ok(to_wit(entries.map_err(store_error)?))
    }

    fn search(&mut self, query: String, limit: u32) -> Result<Vec<wit::Entry>, WitError> {
        let (a, scope) = self.access()?;
        if query.len() > MAX_QUERY_BYTES {
            return Err(WitError::Invalid(format!("the query is longer than {MAX_QUERY_BYTES} bytes")));
        }
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if words.is_empty() {
            return Err(WitError::Invalid("the query has no words".into()));
        }
        let entries = a.db.memory_search(scope, &words, list_limit(limit), MAX_LIST_BYTES);
        Ok(to_wit(entries.map_err(store_error)?))
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

    #[test]
    fn allowed_round_trip() {
        let (_d, db) = db();
        let mut m = ctx(&db, "acme", None);
        m.set("k".into(), "v".into()).unwrap();
        assert_eq!(m.get("k".into()).unwrap(), "v");
        assert_eq!(m.list("".into(), 10).unwrap().len(), 1);
        assert_eq!(m.search("V".into(), 10).unwrap().len(), 1);
        m.delete("k".into()).unwrap();
        assert!(matches!(m.get("k".into()), Err(WitError::NotFound(_))));
        assert!(matches!(m.delete("k".into()), Err(WitError::NotFound(_))));
    }

    #[test]
    fn denied_context_returns_denied_for_every_function() {
        let mut m = MemoryCtx::denied("no memory in describe");
        let is_denied = |r: Result<(), WitError>| matches!(r, Err(WitError::Denied(ref s)) if s == "no memory in describe");
        assert!(is_denied(m.get("k".into()).map(drop)));
        assert!(is_denied(m.set("k".into(), "v".into())));
        assert!(is_denied(m.delete("k".into())));
        assert!(is_denied(m.list("".into(), 1).map(drop)));
        assert!(is_denied(m.search("q".into(), 1).map(drop)));
    }

    #[test]
    fn bounds_are_invalid_not_traps() {
        let (_d, db) = db();
        let mut m = ctx(&db, "acme", None);
        assert!(matches!(m.set("".into(), "v".into()), Err(WitError::Invalid(_))));
        assert!(matches!(m.set("k".repeat(513), "v".into()), Err(WitError::Invalid(_))));
        m.set("k".repeat(512), "v".into()).unwrap();
        assert!(matches!(m.set("k".into(), "v".repeat(MAX_VALUE_BYTES + 1)), Err(WitError::Invalid(_))));
        m.set("big".into(), "v".repeat(MAX_VALUE_BYTES)).unwrap();
        assert!(matches!(m.search("   ".into(), 1), Err(WitError::Invalid(_))));
        assert!(matches!(m.search("q".repeat(2000), 1), Err(WitError::Invalid(_))));
    }

    #[test]
    fn quota_is_limit_exceeded() {
        let (_d, db) = db();
        let mut m = ctx(&db, "acme", None);
        for i in 0..5 {
            m.set(format!("k{i}"), "v".into()).unwrap();
        }
        assert!(matches!(m.set("k5".into(), "v".into()), Err(WitError::LimitExceeded(_))));
        // Another tenant's quota is its own.
        ctx(&db, "other", None).set("k5".into(), "v".into()).unwrap();
    }

    #[test]
    fn list_limit_is_capped() {
        let (_d, db) = db();
        let mut m = MemoryCtx::new(
            db.clone(),
            TenantId::parse("acme").unwrap(),
            None,
            MemoryQuota { max_entries: 2000, max_bytes: 1 << 30 },
        );
        for i in 0..(MAX_LIST_ENTRIES + 5) {
            m.set(format!("k{i:05}"), "v".into()).unwrap();
        }
        assert_eq!(m.list("".into(), u32::MAX).unwrap().len(), MAX_LIST_ENTRIES);
    }

    #[test]
    fn cross_tenant_and_cross_user_reads_fail() {
        let (_d, db) = db();
        ctx(&db, "tenant-b", None).set("secret".into(), "b-secret".into()).unwrap();
        ctx(&db, "tenant-a", Some("alice")).set("secret".into(), "alice-secret".into()).unwrap();
        let mut a = ctx(&db, "tenant-a", None);
        assert!(matches!(a.get("secret".into()), Err(WitError::NotFound(_))));
        assert!(a.list("".into(), 100).unwrap().is_empty());
        assert!(a.search("secret".into(), 100).unwrap().is_empty());
        let mut bob = ctx(&db, "tenant-a", Some("bob"));
        assert!(bob.list("".into(), 100).unwrap().is_empty());
        assert!(matches!(a.delete("secret".into()), Err(WitError::NotFound(_))));
        // B's entry is intact after A's attempts.
        assert_eq!(ctx(&db, "tenant-b", None).get("secret".into()).unwrap(), "b-secret");
    }
}
