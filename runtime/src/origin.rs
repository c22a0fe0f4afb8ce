//! HTTP origins: (scheme, host, port), the unit of an HTTP grant.

use std::fmt;
use std::net::IpAddr;

/// An `http` or `https` origin with an explicit port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// `http` or `https`.
    pub scheme: String,
    /// Lower-case host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// The port, defaulted from the scheme when the URL has none.
    pub port: u16,
}

impl Origin {
    /// Parses an origin such as `https://api.example.com` or
    /// `http://127.0.0.1:8080`. A path other than `/`, a query, a fragment or
    /// credentials are refused: an origin is not a URL.
    pub fn parse(s: &str) -> Result<Origin, String> {
        let url = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        if url.path() != "/" && !url.path().is_empty() {
            return Err(format!("{s:?} has a path; give only scheme://host[:port]"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{s:?} has a query or fragment; give only scheme://host[:port]"));
        }
        Self::of_url(&url).map_err(|e| format!("{s:?}: {e}"))
    }

    /// The origin of a URL (credentials refused).
    pub fn of_url(url: &url::Url) -> Result<Origin, String> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme {scheme:?} is not http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("URLs with credentials are refused".into());
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_ascii_lowercase(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("no host".into()),
        };
        let port = url.port_or_known_default().ok_or("no port")?;
        Ok(Origin { scheme: scheme.to_string(), host, port })
    }

    /// The host as an IP address, when it is an IP literal.
    pub fn ip_literal(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

impl serde::Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Origin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Origin::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalise() {
        assert_eq!(
            Origin::parse("https://API.Example.com").unwrap().to_string(),
            "https://api.example.com:443"
        );
        assert_eq!(Origin::parse("http://127.0.0.1:8080/").unwrap().to_string(), "http://127.0.0.1:8080");
        assert_eq!(Origin::parse("http://[::1]:9").unwrap().to_string(), "http://[::1]:9");
        assert_eq!(Origin::parse("http://a.b").unwrap().port, 80);
        assert!(Origin::parse("http://10.0.0.1").unwrap().ip_literal().is_some());
        assert!(Origin::parse("http://a.b").unwrap().ip_literal().is_none());
    }

    #[test]
    fn non_origins_are_refused() {
        for bad in
            ["ftp://a.b", "https://a.b/path", "https://a.b/?q", "https://u:p@a.b", "a.b", "file:///etc"]
        {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }
}
