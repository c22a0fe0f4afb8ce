//! Tests of [`super`]: each finding fires on what it is about and stays
//! quiet on a clean setup.

use super::*;

const DAY: u64 = 86400;

fn codes(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.code.as_str()).collect()
}

/// A tenant with nothing to flag: one HTTPS origin, a skill importing
/// what it declares, a recent admin token in use.
fn clean() -> TenantFacts {
    TenantFacts {
        tenant: "acme".into(),
        http_origins: vec!["https://api.example.com".into()],
        skills: vec![SkillFacts {
            name: "weather".into(),
            declared: vec!["http".into(), "secrets".into()],
            imported: vec![
                "wasmclaw:skill/types@0.1.0".into(),
                "wasmclaw:skill/http@0.1.0".into(),
                "wasmclaw:skill/secrets@0.1.0".into(),
            ],
            signed: true,
            disabled: None,
        }],
        tokens: vec![TokenFacts { id: "a".into(), role: "admin".into(), created: 0, last_used: Some(DAY) }],
    }
}

#[test]
fn a_clean_tenant_has_no_findings() {
    assert!(tenant_findings(10 * DAY, &clean()).is_empty());
    assert!(tenant_findings(10 * DAY, &TenantFacts::default()).is_empty());
}

#[test]
fn more_than_ten_origins_is_a_broad_grant_and_ten_is_not() {
    let mut facts = clean();
    facts.http_origins = (0..BROAD_ORIGINS).map(|i| format!("https://h{i}.example.com")).collect();
    assert!(tenant_findings(DAY, &facts).is_empty());
    facts.http_origins.push("https://one-more.example.com".into());
    let f = tenant_findings(DAY, &facts);
    assert_eq!(codes(&f), ["broad-http-grant"]);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0].message.contains("11 HTTP origins"), "{}", f[0].message);
}

#[test]
fn plain_http_and_ip_literal_origins_are_broad_grants() {
    for origin in [
        "http://plain.example.com",
        "HTTP://shouting.example.com:8080",
        "https://10.0.0.1",
        "https://[::1]:8443",
    ] {
        let mut facts = clean();
        facts.http_origins.push(origin.into());
        let f = tenant_findings(DAY, &facts);
        assert_eq!(codes(&f), ["broad-http-grant"], "{origin}");
        assert!(f[0].message.contains("acme"), "{}", f[0].message);
    }
    // A plain-HTTP IP literal is one finding, not two.
    let mut facts = clean();
    facts.http_origins.push("http://192.168.1.1".into());
    assert_eq!(tenant_findings(DAY, &facts).len(), 1);
}

#[test]
fn https_dns_origins_are_not_broad_grants() {
    let mut facts = clean();
    facts.http_origins = vec![
        "https://api.example.com".into(),
        "https://api.example.com:8443".into(),
        "https://10-0-0-1.example.com".into(),
    ];
    assert!(tenant_findings(DAY, &facts).is_empty());
}

#[test]
fn a_declared_capability_not_imported_is_an_unused_permission() {
    let mut facts = clean();
    facts.skills.push(SkillFacts {
        name: "greedy".into(),
        declared: vec!["http".into(), "cron".into(), "messaging".into()],
        // Another package's `http` is not the gateway's capability.
        imported: vec!["wasmclaw:skill/http@0.1.0".into(), "wasi:http/outgoing-handler@0.2.0".into()],
        signed: true,
        disabled: None,
    });
    facts.skills.push(SkillFacts {
        name: "fetcher".into(),
        declared: vec!["http".into()],
        imported: vec!["wasi:http/outgoing-handler@0.2.0".into()],
        signed: true,
        disabled: None,
    });
    let f = tenant_findings(DAY, &facts);
    assert_eq!(codes(&f), ["unused-permission"; 3]);
    assert!(f[0].message.contains("greedy") && f[0].message.contains("cron"), "{}", f[0].message);
    assert!(f[1].message.contains("greedy") && f[1].message.contains("messaging"), "{}", f[1].message);
    assert!(f[2].message.contains("fetcher") && f[2].message.contains("http"), "{}", f[2].message);
    assert!(f.iter().all(|f| f.severity == Severity::Warning));
}

#[test]
fn every_capability_matches_its_interface_with_or_without_a_version() {
    let caps = ["http", "secrets", "messaging", "cron", "memory", "log"];
    let mut facts = clean();
    facts.skills =
        vec![SkillFacts {
            name: "all".into(),
            declared: caps.iter().map(|c| c.to_string()).collect(),
            imported: caps
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        format!("wasmclaw:skill/{c}@0.1.0")
                    } else {
                        format!("wasmclaw:skill/{c}")
                    }
                })
                .collect(),
            signed: true,
            disabled: None,
        }];
    assert!(tenant_findings(DAY, &facts).is_empty());
}

#[test]
fn a_token_older_than_ninety_days_is_stale_whatever_its_role() {
    for role in ["admin", "member", "guest"] {
        let mut facts = clean();
        facts.tokens =
            vec![TokenFacts { id: "old".into(), role: role.into(), created: 0, last_used: Some(1) }];
        assert!(tenant_findings(90 * DAY, &facts).is_empty(), "exactly 90 days is not stale");
        let f = tenant_findings(91 * DAY, &facts);
        assert_eq!(codes(&f), ["stale-token"], "{role}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains(role) && f[0].message.contains("91 days"), "{}", f[0].message);
    }
}

#[test]
fn a_token_never_used_for_thirty_days_is_unused() {
    let mut facts = clean();
    facts.tokens =
        vec![TokenFacts { id: "idle".into(), role: "member".into(), created: 10 * DAY, last_used: None }];
    assert!(tenant_findings(40 * DAY, &facts).is_empty(), "exactly 30 days is not unused");
    let f = tenant_findings(41 * DAY, &facts);
    assert_eq!(codes(&f), ["unused-token"]);
    assert_eq!(f[0].severity, Severity::Info);
    // Old and never used: both.
    assert_eq!(codes(&tenant_findings(101 * DAY, &facts)), ["stale-token", "unused-token"]);
    // Used: neither, until it is stale.
    facts.tokens[0].last_used = Some(11 * DAY);
    assert!(tenant_findings(41 * DAY, &facts).is_empty());
}

#[test]
fn a_clock_behind_the_tokens_flags_nothing() {
    let mut facts = clean();
    facts.tokens[0].created = 1000 * DAY;
    assert!(tenant_findings(0, &facts).is_empty());
}

#[test]
fn severities_sort_critical_first_and_serialize_in_lowercase() {
    let mut s = vec![Severity::Info, Severity::Critical, Severity::Warning];
    s.sort();
    assert_eq!(s, [Severity::Critical, Severity::Warning, Severity::Info]);
    let f = Finding { severity: Severity::Critical, code: "c".into(), message: "m".into(), tenant: None };
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json, serde_json::json!({"severity": "critical", "code": "c", "message": "m"}));
    assert_eq!(serde_json::from_value::<Finding>(json).unwrap(), f);
}

#[test]
fn a_public_listen_address_is_a_warning_and_loopback_is_not() {
    let mut config = RuntimeConfig::with_data_dir("/nonexistent-wasmclaw-dir");
    for listen in ["127.0.0.1:8420", "[::1]:8420"] {
        config.listen = listen.parse().unwrap();
        assert!(file_findings_with(&config, false).is_empty(), "{listen}");
    }
    for listen in ["0.0.0.0:8420", "[::]:8420", "192.168.1.5:80"] {
        config.listen = listen.parse().unwrap();
        let f = file_findings_with(&config, false);
        assert_eq!(codes(&f), ["public-listen"], "{listen}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("TLS-terminating proxy"), "{}", f[0].message);
    }
}

#[test]
fn unsigned_skills_are_warnings_and_disabled_ones_info() {
    let mut facts = clean();
    facts.skills[0].signed = false;
    let f = tenant_findings(10 * DAY, &facts);
    assert_eq!(codes(&f), ["unsigned-skill"]);
    assert_eq!(f[0].severity, Severity::Warning);
    let mut facts = clean();
    facts.skills[0].disabled = Some("skill weather is disabled: …".into());
    let f = tenant_findings(10 * DAY, &facts);
    assert_eq!(codes(&f), ["disabled-skill"]);
    assert_eq!(f[0].severity, Severity::Info);
}

#[test]
fn allowing_unsigned_skills_or_extra_imports_is_flagged() {
    let mut config = RuntimeConfig::with_data_dir("/nonexistent-wasmclaw-dir");
    config.trust.require_signed = false;
    let f = file_findings_with(&config, false);
    assert_eq!(codes(&f), ["unsigned-skills-allowed"]);
    assert_eq!(f[0].severity, Severity::Warning);
    config.trust.require_signed = true;
    config.trust.allow_imports = vec!["wasi:sockets".into()];
    let f = file_findings_with(&config, false);
    assert_eq!(codes(&f), ["extra-imports-allowed"]);
    assert_eq!(f[0].severity, Severity::Info);
}

#[test]
fn a_master_key_from_the_environment_is_info() {
    let config = RuntimeConfig::with_data_dir("/nonexistent-wasmclaw-dir");
    let f = file_findings_with(&config, true);
    assert_eq!(codes(&f), ["master-key-from-env"]);
    assert_eq!(f[0].severity, Severity::Info);
    assert!(file_findings_with(&config, false).is_empty());
}

#[cfg(unix)]
mod files {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A data directory as the runtime leaves it: 0700 directories, 0600
    /// files, two rotated audit files.
    fn private_data_dir() -> (tempfile::TempDir, RuntimeConfig) {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        chmod(&data, 0o700);
        std::fs::create_dir(data.join("cache")).unwrap();
        chmod(&data.join("cache"), 0o700);
        for f in ["master.key", "wasmclaw.redb", "audit.log", "audit.log.1", "audit.log.2"] {
            std::fs::write(data.join(f), "x").unwrap();
            chmod(&data.join(f), 0o600);
        }
        (dir, RuntimeConfig::with_data_dir(&data))
    }

    fn found(config: &RuntimeConfig) -> Vec<(Severity, String)> {
        file_findings_with(config, false).into_iter().map(|f| (f.severity, f.code)).collect()
    }

    #[test]
    fn a_private_data_dir_has_no_findings() {
        let (_dir, config) = private_data_dir();
        assert_eq!(found(&config), []);
    }

    #[test]
    fn a_fresh_or_missing_data_dir_has_no_findings() {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o700);
        assert_eq!(found(&RuntimeConfig::with_data_dir(dir.path())), []);
        assert_eq!(found(&RuntimeConfig::with_data_dir(dir.path().join("not-yet"))), []);
    }

    #[test]
    fn an_open_data_dir_is_critical() {
        for mode in [0o750, 0o705, 0o755, 0o777] {
            let (_dir, config) = private_data_dir();
            chmod(&config.data_dir, mode);
            assert_eq!(found(&config), [(Severity::Critical, "open-data-dir".into())], "{mode:o}");
        }
    }

    #[test]
    fn open_key_database_and_audit_files_are_critical() {
        let cases = [
            ("master.key", "world-readable-key"),
            ("wasmclaw.redb", "world-readable-database"),
            ("audit.log", "world-readable-audit"),
            ("audit.log.2", "world-readable-audit"),
        ];
        for (file, code) in cases {
            for mode in [0o640, 0o604, 0o620, 0o644, 0o666] {
                let (_dir, config) = private_data_dir();
                chmod(&config.data_dir.join(file), mode);
                assert_eq!(found(&config), [(Severity::Critical, code.into())], "{file} {mode:o}");
            }
        }
    }

    #[test]
    fn an_open_audit_file_left_beyond_keep_is_found_too() {
        let (_dir, config) = private_data_dir();
        let stray = config.data_dir.join(format!("audit.log.{}", config.audit.keep + 3));
        std::fs::write(&stray, "x").unwrap();
        chmod(&stray, 0o644);
        let f = file_findings_with(&config, false);
        assert_eq!(codes(&f), ["world-readable-audit"]);
        assert!(f[0].message.contains(&stray.display().to_string()), "{}", f[0].message);
    }

    #[test]
    fn a_private_file_with_a_similar_name_is_not_mistaken() {
        let (_dir, config) = private_data_dir();
        for f in ["audit.log.bak", "audit.logs", "notes.txt"] {
            std::fs::write(config.data_dir.join(f), "x").unwrap();
            chmod(&config.data_dir.join(f), 0o644);
        }
        assert_eq!(found(&config), []);
    }

    #[test]
    fn an_open_cache_is_a_warning() {
        let (_dir, config) = private_data_dir();
        chmod(&config.data_dir.join("cache"), 0o755);
        assert_eq!(found(&config), [(Severity::Warning, "open-cache".into())]);
    }

    #[test]
    fn every_open_file_is_reported_critical_first() {
        let (_dir, mut config) = private_data_dir();
        chmod(&config.data_dir, 0o755);
        chmod(&config.data_dir.join("master.key"), 0o644);
        chmod(&config.data_dir.join("cache"), 0o777);
        config.listen = "0.0.0.0:8420".parse().unwrap();
        let f = file_findings_with(&config, true);
        assert_eq!(
            codes(&f),
            ["open-data-dir", "world-readable-key", "open-cache", "public-listen", "master-key-from-env"]
        );
        assert!(f.windows(2).all(|w| w[0].severity <= w[1].severity));
    }
}

#[test]
fn provider_keys_and_bot_tokens_over_plain_http_are_flagged_unless_local() {
    use crate::llm::{Kind, ProviderConfig};
    let provider = |base: &str| ProviderConfig {
        kind: Kind::Openai,
        base_url: Some(base.into()),
        api_key_env: None,
        timeout_secs: 60,
        max_retries: 2,
    };
    let mut config = RuntimeConfig::with_data_dir("/nonexistent-wasmclaw-dir");
    config.providers.insert("local".into(), provider("http://127.0.0.1:11434/v1"));
    config.providers.insert("cloud".into(), provider("https://api.openai.com/v1"));
    assert!(codes(&file_findings_with(&config, false)).is_empty());
    config.providers.insert("lan".into(), provider("http://10.0.0.5/v1"));
    config.channels.telegram_api_base = "http://api.telegram.org".into();
    let f = file_findings_with(&config, false);
    assert_eq!(codes(&f), ["plain-http-credentials"]);
    assert!(f[0].message.contains("provider lan") && f[0].message.contains("Telegram"), "{}", f[0].message);
    assert!(!f[0].message.contains("local") && !f[0].message.contains("cloud"), "{}", f[0].message);
}

fn node(id: &str, digest: &str, version: &str, live: bool) -> NodeRow {
    NodeRow {
        node_id: id.into(),
        addr: format!("http://{id}:1"),
        version: version.into(),
        config_digest: digest.into(),
        age_secs: 1,
        heartbeat_age_ms: 1,
        live,
    }
}

#[test]
fn replicas_with_another_configuration_or_version_are_named() {
    let v = env!("CARGO_PKG_VERSION");
    let same = [node("r1", "d", v, true), node("r2", "d", v, true)];
    assert!(cluster_findings("r1", "d", &same).is_empty());
    let nodes = [
        node("r1", "d", v, true),
        node("r2", "x", v, true),
        node("r3", "d", "0.0.1", true),
        node("r4", "x", "0.0.1", false),
    ];
    let f = cluster_findings("r1", "d", &nodes);
    let found: Vec<_> = f.iter().map(|f| (f.code.as_str(), f.severity)).collect();
    assert_eq!(
        found,
        [("cluster-config-mismatch", Severity::Warning), ("cluster-mixed-versions", Severity::Info)]
    );
    assert!(f[0].message.contains("r2") && !f[0].message.contains("r4"), "{}", f[0].message);
    assert!(f[1].message.contains("r3 (0.0.1)") && !f[1].message.contains("r4"), "{}", f[1].message);
}

#[test]
fn a_tenants_findings_name_it_and_the_gateways_own_name_none() {
    let mut facts = clean();
    facts.skills[0].signed = false;
    facts.http_origins.push("http://plain.example.com".into());
    let f = tenant_findings(DAY, &facts);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|f| f.tenant.as_deref() == Some("acme")), "{f:?}");
    let json = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(json["tenant"], "acme");
    let own = finding(Severity::Info, "x", "y".into());
    assert!(serde_json::to_value(&own).unwrap().get("tenant").is_none(), "no tenant key when about none");
}
