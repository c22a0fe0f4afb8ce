//! The scrubbing engine: a [`Redactor`] holds the needles of a tenant's
//! secrets (from `needles`) and one Aho-Corasick automaton over their
//! first [`PREFIX_BYTES`] bytes; one pass finds every candidate, each is
//! checked against its whole needle, and the matches are replaced
//! ([`Redactor::redact`]) or reported ([`Redactor::found_except`]).

use super::needles::needles_of;
use super::{PREFIX_BYTES, Scrub};
use crate::vault::SecretValue;
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// One string to look for (an encoding of one secret value), and whose.
struct Entry {
    needle: Zeroizing<Vec<u8>>,
    /// Index into `Redactor::names`.
    name: usize,
}

/// Finds secret values (in clear and encoded) in text and replaces them.
pub struct Redactor {
    names: Vec<String>,
    needles: Vec<Entry>,
    /// Over the distinct prefixes of the needles (none without needles).
    automaton: Option<aho_corasick::AhoCorasick>,
    /// For each pattern of the automaton, the needles starting with it.
    groups: Vec<Vec<usize>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor").field("names", &self.names).finish_non_exhaustive()
    }
}

/// The result of [`Redactor::redact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every occurrence replaced by `[redacted:NAME]`.
    pub text: String,
    /// The names of the secrets found, sorted, without duplicates.
    pub hits: Vec<String>,
}

/// One occurrence of a needle in the text.
struct Match {
    start: usize,
    end: usize,
    name: usize,
    needle: usize,
}

impl Redactor {
    /// A redactor of the given `(name, value)` pairs. Empty values are
    /// ignored.
    pub fn new(secrets: &[(String, SecretValue)]) -> Redactor {
        let mut names = Vec::with_capacity(secrets.len());
        let mut needles = Vec::new();
        for (name, value) in secrets {
            if value.is_empty() {
                continue;
            }
            let index = names.len();
            names.push(name.clone());
            for needle in needles_of(value) {
                needles.push(Entry { needle, name: index });
            }
        }
        let mut prefixes: Vec<&[u8]> = Vec::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut by_prefix: std::collections::HashMap<&[u8], usize> = std::collections::HashMap::new();
        for (i, e) in needles.iter().enumerate() {
            let prefix = &e.needle[..e.needle.len().min(PREFIX_BYTES)];
            let id = *by_prefix.entry(prefix).or_insert_with(|| {
                prefixes.push(prefix);
                groups.push(Vec::new());
                prefixes.len() - 1
            });
            groups[id].push(i);
        }
        let automaton = if prefixes.is_empty() {
            None
        } else {
            // Prefixes are at most PREFIX_BYTES each and a tenant's secrets
            // are capped, so the build cannot fail on size; if it did,
            // finding nothing would leak, so fall back to the plain NFA.
            let built = aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::Standard)
                .build(&prefixes)
                .or_else(|_| {
                    aho_corasick::AhoCorasick::builder()
                        .kind(Some(aho_corasick::AhoCorasickKind::NoncontiguousNFA))
                        .build(&prefixes)
                });
            match built {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::error!(error = %e, "cannot build the redactor's automaton");
                    None
                }
            }
        };
        drop(by_prefix);
        Redactor { names, needles, automaton, groups }
    }

    /// Whether this redactor finds nothing (it has no non-empty value).
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The memory this redactor holds, in bytes: its automaton and its
    /// needles (what the cache of redactors counts against its budget).
    pub fn memory_bytes(&self) -> usize {
        let needles: usize = self.needles.iter().map(|e| e.needle.capacity() + 32).sum();
        let groups: usize = self.groups.iter().map(|g| g.capacity() * 8 + 24).sum();
        let names: usize = self.names.iter().map(|n| n.capacity() + 24).sum();
        self.automaton.as_ref().map_or(0, |a| a.memory_usage()) + needles + groups + names
    }

    /// Every occurrence of every needle in `hay`: for each needle, its
    /// leftmost non-overlapping occurrences.
    fn matches(&self, hay: &[u8]) -> Vec<Match> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        let n = self.needles.len();
        let mut matches = Vec::new();
        let mut next_start = vec![0usize; n];
        // Bytes compared in failed checks, per needle; past the budget the
        // needle is searched on its own, in linear time.
        let budget = 4 * hay.len() + 1024;
        let mut spent = vec![0usize; n];
        let mut alone = vec![false; n];
        for m in automaton.find_overlapping_iter(hay) {
            let start = m.start();
            for &i in &self.groups[m.pattern().as_usize()] {
                if alone[i] || start < next_start[i] {
                    continue;
                }
                let e = &self.needles[i];
                if hay[start..].starts_with(&e.needle) {
                    let end = start + e.needle.len();
                    matches.push(Match { start, end, name: e.name, needle: i });
                    next_start[i] = end;
                } else {
                    spent[i] += e.needle.len();
                    alone[i] = spent[i] > budget;
                }
            }
        }
        if alone.iter().any(|a| *a) {
            matches.retain(|m| !alone[m.needle]);
            for (i, e) in self.needles.iter().enumerate().filter(|(i, _)| alone[*i]) {
                for start in memchr::memmem::find_iter(hay, &e.needle[..]) {
                    matches.push(Match { start, end: start + e.needle.len(), name: e.name, needle: i });
                }
            }
        }
        matches
    }

    /// `text` with every occurrence of a secret replaced by
    /// `[redacted:NAME]`, and the names found. Overlapping occurrences are
    /// replaced as one, named after the longest of them.
    pub fn redact(&self, text: &str) -> Redacted {
        let (out, hits) = self.redact_bytes(text.as_bytes());
        // Only a clear value that is not UTF-8 can cut a character in two.
        let text = match String::from_utf8(out) {
            Ok(t) => t,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Redacted { text, hits }
    }

    /// [`Redactor::redact`] of bytes that need not be text (a response
    /// body): the bytes with every occurrence replaced, and the names found.
    pub fn redact_bytes(&self, hay: &[u8]) -> (Vec<u8>, Vec<String>) {
        let mut matches = self.matches(hay);
        if matches.is_empty() {
            return (hay.to_vec(), Vec::new());
        }

        // By start, the longest first; then merge overlapping matches into
        // regions, each named after its longest match.
        matches.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        struct Region {
            start: usize,
            end: usize,
            name: usize,
            longest: usize,
        }
        let mut regions: Vec<Region> = Vec::new();
        let mut found = vec![false; self.names.len()];
        for m in &matches {
            found[m.name] = true;
            let len = m.end - m.start;
            if let Some(last) = regions.last_mut()
                && m.start < last.end
            {
                last.end = last.end.max(m.end);
                if len > last.longest {
                    last.name = m.name;
                    last.longest = len;
                }
                continue;
            }
            regions.push(Region { start: m.start, end: m.end, name: m.name, longest: len });
        }

        let mut out = Vec::with_capacity(hay.len());
        let mut at = 0;
        for r in &regions {
            out.extend_from_slice(&hay[at..r.start]);
            out.extend_from_slice(b"[redacted:");
            out.extend_from_slice(self.names[r.name].as_bytes());
            out.push(b']');
            at = r.end;
        }
        out.extend_from_slice(&hay[at..]);
        (out, self.names_found(&found))
    }

    fn names_found(&self, found: &[bool]) -> Vec<String> {
        let mut hits: Vec<String> =
            found.iter().zip(&self.names).filter(|(f, _)| **f).map(|(_, n)| n.clone()).collect();
        hits.sort();
        hits.dedup();
        hits
    }

    /// The names of the secrets found in `hay` (in clear or any encoding
    /// this redactor knows) for which `allowed` is false, sorted. An
    /// occurrence lying wholly inside an occurrence of an allowed secret is
    /// part of that secret's value and is not counted.
    pub fn found_except(&self, hay: &[u8], allowed: &dyn Fn(&str) -> bool) -> Vec<String> {
        let matches = self.matches(hay);
        if matches.is_empty() {
            return Vec::new();
        }
        let ok: Vec<bool> = self.names.iter().map(|n| allowed(n)).collect();
        // Allowed occurrences by start, with the furthest end reached so far.
        let mut cover: Vec<(usize, usize)> =
            matches.iter().filter(|m| ok[m.name]).map(|m| (m.start, m.end)).collect();
        cover.sort_unstable();
        let mut furthest = 0;
        for c in &mut cover {
            furthest = furthest.max(c.1);
            c.1 = furthest;
        }
        let mut found = vec![false; self.names.len()];
        for m in matches.iter().filter(|m| !ok[m.name]) {
            let before = cover.partition_point(|c| c.0 <= m.start);
            let covered = before > 0 && cover[before - 1].1 >= m.end;
            if !covered {
                found[m.name] = true;
            }
        }
        self.names_found(&found)
    }

    /// This redactor as a [`Scrub`] function.
    pub fn scrub(self: Arc<Self>) -> Scrub {
        Arc::new(move |text: &str| if self.is_empty() { text.to_string() } else { self.redact(text).text })
    }
}
