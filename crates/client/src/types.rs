//! The node's JSON-RPC answers as Rust types (the shapes are in `docs/wire.md`, *JSON-RPC*).
//!
//! Each type has the fields of the node's answer, no more and no fewer: deserializing an answer
//! and serializing it again gives back the same JSON, which `crates/node/tests/sdk_types.rs`
//! checks against a node's real answers (blocks with receipts and block events, a failed call,
//! proposals voting, passed, rejected and enacted with and without an error) and
//! `crates/worker/tests/e2e.rs` for registered workers. Those tests are what catch a node and
//! this SDK drifting apart. Deserialization itself ignores fields it does not know, so an SDK keeps reading the
//! answers of a newer node that adds one.
//!
//! Proposals, workers, gatekeepers, key epochs, clusters, contracts (code, instances, commands,
//! results, deposits) and error codes are the records the chain stores, defined once in
//! `phalanx-primitives` and re-exported here, so the SDK needs nothing of the runtime (which
//! pulls in the attestation verifier). Where the node adds to what the runtime stores (a receipt
//! error's `message`) the SDK has a type of its own ([`DescribedCode`]). Events stay JSON objects
//! ([`Event`]): the runtime's event enum grows with every module, and an SDK must read the
//! events of modules newer than itself.
//!
//! Enums tagged by a field (`status`) and events are read through a plain struct or map first
//! ([`ProposalStatus`], [`TransactionStatus`], [`Event`]): serde's tagged enums and flattened
//! fields buffer what they read, and the buffer refuses u128 amounts under `serde_json`'s
//! `arbitrary_precision`, which the workspace needs for them.

use std::fmt;

use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::attestation::AttestationPolicy;
use phalanx_primitives::call::Call;
pub use phalanx_primitives::contract::{
    CodeInfo, Command, CommandOutput, CommandResult, CommandStatus, Contract, ContractsParams,
    QueryDeposit,
};
pub use phalanx_primitives::gatekeeper::{
    cluster_id, Cluster, Gatekeeper, GatekeeperParams, KeyEpoch, Unbonding,
};
pub use phalanx_primitives::governance::{Proposal, ProposalStatus};
pub use phalanx_primitives::worker::WorkerInfo;
pub use phalanx_primitives::ErrorCode;
use phalanx_primitives::{AccountId, Balance, Hash};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A receipt's error code with the node's words for it: `{"module": "balances", "reason":
/// "zero_amount", "message": "the amount must be greater than zero"}`.
///
/// Match on [`ErrorCode::module`] and [`ErrorCode::reason`]; `message` is added by the node when
/// it answers `phalanx_block` and `phalanx_transaction` (never stored, so it may change between
/// node versions; absent when the node has no words for the code).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedCode {
    /// The stable code.
    #[serde(flatten)]
    pub code: ErrorCode,
    /// The node's words for the code, when it gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl fmt::Display for DescribedCode {
    /// `"<message> (<module>.<reason>)"`, or `"<module>.<reason>"` without words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "{message} ({})", self.code),
            None => self.code.fmt(f),
        }
    }
}

/// A receipt's error: a code, or the text an older node recorded before receipts carried codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CallError {
    /// A stable code (every current node).
    Code(DescribedCode),
    /// Free text (nodes from before error codes).
    Text(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Code(code) => code.fmt(f),
            CallError::Text(text) => f.write_str(text),
        }
    }
}

/// One event: `{"event": "transferred", "from": "pha1…", "to": "pha1…", "amount": 5}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Map<String, Value>", into = "Map<String, Value>")]
pub struct Event {
    /// The snake_case event name (`fee_paid`, `transferred`, `call_failed`, …; see
    /// `crates/runtime/src/events.rs`).
    pub name: String,
    /// Its other fields as the node gives them (accounts `pha1…`, amounts integers, keys hex,
    /// error codes `{module, reason}`).
    pub fields: Map<String, Value>,
}

impl TryFrom<Map<String, Value>> for Event {
    type Error = String;

    fn try_from(mut fields: Map<String, Value>) -> Result<Self, String> {
        match fields.remove("event") {
            Some(Value::String(name)) => Ok(Event { name, fields }),
            _ => Err("an event without its `event` name".into()),
        }
    }
}

impl From<Event> for Map<String, Value> {
    fn from(event: Event) -> Self {
        let mut fields = event.fields;
        fields.insert("event".into(), Value::String(event.name));
        fields
    }
}

/// What executing one transaction did: the fee it paid, its call's error, its events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// The fee charged (paid whether or not the call succeeded).
    pub fee: Balance,
    /// Why the call failed (its effects were rolled back); `None` when it succeeded.
    pub error: Option<CallError>,
    /// What happened, in order.
    pub events: Vec<Event>,
}

/// Where a finalized transaction landed (`phalanx_transaction`'s `location`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Included {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub block: Hash,
    /// Index in the block.
    pub index: u32,
    /// The receipt.
    pub receipt: Receipt,
}

impl Included {
    /// The call's error, if it failed (the fee is paid either way): `"<message>
    /// (<module>.<reason>)"`, the code alone when the node has no words for it, or the text an
    /// older node recorded.
    pub fn error(&self) -> Option<String> {
        self.receipt.error.as_ref().map(CallError::to_string)
    }
}

/// `phalanx_transaction`: where a transaction is, as far as the node asked knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTransactionStatus", into = "RawTransactionStatus")]
pub enum TransactionStatus {
    /// In a finalized block.
    Finalized(Included),
    /// Waiting in this node's mempool.
    Pending,
    /// Neither in this node's mempool nor in a finalized block.
    Unknown,
}

impl TransactionStatus {
    /// The node's word for the status: `finalized`, `pending` or `unknown`.
    pub fn word(&self) -> &'static str {
        match self {
            TransactionStatus::Finalized(_) => "finalized",
            TransactionStatus::Pending => "pending",
            TransactionStatus::Unknown => "unknown",
        }
    }

    /// Where it landed, once finalized.
    pub fn included(&self) -> Option<&Included> {
        match self {
            TransactionStatus::Finalized(included) => Some(included),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RawTransactionStatus {
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    location: Option<Included>,
}

impl TryFrom<RawTransactionStatus> for TransactionStatus {
    type Error = String;

    fn try_from(raw: RawTransactionStatus) -> Result<Self, String> {
        match (raw.status.as_str(), raw.location) {
            ("finalized", Some(included)) => Ok(TransactionStatus::Finalized(included)),
            ("finalized", None) => Err("a finalized transaction without its location".into()),
            ("pending", _) => Ok(TransactionStatus::Pending),
            ("unknown", _) => Ok(TransactionStatus::Unknown),
            (other, _) => Err(format!("unknown transaction status `{other}`")),
        }
    }
}

impl From<TransactionStatus> for RawTransactionStatus {
    fn from(status: TransactionStatus) -> Self {
        let word = status.word().to_string();
        let location = match status {
            TransactionStatus::Finalized(included) => Some(included),
            _ => None,
        };
        RawTransactionStatus {
            status: word,
            location,
        }
    }
}

/// A transaction inside [`FinalizedBlock`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockTransaction {
    /// Its hash.
    pub hash: Hash,
    /// Who signed (and paid).
    pub signer: AccountId,
    /// Its nonce.
    pub nonce: u64,
    /// The fee it offered.
    pub fee: Balance,
    /// Last height it was valid at.
    pub expires_at: u64,
    /// What it called.
    pub call: Call,
    /// What executing it did; `None` only if the node has no outcome for the block.
    pub receipt: Option<Receipt>,
}

/// `phalanx_block`: a finalized block with its transactions' receipts and its certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalizedBlock {
    /// The block (header) hash.
    pub hash: Hash,
    /// Height.
    pub height: u64,
    /// Parent hash.
    pub parent: Hash,
    /// Timestamp (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// Merkle root of the transactions.
    pub tx_root: Hash,
    /// State root after the block.
    pub state_root: Hash,
    /// The transactions, in order.
    pub transactions: Vec<BlockTransaction>,
    /// Events of the block's own hooks (governance tallies, enactments, epoch changes).
    pub block_events: Option<Vec<Event>>,
    /// The SCALE finalization certificate; empty for genesis, and for a block finalized by a
    /// descendant's certificate (docs/wire.md, *Receipts and error codes*).
    #[serde(with = "hex0x")]
    pub certificate: Vec<u8>,
}

/// `phalanx_rawBlock`: the SCALE block and its certificate, for light clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawBlock {
    /// Height.
    pub height: u64,
    /// The SCALE-encoded block.
    #[serde(with = "hex0x")]
    pub block: Vec<u8>,
    /// The SCALE finalization certificate (empty for genesis).
    #[serde(with = "hex0x")]
    pub certificate: Vec<u8>,
}

/// One entry of [`StateProofs`], or one more entry proven under an answer's state root
/// ([`ClusterKeyProof`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvenValue {
    /// The storage key.
    #[serde(with = "hex0x")]
    pub key: Vec<u8>,
    /// Its value; `None` when the proof shows it absent.
    #[serde(with = "hex0x::option")]
    pub value: Option<Vec<u8>>,
    /// The SCALE sparse-Merkle proof.
    #[serde(with = "hex0x")]
    pub proof: Vec<u8>,
}

/// `phalanx_stateProofs`: several keys proved against one finalized block's state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProofs {
    /// The block the proofs are against.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// Its state root.
    pub state_root: Hash,
    /// The SCALE header.
    #[serde(with = "hex0x")]
    pub header: Vec<u8>,
    /// Its finalization certificate (empty for genesis).
    #[serde(with = "hex0x")]
    pub certificate: Vec<u8>,
    /// The keys, in the order asked.
    pub entries: Vec<ProvenValue>,
}

/// `phalanx_validatorSet`: the set that certifies `epoch`, with its proof against the state
/// root of block `height`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSet {
    /// The epoch it certifies.
    pub epoch: u64,
    /// The block whose state root the proof is against.
    pub height: u64,
    /// The validators' ed25519 keys, in the order stored.
    #[serde(with = "hex0x::list")]
    pub validators: Vec<[u8; 32]>,
    /// SCALE sparse-Merkle proof of `system/validators`.
    #[serde(with = "hex0x")]
    pub proof: Vec<u8>,
}

/// One page of `phalanx_workers`, in identity order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkersPage {
    /// The workers.
    pub workers: Vec<WorkerInfo>,
    /// The identity the next page starts at; `None` after the last.
    #[serde(with = "hex0x::option")]
    pub next: Option<[u8; 32]>,
    /// The attestation policy in force.
    pub policy: AttestationPolicy,
    /// The height read at.
    pub height: u64,
}

/// One page of `phalanx_proposals`, in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalsPage {
    /// The proposals.
    pub proposals: Vec<Proposal>,
    /// The id the next page starts at; `None` after the last.
    pub next: Option<u32>,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_proposal`: one proposal and the height it was read at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalAt {
    /// The proposal.
    pub proposal: Proposal,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_treasury`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Treasury {
    /// The treasury's account.
    pub account: AccountId,
    /// Its free balance.
    pub balance: Balance,
    /// What is left of the mining rewards.
    pub mining_pot: Balance,
    /// All PHA in existence.
    pub total_issuance: Balance,
}

/// `phalanx_gatekeepers`: the appointed gatekeepers, the stakes of removed ones still
/// unbonding, and the rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatekeeperSet {
    /// Appointed gatekeepers, in identity order.
    pub gatekeepers: Vec<Gatekeeper>,
    /// Stakes of removed gatekeepers, in release order.
    pub unbonding: Vec<Unbonding>,
    /// The stake an appointment reserves and the unbonding period.
    pub params: GatekeeperParams,
    /// The height read at.
    pub height: u64,
}

/// One page of `phalanx_keyEpochs`, in epoch order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEpochsPage {
    /// The epochs (requested, published or retired).
    pub epochs: Vec<KeyEpoch>,
    /// The epoch the next page starts at; `None` after the last.
    pub next: Option<u32>,
    /// The newest published epoch, if any.
    pub current: Option<u32>,
    /// The epoch waiting for a gatekeeper to publish its master key, if any.
    pub requested: Option<u32>,
    /// The height read at.
    pub height: u64,
}

/// One page of `phalanx_clusters`, in index order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClustersPage {
    /// The clusters.
    pub clusters: Vec<Cluster>,
    /// The index the next page starts at; `None` after the last.
    pub next: Option<u32>,
    /// The height read at.
    pub height: u64,
}

/// A cluster's public key in one epoch (an entry of [`ClusterDetail::keys`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterPublicKey {
    /// The key epoch.
    pub epoch: u32,
    /// The cluster's X25519 public key in that epoch (hex, no `0x`).
    #[serde(with = "phalanx_primitives::serde_hex")]
    pub public_key: [u8; 32],
}

/// `phalanx_cluster`: one cluster, a page of its members and its published keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterDetail {
    /// The cluster.
    pub cluster: Cluster,
    /// Member worker identities, in identity order (hex, no `0x`).
    #[serde(with = "phalanx_primitives::serde_hex::list")]
    pub members: Vec<[u8; 32]>,
    /// The identity the next page of members starts at; `None` after the last.
    #[serde(with = "hex0x::option")]
    pub next: Option<[u8; 32]>,
    /// The cluster's public key in each epoch one was published for, oldest first.
    pub keys: Vec<ClusterPublicKey>,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_clusterKey`: cluster `cluster`'s public key in `epoch`, with the state proof of
/// the entry holding it. Check it with [`ClusterKeyProof::verify`] before sealing anything to
/// it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterKeyProof {
    /// The cluster's index.
    pub cluster: u32,
    /// The key epoch.
    pub epoch: u32,
    /// The cluster's X25519 public key (hex, no `0x`).
    #[serde(with = "phalanx_primitives::serde_hex")]
    pub public_key: [u8; 32],
    /// The storage key proven: `gatekeeper/cluster_key/<cluster u32 BE>/<epoch u32 BE>`.
    #[serde(with = "hex0x")]
    pub key: Vec<u8>,
    /// Its SCALE value: the 32 key bytes.
    #[serde(with = "hex0x")]
    pub value: Vec<u8>,
    /// The SCALE sparse-Merkle proof of `key` holding `value` under `state_root`.
    #[serde(with = "hex0x")]
    pub proof: Vec<u8>,
    /// The finalized block the proof is against.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// Its state root.
    pub state_root: Hash,
    /// Its SCALE header (whose hash is `block_hash`).
    #[serde(with = "hex0x")]
    pub header: Vec<u8>,
    /// Its finalization certificate (empty for genesis, or when a descendant finalized it).
    #[serde(with = "hex0x")]
    pub certificate: Vec<u8>,
    /// The epoch's [`KeyEpoch`] record (`gatekeeper/epoch/<epoch u32 BE>`), proven under the
    /// same state root: shows the epoch is not retired.
    pub epoch_record: ProvenValue,
    /// The current key epoch's number (`gatekeeper/current_epoch`, a SCALE u32), proven under
    /// the same state root: shows this key is the one to seal to now.
    pub current_epoch: ProvenValue,
}

impl ProvenValue {
    /// Checks the proof against `state_root` and the key against `expected`, then decodes the
    /// value (which must be present) as a `T` of at most `max` bytes.
    fn decode<T: Decode>(
        &self,
        expected: Vec<u8>,
        state_root: &Hash,
        what: &'static str,
        max: usize,
    ) -> Result<T, KeyProofError> {
        check_key(&self.key, expected)?;
        let proof = phalanx_state::Proof::decode_strict(&self.proof)?;
        proof.verify(state_root, &self.key, self.value.as_deref())?;
        let value = self.value.as_deref().ok_or(KeyProofError::MalformedValue {
            what,
            reason: "the entry is absent".into(),
        })?;
        phalanx_primitives::decode_strict(value, max).map_err(|e| KeyProofError::MalformedValue {
            what,
            reason: e.to_string(),
        })
    }
}

/// `phalanx_masterKey`: the master public key of key epoch `epoch`, with the state proof of the
/// epoch's record. Check it with [`MasterKeyProof::verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterKeyProof {
    /// The key epoch.
    pub epoch: u32,
    /// The epoch's master public key (hex, no `0x`).
    #[serde(with = "phalanx_primitives::serde_hex")]
    pub public_key: [u8; 32],
    /// The storage key proven: `gatekeeper/epoch/<epoch u32 BE>`.
    #[serde(with = "hex0x")]
    pub key: Vec<u8>,
    /// Its SCALE value: the epoch's [`KeyEpoch`] record.
    #[serde(with = "hex0x")]
    pub value: Vec<u8>,
    /// The SCALE sparse-Merkle proof of `key` holding `value` under `state_root`.
    #[serde(with = "hex0x")]
    pub proof: Vec<u8>,
    /// The finalized block the proof is against.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// Its state root.
    pub state_root: Hash,
    /// Its SCALE header (whose hash is `block_hash`).
    #[serde(with = "hex0x")]
    pub header: Vec<u8>,
    /// Its finalization certificate (empty for genesis, or when a descendant finalized it).
    #[serde(with = "hex0x")]
    pub certificate: Vec<u8>,
}

/// Why a published key's proof was refused: the answer is not what the chain holds, so nothing
/// may be sealed to that key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyProofError {
    /// The proof is about another storage entry than the one holding the key asked for.
    #[error("the proof is about storage key {got}, not {expected}: ask again, or another node")]
    WrongKey {
        /// The key the answer proves (hex).
        got: String,
        /// The key of the cluster and epoch the answer names (hex).
        expected: String,
    },
    /// The proven value does not decode as what that entry holds.
    #[error("the proven value is not a {what}: {reason}")]
    MalformedValue {
        /// What the entry holds.
        what: &'static str,
        /// Why it does not decode.
        reason: String,
    },
    /// The proven value holds another public key (or another epoch) than the answer shows.
    #[error("the proven value does not hold the public key the answer shows; do not use it")]
    PublicKeyMismatch,
    /// The header does not decode.
    #[error("the header is not a SCALE block header: {0}")]
    MalformedHeader(String),
    /// The key's epoch is retired: every enclave erased its keys, nothing sealed to it can be
    /// opened.
    #[error("key epoch {epoch} was retired at height {at}: its keys are erased; ask for the current epoch's key")]
    Retired {
        /// The epoch.
        epoch: u32,
        /// Height of its retirement.
        at: u64,
    },
    /// A newer key epoch is current: seal to its key (the old one still opens until it is
    /// retired, but a rotation exists to stop using it).
    #[error(
        "key epoch {epoch} is not the current one ({current}); ask for the current epoch's key"
    )]
    NotCurrent {
        /// The answer's epoch.
        epoch: u32,
        /// The current epoch, proven.
        current: u32,
    },
    /// The answer is proven against another state root than the one the caller trusts.
    #[error("the key is proven against state root {answered}, not the trusted {trusted}: ask again, or check that block with a light client")]
    UntrustedRoot {
        /// The root the answer is proven against.
        answered: Hash,
        /// The root the caller trusts.
        trusted: Hash,
    },
    /// The header is not the block the answer names (hash, height or state root differ).
    #[error("the header's hash, height or state root differs from the answer's")]
    HeaderMismatch,
    /// The proof does not show `value` at `key` under `state_root`.
    #[error("the state proof does not hold: {0}")]
    Proof(#[from] phalanx_state::ProofError),
}

/// Checks that `header` is the block `(height, block_hash, state_root)` and that `proof` shows
/// `value` at `key` under its state root.
fn check_proven(
    key: &[u8],
    value: &[u8],
    proof: &[u8],
    header: &[u8],
    (height, block_hash, state_root): (u64, &Hash, &Hash),
) -> Result<(), KeyProofError> {
    let decoded: phalanx_primitives::Header = phalanx_primitives::decode_strict(header, 1 << 10)
        .map_err(|e| KeyProofError::MalformedHeader(e.to_string()))?;
    if decoded.hash() != *block_hash
        || decoded.height != height
        || decoded.state_root != *state_root
    {
        return Err(KeyProofError::HeaderMismatch);
    }
    let proof = phalanx_state::Proof::decode_strict(proof)?;
    proof.verify(state_root, key, Some(value))?;
    Ok(())
}

fn check_key(got: &[u8], expected: Vec<u8>) -> Result<(), KeyProofError> {
    if got == expected.as_slice() {
        Ok(())
    } else {
        Err(KeyProofError::WrongKey {
            got: hex::encode(got),
            expected: hex::encode(expected),
        })
    }
}

impl ClusterKeyProof {
    /// The storage key of cluster `cluster`'s public key in `epoch` (docs/wire.md, *State
    /// keys*): `gatekeeper/cluster_key/` ‖ cluster u32 BE ‖ `/` ‖ epoch u32 BE.
    pub fn storage_key(cluster: u32, epoch: u32) -> Vec<u8> {
        phalanx_primitives::gatekeeper::cluster_public_key(cluster, epoch)
    }

    /// Checks the answer against its own `state_root`: `key` is the entry of this cluster and
    /// epoch, `value` is exactly `public_key`, `header` is the named block, and `proof` shows
    /// `value` at `key` under its state root; and, under the same root, that the epoch's record
    /// is of this epoch, published and not retired ([`KeyProofError::Retired`]), and that this
    /// epoch is the current one ([`KeyProofError::NotCurrent`]). A key that passes is the one
    /// to seal to at that block.
    ///
    /// What this cannot check is that `state_root` is the chain's: do that with a light client
    /// (`phalanx-light-client`), which checks that `certificate` finalizes `header` under the
    /// validator set of its epoch (`phalanx_validatorSet`). Compare `cluster` and `epoch` with
    /// what you asked for, too.
    pub fn verify(&self) -> Result<(), KeyProofError> {
        self.answer().verify()
    }

    fn answer(&self) -> EpochKeyAnswer<'_> {
        EpochKeyAnswer {
            expected_key: Self::storage_key(self.cluster, self.epoch),
            epoch: self.epoch,
            public_key: &self.public_key,
            key: &self.key,
            value: &self.value,
            proof: &self.proof,
            header: &self.header,
            height: self.height,
            block_hash: &self.block_hash,
            state_root: &self.state_root,
            epoch_record: &self.epoch_record,
            current_epoch: &self.current_epoch,
        }
    }
}

/// What every answer about a key published per key epoch (a cluster's, a contract's) holds,
/// borrowed for one check: [`ClusterKeyProof`] and [`ContractKeyProof`] are checked by the same
/// code.
struct EpochKeyAnswer<'a> {
    /// The storage key the answer must prove (from what it names).
    expected_key: Vec<u8>,
    epoch: u32,
    public_key: &'a [u8; 32],
    key: &'a [u8],
    value: &'a [u8],
    proof: &'a [u8],
    header: &'a [u8],
    height: u64,
    block_hash: &'a Hash,
    state_root: &'a Hash,
    epoch_record: &'a ProvenValue,
    current_epoch: &'a ProvenValue,
}

impl EpochKeyAnswer<'_> {
    /// `key` is the expected entry, `value` is exactly `public_key`, `header` is the named
    /// block, `proof` shows `value` at `key` under its state root; and, under the same root, the
    /// epoch's record is of this epoch, published and not retired, and this epoch is current.
    fn verify(&self) -> Result<(), KeyProofError> {
        check_key(self.key, self.expected_key.clone())?;
        if self.value != self.public_key.encode() {
            return Err(KeyProofError::PublicKeyMismatch);
        }
        check_proven(
            self.key,
            self.value,
            self.proof,
            self.header,
            (self.height, self.block_hash, self.state_root),
        )?;
        let record: KeyEpoch = self.epoch_record.decode(
            MasterKeyProof::storage_key(self.epoch),
            self.state_root,
            "key epoch record",
            1 << 12,
        )?;
        if record.epoch != self.epoch || record.master_public.is_none() {
            return Err(KeyProofError::MalformedValue {
                what: "key epoch record",
                reason: format!(
                    "it is epoch {}'s record, {}",
                    record.epoch,
                    if record.master_public.is_some() {
                        "published"
                    } else {
                        "unpublished"
                    }
                ),
            });
        }
        if let Some(at) = record.retired_at {
            return Err(KeyProofError::Retired {
                epoch: self.epoch,
                at,
            });
        }
        let current: u32 = self.current_epoch.decode(
            phalanx_primitives::gatekeeper::CURRENT_EPOCH_KEY.to_vec(),
            self.state_root,
            "current key epoch",
            4,
        )?;
        if current != self.epoch {
            return Err(KeyProofError::NotCurrent {
                epoch: self.epoch,
                current,
            });
        }
        Ok(())
    }

    /// [`EpochKeyAnswer::verify`], then that the answer is proven against `trusted_root`.
    fn verify_trusted(&self, trusted_root: &Hash) -> Result<(), KeyProofError> {
        self.verify()?;
        if self.state_root != trusted_root {
            return Err(KeyProofError::UntrustedRoot {
                answered: *self.state_root,
                trusted: *trusted_root,
            });
        }
        Ok(())
    }

    /// Seals `plaintext` to the checked key under a fresh random nonce (call
    /// [`EpochKeyAnswer::verify_trusted`] first).
    fn seal(
        &self,
        target: [u8; 32],
        expires_at_ms: u64,
        plaintext: &[u8],
    ) -> Result<SealedRequest, SealError> {
        let mut nonce = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        self.seal_with_nonce(target, nonce, expires_at_ms, plaintext)
    }

    /// [`EpochKeyAnswer::seal`] under the caller's nonce (never reused).
    fn seal_with_nonce(
        &self,
        target: [u8; 32],
        nonce: [u8; 16],
        expires_at_ms: u64,
        plaintext: &[u8],
    ) -> Result<SealedRequest, SealError> {
        let mut rng = rand_core::OsRng;
        let context = phalanx_keys::RequestContext {
            target,
            nonce,
            expires_at_ms,
        };
        let (envelope, response_key) =
            phalanx_keys::seal_request(self.public_key, &context, plaintext, &mut rng)?;
        Ok(SealedRequest {
            envelope,
            context,
            response_key,
        })
    }
}

/// Why a request could not be sealed to a published key.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key's answer does not check out (see [`ClusterKeyProof::verify`]).
    #[error("the published key does not check out: {0}")]
    Proof(#[from] KeyProofError),
    /// Sealing failed (a plaintext over the limit, say).
    #[error("{0}")]
    Seal(#[from] phalanx_keys::Error),
    /// The sealed command would be larger than the chain accepts.
    #[error(
        "the sealed command is {size} bytes, over the chain's limit of {max}: send a shorter input"
    )]
    CommandTooLarge {
        /// The sealed command's size.
        size: usize,
        /// [`phalanx_primitives::contract::MAX_SEALED_COMMAND_BYTES`].
        max: usize,
    },
}

/// A request sealed to a cluster's key, with what the sender keeps to read the answer.
#[derive(Debug)]
pub struct SealedRequest {
    /// What travels: the HPKE envelope (`enc ‖ ciphertext`, docs/hpke.md).
    pub envelope: phalanx_keys::Envelope,
    /// The context bound into it, which the recipient needs to open it.
    pub context: phalanx_keys::RequestContext,
    /// The key the answer is sealed with ([`phalanx_keys::open_response`]); never sent.
    pub response_key: phalanx_keys::ResponseKey,
}

impl ClusterKeyProof {
    /// Seals `plaintext` to the cluster's key, bound to `target` (the contract or cluster the
    /// request is for), a fresh random nonce and `expires_at_ms` (chain time), after checking
    /// this answer ([`ClusterKeyProof::verify`]: proven, current, not retired) **and** that it is
    /// proven against `trusted_root`, a state root the caller already trusts.
    ///
    /// The answer alone proves nothing about the chain: a lying node can build a whole state
    /// tree of its own, with its own "cluster key", under a root it made up. `trusted_root` must
    /// come from somewhere that node does not control: a light client that checked the block's
    /// finalization certificate (`phalanx-light-client`, `phalanx_validatorSet`), or a node the
    /// caller runs itself. Then only the enclaves holding this cluster's key in this epoch can
    /// open the request. An answer at another block than the trusted one is refused
    /// ([`KeyProofError::UntrustedRoot`]): ask again, at that block's height or later.
    pub fn seal_request(
        &self,
        trusted_root: &Hash,
        target: [u8; 32],
        expires_at_ms: u64,
        plaintext: &[u8],
    ) -> Result<SealedRequest, SealError> {
        let answer = self.answer();
        answer.verify_trusted(trusted_root)?;
        answer.seal(target, expires_at_ms, plaintext)
    }

    /// [`ClusterKeyProof::seal_request`] under the caller's `nonce`, for a request whose other
    /// parts (a signature) cover the nonce. Draw it at random and never reuse it.
    pub fn seal_request_with_nonce(
        &self,
        trusted_root: &Hash,
        target: [u8; 32],
        nonce: [u8; 16],
        expires_at_ms: u64,
        plaintext: &[u8],
    ) -> Result<SealedRequest, SealError> {
        let answer = self.answer();
        answer.verify_trusted(trusted_root)?;
        answer.seal_with_nonce(target, nonce, expires_at_ms, plaintext)
    }
}

impl MasterKeyProof {
    /// The storage key of key epoch `epoch`'s record (docs/wire.md, *State keys*):
    /// `gatekeeper/epoch/` ‖ epoch u32 BE.
    pub fn storage_key(epoch: u32) -> Vec<u8> {
        phalanx_primitives::gatekeeper::epoch_key(epoch)
    }

    /// The epoch's record, decoded from the proven value (check [`MasterKeyProof::verify`]
    /// first): who generated the key, when it was requested, whether it is retired.
    pub fn record(&self) -> Result<KeyEpoch, KeyProofError> {
        phalanx_primitives::decode_strict(&self.value, 1 << 12).map_err(|e| {
            KeyProofError::MalformedValue {
                what: "key epoch record",
                reason: e.to_string(),
            }
        })
    }

    /// Checks the answer against its own `state_root`, as [`ClusterKeyProof::verify`] does:
    /// `key` is this epoch's record, the record is of this epoch and holds `public_key` as its
    /// master public key, `header` is the named block, and `proof` shows the record under its
    /// state root. Trusting `state_root` itself is a light client's job.
    pub fn verify(&self) -> Result<(), KeyProofError> {
        check_key(&self.key, Self::storage_key(self.epoch))?;
        let record = self.record()?;
        if record.epoch != self.epoch || record.master_public != Some(self.public_key) {
            return Err(KeyProofError::PublicKeyMismatch);
        }
        check_proven(
            &self.key,
            &self.value,
            &self.proof,
            &self.header,
            (self.height, &self.block_hash, &self.state_root),
        )
    }
}

// ---- contracts (docs/contracts.md) ----

/// One page of `phalanx_contracts`, in id order, with the contract parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractsPage {
    /// The contracts.
    pub contracts: Vec<Contract>,
    /// The id the next page starts at; `None` after the last.
    #[serde(with = "hex0x::option")]
    pub next: Option<[u8; 32]>,
    /// The contract parameters in force (code size and fee, gas price and limit, timeouts).
    pub params: ContractsParams,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_contract`: one contract, its code's record and its public key in each epoch one
/// was published for (the entries are [`ClusterPublicKey`]-shaped: `{epoch, public_key}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractDetail {
    /// The contract.
    pub contract: Contract,
    /// Its code's record.
    pub code: CodeInfo,
    /// Its public key in each epoch one was published for, oldest first.
    pub keys: Vec<ClusterPublicKey>,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_command`: a command of a contract's queue and, once final, its result (whose
/// `sealed_output` only the caller can open: [`crate::open_command_output`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandDetail {
    /// The contract (hex, no `0x`).
    #[serde(with = "phalanx_primitives::serde_hex")]
    pub contract: [u8; 32],
    /// The command.
    pub command: Command,
    /// Its final result; `None` while pending and after a timeout.
    pub result: Option<CommandResult>,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_code`: stored code's record (the bytes are under `contracts/code/<hash>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCode {
    /// The record.
    pub code: CodeInfo,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_queryDeposit`: an account's query deposit (zero when it has none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryDepositAt {
    /// The account.
    pub address: AccountId,
    /// Its deposit.
    pub deposit: QueryDeposit,
    /// The height read at.
    pub height: u64,
}

/// `phalanx_contractKey`: contract `contract`'s public key in `epoch`, with the state proof of
/// the entry holding it and, under the same root, the epoch's record and the current epoch (as
/// [`ClusterKeyProof`]). Check it with [`ContractKeyProof::verify`]; seal a command to it with
/// [`ContractKeyProof::seal_command`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractKeyProof {
    /// The contract's id (hex, no `0x`).
    #[serde(with = "phalanx_primitives::serde_hex")]
    pub contract: [u8; 32],
    /// The key epoch.
    pub epoch: u32,
    /// The contract's X25519 public key (hex, no `0x`).
    #[serde(with = "phalanx_primitives::serde_hex")]
    pub public_key: [u8; 32],
    /// The storage key proven: `contracts/key/<id>/<epoch u32 BE>`.
    #[serde(with = "hex0x")]
    pub key: Vec<u8>,
    /// Its SCALE value: the 32 key bytes.
    #[serde(with = "hex0x")]
    pub value: Vec<u8>,
    /// The SCALE sparse-Merkle proof of `key` holding `value` under `state_root`.
    #[serde(with = "hex0x")]
    pub proof: Vec<u8>,
    /// The finalized block the proof is against.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// Its state root.
    pub state_root: Hash,
    /// Its SCALE header (whose hash is `block_hash`).
    #[serde(with = "hex0x")]
    pub header: Vec<u8>,
    /// Its finalization certificate (empty for genesis, or when a descendant finalized it).
    #[serde(with = "hex0x")]
    pub certificate: Vec<u8>,
    /// The epoch's [`KeyEpoch`] record, proven under the same state root.
    pub epoch_record: ProvenValue,
    /// The current key epoch's number, proven under the same state root.
    pub current_epoch: ProvenValue,
}

impl ContractKeyProof {
    /// The storage key of contract `contract`'s public key in `epoch` (docs/contracts.md,
    /// *Storage keys*): `contracts/key/` ‖ id ‖ `/` ‖ epoch u32 BE.
    pub fn storage_key(contract: &[u8; 32], epoch: u32) -> Vec<u8> {
        phalanx_primitives::contract::contract_public_key(contract, epoch)
    }

    /// Checks the answer against its own `state_root`, exactly as [`ClusterKeyProof::verify`]
    /// does (the same code): the entry of this contract and epoch holds `public_key`, proven;
    /// the epoch is published, not retired and current. Trusting `state_root` itself is a light
    /// client's job (or pass a root you trust to [`ContractKeyProof::seal_command`]).
    pub fn verify(&self) -> Result<(), KeyProofError> {
        self.answer().verify()
    }

    fn answer(&self) -> EpochKeyAnswer<'_> {
        EpochKeyAnswer {
            expected_key: Self::storage_key(&self.contract, self.epoch),
            epoch: self.epoch,
            public_key: &self.public_key,
            key: &self.key,
            value: &self.value,
            proof: &self.proof,
            header: &self.header,
            height: self.height,
            block_hash: &self.block_hash,
            state_root: &self.state_root,
            epoch_record: &self.epoch_record,
            current_epoch: &self.current_epoch,
        }
    }

    /// Seals a command for this contract: checks the answer ([`ContractKeyProof::verify`]) and
    /// that it is proven against `trusted_root` (a state root you trust: see
    /// [`ClusterKeyProof::seal_request`] for why the answer alone proves nothing), then seals
    /// `CommandPlaintext { caller, input }` with HPKE to the contract's key, with the request
    /// context `{target: contract id, nonce: 16 random bytes, expires_at_ms: COMMAND_EXPIRY}`.
    ///
    /// Returns the SCALE [`SealedCommand`](phalanx_primitives::contract::SealedCommand) to put
    /// in `SubmitCommand` (with `key_epoch` = this answer's `epoch`; see
    /// [`crate::contracts::submit_command`]) and the key that opens the result's
    /// `sealed_output` ([`crate::open_command_output`]); keep it, it is never sent. `caller`
    /// must be the account that signs the transaction: an enclave refuses a command whose
    /// plaintext names another.
    pub fn seal_command(
        &self,
        trusted_root: &Hash,
        caller: AccountId,
        input: &[u8],
    ) -> Result<(Vec<u8>, phalanx_keys::ResponseKey), SealError> {
        use phalanx_primitives::contract::{
            CommandPlaintext, SealedCommand, COMMAND_EXPIRY, MAX_SEALED_COMMAND_BYTES,
        };
        let answer = self.answer();
        answer.verify_trusted(trusted_root)?;
        let plaintext = CommandPlaintext {
            caller,
            input: input.to_vec(),
        }
        .encode();
        let sealed = answer.seal(self.contract, COMMAND_EXPIRY, &plaintext)?;
        let bytes = SealedCommand {
            nonce: sealed.context.nonce,
            envelope: sealed.envelope.to_bytes(),
        }
        .encode();
        if bytes.len() > MAX_SEALED_COMMAND_BYTES {
            return Err(SealError::CommandTooLarge {
                size: bytes.len(),
                max: MAX_SEALED_COMMAND_BYTES,
            });
        }
        Ok((bytes, sealed.response_key))
    }
}

/// Byte strings as `"0x…"` (decoding accepts the prefix left out).
mod hex0x {
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub(super) fn decode<T: TryFrom<Vec<u8>>>(text: &str) -> Result<T, String> {
        let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text))
            .map_err(|e| format!("`{text}` is not hex: {e}"))?;
        let len = bytes.len();
        T::try_from(bytes).map_err(|_| format!("{len} bytes of hex is the wrong length here"))
    }

    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(
        bytes: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        decode(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }

    /// The same, or `null`.
    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer, T: AsRef<[u8]>>(
            bytes: &Option<T>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(bytes) => super::serialize(bytes, serializer),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
            deserializer: D,
        ) -> Result<Option<T>, D::Error> {
            Option::<String>::deserialize(deserializer)?
                .map(|text| decode(&text).map_err(D::Error::custom))
                .transpose()
        }
    }

    /// A list of them.
    pub mod list {
        use super::*;
        use serde::ser::SerializeSeq;

        pub fn serialize<S: Serializer, T: AsRef<[u8]>>(
            list: &[T],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(Some(list.len()))?;
            for bytes in list {
                seq.serialize_element(&format!("0x{}", hex::encode(bytes)))?;
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
            deserializer: D,
        ) -> Result<Vec<T>, D::Error> {
            Vec::<String>::deserialize(deserializer)?
                .iter()
                .map(|text| decode(text).map_err(D::Error::custom))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reads `json` as `T` and writes it back: the same JSON, nothing lost or added.
    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(json: Value) -> T {
        let typed: T = serde_json::from_value(json.clone()).expect("deserializes");
        assert_eq!(
            serde_json::to_value(&typed).expect("serializes"),
            json,
            "round trip"
        );
        typed
    }

    #[test]
    fn receipt_errors_read_as_code_words_or_old_text() {
        let code: Receipt = round_trip(json!({
            "tx_hash": Hash([1; 32]),
            "fee": 340282366920938463463374607431768211455u128,
            "error": {
                "module": "balances",
                "reason": "zero_amount",
                "message": "the amount must be greater than zero",
            },
            "events": [
                { "event": "fee_paid", "who": "pha1payer", "amount": 340282366920938463463374607431768211455u128 },
                { "event": "call_failed", "error": { "module": "balances", "reason": "zero_amount" } },
            ],
        }));
        assert_eq!(code.fee, u128::MAX, "amounts above 2^64 survive");
        assert_eq!(
            code.error.as_ref().map(ToString::to_string).as_deref(),
            Some("the amount must be greater than zero (balances.zero_amount)")
        );
        assert_eq!(code.events[1].name, "call_failed");
        assert_eq!(code.events[1].fields["error"]["reason"], "zero_amount");
        let amount = serde_json::from_value::<u128>(code.events[0].fields["amount"].clone());
        assert_eq!(amount.ok(), Some(u128::MAX), "event amounts survive too");
        let bare: CallError = round_trip(json!({ "module": "newer", "reason": "unknown_here" }));
        assert_eq!(bare.to_string(), "newer.unknown_here");
        let text: CallError = round_trip(json!("not enough free balance"));
        assert_eq!(text, CallError::Text("not enough free balance".into()));
    }

    #[test]
    fn transaction_statuses_read_each_word_and_refuse_others() {
        assert_eq!(
            round_trip::<TransactionStatus>(json!({ "status": "pending" })),
            TransactionStatus::Pending
        );
        assert_eq!(
            round_trip::<TransactionStatus>(json!({ "status": "unknown" })),
            TransactionStatus::Unknown
        );
        let finalized: TransactionStatus = round_trip(json!({
            "status": "finalized",
            "location": {
                "height": 4, "block": Hash([2; 32]), "index": 1,
                "receipt": { "tx_hash": Hash([3; 32]), "fee": 5, "error": null, "events": [] },
            },
        }));
        assert_eq!(
            finalized.included().map(|i| (i.height, i.index)),
            Some((4, 1))
        );
        assert_eq!(finalized.included().and_then(Included::error), None);
        for bad in [
            json!({ "status": "finalized" }),
            json!({ "status": "lost" }),
        ] {
            assert!(serde_json::from_value::<TransactionStatus>(bad).is_err());
        }
    }

    #[test]
    fn byte_strings_keep_their_prefix_convention() {
        let raw: RawBlock =
            round_trip(json!({ "height": 0, "block": "0x0102", "certificate": "0x" }));
        assert_eq!((raw.block, raw.certificate), (vec![1, 2], vec![]));
        let set: ValidatorSet = round_trip(json!({
            "epoch": 1, "height": 63,
            "validators": [format!("0x{}", hex::encode([7u8; 32]))],
            "proof": "0xff",
        }));
        assert_eq!(set.validators, vec![[7u8; 32]]);
        assert!(
            serde_json::from_value::<ValidatorSet>(json!({
                "epoch": 1, "height": 63, "validators": ["0x0102"], "proof": "0x",
            }))
            .is_err(),
            "a validator key must be 32 bytes"
        );
    }
}
