//! Host-side bindings generated from the WIT package in `wit/`.
//!
//! Imports (host capabilities) are synchronous: they run on the call's fiber
//! and are short. Exports (`describe`, `invoke`) are called asynchronously so
//! a long call yields to other calls at every epoch tick.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "skill",
    exports: { default: async },
});

pub use self::wasmclaw::skill::types::Error as WitError;
