//! The skill manifest (`skill.toml`): a skill's identity and the parameters
//! of the permissions it wants. The component's imports say *which*
//! capabilities it uses; the manifest says *with what* (origins, secret
//! names, cron limits, resource limits).
//!
//! ```toml
//! name = "weather"
//! version = "0.1.0"
//! description = "Current weather for a city."
//! input_schema = { type = "object", properties = { city = { type = "string" } } }
//!
//! [permissions]
//! http = ["https://api.weather.example"]
//! secrets = ["WEATHER_API_KEY"]
//! messaging = false
//! cron = { max_jobs = 2, min_interval_secs = 3600 }
//!
//! [limits]
//! fuel = 200000000
//! memory_bytes = 33554432
//! timeout_ms = 5000
//! ```

use crate::origin::Origin;
use serde::Deserialize;
use std::path::Path;

/// Why a manifest was refused; the message names the file, line and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ManifestError {
    file: String,
    message: String,
}

/// A parsed and validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Machine name; must match the component's `describe`.
    pub name: String,
    /// Version; must match the component's `describe`.
    pub version: String,
    /// What the skill does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: serde_json::Value,
    /// The permissions' parameters.
    pub permissions: Permissions,
    /// Resource limits the skill wants (clamped by the tenant and the operator).
    pub limits: WantedLimits,
}

/// What a skill asks to be allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// Origins it wants to reach over `http`.
    pub http: Vec<Origin>,
    /// Secret names it wants to use in requests.
    pub secrets: Vec<String>,
    /// Whether it wants to message the tenant's contacts.
    pub messaging: bool,
    /// Scheduling it wants, if any.
    pub cron: Option<CronWants>,
}

/// Scheduling a skill asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronWants {
    /// Jobs it may keep at once.
    pub max_jobs: u32,
    /// Shortest interval between runs it needs, in seconds.
    pub min_interval_secs: u64,
}

/// Limits a skill wants; absent ones take the tenant's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WantedLimits {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Memory per call, in bytes.
    pub memory_bytes: Option<u64>,
    /// Wall-clock time per call, in milliseconds.
    pub timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default = "any_object")]
    input_schema: toml::Value,
    #[serde(default)]
    permissions: RawPermissions,
    #[serde(default)]
    limits: WantedLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPermissions {
    #[serde(default)]
    http: Vec<String>,
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    messaging: bool,
    cron: Option<CronWants>,
}

fn any_object() -> toml::Value {
    toml::Value::Table(toml::map::Map::from_iter([("type".to_string(), toml::Value::from("object"))]))
}

/// Whether `name` is a valid secret name: 1–64 of `A-Z`, `0-9`, `_`,
/// starting with a letter.
pub fn valid_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `name` is a valid skill name: 1–64 of `a-z`, `0-9`, `-`.
pub fn valid_skill_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ManifestError { file: file.clone(), message: format!("cannot read: {e}") })?;
        Self::parse(&text).map_err(|message| ManifestError { file, message })
    }

    /// Parses and validates manifest text; the error names the line and key.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        if !valid_skill_name(&raw.name) {
            return Err(format!("name {:?}: use 1-64 lower-case letters, digits or dashes", raw.name));
        }
        if raw.version.is_empty() || raw.version.len() > 64 {
            return Err("version: must be 1-64 characters".into());
        }
        if raw.description.len() > 4096 {
            return Err("description: longer than 4096 bytes".into());
        }
        let input_schema = serde_json::to_value(&raw.input_schema)
            .map_err(|e| format!("input_schema: not representable as JSON: {e}"))?;
        if !input_schema.is_object() {
            return Err("input_schema: must be a table (a JSON Schema object)".into());
        }
        let mut http = Vec::new();
        for o in &raw.permissions.http {
            http.push(Origin::parse(o).map_err(|e| format!("permissions.http: {e}"))?);
        }
        for s in &raw.permissions.secrets {
            if !valid_secret_name(s) {
                return Err(format!(
                    "permissions.secrets: {s:?} is not a secret name (A-Z, 0-9, _; starting with a letter)"
                ));
            }
        }
        if let Some(c) = raw.permissions.cron
            && c.min_interval_secs == 0
        {
            return Err("permissions.cron.min_interval_secs: must be at least 1".into());
        }
        let mut secrets = raw.permissions.secrets;
        secrets.sort();
        secrets.dedup();
        Ok(Manifest {
            name: raw.name,
            version: raw.version,
            description: raw.description,
            input_schema,
            permissions: Permissions {
                http,
                secrets,
                messaging: raw.permissions.messaging,
                cron: raw.permissions.cron,
            },
            limits: raw.limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name = "weather"
version = "0.1.0"
description = "Current weather."
input_schema = { type = "object", properties = { city = { type = "string" } } }

[permissions]
http = ["https://api.weather.example", "http://127.0.0.1:8080"]
secrets = ["WEATHER_API_KEY"]
messaging = true
cron = { max_jobs = 2, min_interval_secs = 60 }

[limits]
fuel = 1000
"#;

    #[test]
    fn a_full_manifest_parses() {
        let m = Manifest::parse(FULL).unwrap();
        assert_eq!(m.name, "weather");
        assert_eq!(m.input_schema["properties"]["city"]["type"], "string");
        assert_eq!(m.permissions.http.len(), 2);
        assert_eq!(m.permissions.http[0].to_string(), "https://api.weather.example:443");
        assert_eq!(m.permissions.secrets, vec!["WEATHER_API_KEY".to_string()]);
        assert!(m.permissions.messaging);
        assert_eq!(m.permissions.cron, Some(CronWants { max_jobs: 2, min_interval_secs: 60 }));
        assert_eq!(m.limits.fuel, Some(1000));
    }

    #[test]
    fn a_minimal_manifest_asks_for_nothing() {
        let m = Manifest::parse("name = \"echo\"\nversion = \"1\"\n").unwrap();
        assert_eq!(m.permissions, Permissions::default());
        assert_eq!(m.input_schema, serde_json::json!({"type": "object"}));
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let cases = [
            ("name = \"x\"\nversion = \"1\"\nbogus = 1\n", "bogus"),
            ("name = \"x\"\nversion = \"1\"\n[permissions]\nhttp = [\"ftp://a\"]\n", "permissions.http"),
            ("name = \"x\"\nversion = \"1\"\n[permissions]\nsecrets = [\"lower\"]\n", "permissions.secrets"),
            ("name = \"X Y\"\nversion = \"1\"\n", "name"),
            ("name = \"x\"\n", "version"),
            ("name = \"x\"\nversion = 1\n", "line 2"),
            ("name = \"x\"\nversion = \"1\"\n[limits]\nfuel = -1\n", "line 4"),
            (
                "name = \"x\"\nversion = \"1\"\n[permissions]\ncron = { max_jobs = 1, min_interval_secs = 0 }\n",
                "min_interval",
            ),
        ];
        for (text, want) in cases {
            let e = Manifest::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("skill.toml");
        std::fs::write(&p, "name = 3").unwrap();
        let e = Manifest::load(&p).unwrap_err().to_string();
        assert!(e.starts_with(&p.display().to_string()), "{e}");
        let e = Manifest::load(&dir.path().join("none.toml")).unwrap_err().to_string();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn secret_names() {
        assert!(valid_secret_name("API_KEY_2"));
        for bad in ["", "api", "2KEY", "A-B", "{{x}}", &"A".repeat(65)] {
            assert!(!valid_secret_name(bad), "{bad:?}");
        }
    }
}
