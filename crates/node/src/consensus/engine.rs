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
//! Everything runs under the given runtime context: aborting the task that awaits [`run`]
//! tears the whole stack down (a crash), and running it again on the same storage resumes.

use super::{
    adapter::{deliver, BlockOf, Builder, FinalizedReporter},
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
    types::{Epoch, FixedEpocher, ViewDelta},
    Reporters,
};
use commonware_cryptography::{
    certificate::{ConstantProvider, Verifier as _},
    Digested, Digestible as _, Sha256, Signer as _,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Metrics, Quota, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::{ordered::Set, NZUsize, NonZeroDuration, NZU16, NZU32, NZU64};
use futures::future::select_all;
use std::{num::NonZeroUsize, time::Duration};
use tracing::info;

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

/// Per-peer rate limit of every consensus channel.
pub fn channel_quota() -> Quota {
    Quota::per_second(NZU32!(1_024))
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

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_secs(1),
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
        }
    }

    /// Largest payload any consensus channel carries for this validator set.
    pub fn max_message_size(&self) -> u32 {
        max_message_size(self.validators.len(), self.max_block_bytes)
    }
}

/// Largest payload any consensus channel carries, for `validators` and blocks up to
/// `max_block_bytes` (the p2p network must admit it).
pub fn max_message_size(validators: usize, max_block_bytes: usize) -> u32 {
    let participants = u32::try_from(validators).unwrap_or(u32::MAX);
    commonware_p2p::max_message_size(&[
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
}

/// Runs a validator's consensus stack until the runtime stops or a component fails.
///
/// `blocker` disconnects peers caught misbehaving; `peers` tells the block broadcaster and the
/// backfill resolver who is in the validator set.
pub async fn run<E, A, S, R, B, P>(
    context: E,
    config: EngineConfig,
    application: A,
    channels: Channels<S, R>,
    blocker: B,
    peers: P,
) -> Result<()>
where
    E: Spawner + Clock + Storage + Metrics + rand_core_010::CryptoRng,
    A: Application,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
{
    config.timeouts.check()?;
    let public_key = config.signer.public_key();
    let participants =
        Set::try_from(config.validators.clone()).map_err(|_| Error::InvalidValidatorSet)?;
    if participants.is_empty() {
        return Err(Error::InvalidValidatorSet);
    }
    let scheme = Scheme::signer(&config.namespace, participants, config.signer.clone())
        .ok_or(Error::NotAValidator)?;
    let prefix = &config.partition_prefix;
    let page_cache = CacheRef::new(NZU16!(4_096), NZUsize!(1_024));
    let epocher = FixedEpocher::new(NZU64!(u64::MAX));
    let buffer_size = NZUsize!(1 << 20);
    let fetch_timeout = NonZeroDuration::new(config.timeouts.fetch)
        .ok_or(Error::InvalidConfig("the fetch timeout must be positive"))?;

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
        provider: ConstantProvider::<Scheme, Epoch>::new(scheme.clone()),
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
    info!(
        validator = %public_key,
        processed = ?processed,
        chain_height = application.finalized_height(),
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

    // Finalized blocks flow marshal -> queue -> chain.
    let (finalized_reporter, queue) = FinalizedReporter::<A>::new();
    let delivery_handle = context.child("delivery").spawn({
        let application = application.clone();
        let marshal = marshal_mailbox.clone();
        move |context| deliver(context, application, marshal, processed, queue)
    });
    let marshal_handle = marshal_actor.start(finalized_reporter, buffer, resolver);

    // Simplex over the marshal-wrapped chain; faults go to the chain as evidence.
    let inline = Inline::new(
        context.child("application"),
        Builder::new(application.clone(), config.timeouts.block_interval),
        marshal_mailbox,
        epocher,
    );
    let evidence = AttributableReporter::new(
        context.child("evidence"),
        scheme.clone(),
        EvidenceReporter::new(scheme.clone(), application),
        Sequential,
        true,
    );
    let timeouts = config.timeouts;
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: Reporters::from((inline, evidence)),
            track_historical_votes: false,
            strategy: Sequential,
            partition: format!("{prefix}-simplex-0"),
            mailbox_size: config.mailbox_size,
            epoch: Epoch::zero(),
            floor: simplex::Floor::Genesis(genesis_digest),
            replay_buffer: buffer_size,
            write_buffer: buffer_size,
            page_cache,
            leader_timeout: timeouts.leader,
            certification_timeout: timeouts.notarization,
            timeout_retry: timeouts.nullify_retry,
            view_retention: ViewDelta::new(1_024),
            skip: SkipPolicy::Enabled {
                timeout: timeouts.skip_silent_leader,
                budget: SkipBudget::Participants,
            },
            fetch_timeout,
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::SilentLeader,
        },
    );
    let engine_handle = engine.start(
        channels.votes,
        channels.certificates,
        channels.certificate_resolver,
    );
    info!(validator = %public_key, "consensus started");

    // Run until any component stops (or the runtime stops them all).
    let (_, stopped, _) = select_all([
        Box::pin(engine_handle),
        Box::pin(marshal_handle),
        Box::pin(broadcast_handle),
        Box::pin(delivery_handle),
    ])
    .await;
    info!(validator = %public_key, component = stopped, "consensus stopped");
    Ok(())
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
