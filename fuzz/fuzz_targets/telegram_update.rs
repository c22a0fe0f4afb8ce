//! Telegram updates, as they reach `POST /v1/inbound/{tenant}/{channel}`
//! (after the secret token, so from anyone holding it, and shaped by any
//! Telegram user), and the media bytes that come with them.
//!
//! Properties: no body panics; an update taken carries something to answer
//! and a sender that makes a valid peer id; written back as an update, it
//! parses to the same thing.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use wasmclaw::UserId;
use wasmclaw::channels::{media, telegram};

fuzz_target!(|data: &[u8]| {
    let _ = media::sniff(data);
    let Ok(Some(m)) = telegram::parse_update(data) else { return };
    assert!(!m.text.is_empty() || m.attachment.is_some());
    UserId::parse(&format!("telegram:{}", m.from)).expect("every sender makes a peer id");
    let mut message =
        json!({"from": {"id": m.from, "is_bot": false}, "chat": {"id": m.chat}, "text": m.text});
    if let Some(a) = &m.attachment {
        let file = json!({"file_id": a.file_id, "file_size": a.size});
        match a.kind {
            "photo" => message["photo"] = json!([file]),
            "document" => message["document"] = file,
            other => panic!("unknown attachment kind {other}"),
        }
    }
    let again = json!({"update_id": m.update_id, "message": message}).to_string();
    assert_eq!(telegram::parse_update(again.as_bytes()).expect("parses").as_ref(), Some(&m), "{again}");
});
