//! The secret redactor (skill outputs, logs, messages and error texts are
//! scrubbed of every secret the call could reach) and the `{{secret:NAME}}`
//! placeholder expansion (on request text a skill writes).
//!
//! Properties: nothing panics; whatever the text, and wherever a secret is
//! planted in it (in clear, hex, base64 or percent-encoded), no stretch of
//! the output outside a `[redacted:NAME]` marker contains the secret in any
//! of those forms, and a secret present in clear is reported as a hit.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use wasmclaw::redact::{MIN_ENCODED_BYTES, Redactor, expand_placeholders};

#[derive(Debug, Arbitrary)]
struct Input {
    secrets: Vec<Vec<u8>>,
    text: String,
    /// (secret, encoding, where): a secret planted in the text.
    plant: Vec<(u8, u8, u16)>,
}

/// The forms of `value` the redactor promises to find.
fn forms(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![value.to_vec()];
    if value.len() >= MIN_ENCODED_BYTES {
        for e in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            out.push(e.encode(value).into_bytes());
        }
        let hex: String = value.iter().map(|b| format!("{b:02x}")).collect();
        out.push(hex.to_uppercase().into_bytes());
        out.push(hex.into_bytes());
        let pct: String = value
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        out.push(pct.into_bytes());
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|input: Input| {
    let secrets: Vec<(String, zeroize::Zeroizing<Vec<u8>>)> = input
        .secrets
        .iter()
        .take(4)
        .enumerate()
        .map(|(i, v)| (format!("S{i}"), zeroize::Zeroizing::new(v.clone())))
        .collect();
    let mut text = input.text;
    for &(which, encoding, at) in input.plant.iter().take(4) {
        let Some((_, value)) = secrets.get(usize::from(which) % secrets.len().max(1)) else { break };
        let forms = forms(value);
        let form = &forms[usize::from(encoding) % forms.len()];
        let Ok(form) = std::str::from_utf8(form) else { continue };
        let mut at = usize::from(at) % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.insert_str(at, form);
    }

    let r = Redactor::new(&secrets);
    let got = r.redact(&text);
    let mut segments: Vec<&str> = vec![&got.text];
    for (name, _) in &secrets {
        let marker = format!("[redacted:{name}]");
        segments = segments.iter().flat_map(|s| s.split(marker.as_str())).collect();
    }
    // A clear value that is not UTF-8 can cut a character in two, which
    // comes out as U+FFFD: its bytes are not the secret's.
    let segments: Vec<&str> = segments.iter().flat_map(|s| s.split('\u{FFFD}')).collect();
    for (name, value) in &secrets {
        if value.is_empty() {
            continue;
        }
        for form in forms(value) {
            for seg in &segments {
                assert!(!contains(seg.as_bytes(), &form), "{name} left as {form:?} in {:?}", got.text);
            }
        }
        if contains(text.as_bytes(), value) {
            assert!(got.hits.contains(name), "{name} found but not reported");
        }
    }
    assert!(got.hits.iter().all(|h| secrets.iter().any(|(n, _)| n == h)));

    // Placeholders: every name resolves to a fixed value.
    match expand_placeholders(&text, &mut |name| Ok(format!("<{name}>"))) {
        Ok(out) => {
            if !text.contains("{{secret:") {
                assert_eq!(out, text);
            }
        }
        Err(e) => assert!(text.contains("{{secret:"), "{e:?} on text without placeholders"),
    }
});
