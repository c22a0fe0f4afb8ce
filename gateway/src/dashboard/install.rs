//! Installing and upgrading a skill from the Skills page. The admin
//! uploads a signed package (a multipart form whose CSRF token is checked
//! as every form's, from the dashboard's own Origin); the install route's
//! dry run decides (trust, imports, version, permission changes) and the
//! package is held on the server, for this session only, while the admin
//! reads the decision and the changes, the widening ones marked. A confirm
//! POST installs exactly those bytes through the same route, accepting the
//! wider permissions that were shown and ticked, and nothing else.

use super::extract::{Params, Posted, Ui, scoped};
use super::page::{Chrome, Reject, html, reject, see_other, visible};
use super::session::{random_hex, same};
use crate::routes::{ApiJson, skills};
use crate::state::Gateway;
use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wasmclaw::TenantId;

/// The largest package the upload takes (the install route's own cap).
pub(crate) const MAX_UPLOAD: usize = 32 * 1024 * 1024;
/// The body limit of the upload route: the package and the form's parts.
pub(crate) const MAX_UPLOAD_BODY: usize = MAX_UPLOAD + 64 * 1024;
/// How long an upload waits for its confirmation.
const PENDING_FOR: Duration = Duration::from_secs(600);
/// The bytes all pending uploads may hold together.
const PENDING_BYTES: usize = 4 * MAX_UPLOAD;

/// An upload waiting for its confirmation.
struct Pending {
    /// The session that uploaded it: no other may confirm it.
    owner: [u8; 32],
    tenant: TenantId,
    package: Vec<u8>,
    guest: bool,
    /// Whether it widens the installed skill's permissions.
    widens: bool,
    /// The permission changes shown (the dry run's `changes`).
    shown: Value,
    at: Instant,
}

/// The uploads waiting for confirmation: one per session, bounded in bytes.
#[derive(Default)]
pub(crate) struct PendingInstalls {
    by_id: Mutex<HashMap<String, Pending>>,
}

impl PendingInstalls {
    /// Holds `p` under a new id, dropping its session's previous upload and
    /// every expired one; `None` when the bytes held would pass the bound
    /// or the OS has no randomness to give.
    fn hold(&self, p: Pending) -> Option<String> {
        let mut map = self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, q| q.owner != p.owner && q.at.elapsed() < PENDING_FOR);
        let held: usize = map.values().map(|q| q.package.len()).sum();
        if held + p.package.len() > PENDING_BYTES {
            return None;
        }
        let id = random_hex(16)?;
        map.insert(id.clone(), p);
        Some(id)
    }

    /// Takes the upload `id` of session `owner` for `tenant`, once.
    fn take(&self, id: &str, owner: &[u8; 32], tenant: &TenantId) -> Option<Pending> {
        let mut map = self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let ok = map
            .get(id)
            .is_some_and(|p| &p.owner == owner && &p.tenant == tenant && p.at.elapsed() < PENDING_FOR);
        if ok { map.remove(id) } else { None }
    }
}

/// A permission change as the confirm page shows it.
pub(crate) struct Change {
    pub permission: String,
    pub from: String,
    pub to: String,
    pub widens: bool,
}

#[derive(Template)]
#[template(path = "skill_confirm.html")]
struct Confirm {
    chrome: Chrome,
    tenant: String,
    name: String,
    version: String,
    replaced: Option<String>,
    changes: Vec<Change>,
    warnings: Vec<String>,
    widens: bool,
    pending: String,
    /// Why the last confirmation was refused.
    error: Option<String>,
}

fn changes(v: &Value) -> Vec<Change> {
    let text = |v: &Value| v.as_str().map_or_else(|| "-".to_string(), visible);
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|c| Change {
                    permission: text(&c["permission"]),
                    from: text(&c["from"]),
                    to: text(&c["to"]),
                    widens: c["widens"] == true,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The upload's form fields.
struct Upload {
    csrf: String,
    package: Vec<u8>,
    guest: bool,
}

async fn read_upload(mut form: Multipart) -> Result<Upload, Reject> {
    // The body's limit shows as an error of the stream: 413, naming it.
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Reject::TooLarge(format!("a package is at most {MAX_UPLOAD} bytes"))
        } else {
            Reject::BadForm("the upload could not be read".into())
        }
    };
    let mut up = Upload { csrf: String::new(), package: Vec::new(), guest: false };
    while let Some(mut field) = form.next_field().await.map_err(unreadable)? {
        match field.name().unwrap_or("") {
            "csrf" => up.csrf = field.text().await.map_err(unreadable)?,
            "guest" => up.guest = true,
            "package" => {
                while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
                    if up.package.len() + chunk.len() > MAX_UPLOAD {
                        return Err(Reject::TooLarge(format!("a package is at most {MAX_UPLOAD} bytes")));
                    }
                    up.package.extend_from_slice(&chunk);
                }
            }
            _ => return Err(Reject::BadForm("the form has a field it should not".into())),
        }
    }
    if up.package.is_empty() {
        return Err(Reject::BadForm("choose a package (.wcpkg) to upload".into()));
    }
    Ok(up)
}

/// The install route's body for `package`.
fn body(package: &[u8], guest: bool, accept: bool, dry_run: bool) -> skills::Install {
    use base64::Engine;
    skills::Install::package(
        base64::engine::general_purpose::STANDARD.encode(package),
        guest,
        accept,
        dry_run,
    )
}

/// `POST /ui/t/{tenant}/skills/install`: the upload, checked by a dry run.
pub(crate) async fn upload(
    State(gw): State<Gateway>,
    ui: Result<Ui, Reject>,
    params: Params,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let result = async {
        let ui = ui?;
        let s = scoped(&gw, &ui, &params)?;
        let form = form.map_err(|_| Reject::BadForm("send the package as a file upload".into()))?;
        let up = read_upload(form).await?;
        if !same(&up.csrf, &ui.csrf) {
            gw.runtime().record_refusal("anonymous", None, "ui.csrf", "skills/install", "denied");
            return Err(Reject::Forbidden("this form's token is not this session's (CSRF)".into()));
        }
        let tenant = s.tenant.clone();
        let dry =
            skills::install(State(gw.clone()), s, ApiJson(body(&up.package, up.guest, false, true))).await;
        let (v, widens) = match dry {
            Ok((_, axum::Json(v))) => (v, false),
            // A widening: shown, to be accepted on confirmation.
            Err(e) if e.changes().is_some_and(|c| c.iter().any(|c| c.widens)) => {
                let changes = serde_json::json!(e.changes());
                let mut again = skills::install(
                    State(gw.clone()),
                    scoped(&gw, &ui, &params)?,
                    ApiJson(body(&up.package, up.guest, true, true)),
                )
                .await?
                .1
                .0;
                again["changes"] = changes;
                (again, true)
            }
            Err(e) => return Err(e.into()),
        };
        let pending = Pending {
            owner: ui.key,
            tenant: tenant.clone(),
            package: up.package,
            guest: up.guest,
            widens,
            shown: v["changes"].clone(),
            at: Instant::now(),
        };
        let id = gw.dashboard().pending.hold(pending).ok_or_else(|| {
            Reject::TooLarge("too many uploads wait for confirmation; confirm or wait a few minutes".into())
        })?;
        Ok(confirm_page(&gw, &ui, &tenant, &v, widens, id, None))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

fn confirm_page(
    gw: &Gateway,
    ui: &Ui,
    tenant: &TenantId,
    v: &Value,
    widens: bool,
    pending: String,
    error: Option<String>,
) -> Response {
    let text = |v: &Value| v.as_str().map(visible).unwrap_or_default();
    let page = Confirm {
        chrome: Chrome::signed_in(
            gw,
            ui,
            "Confirm the install",
            Some(tenant),
            &format!("/ui/t/{tenant}/skills"),
        ),
        tenant: tenant.to_string(),
        name: text(&v["name"]),
        version: text(&v["version"]),
        replaced: v["replaced"].as_str().map(visible),
        changes: changes(&v["changes"]),
        warnings: v["warnings"].as_array().map(|w| w.iter().map(text).collect()).unwrap_or_default(),
        widens,
        pending,
        error,
    };
    let status = if page.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    html(status, &page)
}

#[derive(Deserialize)]
pub(crate) struct Confirmed {
    #[serde(default)]
    pending: String,
    #[serde(default)]
    accept: String,
}

/// `POST /ui/t/{tenant}/skills/confirm`: installs the upload shown.
pub(crate) async fn confirm(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Confirmed>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let s = scoped(&gw, &ui, &params)?;
        let tenant = s.tenant.clone();
        let p = gw.dashboard().pending.take(&form.pending, &ui.key, &tenant).ok_or_else(|| {
            Reject::BadForm(
                "this upload is no longer waiting (confirmed, replaced or expired): upload it again".into(),
            )
        })?;
        // Decided again: what is installed may have changed since the
        // upload, and only the changes shown may be accepted.
        let again = skills::install(
            State(gw.clone()),
            scoped(&gw, &ui, &params)?,
            ApiJson(body(&p.package, p.guest, true, true)),
        );
        let axum::Json(v) = again.await?.1;
        let error = if v["changes"] != p.shown {
            Some("the installed skill changed since the upload: read the changes again".to_string())
        } else if p.widens && form.accept != "on" {
            Some("tick the box to accept the wider permissions, or cancel".to_string())
        } else {
            None
        };
        if let Some(error) = error {
            // Shown again, still waiting, with the reason.
            let widens = changes(&v["changes"]).iter().any(|c| c.widens);
            let held = Pending { widens, shown: v["changes"].clone(), at: Instant::now(), ..p };
            let id = gw
                .dashboard()
                .pending
                .hold(held)
                .ok_or_else(|| Reject::TooLarge("too many uploads wait".into()))?;
            return Ok(confirm_page(&gw, &ui, &tenant, &v, widens, id, Some(error)));
        }
        let _installed =
            skills::install(State(gw.clone()), s, ApiJson(body(&p.package, p.guest, p.widens, false)))
                .await?;
        Ok(see_other(&format!("/ui/t/{tenant}/skills")))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(owner: u8, bytes: usize) -> Pending {
        Pending {
            owner: [owner; 32],
            tenant: TenantId::parse("acme").unwrap(),
            package: vec![0; bytes],
            guest: false,
            widens: false,
            shown: Value::Null,
            at: Instant::now(),
        }
    }

    #[test]
    fn an_upload_is_its_sessions_once_and_the_bytes_held_are_bounded() {
        let store = PendingInstalls::default();
        let acme = TenantId::parse("acme").unwrap();
        let id = store.hold(pending(1, 10)).unwrap();
        // Denied: another session, another tenant.
        assert!(store.take(&id, &[2; 32], &acme).is_none());
        assert!(store.take(&id, &[1; 32], &TenantId::parse("beta").unwrap()).is_none());
        // Allowed once.
        assert!(store.take(&id, &[1; 32], &acme).is_some());
        assert!(store.take(&id, &[1; 32], &acme).is_none());
        // A session's new upload replaces its old one.
        let first = store.hold(pending(1, 10)).unwrap();
        let second = store.hold(pending(1, 10)).unwrap();
        assert!(store.take(&first, &[1; 32], &acme).is_none());
        assert!(store.take(&second, &[1; 32], &acme).is_some());
        // The bound.
        for owner in 0..4 {
            assert!(store.hold(pending(owner, MAX_UPLOAD)).is_some());
        }
        assert!(store.hold(pending(9, 1)).is_none(), "past the bytes all uploads may hold");
    }
}
