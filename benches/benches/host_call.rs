//! Host-call round trips from the guest against direct store calls, in the
//! same run: `memory.get` of a small value on redb (row 2) and on
//! PostgreSQL (row 2b), both against a direct redb read; `memory.set` on
//! PostgreSQL against the same host call on redb (row 2c).
//!
//! The guest cost per `get` is (time of a call doing N gets − time of a call
//! doing 0 gets) / N, so instantiation is not counted; the two kinds of call
//! alternate, and each figure is the difference of their medians. The two
//! stores are measured in the same process and take turns, sample by
//! sample, so that a busy moment of a shared machine falls on both.
//!
//! A `set` is measured with `flood` (which writes `flood:<i>` until the
//! quota refuses one) under a memory quota of M entries: in a tenant that
//! already holds its M `flood:` entries a call overwrites them all, then is
//! refused the next; in a tenant already full of other keys it is refused
//! at once. (the first − the second) / M is one durable overwrite of a
//! 13-byte value from the guest.
//!
//! The PostgreSQL rows need a server (`WASMCLAW_TEST_PG`; `benches/run`
//! starts one with PostgreSQL's durable defaults, as redb commits durably);
//! without one they are skipped. `cargo bench -p wasmclaw-benches --bench
//! host_call`; `WASMCLAW_BENCH_PG_GETS` (gets per call on PostgreSQL,
//! default 2,000) and `WASMCLAW_BENCH_SETS` (M, default 100). Under `cargo
//! test` it runs briefly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmclaw::store::Scope;
use wasmclaw::{BoundSkill, Call, Runtime, RuntimeConfig, StoreLocation, TenantId};
use wasmclaw_benches::pg::Pg;
use wasmclaw_benches::{Row, Status, full, knob, us};
use wasmclaw_tests::{skill_path, tenant};

/// The value every get reads and every set writes (13 bytes).
const VALUE: &str = "a small value";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A runtime on one store, with `memget` bound to a tenant holding `k` and
/// `flood` bound to a tenant holding its `sets` entries and to a tenant
/// full of other keys.
struct Target {
    _dir: tempfile::TempDir,
    rt: Runtime,
    tokio: tokio::runtime::Runtime,
    reader: TenantId,
    memget: Arc<BoundSkill>,
    overwrite: Arc<BoundSkill>,
    refused: Arc<BoundSkill>,
    /// Gets per call.
    gets: u32,
    /// The memory quota's entries: sets per `flood` call.
    sets: u32,
}

impl Target {
    fn new(store: StoreLocation, gets: u32, sets: u32) -> Target {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
        config.store = store;
        config.memory_quota.max_entries = u64::from(sets);
        let rt = Runtime::new(config).unwrap();
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let quota = rt.config().memory_quota;
        let (reader, writer, full) = (tenant("bench"), tenant("writer"), tenant("full"));
        rt.db_for_tests().memory_set(Scope { tenant: &reader, user: None }, "k", VALUE, &quota).unwrap();
        for i in 0..sets {
            rt.db_for_tests()
                .memory_set(Scope { tenant: &full, user: None }, &format!("z{i}"), VALUE, &quota)
                .unwrap();
        }
        let memget = tokio.block_on(rt.load_skill_file(&skill_path("memget"))).unwrap();
        let flood = tokio.block_on(rt.load_skill_file(&skill_path("flood"))).unwrap();
        let memget = rt.bind(&memget, &reader).unwrap();
        let overwrite = rt.bind(&flood, &writer).unwrap();
        let refused = rt.bind(&flood, &full).unwrap();
        let t = Target { _dir: dir, rt, tokio, reader, memget, overwrite, refused, gets, sets };
        // Warm up; the first flood call writes the writer's entries.
        t.get(10);
        t.flood(&t.overwrite, sets);
        t.flood(&t.refused, 0);
        t
    }

    fn invoke(&self, bound: &BoundSkill, input: &str) -> (Duration, String) {
        let start = Instant::now();
        let out = self.tokio.block_on(self.rt.invoke(bound, &Call::default(), input)).unwrap();
        (start.elapsed(), out.output)
    }

    /// One call doing `n` gets.
    fn get(&self, n: u32) -> Duration {
        let (took, out) = self.invoke(&self.memget, &format!(r#"{{"key":"k","n":{n}}}"#));
        assert!(out.contains(&format!(r#""bytes":{}"#, n as usize * VALUE.len())), "{out}");
        took
    }

    /// One `flood` call of 13-byte values, which must write `written`
    /// entries before the quota refuses one (`sets` for the writer, none
    /// for the full tenant).
    fn flood(&self, bound: &BoundSkill, written: u32) -> Duration {
        let (took, out) = self.invoke(bound, r#"{"value_size":13}"#);
        assert!(out.contains(&format!(r#""written":{written},"error_kind":"limit-exceeded""#)), "{out}");
        took
    }

    /// One call doing `gets` gets and one doing none.
    fn get_pair(&self) -> (Duration, Duration) {
        (self.get(self.gets), self.get(0))
    }

    /// One `flood` call overwriting `sets` entries and one refused at once.
    fn set_pair(&self) -> (Duration, Duration) {
        (self.flood(&self.overwrite, self.sets), self.flood(&self.refused, 0))
    }

    /// `gets` direct `Db::memory_get` calls: the time of one.
    fn direct_get(&self) -> Duration {
        let scope = Scope { tenant: &self.reader, user: None };
        let start = Instant::now();
        for _ in 0..self.gets {
            std::hint::black_box(self.rt.db_for_tests().memory_get(scope, "k").unwrap());
        }
        start.elapsed() / self.gets
    }

    /// `sets` direct `Db::memory_set` overwrites: the time of one.
    fn direct_set(&self) -> Duration {
        let (t, quota) = (tenant("direct"), self.rt.config().memory_quota);
        let scope = Scope { tenant: &t, user: None };
        let start = Instant::now();
        for _ in 0..self.sets {
            self.rt.db_for_tests().memory_set(scope, "d", VALUE, &quota).unwrap();
        }
        start.elapsed() / self.sets
    }
}

/// `rounds` samples of `f` per target, the targets taking turns (so that a
/// busy moment of the shared machine falls on both stores alike).
fn turns<T>(targets: &[&Target], rounds: usize, f: impl Fn(&Target) -> T) -> Vec<Vec<T>> {
    let mut samples: Vec<Vec<T>> = targets.iter().map(|_| Vec::with_capacity(rounds)).collect();
    for _ in 0..rounds {
        for (t, s) in targets.iter().zip(&mut samples) {
            s.push(f(t));
        }
    }
    samples
}

/// Per target, (median of the first − median of the second) / `n(target)`.
fn per_op(
    pairs: Vec<Vec<(Duration, Duration)>>,
    targets: &[&Target],
    n: impl Fn(&Target) -> u32,
) -> Vec<Duration> {
    pairs
        .into_iter()
        .zip(targets)
        .map(|(p, t)| {
            let (with, without): (Vec<Duration>, Vec<Duration>) = p.into_iter().unzip();
            median(with).saturating_sub(median(without)) / n(t)
        })
        .collect()
}

/// A stand-in for a hit in a gateway-side read cache (not the product's
/// code: there is no such cache): a lookup by (tenant, key) in a locked map
/// and a copy of the value, per lookup.
fn cache_hit_stand_in(n: u32, rounds: usize) -> Duration {
    let map: Mutex<HashMap<(String, String), Option<String>>> = Mutex::new(
        (0..1000).map(|i| ((format!("t{i}"), "k".to_string()), Some(VALUE.to_string()))).collect(),
    );
    let key = ("t7".to_string(), "k".to_string());
    median(
        (0..rounds)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(map.lock().unwrap().get(std::hint::black_box(&key)).cloned());
                }
                start.elapsed() / n
            })
            .collect(),
    )
}

/// What the PostgreSQL target measured.
struct PgFigures {
    get: Duration,
    direct_get: Duration,
    set: Duration,
    direct_set: Duration,
}

fn main() {
    let full = full();
    let (n, rounds) = if full { (10_000u32, 31) } else { (100, 3) };
    let pg_gets: u32 = if full { knob("WASMCLAW_BENCH_PG_GETS", 2_000) } else { 20 };
    let sets: u32 = if full { knob("WASMCLAW_BENCH_SETS", 100) } else { 5 };
    let set_rounds = if full { 21 } else { 2 };

    let pg = Pg::create("2b, 2c");
    let redb = Target::new(StoreLocation::Embedded, n, sets);
    let on_pg = pg.as_ref().map(|pg| Target::new(pg.location(), pg_gets, sets));
    let targets: Vec<&Target> = std::iter::once(&redb).chain(on_pg.as_ref()).collect();
    let gets = per_op(turns(&targets, rounds, Target::get_pair), &targets, |t| t.gets);
    let direct_gets: Vec<Duration> =
        turns(&targets, rounds, Target::direct_get).into_iter().map(median).collect();
    let set_ops = per_op(turns(&targets, set_rounds, Target::set_pair), &targets, |t| t.sets);
    let direct_sets: Vec<Duration> =
        turns(&targets, set_rounds, Target::direct_set).into_iter().map(median).collect();
    drop(targets);
    drop((redb, on_pg));
    let (guest, direct, set, direct_set) = (gets[0], direct_gets[0], set_ops[0], direct_sets[0]);
    let on_pg = pg.as_ref().map(|_| PgFigures {
        get: gets[1],
        direct_get: direct_gets[1],
        set: set_ops[1],
        direct_set: direct_sets[1],
    });
    let hit = cache_hit_stand_in(n, rounds);

    println!(
        "\n## host call round trip (`memory.get` of a 13-byte value, {n} per call on redb, {pg_gets} on PostgreSQL; median of {rounds})\n"
    );
    println!("| what | per get |");
    println!("| --- | ---: |");
    println!("| redb: guest → host → guest (`memory.get` from wasm) | {:.2} µs |", us(guest));
    println!("| redb: direct `Db::memory_get` | {:.2} µs |", us(direct));
    let ratio = guest.as_secs_f64() / direct.as_secs_f64();
    println!("| ratio (guest / direct) | {ratio:.2}× |");
    // A hit in a gateway read cache would cost the host call's own overhead
    // (row 2 minus its redb read) plus the lookup.
    let overhead = guest.saturating_sub(direct);
    let cached = us(overhead + hit);
    println!("| stand-in for a gateway cache hit (locked map lookup + copy) | {:.3} µs |", us(hit));
    println!("| a cached get: host overhead {:.2} µs + hit | {cached:.2} µs |", us(overhead));
    if let Some(f) = &on_pg {
        println!("| PostgreSQL: guest → host → guest | {:.1} µs |", us(f.get));
        println!("| PostgreSQL: direct `Db::memory_get` from a plain thread | {:.1} µs |", us(f.direct_get));
    }
    println!(
        "\n## `memory.set` of a 13-byte value (an overwrite, {sets} per call, median of {set_rounds})\n"
    );
    println!("| what | per set |");
    println!("| --- | ---: |");
    println!("| redb: guest → host → guest | {:.1} µs |", us(set));
    println!("| redb: direct `Db::memory_set` | {:.1} µs |", us(direct_set));
    if let Some(f) = &on_pg {
        println!("| PostgreSQL: guest → host → guest | {:.1} µs |", us(f.set));
        println!("| PostgreSQL: direct `Db::memory_set` | {:.1} µs |", us(f.direct_set));
    }

    let mut rows = vec![Row {
        id: "2".into(),
        what: format!(
            "host call round trip: `memory.get` of a 13-byte value from the guest ({n} per call, median of {rounds})"
        ),
        figure: format!("{:.2} µs", us(guest)),
        baseline: format!("direct redb read (`Db::memory_get`): {:.2} µs", us(direct)),
        ratio: format!("{ratio:.2}×"),
        goal: "≤ 2×".into(),
        status: Status::of(ratio <= 2.0),
    }];
    if let (Some(pg), Some(f)) = (&pg, &on_pg) {
        let get_ratio = f.get.as_secs_f64() / direct.as_secs_f64();
        // The share of gets a cache must answer for the mean to stay ≤ 2×
        // the redb read, when a miss costs what PostgreSQL costs now.
        let (p, goal) = (us(f.get), 2.0 * us(direct));
        let needed = ((p - goal) / (p - cached)).clamp(0.0, 1.0);
        println!("\nhit rate a gateway read cache needs for ≤ 2× the redb read: {:.1}%", needed * 100.0);
        rows.push(Row {
            id: "2b".into(),
            what: format!(
                "`memory.get` host call on PostgreSQL ({pg_gets} per call, median of {rounds}; {})",
                pg.settings()
            ),
            figure: format!("{:.1} µs (direct PostgreSQL read {:.1} µs)", us(f.get), us(f.direct_get)),
            baseline: format!("direct redb read: {:.2} µs", us(direct)),
            ratio: format!("{get_ratio:.0}×"),
            goal: format!(
                "≤ 2× (a gateway read cache: a hit ≈ {cached:.2} µs; ≤ 2× needs {:.1}% of gets to hit)",
                needed * 100.0
            ),
            status: Status::of(get_ratio <= 2.0),
        });
        let set_ratio = f.set.as_secs_f64() / set.as_secs_f64();
        rows.push(Row {
            id: "2c".into(),
            what: format!(
                "`memory.set` host call on PostgreSQL (overwrite of a 13-byte value, {sets} per call, median of {set_rounds}; {})",
                pg.settings()
            ),
            figure: format!("{:.0} µs (direct {:.0} µs)", us(f.set), us(f.direct_set)),
            baseline: format!("the same on redb: {:.0} µs (direct {:.0} µs)", us(set), us(direct_set)),
            ratio: format!("{set_ratio:.2}×"),
            goal: "(report)".into(),
            status: Status::Reported,
        });
    }
    wasmclaw_benches::record("host_call", &rows);
}
