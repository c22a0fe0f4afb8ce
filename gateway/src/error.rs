//! One error type for every handler, turned into
//! `{"error":{"code":"…","message":"…"}}` with the matching status. A
//! failure inside the gateway becomes a 500 whose message says nothing of
//! the internals; the details go to the gateway's log.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use wasmclaw::Error;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// `Retry-After` of a 503, seconds (1 unless set).
    retry_after: Option<u64>,
    /// Permission changes a refused upgrade carries, structured
    /// (`error.changes`), for a client to show before it accepts them.
    changes: Option<Vec<wasmclaw::permissions::PermissionChange>>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None, changes: None }
    }

    /// The `Retry-After` a 503 carries, in seconds (at least 1).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// 400 `invalid-input`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-input", message)
    }

    /// 404 `not-found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The permission changes of a refused upgrade.
    pub fn changes(&self) -> Option<&[wasmclaw::permissions::PermissionChange]> {
        self.changes.as_deref()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::Suspended(_) | Error::Denied(_) | Error::Untrusted(_) => {
                StatusCode::FORBIDDEN
            }
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PermissionsWiden { changes, .. } => {
                let mut answer = Self::new(StatusCode::CONFLICT, e.kind(), e.to_string());
                answer.changes = Some(changes.clone());
                return answer;
            }
            Error::Busy(_) | Error::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Provider(_) => StatusCode::BAD_GATEWAY,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // The skill ended on the host's `unavailable` (its store could
            // not be reached, say): "retrying later may succeed" is a 503
            // with Retry-After, not a failure of the skill's own.
            Error::Skill(wasmclaw::bindings::WitError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Error::OutOfFuel { .. }
            | Error::Timeout { .. }
            | Error::MemoryLimit { .. }
            | Error::Trap { .. }
            | Error::Skill(_)
            | Error::InvalidOutput(_)
            | Error::InvalidSkill(_)
            | Error::StepLimit(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Store(wasmclaw::store::StoreError::Unavailable(why)) => {
                tracing::warn!(error = %why, "the store is unavailable");
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store-unavailable",
                    "the gateway's store cannot be reached just now; retry shortly",
                );
            }
            Error::Store(wasmclaw::store::StoreError::TenantMoved(_)) => {
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tenant-moved",
                    "the tenant moved to another replica while this request ran; nothing was written; retry",
                );
            }
            Error::Store(_) | Error::Io { .. } | Error::Config(_) | Error::Internal(_) => {
                tracing::error!(error = %e, "internal error");
                return Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the operator can find the details in the gateway's log",
                );
            }
        };
        Self::new(status, e.kind(), e.to_string())
    }
}

/// Body rejections: too large is 413, a wrong content type 415, the rest 400.
fn rejection(status: StatusCode, text: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "too-large", "the request body is larger than this route accepts")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(status, "unsupported-media-type", text),
        _ => ApiError::invalid(text),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::invalid(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::invalid(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(changes) = self.changes {
            body["error"]["changes"] = serde_json::json!(changes);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Retryable: the store comes back (a restart) or frees a connection.
            let after = self.retry_after.unwrap_or(1).to_string();
            return (self.status, [(axum::http::header::RETRY_AFTER, after)], Json(body)).into_response();
        }
        (self.status, Json(body)).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use wasmclaw::bindings::WitError;

    fn answer(e: Error) -> Response {
        ApiError::from(e).into_response()
    }

    #[test]
    fn a_skill_ending_on_the_hosts_unavailable_is_a_503_to_retry_and_its_own_failure_a_422() {
        let r = answer(Error::Skill(WitError::Unavailable("storage is unavailable".into())));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "1");
        let r = answer(Error::Skill(WitError::Failed("no such city".into())));
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.headers().get(axum::http::header::RETRY_AFTER).is_none());
    }

    #[test]
    fn an_unavailable_store_is_a_503_to_retry_and_a_broken_one_a_500() {
        let r = answer(Error::Store(wasmclaw::store::StoreError::Unavailable("down".into())));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "1");
        let r = answer(Error::Store(wasmclaw::store::StoreError::Backend("bug".into())));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn a_moved_tenant_is_a_503_to_retry_and_an_unavailable_one_says_when() {
        let r = answer(Error::Store(wasmclaw::store::StoreError::TenantMoved("acme".into())));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[axum::http::header::RETRY_AFTER], "1");
        let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "tenant-unavailable", "x").retry_after(4);
        assert_eq!(e.into_response().headers()[axum::http::header::RETRY_AFTER], "4");
        let e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "tenant-unavailable", "x").retry_after(0);
        assert_eq!(e.into_response().headers()[axum::http::header::RETRY_AFTER], "1", "never 0");
    }
}
