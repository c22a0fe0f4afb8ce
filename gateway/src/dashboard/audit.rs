//! The audit pages' filters: the form's fields, read from the query string
//! (strict UTF-8), handed to the audit route as its own query, and a
//! refused filter shown beside its field; the latest events first, with a
//! link to the page before.

use super::page::Reject;
use crate::routes::observe::AuditQuery;
use axum::http::StatusCode;
use serde_json::Value;

/// The audit pages' filters, as the form shows them.
#[derive(Default)]
pub(crate) struct Filters {
    /// The page's own path (the form's action).
    pub path: String,
    pub action: String,
    pub outcome: String,
    /// The operator's tenant filter (`None`: the field is not shown).
    pub tenant: Option<String>,
    pub skip: usize,
    /// The field the route refused, and why.
    pub error: Option<(&'static str, String)>,
    /// The next page's link, when this one is full.
    pub older: Option<String>,
}

/// Events an audit page shows.
const AUDIT_PAGE: usize = 200;

impl Filters {
    /// The filters of a query string (strict UTF-8; unknown keys ignored).
    pub(crate) fn parse(path: &str, query: Option<&str>, operator: bool) -> Result<Filters, Reject> {
        let pairs = super::extract::query_pairs(query)?;
        let get = |k: &str| {
            pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default()
        };
        let skip = get("skip");
        let skip = if skip.is_empty() {
            0
        } else {
            skip.parse().map_err(|_| Reject::BadForm("skip: a number of events".into()))?
        };
        Ok(Filters {
            path: path.to_string(),
            action: get("action"),
            outcome: get("outcome"),
            tenant: operator.then(|| get("tenant")),
            skip,
            ..Default::default()
        })
    }

    pub(crate) fn query(&self) -> AuditQuery {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        AuditQuery {
            tenant: self.tenant.as_deref().and_then(opt),
            limit: Some(AUDIT_PAGE),
            action: opt(&self.action),
            outcome: opt(&self.outcome),
            skip: Some(self.skip),
            ..Default::default()
        }
    }

    /// The link to the page after this one.
    fn older_link(&self) -> String {
        let mut q = vec![("skip", (self.skip + AUDIT_PAGE).to_string())];
        for (k, v) in [("action", &self.action), ("outcome", &self.outcome)] {
            if !v.is_empty() {
                q.push((k, v.clone()));
            }
        }
        if let Some(t) = self.tenant.as_ref().filter(|t| !t.is_empty()) {
            q.push(("tenant", t.clone()));
        }
        format!("{}?{}", self.path, serde_urlencoded::to_string(&q).unwrap_or_default())
    }
}

/// The audit route's answer for these filters; a refused filter is shown
/// beside its field, with no rows.
pub(crate) async fn audit_answer(
    f: &mut Filters,
    read: impl std::future::Future<Output = crate::error::ApiResult<axum::Json<Value>>>,
) -> Result<Value, Reject> {
    match read.await {
        Ok(axum::Json(v)) => {
            if v["events"].as_array().is_some_and(|e| e.len() == AUDIT_PAGE) {
                f.older = Some(f.older_link());
            }
            Ok(v)
        }
        Err(e) if e.status() == StatusCode::BAD_REQUEST || e.status() == StatusCode::NOT_FOUND => {
            let field = ["action", "outcome", "skip", "tenant"]
                .into_iter()
                .find(|k| e.message().starts_with(&format!("{k}:")))
                .unwrap_or(if e.status() == StatusCode::NOT_FOUND { "tenant" } else { "action" });
            f.error = Some((field, e.message().to_string()));
            Ok(serde_json::json!({ "events": [] }))
        }
        Err(e) => Err(e.into()),
    }
}
