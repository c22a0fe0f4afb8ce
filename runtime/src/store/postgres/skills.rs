//! Installed skills: `skills(tenant, name, record)`, and the component
//! each runs: `skill_components(tenant, name, digest)` naming
//! `components(digest, bytes)`, which holds each distinct component once
//! however many installs (of any tenant) run it. A component row goes in
//! the transaction that removes the last install referring to it.
//!
//! Installs and removals of the same bytes serialise on a transaction lock
//! of the digest, so a removal never deletes a component another
//! transaction is about to refer to.

use super::{LockSpace, PgBackend, StoreError, Transaction, lock};
use crate::ids::TenantId;
use crate::records::InstalledSkill;
use sha2::{Digest, Sha256};

fn decode(json: &str) -> Result<InstalledSkill, StoreError> {
    super::codec::decode("skill", json)
}

/// The key of a component's row: the SHA-256 of its bytes, hex, computed
/// here (never taken from the record, which the repair tools may leave
/// pinned to other bytes).
pub(super) fn digest_of(component: &[u8]) -> String {
    hex::encode(Sha256::digest(component))
}

/// Deletes the component `digest` if no install refers to it any more.
/// Holds its lock.
async fn release(tx: &Transaction<'_>, digest: &str) -> Result<(), StoreError> {
    lock(tx, LockSpace::Component, digest).await?;
    let stmt = tx
        .prepare_cached(
            "DELETE FROM components WHERE digest = $1 \
             AND NOT EXISTS (SELECT 1 FROM skill_components WHERE digest = $1)",
        )
        .await?;
    tx.execute(&stmt, &[&digest]).await?;
    Ok(())
}

/// Points install (`tenant`, `name`) at `component` (whose digest is
/// `digest`), storing the bytes unless that digest is stored already, and
/// releases the component it ran before.
pub(super) async fn set_component(
    tx: &Transaction<'_>,
    tenant: &str,
    name: &[u8],
    digest: &str,
    component: &[u8],
) -> Result<(), StoreError> {
    let stmt = tx
        .prepare_cached("SELECT digest FROM skill_components WHERE tenant = $1 AND name = $2 FOR UPDATE")
        .await?;
    let old: Option<String> = tx.query_opt(&stmt, &[&tenant, &name]).await?.map(|r| r.get(0));
    // Both digests' locks, in one order, so two swaps cannot deadlock.
    let mut locks = vec![digest];
    locks.extend(old.as_deref().filter(|o| *o != digest));
    locks.sort_unstable();
    for d in &locks {
        lock(tx, LockSpace::Component, d).await?;
    }
    let stmt = tx.prepare_cached("SELECT 1 FROM components WHERE digest = $1").await?;
    if tx.query_opt(&stmt, &[&digest]).await?.is_none() {
        let stmt = tx.prepare_cached("INSERT INTO components (digest, bytes) VALUES ($1, $2)").await?;
        tx.execute(&stmt, &[&digest, &component]).await?;
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO skill_components (tenant, name, digest) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, name) DO UPDATE SET digest = EXCLUDED.digest",
        )
        .await?;
    tx.execute(&stmt, &[&tenant, &name, &digest]).await?;
    if let Some(old) = old.filter(|o| o != digest) {
        release(tx, &old).await?;
    }
    Ok(())
}

/// Removes the component reference of every install of `tenant`,
/// releasing their components, within `tx`.
pub(super) async fn purge(tx: &Transaction<'_>, tenant: &str) -> Result<(), StoreError> {
    let stmt = tx.prepare_cached("DELETE FROM skill_components WHERE tenant = $1 RETURNING digest").await?;
    let mut digests: Vec<String> = tx.query(&stmt, &[&tenant]).await?.iter().map(|r| r.get(0)).collect();
    digests.sort_unstable();
    digests.dedup();
    for d in &digests {
        release(tx, d).await?;
    }
    Ok(())
}

impl PgBackend {
    /// Installs or replaces a skill of `tenant`, durably, if what is
    /// installed under its name is still `expected` (the digest of the
    /// installed component, or `None` for nothing installed); `false` and
    /// nothing written otherwise (a concurrent install won).
    pub fn skill_put(
        &self,
        tenant: &TenantId,
        skill: &InstalledSkill,
        component: &[u8],
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let json = super::codec::encode(skill)?;
        let (tenant, name) = (tenant.to_string(), skill.name.as_bytes().to_vec());
        let (component, digest) = (component.to_vec(), digest_of(component));
        let expected = expected.map(str::to_string);
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt =
                    tx.prepare_cached("SELECT record FROM skills WHERE tenant = $1 AND name = $2 FOR UPDATE").await?;
                let current = tx.query_opt(&stmt, &[&tenant, &name]).await?;
                let current = current.map(|r| decode(r.get(0))).transpose()?;
                if current.as_ref().map(|c| c.digest.as_str()) != expected.as_deref() {
                    return Ok(false);
                }
                if current.is_some() {
                    let stmt =
                        tx.prepare_cached("UPDATE skills SET record = $3 WHERE tenant = $1 AND name = $2").await?;
                    tx.execute(&stmt, &[&tenant, &name, &json]).await?;
                } else {
                    // A concurrent first install of the name inserts first:
                    // this one then finds the row and lost, as redb's
                    // single writer would have it.
                    let stmt = tx
                        .prepare_cached(
                            "INSERT INTO skills (tenant, name, record) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        )
                        .await?;
                    if tx.execute(&stmt, &[&tenant, &name, &json]).await? == 0 {
                        return Ok(false);
                    }
                }
                set_component(tx, &tenant, &name, &digest, &component).await?;
                Ok(true)
            })
        })
    }

    /// Replaces the stored component bytes of an installed skill without
    /// touching its record (and so its pinned digest): for repair tools and
    /// for the tests that prove a changed component is refused at load.
    #[doc(hidden)]
    pub fn skill_component_overwrite(
        &self,
        tenant: &TenantId,
        name: &str,
        component: &[u8],
    ) -> Result<(), StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, name) = (tenant.to_string(), name.as_bytes().to_vec());
        let (component, digest) = (component.to_vec(), digest_of(component));
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move { set_component(tx, &tenant, &name, &digest, &component).await })
        })
    }

    /// Replaces the stored record of an installed skill as given (repair and
    /// tests: a changed manifest must be refused at load).
    #[doc(hidden)]
    pub fn skill_record_overwrite(
        &self,
        tenant: &TenantId,
        skill: &InstalledSkill,
    ) -> Result<(), StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let json = super::codec::encode(skill)?;
        let (tenant, name) = (tenant.to_string(), skill.name.as_bytes().to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO skills (tenant, name, record) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, name) DO UPDATE SET record = EXCLUDED.record",
                    )
                    .await?;
                c.execute(&stmt, &[&tenant, &name, &json]).await?;
                Ok(())
            })
        })
    }

    /// One installed skill of `tenant`, with its component's bytes.
    pub fn skill(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<(InstalledSkill, Vec<u8>)>, StoreError> {
        let (shown, key) = (format!("skill {name} of {tenant}"), name.as_bytes().to_vec());
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT s.record, c.bytes FROM skills s \
                         LEFT JOIN skill_components sc ON sc.tenant = s.tenant AND sc.name = s.name \
                         LEFT JOIN components c ON c.digest = sc.digest \
                         WHERE s.tenant = $1 AND s.name = $2",
                    )
                    .await?;
                let Some(row) = c.query_opt(&stmt, &[&tenant, &key]).await? else { return Ok(None) };
                match row.get::<_, Option<Vec<u8>>>(1) {
                    Some(bytes) => Ok(Some((decode(row.get(0))?, bytes))),
                    None => Err(StoreError::Backend(format!("{shown} has no component"))),
                }
            })
        })
    }

    /// The skills installed for `tenant`, by name.
    pub fn skills(&self, tenant: &TenantId) -> Result<Vec<InstalledSkill>, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT record FROM skills WHERE tenant = $1 ORDER BY name").await?;
                c.query(&stmt, &[&tenant]).await?.iter().map(|r| decode(r.get(0))).collect()
            })
        })
    }

    /// Uninstalls a skill of `tenant`, durably; `false` if none of that name.
    pub fn skill_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, name) = (tenant.to_string(), name.as_bytes().to_vec());
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt = tx.prepare_cached("DELETE FROM skills WHERE tenant = $1 AND name = $2").await?;
                let removed = tx.execute(&stmt, &[&tenant, &name]).await? > 0;
                let stmt = tx
                    .prepare_cached(
                        "DELETE FROM skill_components WHERE tenant = $1 AND name = $2 RETURNING digest",
                    )
                    .await?;
                if let Some(row) = tx.query_opt(&stmt, &[&tenant, &name]).await? {
                    release(tx, row.get(0)).await?;
                }
                Ok(removed)
            })
        })
    }
}
