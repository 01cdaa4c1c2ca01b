//! Balances: every account's PHA, split into free and reserved (held by a module for a named
//! purpose), with part of it possibly *frozen*: locked behind open governance votes, or not yet
//! vested.
//!
//! Rules: only free PHA moves or pays fees, and only the part of it that is not frozen
//! ([`spendable`]); holding moves PHA from free to reserved and releasing moves it back;
//! nothing here creates PHA except [`mint`], which genesis alone calls and which refuses to take
//! total issuance past [`MAX_SUPPLY`]. An account with nothing free, reserved or locked is
//! deleted.
//!
//! Freezing: frozen PHA is `max(vote locks, unclaimed vesting)` (a vote may use vesting PHA). It
//! never leaves its owner: it can back stake held on the owner's own account (the holds for
//! which [`HoldReason::may_be_frozen`]: a validator bond, a gatekeeper stake) and votes, but not a transfer, a fee, a deposit or gas (which are paid out to others), nor a
//! stake-pool contribution (which moves PHA to the pool's account). So
//! `spendable = free − max(0, frozen − stake held)`. A vote lock does not move PHA: an account
//! may vote with its free PHA and its stake together (`locked ≤ free + stake`), so staked PHA
//! votes. A slash can leave more frozen than the account holds; it then spends nothing until
//! the locks end or vesting is claimed.
//!
//! Reserved PHA is always held for a named purpose ([`HoldReason`]): one account's PHA can
//! be held for several purposes at once, each released or slashed only by its own rule, and
//! the reserved part is exactly the sum of its holds (an invariant).
//!
//! Vesting: an allocation the genesis config vests stays in its owner's free PHA, frozen by a
//! [`VestingSchedule`] until its owner claims what has vested (`BalancesCall::ClaimVested`):
//! vested-but-unclaimed and still-vesting PHA can bond and vote, not move.
//!
//! Storage keys: `balances/account/<account>` → [`AccountData`], `balances/issuance` → u128,
//! `balances/hold/<account><reason byte>` → u128 (absent when zero),
//! `balances/vesting/<account>` → [`VestingSchedule`] (removed once all of it is claimed).

use crate::events::Event;
use crate::genesis::{self, GenesisConfig, GenesisError};
use crate::invariants::InvariantError;
use crate::module::{ErrorCodes, Module};
use crate::{BlockContext, DispatchResult};
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::{
    call::BalancesCall, AccountId, Balance, CodecError, Keypair, MAX_SUPPLY, PHA,
};
use phalanx_state::{State, StateExt};
use serde::Serialize;

const ACCOUNT_PREFIX: &[u8] = b"balances/account/";
const ISSUANCE: &[u8] = b"balances/issuance";
const HOLD_PREFIX: &[u8] = b"balances/hold/";
const VESTING_PREFIX: &[u8] = b"balances/vesting/";

const MS_PER_DAY: u64 = 24 * 60 * 60 * 1000;

/// An allocation vesting on one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct VestingSchedule {
    /// Units that vest in all.
    pub total: Balance,
    /// Units claimed so far.
    pub claimed: Balance,
    /// When vesting starts (the genesis time, ms).
    pub start_ms: u64,
    /// Nothing can be claimed before this time (ms).
    pub cliff_ms: u64,
    /// Everything has vested at this time (ms).
    pub end_ms: u64,
}

impl VestingSchedule {
    /// Units vested at `now_ms`: none before the cliff, then the share of the time from start
    /// to end that has passed (rounded down), and all of it from the end.
    pub fn vested_at(&self, now_ms: u64) -> Balance {
        if now_ms < self.cliff_ms {
            return 0;
        }
        if now_ms >= self.end_ms || self.end_ms <= self.start_ms {
            return self.total;
        }
        let elapsed = Balance::from(now_ms.saturating_sub(self.start_ms));
        let span = Balance::from(self.end_ms - self.start_ms);
        // total ≤ 10²¹ and span < 2⁶⁴, so the product fits u128; checked anyway.
        self.total
            .checked_mul(elapsed)
            .map_or(self.total, |product| product / span)
    }
}

fn vesting_key(who: &AccountId) -> Vec<u8> {
    [VESTING_PREFIX, who.as_bytes()].concat()
}

/// `who`'s vesting schedule, if it has one.
pub fn vesting(state: &State, who: &AccountId) -> Result<Option<VestingSchedule>, CodecError> {
    state.get_decoded(&vesting_key(who))
}

/// Units of `who`'s vesting allocation not claimed yet (frozen).
pub fn unclaimed_vesting(state: &State, who: &AccountId) -> Result<Balance, CodecError> {
    Ok(vesting(state, who)?.map_or(0, |s| s.total.saturating_sub(s.claimed)))
}

/// Freezes all of `who`'s `amount` (already minted, free) as vesting on `terms`, from
/// `start_ms`.
fn start_vesting(
    state: &mut State,
    who: &AccountId,
    amount: Balance,
    start_ms: u64,
    terms: &genesis::VestingTerms,
) -> Result<(), BalancesError> {
    let at = |days: u32| start_ms.saturating_add(u64::from(days).saturating_mul(MS_PER_DAY));
    state.put(
        vesting_key(who),
        &VestingSchedule {
            total: amount,
            claimed: 0,
            start_ms,
            cliff_ms: at(terms.cliff_days),
            end_ms: at(terms.duration_days),
        },
    );
    Ok(())
}

/// Unfreezes what has vested of `who`'s schedule by `now_ms` and not been claimed; the units
/// released and those still vesting.
pub fn claim_vested(
    state: &mut State,
    who: &AccountId,
    now_ms: u64,
) -> Result<(Balance, Balance), BalancesError> {
    let mut schedule = vesting(state, who)?.ok_or(BalancesError::NothingVesting)?;
    let claimable = schedule.vested_at(now_ms).saturating_sub(schedule.claimed);
    if claimable == 0 {
        return Err(BalancesError::NothingVestedYet {
            next_ms: schedule.cliff_ms.max(now_ms.saturating_add(1)),
        });
    }
    schedule.claimed = schedule.claimed.saturating_add(claimable);
    let still = schedule.total.saturating_sub(schedule.claimed);
    if still == 0 {
        state.remove(&vesting_key(who));
    } else {
        state.put(vesting_key(who), &schedule);
    }
    Ok((claimable, still))
}

/// What held PHA is held for. Chain-visible (its index is a storage key byte): variants only
/// grow at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// A governance proposal's deposit, until the proposal ends.
    ProposalDeposit,
    /// A contract command's gas limit × price, until its result is reported.
    ContractGas,
    /// A client's query deposit with the contracts module.
    QueryDeposit,
    /// A gatekeeper's stake, bonded or unbonding.
    GatekeeperStake,
    /// A worker's own stake.
    WorkerStake,
    /// Stake contributed to a stake pool.
    PoolStake,
    /// Stake leaving a pool or a worker, until its unbonding period ends.
    Unbonding,
    /// A validator's bond, bonded or unbonding ([`crate::staking`]).
    ValidatorBond,
}

impl HoldReason {
    /// Every reason, in index order.
    pub const ALL: [HoldReason; 8] = [
        HoldReason::ProposalDeposit,
        HoldReason::ContractGas,
        HoldReason::QueryDeposit,
        HoldReason::GatekeeperStake,
        HoldReason::WorkerStake,
        HoldReason::PoolStake,
        HoldReason::Unbonding,
        HoldReason::ValidatorBond,
    ];

    /// Whether frozen PHA (vote locks, vesting) may be held for it: stake on the owner's own
    /// account that only a release to the owner or a slash to the treasury takes away (a
    /// gatekeeper stake, a validator bond). Deposits and gas are paid out to others, so they
    /// need spendable PHA; worker stake sits on pool accounts, which nobody can freeze.
    pub fn may_be_frozen(self) -> bool {
        matches!(
            self,
            HoldReason::GatekeeperStake | HoldReason::ValidatorBond
        )
    }

    /// Its storage key byte.
    pub fn index(self) -> u8 {
        self as u8
    }

    fn from_index(index: u8) -> Option<Self> {
        HoldReason::ALL.get(usize::from(index)).copied()
    }

    /// Its name as the chain's JSON and errors spell it.
    pub fn name(self) -> &'static str {
        match self {
            HoldReason::ProposalDeposit => "proposal_deposit",
            HoldReason::ContractGas => "contract_gas",
            HoldReason::QueryDeposit => "query_deposit",
            HoldReason::GatekeeperStake => "gatekeeper_stake",
            HoldReason::WorkerStake => "worker_stake",
            HoldReason::PoolStake => "pool_stake",
            HoldReason::Unbonding => "unbonding",
            HoldReason::ValidatorBond => "validator_bond",
        }
    }
}

/// Why a balances operation failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum BalancesError {
    /// Not enough free PHA.
    #[error("not enough free balance: {free} units free, {needed} needed")]
    InsufficientFree {
        /// Free units.
        free: Balance,
        /// Units needed.
        needed: Balance,
    },
    /// Not enough reserved PHA to release or slash.
    #[error("not enough reserved balance: {reserved} units reserved, {needed} needed")]
    InsufficientReserved {
        /// Reserved units.
        reserved: Balance,
        /// Units needed.
        needed: Balance,
    },
    /// Not enough locked PHA to unlock.
    #[error("not enough locked balance: {locked} units locked, {needed} needed")]
    InsufficientLocked {
        /// Locked units.
        locked: Balance,
        /// Units needed.
        needed: Balance,
    },
    /// Minting would take total issuance past the maximum supply.
    #[error("minting {amount} units would exceed the maximum supply of 1,000,000,000 PHA")]
    ExceedsMaxSupply {
        /// Units asked for.
        amount: Balance,
    },
    /// A transfer of nothing.
    #[error("transfer amount must be greater than zero")]
    ZeroAmount,
    /// A balance would overflow u128 (cannot happen under the supply cap; refused anyway).
    #[error("balance overflow")]
    Overflow,
    /// The stored state could not be decoded.
    #[error("corrupted balances state: {0}")]
    Corrupted(String),
    /// The account has no vesting allocation (or has claimed all of it).
    #[error("this account has nothing vesting")]
    NothingVesting,
    /// Nothing more has vested since the last claim.
    #[error("nothing more has vested yet; the next units vest at {next_ms} ms")]
    NothingVestedYet {
        /// When more vests (the cliff, or the next millisecond).
        next_ms: u64,
    },
    /// Less held for this purpose than a release or slash asks for.
    #[error("not enough held as {}: {held} units held, {needed} needed", reason.name())]
    InsufficientHeld {
        /// The hold.
        reason: HoldReason,
        /// Units held for it.
        held: Balance,
        /// Units needed.
        needed: Balance,
    },
    /// Enough free PHA, but part of it is frozen by votes or vesting.
    #[error("only {spendable} of the free units can be spent, {needed} needed: the rest is frozen by open votes or unclaimed vesting")]
    Frozen {
        /// Units that can leave the account.
        spendable: Balance,
        /// Units needed.
        needed: Balance,
    },
    /// Not enough free PHA and stake to back another vote.
    #[error("not enough PHA to vote with: {available} units of free PHA and stake are not behind a vote, {needed} needed")]
    CannotVote {
        /// Free and staked units not yet locked by a vote.
        available: Balance,
        /// Units needed.
        needed: Balance,
    },
}

impl ErrorCodes for BalancesError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("insufficient_free", "not enough free balance"),
        ("insufficient_reserved", "not enough reserved balance"),
        ("insufficient_locked", "not enough locked balance"),
        (
            "exceeds_max_supply",
            "minting would exceed the maximum supply",
        ),
        ("zero_amount", "the amount must be greater than zero"),
        ("overflow", "a balance would overflow"),
        ("corrupted", "the balances state could not be decoded"),
        (
            "insufficient_held",
            "less is held for that purpose than needed",
        ),
        ("nothing_vesting", "the account has nothing vesting"),
        (
            "nothing_vested_yet",
            "nothing more has vested since the last claim",
        ),
        (
            "frozen",
            "the free PHA needed is frozen by votes or vesting",
        ),
        (
            "cannot_vote",
            "not enough free PHA and stake outside other votes",
        ),
    ];

    fn code(&self) -> &'static str {
        match self {
            BalancesError::InsufficientFree { .. } => "insufficient_free",
            BalancesError::InsufficientReserved { .. } => "insufficient_reserved",
            BalancesError::InsufficientLocked { .. } => "insufficient_locked",
            BalancesError::ExceedsMaxSupply { .. } => "exceeds_max_supply",
            BalancesError::ZeroAmount => "zero_amount",
            BalancesError::Overflow => "overflow",
            BalancesError::Corrupted(_) => "corrupted",
            BalancesError::InsufficientHeld { .. } => "insufficient_held",
            BalancesError::NothingVesting => "nothing_vesting",
            BalancesError::NothingVestedYet { .. } => "nothing_vested_yet",
            BalancesError::Frozen { .. } => "frozen",
            BalancesError::CannotVote { .. } => "cannot_vote",
        }
    }
}

impl From<CodecError> for BalancesError {
    fn from(e: CodecError) -> Self {
        BalancesError::Corrupted(e.to_string())
    }
}

/// An account's PHA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct AccountData {
    /// Units not held by a module (some may be frozen: see [`spendable`]).
    pub free: Balance,
    /// Units held by modules, the sum of the account's holds.
    pub reserved: Balance,
    /// Units behind open governance votes: a freeze over free PHA and stake, not units of their
    /// own (so not part of [`AccountData::total`]).
    pub locked: Balance,
}

impl AccountData {
    /// All the account's units.
    pub fn total(&self) -> Balance {
        self.free.saturating_add(self.reserved)
    }
}

/// The storage key of `who`'s balance.
pub fn account_key(who: &AccountId) -> Vec<u8> {
    [ACCOUNT_PREFIX, who.as_bytes()].concat()
}

/// `who`'s balance (zero if unknown).
pub fn account(state: &State, who: &AccountId) -> Result<AccountData, CodecError> {
    Ok(state.get_decoded(&account_key(who))?.unwrap_or_default())
}

fn set_account(state: &mut State, who: &AccountId, data: AccountData) {
    if data.total() == 0 && data.locked == 0 {
        state.remove(&account_key(who));
    } else {
        state.put(account_key(who), &data);
    }
}

/// Every account with a balance, in key order.
pub fn accounts(state: &State) -> Vec<(AccountId, AccountData)> {
    state
        .scan_prefix(ACCOUNT_PREFIX)
        .filter_map(|(key, value)| {
            let id: [u8; 32] = key[ACCOUNT_PREFIX.len()..].try_into().ok()?;
            let data = AccountData::decode(&mut value.as_slice()).ok()?;
            Some((AccountId(id), data))
        })
        .collect()
}

/// Total PHA in existence.
pub fn total_issuance(state: &State) -> Result<Balance, CodecError> {
    Ok(state.get_decoded(ISSUANCE)?.unwrap_or(0))
}

/// Creates `amount` new units in `who`'s free balance. Genesis only.
pub fn mint(state: &mut State, who: &AccountId, amount: Balance) -> Result<(), BalancesError> {
    let issuance = total_issuance(state)?;
    let new_issuance = issuance
        .checked_add(amount)
        .filter(|total| *total <= MAX_SUPPLY)
        .ok_or(BalancesError::ExceedsMaxSupply { amount })?;
    credit(state, who, amount)?;
    state.put(ISSUANCE.to_vec(), &new_issuance);
    Ok(())
}

/// PHA frozen on `who` (`data` is its account): its vote locks or its unclaimed vesting,
/// whichever is more (see the module docs).
pub fn frozen(state: &State, who: &AccountId, data: &AccountData) -> Result<Balance, CodecError> {
    Ok(data.locked.max(unclaimed_vesting(state, who)?))
}

/// Stake `who` holds on its own account: what frozen PHA may back besides free PHA.
pub fn staked(state: &State, who: &AccountId) -> Result<Balance, CodecError> {
    HoldReason::ALL
        .into_iter()
        .filter(|reason| reason.may_be_frozen())
        .try_fold(0 as Balance, |sum, reason| {
            Ok(sum.saturating_add(held(state, who, reason)?))
        })
}

/// What of `who`'s free PHA can leave its account, pay a fee or back a deposit: free less the
/// frozen PHA its stake doesn't cover.
pub fn spendable(state: &State, who: &AccountId) -> Result<Balance, CodecError> {
    spendable_of(state, who, &account(state, who)?)
}

fn spendable_of(state: &State, who: &AccountId, data: &AccountData) -> Result<Balance, CodecError> {
    let frozen = frozen(state, who, data)?;
    if frozen == 0 {
        return Ok(data.free);
    }
    let uncovered = frozen.saturating_sub(staked(state, who)?);
    Ok(data.free.saturating_sub(uncovered))
}

/// Refuses to spend `amount` of `who`'s free PHA unless that much is free and not frozen.
fn ensure_spendable(state: &State, who: &AccountId, amount: Balance) -> Result<(), BalancesError> {
    let data = account(state, who)?;
    if data.free < amount {
        return Err(BalancesError::InsufficientFree {
            free: data.free,
            needed: amount,
        });
    }
    let spendable = spendable_of(state, who, &data)?;
    if spendable < amount {
        return Err(BalancesError::Frozen {
            spendable,
            needed: amount,
        });
    }
    Ok(())
}

/// Moves `amount` spendable units from `from` to `to`.
pub fn transfer_free(
    state: &mut State,
    from: &AccountId,
    to: &AccountId,
    amount: Balance,
) -> Result<(), BalancesError> {
    ensure_spendable(state, from, amount)?;
    pay(state, from, Part::Free, to, amount)
}

/// Adds `amount` to `who`'s free PHA without taking it from anyone: the caller must
/// [`debit`] the same total from the payer in the same state transition (the mining payout
/// credits each worker's pool and debits the pot once per slice). Issuance is unchanged, so the
/// accounts-sum invariant catches a credit without its debit.
pub fn credit(state: &mut State, who: &AccountId, amount: Balance) -> Result<(), BalancesError> {
    if amount == 0 {
        return Ok(());
    }
    let mut data = account(state, who)?;
    data.free = data
        .free
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    set_account(state, who, data);
    Ok(())
}

/// Takes `amount` from `who`'s spendable PHA: the other half of [`credit`].
pub fn debit(state: &mut State, who: &AccountId, amount: Balance) -> Result<(), BalancesError> {
    ensure_spendable(state, who, amount)?;
    let data = take(state, who, Part::Free, amount)?;
    set_account(state, who, data);
    Ok(())
}

/// One of the three parts of an account's PHA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Free,
    Reserved,
    Locked,
}

impl Part {
    fn of(self, data: &mut AccountData) -> &mut Balance {
        match self {
            Part::Free => &mut data.free,
            Part::Reserved => &mut data.reserved,
            Part::Locked => &mut data.locked,
        }
    }

    /// The error for taking `needed` from this part when it holds only `held`.
    fn shortfall(self, held: Balance, needed: Balance) -> BalancesError {
        match self {
            Part::Free => BalancesError::InsufficientFree { free: held, needed },
            Part::Reserved => BalancesError::InsufficientReserved {
                reserved: held,
                needed,
            },
            Part::Locked => BalancesError::InsufficientLocked {
                locked: held,
                needed,
            },
        }
    }
}

/// Takes `amount` out of `part` of `who`'s balance (nothing changes if it holds less).
fn take(
    state: &mut State,
    who: &AccountId,
    part: Part,
    amount: Balance,
) -> Result<AccountData, BalancesError> {
    let mut data = account(state, who)?;
    let held = *part.of(&mut data);
    if held < amount {
        return Err(part.shortfall(held, amount));
    }
    *part.of(&mut data) = held - amount;
    Ok(data)
}

/// Moves `amount` between two parts of `who`'s balance; the total is unchanged.
fn shift(
    state: &mut State,
    who: &AccountId,
    from: Part,
    to: Part,
    amount: Balance,
) -> Result<(), BalancesError> {
    let mut data = take(state, who, from, amount)?;
    let dest = to.of(&mut data);
    *dest = dest.checked_add(amount).ok_or(BalancesError::Overflow)?;
    set_account(state, who, data);
    Ok(())
}

fn hold_key(who: &AccountId, reason: HoldReason) -> Vec<u8> {
    [HOLD_PREFIX, who.as_bytes(), &[reason.index()]].concat()
}

/// What `who` holds for `reason` (zero if nothing).
pub fn held(state: &State, who: &AccountId, reason: HoldReason) -> Result<Balance, CodecError> {
    Ok(state.get_decoded(&hold_key(who, reason))?.unwrap_or(0))
}

/// Everything `who` holds, by reason (non-zero holds only, in reason order).
pub fn holds(state: &State, who: &AccountId) -> Result<Vec<(HoldReason, Balance)>, CodecError> {
    let prefix = [HOLD_PREFIX, who.as_bytes()].concat();
    state
        .scan_prefix(&prefix)
        .map(|(key, value)| {
            let reason = key
                .get(prefix.len())
                .copied()
                .and_then(HoldReason::from_index)
                .filter(|_| key.len() == prefix.len() + 1)
                .ok_or_else(|| {
                    CodecError::Malformed(format!("hold key {}", hex::encode(key.as_slice())))
                })?;
            let amount = Balance::decode(&mut value.as_slice())
                .map_err(|e| CodecError::Malformed(e.to_string()))?;
            Ok((reason, amount))
        })
        .collect()
}

fn set_held(state: &mut State, who: &AccountId, reason: HoldReason, amount: Balance) {
    if amount == 0 {
        state.remove(&hold_key(who, reason));
    } else {
        state.put(hold_key(who, reason), &amount);
    }
}

/// What `who` holds for `reason`, if at least `amount`.
fn held_at_least(
    state: &State,
    who: &AccountId,
    reason: HoldReason,
    amount: Balance,
) -> Result<Balance, BalancesError> {
    let current = held(state, who, reason)?;
    if current < amount {
        return Err(BalancesError::InsufficientHeld {
            reason,
            held: current,
            needed: amount,
        });
    }
    Ok(current)
}

/// Holds `amount` of `who`'s free PHA for `reason`; unless frozen PHA
/// [may back it](HoldReason::may_be_frozen), it must be spendable.
pub fn hold(
    state: &mut State,
    who: &AccountId,
    reason: HoldReason,
    amount: Balance,
) -> Result<(), BalancesError> {
    if !reason.may_be_frozen() {
        ensure_spendable(state, who, amount)?;
    }
    let current = held(state, who, reason)?;
    let total = current.checked_add(amount).ok_or(BalancesError::Overflow)?;
    shift(state, who, Part::Free, Part::Reserved, amount)?;
    set_held(state, who, reason, total);
    Ok(())
}

/// Gives `amount` held for `reason` back to `who`'s free PHA.
pub fn release(
    state: &mut State,
    who: &AccountId,
    reason: HoldReason,
    amount: Balance,
) -> Result<(), BalancesError> {
    let current = held_at_least(state, who, reason, amount)?;
    shift(state, who, Part::Reserved, Part::Free, amount)?;
    set_held(state, who, reason, current - amount);
    Ok(())
}

/// Takes `amount` of what `who` holds for `reason` into `to`'s free PHA (a slash, a forfeited
/// deposit, or gas and query usage paid out).
pub fn slash_held(
    state: &mut State,
    who: &AccountId,
    reason: HoldReason,
    to: &AccountId,
    amount: Balance,
) -> Result<(), BalancesError> {
    let current = held_at_least(state, who, reason, amount)?;
    pay(state, who, Part::Reserved, to, amount)?;
    set_held(state, who, reason, current - amount);
    Ok(())
}

/// Moves `amount` held for `from` to a hold for `to` on the same account (stake that starts
/// unbonding, say); the free part is untouched.
pub fn move_hold(
    state: &mut State,
    who: &AccountId,
    from: HoldReason,
    to: HoldReason,
    amount: Balance,
) -> Result<(), BalancesError> {
    let source = held_at_least(state, who, from, amount)?;
    if from == to {
        return Ok(());
    }
    // Stake that backs frozen PHA can't become a hold that frozen PHA may not back.
    if from.may_be_frozen() && !to.may_be_frozen() {
        let data = account(state, who)?;
        let covered = data
            .free
            .saturating_add(staked(state, who)?)
            .saturating_sub(amount);
        let frozen = frozen(state, who, &data)?;
        if frozen > covered {
            return Err(BalancesError::Frozen {
                spendable: spendable_of(state, who, &data)?,
                needed: amount,
            });
        }
    }
    let dest = held(state, who, to)?
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    set_held(state, who, from, source - amount);
    set_held(state, who, to, dest);
    Ok(())
}

/// What `who` could still lock behind a vote: its free PHA and stake not already locked.
pub fn votable(state: &State, who: &AccountId) -> Result<Balance, CodecError> {
    votable_of(state, who, &account(state, who)?)
}

fn votable_of(state: &State, who: &AccountId, data: &AccountData) -> Result<Balance, CodecError> {
    Ok(data
        .free
        .saturating_add(staked(state, who)?)
        .saturating_sub(data.locked))
}

/// Locks `amount` more of `who`'s free PHA and stake behind a vote (a freeze: nothing moves).
pub fn lock(state: &mut State, who: &AccountId, amount: Balance) -> Result<(), BalancesError> {
    let mut data = account(state, who)?;
    let available = votable_of(state, who, &data)?;
    if available < amount {
        return Err(BalancesError::CannotVote {
            available,
            needed: amount,
        });
    }
    data.locked = data
        .locked
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    set_account(state, who, data);
    Ok(())
}

/// Lifts `amount` of `who`'s vote lock.
pub fn unlock(state: &mut State, who: &AccountId, amount: Balance) -> Result<(), BalancesError> {
    let data = take(state, who, Part::Locked, amount)?;
    set_account(state, who, data);
    Ok(())
}

/// Takes `amount` from `part` of `from` into `to`'s free balance.
fn pay(
    state: &mut State,
    from: &AccountId,
    part: Part,
    to: &AccountId,
    amount: Balance,
) -> Result<(), BalancesError> {
    // Both sides are computed before either is written, so a failure changes nothing.
    let mut source = take(state, from, part, amount)?;
    if from == to {
        source.free = source
            .free
            .checked_add(amount)
            .ok_or(BalancesError::Overflow)?;
        set_account(state, from, source);
        return Ok(());
    }
    let mut dest = account(state, to)?;
    dest.free = dest
        .free
        .checked_add(amount)
        .ok_or(BalancesError::Overflow)?;
    set_account(state, from, source);
    set_account(state, to, dest);
    Ok(())
}

/// The balances module.
#[derive(Debug)]
pub struct Balances;

impl Module for Balances {
    const NAME: &'static str = "balances";
    const STORAGE_PREFIX: &'static str = "balances/";
    type Call = BalancesCall;
    type Error = BalancesError;

    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &BalancesCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            BalancesCall::Transfer { to, amount } => {
                if *amount == 0 {
                    return Err(BalancesError::ZeroAmount.into());
                }
                transfer_free(state, who, to, *amount)?;
                events.push(Event::Transferred {
                    from: *who,
                    to: *to,
                    amount: *amount,
                });
                Ok(())
            }
            BalancesCall::ClaimVested => {
                let (amount, still_vesting) = claim_vested(state, who, ctx.timestamp_ms)?;
                events.push(Event::VestingClaimed {
                    who: *who,
                    amount,
                    still_vesting,
                });
                Ok(())
            }
        }
    }

    /// Mints the whole maximum supply into its fixed shares, then funds the dev accounts out
    /// of the ecosystem share.
    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        let a = &config.allocations;
        mint(state, &a.private_sale, genesis::PRIVATE_SALE)?;
        mint(state, &genesis::mining_pot(), genesis::MINING_REWARDS)?;
        mint(state, &a.team, genesis::TEAM)?;
        mint(state, &a.community, genesis::COMMUNITY)?;
        mint(state, &a.ecosystem, genesis::ECOSYSTEM)?;
        for dev in &config.dev_accounts {
            let who = Keypair::dev(&dev.name).account();
            transfer_free(state, &a.ecosystem, &who, Balance::from(dev.pha) * PHA)?;
        }
        for (allocation, who, amount, terms) in [
            ("team", &a.team, genesis::TEAM, &a.team_vesting),
            (
                "private sale",
                &a.private_sale,
                genesis::PRIVATE_SALE,
                &a.private_sale_vesting,
            ),
        ] {
            let Some(terms) = terms else { continue };
            if terms.duration_days == 0
                || terms.duration_days > genesis::MAX_VESTING_DAYS
                || terms.cliff_days > terms.duration_days
            {
                return Err(GenesisError::BadVesting {
                    allocation,
                    cliff_days: terms.cliff_days,
                    duration_days: terms.duration_days,
                });
            }
            start_vesting(state, who, amount, config.timestamp_ms, terms)?;
        }
        Ok(())
    }

    /// Issuance ≤ max supply; the sum of all accounts' free + reserved + locked equals
    /// issuance (so nothing was created or destroyed, and no balance went below zero — they are
    /// unsigned and every subtraction is checked).
    fn check_invariants(state: &State) -> Result<(), InvariantError> {
        let issuance =
            total_issuance(state).map_err(|e| InvariantError::Unreadable(e.to_string()))?;
        if issuance > MAX_SUPPLY {
            return Err(InvariantError::IssuanceAboveMax(issuance));
        }
        let sum = accounts(state)
            .iter()
            .try_fold(0u128, |acc, (_, data)| acc.checked_add(data.total()))
            .ok_or(InvariantError::IssuanceAboveMax(Balance::MAX))?;
        if sum != issuance {
            return Err(InvariantError::AccountsDoNotSum { sum, issuance });
        }
        // Each account's reserved part is exactly the sum of its named holds.
        let mut by_account: std::collections::BTreeMap<[u8; 32], Balance> = Default::default();
        for (key, value) in state.scan_prefix(HOLD_PREFIX) {
            let unreadable =
                || InvariantError::Unreadable(format!("hold {}", hex::encode(key.as_slice())));
            let account: [u8; 32] = key
                .get(HOLD_PREFIX.len()..HOLD_PREFIX.len() + 32)
                .and_then(|a| a.try_into().ok())
                .ok_or_else(unreadable)?;
            let amount = Balance::decode(&mut value.as_slice()).map_err(|_| unreadable())?;
            let entry = by_account.entry(account).or_default();
            *entry = entry.checked_add(amount).ok_or_else(unreadable)?;
        }
        for (who, data) in accounts(state) {
            let holds = by_account.remove(&who.0).unwrap_or(0);
            if holds != data.reserved {
                return Err(InvariantError::HoldsDoNotSum {
                    account: who,
                    holds,
                    reserved: data.reserved,
                });
            }
        }
        if let Some((account, holds)) = by_account.into_iter().next() {
            return Err(InvariantError::HoldsDoNotSum {
                account: AccountId(account),
                holds,
                reserved: 0,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use phalanx_primitives::call::Call;

    fn free(chain: &TestChain, who: &AccountId) -> Balance {
        account(&chain.state, who).expect("account").free
    }

    #[test]
    fn transfer_moves_exact_amounts_and_charges_fee_to_treasury() {
        let mut chain = TestChain::new();
        let (alice, bob) = (key("alice").account(), key("bob").account());
        let treasury = crate::treasury::account();
        let (before_alice, before_bob, before_treasury) = (
            free(&chain, &alice),
            free(&chain, &bob),
            free(&chain, &treasury),
        );
        let receipt = chain.apply(&key("alice"), transfer_to("bob", 5 * PHA));
        assert_eq!(receipt.error, None);
        assert_eq!(free(&chain, &alice), before_alice - 5 * PHA - receipt.fee);
        assert_eq!(free(&chain, &bob), before_bob + 5 * PHA);
        assert_eq!(free(&chain, &treasury), before_treasury + receipt.fee);
        assert!(receipt.events.contains(&Event::Transferred {
            from: alice,
            to: bob,
            amount: 5 * PHA
        }));
        chain.end_block();
    }

    #[test]
    fn overdraft_fails_pays_fee_and_changes_nothing_else() {
        let mut chain = TestChain::new();
        let alice = key("alice").account();
        let before = free(&chain, &alice);
        let receipt = chain.apply(&key("alice"), transfer_to("bob", before));
        assert_eq!(
            receipt.error,
            Some(code(BalancesError::InsufficientFree {
                free: before - receipt.fee,
                needed: before
            }))
        );
        assert_eq!(
            receipt.error.as_ref().map(ToString::to_string).as_deref(),
            Some("balances.insufficient_free")
        );
        assert_eq!(free(&chain, &alice), before - receipt.fee);
        assert_eq!(
            crate::system::nonce(&chain.state, &alice).expect("nonce"),
            1
        );
        chain.end_block();
    }

    #[test]
    fn zero_transfer_is_refused() {
        let mut chain = TestChain::new();
        let receipt = chain.apply(&key("alice"), transfer_to("bob", 0));
        assert_eq!(receipt.error, Some(code(BalancesError::ZeroAmount)));
        chain.end_block();
    }

    #[test]
    fn mint_refuses_to_pass_max_supply() {
        let mut state = State::new();
        let who = key("alice").account();
        mint(&mut state, &who, MAX_SUPPLY).expect("exactly the cap");
        assert_eq!(
            mint(&mut state, &who, 1),
            Err(BalancesError::ExceedsMaxSupply { amount: 1 })
        );
        assert_eq!(total_issuance(&state).expect("issuance"), MAX_SUPPLY);
    }

    #[test]
    fn named_holds_and_locks_keep_totals_and_each_hold_answers_only_for_itself() {
        let (mut state, _) = dev_chain();
        let alice = key("alice").account();
        let treasury = crate::treasury::account();
        let total = account(&state, &alice).expect("alice").total();
        hold(&mut state, &alice, HoldReason::WorkerStake, 10).expect("stake");
        hold(&mut state, &alice, HoldReason::QueryDeposit, 5).expect("deposit");
        hold(&mut state, &alice, HoldReason::WorkerStake, 1).expect("more stake");
        lock(&mut state, &alice, 20).expect("lock");
        let data = account(&state, &alice).expect("alice");
        assert_eq!((data.reserved, data.locked, data.total()), (16, 20, total));
        assert_eq!(
            holds(&state, &alice).expect("holds"),
            vec![(HoldReason::QueryDeposit, 5), (HoldReason::WorkerStake, 11)]
        );
        // (The lock has no vote behind it, so only this module's invariants hold here.)
        Balances::check_invariants(&state).expect("holds sum to reserved");
        // A slash of the stake can't reach the deposit, though both are reserved.
        assert_eq!(
            slash_held(&mut state, &alice, HoldReason::WorkerStake, &treasury, 12),
            Err(BalancesError::InsufficientHeld {
                reason: HoldReason::WorkerStake,
                held: 11,
                needed: 12
            })
        );
        assert!(matches!(
            release(&mut state, &alice, HoldReason::PoolStake, 1),
            Err(BalancesError::InsufficientHeld { held: 0, .. })
        ));
        assert!(matches!(
            unlock(&mut state, &alice, 21),
            Err(BalancesError::InsufficientLocked { .. })
        ));
        // Nothing changed by the refusals.
        assert_eq!(account(&state, &alice).expect("alice"), data);
        slash_held(&mut state, &alice, HoldReason::WorkerStake, &treasury, 11).expect("slash");
        assert_eq!(
            held(&state, &alice, HoldReason::WorkerStake).expect("held"),
            0
        );
        move_hold(
            &mut state,
            &alice,
            HoldReason::QueryDeposit,
            HoldReason::Unbonding,
            2,
        )
        .expect("move");
        // A move to the same hold changes nothing (it must not make held PHA out of nothing).
        move_hold(
            &mut state,
            &alice,
            HoldReason::QueryDeposit,
            HoldReason::QueryDeposit,
            3,
        )
        .expect("same hold");
        assert_eq!(held(&state, &alice, HoldReason::QueryDeposit), Ok(3));
        release(&mut state, &alice, HoldReason::QueryDeposit, 3).expect("release");
        release(&mut state, &alice, HoldReason::Unbonding, 2).expect("release");
        unlock(&mut state, &alice, 20).expect("unlock");
        let after = account(&state, &alice).expect("alice");
        assert_eq!((after.reserved, after.total()), (0, total - 11));
        assert!(holds(&state, &alice).expect("holds").is_empty());
        check_invariants(&state);
    }

    #[test]
    fn vesting_releases_nothing_before_the_cliff_then_linearly_and_never_more_than_the_total() {
        let schedule = VestingSchedule {
            total: 1_000,
            claimed: 0,
            start_ms: 100,
            cliff_ms: 400,
            end_ms: 1_100,
        };
        assert_eq!(schedule.vested_at(0), 0);
        assert_eq!(schedule.vested_at(399), 0);
        // At the cliff, the share of the time since the start, rounded down.
        assert_eq!(schedule.vested_at(400), 300);
        assert_eq!(schedule.vested_at(401), 301);
        assert_eq!(schedule.vested_at(1_099), 999);
        assert_eq!(schedule.vested_at(1_100), 1_000);
        assert_eq!(schedule.vested_at(u64::MAX), 1_000);
        // The largest allocation over the longest vesting doesn't overflow.
        let big = VestingSchedule {
            total: phalanx_primitives::MAX_SUPPLY,
            claimed: 0,
            start_ms: 0,
            cliff_ms: 0,
            end_ms: u64::from(crate::genesis::MAX_VESTING_DAYS) * MS_PER_DAY,
        };
        assert_eq!(
            big.vested_at(big.end_ms / 2),
            phalanx_primitives::MAX_SUPPLY / 2
        );
    }

    proptest::proptest! {
        #[test]
        fn vested_amounts_only_grow_and_stay_within_the_total(
            total in 0u128..=phalanx_primitives::MAX_SUPPLY,
            cliff in 0u64..1_000_000,
            length in 1u64..1_000_000,
            a in 0u64..3_000_000,
            b in 0u64..3_000_000,
        ) {
            let schedule = VestingSchedule {
                total,
                claimed: 0,
                start_ms: 0,
                cliff_ms: cliff.min(length),
                end_ms: length,
            };
            let (early, late) = (a.min(b), a.max(b));
            proptest::prop_assert!(schedule.vested_at(early) <= schedule.vested_at(late));
            proptest::prop_assert!(schedule.vested_at(late) <= total);
        }
    }

    #[test]
    fn a_vesting_allocation_cant_move_until_claimed_as_it_vests() {
        let mut chain = TestChain::new();
        let team_key = key("team");
        let team = team_key.account();
        let genesis_ms = crate::system::genesis_time_ms(&chain.state).expect("genesis time");
        let total = 50_000_000 * PHA;
        assert_eq!(unclaimed_vesting(&chain.state, &team), Ok(total));
        assert_eq!(spendable(&chain.state, &team), Ok(0));
        // The claim pays an ordinary fee, so the account needs a little spendable PHA first.
        let funding = chain.apply(&key("alice"), transfer_to("team", PHA));
        assert_eq!(funding.error, None);
        assert_eq!(spendable(&chain.state, &team), Ok(PHA));
        // Frozen PHA can't be sent: only the PHA that came in can.
        let sent = chain.apply(&team_key, transfer_to("bob", 2 * PHA));
        assert_eq!(sent.error.map(|e| e.reason), Some("frozen".to_string()));
        // Before the cliff (a year): nothing, and the error says when.
        let early = chain.apply(&team_key, Call::Balances(BalancesCall::ClaimVested));
        assert_eq!(
            early.error.map(|e| e.reason),
            Some("nothing_vested_yet".to_string())
        );
        assert_eq!(unclaimed_vesting(&chain.state, &team), Ok(total));
        // At the cliff: a quarter (365 of 1,460 days) at once.
        chain.ctx.timestamp_ms = genesis_ms + 365 * MS_PER_DAY;
        let spendable_before = spendable(&chain.state, &team).expect("spendable");
        let claim = chain.apply(&team_key, Call::Balances(BalancesCall::ClaimVested));
        assert_eq!(claim.error, None);
        assert!(claim.events.contains(&Event::VestingClaimed {
            who: team,
            amount: total / 4,
            still_vesting: total - total / 4,
        }));
        assert_eq!(
            spendable(&chain.state, &team),
            Ok(spendable_before + total / 4 - claim.fee)
        );
        // The same moment again: nothing more.
        let again = chain.apply(&team_key, Call::Balances(BalancesCall::ClaimVested));
        assert_eq!(
            again.error.map(|e| e.reason),
            Some("nothing_vested_yet".to_string())
        );
        check_invariants(&chain.state);
        // Past the end: the rest, and the schedule is gone.
        chain.ctx.timestamp_ms = genesis_ms + 2_000 * MS_PER_DAY;
        let rest = chain.apply(&team_key, Call::Balances(BalancesCall::ClaimVested));
        assert_eq!(rest.error, None);
        assert_eq!(unclaimed_vesting(&chain.state, &team), Ok(0));
        assert_eq!(
            spendable(&chain.state, &team).expect("spendable"),
            free(&chain, &team)
        );
        assert_eq!(vesting(&chain.state, &team), Ok(None));
        let done = chain.apply(&team_key, Call::Balances(BalancesCall::ClaimVested));
        assert_eq!(
            done.error.map(|e| e.reason),
            Some("nothing_vesting".to_string())
        );
        check_invariants(&chain.state);
        // Someone without a vesting allocation has nothing to claim.
        let bob = chain.apply(&key("bob"), Call::Balances(BalancesCall::ClaimVested));
        assert_eq!(
            bob.error.map(|e| e.reason),
            Some("nothing_vesting".to_string())
        );
    }

    #[test]
    fn frozen_pha_bonds_and_votes_but_never_leaves_the_account() {
        use phalanx_primitives::call::{GovernanceCall, MiningCall, StakingCall};
        let mut chain = TestChain::new();
        let (team_key, bob_key) = (key("team"), key("bob"));
        let (team, bob) = (team_key.account(), bob_key.account());
        let vesting = 50_000_000 * PHA;
        let fund = chain.apply(&key("alice"), transfer_to("team", 10 * PHA));
        assert_eq!(fund.error, None);
        // Vesting PHA bonds as a validator's stake.
        let bond = chain.apply(
            &team_key,
            Call::Staking(StakingCall::Bond {
                amount: 1_000_000 * PHA,
            }),
        );
        assert_eq!(bond.error, None);
        assert_eq!(
            held(&chain.state, &team, HoldReason::ValidatorBond),
            Ok(1_000_000 * PHA)
        );
        // The bond covers part of the freeze, so the spendable PHA is what came in, less fees.
        let spendable_now = 10 * PHA - bond.fee;
        assert_eq!(spendable(&chain.state, &team), Ok(spendable_now));
        // It votes with all of it, free and bonded together, but not one unit more.
        let proposal = chain.apply(
            &key("alice"),
            Call::Governance(GovernanceCall::Propose {
                calls: vec![phalanx_primitives::call::PrivilegedCall::SetChainParams(
                    crate::system::params(&chain.state).expect("params"),
                )],
                description: b"freeze".to_vec(),
            }),
        );
        assert_eq!(proposal.error, None);
        let votable_now = votable(&chain.state, &team).expect("votable");
        assert_eq!(votable_now, vesting + spendable_now);
        let vote = |amount| {
            Call::Governance(GovernanceCall::Vote {
                proposal: 0,
                aye: true,
                amount,
            })
        };
        let too_much = chain.apply(&team_key, vote(votable_now + 1));
        assert_eq!(
            too_much.error.map(|e| e.reason),
            Some("cannot_vote".to_string())
        );
        let voted = chain.apply(&team_key, vote(vesting));
        assert_eq!(voted.error, None);
        assert_eq!(account(&chain.state, &team).expect("team").locked, vesting);
        // Frozen PHA can't be sent, nor put into a pool (that moves it to the pool's account).
        let sent = chain.apply(&team_key, transfer_to("bob", 10 * PHA));
        assert_eq!(sent.error.map(|e| e.reason), Some("frozen".to_string()));
        let pool = chain.apply(
            &key("alice"),
            Call::Mining(MiningCall::CreatePool {
                commission_per_mille: 0,
                cap: None,
                allow_list: None,
            }),
        );
        assert_eq!(pool.error, None);
        let contributed = chain.apply(
            &team_key,
            Call::Mining(MiningCall::Contribute {
                pool: 0,
                amount: 100 * PHA,
            }),
        );
        assert_eq!(
            contributed.error.map(|e| e.reason),
            Some("frozen".to_string())
        );
        // Nor back a deposit: a proposal's is forfeited to the treasury.
        let deposit = chain.apply(
            &team_key,
            Call::Governance(GovernanceCall::Propose {
                calls: vec![phalanx_primitives::call::PrivilegedCall::SetChainParams(
                    crate::system::params(&chain.state).expect("params"),
                )],
                description: b"spend".to_vec(),
            }),
        );
        assert_eq!(
            deposit.error.map(|e| e.to_string()),
            Some("balances.frozen".to_string())
        );
        // And the bond that backs the freeze can't be turned into a hold that pays others,
        // beyond the unfrozen PHA the account has.
        let before = account(&chain.state, &team).expect("team");
        let spendable_before = spendable(&chain.state, &team).expect("spendable");
        assert_eq!(
            move_hold(
                &mut chain.state,
                &team,
                HoldReason::ValidatorBond,
                HoldReason::ContractGas,
                spendable_before + 1,
            ),
            Err(BalancesError::Frozen {
                spendable: spendable_before,
                needed: spendable_before + 1,
            })
        );
        assert_eq!(account(&chain.state, &team), Ok(before));
        check_invariants(&chain.state);

        // Staked PHA votes too: Bob bonds half his PHA and votes with all of it; his free PHA
        // is then frozen behind the vote, and spendable again once he withdraws it.
        let bob_free = free(&chain, &bob);
        let bonded = chain.apply(
            &bob_key,
            Call::Staking(StakingCall::Bond {
                amount: bob_free / 2,
            }),
        );
        assert_eq!(bonded.error, None);
        // All but one PHA of it (the vote pays its fee before it locks).
        let fee = bonded.fee;
        let all_but_one = free(&chain, &bob) - fee + bob_free / 2 - PHA;
        let bob_vote = chain.apply(&bob_key, vote(all_but_one));
        assert_eq!(bob_vote.error, None);
        assert_eq!(spendable(&chain.state, &bob), Ok(PHA));
        let payment = chain.apply(&bob_key, transfer_to("charlie", 2 * PHA));
        assert_eq!(payment.error.map(|e| e.reason), Some("frozen".to_string()));
        let unvote = chain.apply(
            &bob_key,
            Call::Governance(GovernanceCall::Unvote { proposal: 0 }),
        );
        assert_eq!(unvote.error, None);
        assert_eq!(
            spendable(&chain.state, &bob),
            Ok(free(&chain, &bob)),
            "nothing frozen once the vote is withdrawn"
        );
        check_invariants(&chain.state);
        chain.end_block();
    }

    #[test]
    fn invariants_catch_reserved_pha_without_a_named_hold() {
        let (mut state, _) = dev_chain();
        let alice = key("alice").account();
        hold(&mut state, &alice, HoldReason::PoolStake, 7).expect("hold");
        // A hold record edited behind the module's back.
        state.put(hold_key(&alice, HoldReason::PoolStake), &6u128);
        assert!(matches!(
            Balances::check_invariants(&state),
            Err(InvariantError::HoldsDoNotSum {
                holds: 6,
                reserved: 7,
                ..
            })
        ));
    }

    #[test]
    fn invariants_catch_pha_created_outside_mint() {
        let (mut state, _) = dev_chain();
        let alice = key("alice").account();
        let mut data = account(&state, &alice).expect("alice");
        data.free += 1;
        set_account(&mut state, &alice, data);
        assert!(matches!(
            Balances::check_invariants(&state),
            Err(InvariantError::AccountsDoNotSum { .. })
        ));
    }
}
