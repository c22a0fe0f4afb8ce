//! What every handler shares: the runtime and the gateway's own state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use wasmclaw::Runtime;

/// The gateway: the runtime plus whether it is draining. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    draining: AtomicBool,
    in_flight: AtomicU64,
}

impl Gateway {
    /// A gateway over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        Gateway {
            inner: Arc::new(Inner {
                runtime,
                draining: AtomicBool::new(false),
                in_flight: AtomicU64::new(0),
            }),
        }
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Whether shutdown has begun (new requests get 503).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    /// Starts draining.
    pub fn drain(&self) {
        self.inner.draining.store(true, Ordering::Relaxed);
    }

    /// Requests being served now.
    pub fn in_flight(&self) -> u64 {
        self.inner.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn enter(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// A request in flight.
pub(crate) struct InFlight(Gateway);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
