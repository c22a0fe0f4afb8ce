//! A real HTTP server on 127.0.0.1:0 for the capability tests: an echo
//! endpoint, a weather API that wants an API key, a redirector, and a
//! webhook receiver that records what it gets.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, get, post};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Hook {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

#[derive(Clone, Default)]
pub struct Seen {
    pub hooks: Arc<Mutex<Vec<Hook>>>,
    pub api_keys: Arc<Mutex<Vec<String>>>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub seen: Seen,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn hooks(&self) -> Vec<Hook> {
        self.seen.hooks.lock().unwrap().clone()
    }
}

fn headers(h: &HeaderMap) -> HashMap<String, String> {
    h.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect()
}

async fn weather(
    State(seen): State<Seen>,
    h: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let key = h.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    seen.api_keys.lock().unwrap().push(key.clone());
    if !key.starts_with("wk-") {
        return (StatusCode::UNAUTHORIZED, "no key").into_response();
    }
    axum::Json(serde_json::json!({"city": q.get("city"), "temp_c": 21})).into_response()
}

async fn hook(State(seen): State<Seen>, uri: axum::http::Uri, h: HeaderMap, body: String) -> StatusCode {
    let path = uri.path().to_string();
    seen.hooks.lock().unwrap().push(Hook { path: path.clone(), headers: headers(&h), body });
    if path.ends_with("/fail") { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK }
}

pub async fn start() -> Server {
    let seen = Seen::default();
    let app = Router::new()
        .route(
            "/echo",
            any(|h: HeaderMap, body: String| async move {
                axum::Json(serde_json::json!({"headers": headers(&h), "body": body}))
            }),
        )
        .route("/weather", get(weather))
        .route(
            "/to",
            get(|Query(q): Query<HashMap<String, String>>| async move { Redirect::temporary(&q["u"]) }),
        )
        .route("/hook", post(hook))
        .route("/hook/fail", post(hook))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, seen }
}
