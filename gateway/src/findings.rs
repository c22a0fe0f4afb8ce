//! Gathers the facts behind `GET /v1/security/audit` from the runtime and
//! hands them to the runtime's checks ([`wasmclaw::security`]).

use wasmclaw::security::{self, Finding, SkillFacts, TenantFacts, TokenFacts};
use wasmclaw::{Error, Runtime};

/// Every finding: the data directory and configuration, then each tenant.
pub fn collect(rt: &Runtime) -> Result<Vec<Finding>, Error> {
    let mut out = security::file_findings(rt.config());
    let now = rt.now();
    for tenant in rt.tenants()? {
        let policy = rt.policy(&tenant.id)?;
        let facts = TenantFacts {
            tenant: tenant.id.to_string(),
            http_origins: policy.http.iter().map(|g| g.origin.to_string()).collect(),
            skills: rt
                .installed_skills(&tenant.id)?
                .into_iter()
                .map(|s| {
                    Ok(SkillFacts {
                        disabled: rt.skill_disabled(&s)?,
                        signed: s.publisher.is_some(),
                        name: s.name,
                        declared: s.capabilities,
                        imported: s.imports,
                    })
                })
                .collect::<Result<_, Error>>()?,
            tokens: rt
                .tokens(&tenant.id)?
                .into_iter()
                .map(|t| TokenFacts {
                    id: t.id,
                    role: t.role.to_string(),
                    created: t.created,
                    last_used: t.last_used,
                })
                .collect(),
        };
        out.extend(security::tenant_findings(now, &facts));
    }
    out.sort_by_key(|f| f.severity);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use wasmclaw::clock::ManualClock;
    use wasmclaw::records::Role;
    use wasmclaw::security::STALE_TOKEN_SECS;
    use wasmclaw::{Runtime, RuntimeConfig, TenantId};

    fn codes(rt: &Runtime) -> Vec<String> {
        super::collect(rt).unwrap().into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn token_ages_are_measured_on_the_runtimes_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000_000);
        let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
        config.pool.max_instances = 4;
        let rt = Runtime::with_clock(config, Arc::new(clock.clone())).unwrap();
        let t = TenantId::parse("acme").unwrap();
        rt.create_tenant("test", &t).unwrap();
        rt.mint_token("test", &t, Role::Member, "m").unwrap();
        // Minted just now on the runtime's clock (decades before the
        // system's): not stale.
        assert!(!codes(&rt).contains(&"stale-token".to_string()), "{:?}", codes(&rt));
        clock.advance(STALE_TOKEN_SECS + 1);
        assert!(codes(&rt).contains(&"stale-token".to_string()), "{:?}", codes(&rt));
    }
}
