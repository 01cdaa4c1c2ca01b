//! Phalanx runtime: the chain's state transition.
//!
//! Pure and deterministic: given a state, a block context (height and timestamp) and
//! transactions, it returns the next state and the receipts. It never reads a clock, a file or
//! the network, so every validator and every light client computes the same result.
//!
//! Modules mirror each other (types, calls, events, errors, storage keys, genesis, tests):
//! - [`system`]: chain parameters, nonces, fees, validation of the transaction envelope;
//! - [`balances`]: free, reserved and locked PHA, transfers, total issuance;
//! - [`treasury`]: the account that collects fees and slashes and spends only by privilege;
//! - [`root`]: the dev-only root account that can dispatch privileged calls;
//! - [`governance`]: proposals, votes, tallies and enactment of privileged calls;
//! - [`registry`]: the attestation policy and the attested TEE workers;
//! - [`message_queue`]: signed, sequenced messages from enclaves, per origin;
//! - [`peers`]: the p2p addresses validators publish, so governance can add new ones;
//! - [`params`]: the bounds of every parameter a privileged call or genesis sets;
//! - [`genesis`]: the initial state from a genesis config.
//!
//! Invariants (checked by [`invariants::check`] after every block in tests): total issuance never
//! exceeds [`MAX_SUPPLY`](phalanx_primitives::MAX_SUPPLY), the sum of all accounts equals total
//! issuance, and no balance is negative (balances are unsigned; every subtraction is checked).
//!
//! Transaction semantics: a transaction whose envelope is invalid (signature, nonce, expiry,
//! size, fee) is not includable — a block carrying one is invalid. A valid envelope always pays
//! its fee and bumps the nonce; if its call then fails, the call's effects are rolled back and
//! the receipt records the error.

pub mod balances;
pub mod events;
pub mod evidence;
pub mod genesis;
pub mod governance;
pub mod invariants;
pub mod message_queue;
pub mod params;
pub mod peers;
pub mod privileged;
pub mod registry;
pub mod root;
pub mod system;
pub mod treasury;

use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::{call::Call, Block, Hash, Header, SignedTransaction};
use phalanx_state::State;
use serde::Serialize;

pub use events::Event;
pub use genesis::GenesisConfig;

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
}

impl From<phalanx_primitives::CodecError> for DispatchError {
    fn from(e: phalanx_primitives::CodecError) -> Self {
        DispatchError::Corrupted(e.to_string())
    }
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
    /// `None` when the call succeeded; otherwise what went wrong (its effects were rolled back).
    pub error: Option<String>,
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

/// Hooks that run after a block's transactions; returns their events.
pub fn end_block(state: &mut State, ctx: &BlockContext) -> Vec<Event> {
    let mut events = governance::on_block_end(state, ctx, privileged::execute);
    // After governance, so a set enacted in a boundary block takes over at that boundary.
    events.extend(system::on_block_end(state, ctx));
    events
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
    let checkpoint = state.clone();
    let mut call_events = Vec::new();
    let error = match dispatch(
        state,
        ctx,
        &tx.tx.signer,
        &tx.tx.call,
        fee,
        &mut call_events,
    ) {
        Ok(()) => {
            events.append(&mut call_events);
            None
        }
        Err(e) => {
            *state = checkpoint;
            events.push(Event::CallFailed {
                error: e.to_string(),
            });
            Some(e.to_string())
        }
    };
    Ok(Receipt {
        tx_hash: tx.hash(),
        fee,
        error,
        events,
    })
}

/// Routes a call to its module.
fn dispatch(
    state: &mut State,
    ctx: &BlockContext,
    who: &phalanx_primitives::AccountId,
    call: &Call,
    fee: phalanx_primitives::Balance,
    events: &mut Vec<Event>,
) -> DispatchResult {
    match call {
        Call::Evidence(call) => evidence::dispatch(state, ctx, who, call, fee, events),
        Call::Balances(call) => balances::dispatch(state, who, call, events),
        Call::Root(call) => root::dispatch(state, ctx, who, call, events),
        Call::Governance(call) => governance::dispatch(state, ctx, who, call, events),
        Call::Registry(call) => registry::dispatch(state, ctx, who, call, events),
        Call::MessageQueue(call) => message_queue::dispatch(state, ctx, who, call, events),
        Call::Peers(call) => peers::dispatch(state, who, call, events),
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
