//! The backup file (format 3): one header line, then framed records, then
//! a trailing SHA-256 of everything before it.
//!
//! ```text
//! wasmclaw-backup 3\n
//! record*   = kind (1 byte) · length (u64 little-endian) · payload
//!   'h'  {"created":…,"gateway":"0.1.0","master_key":"<fingerprint>"}
//!   't'  one tenant's rows (JSON, [`TenantRows`]: logical rows, the same
//!        from every store backend), then its tree:
//!   'd'  a directory: its path
//!   'f'  a regular file: size (u64 LE) · its path
//!   'x'  data of the last file: offset (u64 LE) · at most 1 MiB of bytes
//!   'l'  a hard link to a file met earlier: its path · NUL · that file's
//!   'e'  end of the tenant: entries it skipped (u64 LE)
//!   'z'  the SHA-256 of every byte before this record (32 bytes); the end
//! ```
//!
//! A file is written and read as a stream of records, never whole: a
//! file's data travels as extents (a sparse file's holes are not stored),
//! and a tenant's tree as one entry per record in walk order (a directory
//! before what it holds, names in byte order), so a reader checks every
//! path against the directories it has seen with memory in proportion to
//! the depth only. [`check`] reads a whole file and validates everything
//! (checksum, order, every path and row) before a restore applies any of
//! it. Secrets travel sealed and the data keys wrapped by the master key
//! (`master_key` is its fingerprint, never the key).
//!
//! The parts: `frame` (the bytes of each record, written and read, and the
//! running checksum), `validate` (the check of a whole file: the order of
//! each tenant's tree, its rows, its paths) and `rewrite` (a file copied
//! record by record, as `backup rewrap` does offline).

mod frame;
mod rewrite;
mod validate;

pub use frame::{Reader, Writer};
pub use rewrite::{rewrap, transform};
pub use validate::{Summary, TreeCursor, check};

use crate::store::TenantRows;
use serde::{Deserialize, Serialize};

/// The first word of every backup.
pub const MAGIC: &str = "wasmclaw-backup";
/// The format version this code writes and reads.
pub const VERSION: u32 = 3;
/// The older version this code still reads: format 2 is format 3 with a
/// tenant's rows as redb stored them ([`super::legacy`]).
pub const READS_ALSO: u32 = 2;
/// The most bytes of file data in one record.
pub const MAX_EXTENT: usize = 1 << 20;
/// The longest JSON record read (a tenant's rows).
const MAX_JSON: u64 = 1 << 30;
/// The longest path read.
const MAX_PATH: u64 = 1 << 20;

/// Why a backup was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file does not start with a backup header.
    #[error("not a wasmclaw backup: {0}")]
    NotABackup(String),
    /// The file is of another format version.
    #[error(
        "the backup is of format version {0}; this gateway reads versions {READS_ALSO} and {VERSION} \
         (a version 1 backup is restored by the gateway release that made it)"
    )]
    Version(String),
    /// The trailing checksum does not match, or the file ends early.
    #[error("the backup is corrupt or truncated: {0}")]
    Checksum(String),
    /// The records hold invalid data.
    #[error("the backup's contents are invalid: {0}")]
    Invalid(String),
    /// The secrets were wrapped under another master key.
    #[error(
        "the backup's secrets were encrypted under another master key (fingerprint {backup}, this \
         one's is {current}); re-wrap it first with `wasmclaw backup rewrap FILE --from-key OLD.key \
         --to-key NEW.key -o OUT`"
    )]
    MasterKey {
        /// The backup's fingerprint.
        backup: String,
        /// The current key's.
        current: String,
    },
    /// Reading or writing the file failed.
    #[error("cannot read or write the backup: {0}")]
    Io(#[from] std::io::Error),
}

/// What the backup as a whole says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// When it was made, seconds since the Unix epoch.
    pub created: u64,
    /// The version of the gateway that made it.
    pub gateway: String,
    /// The fingerprint of the master key that wrapped its data keys.
    pub master_key: String,
}

/// One record of a backup file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// The header (first).
    Header(Header),
    /// A tenant's rows, starting the tenant.
    Tenant(Box<TenantRows>),
    /// A directory of the tenant's tree.
    Dir(String),
    /// A regular file of the tenant's tree and its size.
    File {
        /// Its path.
        path: String,
        /// Its size in bytes (its data follows as extents).
        size: u64,
    },
    /// Another name of a file met earlier in the same tenant (a hard
    /// link: its data is stored once).
    Link {
        /// Its path.
        path: String,
        /// The path of the file it names, met earlier.
        to: String,
    },
    /// Bytes of the last file at `offset`.
    Extent {
        /// Where in the file.
        offset: u64,
        /// The bytes.
        data: Vec<u8>,
    },
    /// The tenant's end: how many entries its backup skipped (links,
    /// names that are not UTF-8, trees deeper than a walk enters).
    TenantEnd {
        /// Entries skipped.
        skipped: u64,
    },
}

/// Whether `path` is a relative path of plain components (no `.`, `..`,
/// empty component, NUL or absolute path).
pub fn valid_relative_path(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}
