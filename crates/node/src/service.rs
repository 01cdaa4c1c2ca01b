//! Running a whole node: the chain, its RPC server and the consensus validator, on
//! commonware's tokio runtime, until the caller's shutdown signal (Ctrl-C, SIGTERM).
//!
//! Data layout under the node's data directory: `chain/` (block log and state snapshots, see
//! [`crate::store`]) and `consensus/` (commonware's journals and marshal archives).
//!
//! A full disk stops the node cleanly with [`ServiceError::DiskFull`]: a finalized block that
//! cannot be stored halts the chain (nothing unstored is ever reported finalized), the service
//! notices the halt, stops consensus and RPC and returns. Once space is freed the next start
//! cuts off any torn tail of the block log and resumes. Other halts (this node computes a
//! certified block differently) keep the node up, serving RPC, so the operator can inspect it.

use crate::chain::{system_clock, Chain, ChainConfig, ChainError};
use crate::consensus::{self, PrivateKey, ValidatorConfig};
use commonware_runtime::{Runner as _, Spawner as _, Supervisor as _};
use phalanx_runtime::GenesisConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the service looks whether the chain halted on a full disk.
const HALT_POLL: Duration = Duration::from_millis(250);

/// Why a node stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The chain would not open.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The RPC port could not be bound.
    #[error("cannot serve RPC on {addr}: {source} (is another node running? pick another address: --rpc-listen for phalanx dev, rpc = in a node config)")]
    Rpc {
        /// Address.
        addr: SocketAddr,
        /// Error.
        source: std::io::Error,
    },
    /// Consensus stopped with an error.
    #[error("consensus: {0}")]
    Consensus(#[from] consensus::Error),
    /// A full node could not follow its source.
    #[error("following: {0}")]
    Follow(String),
    /// A node run on its own thread ([`Background`]) did not start, or its thread panicked.
    #[error("node thread: {0}")]
    Thread(String),
    /// The disk holding the data directory is full; the node stopped cleanly.
    #[error("disk full at {}: free space and restart ({detail})", path.display())]
    DiskFull {
        /// The node's data directory.
        path: PathBuf,
        /// What could not be written.
        detail: String,
    },
}

impl ServiceError {
    /// Whether the node stopped because its disk is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, ServiceError::DiskFull { .. })
    }

    /// Turns an error caused by a full disk into [`ServiceError::DiskFull`] at `data_dir`.
    fn or_disk_full(self, data_dir: &Path) -> ServiceError {
        if self.is_disk_full()
            || !(caused_by_full_disk(&self) || mentions_full_disk(&self.to_string()))
        {
            return self;
        }
        ServiceError::DiskFull {
            path: data_dir.to_path_buf(),
            detail: self.to_string(),
        }
    }
}

/// Whether `error` or one of its sources is an I/O error saying the disk (or the user's quota)
/// is full.
pub fn caused_by_full_disk(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) {
                return true;
            }
        }
        next = error.source();
    }
    false
}

/// Whether an error message (the chain's halt reason, a panic message from the storage layer)
/// says the disk or the quota is full. Errors that reach us only as text are matched on the
/// operating system's wording (`ENOSPC` = 28, `EDQUOT` = 122 on Linux).
pub fn mentions_full_disk(text: &str) -> bool {
    [
        "No space left on device",
        "StorageFull",
        "os error 28)",
        "code: 28,",
        "Disk quota exceeded",
        "QuotaExceeded",
        "os error 122)",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

/// Completes once the chain halted because it could not store a block on a full disk, with the
/// halt reason.
async fn halted_on_full_disk(chain: &Chain) -> String {
    loop {
        if let Some(reason) = chain.halted().filter(|reason| mentions_full_disk(reason)) {
            return reason;
        }
        tokio::time::sleep(HALT_POLL).await;
    }
}

/// Everything one node needs.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Genesis.
    pub genesis: GenesisConfig,
    /// Consensus: key, validators, p2p address.
    pub validator: ValidatorConfig,
    /// RPC address.
    pub rpc: SocketAddr,
}

/// The chain folder inside a data directory.
pub fn chain_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("chain")
}

/// The consensus folder inside a data directory.
pub fn consensus_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("consensus")
}

/// Builds a validator config for `key` among `validators` (key, p2p address).
pub fn validator_config(
    key: [u8; 32],
    validators: &[([u8; 32], SocketAddr)],
    listen: SocketAddr,
    data_dir: &Path,
    local_network: bool,
) -> Result<ValidatorConfig, consensus::Error> {
    use commonware_codec::DecodeExt as _;
    let signer = PrivateKey::decode(commonware_codec::Copying(&key[..]))
        .map_err(|_| consensus::Error::InvalidConfig("validator secret key"))?;
    let peers = validators
        .iter()
        .map(|(public, address)| {
            let public_key =
                consensus::PublicKey::decode(commonware_codec::Copying(&public[..]))
                    .map_err(|_| consensus::Error::InvalidConfig("validator public key"))?;
            Ok(consensus::Peer {
                public_key,
                address: *address,
            })
        })
        .collect::<Result<Vec<_>, consensus::Error>>()?;
    let mut config = ValidatorConfig::new(signer, peers, listen, consensus_dir(data_dir));
    config.local_network = local_network;
    Ok(config)
}

/// The ed25519 public key of a 32-byte validator secret.
pub fn validator_public_key(secret: &[u8; 32]) -> [u8; 32] {
    phalanx_primitives::Keypair::from_secret(*secret)
        .account()
        .0
}

/// Runs a full node (not a validator) that follows `source` (a node's RPC URL), verifying every
/// block's certificate and re-executing it, and serves RPC on `rpc`, until `shutdown` completes.
pub fn run_follower(
    data_dir: PathBuf,
    genesis: GenesisConfig,
    rpc: SocketAddr,
    source: &str,
    on_ready: impl FnOnce(&Chain, SocketAddr) + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let source =
        phalanx_client::Client::new(source).map_err(|e| ServiceError::Follow(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServiceError::Rpc { addr: rpc, source })?;
    let dir = data_dir.clone();
    runtime
        .block_on(async move {
            let chain = Chain::open(
                ChainConfig {
                    data_dir: chain_dir(&data_dir),
                    genesis,
                },
                system_clock(),
            )?;
            let (bound, server) = crate::rpc::serve(chain.clone(), rpc)
                .await
                .map_err(|source| ServiceError::Rpc { addr: rpc, source })?;
            on_ready(&chain, bound);
            let outcome = tokio::select! {
                result = crate::follower::follow(chain.clone(), source, shutdown) => {
                    result.map_err(|e| ServiceError::Follow(e.to_string()))
                }
                reason = halted_on_full_disk(&chain) => Err(ServiceError::DiskFull {
                    path: data_dir.clone(),
                    detail: reason,
                }),
            };
            if let Err(e) = chain.checkpoint() {
                tracing::warn!(error = %e, "could not write the shutdown snapshot");
            }
            let _ = server.stop();
            outcome
        })
        .map_err(|e| e.or_disk_full(&dir))
}

/// Runs the node until `shutdown` completes (e.g. Ctrl-C or SIGTERM), the disk fills up, or a
/// fatal error. `on_ready` is called once the chain is open and RPC is listening, with the
/// chain handle and the bound RPC address (the real port when `setup.rpc` asks for port 0).
/// Every way out writes the chain's shutdown snapshot (when the disk lets it).
pub fn run(
    setup: NodeSetup,
    on_ready: impl FnOnce(&Chain, SocketAddr) + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let runner = consensus::runner(&setup.validator);
    let data_dir = setup.data_dir.clone();
    runner.start(|context| async move {
        let chain = Chain::open(
            ChainConfig { data_dir: chain_dir(&setup.data_dir), genesis: setup.genesis.clone() },
            system_clock(),
        )?;
        // Evidence this validator sees is reported from its own account (the fee comes back
        // when the evidence is new; the account must hold at least one fee).
        {
            use commonware_codec::Encode as _;
            let secret = setup.validator.signer.encode();
            if let Ok(secret) = <[u8; 32]>::try_from(secret.as_ref()) {
                chain.set_reporter(phalanx_primitives::Keypair::from_secret(secret));
            }
        }
        // commonware's own metrics (consensus, p2p, storage) go out with every scrape.
        {
            use commonware_runtime::{Metrics as _, Supervisor as _};
            // A child context encodes the whole runtime's registry.
            let runtime = context.child("metrics");
            chain.metrics().set_runtime(move || runtime.encode());
        }
        let chain_for_announce = chain.clone();
        if let Some(address) = setup.validator.public_address {
            context
                .child("announce")
                .spawn(move |context| publish_address(context, chain_for_announce, address));
        }
        let (bound, rpc) = crate::rpc::serve(chain.clone(), setup.rpc)
            .await
            .map_err(|source| ServiceError::Rpc { addr: setup.rpc, source })?;
        on_ready(&chain, bound);
        let outcome = tokio::select! {
            result = consensus::run_validator(context, setup.validator.clone(), chain.clone()) => result.map_err(ServiceError::from),
            reason = halted_on_full_disk(&chain) => {
                tracing::error!(%reason, "the disk is full; stopping");
                Err(ServiceError::DiskFull { path: setup.data_dir.clone(), detail: reason })
            }
            _ = shutdown => {
                tracing::info!("stopping");
                Ok(())
            }
        };
        if let Err(e) = chain.checkpoint() {
            tracing::warn!(error = %e, "could not write the shutdown snapshot; the next start replays the block log");
        }
        let _ = rpc.stop();
        outcome
    })
    .map_err(|e| e.or_disk_full(&data_dir))
}

/// A node running on its own thread (benchmarks, tests, embedding): started with
/// [`Background::spawn`], stopped cleanly by [`Background::stop`] or on drop.
#[derive(Debug)]
pub struct Background {
    /// The RPC address it bound.
    pub rpc: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServiceError>>>,
}

impl Background {
    /// Starts `setup` on a new thread and waits (at most `timeout`) until RPC is listening.
    pub fn spawn(setup: NodeSetup, timeout: Duration) -> Result<Background, ServiceError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            run(
                setup,
                move |_, bound| {
                    let _ = ready_tx.send(bound);
                },
                async move {
                    let _ = stopped.await;
                },
            )
        });
        match ready_rx.recv_timeout(timeout) {
            Ok(rpc) => Ok(Background {
                rpc,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(_) => {
                let _ = stop.send(());
                Err(match thread.join() {
                    Ok(Err(e)) => e,
                    _ => ServiceError::Thread(format!("the node did not start within {timeout:?}")),
                })
            }
        }
    }

    /// The node's RPC URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.rpc)
    }

    /// Stops the node and returns how it ended.
    pub fn stop(mut self) -> Result<(), ServiceError> {
        self.halt()
    }

    fn halt(&mut self) -> Result<(), ServiceError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServiceError::Thread("it panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// How often a validator checks that the chain has its current p2p address.
const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(20);

/// Keeps this validator's p2p address published on chain (`Peers(SetAddress)`, signed by its
/// consensus key), so validators that governance adds later, or that join after it, can reach
/// it without any config naming it. Re-sends only when the finalized address differs and no
/// earlier announcement is still pooled. Why it cannot send (an unfunded key can't pay the fee)
/// is reported each time the reason changes; a genesis validator is in everyone's config, so it
/// only matters for one added later. An announcement the chain included but refused stops it.
async fn publish_address<E>(context: E, chain: Chain, address: SocketAddr)
where
    E: commonware_runtime::Clock,
{
    let mut pending: Option<phalanx_primitives::Hash> = None;
    let mut reported: Option<String> = None;
    loop {
        // Only once caught up: a node still syncing would sign with a stale nonce and expiry.
        let head_age_ms = (system_clock())().saturating_sub(chain.head_header().timestamp_ms);
        if head_age_ms > 30_000 {
            context.sleep(ANNOUNCE_INTERVAL / 4).await;
            continue;
        }
        if let Some(me) = chain.reporter() {
            let published = phalanx_runtime::peers::address(&chain.head_state(), &me)
                .ok()
                .flatten();
            let waiting = pending.is_some_and(|hash| chain.is_pending(&hash));
            // Included but failed: the chain refuses this address, and sending it again would
            // only pay the fee again.
            if let Some(hash) = pending.filter(|_| !waiting) {
                if let Ok(Some(found)) = chain.transaction(&hash) {
                    if let Some(error) = &found.receipt.error {
                        tracing::error!(%address, %hash, ?error, "the chain refused this validator's p2p address; not publishing it again until restart");
                        return;
                    }
                }
            }
            if published != Some(address) && !waiting {
                let call = phalanx_primitives::call::Call::Peers(
                    phalanx_primitives::call::PeersCall::SetAddress {
                        address: address.to_string(),
                    },
                );
                match chain.submit_as_reporter(call) {
                    Ok(hash) => {
                        tracing::info!(%address, %hash, "publishing this validator's p2p address on chain");
                        pending = Some(hash);
                    }
                    Err(reason) if reported.as_ref() != Some(&reason) => {
                        reported = Some(reason.clone());
                        let genesis = chain
                            .genesis_config()
                            .validator_keys()
                            .is_ok_and(|keys| keys.contains(&me.0));
                        if genesis {
                            tracing::info!(%reason, account = %me, "p2p address not published on chain (other genesis validators have it in their configs)");
                        } else {
                            tracing::warn!(%reason, account = %me, "cannot publish this validator's p2p address on chain; fund its account so the others can reach it once governance adds it");
                        }
                    }
                    Err(_) => {}
                }
            }
        }
        context.sleep(ANNOUNCE_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disk_errors_are_recognised_by_kind_and_by_text() {
        let full = std::io::Error::from_raw_os_error(28);
        assert!(caused_by_full_disk(&full));
        assert!(mentions_full_disk(&full.to_string()), "{full}");
        assert!(mentions_full_disk(&format!("{full:?}")), "{full:?}");
        let store = crate::store::StoreError::Io {
            path: "blocks.log".into(),
            source: std::io::Error::from_raw_os_error(28),
        };
        let chain = ServiceError::Chain(ChainError::from(store));
        assert!(caused_by_full_disk(&chain) || mentions_full_disk(&chain.to_string()));
        let classified = chain.or_disk_full(Path::new("/data"));
        assert!(classified.is_disk_full());
        assert!(
            classified
                .to_string()
                .starts_with("disk full at /data: free space and restart"),
            "{classified}"
        );
        let other = ServiceError::Follow("connection refused".into());
        assert!(!other.or_disk_full(Path::new("/data")).is_disk_full());
        assert!(!caused_by_full_disk(&std::io::Error::from_raw_os_error(13)));
        assert!(!mentions_full_disk("permission denied (os error 13)"));
    }
}
