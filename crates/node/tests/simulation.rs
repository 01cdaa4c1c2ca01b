//! Deterministic multi-validator simulation of Phalanx consensus.
//!
//! Four validators run the real consensus stack ([`phalanx_node::consensus::engine::run`]:
//! simplex + marshal + block broadcast + backfill) over commonware's simulated p2p network on the
//! deterministic runtime with a fixed seed, so any failure replays exactly. The chain is a toy:
//! a block carries a counter and its state root is `H(parent root ‖ height)`.
//!
//! Scenario:
//! 1. Three honest validators and one byzantine validator (commonware's `Conflicter` mock, which
//!    signs a second, conflicting notarize/finalize vote for everything it sees) start together.
//! 2. Once the chain passes height 10, honest validator `CRASHED` is killed (its whole task tree is
//!    aborted). With one validator down and one byzantine, no quorum exists and the network
//!    stalls, as BFT must with more than `f` faults.
//! 3. It restarts on the same storage with a fresh in-memory chain (only its durable chain
//!    store survives) and must catch up through backfill; everyone passes height 25.
//! 4. The whole runtime is then stopped uncleanly and recovered from its checkpoint (unsynced
//!    writes are resolved as a power loss would); all validators restart and pass height 40.
//!
//! Asserted: the honest validators finalize every height up to the target, agree on the block
//! hash and state root at every height, each delivered block links to its predecessor, every
//! delivered finalization certificate verifies with `verify_finalization`, and the equivocation
//! was reported as verifiable misbehaviour naming the byzantine validator.

// Test code: a poisoned lock or malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{keys, Harness};
use commonware_cryptography::{ed25519, Signer as _};
use commonware_runtime::{deterministic, Clock as _, Runner as _};
use phalanx_node::consensus::{
    evidence::verify_misbehaviour, verify_finalization, Application, ChainBlock, Misbehaviour,
    MisbehaviourKind, PublicKey, Verdict, NAMESPACE,
};
use phalanx_primitives::Hash;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

/// Fixed seed: the whole run (scheduling, latencies, keys) replays from it.
const SEED: u64 = 0x5048_414c;
/// Validators in the network.
const VALIDATORS: u64 = 4;
/// Index (in key-seed order) of the byzantine validator.
const BYZANTINE: usize = 3;
/// Index of the honest validator that crashes and restarts.
const CRASHED: usize = 2;
/// Largest toy block.
const MAX_BLOCK_BYTES: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Toy chain
// ---------------------------------------------------------------------------------------------

/// A toy block: a counter and a state root derived from the parent's.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ToyBlock {
    height: u64,
    parent: Hash,
    timestamp_ms: u64,
    counter: u64,
    state_root: Hash,
}

const TOY_BLOCK_LEN: usize = 8 + 32 + 8 + 8 + 32;

impl ChainBlock for ToyBlock {
    fn block_hash(&self) -> Hash {
        Hash::of(&self.to_bytes())
    }
    fn block_height(&self) -> u64 {
        self.height
    }
    fn parent_hash(&self) -> Hash {
        self.parent
    }
    fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TOY_BLOCK_LEN);
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.parent.0);
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.counter.to_le_bytes());
        out.extend_from_slice(&self.state_root.0);
        out
    }
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != TOY_BLOCK_LEN {
            return None;
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let hash_at = |at: usize| Hash(bytes[at..at + 32].try_into().unwrap());
        Some(ToyBlock {
            height: u64_at(0),
            parent: hash_at(8),
            timestamp_ms: u64_at(40),
            counter: u64_at(48),
            state_root: hash_at(56),
        })
    }
}

fn state_root(parent_root: &Hash, height: u64) -> Hash {
    Hash::of_parts(&[&parent_root.0, &height.to_le_bytes()])
}

fn genesis() -> ToyBlock {
    ToyBlock {
        height: 0,
        parent: Hash([0; 32]),
        timestamp_ms: 0,
        counter: 0,
        state_root: Hash::of(b"phalanx-simulation-genesis"),
    }
}

/// What a validator's chain keeps on "disk": it survives crashes.
#[derive(Debug)]
struct Durable {
    /// Finalized blocks by height.
    blocks: BTreeMap<u64, ToyBlock>,
    /// Heights that arrived with a certificate that verified.
    certified: Vec<u64>,
    /// Problems seen while applying finalized blocks (must stay empty).
    violations: Vec<String>,
    /// Misbehaviour reported by consensus.
    evidence: Vec<Misbehaviour>,
}

impl Durable {
    fn new() -> Arc<Mutex<Durable>> {
        Arc::new(Mutex::new(Durable {
            blocks: BTreeMap::from([(0, genesis())]),
            certified: Vec::new(),
            violations: Vec::new(),
            evidence: Vec::new(),
        }))
    }

    fn tip(&self) -> u64 {
        self.blocks.keys().next_back().copied().unwrap_or(0)
    }
}

/// The toy chain: durable finalized store plus in-memory post-states of unfinalized blocks
/// (lost on crash, as a real node's would be).
#[derive(Clone)]
struct ToyChain {
    validators: Vec<PublicKey>,
    durable: Arc<Mutex<Durable>>,
    /// Hashes of blocks whose post-state this process knows.
    known: Arc<Mutex<HashMap<Hash, ToyBlock>>>,
}

impl ToyChain {
    fn new(validators: Vec<PublicKey>, durable: Arc<Mutex<Durable>>) -> Self {
        Self {
            validators,
            durable,
            known: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn knows(&self, block: &ToyBlock) -> bool {
        let hash = block.block_hash();
        self.known.lock().unwrap().contains_key(&hash)
            || self
                .durable
                .lock()
                .unwrap()
                .blocks
                .get(&block.height)
                .is_some_and(|stored| stored.block_hash() == hash)
    }
}

impl Application for ToyChain {
    type Block = ToyBlock;

    fn genesis(&self) -> ToyBlock {
        genesis()
    }

    fn propose(&self, parent: &ToyBlock, timestamp_ms: u64) -> Option<ToyBlock> {
        if !self.knows(parent) {
            return None;
        }
        let height = parent.height + 1;
        let block = ToyBlock {
            height,
            parent: parent.block_hash(),
            timestamp_ms: timestamp_ms.max(parent.timestamp_ms + 1),
            counter: parent.counter + 1,
            state_root: state_root(&parent.state_root, height),
        };
        self.known
            .lock()
            .unwrap()
            .insert(block.block_hash(), block.clone());
        Some(block)
    }

    fn verify(&self, parent: &ToyBlock, block: &ToyBlock, now_ms: u64) -> Verdict {
        if !self.knows(parent) {
            return Verdict::UnknownParent;
        }
        let valid = block.height == parent.height + 1
            && block.parent == parent.block_hash()
            && block.timestamp_ms > parent.timestamp_ms
            && block.timestamp_ms <= now_ms + 5_000
            && block.counter == parent.counter + 1
            && block.state_root == state_root(&parent.state_root, block.height);
        if !valid {
            return Verdict::Invalid;
        }
        self.known
            .lock()
            .unwrap()
            .insert(block.block_hash(), block.clone());
        Verdict::Valid
    }

    fn finalized(&self, block: ToyBlock, certificate: Option<Vec<u8>>) {
        let mut durable = self.durable.lock().unwrap();
        let tip = durable.tip();
        if block.height <= tip {
            // Replay after a restart: must be the block we already have.
            if durable.blocks.get(&block.height) != Some(&block) {
                durable
                    .violations
                    .push(format!("conflicting replay at height {}", block.height));
            }
            return;
        }
        let expected_parent = durable.blocks[&tip].block_hash();
        if block.height != tip + 1 || block.parent != expected_parent {
            durable.violations.push(format!(
                "height {} delivered after {} or does not link to it",
                block.height, tip
            ));
        }
        if let Some(certificate) = certificate {
            match verify_finalization(
                &self.validators,
                NAMESPACE,
                &certificate,
                &block.block_hash(),
            ) {
                Ok(_) => durable.certified.push(block.height),
                Err(err) => durable
                    .violations
                    .push(format!("bad certificate at height {}: {err}", block.height)),
            }
        }
        durable.blocks.insert(block.height, block);
        // Unfinalized post-states below the tip are no longer needed.
        let tip = durable.tip();
        self.known
            .lock()
            .unwrap()
            .retain(|_, known| known.height > tip);
    }

    fn finalized_height(&self) -> u64 {
        self.durable.lock().unwrap().tip()
    }

    fn misbehaviour(&self, evidence: Misbehaviour) {
        self.durable.lock().unwrap().evidence.push(evidence);
    }
}

// ---------------------------------------------------------------------------------------------
// Network harness
// ---------------------------------------------------------------------------------------------

/// Waits until every listed store reaches `height`.
async fn wait_for(context: &deterministic::Context, stores: &[Arc<Mutex<Durable>>], height: u64) {
    let mut polls = 0u64;
    loop {
        let tips: Vec<u64> = stores
            .iter()
            .map(|store| store.lock().unwrap().tip())
            .collect();
        if tips.iter().all(|tip| *tip >= height) {
            return;
        }
        polls += 1;
        if polls.is_multiple_of(40) {
            eprintln!(
                "waiting for height {height}: tips {tips:?} at {:?}",
                context.current()
            );
        }
        context.sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------------------------

/// Outcome of one run of the scenario.
struct Outcome {
    validators: Vec<PublicKey>,
    honest: Vec<usize>,
    stores: Vec<Arc<Mutex<Durable>>>,
    crash_tip: u64,
}

/// Runs the whole scenario (both phases) from `SEED`.
fn scenario() -> Outcome {
    let keys = keys(VALIDATORS);
    let validators: Vec<PublicKey> = keys.iter().map(|key| key.public_key()).collect();
    let honest: Vec<usize> = (0..VALIDATORS as usize)
        .filter(|i| *i != BYZANTINE)
        .collect();
    let stores: Vec<Arc<Mutex<Durable>>> = (0..VALIDATORS).map(|_| Durable::new()).collect();
    let honest_stores: Vec<_> = honest.iter().map(|i| stores[*i].clone()).collect();

    // Phase 1: run, crash one validator, restart it, catch up.
    let runtime = deterministic::Config::default()
        .with_seed(SEED)
        .with_timeout(Some(Duration::from_secs(900)));
    let (crash_tip, checkpoint) = deterministic::Runner::new(runtime).start_and_recover({
        let (keys, validators, stores, honest, honest_stores) = (
            keys.clone(),
            validators.clone(),
            stores.clone(),
            honest.clone(),
            honest_stores.clone(),
        );
        move |context| async move {
            let harness = Harness::start(&context, &validators, MAX_BLOCK_BYTES).await;
            let mut handles = BTreeMap::new();
            for &index in &honest {
                let chain = ToyChain::new(validators.clone(), stores[index].clone());
                let handle =
                    harness.start_honest(&context, "validator", index, keys[index].clone(), chain);
                handles.insert(index, handle);
            }
            let _byzantine = harness
                .start_byzantine(&context, keys[BYZANTINE].clone())
                .await;

            wait_for(&context, &honest_stores, 10).await;

            // Crash: abort the validator's whole task tree.
            let crashed = handles.remove(&CRASHED).expect("crashed validator runs");
            crashed.abort();
            let _ = crashed.await;
            let crash_tip = stores[CRASHED].lock().unwrap().tip();
            context.sleep(Duration::from_secs(5)).await;

            // Restart on the same storage, with only the durable chain store surviving.
            let chain = ToyChain::new(validators.clone(), stores[CRASHED].clone());
            let restarted =
                harness.start_honest(&context, "restarted", CRASHED, keys[CRASHED].clone(), chain);
            handles.insert(CRASHED, restarted);
            wait_for(&context, &honest_stores, 25).await;
            crash_tip
        }
    });

    // Phase 2: recover the whole network from an unclean shutdown and keep going.
    deterministic::Runner::from(checkpoint).start({
        let (keys, validators, stores, honest, honest_stores) = (
            keys.clone(),
            validators.clone(),
            stores.clone(),
            honest.clone(),
            honest_stores.clone(),
        );
        move |context| async move {
            let harness = Harness::start(&context, &validators, MAX_BLOCK_BYTES).await;
            let mut handles = Vec::new();
            for &index in &honest {
                let chain = ToyChain::new(validators.clone(), stores[index].clone());
                handles.push(harness.start_honest(
                    &context,
                    "recovered",
                    index,
                    keys[index].clone(),
                    chain,
                ));
            }
            let _byzantine = harness
                .start_byzantine(&context, keys[BYZANTINE].clone())
                .await;
            wait_for(&context, &honest_stores, 40).await;
        }
    });

    Outcome {
        validators,
        honest,
        stores,
        crash_tip,
    }
}

#[test]
fn honest_validators_agree_through_crash_restart_and_equivocation() {
    let Outcome {
        validators,
        honest,
        stores,
        crash_tip,
    } = scenario();
    for &index in &honest {
        let store = stores[index].lock().unwrap();
        eprintln!(
            "validator {index}: tip {}, certified heights {}, evidence {}",
            store.tip(),
            store.certified.len(),
            store.evidence.len()
        );
    }
    eprintln!("crashed validator was at height {crash_tip} when it crashed");

    // Every honest validator finalized the same chain.
    let reference = stores[honest[0]].lock().unwrap().blocks.clone();
    let reference_tip = reference.keys().next_back().copied().unwrap_or(0);
    assert!(
        crash_tip >= 10,
        "crashed validator had progressed before the crash"
    );
    for &index in &honest {
        let store = stores[index].lock().unwrap();
        assert!(
            store.tip() >= 40,
            "validator {index} reached only {}",
            store.tip()
        );
        assert!(
            store.violations.is_empty(),
            "validator {index} saw violations: {:?}",
            store.violations
        );
        let common = store.tip().min(reference_tip);
        for height in 0..=common {
            let ours = &store.blocks[&height];
            let theirs = &reference[&height];
            assert_eq!(
                ours.block_hash(),
                theirs.block_hash(),
                "validators {index} and {} disagree at height {height}",
                honest[0]
            );
            assert_eq!(ours.state_root, theirs.state_root);
            assert_eq!(ours.counter, height);
        }
        // Most heights arrive with their own certificate, all of which verified above.
        assert!(
            store.certified.len() as u64 >= store.tip() / 2,
            "validator {index}: only {} of {} heights certified",
            store.certified.len(),
            store.tip()
        );
    }

    // The restarted validator caught up past where it crashed.
    assert!(stores[CRASHED].lock().unwrap().tip() >= 40);

    // The equivocation was reported, names the byzantine validator and re-verifies.
    let byzantine_key = &validators[BYZANTINE];
    let mut reported = 0;
    for &index in &honest {
        for evidence in &stores[index].lock().unwrap().evidence {
            assert_eq!(
                &evidence.validator, byzantine_key,
                "only the byzantine node is accused"
            );
            let checked = verify_misbehaviour(&validators, NAMESPACE, &evidence.evidence)
                .expect("evidence verifies");
            assert_eq!(&checked, evidence);
            reported += 1;
        }
    }
    assert!(reported > 0, "the equivocation was not reported");
    let kinds: Vec<MisbehaviourKind> = honest
        .iter()
        .flat_map(|i| {
            stores[*i]
                .lock()
                .unwrap()
                .evidence
                .iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(kinds.contains(&MisbehaviourKind::ConflictingNotarize));
}

/// The fixed seed replays exactly: a second run finalizes the very same blocks.
#[test]
fn same_seed_replays_the_same_chain() {
    let first = scenario();
    let second = scenario();
    let chain = |outcome: &Outcome| -> Vec<Hash> {
        let store = outcome.stores[outcome.honest[0]].lock().unwrap();
        store.blocks.values().map(ToyBlock::block_hash).collect()
    };
    let (a, b) = (chain(&first), chain(&second));
    let common = a.len().min(b.len());
    assert!(common > 40);
    assert_eq!(a[..common], b[..common]);
}

/// A network of one validator (the `phalanx dev` setup) finalizes on its own.
#[test]
fn single_validator_finalizes_alone() {
    let key = ed25519::PrivateKey::from_seed(7);
    let validators = vec![key.public_key()];
    let store = Durable::new();
    let runtime = deterministic::Config::default()
        .with_seed(SEED)
        .with_timeout(Some(Duration::from_secs(120)));
    deterministic::Runner::new(runtime).start({
        let store = store.clone();
        move |context| async move {
            let harness = Harness::start(&context, &validators, MAX_BLOCK_BYTES).await;
            let chain = ToyChain::new(validators.clone(), store.clone());
            let _validator = harness.start_honest(&context, "validator", 0, key, chain);
            wait_for(&context, std::slice::from_ref(&store), 20).await;
            // Blocks are spaced by the block interval, not produced as fast as possible.
            let elapsed = context
                .current()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            assert!(
                elapsed >= Duration::from_millis(500 * 19),
                "blocks came too fast"
            );
        }
    });
    let store = store.lock().unwrap();
    assert!(store.violations.is_empty(), "{:?}", store.violations);
    assert_eq!(store.certified.len() as u64, store.tip());
}
