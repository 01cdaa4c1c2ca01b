//! The worker's query endpoint (HTTP, served by the untrusted host).
//!
//! - `GET /metrics` returns the worker's Prometheus metrics ([`crate::metrics`]).
//! - `GET /info` returns the worker's public facts as JSON — `{"identity", "encryption_key",
//!   "measurement", "genesis_hash", "head_height", "head_hash", "operator", "endpoint",
//!   "registered", "simulated": true}` (keys and hashes as lowercase hex, no `0x`). It answers
//!   `503` until the enclave has started.
//! - `POST /query` takes a SCALE `SealedQuery` (`phalanx_primitives::contract`, at most
//!   `MAX_QUERY_BYTES`) and answers `200` with the sealed `QueryAnswer` bytes, which only the
//!   client can open; or an error as JSON `{"reason", "message"}` (`400` for a refused query,
//!   `409` replayed, `413` too large, `503` busy or not ready). The host only relays bytes: the
//!   enclave opens, checks and answers (`402` when the caller's query deposit can't pay, `429`
//!   when its address sends too fast). Queries run on several threads at once
//!   ([`crate::host::queries`]); at most [`QUERY_QUEUE`] wait, more are answered `503` at once.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::host::queries::QueryService;
pub use crate::host::queries::QUERY_QUEUE;

/// Longest a query waits for its answer (above the worst case: a deposit proof, a queue
/// wait and all of its outbound HTTP).
const QUERY_TIMEOUT: Duration = Duration::from_secs(40);

#[derive(Clone)]
struct AppState {
    status: watch::Receiver<Option<WorkerStatus>>,
    queries: Arc<QueryService>,
    metrics: Arc<crate::metrics::WorkerMetrics>,
}

/// Why the endpoint stopped.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The listen address could not be bound.
    #[error("cannot listen for queries on {addr}: {source}; pick another `listen` address or stop what uses it")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("the query endpoint failed: {0}")]
    Serve(std::io::Error),
}

/// The worker's public facts, as `GET /info` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerStatus {
    /// The enclave's ed25519 identity key, hex.
    pub identity: String,
    /// The enclave's X25519 encryption key, hex.
    pub encryption_key: String,
    /// The enclave's measurement, hex.
    pub measurement: String,
    /// The chain the enclave follows, hex.
    pub genesis_hash: Option<String>,
    /// The enclave's verified head height.
    pub head_height: Option<u64>,
    /// The enclave's verified head hash, hex.
    pub head_hash: Option<String>,
    /// The operator account (`pha1…`).
    pub operator: String,
    /// The endpoint URL registered on chain.
    pub endpoint: String,
    /// Height of the last accepted (re-)registration this host saw on chain.
    pub registered: Option<u64>,
    /// Always true: the enclave is SIMULATED and protects nothing.
    pub simulated: bool,
}

fn refusal(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "reason": reason, "message": message })),
    )
        .into_response()
}

async fn query(
    State(state): State<AppState>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let start = std::time::Instant::now();
    let answered = tokio::time::timeout(
        QUERY_TIMEOUT,
        state.queries.answer(from.ip(), body.to_vec()),
    )
    .await;
    let (outcome, response) = match answered {
        Ok(Ok(sealed)) => (
            "answered",
            (
                StatusCode::OK,
                [("content-type", "application/octet-stream")],
                sealed,
            )
                .into_response(),
        ),
        Ok(Err((status, reason, message))) => (reason, refusal(status, reason, &message)),
        Err(_) => (
            "busy",
            refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the worker did not answer in time; try again",
            ),
        ),
    };
    state.metrics.query(outcome, start.elapsed());
    response
}

async fn scrape(State(state): State<AppState>) -> Response {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

async fn info(State(state): State<AppState>) -> Response {
    match state.status.borrow().clone() {
        Some(status) => Json(status).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "the enclave is starting").into_response(),
    }
}

/// Binds `addr` (port 0 picks a free port); returns the listener and the bound address.
pub async fn bind(
    addr: std::net::SocketAddr,
) -> Result<(TcpListener, std::net::SocketAddr), EndpointError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| EndpointError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| EndpointError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// Serves the endpoint on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    status: watch::Receiver<Option<WorkerStatus>>,
    queries: Arc<QueryService>,
    metrics: Arc<crate::metrics::WorkerMetrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), EndpointError> {
    let app = Router::new()
        .route("/info", get(info))
        .route("/query", post(query))
        .route("/metrics", get(scrape))
        .layer(DefaultBodyLimit::max(
            phalanx_primitives::contract::MAX_QUERY_BYTES,
        ))
        .with_state(AppState {
            status,
            queries,
            metrics,
        });
    // Answers go out at once, not held back for the client's acknowledgement (Nagle).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a query connection");
        }
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(EndpointError::Serve)
}
