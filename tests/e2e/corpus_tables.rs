//! The hostile corpus, "memory: huge tables, many instances": `tables` (a
//! hand-written WAT component, skills/tables/tables.wat) grows a funcref
//! table past the call's table limit, and one tenant floods the gateway
//! with hundreds of concurrent calls of `sleeper`. For each, the exact
//! outcome, and that another tenant is unaffected.

use crate::{bind, call, call_json, load};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmclaw::{Call, Error, LimitOverrides, Runtime, Skill};
use wasmclaw_tests::{runtime, runtime_with, tenant};

/// The `tables` skill's source: a component in the component-model text
/// format (it is not a cargo crate; Rust never emits `table.grow`).
const TABLES_WAT: &str = include_str!("../../skills/tables/tables.wat");

/// wasmtime's default `PoolingAllocationConfig::table_elements`: the size
/// of every table slot of the pool, which the engine does not configure.
const POOL_TABLE_SLOT: u64 = 20_000;

/// Loads `tables` from its WAT text (`wat` in place of the `.wasm` file).
async fn load_tables(rt: &Runtime) -> Arc<Skill> {
    load_wat(rt, TABLES_WAT).await.unwrap_or_else(|e| panic!("load tables: {e}"))
}

async fn load_wat(rt: &Runtime, text: &str) -> Result<Arc<Skill>, Error> {
    let bytes = wat::parse_str(text).expect("tables.wat parses");
    rt.load_skill(bytes, None).await
}

/// Calls `tables` as `tenant_id` and parses its output.
async fn grow(rt: &Runtime, tables: &Arc<Skill>, tenant_id: &str, input: Value) -> Value {
    call_json(rt, tables, tenant_id, &input.to_string()).await
}

fn usage_of(rt: &Runtime, tenant_id: &str, skill: &str) -> wasmclaw::records::UsageTotals {
    let rows = rt.usage(Some(&tenant(tenant_id))).unwrap();
    rows.into_iter().find(|r| r.skill == skill).map(|r| r.totals).unwrap_or_default()
}

#[tokio::test]
async fn tables_loads_from_its_wat_text_and_imports_nothing() {
    let (_d, rt) = runtime();
    let tables = load_tables(&rt).await;
    assert_eq!((tables.info.name.as_str(), tables.info.version.as_str()), ("tables", "0.1.0"));
    assert!(tables.info.description.starts_with("Hostile: grows a funcref table"), "{:?}", tables.info);
    assert_eq!(tables.info.input_schema["properties"]["steps"]["type"], "integer");
    assert!(tables.imports.is_empty(), "{:?}", tables.imports);
    assert_eq!(tables.exports, vec!["wasmclaw:skill/handler@0.1.0".to_string()]);
    // The control: a small growth is granted.
    let out = grow(&rt, &tables, "tenant-a", json!({"grow": 1000})).await;
    assert_eq!(out, json!({"grows": 1, "size": 1000, "last": 0}));
}

#[tokio::test]
async fn a_huge_table_grow_is_refused_and_the_guest_carries_on() {
    let (_d, rt) = runtime();
    let tables = load_tables(&rt).await;
    let echo = load(&rt, "echo").await;
    // The default: 10,000,000 elements, a hundred times the call's limit.
    for input in [json!({}), json!({"grow": 10_000_000})] {
        let out = call(&rt, &tables, "tenant-a", &input.to_string()).await.unwrap();
        let v: Value = serde_json::from_str(&out.output).unwrap();
        assert_eq!(v, json!({"grows": 0, "size": 0, "last": -1}), "{input}");
        // wasmtime charges `table.grow` one unit of fuel per element asked
        // for, before the growth is tried, granted or not.
        assert!((10_000_000..10_100_000).contains(&out.usage.fuel), "{input}: {:?}", out.usage);
    }
    // So a growth by more elements than the call has fuel never reaches
    // the allocator: the call runs out of fuel at once.
    let e = call(&rt, &tables, "tenant-a", r#"{"grow":4294967295}"#).await.unwrap_err();
    assert!(matches!(e, Error::OutOfFuel { limit: 1_000_000_000 }), "{e}");
    let a = usage_of(&rt, "tenant-a", "tables");
    assert_eq!(a.calls, 3);
    assert_eq!(a.errors, [("out-of-fuel".to_string(), 1)].into());
    // The same tenant's next call starts from an empty table again.
    let out = grow(&rt, &tables, "tenant-a", json!({"grow": 5})).await;
    assert_eq!(out, json!({"grows": 1, "size": 5, "last": 0}));
    // Another tenant is unaffected.
    assert_eq!(call_json(&rt, &echo, "tenant-b", "[1]").await, json!([1]));
    let out = grow(&rt, &tables, "tenant-b", json!({"grow": 7})).await;
    assert_eq!(out, json!({"grows": 1, "size": 7, "last": 0}));
}

#[tokio::test]
async fn table_growth_stops_exactly_at_the_table_limit() {
    let (_d, rt) = runtime_with(|c| c.defaults.table_elements = 10_000);
    let tables = load_tables(&rt).await;
    // Ten growths of 1,000 reach the limit exactly; the eleventh is refused.
    let out = grow(&rt, &tables, "tenant-a", json!({"steps": 1000})).await;
    assert_eq!(out, json!({"grows": 10, "size": 10_000, "last": -1}));
    // Steps of 3,000: 9,000 fit, 12,000 do not.
    let out = grow(&rt, &tables, "tenant-a", json!({"steps": 3000})).await;
    assert_eq!(out, json!({"grows": 3, "size": 9000, "last": -1}));
    // Exactly the limit at once is granted; one more element is not.
    let out = grow(&rt, &tables, "tenant-a", json!({"grow": 10_000})).await;
    assert_eq!(out, json!({"grows": 1, "size": 10_000, "last": 0}));
    let out = grow(&rt, &tables, "tenant-a", json!({"grow": 10_001})).await;
    assert_eq!(out, json!({"grows": 0, "size": 0, "last": -1}));
    // One at a time: 10,000 growths of one element, then a refusal.
    let out = grow(&rt, &tables, "tenant-b", json!({"steps": 1})).await;
    assert_eq!(out, json!({"grows": 10_000, "size": 10_000, "last": -1}));
}

/// Under the default limits (100,000 elements per call) a single table is
/// bounded first by its pool slot: the engine leaves wasmtime's default of
/// 20,000 elements per table slot. The growth is refused the same way (-1),
/// but by the allocator, not by the call's limiter.
#[tokio::test]
async fn under_the_default_limits_a_table_is_capped_by_its_pool_slot() {
    let (_d, rt) = runtime();
    let tables = load_tables(&rt).await;
    let out = grow(&rt, &tables, "tenant-a", json!({"steps": 1000})).await;
    assert_eq!(out, json!({"grows": 20, "size": POOL_TABLE_SLOT, "last": -1}));
    let out = grow(&rt, &tables, "tenant-a", json!({"grow": 50_000})).await;
    assert_eq!(out, json!({"grows": 0, "size": 0, "last": -1}));
}

#[tokio::test]
async fn a_guest_trapping_on_a_refused_table_grow_gets_a_table_limit_trap() {
    let (_d, rt) = runtime();
    let tables = load_tables(&rt).await;
    let echo = load(&rt, "echo").await;
    let e = call(&rt, &tables, "tenant-a", r#"{"must_grow":10000000}"#).await.unwrap_err();
    // Not `memory limit: … 67108864 bytes`: the limit that refused is named.
    assert!(
        matches!(&e, Error::Trap { message, stderr } if message
            == "table limit: the call tried to grow its tables past its limit of 100000 elements"
            && stderr.is_empty()),
        "{e:?}"
    );
    assert_eq!((e.kind(), e.exit_code()), ("trap", 6));
    // Refused by the pool slot (20,000), under the limiter's 100,000: a
    // plain trap, since the limiter never refused anything.
    let e = call(&rt, &tables, "tenant-a", r#"{"must_grow":50000}"#).await.unwrap_err();
    assert!(
        matches!(&e, Error::Trap { message, .. } if message == "wasm trap: wasm `unreachable` instruction executed"),
        "{e:?}"
    );
    // The control: a growth within the limits does not trap.
    let out = grow(&rt, &tables, "tenant-a", json!({"must_grow": 100})).await;
    assert_eq!(out, json!({"grows": 1, "size": 100, "last": 0}));
    assert_eq!(usage_of(&rt, "tenant-a", "tables").errors, [("trap".to_string(), 2)].into());
    assert_eq!(call_json(&rt, &echo, "tenant-b", "true").await, json!(true));
}

/// `tables` with its table declared `initial` elements large.
fn tables_starting_at(initial: u64) -> String {
    let text = TABLES_WAT.replacen("(table $t 0 funcref)", &format!("(table $t {initial} funcref)"), 1);
    assert_ne!(text, TABLES_WAT);
    text
}

#[tokio::test]
async fn a_component_declaring_a_huge_table_is_refused_at_load() {
    let (_d, rt) = runtime_with(|c| c.defaults.table_elements = 10_000);
    // Past the pool's slot: the engine refuses to compile it.
    let e = load_wat(&rt, &tables_starting_at(10_000_000)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid skill: cannot compile the component: module table does not fit in pooling \
         allocator requirements: table index 0 has a minimum element size of 10000000 which exceeds \
         the limit of 20000"
    );
    // Within the slot but past the table limit: `describe`'s instance is
    // refused by the limiter, and the load says so.
    let e = load_wat(&rt, &tables_starting_at(15_000)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid skill: its describe failed: trap: table limit: the call tried to grow its tables \
         past its limit of 10000 elements"
    );
    // The control: exactly the limit loads, and its table is full.
    let full = load_wat(&rt, &tables_starting_at(10_000)).await.unwrap();
    let out = grow(&rt, &full, "tenant-a", json!({"grow": 1})).await;
    assert_eq!(out, json!({"grows": 0, "size": 10_000, "last": -1}));
}

/// `n` calls of `sleeper` (asked to sleep an hour, ended by a 1.5 s
/// deadline) as `tenant_id`, all at once; their results in order.
async fn flood(
    rt: &Runtime,
    sleeper: &Arc<Skill>,
    tenant_id: &str,
    n: usize,
) -> Vec<Result<wasmclaw::Outcome, Error>> {
    let slow = Call {
        overrides: LimitOverrides { timeout: Some(Duration::from_millis(1500)), ..Default::default() },
        ..Call::default()
    };
    let bound = bind(rt, sleeper, tenant_id);
    let calls = (0..n).map(|_| {
        let (rt, bound, slow) = (rt.clone(), bound.clone(), slow.clone());
        tokio::spawn(async move { rt.invoke(&bound, &slow, r#"{"secs":3600}"#).await })
    });
    let handles: Vec<_> = calls.collect();
    let mut results = Vec::with_capacity(n);
    for h in handles {
        results.push(h.await.expect("call task"));
    }
    results
}

/// Counts (timeouts, tenant-busy, gateway-busy, anything else).
fn tally(
    results: &[Result<wasmclaw::Outcome, Error>],
    tenant_id: &str,
    concurrency: u32,
) -> (usize, usize, usize, Vec<String>) {
    let tenant_busy =
        format!("busy: tenant {tenant_id} already has {concurrency} calls running; retry later");
    let (mut timeouts, mut busy, mut full, mut other) = (0, 0, 0, Vec::new());
    for r in results {
        match r {
            Err(Error::Timeout { limit_ms: 1500 }) => timeouts += 1,
            Err(e @ Error::Busy(_)) if e.to_string() == tenant_busy => busy += 1,
            Err(e @ Error::Busy(_)) if e.to_string() == "busy: the gateway is at capacity; retry later" => {
                full += 1
            }
            other_result => other.push(format!("{other_result:?}")),
        }
    }
    (timeouts, busy, full, other)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_300_calls_runs_exactly_concurrency_and_the_rest_are_busy() {
    let (_d, rt) = runtime_with(|c| {
        c.defaults.concurrency = 4;
        c.defaults.queue_wait_ms = 200;
    });
    let sleeper = load(&rt, "sleeper").await;
    let echo = load(&rt, "echo").await;
    let start = Instant::now();
    let a = flood(&rt, &sleeper, "tenant-a", 300);
    let b = async {
        // Tenant B's calls run while tenant A's 300 are in flight.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut outs = Vec::new();
        for i in 0..40 {
            let t = Instant::now();
            outs.push((call_json(&rt, &echo, "tenant-b", &json!({"i": i}).to_string()).await, t.elapsed()));
        }
        outs
    };
    let (a, b) = tokio::join!(a, b);
    let took = start.elapsed();
    let (timeouts, busy, full, other) = tally(&a, "tenant-a", 4);
    assert!(other.is_empty(), "unexpected outcomes: {other:?}");
    assert_eq!((timeouts, busy, full), (4, 296, 0));
    // The four ran side by side: one deadline's time, not four (6 s).
    assert!(took < Duration::from_millis(1500 * 3), "{took:?}");
    for (i, (out, t)) in b.into_iter().enumerate() {
        assert_eq!(out, json!({"i": i}));
        // Not stuck behind A's queue (200 ms) or A's calls (1.5 s each).
        assert!(t < Duration::from_millis(1400), "tenant B's call {i} waited {t:?}");
    }
    let used = usage_of(&rt, "tenant-a", "sleeper");
    assert_eq!(used.calls, 300);
    assert_eq!(used.errors, [("busy".to_string(), 296), ("timeout".to_string(), 4)].into());
    assert_eq!(usage_of(&rt, "tenant-b", "echo").errors.len(), 0);
    // Every slot was given back: tenant A runs again.
    assert_eq!(call_json(&rt, &echo, "tenant-a", "1").await, json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_from_three_tenants_never_run_more_than_the_pool_holds() {
    let (_d, rt) = runtime_with(|c| {
        c.pool.max_instances = 6;
        c.defaults.concurrency = 4;
        c.defaults.queue_wait_ms = 200;
    });
    let sleeper = load(&rt, "sleeper").await;
    let echo = load(&rt, "echo").await;
    let (a, b, c) = tokio::join!(
        flood(&rt, &sleeper, "tenant-a", 100),
        flood(&rt, &sleeper, "tenant-b", 100),
        flood(&rt, &sleeper, "tenant-c", 100),
    );
    let mut ran = 0;
    let mut refused = 0;
    for (results, t) in [(&a, "tenant-a"), (&b, "tenant-b"), (&c, "tenant-c")] {
        let (timeouts, busy, full, other) = tally(results, t, 4);
        assert!(other.is_empty(), "{t}: unexpected outcomes: {other:?}");
        assert!(timeouts <= 4, "{t} ran {timeouts} calls at once, over its concurrency of 4");
        ran += timeouts;
        refused += busy + full;
    }
    // Six instance slots: exactly six calls ran, the other 294 were busy.
    assert_eq!((ran, refused), (6, 294));
    // With the flood over, every slot is free again.
    for t in ["tenant-a", "tenant-b", "tenant-c", "tenant-d"] {
        assert_eq!(call_json(&rt, &echo, t, "2").await, json!(2), "{t}");
    }
}
