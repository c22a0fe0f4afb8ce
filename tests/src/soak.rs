//! The soak: many calls across many tenants, mixing well-behaved skills with
//! hostile ones, each call checked against the one outcome it must have.
//! Any other outcome is *unexpected* and counted (the goal is zero).
//!
//! Shared by the short soak in the test suite (`tests/e2e/soak.rs`) and the
//! long one (`cargo run --release -p wasmclaw-benches --bin soak`), which
//! also samples the process's RSS.
//!
//! The mix, by `i % 100` for call `i` (tenant `i % tenants`):
//! - 0–49 `echo` (output = input), 50–69 `counter` (`{"count":1}`),
//!   70–71 `notes` add (a durable write each), 72–84 `notes` list, 85–89
//!   `bigkv` (giant key and value `invalid`, scans show nothing foreign):
//!   well-behaved or refused with a typed error, and must succeed;
//! - 90 `spin` (out of fuel), 91 `hog` (memory limit), 92 `deep` (stack
//!   overflow), 93 `panic` (trap), 94 `bigout` (invalid output), 95 `pound`
//!   (out of fuel), 96 `logflood` (succeeds, lines dropped), 97
//!   `stdflood` (succeeds, stdout capped), 98 `snoop` (finds nothing
//!   foreign), 99 `echo` with a non-JSON input (invalid input).

use crate::{skill_path, tenant};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use wasmclaw::{BoundSkill, Call, Error, LimitOverrides, Runtime, Skill};

/// The skills of the mix, by name.
pub const SKILLS: &[&str] = &[
    "echo", "counter", "notes", "bigkv", "spin", "hog", "deep", "panic", "bigout", "pound", "logflood",
    "stdflood", "snoop",
];

/// What a soak found.
#[derive(Debug, Default)]
pub struct Report {
    /// Calls made.
    pub calls: u64,
    /// Calls per kind of the mix.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Calls whose outcome was not the one expected.
    pub unexpected: u64,
    /// The first few unexpected outcomes, described.
    pub samples: Vec<String>,
}

/// The loaded skills and, per tenant, each one bound.
pub struct Soak {
    rt: Runtime,
    bound: Vec<BTreeMap<&'static str, Arc<BoundSkill>>>,
}

async fn load(rt: &Runtime, name: &str) -> Arc<Skill> {
    let manifest = match name {
        "pound" => Some("name = \"pound\"\nversion = \"0.1.0\"\n[permissions]\nsecrets = [\"API_KEY\"]\n"),
        _ => None,
    };
    match manifest {
        Some(m) => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("skill.toml");
            std::fs::write(&path, m).expect("write manifest");
            rt.load_skill_files(&skill_path(name), Some(&path)).await
        }
        None => rt.load_skill_file(&skill_path(name)).await,
    }
    .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

impl Soak {
    /// Loads the skills of the mix and binds them for `tenants` tenants
    /// (`soak-00000`, …).
    pub async fn new(rt: &Runtime, tenants: usize) -> Soak {
        let mut skills = Vec::new();
        for name in SKILLS {
            skills.push((*name, load(rt, name).await));
        }
        let bound = (0..tenants)
            .map(|t| {
                let id = tenant(&format!("soak-{t:05}"));
                skills.iter().map(|(n, s)| (*n, rt.bind(s, &id).expect("bind"))).collect()
            })
            .collect();
        Soak { rt: rt.clone(), bound }
    }

    /// Makes calls `from..to` of the mix, `concurrency` at a time, and adds
    /// what it found to `report`.
    pub async fn run(self: &Arc<Self>, from: u64, to: u64, concurrency: usize, report: &Mutex<Report>) {
        let next = Arc::new(AtomicU64::new(from));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (me, next) = (self.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut local = Report::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= to {
                        break local;
                    }
                    let (kind, verdict) = me.one(i).await;
                    local.calls += 1;
                    *local.by_kind.entry(kind).or_default() += 1;
                    if let Err(why) = verdict {
                        local.unexpected += 1;
                        if local.samples.len() < 10 {
                            local.samples.push(format!("call {i} ({kind}): {why}"));
                        }
                    }
                }
            }));
        }
        for t in tasks {
            let local = t.await.expect("soak task");
            let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
            r.calls += local.calls;
            r.unexpected += local.unexpected;
            for (k, n) in local.by_kind {
                *r.by_kind.entry(k).or_default() += n;
            }
            let room = 20usize.saturating_sub(r.samples.len());
            r.samples.extend(local.samples.into_iter().take(room));
        }
    }

    /// Call `i` of the mix: its kind, and whether its outcome was the one
    /// expected.
    async fn one(&self, i: u64) -> (&'static str, Result<(), String>) {
        let skills = &self.bound[(i % self.bound.len() as u64) as usize];
        let small = |fuel: Option<u64>, memory: Option<u64>| Call {
            overrides: LimitOverrides { fuel, memory_bytes: memory, ..Default::default() },
            ..Call::default()
        };
        let plain = Call::default();
        let (kind, skill, call, input): (&str, &str, Call, String) = match i % 100 {
            0..=49 => ("echo", "echo", plain, json!({"i": i}).to_string()),
            50..=69 => ("counter", "counter", plain, "{}".into()),
            70..=71 => {
                ("notes-add", "notes", plain, json!({"op": "add", "text": format!("n{i}")}).to_string())
            }
            72..=84 => ("notes-list", "notes", plain, r#"{"op":"list"}"#.into()),
            85..=89 => ("bigkv", "bigkv", plain, BIGKV.into()),
            90 => ("spin", "spin", small(Some(2_000_000), None), "{}".into()),
            91 => ("hog", "hog", small(None, Some(8 << 20)), "{}".into()),
            92 => ("deep", "deep", plain, "{}".into()),
            93 => ("panic", "panic", plain, "{}".into()),
            94 => ("bigout", "bigout", plain, r#"{"bytes":2097152}"#.into()),
            95 => ("pound", "pound", small(Some(2_000_000), None), r#"{"op":"log"}"#.into()),
            96 => ("logflood", "logflood", plain, r#"{"lines":1000,"len":200}"#.into()),
            97 => ("stdflood", "stdflood", plain, r#"{"bytes":1048576}"#.into()),
            98 => ("snoop", "snoop", plain, SNOOP.into()),
            _ => ("bad-input", "echo", plain, "{not json".into()),
        };
        let result = self.rt.invoke(&skills[skill], &call, &input).await;
        (kind, check(kind, &input, result))
    }
}

const BIGKV: &str = r#"{"key_bytes":1000,"value_bytes":1048577,"prefixes":["","soak-","../"]}"#;
const SNOOP: &str = r#"{"keys":["note:00000001","../soak-00001/note:00000001"],"prefixes":["../","soak-"],"queries":[],"paths":["../","/"]}"#;

/// Whether `result` is what call `kind` with `input` must give.
fn check(kind: &str, input: &str, result: Result<wasmclaw::Outcome, Error>) -> Result<(), String> {
    let json = |o: &wasmclaw::Outcome| serde_json::from_str::<Value>(&o.output).map_err(|e| e.to_string());
    let ok = match (kind, &result) {
        ("echo", Ok(o)) => o.output == input,
        ("counter", Ok(o)) => json(o)? == json!({"count": 1}),
        ("notes-add", Ok(o)) => json(o)?["id"].is_string(),
        ("notes-list", Ok(o)) => json(o)?.is_array() || json(o)?.is_object(),
        ("bigkv", Ok(o)) => {
            let v = json(o)?;
            v["giant_value"] == "invalid" && v["listed"].as_array().is_some_and(|l| l.iter().all(is_own_key))
        }
        ("spin" | "pound", Err(Error::OutOfFuel { .. })) => true,
        ("hog", Err(Error::MemoryLimit { .. })) => true,
        ("deep", Err(Error::Trap { message, .. })) => message == "stack overflow",
        ("panic", Err(Error::Trap { stderr, .. })) => stderr.contains("deliberate panic"),
        ("bigout", Err(Error::InvalidOutput(_))) => true,
        ("logflood", Ok(o)) => o.logs.len() <= 100 && o.usage.log_dropped >= 900,
        ("stdflood", Ok(o)) => o.stdout.len() <= 64 * 1024,
        ("snoop", Ok(o)) => {
            json(o)?["found"].as_array().is_some_and(|f| f.iter().all(|x| !x.to_string().contains("soak-")))
        }
        ("bad-input", Err(Error::InvalidInput(_))) => true,
        _ => false,
    };
    match ok {
        true => Ok(()),
        false => Err(match result {
            Ok(o) => format!("unexpected output {}", o.output.chars().take(200).collect::<String>()),
            Err(e) => format!("unexpected error {e}"),
        }),
    }
}

/// A key the calling tenant may own: the mix writes `note:`, `meta:` and
/// `bigkv:` keys only.
fn is_own_key(k: &Value) -> bool {
    k.as_str().is_some_and(|k| ["note:", "meta:", "bigkv:"].iter().any(|p| k.starts_with(p)))
}
