//! Assembles a validator's consensus stack on any p2p implementation.
//!
//! ```text
//!            votes / certificates / cert-resolver          blocks          backfill
//!   p2p ─────────────────────┬───────────────────────┬─────────────┬───────────────
//!                            │                       │             │
//!                     simplex engine ──activity──▶ marshal ◀─────── resolver
//!                       │     ▲                    │   ▲  ▲
//!      propose/verify   │     │ reporter           │   │  └── buffered broadcast (blocks)
//!                       ▼     │                    ▼   │
//!            Inline(Builder) ─┘              FinalizedReporter ──▶ deliver ──▶ Application
//!                                         EvidenceReporter ─────────────────▶ Application
//! ```
//!
//! Simplex orders block hashes; marshal's `Inline` wrapper turns its propose/verify requests into
//! calls on [`Builder`](super::adapter::Builder) and ships the full blocks; marshal persists
//! finalized blocks and certificates under `partition_prefix` and delivers them in order.
//!
//! The simplex part exists once per epoch (see [`run`]): the vote, certificate and
//! certificate-resolver channels are multiplexed by epoch number
//! (`commonware_p2p::utils::mux`, a varint epoch before each message), and an `Epochs` task
//! stops an epoch's engine and starts the next one's once the chain has applied the epoch's last
//! block. Marshal, broadcast, backfill and delivery span all epochs; marshal verifies each
//! certificate with [`EpochSchemes`], the validator set of the certificate's epoch.
//!
//! Everything runs under the given runtime context: aborting the task that awaits [`run`]
//! tears the whole stack down (a crash), and running it again on the same storage resumes.

use super::{
    adapter::{deliver, BlockOf, Builder, FinalizedReporter, MarshalOf, Transition},
    block::DEFAULT_MAX_BLOCK_BYTES,
    evidence::EvidenceReporter,
    Application, ConsensusBlock, Digest, Error, PrivateKey, PublicKey, Result, Scheme, NAMESPACE,
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::Actor as Marshal,
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
    },
    simplex::{
        self, elector::RoundRobin, scheme::reporter::AttributableReporter, ForwardPolicy,
        SkipBudget, SkipPolicy,
    },
    types::{Epoch, Epocher as _, FixedEpocher, Height, ViewDelta},
    Reporters,
};
use commonware_cryptography::{
    certificate::{Provider as CertificateProvider, Scoped, Verifier as _},
    Digested, Digestible as _, Sha256, Signer as _,
};
use commonware_p2p::{
    utils::mux::{Builder as _, MuxHandle, Muxer},
    Blocker, Provider, Receiver, Sender,
};
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::CacheRef, Clock, Handle, Metrics, Quota, Spawner, Storage,
};
use commonware_storage::archive::immutable;
use commonware_utils::{
    channel::mpsc, ordered::Set, vec::NonEmptyVec, NZUsize, NonZeroDuration, NZU16, NZU32, NZU64,
};
use futures::future::{select, select_all, Either};
use std::{
    collections::BTreeMap,
    num::{NonZeroU64, NonZeroUsize},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tracing::{info, warn};

/// p2p channel carrying individual votes.
pub const VOTES: u64 = 0;
/// p2p channel carrying notarization / nullification / finalization certificates.
pub const CERTIFICATES: u64 = 1;
/// p2p channel on which simplex fetches certificates it missed.
pub const CERTIFICATE_RESOLVER: u64 = 2;
/// p2p channel on which the leader's block is broadcast.
pub const BLOCKS: u64 = 3;
/// p2p channel on which marshal fetches missing blocks and finalizations.
pub const BACKFILL: u64 = 4;
/// p2p channel on which validators gossip the transactions their clients submitted.
pub const TRANSACTIONS: u64 = 5;

/// How often a validator sends the transactions it admitted since the last time.
const GOSSIP_INTERVAL: Duration = Duration::from_millis(50);
/// Largest batch of gossiped transactions in one message (room for the largest transaction a
/// governance vote can allow, 1 MiB).
pub const MAX_GOSSIP_BYTES: usize = 2 << 20;

/// Per-peer rate limit of every consensus channel.
pub fn channel_quota() -> Quota {
    Quota::per_second(NZU32!(1_024))
}

/// Per-peer rate limit of the transaction gossip channel: an honest validator sends one
/// message every 50 ms, so 40 a second leaves room and caps what a byzantine peer can make
/// this node decode.
pub fn gossip_quota() -> Quota {
    Quota::per_second(NZU32!(40))
}

/// Consensus timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long to wait for the leader's proposal before voting to skip the view.
    pub leader: Duration,
    /// How long to wait for a view to be notarized and certified before voting to skip it.
    /// Must exceed `leader`.
    pub notarization: Duration,
    /// How often to re-broadcast a skip vote while stuck in a view.
    pub nullify_retry: Duration,
    /// Minimum spacing of blocks: a leader proposes no earlier than this after its parent's
    /// timestamp. Keep well below `leader`, or leaders time out.
    pub block_interval: Duration,
    /// How long to wait for a peer to answer a fetch of missing certificates or blocks.
    pub fetch: Duration,
    /// Skip a leader that has been silent this long while a quorum is active (a crashed
    /// validator's views are then skipped at once). Must exceed `notarization` and
    /// `nullify_retry`.
    pub skip_silent_leader: Duration,
}

/// The default leader timeout, in milliseconds.
const LEADER_TIMEOUT_MS: u64 = 1_000;

// The chain's block interval parameter can never reach the leader timeout (every leader would be
// skipped for being late, forever).
const _: () = assert!(phalanx_runtime::params::MAX_BLOCK_INTERVAL_MS < LEADER_TIMEOUT_MS);

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_millis(LEADER_TIMEOUT_MS),
            notarization: Duration::from_secs(2),
            nullify_retry: Duration::from_secs(5),
            block_interval: Duration::from_millis(500),
            fetch: Duration::from_secs(1),
            skip_silent_leader: Duration::from_secs(10),
        }
    }
}

impl Timeouts {
    fn check(&self) -> Result<()> {
        if self.leader.is_zero() {
            return Err(Error::InvalidConfig("the leader timeout must be positive"));
        }
        if self.notarization <= self.leader {
            return Err(Error::InvalidConfig(
                "the notarization timeout must exceed the leader timeout",
            ));
        }
        if self.nullify_retry.is_zero() || self.fetch.is_zero() {
            return Err(Error::InvalidConfig(
                "the nullify retry and fetch timeouts must be positive",
            ));
        }
        if self.block_interval >= self.leader {
            return Err(Error::InvalidConfig(
                "the block interval must be shorter than the leader timeout",
            ));
        }
        if self.skip_silent_leader <= self.notarization
            || self.skip_silent_leader <= self.nullify_retry
        {
            return Err(Error::InvalidConfig(
                "the silent-leader skip timeout must exceed the notarization and retry timeouts",
            ));
        }
        Ok(())
    }
}

/// Everything the consensus stack needs besides the network and the chain.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// This validator's signing (and p2p identity) key.
    pub signer: PrivateKey,
    /// The validator set (any order; consensus sorts it).
    pub validators: Vec<PublicKey>,
    /// Signature namespace; [`NAMESPACE`] on the Phalanx network.
    pub namespace: Vec<u8>,
    /// Prefix of every storage partition this validator writes.
    pub partition_prefix: String,
    /// Consensus timing.
    pub timeouts: Timeouts,
    /// Largest accepted encoded block.
    pub max_block_bytes: usize,
    /// Capacity of internal actor mailboxes.
    pub mailbox_size: NonZeroUsize,
    /// Blocks per consensus epoch; must match the runtime's
    /// [`EPOCH_LENGTH`](phalanx_runtime::system::EPOCH_LENGTH) for the real chain, whose
    /// validator-set changes take effect at epoch boundaries.
    pub epoch_length: NonZeroU64,
}

impl EngineConfig {
    /// A config with Phalanx defaults for `signer` in `validators`.
    pub fn new(signer: PrivateKey, validators: Vec<PublicKey>, partition_prefix: String) -> Self {
        Self {
            signer,
            validators,
            namespace: NAMESPACE.to_vec(),
            partition_prefix,
            timeouts: Timeouts::default(),
            max_block_bytes: DEFAULT_MAX_BLOCK_BYTES,
            mailbox_size: NZUsize!(1_024),
            epoch_length: NZU64!(phalanx_runtime::system::EPOCH_LENGTH),
        }
    }

    /// Largest payload any consensus channel carries for this validator set.
    pub fn max_message_size(&self) -> u32 {
        max_message_size(self.validators.len(), self.max_block_bytes)
    }
}

/// Bytes the per-epoch multiplexing of the simplex channels adds to a message (a varint epoch).
const MUX_OVERHEAD: u32 = 16;

/// Largest payload any consensus channel carries, for `validators` and blocks up to
/// `max_block_bytes` (the p2p network must admit it).
pub fn max_message_size(validators: usize, max_block_bytes: usize) -> u32 {
    let participants = u32::try_from(validators).unwrap_or(u32::MAX);
    MUX_OVERHEAD
        + commonware_p2p::max_message_size(&[
            simplex::max_payload_size::<Scheme, Digest>(participants),
            marshal::max_payload_size::<Standard<ConsensusBlock<RawBlock>>, Scheme>(
                participants,
                &max_block_bytes,
            ),
        ])
}

/// The sender/receiver pairs of the five consensus channels.
#[derive(Debug)]
pub struct Channels<S, R> {
    /// [`VOTES`].
    pub votes: (S, R),
    /// [`CERTIFICATES`].
    pub certificates: (S, R),
    /// [`CERTIFICATE_RESOLVER`].
    pub certificate_resolver: (S, R),
    /// [`BLOCKS`].
    pub blocks: (S, R),
    /// [`BACKFILL`].
    pub backfill: (S, R),
    /// [`TRANSACTIONS`].
    pub transactions: (S, R),
}

/// The validator set of every epoch this node has seen, as marshal's certificate provider: a
/// certificate verifies only against the set of the epoch it belongs to.
#[derive(Clone, Debug)]
pub struct EpochSchemes {
    namespace: Vec<u8>,
    signer: PrivateKey,
    schemes: Arc<Mutex<BTreeMap<u64, Scoped<Scheme>>>>,
}

impl EpochSchemes {
    fn new(namespace: Vec<u8>, signer: PrivateKey) -> Self {
        Self {
            namespace,
            signer,
            schemes: Arc::default(),
        }
    }

    /// Records the set of `epoch`; returns the signing scheme if this node is in it.
    fn insert(&self, epoch: u64, participants: Set<PublicKey>) -> Option<Scheme> {
        let signing = Scheme::signer(&self.namespace, participants.clone(), self.signer.clone());
        let scoped = match &signing {
            Some(scheme) => Scoped::scheme(Arc::new(scheme.clone())),
            None => Scoped::verifier(Arc::new(Scheme::verifier(&self.namespace, participants))),
        };
        self.schemes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(epoch, scoped);
        signing
    }
}

impl CertificateProvider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        self.schemes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&epoch.get())
            .cloned()
    }
}

/// Sorted, duplicate-free participant set of an epoch.
fn participant_set(mut validators: Vec<PublicKey>) -> Result<Set<PublicKey>> {
    validators.sort();
    validators.dedup();
    if validators.is_empty() {
        return Err(Error::InvalidValidatorSet);
    }
    Set::try_from(validators).map_err(|_| Error::InvalidValidatorSet)
}

/// Runs a validator's consensus stack until the runtime stops or a component fails.
///
/// `blocker` disconnects peers caught misbehaving; `peers` tells the block broadcaster and the
/// backfill resolver who is in the validator set. `peer_sets` is told the participants of every
/// epoch this node enters (the production network tracks them as its peer set).
///
/// # Epochs
///
/// Heights are split into epochs of `config.epoch_length` blocks. Each epoch runs its own simplex
/// instance (own journal, own vote channels multiplexed by epoch number) over that epoch's
/// validator set; marshal and block delivery span all epochs. When the chain has applied the last
/// block of epoch `e` (the boundary block), the set for `e + 1` is read from the chain
/// ([`Application::next_validators`]), epoch `e`'s instance stops and `e + 1`'s starts with the
/// boundary block as its genesis. A node outside the new set stops voting. A node that hears
/// votes of a later epoch asks marshal to fetch the finalization of its epoch's boundary block,
/// so a validator that missed the boundary catches up.
pub async fn run<E, A, S, R, B, P, F>(
    context: E,
    config: EngineConfig,
    application: A,
    channels: Channels<S, R>,
    blocker: B,
    peers: P,
    peer_sets: F,
) -> Result<()>
where
    E: Spawner + Clock + Storage + Metrics + rand_core_010::CryptoRng,
    A: Application,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    F: FnMut(u64, &[PublicKey]) + Send + 'static,
{
    config.timeouts.check()?;
    if config.epoch_length.get() < 2 {
        return Err(Error::InvalidConfig(
            "the epoch length must exceed one block",
        ));
    }
    let public_key = config.signer.public_key();
    let genesis_set = participant_set(config.validators.clone())?;
    if genesis_set.position(&public_key).is_none() && application.finalized_height() == 0 {
        info!(
            validator = %public_key,
            "this key is not a genesis validator: following the chain; it votes from the epoch after governance adds it (SetValidators)"
        );
    }
    let prefix = &config.partition_prefix;
    let page_cache = CacheRef::new(NZU16!(4_096), NZUsize!(1_024));
    let epocher = FixedEpocher::new(config.epoch_length);
    let buffer_size = NZUsize!(1 << 20);
    let fetch_timeout = NonZeroDuration::new(config.timeouts.fetch)
        .ok_or(Error::InvalidConfig("the fetch timeout must be positive"))?;
    let schemes = EpochSchemes::new(config.namespace.clone(), config.signer.clone());

    // Durable archives of finalized certificates and blocks, indexed by height.
    let finalizations = immutable::Archive::init(
        context.child("finalizations_by_height"),
        archive_config(
            prefix,
            "finalizations",
            &page_cache,
            buffer_size,
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|err| Error::Storage(err.to_string()))?;
    let blocks = immutable::Archive::init(
        context.child("finalized_blocks"),
        archive_config(
            prefix,
            "blocks",
            &page_cache,
            buffer_size,
            config.max_block_bytes,
        ),
    )
    .await
    .map_err(|err| Error::Storage(err.to_string()))?;

    // Marshal: ordered delivery of finalized blocks, backfill of missing ones.
    let genesis = ConsensusBlock::new(application.genesis());
    let genesis_digest = genesis.digest();
    let marshal_config = marshal::Config {
        provider: schemes.clone(),
        epocher: epocher.clone(),
        start: marshal::Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
        partition_prefix: format!("{prefix}-marshal"),
        mailbox_size: config.mailbox_size,
        view_retention: ViewDelta::new(1_024),
        prunable_items_per_section: NZU64!(4_096),
        page_cache: page_cache.clone(),
        replay_buffer: buffer_size,
        key_write_buffer: buffer_size,
        value_write_buffer: buffer_size,
        block_codec_config: config.max_block_bytes,
        max_repair: NZUsize!(64),
        max_pending_acks: NZUsize!(16),
        strategy: Sequential,
    };
    let (marshal_actor, marshal_mailbox, floor) = Marshal::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal_config,
    )
    .await;
    let processed = floor.processed().map(|processed| processed.height().get());
    let applied = application.finalized_height();
    // Read with `applied`, before delivery can move the chain on: the set of the epoch after it.
    let next_validators = application.next_validators();
    info!(
        validator = %public_key,
        processed = ?processed,
        chain_height = applied,
        "consensus storage opened"
    );

    // Block broadcast and backfill.
    let (broadcast, buffer) = buffered::Engine::<_, _, BlockOf<A>, _, _>::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size: config.mailbox_size,
            deque_size: 16,
            priority: false,
            codec_config: config.max_block_bytes,
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    let broadcast_handle = broadcast.start(channels.blocks);
    let resolver = marshal_resolver::init(
        context.child("backfill"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peers,
            blocker: blocker.clone(),
            mailbox_size: config.mailbox_size,
            fetch_timeout,
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );

    // Finalized blocks flow marshal -> queue -> chain; boundary blocks announce the next epoch.
    let (finalized_reporter, queue) = FinalizedReporter::<A>::new();
    let (transitions, transitions_rx) = mpsc::unbounded_channel();
    let delivery_handle = context.child("delivery").spawn({
        let application = application.clone();
        let marshal = marshal_mailbox.clone();
        let epocher = epocher.clone();
        move |context| {
            deliver(
                context,
                application,
                marshal,
                processed,
                queue,
                epocher,
                transitions,
            )
        }
    });
    // Marshal must be running before anything waits on its mailbox: requests only queue up
    // until the actor starts, so asking it for a block first would wait forever (a node
    // restarted past the first epoch boundary used to hang exactly there).
    let marshal_handle = marshal_actor.start(finalized_reporter, buffer, resolver);

    // The epoch of the next block the chain needs, its set and its genesis (the boundary block
    // of the previous epoch, or the chain's genesis).
    let first_epoch = epocher
        .containing(Height::new(applied.saturating_add(1)))
        .map(|info| info.epoch().get())
        .ok_or(Error::InvalidConfig("height outside every epoch"))?;
    let first = if first_epoch == 0 {
        Transition {
            epoch: 0,
            validators: Some(config.validators.clone()),
            boundary: genesis_digest,
        }
    } else {
        let boundary = epocher
            .last(Epoch::new(first_epoch - 1))
            .ok_or(Error::InvalidConfig("height outside every epoch"))?;
        Transition {
            epoch: first_epoch,
            validators: next_validators,
            boundary: boundary_digest(&application, &marshal_mailbox, boundary).await?,
        }
    };

    // The simplex channels are multiplexed by epoch, so each epoch's instance has its own.
    let (votes_mux, votes, backup) = Muxer::builder(
        context.child("votes_mux"),
        channels.votes.0,
        channels.votes.1,
    )
    .with_backup()
    .build();
    let (certificates_mux, certificates) = Muxer::new(
        context.child("certificates_mux"),
        channels.certificates.0,
        channels.certificates.1,
    );
    let (resolver_mux, certificate_resolver) = Muxer::new(
        context.child("resolver_mux"),
        channels.certificate_resolver.0,
        channels.certificate_resolver.1,
    );
    let _muxers = (
        votes_mux.start(),
        certificates_mux.start(),
        resolver_mux.start(),
    );

    // Simplex over the marshal-wrapped chain; faults go to the chain as evidence.
    let inline = Inline::new(
        context.child("application"),
        Builder::new(application.clone(), config.timeouts.block_interval),
        marshal_mailbox.clone(),
        epocher.clone(),
    );
    let epochs_application = application.clone();
    let gossip_blocker = blocker.clone();
    let epochs = Epochs {
        config: config.clone(),
        application,
        inline,
        marshal: marshal_mailbox,
        epocher,
        schemes,
        blocker,
        votes,
        certificates,
        certificate_resolver,
        page_cache,
        fetch_timeout,
        peer_sets,
        current: None,
    };
    let orchestrator_handle = context
        .child("epochs")
        .spawn(move |context| epochs.run(context, first, transitions_rx, backup));
    info!(validator = %public_key, epoch = first_epoch, "consensus started");

    let gossip_handle = context.child("gossip").spawn({
        let application = epochs_application;
        move |context| gossip(context, application, channels.transactions, gossip_blocker)
    });

    // Run until any component stops (or the runtime stops them all).
    let (_, stopped, _) = select_all([
        Box::pin(orchestrator_handle),
        Box::pin(marshal_handle),
        Box::pin(broadcast_handle),
        Box::pin(delivery_handle),
        Box::pin(gossip_handle),
    ])
    .await;
    info!(validator = %public_key, component = stopped, "consensus stopped");
    Ok(())
}

/// The digest of the finalized block at `boundary`: from the chain's own durable log first
/// (marshal's archive makes no durability promise across an unclean stop), else from marshal.
async fn boundary_digest<A: Application>(
    application: &A,
    marshal: &MarshalOf<A>,
    boundary: Height,
) -> Result<Digest> {
    if let Some(hash) = application.finalized_hash(boundary.get()) {
        return Ok(super::digest_of(&hash));
    }
    let block: Digested<BlockOf<A>> = marshal.get_block(boundary).await.ok_or_else(|| {
        Error::Storage(format!(
            "the boundary block {} is missing from the chain and from consensus storage",
            boundary.get()
        ))
    })?;
    Ok(block.digest())
}

/// Gossips the transactions this node's clients submitted to every peer, and admits what peers
/// gossip (blocking a peer that sends undecodable bytes or forged signatures).
async fn gossip<E, A, S, R, B>(
    context: E,
    application: A,
    (mut sender, mut receiver): (S, R),
    mut blocker: B,
) where
    E: Spawner + Clock,
    A: Application,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
{
    let mut next_flush = context.current() + GOSSIP_INTERVAL;
    loop {
        let flush = context.sleep_until(next_flush);
        match select(Box::pin(receiver.recv()), Box::pin(flush)).await {
            Either::Left((Ok((peer, message)), _)) => {
                let batch: Vec<u8> = message.into();
                let application = application.clone();
                let admitted = context
                    .child("admit")
                    .shared(true)
                    .spawn(move |_| async move { application.admit_gossip(&batch) })
                    .await;
                if let Ok(false) = admitted {
                    warn!(%peer, "peer gossiped malformed or forged transactions; blocking it");
                    let _ = blocker.block(peer);
                }
            }
            // The network stopped: the node is shutting down.
            Either::Left((Err(_), _)) => return,
            Either::Right(((), _)) => {
                next_flush = context.current() + GOSSIP_INTERVAL;
                let batch = application.take_gossip(MAX_GOSSIP_BYTES);
                if !batch.is_empty() {
                    let message = encode_gossip(&batch);
                    sender.send(commonware_p2p::Recipients::All, message, false);
                }
            }
        }
    }
}

/// A gossip message: a SCALE `Vec<Vec<u8>>` of encoded transactions.
fn encode_gossip(batch: &[Vec<u8>]) -> Vec<u8> {
    use parity_scale_codec::Encode as _;
    batch.encode()
}

/// Messages of a simplex channel for an epoch this node has no instance for.
type Backup = mpsc::Receiver<(u64, commonware_p2p::Message<PublicKey>)>;

/// How often at most a node that hears a later epoch asks for its boundary finalization.
const HINT_INTERVAL: Duration = Duration::from_secs(1);

/// Starts and stops the per-epoch simplex instances.
struct Epochs<E, A, B, S, F>
where
    E: Spawner + Clock + Storage + Metrics + rand_core_010::CryptoRng,
    A: Application,
    S: Sender,
{
    config: EngineConfig,
    application: A,
    inline: Inline<E, Scheme, Builder<A>, BlockOf<A>, FixedEpocher>,
    marshal: MarshalOf<A>,
    epocher: FixedEpocher,
    schemes: EpochSchemes,
    blocker: B,
    votes: MuxHandle<S>,
    certificates: MuxHandle<S>,
    certificate_resolver: MuxHandle<S>,
    page_cache: CacheRef,
    fetch_timeout: NonZeroDuration,
    peer_sets: F,
    /// The epoch running now and its instance (`None` while this node is not in the set).
    current: Option<(u64, Option<Handle<()>>)>,
}

impl<E, A, B, S, F> Epochs<E, A, B, S, F>
where
    E: Spawner + Clock + Storage + Metrics + rand_core_010::CryptoRng,
    A: Application,
    S: Sender<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    F: FnMut(u64, &[PublicKey]) + Send + 'static,
{
    async fn run(
        mut self,
        context: E,
        first: Transition,
        mut transitions: mpsc::UnboundedReceiver<Transition>,
        mut backup: Backup,
    ) {
        let mut set = participant_set(self.config.validators.clone()).ok();
        self.enter(&context, first, &mut set).await;
        let mut last_hint: Option<SystemTime> = None;
        loop {
            let next = select(Box::pin(transitions.recv()), Box::pin(backup.recv())).await;
            match next {
                Either::Left((Some(transition), _)) => {
                    let current = self.current.as_ref().map(|(epoch, _)| *epoch);
                    if current.is_some_and(|current| transition.epoch <= current) {
                        continue;
                    }
                    if let Some((epoch, Some(handle))) = self.current.take() {
                        handle.abort();
                        let _ = handle.await;
                        info!(epoch, "epoch ended");
                    }
                    self.enter(&context, transition, &mut set).await;
                }
                Either::Right((Some((channel, (peer, _))), _)) => {
                    // A peer votes in a later epoch: we missed our boundary's finalization.
                    let Some((epoch, _)) = self.current else {
                        continue;
                    };
                    if channel <= epoch {
                        continue;
                    }
                    let now = context.current();
                    if last_hint.is_some_and(|last| {
                        now.duration_since(last).unwrap_or_default() < HINT_INTERVAL
                    }) {
                        continue;
                    }
                    last_hint = Some(now);
                    if let Some(boundary) = self.epocher.last(Epoch::new(epoch)) {
                        info!(epoch, ahead = channel, %peer, "a peer is in a later epoch; fetching the boundary");
                        self.marshal
                            .hint_finalized(boundary, NonEmptyVec::new(peer));
                    }
                }
                // The delivery task or the muxer stopped: the node is shutting down.
                Either::Left((None, _)) | Either::Right((None, _)) => return,
            }
        }
    }

    /// Enters `transition.epoch`: records its set and, if this node is in it, starts its
    /// simplex instance rooted at the boundary block.
    async fn enter(
        &mut self,
        context: &E,
        transition: Transition,
        set: &mut Option<Set<PublicKey>>,
    ) {
        let epoch = transition.epoch;
        if let Some(next) = transition
            .validators
            .and_then(|validators| participant_set(validators).ok())
        {
            *set = Some(next);
        }
        let Some(participants) = set.clone() else {
            warn!(epoch, "no valid validator set for the epoch");
            self.current = Some((epoch, None));
            return;
        };
        let keys: Vec<PublicKey> = participants.iter().cloned().collect();
        (self.peer_sets)(epoch, &keys);
        let Some(scheme) = self.schemes.insert(epoch, participants) else {
            info!(
                epoch,
                validators = keys.len(),
                "not in this epoch's validator set; not voting"
            );
            self.current = Some((epoch, None));
            return;
        };
        let handle = match self
            .start(context, epoch, scheme, transition.boundary)
            .await
        {
            Ok(handle) => Some(handle),
            Err(err) => {
                warn!(epoch, %err, "could not start the epoch's consensus");
                None
            }
        };
        info!(epoch, validators = keys.len(), boundary = %transition.boundary, "epoch started");
        self.current = Some((epoch, handle));
    }

    async fn start(
        &mut self,
        context: &E,
        epoch: u64,
        scheme: Scheme,
        boundary: Digest,
    ) -> Result<Handle<()>> {
        let network = |err: commonware_p2p::utils::mux::Error| Error::Network(err.to_string());
        let votes = self.votes.register(epoch).await.map_err(network)?;
        let certificates = self.certificates.register(epoch).await.map_err(network)?;
        let resolver = self
            .certificate_resolver
            .register(epoch)
            .await
            .map_err(network)?;
        let context = context.child("simplex").with_attribute("epoch", epoch);
        let evidence = AttributableReporter::new(
            context.child("evidence"),
            scheme.clone(),
            EvidenceReporter::new(scheme.clone(), self.application.clone()),
            Sequential,
            true,
        );
        let timeouts = self.config.timeouts;
        let buffer_size = NZUsize!(1 << 20);
        let engine = simplex::Engine::new(
            context.child("engine"),
            simplex::Config {
                scheme,
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.blocker.clone(),
                automaton: self.inline.clone(),
                relay: self.inline.clone(),
                reporter: Reporters::from((self.inline.clone(), evidence)),
                track_historical_votes: false,
                strategy: Sequential,
                partition: format!("{}-simplex-{epoch}", self.config.partition_prefix),
                mailbox_size: self.config.mailbox_size,
                epoch: Epoch::new(epoch),
                floor: simplex::Floor::Genesis(boundary),
                replay_buffer: buffer_size,
                write_buffer: buffer_size,
                page_cache: self.page_cache.clone(),
                leader_timeout: timeouts.leader,
                certification_timeout: timeouts.notarization,
                timeout_retry: timeouts.nullify_retry,
                view_retention: ViewDelta::new(1_024),
                skip: SkipPolicy::Enabled {
                    timeout: timeouts.skip_silent_leader,
                    budget: SkipBudget::Participants,
                },
                fetch_timeout: self.fetch_timeout,
                fetch_retry_delay: Duration::from_millis(100),
                forward: ForwardPolicy::SilentLeader,
            },
        );
        Ok(engine.start(votes, certificates, resolver))
    }
}

/// Storage layout of one of marshal's height-indexed archives.
fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: &CacheRef,
    buffer_size: NonZeroUsize,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 65_536,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 16_384,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 1 << 28,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(4_096),
        freezer_key_write_buffer: buffer_size,
        freezer_value_write_buffer: buffer_size,
        ordinal_write_buffer: buffer_size,
        replay_buffer: buffer_size,
        codec_config,
    }
}

/// A block type used only to size messages (marshal's bound depends on the byte limit only).
#[derive(Clone, Debug)]
struct RawBlock;

impl super::ChainBlock for RawBlock {
    fn block_hash(&self) -> phalanx_primitives::Hash {
        phalanx_primitives::Hash([0; 32])
    }
    fn block_height(&self) -> u64 {
        0
    }
    fn parent_hash(&self) -> phalanx_primitives::Hash {
        phalanx_primitives::Hash([0; 32])
    }
    fn timestamp_ms(&self) -> u64 {
        0
    }
    fn to_bytes(&self) -> Vec<u8> {
        Vec::new()
    }
    fn from_bytes(_: &[u8]) -> Option<Self> {
        None
    }
}
