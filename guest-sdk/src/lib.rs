//! # wasmclaw-sdk: write wasmclaw skills in Rust
//!
//! A skill is a WebAssembly component that exports the `wasmclaw:skill/handler`
//! interface (see `wit/` at the repository root). This crate hides the
//! generated bindings behind a [`Skill`] trait with typed, serde-based input
//! and output, and typed helpers for the host capabilities a skill may import
//! ([`memory`], [`log`]).
//!
//! A minimal skill (`Cargo.toml`: `crate-type = ["cdylib"]`, depend on
//! `wasmclaw-sdk` and `serde`):
//!
//! ```ignore
//! use serde::{Deserialize, Serialize};
//! use wasmclaw_sdk::{Error, Skill, export_skill};
//!
//! #[derive(Deserialize)]
//! struct Input { name: String }
//!
//! #[derive(Serialize)]
//! struct Output { greeting: String }
//!
//! struct Hello;
//!
//! impl Skill for Hello {
//!     type Input = Input;
//!     type Output = Output;
//!     const NAME: &'static str = "hello";
//!     const DESCRIPTION: &'static str = "Greets someone by name.";
//!
//!     fn run(input: Input) -> Result<Output, Error> {
//!         Ok(Output { greeting: format!("Hello, {}!", input.name) })
//!     }
//! }
//!
//! export_skill!(Hello);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`: the `.wasm`
//! in `target/wasm32-wasip2/release/` is the component. It imports only the
//! capabilities the code actually calls; each import is a permission the
//! operator sees and grants.

#![deny(missing_docs)]

extern crate self as wasmclaw_sdk;

/// Raw bindings generated from the WIT package. Prefer the typed API of this
/// crate; these are public so that [`export_skill!`] can reach them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "skill",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "wasmclaw_sdk::bindings",
        runtime_path: "wasmclaw_sdk::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The error a host capability returns, and the error a skill returns from
/// [`Skill::run`]. It is the WIT variant `wasmclaw:skill/types.error`.
pub use bindings::wasmclaw::skill::types::Error;

/// A skill's self-description (the WIT record `handler.info`).
pub use bindings::exports::wasmclaw::skill::handler::Info;

impl Error {
    /// The input was malformed; `msg` says how.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// The skill failed; `msg` is shown to the caller.
    pub fn failed(msg: impl Into<String>) -> Self {
        Error::Failed(msg.into())
    }

    /// The thing asked for does not exist.
    pub fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }

    /// The kebab-case WIT name of the variant (`denied`, `not-found`,
    /// `invalid`, `limit-exceeded`, `unavailable`, `failed`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Denied(_) => "denied",
            Error::NotFound(_) => "not-found",
            Error::Invalid(_) => "invalid",
            Error::LimitExceeded(_) => "limit-exceeded",
            Error::Unavailable(_) => "unavailable",
            Error::Failed(_) => "failed",
        }
    }

    /// The error's text, whatever its variant.
    pub fn message(&self) -> &str {
        match self {
            Error::Denied(m)
            | Error::NotFound(m)
            | Error::Invalid(m)
            | Error::LimitExceeded(m)
            | Error::Unavailable(m)
            | Error::Failed(m) => m,
        }
    }
}

/// A skill: typed input, typed output, and a name the host shows.
///
/// Implement it for a unit struct and export it with [`export_skill!`].
pub trait Skill {
    /// What `invoke` receives, deserialized from the caller's JSON.
    type Input: DeserializeOwned;
    /// What `invoke` returns, serialized to JSON.
    type Output: Serialize;

    /// Machine name of the skill (lower-case letters, digits, dashes).
    const NAME: &'static str;
    /// Version of the skill; defaults to `0.1.0`.
    const VERSION: &'static str = "0.1.0";
    /// One or two sentences saying what the skill does.
    const DESCRIPTION: &'static str;

    /// JSON Schema of the input. Defaults to "any JSON object".
    fn input_schema() -> serde_json::Value {
        serde_json::json!({ "type": "object" })
    }

    /// Runs the skill once, in a fresh instance.
    fn run(input: Self::Input) -> Result<Self::Output, Error>;
}

/// Glue used by [`export_skill!`]: the WIT export implemented for any
/// [`Skill`].
#[doc(hidden)]
pub struct __Adapter<S>(core::marker::PhantomData<S>);

impl<S: Skill> bindings::exports::wasmclaw::skill::handler::Guest for __Adapter<S> {
    fn describe() -> Info {
        Info {
            name: S::NAME.to_string(),
            version: S::VERSION.to_string(),
            description: S::DESCRIPTION.to_string(),
            input_schema: S::input_schema().to_string(),
        }
    }

    fn invoke(input: String) -> Result<String, Error> {
        let input: S::Input =
            serde_json::from_str(&input).map_err(|e| Error::invalid(format!("input: {e}")))?;
        let output = S::run(input)?;
        serde_json::to_string(&output).map_err(|e| Error::failed(format!("output: {e}")))
    }
}

/// Exports a type implementing [`Skill`] as the component's `handler`.
///
/// Use it once per skill crate, at the crate root.
#[macro_export]
macro_rules! export_skill {
    ($skill:ty) => {
        const _: () = {
            type __WasmclawExport = $crate::__Adapter<$skill>;
    $crate::bindings::__export_world!(__WasmclawExport with_types_in $crate::bindings);
        };
    };
}

/// Durable key-value memory scoped to the calling tenant (and user).
///
/// Importing this module's functions makes the component import
/// `wasmclaw:skill/memory`: the operator sees it as a permission.
pub mod memory {
    use super::Error;
    use crate::bindings::wasmclaw::skill::memory as raw;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// One key-value entry.
    pub use raw::Entry;

    /// Reads `key`; `Ok(None)` when there is no such entry.
    pub fn get(key: &str) -> Result<Option<String>, Error> {
        match raw::get(key) {
            Ok(v) => Ok(Some(v)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Stores `value` under `key`; durable when this returns `Ok`.
    pub fn set(key: &str, value: &str) -> Result<(), Error> {
        raw::set(key, value)
    }

    /// Removes `key`; `Ok(false)` when there was no such entry.
    pub fn delete(key: &str) -> Result<bool, Error> {
        match raw::delete(key) {
            Ok(()) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Lists up to `limit` entries whose key starts with `prefix`.
    pub fn list(prefix: &str, limit: u32) -> Result<Vec<Entry>, Error> {
        raw::list(prefix, limit)
    }

    /// Finds up to `limit` entries containing every word of `query`.
    pub fn search(query: &str, limit: u32) -> Result<Vec<Entry>, Error> {
        raw::search(query, limit)
    }

    /// Reads `key` and deserializes its JSON value.
    pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
        match get(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_str(&v)
                .map(Some)
                .map_err(|e| Error::failed(format!("memory value {key:?}: {e}"))),
        }
    }

    /// Serializes `value` to JSON and stores it under `key`.
    pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), Error> {
        let text = serde_json::to_string(value).map_err(|e| Error::failed(e.to_string()))?;
        set(key, &text)
    }
}

/// Logging into the operator's log, tagged with tenant and skill by the host.
pub mod log {
    use crate::bindings::wasmclaw::skill::log as raw;
    pub use raw::Level;

    /// Writes one line at `level`.
    pub fn log(level: Level, message: &str) {
        raw::log(level, message)
    }
    /// Writes one line at `debug`.
    pub fn debug(message: &str) {
        raw::log(Level::Debug, message)
    }
    /// Writes one line at `info`.
    pub fn info(message: &str) {
        raw::log(Level::Info, message)
    }
    /// Writes one line at `warn`.
    pub fn warn(message: &str) {
        raw::log(Level::Warn, message)
    }
    /// Writes one line at `error`.
    pub fn error(message: &str) {
        raw::log(Level::Error, message)
    }
}

/// Names of the secrets this skill may use, and placeholders for them.
///
/// A skill never sees a secret's value: it puts [`placeholder`] into an
/// [`http`] request and the host substitutes the value, if the tenant grants
/// that secret for that origin.
pub mod secrets {
    use super::Error;
    use crate::bindings::wasmclaw::skill::secrets as raw;

    /// The names of the secrets this skill may use, sorted.
    pub fn names() -> Result<Vec<String>, Error> {
        raw::names()
    }

    /// The placeholder for secret `name`: `{{secret:NAME}}`.
    pub fn placeholder(name: &str) -> String {
        format!("{{{{secret:{name}}}}}")
    }
}

/// Outbound HTTP to the origins the tenant grants this skill.
pub mod http {
    use super::Error;
    use crate::bindings::wasmclaw::skill::http as raw;
    pub use raw::{Header, Request, Response};

    /// Sends a request; redirects are followed by the host.
    pub fn send(req: &Request) -> Result<Response, Error> {
        raw::send(req)
    }

    /// `GET url` with the given headers.
    pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
        send(&Request {
            method: "GET".into(),
            url: url.into(),
            headers: headers.iter().map(|(n, v)| Header { name: (*n).into(), value: (*v).into() }).collect(),
            body: None,
        })
    }

    impl Response {
        /// The body as (lossy) UTF-8 text.
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }
}

/// Messages to the tenant's registered contacts.
pub mod messaging {
    use super::Error;
    use crate::bindings::wasmclaw::skill::messaging as raw;
    pub use raw::DeliveryState;

    /// The contacts this skill may message.
    pub fn contacts() -> Result<Vec<String>, Error> {
        raw::contacts()
    }

    /// Queues `body` for `contact`; returns the message id.
    pub fn send(contact: &str, body: &str) -> Result<String, Error> {
        raw::send(contact, body)
    }

    /// The delivery state of a message this tenant sent.
    pub fn status(id: &str) -> Result<DeliveryState, Error> {
        raw::status(id)
    }
}

/// Scheduled calls of this skill.
pub mod cron {
    use super::Error;
    use crate::bindings::wasmclaw::skill::cron as raw;
    pub use raw::{Job, Schedule};

    /// Adds a job calling this skill with `input` (JSON); returns its id.
    pub fn add(schedule: &Schedule, input: &str) -> Result<String, Error> {
        raw::add(schedule, input)
    }

    /// This skill's jobs.
    pub fn list() -> Result<Vec<Job>, Error> {
        raw::list()
    }

    /// Removes one of this skill's jobs.
    pub fn remove(id: &str) -> Result<(), Error> {
        raw::remove(id)
    }
}
