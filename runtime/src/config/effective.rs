//! The effective configuration as the operator reads it through the API
//! (`GET /v1/config`, the dashboard's Settings page): every setting, with
//! whatever could be a credential replaced by `***`. The configuration
//! holds no secret of its own (the admin and master keys come from the
//! environment), but a URL in it may: a provider's `base_url` or the
//! dashboard's `public_url` with user info or a `?key=` parameter, and
//! the store URL (which only `--store` and `WASMCLAW_STORE` set) with its
//! password.

use super::RuntimeConfig;
use crate::store_location::StoreLocation;
use serde_json::Value;

/// What a redacted part reads.
const HIDDEN: &str = "***";

impl RuntimeConfig {
    /// The configuration as JSON, credentials in URLs hidden, with the
    /// store as `redb` or its redacted URL.
    pub fn redacted(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        hide_in_urls(&mut v);
        if let Value::Object(o) = &mut v {
            let store = match &self.store {
                StoreLocation::Embedded => "redb".to_string(),
                StoreLocation::Postgres(url) => url.redacted(),
            };
            o.insert("store".into(), Value::String(store));
        }
        v
    }
}

/// The settings of [`RuntimeConfig::redacted`] as `(dotted.key, value)`
/// lines in key order (`pool.max_instances`, `1000`): what the CLI and the
/// Settings page show. An empty table or list shows as `{}` or `[]`.
pub fn dotted(v: &Value) -> Vec<(String, String)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(fields) if !fields.is_empty() => {
                for (k, v) in fields {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            Value::String(s) => out.push((prefix.to_string(), s.clone())),
            Value::Null => out.push((prefix.to_string(), "(not set)".into())),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out.sort();
    out
}

/// Hides the credentials of every URL among the strings of `v`.
fn hide_in_urls(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(hidden) = hide_credentials(s) {
                *s = hidden;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_in_urls),
        Value::Object(fields) => fields.values_mut().for_each(hide_in_urls),
        _ => {}
    }
}

/// `text` with a URL's user, password, query values and fragment hidden;
/// `None` when it is not a URL or holds none of them. Anything the `url`
/// crate reads as a URL counts, with or without `//` (`https:user:pw@host`
/// is one to reqwest too); a text with a `:` and an `@` that does not
/// parse is hidden whole.
fn hide_credentials(text: &str) -> Option<String> {
    if !text.contains(':') {
        return None;
    }
    let Ok(mut url) = url::Url::parse(text) else {
        return text.contains('@').then(|| HIDDEN.to_string());
    };
    let mut changed = false;
    if !url.username().is_empty() {
        changed |= url.set_username(HIDDEN).is_ok();
    }
    if url.password().is_some() {
        changed |= url.set_password(Some(HIDDEN)).is_ok();
    }
    if url.query().is_some_and(|q| !q.is_empty()) {
        // Every value: a word list of secret names always misses one
        // (`pwd`, `jwt`, `a=b;api_key=c`). A bare name may be a token.
        let pairs: Vec<(String, String)> =
            url.query_pairs()
                .map(|(k, v)| {
                    if v.is_empty() {
                        (HIDDEN.into(), String::new())
                    } else {
                        (k.into_owned(), HIDDEN.into())
                    }
                })
                .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if url.fragment().is_some_and(|f| !f.is_empty()) {
        url.set_fragment(Some(HIDDEN));
        changed = true;
    }
    changed.then(|| url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> RuntimeConfig {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn every_section_is_shown_and_plain_values_are_kept() {
        let v = RuntimeConfig::default().redacted();
        for key in super::super::OPERATOR_KEYS.iter().filter(|k| !matches!(**k, "admin_key" | "master_key")) {
            assert!(v.get(*key).is_some(), "{key} is missing from {v}");
        }
        assert_eq!(v["listen"], "127.0.0.1:8420");
        assert_eq!(v["store"], "redb");
        assert_eq!(v["pool"]["max_instances"], RuntimeConfig::default().pool.max_instances);
    }

    #[test]
    fn credentials_in_urls_are_hidden() {
        let c = config(
            "[providers.a]\nkind = \"openai\"\nbase_url = \"https://user:pa55word@llm.example.com/v1?api_key=k3y&region=eu\"\n\
             [providers.b]\nkind = \"anthropic\"\nbase_url = \"https://t0ken@llm.example.com/v1#fr4g\"\n\
             [providers.c]\nkind = \"openai\"\nbase_url = \"https://llm.example.com/v1\"\n\
             [dashboard]\npublic_url = \"https://admin:hunter2@dash.example.com\"\n",
        );
        let text = c.redacted().to_string();
        for secret in ["pa55word", "k3y", "t0ken", "fr4g", "hunter2", "user:", "admin:"] {
            assert!(!text.contains(secret), "{secret} shows in {text}");
        }
        // What is not a credential stays: the host, the path, a
        // parameter's name.
        assert!(text.contains("region=***") && text.contains("https://llm.example.com/v1\""), "{text}");
    }

    #[test]
    fn the_store_url_shows_without_its_password() {
        let store = "postgres://gw:s3cret@db.example.com/wasmclaw?sslpassword=p4ss";
        let c = RuntimeConfig { store: StoreLocation::parse(store).unwrap(), ..Default::default() };
        let v = c.redacted();
        let store = v["store"].as_str().unwrap();
        assert!(
            store.contains("db.example.com") && !store.contains("s3cret") && !store.contains("p4ss"),
            "{store}"
        );
    }

    #[test]
    fn settings_flatten_to_dotted_keys() {
        let v = serde_json::json!({"b": {"x": 1, "y": null, "z": {}}, "a": "text", "l": [1, 2]});
        let lines = dotted(&v);
        let want = [("a", "text"), ("b.x", "1"), ("b.y", "(not set)"), ("b.z", "{}"), ("l", "[1,2]")];
        assert_eq!(lines, want.map(|(k, v)| (k.to_string(), v.to_string())));
    }

    #[test]
    fn urls_without_slashes_and_any_parameter_are_hidden() {
        for (url, secret) in [
            ("https:nsuser:ns-pass@llm.example.com/v1", "ns-pass"),
            ("https:/osuser:os-pass@llm.example.com/v1", "os-pass"),
            ("https:\\\\bsuser:bs-pass@llm.example.com/v1", "bs-pass"),
            ("https://llm.example.com/v1?pwd=pw-value", "pw-value"),
            ("https://llm.example.com/v1?region=eu;api_key=semi-key", "semi-key"),
            ("https://llm.example.com/v1?bare-token-value", "bare-token-value"),
        ] {
            let hidden = hide_credentials(url).unwrap_or_else(|| panic!("{url} kept"));
            assert!(!hidden.contains(secret), "{url} → {hidden}");
        }
    }

    #[test]
    fn a_url_that_does_not_parse_is_hidden_whole() {
        assert_eq!(hide_credentials("https://us er:pw@exa mple.com").as_deref(), Some(HIDDEN));
        assert_eq!(hide_credentials("not a url"), None);
        assert_eq!(hide_credentials("https://example.com/x"), None);
        assert_eq!(hide_credentials("localhost:8420"), None);
        assert_eq!(hide_credentials("help@example.com"), None);
    }
}
