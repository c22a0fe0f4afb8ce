//! The skill manifest and package.

use super::*;

/// `m` as `skill.toml` text; None when its input schema holds a JSON null
/// (a TOML `nan` or `inf` is null in JSON, and TOML has no null).
fn render_manifest(m: &Manifest) -> Option<String> {
    use toml_value as tv;
    let mut t: tv::Table = vec![
        ("name".into(), m.name.as_str().into()),
        ("version".into(), m.version.as_str().into()),
        ("description".into(), m.description.as_str().into()),
        ("input_schema".into(), tv::from_json(&m.input_schema)?),
    ];
    let mut p = tv::Table::new();
    p.push(("http".into(), tv::array(m.permissions.http.iter().map(|o| o.to_string().into()))));
    p.push(("secrets".into(), tv::array(m.permissions.secrets.iter().map(|s| s.as_str().into()))));
    p.push(("messaging".into(), m.permissions.messaging.into()));
    if let Some(c) = m.permissions.cron {
        let ct: tv::Table = vec![
            ("max_jobs".into(), i64::from(c.max_jobs).into()),
            ("min_interval_secs".into(), i64::try_from(c.min_interval_secs).ok()?.into()),
        ];
        p.push(("cron".into(), tv::Value::Table(ct)));
    }
    t.push(("permissions".into(), tv::Value::Table(p)));
    let mut l = tv::Table::new();
    for (k, v) in [
        ("fuel", m.limits.fuel),
        ("memory_bytes", m.limits.memory_bytes),
        ("timeout_ms", m.limits.timeout_ms),
    ] {
        if let Some(v) = v {
            l.push((k.into(), i64::try_from(v).ok()?.into()));
        }
    }
    t.push(("limits".into(), tv::Value::Table(l)));
    Some(tv::to_string(t))
}

/// A little TOML writer (the tests crate does not depend on `toml`): enough
/// for a manifest, with every string quoted as a JSON string (a valid TOML
/// basic string) and every key quoted.
mod toml_value {
    use serde_json::Value as Json;

    pub enum Value {
        Str(String),
        Int(i64),
        Float(f64),
        Bool(bool),
        Array(Vec<Value>),
        Table(Table),
    }
    pub type Table = Vec<(String, Value)>;

    /// `s` as a TOML basic string: a JSON string is one, but for DEL,
    /// which JSON leaves as is and TOML wants escaped.
    pub fn quote(s: &str) -> String {
        Json::from(s).to_string().replace('\u{7f}', "\\u007F")
    }

    impl From<&str> for Value {
        fn from(s: &str) -> Self {
            Value::Str(s.to_string())
        }
    }
    impl From<String> for Value {
        fn from(s: String) -> Self {
            Value::Str(s)
        }
    }
    impl From<i64> for Value {
        fn from(i: i64) -> Self {
            Value::Int(i)
        }
    }
    impl From<bool> for Value {
        fn from(b: bool) -> Self {
            Value::Bool(b)
        }
    }
    pub fn array(items: impl Iterator<Item = Value>) -> Value {
        Value::Array(items.collect())
    }

    pub fn from_json(v: &Json) -> Option<Value> {
        Some(match v {
            Json::Null => return None,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64()?),
            },
            Json::String(s) => Value::Str(s.clone()),
            Json::Array(a) => Value::Array(a.iter().map(from_json).collect::<Option<_>>()?),
            Json::Object(o) => {
                Value::Table(o.iter().map(|(k, v)| Some((k.clone(), from_json(v)?))).collect::<Option<_>>()?)
            }
        })
    }

    fn inline(v: &Value, out: &mut String) {
        match v {
            Value::Str(s) => out.push_str(&quote(s)),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Float(f) => out.push_str(&format!("{f:?}")),
            Value::Bool(b) => out.push_str(&b.to_string()),
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    inline(x, out);
                }
                out.push(']');
            }
            Value::Table(t) => {
                out.push('{');
                for (i, (k, x)) in t.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&format!(" {} = ", quote(k)));
                    inline(x, out);
                }
                out.push_str(" }");
            }
        }
    }

    /// A document: every value inline, one `key = value` a line.
    pub fn to_string(t: Table) -> String {
        let mut out = String::new();
        for (k, v) in &t {
            out.push_str(&quote(k));
            out.push_str(" = ");
            inline(v, &mut out);
            out.push('\n');
        }
        out
    }
}

/// (text, expected origin) of an `http(s)://host[:port]` origin.
fn origin() -> impl Strategy<Value = (String, String)> {
    let host = prop_oneof![
        "[a-z][a-z0-9]{0,10}(\\.[a-z]{2,5}){0,2}",
        any::<[u8; 4]>().prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
    ];
    (prop::bool::ANY, host, prop::option::of(1u16..)).prop_map(|(tls, host, port)| {
        let scheme = if tls { "https" } else { "http" };
        let text = match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        let port = port.unwrap_or(if tls { 443 } else { 80 });
        (text, format!("{scheme}://{host}:{port}"))
    })
}

/// Text that looks like TOML: keys of the manifest, values of every type,
/// tables, in any order, plus noise.
fn tomlish() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "name",
        "version",
        "description",
        "input_schema",
        "[permissions]",
        "http",
        "secrets",
        "messaging",
        "cron",
        "[limits]",
        "fuel",
        "memory_bytes",
        "timeout_ms",
        "max_jobs",
        "min_interval_secs",
        "type",
    ]);
    let value = prop::sample::select(vec![
        "\"x\"",
        "\"weather\"",
        "\"1\"",
        "1",
        "-1",
        "0",
        "9223372036854775807",
        "nan",
        "inf",
        "1979-05-27T07:32:00Z",
        "true",
        "[]",
        "[\"https://a.example\"]",
        "[\"ftp://a\"]",
        "[\"API_KEY\", \"API_KEY\"]",
        "{ max_jobs = 1, min_interval_secs = 0 }",
        "{ max_jobs = 4294967296, min_interval_secs = 1 }",
        "{ type = \"object\", x = nan }",
        "{}",
        "\"\u{0}\"",
    ]);
    let line = prop_oneof![
        (key.clone(), value).prop_map(|(k, v)| if k.starts_with('[') {
            k.to_string()
        } else {
            format!("{k} = {v}")
        }),
        ".{0,20}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

/// A valid manifest's text and what it must parse to (in the parsed form's
/// terms: origins as `scheme://host:port`, secrets sorted and deduplicated).
#[derive(Debug, Clone)]
struct GenManifest {
    text: String,
    name: String,
    version: String,
    description: String,
    origins: Vec<String>,
    secrets: Vec<String>,
    messaging: bool,
    cron: Option<CronWants>,
    fuel: Option<u64>,
}

fn valid_manifest() -> impl Strategy<Value = GenManifest> {
    (
        "[a-z0-9-]{1,64}",
        "[ -~]{1,64}",
        "\\PC{0,40}",
        prop::collection::vec(origin(), 0..4),
        prop::collection::vec("[A-Z][A-Z0-9_]{0,20}", 0..5),
        any::<bool>(),
        prop::option::of((any::<u32>(), 1..=i64::MAX as u64)),
        prop::option::of(0..=i64::MAX as u64),
    )
        .prop_map(|(name, version, description, origins, secrets, messaging, cron, fuel)| {
            let q = |s: &str| Value::from(s).to_string();
            let list = |v: Vec<String>| format!("[{}]", v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "));
            let mut text = format!(
                "name = {}\nversion = {}\ndescription = {}\n\n[permissions]\nhttp = {}\nsecrets = {}\nmessaging = {messaging}\n",
                q(&name),
                q(&version),
                q(&description),
                list(origins.iter().map(|o| o.0.clone()).collect()),
                list(secrets.clone()),
            );
            if let Some((max_jobs, min_interval_secs)) = cron {
                text.push_str(&format!("cron = {{ max_jobs = {max_jobs}, min_interval_secs = {min_interval_secs} }}\n"));
            }
            if let Some(fuel) = fuel {
                text.push_str(&format!("\n[limits]\nfuel = {fuel}\n"));
            }
            let secrets: BTreeSet<String> = secrets.into_iter().collect();
            GenManifest {
                text,
                name,
                version,
                description,
                origins: origins.into_iter().map(|o| o.1).collect(),
                secrets: secrets.into_iter().collect(),
                messaging,
                cron: cron.map(|(max_jobs, min_interval_secs)| CronWants { max_jobs, min_interval_secs }),
                fuel,
            }
        })
}

proptest! {
    #![proptest_config(config(256))]

    /// Any text, and text shaped like a manifest, gives a manifest or an
    /// error message; a manifest that parses survives being written back.
    #[test]
    fn manifest_text_never_panics_and_what_parses_round_trips(text in prop_oneof![".{0,200}", tomlish()]) {
        if let Ok(m) = Manifest::parse(&text)
            && let Some(again) = render_manifest(&m)
        {
            let back = Manifest::parse(&again).map_err(|e| TestCaseError::fail(format!("{e}\n{again}")))?;
            prop_assert_eq!(back, m);
        }
    }

    /// A generated valid manifest parses to exactly what it says, and
    /// survives being written back.
    #[test]
    fn valid_manifests_parse_to_what_they_say_and_round_trip(g in valid_manifest()) {
        let m = Manifest::parse(&g.text).map_err(|e| TestCaseError::fail(format!("{e}\n{}", g.text)))?;
        prop_assert_eq!(&m.name, &g.name);
        prop_assert_eq!(&m.version, &g.version);
        prop_assert_eq!(&m.description, &g.description);
        prop_assert_eq!(m.permissions.http.iter().map(|o| o.to_string()).collect::<Vec<_>>(), g.origins.clone());
        prop_assert_eq!(&m.permissions.secrets, &g.secrets);
        prop_assert_eq!(m.permissions.messaging, g.messaging);
        prop_assert_eq!(m.permissions.cron, g.cron);
        prop_assert_eq!(m.limits.fuel, g.fuel);
        prop_assert_eq!(&m.input_schema, &json!({"type": "object"}));
        let again = render_manifest(&m).expect("renders");
        prop_assert_eq!(Manifest::parse(&again).map_err(TestCaseError::fail)?, m);
    }

    /// A signed package round-trips byte for byte and verifies; any one byte
    /// changed, or any cut, gives a package that does not parse or does not
    /// verify.
    #[test]
    fn packages_round_trip_and_no_changed_byte_verifies(
        component in prop::collection::vec(any::<u8>(), 0..64),
        manifest in "\\PC{0,64}",
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
        cut in any::<prop::sample::Index>(),
    ) {
        let p = Package::sign(component, manifest, wasmclaw_tests::publisher()).unwrap();
        let bytes = p.to_bytes();
        let back = Package::parse(&bytes).unwrap();
        prop_assert_eq!(&back, &p);
        back.verify().unwrap();
        let mut changed = bytes.clone();
        changed[at.index(bytes.len())] ^= flip;
        prop_assert!(Package::parse(&changed).and_then(|p| p.verify()).is_err());
        prop_assert!(Package::parse(&bytes[..cut.index(bytes.len())]).is_err());
    }

    /// Arbitrary bytes never panic the package parser; what parses is
    /// exactly the bytes it serializes to.
    #[test]
    fn package_framing_of_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..300),
        with_magic in any::<bool>(),
    ) {
        let bytes = if with_magic { [wasmclaw::package::MAGIC.as_slice(), body.as_slice()].concat() } else { body };
        if let Ok(p) = Package::parse(&bytes) {
            prop_assert_eq!(p.to_bytes(), bytes);
            let _ = p.verify();
        }
    }
}
