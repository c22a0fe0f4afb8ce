//! Inbound media: checked by its bytes (not by what the sender claims),
//! capped in size, and stored under a random name in the peer's directory
//! of its tenant (`users/<peer>/media/`), where only that tenant's skills,
//! called for that peer, can see it.

use crate::error::Error;
use std::path::{Path, PathBuf};

/// The types accepted, by their leading bytes: (extension, magic).
const KINDS: &[(&str, &[u8])] = &[
    ("jpg", b"\xFF\xD8\xFF"),
    ("png", b"\x89PNG\r\n\x1a\n"),
    ("gif", b"GIF87a"),
    ("gif", b"GIF89a"),
    ("pdf", b"%PDF-"),
];

/// The extension of an accepted type, judged by the bytes: JPEG, PNG, GIF,
/// WebP, PDF, or UTF-8 text.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if let Some((ext, _)) = KINDS.iter().find(|(_, magic)| bytes.starts_with(magic)) {
        return Some(ext);
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("webp");
    }
    if !bytes.is_empty() && std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0) {
        return Some("txt");
    }
    None
}

/// Stores `bytes` as a new file in `media_dir` (the peer's `media/`, held
/// open by the caller); its path as the peer's skills see it
/// (`media/3f….jpg`).
pub fn store(media_dir: &Path, bytes: &[u8], max_bytes: u64) -> Result<String, Error> {
    if bytes.len() as u64 > max_bytes {
        return Err(Error::TooLarge(format!(
            "the file is {} bytes; at most {max_bytes} are accepted",
            bytes.len()
        )));
    }
    let ext = sniff(bytes).ok_or_else(|| {
        Error::InvalidInput(
            "the file is not an accepted type (JPEG, PNG, GIF, WebP, PDF or UTF-8 text)".into(),
        )
    })?;
    let name = format!("{:032x}.{ext}", rand::random::<u128>());
    let path: PathBuf = media_dir.join(&name);
    // create_new: a random name never replaces anything, even a planted link.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io("a media file", e))?;
    std::io::Write::write_all(&mut f, bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io("a media file", e))?;
    Ok(format!("media/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_judged_by_their_bytes() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some("jpg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nIHDR"), Some("png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(sniff(b"%PDF-1.7"), Some("pdf"));
        assert_eq!(sniff("héllo".as_bytes()), Some("txt"));
        assert_eq!(sniff(b"MZ\x90\0\x03"), None, "an executable is refused");
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn files_get_random_names_and_the_cap_holds() {
        let d = tempfile::tempdir().unwrap();
        let media = d.path().join("media");
        std::fs::create_dir(&media).unwrap();
        let a = store(&media, b"\x89PNG\r\n\x1a\nxx", 100).unwrap();
        let b = store(&media, b"\x89PNG\r\n\x1a\nxx", 100).unwrap();
        assert!(a.starts_with("media/") && a.ends_with(".png") && a != b, "{a} {b}");
        assert_eq!(std::fs::read(d.path().join(&a)).unwrap(), b"\x89PNG\r\n\x1a\nxx");
        assert!(matches!(store(&media, &[b'x'; 101], 100), Err(Error::TooLarge(_))));
        assert!(matches!(store(&media, b"MZ\x90\0", 100), Err(Error::InvalidInput(_))));
        assert_eq!(std::fs::read_dir(&media).unwrap().count(), 2, "refused files leave nothing");
    }
}
