//! Cron schedules, as a skill names them (`cron` capability) and as an
//! operator or tenant lists them back.
//!
//! Properties: no expression panics; a fire time is strictly after the
//! time it was asked from, and (for a cron expression) is its own next
//! fire time from one second earlier; no two consecutive fire times are
//! closer than `shortest_gap`; a schedule survives its JSON form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmclaw::cron::{next_run, shortest_gap};
use wasmclaw::records::Schedule;

/// 2024-01-01T00:00:00Z.
const MON: u64 = 1_704_067_200;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes pick the time asked from (up to past 2100).
    let (after, expr) = match data.split_first_chunk::<8>() {
        Some((t, rest)) => (u64::from_le_bytes(*t) % 5_000_000_000, rest),
        None => (MON, data),
    };
    let Ok(expr) = std::str::from_utf8(expr) else { return };
    let every = expr.trim().parse::<u64>().ok().map(Schedule::EverySeconds);
    for s in [Some(Schedule::Cron(expr.to_string())), every].into_iter().flatten() {
        let json = serde_json::to_string(&s).expect("a schedule serializes");
        assert_eq!(serde_json::from_str::<Schedule>(&json).expect("and parses back"), s);
        let Ok(first) = next_run(&s, after) else { continue };
        assert!(first > after, "{s:?}: {first} is not after {after}");
        if matches!(s, Schedule::Cron(_)) {
            // A calendar time is its own next one from a second earlier (an
            // interval counts from whenever it is asked).
            assert_eq!(next_run(&s, first - 1), Ok(first), "{s:?}");
        }
        let Ok(gap) = shortest_gap(&s, after) else {
            panic!("{s:?} fires at {first} but has no shortest gap");
        };
        assert!(gap >= 1);
        let mut t = first;
        for _ in 0..4 {
            let Ok(n) = next_run(&s, t) else { break };
            assert!(n - t >= gap, "{s:?}: {t} to {n} is under the shortest gap {gap}");
            t = n;
        }
    }
});
