//! Phalanx authenticated state.
//!
//! The chain's state is a map from byte keys to byte values, committed to by the root of a
//! compact binary sparse Merkle tree over `H(key)`. Any value — or the absence of a key — can be
//! proven against a root with a [`Proof`], which is what light clients (the worker enclave among
//! them) check.
//!
//! Tree rules (enforced by construction, relied on by [`Proof::verify`]):
//! - the path of a key is the bits of `H(key)`, most significant first;
//! - an empty subtree hashes to [`Hash::ZERO`];
//! - a subtree holding exactly one key is that key's leaf, whatever its depth, hashing to
//!   `H(0x00 ‖ H(key) ‖ H(value))`;
//! - a subtree holding two or more keys is an internal node, `H(0x01 ‖ left ‖ right)`.
//!
//! So every key set has exactly one tree and one root, and leaf and internal hashes can never be
//! confused (distinct domain bytes).
//!
//! [`State`] is persistent (structurally shared): cloning it is O(1), so the node keeps one per
//! unfinalized block and forks cost nothing. Writes go to the key-value map at once and to the
//! tree when the root is next asked for, so a key written many times in a block is hashed once.
//! Values live in a hash map (a read or an update is a hash and a probe) and the keys, in
//! order, in an ordered set that only changes when a key appears or goes (what scans walk).

mod hashing;
mod proof;
mod tree;

pub use proof::{Proof, ProofError, Terminal};

use im::{HashMap, HashSet, OrdSet};
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::{decode_strict, CodecError, Hash};
use tree::Node;

/// The largest snapshot [`State::from_snapshot`] accepts.
pub const MAX_SNAPSHOT_BYTES: usize = 1 << 32;

/// The chain state: key-value data plus the Merkle tree that commits to it.
#[derive(Clone, Default)]
pub struct State {
    /// Every value by its key.
    values: HashMap<Vec<u8>, Vec<u8>>,
    /// The same keys in order, for scans.
    keys: OrdSet<Vec<u8>>,
    tree: Option<std::sync::Arc<Node>>,
    /// Keys written since the tree was last brought up to date. A hash set: the order they
    /// are folded into the tree in does not matter (the tree of a key set is unique), and a
    /// write is then a hash and a probe rather than a second ordered insert.
    dirty: HashSet<Vec<u8>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("keys", &self.values.len())
            .finish()
    }
}

impl State {
    /// An empty state (root [`Hash::ZERO`]).
    pub fn new() -> State {
        State::default()
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.values.get(key)
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if self.values.insert(key.clone(), value).is_none() {
            self.keys.insert(key.clone());
        }
        self.dirty.insert(key);
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &[u8]) {
        if self.values.remove(key).is_some() {
            self.keys.remove(key);
            self.dirty.insert(key.to_vec());
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `key` with its value: what the ordered key set yields to a scan.
    fn entry<'a>(&'a self, key: &'a Vec<u8>) -> Option<(&'a Vec<u8>, &'a Vec<u8>)> {
        // Every key in the set has a value (both change together).
        self.values.get(key).map(|value| (key, value))
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a {
        self.keys
            .range(prefix.to_vec()..)
            .take_while(move |key| key.starts_with(prefix))
            .filter_map(move |key| self.entry(key))
    }

    /// Every `(key, value)` whose key starts with `prefix` and comes after `after` (all of them
    /// when `after` is `None`), in key order: how a cursor resumes a scan where it stopped.
    pub fn scan_prefix_after<'a>(
        &'a self,
        prefix: &'a [u8],
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a {
        use std::ops::Bound;
        let start = match after {
            Some(key) => Bound::Excluded(key.to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        self.keys
            .range((start, Bound::Unbounded))
            .skip_while(move |key| key.as_slice() < prefix)
            .take_while(move |key| key.starts_with(prefix))
            .filter_map(move |key| self.entry(key))
    }

    /// The keys under `prefix` whose next 8 bytes, a big-endian number, are at most `upto`,
    /// in key order and at most `limit` of them: the due entries of a queue keyed by a time or
    /// a height.
    pub fn due_keys(&self, prefix: &[u8], upto: u64, limit: usize) -> Vec<Vec<u8>> {
        let end = prefix.len() + 8;
        self.keys
            .range(prefix.to_vec()..)
            .take_while(move |key| key.starts_with(prefix))
            .take_while(|key| {
                key.get(prefix.len()..end)
                    .and_then(|number| number.try_into().ok())
                    .map(u64::from_be_bytes)
                    .is_some_and(|number| number <= upto)
            })
            .take(limit)
            .cloned()
            .collect()
    }

    /// Brings the tree up to date with every write so far.
    fn flush(&mut self) {
        // In path order, so consecutive updates walk (and copy) mostly the same nodes.
        let mut paths: Vec<(Hash, Vec<u8>)> = std::mem::take(&mut self.dirty)
            .into_iter()
            .map(|key| (Hash::of(&key), key))
            .collect();
        paths.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        for (path, key) in paths {
            self.tree = match self.values.get(&key) {
                Some(value) => Some(tree::insert(self.tree.as_ref(), 0, path, Hash::of(value))),
                None => tree::remove(self.tree.as_ref(), 0, &path),
            };
        }
    }

    /// The root committing to the whole state.
    pub fn root(&mut self) -> Hash {
        self.flush();
        tree::hash_of(self.tree.as_ref())
    }

    /// A proof of `key`'s value (or absence) against [`State::root`].
    pub fn prove(&mut self, key: &[u8]) -> Proof {
        self.flush();
        tree::prove(self.tree.as_ref(), &Hash::of(key))
    }

    /// Every key-value pair, SCALE-encoded in key order: a restartable snapshot.
    pub fn snapshot(&self) -> Vec<u8> {
        let pairs: Vec<(&Vec<u8>, &Vec<u8>)> =
            self.keys.iter().filter_map(|key| self.entry(key)).collect();
        pairs.encode()
    }

    /// Rebuilds a state from [`State::snapshot`] bytes (strictly decoded).
    pub fn from_snapshot(bytes: &[u8]) -> Result<State, CodecError> {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = decode_strict(bytes, MAX_SNAPSHOT_BYTES)?;
        let mut state = State::new();
        for (key, value) in pairs {
            state.insert(key, value);
        }
        Ok(state)
    }
}

/// A typed view on a state key: SCALE-decodes what it reads.
pub trait StateExt {
    /// Decodes the value under `key`, or `None` when absent. A value that fails to decode is a
    /// corrupted state and is reported as an error.
    fn get_decoded<T: Decode>(&self, key: &[u8]) -> Result<Option<T>, CodecError>;
    /// Encodes and stores `value` under `key`.
    fn put<T: Encode>(&mut self, key: Vec<u8>, value: &T);
}

impl StateExt for State {
    fn get_decoded<T: Decode>(&self, key: &[u8]) -> Result<Option<T>, CodecError> {
        match self.get(key) {
            None => Ok(None),
            Some(bytes) => decode_strict(bytes, usize::MAX).map(Some),
        }
    }

    fn put<T: Encode>(&mut self, key: Vec<u8>, value: &T) {
        self.insert(key, value.encode());
    }
}

#[cfg(test)]
mod tests;
