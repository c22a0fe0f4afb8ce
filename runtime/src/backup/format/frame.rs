//! The framing of a backup file: a [`Writer`] that appends records and
//! seals the file with the SHA-256 of every byte before it, and a
//! [`Reader`] that reads them back one at a time, bounding each record's
//! length by its kind before reading it, and checks that checksum at the
//! end.

use super::{BackupError, Header, MAGIC, MAX_EXTENT, MAX_JSON, MAX_PATH, READS_ALSO, Record, VERSION};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

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
/// end only: use [`check`](super::check) before acting on anything read.
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
                serde_json::from_slice::<crate::backup::legacy::Format2Rows>(&body)
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
