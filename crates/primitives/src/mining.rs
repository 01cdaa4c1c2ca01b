//! Mining: stake pools, computing workers, heartbeats and daily payouts (DESIGN.md §5–6), as
//! the chain stores them and the node serves them. The rules live in the runtime's `mining`
//! module; these are the chain-visible types.
//!
//! Fixed-point fields (`*_raw`) are numbers scaled by 10^12 (the runtime's `Fixed`): 1.3 is
//! `1_300_000_000_000`.
//!
//! Chain-visible: enum variants only grow at the end.

use crate::units::Balance;
use crate::AccountId;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// The message-queue topic of a worker's heartbeat; the payload is the SCALE `u64` height of
/// the challenge it answers.
pub const HEARTBEAT_TOPIC: &[u8] = b"mining/heartbeat";
/// Most workers bound to one stake pool.
pub const MAX_POOL_WORKERS: usize = 64;
/// Longest allow-list of a pool.
pub const MAX_ALLOW_LIST: usize = 64;
/// Most withdrawal requests waiting in one pool's queue.
pub const MAX_WITHDRAW_QUEUE: u64 = 256;
/// Highest commission a pool may charge, per mille (100%).
pub const MAX_COMMISSION_PER_MILLE: u16 = 1_000;
/// The scale of fixed-point fields (`*_raw`).
pub const FIXED_SCALE: u128 = 1_000_000_000_000;

/// The mining rules: chain state, set at genesis and changed through the privileged path
/// (governance), each within bounds the runtime checks.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MiningParams {
    /// `re`: how much confidence multiplies a worker's initial value (1.3).
    pub re_raw: u128,
    /// `rig_k`: PHA of initial value per point of performance score (0.3).
    pub rig_k_raw: u128,
    /// `k`: a computing worker needs `k·sqrt(P)` PHA of stake (100).
    pub k_raw: u128,
    /// `v_max`: the most a worker's value grows to (30,000).
    pub v_max_raw: u128,
    /// `rho`: growth of the value per hour online (1.0002).
    pub rho_raw: u128,
    /// The value's factor per hour while unresponsive (0.9996).
    pub decay_raw: u128,
    /// The least performance score a worker may compute with (50).
    pub min_p: u32,
    /// Scores above this count as this much (P is capped).
    pub max_p: u32,
    /// A day of chain time, in ms: the settlement period (a day; shorter on dev chains).
    pub day_ms: u64,
    /// Share of each day's budget paid to the treasury before the split by work, per mille.
    pub treasury_per_mille: u16,
    /// Chain time a stopped worker cools down before its stake comes back (7 days).
    pub cooldown_ms: u64,
    /// Heartbeat challenges issued per block.
    pub challenges_per_block: u32,
    /// Most challenges one worker gets per hour of chain time: they come at least
    /// `1 h / max_challenges_per_hour` apart.
    pub max_challenges_per_hour: u32,
    /// Blocks a challenged worker has to answer before it is unresponsive.
    pub answer_window_blocks: u64,
    /// Chain time a worker may stay unresponsive before each daily slash.
    pub unresponsive_grace_ms: u64,
    /// Per-mille of its stake an unresponsive worker loses each day past the grace period.
    pub unresponsive_slash_per_mille: u16,
    /// Per-mille of its stake a worker loses for provable misbehaviour (a revoked attestation).
    pub misbehaviour_slash_per_mille: u16,
    /// Chain time a queued withdrawal may wait before the pool is forced to stop workers.
    pub withdraw_grace_ms: u64,
    /// Blocks after its last attestation that a worker may start or keep computing.
    pub attestation_max_age_blocks: u64,
    /// Workers the daily settlement visits per block.
    pub settle_slice: u32,
}

impl Default for MiningParams {
    fn default() -> Self {
        const DAY_MS: u64 = 86_400_000;
        MiningParams {
            re_raw: 1_300_000_000_000,
            rig_k_raw: 300_000_000_000,
            k_raw: 100 * FIXED_SCALE,
            v_max_raw: 30_000 * FIXED_SCALE,
            rho_raw: 1_000_200_000_000,
            decay_raw: 999_600_000_000,
            min_p: 50,
            max_p: 100_000,
            day_ms: DAY_MS,
            treasury_per_mille: 0,
            cooldown_ms: 7 * DAY_MS,
            challenges_per_block: 20,
            max_challenges_per_hour: 2,
            answer_window_blocks: 10,
            unresponsive_grace_ms: DAY_MS,
            unresponsive_slash_per_mille: 10,
            misbehaviour_slash_per_mille: 500,
            withdraw_grace_ms: 7 * DAY_MS,
            // About 90 days of 500 ms blocks.
            attestation_max_age_blocks: 90 * 24 * 3_600 * 2,
            settle_slice: 2_000,
        }
    }
}

impl MiningParams {
    /// Dev-chain rules: one-minute days, a minute of cooldown and grace, frequent heartbeats,
    /// so the whole lifecycle (computing, unresponsive, slashed, paid) shows in a demo.
    pub fn dev() -> MiningParams {
        MiningParams {
            day_ms: 60_000,
            cooldown_ms: 60_000,
            // One every 15 s: an offline worker is caught within a dev day.
            max_challenges_per_hour: 240,
            unresponsive_grace_ms: 30_000,
            withdraw_grace_ms: 60_000,
            ..MiningParams::default()
        }
    }
}

/// Where a worker is in its mining lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinerState {
    /// Bound to a pool, not computing.
    Ready,
    /// Computing and answering heartbeats: earns work points.
    Computing,
    /// Computing but missed a heartbeat: earns nothing and loses value until it answers.
    Unresponsive,
    /// Stopped; its stake comes back to the pool when the cooldown ends.
    CoolingDown,
}

/// A worker bound to a stake pool, with everything that explains what it earns.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Miner {
    /// The worker's identity.
    #[serde(with = "crate::serde_hex")]
    pub identity: [u8; 32],
    /// The pool it is bound to.
    pub pool: u64,
    /// Its lifecycle state.
    pub state: MinerState,
    /// Chain time (ms) it entered that state.
    pub state_since_ms: u64,
    /// Stake bound to it (units), held on the pool's account while computing or cooling down.
    pub stake: Balance,
    /// The performance score it computes with (capped at `max_p`).
    pub performance: u32,
    /// The attestation's confidence, per mille, when it started.
    pub confidence: u16,
    /// Its mining value V (fixed point).
    pub value_raw: u128,
    /// Chain time V was last moved by whole hours.
    pub value_anchor_ms: u64,
    /// Chain time its work points are counted up to.
    pub accrued_to_ms: u64,
    /// The day its open work points belong to.
    pub points_day: u64,
    /// Work points of `points_day` so far (fixed point).
    pub points_raw: u128,
    /// A closed day's points awaiting payout (fixed point), and that day.
    pub closed_points_raw: u128,
    /// The day of `closed_points_raw`.
    pub closed_day: u64,
    /// The open heartbeat challenge: the height it was issued at and the last height an
    /// answer counts as in time.
    pub challenge: Option<(u64, u64)>,
    /// Chain time (ms) of its last challenge.
    pub last_challenge_ms: Option<u64>,
    /// Heartbeats answered in time, ever.
    pub heartbeats_answered: u64,
    /// Heartbeats missed, ever.
    pub heartbeats_missed: u64,
    /// Its place in the set of computing workers heartbeats are drawn from.
    pub slot: Option<u32>,
    /// When its stake may come back (cooling down).
    pub cooldown_until_ms: u64,
    /// The last day it was slashed for being unresponsive.
    pub last_unresponsive_slash_day: Option<u64>,
    /// Total units earned (before commission), ever.
    pub earned: Balance,
    /// Total units slashed, ever.
    pub slashed: Balance,
    /// The last payout: (day, points, units).
    pub last_payout: Option<(u64, u128, Balance)>,
    /// Chain time (ms) spent unresponsive since its last unresponsiveness slash: a settled day
    /// slashes it once this passes the grace period.
    pub unresponsive_ms: u64,
    /// Whether its platform's TCB was revoked when it stopped (its reclaim then slashes).
    pub revoked_when_stopped: bool,
    /// Whether it was already slashed for a revoked attestation (once, however it stops).
    pub revocation_slashed: bool,
}

/// A stake pool: delegators' PHA bound to the owner's workers, shared by shares.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct StakePool {
    /// Its number.
    pub id: u64,
    /// Who created it and runs its workers.
    pub owner: AccountId,
    /// The account that holds its PHA (free stake on its free balance, bound stake held).
    pub account: AccountId,
    /// The owner's cut of rewards, per mille.
    pub commission_per_mille: u16,
    /// The most value the pool accepts through contributions (units), if capped.
    pub cap: Option<Balance>,
    /// Who may contribute, if restricted.
    pub allow_list: Option<Vec<AccountId>>,
    /// Shares outstanding (queued withdrawals included).
    pub shares: u128,
    /// Stake bound to computing workers (units).
    pub bound: Balance,
    /// Stake of workers cooling down, queued to come back (units).
    pub releasing: Balance,
    /// Its workers, in binding order.
    #[serde(with = "crate::serde_hex::list")]
    pub workers: Vec<[u8; 32]>,
    /// First and one-past-last sequence of its withdrawal queue.
    pub queue_head: u64,
    /// One past the last queued request.
    pub queue_tail: u64,
    /// Shares waiting in the queue.
    pub queued_shares: u128,
    /// Rewards received, ever (units, after commission).
    pub rewards: Balance,
    /// Commission paid to the owner, ever.
    pub commission_paid: Balance,
    /// Stake slashed, ever.
    pub slashed: Balance,
}

/// A withdrawal waiting for free stake.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct WithdrawRequest {
    /// Who is owed.
    pub who: AccountId,
    /// Shares to redeem (priced when paid, so they share gains and slashes until then).
    pub shares: u128,
    /// Chain time it was queued.
    pub since_ms: u64,
}

/// Where the daily settlement is.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum SettlementPhase {
    /// Waiting for the open day to end.
    Idle,
    /// Closing `day`: every active worker's points up to the day's end are summed.
    Closing {
        /// The day being closed.
        day: u64,
        /// The last worker visited.
        #[serde(with = "crate::serde_hex::option")]
        cursor: Option<[u8; 32]>,
        /// Points closed so far (fixed point).
        total_raw: u128,
    },
    /// Paying `day`'s budget out by points.
    Paying {
        /// The day being paid.
        day: u64,
        /// The last worker visited.
        #[serde(with = "crate::serde_hex::option")]
        cursor: Option<[u8; 32]>,
        /// The day's total points (fixed point).
        total_raw: u128,
        /// The day's budget.
        budget: Balance,
        /// What goes to workers (the budget less the treasury's part).
        to_workers: Balance,
        /// Paid to workers so far.
        paid: Balance,
        /// Workers paid so far.
        workers: u32,
    },
}

/// The settlement's state.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Settlement {
    /// The day work points currently accrue to.
    pub open_day: u64,
    /// Chain time (ms) the open day started; it ends `day_ms` later. Days follow each other
    /// back to back from genesis, so a change of `day_ms` moves only later boundaries.
    pub open_day_start_ms: u64,
    /// What the settlement is doing.
    pub phase: SettlementPhase,
}

/// One settled day, kept for the record.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct DayRecord {
    /// The day.
    pub day: u64,
    /// Its budget (`720,000 PHA × 0.75^period`, at most the pot).
    pub budget: Balance,
    /// Paid to the treasury.
    pub treasury: Balance,
    /// Paid to workers.
    pub paid: Balance,
    /// Rounding dust left in the pot (`budget − treasury − paid`; all of it when nobody worked).
    pub kept_in_pot: Balance,
    /// Total work points (fixed point).
    pub points_raw: u128,
    /// Workers paid.
    pub workers: u32,
}
