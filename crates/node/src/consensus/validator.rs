//! Running a validator on the production runtime.
//!
//! Validators know each other up front (the genesis validator list carries each key and
//! address), so they talk over [`commonware_p2p::authenticated::lookup`]: every connection is
//! authenticated with the peers' ed25519 identity keys (the same keys that sign votes) and
//! encrypted; connections from keys outside the set are refused.
//!
//! ```no_run
//! # use phalanx_node::consensus::{runner, run_validator, Application, ValidatorConfig};
//! # fn start<A: Application>(config: ValidatorConfig, app: A) {
//! use commonware_runtime::Runner as _;
//! runner(&config).start(|context| async move {
//!     if let Err(err) = run_validator(context, config, app).await {
//!         tracing::error!(%err, "validator stopped");
//!     }
//! });
//! # }
//! ```

use super::{
    engine::{self, channel_quota, Channels, EngineConfig, Timeouts},
    Application, Error, PrivateKey, PublicKey, Result, NAMESPACE,
};
use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_p2p::{
    authenticated::lookup::{self, Network},
    Address, AddressableManager as _,
};
use commonware_runtime::{tokio as cw_tokio, Supervisor as _};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{ordered::Map, NZUsize, NZU64};
use std::{net::SocketAddr, num::NonZeroUsize, path::PathBuf, time::Duration};
use tracing::info;

/// Suffix of the p2p handshake namespace (kept apart from the vote namespace).
const P2P_SUFFIX: &[u8] = b"_P2P";

/// A validator as listed in the genesis config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Identity and vote-signing key.
    pub public_key: PublicKey,
    /// Where it accepts p2p connections.
    pub address: SocketAddr,
}

/// How to run one validator.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    /// This validator's ed25519 key (identity and votes).
    pub signer: PrivateKey,
    /// Every validator, this one included.
    pub validators: Vec<Peer>,
    /// Address to listen on for p2p connections.
    pub listen: SocketAddr,
    /// Directory for consensus storage (journals, finalized blocks and certificates).
    pub storage_dir: PathBuf,
    /// Consensus timing.
    pub timeouts: Timeouts,
    /// Largest accepted encoded block.
    pub max_block_bytes: usize,
    /// Accept peers on private/loopback addresses and use fast local dial settings (dev and
    /// single-machine networks). Disable on public networks.
    pub local_network: bool,
    /// Base of the signature namespace; [`NAMESPACE`] on the Phalanx network. Votes are signed
    /// under the base followed by the genesis hash
    /// ([`phalanx_light_client::network_namespace`]).
    pub namespace: Vec<u8>,
}

impl ValidatorConfig {
    /// A config with Phalanx defaults.
    pub fn new(
        signer: PrivateKey,
        validators: Vec<Peer>,
        listen: SocketAddr,
        storage_dir: PathBuf,
    ) -> Self {
        Self {
            signer,
            validators,
            listen,
            storage_dir,
            timeouts: Timeouts::default(),
            max_block_bytes: super::block::DEFAULT_MAX_BLOCK_BYTES,
            local_network: true,
            namespace: NAMESPACE.to_vec(),
        }
    }

    /// A single-validator network (the `phalanx dev` setup).
    pub fn single(signer: PrivateKey, listen: SocketAddr, storage_dir: PathBuf) -> Self {
        let me = Peer {
            public_key: signer.public_key(),
            address: listen,
        };
        Self::new(signer, vec![me], listen, storage_dir)
    }
}

/// The production runtime for a validator, storing under `config.storage_dir`.
pub fn runner(config: &ValidatorConfig) -> cw_tokio::Runner {
    cw_tokio::Runner::new(
        cw_tokio::Config::new()
            .with_storage_directory(config.storage_dir.clone())
            .with_catch_panics(false),
    )
}

/// Starts p2p and consensus and runs until the runtime stops or consensus fails.
pub async fn run_validator<A: Application>(
    context: cw_tokio::Context,
    config: ValidatorConfig,
    application: A,
) -> Result<()> {
    let me = config.signer.public_key();
    if !config.validators.iter().any(|peer| peer.public_key == me) {
        return Err(Error::NotAValidator);
    }
    let keys: Vec<PublicKey> = config
        .validators
        .iter()
        .map(|peer| peer.public_key.clone())
        .collect();
    // Votes are signed for this network only: the base namespace plus the genesis hash.
    let genesis = super::ChainBlock::block_hash(&application.genesis());
    let namespace = phalanx_light_client::namespace_for(&config.namespace, &genesis);
    let engine_config = EngineConfig {
        signer: config.signer.clone(),
        validators: keys,
        namespace,
        partition_prefix: "phalanx".into(),
        timeouts: config.timeouts,
        max_block_bytes: config.max_block_bytes,
        mailbox_size: NZUsize!(1_024),
        epoch_length: NZU64!(phalanx_runtime::system::EPOCH_LENGTH),
    };

    // Authenticated, encrypted transport keyed by validator identities.
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: config.signer.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let p2p_namespace = [engine_config.namespace.as_slice(), P2P_SUFFIX].concat();
    let max_peers = NonZeroUsize::new(config.validators.len()).ok_or(Error::InvalidValidatorSet)?;
    let max_message_size = engine_config.max_message_size();
    let p2p_config = if config.local_network {
        lookup::Config::local(
            handshake,
            &p2p_namespace,
            config.listen,
            max_peers,
            max_message_size,
            NZUsize!(1_024),
        )
    } else {
        lookup::Config::recommended(
            handshake,
            &p2p_namespace,
            config.listen,
            max_peers,
            max_message_size,
            NZUsize!(1_024),
        )
    };
    let (mut network, mut oracle) = Network::new(context.child("p2p"), p2p_config);
    let peers: Map<PublicKey, Address> = config
        .validators
        .iter()
        .map(|peer| (peer.public_key.clone(), Address::from(peer.address)))
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| Error::InvalidValidatorSet)?;
    oracle.track(0, peers.clone());

    let channels = Channels {
        votes: network.register(engine::VOTES, channel_quota()),
        certificates: network.register(engine::CERTIFICATES, channel_quota()),
        certificate_resolver: network.register(engine::CERTIFICATE_RESOLVER, channel_quota()),
        blocks: network.register(engine::BLOCKS, channel_quota()),
        backfill: network.register(engine::BACKFILL, channel_quota()),
        transactions: network.register(engine::TRANSACTIONS, engine::gossip_quota()),
    };
    let _network = network.start();
    info!(validator = %me, listen = %config.listen, validators = config.validators.len(), "p2p started");

    // Each epoch's validators become the tracked peer set (those with a configured address; a
    // validator added by governance needs its address in this node's config to be reachable).
    let mut tracker = oracle.clone();
    let peer_sets = move |epoch: u64, keys: &[PublicKey]| {
        if epoch == 0 {
            return;
        }
        let known: Vec<(PublicKey, Address)> = keys
            .iter()
            .filter_map(|key| {
                peers
                    .get_value(key)
                    .map(|address| (key.clone(), address.clone()))
            })
            .collect();
        if known.len() < keys.len() {
            tracing::warn!(
                epoch,
                missing = keys.len() - known.len(),
                "validators without a known address"
            );
        }
        if let Ok(map) = Map::try_from(known) {
            tracker.track(epoch, map);
        }
    };
    engine::run(
        context.child("consensus"),
        engine_config,
        application,
        channels,
        oracle.clone(),
        oracle,
        peer_sets,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::{ChainBlock, Verdict};
    use commonware_runtime::{Clock as _, Runner as _, Spawner as _};
    use phalanx_primitives::Hash;
    use std::sync::{Arc, Mutex};

    /// A block that is just a height and a parent link.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Tick {
        height: u64,
        parent: Hash,
        timestamp_ms: u64,
    }

    impl ChainBlock for Tick {
        fn block_hash(&self) -> Hash {
            Hash::of(&self.to_bytes())
        }
        fn block_height(&self) -> u64 {
            self.height
        }
        fn parent_hash(&self) -> Hash {
            self.parent
        }
        fn timestamp_ms(&self) -> u64 {
            self.timestamp_ms
        }
        fn to_bytes(&self) -> Vec<u8> {
            [
                &self.height.to_le_bytes()[..],
                &self.parent.0,
                &self.timestamp_ms.to_le_bytes(),
            ]
            .concat()
        }
        fn from_bytes(bytes: &[u8]) -> Option<Self> {
            if bytes.len() != 48 {
                return None;
            }
            Some(Tick {
                height: u64::from_le_bytes(bytes[..8].try_into().ok()?),
                parent: Hash(bytes[8..40].try_into().ok()?),
                timestamp_ms: u64::from_le_bytes(bytes[40..].try_into().ok()?),
            })
        }
    }

    /// Accepts every well-linked block and records finalized heights.
    #[derive(Clone, Default)]
    struct Ticks {
        finalized: Arc<Mutex<Vec<(u64, bool)>>>,
    }

    impl Application for Ticks {
        type Block = Tick;
        fn genesis(&self) -> Tick {
            Tick {
                height: 0,
                parent: Hash([0; 32]),
                timestamp_ms: 0,
            }
        }
        fn propose(&self, parent: &Tick, timestamp_ms: u64) -> Option<Tick> {
            Some(Tick {
                height: parent.height + 1,
                parent: parent.block_hash(),
                timestamp_ms: timestamp_ms.max(parent.timestamp_ms + 1),
            })
        }
        fn verify(&self, parent: &Tick, block: &Tick, _now_ms: u64) -> Verdict {
            if block.height == parent.height + 1 && block.parent == parent.block_hash() {
                Verdict::Valid
            } else {
                Verdict::Invalid
            }
        }
        fn finalized(&self, block: Tick, certificate: Option<Vec<u8>>) {
            let mut finalized = self.finalized.lock().expect("lock");
            if block.height > finalized.last().map_or(0, |(height, _)| *height) {
                finalized.push((block.height, certificate.is_some()));
            }
        }
        fn finalized_height(&self) -> u64 {
            self.finalized
                .lock()
                .expect("lock")
                .last()
                .map_or(0, |(height, _)| *height)
        }
    }

    /// One validator on the production runtime and p2p stack finalizes blocks by itself.
    #[test]
    fn single_validator_runs_on_tokio() {
        let storage = tempfile::tempdir().expect("temp dir");
        let signer = PrivateKey::from_seed(42);
        let listen: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let mut config = ValidatorConfig::single(signer, listen, storage.path().to_path_buf());
        config.timeouts.block_interval = Duration::from_millis(50);
        let app = Ticks::default();
        let finalized = app.finalized.clone();
        let watched = finalized.clone();
        runner(&config).start(|context| async move {
            let _validator = context
                .child("validator")
                .spawn(move |context| run_validator(context, config, app));
            for _ in 0..200 {
                if watched.lock().expect("lock").len() >= 5 {
                    break;
                }
                context.sleep(Duration::from_millis(50)).await;
            }
        });
        let finalized = finalized.lock().expect("lock");
        assert!(finalized.len() >= 5, "finalized only {:?}", *finalized);
        let heights: Vec<u64> = finalized.iter().map(|(height, _)| *height).collect();
        assert_eq!(heights, (1..=heights.len() as u64).collect::<Vec<_>>());
        assert!(finalized.iter().all(|(_, certified)| *certified));
    }

    /// Four validators on loopback (one runtime and storage directory each, as four processes
    /// would run) connect over authenticated p2p and finalize the same blocks.
    #[test]
    fn four_validators_on_loopback() {
        let keys: Vec<PrivateKey> = (0..4)
            .map(|seed| PrivateKey::from_seed(100 + seed))
            .collect();
        let peers: Vec<Peer> = keys
            .iter()
            .map(|key| {
                // Reserve a free port.
                let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                Peer {
                    public_key: key.public_key(),
                    address: socket.local_addr().expect("address"),
                }
            })
            .collect();
        let storage = tempfile::tempdir().expect("temp dir");
        let threads: Vec<_> = keys
            .into_iter()
            .zip(peers.clone())
            .enumerate()
            .map(|(index, (key, me))| {
                let mut config = ValidatorConfig::new(
                    key,
                    peers.clone(),
                    me.address,
                    storage.path().join(format!("v{index}")),
                );
                config.timeouts.block_interval = Duration::from_millis(50);
                std::thread::spawn(move || {
                    let app = Ticks::default();
                    let finalized = app.finalized.clone();
                    runner(&config).start(|context| async move {
                        let _validator = context
                            .child("validator")
                            .spawn(move |context| run_validator(context, config, app));
                        for _ in 0..600 {
                            if finalized.lock().expect("lock").len() >= 5 {
                                break;
                            }
                            context.sleep(Duration::from_millis(50)).await;
                        }
                        // Keep serving peers a little longer so they finish too.
                        context.sleep(Duration::from_secs(2)).await;
                        let finalized = finalized.lock().expect("lock").clone();
                        finalized
                    })
                })
            })
            .collect();
        let results: Vec<Vec<(u64, bool)>> = threads
            .into_iter()
            .map(|thread| thread.join().expect("validator thread"))
            .collect();
        for finalized in &results {
            assert!(finalized.len() >= 5, "finalized only {finalized:?}");
        }
    }
}
