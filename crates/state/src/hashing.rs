//! The tree's hashing rules, shared by the tree that builds nodes and the proofs that check
//! them: how a key's path is read and how leaves and internal nodes hash (see the crate docs).
//!
//! Both `tree` and `proof` build on this module and nothing here depends on them, so a proof
//! can be checked without the tree.

use phalanx_primitives::Hash;

/// Depth of the full path (bits of a SHA-256 key hash).
pub(crate) const KEY_BITS: usize = 256;

/// `H(0x00 ‖ path ‖ value_hash)`.
pub(crate) fn leaf_hash(path: &Hash, value_hash: &Hash) -> Hash {
    Hash::of_parts(&[&[0u8], path.as_bytes(), value_hash.as_bytes()])
}

/// `H(0x01 ‖ left ‖ right)`.
pub(crate) fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[1u8], left.as_bytes(), right.as_bytes()])
}

/// Bit `depth` of `path`, most significant bit of byte 0 first.
pub(crate) fn bit(path: &Hash, depth: usize) -> bool {
    (path.0[depth / 8] >> (7 - depth % 8)) & 1 == 1
}
