//! Gathers the facts behind `GET /v1/security/audit` from the runtime and
//! hands them to the runtime's checks ([`wasmclaw::security`]).

use wasmclaw::security::{self, Finding, SkillFacts, TenantFacts, TokenFacts};
use wasmclaw::{Error, Runtime};

/// Every finding: the data directory and configuration, then each tenant.
pub fn collect(rt: &Runtime) -> Result<Vec<Finding>, Error> {
    let mut out = security::file_findings(rt.config());
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for tenant in rt.tenants()? {
        let policy = rt.db().policy(&tenant.id)?;
        let facts = TenantFacts {
            tenant: tenant.id.to_string(),
            http_origins: policy.http.iter().map(|g| g.origin.to_string()).collect(),
            skills: rt
                .installed_skills(&tenant.id)?
                .into_iter()
                .map(|s| SkillFacts {
                    disabled: rt.skill_disabled(&s),
                    signed: s.publisher.is_some(),
                    name: s.name,
                    declared: s.capabilities,
                    imported: s.imports,
                })
                .collect(),
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
