//! Serving: [`app`] is the router with its middleware; [`run`] serves a
//! listener until a shutdown future resolves, with the runtime's background
//! workers (cron scheduler, message deliverer, usage flusher) around it.
//!
//! Shutdown: the gateway starts draining (new requests get 503, `/readyz`
//! says so), stops accepting connections, lets in-flight requests finish
//! for up to `shutdown_grace_secs`, stops the workers and flushes the
//! metered usage to the database.

use crate::error::ApiError;
use crate::state::Gateway;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How often the metered usage is written to the database.
pub const USAGE_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// The application: every route, the error fallbacks and the middleware
/// (draining, request timeout, panic guard).
pub fn app(gw: Gateway) -> Router {
    crate::routes::router()
        .merge(crate::dashboard::router())
        .fallback(|uri: axum::http::Uri| async move {
            if crate::dashboard::is_ui(uri.path()) {
                return crate::dashboard::not_found_page();
            }
            ApiError::not_found("no such route").into_response()
        })
        .method_not_allowed_fallback(|uri: axum::http::Uri| async move {
            if crate::dashboard::is_ui(uri.path()) {
                return crate::dashboard::wrong_method_page();
            }
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this route does not take that method",
            )
            .into_response()
        })
        .layer(axum::extract::DefaultBodyLimit::max(crate::routes::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(gw.clone(), crate::forward::route))
        .layer(axum::middleware::from_fn_with_state(gw.clone(), guard))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
        }))
        // Outermost: every `/ui` answer carries the browser headers, the
        // timeout's, the drain's and the panic's included.
        .layer(axum::middleware::from_fn_with_state(gw.clone(), crate::dashboard::guard))
        .with_state(gw)
}

/// Refuses new work while draining, counts requests in flight and bounds
/// each request's time.
async fn guard(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if gw.is_draining() && path != "/healthz" && path != "/readyz" {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "draining", "the gateway is shutting down")
            .into_response();
    }
    let _in_flight = gw.enter();
    let limit = Duration::from_secs(gw.runtime().config().request_timeout_secs.max(1));
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", "the request took too long").into_response()
        }
    }
}

/// Serves `listener` until `shutdown` resolves, then drains (see the module
/// documentation).
pub async fn run(
    listener: TcpListener,
    gateway: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let rt = gateway.runtime().clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let mut workers = tokio::task::JoinSet::new();
    {
        let (rt, stop) = (rt.clone(), stopped());
        workers.spawn(async move { rt.scheduler().run(Arc::new(rt.clone()), stop).await });
    }
    {
        let (rt, stop) = (rt.clone(), stopped());
        workers.spawn(async move { rt.deliverer().run(stop).await });
    }
    {
        let (rt, stop) = (rt.clone(), stopped());
        workers.spawn(async move {
            let mut stop = std::pin::pin!(stop);
            let mut tick = tokio::time::interval(USAGE_FLUSH_INTERVAL);
            loop {
                tokio::select! {
                    () = &mut stop => break,
                    _ = tick.tick() => {}
                }
                let rt = rt.clone();
                // Also the summary lines of refusal floods whose window ended.
                rt.flush_refusals();
                match tokio::task::spawn_blocking(move || rt.flush_usage()).await {
                    Ok(Err(e)) => tracing::error!(error = %e, "cannot flush the usage"),
                    Err(e) => tracing::error!(error = %e, "usage flush task failed"),
                    Ok(Ok(())) => {}
                }
            }
        });
    }

    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = {
        let gw = gateway.clone();
        async move {
            shutdown.await;
            gw.drain();
            tracing::info!("draining: no new connections; finishing the requests in flight");
            let _ = drain_tx.send(());
        }
    };
    let grace = Duration::from_secs(rt.config().shutdown_grace_secs);
    let limits = crate::listener::ConnectionLimits {
        header_read_timeout: Duration::from_secs(rt.config().header_read_timeout_secs.max(1)),
        max_connections: rt.config().max_connections as usize,
    };
    let server = crate::listener::serve(listener, app(gateway.clone()), limits, signal);
    let result = tokio::select! {
        r = server => r,
        () = async {
            if drain_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(in_flight = gateway.in_flight(), "requests still in flight after the grace period");
            Ok(())
        }
    };

    let _ = stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(5), async { while workers.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!("background workers did not stop in time");
        workers.abort_all();
    }
    if let Err(e) = rt.flush_usage() {
        tracing::error!(error = %e, "cannot flush the usage at shutdown");
    }
    result
}
