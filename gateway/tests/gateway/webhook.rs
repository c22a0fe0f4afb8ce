//! A webhook receiver on 127.0.0.1 for the outbox's tests: it answers each
//! request as its plan says and logs every arrival by message id
//! (`x-wasmclaw-message-id`), with how many of one id were open at once.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the receiver got: when it arrived, and the status answered.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub at: Instant,
    pub status: u16,
}

/// What the receiver saw, by message id.
#[derive(Debug, Default)]
pub struct Log {
    pub arrivals: BTreeMap<String, Vec<Arrival>>,
    in_flight: BTreeMap<String, usize>,
    /// The most requests of one id open at the receiver at once.
    pub most_at_once: BTreeMap<String, usize>,
}

pub type Shared = Arc<Mutex<Log>>;

/// The `n`th request (from 0) of a message id: how long to hold it, and
/// the status to answer.
pub type Plan = fn(usize) -> (Duration, u16);

/// Answers every request at once with 200.
pub const ACCEPT: Plan = |_| (Duration::ZERO, 200);

/// A receiver answering each request as `plan` says; its URL and its log.
pub fn receiver(plan: Plan) -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let log: Shared = Arc::default();
    let out = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let log = log.clone();
            std::thread::spawn(move || answer(conn, plan, &log));
        }
    });
    (url, out)
}

/// Reads one request whole, logs it and answers it as `plan` says.
fn answer(mut conn: TcpStream, plan: Plan, log: &Shared) {
    let Some(id) = read_request(&conn) else { return };
    let (hold, status) = {
        let mut l = log.lock().unwrap();
        let n = l.arrivals.get(&id).map_or(0, Vec::len);
        let (hold, status) = plan(n);
        l.arrivals.entry(id.clone()).or_default().push(Arrival { at: Instant::now(), status });
        let open = {
            let open = l.in_flight.entry(id.clone()).or_default();
            *open += 1;
            *open
        };
        let most = l.most_at_once.entry(id.clone()).or_default();
        *most = (*most).max(open);
        (hold, status)
    };
    std::thread::sleep(hold);
    *log.lock().unwrap().in_flight.get_mut(&id).unwrap() -= 1;
    let reason = if status == 200 { "OK" } else { "Internal Server Error" };
    let head = format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = conn.write_all(head.as_bytes());
}

/// The message id of a request read whole (its head and its
/// `content-length` body); `None` if it ended early or carried no id.
fn read_request(conn: &TcpStream) -> Option<String> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let (mut id, mut length) = (None, 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "x-wasmclaw-message-id" => id = Some(value.trim().to_string()),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    id
}
