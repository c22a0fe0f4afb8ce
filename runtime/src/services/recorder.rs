//! The audit trail as the services write it: an event on the runtime's
//! clock, and refusals throttled per stream ([`crate::refusals`]). A clone
//! shares the log and the throttle.

use crate::audit::{AuditLog, Event};
use crate::clock::SharedClock;
use crate::ids::TenantId;
use crate::refusals::RefusalThrottle;
use std::sync::Arc;

/// Writes audit events; cheap to clone.
#[derive(Clone)]
pub(crate) struct Recorder {
    log: Arc<AuditLog>,
    clock: SharedClock,
    refusals: Arc<RefusalThrottle>,
}

impl Recorder {
    pub(crate) fn new(log: AuditLog, clock: SharedClock) -> Self {
        Recorder { log: Arc::new(log), clock, refusals: Default::default() }
    }

    /// The log written to.
    pub(crate) fn log(&self) -> &AuditLog {
        &self.log
    }

    /// Appends an event (see [`crate::runtime::Runtime::record`]); a
    /// failure to write is logged, never hidden.
    pub(crate) fn record(
        &self,
        actor: &str,
        tenant: Option<&TenantId>,
        action: &str,
        target: &str,
        outcome: &str,
    ) {
        let event = Event {
            time: self.clock.now(),
            actor: actor.to_string(),
            tenant: tenant.map(|t| t.to_string()),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
        };
        if let Err(e) = self.log.record(&event) {
            tracing::error!(error = %e, ?event, "cannot write the audit log");
        }
    }

    /// Audits a refused request, rate-limited per stream (see
    /// [`crate::refusals`]). `tenant` is the *authenticated* tenant, or
    /// `None` for an unauthenticated request whatever tenant it named.
    pub(crate) fn refusal(
        &self,
        actor: &str,
        tenant: Option<&TenantId>,
        action: &str,
        target: &str,
        outcome: &str,
    ) {
        let (summary, log) = self.refusals.admit(tenant, self.clock.now());
        if let Some(n) = summary {
            self.suppressed(tenant, n);
        }
        if log {
            self.record(actor, tenant, action, target, outcome);
        }
    }

    /// Writes the summary line of every stream whose window has ended with
    /// refusals suppressed.
    pub(crate) fn flush_refusals(&self) {
        for (stream, n) in self.refusals.take_ended(self.clock.now()) {
            self.suppressed(stream.as_ref(), n);
        }
    }

    fn suppressed(&self, tenant: Option<&TenantId>, n: u64) {
        let actor = if tenant.is_some() { "audit" } else { "anonymous" };
        self.record(actor, tenant, "audit.suppressed", "refusals", &format!("{n} more refused"));
    }
}
