//! The proof that a request was forwarded by a replica of this cluster:
//! the hop header's value, `<node id>;<unix seconds>;<hex HMAC-SHA256>`
//! of the method, the path and query, the node id and the time, under a
//! key every replica derives from the master key they share. A client
//! cannot make one, so a hop header that does not check out is only
//! removed (the request is routed as any other), and a forged one can
//! neither stop a forward nor reach the answers meant for forwarded
//! requests.

use hmac::{Hmac, KeyInit, Mac};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<sha2::Sha256>;

/// How far a hop's time may be from this replica's (both are kept to the
/// database's clock): a forward is sent and received within it.
const SKEW_SECS: u64 = 30;

/// The key hops are signed with (derived from the master key).
pub struct HopKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for HopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HopKey(..)")
    }
}

impl HopKey {
    /// The key of the cluster whose master key derives `key`.
    pub fn new(key: Zeroizing<[u8; 32]>) -> HopKey {
        HopKey(key)
    }

    fn mac(&self, node_id: &str, at: u64, method: &str, path: &str) -> HmacSha256 {
        #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0[..]).expect("HMAC accepts any key");
        for part in [node_id.as_bytes(), at.to_string().as_bytes(), method.as_bytes(), path.as_bytes()] {
            // Length-prefixed: no two lists of parts read the same.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The hop value for a request `method path` (path and query) that
    /// `node_id` forwards at `now` (unix seconds).
    pub fn sign(&self, node_id: &str, now: u64, method: &str, path: &str) -> String {
        let tag = hex::encode(self.mac(node_id, now, method, path).finalize().into_bytes());
        format!("{node_id};{now};{tag}")
    }

    /// The forwarding node's id when `value` is a hop this cluster signed
    /// for `method path` within [`SKEW_SECS`] of `now`; `None` for anything
    /// else (a client's header). The comparison is constant-time.
    pub fn check(&self, value: &str, now: u64, method: &str, path: &str) -> Option<String> {
        let mut parts = value.split(';');
        let (node, at, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let at: u64 = at.parse().ok()?;
        if at.abs_diff(now) > SKEW_SECS {
            return None;
        }
        let tag = hex::decode(tag).ok()?;
        self.mac(node, at, method, path).verify_slice(&tag).ok()?;
        Some(node.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> HopKey {
        HopKey::new(Zeroizing::new([b; 32]))
    }

    #[test]
    fn a_hop_checks_for_its_request_and_time_only() {
        let k = key(1);
        let v = k.sign("r1", 1000, "POST", "/v1/skills/echo/invoke");
        assert_eq!(k.check(&v, 1000, "POST", "/v1/skills/echo/invoke").as_deref(), Some("r1"));
        assert_eq!(k.check(&v, 1030, "POST", "/v1/skills/echo/invoke").as_deref(), Some("r1"), "skew");
        assert_eq!(k.check(&v, 1031, "POST", "/v1/skills/echo/invoke"), None, "too old");
        assert_eq!(k.check(&v, 969, "POST", "/v1/skills/echo/invoke"), None, "from the future");
        assert_eq!(k.check(&v, 1000, "GET", "/v1/skills/echo/invoke"), None, "another method");
        assert_eq!(k.check(&v, 1000, "POST", "/v1/tenants/other/tokens"), None, "another path");
        assert_eq!(key(2).check(&v, 1000, "POST", "/v1/skills/echo/invoke"), None, "another cluster");
    }

    #[test]
    fn a_clients_hop_header_does_not_check() {
        let k = key(1);
        let v = k.sign("r1", 1000, "GET", "/x");
        let renamed = v.replacen("r1", "r2", 1);
        for bad in ["", "r1", "r1;1000", "r1;1000;", "r1;1000;zz", &renamed, &format!("{v};x"), "r1;x;00"] {
            assert_eq!(k.check(bad, 1000, "GET", "/x"), None, "{bad:?}");
        }
    }
}
