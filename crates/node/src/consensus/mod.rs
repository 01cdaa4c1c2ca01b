//! Consensus wiring: how Phalanx validators agree on one chain of blocks.
//!
//! # Protocol
//!
//! Phalanx orders blocks with [`commonware_consensus::simplex`], a partially synchronous BFT
//! protocol that tolerates `f` faulty validators out of `n = 3f + 1`. Every validator signs its
//! votes with its ed25519 identity key (the attributable [`Scheme`]), so a certificate lists who
//! signed it and a double vote is transferable evidence.
//!
//! Each *view* has one leader (round robin over the validator set sorted by public key):
//!
//! 1. The leader builds a block on the parent it last certified ([`Application::propose`]) and
//!    broadcasts it; its vote is a `notarize` over the block hash.
//! 2. A validator that receives the block re-executes it ([`Application::verify`]) and, if it is
//!    valid, votes `notarize`. `2f + 1` notarize votes form a *notarization*.
//! 3. Once notarized, validators vote `finalize`; `2f + 1` of them form a *finalization
//!    certificate*. A finalized block, and every ancestor it links to by parent hash, is final
//!    forever.
//! 4. A leader that stays silent for `leader_timeout`, or a view that does not notarize within
//!    `notarization_timeout`, is skipped: validators vote `nullify` and `2f + 1` of them move
//!    everyone to the next view.
//!
//! Blocks are carried by [`commonware_consensus::marshal`] (standard variant, inline
//! verification): the leader's block travels over a buffered broadcast channel, consensus only
//! agrees on its hash, and marshal stores finalized blocks with their certificates, delivers them
//! to the chain exactly in height order ([`Application::finalized`]) and fetches any block or
//! certificate it is missing from peers (backfill). A validator that crashes and restarts
//! replays its consensus journal, then catches up through backfill.
//!
//! # Epochs and validator-set changes
//!
//! Heights are split into epochs of [`EngineConfig::epoch_length`] blocks (the runtime's
//! `EPOCH_LENGTH` for the real chain). Each epoch runs its own simplex instance over its own
//! validator set; a block's certificate is signed by its epoch's set and names the epoch.
//! The last block of an epoch (the boundary block) is re-proposed until the epoch ends. Once the
//! chain has applied it, [`Application::next_validators`] names the next epoch's set (the chain
//! reads it from the boundary block's state, where governance's scheduled change became
//! active), and [`engine::run`] swaps instances. See [`engine`] for the details.
//!
//! # Invariants
//!
//! - A block's consensus digest is its Phalanx hash (sha256 of the SCALE-encoded header).
//! - Height `h + 1` always links to height `h` by parent hash; genesis is height 0 and is final
//!   by definition (it has no certificate).
//! - Every honest validator delivers the same block at every height.
//! - Signatures are domain separated by [`NAMESPACE`]; certificates from another network never
//!   verify here.
//!
//! # Where it sits
//!
//! The node's chain implements [`Application`]; [`validator::run_validator`] starts the
//! authenticated p2p network and [`engine::run`] wires simplex, marshal, block broadcast and
//! backfill on top of any p2p implementation (the deterministic simulations use the same function
//! over a simulated network: `tests/simulation.rs` with a toy chain, `tests/simulation_chain.rs`
//! with the real [`Chain`](crate::Chain)).
//! [`certificate::verify_finalization`] lets a light client check a finalized block without
//! running any of it.

pub mod adapter;
pub mod block;
pub mod certificate;
pub mod config;
pub mod engine;
mod epochs;
pub mod evidence;
pub mod validator;

use phalanx_primitives::Hash;
use std::fmt::Debug;

pub use block::ConsensusBlock;
pub use certificate::{verify_finalization, FinalizedAt};
pub use engine::{run, Channels, EngineConfig, Timeouts};
pub use evidence::{Misbehaviour, MisbehaviourKind};
pub use validator::{run_validator, runner, Peer, ValidatorConfig};

pub use phalanx_light_client::certificate::{
    digest_of, hash_of, Digest, Finalization, PublicKey, Scheme, NAMESPACE,
};

/// A validator's signing key.
pub type PrivateKey = commonware_cryptography::ed25519::PrivateKey;

/// What consensus needs to know about a chain block.
///
/// Implemented for the node's block type; tests implement it for toy blocks.
pub trait ChainBlock: Clone + Debug + Send + Sync + 'static {
    /// The block's hash (sha256 of its encoded header); consensus votes on it.
    fn block_hash(&self) -> Hash;
    /// Height of the block; genesis is 0.
    fn block_height(&self) -> u64;
    /// Hash of the parent block (all zeroes for genesis).
    fn parent_hash(&self) -> Hash;
    /// Proposer's timestamp, milliseconds since the unix epoch.
    fn timestamp_ms(&self) -> u64;
    /// Canonical encoding. `from_bytes(to_bytes(b)) == b` and no other bytes decode to `b`.
    fn to_bytes(&self) -> Vec<u8>;
    /// Strict decoding of untrusted bytes (no trailing bytes, bounded sizes).
    fn from_bytes(bytes: &[u8]) -> Option<Self>;
}

/// The answer of [`Application::verify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The block is a valid child of the parent.
    Valid,
    /// The block can never be valid on this parent.
    Invalid,
    /// The chain has no post-state for the parent (for example the parent was notarized while
    /// this validator was offline). Consensus then replays the missing ancestors through
    /// [`Application::verify`] from the closest ancestor whose state is known and asks again.
    UnknownParent,
}

/// What consensus needs from the chain's execution layer. Implemented by the node's chain.
///
/// Calls may block (they execute transactions); consensus runs them on the runtime's blocking
/// pool. The chain must keep post-states of blocks it built or verified until they are finalized
/// or abandoned, because consensus builds on notarized blocks before they are final.
pub trait Application: Clone + Send + Sync + 'static {
    /// The chain's block type.
    type Block: ChainBlock;

    /// The genesis block (height 0). Deterministic from the genesis config.
    fn genesis(&self) -> Self::Block;

    /// Build a block on top of `parent` at `timestamp_ms`, taking transactions from the mempool,
    /// executing them and filling in the post-state root. `None` if the parent state is unknown
    /// (consensus then replays the parent's ancestry through [`Self::verify`] and asks again).
    fn propose(&self, parent: &Self::Block, timestamp_ms: u64) -> Option<Self::Block>;

    /// Re-execute `block` on top of `parent`: parent link, height, timestamp monotonic and not
    /// too far past `now_ms` (the consensus clock, deterministic in simulations), transactions
    /// valid, state root matches. On [`Verdict::Valid`] the chain keeps the post-state so
    /// children can be verified.
    fn verify(&self, parent: &Self::Block, block: &Self::Block, now_ms: u64) -> Verdict;

    /// Consensus asked this node to propose or verify in `view` (for metrics; no effect on the
    /// chain).
    fn observe_view(&self, _view: u64) {}

    /// A block is finalized. Delivered in height order exactly once per height while running;
    /// after a restart already-applied heights may be delivered again and must be ignored.
    /// Consensus acknowledges the block only after this returns, so the chain must have applied
    /// it durably by then.
    ///
    /// `certificate` is the commonware-codec encoding of the block's finalization certificate
    /// (check it with [`verify_finalization`]). It is `None` when this validator learned of the
    /// block only as the ancestor of a later finalized block; the descendant's certificate and
    /// the parent-hash links prove it.
    fn finalized(&self, block: Self::Block, certificate: Option<Vec<u8>>);

    /// Last finalized height the chain has durably applied (so consensus can replay what the
    /// chain is missing after a crash).
    fn finalized_height(&self) -> u64;

    /// Hash of the finalized block at `height`, if the chain has it durably (`None` lets
    /// consensus read it from its own storage instead). Consensus asks for the last block of the
    /// previous epoch when it starts in the middle of the chain.
    fn finalized_hash(&self, height: u64) -> Option<Hash> {
        let _ = height;
        None
    }

    /// The validator set of the epoch after the last finalized block, as the chain's state names
    /// it (read right after the last block of an epoch is applied, and at start). `None` keeps the
    /// current set (the default, for chains without validator-set changes). Must be a function
    /// of the finalized state only, so every node reads the same set.
    fn next_validators(&self) -> Option<Vec<PublicKey>> {
        None
    }

    /// Least time between blocks as the chain's finalized state sets it (a chain parameter, so
    /// every leader waits the same). `None` (the default) uses the consensus config's
    /// `block_interval`.
    fn block_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// The validator set of epoch 0 as the genesis state names it. `None` (the default) takes
    /// the keys of the consensus config's peer list instead.
    fn genesis_validators(&self) -> Option<Vec<PublicKey>> {
        None
    }

    /// The p2p address `validator` published on chain (its own signed transaction), if any, as
    /// of the last finalized block. Validators dial the members of each epoch's set that their
    /// config does not list at this address, so a validator added by governance is reachable
    /// without editing any config. The default knows no address.
    fn peer_address(&self, validator: &PublicKey) -> Option<std::net::SocketAddr> {
        let _ = validator;
        None
    }

    /// Transactions this node admitted from its own clients since the last call, encoded, to
    /// gossip to the other validators (at most about `max_bytes` in all). The default gossips
    /// nothing.
    fn take_gossip(&self, max_bytes: usize) -> Vec<Vec<u8>> {
        let _ = max_bytes;
        Vec::new()
    }

    /// Encoded transactions a peer gossiped; they are admitted like a client's but not gossiped
    /// again (every validator hears every other directly). Returns `false` if the batch holds
    /// something provably bad (undecodable bytes or a forged signature), so the peer is blocked;
    /// a transaction that is merely stale or known is not the peer's fault.
    fn admit_gossip(&self, batch: &[u8]) -> bool {
        let _ = batch;
        true
    }

    /// Consensus observed provable misbehaviour of a validator (already verified and logged).
    /// The chain may store the evidence for slashing. The default ignores it.
    fn misbehaviour(&self, evidence: Misbehaviour) {
        let _ = evidence;
    }
}

/// Errors of the consensus wiring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The validator set is empty or lists a key twice.
    #[error("the validator set must be non-empty and list each key once")]
    InvalidValidatorSet,
    /// A configured value is out of range.
    #[error("invalid consensus config: {0}")]
    InvalidConfig(&'static str),
    /// Local storage could not be opened.
    #[error("failed to open consensus storage: {0}")]
    Storage(String),
    /// Network channels could not be registered.
    #[error("failed to register network channel: {0}")]
    Network(String),
    /// A finalization certificate was refused (see the light client's certificate module).
    #[error(transparent)]
    Certificate(#[from] phalanx_light_client::certificate::Error),
    /// Misbehaviour evidence could not be decoded or does not verify.
    #[error("invalid misbehaviour evidence: {0}")]
    InvalidEvidence(String),
}

/// Result alias of the consensus module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
