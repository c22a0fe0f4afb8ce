//! Host-side bindings generated from the WIT package in `wit/`.
//!
//! Imports (host capabilities) are synchronous, short and run on the call's
//! fiber, except `http.send`, which awaits the network. Exports (`describe`,
//! `invoke`) are called asynchronously so a long call yields to other calls
//! at every epoch tick.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "skill",
    imports: { "wasmclaw:skill/http.send": async },
    exports: { default: async },
});

pub use self::wasmclaw::skill::types::Error as WitError;
