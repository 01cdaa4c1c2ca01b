//! Deterministic simulation of a validator-set change taking effect in consensus.
//!
//! Four validators run the real consensus stack over commonware's simulated p2p network on the
//! deterministic runtime with a fixed seed, each with the node's real [`Chain`] (dev genesis:
//! alice is root). Scenario:
//!
//! 1. Once the chain runs, alice submits `Root(Dispatch(SetValidators([v0, v1, v2])))` to two
//!    validators' mempools: the runtime schedules the new set.
//! 2. The last block of epoch 0 ([`last_height_of_epoch`]) activates it; every node reads the new
//!    set from that block's state, stops epoch 0's simplex instance and starts epoch 1's over
//!    `{v0, v1, v2}`, rooted at the boundary block.
//! 3. Validator [`CRASHED`] (kept by the change) crashes four blocks before the boundary. The
//!    other three, validator 3 included, are a quorum of the old set and finalize the boundary;
//!    then nothing more is finalized for ten seconds, although three of the old four are up,
//!    because epoch 1's set needs [`CRASHED`].
//! 4. Validator 3 (removed) is stopped; [`CRASHED`] re-opens its chain from disk and restarts in
//!    epoch 0, hears votes of epoch 1, has marshal fetch the boundary finalization, moves to
//!    epoch 1 and the new set finalizes until [`TARGET`].
//!
//! Asserted: the call was included before the boundary and only scheduled (the set in state
//! changed exactly at the boundary block, with a `ValidatorsActivated` event); every validator
//! (the stopped one up to where it got) stores the same block, state root and receipts at every
//! height, linked by parent hashes; every certificate up to the boundary belongs to epoch 0 and
//! verifies against the old four; every certificate after it belongs to epoch 1, carries three
//! signatures, verifies against the new three and does NOT verify against the old set; while
//! [`CRASHED`] was down nothing past the boundary was finalized; the restarted validator
//! re-opened where it crashed and caught up; blocks after the boundary were finalized with
//! validator 3 stopped. A second test replays the seed
//! and gets the same chain.

// Test code: a poisoned lock or malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::real_chain::{all_reached, genesis, open_chain, wait_until, RuntimeClock, GENESIS_MS};
use common::{keys, Harness};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Clock as _, Runner as _};
use phalanx_node::consensus::{
    block::DEFAULT_MAX_BLOCK_BYTES, verify_finalization, PublicKey, NAMESPACE,
};
use phalanx_node::Chain;
use phalanx_primitives::call::{Call, PrivilegedCall, RootCall};
use phalanx_primitives::{Hash, Keypair, SignedTransaction, Transaction, PHA};
use phalanx_runtime::events::Event;
use phalanx_runtime::system::{last_height_of_epoch, EPOCH_LENGTH};
use std::{
    collections::BTreeMap,
    time::{Duration, UNIX_EPOCH},
};

/// Fixed seed: the whole run replays from it.
const SEED: u64 = 0x4550_4f43_4853;
/// Validators at genesis.
const VALIDATORS: u64 = 4;
/// The validator the set change removes.
const REMOVED: usize = 3;
/// A validator of the new set that crashes just before the boundary and restarts after it.
const CRASHED: usize = 2;
/// Validators whose mempools receive the root call.
const SUBMIT_VIA: [usize; 2] = [0, 1];
/// Blocks the new set must finalize after the boundary.
const AFTER_BOUNDARY: u64 = 20;
/// Height the remaining validators must pass.
const TARGET: u64 = EPOCH_LENGTH + AFTER_BOUNDARY;

/// Alice (dev root) dispatches `SetValidators(keys)`.
fn set_validators(genesis_hash: &Hash, height: u64, keys: &[PublicKey]) -> SignedTransaction {
    let alice = Keypair::dev("alice");
    let keys: Vec<[u8; 32]> = keys
        .iter()
        .map(|key| key.encode().as_ref().try_into().expect("32-byte key"))
        .collect();
    Transaction {
        signer: alice.account(),
        nonce: 0,
        fee: PHA / 100,
        expires_at: height + 40,
        call: Call::Root(RootCall::Dispatch(PrivilegedCall::SetValidators(keys))),
    }
    .sign(&alice, genesis_hash)
}

/// What one run leaves behind.
struct Outcome {
    old_set: Vec<PublicKey>,
    new_set: Vec<PublicKey>,
    /// The three remaining validators' chains.
    chains: BTreeMap<usize, Chain>,
    /// The removed validator's chain, as it was when stopped.
    removed: Chain,
    /// The set-change transaction.
    call: SignedTransaction,
    /// Validators 0, 1 and 3's heights after ten seconds without [`CRASHED`] past the boundary.
    heights_at_stop: Vec<u64>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn run(
    context: deterministic::Context,
    keys: Vec<commonware_cryptography::ed25519::PrivateKey>,
    dirs: Vec<std::path::PathBuf>,
) -> (BTreeMap<usize, Chain>, Chain, SignedTransaction, Vec<u64>) {
    let validators: Vec<PublicKey> = keys.iter().map(|key| key.public_key()).collect();
    let genesis = genesis(&validators);
    let harness = Harness::start(&context, &validators, DEFAULT_MAX_BLOCK_BYTES).await;
    let clock = RuntimeClock::new(&context);
    let mut chains = BTreeMap::new();
    let mut handles = BTreeMap::new();
    for (index, dir) in dirs.iter().enumerate() {
        let chain = open_chain(dir, &genesis, clock.chain_clock());
        let handle = harness.start_honest(
            &context,
            "validator",
            index,
            keys[index].clone(),
            chain.clone(),
        );
        chains.insert(index, chain);
        handles.insert(index, handle);
    }

    wait_until(&context, &chains, "the first blocks", all_reached(3)).await;
    let first = &chains[&SUBMIT_VIA[0]];
    let call = set_validators(
        &first.genesis_hash(),
        first.height(),
        &validators[..REMOVED],
    );
    for index in SUBMIT_VIA {
        chains[&index]
            .submit_tx(call.clone())
            .unwrap_or_else(|err| panic!("validator {index} refuses the root call: {err}"));
    }

    // Shortly before the boundary, validator CRASHED (kept by the change) crashes.
    let boundary = last_height_of_epoch(0);
    wait_until(
        &context,
        &chains,
        "the crash height",
        all_reached(boundary - 4),
    )
    .await;
    let crashed = handles.remove(&CRASHED).expect("crashed validator runs");
    crashed.abort();
    let _ = crashed.await;
    let crashed_chain = chains.remove(&CRASHED).expect("crashed validator's chain");
    let crashed_at = crashed_chain.height();
    drop(crashed_chain);

    // The other three, the removed validator included, are a quorum of the old set: they
    // finalize the boundary. Then the new set needs CRASHED, so nothing more is finalized although
    // three of the old four are up.
    wait_until(
        &context,
        &chains,
        "the epoch boundary",
        all_reached(boundary),
    )
    .await;
    context.sleep(Duration::from_secs(10)).await;
    let stalled: Vec<u64> = chains.values().map(Chain::height).collect();

    // The removed validator leaves; the crashed one restarts from disk in epoch 0, learns that
    // its peers are in epoch 1, fetches the boundary and joins them.
    let stopped = handles.remove(&REMOVED).expect("removed validator runs");
    stopped.abort();
    let _ = stopped.await;
    let removed = chains.remove(&REMOVED).expect("removed validator's chain");
    let chain = open_chain(&dirs[CRASHED], &genesis, clock.chain_clock());
    assert_eq!(chain.height(), crashed_at, "re-opened where it crashed");
    let restarted = harness.start_honest(
        &context,
        "restarted",
        CRASHED,
        keys[CRASHED].clone(),
        chain.clone(),
    );
    chains.insert(CRASHED, chain);
    handles.insert(CRASHED, restarted);
    let heights_at_stop = stalled;

    wait_until(&context, &chains, "the target", all_reached(TARGET)).await;
    clock.stop();
    (chains, removed, call, heights_at_stop)
}

fn scenario() -> Outcome {
    let keys = keys(VALIDATORS);
    let old_set: Vec<PublicKey> = keys.iter().map(|key| key.public_key()).collect();
    let new_set = old_set[..REMOVED].to_vec();
    let dirs: Vec<tempfile::TempDir> = (0..VALIDATORS)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let paths = dirs.iter().map(|dir| dir.path().to_path_buf()).collect();
    let runtime = deterministic::Config::default()
        .with_seed(SEED)
        .with_start_time(UNIX_EPOCH + Duration::from_millis(GENESIS_MS + 1_000))
        .with_timeout(Some(Duration::from_secs(900)));
    let (chains, removed, call, heights_at_stop) =
        deterministic::Runner::new(runtime).start(move |context| run(context, keys, paths));
    Outcome {
        old_set,
        new_set,
        chains,
        removed,
        call,
        heights_at_stop,
        _dirs: dirs,
    }
}

#[test]
fn a_validator_set_change_takes_effect_at_the_epoch_boundary() {
    let Outcome {
        old_set,
        new_set,
        chains,
        removed,
        call,
        heights_at_stop,
        _dirs,
    } = scenario();
    let boundary = last_height_of_epoch(0);
    eprintln!(
        "remaining heights {:?}, removed validator stopped at {}; while validator {CRASHED} was down, 0, 1 and 3 stayed at {heights_at_stop:?}",
        chains.values().map(Chain::height).collect::<Vec<_>>(),
        removed.height()
    );

    // (a) The call was included before the boundary, succeeded, and only scheduled the set.
    let included = chains[&0]
        .transaction(&call.hash())
        .unwrap()
        .expect("the root call was included");
    assert_eq!(included.receipt.error, None, "the root call failed");
    assert!(
        included.height < boundary,
        "included at {}",
        included.height
    );
    let expected_keys: Vec<[u8; 32]> = new_set
        .iter()
        .map(|key| key.encode().as_ref().try_into().unwrap())
        .collect();
    let boundary_block = chains[&0].block(boundary).unwrap().unwrap();
    assert!(
        boundary_block
            .outcome
            .block_events
            .contains(&Event::ValidatorsActivated { epoch: 1, count: 3 }),
        "the boundary block activates the new set: {:?}",
        boundary_block.outcome.block_events
    );
    for (index, chain) in &chains {
        let state = chain.head_state();
        assert_eq!(
            phalanx_runtime::system::validators(&state).unwrap(),
            expected_keys,
            "validator {index}: the active set"
        );
        assert_eq!(
            phalanx_runtime::system::pending_validators(&state).unwrap(),
            None
        );
    }

    // (b) Everyone reached the target (the removed validator the boundary) without halting.
    for (index, chain) in &chains {
        assert!(
            chain.height() >= TARGET,
            "validator {index} reached only {}",
            chain.height()
        );
        assert_eq!(chain.halted(), None, "validator {index} halted");
    }
    assert!(removed.height() >= boundary);
    // With CRASHED down, validators 0, 1 and 3 (a quorum of the old set) finalized nothing past
    // the boundary: the new set, which needs CRASHED, was in charge.
    assert_eq!(
        heights_at_stop,
        vec![boundary; 3],
        "finalized past the boundary without the new set's quorum"
    );

    // (c) Same block, state root and receipts at every height on every validator; linked.
    let common = chains.values().map(Chain::height).min().unwrap();
    let mut all: Vec<(usize, &Chain)> = chains.iter().map(|(i, c)| (*i, c)).collect();
    all.push((REMOVED, &removed));
    let (mut old_certs, mut new_certs) = (0, 0);
    for height in 0..=common {
        let reference = chains[&0].block(height).unwrap().unwrap();
        let hash = reference.block.hash();
        for (index, chain) in &all {
            if height > chain.height() {
                continue;
            }
            let ours = chain
                .block(height)
                .unwrap()
                .unwrap_or_else(|| panic!("validator {index} lacks height {height}"));
            assert_eq!(
                ours.block.hash(),
                hash,
                "validator {index} differs at {height}"
            );
            assert_eq!(
                ours.block.header.state_root, reference.block.header.state_root,
                "validator {index}: state root at {height}"
            );
            assert_eq!(ours.outcome, reference.outcome, "receipts at {height}");
            assert_eq!(ours.block.header.height, height);
            if height > 0 {
                let parent = chain.block(height - 1).unwrap().unwrap();
                assert_eq!(ours.block.header.parent, parent.block.hash());
            }

            // (d) Certificates belong to the epoch of their block and verify against its set.
            if ours.certificate.is_empty() {
                continue;
            }
            if height <= boundary {
                let at = verify_finalization(&old_set, NAMESPACE, &ours.certificate, &hash)
                    .unwrap_or_else(|err| {
                        panic!("validator {index}: certificate at {height} (epoch 0): {err}")
                    });
                assert_eq!(at.epoch, 0, "height {height}");
                old_certs += 1;
            } else {
                let at = verify_finalization(&new_set, NAMESPACE, &ours.certificate, &hash)
                    .unwrap_or_else(|err| {
                        panic!("validator {index}: certificate at {height} (epoch 1): {err}")
                    });
                assert_eq!(at.epoch, 1, "height {height}");
                assert_eq!(
                    at.signers, 3,
                    "height {height}: the new set's quorum is all three"
                );
                assert!(
                    verify_finalization(&old_set, NAMESPACE, &ours.certificate, &hash).is_err(),
                    "height {height}: an epoch-1 certificate must not verify against the old set"
                );
                new_certs += 1;
            }
        }
    }
    eprintln!("verified {old_certs} epoch-0 and {new_certs} epoch-1 certificates");
    assert!(
        old_certs >= boundary,
        "too few epoch-0 certificates: {old_certs}"
    );
    assert!(
        new_certs >= AFTER_BOUNDARY,
        "too few epoch-1 certificates: {new_certs}"
    );

    // (e) Invariants hold on each head state, whose root is the head's.
    for (index, chain) in &chains {
        let mut state = chain.head_state();
        phalanx_runtime::invariants::check(&state)
            .unwrap_or_else(|err| panic!("validator {index}: invariant broken: {err}"));
        assert_eq!(state.root(), chain.head().header.state_root);
    }
}

/// The fixed seed replays exactly.
#[test]
fn same_seed_replays_the_same_reconfiguration() {
    let hashes = |outcome: &Outcome| -> Vec<Hash> {
        let chain = &outcome.chains[&0];
        (0..=TARGET)
            .map(|height| chain.block(height).unwrap().unwrap().block.hash())
            .collect()
    };
    let (first, second) = (scenario(), scenario());
    assert_eq!(hashes(&first), hashes(&second));
}
