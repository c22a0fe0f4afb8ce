//! Refused requests in the audit log, bounded and filed where they belong.
//!
//! A refusal costs its sender nothing, so a flood of them must not cost the
//! gateway an fsynced line each, nor push a tenant's real events out of its
//! audit view. Two rules:
//! - A refusal of an unauthenticated request (a bad bearer, a bad channel
//!   signature or secret token) is filed under no tenant: the tenant it
//!   names is the sender's claim, not a fact. It goes to the anonymous
//!   stream (`tenant: null`, actor `anonymous`), the target naming what
//!   was claimed.
//! - Each stream (the anonymous one, and each tenant's authenticated
//!   refusals: a role denied, a cross-tenant path, a suspended tenant, a
//!   message over quota) logs at most [`PER_WINDOW`] refusals per
//!   [`WINDOW_SECS`]; the rest are counted and written as one summary line
//!   (`audit.suppressed`, outcome `"N more refused"`) once the window is
//!   over — with the stream's next refusal, or at the next
//!   [`crate::runtime::Runtime::flush_refusals`] (the server runs it periodically).
//!
//! Events that are not refusals are never throttled. The services write
//! refusals through [`crate::services::recorder::Recorder::refusal`].

use crate::ids::TenantId;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;

/// Refusals logged per stream per window.
pub const PER_WINDOW: u32 = 20;
/// The window, seconds.
pub const WINDOW_SECS: u64 = 60;

#[derive(Debug, Clone, Copy)]
struct Window {
    start: u64,
    logged: u32,
    suppressed: u64,
}

/// The per-stream windows (`None`: the anonymous stream). Streams are the
/// tenants that had an authenticated refusal in the last window, so the
/// map is bounded by the tenants that exist; ended windows are dropped.
#[derive(Default)]
pub(crate) struct RefusalThrottle {
    streams: Mutex<HashMap<Option<TenantId>, Window>>,
}

impl RefusalThrottle {
    /// Admits one refusal of `stream` at `now`: the count suppressed in the
    /// stream's previous window if that window just ended with some, and
    /// whether to log this one.
    pub(crate) fn admit(&self, stream: Option<&TenantId>, now: u64) -> (Option<u64>, bool) {
        let mut streams = lock(&self.streams);
        let w = streams.entry(stream.cloned()).or_insert(Window { start: now, logged: 0, suppressed: 0 });
        let mut summary = None;
        if now >= w.start.saturating_add(WINDOW_SECS) {
            summary = (w.suppressed > 0).then_some(w.suppressed);
            *w = Window { start: now, logged: 0, suppressed: 0 };
        }
        if w.logged < PER_WINDOW {
            w.logged += 1;
            (summary, true)
        } else {
            w.suppressed += 1;
            (summary, false)
        }
    }

    /// Removes every window ended at `now`; the streams whose window
    /// suppressed refusals, with the count.
    pub(crate) fn take_ended(&self, now: u64) -> Vec<(Option<TenantId>, u64)> {
        let mut streams = lock(&self.streams);
        let mut out = Vec::new();
        streams.retain(|stream, w| {
            if now < w.start.saturating_add(WINDOW_SECS) {
                return true;
            }
            if w.suppressed > 0 {
                out.push((stream.clone(), w.suppressed));
            }
            false
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn each_stream_logs_its_first_refusals_then_counts_and_summarises() {
        let th = RefusalThrottle::default();
        let logged = (0..100).filter(|_| th.admit(None, 10).1).count();
        assert_eq!(logged, PER_WINDOW as usize);
        // Another stream has its own window, untouched by the flood.
        assert_eq!(th.admit(Some(&t("acme")), 10), (None, true));
        // The next window: the summary of the last, and logging again.
        assert_eq!(th.admit(None, 10 + WINDOW_SECS), (Some(100 - u64::from(PER_WINDOW)), true));
        assert_eq!(th.admit(Some(&t("acme")), 10 + WINDOW_SECS), (None, true), "nothing to summarise");
    }

    #[test]
    fn ended_windows_are_taken_with_their_counts() {
        let th = RefusalThrottle::default();
        for _ in 0..25 {
            th.admit(Some(&t("acme")), 0);
            th.admit(None, 0);
        }
        th.admit(Some(&t("quiet")), 0);
        assert!(th.take_ended(WINDOW_SECS - 1).is_empty(), "not over yet");
        let mut ended = th.take_ended(WINDOW_SECS);
        ended.sort();
        assert_eq!(ended, vec![(None, 5), (Some(t("acme")), 5)]);
        assert!(th.streams.lock().unwrap().is_empty(), "ended windows are dropped");
    }
}
