//! A skill's detail page: its record (version, status, publisher, imports,
//! declared permissions, digest), its calls over the last 24 hours by hour
//! with errors and latency percentiles (the series route, of this skill),
//! the cron jobs that run it and the agents that may call it. Each part is
//! its route's answer, so roles and scrubbing are the routes'.

use super::extract::{Params, Ui, path_param, scoped};
use super::operator::when;
use super::page::{Chrome, Reject, html, reject, visible};
use super::usage::{Bucket, buckets, micros};
use crate::error::ApiError;
use crate::routes::{ApiQuery, agents, data, observe, skills};
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

/// One hour with calls.
pub(crate) struct Hour {
    pub label: String,
    pub calls: u64,
    pub errors: u64,
    pub p50: String,
    pub p99: String,
}

#[derive(Template)]
#[template(path = "skill.html")]
struct SkillPage {
    chrome: Chrome,
    name: String,
    facts: Vec<(&'static str, String, bool)>,
    bars: Vec<Bucket>,
    hours: Vec<Hour>,
    total_calls: u64,
    jobs: Vec<(String, String, String, String)>,
    agents: Vec<String>,
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => visible(s),
        Value::Array(items) => {
            let all: Vec<String> = items.iter().map(text).collect();
            if all.is_empty() { "-".into() } else { all.join(", ") }
        }
        other => visible(&other.to_string()),
    }
}

/// `GET /ui/t/{tenant}/skills/{name}/detail`.
pub(crate) async fn detail(State(gw): State<Gateway>, ui: Result<Ui, Reject>, params: Params) -> Response {
    let result = async {
        let ui = ui?;
        let name = path_param(&params, "name")?;
        let tenant = scoped(&gw, &ui, &params)?.tenant;
        let state = || State(gw.clone());
        let all = skills::list(state(), scoped(&gw, &ui, &params)?).await?.0;
        let skill = all["skills"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == name.as_str())
            .cloned()
            .ok_or_else(|| Reject::Api(ApiError::not_found(format!("no skill {name}"))))?;
        let publisher = skill["publisher"]["name"].clone();
        let facts = vec![
            ("Version", text(&skill["version"]), false),
            ("Status", text(&skill["status"]), false),
            ("Why disabled", text(&skill["disabled"]), false),
            ("Publisher", text(&publisher), false),
            ("Description", text(&skill["description"]), false),
            ("Imports", text(&skill["imports"]), false),
            ("Declared permissions", text(&skill["capabilities"]), false),
            ("Guests may call it", if skill["guest"] == true { "yes" } else { "no" }.to_string(), false),
            ("Installed", skill["installed"].as_u64().map_or_else(|| "-".into(), when), true),
            ("Digest", text(&skill["digest"]), true),
        ];
        let q = observe::SeriesQuery {
            step: Some("hour".into()),
            since: None,
            until: None,
            skill: Some(name.clone()),
        };
        let series = observe::usage_series(state(), scoped(&gw, &ui, &params)?, ApiQuery(q)).await?.0;
        let hours = series["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Hour {
                label: r["start"].as_u64().map_or_else(String::new, when),
                calls: r["calls"].as_u64().unwrap_or(0),
                errors: r["errors"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).sum()),
                p50: micros(r["p50_us"].as_u64()),
                p99: micros(r["p99_us"].as_u64()),
            })
            .collect::<Vec<_>>();
        let jobs = data::list_cron(state(), scoped(&gw, &ui, &params)?).await?.0;
        let jobs = jobs["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|j| j["skill"] == name.as_str())
            .map(|j| {
                let at = |v: &Value| v.as_u64().map_or_else(|| "-".into(), when);
                (text(&j["id"]), text(&j["schedule"]), at(&j["last_run"]), text(&j["last_error"]))
            })
            .collect();
        let agents = agents::list(state(), scoped(&gw, &ui, &params)?).await?.0;
        let agents = agents["agents"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["skills"].as_array().is_some_and(|s| s.iter().any(|s| s == name.as_str())))
            .map(|a| text(&a["name"]))
            .collect();
        let current = format!("/ui/t/{tenant}/skills");
        let page = SkillPage {
            chrome: Chrome::signed_in(&gw, &ui, "Skill", Some(&tenant), &current),
            name: visible(&name),
            facts,
            bars: buckets(&series, 3600),
            total_calls: hours.iter().map(|h| h.calls).sum(),
            hours,
            jobs,
            agents,
        };
        Ok(html(StatusCode::OK, &page))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}
