//! Format 2's tenant rows: as redb stored them (keys with the tenant in
//! front, a few tables by name, the derived indexes included). A format 2
//! backup is read by turning them into today's logical rows, so a backup
//! made by the release before restores on this one.

use crate::ids::TenantId;
use crate::store::Bytes;
use crate::store::TenantRows;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One tenant's rows in format 2.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Format2Rows {
    tenant: String,
    record: String,
    policy: Option<String>,
    data_key: Option<Bytes>,
    #[allow(dead_code)]
    memory_usage: Option<(u64, u64)>,
    tables: BTreeMap<String, Vec<(Bytes, Bytes)>>,
    cron_jobs: Vec<(String, String)>,
    #[allow(dead_code)]
    outbox_due: Vec<(u64, Bytes)>,
}

impl Format2Rows {
    /// The same rows as logical rows: the tenant prefix cut off every key,
    /// the tenant's record, policy and data key as one-row families, and
    /// the derived indexes dropped (an import rebuilds them). A key of
    /// another tenant is refused.
    pub(super) fn into_rows(self) -> Result<TenantRows, String> {
        let tenant = TenantId::parse(&self.tenant).map_err(|e| e.to_string())?;
        let prefix = [tenant.as_str().as_bytes(), b"\0"].concat();
        let mut families = BTreeMap::new();
        let one = |v: Vec<u8>| vec![(Bytes::default(), Bytes(v))];
        families.insert("tenant".to_string(), one(self.record.into_bytes()));
        if let Some(p) = self.policy {
            families.insert("policy".into(), one(p.into_bytes()));
        }
        if let Some(k) = self.data_key {
            families.insert("data_key".into(), one(k.0));
        }
        for (table, rows) in self.tables {
            let mut out = Vec::with_capacity(rows.len());
            for (k, v) in rows {
                let key = k
                    .0
                    .strip_prefix(prefix.as_slice())
                    .ok_or_else(|| format!("tenant {tenant}: a row of {table} belongs to another tenant"))?;
                out.push((Bytes(key.to_vec()), v));
            }
            if !out.is_empty() {
                families.insert(table, out);
            }
        }
        let mut jobs: Vec<(Bytes, Bytes)> = self
            .cron_jobs
            .into_iter()
            .map(|(id, json)| (Bytes(id.into_bytes()), Bytes(json.into_bytes())))
            .collect();
        jobs.sort();
        if !jobs.is_empty() {
            families.insert("cron_jobs".into(), jobs);
        }
        Ok(TenantRows { tenant: self.tenant, families })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_2_tenant_becomes_logical_rows_and_a_foreign_key_is_refused() {
        let json = r#"{"tenant":"acme","record":"{\"created\":1,\"suspended\":false}","policy":null,
            "data_key":"AAE=","memory_usage":[1,5],
            "tables":{"memory":[["YWNtZQAAaw==","dmFsdWU="]]},
            "cron_jobs":[],"outbox_due":[]}"#;
        let rows: Format2Rows = serde_json::from_str(json).unwrap();
        let rows = rows.into_rows().unwrap();
        assert_eq!(rows.check().unwrap().as_str(), "acme");
        assert_eq!(rows.rows("memory"), [(Bytes(b"\0k".to_vec()), Bytes(b"value".to_vec()))]);
        assert_eq!(rows.one("data_key"), Some([0u8, 1].as_slice()));
        // "ab\0\0k": a memory row of tenant "ab".
        let foreign = json.replace("YWNtZQAAaw==", "YWIAAGs=");
        let rows: Format2Rows = serde_json::from_str(&foreign).unwrap();
        assert!(rows.into_rows().unwrap_err().contains("another tenant"));
    }
}
