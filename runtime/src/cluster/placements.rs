//! Where other replicas' tenants are, remembered briefly: a replica that
//! forwards a tenant's requests asks the database for the tenant's owner
//! once, not at every request (a lease take that finds a live owner is a
//! transaction of several round trips; row 10b of `benches/README.md`).
//!
//! What is remembered is only a hint. A placement lives at most
//! [`PLACEMENT_TTL`] and never past the owner's row as the database last
//! reported it, and is dropped when a forward to it fails or the owner
//! answers that it does not serve the tenant. A stale hint costs no
//! correctness: the owner authenticates every forwarded request and serves
//! it only while it holds the lease (else a 503 with `Retry-After`).

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a placement is remembered.
pub(crate) const PLACEMENT_TTL: Duration = Duration::from_secs(1);

/// Past this many placements, an insert first drops the expired ones.
const PRUNE_AT: usize = 4096;

/// One tenant's owner, as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The owner's node id.
    pub(crate) node_id: String,
    /// Its address.
    pub(crate) addr: String,
    /// Until when its row was live, as the database said.
    pub(crate) owner_until: Instant,
    /// Until when this hint is used.
    until: Instant,
}

/// The placements this replica remembers.
#[derive(Debug, Default)]
pub(crate) struct Placements {
    map: Mutex<HashMap<String, Placement>>,
}

impl Placements {
    /// The owner of `tenant` while remembered.
    pub(crate) fn get(&self, tenant: &str, now: Instant) -> Option<Placement> {
        let map = lock(&self.map);
        map.get(tenant).filter(|p| p.until > now).cloned()
    }

    /// Remembers `tenant`'s owner, whose row the database gave
    /// `expires_in` more to live.
    pub(crate) fn put(&self, tenant: &str, node_id: &str, addr: &str, expires_in: Duration, now: Instant) {
        let owner_until = now + expires_in;
        let until = owner_until.min(now + PLACEMENT_TTL);
        let mut map = lock(&self.map);
        if map.len() >= PRUNE_AT {
            map.retain(|_, p| p.until > now);
        }
        map.insert(
            tenant.to_string(),
            Placement { node_id: node_id.into(), addr: addr.into(), owner_until, until },
        );
    }

    /// Forgets `tenant`'s owner (a forward failed; the lease moved here).
    pub(crate) fn forget(&self, tenant: &str) {
        lock(&self.map).remove(tenant);
    }

    /// Forgets every placement.
    pub(crate) fn clear(&self) {
        lock(&self.map).clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.map).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placement_lives_at_most_its_ttl_and_never_past_the_owners_row() {
        let (p, t0) = (Placements::default(), Instant::now());
        p.put("acme", "r2", "http://r2", Duration::from_secs(5), t0);
        assert_eq!(p.get("acme", t0).map(|x| x.node_id).as_deref(), Some("r2"));
        assert!(p.get("acme", t0 + PLACEMENT_TTL).is_none(), "at most the TTL");
        p.put("acme", "r2", "http://r2", Duration::from_millis(200), t0);
        assert!(p.get("acme", t0 + Duration::from_millis(150)).is_some());
        assert!(p.get("acme", t0 + Duration::from_millis(200)).is_none(), "not past the owner's row");
        assert!(p.get("other", t0).is_none());
    }

    #[test]
    fn a_placement_is_forgotten_on_demand_and_expired_ones_are_pruned() {
        let (p, t0) = (Placements::default(), Instant::now());
        p.put("acme", "r2", "http://r2", Duration::from_secs(5), t0);
        p.forget("acme");
        assert!(p.get("acme", t0).is_none());
        for i in 0..PRUNE_AT {
            p.put(&format!("t{i}"), "r2", "http://r2", Duration::from_secs(5), t0);
        }
        let later = t0 + PLACEMENT_TTL + Duration::from_millis(1);
        p.put("fresh", "r3", "http://r3", Duration::from_secs(5), later);
        assert_eq!(p.len(), 1, "the expired ones went");
        p.clear();
        assert!(p.get("fresh", later).is_none());
    }
}
