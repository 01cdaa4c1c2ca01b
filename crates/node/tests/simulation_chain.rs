//! Deterministic multi-validator simulation of the real Phalanx chain.
//!
//! Like `tests/simulation.rs`, four validators run the real consensus stack
//! ([`phalanx_node::consensus::engine::run`]) over commonware's simulated p2p network on the
//! deterministic runtime with a fixed seed, so any failure replays exactly. Here the application
//! is the node's own [`Chain`]: each honest validator opens one on its own data directory with a
//! dev genesis naming the four validators, executes real signed transactions, stores finalized
//! blocks in its block log and re-opens it from disk after a crash. The chain's clock is the
//! runtime's, so transaction admission and block timestamps replay exactly too.
//!
//! Scenario:
//! 1. Three honest validators and one byzantine validator (commonware's `Conflicter`, which signs
//!    a second, conflicting vote for everything it sees) start together.
//! 2. Alice's transfers to bob are submitted to two validators' mempools (the same signed
//!    transactions to both, as a wallet retrying against another node would).
//! 3. Past height [`CRASH_AT`], honest validator [`CRASHED`] is killed (its whole task tree is
//!    aborted and its `Chain` dropped). With one validator down and one byzantine there is no
//!    quorum, so the network stalls; charlie's transfers are submitted meanwhile.
//! 4. It restarts: its `Chain` is re-opened from its data directory (snapshot + block-log replay)
//!    and consensus resumes from its storage in the deterministic runtime. Once it has caught up,
//!    dave's transfers are submitted to it alone, so they land only if it leads blocks again.
//! 5. Once everyone has passed [`PHASE_ONE_TARGET`] and included those transfers, the whole
//!    runtime stops uncleanly (unsynced consensus writes are resolved as a power loss would). Every
//!    validator re-opens its chain from disk and recovers consensus from its storage; eve's
//!    transfers go in, and the run ends when every honest validator has passed [`TARGET`] and
//!    included every transfer.
//!
//! Asserted: every honest validator reached the target without halting; at every height all of
//! them store the same block, state root and receipts, each block linked to its parent, and every
//! stored finalization certificate verifies; every transfer succeeded at the same place on every
//! chain, and bob's balance and the senders' nonces are the expected ones everywhere; the runtime
//! invariants hold on each head state, whose root is the head's; the equivocation was reported
//! by exactly the validators the seed fixes (0, 1 and 2) and names the byzantine
//! validator; the network did not finalize without a quorum;
//! the crashed validator re-opened at the height it had finalized and caught up; after the
//! unclean stop every chain re-opened where it was. A second test replays the seed and gets the
//! same chain.

// Test code: a poisoned lock or malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::real_chain::{all_reached, genesis, open_chain, wait_until, RuntimeClock, GENESIS_MS};
use common::{keys, Harness};
use commonware_codec::Encode as _;
use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Clock as _, Handle, Runner as _};
use phalanx_node::consensus::{block::DEFAULT_MAX_BLOCK_BYTES, verify_finalization, PublicKey};
use phalanx_node::Chain;
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{Hash, Keypair, SignedTransaction, Transaction, PHA};
use phalanx_runtime::GenesisConfig;
use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, UNIX_EPOCH},
};

/// Fixed seed: the whole run (scheduling, latencies, keys) replays from it.
const SEED: u64 = 0x5048_414c_4348;
/// Validators in the network.
const VALIDATORS: u64 = 4;
/// Index (in key-seed order) of the byzantine validator.
const BYZANTINE: usize = 3;
/// Index of the honest validator that crashes and restarts.
const CRASHED: usize = 2;
/// Validators whose mempools receive alice's transfers.
const ALICE_VIA: [usize; 2] = [0, 1];
/// Validator whose mempool receives charlie's transfers while [`CRASHED`] is down.
const CHARLIE_VIA: usize = 1;
/// Height after which [`CRASHED`] crashes.
const CRASH_AT: u64 = 8;
/// Height every honest validator must pass before the whole network is stopped uncleanly.
const PHASE_ONE_TARGET: u64 = 25;
/// Height every honest validator must pass in the end.
const TARGET: u64 = 40;
/// Validator whose mempool receives eve's transfers after the whole network recovered.
const EVE_VIA: usize = 0;
/// The honest validators that catch the byzantine validator's conflicting votes with [`SEED`].
const EQUIVOCATION_REPORTERS: [usize; 3] = [0, 1, 2];
/// Transfers per sender.
const TRANSFERS: u64 = 4;
/// Dev accounts start with this much.
const DEV_BALANCE: u128 = 1_000_000 * PHA;

/// `from`'s transfer number `nonce` to bob: `nonce + 1` PHA, expiring 200 blocks after `height`.
fn transfer(genesis_hash: &Hash, from: &str, nonce: u64, height: u64) -> SignedTransaction {
    let key = Keypair::dev(from);
    Transaction {
        signer: key.account(),
        nonce,
        fee: PHA / 100,
        expires_at: height + 200,
        call: Call::Balances(BalancesCall::Transfer {
            to: Keypair::dev("bob").account(),
            amount: u128::from(nonce + 1) * PHA,
        }),
    }
    .sign(&key, genesis_hash)
}

/// Submits `from`'s transfers to each of `via` (nonces in order) and returns them.
fn submit_transfers(
    chains: &BTreeMap<usize, Chain>,
    from: &str,
    via: &[usize],
) -> Vec<SignedTransaction> {
    let first = &chains[&via[0]];
    let (genesis_hash, height) = (first.genesis_hash(), first.height());
    let transfers: Vec<_> = (0..TRANSFERS)
        .map(|nonce| transfer(&genesis_hash, from, nonce, height))
        .collect();
    for index in via {
        for tx in &transfers {
            chains[index]
                .submit_tx(tx.clone())
                .unwrap_or_else(|err| panic!("validator {index} refuses {from}'s transfer: {err}"));
        }
    }
    transfers
}

fn included_everywhere(chains: &BTreeMap<usize, Chain>, transfers: &[SignedTransaction]) -> bool {
    chains.values().all(|chain| {
        transfers.iter().all(|tx| {
            chain
                .transaction(&tx.hash())
                .expect("index readable")
                .is_some()
        })
    })
}

/// Opens each listed validator's chain from its data directory and starts it.
fn start_validators(
    context: &deterministic::Context,
    harness: &Harness,
    clock: &RuntimeClock,
    setup: &Setup,
    label: &'static str,
) -> (BTreeMap<usize, Chain>, BTreeMap<usize, Handle<()>>) {
    let mut chains = BTreeMap::new();
    let mut handles = BTreeMap::new();
    for (&index, dir) in &setup.data_dirs {
        let chain = open_chain(dir, &setup.genesis, clock.chain_clock());
        chain.set_reporter(Keypair::dev(REPORTER));
        let handle = harness.start_honest(
            context,
            label,
            index,
            setup.keys[index].clone(),
            chain.clone(),
        );
        chains.insert(index, chain);
        handles.insert(index, handle);
    }
    (chains, handles)
}

/// What both phases share.
#[derive(Clone)]
struct Setup {
    keys: Vec<commonware_cryptography::ed25519::PrivateKey>,
    validators: Vec<PublicKey>,
    genesis: GenesisConfig,
    /// Each honest validator's chain data directory.
    data_dirs: BTreeMap<usize, PathBuf>,
}

impl Setup {
    /// The network's vote namespace, as production derives it from the genesis block.
    fn namespace(&self) -> Vec<u8> {
        let (genesis, _) = phalanx_runtime::genesis_block(&self.genesis).expect("genesis");
        phalanx_light_client::network_namespace(&genesis.hash())
    }
}

/// The account honest validators sign evidence reports with.
const REPORTER: &str = "ferdie";

/// What the first phase saw of the crash.
struct Crash {
    /// The crashed validator's finalized height and head when it crashed.
    height: u64,
    head: Hash,
    /// Its finalized height right after re-opening its chain from disk.
    reopened: u64,
    /// The survivors' heights after it had been down for a while.
    survivors_while_down: Vec<u64>,
    /// Fault reports each honest validator held at the end of phase one (they live in memory,
    /// so phase two starts without them).
    phase_one_faults: BTreeMap<usize, Vec<String>>,
}

/// Phase 1: run, submit transfers, crash one validator, restart it, catch up to
/// [`PHASE_ONE_TARGET`]. Returns the transfers, what the crash looked like and the heights.
async fn phase_one(
    context: deterministic::Context,
    setup: Setup,
) -> (Vec<SignedTransaction>, Crash, BTreeMap<usize, u64>) {
    let harness = Harness::start(&context, &setup.validators, DEFAULT_MAX_BLOCK_BYTES)
        .await
        .with_namespace(setup.namespace());
    let clock = RuntimeClock::new(&context);
    let (mut chains, mut handles) =
        start_validators(&context, &harness, &clock, &setup, "validator");
    for chain in chains.values() {
        assert_eq!(
            chain.height(),
            0,
            "a fresh data directory starts at genesis"
        );
    }
    let _byzantine = harness
        .start_byzantine(&context, setup.keys[BYZANTINE].clone())
        .await;

    wait_until(&context, &chains, "the first blocks", all_reached(2)).await;
    let mut transfers = submit_transfers(&chains, "alice", &ALICE_VIA);
    wait_until(&context, &chains, "the crash height", all_reached(CRASH_AT)).await;

    // Crash: abort the validator's whole task tree and drop its chain (its mempool and
    // unfinalized forks go with it; only its data directory and consensus storage survive).
    let crashed = handles.remove(&CRASHED).expect("crashed validator runs");
    crashed.abort();
    let _ = crashed.await;
    let chain = chains.remove(&CRASHED).expect("crashed validator's chain");
    let (height, head) = (chain.height(), chain.head().hash());
    drop(chain);
    transfers.extend(submit_transfers(&chains, "charlie", &[CHARLIE_VIA]));
    context.sleep(Duration::from_secs(5)).await;
    let survivors_while_down = chains.values().map(Chain::height).collect();

    // Restart: re-open the chain from disk, resume consensus from its storage.
    let chain = open_chain(
        &setup.data_dirs[&CRASHED],
        &setup.genesis,
        clock.chain_clock(),
    );
    chain.set_reporter(Keypair::dev(REPORTER));
    let reopened = chain.height();
    let restarted = harness.start_honest(
        &context,
        "restarted",
        CRASHED,
        setup.keys[CRASHED].clone(),
        chain.clone(),
    );
    chains.insert(CRASHED, chain);
    handles.insert(CRASHED, restarted);

    // Once it has caught up with the others, only it holds dave's transfers: they land only if
    // it leads blocks again.
    wait_until(&context, &chains, "the restarted validator", |chains| {
        let others = chains
            .iter()
            .filter(|(index, _)| **index != CRASHED)
            .map(|(_, chain)| chain.height())
            .min()
            .unwrap_or(0);
        chains[&CRASHED].height() >= others.max(height + 1)
    })
    .await;
    transfers.extend(submit_transfers(&chains, "dave", &[CRASHED]));

    wait_until(&context, &chains, "the phase one target", |chains| {
        all_reached(PHASE_ONE_TARGET)(chains) && included_everywhere(chains, &transfers)
    })
    .await;
    clock.stop();
    let heights = chains
        .iter()
        .map(|(index, chain)| (*index, chain.height()))
        .collect();
    let phase_one_faults = chains
        .iter()
        .map(|(index, chain)| (*index, chain.faults()))
        .collect();
    let crash = Crash {
        height,
        head,
        reopened,
        survivors_while_down,
        phase_one_faults,
    };
    (transfers, crash, heights)
}

/// Phase 2, after the whole runtime stopped uncleanly: every chain re-opens from disk, consensus
/// recovers from its (power-loss resolved) storage, eve's transfers go in and everyone passes
/// [`TARGET`]. Returns the chains and the heights they re-opened at.
async fn phase_two(
    context: deterministic::Context,
    setup: Setup,
) -> (
    BTreeMap<usize, Chain>,
    BTreeMap<usize, u64>,
    Vec<SignedTransaction>,
) {
    let harness = Harness::start(&context, &setup.validators, DEFAULT_MAX_BLOCK_BYTES)
        .await
        .with_namespace(setup.namespace());
    let clock = RuntimeClock::new(&context);
    let (chains, _handles) = start_validators(&context, &harness, &clock, &setup, "recovered");
    let reopened = chains
        .iter()
        .map(|(index, chain)| (*index, chain.height()))
        .collect();
    let _byzantine = harness
        .start_byzantine(&context, setup.keys[BYZANTINE].clone())
        .await;
    let transfers = submit_transfers(&chains, "eve", &[EVE_VIA]);
    wait_until(&context, &chains, "the target", |chains| {
        all_reached(TARGET)(chains) && included_everywhere(chains, &transfers)
    })
    .await;
    clock.stop();
    (chains, reopened, transfers)
}

/// What one run leaves behind.
struct Outcome {
    validators: Vec<PublicKey>,
    /// The honest validators' chains as phase two left them, readable after the run.
    chains: BTreeMap<usize, Chain>,
    /// Their data directories; dropped (deleted) with the outcome.
    _dirs: Vec<tempfile::TempDir>,
    /// Every transfer submitted.
    transfers: Vec<SignedTransaction>,
    crash: Crash,
    /// Heights at the end of phase one, and as re-opened from disk in phase two.
    phase_one_heights: BTreeMap<usize, u64>,
    reopened_heights: BTreeMap<usize, u64>,
}

/// Runs the whole scenario (both phases) from [`SEED`].
fn scenario() -> Outcome {
    let keys = keys(VALIDATORS);
    let validators: Vec<PublicKey> = keys.iter().map(|key| key.public_key()).collect();
    let dirs: Vec<tempfile::TempDir> = (0..VALIDATORS as usize)
        .filter(|index| *index != BYZANTINE)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let setup = Setup {
        genesis: genesis(&validators),
        data_dirs: (0..VALIDATORS as usize)
            .filter(|index| *index != BYZANTINE)
            .zip(&dirs)
            .map(|(index, dir)| (index, dir.path().to_path_buf()))
            .collect(),
        keys,
        validators: validators.clone(),
    };

    let runtime = deterministic::Config::default()
        .with_seed(SEED)
        .with_start_time(UNIX_EPOCH + Duration::from_millis(GENESIS_MS + 1_000))
        .with_timeout(Some(Duration::from_secs(600)));
    let ((mut transfers, crash, phase_one_heights), checkpoint) =
        deterministic::Runner::new(runtime).start_and_recover({
            let setup = setup.clone();
            move |context| phase_one(context, setup)
        });
    let (chains, reopened_heights, more) =
        deterministic::Runner::from(checkpoint).start(move |context| phase_two(context, setup));
    transfers.extend(more);
    Outcome {
        validators,
        chains,
        _dirs: dirs,
        transfers,
        crash,
        phase_one_heights,
        reopened_heights,
    }
}

#[test]
fn honest_validators_agree_on_every_state_root_through_crash_restart_and_equivocation() {
    let outcome = scenario();
    let Outcome {
        validators,
        chains,
        transfers,
        crash,
        phase_one_heights,
        reopened_heights,
        ..
    } = &outcome;
    for (index, chain) in chains {
        eprintln!(
            "validator {index}: height {}, faults {}",
            chain.height(),
            chain.faults().len()
        );
    }
    eprintln!(
        "crashed at {}, re-opened at {}, survivors while it was down {:?}; \
         phase one ended at {phase_one_heights:?}, phase two re-opened at {reopened_heights:?}",
        crash.height, crash.reopened, crash.survivors_while_down
    );

    // (a) Everyone reached the target and nobody stopped following the chain.
    for (index, chain) in chains {
        assert!(
            chain.height() >= TARGET,
            "validator {index} reached only {}",
            chain.height()
        );
        assert_eq!(chain.halted(), None, "validator {index} halted");
    }

    // (b) Same block, so same state root, at every height; linked; certificates verify.
    let namespace = phalanx_light_client::network_namespace(&chains[&0].genesis_hash());
    let common = chains.values().map(Chain::height).min().unwrap();
    let mut certified = BTreeMap::<usize, u64>::new();
    for height in 0..=common {
        let stored: BTreeMap<usize, _> = chains
            .iter()
            .map(|(index, chain)| {
                let stored = chain
                    .block(height)
                    .expect("store readable")
                    .unwrap_or_else(|| panic!("validator {index} lacks height {height}"));
                (*index, stored)
            })
            .collect();
        let (first, reference) = stored.iter().next().unwrap();
        for (index, ours) in &stored {
            let (hash, reference_hash) = (ours.block.hash(), reference.block.hash());
            assert_eq!(
                hash, reference_hash,
                "validators {index} and {first} store different blocks at height {height}"
            );
            assert_eq!(
                ours.block.header.state_root, reference.block.header.state_root,
                "validators {index} and {first} disagree on the state root at height {height}"
            );
            assert_eq!(ours.outcome, reference.outcome, "same receipts at {height}");
            assert_eq!(ours.block.header.height, height);
            if height > 0 {
                let parent = chains[index].block(height - 1).unwrap().unwrap();
                assert_eq!(ours.block.header.parent, parent.block.hash());
                assert!(ours.block.header.timestamp_ms >= parent.block.header.timestamp_ms);
            }
            if !ours.certificate.is_empty() {
                verify_finalization(validators, &namespace, &ours.certificate, &hash)
                    .unwrap_or_else(|err| {
                        panic!("validator {index}: certificate at {height} fails: {err}")
                    });
                *certified.entry(*index).or_default() += 1;
            }
        }
    }
    for (index, chain) in chains {
        let count = certified.get(index).copied().unwrap_or(0);
        assert!(
            count >= chain.height() / 2,
            "validator {index}: only {count} of {} heights certified",
            chain.height()
        );
    }

    // (c) Every transfer was included, succeeded, at the same place everywhere; bob got them all.
    assert_eq!(transfers.len() as u64, 4 * TRANSFERS);
    let mut blocks_with_transfers = std::collections::BTreeSet::new();
    for tx in transfers {
        let locations: Vec<_> = chains
            .values()
            .map(|chain| chain.transaction(&tx.hash()).unwrap().expect("included"))
            .collect();
        assert!(locations.iter().all(|at| at == &locations[0]));
        assert_eq!(locations[0].receipt.error, None, "transfer failed");
        blocks_with_transfers.insert(locations[0].height);
    }
    eprintln!("transfers landed in blocks {blocks_with_transfers:?}");
    let sent_per_sender: u128 = (1..=u128::from(TRANSFERS)).sum::<u128>() * PHA;
    let bob = Keypair::dev("bob").account();
    for (index, chain) in chains {
        let state = chain.head_state();
        let balance = phalanx_runtime::balances::account(&state, &bob)
            .expect("bob readable")
            .free;
        assert_eq!(
            balance,
            DEV_BALANCE + 4 * sent_per_sender,
            "bob's balance on validator {index}"
        );
        for sender in ["alice", "charlie", "dave", "eve"] {
            let account = Keypair::dev(sender).account();
            assert_eq!(
                phalanx_runtime::system::nonce(&state, &account).unwrap(),
                TRANSFERS,
                "{sender}'s nonce on validator {index}"
            );
        }
        // (d) Runtime invariants hold on the head state, which is the head's.
        phalanx_runtime::invariants::check(&state)
            .unwrap_or_else(|err| panic!("validator {index}: invariant broken: {err}"));
        let mut state = state;
        assert_eq!(state.root(), chain.head().header.state_root);
    }

    // (e) The equivocation was reported, naming the byzantine validator. Fault reports live in
    // memory, so both phases are counted: each honest validator blocks the equivocator after its
    // first fault, and with a fixed seed exactly the same validators catch a conflicting pair in
    // every run.
    let byzantine = hex::encode(validators[BYZANTINE].encode());
    let mut reporters = std::collections::BTreeSet::new();
    let mut all_faults = Vec::new();
    let phase_two_faults = chains.iter().map(|(index, chain)| (*index, chain.faults()));
    for (index, faults) in crash
        .phase_one_faults
        .clone()
        .into_iter()
        .chain(phase_two_faults)
    {
        for fault in faults {
            assert!(
                fault.contains(&byzantine),
                "validator {index} accuses someone else: {fault}"
            );
            reporters.insert(index);
            all_faults.push(fault);
        }
    }
    eprintln!("validators that reported the equivocation: {reporters:?}");
    assert_eq!(
        reporters,
        EQUIVOCATION_REPORTERS.into_iter().collect(),
        "the seed fixes who catches the equivocation"
    );
    assert!(all_faults.iter().any(|f| f.contains("ConflictingNotarize")));

    // (e') The evidence reached the chain: the validator that caught it submitted it, every
    // chain verified and stored it (it survives the restarts that wiped the in-memory reports),
    // and the reporter's fee came back.
    let byzantine_key: [u8; 32] = validators[BYZANTINE]
        .encode()
        .as_ref()
        .try_into()
        .expect("32-byte key");
    let mut stored = Vec::new();
    for (index, chain) in chains {
        let records = phalanx_runtime::evidence::all(&chain.head_state()).expect("readable");
        eprintln!("validator {index} stores {} fault record(s)", records.len());
        assert!(!records.is_empty(), "validator {index} stores no evidence");
        for record in &records {
            assert_eq!(
                record.validator, byzantine_key,
                "only the byzantine is accused"
            );
            assert_eq!(record.reporter, Keypair::dev(REPORTER).account());
        }
        stored.push(records);
    }
    assert!(
        stored.iter().all(|records| records == &stored[0]),
        "same records everywhere"
    );
    assert!(
        stored[0].iter().any(|record| record.kind == 0),
        "a conflicting notarize"
    );

    // (f) The crashed validator recovered its finalized chain from disk, caught up and agrees
    // (its blocks were compared above). While it was down, one crashed plus one byzantine
    // validator left no quorum: the survivors finalized at most what was already in flight.
    assert!(crash.height >= CRASH_AT);
    assert_eq!(
        crash.reopened, crash.height,
        "re-opening the chain restores every finalized block"
    );
    assert_eq!(
        chains[&CRASHED]
            .block(crash.height)
            .unwrap()
            .unwrap()
            .block
            .hash(),
        crash.head
    );
    for survivor in &crash.survivors_while_down {
        assert!(
            *survivor <= crash.height + 2,
            "the network kept finalizing without a quorum: {survivor} after {}",
            crash.height
        );
    }
    // After the unclean stop of everyone, each chain re-opened at what it had finalized.
    assert_eq!(reopened_heights, phase_one_heights);
    for height in phase_one_heights.values() {
        assert!(*height >= PHASE_ONE_TARGET);
    }
}

/// The fixed seed replays exactly: a second run finalizes the very same blocks.
#[test]
fn same_seed_replays_the_same_chain() {
    let hashes = |outcome: &Outcome| -> Vec<Hash> {
        let chain = &outcome.chains[&0];
        (0..=TARGET)
            .map(|height| chain.block(height).unwrap().unwrap().block.hash())
            .collect()
    };
    let (first, second) = (scenario(), scenario());
    assert_eq!(hashes(&first), hashes(&second));
    assert_eq!(first.crash.height, second.crash.height);
}
