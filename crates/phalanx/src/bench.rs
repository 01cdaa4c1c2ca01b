//! `phalanx bench`: what the chain sustains, measured through in-process validators on
//! loopback, next to this machine's single-core ed25519 verification rates (one signature at
//! a time, and in batches) measured in the same run. Prints `name: value` lines a script can compare.
//!
//! Method: start `--validators` fresh validators (a dev genesis naming them, blocks spaced by
//! the chain parameter `--block-interval-ms`) in a temporary folder, each with its own runtime,
//! storage and RPC, talking over authenticated p2p on loopback. Then, in order:
//! 1. **Throughput**: fund `senders` new accounts; pre-sign `senders × per_sender` transfers
//!    (signing is not timed); submit them in batches over several connections spread across
//!    the validators. The clock runs from the first submission until validator 0 reports every
//!    sender's last transfer finalized (`phalanx_transaction`, polled every 5 ms), so
//!    `elapsed_s` includes submission. Blocks are spaced `--block-interval-ms` apart (100 ms
//!    by default, not the dev chain's 500 ms).
//! 2. **Latency**: submit `latency_samples` single transfers, one every 50 ms (so they land at
//!    every point of a block's interval), each to the next validator, and time each from
//!    submission until validator 0 holds it in a finalized block (heads polled every 5 ms);
//!    report p50 and p99.
//! 3. **Spam**: flood validator 0's admission with `spam` transactions that must all be refused
//!    (forged signatures, and nonces far past the sender's window from funded accounts) and
//!    report admission decisions per second; an honest transfer sent during the flood must
//!    still finalize, and its latency is reported.

use crate::client_cmd::block_on;
use crate::{CliError, Result};
use clap::Args;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use parity_scale_codec::Encode;
use phalanx_client::Client;
use phalanx_node::service::{self, NodeSetup};
use phalanx_primitives::call::{BalancesCall, Call, ChainParams};
use phalanx_primitives::{Hash, Keypair, SignedTransaction, PHA};
use phalanx_runtime::GenesisConfig;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// `phalanx bench` options.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Validators on loopback, each with its own runtime, storage and RPC.
    #[arg(long, default_value_t = 1)]
    pub validators: usize,
    /// Least time between blocks (the chain parameter), in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub block_interval_ms: u64,
    /// Accounts sending in parallel.
    #[arg(long, default_value_t = 200)]
    pub senders: usize,
    /// Transfers per sender (at most 256: the mempool's per-sender limit).
    #[arg(long, default_value_t = 200)]
    pub per_sender: usize,
    /// Transactions per JSON-RPC batch request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Concurrent RPC connections submitting (at least one per validator); each sender uses
    /// one of them.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Transfers timed one by one for the latency figures (0 skips the phase).
    #[arg(long, default_value_t = 100)]
    pub latency_samples: usize,
    /// Transactions in the spam flood (0 skips the phase).
    #[arg(long, default_value_t = 20_000)]
    pub spam: usize,
}

/// ed25519 verifications per second on one core: one signature at a time (the chain's single
/// check, `AccountId::verify`: what `ratio_tps_to_single_core_verify` divides by) and in batches (what admission and block
/// execution do, `signature::verify_each`), over the same signatures from 200 signers.
pub fn ed25519_verify_rates(samples: usize) -> (f64, f64) {
    let keys: Vec<Keypair> = (0..200)
        .map(|i| Keypair::dev(&format!("bench{i}")))
        .collect();
    let accounts: Vec<[u8; 32]> = keys.iter().map(|k| k.account().0).collect();
    let messages: Vec<Vec<u8>> = (0..samples)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    let signatures: Vec<[u8; 64]> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % keys.len()].sign(m))
        .collect();
    let items: Vec<phalanx_primitives::signature::Item<'_>> = (0..samples)
        .map(|i| {
            (
                &accounts[i % accounts.len()],
                messages[i].as_slice(),
                &signatures[i],
            )
        })
        .collect();
    let start = Instant::now();
    let valid = items
        .iter()
        .filter(|(key, m, s)| phalanx_primitives::AccountId(**key).verify(m, s))
        .count();
    let single = samples as f64 / start.elapsed().as_secs_f64();
    assert_eq!(valid, samples, "every benchmark signature verifies");
    let start = Instant::now();
    let valid = phalanx_primitives::signature::verify_each(&items)
        .into_iter()
        .filter(|v| *v)
        .count();
    let batched = samples as f64 / start.elapsed().as_secs_f64();
    assert_eq!(
        valid, samples,
        "every benchmark signature verifies in a batch"
    );
    (single, batched)
}

/// Free loopback ports for validators that must know each other's addresses ahead of time.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Starts `count` validators of a fresh dev chain in `dir`.
fn start_network(
    dir: &std::path::Path,
    count: usize,
    interval_ms: u64,
) -> Result<Vec<service::Background>> {
    let secrets: Vec<[u8; 32]> = (0..count).map(|_| Keypair::generate().secret()).collect();
    let ports = free_ports(count)?;
    let peers: Vec<([u8; 32], SocketAddr)> = secrets
        .iter()
        .zip(&ports)
        .map(|(secret, port)| {
            (
                service::validator_public_key(secret),
                SocketAddr::from(([127, 0, 0, 1], *port)),
            )
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut genesis =
        GenesisConfig::dev(peers.iter().map(|(key, _)| hex::encode(key)).collect(), now);
    genesis.chain_params.block_interval_ms = interval_ms;
    phalanx_runtime::params::check_chain(&genesis.chain_params)
        .map_err(|e| CliError::new(format!("--block-interval-ms {interval_ms}: {e}")))?;
    let mut running = Vec::new();
    for (secret, (_, listen)) in secrets.iter().zip(&peers) {
        let data_dir = dir.join(hex::encode(&service::validator_public_key(secret)[..4]));
        let validator = service::validator_config(*secret, &peers, *listen, &data_dir, true)?;
        let setup = NodeSetup {
            data_dir,
            genesis: genesis.clone(),
            validator,
            rpc: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        running.push(service::Background::spawn(setup, Duration::from_secs(60))?);
    }
    Ok(running)
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.per_sender == 0 || args.per_sender > 256 || args.senders == 0 {
        return Err(CliError::new(
            "senders must be > 0 and per-sender between 1 and 256",
        ));
    }
    if args.validators == 0 {
        return Err(CliError::new("the bench needs at least one validator"));
    }
    let (verify_rate, batch_rate) = ed25519_verify_rates(20_000);
    let dir = tempfile::tempdir()?;
    let network = start_network(dir.path(), args.validators, args.block_interval_ms)?;
    let urls: Vec<String> = network.iter().map(service::Background::url).collect();
    let outcome = block_on(measure(&urls, &args));
    for node in network {
        let _ = node.stop();
    }
    let figures = outcome?;
    let tps = figures.transfers as f64 / figures.elapsed_s;
    println!("validators: {}", args.validators);
    println!("block_interval_ms: {}", args.block_interval_ms);
    println!("transfers_finalized: {}", figures.transfers);
    println!("elapsed_s: {:.3}", figures.elapsed_s);
    println!("finalized_transfers_per_s: {tps:.0}");
    println!("ed25519_verify_per_s_single_core: {verify_rate:.0}");
    println!("ed25519_batch_verify_per_s_single_core: {batch_rate:.0}");
    println!("ratio_tps_to_single_core_verify: {:.3}", tps / verify_rate);
    if let Some((p50, p99)) = figures.latency {
        println!("latency_samples: {}", args.latency_samples);
        println!("submit_to_finalized_p50_ms: {p50:.0}");
        println!("submit_to_finalized_p99_ms: {p99:.0}");
    }
    if let Some(spam) = figures.spam {
        println!("spam_sent: {}", spam.sent);
        println!("spam_refused: {}", spam.refused);
        println!(
            "spam_admission_decisions_per_s: {:.0}",
            spam.decisions_per_s
        );
        println!(
            "honest_transfer_during_spam_ms: {:.0}",
            spam.honest_latency_ms
        );
    }
    Ok(())
}

struct Figures {
    transfers: usize,
    elapsed_s: f64,
    latency: Option<(f64, f64)>,
    spam: Option<SpamFigures>,
}

struct SpamFigures {
    sent: usize,
    refused: usize,
    decisions_per_s: f64,
    honest_latency_ms: f64,
}

fn http(url: &str) -> Result<HttpClient> {
    HttpClientBuilder::default()
        .max_request_size(64 << 20)
        .max_response_size(64 << 20)
        .request_timeout(Duration::from_secs(120))
        .build(url)
        .map_err(|e| CliError::new(e.to_string()))
}

async fn wait_all(client: &Client, txs: &[SignedTransaction], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let bar = crate::progress::bar(
        txs.len() as u64,
        "senders whose transfers are all finalized",
    );
    // Each sender's last transaction is finalized only after all its earlier ones. Polled
    // every 5 ms, not at the client's 100 ms: a default run lasts about a second, so a 100 ms
    // poll could add up to a tenth of `elapsed_s`.
    for tx in txs {
        let left = deadline.saturating_duration_since(Instant::now());
        client
            .wait_finalized_every(&tx.hash(), left, Duration::from_millis(5))
            .await?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// Submits `txs` in one `phalanx_submitTransactions` call; returns how many were refused.
async fn submit_batch(http: &HttpClient, txs: &[String]) -> Result<usize> {
    let answers: Vec<serde_json::Value> = http
        .request("phalanx_submitTransactions", jsonrpsee::rpc_params![txs])
        .await
        .map_err(|e| CliError::new(e.to_string()))?;
    Ok(answers
        .iter()
        .filter(|answer| answer.get("error").is_some())
        .count())
}

fn hex_tx(tx: &SignedTransaction) -> String {
    format!("0x{}", hex::encode(tx.encode()))
}

/// Context every phase signs with.
struct Chain {
    genesis: Hash,
    params: ChainParams,
    expiry: u64,
}

fn transfer(
    key: &Keypair,
    chain: &Chain,
    nonce: u64,
    to: &Keypair,
    amount: u128,
) -> SignedTransaction {
    Client::sign_with_nonce(
        key,
        &chain.genesis,
        &chain.params,
        nonce,
        chain.expiry,
        Call::Balances(BalancesCall::Transfer {
            to: to.account(),
            amount,
        }),
    )
}

async fn measure(urls: &[String], args: &BenchArgs) -> Result<Figures> {
    let client = Client::new(&urls[0])?;
    let status = client.status().await?;
    let (params, _) = client.params().await?;
    let chain = Chain {
        genesis: status.genesis_hash,
        params,
        expiry: status.height + 10_000,
    };
    let senders: Vec<Keypair> = (0..args.senders)
        .map(|i| Keypair::from_secret(Hash::of(format!("bench-sender-{i}").as_bytes()).0))
        .collect();
    fund(&client, &chain, &senders).await?;
    let (transfers, elapsed_s) = throughput(urls, args, &client, &chain, &senders).await?;
    let latency = if args.latency_samples > 0 {
        let samples = latency(urls, args.latency_samples, &chain, &senders).await?;
        Some((percentile(&samples, 0.50), percentile(&samples, 0.99)))
    } else {
        None
    };
    let spam = if args.spam > 0 {
        Some(spam(urls, args.spam, &chain, &senders).await?)
    } else {
        None
    };
    Ok(Figures {
        transfers,
        elapsed_s,
        latency,
        spam,
    })
}

/// Funds every sender from the dev accounts and waits until that is final.
async fn fund(client: &Client, chain: &Chain, senders: &[Keypair]) -> Result<()> {
    let funders: Vec<Keypair> = phalanx_primitives::account::DEV_ACCOUNTS
        .iter()
        .map(|n| Keypair::dev(n))
        .collect();
    let mut next_nonce = Vec::new();
    for funder in &funders {
        next_nonce.push(client.account(&funder.account()).await?.nonce);
    }
    let mut funding = Vec::new();
    for (i, sender) in senders.iter().enumerate() {
        let f = i % funders.len();
        funding.push(transfer(
            &funders[f],
            chain,
            next_nonce[f],
            sender,
            1_000 * PHA,
        ));
        next_nonce[f] += 1;
    }
    let encoded: Vec<String> = funding.iter().map(hex_tx).collect();
    let refused = submit_batch(&http(client.url())?, &encoded).await?;
    if refused > 0 {
        return Err(CliError::new(format!(
            "{refused} funding transfers were refused"
        )));
    }
    let lasts: Vec<SignedTransaction> = funding.iter().rev().take(funders.len()).cloned().collect();
    wait_all(client, &lasts, Duration::from_secs(120)).await
}

/// Phase 1: every sender's `per_sender` transfers, submitted at once; (count, seconds).
async fn throughput(
    urls: &[String],
    args: &BenchArgs,
    client: &Client,
    chain: &Chain,
    senders: &[Keypair],
) -> Result<(usize, f64)> {
    let sink = Keypair::dev("ferdie");
    // Each sender talks to one connection (and so one validator), as a real client does: its
    // nonces then arrive in order. Within a connection, transfers interleave across senders.
    let connections = args.connections.max(urls.len()).max(1);
    let mut txs = Vec::with_capacity(senders.len() * args.per_sender);
    let mut streams: Vec<Vec<String>> = vec![Vec::new(); connections];
    for nonce in 0..args.per_sender as u64 {
        for (index, sender) in senders.iter().enumerate() {
            let tx = transfer(sender, chain, nonce, &sink, 1);
            streams[index % connections].push(hex_tx(&tx));
            txs.push(tx);
        }
    }
    let groups: Vec<Vec<Vec<String>>> = streams
        .iter()
        .map(|stream| {
            stream
                .chunks(args.batch.max(1))
                .map(<[String]>::to_vec)
                .collect()
        })
        .collect();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (index, group) in groups.into_iter().enumerate() {
        let url = urls[index % urls.len()].clone();
        tasks.push(tokio::spawn(async move {
            let http = http(&url)?;
            let mut refused = 0usize;
            for chunk in group {
                refused += submit_batch(&http, &chunk).await?;
            }
            Ok::<usize, CliError>(refused)
        }));
    }
    let mut refused = 0;
    for task in tasks {
        refused += task.await.map_err(|e| CliError::new(e.to_string()))??;
    }
    if refused > 0 {
        return Err(CliError::new(format!(
            "{refused} benchmark transactions were refused at submission"
        )));
    }
    let lasts: Vec<SignedTransaction> = txs.iter().rev().take(senders.len()).cloned().collect();
    wait_all(client, &lasts, Duration::from_secs(600)).await?;
    Ok((txs.len(), start.elapsed().as_secs_f64()))
}

/// Watches validator 0's finalized blocks and reports when each awaited hash appears.
struct Tracker {
    client: Client,
    height: u64,
}

impl Tracker {
    async fn new(url: &str) -> Result<Tracker> {
        let client = Client::new(url)?;
        let height = client.status().await?.height;
        Ok(Tracker { client, height })
    }

    /// Hashes in blocks finalized since the last call.
    async fn poll(&mut self) -> Result<Vec<Hash>> {
        let head = self.client.status().await?.height;
        let mut seen = Vec::new();
        while self.height < head {
            self.height += 1;
            let block = self.client.block(Some(&self.height.to_string())).await?;
            seen.extend(block.transactions.iter().map(|tx| tx.hash));
        }
        Ok(seen)
    }
}

/// Phase 2: submit-to-finalized latency of single transfers, in milliseconds.
async fn latency(
    urls: &[String],
    samples: usize,
    chain: &Chain,
    senders: &[Keypair],
) -> Result<Vec<f64>> {
    let sink = Keypair::dev("ferdie");
    let clients = urls
        .iter()
        .map(|url| Client::new(url))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut tracker = Tracker::new(&urls[0]).await?;
    // Fresh nonces: each sender sent `per_sender` in phase 1; ask the chain.
    let mut pending: HashMap<Hash, Instant> = HashMap::new();
    let mut done = Vec::with_capacity(samples);
    let mut next_send = Instant::now();
    let mut sent = 0usize;
    let deadline = Instant::now() + Duration::from_secs(60 + samples as u64);
    while done.len() < samples {
        if Instant::now() > deadline {
            return Err(CliError::new(format!(
                "latency: only {} of {samples} transfers finalized in time",
                done.len()
            )));
        }
        if sent < samples && Instant::now() >= next_send {
            let sender = &senders[sent % senders.len()];
            let node = &clients[sent % clients.len()];
            let nonce = node.account(&sender.account()).await?.nonce;
            let tx = transfer(sender, chain, nonce, &sink, 1);
            let began = Instant::now();
            node.submit(&tx).await?;
            pending.insert(tx.hash(), began);
            sent += 1;
            next_send += Duration::from_millis(50);
        }
        for hash in tracker.poll().await? {
            if let Some(began) = pending.remove(&hash) {
                done.push(began.elapsed().as_secs_f64() * 1_000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(done)
}

/// Phase 3: a flood the mempool must refuse entirely, with one honest transfer in the middle.
async fn spam(
    urls: &[String],
    count: usize,
    chain: &Chain,
    senders: &[Keypair],
) -> Result<SpamFigures> {
    let sink = Keypair::dev("ferdie");
    let client = Client::new(&urls[0])?;
    // Half forged signatures on otherwise valid transfers (the sender's next nonce, one
    // signature bit flipped: only the signature check can refuse them), half correctly signed
    // transfers with nonces far beyond each funded sender's window.
    let mut next = Vec::with_capacity(senders.len());
    for sender in senders {
        next.push(client.account(&sender.account()).await?.nonce);
    }
    let mut flood = Vec::with_capacity(count);
    for i in 0..count {
        let sender = &senders[i % senders.len()];
        let amount = 1 + i as u128;
        if i % 2 == 0 {
            let mut tx = transfer(sender, chain, next[i % senders.len()], &sink, amount);
            tx.signature[0] ^= 1;
            flood.push(hex_tx(&tx));
        } else {
            let far = next[i % senders.len()] + 1_000_000 + i as u64;
            flood.push(hex_tx(&transfer(sender, chain, far, &sink, amount)));
        }
    }
    let honest_sender = &senders[0];
    let nonce = client.account(&honest_sender.account()).await?.nonce;
    let honest = transfer(honest_sender, chain, nonce, &sink, 1);
    let http = http(&urls[0])?;
    let start = Instant::now();
    let half = flood.len() / 2;
    let mut refused = submit_batch_chunks(&http, &flood[..half]).await?;
    let honest_began = Instant::now();
    client.submit(&honest).await?;
    refused += submit_batch_chunks(&http, &flood[half..]).await?;
    let decisions_per_s = flood.len() as f64 / start.elapsed().as_secs_f64();
    client
        .wait_finalized(&honest.hash(), Duration::from_secs(60))
        .await?;
    Ok(SpamFigures {
        sent: flood.len(),
        refused,
        decisions_per_s,
        honest_latency_ms: honest_began.elapsed().as_secs_f64() * 1_000.0,
    })
}

/// Submits spam in chunks; returns how many were refused for the reasons spam must be refused
/// for (a forged signature, a nonce far ahead). Anything admitted, or refused for another
/// reason, is an error: the figure would not measure what it claims.
async fn submit_batch_chunks(http: &HttpClient, txs: &[String]) -> Result<usize> {
    let mut refused = 0;
    for chunk in txs.chunks(1_000) {
        let answers: Vec<serde_json::Value> = http
            .request("phalanx_submitTransactions", jsonrpsee::rpc_params![chunk])
            .await
            .map_err(|e| CliError::new(e.to_string()))?;
        for answer in answers {
            match answer["error"]["data"]["reason"].as_str() {
                Some("bad_signature" | "future_nonce") => refused += 1,
                _ => {
                    return Err(CliError::new(format!(
                        "a spam transaction got an unexpected answer: {answer}"
                    )))
                }
            }
        }
    }
    Ok(refused)
}

/// The `q` quantile of `samples` (nearest rank).
fn percentile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 0.50), 50.0);
        assert_eq!(percentile(&samples, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
