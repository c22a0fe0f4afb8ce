//! An agent's Sessions pages: its peers (a page of the sessions route,
//! with the next page's link), one peer's transcript (the user's words,
//! the model's answers and tool calls, each tool's output, scrubbed of the
//! tenant's secrets by the route), and forgetting it (a POST through the
//! route that forgets it, so its role check and audit record are the
//! route's).

use super::extract::{Params, Posted, Ui, path_param, scoped};
use super::login::Empty;
use super::operator::when;
use super::page::{Chrome, Reject, html, reject, see_other, visible};
use crate::routes::{ApiQuery, agents};
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// The longest text a turn shows; the rest is cut, marked with an ellipsis.
const MAX_TURN: usize = 4000;

/// One peer's session in the list.
pub(crate) struct Peer {
    pub peer: String,
    pub href: String,
    pub turns: u64,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct SessionsPage {
    chrome: Chrome,
    agent: String,
    peers: Vec<Peer>,
    next: Option<String>,
}

/// One turn as the transcript shows it.
pub(crate) struct TurnView {
    /// `User`, `Agent` or `Tool <name>`.
    pub who: String,
    pub text: String,
    /// The tools an answer called: name and arguments.
    pub calls: Vec<(String, String)>,
    pub failed: bool,
}

#[derive(Template)]
#[template(path = "session.html")]
struct TranscriptPage {
    chrome: Chrome,
    agent: String,
    peer: String,
    back: String,
    forget: String,
    turns: Vec<TurnView>,
}

fn cut(text: &str) -> String {
    if text.chars().count() > MAX_TURN {
        let head: String = text.chars().take(MAX_TURN).collect();
        format!("{}…", visible(&head))
    } else {
        visible(text)
    }
}

fn encoded(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The page's path of the agent's sessions.
fn base(tenant: &str, agent: &str) -> String {
    format!("/ui/t/{tenant}/agents/{}/sessions", encoded(agent))
}

/// `GET /ui/t/{tenant}/agents/{name}/sessions?after=`.
pub(crate) async fn list(
    State(gw): State<Gateway>,
    ui: Result<Ui, Reject>,
    params: Params,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let result = async {
        let ui = ui?;
        let pairs = super::extract::query_pairs(query.as_deref())?;
        let after = pairs.iter().find(|(k, _)| k == "after").map(|(_, v)| v.clone()).unwrap_or_default();
        let agent = path_param(&params, "name")?;
        let s = scoped(&gw, &ui, &params)?;
        let tenant = s.tenant.clone();
        let q = agents::SessionsQuery { after, limit: None };
        let axum::Json(v) = agents::sessions(State(gw.clone()), s, params, ApiQuery(q)).await?;
        let base = base(tenant.as_str(), &agent);
        let peers = v["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let peer = p["peer"].as_str().unwrap_or("");
                Peer {
                    peer: visible(peer),
                    href: format!("{base}/{}", encoded(peer)),
                    turns: p["turns"].as_u64().unwrap_or(0),
                    updated: p["updated"].as_u64().map_or_else(String::new, when),
                }
            })
            .collect();
        let next = v["next"].as_str().map(|n| format!("{base}?after={}", encoded(n)));
        let current = format!("/ui/t/{tenant}/agents");
        let chrome = Chrome::signed_in(&gw, &ui, "Sessions", Some(&tenant), &current);
        Ok(html(StatusCode::OK, &SessionsPage { chrome, agent: visible(&agent), peers, next }))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// The turns of a session answer, as the transcript shows them.
fn turns(v: &Value) -> Vec<TurnView> {
    let text = |v: &Value| cut(v.as_str().unwrap_or(""));
    v["turns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| match t["role"].as_str() {
            Some("user") => {
                TurnView { who: "User".into(), text: text(&t["text"]), calls: vec![], failed: false }
            }
            Some("assistant") => TurnView {
                who: "Agent".into(),
                text: text(&t["text"]),
                calls: t["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| (visible(c["name"].as_str().unwrap_or("")), text(&c["arguments"])))
                    .collect(),
                failed: false,
            },
            _ => TurnView {
                who: format!("Tool {}", visible(t["name"].as_str().unwrap_or(""))),
                text: text(&t["content"]),
                calls: vec![],
                failed: t["is_error"].as_bool().unwrap_or(false),
            },
        })
        .collect()
}

/// `GET /ui/t/{tenant}/agents/{name}/sessions/{peer}`.
pub(crate) async fn transcript(
    State(gw): State<Gateway>,
    ui: Result<Ui, Reject>,
    params: Params,
) -> Response {
    let result = async {
        let ui = ui?;
        let (agent, peer) = (path_param(&params, "name")?, path_param(&params, "peer")?);
        let s = scoped(&gw, &ui, &params)?;
        let tenant = s.tenant.clone();
        let axum::Json(v) = agents::session(State(gw.clone()), s, params).await?;
        let back = base(tenant.as_str(), &agent);
        let page = TranscriptPage {
            chrome: Chrome::signed_in(&gw, &ui, "Session", Some(&tenant), &format!("/ui/t/{tenant}/agents")),
            agent: visible(&agent),
            peer: visible(&peer),
            forget: format!("{back}/{}/forget", encoded(&peer)),
            back,
            turns: turns(&v),
        };
        Ok(html(StatusCode::OK, &page))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// `POST /ui/t/{tenant}/agents/{name}/sessions/{peer}/forget`.
pub(crate) async fn forget(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Empty>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, .. } = posted?;
        let agent = path_param(&params, "name")?;
        let s = scoped(&gw, &ui, &params)?;
        let back = base(s.tenant.as_str(), &agent);
        let _ = agents::forget(State(gw.clone()), s, params).await?;
        Ok(see_other(&back))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_transcript_shows_every_turn_as_text_and_cuts_long_ones() {
        let v = json!({"turns": [
            {"role": "user", "text": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "1", "name": "notes", "arguments": "{\"op\":\"list\"}"}]},
            {"role": "tool", "call_id": "1", "name": "notes", "content": "x".repeat(5000), "is_error": true},
            {"role": "assistant", "text": "done\u{202e}"},
        ]});
        let t = turns(&v);
        assert_eq!(t.len(), 4);
        assert_eq!((t[0].who.as_str(), t[0].text.as_str()), ("User", "hi"));
        assert_eq!(t[1].calls, vec![("notes".to_string(), "{\"op\":\"list\"}".to_string())]);
        assert!(t[2].failed && t[2].who == "Tool notes" && t[2].text.chars().count() == MAX_TURN + 1);
        assert!(!t[3].text.contains('\u{202e}'), "a bidi control is shown as its code: {}", t[3].text);
        assert_eq!(base("acme", "a b/c"), "/ui/t/acme/agents/a%20b%2Fc/sessions");
    }
}
