//! The enclave: the trusted half of a worker, as a pure state machine behind an ecall table.
//!
//! Everything that crosses the boundary is an [`Ecall`] going in and a [`Reply`] (or an
//! [`EnclaveError`]) coming out, like the ecall table of an SGX enclave. The enclave does no
//! networking, no file I/O and reads no wall clock: the untrusted host passes bytes in and
//! stores what comes out. Its only environment is the platform ([`SimulatedPlatform`]: seal
//! secret, quoting enclave, cycle counter, randomness), which on real hardware is the CPU.
//!
//! # Time
//! The enclave's clock is the chain: `Enclave::chain_time_ms` is the timestamp of its verified
//! head (`head.timestamp_ms`, which the block's finalization certificate covers), and there is
//! no time before a chain is pinned. The host's clock is never read or believed: a host that
//! withholds blocks can only stop the enclave's time, never move it, and never backwards. The
//! platform's cycle counter ([`SimulatedPlatform::cycle_counter`], `rdtsc`) measures durations
//! (the benchmark, the quote) and is never a date.
//!
//! # Protocol
//! 1. **Start.** [`Enclave::start`] with no sealed state creates an ed25519 identity key and an
//!    X25519 encryption key from platform randomness (pending until the first commit, see
//!    "Sealed state"); with sealed state it accepts the one committed blob (see [`sealing`])
//!    and resumes its light client where it was (the sealing authenticates the head, epoch and
//!    validator set).
//! 2. **Pin the chain.** [`Ecall::InitChain`] takes the genesis block, the genesis validator set
//!    and a proof of that set against the genesis state root, and starts the light client
//!    there. Trust in the genesis block is trust on first use: a simulated enclave has no
//!    measured configuration to carry the chain's identity, so the first pin is sealed and
//!    every later pin must match it. (A real build would bake the genesis hash into its
//!    measured configuration.) The validator set is never taken as given.
//! 3. **Sync.** [`Ecall::SyncBlock`] accepts exactly the block after the head, and only if the
//!    finalization certificate of the head's epoch's validators covers it (naming that epoch),
//!    its transactions match its header and its parent is the head. A replayed or reordered
//!    block, a gap, a forged certificate and a non-linking block are each refused and the head
//!    stays where it was. After an epoch's last block, [`Ecall::AdvanceEpoch`] must show the
//!    next epoch's set by a proof against that block's state root before any later block.
//! 4. **Read the chain.** [`Ecall::VerifyValue`] checks a state proof against the synced head's
//!    state root; nothing the host says about chain state is believed without one.
//! 5. **Register.** [`Ecall::Register`] runs the [`benchmark`], binds both public keys, the
//!    genesis hash and the *synced head's* hash into the quote's report data
//!    ([`phalanx_attestation::report_data()`]), asks the platform for a quote, and returns a
//!    [`Registration`] for the given operator signed by the identity key. The cited recent
//!    block is the enclave's own verified head, never a block the host names.
//! 6. **Speak to the chain.** The enclave signs only messages its own logic made from verified
//!    inputs: no ecall takes a payload to sign. Enclave logic calls `Enclave::emit` (or
//!    `Enclave::emit_all`), which allocates each origin's next sequence in the [`outbox`],
//!    signs the [`SignedMessage`] with that origin's key, and holds it back until the commit
//!    (below). [`Ecall::Outbox`] hands out the committed messages again;
//!    [`Ecall::Delivered`] forgets those a state proof shows the chain has.
//! 7. **Upgrade.** A newer build approved by the chain's attestation policy gets the whole state
//!    by an attested handover ([`handover`]: [`Successor`], [`Ecall::HandOver`]), never by
//!    unsealing this build's files; afterwards this build signs nothing more.
//!
//! | ecall | changes sealed state | reply |
//! |---|---|---|
//! | [`Ecall::Info`] | no | [`Reply::Info`] |
//! | [`Ecall::InitChain`] | yes | [`Reply::ChainPinned`] |
//! | [`Ecall::AdvanceEpoch`] | yes | [`Reply::EpochAdvanced`] |
//! | [`Ecall::SyncBlock`] | yes | [`Reply::Synced`] |
//! | [`Ecall::VerifyValue`] | no | [`Reply::ValueVerified`] |
//! | [`Ecall::Register`] | no | [`Reply::Registration`] |
//! | [`Ecall::Seal`] | seals it, pending | [`Reply::Pending`] |
//! | [`Ecall::Commit`] | commits it | [`Reply::Committed`] |
//! | [`Ecall::Outbox`] | no | [`Reply::Outbox`] |
//! | [`Ecall::Delivered`] | yes | [`Reply::Delivered`] |
//! | [`Ecall::HandOver`] | retires, pending | [`Reply::Pending`], then [`Reply::HandedOver`] |
//!
//! # Sealed state: commit before release
//! The enclave's state lives on the host's disk as sealed blobs ([`sealing`]), and the host can
//! keep every blob it ever saw. What stops it from replaying an old one is the platform's
//! monotonic counter ([`platform::MonotonicCounter`]): a value, and the tag (a hash) of the one
//! blob committed at that value. Every blob is sealed for a counter value, and
//! [`Enclave::start`] accepts exactly the blob whose value *and* tag are the counter's. An older
//! blob is [`EnclaveError::RolledBack`]; a blob above the counter was never committed
//! ([`EnclaveError::NotCommitted`]); another blob for the current value is a copy that lost
//! ([`EnclaveError::Superseded`]).
//!
//! Every change to sealed state is stored in two steps, so a crash (kill -9 at any instant)
//! never leaves the worker without a blob it accepts:
//! 1. **Pending.** An ecall that seals ([`Ecall::Seal`]) or enclave logic that releases
//!    something (`Enclave::emit`) seals the whole state for value `c + 1`, `c` being the
//!    counter the enclave last committed, and returns it as [`Pending`]. Whatever it would
//!    release (signed messages) is held back. Until the commit every other state-changing ecall
//!    is refused ([`EnclaveError::CommitPending`]), so there is one pending blob at a time.
//! 2. **Store.** The host writes the pending blob to its pending file durably (atomic write,
//!    fsync).
//! 3. **Commit.** [`Ecall::Commit`] moves the counter from `(c, tag of the current blob)` to
//!    `(c + 1, tag of the pending blob)` in one compare-and-write, and only then releases what
//!    was held back ([`Reply::Committed`]). If the counter is no longer at `c` (another instance
//!    of this enclave committed), nothing is released and this instance stays stuck.
//! 4. **Replace.** The host renames the pending file over the current one.
//!
//! At start the host offers the pending file first, then the current one. A crash before step 3
//! leaves the pending blob above the counter: it is refused, the current one is accepted, and
//! the lost step released nothing. After step 3 the pending blob is the committed one. A first
//! start works the same way: the new keys are pending until the first commit, and a crash
//! before it leaves no identity behind (and none was ever used).
//!
//! Why this is enough: a message is released only after the blob that records it (and its
//! sequence number) became the one the counter names, and the counter never goes back, so every
//! state the enclave can be resumed from from then on contains the message. Two instances run
//! side by side from one blob do not help a host either: both seal for `c + 1`, only one
//! commit moves the counter, and the other blob's tag never matches. So a sequence number is
//! released with one content only. Released messages stay in the sealed outbox until delivery
//! is proven, so a crash between release and relay loses nothing. On the SIMULATED platform the
//! counter is a file the host owns ([`platform::FileCounter`]), so all of this is only
//! exercised, not enforced; real hardware's counter is where it plugs in.
//!
//! # Invariants
//! - No ecall returns a secret: only public keys, signatures, quotes and sealed blobs.
//! - Every byte from the host is decoded strictly (size, depth, no trailing bytes) and a
//!   refused ecall changes nothing.
//! - The head moves only one certified, linking block at a time.
//! - Nothing is released from state a rollback could undo (above), and the enclave signs only
//!   messages its own logic made; each (origin, sequence) is signed with one content.
//! - Keys leave the enclave only sealed: to this build on this platform, or to the attested
//!   handover key of a build the chain's policy allows.

pub mod benchmark;
pub mod contracts;
pub mod desk;
pub mod gatekeeper;
pub mod handover;
pub mod outbox;
pub mod platform;
pub mod sealing;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parity_scale_codec::{Decode, Encode};
use phalanx_light_client::{network_namespace, LightClient};
use phalanx_primitives::call::{
    Origin, Registration, SignedMessage, MAX_ENDPOINT_BYTES, MAX_PAYLOAD_BYTES, MAX_TOPIC_BYTES,
};
use phalanx_primitives::{decode_strict, AccountId, Block, CodecError, Hash, Header, Keypair};
use phalanx_state::{Proof, ProofError};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

pub use benchmark::BenchmarkReport;
pub use handover::{HandoverError, HandoverRequest, Successor};
pub use platform::{CounterError, CounterState, SimulatedPlatform};
pub use sealing::SealError;

use outbox::{Outbox, Outgoing};

/// Why the enclave refused an ecall. A refused ecall leaves the enclave unchanged.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// The sealed state could not be unsealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The sealed state authenticated but does not decode (a bug in the release that wrote it).
    #[error("the sealed state authenticated but is malformed ({0}); run the worker release that wrote it")]
    CorruptSealedState(String),
    /// A sealed blob older than the platform counter: a rolled-back copy.
    #[error("the sealed state was committed at counter {sealed}, but this platform's counter is at {current}: it is an older copy (rolled back), and resuming it could sign what was already signed; start the worker from its latest sealed file (the pending file, if there is one), or delete the sealed files to start a new identity")]
    RolledBack {
        /// The counter value the blob was sealed for.
        sealed: u64,
        /// The platform counter.
        current: u64,
    },
    /// A sealed blob above the platform counter: sealed but never committed.
    #[error("the sealed state was sealed for counter {sealed}, but this platform's counter is at {current}: it was never committed (a crash before its commit, or a reset counter); start from the worker's current sealed file, which the counter names")]
    NotCommitted {
        /// The counter value the blob was sealed for.
        sealed: u64,
        /// The platform counter.
        current: u64,
    },
    /// A sealed blob for the current counter value that is not the one committed there.
    #[error("the sealed state was sealed for counter {counter} but is not the state committed there (a stale copy, or one from a second instance of this enclave); start from the worker's current sealed file")]
    Superseded {
        /// The counter value.
        counter: u64,
    },
    /// The platform counter could not be read or advanced.
    #[error(transparent)]
    Counter(#[from] CounterError),
    /// A state-changing ecall while a sealed blob waits for its commit.
    #[error("sealed state {counter} is waiting to be committed: store it durably, then commit it, before anything else changes the enclave")]
    CommitPending {
        /// The pending blob's counter value.
        counter: u64,
    },
    /// [`Ecall::Commit`] with nothing pending.
    #[error("there is no pending sealed state to commit; seal first")]
    NothingToCommit,
    /// [`Ecall::Commit`] naming another counter value than the pending blob's.
    #[error("the pending sealed state is for counter {pending}, not {offered}; store and commit the blob the enclave returned last")]
    WrongCommit {
        /// The value the host asked to commit.
        offered: u64,
        /// The pending blob's value.
        pending: u64,
    },
    /// The counter reached its end (never in practice: 2^64 commits).
    #[error("the platform counter is exhausted; this worker identity cannot commit again, start a new one")]
    CounterExhausted,
    /// An ecall that needs the chain came before [`Ecall::InitChain`].
    #[error(
        "the enclave follows no chain yet; pin it with the genesis block and validator set first"
    )]
    ChainNotPinned,
    /// [`Ecall::InitChain`] named another chain than the pinned one.
    #[error("the enclave is pinned to chain {pinned} and refuses chain {offered}; point the worker at its own chain or start a new worker identity")]
    AlreadyPinned {
        /// The pinned genesis hash.
        pinned: Hash,
        /// The offered genesis hash.
        offered: Hash,
    },
    /// The genesis block or validator set is unusable.
    #[error("the genesis block or validator set is invalid: {0}; relay the chain's genesis block and validators unchanged")]
    BadGenesis(String),
    /// Block bytes do not decode.
    #[error("the block bytes are malformed ({0}); relay the block exactly as the node serves it")]
    MalformedBlock(CodecError),
    /// A block at or below the head: replayed or reordered.
    #[error("block {height} is not after the enclave's head {head}: replayed or reordered; relay block {} next", head + 1)]
    Replayed {
        /// The offered height.
        height: u64,
        /// The enclave's head height.
        head: u64,
    },
    /// A block beyond the next one: blocks were skipped.
    #[error("block {height} skips ahead: the enclave needs block {expected} next; relay every block in order")]
    Gap {
        /// The offered height.
        height: u64,
        /// The height the enclave expects.
        expected: u64,
    },
    /// The light client refused the block or proof: forged certificate, non-linking parent,
    /// transactions that do not match the header, or a proof against another root.
    #[error("refused by the light client: {0}")]
    LightClient(#[from] phalanx_light_client::Error),
    /// Proof bytes do not decode.
    #[error("the state proof is malformed ({0}); relay the proof exactly as the node serves it")]
    MalformedProof(ProofError),
    /// A proven deposit record does not decode.
    #[error("a proven query-deposit record does not decode: {0}")]
    MalformedDeposit(String),
    /// The endpoint is empty or too long.
    #[error("the query endpoint must be 1 to {MAX_ENDPOINT_BYTES} bytes; configure a shorter public endpoint URL")]
    BadEndpoint,
    /// The benchmark scored below the registry's minimum.
    #[error("the benchmark scored {score}, below the registry's minimum {minimum}; this machine is too slow (or too busy) to be a worker")]
    PerformanceTooLow {
        /// The measured score.
        score: u32,
        /// The minimum.
        minimum: u32,
    },
    /// The message topic is too long.
    #[error(
        "message topic is {len} bytes, over the {MAX_TOPIC_BYTES}-byte limit; use a shorter topic"
    )]
    TopicTooLong {
        /// Topic bytes.
        len: usize,
    },
    /// The message payload is too large.
    #[error("message payload is {len} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit; split it into several messages")]
    PayloadTooLarge {
        /// Payload bytes.
        len: usize,
    },
    /// The outbox holds as much as it may until delivery is proven.
    #[error("the enclave's outbox is full ({messages} messages not yet proven delivered); relay them and prove their delivery (Delivered) before it signs more")]
    OutboxFull {
        /// Messages waiting.
        messages: usize,
    },
    /// The state to seal has outgrown what a sealed blob may hold.
    #[error("the enclave state is {len} bytes, more than a sealed blob may hold; relay and prove delivery of its outbox, or retire old key epochs")]
    StateTooLarge {
        /// Its encoded length.
        len: usize,
    },
    /// A key step with more entries or bytes than one ecall takes.
    #[error("a key step takes at most {max} {what}, {got} were sent; split the proven entries into several steps")]
    KeyStepTooLarge {
        /// `entries` or `bytes`.
        what: &'static str,
        /// How many were sent.
        got: usize,
        /// The limit.
        max: usize,
    },
    /// Key management refused the proven state (see [`gatekeeper::KeyError`]).
    #[error(transparent)]
    Keys(#[from] gatekeeper::KeyError),
    /// A message for an origin whose key this enclave does not hold.
    #[error("the enclave holds no key for origin {origin:?}; it signs only as itself")]
    NoKeyForOrigin {
        /// The origin.
        origin: Origin,
    },
    /// An upgrade handover was refused (the message says why and what to do).
    #[error(transparent)]
    Handover(#[from] HandoverError),
    /// This enclave handed its state to a newer build and signs nothing more.
    #[error("this enclave handed its identity over to build {to} and signs nothing more; run that build (or, if its start failed, hand over again)")]
    HandedOver {
        /// The measurement it handed over to, hex.
        to: String,
    },
    /// The chain accepted a sequence this enclave never signed.
    #[error("the chain's next sequence for {origin:?} is {chain}, but this enclave signed only up to {ours}: its identity is used by another instance (a cloned or rolled-back worker); stop this worker and investigate")]
    ChainAhead {
        /// The origin.
        origin: Origin,
        /// The chain's next sequence.
        chain: u64,
        /// The enclave's next sequence.
        ours: u64,
    },
}

/// A crate-module result.
pub type Result<T, E = EnclaveError> = std::result::Result<T, E>;

/// A call into the enclave. Byte fields are untrusted input from the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ecall {
    /// The enclave's public keys and sync status.
    Info,
    /// Pin the chain the enclave follows (trust on first use; see the module docs).
    InitChain {
        /// The SCALE-encoded genesis block (`phalanx_rawBlock(0)`).
        genesis_block: Vec<u8>,
        /// The genesis validators' ed25519 consensus keys.
        validators: Vec<[u8; 32]>,
        /// The SCALE-encoded proof of that set in the genesis state
        /// (`phalanx_validatorSet(0)`).
        validators_proof: Vec<u8>,
    },
    /// Move to the next epoch's validator set: the head must be the current epoch's last block,
    /// and the proof must show the set in its state (`phalanx_validatorSet(epoch)`).
    AdvanceEpoch {
        /// The next epoch's validators' ed25519 consensus keys.
        validators: Vec<[u8; 32]>,
        /// The SCALE-encoded proof of that set in the head's state.
        proof: Vec<u8>,
    },
    /// Accept the next finalized block.
    SyncBlock {
        /// The SCALE-encoded block.
        block: Vec<u8>,
        /// Its finalization certificate (commonware encoding).
        certificate: Vec<u8>,
    },
    /// Check that in the state after the head, `key` holds `value` (absent when `None`).
    VerifyValue {
        /// The storage key.
        key: Vec<u8>,
        /// The claimed value.
        value: Option<Vec<u8>>,
        /// The SCALE-encoded sparse-Merkle proof.
        proof: Vec<u8>,
    },
    /// Benchmark, attest and sign a registration for `operator`.
    Register {
        /// The account that will send (and pay for) the registration and own the worker.
        operator: AccountId,
        /// Where clients send encrypted queries.
        endpoint: String,
    },
    /// Seal the current state (sync progress included) for the next counter value: the host
    /// stores the [`Pending`] blob, then commits it.
    Seal,
    /// Commit the pending blob (stored durably by the host) at counter value `counter`, and
    /// release what it held back.
    Commit {
        /// The pending blob's counter value ([`Pending::counter`]).
        counter: u64,
    },
    /// The committed messages not yet proven delivered, to relay (again).
    Outbox,
    /// Hand the whole state to a newer build approved by the chain's attestation policy (see
    /// [`handover`]): the first time, a [`Reply::Pending`] retirement whose commit releases the
    /// package; once retired and committed, [`Reply::HandedOver`] at once.
    HandOver {
        /// The successor's transient X25519 handover key.
        handover_key: [u8; 32],
        /// The successor's SCALE-encoded quote binding that key.
        quote: Vec<u8>,
        /// The SCALE-encoded attestation policy at the head (`registry/policy`).
        policy: Vec<u8>,
        /// The SCALE-encoded proof of that value in the head's state.
        policy_proof: Vec<u8>,
    },
    /// Run one key-management step ([`gatekeeper`]) on chain state the host proves: each entry
    /// is checked against the verified head, then the enclave acts as a gatekeeper (if the
    /// entries prove its appointment) and as a cluster member. Key messages it makes are held
    /// back like every message ([`Reply::KeyStepped`] carries the pending blob to commit).
    KeyStep {
        /// At most [`MAX_KEY_STEP_ENTRIES`] proven entries, all against the head.
        entries: Vec<ProvenEntry>,
    },
    /// Run the commands of contracts this enclave's clusters run ([`contracts`]), from chain
    /// state the host proves like [`Ecall::KeyStep`]'s: each contract's record, this enclave's
    /// membership, the code and the commands from the next one it runs. Result reports are
    /// held back like every message ([`Reply::ContractStepped`]).
    ContractStep {
        /// At most [`MAX_KEY_STEP_ENTRIES`] proven entries, all against the head.
        entries: Vec<ProvenEntry>,
    },
    /// Check query deposits for the desk ([`desk`]): for each caller, its deposit and the last
    /// usage nonce this worker settled for it, with the contract parameters, proven against
    /// the head like [`Ecall::KeyStep`]'s entries.
    ProveDeposits {
        /// Whose deposits the entries prove (at most [`MAX_KEY_STEP_ENTRIES`] / 2).
        callers: Vec<AccountId>,
        /// The proven entries.
        entries: Vec<ProvenEntry>,
    },
    /// Report the query usage the desk metered as signed `UsageReport`s, at most `max` of them
    /// (held back like every message: [`Reply::Settled`] carries the pending blob to commit).
    SettleUsage {
        /// Most reports to make.
        max: usize,
    },
    /// Answer this worker's open heartbeat challenge (mining): `entries` prove its mining
    /// record (`mining/miner/<identity>`) against the head; if that shows an open challenge
    /// not yet answered in the outbox, the answer is held back like every message
    /// ([`Reply::Heartbeat`]).
    Heartbeat {
        /// The proven mining record (and the host's other entries, ignored).
        entries: Vec<ProvenEntry>,
    },
    /// Forget `origin`'s messages the chain has: its next sequence there is `next_sequence`,
    /// proven by `proof` against the head (`mq/next/<origin>`, absent when 0).
    Delivered {
        /// The sending origin.
        origin: Origin,
        /// The chain's next sequence for it.
        next_sequence: u64,
        /// The SCALE-encoded proof of that value in the head's state.
        proof: Vec<u8>,
    },
}

impl Ecall {
    /// Its name, for the host's metrics (`sync_block`, `heartbeat`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Ecall::Info => "info",
            Ecall::InitChain { .. } => "init_chain",
            Ecall::AdvanceEpoch { .. } => "advance_epoch",
            Ecall::SyncBlock { .. } => "sync_block",
            Ecall::VerifyValue { .. } => "verify_value",
            Ecall::Register { .. } => "register",
            Ecall::Seal => "seal",
            Ecall::Commit { .. } => "commit",
            Ecall::Outbox => "outbox",
            Ecall::HandOver { .. } => "hand_over",
            Ecall::KeyStep { .. } => "key_step",
            Ecall::ContractStep { .. } => "contract_step",
            Ecall::ProveDeposits { .. } => "prove_deposits",
            Ecall::SettleUsage { .. } => "settle_usage",
            Ecall::Heartbeat { .. } => "heartbeat",
            Ecall::Delivered { .. } => "delivered",
        }
    }
}

/// One storage entry and its proof against the enclave's head, for [`Ecall::KeyStep`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenEntry {
    /// The storage key.
    pub key: Vec<u8>,
    /// Its value, `None` when the proof shows it absent.
    pub value: Option<Vec<u8>>,
    /// The SCALE-encoded sparse-Merkle proof (`phalanx_stateProofs`).
    pub proof: Vec<u8>,
}

/// Most entries one [`Ecall::KeyStep`] takes (what one `phalanx_stateProofs` call returns).
pub const MAX_KEY_STEP_ENTRIES: usize = 1_024;
/// Most bytes of keys, values and proofs one [`Ecall::KeyStep`] takes.
pub const MAX_KEY_STEP_BYTES: usize = 16 << 20;

/// What a key step did (public facts only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyStepReport {
    /// Key messages made (held back until the commit).
    pub messages: usize,
    /// Master epochs received.
    pub masters_received: Vec<u32>,
    /// (cluster, epoch) keys received.
    pub cluster_keys_received: Vec<(u32, u32)>,
    /// Epochs erased.
    pub erased: Vec<u32>,
    /// Shares refused, with why.
    pub refused: Vec<String>,
}

/// Public facts about the enclave; never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnclaveInfo {
    /// The ed25519 identity key (the worker's id on chain).
    pub identity: [u8; 32],
    /// The X25519 key clients seal requests to.
    pub encryption_key: [u8; 32],
    /// The enclave's measurement.
    pub measurement: [u8; 32],
    /// The pinned chain, if any.
    pub genesis_hash: Option<Hash>,
    /// The verified head (height, hash), if a chain is pinned.
    pub head: Option<(u64, Hash)>,
    /// The epoch whose validator set the light client holds, if a chain is pinned.
    pub epoch: Option<u64>,
    /// The enclave's time: the verified head's timestamp (ms since the Unix epoch), if a chain
    /// is pinned.
    pub chain_time_ms: Option<u64>,
    /// The sequence the next message from [`Origin::Worker`] will carry.
    pub next_sequence: u64,
    /// The platform counter value of the last committed sealed state.
    pub committed: u64,
    /// The counter value of a sealed blob waiting for its commit, if any.
    pub pending: Option<u64>,
    /// The build this enclave handed its state over to, if it did (it then signs nothing).
    pub handed_over_to: Option<[u8; 32]>,
    /// Key epochs whose master this enclave holds (as a gatekeeper).
    pub master_epochs: Vec<u32>,
    /// (cluster, epoch) keys this enclave holds (as a cluster member).
    pub cluster_keys: Vec<(u32, u32)>,
    /// Contracts this enclave ran commands of, with the next sequence it runs.
    pub contracts: Vec<([u8; 32], u64)>,
    /// Always true in this build: the platform is SIMULATED and protects nothing.
    pub simulated: bool,
}

/// A sealed blob waiting for its commit: store `sealed` durably, then send
/// [`Ecall::Commit`] with `counter`. Only encrypted state; nothing is released before the commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The counter value the blob is sealed for (the committed value plus one).
    pub counter: u64,
    /// The sealed blob.
    pub sealed: Vec<u8>,
}

/// What a commit released.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// The counter value now committed.
    pub counter: u64,
    /// The messages the committed transition had held back, oldest first (also kept in the
    /// outbox until their delivery is proven).
    pub messages: Vec<SignedMessage>,
    /// A handover package the committed transition held back, for the successor
    /// ([`Successor::adopt`]).
    pub handover: Option<Vec<u8>>,
}

/// What an ecall returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// For [`Ecall::Info`].
    Info(EnclaveInfo),
    /// For [`Ecall::InitChain`]: the pinned chain (seal to keep it).
    ChainPinned {
        /// The genesis hash.
        genesis_hash: Hash,
    },
    /// For [`Ecall::SyncBlock`]: the new head.
    Synced {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: Hash,
        /// True when it is its epoch's last block: relay the next validator set
        /// ([`Ecall::AdvanceEpoch`]) before the next block.
        needs_next_set: bool,
    },
    /// For [`Ecall::AdvanceEpoch`]: the epoch whose set the enclave now holds.
    EpochAdvanced {
        /// The new epoch.
        epoch: u64,
    },
    /// For [`Ecall::VerifyValue`]: the head the value was proven against.
    ValueVerified {
        /// The head's height.
        height: u64,
        /// The head's state root.
        state_root: Hash,
    },
    /// For [`Ecall::Register`].
    Registration {
        /// The signed registration, ready for the operator to send.
        registration: Registration,
        /// What the benchmark measured.
        benchmark: BenchmarkReport,
        /// How long the platform took to produce the quote.
        quote_time: Duration,
    },
    /// For [`Ecall::Seal`] (and enclave logic that emits): store it, then commit it.
    Pending(Pending),
    /// For [`Ecall::Commit`]: what the commit released.
    Committed(Committed),
    /// For [`Ecall::Outbox`]: committed messages not yet proven delivered, oldest first.
    Outbox(Vec<SignedMessage>),
    /// For [`Ecall::HandOver`] from an enclave already retired and committed: the package.
    HandedOver {
        /// For [`Successor::adopt`].
        package: Vec<u8>,
    },
    /// For [`Ecall::KeyStep`]: what it did, and the blob to store and commit when it changed
    /// sealed state (keys received or erased, messages made).
    KeyStepped {
        /// What it did.
        report: KeyStepReport,
        /// Store, then commit; `None` when nothing changed.
        pending: Option<Pending>,
    },
    /// For [`Ecall::ContractStep`]: what ran, and the blob to store and commit when anything
    /// did.
    ContractStepped {
        /// (contract, sequence, outcome word) of each command run.
        ran: Vec<([u8; 32], u64, String)>,
        /// Store, then commit; `None` when nothing ran.
        pending: Option<Pending>,
    },
    /// For [`Ecall::ProveDeposits`]: how many callers' deposits were recorded.
    DepositsProven(usize),
    /// For [`Ecall::SettleUsage`].
    Settled {
        /// Usage reports made.
        reports: usize,
        /// Store, then commit; `None` when nothing was owed.
        pending: Option<Pending>,
    },
    /// For [`Ecall::Heartbeat`]: the challenge answered (if any) and the blob to store and
    /// commit.
    Heartbeat {
        /// The height of the challenge answered.
        challenge: Option<u64>,
        /// Store, then commit; `None` when there was nothing to answer.
        pending: Option<Pending>,
    },
    /// For [`Ecall::Delivered`].
    Delivered {
        /// Messages forgotten.
        pruned: usize,
        /// Messages still waiting.
        remaining: usize,
    },
}

/// What the enclave seals (SCALE inside the AEAD; see [`sealing`] for the envelope).
#[derive(Encode, Decode)]
struct SealedState {
    identity_secret: [u8; 32],
    encryption_secret: [u8; 32],
    outbox: Outbox,
    chain: Option<SealedChain>,
    /// Set once the state was handed over to this build's measurement.
    handed_over_to: Option<[u8; 32]>,
    /// Key-tree keys held as a gatekeeper or a cluster member.
    keys: gatekeeper::KeyState,
    /// Contracts run as a cluster member: progress and private state.
    contracts: contracts::ContractsState,
}

impl Drop for SealedState {
    fn drop(&mut self) {
        self.identity_secret.zeroize();
        self.encryption_secret.zeroize();
    }
}

/// The light client's progress as sealed: the head it verified, the epoch whose validator set
/// it holds and that set. The sealing authenticates it, so it is resumed as is.
#[derive(Clone, Encode, Decode)]
struct SealedChain {
    genesis: Hash,
    head: Header,
    epoch: u64,
    validators: Vec<[u8; 32]>,
}

/// The followed chain: the light client (which can be sealed and restored).
struct Chain {
    client: LightClient,
}

impl Chain {
    fn pin(genesis: Header, validators: &[[u8; 32]], proof: &Proof) -> Result<Chain> {
        let namespace = network_namespace(&genesis.hash());
        let client = LightClient::new(genesis, validators, proof, &namespace)
            .map_err(|e| EnclaveError::BadGenesis(e.to_string()))?;
        Ok(Chain { client })
    }

    fn restore(sealed: SealedChain) -> Result<Chain> {
        let client = LightClient::resume(
            sealed.genesis,
            sealed.head,
            sealed.epoch,
            &sealed.validators,
            &network_namespace(&sealed.genesis),
        )?;
        Ok(Chain { client })
    }

    fn sealed(&self) -> SealedChain {
        SealedChain {
            genesis: self.client.genesis_hash(),
            head: self.client.head().clone(),
            epoch: self.client.epoch(),
            validators: self.client.validators().to_vec(),
        }
    }

    fn head(&self) -> (u64, Hash) {
        let head = self.client.head();
        (head.height, head.hash())
    }
}

/// Largest sealed plaintext decoded (validators, a header, the bounded outbox).
const MAX_STATE_BYTES: usize = sealing::MAX_SEALED_BYTES;

/// A sealed blob handed out and not yet committed, and what it holds back.
struct Transition {
    /// Where the commit moves the counter.
    target: CounterState,
    /// Outbox messages from this index on are held back until the commit.
    held_from: usize,
    /// A handover package held back until the commit.
    handover: Option<Vec<u8>>,
}

/// The worker enclave. Holds its keys; the host talks to it only through [`Enclave::ecall`].
pub struct Enclave {
    platform: SimulatedPlatform,
    identity: Keypair,
    encryption: StaticSecret,
    outbox: Outbox,
    chain: Option<Chain>,
    /// Key-tree keys held as a gatekeeper or a cluster member.
    keys: gatekeeper::KeyState,
    /// The contracts this enclave runs as a cluster member, with their private state.
    contracts: contracts::ContractsState,
    /// Compiled contract code (memory only).
    compiled: contracts::Compiled,
    /// Where queries are answered, on other threads (memory only).
    desk: desk::QueryDesk,
    /// The build this enclave handed over to; it then signs nothing more.
    handed_over_to: Option<[u8; 32]>,
    /// Where the platform counter stood at this enclave's last commit (or its start).
    committed: CounterState,
    /// The blob waiting for its commit, if any.
    pending: Option<Transition>,
}

impl core::fmt::Debug for Enclave {
    // Public facts only, and a loud reminder of what this is.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Enclave")
            .field("trust", &"SIMULATED")
            .field("identity", &hex::encode(self.identity.account().0))
            .field("head", &self.chain.as_ref().map(Chain::head))
            .field("committed", &self.committed.value)
            .field("outbox", &self.outbox.len())
            .finish_non_exhaustive()
    }
}

/// What [`Enclave::start`] reports besides the enclave.
#[derive(Debug)]
pub struct Started {
    /// True when new keys were created (no sealed state was offered).
    pub created: bool,
    /// Which offered blob was accepted (an index into the offered list); `None` when created.
    pub accepted: Option<usize>,
    /// The offered blobs refused before the accepted one, with why (a pending blob that was
    /// never committed is refused as [`EnclaveError::NotCommitted`]; the host deletes it).
    pub refused: Vec<(usize, EnclaveError)>,
    /// For new keys: the first sealed state, to store and commit before anything else.
    pub pending: Option<Pending>,
}

/// Why [`Enclave::start`] accepted none of the offered blobs.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct StartError {
    /// Which offered blob the error is about (the last one refused for a reason other than
    /// not being committed, if any); `None` when the platform counter could not be read.
    pub offered: Option<usize>,
    /// Why it was refused (the message says what to do).
    pub source: EnclaveError,
}

impl Enclave {
    /// Starts the enclave on `platform` from the sealed blobs the host offers, in order (the
    /// pending file first, then the current one): the blob committed at the platform counter is
    /// accepted, every other one is refused (see "Sealed state" in the module docs). With no
    /// blob offered it creates new keys, pending until their first commit.
    pub fn start(
        platform: SimulatedPlatform,
        offered: &[&[u8]],
    ) -> Result<(Enclave, Started), StartError> {
        let current = platform.read_counter().map_err(|e| StartError {
            offered: None,
            source: e.into(),
        })?;
        if offered.is_empty() {
            let mut enclave = Enclave {
                identity: Keypair::from_secret(platform.random_32()),
                encryption: StaticSecret::from(platform.random_32()),
                outbox: Outbox::default(),
                chain: None,
                keys: gatekeeper::KeyState::default(),
                contracts: contracts::ContractsState::default(),
                compiled: contracts::Compiled::default(),
                desk: desk::QueryDesk::new(),
                handed_over_to: None,
                committed: current,
                pending: None,
                platform,
            };
            let pending = enclave.begin_transition().map_err(|source| StartError {
                offered: None,
                source,
            })?;
            let started = Started {
                created: true,
                accepted: None,
                refused: Vec::new(),
                pending: Some(pending),
            };
            return Ok((enclave, started));
        }
        let mut refused = Vec::new();
        for (index, blob) in offered.iter().enumerate() {
            match Self::open(&platform, blob, &current) {
                Ok(state) => {
                    let chain = match state.chain.clone().map(Chain::restore).transpose() {
                        Ok(chain) => chain,
                        Err(source) => {
                            return Err(StartError {
                                offered: Some(index),
                                source,
                            })
                        }
                    };
                    let enclave = Enclave {
                        identity: Keypair::from_secret(state.identity_secret),
                        encryption: StaticSecret::from(state.encryption_secret),
                        outbox: state.outbox.clone(),
                        chain,
                        keys: state.keys.clone(),
                        contracts: state.contracts.clone(),
                        compiled: contracts::Compiled::default(),
                        desk: desk::QueryDesk::new(),
                        handed_over_to: state.handed_over_to,
                        committed: current,
                        pending: None,
                        platform,
                    };
                    // Usage reports still in the outbox count until proven settled.
                    enclave.desk.note_reported(&enclave.outbox_usage());
                    enclave.publish_desk(true);
                    let started = Started {
                        created: false,
                        accepted: Some(index),
                        refused,
                        pending: None,
                    };
                    return Ok((enclave, started));
                }
                Err(e) => refused.push((index, e)),
            }
        }
        // Report the most telling refusal: the last one that is not a blob left uncommitted by
        // a crash (that one is expected), else the last one.
        let position = refused
            .iter()
            .rposition(|(_, e)| !matches!(e, EnclaveError::NotCommitted { .. }))
            .unwrap_or(refused.len() - 1);
        let (index, source) = refused.swap_remove(position);
        Err(StartError {
            offered: Some(index),
            source,
        })
    }

    /// Unseals `blob` and accepts it only if it is the one committed at `current`.
    fn open(
        platform: &SimulatedPlatform,
        blob: &[u8],
        current: &CounterState,
    ) -> Result<SealedState> {
        let unsealed = sealing::unseal(platform, blob)?;
        if unsealed.counter < current.value {
            return Err(EnclaveError::RolledBack {
                sealed: unsealed.counter,
                current: current.value,
            });
        }
        if unsealed.counter > current.value {
            return Err(EnclaveError::NotCommitted {
                sealed: unsealed.counter,
                current: current.value,
            });
        }
        if sealing::tag(blob) != current.tag {
            return Err(EnclaveError::Superseded {
                counter: current.value,
            });
        }
        decode_strict(&unsealed.plaintext, MAX_STATE_BYTES)
            .map_err(|e| EnclaveError::CorruptSealedState(e.to_string()))
    }

    /// The one entry point: runs `call` and returns its reply. A refused call changes nothing.
    pub fn ecall(&mut self, call: Ecall) -> Result<Reply> {
        // After a call that moves the head (or hands the enclave over), the desk's clock (or
        // its closing) is published; after one that may change keys or contracts, their state
        // is copied again. A commit changes neither: it only releases what a step made.
        let publish = match call {
            Ecall::InitChain { .. }
            | Ecall::AdvanceEpoch { .. }
            | Ecall::SyncBlock { .. }
            | Ecall::HandOver { .. } => Some(false),
            Ecall::KeyStep { .. } | Ecall::ContractStep { .. } => Some(true),
            _ => None,
        };
        let reply = self.dispatch(call);
        if let Some(state_changed) = publish {
            self.publish_desk(state_changed);
        }
        reply
    }

    fn dispatch(&mut self, call: Ecall) -> Result<Reply> {
        match call {
            Ecall::Info => Ok(Reply::Info(self.info())),
            Ecall::InitChain {
                genesis_block,
                validators,
                validators_proof,
            } => self.init_chain(&genesis_block, &validators, &validators_proof),
            Ecall::AdvanceEpoch { validators, proof } => self.advance_epoch(&validators, &proof),
            Ecall::SyncBlock { block, certificate } => self.sync_block(&block, certificate),
            Ecall::VerifyValue { key, value, proof } => {
                self.verify_value(&key, value.as_deref(), &proof)
            }
            Ecall::Register { operator, endpoint } => self.register(operator, endpoint),
            Ecall::Seal => {
                self.ensure_no_pending()?;
                self.begin_transition().map(Reply::Pending)
            }
            Ecall::Commit { counter } => self.commit(counter).map(Reply::Committed),
            Ecall::Outbox => Ok(Reply::Outbox(self.released().to_vec())),
            Ecall::HandOver {
                handover_key,
                quote,
                policy,
                policy_proof,
            } => self.hand_over(&handover_key, &quote, &policy, &policy_proof),
            Ecall::KeyStep { entries } => self.key_step(&entries),
            Ecall::ContractStep { entries } => self.contract_step(&entries),
            Ecall::ProveDeposits { callers, entries } => self.prove_deposits(&callers, &entries),
            Ecall::SettleUsage { max } => self.settle_usage(max),
            Ecall::Heartbeat { entries } => self.heartbeat(&entries),
            Ecall::Delivered {
                origin,
                next_sequence,
                proof,
            } => self.delivered(origin, next_sequence, &proof),
        }
    }

    fn info(&self) -> EnclaveInfo {
        EnclaveInfo {
            identity: self.identity.account().0,
            encryption_key: self.encryption_public(),
            measurement: self.platform.measurement(),
            genesis_hash: self.chain.as_ref().map(|c| c.client.genesis_hash()),
            head: self.chain.as_ref().map(Chain::head),
            epoch: self.chain.as_ref().map(|c| c.client.epoch()),
            chain_time_ms: self.chain_time_ms().ok(),
            next_sequence: self
                .outbox
                .next_sequence(&Origin::Worker(self.identity.account().0)),
            committed: self.committed.value,
            pending: self.pending.as_ref().map(|t| t.target.value),
            handed_over_to: self.handed_over_to,
            master_epochs: self.keys.master_epochs(),
            cluster_keys: self.keys.cluster_epochs(),
            contracts: self.contracts.progress(),
            simulated: true,
        }
    }

    fn encryption_public(&self) -> [u8; 32] {
        X25519Public::from(&self.encryption).to_bytes()
    }

    fn sealed_state(&self) -> SealedState {
        SealedState {
            identity_secret: self.identity.secret(),
            encryption_secret: self.encryption.to_bytes(),
            outbox: self.outbox.clone(),
            chain: self.chain.as_ref().map(Chain::sealed),
            handed_over_to: self.handed_over_to,
            keys: self.keys.clone(),
            contracts: self.contracts.clone(),
        }
    }

    /// Refuses once the state was handed over: a retired build signs nothing.
    fn ensure_not_handed_over(&self) -> Result<()> {
        match self.handed_over_to {
            Some(to) => Err(EnclaveError::HandedOver {
                to: hex::encode(to),
            }),
            None => Ok(()),
        }
    }

    /// Refuses while a sealed blob waits for its commit (one pending blob at a time).
    fn ensure_no_pending(&self) -> Result<()> {
        match &self.pending {
            Some(transition) => Err(EnclaveError::CommitPending {
                counter: transition.target.value,
            }),
            None => Ok(()),
        }
    }

    /// Seals the whole state for the next counter value, without changing anything: the blob
    /// and the counter state its commit will reach.
    fn seal_next(&self) -> Result<(Pending, CounterState)> {
        let value = self
            .committed
            .value
            .checked_add(1)
            .ok_or(EnclaveError::CounterExhausted)?;
        let plaintext = Zeroizing::new(self.sealed_state().encode());
        // Never seal what `start` could not read back.
        if plaintext.len() > sealing::MAX_PLAINTEXT_BYTES {
            return Err(EnclaveError::StateTooLarge {
                len: plaintext.len(),
            });
        }
        let sealed = sealing::seal(&self.platform, value, &plaintext);
        let target = CounterState {
            value,
            tag: sealing::tag(&sealed),
        };
        Ok((
            Pending {
                counter: value,
                sealed,
            },
            target,
        ))
    }

    /// Step 1 of "Sealed state": seals the whole state for the next counter value and holds
    /// back every outbox message from `held_from` on. The caller checked
    /// [`Self::ensure_no_pending`] before changing anything.
    fn begin_transition_holding(&mut self, held_from: usize) -> Result<Pending> {
        let (pending, target) = self.seal_next()?;
        self.pending = Some(Transition {
            target,
            held_from,
            handover: None,
        });
        Ok(pending)
    }

    /// A transition that holds nothing back.
    fn begin_transition(&mut self) -> Result<Pending> {
        self.begin_transition_holding(self.outbox.len())
    }

    /// Step 3 of "Sealed state": moves the counter to the pending blob, then releases.
    fn commit(&mut self, counter: u64) -> Result<Committed> {
        let transition = self.pending.as_ref().ok_or(EnclaveError::NothingToCommit)?;
        if counter != transition.target.value {
            return Err(EnclaveError::WrongCommit {
                offered: counter,
                pending: transition.target.value,
            });
        }
        let target = transition.target;
        // A commit retried after an error that hid its success finds the counter already there.
        if self.platform.read_counter()? != target {
            self.platform.advance_counter(&self.committed, &target)?;
        }
        let held_from = transition.held_from;
        let handover = self.pending.take().and_then(|t| t.handover);
        self.committed = target;
        Ok(Committed {
            counter,
            messages: self.outbox.messages()[held_from..].to_vec(),
            handover,
        })
    }

    /// The outbox messages already released (committed).
    fn released(&self) -> &[SignedMessage] {
        let messages = self.outbox.messages();
        match &self.pending {
            Some(transition) => &messages[..transition.held_from],
            None => messages,
        }
    }

    /// The key the enclave signs as `origin` with: its identity, for a worker or gatekeeper
    /// origin naming it. Cluster and contract keys come with key management. (A function of
    /// the key fields, not of `self`, so the outbox can be borrowed beside it.)
    #[allow(dead_code, reason = "called by message kinds; tests use it meanwhile")]
    fn signing_key<'a>(identity: &'a Keypair, origin: &Origin) -> Result<&'a Keypair> {
        match origin {
            Origin::Worker(id) | Origin::Gatekeeper(id) if *id == identity.account().0 => {
                Ok(identity)
            }
            _ => Err(EnclaveError::NoKeyForOrigin { origin: *origin }),
        }
    }

    /// Emits one message made by enclave logic; see [`Self::emit_all`].
    #[allow(dead_code, reason = "called by message kinds; tests use it meanwhile")]
    pub(crate) fn emit(
        &mut self,
        origin: Origin,
        topic: &[u8],
        payload: Vec<u8>,
    ) -> Result<Pending> {
        self.emit_all(vec![Outgoing {
            origin,
            topic: topic.to_vec(),
            payload,
        }])
    }

    /// Emits messages made by enclave logic, in order, as one transition: each gets its
    /// origin's next sequence and is signed with its origin's key, and all are held back until
    /// the host stores the returned [`Pending`] blob and commits it ([`Ecall::Commit`] releases
    /// them). Everything is checked first, so a refusal changes nothing.
    ///
    /// For enclave modules (never the host): make the message from verified inputs, change any
    /// other sealed state only after the checks that can fail, then call this last, so the
    /// state change and the messages are committed together. (No message kind exists yet: the
    /// first, gatekeeper key messages, comes next; until then only tests call this.)
    #[allow(dead_code, reason = "called by message kinds; tests use it meanwhile")]
    pub(crate) fn emit_all(&mut self, messages: Vec<Outgoing>) -> Result<Pending> {
        self.ensure_no_pending()?;
        self.ensure_not_handed_over()?;
        let genesis = self.chain()?.client.genesis_hash();
        for message in &messages {
            Self::signing_key(&self.identity, &message.origin)?;
        }
        self.outbox.check(&messages)?;
        if self.committed.value == u64::MAX {
            return Err(EnclaveError::CounterExhausted);
        }
        let held_from = self.outbox.len();
        // If the transition can't begin, the outbox is put back: messages signed but never
        // sealed must not stay, or they would be released as if committed.
        let before = self.outbox.clone();
        for message in messages {
            let key = Self::signing_key(&self.identity, &message.origin)?;
            self.outbox.push(message, key, &genesis);
        }
        self.begin_transition_holding(held_from).inspect_err(|_| {
            self.outbox = before;
        })
    }

    fn chain(&self) -> Result<&Chain> {
        self.chain.as_ref().ok_or(EnclaveError::ChainNotPinned)
    }

    /// The enclave's time in ms since the Unix epoch: its verified head's timestamp, the only
    /// clock enclave logic may use (see the module docs). Refused before a chain is pinned.
    pub(crate) fn chain_time_ms(&self) -> Result<u64> {
        Ok(self.chain()?.client.head().timestamp_ms)
    }

    fn init_chain(
        &mut self,
        genesis_block: &[u8],
        validators: &[[u8; 32]],
        proof: &[u8],
    ) -> Result<Reply> {
        self.ensure_no_pending()?;
        let block = Block::decode_strict(genesis_block).map_err(EnclaveError::MalformedBlock)?;
        if !block.tx_root_matches() {
            return Err(EnclaveError::BadGenesis(
                "its transactions do not match its header".into(),
            ));
        }
        let offered = block.hash();
        if let Some(chain) = &self.chain {
            let pinned = chain.client.genesis_hash();
            if pinned != offered {
                return Err(EnclaveError::AlreadyPinned { pinned, offered });
            }
        } else {
            // The genesis set is believed only with a proof against the genesis state root.
            let proof = Proof::decode_strict(proof).map_err(EnclaveError::MalformedProof)?;
            self.chain = Some(Chain::pin(block.header, validators, &proof)?);
        }
        Ok(Reply::ChainPinned {
            genesis_hash: offered,
        })
    }

    fn sync_block(&mut self, bytes: &[u8], certificate: Vec<u8>) -> Result<Reply> {
        self.ensure_no_pending()?;
        let chain = self.chain.as_mut().ok_or(EnclaveError::ChainNotPinned)?;
        let block = Block::decode_strict(bytes).map_err(EnclaveError::MalformedBlock)?;
        let (head, _) = chain.head();
        let height = block.height();
        if height <= head {
            return Err(EnclaveError::Replayed { height, head });
        }
        let expected = head + 1;
        if height != expected {
            return Err(EnclaveError::Gap { height, expected });
        }
        // Epoch, certificate, linking and transaction root; the head moves only if all hold.
        chain.client.accept_block(&block, &certificate)?;
        Ok(Reply::Synced {
            height,
            hash: block.hash(),
            needs_next_set: chain.client.needs_next_set(),
        })
    }

    fn advance_epoch(&mut self, validators: &[[u8; 32]], proof: &[u8]) -> Result<Reply> {
        self.ensure_no_pending()?;
        let chain = self.chain.as_mut().ok_or(EnclaveError::ChainNotPinned)?;
        let proof = Proof::decode_strict(proof).map_err(EnclaveError::MalformedProof)?;
        chain.client.advance_epoch(validators, &proof)?;
        Ok(Reply::EpochAdvanced {
            epoch: chain.client.epoch(),
        })
    }

    fn verify_value(&self, key: &[u8], value: Option<&[u8]>, proof: &[u8]) -> Result<Reply> {
        let chain = self.chain()?;
        let proof = Proof::decode_strict(proof).map_err(EnclaveError::MalformedProof)?;
        chain.client.verify_value(key, value, &proof)?;
        let head = chain.client.head();
        Ok(Reply::ValueVerified {
            height: head.height,
            state_root: head.state_root,
        })
    }

    /// Checks every entry's proof against the head (and the step's size limits) and returns
    /// the view of the proven ones.
    fn proven_view(&self, entries: &[ProvenEntry]) -> Result<gatekeeper::View> {
        if entries.len() > MAX_KEY_STEP_ENTRIES {
            return Err(EnclaveError::KeyStepTooLarge {
                what: "entries",
                got: entries.len(),
                max: MAX_KEY_STEP_ENTRIES,
            });
        }
        let bytes: usize = entries
            .iter()
            .map(|e| e.key.len() + e.value.as_ref().map_or(0, Vec::len) + e.proof.len())
            .sum();
        if bytes > MAX_KEY_STEP_BYTES {
            return Err(EnclaveError::KeyStepTooLarge {
                what: "bytes",
                got: bytes,
                max: MAX_KEY_STEP_BYTES,
            });
        }
        let chain = self.chain()?;
        let mut view = gatekeeper::View::default();
        for entry in entries {
            let proof = Proof::decode_strict(&entry.proof).map_err(EnclaveError::MalformedProof)?;
            chain
                .client
                .verify_value(&entry.key, entry.value.as_deref(), &proof)?;
            view.insert_proven(entry.key.clone(), entry.value.clone());
        }
        Ok(view)
    }

    /// [`Ecall::ProveDeposits`]: the entries proven against the head, then handed to the desk.
    fn prove_deposits(&mut self, callers: &[AccountId], entries: &[ProvenEntry]) -> Result<Reply> {
        self.ensure_not_handed_over()?;
        if callers.len() > MAX_KEY_STEP_ENTRIES / 2 {
            return Err(EnclaveError::KeyStepTooLarge {
                what: "callers",
                got: callers.len(),
                max: MAX_KEY_STEP_ENTRIES / 2,
            });
        }
        let view = self.proven_view(entries)?;
        let height = self.chain()?.client.head().height;
        let me = self.identity.account().0;
        self.desk
            .prove_deposits(&me, height, callers, &view)
            .map(Reply::DepositsProven)
            .map_err(EnclaveError::MalformedDeposit)
    }

    /// [`Ecall::SettleUsage`]: the desk's owed usage as reports, sealed pending with the
    /// outbox, or put back if they can't be.
    fn settle_usage(&mut self, max: usize) -> Result<Reply> {
        self.ensure_no_pending()?;
        self.ensure_not_handed_over()?;
        let me = self.identity.account().0;
        let origin = Origin::Worker(me);
        // Reports still waiting in the outbox: a new one must carry a higher nonce.
        let mut waiting: HashMap<AccountId, u64> = HashMap::new();
        for report in self.outbox_usage() {
            let highest = waiting.entry(report.client).or_default();
            *highest = (*highest).max(report.nonce);
        }
        let room = outbox::MAX_OUTBOX_MESSAGES
            .saturating_sub(self.outbox.len())
            .min(max);
        let settlement = self.desk.settle(room, &waiting);
        if settlement.reports.is_empty() {
            return Ok(Reply::Settled {
                reports: 0,
                pending: None,
            });
        }
        let messages: Vec<Outgoing> = settlement
            .reports
            .iter()
            .map(|report| Outgoing {
                origin,
                topic: phalanx_primitives::contract::USAGE_TOPIC.to_vec(),
                payload: report.encode(),
            })
            .collect();
        let reports = messages.len();
        match self.emit_all(messages) {
            Ok(pending) => Ok(Reply::Settled {
                reports,
                pending: Some(pending),
            }),
            Err(e) => {
                self.desk.restore(settlement);
                Err(e)
            }
        }
    }

    /// [`Ecall::Heartbeat`]: answers the open challenge its proven mining record shows, once.
    fn heartbeat(&mut self, entries: &[ProvenEntry]) -> Result<Reply> {
        self.ensure_no_pending()?;
        self.ensure_not_handed_over()?;
        let view = self.proven_view(entries)?;
        let me = self.identity.account().0;
        let key = [b"mining/miner/".as_slice(), &me].concat();
        let challenge = view
            .get(&key)
            .flatten()
            .and_then(|bytes| {
                phalanx_primitives::decode_strict::<phalanx_primitives::mining::Miner>(
                    bytes,
                    64 * 1024,
                )
                .ok()
            })
            .and_then(|miner| miner.challenge)
            .map(|(issued, _)| issued);
        let Some(height) = challenge else {
            return Ok(Reply::Heartbeat {
                challenge: None,
                pending: None,
            });
        };
        let origin = Origin::Worker(me);
        let payload = height.encode();
        let answered = self.outbox.messages().iter().any(|m| {
            m.origin == origin
                && m.topic == phalanx_primitives::mining::HEARTBEAT_TOPIC
                && m.payload == payload
        });
        if answered {
            return Ok(Reply::Heartbeat {
                challenge: None,
                pending: None,
            });
        }
        let pending = self.emit_all(vec![Outgoing {
            origin,
            topic: phalanx_primitives::mining::HEARTBEAT_TOPIC.to_vec(),
            payload,
        }])?;
        Ok(Reply::Heartbeat {
            challenge: Some(height),
            pending: Some(pending),
        })
    }

    /// This worker's usage reports still in the outbox.
    fn outbox_usage(&self) -> Vec<phalanx_primitives::contract::UsageReport> {
        let origin = Origin::Worker(self.identity.account().0);
        self.outbox
            .messages()
            .iter()
            .filter(|m| m.origin == origin && m.topic == phalanx_primitives::contract::USAGE_TOPIC)
            .filter_map(|m| phalanx_primitives::decode_strict(&m.payload, 1024).ok())
            .collect()
    }

    /// The desk answering queries beside this enclave's serial entry point.
    pub fn query_desk(&self) -> desk::QueryDesk {
        self.desk.clone()
    }

    /// Publishes the head, the contracts and the keys to the desk (nothing before a chain is
    /// pinned, or once handed over). Unless `state_changed`, the published contracts and keys
    /// are kept (copying them on every block would cost the serial loop for nothing).
    fn publish_desk(&self, state_changed: bool) {
        let view = match (&self.chain, self.handed_over_to) {
            (Some(chain), None) => {
                let head = chain.client.head();
                let kept = (!state_changed)
                    .then(|| self.desk.current_view())
                    .flatten()
                    .map(|v| (Arc::clone(&v.contracts), Arc::clone(&v.keys)));
                let (contracts, keys) = kept.unwrap_or_else(|| {
                    (
                        Arc::new(self.contracts.clone()),
                        Arc::new(self.keys.clone()),
                    )
                });
                Some(desk::DeskView {
                    me: self.identity.account().0,
                    height: head.height,
                    time_ms: head.timestamp_ms,
                    contracts,
                    keys,
                })
            }
            _ => None,
        };
        self.desk.publish(view);
    }

    /// [`Ecall::ContractStep`]: every entry proven against the head, then one
    /// [`contracts::step`]; the contracts' new state and the result reports are sealed
    /// together, pending, or nothing changes.
    fn contract_step(&mut self, entries: &[ProvenEntry]) -> Result<Reply> {
        self.ensure_no_pending()?;
        self.ensure_not_handed_over()?;
        let view = self.proven_view(entries)?;
        let me = self.identity.account().0;
        let room = outbox::MAX_OUTBOX_MESSAGES.saturating_sub(self.outbox.len());
        let mut state = self.contracts.clone();
        let outcome =
            contracts::step(&mut state, &self.keys, &me, &view, &mut self.compiled, room)?;
        if outcome.reports.is_empty() {
            // Nothing ran; contracts seen for the first time are kept (their records are public
            // and proven again after a restart), sealed with the next transition.
            self.contracts = state;
            return Ok(Reply::ContractStepped {
                ran: outcome.ran,
                pending: None,
            });
        }
        let messages: Vec<Outgoing> = outcome
            .reports
            .iter()
            .map(|report| Outgoing {
                origin: Origin::Worker(me),
                topic: phalanx_primitives::contract::RESULT_TOPIC.to_vec(),
                payload: report.encode(),
            })
            .collect();
        let previous = std::mem::replace(&mut self.contracts, state);
        match self.emit_all(messages) {
            Ok(pending) => Ok(Reply::ContractStepped {
                ran: outcome.ran,
                pending: Some(pending),
            }),
            Err(e) => {
                self.contracts = previous;
                Err(e)
            }
        }
    }

    /// [`Ecall::KeyStep`]: every entry proven against the head, then one [`gatekeeper::step`];
    /// its key changes and messages are sealed together, pending, or nothing changes.
    fn key_step(&mut self, entries: &[ProvenEntry]) -> Result<Reply> {
        self.ensure_no_pending()?;
        self.ensure_not_handed_over()?;
        let view = self.proven_view(entries)?;
        let mut keys = self.keys.clone();
        let me = gatekeeper::Me {
            identity: self.identity.account().0,
            encryption_secret: &self.encryption,
        };
        // Key messages may fill at most MAX_KEY_MESSAGES of the outbox, so messages of other
        // kinds always find room, even while key messages wait (a removed gatekeeper's are
        // never delivered).
        let origin = Origin::Gatekeeper(me.identity);
        let in_flight = self
            .outbox
            .messages()
            .iter()
            .filter(|m| m.origin == origin)
            .count();
        let room = outbox::MAX_OUTBOX_MESSAGES
            .saturating_sub(self.outbox.len())
            .min(outbox::MAX_KEY_MESSAGES.saturating_sub(in_flight));
        let mut rng = self.platform.rng();
        let outcome = gatekeeper::step(&mut keys, &me, &view, &mut rng, room)?;
        let report = KeyStepReport {
            messages: outcome.messages.len() + outcome.contract_keys.len(),
            masters_received: outcome.masters_received.clone(),
            cluster_keys_received: outcome.cluster_keys_received.clone(),
            erased: outcome.erased.clone(),
            refused: outcome.refused.clone(),
        };
        let changed = !outcome.messages.is_empty()
            || !outcome.contract_keys.is_empty()
            || !outcome.masters_received.is_empty()
            || !outcome.cluster_keys_received.is_empty()
            || !outcome.erased.is_empty();
        if !changed {
            return Ok(Reply::KeyStepped {
                report,
                pending: None,
            });
        }
        let origin = Origin::Gatekeeper(me.identity);
        let messages: Vec<Outgoing> = outcome
            .messages
            .iter()
            .map(|message| Outgoing {
                origin,
                topic: phalanx_primitives::gatekeeper::KEY_TOPIC.to_vec(),
                payload: message.encode(),
            })
            .chain(outcome.contract_keys.iter().map(|message| Outgoing {
                origin,
                topic: phalanx_primitives::contract::CONTRACT_KEY_TOPIC.to_vec(),
                payload: message.encode(),
            }))
            .collect();
        // The keys change with the messages, in one transition; if emitting is refused, the
        // old keys come back and nothing changed.
        let previous = std::mem::replace(&mut self.keys, keys);
        let pending = if messages.is_empty() {
            self.begin_transition()
        } else {
            self.emit_all(messages)
        };
        match pending {
            Ok(pending) => Ok(Reply::KeyStepped {
                report,
                pending: Some(pending),
            }),
            Err(e) => {
                self.keys = previous;
                Err(e)
            }
        }
    }

    fn delivered(&mut self, origin: Origin, next_sequence: u64, proof: &[u8]) -> Result<Reply> {
        self.ensure_no_pending()?;
        let chain = self.chain()?;
        let proof = Proof::decode_strict(proof).map_err(EnclaveError::MalformedProof)?;
        // The queue stores its next sequence as a SCALE u64, absent until the first message.
        let value = (next_sequence > 0).then(|| next_sequence.encode());
        chain.client.verify_value(
            &phalanx_runtime::message_queue::next_sequence_key(&origin),
            value.as_deref(),
            &proof,
        )?;
        let pruned = self.outbox.prune(&origin, next_sequence)?;
        Ok(Reply::Delivered {
            pruned,
            remaining: self.outbox.len(),
        })
    }

    /// Steps 2 and 3 of [`handover`]: checks the successor's request against the proven policy,
    /// then retires (pending; the commit releases the package), or, already retired and
    /// committed, hands the package out at once.
    fn hand_over(
        &mut self,
        handover_key: &[u8; 32],
        quote: &[u8],
        policy: &[u8],
        policy_proof: &[u8],
    ) -> Result<Reply> {
        self.ensure_no_pending()?;
        let chain = self.chain()?;
        let decoded = handover::decode_policy(policy)?;
        let proof = Proof::decode_strict(policy_proof).map_err(EnclaveError::MalformedProof)?;
        chain.client.verify_value(
            &phalanx_runtime::registry::policy_key(),
            Some(policy),
            &proof,
        )?;
        let to = handover::check_request(&self.platform, handover_key, quote, &decoded)?;
        if self.handed_over_to.is_some() {
            // Retired and committed already (nothing is pending): hand the current state over.
            let package = handover::package(
                &self.platform,
                &to,
                handover_key,
                &self.committed,
                &self.sealed_state(),
            )?;
            return Ok(Reply::HandedOver { package });
        }
        // Retire: seal the state that says so, and build the package naming that blob; nothing
        // changes unless both succeed.
        self.handed_over_to = Some(to);
        let sealed = self.seal_next().and_then(|(pending, target)| {
            let package = handover::package(
                &self.platform,
                &to,
                handover_key,
                &target,
                &self.sealed_state(),
            )?;
            Ok((pending, target, package))
        });
        let (pending, target, package) = match sealed {
            Ok(sealed) => sealed,
            Err(e) => {
                self.handed_over_to = None;
                return Err(e);
            }
        };
        self.pending = Some(Transition {
            target,
            held_from: self.outbox.len(),
            handover: Some(package),
        });
        Ok(Reply::Pending(pending))
    }

    /// Step 4 of [`handover`]: the successor becomes this enclave, keeping the old build's
    /// identity, outbox and chain progress; its state is sealed under this build, pending.
    fn adopt(
        platform: SimulatedPlatform,
        state: SealedState,
        current: CounterState,
    ) -> Result<(Enclave, Pending)> {
        let chain = state.chain.clone().map(Chain::restore).transpose()?;
        let mut enclave = Enclave {
            identity: Keypair::from_secret(state.identity_secret),
            encryption: StaticSecret::from(state.encryption_secret),
            outbox: state.outbox.clone(),
            chain,
            keys: state.keys.clone(),
            contracts: state.contracts.clone(),
            compiled: contracts::Compiled::default(),
            desk: desk::QueryDesk::new(),
            handed_over_to: None,
            committed: current,
            pending: None,
            platform,
        };
        let pending = enclave.begin_transition()?;
        Ok((enclave, pending))
    }

    fn register(&self, operator: AccountId, endpoint: String) -> Result<Reply> {
        self.ensure_not_handed_over()?;
        let chain = self.chain()?;
        if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_BYTES {
            return Err(EnclaveError::BadEndpoint);
        }
        let benchmark = benchmark::run(&self.platform);
        let minimum = phalanx_runtime::registry::MIN_PERFORMANCE_SCORE;
        if benchmark.score < minimum {
            return Err(EnclaveError::PerformanceTooLow {
                score: benchmark.score,
                minimum,
            });
        }
        let genesis = chain.client.genesis_hash();
        let (height, head_hash) = chain.head();
        let identity = self.identity.account().0;
        let encryption_key = self.encryption_public();
        let report_data = phalanx_attestation::report_data(
            &identity,
            &encryption_key,
            genesis.as_bytes(),
            head_hash.as_bytes(),
        );
        let started = self.platform.cycle_counter();
        let quote = self.platform.quote(report_data);
        let quote_time = self.platform.cycle_counter().saturating_sub(started);
        let registration = Registration {
            identity,
            encryption_key,
            quote,
            collateral: None,
            recent_block: (height, head_hash),
            performance: benchmark.score,
            endpoint,
            operator,
            signature: [0; 64],
        }
        .sign(&self.identity, &genesis);
        Ok(Reply::Registration {
            registration,
            benchmark,
            quote_time,
        })
    }
}

/// Test hooks: never in the default build (feature `testing`, or this crate's unit tests).
#[cfg(any(test, feature = "testing"))]
impl Enclave {
    /// TEST HOOK: emits a message as if enclave logic had made it (no message kind exists yet),
    /// so tests can drive the outbox and the commit protocol from outside the crate.
    pub fn testing_emit(
        &mut self,
        origin: Origin,
        topic: &[u8],
        payload: Vec<u8>,
    ) -> Result<Pending> {
        self.emit(origin, topic, payload)
    }

    /// TEST HOOK: every secret this enclave holds, labelled (identity and encryption secrets,
    /// each epoch's master, each cluster key), so a test can prove none of them ever leaves it
    /// in the clear. Returning secrets is exactly what no ecall may do: this exists only in the
    /// `testing` build.
    pub fn testing_secrets(&self) -> Vec<(String, [u8; 32])> {
        let mut secrets = vec![
            ("identity secret".to_string(), self.identity.secret()),
            ("encryption secret".to_string(), self.encryption.to_bytes()),
        ];
        secrets.extend(self.keys.testing_secrets());
        secrets
    }
}

/// TEST HOOK: starts the enclave sealed in the dev worker directory `dir` (read only: nothing
/// is written, the counter is not moved) and returns [`Enclave::testing_secrets`]. Only a
/// SIMULATED platform, whose seal secret is a file in that directory, allows this.
#[cfg(any(test, feature = "testing"))]
pub fn testing_secrets_in(dir: &std::path::Path) -> Result<Vec<(String, [u8; 32])>, String> {
    let store = crate::store::SealedStore::in_dir(dir);
    let sealed = std::fs::read(store.sealed_path())
        .map_err(|e| format!("{}: {e}", store.sealed_path().display()))?;
    let platform = SimulatedPlatform::dev_in(dir).map_err(|e| e.to_string())?;
    let (enclave, _) = Enclave::start(platform, &[&sealed]).map_err(|e| e.to_string())?;
    Ok(enclave.testing_secrets())
}

#[cfg(test)]
mod tests;
