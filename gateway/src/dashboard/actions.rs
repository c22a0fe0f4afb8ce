//! The list pages' changes: removing a row (a memory entry, a cron job, a
//! channel) and setting a secret, each through the route that does it.

use super::extract::{Params, Posted, path_param, scoped};
use super::lists::{List, TENANT_LISTS, tenant_page};
use super::login::Empty;
use super::page::{Reject, reject, see_other};
use crate::error::ApiError;
use crate::routes::{ApiBytes, channels, data};
use crate::state::Gateway;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// `POST /ui/t/{tenant}/{list}/{key}/remove`.
pub(crate) async fn remove(
    gw: Gateway,
    params: Params,
    posted: Result<Posted<Empty>, Reject>,
    list: &'static List,
) -> Response {
    let result = async {
        let Posted { ui, .. } = posted?;
        let key = path_param(&params, "key")?;
        let s = scoped(&gw, &ui, &params)?;
        let back = format!("/ui/t/{}/{}", s.tenant, list.path);
        let state = State(gw.clone());
        match list.path {
            "memory" => drop(data::delete_memory_key(state, s, None, &key).await?),
            "cron" => drop(data::delete_cron_id(state, s, &key).await?),
            "channels" => drop(channels::remove_named(state, s, &key).await?),
            _ => return Err(Reject::Api(ApiError::not_found("nothing to remove here"))),
        }
        Ok(see_other(&back))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// The secrets page's form.
#[derive(Deserialize)]
pub(crate) struct SetSecret {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

/// `POST /ui/t/{tenant}/secrets`: sets a secret (write-only: the value is
/// never shown again, the page shows only names).
pub(crate) async fn set_secret(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<SetSecret>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let s = scoped(&gw, &ui, &params)?;
        let list = TENANT_LISTS
            .iter()
            .find(|l| l.path == "secrets")
            .ok_or_else(|| Reject::Api(ApiError::not_found("no secrets page")))?;
        let back = format!("/ui/t/{}/secrets", s.tenant);
        let name = form.name.trim().to_string();
        let body = ApiBytes(form.value.into_bytes().into());
        match data::put_secret_named(State(gw.clone()), s.clone(), &name, body).await {
            Ok(_) => Ok(see_other(&back)),
            Err(e) if e.status().is_client_error() && e.status() != StatusCode::FORBIDDEN => {
                let shown: String = name.chars().take(64).collect();
                tenant_page(&gw, &ui, s, list, None, Some((shown, Some(e.message().to_string())))).await
            }
            Err(e) => Err(e.into()),
        }
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}
