//! What the store's reads return, and the bounds every backend applies
//! while it scans a memory scope: shared so both backends answer alike.

use super::StoreError;
use crate::records::LlmUsage;

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

impl MemoryUsage {
    /// The usage after writing `value_len` bytes under a key of `key_len`
    /// bytes that held `old_len` bytes (`None`: a new entry), or
    /// `QuotaExceeded` when that would pass `quota`: the one quota rule
    /// both backends apply, in the transaction of the write.
    pub(crate) fn after_set(
        self,
        key_len: u64,
        old_len: Option<u64>,
        value_len: u64,
        quota: &crate::config::MemoryQuota,
    ) -> Result<MemoryUsage, StoreError> {
        let entry_bytes = key_len + value_len;
        let (entries, bytes) = match old_len {
            Some(old) => (self.entries, self.bytes - (key_len + old).min(self.bytes) + entry_bytes),
            None => (self.entries + 1, self.bytes + entry_bytes),
        };
        if entries > quota.max_entries {
            return Err(StoreError::QuotaExceeded(format!(
                "the tenant holds {} memory entries, the quota is {}",
                self.entries, quota.max_entries
            )));
        }
        if bytes > quota.max_bytes {
            return Err(StoreError::QuotaExceeded(format!(
                "this write would bring the tenant's memory to {bytes} bytes, the quota is {}",
                quota.max_bytes
            )));
        }
        Ok(MemoryUsage { entries, bytes })
    }

    /// The usage after deleting an entry of a `key_len`-byte key holding
    /// `old_len` bytes.
    pub(crate) fn after_delete(self, key_len: u64, old_len: u64) -> MemoryUsage {
        MemoryUsage {
            entries: self.entries.saturating_sub(1),
            bytes: self.bytes.saturating_sub(key_len + old_len),
        }
    }

    /// What the memory rows of a dump add up to (an import rebuilds the
    /// usage from them rather than trusting a stored count).
    pub(crate) fn of_dump(rows: &super::TenantRows) -> Result<MemoryUsage, StoreError> {
        let mut usage = MemoryUsage::default();
        for (k, v) in rows.rows("memory") {
            let (_, key) = super::dump::split_memory_key(&k.0)
                .ok_or_else(|| StoreError::Invalid("a memory key".into()))?;
            usage.entries += 1;
            usage.bytes += (key.len() + v.0.len()) as u64;
        }
        Ok(usage)
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
pub(crate) struct Matcher {
    words: Vec<String>,
    automaton: aho_corasick::AhoCorasick,
    seen: Vec<bool>,
}

impl Matcher {
    pub(crate) fn new(words: &[String]) -> Result<Self, StoreError> {
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

    pub(crate) fn matches(&mut self, key: &str, value: &str) -> bool {
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
pub(crate) struct Budget {
    left: usize,
    bytes_left: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize, max_bytes: usize) -> Self {
        Budget { left: limit, bytes_left: max_bytes }
    }

    /// Adds the entry if it fits; returns whether to keep scanning.
    pub(crate) fn take(&mut self, out: &mut Vec<MemoryEntry>, key: &str, value: &str) -> bool {
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

/// One search over a memory scope, entry by entry in key order: the same
/// bounds, budget and matching on every backend, which only feeds it.
pub(crate) struct Search<'a> {
    out: SearchScan,
    budget: Budget,
    matcher: Matcher,
    bound: &'a ScanBound,
}

impl<'a> Search<'a> {
    /// A search for `words`, returning at most `limit` entries and
    /// `max_bytes` bytes, reading no more than `bound` allows.
    pub(crate) fn new(
        words: &[String],
        limit: usize,
        max_bytes: usize,
        bound: &'a ScanBound,
    ) -> Result<Self, StoreError> {
        Ok(Search {
            out: SearchScan::default(),
            budget: Budget::new(limit, max_bytes),
            matcher: Matcher::new(words)?,
            bound,
        })
    }

    /// Reads the next entry of the scope; returns whether to read on.
    pub(crate) fn visit(&mut self, k: &str, v: &str) -> bool {
        let (out, bound) = (&mut self.out, self.bound);
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
        if self.matcher.matches(k, v) { self.budget.take(&mut out.entries, k, v) } else { true }
    }

    /// What the search found and read.
    pub(crate) fn finish(self) -> SearchScan {
        self.out
    }
}

/// One day's model usage of one (tenant, agent, model).
#[derive(Debug, Clone, PartialEq)]
pub struct LlmUsageRow {
    /// The agent.
    pub agent: String,
    /// The model.
    pub model: String,
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// The usage.
    pub usage: LlmUsage,
}

/// What [`super::Db::replay_first`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The key was new (or its record had expired); it is now recorded.
    First,
    /// The key is recorded and has not expired: a replay.
    Seen,
    /// The tenant holds `cap` live records: nothing was recorded.
    Full,
}

/// The key of a tenant's skill in an hour of its usage series, within the
/// tenant: `hour \0 skill`, the hour's start as 16 decimal digits so that
/// keys sort in time order; without a skill, where the hour starts.
pub(crate) fn usage_hour_key(hour: u64, skill: Option<&str>) -> Vec<u8> {
    let mut k = format!("{hour:016}").into_bytes();
    if let Some(skill) = skill {
        k.push(0);
        k.extend_from_slice(skill.as_bytes());
    }
    k
}

/// A [`usage_hour_key`] read back: the hour and the skill; `None` if it
/// does not read as one.
pub(crate) fn split_usage_hour(key: &[u8]) -> Option<(u64, String)> {
    let sep = key.iter().position(|b| *b == 0)?;
    let hour = std::str::from_utf8(&key[..sep]).ok()?;
    if hour.len() != 16 || !hour.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let skill = std::str::from_utf8(&key[sep + 1..]).ok()?;
    Some((hour.parse().ok()?, skill.to_string()))
}
