//! Operator routes: backup and restore (`wasmclaw::backup` does the work).
//! Each runs as a task of its own, so a client that goes away (or the
//! request timeout) cannot stop a restore halfway through its bookkeeping.

use crate::auth::{Caller, OPERATOR};
use crate::error::{ApiError, ApiResult};
use crate::routes::ApiQuery;
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::TenantId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantQuery {
    tenant: Option<String>,
}

fn tenant(q: &TenantQuery) -> ApiResult<Option<TenantId>> {
    q.tenant.as_deref().map(|t| TenantId::parse(t).map_err(|e| ApiError::invalid(e.to_string()))).transpose()
}

fn joined(e: tokio::task::JoinError) -> ApiError {
    wasmclaw::Error::Internal(format!("backup task: {e}")).into()
}

pub(crate) async fn backup(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<impl IntoResponse> {
    caller.allow(&gw, OPERATOR, "back up tenants")?;
    let (rt, actor, only) = (gw.runtime().clone(), caller.0.actor(), tenant(&q)?);
    let file =
        tokio::spawn(async move { rt.backup(&actor, only.as_ref()).await }).await.map_err(joined)??;
    let len = file
        .metadata()
        .map(|m| m.len())
        .map_err(|e| wasmclaw::Error::Io { context: "cannot read the backup".into(), source: e })?;
    // The file is read as the client takes it: never whole in memory.
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 256 * 1024];
            let n = std::io::Read::read(&mut file, &mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>((buf, file))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match read {
            Ok((buf, _)) if buf.is_empty() => None,
            Ok((buf, file)) => Some((Ok(axum::body::Bytes::from(buf)), Some(file))),
            Err(e) => Some((Err(e), None)),
        }
    });
    let headers = [
        (header::CONTENT_TYPE, "application/vnd.wasmclaw.backup".to_string()),
        (header::CONTENT_LENGTH, len.to_string()),
    ];
    Ok((headers, axum::body::Body::from_stream(chunks)))
}

pub(crate) async fn restore(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TenantQuery>,
    body: axum::body::Body,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "restore tenants")?;
    let (rt, actor, only) = (gw.runtime().clone(), caller.0.actor(), tenant(&q)?);
    let file = receive(rt.config().data_dir.as_path(), body).await?;
    let outcome = tokio::spawn(async move { rt.restore(&actor, file, only.as_ref()).await })
        .await
        .map_err(joined)??;
    Ok(Json(json!(outcome)))
}

/// Streams a request body into an unlinked file in `dir` (at most
/// [`crate::routes::MAX_RESTORE_BODY`] bytes), rewound.
async fn receive(dir: &std::path::Path, body: axum::body::Body) -> ApiResult<std::fs::File> {
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    let io = |e: std::io::Error| {
        ApiError::from(wasmclaw::Error::Io { context: "cannot store the uploaded backup".into(), source: e })
    };
    let file = tempfile::tempfile_in(dir).map_err(io)?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("cannot read the request body: {e}")))?;
        total += chunk.len() as u64;
        if total > crate::routes::MAX_RESTORE_BODY {
            return Err(ApiError::new(
                axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("a backup to restore is at most {} bytes", crate::routes::MAX_RESTORE_BODY),
            ));
        }
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.flush().await.map_err(io)?;
    let mut file = out.into_inner().into_std().await;
    std::io::Seek::rewind(&mut file).map_err(io)?;
    Ok(file)
}
