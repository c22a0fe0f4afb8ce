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
use crate::auth::MANAGERS;
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
    /// The dry run's answer that was shown: the skill and its `changes`.
    answer: Value,
    at: Instant,
}

/// The uploads waiting for confirmation: one per session and one per
/// tenant, bounded in bytes. When the bound is reached the oldest upload
/// gives way, whoever's it is: no tenant can keep the others from
/// uploading by holding uploads (at most it makes one re-upload).
#[derive(Default)]
pub(crate) struct PendingInstalls {
    by_id: Mutex<HashMap<String, Pending>>,
}

impl PendingInstalls {
    /// Holds `p` under a new id, dropping its session's and its tenant's
    /// previous upload, every expired one, and the oldest ones while the
    /// bytes held would pass the bound; `None` when the OS has no
    /// randomness to give.
    fn hold(&self, p: Pending) -> Option<String> {
        let mut map = self.by_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, q| q.owner != p.owner && q.tenant != p.tenant && q.at.elapsed() < PENDING_FOR);
        while map.values().map(|q| q.package.len()).sum::<usize>() + p.package.len() > PENDING_BYTES {
            let Some(oldest) = map.iter().min_by_key(|(_, q)| q.at).map(|(id, _)| id.clone()) else { break };
            map.remove(&oldest);
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

/// The OS had no randomness to give for an upload's id.
fn no_randomness() -> Reject {
    Reject::Api(crate::error::ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the gateway cannot draw a random id just now; try again",
    ))
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
    /// What a first install asks for: its imports and declared permissions.
    asks: Vec<String>,
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

/// The upload's form fields (its CSRF token checked).
struct Upload {
    package: Vec<u8>,
    guest: bool,
}

/// Reads what is left of a refused upload without keeping any of it, so
/// the client, still sending, reads the refusal instead of a closed
/// connection (the body's limit bounds it).
async fn drain(form: &mut Multipart) {
    while let Ok(Some(mut field)) = form.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// The upload's multipart form, read through a relay of the request's
/// body: what the form leaves unread when it is refused (a part it cannot
/// parse, a refusal before the end) is still read to its end and dropped,
/// up to twice the route's limit, so the client, still sending, reads the
/// refusal rather than a reset connection. The route's body limit still
/// applies to the form (413).
async fn relayed_form(
    req: axum::extract::Request,
    gw: &Gateway,
) -> Result<Multipart, axum::extract::multipart::MultipartRejection> {
    use axum::extract::FromRequest;
    use futures_util::StreamExt;
    let (parts, body) = req.into_parts();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, axum::Error>>(8);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let (mut tx, mut read) = (Some(tx), 0usize);
        while let Some(chunk) = stream.next().await {
            read += chunk.as_ref().map_or(0, |c| c.len());
            if read > 2 * MAX_UPLOAD_BODY {
                break;
            }
            if let Some(t) = &tx
                && t.send(chunk).await.is_err()
            {
                tx = None;
            }
        }
    });
    let relayed = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(relayed));
    Multipart::from_request(req, gw).await
}

/// Reads the upload, refusing it before a byte of the package is held
/// unless the session's CSRF token came first (as the page's form sends
/// it): a request that would be refused costs no memory. A refused upload
/// is read to its end (kept nowhere), so the client reads the refusal.
async fn read_upload(mut form: Multipart, csrf: &str) -> Result<Upload, Reject> {
    // The body's limit shows as an error of the stream: 413, naming it.
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Reject::TooLarge(format!("a package is at most {MAX_UPLOAD} bytes"))
        } else {
            Reject::BadForm("the upload could not be read".into())
        }
    };
    let forged = || Reject::Forbidden("this form's token is not this session's (CSRF)".into());
    let too_large = || Reject::TooLarge(format!("a package is at most {MAX_UPLOAD} bytes"));
    let (mut token_ok, mut package, mut guest) = (None, None::<Vec<u8>>, false);
    let refused = loop {
        let mut field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break None,
            Err(e) => return Err(unreadable(e)),
        };
        match field.name().unwrap_or("") {
            // Once, and before the package.
            "csrf" if token_ok.is_none() && package.is_none() => match field.text().await {
                Ok(sent) => token_ok = Some(same(&sent, csrf)),
                Err(e) => return Err(unreadable(e)),
            },
            "csrf" => break Some(forged()),
            "guest" => guest = true,
            "package" if package.is_none() && token_ok == Some(true) => {
                let mut bytes = Vec::new();
                loop {
                    match field.chunk().await {
                        Ok(Some(chunk)) if bytes.len() + chunk.len() > MAX_UPLOAD => return Err(too_large()),
                        Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                        Ok(None) => break,
                        Err(e) => return Err(unreadable(e)),
                    }
                }
                package = Some(bytes);
            }
            "package" if package.is_none() => break Some(forged()),
            _ => break Some(Reject::BadForm("the form has a field it should not".into())),
        }
    };
    if let Some(refusal) = refused.or_else(|| (token_ok != Some(true)).then(forged)) {
        drain(&mut form).await;
        return Err(refusal);
    }
    match package {
        Some(package) if !package.is_empty() => Ok(Upload { package, guest }),
        _ => Err(Reject::BadForm("choose a package (.wcpkg) to upload".into())),
    }
}

/// The install route's body for a dry run of `package`.
fn body(package: &[u8], guest: bool, accept: bool) -> skills::Install {
    checked(package, guest, accept, true, None)
}

/// The install route's body for `package`, expecting `changes` if given.
fn checked(
    package: &[u8],
    guest: bool,
    accept: bool,
    dry_run: bool,
    changes: Option<Vec<wasmclaw::permissions::PermissionChange>>,
) -> skills::Install {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(package);
    skills::Install::package(b64, guest, accept, dry_run, changes)
}

/// Holds `p` (again) and shows its confirm page, with `error` if the
/// last confirmation was refused.
fn shown_again(gw: &Gateway, ui: &Ui, p: Pending, error: Option<String>) -> Result<Response, Reject> {
    let (tenant, answer, widens) = (p.tenant.clone(), p.answer.clone(), p.widens);
    let id = gw.dashboard().pending.hold(p).ok_or_else(no_randomness)?;
    Ok(confirm_page(gw, ui, &tenant, &answer, widens, id, error))
}

/// `POST /ui/t/{tenant}/skills/install`: the upload, checked by a dry run.
pub(crate) async fn upload(
    State(gw): State<Gateway>,
    ui: Result<Ui, Reject>,
    params: Params,
    req: axum::extract::Request,
) -> Response {
    let form = relayed_form(req, &gw).await;
    let result = async {
        let ui = ui?;
        let s = scoped(&gw, &ui, &params)?;
        let mut form = form.map_err(|_| Reject::BadForm("send the package as a file upload".into()))?;
        // The route's own role check, before any of the upload is kept.
        if let Err(e) = s.allow(&gw, MANAGERS, "install skills") {
            drain(&mut form).await;
            return Err(e.into());
        }
        let up = match read_upload(form, &ui.csrf).await {
            Err(Reject::Forbidden(m)) => {
                let actor = ui.principal.actor();
                gw.runtime().record_refusal(&actor, Some(&s.tenant), "ui.csrf", "skills/install", "denied");
                return Err(Reject::Forbidden(m));
            }
            other => other?,
        };
        let tenant = s.tenant.clone();
        // One dry run, accepting wider permissions so that its answer
        // carries the skill's record and every change; a widening is
        // accepted only on confirmation, and only what was shown.
        let dry = skills::install(State(gw.clone()), s, ApiJson(body(&up.package, up.guest, true))).await?;
        let axum::Json(answer) = dry.1;
        let widens = changes(&answer["changes"]).iter().any(|c| c.widens);
        let pending = Pending {
            owner: ui.key,
            tenant: tenant.clone(),
            package: up.package,
            guest: up.guest,
            widens,
            answer,
            at: Instant::now(),
        };
        shown_again(&gw, &ui, pending, None)
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
        asks: ["imports", "capabilities"]
            .iter()
            .flat_map(|k| v[*k].as_array().cloned().unwrap_or_default())
            .map(|x| text(&x))
            .collect(),
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
        if p.widens && form.accept != "on" {
            let error = "tick the box to accept the wider permissions, or cancel".to_string();
            return shown_again(&gw, &ui, Pending { at: Instant::now(), ..p }, Some(error));
        }
        // Exactly the changes shown, or nothing: what is installed may
        // have changed since the upload, and the install itself compares.
        let shown = serde_json::from_value(p.answer["changes"].clone()).unwrap_or_default();
        let install = checked(&p.package, p.guest, p.widens, false, Some(shown));
        match skills::install(State(gw.clone()), s, ApiJson(install)).await {
            Ok(_) => {}
            // Refused because what is installed changed: decided again
            // and shown, still waiting.
            Err(e) if e.status() == StatusCode::CONFLICT => {
                let dry = skills::install(
                    State(gw.clone()),
                    scoped(&gw, &ui, &params)?,
                    ApiJson(body(&p.package, p.guest, true)),
                );
                let axum::Json(answer) = dry.await?.1;
                let widens = changes(&answer["changes"]).iter().any(|c| c.widens);
                let error =
                    "the installed skill changed since the upload: read the changes again".to_string();
                return shown_again(
                    &gw,
                    &ui,
                    Pending { widens, answer, at: Instant::now(), ..p },
                    Some(error),
                );
            }
            Err(e) => return Err(e.into()),
        }
        Ok(see_other(&format!("/ui/t/{tenant}/skills")))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(owner: u8, tenant: &str, bytes: usize) -> Pending {
        Pending {
            owner: [owner; 32],
            tenant: TenantId::parse(tenant).unwrap(),
            package: vec![0; bytes],
            guest: false,
            widens: false,
            answer: Value::Null,
            at: Instant::now(),
        }
    }

    #[test]
    fn an_upload_is_its_sessions_once_and_the_bytes_held_are_bounded() {
        let store = PendingInstalls::default();
        let acme = TenantId::parse("acme").unwrap();
        let id = store.hold(pending(1, "acme", 10)).unwrap();
        // Denied: another session, another tenant.
        assert!(store.take(&id, &[2; 32], &acme).is_none());
        assert!(store.take(&id, &[1; 32], &TenantId::parse("beta").unwrap()).is_none());
        // Allowed once.
        assert!(store.take(&id, &[1; 32], &acme).is_some());
        assert!(store.take(&id, &[1; 32], &acme).is_none());
        // A session's new upload replaces its old one, and so does another
        // session's of the same tenant.
        let first = store.hold(pending(1, "acme", 10)).unwrap();
        let second = store.hold(pending(1, "acme", 10)).unwrap();
        assert!(store.take(&first, &[1; 32], &acme).is_none());
        let third = store.hold(pending(2, "acme", 10)).unwrap();
        assert!(store.take(&second, &[1; 32], &acme).is_none());
        assert!(store.take(&third, &[2; 32], &acme).is_some());
        // The bound: the oldest gives way; a newcomer is never refused.
        let ids: Vec<String> =
            (0..4u8).map(|n| store.hold(pending(n, &format!("t{n}"), MAX_UPLOAD)).unwrap()).collect();
        let late = store.hold(pending(9, "late", MAX_UPLOAD)).expect("never refused");
        assert!(
            store.take(&ids[0], &[0; 32], &TenantId::parse("t0").unwrap()).is_none(),
            "the oldest gave way"
        );
        assert!(store.take(&ids[1], &[1; 32], &TenantId::parse("t1").unwrap()).is_some());
        assert!(store.take(&late, &[9; 32], &TenantId::parse("late").unwrap()).is_some());
    }
}
