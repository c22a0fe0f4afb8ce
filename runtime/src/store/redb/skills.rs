//! Installed skills: `tenant \0 name` → record (JSON) and `tenant \0 name` →
//! the component's bytes, so the gateway can reload every tenant's skills
//! after a restart without anything outside the database.

use super::RedbBackend;
use super::{remove_prefixed, tenant_prefix};
use crate::ids::TenantId;
use crate::records::InstalledSkill;
use crate::store::StoreError;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const SKILLS: TableDefinition<&[u8], &str> = TableDefinition::new("skills");
const COMPONENTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("skill_components");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SKILLS)?;
    txn.open_table(COMPONENTS)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    let prefix = tenant_prefix(tenant);
    remove_prefixed(&mut txn.open_table(SKILLS)?, &prefix)?;
    remove_prefixed(&mut txn.open_table(COMPONENTS)?, &prefix)?;
    Ok(())
}

fn key(tenant: &TenantId, name: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(name.as_bytes());
    k
}

fn decode(json: &str) -> Result<InstalledSkill, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored skill is corrupt: {e}")))
}

impl RedbBackend {
    /// Installs or replaces a skill of `tenant`, durably, if what is
    /// installed under its name is still `expected` (the digest of the
    /// installed component, or `None` for nothing installed); `false` and
    /// nothing written otherwise (a concurrent install won).
    pub(super) fn skill_put(
        &self,
        tenant: &TenantId,
        skill: &InstalledSkill,
        component: &[u8],
        expected: Option<&str>,
    ) -> Result<bool, StoreError> {
        let k = key(tenant, &skill.name);
        let json = serde_json::to_string(skill).map_err(|e| StoreError::Backend(e.to_string()))?;
        let txn = self.db.begin_write()?;
        let written = {
            let mut skills = txn.open_table(SKILLS)?;
            let current = skills.get(k.as_slice())?.map(|v| decode(v.value())).transpose()?;
            if current.as_ref().map(|c| c.digest.as_str()) != expected {
                false
            } else {
                skills.insert(k.as_slice(), json.as_str())?;
                txn.open_table(COMPONENTS)?.insert(k.as_slice(), component)?;
                true
            }
        };
        txn.commit()?;
        Ok(written)
    }

    /// Replaces the stored component bytes of an installed skill without
    /// touching its record (and so its pinned digest): for repair tools and
    /// for the tests that prove a changed component is refused at load.
    #[doc(hidden)]
    pub(super) fn skill_component_overwrite(
        &self,
        tenant: &TenantId,
        name: &str,
        component: &[u8],
    ) -> Result<(), StoreError> {
        let k = key(tenant, name);
        let txn = self.db.begin_write()?;
        txn.open_table(COMPONENTS)?.insert(k.as_slice(), component)?;
        txn.commit()?;
        Ok(())
    }

    /// Replaces the stored record of an installed skill as given (repair and
    /// tests: a changed manifest must be refused at load).
    #[doc(hidden)]
    pub(super) fn skill_record_overwrite(
        &self,
        tenant: &TenantId,
        skill: &InstalledSkill,
    ) -> Result<(), StoreError> {
        let k = key(tenant, &skill.name);
        let json = serde_json::to_string(skill).map_err(|e| StoreError::Backend(e.to_string()))?;
        let txn = self.db.begin_write()?;
        txn.open_table(SKILLS)?.insert(k.as_slice(), json.as_str())?;
        txn.commit()?;
        Ok(())
    }

    /// One installed skill of `tenant`, with its component's bytes.
    pub(super) fn skill(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<(InstalledSkill, Vec<u8>)>, StoreError> {
        let k = key(tenant, name);
        let txn = self.db.begin_read()?;
        let Some(json) = txn.open_table(SKILLS)?.get(k.as_slice())?.map(|v| v.value().to_string()) else {
            return Ok(None);
        };
        let bytes = txn.open_table(COMPONENTS)?.get(k.as_slice())?.map(|v| v.value().to_vec());
        match bytes {
            Some(bytes) => Ok(Some((decode(&json)?, bytes))),
            None => Err(StoreError::Backend(format!("skill {name} of {tenant} has no component"))),
        }
    }

    /// The skills installed for `tenant`, by name.
    pub(super) fn skills(&self, tenant: &TenantId) -> Result<Vec<InstalledSkill>, StoreError> {
        let txn = self.db.begin_read()?;
        super::values_prefixed(&txn.open_table(SKILLS)?, &tenant_prefix(tenant), decode)
    }

    /// Uninstalls a skill of `tenant`, durably; `false` if none of that name.
    pub(super) fn skill_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let k = key(tenant, name);
        let txn = self.db.begin_write()?;
        let removed = txn.open_table(SKILLS)?.remove(k.as_slice())?.is_some();
        txn.open_table(COMPONENTS)?.remove(k.as_slice())?;
        txn.commit()?;
        Ok(removed)
    }
}
