//! Message delivery: the host's worker that takes pending messages from the
//! outbox ([`Message`], stored by [`crate::store`]) and delivers them to their contact's
//! channel. Skills only queue messages (the `messaging` capability); they
//! never talk to the receiver, never see the signing key, and cannot name an
//! address: the URL was taken from the tenant's contact when the message was
//! queued.
//!
//! # Webhook wire format
//!
//! One HTTP `POST` to the contact's `url` per attempt, redirects not
//! followed, with a 10 s timeout:
//!
//! ```text
//! POST <url>
//! content-type: application/json
//! x-wasmclaw-message-id: <id>
//! x-wasmclaw-timestamp: <unix seconds of this attempt>
//! x-wasmclaw-signature: v1=<hex HMAC-SHA256(key, "<timestamp>.<raw body bytes>")>
//!
//! {"id":"<id>","tenant":"<tenant>","contact":"<contact name>","skill":"<skill>","body":"<text>","created":<unix seconds>}
//! ```
//!
//! The JSON body has exactly these fields in this order (`created` is when
//! the skill queued the message). The signature covers the timestamp, a
//! `.`, then the body bytes exactly as sent; the key is the value of the
//! tenant secret named by the tenant policy's `messaging.signing_secret`.
//! A receiver should compute the HMAC over the raw bytes it received (not a
//! re-serialisation), compare in constant time ([`verify`] does), reject
//! timestamps far from its own clock (say, more than 5 minutes) to bound
//! replays, and de-duplicate by `x-wasmclaw-message-id`.
//!
//! # Delivery semantics
//!
//! At least once: a message is marked delivered only after a 2xx answer, so
//! a crash between the answer and the write sends it again (same id). Any
//! other outcome (a non-2xx status including 3xx, a connection error, a
//! timeout, no signing key configured or no such secret) is a failed
//! attempt: `attempts` goes up, `last_error` says why, and the next attempt
//! is due `backoff_base × 2^(attempts−1)` seconds later, at most an hour.
//! After `max_attempts` failures the message is dead. A message that fails
//! for want of a signing key is retried like any other, so setting the
//! secret later still delivers it.
//!
//! Before its attempts the worker leases a batch of due messages in the
//! store ([`crate::store::Db::outbox_claim_due`]; on PostgreSQL rows other
//! workers are leasing are skipped), so two workers on one database, or
//! on several replicas, do not send the same message at once, and a
//! worker that dies mid-attempt leaves them due again when the lease
//! ends. Attempts run concurrently (at most [`MAX_IN_FLIGHT`]), so one
//! tenant's slow receiver does not hold up every other tenant's messages.

pub mod cap;
use crate::clock::SharedClock;
use crate::ids::TenantId;
use crate::records::{Message, MessageState};
use crate::store::{Db, StoreError};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use zeroize::Zeroizing;

/// The value of a tenant secret, by (tenant, secret name); `None` when the
/// tenant has no such secret. The runtime passes a closure reading the
/// encrypted vault.
pub type KeyLookup = Arc<dyn Fn(&TenantId, &str) -> Option<Vec<u8>> + Send + Sync>;

/// How long a suspended tenant's due message is held before it is looked
/// at again, in seconds (no attempt is counted).
const SUSPENDED_HOLD_SECS: u64 = 60;
/// Header carrying the message id (the receiver's de-duplication key).
pub const MESSAGE_ID_HEADER: &str = "x-wasmclaw-message-id";
/// Header carrying the attempt's Unix time, seconds.
pub const TIMESTAMP_HEADER: &str = "x-wasmclaw-timestamp";
/// Header carrying the signature, `v1=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-wasmclaw-signature";
/// Attempts a message gets, by default, before it is dead.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// The first retry delay, by default, seconds (doubled at each failure).
pub const DEFAULT_BACKOFF_BASE_SECS: u64 = 10;
/// The longest retry delay, seconds.
pub const MAX_BACKOFF_SECS: u64 = 3600;
/// Time allowed for one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a worker holds a message it is attempting (well over
/// [`ATTEMPT_TIMEOUT`]), seconds.
pub const LEASE_SECS: u64 = 60;
/// Most messages one [`Deliverer::deliver_due`] round takes.
pub const BATCH: usize = 256;
/// Most attempts in flight at once.
pub const MAX_IN_FLIGHT: usize = 32;
/// Longest `last_error` kept, bytes.
const MAX_ERROR_BYTES: usize = 300;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], timestamp: u64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed): this cannot fail.
    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `x-wasmclaw-signature` value for `body` sent at `timestamp`:
/// `v1=` and the hex HMAC-SHA256 under `key` of `"<timestamp>.<body>"`.
pub fn sign(key: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!("v1={}", hex::encode(mac(key, timestamp, body).finalize().into_bytes()))
}

/// Whether `header` (an `x-wasmclaw-signature` value) is the signature of
/// `body` sent at `timestamp` under `key`. The comparison is constant-time.
/// It does not judge the timestamp's age: the receiver should.
pub fn verify(key: &[u8], timestamp: u64, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("v1=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    mac(key, timestamp, body).verify_slice(&sig).is_ok()
}

/// The JSON body of a webhook (field order is part of the wire format).
#[derive(Serialize)]
struct WireBody<'a> {
    id: &'a str,
    tenant: &'a str,
    contact: &'a str,
    skill: &'a str,
    body: &'a str,
    created: u64,
}

/// What one [`Deliverer::deliver_due`] round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Messages accepted by their receiver.
    pub delivered: usize,
    /// Messages whose attempt failed and that will be retried.
    pub retried: usize,
    /// Messages whose attempt failed for the last time.
    pub dead: usize,
}

/// One attempt, ready to send (the signing key is no longer needed).
struct Request {
    url: String,
    id: String,
    timestamp: u64,
    signature: String,
    body: Vec<u8>,
}

/// The delivery worker.
pub struct Deliverer {
    db: Arc<Db>,
    client: Result<reqwest::Client, String>,
    keys: KeyLookup,
    clock: SharedClock,
    max_attempts: u32,
    backoff_base_secs: u64,
}

impl Deliverer {
    /// A worker over `db`'s outbox, signing with the tenants' secrets read
    /// through `keys`, on `clock`; 5 attempts, backoff from 10 s. Its HTTP
    /// client follows no redirects, ignores proxy settings from the
    /// environment, gives each attempt 10 s and resolves names to public
    /// addresses only (an IP-literal URL is used as the policy states it).
    pub fn new(db: Arc<Db>, keys: KeyLookup, clock: SharedClock) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(crate::caps::http::PublicOnlyResolver))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("wasmclaw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the HTTP client cannot be built: {e}"));
        Deliverer {
            db,
            client,
            keys,
            clock,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base_secs: DEFAULT_BACKOFF_BASE_SECS,
        }
    }

    /// Sets the attempts a message gets before it is dead (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Sets the first retry delay, seconds (doubled at each failure, capped
    /// at [`MAX_BACKOFF_SECS`]).
    pub fn with_backoff_base_secs(mut self, secs: u64) -> Self {
        self.backoff_base_secs = secs;
        self
    }

    /// Replaces the HTTP client, e.g. with one whose resolver refuses
    /// private addresses. It should not follow redirects and should have a
    /// timeout under [`LEASE_SECS`].
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = Ok(client);
        self
    }

    /// The delay before the attempt after `attempts` failures.
    fn backoff(&self, attempts: u32) -> u64 {
        let factor = 1u64.checked_shl(attempts.saturating_sub(1)).unwrap_or(u64::MAX);
        self.backoff_base_secs.saturating_mul(factor).min(MAX_BACKOFF_SECS)
    }

    /// Attempts every pending message that is due (up to [`BATCH`] of
    /// them), once each, and records the outcomes. Fails only when the
    /// store does; messages it had leased are then due again when their
    /// lease ends.
    pub async fn deliver_due(&self) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        let mut tasks = JoinSet::new();
        let (mut taken, mut exhausted) = (0, false);
        // A store error stops the leasing, never the attempts in flight:
        // they finish and are recorded, and the error is returned after.
        let mut failed: Option<StoreError> = None;
        loop {
            // Leased as slots free up, never more than can start at once:
            // every attempt of a lease ends (its timeout) well before the
            // lease does, so no other worker takes a message still being
            // attempted here, and one that dies leaves them due again.
            while !exhausted && failed.is_none() && tasks.len() < MAX_IN_FLIGHT {
                let room = (MAX_IN_FLIGHT - tasks.len()).min(BATCH - taken);
                let now = self.clock.now();
                let batch = match self.db.outbox_claim_due(now, now.saturating_add(LEASE_SECS), room) {
                    Ok(batch) => batch,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                };
                taken += batch.len();
                exhausted = batch.len() < room || taken >= BATCH;
                for m in batch {
                    match self.db.tenant_suspended(&m.tenant) {
                        // Held, not attempted: due again after the hold.
                        Ok(true) => {
                            if let Err(e) = self.db.outbox_claim(&m, now.saturating_add(SUSPENDED_HOLD_SECS))
                            {
                                tracing::error!(tenant = %m.tenant, id = %m.id, error = %e,
                                    "message delivery: cannot hold a suspended tenant's message");
                            }
                            continue;
                        }
                        Ok(false) => {}
                        // Left leased: due again when the lease ends.
                        Err(e) => {
                            failed = Some(e);
                            continue;
                        }
                    }
                    let prepared = self.prepare(&m, now);
                    let client = self.client.clone();
                    tasks.spawn(async move {
                        let outcome = match (prepared, client) {
                            (Ok(req), Ok(client)) => attempt(&client, req).await,
                            (Err(e), _) | (_, Err(e)) => Err(e),
                        };
                        (m, outcome)
                    });
                }
            }
            let Some(joined) = tasks.join_next().await else { break };
            match joined {
                Ok((m, outcome)) => {
                    if let Err(e) = self.record(m, outcome, &mut report) {
                        // Left as leased: attempted again when the lease ends.
                        tracing::error!(error = %e, "message delivery: cannot record an attempt");
                        failed.get_or_insert(e);
                    }
                }
                // The message stays leased and is retried when the lease ends.
                Err(e) => tracing::error!(error = %e, "message delivery: an attempt panicked"),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Builds the signed request for `m`, or says why it cannot be.
    fn prepare(&self, m: &Message, timestamp: u64) -> Result<Request, String> {
        let policy = self.db.policy(&m.tenant).map_err(|e| {
            tracing::error!(tenant = %m.tenant, error = %e, "message delivery: cannot read the policy");
            "the tenant's policy cannot be read".to_string()
        })?;
        let Some(secret) = policy.messaging.signing_secret else {
            return Err("no signing key: the tenant's policy sets no messaging.signing_secret".into());
        };
        let Some(key) = (self.keys)(&m.tenant, &secret).map(Zeroizing::new) else {
            return Err(format!("no signing key: the tenant secret {secret:?} is not set"));
        };
        let body = serde_json::to_vec(&WireBody {
            id: &m.id,
            tenant: m.tenant.as_str(),
            contact: &m.contact,
            skill: &m.skill,
            body: &m.body,
            created: m.created,
        })
        .map_err(|e| format!("cannot encode the message: {e}"))?;
        let signature = sign(&key, timestamp, &body);
        Ok(Request { url: m.url.clone(), id: m.id.clone(), timestamp, signature, body })
    }

    /// Writes the outcome of one attempt of `leased` (the message as this
    /// worker leased it), only while the lease is still this worker's: an
    /// outcome that comes after the lease moved (the worker stalled past
    /// it, the tenant was deleted) is dropped, never written over another
    /// worker's attempt or a delivered message.
    fn record(
        &self,
        leased: Message,
        outcome: Result<(), String>,
        report: &mut DeliveryReport,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut m = leased.clone();
        let counted = match outcome {
            Ok(()) => {
                m.state = MessageState::Delivered;
                m.next_attempt = now;
                &mut report.delivered
            }
            Err(e) => {
                m.attempts = m.attempts.saturating_add(1);
                m.last_error = Some(bounded(e));
                if m.attempts >= self.max_attempts {
                    m.state = MessageState::Dead;
                    &mut report.dead
                } else {
                    m.next_attempt = now.saturating_add(self.backoff(m.attempts));
                    &mut report.retried
                }
            }
        };
        if !self.db.outbox_settle(&leased, &m)? {
            tracing::warn!(tenant = %m.tenant, id = %m.id,
                "message delivery: the lease moved before the attempt ended; its outcome is dropped");
            return Ok(());
        }
        *counted += 1;
        if m.state == MessageState::Dead {
            tracing::warn!(tenant = %m.tenant, id = %m.id, "message delivery: dead after {} attempts", m.attempts);
        }
        Ok(())
    }

    /// Delivers what is due every second until `shutdown` completes (an
    /// attempt cut short by shutdown is retried after its lease).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                r = self.deliver_due() => {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "message delivery failed");
                    }
                }
            }
        }
    }
}

/// One HTTP attempt: `Ok` on a 2xx answer.
async fn attempt(client: &reqwest::Client, req: Request) -> Result<(), String> {
    let resp = client
        .post(&req.url)
        .header("content-type", "application/json")
        .header(MESSAGE_ID_HEADER, &req.id)
        .header(TIMESTAMP_HEADER, req.timestamp.to_string())
        .header(SIGNATURE_HEADER, &req.signature)
        .body(req.body)
        .send()
        .await
        .map_err(describe)?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else if status.is_redirection() {
        Err(format!("the receiver answered HTTP {} (redirects are not followed)", status.as_u16()))
    } else {
        Err(format!("the receiver answered HTTP {}", status.as_u16()))
    }
}

/// A failed request, with its causes, without the URL.
fn describe(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "the request timed out".to_string()
    } else if e.is_builder() {
        "the contact's URL cannot be requested".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut out = what;
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// `e`, cut to [`MAX_ERROR_BYTES`] on a character boundary.
fn bounded(mut e: String) -> String {
    if e.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !e.is_char_boundary(end) {
            end -= 1;
        }
        e.truncate(end);
        e.push('…');
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::policy::{MessagingPolicy, TenantPolicy};
    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use std::collections::HashMap;
    use std::sync::Mutex;

    const T0: u64 = 1_700_000_000;
    const KEY: &[u8] = b"hook-signing-key";

    #[derive(Debug, Clone)]
    struct Hook {
        path: String,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    #[derive(Clone, Default)]
    struct Received(Arc<Mutex<Vec<Hook>>>);

    impl Received {
        fn all(&self) -> Vec<Hook> {
            self.0.lock().unwrap().clone()
        }
    }

    fn record(rx: &Received, path: &str, headers: &HeaderMap, body: Bytes) {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        rx.0.lock().unwrap().push(Hook { path: path.into(), headers, body: body.to_vec() });
    }

    /// A webhook receiver on 127.0.0.1: `/ok` answers 200, `/fail` 500,
    /// `/redirect` 307 to `/ok`. Returns its base URL and what it received.
    async fn receiver() -> (String, Received) {
        let rx = Received::default();
        let app = Router::new()
            .route(
                "/ok",
                post(|State(rx): State<Received>, h: HeaderMap, b: Bytes| async move {
                    record(&rx, "/ok", &h, b);
                    StatusCode::OK
                }),
            )
            .route(
                "/fail",
                post(|State(rx): State<Received>, h: HeaderMap, b: Bytes| async move {
                    record(&rx, "/fail", &h, b);
                    StatusCode::INTERNAL_SERVER_ERROR
                }),
            )
            .route(
                "/redirect",
                post(|State(rx): State<Received>, h: HeaderMap, b: Bytes| async move {
                    record(&rx, "/redirect", &h, b);
                    (StatusCode::TEMPORARY_REDIRECT, [("location", "/ok")])
                }),
            )
            .with_state(rx.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), rx)
    }

    type Keys = Arc<Mutex<HashMap<(String, String), Vec<u8>>>>;

    struct Fixture {
        _dir: tempfile::TempDir,
        db: Arc<Db>,
        clock: ManualClock,
        keys: Keys,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let db = Arc::new(Db::open(&dir.path().join("db.redb")).unwrap());
            Fixture { _dir: dir, db, clock: ManualClock::new(T0), keys: Keys::default() }
        }

        /// Tenant `tenant` signs with its secret `HOOK_KEY`, set to `key` when given.
        fn tenant(&self, tenant: &str, key: Option<&[u8]>) -> TenantId {
            let t = TenantId::parse(tenant).unwrap();
            let policy = TenantPolicy {
                messaging: MessagingPolicy { signing_secret: Some("HOOK_KEY".into()), ..Default::default() },
                ..Default::default()
            };
            self.db.set_policy(&t, &policy).unwrap();
            if let Some(k) = key {
                self.set_key(tenant, k);
            }
            t
        }

        fn set_key(&self, tenant: &str, key: &[u8]) {
            self.keys.lock().unwrap().insert((tenant.into(), "HOOK_KEY".into()), key.to_vec());
        }

        fn deliverer(&self) -> Deliverer {
            let keys = self.keys.clone();
            let lookup: KeyLookup = Arc::new(move |t: &TenantId, name: &str| {
                keys.lock().unwrap().get(&(t.as_str().to_string(), name.to_string())).cloned()
            });
            Deliverer::new(self.db.clone(), lookup, Arc::new(self.clock.clone()))
        }

        fn queue(&self, tenant: &TenantId, id: &str, url: &str) -> Message {
            let m = Message {
                id: id.into(),
                tenant: tenant.clone(),
                skill: "notify".into(),
                contact: "ops".into(),
                url: url.into(),
                body: "disk \"full\" ✓".into(),
                created: self.clock.now(),
                state: MessageState::Pending,
                attempts: 0,
                next_attempt: self.clock.now(),
                last_error: None,
            };
            self.db.outbox_put(&m).unwrap();
            m
        }

        fn get(&self, tenant: &TenantId, id: &str) -> Message {
            self.db.outbox_get(tenant, id).unwrap().unwrap()
        }
    }

    #[test]
    fn sign_and_verify() {
        let sig = sign(KEY, 42, b"{}");
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64, "{sig}");
        assert!(verify(KEY, 42, b"{}", &sig));
        assert!(!verify(b"other", 42, b"{}", &sig));
        assert!(!verify(KEY, 43, b"{}", &sig));
        assert!(!verify(KEY, 42, b"{ }", &sig));
        assert!(!verify(KEY, 42, b"{}", &sig[3..]));
        assert!(!verify(KEY, 42, b"{}", "v1=zz"));
        assert!(!verify(KEY, 42, b"{}", &sig[..sig.len() - 2]));
        assert!(!verify(KEY, 42, b"{}", ""));
        // The signed string is "<timestamp>.<body>", HMAC-SHA256, hex.
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(KEY).unwrap();
        m.update(b"42.{}");
        assert_eq!(sig, format!("v1={}", hex::encode(m.finalize().into_bytes())));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let f = Fixture::new();
        let d = f.deliverer();
        let steps: Vec<u64> = (1..=10).map(|a| d.backoff(a)).collect();
        assert_eq!(steps, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert_eq!(d.backoff(u32::MAX), MAX_BACKOFF_SECS);
    }

    #[tokio::test]
    async fn messaging_delivery_is_signed_json() {
        let (base, rx) = receiver().await;
        let f = Fixture::new();
        let a = f.tenant("tenant-a", Some(KEY));
        f.queue(&a, "m1", &format!("{base}/ok"));
        let report = f.deliverer().deliver_due().await.unwrap();
        assert_eq!(report, DeliveryReport { delivered: 1, retried: 0, dead: 0 });

        let hooks = rx.all();
        assert_eq!(hooks.len(), 1);
        let h = &hooks[0];
        assert_eq!(h.headers["content-type"], "application/json");
        assert_eq!(h.headers[MESSAGE_ID_HEADER], "m1");
        let ts: u64 = h.headers[TIMESTAMP_HEADER].parse().unwrap();
        assert_eq!(ts, T0);
        assert!(verify(KEY, ts, &h.body, &h.headers[SIGNATURE_HEADER]));
        assert!(!verify(b"another-key", ts, &h.body, &h.headers[SIGNATURE_HEADER]));
        let want = format!(
            r#"{{"id":"m1","tenant":"tenant-a","contact":"ops","skill":"notify","body":"disk \"full\" ✓","created":{T0}}}"#
        );
        assert_eq!(String::from_utf8(h.body.clone()).unwrap(), want);

        let m = f.get(&a, "m1");
        assert_eq!((m.state, m.attempts, m.last_error), (MessageState::Delivered, 0, None));
    }

    #[tokio::test]
    async fn messaging_delivered_once_is_not_sent_again() {
        let (base, rx) = receiver().await;
        let f = Fixture::new();
        let a = f.tenant("tenant-a", Some(KEY));
        f.queue(&a, "m1", &format!("{base}/ok"));
        let d = f.deliverer();
        assert_eq!(d.deliver_due().await.unwrap().delivered, 1);
        for _ in 0..3 {
            f.clock.advance(3600);
            assert_eq!(d.deliver_due().await.unwrap(), DeliveryReport::default());
        }
        assert_eq!(rx.all().len(), 1);
    }

    #[tokio::test]
    async fn messaging_failures_back_off_then_go_dead() {
        let (base, rx) = receiver().await;
        let f = Fixture::new();
        let a = f.tenant("tenant-a", Some(KEY));
        f.queue(&a, "m1", &format!("{base}/fail"));
        let d = f.deliverer().with_max_attempts(3).with_backoff_base_secs(10);

        assert_eq!(d.deliver_due().await.unwrap(), DeliveryReport { delivered: 0, retried: 1, dead: 0 });
        let m = f.get(&a, "m1");
        assert_eq!((m.state, m.attempts, m.next_attempt), (MessageState::Pending, 1, T0 + 10));
        assert_eq!(m.last_error.as_deref(), Some("the receiver answered HTTP 500"));

        // Not before next_attempt.
        f.clock.advance(9);
        assert_eq!(d.deliver_due().await.unwrap(), DeliveryReport::default());
        assert_eq!(rx.all().len(), 1);
        f.clock.advance(1);
        assert_eq!(d.deliver_due().await.unwrap().retried, 1);
        let m = f.get(&a, "m1");
        assert_eq!((m.attempts, m.next_attempt), (2, T0 + 10 + 20));

        f.clock.advance(19);
        assert_eq!(d.deliver_due().await.unwrap(), DeliveryReport::default());
        f.clock.advance(1);
        assert_eq!(d.deliver_due().await.unwrap(), DeliveryReport { delivered: 0, retried: 0, dead: 1 });
        let m = f.get(&a, "m1");
        assert_eq!((m.state, m.attempts), (MessageState::Dead, 3));

        // Dead is final.
        f.clock.advance(100_000);
        assert_eq!(d.deliver_due().await.unwrap(), DeliveryReport::default());
        assert_eq!(rx.all().len(), 3);
        assert!(rx.all().iter().all(|h| h.path == "/fail"));
    }

    #[tokio::test]
    async fn messaging_without_signing_key_is_not_sent_until_set() {
        let (base, rx) = receiver().await;
        let f = Fixture::new();
        let a = f.tenant("tenant-a", None);
        f.queue(&a, "m1", &format!("{base}/ok"));
        // Another tenant has a policy without any signing secret.
        let b = TenantId::parse("tenant-b").unwrap();
        f.set_key("tenant-b", KEY); // a key, but the policy names none
        f.queue(&b, "m2", &format!("{base}/ok"));
        let d = f.deliverer();

        assert_eq!(d.deliver_due().await.unwrap(), DeliveryReport { delivered: 0, retried: 2, dead: 0 });
        assert!(rx.all().is_empty(), "nothing unsigned is sent");
        let m = f.get(&a, "m1");
        assert_eq!(m.state, MessageState::Pending);
        assert_eq!(
            m.last_error.as_deref(),
            Some("no signing key: the tenant secret \"HOOK_KEY\" is not set")
        );
        let m = f.get(&b, "m2");
        assert!(m.last_error.unwrap().contains("messaging.signing_secret"));

        // The secret is set later: the retry delivers.
        f.set_key("tenant-a", KEY);
        f.clock.advance(10);
        assert_eq!(d.deliver_due().await.unwrap().delivered, 1);
        let hooks = rx.all();
        assert_eq!(hooks.len(), 1);
        assert!(verify(KEY, T0 + 10, &hooks[0].body, &hooks[0].headers[SIGNATURE_HEADER]));
        assert_eq!(f.get(&a, "m1").state, MessageState::Delivered);
    }

    #[tokio::test]
    async fn messaging_redirects_are_not_followed() {
        let (base, rx) = receiver().await;
        let f = Fixture::new();
        let a = f.tenant("tenant-a", Some(KEY));
        f.queue(&a, "m1", &format!("{base}/redirect"));
        assert_eq!(f.deliverer().deliver_due().await.unwrap().retried, 1);
        let paths: Vec<String> = rx.all().into_iter().map(|h| h.path).collect();
        assert_eq!(paths, ["/redirect"]);
        assert!(f.get(&a, "m1").last_error.unwrap().contains("HTTP 307"));
    }

    #[tokio::test]
    async fn messaging_unreachable_receiver_is_a_failed_attempt() {
        let f = Fixture::new();
        let a = f.tenant("tenant-a", Some(KEY));
        // Bind then drop a listener: nothing listens on that port.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        f.queue(&a, "m1", &format!("http://127.0.0.1:{port}/hook"));
        assert_eq!(f.deliverer().deliver_due().await.unwrap().retried, 1);
        let e = f.get(&a, "m1").last_error.unwrap();
        assert!(e.starts_with("the request failed") && !e.contains("127.0.0.1"), "{e}");
    }
}
