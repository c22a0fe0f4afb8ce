//! Placeholder expansion: how the host puts a secret into a request the
//! guest wrote with `{{secret:NAME}}`, the guest never seeing the value.

use crate::bindings::WitError;
use crate::manifest::valid_secret_name;
use zeroize::Zeroizing;

const PLACEHOLDER_OPEN: &str = "{{secret:";
const PLACEHOLDER_CLOSE: &str = "}}";

/// `input` with every `{{secret:NAME}}` replaced by `resolve(NAME)`.
///
/// The first error of `resolve` is returned as is. A placeholder that is not
/// closed by `}}`, or whose name is not a valid secret name, is
/// `WitError::Invalid`. Values are not scanned again: a value containing
/// `{{secret:…}}` is inserted literally. Text without placeholders is
/// returned unchanged.
pub fn expand_placeholders(
    input: &str,
    resolve: &mut dyn FnMut(&str) -> Result<String, WitError>,
) -> Result<String, WitError> {
    if !input.contains(PLACEHOLDER_OPEN) {
        return Ok(input.to_string());
    }
    // Wiped if an error stops the expansion half-way.
    let mut out = Zeroizing::new(String::with_capacity(input.len() + 64));
    let mut rest = input;
    while let Some(i) = rest.find(PLACEHOLDER_OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + PLACEHOLDER_OPEN.len()..];
        let Some(j) = after.find(PLACEHOLDER_CLOSE) else {
            return Err(WitError::Invalid("a {{secret:NAME}} placeholder is not closed with }}".into()));
        };
        let name = &after[..j];
        if !valid_secret_name(name) {
            let shown: String = name.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect();
            return Err(WitError::Invalid(format!(
                "{shown:?} in a {{{{secret:NAME}}}} placeholder is not a secret name \
                 (A-Z, 0-9 and _, starting with a letter)"
            )));
        }
        let value = Zeroizing::new(resolve(name)?);
        out.push_str(&value);
        rest = &after[j + PLACEHOLDER_CLOSE.len()..];
    }
    out.push_str(rest);
    Ok(std::mem::take(&mut *out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(name: &str) -> Result<String, WitError> {
        match name {
            "API_KEY" => Ok("k-123".into()),
            "LOOP" => Ok("{{secret:API_KEY}}".into()),
            "DENIED" => Err(WitError::Denied("not for this origin".into())),
            _ => Err(WitError::NotFound(format!("{name} is not set"))),
        }
    }

    fn expand(input: &str) -> Result<String, WitError> {
        expand_placeholders(input, &mut resolver)
    }

    #[test]
    fn placeholders_are_expanded() {
        assert_eq!(expand("Bearer {{secret:API_KEY}}").unwrap(), "Bearer k-123");
        assert_eq!(expand("{{secret:API_KEY}}{{secret:API_KEY}}").unwrap(), "k-123k-123");
        assert_eq!(expand("a={{secret:API_KEY}}&b=2").unwrap(), "a=k-123&b=2");
        // A value is not expanded again.
        assert_eq!(expand("{{secret:LOOP}}").unwrap(), "{{secret:API_KEY}}");
        // Unicode around placeholders.
        assert_eq!(expand("é{{secret:API_KEY}}ü").unwrap(), "ék-123ü");
    }

    #[test]
    fn text_without_placeholders_is_unchanged() {
        for t in ["", "plain", "{{not:a-placeholder}}", "{{secret}}", "{{SECRET:API_KEY}}", "{ {secret:X}}"] {
            let mut called = false;
            let got = expand_placeholders(t, &mut |_| {
                called = true;
                Ok(String::new())
            });
            assert_eq!(got.unwrap(), t);
            assert!(!called);
        }
    }

    #[test]
    fn malformed_placeholders_are_invalid() {
        for t in [
            "{{secret:API_KEY",
            "x {{secret:API_KEY} y",
            "{{secret:}}",
            "{{secret:lower}}",
            "{{secret:A-B}}",
            "{{secret: API_KEY}}",
            "{{secret:{{secret:API_KEY}}",
            "{{secret:API_KEY}} {{secret:",
        ] {
            assert!(matches!(expand(t), Err(WitError::Invalid(_))), "{t:?}");
        }
    }

    #[test]
    fn resolve_errors_are_returned_as_is() {
        assert!(
            matches!(expand("{{secret:DENIED}}"), Err(WitError::Denied(m)) if m == "not for this origin")
        );
        assert!(matches!(expand("ok {{secret:MISSING}}"), Err(WitError::NotFound(_))));
    }
}
