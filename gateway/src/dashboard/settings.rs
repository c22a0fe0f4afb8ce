//! The operator's Settings page: the effective configuration, read-only,
//! from `GET /v1/config` (so credentials in URLs are hidden by the route),
//! one table per section.

use super::extract::Ui;
use super::page::{Chrome, Reject, html, reject, visible};
use crate::auth::Caller;
use crate::routes::observe;
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

/// One setting: its key within the section, its value, and whether the
/// value differs from run to run (paths, ports: blanked in screenshots).
pub(crate) struct Setting {
    pub key: String,
    pub value: String,
    pub volatile: bool,
}

/// One section: `[pool]`, or `general` for the top-level settings.
pub(crate) struct Section {
    pub name: String,
    pub settings: Vec<Setting>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct Settings {
    chrome: Chrome,
    sections: Vec<Section>,
}

/// Settings whose values change from run to run.
fn volatile(key: &str) -> bool {
    matches!(key, "listen" | "data_dir" | "tenants_dir" | "cache_dir" | "dashboard.brand.logo")
}

/// The sections of `dotted` (key, value) lines, in key order.
fn sections(lines: Vec<(String, String)>) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    for (key, value) in lines {
        let (name, rest) = match key.split_once('.') {
            Some((section, rest)) => (section.to_string(), rest.to_string()),
            None => ("general".to_string(), key.clone()),
        };
        let setting = Setting { volatile: volatile(&key), key: visible(&rest), value: visible(&value) };
        match out.iter_mut().find(|s| s.name == name) {
            Some(s) => s.settings.push(setting),
            None => out.push(Section { name, settings: vec![setting] }),
        }
    }
    // The top-level settings first.
    out.sort_by_key(|s| s.name != "general");
    out
}

/// `GET /ui/settings`.
pub(crate) async fn settings(State(gw): State<Gateway>, ui: Result<Ui, Reject>) -> Response {
    let result = async {
        let ui = ui?;
        let axum::Json(answer) = observe::config(State(gw.clone()), Caller(ui.principal.clone())).await?;
        let page = Settings {
            chrome: Chrome::signed_in(&gw, &ui, "Settings", None, "/ui/settings"),
            sections: sections(wasmclaw::config::dotted(&answer["config"])),
        };
        Ok::<_, Reject>(html(StatusCode::OK, &page))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_group_by_section_top_level_first() {
        let lines =
            [("caps.fuel", "9"), ("listen", "127.0.0.1:1"), ("caps.memory", "2"), ("audit.keep", "6")]
                .map(|(k, v)| (k.to_string(), v.to_string()));
        let mut lines = lines.to_vec();
        lines.sort();
        let s = sections(lines);
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["general", "audit", "caps"]);
        assert_eq!(s[0].settings[0].key, "listen");
        assert!(s[0].settings[0].volatile);
        assert_eq!(s[2].settings.iter().map(|x| x.key.as_str()).collect::<Vec<_>>(), ["fuel", "memory"]);
    }
}
