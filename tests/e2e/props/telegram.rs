//! Telegram updates.

use super::*;

const TELEGRAM_KEYS: &[&str] = &[
    "update_id",
    "message",
    "from",
    "chat",
    "id",
    "is_bot",
    "text",
    "caption",
    "photo",
    "document",
    "file_id",
    "file_size",
    "edited_message",
];

fn i64_ish() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(1.5)),
        Just(json!("7"))
    ]
}

proptest! {
    #![proptest_config(config(256))]

    /// Any bytes, any JSON, and updates whose fields have any type never
    /// panic: the result is an update, nothing to answer, or invalid input.
    #[test]
    fn arbitrary_telegram_updates_never_panic(
        whole in json_value(TELEGRAM_KEYS),
        message in json_value(TELEGRAM_KEYS),
        from in i64_ish(),
        chat in i64_ish(),
        update_id in i64_ish(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let shaped = json!({"update_id": update_id, "message": {"from": {"id": from}, "chat": {"id": chat}, "text": "hi", "photo": message.clone(), "document": message.clone(), "caption": message}});
        for body in [whole.to_string().into_bytes(), shaped.to_string().into_bytes(), bytes] {
            match parse_update(&body) {
                Ok(Some(m)) => {
                    prop_assert!(!m.text.is_empty() || m.attachment.is_some());
                    let peer = format!("telegram:{}", m.from);
                    prop_assert!(UserId::parse(&peer).is_ok());
                }
                Ok(None) | Err(Error::InvalidInput(_)) => {}
                Err(e) => return Err(TestCaseError::fail(format!("not invalid input: {e:?}"))),
            }
        }
    }

    /// A well-formed update parses to exactly its sender, chat, text and
    /// largest photo or document; a bot's is ignored.
    #[test]
    fn well_formed_telegram_updates_parse_to_what_they_carry(
        update_id in any::<i64>(),
        from in any::<i64>(),
        chat in any::<i64>(),
        text in "\\PC{1,50}",
        as_caption in any::<bool>(),
        photos in prop::collection::vec(("[A-Za-z0-9_-]{1,20}", prop::option::of(any::<u64>())), 0..4),
        document in prop::option::of(("[A-Za-z0-9_-]{1,20}", prop::option::of(any::<u64>()))),
        is_bot in any::<bool>(),
    ) {
        let mut message = json!({"message_id": 1, "from": {"id": from, "is_bot": is_bot}, "chat": {"id": chat}});
        message[if as_caption { "caption" } else { "text" }] = json!(&text);
        let mut attachment = None;
        if let Some((id, size)) = &document {
            message["document"] = json!({"file_id": id, "file_size": size});
            attachment = Some(Attachment { file_id: id.clone(), size: *size, kind: "document" });
        }
        if !photos.is_empty() {
            message["photo"] = json!(photos.iter().map(|(id, size)| json!({"file_id": id, "file_size": size})).collect::<Vec<_>>());
            let (id, size) = photos.last().unwrap();
            attachment = Some(Attachment { file_id: id.clone(), size: *size, kind: "photo" });
        }
        let body = json!({"update_id": update_id, "message": message}).to_string();
        let got = parse_update(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if is_bot {
            prop_assert_eq!(got, None);
        } else {
            prop_assert_eq!(got, Some(Inbound { update_id, from, chat, text, attachment }));
        }
    }
}
