//! A chain served over RPC on a free port, an SDK client for it, and the checks of refused
//! calls: shared by the RPC tests that drive a chain by hand (gatekeeper_rpc, contracts_rpc).

#![allow(clippy::panic, dead_code)] // test helpers fail the test by panicking

use phalanx_client::{Client, ClientError};
use phalanx_node::chain::{system_clock, Chain, ChainConfig};
use phalanx_primitives::Keypair;
use phalanx_runtime::GenesisConfig;
use serde_json::Value;

pub fn chain(dir: &std::path::Path) -> Chain {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let validator = hex::encode(Keypair::dev("validator").account().0);
    Chain::open(
        ChainConfig {
            data_dir: dir.to_path_buf(),
            genesis: GenesisConfig::dev(vec![validator], now - 10_000),
        },
        system_clock(),
    )
    .expect("chain opens")
}

pub fn produce(chain: &Chain) {
    let head = chain.head();
    let block = chain
        .build(&head, head.header.timestamp_ms + 500)
        .expect("builds");
    chain.finalize(block, vec![]).expect("finalizes");
}

/// A chain with RPC on a free port and an SDK client for it.
pub async fn serve() -> (
    tempfile::TempDir,
    Chain,
    Client,
    jsonrpsee::server::ServerHandle,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain(dir.path());
    let (addr, handle) =
        phalanx_node::rpc::serve(chain.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serves");
    let client = Client::new(&format!("http://{addr}")).expect("client");
    (dir, chain, client, handle)
}

/// The (code, reason, message) of a refused call.
pub async fn refused(client: &Client, method: &str, params: Value) -> (i32, String, String) {
    let params = match params {
        Value::Array(list) => list,
        other => panic!("params as a list here, not {other}"),
    };
    match client.call::<Value>(method, params.clone()).await {
        Err(ClientError::Rpc {
            code,
            message,
            reason,
        }) => (code, reason.unwrap_or_default(), message),
        other => panic!("{method} {params:?}: expected a refusal, got {other:?}"),
    }
}

pub async fn not_found(client: &Client, method: &str, params: Value) -> String {
    let (code, reason, message) = refused(client, method, params).await;
    assert_eq!((code, reason.as_str()), (1004, "not_found"), "{message}");
    message
}

pub async fn invalid(client: &Client, method: &str, params: Value) -> String {
    let (code, reason, message) = refused(client, method, params).await;
    assert_eq!(
        (code, reason.as_str()),
        (-32602, "invalid_params"),
        "{message}"
    );
    message
}
