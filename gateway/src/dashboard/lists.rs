//! The read-only list pages: each is one API route's answer (called through
//! its handler, so the role check, the audit record and the scrubbing of
//! secrets are the route's), shown as a table whose columns name fields of
//! the route's JSON. One template serves them all.

use super::audit::{Filters, audit_answer};
use super::extract::{Params, Ui, scoped};
use super::operator::when;
use super::outbox::OutboxView;
use super::page::{Chrome, Reject, html, reject, visible};
use crate::auth::{Caller, Scoped};
use crate::routes::{ApiQuery, agents, channels, data, observe, skills, trust};
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
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
    /// The field naming a row, when a row can be removed from the page
    /// (`actions::remove`, through the route that removes it).
    pub remove: Option<&'static str>,
    /// A link from each row to a page of its own.
    pub detail: Option<Detail>,
}

/// A link from each row of a list to a page under it: `{list}/{field}/{page}`.
pub(crate) struct Detail {
    /// The field naming the row.
    pub field: &'static str,
    /// The column's heading, and the link's text.
    pub heading: &'static str,
    /// The page under the row's path.
    pub page: &'static str,
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
        remove: None,
        detail: Some(Detail { field: "name", heading: "Details", page: "detail" }),
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
        remove: None,
        detail: Some(Detail { field: "name", heading: "Sessions", page: "sessions" }),
    },
    List {
        path: "memory",
        title: "Memory",
        array: "entries",
        columns: &[col("Key", "key", Text, false), col("Value", "value", Text, false)],
        empty: "Nothing is stored.",
        managers: false,
        remove: Some("key"),
        detail: None,
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
            col("Last run", "last_run", Date, true),
            col("Last error", "last_error", Text, true),
        ],
        empty: "No cron jobs.",
        managers: false,
        remove: Some("id"),
        detail: None,
    },
    List {
        path: "messages",
        title: "Messages",
        array: "messages",
        columns: &[
            col("Created", "created", Date, true),
            col("Skill", "skill", Text, false),
            col("Contact", "contact", Text, false),
            col("State", "state", Text, false),
            col("Attempts", "attempts", Text, true),
            col("Last error", "last_error", Text, true),
            col("Body", "body", Text, false),
        ],
        empty: "No messages.",
        managers: false,
        remove: None,
        detail: None,
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
        remove: Some("name"),
        detail: None,
    },
    List {
        path: "secrets",
        title: "Secrets",
        array: "secrets",
        columns: &[col("Name", "", Text, false)],
        empty: "No secrets.",
        managers: true,
        remove: None,
        detail: None,
    },
    List {
        path: "audit",
        title: "Audit",
        array: "events",
        columns: AUDIT_COLUMNS,
        empty: "No events.",
        managers: true,
        remove: None,
        detail: None,
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
        remove: None,
        detail: None,
    },
    List {
        path: "security",
        title: "Security",
        array: "findings",
        columns: &[
            col("Severity", "severity", Text, false),
            col("Tenant", "tenant", Text, false),
            col("Finding", "code", Text, false),
            col("What to do", "message", Text, false),
        ],
        empty: "No findings.",
        managers: true,
        remove: None,
        detail: None,
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
        remove: Some("name"),
        detail: None,
    },
];

/// One row: its cells, and what names it for its remove form.
pub(crate) struct Row {
    pub cells: Vec<Cell>,
    /// The row's name, percent-encoded for the form's path.
    pub key: String,
    /// The row's name as shown (for the button's label).
    pub label: String,
    /// The row's detail page, its link's accessible name and its column.
    pub detail: Option<(String, String, &'static str)>,
}

/// What a page shows besides its table.
#[derive(Default)]
pub(crate) struct Extras {
    /// The audit pages' filters.
    pub filters: Option<Filters>,
    /// The secrets page's form (an admin's): the name typed, and why the
    /// value was refused.
    pub secret_form: Option<(String, Option<String>)>,
    /// The Messages page's state links and next page.
    pub outbox: Option<OutboxView>,
    /// Whether the Skills page shows its upload form (an admin's).
    pub install_form: bool,
    /// The Publishers page's add form: the name and key typed, and why
    /// they were refused.
    pub publisher_form: Option<(String, String, Option<String>)>,
}

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

#[derive(Template)]
#[template(path = "list.html", blocks = ["content"])]
struct ListPage {
    chrome: Chrome,
    heading: String,
    headings: Vec<&'static str>,
    rows: Vec<Row>,
    empty: &'static str,
    filters: Option<Filters>,
    /// The page's path, when its rows have remove forms for this user.
    remove_base: Option<String>,
    secret_form: Option<(String, Option<String>)>,
    outbox: Option<OutboxView>,
    install_form: bool,
    publisher_form: Option<(String, String, Option<String>)>,
}

fn render(
    ui: &Ui,
    list: &List,
    heading: String,
    answer: &Value,
    chrome: Chrome,
    extras: Extras,
    status: StatusCode,
) -> Response {
    let Extras { filters, secret_form, outbox, install_form, publisher_form } = extras;
    let mut items = answer[list.array].as_array().cloned().unwrap_or_default();
    if filters.is_some() {
        // The audit log, the latest first (as its pages go back).
        items.reverse();
    }
    let base = chrome.nav.iter().find(|n| n.current).map(|n| n.href.clone());
    let rows = items
        .iter()
        .map(|item| {
            let cells = list
                .columns
                .iter()
                .map(|c| {
                    let v = if c.field.is_empty() { item } else { &item[c.field] };
                    Cell { text: cell_text(v, c.show), label: c.heading, volatile: c.volatile }
                })
                .collect();
            let name = list.remove.and_then(|f| item[f].as_str()).unwrap_or_default();
            let key =
                percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string();
            let detail = list.detail.as_ref().and_then(|d| {
                let named = item[d.field].as_str()?;
                let encoded =
                    percent_encoding::utf8_percent_encode(named, percent_encoding::NON_ALPHANUMERIC);
                let text = cell_text(&Value::String(named.to_string()), Show::Text);
                let href = format!("{}/{encoded}/{}", base.as_deref()?, d.page);
                Some((href, format!("{} of {text}", d.heading), d.heading))
            });
            Row { cells, key, label: cell_text(&Value::String(name.to_string()), Show::Text), detail }
        })
        .collect();
    let refused = filters.as_ref().is_some_and(|f| f.error.is_some())
        || secret_form.as_ref().is_some_and(|(_, e)| e.is_some());
    let status = if refused { StatusCode::BAD_REQUEST } else { status };
    let may_remove = list.remove.is_some() && (!list.managers || super::page::is_manager(&ui.principal));
    let page = ListPage {
        remove_base: may_remove
            .then(|| chrome.nav.iter().find(|n| n.current).map(|n| n.href.clone()))
            .flatten(),
        chrome,
        heading,
        headings: list
            .columns
            .iter()
            .map(|c| c.heading)
            .chain(list.detail.as_ref().map(|d| d.heading))
            .collect(),
        rows,
        empty: list.empty,
        filters,
        secret_form,
        outbox,
        install_form,
        publisher_form,
    };
    if ui.htmx { html(status, &page.as_content()) } else { html(status, &page) }
}

/// The route answer behind a tenant's list page.
async fn tenant_answer(
    gw: &Gateway,
    list: &List,
    s: Scoped,
    filters: Option<&mut Filters>,
    outbox: Option<&mut OutboxView>,
) -> Result<Value, Reject> {
    if let Some(f) = filters {
        let q = f.query();
        return audit_answer(f, observe::audit(State(gw.clone()), s, ApiQuery(q))).await;
    }
    if let Some(o) = outbox {
        let axum::Json(v) = data::list_outbox(State(gw.clone()), s, ApiQuery(o.query())).await?;
        o.answered(&v);
        return Ok(v);
    }
    let gw = State(gw.clone());
    let axum::Json(v) = match list.path {
        "skills" => skills::list(gw, s).await?,
        "agents" => agents::list(gw, s).await?,
        "memory" => data::list_memory(gw, s, ApiQuery(data::MemoryQuery::default())).await?,
        "cron" => data::list_cron(gw, s).await?,
        "channels" => channels::list(gw, s).await?,
        "secrets" => data::list_secrets(gw, s).await?,
        _ => return Err(Reject::Api(crate::error::ApiError::not_found("no such page"))),
    };
    Ok(v)
}

/// `GET /ui/t/{tenant}/{list}`.
pub(crate) async fn tenant_list(
    gw: Gateway,
    ui: Result<Ui, Reject>,
    params: Params,
    query: Option<String>,
    list: &'static List,
) -> Response {
    let result = async {
        let ui = ui?;
        let s = scoped(&gw, &ui, &params)?;
        let secret_form = (list.path == "secrets").then(|| (String::new(), None));
        tenant_page(&gw, &ui, s, list, query.as_deref(), secret_form).await
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// A tenant's list page (also shown again by an action that was refused).
pub(crate) async fn tenant_page(
    gw: &Gateway,
    ui: &Ui,
    s: Scoped,
    list: &'static List,
    query: Option<&str>,
    secret_form: Option<(String, Option<String>)>,
) -> Result<Response, Reject> {
    let tenant = s.tenant.clone();
    let current = format!("/ui/t/{tenant}/{}", list.path);
    let mut filters = if list.path == "audit" { Some(Filters::parse(&current, query, false)?) } else { None };
    let mut outbox = if list.path == "messages" { Some(OutboxView::parse(&current, query)?) } else { None };
    let answer = tenant_answer(gw, list, s, filters.as_mut(), outbox.as_mut()).await?;
    let chrome = Chrome::signed_in(gw, ui, list.title, Some(&tenant), &current);
    let secret_form = secret_form.filter(|_| super::page::is_manager(&ui.principal));
    let install_form = list.path == "skills" && super::page::is_manager(&ui.principal);
    let extras = Extras { filters, secret_form, outbox, install_form, ..Default::default() };
    Ok(render(ui, list, format!("{} of {tenant}", list.title), &answer, chrome, extras, StatusCode::OK))
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
            "security" => observe::security(state, caller).await?.0,
            _ => return Err(Reject::Api(crate::error::ApiError::not_found("no such page"))),
        };
        let publisher_form = (list.path == "publishers").then(|| (String::new(), String::new(), None));
        let chrome = Chrome::signed_in(&gw, &ui, list.title, None, &path);
        let extras = Extras { filters, publisher_form, ..Default::default() };
        Ok(render(&ui, list, list.title.to_string(), &answer, chrome, extras, StatusCode::OK))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// The Publishers page again, its add form showing what was typed and why
/// it was refused (with `status`).
pub(crate) async fn publishers_page(
    gw: &Gateway,
    ui: &Ui,
    status: StatusCode,
    form: (String, String, Option<String>),
) -> Result<Response, Reject> {
    let list = OPERATOR_LISTS
        .iter()
        .find(|l| l.path == "publishers")
        .ok_or_else(|| Reject::Api(crate::error::ApiError::not_found("no such page")))?;
    let answer = trust::list(State(gw.clone()), Caller(ui.principal.clone())).await?.0;
    let chrome = Chrome::signed_in(gw, ui, list.title, None, "/ui/publishers");
    let extras = Extras { publisher_form: Some(form), ..Default::default() };
    Ok(render(ui, list, list.title.to_string(), &answer, chrome, extras, status))
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
