//! The key-value map under a [`State`](crate::State): a flat base shared by every state derived
//! from it, frozen layers of the changes made since, and a layer of the changes still being
//! made.
//!
//! A node keeps one state per unfinalized block, so the map must clone in O(1). A persistent
//! hash trie alone does, but every read then walks several levels of trie nodes, and a block's
//! first write to a node shared with its parent copies the node with every key and value in it
//! (a reference count bumped per entry, each a cache miss): at 100,000 workers, most of a day's
//! settlement. Here every level is a plain hash table:
//! - a read hashes its key once and probes the live layer, the frozen layers newest first, then
//!   the base, and stops at the first that holds the key (a removed key is held as `None`);
//! - a write goes to the live layer, which belongs to this map alone;
//! - [`Map::freeze`] (at every state root or proof taken after writes, so once a block on a
//!   node) makes the live layer a frozen one, shared by every clone taken after it. Frozen
//!   layers are merged two by two while the newer is at least half the older, and the newest
//!   two whatever their sizes past [`MAX_FROZEN`] layers, so there are few of them; once they
//!   hold more than the base's size divided by [`FOLD_DIVISOR`] (and more than [`FOLD_MIN`]
//!   keys), they are folded into a new base (in place when no other map shares the base, on a
//!   copy otherwise). So a change is copied a few times at most on its way into the base, and
//!   the base is copied once per that share of changes.
//!
//! The keys in order (what scans walk) are the base's sorted keys without those removed since,
//! merged with those added since: two persistent ordered sets that only change when a key
//! appears or goes.

use crate::Bytes;
use hashbrown::hash_table::{Entry, HashTable};
use std::hash::{BuildHasher, RandomState};
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::{Arc, LazyLock};

/// The frozen layers are folded into the base once they hold more than this many keys and
/// more than the base's size divided by [`FOLD_DIVISOR`].
/// Small under test, so that the property tests fold.
const FOLD_MIN: usize = if cfg!(test) { 8 } else { 1 << 14 };

/// See [`FOLD_MIN`].
const FOLD_DIVISOR: usize = 4;

/// At most this many frozen layers: past it the newest two are merged whatever their sizes.
const MAX_FROZEN: usize = 8;

/// One hasher for every level of every map, keyed at random once per process (keys are partly
/// chosen by users, so the table's hash must not be predictable): a key is hashed once and
/// that hash probes every level.
static HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::new);

fn hash(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// A key with its hash, kept so that growing a table or merging layers never hashes again.
#[derive(Clone)]
struct Slot<V> {
    hash: u64,
    key: Bytes,
    value: V,
}

impl<V> Slot<V> {
    fn is(&self, hash: u64, key: &[u8]) -> bool {
        self.hash == hash && self.key.as_slice() == key
    }
}

/// A frozen map: values by key, and the same keys in order.
#[derive(Clone, Default)]
struct Base {
    values: HashTable<Slot<Bytes>>,
    /// Sorted and without repeats: what ordered walks read.
    keys: Vec<Bytes>,
}

impl Base {
    fn find(&self, hash: u64, key: &[u8]) -> Option<&Slot<Bytes>> {
        self.values.find(hash, |slot| slot.is(hash, key))
    }

    /// The position of the first key at or after `start`.
    fn position(&self, start: Bound<&[u8]>) -> usize {
        match start {
            Bound::Included(at) => self.keys.partition_point(|key| key.as_slice() < at),
            Bound::Excluded(at) => self.keys.partition_point(|key| key.as_slice() <= at),
            Bound::Unbounded => 0,
        }
    }
}

/// Changes over the levels below: each key's value now, `None` for a key removed.
#[derive(Clone, Default)]
struct Layer {
    entries: HashTable<Slot<Option<Bytes>>>,
}

impl Layer {
    fn find(&self, hash: u64, key: &[u8]) -> Option<&Slot<Option<Bytes>>> {
        self.entries.find(hash, |slot| slot.is(hash, key))
    }

    fn put(&mut self, slot: Slot<Option<Bytes>>) {
        match self.entries.entry(
            slot.hash,
            |held| held.is(slot.hash, &slot.key),
            |held| held.hash,
        ) {
            Entry::Occupied(mut entry) => entry.get_mut().value = slot.value,
            Entry::Vacant(entry) => {
                entry.insert(slot);
            }
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// `newer`'s changes made over this layer's.
    fn merge(&mut self, newer: Layer) {
        self.entries.reserve(newer.len(), |held| held.hash);
        for slot in newer.entries {
            self.put(slot);
        }
    }
}

/// A shared layer as an owned one: moved out when this is its last holder, copied otherwise.
fn owned(layer: Arc<Layer>) -> Layer {
    Arc::try_unwrap(layer).unwrap_or_else(|shared| (*shared).clone())
}

/// Values by key, cloned in O(1) once frozen (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct Map {
    base: Arc<Base>,
    /// Oldest first: each holds changes over the ones before it and the base.
    frozen: Vec<Arc<Layer>>,
    /// The changes since the last freeze.
    live: Layer,
    /// The keys present now that the base lacks, in order.
    added: im::OrdSet<Bytes>,
    /// The base keys absent now, in order.
    gone: im::OrdSet<Bytes>,
}

impl Map {
    /// A map holding `pairs`, which must be in strictly increasing key order.
    pub(crate) fn from_sorted(pairs: Vec<(Bytes, Bytes)>) -> Map {
        debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
        let mut values = HashTable::with_capacity(pairs.len());
        let mut keys = Vec::with_capacity(pairs.len());
        for (key, value) in pairs {
            keys.push(key.clone());
            let hash = hash(&key);
            values.insert_unique(hash, Slot { hash, key, value }, |held| held.hash);
        }
        Map {
            base: Arc::new(Base { values, keys }),
            ..Map::default()
        }
    }

    /// The newest entry for `key` at any level: the stored key and its value now (`None` when
    /// removed), or `None` when no level holds it.
    fn find(&self, hash: u64, key: &[u8]) -> Option<(&Bytes, Option<&Bytes>)> {
        if let Some(slot) = self.live.find(hash, key) {
            return Some((&slot.key, slot.value.as_ref()));
        }
        for layer in self.frozen.iter().rev() {
            if let Some(slot) = layer.find(hash, key) {
                return Some((&slot.key, slot.value.as_ref()));
            }
        }
        self.base
            .find(hash, key)
            .map(|slot| (&slot.key, Some(&slot.value)))
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<&Bytes> {
        self.find(hash(key), key).and_then(|(_, value)| value)
    }

    /// Sets `key` to `value`; returns the key as stored (the one already held when there is
    /// one: an update allocates no new key) and the value it replaced.
    pub(crate) fn set<K: AsRef<[u8]> + Into<Bytes>>(
        &mut self,
        key: K,
        value: Bytes,
    ) -> (Bytes, Option<Bytes>) {
        let hash = hash(key.as_ref());
        let (key, old) = match self.find(hash, key.as_ref()) {
            Some((held, value)) => (held.clone(), value.cloned()),
            None => (key.into(), None),
        };
        self.write(hash, key.clone(), old.is_some(), Some(value));
        (key, old)
    }

    /// Removes `key`; returns the stored key with the value it held.
    pub(crate) fn take(&mut self, key: &[u8]) -> Option<(Bytes, Bytes)> {
        let hash = hash(key);
        let (key, old) = match self.find(hash, key)? {
            (_, None) => return None,
            (key, Some(old)) => (key.clone(), old.clone()),
        };
        self.write(hash, key.clone(), true, None);
        Some((key, old))
    }

    /// Puts `key`'s new value (`None`: removed) in the live layer, and, when the key appears
    /// or goes (`was_present` against the new value), records it among the base keys gone or
    /// the keys added.
    fn write(&mut self, hash: u64, key: Bytes, was_present: bool, value: Option<Bytes>) {
        let present = value.is_some();
        if present != was_present {
            match (self.base.find(hash, &key).is_some(), present) {
                (true, true) => {
                    self.gone.remove(key.as_slice());
                }
                (true, false) => {
                    self.gone.insert(key.clone());
                }
                (false, true) => {
                    self.added.insert(key.clone());
                }
                (false, false) => {
                    self.added.remove(key.as_slice());
                }
            }
        }
        self.live.put(Slot { hash, key, value });
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.base.values.len() + self.added.len() - self.gone.len()
    }

    /// Every key from `start` on, in order.
    pub(crate) fn keys_from<'a>(
        &'a self,
        start: Bound<&[u8]>,
    ) -> impl Iterator<Item = &'a Bytes> + 'a {
        let base = Without {
            keys: self.base.keys[self.base.position(start)..].iter(),
            gone: self
                .gone
                .range::<_, [u8]>((start, Bound::Unbounded))
                .peekable(),
        };
        let added = self.added.range::<_, [u8]>((start, Bound::Unbounded));
        Merged {
            left: base.peekable(),
            right: added.peekable(),
        }
    }

    /// Freezes the live layer (every clone taken from now on shares it), then merges and folds
    /// as the module docs say. Only the representation changes.
    pub(crate) fn freeze(&mut self) {
        if self.live.len() > 0 {
            self.frozen.push(Arc::new(std::mem::take(&mut self.live)));
        }
        while let [.., older, newer] = self.frozen.as_slice() {
            if older.len() > 2 * newer.len() && self.frozen.len() <= MAX_FROZEN {
                break;
            }
            let newer = self.frozen.pop().map(owned).unwrap_or_default();
            let older = self.frozen.pop().map(owned).unwrap_or_default();
            let mut merged = older;
            merged.merge(newer);
            self.frozen.push(Arc::new(merged));
        }
        let changed: usize = self.frozen.iter().map(|layer| layer.len()).sum();
        if changed > FOLD_MIN.max(self.base.values.len() / FOLD_DIVISOR) {
            self.fold();
        }
    }

    /// Makes the base and every layer into a new base: in place when no other map shares the
    /// base, on a copy otherwise.
    pub(crate) fn fold(&mut self) {
        let mut changes = Layer::default();
        for layer in std::mem::take(&mut self.frozen) {
            changes.merge(owned(layer));
        }
        changes.merge(std::mem::take(&mut self.live));
        if changes.len() == 0 {
            return;
        }
        let mut changes: Vec<Slot<Option<Bytes>>> = changes.entries.into_iter().collect();
        changes.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        self.added = im::OrdSet::new();
        self.gone = im::OrdSet::new();
        let base = Arc::make_mut(&mut self.base);
        // The new key order: the old one without the removed keys, merged with the added.
        let old_keys = std::mem::take(&mut base.keys);
        let mut keys = Vec::with_capacity(old_keys.len() + changes.len());
        let mut old_keys = old_keys.into_iter().peekable();
        base.values.reserve(changes.len(), |held| held.hash);
        for Slot { hash, key, value } in changes {
            while let Some(kept) = old_keys.next_if(|kept| *kept < key) {
                keys.push(kept);
            }
            // Skipped here: pushed back below if the key stays.
            old_keys.next_if(|kept| *kept == key);
            let at = base
                .values
                .entry(hash, |held| held.is(hash, &key), |held| held.hash);
            match (value, at) {
                (Some(value), Entry::Occupied(mut entry)) => {
                    entry.get_mut().value = value;
                    keys.push(key);
                }
                (Some(value), Entry::Vacant(entry)) => {
                    keys.push(key.clone());
                    entry.insert(Slot { hash, key, value });
                }
                (None, Entry::Occupied(entry)) => {
                    entry.remove();
                }
                // Added and removed again since the last fold.
                (None, Entry::Vacant(_)) => {}
            }
        }
        keys.extend(old_keys);
        base.keys = keys;
    }
}

/// Two sorted iterators of disjoint keys as one sorted iterator.
struct Merged<'a, L: Iterator<Item = &'a Bytes>, R: Iterator<Item = &'a Bytes>> {
    left: Peekable<L>,
    right: Peekable<R>,
}

impl<'a, L: Iterator<Item = &'a Bytes>, R: Iterator<Item = &'a Bytes>> Iterator
    for Merged<'a, L, R>
{
    type Item = &'a Bytes;

    fn next(&mut self) -> Option<&'a Bytes> {
        match (self.left.peek(), self.right.peek()) {
            (Some(left), Some(right)) if right < left => self.right.next(),
            (Some(_), _) => self.left.next(),
            (None, _) => self.right.next(),
        }
    }
}

/// Sorted keys without those of a sorted subset of them.
struct Without<'a, K: Iterator<Item = &'a Bytes>, G: Iterator<Item = &'a Bytes>> {
    keys: K,
    gone: Peekable<G>,
}

impl<'a, K: Iterator<Item = &'a Bytes>, G: Iterator<Item = &'a Bytes>> Iterator
    for Without<'a, K, G>
{
    type Item = &'a Bytes;

    fn next(&mut self) -> Option<&'a Bytes> {
        loop {
            let key = self.keys.next()?;
            // Every gone key is one of `keys`: none is passed over without being met.
            if self.gone.next_if(|gone| *gone == key).is_none() {
                return Some(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Model = BTreeMap<Vec<u8>, Vec<u8>>;

    #[derive(Clone, Debug)]
    enum Step {
        Set(u8, u8),
        Take(u8),
        Freeze,
        Fold,
        /// Keep a clone, to be checked at the end and maybe gone back to.
        Fork,
        /// Go back to the newest clone.
        Restore,
        /// Keep going from the newest clone, dropping this map.
        Switch,
        /// Drop the newest clone.
        Drop,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (0..24u8, 0..4u8).prop_map(|(k, v)| Step::Set(k, v)),
            4 => (0..24u8).prop_map(Step::Take),
            3 => Just(Step::Freeze),
            1 => Just(Step::Fold),
            2 => Just(Step::Fork),
            1 => Just(Step::Restore),
            1 => Just(Step::Switch),
            1 => Just(Step::Drop),
        ]
    }

    /// Keys of one and two bytes, so that some are prefixes of others.
    fn key(k: u8) -> Vec<u8> {
        if k.is_multiple_of(3) {
            vec![k / 2]
        } else {
            vec![k / 2, k]
        }
    }

    /// Everything `map` answers agrees with `model`.
    fn agrees(map: &Map, model: &Model) -> Result<(), TestCaseError> {
        prop_assert_eq!(map.len(), model.len());
        for k in 0..24u8 {
            let key = key(k);
            prop_assert_eq!(map.get(&key).map(|v| v.to_vec()), model.get(&key).cloned());
            let from: Vec<Vec<u8>> = map
                .keys_from(Bound::Included(&key))
                .map(|k| k.to_vec())
                .collect();
            let expected: Vec<Vec<u8>> =
                model.range(key.clone()..).map(|(k, _)| k.clone()).collect();
            prop_assert_eq!(from, expected);
            let after: Vec<Vec<u8>> = map
                .keys_from(Bound::Excluded(&key))
                .map(|k| k.to_vec())
                .collect();
            let expected: Vec<Vec<u8>> = model
                .range::<Vec<u8>, _>((Bound::Excluded(key.clone()), Bound::Unbounded))
                .map(|(k, _)| k.clone())
                .collect();
            prop_assert_eq!(after, expected);
        }
        let all: Vec<Vec<u8>> = map
            .keys_from(Bound::Unbounded)
            .map(|k| k.to_vec())
            .collect();
        let expected: Vec<Vec<u8>> = model.keys().cloned().collect();
        prop_assert_eq!(all, expected);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Writes, removals, freezes, merges and folds (in place and on a copy), across clones
        /// that are kept, gone back to and dropped: every map answers what a plain ordered map
        /// under the same steps answers, and no clone sees another's writes.
        #[test]
        fn a_map_and_its_clones_hold_what_a_plain_map_holds(
            seed in proptest::collection::vec((0..24u8, 0..4u8), 0..24),
            steps in proptest::collection::vec(step(), 1..120),
        ) {
            let mut pairs: Model = Model::new();
            for (k, v) in seed {
                pairs.insert(key(k), vec![v]);
            }
            let mut map = Map::from_sorted(
                pairs.iter().map(|(k, v)| (k.clone().into(), v.clone().into())).collect(),
            );
            let mut model = pairs;
            let mut forks: Vec<(Map, Model)> = Vec::new();
            for step in steps {
                match step {
                    Step::Set(k, v) => {
                        let (held, old) = map.set(key(k), vec![v].into());
                        prop_assert_eq!(held.to_vec(), key(k));
                        prop_assert_eq!(old.map(|o| o.to_vec()), model.insert(key(k), vec![v]));
                    }
                    Step::Take(k) => {
                        let taken = map.take(&key(k));
                        let expected = model.remove(&key(k)).map(|v| (key(k), v));
                        prop_assert_eq!(taken.map(|(k, v)| (k.to_vec(), v.to_vec())), expected);
                    }
                    Step::Freeze => map.freeze(),
                    Step::Fold => map.fold(),
                    Step::Fork => forks.push((map.clone(), model.clone())),
                    Step::Restore => {
                        if let Some((fork, held)) = forks.last() {
                            map = fork.clone();
                            model = held.clone();
                        }
                    }
                    Step::Switch => {
                        if let Some((fork, held)) = forks.pop() {
                            map = fork;
                            model = held;
                        }
                    }
                    Step::Drop => {
                        forks.pop();
                    }
                }
                agrees(&map, &model)?;
            }
            for (fork, held) in &forks {
                agrees(fork, held)?;
            }
        }
    }

    /// Every key of `model` reads back its value from `map`, and the map walks exactly them.
    fn holds(map: &Map, model: &Model) {
        for (key, value) in model {
            assert_eq!(map.get(key).map(|v| v.to_vec()).as_ref(), Some(value));
        }
        let all: Vec<Vec<u8>> = map
            .keys_from(Bound::Unbounded)
            .map(|k| k.to_vec())
            .collect();
        assert_eq!(all, model.keys().cloned().collect::<Vec<_>>());
        assert_eq!(map.len(), model.len());
    }

    #[test]
    fn past_the_most_layers_the_newest_are_merged_whatever_their_sizes() {
        // A base big enough that the layers below stay under a quarter of it (no fold).
        let base: Model = (0..8192u32)
            .map(|i| (format!("base-{i:05}").into_bytes(), vec![0]))
            .collect();
        let mut map = Map::from_sorted(
            base.iter()
                .map(|(k, v)| (k.clone().into(), v.clone().into()))
                .collect(),
        );
        let mut model = base;
        let mut kept = Vec::new();
        let mut next = 0u32;
        // Layers of 511, 255, ..., 1 new keys (the first also updates a base key and removes
        // another): each older layer is more than twice the newer, so only the cap on layers
        // merges.
        for (round, bits) in (1..=9u32).rev().enumerate() {
            for _ in 0..(1u32 << bits) - 1 {
                let key = format!("layer-{next:05}").into_bytes();
                map.set(key.clone(), vec![1].into());
                model.insert(key, vec![1]);
                next += 1;
            }
            if round == 0 {
                map.set(b"base-00000".to_vec(), vec![2].into());
                model.insert(b"base-00000".to_vec(), vec![2]);
                assert!(map.take(b"base-00001").is_some());
                model.remove(b"base-00001".as_slice());
            }
            // Kept alive, so that every merge copies shared layers.
            kept.push((map.clone(), model.clone()));
            map.freeze();
            if round + 1 == MAX_FROZEN {
                assert_eq!(map.frozen.len(), MAX_FROZEN, "no merge before the cap");
            }
            assert!(
                map.frozen.len() <= MAX_FROZEN,
                "{} layers",
                map.frozen.len()
            );
        }
        assert_eq!(map.base.values.len(), 8192, "no fold");
        holds(&map, &model);
        for (clone, held) in &kept {
            holds(clone, held);
        }
    }

    #[test]
    fn freezing_keeps_few_layers_and_folds_once_they_outgrow_their_share() {
        let mut map = Map::default();
        for round in 0..200u32 {
            for i in 0..(round % 7 + 1) {
                let key = (round * 8 + i).to_be_bytes().to_vec();
                map.set(key, vec![1].into());
            }
            let kept = map.clone();
            map.freeze();
            assert!(
                map.frozen.len() <= MAX_FROZEN,
                "{} layers",
                map.frozen.len()
            );
            let changed: usize = map.frozen.iter().map(|layer| layer.len()).sum();
            assert!(changed <= FOLD_MIN.max(map.base.values.len() / FOLD_DIVISOR));
            drop(kept);
        }
        assert!(
            !map.base.values.is_empty(),
            "the layers were folded into the base"
        );
        assert_eq!(
            map.len(),
            (0..200u32).map(|r| (r % 7 + 1) as usize).sum::<usize>()
        );
    }
}
