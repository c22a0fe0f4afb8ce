//! What the forwarding tests share (issue 18): replicas on one database,
//! SQL run on it, a fake owner (a node row and a lease written into the
//! database, and a socket the test controls, which unlike a client sees
//! what a replica forwards), and raw HTTP requests whose answers are read
//! byte for byte (framing included). Run from `gateway_pg` only.

use crate::cluster_leases::{CONFIG, MASTER_KEY};
use crate::harness::{ADMIN_KEY, Gateway};
use serde_json::json;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A replica `node` of the database at `store` (a new one when `None`),
/// with the cluster tests' timings.
pub(crate) fn replica(node: &str, store: Option<&str>) -> Gateway {
    replica_with(node, store, CONFIG)
}

/// [`replica`] with `config`.
pub(crate) fn replica_with(node: &str, store: Option<&str>, config: &str) -> Gateway {
    let mut args = vec!["--node-id", node];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    Gateway::start_with_env(Some(config), &args, &[("WASMCLAW_MASTER_KEY", MASTER_KEY)])
}

/// Two replicas of one database, with `config`.
pub(crate) fn two_with(config: &str) -> (Gateway, Gateway) {
    let a = replica_with("r1", None, config);
    let url = a.store_url().unwrap().to_string();
    let b = replica_with("r2", Some(&url), config);
    (a, b)
}

/// Two replicas of one database.
pub(crate) fn two() -> (Gateway, Gateway) {
    two_with(CONFIG)
}

/// Runs SQL on the gateway's database.
pub(crate) fn sql(gw: &Gateway, statements: &str) {
    let url = gw.store_url().expect("a PostgreSQL store").to_string();
    let statements = statements.to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&statements).await.unwrap();
    });
}

/// Makes node `node` (live for an hour, at `addr`) the owner of `tenant`.
pub(crate) fn fake_owner(gw: &Gateway, node: &str, tenant: &str, addr: &str) {
    sql(
        gw,
        &format!(
            "INSERT INTO nodes (node_id, instance, addr, version, config_digest, expires_at) \
             VALUES ('{node}', '{node}-1', 'http://{addr}', 'x', 'x', now() + interval '1 hour') \
             ON CONFLICT (node_id) DO UPDATE SET addr = 'http://{addr}', expires_at = now() + interval '1 hour';
             INSERT INTO tenant_leases (tenant, node_id, instance, epoch) VALUES ('{tenant}', '{node}', '{node}-1', 7) \
             ON CONFLICT (tenant) DO UPDATE SET node_id = '{node}', instance = '{node}-1', epoch = tenant_leases.epoch + 1;"
        ),
    );
}

/// Creates `tenant` (as the operator, which takes no lease) and one admin
/// token of it, minted while `gw` holds its lease; returns the token.
pub(crate) fn tenant_with_token(gw: &Gateway, tenant: &str) -> String {
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": tenant })).expect(201);
    crate::harness::mint(gw, tenant, ADMIN_KEY, "admin").0
}

/// An address nothing listens on.
pub(crate) fn closed_port() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap().to_string();
    drop(l);
    a
}

/// What a fake owner does with each request it receives.
#[derive(Clone, Copy)]
pub(crate) enum Act {
    /// Reads the whole request, answers 200 `{"fake":"owner"}`.
    Answer,
    /// Reads the whole request, then closes without an answer.
    Drop,
    /// Reads the head only, then closes without an answer.
    DropAfterHead,
}

/// Reads one HTTP request: its head, then a `content-length` or chunked
/// body (unless `head_only`). Whatever arrived on a timeout or EOF.
pub(crate) fn read_request(stream: &mut TcpStream, head_only: bool) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            if head_only {
                return text;
            }
            let head = text[..end].to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
            match length {
                Some(n) if buf.len() >= end + 4 + n => return text,
                None if head.contains("transfer-encoding: chunked") && text.ends_with("0\r\n\r\n") => {
                    return text;
                }
                None if head.contains("transfer-encoding: chunked") => {}
                None => return text,
                _ => {}
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&buf).into_owned(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A fake owner on `listener`: for `window`, does `act` with every request
/// it receives; returns them.
pub(crate) fn fake(listener: TcpListener, act: Act, window: Duration) -> JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + window;
        let mut got = Vec::new();
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    let request = read_request(&mut stream, matches!(act, Act::DropAfterHead));
                    got.push(request);
                    if let Act::Answer = act {
                        let body = r#"{"fake":"owner"}"#;
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                             connection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = stream.write_all(answer.as_bytes());
                    }
                    drop(stream);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("accept: {e}"),
            }
        }
        got
    })
}

/// A raw answer: status, head (lower case, without the status line), body.
#[derive(Debug, PartialEq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    /// The header names, sorted, without `date`.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.head.iter().map(|(k, _)| k.clone()).filter(|k| k != "date").collect();
        n.sort();
        n
    }

    /// Every header (name and value) but `date`, sorted.
    pub(crate) fn headers(&self) -> Vec<(String, String)> {
        let mut h: Vec<_> = self.head.iter().filter(|(k, _)| k != "date").cloned().collect();
        h.sort();
        h
    }

    /// What a client sees, with `tenant` spelled `T`.
    pub(crate) fn seen(&self, tenant: &str) -> (u16, Vec<(String, String)>, String) {
        (self.status, self.headers(), self.body.replace(tenant, "T"))
    }
}

/// Sends `request` exactly as given on a new connection and reads the
/// answer until the server closes (`None`: closed without an answer).
pub(crate) fn send_raw(addr: SocketAddr, request: &[u8]) -> Option<Answer> {
    send_raw_with(addr, request, false)
}

/// [`send_raw`], half-closing the connection after the request when `half`.
pub(crate) fn send_raw_with(addr: SocketAddr, request: &[u8], half: bool) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = stream.write_all(request);
    if half {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(_) => break,
        }
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let head: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let chunked = head.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut out = Vec::new();
        let mut at = 0;
        while let Some(p) = rest[at..].windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[at..at + p]).trim(), 16).ok()?;
            at += p + 2;
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(at..at + size)?);
            at += size + 2;
        }
        out
    } else {
        rest.to_vec()
    };
    Some(Answer { status, head, body: String::from_utf8_lossy(&body).into_owned() })
}

/// `GET path` with these extra header lines, `connection: close`.
pub(crate) fn get_raw(addr: SocketAddr, path: &str, headers: &str) -> Option<Answer> {
    send_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{headers}connection: close\r\n\r\n").as_bytes(),
    )
}

/// `method path` with these extra header lines and body, `connection: close`.
pub(crate) fn raw(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> Option<Answer> {
    let length = if body.is_empty() { String::new() } else { format!("content-length: {}\r\n", body.len()) };
    send_raw(
        addr,
        format!("{method} {path} HTTP/1.1\r\nhost: x\r\n{headers}{length}connection: close\r\n\r\n{body}")
            .as_bytes(),
    )
}

/// Node `node`'s row and leases are gone, as after a graceful stop.
pub(crate) fn fake_gone(gw: &Gateway, node: &str) {
    sql(
        gw,
        &format!(
            "DELETE FROM tenant_leases WHERE node_id = '{node}'; DELETE FROM nodes WHERE node_id = '{node}';"
        ),
    );
}
