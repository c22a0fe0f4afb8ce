//! A look at a PostgreSQL store without opening it: a connection made as
//! the store makes its own (the same URL, TLS and bounds), which reads and
//! never writes — no migration, no lock — and says whether the database
//! answers, over what, and at which schema version (`wasmclaw doctor`:
//! [`PgProbe::check`]), or only whether it answers now (`/readyz`:
//! [`PgProbe::ready`], on one connection kept for it, at most one probe
//! in flight and its answer shared for a moment, so a flood of probes
//! costs the database nothing more).
//!
//! Async, on the caller's runtime (the store itself runs on its own).

use super::connect::Target;
use super::errors::{open_error, passwords_of, scrub};
use super::{PgOptions, StoreError, migrate};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio_postgres::config::Host;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgStatus {
    /// The hosts and ports (`host:port`, joined by `,`).
    pub endpoints: String,
    /// The server's version (`server_version`).
    pub server_version: String,
    /// The TLS version of the connection (`TLSv1.3`), `None` when plain.
    pub tls: Option<String>,
    /// The URL's `sslmode`, as the store reads it (`verify-full` when none).
    pub sslmode: &'static str,
    /// Whether every host is this machine (a loopback address,
    /// `localhost`, a Unix socket), where plain text stays on the machine.
    pub local: bool,
    /// The version the database's schema is at; `None` before the first
    /// start on it.
    pub schema: Option<i64>,
    /// The version this binary migrates it to.
    pub known_schema: i64,
    /// The live replicas of a cluster on this database (node id and
    /// address), by node id; empty when none is live or the schema has no
    /// membership yet.
    pub live_nodes: Vec<(String, String)>,
}

/// A PostgreSQL store's URL, read and ready to be looked at.
pub struct PgProbe {
    target: Target,
    /// The URL's passwords, scrubbed from every error.
    secrets: Vec<String>,
    /// The longest the queries may take once connected.
    limit: Duration,
    /// [`PgProbe::ready`]'s connection and last answer; the lock makes
    /// concurrent callers wait for the probe in flight and share it.
    ready: tokio::sync::Mutex<Ready>,
}

#[derive(Default)]
struct Ready {
    connection: Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>,
    /// When the last answer came, and what it was (an error's text).
    last: Option<(Instant, Result<(), String>)>,
}

impl Drop for PgProbe {
    fn drop(&mut self) {
        if let Some((_, driver)) = self.ready.get_mut().connection.take() {
            driver.abort();
        }
    }
}

impl std::fmt::Debug for PgProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgProbe").field("store", &self.target.shown).finish_non_exhaustive()
    }
}

impl PgProbe {
    /// Reads `url` as the store does (its TLS parameters included); a URL
    /// the store would refuse is refused here with the same error. Connects
    /// to nothing yet.
    pub fn new(url: &str) -> Result<PgProbe, StoreError> {
        let secrets = passwords_of(url);
        let options = PgOptions { statement_timeout: Duration::from_secs(5), ..PgOptions::default() };
        let target = Target::new(url, &options).map_err(|e| scrub(e, &secrets))?;
        Ok(PgProbe { target, secrets, limit: options.statement_timeout, ready: Default::default() })
    }

    /// The URL with its passwords as `***`.
    pub fn shown(&self) -> &str {
        &self.target.shown
    }

    /// Connects, reads what [`PgStatus`] holds, and disconnects. Bounded by
    /// the connect timeout (5 s unless the URL says otherwise) and then by
    /// 5 s for the queries. A database that cannot be reached is
    /// [`StoreError::Unreachable`]; one that refuses (a password, a
    /// certificate) says why, as at the store's start.
    pub async fn check(&self) -> Result<PgStatus, StoreError> {
        let shown = &self.target.shown;
        self.status().await.map_err(|e| {
            let e = match e {
                // Named as the store's start names them: the store, then why.
                StoreError::Unavailable(m) | StoreError::Backend(m) => open_error(shown, m),
                other => other,
            };
            scrub(e, &self.secrets)
        })
    }

    /// Whether the database answers now: `SELECT 1` on a connection kept
    /// for this (made again once it broke), everything within `limit`. An
    /// answer younger than `fresh` is given again without asking: callers
    /// arriving while a probe is in flight wait for it and share its answer.
    /// The error (the URL's password scrubbed) is
    /// [`StoreError::Unavailable`]; it is logged once when the database
    /// stops answering, and its return once.
    pub async fn ready(&self, limit: Duration, fresh: Duration) -> Result<(), StoreError> {
        let mut ready = self.ready.lock().await;
        if let Some((at, answer)) = &ready.last
            && at.elapsed() < fresh
        {
            return answer.clone().map_err(StoreError::Unavailable);
        }
        let asked = tokio::time::timeout(limit, Self::select_1(&self.target, &mut ready.connection)).await;
        let answer = match asked {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(match scrub(e, &self.secrets) {
                StoreError::Unavailable(m) | StoreError::Backend(m) => m,
                other => other.to_string(),
            }),
            Err(_) => Err(format!("PostgreSQL: no answer within {} s", limit.as_secs_f32())),
        };
        if answer.is_err()
            && let Some((_, driver)) = ready.connection.take()
        {
            driver.abort();
        }
        let was_ready = ready.last.as_ref().is_none_or(|(_, a)| a.is_ok());
        match &answer {
            Err(why) if was_ready => {
                tracing::warn!(store = %self.target.shown, error = %why, "the store does not answer: not ready")
            }
            Ok(()) if !was_ready => {
                tracing::info!(store = %self.target.shown, "the store answers again: ready")
            }
            _ => {}
        }
        ready.last = Some((Instant::now(), answer.clone()));
        answer.map_err(StoreError::Unavailable)
    }

    async fn select_1(
        target: &Target,
        connection: &mut Option<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>,
    ) -> Result<(), StoreError> {
        if connection.as_ref().is_none_or(|(client, _)| client.is_closed()) {
            if let Some((_, driver)) = connection.take() {
                driver.abort();
            }
            *connection = Some(target.connect_once().await?);
        }
        if let Some((client, _)) = connection.as_ref() {
            client.simple_query("SELECT 1").await?;
        }
        Ok(())
    }

    async fn status(&self) -> Result<PgStatus, StoreError> {
        let (client, driver) = self.target.connect_once().await?;
        let read = async {
            let row = client
                .query_one(
                    "SELECT current_setting('server_version'), \
                     (SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid() AND ssl)",
                    &[],
                )
                .await?;
            let schema = migrate::applied_version(&client).await?;
            let has_nodes: Option<String> =
                client.query_one("SELECT to_regclass('nodes')::text", &[]).await?.get(0);
            let mut live = Vec::new();
            if has_nodes.is_some() {
                let rows = client
                    .query("SELECT node_id, addr FROM nodes WHERE expires_at > now() ORDER BY node_id", &[])
                    .await?;
                live = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
            }
            Ok::<_, StoreError>((row.get::<_, String>(0), row.get::<_, Option<String>>(1), schema, live))
        };
        let read = tokio::time::timeout(self.limit, read).await;
        drop(client);
        driver.abort();
        let (server_version, tls, schema, live_nodes) = read.map_err(|_| {
            StoreError::Unavailable(format!(
                "PostgreSQL: connected, then no answer within {} s",
                self.limit.as_secs_f32()
            ))
        })??;
        Ok(PgStatus {
            endpoints: self.target.endpoints(),
            server_version,
            tls,
            sslmode: self.target.tls.mode.as_str(),
            local: self.is_local(),
            schema,
            known_schema: migrate::known_version(),
            live_nodes,
        })
    }

    fn is_local(&self) -> bool {
        let config = &self.target.config;
        let host_local = |h: &Host| match h {
            Host::Unix(_) => true,
            Host::Tcp(name) => name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        };
        if !config.get_hostaddrs().is_empty() {
            return config.get_hostaddrs().iter().all(IpAddr::is_loopback);
        }
        !config.get_hosts().is_empty() && config.get_hosts().iter().all(host_local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pg_testing::TestDb;

    #[test]
    fn a_probe_reads_without_migrating_and_says_what_it_found() {
        let Some(db) = TestDb::create() else { return };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let probe = PgProbe::new(db.url()).unwrap();
        let before = rt.block_on(probe.check()).unwrap();
        assert_eq!(before.schema, None, "an empty database: the probe created nothing");
        assert!(before.known_schema >= 1);
        assert!(before.local && before.tls.is_none() && before.sslmode == "disable", "{before:?}");
        assert!(before.endpoints.starts_with("127.0.0.1:"), "{before:?}");
        assert!(!before.server_version.is_empty());
        // The store's start migrates; the probe then reads the version.
        drop(super::super::PgBackend::connect(db.url()).unwrap());
        let after = rt.block_on(probe.check()).unwrap();
        assert_eq!(after.schema, Some(after.known_schema), "{after:?}");
    }

    #[test]
    fn a_probe_of_a_database_that_cannot_be_reached_or_refuses_says_so_without_the_password() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let probe = PgProbe::new(&format!("postgres://gw:hunter2-probe@127.0.0.1:{port}/w")).unwrap();
        assert_eq!(probe.shown(), format!("postgres://gw:***@127.0.0.1:{port}/w"));
        let e = rt.block_on(probe.check()).unwrap_err();
        assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
        assert!(!format!("{e}{e:?}").contains("hunter2"), "{e}");
        let e = PgProbe::new("postgres://gw:hunter2-probe@db/w?sslmode=sometimes").unwrap_err();
        assert!(e.to_string().contains("sslmode") && !e.to_string().contains("hunter2"), "{e}");

        let Some(db) = TestDb::create() else { return };
        let mut wrong = url::Url::parse(db.url()).unwrap();
        wrong.set_password(Some("hunter2-probe")).unwrap();
        let e = rt.block_on(PgProbe::new(wrong.as_str()).unwrap().check()).unwrap_err();
        assert!(matches!(e, StoreError::Open { .. }), "it answered: {e:?}");
        assert!(e.to_string().contains("28P01") && !e.to_string().contains("hunter2"), "{e}");
        // Without sslmode a server offering no TLS is refused, as the store refuses it.
        let plain = db.url().replace("sslmode=disable", "application_name=probe");
        let e = rt.block_on(PgProbe::new(&plain).unwrap().check()).unwrap_err();
        assert!(e.to_string().contains("server does not support TLS"), "{e}");
    }
}
