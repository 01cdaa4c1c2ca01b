//! Phalanx runtime: the chain's state transition.
//!
//! Pure and deterministic: given a state, a block context (height and timestamp) and
//! transactions, it returns the next state and the receipts. It never reads a clock, a file or
//! the network, so every validator and every light client computes the same result.
//!
//! Every module has one shape, the [`Module`] trait ([`module`]): a name and storage prefix,
//! its calls and its error (with a stable code per variant), dispatch, its part of genesis, an
//! end-of-block hook and an invariants check. [`MODULES`] lists them; genesis, [`end_block`]
//! and [`invariants::check`] iterate it, [`dispatch`] routes each call to its module, and
//! module tests drive a chain through `testing::TestChain`. The modules:
//! - [`system`]: chain parameters, nonces, fees, validation of the transaction envelope;
//! - [`balances`]: free, reserved and locked PHA, transfers, total issuance;
//! - [`treasury`]: the account that collects fees and slashes and spends only by privilege;
//! - [`root`]: the dev-only root account that can dispatch privileged calls;
//! - [`governance`]: proposals, votes, tallies and enactment of privileged calls;
//! - [`registry`]: the attestation policy and the attested TEE workers;
//! - [`message_queue`]: signed, sequenced messages from enclaves, per origin;
//! - [`gatekeeper`]: appointed gatekeepers and their stake, clusters, key epochs and the
//!   public keys (and sealed shares) of the key tree;
//! - [`peers`]: the p2p addresses validators publish, so governance can add new ones;
//! - [`evidence`]: proof of consensus equivocation, stored for slashing;
//! - [`contracts`]: confidential contracts' code, instances and keys, the sealed command queue
//!   with its gas escrow, results agreed by a cluster majority, query deposits and usage;
//! - [`mining`]: stake pools, workers' computing lifecycle, heartbeats, work points, the daily
//!   payout from the mining pot and slashing;
//! - [`staking`]: validator bonds, slashed by stored equivocation evidence;
//! - [`params`]: the bounds of every parameter a privileged call or genesis sets;
//! - [`genesis`]: the initial state from a genesis config.
//!
//! Pure math of the mining economics, used by [`mining`]: [`fixed`] (deterministic fixed-point
//! arithmetic), [`schedule`] (the daily budget by chain time) and [`work`] (the work-point
//! formula).
//!
//! Invariants (checked by [`invariants::check`] after every block in tests): total issuance never
//! exceeds [`MAX_SUPPLY`](phalanx_primitives::MAX_SUPPLY), the sum of all accounts equals total
//! issuance, no balance is negative (balances are unsigned; every subtraction is checked), and
//! locked and reserved PHA match open votes and deposits.
//!
//! Transaction semantics: a transaction whose envelope is invalid (signature, nonce, expiry,
//! size, fee) is not includable — a block carrying one is invalid. A valid envelope always pays
//! its fee and bumps the nonce; if its call then fails, the call's effects are rolled back and
//! the receipt records the error's [`ErrorCode`] — never its message, so rewording a message
//! changes no receipt and no state root ([`describe`] gives the message at read time).

pub mod balances;
pub mod contracts;
pub mod events;
pub mod evidence;
pub mod fixed;
pub mod gatekeeper;
pub mod genesis;
pub mod governance;
pub mod invariants;
pub mod message_queue;
pub mod mining;
pub mod module;
pub mod params;
pub mod peers;
pub mod privileged;
pub mod registry;
pub mod root;
pub mod schedule;
pub mod staking;
pub mod system;
pub mod treasury;
pub mod work;

use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::{call::Call, Block, Hash, Header, SignedTransaction};
use phalanx_state::State;
use serde::Serialize;

pub use events::Event;
pub use genesis::GenesisConfig;
pub use module::{ErrorCode, ErrorCodes, Module, ModuleEntry, PrivilegedExecutor};

/// Every module, in the order their genesis and end-of-block hooks and their invariants run.
/// Governance's hook runs before system's, so a validator set enacted in an epoch's boundary
/// block takes over at that boundary. A new module is appended here (and routed to in
/// [`dispatch`]).
pub const MODULES: &[ModuleEntry] = &[
    ModuleEntry::of::<balances::Balances>(),
    ModuleEntry::of::<treasury::Treasury>(),
    ModuleEntry::of::<root::Root>(),
    ModuleEntry::of::<governance::Governance>(),
    ModuleEntry::of::<registry::Registry>(),
    ModuleEntry::of::<gatekeeper::Gatekeepers>(),
    ModuleEntry::of::<message_queue::MessageQueue>(),
    ModuleEntry::of::<evidence::Evidence>(),
    ModuleEntry::of::<peers::Peers>(),
    ModuleEntry::of::<contracts::Contracts>(),
    ModuleEntry::of::<mining::Mining>(),
    ModuleEntry::of::<staking::Staking>(),
    ModuleEntry::of::<system::System>(),
];

/// The module name of [`DispatchError::Corrupted`]'s code.
pub const RUNTIME: &str = "runtime";

/// Why a call failed after its envelope was accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum DispatchError {
    /// A balances error.
    #[error(transparent)]
    Balances(#[from] balances::BalancesError),
    /// A root error.
    #[error(transparent)]
    Root(#[from] root::RootError),
    /// A governance error.
    #[error(transparent)]
    Governance(#[from] governance::GovernanceError),
    /// A treasury error.
    #[error(transparent)]
    Treasury(#[from] treasury::TreasuryError),
    /// The stored state could not be decoded: a bug or corruption, never user error.
    #[error("corrupted state: {0}")]
    Corrupted(String),
    /// A registry error.
    #[error(transparent)]
    Registry(#[from] registry::RegistryError),
    /// A message-queue error.
    #[error(transparent)]
    MessageQueue(#[from] message_queue::MessageQueueError),
    /// A privileged call set a parameter outside its bounds.
    #[error(transparent)]
    Params(#[from] params::ParamsError),
    /// An evidence error.
    #[error(transparent)]
    Evidence(#[from] evidence::EvidenceError),
    /// A peers error.
    #[error(transparent)]
    Peers(#[from] peers::PeersError),
    /// A gatekeeper error.
    #[error(transparent)]
    Gatekeeper(#[from] gatekeeper::GatekeeperError),
    /// A contracts error.
    #[error(transparent)]
    Contracts(#[from] contracts::ContractsError),
    /// A mining error.
    #[error(transparent)]
    Mining(#[from] mining::MiningError),
    /// A staking error.
    #[error(transparent)]
    Staking(#[from] staking::StakingError),
}

impl From<phalanx_primitives::CodecError> for DispatchError {
    fn from(e: phalanx_primitives::CodecError) -> Self {
        DispatchError::Corrupted(e.to_string())
    }
}

impl DispatchError {
    /// The stable code receipts, events and proposals record for this error: the module whose
    /// rule refused and its reason. A lower layer's error lifted into a module's enum (a
    /// balances failure inside governance or treasury) keeps its own module and code.
    pub fn code(&self) -> ErrorCode {
        let (module, reason) = match self {
            DispatchError::Balances(e)
            | DispatchError::Governance(governance::GovernanceError::Balances(e))
            | DispatchError::Treasury(treasury::TreasuryError::Balances(e)) => {
                (balances::Balances::NAME, e.code())
            }
            DispatchError::Root(e) => (root::Root::NAME, e.code()),
            DispatchError::Governance(e) => (governance::Governance::NAME, e.code()),
            DispatchError::Treasury(e) => (treasury::Treasury::NAME, e.code()),
            DispatchError::Corrupted(_) => (RUNTIME, "corrupted"),
            DispatchError::Registry(e) => (registry::Registry::NAME, e.code()),
            DispatchError::MessageQueue(e) => (message_queue::MessageQueue::NAME, e.code()),
            DispatchError::Params(e) => (params::NAME, e.code()),
            DispatchError::Evidence(e) => (evidence::Evidence::NAME, e.code()),
            DispatchError::Peers(e) => (peers::Peers::NAME, e.code()),
            DispatchError::Gatekeeper(gatekeeper::GatekeeperError::Stake(e)) => {
                (balances::Balances::NAME, e.code())
            }
            DispatchError::Gatekeeper(e) => (gatekeeper::Gatekeepers::NAME, e.code()),
            DispatchError::Contracts(contracts::ContractsError::Funds(e)) => {
                (balances::Balances::NAME, e.code())
            }
            DispatchError::Contracts(e) => (contracts::Contracts::NAME, e.code()),
            DispatchError::Mining(mining::MiningError::Funds(e)) => {
                (balances::Balances::NAME, e.code())
            }
            DispatchError::Mining(e) => (mining::Mining::NAME, e.code()),
            DispatchError::Staking(staking::StakingError::Funds(e)) => {
                (balances::Balances::NAME, e.code())
            }
            DispatchError::Staking(e) => (staking::Staking::NAME, e.code()),
        };
        ErrorCode::new(module, reason)
    }
}

/// The corrupted-state code of [`DispatchError::Corrupted`].
const RUNTIME_CODES: &[(&str, &str)] = &[("corrupted", "the stored state could not be decoded")];

/// What a stored error code means, in words (for RPC answers and the CLI), or `None` for a code
/// this runtime does not know (a newer runtime's). Read time only: the words may be reworded
/// freely, the codes never.
pub fn describe(code: &ErrorCode) -> Option<&'static str> {
    let codes = match code.module.as_str() {
        RUNTIME => RUNTIME_CODES,
        params::NAME => <params::ParamsError as ErrorCodes>::CODES,
        name => MODULES.iter().find(|m| m.name == name)?.codes,
    };
    codes
        .iter()
        .find(|(reason, _)| *reason == code.reason)
        .map(|(_, meaning)| *meaning)
}

/// A crate-wide result for dispatch.
pub type DispatchResult<T = ()> = std::result::Result<T, DispatchError>;

/// What the block being executed is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    /// Height of the block being executed.
    pub height: u64,
    /// Its timestamp (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// The chain's genesis hash (transactions are signed for it).
    pub genesis_hash: Hash,
    /// Hash of the parent block (recorded so that recent block hashes are provable state).
    pub parent_hash: Hash,
}

/// The outcome of one included transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct Receipt {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// The fee charged.
    pub fee: u128,
    /// `None` when the call succeeded; otherwise why it failed, as a stable code (its effects
    /// were rolled back).
    pub error: Option<ErrorCode>,
    /// What happened.
    pub events: Vec<Event>,
}

/// Everything executing a block produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct BlockOutcome {
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// Events of the block's own hooks (governance tallies, enactments).
    pub block_events: Vec<Event>,
}

/// Executes `transactions` as block `ctx` on `state`: begin-block hooks, each transaction,
/// end-block hooks. Fails (leaving `state` in an unspecified state — callers work on a clone)
/// if any transaction's envelope is invalid.
pub fn execute_block(
    state: &mut State,
    ctx: &BlockContext,
    transactions: &[SignedTransaction],
) -> Result<BlockOutcome, system::TxError> {
    execute_block_with(state, ctx, transactions, |_| system::SignatureCheck::Verify)
}

/// [`execute_block`], with the caller saying per transaction whether its signature was
/// already verified (see [`system::SignatureCheck`]).
pub fn execute_block_with(
    state: &mut State,
    ctx: &BlockContext,
    transactions: &[SignedTransaction],
    signature: impl Fn(&SignedTransaction) -> system::SignatureCheck,
) -> Result<BlockOutcome, system::TxError> {
    let params = system::params(state).map_err(system::TxError::from)?;
    if transactions.len() > params.max_block_txs as usize {
        return Err(system::TxError::TooManyTransactions(params.max_block_txs));
    }
    let mut outcome = BlockOutcome::default();
    begin_block(state, ctx);
    for tx in transactions {
        outcome
            .receipts
            .push(apply_transaction_with(state, ctx, tx, signature(tx))?);
    }
    outcome.block_events.extend(end_block(state, ctx));
    Ok(outcome)
}

/// Hooks that run before a block's transactions (block builders call this, then
/// [`apply_transaction`] per candidate, then [`end_block`]; [`execute_block`] does all three).
pub fn begin_block(state: &mut State, ctx: &BlockContext) {
    system::set_block(state, ctx);
}

/// Hooks that run after a block's transactions: every module's
/// [`on_block_end`](Module::on_block_end) in [`MODULES`] order, each handed the privileged path
/// ([`privileged::execute`]); returns their events.
pub fn end_block(state: &mut State, ctx: &BlockContext) -> Vec<Event> {
    MODULES
        .iter()
        .flat_map(|module| (module.on_block_end)(state, ctx, privileged::execute))
        .collect()
}

/// Applies one transaction: validates the envelope, charges the fee, bumps the nonce, then
/// dispatches the call, rolling its effects back if it fails.
pub fn apply_transaction(
    state: &mut State,
    ctx: &BlockContext,
    tx: &SignedTransaction,
) -> Result<Receipt, system::TxError> {
    apply_transaction_with(state, ctx, tx, system::SignatureCheck::Verify)
}

/// [`apply_transaction`], skipping signature verification when the caller already did it.
pub fn apply_transaction_with(
    state: &mut State,
    ctx: &BlockContext,
    tx: &SignedTransaction,
    signature: system::SignatureCheck,
) -> Result<Receipt, system::TxError> {
    let fee = system::check_envelope_with(state, ctx, tx, system::NonceCheck::Exact, signature)?;
    let mut events = Vec::new();
    system::charge(state, &tx.tx.signer, fee)?;
    events.push(Event::FeePaid {
        who: tx.tx.signer,
        amount: fee,
    });
    // The call is all or nothing; the fee stays paid either way.
    let error = match module::all_or_nothing(state, |state, call_events| {
        dispatch(state, ctx, &tx.tx.signer, &tx.tx.call, fee, call_events)
    }) {
        Ok(mut call_events) => {
            events.append(&mut call_events);
            None
        }
        Err(code) => {
            events.push(Event::CallFailed {
                error: code.clone(),
            });
            Some(code)
        }
    };
    Ok(Receipt {
        tx_hash: tx.hash(),
        fee,
        error,
        events,
    })
}

/// Routes a call to its module's [`Module::dispatch`]. A new module's call enum gets one arm.
fn dispatch(
    state: &mut State,
    ctx: &BlockContext,
    who: &phalanx_primitives::AccountId,
    call: &Call,
    fee: phalanx_primitives::Balance,
    events: &mut Vec<Event>,
) -> DispatchResult {
    match call {
        Call::Balances(call) => balances::Balances::dispatch(state, ctx, who, call, fee, events),
        Call::Root(call) => root::Root::dispatch(state, ctx, who, call, fee, events),
        Call::Governance(call) => {
            governance::Governance::dispatch(state, ctx, who, call, fee, events)
        }
        Call::Registry(call) => registry::Registry::dispatch(state, ctx, who, call, fee, events),
        Call::MessageQueue(call) => {
            message_queue::MessageQueue::dispatch(state, ctx, who, call, fee, events)
        }
        Call::Evidence(call) => evidence::Evidence::dispatch(state, ctx, who, call, fee, events),
        Call::Peers(call) => peers::Peers::dispatch(state, ctx, who, call, fee, events),
        Call::Contracts(call) => contracts::Contracts::dispatch(state, ctx, who, call, fee, events),
        Call::Mining(call) => mining::Mining::dispatch(state, ctx, who, call, fee, events),
        Call::Staking(call) => staking::Staking::dispatch(state, ctx, who, call, fee, events),
    }
}

/// Builds the genesis block and state from `config`.
pub fn genesis_block(config: &GenesisConfig) -> Result<(Block, State), genesis::GenesisError> {
    let mut state = genesis::build_state(config)?;
    let header = Header {
        parent: Hash::ZERO,
        height: 0,
        timestamp_ms: config.timestamp_ms,
        tx_root: Hash::ZERO,
        state_root: state.root(),
    };
    Ok((
        Block {
            header,
            transactions: Vec::new(),
        },
        state,
    ))
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
