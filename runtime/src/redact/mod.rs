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
//!
//! The parts: `engine` (the [`Redactor`]: the automaton, the search and the
//! replacement), `needles` (the pattern set: every encoding of a value that
//! is looked for) and `placeholders` ([`expand_placeholders`]).

mod engine;
mod needles;
mod placeholders;
#[cfg(test)]
mod tests;

pub use engine::{Redacted, Redactor};
pub use placeholders::expand_placeholders;

use std::sync::Arc;

/// A function that returns its input with every secret value the call could
/// reach replaced (used on outputs, log lines and message bodies).
pub type Scrub = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Values shorter than this (in bytes) are matched only in clear.
pub const MIN_ENCODED_BYTES: usize = 4;

/// Bytes of each needle the automaton holds; longer needles are checked
/// whole at each candidate.
pub const PREFIX_BYTES: usize = 32;
