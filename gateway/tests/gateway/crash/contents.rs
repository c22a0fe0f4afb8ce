//! The checks of what the tenants hold (see `checks`): notes, secrets, cron
//! jobs, policies, agents, channels and skills, each present or absent as
//! written, with its exact value.

use super::checks::Verify;
use super::model::Model;
use crate::harness::{ADMIN_KEY, Body};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

impl Verify<'_> {
    /// Notes: every value at `note:` is one whole text written; each note is
    /// present or not as written, at the key its add answered.
    pub(super) fn notes(&mut self, m: &mut Model, alive: &BTreeSet<String>) {
        for t in m
            .notes
            .iter()
            .filter(|x| alive.contains(&x.tenant))
            .map(|n| n.tenant.clone())
            .collect::<BTreeSet<_>>()
        {
            let v = self.get_ok(&format!("/v1/tenants/{t}/memory?prefix=note:"));
            let mut at: BTreeMap<String, String> = BTreeMap::new();
            for e in v["entries"].as_array().expect("entries") {
                let (key, value) = (e["key"].as_str().unwrap(), e["value"].as_str().unwrap());
                if !m.notes.iter().any(|n| n.tenant == t && n.key == value) {
                    let shown: String = value.chars().take(60).collect();
                    self.fails.push(format!(
                        "note {key} of {t}: a value never written whole ({} bytes: {shown}…)",
                        value.len()
                    ));
                }
                at.insert(value.to_string(), key.to_string());
            }
            for n in m.notes.iter_mut().filter(|n| n.tenant == t) {
                let what = format!("note {:?} of {t}", n.id);
                let present = at.get(&n.key);
                if let (Some(id), Some(key)) = (&n.id, present)
                    && *key != format!("note:{id}")
                {
                    self.fails.push(format!("{what}: at {key}"));
                }
                self.judge(&what, &mut n.add, &mut n.del, present.is_some());
            }
        }
    }

    /// Secrets: listed by name; a listed one's value is exactly the one
    /// written: it signs a webhook to a channel naming it (a bad signature
    /// would be 401; this one gets as far as reading the body).
    pub(super) fn secrets(&mut self, m: &mut Model, alive: &BTreeSet<String>) {
        let mut wrong_checked = false;
        let mut nonce = 0u64;
        for t in m
            .secrets
            .iter()
            .filter(|x| alive.contains(&x.tenant))
            .map(|s| s.tenant.clone())
            .collect::<BTreeSet<_>>()
        {
            let v = self.get_ok(&format!("/v1/tenants/{t}/secrets"));
            let names: BTreeSet<String> = v["secrets"]
                .as_array()
                .expect("secrets")
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            for s in m.secrets.iter_mut().filter(|s| s.tenant == t) {
                let present = names.contains(&s.key);
                self.judge(&format!("secret {} of {t}", s.key), &mut s.add, &mut s.del, present);
                if !present || !self.sample(&t) {
                    continue;
                }
                let channel = format!("c-{}", s.key.to_lowercase());
                if m.channels.insert((t.clone(), channel.clone())) {
                    let spec = json!({"name": channel, "kind": "webhook", "agent": "a", "secret": s.key});
                    let path = format!("/v1/tenants/{t}/channels");
                    let (status, v) = self.check("POST", &path, Some(ADMIN_KEY), Body::Json(spec));
                    if status != 201 {
                        self.fails.push(format!("channel {channel} of {t}: {status} {v}"));
                        continue;
                    }
                }
                let value = s.secret.as_deref().unwrap();
                let gw = self.gw;
                let mut signed = |key: &[u8]| {
                    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
                    nonce += 1;
                    let body = format!("not json {nonce}");
                    let sig = wasmclaw::messaging::sign(key, ts, body.as_bytes());
                    let ts = ts.to_string();
                    let headers =
                        [("x-wasmclaw-timestamp", ts.as_str()), ("x-wasmclaw-signature", sig.as_str())];
                    let path = format!("/v1/inbound/{t}/{channel}");
                    let bytes = Body::Raw("application/octet-stream", body.into_bytes());
                    let r = gw.req_with("POST", &path, None, &headers, bytes);
                    (r.status, r.text)
                };
                let (status, text) = signed(value.as_bytes());
                if status != 400 {
                    self.fails
                        .push(format!("secret {} of {t}: its value does not sign ({status} {text})", s.key));
                }
                if !wrong_checked {
                    wrong_checked = true;
                    let (status, text) = signed(format!("{value}x").as_bytes());
                    assert_eq!(status, 401, "a wrong value must not sign: {text}");
                }
            }
        }
    }

    /// Cron jobs: each job's input is one written; jobs present as written.
    pub(super) fn jobs(&mut self, m: &mut Model, alive: &BTreeSet<String>) {
        for t in m
            .jobs
            .iter()
            .filter(|x| alive.contains(&x.tenant))
            .map(|j| j.tenant.clone())
            .collect::<BTreeSet<_>>()
        {
            let v = self.get_ok(&format!("/v1/tenants/{t}/cron"));
            let mut by_text: BTreeMap<String, String> = BTreeMap::new();
            for j in v["jobs"].as_array().expect("jobs") {
                let input = match &j["input"] {
                    Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                    other => other.clone(),
                };
                let text = input["text"].as_str().unwrap_or("").to_string();
                if !m.jobs.iter().any(|k| k.tenant == t && k.key == text) {
                    self.fails.push(format!("cron job {j} of {t}: never written"));
                }
                by_text.insert(text, j["id"].as_str().unwrap_or("").to_string());
            }
            for j in m.jobs.iter_mut().filter(|j| j.tenant == t) {
                let what = format!("cron job {} of {t}", j.key);
                let present = by_text.get(&j.key);
                if let (Some(id), Some(shown)) = (&j.id, present)
                    && id != shown
                {
                    self.fails.push(format!("{what}: id {shown}, added as {id}"));
                }
                self.judge(&what, &mut j.add, &mut j.del, present.is_some());
            }
        }
    }

    /// Policies, agents and the channels the secret checks made.
    pub(super) fn policies_agents_channels(&mut self, m: &mut Model, alive: &BTreeSet<String>) {
        for p in m.policies.iter_mut().filter(|p| alive.contains(&p.tenant)) {
            let v = self.get_ok(&format!("/v1/tenants/{}/policy", p.tenant));
            let present =
                v["cron"]["max_jobs"].as_u64().map(|n| n.to_string()).as_deref() == Some(p.key.as_str());
            self.judge(&format!("policy of {}", p.tenant), &mut p.add, &mut p.del, present);
        }
        for a in m.agents.iter_mut().filter(|a| alive.contains(&a.tenant)) {
            let path = format!("/v1/tenants/{}/agents/a", a.tenant);
            let (status, _) = self.check("GET", &path, Some(ADMIN_KEY), Body::None);
            self.judge(&format!("agent of {}", a.tenant), &mut a.add, &mut a.del, status == 200);
        }
        for (t, c) in m.channels.iter().filter(|(t, _)| alive.contains(t)) {
            let v = self.get_ok(&format!("/v1/tenants/{t}/channels"));
            if !v["channels"].as_array().expect("channels").iter().any(|x| x["name"] == c.as_str()) {
                self.fails.push(format!("channel {c} of {t}: missing"));
            }
            self.st.acked_checks += 1;
        }
    }

    /// Skills: listed as installed; a listed one answers an invoke (all of
    /// this round's, a sample of the earlier ones). `shown`: the listed
    /// tenants' status.
    pub(super) fn skills(&mut self, m: &mut Model, shown: &BTreeMap<String, String>, round: usize) {
        for t in m
            .installs
            .iter()
            .filter(|x| shown.contains_key(&x.tenant))
            .map(|i| i.tenant.clone())
            .collect::<BTreeSet<_>>()
        {
            let v = self.get_ok(&format!("/v1/tenants/{t}/skills"));
            let names: BTreeSet<String> = v["skills"]
                .as_array()
                .expect("skills")
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect();
            for name in &names {
                if !m.installs.iter().any(|i| i.tenant == t && &i.key == name) {
                    self.fails.push(format!("skill {name} of {t}: present, never installed"));
                }
            }
            for i in m.installs.iter_mut().filter(|i| i.tenant == t) {
                let present = names.contains(&i.key);
                self.judge(&format!("skill {} of {t}", i.key), &mut i.add, &mut i.del, present);
                // (A delete killed after its first step leaves the tenant
                // suspended: its skills are there, its calls refused.)
                if !present || shown[&t] == "suspended" || !self.sample(&t) {
                    continue;
                }
                let Some(member) = m.members.get(&t) else { continue };
                let input = match i.key.as_str() {
                    "echo" => json!({"crash": round}),
                    "counter" => json!({}),
                    "notes" | "reminder" => json!({"op": "list"}),
                    "memget" => json!({"key": "k", "n": 1}),
                    other => unreachable!("{other}"),
                };
                let path = format!("/v1/skills/{}/invoke", i.key);
                let (status, v) = self.check("POST", &path, Some(member), Body::Json(input.clone()));
                let ok = status == 200
                    && match i.key.as_str() {
                        "echo" => v["output"] == input,
                        "counter" => v["output"] == json!({"count": 1}),
                        "notes" => v["output"]["notes"].is_array(),
                        "reminder" => v["output"]["jobs"].is_array(),
                        _ => v["output"]["n"] == 1,
                    };
                if !ok {
                    self.fails
                        .push(format!("skill {} of {t}: installed but the invoke gives {status} {v}", i.key));
                }
            }
        }
    }
}
