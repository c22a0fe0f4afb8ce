//! Host-side bindings generated from the WIT package in `wit/`.
//!
//! Imports (host capabilities) are synchronous, short and run on the call's
//! fiber, except `http.send`, which awaits the network, and `memory.list`
//! and `memory.search`, which read the store on a blocking thread (in a
//! long-call turn when the scope is large). Exports (`describe`,
//! `invoke`) are called asynchronously so a long call yields to other calls
//! at every epoch tick.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "skill",
    imports: {
        "wasmclaw:skill/http.send": async,
        "wasmclaw:skill/memory.list": async,
        "wasmclaw:skill/memory.search": async,
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
