//! Tenants as the gateway manages them: created by the operator, suspended
//! (its tokens refused, its cron jobs paused, its deliveries held) and
//! resumed, or deleted with everything it owns except its audit records.
//! The record is [`crate::records::Tenant`]; [`crate::services::tenants`]
//! manages them.

use crate::error::Error;
use crate::ids::TenantId;
use crate::records::Tenant;

/// The tenant `id`; `NotFound` if there is none (every service's check that
/// the tenant it is asked about exists).
pub(crate) fn existing(db: &crate::store::Db, id: &TenantId) -> Result<Tenant, Error> {
    db.tenant(id)?.ok_or_else(|| not_found(id))
}

pub(crate) fn not_found(id: &TenantId) -> Error {
    Error::NotFound(format!("no tenant {id}"))
}
