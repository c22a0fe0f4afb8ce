//! The `wasmclaw:skill/messaging` capability: a skill queues a message for
//! one of its tenant's contacts; the host delivers it later
//! ([`crate::messaging::Deliverer`]).
//!
//! Security properties:
//!
//! - A skill names a contact, never an address. The contact is looked up by
//!   exact name among the contacts granted to this skill for this call's
//!   tenant, and the stored message carries that contact's URL. A string
//!   that looks like an address (`http://…`, `+1555…`, `a@b`) or names
//!   another tenant's contact is just an unknown name: `denied`, with the
//!   same text whether the name exists elsewhere or nowhere, so a skill
//!   cannot probe other tenants' contacts.
//! - `status` reads only the call's tenant's messages: another tenant's
//!   message id is `not-found`, exactly like an id that never existed.
//! - Bodies are bounded by the tenant's `messaging.max_body_bytes` (itself
//!   at most [`crate::policy::MAX_MESSAGE_BYTES`]) and sending is
//!   rate-limited per tenant (`messaging.per_minute`), before anything is
//!   stored. Refused calls (unknown contact, oversized body) do not spend
//!   the rate budget.
//! - The body is passed through the call's scrubber (when the call can
//!   reach secrets) before it is stored, so a secret value the skill read
//!   does not leave in a message.
//! - The guest never sees the signing key, the contact's URL or the
//!   receiver's answer: only the message id and its delivery state.

use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::messaging as wit;
use crate::clock::SharedClock;
use crate::ids::TenantId;
use crate::policy::{Channel, Contact, MAX_MESSAGE_BYTES, MessagingPolicy};
use crate::ratelimit::RateLimiter;
use crate::records::{Message, MessageState};
use crate::redact::Scrub;
use crate::store::{Db, StoreError};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest contact name echoed back in an error, in characters.
const MAX_SHOWN_NAME: usize = 64;

/// The messaging capability of one call.
pub struct MessagingCtx {
    access: Result<Access, String>,
    audit: crate::caps::CallAudit,
    debt: crate::caps::FuelDebt,
}

struct Access {
    db: Arc<Db>,
    tenant: TenantId,
    skill: String,
    contacts: Vec<Contact>,
    policy: MessagingPolicy,
    limiter: Arc<RateLimiter>,
    clock: SharedClock,
    scrub: Option<Scrub>,
}

impl MessagingCtx {
    /// Messaging for `skill` of `tenant`: it may message `contacts` (the
    /// grant's, all of `tenant`), within `policy`'s body size and rate
    /// (counted in `limiter`, shared by the tenant's calls), with bodies
    /// passed through `scrub` when given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Arc<Db>,
        tenant: TenantId,
        skill: String,
        contacts: Vec<Contact>,
        policy: MessagingPolicy,
        limiter: Arc<RateLimiter>,
        clock: SharedClock,
        scrub: Option<Scrub>,
    ) -> Self {
        MessagingCtx {
            access: Ok(Access { db, tenant, skill, contacts, policy, limiter, clock, scrub }),
            audit: Default::default(),
            debt: Default::default(),
        }
    }

    /// Charges this context's work to `debt`.
    pub fn with_debt(mut self, debt: crate::caps::FuelDebt) -> Self {
        self.debt = debt;
        self
    }

    /// Notes this context's refusals in `audit`.
    pub fn with_audit(mut self, audit: crate::caps::CallAudit) -> Self {
        self.audit = audit;
        self
    }

    /// A context in which every call returns `denied` with `reason`.
    pub fn denied(reason: impl Into<String>) -> Self {
        MessagingCtx { access: Err(reason.into()), audit: Default::default(), debt: Default::default() }
    }

    fn access(&self) -> Result<&Access, WitError> {
        let r = self.access.as_ref().map_err(|reason| WitError::Denied(reason.clone()));
        self.audit.check("messaging", r)
    }
}

/// `name` as it may appear in an error: bounded, control characters
/// replaced.
fn shown(name: &str) -> String {
    let mut s: String =
        name.chars().take(MAX_SHOWN_NAME).map(|c| if c.is_control() { '?' } else { c }).collect();
    if name.chars().count() > MAX_SHOWN_NAME {
        s.push('…');
    }
    s
}

fn store_error(e: StoreError) -> WitError {
    tracing::error!(error = %e, "messaging capability: storage failure");
    WitError::Unavailable("storage is unavailable".into())
}

/// A new message id: 16 random bytes from the OS-seeded CSPRNG, hex.
fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl wit::Host for MessagingCtx {
    fn contacts(&mut self) -> Result<Vec<String>, WitError> {
        let a = self.access()?;
        let mut names: Vec<String> = a.contacts.iter().map(|c| c.name.clone()).collect();
        self.debt.charge_work(names.iter().map(|n| n.len() as u64).sum(), names.len() as u64);
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn send(&mut self, contact: String, body: String) -> Result<String, WitError> {
        self.debt.charge_work(body.len() as u64, 1);
        let a = self.access()?;
        // Exact match on a granted name; nothing else can select a recipient.
        let Some(c) = a.contacts.iter().find(|c| c.name == contact) else {
            let e = WitError::Denied(format!("no contact named {:?} for this tenant", shown(&contact)));
            return self.audit.check("messaging", Err(e));
        };
        match c.channel {
            Channel::Webhook => {}
        }
        let max = a.policy.max_body_bytes.min(MAX_MESSAGE_BYTES) as usize;
        if body.len() > max {
            return Err(WitError::Invalid(format!("the body is {} bytes, the most is {max}", body.len())));
        }
        if !a.limiter.try_take(&a.tenant, a.policy.per_minute) {
            return Err(WitError::LimitExceeded(format!(
                "this tenant may send {} messages per minute",
                a.policy.per_minute
            )));
        }
        let body = match &a.scrub {
            Some(scrub) => scrub(&body),
            None => body,
        };
        let now = a.clock.now();
        let m = Message {
            id: new_id(),
            tenant: a.tenant.clone(),
            skill: a.skill.clone(),
            contact: c.name.clone(),
            url: c.url.clone(),
            body,
            created: now,
            state: MessageState::Pending,
            attempts: 0,
            next_attempt: now,
            last_error: None,
        };
        let id = m.id.clone();
        a.db.run(&a.tenant, move |db| db.outbox_put(&m)).await.map_err(store_error)?;
        Ok(id)
    }

    async fn status(&mut self, message_id: String) -> Result<wit::DeliveryState, WitError> {
        self.debt.charge_work(message_id.len() as u64, 1);
        let a = self.access()?;
        let not_found = || WitError::NotFound("no message with this id for this tenant".into());
        let tenant = a.tenant.clone();
        match a.db.run(&a.tenant, move |db| db.outbox_get(&tenant, &message_id)).await.map_err(store_error)? {
            None => Err(not_found()),
            Some(m) => Ok(match m.state {
                MessageState::Pending => wit::DeliveryState::Pending,
                MessageState::Delivered => wit::DeliveryState::Delivered,
                MessageState::Dead => wit::DeliveryState::Dead,
            }),
        }
    }
}

struct HasMessaging;

impl HasData for HasMessaging {
    type Data<'a> = &'a mut MessagingCtx;
}

/// Adds `wasmclaw:skill/messaging` to `linker`, reaching each call's context
/// through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut MessagingCtx,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasMessaging>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use wit::Host;

    const T0: u64 = 1_700_000_000;

    struct Fixture {
        _dir: tempfile::TempDir,
        db: Arc<Db>,
        limiter: Arc<RateLimiter>,
        clock: ManualClock,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let db = Arc::new(Db::open(&dir.path().join("db.redb")).unwrap());
            let clock = ManualClock::new(T0);
            let limiter = Arc::new(RateLimiter::new(Arc::new(clock.clone())));
            Fixture { _dir: dir, db, limiter, clock }
        }

        fn ctx_with(&self, tenant: &str, contacts: &[(&str, &str)], policy: MessagingPolicy) -> MessagingCtx {
            let contacts = contacts
                .iter()
                .map(|(name, url)| Contact {
                    name: name.to_string(),
                    channel: Channel::Webhook,
                    url: url.to_string(),
                    peer: None,
                })
                .collect();
            MessagingCtx::new(
                self.db.clone(),
                TenantId::parse(tenant).unwrap(),
                "notify".into(),
                contacts,
                policy,
                self.limiter.clone(),
                Arc::new(self.clock.clone()),
                None,
            )
        }

        fn ctx(&self, tenant: &str, contacts: &[(&str, &str)]) -> MessagingCtx {
            self.ctx_with(tenant, contacts, MessagingPolicy::default())
        }

        fn stored(&self, tenant: &str, id: &str) -> Message {
            self.db.outbox_get(&TenantId::parse(tenant).unwrap(), id).unwrap().unwrap()
        }
    }

    const A_HOOK: &str = "https://a.example/hook";
    const B_HOOK: &str = "https://b.example/hook";

    fn is_denied<T: std::fmt::Debug>(r: Result<T, WitError>) -> bool {
        matches!(r, Err(WitError::Denied(_)))
    }

    #[tokio::test]
    async fn messaging_allowed_send_then_status() {
        let f = Fixture::new();
        let mut m = f.ctx("tenant-a", &[("ops", A_HOOK), ("alerts", A_HOOK)]);
        assert_eq!(m.contacts().unwrap(), ["alerts", "ops"]);
        let id = m.send("ops".into(), "disk full".into()).await.unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(m.status(id.clone()).await.unwrap(), wit::DeliveryState::Pending);
        let s = f.stored("tenant-a", &id);
        assert_eq!(
            (s.skill.as_str(), s.contact.as_str(), s.url.as_str(), s.body.as_str()),
            ("notify", "ops", A_HOOK, "disk full")
        );
        assert_eq!(
            (s.state.clone(), s.attempts, s.created, s.next_attempt),
            (MessageState::Pending, 0, T0, T0)
        );
        // Ids are fresh.
        assert_ne!(m.send("ops".into(), "again".into()).await.unwrap(), id);
        // The state follows the store.
        let mut s = s;
        s.state = MessageState::Delivered;
        f.db.outbox_update(&s).unwrap();
        assert_eq!(m.status(id).await.unwrap(), wit::DeliveryState::Delivered);
    }

    #[tokio::test]
    async fn messaging_unknown_contacts_and_addresses_are_denied() {
        let f = Fixture::new();
        let mut m = f.ctx("tenant-a", &[("ops", A_HOOK)]);
        for target in [
            "nobody",
            "OPS",
            "ops ",
            "",
            A_HOOK,
            "http://127.0.0.1:9/hook",
            "+15551234567",
            "ops@example.com",
            "../ops",
            "tenant-b/ops",
            "ops\0",
        ] {
            let r = m.send(target.into(), "x".into()).await;
            match r {
                Err(WitError::Denied(e)) => assert!(e.starts_with("no contact named"), "{target:?}: {e}"),
                other => panic!("{target:?}: {other:?}"),
            }
        }
        assert!(f.db.outbox_list(&TenantId::parse("tenant-a").unwrap(), "", 10).unwrap().is_empty());
        // The error text is bounded and printable.
        let Err(WitError::Denied(e)) = m.send(format!("\n{}", "x".repeat(10_000)), "x".into()).await else {
            panic!("not denied")
        };
        assert!(e.len() < 200 && !e.contains('\n'), "{e}");
    }

    #[tokio::test]
    async fn messaging_denied_context_and_no_contacts() {
        let f = Fixture::new();
        let mut d = MessagingCtx::denied("messaging is not granted");
        assert!(matches!(d.contacts(), Err(WitError::Denied(ref s)) if s == "messaging is not granted"));
        assert!(is_denied(d.send("ops".into(), "x".into()).await));
        assert!(is_denied(d.status("0".repeat(32)).await));
        let mut none = f.ctx("tenant-a", &[]);
        assert_eq!(none.contacts().unwrap(), Vec::<String>::new());
        assert!(is_denied(none.send("ops".into(), "x".into()).await));
    }

    #[tokio::test]
    async fn messaging_is_isolated_between_tenants() {
        let f = Fixture::new();
        let mut a = f.ctx("tenant-a", &[("ops", A_HOOK)]);
        let mut b = f.ctx("tenant-b", &[("b-ops", B_HOOK)]);
        let a_id = a.send("ops".into(), "for a".into()).await.unwrap();
        // B cannot read A's message state, nor message A's contact.
        assert!(matches!(b.status(a_id.clone()).await, Err(WitError::NotFound(_))));
        assert!(matches!(b.status("f".repeat(32)).await, Err(WitError::NotFound(_))));
        let Err(WitError::Denied(e_exists)) = b.send("ops".into(), "x".into()).await else { panic!() };
        let Err(WitError::Denied(e_nowhere)) = b.send("opz".into(), "x".into()).await else { panic!() };
        assert_eq!(
            e_exists.replace("ops", "opz"),
            e_nowhere,
            "same answer whether it exists elsewhere or not"
        );
        // B's own contact named like A's resolves to B's own URL.
        let mut b2 = f.ctx("tenant-b", &[("ops", B_HOOK)]);
        let b_id = b2.send("ops".into(), "for b".into()).await.unwrap();
        assert_eq!(f.stored("tenant-b", &b_id).url, B_HOOK);
        assert_eq!(f.stored("tenant-a", &a_id).url, A_HOOK);
        assert!(matches!(a.status(b_id).await, Err(WitError::NotFound(_))));
        assert_eq!(a.status(a_id).await.unwrap(), wit::DeliveryState::Pending);
    }

    #[tokio::test]
    async fn messaging_body_too_large_is_invalid() {
        let f = Fixture::new();
        let policy = MessagingPolicy { max_body_bytes: 10, ..Default::default() };
        let mut m = f.ctx_with("tenant-a", &[("ops", A_HOOK)], policy);
        assert!(matches!(m.send("ops".into(), "x".repeat(11)).await, Err(WitError::Invalid(_))));
        m.send("ops".into(), "x".repeat(10)).await.unwrap();
        // The policy cannot raise the bound past the global maximum.
        let policy = MessagingPolicy { max_body_bytes: u32::MAX, ..Default::default() };
        let mut m = f.ctx_with("tenant-a", &[("ops", A_HOOK)], policy);
        let big = "x".repeat(MAX_MESSAGE_BYTES as usize + 1);
        assert!(matches!(m.send("ops".into(), big).await, Err(WitError::Invalid(_))));
    }

    #[tokio::test]
    async fn messaging_rate_limit_is_per_tenant() {
        let f = Fixture::new();
        let policy = MessagingPolicy { per_minute: 3, ..Default::default() };
        let mut a = f.ctx_with("tenant-a", &[("ops", A_HOOK)], policy.clone());
        // Refused sends do not spend the budget.
        assert!(is_denied(a.send("nobody".into(), "x".into()).await));
        for _ in 0..3 {
            a.send("ops".into(), "x".into()).await.unwrap();
        }
        assert!(matches!(a.send("ops".into(), "x".into()).await, Err(WitError::LimitExceeded(_))));
        // The budget is the tenant's, across calls (contexts)...
        let mut a2 = f.ctx_with("tenant-a", &[("ops", A_HOOK)], policy.clone());
        assert!(matches!(a2.send("ops".into(), "x".into()).await, Err(WitError::LimitExceeded(_))));
        // ...not shared with another tenant.
        let mut b = f.ctx_with("tenant-b", &[("ops", B_HOOK)], policy);
        b.send("ops".into(), "x".into()).await.unwrap();
        f.clock.advance(20);
        a.send("ops".into(), "x".into()).await.unwrap();
        assert_eq!(f.db.outbox_list(&TenantId::parse("tenant-a").unwrap(), "", 100).unwrap().len(), 4);
    }

    #[tokio::test]
    async fn messaging_scrub_is_applied_to_the_stored_body() {
        let f = Fixture::new();
        let scrub: Scrub = Arc::new(|s: &str| s.replace("hunter2", "[REDACTED]"));
        let mut m = MessagingCtx::new(
            f.db.clone(),
            TenantId::parse("tenant-a").unwrap(),
            "notify".into(),
            vec![Contact { name: "ops".into(), channel: Channel::Webhook, url: A_HOOK.into(), peer: None }],
            MessagingPolicy::default(),
            f.limiter.clone(),
            Arc::new(f.clock.clone()),
            Some(scrub),
        );
        let id = m.send("ops".into(), "the password is hunter2".into()).await.unwrap();
        assert_eq!(f.stored("tenant-a", &id).body, "the password is [REDACTED]");
    }
}
