//! The read-only list pages: each is one API route's answer (called through
//! its handler, so the role check, the audit record and the scrubbing of
//! secrets are the route's), shown as a table whose columns name fields of
//! the route's JSON. One template serves them all.

use super::extract::Ui;
use super::operator::when;
use super::page::{Chrome, Reject, html, reject, visible};
use crate::auth::{Caller, Scoped};
use crate::routes::observe::AuditQuery;
use crate::routes::{ApiQuery, agents, channels, data, observe, skills, trust};
use crate::state::Gateway;
use askama::Template;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// The longest text a cell shows (a value of a megabyte must not break
/// the page); the rest is cut, marked with an ellipsis.
const MAX_CELL: usize = 300;

/// How a column shows its field.
#[derive(Clone, Copy)]
pub(crate) enum Show {
    /// As text.
    Text,
    /// A time in seconds since the epoch, as a date.
    Date,
    /// A list, joined with commas.
    List,
}

/// One column: its heading, the field it shows and how.
pub(crate) struct Column {
    pub heading: &'static str,
    pub field: &'static str,
    pub show: Show,
    /// Blanked in screenshots (times, ids).
    pub volatile: bool,
}

const fn col(heading: &'static str, field: &'static str, show: Show, volatile: bool) -> Column {
    Column { heading, field, show, volatile }
}

/// A list page.
pub(crate) struct List {
    /// The path under the tenant (`skills`) or under `/ui/` (`audit`).
    pub path: &'static str,
    /// The nav label and the title.
    pub title: &'static str,
    /// The array in the route's answer.
    pub array: &'static str,
    pub columns: &'static [Column],
    /// Shown when there are no rows.
    pub empty: &'static str,
    /// Whether only the operator and admins see it (the route's role).
    pub managers: bool,
}

use Show::{Date, List as Joined, Text};

/// A tenant's list pages, in nav order.
pub(crate) const TENANT_LISTS: &[List] = &[
    List {
        path: "skills",
        title: "Skills",
        array: "skills",
        columns: &[
            col("Skill", "name", Text, false),
            col("Version", "version", Text, false),
            col("Status", "status", Text, false),
            col("Why disabled", "disabled", Text, false),
            col("Description", "description", Text, false),
            col("Imports", "imports", Joined, false),
            col("Digest", "digest", Text, true),
        ],
        empty: "No skills are installed.",
        managers: false,
    },
    List {
        path: "agents",
        title: "Agents",
        array: "agents",
        columns: &[
            col("Agent", "name", Text, false),
            col("Provider", "provider", Text, false),
            col("Model", "model", Text, false),
            col("Skills", "skills", Joined, false),
            col("System prompt", "system_prompt", Text, false),
        ],
        empty: "No agents yet.",
        managers: false,
    },
    List {
        path: "memory",
        title: "Memory",
        array: "entries",
        columns: &[col("Key", "key", Text, false), col("Value", "value", Text, false)],
        empty: "Nothing is stored.",
        managers: false,
    },
    List {
        path: "cron",
        title: "Cron",
        array: "jobs",
        columns: &[
            col("Job", "id", Text, true),
            col("Skill", "skill", Text, false),
            col("Schedule", "schedule", Text, false),
            col("Next run", "next_run", Date, true),
        ],
        empty: "No cron jobs.",
        managers: false,
    },
    List {
        path: "channels",
        title: "Channels",
        array: "channels",
        columns: &[
            col("Channel", "name", Text, false),
            col("Kind", "kind", Text, false),
            col("Agent", "agent", Text, false),
            col("Secret", "secret", Text, false),
        ],
        empty: "No channels.",
        managers: true,
    },
    List {
        path: "secrets",
        title: "Secrets",
        array: "secrets",
        columns: &[col("Name", "", Text, false)],
        empty: "No secrets.",
        managers: true,
    },
    List {
        path: "audit",
        title: "Audit",
        array: "events",
        columns: AUDIT_COLUMNS,
        empty: "No events.",
        managers: true,
    },
];

const AUDIT_COLUMNS: &[Column] = &[
    col("Time", "time", Date, true),
    col("Actor", "actor", Text, true),
    col("Tenant", "tenant", Text, false),
    col("Action", "action", Text, false),
    col("Target", "target", Text, true),
    col("Outcome", "outcome", Text, false),
];

/// The operator's list pages, in nav order.
pub(crate) const OPERATOR_LISTS: &[List] = &[
    List {
        path: "audit",
        title: "Audit log",
        array: "events",
        columns: AUDIT_COLUMNS,
        empty: "No events.",
        managers: true,
    },
    List {
        path: "publishers",
        title: "Publishers",
        array: "keys",
        columns: &[
            col("Name", "name", Text, false),
            col("Key", "key", Text, true),
            col("Added", "added", Date, true),
        ],
        empty: "No publisher keys are trusted.",
        managers: true,
    },
];

/// One cell.
pub(crate) struct Cell {
    pub text: String,
    pub label: &'static str,
    pub volatile: bool,
}

fn cell_text(v: &Value, show: Show) -> String {
    let text = match (show, v) {
        (_, Value::Null) => "-".to_string(),
        (Show::Date, Value::Number(n)) => n.as_u64().map_or_else(|| n.to_string(), when),
        (Show::List, Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    };
    if text.chars().count() > MAX_CELL {
        let cut: String = text.chars().take(MAX_CELL).collect();
        format!("{}…", visible(&cut))
    } else {
        visible(&text)
    }
}

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
    fn parse(path: &str, query: Option<&str>, operator: bool) -> Result<Filters, Reject> {
        let pairs = super::extract::form_pairs(query.unwrap_or("").as_bytes())
            .ok_or_else(|| Reject::BadForm("the query is not UTF-8".into()))?;
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

    fn query(&self) -> AuditQuery {
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
async fn audit_answer(
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

#[derive(Template)]
#[template(path = "list.html", blocks = ["content"])]
struct ListPage {
    chrome: Chrome,
    heading: String,
    headings: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
    empty: &'static str,
    filters: Option<Filters>,
}

fn render(
    ui: &Ui,
    list: &List,
    heading: String,
    answer: &Value,
    chrome: Chrome,
    filters: Option<Filters>,
) -> Response {
    let mut items = answer[list.array].as_array().cloned().unwrap_or_default();
    if filters.is_some() {
        // The audit log, the latest first (as its pages go back).
        items.reverse();
    }
    let rows = items
        .iter()
        .map(|item| {
            list.columns
                .iter()
                .map(|c| {
                    let v = if c.field.is_empty() { item } else { &item[c.field] };
                    Cell { text: cell_text(v, c.show), label: c.heading, volatile: c.volatile }
                })
                .collect()
        })
        .collect();
    let status = if filters.as_ref().is_some_and(|f| f.error.is_some()) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = ListPage {
        chrome,
        heading,
        headings: list.columns.iter().map(|c| c.heading).collect(),
        rows,
        empty: list.empty,
        filters,
    };
    if ui.htmx { html(status, &page.as_content()) } else { html(status, &page) }
}

/// The route answer behind a tenant's list page.
async fn tenant_answer(
    gw: &Gateway,
    list: &List,
    s: Scoped,
    filters: Option<&mut Filters>,
) -> Result<Value, Reject> {
    if let Some(f) = filters {
        let q = f.query();
        return audit_answer(f, observe::audit(State(gw.clone()), s, ApiQuery(q))).await;
    }
    let gw = State(gw.clone());
    let axum::Json(v) = match list.path {
        "skills" => skills::list(gw, s).await?,
        "agents" => agents::list(gw, s).await?,
        "memory" => data::list_memory(gw, s, ApiQuery(data::MemoryQuery::default())).await?,
        "cron" => data::list_cron(gw, s).await?,
        "channels" => channels::list(gw, s).await?,
        "secrets" => data::list_secrets(gw, s).await?,
        "audit" => {
            observe::audit(gw, s, ApiQuery(AuditQuery { limit: Some(200), ..Default::default() })).await?
        }
        _ => return Err(Reject::Api(crate::error::ApiError::not_found("no such page"))),
    };
    Ok(v)
}

/// `GET /ui/t/{tenant}/{list}`.
pub(crate) async fn tenant_list(
    gw: Gateway,
    ui: Result<Ui, Reject>,
    params: Result<RawPathParams, RawPathParamsRejection>,
    query: Option<String>,
    list: &'static List,
) -> Response {
    let result = async {
        let ui = ui?;
        let params = params.map_err(|_| Reject::Api(crate::error::ApiError::not_found("no such tenant")))?;
        let raw = params.iter().find(|(k, _)| *k == "tenant").map(|(_, v)| v.to_string());
        let s = Scoped::resolve(&gw, ui.principal.clone(), raw)?;
        let tenant = s.tenant.clone();
        let current = format!("/ui/t/{tenant}/{}", list.path);
        let mut filters = if list.path == "audit" {
            Some(Filters::parse(&current, query.as_deref(), false)?)
        } else {
            None
        };
        let answer = tenant_answer(&gw, list, s, filters.as_mut()).await?;
        let chrome = Chrome::signed_in(&gw, &ui, list.title, Some(&tenant), &current);
        Ok(render(&ui, list, format!("{} of {tenant}", list.title), &answer, chrome, filters))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// `GET /ui/{list}` of the operator.
pub(crate) async fn operator_list(
    gw: Gateway,
    ui: Result<Ui, Reject>,
    query: Option<String>,
    list: &'static List,
) -> Response {
    let result = async {
        let ui = ui?;
        let caller = Caller(ui.principal.clone());
        let state = State(gw.clone());
        let path = format!("/ui/{}", list.path);
        let mut filters = None;
        let answer = match list.path {
            "audit" => {
                // The operator's log: a token's admin reads its tenant's
                // on the tenant's own audit page.
                caller.allow(&gw, crate::auth::OPERATOR, "read the audit log")?;
                let mut f = Filters::parse(&path, query.as_deref(), true)?;
                let q = f.query();
                let answer = audit_answer(&mut f, observe::audit_all(state, caller, ApiQuery(q))).await?;
                filters = Some(f);
                answer
            }
            "publishers" => trust::list(state, caller).await?.0,
            _ => return Err(Reject::Api(crate::error::ApiError::not_found("no such page"))),
        };
        let chrome = Chrome::signed_in(&gw, &ui, list.title, None, &path);
        Ok(render(&ui, list, list.title.to_string(), &answer, chrome, filters))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_show_text_dates_lists_and_cut_long_values() {
        assert_eq!(cell_text(&json!("a<b"), Show::Text), "a<b");
        assert_eq!(cell_text(&json!(null), Show::Text), "-");
        assert_eq!(cell_text(&json!(0), Show::Date), "1970-01-01 00:00 UTC");
        assert_eq!(cell_text(&json!(["a", "b"]), Show::List), "a, b");
        assert_eq!(cell_text(&json!({"k": 1}), Show::Text), "{\"k\":1}");
        let long = cell_text(&json!("é".repeat(1_000_000)), Show::Text);
        assert_eq!(long.chars().count(), MAX_CELL + 1);
        assert!(long.ends_with('…'));
    }
}
