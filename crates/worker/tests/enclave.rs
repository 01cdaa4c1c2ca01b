//! The enclave against a hostile host: only certified, in-order, linking blocks move its head;
//! values are believed only with a proof against that head; registrations and messages it
//! signs verify on chain terms, are released only once committed, and survive restarts; old,
//! uncommitted and forked sealed blobs are refused.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{commit, enclave, head, info, outbox, restart, seal, synced, FakeChain};
use parity_scale_codec::Encode;
use phalanx_attestation::{report_data, Quote, QuoteKind};
use phalanx_light_client::Error as LightClientError;
use phalanx_primitives::call::Origin;
use phalanx_primitives::{Hash, Keypair};
use phalanx_worker::enclave::Pending;
use phalanx_worker::{Ecall, EnclaveError, Reply};
use proptest::prelude::*;

#[test]
fn honest_blocks_in_order_move_the_head() {
    let chain = FakeChain::new(5);
    let (mut enclave, _) = enclave(1);
    synced(&chain, &mut enclave, 5);
    let info = info(&mut enclave);
    assert_eq!(info.genesis_hash, Some(chain.genesis_hash()));
    assert_eq!(info.head, Some((5, chain.blocks[5].hash())));
}

#[test]
fn a_forged_block_is_refused_and_the_head_stays() {
    let chain = FakeChain::new(3);
    let (mut enclave, _) = enclave(1);
    synced(&chain, &mut enclave, 2);
    let forged = chain.forge(&chain.blocks[3]);
    let err = enclave
        .ecall(Ecall::SyncBlock {
            block: chain.blocks[3].encode(),
            certificate: forged,
        })
        .expect_err("outsiders cannot certify");
    assert!(
        matches!(
            err,
            EnclaveError::LightClient(LightClientError::Certificate(_))
        ),
        "{err}"
    );
    // An honest certificate for another block does not carry over to a lie either.
    let mut lie = chain.blocks[3].clone();
    lie.header.state_root = Hash::of(b"state the host would like");
    assert!(enclave
        .ecall(Ecall::SyncBlock {
            block: lie.encode(),
            certificate: chain.certificates[3].clone(),
        })
        .is_err());
    // Garbage bytes and an empty certificate.
    assert!(matches!(
        enclave.ecall(Ecall::SyncBlock {
            block: vec![1, 2, 3],
            certificate: vec![]
        }),
        Err(EnclaveError::MalformedBlock(_))
    ));
    assert!(enclave
        .ecall(Ecall::SyncBlock {
            block: chain.blocks[3].encode(),
            certificate: vec![],
        })
        .is_err());
    assert_eq!(head(&mut enclave), 2);
    enclave
        .ecall(chain.sync(3))
        .expect("the honest block still goes through");
    assert_eq!(head(&mut enclave), 3);
}

#[test]
fn replayed_and_reordered_blocks_are_refused_and_the_head_stays() {
    let chain = FakeChain::new(6);
    let (mut enclave, _) = enclave(1);
    synced(&chain, &mut enclave, 3);
    for old in [1, 3] {
        let err = enclave.ecall(chain.sync(old)).expect_err("replay");
        assert!(
            matches!(err, EnclaveError::Replayed { height, head: 3 } if height == old),
            "{err}"
        );
    }
    let err = enclave.ecall(chain.sync(5)).expect_err("skips block 4");
    assert!(
        matches!(
            err,
            EnclaveError::Gap {
                height: 5,
                expected: 4
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("relay every block in order"));
    assert_eq!(head(&mut enclave), 3);
    enclave.ecall(chain.sync(4)).expect("next block");
    enclave.ecall(chain.sync(5)).expect("next block");
    assert_eq!(head(&mut enclave), 5);
}

#[test]
fn a_non_linking_block_is_refused_and_the_head_stays() {
    let chain = FakeChain::new(3);
    let (mut enclave, _) = enclave(1);
    synced(&chain, &mut enclave, 3);
    // Certified by the real validators (as a byzantine supermajority could), but its parent is
    // not the enclave's head.
    let mut state = chain.states[3].clone();
    let fork = common::block(Hash::of(b"another branch"), 4, &mut state);
    let err = enclave
        .ecall(Ecall::SyncBlock {
            block: fork.encode(),
            certificate: chain.certify(&fork),
        })
        .expect_err("does not link");
    assert!(
        matches!(
            err,
            EnclaveError::LightClient(LightClientError::Fork { height: 4 })
        ),
        "{err}"
    );
    // Transactions that do not match the header are refused as well.
    let mut mismatched = common::block(chain.blocks[3].hash(), 4, &mut state);
    mismatched.header.tx_root = Hash::of(b"transactions the block does not carry");
    let err = enclave
        .ecall(Ecall::SyncBlock {
            block: mismatched.encode(),
            certificate: chain.certify(&mismatched),
        })
        .expect_err("tx root mismatch");
    assert!(
        matches!(
            err,
            EnclaveError::LightClient(LightClientError::TxRootMismatch)
        ),
        "{err}"
    );
    assert_eq!(info(&mut enclave).head, Some((3, chain.blocks[3].hash())));
}

#[test]
fn another_chain_cannot_be_pinned_over_the_sealed_one() {
    let chain = FakeChain::new(1);
    let (mut enclave, _) = enclave(1);
    synced(&chain, &mut enclave, 1);
    enclave
        .ecall(chain.init())
        .expect("the same chain again is fine");
    let mut other = FakeChain::new(0);
    let mut state = other.states[0].clone();
    state.insert(b"other".to_vec(), b"chain".to_vec());
    other.blocks[0] = common::block(Hash::ZERO, 0, &mut state);
    let err = enclave.ecall(other.init()).expect_err("pinned");
    assert!(matches!(err, EnclaveError::AlreadyPinned { .. }), "{err}");
    assert_eq!(head(&mut enclave), 1);
}

/// The enclave's time is its verified head's timestamp: it moves only with certified blocks,
/// stays put when the host feeds a refused block, survives a restart, and has nothing to do
/// with the host's clock (the fake chain's blocks are one second apart from 1970 on).
#[test]
fn enclave_time_follows_the_verified_head_not_the_host() {
    let chain = FakeChain::new(4);
    let (mut enclave, machine) = enclave(3);
    enclave.ecall(chain.init()).expect("pins");
    assert_eq!(
        info(&mut enclave).chain_time_ms,
        Some(chain.blocks[0].header.timestamp_ms)
    );
    for height in 1..=3 {
        enclave.ecall(chain.sync(height)).expect("honest block");
        assert_eq!(info(&mut enclave).chain_time_ms, Some(1_000 * height));
    }
    // A block the host made up (not certified) does not move time, whatever its timestamp.
    let mut future = chain.blocks[4].clone();
    future.header.timestamp_ms = u64::MAX / 2;
    assert!(enclave
        .ecall(Ecall::SyncBlock {
            block: future.encode(),
            certificate: chain.certificates[4].clone(),
        })
        .is_err());
    assert_eq!(info(&mut enclave).chain_time_ms, Some(3_000));
    // Far from any host clock: the chain says 3 s after 1970.
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    assert!(
        host_now > 1_000_000_000_000,
        "the host's clock is not the enclave's"
    );
    let sealed = seal(&mut enclave);
    let mut again = restart(&machine, &sealed);
    assert_eq!(info(&mut again).chain_time_ms, Some(3_000));
}

#[test]
fn sync_progress_survives_a_restart() {
    let chain = FakeChain::new(4);
    let (mut first, machine) = enclave(7);
    synced(&chain, &mut first, 2);
    let sealed = seal(&mut first);
    let mut second = restart(&machine, &sealed);
    assert_eq!(info(&mut second), info(&mut first));
    assert!(matches!(
        second.ecall(chain.sync(2)),
        Err(EnclaveError::Replayed { .. })
    ));
    second
        .ecall(chain.sync(3))
        .expect("continues from the sealed head");
    assert_eq!(head(&mut second), 3);
}

#[test]
fn values_are_believed_only_with_a_proof_against_the_head() {
    let mut chain = FakeChain::new(3);
    let (mut enclave, _) = enclave(1);
    synced(&chain, &mut enclave, 3);
    let state = &mut chain.states[3];
    let proof = state.prove(b"counter").encode();
    let reply = enclave
        .ecall(Ecall::VerifyValue {
            key: b"counter".to_vec(),
            value: Some(3u64.encode()),
            proof: proof.clone(),
        })
        .expect("proven");
    assert_eq!(
        reply,
        Reply::ValueVerified {
            height: 3,
            state_root: chain.blocks[3].header.state_root
        }
    );
    let absent = chain.states[3].prove(b"block/99").encode();
    enclave
        .ecall(Ecall::VerifyValue {
            key: b"block/99".to_vec(),
            value: None,
            proof: absent,
        })
        .expect("absence proven");

    // A tampered value, a value from an older state, a tampered proof, garbage.
    assert!(matches!(
        enclave.ecall(Ecall::VerifyValue {
            key: b"counter".to_vec(),
            value: Some(4u64.encode()),
            proof: proof.clone(),
        }),
        Err(EnclaveError::LightClient(LightClientError::Proof(_)))
    ));
    let stale = chain.states[2].prove(b"counter").encode();
    assert!(enclave
        .ecall(Ecall::VerifyValue {
            key: b"counter".to_vec(),
            value: Some(2u64.encode()),
            proof: stale,
        })
        .is_err());
    let mut tampered = proof.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(enclave
        .ecall(Ecall::VerifyValue {
            key: b"counter".to_vec(),
            value: Some(3u64.encode()),
            proof: tampered,
        })
        .is_err());
    assert!(matches!(
        enclave.ecall(Ecall::VerifyValue {
            key: b"counter".to_vec(),
            value: Some(3u64.encode()),
            proof: vec![0xff; 9],
        }),
        Err(EnclaveError::MalformedProof(_))
    ));
}

/// Emits `payload` as the worker (through the test hook: no message kind exists yet).
fn emit(enclave: &mut phalanx_worker::Enclave, payload: &[u8]) -> Pending {
    let identity = info(enclave).identity;
    enclave
        .testing_emit(Origin::Worker(identity), b"heartbeat", payload.to_vec())
        .expect("emits")
}

/// A message the enclave made is held back until the state that counts it is committed, then
/// released once and handed out again (same bytes) after a restart; sequence numbers go on
/// from there. While a blob is pending nothing else changes the enclave.
#[test]
fn messages_are_released_only_after_their_commit_and_survive_restarts() {
    let chain = FakeChain::new(2);
    let (mut enclave, machine) = enclave(9);
    synced(&chain, &mut enclave, 1);
    let before = seal(&mut enclave);
    let me = info(&mut enclave);
    let pending = emit(&mut enclave, b"m0");
    assert_eq!(pending.counter, me.committed + 1);
    assert!(
        outbox(&mut enclave).is_empty(),
        "held back until the commit"
    );
    assert_eq!(info(&mut enclave).pending, Some(pending.counter));
    // One pending blob at a time: nothing else that changes sealed state goes through.
    let refusals = [
        enclave
            .testing_emit(Origin::Worker(me.identity), b"t", vec![])
            .map(|_| ()),
        enclave.ecall(Ecall::Seal).map(|_| ()),
        enclave.ecall(chain.sync(2)).map(|_| ()),
        enclave.ecall(chain.init()).map(|_| ()),
    ];
    for refused in refusals {
        assert!(
            matches!(refused, Err(EnclaveError::CommitPending { counter }) if counter == pending.counter),
            "{refused:?}"
        );
    }
    assert_eq!(head(&mut enclave), 1);
    // A commit of another blob than the pending one, then the right one.
    assert!(matches!(
        enclave.ecall(Ecall::Commit {
            counter: pending.counter + 1
        }),
        Err(EnclaveError::WrongCommit { .. })
    ));
    let released = commit(&mut enclave, &pending);
    assert_eq!(released.counter, pending.counter);
    let [m0] = released.messages.as_slice() else {
        panic!("one message released: {released:?}");
    };
    assert_eq!((m0.origin, m0.sequence), (Origin::Worker(me.identity), 0));
    assert_eq!(m0.payload, b"m0");
    assert!(m0.verify_signature(&me.identity, &chain.genesis_hash()));
    assert!(!m0.verify_signature(&me.identity, &Hash::of(b"another chain")));
    assert!(matches!(
        enclave.ecall(Ecall::Commit {
            counter: pending.counter
        }),
        Err(EnclaveError::NothingToCommit)
    ));
    let p1 = emit(&mut enclave, b"m1");
    let m1 = commit(&mut enclave, &p1).messages;
    assert_eq!(m1[0].sequence, 1);

    // After a restart from the committed blob, both are handed out again, byte for byte.
    let mut restarted = restart(&machine, &p1.sealed);
    assert_eq!(outbox(&mut restarted), vec![m0.clone(), m1[0].clone()]);
    assert_eq!(info(&mut restarted).next_sequence, 2);
    let p2 = emit(&mut restarted, b"m2");
    assert_eq!(commit(&mut restarted, &p2).messages[0].sequence, 2);
    // The blob from before the messages is now a rolled-back copy.
    let err =
        phalanx_worker::Enclave::start(machine.platform(), &[&before]).expect_err("rolled back");
    assert!(
        matches!(err.source, EnclaveError::RolledBack { .. }),
        "{err}"
    );

    // Oversized or foreign messages are refused without using a sequence number.
    let refusals = [
        restarted.testing_emit(Origin::Worker(me.identity), &[0; 65], vec![]),
        restarted.testing_emit(Origin::Worker(me.identity), b"t", vec![0; 16 * 1024 + 1]),
        restarted.testing_emit(Origin::Worker([7; 32]), b"t", vec![]),
        restarted.testing_emit(Origin::Cluster(me.identity), b"t", vec![]),
    ];
    assert!(matches!(
        refusals[0],
        Err(EnclaveError::TopicTooLong { len: 65 })
    ));
    assert!(matches!(
        refusals[1],
        Err(EnclaveError::PayloadTooLarge { .. })
    ));
    assert!(matches!(
        refusals[2],
        Err(EnclaveError::NoKeyForOrigin { .. })
    ));
    assert!(matches!(
        refusals[3],
        Err(EnclaveError::NoKeyForOrigin { .. })
    ));
    let after = info(&mut restarted);
    assert_eq!((after.next_sequence, after.pending), (3, None));
}

/// Each blob is committed at one counter value: an older blob is rolled back, a newer one was
/// never committed, and a second blob for the current value (a copy the host kept from a
/// crashed or parallel instance) is superseded. Two instances started from one blob cannot
/// both commit: the second is refused and releases nothing, so one sequence never gets two
/// contents.
#[test]
fn rolled_back_uncommitted_and_forked_blobs_are_refused() {
    let chain = FakeChain::new(1);
    let (mut a, machine) = enclave(4);
    synced(&chain, &mut a, 1);
    let base = seal(&mut a);
    let identity = info(&mut a).identity;
    let mut b = restart(&machine, &base);

    // Both instances make a message with sequence 0, with different content.
    let from_a = emit(&mut a, b"from a");
    let from_b = emit(&mut b, b"from b");
    assert_eq!(from_a.counter, from_b.counter);
    let released = commit(&mut a, &from_a).messages;
    assert_eq!(
        (released[0].sequence, released[0].payload.as_slice()),
        (0, &b"from a"[..])
    );
    let err = b
        .ecall(Ecall::Commit {
            counter: from_b.counter,
        })
        .expect_err("the counter moved");
    assert!(
        matches!(
            err,
            EnclaveError::Counter(phalanx_worker::CounterError::Moved { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("another instance"), "{err}");
    assert!(outbox(&mut b).is_empty(), "b released nothing");

    let start = |blob: &[u8]| {
        phalanx_worker::Enclave::start(machine.platform(), &[blob]).map(|(enclave, _)| enclave)
    };
    // b's blob is for the current value but is not the committed one.
    let err = start(&from_b.sealed).expect_err("superseded");
    assert!(
        matches!(err.source, EnclaveError::Superseded { counter } if counter == from_a.counter),
        "{err}"
    );
    // The base is now a rolled-back copy, with the numbers and what to do.
    let err = start(&base).expect_err("rolled back");
    assert!(
        matches!(err.source, EnclaveError::RolledBack { sealed, current } if sealed + 1 == current),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("rolled back") && text.contains("latest sealed file"),
        "{text}"
    );
    // A blob sealed but never committed.
    let mut resumed = start(&from_a.sealed).expect("the committed blob");
    let ahead = emit(&mut resumed, b"never committed");
    let err = start(&ahead.sealed).expect_err("not committed");
    assert!(
        matches!(err.source, EnclaveError::NotCommitted { .. }),
        "{err}"
    );
    // Offered in the host's order (pending first), the committed one is chosen and the
    // refusal of the other is reported.
    let (mut enclave, started) =
        phalanx_worker::Enclave::start(machine.platform(), &[&ahead.sealed, &from_a.sealed])
            .expect("the committed blob");
    assert_eq!(started.accepted, Some(1));
    assert!(matches!(
        started.refused.as_slice(),
        [(0, EnclaveError::NotCommitted { .. })]
    ));
    let released = outbox(&mut enclave);
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].payload, b"from a");
    assert_eq!(info(&mut enclave).identity, identity);
}

/// Delivery is believed only with a proof of the chain's next sequence for the origin against
/// the head; a proven chain that is ahead of the enclave (someone else signed with its key) is
/// reported, not pruned.
#[test]
fn the_outbox_forgets_messages_only_on_proof_of_delivery() {
    let machine = common::Machine::new(6);
    let (mut enclave, _) = machine.fresh();
    let origin = Origin::Worker(info(&mut enclave).identity);
    let next_key = phalanx_runtime::message_queue::next_sequence_key(&origin);
    // Block 2 says the chain took two messages; block 3 says five (more than were signed).
    let chain = FakeChain::with_state(
        3,
        vec![phalanx_light_client::testing::keys(4)],
        |h, state| match h {
            2 => state.insert(next_key.clone(), 2u64.encode()),
            3 => state.insert(next_key.clone(), 5u64.encode()),
            _ => {}
        },
    );
    synced(&chain, &mut enclave, 1);
    for n in 0..3u8 {
        let pending = emit(&mut enclave, &[n]);
        commit(&mut enclave, &pending);
    }
    enclave.ecall(chain.sync(2)).expect("block 2");
    let proof = chain.states[2].clone().prove(&next_key).encode();
    let delivered = |next_sequence: u64, proof: &[u8]| Ecall::Delivered {
        origin,
        next_sequence,
        proof: proof.to_vec(),
    };
    // Lies: another count, another origin, garbage.
    assert!(enclave.ecall(delivered(3, &proof)).is_err());
    assert!(enclave
        .ecall(Ecall::Delivered {
            origin: Origin::Gatekeeper(*origin.id()),
            next_sequence: 2,
            proof: proof.clone(),
        })
        .is_err());
    assert!(matches!(
        enclave.ecall(delivered(2, &[0xff; 7])),
        Err(EnclaveError::MalformedProof(_))
    ));
    assert_eq!(outbox(&mut enclave).len(), 3);
    assert_eq!(
        enclave.ecall(delivered(2, &proof)).expect("proven"),
        Reply::Delivered {
            pruned: 2,
            remaining: 1
        }
    );
    assert_eq!(outbox(&mut enclave)[0].sequence, 2);
    // The pruning is sealed with the rest.
    let sealed = seal(&mut enclave);
    assert_eq!(outbox(&mut restart(&machine, &sealed)).len(), 1);
    enclave.ecall(chain.sync(3)).expect("block 3");
    let ahead = chain.states[3].clone().prove(&next_key).encode();
    let err = enclave.ecall(delivered(5, &ahead)).expect_err("ahead");
    assert!(
        matches!(
            err,
            EnclaveError::ChainAhead {
                chain: 5,
                ours: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(outbox(&mut enclave).len(), 1);
}

#[test]
fn a_registration_binds_the_keys_the_chain_and_the_verified_head() {
    let chain = FakeChain::new(4);
    let (mut enclave, _) = enclave(1);
    synced(&chain, &mut enclave, 4);
    let me = info(&mut enclave);
    let operator = Keypair::dev("charlie").account();
    let reply = enclave
        .ecall(Ecall::Register {
            operator,
            endpoint: "http://127.0.0.1:8100".into(),
        })
        .expect("registers");
    let Reply::Registration {
        registration,
        benchmark,
        ..
    } = reply
    else {
        panic!("unexpected reply");
    };
    let genesis = chain.genesis_hash();
    assert!(registration.verify_signature(&genesis));
    assert_eq!(registration.identity, me.identity);
    assert_eq!(registration.encryption_key, me.encryption_key);
    assert_eq!(registration.operator, operator);
    assert_eq!(registration.recent_block, (4, chain.blocks[4].hash()));
    assert_eq!(registration.performance, benchmark.score);
    assert!(registration.performance >= phalanx_runtime::registry::MIN_PERFORMANCE_SCORE);
    assert_eq!(registration.collateral, None);

    // The quote verifies under the dev policy exactly as the registry checks it.
    let quote = Quote::decode_strict(&registration.quote).expect("quote decodes");
    assert_eq!(quote.kind(), QuoteKind::Simulated);
    let policy = phalanx_runtime::genesis::dev_attestation_policy();
    let claims = phalanx_attestation::verify(&quote, None, 0, &policy.accepted_simulated_roots)
        .expect("authenticates");
    assert_eq!(
        claims.report_data,
        report_data(
            &me.identity,
            &me.encryption_key,
            genesis.as_bytes(),
            chain.blocks[4].hash().as_bytes()
        )
    );
    assert_eq!(
        policy.evaluate(&claims).expect("accepted").per_mille(),
        1000
    );

    // A bad endpoint is refused before any work.
    assert!(matches!(
        enclave.ecall(Ecall::Register {
            operator,
            endpoint: String::new()
        }),
        Err(EnclaveError::BadEndpoint)
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever bytes a host relays (blocks, proofs, quotes, policies), the enclave answers with
    /// an error, never panics, and never moves its head, retires or seals on garbage.
    #[test]
    fn arbitrary_relayed_bytes_never_panic_or_move_the_head(
        block in proptest::collection::vec(any::<u8>(), 0..300),
        certificate in proptest::collection::vec(any::<u8>(), 0..300),
        proof in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let chain = FakeChain::new(1);
        let (mut enclave, _) = enclave(1);
        synced(&chain, &mut enclave, 1);
        let handed = enclave.ecall(Ecall::HandOver {
            handover_key: [1; 32],
            quote: block.clone(),
            policy: certificate.clone(),
            policy_proof: proof.clone(),
        });
        prop_assert!(handed.is_err());
        let delivered = enclave.ecall(Ecall::Delivered {
            origin: Origin::Worker([0; 32]),
            next_sequence: 1,
            proof: proof.clone(),
        });
        prop_assert!(delivered.is_err());
        let relayed = enclave.ecall(Ecall::SyncBlock { block, certificate });
        prop_assert!(relayed.is_err());
        let verified = enclave.ecall(Ecall::VerifyValue { key: b"counter".to_vec(), value: None, proof });
        prop_assert!(verified.is_err());
        prop_assert_eq!(head(&mut enclave), 1);
        let after = info(&mut enclave);
        prop_assert_eq!((after.handed_over_to, after.pending), (None, None));
    }
}

/// The enclave follows validator-set changes: at each epoch's last block the host must show the
/// next set by proof; before that nothing later is accepted, a forged set is refused, and once
/// the set changed the retired one certifies nothing.
#[test]
fn the_enclave_follows_the_validator_set_across_epochs() {
    use phalanx_light_client::testing::{certify_in_epoch, keys};
    use phalanx_light_client::{last_height_of, EPOCH_LENGTH};
    let old_set = keys(4);
    let new_set: Vec<_> = (20..24).map(phalanx_light_client::testing::key).collect();
    let chain = FakeChain::with_sets(EPOCH_LENGTH + 3, vec![old_set.clone(), new_set.clone()]);
    let boundary = last_height_of(0);
    let (mut enclave, machine) = enclave(7);
    synced(&chain, &mut enclave, boundary - 1);
    match enclave
        .ecall(chain.sync(boundary))
        .expect("the boundary block")
    {
        Reply::Synced { needs_next_set, .. } => assert!(needs_next_set),
        other => panic!("unexpected reply {other:?}"),
    }

    // A host that skips the set change: the first block of epoch 1 is refused.
    let err = enclave
        .ecall(chain.sync(boundary + 1))
        .expect_err("no set for epoch 1 yet");
    assert!(err.to_string().contains("epoch"), "{err}");
    assert_eq!(head(&mut enclave), boundary);

    // A host that shows its own keys as the next set, with a proof of the real state.
    let Ecall::AdvanceEpoch { proof, .. } = chain.advance(1) else {
        panic!("advance is an AdvanceEpoch");
    };
    let own = phalanx_light_client::testing::raw_publics(&keys(1));
    assert!(enclave
        .ecall(Ecall::AdvanceEpoch {
            validators: own,
            proof: proof.clone(),
        })
        .is_err());
    // Truncated proof bytes.
    assert!(enclave
        .ecall(Ecall::AdvanceEpoch {
            validators: phalanx_light_client::testing::raw_publics(&new_set),
            proof: proof[..proof.len() / 2].to_vec(),
        })
        .is_err());

    // A restart here (sealed before the change) keeps the pending boundary.
    let sealed = seal(&mut enclave);
    let mut enclave = restart(&machine, &sealed);
    enclave.ecall(chain.advance(1)).expect("the proven set");
    assert!(
        enclave.ecall(chain.advance(1)).is_err(),
        "a second change at the same boundary is refused"
    );

    // The retired set can no longer certify: block 64 signed by the old set in epoch 1 or 0.
    let next = &chain.blocks[usize::try_from(boundary + 1).expect("small")];
    for epoch in [0, 1] {
        let by_old = certify_in_epoch(
            &old_set,
            &[0, 1, 2, 3],
            &chain.namespace(),
            next.hash(),
            epoch,
        );
        assert!(enclave
            .ecall(Ecall::SyncBlock {
                block: parity_scale_codec::Encode::encode(next),
                certificate: by_old,
            })
            .is_err());
    }
    enclave
        .ecall(chain.sync(boundary + 1))
        .expect("the new set");

    // The progress survives sealing: after a restart the new set still certifies.
    let sealed = seal(&mut enclave);
    let mut enclave = restart(&machine, &sealed);
    enclave
        .ecall(chain.sync(boundary + 2))
        .expect("after restart");
    assert_eq!(head(&mut enclave), boundary + 2);
}

/// A host (or lying node) that pins its own or the current validator set as the genesis set
/// is refused: the set must be the one the genesis state holds.
#[test]
fn the_genesis_set_is_checked_against_the_genesis_state() {
    use phalanx_light_client::testing::keys;
    let chain = FakeChain::new(1);
    let Ecall::InitChain {
        genesis_block,
        validators_proof,
        ..
    } = chain.init()
    else {
        panic!("init is an InitChain");
    };
    let (mut enclave, _) = enclave(8);
    for lie in [
        phalanx_light_client::testing::raw_publics(&keys(1)),
        phalanx_light_client::testing::raw_publics(
            &(30..34)
                .map(phalanx_light_client::testing::key)
                .collect::<Vec<_>>(),
        ),
    ] {
        let err = enclave
            .ecall(Ecall::InitChain {
                genesis_block: genesis_block.clone(),
                validators: lie,
                validators_proof: validators_proof.clone(),
            })
            .expect_err("not the genesis set");
        assert!(err.to_string().contains("genesis"), "{err}");
    }
    assert_eq!(info(&mut enclave).genesis_hash, None, "nothing pinned");
    enclave.ecall(chain.init()).expect("the real genesis set");
}
