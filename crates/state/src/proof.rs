//! State proofs and their verification, usable without the state itself.

use crate::hashing::{bit, internal_hash, leaf_hash, KEY_BITS};
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::{decode_strict, CodecError, Hash};

/// Largest encoded proof accepted: 256 siblings plus the terminal.
pub const MAX_PROOF_BYTES: usize = 256 * 32 + 128;

/// Where a key's path ends in the tree.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Terminal {
    /// An empty subtree: the key is absent.
    Empty,
    /// A leaf: the key itself (present) or another key sharing the path so far (absent).
    Leaf {
        /// `H(key)` of the leaf's key.
        path: Hash,
        /// `H(value)` of the leaf's value.
        value_hash: Hash,
    },
}

/// A Merkle proof of a key's value, or of its absence, against a state root.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Proof {
    /// Sibling hashes from the root downwards.
    pub siblings: Vec<Hash>,
    /// Where the path ends.
    pub terminal: Terminal,
}

/// Why a proof was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// The proof's hashes do not lead to the expected root.
    #[error("proof does not match the state root: the value or the root is wrong")]
    RootMismatch,
    /// The proof ends at a leaf of another value for this key, or shows the key absent while a
    /// value was claimed (or the reverse).
    #[error("proof shows a different value for this key than claimed")]
    ValueMismatch,
    /// The proof is longer than any key path.
    #[error("proof has more than 256 levels")]
    TooDeep,
    /// The proof's bytes are malformed.
    #[error("malformed proof: {0}")]
    Codec(#[from] CodecError),
}

impl Proof {
    /// Decodes an untrusted proof strictly.
    pub fn decode_strict(bytes: &[u8]) -> Result<Proof, ProofError> {
        Ok(decode_strict(bytes, MAX_PROOF_BYTES)?)
    }

    /// Checks that under `root`, `key` holds `value` (or is absent when `value` is `None`).
    pub fn verify(&self, root: &Hash, key: &[u8], value: Option<&[u8]>) -> Result<(), ProofError> {
        if self.siblings.len() > KEY_BITS {
            return Err(ProofError::TooDeep);
        }
        let path = Hash::of(key);
        let start = match (&self.terminal, value) {
            (
                Terminal::Leaf {
                    path: leaf_path,
                    value_hash,
                },
                Some(value),
            ) => {
                if *leaf_path != path || *value_hash != Hash::of(value) {
                    return Err(ProofError::ValueMismatch);
                }
                leaf_hash(leaf_path, value_hash)
            }
            (
                Terminal::Leaf {
                    path: leaf_path,
                    value_hash,
                },
                None,
            ) => {
                // Absence shown by another key's leaf: it must sit on our path.
                let shares_path =
                    (0..self.siblings.len()).all(|d| bit(leaf_path, d) == bit(&path, d));
                if *leaf_path == path || !shares_path {
                    return Err(ProofError::ValueMismatch);
                }
                leaf_hash(leaf_path, value_hash)
            }
            (Terminal::Empty, None) => Hash::ZERO,
            (Terminal::Empty, Some(_)) => return Err(ProofError::ValueMismatch),
        };
        let computed =
            self.siblings
                .iter()
                .enumerate()
                .rev()
                .fold(start, |acc, (depth, sibling)| {
                    if bit(&path, depth) {
                        internal_hash(sibling, &acc)
                    } else {
                        internal_hash(&acc, sibling)
                    }
                });
        if computed == *root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        }
    }
}
