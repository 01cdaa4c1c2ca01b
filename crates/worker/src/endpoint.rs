//! The worker's query endpoint (HTTP, served by the untrusted host).
//!
//! For now one route: `GET /info` returns the worker's public facts as JSON —
//! `{"identity", "encryption_key", "measurement", "genesis_hash", "head_height", "head_hash",
//! "operator", "endpoint", "registered", "simulated": true}` (keys and hashes as lowercase hex,
//! no `0x`). It answers `503` until the enclave has started. Everything here is public; the
//! encrypted query API (HPKE-sealed requests to `encryption_key`) comes with a later issue and
//! will be the enclave's to answer, the host only relaying bytes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

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

async fn info(State(status): State<watch::Receiver<Option<WorkerStatus>>>) -> Response {
    match status.borrow().clone() {
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
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), EndpointError> {
    let app = Router::new().route("/info", get(info)).with_state(status);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(EndpointError::Serve)
}
