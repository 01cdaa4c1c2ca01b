//! Governance: PHA holders propose privileged calls and vote on them.
//!
//! Protocol:
//! 1. Any account proposes a batch of [`PrivilegedCall`]s with a description, reserving the
//!    proposal deposit. Voting is open from that block through `voting_ends_at`
//!    (`submitted + voting_period`).
//! 2. Holders vote aye or nay with an amount of their PHA, free or staked (vesting PHA too),
//!    which is locked until voting ends: a freeze that stops it leaving the account, not a
//!    move (`balances::lock`). Voting again replaces the earlier vote (the old amount is
//!    unlocked first), and unvoting withdraws it. The same PHA cannot back two votes at once:
//!    an account's locks sum to at most its free PHA and stake.
//! 3. At the end of block `voting_ends_at` the proposal is tallied: it passes when
//!    `aye > (aye + nay) / 2` strictly (exactly half fails) and turnout is at least
//!    `min_turnout`. Either way the deposit returns and every vote's PHA unlocks.
//! 4. A passed proposal executes at the end of block `passed + enactment_delay`, all calls or
//!    none: the first failing call rolls the whole batch back and the error is recorded. A
//!    proposal executes at most once (its status moves to `Enacted` before anything else).
//! 5. A privileged `CancelProposal` ends a proposal as spam: votes unlock, the deposit goes to
//!    the treasury, nothing executes.
//! 6. A finished proposal (rejected, enacted or cancelled) stays readable for
//!    [`FINISHED_PROPOSAL_RETENTION`] blocks, so voters and tools see how it ended, and is then
//!    pruned from state. Its outcome stays for good in the events of the block that ended it.
//!
//! Cost: the end-of-block hook never scans proposals. Each proposal is put, when its next step
//! is known, on one of three queues keyed by the height that step falls due (tally at
//! `voting_ends_at`, enactment at `enact_at`, pruning after the retention), and a block end
//! takes only the entries due at its height, so its work is proportional to what falls due
//! then, however many proposals are open. What falls due in one block was submitted (or
//! passed) in one earlier block, so it is bounded by that block's transactions; tallying a
//! proposal also unlocks its votes, one per voting transaction.
//!
//! Storage keys: `governance/params` → [`GovernanceParams`], `governance/next` → u32,
//! `governance/proposal/<id BE>` → [`Proposal`], `governance/vote/<id BE>/<account>` →
//! [`Vote`], and the queues `governance/due/tally/<height BE><id BE>`,
//! `governance/due/enact/<height BE><id BE>`, `governance/due/prune/<height BE><id BE>` → id.

use crate::balances::{self, BalancesError, HoldReason};
use crate::events::Event;
use crate::genesis::{GenesisConfig, GenesisError};
use crate::invariants::InvariantError;
use crate::module::{ErrorCodes, Module, PrivilegedExecutor};
use crate::system::ValidatorSetError;
use crate::{treasury, BlockContext, DispatchResult};
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::call::{GovernanceCall, GovernanceParams, PrivilegedCall};
use phalanx_primitives::{AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};
use serde::Serialize;

const PARAMS: &[u8] = b"governance/params";
const NEXT_ID: &[u8] = b"governance/next";
const TALLY_QUEUE: &[u8] = b"governance/due/tally/";
const ENACT_QUEUE: &[u8] = b"governance/due/enact/";
const PRUNE_QUEUE: &[u8] = b"governance/due/prune/";
const PROPOSAL_PREFIX: &[u8] = b"governance/proposal/";
const VOTE_PREFIX: &[u8] = b"governance/vote/";

/// Longest proposal description, in bytes.
pub const MAX_DESCRIPTION: usize = 4 * 1024;
/// Most privileged calls one proposal may carry (nested batches count every call).
pub const MAX_CALLS: usize = 64;
/// Blocks a finished proposal stays in state before it is pruned: about two hours of 500 ms
/// blocks, for voters and tools polling `phalanx_proposal` to see the outcome. After that the
/// outcome is in the events of the block that ended it.
pub const FINISHED_PROPOSAL_RETENTION: u64 = 14_400;

/// Why a governance call failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum GovernanceError {
    /// No proposal with this id.
    #[error("no proposal #{0}; list them with `phalanx gov list`")]
    UnknownProposal(u32),
    /// Voting has ended (or the proposal was cancelled).
    #[error("voting on proposal #{0} has ended")]
    VotingClosed(u32),
    /// The voter has no vote on this proposal to withdraw.
    #[error("you have no vote on proposal #{0}")]
    NoVote(u32),
    /// A vote of zero.
    #[error("vote amount must be greater than zero")]
    ZeroVote,
    /// Not enough spendable PHA to pay the deposit.
    #[error("not enough spendable PHA: {free} units free and not frozen by votes or vesting, {needed} needed")]
    InsufficientFree {
        /// Free units.
        free: Balance,
        /// Units needed.
        needed: Balance,
    },
    /// A proposal without calls.
    #[error("a proposal must carry at least one call")]
    NoCalls,
    /// Too many calls.
    #[error("a proposal carries at most {MAX_CALLS} calls")]
    TooManyCalls,
    /// Description too long or not UTF-8.
    #[error("description must be UTF-8 and at most {MAX_DESCRIPTION} bytes")]
    BadDescription,
    /// The proposal already ended.
    #[error("proposal #{0} has already ended")]
    AlreadyEnded(u32),
    /// A validator set must not be empty.
    #[error("the validator set cannot be empty")]
    EmptyValidatorSet,
    /// A balances failure.
    #[error(transparent)]
    Balances(#[from] BalancesError),
    /// Corrupted state.
    #[error("corrupted governance state: {0}")]
    Corrupted(String),
    /// A validator key is not a valid ed25519 key, or a key is listed twice.
    #[error("every validator key must be a distinct, valid ed25519 public key")]
    InvalidValidatorKeys,
    /// A validator key is of small order or not canonically encoded: anyone could sign for it.
    #[error("validator key #{index} is of small order or not canonically encoded, so anyone could sign for it; name the validator's real consensus key")]
    WeakValidatorKey {
        /// Its position in the set.
        index: usize,
    },
    /// More validators than consensus can carry.
    #[error("a validator set has at most {max} keys, not {count}; name fewer validators")]
    TooManyValidators {
        /// Keys in the set.
        count: usize,
        /// Most allowed.
        max: usize,
    },
    /// A validator key's account has less bonded than `staking.min_validator_bond`.
    #[error("validator key #{index} has {bonded} units bonded, fewer than the {needed} a validator must bond; its owner bonds with `phalanx stake bond` first")]
    ValidatorBondTooLow {
        /// Its position in the set.
        index: usize,
        /// Units its account has bonded.
        bonded: Balance,
        /// The least bond.
        needed: Balance,
    },
}

impl ErrorCodes for GovernanceError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("unknown_proposal", "no proposal has this id"),
        ("voting_closed", "voting on the proposal has ended"),
        (
            "no_vote",
            "the sender has no vote on the proposal to withdraw",
        ),
        ("zero_vote", "the vote amount must be greater than zero"),
        (
            "insufficient_free",
            "not enough free PHA to back the vote or pay the deposit",
        ),
        ("no_calls", "a proposal must carry at least one call"),
        ("too_many_calls", "the proposal carries too many calls"),
        (
            "bad_description",
            "the description is too long or not UTF-8",
        ),
        ("already_ended", "the proposal has already ended"),
        ("empty_validator_set", "the validator set cannot be empty"),
        ("corrupted", "the governance state could not be decoded"),
        (
            "invalid_validator_keys",
            "every validator key must be a distinct, valid ed25519 public key",
        ),
        (
            "weak_validator_key",
            "a validator key is of small order or not canonically encoded",
        ),
        (
            "too_many_validators",
            "the validator set has more keys than consensus can carry",
        ),
        (
            "validator_bond_too_low",
            "a validator key's account has bonded less than the least validator bond",
        ),
    ];

    /// A balances failure keeps its own code (and module, see
    /// [`DispatchError::code`](crate::DispatchError::code)).
    fn code(&self) -> &'static str {
        match self {
            GovernanceError::UnknownProposal(_) => "unknown_proposal",
            GovernanceError::VotingClosed(_) => "voting_closed",
            GovernanceError::NoVote(_) => "no_vote",
            GovernanceError::ZeroVote => "zero_vote",
            GovernanceError::InsufficientFree { .. } => "insufficient_free",
            GovernanceError::NoCalls => "no_calls",
            GovernanceError::TooManyCalls => "too_many_calls",
            GovernanceError::BadDescription => "bad_description",
            GovernanceError::AlreadyEnded(_) => "already_ended",
            GovernanceError::EmptyValidatorSet => "empty_validator_set",
            GovernanceError::Balances(e) => e.code(),
            GovernanceError::Corrupted(_) => "corrupted",
            GovernanceError::InvalidValidatorKeys => "invalid_validator_keys",
            GovernanceError::WeakValidatorKey { .. } => "weak_validator_key",
            GovernanceError::TooManyValidators { .. } => "too_many_validators",
            GovernanceError::ValidatorBondTooLow { .. } => "validator_bond_too_low",
        }
    }
}

impl From<CodecError> for GovernanceError {
    fn from(e: CodecError) -> Self {
        GovernanceError::Corrupted(e.to_string())
    }
}

impl From<ValidatorSetError> for GovernanceError {
    fn from(e: ValidatorSetError) -> Self {
        match e {
            ValidatorSetError::Empty => GovernanceError::EmptyValidatorSet,
            ValidatorSetError::InvalidKey { .. } | ValidatorSetError::Duplicate { .. } => {
                GovernanceError::InvalidValidatorKeys
            }
            ValidatorSetError::WeakKey { index } => GovernanceError::WeakValidatorKey { index },
            ValidatorSetError::TooMany { count, max } => {
                GovernanceError::TooManyValidators { count, max }
            }
        }
    }
}

pub use phalanx_primitives::governance::{Proposal, ProposalStatus};

/// One account's vote on one proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct Vote {
    /// Aye or nay.
    pub aye: bool,
    /// Units locked behind it.
    pub amount: Balance,
}

/// Governance parameters.
pub fn params(state: &State) -> Result<GovernanceParams, CodecError> {
    Ok(state.get_decoded(PARAMS)?.unwrap_or_default())
}

/// Stores governance parameters as given (they apply to proposals submitted afterwards).
/// Callers check them first with [`crate::params::check_governance`]: the privileged path and
/// genesis both do.
pub fn set_params(state: &mut State, params: &GovernanceParams) {
    state.put(PARAMS.to_vec(), params);
}

fn proposal_key(id: u32) -> Vec<u8> {
    [PROPOSAL_PREFIX, &id.to_be_bytes()].concat()
}

fn vote_prefix(id: u32) -> Vec<u8> {
    [VOTE_PREFIX, &id.to_be_bytes(), b"/"].concat()
}

fn vote_key(id: u32, who: &AccountId) -> Vec<u8> {
    [vote_prefix(id).as_slice(), who.as_bytes()].concat()
}

fn due_key(queue: &[u8], height: u64, id: u32) -> Vec<u8> {
    [queue, &height.to_be_bytes(), &id.to_be_bytes()].concat()
}

/// Puts proposal `id` on `queue` for the end of block `height`.
fn schedule(state: &mut State, queue: &[u8], height: u64, id: u32) {
    state.put(due_key(queue, height, id), &id);
}

/// Takes off `queue` every id due at or before `height`, in (height, id) order. Keys sort by
/// height first, so this reads only the due entries and stops at the first later one.
fn take_due(state: &mut State, queue: &[u8], height: u64) -> Vec<u32> {
    let due: Vec<(Vec<u8>, u32)> = state
        .scan_prefix(queue)
        .map_while(|(key, _)| {
            let rest = key.get(queue.len()..)?;
            let at = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
            let id = u32::from_be_bytes(rest.get(8..)?.try_into().ok()?);
            (at <= height).then(|| (key.to_vec(), id))
        })
        .collect();
    for (key, _) in &due {
        state.remove(key);
    }
    due.into_iter().map(|(_, id)| id).collect()
}

/// Schedules finished proposal `id` to be pruned after the retention period.
fn schedule_prune(state: &mut State, ended_at: u64, id: u32) {
    schedule(
        state,
        PRUNE_QUEUE,
        ended_at.saturating_add(FINISHED_PROPOSAL_RETENTION),
        id,
    );
}

/// A proposal by id: open, passed and awaiting enactment, or finished within the last
/// [`FINISHED_PROPOSAL_RETENTION`] blocks.
pub fn proposal(state: &State, id: u32) -> Result<Option<Proposal>, CodecError> {
    state.get_decoded(&proposal_key(id))
}

/// Every proposal still in state (see [`proposal`]), oldest first.
pub fn proposals(state: &State) -> Vec<Proposal> {
    state
        .scan_prefix(PROPOSAL_PREFIX)
        .filter_map(|(_, value)| Proposal::decode(&mut value.as_slice()).ok())
        .collect()
}

/// `who`'s vote on proposal `id`.
pub fn vote(state: &State, id: u32, who: &AccountId) -> Result<Option<Vote>, CodecError> {
    state.get_decoded(&vote_key(id, who))
}

fn count_calls(calls: &[PrivilegedCall]) -> usize {
    calls
        .iter()
        .map(|call| match call {
            PrivilegedCall::Batch(inner) => 1 + count_calls(inner),
            _ => 1,
        })
        .sum()
}

fn free_or_err(state: &State, who: &AccountId, needed: Balance) -> Result<(), GovernanceError> {
    let data = balances::account(state, who)?;
    let free = balances::spendable(state, who)?;
    if free < needed && data.free >= needed {
        return Err(balances::BalancesError::Frozen {
            spendable: free,
            needed,
        }
        .into());
    }
    if free < needed {
        return Err(GovernanceError::InsufficientFree { free, needed });
    }
    Ok(())
}

/// The governance module.
#[derive(Debug)]
pub struct Governance;

impl Module for Governance {
    const NAME: &'static str = "governance";
    const STORAGE_PREFIX: &'static str = "governance/";
    type Call = GovernanceCall;
    type Error = GovernanceError;

    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &GovernanceCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            GovernanceCall::Propose { calls, description } => {
                propose(state, ctx, who, calls, description, events)?
            }
            GovernanceCall::Vote {
                proposal,
                aye,
                amount,
            } => cast(state, ctx, who, *proposal, *aye, *amount, events)?,
            GovernanceCall::Unvote { proposal } => withdraw(state, ctx, who, *proposal, events)?,
        }
        Ok(())
    }

    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        set_params(state, &config.governance);
        Ok(())
    }

    /// Tallies, enacts through `privileged` and prunes what falls due in this block (see
    /// [`on_block_end`]).
    fn on_block_end(
        state: &mut State,
        ctx: &BlockContext,
        privileged: PrivilegedExecutor,
    ) -> Vec<Event> {
        on_block_end(state, ctx, privileged)
    }

    /// Votes are what lock PHA, and open proposals' deposits are what reserve it: the accounts'
    /// locked units sum to the stored votes' amounts, and their reserved units to the deposits
    /// of the proposals still voting plus the gatekeeper stakes. (Governance and gatekeepers
    /// are not the only holders: contracts' gas and deposits, validator bonds and worker stake count too;
    /// a module that starts to hold PHA must count its holds here.)
    fn check_invariants(state: &State) -> Result<(), InvariantError> {
        let accounts = balances::accounts(state);
        let locked = accounts.iter().map(|(_, a)| a.locked).sum::<Balance>();
        let reserved = accounts.iter().map(|(_, a)| a.reserved).sum::<Balance>();
        let votes = state
            .scan_prefix(VOTE_PREFIX)
            .map(|(_, value)| {
                Vote::decode(&mut value.as_slice())
                    .map(|vote| vote.amount)
                    .map_err(|e| InvariantError::Unreadable(e.to_string()))
            })
            .sum::<Result<Balance, InvariantError>>()?;
        if locked != votes {
            return Err(InvariantError::LocksDoNotMatchVotes { locked, votes });
        }
        // Gatekeeper stakes are the other reserve (`gatekeeper::reserved_total`).
        let stakes = crate::gatekeeper::reserved_total(state)
            .map_err(|e| InvariantError::Unreadable(e.to_string()))?;
        // So are pending commands' gas and query deposits (`contracts::reserved_total`).
        let stakes = crate::contracts::reserved_total(state)
            .map_err(|e| InvariantError::Unreadable(e.to_string()))?
            .saturating_add(stakes);
        // Validator bonds (`staking::reserved_total`).
        let stakes = crate::staking::reserved_total(state)
            .map_err(|e| InvariantError::Unreadable(e.to_string()))?
            .saturating_add(stakes);
        // Worker stake held on pool accounts (`mining::reserved_total`).
        let stakes = crate::mining::reserved_total(state)
            .map_err(|e| InvariantError::Unreadable(e.to_string()))?
            .saturating_add(stakes);
        let deposits = proposals(state)
            .iter()
            .filter(|p| p.status == ProposalStatus::Voting)
            .map(|p| p.deposit)
            .sum::<Balance>()
            .saturating_add(stakes);
        if reserved != deposits {
            return Err(InvariantError::ReservesDoNotMatchDeposits { reserved, deposits });
        }
        Ok(())
    }
}

fn propose(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    calls: &[PrivilegedCall],
    description: &[u8],
    events: &mut Vec<Event>,
) -> Result<(), GovernanceError> {
    if calls.is_empty() {
        return Err(GovernanceError::NoCalls);
    }
    if count_calls(calls) > MAX_CALLS {
        return Err(GovernanceError::TooManyCalls);
    }
    let description = std::str::from_utf8(description)
        .ok()
        .filter(|d| d.len() <= MAX_DESCRIPTION)
        .ok_or(GovernanceError::BadDescription)?;
    let params = params(state)?;
    free_or_err(state, who, params.proposal_deposit)?;
    balances::hold(
        state,
        who,
        HoldReason::ProposalDeposit,
        params.proposal_deposit,
    )?;
    let id: u32 = state.get_decoded(NEXT_ID)?.unwrap_or(0);
    state.put(NEXT_ID.to_vec(), &(id.saturating_add(1)));
    let voting_ends_at = ctx.height.saturating_add(params.voting_period);
    let proposal = Proposal {
        id,
        proposer: *who,
        calls: calls.to_vec(),
        description: description.to_string(),
        deposit: params.proposal_deposit,
        submitted_at: ctx.height,
        voting_ends_at,
        aye: 0,
        nay: 0,
        voters: 0,
        min_turnout: params.min_turnout,
        status: ProposalStatus::Voting,
    };
    state.put(proposal_key(id), &proposal);
    schedule(state, TALLY_QUEUE, voting_ends_at, id);
    events.push(Event::Proposed {
        proposal: id,
        proposer: *who,
        deposit: params.proposal_deposit,
        voting_ends_at,
    });
    Ok(())
}

fn open_proposal(state: &State, ctx: &BlockContext, id: u32) -> Result<Proposal, GovernanceError> {
    let proposal = proposal(state, id)?.ok_or(GovernanceError::UnknownProposal(id))?;
    if proposal.status != ProposalStatus::Voting || ctx.height > proposal.voting_ends_at {
        return Err(GovernanceError::VotingClosed(id));
    }
    Ok(proposal)
}

/// Takes `who`'s existing vote out of the tally and unlocks its PHA.
fn retract(
    state: &mut State,
    proposal: &mut Proposal,
    who: &AccountId,
) -> Result<bool, GovernanceError> {
    let Some(old) = vote(state, proposal.id, who)? else {
        return Ok(false);
    };
    if old.aye {
        proposal.aye = proposal.aye.saturating_sub(old.amount);
    } else {
        proposal.nay = proposal.nay.saturating_sub(old.amount);
    }
    proposal.voters = proposal.voters.saturating_sub(1);
    balances::unlock(state, who, old.amount)?;
    state.remove(&vote_key(proposal.id, who));
    Ok(true)
}

fn cast(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    id: u32,
    aye: bool,
    amount: Balance,
    events: &mut Vec<Event>,
) -> Result<(), GovernanceError> {
    if amount == 0 {
        return Err(GovernanceError::ZeroVote);
    }
    let mut proposal = open_proposal(state, ctx, id)?;
    retract(state, &mut proposal, who)?;
    balances::lock(state, who, amount)?;
    if aye {
        proposal.aye = proposal.aye.saturating_add(amount);
    } else {
        proposal.nay = proposal.nay.saturating_add(amount);
    }
    proposal.voters = proposal.voters.saturating_add(1);
    state.put(vote_key(id, who), &Vote { aye, amount });
    state.put(proposal_key(id), &proposal);
    events.push(Event::Voted {
        proposal: id,
        who: *who,
        aye,
        amount,
    });
    Ok(())
}

fn withdraw(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    id: u32,
    events: &mut Vec<Event>,
) -> Result<(), GovernanceError> {
    let mut proposal = open_proposal(state, ctx, id)?;
    if !retract(state, &mut proposal, who)? {
        return Err(GovernanceError::NoVote(id));
    }
    state.put(proposal_key(id), &proposal);
    events.push(Event::Unvoted {
        proposal: id,
        who: *who,
    });
    Ok(())
}

/// Whether a tally passes: strictly more than half of the votes cast are aye, and turnout
/// reaches the minimum.
pub fn passes(aye: Balance, nay: Balance, min_turnout: Balance) -> bool {
    let turnout = aye.saturating_add(nay);
    turnout >= min_turnout && aye > nay
}

/// Unlocks every vote on `id` and returns the proposer's deposit (or forfeits it).
fn settle(state: &mut State, proposal: &Proposal, forfeit: bool) -> Result<(), GovernanceError> {
    let votes: Vec<(AccountId, Vote)> = state
        .scan_prefix(&vote_prefix(proposal.id))
        .filter_map(|(key, value)| {
            let who: [u8; 32] = key[key.len() - 32..].try_into().ok()?;
            Some((AccountId(who), Vote::decode(&mut value.as_slice()).ok()?))
        })
        .collect();
    for (who, vote) in votes {
        balances::unlock(state, &who, vote.amount)?;
        state.remove(&vote_key(proposal.id, &who));
    }
    if forfeit {
        balances::slash_held(
            state,
            &proposal.proposer,
            HoldReason::ProposalDeposit,
            &treasury::account(),
            proposal.deposit,
        )?;
    } else {
        balances::release(
            state,
            &proposal.proposer,
            HoldReason::ProposalDeposit,
            proposal.deposit,
        )?;
    }
    Ok(())
}

/// Ends proposal `id` as spam (privileged): votes unlock, the deposit goes to the treasury.
pub fn cancel(
    state: &mut State,
    ctx: &BlockContext,
    id: u32,
    events: &mut Vec<Event>,
) -> Result<(), GovernanceError> {
    let mut proposal = proposal(state, id)?.ok_or(GovernanceError::UnknownProposal(id))?;
    if proposal.status != ProposalStatus::Voting {
        return Err(GovernanceError::AlreadyEnded(id));
    }
    settle(state, &proposal, true)?;
    proposal.status = ProposalStatus::Cancelled;
    state.put(proposal_key(id), &proposal);
    state.remove(&due_key(TALLY_QUEUE, proposal.voting_ends_at, id));
    schedule_prune(state, ctx.height, id);
    events.push(Event::ProposalCancelled { proposal: id });
    Ok(())
}

/// End-of-block hook: tallies the proposals whose voting ends in this block, enacts the passed
/// ones whose delay ends in it through `execute`, and prunes those whose retention ended (see
/// the module docs). Never fails the block: a failure is recorded on the proposal and in the
/// events.
///
/// Enactment runs each call through `execute`, the privileged path the runtime hands every
/// end-of-block hook ([`PrivilegedExecutor`]): governance does not import
/// `crate::privileged`, because the privileged path itself reaches into governance (its
/// parameters, cancelling a proposal), so the dependency runs from `privileged` to
/// `governance` only.
fn on_block_end(state: &mut State, ctx: &BlockContext, execute: PrivilegedExecutor) -> Vec<Event> {
    let mut events = Vec::new();
    // Read once, before any enactment in this block can change it.
    let delay = params(state).map(|p| p.enactment_delay).unwrap_or_default();
    for id in take_due(state, TALLY_QUEUE, ctx.height) {
        tally(state, ctx, id, delay, &mut events);
    }
    // After the tallies, so a proposal passed with no delay executes in this same block.
    for id in take_due(state, ENACT_QUEUE, ctx.height) {
        let Ok(Some(mut proposal)) = proposal(state, id) else {
            continue;
        };
        if matches!(proposal.status, ProposalStatus::Passed { .. }) {
            events.extend(enact(state, ctx, &mut proposal, execute));
        }
    }
    for id in take_due(state, PRUNE_QUEUE, ctx.height) {
        state.remove(&proposal_key(id));
    }
    events
}

/// Ends voting on proposal `id`: unlocks votes, returns the deposit, and either schedules the
/// enactment `delay` blocks on or records the rejection.
fn tally(state: &mut State, ctx: &BlockContext, id: u32, delay: u64, events: &mut Vec<Event>) {
    let Ok(Some(mut proposal)) = proposal(state, id) else {
        return;
    };
    if proposal.status != ProposalStatus::Voting {
        return;
    }
    let checkpoint = state.checkpoint();
    if settle(state, &proposal, false).is_err() {
        // Only corrupted state gets here; leave everything as it was and try again next block.
        state.rollback(checkpoint);
        schedule(state, TALLY_QUEUE, ctx.height.saturating_add(1), id);
        return;
    }
    state.commit(checkpoint);
    if passes(proposal.aye, proposal.nay, proposal.min_turnout) {
        let enact_at = ctx.height.saturating_add(delay);
        proposal.status = ProposalStatus::Passed { enact_at };
        events.push(Event::ProposalPassed {
            proposal: id,
            aye: proposal.aye,
            nay: proposal.nay,
            enact_at,
        });
        schedule(state, ENACT_QUEUE, enact_at, id);
    } else {
        proposal.status = ProposalStatus::Rejected;
        events.push(Event::ProposalRejected {
            proposal: id,
            aye: proposal.aye,
            nay: proposal.nay,
        });
        schedule_prune(state, ctx.height, id);
    }
    state.put(proposal_key(id), &proposal);
}

/// Executes a passed proposal's calls atomically with `execute` and marks it enacted; returns
/// the calls' events (when they succeeded) followed by the enactment event.
fn enact(
    state: &mut State,
    ctx: &BlockContext,
    proposal: &mut Proposal,
    execute: PrivilegedExecutor,
) -> Vec<Event> {
    // Journaled, not a clone to go back to: a clone copies the block's writes so far, once
    // per proposal due.
    let outcome = crate::module::all_or_nothing(state, |state, events| {
        proposal
            .calls
            .iter()
            .try_for_each(|call| execute(state, ctx, call, events))
    });
    let (mut call_events, error) = match outcome {
        Ok(events) => (events, None),
        Err(code) => (Vec::new(), Some(code)),
    };
    proposal.status = ProposalStatus::Enacted {
        error: error.clone(),
    };
    state.put(proposal_key(proposal.id), proposal);
    schedule_prune(state, ctx.height, proposal.id);
    call_events.push(Event::ProposalEnacted {
        proposal: proposal.id,
        error,
    });
    call_events
}

#[cfg(test)]
mod tests;
