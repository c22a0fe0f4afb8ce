//! The redactor on every encoding it knows, on overlaps and on short
//! values; the placeholder tests are beside their code.

use super::*;
use crate::vault::SecretValue;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

fn redactor(pairs: &[(&str, &[u8])]) -> Redactor {
    let pairs: Vec<(String, SecretValue)> =
        pairs.iter().map(|(n, v)| (n.to_string(), Zeroizing::new(v.to_vec()))).collect();
    Redactor::new(&pairs)
}

/// Checks that `encoded` inside text is redacted as `name`, and nothing
/// else is touched.
fn assert_redacted(r: &Redactor, encoded: &str, name: &str) {
    let text = format!("before {encoded} after");
    let got = r.redact(&text);
    assert_eq!(got.text, format!("before [redacted:{name}] after"), "encoding {encoded:?}");
    assert_eq!(got.hits, vec![name.to_string()]);
}

// Contains `>>>` and `???`, which base64-encode to `+` and `/`, a space,
// reserved URL characters and a non-ASCII character.
const VALUE: &str = "s3cr>>>et??? k=v&x/é~";

#[test]
fn clear_and_base64_are_redacted() {
    let r = redactor(&[("API_KEY", VALUE.as_bytes())]);
    assert_redacted(&r, VALUE, "API_KEY");
    let std_pad = STANDARD.encode(VALUE);
    let url_pad = URL_SAFE.encode(VALUE);
    assert_ne!(std_pad, url_pad, "the value must exercise both alphabets");
    assert!(std_pad.ends_with('='), "the value must exercise padding");
    for e in [std_pad, url_pad, STANDARD_NO_PAD.encode(VALUE), URL_SAFE_NO_PAD.encode(VALUE)] {
        assert_redacted(&r, &e, "API_KEY");
    }
}

#[test]
fn base64_inside_a_longer_string_is_redacted_at_every_alignment() {
    let r = redactor(&[("TOKEN", VALUE.as_bytes())]);
    for lead in 0..6 {
        for trail in 0..4 {
            let mut data = b"Xy!zq\x01".to_vec()[..lead].to_vec();
            data.extend_from_slice(VALUE.as_bytes());
            data.extend_from_slice(&b"\x02tail"[..trail]);
            for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                let encoded = engine.encode(&data);
                let got = r.redact(&format!("blob={encoded};"));
                assert_eq!(got.hits, vec!["TOKEN".to_string()], "lead {lead} trail {trail}: {encoded}");
                assert!(got.text.contains("[redacted:TOKEN]"));
                // At most 2 characters of context on either side remain.
                let kept = got.text.len() - "blob=;".len() - "[redacted:TOKEN]".len();
                assert!(kept <= (lead * 4).div_ceil(3) + 2 + (trail * 4).div_ceil(3) + 2 + 2, "{}", got.text);
            }
        }
    }
}

#[test]
fn hex_is_redacted_in_both_cases() {
    let r = redactor(&[("K", VALUE.as_bytes())]);
    assert_redacted(&r, &hex::encode(VALUE), "K");
    assert_redacted(&r, &hex::encode_upper(VALUE), "K");
    // A binary value, which cannot appear in text in clear.
    let binary = [0xff, 0x00, 0x10, 0x80, 0x7f, 0xfe];
    let r = redactor(&[("BIN", &binary)]);
    assert_redacted(&r, &hex::encode(binary), "BIN");
    assert_redacted(&r, &STANDARD.encode(binary), "BIN");
}

#[test]
fn percent_encoding_is_redacted() {
    let r = redactor(&[("K", VALUE.as_bytes())]);
    // RFC 3986: every byte but the unreserved ones.
    let rfc = "s3cr%3E%3E%3Eet%3F%3F%3F%20k%3Dv%26x%2F%C3%A9~";
    assert_redacted(&r, rfc, "K");
    assert_redacted(&r, &rfc.replace("%20", "+"), "K");
    assert_redacted(&r, "s3cr%3e%3e%3eet%3f%3f%3f%20k%3dv%26x%2f%c3%a9~", "K");
    assert_redacted(&r, "s3cr%3e%3e%3eet%3f%3f%3f+k%3dv%26x%2f%c3%a9~", "K");
    // As the `url` crate encodes a query (HTML forms): `~` encoded too.
    let form: String = url::form_urlencoded::byte_serialize(VALUE.as_bytes()).collect();
    assert_eq!(form, "s3cr%3E%3E%3Eet%3F%3F%3F+k%3Dv%26x%2F%C3%A9%7E");
    assert_redacted(&r, &form, "K");
    assert_redacted(&r, &form.to_lowercase(), "K");
    // The `percent-encoding` crate's NON_ALPHANUMERIC set.
    let all: String =
        percent_encoding::percent_encode(VALUE.as_bytes(), percent_encoding::NON_ALPHANUMERIC).collect();
    assert_redacted(&r, &all, "K");
}

#[test]
fn json_escaped_value_is_redacted() {
    let value = "pa\"ss\\word\n1";
    let r = redactor(&[("K", value.as_bytes())]);
    let json = serde_json::json!({ "out": value }).to_string();
    let got = r.redact(&json);
    assert_eq!(got.text, r#"{"out":"[redacted:K]"}"#);
    assert_eq!(got.hits, vec!["K".to_string()]);
}

#[test]
fn text_without_secrets_is_unchanged() {
    let r = redactor(&[("K", VALUE.as_bytes()), ("L", b"another-one")]);
    let text = "nothing to see here: s3cr>> et?? 736563 c2Vj, ünïcødé";
    let got = r.redact(text);
    assert_eq!(got.text, text);
    assert!(got.hits.is_empty());
}

#[test]
fn an_empty_redactor_is_a_no_op() {
    let r = redactor(&[]);
    assert!(r.is_empty());
    let got = r.redact("anything {{secret:X}}");
    assert_eq!(got, Redacted { text: "anything {{secret:X}}".into(), hits: vec![] });
    // Empty values are ignored (they would match everywhere).
    let r = Arc::new(redactor(&[("EMPTY", b"")]));
    assert!(r.is_empty());
    assert_eq!(r.scrub()("abc"), "abc");
}

#[test]
fn short_values_are_matched_only_in_clear() {
    let r = redactor(&[("PIN", b"abc")]);
    let got = r.redact("pin abc, hex 616263, b64 YWJj");
    assert_eq!(got.text, "pin [redacted:PIN], hex 616263, b64 YWJj");
    assert_eq!(got.hits, vec!["PIN".to_string()]);
    let r = redactor(&[("PIN", b"abcd")]);
    assert_eq!(r.redact("61626364").text, "[redacted:PIN]");
}

#[test]
fn every_occurrence_and_every_secret_is_replaced() {
    let r = redactor(&[("B", b"bbbbbbbb"), ("A", b"alpha-value")]);
    let text = format!("alpha-value x bbbbbbbb y alpha-value {}", hex::encode("bbbbbbbb"));
    let got = r.redact(&text);
    assert_eq!(got.text, "[redacted:A] x [redacted:B] y [redacted:A] [redacted:B]");
    assert_eq!(got.hits, vec!["A".to_string(), "B".to_string()]);
}

#[test]
fn longest_match_wins_and_overlaps_leave_nothing() {
    // One value contains the other: the longer names the region.
    let r = redactor(&[("SHORT", b"hunter22"), ("LONG", b"xx-hunter22-xx")]);
    let got = r.redact("a xx-hunter22-xx b hunter22 c");
    assert_eq!(got.text, "a [redacted:LONG] b [redacted:SHORT] c");
    assert_eq!(got.hits, vec!["LONG".to_string(), "SHORT".to_string()]);
    // Partly overlapping values: no piece of either is left.
    let r = redactor(&[("A", b"abcdef12"), ("B", b"ef12345678")]);
    let got = r.redact("<abcdef12345678>");
    assert_eq!(got.text, "<[redacted:B]>");
    assert_eq!(got.hits, vec!["A".to_string(), "B".to_string()]);
}

#[test]
fn scrub_redacts() {
    let s = Arc::new(redactor(&[("K", b"top-secret")])).scrub();
    assert_eq!(s("key=top-secret"), "key=[redacted:K]");
    assert_eq!(s(&format!("key={}", STANDARD.encode("top-secret"))), "key=[redacted:K]");
}

#[test]
fn debug_shows_names_not_values() {
    let r = redactor(&[("K", b"top-secret")]);
    let shown = format!("{r:?}");
    assert!(shown.contains('K') && !shown.contains("top-secret"), "{shown}");
}
