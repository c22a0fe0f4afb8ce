//! HTTP origins: (scheme, host, port), the unit of an HTTP grant, and the
//! address rule ([`is_public`]) that decides which IPs a DNS name may lead to
//! and which IP-literal origins a tenant policy may name without a local grant.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local (cloud metadata lives there), unique-local, shared (CGNAT),
/// unspecified, broadcast, multicast, documentation, benchmarking or
/// reserved.
///
/// IPv6 is public only inside global unicast `2000::/3`, minus
/// documentation (`2001:db8::/32`, `3fff::/20`), the IETF protocol block
/// `2001::/23` (Teredo `2001::/32` included, so a Teredo address is always
/// refused) and `5f00::/16`. A v6 address that carries an IPv4 address is
/// judged by that IPv4 as well: IPv4-compatible `::a.b.c.d`, mapped
/// `::ffff:a.b.c.d`, translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`
/// (local-use NAT64 `64:ff9b:1::/48` is refused), 6to4 `2002::/16` and an
/// ISATAP interface id (`…:0:5efe:a.b.c.d`, `…:200:5efe:a.b.c.d`).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240)
}

fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let tail = v4_of(s[6], s[7]);
    // Whole-address embeddings (`::/96` also covers `::` and `::1`, whose
    // IPv4 readings 0.0.0.0 and 0.0.0.1 are not public): the IPv4 decides.
    let compatible = s[..6] == [0; 6];
    let mapped = s[..5] == [0; 5] && s[5] == 0xffff;
    let translated = s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0;
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4];
    if compatible || mapped || translated || nat64 {
        return is_public_v4(tail);
    }
    let global = (s[0] & 0xe000) == 0x2000;
    let reserved = (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x3fff && s[1] < 0x1000)
        || (s[0] == 0x2001 && s[1] < 0x0200)
        || s[0] == 0x5f00;
    if !global || reserved {
        return false;
    }
    // 6to4 carries its IPv4 in the prefix; ISATAP in the interface id
    // (with or without the universal/group bits).
    if s[0] == 0x2002 && !is_public_v4(v4_of(s[1], s[2])) {
        return false;
    }
    let isatap = (s[4] & 0xfcff) == 0 && s[5] == 0x5efe;
    !isatap || is_public_v4(tail)
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_recognised() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "3fff:fff::1",
            "5f00::1",
            "2001:1ff::1",
            "100::1",
            "4000::1",
            // IPv4 carried in an IPv6 address is judged as IPv4.
            "::127.0.0.1",
            "::10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::8.8.8.8",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101:1::1",
            "2001::8.8.8.8",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2606:4700::5efe:127.0.0.1",
            "2606:4700::200:5efe:10.0.0.1",
            "2606:4700::100:5efe:169.254.169.254",
        ] {
            assert!(!is_public(ip(s)), "{s} must not be public");
        }
        for s in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
            "2001:200::1",
            "3fff:1000::1",
            "2606:4700::5efe:8.8.8.8",
            "2606:4700::200:5efe:1.1.1.1",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    fn non_public_v4() -> impl proptest::strategy::Strategy<Value = Ipv4Addr> {
        use proptest::prelude::*;
        any::<u32>().prop_map(Ipv4Addr::from).prop_filter("non-public", |v4| !is_public_v4(*v4))
    }

    proptest::proptest! {
        #[test]
        fn embedded_non_public_v4_is_never_public(
            v4 in non_public_v4(),
            form in 0..7u8,
            prefix in proptest::prelude::any::<[u16; 4]>(),
            flags in 0..4u16,
        ) {
            let [hi, lo] = [(u32::from(v4) >> 16) as u16, u32::from(v4) as u16];
            let s = match form {
                0 => [0, 0, 0, 0, 0, 0, hi, lo],
                1 => [0, 0, 0, 0, 0, 0xffff, hi, lo],
                2 => [0, 0, 0, 0, 0xffff, 0, hi, lo],
                3 => [0x64, 0xff9b, 0, 0, 0, 0, hi, lo],
                4 => [0x2002, hi, lo, prefix[0], prefix[1], prefix[2], prefix[3], prefix[0]],
                // ISATAP under a public global prefix.
                5 => [0x2606, prefix[1], prefix[2], prefix[3], flags << 8, 0x5efe, hi, lo],
                // Teredo: the client's address is obfuscated, so it is refused whatever it holds.
                _ => [0x2001, 0, prefix[0], prefix[1], prefix[2], prefix[3], !hi, !lo],
            };
            let v6 = Ipv6Addr::from(s);
            proptest::prop_assert!(!is_public(IpAddr::V6(v6)), "{v6} embeds {v4}");
        }
    }
}
