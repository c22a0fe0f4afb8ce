//! The `wasmclaw:skill/log` capability: guest log lines into the operator's
//! log (`tracing`, target `wasmclaw::guest`), tagged with tenant, skill and
//! call by the host, truncated, stripped of control characters, scrubbed of
//! secret values, capped per call, rate-limited per tenant, and captured
//! with the call's outcome.

use crate::bindings::wasmclaw::skill::log as wit;
use crate::ids::TenantId;
use crate::ratelimit::RateLimiter;
use crate::redact::Scrub;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest message kept, in bytes; the rest is cut.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: &'static str,
    /// The sanitized, scrubbed message.
    pub message: String,
}

/// The log capability of one call.
pub struct LogCtx {
    tenant: Arc<str>,
    skill: Arc<str>,
    call: Arc<str>,
    lines_left: u32,
    scrub: Option<Scrub>,
    rate: Option<(Arc<RateLimiter>, TenantId, u32)>,
    /// Lines written through this context.
    pub written: u32,
    /// Lines dropped because the call's or the tenant's limit was reached.
    pub dropped: u32,
    /// The lines written, in order.
    pub lines: Vec<LogLine>,
    debt: super::FuelDebt,
}

impl LogCtx {
    /// A context tagging lines with `tenant` and `skill`, keeping at most
    /// `max_lines` of them.
    pub fn new(tenant: Arc<str>, skill: Arc<str>, max_lines: u32) -> Self {
        LogCtx {
            tenant,
            skill,
            call: Arc::from(""),
            lines_left: max_lines,
            scrub: None,
            rate: None,
            written: 0,
            dropped: 0,
            lines: Vec::new(),
            debt: Default::default(),
        }
    }

    /// Tags lines with the call's id.
    pub fn with_call(mut self, call: Arc<str>) -> Self {
        self.call = call;
        self
    }

    /// Passes every line through `scrub` (secret redaction).
    pub fn with_scrub(mut self, scrub: Option<Scrub>) -> Self {
        self.scrub = scrub;
        self
    }

    /// Charges each line's bytes to `debt`.
    pub fn with_debt(mut self, debt: super::FuelDebt) -> Self {
        self.debt = debt;
        self
    }

    /// Limits the tenant to `per_minute` lines over all its calls.
    pub fn with_rate(mut self, limiter: Arc<RateLimiter>, tenant: TenantId, per_minute: u32) -> Self {
        self.rate = Some((limiter, tenant, per_minute));
        self
    }
}

/// Cuts `message` to [`MAX_MESSAGE_BYTES`] on a character boundary and
/// replaces control characters, so a guest cannot forge log lines.
pub fn sanitize(message: &str) -> String {
    let mut end = message.len().min(MAX_MESSAGE_BYTES);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = message[..end].chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if end < message.len() {
        out.push('…');
    }
    out
}

impl wit::Host for LogCtx {
    fn log(&mut self, level: wit::Level, message: String) {
        // What the host handles of a line: at most MAX_MESSAGE_BYTES of it.
        self.debt.charge_work(message.len().min(MAX_MESSAGE_BYTES) as u64, 1);
        let over_rate = self.rate.as_ref().is_some_and(|(l, t, per_minute)| !l.try_take(t, *per_minute));
        if self.lines_left == 0 || over_rate {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.lines_left -= 1;
        self.written += 1;
        let mut message = sanitize(&message);
        if let Some(scrub) = &self.scrub {
            message = scrub(&message);
        }
        let (tenant, skill, call) = (&*self.tenant, &*self.skill, &*self.call);
        // tracing needs each level as a constant, hence one arm per level.
        macro_rules! emit {
            ($level:expr, $name:literal) => {{
                tracing::event!(target: "wasmclaw::guest", $level, tenant, skill, call, "{message}");
                $name
            }};
        }
        let name = match level {
            wit::Level::Trace => emit!(tracing::Level::TRACE, "trace"),
            wit::Level::Debug => emit!(tracing::Level::DEBUG, "debug"),
            wit::Level::Info => emit!(tracing::Level::INFO, "info"),
            wit::Level::Warn => emit!(tracing::Level::WARN, "warn"),
            wit::Level::Error => emit!(tracing::Level::ERROR, "error"),
        };
        self.lines.push(LogLine { level: name, message });
    }
}

struct HasLog;

impl HasData for HasLog {
    type Data<'a> = &'a mut LogCtx;
}

/// Adds `wasmclaw:skill/log` to `linker`, reaching each call's context
/// through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut LogCtx,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasLog>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::Host;

    #[test]
    fn lines_past_the_limit_are_dropped_and_counted() {
        let mut l = LogCtx::new("a".into(), "s".into(), 2);
        for _ in 0..5 {
            l.log(wit::Level::Info, "hello".into());
        }
        assert_eq!((l.written, l.dropped), (2, 3));
    }

    #[test]
    fn lines_are_captured_scrubbed_and_rate_limited_per_tenant() {
        use crate::clock::ManualClock;
        let clock = ManualClock::new(1000);
        let limiter = Arc::new(RateLimiter::new(Arc::new(clock.clone())));
        let acme = TenantId::parse("acme").unwrap();
        let scrub: Scrub = Arc::new(|s: &str| s.replace("hunter2", "[redacted:PW]"));
        let mut a = LogCtx::new("acme".into(), "s".into(), 100).with_scrub(Some(scrub)).with_rate(
            limiter.clone(),
            acme.clone(),
            3,
        );
        a.log(wit::Level::Warn, "password is hunter2".into());
        assert_eq!(a.lines, vec![LogLine { level: "warn", message: "password is [redacted:PW]".into() }]);
        // The tenant's budget is shared by its calls: a second call of the
        // same tenant gets what is left, another tenant its own.
        let mut a2 = LogCtx::new("acme".into(), "s".into(), 100).with_rate(limiter.clone(), acme, 3);
        for _ in 0..5 {
            a2.log(wit::Level::Info, "x".into());
        }
        assert_eq!((a2.written, a2.dropped), (2, 3));
        let other = TenantId::parse("other").unwrap();
        let mut b = LogCtx::new("other".into(), "s".into(), 100).with_rate(limiter, other, 3);
        b.log(wit::Level::Info, "y".into());
        assert_eq!(b.written, 1);
    }

    #[test]
    fn a_zero_limit_denies_every_line() {
        let mut l = LogCtx::new("a".into(), "s".into(), 0);
        l.log(wit::Level::Error, "x".into());
        assert_eq!((l.written, l.dropped), (0, 1));
    }

    #[test]
    fn messages_are_cut_and_cannot_forge_lines() {
        assert_eq!(sanitize("a\nb\r\x1b[31mc"), "a b  [31mc");
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let s = sanitize(&long);
        assert!(s.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
