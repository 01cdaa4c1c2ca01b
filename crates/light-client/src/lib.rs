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
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use certificate::{verify_finalization, FinalizedAt};
pub use client::LightClient;

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
}

/// A crate-wide result.
pub type Result<T> = std::result::Result<T, Error>;
