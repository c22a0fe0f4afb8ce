//! The one error type of the runtime: every way a call or a load can fail,
//! each with a clear message and a distinct exit code for the CLI. The
//! storage failure it carries ([`StoreError`]) is defined here too, so this
//! module sits below the store instead of importing it.

use crate::bindings::WitError;
use crate::ids::InvalidId;
use crate::records::UnknownRole;

/// Why a call (or loading a skill) did not produce an output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call consumed all the fuel it was given.
    #[error("out of fuel: the call used all of its {limit} units of fuel")]
    OutOfFuel {
        /// The fuel the call had.
        limit: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("timeout: the call ran longer than {limit_ms} ms")]
    Timeout {
        /// The deadline, in milliseconds.
        limit_ms: u64,
    },
    /// The guest tried to grow memory or tables past its limit.
    #[error("memory limit: the call tried to grow past its limit of {limit_bytes} bytes")]
    MemoryLimit {
        /// The memory limit, in bytes.
        limit_bytes: u64,
    },
    /// The guest trapped (a panic, stack overflow, unreachable, …).
    #[error("trap: {message}{}", stderr_suffix(.stderr))]
    Trap {
        /// What trapped.
        message: String,
        /// The tail of the guest's stderr (its panic message, if any).
        stderr: String,
    },
    /// The call is not permitted.
    #[error("denied: {0}")]
    Denied(String),
    /// The caller's input was refused before the guest ran.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The skill returned its own error.
    #[error("skill error: {}", describe_wit(.0))]
    Skill(WitError),
    /// The tenant is at its concurrency limit, or the gateway at capacity.
    #[error("busy: {0}")]
    Busy(String),
    /// The file is not a usable skill component.
    #[error("invalid skill: {0}")]
    InvalidSkill(String),
    /// The skill's output broke its contract (too large, not JSON).
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file or directory could not be used.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS's reason.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// What the request names does not exist (or belongs to another tenant:
    /// the two are indistinguishable).
    #[error("not found: {0}")]
    NotFound(String),
    /// The request conflicts with what exists (a duplicate id or name).
    #[error("conflict: {0}")]
    Conflict(String),
    /// An upgrade widens the skill's permissions and the caller did not
    /// accept it: a [`Error::Conflict`] that carries every permission
    /// change, for the caller to show and confirm.
    #[error("conflict: {message}")]
    PermissionsWiden {
        /// What the conflict says.
        message: String,
        /// Every change from the installed version (wider and narrower).
        changes: Vec<crate::permissions::PermissionChange>,
    },
    /// No credential, or one that is unknown, revoked, expired or malformed.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The credential is valid but its role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The input is larger than the call's limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The tenant is suspended: its tokens are refused.
    #[error("suspended: tenant {0} is suspended")]
    Suspended(String),
    /// A skill package or installed skill failed a trust check: unsigned
    /// where signatures are required, a bad signature, a publisher key that
    /// is not (or no longer) trusted, or bytes that no longer match the
    /// digests pinned at install.
    #[error("untrusted: {0}")]
    Untrusted(String),
    /// A failure inside the runtime itself (a bug or an engine error).
    #[error("internal error: {0}")]
    Internal(String),
    /// A model provider failed (after retries), or answered nonsense.
    #[error("provider: {0}")]
    Provider(String),
    /// A tenant's quota is used up.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// An agent's turn reached its step limit without an answer.
    #[error("step limit: {0}")]
    StepLimit(String),
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write would exceed the tenant's quota.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The store could not be opened.
    #[error("cannot open the store {store}: {reason}")]
    Open {
        /// The store (a file, or a database URL without its password).
        store: String,
        /// Why.
        reason: String,
    },
    /// The database could not be reached at all when the store was opened
    /// (nothing answers at its address, or nothing in time): a start that
    /// cannot go on, the operator's to fix (exit 1). A server that answers
    /// and refuses (a password, a certificate, a schema) is [`StoreError::Open`].
    #[error("cannot reach the database at {endpoints} ({store}): {reason}")]
    Unreachable {
        /// The database URL without its password.
        store: String,
        /// Its hosts and ports (`host:port`, joined by `,`).
        endpoints: String,
        /// Why.
        reason: String,
    },
    /// The store cannot be reached now (a connection lost, every connection
    /// busy): retrying later may succeed, and nothing was written.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The backend failed.
    #[error("storage failure: {0}")]
    Backend(String),
    /// Rows given to import are not valid (a restore's data).
    #[error("invalid data: {0}")]
    Invalid(String),
    /// A write of this tenant's state was refused because this replica no
    /// longer holds the tenant's lease (another replica took it over):
    /// nothing was written, and the tenant is served elsewhere now.
    #[error("tenant {0} has moved to another replica")]
    TenantMoved(String),
}

fn stderr_suffix(stderr: &str) -> String {
    let s = stderr.trim();
    if s.is_empty() { String::new() } else { format!(" (guest stderr: {s})") }
}

/// Renders a WIT error as `kind: message`.
pub fn describe_wit(e: &WitError) -> String {
    match e {
        WitError::Denied(m) => format!("denied: {m}"),
        WitError::NotFound(m) => format!("not-found: {m}"),
        WitError::Invalid(m) => format!("invalid: {m}"),
        WitError::LimitExceeded(m) => format!("limit-exceeded: {m}"),
        WitError::Unavailable(m) => format!("unavailable: {m}"),
        WitError::Failed(m) => format!("failed: {m}"),
    }
}

impl Error {
    /// A short, stable name of the error kind (for JSON and metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::OutOfFuel { .. } => "out-of-fuel",
            Error::Timeout { .. } => "timeout",
            Error::MemoryLimit { .. } => "memory-limit",
            Error::Trap { .. } => "trap",
            Error::Denied(_) => "denied",
            Error::InvalidInput(_) => "invalid-input",
            Error::Skill(_) => "skill-error",
            Error::Busy(_) => "busy",
            Error::InvalidSkill(_) => "invalid-skill",
            Error::InvalidOutput(_) => "invalid-output",
            Error::Store(_) => "storage",
            Error::Io { .. } => "io",
            Error::Config(_) => "config",
            Error::Internal(_) => "internal",
            Error::NotFound(_) => "not-found",
            Error::Conflict(_) | Error::PermissionsWiden { .. } => "conflict",
            Error::Unauthorized(_) => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::Suspended(_) => "suspended",
            Error::TooLarge(_) => "too-large",
            Error::Untrusted(_) => "untrusted",
            Error::Provider(_) => "provider",
            Error::QuotaExceeded(_) => "quota-exceeded",
            Error::StepLimit(_) => "step-limit",
        }
    }

    /// The `wasmclaw` CLI's exit code for this error (2 is kept for usage
    /// errors, reported by the argument parser).
    pub fn exit_code(&self) -> u8 {
        match self {
            // The wording: a start that cannot reach its database
            // fails as a whole (1), not as a storage error of an operation.
            Error::Internal(_) | Error::Store(StoreError::Unreachable { .. }) => 1,
            Error::InvalidInput(_) => 3,
            Error::InvalidSkill(_) => 4,
            Error::Skill(_) => 5,
            Error::Trap { .. } => 6,
            Error::OutOfFuel { .. } => 7,
            Error::Timeout { .. } => 8,
            Error::MemoryLimit { .. } => 9,
            Error::Denied(_) => 10,
            Error::Busy(_) => 11,
            Error::InvalidOutput(_) => 12,
            Error::Store(_) => 13,
            Error::Io { .. } => 14,
            Error::Config(_) => 15,
            Error::NotFound(_) => 16,
            Error::Conflict(_) | Error::PermissionsWiden { .. } => 17,
            Error::Unauthorized(_) => 18,
            Error::Forbidden(_) => 19,
            Error::Suspended(_) => 20,
            Error::TooLarge(_) => 22,
            Error::Untrusted(_) => 23,
            Error::Provider(_) => 24,
            Error::QuotaExceeded(_) => 25,
            Error::StepLimit(_) => 26,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

impl From<InvalidId> for Error {
    fn from(e: InvalidId) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

impl From<UnknownRole> for Error {
    fn from(e: UnknownRole) -> Self {
        Error::InvalidInput(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_not_usage() {
        let all = [
            Error::OutOfFuel { limit: 1 },
            Error::Timeout { limit_ms: 1 },
            Error::MemoryLimit { limit_bytes: 1 },
            Error::Trap { message: "x".into(), stderr: String::new() },
            Error::Denied("x".into()),
            Error::InvalidInput("x".into()),
            Error::Skill(WitError::Failed("x".into())),
            Error::Busy("x".into()),
            Error::InvalidSkill("x".into()),
            Error::InvalidOutput("x".into()),
            Error::Store(StoreError::Backend("x".into())),
            Error::io("x", std::io::Error::other("x")),
            Error::Config("x".into()),
            Error::Internal("x".into()),
            Error::NotFound("x".into()),
            Error::Conflict("x".into()),
            Error::Unauthorized("x".into()),
            Error::Forbidden("x".into()),
            Error::Suspended("x".into()),
            Error::TooLarge("x".into()),
            Error::Untrusted("x".into()),
            Error::Provider("x".into()),
            Error::QuotaExceeded("x".into()),
            Error::StepLimit("x".into()),
        ];
        let mut codes: Vec<u8> = all.iter().map(Error::exit_code).collect();
        let mut kinds: Vec<&str> = all.iter().map(Error::kind).collect();
        assert!(!codes.contains(&0) && !codes.contains(&2));
        codes.sort();
        codes.dedup();
        kinds.sort();
        kinds.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(kinds.len(), all.len());
        // A refused widening is a conflict, with its changes.
        let widen = Error::PermissionsWiden { message: "x".into(), changes: Vec::new() };
        assert_eq!((widen.exit_code(), widen.kind()), (17, "conflict"));
    }

    #[test]
    fn a_database_unreachable_at_open_exits_1_and_one_that_refuses_exits_13() {
        let unreachable = Error::Store(StoreError::Unreachable {
            store: "postgres://gw:***@db:5432/w".into(),
            endpoints: "db:5432".into(),
            reason: "Connection refused".into(),
        });
        assert_eq!(unreachable.exit_code(), 1);
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the database at db:5432 (postgres://gw:***@db:5432/w): Connection refused"
        );
        let refused =
            StoreError::Open { store: "postgres://gw:***@db:5432/w".into(), reason: "28P01".into() };
        assert_eq!(Error::Store(refused).exit_code(), 13);
        assert_eq!(Error::Store(StoreError::Unavailable("x".into())).exit_code(), 13);
    }

    #[test]
    fn trap_message_includes_guest_stderr() {
        let e = Error::Trap { message: "wasm unreachable".into(), stderr: "panicked at x\n".into() };
        assert_eq!(e.to_string(), "trap: wasm unreachable (guest stderr: panicked at x)");
    }
}
