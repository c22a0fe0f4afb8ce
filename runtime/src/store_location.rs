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
        if !userinfo_agrees(text) {
            return Err("the store URL has an '@' that is not the one ending its USER:PASSWORD; \
                 write each '@' in the user, password or parameters as %40"
                .into());
        }
        Ok(StoreUrl(text.to_string()))
    }

    /// The URL whole, password included: for the store backend only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its passwords replaced by `***` (see [`redacted`]).
    pub fn redacted(&self) -> String {
        redacted(&self.0).unwrap_or_else(|| "postgres://(unparsable)".into())
    }
}

/// Whether a query parameter of a store URL holds a secret: `password`
/// (which PostgreSQL URLs take besides the user's password), and any other
/// `…password` (libpq's `sslpassword`).
fn is_secret_parameter(key: &str) -> bool {
    key.to_ascii_lowercase().contains("password")
}

/// Whether the PostgreSQL client reads the URL's user and password where
/// the `url` crate (which redacts it) does. The client takes everything
/// before the URL's first `@` as `USER:PASSWORD`; the `url` crate takes
/// what is before the last `@` of the authority (which ends at the first
/// `/`, `?` or `#`). In `postgres://gw:5432/s3cret@db/w` the client's
/// password is `5432/s3cret` and, for the `url` crate, there is no
/// password at all (host `gw`, port 5432): so the URL must have no `@`
/// but the one ending its user info.
fn userinfo_agrees(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.find(['/', '?', '#']).map_or(rest, |end| &rest[..end]);
    let in_authority = authority.matches('@').count();
    in_authority == rest.matches('@').count() && in_authority <= 1
}

/// `url` with every password in it replaced by `***`: the user's, and the
/// value of every secret query parameter (`?password=…`); `None` when it is
/// not a URL, or has an `@` the client and the `url` crate would read
/// differently ([`userinfo_agrees`]).
pub fn redacted(url: &str) -> Option<String> {
    if !userinfo_agrees(url) {
        return None;
    }
    let mut u = url::Url::parse(url).ok()?;
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query_pairs().any(|(k, _)| is_secret_parameter(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_parameter(&k) { "***".into() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    Some(u.into())
}

/// Every password in `url` (the user's and those of secret query
/// parameters), as written and percent-decoded: the texts to scrub from
/// whatever an error says.
pub fn passwords(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    // The password as the PostgreSQL client reads it: after the first `:`
    // of what precedes the URL's first `@` (see [`userinfo_agrees`]).
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    if let Some((_, raw)) = rest.split_once('@').and_then(|(creds, _)| creds.split_once(':')) {
        out.push(raw.to_string());
        out.push(percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned());
    }
    let Ok(u) = url::Url::parse(url) else { return longest_first(out) };
    if let Some(raw) = u.password() {
        out.push(raw.to_string());
        if let Ok(decoded) = percent_encoding::percent_decode_str(raw).decode_utf8() {
            out.push(decoded.into_owned());
        }
    }
    for pair in u.query().unwrap_or_default().split('&') {
        let (k, raw) = pair.split_once('=').unwrap_or((pair, ""));
        if is_secret_parameter(&percent_encoding::percent_decode_str(k).decode_utf8_lossy()) {
            out.push(raw.to_string());
        }
    }
    out.extend(u.query_pairs().filter(|(k, _)| is_secret_parameter(k)).map(|(_, v)| v.into_owned()));
    longest_first(out)
}

/// `secrets` without empty or repeated ones, the longest first: scrubbed in
/// this order, a password that is a prefix of another (the client's `p`
/// of `p@ss`) cannot leave the rest of the other showing.
fn longest_first(mut secrets: Vec<String>) -> Vec<String> {
    secrets.retain(|p| !p.is_empty());
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    secrets
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
    fn a_password_in_the_query_string_never_prints_either() {
        let text =
            "postgres://gw@db.internal:5432/wasmclaw?sslmode=disable&password=s3cr%40t&SSLPassword=k3y";
        let loc = StoreLocation::parse(text).unwrap();
        for shown in [format!("{loc}"), format!("{loc:?}")] {
            assert!(!shown.contains("s3cr") && !shown.contains("k3y"), "{shown}");
            assert!(shown.contains("gw@db.internal:5432/wasmclaw?sslmode=disable&password=***"), "{shown}");
        }
        let found = passwords(text);
        for p in ["s3cr%40t", "s3cr@t", "k3y"] {
            assert!(found.iter().any(|f| f == p), "{p} in {found:?}");
        }
        assert_eq!(passwords("postgres://gw:pw@h/db"), ["pw"]);
        assert!(passwords("postgres://gw@h/db?sslmode=disable").is_empty());
    }

    #[test]
    fn only_postgres_urls_are_accepted_and_errors_do_not_repeat_them() {
        for bad in ["mysql://u:hunter2@h/db", "hunter2", "postgres://u:hunter2@/db", "redb"] {
            let e = StoreLocation::parse(bad).unwrap_err();
            assert!(!e.contains("hunter2"), "{bad}: {e}");
        }
        assert!(StoreLocation::parse("postgresql://h/db").is_ok());
    }

    #[test]
    fn a_password_the_client_finds_past_the_authority_never_prints() {
        // The PostgreSQL client reads user `gw`, password `5432/s3cret`,
        // host `db` here; the url crate sees host `gw`, port 5432, no password.
        for text in [
            "postgres://gw:5432/s3cret@db/w",
            "postgres://gw:5432?s3cret@db/w",
            "postgres://db/w?application_name=x:s3cret@y",
            "postgres://gw:p@s3cret@db/w",
        ] {
            let e = StoreLocation::parse(text).unwrap_err();
            assert!(!e.contains("s3cret"), "{text}: {e}");
            let shown = redacted(text).unwrap_or_default();
            assert!(!shown.contains("s3cret"), "{text}: {shown}");
            // An error that repeats the client's password is scrubbed of it.
            let client = text.split_once("://").unwrap().1.split_once('@').unwrap().0;
            let client = client.split_once(':').map_or("", |(_, p)| p);
            assert!(client.is_empty() || passwords(text).iter().any(|p| p == client), "{text}");
        }
        // One `@`, ending the user info, is what the client and the url crate agree on.
        let loc = StoreLocation::parse("postgres://gw:5432s3cret@db/w?application_name=a%40b").unwrap();
        assert_eq!(format!("{loc}"), "postgres://gw:***@db/w?application_name=a%40b");
    }
}
