//! Phalanx light client: trust a block because the validators certified it, and trust a value
//! because it is proven against that block's state root.
//!
//! A finalized block is proven by its consensus finalization certificate (a quorum of the
//! validators' ed25519 `finalize` signatures over the block hash, see [`certificate`]); a key's
//! value — or its absence — is proven by a sparse-Merkle [`Proof`](phalanx_state::Proof) against
//! the block's `state_root`. This crate checks both with no network, disk or clock, which is
//! what the worker enclave runs: its untrusted host feeds it headers, certificates and proofs,
//! and nothing the host forges, reorders or replays gets past these checks. (A host can still
//! withhold blocks; the enclave sees that as a head that stops advancing.)
//!
//! Invariants: the head only moves to a strictly higher, certified height; consecutive certified
//! heights must link by parent hash.

pub mod certificate;
mod client;
pub mod evidence;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use certificate::{verify_finalization, FinalizedAt};
/// The consensus signature namespace of the network whose genesis block is `genesis`: the base
/// [`certificate::NAMESPACE`], then `/`, then the genesis hash. The genesis hash commits to the
/// chain id and to everything else in the genesis state, so votes and certificates of one Phalanx
/// network are worthless on any other, even one that reuses its chain id.
pub fn network_namespace(genesis: &phalanx_primitives::Hash) -> Vec<u8> {
    namespace_for(certificate::NAMESPACE, genesis)
}

/// [`network_namespace`] over another base (tests run networks under their own base).
pub fn namespace_for(base: &[u8], genesis: &phalanx_primitives::Hash) -> Vec<u8> {
    [base, b"/", &genesis.0[..]].concat()
}

pub use client::{epoch_of, last_height_of, LightClient, EPOCH_LENGTH, VALIDATORS_KEY};

/// Why the light client refused something.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate does not finalize this header under the validator set.
    #[error("certificate rejected: {0}")]
    Certificate(#[from] certificate::Error),
    /// The proof does not show the claimed value under the head's state root.
    #[error("state proof rejected: {0}")]
    Proof(#[from] phalanx_state::ProofError),
    /// A header at or below the head.
    #[error("header {height} is not newer than the verified head {head}")]
    NotNewer {
        /// Offered height.
        height: u64,
        /// Current head height.
        head: u64,
    },
    /// Certified consecutive headers that do not link.
    #[error("certified header {height} does not extend the verified head: the validator set signed a fork")]
    Fork {
        /// Offered height.
        height: u64,
    },
    /// The block's transactions do not match its header.
    #[error("block transactions do not match the header's transaction root")]
    TxRootMismatch,
    /// The starting header is not a genesis header.
    #[error("the light client must start from the genesis header, not height {0}")]
    NotGenesis(u64),
    /// A validator key is not a valid ed25519 key.
    #[error("validator key is not a valid ed25519 public key")]
    BadValidatorKey,
    /// A header outside the epoch whose validator set the client holds.
    #[error("header {height} is not in epoch {epoch}, whose validator set this client holds; feed the epoch's last block and the next set's proof first")]
    WrongEpoch {
        /// Offered height.
        height: u64,
        /// The client's epoch.
        epoch: u64,
    },
    /// A new validator set was offered before the epoch's last block was accepted.
    #[error("the head {head} is not the last block of epoch {epoch}; the next validator set can only be shown there")]
    NotAtBoundary {
        /// The head's height.
        head: u64,
        /// The client's epoch.
        epoch: u64,
    },
}

/// A crate-wide result.
pub type Result<T> = std::result::Result<T, Error>;
