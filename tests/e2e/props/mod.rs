//! Property tests of every parser that sees untrusted input: the skill
//! manifest and package, tokens and ids, cron schedules, Telegram updates,
//! the secret redactor and placeholder expansion, and the HTTP API's bodies
//! (through the gateway's real router, in process). The same parsers are
//! fuzzed by `fuzz/` (`bash fuzz/run`); these run in the normal suite, with
//! modest case counts.

mod api;
mod cron;
mod manifest;
mod redactor;
mod telegram;
mod tokens;

use axum::body::Body;
use axum::http::Request;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tower::ServiceExt;
use wasmclaw::Error;
use wasmclaw::auth::{Principal, is_admin_key, parse_token};
use wasmclaw::channels::telegram::{Attachment, Inbound, parse_update};
use wasmclaw::cron::{next_run, shortest_gap};
use wasmclaw::ids::{TenantId, UserId};
use wasmclaw::manifest::{CronWants, Manifest};
use wasmclaw::package::Package;
use wasmclaw::records::{Role, Schedule};
use wasmclaw::redact::{MIN_ENCODED_BYTES, Redactor, expand_placeholders};
use wasmclaw_tests::tenant;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Any JSON value: scalars of every type, and arrays and objects whose keys
/// are often the ones a parser looks for.
fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON has no NaN or infinity", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(keys).prop_map(Value::from),
    ];
    let key = prop_oneof![prop::sample::select(keys).prop_map(String::from), ".{0,6}"];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
