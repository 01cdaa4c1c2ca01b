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
use commonware_runtime::{tokio as cw_tokio, Clock as _, Spawner as _, Supervisor as _};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{ordered::Map, NZUsize, NZU64};
use std::{
    net::SocketAddr,
    num::NonZeroUsize,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tracing::info;

/// How often a validator re-reads the on-chain addresses of its epoch's set.
const ADDRESS_REFRESH: Duration = Duration::from_secs(5);

/// Placeholder for a validator with no known address: tracked, so it is a member of the set and
/// its inbound connections are accepted (peers are admitted by key), until its real address is
/// known. Dialing it fails at once (on a local network, where private addresses are allowed, it
/// is tried; elsewhere it is not dialable at all).
const UNKNOWN_ADDRESS: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

/// Where validators listen: the address a validator published on chain (signed by its key, so
/// it can move) first, then this node's config.
#[derive(Clone)]
struct PeerBook<A> {
    configured: Arc<Vec<(PublicKey, SocketAddr)>>,
    application: A,
}

impl<A: Application> PeerBook<A> {
    fn new(configured: Vec<(PublicKey, SocketAddr)>, application: A) -> Self {
        Self {
            configured: Arc::new(configured),
            application,
        }
    }

    fn address(&self, key: &PublicKey) -> Option<SocketAddr> {
        self.application.peer_address(key).or_else(|| {
            self.configured
                .iter()
                .find(|(known, _)| known == key)
                .map(|(_, address)| *address)
        })
    }

    /// `keys` with their addresses (unknown ones get [`UNKNOWN_ADDRESS`]), and how many are
    /// unknown.
    fn resolve(&self, keys: &[PublicKey]) -> (Map<PublicKey, Address>, usize) {
        let mut missing = 0usize;
        let entries: Vec<(PublicKey, Address)> = keys
            .iter()
            .map(|key| {
                let address = self.address(key).unwrap_or_else(|| {
                    missing += 1;
                    UNKNOWN_ADDRESS
                });
                (key.clone(), Address::from(address))
            })
            .collect();
        (Map::from_iter_dedup(entries), missing)
    }
}

fn warn_missing(epoch: Option<u64>, missing: usize) {
    if missing > 0 {
        tracing::warn!(
            ?epoch,
            missing,
            "validators with no address in the config or on chain: they are reachable only when they connect in (a validator publishes its address with `phalanx peers set-address` or by itself once running)"
        );
    }
}

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
    /// The address other validators should dial, published on chain from this validator's key
    /// (`Peers(SetAddress)`) so it is reachable once governance adds it. `None` publishes
    /// nothing (single-validator and test networks).
    pub public_address: Option<SocketAddr>,
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
            public_address: None,
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
    // Epoch 0 runs the genesis set; the config's list is an address book that must cover it.
    let keys: Vec<PublicKey> = application.genesis_validators().unwrap_or_else(|| {
        config
            .validators
            .iter()
            .map(|peer| peer.public_key.clone())
            .collect()
    });
    // Votes are signed for this network only: the base namespace plus the genesis hash.
    let genesis = super::ChainBlock::block_hash(&application.genesis());
    let namespace = phalanx_light_client::namespace_for(&config.namespace, &genesis);
    let engine_config = EngineConfig {
        signer: config.signer.clone(),
        validators: keys.clone(),
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
    // Sized for the largest set governance may name, not today's: tracking a larger set than
    // the network was configured for would panic inside p2p. The local identity counts too
    // when it is outside the set (a validator waiting to be added, or one removed).
    let largest_set = config
        .validators
        .len()
        .max(phalanx_runtime::params::MAX_VALIDATORS);
    let max_peers =
        NonZeroUsize::new(largest_set.saturating_add(1)).ok_or(Error::InvalidValidatorSet)?;
    let max_message_size = super::engine::max_message_size(largest_set, config.max_block_bytes);
    let mut p2p_config = if config.local_network {
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
    // A peer is admitted by the key it proves in the handshake, from whatever IP: a validator
    // governance just added must be able to connect in before its published address is known
    // (and validators behind NAT dial out from another IP than the one they listen on). The
    // handshake's per-IP and per-subnet rate limits still bound what strangers can cost.
    p2p_config.bypass_ip_check = true;
    let (mut network, mut oracle) = Network::new(context.child("p2p"), p2p_config);
    // The configured addresses are the address book; epoch 0 dials the genesis set from it.
    let book: Vec<(PublicKey, SocketAddr)> = config
        .validators
        .iter()
        .map(|peer| (peer.public_key.clone(), peer.address))
        .collect();
    let peers = PeerBook::new(book, application.clone());
    let (genesis_peers, missing) = peers.resolve(&keys);
    warn_missing(Some(0), missing);
    oracle.track(0, genesis_peers);

    let channels = Channels {
        votes: network.register(engine::VOTES, channel_quota()),
        certificates: network.register(engine::CERTIFICATES, channel_quota()),
        certificate_resolver: network.register(engine::CERTIFICATE_RESOLVER, channel_quota()),
        blocks: network.register(engine::BLOCKS, channel_quota()),
        backfill: network.register(engine::BACKFILL, channel_quota()),
        transactions: network.register(engine::TRANSACTIONS, engine::gossip_quota()),
    };
    let _network = network.start();
    info!(validator = %me, listen = %config.listen, known = config.validators.len(), "p2p started");

    // Each epoch's validators become the tracked peer set, at the address the config gives or,
    // for a validator governance added, the one it published on chain. An address published
    // after its epoch started is picked up by the refresher below.
    let current = Arc::new(Mutex::new(Vec::<PublicKey>::new()));
    let mut tracker = oracle.clone();
    let peer_sets = {
        let peers = peers.clone();
        let current = current.clone();
        move |epoch: u64, keys: &[PublicKey]| {
            *current.lock().unwrap_or_else(|p| p.into_inner()) = keys.to_vec();
            if epoch == 0 {
                return;
            }
            let (resolved, missing) = peers.resolve(keys);
            warn_missing(Some(epoch), missing);
            tracker.track(epoch, resolved);
        }
    };
    let mut overwriter = oracle.clone();
    context
        .child("peer_addresses")
        .spawn(move |context| async move {
            let mut known: Map<PublicKey, Address> = Map::default();
            loop {
                context.sleep(ADDRESS_REFRESH).await;
                let keys = current.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let (resolved, _) = peers.resolve(&keys);
                if resolved != known {
                    overwriter.overwrite(resolved.clone());
                    known = resolved;
                }
            }
        });
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
    use commonware_runtime::Runner as _;
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
            for _ in 0..600 {
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
