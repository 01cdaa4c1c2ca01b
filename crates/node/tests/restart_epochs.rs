//! Restarts across epoch boundaries, on the real chain in the deterministic runtime.
//!
//! A validator restarted past the first epoch boundary used to never finalize again: at start
//! the consensus engine asked marshal for the previous epoch's last block before marshal's actor
//! was running, and waited forever. This simulation restarts validators, one at a time and all
//! together, in epoch 0, epoch 1 and epoch 5 (and one kept down from epoch 2 into epoch 4, more
//! than an epoch behind), each time both "cleanly" (the chain writes its
//! checkpoint first, as Ctrl-C and SIGTERM do) and "killed" (the task tree is aborted with no
//! warning, as kill -9 does; for the whole network the runtime also loses every unsynced write,
//! as a power cut would). After every restart a transfer is submitted to the restarted
//! validator, and the test waits until every chain, the restarted one included, has finalized
//! it.
//!
//! Asserted: every chain re-opens at exactly the height it had finalized (nothing reported
//! finalized is forgotten), every transfer lands once with no error at the same place on every
//! chain, all chains store the same block at every height with certificates of the right epoch,
//! and nobody halts.

// Test code: a poisoned lock or malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::real_chain::{all_reached, genesis, open_chain, wait_until, RuntimeClock, GENESIS_MS};
use common::{keys, Harness};
use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Clock as _, Handle, Runner as _};
use phalanx_node::consensus::{block::DEFAULT_MAX_BLOCK_BYTES, PublicKey, NAMESPACE};
use phalanx_node::Chain;
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{Keypair, SignedTransaction, Transaction, PHA};
use phalanx_runtime::system::{epoch_of, EPOCH_LENGTH};
use phalanx_runtime::GenesisConfig;
use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, UNIX_EPOCH},
};

/// Fixed seed: the whole run replays from it.
const SEED: u64 = 0x0072_6573_7461_7274;
/// Validators in the network (all honest: one down still leaves a quorum).
const VALIDATORS: u64 = 4;
/// Simulated time one phase may take before the runtime gives up (and the test fails).
const PHASE_TIMEOUT: Duration = Duration::from_secs(1_500);

/// How a validator is stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// Ctrl-C / SIGTERM: the chain writes its checkpoint, then everything stops.
    Clean,
    /// kill -9: everything stops at once.
    Kill,
}

#[derive(Clone)]
struct Setup {
    keys: Vec<commonware_cryptography::ed25519::PrivateKey>,
    validators: Vec<PublicKey>,
    genesis: GenesisConfig,
    data_dirs: BTreeMap<usize, PathBuf>,
}

/// One running network inside one runner.
struct Net {
    context: deterministic::Context,
    harness: Harness,
    clock: RuntimeClock,
    setup: Setup,
    chains: BTreeMap<usize, Chain>,
    handles: BTreeMap<usize, Handle<()>>,
    /// Every restart: (validator, how, height before, height re-opened at).
    restarts: Vec<(usize, Stop, u64, u64)>,
    /// Every transfer submitted, in order.
    transfers: Vec<SignedTransaction>,
}

/// A unique label for a validator's task tree (metric names must not repeat).
fn label(what: &str, index: usize, n: usize) -> &'static str {
    Box::leak(format!("{what}{index}_{n}").into_boxed_str())
}

impl Net {
    async fn start(context: deterministic::Context, setup: Setup, phase: &str) -> Net {
        let harness = Harness::start(&context, &setup.validators, DEFAULT_MAX_BLOCK_BYTES).await;
        let clock = RuntimeClock::new(&context);
        let mut net = Net {
            context,
            harness,
            clock,
            setup,
            chains: BTreeMap::new(),
            handles: BTreeMap::new(),
            restarts: Vec::new(),
            transfers: Vec::new(),
        };
        for index in 0..VALIDATORS as usize {
            net.launch(index, label(phase, index, 0));
        }
        net
    }

    fn launch(&mut self, index: usize, label: &'static str) {
        let chain = open_chain(
            &self.setup.data_dirs[&index],
            &self.setup.genesis,
            self.clock.chain_clock(),
        );
        let handle = self.harness.start_honest(
            &self.context,
            label,
            index,
            self.setup.keys[index].clone(),
            chain.clone(),
        );
        self.chains.insert(index, chain);
        self.handles.insert(index, handle);
    }

    /// Stops validator `index` the given way, keeps it down for a few seconds, restarts it from
    /// its data directory and consensus storage.
    async fn restart(&mut self, index: usize, how: Stop) {
        self.restart_after(index, how, None).await;
    }

    /// Like [`Self::restart`], but keeps it down until the others reach `until` (if given).
    async fn restart_after(&mut self, index: usize, how: Stop, until: Option<u64>) {
        let chain = self.chains.remove(&index).expect("running");
        if let Stop::Clean = how {
            chain.checkpoint().expect("checkpoint on a clean stop");
        }
        let handle = self.handles.remove(&index).expect("running");
        handle.abort();
        let _ = handle.await;
        let before = chain.height();
        drop(chain);
        self.context.sleep(Duration::from_secs(3)).await;
        if let Some(until) = until {
            wait_until(
                &self.context,
                &self.chains,
                "the others to move on",
                all_reached(until),
            )
            .await;
        }
        let n = self.restarts.len() + 1;
        self.launch(index, label("restarted", index, n));
        let reopened = self.chains[&index].height();
        eprintln!(
            "validator {index} stopped ({how:?}) at height {before} (epoch {}), re-opened at {reopened}",
            epoch_of(before)
        );
        self.restarts.push((index, how, before, reopened));
    }

    /// Sends alice's next transfer to validator `via` alone and waits until every chain has it.
    async fn transfer_via(&mut self, via: usize) {
        let chain = &self.chains[&via];
        let alice = Keypair::dev("alice");
        let nonce =
            phalanx_runtime::system::nonce(&chain.head_state(), &alice.account()).expect("nonce");
        let tx = Transaction {
            signer: alice.account(),
            nonce,
            fee: PHA / 100,
            expires_at: chain.height() + 200,
            call: Call::Balances(BalancesCall::Transfer {
                to: Keypair::dev("bob").account(),
                amount: PHA,
            }),
        }
        .sign(&alice, &chain.genesis_hash());
        chain
            .submit_tx(tx.clone())
            .unwrap_or_else(|err| panic!("validator {via} refuses the transfer: {err}"));
        let hash = tx.hash();
        self.transfers.push(tx);
        wait_until(
            &self.context,
            &self.chains,
            "a transfer sent to the restarted validator",
            |chains| {
                chains
                    .values()
                    .all(|chain| chain.transaction(&hash).expect("index").is_some())
            },
        )
        .await;
    }

    async fn reach(&self, height: u64) {
        wait_until(
            &self.context,
            &self.chains,
            "the next epoch",
            all_reached(height),
        )
        .await;
    }

    fn heights(&self) -> BTreeMap<usize, u64> {
        self.chains
            .iter()
            .map(|(index, chain)| (*index, chain.height()))
            .collect()
    }
}

/// What one phase hands to the next.
struct Phase {
    heights: BTreeMap<usize, u64>,
    restarts: Vec<(usize, Stop, u64, u64)>,
    transfers: Vec<SignedTransaction>,
}

impl Phase {
    fn end(net: Net) -> Phase {
        net.clock.stop();
        Phase {
            heights: net.heights(),
            restarts: net.restarts,
            transfers: net.transfers,
        }
    }
}

fn runtime_config(seed: u64) -> deterministic::Config {
    deterministic::Config::default()
        .with_seed(seed)
        .with_start_time(UNIX_EPOCH + Duration::from_millis(GENESIS_MS + 1_000))
        .with_timeout(Some(PHASE_TIMEOUT))
}

#[test]
fn validators_restarted_in_epochs_0_1_and_5_finalize_again() {
    let keys = keys(VALIDATORS);
    let validators: Vec<PublicKey> = keys.iter().map(|key| key.public_key()).collect();
    let dirs: Vec<tempfile::TempDir> = (0..VALIDATORS)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let setup = Setup {
        genesis: genesis(&validators),
        data_dirs: dirs
            .iter()
            .enumerate()
            .map(|(index, dir)| (index, dir.path().to_path_buf()))
            .collect(),
        keys,
        validators: validators.clone(),
    };
    let epoch_start = |epoch: u64| epoch * EPOCH_LENGTH;

    // Phase 1: single restarts in epoch 0 and epoch 1; then the whole network loses power.
    let (first, checkpoint) = deterministic::Runner::new(runtime_config(SEED)).start_and_recover({
        let setup = setup.clone();
        move |context| async move {
            let mut net = Net::start(context, setup, "phase1_").await;
            net.reach(10).await;
            net.restart(1, Stop::Clean).await;
            net.transfer_via(1).await;
            net.restart(2, Stop::Kill).await;
            net.transfer_via(2).await;
            net.reach(epoch_start(1) + 8).await;
            net.restart(1, Stop::Kill).await;
            net.transfer_via(1).await;
            net.restart(3, Stop::Clean).await;
            net.transfer_via(3).await;
            Phase::end(net)
        }
    });

    // Phase 2: everyone re-opens in epoch 1 after the power cut; run into epoch 5 and restart
    // single validators there; then the power goes again.
    let ((second, reopened_in_epoch_1), checkpoint) = deterministic::Runner::from(checkpoint)
        .start_and_recover({
            let setup = setup.clone();
            move |context| async move {
                let mut net = Net::start(context, setup, "phase2_").await;
                let reopened = net.heights();
                net.transfer_via(0).await;
                // A validator more than one epoch behind catches up: down from epoch 2 until
                // the others are well into epoch 4.
                net.reach(epoch_start(2) + 8).await;
                net.restart_after(1, Stop::Kill, Some(epoch_start(4) + 8))
                    .await;
                net.transfer_via(1).await;
                net.reach(epoch_start(5) + 8).await;
                net.restart(2, Stop::Kill).await;
                net.transfer_via(2).await;
                net.restart(0, Stop::Clean).await;
                net.transfer_via(0).await;
                (Phase::end(net), reopened)
            }
        });

    // Phase 3: everyone re-opens in epoch 5 after the second power cut.
    let (third, reopened_in_epoch_5, chains) =
        deterministic::Runner::from(checkpoint).start(move |context| async move {
            let mut net = Net::start(context, setup, "phase3_").await;
            let reopened = net.heights();
            net.transfer_via(3).await;
            let target = net.heights().values().copied().max().unwrap_or(0) + 3;
            net.reach(target).await;
            let chains = net.chains.clone();
            (Phase::end(net), reopened, chains)
        });

    // Nothing finalized was forgotten: each single restart re-opened where it stopped, and after
    // each power cut every chain re-opened exactly where the phase before had left it.
    let restarts: Vec<_> = first
        .restarts
        .iter()
        .chain(&second.restarts)
        .chain(&third.restarts)
        .collect();
    assert_eq!(restarts.len(), 7);
    for (index, how, before, reopened) in &restarts {
        assert_eq!(
            before, reopened,
            "validator {index} stopped ({how:?}) at {before} but re-opened at {reopened}"
        );
    }
    let epochs: Vec<u64> = restarts.iter().map(|(_, _, at, _)| epoch_of(*at)).collect();
    assert_eq!(epochs, vec![0, 0, 1, 1, 2, 5, 5], "restart epochs");
    assert_eq!(reopened_in_epoch_1, first.heights);
    assert_eq!(reopened_in_epoch_5, second.heights);
    assert!(first.heights.values().all(|h| epoch_of(*h) == 1));
    assert!(second.heights.values().all(|h| epoch_of(*h) == 5));
    assert!(third.heights.values().all(|h| *h > epoch_start(5)));

    // Every chain stores the same block at every height, linked, with a certificate of the
    // block's epoch wherever it has one, and nobody halted.
    let common = chains.values().map(Chain::height).min().unwrap();
    for (index, chain) in &chains {
        assert_eq!(chain.halted(), None, "validator {index} halted");
    }
    let mut certified = 0u64;
    for height in 0..=common {
        let stored: Vec<_> = chains
            .values()
            .map(|chain| chain.block(height).unwrap().unwrap())
            .collect();
        let hash = stored[0].block.hash();
        for entry in &stored {
            assert_eq!(
                entry.block.hash(),
                hash,
                "chains disagree at height {height}"
            );
            if !entry.certificate.is_empty() {
                phalanx_light_client::certificate::verify_finalization_in_epoch(
                    &validators,
                    NAMESPACE,
                    &entry.certificate,
                    &hash,
                    epoch_of(height),
                )
                .unwrap_or_else(|err| panic!("certificate at {height}: {err}"));
                certified += 1;
            }
        }
        if height > 0 {
            let parent = chains[&0].block(height - 1).unwrap().unwrap();
            assert_eq!(stored[0].block.header.parent, parent.block.hash());
        }
    }
    assert!(certified > common, "most heights carry certificates");

    // Every transfer (one after each restart and each power cut) landed once, without error,
    // at the same place everywhere.
    let transfers: Vec<_> = first
        .transfers
        .iter()
        .chain(&second.transfers)
        .chain(&third.transfers)
        .collect();
    assert_eq!(transfers.len(), 9);
    for tx in &transfers {
        let at: Vec<_> = chains
            .values()
            .map(|chain| chain.transaction(&tx.hash()).unwrap().expect("included"))
            .collect();
        assert!(at.iter().all(|location| location == &at[0]));
        assert_eq!(at[0].receipt.error, None);
    }
    let alice = Keypair::dev("alice").account();
    for chain in chains.values() {
        assert_eq!(
            phalanx_runtime::system::nonce(&chain.head_state(), &alice).unwrap(),
            9
        );
    }
    drop(dirs);
}
