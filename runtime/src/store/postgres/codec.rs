//! JSON in and out of `text` columns (records whose stored form is their
//! own serde form; the others are in [`crate::store::codec`]).

use super::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// `v` as JSON.
pub(super) fn encode<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A stored JSON value of `what`.
pub(super) fn decode<T: DeserializeOwned>(what: &str, json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored {what} is corrupt: {e}")))
}
