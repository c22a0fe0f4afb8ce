//! A backup copied record by record with some records changed
//! ([`transform`]), and its one use: re-wrapping every tenant's data key
//! under another master key, offline ([`rewrap`]).

use super::{BackupError, Reader, Record, Writer};
use crate::vault::{MasterKey, rewrap_data_key};
use std::io::{Read, Write};

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
