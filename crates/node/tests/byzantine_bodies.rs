//! A byzantine peer serves real headers with other transactions.
//!
//! Consensus votes on a block's hash, which is the hash of its header; the header commits to
//! the transactions only through `tx_root`. Here validator [`LIAR`] runs the honest stack, but
//! every block it sends (its own proposals and its answers to backfill requests) reaches the
//! others with one transaction altered: the header is untouched, the body no longer matches it.
//! Alice's transfers first sit only in the liar's mempool (it does not gossip them), so the first
//! blocks carrying them are the liar's, and they arrive altered. Then an honest validator that
//! was down while the transfers finalized catches up by fetching blocks from its peers.
//!
//! Asserted: bodies were altered in flight; the honest validators refused them at decode time
//! and blocked the liar; they kept finalizing without it (three of four are a quorum), stored
//! only blocks whose bodies match their headers, agree on every block, never halted, and
//! included every transfer once, after alice re-sent it to an honest validator.

// Test code: a poisoned lock or malformed fixture should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::real_chain::{all_reached, genesis, open_chain, wait_until, RuntimeClock, GENESIS_MS};
use common::{keys, Harness, Tamper};
use commonware_cryptography::Signer as _;
use commonware_runtime::{deterministic, Runner as _};
use parity_scale_codec::Encode;
use phalanx_node::consensus::{block::DEFAULT_MAX_BLOCK_BYTES, PublicKey};
use phalanx_node::Chain;
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{Keypair, SignedTransaction, Transaction, PHA};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

const SEED: u64 = 0x6c69_6172;
const VALIDATORS: u64 = 4;
/// The validator whose blocks arrive altered.
const LIAR: usize = 3;
const TRANSFERS: u64 = 6;
/// The honest validator that is down while the transfers finalize and backfills them later.
const CATCHING_UP: usize = 2;
const TARGET: u64 = 30;

fn transfer(chain: &Chain, nonce: u64) -> SignedTransaction {
    let alice = Keypair::dev("alice");
    Transaction {
        signer: alice.account(),
        nonce,
        fee: PHA / 100,
        expires_at: chain.height() + 500,
        call: Call::Balances(BalancesCall::Transfer {
            to: Keypair::dev("bob").account(),
            amount: (nonce as u128 + 1) * PHA,
        }),
    }
    .sign(&alice, &chain.genesis_hash())
}

#[test]
fn blocks_with_swapped_bodies_are_refused_and_the_liar_is_blocked() {
    let keys = keys(VALIDATORS);
    let validators: Vec<PublicKey> = keys.iter().map(|key| key.public_key()).collect();
    let dirs: Vec<tempfile::TempDir> = (0..VALIDATORS)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let genesis = genesis(&validators);
    let tamper = Tamper::new(validators[LIAR].clone());
    let runtime = deterministic::Config::default()
        .with_seed(SEED)
        .with_start_time(UNIX_EPOCH + Duration::from_millis(GENESIS_MS + 1_000))
        .with_timeout(Some(Duration::from_secs(600)));
    let (chains, transfers, blocked) = deterministic::Runner::new(runtime).start({
        let tamper = tamper.clone();
        let validators = validators.clone();
        let dirs: Vec<_> = dirs.iter().map(|dir| dir.path().to_path_buf()).collect();
        move |context| async move {
            let harness = Harness::start(&context, &validators, DEFAULT_MAX_BLOCK_BYTES).await;
            let clock = RuntimeClock::new(&context);
            let mut chains = BTreeMap::new();
            let mut handles = Vec::new();
            for (index, key) in keys.iter().enumerate() {
                let chain = open_chain(&dirs[index], &genesis, clock.chain_clock());
                let label: &'static str = Box::leak(format!("validator{index}").into_boxed_str());
                let through = (index != LIAR).then(|| tamper.clone());
                handles.push(harness.start_honest_with(
                    &context,
                    label,
                    index,
                    key.clone(),
                    chain.clone(),
                    through,
                ));
                chains.insert(index, chain);
            }
            wait_until(&context, &chains, "the first blocks", all_reached(2)).await;

            // Alice's transfers reach only the liar: the first blocks carrying them are its own.
            let transfers: Vec<_> = (0..TRANSFERS)
                .map(|nonce| transfer(&chains[&LIAR], nonce))
                .collect();
            tamper
                .patterns
                .lock()
                .unwrap()
                .extend(transfers.iter().map(|tx| tx.signature));
            // Admitted as if a peer had gossiped them, so the liar keeps them to itself.
            let batch: Vec<Vec<u8>> = transfers.iter().map(Encode::encode).collect();
            assert!(chains[&LIAR].admit_gossip(&batch.encode()));
            let honest = |chains: &BTreeMap<usize, Chain>| -> BTreeMap<usize, Chain> {
                chains
                    .iter()
                    .filter(|(index, _)| **index != LIAR)
                    .map(|(index, chain)| (*index, chain.clone()))
                    .collect()
            };
            let altered = tamper.altered.clone();
            wait_until(&context, &chains, "an altered block", move |_| {
                altered.load(Ordering::SeqCst) > 0
            })
            .await;

            // Validator CATCHING_UP crashes; alice gives up on the liar and sends the same
            // transfers to an honest validator. The blocks that carry them finalize while
            // CATCHING_UP is down, so it must fetch them from peers when it restarts, the liar
            // among them.
            let down = handles.remove(CATCHING_UP);
            down.abort();
            let _ = down.await;
            let catching_up = chains.remove(&CATCHING_UP).expect("running");
            drop(catching_up);
            for tx in &transfers {
                chains[&0].submit_tx(tx.clone()).expect("admitted");
            }
            wait_until(&context, &honest(&chains), "the transfers", |chains| {
                transfers.iter().all(|tx| {
                    chains
                        .values()
                        .all(|chain| chain.transaction(&tx.hash()).unwrap().is_some())
                })
            })
            .await;
            let chain = open_chain(&dirs[CATCHING_UP], &genesis, clock.chain_clock());
            handles.push(harness.start_honest_with(
                &context,
                "restarted",
                CATCHING_UP,
                keys[CATCHING_UP].clone(),
                chain.clone(),
                Some(tamper.clone()),
            ));
            chains.insert(CATCHING_UP, chain);
            let honest_chains = honest(&chains);
            wait_until(&context, &honest_chains, "the target", |chains| {
                all_reached(TARGET)(chains)
                    && transfers.iter().all(|tx| {
                        chains
                            .values()
                            .all(|chain| chain.transaction(&tx.hash()).unwrap().is_some())
                    })
            })
            .await;
            let blocked = harness.oracle.blocked().await.expect("blocked list");
            clock.stop();
            (honest_chains, transfers, blocked)
        }
    });

    let altered = tamper.altered.load(Ordering::SeqCst);
    eprintln!(
        "altered messages: {altered}; blocked pairs: {}",
        blocked.len()
    );
    assert!(altered > 0, "the liar's blocks were altered in flight");
    let liar = &validators[LIAR];
    let blockers: Vec<_> = blocked
        .iter()
        .filter(|(_, blocked)| blocked == liar)
        .map(|(blocker, _)| blocker.clone())
        .collect();
    // With this seed, the validator catching up fetches an altered block from the liar.
    assert_eq!(
        blockers,
        vec![validators[CATCHING_UP].clone()],
        "the honest validator that fetched an altered block blocked the liar"
    );
    assert!(
        blocked.iter().all(|(_, who)| who == liar),
        "nobody honest was blocked: {blocked:?}"
    );

    let common = chains.values().map(Chain::height).min().unwrap();
    assert!(common >= TARGET);
    for height in 0..=common {
        let stored: Vec<_> = chains
            .values()
            .map(|chain| chain.block(height).unwrap().unwrap())
            .collect();
        for entry in &stored {
            assert_eq!(
                entry.block.hash(),
                stored[0].block.hash(),
                "height {height}"
            );
            assert!(
                entry.block.tx_root_matches(),
                "a stored body does not match its header at {height}"
            );
            assert_eq!(entry.outcome.receipts.len(), entry.block.transactions.len());
        }
    }
    for (index, chain) in &chains {
        assert_eq!(chain.halted(), None, "validator {index} halted");
        for tx in &transfers {
            let at = chain.transaction(&tx.hash()).unwrap().expect("included");
            assert_eq!(at.receipt.error, None);
        }
        let bob =
            phalanx_runtime::balances::account(&chain.head_state(), &Keypair::dev("bob").account())
                .unwrap()
                .free;
        let sent: u128 = (1..=u128::from(TRANSFERS)).sum::<u128>() * PHA;
        assert_eq!(bob, 1_000_000 * PHA + sent);
    }
    drop(dirs);
}
