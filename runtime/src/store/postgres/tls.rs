//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert`, read from the
//! store URL, with a verifying rustls client.
//!
//! The gateway may face the public internet and so may its database: the
//! default is **`verify-full`** (libpq's default is `prefer`, which takes
//! any certificate). A certificate is never accepted unverified:
//!
//! | `sslmode` | TLS | the certificate |
//! | --- | --- | --- |
//! | (none), `verify-full` | required | signed by a trusted root and naming the host |
//! | `require` | required | the same as `verify-full` (libpq's `require` checks nothing; a certificate nobody checks stops no attacker on the path) |
//! | `verify-ca` | required | signed by a trusted root; the host name is not checked |
//! | `prefer` | when the server offers it, else none | when TLS is used, as `verify-full`: a refused certificate fails the connection, it never falls back to plain text. An attacker on the path can still strip TLS: for a trusted network only |
//! | `disable` | none | — (the operator's explicit choice, for a database on a trusted network) |
//!
//! libpq's `allow` (plain text first) is refused. The trusted roots are
//! the web PKI's (Mozilla's, compiled in: `webpki-roots`, as outbound HTTP
//! uses), or, with `sslrootcert=FILE`, exactly the PEM certificates of
//! FILE (a private CA; libpq's meaning). `sslrootcert=system` names the
//! compiled-in roots. A Unix-socket host never uses TLS (PostgreSQL offers
//! none there). rustls speaks TLS 1.2 and 1.3 and sends the ALPN
//! `postgresql` (PostgreSQL 17's direct TLS needs it); SCRAM binds the
//! password exchange to the TLS channel (`tls-server-end-point`).
//!
//! tokio-postgres knows `sslmode` only as `disable`, `prefer` and `require`
//! and no `sslrootcert` at all: [`split_url`] takes both out of the URL and
//! hands the rest over unchanged, byte for byte.

use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`, as this store reads it (see the module's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, verified as `VerifyFull`.
    Prefer,
    /// TLS required, verified as `VerifyFull`.
    Require,
    /// TLS required; the chain is verified, the host name is not.
    VerifyCa,
    /// TLS required; the chain and the host name are verified.
    #[default]
    VerifyFull,
}

impl TlsMode {
    fn parse(value: &str) -> Result<TlsMode, String> {
        Ok(match value {
            "disable" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            "allow" => {
                return Err("sslmode=allow (plain text first) is not supported; use verify-full (the \
                            default), verify-ca, require, prefer or disable"
                    .into());
            }
            _ => {
                return Err(format!(
                    "sslmode={:?} is not one of verify-full (the default), verify-ca, require, prefer, disable",
                    value.chars().take(32).collect::<String>()
                ));
            }
        })
    }

    /// libpq's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Roots {
    /// The web PKI's roots, compiled in.
    #[default]
    BuiltIn,
    /// The PEM certificates of this file (`sslrootcert=FILE`).
    File(PathBuf),
}

/// The TLS settings of a store URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct TlsOptions {
    pub(super) mode: TlsMode,
    pub(super) roots: Roots,
}

impl TlsOptions {
    /// What the trusted roots are, for messages.
    fn roots_shown(&self) -> String {
        match &self.roots {
            Roots::BuiltIn => {
                "the built-in web PKI roots (give the server's CA with sslrootcert=FILE)".into()
            }
            Roots::File(p) => format!("sslrootcert={}", p.display()),
        }
    }
}

/// Takes `sslmode` and `sslrootcert` out of `url`'s parameters (the last of
/// each wins, as in libpq) and returns the URL for tokio-postgres, every
/// other byte as it was, with the TLS settings. The error names the
/// parameter, never the URL (it holds a password).
pub(super) fn split_url(url: &str) -> Result<(String, TlsOptions), String> {
    // tokio-postgres's reading: the user info runs to the first `@`, the
    // parameters start at the first `?` after it.
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let creds_end = url[scheme_end..].find('@').map_or(scheme_end, |i| scheme_end + i + 1);
    let Some(q) = url[creds_end..].find('?').map(|i| creds_end + i) else {
        return Ok((url.to_string(), TlsOptions::default()));
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for chunk in url[q + 1..].split('&') {
        let (k, v) = chunk.split_once('=').unwrap_or((chunk, ""));
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        match decode(k).as_str() {
            "sslmode" => mode = Some(decode(v)),
            "sslrootcert" => root = Some(decode(v)),
            _ => kept.push(chunk),
        }
    }
    let mut rest = url[..q].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    let mode = mode.as_deref().map_or(Ok(TlsMode::default()), TlsMode::parse)?;
    let roots = match root.as_deref() {
        None | Some("system") => Roots::BuiltIn,
        Some("") => return Err("sslrootcert is empty; give the file of the server's CA".into()),
        Some(path) => Roots::File(PathBuf::from(path)),
    };
    Ok((rest, TlsOptions { mode, roots }))
}

/// How connections are made: plain, or through rustls.
#[derive(Clone)]
pub(super) enum Connector {
    Plain,
    Rustls(MakeRustlsConnect),
}

/// Sets `config`'s `sslmode` for `options` and builds the connector. A
/// URL whose hosts are all Unix sockets connects without TLS.
pub(super) fn connector(
    config: &mut tokio_postgres::Config,
    options: &TlsOptions,
) -> Result<Connector, String> {
    let unix_only = !config.get_hosts().is_empty()
        && config.get_hosts().iter().all(|h| !matches!(h, Host::Tcp(_)))
        && config.get_hostaddrs().is_empty();
    let mode = if unix_only { TlsMode::Disable } else { options.mode };
    config.ssl_mode(match mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    });
    if mode == TlsMode::Disable {
        return Ok(Connector::Plain);
    }
    Ok(Connector::Rustls(MakeRustlsConnect::new(client_config(options)?)))
}

/// The rustls client for `options`: its roots, and the host-name check
/// unless `verify-ca`.
fn client_config(options: &TlsOptions) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(root_store(&options.roots)?);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let mut config = if options.mode == TlsMode::VerifyCa {
        let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| format!("TLS: {e}"))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHostName(chain)))
            .with_no_client_auth()
    } else {
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

fn root_store(roots: &Roots) -> Result<rustls::RootCertStore, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Roots::BuiltIn => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::File(path) => {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert={shown}: cannot read it: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("sslrootcert={shown}: not PEM certificates: {e}"))?;
                store
                    .add(cert)
                    .map_err(|e| format!("sslrootcert={shown}: a certificate is unusable: {e}"))?;
            }
            if store.is_empty() {
                return Err(format!("sslrootcert={shown}: holds no PEM certificate"));
            }
        }
    }
    Ok(store)
}

/// `verify-ca`: the chain is verified by the web PKI verifier, which checks
/// the host name last; a certificate refused only for its name passes.
#[derive(Debug)]
struct AnyHostName(Arc<rustls::client::WebPkiServerVerifier>);

impl rustls::client::danger::ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::{NotValidForName, NotValidForNameContext};
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(NotValidForName | NotValidForNameContext { .. })) => {
                Ok(rustls::client::danger::ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Where the server's notifications go (a connection that `LISTEN`s):
/// called on the connection's task, once per notification.
pub(super) type Notices = Box<dyn Fn(tokio_postgres::Notification) + Send + Sync>;

/// Connects once with `connector`; the connection is driven by a task on
/// the current runtime, whose handle comes back with the client and ends
/// with the connection. Its notifications go to `notices` (dropped
/// without).
pub(super) async fn connect(
    config: &tokio_postgres::Config,
    connector: &Connector,
    notices: Option<Notices>,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error> {
    match connector {
        Connector::Plain => {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            Ok((client, tokio::spawn(drive(connection, notices))))
        }
        Connector::Rustls(tls) => {
            let (client, connection) = config.connect(tls.clone()).await?;
            Ok((client, tokio::spawn(drive(connection, notices))))
        }
    }
}

/// Drives `connection` until it ends, passing its notifications on.
async fn drive<S, T>(mut connection: tokio_postgres::Connection<S, T>, notices: Option<Notices>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(notices) = notices else {
        drop(connection.await);
        return;
    };
    while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
        if let tokio_postgres::AsyncMessage::Notification(n) = message {
            notices(n);
        }
    }
}

/// What to add to a failed connection's error so the operator knows what
/// to fix: the certificate's problem in words, or the sslmode to change.
/// `host` is the host name the certificate was checked against.
pub(super) fn hint(error: &tokio_postgres::Error, options: &TlsOptions, host: &str) -> Option<String> {
    use rustls::CertificateError as C;
    if let Some(problem) = certificate_error(error) {
        let mode = options.mode.as_str();
        return Some(match problem {
            C::UnknownIssuer | C::BadSignature => format!(
                "the server's TLS certificate is not signed by a trusted root (sslmode={mode}; the roots \
                 are {})",
                options.roots_shown()
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "the server's TLS certificate does not name the host {host:?} (sslmode={mode} checks the \
                 name: connect by a name the certificate holds)"
            ),
            C::Expired | C::ExpiredContext { .. } => "the server's TLS certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's TLS certificate is not valid yet (check the clocks)".into()
            }
            C::Revoked => "the server's TLS certificate is revoked".into(),
            other => format!("the server's TLS certificate is refused ({other}; sslmode={mode})"),
        });
    }
    let text = super::errors::with_causes(error);
    if text.contains("server does not support TLS") {
        return Some(format!(
            "the server offers no TLS and sslmode={} requires it: turn ssl on in the server, or, on a \
             trusted network only, add sslmode=disable to the store URL",
            options.mode.as_str()
        ));
    }
    if options.mode == TlsMode::Disable && text.contains("no encryption") {
        return Some(
            "the server accepts this connection only over TLS: remove sslmode=disable from the store URL"
                .into(),
        );
    }
    None
}

/// The certificate problem rustls refused the server's certificate for,
/// anywhere in `error`'s causes (tokio-rustls wraps it in an I/O error).
fn certificate_error(error: &tokio_postgres::Error) -> Option<rustls::CertificateError> {
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let inner = c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map(|e| e as _);
        for e in [Some(c), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(problem)) = e.downcast_ref::<rustls::Error>() {
                return Some(problem.clone());
            }
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
