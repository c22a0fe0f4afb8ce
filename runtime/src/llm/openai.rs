//! The OpenAI-compatible chat-completions wire format, with function
//! calling: `POST {base}/chat/completions`, `Authorization: Bearer KEY`.

use super::{LlmError, ModelReply, Request, TokenUsage};
use crate::records::{ToolCall, Turn};
use serde_json::{Value, json};

/// The request body for `req`.
pub fn request_body(req: &Request<'_>) -> Value {
    let mut messages = vec![json!({"role": "system", "content": req.system})];
    for turn in req.turns {
        messages.push(match turn {
            Turn::User { text } => json!({"role": "user", "content": text}),
            Turn::Assistant { text, tool_calls } => {
                let mut m = json!({"role": "assistant", "content": text});
                if !tool_calls.is_empty() {
                    m["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments},
                            })
                        })
                        .collect();
                }
                m
            }
            Turn::Tool { call_id, content, .. } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        });
    }
    let mut body = json!({"model": req.model, "messages": messages, "max_tokens": req.max_tokens});
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.input_schema},
                })
            })
            .collect();
    }
    body
}

/// The reply in a response body.
pub fn parse_reply(body: &[u8]) -> Result<ModelReply, LlmError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| LlmError::Malformed(format!("not JSON: {e}")))?;
    let message =
        v.pointer("/choices/0/message").ok_or_else(|| LlmError::Malformed("no choices[0].message".into()))?;
    let text = message.get("content").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let mut tool_calls = Vec::new();
    if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            let field = |p: &str| c.pointer(p).and_then(Value::as_str);
            let (Some(id), Some(name)) = (field("/id"), field("/function/name")) else {
                return Err(LlmError::Malformed("a tool call without id or function.name".into()));
            };
            tool_calls.push(ToolCall {
                id: id.to_string(),
                name: name.to_string(),
                arguments: field("/function/arguments").unwrap_or("{}").to_string(),
            });
        }
    }
    if text.is_none() && tool_calls.is_empty() {
        return Err(LlmError::Malformed("the message has neither content nor tool calls".into()));
    }
    let count = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let usage =
        TokenUsage { input: count("/usage/prompt_tokens"), output: count("/usage/completion_tokens") };
    Ok(ModelReply { text, tool_calls, usage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolSpec;

    #[test]
    fn a_conversation_with_a_tool_call_is_encoded_as_openai_expects() {
        let turns = vec![
            Turn::User { text: "note milk".into() },
            Turn::Assistant {
                text: None,
                tool_calls: vec![ToolCall {
                    id: "c1".into(),
                    name: "notes".into(),
                    arguments: r#"{"op":"add"}"#.into(),
                }],
            },
            Turn::Tool {
                call_id: "c1".into(),
                name: "notes".into(),
                content: r#"{"id":"1"}"#.into(),
                is_error: false,
            },
        ];
        let tools = vec![ToolSpec {
            name: "notes".into(),
            description: "Notes".into(),
            input_schema: json!({"type":"object"}),
        }];
        let req = Request { model: "m", system: "be brief", turns: &turns, tools: &tools, max_tokens: 100 };
        let body = request_body(&req);
        assert_eq!(body["messages"][0], json!({"role":"system","content":"be brief"}));
        assert_eq!(body["messages"][2]["tool_calls"][0]["function"]["arguments"], r#"{"op":"add"}"#);
        assert_eq!(
            body["messages"][3],
            json!({"role":"tool","tool_call_id":"c1","content":"{\"id\":\"1\"}"})
        );
        assert_eq!(body["tools"][0]["function"]["parameters"], json!({"type":"object"}));
        assert_eq!(body["max_tokens"], 100);
    }

    #[test]
    fn replies_with_text_or_tool_calls_are_parsed_and_empty_ones_refused() {
        let r = parse_reply(
            br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"notes","arguments":"{}"}}]}}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#,
        )
        .unwrap();
        assert_eq!(r.tool_calls[0].name, "notes");
        assert_eq!(r.usage, TokenUsage { input: 12, output: 3 });
        let r = parse_reply(br#"{"choices":[{"message":{"content":"hi"}}]}"#).unwrap();
        assert_eq!(r.text.as_deref(), Some("hi"));
        assert!(matches!(parse_reply(br#"{"choices":[]}"#), Err(LlmError::Malformed(_))));
        assert!(matches!(
            parse_reply(br#"{"choices":[{"message":{"content":""}}]}"#),
            Err(LlmError::Malformed(_))
        ));
        assert!(matches!(parse_reply(b"<html>"), Err(LlmError::Malformed(_))));
    }
}
