//! Mining: stake pools, the computing lifecycle of workers, heartbeats, work points and the
//! daily payout from the mining pot (DESIGN.md §5–6).
//!
//! # Stake pools
//! Anyone creates a pool ([`MiningCall::CreatePool`]) with a commission, an optional cap on its
//! value and an optional allow-list. A pool's PHA sits on its own account
//! ([`pool_account`]): free stake on the account's free balance, stake bound to workers held
//! there as [`HoldReason::WorkerStake`]. Its **value** is `free + bound + releasing` (bound:
//! stake of computing workers; releasing: stake of stopped workers cooling down, queued to come
//! back). Contributors get shares: `amount` units on an empty pool, else
//! `amount × shares / value`, rounded down (rounding favours the pool, never the newcomer). PHA
//! sent straight to a pool's account is a donation: it raises the share price.
//!
//! A withdrawal of `s` shares is worth `s × value / shares`, rounded down. It is paid at once
//! when nobody is queued before it and the free stake covers it; otherwise it joins the pool's
//! FIFO queue, priced when paid (queued shares keep sharing rewards and slashes); an account
//! has at most one request waiting per pool, worth at least a PHA unless it is all it holds. The queue is
//! served whenever stake becomes free (contributions, rewards, reclaimed stake) and by a sweep
//! every block; a request still unmet after `withdraw_grace_ms` forces the pool to stop workers,
//! in binding order, until the stake coming back covers the queue.
//!
//! A contribution's shares sit out the settlement of the day they joined in: they can be
//! withdrawn once the following day has closed (`mining/lock/<id><account>`), so nobody can
//! contribute just before a pool is paid and leave right after with the reward.
//!
//! Edge cases, handled explicitly: a contribution buying fewer than [`MIN_HOLDING_SHARES`]
//! is refused ([`MiningError::ContributionTooSmall`]), and so is a withdrawal that would leave
//! its account fewer (a holding is all or at least that many), so outstanding shares never
//! shrink to a few units whose price a donation could inflate against the next contributor; a pool whose value fell to zero while shares remain
//! is **bankrupt**: it takes no contributions, and withdrawing burns shares for nothing (the
//! event says 0); shares worth less than a unit (dust) are burnt the same way; an empty pool (no
//! shares) starts again at one share per unit.
//!
//! # Worker lifecycle
//! Ready → Computing ↔ Unresponsive → CoolingDown → Ready. The owner of a pool binds workers it
//! operates ([`MiningCall::AddWorker`]) and starts them with stake from the pool's free stake,
//! at least `k·sqrt(P)` PHA (P capped at `max_p`, at least `min_p`). A worker starts only with
//! an attestation younger than `attestation_max_age_blocks` that the current policy still
//! accepts. Stopping starts a cooldown of `cooldown_ms`; then anyone may reclaim the stake into
//! the pool's free stake.
//!
//! # Heartbeats
//! Computing workers sit in a dense array of slots (an unresponsive worker leaves it until it
//! answers). Each block draws `challenges_per_block`
//! slots from a seed `H(domain ‖ parent hash ‖ height)`; a drawn worker that is computing, has
//! no open challenge and was last challenged at least `1 h / max_challenges_per_hour` ago is
//! challenged (so challenges are spread out, never bunched at the start of an hour). Its enclave answers with a message on
//! [`HEARTBEAT_TOPIC`] (payload: the challenge height) through the message queue; no answer by
//! `answer_window_blocks` later makes it Unresponsive, and a late answer to the same challenge
//! makes it Computing again.
//!
//! Bias bound: the seed is the parent block's hash, which that block's proposer can grind (by
//! ordering transactions) before proposing; nobody else can steer it. So a proposer holding a
//! fraction `f` of the leader slots can choose the draw of at most a fraction `f` of blocks,
//! for example to spare its own offline workers there. Every other block still draws
//! independently of it, so an offline worker is caught at most `1 / (1 − f)` times later than
//! with an unbiased draw (with `f < 1/3`, at most 1.5×), and grinding can never make an online
//! worker miss a challenge: it only chooses who is asked. A threshold-signature seed would remove
//! even that; this chain's consensus signs with ed25519, so it has none.
//!
//! # Work points and the daily payout
//! While computing, a worker earns `share × hours` points, `share = sqrt(V² + (2·P·conf)²)`.
//! V starts at `Ve` ([`work::initial_value`]), grows by `rho` per whole hour online up to
//! `v_max`, and decays by `decay` per hour unresponsive; a change of state restarts the hour.
//! Points are counted lazily: each time a worker is touched, up to that moment, split at the
//! day boundary.
//!
//! Days are consecutive `day_ms` spans of chain time from genesis ([`Settlement`]). When block
//! time passes the open day's end, the settlement closes that day in slices of `settle_slice`
//! workers per block (each active worker's points up to the boundary are summed), then pays
//! it: the day's budget `720,000 PHA × 0.75^(day / 180)`, at most what the pot holds
//! ([`schedule::budget_of_day`]), less the treasury's `treasury_per_mille`, split by points,
//! each share rounded down. The rounding dust (and the whole budget of a day nobody worked)
//! stays in the pot; [`DayRecord`] accounts for every unit. A worker's reward goes to its pool:
//! the commission to the owner's free balance, the rest to the pool's free stake (raising the
//! share price). When the pot is empty, rewards stop.
//!
//! # Slashing
//! Each settled day, a worker whose time unresponsive since its last such slash adds up to
//! `unresponsive_grace_ms` loses `unresponsive_slash_per_mille` of its stake (the count then
//! starts again; answering late now and then, stopping, or a day boundary doesn't reset it). A worker whose platform TCB the policy now
//! revokes loses `misbehaviour_slash_per_mille` and is stopped; one whose measurement the policy
//! no longer allows, or whose attestation is older than the maximum age, is stopped without a
//! slash. These standing checks run as the settlement visits each worker, so they take effect
//! within a day. Slashed PHA goes to the treasury out of the pool's held stake, so every
//! shareholder shares the loss.
//!
//! **Provable misbehaviour** bans the enclave identity for good ([`punish_enclave`]): two
//! different messages signed for the same (origin, sequence) of the message queue (an honest
//! enclave signs each sequence with one content: its commit-before-release protocol), or two
//! different results it reported for the same contract command (deterministic execution of the
//! same input). Any account may submit the first as evidence
//! (`MessageQueueCall::ReportConflict`), against a heartbeat answer's sequence only within the
//! hour the answer stays in state (`message_queue::HEARTBEAT_RETENTION_MS`); the second the
//! chain sees itself when the second
//! report arrives. The enclave loses `misbehaviour_slash_per_mille` of its worker stake and is
//! stopped (its pool's shareholders share the loss, as for any slash), loses the same fraction
//! of its gatekeeper stake and its appointment and leaves every cluster
//! ([`gatekeeper::punish`]), and can never start computing, be appointed or join a cluster
//! again ([`MiningError::Banned`], `GatekeeperError::Banned`); the message queue refuses
//! whatever it signs from then on. Its operator's other enclaves are
//! untouched: the evidence names one identity.
//!
//! Storage keys: `mining/params` → [`MiningParams`]; `mining/next_pool` → u64;
//! `mining/pool/<id BE>` → [`StakePool`]; `mining/share/<id BE><account>` → u128;
//! `mining/queue/<id BE><seq BE>` → [`WithdrawRequest`]; `mining/waiting/<id BE>` → () while a
//! pool has queued withdrawals, with `mining/waiting_cursor` → u64; `mining/miner/<identity>`
//! → [`Miner`]; `mining/active/<identity>` → () for workers the settlement must visit;
//! `mining/slot/<u32 BE>` → identity and `mining/slots` → u32, the computing set;
//! `mining/deadline/<height BE><identity>` → () for open challenges; `mining/settlement` →
//! [`Settlement`]; `mining/day/<day BE>` → [`DayRecord`]; `mining/ban/<identity>` → [`Ban`].

use crate::balances::{self, BalancesError, HoldReason};
use crate::events::Event;
use crate::fixed::{mul_div, Fixed};
use crate::genesis::{self, GenesisConfig, GenesisError};
use crate::invariants::InvariantError;
use crate::module::{ErrorCodes, Module};
use crate::work::{self, WorkParams};
use crate::{gatekeeper, registry, schedule, system, treasury, BlockContext, DispatchResult};
use parity_scale_codec::{Decode, Encode};
use phalanx_primitives::call::MiningCall;
use phalanx_primitives::mining::{
    DayRecord, Miner, MinerState, MiningParams, Settlement, SettlementPhase, StakePool,
    WithdrawRequest, MAX_ALLOW_LIST, MAX_COMMISSION_PER_MILLE, MAX_POOL_WORKERS,
    MAX_WITHDRAW_QUEUE,
};
use phalanx_primitives::{AccountId, Balance, CodecError, Hash, PHA};
use phalanx_state::{State, StateExt};

pub use phalanx_primitives::mining::HEARTBEAT_TOPIC;

const PARAMS: &[u8] = b"mining/params";
const NEXT_POOL: &[u8] = b"mining/next_pool";
const POOL_PREFIX: &[u8] = b"mining/pool/";
const SHARE_PREFIX: &[u8] = b"mining/share/";
const QUEUE_PREFIX: &[u8] = b"mining/queue/";
const WAITING_PREFIX: &[u8] = b"mining/waiting/";
const WAITING_CURSOR: &[u8] = b"mining/waiting_cursor";
const MINER_PREFIX: &[u8] = b"mining/miner/";
const ACTIVE_PREFIX: &[u8] = b"mining/active/";
const SLOT_PREFIX: &[u8] = b"mining/slot/";
const SLOTS: &[u8] = b"mining/slots";
const DEADLINE_PREFIX: &[u8] = b"mining/deadline/";
const SETTLEMENT: &[u8] = b"mining/settlement";
const DAY_PREFIX: &[u8] = b"mining/day/";
const LOCK_PREFIX: &[u8] = b"mining/lock/";
const BAN_PREFIX: &[u8] = b"mining/ban/";

/// The fewest shares a contribution may buy and a holder may keep (all or at least this many):
/// a pool's outstanding shares are then never a handful of units whose price a donation could
/// inflate so that the next contribution rounds down to a loss. One PHA's worth at the first
/// contribution's price.
pub const MIN_HOLDING_SHARES: u128 = PHA;
/// An hour of chain time, in ms.
const HOUR_MS: u64 = 3_600_000;
/// Most day boundaries the settlement crosses in one block (after a long halt it catches up a
/// few days per block instead of all at once).
const MAX_DAYS_PER_BLOCK: u32 = 4;
/// Pools with queued withdrawals the per-block sweep visits.
const SWEEP_POOLS: usize = 16;
/// Most heartbeat deadlines handled in one block.
const MAX_DEADLINES_PER_BLOCK: usize = 4_096;
/// Domain of the heartbeat seed.
const CHALLENGE_DOMAIN: &[u8] = b"phalanx/mining/challenge/v1";

// A balance in units is a `Fixed` number of PHA with the same raw value: both scale by 10^12.
const _: () = assert!(Fixed::SCALE == PHA);

/// Why a mining call failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum MiningError {
    /// No pool has this number.
    #[error("stake pool #{0} does not exist")]
    NoSuchPool(u64),
    /// Only the pool's owner may do this.
    #[error("only the owner of pool #{0} may manage its workers")]
    NotPoolOwner(u64),
    /// The worker is not registered.
    #[error("worker {0} is not registered; register it first")]
    WorkerNotRegistered(String),
    /// The worker is operated by someone else.
    #[error("worker {0} is operated by another account; only its operator may bind it")]
    NotWorkerOperator(String),
    /// The worker is already bound to a pool.
    #[error("worker {worker} is already bound to pool #{pool}")]
    AlreadyBound {
        /// The worker.
        worker: String,
        /// Its pool.
        pool: u64,
    },
    /// The worker is not bound to this pool.
    #[error("worker {worker} is not bound to pool #{pool}")]
    NotInPool {
        /// The worker.
        worker: String,
        /// The pool named.
        pool: u64,
    },
    /// The pool has as many workers as it may.
    #[error("a pool may bind at most {MAX_POOL_WORKERS} workers")]
    PoolFull,
    /// The worker is in the wrong state for this.
    #[error("worker {worker} is {state:?}; this needs it {needed}")]
    WrongState {
        /// The worker.
        worker: String,
        /// Its state.
        state: MinerState,
        /// What the call needs.
        needed: &'static str,
    },
    /// The worker's score is below the minimum.
    #[error("performance score {score} is below the minimum {minimum} for computing")]
    PerformanceTooLow {
        /// Its score.
        score: u32,
        /// The minimum.
        minimum: u32,
    },
    /// The stake offered is below `k·sqrt(P)`.
    #[error(
        "a worker of score {performance} needs at least {needed} units of stake, not {offered}"
    )]
    StakeTooLow {
        /// The capped score.
        performance: u32,
        /// The least stake.
        needed: Balance,
        /// The stake offered.
        offered: Balance,
    },
    /// The pool's free stake does not cover it.
    #[error("pool #{pool} has {free} units of free stake, {needed} are needed")]
    InsufficientFreeStake {
        /// The pool.
        pool: u64,
        /// Its free stake.
        free: Balance,
        /// What was needed.
        needed: Balance,
    },
    /// The worker's attestation is too old.
    #[error("worker {worker} last attested at block #{attested}; attestations older than {max_age} blocks must be renewed (re-register)")]
    AttestationExpired {
        /// The worker.
        worker: String,
        /// Its last attestation.
        attested: u64,
        /// The maximum age.
        max_age: u64,
    },
    /// The current attestation policy no longer accepts the worker.
    #[error("the attestation policy no longer accepts worker {0} (measurement or TCB revoked)")]
    AttestationRevoked(String),
    /// The cooldown has not ended.
    #[error("worker {worker} cools down until {until_ms} ms of chain time")]
    StillCoolingDown {
        /// The worker.
        worker: String,
        /// When it ends.
        until_ms: u64,
    },
    /// The commission is over 1000 per mille.
    #[error("commission {0}‰ is over 1000‰")]
    CommissionTooHigh(u16),
    /// The allow-list is too long.
    #[error("an allow-list has at most {MAX_ALLOW_LIST} accounts, not {0}")]
    AllowListTooLong(usize),
    /// The sender is not on the pool's allow-list.
    #[error("pool #{0} accepts contributions only from its allow-list")]
    NotAllowed(u64),
    /// The contribution would take the pool past its cap.
    #[error("pool #{pool} is capped at {cap} units and holds {value}")]
    OverCap {
        /// The pool.
        pool: u64,
        /// Its cap.
        cap: Balance,
        /// Its value now.
        value: Balance,
    },
    /// The contribution is worth less than one share.
    #[error("a contribution of {0} units buys no share at this pool's price; contribute more")]
    ContributionTooSmall(Balance),
    /// The pool lost all its value while shares remain.
    #[error("pool #{0} is bankrupt (its value is zero); it takes no contributions")]
    PoolBankrupt(u64),
    /// The sender holds fewer shares.
    #[error("you hold {have} shares of this pool, not {want}")]
    NotEnoughShares {
        /// Shares held.
        have: u128,
        /// Shares asked for.
        want: u128,
    },
    /// Zero of something that must be positive.
    #[error("the amount must be positive")]
    ZeroAmount,
    /// The withdrawal queue is full.
    #[error("pool #{0}'s withdrawal queue is full; try again when it has moved")]
    QueueFull(u64),
    /// The worker still has points to be paid.
    #[error("worker {0} still has work points to be paid; unbind it after the next settlement")]
    UnsettledPoints(String),
    /// A heartbeat answers no open challenge.
    #[error("the heartbeat answers no open challenge of this worker")]
    NoOpenChallenge,
    /// A heartbeat's payload is not a challenge height.
    #[error("a heartbeat's payload must be the SCALE u64 height of its challenge")]
    MalformedHeartbeat,
    /// Shares contributed recently can't be withdrawn yet.
    #[error("your latest contribution to this pool can be withdrawn from day {until_day} on (new stake sits out the settlement of the day it joined)")]
    SharesLocked {
        /// The first day they can.
        until_day: u64,
    },
    /// The account already has a withdrawal waiting in this pool's queue.
    #[error("you already have a withdrawal waiting in pool #{0}'s queue; wait until it is paid")]
    AlreadyQueued(u64),
    /// The withdrawal would leave the account a dust holding.
    #[error("this would leave you {left} share units, under the least holding of {MIN_HOLDING_SHARES}; withdraw them all or fewer")]
    DustLeft {
        /// Share units that would be left.
        left: u128,
    },
    /// A queued withdrawal must be worth at least a PHA (or be all the account holds).
    #[error("a queued withdrawal must be worth at least 1 PHA or all your shares; this one is worth {0} units")]
    RequestTooSmall(Balance),
    /// The enclave was banned for provable misbehaviour.
    #[error("worker {0} was banned for provable misbehaviour and can never compute again; register a new enclave")]
    Banned(String),
    /// A balances operation failed.
    #[error(transparent)]
    Funds(#[from] BalancesError),
    /// Arithmetic overflowed (a bug or absurd parameters).
    #[error("mining arithmetic overflowed")]
    Overflow,
    /// Corrupted state.
    #[error("corrupted mining state: {0}")]
    Corrupted(String),
}

impl ErrorCodes for MiningError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("no_such_pool", "the stake pool does not exist"),
        ("not_pool_owner", "only the pool's owner may do this"),
        ("worker_not_registered", "the worker is not registered"),
        (
            "not_worker_operator",
            "the worker is operated by another account",
        ),
        ("already_bound", "the worker is already bound to a pool"),
        ("not_in_pool", "the worker is not bound to this pool"),
        ("pool_full", "the pool has as many workers as it may"),
        ("wrong_state", "the worker is in the wrong state for this"),
        (
            "performance_too_low",
            "the worker's score is below the minimum for computing",
        ),
        ("stake_too_low", "the stake is below k·sqrt(P)"),
        (
            "insufficient_free_stake",
            "the pool's free stake does not cover it",
        ),
        ("attestation_expired", "the worker's attestation is too old"),
        (
            "attestation_revoked",
            "the attestation policy no longer accepts the worker",
        ),
        ("still_cooling_down", "the worker's cooldown has not ended"),
        (
            "commission_too_high",
            "the commission is over 1000 per mille",
        ),
        ("allow_list_too_long", "the allow-list is too long"),
        ("not_allowed", "the sender is not on the pool's allow-list"),
        (
            "over_cap",
            "the contribution would take the pool past its cap",
        ),
        ("contribution_too_small", "the contribution buys no share"),
        (
            "pool_bankrupt",
            "the pool's value is zero while shares remain",
        ),
        ("not_enough_shares", "the sender holds fewer shares"),
        ("zero_amount", "the amount must be positive"),
        ("queue_full", "the pool's withdrawal queue is full"),
        (
            "unsettled_points",
            "the worker still has work points to be paid",
        ),
        (
            "no_open_challenge",
            "the heartbeat answers no open challenge",
        ),
        (
            "malformed_heartbeat",
            "the heartbeat's payload is not a challenge height",
        ),
        (
            "shares_locked",
            "shares contributed recently can't be withdrawn yet",
        ),
        (
            "already_queued",
            "the account already has a withdrawal waiting in this pool's queue",
        ),
        (
            "dust_left",
            "the withdrawal would leave the account a dust holding",
        ),
        (
            "request_too_small",
            "a queued withdrawal must be worth at least a PHA or be all the account holds",
        ),
        ("banned", "the worker was banned for provable misbehaviour"),
        ("funds", "not enough PHA"),
        ("overflow", "mining arithmetic overflowed"),
        ("corrupted", "the mining state could not be decoded"),
    ];

    fn code(&self) -> &'static str {
        match self {
            MiningError::NoSuchPool(_) => "no_such_pool",
            MiningError::NotPoolOwner(_) => "not_pool_owner",
            MiningError::WorkerNotRegistered(_) => "worker_not_registered",
            MiningError::NotWorkerOperator(_) => "not_worker_operator",
            MiningError::AlreadyBound { .. } => "already_bound",
            MiningError::NotInPool { .. } => "not_in_pool",
            MiningError::PoolFull => "pool_full",
            MiningError::WrongState { .. } => "wrong_state",
            MiningError::PerformanceTooLow { .. } => "performance_too_low",
            MiningError::StakeTooLow { .. } => "stake_too_low",
            MiningError::InsufficientFreeStake { .. } => "insufficient_free_stake",
            MiningError::AttestationExpired { .. } => "attestation_expired",
            MiningError::AttestationRevoked(_) => "attestation_revoked",
            MiningError::StillCoolingDown { .. } => "still_cooling_down",
            MiningError::CommissionTooHigh(_) => "commission_too_high",
            MiningError::AllowListTooLong(_) => "allow_list_too_long",
            MiningError::NotAllowed(_) => "not_allowed",
            MiningError::OverCap { .. } => "over_cap",
            MiningError::ContributionTooSmall(_) => "contribution_too_small",
            MiningError::PoolBankrupt(_) => "pool_bankrupt",
            MiningError::NotEnoughShares { .. } => "not_enough_shares",
            MiningError::ZeroAmount => "zero_amount",
            MiningError::QueueFull(_) => "queue_full",
            MiningError::UnsettledPoints(_) => "unsettled_points",
            MiningError::NoOpenChallenge => "no_open_challenge",
            MiningError::MalformedHeartbeat => "malformed_heartbeat",
            MiningError::SharesLocked { .. } => "shares_locked",
            MiningError::AlreadyQueued(_) => "already_queued",
            MiningError::DustLeft { .. } => "dust_left",
            MiningError::RequestTooSmall(_) => "request_too_small",
            MiningError::Banned(_) => "banned",
            // Receipts record the balances module's own code (`DispatchError::code`).
            MiningError::Funds(_) => "funds",
            MiningError::Overflow => "overflow",
            MiningError::Corrupted(_) => "corrupted",
        }
    }
}

impl From<CodecError> for MiningError {
    fn from(e: CodecError) -> Self {
        MiningError::Corrupted(e.to_string())
    }
}

/// Why a slash happened (recorded in [`Event::WorkerSlashed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlashReason {
    /// Unresponsive past the grace period.
    Unresponsive,
    /// Its platform's TCB was revoked by the attestation policy.
    AttestationRevoked,
    /// It signed two different messages for one (origin, sequence) of the message queue.
    ConflictingMessages,
    /// It reported two different results for one contract command.
    ConflictingResults,
}

/// A banned enclave identity: when and why ([`punish_enclave`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Ban {
    /// Height of the block that banned it.
    pub at_height: u64,
    /// The misbehaviour.
    pub reason: SlashReason,
}

// ---------------------------------------------------------------------------------------------
// Keys and reads.

/// The storage key of the mining parameters.
pub fn params_key() -> Vec<u8> {
    PARAMS.to_vec()
}

/// The storage key of `identity`'s ban.
pub fn ban_key(identity: &[u8; 32]) -> Vec<u8> {
    [BAN_PREFIX, identity].concat()
}

/// `identity`'s ban, if it was banned.
pub fn ban(state: &State, identity: &[u8; 32]) -> Result<Option<Ban>, CodecError> {
    state.get_decoded(&ban_key(identity))
}

/// The storage key of pool `id`.
pub fn pool_key(id: u64) -> Vec<u8> {
    [POOL_PREFIX, &id.to_be_bytes()].concat()
}

/// The storage key of `who`'s shares in pool `id`.
pub fn share_key(id: u64, who: &AccountId) -> Vec<u8> {
    [SHARE_PREFIX, &id.to_be_bytes(), who.as_bytes()].concat()
}

fn queue_key(id: u64, seq: u64) -> Vec<u8> {
    [QUEUE_PREFIX, &id.to_be_bytes(), &seq.to_be_bytes()].concat()
}

fn lock_key(id: u64, who: &AccountId) -> Vec<u8> {
    [LOCK_PREFIX, &id.to_be_bytes(), who.as_bytes()].concat()
}

fn waiting_key(id: u64) -> Vec<u8> {
    [WAITING_PREFIX, &id.to_be_bytes()].concat()
}

/// The storage key of worker `identity`'s mining record.
pub fn miner_key(identity: &[u8; 32]) -> Vec<u8> {
    [MINER_PREFIX, identity].concat()
}

fn active_key(identity: &[u8; 32]) -> Vec<u8> {
    [ACTIVE_PREFIX, identity].concat()
}

fn slot_key(slot: u32) -> Vec<u8> {
    [SLOT_PREFIX, &slot.to_be_bytes()].concat()
}

fn deadline_key(height: u64, identity: &[u8; 32]) -> Vec<u8> {
    [DEADLINE_PREFIX, &height.to_be_bytes(), identity].concat()
}

/// The storage key of the settlement state.
pub fn settlement_key() -> Vec<u8> {
    SETTLEMENT.to_vec()
}

/// The storage key of day `day`'s record.
pub fn day_key(day: u64) -> Vec<u8> {
    [DAY_PREFIX, &day.to_be_bytes()].concat()
}

/// The account that holds pool `id`'s PHA (no key can sign for it).
pub fn pool_account(id: u64) -> AccountId {
    AccountId::module(&format!("mining-pool/{id}"))
}

/// The mining parameters (the defaults if never set).
pub fn params(state: &State) -> Result<MiningParams, CodecError> {
    Ok(state.get_decoded(PARAMS)?.unwrap_or_default())
}

/// Stores the mining parameters (bounds are checked by the caller: genesis, privileged path).
pub fn set_params(state: &mut State, params: &MiningParams) {
    state.put(PARAMS.to_vec(), params);
}

/// The work formula's parameters from the mining parameters.
pub fn work_params(params: &MiningParams) -> WorkParams {
    WorkParams {
        re: Fixed::from_raw(params.re_raw),
        rig_k: Fixed::from_raw(params.rig_k_raw),
        k: Fixed::from_raw(params.k_raw),
        v_max: Fixed::from_raw(params.v_max_raw),
        rho: Fixed::from_raw(params.rho_raw),
        decay: Fixed::from_raw(params.decay_raw),
        min_p: params.min_p,
    }
}

/// Pool `id`.
pub fn pool(state: &State, id: u64) -> Result<Option<StakePool>, CodecError> {
    state.get_decoded(&pool_key(id))
}

/// Every pool, by number.
pub fn pools(state: &State) -> Result<Vec<StakePool>, CodecError> {
    state
        .scan_prefix(POOL_PREFIX)
        .map(|(_, value)| {
            StakePool::decode(&mut value.as_slice())
                .map_err(|e| CodecError::Malformed(e.to_string()))
        })
        .collect()
}

/// `who`'s shares in pool `id`.
pub fn shares_of(state: &State, id: u64, who: &AccountId) -> Result<u128, CodecError> {
    Ok(state.get_decoded(&share_key(id, who))?.unwrap_or(0))
}

/// Every shareholder of pool `id` with their shares (queued shares not included).
pub fn shareholders(state: &State, id: u64) -> Result<Vec<(AccountId, u128)>, CodecError> {
    let prefix = [SHARE_PREFIX, &id.to_be_bytes()].concat();
    state
        .scan_prefix(&prefix)
        .map(|(key, value)| {
            let account: [u8; 32] = key[prefix.len()..]
                .try_into()
                .map_err(|_| CodecError::Malformed("share key".into()))?;
            let shares = u128::decode(&mut value.as_slice())
                .map_err(|e| CodecError::Malformed(e.to_string()))?;
            Ok((AccountId(account), shares))
        })
        .collect()
}

/// Pool `id`'s queued withdrawals, oldest first.
pub fn queue(state: &State, id: u64) -> Result<Vec<WithdrawRequest>, CodecError> {
    let prefix = [QUEUE_PREFIX, &id.to_be_bytes()].concat();
    state
        .scan_prefix(&prefix)
        .map(|(_, value)| {
            WithdrawRequest::decode(&mut value.as_slice())
                .map_err(|e| CodecError::Malformed(e.to_string()))
        })
        .collect()
}

/// Worker `identity`'s mining record, if bound to a pool.
pub fn miner(state: &State, identity: &[u8; 32]) -> Result<Option<Miner>, CodecError> {
    state.get_decoded(&miner_key(identity))
}

/// Every bound worker, by identity.
pub fn miners(state: &State) -> Result<Vec<Miner>, CodecError> {
    state
        .scan_prefix(MINER_PREFIX)
        .map(|(_, value)| {
            Miner::decode(&mut value.as_slice()).map_err(|e| CodecError::Malformed(e.to_string()))
        })
        .collect()
}

/// The settlement's state (at genesis: day 0 open from the genesis time, idle).
pub fn settlement(state: &State) -> Result<Settlement, CodecError> {
    match state.get_decoded(SETTLEMENT)? {
        Some(s) => Ok(s),
        None => Ok(Settlement {
            open_day: 0,
            open_day_start_ms: system::genesis_time_ms(state)?,
            phase: SettlementPhase::Idle,
        }),
    }
}

/// Day `day`'s record, once settled.
pub fn day_record(state: &State, day: u64) -> Result<Option<DayRecord>, CodecError> {
    state.get_decoded(&day_key(day))
}

/// The most recent settled days, newest first (at most `limit`).
pub fn recent_days(state: &State, limit: usize) -> Result<Vec<DayRecord>, CodecError> {
    let mut days: Vec<DayRecord> = state
        .scan_prefix(DAY_PREFIX)
        .map(|(_, value)| {
            DayRecord::decode(&mut value.as_slice())
                .map_err(|e| CodecError::Malformed(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    days.reverse();
    days.truncate(limit);
    Ok(days)
}

/// The pool's free stake: its account's free balance.
pub fn free_stake(state: &State, pool: &StakePool) -> Result<Balance, CodecError> {
    Ok(balances::account(state, &pool.account)?.free)
}

/// The pool's value: free + bound + releasing.
pub fn pool_value(state: &State, pool: &StakePool) -> Result<Balance, MiningError> {
    free_stake(state, pool)?
        .checked_add(pool.bound)
        .and_then(|v| v.checked_add(pool.releasing))
        .ok_or(MiningError::Overflow)
}

/// What `shares` of `pool` are worth now, rounded down.
pub fn shares_value(state: &State, pool: &StakePool, shares: u128) -> Result<Balance, MiningError> {
    if pool.shares == 0 {
        return Ok(0);
    }
    mul_div(shares, pool_value(state, pool)?, pool.shares).ok_or(MiningError::Overflow)
}

/// Units held as worker stake across all pools (for the reserved-balance invariant).
pub fn reserved_total(state: &State) -> Result<Balance, CodecError> {
    Ok(pools(state)?
        .iter()
        .map(|p| p.bound.saturating_add(p.releasing))
        .sum())
}

fn store_pool(state: &mut State, pool: &StakePool) {
    state.put(pool_key(pool.id), pool);
}

fn store_miner(state: &mut State, miner: &Miner) {
    state.put(miner_key(&miner.identity), miner);
}

fn load_pool(state: &State, id: u64) -> Result<StakePool, MiningError> {
    pool(state, id)?.ok_or(MiningError::NoSuchPool(id))
}

fn owned_pool(state: &State, id: u64, who: &AccountId) -> Result<StakePool, MiningError> {
    let pool = load_pool(state, id)?;
    if pool.owner != *who {
        return Err(MiningError::NotPoolOwner(id));
    }
    Ok(pool)
}

fn pool_miner(state: &State, pool: u64, worker: &[u8; 32]) -> Result<Miner, MiningError> {
    match miner(state, worker)? {
        Some(m) if m.pool == pool => Ok(m),
        _ => Err(MiningError::NotInPool {
            worker: hex::encode(worker),
            pool,
        }),
    }
}

fn wrong_state(m: &Miner, needed: &'static str) -> MiningError {
    MiningError::WrongState {
        worker: hex::encode(m.identity),
        state: m.state,
        needed,
    }
}

fn set_shares(state: &mut State, id: u64, who: &AccountId, shares: u128) {
    if shares == 0 {
        state.remove(&share_key(id, who));
    } else {
        state.put(share_key(id, who), &shares);
    }
}

fn is_computing(m: &Miner) -> bool {
    matches!(m.state, MinerState::Computing | MinerState::Unresponsive)
}

// ---------------------------------------------------------------------------------------------
// Work points.

/// Counts `m`'s work points and moves its value up to `to` (a single state throughout).
fn segment(m: &mut Miner, work: &WorkParams, to: u64) -> Result<(), MiningError> {
    if to <= m.accrued_to_ms {
        return Ok(());
    }
    let value = Fixed::from_raw(m.value_raw);
    let hours = to.saturating_sub(m.value_anchor_ms) / HOUR_MS;
    match m.state {
        MinerState::Computing => {
            let conf = work::confidence(m.confidence);
            let share = work::share(value, m.performance, conf).ok_or(MiningError::Overflow)?;
            let points = work::points(share, to - m.accrued_to_ms).ok_or(MiningError::Overflow)?;
            m.points_raw = m
                .points_raw
                .checked_add(points.raw())
                .ok_or(MiningError::Overflow)?;
            m.value_raw = work::grown(work, value, hours).raw();
        }
        MinerState::Unresponsive => {
            m.value_raw = work::decayed(work, value, hours).raw();
            m.unresponsive_ms = m.unresponsive_ms.saturating_add(to - m.accrued_to_ms);
        }
        MinerState::Ready | MinerState::CoolingDown => {}
    }
    m.value_anchor_ms = m.value_anchor_ms.saturating_add(hours * HOUR_MS);
    m.accrued_to_ms = to;
    Ok(())
}

/// Brings `m`'s points up to `now` (no further than the open day's end). Points of a day the
/// settlement is closing are first counted up to that day's end and closed into its total.
fn accrue(
    m: &mut Miner,
    settlement: &mut Settlement,
    params: &MiningParams,
    now: u64,
) -> Result<(), MiningError> {
    let work = work_params(params);
    if m.points_day < settlement.open_day {
        let closing_end = settlement.open_day_start_ms;
        match &mut settlement.phase {
            SettlementPhase::Closing { day, total_raw, .. } if *day == m.points_day => {
                segment(m, &work, closing_end)?;
                *total_raw = total_raw
                    .checked_add(m.points_raw)
                    .ok_or(MiningError::Overflow)?;
                m.closed_points_raw = m.points_raw;
                m.closed_day = *day;
                m.points_raw = 0;
            }
            _ if m.points_raw > 0 || is_computing(m) => {
                return Err(MiningError::Corrupted(format!(
                    "worker {} has points of day {} while day {} is open and not closing",
                    hex::encode(m.identity),
                    m.points_day,
                    settlement.open_day
                )))
            }
            _ => {}
        }
        m.points_day = settlement.open_day;
        m.accrued_to_ms = m.accrued_to_ms.max(closing_end);
    }
    let day_end = settlement.open_day_start_ms.saturating_add(params.day_ms);
    segment(m, &work, now.min(day_end))
}

/// Moves `m` to `next`, counting its points first; the value's hour restarts.
fn transition(
    m: &mut Miner,
    next: MinerState,
    settlement: &mut Settlement,
    params: &MiningParams,
    now: u64,
) -> Result<(), MiningError> {
    accrue(m, settlement, params, now)?;
    // Time past the open day's end that the settlement has not rolled over yet (a block at
    // most, or a halt) is counted in neither state: never in the new one.
    m.accrued_to_ms = m.accrued_to_ms.max(now);
    m.state = next;
    m.state_since_ms = now;
    m.value_anchor_ms = now;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The computing set (heartbeat slots).

fn slots(state: &State) -> Result<u32, CodecError> {
    Ok(state.get_decoded(SLOTS)?.unwrap_or(0))
}

fn add_slot(state: &mut State, m: &mut Miner) -> Result<(), MiningError> {
    let count = slots(state)?;
    state.put(slot_key(count), &m.identity);
    state.put(SLOTS.to_vec(), &(count + 1));
    m.slot = Some(count);
    Ok(())
}

fn remove_slot(state: &mut State, m: &mut Miner) -> Result<(), MiningError> {
    let Some(slot) = m.slot.take() else {
        return Ok(());
    };
    let last = slots(state)?
        .checked_sub(1)
        .ok_or_else(|| MiningError::Corrupted("slot of an empty set".into()))?;
    if slot != last {
        let moved: [u8; 32] = state
            .get_decoded(&slot_key(last))?
            .ok_or_else(|| MiningError::Corrupted("missing slot".into()))?;
        let mut other = miner(state, &moved)?
            .ok_or_else(|| MiningError::Corrupted("slot of an unbound worker".into()))?;
        other.slot = Some(slot);
        store_miner(state, &other);
        state.put(slot_key(slot), &moved);
    }
    state.remove(&slot_key(last));
    state.put(SLOTS.to_vec(), &last);
    Ok(())
}

fn clear_challenge(state: &mut State, m: &mut Miner) {
    if let Some((_, deadline)) = m.challenge.take() {
        state.remove(&deadline_key(deadline, &m.identity));
    }
}

// ---------------------------------------------------------------------------------------------
// Pools.

fn create_pool(
    state: &mut State,
    who: &AccountId,
    commission_per_mille: u16,
    cap: Option<Balance>,
    allow_list: Option<Vec<AccountId>>,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    if commission_per_mille > MAX_COMMISSION_PER_MILLE {
        return Err(MiningError::CommissionTooHigh(commission_per_mille));
    }
    if let Some(list) = &allow_list {
        if list.len() > MAX_ALLOW_LIST {
            return Err(MiningError::AllowListTooLong(list.len()));
        }
    }
    let id: u64 = state.get_decoded(NEXT_POOL)?.unwrap_or(0);
    state.put(NEXT_POOL.to_vec(), &(id + 1));
    let pool = StakePool {
        id,
        owner: *who,
        account: pool_account(id),
        commission_per_mille,
        cap,
        allow_list,
        shares: 0,
        bound: 0,
        releasing: 0,
        workers: Vec::new(),
        queue_head: 0,
        queue_tail: 0,
        queued_shares: 0,
        rewards: 0,
        commission_paid: 0,
        slashed: 0,
    };
    store_pool(state, &pool);
    events.push(Event::PoolCreated {
        pool: id,
        owner: *who,
        commission_per_mille,
    });
    Ok(())
}

fn contribute(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    id: u64,
    amount: Balance,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut pool = load_pool(state, id)?;
    if amount == 0 {
        return Err(MiningError::ZeroAmount);
    }
    if let Some(list) = &pool.allow_list {
        if !list.contains(who) {
            return Err(MiningError::NotAllowed(id));
        }
    }
    let value = pool_value(state, &pool)?;
    if let Some(cap) = pool.cap {
        if value.saturating_add(amount) > cap {
            return Err(MiningError::OverCap {
                pool: id,
                cap,
                value,
            });
        }
    }
    let minted = if pool.shares == 0 {
        amount
    } else if value == 0 {
        return Err(MiningError::PoolBankrupt(id));
    } else {
        mul_div(amount, pool.shares, value).ok_or(MiningError::Overflow)?
    };
    if minted < MIN_HOLDING_SHARES {
        return Err(MiningError::ContributionTooSmall(amount));
    }
    balances::transfer_free(state, who, &pool.account, amount)?;
    pool.shares = pool
        .shares
        .checked_add(minted)
        .ok_or(MiningError::Overflow)?;
    let held = shares_of(state, id, who)?;
    set_shares(state, id, who, held + minted);
    store_pool(state, &pool);
    // New shares sit out the settlement of the day they joined in: withdrawable once the next
    // day has closed (see the module docs).
    let mut settlement = settlement(state)?;
    state.put(lock_key(id, who), &(settlement.open_day + 2));
    events.push(Event::PoolContributed {
        pool: id,
        who: *who,
        amount,
        shares: minted,
    });
    serve_queue(state, ctx, id, &mut settlement, events)?;
    state.put(SETTLEMENT.to_vec(), &settlement);
    Ok(())
}

fn withdraw(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    id: u64,
    shares: u128,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut pool = load_pool(state, id)?;
    if shares == 0 {
        return Err(MiningError::ZeroAmount);
    }
    let have = shares_of(state, id, who)?;
    if have < shares {
        return Err(MiningError::NotEnoughShares { have, want: shares });
    }
    if let Some(until_day) = state.get_decoded::<u64>(&lock_key(id, who))? {
        if settlement(state)?.open_day < until_day {
            return Err(MiningError::SharesLocked { until_day });
        }
        state.remove(&lock_key(id, who));
    }
    let left = have - shares;
    if left != 0 && left < MIN_HOLDING_SHARES {
        return Err(MiningError::DustLeft { left });
    }
    let amount = shares_value(state, &pool, shares)?;
    let free = free_stake(state, &pool)?;
    set_shares(state, id, who, left);
    if pool.queue_head == pool.queue_tail && amount <= free {
        // Paid at once (a bankrupt pool or dust shares pay 0: the shares are burnt).
        balances::transfer_free(state, &pool.account, who, amount)?;
        pool.shares -= shares;
        store_pool(state, &pool);
        events.push(Event::PoolWithdrawn {
            pool: id,
            who: *who,
            amount,
            shares,
        });
        return Ok(());
    }
    if pool.queue_tail - pool.queue_head >= MAX_WITHDRAW_QUEUE {
        return Err(MiningError::QueueFull(id));
    }
    // One waiting request per account, worth at least a PHA unless it is all the account
    // holds: a few accounts can't fill the queue with dust and lock everyone else out.
    if queue(state, id)?.iter().any(|r| r.who == *who) {
        return Err(MiningError::AlreadyQueued(id));
    }
    if amount < PHA && shares < have {
        return Err(MiningError::RequestTooSmall(amount));
    }
    state.put(
        queue_key(id, pool.queue_tail),
        &WithdrawRequest {
            who: *who,
            shares,
            since_ms: ctx.timestamp_ms,
        },
    );
    pool.queue_tail += 1;
    pool.queued_shares += shares;
    store_pool(state, &pool);
    state.put(waiting_key(id), &());
    events.push(Event::PoolWithdrawalQueued {
        pool: id,
        who: *who,
        shares,
    });
    Ok(())
}

/// Pays pool `id`'s queued withdrawals in order while its free stake covers the next one; if
/// the oldest has waited past the grace period, stops workers until the stake coming back
/// covers the queue.
fn serve_queue(
    state: &mut State,
    ctx: &BlockContext,
    id: u64,
    settlement: &mut Settlement,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut pool = load_pool(state, id)?;
    while pool.queue_head < pool.queue_tail {
        let key = queue_key(id, pool.queue_head);
        let request: WithdrawRequest = state
            .get_decoded(&key)?
            .ok_or_else(|| MiningError::Corrupted("missing withdrawal request".into()))?;
        let amount = shares_value(state, &pool, request.shares)?;
        if amount > free_stake(state, &pool)? {
            break;
        }
        balances::transfer_free(state, &pool.account, &request.who, amount)?;
        pool.shares -= request.shares;
        pool.queued_shares -= request.shares;
        pool.queue_head += 1;
        state.remove(&key);
        events.push(Event::PoolWithdrawn {
            pool: id,
            who: request.who,
            amount,
            shares: request.shares,
        });
    }
    store_pool(state, &pool);
    if pool.queue_head == pool.queue_tail {
        state.remove(&waiting_key(id));
        return Ok(());
    }
    let oldest: WithdrawRequest = state
        .get_decoded(&queue_key(id, pool.queue_head))?
        .ok_or_else(|| MiningError::Corrupted("missing withdrawal request".into()))?;
    let params = params(state)?;
    if ctx.timestamp_ms.saturating_sub(oldest.since_ms) < params.withdraw_grace_ms {
        return Ok(());
    }
    // Forced shutdown: stop workers until the stake coming back covers every queued share.
    let needed = shares_value(state, &pool, pool.queued_shares)?;
    for worker in pool.workers.clone() {
        let pool_now = load_pool(state, id)?;
        if free_stake(state, &pool_now)?.saturating_add(pool_now.releasing) >= needed {
            break;
        }
        let mut m = pool_miner(state, id, &worker)?;
        if is_computing(&m) {
            stop(state, ctx, &mut m, settlement, &params, true, events)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Workers.

fn add_worker(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    id: u64,
    worker: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut pool = owned_pool(state, id, who)?;
    let info = registry::worker(state, worker)?
        .ok_or_else(|| MiningError::WorkerNotRegistered(hex::encode(worker)))?;
    if info.operator != *who {
        return Err(MiningError::NotWorkerOperator(hex::encode(worker)));
    }
    if let Some(existing) = miner(state, worker)? {
        return Err(MiningError::AlreadyBound {
            worker: hex::encode(worker),
            pool: existing.pool,
        });
    }
    if pool.workers.len() >= MAX_POOL_WORKERS {
        return Err(MiningError::PoolFull);
    }
    let m = ready_miner(*worker, id, ctx.timestamp_ms, settlement(state)?.open_day);
    store_miner(state, &m);
    pool.workers.push(*worker);
    store_pool(state, &pool);
    events.push(Event::PoolWorkerAdded {
        pool: id,
        worker: *worker,
    });
    Ok(())
}

/// A freshly bound worker of pool `pool`: ready, no stake, nothing earned, its points counted
/// from `now_ms` in day `day`.
fn ready_miner(identity: [u8; 32], pool: u64, now_ms: u64, day: u64) -> Miner {
    Miner {
        identity,
        pool,
        state: MinerState::Ready,
        state_since_ms: now_ms,
        stake: 0,
        performance: 0,
        confidence: 0,
        value_raw: 0,
        value_anchor_ms: now_ms,
        accrued_to_ms: now_ms,
        points_day: day,
        points_raw: 0,
        closed_points_raw: 0,
        closed_day: 0,
        challenge: None,
        last_challenge_ms: None,
        heartbeats_answered: 0,
        heartbeats_missed: 0,
        slot: None,
        cooldown_until_ms: 0,
        last_unresponsive_slash_day: None,
        earned: 0,
        slashed: 0,
        last_payout: None,
        unresponsive_ms: 0,
        revoked_when_stopped: false,
        revocation_slashed: false,
    }
}

fn remove_worker(
    state: &mut State,
    who: &AccountId,
    id: u64,
    worker: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut pool = owned_pool(state, id, who)?;
    let m = pool_miner(state, id, worker)?;
    if m.state != MinerState::Ready {
        return Err(wrong_state(&m, "ready (stopped and reclaimed)"));
    }
    if m.points_raw > 0 || m.closed_points_raw > 0 {
        return Err(MiningError::UnsettledPoints(hex::encode(worker)));
    }
    state.remove(&miner_key(worker));
    state.remove(&active_key(worker));
    pool.workers.retain(|w| w != worker);
    store_pool(state, &pool);
    events.push(Event::PoolWorkerRemoved {
        pool: id,
        worker: *worker,
    });
    Ok(())
}

/// Why the policy would no longer let a worker compute, if it would not.
enum Standing {
    Good,
    Expired { attested: u64 },
    MeasurementRevoked,
    TcbRevoked,
}

fn standing(
    state: &State,
    ctx: &BlockContext,
    params: &MiningParams,
    policy: &phalanx_primitives::attestation::AttestationPolicy,
    worker: &[u8; 32],
) -> Result<Standing, MiningError> {
    let Some(info) = registry::worker(state, worker)? else {
        // Not registered (any more): it can't keep computing, but nothing was proven against it.
        return Ok(Standing::MeasurementRevoked);
    };
    match registry::revocation(policy, &info) {
        Some(registry::Revocation::Measurement) => return Ok(Standing::MeasurementRevoked),
        Some(registry::Revocation::Tcb) => return Ok(Standing::TcbRevoked),
        None => {}
    }
    if info
        .last_attested_at
        .saturating_add(params.attestation_max_age_blocks)
        < ctx.height
    {
        return Ok(Standing::Expired {
            attested: info.last_attested_at,
        });
    }
    Ok(Standing::Good)
}

fn start_worker(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    id: u64,
    worker: &[u8; 32],
    stake: Balance,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut pool = owned_pool(state, id, who)?;
    let mut m = pool_miner(state, id, worker)?;
    if m.state != MinerState::Ready {
        return Err(wrong_state(&m, "ready"));
    }
    if ban(state, worker)?.is_some() {
        return Err(MiningError::Banned(hex::encode(worker)));
    }
    let params = params(state)?;
    let work = work_params(&params);
    let info = registry::worker(state, worker)?
        .ok_or_else(|| MiningError::WorkerNotRegistered(hex::encode(worker)))?;
    let policy = registry::policy(state)?;
    match standing(state, ctx, &params, &policy, worker)? {
        Standing::Good => {}
        Standing::Expired { attested } => {
            return Err(MiningError::AttestationExpired {
                worker: hex::encode(worker),
                attested,
                max_age: params.attestation_max_age_blocks,
            })
        }
        Standing::MeasurementRevoked | Standing::TcbRevoked => {
            return Err(MiningError::AttestationRevoked(hex::encode(worker)))
        }
    }
    let performance = info.performance.min(params.max_p);
    if performance < params.min_p {
        return Err(MiningError::PerformanceTooLow {
            score: performance,
            minimum: params.min_p,
        });
    }
    let needed = work::min_stake(&work, performance)
        .ok_or(MiningError::Overflow)?
        .raw();
    if stake < needed {
        return Err(MiningError::StakeTooLow {
            performance,
            needed,
            offered: stake,
        });
    }
    let free = free_stake(state, &pool)?;
    if free < stake {
        return Err(MiningError::InsufficientFreeStake {
            pool: id,
            free,
            needed: stake,
        });
    }
    balances::hold(state, &pool.account, HoldReason::WorkerStake, stake)?;
    pool.bound = pool.bound.checked_add(stake).ok_or(MiningError::Overflow)?;
    store_pool(state, &pool);

    let conf = work::confidence(info.confidence);
    let value = work::initial_value(&work, performance, conf, Fixed::from_raw(stake))
        .ok_or(MiningError::Overflow)?;
    let mut settlement = settlement(state)?;
    accrue(&mut m, &mut settlement, &params, ctx.timestamp_ms)?;
    m.state = MinerState::Computing;
    // A fresh start: a later revocation slashes again.
    m.revocation_slashed = false;
    m.revoked_when_stopped = false;
    m.state_since_ms = ctx.timestamp_ms;
    m.stake = stake;
    m.performance = performance;
    m.confidence = info.confidence;
    m.value_raw = value.raw();
    m.value_anchor_ms = ctx.timestamp_ms;
    m.accrued_to_ms = ctx.timestamp_ms;
    add_slot(state, &mut m)?;
    store_miner(state, &m);
    state.put(active_key(worker), &());
    state.put(SETTLEMENT.to_vec(), &settlement);
    events.push(Event::WorkerStarted {
        pool: id,
        worker: *worker,
        stake,
        initial_value_raw: value.raw(),
    });
    Ok(())
}

/// Stops a computing (or unresponsive) worker: it cools down with its stake still held.
fn stop(
    state: &mut State,
    ctx: &BlockContext,
    m: &mut Miner,
    settlement: &mut Settlement,
    params: &MiningParams,
    forced: bool,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    if !is_computing(m) {
        return Err(wrong_state(m, "computing"));
    }
    // What the policy says of it now decides the slash its reclaim owes (a re-registration
    // during the cooldown can't wash a revoked platform).
    let policy = registry::policy(state)?;
    m.revoked_when_stopped = matches!(
        standing(state, ctx, params, &policy, &m.identity)?,
        Standing::TcbRevoked
    );
    transition(
        m,
        MinerState::CoolingDown,
        settlement,
        params,
        ctx.timestamp_ms,
    )?;
    m.cooldown_until_ms = ctx.timestamp_ms.saturating_add(params.cooldown_ms);
    remove_slot(state, m)?;
    clear_challenge(state, m);
    let mut pool = load_pool(state, m.pool)?;
    pool.bound = pool
        .bound
        .checked_sub(m.stake)
        .ok_or_else(|| MiningError::Corrupted("bound stake below a worker's".into()))?;
    pool.releasing = pool
        .releasing
        .checked_add(m.stake)
        .ok_or(MiningError::Overflow)?;
    store_pool(state, &pool);
    store_miner(state, m);
    events.push(Event::WorkerStopped {
        pool: m.pool,
        worker: m.identity,
        forced,
    });
    Ok(())
}

fn reclaim(
    state: &mut State,
    ctx: &BlockContext,
    id: u64,
    worker: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut m = pool_miner(state, id, worker)?;
    if m.state != MinerState::CoolingDown {
        return Err(wrong_state(&m, "cooling down"));
    }
    if ctx.timestamp_ms < m.cooldown_until_ms {
        return Err(MiningError::StillCoolingDown {
            worker: hex::encode(worker),
            until_ms: m.cooldown_until_ms,
        });
    }
    // A worker stopped by its owner once its platform was revoked is still slashed, here,
    // before its stake can leave.
    let params_now = params(state)?;
    let policy = registry::policy(state)?;
    let revoked = m.revoked_when_stopped
        || matches!(
            standing(state, ctx, &params_now, &policy, worker)?,
            Standing::TcbRevoked
        );
    if revoked && !m.revocation_slashed {
        m.revocation_slashed = true;
        slash(
            state,
            &mut m,
            params_now.misbehaviour_slash_per_mille,
            SlashReason::AttestationRevoked,
            events,
        )?;
    }
    let mut pool = load_pool(state, id)?;
    balances::release(state, &pool.account, HoldReason::WorkerStake, m.stake)?;
    pool.releasing = pool
        .releasing
        .checked_sub(m.stake)
        .ok_or_else(|| MiningError::Corrupted("releasing stake below a worker's".into()))?;
    store_pool(state, &pool);
    let stake = m.stake;
    let params = params(state)?;
    let mut settlement = settlement(state)?;
    transition(
        &mut m,
        MinerState::Ready,
        &mut settlement,
        &params,
        ctx.timestamp_ms,
    )?;
    m.stake = 0;
    m.revoked_when_stopped = false;
    store_miner(state, &m);
    events.push(Event::WorkerReclaimed {
        pool: id,
        worker: *worker,
        stake,
    });
    serve_queue(state, ctx, id, &mut settlement, events)?;
    state.put(SETTLEMENT.to_vec(), &settlement);
    Ok(())
}

/// Slashes `per_mille` of `m`'s stake to the treasury (its pool's shareholders bear it).
fn slash(
    state: &mut State,
    m: &mut Miner,
    per_mille: u16,
    reason: SlashReason,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let amount =
        mul_div(m.stake, u128::from(per_mille.min(1000)), 1000).ok_or(MiningError::Overflow)?;
    if amount == 0 {
        return Ok(());
    }
    let mut pool = load_pool(state, m.pool)?;
    balances::slash_held(
        state,
        &pool.account,
        HoldReason::WorkerStake,
        &treasury::account(),
        amount,
    )?;
    let part = if m.state == MinerState::CoolingDown {
        &mut pool.releasing
    } else {
        &mut pool.bound
    };
    *part = part
        .checked_sub(amount)
        .ok_or_else(|| MiningError::Corrupted("pool stake below a slash".into()))?;
    pool.slashed = pool.slashed.saturating_add(amount);
    store_pool(state, &pool);
    m.stake -= amount;
    m.slashed = m.slashed.saturating_add(amount);
    events.push(Event::WorkerSlashed {
        pool: m.pool,
        worker: m.identity,
        amount,
        reason,
    });
    Ok(())
}

/// Punishes enclave `identity` for provable misbehaviour (see the module docs): bans it,
/// slashes `misbehaviour_slash_per_mille` of its worker stake and stops it if it computes, and
/// slashes and removes it as a gatekeeper. `Ok(false)`, changing nothing, if it was banned
/// already: one piece of evidence or a hundred, an enclave is punished once.
pub fn punish_enclave(
    state: &mut State,
    ctx: &BlockContext,
    identity: &[u8; 32],
    reason: SlashReason,
    events: &mut Vec<Event>,
) -> Result<bool, MiningError> {
    if ban(state, identity)?.is_some() {
        return Ok(false);
    }
    state.put(
        ban_key(identity),
        &Ban {
            at_height: ctx.height,
            reason,
        },
    );
    events.push(Event::EnclaveBanned {
        identity: *identity,
        reason,
    });
    let params = params(state)?;
    if let Some(mut m) = miner(state, identity)? {
        slash(
            state,
            &mut m,
            params.misbehaviour_slash_per_mille,
            reason,
            events,
        )?;
        if is_computing(&m) {
            let mut settlement = settlement(state)?;
            stop(state, ctx, &mut m, &mut settlement, &params, true, events)?;
            state.put(SETTLEMENT.to_vec(), &settlement);
        } else {
            store_miner(state, &m);
        }
    }
    gatekeeper::punish(
        state,
        ctx,
        identity,
        params.misbehaviour_slash_per_mille,
        reason,
        events,
    )
    .map_err(|e| MiningError::Corrupted(format!("gatekeeper slash: {e}")))?;
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Heartbeats.

/// Applies a worker's heartbeat (a message on [`HEARTBEAT_TOPIC`]): it answers the worker's
/// open challenge, and brings an unresponsive worker back to computing.
pub fn apply_heartbeat(
    state: &mut State,
    ctx: &BlockContext,
    identity: &[u8; 32],
    payload: &[u8],
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let height: u64 = phalanx_primitives::decode_strict(payload, 8)
        .map_err(|_| MiningError::MalformedHeartbeat)?;
    let mut m = miner(state, identity)?.ok_or(MiningError::NoOpenChallenge)?;
    match m.challenge {
        Some((issued, _)) if issued == height => {}
        _ => return Err(MiningError::NoOpenChallenge),
    }
    clear_challenge(state, &mut m);
    if m.state == MinerState::Unresponsive {
        let params = params(state)?;
        let mut settlement = settlement(state)?;
        transition(
            &mut m,
            MinerState::Computing,
            &mut settlement,
            &params,
            ctx.timestamp_ms,
        )?;
        add_slot(state, &mut m)?;
        state.put(SETTLEMENT.to_vec(), &settlement);
        events.push(Event::WorkerResponsive { worker: *identity });
    } else {
        m.heartbeats_answered += 1;
    }
    store_miner(state, &m);
    Ok(())
}

/// Marks workers whose challenge expired at this block unresponsive, then issues this block's
/// challenges.
fn heartbeats(
    state: &mut State,
    ctx: &BlockContext,
    params: &MiningParams,
    settlement: &mut Settlement,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    // Every deadline due by now (not only this height's: one missed block must not leave a
    // challenge open for ever), oldest first, a bounded number a block.
    let due = DEADLINE_PREFIX.len() + 8;
    let expired = state.due_keys(DEADLINE_PREFIX, ctx.height, MAX_DEADLINES_PER_BLOCK);
    for key in expired {
        state.remove(&key);
        let identity: [u8; 32] = key[due..]
            .try_into()
            .map_err(|_| MiningError::Corrupted("deadline key".into()))?;
        let Some(mut m) = miner(state, &identity)? else {
            continue;
        };
        if m.state != MinerState::Computing {
            continue;
        }
        // The challenge stays open: answering it late revives the worker.
        transition(
            &mut m,
            MinerState::Unresponsive,
            settlement,
            params,
            ctx.timestamp_ms,
        )?;
        m.heartbeats_missed += 1;
        // Out of the draw: its open challenge is what brings it back, and the draws go to
        // workers that may still be caught.
        remove_slot(state, &mut m)?;
        store_miner(state, &m);
        events.push(Event::WorkerUnresponsive { worker: identity });
    }

    let count = slots(state)?;
    if count == 0 || params.challenges_per_block == 0 {
        return Ok(());
    }
    let seed = Hash::of_parts(&[
        CHALLENGE_DOMAIN,
        ctx.parent_hash.as_bytes(),
        &ctx.height.to_be_bytes(),
    ]);
    let spacing = HOUR_MS / u64::from(params.max_challenges_per_hour.max(1));
    for draw in 0..params.challenges_per_block {
        let pick = Hash::of_parts(&[seed.as_bytes(), &draw.to_be_bytes()]);
        let mut word = [0u8; 8];
        word.copy_from_slice(&pick.as_bytes()[..8]);
        let slot = (u64::from_be_bytes(word) % u64::from(count)) as u32;
        let identity: [u8; 32] = state
            .get_decoded(&slot_key(slot))?
            .ok_or_else(|| MiningError::Corrupted("missing slot".into()))?;
        let mut m = miner(state, &identity)?
            .ok_or_else(|| MiningError::Corrupted("slot of an unbound worker".into()))?;
        let too_soon = m
            .last_challenge_ms
            .is_some_and(|last| ctx.timestamp_ms < last.saturating_add(spacing));
        if m.state != MinerState::Computing || m.challenge.is_some() || too_soon {
            continue;
        }
        let deadline = ctx.height.saturating_add(params.answer_window_blocks);
        m.challenge = Some((ctx.height, deadline));
        m.last_challenge_ms = Some(ctx.timestamp_ms);
        state.put(deadline_key(deadline, &identity), &());
        store_miner(state, &m);
    }
    Ok(())
}

/// `m` with its points and value brought up to `now` (on copies: nothing is written), for
/// showing what a worker has earned so far today.
pub fn accrued(state: &State, m: &Miner, now: u64) -> Result<Miner, MiningError> {
    let params = params(state)?;
    let mut settlement = settlement(state)?;
    let mut m = m.clone();
    accrue(&mut m, &mut settlement, &params, now)?;
    Ok(m)
}

/// Worker `identity`'s open challenge, as (issued at, answer by) heights.
pub fn open_challenge(
    state: &State,
    identity: &[u8; 32],
) -> Result<Option<(u64, u64)>, CodecError> {
    Ok(miner(state, identity)?.and_then(|m| m.challenge))
}

// ---------------------------------------------------------------------------------------------
// Settlement.

/// Visits active workers after `cursor`, at most `budget` of them; returns those visited and
/// whether the end was reached.
fn next_active(state: &State, cursor: Option<[u8; 32]>, budget: u32) -> Vec<[u8; 32]> {
    let after = cursor.map(|c| active_key(&c));
    // Sized once: growing a vector of 100,000 identities doubling by doubling costs more than
    // the walk itself.
    let mut visited: Vec<[u8; 32]> = Vec::with_capacity((budget as usize).min(state.len()));
    visited.extend(
        state
            .keys_after(ACTIVE_PREFIX, after.as_deref())
            .take(budget as usize)
            .filter_map(|key| <[u8; 32]>::try_from(&key[ACTIVE_PREFIX.len()..]).ok()),
    );
    visited
}

/// Closes one worker for `day`: its points up to the day's end, then the standing and
/// unresponsiveness checks.
#[allow(clippy::too_many_arguments)]
fn close_worker(
    state: &mut State,
    ctx: &BlockContext,
    identity: &[u8; 32],
    day: u64,
    settlement: &mut Settlement,
    params: &MiningParams,
    policy: &phalanx_primitives::attestation::AttestationPolicy,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let Some(mut m) = miner(state, identity)? else {
        state.remove(&active_key(identity));
        return Ok(());
    };
    let day_end = settlement.open_day_start_ms;
    if m.points_day == day {
        accrue(&mut m, settlement, params, day_end)?;
    }
    // Judged by the time it spent unresponsive since its last such slash, whatever its state
    // now: answering late now and then, or stopping, does not reset it; the slash does.
    let _ = day_end;
    if m.unresponsive_ms >= params.unresponsive_grace_ms
        && m.last_unresponsive_slash_day != Some(day)
    {
        m.last_unresponsive_slash_day = Some(day);
        m.unresponsive_ms = 0;
        slash(
            state,
            &mut m,
            params.unresponsive_slash_per_mille,
            SlashReason::Unresponsive,
            events,
        )?;
    }
    if is_computing(&m) {
        match standing(state, ctx, params, policy, identity)? {
            Standing::Good => {}
            Standing::TcbRevoked => {
                if !m.revocation_slashed {
                    m.revocation_slashed = true;
                    slash(
                        state,
                        &mut m,
                        params.misbehaviour_slash_per_mille,
                        SlashReason::AttestationRevoked,
                        events,
                    )?;
                }
                stop(state, ctx, &mut m, settlement, params, true, events)?;
            }
            Standing::MeasurementRevoked | Standing::Expired { .. } => {
                stop(state, ctx, &mut m, settlement, params, true, events)?;
            }
        }
    }
    store_miner(state, &m);
    Ok(())
}

/// Pays one worker its part of `day`'s budget.
#[allow(clippy::too_many_arguments)]
fn pay_worker(
    state: &mut State,
    ctx: &BlockContext,
    identity: &[u8; 32],
    day: u64,
    total_raw: u128,
    to_workers: Balance,
    settlement: &mut Settlement,
    events: &mut Vec<Event>,
) -> Result<Balance, MiningError> {
    let Some(mut m) = miner(state, identity)? else {
        state.remove(&active_key(identity));
        return Ok(0);
    };
    let mut reward = 0;
    if m.closed_day == day && m.closed_points_raw > 0 {
        reward =
            mul_div(to_workers, m.closed_points_raw, total_raw).ok_or(MiningError::Overflow)?;
        let mut pool = load_pool(state, m.pool)?;
        let commission = mul_div(reward, u128::from(pool.commission_per_mille), 1000)
            .ok_or(MiningError::Overflow)?;
        // Credited here; the pot is debited once per slice (`advance_settlement`).
        balances::credit(state, &pool.owner, commission)?;
        balances::credit(state, &pool.account, reward - commission)?;
        pool.rewards = pool.rewards.saturating_add(reward - commission);
        pool.commission_paid = pool.commission_paid.saturating_add(commission);
        store_pool(state, &pool);
        m.earned = m.earned.saturating_add(reward);
        // The payout is recorded on the worker (and explained by `phalanx_rewards`), not as an
        // event: a day of 100,000 workers would otherwise write 100,000 events.
        m.last_payout = Some((day, m.closed_points_raw, reward));
        m.closed_points_raw = 0;
        let pool_id = m.pool;
        store_miner(state, &m);
        if pool.queue_head < pool.queue_tail {
            serve_queue(state, ctx, pool_id, settlement, events)?;
        }
    }
    if !is_computing(&m) && m.points_raw == 0 && m.closed_points_raw == 0 {
        state.remove(&active_key(identity));
    }
    Ok(reward)
}

/// Moves the settlement on by at most `settle_slice` worker visits (and a few day
/// boundaries).
fn advance_settlement(
    state: &mut State,
    ctx: &BlockContext,
    params: &MiningParams,
    settlement: &mut Settlement,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let mut budget = params.settle_slice.max(1);
    let mut days_crossed = 0;
    loop {
        match settlement.phase.clone() {
            SettlementPhase::Idle => {
                let end = settlement
                    .open_day_start_ms
                    .saturating_add(params.day_ms.max(1));
                if ctx.timestamp_ms < end || days_crossed >= MAX_DAYS_PER_BLOCK {
                    return Ok(());
                }
                days_crossed += 1;
                settlement.phase = SettlementPhase::Closing {
                    day: settlement.open_day,
                    cursor: None,
                    total_raw: 0,
                };
                settlement.open_day += 1;
                settlement.open_day_start_ms = end;
            }
            SettlementPhase::Closing { day, cursor, .. } => {
                if budget == 0 {
                    return Ok(());
                }
                let batch = next_active(state, cursor, budget);
                budget -= batch.len() as u32;
                let policy = registry::policy(state)?;
                for identity in &batch {
                    close_worker(
                        state, ctx, identity, day, settlement, params, &policy, events,
                    )?;
                }
                let SettlementPhase::Closing { total_raw, .. } = settlement.phase else {
                    return Err(MiningError::Corrupted("closing phase changed".into()));
                };
                if let (Some(last), true) = (batch.last(), budget == 0) {
                    settlement.phase = SettlementPhase::Closing {
                        day,
                        cursor: Some(*last),
                        total_raw,
                    };
                    continue;
                }
                // Every active worker is closed: take the day's budget from the pot.
                let pot = balances::account(state, &genesis::mining_pot())?.free;
                let day_budget = schedule::budget_of_day(schedule::DAILY_BUDGET, day, pot);
                if total_raw == 0 || day_budget == 0 {
                    record_day(state, day, day_budget, 0, 0, total_raw, 0, events);
                    settlement.phase = SettlementPhase::Idle;
                    continue;
                }
                let treasury_part = mul_div(
                    day_budget,
                    u128::from(params.treasury_per_mille.min(1000)),
                    1000,
                )
                .ok_or(MiningError::Overflow)?;
                balances::transfer_free(
                    state,
                    &genesis::mining_pot(),
                    &treasury::account(),
                    treasury_part,
                )?;
                settlement.phase = SettlementPhase::Paying {
                    day,
                    cursor: None,
                    total_raw,
                    budget: day_budget,
                    to_workers: day_budget - treasury_part,
                    paid: 0,
                    workers: 0,
                };
            }
            SettlementPhase::Paying {
                day,
                cursor,
                total_raw,
                budget: day_budget,
                to_workers,
                mut paid,
                mut workers,
            } => {
                if budget == 0 {
                    return Ok(());
                }
                let batch = next_active(state, cursor, budget);
                budget -= batch.len() as u32;
                let mut slice_paid: Balance = 0;
                for identity in &batch {
                    let reward = pay_worker(
                        state, ctx, identity, day, total_raw, to_workers, settlement, events,
                    )?;
                    if reward > 0 {
                        slice_paid = slice_paid
                            .checked_add(reward)
                            .ok_or(MiningError::Overflow)?;
                        workers += 1;
                    }
                }
                // What the slice credited leaves the pot in one debit. The budget was capped at
                // the pot, so this can't fall short; if it did, the hook's checkpoint would roll
                // the whole slice back.
                balances::debit(state, &genesis::mining_pot(), slice_paid)?;
                paid = paid.checked_add(slice_paid).ok_or(MiningError::Overflow)?;
                if let (Some(last), true) = (batch.last(), budget == 0) {
                    settlement.phase = SettlementPhase::Paying {
                        day,
                        cursor: Some(*last),
                        total_raw,
                        budget: day_budget,
                        to_workers,
                        paid,
                        workers,
                    };
                    continue;
                }
                let treasury_part = day_budget - to_workers;
                record_day(
                    state,
                    day,
                    day_budget,
                    treasury_part,
                    paid,
                    total_raw,
                    workers,
                    events,
                );
                settlement.phase = SettlementPhase::Idle;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn record_day(
    state: &mut State,
    day: u64,
    budget: Balance,
    treasury: Balance,
    paid: Balance,
    points_raw: u128,
    workers: u32,
    events: &mut Vec<Event>,
) {
    let record = DayRecord {
        day,
        budget,
        treasury,
        paid,
        kept_in_pot: budget.saturating_sub(treasury).saturating_sub(paid),
        points_raw,
        workers,
    };
    state.put(day_key(day), &record);
    events.push(Event::DaySettled {
        day,
        budget,
        treasury,
        paid,
        kept_in_pot: record.kept_in_pot,
        workers,
    });
}

/// Serves a few pools' withdrawal queues (round robin), so a grace period that runs out while
/// nothing else touches the pool still forces its shutdown.
fn sweep_queues(
    state: &mut State,
    ctx: &BlockContext,
    settlement: &mut Settlement,
    events: &mut Vec<Event>,
) -> Result<(), MiningError> {
    let cursor: Option<u64> = state.get_decoded(WAITING_CURSOR)?;
    let after = cursor.map(waiting_key);
    let mut ids: Vec<u64> = state
        .scan_prefix_after(WAITING_PREFIX, after.as_deref())
        .take(SWEEP_POOLS)
        .filter_map(|(key, _)| {
            key[WAITING_PREFIX.len()..]
                .try_into()
                .ok()
                .map(u64::from_be_bytes)
        })
        .collect();
    if ids.len() < SWEEP_POOLS {
        // Wrap around to the start.
        let more: Vec<u64> = state
            .scan_prefix(WAITING_PREFIX)
            .take(SWEEP_POOLS - ids.len())
            .filter_map(|(key, _)| {
                key[WAITING_PREFIX.len()..]
                    .try_into()
                    .ok()
                    .map(u64::from_be_bytes)
            })
            .filter(|id| !ids.contains(id))
            .collect();
        ids.extend(more);
    }
    match ids.last() {
        Some(last) => state.put(WAITING_CURSOR.to_vec(), last),
        None => state.remove(WAITING_CURSOR),
    }
    for id in ids {
        serve_queue(state, ctx, id, settlement, events)?;
    }
    Ok(())
}

/// Builds large mining states directly (no transactions), for the settlement benchmark
/// (`cargo bench -p phalanx-runtime --bench settlement`) and `phalanx tokenomics simulate`.
/// Not a chain path: what it writes is what pool owners' calls would have written for `count`
/// registered, computing workers.
#[doc(hidden)]
pub mod synthetic {
    use super::*;
    use phalanx_primitives::worker::WorkerInfo;

    /// Adds `count` registered workers, each computing in a pool of its own with the least
    /// stake for score `performance` (paid by `funder`), started at `now_ms`.
    pub fn add_computing_workers(
        state: &mut State,
        funder: &AccountId,
        count: u32,
        performance: u32,
        now_ms: u64,
    ) -> Result<(), MiningError> {
        let params = params(state)?;
        let work = work_params(&params);
        let stake = work::min_stake(&work, performance)
            .ok_or(MiningError::Overflow)?
            .raw();
        let policy = registry::policy(state)?;
        let measurement = policy
            .allowed_measurements
            .first()
            .copied()
            .unwrap_or([0; 32]);
        let settlement = settlement(state)?;
        for i in 0..count {
            let identity = Hash::of_parts(&[b"bench worker", &i.to_be_bytes()]).0;
            let owner = AccountId(Hash::of_parts(&[b"bench owner", &i.to_be_bytes()]).0);
            registry::store_worker(
                state,
                &WorkerInfo {
                    identity,
                    encryption_key: identity,
                    operator: owner,
                    quote_kind: phalanx_primitives::attestation::QuoteKind::Simulated,
                    measurement,
                    tcb_status: phalanx_primitives::attestation::TcbStatus::UpToDate,
                    confidence: 1000,
                    performance,
                    endpoint: "http://127.0.0.1:1".into(),
                    registered_at: 0,
                    last_attested_at: 0,
                    recent_block_height: 0,
                    advisory_ids: Vec::new(),
                    tcb_evaluation_data_number: None,
                },
            );
            let id: u64 = state.get_decoded(NEXT_POOL)?.unwrap_or(0);
            state.put(NEXT_POOL.to_vec(), &(id + 1));
            let account = pool_account(id);
            balances::transfer_free(state, funder, &account, stake)?;
            balances::hold(state, &account, HoldReason::WorkerStake, stake)?;
            // The owner signed the transactions that made its pool, so it has an account.
            balances::transfer_free(state, funder, &owner, phalanx_primitives::units::PHA)?;
            set_shares(state, id, &owner, stake);
            store_pool(
                state,
                &StakePool {
                    id,
                    owner,
                    account,
                    commission_per_mille: 100,
                    cap: None,
                    allow_list: None,
                    shares: stake,
                    bound: stake,
                    releasing: 0,
                    workers: vec![identity],
                    queue_head: 0,
                    queue_tail: 0,
                    queued_shares: 0,
                    rewards: 0,
                    commission_paid: 0,
                    slashed: 0,
                },
            );
            let value = work::initial_value(&work, performance, Fixed::ONE, Fixed::from_raw(stake))
                .ok_or(MiningError::Overflow)?;
            let mut m = Miner {
                state: MinerState::Computing,
                stake,
                performance,
                confidence: 1000,
                value_raw: value.raw(),
                ..ready_miner(identity, id, now_ms, settlement.open_day)
            };
            add_slot(state, &mut m)?;
            store_miner(state, &m);
            state.put(active_key(&identity), &());
        }
        Ok(())
    }

    /// Runs the settlement's block work at `ctx` (no heartbeats, no sweep) on the block hook's
    /// all-or-nothing checkpoint, as a node runs it; returns the events, or the error's code.
    pub fn settle_step(
        state: &mut State,
        ctx: &BlockContext,
    ) -> Result<Vec<Event>, crate::ErrorCode> {
        crate::module::all_or_nothing(state, |state, events| -> Result<(), MiningError> {
            let params = params(state)?;
            let mut settlement = settlement(state)?;
            advance_settlement(state, ctx, &params, &mut settlement, events)?;
            state.put(SETTLEMENT.to_vec(), &settlement);
            Ok(())
        })
    }

    /// Whether the settlement is idle (the last day fully paid).
    pub fn idle(state: &State) -> Result<bool, MiningError> {
        Ok(settlement(state)?.phase == SettlementPhase::Idle)
    }
}

/// The mining module.
#[derive(Debug)]
pub struct Mining;

impl Module for Mining {
    const NAME: &'static str = "mining";
    const STORAGE_PREFIX: &'static str = "mining/";
    type Call = MiningCall;
    type Error = MiningError;

    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &MiningCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            MiningCall::CreatePool {
                commission_per_mille,
                cap,
                allow_list,
            } => create_pool(
                state,
                who,
                *commission_per_mille,
                *cap,
                allow_list.clone(),
                events,
            )?,
            MiningCall::AddWorker { pool, worker } => {
                add_worker(state, ctx, who, *pool, worker, events)?
            }
            MiningCall::RemoveWorker { pool, worker } => {
                remove_worker(state, who, *pool, worker, events)?
            }
            MiningCall::StartWorker {
                pool,
                worker,
                stake,
            } => start_worker(state, ctx, who, *pool, worker, *stake, events)?,
            MiningCall::StopWorker { pool, worker } => {
                owned_pool(state, *pool, who)?;
                let mut m = pool_miner(state, *pool, worker)?;
                let params = params(state)?;
                let mut settlement = settlement(state)?;
                stop(state, ctx, &mut m, &mut settlement, &params, false, events)?;
                state.put(SETTLEMENT.to_vec(), &settlement);
            }
            MiningCall::ReclaimWorker { pool, worker } => {
                reclaim(state, ctx, *pool, worker, events)?
            }
            MiningCall::Contribute { pool, amount } => {
                contribute(state, ctx, who, *pool, *amount, events)?
            }
            MiningCall::Withdraw { pool, shares } => {
                withdraw(state, ctx, who, *pool, *shares, events)?
            }
        }
        Ok(())
    }

    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        set_params(state, &config.mining);
        state.put(
            SETTLEMENT.to_vec(),
            &Settlement {
                open_day: 0,
                open_day_start_ms: config.timestamp_ms,
                phase: SettlementPhase::Idle,
            },
        );
        Ok(())
    }

    /// Heartbeat deadlines and challenges, the settlement's next slice, and the withdrawal
    /// queues' sweep. A failure (corrupted state) is reported as an event and skips the rest of
    /// the hook for this block; it never fails the block.
    fn on_block_end(
        state: &mut State,
        ctx: &BlockContext,
        _privileged: crate::module::PrivilegedExecutor,
    ) -> Vec<Event> {
        crate::module::all_or_nothing(state, |state, events| -> Result<(), MiningError> {
            let params = params(state)?;
            let mut settlement = settlement(state)?;
            heartbeats(state, ctx, &params, &mut settlement, events)?;
            advance_settlement(state, ctx, &params, &mut settlement, events)?;
            sweep_queues(state, ctx, &mut settlement, events)?;
            state.put(SETTLEMENT.to_vec(), &settlement);
            Ok(())
        })
        .unwrap_or_else(|error| vec![Event::MiningHookFailed { error }])
    }

    fn check_invariants(state: &State) -> Result<(), InvariantError> {
        let broken = |detail: String| InvariantError::Inconsistent {
            module: Self::NAME,
            detail,
        };
        let unreadable = |e: CodecError| InvariantError::Unreadable(e.to_string());
        let miners = miners(state).map_err(unreadable)?;
        let mut slotted = 0u32;
        for pool in pools(state).map_err(unreadable)? {
            let held = balances::held(state, &pool.account, HoldReason::WorkerStake)
                .map_err(unreadable)?;
            if held != pool.bound + pool.releasing {
                return Err(broken(format!(
                    "pool #{} holds {held} as worker stake but has {} bound and {} releasing",
                    pool.id, pool.bound, pool.releasing
                )));
            }
            let mine = miners.iter().filter(|m| m.pool == pool.id);
            let (mut bound, mut releasing) = (0, 0);
            for m in mine {
                match m.state {
                    MinerState::Computing | MinerState::Unresponsive => bound += m.stake,
                    MinerState::CoolingDown => releasing += m.stake,
                    MinerState::Ready if m.stake != 0 => {
                        return Err(broken(format!("ready worker with stake in #{}", pool.id)))
                    }
                    MinerState::Ready => {}
                }
            }
            if (bound, releasing) != (pool.bound, pool.releasing) {
                return Err(broken(format!(
                    "pool #{}'s workers have {bound} bound and {releasing} releasing, the pool says {} and {}",
                    pool.id, pool.bound, pool.releasing
                )));
            }
            let held_shares: u128 = shareholders(state, pool.id)
                .map_err(unreadable)?
                .iter()
                .map(|(_, s)| s)
                .sum();
            let queued: u128 = queue(state, pool.id)
                .map_err(unreadable)?
                .iter()
                .map(|r| r.shares)
                .sum();
            if queued != pool.queued_shares || held_shares + queued != pool.shares {
                return Err(broken(format!(
                    "pool #{} has {} shares but holders have {held_shares} and the queue {queued} ({} recorded)",
                    pool.id, pool.shares, pool.queued_shares
                )));
            }
        }
        for m in &miners {
            if m.slot.is_some() != (m.state == MinerState::Computing) {
                return Err(broken(format!(
                    "worker {} is {:?} with slot {:?}",
                    hex::encode(m.identity),
                    m.state,
                    m.slot
                )));
            }
            if m.slot.is_some() {
                slotted += 1;
            }
            if (is_computing(m) || m.points_raw > 0 || m.closed_points_raw > 0)
                && state.get(&active_key(&m.identity)).is_none()
            {
                return Err(broken(format!(
                    "worker {} has work but is not active",
                    hex::encode(m.identity)
                )));
            }
        }
        if slots(state).map_err(unreadable)? != slotted {
            return Err(broken("the slot count disagrees with the workers".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
