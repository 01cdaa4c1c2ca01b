use super::*;
use parity_scale_codec::Encode;
use phalanx_primitives::block::tx_root;
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{Keypair, Transaction, PHA};
use std::sync::atomic::{AtomicU64, Ordering};

const T0: u64 = 1_700_000_000_000;

struct Node {
    chain: Chain,
    _dir: Option<tempfile::TempDir>,
}

/// The one validator's key (the chain tests run no consensus, but genesis names a set).
fn validator_key() -> [u8; 32] {
    Keypair::dev("validator").account().0
}

fn genesis() -> GenesisConfig {
    GenesisConfig::dev(vec![hex::encode(validator_key())], T0)
}

fn clock() -> (Clock, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(T0 + 1_000));
    let reader = now.clone();
    (Arc::new(move || reader.load(Ordering::SeqCst)), now)
}

fn open_at(dir: &std::path::Path) -> Chain {
    Chain::open(
        ChainConfig {
            data_dir: dir.to_path_buf(),
            genesis: genesis(),
        },
        clock().0,
    )
    .expect("opens")
}

fn node() -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    Node {
        chain: open_at(dir.path()),
        _dir: Some(dir),
    }
}

fn transfer(chain: &Chain, from: &str, to: &str, nonce: u64, amount: u128) -> SignedTransaction {
    let key = Keypair::dev(from);
    Transaction {
        signer: key.account(),
        nonce,
        fee: PHA / 100,
        expires_at: chain.height() + 50,
        call: Call::Balances(BalancesCall::Transfer {
            to: Keypair::dev(to).account(),
            amount,
        }),
    }
    .sign(&key, &chain.genesis_hash())
}

fn free(chain: &Chain, who: &str) -> u128 {
    phalanx_runtime::balances::account(&chain.head_state(), &Keypair::dev(who).account())
        .expect("balance")
        .free
}

/// Alice pays bob 1 PHA (nonce 0) through `chain`'s pool, and `chain` builds the block after
/// its head (the genesis block in these tests); returns the head and the block.
fn block_of_one_transfer(chain: &Chain) -> (Block, Block) {
    chain
        .submit_tx(transfer(chain, "alice", "bob", 0, PHA))
        .expect("admitted");
    let genesis = chain.head();
    let block = chain.build(&genesis, T0 + 500).expect("built");
    assert_eq!(block.transactions.len(), 1);
    (genesis, block)
}

/// Builds the next block on `chain`'s head and finalizes it there; returns it.
fn produce(chain: &Chain) -> Block {
    let head = chain.head();
    let block = chain
        .build(&head, head.header.timestamp_ms + 500)
        .expect("builds on the head");
    chain
        .finalize(block.clone(), vec![1, 2, 3])
        .expect("finalizes");
    assert_eq!(chain.head().hash(), block.hash());
    phalanx_runtime::invariants::check(&chain.head_state()).expect("invariants hold");
    block
}

#[test]
fn a_block_built_by_one_node_verifies_and_finalizes_on_another() {
    let (a, b) = (node(), node());
    for n in 0..3 {
        a.chain
            .submit_tx(transfer(&a.chain, "alice", "bob", n, PHA))
            .expect("admitted");
    }
    let genesis = a.chain.head();
    let block = a.chain.build(&genesis, T0 + 500).expect("built");
    assert_eq!(block.transactions.len(), 3);
    assert!(b.chain.check(&genesis, &block), "the other node accepts it");
    b.chain
        .finalize(block.clone(), vec![])
        .expect("b finalizes");
    a.chain
        .finalize(block.clone(), vec![])
        .expect("a finalizes");
    assert_eq!(a.chain.head_state().root(), b.chain.head_state().root());
    assert_eq!(free(&b.chain, "bob"), 1_000_003 * PHA);
    assert_eq!(
        a.chain.mempool_len(),
        0,
        "included transactions leave the mempool"
    );
    let location = a
        .chain
        .transaction(&block.transactions[1].hash())
        .expect("read")
        .expect("indexed");
    assert_eq!(
        (
            location.height,
            location.index,
            location.receipt.error.clone()
        ),
        (1, 1, None)
    );
}

#[test]
fn tampered_blocks_are_refused() {
    let (a, b) = (node(), node());
    let (genesis, good) = block_of_one_transfer(&a.chain);

    let mut wrong_root = good.clone();
    wrong_root.header.state_root = Hash::of(b"lie");
    assert!(!b.chain.check(&genesis, &wrong_root));

    let mut forged_tx = good.clone();
    forged_tx.transactions[0].signature[3] ^= 1;
    forged_tx.header.tx_root = tx_root(&forged_tx.transactions);
    assert!(
        !b.chain.check(&genesis, &forged_tx),
        "a block with a forged signature is invalid"
    );

    let mut unlisted = good.clone();
    unlisted.transactions.clear();
    assert!(
        !b.chain.check(&genesis, &unlisted),
        "tx root no longer matches"
    );

    let mut wrong_height = good.clone();
    wrong_height.header.height = 5;
    assert!(!b.chain.check(&genesis, &wrong_height));

    let mut future = good.clone();
    future.header.timestamp_ms = T0 + 1_000 + MAX_FUTURE_DRIFT_MS + 1;
    assert!(!b.chain.check(&genesis, &future));

    assert!(b.chain.check(&genesis, &good));
}

#[test]
fn bad_submissions_are_refused_and_disturb_nothing() {
    let n = node();
    let chain = &n.chain;
    let good = transfer(chain, "alice", "bob", 0, PHA);
    chain.submit_tx(good.clone()).expect("admitted");

    assert!(matches!(
        chain.submit(&[1, 2, 3]),
        Err(SubmitError::Malformed(_))
    ));
    let mut trailing = good.encode();
    trailing.push(0);
    assert!(matches!(
        chain.submit(&trailing),
        Err(SubmitError::Malformed(_))
    ));

    let mut forged = transfer(chain, "bob", "alice", 0, PHA);
    forged.signature[0] ^= 1;
    assert!(matches!(
        chain.submit_tx(forged),
        Err(SubmitError::Invalid(TxError::BadSignature))
    ));

    assert!(matches!(
        chain.submit_tx(good.clone()),
        Err(SubmitError::Mempool(MempoolError::AlreadyKnown(_)))
    ));

    let pauper = Keypair::from_secret([5; 32]);
    let broke = Transaction {
        signer: pauper.account(),
        nonce: 0,
        fee: PHA / 100,
        expires_at: 10,
        call: Call::Balances(BalancesCall::Transfer {
            to: pauper.account(),
            amount: 1,
        }),
    }
    .sign(&pauper, &chain.genesis_hash());
    assert!(matches!(
        chain.submit_tx(broke),
        Err(SubmitError::Invalid(TxError::CannotPayFee { .. }))
    ));

    let mut expired = transfer(chain, "charlie", "bob", 0, PHA).tx;
    expired.expires_at = 0;
    let expired = expired.sign(&Keypair::dev("charlie"), &chain.genesis_hash());
    assert!(matches!(
        chain.submit_tx(expired),
        Err(SubmitError::Invalid(TxError::Expired { .. }))
    ));

    let mut huge = transfer(chain, "dave", "bob", 0, PHA).tx;
    huge.call = Call::Governance(phalanx_primitives::call::GovernanceCall::Propose {
        calls: vec![],
        description: vec![b'x'; 70 * 1024],
    });
    huge.fee = 1_000 * PHA;
    let huge = huge.sign(&Keypair::dev("dave"), &chain.genesis_hash());
    assert!(matches!(
        chain.submit_tx(huge),
        Err(SubmitError::Invalid(TxError::TooLarge { .. }))
    ));

    let mut cheap = transfer(chain, "eve", "bob", 0, PHA).tx;
    cheap.fee = 1;
    let cheap = cheap.sign(&Keypair::dev("eve"), &chain.genesis_hash());
    assert!(matches!(
        chain.submit_tx(cheap),
        Err(SubmitError::Invalid(TxError::FeeTooLow { .. }))
    ));

    assert_eq!(
        chain.mempool_len(),
        1,
        "only the good transaction is pooled"
    );
    let block = produce(chain);
    assert_eq!(block.transactions, vec![good.clone()]);
    // Reused nonce after inclusion.
    assert!(matches!(
        chain.submit_tx(good),
        Err(SubmitError::Invalid(TxError::StaleNonce { .. }))
    ));
}

#[test]
fn a_restarted_node_keeps_height_and_balances() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (root, bob, height) = {
        let chain = open_at(dir.path());
        for round in 0..5u64 {
            chain
                .submit_tx(transfer(&chain, "alice", "bob", round, 7 * PHA))
                .expect("admitted");
            produce(&chain);
        }
        (
            chain.head_state().root(),
            free(&chain, "bob"),
            chain.height(),
        )
    };
    assert_eq!(height, 5);
    let chain = open_at(dir.path());
    assert_eq!(chain.height(), height);
    assert_eq!(chain.head_state().root(), root);
    assert_eq!(free(&chain, "bob"), bob);
    assert_eq!(bob, 1_000_035 * PHA);
    // And it carries on.
    chain
        .submit_tx(transfer(&chain, "alice", "bob", 5, PHA))
        .expect("next nonce admitted");
    produce(&chain);
    assert_eq!(chain.height(), 6);
    // A third start uses the snapshot written at open and replays nothing; same state.
    let root = chain.head_state().root();
    chain.checkpoint().expect("checkpoint");
    drop(chain);
    let chain = open_at(dir.path());
    assert_eq!(chain.head_state().root(), root);
    assert_eq!(
        chain.block(3).expect("read").map(|b| b.certificate),
        Some(vec![1, 2, 3])
    );
}

#[test]
fn a_data_dir_of_another_chain_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open_at(dir.path()));
    let mut other = genesis();
    other.chain_id = "other".into();
    let err = Chain::open(
        ChainConfig {
            data_dir: dir.path().into(),
            genesis: other,
        },
        clock().0,
    )
    .expect_err("refused");
    assert!(matches!(err, ChainError::WrongChain { .. }), "{err}");
}

#[test]
fn forks_keep_separate_states_and_only_the_finalized_one_stays() {
    let n = node();
    let chain = &n.chain;
    let (genesis, with_tx) = block_of_one_transfer(chain);
    let empty_fork = {
        // A competing proposal for the same height without the transaction.
        let other = node();
        other.chain.build(&genesis, T0 + 600).expect("fork b")
    };
    assert!(chain.check(&genesis, &empty_fork));
    assert_ne!(with_tx.hash(), empty_fork.hash());
    chain
        .finalize(empty_fork.clone(), vec![])
        .expect("the fork finalizes");
    assert_eq!(chain.head().hash(), empty_fork.hash());
    assert_eq!(free(chain, "bob"), 1_000_000 * PHA);
    // The transaction is still pooled and lands in the next block.
    assert_eq!(chain.mempool_len(), 1);
    let next = produce(chain);
    assert_eq!(next.transactions.len(), 1);
    assert_eq!(free(chain, "bob"), 1_000_001 * PHA);
}

#[test]
fn a_finalized_block_that_does_not_execute_halts_the_node() {
    let n = node();
    let genesis = n.chain.head();
    let mut bad = n.chain.build(&genesis, T0 + 500).expect("built");
    bad.header.state_root = Hash::of(b"wrong");
    assert!(matches!(
        n.chain.finalize(bad, vec![]),
        Err(FinalizeError::Halted(_))
    ));
    assert!(n.chain.halted().is_some());
    assert_eq!(n.chain.height(), 0, "the head did not move");
}

/// The attack: a peer pairs a header this node already executed (so its post-state is cached
/// by header hash) with other transactions. Neither verification nor finalization may take the
/// cached result for the forged body, and finalization must refuse the bytes without halting,
/// so the honest body can still be applied.
#[test]
fn a_header_with_a_swapped_body_is_refused_and_never_halts_the_node() {
    let n = node();
    let chain = &n.chain;
    for nonce in 0..2 {
        chain
            .submit_tx(transfer(chain, "alice", "bob", nonce, PHA))
            .expect("admitted");
    }
    let genesis = chain.head();
    let honest = chain.build(&genesis, T0 + 500).expect("built");
    assert_eq!(honest.transactions.len(), 2);
    assert!(
        chain.check(&genesis, &honest),
        "executed, so its state is cached"
    );

    // Same header, other transactions: drop one, or replace one with a different transfer.
    let mut dropped = honest.clone();
    dropped.transactions.pop();
    let mut replaced = honest.clone();
    replaced.transactions[1] = transfer(chain, "alice", "charlie", 1, 7 * PHA);
    for forged in [dropped, replaced] {
        assert_eq!(forged.hash(), honest.hash(), "the header is the honest one");
        assert!(!forged.tx_root_matches());
        assert!(!chain.check(&genesis, &forged), "verification refuses it");
        assert_eq!(
            chain.finalize(forged.clone(), vec![]),
            Err(FinalizeError::BadBody(1))
        );
        assert_eq!(chain.halted(), None, "bad bytes never halt the node");
        assert_eq!(chain.height(), 0);
        // Consensus never even sees such bytes: they do not decode as a block.
        use crate::consensus::ChainBlock as _;
        assert!(Block::from_bytes(&forged.encode()).is_none());
    }
    chain
        .finalize(honest.clone(), vec![])
        .expect("the honest block applies");
    let stored = chain.block(1).expect("readable").expect("stored");
    assert_eq!(stored.block, honest, "the honest body is what was stored");
    assert_eq!(free(chain, "bob"), 1_000_002 * PHA);
}

#[test]
fn a_node_that_admitted_nothing_checks_a_large_block_in_batches_and_finds_one_forgery() {
    // 150 transactions: more than one batch of 64 and enough to spread over the cores. Node
    // `b` admitted none of them, so it checks every signature itself, in batches.
    let (a, b) = (node(), node());
    let senders = ["alice", "bob", "charlie"];
    for nonce in 0..50 {
        for sender in senders {
            a.chain
                .submit_tx(transfer(&a.chain, sender, "dave", nonce, PHA))
                .expect("admitted");
        }
    }
    let genesis = a.chain.head();
    let good = a.chain.build(&genesis, T0 + 500).expect("built");
    assert_eq!(good.transactions.len(), 150);
    assert!(b.chain.check(&genesis, &good), "every signature is good");
    for forged_at in [0, 70, 149] {
        let mut forged = good.clone();
        forged.transactions[forged_at].signature[40] ^= 1;
        forged.header.tx_root = tx_root(&forged.transactions);
        assert!(
            !b.chain.check(&genesis, &forged),
            "the forged signature at {forged_at} is found"
        );
    }
}

#[test]
fn a_batch_is_verified_in_parallel_and_each_transaction_answered() {
    let n = node();
    let chain = &n.chain;
    let mut txs: Vec<SignedTransaction> = (0..40)
        .map(|nonce| transfer(chain, "alice", "bob", nonce, PHA))
        .collect();
    // The last one is forged (a forged one in the middle would leave the rest behind a gap).
    txs[39].signature[0] ^= 1;
    let results = chain.submit_batch(txs.clone());
    assert_eq!(results.len(), 40);
    for (index, result) in results.iter().enumerate() {
        if index == 39 {
            assert!(matches!(
                result,
                Err(SubmitError::Invalid(TxError::BadSignature))
            ));
        } else {
            assert_eq!(result.as_ref().ok(), Some(&txs[index].hash()));
        }
    }
    assert_eq!(chain.mempool_len(), 39);
    let gossip = chain.take_gossip(usize::MAX);
    assert_eq!(
        gossip.len(),
        39,
        "every admitted client transaction is gossiped"
    );
    assert!(chain.take_gossip(usize::MAX).is_empty(), "once");
}

#[test]
fn gossip_admits_a_peers_transactions_and_refuses_forged_or_malformed_batches() {
    let (a, b) = (node(), node());
    for nonce in 0..3 {
        a.chain
            .submit_tx(transfer(&a.chain, "alice", "bob", nonce, PHA))
            .expect("admitted");
    }
    let batch = a.chain.take_gossip(1 << 20).encode();
    assert!(b.chain.admit_gossip(&batch));
    assert_eq!(b.chain.mempool_len(), 3);
    assert!(
        b.chain.take_gossip(usize::MAX).is_empty(),
        "gossiped transactions are not gossiped again"
    );
    assert!(
        b.chain.admit_gossip(&batch),
        "known transactions are no fault"
    );

    let mut forged = transfer(&a.chain, "charlie", "bob", 0, PHA);
    forged.signature[5] ^= 0x10;
    let honest = transfer(&a.chain, "dave", "bob", 0, PHA);
    let bad_batch = vec![honest.encode(), forged.encode()].encode();
    assert!(
        !b.chain.admit_gossip(&bad_batch),
        "a forged signature blocks the peer"
    );
    assert!(
        !b.chain.admit_gossip(&[0xff, 0x01]),
        "undecodable bytes block the peer"
    );
    let mut trailing = batch.clone();
    trailing.push(0);
    assert!(!b.chain.admit_gossip(&trailing));
    assert_eq!(
        b.chain.mempool_len(),
        3,
        "nothing of a refused batch was pooled"
    );
}

#[test]
fn each_epochs_validator_set_is_recorded_with_a_proof() {
    use phalanx_light_client::{last_height_of, VALIDATORS_KEY};
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = open_at(dir.path());
    let genesis_set = chain.validator_set(0).expect("epoch 0 from genesis");
    assert_eq!(genesis_set.height, 0);
    assert_eq!(genesis_set.validators, vec![validator_key()]);
    genesis_set
        .proof
        .verify(
            &chain.genesis_block().header.state_root,
            VALIDATORS_KEY,
            Some(&genesis_set.validators.encode()),
        )
        .expect("the light client's key and encoding are the runtime's");
    assert!(chain.validator_set(1).is_none());
    while chain.height() < last_height_of(0) {
        produce(&chain);
    }
    let boundary = chain.head();
    let next = chain.validator_set(1).expect("recorded at the boundary");
    assert_eq!(next.height, boundary.height());
    next.proof
        .verify(
            &boundary.header.state_root,
            VALIDATORS_KEY,
            Some(&next.validators.encode()),
        )
        .expect("proven against the boundary block");
    assert_eq!(
        phalanx_light_client::EPOCH_LENGTH,
        phalanx_runtime::system::EPOCH_LENGTH
    );
    // Recorded durably: a restart serves the same sets.
    drop(chain);
    let reopened = open_at(dir.path());
    assert_eq!(reopened.validator_set(1), Some(next));
}

/// A gossip message never exceeds the size its receiver accepts, length prefixes included,
/// however much is queued: an honest peer must never look like a spammer.
#[test]
fn gossip_messages_stay_within_the_receivers_bound() {
    let (a, b) = (node(), node());
    let txs: Vec<_> = (0..200)
        .map(|nonce| transfer(&a.chain, "alice", "bob", nonce, PHA))
        .collect();
    for result in a.chain.submit_batch(txs) {
        result.expect("admitted");
    }
    let limit = 10_000;
    let mut messages = 0;
    let mut carried = 0;
    loop {
        let batch = a.chain.take_gossip(limit);
        if batch.is_empty() {
            break;
        }
        let message = batch.encode();
        assert!(message.len() <= limit, "{} bytes", message.len());
        assert!(b.chain.admit_gossip(&message), "the receiver accepts it");
        messages += 1;
        carried += batch.len();
    }
    assert_eq!(carried, 200);
    assert!(messages > 1, "the queue was split into several messages");
    assert_eq!(b.chain.mempool_len(), 200);
}

/// The race an admission must survive: it reads the sender's nonce, then, before it holds the
/// pool, a block from another proposer uses that nonce with another transaction of the
/// sender's (not this one, so the index knows nothing of its hash) and is finalized and
/// pruned. The stale read would pool a transaction that can never execute, holding the
/// sender's spend and slots until it expires.
#[test]
fn a_nonce_a_block_used_while_an_admission_waited_is_refused() {
    let (a, b) = (node(), node());
    // Alice's nonce 0 reaches b, which builds the block.
    let (_, block) = block_of_one_transfer(&b.chain);

    // Another transaction with alice's nonce 0 reaches a, whose admission reads the state
    // before the block...
    let late = transfer(&a.chain, "alice", "carol", 0, 2 * PHA);
    let read = a
        .chain
        .admission_read(&late, system::SignatureCheck::Verify)
        .expect("valid against the state it read");
    assert_eq!(read.sender.nonce, 0, "the read is a block behind");
    // ...and the block is finalized (and the pool pruned) before it takes the pool.
    a.chain.finalize(block, vec![]).expect("a finalizes");
    assert_eq!(
        a.chain
            .admit_read(late.clone(), read)
            .map_err(|e| e.to_string()),
        Err(SubmitError::Invalid(TxError::StaleNonce {
            got: 0,
            expected: 1
        })
        .to_string())
    );
    assert_eq!(a.chain.mempool_len(), 0, "nothing stale is pooled");
    // Read after the block, it is refused the ordinary way.
    assert!(matches!(
        a.chain.submit_tx(late),
        Err(SubmitError::Invalid(TxError::StaleNonce { .. }))
    ));
}
