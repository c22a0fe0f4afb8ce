//! The Messages page's controls: the state shown (links, not a form: one
//! click each), read from the query string (strict UTF-8) and handed to
//! the outbox route as its own query, and the link to the next page.

use super::page::Reject;
use crate::routes::data::OutboxQuery;
use serde_json::Value;

/// The states a Messages page can show: the query's word and the link's
/// label (`""`: every state).
const STATES: [(&str, &str); 4] =
    [("", "All"), ("pending", "Pending"), ("delivered", "Delivered"), ("dead", "Dead")];

/// One state link.
pub(crate) struct StateLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// What the Messages page shows around its table.
pub(crate) struct OutboxView {
    path: String,
    state: String,
    after: String,
    pub states: Vec<StateLink>,
    /// The next page's link, when the route says there is one.
    pub next: Option<String>,
}

impl OutboxView {
    /// The view of a query string (`state`, `after`; unknown keys ignored).
    pub(crate) fn parse(path: &str, query: Option<&str>) -> Result<OutboxView, Reject> {
        let pairs = super::extract::query_pairs(query)?;
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let (state, after) = (get("state"), get("after"));
        let states = STATES
            .iter()
            .map(|(word, label)| StateLink { label, href: link(path, word, ""), current: *word == state })
            .collect();
        Ok(OutboxView { path: path.to_string(), state, after, states, next: None })
    }

    /// The route's query for this view.
    pub(crate) fn query(&self) -> OutboxQuery {
        OutboxQuery {
            state: (!self.state.is_empty()).then(|| self.state.clone()),
            after: self.after.clone(),
            limit: None,
        }
    }

    /// Takes the route's answer's `next` into the page's link.
    pub(crate) fn answered(&mut self, answer: &Value) {
        self.next = answer["next"].as_str().map(|after| link(&self.path, &self.state, after));
    }
}

/// `path` showing `state` from after `after`.
fn link(path: &str, state: &str, after: &str) -> String {
    let q: Vec<(&str, &str)> =
        [("state", state), ("after", after)].into_iter().filter(|(_, v)| !v.is_empty()).collect();
    if q.is_empty() {
        return path.to_string();
    }
    format!("{path}?{}", serde_urlencoded::to_string(&q).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_state_and_encode_the_cursor() {
        let Ok(mut v) = OutboxView::parse("/ui/t/acme/messages", Some("state=dead&after=a%26b")) else {
            panic!()
        };
        assert_eq!(v.query().state.as_deref(), Some("dead"));
        assert_eq!(v.query().after, "a&b");
        assert!(v.states.iter().any(|s| s.current && s.label == "Dead"));
        assert_eq!(v.states[0].href, "/ui/t/acme/messages");
        v.answered(&serde_json::json!({ "next": "x y&z" }));
        assert_eq!(v.next.as_deref(), Some("/ui/t/acme/messages?state=dead&after=x+y%26z"));
        v.answered(&serde_json::json!({ "next": null }));
        assert_eq!(v.next, None);
        assert!(OutboxView::parse("/p", Some("state=%ff")).is_err());
    }
}
