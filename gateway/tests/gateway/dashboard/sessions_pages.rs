//! An agent's Sessions pages over plain HTTP: the peers, a transcript
//! shown as text, forgetting one (with the form's CSRF token only), and
//! another tenant's sessions refused.

use super::boundary::{form_secrets, get_with_cookie, login, origin, post_form};
use crate::harness::{ADMIN_KEY, Body, Gateway, Tenant, fake_llm, tenant};
use serde_json::json;
use wasmclaw_tests::fake_llm::FAKE_KEY;

/// Tenant `id` with agent `helper`, and a session of `peer` saying `text`.
fn talked(gw: &Gateway, id: &str, peer: &str, text: &str) -> Tenant {
    let t = tenant(gw, id);
    let key = Body::Raw("application/octet-stream", FAKE_KEY.as_bytes().to_vec());
    assert_eq!(gw.req("PUT", &t.path("/secrets/LLM_KEY"), Some(&t.admin), key).status, 204);
    let spec = json!({"name": "helper", "provider": "openai", "model": "gpt-test", "skills": [],
                      "api_key_secret": "LLM_KEY"});
    gw.post(&t.path("/agents"), Some(&t.admin), spec).expect(201);
    gw.post(&t.path("/agents/helper/messages"), Some(&t.member), json!({"peer": peer, "text": text}))
        .expect(200);
    t
}

#[test]
fn a_member_reads_and_forgets_its_tenants_sessions_and_no_one_elses() {
    let config = format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\nmax_retries = 0\n",
        fake_llm().base("openai")
    );
    let gw = Gateway::start_with_config(&config);
    let hostile = "<script>alert(1)</script> hello from alice";
    let a = talked(&gw, "sess-a", "alice", hostile);
    let _b = talked(&gw, "sess-b", "bob", "bob's words");
    let cookie = login(&gw, &a.member);
    let get = |path: &str| {
        let r = get_with_cookie(&gw, path, &cookie);
        (r.status().as_u16(), r.text().unwrap())
    };

    // The Agents page links each agent to its sessions.
    let (status, agents) = get("/ui/t/sess-a/agents");
    assert_eq!(status, 200);
    assert!(agents.contains("href=\"/ui/t/sess-a/agents/helper/sessions\""), "{agents}");
    // The list: alice, and no one of sess-b.
    let (status, list) = get("/ui/t/sess-a/agents/helper/sessions");
    assert_eq!(status, 200, "{list}");
    assert!(list.contains("<a href=\"/ui/t/sess-a/agents/helper/sessions/alice\">alice</a>"), "{list}");
    assert!(!list.contains("bob"), "{list}");
    // The transcript: the words as text, never as markup.
    let (status, page) = get("/ui/t/sess-a/agents/helper/sessions/alice");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("hello from alice"), "{page}");
    assert!(!page.contains("<script>alert(1)"), "escaped: {page}");
    // Another tenant's sessions: 404, in every form.
    for path in [
        "/ui/t/sess-b/agents/helper/sessions",
        "/ui/t/sess-b/agents/helper/sessions/bob",
        "/ui/t/sess-b/agents/helper/sessions?after=a",
    ] {
        let (status, page) = get(path);
        assert_eq!(status, 404, "{path}");
        assert!(!page.contains("bob's words"), "{page}");
    }
    let (status, page) = get("/ui/t/sess-a/agents/helper/sessions/bob");
    assert_eq!((status, page.contains("no turns")), (200, true), "bob has no session in sess-a: {page}");
    assert_eq!(get("/ui/t/sess-a/agents/helper/sessions?after=%FF").0, 400);

    // Forgetting: refused without the form's token, done with it.
    let forget = "/ui/t/sess-a/agents/helper/sessions/alice/forget";
    let r = post_form(&gw, forget, &cookie, "csrf=0", &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 403);
    let turns = |t: &Tenant| {
        gw.get(&t.path("/agents/helper/sessions/alice"), Some(ADMIN_KEY)).expect(200)["turns"]
            .as_array()
            .unwrap()
            .len()
    };
    assert!(turns(&a) > 0, "still there after a refused forget");
    let (csrf, _) = form_secrets(&gw, "/ui/t/sess-a/agents/helper/sessions/alice", &cookie);
    let r = post_form(&gw, forget, &cookie, &format!("csrf={csrf}"), &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/ui/t/sess-a/agents/helper/sessions");
    assert_eq!(turns(&a), 0, "forgotten");
    // sess-b's forget route is not sess-a's to use.
    let r = post_form(
        &gw,
        "/ui/t/sess-b/agents/helper/sessions/bob/forget",
        &cookie,
        &format!("csrf={csrf}"),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(r.status().as_u16(), 404);
    let bob = gw.get("/v1/tenants/sess-b/agents/helper/sessions/bob", Some(ADMIN_KEY)).expect(200);
    assert!(!bob["turns"].as_array().unwrap().is_empty(), "bob's session stays: {bob}");
}
