//! The outbox: the messages the enclave signed for the chain, sequenced per origin.
//!
//! Enclave logic (never the host) decides what to send; `Enclave::emit` puts it here.
//! The outbox allocates each origin's next sequence number, signs the [`SignedMessage`] with
//! the origin's key, and keeps it until a state proof shows the chain has it
//! ([`super::Ecall::Delivered`]). It is part of the sealed state, so a message survives a crash
//! between its release and its relay: the host asks again ([`super::Ecall::Outbox`]) and gets the
//! very same bytes.
//!
//! Invariants:
//! - Sequence numbers per origin are gap-free and each is used once: the outbox only moves
//!   forward, and the sealed-state protocol ([`super`], "Sealed state") makes every release
//!   permanent before the host sees it, so no rollback can reuse a released number.
//! - Limits are checked before anything changes: a refused message takes no sequence number.
//! - The outbox is bounded ([`MAX_OUTBOX_MESSAGES`], [`MAX_OUTBOX_BYTES`]) so the sealed state
//!   stays small; a full outbox refuses new messages until delivery is proven.

use std::collections::BTreeMap;

use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::call::{Origin, SignedMessage, MAX_PAYLOAD_BYTES, MAX_TOPIC_BYTES};
use phalanx_primitives::{Hash, Keypair};

use super::{EnclaveError, Result};

/// Most messages waiting for proof of delivery.
pub const MAX_OUTBOX_MESSAGES: usize = 256;
/// Most key messages (a gatekeeper's) waiting for proof of delivery: the rest of the outbox
/// stays free for messages of other kinds.
pub const MAX_KEY_MESSAGES: usize = 192;
/// Most topic and payload bytes waiting for proof of delivery (a quarter of a sealed blob).
pub const MAX_OUTBOX_BYTES: usize = 256 * 1024;

/// One message enclave logic wants to send (see `Enclave::emit_all`).
#[allow(dead_code, reason = "made by message kinds; tests use it meanwhile")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// Who sends it; the enclave must hold this origin's key.
    pub origin: Origin,
    /// What it is about (at most [`MAX_TOPIC_BYTES`]).
    pub topic: Vec<u8>,
    /// The content (at most [`MAX_PAYLOAD_BYTES`]).
    pub payload: Vec<u8>,
}

/// Next sequence numbers and the signed messages not yet proven delivered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Outbox {
    /// The sequence the next message of each origin carries (absent: 0).
    next: BTreeMap<Origin, u64>,
    /// Signed messages in the order they were made, oldest first.
    messages: Vec<SignedMessage>,
}

#[allow(dead_code, reason = "used when messages are emitted")]
fn size(topic: &[u8], payload: &[u8]) -> usize {
    topic.len() + payload.len()
}

#[allow(dead_code, reason = "check and push run when messages are emitted")]
impl Outbox {
    /// The sequence `origin`'s next message will carry.
    pub fn next_sequence(&self, origin: &Origin) -> u64 {
        self.next.get(origin).copied().unwrap_or(0)
    }

    /// How many messages are waiting.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// The waiting messages, oldest first.
    pub fn messages(&self) -> &[SignedMessage] {
        &self.messages
    }

    fn bytes(&self) -> usize {
        self.messages
            .iter()
            .map(|m| size(&m.topic, &m.payload))
            .sum()
    }

    /// Checks that `batch` fits (sizes and room), before anything changes.
    pub fn check(&self, batch: &[Outgoing]) -> Result<()> {
        for message in batch {
            if message.topic.len() > MAX_TOPIC_BYTES {
                return Err(EnclaveError::TopicTooLong {
                    len: message.topic.len(),
                });
            }
            if message.payload.len() > MAX_PAYLOAD_BYTES {
                return Err(EnclaveError::PayloadTooLarge {
                    len: message.payload.len(),
                });
            }
        }
        let count = self.messages.len() + batch.len();
        let bytes = self.bytes()
            + batch
                .iter()
                .map(|m| size(&m.topic, &m.payload))
                .sum::<usize>();
        if count > MAX_OUTBOX_MESSAGES || bytes > MAX_OUTBOX_BYTES {
            return Err(EnclaveError::OutboxFull {
                messages: self.messages.len(),
            });
        }
        Ok(())
    }

    /// Signs `message` with `key` (the origin's key) as the origin's next sequence for the chain
    /// with `genesis`, and keeps it. Call [`Self::check`] first.
    pub fn push(&mut self, message: Outgoing, key: &Keypair, genesis: &Hash) -> SignedMessage {
        let sequence = self.next_sequence(&message.origin);
        let signed = SignedMessage::new(
            message.origin,
            sequence,
            message.topic,
            message.payload,
            key,
            genesis,
        );
        self.next.insert(message.origin, sequence.saturating_add(1));
        self.messages.push(signed.clone());
        signed
    }

    /// Forgets `origin`'s messages below `chain_next`, the chain's next sequence for it (which
    /// the caller proved). Returns how many were dropped. Refuses a chain that is ahead of the
    /// outbox: it accepted a sequence this enclave never signed.
    pub fn prune(&mut self, origin: &Origin, chain_next: u64) -> Result<usize> {
        let ours = self.next_sequence(origin);
        if chain_next > ours {
            return Err(EnclaveError::ChainAhead {
                origin: *origin,
                chain: chain_next,
                ours,
            });
        }
        let before = self.messages.len();
        self.messages
            .retain(|m| m.origin != *origin || m.sequence >= chain_next);
        Ok(before - self.messages.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(origin: Origin, topic: &[u8], payload: usize) -> Outgoing {
        Outgoing {
            origin,
            topic: topic.to_vec(),
            payload: vec![7; payload],
        }
    }

    #[test]
    fn sequences_are_per_origin_gap_free_and_signed_by_the_key() {
        let key = Keypair::dev("worker");
        let genesis = Hash::of(b"genesis");
        let worker = Origin::Worker(key.account().0);
        let gatekeeper = Origin::Gatekeeper(key.account().0);
        let mut outbox = Outbox::default();
        let batch = vec![
            outgoing(worker, b"a", 1),
            outgoing(gatekeeper, b"b", 2),
            outgoing(worker, b"c", 3),
        ];
        outbox.check(&batch).expect("fits");
        let signed: Vec<_> = batch
            .into_iter()
            .map(|m| outbox.push(m, &key, &genesis))
            .collect();
        let sequences: Vec<_> = signed.iter().map(|m| (m.origin, m.sequence)).collect();
        assert_eq!(sequences, vec![(worker, 0), (gatekeeper, 0), (worker, 1)]);
        assert!(signed
            .iter()
            .all(|m| m.verify_signature(&key.account().0, &genesis)));
        assert_eq!(outbox.next_sequence(&worker), 2);
        assert_eq!(outbox.next_sequence(&gatekeeper), 1);
        assert_eq!(outbox.messages(), signed.as_slice());
    }

    #[test]
    fn limits_are_checked_before_anything_changes() {
        let origin = Origin::Worker([1; 32]);
        let outbox = Outbox::default();
        assert!(matches!(
            outbox.check(&[outgoing(origin, &[0; MAX_TOPIC_BYTES + 1], 0)]),
            Err(EnclaveError::TopicTooLong { .. })
        ));
        assert!(matches!(
            outbox.check(&[outgoing(origin, b"t", MAX_PAYLOAD_BYTES + 1)]),
            Err(EnclaveError::PayloadTooLarge { .. })
        ));
        let too_many = vec![outgoing(origin, b"t", 0); MAX_OUTBOX_MESSAGES + 1];
        assert!(matches!(
            outbox.check(&too_many),
            Err(EnclaveError::OutboxFull { messages: 0 })
        ));
        let too_big = vec![outgoing(origin, b"t", MAX_PAYLOAD_BYTES); 17];
        assert!(matches!(
            outbox.check(&too_big),
            Err(EnclaveError::OutboxFull { .. })
        ));
        assert_eq!(outbox, Outbox::default());
    }

    #[test]
    fn pruning_drops_delivered_messages_and_refuses_a_chain_ahead() {
        let key = Keypair::dev("worker");
        let genesis = Hash::of(b"genesis");
        let worker = Origin::Worker(key.account().0);
        let other = Origin::Gatekeeper(key.account().0);
        let mut outbox = Outbox::default();
        for origin in [worker, worker, other, worker] {
            outbox.push(outgoing(origin, b"t", 1), &key, &genesis);
        }
        assert_eq!(outbox.prune(&worker, 2).expect("proven"), 2);
        let left: Vec<_> = outbox
            .messages()
            .iter()
            .map(|m| (m.origin, m.sequence))
            .collect();
        assert_eq!(left, vec![(other, 0), (worker, 2)]);
        assert_eq!(outbox.prune(&worker, 2).expect("again"), 0);
        let before = outbox.clone();
        let err = outbox.prune(&worker, 4).expect_err("never signed 3");
        assert!(
            matches!(
                err,
                EnclaveError::ChainAhead {
                    chain: 4,
                    ours: 3,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(outbox, before);
    }
}
