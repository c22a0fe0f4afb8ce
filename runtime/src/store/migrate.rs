//! Moving a gateway's whole state from one store into another, empty one
//! (`wasmclaw store migrate`: redb → PostgreSQL), and checking the copy.
//!
//! What moves: the globals (the admin key's hash, the trusted publisher
//! keys), then each tenant, one at a time (so memory holds one tenant's
//! rows, never the whole store): its dump ([`Db::export_tenants`]: the
//! tenant record and every family of [`super::dump::FAMILIES`]) and its
//! tokens (id, record and hash). Secrets move sealed, as the dump holds
//! them: the master key that unwraps them stays in the data directory, so
//! the gateway on the target must run with the same master key. Tenants'
//! files stay in the data directory too.
//!
//! A target that holds anything (a tenant, a trusted key, an admin key) is
//! refused before anything is written: a migration never merges. After the
//! copy, [`verify`] reads both stores again: the same tenants, per tenant
//! the same rows (the SHA-256 of its serialized dump) and tokens, the same
//! globals. A difference is an error naming the tenant and what differs.
//! A migration that fails part-way leaves a partial copy in the target:
//! it must be emptied (the database dropped and created again) before the
//! next attempt, which the emptiness check enforces.

use super::{Db, StoreError, TenantRows};
use crate::ids::TenantId;
use crate::records::TokenInfo;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// What a migration is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Reading the source once to know how much there is.
    #[default]
    Counting,
    /// Writing the target.
    Copying,
    /// Reading both again and comparing them.
    Verifying,
}

/// Where a migration is, reported after each tenant of each stage.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// The stage.
    pub stage: Stage,
    /// The tenant just done (none for the globals and the stage's start).
    pub tenant: Option<&'a TenantId>,
    /// Tenants done in this stage.
    pub tenants_done: usize,
    /// Tenants in all.
    pub tenants: usize,
    /// Rows (a dump's rows and tokens) done in this stage.
    pub rows_done: u64,
    /// Rows in all (while counting: so far).
    pub rows: u64,
    /// Bytes (of the rows' keys and values) done in this stage.
    pub bytes_done: u64,
    /// Bytes in all (while counting: so far).
    pub bytes: u64,
}

/// What was copied and checked: the same in both stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Each tenant, by id.
    pub tenants: Vec<TenantSummary>,
    /// Trusted publisher keys.
    pub trusted_keys: usize,
    /// Whether an admin key (its hash) was set.
    pub admin_key: bool,
    /// Rows over all tenants (dump rows and tokens).
    pub rows: u64,
    /// Bytes of the dumped rows' keys and values, over all tenants.
    pub bytes: u64,
}

/// One tenant as copied and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantSummary {
    /// The tenant.
    pub tenant: String,
    /// Rows per family of its dump (families without rows left out).
    pub families: BTreeMap<String, u64>,
    /// Its tokens.
    pub tokens: u64,
    /// Bytes of its dumped rows' keys and values.
    pub bytes: u64,
    /// SHA-256 (hex) of its dump serialized as JSON.
    pub sha256: String,
}

/// What `db` holds that makes it no target for a migration, if anything
/// (`None`: it is empty).
pub fn occupant(db: &Db) -> Result<Option<String>, StoreError> {
    let tenants = db.tenants()?.len();
    let keys = db.trusted_keys()?.len();
    let admin = db.admin_key_hash()?.is_some();
    let mut held = Vec::new();
    if tenants > 0 {
        held.push(format!("{tenants} tenant(s)"));
    }
    if keys > 0 {
        held.push(format!("{keys} trusted key(s)"));
    }
    if admin {
        held.push("an admin key".to_string());
    }
    Ok((!held.is_empty()).then(|| held.join(", ")))
}

/// Copies everything `from` holds into `to`, which must be empty, then
/// checks the copy ([`verify`]); what was copied. `progress` is called
/// after each tenant of each stage.
pub fn migrate(from: &Db, to: &Db, progress: &mut dyn FnMut(&Progress)) -> Result<Summary, StoreError> {
    if let Some(held) = occupant(to)? {
        return Err(StoreError::Invalid(format!(
            "the target store is not empty: it holds {held}; a migration copies into an empty \
             database only (nothing was written)"
        )));
    }
    let tenants: Vec<TenantId> = from.tenants()?.into_iter().map(|t| t.id).collect();

    // Counting: the totals the copy's progress is measured against.
    let mut count = Tally { stage: Stage::Counting, tenants: tenants.len(), ..Tally::default() };
    count.report(progress, None);
    for t in &tenants {
        let (rows, tokens) = read_tenant(from, t)?;
        count.add(&rows, tokens.len());
        count.rows = count.rows_done;
        count.bytes = count.bytes_done;
        count.report(progress, Some(t));
    }

    let mut copy = Tally {
        stage: Stage::Copying,
        tenants: tenants.len(),
        rows: count.rows,
        bytes: count.bytes,
        ..Tally::default()
    };
    if let Some(hash) = from.admin_key_hash()? {
        to.set_admin_key_hash(&hash)?;
    }
    for key in from.trusted_keys()? {
        if let Err(held) = to.trust_add(&key)? {
            return Err(StoreError::Invalid(format!(
                "the target was written to during the migration: it trusts {} already",
                held.name
            )));
        }
    }
    copy.report(progress, None);
    for t in &tenants {
        let (rows, tokens) = read_tenant(from, t)?;
        to.import_tenants(std::slice::from_ref(&rows))?;
        for (info, hash) in &tokens {
            if !to.token_insert(info, hash)? {
                return Err(StoreError::Invalid(format!(
                    "the target was written to during the migration: token {} of tenant {t} exists",
                    info.id
                )));
            }
        }
        copy.add(&rows, tokens.len());
        copy.report(progress, Some(t));
    }
    check(from, to, progress, Some((copy.rows, copy.bytes)))
}

/// Reads both stores and checks that `to` holds exactly what `from` holds:
/// the admin key's hash, the trusted keys, the same tenants, and per tenant
/// the same dump (its SHA-256, and so its rows) and tokens. What they hold,
/// or an error naming the first tenant (or global) that differs and how.
pub fn verify(from: &Db, to: &Db, progress: &mut dyn FnMut(&Progress)) -> Result<Summary, StoreError> {
    check(from, to, progress, None)
}

/// [`verify`], with the totals of rows and bytes when they are known.
fn check(
    from: &Db,
    to: &Db,
    progress: &mut dyn FnMut(&Progress),
    totals: Option<(u64, u64)>,
) -> Result<Summary, StoreError> {
    let differs = |what: String| StoreError::Backend(format!("the copy does not match the source: {what}"));
    let admin = from.admin_key_hash()?;
    if to.admin_key_hash()? != admin {
        return Err(differs("the admin key's hash differs".into()));
    }
    let keys = from.trusted_keys()?;
    if to.trusted_keys()? != keys {
        return Err(differs("the trusted keys differ".into()));
    }
    let ids = |db: &Db| -> Result<Vec<TenantId>, StoreError> {
        Ok(db.tenants()?.into_iter().map(|t| t.id).collect())
    };
    let (tenants, theirs) = (ids(from)?, ids(to)?);
    let (mine, copied): (BTreeSet<&TenantId>, BTreeSet<&TenantId>) =
        (tenants.iter().collect(), theirs.iter().collect());
    if let Some(t) = mine.difference(&copied).next() {
        return Err(differs(format!("tenant {t} is missing")));
    }
    if let Some(t) = copied.difference(&mine).next() {
        return Err(differs(format!("tenant {t} is not in the source")));
    }

    let (rows, bytes) = totals.unwrap_or_default();
    let mut tally =
        Tally { stage: Stage::Verifying, tenants: tenants.len(), rows, bytes, ..Tally::default() };
    tally.report(progress, None);
    let mut summary = Summary {
        tenants: Vec::with_capacity(tenants.len()),
        trusted_keys: keys.len(),
        admin_key: admin.is_some(),
        rows: 0,
        bytes: 0,
    };
    for t in &tenants {
        let (rows, tokens) = read_tenant(from, t)?;
        let (copy, copied_tokens) = read_tenant(to, t)?;
        let (mine, theirs) = (summarize(&rows, tokens.len())?, summarize(&copy, copied_tokens.len())?);
        if mine.sha256 != theirs.sha256 {
            let mut names: Vec<&String> = rows.families.keys().chain(copy.families.keys()).collect();
            names.sort();
            names.dedup();
            names.retain(|f| rows.families.get(*f) != copy.families.get(*f));
            let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
            return Err(differs(format!("tenant {t}: its rows of {} differ", names.join(", "))));
        }
        if tokens != copied_tokens {
            return Err(differs(format!(
                "tenant {t}: its tokens differ ({} in the source, {} in the copy)",
                tokens.len(),
                copied_tokens.len()
            )));
        }
        tally.add(&rows, tokens.len());
        if totals.is_none() {
            (tally.rows, tally.bytes) = (tally.rows_done, tally.bytes_done);
        }
        tally.report(progress, Some(t));
        summary.rows += mine.families.values().sum::<u64>() + mine.tokens;
        summary.bytes += mine.bytes;
        summary.tenants.push(mine);
    }
    Ok(summary)
}

/// A tenant's tokens with their hashes, by id.
type Tokens = Vec<(TokenInfo, [u8; 32])>;

/// One tenant's dump and its tokens.
fn read_tenant(db: &Db, t: &TenantId) -> Result<(TenantRows, Tokens), StoreError> {
    let mut dumps = db.export_tenants(std::slice::from_ref(t))?;
    let rows = dumps.pop().ok_or_else(|| StoreError::Backend(format!("no dump of tenant {t}")))?;
    let mut tokens = Vec::new();
    for info in db.tokens(t)? {
        if let Some(pair) = db.token(&info.id)? {
            tokens.push(pair);
        }
    }
    tokens.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    Ok((rows, tokens))
}

/// The counts, bytes and digest of one tenant's dump.
fn summarize(rows: &TenantRows, tokens: usize) -> Result<TenantSummary, StoreError> {
    let json = serde_json::to_vec(rows).map_err(|e| StoreError::Backend(format!("a dump: {e}")))?;
    Ok(TenantSummary {
        tenant: rows.tenant.clone(),
        families: rows.families.iter().map(|(f, r)| (f.clone(), r.len() as u64)).collect(),
        tokens: tokens as u64,
        bytes: dump_bytes(rows),
        sha256: hex::encode(Sha256::digest(&json)),
    })
}

fn dump_bytes(rows: &TenantRows) -> u64 {
    rows.families.values().flatten().map(|(k, v)| (k.0.len() + v.0.len()) as u64).sum()
}

/// The running figures of one stage.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    stage: Stage,
    tenants_done: usize,
    tenants: usize,
    rows_done: u64,
    rows: u64,
    bytes_done: u64,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, rows: &TenantRows, tokens: usize) {
        self.tenants_done += 1;
        self.rows_done += rows.families.values().map(|r| r.len() as u64).sum::<u64>() + tokens as u64;
        self.bytes_done += dump_bytes(rows);
    }

    fn report(&self, progress: &mut dyn FnMut(&Progress), tenant: Option<&TenantId>) {
        progress(&Progress {
            stage: self.stage,
            tenant,
            tenants_done: self.tenants_done,
            tenants: self.tenants,
            rows_done: self.rows_done,
            rows: self.rows,
            bytes_done: self.bytes_done,
            bytes: self.bytes,
        });
    }
}

#[cfg(test)]
mod tests;
