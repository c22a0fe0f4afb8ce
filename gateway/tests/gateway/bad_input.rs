//! Bad input, table-driven: malformed and mistyped bodies, hostile ids in
//! paths (traversal, NUL, over-long), unknown routes, wrong methods, bodies
//! over the limits, and missing, garbage or wrong-class credentials. Every
//! request is sent raw (nothing normalizes the path or the headers), and
//! each must get exactly its status and code, never a 5xx, and an error
//! body of the one documented shape.

use crate::harness::{ADMIN_KEY, RawBody, error_shape, install, raw, shared, skill_names, tenant, token_ids};
use serde_json::json;

/// One request and the error it must get.
struct Case {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: RawBody,
    status: u16,
    code: &'static str,
}

/// A request with no credential or body yet.
fn case(method: &'static str, path: impl Into<String>, status: u16, code: &'static str) -> Case {
    Case { method, path: path.into(), headers: Vec::new(), body: RawBody::Empty, status, code }
}

impl Case {
    /// With `Authorization: Bearer <cred>`.
    fn bearer(self, cred: &str) -> Case {
        self.authorization(format!("Bearer {cred}").into_bytes())
    }

    /// With this exact `Authorization` value.
    fn authorization(mut self, value: Vec<u8>) -> Case {
        self.headers.push(("authorization", value));
        self
    }

    /// With a header.
    fn header(mut self, name: &'static str, value: &[u8]) -> Case {
        self.headers.push((name, value.to_vec()));
        self
    }

    /// With a JSON body (any text: it may be malformed on purpose).
    fn json(self, text: &str) -> Case {
        self.body("application/json", text.as_bytes())
    }

    /// With a body of this content type.
    fn body(mut self, content_type: &'static str, bytes: &[u8]) -> Case {
        self.headers.push(("content-type", content_type.as_bytes().to_vec()));
        self.body = RawBody::Bytes(bytes.to_vec());
        self
    }

    /// With a body of `len` bytes: `prefix`, then `filler` repeated.
    fn huge(mut self, content_type: &'static str, prefix: &str, filler: u8, len: usize) -> Case {
        self.headers.push(("content-type", content_type.as_bytes().to_vec()));
        self.body = RawBody::Huge { prefix: prefix.as_bytes().to_vec(), filler, len };
        self
    }
}

const MIB: usize = 1024 * 1024;

#[test]
fn bad_requests_get_exact_4xx_errors_of_one_shape_and_never_5xx() {
    let gw = shared();
    let t = tenant(gw, "bad");
    tenant(gw, "bad-other");
    install(gw, &t.id, ADMIN_KEY, "echo", true);
    let tokens_before = token_ids(&gw.get(&t.path("/tokens"), Some(ADMIN_KEY)).expect(200));
    let policy_before = gw.get(&t.path("/policy"), Some(ADMIN_KEY)).expect(200);
    let member_id = t.member.split('_').nth(2).unwrap().to_string();
    let member_secret = t.member.rsplit('_').next().unwrap().to_string();
    let admin_hex = ADMIN_KEY.strip_prefix("wca_").unwrap();
    let mut tampered = t.member.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let (op, admin, member) = (ADMIN_KEY, t.admin.as_str(), t.member.as_str());
    let long = "a".repeat(64);

    let mut cases = vec![
        // Malformed JSON and wrong types.
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{"id":"#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(""),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{"id":7}"#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{"id":["bad-x"]}"#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#""bad-x""#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{}"#),
        case("POST", "/v1/tenants", 415, "unsupported-media-type")
            .bearer(op)
            .body("text/plain", br#"{"id":"bad-plain"}"#),
        // Bad ids in bodies.
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{"id":"Bad_Id"}"#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{"id":"../../etc"}"#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{"id":"bad\u0000x"}"#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(&format!(r#"{{"id":"{long}"}}"#)),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"{"id":""}"#),
        case("POST", "/v1/tokens", 400, "invalid-input").bearer(admin).json(r#"{"role":"root"}"#),
        case("POST", "/v1/tokens", 400, "invalid-input").bearer(admin).json(r#"{"role":1}"#),
        case("POST", "/v1/tokens", 400, "invalid-input").bearer(admin).json(r#"{"role":null}"#),
        case("POST", t.path("/tokens"), 400, "invalid-input").bearer(op).json(r#"{"name":"no role"}"#),
        case("POST", format!("/v1/tokens/{member_id}/rotate"), 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"grace_secs":"soon"}"#),
        case("POST", format!("/v1/tokens/{member_id}/rotate"), 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"grace_secs":-5}"#),
        case("POST", format!("/v1/tokens/{member_id}/rotate"), 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"grace_secs":1.5}"#),
        case("POST", format!("/v1/tokens/{member_id}/rotate"), 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"grace_secs":99999999999}"#),
        case("POST", "/v1/skills", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"component":"not base64!!"}"#),
        case("POST", "/v1/skills", 400, "invalid-input").bearer(admin).json(r#"{"component":123}"#),
        case("POST", "/v1/skills", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"component":"AAAA","guest":"yes"}"#),
        case("POST", "/v1/skills", 400, "invalid-input").bearer(admin).json(r#"{"guest":true}"#),
        case("POST", "/v1/skills", 403, "untrusted").bearer(admin).json(r#"{"component":"AGFzbQEAAAA="}"#),
        case("POST", "/v1/skills", 400, "invalid-input").bearer(admin).json(r#"{"package":"not base64!!"}"#),
        case("POST", "/v1/skills", 422, "invalid-skill").bearer(admin).json(r#"{"package":"AGFzbQEAAAA="}"#),
        case("POST", "/v1/skills", 422, "invalid-skill").bearer(admin).json(r#"{"package":"AHdjcGtnMQo="}"#),
        case("POST", "/v1/skills", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"package":"AAAA","accept_permissions":"yes"}"#),
        case("PUT", "/v1/policy", 400, "invalid-input").bearer(admin).json("{"),
        case("PUT", "/v1/policy", 400, "invalid-input").bearer(admin).json(r#"{"limits":{"fuel":"lots"}}"#),
        case("PUT", "/v1/policy", 400, "invalid-input").bearer(admin).json("[1]"),
        case("PUT", "/v1/policy", 400, "invalid-input").bearer(admin).body("application/toml", b"[limits\n"),
        case("PUT", "/v1/policy", 415, "unsupported-media-type")
            .bearer(admin)
            .body("text/plain", b"[limits]\nfuel = 5\n"),
        // Agents and channels (this gateway configures no provider).
        case("POST", "/v1/agents", 400, "invalid-input").bearer(admin).json("{"),
        case("POST", "/v1/agents", 400, "invalid-input").bearer(admin).json(r#"{"name":"a"}"#),
        // serde would fill a struct from an array: a body must be an object.
        case("POST", "/v1/agents", 400, "invalid-input").bearer(admin).json(r#"["a","","p","m"]"#),
        case("POST", "/v1/tenants", 400, "invalid-input").bearer(op).json(r#"["bad-x"]"#),
        case("POST", "/v1/agents", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"name":"a","provider":"p","model":"m","tools":[]}"#),
        case("POST", "/v1/agents", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"name":"../x","provider":"p","model":"m"}"#),
        case("POST", "/v1/agents", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"name":"a","provider":"p","model":"m","max_steps":"many"}"#),
        case("POST", "/v1/agents", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"name":"a","provider":"nowhere","model":"m"}"#),
        case("POST", "/v1/agents", 403, "forbidden")
            .bearer(member)
            .json(r#"{"name":"a","provider":"p","model":"m"}"#),
        case("PUT", "/v1/agents/a", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"name":"b","provider":"p","model":"m"}"#),
        case("GET", "/v1/agents/nope", 404, "not-found").bearer(member),
        case("DELETE", "/v1/agents/nope", 404, "not-found").bearer(admin),
        case("POST", "/v1/agents/nope/messages", 404, "not-found")
            .bearer(member)
            .json(r#"{"peer":"a","text":"hi"}"#),
        case("POST", "/v1/agents/nope/messages", 400, "invalid-input")
            .bearer(member)
            .json(r#"{"peer":"a b","text":"x"}"#),
        case("POST", "/v1/agents/nope/messages", 400, "invalid-input").bearer(member).json(r#"{"text":"x"}"#),
        case("POST", "/v1/agents/nope/messages", 400, "invalid-input")
            .bearer(member)
            .json(r#"{"peer":"a","text":5}"#),
        case("POST", "/v1/agents/nope/messages", 403, "forbidden")
            .bearer(&t.guest)
            .json(r#"{"peer":"a","text":"x"}"#),
        case("GET", "/v1/agents/nope/sessions/a%20b", 400, "invalid-input").bearer(member),
        case("POST", "/v1/channels", 400, "invalid-input")
            .bearer(admin)
            .json(r#"{"name":"x","kind":"sms","agent":"a","secret":"S"}"#),
        case("POST", "/v1/channels", 400, "invalid-input").bearer(admin).json(r#"{"name":"x"}"#),
        case("POST", "/v1/channels", 404, "not-found")
            .bearer(admin)
            .json(r#"{"name":"x","kind":"webhook","agent":"nope","secret":"S"}"#),
        case("POST", "/v1/channels", 403, "forbidden")
            .bearer(member)
            .json(r#"{"name":"x","kind":"webhook","agent":"a","secret":"S"}"#),
        case("DELETE", "/v1/channels/nope", 404, "not-found").bearer(admin),
        case("POST", "/v1/inbound/bad-x/nope", 401, "unauthorized").json(r#"{"sender":"a","text":"x"}"#),
        case("POST", format!("/v1/inbound/{}/nope", t.id), 401, "unauthorized")
            .header("x-telegram-bot-api-secret-token", b"guess")
            .json(r#"{"update_id":1}"#),
        case("POST", "/v1/inbound/..%2F..%2Fx/y", 401, "unauthorized")
            .header("x-wasmclaw-timestamp", b"1")
            .header("x-wasmclaw-signature", b"v1=00")
            .json("{}"),
        case("GET", "/v1/inbound/a/b", 405, "method-not-allowed"),
        case("POST", "/v1/skills/echo/invoke", 400, "invalid-input").bearer(member).json("{nope"),
        case("POST", "/v1/skills/echo/invoke", 400, "invalid-input").bearer(member).json(""),
        case("POST", "/v1/skills/echo/invoke", 400, "invalid-input")
            .bearer(member)
            .body("application/json", b"\xff\xfe{}"),
        case("POST", "/v1/skills/echo/invoke", 400, "invalid-input")
            .bearer(member)
            .header("x-wasmclaw-user", b"../etc")
            .json("{}"),
        case("POST", "/v1/skills/echo/invoke", 400, "invalid-input")
            .bearer(member)
            .header("x-wasmclaw-user", &[b'u'; 200])
            .json("{}"),
        case("GET", "/v1/memory?user=..%2Fx", 400, "invalid-input").bearer(member),
        case("GET", format!("/v1/memory?prefix={}", "k".repeat(600)), 400, "invalid-input").bearer(member),
        case("GET", "/v1/audit?limit=abc", 400, "invalid-input").bearer(admin),
        case("GET", "/v1/audit?since=yesterday", 400, "invalid-input").bearer(op),
        case("GET", t.path("/audit?limit=-1"), 400, "invalid-input").bearer(op),
        case("GET", "/v1/audit?action=token%20mint", 400, "invalid-input").bearer(admin),
        case("GET", "/v1/audit?action=Token.mint", 400, "invalid-input").bearer(admin),
        case("GET", format!("/v1/audit?action={}", "a".repeat(65)), 400, "invalid-input").bearer(op),
        case("GET", "/v1/audit?action=", 400, "invalid-input").bearer(op),
        case("GET", "/v1/audit?outcome=refused%3A%20x", 400, "invalid-input").bearer(op),
        case("GET", "/v1/audit?outcome=ok*", 400, "invalid-input").bearer(op),
        case("GET", "/v1/audit?skip=10000001", 400, "invalid-input").bearer(op),
        case("GET", "/v1/audit?skip=-1", 400, "invalid-input").bearer(admin),
        case("GET", "/v1/outbox?state=lost", 400, "invalid-input").bearer(member),
        case("GET", "/v1/outbox?limit=0", 400, "invalid-input").bearer(member),
        case("GET", "/v1/outbox?after=%ff", 400, "invalid-input").bearer(member),
        case("GET", "/v1/memory?prefix=%c0%80", 400, "invalid-input").bearer(member),
        case("GET", "/v1/outbox?limit=101", 400, "invalid-input").bearer(member),
        case("GET", format!("/v1/outbox?after={}", "x".repeat(129)), 400, "invalid-input").bearer(member),
        case("GET", "/v1/config", 403, "forbidden").bearer(admin),
        case("PUT", "/v1/secrets/..%2F..%2Fetc", 400, "invalid-input")
            .bearer(admin)
            .body("application/octet-stream", b"x"),
        case("PUT", "/v1/secrets/lower", 400, "invalid-input")
            .bearer(admin)
            .body("application/octet-stream", b"x"),
        // Hostile ids in paths name nothing: 404.
        case("GET", "/v1/tenants/..%2F..%2Fetc", 404, "not-found").bearer(op),
        case("GET", "/v1/tenants/..%2F..%2Fetc/skills", 404, "not-found").bearer(op),
        case("GET", "/v1/tenants/bad%00", 404, "not-found").bearer(op),
        case("GET", "/v1/tenants/%00", 404, "not-found").bearer(op),
        case("GET", format!("/v1/tenants/{long}"), 404, "not-found").bearer(op),
        case("GET", format!("/v1/tenants/{}", "a".repeat(5000)), 404, "not-found").bearer(op),
        case("GET", "/v1/tenants/..%2Fbad/skills", 404, "not-found").bearer(member),
        case("POST", "/v1/tenants/bad%2F..%2Fbad-other/skills/echo/invoke", 404, "not-found")
            .bearer(member)
            .json("{}"),
        case("POST", "/v1/skills/..%2F..%2Fetc/invoke", 404, "not-found").bearer(member).json("{}"),
        case("POST", "/v1/skills/echo%00/invoke", 404, "not-found").bearer(member).json("{}"),
        case("POST", format!("/v1/skills/{}/invoke", "e".repeat(300)), 404, "not-found")
            .bearer(member)
            .json("{}"),
        case("POST", "/v1/skills/nope/invoke", 404, "not-found").bearer(member).json("{}"),
        case("DELETE", "/v1/skills/..%2F..%2Fetc", 404, "not-found").bearer(admin),
        case("DELETE", "/v1/memory/..%2F..%2Fetc", 404, "not-found").bearer(member),
        case("DELETE", "/v1/memory/%00", 404, "not-found").bearer(member),
        case("DELETE", format!("/v1/memory/{}", "k".repeat(2000)), 404, "not-found").bearer(member),
        case("DELETE", "/v1/cron/..%2F..%2Fetc", 404, "not-found").bearer(member),
        case("DELETE", "/v1/tokens/..%2F..%2Fetc", 404, "not-found").bearer(admin),
        case("POST", "/v1/tokens/%00/rotate", 404, "not-found").bearer(admin).json("{}"),
        case("DELETE", format!("/v1/tokens/{}", "0".repeat(300)), 404, "not-found").bearer(admin),
        // Unknown routes.
        case("GET", "/v1/nope", 404, "not-found").bearer(op),
        case("GET", "/nope", 404, "not-found"),
        case("GET", "/v1", 404, "not-found").bearer(op),
        case("GET", "/v2/tenants", 404, "not-found").bearer(op),
        case("GET", "/v1/tenants/bad/nope", 404, "not-found").bearer(op),
        case("POST", "/v1/skills/echo/invoke/more", 404, "not-found").bearer(member).json("{}"),
        // Wrong methods.
        case("PATCH", "/v1/tenants", 405, "method-not-allowed").bearer(op),
        case("DELETE", "/v1/tenants", 405, "method-not-allowed").bearer(op),
        case("PUT", "/v1/tenants/bad", 405, "method-not-allowed").bearer(op),
        case("GET", "/v1/tenants/bad/suspend", 405, "method-not-allowed").bearer(op),
        case("POST", "/healthz", 405, "method-not-allowed"),
        case("DELETE", "/openapi.json", 405, "method-not-allowed"),
        case("POST", "/metrics", 405, "method-not-allowed").bearer(op),
        case("GET", "/v1/skills/echo/invoke", 405, "method-not-allowed").bearer(member),
        case("GET", "/v1/skills/echo", 405, "method-not-allowed").bearer(admin),
        case("POST", "/v1/secrets", 405, "method-not-allowed").bearer(admin),
        case("PUT", "/v1/memory", 405, "method-not-allowed").bearer(member),
        // Missing, garbage and wrong-class credentials.
        case("GET", "/v1/tenants", 401, "unauthorized"),
        case("GET", "/v1/skills", 401, "unauthorized"),
        case("GET", t.path("/skills"), 401, "unauthorized"),
        case("POST", "/v1/skills/echo/invoke", 401, "unauthorized").json("{}"),
        case("GET", "/metrics", 401, "unauthorized"),
        case("GET", "/v1/tenants", 401, "unauthorized").authorization(b"Bearer".to_vec()),
        case("GET", "/v1/tenants", 401, "unauthorized").authorization(b"Bearer ".to_vec()),
        case("GET", "/v1/tenants", 401, "unauthorized").authorization(b"Basic dXNlcjpwYXNz".to_vec()),
        case("GET", "/v1/tenants", 401, "unauthorized").authorization(ADMIN_KEY.as_bytes().to_vec()),
        case("GET", "/v1/tenants", 401, "unauthorized").bearer("garbage"),
        case("GET", "/v1/tenants", 401, "unauthorized").bearer("wca_00000000000000000000000000000000"),
        case("GET", "/v1/tenants", 401, "unauthorized").bearer("wca_XYZ"),
        case("GET", "/v1/tenants", 401, "unauthorized").bearer(&ADMIN_KEY.to_uppercase()),
        case("GET", "/v1/tenants", 401, "unauthorized").bearer(&format!("{ADMIN_KEY}0")),
        case("GET", "/v1/tenants", 401, "unauthorized").bearer(&"x".repeat(8000)),
        case("GET", "/v1/tenants", 401, "unauthorized").authorization(b"Bearer \xff\xfe\x80".to_vec()),
        case("GET", "/v1/tenants", 401, "unauthorized").bearer(&format!("wct_{admin_hex}")),
        case("GET", "/v1/skills", 401, "unauthorized").bearer(&format!("wca_{member_secret}")),
        case("GET", "/v1/skills", 401, "unauthorized")
            .bearer("wct_bad_000000000000_00000000000000000000000000000000"),
        case("GET", "/v1/skills", 401, "unauthorized").bearer(&tampered),
        case("GET", "/v1/skills", 401, "unauthorized").bearer(&format!("{member}_extra")),
        case("GET", "/metrics", 401, "unauthorized").bearer("garbage"),
        // Bodies over the limits.
        case("POST", "/v1/tenants", 413, "too-large").bearer(op).huge(
            "application/json",
            r#"{"id":""#,
            b'a',
            3 * MIB,
        ),
        case("POST", "/v1/skills/echo/invoke", 413, "too-large").bearer(member).huge(
            "application/json",
            "\"",
            b'a',
            3 * MIB,
        ),
        case("POST", "/v1/skills/echo/invoke", 413, "too-large").bearer(member).huge(
            "application/json",
            "\"",
            b'a',
            9 * MIB,
        ),
        case("PUT", "/v1/secrets/BIG", 413, "too-large").bearer(admin).huge(
            "application/octet-stream",
            "",
            b'x',
            3 * MIB,
        ),
        case("PUT", "/v1/policy", 413, "too-large").bearer(admin).huge(
            "application/toml",
            "# ",
            b'x',
            3 * MIB,
        ),
        case("POST", "/v1/skills", 413, "too-large").bearer(admin).huge(
            "application/json",
            r#"{"component":""#,
            b'A',
            64 * MIB,
        ),
    ];
    // Every JSON route against the same malformed bodies: broken syntax,
    // the wrong top-level type, invalid UTF-8, a byte-order mark, and
    // nesting past the parser's depth limit.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let rotate = format!("/v1/tokens/{member_id}/rotate");
    let json_routes: [(&str, &str, &str); 10] = [
        ("POST", "/v1/tenants", op),
        ("POST", "/v1/tokens", admin),
        ("POST", rotate.as_str(), admin),
        ("POST", "/v1/skills", admin),
        ("PUT", "/v1/policy", admin),
        ("POST", "/v1/agents", admin),
        ("PUT", "/v1/agents/a", admin),
        ("POST", "/v1/agents/a/messages", member),
        ("POST", "/v1/channels", admin),
        ("POST", "/v1/trust", op),
    ];
    let bodies: [&[u8]; 8] =
        [b"{", b"[]", b"\"text\"", b"null", b"123", b"{\"a\":\xff}", b"\xef\xbb\xbf{}", deep.as_bytes()];
    for (method, path, cred) in json_routes {
        for body in bodies {
            cases.push(case(method, path, 400, "invalid-input").bearer(cred).body("application/json", body));
        }
    }
    assert!(cases.len() >= 200, "the table has {} requests", cases.len());

    let mut failures = Vec::new();
    let n = cases.len();
    for c in cases {
        let headers: Vec<(&str, &[u8])> = c.headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let shown = format!("{} {}", c.method, c.path.chars().take(100).collect::<String>());
        let r = raw(gw.addr, c.method, &c.path, &headers, c.body);
        if r.status >= 500 {
            failures.push(format!("{shown}: a 5xx ({}) {}", r.status, r.body));
            continue;
        }
        let got = match error_shape(&r.body) {
            Ok((code, _)) if r.status == c.status && code == c.code => continue,
            Ok((code, _)) => format!("{} {code}", r.status),
            Err(e) => format!("{} ({e})", r.status),
        };
        let body: String = r.body.chars().take(200).collect();
        failures.push(format!("{shown}: expected {} {}, got {got}: {body:?}", c.status, c.code));
    }

    // Nothing was created or changed by any of them.
    let tenants = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    let ids: Vec<&str> =
        tenants["tenants"].as_array().unwrap().iter().filter_map(|x| x["id"].as_str()).collect();
    for id in ["bad-x", "bad-plain"] {
        if ids.contains(&id) {
            failures.push(format!("tenant {id} was created"));
        }
    }
    if token_ids(&gw.get(&t.path("/tokens"), Some(ADMIN_KEY)).expect(200)) != tokens_before {
        failures.push("the tokens changed".into());
    }
    if gw.get(&t.path("/policy"), Some(ADMIN_KEY)).expect(200) != policy_before {
        failures.push("the policy changed".into());
    }
    if gw.get(&t.path("/secrets"), Some(ADMIN_KEY)).expect(200) != json!({"secrets": []}) {
        failures.push("a secret was stored".into());
    }
    if skill_names(&gw.get(&t.path("/skills"), Some(ADMIN_KEY)).expect(200)) != ["echo"] {
        failures.push("the skills changed".into());
    }
    // The gateway still serves.
    gw.get("/healthz", None).expect(200);
    let r = crate::harness::invoke(gw, &t.member, "echo", &json!({"still": "fine"}));
    if r.status != 200 {
        failures.push(format!("echo afterwards: {} {}", r.status, r.text));
    }
    assert!(failures.is_empty(), "{} of {n} cases failed:\n{}", failures.len(), failures.join("\n"));
}
