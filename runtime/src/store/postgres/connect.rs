//! Where connections go and how they are made: the store URL read into a
//! tokio-postgres configuration with this store's bounds and its TLS
//! ([`super::tls`]), and one connection opened with a bound on the whole
//! handshake, its failure said in words the operator can act on.

use super::errors::{open_error, redacted_url};
use super::tls::{self, Connector, TlsOptions};
use super::{PgOptions, StoreError};
use std::time::Duration;
use tokio_postgres::config::Host;

/// A database to connect to: the configuration, the TLS connector, and
/// the URL as it may be shown.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) config: tokio_postgres::Config,
    pub(super) connector: Connector,
    pub(super) tls: TlsOptions,
    /// The URL with its passwords as `***`.
    pub(super) shown: String,
}

impl Target {
    /// Reads `url` (its TLS parameters first, the rest by tokio-postgres)
    /// and applies `options`' bounds. Errors are [`StoreError::Open`],
    /// never repeating the URL's password.
    pub(super) fn new(url: &str, options: &PgOptions) -> Result<Target, StoreError> {
        let shown = redacted_url(url);
        let (rest, tls) = tls::split_url(url).map_err(|e| open_error(&shown, e))?;
        let mut config: tokio_postgres::Config =
            rest.parse().map_err(|e| open_error(&shown, format!("not a valid PostgreSQL URL ({e})")))?;
        let mut opts = config.get_options().unwrap_or_default().to_string();
        // The server bounds every statement; a transaction left idle (a
        // caller that never came back) is ended too.
        let ms = options.statement_timeout.as_millis().max(1);
        opts.push_str(&format!(
            " -c statement_timeout={ms} -c idle_in_transaction_session_timeout={}",
            ms.saturating_mul(2)
        ));
        config.options(opts.trim());
        if config.get_application_name().is_none() {
            config.application_name("wasmclaw");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.pool_timeout);
        }
        config.keepalives(true);
        let connector = tls::connector(&mut config, &tls).map_err(|e| open_error(&shown, e))?;
        Ok(Target { config, connector, tls, shown })
    }

    /// The hosts and ports, as `host:port` joined by `,`: what a message
    /// names (no password is in them).
    pub(super) fn endpoints(&self) -> String {
        let ports = self.config.get_ports();
        let port = |i: usize| ports.get(i).or(ports.last()).copied().unwrap_or(5432);
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| match h {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{}", port(i)),
                Host::Tcp(name) => format!("{name}:{}", port(i)),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port(i)),
            })
            .collect();
        if hosts.is_empty() { format!("localhost:{}", port(0)) } else { hosts.join(",") }
    }

    /// Opens one connection, driven by a task on the current runtime.
    /// tokio-postgres's connect timeout bounds the TCP connect only: a
    /// server that takes the connection and never answers (a hung one)
    /// would hold the caller for ever, so the whole handshake (TLS and
    /// login included) is bounded by the same time. A failure says why, in
    /// words for the operator when TLS refused it (see [`tls::hint`]).
    /// Nothing answering at the address, or nothing in time, is
    /// [`StoreError::Unreachable`]; a server that answers and refuses is
    /// the error it gave.
    pub(super) async fn connect_once(
        &self,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
        self.connect_notified(None).await
    }

    /// [`Target::connect_once`], the connection's notifications (after a
    /// `LISTEN`) passed to `notices`; its task ends with the connection.
    pub(super) async fn connect_notified(
        &self,
        notices: Option<tls::Notices>,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError> {
        let limit = self.config.get_connect_timeout().copied().unwrap_or(Duration::from_secs(5));
        let unreachable = |reason: String| StoreError::Unreachable {
            store: self.shown.clone(),
            endpoints: self.endpoints(),
            reason,
        };
        match tokio::time::timeout(limit, tls::connect(&self.config, &self.connector, notices)).await {
            Err(_) => Err(unreachable(format!(
                "PostgreSQL connection: no answer from the server within {} s of connecting",
                limit.as_secs_f32()
            ))),
            Ok(Ok(connected)) => Ok(connected),
            Ok(Err(e)) if is_unreachable(&e) => {
                Err(unreachable(format!("PostgreSQL connection: {}", super::errors::with_causes(&e))))
            }
            Ok(Err(e)) => {
                let hint = tls::hint(&e, &self.tls, &self.tls_host());
                Err(match (StoreError::from(e), hint) {
                    (StoreError::Unavailable(m), Some(h)) => StoreError::Unavailable(format!("{m}: {h}")),
                    (StoreError::Backend(m), Some(h)) => StoreError::Backend(format!("{m}: {h}")),
                    (other, _) => other,
                })
            }
        }
    }

    /// The host name a certificate is checked against (the first TCP host).
    fn tls_host(&self) -> String {
        self.config
            .get_hosts()
            .iter()
            .find_map(|h| match h {
                Host::Tcp(name) => Some(name.clone()),
                Host::Unix(_) => None,
            })
            .unwrap_or_default()
    }
}

/// Whether `e` says that nothing answered at the address: an I/O failure
/// connecting or talking (refused, reset, no route, a name that does not
/// resolve, a TCP connect timeout), not an answer of the server's (an
/// error it sent) nor a TLS refusal (tokio-postgres names TLS in each).
fn is_unreachable(e: &tokio_postgres::Error) -> bool {
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    e.as_db_error().is_none() && io && !super::errors::with_causes(e).contains("TLS")
}
