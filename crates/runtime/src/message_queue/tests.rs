//! The message queue: in-order acceptance, and each refusal with its own error.

use super::*;
use crate::registry::tests::{chain, registration, send, worker_identity};
use crate::testing::*;
use crate::{apply_transaction, DispatchError, Receipt};
use phalanx_primitives::call::Call;
use phalanx_primitives::{Hash, Keypair};

/// A dev chain with worker "1" registered by alice.
fn chain_with_worker() -> (State, BlockContext, Keypair) {
    let (mut state, ctx) = chain();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let registered = registration(&state, &ctx, &worker, &alice.account());
    let receipt = send(&mut state, &ctx, &alice, registered);
    assert_eq!(receipt.error, None);
    (state, ctx, worker)
}

fn message(
    origin: Origin,
    sequence: u64,
    payload: &[u8],
    key: &Keypair,
    ctx: &BlockContext,
) -> SignedMessage {
    SignedMessage::new(
        origin,
        sequence,
        b"heartbeat".to_vec(),
        payload.to_vec(),
        key,
        &ctx.genesis_hash,
    )
}

/// Relays `message` in a transaction from bob (an untrusted host); checks invariants.
fn relay(state: &mut State, ctx: &BlockContext, message: SignedMessage) -> Receipt {
    let bob = key("bob");
    let nonce = crate::system::nonce(state, &bob.account()).expect("nonce");
    let tx = signed(
        &bob,
        nonce,
        Call::MessageQueue(MessageQueueCall::Push(message)),
        ctx,
    );
    let receipt = apply_transaction(state, ctx, &tx).expect("valid envelope");
    check_invariants(state);
    receipt
}

/// Asserts `message` is refused with `error` and changes nothing but the relayer's fee and nonce.
fn assert_refused(
    state: &mut State,
    ctx: &BlockContext,
    message: SignedMessage,
    error: MessageQueueError,
) {
    let mut expected = state.clone();
    let receipt = relay(state, ctx, message);
    assert_eq!(receipt.error, Some(code(DispatchError::from(error))));
    crate::system::charge(&mut expected, &key("bob").account(), receipt.fee).expect("fee");
    assert_eq!(
        state.root(),
        expected.root(),
        "a refused message changed the state"
    );
}

#[test]
fn messages_are_accepted_in_order_and_readable_from_state() {
    let (mut state, ctx, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    assert_eq!(next_sequence(&state, &origin), Ok(0));
    for sequence in 0..3 {
        let sent = message(origin, sequence, &[sequence as u8; 10], &worker, &ctx);
        let receipt = relay(&mut state, &ctx, sent.clone());
        assert_eq!(receipt.error, None);
        assert!(receipt.events.contains(&Event::MessagePushed {
            origin,
            sequence,
            topic: b"heartbeat".to_vec()
        }));
        let json = serde_json::to_value(&receipt.events).expect("serializes");
        assert_eq!(json[1]["event"], "message_pushed");
        assert_eq!(json[1]["origin"]["worker"], hex::encode(origin.id()));
        assert_eq!(json[1]["topic"], hex::encode(b"heartbeat"));
        assert_eq!(
            super::message(&state, &origin, sequence),
            Ok(Some(QueuedMessage {
                pushed_at: ctx.height,
                message: sent
            }))
        );
    }
    assert_eq!(next_sequence(&state, &origin), Ok(3));
    assert_eq!(super::message(&state, &origin, 3), Ok(None));
    // The stored bytes are provable under the documented key.
    assert!(state.get(&message_key(&origin, 1)).is_some());
    assert_eq!(&message_key(&origin, 1)[..11], b"mq/message/");
    assert_eq!(message_key(&origin, 1).len(), 11 + 33 + 1 + 8);
}

#[test]
fn origins_the_chain_has_no_registry_of_are_refused() {
    let (mut state, ctx, worker) = chain_with_worker();
    // Properly signed by the key the origin names, yet refused: the chain cannot know that
    // key belongs to a gatekeeper, cluster or contract, and accepting it would let anyone open
    // queues in their name.
    let stranger = Keypair::dev("gatekeeper");
    let id = stranger.account().0;
    for (origin, kind) in [
        (Origin::Gatekeeper(id), "gatekeeper"),
        (Origin::Cluster(id), "cluster"),
        (Origin::Contract(id), "contract"),
    ] {
        for sequence in [0, 5] {
            assert_refused(
                &mut state,
                &ctx,
                message(origin, sequence, b"g", &stranger, &ctx),
                MessageQueueError::UnknownOriginKind { kind },
            );
        }
        assert_eq!(next_sequence(&state, &origin), Ok(0));
    }
    // Registered workers have their own, independent queues.
    let other = worker_identity("2");
    let registered = registration(&state, &ctx, &other, &key("alice").account());
    assert_eq!(
        send(&mut state, &ctx, &key("alice"), registered).error,
        None
    );
    for (who, sends) in [(&worker, 2), (&other, 1)] {
        let origin = Origin::Worker(who.account().0);
        for sequence in 0..sends {
            let sent = message(origin, sequence, b"w", who, &ctx);
            assert_eq!(relay(&mut state, &ctx, sent).error, None);
        }
    }
    assert_eq!(
        next_sequence(&state, &Origin::Worker(worker.account().0)),
        Ok(2)
    );
    assert_eq!(
        next_sequence(&state, &Origin::Worker(other.account().0)),
        Ok(1)
    );
}

#[test]
fn replays_and_gaps_are_refused() {
    let (mut state, ctx, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    let first = message(origin, 0, b"first", &worker, &ctx);
    assert_eq!(relay(&mut state, &ctx, first.clone()).error, None);
    assert_refused(
        &mut state,
        &ctx,
        first,
        MessageQueueError::ReplayedSequence {
            got: 0,
            expected: 1,
        },
    );
    let ahead = message(origin, 2, b"third", &worker, &ctx);
    assert_refused(
        &mut state,
        &ctx,
        ahead.clone(),
        MessageQueueError::SequenceGap {
            got: 2,
            expected: 1,
        },
    );
    assert_eq!(
        relay(
            &mut state,
            &ctx,
            message(origin, 1, b"second", &worker, &ctx)
        )
        .error,
        None
    );
    assert_eq!(relay(&mut state, &ctx, ahead).error, None);
}

#[test]
fn forged_and_foreign_signatures_are_refused() {
    let (mut state, ctx, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);

    let mut forged = message(origin, 0, b"x", &worker, &ctx);
    forged.signature[7] ^= 1;
    assert_refused(&mut state, &ctx, forged, MessageQueueError::BadSignature);

    let mut altered = message(origin, 0, b"x", &worker, &ctx);
    altered.payload = b"y".to_vec();
    assert_refused(&mut state, &ctx, altered, MessageQueueError::BadSignature);

    // Another registered worker cannot speak for this one.
    let alice = key("alice");
    let other = worker_identity("2");
    let registered = registration(&state, &ctx, &other, &alice.account());
    assert_eq!(send(&mut state, &ctx, &alice, registered).error, None);
    assert_refused(
        &mut state,
        &ctx,
        message(origin, 0, b"x", &other, &ctx),
        MessageQueueError::BadSignature,
    );

    // A message the worker signed for another chain.
    let foreign = SignedMessage::new(
        origin,
        0,
        b"t".to_vec(),
        b"x".to_vec(),
        &worker,
        &Hash::of(b"another chain"),
    );
    assert_refused(&mut state, &ctx, foreign, MessageQueueError::BadSignature);

    assert_eq!(next_sequence(&state, &origin), Ok(0));
}

#[test]
fn unregistered_workers_are_refused() {
    let (mut state, ctx) = chain();
    let stranger = worker_identity("stranger");
    let sent = message(
        Origin::Worker(stranger.account().0),
        0,
        b"x",
        &stranger,
        &ctx,
    );
    let error = MessageQueueError::UnregisteredWorker {
        identity: hex::encode(stranger.account().0),
    };
    assert_refused(&mut state, &ctx, sent, error);
}

#[test]
fn oversized_topics_and_payloads_are_refused() {
    let (mut state, ctx, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    let big = SignedMessage::new(
        origin,
        0,
        vec![],
        vec![0; MAX_PAYLOAD_BYTES + 1],
        &worker,
        &ctx.genesis_hash,
    );
    let error = MessageQueueError::PayloadTooLarge {
        len: MAX_PAYLOAD_BYTES + 1,
        max: MAX_PAYLOAD_BYTES,
    };
    assert_refused(&mut state, &ctx, big, error);
    let long = SignedMessage::new(
        origin,
        0,
        vec![b't'; MAX_TOPIC_BYTES + 1],
        vec![],
        &worker,
        &ctx.genesis_hash,
    );
    let error = MessageQueueError::TopicTooLong {
        len: MAX_TOPIC_BYTES + 1,
        max: MAX_TOPIC_BYTES,
    };
    assert_refused(&mut state, &ctx, long, error);
    let limits = SignedMessage::new(
        origin,
        0,
        vec![b't'; MAX_TOPIC_BYTES],
        vec![1; MAX_PAYLOAD_BYTES],
        &worker,
        &ctx.genesis_hash,
    );
    assert_eq!(relay(&mut state, &ctx, limits).error, None);
}
