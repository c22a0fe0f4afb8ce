//! A fake model provider on 127.0.0.1:0 that speaks both wire formats the
//! runtime implements: OpenAI chat completions at `/openai/v1` and
//! Anthropic messages at `/anthropic/v1`.
//!
//! Every request is validated as the real API would (key, headers, required
//! fields, roles, tool-call ids answered in order); a request that is not
//! gets a 400 in the provider's error format, and is recorded as a
//! violation the tests assert there are none of.
//!
//! The "model" is a small script driven by the peer's last message:
//! - `note TEXT` calls `notes` `{"op":"add","text":TEXT}`, then answers
//!   `noted: <the tool's output>`;
//! - `list notes` calls `notes` `{"op":"list"}`, then `notes: <output>`;
//! - `export notes` calls `notes` `{"op":"export"}`, then `exported: <output>`;
//! - `call NAME JSON` calls tool NAME with JSON, then `result: <output>`;
//! - `fan N NAME JSON` asks, in one reply, for N calls of tool NAME with
//!   JSON, then `result: <the last output>`;
//! - `loop` asks for `notes` `{"op":"list"}` every time (never answers);
//!   `loop N` asks for N of them in each reply;
//! - `history` answers the user messages it was sent, joined by ` | `;
//! - `fail STATUS` answers that HTTP status, every time;
//! - `leak` answers 400 with an error message that repeats the API key;
//! - `flaky` answers 503 to the first request carrying that conversation,
//!   then like `echo`;
//! - anything else answers `echo: TEXT`.
//!
//! Usage reported: 10 input tokens per message sent, 5 output tokens.
//!
//! It also plays the Telegram Bot API at `/telegram` for the bot token
//! [`FAKE_BOT_TOKEN`]: `getFile` and the file download for the files a test
//! adds ([`FakeLlm::add_telegram_file`]), and `sendMessage`, recorded
//! ([`FakeLlm::telegram_sent`]).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The API key the fake accepts.
pub const FAKE_KEY: &str = "sk-fake-test-key";
/// The bot token the fake Telegram API accepts.
pub const FAKE_BOT_TOKEN: &str = "123456:fake-bot-token";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `openai` or `anthropic`.
    pub format: &'static str,
    /// The request body.
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    violations: Mutex<Vec<String>>,
    flaky_seen: Mutex<HashSet<String>>,
    next_id: AtomicU64,
    /// file_id → (file_path, bytes).
    telegram_files: Mutex<std::collections::HashMap<String, (String, Vec<u8>)>>,
    /// (chat_id, text) of every sendMessage.
    telegram_sent: Mutex<Vec<(i64, String)>>,
}

/// A running fake provider; stops when dropped.
pub struct FakeLlm {
    /// Its address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeLlm {
    /// Starts the fake on 127.0.0.1:0.
    pub async fn start() -> FakeLlm {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/openai/v1/chat/completions", post(openai))
            .route("/anthropic/v1/messages", post(anthropic))
            .route("/telegram/{*rest}", axum::routing::any(telegram))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake provider");
        let addr = listener.local_addr().expect("its address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FakeLlm { addr, shared, _stop: tx }
    }

    /// The API base of a format (`openai` or `anthropic`).
    pub fn base(&self, format: &str) -> String {
        format!("http://{}/{format}/v1", self.addr)
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Every way a request broke its wire format.
    pub fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// The Telegram API base.
    pub fn telegram_base(&self) -> String {
        format!("http://{}/telegram", self.addr)
    }

    /// Makes a file available to `getFile` under `file_id`.
    pub fn add_telegram_file(&self, file_id: &str, file_path: &str, bytes: &[u8]) {
        let entry = (file_path.to_string(), bytes.to_vec());
        self.shared.telegram_files.lock().unwrap().insert(file_id.to_string(), entry);
    }

    /// Every `sendMessage` so far, as (chat id, text).
    pub fn telegram_sent(&self) -> Vec<(i64, String)> {
        self.shared.telegram_sent.lock().unwrap().clone()
    }
}

/// The Bot API: `/telegram/bot<TOKEN>/<method>` and
/// `/telegram/file/bot<TOKEN>/<path>`.
async fn telegram(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    body: Bytes,
) -> Response {
    let fail = |status: StatusCode, what: &str| {
        (status, axum::Json(json!({"ok": false, "error_code": status.as_u16(), "description": what})))
            .into_response()
    };
    if let Some(file) = rest.strip_prefix(&format!("file/bot{FAKE_BOT_TOKEN}/")) {
        let files = shared.telegram_files.lock().unwrap();
        return match files.values().find(|(path, _)| path == file) {
            Some((_, bytes)) => bytes.clone().into_response(),
            None => fail(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    let Some(method) = rest.strip_prefix(&format!("bot{FAKE_BOT_TOKEN}/")) else {
        return fail(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let Ok(args) = serde_json::from_slice::<Value>(&body) else {
        shared.violations.lock().unwrap().push(format!("telegram {method}: body is not JSON"));
        return fail(StatusCode::BAD_REQUEST, "Bad Request: body is not JSON");
    };
    match method {
        "getFile" => {
            let id = args["file_id"].as_str().unwrap_or("");
            match shared.telegram_files.lock().unwrap().get(id) {
                Some((path, bytes)) => axum::Json(json!({"ok": true, "result": {
                    "file_id": id, "file_unique_id": id, "file_size": bytes.len(), "file_path": path,
                }}))
                .into_response(),
                None => fail(StatusCode::BAD_REQUEST, "Bad Request: invalid file_id"),
            }
        }
        "sendMessage" => {
            let (Some(chat), Some(text)) = (args["chat_id"].as_i64(), args["text"].as_str()) else {
                shared.violations.lock().unwrap().push(format!("telegram sendMessage: {args}"));
                return fail(StatusCode::BAD_REQUEST, "Bad Request: chat_id and text are required");
            };
            if text.is_empty() || text.chars().count() > 4096 {
                shared.violations.lock().unwrap().push("telegram sendMessage: text of a bad length".into());
                return fail(StatusCode::BAD_REQUEST, "Bad Request: message text is empty or too long");
            }
            shared.telegram_sent.lock().unwrap().push((chat, text.to_string()));
            axum::Json(json!({"ok": true, "result": {"message_id": 1, "chat": {"id": chat}, "text": text}}))
                .into_response()
        }
        _ => fail(StatusCode::NOT_FOUND, "Not Found: method not found"),
    }
}

/// What the script decided for one request.
enum Act {
    Tool {
        name: String,
        arguments: Value,
        /// How many calls of it the one reply asks for.
        count: usize,
    },
    Answer(String),
    Fail(u16),
    /// A 400 whose message repeats the key (as some providers do).
    Leak,
}

/// The script, over the conversation as (role, text) pairs of user texts
/// and tool results after the last user text.
fn decide(shared: &Shared, user_texts: &[String], results_since_user: &[String]) -> Act {
    let last = user_texts.last().map(String::as_str).unwrap_or("").trim();
    let tool = |name: &str, args: Value| Act::Tool { name: name.into(), arguments: args, count: 1 };
    let (word, rest) = last.split_once(' ').unwrap_or((last, ""));
    if let Some(result) = results_since_user.last()
        && word != "loop"
    {
        let label = match word {
            "note" => "noted",
            "list" => "notes",
            "export" => "exported",
            _ => "result",
        };
        return Act::Answer(format!("{label}: {result}"));
    }
    match word {
        "note" => tool("notes", json!({"op": "add", "text": rest})),
        "list" => tool("notes", json!({"op": "list"})),
        "export" => tool("notes", json!({"op": "export"})),
        "loop" => Act::Tool {
            name: "notes".into(),
            arguments: json!({"op": "list"}),
            count: rest.trim().parse().unwrap_or(1),
        },
        "call" => {
            let (name, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
            tool(name, serde_json::from_str(args).unwrap_or(json!({})))
        }
        "fan" => {
            let (n, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
            let arguments = serde_json::from_str(args).unwrap_or(json!({}));
            Act::Tool { name: name.into(), arguments, count: n.parse().unwrap_or(1) }
        }
        "history" => Act::Answer(user_texts.join(" | ")),
        "fail" => Act::Fail(rest.trim().parse().unwrap_or(500)),
        "leak" => Act::Leak,
        "flaky" => {
            let key = user_texts.join("\n");
            if shared.flaky_seen.lock().unwrap().insert(key) {
                Act::Fail(503)
            } else {
                Act::Answer(format!("echo: {last}"))
            }
        }
        _ => Act::Answer(format!("echo: {last}")),
    }
}

fn violation(shared: &Shared, format: &str, what: String, error: Value) -> Response {
    shared.violations.lock().unwrap().push(format!("{format}: {what}"));
    (StatusCode::BAD_REQUEST, axum::Json(error)).into_response()
}

fn is_tool_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks an OpenAI request; the user texts and the tool results since the
/// last user message.
fn check_openai(body: &Value) -> Result<(Vec<String>, Vec<String>), String> {
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("no model".into());
    }
    if !body["max_tokens"].is_u64() {
        return Err("max_tokens is not an integer".into());
    }
    let msgs = body["messages"].as_array().ok_or("no messages")?;
    if msgs.first().map(|m| &m["role"]) != Some(&json!("system")) {
        return Err("the first message is not the system prompt".into());
    }
    let (mut users, mut results) = (Vec::new(), Vec::new());
    let mut open: Vec<String> = Vec::new();
    for m in &msgs[1..] {
        let role = m["role"].as_str().unwrap_or("");
        if role != "tool" && !open.is_empty() {
            return Err(format!("tool calls {open:?} are not answered before a {role} message"));
        }
        match role {
            "user" => {
                users.push(m["content"].as_str().ok_or("user content is not text")?.to_string());
                results.clear();
            }
            "assistant" => {
                let calls = m["tool_calls"].as_array().cloned().unwrap_or_default();
                if calls.is_empty() && m["content"].as_str().is_none() {
                    return Err("an assistant message with neither content nor tool calls".into());
                }
                for c in calls {
                    if c["type"] != "function" || c["function"]["arguments"].as_str().is_none() {
                        return Err(format!("malformed tool call {c}"));
                    }
                    open.push(c["id"].as_str().ok_or("a tool call without id")?.to_string());
                }
            }
            "tool" => {
                let id = m["tool_call_id"].as_str().ok_or("a tool message without tool_call_id")?;
                let Some(pos) = open.iter().position(|o| o == id) else {
                    return Err(format!("tool message for unknown call {id}"));
                };
                open.remove(pos);
                results.push(m["content"].as_str().ok_or("tool content is not text")?.to_string());
            }
            other => return Err(format!("unknown role {other:?}")),
        }
    }
    if !open.is_empty() {
        return Err(format!("tool calls {open:?} are not answered"));
    }
    for t in body["tools"].as_array().into_iter().flatten() {
        if t["type"] != "function"
            || !t["function"]["name"].as_str().is_some_and(is_tool_name)
            || !t["function"]["parameters"].is_object()
        {
            return Err(format!("malformed tool {t}"));
        }
    }
    Ok((users, results))
}

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let err = |m: &str| json!({"error": {"message": m, "type": "invalid_request_error"}});
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {FAKE_KEY}")) {
        return (StatusCode::UNAUTHORIZED, axum::Json(err("Incorrect API key provided"))).into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return violation(&shared, "openai", "body is not JSON".into(), err("body is not JSON"));
    };
    shared.received.lock().unwrap().push(Received { format: "openai", body: body.clone() });
    let (users, results) = match check_openai(&body) {
        Ok(x) => x,
        Err(e) => return violation(&shared, "openai", e.clone(), err(&e)),
    };
    let usage = json!({"prompt_tokens": 10 * body["messages"].as_array().map_or(0, Vec::len), "completion_tokens": 5});
    let message = match decide(&shared, &users, &results) {
        Act::Fail(status) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (code, [("retry-after", "0")], axum::Json(err(&format!("scripted failure {status}"))))
                .into_response();
        }
        Act::Leak => {
            let m = format!("Incorrect API key provided: {FAKE_KEY}");
            return (StatusCode::BAD_REQUEST, axum::Json(err(&m))).into_response();
        }
        Act::Answer(text) => json!({"role": "assistant", "content": text}),
        Act::Tool { name, arguments, count } => {
            let calls: Vec<Value> = (0..count)
                .map(|_| {
                    let id = format!("call_{}", shared.next_id.fetch_add(1, Ordering::Relaxed));
                    json!({"id": id, "type": "function",
                        "function": {"name": name, "arguments": arguments.to_string()}})
                })
                .collect();
            json!({"role": "assistant", "content": null, "tool_calls": calls})
        }
    };
    let finish = if message["tool_calls"].is_array() { "tool_calls" } else { "stop" };
    axum::Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }))
    .into_response()
}

/// Checks an Anthropic request, as [`check_openai`].
fn check_anthropic(body: &Value) -> Result<(Vec<String>, Vec<String>), String> {
    if body["model"].as_str().is_none_or(str::is_empty) {
        return Err("model: field required".into());
    }
    if !body["max_tokens"].is_u64() {
        return Err("max_tokens: field required".into());
    }
    let msgs = body["messages"]
        .as_array()
        .filter(|m| !m.is_empty())
        .ok_or("messages: at least one message is required")?;
    let (mut users, mut results) = (Vec::new(), Vec::new());
    let mut open: Vec<String> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        let want = if i % 2 == 0 { "user" } else { "assistant" };
        if role != want {
            return Err(format!("messages.{i}: roles must alternate, starting with user (got {role:?})"));
        }
        let blocks =
            m["content"].as_array().ok_or(format!("messages.{i}.content is not a list of blocks"))?;
        if role == "user" {
            let mut answered = Vec::new();
            for b in blocks {
                match b["type"].as_str() {
                    Some("text") => {
                        users.push(b["text"].as_str().ok_or("a text block without text")?.to_string());
                        results.clear();
                    }
                    Some("tool_result") => {
                        let id = b["tool_use_id"].as_str().ok_or("tool_result without tool_use_id")?;
                        if !open.iter().any(|o| o == id) {
                            return Err(format!("messages.{i}: tool_result for unknown tool_use {id}"));
                        }
                        answered.push(id.to_string());
                        results.push(
                            b["content"].as_str().ok_or("tool_result content is not text")?.to_string(),
                        );
                    }
                    other => {
                        return Err(format!("messages.{i}: unexpected block {other:?} in a user message"));
                    }
                }
            }
            if let Some(missing) = open.iter().find(|o| !answered.contains(o)) {
                return Err(format!("messages.{i}: tool_use {missing} has no tool_result"));
            }
            open.clear();
        } else {
            for b in blocks {
                match b["type"].as_str() {
                    Some("text") => {}
                    Some("tool_use") => {
                        if !b["input"].is_object() || !b["name"].as_str().is_some_and(is_tool_name) {
                            return Err(format!("messages.{i}: malformed tool_use {b}"));
                        }
                        open.push(b["id"].as_str().ok_or("tool_use without id")?.to_string());
                    }
                    other => return Err(format!("messages.{i}: unexpected block {other:?}")),
                }
            }
        }
    }
    if msgs.last().map(|m| &m["role"]) != Some(&json!("user")) {
        return Err("the last message must be from the user".into());
    }
    for t in body["tools"].as_array().into_iter().flatten() {
        if !t["name"].as_str().is_some_and(is_tool_name) || !t["input_schema"].is_object() {
            return Err(format!("malformed tool {t}"));
        }
    }
    Ok((users, results))
}

async fn anthropic(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let err = |kind: &str, m: &str| json!({"type": "error", "error": {"type": kind, "message": m}});
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(FAKE_KEY) {
        return (StatusCode::UNAUTHORIZED, axum::Json(err("authentication_error", "invalid x-api-key")))
            .into_response();
    }
    if headers.get("anthropic-version").is_none() {
        return violation(
            &shared,
            "anthropic",
            "no anthropic-version".into(),
            err("invalid_request_error", "anthropic-version header is required"),
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return violation(
            &shared,
            "anthropic",
            "body is not JSON".into(),
            err("invalid_request_error", "body is not JSON"),
        );
    };
    shared.received.lock().unwrap().push(Received { format: "anthropic", body: body.clone() });
    let (users, results) = match check_anthropic(&body) {
        Ok(x) => x,
        Err(e) => return violation(&shared, "anthropic", e.clone(), err("invalid_request_error", &e)),
    };
    let usage =
        json!({"input_tokens": 10 * body["messages"].as_array().map_or(0, Vec::len), "output_tokens": 5});
    let (content, stop) = match decide(&shared, &users, &results) {
        Act::Fail(status) => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = if status == 529 || status == 503 { "overloaded_error" } else { "api_error" };
            return (
                code,
                [("retry-after", "0")],
                axum::Json(err(kind, &format!("scripted failure {status}"))),
            )
                .into_response();
        }
        Act::Leak => {
            let m = format!("invalid x-api-key {FAKE_KEY}");
            return (StatusCode::BAD_REQUEST, axum::Json(err("invalid_request_error", &m))).into_response();
        }
        Act::Answer(text) => (json!([{"type": "text", "text": text}]), "end_turn"),
        Act::Tool { name, arguments, count } => {
            let uses: Vec<Value> = (0..count)
                .map(|_| {
                    let id = format!("toolu_{}", shared.next_id.fetch_add(1, Ordering::Relaxed));
                    json!({"type": "tool_use", "id": id, "name": name, "input": arguments})
                })
                .collect();
            (json!(uses), "tool_use")
        }
    };
    axum::Json(json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
        "content": content, "stop_reason": stop, "usage": usage,
    }))
    .into_response()
}
