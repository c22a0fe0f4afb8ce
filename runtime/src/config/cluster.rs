//! `[cluster]`: how the replicas of one PostgreSQL database keep their
//! membership; and who this replica is ([`NodeIdentity`], from `serve
//! --node-id` and `--advertise`, never from the file).

use serde::{Deserialize, Serialize};

/// The membership timings (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// How often a replica renews its membership row, milliseconds.
    pub heartbeat_ms: u64,
    /// How long a row lives without a heartbeat, milliseconds: a replica
    /// that stops beating is taken for dead after this long.
    pub ttl_ms: u64,
    /// How long a replica keeps a tenant's lease with no request or call
    /// of the tenant before giving it up, milliseconds.
    pub lease_idle_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig { heartbeat_ms: 1_000, ttl_ms: 5_000, lease_idle_ms: 60_000 }
    }
}

impl ClusterConfig {
    /// Refuses timings that cannot keep a live replica's row alive.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_ms == 0 || self.heartbeat_ms > 60_000 {
            return Err("cluster.heartbeat_ms: 1 to 60000".into());
        }
        if self.ttl_ms < 2 * self.heartbeat_ms || self.ttl_ms > 600_000 {
            return Err(format!(
                "cluster.ttl_ms: at least twice cluster.heartbeat_ms ({}) and at most 600000",
                2 * self.heartbeat_ms
            ));
        }
        if self.lease_idle_ms < self.heartbeat_ms || self.lease_idle_ms > 86_400_000 {
            return Err(format!(
                "cluster.lease_idle_ms: at least cluster.heartbeat_ms ({}) and at most 86400000",
                self.heartbeat_ms
            ));
        }
        Ok(())
    }
}

/// Who this replica is in a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    /// Its node id: 1 to 63 of `a-z`, `0-9` and `-`, not starting or
    /// ending with `-` (a DNS label, as a pod name is).
    pub node_id: String,
    /// The base URL the other replicas reach it at (`http://host:port`).
    pub advertise: String,
}

impl NodeIdentity {
    /// Checks both parts.
    pub fn new(node_id: &str, advertise: &str) -> Result<NodeIdentity, String> {
        let label = |s: &str| {
            (1..=63).contains(&s.len())
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !s.starts_with('-')
                && !s.ends_with('-')
        };
        if !label(node_id) {
            return Err(format!(
                "node id {node_id:?}: 1 to 63 of a-z, 0-9 and '-', not starting or ending with '-'"
            ));
        }
        let url = reqwest::Url::parse(advertise)
            .map_err(|e| format!("--advertise {advertise:?} is not a URL: {e}"))?;
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || !bare {
            return Err(format!(
                "--advertise {advertise:?}: http:// or https://, a host and a port, no path, user or query"
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("--advertise {advertise:?}: no user or password in the URL"));
        }
        Ok(NodeIdentity { node_id: node_id.into(), advertise: url.as_str().trim_end_matches('/').into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_dns_labels_and_addresses_bare_http_urls() {
        let n = NodeIdentity::new("wasmclaw-0", "http://10.0.0.7:8080/").unwrap();
        assert_eq!(n.advertise, "http://10.0.0.7:8080");
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64), "a/b", "a\0"] {
            assert!(NodeIdentity::new(bad, "http://h:1").is_err(), "{bad:?}");
        }
        for bad in ["h:1", "ftp://h:1", "http://h:1/x", "http://u:p@h:1", "http://h:1?q", "http://"] {
            assert!(NodeIdentity::new("r1", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_ttl_must_outlast_two_heartbeats() {
        assert!(ClusterConfig::default().validate().is_ok());
        assert!(ClusterConfig { heartbeat_ms: 1000, ttl_ms: 1500, ..Default::default() }.validate().is_err());
        assert!(ClusterConfig { heartbeat_ms: 0, ttl_ms: 5000, ..Default::default() }.validate().is_err());
    }
}
