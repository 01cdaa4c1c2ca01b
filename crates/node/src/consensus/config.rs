//! What a validator's consensus stack is configured with: its key and set ([`EngineConfig`]),
//! its timing ([`Timeouts`]), the p2p channels it speaks on ([`Channels`], [`VOTES`] …
//! [`TRANSACTIONS`]) with their per-peer rate limits, and the largest message it sends
//! ([`max_message_size`]), which the p2p network must admit.
//!
//! [`engine::run`](super::engine::run) checks the config before starting anything.

use super::{
    block::DEFAULT_MAX_BLOCK_BYTES, ChainBlock, ConsensusBlock, Digest, Error, PrivateKey,
    PublicKey, Result, Scheme, NAMESPACE,
};
use commonware_consensus::{
    marshal::{self, standard::Standard},
    simplex,
};
use commonware_runtime::Quota;
use commonware_utils::{NZUsize, NZU32, NZU64};
use std::{
    num::{NonZeroU64, NonZeroUsize},
    time::Duration,
};

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

/// Largest batch of gossiped transactions in one message (room for the largest transaction a
/// governance vote can allow, 1 MiB).
pub const MAX_GOSSIP_BYTES: usize = 2 << 20;

/// Per-peer rate limit of every consensus channel.
///
/// The burst is kept small on purpose: p2p preallocates every channel's inbox for one burst
/// from every peer it may ever track (the largest validator set governance may name, times the
/// peer sets it keeps), so a burst of 1,024 cost each node about 1.4 GB of memory up front.
pub fn channel_quota() -> Quota {
    Quota::per_second(NZU32!(1_024)).allow_burst(NZU32!(32))
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
    /// Whether the timeouts are consistent with each other; why not.
    pub(super) fn check(&self) -> Result<()> {
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

/// A block type used only to size messages (marshal's bound depends on the byte limit only).
#[derive(Clone, Debug)]
struct RawBlock;

impl ChainBlock for RawBlock {
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
