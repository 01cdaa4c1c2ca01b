//! Phalanx primitives: the wire types every other crate speaks.
//!
//! This crate holds what crosses a trust boundary — accounts and their `pha1…` addresses, PHA
//! amounts, hashes, the signed transaction envelope, the calls it can carry and the block — and
//! the one strict decoder every untrusted byte string goes through.
//!
//! Invariants:
//! - Every type here has exactly one encoding (SCALE); golden tests pin it, so a format change
//!   is a visible diff.
//! - [`codec::decode_strict`] refuses oversized input, deep nesting and trailing bytes, and never
//!   panics on arbitrary input (property-tested).
//! - Calls and events are chain-visible enums: their variants only ever grow at the end.
//!
//! It sits at the bottom of the dependency graph: the runtime, node, light client, worker and
//! client SDK all build on it. Its only Phalanx dependency is `phalanx-attestation`, whose
//! policy type a privileged call carries.

pub mod account;
pub mod block;
pub mod call;
pub mod codec;
pub mod hash;
pub mod transaction;
pub mod units;

pub use account::{AccountId, Keypair};
pub use block::{Block, Header};
pub use call::Call;
pub use codec::{decode_strict, CodecError};
pub use hash::Hash;
pub use transaction::{SignedTransaction, Transaction};
pub use units::{Balance, MAX_SUPPLY, PHA};
