//! Staking: validators bond PHA, and stored equivocation evidence slashes it (DESIGN.md §6).
//!
//! A validator signs transactions with its consensus key, so its bond belongs to the account
//! whose bytes are that key ([`StakingCall::Bond`] from `phalanx stake bond --from <validator
//! key file>`). Bonded PHA is held as [`HoldReason::ValidatorBond`]. [`StakingCall::Unbond`]
//! is refused while the key is in the validator set or the scheduled next one (a validator
//! leaves the set before its bond leaves), and starts a chunk on its way out: still held (and
//! slashable) for `unbonding_ms` of chain time and at least two epochs of blocks (the evidence
//! window, whatever block time does), then released by the end-of-block hook (at most [`RELEASES_PER_BLOCK`] a block, oldest
//! first). Any account may bond; a bond matters once governance makes its key a validator, and
//! governance sees every bond when it chooses (`phalanx stake info`).
//!
//! When [`crate::evidence`] stores a new fault (two conflicting signed votes), the validator
//! loses `equivocation_slash_per_mille` of its bond, bonded part first, then the newest
//! unbonding chunks, to the treasury ([`Event::ValidatorSlashed`]). Each stored fault slashes
//! once (evidence is stored once per validator, epoch, view and kind).
//!
//! Storage keys: `staking/params` → [`StakingParams`]; `staking/bond/<account>` → [`Bond`]
//! (absent when nothing is bonded or unbonding); `staking/release/<release_at_ms BE><account>`
//! → `()`, the release queue.

use crate::balances::{self, BalancesError, HoldReason};
use crate::events::Event;
use crate::genesis::{GenesisConfig, GenesisError};
use crate::invariants::InvariantError;
use crate::module::{ErrorCodes, Module};
use crate::{system, treasury, BlockContext, DispatchResult};
use parity_scale_codec::Decode;
use phalanx_primitives::call::StakingCall;
use phalanx_primitives::staking::{Bond, StakingParams, Unbonding, MAX_UNBONDING_CHUNKS};
use phalanx_primitives::{AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};

const PARAMS: &[u8] = b"staking/params";
const BOND_PREFIX: &[u8] = b"staking/bond/";
const RELEASE_PREFIX: &[u8] = b"staking/release/";

/// Most release-queue entries handled in one block.
pub const RELEASES_PER_BLOCK: usize = 256;

/// Why a staking call failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum StakingError {
    /// Zero of something that must be positive.
    #[error("the amount must be positive")]
    ZeroAmount,
    /// Less is bonded than the unbond asks for.
    #[error("{bonded} units are bonded, fewer than the {needed} asked for")]
    InsufficientBond {
        /// Units bonded.
        bonded: Balance,
        /// Units asked for.
        needed: Balance,
    },
    /// Too many chunks are unbonding already.
    #[error(
        "{MAX_UNBONDING_CHUNKS} unbonding chunks wait already; unbond again once one is released"
    )]
    TooManyUnbonding,
    /// The key is in the validator set (or the next one): its bond stays until it leaves.
    #[error("this key validates (or is about to): its bond can unbond once governance has taken it out of the validator set")]
    StillValidating,
    /// A balances operation failed.
    #[error(transparent)]
    Funds(#[from] BalancesError),
    /// Corrupted state.
    #[error("corrupted staking state: {0}")]
    Corrupted(String),
}

impl ErrorCodes for StakingError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("zero_amount", "the amount must be positive"),
        (
            "insufficient_bond",
            "less is bonded than the unbond asks for",
        ),
        (
            "too_many_unbonding",
            "too many chunks are unbonding already",
        ),
        (
            "still_validating",
            "the key is in the validator set or the next one",
        ),
        ("funds", "not enough PHA"),
        ("corrupted", "the staking state could not be decoded"),
    ];

    fn code(&self) -> &'static str {
        match self {
            StakingError::ZeroAmount => "zero_amount",
            StakingError::InsufficientBond { .. } => "insufficient_bond",
            StakingError::TooManyUnbonding => "too_many_unbonding",
            StakingError::StillValidating => "still_validating",
            // Receipts record the balances module's own code (`DispatchError::code`).
            StakingError::Funds(_) => "funds",
            StakingError::Corrupted(_) => "corrupted",
        }
    }
}

impl From<CodecError> for StakingError {
    fn from(e: CodecError) -> Self {
        StakingError::Corrupted(e.to_string())
    }
}

/// The storage key of `who`'s bond.
pub fn bond_key(who: &AccountId) -> Vec<u8> {
    [BOND_PREFIX, who.as_bytes()].concat()
}

fn release_key(release_at_ms: u64, who: &AccountId) -> Vec<u8> {
    [RELEASE_PREFIX, &release_at_ms.to_be_bytes(), who.as_bytes()].concat()
}

/// The staking parameters (the defaults if never set).
pub fn params(state: &State) -> Result<StakingParams, CodecError> {
    Ok(state.get_decoded(PARAMS)?.unwrap_or_default())
}

/// Stores the staking parameters (bounds are checked by the caller).
pub fn set_params(state: &mut State, params: &StakingParams) {
    state.put(PARAMS.to_vec(), params);
}

/// Checks that each key of a validator set about to be scheduled has at least
/// `min_validator_bond` bonded on its account (unbonding chunks don't count: they are leaving).
pub fn check_validator_bonds(
    state: &State,
    keys: &[[u8; 32]],
) -> Result<(), crate::governance::GovernanceError> {
    let needed = params(state)?.min_validator_bond;
    for (index, key) in keys.iter().enumerate() {
        let bonded = bond(state, &AccountId(*key))?.bonded;
        if bonded < needed {
            return Err(crate::governance::GovernanceError::ValidatorBondTooLow {
                index,
                bonded,
                needed,
            });
        }
    }
    Ok(())
}

/// `who`'s bond (empty if none).
pub fn bond(state: &State, who: &AccountId) -> Result<Bond, CodecError> {
    Ok(state.get_decoded(&bond_key(who))?.unwrap_or_default())
}

/// Every bond, by account.
pub fn bonds(state: &State) -> Result<Vec<(AccountId, Bond)>, CodecError> {
    state
        .scan_prefix(BOND_PREFIX)
        .map(|(key, value)| {
            let account: [u8; 32] = key[BOND_PREFIX.len()..]
                .try_into()
                .map_err(|_| CodecError::Malformed("bond key".into()))?;
            let bond = Bond::decode(&mut value.as_slice())
                .map_err(|e| CodecError::Malformed(e.to_string()))?;
            Ok((AccountId(account), bond))
        })
        .collect()
}

/// Units held as validator bonds (bonded and unbonding), for the reserved-balance invariant.
pub fn reserved_total(state: &State) -> Result<Balance, CodecError> {
    Ok(bonds(state)?.iter().map(|(_, b)| b.total()).sum())
}

fn store(state: &mut State, who: &AccountId, bond: &Bond) {
    if bond.bonded == 0 && bond.unbonding.is_empty() {
        state.remove(&bond_key(who));
    } else {
        state.put(bond_key(who), bond);
    }
}

pub(crate) fn bond_more(
    state: &mut State,
    who: &AccountId,
    amount: Balance,
    events: &mut Vec<Event>,
) -> Result<(), StakingError> {
    if amount == 0 {
        return Err(StakingError::ZeroAmount);
    }
    balances::hold(state, who, HoldReason::ValidatorBond, amount)?;
    let mut bond = bond(state, who)?;
    bond.bonded = bond.bonded.saturating_add(amount);
    store(state, who, &bond);
    events.push(Event::ValidatorBonded {
        who: *who,
        amount,
        bonded: bond.bonded,
    });
    Ok(())
}

fn unbond(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    amount: Balance,
    events: &mut Vec<Event>,
) -> Result<(), StakingError> {
    if amount == 0 {
        return Err(StakingError::ZeroAmount);
    }
    let mut bond = bond(state, who)?;
    if bond.bonded < amount {
        return Err(StakingError::InsufficientBond {
            bonded: bond.bonded,
            needed: amount,
        });
    }
    if bond.unbonding.len() >= MAX_UNBONDING_CHUNKS {
        return Err(StakingError::TooManyUnbonding);
    }
    let scheduled = system::pending_validators(state)?.unwrap_or_default();
    if system::validators(state)?.contains(&who.0) || scheduled.contains(&who.0) {
        return Err(StakingError::StillValidating);
    }
    let release_at_ms = ctx.timestamp_ms.saturating_add(params(state)?.unbonding_ms);
    bond.bonded -= amount;
    bond.unbonding.push(Unbonding {
        release_at_ms,
        // Evidence is taken for the current epoch and the one before: two epochs from now,
        // nothing it signed while in a set can still be reported.
        release_at_height: ctx.height.saturating_add(2 * system::EPOCH_LENGTH),
        amount,
    });
    store(state, who, &bond);
    state.put(release_key(release_at_ms, who), &());
    events.push(Event::ValidatorUnbonding {
        who: *who,
        amount,
        release_at_ms,
    });
    Ok(())
}

/// Slashes the validator with consensus key `validator` for one stored fault (see the module
/// docs); nothing happens when it has no bond.
pub fn slash_equivocation(
    state: &mut State,
    validator: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result<(), StakingError> {
    let who = AccountId(*validator);
    let mut bond = bond(state, &who)?;
    let per_mille = u128::from(params(state)?.equivocation_slash_per_mille.min(1000));
    let mut left = bond.total().saturating_mul(per_mille) / 1000;
    let amount = left;
    if amount == 0 {
        return Ok(());
    }
    let from_bonded = left.min(bond.bonded);
    bond.bonded -= from_bonded;
    left -= from_bonded;
    for chunk in bond.unbonding.iter_mut().rev() {
        let taken = left.min(chunk.amount);
        chunk.amount -= taken;
        left -= taken;
    }
    bond.unbonding.retain(|chunk| chunk.amount > 0);
    bond.slashed = bond.slashed.saturating_add(amount);
    balances::slash_held(
        state,
        &who,
        HoldReason::ValidatorBond,
        &treasury::account(),
        amount,
    )?;
    store(state, &who, &bond);
    events.push(Event::ValidatorSlashed {
        validator: *validator,
        amount,
    });
    Ok(())
}

/// Releases the unbonding chunks due by `ctx`'s time, oldest first, a bounded number a block.
fn release_due(state: &mut State, ctx: &BlockContext, events: &mut Vec<Event>) {
    let at = RELEASE_PREFIX.len() + 8;
    let due = state.due_keys(RELEASE_PREFIX, ctx.timestamp_ms, RELEASES_PER_BLOCK);
    for key in due {
        // Each entry on its own checkpoint: one that fails (corrupted state) is dropped with an
        // event, and the rest of the queue still moves.
        match crate::module::all_or_nothing(state, |state, effects| {
            release_one(state, ctx, &key, at, effects)
        }) {
            Ok(mut effects) => events.append(&mut effects),
            Err(error) => {
                state.remove(&key);
                events.push(Event::StakingHookFailed { error });
            }
        }
    }
}

/// Releases the due chunks of the account of release-queue entry `key`.
fn release_one(
    state: &mut State,
    ctx: &BlockContext,
    key: &[u8],
    at: usize,
    events: &mut Vec<Event>,
) -> Result<(), StakingError> {
    state.remove(key);
    let account: [u8; 32] = key[at..]
        .try_into()
        .map_err(|_| StakingError::Corrupted("release key".into()))?;
    let who = AccountId(account);
    let mut bond = bond(state, &who)?;
    let due =
        |c: &Unbonding| c.release_at_ms <= ctx.timestamp_ms && c.release_at_height <= ctx.height;
    let amount: Balance = bond
        .unbonding
        .iter()
        .filter(|c| due(c))
        .map(|c| c.amount)
        .sum();
    bond.unbonding.retain(|c| !due(c));
    // A chunk whose time came before its height (block time jumped) waits a little longer.
    for chunk in &mut bond.unbonding {
        if chunk.release_at_ms <= ctx.timestamp_ms {
            chunk.release_at_ms = ctx.timestamp_ms.saturating_add(1_000);
            state.put(release_key(chunk.release_at_ms, &who), &());
        }
    }
    if amount > 0 {
        balances::release(state, &who, HoldReason::ValidatorBond, amount)?;
        events.push(Event::ValidatorUnbonded { who, amount });
    }
    store(state, &who, &bond);
    Ok(())
}

/// The staking module.
#[derive(Debug)]
pub struct Staking;

impl Module for Staking {
    const NAME: &'static str = "staking";
    const STORAGE_PREFIX: &'static str = "staking/";
    type Call = StakingCall;
    type Error = StakingError;

    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &StakingCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            StakingCall::Bond { amount } => bond_more(state, who, *amount, events)?,
            StakingCall::Unbond { amount } => unbond(state, ctx, who, *amount, events)?,
        }
        Ok(())
    }

    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        set_params(state, &config.staking);
        Ok(())
    }

    /// Releases due unbonding chunks; a failing entry (corrupted state) is an event, never a
    /// failed block.
    fn on_block_end(
        state: &mut State,
        ctx: &BlockContext,
        _privileged: crate::module::PrivilegedExecutor,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        release_due(state, ctx, &mut events);
        events
    }

    /// Each bond is exactly what its account holds as `ValidatorBond`, and every unbonding
    /// chunk has its release-queue entry.
    fn check_invariants(state: &State) -> Result<(), InvariantError> {
        let unreadable = |e: CodecError| InvariantError::Unreadable(e.to_string());
        for (who, bond) in bonds(state).map_err(unreadable)? {
            let held =
                balances::held(state, &who, HoldReason::ValidatorBond).map_err(unreadable)?;
            if held != bond.total() {
                return Err(InvariantError::Inconsistent {
                    module: Self::NAME,
                    detail: format!(
                        "{who} holds {held} as a validator bond but its bond is {}",
                        bond.total()
                    ),
                });
            }
            for chunk in &bond.unbonding {
                let release = &chunk.release_at_ms;
                if state.get(&release_key(*release, &who)).is_none() {
                    return Err(InvariantError::Inconsistent {
                        module: Self::NAME,
                        detail: format!("{who}'s chunk released at {release} is not queued"),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::testing::{code, key, TestChain};
    use phalanx_primitives::call::{Call, PrivilegedCall, RootCall};
    use phalanx_primitives::PHA;

    fn stake(call: StakingCall) -> Call {
        Call::Staking(call)
    }

    #[test]
    fn bond_unbond_and_release_after_the_unbonding_period() {
        let mut chain = TestChain::new();
        let bob = key("bob");
        let receipt = chain.call(&bob, stake(StakingCall::Bond { amount: 500 * PHA }));
        assert_eq!(receipt.error, None);
        assert_eq!(
            bond(&chain.state, &bob.account()).unwrap().bonded,
            500 * PHA
        );
        assert_eq!(
            balances::held(&chain.state, &bob.account(), HoldReason::ValidatorBond).unwrap(),
            500 * PHA
        );
        let receipt = chain.call(&bob, stake(StakingCall::Unbond { amount: 501 * PHA }));
        assert_eq!(
            receipt.error,
            Some(code(StakingError::InsufficientBond {
                bonded: 500 * PHA,
                needed: 501 * PHA
            }))
        );
        let receipt = chain.call(&bob, stake(StakingCall::Unbond { amount: 200 * PHA }));
        assert_eq!(receipt.error, None);
        let free = balances::account(&chain.state, &bob.account())
            .unwrap()
            .free;
        // The dev unbonding period is a minute of chain time (1 s blocks), and a chunk also
        // waits two epochs of blocks (128) for late evidence: not after a minute alone.
        chain.run_blocks(70);
        assert_eq!(
            balances::account(&chain.state, &bob.account())
                .unwrap()
                .free,
            free
        );
        chain.run_blocks(60);
        assert_eq!(
            balances::account(&chain.state, &bob.account())
                .unwrap()
                .free,
            free + 200 * PHA
        );
        let bond = bond(&chain.state, &bob.account()).unwrap();
        assert_eq!((bond.bonded, bond.unbonding.len()), (300 * PHA, 0));
        assert!(chain.block_events.contains(&Event::ValidatorUnbonded {
            who: bob.account(),
            amount: 200 * PHA
        }));
        let receipt = chain.call(&bob, stake(StakingCall::Bond { amount: 0 }));
        assert_eq!(receipt.error, Some(code(StakingError::ZeroAmount)));
    }

    #[test]
    fn a_validator_cannot_unbond_while_in_the_set() {
        let mut chain = TestChain::new();
        let validator = key("validator");
        chain.call(
            &key("bob"),
            crate::testing::transfer_to("validator", 1_000 * PHA),
        );
        assert_eq!(
            chain
                .call(&validator, stake(StakingCall::Bond { amount: 500 * PHA }))
                .error,
            None
        );
        let receipt = chain.call(&validator, stake(StakingCall::Unbond { amount: PHA }));
        assert_eq!(receipt.error, Some(code(StakingError::StillValidating)));
        assert_eq!(
            bond(&chain.state, &validator.account()).unwrap().bonded,
            500 * PHA
        );
    }

    #[test]
    fn a_fault_slashes_the_bond_then_the_newest_unbonding_chunks() {
        let mut chain = TestChain::new();
        let bob = key("bob");
        chain.call(
            &bob,
            stake(StakingCall::Bond {
                amount: 1_000 * PHA,
            }),
        );
        chain.call(&bob, stake(StakingCall::Unbond { amount: 950 * PHA }));
        // Half of everything, 500 PHA: the 50 bonded, then 450 of the unbonding chunk.
        let mut params = params(&chain.state).unwrap();
        params.equivocation_slash_per_mille = 500;
        let receipt = chain.call(
            &key("alice"),
            Call::Root(RootCall::Dispatch(PrivilegedCall::SetStakingParams(params))),
        );
        assert_eq!(receipt.error, None);
        let treasury = balances::account(&chain.state, &treasury::account())
            .unwrap()
            .free;
        chain.begin();
        let mut events = Vec::new();
        slash_equivocation(&mut chain.state, &bob.account().0, &mut events).unwrap();
        let bond = bond(&chain.state, &bob.account()).unwrap();
        assert_eq!(bond.bonded, 0);
        assert_eq!(bond.unbonding[0].amount, 500 * PHA);
        assert_eq!(bond.slashed, 500 * PHA);
        assert_eq!(
            balances::account(&chain.state, &treasury::account())
                .unwrap()
                .free,
            treasury + 500 * PHA
        );
        assert_eq!(
            events,
            vec![Event::ValidatorSlashed {
                validator: bob.account().0,
                amount: 500 * PHA
            }]
        );
        // Without a bond a fault slashes nothing.
        let mut events = Vec::new();
        slash_equivocation(&mut chain.state, &key("eve").account().0, &mut events).unwrap();
        assert!(events.is_empty());
        chain.end_block();
    }

    #[test]
    fn at_most_sixteen_chunks_unbond_at_once() {
        let mut chain = TestChain::new();
        let bob = key("bob");
        chain.call(&bob, stake(StakingCall::Bond { amount: 100 * PHA }));
        for _ in 0..MAX_UNBONDING_CHUNKS {
            let receipt = chain.apply(&bob, stake(StakingCall::Unbond { amount: PHA }));
            assert_eq!(receipt.error, None);
        }
        let receipt = chain.apply(&bob, stake(StakingCall::Unbond { amount: PHA }));
        assert_eq!(receipt.error, Some(code(StakingError::TooManyUnbonding)));
        chain.end_block();
    }

    #[test]
    fn a_validator_set_names_only_keys_with_the_least_bond() {
        let mut chain = TestChain::new();
        let (alice, bob, charlie) = (key("alice"), key("bob"), key("charlie"));
        let root = |call| Call::Root(RootCall::Dispatch(call));
        let mut params = params(&chain.state).unwrap();
        assert_eq!(params.min_validator_bond, 0, "none on a dev chain");
        params.min_validator_bond = crate::params::MAX_MIN_VALIDATOR_BOND + 1;
        let receipt = chain.call(
            &alice,
            root(PrivilegedCall::SetStakingParams(params.clone())),
        );
        assert_eq!(
            receipt.error,
            Some(code(crate::params::ParamsError::OutOfBounds {
                param: crate::params::Param::StakingMinValidatorBond,
                value: crate::params::MAX_MIN_VALIDATOR_BOND + 1,
                min: 0,
                max: crate::params::MAX_MIN_VALIDATOR_BOND,
            }))
        );
        params.min_validator_bond = 1_000 * PHA;
        let receipt = chain.call(&alice, root(PrivilegedCall::SetStakingParams(params)));
        assert_eq!(receipt.error, None);
        let set = vec![bob.account().0, charlie.account().0];
        let set_validators = |chain: &mut TestChain| {
            chain.call(&alice, root(PrivilegedCall::SetValidators(set.clone())))
        };
        // Nobody has bonded.
        let too_low = |index, bonded| {
            Some(code(
                crate::governance::GovernanceError::ValidatorBondTooLow {
                    index,
                    bonded,
                    needed: 1_000 * PHA,
                },
            ))
        };
        assert_eq!(set_validators(&mut chain).error, too_low(0, 0));
        for who in [&bob, &charlie] {
            let bonded = chain.call(
                who,
                stake(StakingCall::Bond {
                    amount: 1_000 * PHA,
                }),
            );
            assert_eq!(bonded.error, None);
        }
        // PHA on its way out doesn't count: charlie unbonds one.
        let receipt = chain.call(&charlie, stake(StakingCall::Unbond { amount: PHA }));
        assert_eq!(receipt.error, None);
        assert_eq!(set_validators(&mut chain).error, too_low(1, 999 * PHA));
        assert_eq!(system::pending_validators(&chain.state).unwrap(), None);
        let receipt = chain.call(&charlie, stake(StakingCall::Bond { amount: PHA }));
        assert_eq!(receipt.error, None);
        assert_eq!(set_validators(&mut chain).error, None);
        // Named, their bonds stay until they leave the set.
        let receipt = chain.call(&bob, stake(StakingCall::Unbond { amount: PHA }));
        assert_eq!(receipt.error, Some(code(StakingError::StillValidating)));
    }
}
