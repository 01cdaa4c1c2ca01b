//! The message queue: in-order acceptance, and each refusal with its own error.

use super::*;
use crate::registry::tests::worker_identity;
use crate::testing::*;
use crate::Receipt;
use phalanx_primitives::call::Call;
use phalanx_primitives::{Hash, Keypair};

/// A dev chain with worker "1" registered by alice.
fn chain_with_worker() -> (TestChain, Keypair) {
    let mut chain = TestChain::new();
    let worker = worker_identity("1");
    chain.register_worker(&worker);
    (chain, worker)
}

fn message(
    origin: Origin,
    sequence: u64,
    payload: &[u8],
    key: &Keypair,
    chain: &TestChain,
) -> SignedMessage {
    SignedMessage::new(
        origin,
        sequence,
        b"heartbeat".to_vec(),
        payload.to_vec(),
        key,
        &chain.ctx.genesis_hash,
    )
}

/// Message queue steps on the shared driver.
impl TestChain {
    /// Alice registers `worker` in the open block.
    fn register_worker(&mut self, worker: &Keypair) {
        let alice = key("alice");
        let registration = self.registration(worker, &alice.account());
        assert_eq!(self.register(&alice, registration).error, None);
    }

    /// Relays `message` in a transaction from bob (an untrusted host) in the open block.
    fn relay(&mut self, message: SignedMessage) -> Receipt {
        self.apply(
            &key("bob"),
            Call::MessageQueue(MessageQueueCall::Push(message)),
        )
    }

    /// Asserts `message` is refused with `error` and changes nothing but the relayer's fee and
    /// nonce.
    fn assert_message_refused(&mut self, message: SignedMessage, error: MessageQueueError) {
        // The block's begin hooks first, so the copy is the state the transaction meets.
        self.begin();
        let mut expected = self.state.clone();
        let receipt = self.relay(message);
        assert_eq!(receipt.error, Some(code(error)));
        crate::system::charge(&mut expected, &key("bob").account(), receipt.fee).expect("fee");
        assert_eq!(
            self.state.root(),
            expected.root(),
            "a refused message changed the state"
        );
    }
}

#[test]
fn messages_are_accepted_in_order_and_readable_from_state() {
    let (mut chain, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    assert_eq!(next_sequence(&chain.state, &origin), Ok(0));
    for sequence in 0..3 {
        let sent = message(origin, sequence, &[sequence as u8; 10], &worker, &chain);
        let receipt = chain.relay(sent.clone());
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
            super::message(&chain.state, &origin, sequence),
            Ok(Some(QueuedMessage {
                pushed_at: chain.height(),
                message: sent
            }))
        );
    }
    assert_eq!(next_sequence(&chain.state, &origin), Ok(3));
    assert_eq!(super::message(&chain.state, &origin, 3), Ok(None));
    // The stored bytes are provable under the documented key.
    assert!(chain.state.get(&message_key(&origin, 1)).is_some());
    assert_eq!(&message_key(&origin, 1)[..11], b"mq/message/");
    assert_eq!(message_key(&origin, 1).len(), 11 + 33 + 1 + 8);
    chain.end_block();
}

#[test]
fn origins_the_chain_has_no_registry_of_are_refused() {
    let (mut chain, worker) = chain_with_worker();
    // Properly signed by the key the origin names, yet refused: the chain cannot know that
    // key belongs to a gatekeeper, cluster or contract, and accepting it would let anyone open
    // queues in their name.
    let stranger = Keypair::dev("gatekeeper");
    let id = stranger.account().0;
    // A gatekeeper origin must be appointed (see `gatekeeper::tests` for appointed ones).
    for sequence in [0, 5] {
        chain.assert_message_refused(
            message(Origin::Gatekeeper(id), sequence, b"g", &stranger, &chain),
            MessageQueueError::NotAGatekeeper {
                identity: hex::encode(id),
            },
        );
    }
    for (origin, kind) in [
        (Origin::Cluster(id), "cluster"),
        (Origin::Contract(id), "contract"),
    ] {
        for sequence in [0, 5] {
            chain.assert_message_refused(
                message(origin, sequence, b"g", &stranger, &chain),
                MessageQueueError::UnknownOriginKind { kind },
            );
        }
        assert_eq!(next_sequence(&chain.state, &origin), Ok(0));
    }
    // Registered workers have their own, independent queues.
    let other = worker_identity("2");
    chain.register_worker(&other);
    for (who, sends) in [(&worker, 2), (&other, 1)] {
        let origin = Origin::Worker(who.account().0);
        for sequence in 0..sends {
            let sent = message(origin, sequence, b"w", who, &chain);
            assert_eq!(chain.relay(sent).error, None);
        }
    }
    assert_eq!(
        next_sequence(&chain.state, &Origin::Worker(worker.account().0)),
        Ok(2)
    );
    assert_eq!(
        next_sequence(&chain.state, &Origin::Worker(other.account().0)),
        Ok(1)
    );
    chain.end_block();
}

#[test]
fn replays_and_gaps_are_refused() {
    let (mut chain, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    let first = message(origin, 0, b"first", &worker, &chain);
    assert_eq!(chain.relay(first.clone()).error, None);
    chain.assert_message_refused(
        first,
        MessageQueueError::ReplayedSequence {
            got: 0,
            expected: 1,
        },
    );
    let ahead = message(origin, 2, b"third", &worker, &chain);
    chain.assert_message_refused(
        ahead.clone(),
        MessageQueueError::SequenceGap {
            got: 2,
            expected: 1,
        },
    );
    assert_eq!(
        chain
            .relay(message(origin, 1, b"second", &worker, &chain))
            .error,
        None
    );
    assert_eq!(chain.relay(ahead).error, None);
    chain.end_block();
}

#[test]
fn forged_and_foreign_signatures_are_refused() {
    let (mut chain, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);

    let mut forged = message(origin, 0, b"x", &worker, &chain);
    forged.signature[7] ^= 1;
    chain.assert_message_refused(forged, MessageQueueError::BadSignature);

    let mut altered = message(origin, 0, b"x", &worker, &chain);
    altered.payload = b"y".to_vec();
    chain.assert_message_refused(altered, MessageQueueError::BadSignature);

    // Another registered worker cannot speak for this one.
    let other = worker_identity("2");
    chain.register_worker(&other);
    chain.assert_message_refused(
        message(origin, 0, b"x", &other, &chain),
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
    chain.assert_message_refused(foreign, MessageQueueError::BadSignature);

    assert_eq!(next_sequence(&chain.state, &origin), Ok(0));
    chain.end_block();
}

#[test]
fn unregistered_workers_are_refused() {
    let mut chain = TestChain::new();
    let stranger = worker_identity("stranger");
    let sent = message(
        Origin::Worker(stranger.account().0),
        0,
        b"x",
        &stranger,
        &chain,
    );
    let error = MessageQueueError::UnregisteredWorker {
        identity: hex::encode(stranger.account().0),
    };
    chain.assert_message_refused(sent, error);
    chain.end_block();
}

#[test]
fn oversized_topics_and_payloads_are_refused() {
    let (mut chain, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    let big = SignedMessage::new(
        origin,
        0,
        vec![],
        vec![0; MAX_PAYLOAD_BYTES + 1],
        &worker,
        &chain.ctx.genesis_hash,
    );
    let error = MessageQueueError::PayloadTooLarge {
        len: MAX_PAYLOAD_BYTES + 1,
        max: MAX_PAYLOAD_BYTES,
    };
    chain.assert_message_refused(big, error);
    let long = SignedMessage::new(
        origin,
        0,
        vec![b't'; MAX_TOPIC_BYTES + 1],
        vec![],
        &worker,
        &chain.ctx.genesis_hash,
    );
    let error = MessageQueueError::TopicTooLong {
        len: MAX_TOPIC_BYTES + 1,
        max: MAX_TOPIC_BYTES,
    };
    chain.assert_message_refused(long, error);
    let limits = SignedMessage::new(
        origin,
        0,
        vec![b't'; MAX_TOPIC_BYTES],
        vec![1; MAX_PAYLOAD_BYTES],
        &worker,
        &chain.ctx.genesis_hash,
    );
    assert_eq!(chain.relay(limits).error, None);
    chain.end_block();
}

/// `worker`'s message `sequence` on `topic`.
fn on_topic(
    chain: &TestChain,
    worker: &Keypair,
    sequence: u64,
    topic: &[u8],
    payload: &[u8],
) -> SignedMessage {
    SignedMessage::new(
        Origin::Worker(worker.account().0),
        sequence,
        topic.to_vec(),
        payload.to_vec(),
        worker,
        &chain.ctx.genesis_hash,
    )
}

/// Heartbeat answers waiting for removal.
fn expiring_count(chain: &TestChain) -> usize {
    chain.state.scan_prefix(EXPIRE_PREFIX).count()
}

#[test]
fn heartbeat_answers_leave_state_after_their_retention_and_other_messages_stay() {
    let (mut chain, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    let answer = on_topic(
        &chain,
        &worker,
        0,
        mining::HEARTBEAT_TOPIC,
        b"no such challenge",
    );
    assert_eq!(chain.relay(answer.clone()).error, None);
    let other = on_topic(&chain, &worker, 1, b"other", b"kept");
    assert_eq!(chain.relay(other).error, None);
    let pushed_ms = chain.ctx.timestamp_ms;
    chain.end_block();
    assert!(super::message(&chain.state, &origin, 0)
        .expect("decodes")
        .is_some());
    assert_eq!(
        expiring_count(&chain),
        1,
        "only the heartbeat answer expires"
    );
    assert!(chain
        .state
        .get(&expiry_key(pushed_ms + HEARTBEAT_RETENTION_MS, &origin, 0))
        .is_some());

    // One millisecond short of the retention: still there.
    chain.ctx.timestamp_ms = pushed_ms + HEARTBEAT_RETENTION_MS - 1;
    chain.end_block();
    assert!(super::message(&chain.state, &origin, 0)
        .expect("decodes")
        .is_some());

    chain.ctx.timestamp_ms = pushed_ms + HEARTBEAT_RETENTION_MS;
    chain.end_block();
    assert_eq!(super::message(&chain.state, &origin, 0), Ok(None));
    assert_eq!(expiring_count(&chain), 0);
    assert!(
        super::message(&chain.state, &origin, 1)
            .expect("decodes")
            .is_some(),
        "a message on another topic stays"
    );
    // The sequence stays used: the removed answer can't be replayed.
    assert_eq!(next_sequence(&chain.state, &origin), Ok(2));
    chain.assert_message_refused(
        answer,
        MessageQueueError::ReplayedSequence {
            got: 0,
            expected: 2,
        },
    );
    // A conflict with it can no longer be reported.
    let conflicting = on_topic(
        &chain,
        &worker,
        0,
        mining::HEARTBEAT_TOPIC,
        b"another answer",
    );
    let receipt = chain.apply(
        &key("bob"),
        Call::MessageQueue(MessageQueueCall::ReportConflict(conflicting)),
    );
    assert_eq!(
        receipt.error,
        Some(code(MessageQueueError::NoMessageAtSequence(0)))
    );
    chain.end_block();
}

#[test]
fn expired_answers_are_removed_a_bounded_number_a_block_oldest_first() {
    let (mut chain, worker) = chain_with_worker();
    let origin = Origin::Worker(worker.account().0);
    let total = EXPIRIES_PER_BLOCK as u64 + 40;
    for sequence in 0..total {
        let answer = on_topic(&chain, &worker, sequence, mining::HEARTBEAT_TOPIC, b"x");
        assert_eq!(chain.relay(answer).error, None);
        if sequence == 9 {
            // The first ten a block earlier than the rest.
            chain.end_block();
        }
    }
    chain.end_block();
    assert_eq!(expiring_count(&chain), total as usize);
    chain.ctx.timestamp_ms += 2 * HEARTBEAT_RETENTION_MS;
    chain.end_block();
    assert_eq!(expiring_count(&chain), 40);
    for sequence in 0..EXPIRIES_PER_BLOCK as u64 {
        assert_eq!(super::message(&chain.state, &origin, sequence), Ok(None));
    }
    assert!(super::message(&chain.state, &origin, total - 1)
        .expect("decodes")
        .is_some());
    chain.end_block();
    assert_eq!(expiring_count(&chain), 0);
    assert_eq!(super::message(&chain.state, &origin, total - 1), Ok(None));
}

#[test]
fn an_expiry_key_names_its_origin_and_sequence_and_nothing_else_parses() {
    let origin = Origin::Gatekeeper([7; 32]);
    let key = expiry_key(1_700_000_000_000, &origin, 258);
    assert_eq!(expiring(&key), Some((origin, 258)));
    assert_eq!(&key[..EXPIRE_PREFIX.len()], b"mq/expire/");
    assert_eq!(key.len(), EXPIRE_PREFIX.len() + 8 + 1 + 33 + 1 + 8);
    for cut in 0..key.len() {
        assert_eq!(expiring(&key[..cut]), None, "truncated at {cut}");
    }
    let mut longer = key.clone();
    longer.push(0);
    assert_eq!(expiring(&longer), None);
    let mut bad_origin = key.clone();
    bad_origin[EXPIRE_PREFIX.len() + 9] = 0xff;
    assert_eq!(expiring(&bad_origin), None);
}
