//! Credentials: `tokens(id, tenant, record)` (records hold SHA-256 hashes
//! only, never a secret) and the admin key's hash in `meta`.

use super::leases::FenceCheck;
use super::{PgBackend, StoreError, bump_credentials};
use crate::ids::TenantId;
use crate::records::TokenInfo;
use crate::store::codec::{token_decode, token_encode};

const ADMIN_KEY: &str = "admin_key_sha256";

/// A token's stored id as text (ids are bytes, as the redb keys are).
fn id_text(id: &[u8]) -> String {
    String::from_utf8_lossy(id).into_owned()
}

impl PgBackend {
    /// Stores a new token, durably; `false` if its id is taken.
    pub fn token_insert(&self, info: &TokenInfo, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let fence = self.fence_for(info.tenant.as_str())?;
        let (id, tenant, json) =
            (info.id.as_bytes().to_vec(), info.tenant.to_string(), token_encode(info, hash)?);
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO tokens (id, tenant, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                Ok(c.execute(&stmt, &[&id, &tenant, &json]).await? == 1)
            })
        })
    }

    /// A token's record and hash, by id (over all tenants: the caller checks
    /// the tenant the presented token names against it).
    pub fn token(&self, id: &str) -> Result<Option<(TokenInfo, [u8; 32])>, StoreError> {
        let id = id.as_bytes().to_vec();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT record FROM tokens WHERE id = $1").await?;
                let row = c.query_opt(&stmt, &[&id]).await?;
                row.map(|r| token_decode(&id_text(&id), r.get(0))).transpose()
            })
        })
    }

    /// A tenant's tokens, by id.
    pub fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenInfo>, StoreError> {
        let owner = tenant.clone();
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT id, record FROM tokens WHERE tenant = $1 ORDER BY id").await?;
                let mut out = Vec::new();
                for row in c.query(&stmt, &[&tenant]).await? {
                    let (info, _) = token_decode(&id_text(row.get(0)), row.get(1))?;
                    if info.tenant == owner {
                        out.push(info);
                    }
                }
                Ok(out)
            })
        })
    }

    /// Applies `change` to token `id` of `tenant`, durably; `None` if the
    /// tenant has no such token. Moves the credential generation.
    pub fn token_update(
        &self,
        tenant: &TenantId,
        id: &str,
        change: &mut dyn FnMut(&mut TokenInfo),
    ) -> Result<Option<TokenInfo>, StoreError> {
        let result = self.token_change(tenant, id, change, true);
        self.credentials_changed();
        result
    }

    /// Records that token `id` of `tenant` was used at `now`, durably. This
    /// changes no credential's validity, so it leaves the credential
    /// generation alone.
    pub fn token_touch(
        &self,
        tenant: &TenantId,
        id: &str,
        now: u64,
    ) -> Result<Option<TokenInfo>, StoreError> {
        self.token_change(tenant, id, &mut |i| i.last_used = Some(now), false)
    }

    /// Reads the token locked, applies `change` on this thread, writes it
    /// back in the same transaction.
    fn token_change(
        &self,
        tenant: &TenantId,
        id: &str,
        change: &mut dyn FnMut(&mut TokenInfo),
        credentials: bool,
    ) -> Result<Option<TokenInfo>, StoreError> {
        // A credential change is a write of the tenant's state (at its
        // owner); a touch is bookkeeping any replica may do.
        let fence = if credentials { self.fence_for(tenant.as_str())? } else { FenceCheck::none() };
        let key = id.as_bytes().to_vec();
        let owner = tenant.clone();
        self.transact_with(
            move |tx| {
                Box::pin(async move {
                    fence.check(tx).await?;
                    let stmt =
                        tx.prepare_cached("SELECT record FROM tokens WHERE id = $1 FOR UPDATE").await?;
                    let row = tx.query_opt(&stmt, &[&key]).await?;
                    let current = row.map(|r| token_decode(&id_text(&key), r.get(0))).transpose()?;
                    Ok((key, current))
                })
            },
            move |(key, current)| match current {
                Some((mut info, hash)) if info.tenant == owner => {
                    change(&mut info);
                    Some(token_encode(&info, &hash).map(|json| (key, json, info)))
                }
                _ => None,
            },
            move |tx, decided| {
                Box::pin(async move {
                    let Some(decided) = decided else { return Ok(None) };
                    let (key, json, info) = decided?;
                    let stmt = tx.prepare_cached("UPDATE tokens SET record = $2 WHERE id = $1").await?;
                    tx.execute(&stmt, &[&key, &json]).await?;
                    if credentials {
                        bump_credentials(tx).await?;
                    }
                    Ok(Some(info))
                })
            },
        )
    }

    /// Deletes token `id` of `tenant`, durably; `false` if it has no such token.
    pub fn token_remove(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (owner, key) = (tenant.clone(), id.as_bytes().to_vec());
        let out = self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt = tx.prepare_cached("SELECT record FROM tokens WHERE id = $1 FOR UPDATE").await?;
                let Some(row) = tx.query_opt(&stmt, &[&key]).await? else { return Ok(false) };
                let (info, _) = token_decode(&id_text(&key), row.get(0))?;
                if info.tenant != owner {
                    return Ok(false);
                }
                let stmt = tx.prepare_cached("DELETE FROM tokens WHERE id = $1").await?;
                tx.execute(&stmt, &[&key]).await?;
                bump_credentials(tx).await?;
                Ok(true)
            })
        });
        self.credentials_changed();
        out
    }

    /// The stored hash of the operator's admin key.
    pub fn admin_key_hash(&self) -> Result<Option<[u8; 32]>, StoreError> {
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT value FROM meta WHERE name = $1").await?;
                let row = c.query_opt(&stmt, &[&ADMIN_KEY]).await?;
                Ok(row.and_then(|r| r.get::<_, &[u8]>(0).try_into().ok()))
            })
        })
    }

    /// Replaces the hash of the operator's admin key, durably.
    pub fn set_admin_key_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        let hash = hash.to_vec();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO meta (name, value) VALUES ($1, $2) \
                         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                    )
                    .await?;
                c.execute(&stmt, &[&ADMIN_KEY, &hash]).await?;
                Ok(())
            })
        })
    }
}
