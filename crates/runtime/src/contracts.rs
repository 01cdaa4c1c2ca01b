//! Confidential contracts, the chain's side (DESIGN.md §10): code, instances and their public
//! keys, the inbound command queue with its gas escrow, the results cluster members agree on,
//! and query deposits settled by usage reports. Enclaves execute; the chain orders, holds the
//! PHA and decides who is paid. The full protocol, with every code, is `docs/contracts.md`.
//!
//! # Rules
//! Calls ([`ContractsCall`]), cheap checks first, each refusal its own [`ContractsError`]:
//! 1. **`UploadCode`**: at most [`ContractsParams::max_code_bytes`]; already stored code is a
//!    no-op (nothing charged beyond the transaction fee); otherwise it must pass
//!    [`phalanx_contract::validate()`], and the sender pays `code_byte_fee × size` to the
//!    treasury. Stored once under `sha256(code)`.
//! 2. **`Instantiate`**: the salt is at most [`MAX_SALT_BYTES`]; the code is stored; the cluster
//!    exists; the id ([`contract_id`]: deployer, code hash, cluster, salt) is not taken.
//! 3. **`SubmitCommand`**: the sealed command is at most [`MAX_SEALED_COMMAND_BYTES`]; `gas_limit`
//!    is in `1..=max_gas_limit`; `gas_price ≥ min_gas_price`; the contract exists; its cluster
//!    has members; `key_epoch` is the current key epoch and the contract's key of that epoch is
//!    published; the sender has `gas_limit × gas_price` free, which is reserved. The command gets
//!    the contract's next sequence number, a deadline `command_timeout_blocks` ahead and a quorum:
//!    a strict majority of the cluster's members at submission.
//! 4. **`Deposit`** reserves free PHA into the sender's query deposit; **`Withdraw`** moves part
//!    of the available deposit to *withdrawing*, released to free at the end of block
//!    `now + withdrawal_delay_blocks` (a later withdrawal restarts the delay for the whole
//!    withdrawing amount). Usage reports still charge withdrawing PHA, so a client cannot race
//!    the report of queries it was already served.
//!
//! Messages (through [`crate::message_queue`], which has checked the origin and its signature;
//! a refused message stays queued and [`Event::ContractMessageRefused`] records why):
//! 5. **Contract keys** ([`CONTRACT_KEY_TOPIC`], from an appointed gatekeeper): the contract
//!    exists, the epoch is published and not retired, the sender holds it. The first key for
//!    (contract, epoch) is stored; an identical one is a no-op; a different one is
//!    `conflicting_key`, evidence against its sender (the chain cannot derive the key itself).
//! 6. **Results** ([`RESULT_TOPIC`], from a registered worker): the output fits and
//!    `output_hash = sha256(sealed_output)`; the contract and command exist; the sender is a
//!    member of the contract's cluster now; `gas_used ≤ gas_limit`; it has not reported this
//!    command before; the command has not timed out. When `quorum` members have reported the same
//!    `(output_hash, gas_used)`, the result is final: `gas_used × gas_price` is split equally
//!    among those members' operators (rounding down; the remainder and the unused gas go back
//!    to the caller), the sealed output is stored, and every member whose report differs is
//!    recorded as disagreeing (now, or when its report arrives later). A worker's second report
//!    on a command is refused (`already_reported`); if it differs from its first, the worker
//!    reported two results for one input, and is banned and slashed
//!    (`mining::punish_enclave`). Disagreeing with the quorum alone is recorded, not slashed:
//!    the chain can't prove which side computed wrongly. A banned member's reports (made before
//!    or after its ban) count towards no quorum and earn no gas: a result is final only when
//!    `quorum` members that are not banned agree.
//! 7. **Usage** ([`USAGE_TOPIC`], from a registered worker): the nonce is above the last one this
//!    worker settled for this client; then `min(amount, deposit)` moves from the client's
//!    deposit (available first, then withdrawing) to the worker's operator.
//!
//! End of block: commands past their deadline with no final result are refunded in full, and
//! due withdrawals are released, each at most [`EXPIRIES_PER_BLOCK`] / [`RELEASES_PER_BLOCK`] a
//! block, oldest first (the rest wait a block; nothing is lost).
//!
//! Storage keys (all under `contracts/`; the ones clients prove are built by
//! `phalanx_primitives::contract`): `params` → [`ContractsParams`]; `code/<hash>` → the raw code
//! bytes (so `sha256(value)` is the hash); `code_info/<hash>` → [`CodeInfo`]; `contract/<id>` →
//! [`Contract`]; `key/<id>/<epoch BE>` → 32-byte public key; `command/<id>/<seq BE>` →
//! [`Command`]; `result/<id>/<seq BE>` → [`CommandResult`]; `report/<id>/<seq BE>/<worker>` →
//! [`MemberReport`]; `disagreement/<id>/<seq BE>/<worker>` → [`MemberReport`];
//! `tally/<id>/<seq BE>/<output hash><gas BE>` → u32, reports per result while pending;
//! `due/<deadline BE>/<id>/<seq BE>` → `()`, one per pending command; `deposit/<account>` →
//! [`QueryDeposit`]; `release/<height BE>/<account>` → `()`, one per withdrawing deposit;
//! `usage/<worker>/<client>` → u64, the last settled usage nonce.

use crate::balances::{self, BalancesError, HoldReason};
use crate::events::Event;
use crate::invariants::InvariantError;
use crate::module::{ErrorCodes, Module, PrivilegedExecutor};
use crate::{gatekeeper, registry, treasury, BlockContext, DispatchResult};
use parity_scale_codec::Decode;
use phalanx_contract::CodeLimits;
use phalanx_primitives::call::{ContractsCall, Origin, MAX_PAYLOAD_BYTES};
use phalanx_primitives::contract::{
    self as wire, code_hash, contract_id, output_hash, CodeInfo, Command, CommandResult,
    CommandStatus, Contract, ContractKeyMessage, ContractsParams, MemberReport, QueryDeposit,
    ResultReport, UsageReport, CONTRACT_KEY_TOPIC, MAX_SALT_BYTES, MAX_SEALED_COMMAND_BYTES,
    MAX_SEALED_OUTPUT_BYTES, RESULT_TOPIC, USAGE_TOPIC,
};
use phalanx_primitives::{AccountId, Balance, CodecError, Hash};
use phalanx_state::{State, StateExt};

const REPORT_PREFIX: &[u8] = b"contracts/report/";
const TALLY_PREFIX: &[u8] = b"contracts/tally/";
const DUE_PREFIX: &[u8] = b"contracts/due/";
const DEPOSIT_PREFIX: &[u8] = b"contracts/deposit/";
const RELEASE_PREFIX: &[u8] = b"contracts/release/";

/// Most commands refunded for timing out in one block; the rest wait for the next.
pub const EXPIRIES_PER_BLOCK: usize = 64;
/// Most deposit withdrawals released in one block; the rest wait for the next.
pub const RELEASES_PER_BLOCK: usize = 64;

/// Why a contracts call or message was refused. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ContractsError {
    /// The code is over the size limit.
    #[error("the code is {size} bytes, over the {max}-byte limit; build it smaller (opt-level \"z\", strip, wasm-opt)")]
    CodeTooLarge {
        /// Its size.
        size: usize,
        /// The limit (`max_code_bytes`).
        max: u32,
    },
    /// The code failed validation.
    #[error("the code is not an acceptable contract: {0}")]
    InvalidCode(String),
    /// No code with this hash is stored.
    #[error("no code with hash {0} is stored; upload it first")]
    UnknownCode(String),
    /// No such cluster.
    #[error("cluster {0} does not exist")]
    UnknownCluster(u32),
    /// The salt is too long.
    #[error("the salt is {0} bytes, over the {MAX_SALT_BYTES}-byte limit")]
    SaltTooLong(usize),
    /// The id is taken.
    #[error("contract {0} already exists; instantiate with another salt")]
    AlreadyInstantiated(String),
    /// No such contract.
    #[error("contract {0} does not exist")]
    UnknownContract(String),
    /// The sealed command is over the size limit.
    #[error("the sealed command is {0} bytes, over the {MAX_SEALED_COMMAND_BYTES}-byte limit")]
    CommandTooLarge(usize),
    /// The gas limit is zero or above the maximum.
    #[error("gas limit {gas_limit} is outside 1..={max}")]
    GasLimitOutOfRange {
        /// Asked for.
        gas_limit: u64,
        /// `max_gas_limit`.
        max: u64,
    },
    /// The gas price is below the minimum.
    #[error("gas price {price} is below the minimum of {min} units per unit of gas")]
    GasPriceTooLow {
        /// Offered.
        price: Balance,
        /// `min_gas_price`.
        min: Balance,
    },
    /// `gas_limit × gas_price` does not fit in a balance.
    #[error("gas limit × gas price overflows; offer less")]
    GasCostOverflow,
    /// The contract's cluster has no members to run the command.
    #[error("cluster {0} has no members to run commands; add workers to it first")]
    EmptyCluster(u32),
    /// The command is sealed to another key epoch than the current one.
    #[error("the command is sealed for key epoch {got} but the current epoch is {current}; read the contract's key of the current epoch and seal again")]
    StaleKeyEpoch {
        /// The epoch the command names.
        got: u32,
        /// The current epoch.
        current: u32,
    },
    /// The contract has no published key of the epoch yet.
    #[error("contract {contract} has no published key for key epoch {epoch} yet; wait for a gatekeeper to publish it")]
    NoContractKey {
        /// The contract, hex.
        contract: String,
        /// The epoch (`u32::MAX` when no key epoch exists at all).
        epoch: u32,
    },
    /// An amount of zero.
    #[error("the amount must be greater than zero")]
    ZeroAmount,
    /// A withdrawal of more than the available deposit.
    #[error("the query deposit has {available} units available, cannot withdraw {needed}")]
    InsufficientDeposit {
        /// Available units.
        available: Balance,
        /// Asked for.
        needed: Balance,
    },
    /// Not enough PHA (its code is the balances module's, e.g. `balances.insufficient_free`).
    #[error(transparent)]
    Funds(#[from] BalancesError),
    /// A message payload that does not decode.
    #[error("the contracts message does not decode: {0}")]
    MalformedMessage(String),
    /// A contract key for an epoch that is not published or is retired.
    #[error("key epoch {0} is not published or is retired")]
    EpochNotLive(u32),
    /// The gatekeeper does not hold the epoch.
    #[error("the sending gatekeeper does not hold key epoch {0}")]
    NotHolder(u32),
    /// A different key for a (contract, epoch) that has one: gatekeepers disagree.
    #[error(
        "a different key was already published for this contract and epoch; gatekeepers disagree"
    )]
    ConflictingKey,
    /// The reporting worker is not a member of the contract's cluster.
    #[error("the worker is not a member of cluster {0}, which runs the contract")]
    NotMember(u32),
    /// No such command.
    #[error("the contract has no command #{0}")]
    UnknownCommand(u64),
    /// The command timed out and was refunded.
    #[error("command #{0} timed out and was refunded; its result can no longer be reported")]
    CommandTimedOut(u64),
    /// The worker already reported on this command.
    #[error("the worker already reported on this command; a member reports once")]
    AlreadyReported,
    /// `output_hash` is not `sha256(sealed_output)`.
    #[error("output_hash is not sha256 of the sealed output")]
    OutputHashMismatch,
    /// The sealed output is over the size limit.
    #[error("the sealed output is {0} bytes, over the {MAX_SEALED_OUTPUT_BYTES}-byte limit")]
    OutputTooLarge(usize),
    /// More gas used than the command's limit.
    #[error("reported gas {gas_used} is above the command's limit {gas_limit}")]
    GasOverLimit {
        /// Reported.
        gas_used: u64,
        /// The command's limit.
        gas_limit: u64,
    },
    /// A usage report whose nonce was already settled.
    #[error(
        "usage nonce {nonce} is not above the last settled one ({last}); it was already settled"
    )]
    ReplayedUsage {
        /// The report's nonce.
        nonce: u64,
        /// The last settled nonce.
        last: u64,
    },
    /// Corrupted state.
    #[error("corrupted contracts state: {0}")]
    Corrupted(String),
}

impl ErrorCodes for ContractsError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("code_too_large", "the code is over the size limit"),
        ("invalid_code", "the code failed validation"),
        ("unknown_code", "no code with this hash is stored"),
        ("unknown_cluster", "the cluster does not exist"),
        ("salt_too_long", "the salt is over the size limit"),
        ("already_instantiated", "a contract with this id exists"),
        ("unknown_contract", "the contract does not exist"),
        (
            "command_too_large",
            "the sealed command is over the size limit",
        ),
        (
            "gas_limit_out_of_range",
            "the gas limit is zero or above the maximum",
        ),
        ("gas_price_too_low", "the gas price is below the minimum"),
        ("gas_cost_overflow", "gas limit × gas price overflows"),
        ("empty_cluster", "the contract's cluster has no members"),
        (
            "stale_key_epoch",
            "the command is sealed for another key epoch than the current one",
        ),
        (
            "no_contract_key",
            "the contract has no published key for the key epoch",
        ),
        ("zero_amount", "the amount must be greater than zero"),
        (
            "insufficient_deposit",
            "the query deposit has less available than asked",
        ),
        ("funds", "not enough PHA"),
        ("malformed_message", "the contracts message does not decode"),
        (
            "epoch_not_live",
            "the key epoch is not published or is retired",
        ),
        ("not_holder", "the gatekeeper does not hold the key epoch"),
        (
            "conflicting_key",
            "a different key was already published for this contract and epoch",
        ),
        (
            "not_member",
            "the worker is not a member of the contract's cluster",
        ),
        ("unknown_command", "the contract has no such command"),
        (
            "command_timed_out",
            "the command timed out and was refunded",
        ),
        (
            "already_reported",
            "the worker already reported on this command",
        ),
        (
            "output_hash_mismatch",
            "output_hash is not sha256 of the sealed output",
        ),
        (
            "output_too_large",
            "the sealed output is over the size limit",
        ),
        (
            "gas_over_limit",
            "reported gas is above the command's limit",
        ),
        ("replayed_usage", "the usage report was already settled"),
        ("corrupted", "the contracts state could not be decoded"),
    ];

    fn code(&self) -> &'static str {
        match self {
            ContractsError::CodeTooLarge { .. } => "code_too_large",
            ContractsError::InvalidCode(_) => "invalid_code",
            ContractsError::UnknownCode(_) => "unknown_code",
            ContractsError::UnknownCluster(_) => "unknown_cluster",
            ContractsError::SaltTooLong(_) => "salt_too_long",
            ContractsError::AlreadyInstantiated(_) => "already_instantiated",
            ContractsError::UnknownContract(_) => "unknown_contract",
            ContractsError::CommandTooLarge(_) => "command_too_large",
            ContractsError::GasLimitOutOfRange { .. } => "gas_limit_out_of_range",
            ContractsError::GasPriceTooLow { .. } => "gas_price_too_low",
            ContractsError::GasCostOverflow => "gas_cost_overflow",
            ContractsError::EmptyCluster(_) => "empty_cluster",
            ContractsError::StaleKeyEpoch { .. } => "stale_key_epoch",
            ContractsError::NoContractKey { .. } => "no_contract_key",
            ContractsError::ZeroAmount => "zero_amount",
            ContractsError::InsufficientDeposit { .. } => "insufficient_deposit",
            ContractsError::Funds(_) => "funds",
            ContractsError::MalformedMessage(_) => "malformed_message",
            ContractsError::EpochNotLive(_) => "epoch_not_live",
            ContractsError::NotHolder(_) => "not_holder",
            ContractsError::ConflictingKey => "conflicting_key",
            ContractsError::NotMember(_) => "not_member",
            ContractsError::UnknownCommand(_) => "unknown_command",
            ContractsError::CommandTimedOut(_) => "command_timed_out",
            ContractsError::AlreadyReported => "already_reported",
            ContractsError::OutputHashMismatch => "output_hash_mismatch",
            ContractsError::OutputTooLarge(_) => "output_too_large",
            ContractsError::GasOverLimit { .. } => "gas_over_limit",
            ContractsError::ReplayedUsage { .. } => "replayed_usage",
            ContractsError::Corrupted(_) => "corrupted",
        }
    }
}

impl From<CodecError> for ContractsError {
    fn from(e: CodecError) -> Self {
        ContractsError::Corrupted(e.to_string())
    }
}

type Result<T = (), E = ContractsError> = std::result::Result<T, E>;

// ---- storage keys the runtime alone uses (the provable ones are in `wire`) ----

fn tally_prefix(id: &[u8; 32], sequence: u64) -> Vec<u8> {
    [TALLY_PREFIX, id, b"/", &sequence.to_be_bytes(), b"/"].concat()
}

fn tally_key(id: &[u8; 32], sequence: u64, hash: &Hash, gas_used: u64) -> Vec<u8> {
    [
        &tally_prefix(id, sequence)[..],
        hash.as_bytes(),
        &gas_used.to_be_bytes(),
    ]
    .concat()
}

fn report_prefix(id: &[u8; 32], sequence: u64) -> Vec<u8> {
    [REPORT_PREFIX, id, b"/", &sequence.to_be_bytes(), b"/"].concat()
}

fn due_key(deadline: u64, id: &[u8; 32], sequence: u64) -> Vec<u8> {
    [
        DUE_PREFIX,
        &deadline.to_be_bytes(),
        b"/",
        id,
        b"/",
        &sequence.to_be_bytes(),
    ]
    .concat()
}

/// Parses a due key back into (deadline, contract, sequence).
fn parse_due_key(key: &[u8]) -> Option<(u64, [u8; 32], u64)> {
    let rest = key.strip_prefix(DUE_PREFIX)?;
    if rest.len() != 8 + 1 + 32 + 1 + 8 {
        return None;
    }
    let deadline = u64::from_be_bytes(rest[..8].try_into().ok()?);
    let id = rest[9..41].try_into().ok()?;
    let sequence = u64::from_be_bytes(rest[42..].try_into().ok()?);
    Some((deadline, id, sequence))
}

fn release_key(release_at: u64, who: &AccountId) -> Vec<u8> {
    [
        RELEASE_PREFIX,
        &release_at.to_be_bytes(),
        b"/",
        who.as_bytes(),
    ]
    .concat()
}

/// Parses a release key back into (height, account).
fn parse_release_key(key: &[u8]) -> Option<(u64, AccountId)> {
    let rest = key.strip_prefix(RELEASE_PREFIX)?;
    if rest.len() != 8 + 1 + 32 {
        return None;
    }
    let at = u64::from_be_bytes(rest[..8].try_into().ok()?);
    Some((at, AccountId(rest[9..].try_into().ok()?)))
}

// ---- reads ----

/// The contract parameters (the defaults until governance sets them).
pub fn params(state: &State) -> Result<ContractsParams, CodecError> {
    Ok(state.get_decoded(&wire::params_key())?.unwrap_or_default())
}

/// Stores contract parameters (callers check them with [`crate::params::check_contracts`]).
pub fn set_params(state: &mut State, params: &ContractsParams) {
    state.put(wire::params_key(), params);
}

/// The record of stored code `hash`.
pub fn code_info(state: &State, hash: &Hash) -> Result<Option<CodeInfo>, CodecError> {
    state.get_decoded(&wire::code_info_key(hash))
}

/// The stored code `hash`, raw.
pub fn stored_code(state: &State, hash: &Hash) -> Option<Vec<u8>> {
    state.get(&wire::code_key(hash)).map(|code| code.to_vec())
}

/// Contract `id`.
pub fn contract(state: &State, id: &[u8; 32]) -> Result<Option<Contract>, CodecError> {
    state.get_decoded(&wire::contract_key(id))
}

/// Contract `id`'s public key of `epoch`, once published.
pub fn contract_public(
    state: &State,
    id: &[u8; 32],
    epoch: u32,
) -> Result<Option<[u8; 32]>, CodecError> {
    state.get_decoded(&wire::contract_public_key(id, epoch))
}

/// Command `sequence` of contract `id`.
pub fn command(state: &State, id: &[u8; 32], sequence: u64) -> Result<Option<Command>, CodecError> {
    state.get_decoded(&wire::command_key(id, sequence))
}

/// The final result of command `sequence` of contract `id`.
pub fn result(
    state: &State,
    id: &[u8; 32],
    sequence: u64,
) -> Result<Option<CommandResult>, CodecError> {
    state.get_decoded(&wire::result_key(id, sequence))
}

/// What `worker` reported on command `sequence` of contract `id`.
pub fn report(
    state: &State,
    id: &[u8; 32],
    sequence: u64,
    worker: &[u8; 32],
) -> Result<Option<MemberReport>, CodecError> {
    state.get_decoded(&wire::report_key(id, sequence, worker))
}

/// `worker`'s report on command `sequence` of contract `id`, if it disagreed with the final
/// result.
pub fn disagreement(
    state: &State,
    id: &[u8; 32],
    sequence: u64,
    worker: &[u8; 32],
) -> Result<Option<MemberReport>, CodecError> {
    state.get_decoded(&wire::disagreement_key(id, sequence, worker))
}

/// `who`'s query deposit (zero if none).
pub fn deposit(state: &State, who: &AccountId) -> Result<QueryDeposit, CodecError> {
    Ok(state
        .get_decoded(&wire::deposit_key(who))?
        .unwrap_or_default())
}

fn set_deposit(state: &mut State, who: &AccountId, deposit: &QueryDeposit) {
    if deposit.available == 0 && deposit.withdrawing == 0 {
        state.remove(&wire::deposit_key(who));
    } else {
        state.put(wire::deposit_key(who), deposit);
    }
}

/// The last usage nonce `worker` settled for `client` (`None` before the first).
pub fn usage_nonce(
    state: &State,
    worker: &[u8; 32],
    client: &AccountId,
) -> Result<Option<u64>, CodecError> {
    state.get_decoded(&wire::usage_nonce_key(worker, client))
}

/// Every unit this module holds reserved: pending commands' gas and query deposits (available
/// and withdrawing). The runtime's reserved-balance invariant counts them.
pub fn reserved_total(state: &State) -> Result<Balance, CodecError> {
    let mut total: Balance = 0;
    for (key, _) in state.scan_prefix(DUE_PREFIX) {
        let (_, id, sequence) = parse_due_key(key)
            .ok_or_else(|| CodecError::Malformed("a malformed due key".into()))?;
        if let Some(command) = command(state, &id, sequence)? {
            total = total.saturating_add(command.reserved);
        }
    }
    for (_, value) in state.scan_prefix(DEPOSIT_PREFIX) {
        let deposit = QueryDeposit::decode(&mut value.as_slice())
            .map_err(|e| CodecError::Malformed(e.to_string()))?;
        total = total
            .saturating_add(deposit.available)
            .saturating_add(deposit.withdrawing);
    }
    Ok(total)
}

// ---- calls ----

/// Rule 1: stores `code` once under its hash; the uploader pays its storage to the treasury.
pub fn upload_code(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    code: &[u8],
    events: &mut Vec<Event>,
) -> Result {
    let params = params(state)?;
    if code.len() > params.max_code_bytes as usize {
        return Err(ContractsError::CodeTooLarge {
            size: code.len(),
            max: params.max_code_bytes,
        });
    }
    let hash = code_hash(code);
    if code_info(state, &hash)?.is_some() {
        // Stored already, by anyone: nothing to store, nothing to pay.
        return Ok(());
    }
    // `CodeLimits` may grow limits of its own; they keep their defaults, only the size is a
    // chain parameter.
    #[allow(clippy::needless_update)]
    let limits = CodeLimits {
        max_code_bytes: params.max_code_bytes as usize,
        ..CodeLimits::default()
    };
    phalanx_contract::validate(code, &limits)
        .map_err(|e| ContractsError::InvalidCode(e.to_string()))?;
    let fee = params.code_byte_fee.saturating_mul(code.len() as Balance);
    if fee > 0 {
        balances::transfer_free(state, who, &treasury::account(), fee)?;
    }
    state.insert(wire::code_key(&hash), code.to_vec());
    state.put(
        wire::code_info_key(&hash),
        &CodeInfo {
            hash,
            size: code.len() as u32,
            uploader: *who,
            fee,
            uploaded_at: ctx.height,
        },
    );
    events.push(Event::CodeUploaded {
        code_hash: hash,
        uploader: *who,
        size: code.len() as u32,
        fee,
    });
    Ok(())
}

/// Rule 2: instantiates stored code on a cluster.
pub fn instantiate(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    code_hash: &Hash,
    cluster: u32,
    salt: &[u8],
    events: &mut Vec<Event>,
) -> Result {
    if salt.len() > MAX_SALT_BYTES {
        return Err(ContractsError::SaltTooLong(salt.len()));
    }
    if code_info(state, code_hash)?.is_none() {
        return Err(ContractsError::UnknownCode(code_hash.to_hex()));
    }
    if gatekeeper::cluster(state, cluster)?.is_none() {
        return Err(ContractsError::UnknownCluster(cluster));
    }
    let id = contract_id(who, code_hash, cluster, salt);
    if contract(state, &id)?.is_some() {
        return Err(ContractsError::AlreadyInstantiated(hex::encode(id)));
    }
    state.put(
        wire::contract_key(&id),
        &Contract {
            id,
            deployer: *who,
            code_hash: *code_hash,
            cluster,
            created_at: ctx.height,
            commands: 0,
        },
    );
    events.push(Event::ContractInstantiated {
        contract: id,
        code_hash: *code_hash,
        cluster,
        deployer: *who,
    });
    Ok(())
}

/// What a [`ContractsCall::SubmitCommand`] carries.
struct Submission<'a> {
    contract: &'a [u8; 32],
    key_epoch: u32,
    sealed: &'a [u8],
    gas_limit: u64,
    gas_price: Balance,
}

/// Rule 3: appends a sealed command to the contract's queue, reserving its gas.
fn submit_command(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    submission: Submission<'_>,
    events: &mut Vec<Event>,
) -> Result {
    let Submission {
        contract: id,
        key_epoch,
        sealed,
        gas_limit,
        gas_price,
    } = submission;
    if sealed.len() > MAX_SEALED_COMMAND_BYTES {
        return Err(ContractsError::CommandTooLarge(sealed.len()));
    }
    let params = params(state)?;
    if gas_limit == 0 || gas_limit > params.max_gas_limit {
        return Err(ContractsError::GasLimitOutOfRange {
            gas_limit,
            max: params.max_gas_limit,
        });
    }
    if gas_price < params.min_gas_price {
        return Err(ContractsError::GasPriceTooLow {
            price: gas_price,
            min: params.min_gas_price,
        });
    }
    let reserved = Balance::from(gas_limit)
        .checked_mul(gas_price)
        .ok_or(ContractsError::GasCostOverflow)?;
    let mut record =
        contract(state, id)?.ok_or_else(|| ContractsError::UnknownContract(hex::encode(id)))?;
    let members = gatekeeper::cluster(state, record.cluster)?
        .ok_or(ContractsError::UnknownCluster(record.cluster))?
        .members;
    if members == 0 {
        return Err(ContractsError::EmptyCluster(record.cluster));
    }
    let no_key = |epoch| ContractsError::NoContractKey {
        contract: hex::encode(id),
        epoch,
    };
    let current = gatekeeper::current_epoch(state)?.ok_or(no_key(u32::MAX))?;
    if key_epoch != current {
        return Err(ContractsError::StaleKeyEpoch {
            got: key_epoch,
            current,
        });
    }
    if contract_public(state, id, key_epoch)?.is_none() {
        return Err(no_key(key_epoch));
    }
    balances::hold(state, who, HoldReason::ContractGas, reserved)?;
    let sequence = record.commands;
    record.commands = sequence.saturating_add(1);
    state.put(wire::contract_key(id), &record);
    let deadline = ctx.height.saturating_add(params.command_timeout_blocks);
    state.put(
        wire::command_key(id, sequence),
        &Command {
            sequence,
            caller: *who,
            sealed: sealed.to_vec(),
            gas_limit,
            gas_price,
            reserved,
            key_epoch,
            submitted_at: ctx.height,
            submitted_at_ms: ctx.timestamp_ms,
            deadline,
            quorum: members / 2 + 1,
            status: CommandStatus::Pending,
        },
    );
    state.put(due_key(deadline, id, sequence), &());
    events.push(Event::CommandSubmitted {
        contract: *id,
        sequence,
        caller: *who,
        reserved,
        deadline,
    });
    Ok(())
}

/// Rule 4: adds free PHA to `who`'s query deposit.
pub fn add_deposit(
    state: &mut State,
    who: &AccountId,
    amount: Balance,
    events: &mut Vec<Event>,
) -> Result {
    if amount == 0 {
        return Err(ContractsError::ZeroAmount);
    }
    balances::hold(state, who, HoldReason::QueryDeposit, amount)?;
    let mut record = deposit(state, who)?;
    record.available = record
        .available
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    set_deposit(state, who, &record);
    events.push(Event::QueryDeposited {
        who: *who,
        amount,
        available: record.available,
    });
    Ok(())
}

/// Rule 4: starts the delayed withdrawal of `amount` of `who`'s available deposit.
pub fn withdraw(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    amount: Balance,
    events: &mut Vec<Event>,
) -> Result {
    if amount == 0 {
        return Err(ContractsError::ZeroAmount);
    }
    let mut record = deposit(state, who)?;
    if record.available < amount {
        return Err(ContractsError::InsufficientDeposit {
            available: record.available,
            needed: amount,
        });
    }
    if record.withdrawing > 0 {
        state.remove(&release_key(record.release_at, who));
    }
    record.available -= amount;
    record.withdrawing = record.withdrawing.saturating_add(amount);
    record.release_at = ctx
        .height
        .saturating_add(params(state)?.withdrawal_delay_blocks);
    state.put(release_key(record.release_at, who), &());
    set_deposit(state, who, &record);
    events.push(Event::QueryWithdrawalStarted {
        who: *who,
        amount,
        withdrawing: record.withdrawing,
        release_at: record.release_at,
    });
    Ok(())
}

// ---- messages ----

/// Whether a message on `topic` from `origin` is one of this module's (the message queue then
/// hands it to [`apply_message`]).
pub fn handles(origin: &Origin, topic: &[u8]) -> bool {
    match origin {
        Origin::Gatekeeper(_) => topic == CONTRACT_KEY_TOPIC,
        Origin::Worker(_) => topic == RESULT_TOPIC || topic == USAGE_TOPIC,
        Origin::Cluster(_) | Origin::Contract(_) => false,
    }
}

fn decode<T: Decode>(payload: &[u8]) -> Result<T> {
    phalanx_primitives::decode_strict(payload, MAX_PAYLOAD_BYTES)
        .map_err(|e| ContractsError::MalformedMessage(e.to_string()))
}

/// Applies a message [`handles`] accepted; the message queue has checked that the origin is
/// known (an appointed gatekeeper or a registered worker) and signed it. On error the caller
/// rolls back whatever changed.
pub fn apply_message(
    state: &mut State,
    ctx: &BlockContext,
    origin: &Origin,
    topic: &[u8],
    payload: &[u8],
    events: &mut Vec<Event>,
) -> Result {
    match (origin, topic) {
        (Origin::Gatekeeper(sender), CONTRACT_KEY_TOPIC) => {
            apply_contract_key(state, sender, &decode(payload)?, events)
        }
        (Origin::Worker(worker), RESULT_TOPIC) => {
            apply_result(state, ctx, worker, decode(payload)?, events)
        }
        (Origin::Worker(worker), USAGE_TOPIC) => {
            apply_usage(state, worker, &decode(payload)?, events)
        }
        _ => Ok(()),
    }
}

/// Rule 5: a contract's public key of an epoch, from a gatekeeper holding the epoch.
fn apply_contract_key(
    state: &mut State,
    sender: &[u8; 32],
    message: &ContractKeyMessage,
    events: &mut Vec<Event>,
) -> Result {
    let ContractKeyMessage {
        contract: id,
        epoch,
        public_key,
    } = message;
    if contract(state, id)?.is_none() {
        return Err(ContractsError::UnknownContract(hex::encode(id)));
    }
    let live = gatekeeper::key_epoch(state, *epoch)?
        .is_some_and(|e| e.master_public.is_some() && e.retired_at.is_none());
    if !live {
        return Err(ContractsError::EpochNotLive(*epoch));
    }
    if !gatekeeper::holds(state, *epoch, sender) {
        return Err(ContractsError::NotHolder(*epoch));
    }
    match contract_public(state, id, *epoch)? {
        None => {
            state.put(wire::contract_public_key(id, *epoch), public_key);
            events.push(Event::ContractKeyPublished {
                contract: *id,
                epoch: *epoch,
                public_key: *public_key,
            });
            Ok(())
        }
        // Every holder derives the same key: a repeat is a no-op.
        Some(existing) if existing == *public_key => Ok(()),
        Some(_) => Err(ContractsError::ConflictingKey),
    }
}

/// Rule 6: a member's result of a command; finalizes it at quorum.
fn apply_result(
    state: &mut State,
    ctx: &BlockContext,
    worker: &[u8; 32],
    report: ResultReport,
    events: &mut Vec<Event>,
) -> Result {
    if report.sealed_output.len() > MAX_SEALED_OUTPUT_BYTES {
        return Err(ContractsError::OutputTooLarge(report.sealed_output.len()));
    }
    if output_hash(&report.sealed_output) != report.output_hash {
        return Err(ContractsError::OutputHashMismatch);
    }
    let id = report.contract;
    let record =
        contract(state, &id)?.ok_or_else(|| ContractsError::UnknownContract(hex::encode(id)))?;
    if !gatekeeper::is_member(state, record.cluster, worker) {
        return Err(ContractsError::NotMember(record.cluster));
    }
    let mut command = command(state, &id, report.sequence)?
        .ok_or(ContractsError::UnknownCommand(report.sequence))?;
    if report.gas_used > command.gas_limit {
        return Err(ContractsError::GasOverLimit {
            gas_used: report.gas_used,
            gas_limit: command.gas_limit,
        });
    }
    let report_key = wire::report_key(&id, report.sequence, worker);
    if let Some(earlier) = state.get_decoded::<MemberReport>(&report_key)? {
        // An enclave runs a command once, and the same input gives the same result: a second,
        // different result from the same worker proves it misbehaved.
        if (earlier.output_hash, earlier.gas_used) != (report.output_hash, report.gas_used)
            && crate::mining::punish_enclave(
                state,
                ctx,
                worker,
                crate::mining::SlashReason::ConflictingResults,
                events,
            )
            .map_err(|e| ContractsError::Corrupted(format!("punishing a conflict: {e}")))?
        {
            return Ok(());
        }
        return Err(ContractsError::AlreadyReported);
    }
    let member_report = MemberReport {
        output_hash: report.output_hash,
        gas_used: report.gas_used,
        reported_at: ctx.height,
    };
    match command.status {
        CommandStatus::TimedOut => Err(ContractsError::CommandTimedOut(report.sequence)),
        CommandStatus::Final => {
            // Late: it earns nothing, but a differing one is evidence all the same.
            state.put(report_key, &member_report);
            let final_result = result(state, &id, report.sequence)?.ok_or_else(|| {
                ContractsError::Corrupted(format!(
                    "final command #{} has no result",
                    report.sequence
                ))
            })?;
            if (final_result.output_hash, final_result.gas_used)
                != (report.output_hash, report.gas_used)
            {
                flag_disagreement(state, &id, report.sequence, worker, &member_report, events);
            }
            Ok(())
        }
        CommandStatus::Pending => {
            state.put(report_key, &member_report);
            let tally = tally_key(&id, report.sequence, &report.output_hash, report.gas_used);
            let count: u32 = state
                .get_decoded::<u32>(&tally)?
                .unwrap_or(0)
                .saturating_add(1);
            state.put(tally, &count);
            if count >= command.quorum {
                finalize(state, ctx, &id, &mut command, report, events)?;
            }
            Ok(())
        }
    }
}

/// Records `worker`'s differing report on a final command, and says so.
fn flag_disagreement(
    state: &mut State,
    id: &[u8; 32],
    sequence: u64,
    worker: &[u8; 32],
    report: &MemberReport,
    events: &mut Vec<Event>,
) {
    state.put(wire::disagreement_key(id, sequence, worker), report);
    events.push(Event::ContractResultDisputed {
        contract: *id,
        sequence,
        worker: *worker,
        output_hash: report.output_hash,
        gas_used: report.gas_used,
    });
}

/// Makes `report`'s result final: pays the agreeing members' operators, refunds the caller,
/// stores the result, flags the members that reported something else.
fn finalize(
    state: &mut State,
    ctx: &BlockContext,
    id: &[u8; 32],
    command: &mut Command,
    report: ResultReport,
    events: &mut Vec<Event>,
) -> Result {
    let sequence = command.sequence;
    let mut agreeing = Vec::new();
    let mut disagreeing = Vec::new();
    let prefix = report_prefix(id, sequence);
    for (key, value) in state.scan_prefix(&prefix) {
        let worker: [u8; 32] = key
            .get(prefix.len()..)
            .and_then(|w| w.try_into().ok())
            .ok_or_else(|| ContractsError::Corrupted("a malformed report key".into()))?;
        let member = MemberReport::decode(&mut value.as_slice())
            .map_err(|e| ContractsError::Corrupted(e.to_string()))?;
        // A member banned since it reported counts for nothing, either way.
        if crate::mining::ban(state, &worker)?.is_some() {
            continue;
        }
        if (member.output_hash, member.gas_used) == (report.output_hash, report.gas_used) {
            agreeing.push(worker);
        } else {
            disagreeing.push((worker, member));
        }
    }
    // The tally counted banned members' reports too; without them the quorum may not be met
    // yet, and the command stays pending.
    if (agreeing.len() as u32) < command.quorum {
        return Ok(());
    }
    // gas_used ≤ gas_limit, so this is at most the reservation.
    let cost = Balance::from(report.gas_used).saturating_mul(command.gas_price);
    let share = cost / agreeing.len().max(1) as Balance;
    let mut paid: Balance = 0;
    for worker in &agreeing {
        // A member is a registered worker (clusters admit only those, and workers are never
        // unregistered); were one missing, its share would go back to the caller.
        if let Some(info) = registry::worker(state, worker)? {
            balances::slash_held(
                state,
                &command.caller,
                HoldReason::ContractGas,
                &info.operator,
                share,
            )?;
            paid += share;
        }
    }
    let refunded = command.reserved - paid;
    balances::release(state, &command.caller, HoldReason::ContractGas, refunded)?;
    for (worker, member) in &disagreeing {
        flag_disagreement(state, id, sequence, worker, member, events);
    }
    clear_tally(state, id, sequence);
    state.remove(&due_key(command.deadline, id, sequence));
    command.status = CommandStatus::Final;
    state.put(wire::command_key(id, sequence), &*command);
    state.put(
        wire::result_key(id, sequence),
        &CommandResult {
            output_hash: report.output_hash,
            gas_used: report.gas_used,
            sealed_output: report.sealed_output,
            final_at: ctx.height,
            agreeing: agreeing.len() as u32,
            paid,
            refunded,
        },
    );
    events.push(Event::CommandFinalized {
        contract: *id,
        sequence,
        output_hash: report.output_hash,
        gas_used: report.gas_used,
        agreeing: agreeing.len() as u32,
        paid,
        refunded,
    });
    Ok(())
}

/// Deletes a command's tallies (they only matter while it is pending).
fn clear_tally(state: &mut State, id: &[u8; 32], sequence: u64) {
    let prefix = tally_prefix(id, sequence);
    let keys: Vec<Vec<u8>> = state
        .scan_prefix(&prefix)
        .map(|(k, _)| k.to_vec())
        .collect();
    for key in keys {
        state.remove(&key);
    }
}

/// Rule 7: settles metered query usage from the client's deposit to the worker's operator.
fn apply_usage(
    state: &mut State,
    worker: &[u8; 32],
    report: &UsageReport,
    events: &mut Vec<Event>,
) -> Result {
    let nonce_key = wire::usage_nonce_key(worker, &report.client);
    if let Some(last) = state.get_decoded::<u64>(&nonce_key)? {
        if report.nonce <= last {
            return Err(ContractsError::ReplayedUsage {
                nonce: report.nonce,
                last,
            });
        }
    }
    let operator = registry::worker(state, worker)?
        .ok_or_else(|| {
            ContractsError::Corrupted("a usage report from an unregistered worker".into())
        })?
        .operator;
    state.put(nonce_key, &report.nonce);
    let mut record = deposit(state, &report.client)?;
    let charged = report
        .amount
        .min(record.available.saturating_add(record.withdrawing));
    // The available part first, so a withdrawal the client asked for shrinks last.
    let from_available = charged.min(record.available);
    record.available -= from_available;
    record.withdrawing -= charged - from_available;
    if record.withdrawing == 0 && record.release_at != 0 {
        state.remove(&release_key(record.release_at, &report.client));
        record.release_at = 0;
    }
    if charged > 0 {
        balances::slash_held(
            state,
            &report.client,
            HoldReason::QueryDeposit,
            &operator,
            charged,
        )?;
    }
    set_deposit(state, &report.client, &record);
    events.push(Event::QueryUsageSettled {
        client: report.client,
        worker: *worker,
        operator,
        requested: report.amount,
        charged,
        nonce: report.nonce,
    });
    Ok(())
}

// ---- end of block ----

/// Refunds up to `budget` pending commands whose deadline has passed, oldest deadline first.
fn expire_commands(state: &mut State, ctx: &BlockContext, budget: usize) -> Vec<Event> {
    let due: Vec<(Vec<u8>, [u8; 32], u64)> = state
        .scan_prefix(DUE_PREFIX)
        .take(budget)
        .map_while(|(key, _)| {
            let (deadline, id, sequence) = parse_due_key(key)?;
            (deadline <= ctx.height).then(|| (key.to_vec(), id, sequence))
        })
        .collect();
    let mut events = Vec::new();
    for (key, id, sequence) in due {
        state.remove(&key);
        let Ok(Some(mut command)) = command(state, &id, sequence) else {
            continue;
        };
        if command.status != CommandStatus::Pending {
            continue;
        }
        // Reserved at submission and taken by nothing else; if this ever failed, the PHA would
        // stay reserved and the reserve invariant would flag it.
        if balances::release(
            state,
            &command.caller,
            HoldReason::ContractGas,
            command.reserved,
        )
        .is_err()
        {
            continue;
        }
        clear_tally(state, &id, sequence);
        command.status = CommandStatus::TimedOut;
        state.put(wire::command_key(&id, sequence), &command);
        events.push(Event::CommandTimedOut {
            contract: id,
            sequence,
            refunded: command.reserved,
        });
    }
    events
}

/// Releases up to `budget` withdrawals whose delay has passed, oldest first.
fn release_withdrawals(state: &mut State, ctx: &BlockContext, budget: usize) -> Vec<Event> {
    let due: Vec<(Vec<u8>, AccountId)> = state
        .scan_prefix(RELEASE_PREFIX)
        .take(budget)
        .map_while(|(key, _)| {
            let (at, who) = parse_release_key(key)?;
            (at <= ctx.height).then(|| (key.to_vec(), who))
        })
        .collect();
    let mut events = Vec::new();
    for (key, who) in due {
        state.remove(&key);
        let Ok(mut record) = deposit(state, &who) else {
            continue;
        };
        let amount = record.withdrawing;
        if amount == 0 || balances::release(state, &who, HoldReason::QueryDeposit, amount).is_err()
        {
            continue;
        }
        record.withdrawing = 0;
        record.release_at = 0;
        set_deposit(state, &who, &record);
        events.push(Event::QueryWithdrawn { who, amount });
    }
    events
}

/// The contracts module.
#[derive(Debug)]
pub struct Contracts;

impl Module for Contracts {
    const NAME: &'static str = "contracts";
    const STORAGE_PREFIX: &'static str = "contracts/";
    type Call = ContractsCall;
    type Error = ContractsError;

    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &ContractsCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            ContractsCall::UploadCode { code } => upload_code(state, ctx, who, code, events)?,
            ContractsCall::Instantiate {
                code_hash,
                cluster,
                salt,
            } => instantiate(state, ctx, who, code_hash, *cluster, salt, events)?,
            ContractsCall::SubmitCommand {
                contract,
                key_epoch,
                sealed,
                gas_limit,
                gas_price,
            } => submit_command(
                state,
                ctx,
                who,
                Submission {
                    contract,
                    key_epoch: *key_epoch,
                    sealed,
                    gas_limit: *gas_limit,
                    gas_price: *gas_price,
                },
                events,
            )?,
            ContractsCall::Deposit { amount } => add_deposit(state, who, *amount, events)?,
            ContractsCall::Withdraw { amount } => withdraw(state, ctx, who, *amount, events)?,
        }
        Ok(())
    }

    /// Refunds timed-out commands and releases due withdrawals, each bounded per block.
    fn on_block_end(
        state: &mut State,
        ctx: &BlockContext,
        _privileged: PrivilegedExecutor,
    ) -> Vec<Event> {
        let mut events = expire_commands(state, ctx, EXPIRIES_PER_BLOCK);
        events.extend(release_withdrawals(state, ctx, RELEASES_PER_BLOCK));
        events
    }

    /// Every due entry names a pending command with that deadline; every release entry names a
    /// deposit withdrawing at that height, and every withdrawing deposit has one.
    fn check_invariants(state: &State) -> Result<(), InvariantError> {
        let broken = |detail: String| InvariantError::Inconsistent {
            module: Self::NAME,
            detail,
        };
        let unreadable = |e: CodecError| InvariantError::Unreadable(e.to_string());
        for (key, _) in state.scan_prefix(DUE_PREFIX) {
            let (deadline, id, sequence) =
                parse_due_key(key).ok_or_else(|| broken("a malformed due key".into()))?;
            let command = command(state, &id, sequence).map_err(unreadable)?;
            if !command
                .is_some_and(|c| c.status == CommandStatus::Pending && c.deadline == deadline)
            {
                return Err(broken(format!(
                    "due entry {}#{sequence} is not a pending command with deadline {deadline}",
                    hex::encode(id)
                )));
            }
        }
        let mut withdrawing = 0usize;
        for (key, value) in state.scan_prefix(DEPOSIT_PREFIX) {
            let deposit = QueryDeposit::decode(&mut value.as_slice())
                .map_err(|e| InvariantError::Unreadable(e.to_string()))?;
            if deposit.withdrawing > 0 {
                withdrawing += 1;
                let who = AccountId(
                    key[DEPOSIT_PREFIX.len()..]
                        .try_into()
                        .map_err(|_| broken("a malformed deposit key".into()))?,
                );
                if state.get(&release_key(deposit.release_at, &who)).is_none() {
                    return Err(broken(format!("{who}'s withdrawal has no release entry")));
                }
            }
        }
        let releases = state.scan_prefix(RELEASE_PREFIX).count();
        if releases != withdrawing {
            return Err(broken(format!(
                "{releases} release entries for {withdrawing} withdrawing deposits"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
