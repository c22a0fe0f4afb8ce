//! Every row a tenant owns, exported in one read transaction and imported
//! in one write transaction: what backups are made of ([`crate::backup`]).
//!
//! A dump holds the tenant's record, policy, wrapped data key and memory
//! usage (tables keyed by the tenant), the rows of every table keyed
//! `tenant \0 …` as they are stored (memory, sealed secrets, installed
//! skills and their components, agents, sessions, model usage, channels,
//! usage, messages), its cron jobs, and the due index of its pending
//! messages. Secrets stay sealed: nothing here decrypts.
//!
//! Tokens are credentials, not data: a dump carries none, and an import
//! leaves the tenant's tokens in the target database as they are.
//!
//! The table definitions repeat, by name and type, those of the modules
//! that own the tables (redb checks both when a table is opened).

use super::{Db, StoreError, tenant_prefix};
use crate::ids::TenantId;
use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const TENANTS: TableDefinition<&str, &str> = TableDefinition::new("tenants");
const POLICIES: TableDefinition<&str, &str> = TableDefinition::new("policies");
const TENANT_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenant_keys");
const MEMORY_USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("memory_usage");
const CRON_JOBS: TableDefinition<&str, &str> = TableDefinition::new("cron_jobs");
const CRON_DUE: TableDefinition<(u64, &str), ()> = TableDefinition::new("cron_due");
const CRON_OWNER: TableDefinition<&[u8], ()> = TableDefinition::new("cron_owner");
const OUTBOX_DUE: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("outbox_due");

/// The tables keyed `tenant \0 …` whose values are bytes.
const BYTE_TABLES: [&str; 3] = ["memory", "secrets", "skill_components"];
/// The tables keyed `tenant \0 …` whose values are text.
const TEXT_TABLES: [&str; 8] =
    ["skills", "agents", "sessions", "llm_usage", "channels", "replays", "usage", "outbox"];

fn bytes_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

fn text_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static str> {
    TableDefinition::new(name)
}

/// Bytes, as base64 text in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// Every row one tenant owns (see the module documentation).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRows {
    /// The tenant.
    pub tenant: String,
    /// Its record, as stored (JSON).
    pub record: String,
    /// Its policy, as stored (JSON), if it has one.
    pub policy: Option<String>,
    /// Its data key, wrapped by the master key, if it has one.
    pub data_key: Option<Bytes>,
    /// Its memory usage (entries, bytes), if recorded.
    pub memory_usage: Option<(u64, u64)>,
    /// The rows of each table keyed `tenant \0 …`: table → (key, value).
    pub tables: BTreeMap<String, Vec<(Bytes, Bytes)>>,
    /// Its cron jobs: id → job (JSON), as stored.
    pub cron_jobs: Vec<(String, String)>,
    /// The due index of its pending messages: (next attempt, key).
    pub outbox_due: Vec<(u64, Bytes)>,
}

impl TenantRows {
    /// Checks that every row belongs to the tenant and decodes as its
    /// table expects; the tenant's id.
    pub fn check(&self) -> Result<TenantId, String> {
        let tenant = TenantId::parse(&self.tenant).map_err(|e| e.to_string())?;
        let prefix = tenant_prefix(&tenant);
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Record {
            created: u64,
            suspended: bool,
        }
        serde_json::from_str::<Record>(&self.record).map_err(|e| format!("tenant {tenant}'s record: {e}"))?;
        if let Some(p) = &self.policy {
            serde_json::from_str::<crate::policy::TenantPolicy>(p)
                .map_err(|e| format!("tenant {tenant}'s policy: {e}"))?;
        }
        for (table, rows) in &self.tables {
            let text = TEXT_TABLES.contains(&table.as_str());
            if !text && !BYTE_TABLES.contains(&table.as_str()) {
                return Err(format!("tenant {tenant}: unknown table {table:?}"));
            }
            for (k, v) in rows {
                if !k.0.starts_with(&prefix) {
                    return Err(format!("tenant {tenant}: a row of {table} belongs to another tenant"));
                }
                if text && std::str::from_utf8(&v.0).is_err() {
                    return Err(format!("tenant {tenant}: a row of {table} is not text"));
                }
            }
        }
        for (id, json) in &self.cron_jobs {
            let job: crate::cron::Job =
                serde_json::from_str(json).map_err(|e| format!("tenant {tenant}: cron job {id}: {e}"))?;
            if job.id != *id || job.tenant != tenant || job.skill.is_empty() || job.skill.contains('\0') {
                return Err(format!("tenant {tenant}: cron job {id} does not belong to it"));
            }
        }
        if self.outbox_due.iter().any(|(_, k)| !k.0.starts_with(&prefix)) {
            return Err(format!("tenant {tenant}: a pending message belongs to another tenant"));
        }
        Ok(tenant)
    }
}

/// The rows of `table` whose keys start with `prefix`.
fn prefixed_rows<V: redb::Value + 'static>(
    table: &impl ReadableTable<&'static [u8], V>,
    prefix: &[u8],
    value: impl Fn(V::SelfType<'_>) -> Vec<u8>,
) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
    let mut out = Vec::new();
    for item in table.range(prefix..)? {
        let (k, v) = item?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push((Bytes(k.value().to_vec()), Bytes(value(v.value()))));
    }
    Ok(out)
}

fn export_one(txn: &ReadTransaction, tenant: &TenantId) -> Result<Option<TenantRows>, StoreError> {
    let id = tenant.as_str();
    let Some(record) = txn.open_table(TENANTS)?.get(id)?.map(|v| v.value().to_string()) else {
        return Ok(None);
    };
    let prefix = tenant_prefix(tenant);
    let mut tables = BTreeMap::new();
    for name in BYTE_TABLES {
        tables.insert(
            name.to_string(),
            prefixed_rows(&txn.open_table(bytes_table(name))?, &prefix, |v| v.to_vec())?,
        );
    }
    for name in TEXT_TABLES {
        let rows = prefixed_rows(&txn.open_table(text_table(name))?, &prefix, |v| v.as_bytes().to_vec())?;
        tables.insert(name.to_string(), rows);
    }
    let jobs = txn.open_table(CRON_JOBS)?;
    let mut cron_jobs = Vec::new();
    for (k, _) in prefixed_rows(&txn.open_table(CRON_OWNER)?, &prefix, |()| Vec::new())? {
        // `tenant \0 skill \0 id`: the id follows the last separator.
        let id = String::from_utf8_lossy(k.0.rsplit(|&b| b == 0).next().unwrap_or_default()).into_owned();
        if let Some(json) = jobs.get(id.as_str())? {
            cron_jobs.push((id, json.value().to_string()));
        }
    }
    let mut outbox_due = Vec::new();
    for item in txn.open_table(OUTBOX_DUE)?.iter()? {
        let (k, _) = item?;
        let (at, key) = k.value();
        if key.starts_with(&prefix) {
            outbox_due.push((at, Bytes(key.to_vec())));
        }
    }
    Ok(Some(TenantRows {
        tenant: id.to_string(),
        record,
        policy: txn.open_table(POLICIES)?.get(id)?.map(|v| v.value().to_string()),
        data_key: txn.open_table(TENANT_KEYS)?.get(id)?.map(|v| Bytes(v.value().to_vec())),
        memory_usage: txn.open_table(MEMORY_USAGE)?.get(id)?.map(|v| v.value()),
        tables,
        cron_jobs,
        outbox_due,
    }))
}

/// Replaces everything `rows` covers of its tenant (all but its tokens) by
/// `rows`, within `txn`.
fn import_one(txn: &WriteTransaction, tenant: &TenantId, rows: &TenantRows) -> Result<(), StoreError> {
    let id = tenant.as_str();
    txn.open_table(TENANTS)?.insert(id, rows.record.as_str())?;
    super::memory::purge(txn, tenant)?;
    super::policy::purge(txn, tenant)?;
    super::secrets::purge(txn, tenant)?;
    super::cron::purge(txn, tenant)?;
    super::outbox::purge(txn, tenant)?;
    super::skills::purge(txn, tenant)?;
    super::usage::purge(txn, tenant)?;
    super::agents::purge(txn, tenant)?;
    super::channels::purge(txn, tenant)?;
    super::replays::purge(txn, tenant)?;
    if let Some(p) = &rows.policy {
        txn.open_table(POLICIES)?.insert(id, p.as_str())?;
    }
    if let Some(k) = &rows.data_key {
        txn.open_table(TENANT_KEYS)?.insert(id, k.0.as_slice())?;
    }
    if let Some(u) = rows.memory_usage {
        txn.open_table(MEMORY_USAGE)?.insert(id, u)?;
    }
    for (name, table_rows) in &rows.tables {
        if BYTE_TABLES.contains(&name.as_str()) {
            let mut table = txn.open_table(bytes_table(name))?;
            for (k, v) in table_rows {
                table.insert(k.0.as_slice(), v.0.as_slice())?;
            }
        } else {
            let mut table = txn.open_table(text_table(name))?;
            for (k, v) in table_rows {
                let v = std::str::from_utf8(&v.0).map_err(|e| StoreError::Invalid(e.to_string()))?;
                table.insert(k.0.as_slice(), v)?;
            }
        }
    }
    let (mut jobs, mut due, mut owner) =
        (txn.open_table(CRON_JOBS)?, txn.open_table(CRON_DUE)?, txn.open_table(CRON_OWNER)?);
    for (job_id, json) in &rows.cron_jobs {
        let job: crate::cron::Job =
            serde_json::from_str(json).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if jobs.get(job_id.as_str())?.is_some() {
            return Err(StoreError::Invalid(format!("cron job {job_id} exists in another tenant")));
        }
        jobs.insert(job_id.as_str(), json.as_str())?;
        due.insert((job.next_run, job_id.as_str()), ())?;
        let key = [id.as_bytes(), b"\0", job.skill.as_bytes(), b"\0", job_id.as_bytes()].concat();
        owner.insert(key.as_slice(), ())?;
    }
    let mut outbox_due = txn.open_table(OUTBOX_DUE)?;
    for (at, key) in &rows.outbox_due {
        outbox_due.insert((*at, key.0.as_slice()), ())?;
    }
    Ok(())
}

impl Db {
    /// Every row of each tenant in `tenants` (all but its tokens), read in
    /// one transaction, so the dumps are one consistent snapshot.
    /// `StoreError::Invalid` names a tenant that does not exist.
    pub fn export_tenants(&self, tenants: &[TenantId]) -> Result<Vec<TenantRows>, StoreError> {
        let txn = self.db.begin_read()?;
        tenants
            .iter()
            .map(|t| export_one(&txn, t)?.ok_or_else(|| StoreError::Invalid(format!("no tenant {t}"))))
            .collect()
    }

    /// Replaces, for each dump, everything its tenant owns but its tokens by
    /// the dump, in one durable transaction: on any error nothing changes.
    /// Other tenants are untouched. Each dump is checked first
    /// ([`TenantRows::check`]); a tenant twice, or a cron job id held by
    /// another tenant, is `StoreError::Invalid`.
    pub fn import_tenants(&self, dumps: &[TenantRows]) -> Result<(), StoreError> {
        let mut seen = BTreeSet::new();
        let mut checked = Vec::with_capacity(dumps.len());
        for d in dumps {
            let tenant = d.check().map_err(StoreError::Invalid)?;
            if !seen.insert(tenant.clone()) {
                return Err(StoreError::Invalid(format!("tenant {tenant} appears twice")));
            }
            checked.push((tenant, d));
        }
        let txn = self.db.begin_write()?;
        for (tenant, d) in &checked {
            import_one(&txn, tenant, d)?;
        }
        let committed = txn.commit();
        self.credentials_changed();
        committed?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{db, t};
    use crate::store::{Scope, StoreError};
    use crate::tenants::Tenant;

    fn setup(db: &Db, id: &str, value: &str) {
        let tenant = t(id);
        db.tenant_create(&Tenant { id: tenant.clone(), created: 1, suspended: false }).unwrap();
        db.memory_set(Scope { tenant: &tenant, user: None }, "k", value, &Default::default()).unwrap();
        db.put_secret_key(&tenant, b"wrapped").unwrap();
        db.put_secret(&tenant, "S", value.as_bytes()).unwrap();
    }

    fn memory(db: &Db, id: &str) -> Option<String> {
        db.memory_get(Scope { tenant: &t(id), user: None }, "k").unwrap()
    }

    #[test]
    fn an_import_restores_one_tenant_and_leaves_the_other() {
        let (_d, db) = db();
        setup(&db, "a", "a1");
        setup(&db, "b", "b1");
        let dump = db.export_tenants(&[t("a")]).unwrap();
        assert_eq!(dump[0].tables["memory"].len(), 1);
        db.memory_set(Scope { tenant: &t("a"), user: None }, "k", "a2", &Default::default()).unwrap();
        db.memory_set(Scope { tenant: &t("b"), user: None }, "k", "b2", &Default::default()).unwrap();
        db.put_secret(&t("a"), "T", b"new").unwrap();
        db.import_tenants(&dump).unwrap();
        assert_eq!(memory(&db, "a").as_deref(), Some("a1"));
        assert_eq!(memory(&db, "b").as_deref(), Some("b2"), "the other tenant keeps its change");
        assert_eq!(db.secret_names(&t("a")).unwrap(), ["S"]);
        assert_eq!(db.secret(&t("a"), "S").unwrap().as_deref(), Some(b"a1".as_slice()));
        assert_eq!(db.export_tenants(&[t("a")]).unwrap(), dump, "the tenant is back exactly");
        assert!(matches!(db.export_tenants(&[t("nobody")]), Err(StoreError::Invalid(_))));
    }

    /// A table added to the store must be backed up here or be listed as
    /// left out on purpose; otherwise backups would silently miss it.
    #[test]
    fn every_table_is_backed_up_or_left_out_on_purpose() {
        use redb::TableHandle;
        // Credentials and gateway-wide state: not a tenant's data.
        const LEFT_OUT: [&str; 4] = ["tokens", "tenant_tokens", "meta", "trusted_keys"];
        let (_d, db) = db();
        let txn = db.db.begin_read().unwrap();
        let mut missing = Vec::new();
        for table in txn.list_tables().unwrap() {
            let name = table.name().to_string();
            let covered = [TENANTS.name(), POLICIES.name(), TENANT_KEYS.name(), MEMORY_USAGE.name()]
                .into_iter()
                .chain([CRON_JOBS.name(), CRON_DUE.name(), CRON_OWNER.name(), OUTBOX_DUE.name()])
                .chain(BYTE_TABLES)
                .chain(TEXT_TABLES)
                .chain(LEFT_OUT)
                .any(|n| n == name);
            if !covered {
                missing.push(name);
            }
        }
        assert!(missing.is_empty(), "tables neither backed up nor left out: {missing:?}");
    }

    #[test]
    fn a_dump_reaching_into_another_tenant_is_refused_whole() {
        let (_d, db) = db();
        setup(&db, "a", "a1");
        setup(&db, "ab", "x");
        let mut dump = db.export_tenants(&[t("a")]).unwrap();
        db.memory_set(Scope { tenant: &t("a"), user: None }, "k", "a2", &Default::default()).unwrap();
        let foreign = (Bytes(b"ab\0\0k".to_vec()), Bytes(b"evil".to_vec()));
        dump[0].tables.get_mut("memory").unwrap().push(foreign);
        assert!(matches!(db.import_tenants(&dump), Err(StoreError::Invalid(_))));
        assert_eq!(memory(&db, "a").as_deref(), Some("a2"), "nothing changed");
        assert_eq!(memory(&db, "ab").as_deref(), Some("x"));
        let mut twice = db.export_tenants(&[t("a")]).unwrap();
        twice.push(twice[0].clone());
        assert!(matches!(db.import_tenants(&twice), Err(StoreError::Invalid(_))));
    }
}
