//! Backup and restore of tenants, while the gateway serves.
//!
//! A backup ([`Runtime::backup`]) is a consistent snapshot of one tenant or
//! of every tenant: the calls of the tenants concerned are let finish and
//! held back (at most the timeout cap, plus a second), every database row
//! they own is read in one read transaction ([`crate::store::TenantRows`]:
//! memory, sealed secrets and the wrapped data key, installed skills with
//! their components, cron jobs, agents, sessions, channels, messages,
//! policy, usage; not tokens), and their directories (files, users' files,
//! media) are copied, before their calls resume. Other tenants run on.
//!
//! A restore ([`Runtime::restore`]) checks the whole file first
//! ([`Backup::decode`]: header, checksum, every row and path) and that this
//! gateway's master key opens the backup's data keys. Then, with the
//! tenants' calls held back: their files are written to a staging
//! directory, swapped in by renames, and their rows replaced in one write
//! transaction; a failure puts the old directories back, so a refused or
//! failed restore changes nothing. Tenants not restored are untouched, and
//! a restored tenant keeps the tokens it has here. Both are audited
//! (`backup.create`, `backup.restore`).

mod files;
pub mod format;

pub use format::{Backup, BackupError, FileEntry, TenantBackup};

use crate::error::Error;
use crate::ids::TenantId;
use crate::runtime::Runtime;
use crate::store::StoreError;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    /// The tenants restored.
    pub restored: Vec<String>,
    /// When the backup was made, seconds since the Unix epoch.
    pub backup_created: u64,
}

/// The runtime's error for a refused backup.
fn refused(e: BackupError) -> Error {
    match e {
        BackupError::MasterKey { .. } => Error::Conflict(e.to_string()),
        _ => Error::InvalidInput(e.to_string()),
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Invalid(m) => Error::InvalidInput(format!("the backup's contents are invalid: {m}")),
        e => e.into(),
    }
}

impl Runtime {
    /// A backup of `only`, or of every tenant, as the bytes of a backup
    /// file (see the module documentation); audited per tenant.
    pub async fn backup(&self, actor: &str, only: Option<&TenantId>) -> Result<Vec<u8>, Error> {
        let tenants: Vec<TenantId> = match only {
            Some(t) => vec![self.tenant(t)?.id],
            None => self.tenants()?.into_iter().map(|t| t.id).collect(),
        };
        let quiet = self.quiesce(&tenants).await;
        let this = self.clone();
        let ids = tenants.clone();
        let snapshot = tokio::task::spawn_blocking(move || this.snapshot(&ids))
            .await
            .map_err(|e| Error::Internal(format!("backup task: {e}")))?;
        drop(quiet);
        let bytes = snapshot.and_then(|b| b.encode().map_err(refused));
        let outcome = match &bytes {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("failed: {e}"),
        };
        for t in &tenants {
            self.record(actor, Some(t), "backup.create", t.as_str(), &outcome);
        }
        if tenants.is_empty() {
            self.record(actor, None, "backup.create", "*", &outcome);
        }
        bytes
    }

    fn snapshot(&self, tenants: &[TenantId]) -> Result<Backup, Error> {
        let rows = self.inner.db.export_tenants(tenants).map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, rows) in tenants.iter().zip(rows) {
            let dir = self.tenant_dir(id);
            let files =
                files::read_tree(&dir).map_err(|e| Error::io(format!("cannot copy {}", dir.display()), e))?;
            out.push(TenantBackup { rows, files });
        }
        Ok(Backup {
            created: self.inner.clock.now(),
            gateway: env!("CARGO_PKG_VERSION").to_string(),
            master_key: self.inner.vault.master_fingerprint(),
            tenants: out,
        })
    }

    /// Restores the tenants of a backup file (only `only`, when given) as
    /// the module documentation says; audited per tenant, a refusal too.
    pub async fn restore(
        &self,
        actor: &str,
        bytes: &[u8],
        only: Option<&TenantId>,
    ) -> Result<RestoreOutcome, Error> {
        let audit = |tenant: Option<&TenantId>, outcome: &str| {
            let target = tenant.or(only).map_or("*", TenantId::as_str);
            self.record(actor, tenant.or(only), "backup.restore", target, outcome);
        };
        let (backup, ids) = match self.restore_checked(bytes, only) {
            Ok(checked) => checked,
            Err(e) => {
                audit(None, &format!("refused: {e}"));
                return Err(e);
            }
        };
        let quiet = self.quiesce(&ids).await;
        let this = self.clone();
        let created = backup.created;
        let applied = tokio::task::spawn_blocking(move || this.apply(&backup))
            .await
            .map_err(|e| Error::Internal(format!("restore task: {e}")))
            .and_then(|r| r);
        if let Err(e) = applied {
            for id in &ids {
                audit(Some(id), &format!("failed: {e}"));
            }
            return Err(e);
        }
        // What the runtime holds in memory for these tenants is stale:
        // forget it, then load their skills again (cron jobs need them).
        for id in &ids {
            self.forget_tenant(id);
            self.revive_tenant(id);
        }
        drop(quiet);
        for id in &ids {
            for skill in self.inner.db.skills(id)? {
                if let Err(e) = self.installed(id, &skill.name).await {
                    let (tenant, skill) = (id.as_str(), skill.name.as_str());
                    tracing::warn!(tenant, skill, error = %e, "a restored skill does not load");
                }
            }
            audit(Some(id), "ok");
        }
        Ok(RestoreOutcome { restored: ids.iter().map(|t| t.to_string()).collect(), backup_created: created })
    }

    /// The decoded backup, narrowed to `only`, once every check passed.
    fn restore_checked(
        &self,
        bytes: &[u8],
        only: Option<&TenantId>,
    ) -> Result<(Backup, Vec<TenantId>), Error> {
        let mut backup = Backup::decode(bytes).map_err(refused)?;
        if let Some(t) = only {
            backup.tenants.retain(|b| b.rows.tenant == t.as_str());
            if backup.tenants.is_empty() {
                return Err(Error::NotFound(format!("the backup has no tenant {t}")));
            }
        }
        let current = self.inner.vault.master_fingerprint();
        let mut ids = Vec::with_capacity(backup.tenants.len());
        for t in &backup.tenants {
            let id = t.rows.check().map_err(|e| refused(BackupError::Invalid(e)))?;
            if let Some(key) = &t.rows.data_key {
                if backup.master_key != current {
                    return Err(refused(BackupError::MasterKey {
                        backup: backup.master_key.clone(),
                        current,
                    }));
                }
                self.inner.vault.check_data_key(&id, &key.0).map_err(|e| {
                    Error::InvalidInput(format!("the backup's data key of tenant {id} does not open: {e}"))
                })?;
            }
            ids.push(id);
        }
        Ok((backup, ids))
    }

    /// Writes the backup's files and rows (blocking); all or nothing.
    fn apply(&self, backup: &Backup) -> Result<(), Error> {
        let base = self.inner.config.data_dir.join("tenants");
        let io = |what: &str, path: &Path, e| Error::io(format!("cannot {what} {}", path.display()), e);
        let staging = tempfile::Builder::new()
            .prefix(".restore-")
            .tempdir_in(&base)
            .map_err(|e| io("create a directory in", &base, e))?;
        let mut swaps: Vec<Swap> = Vec::new();
        let result = (|| {
            for t in &backup.tenants {
                let new = staging.path().join(format!("new-{}", t.rows.tenant));
                files::write_tree(&new, &t.files).map_err(|e| io("write", &new, e))?;
            }
            for t in &backup.tenants {
                let swap = Swap {
                    live: base.join(&t.rows.tenant),
                    new: staging.path().join(format!("new-{}", t.rows.tenant)),
                    old: staging.path().join(format!("old-{}", t.rows.tenant)),
                    had_old: false,
                };
                swaps.push(swap.apply().map_err(|e| io("replace", &base.join(&t.rows.tenant), e))?);
            }
            let rows: Vec<_> = backup.tenants.iter().map(|t| t.rows.clone()).collect();
            self.inner.db.import_tenants(&rows).map_err(store_error)
        })();
        if result.is_err() {
            for swap in swaps.iter().rev() {
                if let Err(e) = swap.undo() {
                    let dir = swap.live.display().to_string();
                    tracing::error!(dir, error = %e, "cannot put a tenant's files back");
                }
            }
        }
        result
    }

    /// Lets the calls of `tenants` finish and holds their slots (waiting
    /// at most the timeout cap plus a second for each).
    async fn quiesce(&self, tenants: &[TenantId]) -> Vec<OwnedSemaphorePermit> {
        let wait = Duration::from_millis(self.inner.config.caps.timeout_ms) + Duration::from_secs(1);
        let mut held = Vec::new();
        for t in tenants {
            let Some(slot) = self.existing_slot(t) else { continue };
            match tokio::time::timeout(wait, slot.slots.clone().acquire_many_owned(slot.permits)).await {
                Ok(Ok(permits)) => held.push(permits),
                _ => {
                    let tenant = t.as_str();
                    tracing::warn!(
                        tenant,
                        "its calls did not finish in time; backing up or restoring meanwhile"
                    );
                }
            }
        }
        held
    }

    fn tenant_dir(&self, tenant: &TenantId) -> PathBuf {
        self.inner.config.data_dir.join("tenants").join(tenant.as_str())
    }
}

/// A tenant directory replaced by a staged one; undone by renaming back.
struct Swap {
    live: PathBuf,
    new: PathBuf,
    old: PathBuf,
    had_old: bool,
}

impl Swap {
    fn apply(mut self) -> std::io::Result<Swap> {
        match std::fs::rename(&self.live, &self.old) {
            Ok(()) => self.had_old = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Err(e) = std::fs::rename(&self.new, &self.live) {
            if self.had_old {
                std::fs::rename(&self.old, &self.live)?;
            }
            return Err(e);
        }
        Ok(self)
    }

    fn undo(&self) -> std::io::Result<()> {
        std::fs::rename(&self.live, &self.new)?;
        if self.had_old {
            std::fs::rename(&self.old, &self.live)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
