//! TLS to PostgreSQL, against real servers: a cluster of the tests' own
//! with `ssl=on` and `hostssl`-only TCP (a CA and a server certificate for
//! `localhost` made here with rcgen; `PG_TEST_TLS` of
//! `scripts/pg-test-cluster.sh`), and the plain test cluster
//! (`WASMCLAW_TEST_PG`, which offers no TLS).
//!
//! They run where the PostgreSQL tests run (`WASMCLAW_TEST_PG` set), and
//! under `CI=true` whatever the environment says (the script installs
//! PostgreSQL when it is missing); elsewhere they print `skipped`.

use super::super::{PgBackend, PgOptions, StoreError};
use super::*;
use crate::store::pg_testing::TestDb;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

fn options() -> PgOptions {
    PgOptions {
        pool_size: 2,
        statement_timeout: Duration::from_secs(10),
        pool_timeout: Duration::from_secs(10),
        threads: 1,
    }
}

// ---- the URL's TLS parameters (no server) ----

#[test]
fn sslmode_and_sslrootcert_are_taken_out_and_the_rest_is_handed_over_unchanged() {
    let url = "postgres://gw:p%40ss@db.internal:5432/w?application_name=a%20b&sslmode=verify-ca\
               &options=-c%20x%3Dy&sslrootcert=%2Fetc%2Fca%20dir%2Fca.pem";
    let (rest, tls) = split_url(url).unwrap();
    assert_eq!(rest, "postgres://gw:p%40ss@db.internal:5432/w?application_name=a%20b&options=-c%20x%3Dy");
    assert_eq!(tls, TlsOptions { mode: TlsMode::VerifyCa, roots: Roots::File("/etc/ca dir/ca.pem".into()) });

    // Without parameters, the secure default: verify-full on the built-in roots.
    let (rest, tls) = split_url("postgres://gw:pw@db/w").unwrap();
    assert_eq!((rest.as_str(), tls), ("postgres://gw:pw@db/w", TlsOptions::default()));
    assert_eq!(TlsOptions::default().mode, TlsMode::VerifyFull);
    // The last of each wins (libpq's rule); `system` names the built-in roots.
    let (rest, tls) =
        split_url("postgres://db/w?sslmode=disable&sslmode=require&sslrootcert=system").unwrap();
    assert_eq!(
        (rest.as_str(), tls),
        ("postgres://db/w", TlsOptions { mode: TlsMode::Require, ..Default::default() })
    );
    // A `?` in the password is the password's, not the parameters' start.
    let (rest, tls) = split_url("postgres://gw:a?sslmode=disable@db/w").unwrap();
    assert_eq!((rest.as_str(), tls.mode), ("postgres://gw:a?sslmode=disable@db/w", TlsMode::VerifyFull));
}

#[test]
fn an_unknown_or_plain_text_first_sslmode_is_refused_without_repeating_the_url() {
    for (url, says) in [
        ("postgres://gw:hunter2@db/w?sslmode=allow", "sslmode=allow"),
        ("postgres://gw:hunter2@db/w?sslmode=verify_full", "\"verify_full\" is not one of"),
        ("postgres://gw:hunter2@db/w?sslmode=", "is not one of"),
        ("postgres://gw:hunter2@db/w?sslrootcert=", "sslrootcert is empty"),
    ] {
        let e = split_url(url).unwrap_err();
        assert!(e.contains(says) && !e.contains("hunter2"), "{url}: {e}");
        // And at connect: a clear open error, the password hidden.
        let e = PgBackend::connect_with(url, &options()).unwrap_err();
        assert!(matches!(e, StoreError::Open { .. }), "{e:?}");
        assert!(e.to_string().contains(says) && !format!("{e}{e:?}").contains("hunter2"), "{e}");
    }
}

#[test]
fn tls_is_required_by_default_and_never_over_a_unix_socket() {
    let mode = |url: &str| {
        let (rest, tls) = split_url(url).unwrap();
        let mut config: tokio_postgres::Config = rest.parse().unwrap();
        let plain = matches!(connector(&mut config, &tls).unwrap(), Connector::Plain);
        (config.get_ssl_mode(), plain)
    };
    assert_eq!(mode("postgres://db/w"), (SslMode::Require, false));
    assert_eq!(mode("postgres://db/w?sslmode=verify-ca"), (SslMode::Require, false));
    assert_eq!(mode("postgres://db/w?sslmode=require"), (SslMode::Require, false));
    assert_eq!(mode("postgres://db/w?sslmode=prefer"), (SslMode::Prefer, false));
    assert_eq!(mode("postgres://db/w?sslmode=disable"), (SslMode::Disable, true));
    // PostgreSQL offers no TLS on its Unix socket: none is asked for there.
    assert_eq!(mode("postgres://%2Frun%2Fpostgresql/w"), (SslMode::Disable, true));
    assert_eq!(mode("postgres://%2Frun%2Fpostgresql,db/w"), (SslMode::Require, false));
}

#[test]
fn an_unreadable_or_empty_root_file_is_refused_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.pem");
    let empty = d.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    for (file, says) in [(&missing, "cannot read it"), (&empty, "holds no PEM certificate")] {
        let url = format!("postgres://gw:hunter2@db/w?sslrootcert={}", file.display());
        let e = PgBackend::connect_with(&url, &options()).unwrap_err().to_string();
        assert!(e.contains(&file.display().to_string()) && e.contains(says), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}

// ---- a server that offers TLS, and one that does not ----

/// Whether the server tests run here: where the PostgreSQL tests run, and
/// always under CI.
fn wanted() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let pg = std::env::var(crate::store::pg_testing::ENV_VAR).is_ok_and(|v| !v.trim().is_empty());
    if !(ci || pg) {
        println!("skipped: no PostgreSQL (set WASMCLAW_TEST_PG to run the TLS tests)");
    }
    ci || pg
}

/// A CA, a server certificate it signed for `localhost` only, and another
/// CA that signed nothing here; PEM files in a directory of their own.
struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn make() -> Certificates {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
            KeyUsagePurpose,
        };
        let dir = tempfile::tempdir().unwrap();
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            (cert.pem(), Issuer::new(params, key))
        };
        let (ca_pem, issuer) = ca("wasmclaw test CA");
        let (other_pem, _) = ca("another CA");
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let server = params.signed_by(&key, &issuer).unwrap();
        for (name, pem) in [
            ("ca.crt", ca_pem),
            ("other-ca.crt", other_pem),
            ("server.crt", server.pem()),
            ("server.key", key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Certificates { dir }
    }
}

/// A cluster with `ssl=on` on [`Certificates`] that takes TCP connections
/// only over TLS; stopped and removed when the last test holding it ends.
struct TlsCluster {
    certs: Certificates,
    dir: PathBuf,
    user: String,
    password: String,
    port: u16,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-cluster.sh")
}

fn run_script(args: &[&str], tls: Option<&Path>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(script()).args(args).stdin(Stdio::null());
    if let Some(dir) = tls {
        cmd.env("PG_TEST_TLS", dir);
    }
    let out = cmd.output().expect("run bash");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pg-test-cluster.sh {args:?}: {err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl TlsCluster {
    /// The cluster the running tests share, started by the first of them.
    fn shared() -> Option<Arc<TlsCluster>> {
        static SHARED: Mutex<Weak<TlsCluster>> = Mutex::new(Weak::new());
        if !wanted() {
            return None;
        }
        let mut shared = SHARED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(cluster) = shared.upgrade() {
            return Some(cluster);
        }
        let cluster = Arc::new(TlsCluster::start());
        *shared = Arc::downgrade(&cluster);
        Some(cluster)
    }

    fn start() -> TlsCluster {
        let certs = Certificates::make();
        let dir = PathBuf::from(run_script(&["dir"], None).trim());
        let mut cluster = TlsCluster { certs, dir, user: String::new(), password: String::new(), port: 0 };
        let out = run_script(&["start", cluster.dir.to_str().unwrap()], Some(cluster.certs.dir.path()));
        let url = out
            .lines()
            .find_map(|l| l.strip_prefix("export WASMCLAW_TEST_PG='"))
            .map(|v| v.trim_end_matches('\''))
            .expect("a URL from pg-test-cluster.sh start");
        let url = url::Url::parse(url).unwrap();
        assert_eq!(url.query(), None, "a TLS cluster's URL leaves sslmode to the caller");
        cluster.user = url.username().to_string();
        cluster.password = url.password().unwrap().to_string();
        cluster.port = url.port().unwrap();
        cluster
    }

    /// A URL to this server by `host` (resolved to 127.0.0.1) with
    /// `params`; `sslrootcert=NAME` names a file of [`Certificates`].
    fn url(&self, host: &str, params: &str) -> String {
        let params =
            params.replace("sslrootcert=", &format!("sslrootcert={}/", self.certs.dir.path().display()));
        let sep = if params.is_empty() { "" } else { "&" };
        format!(
            "postgres://{}:{}@{host}:{}/postgres?hostaddr=127.0.0.1{sep}{params}",
            self.user, self.password, self.port
        )
    }

    /// `url`'s error at connect, checked not to show the password.
    #[track_caller]
    fn refused(&self, url: &str) -> String {
        let e = PgBackend::connect_with(url, &options()).unwrap_err();
        let shown = format!("{e}");
        assert!(!shown.contains(&self.password) && !format!("{e:?}").contains(&self.password), "{shown}");
        assert!(!shown.contains("password authentication"), "not a password problem: {shown}");
        shown
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).args(["stop", self.dir.to_str().unwrap()]).output();
    }
}

/// Whether `store`'s connection is encrypted, as the server sees it, and
/// with what.
fn tls_of(store: &PgBackend) -> Option<String> {
    let sql =
        "SELECT CASE WHEN ssl THEN version ELSE 'none' END FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    store.text_of(sql).unwrap().filter(|v| v != "none")
}

#[test]
fn verify_full_with_the_right_root_connects_over_tls_and_so_do_the_modes_that_verify() {
    let Some(pg) = TlsCluster::shared() else { return };
    for params in [
        "sslmode=verify-full&sslrootcert=ca.crt",
        // No sslmode is verify-full.
        "sslrootcert=ca.crt",
        "sslmode=require&sslrootcert=ca.crt",
        "sslmode=verify-ca&sslrootcert=ca.crt",
        "sslmode=prefer&sslrootcert=ca.crt",
    ] {
        let store = PgBackend::connect_with(&pg.url("localhost", params), &options())
            .unwrap_or_else(|e| panic!("{params}: {e}"));
        let version = tls_of(&store);
        assert!(version.as_deref().is_some_and(|v| v.starts_with("TLSv1.")), "{params}: {version:?}");
    }
    // The probe (`wasmclaw doctor`) connects the same way, and says so.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let probe = super::super::PgProbe::new(&pg.url("localhost", "sslrootcert=ca.crt")).unwrap();
    let status = rt.block_on(probe.check()).unwrap();
    assert!(status.tls.as_deref().is_some_and(|v| v.starts_with("TLSv1.")), "{status:?}");
    assert_eq!(status.sslmode, "verify-full");
    let e = rt.block_on(super::super::PgProbe::new(&pg.url("localhost", "")).unwrap().check()).unwrap_err();
    assert!(e.to_string().contains("not signed by a trusted root"), "{e}");
}

#[test]
fn a_certificate_no_trusted_root_signed_is_refused_naming_the_problem_never_the_password() {
    let Some(pg) = TlsCluster::shared() else { return };
    for params in [
        "sslmode=verify-full&sslrootcert=other-ca.crt",
        // The built-in web PKI roots did not sign a private CA's certificate.
        "",
        "sslmode=require",
        "sslmode=verify-ca&sslrootcert=other-ca.crt",
        // `prefer` verifies what it gets, and never falls back to plain text.
        "sslmode=prefer&sslrootcert=other-ca.crt",
    ] {
        let e = pg.refused(&pg.url("localhost", params));
        assert!(e.contains("invalid peer certificate: UnknownIssuer"), "{params}: {e}");
        assert!(e.contains("the server's TLS certificate is not signed by a trusted root"), "{params}: {e}");
        let roots = if params.contains("other-ca") { "other-ca.crt" } else { "built-in web PKI roots" };
        assert!(e.contains(roots), "{params}: the roots are named: {e}");
    }
}

#[test]
fn the_host_name_is_checked_by_verify_full_and_require_and_not_by_verify_ca() {
    let Some(pg) = TlsCluster::shared() else { return };
    // The certificate names `localhost`; connect to it as `127.0.0.1`.
    for params in ["sslmode=verify-full&sslrootcert=ca.crt", "sslmode=require&sslrootcert=ca.crt"] {
        let e = pg.refused(&pg.url("127.0.0.1", params));
        assert!(e.contains("certificate not valid for name \"127.0.0.1\""), "{params}: {e}");
        assert!(e.contains("does not name the host \"127.0.0.1\""), "{params}: {e}");
    }
    let store =
        PgBackend::connect_with(&pg.url("127.0.0.1", "sslmode=verify-ca&sslrootcert=ca.crt"), &options())
            .expect("verify-ca checks the chain only");
    assert!(tls_of(&store).is_some());
    // verify-ca still wants the chain.
    let e = pg.refused(&pg.url("127.0.0.1", "sslmode=verify-ca&sslrootcert=other-ca.crt"));
    assert!(e.contains("UnknownIssuer"), "{e}");
}

#[test]
fn sslmode_disable_is_refused_by_a_server_that_takes_only_tls() {
    let Some(pg) = TlsCluster::shared() else { return };
    let e = pg.refused(&pg.url("localhost", "sslmode=disable"));
    assert!(e.contains("no pg_hba.conf entry") && e.contains("no encryption"), "the server's refusal: {e}");
    assert!(e.contains("only over TLS: remove sslmode=disable"), "what to change: {e}");
}

#[test]
fn a_server_without_tls_is_refused_unless_the_url_says_prefer_or_disable() {
    let Some(db) = TestDb::create() else { return };
    let password = url::Url::parse(db.url()).unwrap().password().unwrap().to_string();
    let url = |params: &str| db.url().replace("sslmode=disable", params);
    for params in ["sslmode=verify-full", "sslmode=require", "sslmode=verify-ca", "application_name=x"] {
        let e = PgBackend::connect_with(&url(params), &options()).unwrap_err().to_string();
        assert!(e.contains("server does not support TLS"), "{params}: {e}");
        assert!(e.contains("add sslmode=disable to the store URL"), "{params}: {e}");
        assert!(!e.contains(&password), "{e}");
    }
    for params in ["sslmode=prefer", "sslmode=disable"] {
        let store =
            PgBackend::connect_with(&url(params), &options()).unwrap_or_else(|e| panic!("{params}: {e}"));
        assert_eq!(tls_of(&store), None, "{params}: a plain connection");
    }
}
