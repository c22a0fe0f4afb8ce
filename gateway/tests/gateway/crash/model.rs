//! The model of what was written: every write of the run, recorded before
//! it is sent, with its fate (acknowledged, in flight at a kill, then found
//! present or absent), and the judgement of one item against what the
//! restarted gateway shows.

use std::collections::{BTreeMap, BTreeSet};

/// What became of one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fate {
    /// Answered 2xx, read in full.
    Acked,
    /// Sent, no whole answer before the kill.
    InFlight,
    /// In flight, then found present after a restart.
    Present,
    /// In flight, then found absent after a restart.
    Absent,
}

impl Fate {
    /// Whether the write must show: `None` while undecided.
    pub(super) fn applied(self) -> Option<bool> {
        match self {
            Fate::Acked | Fate::Present => Some(true),
            Fate::Absent => Some(false),
            Fate::InFlight => None,
        }
    }
}

/// A thing one write creates and another may remove (a token, a note, a
/// cron job), or just creates (`del` stays `None`).
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub(super) tenant: String,
    /// What tells it apart (a token's name, a note's text, …).
    pub(super) key: String,
    /// What the acknowledgement told (a token and its id, a note's id, a job id).
    pub(super) id: Option<String>,
    /// A token itself, or a secret's value.
    pub(super) secret: Option<String>,
    pub(super) add: Fate,
    pub(super) del: Option<Fate>,
}

impl Item {
    pub(super) fn new(tenant: &str, key: impl Into<String>) -> Item {
        Item {
            tenant: tenant.into(),
            key: key.into(),
            id: None,
            secret: None,
            add: Fate::InFlight,
            del: None,
        }
    }
}

/// A tenant and its status changes (`true`: suspend).
#[derive(Clone, Debug)]
pub(super) struct TenantRec {
    pub(super) id: String,
    pub(super) create: Fate,
    pub(super) status: Vec<(bool, Fate)>,
    pub(super) delete: Option<Fate>,
}

/// Every write of the run, by kind.
#[derive(Default)]
pub(super) struct Model {
    pub(super) tenants: Vec<TenantRec>,
    pub(super) tokens: Vec<Item>,
    pub(super) notes: Vec<Item>,
    /// `key`: the secret name; `secret`: its value.
    pub(super) secrets: Vec<Item>,
    pub(super) jobs: Vec<Item>,
    /// `key`: the skill.
    pub(super) installs: Vec<Item>,
    /// `key`: the agent.
    pub(super) agents: Vec<Item>,
    /// `key`: `max_jobs` of the cron policy.
    pub(super) policies: Vec<Item>,
    /// Member tokens by tenant (acknowledged), for the invokes.
    pub(super) members: BTreeMap<String, String>,
    /// Channels made by the verification (acknowledged), by tenant.
    pub(super) channels: BTreeSet<(String, String)>,
    /// Writes refused a connection (the gateway gone): never seen by it;
    /// over a cluster also those answered 503 `tenant-unavailable` (not
    /// done).
    pub(super) unsent: u64,
}

/// Where a write goes in the model, to mark it once answered.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    Tenant(usize),
    Status(usize, usize),
    Delete(usize),
    Token(usize),
    Revoke(usize),
    Note(usize),
    NoteDel(usize),
    Secret(usize),
    Job(usize),
    JobDel(usize),
    Install(usize),
    Agent(usize),
    Policy(usize),
}

impl Model {
    /// The fate of the write at `slot`.
    pub(super) fn fate(&mut self, slot: Slot) -> &mut Fate {
        match slot {
            Slot::Tenant(i) => &mut self.tenants[i].create,
            Slot::Status(i, j) => &mut self.tenants[i].status[j].1,
            Slot::Delete(i) => self.tenants[i].delete.get_or_insert(Fate::InFlight),
            Slot::Token(i) => &mut self.tokens[i].add,
            Slot::Revoke(i) => self.tokens[i].del.get_or_insert(Fate::InFlight),
            Slot::Note(i) => &mut self.notes[i].add,
            Slot::NoteDel(i) => self.notes[i].del.get_or_insert(Fate::InFlight),
            Slot::Secret(i) => &mut self.secrets[i].add,
            Slot::Job(i) => &mut self.jobs[i].add,
            Slot::JobDel(i) => self.jobs[i].del.get_or_insert(Fate::InFlight),
            Slot::Install(i) => &mut self.installs[i].add,
            Slot::Agent(i) => &mut self.agents[i].add,
            Slot::Policy(i) => &mut self.policies[i].add,
        }
    }

    /// Where each list stands now (a round's start).
    pub(super) fn lens(&self) -> ModelLens {
        ModelLens {
            tenants: self.tenants.len(),
            status: self.tenants.iter().map(|t| t.status.len()).sum(),
            tokens: self.tokens.len(),
            notes: self.notes.len(),
            secrets: self.secrets.len(),
            jobs: self.jobs.len(),
            installs: self.installs.len(),
            agents: self.agents.len(),
            policies: self.policies.len(),
        }
    }
}

/// Where each list of the model stood when a round began.
#[derive(Default)]
pub(super) struct ModelLens {
    tenants: usize,
    status: usize,
    tokens: usize,
    notes: usize,
    secrets: usize,
    jobs: usize,
    installs: usize,
    agents: usize,
    policies: usize,
}

/// The counts reported at the end.
#[derive(Default, Debug, Clone, Copy)]
pub(super) struct Stats {
    pub(super) acked_checks: u64,
    pub(super) inflight_present: u64,
    pub(super) inflight_absent: u64,
    pub(super) writes_acked: u64,
    pub(super) writes_inflight: u64,
    pub(super) deletes_left_suspended: u64,
}

impl Stats {
    /// Counts the writes of the round just ended (those past `from`).
    pub(super) fn count_round(&mut self, m: &Model, from: &ModelLens) {
        let mut fates: Vec<Fate> = Vec::new();
        fates.extend(m.tenants[from.tenants..].iter().flat_map(|t| [Some(t.create), t.delete]).flatten());
        fates.extend(m.tenants.iter().flat_map(|t| t.status.iter().map(|s| s.1)).skip(from.status));
        for (items, start) in [
            (&m.tokens, from.tokens),
            (&m.notes, from.notes),
            (&m.secrets, from.secrets),
            (&m.jobs, from.jobs),
            (&m.installs, from.installs),
            (&m.agents, from.agents),
            (&m.policies, from.policies),
        ] {
            for it in &items[start..] {
                fates.push(it.add);
                fates.extend(it.del);
            }
        }
        for f in fates {
            match f {
                Fate::Acked => self.writes_acked += 1,
                Fate::InFlight => self.writes_inflight += 1,
                _ => {}
            }
        }
    }
}

/// Judges one item against whether it shows (`present`); fixes the
/// outcome of a write that was in flight.
pub(super) fn judge(
    what: &str,
    add: &mut Fate,
    del: &mut Option<Fate>,
    present: bool,
    fails: &mut Vec<String>,
    st: &mut Stats,
) {
    let resolve = |f: &mut Fate, applied: bool, st: &mut Stats| {
        *f = if applied { Fate::Present } else { Fate::Absent };
        if applied {
            st.inflight_present += 1;
        } else {
            st.inflight_absent += 1;
        }
    };
    let Some(added) = add.applied() else {
        resolve(add, present, st);
        return;
    };
    if *add == Fate::Acked {
        st.acked_checks += 1;
    }
    if !added {
        if present {
            fails.push(format!("{what}: present, but found absent after an earlier crash"));
        }
        return;
    }
    let expect = match del {
        None => true,
        Some(d) => match d.applied() {
            Some(deleted) => {
                if *d == Fate::Acked {
                    st.acked_checks += 1;
                }
                !deleted
            }
            None => {
                resolve(d, !present, st);
                return;
            }
        },
    };
    if present != expect {
        let state = if present { "present" } else { "missing" };
        fails.push(format!("{what}: {state} (add {add:?}, delete {del:?})"));
    }
}
