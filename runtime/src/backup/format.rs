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

use crate::store::TenantRows;
use crate::vault::{MasterKey, rewrap_data_key};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Write};

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

/// Writes a backup file record by record; [`Writer::finish`] seals it.
pub struct Writer<W: Write> {
    out: W,
    sha: Sha256,
}

impl<W: Write> Writer<W> {
    /// Starts a file with its header line and header record.
    pub fn new(out: W, header: &Header) -> Result<Self, BackupError> {
        let mut w = Writer { out, sha: Sha256::new() };
        w.put(format!("{MAGIC} {VERSION}\n").as_bytes())?;
        w.record(&Record::Header(header.clone()))?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.sha.update(bytes);
        self.out.write_all(bytes)?;
        Ok(())
    }

    fn frame(&mut self, kind: u8, parts: &[&[u8]]) -> Result<(), BackupError> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.put(&[kind])?;
        self.put(&(len as u64).to_le_bytes())?;
        for p in parts {
            self.put(p)?;
        }
        Ok(())
    }

    /// Appends one record.
    pub fn record(&mut self, r: &Record) -> Result<(), BackupError> {
        let json = |v: &dyn erased::Json| v.to_json().map_err(|e| BackupError::Invalid(e.to_string()));
        match r {
            Record::Header(h) => self.frame(b'h', &[&json(h)?]),
            Record::Tenant(rows) => self.frame(b't', &[&json(rows.as_ref())?]),
            Record::Dir(path) => self.frame(b'd', &[path.as_bytes()]),
            Record::File { path, size } => self.frame(b'f', &[&size.to_le_bytes(), path.as_bytes()]),
            Record::Extent { offset, data } => self.frame(b'x', &[&offset.to_le_bytes(), data]),
            Record::Link { path, to } => self.frame(b'l', &[path.as_bytes(), b"\0", to.as_bytes()]),
            Record::TenantEnd { skipped } => self.frame(b'e', &[&skipped.to_le_bytes()]),
        }
    }

    /// Writes the trailing checksum; the file is complete.
    pub fn finish(mut self) -> Result<W, BackupError> {
        let digest = self.sha.clone().finalize();
        self.frame(b'z', &[&digest])?;
        self.out.flush()?;
        Ok(self.out)
    }
}

mod erased {
    /// A value serialisable to JSON bytes (object-safe).
    pub trait Json {
        fn to_json(&self) -> serde_json::Result<Vec<u8>>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> serde_json::Result<Vec<u8>> {
            serde_json::to_vec(self)
        }
    }
}

/// Reads a backup file record by record. The checksum is verified at the
/// end only: use [`check`] before acting on anything read.
pub struct Reader<R: Read> {
    input: R,
    sha: Sha256,
    done: bool,
    /// The file's format version.
    version: u32,
}

impl<R: Read> Reader<R> {
    /// Reads the header line (refusing other files and versions).
    pub fn new(mut input: R) -> Result<Self, BackupError> {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while line.len() < 64 {
            match input.read(&mut byte)? {
                0 => break,
                _ if byte[0] == b'\n' => break,
                _ => line.push(byte[0]),
            }
        }
        let text = String::from_utf8_lossy(&line);
        let mut words = text.split(' ');
        if words.next() != Some(MAGIC) {
            return Err(BackupError::NotABackup(format!("the file does not start with {MAGIC:?}")));
        }
        let version: String = words.next().unwrap_or_default().chars().take(16).collect();
        let version = match version.parse::<u32>() {
            Ok(v) if v == VERSION || v == READS_ALSO => v,
            _ => return Err(BackupError::Version(version)),
        };
        if words.next().is_some() || byte[0] != b'\n' {
            return Err(BackupError::NotABackup("the header line is malformed".into()));
        }
        let mut sha = Sha256::new();
        sha.update(&line);
        sha.update(b"\n");
        Ok(Reader { input, sha, done: false, version })
    }

    fn exact(&mut self, n: u64, what: &str) -> Result<Vec<u8>, BackupError> {
        let mut buf = Vec::new();
        (&mut self.input).take(n).read_to_end(&mut buf)?;
        if buf.len() as u64 != n {
            return Err(BackupError::Checksum(format!("the file ends inside {what}")));
        }
        Ok(buf)
    }

    /// The next record; `None` after the checksum, once it matched.
    pub fn next_record(&mut self) -> Result<Option<Record>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let head = self.exact(9, "a record's frame")?;
        let (kind, len) = (head[0], u64::from_le_bytes(head[1..9].try_into().unwrap_or_default()));
        let max = match kind {
            b'h' | b't' => MAX_JSON,
            b'd' => MAX_PATH,
            b'f' => 8 + MAX_PATH,
            b'x' => 8 + MAX_EXTENT as u64,
            b'l' => 2 * MAX_PATH + 1,
            b'e' => 8,
            b'z' => 32,
            _ => return Err(BackupError::Invalid(format!("unknown record kind {kind:#04x}"))),
        };
        if len > max || (matches!(kind, b'f' | b'x' | b'e') && len < 8) || (kind == b'z' && len != 32) {
            return Err(BackupError::Invalid(format!(
                "a record of kind {:?} has length {len}",
                kind as char
            )));
        }
        if kind == b'z' {
            let expected = self.sha.clone().finalize();
            let stored = self.exact(32, "the checksum")?;
            let mut rest = [0u8; 1];
            if self.input.read(&mut rest)? != 0 {
                return Err(BackupError::Checksum("bytes follow the checksum".into()));
            }
            if stored[..] != expected[..] {
                return Err(BackupError::Checksum(format!(
                    "its SHA-256 is {}, the file says {}",
                    hex::encode(expected),
                    hex::encode(&stored)
                )));
            }
            self.done = true;
            return Ok(None);
        }
        self.sha.update(&head);
        let body = self.exact(len, "a record")?;
        self.sha.update(&body);
        let invalid = |e: String| BackupError::Invalid(e);
        let text =
            |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| invalid("a path is not UTF-8".into()));
        let u64_at = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        Ok(Some(match kind {
            b'h' => Record::Header(serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?),
            b't' if self.version == READS_ALSO => Record::Tenant(Box::new(
                serde_json::from_slice::<super::legacy::Format2Rows>(&body)
                    .map_err(|e| invalid(e.to_string()))?
                    .into_rows()
                    .map_err(invalid)?,
            )),
            b't' => {
                Record::Tenant(Box::new(serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?))
            }
            b'd' => Record::Dir(text(&body)?),
            b'f' => Record::File { size: u64_at(&body), path: text(&body[8..])? },
            b'x' => Record::Extent { offset: u64_at(&body), data: body[8..].to_vec() },
            b'l' => {
                let at = body
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or_else(|| invalid("a link without a target".into()))?;
                Record::Link { path: text(&body[..at])?, to: text(&body[at + 1..])? }
            }
            _ => Record::TenantEnd { skipped: u64_at(&body) },
        }))
    }
}

/// Checks the order of a tenant's tree as it streams by: every entry's
/// parent is a directory already met and still open in the walk, names
/// grow within a directory (so no entry comes twice), and a file's extents
/// lie in order within its size.
#[derive(Default)]
pub struct TreeCursor {
    /// The open directories from the root down, with the last name met in
    /// each; `levels[0]` is the root.
    levels: Vec<(String, Option<String>)>,
    /// The current file's size and where its data has reached.
    file: Option<(u64, u64)>,
}

impl TreeCursor {
    /// A cursor at the root of a tenant's tree.
    pub fn new() -> Self {
        TreeCursor { levels: vec![(String::new(), None)], file: None }
    }

    /// Places the entry `path`: how many directories above it stay open
    /// (its parent is the last), and its name.
    pub fn enter(&mut self, path: &str, dir: bool) -> Result<(usize, String), String> {
        self.file = None;
        let shown = || path.chars().take(80).collect::<String>();
        if !valid_relative_path(path) {
            return Err(format!("{:?} is not a relative path", shown()));
        }
        let comps: Vec<&str> = path.split('/').collect();
        if comps.len() > crate::tree::MAX_WALK_DEPTH {
            return Err(format!("{:?} lies deeper than {} levels", shown(), crate::tree::MAX_WALK_DEPTH));
        }
        let parent = comps.len() - 1;
        let open = self.levels.iter().skip(1).zip(&comps[..parent]).take_while(|((n, _), c)| n == *c).count();
        if open != parent {
            return Err(format!("{:?} comes before its directory or out of order", shown()));
        }
        self.levels.truncate(parent + 1);
        let name = comps[parent].to_string();
        let last = &mut self.levels[parent].1;
        if last.as_deref().is_some_and(|l| l >= name.as_str()) {
            return Err(format!("{:?} is listed twice or out of order", shown()));
        }
        *last = Some(name.clone());
        if dir {
            self.levels.push((name.clone(), None));
        }
        Ok((parent, name))
    }

    /// Starts a file of `size` bytes (after [`TreeCursor::enter`]).
    pub fn file(&mut self, size: u64) {
        self.file = Some((size, 0));
    }

    /// Checks an extent of the current file.
    pub fn extent(&mut self, offset: u64, len: usize) -> Result<(), String> {
        let Some((size, reached)) = self.file.as_mut() else {
            return Err("file data outside a file".into());
        };
        let end = offset.checked_add(len as u64).filter(|e| offset >= *reached && *e <= *size);
        let Some(end) = end else { return Err("file data out of order or past the file's size".into()) };
        *reached = end;
        Ok(())
    }
}

/// What [`check`] found in a valid backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The header.
    pub header: Header,
    /// The tenants, in order.
    pub tenants: Vec<String>,
}

/// Reads all of a backup and validates it: the header, the checksum, every
/// tenant's rows (`rows_ok` checks more, e.g. its data key), every path and
/// the order of everything. Memory stays in proportion to one tenant's rows.
pub fn check(
    input: impl Read,
    mut rows_ok: impl FnMut(&Header, &TenantRows) -> Result<(), BackupError>,
) -> Result<Summary, BackupError> {
    let mut r = Reader::new(input)?;
    let invalid = BackupError::Invalid;
    let header = match r.next_record()? {
        Some(Record::Header(h)) => h,
        _ => return Err(invalid("the first record is not the header".into())),
    };
    if header.master_key.len() != 64 || !header.master_key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("master_key is not a fingerprint (64 hex digits)".into()));
    }
    let mut tenants = Vec::new();
    let mut seen = BTreeSet::new();
    let mut cursor: Option<(String, TreeCursor)> = None;
    while let Some(rec) = r.next_record()? {
        if let Record::Tenant(rows) = &rec {
            if cursor.is_some() {
                return Err(invalid("a tenant starts inside another".into()));
            }
            let id = rows.check().map_err(invalid)?;
            if !seen.insert(id.to_string()) {
                return Err(invalid(format!("tenant {id} appears twice")));
            }
            rows_ok(&header, rows)?;
            cursor = Some((id.to_string(), TreeCursor::new()));
            continue;
        }
        if matches!(rec, Record::Header(_)) {
            return Err(invalid("a second header".into()));
        }
        let Some((id, c)) = cursor.as_mut() else {
            return Err(invalid("a tree entry outside a tenant".into()));
        };
        let shown = id.clone();
        let placed = match rec {
            Record::Dir(path) => c.enter(&path, true).map(drop),
            Record::File { path, size } => c.enter(&path, false).map(|_| c.file(size)),
            Record::Extent { offset, data } => c.extent(offset, data.len()),
            Record::Link { path, to } if valid_relative_path(&to) && to != path => {
                c.enter(&path, false).map(drop)
            }
            Record::Link { .. } => Err("a link's target is not a relative path".into()),
            _ => {
                tenants.push(std::mem::take(id));
                cursor = None;
                Ok(())
            }
        };
        placed.map_err(|e| invalid(format!("tenant {shown}: {e}")))?;
    }
    if cursor.is_some() {
        return Err(invalid("the last tenant does not end".into()));
    }
    Ok(Summary { header, tenants })
}

/// Copies a backup record by record through `change` (which may rewrite
/// the header and rows), writing a new checksum; the input's checksum is
/// verified on the way (a bad input leaves a partial output: write it to a
/// temporary file).
pub fn transform<R: Read, W: Write>(
    input: R,
    out: W,
    mut change: impl FnMut(&mut Record) -> Result<(), BackupError>,
) -> Result<W, BackupError> {
    let mut r = Reader::new(input)?;
    let mut header = match r.next_record()? {
        Some(Record::Header(h)) => Record::Header(h),
        _ => return Err(BackupError::Invalid("the first record is not the header".into())),
    };
    change(&mut header)?;
    let Record::Header(h) = &header else {
        return Err(BackupError::Invalid("the header changed kind".into()));
    };
    let mut w = Writer::new(out, h)?;
    while let Some(mut rec) = r.next_record()? {
        change(&mut rec)?;
        w.record(&rec)?;
    }
    w.finish()
}

/// Re-wraps every tenant's data key from the master key `from` to `to`
/// (offline: no gateway involved), streaming `input` to `out`. Refused
/// when the backup was not made under `from`.
pub fn rewrap<R: Read, W: Write>(
    input: R,
    out: W,
    from: &MasterKey,
    to: &MasterKey,
) -> Result<W, BackupError> {
    transform(input, out, |rec| {
        match rec {
            Record::Header(h) => {
                if h.master_key != from.fingerprint() {
                    return Err(BackupError::Invalid(format!(
                        "the backup was made under the master key of fingerprint {}, not under --from-key's {}",
                        h.master_key,
                        from.fingerprint()
                    )));
                }
                h.master_key = to.fingerprint();
            }
            Record::Tenant(rows) => {
                let tenant = rows.check().map_err(BackupError::Invalid)?;
                if let Some((_, key)) = rows.families.get_mut("data_key").and_then(|r| r.first_mut()) {
                    key.0 = rewrap_data_key(&tenant, &key.0, from, to)
                        .map_err(|e| BackupError::Invalid(e.to_string()))?;
                }
            }
            _ => {}
        }
        Ok(())
    })
}
