//! Errors of the PostgreSQL store: what is retryable (`Unavailable`), what
//! is fatal, and the URL's password kept out of every message.

use super::StoreError;

/// The store at `shown` could not be opened: a fatal error at start, not a
/// retryable one.
pub(super) fn open_error(shown: &str, reason: String) -> StoreError {
    StoreError::Open { store: shown.to_string(), reason }
}

/// `url` with its passwords shown as `***` (the user's, and a
/// `?password=` parameter), for messages.
pub fn redacted_url(url: &str) -> String {
    crate::store_location::redacted(url)
        .unwrap_or_else(|| "the PostgreSQL URL (unparsable, not shown)".to_string())
}

/// The passwords in `url` (percent-decoded, and as written).
pub(super) fn passwords_of(url: &str) -> Vec<String> {
    crate::store_location::passwords(url)
}

pub(super) fn scrub_text(text: &mut String, secrets: &[String]) {
    for s in secrets {
        if text.contains(s.as_str()) {
            *text = text.replace(s.as_str(), "***");
        }
    }
}

/// `e` with every secret in `secrets` replaced by `***`.
pub(super) fn scrub(e: StoreError, secrets: &[String]) -> StoreError {
    match e {
        StoreError::QuotaExceeded(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::QuotaExceeded(m)
        }
        StoreError::Backend(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::Backend(m)
        }
        StoreError::Invalid(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::Invalid(m)
        }
        StoreError::Unavailable(mut m) => {
            scrub_text(&mut m, secrets);
            StoreError::Unavailable(m)
        }
        moved @ StoreError::TenantMoved(_) => moved,
        StoreError::Open { mut store, mut reason } => {
            scrub_text(&mut store, secrets);
            scrub_text(&mut reason, secrets);
            StoreError::Open { store, reason }
        }
        StoreError::Unreachable { mut store, mut endpoints, mut reason } => {
            for text in [&mut store, &mut endpoints, &mut reason] {
                scrub_text(text, secrets);
            }
            StoreError::Unreachable { store, endpoints, reason }
        }
    }
}

/// SQLSTATE classes and codes that say "try again later": the connection
/// (08), too many connections or no room (53), the server shutting down or
/// refusing connections (57P0x), a statement or lock timeout (57014,
/// 55P03), a serialisation failure or deadlock (40001, 40P01), and a server
/// that refuses this gateway's new connections (28: a password rotated
/// under it, a changed `pg_hba.conf`; 3D000: its database gone) — the
/// operator's to fix, and meanwhile the store cannot be reached, which is
/// no fault of the request. At start every one of them is fatal.
pub(super) fn retryable(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code.starts_with("28")
        || matches!(code, "57014" | "55P03" | "40001" | "40P01" | "3D000")
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let msg = format!("PostgreSQL: {} ({})", db.message(), db.code().code());
            return if retryable(db.code().code()) {
                StoreError::Unavailable(msg)
            } else {
                StoreError::Backend(msg)
            };
        }
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        // tokio-postgres's own text is only "error connecting to server":
        // the cause ("Connection refused", a timeout, a TLS refusal) is
        // what tells the operator what to fix.
        let text = with_causes(&e);
        if e.is_closed() || io || e.code().is_some_and(|c| retryable(c.code())) {
            return StoreError::Unavailable(format!("PostgreSQL connection: {text}"));
        }
        // Without a server error, tokio-postgres fails on the connection
        // (connecting, a timeout, a broken stream) or on a conversion; only
        // the conversions are this program's to fix.
        if text.starts_with("error serializing") || text.starts_with("error deserializing") {
            StoreError::Backend(format!("PostgreSQL: {text}"))
        } else {
            StoreError::Unavailable(format!("PostgreSQL connection: {text}"))
        }
    }
}

/// `e` and each of its causes, joined by `: `.
pub(super) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(kind) => {
                StoreError::Unavailable(format!("no PostgreSQL connection in time ({kind:?})"))
            }
            PoolError::Closed => StoreError::Unavailable("the PostgreSQL pool is closed".into()),
            other => StoreError::Unavailable(format!("PostgreSQL pool: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_refusing_the_gateway_is_retryable_and_a_logic_error_is_not() {
        for code in ["08006", "53300", "57P01", "57014", "40001", "28P01", "28000", "3D000"] {
            assert!(retryable(code), "{code}");
        }
        for code in ["23505", "42P01", "22021", "25P02", "XX000"] {
            assert!(!retryable(code), "{code}");
        }
    }

    #[test]
    fn every_password_of_the_url_is_scrubbed_from_an_error() {
        let url = "postgres://gw:pa%40ss@db:5432/w?password=other-secret";
        let e = StoreError::Unavailable("pa@ss pa%40ss other-secret".into());
        let StoreError::Unavailable(m) = scrub(e, &passwords_of(url)) else { unreachable!() };
        assert_eq!(m, "*** *** ***");
        assert_eq!(redacted_url(url), "postgres://gw:***@db:5432/w?password=***");
    }
}
