//! Running a whole node: the chain, its RPC server and the consensus validator, on
//! commonware's tokio runtime, until Ctrl-C.
//!
//! Data layout under the node's data directory: `chain/` (block log and state snapshots, see
//! [`crate::store`]) and `consensus/` (commonware's journals and marshal archives).

use crate::chain::{system_clock, Chain, ChainConfig, ChainError};
use crate::consensus::{self, PrivateKey, ValidatorConfig};
use commonware_runtime::Runner as _;
use phalanx_runtime::GenesisConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why a node stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The chain would not open.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The RPC port could not be bound.
    #[error("cannot serve RPC on {addr}: {source} (is another node running? pick another --rpc)")]
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
    runtime.block_on(async move {
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
        let outcome = crate::follower::follow(chain.clone(), source, shutdown)
            .await
            .map_err(|e| ServiceError::Follow(e.to_string()));
        if let Err(e) = chain.checkpoint() {
            tracing::warn!(error = %e, "could not write the shutdown snapshot");
        }
        let _ = server.stop();
        outcome
    })
}

/// Runs the node until `shutdown` completes (e.g. Ctrl-C) or a fatal error. `on_ready` is
/// called once the chain is open and RPC is listening, with the chain handle and the bound RPC
/// address.
pub fn run(
    setup: NodeSetup,
    on_ready: impl FnOnce(&Chain, SocketAddr) + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServiceError> {
    let runner = consensus::runner(&setup.validator);
    runner.start(|context| async move {
        let chain = Chain::open(
            ChainConfig { data_dir: chain_dir(&setup.data_dir), genesis: setup.genesis.clone() },
            system_clock(),
        )?;
        let (bound, rpc) = crate::rpc::serve(chain.clone(), setup.rpc)
            .await
            .map_err(|source| ServiceError::Rpc { addr: setup.rpc, source })?;
        on_ready(&chain, bound);
        let outcome = tokio::select! {
            result = consensus::run_validator(context, setup.validator.clone(), chain.clone()) => result.map_err(ServiceError::from),
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
}
