//! The writers: ten threads at once, each driving one kind of acknowledged
//! write at the gateway until the kill (or its share of writes is done).
//! Every write is recorded in the model before it is sent and marked
//! acknowledged only once its 2xx answer has been read in full; one refused
//! a connection never reached the gateway and is marked absent.
//!
//! Over a cluster each write goes to one of the replicas, picked at random:
//! a replica that does not own the write's tenant forwards it. There a 503
//! `tenant-unavailable` (the owner is dead and its lease not yet lapsed, or
//! a stale owner's write refused by the fence) is a write that did not
//! happen, and is marked absent — except the one that says it may have
//! taken effect (the owner's connection broke after the write was sent),
//! which stays in flight.

use super::model::{Fate, Item, Model, Slot, TenantRec};
use super::rng::Rng;
use crate::harness::{ADMIN_KEY, Body, Lost, install_body, try_req_at};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The most writes one writer makes in a round.
const MAX_OPS: usize = 120;
/// The writers of a round (what they write, the tag of their tenants).
const WRITERS: [(&str, &str); 10] = [
    ("tenants", "a"),
    ("tenants", "b"),
    ("memory", "a"),
    ("memory", "b"),
    ("secrets", "a"),
    ("cron", "a"),
    ("installs", "a"),
    ("installs", "b"),
    ("deletes", "a"),
    ("deletes", "b"),
];
/// Skills the installs writer installs (each checked by an invoke).
const INSTALLED: [&str; 4] = ["echo", "counter", "notes", "memget"];

/// Before the first kill: every skill the writers install, installed once
/// in tenant `c-warm` (see [`Writer::warm`]); panics if any write fails.
pub(super) fn warm(addr: SocketAddr, seed: u64, model: &Arc<Mutex<Model>>) {
    warm_as(addr, seed, model, "c-");
}

/// [`warm`] with tenant `<prefix>warm` (a cluster warms each replica's
/// compiled cache through a tenant of its own).
pub(super) fn warm_as(addr: SocketAddr, seed: u64, model: &Arc<Mutex<Model>>, prefix: &str) {
    let mut writer =
        Writer { targets: vec![addr], rng: Rng(seed), model: model.clone(), prefix: prefix.into(), ops: 0 };
    assert!(writer.warm().is_ok(), "the warm-up installs");
}

/// Starts round `round`'s writers ([`WRITERS`]) on threads, sending to
/// `targets` (one gateway, or the replicas of a cluster); each ends when
/// a gateway is gone or its share of writes is done.
pub(super) fn start_round(
    targets: &[SocketAddr],
    seed: u64,
    round: usize,
    model: &Arc<Mutex<Model>>,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    for (w, (name, tag)) in WRITERS.into_iter().enumerate() {
        let mut writer = Writer {
            targets: targets.to_vec(),
            rng: Rng(seed ^ ((round as u64) << 8 | w as u64).wrapping_mul(0x2545_f491_4f6c_dd1d)),
            model: model.clone(),
            prefix: format!("c{round}-{tag}"),
            ops: 0,
        };
        handles.push(std::thread::spawn(move || {
            // Every writer ends with `Gone`: the kill, or its share of writes done.
            let _ = match name {
                "tenants" => writer.tenants(),
                "memory" => writer.memory(),
                "secrets" => writer.secrets(),
                "cron" => writer.cron(),
                "installs" => writer.installs(),
                _ => writer.deletes(),
            };
        }));
    }
    handles
}

/// One writer: its generator, the gateway (or replicas), the shared model.
struct Writer {
    targets: Vec<SocketAddr>,
    rng: Rng,
    model: Arc<Mutex<Model>>,
    /// Of its tenants' ids: `c<round>-<tag>`.
    prefix: String,
    ops: usize,
}

/// The writer stops: the gateway is gone.
struct Gone;

impl Writer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the next request goes: the gateway, or a replica at random.
    fn target(&mut self) -> SocketAddr {
        match self.targets.len() {
            1 => self.targets[0],
            n => self.targets[self.rng.below(n)],
        }
    }

    /// Sends a write already recorded at `slot` (in flight); marks it
    /// acknowledged on a whole 2xx answer, which it returns. Any other
    /// whole answer is a bug of the test or the gateway: a panic (over a
    /// cluster, a 503 `tenant-unavailable`: see the module's comment).
    fn write(&mut self, slot: Slot, method: &str, path: &str, cred: &str, body: Body) -> Result<Value, Gone> {
        self.ops += 1;
        let addr = self.target();
        match try_req_at(addr, method, path, Some(cred), &[], body) {
            Ok(r) if (200..300).contains(&r.status) => {
                *self.lock().fate(slot) = Fate::Acked;
                Ok(serde_json::from_str(&r.text).unwrap_or(Value::Null))
            }
            Ok(r) if self.targets.len() > 1 && r.status == 503 => {
                let (code, message) = crate::harness::error_shape(&r.text)
                    .unwrap_or_else(|e| panic!("{method} {path} → 503 {e}: {}", r.text));
                assert!(
                    matches!(code.as_str(), "tenant-unavailable" | "tenant-moved"),
                    "{method} {path}: {r:?}"
                );
                if !message.contains("may have taken effect") {
                    let mut m = self.lock();
                    *m.fate(slot) = Fate::Absent;
                    m.unsent += 1;
                }
                Err(Gone)
            }
            Ok(r) => panic!("{method} {path} → {} {}", r.status, r.text),
            Err(Lost { connected: false, .. }) => {
                // Refused: the gateway is gone and never saw it.
                let mut m = self.lock();
                *m.fate(slot) = Fate::Absent;
                m.unsent += 1;
                Err(Gone)
            }
            Err(Lost { connected: true, .. }) => Err(Gone),
        }
    }

    /// Records `item` (in flight) in the list `list` picks; its index.
    fn record(&self, list: fn(&mut Model) -> &mut Vec<Item>, item: Item) -> usize {
        let mut m = self.lock();
        let items = list(&mut m);
        items.push(item);
        items.len() - 1
    }

    fn pause(&mut self) -> Result<(), Gone> {
        if self.ops >= MAX_OPS {
            return Err(Gone);
        }
        std::thread::sleep(Duration::from_millis(self.rng.range(2, 15)));
        Ok(())
    }

    fn create_tenant(&mut self, id: &str) -> Result<usize, Gone> {
        let i = {
            let mut m = self.lock();
            m.tenants.push(TenantRec {
                id: id.into(),
                create: Fate::InFlight,
                status: Vec::new(),
                delete: None,
            });
            m.tenants.len() - 1
        };
        self.write(Slot::Tenant(i), "POST", "/v1/tenants", ADMIN_KEY, Body::Json(json!({ "id": id })))?;
        Ok(i)
    }

    fn mint(&mut self, tenant: &str, name: &str) -> Result<usize, Gone> {
        let i = self.record(|m| &mut m.tokens, Item::new(tenant, name));
        let path = format!("/v1/tenants/{tenant}/tokens");
        let v = self.write(
            Slot::Token(i),
            "POST",
            &path,
            ADMIN_KEY,
            Body::Json(json!({"role": "member", "name": name})),
        )?;
        let mut m = self.lock();
        m.tokens[i].id = v["id"].as_str().map(str::to_string);
        m.tokens[i].secret = v["token"].as_str().map(str::to_string);
        Ok(i)
    }

    /// A tenant with a member token (for invokes).
    fn tenant_with_member(&mut self, id: &str) -> Result<(usize, String), Gone> {
        let t = self.create_tenant(id)?;
        let i = self.mint(id, "member")?;
        let mut m = self.lock();
        let token = m.tokens[i].secret.clone().expect("a minted token");
        m.members.insert(id.to_string(), token.clone());
        Ok((t, token))
    }

    fn install(&mut self, tenant: &str, skill: &str) -> Result<(), Gone> {
        let i = self.record(|m| &mut m.installs, Item::new(tenant, skill));
        let path = format!("/v1/tenants/{tenant}/skills");
        self.write(Slot::Install(i), "POST", &path, ADMIN_KEY, Body::Json(install_body(skill, false)))?;
        Ok(())
    }

    /// The policy that lets `reminder` schedule (four jobs).
    fn cron_policy(&mut self, tenant: &str) -> Result<(), Gone> {
        let i = self.record(|m| &mut m.policies, Item::new(tenant, "4"));
        let policy = json!({"cron": {"max_jobs": 4, "min_interval_secs": 60}});
        let path = format!("/v1/tenants/{tenant}/policy");
        self.write(Slot::Policy(i), "PUT", &path, ADMIN_KEY, Body::Json(policy))?;
        Ok(())
    }

    /// Tenants and their status; tokens minted and revoked.
    fn tenants(&mut self) -> Result<(), Gone> {
        let p = self.prefix.clone();
        let tok = format!("{p}tok");
        self.create_tenant(&tok)?;
        let mut mine: Vec<(usize, bool)> = Vec::new();
        let mut tokens: Vec<usize> = Vec::new();
        for n in 0.. {
            self.pause()?;
            let roll = self.rng.below(100);
            if roll < 25 || mine.is_empty() {
                let i = self.create_tenant(&format!("{p}t{n}"))?;
                mine.push((i, false));
            } else if roll < 55 {
                let k = self.rng.below(mine.len());
                let (i, suspended) = mine[k];
                let j = {
                    let mut m = self.lock();
                    m.tenants[i].status.push((!suspended, Fate::InFlight));
                    m.tenants[i].status.len() - 1
                };
                let id = self.lock().tenants[i].id.clone();
                let action = if suspended { "resume" } else { "suspend" };
                self.write(
                    Slot::Status(i, j),
                    "POST",
                    &format!("/v1/tenants/{id}/{action}"),
                    ADMIN_KEY,
                    Body::None,
                )?;
                mine[k].1 = !suspended;
            } else if roll < 85 || tokens.is_empty() {
                tokens.push(self.mint(&tok, &format!("k{n}"))?);
            } else {
                let i = tokens.swap_remove(self.rng.below(tokens.len()));
                let id = {
                    let mut m = self.lock();
                    m.tokens[i].del = Some(Fate::InFlight);
                    m.tokens[i].id.clone().expect("an acknowledged token's id")
                };
                self.write(
                    Slot::Revoke(i),
                    "DELETE",
                    &format!("/v1/tenants/{tok}/tokens/{id}"),
                    ADMIN_KEY,
                    Body::None,
                )?;
            }
        }
        Ok(())
    }

    /// Notes added (memory sets of whole texts) and deleted.
    fn memory(&mut self) -> Result<(), Gone> {
        let t = format!("{}mem", self.prefix);
        let (_, member) = self.tenant_with_member(&t)?;
        self.install(&t, "notes")?;
        let mut added: Vec<usize> = Vec::new();
        for n in 0.. {
            self.pause()?;
            if self.rng.chance(12) && !added.is_empty() {
                let i = added.swap_remove(self.rng.below(added.len()));
                let id = {
                    let mut m = self.lock();
                    m.notes[i].del = Some(Fate::InFlight);
                    m.notes[i].id.clone().expect("an acknowledged note's id")
                };
                let path = format!("/v1/tenants/{t}/memory/note:{id}");
                self.write(Slot::NoteDel(i), "DELETE", &path, ADMIN_KEY, Body::None)?;
                continue;
            }
            let len = self.rng.range(1, 6000) as usize;
            let text = format!("<{}-{n}:{}>", t, self.rng.text(len));
            let i = self.record(|m| &mut m.notes, Item::new(&t, text.clone()));
            let v = self.write(
                Slot::Note(i),
                "POST",
                "/v1/skills/notes/invoke",
                &member,
                Body::Json(json!({"op": "add", "text": text})),
            )?;
            let id = v["output"]["id"].as_str().expect("a note id").to_string();
            self.lock().notes[i].id = Some(id);
            added.push(i);
        }
        Ok(())
    }

    /// Secrets written (each checked later through a webhook channel of an
    /// agent, which is created first).
    fn secrets(&mut self) -> Result<(), Gone> {
        let t = format!("{}sec", self.prefix);
        self.create_tenant(&t)?;
        let i = self.record(|m| &mut m.agents, Item::new(&t, "a"));
        let agent =
            json!({"name": "a", "provider": "dead", "model": "m", "skills": [], "system_prompt": "x"});
        self.write(Slot::Agent(i), "POST", &format!("/v1/tenants/{t}/agents"), ADMIN_KEY, Body::Json(agent))?;
        for n in 0.. {
            self.pause()?;
            let len = self.rng.range(1, 512) as usize;
            let value = self.rng.text(len);
            let name = format!("S{n}");
            let item = Item { secret: Some(value.clone()), ..Item::new(&t, &name) };
            let i = self.record(|m| &mut m.secrets, item);
            let path = format!("/v1/tenants/{t}/secrets/{name}");
            self.write(
                Slot::Secret(i),
                "PUT",
                &path,
                ADMIN_KEY,
                Body::Raw("application/octet-stream", value.into_bytes()),
            )?;
        }
        Ok(())
    }

    /// Cron: a policy, the reminder, four jobs and one removal per tenant.
    fn cron(&mut self) -> Result<(), Gone> {
        for k in 0.. {
            let t = format!("{}cron{k}", self.prefix);
            let (_, member) = self.tenant_with_member(&t)?;
            self.cron_policy(&t)?;
            self.install(&t, "reminder")?;
            let mut added = Vec::new();
            for n in 0..4 {
                self.pause()?;
                let text = format!("{t}-j{n}-{}", self.rng.text(16));
                let i = self.record(|m| &mut m.jobs, Item::new(&t, text.clone()));
                // A month apart: no job fires during the test.
                let input = json!({"op": "add", "text": text, "every_seconds": 30 * 86400});
                let v = self.write(
                    Slot::Job(i),
                    "POST",
                    "/v1/skills/reminder/invoke",
                    &member,
                    Body::Json(input),
                )?;
                let id = v["output"]["job_id"].as_str().expect("a job id").to_string();
                self.lock().jobs[i].id = Some(id);
                added.push(i);
            }
            self.pause()?;
            let i = added[self.rng.below(added.len())];
            let id = {
                let mut m = self.lock();
                m.jobs[i].del = Some(Fate::InFlight);
                m.jobs[i].id.clone().unwrap()
            };
            self.write(
                Slot::JobDel(i),
                "DELETE",
                &format!("/v1/tenants/{t}/cron/{id}"),
                ADMIN_KEY,
                Body::None,
            )?;
        }
        Ok(())
    }

    /// Tenants with a token, a skill, a note and a file, then deleted.
    fn deletes(&mut self) -> Result<(), Gone> {
        for k in 0.. {
            let t = format!("{}d{k}", self.prefix);
            let (i, member) = self.tenant_with_member(&t)?;
            self.install(&t, "notes")?;
            self.pause()?;
            let text = format!("<{t}:{}>", self.rng.text(64));
            let n = self.record(|m| &mut m.notes, Item::new(&t, text.clone()));
            let input = Body::Json(json!({"op": "add", "text": text}));
            let v = self.write(Slot::Note(n), "POST", "/v1/skills/notes/invoke", &member, input)?;
            self.lock().notes[n].id = v["output"]["id"].as_str().map(str::to_string);
            // A file in the tenant's directory (not a write the model follows).
            self.ops += 1;
            let export = Body::Json(json!({"op": "export"}));
            let addr = self.target();
            match try_req_at(addr, "POST", "/v1/skills/notes/invoke", Some(&member), &[], export) {
                Ok(r) if r.status != 503 => {}
                _ => return Err(Gone),
            }
            self.pause()?;
            self.lock().tenants[i].delete = Some(Fate::InFlight);
            self.write(Slot::Delete(i), "DELETE", &format!("/v1/tenants/{t}"), ADMIN_KEY, Body::None)?;
        }
        Ok(())
    }

    /// Before the first kill: every skill the writers install, installed
    /// once (compiling a component takes longer than a round may run; the
    /// compiled cache makes the later installs quick).
    fn warm(&mut self) -> Result<(), Gone> {
        let t = format!("{}warm", self.prefix);
        self.tenant_with_member(&t)?;
        self.cron_policy(&t)?;
        for skill in INSTALLED.into_iter().chain(["reminder"]) {
            self.install(&t, skill)?;
        }
        Ok(())
    }

    /// Signed packages installed, four skills per tenant in a random order.
    fn installs(&mut self) -> Result<(), Gone> {
        for k in 0.. {
            let t = format!("{}ins{k}", self.prefix);
            self.tenant_with_member(&t)?;
            let mut skills = INSTALLED.to_vec();
            while !skills.is_empty() {
                self.pause()?;
                let skill = skills.swap_remove(self.rng.below(skills.len()));
                self.install(&t, skill)?;
            }
        }
        Ok(())
    }
}
