//! Backup and restore of tenants, while the gateway serves.
//!
//! A backup ([`crate::Runtime::backup`]) is a consistent snapshot of one tenant or
//! of every tenant: the calls of the tenants concerned are let finish and
//! held back (at most the timeout cap, plus a second), every database row
//! they own is read in one read transaction ([`crate::store::TenantRows`]:
//! memory, sealed secrets and the wrapped data key, installed skills with
//! their components, cron jobs, agents, sessions, channels, messages,
//! policy, usage; not tokens), and their directories (files, users' files,
//! media) are streamed into a file in the data directory, before their
//! calls resume; the caller then reads that file at its own pace. Other
//! tenants run on. A tenant's tree is walked relative to descriptors,
//! never through a link, a sparse file by its data only, and whatever
//! cannot be kept (links, names that are not UTF-8) is skipped and counted,
//! so no tenant's files can fail another tenant's backup.
//!
//! A restore ([`crate::Runtime::restore`]) reads the whole file first
//! ([`format::check`]: header, order, every row and path, the trailing
//! checksum) and checks that this gateway's master key opens the backup's
//! data keys. Then, with the tenants' calls held back: their files are
//! written (relative to descriptors: no depth or path length fails it) to a
//! staging directory, swapped in by renames, and their rows replaced in one write
//! transaction; a failure puts the old directories back, so a refused or
//! failed restore changes nothing. Tenants not restored are untouched, and
//! a restored tenant keeps the tokens it has here. Both are audited
//! (`backup.create`, `backup.restore`).

mod files;
pub mod format;
mod legacy;

pub use format::{BackupError, Header, Record, Summary};

use crate::clock::SharedClock;
use crate::error::Error;
use crate::ids::TenantId;
use crate::services::recorder::Recorder;
use crate::services::skills::SkillService;
use crate::services::tenants::TenantService;
use crate::store::{Db, StoreError, TenantRows};
use crate::vault::Vault;
use serde::Serialize;
use std::io::{BufReader, BufWriter, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        BackupError::Io(e) => Error::io("cannot read or write a backup", e),
        _ => Error::InvalidInput(e.to_string()),
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Invalid(m) => Error::InvalidInput(format!("the backup's contents are invalid: {m}")),
        e => e.into(),
    }
}

fn joined(e: tokio::task::JoinError) -> Error {
    Error::Internal(format!("backup task: {e}"))
}

/// The backup service: the tenants' rows (through the store), their trees
/// (from their directories), the vault's keys, and the tenants' slots to
/// hold their calls back meanwhile. Cheap to clone.
#[derive(Clone)]
pub(crate) struct BackupService {
    db: Arc<Db>,
    clock: SharedClock,
    audit: Recorder,
    vault: Arc<Vault>,
    tenants: Arc<TenantService>,
    skills: Arc<SkillService>,
    data_dir: PathBuf,
}

impl BackupService {
    pub(crate) fn new(
        db: Arc<Db>,
        clock: SharedClock,
        audit: Recorder,
        vault: Arc<Vault>,
        tenants: Arc<TenantService>,
        skills: Arc<SkillService>,
        data_dir: &Path,
    ) -> Self {
        BackupService { db, clock, audit, vault, tenants, skills, data_dir: data_dir.to_path_buf() }
    }

    /// A backup of `only`, or of every tenant: a file (unlinked, in the
    /// data directory, read from its start) in the format of
    /// [`format`]; audited per tenant. The tenants' calls are held back
    /// while it is written, not while the caller reads it.
    pub(crate) async fn backup(&self, actor: &str, only: Option<&TenantId>) -> Result<std::fs::File, Error> {
        let tenants: Vec<TenantId> = match only {
            Some(t) => vec![self.tenants.get(t)?.id],
            None => self.tenants.list()?.into_iter().map(|t| t.id).collect(),
        };
        let quiet = self.tenants.quiesce(&tenants).await;
        let this = self.clone();
        let ids = tenants.clone();
        let written = tokio::task::spawn_blocking(move || this.write_backup(&ids)).await.map_err(joined)?;
        drop(quiet);
        let outcome = match &written {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("failed: {e}"),
        };
        for t in &tenants {
            self.audit.record(actor, Some(t), "backup.create", t.as_str(), &outcome);
        }
        if tenants.is_empty() {
            self.audit.record(actor, None, "backup.create", "*", &outcome);
        }
        written
    }

    /// Writes the backup (blocking): the rows of every tenant from one read
    /// transaction, then each tenant's tree streamed from its directory.
    fn write_backup(&self, tenants: &[TenantId]) -> Result<std::fs::File, Error> {
        let rows = self.db.export_tenants(tenants).map_err(store_error)?;
        let dir = &self.data_dir;
        let file = tempfile::tempfile_in(dir)
            .map_err(|e| Error::io(format!("cannot create a file in {}", dir.display()), e))?;
        let header = Header {
            created: self.clock.now(),
            gateway: env!("CARGO_PKG_VERSION").to_string(),
            master_key: self.vault.master_fingerprint(),
        };
        let mut w = format::Writer::new(BufWriter::with_capacity(1 << 20, file), &header).map_err(refused)?;
        for (id, rows) in tenants.iter().zip(rows) {
            w.record(&Record::Tenant(Box::new(rows))).map_err(refused)?;
            let root = self.tenants.dir(id);
            // A tenant's tree cannot fail another's backup: what cannot be
            // read is skipped and counted (links, odd names, depth).
            let skipped = files::write_tree(&mut w, &root).map_err(refused)?;
            if skipped > 0 {
                tracing::warn!(tenant = id.as_str(), skipped, "a backup skipped entries it cannot keep");
            }
            w.record(&Record::TenantEnd { skipped }).map_err(refused)?;
        }
        let out = w.finish().map_err(refused)?;
        let mut file = out.into_inner().map_err(|e| Error::io("cannot write the backup", e.into_error()))?;
        file.sync_all().map_err(|e| Error::io("cannot write the backup", e))?;
        file.rewind().map_err(|e| Error::io("cannot read the backup", e))?;
        Ok(file)
    }

    /// Restores the tenants of the backup `file` (only `only`, when given)
    /// as the module documentation says; audited per tenant, a refusal too.
    /// `forget` drops what the runtime's services hold of a restored tenant.
    pub(crate) async fn restore(
        &self,
        actor: &str,
        file: std::fs::File,
        only: Option<&TenantId>,
        forget: &(dyn Fn(&TenantId) + Sync),
    ) -> Result<RestoreOutcome, Error> {
        let audit = |tenant: Option<&TenantId>, outcome: &str| {
            let target = tenant.or(only).map_or("*", TenantId::as_str);
            self.audit.record(actor, tenant.or(only), "backup.restore", target, outcome);
        };
        let this = self.clone();
        let wanted = only.cloned();
        let checked = tokio::task::spawn_blocking(move || this.restore_checked(file, wanted.as_ref()))
            .await
            .map_err(joined)
            .and_then(|r| r);
        let (file, summary, ids) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                audit(None, &format!("refused: {e}"));
                return Err(e);
            }
        };
        let quiet = self.tenants.quiesce(&ids).await;
        let this = self.clone();
        let selected = ids.clone();
        let applied = tokio::task::spawn_blocking(move || this.apply(file, &selected))
            .await
            .map_err(joined)
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
            forget(id);
            self.tenants.revive(id);
        }
        drop(quiet);
        for id in &ids {
            for skill in self.db.skills(id)? {
                if let Err(e) = self.skills.installed(id, &skill.name).await {
                    let (tenant, skill) = (id.as_str(), skill.name.as_str());
                    tracing::warn!(tenant, skill, error = %e, "a restored skill does not load");
                }
            }
            audit(Some(id), "ok");
        }
        let created = summary.header.created;
        Ok(RestoreOutcome { restored: ids.iter().map(|t| t.to_string()).collect(), backup_created: created })
    }

    /// Reads all of `file` and validates it ([`format::check`]) and that
    /// this gateway's master key opens its data keys (blocking); the file
    /// rewound, its summary and the tenants to restore.
    fn restore_checked(
        &self,
        mut file: std::fs::File,
        only: Option<&TenantId>,
    ) -> Result<(std::fs::File, Summary, Vec<TenantId>), Error> {
        let current = self.vault.master_fingerprint();
        let summary = format::check(BufReader::with_capacity(1 << 20, &mut file), |header, rows| {
            let Some(key) = rows.one("data_key") else { return Ok(()) };
            if only.is_some_and(|t| t.as_str() != rows.tenant) {
                return Ok(());
            }
            if header.master_key != current {
                return Err(BackupError::MasterKey {
                    backup: header.master_key.clone(),
                    current: current.clone(),
                });
            }
            let id = rows.check().map_err(BackupError::Invalid)?;
            self.vault.check_data_key(&id, key).map_err(|e| {
                BackupError::Invalid(format!("the backup's data key of tenant {id} does not open: {e}"))
            })
        })
        .map_err(refused)?;
        let mut ids = Vec::new();
        for t in &summary.tenants {
            if only.is_none_or(|o| o.as_str() == t) {
                ids.push(TenantId::parse(t).map_err(|e| Error::InvalidInput(e.to_string()))?);
            }
        }
        if let Some(t) = only
            && ids.is_empty()
        {
            return Err(Error::NotFound(format!("the backup has no tenant {t}")));
        }
        file.rewind().map_err(|e| Error::io("cannot read the backup", e))?;
        Ok((file, summary, ids))
    }

    /// Writes the backup's files and rows (blocking); all or nothing. The
    /// trees stream into staging directories; the rows of the tenants
    /// restored go into the database in one write transaction.
    fn apply(&self, file: std::fs::File, ids: &[TenantId]) -> Result<(), Error> {
        let base = self.tenants.root().to_path_buf();
        let io = |what: &str, path: &Path, e| Error::io(format!("cannot {what} {}", path.display()), e);
        let staging = tempfile::Builder::new()
            .prefix(".restore-")
            .tempdir_in(&base)
            .map_err(|e| io("create a directory in", &base, e))?;
        let mut swaps: Vec<Swap> = Vec::new();
        let result = (|| {
            let mut rows: Vec<TenantRows> = Vec::new();
            let mut r = format::Reader::new(BufReader::with_capacity(1 << 20, file)).map_err(refused)?;
            let mut tree: Option<files::TreeWriter> = None;
            let mut skipping = false;
            while let Some(rec) = r.next_record().map_err(refused)? {
                match rec {
                    Record::Header(_) => {}
                    Record::Tenant(t) => {
                        skipping = !ids.iter().any(|id| id.as_str() == t.tenant);
                        if !skipping {
                            let new = staging.path().join(format!("new-{}", t.tenant));
                            tree = Some(files::TreeWriter::new(&new).map_err(refused)?);
                            rows.push(*t);
                        }
                    }
                    Record::TenantEnd { .. } => {
                        if let Some(t) = tree.take() {
                            t.finish().map_err(refused)?;
                        }
                    }
                    rec if !skipping => {
                        let t = tree
                            .as_mut()
                            .ok_or_else(|| Error::InvalidInput("a tree outside a tenant".into()))?;
                        t.apply(&rec).map_err(refused)?;
                    }
                    _ => {}
                }
            }
            for t in &rows {
                let swap = Swap {
                    live: base.join(&t.tenant),
                    new: staging.path().join(format!("new-{}", t.tenant)),
                    old: staging.path().join(format!("old-{}", t.tenant)),
                    had_old: false,
                };
                swaps.push(swap.apply().map_err(|e| io("replace", &base.join(&t.tenant), e))?);
            }
            self.db.import_tenants(&rows).map_err(store_error)
        })();
        if result.is_err() {
            for swap in swaps.iter().rev() {
                if let Err(e) = swap.undo() {
                    let dir = swap.live.display().to_string();
                    tracing::error!(dir, error = %e, "cannot put a tenant's files back");
                }
            }
        }
        // The staging directory (what was swapped out, what failed) goes
        // with a walk that no depth can break.
        let staged = staging.keep();
        if let Err(e) = crate::tree::remove_tree(&staged) {
            tracing::warn!(dir = %staged.display(), error = %e, "cannot remove a restore's staging directory");
        }
        result
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
