//! `phalanx bench`: signed transfers per second through an in-process dev node, from submission
//! to finalized block, next to this machine's single-core ed25519 verification rate measured in
//! the same run. Prints `name: value` lines a script can compare.
//!
//! Method: start a fresh dev node in a temporary folder; fund `senders` new accounts; pre-sign
//! `senders × per_sender` transfers (signing is not timed); then submit them all over JSON-RPC in
//! batches from several connections and time until the last one is in a finalized block.

use crate::client_cmd::block_on;
use crate::{CliError, Result};
use clap::Args;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::HttpClientBuilder;
use parity_scale_codec::Encode;
use phalanx_client::Client;
use phalanx_node::service::{self, NodeSetup};
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{Keypair, SignedTransaction, PHA};
use std::time::{Duration, Instant};

/// `phalanx bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Accounts sending in parallel.
    #[arg(long, default_value_t = 100)]
    pub senders: usize,
    /// Transfers per sender (at most 256: the mempool's nonce window).
    #[arg(long, default_value_t = 100)]
    pub per_sender: usize,
    /// Transactions per JSON-RPC batch request.
    #[arg(long, default_value_t = 250)]
    pub batch: usize,
    /// Concurrent RPC connections submitting.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// RPC port of the in-process node.
    #[arg(long, default_value_t = 9990)]
    pub rpc_port: u16,
    /// p2p port of the in-process node.
    #[arg(long, default_value_t = 30990)]
    pub p2p_port: u16,
}

/// ed25519 verifications per second on one core (strict verification, as the runtime does).
pub fn ed25519_verify_rate(samples: usize) -> f64 {
    let key = Keypair::dev("bench");
    let messages: Vec<Vec<u8>> = (0..samples)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    let signatures: Vec<[u8; 64]> = messages.iter().map(|m| key.sign(m)).collect();
    let account = key.account();
    let start = Instant::now();
    let valid = messages
        .iter()
        .zip(&signatures)
        .filter(|(m, s)| account.verify(m, s))
        .count();
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(valid, samples, "every benchmark signature verifies");
    samples as f64 / elapsed
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.per_sender == 0 || args.per_sender > 256 || args.senders == 0 {
        return Err(CliError::new(
            "senders must be > 0 and per-sender between 1 and 256",
        ));
    }
    let verify_rate = ed25519_verify_rate(20_000);
    let dir = tempfile::tempdir()?;
    let (secret, genesis) = crate::dev::load_or_create(dir.path(), None)?;
    let public = service::validator_public_key(&secret);
    let p2p = std::net::SocketAddr::from(([127, 0, 0, 1], args.p2p_port));
    let rpc = std::net::SocketAddr::from(([127, 0, 0, 1], args.rpc_port));
    let validator = service::validator_config(secret, &[(public, p2p)], p2p, dir.path(), true)?;
    let setup = NodeSetup {
        data_dir: dir.path().to_path_buf(),
        genesis,
        validator,
        rpc,
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let node = std::thread::spawn(move || {
        service::run(
            setup,
            move |_, bound| {
                let _ = ready_tx.send(bound);
            },
            async move {
                let _ = stop_rx.await;
            },
        )
    });
    let bound = ready_rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| CliError::new("the bench node did not start"))?;
    let url = format!("http://{bound}");
    let outcome = block_on(measure(&url, &args));
    let _ = stop_tx.send(());
    let _ = node.join();
    let (count, elapsed) = outcome?;
    let tps = count as f64 / elapsed;
    println!("transfers_finalized: {count}");
    println!("elapsed_s: {elapsed:.3}");
    println!("finalized_transfers_per_s: {tps:.0}");
    println!("ed25519_verify_per_s_single_core: {verify_rate:.0}");
    println!("ratio_tps_to_single_core_verify: {:.3}", tps / verify_rate);
    Ok(())
}

async fn wait_all(client: &Client, txs: &[SignedTransaction], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    // Each sender's last transaction is finalized only after all its earlier ones.
    for tx in txs {
        let left = deadline.saturating_duration_since(Instant::now());
        client.wait_finalized(&tx.hash(), left).await?;
    }
    Ok(())
}

async fn measure(url: &str, args: &BenchArgs) -> Result<(usize, f64)> {
    let client = Client::new(url)?;
    let status = client.status().await?;
    let (params, _) = client.params().await?;
    let genesis = status.genesis_hash;
    let expiry = status.height + 10_000;
    // Fund the senders from the dev accounts.
    let senders: Vec<Keypair> = (0..args.senders)
        .map(|i| {
            Keypair::from_secret(
                phalanx_primitives::Hash::of(format!("bench-sender-{i}").as_bytes()).0,
            )
        })
        .collect();
    let funders: Vec<Keypair> = phalanx_primitives::account::DEV_ACCOUNTS
        .iter()
        .map(|n| Keypair::dev(n))
        .collect();
    let mut next_nonce = vec![0u64; funders.len()];
    for (i, f) in funders.iter().enumerate() {
        next_nonce[i] = client.account(&f.account()).await?.nonce;
    }
    let mut funding = Vec::new();
    for (i, sender) in senders.iter().enumerate() {
        let f = i % funders.len();
        let call = Call::Balances(BalancesCall::Transfer {
            to: sender.account(),
            amount: 1_000 * PHA,
        });
        funding.push(Client::sign_with_nonce(
            &funders[f],
            &genesis,
            &params,
            next_nonce[f],
            expiry,
            call,
        ));
        next_nonce[f] += 1;
    }
    for tx in &funding {
        client.submit(tx).await?;
    }
    let last_funding: Vec<SignedTransaction> =
        funding.iter().rev().take(funders.len()).cloned().collect();
    wait_all(&client, &last_funding, Duration::from_secs(120)).await?;

    // Pre-sign the measured transfers, interleaved across senders.
    let sink = Keypair::dev("ferdie").account();
    let mut txs = Vec::with_capacity(args.senders * args.per_sender);
    for nonce in 0..args.per_sender as u64 {
        for sender in &senders {
            let call = Call::Balances(BalancesCall::Transfer {
                to: sink,
                amount: 1,
            });
            txs.push(Client::sign_with_nonce(
                sender, &genesis, &params, nonce, expiry, call,
            ));
        }
    }
    let encoded: Vec<String> = txs
        .iter()
        .map(|t| format!("0x{}", hex::encode(t.encode())))
        .collect();
    let chunks: Vec<Vec<String>> = encoded.chunks(args.batch).map(|c| c.to_vec()).collect();
    // Chunks go round-robin over the connections, so every sender's nonces arrive roughly in
    // order (the mempool keeps only a few transactions per sender behind a nonce gap).
    let connections = args.connections.max(1);
    let mut groups: Vec<Vec<Vec<String>>> = vec![Vec::new(); connections];
    for (index, chunk) in chunks.into_iter().enumerate() {
        groups[index % connections].push(chunk);
    }

    let start = Instant::now();
    let mut tasks = Vec::new();
    for group in groups {
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let http = HttpClientBuilder::default()
                .max_request_size(64 << 20)
                .max_response_size(64 << 20)
                .request_timeout(Duration::from_secs(120))
                .build(&url)
                .map_err(|e| e.to_string())?;
            let mut refused = 0usize;
            for chunk in group {
                // One call per chunk: the node verifies its signatures together, on every core.
                let texts: Vec<&String> = chunk.iter().collect();
                let answers: Vec<serde_json::Value> = http
                    .request("phalanx_submitTransactions", jsonrpsee::rpc_params![texts])
                    .await
                    .map_err(|e| e.to_string())?;
                refused += answers
                    .iter()
                    .filter(|answer| answer.get("error").is_some())
                    .count();
            }
            Ok::<usize, String>(refused)
        }));
    }
    let mut refused = 0;
    for task in tasks {
        refused += task
            .await
            .map_err(|e| CliError::new(e.to_string()))?
            .map_err(CliError::new)?;
    }
    if refused > 0 {
        return Err(CliError::new(format!(
            "{refused} benchmark transactions were refused at submission"
        )));
    }
    let lasts: Vec<SignedTransaction> = txs.iter().rev().take(args.senders).cloned().collect();
    wait_all(&client, &lasts, Duration::from_secs(600)).await?;
    Ok((txs.len(), start.elapsed().as_secs_f64()))
}
