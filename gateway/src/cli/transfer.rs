//! Backup files over HTTP, streamed: `GET /v1/backup` into a file and a
//! file into `POST /v1/restore`, never whole in memory (a backup may be
//! far larger than memory), each drawing its bytes, rate and time left on
//! the progress line. The API client (`client`) sends and reads small JSON
//! bodies whole; these two bodies are the exceptions.

use super::client::{ClientError, reason};
use super::progress;
use super::remote::Remote;
use indicatif::ProgressBar;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;
use wasmclaw::Error;

/// The content type of a backup file.
pub(crate) const BACKUP_TYPE: &str = "application/vnd.wasmclaw.backup";

/// How much of a file one read takes.
const CHUNK: usize = 256 * 1024;

/// `GET /v1/backup[?tenant=]` into `out`; the bytes written. `bar` spins
/// while the gateway writes the backup, then counts the bytes against the
/// answer's length.
pub(crate) async fn download(
    remote: &Remote,
    tenant: Option<&str>,
    mut out: &std::fs::File,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    bar.set_message("the gateway is writing the backup");
    let mut resp = send(remote, request(remote, Method::GET, "backup", tenant)?).await?;
    bar.reset();
    if let Some(len) = resp.content_length() {
        bar.set_length(len);
    }
    bar.set_message("");
    bar.set_prefix("receiving");
    bar.set_style(progress::bytes());
    let mut written = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(remote, e))? {
        out.write_all(&chunk)
            .map_err(|source| Error::Io { context: "cannot write the backup".into(), source })?;
        written += chunk.len() as u64;
        bar.inc(chunk.len() as u64);
    }
    Ok(written)
}

/// `POST /v1/restore[?tenant=]` with the file at `path`, read as it is
/// sent; the gateway's JSON answer. `bar` counts the bytes sent, then
/// spins while the gateway restores.
pub(crate) async fn upload(
    remote: &Remote,
    tenant: Option<&str>,
    path: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<Value> {
    let io = |source| Error::Io { context: format!("cannot read the backup {}", path.display()), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    bar.reset();
    bar.set_length(len);
    bar.set_message("");
    bar.set_prefix("sending");
    bar.set_style(progress::bytes());
    let counter = bar.clone();
    // Read on a blocking thread, a chunk at a time, as the connection takes it.
    let chunks = futures_util::stream::unfold(Some(file), move |file| {
        let bar = counter.clone();
        async move {
            let mut file = file?;
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; CHUNK];
                let n = file.read(&mut buf)?;
                buf.truncate(n);
                Ok::<_, std::io::Error>((buf, file))
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            match read {
                Ok((buf, _)) if buf.is_empty() => {
                    bar.set_style(progress::spinner());
                    bar.set_prefix("restoring");
                    bar.set_message("the gateway checks and applies the backup");
                    None
                }
                Ok((buf, file)) => {
                    bar.inc(buf.len() as u64);
                    Some((Ok(buf), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    let req = request(remote, Method::POST, "restore", tenant)?
        .header(CONTENT_TYPE, BACKUP_TYPE)
        .header(CONTENT_LENGTH, len)
        .body(reqwest::Body::wrap_stream(chunks));
    let resp = send(remote, req).await?;
    let bytes = resp.bytes().await.map_err(|e| unreachable(remote, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::BadAnswer { url: shown(remote), reason: e.to_string() }.into())
}

/// A request to `/v1/<path>[?tenant=]` with the remote's credential, on
/// a client without an overall timeout (a transfer takes what it takes).
fn request(
    remote: &Remote,
    method: Method,
    path: &str,
    tenant: Option<&str>,
) -> anyhow::Result<RequestBuilder> {
    let mut url = remote.url.clone();
    url.set_query(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().extend(["v1", path]);
    }
    if let Some(t) = tenant {
        url.query_pairs_mut().append_pair("tenant", t);
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("wasmclaw/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
    let mut req = http.request(method, url);
    if let Some(c) = remote.admin_key.as_deref().or(remote.token.as_deref()) {
        req = req.bearer_auth(c.trim());
    }
    Ok(req)
}

/// Sends `req`: the answer when it is a success, else the API's error, as
/// the API client reports it.
async fn send(remote: &Remote, req: RequestBuilder) -> anyhow::Result<Response> {
    let resp = req.send().await.map_err(|e| unreachable(remote, e))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let bytes = resp.bytes().await.map_err(|e| unreachable(remote, e))?;
    Err(remote.client()?.api_error(status, &bytes).into())
}

fn shown(remote: &Remote) -> String {
    remote.url.as_str().trim_end_matches('/').to_string()
}

fn unreachable(remote: &Remote, e: reqwest::Error) -> ClientError {
    ClientError::Unreachable { url: shown(remote), reason: reason(&e) }
}
