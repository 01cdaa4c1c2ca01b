//! End to end: an in-process dev node, two dev workers beside it. Both register on chain with
//! simulated attestation, serve `GET /info`, re-register on request, and a restarted worker
//! keeps its identity. Every port is 0 (a free port): the node reports the RPC address it bound,
//! and a single validator's p2p address is dialled by nobody.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use phalanx_client::{Client, WorkerInfo, WorkersPage};
use phalanx_node::service::{self, NodeSetup};
use phalanx_primitives::attestation::QuoteKind;
use phalanx_primitives::Keypair;
use phalanx_runtime::GenesisConfig;
use phalanx_worker::{spawn_dev_workers_on, WorkerHandle};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(120);

/// A dev node with one fresh validator key, on its own thread (stopped on drop).
fn start_node(dir: &std::path::Path) -> service::Background {
    let secret = Keypair::generate().secret();
    let public = service::validator_public_key(&secret);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64;
    let genesis = GenesisConfig::dev(vec![hex::encode(public)], now);
    let p2p = SocketAddr::from(([127, 0, 0, 1], 0));
    let validator = service::validator_config(secret, &[(public, p2p)], p2p, dir, true)
        .expect("validator config");
    let setup = NodeSetup {
        data_dir: dir.to_path_buf(),
        genesis,
        validator,
        rpc: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    service::Background::spawn(setup, Duration::from_secs(60))
        .expect("the node starts within a minute")
}

/// Polls `check` every 250 ms until it returns `Some`, or fails after [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn identity_of(handle: &WorkerHandle) -> Option<String> {
    handle.status().map(|s| s.identity)
}

async fn on_chain(client: &Client, identity: &str) -> Option<WorkerInfo> {
    let identity: [u8; 32] = hex::decode(identity).ok()?.try_into().ok()?;
    client.worker(&identity).await.ok()?
}

/// `GET /info` over a plain socket (the test needs no HTTP client library).
fn get_info(endpoint: &str) -> Value {
    let addr = endpoint.strip_prefix("http://").expect("http endpoint");
    let mut stream = std::net::TcpStream::connect(addr).expect("endpoint accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /info HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .expect("a body");
    serde_json::from_str(body).expect("JSON body")
}

#[test]
fn dev_workers_register_with_simulated_attestation_and_reregister() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = start_node(&dir.path().join("node"));
    let node_url = node.url();
    let workers_dir = dir.path().join("workers");
    let workers = spawn_dev_workers_on(&node_url, &workers_dir, 2, 0).expect("workers start");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::new(&node_url).expect("client");

    let (first, first_identity) = runtime.block_on(async {
        let mut registered = Vec::new();
        for (handle, operator) in workers.iter().zip(["charlie", "dave"]) {
            let identity =
                eventually("the enclave to start", || async { identity_of(handle) }).await;
            let worker = eventually("the worker to be registered on chain", || {
                let client = &client;
                let identity = identity.clone();
                async move { on_chain(client, &identity).await }
            })
            .await;
            assert_eq!(worker.quote_kind, QuoteKind::Simulated);
            assert_eq!(worker.confidence, 1000, "dev policy: UpToDate = full");
            assert!(
                worker.performance >= phalanx_runtime::registry::MIN_PERFORMANCE_SCORE,
                "P = {}",
                worker.performance
            );
            assert_eq!(worker.operator, Keypair::dev(operator).account());
            let status = handle.status().expect("started");
            assert_eq!(worker.endpoint, status.endpoint);
            assert_eq!(hex::encode(worker.encryption_key), status.encryption_key);

            // The query endpoint says who it is, and that it is simulated.
            let info = get_info(&status.endpoint);
            assert_eq!(info["identity"], Value::String(identity.clone()));
            assert_eq!(
                info["encryption_key"],
                Value::String(status.encryption_key.clone())
            );
            assert_eq!(info["simulated"], Value::Bool(true));
            assert!(info["head_height"].as_u64().is_some());
            registered.push(worker);
        }
        assert_ne!(registered[0].identity, registered[1].identity);
        // The SDK reads the node's answer about real workers without losing a field.
        let raw: Value = client
            .call("phalanx_workers", vec![])
            .await
            .expect("workers");
        let page: WorkersPage = serde_json::from_value(raw.clone()).expect("the SDK reads it");
        assert_eq!(serde_json::to_value(&page).expect("serializes"), raw);
        assert_eq!(page.workers.len(), 2);

        // A requested re-registration refreshes the attestation and keeps `registered_at`.
        let before = registered[0].clone();
        assert!(workers[0].reregister());
        let after = eventually("the re-registration", || {
            let client = &client;
            let identity = hex::encode(before.identity);
            let last = before.last_attested_at;
            async move {
                on_chain(client, &identity)
                    .await
                    .filter(|w| w.last_attested_at > last)
            }
        })
        .await;
        assert_eq!(after.registered_at, before.registered_at);
        assert!(after.recent_block_height > before.recent_block_height);
        assert_eq!(after.quote_kind, QuoteKind::Simulated);
        assert!(after.performance >= phalanx_runtime::registry::MIN_PERFORMANCE_SCORE);
        (after, hex::encode(before.identity))
    });

    // A restarted worker unseals the same identity and is still the registered one.
    let mut workers = workers;
    let worker1 = workers.pop().expect("two workers");
    let worker0 = workers.pop().expect("two workers");
    worker0.stop().expect("stops cleanly");
    let restarted = spawn_dev_workers_on(&node_url, &workers_dir, 1, 0).expect("restarts");
    let identity = runtime.block_on(eventually("the restarted enclave", || async {
        identity_of(&restarted[0])
    }));
    assert_eq!(identity, first_identity);
    let still = runtime
        .block_on(on_chain(&client, &identity))
        .expect("still registered");
    assert_eq!(still.registered_at, first.registered_at);
    drop(restarted);
    drop(worker1);
    drop(node);
}
