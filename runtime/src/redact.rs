//! The leak scanner, and the placeholder expansion that puts secrets into
//! requests.
//!
//! A skill never receives a secret value, but a request it made can echo one
//! back (an API reflecting its key, a signed URL, a debug endpoint), and the
//! skill could pass that on in its output, a log line or a message. Before
//! text leaves a call, a [`Redactor`] built from the secrets the call could
//! reach replaces every occurrence of each value with `[redacted:NAME]`:
//!
//! - in clear;
//! - in base64, standard and URL-safe alphabets, with and without padding,
//!   and also inside a longer base64 string at each of the three byte
//!   alignments (only the characters fully determined by the secret's bytes
//!   are matched, so the bytes around it do not matter);
//! - in hex, lower and upper case;
//! - percent-encoded (URL-encoding) with the common reserved sets (RFC 3986
//!   unreserved characters, HTML form encoding, JavaScript's
//!   `encodeURIComponent`, everything but letters and digits), space as
//!   `%20` or `+`, upper- and lower-case hex digits;
//! - JSON-string escaped (a value with `"` or `\` inside JSON output).
//!
//! Values shorter than [`MIN_ENCODED_BYTES`] are matched only in clear: their
//! encodings are so short that random text would match them. Encodings that
//! are not listed (mixed-case hex, line-wrapped base64, encryption, a value
//! split in pieces) are not caught: redaction is a safety net, the grant is
//! the control.
//!
//! The needles are computed once, in [`Redactor::new`], and held in buffers
//! wiped on drop. One Aho-Corasick automaton holds the first
//! [`PREFIX_BYTES`] bytes of every needle, so its size does not grow with
//! the secrets' lengths; [`Redactor::redact`] makes one pass of it over the
//! text and checks each candidate against its whole needle, keeping for
//! each needle its leftmost non-overlapping occurrences (what a substring
//! search per needle finds). A needle whose candidates fail too often (a
//! periodic value in periodic text) is searched on its own instead, so the
//! work stays linear in the text for each needle. [`Redactor::found_except`] is the same search used as a check:
//! which secrets a request carries that its destination may not receive.

use crate::bindings::WitError;
use crate::manifest::valid_secret_name;
use crate::vault::SecretValue;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use std::fmt;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A function that returns its input with every secret value the call could
/// reach replaced (used on outputs, log lines and message bodies).
pub type Scrub = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Values shorter than this (in bytes) are matched only in clear.
pub const MIN_ENCODED_BYTES: usize = 4;

/// Bytes of each needle the automaton holds; longer needles are checked
/// whole at each candidate.
pub const PREFIX_BYTES: usize = 32;

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

/// Whether `b` is left as is by a percent-encoding set: letters and digits
/// plus `keep`.
fn kept(b: u8, keep: &[u8]) -> bool {
    b.is_ascii_alphanumeric() || keep.contains(&b)
}

/// `value` percent-encoded: bytes other than letters, digits and `keep` as
/// `%XX`, space as `+` when `plus`.
fn percent(value: &[u8], keep: &[u8], plus: bool, upper: bool) -> Zeroizing<String> {
    let digits = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    let mut out = Zeroizing::new(String::with_capacity(value.len() * 3));
    for &b in value {
        if kept(b, keep) {
            out.push(char::from(b));
        } else if plus && b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(digits[usize::from(b >> 4)]));
            out.push(char::from(digits[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Every string to look for to find `value` (not empty), duplicates removed.
fn needles_of(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut texts: Vec<Zeroizing<String>> = Vec::new();
    let clear = std::str::from_utf8(value).ok();
    let mut needles = vec![Zeroizing::new(value.to_vec())];
    if value.len() < MIN_ENCODED_BYTES {
        return needles;
    }

    // Base64, whole.
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        texts.push(Zeroizing::new(engine.encode(value)));
    }
    // Base64 inside a longer string: after `lead` bytes, the secret covers
    // bits [8·lead, 8·(lead + n)); character j covers bits [6j, 6j + 6).
    // Keep the characters entirely within the secret's bits.
    for lead in 0..3usize {
        let mut shifted = Zeroizing::new(vec![0u8; lead]);
        shifted.extend_from_slice(value);
        let first = (8 * lead).div_ceil(6);
        let end = 8 * (lead + value.len()) / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = Zeroizing::new(engine.encode(&shifted[..]));
            if let Some(inner) = encoded.get(first..end) {
                texts.push(Zeroizing::new(inner.to_string()));
            }
        }
    }
    // Hex.
    texts.push(Zeroizing::new(hex::encode(value)));
    texts.push(Zeroizing::new(hex::encode_upper(value)));
    // Percent-encoding: RFC 3986 unreserved, HTML forms (WHATWG, as the
    // `url` crate and browsers encode queries), `encodeURIComponent`, and
    // letters and digits only.
    for keep in [&b"-._~"[..], b"*-._", b"-_.!~*'()", b""] {
        for plus in [false, true] {
            for upper in [true, false] {
                texts.push(percent(value, keep, plus, upper));
            }
        }
    }
    // JSON string escaping (without the quotes).
    if let Some(s) = clear
        && let Ok(json) = serde_json::to_string(s).map(Zeroizing::new)
        && let Some(inner) = json.get(1..json.len().saturating_sub(1))
    {
        texts.push(Zeroizing::new(inner.to_string()));
    }

    for t in texts {
        if t.is_empty() {
            continue;
        }
        if !needles.iter().any(|n| n[..] == *t.as_bytes()) {
            needles.push(Zeroizing::new(t.as_bytes().to_vec()));
        }
    }
    needles
}

const PLACEHOLDER_OPEN: &str = "{{secret:";
const PLACEHOLDER_CLOSE: &str = "}}";

/// `input` with every `{{secret:NAME}}` replaced by `resolve(NAME)`.
///
/// The first error of `resolve` is returned as is. A placeholder that is not
/// closed by `}}`, or whose name is not a valid secret name, is
/// `WitError::Invalid`. Values are not scanned again: a value containing
/// `{{secret:…}}` is inserted literally. Text without placeholders is
/// returned unchanged.
pub fn expand_placeholders(
    input: &str,
    resolve: &mut dyn FnMut(&str) -> Result<String, WitError>,
) -> Result<String, WitError> {
    if !input.contains(PLACEHOLDER_OPEN) {
        return Ok(input.to_string());
    }
    // Wiped if an error stops the expansion half-way.
    let mut out = Zeroizing::new(String::with_capacity(input.len() + 64));
    let mut rest = input;
    while let Some(i) = rest.find(PLACEHOLDER_OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + PLACEHOLDER_OPEN.len()..];
        let Some(j) = after.find(PLACEHOLDER_CLOSE) else {
            return Err(WitError::Invalid("a {{secret:NAME}} placeholder is not closed with }}".into()));
        };
        let name = &after[..j];
        if !valid_secret_name(name) {
            let shown: String = name.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect();
            return Err(WitError::Invalid(format!(
                "{shown:?} in a {{{{secret:NAME}}}} placeholder is not a secret name \
                 (A-Z, 0-9 and _, starting with a letter)"
            )));
        }
        let value = Zeroizing::new(resolve(name)?);
        out.push_str(&value);
        rest = &after[j + PLACEHOLDER_CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(std::mem::take(&mut *out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(pairs: &[(&str, &[u8])]) -> Redactor {
        let pairs: Vec<(String, SecretValue)> =
            pairs.iter().map(|(n, v)| (n.to_string(), Zeroizing::new(v.to_vec()))).collect();
        Redactor::new(&pairs)
    }

    /// Checks that `encoded` inside text is redacted as `name`, and nothing
    /// else is touched.
    fn assert_redacted(r: &Redactor, encoded: &str, name: &str) {
        let text = format!("before {encoded} after");
        let got = r.redact(&text);
        assert_eq!(got.text, format!("before [redacted:{name}] after"), "encoding {encoded:?}");
        assert_eq!(got.hits, vec![name.to_string()]);
    }

    // Contains `>>>` and `???`, which base64-encode to `+` and `/`, a space,
    // reserved URL characters and a non-ASCII character.
    const VALUE: &str = "s3cr>>>et??? k=v&x/é~";

    #[test]
    fn clear_and_base64_are_redacted() {
        let r = redactor(&[("API_KEY", VALUE.as_bytes())]);
        assert_redacted(&r, VALUE, "API_KEY");
        let std_pad = STANDARD.encode(VALUE);
        let url_pad = URL_SAFE.encode(VALUE);
        assert_ne!(std_pad, url_pad, "the value must exercise both alphabets");
        assert!(std_pad.ends_with('='), "the value must exercise padding");
        for e in [std_pad, url_pad, STANDARD_NO_PAD.encode(VALUE), URL_SAFE_NO_PAD.encode(VALUE)] {
            assert_redacted(&r, &e, "API_KEY");
        }
    }

    #[test]
    fn base64_inside_a_longer_string_is_redacted_at_every_alignment() {
        let r = redactor(&[("TOKEN", VALUE.as_bytes())]);
        for lead in 0..6 {
            for trail in 0..4 {
                let mut data = b"Xy!zq\x01".to_vec()[..lead].to_vec();
                data.extend_from_slice(VALUE.as_bytes());
                data.extend_from_slice(&b"\x02tail"[..trail]);
                for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                    let encoded = engine.encode(&data);
                    let got = r.redact(&format!("blob={encoded};"));
                    assert_eq!(got.hits, vec!["TOKEN".to_string()], "lead {lead} trail {trail}: {encoded}");
                    assert!(got.text.contains("[redacted:TOKEN]"));
                    // At most 2 characters of context on either side remain.
                    let kept = got.text.len() - "blob=;".len() - "[redacted:TOKEN]".len();
                    assert!(
                        kept <= (lead * 4).div_ceil(3) + 2 + (trail * 4).div_ceil(3) + 2 + 2,
                        "{}",
                        got.text
                    );
                }
            }
        }
    }

    #[test]
    fn hex_is_redacted_in_both_cases() {
        let r = redactor(&[("K", VALUE.as_bytes())]);
        assert_redacted(&r, &hex::encode(VALUE), "K");
        assert_redacted(&r, &hex::encode_upper(VALUE), "K");
        // A binary value, which cannot appear in text in clear.
        let binary = [0xff, 0x00, 0x10, 0x80, 0x7f, 0xfe];
        let r = redactor(&[("BIN", &binary)]);
        assert_redacted(&r, &hex::encode(binary), "BIN");
        assert_redacted(&r, &STANDARD.encode(binary), "BIN");
    }

    #[test]
    fn percent_encoding_is_redacted() {
        let r = redactor(&[("K", VALUE.as_bytes())]);
        // RFC 3986: every byte but the unreserved ones.
        let rfc = "s3cr%3E%3E%3Eet%3F%3F%3F%20k%3Dv%26x%2F%C3%A9~";
        assert_redacted(&r, rfc, "K");
        assert_redacted(&r, &rfc.replace("%20", "+"), "K");
        assert_redacted(&r, "s3cr%3e%3e%3eet%3f%3f%3f%20k%3dv%26x%2f%c3%a9~", "K");
        assert_redacted(&r, "s3cr%3e%3e%3eet%3f%3f%3f+k%3dv%26x%2f%c3%a9~", "K");
        // As the `url` crate encodes a query (HTML forms): `~` encoded too.
        let form: String = url::form_urlencoded::byte_serialize(VALUE.as_bytes()).collect();
        assert_eq!(form, "s3cr%3E%3E%3Eet%3F%3F%3F+k%3Dv%26x%2F%C3%A9%7E");
        assert_redacted(&r, &form, "K");
        assert_redacted(&r, &form.to_lowercase(), "K");
        // The `percent-encoding` crate's NON_ALPHANUMERIC set.
        let all: String =
            percent_encoding::percent_encode(VALUE.as_bytes(), percent_encoding::NON_ALPHANUMERIC).collect();
        assert_redacted(&r, &all, "K");
    }

    #[test]
    fn json_escaped_value_is_redacted() {
        let value = "pa\"ss\\word\n1";
        let r = redactor(&[("K", value.as_bytes())]);
        let json = serde_json::json!({ "out": value }).to_string();
        let got = r.redact(&json);
        assert_eq!(got.text, r#"{"out":"[redacted:K]"}"#);
        assert_eq!(got.hits, vec!["K".to_string()]);
    }

    #[test]
    fn text_without_secrets_is_unchanged() {
        let r = redactor(&[("K", VALUE.as_bytes()), ("L", b"another-one")]);
        let text = "nothing to see here: s3cr>> et?? 736563 c2Vj, ünïcødé";
        let got = r.redact(text);
        assert_eq!(got.text, text);
        assert!(got.hits.is_empty());
    }

    #[test]
    fn an_empty_redactor_is_a_no_op() {
        let r = redactor(&[]);
        assert!(r.is_empty());
        let got = r.redact("anything {{secret:X}}");
        assert_eq!(got, Redacted { text: "anything {{secret:X}}".into(), hits: vec![] });
        // Empty values are ignored (they would match everywhere).
        let r = Arc::new(redactor(&[("EMPTY", b"")]));
        assert!(r.is_empty());
        assert_eq!(r.scrub()("abc"), "abc");
    }

    #[test]
    fn short_values_are_matched_only_in_clear() {
        let r = redactor(&[("PIN", b"abc")]);
        let got = r.redact("pin abc, hex 616263, b64 YWJj");
        assert_eq!(got.text, "pin [redacted:PIN], hex 616263, b64 YWJj");
        assert_eq!(got.hits, vec!["PIN".to_string()]);
        let r = redactor(&[("PIN", b"abcd")]);
        assert_eq!(r.redact("61626364").text, "[redacted:PIN]");
    }

    #[test]
    fn every_occurrence_and_every_secret_is_replaced() {
        let r = redactor(&[("B", b"bbbbbbbb"), ("A", b"alpha-value")]);
        let text = format!("alpha-value x bbbbbbbb y alpha-value {}", hex::encode("bbbbbbbb"));
        let got = r.redact(&text);
        assert_eq!(got.text, "[redacted:A] x [redacted:B] y [redacted:A] [redacted:B]");
        assert_eq!(got.hits, vec!["A".to_string(), "B".to_string()]);
    }

    #[test]
    fn longest_match_wins_and_overlaps_leave_nothing() {
        // One value contains the other: the longer names the region.
        let r = redactor(&[("SHORT", b"hunter22"), ("LONG", b"xx-hunter22-xx")]);
        let got = r.redact("a xx-hunter22-xx b hunter22 c");
        assert_eq!(got.text, "a [redacted:LONG] b [redacted:SHORT] c");
        assert_eq!(got.hits, vec!["LONG".to_string(), "SHORT".to_string()]);
        // Partly overlapping values: no piece of either is left.
        let r = redactor(&[("A", b"abcdef12"), ("B", b"ef12345678")]);
        let got = r.redact("<abcdef12345678>");
        assert_eq!(got.text, "<[redacted:B]>");
        assert_eq!(got.hits, vec!["A".to_string(), "B".to_string()]);
    }

    #[test]
    fn scrub_redacts() {
        let s = Arc::new(redactor(&[("K", b"top-secret")])).scrub();
        assert_eq!(s("key=top-secret"), "key=[redacted:K]");
        assert_eq!(s(&format!("key={}", STANDARD.encode("top-secret"))), "key=[redacted:K]");
    }

    #[test]
    fn debug_shows_names_not_values() {
        let r = redactor(&[("K", b"top-secret")]);
        let shown = format!("{r:?}");
        assert!(shown.contains('K') && !shown.contains("top-secret"), "{shown}");
    }

    fn resolver(name: &str) -> Result<String, WitError> {
        match name {
            "API_KEY" => Ok("k-123".into()),
            "LOOP" => Ok("{{secret:API_KEY}}".into()),
            "DENIED" => Err(WitError::Denied("not for this origin".into())),
            _ => Err(WitError::NotFound(format!("{name} is not set"))),
        }
    }

    fn expand(input: &str) -> Result<String, WitError> {
        expand_placeholders(input, &mut resolver)
    }

    #[test]
    fn placeholders_are_expanded() {
        assert_eq!(expand("Bearer {{secret:API_KEY}}").unwrap(), "Bearer k-123");
        assert_eq!(expand("{{secret:API_KEY}}{{secret:API_KEY}}").unwrap(), "k-123k-123");
        assert_eq!(expand("a={{secret:API_KEY}}&b=2").unwrap(), "a=k-123&b=2");
        // A value is not expanded again.
        assert_eq!(expand("{{secret:LOOP}}").unwrap(), "{{secret:API_KEY}}");
        // Unicode around placeholders.
        assert_eq!(expand("é{{secret:API_KEY}}ü").unwrap(), "ék-123ü");
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        for t in ["", "plain", "{{not:a-placeholder}}", "{{secret}}", "{{SECRET:API_KEY}}", "{ {secret:X}}"] {
            let mut called = false;
            let got = expand_placeholders(t, &mut |_| {
                called = true;
                Ok(String::new())
            });
            assert_eq!(got.unwrap(), t);
            assert!(!called);
        }
    }

    #[test]
    fn malformed_placeholders_are_invalid() {
        for t in [
            "{{secret:API_KEY",
            "x {{secret:API_KEY} y",
            "{{secret:}}",
            "{{secret:lower}}",
            "{{secret:A-B}}",
            "{{secret: API_KEY}}",
            "{{secret:{{secret:API_KEY}}",
            "{{secret:API_KEY}} {{secret:",
        ] {
            assert!(matches!(expand(t), Err(WitError::Invalid(_))), "{t:?}");
        }
    }

    #[test]
    fn resolve_errors_are_returned_as_is() {
        assert!(
            matches!(expand("{{secret:DENIED}}"), Err(WitError::Denied(m)) if m == "not for this origin")
        );
        assert!(matches!(expand("ok {{secret:MISSING}}"), Err(WitError::NotFound(_))));
    }
}
