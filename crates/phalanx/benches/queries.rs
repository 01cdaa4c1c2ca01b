//! Confidential contract throughput on a real `phalanx dev` (release build, loopback): the
//! encrypted query round trip over HTTP at concurrency 1, 8 and 64 (p50, p99, queries/s),
//! beside one HPKE seal + open measured in the same run, and commands per block and per second.
//!
//! `cargo bench -p phalanx --bench queries` (about a minute). Each query is sealed and signed
//! by the client (SDK `seal_query`), POSTed to one worker's `/query`, opened and answered by its
//! enclave against the example vault, and the answer opened by the client: the whole path a
//! user's query takes. The HPKE figure is `phalanx_keys::seal_request` + `open_request` of the
//! same size on one core. Figures vary with the machine; compare ratios from one run.

#![allow(clippy::unwrap_used, clippy::panic)] // a bench binary fails loudly

use phalanx_client::{seal_query, Client, ClusterKeyProof};
use phalanx_primitives::Keypair;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_phalanx");
const ROUND: Duration = Duration::from_secs(5);

struct Dev {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Some(line) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("phalanx dev never printed {what}");
    }
}

fn url_in(line: &str) -> String {
    let start = line.find("http://").unwrap();
    line[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches([',', ')'])
        .to_string()
}

fn cli(rpc: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["--rpc", rpc, "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "phalanx {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// POST /query on loopback; the status and body.
fn post(endpoint: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let host = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST /query HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, answer[split + 4..].to_vec())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args([
            "dev",
            "--data-dir",
            data.path().to_str().unwrap(),
            "--rpc-listen",
            "127.0.0.1:0",
            "--p2p-listen",
            "127.0.0.1:0",
            "--worker-port",
            "0",
            // One client address sends every query here: no per-address limit.
            "--worker-query-rate",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let dev = Dev { child, lines };
    let rpc = url_in(&dev.wait_line("its RPC address", |l| {
        l.contains("RPC") && l.contains("http://")
    }));
    let worker = url_in(&dev.wait_line("worker0's endpoint", |l| {
        l.contains("worker0 ") && l.contains("query endpoint")
    }));
    for name in ["worker0", "worker1"] {
        dev.wait_line("the cluster key", |l| {
            l.contains(&format!("worker {name}: received the key of cluster 0"))
        });
    }
    let vault = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/prebuilt/vault.wasm"
    );
    let code = cli(&rpc, &["contract", "upload", vault, "--from", "alice"]);
    let code_hash = code["code_hash"].as_str().unwrap();
    let instance = cli(
        &rpc,
        &[
            "contract",
            "instantiate",
            code_hash,
            "--cluster",
            "0",
            "--from",
            "alice",
        ],
    );
    let id_hex = instance["contract"].as_str().unwrap().to_string();
    let id: [u8; 32] = hex::decode(&id_hex).unwrap().try_into().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(&rpc).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while runtime.block_on(client.contract_key(&id, None)).is_err() {
        assert!(Instant::now() < deadline, "no contract key");
        std::thread::sleep(Duration::from_millis(100));
    }
    let bob = Keypair::dev("bob");

    // Commands: a burst submitted back to back, then the time until the last is final.
    let burst = 100u64;
    let key = runtime.block_on(client.contract_key(&id, None)).unwrap();
    let params = runtime
        .block_on(client.contracts(None, Some(1)))
        .unwrap()
        .params;
    let start_height = runtime.block_on(client.status()).unwrap().height;
    let started = Instant::now();
    for i in 0..burst {
        let (sealed, _) = key
            .seal_command(
                &key.state_root,
                bob.account(),
                format!("put k{i} v{i}").as_bytes(),
            )
            .unwrap();
        let call = phalanx_client::contracts::submit_command(
            &key,
            sealed,
            1_000_000,
            params.min_gas_price,
        );
        runtime
            .block_on(client.sign_and_submit(&bob, call))
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let last = runtime.block_on(client.command(&id, burst - 1));
        if last.is_ok_and(|c| c.result.is_some()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the burst's last command never became final"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let elapsed = started.elapsed();
    let end_height = runtime.block_on(client.status()).unwrap().height;
    let blocks = end_height.saturating_sub(start_height).max(1);
    println!(
        "commands: {burst} in {:.2} s and {blocks} blocks: {:.1} commands/s, {:.1} commands/block (each run by both members)",
        elapsed.as_secs_f64(),
        burst as f64 / elapsed.as_secs_f64(),
        burst as f64 / blocks as f64
    );

    // HPKE seal + open of a query-sized request, one core.
    let recipient = [7u8; 32];
    let public = phalanx_keys::ClusterKey::from_bytes(&recipient).public();
    let secret = phalanx_keys::ClusterKey::from_bytes(&recipient).secret_bytes();
    let context = phalanx_keys::RequestContext {
        target: id,
        nonce: [1; 16],
        expires_at_ms: u64::MAX,
    };
    let plaintext = vec![0u8; 120];
    let mut count = 0u32;
    let hpke_start = Instant::now();
    while hpke_start.elapsed() < Duration::from_secs(2) {
        let (envelope, _) =
            phalanx_keys::seal_request(&public, &context, &plaintext, &mut rand_core::OsRng)
                .unwrap();
        phalanx_keys::open_request(&secret, &context, &envelope).unwrap();
        count += 1;
    }
    let seal_open = hpke_start.elapsed() / count;
    println!(
        "HPKE seal + open: {:.1} µs ({:.0}/s on one core)",
        seal_open.as_secs_f64() * 1e6,
        1.0 / seal_open.as_secs_f64()
    );

    // Queries at concurrency 1, 8, 64, paid from bob's query deposit.
    cli(&rpc, &["contract", "deposit", "100", "--from", "bob"]);
    let proof: ClusterKeyProof = runtime.block_on(client.cluster_key(0, None)).unwrap();
    let header: phalanx_primitives::Header =
        phalanx_primitives::decode_strict(&proof.header, 1024).unwrap();
    let proof = Arc::new(proof);
    // Queries name the worker they are for: worker0's enclave identity.
    let mut worker_id = None;
    for member in runtime
        .block_on(client.cluster_with_members(0))
        .unwrap()
        .members
    {
        if let Some(info) = runtime.block_on(client.worker(&member)).unwrap() {
            if info.endpoint == worker {
                worker_id = Some(info.identity);
            }
        }
    }
    let worker_id = worker_id.expect("worker0 is a registered member of cluster 0");
    for concurrency in [1usize, 8, 64] {
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(0u64));
        let round_start = Instant::now();
        let threads: Vec<_> = (0..concurrency)
            .map(|_| {
                let (proof, latencies, refused, worker) = (
                    proof.clone(),
                    latencies.clone(),
                    refused.clone(),
                    worker.clone(),
                );
                let expires = header.timestamp_ms + 5 * 60 * 1000;
                std::thread::spawn(move || {
                    let bob = Keypair::dev("bob");
                    while round_start.elapsed() < ROUND {
                        let began = Instant::now();
                        let sealed = seal_query(
                            &proof,
                            &proof.state_root,
                            &bob,
                            id,
                            worker_id,
                            b"get k1",
                            expires,
                        )
                        .unwrap();
                        let (status, body) = post(&worker, &sealed.body);
                        if status == 200 {
                            phalanx_client::open_query_answer(&sealed.response_key, &body).unwrap();
                            latencies.lock().unwrap().push(began.elapsed());
                        } else {
                            *refused.lock().unwrap() += 1;
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let wall = round_start.elapsed();
        let mut latencies = latencies.lock().unwrap().clone();
        latencies.sort();
        let answered = latencies.len();
        let qps = answered as f64 / wall.as_secs_f64();
        let p50 = percentile(&latencies, 0.5);
        let p99 = percentile(&latencies, 0.99);
        println!(
            "queries at concurrency {concurrency}: {answered} answered ({} refused busy) in {:.1} s: {qps:.0}/s, p50 {:.2} ms ({:.1}x one seal+open), p99 {:.2} ms; {:.0}% of what {cores} cores doing only HPKE could ({:.0}/s)",
            refused.lock().unwrap(),
            wall.as_secs_f64(),
            p50.as_secs_f64() * 1e3,
            p50.as_secs_f64() / seal_open.as_secs_f64(),
            p99.as_secs_f64() * 1e3,
            100.0 * qps * seal_open.as_secs_f64() / cores as f64,
            cores as f64 / seal_open.as_secs_f64()
        );
    }
}
