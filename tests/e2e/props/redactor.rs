//! The secret redactor and placeholder expansion.

use super::*;

/// The forms of `value` the redactor promises to find: in clear, and for
/// values of at least [`MIN_ENCODED_BYTES`], base64 (both alphabets, with
/// and without padding), hex (both cases) and RFC 3986 percent-encoding.
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

/// The stretches of `text` outside `[redacted:NAME]` markers (and, since a
/// binary value can cut a character in two, outside U+FFFD).
fn unredacted<'a>(text: &'a str, names: &[String]) -> Vec<&'a str> {
    let mut parts = vec![text];
    for n in names {
        let marker = format!("[redacted:{n}]");
        parts = parts.iter().flat_map(|p| p.split(marker.as_str())).collect();
    }
    parts.iter().flat_map(|p| p.split('\u{FFFD}')).collect()
}

fn secret_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[!-~]{1,24}".prop_map(String::into_bytes),
        "\\PC{1,12}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..24),
        // Values that overlap the marker's own text.
        prop::sample::select(vec!["redacted", "[redacted:S0]", "S0]", "dact", "]]]]", "aaaa"])
            .prop_map(|s| s.as_bytes().to_vec()),
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Secrets planted anywhere in any text, in any promised form, are
    /// gone from the output: no stretch outside a marker holds any form of
    /// any secret, and every secret present in clear is reported.
    #[test]
    fn the_redactor_never_leaks_a_planted_secret(
        values in prop::collection::vec(secret_value(), 1..4),
        text in "\\PC{0,60}",
        plants in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..4),
    ) {
        let names: Vec<String> = (0..values.len()).map(|i| format!("S{i}")).collect();
        let secrets: Vec<(String, wasmclaw::vault::SecretValue)> =
            names.iter().cloned().zip(values.iter().map(|v| wasmclaw::vault::SecretValue::new(v.clone()))).collect();
        let mut text = text;
        for (which, form, at) in &plants {
            let forms = forms(&values[which.index(values.len())]);
            let Ok(form) = String::from_utf8(forms[form.index(forms.len())].clone()) else { continue };
            let mut at = at.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, &form);
        }
        let got = Redactor::new(&secrets).redact(&text);
        let parts = unredacted(&got.text, &names);
        for (name, value) in names.iter().zip(&values) {
            for form in forms(value) {
                for p in &parts {
                    prop_assert!(!contains(p.as_bytes(), &form), "{} left as {:?} in {:?}", name, form, got.text);
                }
            }
            if contains(text.as_bytes(), value) {
                prop_assert!(got.hits.contains(name), "{} present but not reported", name);
            }
        }
        prop_assert!(got.hits.iter().all(|h| names.contains(h)));
        prop_assert!(got.hits.windows(2).all(|w| w[0] < w[1]), "hits sorted and unique");
    }

    /// Placeholder expansion of any text never panics; text without a
    /// placeholder comes back unchanged; an expansion leaves no placeholder
    /// of the input behind (values are inserted literally).
    #[test]
    fn placeholders_expand_or_are_refused(
        parts in prop::collection::vec(prop_oneof![
            "\\PC{0,8}",
            Just("{{secret:".to_string()),
            Just("}}".to_string()),
            "[A-Z][A-Z0-9_]{0,6}",
            "[a-z {}]{0,4}",
        ], 0..8),
    ) {
        let text = parts.concat();
        let mut names = Vec::new();
        let result = expand_placeholders(&text, &mut |name| {
            names.push(name.to_string());
            Ok(format!("<{name}>"))
        });
        match result {
            Ok(out) => {
                if !text.contains("{{secret:") {
                    prop_assert_eq!(&out, &text);
                    prop_assert!(names.is_empty());
                } else {
                    prop_assert!(!names.is_empty());
                    for n in &names {
                        let value = format!("<{n}>");
                        prop_assert!(out.contains(&value));
                    }
                }
            }
            Err(e) => {
                prop_assert!(text.contains("{{secret:"));
                prop_assert!(matches!(e, wasmclaw::bindings::WitError::Invalid(_)), "{:?}", e);
            }
        }
    }
}
