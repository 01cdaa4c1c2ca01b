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
//! calls on [`Builder`] and ships the full blocks; marshal persists
//! finalized blocks and certificates under `partition_prefix` and delivers them in order.
//!
//! The simplex part exists once per epoch (see [`run`]): the vote, certificate and
//! certificate-resolver channels are multiplexed by epoch number
//! (`commonware_p2p::utils::mux`, a varint epoch before each message), and an `Epochs` task
//! (`epochs.rs`) stops an epoch's engine and starts the next one's once the chain has applied the
//! epoch's last block. Marshal, broadcast, backfill and delivery span all epochs; marshal verifies each
//! certificate with [`EpochSchemes`], the validator set of the certificate's epoch.
//!
//! What the stack is configured with (keys, timing, channels, message sizes) is in
//! [`config`](super::config); its public items are re-exported here.
//!
//! Everything runs under the given runtime context: aborting the task that awaits [`run`]
//! tears the whole stack down (a crash), and running it again on the same storage resumes.

use super::{
    adapter::{deliver, BlockOf, Builder, FinalizedReporter, MarshalOf, Transition},
    epochs::{participant_set, Epochs},
    Application, ConsensusBlock, Digest, Error, PublicKey, Result, Scheme,
};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{self, core::Actor as Marshal, resolver::p2p as marshal_resolver, standard::Inline},
    types::{Epoch, Epocher as _, FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::{certificate::Verifier as _, Digested, Digestible as _, Signer as _};
use commonware_p2p::{
    utils::mux::{Builder as _, Muxer},
    Blocker, Provider, Receiver, Sender,
};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Metrics, Spawner, Storage};
use commonware_storage::archive::immutable;
use commonware_utils::{channel::mpsc, NZUsize, NonZeroDuration, NZU16, NZU64};
use futures::future::{select, select_all, Either};
use std::{num::NonZeroUsize, time::Duration};
use tracing::{info, warn};

// The configuration and the epoch orchestrator live in their own files; their public items stay
// reachable here, where callers have always found them.
pub use super::config::{
    channel_quota, gossip_quota, max_message_size, Channels, EngineConfig, Timeouts, BACKFILL,
    BLOCKS, CERTIFICATES, CERTIFICATE_RESOLVER, MAX_GOSSIP_BYTES, TRANSACTIONS, VOTES,
};
pub use super::epochs::EpochSchemes;

/// How often a validator sends the transactions it admitted since the last time.
const GOSSIP_INTERVAL: Duration = Duration::from_millis(50);

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
            "this key is not a genesis validator: validators only talk to members of their current set, so this node waits at its height until governance adds it (SetValidators), then catches up and votes from that epoch on"
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
