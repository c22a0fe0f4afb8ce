//! One invocation of a bound skill: what it returns ([`Outcome`], [`Usage`]),
//! the checks of what enters and leaves it, the scrubbing of what leaves,
//! and its `Store` ([`store`]). The steps themselves are
//! [`crate::Runtime::invoke`]'s (`runtime/calls.rs`):
//!
//! Check the input → take one of the tenant's concurrency slots (bounded
//! wait, then `busy`) → a fresh `Store` holding a flat [`HostState`] built
//! by [`HostState::for_call`] from the binding's grant (the tenant's
//! directory, memory scope, granted origins, secrets, contacts and
//! schedule) → instantiate from the skill's `InstancePre` in the call's
//! store → `invoke` → scrub every secret value of the tenant
//! from what leaves the call (output, stdout, log lines, messages, error
//! texts) → [`Outcome`] or [`Error`]. Nothing of the instance survives the
//! call.

use crate::bindings::WitError;
use crate::caps::log::LogLine;
use crate::config::Limits;
use crate::error::Error;
use crate::redact::Redactor;
use std::sync::Arc;

mod store;

pub(crate) use store::{classify, new_store};

/// What a call measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall-clock time of instantiation and the call.
    pub wall_us: u64,
    /// Most linear memory held at once, in bytes.
    pub memory_peak_bytes: u64,
    /// Log lines written.
    pub log_lines: u32,
    /// Log lines dropped past the limits.
    pub log_dropped: u32,
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The skill's output, JSON text (scrubbed of secret values).
    pub output: String,
    /// What the call measured.
    pub usage: Usage,
    /// What the guest wrote on stdout (bounded, scrubbed).
    pub stdout: String,
    /// The guest's log lines (bounded, scrubbed).
    pub logs: Vec<LogLine>,
    /// Names of the secrets whose values were found and redacted in what
    /// left the call (the event is audited).
    pub redacted: Vec<String>,
}

/// Scrubs the text of a skill's own error.
pub(crate) fn scrub_wit(
    e: WitError,
    clean: &dyn Fn(&str) -> (String, Vec<String>),
) -> (WitError, Vec<String>) {
    let mut hits = Vec::new();
    let e = e.map_message(|text| {
        let (text, found) = clean(&text);
        hits = found;
        text
    });
    (e, hits)
}

/// Texts longer than this are scrubbed on the blocking pool, not on the
/// async worker that other tenants' calls share.
const SCRUB_INLINE_BYTES: usize = 64 * 1024;

/// `text` scrubbed by `redactor`, and the names found; a large text on the
/// blocking pool.
pub(crate) async fn clean_off_worker(
    redactor: &Option<Arc<Redactor>>,
    text: String,
) -> Result<(String, Vec<String>), Error> {
    let Some(r) = redactor else {
        return Ok((text, Vec::new()));
    };
    if text.len() <= SCRUB_INLINE_BYTES {
        let red = r.redact(&text);
        return Ok((red.text, red.hits));
    }
    let r = r.clone();
    let red = tokio::task::spawn_blocking(move || r.redact(&text))
        .await
        .map_err(|e| Error::Internal(format!("scrubbing the output failed: {e}")))?;
    Ok((red.text, red.hits))
}

/// Scrubs the texts of a trap: its message (a host error's root cause can
/// carry text the guest chose) and the guest's stderr.
pub(crate) fn scrub_trap(e: Error, clean: &dyn Fn(&str) -> (String, Vec<String>)) -> (Error, Vec<String>) {
    match e {
        Error::Trap { message, stderr } => {
            let (message, mut hits) = clean(&message);
            let (stderr, more) = clean(&stderr);
            hits.extend(more);
            hits.sort();
            hits.dedup();
            (Error::Trap { message, stderr }, hits)
        }
        other => (other, Vec::new()),
    }
}

/// Refuses an input that is too large or not JSON before any guest runs.
pub(crate) fn check_input(input: &str, limits: &Limits) -> Result<(), Error> {
    if input.len() as u64 > limits.max_input_bytes {
        return Err(Error::TooLarge(format!(
            "the input is {} bytes, the most is {}",
            input.len(),
            limits.max_input_bytes
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(input)
        .map_err(|e| Error::InvalidInput(format!("the input is not JSON: {e}")))?;
    Ok(())
}

/// Refuses an output that is too large or not JSON.
pub(crate) fn check_output(output: &str, limits: &Limits) -> Result<(), Error> {
    if output.len() as u64 > limits.max_output_bytes {
        return Err(Error::InvalidOutput(format!(
            "the skill returned {} bytes, the most is {}",
            output.len(),
            limits.max_output_bytes
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(output)
        .map_err(|e| Error::InvalidOutput(format!("the skill's output is not JSON: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_checked_before_the_guest() {
        let l = Limits { max_input_bytes: 10, ..Limits::default() };
        assert!(check_input("{}", &l).is_ok());
        assert!(matches!(check_input("{", &l), Err(Error::InvalidInput(m)) if m.contains("not JSON")));
        assert!(matches!(check_input("[1,2,3,4,5,6]", &l), Err(Error::TooLarge(m)) if m.contains("bytes")));
        // The check is iterative: deep nesting cannot overflow the host's
        // stack (the guest's own parser bounds the depth it accepts).
        let deep = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
        let big = Limits::default();
        assert!(check_input(&deep, &big).is_ok());
        assert!(check_input(&deep[..deep.len() - 1], &big).is_err());
    }

    #[test]
    fn output_is_checked() {
        let l = Limits { max_output_bytes: 4, ..Limits::default() };
        assert!(check_output("[1]", &l).is_ok());
        assert!(matches!(check_output("nope", &l), Err(Error::InvalidOutput(_))));
        assert!(matches!(check_output("[1,2,3]", &l), Err(Error::InvalidOutput(_))));
    }

    #[test]
    fn a_trap_message_and_its_stderr_are_scrubbed() {
        let clean = |t: &str| (t.replace("s3cret", "[redacted:K]"), vec!["K".to_string()]);
        let trap = Error::Trap { message: "host error: s3cret".into(), stderr: "said s3cret".into() };
        let (e, hits) = scrub_trap(trap, &clean);
        assert!(
            matches!(&e, Error::Trap { message, stderr }
                if message == "host error: [redacted:K]" && stderr == "said [redacted:K]"),
            "{e:?}"
        );
        assert_eq!(hits, vec!["K".to_string()]);
    }

    #[test]
    fn a_skill_error_text_is_scrubbed() {
        let clean = |t: &str| (t.replace("s3cret", "[redacted:K]"), vec!["K".to_string()]);
        let (e, hits) = scrub_wit(WitError::Failed("leak s3cret".into()), &clean);
        assert!(matches!(e, WitError::Failed(m) if m == "leak [redacted:K]"));
        assert_eq!(hits, vec!["K".to_string()]);
    }
}
