//! Recently authenticated tenant tokens, so that a request with a valid
//! token needs no database read and no blocking thread.
//!
//! An entry is what [`crate::Runtime::authenticate`] read from the database (the
//! token's record and hash), stamped with the database's credential
//! generation taken *before* that read. A hit needs the same generation now
//! (no token was updated or removed and no tenant suspended, resumed or
//! deleted since), the presented token's hash equal to the stored one
//! (constant time), the tenant named in the token to be the record's, the
//! token unexpired and its `last_used` recent enough not to need a write.
//! Anything else misses and takes the full path, which audits refusals.
//! Only valid tokens are cached, so a stream of bad credentials cannot grow
//! it; it is emptied when it reaches [`MAX_ENTRIES`].

use crate::records::TokenInfo;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept at most.
pub const MAX_ENTRIES: usize = 65_536;

struct Entry {
    generation: u64,
    hash: [u8; 32],
    info: TokenInfo,
}

/// Valid tokens by id.
#[derive(Default)]
pub(crate) struct AuthCache(Mutex<HashMap<String, Entry>>);

impl AuthCache {
    /// Remembers a token found valid by a read made at `generation`.
    pub(crate) fn put(&self, generation: u64, hash: [u8; 32], info: TokenInfo) {
        let mut map = lock(&self.0);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(info.id.clone(), Entry { generation, hash, info });
    }

    pub(crate) fn get(&self, id: &str, generation: u64, hash: &[u8; 32]) -> Option<TokenInfo> {
        let map = lock(&self.0);
        let e = map.get(id)?;
        (e.generation == generation && crate::auth::constant_time_eq(&e.hash, hash)).then(|| e.info.clone())
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::Principal;
    use crate::clock::ManualClock;
    use crate::records::Role;
    use std::sync::Arc;

    fn setup() -> (tempfile::TempDir, crate::Runtime, ManualClock, String) {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000_000);
        let mut config = crate::RuntimeConfig::with_data_dir(dir.path().join("data"));
        config.pool.max_instances = 4;
        let rt = crate::Runtime::with_clock(config, Arc::new(clock.clone())).unwrap();
        let t = crate::ids::TenantId::parse("acme").unwrap();
        rt.create_tenant("test", &t).unwrap();
        let (_, token) = rt.mint_token("test", &t, Role::Member, "m").unwrap();
        (dir, rt, clock, token)
    }

    #[test]
    fn a_token_is_cached_only_after_the_full_path_accepts_it() {
        let (_d, rt, _c, token) = setup();
        assert!(rt.authenticate_cached(&token).is_none(), "nothing cached yet");
        let full = rt.authenticate(&token).unwrap();
        assert_eq!(rt.authenticate_cached(&token), Some(full));
        // A wrong secret for the same id, or another tenant's name on it, misses.
        let wrong = format!("{}0", &token[..token.len() - 1]);
        let wrong = if wrong == token { format!("{}1", &token[..token.len() - 1]) } else { wrong };
        assert!(rt.authenticate_cached(&wrong).is_none());
        assert!(rt.authenticate(&wrong).is_err());
        let other = token.replacen("wct_acme_", "wct_other_", 1);
        assert!(rt.authenticate_cached(&other).is_none());
        // Bad credentials never enter the cache.
        assert_eq!(rt.token_cache_len(), 1);
    }

    #[tokio::test]
    async fn revoking_suspending_or_deleting_invalidates_at_once() {
        let t = crate::ids::TenantId::parse("acme").unwrap();
        let (_d, rt, _c, token) = setup();
        let Principal::Token(info) = rt.authenticate(&token).unwrap() else { panic!() };
        rt.suspend_tenant("test", &t).unwrap();
        assert!(rt.authenticate_cached(&token).is_none(), "suspension");
        assert!(rt.authenticate(&token).is_err());
        rt.resume_tenant("test", &t).unwrap();
        rt.authenticate(&token).unwrap();
        assert!(rt.authenticate_cached(&token).is_some());
        rt.revoke_token("test", &t, &info.id).unwrap();
        assert!(rt.authenticate_cached(&token).is_none(), "revocation");
        assert!(rt.authenticate(&token).is_err());
        // Deletion: a second token, cached, stops at once.
        let (_, other) = rt.mint_token("test", &t, Role::Member, "n").unwrap();
        rt.authenticate(&other).unwrap();
        assert!(rt.authenticate_cached(&other).is_some());
        rt.delete_tenant("test", &t).await.unwrap();
        assert!(rt.authenticate_cached(&other).is_none(), "deletion");
        assert!(rt.authenticate(&other).is_err());
    }

    #[test]
    fn expiry_and_a_stale_last_use_fall_back_to_the_full_path() {
        let t = crate::ids::TenantId::parse("acme").unwrap();
        let (_d, rt, clock, token) = setup();
        let Principal::Token(info) = rt.authenticate(&token).unwrap() else { panic!() };
        // After a minute the full path must write last_used again.
        clock.advance(61);
        assert!(rt.authenticate_cached(&token).is_none());
        rt.authenticate(&token).unwrap();
        assert!(rt.authenticate_cached(&token).is_some());
        // A rotated token stops at the end of its grace period.
        rt.rotate_token("test", &t, &info.id, std::time::Duration::from_secs(30)).unwrap();
        rt.authenticate(&token).unwrap();
        assert!(rt.authenticate_cached(&token).is_some());
        clock.advance(31);
        assert!(rt.authenticate_cached(&token).is_none());
        assert!(rt.authenticate(&token).is_err());
    }
}
