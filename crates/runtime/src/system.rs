//! System: chain parameters, the current block, per-account nonces, fees, and the checks every
//! transaction envelope must pass before anything it asks for happens.
//!
//! Storage keys: `system/params` → [`ChainParams`], `system/block` → (height, timestamp_ms),
//! `system/genesis_time` → the genesis timestamp (ms; days and periods of the mining schedule
//! count from it, [`crate::schedule`]),
//! `system/nonce/<account>` → u64, `system/validators` → the consensus keys of the current
//! epoch, `system/next_validators` → a set scheduled for the next epoch.
//!
//! # Epochs
//!
//! Consensus runs in epochs of [`EPOCH_LENGTH`] blocks: epoch `e` spans heights
//! `e * EPOCH_LENGTH ..= (e + 1) * EPOCH_LENGTH - 1` (epoch 0 includes genesis). A validator set
//! change (`PrivilegedCall::SetValidators`) executed in any block of epoch `e` is only
//! *scheduled*; the last block of epoch `e` (the boundary block) activates it, so the state after
//! the boundary block names the set that runs epoch `e + 1`. In general [`validators`] of the
//! state after block `h` is the set of the epoch containing `h + 1`: every node reads the same
//! set from the same finalized state.

use crate::balances;
use crate::events::Event;
use crate::genesis::{GenesisConfig, GenesisError};
use crate::module::{ErrorCodes, Module, PrivilegedExecutor};
use crate::{BlockContext, DispatchResult};
use parity_scale_codec::Encode;
use phalanx_primitives::{call::ChainParams, AccountId, Balance, CodecError, SignedTransaction};
use phalanx_state::{State, StateExt};
use std::convert::Infallible;

const PARAMS: &[u8] = b"system/params";
const BLOCK: &[u8] = b"system/block";
const GENESIS_TIME: &[u8] = b"system/genesis_time";
const VALIDATORS: &[u8] = b"system/validators";
const PREVIOUS_VALIDATORS: &[u8] = b"system/previous_validators";
const NEXT_VALIDATORS: &[u8] = b"system/next_validators";
const NONCE_PREFIX: &[u8] = b"system/nonce/";
const BLOCK_HASH_PREFIX: &[u8] = b"system/block_hash/";
const CHAIN_ID: &[u8] = b"system/chain_id";
const PRODUCTION: &[u8] = b"system/production";

/// Blocks per consensus epoch (see the module docs).
pub const EPOCH_LENGTH: u64 = 64;

/// The epoch containing block `height`.
pub fn epoch_of(height: u64) -> u64 {
    height / EPOCH_LENGTH
}

/// The last block (the boundary block) of `epoch`.
pub fn last_height_of_epoch(epoch: u64) -> u64 {
    epoch
        .saturating_add(1)
        .saturating_mul(EPOCH_LENGTH)
        .saturating_sub(1)
}

/// How many recent block hashes the state keeps (for attestation freshness checks).
pub const RECENT_BLOCK_HASHES: u64 = 256;

/// Why a transaction envelope cannot be included. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum TxError {
    /// The encoded transaction is over the size limit.
    #[error("transaction is {len} bytes, over the {max}-byte limit; send less data")]
    TooLarge {
        /// Encoded size.
        len: usize,
        /// Limit.
        max: u32,
    },
    /// The signature is not the signer's for this chain.
    #[error("bad signature: sign with the signer's key for this chain's genesis hash")]
    BadSignature,
    /// The transaction's expiry height has passed.
    #[error("transaction expired at height {expires_at}; the chain is at {height}: sign it again")]
    Expired {
        /// Expiry height.
        expires_at: u64,
        /// Current height.
        height: u64,
    },
    /// The expiry is further ahead than allowed.
    #[error("expiry {expires_at} is more than {max} blocks ahead of height {height}")]
    ExpiryTooFar {
        /// Requested expiry.
        expires_at: u64,
        /// Current height.
        height: u64,
        /// Allowed distance.
        max: u64,
    },
    /// The nonce was already used.
    #[error("nonce {got} was already used; the account's next nonce is {expected}")]
    StaleNonce {
        /// Nonce in the transaction.
        got: u64,
        /// The account's next nonce.
        expected: u64,
    },
    /// The nonce is ahead of the account's next nonce.
    #[error(
        "nonce {got} is ahead of the account's next nonce {expected}: send the missing ones first"
    )]
    FutureNonce {
        /// Nonce in the transaction.
        got: u64,
        /// The account's next nonce.
        expected: u64,
    },
    /// The fee offered is below what the chain requires.
    #[error("fee {offered} is below the required {required} units")]
    FeeTooLow {
        /// Offered.
        offered: Balance,
        /// Required.
        required: Balance,
    },
    /// The signer cannot pay the fee from free balance.
    #[error("signer has {free} free units, cannot pay the fee of {fee}")]
    CannotPayFee {
        /// Free balance.
        free: Balance,
        /// Fee.
        fee: Balance,
    },
    /// A block carried more transactions than allowed.
    #[error("block carries more than {0} transactions")]
    TooManyTransactions(u32),
    /// The stored state could not be decoded.
    #[error("corrupted state: {0}")]
    Corrupted(String),
}

/// The same words the node's RPC answers a refused transaction with (`data.reason`).
impl ErrorCodes for TxError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("too_large", "the transaction is over the size limit"),
        (
            "bad_signature",
            "the signature is not the signer's for this chain",
        ),
        ("expired", "the transaction's expiry height has passed"),
        ("expiry_too_far", "the expiry is further ahead than allowed"),
        ("stale_nonce", "the nonce was already used"),
        (
            "future_nonce",
            "the nonce is ahead of the account's next nonce",
        ),
        ("fee_too_low", "the fee is below what the chain requires"),
        (
            "insufficient_balance",
            "the signer cannot pay the fee from free balance",
        ),
        (
            "too_many_transactions",
            "the block carries more transactions than allowed",
        ),
        ("internal", "the state could not be decoded"),
    ];

    fn code(&self) -> &'static str {
        match self {
            TxError::TooLarge { .. } => "too_large",
            TxError::BadSignature => "bad_signature",
            TxError::Expired { .. } => "expired",
            TxError::ExpiryTooFar { .. } => "expiry_too_far",
            TxError::StaleNonce { .. } => "stale_nonce",
            TxError::FutureNonce { .. } => "future_nonce",
            TxError::FeeTooLow { .. } => "fee_too_low",
            TxError::CannotPayFee { .. } => "insufficient_balance",
            TxError::TooManyTransactions(_) => "too_many_transactions",
            TxError::Corrupted(_) => "internal",
        }
    }
}

impl From<CodecError> for TxError {
    fn from(e: CodecError) -> Self {
        TxError::Corrupted(e.to_string())
    }
}

/// Whether the envelope check verifies the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Verify it (the default for anything not already checked).
    Verify,
    /// The caller verified this exact transaction's signature for this chain already (the
    /// node's mempool admits only verified transactions). Skipping it changes no outcome, only
    /// the cost: a block is still refused by every node that cannot vouch for its signatures.
    AlreadyVerified,
}

/// How strictly the nonce is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// For inclusion in a block: exactly the next nonce.
    Exact,
    /// For the mempool: the next nonce or up to this many beyond it.
    AllowFuture(u64),
}

/// The chain parameters.
pub fn params(state: &State) -> Result<ChainParams, CodecError> {
    Ok(state.get_decoded(PARAMS)?.unwrap_or_default())
}

/// Stores the chain parameters as given. Callers check them first with
/// [`crate::params::check_chain`]: the privileged path and genesis both do.
pub fn set_params(state: &mut State, params: &ChainParams) {
    state.put(PARAMS.to_vec(), params);
}

/// Records the chain's name and whether it is a production chain (genesis only). Both are part
/// of the genesis state root, so two chains that differ only in name have different genesis
/// hashes and their signatures never cross.
pub fn set_chain_info(state: &mut State, chain_id: &str, production: bool) {
    state.put(CHAIN_ID.to_vec(), &chain_id.as_bytes().to_vec());
    state.put(PRODUCTION.to_vec(), &production);
}

/// Whether this is a production chain (no simulated trust, no root).
pub fn is_production(state: &State) -> Result<bool, CodecError> {
    Ok(state.get_decoded(PRODUCTION)?.unwrap_or(false))
}

/// The consensus keys of the validator set that runs the epoch of the *next* block (see the
/// module docs): after block `h`, the set of the epoch containing `h + 1`.
pub fn validators(state: &State) -> Result<Vec<[u8; 32]>, CodecError> {
    Ok(state.get_decoded(VALIDATORS)?.unwrap_or_default())
}

/// What is wrong with a validator set. Genesis reports it as is; `SetValidators` maps it onto
/// [`GovernanceError`](crate::governance::GovernanceError), whose codes are chain-visible.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ValidatorSetError {
    /// The set has no keys.
    #[error("a validator set needs at least one key")]
    Empty,
    /// The set has more keys than consensus can carry.
    #[error("a validator set has at most {max} keys, not {count}; name fewer validators")]
    TooMany {
        /// Keys in the set.
        count: usize,
        /// Most allowed ([`crate::params::MAX_VALIDATORS`]).
        max: usize,
    },
    /// A key is not an ed25519 point.
    #[error("validator key #{index} is not a valid ed25519 public key; use the consensus key the validator printed")]
    InvalidKey {
        /// Its position in the set.
        index: usize,
    },
    /// A key is of small order or not canonically encoded.
    #[error("validator key #{index} is of small order or not canonically encoded, so anyone could sign for it; generate a fresh key")]
    WeakKey {
        /// Its position in the set.
        index: usize,
    },
    /// A key is listed twice.
    #[error("validator key #{index} is listed twice; list each validator once")]
    Duplicate {
        /// The position of its second listing.
        index: usize,
    },
}

/// Checks a validator set before it enters the state (genesis or `SetValidators`): 1 to
/// [`MAX_VALIDATORS`](crate::params::MAX_VALIDATORS) keys, each a canonically encoded ed25519
/// point outside the small-order subgroup
/// ([`is_strong_public_key`](phalanx_primitives::account::is_strong_public_key)), none twice.
/// Every node derives its consensus participants from this list, so it must hold nothing a node
/// would have to skip or merge, and no key anyone could sign for.
pub fn check_validator_set(keys: &[[u8; 32]]) -> Result<(), ValidatorSetError> {
    if keys.is_empty() {
        return Err(ValidatorSetError::Empty);
    }
    if keys.len() > crate::params::MAX_VALIDATORS {
        return Err(ValidatorSetError::TooMany {
            count: keys.len(),
            max: crate::params::MAX_VALIDATORS,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for (index, key) in keys.iter().enumerate() {
        if ed25519_dalek::VerifyingKey::from_bytes(key).is_err() {
            return Err(ValidatorSetError::InvalidKey { index });
        }
        if !phalanx_primitives::account::is_strong_public_key(key) {
            return Err(ValidatorSetError::WeakKey { index });
        }
        // Canonical encodings only (above), so distinct bytes are distinct points.
        if !seen.insert(key) {
            return Err(ValidatorSetError::Duplicate { index });
        }
    }
    Ok(())
}

/// The validator set of `epoch`, while a block of epoch `current` executes: the current set, or
/// the one that retired at the last boundary. `None` for any older or later epoch.
pub fn validators_of_epoch(
    state: &State,
    epoch: u64,
    current: u64,
) -> Result<Option<Vec<[u8; 32]>>, CodecError> {
    if epoch == current {
        return validators(state).map(Some);
    }
    let previous: Option<(u64, Vec<[u8; 32]>)> = state.get_decoded(PREVIOUS_VALIDATORS)?;
    Ok(previous
        .filter(|(retired, _)| *retired == epoch && epoch.saturating_add(1) == current)
        .map(|(_, set)| set))
}

/// Replaces the active validator set at once (genesis only; later changes go through
/// [`schedule_validators`]).
pub fn set_validators(state: &mut State, validators: &[[u8; 32]]) {
    state.put(VALIDATORS.to_vec(), &validators.to_vec());
}

/// Schedules `validators` to take over at the next epoch boundary (privileged). A later call in
/// the same epoch replaces the scheduled set.
pub fn schedule_validators(state: &mut State, validators: &[[u8; 32]]) {
    state.put(NEXT_VALIDATORS.to_vec(), &validators.to_vec());
}

/// The set scheduled to take over at the next epoch boundary, if any.
pub fn pending_validators(state: &State) -> Result<Option<Vec<[u8; 32]>>, CodecError> {
    state.get_decoded(NEXT_VALIDATORS)
}

/// The system module: no calls of its own (it checks every transaction's envelope instead).
#[derive(Debug)]
pub struct System;

impl Module for System {
    const NAME: &'static str = "system";
    const STORAGE_PREFIX: &'static str = "system/";
    type Call = Infallible;
    type Error = TxError;

    fn dispatch(
        _state: &mut State,
        _ctx: &BlockContext,
        _who: &AccountId,
        call: &Infallible,
        _fee: Balance,
        _events: &mut Vec<Event>,
    ) -> DispatchResult {
        match *call {}
    }

    /// The chain's name and kind, its parameters and the first validator set.
    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        set_chain_info(state, &config.chain_id, config.production);
        state.put(GENESIS_TIME.to_vec(), &config.timestamp_ms);
        set_params(state, &config.chain_params);
        set_validators(state, &config.validator_keys()?);
        Ok(())
    }

    /// The last block of an epoch activates the scheduled validator set, which then runs the
    /// next epoch. Runs after governance's hook, so a set enacted in a boundary block takes
    /// over at that boundary.
    fn on_block_end(
        state: &mut State,
        ctx: &BlockContext,
        _privileged: PrivilegedExecutor,
    ) -> Vec<Event> {
        on_block_end(state, ctx)
    }
}

/// End-of-block hook: the last block of an epoch activates the scheduled validator set, which
/// then runs the next epoch.
fn on_block_end(state: &mut State, ctx: &BlockContext) -> Vec<Event> {
    if ctx.height != last_height_of_epoch(epoch_of(ctx.height)) {
        return Vec::new();
    }
    // The retiring set stays readable for one more epoch, so evidence of its votes can still be
    // checked after the boundary.
    if let Ok(current) = validators(state) {
        state.put(
            PREVIOUS_VALIDATORS.to_vec(),
            &(epoch_of(ctx.height), current),
        );
    }
    match pending_validators(state) {
        Ok(Some(next)) => {
            set_validators(state, &next);
            state.remove(NEXT_VALIDATORS);
            vec![Event::ValidatorsActivated {
                epoch: epoch_of(ctx.height) + 1,
                count: next.len() as u32,
            }]
        }
        _ => Vec::new(),
    }
}

fn block_hash_key(height: u64) -> Vec<u8> {
    [BLOCK_HASH_PREFIX, &height.to_be_bytes()].concat()
}

/// Records the block being executed and its parent's hash (keeping the last
/// [`RECENT_BLOCK_HASHES`]), so that proofs can show them and attestations can cite them.
pub fn set_block(state: &mut State, ctx: &BlockContext) {
    state.put(BLOCK.to_vec(), &(ctx.height, ctx.timestamp_ms));
    if ctx.height > 0 {
        state.put(block_hash_key(ctx.height - 1), &ctx.parent_hash);
        if let Some(old) = (ctx.height - 1).checked_sub(RECENT_BLOCK_HASHES) {
            state.remove(&block_hash_key(old));
        }
    }
}

/// The hash of block `height`, if it is among the recent ones the state keeps.
pub fn recent_block_hash(
    state: &State,
    height: u64,
) -> Result<Option<phalanx_primitives::Hash>, CodecError> {
    state.get_decoded(&block_hash_key(height))
}

/// The genesis timestamp, ms since the Unix epoch (0 for a state built before it was kept).
pub fn genesis_time_ms(state: &State) -> Result<u64, CodecError> {
    Ok(state.get_decoded(GENESIS_TIME)?.unwrap_or(0))
}

/// The day of the mining schedule the chain is in at `now_ms` of chain time (a block's
/// timestamp), counting whole `day_ms` days from genesis.
pub fn chain_day(state: &State, now_ms: u64, day_ms: u64) -> Result<u64, CodecError> {
    Ok(crate::schedule::day_of(
        genesis_time_ms(state)?,
        now_ms,
        day_ms,
    ))
}

/// The last executed block's (height, timestamp_ms).
pub fn block(state: &State) -> Result<(u64, u64), CodecError> {
    Ok(state.get_decoded(BLOCK)?.unwrap_or((0, 0)))
}

/// The storage key of `who`'s nonce.
pub fn nonce_key(who: &AccountId) -> Vec<u8> {
    [NONCE_PREFIX, who.as_bytes()].concat()
}

/// `who`'s next nonce.
pub fn nonce(state: &State, who: &AccountId) -> Result<u64, CodecError> {
    Ok(state.get_decoded(&nonce_key(who))?.unwrap_or(0))
}

/// The fee a transaction of `len` encoded bytes must offer at least, before any surcharge for
/// its call (see [`required_fee_for`]).
pub fn required_fee(params: &ChainParams, len: usize) -> Balance {
    params
        .base_fee
        .saturating_add(params.byte_fee.saturating_mul(len as Balance))
}

/// The fee `tx` must offer at least: [`required_fee`] of its size, plus
/// [`ChainParams::dcap_verification_fee`] if it registers a worker with a DCAP quote.
///
/// Why a surcharge, and why here: every validator verifies a DCAP quote and its collateral
/// (about 5 ms of CPU, a hundred signature checks), which its bytes do not pay for. Being part
/// of the required fee, the surcharge is checked with the envelope — by the mempool before
/// admission and by every block — and is paid even when the registration then fails, so
/// nobody can make validators verify quotes for free. The quote's kind is read from its first
/// byte ([`phalanx_attestation::Quote::declared_kind`]), without decoding it.
pub fn required_fee_for(params: &ChainParams, tx: &SignedTransaction) -> Balance {
    params.required_fee(&tx.tx.call, tx.encoded_size())
}

/// Checks an envelope for inclusion in block `ctx`; returns the fee to charge.
pub fn check_envelope(
    state: &State,
    ctx: &BlockContext,
    tx: &SignedTransaction,
) -> Result<Balance, TxError> {
    check_envelope_with(state, ctx, tx, NonceCheck::Exact, SignatureCheck::Verify)
}

/// Checks an envelope with the given nonce rule; returns the fee to charge.
pub fn check_envelope_with(
    state: &State,
    ctx: &BlockContext,
    tx: &SignedTransaction,
    nonce_check: NonceCheck,
    signature: SignatureCheck,
) -> Result<Balance, TxError> {
    let params = params(state)?;
    let len = tx.encoded_size();
    if len > params.max_tx_bytes as usize {
        return Err(TxError::TooLarge {
            len,
            max: params.max_tx_bytes,
        });
    }
    if tx.tx.expires_at < ctx.height {
        return Err(TxError::Expired {
            expires_at: tx.tx.expires_at,
            height: ctx.height,
        });
    }
    if tx.tx.expires_at > ctx.height.saturating_add(params.max_expiry_blocks) {
        return Err(TxError::ExpiryTooFar {
            expires_at: tx.tx.expires_at,
            height: ctx.height,
            max: params.max_expiry_blocks,
        });
    }
    let expected = nonce(state, &tx.tx.signer)?;
    let got = tx.tx.nonce;
    if got < expected {
        return Err(TxError::StaleNonce { got, expected });
    }
    let future_allowed = match nonce_check {
        NonceCheck::Exact => 0,
        NonceCheck::AllowFuture(window) => window,
    };
    if got > expected.saturating_add(future_allowed) {
        return Err(TxError::FutureNonce { got, expected });
    }
    let required = required_fee_for(&params, tx);
    if tx.tx.fee < required {
        return Err(TxError::FeeTooLow {
            offered: tx.tx.fee,
            required,
        });
    }
    let free = balances::spendable(state, &tx.tx.signer)?;
    if free < tx.tx.fee {
        return Err(TxError::CannotPayFee {
            free,
            fee: tx.tx.fee,
        });
    }
    // Signature last: it is the most expensive check.
    if signature == SignatureCheck::Verify && !tx.verify_signature(&ctx.genesis_hash) {
        return Err(TxError::BadSignature);
    }
    Ok(tx.tx.fee)
}

/// Charges `fee` to `who` (into the treasury) and bumps `who`'s nonce.
pub fn charge(state: &mut State, who: &AccountId, fee: Balance) -> Result<(), TxError> {
    let next = nonce(state, who)?.saturating_add(1);
    state.put(nonce_key(who), &next);
    balances::transfer_free(state, who, &crate::treasury::account(), fee).map_err(|e| match e {
        balances::BalancesError::InsufficientFree { free, .. }
        | balances::BalancesError::Frozen {
            spendable: free, ..
        } => TxError::CannotPayFee { free, fee },
        other => TxError::Corrupted(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use phalanx_primitives::call::{Call, PrivilegedCall, RootCall};

    #[test]
    fn scheduled_validators_take_over_at_the_epoch_boundary() {
        let mut chain = TestChain::new();
        let genesis_set = validators(&chain.state).expect("validators");
        let next: Vec<[u8; 32]> = ["v1", "v2"].iter().map(|n| key(n).account().0).collect();
        let receipt = chain.apply(
            &key("alice"),
            Call::Root(RootCall::Dispatch(PrivilegedCall::SetValidators(
                next.clone(),
            ))),
        );
        assert_eq!(receipt.error, None);
        assert_eq!(validators(&chain.state).expect("validators"), genesis_set);
        assert_eq!(
            pending_validators(&chain.state).expect("pending"),
            Some(next.clone())
        );

        // Blocks inside the epoch leave the set alone.
        chain.run_until(EPOCH_LENGTH - 2);
        assert!(!chain
            .block_events
            .iter()
            .any(|e| matches!(e, Event::ValidatorsActivated { .. })));
        assert_eq!(validators(&chain.state).expect("validators"), genesis_set);

        // The boundary block activates it for epoch 1.
        assert_eq!(chain.height(), last_height_of_epoch(0));
        assert_eq!(chain.height(), EPOCH_LENGTH - 1);
        assert_eq!(
            chain.end_block(),
            vec![Event::ValidatorsActivated { epoch: 1, count: 2 }]
        );
        assert_eq!(validators(&chain.state).expect("validators"), next);
        assert_eq!(pending_validators(&chain.state).expect("pending"), None);
        assert_eq!(epoch_of(EPOCH_LENGTH), 1);
        assert_eq!(epoch_of(EPOCH_LENGTH - 1), 0);
    }

    // The envelope tests check raw envelopes (forged, foreign, early, expired, cheap, unfunded,
    // oversized, replayed) with `check_envelope`: `TestChain::apply` builds only valid ones and
    // panics on a refused envelope. The chain still comes from `TestChain`.

    #[test]
    fn envelope_checks_each_rule() {
        let mut chain = TestChain::new();
        let alice = key("alice");
        let ok = chain.tx(&alice, transfer_to("bob", 1));
        let (state, ctx) = (&chain.state, &chain.ctx);
        assert!(check_envelope(state, ctx, &ok).is_ok());

        let mut forged = ok.clone();
        forged.signature[0] ^= 1;
        assert_eq!(
            check_envelope(state, ctx, &forged),
            Err(TxError::BadSignature)
        );

        let other_chain = BlockContext {
            genesis_hash: phalanx_primitives::Hash::of(b"x"),
            ..*ctx
        };
        assert_eq!(
            check_envelope(state, &other_chain, &ok),
            Err(TxError::BadSignature)
        );

        let future = signed(&alice, 1, transfer_to("bob", 1), ctx);
        assert_eq!(
            check_envelope(state, ctx, &future),
            Err(TxError::FutureNonce {
                got: 1,
                expected: 0
            })
        );
        assert!(check_envelope_with(
            state,
            ctx,
            &future,
            NonceCheck::AllowFuture(4),
            SignatureCheck::Verify
        )
        .is_ok());

        let mut expired = ok.tx.clone();
        expired.expires_at = ctx.height - 1;
        let expired = expired.sign(&alice, &ctx.genesis_hash);
        assert!(matches!(
            check_envelope(state, ctx, &expired),
            Err(TxError::Expired { .. })
        ));

        let mut cheap = ok.tx.clone();
        cheap.fee = 1;
        let cheap = cheap.sign(&alice, &ctx.genesis_hash);
        assert!(matches!(
            check_envelope(state, ctx, &cheap),
            Err(TxError::FeeTooLow { .. })
        ));

        let pauper = phalanx_primitives::Keypair::from_secret([42; 32]);
        let broke = signed(&pauper, 0, transfer_to("bob", 1), ctx);
        assert!(matches!(
            check_envelope(state, ctx, &broke),
            Err(TxError::CannotPayFee { free: 0, .. })
        ));
    }

    #[test]
    fn oversized_transactions_are_refused() {
        let mut chain = TestChain::new();
        // A lower limit straight in state (governance's path to it has its own tests).
        let mut params = params(&chain.state).expect("params");
        params.max_tx_bytes = 100;
        set_params(&mut chain.state, &params);
        let big = chain.tx(&key("alice"), transfer_to("bob", 1));
        assert!(matches!(
            check_envelope(&chain.state, &chain.ctx, &big),
            Err(TxError::TooLarge { max: 100, .. })
        ));
    }

    #[test]
    fn a_reused_nonce_is_stale_after_inclusion() {
        let mut chain = TestChain::new();
        let tx = chain.tx(&key("alice"), transfer_to("bob", 1));
        chain.apply_tx(&tx);
        assert_eq!(
            check_envelope(&chain.state, &chain.ctx, &tx),
            Err(TxError::StaleNonce {
                got: 0,
                expected: 1
            })
        );
        chain.end_block();
    }
}
