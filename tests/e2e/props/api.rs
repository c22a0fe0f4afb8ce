//! The HTTP API's bodies, through the gateway's real router.

use super::*;

const ADMIN_KEY: &str = "wca_0123456789abcdef0123456789abcdef";

/// (method, path, content type) of every route with a body, on tenant `pt`.
const BODY_ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/tenants", "application/json"),
    ("POST", "/v1/tenants/pt/tokens", "application/json"),
    ("POST", "/v1/tenants/pt/tokens/000000000000/rotate", "application/json"),
    ("PUT", "/v1/tenants/pt/policy", "application/json"),
    ("PUT", "/v1/tenants/pt/policy", "application/toml"),
    ("POST", "/v1/tenants/pt/skills", "application/json"),
    ("POST", "/v1/tenants/pt/skills/nope/invoke", "application/json"),
    ("POST", "/v1/tenants/pt/agents", "application/json"),
    ("PUT", "/v1/tenants/pt/agents/a", "application/json"),
    ("POST", "/v1/tenants/pt/agents/a/messages", "application/json"),
    ("POST", "/v1/tenants/pt/channels", "application/json"),
    ("PUT", "/v1/tenants/pt/secrets/PROP", "application/octet-stream"),
    ("POST", "/v1/trust", "application/json"),
    ("POST", "/v1/inbound/pt/none", "application/json"),
    ("POST", "/v1/tenants", "text/plain"),
];

const API_KEYS: &[&str] = &[
    "id",
    "role",
    "name",
    "grace_secs",
    "package",
    "component",
    "manifest",
    "guest",
    "accept_permissions",
    "allow_downgrade",
    "provider",
    "model",
    "system_prompt",
    "skills",
    "max_steps",
    "max_tool_calls_per_reply",
    "max_tool_calls_per_turn",
    "max_tokens",
    "history_tokens",
    "api_key_secret",
    "peer",
    "text",
    "kind",
    "agent",
    "secret",
    "bot_token_secret",
    "key",
    "limits",
    "http",
    "origin",
    "secrets",
    "contacts",
    "messaging",
    "cron",
    "admin",
    "member",
    "telegram",
    "webhook",
    "a",
    "pt",
];

/// Any JSON, any bytes and every route with a body: the gateway answers
/// with a success or a 4xx of the one error shape, never a 5xx.
#[test]
fn api_bodies_of_any_shape_get_a_typed_4xx_never_a_5xx() {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (_dir, rt) = wasmclaw_tests::runtime();
    rt.ensure_admin_key(Some(ADMIN_KEY)).unwrap();
    rt.create_tenant("test", &tenant("pt")).unwrap();
    let gw = wasmclaw_gateway::Gateway::new(rt);
    let body = prop_oneof![
        json_value(API_KEYS).prop_map(|v| v.to_string().into_bytes()),
        json_value(API_KEYS).prop_map(|v| {
            // Truncated JSON.
            let s = v.to_string();
            s.as_bytes()[..s.len() / 2].to_vec()
        }),
        prop::collection::vec(any::<u8>(), 0..64),
    ];
    let strategy = (any::<prop::sample::Index>(), body);
    proptest::test_runner::TestRunner::new(config(256))
        .run(&strategy, |(route, body)| {
            let (method, path, ctype) = BODY_ROUTES[route.index(BODY_ROUTES.len())];
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("content-type", ctype)
                .header("authorization", format!("Bearer {ADMIN_KEY}"))
                .body(Body::from(body.clone()))
                .unwrap();
            let app = wasmclaw_gateway::server::app(gw.clone());
            let (status, bytes) = tokio.block_on(async {
                let resp = app.oneshot(req).await.unwrap();
                let status = resp.status();
                (status, axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap())
            });
            let shown = String::from_utf8_lossy(&body);
            prop_assert!(!status.is_server_error(), "{} {}: {} for {:?}", method, path, status, shown);
            if !status.is_success() {
                let v: Value = serde_json::from_slice(&bytes)
                    .map_err(|_| TestCaseError::fail(format!("{method} {path}: {status}: not JSON")))?;
                prop_assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{}", v);
            }
            Ok(())
        })
        .unwrap();
}
