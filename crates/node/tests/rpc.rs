//! JSON-RPC over HTTP and WebSocket against a chain driven by hand (no consensus): structured
//! errors for bad input, queries, state proofs a light client accepts, and the finalized-block
//! subscription.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use parity_scale_codec::Encode;
use phalanx_node::chain::{system_clock, Chain, ChainConfig};
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{Header, Keypair, Transaction, PHA};
use phalanx_runtime::GenesisConfig;
use serde_json::Value;

fn chain(dir: &std::path::Path) -> Chain {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let genesis = GenesisConfig::dev(vec![hex::encode([7u8; 32])], now - 10_000);
    Chain::open(
        ChainConfig {
            data_dir: dir.to_path_buf(),
            genesis,
        },
        system_clock(),
    )
    .expect("chain opens")
}

fn transfer(chain: &Chain, nonce: u64, amount: u128) -> String {
    let alice = Keypair::dev("alice");
    let tx = Transaction {
        signer: alice.account(),
        nonce,
        fee: PHA / 100,
        expires_at: chain.height() + 100,
        call: Call::Balances(BalancesCall::Transfer {
            to: Keypair::dev("bob").account(),
            amount,
        }),
    }
    .sign(&alice, &chain.genesis_hash());
    format!("0x{}", hex::encode(tx.encode()))
}

fn produce(chain: &Chain) {
    let head = chain.head();
    let block = chain
        .build(&head, head.header.timestamp_ms + 500)
        .expect("builds");
    chain.finalize(block, vec![]);
}

fn rpc_error(result: Result<Value, jsonrpsee::core::ClientError>) -> (i32, String, String) {
    match result {
        Err(jsonrpsee::core::ClientError::Call(e)) => {
            let data: Value = e
                .data()
                .map(|d| serde_json::from_str(d.get()).expect("json data"))
                .unwrap_or(Value::Null);
            (
                e.code(),
                e.message().to_string(),
                data["reason"].as_str().unwrap_or("").to_string(),
            )
        }
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

/// A fresh chain in a temp dir with RPC on a free loopback port.
async fn serve() -> (
    tempfile::TempDir,
    Chain,
    std::net::SocketAddr,
    jsonrpsee::server::ServerHandle,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain(dir.path());
    let (addr, handle) =
        phalanx_node::rpc::serve(chain.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serves");
    (dir, chain, addr, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_refuses_bad_input_with_structured_errors_and_serves_queries() {
    let (_dir, chain, addr, handle) = serve().await;
    let http = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .expect("client");

    let (code, _, reason) = rpc_error(
        http.request("phalanx_submitTransaction", rpc_params!["0x0102"])
            .await,
    );
    assert_eq!((code, reason.as_str()), (1001, "malformed"));
    let (code, _, reason) = rpc_error(
        http.request("phalanx_submitTransaction", rpc_params!["zz"])
            .await,
    );
    assert_eq!((code, reason.as_str()), (-32602, "invalid_params"));
    let mut forged = hex::decode(&transfer(&chain, 0, PHA)[2..]).expect("hex");
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let (code, message, reason) = rpc_error(
        http.request(
            "phalanx_submitTransaction",
            rpc_params![format!("0x{}", hex::encode(forged))],
        )
        .await,
    );
    assert_eq!(
        (code, reason.as_str()),
        (1002, "bad_signature"),
        "{message}"
    );
    let (code, _, reason) = rpc_error(
        http.request(
            "phalanx_submitTransaction",
            rpc_params![transfer(&chain, 5_000, PHA)],
        )
        .await,
    );
    assert_eq!((code, reason.as_str()), (1002, "future_nonce"));
    let (code, _, reason) = rpc_error(
        http.request("phalanx_account", rpc_params!["pha1nope"])
            .await,
    );
    assert_eq!((code, reason.as_str()), (-32602, "bad_address"));
    let (code, _, reason) = rpc_error(http.request("phalanx_block", rpc_params![99]).await);
    assert_eq!((code, reason.as_str()), (1004, "not_found"));
    assert_eq!(chain.mempool_len(), 0, "nothing bad got in");

    let good = transfer(&chain, 0, 3 * PHA);
    let submitted: Value = http
        .request("phalanx_submitTransaction", rpc_params![good.clone()])
        .await
        .expect("admitted");
    let (code, _, reason) = rpc_error(
        http.request("phalanx_submitTransaction", rpc_params![good])
            .await,
    );
    assert_eq!((code, reason.as_str()), (1003, "already_known"));
    let pending: Value = http
        .request(
            "phalanx_transaction",
            rpc_params![submitted["hash"].clone()],
        )
        .await
        .expect("status");
    assert_eq!(pending["status"], "pending");
    produce(&chain);
    let done: Value = http
        .request(
            "phalanx_transaction",
            rpc_params![submitted["hash"].clone()],
        )
        .await
        .expect("status");
    assert_eq!(done["status"], "finalized");
    assert_eq!(done["location"]["height"], 1);

    let bob: Value = http
        .request(
            "phalanx_account",
            rpc_params![Keypair::dev("bob").account().to_address()],
        )
        .await
        .expect("account");
    assert_eq!(
        serde_json::from_value::<u128>(bob["free"].clone()).expect("amount"),
        1_000_003 * PHA
    );

    // A state proof of bob's balance checks out against the returned header.
    let key = phalanx_runtime::balances::account_key(&Keypair::dev("bob").account());
    let proof: Value = http
        .request(
            "phalanx_stateProof",
            rpc_params![format!("0x{}", hex::encode(&key))],
        )
        .await
        .expect("proof");
    let unhex =
        |v: &Value| hex::decode(v.as_str().expect("hex").trim_start_matches("0x")).expect("hex");
    let header: Header =
        phalanx_primitives::decode_strict(&unhex(&proof["header"]), 1024).expect("header");
    assert_eq!(
        header.hash().to_hex(),
        proof["block_hash"]
            .as_str()
            .expect("hash")
            .trim_start_matches("0x")
    );
    let state_proof =
        phalanx_state::Proof::decode_strict(&unhex(&proof["proof"])).expect("proof decodes");
    let value = unhex(&proof["value"]);
    state_proof
        .verify(&header.state_root, &key, Some(&value))
        .expect("proof verifies");
    let mut tampered = value.clone();
    tampered[0] ^= 1;
    assert!(state_proof
        .verify(&header.state_root, &key, Some(&tampered))
        .is_err());

    handle.stop().expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribers_see_each_finalized_block() {
    let (_dir, chain, addr, handle) = serve().await;
    let ws = WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await
        .expect("ws connects");
    let mut heads = ws
        .subscribe::<Value, _>(
            "phalanx_subscribeFinalized",
            rpc_params![],
            "phalanx_unsubscribeFinalized",
        )
        .await
        .expect("subscribed");
    // Methods work over WebSocket too.
    let status: Value = ws
        .request("phalanx_status", rpc_params![])
        .await
        .expect("status over ws");
    assert_eq!(status["height"], 0);
    for expected in 1..=3u64 {
        produce(&chain);
        let head = tokio::time::timeout(std::time::Duration::from_secs(10), heads.next())
            .await
            .expect("a notification arrives")
            .expect("stream open")
            .expect("valid json");
        assert_eq!(head["height"], expected);
        assert_eq!(
            head["hash"]
                .as_str()
                .expect("hash")
                .trim_start_matches("0x"),
            chain.head().hash().to_hex()
        );
    }
    handle.stop().expect("stops");
}
