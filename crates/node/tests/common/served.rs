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

/// What a lying node makes up around a key of its own (`public_key` at `key`): a state holding
/// it beside the answer's epoch record and current epoch (`epoch_record`, `current_epoch`),
/// every proof of that state, and the answer's `header` rewritten for its root. Every proof
/// in it holds; only a trusted root exposes it.
pub struct Forged {
    pub value: Vec<u8>,
    pub proof: Vec<u8>,
    pub block_hash: phalanx_primitives::Hash,
    pub state_root: phalanx_primitives::Hash,
    pub header: Vec<u8>,
    pub epoch_record: phalanx_client::ProvenValue,
    pub current_epoch: phalanx_client::ProvenValue,
}

pub fn forge(
    key: &[u8],
    public_key: [u8; 32],
    epoch_record: &phalanx_client::ProvenValue,
    current_epoch: &phalanx_client::ProvenValue,
    header: &[u8],
) -> Forged {
    use parity_scale_codec::Encode as _;
    let mut state = phalanx_state::State::new();
    let record = epoch_record.value.clone().expect("a record");
    let current = current_epoch.value.clone().expect("a current epoch");
    state.insert(key.to_vec(), public_key.to_vec());
    state.insert(epoch_record.key.clone(), record.clone());
    state.insert(current_epoch.key.clone(), current.clone());
    let root = state.root();
    let mut header: phalanx_primitives::Header =
        phalanx_primitives::decode_strict(header, 1024).expect("header");
    header.state_root = root;
    let mut entry = |key: &[u8], value: Vec<u8>| phalanx_client::ProvenValue {
        key: key.to_vec(),
        value: Some(value),
        proof: state.prove(key).encode(),
    };
    let epoch_record = entry(&epoch_record.key, record);
    let current_epoch = entry(&current_epoch.key, current);
    Forged {
        value: public_key.to_vec(),
        proof: state.prove(key).encode(),
        block_hash: header.hash(),
        state_root: root,
        header: header.encode(),
        epoch_record,
        current_epoch,
    }
}
