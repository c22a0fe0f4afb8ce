//! The checks: after each restart, everything the model holds against the
//! running gateway. Every acknowledged write is present with its exact
//! value and every acknowledged delete absent; a write in flight at a kill
//! is wholly present or absent, and its outcome is then fixed for the later
//! rounds; nothing never written is present.
//!
//! The costly checks (an authentication, a signed webhook, an invoke) cover
//! every write of the last round and a sample of the earlier ones.

use super::model::{Fate, Model, Stats, judge};
use super::rng::Rng;
use crate::harness::{ADMIN_KEY, Body, Gateway};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Checks everything `m` holds against `gw` after round `round`'s restart
/// (`tenants_dir`: where its tenants' directories are); fixes the outcome
/// of the writes that were in flight. Returns the failures.
pub(super) fn verify(
    gw: &Gateway,
    tenants_dir: &Path,
    m: &mut Model,
    st: &mut Stats,
    rng: &mut Rng,
    round: usize,
) -> Vec<String> {
    let last = format!("c{}-", round.saturating_sub(1));
    let mut v = Verify { gw, tenants_dir, fails: Vec::new(), st, rng, last };
    let shown = v.tenants(m);
    // The items of a tenant that is not there are gone with it (their
    // tenant's checks cover them; its tokens are checked too).
    let alive: BTreeSet<String> = shown.keys().cloned().collect();
    v.tokens(m, &alive);
    v.notes(m, &alive);
    v.secrets(m, &alive);
    v.jobs(m, &alive);
    v.policies_agents_channels(m, &alive);
    v.skills(m, &shown, round);
    v.fails
}

/// One verification (its checks of what the tenants hold are in
/// `contents`): the gateway, the failures so far, the counts and the
/// generator of the sample.
pub(super) struct Verify<'a> {
    pub(super) gw: &'a Gateway,
    tenants_dir: &'a Path,
    pub(super) fails: Vec<String>,
    pub(super) st: &'a mut Stats,
    rng: &'a mut Rng,
    /// The prefix of the last round's tenants, `c<round>-`.
    last: String,
}

impl Verify<'_> {
    /// Whether the costly checks cover `tenant`: all of the last round's, a
    /// sample of the earlier ones.
    pub(super) fn sample(&mut self, tenant: &str) -> bool {
        tenant.starts_with(&self.last) || self.rng.chance(5)
    }

    /// [`judge`] into this verification's failures and counts.
    pub(super) fn judge(&mut self, what: &str, add: &mut Fate, del: &mut Option<Fate>, present: bool) {
        judge(what, add, del, present, &mut self.fails, self.st);
    }

    /// A request (the gateway is up): the status and the body, as JSON
    /// when it is.
    pub(super) fn check(&self, method: &str, path: &str, cred: Option<&str>, body: Body) -> (u16, Value) {
        let r = self.gw.req(method, path, cred, body);
        (r.status, serde_json::from_str(&r.text).unwrap_or(Value::String(r.text)))
    }

    /// A `GET` as the operator that must answer 200.
    pub(super) fn get_ok(&self, path: &str) -> Value {
        self.gw.get(path, Some(ADMIN_KEY)).expect(200)
    }

    /// Tenants: every one known, each present or not as written, with the
    /// status of its last applied change. Returns the listed ones, by id,
    /// with their status.
    fn tenants(&mut self, m: &mut Model) -> BTreeMap<String, String> {
        let listed = self.get_ok("/v1/tenants");
        let mut shown: BTreeMap<String, String> = BTreeMap::new();
        for t in listed["tenants"].as_array().expect("tenants") {
            shown.insert(t["id"].as_str().unwrap().into(), t["status"].as_str().unwrap().into());
        }
        for t in &mut m.tenants {
            let present = shown.contains_key(&t.id);
            let delete_in_flight = t.delete == Some(Fate::InFlight);
            self.judge(&format!("tenant {}", t.id), &mut t.create, &mut t.delete, present);
            if !present {
                // A tenant that is not there has no directory either (a delete
                // removes its files; nothing of it may be left behind).
                let dir = self.tenants_dir.join(&t.id);
                if dir.exists() {
                    self.fails.push(format!(
                        "tenant {}: gone (create {:?}, delete {:?}) but its directory {} remains, with {:?}",
                        t.id,
                        t.create,
                        t.delete,
                        dir.display(),
                        files_under(&dir)
                    ));
                }
                continue;
            }
            let mut suspended = false;
            for (to, fate) in &mut t.status {
                match fate.applied() {
                    Some(true) => {
                        if *fate == Fate::Acked {
                            self.st.acked_checks += 1;
                        }
                        suspended = *to;
                    }
                    Some(false) => {}
                    None => {
                        let now = shown[&t.id] == "suspended";
                        let applied = now == *to;
                        self.judge("status", fate, &mut None, applied);
                        if applied {
                            suspended = *to;
                        }
                    }
                }
            }
            // A delete suspends the tenant, then purges it: one killed between
            // the two leaves it suspended, with everything in it.
            if delete_in_flight && !suspended && shown[&t.id] == "suspended" {
                t.status.push((true, Fate::Present));
                suspended = true;
                self.st.deletes_left_suspended += 1;
            }
            let want = if suspended { "suspended" } else { "active" };
            if shown[&t.id] != want {
                self.fails
                    .push(format!("tenant {}: {} (want {want}; changes {:?})", t.id, shown[&t.id], t.status));
            }
        }
        let known: BTreeSet<&str> = m.tenants.iter().map(|t| t.id.as_str()).collect();
        for id in shown.keys() {
            if !known.contains(id.as_str()) {
                self.fails.push(format!("tenant {id}: present, never written"));
            }
        }
        shown
    }

    /// Tokens: listed by name; a known token authenticates exactly when
    /// listed, and one of a tenant that is gone is refused.
    fn tokens(&mut self, m: &mut Model, alive: &BTreeSet<String>) {
        let mut token_lists: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for t in m.tokens.iter().map(|t| t.tenant.clone()).collect::<BTreeSet<_>>() {
            if !alive.contains(&t) {
                continue;
            }
            let v = self.get_ok(&format!("/v1/tenants/{t}/tokens"));
            let by_name = v["tokens"]
                .as_array()
                .expect("tokens")
                .iter()
                .map(|k| (k["name"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string()))
                .collect();
            token_lists.insert(t, by_name);
        }
        for k in &mut m.tokens {
            let what = format!("token {} of {}", k.key, k.tenant);
            if !alive.contains(&k.tenant) {
                if let Some(secret) = k.secret.as_ref().filter(|_| self.sample(&k.tenant)) {
                    let (status, v) = self.check("GET", "/v1/skills", Some(secret), Body::None);
                    if status != 401 {
                        self.fails
                            .push(format!("{what}: its tenant is gone, yet GET /v1/skills → {status} {v}"));
                    }
                    self.st.acked_checks += 1;
                }
                continue;
            }
            let empty = BTreeMap::new();
            let listed = token_lists.get(&k.tenant).unwrap_or(&empty);
            let present = listed.contains_key(&k.key);
            if let (Some(id), Some(shown)) = (&k.id, listed.get(&k.key))
                && id != shown
            {
                self.fails.push(format!("{what}: listed with id {shown}, minted as {id}"));
            }
            if let Some(secret) = k.secret.as_ref().filter(|_| self.sample(&k.tenant)) {
                let (status, v) = self.check("GET", "/v1/skills", Some(secret), Body::None);
                let works = match status {
                    200 => true,
                    403 if v["error"]["code"] == "suspended" => true,
                    401 => false,
                    _ => {
                        self.fails.push(format!("{what}: GET /v1/skills → {status} {v}"));
                        present
                    }
                };
                if works != present {
                    self.fails.push(format!("{what}: listed {present} but authenticates {works}"));
                }
            }
            self.judge(&what, &mut k.add, &mut k.del, present);
        }
        for (t, listed) in &token_lists {
            for name in listed.keys() {
                if !m.tokens.iter().any(|k| &k.tenant == t && &k.key == name) {
                    self.fails.push(format!("token {name} of {t}: present, never written"));
                }
            }
        }
    }
}

/// The files below `dir` (relative paths).
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}
