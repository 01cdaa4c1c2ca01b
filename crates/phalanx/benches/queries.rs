//! Confidential contract throughput on a real `phalanx dev` (release build, loopback): the
//! encrypted query round trip over HTTP at concurrency 1, 8 and 64 (p50, p99, queries/s),
//! beside HPKE seal + open measured in the same run, and commands per block and per second.
//!
//! `cargo bench -p phalanx --bench queries` (about a minute and a half). Each query is sealed
//! and signed by the client (SDK `seal_query`), POSTed to one worker's `/query` on a kept-alive
//! connection (as a pooled HTTP client sends it), opened and answered by its enclave against
//! the example vault, and the answer opened by the client: the whole path a user's query takes.
//! A second set of runs seals a fixed number of queries beforehand (2,000, 6,000, 6,000), so the
//! worker's serving rate is not shared with the client's sealing and signing on the same cores.
//!
//! The reference is `phalanx_keys::seal_request` + `open_request` of about the same size: on one
//! core (the latency ratio) and on every core at once (the throughput ratio: what the cores
//! could do if they only ran HPKE). Shared hosts drift in speed, so each round is compared with
//! HPKE measured just before and just after it. Compare ratios from one run.

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

/// One client's HTTP/1.1 connection to a worker, kept alive between queries as an SDK
/// client's connection pool keeps it (opened again if the worker closes it).
struct Connection {
    host: String,
    stream: Option<BufReader<std::net::TcpStream>>,
}

impl Connection {
    fn new(endpoint: &str) -> Self {
        Connection {
            host: endpoint.trim_start_matches("http://").to_string(),
            stream: None,
        }
    }

    /// POST /query; the status and body.
    fn post(&mut self, body: &[u8]) -> (u16, Vec<u8>) {
        if let Some(answer) = self.try_post(body) {
            return answer;
        }
        // A connection the worker closed meanwhile: once more on a new one.
        self.stream = None;
        self.try_post(body)
            .expect("the worker answers on a new connection")
    }

    fn try_post(&mut self, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            let stream = std::net::TcpStream::connect(&self.host).unwrap();
            stream.set_nodelay(true).unwrap();
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().unwrap();
        let mut request = format!(
            "POST /query HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        reader.get_mut().write_all(&request).ok()?;
        let mut status_line = String::new();
        if reader.read_line(&mut status_line).ok()? == 0 {
            return None;
        }
        let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().ok()?,
                "connection" => close = value.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut answer = vec![0u8; length];
        reader.read_exact(&mut answer).ok()?;
        if close {
            self.stream = None;
        }
        Some((status, answer))
    }
}

/// Seal + open pairs a second with `threads` threads each sealing and opening on its own
/// (for `for_how_long`).
fn hpke_rate(threads: usize, target: [u8; 32], for_how_long: Duration) -> f64 {
    let recipient = [7u8; 32];
    let public = phalanx_keys::ClusterKey::from_bytes(&recipient).public();
    let secret = phalanx_keys::ClusterKey::from_bytes(&recipient).secret_bytes();
    let context = phalanx_keys::RequestContext {
        target,
        nonce: [1; 16],
        expires_at_ms: u64::MAX,
    };
    let started = Instant::now();
    let counts: Vec<_> = (0..threads)
        .map(|_| {
            let secret = secret.clone();
            std::thread::spawn(move || {
                let plaintext = vec![0u8; 120];
                let mut count = 0u64;
                while started.elapsed() < for_how_long {
                    let (envelope, _) = phalanx_keys::seal_request(
                        &public,
                        &context,
                        &plaintext,
                        &mut rand_core::OsRng,
                    )
                    .unwrap();
                    phalanx_keys::open_request(&secret, &context, &envelope).unwrap();
                    count += 1;
                }
                count
            })
        })
        .collect();
    let total: u64 = counts.into_iter().map(|t| t.join().unwrap()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// Bob's `get k1` query to the vault, sealed and signed for `worker`, valid until `expires`.
fn seal_get(
    proof: &ClusterKeyProof,
    bob: &Keypair,
    contract: [u8; 32],
    worker: [u8; 32],
    expires: u64,
) -> phalanx_client::contracts::SealedQueryRequest {
    seal_query(
        proof,
        &proof.state_root,
        bob,
        contract,
        worker,
        b"get k1",
        expires,
    )
    .unwrap()
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

    // HPKE seal + open of a query-sized request: on one core, and on every core at once
    // (what the cores could do if they only ran HPKE; cores that share a physical core or a
    // noisy host do less than `cores` times one).
    let one_core = hpke_rate(1, id, Duration::from_secs(2));
    let seal_open = Duration::from_secs_f64(1.0 / one_core);
    let all_cores = hpke_rate(cores, id, Duration::from_secs(2));
    println!(
        "HPKE seal + open: {:.1} µs ({one_core:.0}/s on one core, {all_cores:.0}/s on {cores} cores at once)",
        seal_open.as_secs_f64() * 1e6,
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
    // This machine's speed drifts (shared hosts): each round is compared with HPKE measured
    // just before and just after it, on one core and on every core at once.
    let reference = || {
        let one = hpke_rate(1, id, Duration::from_millis(500));
        let all = hpke_rate(cores, id, Duration::from_secs(1));
        (one, all)
    };
    let mean = |(a, b): (f64, f64), (c, d): (f64, f64)| ((a + c) / 2.0, (b + d) / 2.0);
    for concurrency in [1usize, 8, 64] {
        let before = reference();
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
                    let mut connection = Connection::new(&worker);
                    while round_start.elapsed() < ROUND {
                        let began = Instant::now();
                        let sealed = seal_get(&proof, &bob, id, worker_id, expires);
                        let (status, body) = connection.post(&sealed.body);
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
        let (one_core, all_cores) = mean(before, reference());
        let seal_open = Duration::from_secs_f64(1.0 / one_core);
        let mut latencies = latencies.lock().unwrap().clone();
        latencies.sort();
        let answered = latencies.len();
        let qps = answered as f64 / wall.as_secs_f64();
        let p50 = percentile(&latencies, 0.5);
        let p99 = percentile(&latencies, 0.99);
        println!(
            "queries at concurrency {concurrency}: {answered} answered ({} refused: busy, rate-limited or unpaid) in {:.1} s: {qps:.0}/s, p50 {:.2} ms ({:.1}x one seal+open), p99 {:.2} ms; {:.0}% of what {cores} cores doing only HPKE did ({all_cores:.0}/s; one seal+open {:.0} µs)",
            refused.lock().unwrap(),
            wall.as_secs_f64(),
            p50.as_secs_f64() * 1e3,
            p50.as_secs_f64() / seal_open.as_secs_f64(),
            p99.as_secs_f64() * 1e3,
            100.0 * qps / all_cores,
            seal_open.as_secs_f64() * 1e6,
        );
    }

    // The worker's side alone: the same queries sealed and signed beforehand (on every core),
    // then sent at each concurrency; the client only sends and opens the answer. On one
    // machine the client's seal and signature otherwise take the cores the worker serves on.
    for (concurrency, count) in [(1usize, 2_000usize), (8, 6_000), (64, 6_000)] {
        let per_thread = count.div_ceil(cores);
        let sealers: Vec<_> = (0..cores)
            .map(|_| {
                let proof = proof.clone();
                let expires = header.timestamp_ms + 5 * 60 * 1000;
                std::thread::spawn(move || {
                    let bob = Keypair::dev("bob");
                    (0..per_thread)
                        .map(|_| seal_get(&proof, &bob, id, worker_id, expires))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let sealed: Vec<_> = sealers
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let queue = Arc::new(Mutex::new(sealed));
        let before = reference();
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let round_start = Instant::now();
        let threads: Vec<_> = (0..concurrency)
            .map(|_| {
                let (queue, latencies, worker) = (queue.clone(), latencies.clone(), worker.clone());
                std::thread::spawn(move || {
                    let mut connection = Connection::new(&worker);
                    loop {
                        let Some(query) = queue.lock().unwrap().pop() else {
                            break;
                        };
                        let began = Instant::now();
                        let (status, body) = connection.post(&query.body);
                        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                        phalanx_client::open_query_answer(&query.response_key, &body).unwrap();
                        latencies.lock().unwrap().push(began.elapsed());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let wall = round_start.elapsed();
        let (_, all_cores) = mean(before, reference());
        let mut latencies = latencies.lock().unwrap().clone();
        latencies.sort();
        let qps = latencies.len() as f64 / wall.as_secs_f64();
        println!(
            "served (sealed beforehand) at concurrency {concurrency}: {} in {:.2} s: {qps:.0}/s, p50 {:.2} ms, p99 {:.2} ms; {:.0}% of what {cores} cores doing only HPKE did ({all_cores:.0}/s)",
            latencies.len(),
            wall.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            100.0 * qps / all_cores,
        );
    }
}
