//! Where the gateway's database is: the embedded redb file in the data
//! directory (the default), or a PostgreSQL database named by URL
//! (`wasmclaw serve --store postgres://…` or `WASMCLAW_STORE`).
//!
//! A store URL may hold a password, so it is a secret: it is kept apart
//! from the configuration file, and it prints (Debug and Display) with its
//! password replaced by `***`. Only the store backend reads it whole.

use std::fmt;

/// Where the gateway's database is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreLocation {
    /// `wasmclaw.redb` in the data directory.
    #[default]
    Embedded,
    /// A PostgreSQL database.
    Postgres(StoreUrl),
}

impl StoreLocation {
    /// Parses `--store`: a `postgres://` or `postgresql://` URL.
    pub fn parse(text: &str) -> Result<StoreLocation, String> {
        StoreUrl::parse(text).map(StoreLocation::Postgres)
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Embedded => f.write_str("redb (embedded, in the data directory)"),
            StoreLocation::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// A PostgreSQL URL; shown only with its password hidden.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// Checks that `text` is a PostgreSQL URL with a host. The error never
    /// repeats the text (it may hold a password).
    pub fn parse(text: &str) -> Result<StoreUrl, String> {
        let url = url::Url::parse(text).map_err(|e| {
            format!("the store is not a URL ({e}); give postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        })?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "the store URL's scheme is {:?}; only postgres:// (or postgresql://) is supported, and \
                 without --store the embedded redb store in the data directory is used",
                url.scheme().chars().take(32).collect::<String>()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("the store URL has no host".into());
        }
        Ok(StoreUrl(text.to_string()))
    }

    /// The URL whole, password included: for the store backend only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) => {
                if url.password().is_some() {
                    let _ = url.set_password(Some("***"));
                }
                url.to_string()
            }
            Err(_) => "postgres://(unparsable)".into(),
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({})", self.redacted())
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_prints() {
        let loc = StoreLocation::parse("postgres://gw:s3cr%40t@db.internal:5432/wasmclaw").unwrap();
        for shown in [format!("{loc}"), format!("{loc:?}"), format!("{:?}", Some(&loc))] {
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(shown.contains("gw:***@db.internal:5432/wasmclaw"), "{shown}");
        }
        let StoreLocation::Postgres(url) = loc else { unreachable!() };
        assert_eq!(url.expose(), "postgres://gw:s3cr%40t@db.internal:5432/wasmclaw");
    }

    #[test]
    fn only_postgres_urls_are_accepted_and_errors_do_not_repeat_them() {
        for bad in ["mysql://u:hunter2@h/db", "hunter2", "postgres://u:hunter2@/db", "redb"] {
            let e = StoreLocation::parse(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{bad}: {e}");
        }
        assert!(StoreLocation::parse("postgresql://h/db").is_ok());
    }
}
