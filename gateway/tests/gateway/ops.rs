//! What the operator's tooling reads: `/healthz`, `/readyz`,
//! `/openapi.json`, `/metrics`; and the start-up contract of `serve` (the
//! listening line, the admin key shown once when generated).

use crate::harness::{ADMIN_KEY, Gateway, install, output, shared, tenant};
use serde_json::{Value, json};

#[test]
fn health_and_readiness_answer_anyone() {
    let gw = shared();
    let r = gw.get("/healthz", None);
    assert_eq!(r.expect(200), json!({"status": "ok"}));
    assert!(r.content_type.as_deref().is_some_and(|c| c.starts_with("application/json")), "{r:?}");
    assert_eq!(gw.get("/readyz", None).expect(200), json!({"status": "ready"}));
    // A credential, even a bad one, changes nothing.
    assert_eq!(gw.get("/healthz", Some("garbage")).expect(200), json!({"status": "ok"}));
}

/// Every route of docs/api.md: method and path, `{}` for a parameter.
fn documented_routes() -> Vec<(&'static str, String)> {
    let mut v: Vec<(&str, String)> = vec![
        ("get", "/healthz".into()),
        ("get", "/readyz".into()),
        ("get", "/openapi.json".into()),
        ("get", "/metrics".into()),
        ("post", "/v1/tenants".into()),
        ("get", "/v1/tenants".into()),
        ("get", "/v1/tenants/{}".into()),
        ("get", "/v1/tenants/{}/summary".into()),
        ("get", "/v1/summary".into()),
        ("delete", "/v1/tenants/{}".into()),
        ("post", "/v1/tenants/{}/suspend".into()),
        ("post", "/v1/tenants/{}/resume".into()),
        ("get", "/v1/usage".into()),
        ("get", "/v1/audit".into()),
        ("get", "/v1/security/audit".into()),
        ("get", "/v1/config".into()),
        ("get", "/v1/cluster".into()),
        ("get", "/v1/trust/{}/skills".into()),
        ("post", "/v1/inbound/{}/{}".into()),
        ("get", "/v1/backup".into()),
        ("post", "/v1/restore".into()),
    ];
    let tenant_routes = [
        ("post", "/tokens"),
        ("get", "/tokens"),
        ("post", "/tokens/{}/rotate"),
        ("delete", "/tokens/{}"),
        ("get", "/policy"),
        ("put", "/policy"),
        ("post", "/skills"),
        ("get", "/skills"),
        ("delete", "/skills/{}"),
        ("post", "/skills/{}/invoke"),
        ("post", "/agents"),
        ("get", "/agents"),
        ("get", "/agents/{}"),
        ("put", "/agents/{}"),
        ("delete", "/agents/{}"),
        ("post", "/agents/{}/messages"),
        ("get", "/agents/{}/sessions"),
        ("get", "/agents/{}/sessions/{}"),
        ("delete", "/agents/{}/sessions/{}"),
        ("post", "/channels"),
        ("get", "/channels"),
        ("delete", "/channels/{}"),
        ("put", "/secrets/{}"),
        ("get", "/secrets"),
        ("get", "/memory"),
        ("delete", "/memory/{}"),
        ("get", "/cron"),
        ("delete", "/cron/{}"),
        ("get", "/contacts"),
        ("get", "/outbox"),
        ("get", "/usage"),
        ("get", "/audit"),
    ];
    for (m, rest) in tenant_routes {
        v.push((m, format!("/v1/tenants/{{}}{rest}")));
        v.push((m, format!("/v1{rest}")));
    }
    v
}

/// `/a/{name}/b` → `/a/{}/b`.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn openapi_lists_every_documented_route() {
    let gw = shared();
    let r = gw.get("/openapi.json", None);
    let doc = r.expect(200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "OpenAPI 3.1: {}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string(), "info: {}", doc["info"]);
    let paths = doc["paths"].as_object().expect("paths");
    let normalized: std::collections::HashMap<String, &Value> =
        paths.iter().map(|(p, item)| (normalize(p), item)).collect();
    let mut missing = Vec::new();
    for (method, path) in documented_routes() {
        if normalized.get(&path).is_none_or(|item| item.get(method).is_none()) {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(missing.is_empty(), "routes of docs/api.md missing from /openapi.json: {missing:#?}");
    // Nothing documented there that does not answer: every listed path is a route.
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                let p = normalize(path).replace("{}", "x");
                let r = gw.req(&method.to_uppercase(), &p, None, crate::harness::Body::None);
                // Without a credential a /v1 route answers 401 before looking anything up.
                assert!(![404, 405].contains(&r.status), "{method} {path} is listed but not routed: {r:?}");
            }
        }
    }
}

#[test]
fn metrics_are_for_the_operator_and_count_calls_per_tenant() {
    let gw = shared();
    let t = tenant(gw, "a");
    install(gw, "a", ADMIN_KEY, "echo", true);
    for i in 0..3 {
        output(gw, &t.member, "echo", &json!({"i": i}));
    }
    for tok in [&t.admin, &t.member, &t.guest] {
        gw.get("/metrics", Some(tok)).expect_error(403, "forbidden");
    }
    gw.get("/metrics", None).expect_error(401, "unauthorized");

    let r = gw.get("/metrics", Some(ADMIN_KEY));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.content_type.as_deref().is_some_and(|c| c.starts_with("text/plain")), "Prometheus text: {r:?}");
    // A series of calls labelled tenant="a": tenant a made exactly 3 calls
    // (only this test uses it), so its call counters add up to 3.
    let series: Vec<&str> = r
        .text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("tenant=\"a\""))
        .filter(|l| {
            l.split(['{', ' ']).next().is_some_and(|name| name.contains("calls") && !name.contains("error"))
        })
        .collect();
    assert!(!series.is_empty(), "no call series with tenant=\"a\":\n{}", r.text);
    let total: f64 = series.iter().filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();
    assert_eq!(total, 3.0, "3 calls counted for tenant a: {series:#?}");
    // Each line is a comment or `name{labels} value`.
    for line in r.text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "bad line {line:?}"
        );
    }
}

#[test]
fn security_audit_lists_findings_for_the_operator() {
    let gw = shared();
    let v = gw.get("/v1/security/audit", Some(ADMIN_KEY)).expect(200);
    let findings = v["findings"].as_array().unwrap_or_else(|| panic!("findings: {v}"));
    for f in findings {
        assert!(["critical", "warning", "info"].contains(&f["severity"].as_str().unwrap_or("")), "{f}");
        assert!(f["code"].as_str().is_some_and(|c| !c.is_empty()), "{f}");
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()), "{f}");
        // A finding about a tenant names it.
        if let Some(t) = f["tenant"].as_str() {
            assert!(f["message"].as_str().unwrap().contains(&format!("tenant {t}")), "{f}");
        }
    }
    assert!(!v.to_string().contains(&ADMIN_KEY[4..]), "no key in the findings");
}

#[test]
fn a_generated_admin_key_is_shown_once_and_kept() {
    let mut gw = Gateway::start_with_key(None);
    let line = gw.preamble.iter().find(|l| l.starts_with("admin key (shown once): ")).cloned();
    let key = line
        .as_deref()
        .and_then(|l| l.strip_prefix("admin key (shown once): "))
        .unwrap_or_else(|| panic!("no admin key line before the listening line: {:?}", gw.preamble))
        .trim()
        .to_string();
    assert!(key.starts_with("wca_") && key.len() == 36, "{key}");
    gw.get("/v1/tenants", Some(&key)).expect(200);
    gw.get("/v1/tenants", Some(ADMIN_KEY)).expect_error(401, "unauthorized");
    assert!(!gw.log_text().contains(&key[4..]), "the key is not in the log");

    gw.restart();
    assert!(
        !gw.preamble.iter().any(|l| l.contains("wca_")),
        "a stored key is never shown again: {:?}",
        gw.preamble
    );
    gw.get("/v1/tenants", Some(&key)).expect(200);
}

#[test]
fn a_given_admin_key_is_not_printed() {
    let gw = shared();
    assert!(gw.preamble.iter().all(|l| !l.contains("wca_")), "{:?}", gw.preamble);
    assert!(!gw.log_text().contains(&ADMIN_KEY[4..]), "the admin key is not logged");
}

#[test]
fn a_single_gateway_says_it_is_not_a_cluster_to_the_operator_only() {
    let gw = shared();
    let v = gw.get("/v1/cluster", Some(crate::harness::ADMIN_KEY)).expect(200);
    assert_eq!(v, json!({"clustered": false}));
    let t = crate::harness::tenant(gw, "cluster-peek");
    gw.get("/v1/cluster", Some(&t.admin)).expect_error(403, "forbidden");
    gw.get("/v1/cluster", None).expect_error(401, "unauthorized");
}

#[test]
fn the_audit_log_filters_by_action_and_outcome_and_pages_within_the_callers_tenant() {
    let gw = Gateway::start();
    let a = tenant(&gw, "audit-a");
    let b = tenant(&gw, "audit-b");
    for t in [&a, &b] {
        for _ in 0..3 {
            gw.post(&t.path("/tokens"), Some(&t.admin), json!({ "role": "member" })).expect(201);
        }
    }
    // A member's try at the tokens: refused, audited as denied.
    gw.get("/v1/tokens", Some(&a.member)).expect_error(403, "forbidden");
    let events = |path: &str, cred: &str| -> Vec<Value> {
        gw.get(path, Some(cred)).expect(200)["events"].as_array().unwrap().clone()
    };
    let mints = events("/v1/audit?action=token.mint", &a.admin);
    assert_eq!(mints.len(), 6, "three minted by the fixture, three here: {mints:?}");
    assert!(mints.iter().all(|e| e["action"] == "token.mint" && e["tenant"] == "audit-a"), "{mints:?}");
    let all_tokens = events("/v1/audit?action=token.*", ADMIN_KEY);
    assert!(
        all_tokens.iter().any(|e| e["tenant"] == "audit-b")
            && all_tokens.iter().all(|e| e["action"].as_str().unwrap().starts_with("token."))
    );
    let denied = events("/v1/audit?outcome=role-denied", &a.admin);
    assert!(
        !denied.is_empty()
            && denied.iter().all(|e| e["outcome"] == "role-denied" && e["tenant"] == "audit-a"),
        "{denied:?}"
    );
    // Pages of two, the latest first, through the CLI too.
    let page = |skip: usize| events(&format!("/v1/audit?action=token.mint&limit=2&skip={skip}"), &a.admin);
    let (p0, p1, p2, p3) = (page(0), page(2), page(4), page(6));
    assert_eq!((p0.len(), p1.len(), p2.len(), p3.len()), (2, 2, 2, 0));
    let targets: Vec<&Value> = p2.iter().chain(&p1).chain(&p0).map(|e| &e["target"]).collect();
    assert_eq!(
        targets,
        mints.iter().map(|e| &e["target"]).collect::<Vec<_>>(),
        "the pages cover the listing once"
    );
    let out = gw.cli(
        &["audit", "--action", "token.*", "--outcome", "ok", "--limit", "2", "--skip", "1", "--json"],
        &[("WASMCLAW_TOKEN", b.admin.as_str())],
        None,
    );
    let v = out.json();
    let cli_events = v["events"].as_array().unwrap();
    assert_eq!(cli_events.len(), 2);
    assert!(cli_events.iter().all(|e| e["tenant"] == "audit-b"), "{v}");
}

#[test]
fn the_operator_reads_the_effective_configuration_without_credentials() {
    // A provider and a public URL whose credentials must not leave.
    let config = "[providers.llm]\nkind = \"openai\"\n\
                  base_url = \"https://bot:pr0vider-pass@llm.example.com/v1?api_key=k3y-in-url&region=eu\"\n\
                  [dashboard]\npublic_url = \"https://dash.example.com\"\n\
                  [audit]\nkeep = 3\n";
    let gw = Gateway::start_with_config(config);
    let v = gw.get("/v1/config", Some(ADMIN_KEY)).expect(200);
    let text = v.to_string();
    for secret in ["pr0vider-pass", "k3y-in-url", "bot:"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(v["config"]["audit"]["keep"], 3, "{v}");
    assert_eq!(v["config"]["store"], "redb");
    // As configured (the harness's `--listen 127.0.0.1:0`), not as bound.
    assert_eq!(v["config"]["listen"], "127.0.0.1:0");
    let base_url = v["config"]["providers"]["llm"]["base_url"].as_str().unwrap();
    assert!(base_url.starts_with("https://***:***@llm.example.com/v1?"), "{v}");
    // Denied: a tenant's admin reads no gateway configuration.
    let t = tenant(&gw, "config-reader");
    gw.get("/v1/config", Some(&t.admin)).expect_error(403, "forbidden");
    gw.get("/v1/config", None).expect_error(401, "unauthorized");

    let out = gw.cli(&["config", "show"], &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)], None);
    let text = out.ok();
    assert!(text.lines().any(|l| l == "audit.keep = 3"), "{text}");
    assert!(!text.contains("pr0vider-pass") && !text.contains("k3y-in-url"), "{text}");
    let denied = gw.cli(&["config", "show"], &[("WASMCLAW_TOKEN", &t.admin)], None);
    assert_eq!(denied.code, Some(19), "forbidden: {}", denied.stderr);
}
