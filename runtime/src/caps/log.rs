//! The `wasmclaw:skill/log` capability: guest log lines into the operator's
//! log (`tracing`, target `wasmclaw::guest`), tagged with tenant and skill by
//! the host, truncated, stripped of control characters and counted.

use crate::bindings::wasmclaw::skill::log as wit;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest message kept, in bytes; the rest is cut.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// The log capability of one call.
pub struct LogCtx {
    tenant: Arc<str>,
    skill: Arc<str>,
    lines_left: u32,
    /// Lines written through this context.
    pub written: u32,
    /// Lines dropped because the call's line limit was reached.
    pub dropped: u32,
}

impl LogCtx {
    /// A context tagging lines with `tenant` and `skill`, keeping at most
    /// `max_lines` of them.
    pub fn new(tenant: Arc<str>, skill: Arc<str>, max_lines: u32) -> Self {
        LogCtx { tenant, skill, lines_left: max_lines, written: 0, dropped: 0 }
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
        if self.lines_left == 0 {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.lines_left -= 1;
        self.written += 1;
        let message = sanitize(&message);
        let (tenant, skill) = (&*self.tenant, &*self.skill);
        match level {
            wit::Level::Trace => tracing::trace!(target: "wasmclaw::guest", tenant, skill, "{message}"),
            wit::Level::Debug => tracing::debug!(target: "wasmclaw::guest", tenant, skill, "{message}"),
            wit::Level::Info => tracing::info!(target: "wasmclaw::guest", tenant, skill, "{message}"),
            wit::Level::Warn => tracing::warn!(target: "wasmclaw::guest", tenant, skill, "{message}"),
            wit::Level::Error => tracing::error!(target: "wasmclaw::guest", tenant, skill, "{message}"),
        }
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
