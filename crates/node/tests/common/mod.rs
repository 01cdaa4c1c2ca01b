//! Harness shared by the deterministic simulations: validator keys, the simulated network, and
//! starting honest validators (the real consensus stack over any [`Application`]) and the
//! byzantine one.

/// Real-chain setup; the toy-chain simulation does not use it.
#[allow(dead_code)]
pub mod real_chain;

use commonware_consensus::simplex::mocks::conflicter::{self, Conflicter};
use commonware_cryptography::{ed25519, Sha256, Signer as _};
use commonware_p2p::{
    simulated::{self, Link, Network, Oracle},
    utils::mux::Muxer,
    Message, Receiver,
};
use commonware_runtime::{deterministic, Handle, IoBuf, Spawner as _, Supervisor as _};
use commonware_utils::{ordered::Set, probability, NZUsize};
use phalanx_node::consensus::{
    engine::{self, channel_quota, Channels, EngineConfig},
    Application, PublicKey, Scheme, NAMESPACE,
};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The validators' signing keys, in key-seed order (fixed, so every run has the same set).
pub fn keys(count: u64) -> Vec<ed25519::PrivateKey> {
    (0..count)
        .map(|seed| ed25519::PrivateKey::from_seed(seed + 1000))
        .collect()
}

/// A simulated network linking every validator to every other.
#[derive(Clone)]
pub struct Harness {
    /// Controls the simulated network.
    pub oracle: Oracle<PublicKey, deterministic::Context>,
    /// The validator set.
    pub validators: Vec<PublicKey>,
    /// Largest block consensus carries.
    pub max_block_bytes: usize,
    /// The namespace votes are signed under ([`NAMESPACE`] unless set with
    /// [`Harness::with_namespace`]).
    pub namespace: Vec<u8>,
}

impl Harness {
    /// Starts the simulated network for `validators`, 40 ± 10 ms between any two of them.
    pub async fn start(
        context: &deterministic::Context,
        validators: &[PublicKey],
        max_block_bytes: usize,
    ) -> Harness {
        let (network, oracle) = Network::new_with_peers(
            context.child("network"),
            simulated::Config {
                max_size: engine::max_message_size(validators.len(), max_block_bytes),
                max_peers_per_set: NZUsize!(validators.len()),
                disconnect_on_block: true,
                tracked_peer_sets: NZUsize!(1),
            },
            validators.to_vec(),
        )
        .await;
        network.start();
        let link = Link {
            latency: Duration::from_millis(40),
            jitter: Duration::from_millis(10),
            success_rate: probability!(1.0),
        };
        for from in validators {
            for to in validators {
                if from != to {
                    oracle
                        .add_link(from.clone(), to.clone(), link.clone())
                        .await
                        .expect("link peers");
                }
            }
        }
        Harness {
            oracle,
            validators: validators.to_vec(),
            max_block_bytes,
            namespace: NAMESPACE.to_vec(),
        }
    }

    /// Signs votes under `namespace` (a real network's is `network_namespace(genesis hash)`).
    // Not every simulation needs the real network's namespace.
    #[allow(dead_code)]
    pub fn with_namespace(mut self, namespace: Vec<u8>) -> Self {
        self.namespace = namespace;
        self
    }

    /// Starts an honest validator running `application`; aborting the returned handle crashes
    /// it. Its consensus storage is named after `index`, so a restart with the same index
    /// resumes from it (`label` must then differ, metric names are unique).
    // Not every simulation starts validators without tampering.
    #[allow(dead_code)]
    pub fn start_honest<A: Application>(
        &self,
        context: &deterministic::Context,
        label: &'static str,
        index: usize,
        key: ed25519::PrivateKey,
        application: A,
    ) -> Handle<()> {
        self.start_honest_with(context, label, index, key, application, None)
    }

    /// Like [`Self::start_honest`], but every block this validator receives from
    /// `tamper.from` (broadcast or backfill) first goes through `tamper`, as if that peer served
    /// altered bytes.
    pub fn start_honest_with<A: Application>(
        &self,
        context: &deterministic::Context,
        label: &'static str,
        index: usize,
        key: ed25519::PrivateKey,
        application: A,
        tamper: Option<Tamper>,
    ) -> Handle<()> {
        let oracle = self.oracle.clone();
        let validators = self.validators.clone();
        let max_block_bytes = self.max_block_bytes;
        let namespace = self.namespace.clone();
        context
            .child(label)
            .with_attribute("index", index)
            .spawn(move |context| async move {
                let me = key.public_key();
                let control = oracle.control(me.clone());
                let register = |channel| {
                    let control = control.clone();
                    let tamper = tamper
                        .clone()
                        .filter(|_| channel == engine::BLOCKS || channel == engine::BACKFILL);
                    async move {
                        let (sender, receiver) = control
                            .register(channel, channel_quota())
                            .await
                            .expect("register channel");
                        (
                            sender,
                            Tampering {
                                inner: receiver,
                                tamper,
                            },
                        )
                    }
                };
                let channels = Channels {
                    votes: register(engine::VOTES).await,
                    certificates: register(engine::CERTIFICATES).await,
                    certificate_resolver: register(engine::CERTIFICATE_RESOLVER).await,
                    blocks: register(engine::BLOCKS).await,
                    backfill: register(engine::BACKFILL).await,
                    transactions: register(engine::TRANSACTIONS).await,
                };
                let mut config = EngineConfig::new(key, validators, format!("validator{index}"));
                config.max_block_bytes = max_block_bytes;
                config.namespace = namespace;
                engine::run(
                    context,
                    config,
                    application,
                    channels,
                    control,
                    oracle.manager(),
                    |_, _: &[PublicKey]| {},
                )
                .await
                .expect("consensus runs");
            })
    }

    /// Starts the byzantine validator: commonware's `Conflicter`, which votes for everything it
    /// sees twice, with conflicting payloads (it never proposes). It votes in epoch 0, on the
    /// epoch-0 subchannel of the vote channel (the engine multiplexes simplex channels by epoch).
    // Not every simulation has a byzantine validator.
    #[allow(dead_code)]
    pub async fn start_byzantine(
        &self,
        context: &deterministic::Context,
        key: ed25519::PrivateKey,
    ) -> Handle<()> {
        let control = self.oracle.control(key.public_key());
        let (sender, receiver) = control
            .register(engine::VOTES, channel_quota())
            .await
            .expect("register votes");
        let participants = Set::try_from(self.validators.clone()).expect("distinct validators");
        let scheme =
            Scheme::signer(&self.namespace, participants, key).expect("byzantine is a validator");
        context.child("byzantine").spawn(move |context| async move {
            let (muxer, mut mux) = Muxer::new(context.child("mux"), sender, receiver);
            let _muxer = muxer.start();
            let votes = mux.register(0).await.expect("epoch 0 subchannel");
            let _ = Conflicter::<_, _, Sha256>::new(
                context.child("conflicter"),
                conflicter::Config { scheme },
            )
            .start(votes)
            .await;
        })
    }
}

/// Alters what one peer sends: each listed 64-byte pattern (a transaction signature) found in a
/// message from `from` gets one bit flipped. The block keeps its header and length, but its
/// transactions no longer match the header's transaction root: a peer serving the real header
/// with another body.
#[derive(Clone, Debug)]
pub struct Tamper {
    /// The peer whose messages are altered.
    pub from: PublicKey,
    /// Byte patterns to alter.
    pub patterns: Arc<Mutex<Vec<[u8; 64]>>>,
    /// How many messages were altered.
    pub altered: Arc<AtomicU64>,
}

impl Tamper {
    /// Alters `from`'s messages containing any of `patterns` (more can be added later).
    // Not every simulation tampers.
    #[allow(dead_code)]
    pub fn new(from: PublicKey) -> Self {
        Self {
            from,
            patterns: Arc::default(),
            altered: Arc::default(),
        }
    }

    fn apply(&self, bytes: &mut [u8]) -> bool {
        let patterns = self.patterns.lock().expect("patterns");
        let mut changed = false;
        for pattern in patterns.iter() {
            if let Some(at) = bytes.windows(64).position(|window| window == pattern) {
                bytes[at] ^= 1;
                changed = true;
            }
        }
        changed
    }
}

/// A receiver that passes messages through [`Tamper`] when one is set.
#[derive(Debug)]
pub struct Tampering<R> {
    inner: R,
    tamper: Option<Tamper>,
}

impl<R: Receiver<PublicKey = PublicKey>> Receiver for Tampering<R> {
    type Error = R::Error;
    type PublicKey = PublicKey;

    async fn recv(&mut self) -> Result<Message<PublicKey>, Self::Error> {
        let (peer, message) = self.inner.recv().await?;
        let Some(tamper) = self.tamper.as_ref().filter(|tamper| tamper.from == peer) else {
            return Ok((peer, message));
        };
        let mut bytes: Vec<u8> = message.into();
        if tamper.apply(&mut bytes) {
            tamper.altered.fetch_add(1, Ordering::SeqCst);
        }
        Ok((peer, IoBuf::from(bytes)))
    }

    fn capacity(&self) -> NonZeroUsize {
        self.inner.capacity()
    }
}
