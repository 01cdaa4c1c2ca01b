//! Message queue: signed, sequenced messages from enclaves to the chain (DESIGN.md §9).
//!
//! Every [`Origin`] (worker, gatekeeper, cluster, contract) has its own queue. The untrusted host
//! relays a [`SignedMessage`] in a transaction from any account (the host pays the fee); the
//! chain trusts the message only because of the origin's signature. Rules of
//! [`MessageQueueCall::Push`], each with its own [`MessageQueueError`], cheap checks first:
//! 1. the topic is at most [`MAX_TOPIC_BYTES`] and the payload at most [`MAX_PAYLOAD_BYTES`];
//! 2. the chain knows the origin, and its enclave is not banned for misbehaviour
//!    ([`mining::punish_enclave`]): a worker origin must be a registered worker, a gatekeeper
//!    origin an appointed gatekeeper ([`crate::gatekeeper`]); cluster and contract origins are
//!    refused ([`MessageQueueError::UnknownOriginKind`]) until the chain keeps a registry of
//!    them;
//! 3. the sequence is exactly the origin's next one: a lower one is a replay, a higher one a
//!    gap (the host dropped or reordered messages and must relay the missing ones first);
//! 4. the signature verifies under the origin's key over
//!    [`SignedMessage::signing_payload`] with this chain's genesis hash.
//!
//! The origin's key: for [`Origin::Worker`] and [`Origin::Gatekeeper`] it is the worker's
//! identity key, which is the origin's 32 bytes (so registration, and for a gatekeeper its
//! appointment, is what makes the key trusted). Clusters and contracts have no registry of
//! keys yet, so the chain cannot know who speaks for them: taking any 32 bytes as a key would
//! let anyone open queues in their name and fill the state. Each kind is accepted once its
//! registry exists and rule 2 checks it.
//!
//! A gatekeeper's message on [`KEY_TOPIC`] is then applied by [`crate::gatekeeper`]. If that
//! refuses it (a stale or conflicting key), the message stays queued and its sequence used —
//! the enclave can never sign that sequence again, so failing the push would wedge its queue —
//! and [`Event::KeyMessageRefused`] records the reason. Likewise a gatekeeper's contract key
//! and a worker's command result or query usage (topics of `phalanx_primitives::contract`) are
//! applied by [`crate::contracts`], a refusal recorded as [`Event::ContractMessageRefused`].
//!
//! **Conflicts** ([`MessageQueueCall::ReportConflict`]): an enclave signs each (origin,
//! sequence) with one content (the worker's commit-before-release protocol), so a second,
//! different message signed for a sequence the chain already accepted proves the enclave
//! misbehaved. Any account may submit it: the origin is a worker or a gatekeeper; the message
//! fits the limits of rule 1; its signature verifies under the origin's key for this chain; the
//! chain holds a message at that sequence ([`MessageQueueError::NoMessageAtSequence`]) with a
//! different topic or payload ([`MessageQueueError::SameMessage`]); the enclave was not banned
//! already ([`MessageQueueError::Banned`]). Then [`mining::punish_enclave`] bans and
//! slashes it, and the reporter's fee comes back from the treasury.
//!
//! A worker's message on [`mining::HEARTBEAT_TOPIC`] answers its heartbeat challenge
//! ([`crate::mining`]); a refusal is recorded as [`Event::MiningMessageRefused`]. Its effect
//! is applied when it is pushed, and the message itself is kept for
//! [`HEARTBEAT_RETENTION_MS`] of chain time (the window to report a conflicting answer), then
//! removed by the end-of-block hook, at most [`EXPIRIES_PER_BLOCK`] a block, oldest first. Its
//! sequence stays used, so it can't be replayed; a conflict reported later finds no message at
//! that sequence ([`MessageQueueError::NoMessageAtSequence`]). Every other message stays.
//!
//! Accepted messages are kept in state, so an enclave reads them with a state proof against a
//! finalized root (DESIGN.md §9: enclaves accept chain messages only from verified state).
//!
//! Storage keys: `mq/next/<SCALE(origin)>` → u64, the origin's next sequence (absent = 0);
//! `mq/message/<SCALE(origin)>/<sequence BE>` → [`QueuedMessage`];
//! `mq/expire/<expire_at_ms BE>/<SCALE(origin)>/<sequence BE>` → `()`, a heartbeat answer's
//! removal. `SCALE(origin)` is always 33 bytes (a variant byte and the id), so the keys are
//! unambiguous.

use crate::events::Event;
use crate::module::{all_or_nothing, ErrorCodes, Module};
use crate::{contracts, gatekeeper, mining, registry, BlockContext, DispatchResult};
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::call::{
    MessageQueueCall, Origin, SignedMessage, MAX_PAYLOAD_BYTES, MAX_TOPIC_BYTES,
};
use phalanx_primitives::gatekeeper::KEY_TOPIC;
use phalanx_primitives::{AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};
use serde::Serialize;

const NEXT_PREFIX: &[u8] = b"mq/next/";
const MESSAGE_PREFIX: &[u8] = b"mq/message/";
const EXPIRE_PREFIX: &[u8] = b"mq/expire/";

/// How long a heartbeat answer stays in state after the block that accepted it (chain time):
/// the window in which a conflicting answer can still be reported. Answers are pushed about
/// 20 a block, every block, for as long as the chain runs; kept forever they would grow the
/// state without bound, so only the sequence number outlives the window.
pub const HEARTBEAT_RETENTION_MS: u64 = 60 * 60 * 1000;

/// Most expired heartbeat answers the end-of-block hook removes a block, oldest first: many
/// times the answers an honest network pushes a block (about 20), so that load drains at once.
/// A worker's host can push more on the heartbeat topic, paying a fee each; a backlog it builds
/// drains at this rate, bounded work a block, and nodes agree on it.
pub const EXPIRIES_PER_BLOCK: usize = 256;

/// Why a message-queue call failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum MessageQueueError {
    /// The topic is over the limit.
    #[error("message topic is {len} bytes, over the {max}-byte limit; use a shorter topic")]
    TopicTooLong {
        /// Topic bytes.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The payload is over the limit.
    #[error(
        "message payload is {len} bytes, over the {max}-byte limit; split it into several messages"
    )]
    PayloadTooLarge {
        /// Payload bytes.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The sequence number was already accepted.
    #[error("message #{got} from this origin was already accepted (the next is #{expected}); do not relay it again")]
    ReplayedSequence {
        /// Sequence in the message.
        got: u64,
        /// The origin's next sequence.
        expected: u64,
    },
    /// The sequence number skips ahead.
    #[error("message #{got} skips ahead: the chain expects #{expected} from this origin next; relay the missing messages first")]
    SequenceGap {
        /// Sequence in the message.
        got: u64,
        /// The origin's next sequence.
        expected: u64,
    },
    /// A worker origin that is not registered.
    #[error("worker {identity} is not registered; register it before relaying its messages")]
    UnregisteredWorker {
        /// The worker identity, hex.
        identity: String,
    },
    /// The signature is not the origin's for this chain.
    #[error("the message is not signed by its origin's key for this chain; relay it exactly as the enclave signed it")]
    BadSignature,
    /// Corrupted state.
    #[error("corrupted message queue state: {0}")]
    Corrupted(String),
    /// An origin of a kind the chain keeps no registry of yet, so it cannot know its key.
    #[error("{kind} origins are not accepted yet: the chain has no registry of them to know their keys; relay messages from registered workers and appointed gatekeepers only")]
    UnknownOriginKind {
        /// The origin's kind (`cluster` or `contract`).
        kind: &'static str,
    },
    /// A gatekeeper origin that is not (or no longer) appointed.
    #[error("{identity} is not an appointed gatekeeper; only appointed gatekeepers speak as one")]
    NotAGatekeeper {
        /// The identity, hex.
        identity: String,
    },
    /// Conflict evidence for a sequence the chain holds no message at.
    #[error(
        "the chain holds no message #{0} from this origin, so there is nothing to conflict with"
    )]
    NoMessageAtSequence(u64),
    /// Conflict evidence that is the very message the chain holds.
    #[error("this is the message the chain accepted at that sequence, not a conflicting one")]
    SameMessage,
    /// The enclave is banned for misbehaviour: its messages are refused, and it is punished
    /// once.
    #[error("enclave {0} is banned for misbehaviour; nothing it signs is accepted any more")]
    Banned(String),
    /// The punishment failed on corrupted state.
    #[error("punishing the enclave failed: {0}")]
    Punishment(String),
}

impl ErrorCodes for MessageQueueError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("topic_too_long", "the message topic is over the limit"),
        ("payload_too_large", "the message payload is over the limit"),
        (
            "replayed_sequence",
            "the message's sequence number was already accepted",
        ),
        ("sequence_gap", "the message's sequence number skips ahead"),
        ("unregistered_worker", "the origin worker is not registered"),
        (
            "bad_signature",
            "the message is not signed by its origin's key for this chain",
        ),
        ("corrupted", "the message queue state could not be decoded"),
        (
            "unknown_origin_kind",
            "origins of this kind are not accepted yet",
        ),
        (
            "not_a_gatekeeper",
            "the gatekeeper origin is not an appointed gatekeeper",
        ),
        (
            "no_message_at_sequence",
            "the chain holds no message at that sequence",
        ),
        (
            "same_message",
            "the evidence is the message the chain accepted",
        ),
        ("banned", "the enclave is banned for misbehaviour"),
        ("punishment", "punishing the enclave failed"),
    ];

    fn code(&self) -> &'static str {
        match self {
            MessageQueueError::TopicTooLong { .. } => "topic_too_long",
            MessageQueueError::PayloadTooLarge { .. } => "payload_too_large",
            MessageQueueError::ReplayedSequence { .. } => "replayed_sequence",
            MessageQueueError::SequenceGap { .. } => "sequence_gap",
            MessageQueueError::UnregisteredWorker { .. } => "unregistered_worker",
            MessageQueueError::BadSignature => "bad_signature",
            MessageQueueError::Corrupted(_) => "corrupted",
            MessageQueueError::UnknownOriginKind { .. } => "unknown_origin_kind",
            MessageQueueError::NotAGatekeeper { .. } => "not_a_gatekeeper",
            MessageQueueError::NoMessageAtSequence(_) => "no_message_at_sequence",
            MessageQueueError::SameMessage => "same_message",
            MessageQueueError::Banned(_) => "banned",
            MessageQueueError::Punishment(_) => "punishment",
        }
    }
}

impl From<CodecError> for MessageQueueError {
    fn from(e: CodecError) -> Self {
        MessageQueueError::Corrupted(e.to_string())
    }
}

/// An accepted message and the height of the block that accepted it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct QueuedMessage {
    /// Height of the block that accepted it.
    pub pushed_at: u64,
    /// The message, exactly as signed (so a reader can check the signature itself).
    pub message: SignedMessage,
}

/// The storage key of `origin`'s next sequence (for state proofs).
pub fn next_sequence_key(origin: &Origin) -> Vec<u8> {
    [NEXT_PREFIX, &origin.encode()].concat()
}

/// The storage key of `origin`'s message `sequence` (for state proofs).
pub fn message_key(origin: &Origin, sequence: u64) -> Vec<u8> {
    [
        MESSAGE_PREFIX,
        &origin.encode(),
        b"/",
        &sequence.to_be_bytes(),
    ]
    .concat()
}

/// The storage key of the entry that removes `origin`'s heartbeat answer `sequence` once chain
/// time reaches `expire_at_ms`.
pub fn expiry_key(expire_at_ms: u64, origin: &Origin, sequence: u64) -> Vec<u8> {
    [
        EXPIRE_PREFIX,
        &expire_at_ms.to_be_bytes(),
        b"/",
        &origin.encode(),
        b"/",
        &sequence.to_be_bytes(),
    ]
    .concat()
}

/// The origin and sequence an [`expiry_key`] names.
fn expiring(key: &[u8]) -> Option<(Origin, u64)> {
    let rest = key.strip_prefix(EXPIRE_PREFIX)?.get(9..)?;
    let (origin, rest) = rest.split_at_checked(33)?;
    let sequence = rest.strip_prefix(b"/")?.try_into().ok()?;
    let origin = phalanx_primitives::decode_strict(origin, 33).ok()?;
    Some((origin, u64::from_be_bytes(sequence)))
}

/// Removes the heartbeat answers whose retention ended by `ctx`'s time, at most
/// [`EXPIRIES_PER_BLOCK`], oldest first.
fn expire_heartbeats(state: &mut State, ctx: &BlockContext) {
    for key in state.due_keys(EXPIRE_PREFIX, ctx.timestamp_ms, EXPIRIES_PER_BLOCK) {
        if let Some((origin, sequence)) = expiring(&key) {
            state.remove(&message_key(&origin, sequence));
        }
        state.remove(&key);
    }
}

/// The sequence number the chain accepts next from `origin` (0 before its first message).
pub fn next_sequence(state: &State, origin: &Origin) -> Result<u64, CodecError> {
    Ok(state.get_decoded(&next_sequence_key(origin))?.unwrap_or(0))
}

/// `origin`'s accepted message `sequence`, if any.
pub fn message(
    state: &State,
    origin: &Origin,
    sequence: u64,
) -> Result<Option<QueuedMessage>, CodecError> {
    state.get_decoded(&message_key(origin, sequence))
}

/// The message-queue module. Its storage prefix is the short `mq/`, kept from before modules
/// were named by their prefix (changing it would change every message's state key).
#[derive(Debug)]
pub struct MessageQueue;

impl Module for MessageQueue {
    const NAME: &'static str = "message_queue";
    const STORAGE_PREFIX: &'static str = "mq/";
    type Call = MessageQueueCall;
    type Error = MessageQueueError;

    /// Executes a call relayed by `who` (who only pays; it needs no authority).
    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &MessageQueueCall,
        fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            MessageQueueCall::Push(message) => push(state, ctx, message, events)?,
            MessageQueueCall::ReportConflict(message) => {
                report_conflict(state, ctx, message, events)?;
                // New evidence costs its reporter nothing.
                crate::balances::transfer_free(state, &crate::treasury::account(), who, fee)?;
            }
        }
        Ok(())
    }

    /// Removes heartbeat answers past [`HEARTBEAT_RETENTION_MS`].
    fn on_block_end(
        state: &mut State,
        ctx: &BlockContext,
        _privileged: crate::module::PrivilegedExecutor,
    ) -> Vec<Event> {
        expire_heartbeats(state, ctx);
        Vec::new()
    }
}

/// Rule 1: the topic and payload fit.
fn check_limits(message: &SignedMessage) -> Result<(), MessageQueueError> {
    if message.topic.len() > MAX_TOPIC_BYTES {
        return Err(MessageQueueError::TopicTooLong {
            len: message.topic.len(),
            max: MAX_TOPIC_BYTES,
        });
    }
    if message.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(MessageQueueError::PayloadTooLarge {
            len: message.payload.len(),
            max: MAX_PAYLOAD_BYTES,
        });
    }
    Ok(())
}

/// Checks `message` as evidence of a conflict and punishes its enclave (the module docs'
/// conflict rules, in order).
pub fn report_conflict(
    state: &mut State,
    ctx: &BlockContext,
    message: &SignedMessage,
    events: &mut Vec<Event>,
) -> Result<(), MessageQueueError> {
    let origin = message.origin;
    let identity = enclave_of(&origin)?;
    check_limits(message)?;
    if !message.verify_signature(&identity, &ctx.genesis_hash) {
        return Err(MessageQueueError::BadSignature);
    }
    let accepted = self::message(state, &origin, message.sequence)?
        .ok_or(MessageQueueError::NoMessageAtSequence(message.sequence))?;
    if accepted.message.topic == message.topic && accepted.message.payload == message.payload {
        return Err(MessageQueueError::SameMessage);
    }
    let punished = mining::punish_enclave(
        state,
        ctx,
        &identity,
        mining::SlashReason::ConflictingMessages,
        events,
    )
    .map_err(|e| MessageQueueError::Punishment(e.to_string()))?;
    if !punished {
        return Err(MessageQueueError::Banned(hex::encode(identity)));
    }
    Ok(())
}

/// Rule 2: the chain knows `origin`.
fn check_known(state: &State, origin: &Origin) -> Result<(), MessageQueueError> {
    let identity = enclave_of(origin)?;
    match origin {
        Origin::Worker(_) if registry::worker(state, &identity)?.is_none() => {
            return Err(MessageQueueError::UnregisteredWorker {
                identity: hex::encode(identity),
            });
        }
        Origin::Gatekeeper(_) if !gatekeeper::is_appointed(state, &identity)? => {
            return Err(MessageQueueError::NotAGatekeeper {
                identity: hex::encode(identity),
            });
        }
        _ => {}
    }
    if mining::ban(state, &identity)?.is_some() {
        return Err(MessageQueueError::Banned(hex::encode(identity)));
    }
    Ok(())
}

/// The enclave identity behind `origin`: a worker's or a gatekeeper's (both are an enclave's
/// identity key). Clusters and contracts have no registry yet, so nothing speaks for them.
fn enclave_of(origin: &Origin) -> Result<[u8; 32], MessageQueueError> {
    match origin {
        Origin::Worker(identity) | Origin::Gatekeeper(identity) => Ok(*identity),
        Origin::Cluster(_) => Err(MessageQueueError::UnknownOriginKind { kind: "cluster" }),
        Origin::Contract(_) => Err(MessageQueueError::UnknownOriginKind { kind: "contract" }),
    }
}

/// Appends `message` to its origin's queue (rules in the module docs, in order).
pub fn push(
    state: &mut State,
    ctx: &BlockContext,
    message: &SignedMessage,
    events: &mut Vec<Event>,
) -> Result<(), MessageQueueError> {
    check_limits(message)?;
    let origin = message.origin;
    check_known(state, &origin)?;
    let expected = next_sequence(state, &origin)?;
    let got = message.sequence;
    if got < expected {
        return Err(MessageQueueError::ReplayedSequence { got, expected });
    }
    if got > expected {
        return Err(MessageQueueError::SequenceGap { got, expected });
    }
    // A worker's signing key is its id, which rule 2 found registered.
    if !message.verify_signature(origin.id(), &ctx.genesis_hash) {
        return Err(MessageQueueError::BadSignature);
    }
    state.put(
        message_key(&origin, got),
        &QueuedMessage {
            pushed_at: ctx.height,
            message: message.clone(),
        },
    );
    state.put(next_sequence_key(&origin), &got.saturating_add(1));
    if matches!(origin, Origin::Worker(_)) && message.topic == mining::HEARTBEAT_TOPIC {
        state.put(
            expiry_key(
                ctx.timestamp_ms.saturating_add(HEARTBEAT_RETENTION_MS),
                &origin,
                got,
            ),
            &(),
        );
    }
    events.push(Event::MessagePushed {
        origin,
        sequence: got,
        topic: message.topic.clone(),
    });
    if let (Origin::Gatekeeper(sender), true) = (origin, message.topic == KEY_TOPIC) {
        match all_or_nothing(state, |state, effects| {
            gatekeeper::apply_key_message(state, &sender, &message.payload, effects)
        }) {
            Ok(mut effects) => events.append(&mut effects),
            Err(error) => events.push(Event::KeyMessageRefused {
                gatekeeper: sender,
                sequence: got,
                error,
            }),
        }
    }
    // Heartbeats: a refusal (no such challenge) never fails the push either.
    if let (Origin::Worker(worker), true) = (origin, message.topic == mining::HEARTBEAT_TOPIC) {
        match all_or_nothing(state, |state, effects| {
            mining::apply_heartbeat(state, ctx, &worker, &message.payload, effects)
        }) {
            Ok(mut effects) => events.append(&mut effects),
            Err(error) => events.push(Event::MiningMessageRefused {
                worker,
                sequence: got,
                error,
            }),
        }
    }
    // Contract keys, command results and query usage: refused effects never fail the push,
    // for the same reason as key messages above.
    if contracts::handles(&origin, &message.topic) {
        match all_or_nothing(state, |state, effects| {
            contracts::apply_message(
                state,
                ctx,
                &origin,
                &message.topic,
                &message.payload,
                effects,
            )
        }) {
            Ok(mut effects) => events.append(&mut effects),
            Err(error) => events.push(Event::ContractMessageRefused {
                origin,
                sequence: got,
                error,
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
