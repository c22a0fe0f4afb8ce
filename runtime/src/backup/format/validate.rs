//! The validation of a whole backup before a restore applies any of it:
//! [`check`] reads every record, and a [`TreeCursor`] per tenant checks the
//! order of its tree as it streams by, with memory in proportion to the
//! tree's depth only.

use super::{BackupError, Header, Reader, Record, valid_relative_path};
use crate::store::TenantRows;
use std::collections::BTreeSet;
use std::io::Read;

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
