//! `phalanx_stateProofs`: many keys proved against one finalized state root, present and
//! absent alike; tampered values and other keys are refused by the proofs, and an oversized or
//! malformed request is refused with a clear error.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use phalanx_node::chain::{system_clock, Chain, ChainConfig};
use phalanx_primitives::{Header, Keypair};
use phalanx_runtime::GenesisConfig;
use serde_json::Value;

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex").trim_start_matches("0x")).expect("hex")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_keys_are_proved_against_one_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let genesis = GenesisConfig::dev(
        vec![hex::encode(Keypair::dev("validator").account().0)],
        1_700_000_000_000,
    );
    let chain = Chain::open(
        ChainConfig {
            data_dir: dir.path().to_path_buf(),
            genesis,
        },
        system_clock(),
    )
    .expect("chain opens");
    let (addr, handle) =
        phalanx_node::rpc::serve(chain.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serves");
    let http = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .expect("client");

    let present = phalanx_runtime::balances::account_key(&Keypair::dev("bob").account());
    let params = b"gatekeeper/params".to_vec();
    let absent = phalanx_runtime::gatekeeper::gatekeeper_key(&[7; 32]);
    let keys: Vec<String> = [&present, &params, &absent]
        .iter()
        .map(|k| format!("0x{}", hex::encode(k)))
        .collect();
    let answer: Value = http
        .request("phalanx_stateProofs", rpc_params![keys])
        .await
        .expect("proofs");
    let header: Header =
        phalanx_primitives::decode_strict(&unhex(&answer["header"]), 1024).expect("header");
    assert_eq!(answer["height"], header.height);
    let entries = answer["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 3);
    for (entry, key) in entries.iter().zip([&present, &params, &absent]) {
        assert_eq!(unhex(&entry["key"]), *key);
        let proof = phalanx_state::Proof::decode_strict(&unhex(&entry["proof"])).expect("decodes");
        let value = entry["value"].as_str().map(|_| unhex(&entry["value"]));
        proof
            .verify(&header.state_root, key, value.as_deref())
            .expect("verifies against the one root");
        // The same proof says nothing for a changed value or presence.
        let lie = match &value {
            Some(v) => Some([v.as_slice(), b"x"].concat()),
            None => Some(b"x".to_vec()),
        };
        assert!(proof
            .verify(&header.state_root, key, lie.as_deref())
            .is_err());
    }
    assert!(
        entries[2]["value"].is_null(),
        "no such gatekeeper: proven absent"
    );

    // Too many keys, or a key that is not hex: refused with a clear error.
    let many: Vec<String> = (0..phalanx_node::rpc::MAX_PROOF_KEYS + 1)
        .map(|i| format!("0x{i:08x}"))
        .collect();
    for bad in [
        serde_json::to_value(many).expect("json"),
        serde_json::json!(["0xzz"]),
        serde_json::json!("0x00"),
    ] {
        let refused: Result<Value, _> = http.request("phalanx_stateProofs", rpc_params![bad]).await;
        match refused {
            Err(jsonrpsee::core::ClientError::Call(e)) => assert_eq!(e.code(), -32602, "{e:?}"),
            other => panic!("expected invalid params, got {other:?}"),
        }
    }
    handle.stop().expect("stops");
}
