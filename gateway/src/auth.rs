//! Authentication as extractors, and the role checks.
//!
//! - [`Caller`]: a valid credential (`Authorization: Bearer …`), as the
//!   runtime's [`Principal`].
//! - [`Scoped`]: a caller and the tenant the request is about: the
//!   `{tenant}` of the path, or the token's own tenant on the short routes.
//!   A token used on another tenant's path gets 404, like a tenant that
//!   does not exist.
//!
//! Each handler then states who may call it ([`Who`]); a refusal is audited.

use crate::error::{ApiError, ApiResult};
use crate::state::Gateway;
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use wasmclaw::TenantId;
use wasmclaw::auth::Principal;
use wasmclaw::records::Role;

/// Who a route admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The operator's admin key.
    Operator,
    /// A token with the `admin` role.
    Admin,
    /// A token with the `member` role.
    Member,
    /// A token with the `guest` role.
    Guest,
}

impl Who {
    fn of(p: &Principal) -> Who {
        match p {
            Principal::Operator => Who::Operator,
            Principal::Token(t) => match t.role {
                Role::Admin => Who::Admin,
                Role::Member => Who::Member,
                Role::Guest => Who::Guest,
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Who::Operator => "the operator",
            Who::Admin => "an admin token",
            Who::Member => "a member token",
            Who::Guest => "a guest token",
        }
    }
}

/// The operator alone.
pub const OPERATOR: &[Who] = &[Who::Operator];
/// The operator or the tenant's admins.
pub const MANAGERS: &[Who] = &[Who::Operator, Who::Admin];
/// The operator, admins and members.
pub const MEMBERS: &[Who] = &[Who::Operator, Who::Admin, Who::Member];
/// Tokens that may invoke (a guest only the guest skills).
pub const INVOKERS: &[Who] = &[Who::Admin, Who::Member, Who::Guest];
/// Everyone with a valid credential.
pub const ANYONE: &[Who] = &[Who::Operator, Who::Admin, Who::Member, Who::Guest];

/// Longest credential looked at.
const MAX_CREDENTIAL: usize = 256;

/// The credential of an `Authorization: Bearer …` value, as every reader
/// of it takes it (authentication, and the cluster's routing by token).
pub(crate) fn bearer(value: &axum::http::HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.len() <= MAX_CREDENTIAL)
}

/// A caller with a valid credential.
pub struct Caller(pub Principal);

impl FromRequestParts<Gateway> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> ApiResult<Self> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "missing credential: send Authorization: Bearer <key or token>",
            ));
        };
        let credential = bearer(value).ok_or_else(|| {
            ApiError::unauthorized("malformed Authorization header: use Bearer <credential>")
        })?;
        Ok(Caller(authenticate(gw, credential).await?))
    }
}

/// The principal of a credential, checked by the runtime (hash, constant
/// time, refusals audited): the API's bearer and the dashboard's session
/// both come here.
pub(crate) async fn authenticate(gw: &Gateway, credential: &str) -> ApiResult<Principal> {
    // A token the cache proves valid needs no database read.
    if let Some(principal) = gw.runtime().authenticate_cached(credential) {
        return Ok(principal);
    }
    let runtime = gw.runtime().clone();
    let credential = credential.to_string();
    // Authentication reads the database (and may audit): off the reactor.
    let principal = tokio::task::spawn_blocking(move || runtime.authenticate(&credential))
        .await
        .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("auth task: {e}"))))??;
    Ok(principal)
}

impl Caller {
    /// Admits the caller if it is one of `allowed`; otherwise 403, audited.
    pub fn allow(&self, gw: &Gateway, allowed: &[Who], action: &str) -> ApiResult<()> {
        let tenant = match &self.0 {
            Principal::Token(t) => Some(t.tenant.clone()),
            Principal::Operator => None,
        };
        check(gw, &self.0, tenant.as_ref(), allowed, action)
    }
}

fn check(
    gw: &Gateway,
    p: &Principal,
    tenant: Option<&TenantId>,
    allowed: &[Who],
    action: &str,
) -> ApiResult<()> {
    let who = Who::of(p);
    if allowed.contains(&who) {
        return Ok(());
    }
    gw.runtime().record_refusal(&p.actor(), tenant, action, "route", "role-denied");
    Err(ApiError::forbidden(format!("{} may not {action}", who.name())))
}

/// A caller and the tenant the request concerns.
#[derive(Clone)]
pub struct Scoped {
    /// The tenant.
    pub tenant: TenantId,
    /// The caller.
    pub principal: Principal,
}

impl FromRequestParts<Gateway> for Scoped {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> ApiResult<Self> {
        let Caller(principal) = Caller::from_request_parts(parts, gw).await?;
        let params = RawPathParams::from_request_parts(parts, gw)
            .await
            .map_err(|_| ApiError::invalid("the path is not valid UTF-8 once percent-decoded"))?;
        let from_path = params.iter().find(|(k, _)| *k == "tenant").map(|(_, v)| v.to_string());
        Scoped::resolve(gw, principal, from_path)
    }
}

impl Scoped {
    /// The tenant `from_path` names (or the token's own when none) as seen
    /// by `principal`: another tenant's is 404, as a missing one, and the
    /// probe is audited.
    pub(crate) fn resolve(
        gw: &Gateway,
        principal: Principal,
        from_path: Option<String>,
    ) -> ApiResult<Scoped> {
        let missing = |raw: &str| {
            let shown: String = raw.chars().take(64).filter(|c| !c.is_control()).collect();
            ApiError::not_found(format!("no tenant {shown:?}"))
        };
        let tenant = match (from_path, &principal) {
            (Some(raw), Principal::Operator) => {
                let id = TenantId::parse(&raw).map_err(|_| missing(&raw))?;
                gw.runtime().tenant(&id)?;
                id
            }
            (Some(raw), Principal::Token(t)) => {
                if raw != t.tenant.as_str() {
                    gw.runtime().record_refusal(
                        &principal.actor(),
                        Some(&t.tenant),
                        "cross-tenant",
                        "path",
                        "denied",
                    );
                    return Err(missing(&raw));
                }
                t.tenant.clone()
            }
            (None, Principal::Token(t)) => t.tenant.clone(),
            (None, Principal::Operator) => {
                return Err(ApiError::invalid(
                    "the operator names the tenant: use /v1/tenants/{tenant}/… for this route",
                ));
            }
        };
        Ok(Scoped { tenant, principal })
    }
}

impl Scoped {
    /// Admits the caller if it is one of `allowed`; otherwise 403, audited.
    pub fn allow(&self, gw: &Gateway, allowed: &[Who], action: &str) -> ApiResult<()> {
        check(gw, &self.principal, Some(&self.tenant), allowed, action)
    }

    /// The actor named in audit records.
    pub fn actor(&self) -> String {
        self.principal.actor()
    }

    /// Whether the caller is a guest token.
    pub fn is_guest(&self) -> bool {
        Who::of(&self.principal) == Who::Guest
    }
}
