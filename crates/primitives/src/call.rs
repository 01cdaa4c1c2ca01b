//! The calls a transaction can carry.
//!
//! [`Call`] is chain-visible: a variant's position is its wire code, so variants are only ever
//! added at the end, never reordered or removed. The same holds for every nested call enum.
//!
//! Privileged calls ([`PrivilegedCall`]) change the chain's own rules. They are never sent
//! directly by an account: governance executes them when a proposal passes, and on dev chains a
//! named root account may dispatch them through [`RootCall::Dispatch`] (a production genesis has
//! no root account, so that path is closed there).
//!
//! Two calls carry payloads signed by an enclave rather than by the sending account:
//! [`Registration`] (signed by the worker's identity key, so the enclave vouches for its
//! benchmark score and for which operator owns it) and [`SignedMessage`] (signed by the key of
//! its [`Origin`]). Their signing payloads are a domain tag, the genesis hash and the SCALE
//! encoding of every other field, so a signature is valid for one purpose on one chain only.

use crate::account::{AccountId, Keypair};
use crate::attestation::AttestationPolicy;
use crate::contract::ContractsParams;
use crate::gatekeeper::GatekeeperParams;
use crate::hash::Hash;
use crate::mining::MiningParams;
use crate::staking::StakingParams;
use crate::units::{Balance, PHA};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use serde::{Deserialize, Serialize};

/// Everything an account can ask the chain to do.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Move PHA between accounts.
    Balances(BalancesCall),
    /// Dispatch a privileged call as the dev root account.
    Root(RootCall),
    /// Propose, vote on and manage governance proposals.
    Governance(GovernanceCall),
    /// Register TEE workers (attested enclaves) and refresh their attestation.
    Registry(RegistryCall),
    /// Relay signed, sequenced messages from enclaves to the chain.
    MessageQueue(MessageQueueCall),
    /// Store proof that a validator misbehaved in consensus.
    Evidence(EvidenceCall),
    /// Publish where this account's consensus node listens (validators joining by governance).
    Peers(PeersCall),
    /// Upload contract code, instantiate contracts, send them sealed commands, and hold a
    /// query deposit.
    Contracts(ContractsCall),
    /// Create and run stake pools, contribute to them and withdraw, and run their workers.
    Mining(MiningCall),
    /// Bond PHA as a validator (slashed by stored equivocation evidence), or unbond it.
    Staking(StakingCall),
}

/// Calls of the staking module (validator bonds).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakingCall {
    /// Hold `amount` units of the sender's free PHA as its validator bond.
    Bond {
        /// Units.
        amount: Balance,
    },
    /// Start `amount` bonded units on their way out: released after the unbonding period,
    /// slashable until then.
    Unbond {
        /// Units.
        amount: Balance,
    },
}

/// Calls of the mining module (DESIGN.md §5–6; rules in the runtime's `mining` module).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MiningCall {
    /// Create a stake pool owned by the sender; the chain assigns its number.
    CreatePool {
        /// The owner's cut of rewards, per mille (at most 1000).
        commission_per_mille: u16,
        /// The most value contributions may bring the pool to, if capped.
        cap: Option<Balance>,
        /// Who may contribute, if restricted (at most 64 accounts).
        allow_list: Option<Vec<AccountId>>,
    },
    /// Bind a registered worker the sender operates to the sender's pool.
    AddWorker {
        /// The pool.
        pool: u64,
        /// The worker's identity.
        #[serde(with = "hex_array")]
        worker: [u8; 32],
    },
    /// Unbind a worker that is not computing and has nothing left to be paid.
    RemoveWorker {
        /// The pool.
        pool: u64,
        /// The worker's identity.
        #[serde(with = "hex_array")]
        worker: [u8; 32],
    },
    /// Start a bound worker computing with `stake` units of the pool's free stake.
    StartWorker {
        /// The pool.
        pool: u64,
        /// The worker's identity.
        #[serde(with = "hex_array")]
        worker: [u8; 32],
        /// Units to bind (at least `k·sqrt(P)` PHA).
        stake: Balance,
    },
    /// Stop a computing worker: it cools down, then its stake can be reclaimed.
    StopWorker {
        /// The pool.
        pool: u64,
        /// The worker's identity.
        #[serde(with = "hex_array")]
        worker: [u8; 32],
    },
    /// Return a cooled-down worker's stake to its pool's free stake (anyone may send it).
    ReclaimWorker {
        /// The pool.
        pool: u64,
        /// The worker's identity.
        #[serde(with = "hex_array")]
        worker: [u8; 32],
    },
    /// Contribute `amount` units of free PHA to a pool for shares.
    Contribute {
        /// The pool.
        pool: u64,
        /// Units.
        amount: Balance,
    },
    /// Redeem `shares`: paid at once from free stake, or queued until stake is free.
    Withdraw {
        /// The pool.
        pool: u64,
        /// Shares to redeem.
        shares: u128,
    },
}

/// Calls of the contracts module (DESIGN.md §10; the protocol is `docs/contracts.md`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractsCall {
    /// Store WASM `code` under `sha256(code)` after validating it; the sender pays
    /// `code_byte_fee` per byte to the treasury. Uploading code that is already stored changes
    /// nothing and costs nothing beyond the transaction fee.
    UploadCode {
        /// The WASM module.
        #[serde(with = "crate::serde_hex::bytes")]
        code: Vec<u8>,
    },
    /// Instantiate stored code on cluster `cluster`. The contract's id is
    /// [`contract_id`](crate::contract::contract_id)`(sender, code_hash, cluster, salt)`.
    Instantiate {
        /// The stored code to run.
        code_hash: Hash,
        /// The index of the cluster whose workers run it.
        cluster: u32,
        /// Any bytes (at most 64) that make the id unique among the sender's instances.
        #[serde(with = "crate::serde_hex::bytes")]
        salt: Vec<u8>,
    },
    /// Append a sealed command to `contract`'s inbound queue, reserving
    /// `gas_limit × gas_price` from the sender until its result is final (the used gas pays the
    /// cluster's workers, the rest is refunded) or its deadline passes (all is refunded).
    SubmitCommand {
        /// The contract.
        #[serde(with = "hex_array")]
        contract: [u8; 32],
        /// The key epoch whose contract key `sealed` is sealed to: the current one.
        key_epoch: u32,
        /// The command, HPKE-sealed to the contract's key (at most 16 KiB).
        #[serde(with = "crate::serde_hex::bytes")]
        sealed: Vec<u8>,
        /// Most gas (wasm fuel) the command may use.
        gas_limit: u64,
        /// Units paid per unit of gas used.
        gas_price: Balance,
    },
    /// Add `amount` of free PHA to the sender's query deposit (it becomes reserved).
    Deposit {
        /// Units to add.
        amount: Balance,
    },
    /// Ask back `amount` of the sender's query deposit: it becomes free after
    /// `withdrawal_delay_blocks`, and usage reports may still charge it until then.
    Withdraw {
        /// Units to withdraw.
        amount: Balance,
    },
}

/// Calls of the peers module: validators' p2p addresses, published on chain so a validator
/// added by governance is reachable without editing any other node's config.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeersCall {
    /// Records `address` (`ip:port`, at most 64 bytes of text) as where the consensus node whose
    /// key is the sending account listens. The transaction's signature is the proof that the key
    /// holder published it. A later call replaces it; an empty address removes it.
    SetAddress {
        /// The p2p address, e.g. `203.0.113.7:30300` or `[2001:db8::1]:30300`.
        address: String,
    },
}

/// Calls of the evidence module.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceCall {
    /// Two conflicting votes signed by one validator: the commonware-codec encoding of the
    /// consensus fault (`phalanx_light_client::evidence`). Anyone may report it; each fault is
    /// stored once, and the reporter's fee is refunded when it is new.
    ReportEquivocation {
        /// The encoded fault.
        evidence: Vec<u8>,
    },
}

/// Calls of the balances module.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancesCall {
    /// Send `amount` units to `to`.
    Transfer {
        /// The receiving account.
        to: AccountId,
        /// Units to send.
        amount: Balance,
    },
    /// Move what has vested so far of the sender's vesting allocation to its free balance.
    ClaimVested,
}

/// Calls of the root (sudo) path, accepted only from the genesis-named root account.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootCall {
    /// Execute a privileged call with root authority.
    Dispatch(PrivilegedCall),
}

/// Calls of the governance module.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernanceCall {
    /// Submit a proposal: a batch of privileged calls executed together if it passes. Locks
    /// the proposal deposit until the proposal ends.
    Propose {
        /// The calls to execute, in order, if the proposal passes.
        calls: Vec<PrivilegedCall>,
        /// What the proposal does and why (UTF-8, at most 4 KiB).
        description: Vec<u8>,
    },
    /// Vote on an open proposal with `amount` units, which stay locked until voting ends.
    /// Voting again replaces the earlier vote.
    Vote {
        /// The proposal.
        proposal: u32,
        /// Aye (true) or nay (false).
        aye: bool,
        /// Units behind the vote.
        amount: Balance,
    },
    /// Withdraw a vote from a proposal that is still open, unlocking its PHA.
    Unvote {
        /// The proposal.
        proposal: u32,
    },
}

/// Calls that change the chain's rules; only governance (or a dev root) can execute them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivilegedCall {
    /// Replace the fee and size parameters.
    SetChainParams(ChainParams),
    /// Replace governance's own periods, deposit and turnout.
    SetGovernanceParams(GovernanceParams),
    /// Pay `amount` from the treasury to `to`.
    TreasurySpend {
        /// The recipient.
        to: AccountId,
        /// Units to pay.
        amount: Balance,
    },
    /// Replace the validator set (ed25519 consensus keys) from the next epoch on.
    SetValidators(#[serde(with = "hex_array_list")] Vec<[u8; 32]>),
    /// End a proposal as spam: it does not execute and its deposit goes to the treasury.
    CancelProposal {
        /// The proposal to cancel.
        proposal: u32,
    },
    /// Several privileged calls, executed in order; the first failure stops the batch.
    Batch(Vec<PrivilegedCall>),
    /// Replace the attestation policy workers are judged by (allowed measurements, simulated
    /// roots, minimum TCB, confidence, the freeze switch). Applies to registrations from now on.
    SetAttestationPolicy(AttestationPolicy),
    /// Freeze (true) or unfreeze (false) worker registration and re-registration.
    SetRegistrationFrozen(bool),
    /// Replace the gatekeeper stake and unbonding period (applies to appointments and removals
    /// from now on).
    SetGatekeeperParams(GatekeeperParams),
    /// Appoint the registered, attested worker `identity` as a gatekeeper, reserving its
    /// operator's stake. The first appointment requests key epoch 0.
    AppointGatekeeper(#[serde(with = "hex_array")] [u8; 32]),
    /// Remove gatekeeper `identity`: its stake unbonds, and a new key epoch is requested so that
    /// it learns no key from then on.
    RemoveGatekeeper(#[serde(with = "hex_array")] [u8; 32]),
    /// Create an empty cluster; the chain assigns its index.
    CreateCluster,
    /// Add registered worker `worker` to cluster `cluster`.
    AddClusterWorker {
        /// The cluster's index.
        cluster: u32,
        /// The worker's identity.
        #[serde(with = "hex_array")]
        worker: [u8; 32],
    },
    /// Remove `worker` from `cluster`; a new key epoch is requested so that it gets no later key.
    RemoveClusterWorker {
        /// The cluster's index.
        cluster: u32,
        /// The worker's identity.
        #[serde(with = "hex_array")]
        worker: [u8; 32],
    },
    /// Start a new key epoch with a fresh master key.
    RotateKeys,
    /// Retire key epoch `epoch` (not the current one): every enclave erases its keys, so what was
    /// sealed under them can no longer be opened.
    RetireKeyEpoch {
        /// The epoch to retire.
        epoch: u32,
    },
    /// Replace the contract parameters (code size and fee, gas bounds, timeouts).
    SetContractsParams(ContractsParams),
    /// Replace the mining rules (work formula, day length, heartbeats, slashing, grace
    /// periods), each within its bounds.
    SetMiningParams(MiningParams),
    /// Replace the staking rules (validator unbonding period, equivocation slash).
    SetStakingParams(StakingParams),
}

/// Fee and size rules, chain state changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ChainParams {
    /// Fee every transaction pays, in units.
    pub base_fee: Balance,
    /// Fee per byte of the encoded transaction, in units.
    pub byte_fee: Balance,
    /// Largest encoded transaction accepted, in bytes.
    pub max_tx_bytes: u32,
    /// Most transactions in one block.
    pub max_block_txs: u32,
    /// How many blocks ahead a transaction's expiry may lie.
    pub max_expiry_blocks: u64,
    /// Extra fee, in units, of a worker registration carrying a DCAP quote: every validator
    /// verifies the quote and its collateral, which costs far more than the bytes say.
    #[serde(default = "default_dcap_verification_fee")]
    pub dcap_verification_fee: Balance,
    /// Least time between blocks, in milliseconds: a leader waits this long after its parent's
    /// timestamp before proposing, so an idle network does not spin out empty blocks. Read from
    /// the finalized state when a block is proposed, so a change applies from the next block.
    #[serde(default = "default_block_interval_ms")]
    pub block_interval_ms: u64,
}

fn default_dcap_verification_fee() -> Balance {
    ChainParams::default().dcap_verification_fee
}

fn default_block_interval_ms() -> u64 {
    ChainParams::default().block_interval_ms
}

/// First byte of an encoded quote of each DCAP kind (the attestation crate's `QuoteKind`
/// discriminants for SGX-DCAP and TDX-DCAP; a runtime test checks they agree).
pub const DCAP_QUOTE_TAGS: [u8; 2] = [1, 2];

impl ChainParams {
    /// The least fee a transaction of `encoded_len` bytes carrying `call` must offer:
    /// `base_fee + byte_fee × encoded_len`, plus `dcap_verification_fee` for a worker
    /// registration whose quote declares a DCAP kind. Clients compute the fee they offer with it.
    pub fn required_fee(&self, call: &Call, encoded_len: usize) -> Balance {
        let base = self
            .base_fee
            .saturating_add(self.byte_fee.saturating_mul(encoded_len as Balance));
        let dcap = matches!(
            call,
            Call::Registry(RegistryCall::Register(registration))
                if registration.quote.first().is_some_and(|tag| DCAP_QUOTE_TAGS.contains(tag))
        );
        if dcap {
            base.saturating_add(self.dcap_verification_fee)
        } else {
            base
        }
    }
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            base_fee: PHA / 1_000,
            byte_fee: PHA / 1_000_000,
            max_tx_bytes: 64 * 1024,
            max_block_txs: 10_000,
            max_expiry_blocks: 14_400,
            dcap_verification_fee: PHA / 10,
            block_interval_ms: 500,
        }
    }
}

/// Governance's own rules, chain state changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GovernanceParams {
    /// Blocks a proposal stays open for voting.
    pub voting_period: u64,
    /// Blocks between a proposal passing and its calls executing.
    pub enactment_delay: u64,
    /// Units locked by the proposer until the proposal ends.
    pub proposal_deposit: Balance,
    /// Least total units that must vote for the result to count (0 = no minimum).
    pub min_turnout: Balance,
}

impl Default for GovernanceParams {
    fn default() -> Self {
        GovernanceParams {
            // About a week and a day at one block per second.
            voting_period: 7 * 24 * 3_600,
            enactment_delay: 24 * 3_600,
            proposal_deposit: 1_000 * PHA,
            min_turnout: 0,
        }
    }
}

/// Domain tag of the identity-key signature on a [`Registration`].
pub const REGISTRATION_SIGNING_DOMAIN: &[u8] = b"phalanx/registry/registration/v1";
/// Longest worker query endpoint, in bytes.
pub const MAX_ENDPOINT_BYTES: usize = 256;
/// Domain tag of the origin-key signature on a [`SignedMessage`].
pub const MESSAGE_SIGNING_DOMAIN: &[u8] = b"phalanx/mq/message/v1";
/// Longest message topic, in bytes.
pub const MAX_TOPIC_BYTES: usize = 64;
/// Largest message payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;

/// Calls of the registry module.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryCall {
    /// Register a worker, or refresh its attestation and benchmark. Sent (and paid for) by the
    /// operator account named in the registration, which owns the worker.
    Register(Registration),
}

/// A worker's registration: what its enclave attests, measured and signed with its identity key.
///
/// The enclave produces all of it: it generates the identity and encryption keys, binds them
/// into the quote's report data together with the genesis hash and `recent_block`'s hash, runs
/// the benchmark, and signs [`Registration::signing_payload`] with the identity key. The host
/// only relays it in a transaction from `operator`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Registration {
    /// The enclave's ed25519 identity public key: the worker's id on chain.
    #[serde(with = "hex_array")]
    pub identity: [u8; 32],
    /// The enclave's X25519 public key that clients seal requests to.
    #[serde(with = "hex_array")]
    pub encryption_key: [u8; 32],
    /// The SCALE-encoded attestation quote (`phalanx_attestation::Quote`).
    pub quote: Vec<u8>,
    /// SCALE-encoded DCAP collateral (`phalanx_attestation::Collateral`); `None` for simulated
    /// quotes.
    pub collateral: Option<Vec<u8>>,
    /// A recent block (height, hash) the quote's report data cites, proving freshness.
    pub recent_block: (u64, Hash),
    /// The performance score P the enclave's benchmark measured.
    pub performance: u32,
    /// Where clients send encrypted queries (a UTF-8 URL, at most [`MAX_ENDPOINT_BYTES`]).
    pub endpoint: String,
    /// The account that owns the worker and must send this registration.
    pub operator: AccountId,
    /// ed25519 signature by `identity` over [`Registration::signing_payload`].
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

impl Registration {
    /// The bytes the identity key signs: domain ‖ genesis hash ‖ SCALE(every field but the
    /// signature, in declaration order).
    pub fn signing_payload(&self, genesis: &Hash) -> Vec<u8> {
        let mut payload = Vec::with_capacity(
            REGISTRATION_SIGNING_DOMAIN.len() + 32 + 200 + self.quote.len() + self.endpoint.len(),
        );
        payload.extend_from_slice(REGISTRATION_SIGNING_DOMAIN);
        payload.extend_from_slice(genesis.as_bytes());
        (
            &self.identity,
            &self.encryption_key,
            &self.quote,
            &self.collateral,
            &self.recent_block,
            &self.performance,
            &self.endpoint,
            &self.operator,
        )
            .encode_to(&mut payload);
        payload
    }

    /// Signs the registration with the identity key for the chain with `genesis`; `identity`
    /// must be the key's public half.
    pub fn sign(mut self, identity: &Keypair, genesis: &Hash) -> Registration {
        self.signature = identity.sign(&self.signing_payload(genesis));
        self
    }

    /// Whether the signature is the identity key's, for the chain with `genesis`.
    pub fn verify_signature(&self, genesis: &Hash) -> bool {
        AccountId(self.identity).verify(&self.signing_payload(genesis), &self.signature)
    }
}

/// Calls of the message queue module.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageQueueCall {
    /// Append a signed message to its origin's queue. Any account may relay it (the untrusted
    /// host pays the fee); the origin's signature is what the chain trusts.
    Push(SignedMessage),
    /// Evidence that a worker or gatekeeper enclave signed two different messages for one
    /// (origin, sequence): this one, and the one the chain accepted. The enclave is banned and
    /// slashed (`mining::punish_enclave`); new evidence costs its reporter no fee.
    ReportConflict(SignedMessage),
}

/// Who sent a message to the chain. Chain-visible: variants only grow at the end.
///
/// Each origin is named by 32 bytes that are also the ed25519 key its messages are signed
/// with: a worker by its registered identity key; gatekeepers, clusters and contracts (until
/// their own registration exists) by the key itself.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    MaxEncodedLen,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A registered worker's enclave, by identity key.
    Worker(#[serde(with = "hex_array")] [u8; 32]),
    /// A gatekeeper's enclave.
    Gatekeeper(#[serde(with = "hex_array")] [u8; 32]),
    /// A cluster of workers.
    Cluster(#[serde(with = "hex_array")] [u8; 32]),
    /// A confidential contract.
    Contract(#[serde(with = "hex_array")] [u8; 32]),
}

impl Origin {
    /// The 32 bytes that name the origin (and are its signing key).
    pub fn id(&self) -> &[u8; 32] {
        match self {
            Origin::Worker(id)
            | Origin::Gatekeeper(id)
            | Origin::Cluster(id)
            | Origin::Contract(id) => id,
        }
    }
}

/// A message from an enclave to the chain, sequenced per origin and signed by the origin's key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedMessage {
    /// Who sent it.
    pub origin: Origin,
    /// Its position in the origin's queue: 0 for the first message, then one more each time.
    pub sequence: u64,
    /// What it is about (at most [`MAX_TOPIC_BYTES`]).
    pub topic: Vec<u8>,
    /// The content (at most [`MAX_PAYLOAD_BYTES`]).
    pub payload: Vec<u8>,
    /// ed25519 signature by the origin's key over [`SignedMessage::signing_payload`].
    #[serde(with = "hex_array")]
    pub signature: [u8; 64],
}

impl SignedMessage {
    /// Builds and signs a message with `key` for the chain with `genesis`.
    pub fn new(
        origin: Origin,
        sequence: u64,
        topic: Vec<u8>,
        payload: Vec<u8>,
        key: &Keypair,
        genesis: &Hash,
    ) -> SignedMessage {
        let mut message = SignedMessage {
            origin,
            sequence,
            topic,
            payload,
            signature: [0; 64],
        };
        message.signature = key.sign(&message.signing_payload(genesis));
        message
    }

    /// The bytes the origin's key signs: domain ‖ SCALE(genesis hash, origin, sequence, topic,
    /// payload).
    pub fn signing_payload(&self, genesis: &Hash) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(
            MESSAGE_SIGNING_DOMAIN.len() + 80 + self.topic.len() + self.payload.len(),
        );
        bytes.extend_from_slice(MESSAGE_SIGNING_DOMAIN);
        (
            genesis,
            &self.origin,
            &self.sequence,
            &self.topic,
            &self.payload,
        )
            .encode_to(&mut bytes);
        bytes
    }

    /// Whether the signature is `key`'s, for the chain with `genesis`.
    pub fn verify_signature(&self, key: &[u8; 32], genesis: &Hash) -> bool {
        AccountId(*key).verify(&self.signing_payload(genesis), &self.signature)
    }
}

// Byte arrays (keys, signatures) read and write as hex in JSON: the crate's one helper.
use crate::serde_hex as hex_array;
use crate::serde_hex::list as hex_array_list;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_strict;

    #[test]
    fn validator_keys_are_hex_in_json() {
        let call = PrivilegedCall::SetValidators(vec![[0xab; 32]]);
        let json = serde_json::to_string(&call).expect("serializes");
        assert_eq!(
            json,
            format!("{{\"set_validators\":[\"{}\"]}}", "ab".repeat(32))
        );
        assert_eq!(
            serde_json::from_str::<PrivilegedCall>(&json).expect("parses"),
            call
        );
        assert!(serde_json::from_str::<PrivilegedCall>("{\"set_validators\":[\"abcd\"]}").is_err());
    }
    use proptest::prelude::*;

    fn registration() -> Registration {
        Registration {
            identity: Keypair::dev("worker").account().0,
            encryption_key: [2; 32],
            quote: vec![0, 1, 2],
            collateral: None,
            recent_block: (7, Hash([8; 32])),
            performance: 120,
            endpoint: "https://worker.example:8000".into(),
            operator: Keypair::dev("alice").account(),
            signature: [0; 64],
        }
    }

    #[test]
    fn new_calls_are_appended_after_the_existing_ones() {
        // Pins the wire codes: existing variants keep theirs, the new ones follow.
        let register = Call::Registry(RegistryCall::Register(registration())).encode();
        assert_eq!(register[..2], [3, 0]);
        let push = Call::MessageQueue(MessageQueueCall::Push(SignedMessage {
            origin: Origin::Worker([1; 32]),
            sequence: 0,
            topic: vec![],
            payload: vec![],
            signature: [0; 64],
        }))
        .encode();
        assert_eq!(push[..3], [4, 0, 0]);
        assert_eq!(
            PrivilegedCall::SetAttestationPolicy(AttestationPolicy::production()).encode()[0],
            6
        );
        assert_eq!(
            PrivilegedCall::SetRegistrationFrozen(true).encode(),
            vec![7, 1]
        );
    }

    #[test]
    fn contracts_calls_are_appended_and_pinned() {
        // Call::Contracts is wire code 7, after Peers (6); each call's bytes pinned.
        let upload = Call::Contracts(ContractsCall::UploadCode {
            code: vec![0, 0x61, 0x73, 0x6d],
        });
        assert_eq!(hex::encode(upload.encode()), "0700100061736d");
        let instantiate = Call::Contracts(ContractsCall::Instantiate {
            code_hash: Hash([0xcc; 32]),
            cluster: 2,
            salt: b"s".to_vec(),
        });
        assert_eq!(
            hex::encode(instantiate.encode()),
            format!("0701{}020000000473", "cc".repeat(32))
        );
        let submit = Call::Contracts(ContractsCall::SubmitCommand {
            contract: [0xdd; 32],
            key_epoch: 1,
            sealed: vec![0xee, 0xff],
            gas_limit: 1_000,
            gas_price: 5,
        });
        assert_eq!(
            hex::encode(submit.encode()),
            format!(
                "0702{}01000000{}{}{}",
                "dd".repeat(32),
                "08eeff",
                "e803000000000000",
                "05000000000000000000000000000000"
            )
        );
        assert_eq!(
            hex::encode(Call::Contracts(ContractsCall::Deposit { amount: 1 }).encode()),
            "070301000000000000000000000000000000"
        );
        assert_eq!(
            hex::encode(Call::Contracts(ContractsCall::Withdraw { amount: 1 }).encode()),
            "070401000000000000000000000000000000"
        );
        // SetContractsParams is privileged call 16, after RetireKeyEpoch (15).
        assert_eq!(PrivilegedCall::RetireKeyEpoch { epoch: 0 }.encode()[0], 15);
        assert_eq!(
            PrivilegedCall::SetContractsParams(ContractsParams::default()).encode()[0],
            16
        );
        for call in [
            upload,
            instantiate,
            submit,
            Call::Root(RootCall::Dispatch(PrivilegedCall::SetContractsParams(
                ContractsParams::default(),
            ))),
        ] {
            assert_eq!(
                decode_strict::<Call>(&call.encode(), 1 << 20),
                Ok(call.clone())
            );
            let json = serde_json::to_string(&call).expect("serializes");
            assert_eq!(
                serde_json::from_str::<Call>(&json).expect("parses"),
                call,
                "{json}"
            );
        }
    }

    #[test]
    fn golden_encoding_of_an_origin() {
        assert_eq!(
            Origin::Worker([0xaa; 32]).encode(),
            [&[0u8][..], &[0xaa; 32]].concat()
        );
        assert_eq!(Origin::Contract([1; 32]).encode()[0], 3);
        assert_eq!(Origin::max_encoded_len(), 33);
    }

    #[test]
    fn registration_signature_binds_every_field_and_the_chain() {
        let genesis = Hash::of(b"genesis");
        let worker = Keypair::dev("worker");
        let signed = registration().sign(&worker, &genesis);
        assert!(signed.verify_signature(&genesis));
        assert!(!signed.verify_signature(&Hash::of(b"another chain")));
        let edits: [fn(&mut Registration); 8] = [
            |r| r.identity = Keypair::dev("other").account().0,
            |r| r.encryption_key[0] ^= 1,
            |r| r.quote.push(0),
            |r| r.collateral = Some(vec![]),
            |r| r.recent_block.0 += 1,
            |r| r.performance += 1,
            |r| r.endpoint.push('/'),
            |r| r.operator = Keypair::dev("eve").account(),
        ];
        for edit in edits {
            let mut tampered = signed.clone();
            edit(&mut tampered);
            assert!(!tampered.verify_signature(&genesis), "{tampered:?}");
        }
        assert!(!registration()
            .sign(&Keypair::dev("other"), &genesis)
            .verify_signature(&genesis));
    }

    #[test]
    fn message_signature_binds_every_field_and_the_chain() {
        let genesis = Hash::of(b"genesis");
        let key = Keypair::dev("worker");
        let id = key.account().0;
        let message = SignedMessage::new(
            Origin::Worker(id),
            3,
            b"t".to_vec(),
            b"p".to_vec(),
            &key,
            &genesis,
        );
        assert!(message.verify_signature(&id, &genesis));
        assert!(!message.verify_signature(&id, &Hash::of(b"another chain")));
        assert!(!message.verify_signature(&Keypair::dev("other").account().0, &genesis));
        let edits: [fn(&mut SignedMessage); 4] = [
            |m| m.origin = Origin::Gatekeeper(*m.origin.id()),
            |m| m.sequence += 1,
            |m| m.topic.push(0),
            |m| m.payload.push(0),
        ];
        for edit in edits {
            let mut tampered = message.clone();
            edit(&mut tampered);
            assert!(!tampered.verify_signature(&id, &genesis), "{tampered:?}");
        }
        // Pin the payload layout.
        let expected = [
            MESSAGE_SIGNING_DOMAIN,
            genesis.as_bytes(),
            &[0],
            &id,
            &3u64.to_le_bytes(),
            &[4, b't', 4, b'p'],
        ]
        .concat();
        assert_eq!(message.signing_payload(&genesis), expected);
    }

    #[test]
    fn new_calls_round_trip_through_scale_and_json() {
        let genesis = Hash::ZERO;
        let calls = vec![
            Call::Registry(RegistryCall::Register(
                registration().sign(&Keypair::dev("worker"), &genesis),
            )),
            Call::MessageQueue(MessageQueueCall::Push(SignedMessage::new(
                Origin::Cluster([5; 32]),
                1,
                b"topic".to_vec(),
                vec![1, 2, 3],
                &Keypair::dev("c"),
                &genesis,
            ))),
            Call::Root(RootCall::Dispatch(PrivilegedCall::SetAttestationPolicy(
                AttestationPolicy::dev([1; 32], [2; 32]),
            ))),
            Call::Root(RootCall::Dispatch(PrivilegedCall::SetRegistrationFrozen(
                true,
            ))),
        ];
        for call in calls {
            assert_eq!(
                decode_strict::<Call>(&call.encode(), 1 << 20),
                Ok(call.clone())
            );
            let json = serde_json::to_string(&call).expect("serializes");
            assert_eq!(
                serde_json::from_str::<Call>(&json).expect("parses"),
                call,
                "{json}"
            );
        }
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_call_bytes_never_panics(tag in 3u8..8, bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let input = [&[tag][..], &bytes].concat();
            let _ = decode_strict::<Call>(&input, 1 << 20);
        }
    }
}
