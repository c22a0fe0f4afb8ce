//! Memory entries (`memory` capability): `tenant \0 user \0 key` → value,
//! with a per-tenant usage record for the quota.

use super::{Db, Scope, StoreError};
use crate::config::MemoryQuota;
use crate::ids::TenantId;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

/// Memory entries: `tenant \0 user \0 key` → value.
const MEMORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("memory");
/// Memory usage per tenant: tenant → (entries, bytes).
const MEMORY_USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("memory_usage");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(MEMORY)?;
    txn.open_table(MEMORY_USAGE)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    super::remove_prefixed(&mut txn.open_table(MEMORY)?, &super::tenant_prefix(tenant))?;
    txn.open_table(MEMORY_USAGE)?.remove(tenant.as_str())?;
    Ok(())
}

/// One memory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryEntry {
    /// The key within its scope.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A tenant's memory usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Entries held.
    pub entries: u64,
    /// Bytes held (keys plus values).
    pub bytes: u64,
}

impl Db {
    /// Reads one entry.
    pub fn memory_get(&self, scope: Scope<'_>, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MEMORY)?;
        let value = table.get(scope.key(key).as_slice())?;
        Ok(value.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// Writes one entry, durably, if the tenant's quota allows it.
    pub fn memory_set(
        &self,
        scope: Scope<'_>,
        key: &str,
        value: &str,
        quota: &MemoryQuota,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(MEMORY)?;
            let mut usage_table = txn.open_table(MEMORY_USAGE)?;
            let full_key = scope.key(key);
            let old_len = table.get(full_key.as_slice())?.map(|v| v.value().len() as u64);
            let usage = usage_table.get(scope.tenant.as_str())?.map(|v| v.value()).unwrap_or((0, 0));
            let entry_bytes = (key.len() + value.len()) as u64;
            let (entries, bytes) = match old_len {
                Some(old) => (usage.0, usage.1 - (key.len() as u64 + old).min(usage.1) + entry_bytes),
                None => (usage.0 + 1, usage.1 + entry_bytes),
            };
            if entries > quota.max_entries {
                return Err(StoreError::QuotaExceeded(format!(
                    "the tenant holds {} memory entries, the quota is {}",
                    usage.0, quota.max_entries
                )));
            }
            if bytes > quota.max_bytes {
                return Err(StoreError::QuotaExceeded(format!(
                    "this write would bring the tenant's memory to {bytes} bytes, the quota is {}",
                    quota.max_bytes
                )));
            }
            table.insert(full_key.as_slice(), value.as_bytes())?;
            usage_table.insert(scope.tenant.as_str(), (entries, bytes))?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Deletes one entry, durably; `false` when there was none.
    pub fn memory_delete(&self, scope: Scope<'_>, key: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut table = txn.open_table(MEMORY)?;
            let mut usage_table = txn.open_table(MEMORY_USAGE)?;
            let old_len = table.remove(scope.key(key).as_slice())?.map(|v| v.value().len() as u64);
            if let Some(old) = old_len {
                let (entries, bytes) =
                    usage_table.get(scope.tenant.as_str())?.map(|v| v.value()).unwrap_or((0, 0));
                let freed = key.len() as u64 + old;
                usage_table.insert(
                    scope.tenant.as_str(),
                    (entries.saturating_sub(1), bytes.saturating_sub(freed)),
                )?;
            }
            old_len.is_some()
        };
        txn.commit()?;
        Ok(removed)
    }

    /// Visits the scope's entries whose key starts with `prefix`, in key
    /// order, until `visit` returns `false`.
    fn memory_scan(
        &self,
        scope: Scope<'_>,
        prefix: &str,
        mut visit: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), StoreError> {
        let start = scope.key(prefix);
        let scope_len = scope.prefix().len();
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MEMORY)?;
        for item in table.range(start.as_slice()..)? {
            let (k, v) = item?;
            let k = k.value();
            if !k.starts_with(&start) {
                break;
            }
            let key = String::from_utf8_lossy(&k[scope_len..]);
            let value = String::from_utf8_lossy(v.value());
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    /// Lists up to `limit` entries whose key starts with `prefix`, stopping
    /// before the total of keys and values would pass `max_bytes`.
    pub fn memory_list(
        &self,
        scope: Scope<'_>,
        prefix: &str,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<MemoryEntry>, StoreError> {
        let mut out = Vec::new();
        let mut budget = Budget::new(limit, max_bytes);
        self.memory_scan(scope, prefix, |k, v| budget.take(&mut out, k, v))?;
        Ok(out)
    }

    /// Finds up to `limit` entries whose key or value contains every one of
    /// `words` (case-insensitive), with the same byte budget as
    /// [`Db::memory_list`], reading no more of the scope than `bound`
    /// allows. The result says what was read, for the caller to charge.
    pub fn memory_search(
        &self,
        scope: Scope<'_>,
        words: &[String],
        limit: usize,
        max_bytes: usize,
        bound: &ScanBound,
    ) -> Result<SearchScan, StoreError> {
        let mut out = SearchScan::default();
        let mut budget = Budget::new(limit, max_bytes);
        let mut matcher = Matcher::new(words)?;
        self.memory_scan(scope, "", |k, v| {
            let size = (k.len() + v.len()) as u64;
            if out.scanned_bytes + size > bound.max_bytes as u64
                || out.scanned_entries >= bound.max_entries as u64
            {
                out.stopped = Some(ScanStop::Bound);
                return false;
            }
            // The clock is read every 64 entries, and a large entry is
            // always followed by a check.
            if (out.scanned_entries % 64 == 0 || size > 64 * 1024)
                && bound.deadline.is_some_and(|d| std::time::Instant::now() >= d)
            {
                out.stopped = Some(ScanStop::Deadline);
                return false;
            }
            out.scanned_bytes += size;
            out.scanned_entries += 1;
            if matcher.matches(k, v) { budget.take(&mut out.entries, k, v) } else { true }
        })?;
        Ok(out)
    }

    /// A tenant's memory usage.
    pub fn memory_usage(&self, tenant: &TenantId) -> Result<MemoryUsage, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MEMORY_USAGE)?;
        let (entries, bytes) = table.get(tenant.as_str())?.map(|v| v.value()).unwrap_or((0, 0));
        Ok(MemoryUsage { entries, bytes })
    }
}

/// How much of a scope one search may read, and until when.
#[derive(Debug, Clone, Copy)]
pub struct ScanBound {
    /// Most bytes of keys and values read.
    pub max_bytes: usize,
    /// Most entries read.
    pub max_entries: usize,
    /// When to stop reading, whatever is left.
    pub deadline: Option<std::time::Instant>,
}

/// Why a search stopped before the end of its scope with room for more
/// matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanStop {
    /// It read all its [`ScanBound`] allows.
    Bound,
    /// The deadline passed.
    Deadline,
}

/// What a search found, and what it read to find it.
#[derive(Debug, Default)]
pub struct SearchScan {
    /// The matches, in key order.
    pub entries: Vec<MemoryEntry>,
    /// Bytes of keys and values read.
    pub scanned_bytes: u64,
    /// Entries read.
    pub scanned_entries: u64,
    /// Set when the search stopped early (neither the scope's end nor
    /// `limit` matches).
    pub stopped: Option<ScanStop>,
}

/// Tests whether an entry holds every word, case-insensitively, without
/// allocating for ASCII entries: one ASCII-case-insensitive automaton for
/// all the words (a lower-cased word with a non-ASCII letter can never be
/// in an ASCII text, so this is the same test as lower-casing both). Only
/// an entry with non-ASCII text is lower-cased, to compare as Unicode does.
struct Matcher {
    words: Vec<String>,
    automaton: aho_corasick::AhoCorasick,
    seen: Vec<bool>,
}

impl Matcher {
    fn new(words: &[String]) -> Result<Self, StoreError> {
        let mut words: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
        words.sort();
        words.dedup();
        let automaton = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&words)
            .map_err(|e| StoreError::Invalid(format!("the search words: {e}")))?;
        let seen = vec![false; words.len()];
        Ok(Matcher { words, automaton, seen })
    }

    fn matches(&mut self, key: &str, value: &str) -> bool {
        if !(key.is_ascii() && value.is_ascii()) {
            let (k, v) = (key.to_lowercase(), value.to_lowercase());
            return self.words.iter().all(|w| k.contains(w.as_str()) || v.contains(w.as_str()));
        }
        self.seen.fill(false);
        let mut left = self.words.len();
        for text in [key, value] {
            for m in self.automaton.find_overlapping_iter(text) {
                let seen = &mut self.seen[m.pattern().as_usize()];
                if !*seen {
                    *seen = true;
                    left -= 1;
                    if left == 0 {
                        return true;
                    }
                }
            }
        }
        left == 0
    }
}

/// Bounds what a list or search returns: a count and a byte budget, so the
/// host never allocates more than it was configured to for one call.
struct Budget {
    left: usize,
    bytes_left: usize,
}

impl Budget {
    fn new(limit: usize, max_bytes: usize) -> Self {
        Budget { left: limit, bytes_left: max_bytes }
    }

    /// Adds the entry if it fits; returns whether to keep scanning.
    fn take(&mut self, out: &mut Vec<MemoryEntry>, key: &str, value: &str) -> bool {
        let size = key.len() + value.len();
        if self.left == 0 || size > self.bytes_left {
            return false;
        }
        self.left -= 1;
        self.bytes_left -= size;
        out.push(MemoryEntry { key: key.to_string(), value: value.to_string() });
        self.left > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    use crate::store::testing::{db, t};

    const QUOTA: MemoryQuota = MemoryQuota { max_entries: 3, max_bytes: 100 };
    const UNBOUNDED: ScanBound = ScanBound { max_bytes: usize::MAX, max_entries: usize::MAX, deadline: None };

    #[test]
    fn set_get_delete_round_trip() {
        let (_d, db) = db();
        let a = t("a");
        let s = Scope { tenant: &a, user: None };
        db.memory_set(s, "k", "v1", &QUOTA).unwrap();
        db.memory_set(s, "k", "v22", &QUOTA).unwrap();
        assert_eq!(db.memory_get(s, "k").unwrap().as_deref(), Some("v22"));
        assert_eq!(db.memory_usage(&a).unwrap(), MemoryUsage { entries: 1, bytes: 4 });
        assert!(db.memory_delete(s, "k").unwrap());
        assert!(!db.memory_delete(s, "k").unwrap());
        assert_eq!(db.memory_get(s, "k").unwrap(), None);
        assert_eq!(db.memory_usage(&a).unwrap(), MemoryUsage::default());
    }

    #[test]
    fn tenants_and_users_do_not_see_each_other() {
        let (_d, db) = db();
        let (a, ab) = (t("a"), t("ab"));
        let alice = UserId::parse("alice").unwrap();
        let sa = Scope { tenant: &a, user: None };
        let sab = Scope { tenant: &ab, user: None };
        let sa_alice = Scope { tenant: &a, user: Some(&alice) };
        db.memory_set(sab, "secret", "of-ab", &QUOTA).unwrap();
        db.memory_set(sa_alice, "secret", "of-alice", &QUOTA).unwrap();
        // Tenant "a" is a string prefix of tenant "ab": the separator keeps them apart.
        assert_eq!(db.memory_get(sa, "secret").unwrap(), None);
        assert!(db.memory_list(sa, "", 100, 1 << 20).unwrap().is_empty());
        assert!(db.memory_search(sa, &["of".into()], 100, 1 << 20, &UNBOUNDED).unwrap().entries.is_empty());
        assert_eq!(db.memory_list(sa_alice, "", 100, 1 << 20).unwrap().len(), 1);
        // A key that embeds the separator cannot reach another scope.
        assert_eq!(db.memory_get(sa, "\0secret").unwrap(), None);
        assert_eq!(db.memory_get(sa, "b\0\0secret").unwrap(), None);
    }

    #[test]
    fn quota_counts_entries_and_bytes_per_tenant() {
        let (_d, db) = db();
        let a = t("a");
        let b = t("b");
        let s = Scope { tenant: &a, user: None };
        for k in ["1", "2", "3"] {
            db.memory_set(s, k, "x", &QUOTA).unwrap();
        }
        assert!(matches!(db.memory_set(s, "4", "x", &QUOTA), Err(StoreError::QuotaExceeded(_))));
        // Replacing an entry does not add one.
        db.memory_set(s, "3", "yy", &QUOTA).unwrap();
        let big = "z".repeat(200);
        assert!(matches!(db.memory_set(s, "3", &big, &QUOTA), Err(StoreError::QuotaExceeded(_))));
        // The refused writes changed nothing, and tenant b is unaffected.
        assert_eq!(db.memory_get(s, "3").unwrap().as_deref(), Some("yy"));
        assert_eq!(db.memory_usage(&a).unwrap(), MemoryUsage { entries: 3, bytes: 7 });
        db.memory_set(Scope { tenant: &b, user: None }, "1", "x", &QUOTA).unwrap();
    }

    #[test]
    fn list_and_search_respect_prefix_limit_and_budget() {
        let (_d, db) = db();
        let a = t("a");
        let s = Scope { tenant: &a, user: None };
        let q = MemoryQuota { max_entries: 100, max_bytes: 10_000 };
        for i in 0..10 {
            db.memory_set(s, &format!("note:{i}"), &format!("Hello world {i}"), &q).unwrap();
        }
        db.memory_set(s, "other", "hello", &q).unwrap();
        assert_eq!(db.memory_list(s, "note:", 100, 1 << 20).unwrap().len(), 10);
        assert_eq!(db.memory_list(s, "note:", 3, 1 << 20).unwrap().len(), 3);
        // Each entry is 6 + 13 = 19 bytes: a 40-byte budget holds two.
        assert_eq!(db.memory_list(s, "note:", 100, 40).unwrap().len(), 2);
        let hits = db.memory_search(s, &["world".into(), "7".into()], 100, 1 << 20, &UNBOUNDED).unwrap();
        assert_eq!(hits.entries, vec![MemoryEntry { key: "note:7".into(), value: "Hello world 7".into() }]);
        assert_eq!(hits.scanned_entries, 11, "the whole scope was read");
        assert_eq!(hits.stopped, None);
        assert_eq!(
            db.memory_search(s, &["hello".into()], 100, 1 << 20, &UNBOUNDED).unwrap().entries.len(),
            11
        );
    }

    #[test]
    fn a_search_stops_at_its_bound_and_says_so() {
        let (_d, db) = db();
        let a = t("a");
        let s = Scope { tenant: &a, user: None };
        let q = MemoryQuota { max_entries: 100, max_bytes: 10_000 };
        for i in 0..10 {
            db.memory_set(s, &format!("k{i}"), "0123456789", &q).unwrap();
        }
        let words = ["zzz".to_string()];
        let by_entries = ScanBound { max_entries: 4, ..UNBOUNDED };
        let scan = db.memory_search(s, &words, 100, 1 << 20, &by_entries).unwrap();
        assert_eq!((scan.scanned_entries, scan.stopped), (4, Some(ScanStop::Bound)));
        // Each entry is 2 + 10 bytes: 30 bytes read two.
        let by_bytes = ScanBound { max_bytes: 30, ..UNBOUNDED };
        let scan = db.memory_search(s, &words, 100, 1 << 20, &by_bytes).unwrap();
        assert_eq!((scan.scanned_bytes, scan.stopped), (24, Some(ScanStop::Bound)));
        let past = ScanBound { deadline: Some(std::time::Instant::now()), ..UNBOUNDED };
        let scan = db.memory_search(s, &words, 100, 1 << 20, &past).unwrap();
        assert_eq!((scan.scanned_entries, scan.stopped), (0, Some(ScanStop::Deadline)));
        // Enough matches end a search early without an error.
        let scan = db.memory_search(s, &["0123".to_string()], 3, 1 << 20, &by_entries).unwrap();
        assert_eq!((scan.entries.len(), scan.stopped), (3, None));
    }

    #[test]
    fn writes_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let a = t("a");
        {
            let db = Db::open(&path).unwrap();
            db.memory_set(Scope { tenant: &a, user: None }, "k", "v", &QUOTA).unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.memory_get(Scope { tenant: &a, user: None }, "k").unwrap().as_deref(), Some("v"));
    }
}
