//! The skill manifest (`skill.toml`) and the package framing (`.wcpkg`):
//! both arrive from whoever installs a skill.
//!
//! Properties: no input panics; a manifest that parses, written back as
//! TOML, parses to the same manifest; a package that parses is exactly the
//! bytes it serializes to, and checking its signature never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmclaw::manifest::Manifest;
use wasmclaw::package::Package;

/// `m` as `skill.toml` text (None when its input schema holds a JSON null,
/// which TOML cannot say: a TOML `nan` or `inf` becomes null in JSON).
fn render(m: &Manifest) -> Option<String> {
    use toml::{Table, Value};
    let mut t = Table::new();
    t.insert("name".into(), Value::from(m.name.as_str()));
    t.insert("version".into(), Value::from(m.version.as_str()));
    t.insert("description".into(), Value::from(m.description.as_str()));
    t.insert("input_schema".into(), Value::try_from(&m.input_schema).ok()?);
    let mut p = Table::new();
    let http: Vec<Value> = m.permissions.http.iter().map(|o| Value::from(o.to_string())).collect();
    p.insert("http".into(), Value::Array(http));
    let secrets: Vec<Value> = m.permissions.secrets.iter().map(|s| Value::from(s.as_str())).collect();
    p.insert("secrets".into(), Value::Array(secrets));
    p.insert("messaging".into(), Value::from(m.permissions.messaging));
    if let Some(c) = m.permissions.cron {
        let mut ct = Table::new();
        ct.insert("max_jobs".into(), Value::from(i64::from(c.max_jobs)));
        ct.insert("min_interval_secs".into(), Value::from(i64::try_from(c.min_interval_secs).ok()?));
        p.insert("cron".into(), Value::Table(ct));
    }
    t.insert("permissions".into(), Value::Table(p));
    let mut l = Table::new();
    for (k, v) in [
        ("fuel", m.limits.fuel),
        ("memory_bytes", m.limits.memory_bytes),
        ("timeout_ms", m.limits.timeout_ms),
    ] {
        if let Some(v) = v {
            l.insert(k.into(), Value::from(i64::try_from(v).ok()?));
        }
    }
    t.insert("limits".into(), Value::Table(l));
    Some(toml::to_string(&t).expect("a table serializes"))
}

fuzz_target!(|data: &[u8]| {
    // The package framing, on the raw bytes.
    if let Ok(p) = Package::parse(data) {
        assert_eq!(p.to_bytes(), data, "a parsed package re-serializes to other bytes");
        let _ = p.verify();
        let _ = Manifest::parse(&p.manifest);
    }
    // The manifest, on the bytes as text.
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Manifest::parse(text) {
        if let Some(again) = render(&m) {
            let back = Manifest::parse(&again)
                .unwrap_or_else(|e| panic!("a rendered manifest does not parse: {e}\n{again}"));
            assert_eq!(back, m, "a manifest changed through TOML:\n{again}");
        }
    }
});
