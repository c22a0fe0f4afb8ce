//! Dumps on PostgreSQL: a tenant's rows of every family of
//! [`crate::store::dump::FAMILIES`], exported in one snapshot and imported
//! in one transaction.
//!
//! Every family but the three one-row ones (record, policy, data key) is a
//! table of `(tenant, key, value)` whose key column holds the dump's key
//! as is; skill components are the bytes their install refers to. The
//! derived rows (memory usage, and the due and owner columns of cron jobs
//! and messages) are rebuilt on import from the rows themselves.

use super::{PgBackend, StoreError, Transaction, bump_credentials, ordered, to_i64};
use crate::ids::TenantId;
use crate::store::dump::{Bytes, FAMILIES, TenantRows, outbox_head};
use std::collections::BTreeMap;

/// Where a family's rows are: its table, key column and value column, and
/// whether the value column is `text` (else `bytea`).
struct Columns {
    table: &'static str,
    key: &'static str,
    value: &'static str,
    text: bool,
}

const fn cols(table: &'static str, key: &'static str, value: &'static str, text: bool) -> Columns {
    Columns { table, key, value, text }
}

/// The columns of a family kept as `(tenant, key, value)` rows; `None` for
/// the one-row families and skill components.
fn columns(family: &str) -> Option<Columns> {
    Some(match family {
        "memory" => cols("memory", "key", "value", false),
        "secrets" => cols("secrets", "name", "sealed", false),
        "skills" => cols("skills", "name", "record", true),
        "agents" => cols("agents", "name", "spec", true),
        "sessions" => cols("sessions", "key", "session", true),
        "llm_usage" => cols("llm_usage", "key", "usage", true),
        "channels" => cols("channels", "name", "spec", true),
        "replays" => cols("replays", "key", "until", true),
        "usage" => cols("usage", "skill", "totals", true),
        "usage_hours" => cols("usage_hours", "key", "bucket", true),
        "outbox" => cols("outbox", "id", "message", true),
        "cron_jobs" => cols("cron_jobs", "id", "job", true),
        _ => return None,
    })
}

/// The one-row families: (table, value column, text).
fn one_row(family: &str) -> Option<(&'static str, &'static str, bool)> {
    Some(match family {
        "tenant" => ("tenants", "record", true),
        "policy" => ("policies", "policy", true),
        "data_key" => ("tenant_keys", "wrapped", false),
        _ => return None,
    })
}

/// `column` as bytes in a select list (`text` as its UTF-8 bytes).
fn as_bytes(column: &str, text: bool) -> String {
    if text { format!("convert_to({column}, 'UTF8')") } else { column.to_string() }
}

async fn export_family(
    tx: &Transaction<'_>,
    tenant: &str,
    family: &str,
) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
    let sql = if let Some((table, value, text)) = one_row(family) {
        format!("SELECT ''::bytea, {} FROM {table} WHERE tenant = $1", as_bytes(value, text))
    } else if let Some(c) = columns(family) {
        format!(
            "SELECT {}, {} FROM {} WHERE tenant = $1 ORDER BY {}",
            c.key,
            as_bytes(c.value, c.text),
            c.table,
            c.key
        )
    } else if family == "skill_components" {
        "SELECT sc.name, c.bytes FROM skill_components sc JOIN components c ON c.digest = sc.digest \
         WHERE sc.tenant = $1 ORDER BY sc.name"
            .to_string()
    } else {
        return Err(StoreError::Backend(format!("the PostgreSQL store has no table for family {family}")));
    };
    let stmt = tx.prepare_cached(&sql).await?;
    let rows = tx.query(&stmt, &[&tenant]).await?;
    Ok(rows.iter().map(|r| (Bytes(r.get(0)), Bytes(r.get(1)))).collect())
}

async fn export_one(tx: &Transaction<'_>, tenant: &TenantId) -> Result<TenantRows, StoreError> {
    let id = tenant.as_str();
    let stmt = tx.prepare_cached("SELECT 1 FROM tenants WHERE tenant = $1").await?;
    if tx.query_opt(&stmt, &[&id]).await?.is_none() {
        return Err(StoreError::Invalid(format!("no tenant {tenant}")));
    }
    let mut families = BTreeMap::new();
    for f in &FAMILIES {
        let rows = export_family(tx, id, f.name).await?;
        if !rows.is_empty() {
            families.insert(f.name.to_string(), rows);
        }
    }
    Ok(TenantRows { tenant: id.to_string(), families })
}

/// `v` as the text of a `text` column: UTF-8 (checked already) without
/// NUL, which PostgreSQL's text cannot hold; such a dump is refused whole.
fn text<'a>(tenant: &str, family: &str, v: &'a Bytes) -> Result<&'a str, StoreError> {
    let s = std::str::from_utf8(&v.0).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if s.contains('\0') {
        return Err(StoreError::Invalid(format!("tenant {tenant}: a row of {family} holds a NUL byte")));
    }
    Ok(s)
}

/// Replaces everything `rows` covers of its tenant (all but its tokens) by
/// `rows`, within `tx`, and rebuilds the derived rows.
async fn import_one(tx: &Transaction<'_>, tenant: &TenantId, rows: &TenantRows) -> Result<(), StoreError> {
    let id = tenant.as_str();
    super::tenants::purge(tx, id, false).await?;
    for f in &FAMILIES {
        let family_rows = rows.rows(f.name);
        if family_rows.is_empty() {
            continue;
        }
        if let Some((table, value, is_text)) = one_row(f.name) {
            let sql = format!(
                "INSERT INTO {table} (tenant, {value}) VALUES ($1, $2) \
                 ON CONFLICT (tenant) DO UPDATE SET {value} = EXCLUDED.{value}"
            );
            let stmt = tx.prepare_cached(&sql).await?;
            let (_, v) = &family_rows[0];
            if is_text {
                tx.execute(&stmt, &[&id, &text(id, f.name, v)?]).await?;
            } else {
                tx.execute(&stmt, &[&id, &v.0]).await?;
            }
            continue;
        }
        match f.name {
            "skill_components" => {
                for (k, v) in family_rows {
                    let digest = super::skills::digest_of(&v.0);
                    super::skills::set_component(tx, id, &k.0, &digest, &v.0).await?;
                }
            }
            "cron_jobs" => {
                let taken = tx.prepare_cached("SELECT 1 FROM cron_jobs WHERE id = $1").await?;
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO cron_jobs (id, tenant, skill, next_run, job) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .await?;
                for (k, v) in family_rows {
                    let json = text(id, f.name, v)?;
                    let job: crate::records::Job =
                        serde_json::from_str(json).map_err(|e| StoreError::Invalid(e.to_string()))?;
                    if tx.query_opt(&taken, &[&k.0]).await?.is_some() {
                        return Err(StoreError::Invalid(format!(
                            "cron job {} belongs to another tenant",
                            job.id
                        )));
                    }
                    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                        [&k.0, &id, &job.skill.as_bytes(), &ordered(job.next_run), &json];
                    tx.execute(&insert, &params).await?;
                }
            }
            "outbox" => {
                let insert = tx
                    .prepare_cached("INSERT INTO outbox (tenant, id, message, due) VALUES ($1, $2, $3, $4)")
                    .await?;
                for (k, v) in family_rows {
                    let head = outbox_head(&v.0)?;
                    let due = (head.state == "pending").then(|| ordered(head.next_attempt));
                    tx.execute(&insert, &[&id, &k.0, &text(id, f.name, v)?, &due]).await?;
                }
            }
            name => {
                let Some(c) = columns(name) else {
                    return Err(StoreError::Backend(format!(
                        "the PostgreSQL store has no table for family {name}"
                    )));
                };
                let sql =
                    format!("INSERT INTO {} (tenant, {}, {}) VALUES ($1, $2, $3)", c.table, c.key, c.value);
                let stmt = tx.prepare_cached(&sql).await?;
                for (k, v) in family_rows {
                    if c.text {
                        tx.execute(&stmt, &[&id, &k.0, &text(id, name, v)?]).await?;
                    } else {
                        tx.execute(&stmt, &[&id, &k.0, &v.0]).await?;
                    }
                }
            }
        }
    }
    let usage = crate::store::MemoryUsage::of_dump(rows)?;
    if usage.entries > 0 {
        let (entries, bytes) =
            (to_i64(usage.entries, "memory entries")?, to_i64(usage.bytes, "memory bytes")?);
        let stmt = tx
            .prepare_cached("INSERT INTO memory_usage (tenant, entries, bytes) VALUES ($1, $2, $3)")
            .await?;
        tx.execute(&stmt, &[&id, &entries, &bytes]).await?;
    }
    Ok(())
}

impl PgBackend {
    /// Every row of each tenant in `tenants` (all but its tokens), read in
    /// one snapshot (a repeatable-read, read-only transaction).
    pub fn export_tenants(&self, tenants: &[TenantId]) -> Result<Vec<TenantRows>, StoreError> {
        let tenants = tenants.to_vec();
        let pool = self.pool.clone();
        self.run(async move {
            super::calls::using(&pool, move |c| {
                Box::pin(async move {
                    let tx = c
                        .build_transaction()
                        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()
                        .await?;
                    let mut out = Vec::with_capacity(tenants.len());
                    for t in &tenants {
                        out.push(export_one(&tx, t).await?);
                    }
                    Ok(out)
                })
            })
            .await
        })
    }

    /// Replaces, for each (checked) dump, everything its tenant owns but
    /// its tokens by the dump, in one transaction: on any error nothing
    /// changes. Moves the credential generation (a tenant's suspension
    /// comes back with its record).
    pub fn import_tenants(&self, dumps: &[(TenantId, &TenantRows)]) -> Result<(), StoreError> {
        let dumps: Vec<(TenantId, TenantRows)> =
            dumps.iter().map(|(t, d)| (t.clone(), (*d).clone())).collect();
        let out = self.transact(move |tx| {
            Box::pin(async move {
                for (tenant, rows) in &dumps {
                    import_one(tx, tenant, rows).await?;
                }
                bump_credentials(tx).await?;
                Ok(())
            })
        });
        self.credentials_changed();
        out
    }
}
