//! The Telegram Bot API in webhook mode: an update is parsed into the peer,
//! the chat to answer, the text and any media; replies go out through
//! `sendMessage`, media comes in through `getFile`, both against the
//! operator's configured API base.

use crate::error::Error;
use serde_json::{Value, json};
use std::time::Duration;

/// The header Telegram sends the webhook's secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// The longest text `sendMessage` takes, in characters.
const MAX_TEXT_CHARS: usize = 4096;
/// Time allowed for one Bot API request.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Telegram's id of the file (for `getFile`).
    pub file_id: String,
    /// Its size, if Telegram said.
    pub size: Option<u64>,
    /// `photo` or `document`.
    pub kind: &'static str,
}

/// What an update carries that the gateway acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The update's id.
    pub update_id: i64,
    /// The sender's user id (the peer is `telegram:<id>`).
    pub from: i64,
    /// The chat to answer in.
    pub chat: i64,
    /// The text, or the media's caption (may be empty).
    pub text: String,
    /// The photo (largest size) or document, if any.
    pub attachment: Option<Attachment>,
}

/// Parses an update; `Ok(None)` for an update that carries no message from
/// a user (an edit, a channel post, a callback, …), which is acknowledged
/// and ignored.
pub fn parse_update(body: &[u8]) -> Result<Option<Inbound>, Error> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::InvalidInput(format!("the update is not JSON: {e}")))?;
    let update_id =
        v["update_id"].as_i64().ok_or_else(|| Error::InvalidInput("the update has no update_id".into()))?;
    let m = &v["message"];
    let (Some(from), Some(chat)) = (m["from"]["id"].as_i64(), m["chat"]["id"].as_i64()) else {
        return Ok(None);
    };
    if m["from"]["is_bot"].as_bool() == Some(true) {
        return Ok(None);
    }
    let text = m["text"].as_str().or_else(|| m["caption"].as_str()).unwrap_or("").to_string();
    let attachment = if let Some(sizes) = m["photo"].as_array() {
        // Telegram lists a photo's sizes smallest first.
        sizes.last().and_then(|p| {
            Some(Attachment {
                file_id: p["file_id"].as_str()?.to_string(),
                size: p["file_size"].as_u64(),
                kind: "photo",
            })
        })
    } else {
        let d = &m["document"];
        d["file_id"].as_str().map(|id| Attachment {
            file_id: id.to_string(),
            size: d["file_size"].as_u64(),
            kind: "document",
        })
    };
    if text.is_empty() && attachment.is_none() {
        return Ok(None);
    }
    Ok(Some(Inbound { update_id, from, chat, text, attachment }))
}

/// A bot's client of the Bot API.
pub struct Bot<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) base: &'a str,
    pub(crate) token: &'a str,
}

fn unavailable(what: &str) -> impl Fn(reqwest::Error) -> Error + '_ {
    // Never the URL: it carries the bot token.
    move |e| {
        Error::Provider(format!(
            "telegram {what}: {}",
            if e.is_timeout() { "timed out" } else { "request failed" }
        ))
    }
}

impl Bot<'_> {
    async fn call(&self, method: &str, body: Value) -> Result<Value, Error> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let resp = self
            .http
            .post(url)
            .timeout(TIMEOUT)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(unavailable(method))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(unavailable(method))?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| Error::Provider(format!("telegram {method} answered {status} with no JSON")))?;
        if v["ok"].as_bool() != Some(true) {
            let why =
                v["description"].as_str().unwrap_or("no description").chars().take(200).collect::<String>();
            return Err(Error::Provider(format!("telegram {method} answered {status}: {why}")));
        }
        Ok(v["result"].clone())
    }

    /// Sends `text` to `chat`, in pieces of at most 4096 characters.
    pub async fn send_message(&self, chat: i64, text: &str) -> Result<(), Error> {
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(MAX_TEXT_CHARS) {
            let piece: String = piece.iter().collect();
            self.call("sendMessage", json!({"chat_id": chat, "text": piece})).await?;
        }
        Ok(())
    }

    /// Downloads a file, refusing one over `max_bytes` before and while
    /// reading it.
    pub async fn download(&self, file_id: &str, max_bytes: u64) -> Result<Vec<u8>, Error> {
        let file = self.call("getFile", json!({"file_id": file_id})).await?;
        if file["file_size"].as_u64().is_some_and(|s| s > max_bytes) {
            return Err(Error::TooLarge(format!("the file is larger than {max_bytes} bytes")));
        }
        let path = file["file_path"]
            .as_str()
            .ok_or_else(|| Error::Provider("telegram getFile: no file_path".into()))?;
        if path.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(Error::Provider("telegram getFile: a malformed file_path".into()));
        }
        let url = format!("{}/file/bot{}/{path}", self.base, self.token);
        let mut resp =
            self.http.get(url).timeout(TIMEOUT).send().await.map_err(unavailable("file download"))?;
        if !resp.status().is_success() {
            return Err(Error::Provider(format!(
                "telegram file download answered {}",
                resp.status().as_u16()
            )));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unavailable("file download"))? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(Error::TooLarge(format!("the file is larger than {max_bytes} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_photos_and_documents_are_parsed_and_the_rest_ignored() {
        let text = br#"{"update_id":7,"message":{"message_id":1,"from":{"id":42,"is_bot":false},"chat":{"id":-100,"type":"group"},"text":"hi"}}"#;
        let m = parse_update(text).unwrap().unwrap();
        assert_eq!((m.update_id, m.from, m.chat, m.text.as_str(), m.attachment), (7, 42, -100, "hi", None));
        let photo = br#"{"update_id":8,"message":{"from":{"id":42},"chat":{"id":42},"caption":"look","photo":[{"file_id":"small","file_size":10},{"file_id":"big","file_size":900}]}}"#;
        let m = parse_update(photo).unwrap().unwrap();
        assert_eq!(m.attachment, Some(Attachment { file_id: "big".into(), size: Some(900), kind: "photo" }));
        assert_eq!(m.text, "look");
        let doc = br#"{"update_id":9,"message":{"from":{"id":1},"chat":{"id":1},"document":{"file_id":"d","file_name":"a.pdf"}}}"#;
        assert_eq!(parse_update(doc).unwrap().unwrap().attachment.unwrap().kind, "document");
        for ignored in [
            &br#"{"update_id":1,"edited_message":{"from":{"id":1},"chat":{"id":1},"text":"x"}}"#[..],
            br#"{"update_id":1,"message":{"from":{"id":1,"is_bot":true},"chat":{"id":1},"text":"x"}}"#,
            br#"{"update_id":1,"message":{"from":{"id":1},"chat":{"id":1},"sticker":{}}}"#,
        ] {
            assert_eq!(parse_update(ignored).unwrap(), None);
        }
        for bad in [&b"nope"[..], br#"{"message":{}}"#, br#"[]"#] {
            assert!(matches!(parse_update(bad), Err(Error::InvalidInput(_))));
        }
    }
}
