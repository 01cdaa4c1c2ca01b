//! The enclave: the trusted half of a worker, as a pure state machine behind an ecall table.
//!
//! Everything that crosses the boundary is an [`Ecall`] going in and a [`Reply`] (or an
//! [`EnclaveError`]) coming out, like the ecall table of an SGX enclave. The enclave does no
//! networking, no file I/O and reads no wall clock: the untrusted host passes bytes in and
//! stores what comes out. Its only environment is the platform ([`SimulatedPlatform`]: seal
//! secret, quoting enclave, cycle counter, randomness), which on real hardware is the CPU.
//!
//! # Time
//! The enclave's clock is the chain: [`Enclave::chain_time_ms`] is the timestamp of its verified
//! head (`head.timestamp_ms`, which the block's finalization certificate covers), and there is
//! no time before a chain is pinned. The host's clock is never read or believed: a host that
//! withholds blocks can only stop the enclave's time, never move it, and never backwards. The
//! platform's cycle counter ([`SimulatedPlatform::cycle_counter`], `rdtsc`) measures durations
//! (the benchmark, the quote) and is never a date.
//!
//! # Protocol
//! 1. **Start.** [`Enclave::start`] with no sealed state creates an ed25519 identity key and an
//!    X25519 encryption key from platform randomness; with sealed state it unseals them (see
//!    [`sealing`]) and resumes its light client where it was (the sealing authenticates the
//!    head, epoch and validator set). Either way it returns a fresh sealed blob for the host to
//!    store.
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
//! 6. **Speak to the chain.** [`Ecall::SignMessage`] signs a [`SignedMessage`] from
//!    [`Origin::Worker`] with the next sequence number and returns it together with the sealed
//!    state that already counts it.
//!
//! # Invariants
//! - No ecall returns a secret: only public keys, signatures, quotes and sealed blobs.
//! - Every byte from the host is decoded strictly (size, depth, no trailing bytes) and a
//!   refused ecall changes nothing.
//! - The head moves only one certified, linking block at a time.
//! - A sequence number is signed at most once per sealed history: the host must store the
//!   sealed blob that comes with a message before relaying the message. A host that rolls the
//!   sealed file back can make the enclave sign a sequence again; the chain still accepts only
//!   one message per sequence. Real hardware closes this with a monotonic counter.

pub mod benchmark;
pub mod platform;
pub mod sealing;

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
pub use platform::SimulatedPlatform;
pub use sealing::SealError;

/// Why the enclave refused an ecall. A refused ecall leaves the enclave unchanged.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// The sealed state could not be unsealed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The sealed state authenticated but does not decode (a bug in the release that wrote it).
    #[error("the sealed state authenticated but is malformed ({0}); run the worker release that wrote it")]
    CorruptSealedState(String),
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
    /// Sign the next message to the chain.
    SignMessage {
        /// What it is about.
        topic: Vec<u8>,
        /// The content.
        payload: Vec<u8>,
    },
    /// Seal the current state (sync progress included) for the host to store.
    Seal,
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
    /// The sequence the next message will carry.
    pub next_sequence: u64,
    /// Always true in this build: the platform is SIMULATED and protects nothing.
    pub simulated: bool,
}

/// What an ecall returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// For [`Ecall::Info`].
    Info(EnclaveInfo),
    /// For [`Ecall::InitChain`]: the pinned chain and the sealed state that records it.
    ChainPinned {
        /// The genesis hash.
        genesis_hash: Hash,
        /// Sealed state to store.
        sealed: Vec<u8>,
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
    /// For [`Ecall::SignMessage`]: store `sealed` before relaying `message`.
    Message {
        /// The signed message.
        message: SignedMessage,
        /// Sealed state that already counts this sequence.
        sealed: Vec<u8>,
    },
    /// For [`Ecall::Seal`].
    Sealed(Vec<u8>),
}

/// What the enclave seals (SCALE inside the AEAD; see [`sealing`] for the envelope).
#[derive(Encode, Decode)]
struct SealedState {
    identity_secret: [u8; 32],
    encryption_secret: [u8; 32],
    next_sequence: u64,
    chain: Option<SealedChain>,
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

/// Largest sealed plaintext decoded (validators, a header and a certificate: a few KiB).
const MAX_STATE_BYTES: usize = sealing::MAX_SEALED_BYTES;

/// The worker enclave. Holds its keys; the host talks to it only through [`Enclave::ecall`].
pub struct Enclave {
    platform: SimulatedPlatform,
    identity: Keypair,
    encryption: StaticSecret,
    next_sequence: u64,
    chain: Option<Chain>,
}

impl core::fmt::Debug for Enclave {
    // Public facts only, and a loud reminder of what this is.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Enclave")
            .field("trust", &"SIMULATED")
            .field("identity", &hex::encode(self.identity.account().0))
            .field("head", &self.chain.as_ref().map(Chain::head))
            .field("next_sequence", &self.next_sequence)
            .finish_non_exhaustive()
    }
}

/// What [`Enclave::start`] reports besides the enclave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Started {
    /// True when new keys were created (no sealed state was given).
    pub created: bool,
    /// The sealed state to store (always freshly sealed).
    pub sealed: Vec<u8>,
}

impl Enclave {
    /// Starts the enclave on `platform`: unseals `sealed` if given, else creates new keys.
    /// A sealed blob from another measurement, another machine, or tampered with is refused.
    pub fn start(platform: SimulatedPlatform, sealed: Option<&[u8]>) -> Result<(Enclave, Started)> {
        let enclave = match sealed {
            None => Enclave {
                identity: Keypair::from_secret(platform.random_32()),
                encryption: StaticSecret::from(platform.random_32()),
                next_sequence: 0,
                chain: None,
                platform,
            },
            Some(blob) => {
                let plaintext = sealing::unseal(&platform, blob)?;
                let state: SealedState = decode_strict(&plaintext, MAX_STATE_BYTES)
                    .map_err(|e| EnclaveError::CorruptSealedState(e.to_string()))?;
                let chain = state.chain.clone().map(Chain::restore).transpose()?;
                Enclave {
                    identity: Keypair::from_secret(state.identity_secret),
                    encryption: StaticSecret::from(state.encryption_secret),
                    next_sequence: state.next_sequence,
                    chain,
                    platform,
                }
            }
        };
        let started = Started {
            created: sealed.is_none(),
            sealed: enclave.seal(),
        };
        Ok((enclave, started))
    }

    /// The one entry point: runs `call` and returns its reply. A refused call changes nothing.
    pub fn ecall(&mut self, call: Ecall) -> Result<Reply> {
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
            Ecall::SignMessage { topic, payload } => self.sign_message(topic, payload),
            Ecall::Seal => Ok(Reply::Sealed(self.seal())),
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
            next_sequence: self.next_sequence,
            simulated: true,
        }
    }

    fn encryption_public(&self) -> [u8; 32] {
        X25519Public::from(&self.encryption).to_bytes()
    }

    fn seal(&self) -> Vec<u8> {
        let state = SealedState {
            identity_secret: self.identity.secret(),
            encryption_secret: self.encryption.to_bytes(),
            next_sequence: self.next_sequence,
            chain: self.chain.as_ref().map(Chain::sealed),
        };
        let plaintext = Zeroizing::new(state.encode());
        sealing::seal(&self.platform, &plaintext)
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
            sealed: self.seal(),
        })
    }

    fn sync_block(&mut self, bytes: &[u8], certificate: Vec<u8>) -> Result<Reply> {
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

    fn register(&self, operator: AccountId, endpoint: String) -> Result<Reply> {
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

    fn sign_message(&mut self, topic: Vec<u8>, payload: Vec<u8>) -> Result<Reply> {
        let genesis = self.chain()?.client.genesis_hash();
        if topic.len() > MAX_TOPIC_BYTES {
            return Err(EnclaveError::TopicTooLong { len: topic.len() });
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(EnclaveError::PayloadTooLarge { len: payload.len() });
        }
        let message = SignedMessage::new(
            Origin::Worker(self.identity.account().0),
            self.next_sequence,
            topic,
            payload,
            &self.identity,
            &genesis,
        );
        self.next_sequence += 1;
        Ok(Reply::Message {
            message,
            sealed: self.seal(),
        })
    }
}

#[cfg(test)]
mod tests;
