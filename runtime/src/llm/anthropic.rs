//! The Anthropic messages wire format, with tool use: `POST {base}/messages`,
//! `x-api-key: KEY`, `anthropic-version: 2023-06-01`.

use super::{LlmError, ModelReply, Request, TokenUsage, arguments_value};
use crate::records::{ToolCall, Turn};
use serde_json::{Value, json};

/// The `anthropic-version` header sent.
pub const VERSION: &str = "2023-06-01";

/// The request body for `req`. Tool results are user turns of
/// `tool_result` blocks, consecutive ones merged into one message, so that
/// user and assistant turns alternate as the API requires.
pub fn request_body(req: &Request<'_>) -> Value {
    let mut messages: Vec<Value> = Vec::new();
    for turn in req.turns {
        let (role, blocks) = match turn {
            Turn::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
            Turn::Assistant { text, tool_calls } => {
                let mut blocks = Vec::new();
                if let Some(t) = text {
                    blocks.push(json!({"type": "text", "text": t}));
                }
                for c in tool_calls {
                    blocks.push(json!({
                        "type": "tool_use", "id": c.id, "name": c.name, "input": arguments_value(&c.arguments),
                    }));
                }
                ("assistant", blocks)
            }
            Turn::Tool { call_id, content, is_error, .. } => (
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": content, "is_error": is_error}),
                ],
            ),
        };
        match messages.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(content) = last["content"].as_array_mut() {
                    content.extend(blocks);
                }
            }
            _ => messages.push(json!({"role": role, "content": blocks})),
        }
    }
    let mut body = json!({"model": req.model, "max_tokens": req.max_tokens, "messages": messages});
    if !req.system.is_empty() {
        body["system"] = json!(req.system);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
    }
    body
}

/// The reply in a response body.
pub fn parse_reply(body: &[u8]) -> Result<ModelReply, LlmError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| LlmError::Malformed(format!("not JSON: {e}")))?;
    let blocks =
        v.get("content").and_then(Value::as_array).ok_or_else(|| LlmError::Malformed("no content".into()))?;
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(t) = b.get("text").and_then(Value::as_str) {
                    texts.push(t);
                }
            }
            Some("tool_use") => {
                let (Some(id), Some(name)) =
                    (b.get("id").and_then(Value::as_str), b.get("name").and_then(Value::as_str))
                else {
                    return Err(LlmError::Malformed("a tool_use block without id or name".into()));
                };
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(ToolCall {
                    id: id.to_string(),
                    name: name.to_string(),
                    arguments: input.to_string(),
                });
            }
            _ => {} // thinking and other blocks are not part of the answer
        }
    }
    let text = Some(texts.join("")).filter(|t| !t.is_empty());
    if text.is_none() && tool_calls.is_empty() {
        return Err(LlmError::Malformed("the message has neither text nor tool use".into()));
    }
    let count = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let usage = TokenUsage { input: count("/usage/input_tokens"), output: count("/usage/output_tokens") };
    Ok(ModelReply { text, tool_calls, usage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolSpec;

    #[test]
    fn tool_results_become_user_blocks_and_turns_alternate() {
        let calls = vec![
            ToolCall { id: "t1".into(), name: "notes".into(), arguments: r#"{"op":"list"}"#.into() },
            ToolCall { id: "t2".into(), name: "echo".into(), arguments: "not json".into() },
        ];
        let turns = vec![
            Turn::User { text: "hi".into() },
            Turn::Assistant { text: Some("let me look".into()), tool_calls: calls },
            Turn::Tool { call_id: "t1".into(), name: "notes".into(), content: "[]".into(), is_error: false },
            Turn::Tool { call_id: "t2".into(), name: "echo".into(), content: "{}".into(), is_error: true },
        ];
        let tools = vec![ToolSpec { name: "notes".into(), description: "d".into(), input_schema: json!({}) }];
        let req = Request { model: "claude", system: "sys", turns: &turns, tools: &tools, max_tokens: 50 };
        let body = request_body(&req);
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(
            msgs[1]["content"][1],
            json!({"type":"tool_use","id":"t1","name":"notes","input":{"op":"list"}})
        );
        assert_eq!(msgs[1]["content"][2]["input"], json!({}));
        assert_eq!(msgs[2]["role"], "user");
        assert_eq!(msgs[2]["content"][1]["is_error"], true);
        assert_eq!(body["system"], "sys");
        assert_eq!(body["tools"][0]["input_schema"], json!({}));
    }

    #[test]
    fn replies_are_parsed_and_empty_ones_refused() {
        let r = parse_reply(
            br#"{"content":[{"type":"text","text":"ok "},{"type":"tool_use","id":"t1","name":"notes","input":{"op":"list"}}],"stop_reason":"tool_use","usage":{"input_tokens":20,"output_tokens":7}}"#,
        )
        .unwrap();
        assert_eq!(r.text.as_deref(), Some("ok "));
        assert_eq!(r.tool_calls[0].arguments, r#"{"op":"list"}"#);
        assert_eq!(r.usage, TokenUsage { input: 20, output: 7 });
        assert!(matches!(parse_reply(br#"{"content":[]}"#), Err(LlmError::Malformed(_))));
        assert!(matches!(parse_reply(br#"{"type":"message"}"#), Err(LlmError::Malformed(_))));
    }
}
