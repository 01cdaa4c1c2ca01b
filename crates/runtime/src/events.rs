//! Events: what a transaction or a block hook did, recorded in receipts.
//!
//! Chain-visible: a variant's position is its code, so variants only ever grow at the end.

use crate::module::ErrorCode;
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::call::Origin;
use phalanx_primitives::{AccountId, Balance, Hash};
use serde::{Serialize, Serializer};

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A transaction paid its fee (to the treasury).
    FeePaid {
        /// Payer.
        who: AccountId,
        /// Units.
        amount: Balance,
    },
    /// Free PHA moved.
    Transferred {
        /// Sender.
        from: AccountId,
        /// Receiver.
        to: AccountId,
        /// Units.
        amount: Balance,
    },
    /// The call failed; its effects were rolled back (the fee stays paid).
    CallFailed {
        /// What went wrong, as a stable code (its message: [`crate::describe`]).
        error: ErrorCode,
    },
    /// The chain parameters were replaced.
    ChainParamsChanged,
    /// Governance's parameters were replaced.
    GovernanceParamsChanged,
    /// The treasury paid out.
    TreasurySpent {
        /// Recipient.
        to: AccountId,
        /// Units.
        amount: Balance,
    },
    /// A new validator set was scheduled; it takes over at the next epoch boundary
    /// ([`Event::ValidatorsActivated`]).
    ValidatorsChanged {
        /// How many validators the new set has.
        count: u32,
    },
    /// A proposal was submitted.
    Proposed {
        /// Proposal id.
        proposal: u32,
        /// Proposer.
        proposer: AccountId,
        /// Deposit reserved.
        deposit: Balance,
        /// Last height of voting.
        voting_ends_at: u64,
    },
    /// A vote was cast or changed.
    Voted {
        /// Proposal id.
        proposal: u32,
        /// Voter.
        who: AccountId,
        /// Aye or nay.
        aye: bool,
        /// Units locked behind it.
        amount: Balance,
    },
    /// A vote was withdrawn and its PHA unlocked.
    Unvoted {
        /// Proposal id.
        proposal: u32,
        /// Voter.
        who: AccountId,
    },
    /// Voting ended and the proposal passed.
    ProposalPassed {
        /// Proposal id.
        proposal: u32,
        /// Aye units.
        aye: Balance,
        /// Nay units.
        nay: Balance,
        /// Height at which its calls execute.
        enact_at: u64,
    },
    /// Voting ended and the proposal did not pass.
    ProposalRejected {
        /// Proposal id.
        proposal: u32,
        /// Aye units.
        aye: Balance,
        /// Nay units.
        nay: Balance,
    },
    /// A passed proposal's calls were executed.
    ProposalEnacted {
        /// Proposal id.
        proposal: u32,
        /// `None` if every call succeeded; otherwise the first error's code (and nothing
        /// changed).
        error: Option<ErrorCode>,
    },
    /// A proposal was cancelled as spam; its deposit went to the treasury.
    ProposalCancelled {
        /// Proposal id.
        proposal: u32,
    },
    /// The dev root account dispatched a privileged call.
    RootDispatched,
    /// A worker registered for the first time.
    WorkerRegistered {
        /// Its identity key.
        #[serde(serialize_with = "hex_bytes")]
        identity: [u8; 32],
        /// The account that owns it.
        operator: AccountId,
        /// The policy's confidence in it, per-mille.
        confidence: u16,
        /// Its benchmark score P.
        performance: u32,
    },
    /// A registered worker refreshed its attestation and benchmark.
    WorkerReregistered {
        /// Its identity key.
        #[serde(serialize_with = "hex_bytes")]
        identity: [u8; 32],
        /// The account that owns it.
        operator: AccountId,
        /// The policy's confidence in it now, per-mille.
        confidence: u16,
        /// Its benchmark score P now.
        performance: u32,
    },
    /// The attestation policy was replaced.
    AttestationPolicyChanged,
    /// Worker registration was frozen or unfrozen.
    RegistrationFrozen {
        /// Whether registration is now frozen.
        frozen: bool,
    },
    /// A signed message was appended to its origin's queue.
    MessagePushed {
        /// Who sent it.
        origin: Origin,
        /// Its sequence number.
        sequence: u64,
        /// Its topic.
        #[serde(serialize_with = "hex_bytes")]
        topic: Vec<u8>,
    },
    /// A scheduled validator set took over at an epoch boundary: it runs `epoch` from the next
    /// block on.
    ValidatorsActivated {
        /// The epoch the set runs.
        epoch: u64,
        /// How many validators it has.
        count: u32,
    },
    /// Proof that a validator signed two conflicting votes was stored (see
    /// [`crate::evidence`]).
    MisbehaviourReported {
        /// The validator's ed25519 consensus key.
        #[serde(serialize_with = "hex_bytes")]
        validator: [u8; 32],
        /// 0 conflicting notarize, 1 conflicting finalize, 2 nullify and finalize.
        kind: u8,
        /// Epoch of the votes.
        epoch: u64,
        /// View of the votes.
        view: u64,
        /// Who reported it (its fee was refunded).
        reporter: AccountId,
    },
    /// An account published (or, with an empty address, removed) its consensus node's p2p
    /// address ([`crate::peers`]).
    PeerAddressSet {
        /// The account, which is also the node's consensus key.
        who: AccountId,
        /// The address, empty when removed.
        address: String,
    },
    /// The gatekeeper parameters were replaced.
    GatekeeperParamsChanged,
    /// A worker was appointed gatekeeper; its operator's stake is reserved.
    GatekeeperAppointed {
        /// Its worker identity.
        #[serde(serialize_with = "hex_bytes")]
        identity: [u8; 32],
        /// The operator.
        operator: AccountId,
        /// The stake reserved.
        stake: Balance,
    },
    /// A gatekeeper was removed; its stake unbonds until `release_at_ms` of chain time.
    GatekeeperRemoved {
        /// Its worker identity.
        #[serde(serialize_with = "hex_bytes")]
        identity: [u8; 32],
        /// When the stake is released.
        release_at_ms: u64,
    },
    /// A removed gatekeeper's stake was released.
    GatekeeperStakeReleased {
        /// Its worker identity.
        #[serde(serialize_with = "hex_bytes")]
        identity: [u8; 32],
        /// The operator.
        operator: AccountId,
        /// Units released.
        amount: Balance,
    },
    /// A new key epoch was requested; a gatekeeper enclave will publish its master key.
    KeyEpochRequested {
        /// The epoch.
        epoch: u32,
    },
    /// A gatekeeper enclave published a fresh master key.
    MasterKeyPublished {
        /// The epoch.
        epoch: u32,
        /// The master public key.
        #[serde(serialize_with = "hex_bytes")]
        public_key: [u8; 32],
        /// The gatekeeper whose enclave generated it.
        #[serde(serialize_with = "hex_bytes")]
        generator: [u8; 32],
    },
    /// An epoch's master key was sealed to a gatekeeper, which now holds it.
    MasterKeyShared {
        /// The epoch.
        epoch: u32,
        /// The recipient gatekeeper.
        #[serde(serialize_with = "hex_bytes")]
        gatekeeper: [u8; 32],
    },
    /// A key epoch was retired: every enclave erases its keys.
    KeyEpochRetired {
        /// The epoch.
        epoch: u32,
    },
    /// A cluster was created.
    ClusterCreated {
        /// Its index.
        cluster: u32,
    },
    /// A worker joined a cluster.
    ClusterWorkerAdded {
        /// The cluster.
        cluster: u32,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
    },
    /// A worker left a cluster.
    ClusterWorkerRemoved {
        /// The cluster.
        cluster: u32,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
    },
    /// A cluster's public key of an epoch was published.
    ClusterKeyPublished {
        /// The cluster.
        cluster: u32,
        /// The epoch.
        epoch: u32,
        /// The cluster public key.
        #[serde(serialize_with = "hex_bytes")]
        public_key: [u8; 32],
    },
    /// A cluster's key of an epoch was sealed to a member.
    ClusterKeyDelivered {
        /// The cluster.
        cluster: u32,
        /// The epoch.
        epoch: u32,
        /// The member.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
    },
    /// A gatekeeper's key message was queued (its sequence is used) but its effect refused;
    /// `conflicting_key` is evidence that the gatekeeper disagrees with the others.
    KeyMessageRefused {
        /// The sending gatekeeper.
        #[serde(serialize_with = "hex_bytes")]
        gatekeeper: [u8; 32],
        /// The message's sequence.
        sequence: u64,
        /// Why.
        error: ErrorCode,
    },
    /// Contract code was stored ([`crate::contracts`]); the uploader paid `fee` to the treasury.
    CodeUploaded {
        /// `sha256(code)`.
        code_hash: Hash,
        /// Who uploaded it.
        uploader: AccountId,
        /// Its size in bytes.
        size: u32,
        /// Units paid to the treasury for its storage.
        fee: Balance,
    },
    /// A contract was instantiated.
    ContractInstantiated {
        /// Its id.
        #[serde(serialize_with = "hex_bytes")]
        contract: [u8; 32],
        /// The code it runs.
        code_hash: Hash,
        /// The cluster that runs it.
        cluster: u32,
        /// Who instantiated it.
        deployer: AccountId,
    },
    /// A contract's public key of a key epoch was published; commands can be sealed to it.
    ContractKeyPublished {
        /// The contract.
        #[serde(serialize_with = "hex_bytes")]
        contract: [u8; 32],
        /// The key epoch.
        epoch: u32,
        /// The contract's public key.
        #[serde(serialize_with = "hex_bytes")]
        public_key: [u8; 32],
    },
    /// A sealed command joined a contract's inbound queue; its gas is reserved.
    CommandSubmitted {
        /// The contract.
        #[serde(serialize_with = "hex_bytes")]
        contract: [u8; 32],
        /// Its sequence number in the queue.
        sequence: u64,
        /// Who sent it.
        caller: AccountId,
        /// Units reserved (`gas_limit × gas_price`).
        reserved: Balance,
        /// Last height at which its result can become final.
        deadline: u64,
    },
    /// A quorum of the cluster agreed on a command's result: the gas is paid, the rest refunded.
    CommandFinalized {
        /// The contract.
        #[serde(serialize_with = "hex_bytes")]
        contract: [u8; 32],
        /// The command.
        sequence: u64,
        /// `sha256` of the sealed output.
        output_hash: Hash,
        /// Gas used.
        gas_used: u64,
        /// How many members agreed (and share the payment).
        agreeing: u32,
        /// Units paid to the agreeing members' operators.
        paid: Balance,
        /// Units refunded to the caller.
        refunded: Balance,
    },
    /// A command got no final result by its deadline; its reservation was refunded in full.
    CommandTimedOut {
        /// The contract.
        #[serde(serialize_with = "hex_bytes")]
        contract: [u8; 32],
        /// The command.
        sequence: u64,
        /// Units refunded to the caller.
        refunded: Balance,
    },
    /// A member reported a result that differs from the final one: evidence for slashing.
    ContractResultDisputed {
        /// The contract.
        #[serde(serialize_with = "hex_bytes")]
        contract: [u8; 32],
        /// The command.
        sequence: u64,
        /// The member.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
        /// What it reported.
        output_hash: Hash,
        /// The gas it reported.
        gas_used: u64,
    },
    /// PHA was added to an account's query deposit (reserved).
    QueryDeposited {
        /// The account.
        who: AccountId,
        /// Units added.
        amount: Balance,
        /// Units now available for queries.
        available: Balance,
    },
    /// Part of a query deposit is withdrawing: free at the end of block `release_at`.
    QueryWithdrawalStarted {
        /// The account.
        who: AccountId,
        /// Units asked back now.
        amount: Balance,
        /// Units withdrawing in all.
        withdrawing: Balance,
        /// Height at whose end they become free.
        release_at: u64,
    },
    /// A withdrawal's delay passed: its PHA is free again.
    QueryWithdrawn {
        /// The account.
        who: AccountId,
        /// Units released.
        amount: Balance,
    },
    /// A worker's usage report moved PHA from a client's query deposit to the worker's operator.
    QueryUsageSettled {
        /// Whose deposit paid.
        client: AccountId,
        /// The serving worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
        /// Its operator, who was paid.
        operator: AccountId,
        /// Units the report asked for.
        requested: Balance,
        /// Units charged (at most the deposit).
        charged: Balance,
        /// The report's nonce.
        nonce: u64,
    },
    /// The contract parameters were replaced.
    ContractsParamsChanged,
    /// A contracts message was queued (its sequence is used) but its effect refused.
    ContractMessageRefused {
        /// Who sent it.
        origin: Origin,
        /// The message's sequence.
        sequence: u64,
        /// Why.
        error: ErrorCode,
    },
    /// Vested PHA left its vesting hold for the free balance.
    VestingClaimed {
        /// The account.
        who: AccountId,
        /// Units released now.
        amount: Balance,
        /// Units still vesting.
        still_vesting: Balance,
    },
    /// The mining parameters were replaced.
    MiningParamsChanged,
    /// A stake pool was created.
    PoolCreated {
        /// Its number.
        pool: u64,
        /// Its owner.
        owner: AccountId,
        /// The owner's cut of rewards, per mille.
        commission_per_mille: u16,
    },
    /// PHA was contributed to a pool for shares.
    PoolContributed {
        /// The pool.
        pool: u64,
        /// The contributor.
        who: AccountId,
        /// Units.
        amount: Balance,
        /// Shares minted.
        shares: u128,
    },
    /// Shares were redeemed (0 units for a bankrupt pool or dust shares).
    PoolWithdrawn {
        /// The pool.
        pool: u64,
        /// Who was paid.
        who: AccountId,
        /// Units paid.
        amount: Balance,
        /// Shares burnt.
        shares: u128,
    },
    /// A withdrawal waits in the pool's queue for free stake.
    PoolWithdrawalQueued {
        /// The pool.
        pool: u64,
        /// Who is owed.
        who: AccountId,
        /// Shares queued.
        shares: u128,
    },
    /// A worker was bound to a pool.
    PoolWorkerAdded {
        /// The pool.
        pool: u64,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
    },
    /// A worker was unbound from its pool.
    PoolWorkerRemoved {
        /// The pool.
        pool: u64,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
    },
    /// A worker started computing.
    WorkerStarted {
        /// Its pool.
        pool: u64,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
        /// Stake bound to it.
        stake: Balance,
        /// Its initial value Ve (fixed point, 10^12).
        initial_value_raw: u128,
    },
    /// A worker stopped computing and cools down.
    WorkerStopped {
        /// Its pool.
        pool: u64,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
        /// Whether the chain stopped it (withdrawal queue past its grace, attestation revoked
        /// or expired) rather than its owner.
        forced: bool,
    },
    /// A cooled-down worker's stake went back to its pool's free stake.
    WorkerReclaimed {
        /// Its pool.
        pool: u64,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
        /// Stake returned.
        stake: Balance,
    },
    /// A worker's stake was slashed to the treasury.
    WorkerSlashed {
        /// Its pool.
        pool: u64,
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
        /// Units slashed.
        amount: Balance,
        /// Why.
        reason: crate::mining::SlashReason,
    },
    /// A worker missed its heartbeat deadline: it earns nothing until it answers.
    WorkerUnresponsive {
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
    },
    /// An unresponsive worker answered its challenge and computes again.
    WorkerResponsive {
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
    },
    /// A day's mining budget was settled.
    DaySettled {
        /// The day.
        day: u64,
        /// Its budget.
        budget: Balance,
        /// Paid to the treasury.
        treasury: Balance,
        /// Paid to workers.
        paid: Balance,
        /// Left in the pot (rounding dust, or everything when nobody worked).
        kept_in_pot: Balance,
        /// Workers paid.
        workers: u32,
    },
    /// The mining hook found corrupted state and skipped this block's mining work.
    MiningHookFailed {
        /// Why.
        error: ErrorCode,
    },
    /// A worker's mining message (heartbeat) was accepted into the queue but refused.
    MiningMessageRefused {
        /// The worker.
        #[serde(serialize_with = "hex_bytes")]
        worker: [u8; 32],
        /// The message's sequence.
        sequence: u64,
        /// Why.
        error: ErrorCode,
    },
    /// The staking parameters were replaced.
    StakingParamsChanged,
    /// An account bonded PHA as a validator.
    ValidatorBonded {
        /// The account (its bytes are the validator's consensus key).
        who: AccountId,
        /// Units bonded now.
        amount: Balance,
        /// Units bonded in all.
        bonded: Balance,
    },
    /// Bonded PHA started unbonding.
    ValidatorUnbonding {
        /// The account.
        who: AccountId,
        /// Units.
        amount: Balance,
        /// When they are released (ms of chain time).
        release_at_ms: u64,
    },
    /// Unbonded PHA was released to the free balance.
    ValidatorUnbonded {
        /// The account.
        who: AccountId,
        /// Units.
        amount: Balance,
    },
    /// A validator's bond was slashed for a stored fault.
    ValidatorSlashed {
        /// The validator's consensus key.
        #[serde(serialize_with = "hex_bytes")]
        validator: [u8; 32],
        /// Units slashed (to the treasury).
        amount: Balance,
    },
    /// The staking hook found corrupted state and skipped this block's releases.
    StakingHookFailed {
        /// Why.
        error: ErrorCode,
    },
    /// An enclave identity was banned for provable misbehaviour (`mining::punish_enclave`); its
    /// slashes follow as [`Event::WorkerSlashed`] and [`Event::GatekeeperSlashed`].
    EnclaveBanned {
        /// The enclave's identity.
        #[serde(serialize_with = "hex_bytes")]
        identity: [u8; 32],
        /// The misbehaviour.
        reason: crate::mining::SlashReason,
    },
    /// A gatekeeper's stake was slashed (to the treasury) for provable misbehaviour.
    GatekeeperSlashed {
        /// The gatekeeper's identity.
        #[serde(serialize_with = "hex_bytes")]
        identity: [u8; 32],
        /// Whose stake.
        operator: AccountId,
        /// Units slashed.
        amount: Balance,
        /// The misbehaviour.
        reason: crate::mining::SlashReason,
    },
}

/// Serializes bytes as lowercase hex (keys and topics read better that way in receipts).
pub(crate) fn hex_bytes<S: Serializer, T: AsRef<[u8]>>(
    bytes: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}
