//! The contract of agents: the redb and PostgreSQL backends alike.

use crate::records::AgentSpec;
use crate::records::Turn;
use crate::store::backend::names::*;
use crate::store::testing::t;
use crate::store::*;

fn agent(name: &str) -> AgentSpec {
    serde_json::from_value(serde_json::json!({"name": name, "provider": "p", "model": "m"})).unwrap()
}

fn peer(p: &str) -> UserId {
    UserId::parse(p).unwrap()
}

super::contract! {
    fn sessions_are_listed_per_agent_in_peer_order_and_paged(db: &Db) {
        let (a, ab) = (t("a"), t("ab"));
        for (tenant, name) in [(&a, "helper"), (&a, "helper2"), (&ab, "helper")] {
            assert!(db.agent_put(tenant, &agent(name), true).unwrap());
        }
        let s = |n: u64| Session { turns: vec![Turn::User { text: "hi".into() }], updated: n };
        for (i, p) in ["carol", "alice", "bob"].iter().enumerate() {
            assert!(db.session_save(&a, "helper", &peer(p), &s(i as u64), &[]).unwrap());
        }
        // Another agent whose name the first's is a prefix of, and another
        // tenant whose id the first's is: neither is listed.
        assert!(db.session_save(&a, "helper2", &peer("dave"), &s(9), &[]).unwrap());
        assert!(db.session_save(&ab, "helper", &peer("eve"), &s(9), &[]).unwrap());
        let peers = |after: &str, n| {
            db.sessions(&a, "helper", after, n).unwrap().into_iter().map(|(p, _)| p.as_str().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(peers("", 10), ["alice", "bob", "carol"]);
        assert_eq!(peers("", 2), ["alice", "bob"]);
        assert_eq!(peers("bob", 10), ["carol"]);
        assert!(peers("carol", 10).is_empty());
        assert!(peers("\u{10ffff}", 10).is_empty());
        assert_eq!(db.sessions(&a, "helper", "", 10).unwrap()[0].1, s(1));
        assert!(db.sessions(&a, "nobody", "", 10).unwrap().is_empty());
        assert!(db.sessions(&a, "helper", "", 0).unwrap().is_empty());
    }

    fn sessions_are_per_tenant_agent_and_peer_and_go_with_their_agent(db: &Db) {
        let (a, ab) = (t("a"), t("ab"));
        assert!(db.agent_put(&a, &agent("helper"), true).unwrap());
        assert!(!db.agent_put(&a, &agent("helper"), true).unwrap(), "a second create is refused");
        assert!(db.agent_put(&ab, &agent("helper"), true).unwrap());
        let s = Session { turns: vec![Turn::User { text: "hi".into() }], updated: 1 };
        let u =
            [("m".to_string(), "2026-11-25".to_string(), LlmUsage { input_tokens: 5, ..Default::default() })];
        assert!(db.session_save(&a, "helper", &peer("alice"), &s, &u).unwrap());
        assert!(db.session(&a, "helper", &peer("bob")).unwrap().is_none());
        assert!(db.session(&ab, "helper", &peer("alice")).unwrap().is_none());
        assert_eq!(db.session(&a, "helper", &peer("alice")).unwrap(), Some(s.clone()));
        assert!(
            !db.session_save(&a, "gone", &peer("alice"), &s, &u).unwrap(),
            "no session for a missing agent"
        );
        assert_eq!(db.llm_usage(&a, "2026-11-01").unwrap()[0].usage.input_tokens, 5);
        assert!(db.llm_usage(&a, "2026-11-26").unwrap().is_empty());
        assert!(db.llm_usage(&ab, "").unwrap().is_empty());
        assert!(db.agent_remove(&a, "helper").unwrap());
        assert!(db.session(&a, "helper", &peer("alice")).unwrap().is_none());
        assert_eq!(db.agents(&ab).unwrap().len(), 1, "the other tenant's agent stays");
        assert_eq!(db.llm_usage(&a, "").unwrap().len(), 1, "usage is billing: it stays");
    }

    fn deleting_a_tenant_takes_its_agents_sessions_usage_and_channels_and_nothing_else(db: &Db) {
        let (a, ab) = (t("a"), t("ab"));
        let s = Session { turns: vec![Turn::User { text: "hi".into() }], updated: 1 };
        let u = [("m".to_string(), "2026-11-25".to_string(), LlmUsage { turns: 1, ..Default::default() })];
        let channel: crate::records::ChannelSpec = serde_json::from_value(serde_json::json!(
            {"name": "tg", "kind": "webhook", "agent": "helper", "secret": "K"}
        ))
        .unwrap();
        for x in [&a, &ab] {
            db.tenant_create(&crate::records::Tenant { id: x.clone(), created: 1, suspended: false })
                .unwrap();
            db.agent_put(x, &agent("helper"), true).unwrap();
            db.session_save(x, "helper", &peer("alice"), &s, &u).unwrap();
            db.channel_add(x, &channel).unwrap();
        }
        assert!(db.tenant_delete(&a).unwrap());
        assert!(db.agents(&a).unwrap().is_empty() && db.channels(&a).unwrap().is_empty());
        assert!(db.session(&a, "helper", &peer("alice")).unwrap().is_none());
        assert!(db.llm_usage(&a, "").unwrap().is_empty());
        assert_eq!(db.agents(&ab).unwrap().len(), 1);
        assert_eq!(db.channels(&ab).unwrap().len(), 1);
        assert!(db.session(&ab, "helper", &peer("alice")).unwrap().is_some());
        assert_eq!(db.llm_usage(&ab, "").unwrap().len(), 1);
    }
}
