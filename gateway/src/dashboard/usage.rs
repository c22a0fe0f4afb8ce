//! The Usage pages. A tenant's: its usage over time from the series route,
//! calls and errors per bucket drawn as SVG bars on the server (attributes
//! and classes only) with the same figures in a table beside them, then per
//! skill; and a CSV download of the series. The operator's: every tenant's
//! totals from the usage route (skills, and the agents' models), per
//! tenant and per skill, and their CSV.

use super::extract::{Params, Ui, scoped};
use super::operator::when;
use super::page::{Chrome, Reject, html, reject, visible};
use crate::auth::Caller;
use crate::routes::{ApiQuery, observe};
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;

/// The chart's drawing area, in its viewBox's units.
const CHART_W: u64 = 600;
const CHART_H: u64 = 120;

/// A step link: by day or by hour.
pub(crate) struct StepLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// One bucket: its figures (every skill's) and its bars.
pub(crate) struct Bucket {
    pub label: String,
    pub calls: u64,
    pub errors: u64,
    pub cost: String,
    pub p99: String,
    pub x: u64,
    pub width: u64,
    pub calls_y: u64,
    pub calls_h: u64,
    pub errors_y: u64,
    pub errors_h: u64,
}

/// One skill over the span.
pub(crate) struct SkillRow {
    pub skill: String,
    pub calls: u64,
    pub errors: u64,
    pub fuel: u64,
    pub wall: String,
    pub cost: String,
    /// The highest p99 of its buckets.
    pub p99: String,
}

#[derive(Template)]
#[template(path = "usage.html")]
struct TenantUsage {
    chrome: Chrome,
    tenant: String,
    steps: Vec<StepLink>,
    /// `day` or `hour`: what a bucket is.
    unit: &'static str,
    span: String,
    buckets: Vec<Bucket>,
    total_calls: u64,
    max_calls: u64,
    skills: Vec<SkillRow>,
    csv: String,
}

/// The step a page's query asks for (strict UTF-8; `day` by default).
fn step_of(query: Option<&str>) -> Result<&'static str, Reject> {
    let pairs = super::extract::query_pairs(query)?;
    match pairs.iter().find(|(k, _)| k == "step").map(|(_, v)| v.as_str()) {
        None | Some("day") => Ok("day"),
        Some("hour") => Ok("hour"),
        Some(_) => Err(Reject::BadForm("step: by day or by hour".into())),
    }
}

/// The series route's answer for the tenant `s`, by `step`.
async fn series(gw: &Gateway, s: crate::auth::Scoped, step: &str) -> Result<Value, Reject> {
    let q = observe::SeriesQuery { step: Some(step.to_string()), since: None, until: None, skill: None };
    Ok(observe::usage_series(State(gw.clone()), s, ApiQuery(q)).await?.0)
}

fn money(v: f64) -> String {
    format!("{v:.4}")
}

pub(crate) fn micros(us: Option<u64>) -> String {
    match us {
        None => "-".into(),
        Some(us) if us >= 1_000_000 => format!("{:.2} s", us as f64 / 1e6),
        Some(us) if us >= 1_000 => format!("{:.1} ms", us as f64 / 1e3),
        Some(us) => format!("{us} µs"),
    }
}

fn errors_of(row: &Value) -> u64 {
    row["errors"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// Rows of the usage or series routes added up.
#[derive(Default, Clone, Copy)]
struct Sum {
    calls: u64,
    errors: u64,
    fuel: u64,
    wall_us: u64,
    cost: f64,
    /// The highest p99 of the rows (series rows only).
    p99: Option<u64>,
}

impl Sum {
    fn add(&mut self, r: &Value) {
        self.calls += r["calls"].as_u64().unwrap_or(0);
        self.errors += errors_of(r);
        self.fuel += r["fuel"].as_u64().unwrap_or(0);
        self.wall_us += r["wall_us"].as_u64().unwrap_or(0);
        self.cost += r["cost"].as_f64().unwrap_or(0.0);
        self.p99 = self.p99.max(r["p99_us"].as_u64());
    }
}

/// The buckets of a series answer, every one of its span (those without
/// calls too, so the bars keep their places), with their bars.
pub(crate) fn buckets(answer: &Value, width: u64) -> Vec<Bucket> {
    let (since, until) = (answer["since"].as_u64().unwrap_or(0), answer["until"].as_u64().unwrap_or(0));
    let n = (until.saturating_sub(since) / width.max(1)).clamp(1, 744);
    let mut by_start: BTreeMap<u64, Sum> = BTreeMap::new();
    for r in answer["rows"].as_array().into_iter().flatten() {
        by_start.entry(r["start"].as_u64().unwrap_or(0)).or_default().add(r);
    }
    let max = by_start.values().map(|b| b.calls).max().unwrap_or(0).max(1);
    let slot = CHART_W / n;
    (0..n)
        .map(|i| {
            let start = since + i * width;
            let Sum { calls, errors, cost, p99, .. } = by_start.get(&start).copied().unwrap_or_default();
            let calls_h = calls * CHART_H / max;
            let errors_h = errors * CHART_H / max;
            Bucket {
                label: when(start),
                calls,
                errors,
                cost: money(cost),
                p99: micros(p99),
                x: i * slot,
                width: slot.saturating_sub(1).max(1),
                calls_y: CHART_H - calls_h,
                calls_h,
                errors_y: CHART_H - errors_h,
                errors_h,
            }
        })
        .collect()
}

/// Each skill over the span of a series answer.
fn skills(answer: &Value) -> Vec<SkillRow> {
    let mut by_skill: BTreeMap<String, Sum> = BTreeMap::new();
    for r in answer["rows"].as_array().into_iter().flatten() {
        by_skill.entry(r["skill"].as_str().unwrap_or("").to_string()).or_default().add(r);
    }
    by_skill
        .into_iter()
        .map(|(skill, s)| SkillRow {
            skill: visible(&skill),
            calls: s.calls,
            errors: s.errors,
            fuel: s.fuel,
            wall: micros(Some(s.wall_us)),
            cost: money(s.cost),
            p99: micros(s.p99),
        })
        .collect()
}

/// `GET /ui/t/{tenant}/usage?step=day|hour`.
pub(crate) async fn tenant_usage(
    State(gw): State<Gateway>,
    ui: Result<Ui, Reject>,
    params: Params,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let result = async {
        let ui = ui?;
        let step = step_of(query.as_deref())?;
        let s = scoped(&gw, &ui, &params)?;
        let id = s.tenant.clone();
        let answer = series(&gw, s, step).await?;
        let tenant = id.to_string();
        let path = format!("/ui/t/{tenant}/usage");
        let width = if step == "day" { 86_400 } else { 3_600 };
        let buckets = buckets(&answer, width);
        let page = TenantUsage {
            chrome: Chrome::signed_in(&gw, &ui, "Usage", Some(&id), &path),
            steps: vec![
                StepLink { label: "By day, 30 days", href: path.clone(), current: step == "day" },
                StepLink {
                    label: "By hour, 24 hours",
                    href: format!("{path}?step=hour"),
                    current: step == "hour",
                },
            ],
            unit: step,
            span: format!(
                "{} to {}",
                when(answer["since"].as_u64().unwrap_or(0)),
                when(answer["until"].as_u64().unwrap_or(0))
            ),
            total_calls: buckets.iter().map(|b| b.calls).sum(),
            max_calls: buckets.iter().map(|b| b.calls).max().unwrap_or(0),
            buckets,
            skills: skills(&answer),
            csv: format!("{path}.csv?step={step}"),
            tenant,
        };
        Ok(html(StatusCode::OK, &page))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// A CSV field: quoted when it holds a separator, a quote or a line break,
/// and never read as a formula by a spreadsheet (a leading `=`, `+`, `-`,
/// `@`, tab or carriage return gets a `'` before it).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => csv_field(s),
        other => csv_field(&other.to_string()),
    }
}

/// `rows` (JSON objects) as CSV with the columns `fields`.
fn csv(fields: &[&str], rows: &[Value], extra: impl Fn(&Value, &str) -> Option<String>) -> String {
    let mut out = fields.join(",");
    out.push_str("\r\n");
    for r in rows {
        let line: Vec<String> =
            fields.iter().map(|f| extra(r, f).unwrap_or_else(|| csv_cell(&r[*f]))).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_response(name: &str, body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `GET /ui/t/{tenant}/usage.csv?step=day|hour`: the series' rows.
pub(crate) async fn tenant_csv(
    State(gw): State<Gateway>,
    ui: Result<Ui, Reject>,
    params: Params,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let result = async {
        let ui = ui?;
        let step = step_of(query.as_deref())?;
        let s = scoped(&gw, &ui, &params)?;
        let tenant = s.tenant.clone();
        let answer = series(&gw, s, step).await?;
        let rows = answer["rows"].as_array().cloned().unwrap_or_default();
        let fields =
            ["start", "skill", "calls", "errors", "fuel", "wall_us", "cost", "p50_us", "p95_us", "p99_us"];
        let body = csv(&fields, &rows, |r, f| (f == "errors").then(|| errors_of(r).to_string()));
        Ok(csv_response(&format!("usage-{tenant}-by-{step}.csv"), body))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// One tenant's totals on the operator's page.
pub(crate) struct TenantRow {
    pub tenant: String,
    pub calls: u64,
    pub errors: u64,
    pub fuel: u64,
    pub skill_cost: String,
    pub tokens: u64,
    pub model_cost: String,
    pub cost: String,
}

/// One tenant's skill on the operator's page.
pub(crate) struct OperatorSkillRow {
    pub tenant: String,
    pub skill: String,
    pub calls: u64,
    pub errors: u64,
    pub cost: String,
}

#[derive(Template)]
#[template(path = "usage_all.html")]
struct OperatorUsage {
    chrome: Chrome,
    tenants: Vec<TenantRow>,
    skills: Vec<OperatorSkillRow>,
}

/// The usage route's answer for every tenant.
async fn usage_all(gw: &Gateway, ui: &Ui) -> Result<Value, Reject> {
    let caller = Caller(ui.principal.clone());
    caller.allow(gw, crate::auth::OPERATOR, "read every tenant's usage")?;
    Ok(observe::usage_all(State(gw.clone()), caller, ApiQuery(observe::UsageAllQuery::default())).await?.0)
}

/// `GET /ui/usage`: every tenant's usage (the operator's).
pub(crate) async fn operator_usage(State(gw): State<Gateway>, ui: Result<Ui, Reject>) -> Response {
    let result = async {
        let ui = ui?;
        let answer = usage_all(&gw, &ui).await?;
        // Per tenant: its skills' sum, and its models' tokens and cost.
        let mut per: BTreeMap<String, (Sum, u64, f64)> = BTreeMap::new();
        let mut skills = Vec::new();
        for r in answer["usage"].as_array().into_iter().flatten() {
            let t = r["tenant"].as_str().unwrap_or("").to_string();
            per.entry(t.clone()).or_default().0.add(r);
            skills.push(OperatorSkillRow {
                tenant: visible(&t),
                skill: visible(r["skill"].as_str().unwrap_or("")),
                calls: r["calls"].as_u64().unwrap_or(0),
                errors: errors_of(r),
                cost: money(r["cost"].as_f64().unwrap_or(0.0)),
            });
        }
        for m in answer["models"].as_array().into_iter().flatten() {
            let e = per.entry(m["tenant"].as_str().unwrap_or("").to_string()).or_default();
            e.1 += m["input_tokens"].as_u64().unwrap_or(0) + m["output_tokens"].as_u64().unwrap_or(0);
            e.2 += m["cost"].as_f64().unwrap_or(0.0);
        }
        let tenants = per
            .into_iter()
            .map(|(tenant, (s, tokens, model_cost))| TenantRow {
                tenant: visible(&tenant),
                calls: s.calls,
                errors: s.errors,
                fuel: s.fuel,
                skill_cost: money(s.cost),
                tokens,
                model_cost: money(model_cost),
                cost: money(s.cost + model_cost),
            })
            .collect();
        let chrome = Chrome::signed_in(&gw, &ui, "Usage & cost", None, "/ui/usage");
        Ok(html(StatusCode::OK, &OperatorUsage { chrome, tenants, skills }))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// `GET /ui/usage.csv`: every tenant's skill rows, then its model rows.
pub(crate) async fn operator_csv(State(gw): State<Gateway>, ui: Result<Ui, Reject>) -> Response {
    let result = async {
        let ui = ui?;
        let answer = usage_all(&gw, &ui).await?;
        let rows: Vec<Value> = answer["usage"].as_array().cloned().unwrap_or_default();
        let models: Vec<Value> = answer["models"].as_array().cloned().unwrap_or_default();
        let fields = ["tenant", "skill", "calls", "errors", "fuel", "wall_us", "memory_peak_bytes", "cost"];
        let mut body = csv(&fields, &rows, |r, f| (f == "errors").then(|| errors_of(r).to_string()));
        body.push_str("\r\n");
        let fields =
            ["tenant", "agent", "model", "day", "input_tokens", "output_tokens", "tool_calls", "cost"];
        body.push_str(&csv(&fields, &models, |_, _| None));
        Ok(csv_response("usage.csv", body))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("echo"), "echo");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(csv_field(lead).trim_start_matches('"').starts_with('\''), "{lead:?}");
        }
        let rows = [json!({"skill": "a,b", "calls": 2, "errors": {"trap": 1, "timeout": 2}})];
        let out = csv(&["skill", "calls", "errors", "p50_us"], &rows, |r, f| {
            (f == "errors").then(|| errors_of(r).to_string())
        });
        assert_eq!(out, "skill,calls,errors,p50_us\r\n\"a,b\",2,3,\r\n");
    }

    #[test]
    fn every_bucket_of_the_span_has_its_place_and_bars_are_to_scale() {
        let answer = json!({"since": 0, "until": 3 * 3600, "rows": [
            {"start": 0, "skill": "a", "calls": 4, "errors": {"trap": 1}, "cost": 0.5, "p99_us": 10},
            {"start": 0, "skill": "b", "calls": 4, "errors": {}, "cost": 0.25, "p99_us": 2000},
            {"start": 7200, "skill": "a", "calls": 2, "errors": {}, "cost": 0.0, "p99_us": null},
        ]});
        let b = buckets(&answer, 3600);
        assert_eq!(b.len(), 3);
        assert_eq!(
            (b[0].calls, b[0].errors, b[0].cost.as_str(), b[0].p99.as_str()),
            (8, 1, "0.7500", "2.0 ms")
        );
        assert_eq!((b[1].calls, b[1].calls_h, b[1].p99.as_str()), (0, 0, "-"));
        assert_eq!((b[0].calls_h, b[0].calls_y), (CHART_H, 0), "the busiest bucket is full height");
        assert_eq!(b[2].calls_h, CHART_H / 4);
        assert_eq!((b[0].x, b[1].x, b[0].width), (0, 200, 199));
        let s = skills(&answer);
        assert_eq!((s[0].skill.as_str(), s[0].calls, s[0].errors), ("a", 6, 1));
    }
}
