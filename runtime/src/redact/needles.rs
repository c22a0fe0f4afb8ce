//! The pattern set: every string that finds one secret value in text, in
//! clear and in each encoding listed in the module documentation (base64
//! whole and inside longer strings, hex, percent-encoding, JSON escaping);
//! values shorter than [`MIN_ENCODED_BYTES`] only in clear.

use super::MIN_ENCODED_BYTES;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Whether `b` is left as is by a percent-encoding set: letters and digits
/// plus `keep`.
fn kept(b: u8, keep: &[u8]) -> bool {
    b.is_ascii_alphanumeric() || keep.contains(&b)
}

/// `value` percent-encoded: bytes other than letters, digits and `keep` as
/// `%XX`, space as `+` when `plus`.
fn percent(value: &[u8], keep: &[u8], plus: bool, upper: bool) -> Zeroizing<String> {
    let digits = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    let mut out = Zeroizing::new(String::with_capacity(value.len() * 3));
    for &b in value {
        if kept(b, keep) {
            out.push(char::from(b));
        } else if plus && b == b' ' {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(digits[usize::from(b >> 4)]));
            out.push(char::from(digits[usize::from(b & 0xf)]));
        }
    }
    out
}

/// Every string to look for to find `value` (not empty), duplicates removed.
pub(super) fn needles_of(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut texts: Vec<Zeroizing<String>> = Vec::new();
    let clear = std::str::from_utf8(value).ok();
    let mut needles = vec![Zeroizing::new(value.to_vec())];
    if value.len() < MIN_ENCODED_BYTES {
        return needles;
    }

    // Base64, whole.
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        texts.push(Zeroizing::new(engine.encode(value)));
    }
    // Base64 inside a longer string: after `lead` bytes, the secret covers
    // bits [8·lead, 8·(lead + n)); character j covers bits [6j, 6j + 6).
    // Keep the characters entirely within the secret's bits.
    for lead in 0..3usize {
        let mut shifted = Zeroizing::new(vec![0u8; lead]);
        shifted.extend_from_slice(value);
        let first = (8 * lead).div_ceil(6);
        let end = 8 * (lead + value.len()) / 6;
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = Zeroizing::new(engine.encode(&shifted[..]));
            if let Some(inner) = encoded.get(first..end) {
                texts.push(Zeroizing::new(inner.to_string()));
            }
        }
    }
    // Hex.
    texts.push(Zeroizing::new(hex::encode(value)));
    texts.push(Zeroizing::new(hex::encode_upper(value)));
    // Percent-encoding: RFC 3986 unreserved, HTML forms (WHATWG, as the
    // `url` crate and browsers encode queries), `encodeURIComponent`, and
    // letters and digits only.
    for keep in [&b"-._~"[..], b"*-._", b"-_.!~*'()", b""] {
        for plus in [false, true] {
            for upper in [true, false] {
                texts.push(percent(value, keep, plus, upper));
            }
        }
    }
    // JSON string escaping (without the quotes).
    if let Some(s) = clear
        && let Ok(json) = serde_json::to_string(s).map(Zeroizing::new)
        && let Some(inner) = json.get(1..json.len().saturating_sub(1))
    {
        texts.push(Zeroizing::new(inner.to_string()));
    }

    for t in texts {
        if t.is_empty() {
            continue;
        }
        if !needles.iter().any(|n| n[..] == *t.as_bytes()) {
            needles.push(Zeroizing::new(t.as_bytes().to_vec()));
        }
    }
    needles
}
