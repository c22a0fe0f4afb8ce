//! What every handler shares: the runtime and the gateway's own state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use wasmclaw::store::PgProbe;
use wasmclaw::{Runtime, StoreLocation};

/// The longest `/readyz` waits for the database to answer.
const READY_LIMIT: Duration = Duration::from_secs(2);

/// How long one answer of the database serves every `/readyz` asking.
const READY_FRESH: Duration = Duration::from_secs(1);

/// The gateway: the runtime plus whether it is draining. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    draining: AtomicBool,
    in_flight: AtomicU64,
    /// The readiness probe of a PostgreSQL store (none on redb, which is a
    /// file the process holds open); an error when its URL could not be
    /// read again (a `sslrootcert` file gone since the start).
    store_probe: Option<Result<PgProbe, String>>,
    /// The client that sends requests on to a tenant's owner (a cluster).
    forwarder: reqwest::Client,
    /// Requests sent on to another replica.
    forwarded: AtomicU64,
    /// The web dashboard's sessions and settings.
    dashboard: crate::dashboard::Dashboard,
    /// When the gateway started.
    started: std::time::Instant,
}

/// The client that sends requests on to a tenant's owner
/// ([`crate::forward`]): no proxy from the environment, no redirects, a
/// short connect timeout (the request's own timeout bounds the rest).
fn forwarding_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(2))
        // Each connection kept holds one of the owner's `max_connections`:
        // few are kept, and not for long.
        .pool_max_idle_per_host(4)
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

impl Gateway {
    /// A gateway over `runtime`.
    pub fn new(runtime: Runtime) -> Self {
        let store_probe = match &runtime.config().store {
            StoreLocation::Embedded => None,
            StoreLocation::Postgres(url) => Some(PgProbe::new(url.expose()).map_err(|e| e.to_string())),
        };
        Gateway {
            inner: Arc::new(Inner {
                draining: AtomicBool::new(false),
                in_flight: AtomicU64::new(0),
                store_probe,
                forwarder: forwarding_client(),
                forwarded: AtomicU64::new(0),
                dashboard: crate::dashboard::Dashboard::new(
                    &runtime.config().dashboard,
                    runtime.config().listen.ip(),
                ),
                started: std::time::Instant::now(),
                runtime,
            }),
        }
    }

    /// The runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// The web dashboard's state.
    pub fn dashboard(&self) -> &crate::dashboard::Dashboard {
        &self.inner.dashboard
    }

    /// How long the gateway has run.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Whether shutdown has begun (new requests get 503).
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Relaxed)
    }

    /// Whether the store answers now (always on redb): on PostgreSQL a
    /// `SELECT 1` on a connection of the probe's own, within
    /// [`READY_LIMIT`], one answer shared for [`READY_FRESH`] (so a flood
    /// of `/readyz` costs the database at most one query a second). The
    /// error says why, for the log (no password in it).
    pub(crate) async fn store_ready(&self) -> Result<(), String> {
        match &self.inner.store_probe {
            None => Ok(()),
            Some(Err(why)) => Err(why.clone()),
            Some(Ok(probe)) => {
                // The probe bounds itself; this bounds the wait for its lock too.
                match tokio::time::timeout(READY_LIMIT * 2, probe.ready(READY_LIMIT, READY_FRESH)).await {
                    Ok(answer) => answer.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer within {} s", (READY_LIMIT * 2).as_secs())),
                }
            }
        }
    }

    /// The client that forwards requests to a tenant's owner.
    pub(crate) fn forwarder(&self) -> &reqwest::Client {
        &self.inner.forwarder
    }

    /// Counts a request forwarded to another replica.
    pub(crate) fn forwarded(&self) {
        self.inner.forwarded.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests forwarded to another replica since the start.
    pub fn forwarded_total(&self) -> u64 {
        self.inner.forwarded.load(Ordering::Relaxed)
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
