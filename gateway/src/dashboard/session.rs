//! The dashboard's server-side sessions.
//!
//! A session id is 256 bits of OS randomness, sent once in the cookie;
//! only its SHA-256 is kept (a memory dump does not give anyone a live
//! cookie). A session holds the credential it was opened with (zeroed on
//! drop), so every request authenticates it again with the API's own code:
//! revoking the token, suspending the tenant or changing the admin key ends
//! the session at its next request. It also holds its CSRF token and the
//! one-time nonces of forms that must not be posted twice (minting a token).
//!
//! Sessions live in this process: a restart signs everyone out (nothing is
//! lost but the sign-in). Their number is bounded: each tenant's (and the
//! operator's) at [`MAX_PER_OWNER`], its own least recently used going
//! first, so signing in over and over ends only one's own sessions; all of
//! them at [`MAX_SESSIONS`], the owner holding most giving one up.

use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The session cookie: `__Host-` makes the browser refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`.
pub(crate) const COOKIE: &str = "__Host-wasmclaw-session";

/// Sessions kept at most.
pub(crate) const MAX_SESSIONS: usize = 10_000;

/// Sessions one owner (a tenant, or the operator) keeps at most.
pub(crate) const MAX_PER_OWNER: usize = 64;

/// One-time nonces one session keeps at most (the oldest is dropped).
const MAX_NONCES: usize = 32;

/// What a request finds of its session.
#[derive(Clone)]
pub(crate) struct Found {
    /// The hash of the session id (its key).
    pub key: [u8; 32],
    /// The credential the session was opened with.
    pub credential: Zeroizing<String>,
    /// The session's CSRF token.
    pub csrf: String,
}

struct Session {
    /// Whose it is: a tenant id, or empty for the operator.
    owner: String,
    credential: Zeroizing<String>,
    csrf: String,
    created: Instant,
    last: Instant,
    nonces: Vec<String>,
}

/// Every open session.
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    idle: Duration,
    max: Duration,
}

/// `bytes` bytes of OS randomness as hex (`None` if the OS has none to give).
pub(crate) fn random_hex(bytes: usize) -> Option<String> {
    let mut buf = vec![0u8; bytes];
    OsRng.try_fill_bytes(&mut buf).ok()?;
    Some(hex::encode(buf))
}

fn key_of(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Equality whose time does not depend on where the inputs differ (they
/// are hashed first, so their lengths do not show either).
pub(crate) fn same(a: &str, b: &str) -> bool {
    let (a, b): ([u8; 32], [u8; 32]) = (Sha256::digest(a).into(), Sha256::digest(b).into());
    a.iter().zip(&b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    /// Sessions ending after `idle` unused or `max` after sign-in.
    pub(crate) fn new(idle: Duration, max: Duration) -> Self {
        Sessions { map: Mutex::new(HashMap::new()), idle, max }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn live(&self, s: &Session, now: Instant) -> bool {
        now.duration_since(s.last) < self.idle && now.duration_since(s.created) < self.max
    }

    /// Opens a session for `credential` of `owner` (a tenant id, or empty
    /// for the operator); returns its id (for the cookie).
    pub(crate) fn open(&self, owner: &str, credential: &str) -> Option<String> {
        let id = random_hex(32)?;
        let csrf = random_hex(32)?;
        let now = Instant::now();
        let mut map = self.lock();
        let owned = map.values().filter(|s| s.owner == owner).count();
        if owned >= MAX_PER_OWNER || map.len() >= MAX_SESSIONS {
            map.retain(|_, s| self.live(s, now));
        }
        let evict_from = |map: &HashMap<[u8; 32], Session>, owner: &str| {
            map.iter().filter(|(_, s)| s.owner == owner).min_by_key(|(_, s)| s.last).map(|(k, _)| *k)
        };
        if map.values().filter(|s| s.owner == owner).count() >= MAX_PER_OWNER
            && let Some(oldest) = evict_from(&map, owner)
        {
            map.remove(&oldest);
        }
        if map.len() >= MAX_SESSIONS {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for s in map.values() {
                *counts.entry(s.owner.as_str()).or_default() += 1;
            }
            let largest = counts.into_iter().max_by_key(|(_, n)| *n).map(|(o, _)| o.to_string());
            if let Some(oldest) = largest.and_then(|o| evict_from(&map, &o)) {
                map.remove(&oldest);
            }
        }
        let session = Session {
            owner: owner.to_string(),
            credential: Zeroizing::new(credential.to_string()),
            csrf,
            created: now,
            last: now,
            nonces: Vec::new(),
        };
        map.insert(key_of(&id), session);
        Some(id)
    }

    /// The live session of cookie value `id` (and marks it used); an
    /// expired one is removed.
    pub(crate) fn find(&self, id: &str) -> Option<Found> {
        if id.len() != 64 {
            return None;
        }
        let key = key_of(id);
        let now = Instant::now();
        let mut map = self.lock();
        let s = map.get_mut(&key)?;
        if !self.live(s, now) {
            map.remove(&key);
            return None;
        }
        s.last = now;
        Some(Found { key, credential: s.credential.clone(), csrf: s.csrf.clone() })
    }

    /// Ends a session.
    pub(crate) fn close(&self, key: &[u8; 32]) {
        self.lock().remove(key);
    }

    /// A new one-time nonce for a form of session `key`.
    pub(crate) fn nonce(&self, key: &[u8; 32]) -> Option<String> {
        let nonce = random_hex(16)?;
        let mut map = self.lock();
        let s = map.get_mut(key)?;
        if s.nonces.len() >= MAX_NONCES {
            s.nonces.remove(0);
        }
        s.nonces.push(nonce.clone());
        Some(nonce)
    }

    /// Uses up `nonce` of session `key`: true once, false after.
    pub(crate) fn take_nonce(&self, key: &[u8; 32], nonce: &str) -> bool {
        let mut map = self.lock();
        let Some(s) = map.get_mut(key) else { return false };
        match s.nonces.iter().position(|n| same(n, nonce)) {
            Some(i) => {
                s.nonces.remove(i);
                true
            }
            None => false,
        }
    }

    /// Sessions open now (expired ones included until they are looked at).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> Sessions {
        Sessions::new(Duration::from_secs(60), Duration::from_secs(3600))
    }

    #[test]
    fn a_session_is_found_by_its_id_and_keeps_only_its_hash() {
        let s = sessions();
        let id = s.open("", "wca_x").unwrap();
        assert_eq!(id.len(), 64);
        let found = s.find(&id).unwrap();
        assert_eq!(found.credential.as_str(), "wca_x");
        assert_eq!(found.key, key_of(&id));
        assert!(!s.lock().contains_key(id.as_bytes()));
        assert!(s.find(&id[..63]).is_none());
        let mut other = id.clone();
        other.replace_range(0..1, if id.starts_with('0') { "1" } else { "0" });
        assert!(s.find(&other).is_none());
    }

    #[test]
    fn idle_and_absolute_lifetimes_end_a_session() {
        let s = Sessions::new(Duration::from_millis(50), Duration::from_secs(3600));
        let id = s.open("t", "c").unwrap();
        std::thread::sleep(Duration::from_millis(80));
        assert!(s.find(&id).is_none());
        assert_eq!(s.len(), 0);
        let s = Sessions::new(Duration::from_secs(60), Duration::from_millis(50));
        let id = s.open("t", "c").unwrap();
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(15));
            let _ = s.find(&id);
        }
        std::thread::sleep(Duration::from_millis(30));
        assert!(s.find(&id).is_none(), "use does not extend the absolute lifetime");
    }

    #[test]
    fn a_nonce_is_taken_once_and_only_by_its_session() {
        let s = sessions();
        let a = s.find(&s.open("t", "a").unwrap()).unwrap();
        let b = s.find(&s.open("t", "b").unwrap()).unwrap();
        let n = s.nonce(&a.key).unwrap();
        assert!(!s.take_nonce(&b.key, &n));
        assert!(s.take_nonce(&a.key, &n));
        assert!(!s.take_nonce(&a.key, &n));
    }

    #[test]
    fn one_owner_signing_in_again_and_again_ends_only_its_own_sessions() {
        let s = sessions();
        let operator = s.open("", "op").unwrap();
        let beta = s.open("beta", "b").unwrap();
        let first = s.open("acme", "a").unwrap();
        for _ in 0..MAX_SESSIONS {
            s.open("acme", "a").unwrap();
        }
        assert_eq!(s.len(), MAX_PER_OWNER + 2);
        assert!(s.find(&first).is_none(), "acme's least recently used session went first");
        assert!(s.find(&operator).is_some() && s.find(&beta).is_some(), "no one else's");
    }

    #[test]
    fn the_number_of_sessions_is_bounded_and_the_largest_owner_gives_way() {
        let s = sessions();
        let owners = MAX_SESSIONS / MAX_PER_OWNER + 1;
        for o in 0..owners {
            for _ in 0..MAX_PER_OWNER {
                s.open(&format!("t{o}"), "x").unwrap();
            }
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        let small = s.open("small", "x").unwrap();
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.find(&small).is_some());
    }

    #[test]
    fn same_compares_whole_values() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
        assert!(!same("", "a"));
    }
}
