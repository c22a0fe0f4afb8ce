//! The `wasmclaw:skill/secrets` capability: the names of the secrets the
//! skill may use in requests.
//!
//! It never hands out a value, and holds none: the context is built from the
//! grant's names only. Values reach a request through `{{secret:NAME}}`
//! placeholders, which the `http` capability expands per origin.

use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::secrets as wit;
use wasmtime::component::{HasData, Linker};

/// The secrets capability of one call.
pub struct SecretsCtx {
    /// The granted names, sorted and without duplicates; or why the
    /// capability is denied.
    access: Result<Vec<String>, String>,
    audit: super::CallAudit,
    debt: super::FuelDebt,
}

impl SecretsCtx {
    /// A context listing `granted` (the names of the secrets the skill may
    /// use for this tenant, whatever the origin).
    pub fn new(mut granted: Vec<String>) -> Self {
        granted.sort();
        granted.dedup();
        SecretsCtx { access: Ok(granted), audit: Default::default(), debt: Default::default() }
    }

    /// Charges this context's work to `debt`.
    pub fn with_debt(mut self, debt: super::FuelDebt) -> Self {
        self.debt = debt;
        self
    }

    /// Notes this context's refusals in `audit`.
    pub fn with_audit(mut self, audit: super::CallAudit) -> Self {
        self.audit = audit;
        self
    }

    /// A context in which every call returns `denied` with `reason`.
    pub fn denied(reason: impl Into<String>) -> Self {
        SecretsCtx { access: Err(reason.into()), audit: Default::default(), debt: Default::default() }
    }
}

impl wit::Host for SecretsCtx {
    fn names(&mut self) -> Result<Vec<String>, WitError> {
        match &self.access {
            Ok(names) => {
                self.debt.charge_work(names.iter().map(|n| n.len() as u64).sum(), names.len() as u64);
                Ok(names.clone())
            }
            Err(reason) => self.audit.check("secrets", Err(WitError::Denied(reason.clone()))),
        }
    }
}

struct HasSecrets;

impl HasData for HasSecrets {
    type Data<'a> = &'a mut SecretsCtx;
}

/// Adds `wasmclaw:skill/secrets` to `linker`, reaching each call's context
/// through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut SecretsCtx,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasSecrets>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::store::Db;
    use crate::vault::{MasterKey, Vault};
    use std::sync::Arc;
    use wit::Host;

    #[test]
    fn allowed_lists_granted_names_never_values() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&dir.path().join("db.redb")).unwrap());
        let vault = Vault::new(db, MasterKey::from_bytes([1; 32]));
        let tenant = TenantId::parse("acme").unwrap();
        vault.put(&tenant, "WEATHER_API_KEY", b"value-of-weather").unwrap();
        vault.put(&tenant, "B_TOKEN", b"value-of-b").unwrap();
        vault.put(&tenant, "NOT_GRANTED", b"value-of-other").unwrap();

        let mut s = SecretsCtx::new(vec!["WEATHER_API_KEY".into(), "B_TOKEN".into(), "B_TOKEN".into()]);
        let names = s.names().unwrap();
        assert_eq!(names, vec!["B_TOKEN".to_string(), "WEATHER_API_KEY".to_string()]);
        assert!(names.iter().all(|n| !n.contains("value-of")));

        // An empty grant lists nothing, and is not an error.
        assert_eq!(SecretsCtx::new(Vec::new()).names().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn denied_context_returns_denied() {
        let mut s = SecretsCtx::denied("no secrets in describe");
        assert!(matches!(s.names(), Err(WitError::Denied(r)) if r == "no secrets in describe"));
    }

    #[test]
    fn contexts_see_only_their_own_grant() {
        let mut a = SecretsCtx::new(vec!["A_KEY".into()]);
        let mut b = SecretsCtx::new(vec!["B_KEY".into(), "SHARED".into()]);
        assert_eq!(a.names().unwrap(), vec!["A_KEY".to_string()]);
        assert_eq!(b.names().unwrap(), vec!["B_KEY".to_string(), "SHARED".to_string()]);
        // Calling one does not change the other.
        assert_eq!(a.names().unwrap(), vec!["A_KEY".to_string()]);
    }
}
