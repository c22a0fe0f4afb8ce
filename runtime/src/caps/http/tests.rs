//! The http capability called directly, against a local server.

use super::*;
use crate::origin::Origin;
use std::collections::HashMap;
use std::net::SocketAddr;
use wit::Host;

fn req(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> wit::Request {
    wit::Request {
        method: method.into(),
        url: url.into(),
        headers: headers.iter().map(|(n, v)| wit::Header { name: (*n).into(), value: (*v).into() }).collect(),
        body: body.map(|b| b.as_bytes().to_vec()),
    }
}

/// Every request a test server received: method, URI, headers and body,
/// one string each.
type Seen = Arc<std::sync::Mutex<Vec<String>>>;

/// A local server: `/echo` returns the request's URI, headers and body
/// as JSON; `/to?u=URL` redirects; `/big` returns 5 MiB.
async fn server() -> SocketAddr {
    recording_server().await.0
}

/// [`server`], also recording what it received.
async fn recording_server() -> (SocketAddr, Seen) {
    use axum::Router;
    use axum::extract::Query;
    use axum::http::{HeaderMap, Method, Uri};
    use axum::response::Redirect;
    use axum::routing::{any, get};
    let seen: Seen = Default::default();
    let record = seen.clone();
    let app = Router::new()
        .route(
            "/echo",
            any(move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| async move {
                let h: HashMap<String, String> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let body = String::from_utf8_lossy(&body).into_owned();
                record.lock().unwrap().push(format!("{method} {uri} {h:?} {body}"));
                axum::Json(serde_json::json!({ "uri": uri.to_string(), "headers": h, "body": body }))
            }),
        )
        .route(
            "/to",
            get(|Query(q): Query<HashMap<String, String>>| async move { Redirect::temporary(&q["u"]) }),
        )
        .route("/big", get(|| async { vec![b'x'; 5 * 1024 * 1024] }))
        // Reflects OTHER's value as a header name.
        .route("/hdr", get(|| async { ([("other-value", "1")], "ok") }))
        // A body the host cannot read (compressed), whatever was asked.
        .route(
            "/enc",
            get(|| async { ([("content-encoding", "gzip")], vec![0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn ctx(addr: SocketAddr, secrets_for_origin: &[&str]) -> HttpCtx {
    let grant = HttpGrant {
        origin: Origin::parse(&format!("http://{addr}")).unwrap(),
        secrets: secrets_for_origin.iter().map(|s| s.to_string()).collect(),
    };
    let lookup: SecretLookup = Arc::new(|name: &str| match name {
        "API_KEY" => Some(Zeroizing::new(b"s3cr3t-value".to_vec())),
        "OTHER" => Some(Zeroizing::new(b"other-value".to_vec())),
        _ => None,
    });
    HttpCtx::new(client().unwrap(), Arc::new(vec![grant]), lookup, Instant::now() + Duration::from_secs(10))
}

fn json(r: &wit::Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn allowed_request_with_an_injected_secret() {
    let addr = server().await;
    let mut h = ctx(addr, &["API_KEY"]);
    let r = h
        .send(req(
            "POST",
            &format!("http://{addr}/echo"),
            &[("authorization", "Bearer {{secret:API_KEY}}")],
            Some("key={{secret:API_KEY}}"),
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let v = json(&r);
    assert_eq!(v["headers"]["authorization"], "Bearer s3cr3t-value");
    assert_eq!(v["body"], "key=s3cr3t-value");
    assert_eq!(h.secrets_used(), ["API_KEY".to_string()]);
}

#[tokio::test]
async fn ungranted_origins_and_secrets_are_denied() {
    let addr = server().await;
    let mut h = ctx(addr, &["API_KEY"]);
    let denied = |r: Result<wit::Response, WitError>| matches!(r, Err(WitError::Denied(_)));
    // Another port on the same host is another origin.
    assert!(denied(h.send(req("GET", "http://127.0.0.1:1/echo", &[], None)).await));
    assert!(denied(h.send(req("GET", "http://169.254.169.254/latest/meta-data/", &[], None)).await));
    // A secret not granted for this origin.
    let r = h.send(req("GET", &format!("http://{addr}/echo"), &[("x", "{{secret:OTHER}}")], None)).await;
    assert!(denied(r));
    // A redirect to an ungranted origin is refused at that hop.
    let to = format!("http://{addr}/to?u=http://127.0.0.2:{}/echo", addr.port());
    assert!(denied(h.send(req("GET", &to, &[], None)).await));
    // A DNS name that resolves to loopback is refused even when granted.
    let mut by_name = HttpCtx::new(
        client().unwrap(),
        Arc::new(vec![HttpGrant {
            origin: Origin::parse(&format!("http://localhost:{}", addr.port())).unwrap(),
            secrets: vec![],
        }]),
        Arc::new(|_: &str| None),
        Instant::now() + Duration::from_secs(10),
    );
    let r = by_name.send(req("GET", &format!("http://localhost:{}/echo", addr.port()), &[], None)).await;
    assert!(matches!(&r, Err(WitError::Denied(m)) if m.contains("non-public")), "{:?}", r.err());
    // A context without grants.
    let mut none = HttpCtx::denied("no grant");
    assert!(denied(none.send(req("GET", &format!("http://{addr}/echo"), &[], None)).await));
}

#[tokio::test]
async fn redirects_within_the_grant_are_followed() {
    let addr = server().await;
    let mut h = ctx(addr, &[]);
    let to = format!("http://{addr}/to?u=/echo");
    let r = h.send(req("GET", &to, &[], None)).await.unwrap();
    assert_eq!(r.status, 200);
    assert!(json(&r)["headers"].is_object());
}

#[tokio::test]
async fn bad_requests_are_invalid_and_big_bodies_limited() {
    let addr = server().await;
    let mut h = ctx(addr, &["API_KEY"]);
    let url = format!("http://{addr}/echo");
    for bad in [
        req("CONNECT", &url, &[], None),
        req("GET", "not a url", &[], None),
        req("GET", &url, &[("host", "evil")], None),
        req("GET", &url, &[("x", "a\r\nb: c")], None),
        req("GET", &url, &[("bad name", "v")], None),
        req("GET", &url, &[("x", "{{secret:API_KEY")], None),
        req("GET", "ftp://127.0.0.1/", &[], None),
    ] {
        let r = h.send(bad).await;
        assert!(matches!(r, Err(WitError::Invalid(_)) | Err(WitError::Denied(_))), "{:?}", r.err());
    }
    let big = "x".repeat(MAX_REQUEST_BODY + 1);
    assert!(matches!(h.send(req("POST", &url, &[], Some(&big))).await, Err(WitError::LimitExceeded(_))));
    let r = h.send(req("GET", &format!("http://{addr}/big"), &[], None)).await;
    assert!(matches!(r, Err(WitError::LimitExceeded(_))), "{:?}", r.err());
}

#[tokio::test]
async fn a_secret_cannot_redirect_the_request() {
    let addr = server().await;
    let grant =
        HttpGrant { origin: Origin::parse(&format!("http://{addr}")).unwrap(), secrets: vec!["HOST".into()] };
    let mut h = HttpCtx::new(
        client().unwrap(),
        Arc::new(vec![grant]),
        Arc::new(|_: &str| Some(Zeroizing::new(b"169.254.169.254".to_vec()))),
        Instant::now() + Duration::from_secs(10),
    );
    // The placeholder sits in the host part: the template's origin is not granted.
    let r = h.send(req("GET", "http://{{secret:HOST}}/", &[], None)).await;
    assert!(matches!(r, Err(WitError::Invalid(_)) | Err(WitError::Denied(_))), "{:?}", r.err());
}

// Reserved characters, so that its percent-encoding differs from it.
const API_KEY: &str = "s3cr3t-v@lue/k+y";

/// A context granting `x` with API_KEY and `y` with no secret, scanning
/// and scrubbing with the tenant's two secrets.
fn two_origins(x: SocketAddr, y: SocketAddr) -> HttpCtx {
    let grant = |addr: SocketAddr, secrets: &[&str]| HttpGrant {
        origin: Origin::parse(&format!("http://{addr}")).unwrap(),
        secrets: secrets.iter().map(|s| s.to_string()).collect(),
    };
    let values = [("API_KEY", API_KEY), ("OTHER", "other-value")];
    let pairs: Vec<(String, crate::vault::SecretValue)> =
        values.iter().map(|(n, v)| (n.to_string(), Zeroizing::new(v.as_bytes().to_vec()))).collect();
    let lookup: SecretLookup = Arc::new(move |name: &str| {
        values.iter().find(|(n, _)| *n == name).map(|(_, v)| Zeroizing::new(v.as_bytes().to_vec()))
    });
    HttpCtx::new(
        client().unwrap(),
        Arc::new(vec![grant(x, &["API_KEY"]), grant(y, &[])]),
        lookup,
        Instant::now() + Duration::from_secs(10),
    )
    .with_redactor(Some(Arc::new(Redactor::new(&pairs))))
}

#[tokio::test]
async fn a_secret_reaches_only_the_origins_it_is_granted_to() {
    use base64::Engine;
    let ((x, seen_x), (y, seen_y)) = (recording_server().await, recording_server().await);
    let mut h = two_origins(x, y);

    // Allowed: the granted origin receives the expanded value.
    let r = h
        .send(req(
            "POST",
            &format!("http://{x}/echo?k={{{{secret:API_KEY}}}}"),
            &[("authorization", "Bearer {{secret:API_KEY}}")],
            Some("key={{secret:API_KEY}}"),
        ))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let got = seen_x.lock().unwrap().join("\n");
    assert_eq!(got.matches(API_KEY).count(), 3, "{got}");
    // ... and reflects it, but the guest reads it scrubbed.
    let body = String::from_utf8(r.body.clone()).unwrap();
    assert!(!body.contains(API_KEY), "{body}");
    assert_eq!(json(&r)["headers"]["authorization"], "Bearer [redacted:API_KEY]");
    assert_eq!(json(&r)["body"], "key=[redacted:API_KEY]");
    assert_eq!(h.secrets_redacted(), ["API_KEY".to_string()]);

    // Denied: the value, however the guest came by it, sent to Y (granted,
    // but not this secret) in a body, the URL or a header, in clear or
    // encoded.
    let b64 = base64::engine::general_purpose::STANDARD.encode(API_KEY);
    let hex = hex::encode(API_KEY);
    let pct: String = url::form_urlencoded::byte_serialize(API_KEY.as_bytes()).collect();
    assert_ne!(pct, API_KEY);
    let echo = format!("http://{y}/echo");
    let attempts = [
        req("POST", &echo, &[], Some(&format!("stolen={API_KEY}"))),
        req("POST", &echo, &[], Some(&format!("stolen={b64}"))),
        req("POST", &echo, &[], Some(&format!("stolen={hex}"))),
        req("POST", &echo, &[], Some(&format!("stolen={pct}"))),
        req("GET", &format!("{echo}?stolen={API_KEY}"), &[], None),
        req("GET", &format!("{echo}?stolen={pct}"), &[], None),
        req("GET", &format!("http://{y}/{hex}/echo"), &[], None),
        req("GET", &echo, &[("x-stolen", API_KEY)], None),
        req("GET", &echo, &[("x-stolen", b64.as_str())], None),
        req("GET", &echo, &[(format!("x-{hex}").as_str(), "1")], None),
    ];
    for a in attempts {
        let shown =
            format!("{} {} {:?} {:?}", a.method, a.url, a.headers.len(), a.body.as_ref().map(|b| b.len()));
        let r = h.send(a).await;
        assert!(
            matches!(&r, Err(WitError::Denied(m)) if m.contains("API_KEY") && !m.contains(API_KEY)),
            "{shown}: {:?}",
            r.as_ref().err()
        );
    }
    // A body that is not UTF-8 is scanned as bytes.
    let mut raw = vec![0xff, 0xfe];
    raw.extend_from_slice(API_KEY.as_bytes());
    let r = h
        .send(wit::Request { method: "POST".into(), url: echo.clone(), headers: vec![], body: Some(raw) })
        .await;
    assert!(matches!(r, Err(WitError::Denied(_))), "{:?}", r.err());
    assert!(seen_y.lock().unwrap().is_empty(), "Y received {:?}", seen_y.lock().unwrap());
    // Text without a secret still reaches Y.
    h.send(req("POST", &echo, &[], Some("nothing secret"))).await.unwrap();
    assert_eq!(seen_y.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_redirect_location_is_followed_literally_never_expanded() {
    let ((x, seen_x), (y, _)) = (recording_server().await, recording_server().await);
    let mut h = two_origins(x, y);
    // The server (not the guest) names a placeholder in its Location.
    let to = format!("http://{x}/to?u=/echo%3Fk%3D%7B%7Bsecret:API_KEY%7D%7D");
    let r = h.send(req("GET", &to, &[], None)).await.unwrap();
    assert_eq!(r.status, 200);
    let got = seen_x.lock().unwrap().join("\n");
    assert!(!got.contains(API_KEY), "the host filled the server's template: {got}");
    assert!(json(&r)["uri"].as_str().unwrap().contains("k={{secret:API_KEY}}"), "{:?}", json(&r));
}

#[tokio::test]
async fn a_value_partly_percent_encoded_is_still_found() {
    let ((x, _), (y, seen_y)) = (recording_server().await, recording_server().await);
    let mut h = two_origins(x, y);
    // Only some bytes encoded (`3` as %33): no whole encoding the
    // redactor knows, but the server decodes it to the value.
    let partly = "s%33cr3t-v%40lue%2Fk%2By";
    let echo = format!("http://{y}/echo");
    for a in [
        req("GET", &format!("{echo}?stolen={partly}"), &[], None),
        req(
            "POST",
            &echo,
            &[("content-type", "application/x-www-form-urlencoded")],
            Some(&format!("stolen={partly}")),
        ),
        req("GET", &echo, &[("x-stolen", partly)], None),
    ] {
        let shown = format!("{} {} {:?}", a.method, a.url, a.body.as_ref().map(|b| b.len()));
        let r = h.send(a).await;
        assert!(matches!(&r, Err(WitError::Denied(m)) if m.contains("API_KEY")), "{shown}: {:?}", r.err());
    }
    assert!(seen_y.lock().unwrap().is_empty(), "Y received {:?}", seen_y.lock().unwrap());
    // Percent-encoded text without a secret still reaches Y.
    h.send(req("GET", &format!("{echo}?q=a%20b%2Fc"), &[], None)).await.unwrap();
    assert_eq!(seen_y.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn response_header_names_are_scrubbed() {
    let ((x, _), (y, _)) = (recording_server().await, recording_server().await);
    let mut h = two_origins(x, y);
    let r = h.send(req("GET", &format!("http://{y}/hdr"), &[], None)).await.unwrap();
    let shown = format!("{:?}", r.headers);
    assert!(!shown.contains("other-value"), "{shown}");
    assert_eq!(h.secrets_redacted(), ["OTHER".to_string()]);
}

#[tokio::test]
async fn a_body_the_host_cannot_scrub_is_not_handed_over() {
    let ((x, seen_x), (y, _)) = (recording_server().await, recording_server().await);
    let mut h = two_origins(x, y);
    // Asking for a compressed reflection would hide the value from the
    // scrubber: the host chooses the encodings.
    let r = h
        .send(req(
            "GET",
            &format!("http://{x}/echo?k={{{{secret:API_KEY}}}}"),
            &[("accept-encoding", "gzip")],
            None,
        ))
        .await;
    assert!(matches!(r, Err(WitError::Invalid(_))), "{:?}", r.as_ref().map(|r| r.status));
    assert!(seen_x.lock().unwrap().is_empty());
    // A server compressing unasked: the body is refused, not passed on.
    let r = h.send(req("GET", &format!("http://{x}/enc"), &[], None)).await;
    assert!(matches!(r, Err(WitError::Unavailable(_))), "{:?}", r.as_ref().map(|r| r.status));
    // An uncompressed body still arrives.
    assert_eq!(h.send(req("GET", &format!("http://{x}/echo"), &[], None)).await.unwrap().status, 200);
}

#[tokio::test]
async fn error_texts_are_scrubbed() {
    let (x, y) = (server().await, server().await);
    let mut h = two_origins(x, y);
    // An ungranted origin whose URL carries the value: the refusal's
    // text names the URL, scrubbed.
    let r = h.send(req("GET", &format!("ftp://{API_KEY}.example/"), &[], None)).await;
    let text = format!("{:?}", r.err());
    assert!(!text.contains(API_KEY), "{text}");
}
