//! A page of a tenant's outbox, by state, for its people
//! ([`TenantData::outbox`]): bounded in what it reads and in what it
//! returns once scrubbed, whatever state is asked for.

use super::TenantData;
use crate::caps::memory::MAX_LIST_BYTES;
use crate::error::Error;
use crate::ids::TenantId;
use crate::records::{Message, MessageState};
use crate::tenants::existing;

/// The most messages one page of the outbox returns.
pub const MAX_OUTBOX_PAGE: usize = 100;
/// The most messages one page of the outbox reads, whatever it returns.
pub const OUTBOX_SCAN: usize = 2_000;
/// Past this many bytes of bodies and errors as sent (scrubbed, escaped
/// for JSON), a page of the outbox ends (its `next` goes on), as the
/// memory list's do.
pub const OUTBOX_PAGE_BYTES: usize = MAX_LIST_BYTES;
/// Past this many bytes of bodies and errors read, a page of the outbox
/// ends too, whatever it kept: a rare state costs no more to look for.
pub const OUTBOX_SCAN_BYTES: usize = 4 * MAX_LIST_BYTES;

/// The length of `text` as a JSON string's contents.
fn json_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// `text` cut to at most `max` bytes as a JSON string's contents, ending in
/// `…` when cut.
fn cut_to(text: &str, max: usize) -> String {
    let mut len = 0;
    let mut out = String::new();
    for c in text.chars() {
        len += json_len(c.encode_utf8(&mut [0; 4]));
        if len > max {
            out.push('…');
            return out;
        }
        out.push(c);
    }
    out
}

/// A page of a tenant's outbox ([`crate::Runtime::outbox`]).
#[derive(Debug)]
pub struct OutboxPage {
    /// The messages, in id order.
    pub messages: Vec<Message>,
    /// The id to ask for the next page after; `None` at the end.
    pub next: Option<String>,
}

impl TenantData {
    /// A page of the tenant's outbox in id order: the messages after
    /// `after` in `state` (any state: `None`), at most `limit`, their
    /// bodies and errors scrubbed. A page reads at most [`OUTBOX_SCAN`]
    /// messages and [`OUTBOX_SCAN_BYTES`], and returns at most
    /// [`OUTBOX_PAGE_BYTES`] (a message that would pass it starts the next
    /// page; one that alone would is cut, ending in `…`), so
    /// one in a rare state costs no more than another: it may come back
    /// short, and `next` says where to go on (`None`: the outbox ends here).
    pub(crate) fn outbox(
        &self,
        tenant: &TenantId,
        state: Option<&MessageState>,
        after: &str,
        limit: usize,
    ) -> Result<OutboxPage, Error> {
        self.outbox_scanning(tenant, state, after, limit, OUTBOX_SCAN)
    }

    /// [`TenantData::outbox`], reading at most `scan` messages.
    fn outbox_scanning(
        &self,
        tenant: &TenantId,
        state: Option<&MessageState>,
        after: &str,
        limit: usize,
        scan: usize,
    ) -> Result<OutboxPage, Error> {
        existing(&self.db, tenant)?;
        if limit == 0 || limit > MAX_OUTBOX_PAGE {
            return Err(Error::InvalidInput(format!("limit: 1 to {MAX_OUTBOX_PAGE}")));
        }
        if after.len() > crate::store::MAX_MESSAGE_ID_BYTES {
            return Err(Error::InvalidInput("after: not a message id".into()));
        }
        let redactor = self.secrets.redactor(tenant);
        let (mut messages, mut cursor) = (Vec::new(), after.to_string());
        // Messages and bytes read; bytes of the page as it will be sent.
        let (mut read, mut read_bytes, mut bytes) = (0, 0, 0);
        let next = loop {
            let want = limit.min(scan - read);
            let batch = self.db.outbox_list(tenant, &cursor, want)?;
            let end = batch.len() < want;
            let mut full = false;
            for mut m in batch {
                read += 1;
                read_bytes += m.body.len() + m.last_error.as_ref().map_or(0, String::len);
                let before = std::mem::replace(&mut cursor, m.id.clone());
                if state.is_none_or(|s| *s == m.state) {
                    // Scrubbed first: a redaction may be longer than what
                    // it hides, and the budget is of what is sent.
                    if let Some(r) = &redactor {
                        m.body = r.redact(&m.body).text;
                        m.last_error = m.last_error.as_deref().map(|e| r.redact(e).text);
                    }
                    let error = m.last_error.as_deref().map_or(0, json_len);
                    let size = json_len(&m.body) + error;
                    if bytes + size > OUTBOX_PAGE_BYTES && !messages.is_empty() {
                        // It starts the next page.
                        cursor = before;
                        full = true;
                        break;
                    }
                    if size > OUTBOX_PAGE_BYTES {
                        m.body = cut_to(&m.body, OUTBOX_PAGE_BYTES.saturating_sub(error + 3));
                    }
                    bytes += json_len(&m.body) + error;
                    messages.push(m);
                    full = messages.len() == limit || bytes >= OUTBOX_PAGE_BYTES;
                }
                if full || read_bytes >= OUTBOX_SCAN_BYTES {
                    break;
                }
            }
            // A full page may be followed by an empty one: never by a lost one.
            if full || read_bytes >= OUTBOX_SCAN_BYTES || (!end && read >= scan) {
                break Some(cursor);
            }
            if end {
                break None;
            }
        };
        Ok(OutboxPage { messages, next })
    }
}

#[cfg(test)]
mod tests {
    use super::TenantData;
    use crate::records::{Message, MessageState};
    use crate::{Runtime, RuntimeConfig, TenantId};

    fn message(tenant: &TenantId, id: &str, state: MessageState, body: &str) -> Message {
        Message {
            id: id.into(),
            tenant: tenant.clone(),
            skill: "notes".into(),
            contact: "ops".into(),
            url: "https://example.com/hook".into(),
            body: body.into(),
            created: 1,
            state,
            attempts: 0,
            next_attempt: 1,
            last_error: None,
        }
    }

    /// A runtime with tenants `acme` and `acme2`, and `acme`'s outbox:
    /// `m0`…`m9`, every third one dead, the others pending.
    fn outbox_fixture() -> (tempfile::TempDir, Runtime, TenantId) {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(RuntimeConfig::with_data_dir(dir.path().join("data"))).unwrap();
        let (t, other) = (TenantId::parse("acme").unwrap(), TenantId::parse("acme2").unwrap());
        rt.create_tenant("operator", &t).unwrap();
        rt.create_tenant("operator", &other).unwrap();
        for i in 0..10 {
            let state = if i % 3 == 0 { MessageState::Dead } else { MessageState::Pending };
            rt.db_for_tests().outbox_put(&message(&t, &format!("m{i}"), state, "hello")).unwrap();
        }
        rt.db_for_tests().outbox_put(&message(&other, "m99", MessageState::Dead, "other's")).unwrap();
        (dir, rt, t)
    }

    fn ids(page: &super::OutboxPage) -> Vec<&str> {
        page.messages.iter().map(|m| m.id.as_str()).collect()
    }

    #[test]
    fn outbox_pages_by_state_and_never_reach_another_tenant() {
        let (_dir, rt, t) = outbox_fixture();
        let all = rt.outbox(&t, None, "", 100).unwrap();
        assert_eq!(all.messages.len(), 10);
        assert_eq!(all.next, None);
        let dead = rt.outbox(&t, Some(&MessageState::Dead), "", 100).unwrap();
        assert_eq!(ids(&dead), ["m0", "m3", "m6", "m9"]);
        // Pages of two dead messages, then the rest, then the end.
        let first = rt.outbox(&t, Some(&MessageState::Dead), "", 2).unwrap();
        assert_eq!((ids(&first), first.next.as_deref()), (vec!["m0", "m3"], Some("m3")));
        let second = rt.outbox(&t, Some(&MessageState::Dead), "m3", 2).unwrap();
        assert_eq!(ids(&second), ["m6", "m9"]);
        let last = rt.outbox(&t, Some(&MessageState::Dead), second.next.as_deref().unwrap(), 2).unwrap();
        assert!(last.messages.is_empty() && last.next.is_none(), "{last:?}");
        assert!(rt.outbox(&t, Some(&MessageState::Delivered), "", 100).unwrap().messages.is_empty());
        // Bad bounds are refused.
        for limit in [0, super::MAX_OUTBOX_PAGE + 1] {
            assert!(matches!(rt.outbox(&t, None, "", limit), Err(crate::Error::InvalidInput(_))));
        }
        assert!(matches!(rt.outbox(&t, None, &"x".repeat(129), 10), Err(crate::Error::InvalidInput(_))));
        // An unknown tenant is not found.
        let ghost = TenantId::parse("ghost").unwrap();
        assert!(matches!(rt.outbox(&ghost, None, "", 10), Err(crate::Error::NotFound(_))));
    }

    #[test]
    fn an_outbox_page_reads_a_bounded_window_and_says_where_to_go_on() {
        let (_dir, rt, t) = outbox_fixture();
        let data: &TenantData = rt.data_for_tests();
        // Reading 4 at most: m0 (dead), m1, m2, m3 (dead).
        let page = data.outbox_scanning(&t, Some(&MessageState::Dead), "", 10, 4).unwrap();
        assert_eq!((ids(&page), page.next.as_deref()), (vec!["m0", "m3"], Some("m3")));
        // m4, m5 pending: an empty page that goes on.
        let page = data.outbox_scanning(&t, Some(&MessageState::Dead), "m3", 10, 2).unwrap();
        assert_eq!((ids(&page), page.next.as_deref()), (vec![], Some("m5")));
        let page = data.outbox_scanning(&t, Some(&MessageState::Dead), "m5", 10, 100).unwrap();
        assert_eq!((ids(&page), page.next.as_deref()), (vec!["m6", "m9"], None));
    }

    #[test]
    fn a_message_that_would_pass_the_page_budget_starts_the_next_page() {
        let (_dir, rt, t) = outbox_fixture();
        let big = "b".repeat(super::OUTBOX_PAGE_BYTES * 3 / 5);
        for id in ["n1", "n2"] {
            rt.db_for_tests().outbox_put(&message(&t, id, MessageState::Pending, &big)).unwrap();
        }
        let first = rt.outbox(&t, None, "m9", 10).unwrap();
        assert_eq!((ids(&first), first.next.as_deref()), (vec!["n1"], Some("n1")));
        let second = rt.outbox(&t, None, "n1", 10).unwrap();
        assert_eq!(ids(&second), ["n2"]);
        assert_eq!(second.messages[0].body.len(), big.len(), "whole, not cut");
    }

    #[test]
    fn a_body_is_cut_to_a_json_length() {
        assert_eq!(super::cut_to("abc", 3), "abc");
        assert_eq!(super::cut_to("abcd", 3), "abc…");
        assert_eq!(super::cut_to("a\u{1}b", 6), "a…");
    }

    #[test]
    fn json_lengths_count_escapes() {
        assert_eq!(super::json_len("abc"), 3);
        assert_eq!(super::json_len("é"), 2);
        assert_eq!(super::json_len("a\"b\\c\n"), 9);
        assert_eq!(super::json_len("\u{1}"), 6);
    }

    #[test]
    fn outbox_bodies_and_errors_are_scrubbed_of_secrets_set_later() {
        let (_dir, rt, t) = outbox_fixture();
        let mut m = message(&t, "s1", MessageState::Dead, "token sk-live-0123456789abcdef");
        m.last_error = Some("echoed sk-live-0123456789abcdef".into());
        rt.db_for_tests().outbox_put(&m).unwrap();
        rt.put_secret("operator", &t, "API_KEY", b"sk-live-0123456789abcdef").unwrap();
        let page = rt.outbox(&t, None, "m9", 10).unwrap();
        assert_eq!(ids(&page), ["s1"]);
        let text = format!("{:?}", page.messages);
        assert!(!text.contains("sk-live"), "{text}");
    }
}
