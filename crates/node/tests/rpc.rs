//! JSON-RPC over HTTP and WebSocket against a chain driven by hand (no consensus): structured
//! errors for bad input, queries, state proofs a light client accepts, the finalized-block
//! subscription, the JSON-RPC 2.0 envelope rules as a raw HTTP client sees them (ids, parse
//! errors, batches, body framing and size), paged lists and the largest block.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use jsonrpsee::http_client::HttpClientBuilder;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use parity_scale_codec::Encode;
use phalanx_node::chain::{system_clock, Chain, ChainConfig};
use phalanx_primitives::call::{BalancesCall, Call, GovernanceCall, PrivilegedCall};
use phalanx_primitives::{Header, Keypair, Transaction, PHA};
use phalanx_runtime::GenesisConfig;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::SocketAddr;

fn chain(dir: &std::path::Path) -> Chain {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let genesis = GenesisConfig::dev(
        vec![hex::encode(
            phalanx_primitives::Keypair::dev("validator").account().0,
        )],
        now - 10_000,
    );
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
    chain.finalize(block, vec![]).expect("finalizes");
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

    let (code, message, reason) = rpc_error(
        http.request("phalanx_submitTransaction", rpc_params!["0x0102"])
            .await,
    );
    assert_eq!((code, reason.as_str()), (1001, "malformed"));
    assert!(!message.contains("::"), "codec internals leak: {message}");
    no_rust_debug_text(&message);
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
    // Methods work over WebSocket too, and their errors carry a reason.
    let status: Value = ws
        .request("phalanx_status", rpc_params![])
        .await
        .expect("status over ws");
    assert_eq!(status["height"], 0);
    let (code, _, reason) = rpc_error(ws.request("phalanx_nope", rpc_params![]).await);
    assert_eq!((code, reason.as_str()), (-32601, "method_not_found"));
    let (code, _, reason) = rpc_error(ws.request("phalanx_rawBlock", rpc_params!["x"]).await);
    assert_eq!((code, reason.as_str()), (-32602, "invalid_params"));
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

/// An HTTP response as a raw client sees it.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    body: Vec<u8>,
}

impl RawResponse {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// Sends `request` as is on a fresh connection and reads the answer (the request must ask for
/// `Connection: close`). A plain std socket on the blocking pool: nothing here trusts an HTTP
/// library to send malformed bytes.
async fn raw_http(addr: SocketAddr, request: Vec<u8>) -> RawResponse {
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connects");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("read timeout");
        stream.write_all(&request).expect("sends");
        let mut raw = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                // The server may reset a connection whose framing it gave up on.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading the response: {e}"),
            }
        }
        parse_http(&raw)
    })
    .await
    .expect("client thread")
}

fn parse_http(raw: &[u8]) -> RawResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::trim))
            .map(str::to_string)
    };
    if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .expect("chunk size");
            let size = usize::from_str_radix(
                std::str::from_utf8(&rest[..line_end]).expect("utf8").trim(),
                16,
            )
            .expect("hex chunk size");
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = decoded;
    } else if let Some(length) = header("content-length") {
        body.truncate(length.parse().expect("content length"));
    }
    RawResponse { status, body }
}

/// A JSON POST with a correct Content-Length.
async fn post(addr: SocketAddr, body: &str) -> RawResponse {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    raw_http(addr, request.into_bytes()).await
}

/// `(code, data.reason, id)` of an error response.
fn error_of(response: &Value) -> (i64, String, Value) {
    (
        response["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("not an error response: {response}")),
        response["error"]["data"]["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("no data.reason: {response}"))
            .to_string(),
        response["id"].clone(),
    )
}

fn no_rust_debug_text(message: &str) {
    for tell in [
        "invalid type",
        "expected u",
        "\\\"",
        "Some(",
        "Err(",
        "struct ",
        "{:",
    ] {
        assert!(
            !message.contains(tell),
            "message {message:?} leaks {tell:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_over_http_all_carry_a_code_a_reason_and_a_json_rpc_answer() {
    let (_dir, _chain, addr, handle) = serve().await;

    // Bytes that are not JSON: 400 with a parse error.
    for body in [r#"{"jsonrpc":"2.0","id":1,"#, "hello", "\u{1}"] {
        let response = post(addr, body).await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(
            error_of(&response.json()),
            (-32700, "parse_error".into(), Value::Null),
            "{body}"
        );
    }

    let response = post(addr, r#"{"jsonrpc":"2.0","id":1,"method":"phalanx_nope"}"#).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        error_of(&response.json()),
        (-32601, "method_not_found".into(), json!(1))
    );

    // Ids jsonrpsee cannot echo: an answer with id null, never an empty 200.
    for id in ["-1", "1.0", "18446744073709551616", r#"{"a":1}"#, "[1]"] {
        let response = post(
            addr,
            &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"phalanx_status","params":[]}}"#),
        )
        .await;
        assert_eq!(response.status, 200, "id {id}");
        assert_eq!(
            error_of(&response.json()),
            (-32600, "invalid_request".into(), Value::Null),
            "id {id}"
        );
    }
    // The extremes of what is allowed are answered normally, id echoed exactly.
    for id in ["0", "18446744073709551615", r#""abc""#, "null"] {
        let response = post(
            addr,
            &format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"phalanx_finalizedHead"}}"#),
        )
        .await;
        let answer = response.json();
        assert_eq!(answer["result"]["height"], 0, "id {id}: {answer}");
        assert_eq!(
            answer["id"],
            serde_json::from_str::<Value>(id).expect("id"),
            "id {id}"
        );
    }
    // A broken envelope whose id is fine echoes it.
    let response = post(
        addr,
        r#"{"jsonrpc":"1.0","id":5,"method":"phalanx_status"}"#,
    )
    .await;
    assert_eq!(
        error_of(&response.json()),
        (-32600, "invalid_request".into(), json!(5))
    );
    // A notification (no id) gets no answer, as JSON-RPC 2.0 says.
    let response = post(addr, r#"{"jsonrpc":"2.0","method":"phalanx_status"}"#).await;
    assert_eq!((response.status, response.body.len()), (200, 0));

    // Wrong parameters: a message naming the parameter, no serde or Rust text.
    for (request, message) in [
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"phalanx_rawBlock","params":["x"]}"#,
            "`height` must be a block height (a non-negative integer)",
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"phalanx_rawBlock","params":{"h":1}}"#,
            "unknown parameter `h`; this method takes `height`",
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"phalanx_rawBlock","params":[]}"#,
            "missing parameter `height`: a block height (a non-negative integer)",
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"phalanx_proposal","params":[-3]}"#,
            "`id` must be a proposal id (a non-negative integer)",
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"phalanx_status","params":[1]}"#,
            "1 parameters given; this method takes no parameters",
        ),
    ] {
        let answer = post(addr, request).await.json();
        assert_eq!(
            error_of(&answer),
            (-32602, "invalid_params".into(), json!(2)),
            "{request}"
        );
        let text = answer["error"]["message"].as_str().expect("message");
        assert_eq!(text, message, "{request}");
        no_rust_debug_text(text);
    }
    // By name works too.
    let answer = post(
        addr,
        r#"{"jsonrpc":"2.0","id":3,"method":"phalanx_rawBlock","params":{"height":0}}"#,
    )
    .await
    .json();
    assert_eq!(answer["result"]["height"], 0, "{answer}");

    // Subscriptions need WebSocket.
    for method in ["phalanx_subscribeFinalized", "phalanx_unsubscribeFinalized"] {
        let answer = post(
            addr,
            &format!(r#"{{"jsonrpc":"2.0","id":"s","method":"{method}","params":[]}}"#),
        )
        .await
        .json();
        assert_eq!(
            error_of(&answer),
            (1006, "subscription_over_http".into(), json!("s")),
            "{method}"
        );
    }

    handle.stop().expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_bounded_and_every_entry_gets_its_answer() {
    let (_dir, _chain, addr, handle) = serve().await;

    // A mixed batch: a good call, an id jsonrpsee cannot echo, an unknown method, a
    // subscription and a notification; four answers.
    let answer = post(
        addr,
        r#"[{"jsonrpc":"2.0","id":1,"method":"phalanx_finalizedHead"},
            {"jsonrpc":"2.0","id":-1,"method":"phalanx_status"},
            {"jsonrpc":"2.0","id":2,"method":"phalanx_nope"},
            {"jsonrpc":"2.0","id":3,"method":"phalanx_subscribeFinalized"},
            {"jsonrpc":"2.0","method":"phalanx_status"}]"#,
    )
    .await
    .json();
    let answers = answer.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 4, "{answer}");
    let by_id = |id: Value| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer for id {id}: {answer}"))
    };
    assert_eq!(by_id(json!(1))["result"]["height"], 0);
    assert_eq!(
        error_of(by_id(Value::Null)),
        (-32600, "invalid_request".into(), Value::Null)
    );
    assert_eq!(
        error_of(by_id(json!(2))),
        (-32601, "method_not_found".into(), json!(2))
    );
    assert_eq!(
        error_of(by_id(json!(3))),
        (1006, "subscription_over_http".into(), json!(3))
    );

    // At the limit: served. One over: refused as a whole.
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"phalanx_finalizedHead"}"#;
    let batch = |n: usize| format!("[{}]", vec![call; n].join(","));
    let max = phalanx_node::rpc::MAX_BATCH as usize;
    let answer = post(addr, &batch(max)).await.json();
    assert_eq!(answer.as_array().map(Vec::len), Some(max));
    let response = post(addr, &batch(max + 1)).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        error_of(&response.json()),
        (-32010, "batch_too_large".into(), Value::Null)
    );
    // An empty batch is one invalid request.
    assert_eq!(
        error_of(&post(addr, "[]").await.json()),
        (-32600, "invalid_request".into(), Value::Null)
    );
    // Entries that are not objects each get an answer.
    let answer = post(addr, "[1, 2]").await.json();
    assert_eq!(answer.as_array().map(Vec::len), Some(2), "{answer}");
    assert_eq!(
        error_of(&answer[0]),
        (-32600, "invalid_request".into(), Value::Null)
    );

    handle.stop().expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_or_oversized_bodies_are_client_errors_not_server_errors() {
    let (_dir, _chain, addr, handle) = serve().await;

    // A chunk size line that is not hex: 400, not 500.
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         zz\r\n{{\"jsonrpc\":\"2.0\"}}\r\n0\r\n\r\n"
    );
    let response = raw_http(addr, request.into_bytes()).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        error_of(&response.json()),
        (-32700, "malformed_body".into(), Value::Null)
    );

    // A well-formed chunked request is served.
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"phalanx_finalizedHead"}"#;
    let (first, second) = body.split_at(10);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
        first.len(),
        second.len()
    );
    let response = raw_http(addr, request.into_bytes()).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["result"]["height"], 0);

    // Over the size limit: 413, refused before the body is read.
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        phalanx_node::rpc::MAX_REQUEST_BYTES + 1
    );
    let response = raw_http(addr, request.into_bytes()).await;
    assert_eq!(response.status, 413);
    assert_eq!(
        error_of(&response.json()),
        (-32007, "request_too_large".into(), Value::Null)
    );
    // Over the limit in chunks (no length announced): refused while reading.
    let chunk = "x".repeat(1 << 20);
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..(phalanx_node::rpc::MAX_REQUEST_BYTES as usize >> 20) + 1 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let response = raw_http(addr, request.into_bytes()).await;
    assert_eq!(response.status, 413);
    assert_eq!(
        error_of(&response.json()),
        (-32007, "request_too_large".into(), Value::Null)
    );

    handle.stop().expect("stops");
}

fn propose(chain: &Chain, who: &Keypair, nonce: u64, description: Vec<u8>) -> Vec<u8> {
    Transaction {
        signer: who.account(),
        nonce,
        fee: PHA / 10,
        expires_at: chain.height() + 100,
        call: Call::Governance(GovernanceCall::Propose {
            calls: vec![PrivilegedCall::SetRegistrationFrozen(false)],
            description,
        }),
    }
    .sign(who, &chain.genesis_hash())
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_methods_are_paged_with_a_next_cursor() {
    let (_dir, chain, addr, handle) = serve().await;
    let http = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .expect("client");

    // Faults: 250 of them, in pages of the default (and largest) size 100.
    for i in 0..250 {
        chain.report_fault(format!("fault {i}"));
    }
    let mut start = Value::Null;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page: Value = http
            .request("phalanx_faults", rpc_params![start.clone()])
            .await
            .expect("faults");
        let faults = page["faults"].as_array().expect("faults list");
        pages.push(faults.len());
        seen.extend(faults.iter().map(|f| f.as_str().expect("text").to_string()));
        start = page["next"].clone();
        if start.is_null() {
            break;
        }
    }
    assert_eq!(pages, vec![100, 100, 50]);
    assert_eq!(
        seen,
        (0..250).map(|i| format!("fault {i}")).collect::<Vec<_>>()
    );
    let page: Value = http
        .request("phalanx_faults", rpc_params![240, 5])
        .await
        .expect("faults");
    assert_eq!(page["faults"][0], "fault 240");
    assert_eq!(page["next"], 245);

    // Proposals: five, in pages of two, by id.
    let alice = Keypair::dev("alice");
    for nonce in 0..5 {
        chain
            .submit(&propose(&chain, &alice, nonce, b"page me".to_vec()))
            .expect("admitted");
    }
    produce(&chain);
    let mut start = Value::Null;
    let mut ids = Vec::new();
    let mut nexts = Vec::new();
    loop {
        // By name this time.
        let mut params = jsonrpsee::core::params::ObjectParams::new();
        params.insert("start", start.clone()).expect("param");
        params.insert("limit", 2).expect("param");
        let page: Value = http
            .request("phalanx_proposals", params)
            .await
            .expect("proposals");
        let proposals = page["proposals"].as_array().expect("list");
        ids.push(
            proposals
                .iter()
                .map(|p| p["id"].as_u64().expect("id"))
                .collect::<Vec<_>>(),
        );
        assert_eq!(page["height"], 1);
        start = page["next"].clone();
        nexts.push(start.clone());
        if start.is_null() {
            break;
        }
    }
    assert_eq!(ids, vec![vec![0, 1], vec![2, 3], vec![4]]);
    assert_eq!(nexts, vec![json!(2), json!(4), Value::Null]);

    // Workers: none registered; one empty last page.
    let page: Value = http
        .request("phalanx_workers", rpc_params![])
        .await
        .expect("workers");
    assert_eq!(page["workers"], json!([]));
    assert_eq!(page["next"], Value::Null);
    let (code, _, reason) = rpc_error(http.request("phalanx_workers", rpc_params!["0x01"]).await);
    assert_eq!((code, reason.as_str()), (-32602, "invalid_params"));

    // Pages are bounded.
    for method in ["phalanx_faults", "phalanx_proposals", "phalanx_workers"] {
        let (code, message, reason) =
            rpc_error(http.request(method, rpc_params![Value::Null, 101]).await);
        assert_eq!(
            (code, message.as_str(), reason.as_str()),
            (
                -32602,
                "`limit` must be an integer from 1 to 100",
                "invalid_params"
            ),
            "{method}"
        );
    }

    handle.stop().expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_block_is_served_raw_and_as_json() {
    let (_dir, chain, addr, handle) = serve().await;
    // Proposals whose description fills a maximal transaction: each description byte is 0xff,
    // which the JSON view writes as `255,`, the costliest case. They are too long to pass,
    // but their fees are paid and they take room in the block.
    let max_tx = phalanx_primitives::call::ChainParams::default().max_tx_bytes as usize;
    let senders: Vec<Keypair> = phalanx_primitives::account::DEV_ACCOUNTS
        .iter()
        .map(|name| Keypair::dev(name))
        .collect();
    let overhead = propose(&chain, &senders[0], 0, Vec::new()).len() + 8;
    let wanted = phalanx_primitives::block::MAX_BLOCK_BYTES / max_tx + 2;
    for i in 0..wanted {
        let who = &senders[i % senders.len()];
        let tx = propose(
            &chain,
            who,
            (i / senders.len()) as u64,
            vec![0xff; max_tx - overhead],
        );
        assert!(tx.len() <= max_tx);
        chain.submit(&tx).expect("admitted");
    }
    produce(&chain);
    let stored = chain.block(1).expect("reads").expect("block 1");
    let block_bytes = stored.block.encode().len();
    assert!(
        block_bytes > phalanx_primitives::block::MAX_BLOCK_BYTES - 2 * max_tx,
        "block 1 holds only {block_bytes} bytes"
    );

    let http = HttpClientBuilder::default()
        .max_response_size(u32::MAX)
        .request_timeout(std::time::Duration::from_secs(120))
        .build(format!("http://{addr}"))
        .expect("client");
    let raw: Value = http
        .request("phalanx_rawBlock", rpc_params![1])
        .await
        .expect("raw block served");
    let hex_block = raw["block"].as_str().expect("hex");
    assert_eq!(hex_block.len(), 2 + 2 * block_bytes);
    assert_eq!(
        hex::decode(&hex_block[2..]).expect("hex"),
        stored.block.encode()
    );

    let request = r#"{"jsonrpc":"2.0","id":1,"method":"phalanx_block","params":[1]}"#;
    let response = post(addr, request).await;
    assert_eq!(response.status, 200);
    assert!(
        response.body.len() > 3 * block_bytes,
        "the JSON view is {} bytes",
        response.body.len()
    );
    assert!(response.body.len() < phalanx_node::rpc::MAX_RESPONSE_BYTES as usize);
    let json = response.json();
    assert_eq!(
        json["result"]["transactions"].as_array().map(Vec::len),
        Some(stored.block.transactions.len())
    );
    assert_eq!(
        json["result"]["hash"]
            .as_str()
            .map(|h| h.trim_start_matches("0x").to_string()),
        Some(stored.block.hash().to_hex())
    );

    handle.stop().expect("stops");
}

#[test]
fn handlers_that_read_disk_or_work_run_on_the_blocking_pool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let module = phalanx_node::rpc::module(chain(dir.path())).expect("module");
    for method in [
        "phalanx_submitTransaction",
        "phalanx_block",
        "phalanx_rawBlock",
        "phalanx_validatorSet",
        "phalanx_transaction",
        "phalanx_stateProof",
        "phalanx_storage",
        "phalanx_proposals",
        "phalanx_workers",
        "phalanx_faults",
    ] {
        // `register_blocking_method` registers an async callback that runs the handler on
        // tokio's blocking pool; `register_method` a synchronous one run in place.
        assert!(
            matches!(
                module.method(method),
                Some(jsonrpsee::MethodCallback::Async(_))
            ),
            "{method} runs inline"
        );
    }
    assert!(matches!(
        module.method("phalanx_finalizedHead"),
        Some(jsonrpsee::MethodCallback::Sync(_))
    ));
}
