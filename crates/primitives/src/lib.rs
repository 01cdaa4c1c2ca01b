//! Phalanx primitives: the wire types every other crate speaks.
//!
//! This crate holds what crosses a trust boundary — accounts and their `pha1…` addresses, PHA
//! amounts, hashes, the signed transaction envelope, the calls it can carry, the block, the
//! attestation policy (with the claims it judges), the records the chain stores and clients
//! read (proposals, workers, error codes) — and the one strict decoder every untrusted
//! byte string goes through.
//!
//! Invariants:
//! - Every type here has exactly one encoding (SCALE); golden tests pin it, so a format change
//!   is a visible diff.
//! - [`codec::decode_strict`] refuses oversized input, deep nesting and trailing bytes, and never
//!   panics on arbitrary input (property-tested).
//! - Calls and events are chain-visible enums: their variants only ever grow at the end.
//!
//! It sits at the bottom of the dependency graph and depends on nothing of Phalanx: the
//! attestation verifier, runtime, node, light client, worker and client SDK all build on it.

pub mod account;
pub mod attestation;
pub mod block;
pub mod call;
pub mod codec;
pub mod contract;
pub mod error_code;
pub mod gatekeeper;
pub mod governance;
pub mod hash;
pub mod mining;
pub mod serde_hex;
pub mod signature;
pub mod staking;
pub mod transaction;
pub mod units;
pub mod worker;

pub use account::{AccountId, Keypair};
pub use block::{Block, Header};
pub use call::Call;
pub use codec::{decode_strict, CodecError};
pub use error_code::ErrorCode;
pub use hash::Hash;
pub use transaction::{SignedTransaction, Transaction};
pub use units::{Balance, MAX_SUPPLY, PHA};
