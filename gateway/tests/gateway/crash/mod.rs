//! Crash durability: the real `wasmclaw serve` killed with SIGKILL at
//! random moments while writers drive acknowledged writes, then restarted
//! on the same data directory and checked.
//!
//! Each round starts the gateway — it must print its listening line, answer
//! `/readyz` and log no error while opening the store, the vault and the
//! installed skills — verifies everything written so far, then runs ten
//! writers at once: tenants (create,
//! suspend, resume) and tokens (mint, revoke); memory (`notes` adds of
//! whole texts up to 6 KB, and deletes); secrets (`PUT`, with an agent for
//! the channels that check their values); cron (policy, `reminder` adds,
//! job deletes); installs (signed packages); tenant deletes (of tenants
//! with a token, a skill, a note and a file) — and kills the process after
//! a random delay. Every write is recorded before it is sent and counts as
//! acknowledged only once its 2xx answer has been read in full; one refused
//! a connection never reached the gateway and must be absent. After the
//! restart:
//!
//! - every acknowledged write is present with its exact value (a tenant and
//!   its last status, a token that authenticates or stays revoked, a note's
//!   full text at the key its add answered, a secret whose value signs a
//!   webhook, a cron job with its input, a policy, an agent, a channel, a
//!   skill listed and answering an invoke), and every acknowledged delete
//!   is absent (a deleted tenant's tokens are refused and its directory is
//!   gone);
//! - every write that was in flight at the kill is either wholly present or
//!   absent (a note's value is one whole text written, an installed skill
//!   answers, a tenant not listed has no directory left), and nothing never
//!   written is present. Its outcome is then fixed, and later rounds check
//!   that it stays so. (A tenant delete killed part-way may leave the
//!   tenant suspended with everything in it, as its first step suspends
//!   it; deleting it again completes.)
//!
//! The data directory accumulates, so every round re-checks the earlier
//! rounds' writes (the costly checks — an authentication, a signed webhook,
//! an invoke — cover the last round's writes and a sample of the older
//! ones). The seed is printed; `WASMCLAW_CRASH_SEED=N` replays its choices
//! (the kill moments relative to the writes are timing, not seed). On a
//! failure the data directory is kept and its path printed.
//!
//! CI runs 5 rounds (about 10 s). The long run (about 5 minutes):
//!
//! ```sh
//! WASMCLAW_CRASH_ROUNDS=50 cargo test -p wasmclaw-gateway --test gateway crash -- --nocapture
//! ```
//!
//! SIGKILL ends the process, not the machine: writes the kernel has
//! accepted survive it without an fsync. This proves the atomicity and
//! ordering of what the gateway acknowledges, not power-loss durability
//! (which rests on redb's immediate durability and the fsyncs of file
//! writes).
//!
//! The parts, along the test's own seams:
//!
//! - `child`: the gateway as a harness `Gateway` started with the crash
//!   configuration, SIGKILLed and restarted on the same data directory;
//!   the one place its `serve` arguments come in ([`run`] takes them, so a
//!   run over another store is one more test).
//! - `rng`: the seeded generator of every choice.
//! - `model`: what was written, and what became of each write.
//! - `writers`: the ten writers of a round.
//! - `checks` (the tenants, their tokens) and `contents` (what they hold):
//!   the model against the restarted gateway.

mod checks;
mod child;
// Run from `gateway_pg` only (`cluster_crash`): unused in the redb binary.
#[allow(dead_code)]
pub(crate) mod cluster;
mod contents;
mod model;
mod rng;
mod writers;

use crate::harness::ADMIN_KEY;
use model::{Fate, Item, Model, Stats};
use rng::Rng;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest a round's writers run before the kill.
const MAX_KILL_MS: u64 = 2000;

/// Over the default store (redb in the data directory).
#[test]
fn acknowledged_writes_survive_sigkill_and_nothing_is_half_written() {
    run(&[]);
}

/// The rounds to run (`WASMCLAW_CRASH_ROUNDS`, 5) and the seed of every
/// choice (`WASMCLAW_CRASH_SEED`, else from the clock and the pid).
fn rounds_and_seed() -> (usize, u64) {
    let rounds: usize = std::env::var("WASMCLAW_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let seed: u64 =
        std::env::var("WASMCLAW_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
                ^ u64::from(std::process::id())
        });
    (rounds, seed)
}

/// The crash suite over a gateway started with `serve_args` after the
/// harness's own `serve` arguments (none: the default store).
fn run(serve_args: &[&str]) {
    let (rounds, seed) = rounds_and_seed();
    println!("crash: {rounds} rounds, seed {seed} (WASMCLAW_CRASH_SEED={seed} replays it)");
    let began = Instant::now();
    let mut rng = Rng(seed);
    let model = Arc::new(Mutex::new(Model::default()));
    let mut st = Stats::default();

    let mut slowest_start = Duration::ZERO;
    let mut verifying = Duration::ZERO;
    let first_start = Instant::now();
    let mut gw = child::start(serve_args);
    for round in 0..=rounds {
        let starting = if round == 0 { first_start } else { Instant::now() };
        let up = if round == 0 { child::ready(&gw) } else { child::restart(&mut gw) };
        if let Err(e) = up {
            panic!(
                "round {round} (seed {seed}): the gateway did not start: {e}; log:\n{}",
                child::log_tail(&gw)
            );
        }
        let started = starting.elapsed();
        slowest_start = slowest_start.max(started);
        let addr = gw.addr;
        if round == 0 {
            // (The harness trusted the tests' publisher key at the start.)
            writers::warm(addr, seed, &model);
        } else {
            let v = gw.get("/v1/trust", Some(ADMIN_KEY)).expect(200);
            assert_eq!(v["keys"].as_array().map(Vec::len), Some(1), "the trusted key survives: {v}");
        }
        let checking = Instant::now();
        let tenants_dir = gw.data_dir().join("tenants");
        let fails = checks::verify(&gw, &tenants_dir, &mut model.lock().unwrap(), &mut st, &mut rng, round);
        verifying += checking.elapsed();
        if !fails.is_empty() {
            gw.kill();
            let kept = gw.keep_dir().expect("the gateway's own directory");
            panic!(
                "round {round} (seed {seed}): {} failures after the restart:\n{}\n(the data directory is kept \
                 in {}); log:\n{}",
                fails.len(),
                fails.join("\n"),
                kept.display(),
                child::log_tail(&gw)
            );
        }
        if round == rounds {
            let status = gw.stop();
            assert_eq!(status.code(), Some(0), "SIGTERM must exit 0; log:\n{}", child::log_tail(&gw));
            break;
        }

        let before = model.lock().unwrap().lens();
        let handles = writers::start_round(&[addr], seed, round, &model);
        let kill_ms = rng.range(0, MAX_KILL_MS);
        std::thread::sleep(Duration::from_millis(kill_ms));
        gw.kill();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
        let m = model.lock().unwrap();
        st.count_round(&m, &before);
        println!(
            "crash: round {round}: ready in {} ms, killed at {kill_ms} ms; so far {} writes acknowledged, {} in \
             flight, {} refused",
            started.as_millis(),
            st.writes_acked,
            st.writes_inflight,
            m.unsent
        );
    }
    println!(
        "crash: {rounds} rounds survived in {:.1} s (seed {seed}): {} writes acknowledged, {} in flight at a kill \
         ({} found present, {} absent; {} deletes left the tenant suspended), {} refused a connection (absent); \
         {} checks of acknowledged writes",
        began.elapsed().as_secs_f64(),
        st.writes_acked,
        st.writes_inflight,
        st.inflight_present,
        st.inflight_absent,
        st.deletes_left_suspended,
        model.lock().unwrap().unsent,
        st.acked_checks
    );
    let m = model.lock().unwrap();
    let acked = |items: &[Item]| items.iter().filter(|i| i.add == Fate::Acked).count();
    println!(
        "crash: slowest start {} ms; {:.1} s spent verifying",
        slowest_start.as_millis(),
        verifying.as_secs_f64()
    );
    println!(
        "crash: acknowledged creations: {} tenants ({} deleted), {} tokens, {} notes, {} secrets, {} cron jobs, \
         {} installs",
        m.tenants.iter().filter(|t| t.create == Fate::Acked).count(),
        m.tenants.iter().filter(|t| t.delete == Some(Fate::Acked)).count(),
        acked(&m.tokens),
        acked(&m.notes),
        acked(&m.secrets),
        acked(&m.jobs),
        acked(&m.installs)
    );
    assert_eq!(
        st.inflight_present + st.inflight_absent,
        st.writes_inflight,
        "every in-flight write was judged"
    );
}
