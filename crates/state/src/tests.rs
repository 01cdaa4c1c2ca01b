use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn key(i: u32) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

#[test]
fn empty_state_has_zero_root_and_proves_absence() {
    let mut state = State::new();
    assert_eq!(state.root(), Hash::ZERO);
    let proof = state.prove(b"nothing");
    assert_eq!(proof.verify(&Hash::ZERO, b"nothing", None), Ok(()));
    assert_eq!(
        proof.verify(&Hash::ZERO, b"nothing", Some(b"x")),
        Err(ProofError::ValueMismatch)
    );
}

#[test]
fn root_is_independent_of_insertion_order_and_history() {
    let mut a = State::new();
    let mut b = State::new();
    for i in 0..50 {
        a.insert(key(i), vec![i as u8]);
    }
    for i in (0..50).rev() {
        b.insert(key(i), vec![0xff]);
        b.root();
        b.insert(key(i), vec![i as u8]);
    }
    b.insert(b"temporary".to_vec(), vec![1]);
    b.root();
    b.remove(b"temporary");
    assert_eq!(a.root(), b.root());
}

#[test]
fn removing_everything_returns_to_zero() {
    let mut state = State::new();
    for i in 0..20 {
        state.insert(key(i), vec![1]);
        state.root();
    }
    for i in 0..20 {
        state.remove(&key(i));
        state.root();
    }
    assert_eq!(state.root(), Hash::ZERO);
}

#[test]
fn proofs_reject_wrong_value_wrong_root_and_tampering() {
    let mut state = State::new();
    for i in 0..100 {
        state.insert(key(i), i.to_le_bytes().to_vec());
    }
    let root = state.root();
    let proof = state.prove(&key(7));
    assert_eq!(
        proof.verify(&root, &key(7), Some(&7u32.to_le_bytes())),
        Ok(())
    );
    assert_eq!(
        proof.verify(&root, &key(7), Some(&8u32.to_le_bytes())),
        Err(ProofError::ValueMismatch),
        "tampered value"
    );
    assert_eq!(
        proof.verify(&root, &key(7), None),
        Err(ProofError::ValueMismatch)
    );
    let mut other = state.clone();
    other.insert(b"extra".to_vec(), vec![]);
    let other_root = other.root();
    assert_eq!(
        proof.verify(&other_root, &key(7), Some(&7u32.to_le_bytes())),
        Err(ProofError::RootMismatch),
        "proof for the wrong root"
    );
    let mut tampered = proof.clone();
    tampered.siblings[0].0[0] ^= 1;
    assert_eq!(
        tampered.verify(&root, &key(7), Some(&7u32.to_le_bytes())),
        Err(ProofError::RootMismatch)
    );
    // A proof of one key does not prove another.
    assert!(proof
        .verify(&root, &key(8), Some(&7u32.to_le_bytes()))
        .is_err());
}

#[test]
fn absence_proofs_hold_and_cannot_hide_a_present_key() {
    let mut state = State::new();
    for i in 0..100 {
        state.insert(key(i), vec![1]);
    }
    let root = state.root();
    let absent = state.prove(b"absent");
    assert_eq!(absent.verify(&root, b"absent", None), Ok(()));
    // The absence proof for one key cannot claim a present key is absent.
    let present = state.prove(&key(3));
    assert!(present.verify(&root, &key(3), None).is_err());
    assert!(absent.verify(&root, &key(3), None).is_err());
}

#[test]
fn clones_are_independent_forks() {
    let mut base = State::new();
    base.insert(b"a".to_vec(), b"1".to_vec());
    let base_root = base.root();
    let mut fork = base.clone();
    fork.insert(b"a".to_vec(), b"2".to_vec());
    assert_ne!(fork.root(), base_root);
    assert_eq!(base.root(), base_root);
    assert_eq!(base.get(b"a").map(|v| v.as_slice()), Some(&b"1"[..]));
}

#[test]
fn snapshot_round_trips_with_the_same_root() {
    let mut state = State::new();
    for i in 0..30 {
        state.insert(key(i), vec![i as u8; i as usize]);
    }
    let restored = State::from_snapshot(&state.snapshot()).expect("valid snapshot");
    let mut restored = restored;
    assert_eq!(restored.root(), state.root());
    let mut bad = state.snapshot();
    bad.push(0);
    assert!(State::from_snapshot(&bad).is_err());
}

#[test]
fn scan_prefix_lists_only_that_prefix_in_order() {
    let mut state = State::new();
    state.insert(b"a/2".to_vec(), vec![2]);
    state.insert(b"a/1".to_vec(), vec![1]);
    state.insert(b"b/1".to_vec(), vec![3]);
    let keys: Vec<_> = state.scan_prefix(b"a/").map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, vec![b"a/1".to_vec(), b"a/2".to_vec()]);
}

#[test]
fn golden_root_of_a_small_state() {
    let mut state = State::new();
    state.insert(b"x".to_vec(), b"1".to_vec());
    // One key: the root is its leaf hash.
    let path = Hash::of(b"x");
    assert_eq!(
        state.root(),
        crate::hashing::leaf_hash(&path, &Hash::of(b"1"))
    );
    // sha256(0x00 ‖ sha256("x") ‖ sha256("1")), pinned so a change of the hashing rules shows.
    assert_eq!(
        state.root().to_hex(),
        "5f369f9045f45c4d32a2704d475bb9d4a227427eb768c32f611bba876af8986f"
    );
}

proptest! {
    #[test]
    fn every_key_proves_against_the_root(
        entries in proptest::collection::btree_map(any::<u16>(), any::<u8>(), 0..64),
        removals in proptest::collection::vec(any::<u16>(), 0..16),
        probe in any::<u16>(),
    ) {
        let mut state = State::new();
        let mut model = BTreeMap::new();
        for (k, v) in &entries {
            state.insert(k.to_le_bytes().to_vec(), vec![*v]);
            model.insert(*k, *v);
        }
        for k in &removals {
            state.remove(&k.to_le_bytes());
            model.remove(k);
        }
        let root = state.root();
        // The same content built fresh has the same root.
        let mut fresh = State::new();
        for (k, v) in &model {
            fresh.insert(k.to_le_bytes().to_vec(), vec![*v]);
        }
        prop_assert_eq!(fresh.root(), root);
        for (k, v) in &model {
            let proof = state.prove(&k.to_le_bytes());
            prop_assert_eq!(proof.verify(&root, &k.to_le_bytes(), Some(&[*v])), Ok(()));
        }
        let proof = state.prove(&probe.to_le_bytes());
        let expected = model.get(&probe).map(|v| vec![*v]);
        prop_assert_eq!(proof.verify(&root, &probe.to_le_bytes(), expected.as_deref()), Ok(()));
    }

    #[test]
    fn decoding_arbitrary_proof_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(proof) = Proof::decode_strict(&bytes) {
            let _ = proof.verify(&Hash::ZERO, b"k", None);
        }
    }
}

proptest! {
    #[test]
    fn decoding_arbitrary_snapshot_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(mut state) = State::from_snapshot(&bytes) {
            // Whatever decoded is a consistent state: its snapshot round-trips to the same root.
            let root = state.root();
            let mut again = State::from_snapshot(&state.snapshot()).expect("own snapshot decodes");
            prop_assert_eq!(again.root(), root);
        }
    }
}

/// Applies `writes` one at a time with the single-key reference operations.
fn one_by_one(mut root: Option<std::sync::Arc<tree::Node>>, writes: &tree::Writes) -> Hash {
    for (path, value) in writes {
        root = match value {
            Some(value) => Some(tree::insert(root.as_ref(), 0, *path, *value)),
            None => tree::remove(root.as_ref(), 0, path),
        };
    }
    tree::hash_of(root.as_ref())
}

/// Sorted, one write per path: a flush's batch.
fn batch(writes: &BTreeMap<u16, Option<u8>>) -> Vec<(Hash, Option<Hash>)> {
    let mut batch: Vec<(Hash, Option<Hash>)> = writes
        .iter()
        .map(|(k, v)| (Hash::of(&k.to_le_bytes()), v.map(|v| Hash::of(&[v]))))
        .collect();
    batch.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    batch
}

proptest! {
    /// The batched update builds exactly the tree that one write at a time builds, from any
    /// starting tree and with any mix of new keys, rewrites, removals and removals of absent
    /// keys (the canonical form: a lone key is a leaf, however it came to be alone).
    #[test]
    fn a_batched_update_matches_one_write_at_a_time(
        start in proptest::collection::btree_map(any::<u16>(), any::<u8>(), 0..48),
        writes in proptest::collection::btree_map(any::<u16>(), proptest::option::of(any::<u8>()), 0..48),
    ) {
        let start: BTreeMap<u16, Option<u8>> = start.into_iter().map(|(k, v)| (k, Some(v))).collect();
        let base = tree::update(None, 0, &batch(&start));
        prop_assert_eq!(tree::hash_of(base.as_ref()), one_by_one(None, &batch(&start)));
        let batched = tree::update(base.as_ref(), 0, &batch(&writes));
        prop_assert_eq!(tree::hash_of(batched.as_ref()), one_by_one(base.clone(), &batch(&writes)));
        // And every key it should hold proves against it (so the shape, not just the hash,
        // is the canonical one).
        let mut model = start.clone();
        for (k, v) in &writes {
            match v {
                Some(v) => model.insert(*k, Some(*v)),
                None => model.remove(k),
            };
        }
        let root = tree::hash_of(batched.as_ref());
        for (k, v) in &model {
            let proof = tree::prove(batched.as_ref(), &Hash::of(&k.to_le_bytes()));
            let value = v.map(|v| vec![v]);
            prop_assert_eq!(proof.verify(&root, &k.to_le_bytes(), value.as_deref()), Ok(()));
        }
    }
}

#[test]
fn a_batch_that_removes_all_but_one_key_leaves_a_leaf_at_the_root() {
    let start: BTreeMap<u16, Option<u8>> = (0..10).map(|k| (k, Some(1))).collect();
    let base = tree::update(None, 0, &batch(&start));
    let writes: BTreeMap<u16, Option<u8>> = (1..10).map(|k| (k, None)).collect();
    let after = tree::update(base.as_ref(), 0, &batch(&writes));
    assert!(matches!(after.as_deref(), Some(tree::Node::Leaf { .. })));
    let mut alone = State::new();
    alone.insert(0u16.to_le_bytes().to_vec(), vec![1]);
    assert_eq!(tree::hash_of(after.as_ref()), alone.root());
    let none = tree::update(
        after.as_ref(),
        0,
        &batch(&[(0u16, None)].into_iter().collect()),
    );
    assert!(none.is_none());
}

/// One step of the checkpoint property test below.
#[derive(Clone, Debug)]
enum Step {
    Insert(u8, u8),
    Remove(u8),
    Checkpoint,
    Commit,
    Rollback,
    /// Take the root now (folds the log into the tree mid-checkpoint).
    Root,
    /// Keep a clone to go back to, as a clone-based checkpoint does.
    Fork,
    /// Go back to the newest clone.
    Restore,
    /// Drop the newest clone, keeping what was written since.
    Drop,
}

fn checkpoint_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..10u8, 0..3u8).prop_map(|(k, v)| Step::Insert(k, v)),
        2 => (0..10u8).prop_map(Step::Remove),
        2 => Just(Step::Checkpoint),
        1 => Just(Step::Commit),
        1 => Just(Step::Rollback),
        1 => Just(Step::Root),
        1 => Just(Step::Fork),
        1 => Just(Step::Restore),
        1 => Just(Step::Drop),
    ]
}

/// What a state should hold, as a plain map.
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// A clone kept to go back to, with the map and the number of checkpoints open when taken.
type Fork = (State, Model, usize);

/// The root of a state holding exactly `model`, built afresh.
fn root_of(model: &Model) -> Hash {
    let mut fresh = State::new();
    for (k, v) in model {
        fresh.insert(k.clone(), v.clone());
    }
    fresh.root()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Nested checkpoints committed and rolled back, mixed with roots taken mid-way and with
    /// clone-based checkpoints inside them (as the runtime's modules nest them), leave the
    /// state holding what a plain map under the same steps holds: the same values, the same
    /// ordered scan, the same root as a state built afresh, and proofs of every key against it.
    #[test]
    fn checkpoints_undo_exactly_the_writes_since(
        seed in proptest::collection::vec((0..10u8, 0..3u8), 0..12),
        steps in proptest::collection::vec(checkpoint_step(), 1..80),
    ) {
        let mut state = State::new();
        let mut model = Model::new();
        for (k, v) in seed {
            state.insert(vec![k], vec![v]);
            model.insert(vec![k], vec![v]);
        }
        state.root();
        // Open checkpoints with the map as it was when each was taken.
        let mut open: Vec<(Checkpoint, Model)> = Vec::new();
        // Clones with the map and the number of checkpoints open when each was taken.
        let mut forks: Vec<Fork> = Vec::new();
        let floor = |forks: &Vec<Fork>| {
            forks.last().map_or(0, |(_, _, depth)| *depth)
        };
        for step in steps {
            match step {
                Step::Insert(k, v) => {
                    state.insert(vec![k], vec![v]);
                    model.insert(vec![k], vec![v]);
                }
                Step::Remove(k) => {
                    state.remove(&[k]);
                    model.remove(&vec![k]);
                }
                Step::Checkpoint => open.push((state.checkpoint(), model.clone())),
                // Checkpoints and clones nest: a checkpoint taken before the newest clone is
                // closed only after that clone is gone.
                Step::Commit if open.len() > floor(&forks) => {
                    let (checkpoint, _) = open.pop().expect("open");
                    state.commit(checkpoint);
                }
                Step::Rollback if open.len() > floor(&forks) => {
                    let (checkpoint, before) = open.pop().expect("open");
                    state.rollback(checkpoint);
                    model = before;
                }
                Step::Root => prop_assert_eq!(state.root(), root_of(&model)),
                Step::Fork => forks.push((state.clone(), model.clone(), open.len())),
                Step::Restore if open.len() == floor(&forks) && !forks.is_empty() => {
                    let (clone, before, _) = forks.pop().expect("fork");
                    state = clone;
                    model = before;
                }
                Step::Drop if open.len() == floor(&forks) && !forks.is_empty() => {
                    forks.pop();
                }
                Step::Commit | Step::Rollback | Step::Restore | Step::Drop => {}
            }
            let scanned: Vec<(Vec<u8>, Vec<u8>)> = state
                .scan_prefix(&[])
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            let expected: Vec<(Vec<u8>, Vec<u8>)> =
                model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(scanned, expected);
            prop_assert_eq!(state.len(), model.len());
        }
        let root = state.root();
        prop_assert_eq!(root, root_of(&model));
        for k in 0..10u8 {
            let value = model.get(&vec![k]).map(Vec::as_slice);
            prop_assert_eq!(state.get(&[k]).map(Bytes::as_slice), value);
            prop_assert_eq!(state.prove(&[k]).verify(&root, &[k], value), Ok(()));
        }
        // What is left open closes without complaint.
        while let Some((checkpoint, _)) = open.pop() {
            state.commit(checkpoint);
        }
    }
}
