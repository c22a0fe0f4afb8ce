//! Every HTTP route that takes a body, through the gateway's real router
//! (middleware, extractors, handlers, runtime) in process: the first byte
//! picks the route, the rest is the body.
//!
//! The fixture is one tenant `fz` with an agent `a` (on a provider at a
//! closed local port), a Telegram channel `tg` and a signed-webhook channel
//! `wh`; inbound webhook bodies are signed with the channel's key, so the
//! body parser behind the signature is reached too.
//!
//! Properties: no body makes the gateway answer 5xx (a panic is a 500 by
//! the panic guard), except `502 provider` where a turn reached the
//! provider; every error has the one shape `{"error":{"code","message"}}`.

#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tower::ServiceExt;
use wasmclaw::records::{ChannelKind, ChannelSpec};
use wasmclaw::{Runtime, RuntimeConfig, TenantId};
use wasmclaw_gateway::Gateway;

const ADMIN_KEY: &str = "wca_0123456789abcdef0123456789abcdef";
const WEBHOOK_KEY: &[u8] = b"fuzz-webhook-key";

/// (method, path, content type, what is special about it)
const ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/tenants", "application/json"),
    ("POST", "/v1/tenants/fz/tokens", "application/json"),
    ("POST", "/v1/tenants/fz/tokens/000000000000/rotate", "application/json"),
    ("PUT", "/v1/tenants/fz/policy", "application/json"),
    ("PUT", "/v1/tenants/fz/policy", "application/toml"),
    ("POST", "/v1/tenants/fz/skills", "application/json"),
    ("POST", "/v1/tenants/fz/skills/nope/invoke", "application/json"),
    ("POST", "/v1/tenants/fz/agents", "application/json"),
    ("PUT", "/v1/tenants/fz/agents/a", "application/json"),
    ("POST", "/v1/tenants/fz/agents/a/messages", "application/json"),
    ("POST", "/v1/tenants/fz/channels", "application/json"),
    ("PUT", "/v1/tenants/fz/secrets/FUZZ", "application/octet-stream"),
    ("POST", "/v1/trust", "application/json"),
    ("POST", "/v1/inbound/fz/tg", "application/json"),
    ("POST", "/v1/inbound/fz/wh", "application/json"),
    ("POST", "/v1/tenants", "text/plain"),
];

struct Fixture {
    tokio: tokio::runtime::Runtime,
    gw: Gateway,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap().keep();
        let mut config = RuntimeConfig::with_data_dir(dir.join("data"));
        config.pool.max_instances = 8;
        config.channels.telegram_api_base = "http://127.0.0.1:9".into();
        config.providers.insert(
            "p".into(),
            serde_json::from_value(serde_json::json!({
                "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "timeout_secs": 2, "max_retries": 0
            }))
            .unwrap(),
        );
        let _enter = tokio.enter();
        let rt = Runtime::new(config).unwrap();
        rt.ensure_admin_key(Some(ADMIN_KEY)).unwrap();
        let t = TenantId::parse("fz").unwrap();
        rt.create_tenant("fuzz", &t).unwrap();
        for (name, value) in
            [("KEY", &b"sk-fuzz"[..]), ("TG", b"tg-secret"), ("BOT", b"123:bot"), ("WH", WEBHOOK_KEY)]
        {
            rt.put_secret("fuzz", &t, name, value).unwrap();
        }
        let agent = serde_json::from_value(serde_json::json!({
            "name": "a", "provider": "p", "model": "m", "api_key_secret": "KEY"
        }))
        .unwrap();
        rt.agent_put("fuzz", &t, &agent, true).unwrap();
        for (name, kind, secret, bot) in [
            ("tg", ChannelKind::Telegram, "TG", Some("BOT".to_string())),
            ("wh", ChannelKind::Webhook, "WH", None),
        ] {
            let spec = ChannelSpec {
                name: name.into(),
                kind,
                agent: "a".into(),
                secret: secret.into(),
                bot_token_secret: bot,
            };
            rt.channel_add("fuzz", &t, &spec).unwrap();
        }
        Fixture { tokio, gw: Gateway::new(rt) }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let (method, path, ctype) = ROUTES[usize::from(pick) % ROUTES.len()];
    let f = fixture();
    let mut req = Request::builder().method(method).uri(path).header("content-type", ctype);
    if path.starts_with("/v1/inbound/fz/tg") {
        req = req.header("x-telegram-bot-api-secret-token", "tg-secret");
    } else if path.starts_with("/v1/inbound/fz/wh") {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        req = req
            .header("x-wasmclaw-timestamp", now.to_string())
            .header("x-wasmclaw-signature", wasmclaw::messaging::sign(WEBHOOK_KEY, now, body));
    } else {
        req = req.header("authorization", format!("Bearer {ADMIN_KEY}"));
    }
    let req = req.body(Body::from(body.to_vec())).unwrap();
    let app = wasmclaw_gateway::server::app(f.gw.clone());
    let (status, bytes) = f.tokio.block_on(async {
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        (status, axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap())
    });
    if status.is_success() {
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{method} {path}: {status} with a body that is not JSON: {bytes:?}"));
    let code = v["error"]["code"].as_str().unwrap_or_else(|| panic!("{method} {path}: {status} {v}"));
    assert!(v["error"]["message"].is_string(), "{method} {path}: {status} {v}");
    let provider = status == StatusCode::BAD_GATEWAY
        && code == "provider"
        && (path.contains("/messages") || path.starts_with("/v1/inbound/"));
    assert!(!status.is_server_error() || provider, "{method} {path}: {status} {v}\nbody: {body:?}");
});
