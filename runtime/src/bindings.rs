//! Host-side bindings generated from the WIT package in `wit/`.
//!
//! Imports (host capabilities) run on the call's fiber. Those that reach
//! the store (`memory`, `cron`, `messaging`) or the network (`http.send`)
//! are async: a store operation goes through [`crate::store::Db::run`],
//! in place on redb and on a bounded blocking pool on PostgreSQL, so a
//! database round trip never holds an async worker; `memory.list` and
//! `memory.search` also read on a blocking thread, in a long-call turn
//! when the scope is large. `log`, `secrets.names` and
//! `messaging.contacts` (which read only the call's grant) stay synchronous. Exports (`describe`,
//! `invoke`) are called asynchronously so a long call yields to other calls
//! at every epoch tick.

// The generated items mirror the WIT package, whose comments are their docs.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "skill",
    imports: {
        "wasmclaw:skill/http.send": async,
        "wasmclaw:skill/memory.get": async,
        "wasmclaw:skill/memory.set": async,
        "wasmclaw:skill/memory.delete": async,
        "wasmclaw:skill/memory.list": async,
        "wasmclaw:skill/memory.search": async,
        "wasmclaw:skill/cron.add": async,
        "wasmclaw:skill/cron.list": async,
        "wasmclaw:skill/cron.remove": async,
        "wasmclaw:skill/messaging.send": async,
        "wasmclaw:skill/messaging.status": async,
    },
    exports: { default: async },
});

pub use self::wasmclaw::skill::types::Error as WitError;

impl WitError {
    /// The same error with its message passed through `f` (e.g. scrubbed).
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> WitError {
        match self {
            WitError::Denied(m) => WitError::Denied(f(m)),
            WitError::NotFound(m) => WitError::NotFound(f(m)),
            WitError::Invalid(m) => WitError::Invalid(f(m)),
            WitError::LimitExceeded(m) => WitError::LimitExceeded(f(m)),
            WitError::Unavailable(m) => WitError::Unavailable(f(m)),
            WitError::Failed(m) => WitError::Failed(f(m)),
        }
    }
}
