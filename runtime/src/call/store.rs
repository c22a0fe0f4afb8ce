//! The `Store` of one call: its fuel, its memory limiter, its wall-clock
//! deadline (the epoch callback) and its turns among long calls
//! ([`crate::slices`]), host calls paid for in fuel; and how a failure of
//! the guest in it becomes the runtime's [`Error`].

use crate::caps;
use crate::config::Limits;
use crate::error::Error;
use crate::host::{HostState, STDERR_TAIL};
use crate::slices::Turns;
use std::time::Instant;
use wasmtime::{CallHook, Engine, Store, StoreContextMut, Trap, UpdateDeadline};

/// Marker error raised by the epoch callback when a call passes its
/// deadline.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call passed its wall-clock deadline")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// A store with the call's fuel, limiter and deadline, whose guest runs
/// past its first epoch tick only in `turns` (see [`crate::slices`]), and
/// whose host calls are paid for in fuel: [`caps::HOST_CALL_FUEL`] each,
/// plus what the host functions charged to `debt` for their work, taken
/// when the host returns to the guest (past the fuel left: `out of fuel`).
pub(crate) fn new_store(
    engine: &Engine,
    state: HostState,
    limits: &Limits,
    turns: Turns,
    debt: caps::FuelDebt,
) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    // Fuel is enabled on the engine, so setting it cannot fail.
    let _ = store.set_fuel(limits.fuel);
    {
        let turns = turns.clone();
        // Host calls nest: lowering a result may call the guest's
        // allocator, whose own libcalls (`memory.grow`) are host calls too,
        // and that guest code keeps its fuel in a register across them, so
        // fuel set in a nested one is lost. The debt is paid only on
        // returning from the outermost.
        let mut depth = 0u32;
        store.call_hook(move |mut ctx, hook| {
            match hook {
                CallHook::CallingHost => {
                    turns.release();
                    if depth == 0 {
                        debt.set_left(ctx.get_fuel()?);
                    }
                    depth += 1;
                }
                CallHook::ReturningFromHost => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        pay_debt(&mut ctx, &debt)?;
                    }
                    // No slot free for a long call: a deadline already
                    // passed makes the guest yield at its next check, to
                    // queue.
                    if !turns.resume() {
                        ctx.set_epoch_deadline(0);
                    }
                }
                _ => {}
            }
            Ok(())
        });
    }
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |ctx| {
        let deadline = ctx.data().deadline;
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineExceeded))
        } else {
            Ok(UpdateDeadline::YieldCustom(1, turns.next_turn(deadline)))
        }
    });
    store
}

/// Takes one host call's cost and its debt from the call's fuel; a cost
/// past the fuel left empties it and ends the call as `out of fuel`.
fn pay_debt(ctx: &mut StoreContextMut<'_, HostState>, debt: &caps::FuelDebt) -> wasmtime::Result<()> {
    let owed = debt.take().saturating_add(caps::HOST_CALL_FUEL);
    let fuel = ctx.get_fuel()?;
    if owed > fuel {
        ctx.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    ctx.set_fuel(fuel - owed)
}

/// Turns a failed instantiation or call into the runtime's error.
pub(crate) fn classify(e: wasmtime::Error, store: &Store<HostState>, limits: &Limits) -> Error {
    let state = store.data();
    if state.limiter.hit {
        return Error::MemoryLimit { limit_bytes: limits.memory_bytes };
    }
    if state.limiter.table_hit {
        return Error::Trap {
            message: format!(
                "table limit: the call tried to grow its tables past its limit of {} elements",
                limits.table_elements
            ),
            stderr: tail(&state.stderr.text(), STDERR_TAIL),
        };
    }
    if e.is::<DeadlineExceeded>() {
        return Error::Timeout { limit_ms: limits.timeout_ms };
    }
    if e.is::<wasmtime::PoolConcurrencyLimitError>() {
        return Error::Busy("the gateway has no free instance slot; retry later".into());
    }
    let stderr = tail(&state.stderr.text(), STDERR_TAIL);
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Error::OutOfFuel { limit: limits.fuel },
        Some(Trap::StackOverflow) => Error::Trap { message: "stack overflow".into(), stderr },
        Some(trap) => Error::Trap { message: trap.to_string(), stderr },
        // A host error (an unimplemented import, …): its root cause, not
        // the wasm backtrace around it.
        None => Error::Trap { message: e.root_cause().to_string(), stderr },
    }
}

fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("aébc", 3), "bc");
    }
}
