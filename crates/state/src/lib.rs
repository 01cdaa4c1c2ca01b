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
//! [`State`] clones in O(1) once its root has been taken (as the node takes one every block),
//! so the node keeps one per unfinalized block and forks cost nothing. Writes go to the
//! key-value map at once and are appended to a log of written keys; when the root or a proof is
//! next asked for, the log's distinct keys are applied to the tree as one sorted batch
//! (`tree::update`), so a key written many times in a block is hashed once, and each node on a
//! written path is rehashed once however many written keys pass through it.
//! The key-value map (`map`) is a flat hash table shared by every state derived from it, under
//! a few shared layers of later changes and a layer of this state's own writes since its last
//! root: a read is one hash and a probe per level, and a write never copies anything shared.
//! Keys and values are shared byte strings ([`Bytes`]), so a layer or a base that is copied
//! bumps reference counts rather than copying every key and value.
//!
//! Writes are undone through journaled [`Checkpoint`]s ([`State::checkpoint`], `commit`,
//! `rollback`), not by going back to a clone: while one is open each write notes the value it
//! replaced, and a clone taken then also copies those notes (a clone is O(1) only while none is
//! open).

mod hashing;
mod map;
mod proof;
mod tree;

pub use proof::{Proof, ProofError, Terminal};

use im::Vector;
use map::Map;
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::{decode_strict, CodecError, Hash};
use std::ops::Bound;
use tree::Node;

/// The largest snapshot [`State::from_snapshot`] accepts.
pub const MAX_SNAPSHOT_BYTES: usize = 1 << 32;

/// An immutable, cheaply cloned byte string: a state key or value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(std::sync::Arc<[u8]>);

impl Bytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::borrow::Borrow<[u8]> for Bytes {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Bytes {
        Bytes(bytes.into())
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Bytes {
        Bytes(bytes.into())
    }
}

impl PartialEq<[u8]> for Bytes {
    fn eq(&self, other: &[u8]) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<Vec<u8>> for Bytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        *self.0 == **other
    }
}

/// The chain state: key-value data plus the Merkle tree that commits to it.
#[derive(Clone, Default)]
pub struct State {
    /// Every value by its key, and the keys in order for scans.
    map: Map,
    tree: Option<std::sync::Arc<Node>>,
    /// Keys written since the tree was last brought up to date, in write order and with
    /// repeats: a log, so a write appends to its tail (a second hashed or ordered insert would
    /// walk and copy another tree of nodes); the repeats are dropped when it is folded in.
    dirty: Vector<Bytes>,
    /// While a [`Checkpoint`] is open: each write's key with the value it replaced, oldest
    /// first, what [`State::rollback`] undoes. Empty when none is open.
    journal: Vec<(Bytes, Option<Bytes>)>,
    /// Checkpoints open.
    open: u32,
}

/// A point a [`State`] can go back to: taken with [`State::checkpoint`], closed by
/// [`State::commit`] (keep the writes since) or [`State::rollback`] (undo them).
///
/// Unlike going back to a clone, it costs nothing per write beyond noting the replaced value:
/// a clone copies the state's writes since its last root, which a transaction-sized
/// checkpoint would pay for every transaction.
#[must_use = "a checkpoint is closed by commit or rollback"]
#[derive(Debug)]
pub struct Checkpoint {
    at: usize,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("keys", &self.map.len())
            .finish()
    }
}

impl State {
    /// An empty state (root [`Hash::ZERO`]).
    pub fn new() -> State {
        State::default()
    }

    /// The value under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.map.get(key)
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let (key, old) = self.map.set(key, value.into());
        if self.open > 0 {
            self.journal.push((key.clone(), old));
        }
        self.dirty.push_back(key);
    }

    /// Removes `key`.
    pub fn remove(&mut self, key: &[u8]) {
        if let Some((key, old)) = self.map.take(key) {
            if self.open > 0 {
                self.journal.push((key.clone(), Some(old)));
            }
            self.dirty.push_back(key);
        }
    }

    /// Opens a checkpoint: every write from now on can be undone by [`State::rollback`] until
    /// it is closed. Checkpoints nest (close the inner one first); a clone taken while one is
    /// open carries it.
    pub fn checkpoint(&mut self) -> Checkpoint {
        self.open += 1;
        Checkpoint {
            at: self.journal.len(),
        }
    }

    /// Closes `checkpoint`, keeping every write since it was taken.
    pub fn commit(&mut self, checkpoint: Checkpoint) {
        let Checkpoint { at } = checkpoint;
        debug_assert!(at <= self.journal.len(), "checkpoints close inner first");
        self.close();
    }

    /// Closes `checkpoint`, undoing every write since it was taken, newest first.
    pub fn rollback(&mut self, checkpoint: Checkpoint) {
        let Checkpoint { at } = checkpoint;
        debug_assert!(at <= self.journal.len(), "checkpoints close inner first");
        // Closed out of order, an outer checkpoint's writes were already undone: nothing to
        // undo, rather than a panic.
        let at = at.min(self.journal.len());
        let undone = self.journal.split_off(at);
        for (key, old) in undone.into_iter().rev() {
            match old {
                Some(value) => {
                    self.map.set(key.clone(), value);
                }
                None => {
                    self.map.take(&key);
                }
            }
            // The tree may have taken the undone value in (a root asked for meanwhile):
            // the key is folded in again from what it holds now.
            self.dirty.push_back(key);
        }
        self.close();
    }

    fn close(&mut self) {
        self.open = self.open.saturating_sub(1);
        if self.open == 0 {
            if self.journal.capacity() > 4096 {
                // A large effect's journal is not kept alive in every later state.
                self.journal = Vec::new();
            } else {
                self.journal.clear();
            }
        }
    }

    /// Whether a checkpoint is open (each write is being journaled): after a block's
    /// execution, never.
    pub fn journaling(&self) -> bool {
        self.open > 0
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// `key` with its value: what the ordered key set yields to a scan.
    fn entry<'a>(&'a self, key: &'a Bytes) -> Option<(&'a Bytes, &'a Bytes)> {
        // Every key the map walks has a value.
        self.map.get(key).map(|value| (key, value))
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn scan_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = (&'a Bytes, &'a Bytes)> + 'a {
        self.map
            .keys_from(Bound::Included(prefix))
            .take_while(move |key| key.starts_with(prefix))
            .filter_map(move |key| self.entry(key))
    }

    /// Every `(key, value)` whose key starts with `prefix` and comes after `after` (all of them
    /// when `after` is `None`), in key order: how a cursor resumes a scan where it stopped.
    pub fn scan_prefix_after<'a>(
        &'a self,
        prefix: &'a [u8],
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a Bytes, &'a Bytes)> + 'a {
        self.keys_after(prefix, after)
            .filter_map(move |key| self.entry(key))
    }

    /// The keys of [`State::scan_prefix_after`] without their values: a walk of the ordered
    /// key set alone, with no lookup per key.
    pub fn keys_after<'a>(
        &'a self,
        prefix: &'a [u8],
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = &'a Bytes> + 'a {
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Included(prefix),
        };
        self.map
            .keys_from(start)
            .skip_while(move |key| key.as_slice() < prefix)
            .take_while(move |key| key.starts_with(prefix))
    }

    /// The keys under `prefix` whose next 8 bytes, a big-endian number, are at most `upto`,
    /// in key order and at most `limit` of them: the due entries of a queue keyed by a time or
    /// a height.
    pub fn due_keys(&self, prefix: &[u8], upto: u64, limit: usize) -> Vec<Vec<u8>> {
        let end = prefix.len() + 8;
        self.map
            .keys_from(Bound::Included(prefix))
            .take_while(move |key| key.starts_with(prefix))
            .take_while(|key| {
                key.get(prefix.len()..end)
                    .and_then(|number| number.try_into().ok())
                    .map(u64::from_be_bytes)
                    .is_some_and(|number| number <= upto)
            })
            .take(limit)
            .map(|key| key.to_vec())
            .collect()
    }

    /// Brings the tree up to date with every write so far.
    fn flush(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        // The distinct keys written, found by sorting the log (a key written many times in a
        // block, such as a busy account, is hashed once below).
        let mut written: Vec<Bytes> = std::mem::take(&mut self.dirty).into_iter().collect();
        written.sort_unstable();
        written.dedup();
        // In path order, as one batch: each node on a written path is rebuilt and hashed once.
        let mut writes: Vec<(Hash, Option<Hash>)> = written
            .into_iter()
            .map(|key| (Hash::of(&key), self.map.get(&key).map(|v| Hash::of(v))))
            .collect();
        writes.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.tree = tree::update(self.tree.as_ref(), 0, &writes);
        self.map.freeze();
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
        let pairs: Vec<(&[u8], &[u8])> = self
            .map
            .keys_from(Bound::Unbounded)
            .filter_map(|key| self.entry(key))
            .map(|(key, value)| (key.as_slice(), value.as_slice()))
            .collect();
        pairs.encode()
    }

    /// Rebuilds a state from [`State::snapshot`] bytes (strictly decoded).
    pub fn from_snapshot(bytes: &[u8]) -> Result<State, CodecError> {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = decode_strict(bytes, MAX_SNAPSHOT_BYTES)?;
        let mut state = State::new();
        if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
            // In key order, as `snapshot` writes them: straight into the base.
            let pairs: Vec<(Bytes, Bytes)> = pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect();
            state.dirty = pairs.iter().map(|(key, _)| key.clone()).collect();
            state.map = Map::from_sorted(pairs);
        } else {
            for (key, value) in pairs {
                state.insert(key, value);
            }
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
