//! A tenant's policy (what the tenant grants its skills) and the [`Grant`]
//! of one skill for one tenant: the intersection of the skill's manifest and
//! the tenant's policy, computed once when the skill is bound to the tenant
//! and checked by every host call.
//!
//! ```toml
//! [limits]                       # the tenant's limits, clamped to the operator's caps
//! fuel = 500000000
//! timeout_ms = 5000
//! concurrency = 4
//!
//! [[http]]                       # an origin the tenant's skills may reach…
//! origin = "https://api.weather.example"
//! secrets = ["WEATHER_API_KEY"]  # …and the secrets that may be sent to it
//!
//! [[contacts]]                   # recipients the tenant's skills may message
//! name = "ops"
//! channel = "webhook"
//! url = "https://hooks.example.com/wasmclaw"
//!
//! [messaging]
//! signing_secret = "WEBHOOK_SIGNING_KEY"   # tenant secret used for the HMAC
//! max_body_bytes = 65536
//! per_minute = 60
//!
//! [cron]
//! max_jobs = 10
//! min_interval_secs = 60
//! ```

use crate::config::{LimitOverrides, Limits};
use crate::manifest::{Manifest, valid_secret_name};
use crate::origin::Origin;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What a tenant grants its skills. Everything absent is not granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantPolicy {
    /// The tenant's limits; absent fields take the operator's defaults.
    pub limits: TenantLimits,
    /// Origins granted for outbound HTTP, each with the secrets allowed to it.
    pub http: Vec<HttpGrant>,
    /// Recipients the tenant's skills may message.
    pub contacts: Vec<Contact>,
    /// Messaging settings.
    pub messaging: MessagingPolicy,
    /// Scheduling limits; absent means the tenant's skills may not schedule.
    pub cron: Option<CronPolicy>,
}

/// The tenant-level limits (each clamped to the operator's cap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantLimits {
    /// Fuel per call.
    pub fuel: Option<u64>,
    /// Memory per call, bytes.
    pub memory_bytes: Option<u64>,
    /// Wall-clock time per call, ms.
    pub timeout_ms: Option<u64>,
    /// Calls at once.
    pub concurrency: Option<u32>,
}

/// One granted origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGrant {
    /// The origin.
    pub origin: Origin,
    /// Secrets whose values may be substituted into requests to it.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// A named recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The name skills use.
    pub name: String,
    /// The channel; `webhook` is the only one so far.
    pub channel: Channel,
    /// Where the webhook is posted.
    pub url: String,
    /// The peer (user id) this contact reaches, if it is one. In an agent's
    /// session a skill may message only its peer's contacts (unless
    /// `[messaging] sessions_message_any = true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

/// A messaging channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// An HTTP POST of JSON, signed with HMAC-SHA256.
    Webhook,
}

/// Messaging settings of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagingPolicy {
    /// The tenant secret holding the webhook signing key.
    pub signing_secret: Option<String>,
    /// Largest message body, bytes.
    pub max_body_bytes: u32,
    /// Messages the tenant may send per minute.
    pub per_minute: u32,
    /// Whether a skill called in an agent's session may message any of the
    /// tenant's contacts, not only the session peer's (default false).
    pub sessions_message_any: bool,
}

impl Default for MessagingPolicy {
    fn default() -> Self {
        MessagingPolicy {
            signing_secret: None,
            max_body_bytes: 64 * 1024,
            per_minute: 60,
            sessions_message_any: false,
        }
    }
}

/// Scheduling limits of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronPolicy {
    /// Jobs the tenant may hold, over all its skills.
    pub max_jobs: u32,
    /// Shortest interval between runs of a job, seconds.
    pub min_interval_secs: u64,
}

/// Refuses keys that belong to the operator's configuration.
fn refuse_operator_keys<'a>(mut keys: impl Iterator<Item = &'a str>) -> Result<(), String> {
    match keys.find(|k| crate::config::OPERATOR_KEYS.contains(k)) {
        Some(k) => Err(format!(
            "{k:?} is an operator-level key (set in the operator's wasmclaw.toml); a tenant policy cannot set it"
        )),
        None => Ok(()),
    }
}

/// Most bytes of message body any tenant may be granted.
pub const MAX_MESSAGE_BYTES: u32 = 64 * 1024;

impl TenantPolicy {
    /// Parses and validates a policy (TOML); the error names the line and key.
    /// A key of the operator's configuration (listen address, data
    /// directory, caps, trust, …) is refused, naming the key.
    pub fn parse(text: &str) -> Result<TenantPolicy, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        refuse_operator_keys(table.keys().map(String::as_str))?;
        let p: TenantPolicy = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        p.validate()?;
        Ok(p)
    }

    /// Parses and validates a policy given as JSON (the same structure as
    /// the TOML), refusing operator keys as [`TenantPolicy::parse`] does.
    pub fn parse_json(text: &str) -> Result<TenantPolicy, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let Some(map) = value.as_object() else {
            return Err("a policy is a JSON object".into());
        };
        refuse_operator_keys(map.keys().map(String::as_str))?;
        let p: TenantPolicy = serde_json::from_value(value).map_err(|e| e.to_string())?;
        p.validate()?;
        Ok(p)
    }

    /// Checks that every origin and contact URL names a public host: no
    /// loopback, private, link-local (metadata) or other non-public IP
    /// literal, and no `localhost`. A policy a tenant's admin writes must
    /// pass this (the operator's need not): otherwise a tenant could point
    /// its skills or its webhooks at the gateway's own network.
    pub fn check_public(&self) -> Result<(), String> {
        let public = |o: &Origin| -> bool {
            let host = o.host.trim_end_matches('.');
            let local_name = host == "localhost" || host.ends_with(".localhost");
            !local_name && o.ip_literal().is_none_or(crate::origin::is_public)
        };
        for g in &self.http {
            if !public(&g.origin) {
                return Err(format!("http: {} is not a public origin", g.origin));
            }
        }
        for c in &self.contacts {
            let origin = url::Url::parse(&c.url).ok().and_then(|u| Origin::of_url(&u).ok());
            if !origin.as_ref().is_some_and(public) {
                return Err(format!("contacts {}: {} is not a public URL", c.name, c.url));
            }
        }
        Ok(())
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        for g in &self.http {
            for s in &g.secrets {
                if !valid_secret_name(s) {
                    return Err(format!("http {}: {s:?} is not a secret name", g.origin));
                }
            }
        }
        let mut names: Vec<&str> = self.contacts.iter().map(|c| c.name.as_str()).collect();
        for c in &self.contacts {
            let ok = !c.name.is_empty()
                && c.name.len() <= 64
                && c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(format!("contacts: {:?} is not a contact name (letters, digits, - _ .)", c.name));
            }
            let url = url::Url::parse(&c.url).map_err(|e| format!("contacts {}: url: {e}", c.name))?;
            Origin::of_url(&url).map_err(|e| format!("contacts {}: url: {e}", c.name))?;
            if let Some(p) = &c.peer {
                crate::ids::UserId::parse(p).map_err(|e| format!("contacts {}: peer: {e}", c.name))?;
            }
        }
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err("contacts: two contacts have the same name".into());
        }
        if let Some(s) = &self.messaging.signing_secret
            && !valid_secret_name(s)
        {
            return Err(format!("messaging.signing_secret: {s:?} is not a secret name"));
        }
        if self.messaging.max_body_bytes > MAX_MESSAGE_BYTES {
            return Err(format!("messaging.max_body_bytes: at most {MAX_MESSAGE_BYTES}"));
        }
        if let Some(c) = &self.cron
            && c.min_interval_secs == 0
        {
            return Err("cron.min_interval_secs: must be at least 1".into());
        }
        Ok(())
    }
}

/// What one skill may do for one tenant: manifest ∩ policy, limits clamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Limits of each call.
    pub limits: Limits,
    /// Origins the skill may reach, each with the secrets it may send there
    /// (shared with each call's `http` context).
    pub http: Arc<Vec<HttpGrant>>,
    /// Every secret the skill may use (the union of the above).
    pub secrets: Vec<String>,
    /// Contacts the skill may message (empty: messaging denied).
    pub contacts: Vec<Contact>,
    /// The tenant's messaging settings.
    pub messaging: MessagingPolicy,
    /// Scheduling allowed, if any.
    pub cron: Option<CronGrant>,
}

/// Scheduling one skill may do for one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronGrant {
    /// Jobs the tenant may hold over all its skills (the tenant's policy).
    pub tenant_max_jobs: u32,
    /// Jobs this skill may hold (its manifest, within the tenant's).
    pub skill_max_jobs: u32,
    /// Shortest interval between runs (the larger of both sides), seconds.
    pub min_interval_secs: u64,
}

impl Grant {
    /// A grant of nothing beyond memory and log, with default limits.
    pub fn none(limits: Limits) -> Grant {
        Grant {
            limits,
            http: Arc::default(),
            secrets: Vec::new(),
            contacts: Vec::new(),
            messaging: MessagingPolicy::default(),
            cron: None,
        }
    }

    /// The intersection of `manifest` and `policy`, with limits built from
    /// the operator's `defaults`, lowered by the tenant and the skill, and
    /// clamped to the operator's `caps`.
    pub fn compute(manifest: &Manifest, policy: &TenantPolicy, defaults: &Limits, caps: &Limits) -> Grant {
        let tl = &policy.limits;
        let tenant = defaults.with(&LimitOverrides {
            fuel: tl.fuel,
            memory_bytes: tl.memory_bytes,
            timeout: tl.timeout_ms.map(Duration::from_millis),
        });
        let mut limits = tenant.clamped(caps);
        if let Some(c) = tl.concurrency {
            limits.concurrency = c.clamp(1, caps.concurrency.max(1));
        }
        // A skill may ask for less than its tenant allows, never more.
        let w = &manifest.limits;
        limits.fuel = w.fuel.map_or(limits.fuel, |f| f.min(limits.fuel));
        limits.memory_bytes = w.memory_bytes.map_or(limits.memory_bytes, |m| m.min(limits.memory_bytes));
        limits.timeout_ms = w.timeout_ms.map_or(limits.timeout_ms, |t| t.min(limits.timeout_ms));

        let wanted = &manifest.permissions;
        let http: Vec<HttpGrant> = policy
            .http
            .iter()
            .filter(|g| wanted.http.contains(&g.origin))
            .map(|g| HttpGrant {
                origin: g.origin.clone(),
                secrets: g.secrets.iter().filter(|s| wanted.secrets.contains(s)).cloned().collect(),
            })
            .collect();
        let mut secrets: Vec<String> = http.iter().flat_map(|g| g.secrets.iter().cloned()).collect();
        secrets.sort();
        secrets.dedup();
        let contacts = if wanted.messaging { policy.contacts.clone() } else { Vec::new() };
        let cron = match (wanted.cron, policy.cron) {
            (Some(w), Some(p)) => Some(CronGrant {
                tenant_max_jobs: p.max_jobs,
                skill_max_jobs: w.max_jobs.min(p.max_jobs),
                min_interval_secs: w.min_interval_secs.max(p.min_interval_secs),
            }),
            _ => None,
        };
        Grant { limits, http: Arc::new(http), secrets, contacts, messaging: policy.messaging.clone(), cron }
    }

    /// The grant for `origin`, if the skill may reach it.
    pub fn http_grant(&self, origin: &Origin) -> Option<&HttpGrant> {
        self.http.iter().find(|g| &g.origin == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    const POLICY: &str = r#"
[limits]
fuel = 1000
timeout_ms = 999999999

[[http]]
origin = "https://api.weather.example"
secrets = ["WEATHER_API_KEY", "OTHER_KEY"]

[[http]]
origin = "https://not-asked.example"

[[contacts]]
name = "ops"
channel = "webhook"
url = "http://127.0.0.1:9/hook"

[cron]
max_jobs = 10
min_interval_secs = 60
"#;

    fn manifest(perms: &str) -> Manifest {
        Manifest::parse(&format!("name = \"s\"\nversion = \"1\"\n{perms}")).unwrap()
    }

    #[test]
    fn grant_is_the_intersection() {
        let p = TenantPolicy::parse(POLICY).unwrap();
        let m = manifest(
            "[permissions]\nhttp = [\"https://api.weather.example\", \"https://evil.example\"]\n\
             secrets = [\"WEATHER_API_KEY\", \"UNGRANTED\"]\nmessaging = true\n\
             cron = { max_jobs = 50, min_interval_secs = 1 }\n[limits]\nfuel = 5000\n",
        );
        let g = Grant::compute(&m, &p, &Limits::default(), &Limits::caps());
        assert_eq!(g.http.len(), 1, "only the origin both sides name");
        assert_eq!(g.http[0].origin.host, "api.weather.example");
        assert_eq!(g.http[0].secrets, vec!["WEATHER_API_KEY".to_string()]);
        assert_eq!(g.secrets, vec!["WEATHER_API_KEY".to_string()]);
        assert_eq!(g.contacts.len(), 1);
        assert_eq!(
            g.cron,
            Some(CronGrant { tenant_max_jobs: 10, skill_max_jobs: 10, min_interval_secs: 60 })
        );
        // The skill asked for more fuel than the tenant allows: the tenant wins.
        assert_eq!(g.limits.fuel, 1000);
        // The tenant asked for more time than the operator allows: the cap wins.
        assert_eq!(g.limits.timeout_ms, Limits::caps().timeout_ms);
    }

    #[test]
    fn nothing_is_granted_that_the_manifest_does_not_ask_for() {
        let p = TenantPolicy::parse(POLICY).unwrap();
        let g = Grant::compute(&manifest(""), &p, &Limits::default(), &Limits::caps());
        assert!(g.http.is_empty() && g.secrets.is_empty() && g.contacts.is_empty() && g.cron.is_none());
    }

    #[test]
    fn nothing_is_granted_that_the_policy_does_not_grant() {
        let m = manifest(
            "[permissions]\nhttp = [\"https://api.weather.example\"]\nsecrets = [\"K\"]\nmessaging = true\n\
             cron = { max_jobs = 1, min_interval_secs = 1 }\n",
        );
        let g = Grant::compute(&m, &TenantPolicy::default(), &Limits::default(), &Limits::caps());
        assert!(g.http.is_empty() && g.secrets.is_empty() && g.contacts.is_empty() && g.cron.is_none());
    }

    #[test]
    fn bad_policies_name_the_problem() {
        let cases = [
            ("bogus = 1", "bogus"),
            ("[[http]]\norigin = \"ftp://x\"", "ftp"),
            ("[[http]]\norigin = \"https://x\"\nsecrets = [\"bad name\"]", "secret name"),
            ("[[contacts]]\nname = \"a b\"\nchannel = \"webhook\"\nurl = \"http://x\"", "contact name"),
            ("[[contacts]]\nname = \"a\"\nchannel = \"sms\"\nurl = \"http://x\"", "sms"),
            ("[[contacts]]\nname = \"a\"\nchannel = \"webhook\"\nurl = \"nope\"", "url"),
            ("[cron]\nmax_jobs = 1\nmin_interval_secs = 0", "min_interval_secs"),
            ("[messaging]\nmax_body_bytes = 99999999", "max_body_bytes"),
            ("[limits]\nadmin_key = \"x\"", "admin_key"),
        ];
        for (text, want) in cases {
            let e = TenantPolicy::parse(text).unwrap_err();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn only_public_hosts_pass_the_tenant_check() {
        for bad in [
            "[[http]]\norigin = \"http://127.0.0.1:8420\"",
            "[[http]]\norigin = \"http://169.254.169.254\"",
            "[[http]]\norigin = \"https://10.1.2.3\"",
            "[[http]]\norigin = \"http://[::1]:80\"",
            "[[http]]\norigin = \"http://localhost:8420\"",
            "[[contacts]]\nname = \"a\"\nchannel = \"webhook\"\nurl = \"http://192.168.0.1/hook\"",
            "[[contacts]]\nname = \"a\"\nchannel = \"webhook\"\nurl = \"http://api.localhost/hook\"",
        ] {
            let p = TenantPolicy::parse(bad).unwrap();
            assert!(p.check_public().is_err(), "{bad}");
        }
        let ok = "[[http]]\norigin = \"https://api.example.com\"\n[[http]]\norigin = \"https://93.184.215.14\"\n\
                  [[contacts]]\nname = \"a\"\nchannel = \"webhook\"\nurl = \"https://hooks.example.com/x\"";
        TenantPolicy::parse(ok).unwrap().check_public().unwrap();
    }

    #[test]
    fn operator_keys_are_refused_by_name_in_both_forms() {
        for key in crate::config::OPERATOR_KEYS {
            let e = TenantPolicy::parse(&format!("{key} = 1\n")).unwrap_err();
            assert!(e.contains(&format!("{key:?} is an operator-level key")), "{key}: {e}");
            let e = TenantPolicy::parse_json(&format!("{{\"{key}\": 1}}")).unwrap_err();
            assert!(e.contains("operator-level"), "{key}: {e}");
        }
        let ok = TenantPolicy::parse_json(r#"{"cron":{"max_jobs":2,"min_interval_secs":60}}"#).unwrap();
        assert_eq!(ok.cron.unwrap().max_jobs, 2);
        assert!(TenantPolicy::parse_json("[1]").is_err());
    }
}
