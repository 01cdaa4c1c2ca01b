//! Bounds on every parameter a privileged call can set, so that no vote can brick the chain.
//!
//! The chain's own rules are chain state, changed by governance (or the dev root) and fixed at
//! genesis. A value outside its bounds is refused on both paths with
//! [`ParamsError::OutOfBounds`] naming the parameter, so the bad value never takes effect: a
//! governance batch carrying it rolls back whole and records the error.
//!
//! What each bound protects (values below):
//! - `max_block_txs` at least [`MIN_BLOCK_TXS`]: with 0 no block could carry a transaction, not
//!   even the vote that would fix it; at most [`MAX_BLOCK_TXS`], beyond which the byte limit
//!   of a block is what binds anyway.
//! - `max_tx_bytes` at least [`MIN_TX_BYTES`]: a proposal with its longest description and a
//!   DCAP registration must still fit; at most [`MAX_TX_BYTES`], the decoder's own limit.
//! - fees at most [`MAX_BASE_FEE`] and [`MAX_BYTE_FEE`], so every holder of a few PHA can still
//!   pay for a vote; and a transaction of [`SMALLEST_TX_BYTES`] costs at least [`MIN_TX_FEE`],
//!   so spam is never free.
//! - `max_expiry_blocks` at least [`MIN_EXPIRY_BLOCKS`], the window clients sign with; at most
//!   [`MAX_EXPIRY_BLOCKS`].
//! - `dcap_verification_fee` between [`MIN_DCAP_VERIFICATION_FEE`] and
//!   [`MAX_DCAP_VERIFICATION_FEE`]: DCAP verification stays paid for, and real TEEs can still
//!   afford to register.
//! - `block_interval_ms` between [`MIN_BLOCK_INTERVAL_MS`] and [`MAX_BLOCK_INTERVAL_MS`]: a
//!   spacing at or past the leader timeout would have leaders skipped for being late (the view
//!   after a skip can proceed, since its parent is older, so it slows the chain rather than
//!   stopping it), and the bound leaves 100 ms for network delay and clock skew.
//! - `voting_period` between [`MIN_VOTING_PERIOD`] and [`MAX_VOTING_PERIOD`]: voters get time
//!   to vote, and a proposal (with its locked PHA) always ends; `enactment_delay` at most
//!   [`MAX_ENACTMENT_DELAY`].
//! - `proposal_deposit` between [`MIN_PROPOSAL_DEPOSIT`] and [`MAX_PROPOSAL_DEPOSIT`]: proposals
//!   are never free, and an ordinary holder can still make the corrective one.
//! - `min_turnout` at most [`MAX_MIN_TURNOUT`], so a quorum stays reachable.
//! - `gatekeeper.stake` between [`MIN_GATEKEEPER_STAKE`] and [`MAX_GATEKEEPER_STAKE`]: a
//!   gatekeeper holds the master key, so it always has something to lose, and an honest operator
//!   can still afford it; `gatekeeper.unbonding_ms` between [`MIN_GATEKEEPER_UNBONDING_MS`] and
//!   [`MAX_GATEKEEPER_UNBONDING_MS`], long enough for misbehaviour to be reported and slashed
//!   before the stake is free (short on dev chains), and never locked for more than 90 days.
//! - `contracts.max_code_bytes` between [`MIN_CONTRACT_CODE_BYTES`] and
//!   [`MAX_CONTRACT_CODE_BYTES`]; `contracts.code_byte_fee` between [`MIN_CODE_BYTE_FEE`] and
//!   [`MAX_CODE_BYTE_FEE`] (stored code is never free, and stays affordable);
//!   `contracts.min_gas_price` between [`MIN_MIN_GAS_PRICE`] and [`MAX_MIN_GAS_PRICE`];
//!   `contracts.max_gas_limit` between [`MIN_MAX_GAS_LIMIT`] and [`MAX_MAX_GAS_LIMIT`];
//!   `contracts.command_timeout_blocks` between [`MIN_COMMAND_TIMEOUT_BLOCKS`] and
//!   [`MAX_COMMAND_TIMEOUT_BLOCKS`] (members have time to report, gas is not held for long);
//!   `contracts.withdrawal_delay_blocks` between [`MIN_WITHDRAWAL_DELAY_BLOCKS`] and
//!   [`MAX_WITHDRAWAL_DELAY_BLOCKS`] (workers have time to report usage before a deposit leaves).
//! - the mining parameters (`mining.*`), each between bounds that keep the work formula
//!   meaningful (values as the work formula needs them), the day at least a minute, slashes at
//!   most 10% a day for unresponsiveness and at least 10% for misbehaviour, and the per-block
//!   settlement and heartbeat work bounded ([`check_mining`]).
//! - a validator set has at most [`MAX_VALIDATORS`] keys (checked with the keys themselves in
//!   [`crate::system::check_validator_set`]).
//!
//! The attestation policy's own consistency is checked by
//! [`AttestationPolicy::validate`](phalanx_attestation::AttestationPolicy::validate).

use phalanx_primitives::call::{ChainParams, GovernanceParams};
use phalanx_primitives::contract::ContractsParams;
use phalanx_primitives::gatekeeper::GatekeeperParams;
use phalanx_primitives::mining::MiningParams;
use phalanx_primitives::staking::StakingParams;
use phalanx_primitives::{Balance, MAX_SUPPLY, PHA};
use std::fmt;

/// Fewest transactions a block may be limited to. A block always has room for a corrective
/// vote next to a burst of ordinary traffic (0 would make every transaction impossible).
pub const MIN_BLOCK_TXS: u32 = 100;
/// Most transactions a block may be allowed: a block is at most
/// [`MAX_BLOCK_BYTES`](phalanx_primitives::block::MAX_BLOCK_BYTES) (8 MiB) and no transaction
/// is shorter than [`SMALLEST_TX_BYTES`], so a higher limit could never be reached.
pub const MAX_BLOCK_TXS: u32 =
    (phalanx_primitives::block::MAX_BLOCK_BYTES / SMALLEST_TX_BYTES) as u32;

/// Smallest limit on a transaction's size, in bytes: room for a proposal with its longest
/// description (4 KiB) and many calls, and for a DCAP registration (a ~5 KiB quote and
/// 14–25 KiB of collateral).
pub const MIN_TX_BYTES: u32 = 32 * 1024;
/// Largest limit on a transaction's size: what the strict decoder accepts at all
/// ([`phalanx_primitives::transaction::MAX_TX_BYTES`], 1 MiB).
pub const MAX_TX_BYTES: u32 = phalanx_primitives::transaction::MAX_TX_BYTES as u32;

/// No transaction encodes shorter than this: signer (32), nonce (8), fee (16), expiry (8) and
/// signature (64) alone take 128 bytes.
pub const SMALLEST_TX_BYTES: usize = 128;
/// Least a transaction of [`SMALLEST_TX_BYTES`] must cost (0.00001 PHA), so that spam is never
/// free whatever the split between base and byte fee.
pub const MIN_TX_FEE: Balance = PHA / 100_000;
/// Highest base fee (10 PHA). With [`MAX_BYTE_FEE`], a governance vote (~200 bytes) costs at
/// most about 10.2 PHA, which any voter can pay.
pub const MAX_BASE_FEE: Balance = 10 * PHA;
/// Highest fee per byte (0.001 PHA): the largest transaction the bounds allow (1 MiB) then
/// costs at most about 1,060 PHA.
pub const MAX_BYTE_FEE: Balance = PHA / 1_000;

/// Smallest expiry window, in blocks: the client SDK signs transactions to expire 600 blocks
/// ahead, so a smaller window would make every transaction it sends (a corrective vote
/// included) too far ahead to be accepted.
pub const MIN_EXPIRY_BLOCKS: u64 = 600;
/// Largest expiry window: a week of 500 ms blocks. A signed transaction should not stay
/// includable for longer than its signer can be expected to remember it.
pub const MAX_EXPIRY_BLOCKS: u64 = 7 * 24 * 3_600 * 2;

/// Least block spacing: below it, empty blocks would cost more than they are worth.
pub const MIN_BLOCK_INTERVAL_MS: u64 = 10;
/// Most block spacing: it must stay below the validators' 1 s leader timeout, or every leader
/// is skipped for being late and the chain stops for good.
pub const MAX_BLOCK_INTERVAL_MS: u64 = 900;

/// Least extra fee of a registration with a DCAP quote (0.001 PHA, a hundred times
/// [`MIN_TX_FEE`]): verifying a quote and its collateral costs each validator about 5 ms of CPU
/// (`cargo bench -p phalanx-attestation`: `verify_dcap_sgx` ≈ 5.3 ms, `verify_simulated` ≈
/// 0.14 ms), the work of roughly a hundred signature checks.
pub const MIN_DCAP_VERIFICATION_FEE: Balance = 100 * MIN_TX_FEE;
/// Most extra fee of a registration with a DCAP quote (100 PHA): more would price real TEEs
/// out of registering.
pub const MAX_DCAP_VERIFICATION_FEE: Balance = 100 * PHA;

/// Shortest voting period, in blocks: voters need a few seconds to see a proposal and vote
/// (0 would close voting in the block that opened it).
pub const MIN_VOTING_PERIOD: u64 = 10;
/// Longest voting period, and longest enactment delay: 30 days of 500 ms blocks. Voters' PHA is
/// locked while voting runs, and a passed fix must not wait longer than this to apply.
pub const MAX_VOTING_PERIOD: u64 = 30 * 24 * 3_600 * 2;
/// Longest enactment delay (see [`MAX_VOTING_PERIOD`]).
pub const MAX_ENACTMENT_DELAY: u64 = MAX_VOTING_PERIOD;
/// Least proposal deposit (1 PHA): proposals are never free to spam.
pub const MIN_PROPOSAL_DEPOSIT: Balance = PHA;
/// Largest proposal deposit (100,000 PHA, 0.01% of the supply): an ordinary holder must still
/// be able to propose the corrective change.
pub const MAX_PROPOSAL_DEPOSIT: Balance = 100_000 * PHA;
/// Highest minimum turnout: 5% of the maximum supply (50,000,000 PHA), well under the 30%
/// that circulates from genesis (the mining pot does not vote), so a quorum stays reachable.
pub const MAX_MIN_TURNOUT: Balance = MAX_SUPPLY / 20;

/// Least gatekeeper stake (1,000 PHA).
pub const MIN_GATEKEEPER_STAKE: Balance = 1_000 * PHA;
/// Most gatekeeper stake (1,000,000 PHA, 0.1% of the supply).
pub const MAX_GATEKEEPER_STAKE: Balance = 1_000_000 * PHA;
/// Shortest gatekeeper unbonding period: one minute of chain time (dev chains).
pub const MIN_GATEKEEPER_UNBONDING_MS: u64 = 60_000;
/// Longest gatekeeper unbonding period: 90 days of chain time.
pub const MAX_GATEKEEPER_UNBONDING_MS: u64 = 90 * 24 * 3_600 * 1_000;

/// Smallest contract code size limit (1 KiB): a minimal contract must still fit.
pub const MIN_CONTRACT_CODE_BYTES: u32 = 1024;
/// Largest contract code size limit: a transaction (and so an upload) is at most
/// [`MAX_TX_BYTES`] anyway.
pub const MAX_CONTRACT_CODE_BYTES: u32 = MAX_TX_BYTES;
/// Least code storage fee per byte (the default transaction byte fee, 0.000001 PHA): code is
/// kept in every validator's state forever, so storing it is never free.
pub const MIN_CODE_BYTE_FEE: Balance = PHA / 1_000_000;
/// Most code storage fee per byte (0.01 PHA): a 64 KiB contract then costs at most about
/// 655 PHA to upload.
pub const MAX_CODE_BYTE_FEE: Balance = PHA / 100;
/// Least minimum gas price (1 unit): workers are never asked to run commands for nothing.
pub const MIN_MIN_GAS_PRICE: Balance = 1;
/// Most minimum gas price (0.000001 PHA per unit of gas): a million units of gas then cost at
/// most 1 PHA at the floor, so commands stay affordable.
pub const MAX_MIN_GAS_PRICE: Balance = PHA / 1_000_000;
/// Smallest maximum gas limit: room for a command that does real work.
pub const MIN_MAX_GAS_LIMIT: u64 = 1_000_000;
/// Largest maximum gas limit: at roughly 10⁸–10⁹ units of fuel a second, a command may run for
/// minutes, not hours, which keeps the cluster's queue moving.
pub const MAX_MAX_GAS_LIMIT: u64 = 1_000_000_000_000;
/// Shortest command timeout, in blocks: members need a few blocks to read, run and report.
pub const MIN_COMMAND_TIMEOUT_BLOCKS: u64 = 10;
/// Longest command timeout: a day of 500 ms blocks; a caller's gas is not held longer.
pub const MAX_COMMAND_TIMEOUT_BLOCKS: u64 = 24 * 3_600 * 2;
/// Shortest query-deposit withdrawal delay, in blocks: workers need a few blocks to report the
/// usage they served.
pub const MIN_WITHDRAWAL_DELAY_BLOCKS: u64 = 10;
/// Longest withdrawal delay: a week of 500 ms blocks.
pub const MAX_WITHDRAWAL_DELAY_BLOCKS: u64 = 7 * 24 * 3_600 * 2;

/// Most validators a set may have. Every vote is sent to every validator and a certificate
/// carries up to 2f + 1 signatures, so consensus traffic grows with the square of the set.
pub const MAX_VALIDATORS: usize = 128;

/// A bounded parameter, as named in [`ChainParams`] and [`GovernanceParams`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// [`ChainParams::base_fee`].
    BaseFee,
    /// [`ChainParams::byte_fee`].
    ByteFee,
    /// [`ChainParams::max_tx_bytes`].
    MaxTxBytes,
    /// [`ChainParams::max_block_txs`].
    MaxBlockTxs,
    /// [`ChainParams::max_expiry_blocks`].
    MaxExpiryBlocks,
    /// [`ChainParams::dcap_verification_fee`].
    DcapVerificationFee,
    /// [`GovernanceParams::voting_period`].
    VotingPeriod,
    /// [`GovernanceParams::enactment_delay`].
    EnactmentDelay,
    /// [`GovernanceParams::proposal_deposit`].
    ProposalDeposit,
    /// [`GovernanceParams::min_turnout`].
    MinTurnout,
    /// The fee of a transaction of [`SMALLEST_TX_BYTES`] (`base_fee + byte_fee × 128`).
    SmallestTxFee,
    /// [`ChainParams::block_interval_ms`].
    BlockIntervalMs,
    /// [`GatekeeperParams::stake`].
    GatekeeperStake,
    /// [`GatekeeperParams::unbonding_ms`].
    GatekeeperUnbondingMs,
    /// [`ContractsParams::max_code_bytes`].
    ContractsMaxCodeBytes,
    /// [`ContractsParams::code_byte_fee`].
    ContractsCodeByteFee,
    /// [`ContractsParams::min_gas_price`].
    ContractsMinGasPrice,
    /// [`ContractsParams::max_gas_limit`].
    ContractsMaxGasLimit,
    /// [`ContractsParams::command_timeout_blocks`].
    ContractsCommandTimeout,
    /// [`ContractsParams::withdrawal_delay_blocks`].
    ContractsWithdrawalDelay,
    /// [`MiningParams::re_raw`].
    MiningRe,
    /// [`MiningParams::rig_k_raw`].
    MiningRigK,
    /// [`MiningParams::k_raw`].
    MiningK,
    /// [`MiningParams::v_max_raw`].
    MiningVMax,
    /// [`MiningParams::rho_raw`].
    MiningRho,
    /// [`MiningParams::decay_raw`].
    MiningDecay,
    /// [`MiningParams::min_p`].
    MiningMinP,
    /// [`MiningParams::max_p`].
    MiningMaxP,
    /// [`MiningParams::day_ms`].
    MiningDayMs,
    /// [`MiningParams::treasury_per_mille`].
    MiningTreasury,
    /// [`MiningParams::cooldown_ms`].
    MiningCooldownMs,
    /// [`MiningParams::challenges_per_block`].
    MiningChallengesPerBlock,
    /// [`MiningParams::max_challenges_per_hour`].
    MiningChallengesPerHour,
    /// [`MiningParams::answer_window_blocks`].
    MiningAnswerWindow,
    /// [`MiningParams::unresponsive_grace_ms`].
    MiningUnresponsiveGraceMs,
    /// [`MiningParams::unresponsive_slash_per_mille`].
    MiningUnresponsiveSlash,
    /// [`MiningParams::misbehaviour_slash_per_mille`].
    MiningMisbehaviourSlash,
    /// [`MiningParams::withdraw_grace_ms`].
    MiningWithdrawGraceMs,
    /// [`MiningParams::attestation_max_age_blocks`].
    MiningAttestationAge,
    /// [`MiningParams::settle_slice`].
    MiningSettleSlice,
    /// [`StakingParams::unbonding_ms`].
    StakingUnbondingMs,
    /// [`StakingParams::equivocation_slash_per_mille`].
    StakingEquivocationSlash,
    /// [`StakingParams::min_validator_bond`].
    StakingMinValidatorBond,
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Param::BaseFee => "base_fee",
            Param::ByteFee => "byte_fee",
            Param::MaxTxBytes => "max_tx_bytes",
            Param::MaxBlockTxs => "max_block_txs",
            Param::MaxExpiryBlocks => "max_expiry_blocks",
            Param::DcapVerificationFee => "dcap_verification_fee",
            Param::VotingPeriod => "voting_period",
            Param::EnactmentDelay => "enactment_delay",
            Param::ProposalDeposit => "proposal_deposit",
            Param::MinTurnout => "min_turnout",
            Param::SmallestTxFee => "the fee of a 128-byte transaction (base_fee + 128 × byte_fee)",
            Param::BlockIntervalMs => "block_interval_ms",
            Param::GatekeeperStake => "gatekeeper.stake",
            Param::GatekeeperUnbondingMs => "gatekeeper.unbonding_ms",
            Param::ContractsMaxCodeBytes => "contracts.max_code_bytes",
            Param::ContractsCodeByteFee => "contracts.code_byte_fee",
            Param::ContractsMinGasPrice => "contracts.min_gas_price",
            Param::ContractsMaxGasLimit => "contracts.max_gas_limit",
            Param::ContractsCommandTimeout => "contracts.command_timeout_blocks",
            Param::ContractsWithdrawalDelay => "contracts.withdrawal_delay_blocks",
            Param::MiningRe => "mining.re",
            Param::MiningRigK => "mining.rig_k",
            Param::MiningK => "mining.k",
            Param::MiningVMax => "mining.v_max",
            Param::MiningRho => "mining.rho",
            Param::MiningDecay => "mining.decay",
            Param::MiningMinP => "mining.min_p",
            Param::MiningMaxP => "mining.max_p",
            Param::MiningDayMs => "mining.day_ms",
            Param::MiningTreasury => "mining.treasury_per_mille",
            Param::MiningCooldownMs => "mining.cooldown_ms",
            Param::MiningChallengesPerBlock => "mining.challenges_per_block",
            Param::MiningChallengesPerHour => "mining.max_challenges_per_hour",
            Param::MiningAnswerWindow => "mining.answer_window_blocks",
            Param::MiningUnresponsiveGraceMs => "mining.unresponsive_grace_ms",
            Param::MiningUnresponsiveSlash => "mining.unresponsive_slash_per_mille",
            Param::MiningMisbehaviourSlash => "mining.misbehaviour_slash_per_mille",
            Param::MiningWithdrawGraceMs => "mining.withdraw_grace_ms",
            Param::MiningAttestationAge => "mining.attestation_max_age_blocks",
            Param::MiningSettleSlice => "mining.settle_slice",
            Param::StakingUnbondingMs => "staking.unbonding_ms",
            Param::StakingEquivocationSlash => "staking.equivocation_slash_per_mille",
            Param::StakingMinValidatorBond => "staking.min_validator_bond",
        })
    }
}

/// Why a parameter value was refused. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum ParamsError {
    /// A parameter is outside its bounds (see the module docs for why each bound exists).
    #[error("{param} = {value} is outside its bounds {min}..={max}; propose a value inside them")]
    OutOfBounds {
        /// Which parameter.
        param: Param,
        /// The refused value.
        value: u128,
        /// Least allowed.
        min: u128,
        /// Most allowed.
        max: u128,
    },
}

/// The module name of parameter errors' [`ErrorCode`](crate::module::ErrorCode)s: the bounds
/// are not a module of their own, but their refusals need a code like any other.
pub const NAME: &str = "params";

/// One code per parameter, so the code alone still names the parameter that was refused.
impl crate::module::ErrorCodes for ParamsError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("base_fee_out_of_bounds", "base_fee is outside its bounds"),
        ("byte_fee_out_of_bounds", "byte_fee is outside its bounds"),
        (
            "max_tx_bytes_out_of_bounds",
            "max_tx_bytes is outside its bounds",
        ),
        (
            "max_block_txs_out_of_bounds",
            "max_block_txs is outside its bounds",
        ),
        (
            "max_expiry_blocks_out_of_bounds",
            "max_expiry_blocks is outside its bounds",
        ),
        (
            "dcap_verification_fee_out_of_bounds",
            "dcap_verification_fee is outside its bounds",
        ),
        (
            "voting_period_out_of_bounds",
            "voting_period is outside its bounds",
        ),
        (
            "enactment_delay_out_of_bounds",
            "enactment_delay is outside its bounds",
        ),
        (
            "proposal_deposit_out_of_bounds",
            "proposal_deposit is outside its bounds",
        ),
        (
            "min_turnout_out_of_bounds",
            "min_turnout is outside its bounds",
        ),
        (
            "smallest_tx_fee_out_of_bounds",
            "the fee of a 128-byte transaction (base_fee + 128 × byte_fee) is outside its bounds",
        ),
        (
            "block_interval_ms_out_of_bounds",
            "block_interval_ms is outside its bounds",
        ),
        (
            "gatekeeper_stake_out_of_bounds",
            "the gatekeeper stake is outside its bounds",
        ),
        (
            "gatekeeper_unbonding_out_of_bounds",
            "the gatekeeper unbonding period is outside its bounds",
        ),
        (
            "contracts_max_code_bytes_out_of_bounds",
            "the contract code size limit is outside its bounds",
        ),
        (
            "contracts_code_byte_fee_out_of_bounds",
            "the contract code storage fee is outside its bounds",
        ),
        (
            "contracts_min_gas_price_out_of_bounds",
            "the minimum gas price is outside its bounds",
        ),
        (
            "contracts_max_gas_limit_out_of_bounds",
            "the maximum gas limit is outside its bounds",
        ),
        (
            "contracts_command_timeout_out_of_bounds",
            "the command timeout is outside its bounds",
        ),
        (
            "contracts_withdrawal_delay_out_of_bounds",
            "the query-deposit withdrawal delay is outside its bounds",
        ),
        ("mining_re_out_of_bounds", "mining.re is outside its bounds"),
        (
            "mining_rig_k_out_of_bounds",
            "mining.rig_k is outside its bounds",
        ),
        ("mining_k_out_of_bounds", "mining.k is outside its bounds"),
        (
            "mining_v_max_out_of_bounds",
            "mining.v_max is outside its bounds",
        ),
        (
            "mining_rho_out_of_bounds",
            "mining.rho is outside its bounds",
        ),
        (
            "mining_decay_out_of_bounds",
            "mining.decay is outside its bounds",
        ),
        (
            "mining_min_p_out_of_bounds",
            "mining.min_p is outside its bounds",
        ),
        (
            "mining_max_p_out_of_bounds",
            "mining.max_p is outside its bounds",
        ),
        (
            "mining_day_ms_out_of_bounds",
            "mining.day_ms is outside its bounds",
        ),
        (
            "mining_treasury_per_mille_out_of_bounds",
            "mining.treasury_per_mille is outside its bounds",
        ),
        (
            "mining_cooldown_ms_out_of_bounds",
            "mining.cooldown_ms is outside its bounds",
        ),
        (
            "mining_challenges_per_block_out_of_bounds",
            "mining.challenges_per_block is outside its bounds",
        ),
        (
            "mining_max_challenges_per_hour_out_of_bounds",
            "mining.max_challenges_per_hour is outside its bounds",
        ),
        (
            "mining_answer_window_blocks_out_of_bounds",
            "mining.answer_window_blocks is outside its bounds",
        ),
        (
            "mining_unresponsive_grace_ms_out_of_bounds",
            "mining.unresponsive_grace_ms is outside its bounds",
        ),
        (
            "mining_unresponsive_slash_per_mille_out_of_bounds",
            "mining.unresponsive_slash_per_mille is outside its bounds",
        ),
        (
            "mining_misbehaviour_slash_per_mille_out_of_bounds",
            "mining.misbehaviour_slash_per_mille is outside its bounds",
        ),
        (
            "mining_withdraw_grace_ms_out_of_bounds",
            "mining.withdraw_grace_ms is outside its bounds",
        ),
        (
            "mining_attestation_max_age_blocks_out_of_bounds",
            "mining.attestation_max_age_blocks is outside its bounds",
        ),
        (
            "mining_settle_slice_out_of_bounds",
            "mining.settle_slice is outside its bounds",
        ),
        (
            "staking_unbonding_ms_out_of_bounds",
            "staking.unbonding_ms is outside its bounds",
        ),
        (
            "staking_equivocation_slash_per_mille_out_of_bounds",
            "staking.equivocation_slash_per_mille is outside its bounds",
        ),
        (
            "staking_min_validator_bond_out_of_bounds",
            "staking.min_validator_bond is outside its bounds",
        ),
    ];

    fn code(&self) -> &'static str {
        match self {
            ParamsError::OutOfBounds { param, .. } => match param {
                Param::BaseFee => "base_fee_out_of_bounds",
                Param::ByteFee => "byte_fee_out_of_bounds",
                Param::MaxTxBytes => "max_tx_bytes_out_of_bounds",
                Param::MaxBlockTxs => "max_block_txs_out_of_bounds",
                Param::MaxExpiryBlocks => "max_expiry_blocks_out_of_bounds",
                Param::DcapVerificationFee => "dcap_verification_fee_out_of_bounds",
                Param::VotingPeriod => "voting_period_out_of_bounds",
                Param::EnactmentDelay => "enactment_delay_out_of_bounds",
                Param::ProposalDeposit => "proposal_deposit_out_of_bounds",
                Param::MinTurnout => "min_turnout_out_of_bounds",
                Param::SmallestTxFee => "smallest_tx_fee_out_of_bounds",
                Param::BlockIntervalMs => "block_interval_ms_out_of_bounds",
                Param::GatekeeperStake => "gatekeeper_stake_out_of_bounds",
                Param::GatekeeperUnbondingMs => "gatekeeper_unbonding_out_of_bounds",
                Param::ContractsMaxCodeBytes => "contracts_max_code_bytes_out_of_bounds",
                Param::ContractsCodeByteFee => "contracts_code_byte_fee_out_of_bounds",
                Param::ContractsMinGasPrice => "contracts_min_gas_price_out_of_bounds",
                Param::ContractsMaxGasLimit => "contracts_max_gas_limit_out_of_bounds",
                Param::ContractsCommandTimeout => "contracts_command_timeout_out_of_bounds",
                Param::ContractsWithdrawalDelay => "contracts_withdrawal_delay_out_of_bounds",
                Param::MiningRe => "mining_re_out_of_bounds",
                Param::MiningRigK => "mining_rig_k_out_of_bounds",
                Param::MiningK => "mining_k_out_of_bounds",
                Param::MiningVMax => "mining_v_max_out_of_bounds",
                Param::MiningRho => "mining_rho_out_of_bounds",
                Param::MiningDecay => "mining_decay_out_of_bounds",
                Param::MiningMinP => "mining_min_p_out_of_bounds",
                Param::MiningMaxP => "mining_max_p_out_of_bounds",
                Param::MiningDayMs => "mining_day_ms_out_of_bounds",
                Param::MiningTreasury => "mining_treasury_per_mille_out_of_bounds",
                Param::MiningCooldownMs => "mining_cooldown_ms_out_of_bounds",
                Param::MiningChallengesPerBlock => "mining_challenges_per_block_out_of_bounds",
                Param::MiningChallengesPerHour => "mining_max_challenges_per_hour_out_of_bounds",
                Param::MiningAnswerWindow => "mining_answer_window_blocks_out_of_bounds",
                Param::MiningUnresponsiveGraceMs => "mining_unresponsive_grace_ms_out_of_bounds",
                Param::MiningUnresponsiveSlash => {
                    "mining_unresponsive_slash_per_mille_out_of_bounds"
                }
                Param::MiningMisbehaviourSlash => {
                    "mining_misbehaviour_slash_per_mille_out_of_bounds"
                }
                Param::MiningWithdrawGraceMs => "mining_withdraw_grace_ms_out_of_bounds",
                Param::MiningAttestationAge => "mining_attestation_max_age_blocks_out_of_bounds",
                Param::MiningSettleSlice => "mining_settle_slice_out_of_bounds",
                Param::StakingUnbondingMs => "staking_unbonding_ms_out_of_bounds",
                Param::StakingEquivocationSlash => {
                    "staking_equivocation_slash_per_mille_out_of_bounds"
                }
                Param::StakingMinValidatorBond => "staking_min_validator_bond_out_of_bounds",
            },
        }
    }
}

/// A [`Result`](std::result::Result) of this module.
pub type Result<T = ()> = std::result::Result<T, ParamsError>;

fn within(
    param: Param,
    value: impl Into<u128>,
    min: impl Into<u128>,
    max: impl Into<u128>,
) -> Result {
    let (value, min, max) = (value.into(), min.into(), max.into());
    if value < min || value > max {
        return Err(ParamsError::OutOfBounds {
            param,
            value,
            min,
            max,
        });
    }
    Ok(())
}

/// Checks a block interval alone against its bounds, as [`check_chain`] would (for tools that
/// write it into a genesis).
pub fn check_block_interval(interval_ms: u64) -> Result {
    within(
        Param::BlockIntervalMs,
        interval_ms,
        MIN_BLOCK_INTERVAL_MS,
        MAX_BLOCK_INTERVAL_MS,
    )
}

/// Checks every field of `params` against its bounds.
pub fn check_chain(params: &ChainParams) -> Result {
    within(Param::BaseFee, params.base_fee, 0u128, MAX_BASE_FEE)?;
    within(Param::ByteFee, params.byte_fee, 0u128, MAX_BYTE_FEE)?;
    // Both fees are bounded above, so this cannot overflow; saturate anyway.
    let smallest_fee = params
        .base_fee
        .saturating_add(params.byte_fee.saturating_mul(SMALLEST_TX_BYTES as Balance));
    let most_smallest_fee = MAX_BASE_FEE + MAX_BYTE_FEE * SMALLEST_TX_BYTES as Balance;
    within(
        Param::SmallestTxFee,
        smallest_fee,
        MIN_TX_FEE,
        most_smallest_fee,
    )?;
    within(
        Param::MaxTxBytes,
        params.max_tx_bytes,
        MIN_TX_BYTES,
        MAX_TX_BYTES,
    )?;
    within(
        Param::MaxBlockTxs,
        params.max_block_txs,
        MIN_BLOCK_TXS,
        MAX_BLOCK_TXS,
    )?;
    within(
        Param::MaxExpiryBlocks,
        params.max_expiry_blocks,
        MIN_EXPIRY_BLOCKS,
        MAX_EXPIRY_BLOCKS,
    )?;
    within(
        Param::DcapVerificationFee,
        params.dcap_verification_fee,
        MIN_DCAP_VERIFICATION_FEE,
        MAX_DCAP_VERIFICATION_FEE,
    )?;
    within(
        Param::BlockIntervalMs,
        params.block_interval_ms,
        MIN_BLOCK_INTERVAL_MS,
        MAX_BLOCK_INTERVAL_MS,
    )
}

/// Checks every field of `params` against its bounds.
pub fn check_governance(params: &GovernanceParams) -> Result {
    within(
        Param::VotingPeriod,
        params.voting_period,
        MIN_VOTING_PERIOD,
        MAX_VOTING_PERIOD,
    )?;
    within(
        Param::EnactmentDelay,
        params.enactment_delay,
        0u64,
        MAX_ENACTMENT_DELAY,
    )?;
    within(
        Param::ProposalDeposit,
        params.proposal_deposit,
        MIN_PROPOSAL_DEPOSIT,
        MAX_PROPOSAL_DEPOSIT,
    )?;
    within(
        Param::MinTurnout,
        params.min_turnout,
        0u128,
        MAX_MIN_TURNOUT,
    )
}

#[cfg(test)]
mod tests;

/// Checks every field of `params` against its bounds.
pub fn check_gatekeeper(params: &GatekeeperParams) -> Result {
    within(
        Param::GatekeeperStake,
        params.stake,
        MIN_GATEKEEPER_STAKE,
        MAX_GATEKEEPER_STAKE,
    )?;
    within(
        Param::GatekeeperUnbondingMs,
        params.unbonding_ms,
        MIN_GATEKEEPER_UNBONDING_MS,
        MAX_GATEKEEPER_UNBONDING_MS,
    )
}

/// Checks every field of `params` against its bounds.
pub fn check_contracts(params: &ContractsParams) -> Result {
    within(
        Param::ContractsMaxCodeBytes,
        params.max_code_bytes,
        MIN_CONTRACT_CODE_BYTES,
        MAX_CONTRACT_CODE_BYTES,
    )?;
    within(
        Param::ContractsCodeByteFee,
        params.code_byte_fee,
        MIN_CODE_BYTE_FEE,
        MAX_CODE_BYTE_FEE,
    )?;
    within(
        Param::ContractsMinGasPrice,
        params.min_gas_price,
        MIN_MIN_GAS_PRICE,
        MAX_MIN_GAS_PRICE,
    )?;
    within(
        Param::ContractsMaxGasLimit,
        params.max_gas_limit,
        MIN_MAX_GAS_LIMIT,
        MAX_MAX_GAS_LIMIT,
    )?;
    within(
        Param::ContractsCommandTimeout,
        params.command_timeout_blocks,
        MIN_COMMAND_TIMEOUT_BLOCKS,
        MAX_COMMAND_TIMEOUT_BLOCKS,
    )?;
    within(
        Param::ContractsWithdrawalDelay,
        params.withdrawal_delay_blocks,
        MIN_WITHDRAWAL_DELAY_BLOCKS,
        MAX_WITHDRAWAL_DELAY_BLOCKS,
    )
}

/// The fixed-point one of [`MiningParams`]' `*_raw` fields.
const FIXED_ONE: u128 = phalanx_primitives::mining::FIXED_SCALE;
/// A day, in ms.
const DAY_MS: u64 = 86_400_000;

/// Checks the staking parameters: the unbonding period from a minute (dev chains) to 90 days
/// (long enough for evidence to be reported, never PHA locked for a season), the slash per
/// fault from 1% to 100% (a fault always costs something), and the least validator bond from
/// none (dev chains) to [`MAX_MIN_VALIDATOR_BOND`].
pub fn check_staking(params: &StakingParams) -> Result {
    within(
        Param::StakingUnbondingMs,
        params.unbonding_ms,
        60_000u64,
        90 * DAY_MS,
    )?;
    within(
        Param::StakingEquivocationSlash,
        params.equivocation_slash_per_mille,
        10u16,
        1_000u16,
    )?;
    within(
        Param::StakingMinValidatorBond,
        params.min_validator_bond,
        0u128,
        MAX_MIN_VALIDATOR_BOND,
    )
}

/// The most `staking.min_validator_bond` may be: 10 million PHA (1% of the supply), so a
/// vote can't price every validator out of the set.
pub const MAX_MIN_VALIDATOR_BOND: Balance = 10_000_000 * PHA;

/// Checks every mining parameter (bounds in [`check_mining`]'s body; each keeps the economics
/// meaningful and the per-block work bounded).
pub fn check_mining(params: &MiningParams) -> Result {
    // confidence's boost of the initial value, 1.0 to 2.0.
    within(Param::MiningRe, params.re_raw, FIXED_ONE, 2 * FIXED_ONE)?;
    // value per point of score, 0 to 10.
    within(Param::MiningRigK, params.rig_k_raw, 0u128, 10 * FIXED_ONE)?;
    // the stake factor k, 1 to 10,000 (a worker always stakes something).
    within(Param::MiningK, params.k_raw, FIXED_ONE, 10_000 * FIXED_ONE)?;
    // the most value, 1,000 to 1,000,000.
    within(
        Param::MiningVMax,
        params.v_max_raw,
        1_000 * FIXED_ONE,
        1_000_000 * FIXED_ONE,
    )?;
    // hourly growth, 1.0 to 1.01.
    within(
        Param::MiningRho,
        params.rho_raw,
        FIXED_ONE,
        FIXED_ONE + FIXED_ONE / 100,
    )?;
    // hourly decay while unresponsive, 0.9 to 1.0.
    within(
        Param::MiningDecay,
        params.decay_raw,
        FIXED_ONE / 10 * 9,
        FIXED_ONE,
    )?;
    // the least score, 1 to 10,000.
    within(Param::MiningMinP, params.min_p, 1u32, 10_000u32)?;
    // the score cap, from min_p to 10,000,000.
    within(Param::MiningMaxP, params.max_p, params.min_p, 10_000_000u32)?;
    // the settlement day, a minute (dev) to a week.
    within(Param::MiningDayMs, params.day_ms, 60_000u64, 7 * DAY_MS)?;
    // the treasury's part of each day, at most half.
    within(
        Param::MiningTreasury,
        params.treasury_per_mille,
        0u16,
        500u16,
    )?;
    // the cooldown, a minute (dev) to 30 days.
    within(
        Param::MiningCooldownMs,
        params.cooldown_ms,
        60_000u64,
        30 * DAY_MS,
    )?;
    // challenges per block, 1 to 1,000.
    within(
        Param::MiningChallengesPerBlock,
        params.challenges_per_block,
        1u32,
        1_000u32,
    )?;
    // challenges per worker per hour, 1 to 3,600.
    within(
        Param::MiningChallengesPerHour,
        params.max_challenges_per_hour,
        1u32,
        3_600u32,
    )?;
    // blocks to answer a challenge, 3 to 1,000 (an enclave needs a few blocks to see, sign and relay).
    within(
        Param::MiningAnswerWindow,
        params.answer_window_blocks,
        3u64,
        1_000u64,
    )?;
    // time unresponsive before a slash, 10 s (dev) to 30 days.
    within(
        Param::MiningUnresponsiveGraceMs,
        params.unresponsive_grace_ms,
        10_000u64,
        30 * DAY_MS,
    )?;
    // the daily slash of an unresponsive worker, at most 10%.
    within(
        Param::MiningUnresponsiveSlash,
        params.unresponsive_slash_per_mille,
        0u16,
        100u16,
    )?;
    // the slash of provable misbehaviour, 10% to 100%.
    within(
        Param::MiningMisbehaviourSlash,
        params.misbehaviour_slash_per_mille,
        100u16,
        1_000u16,
    )?;
    // how long a queued withdrawal waits before forced shutdown, a minute (dev) to 30 days.
    within(
        Param::MiningWithdrawGraceMs,
        params.withdraw_grace_ms,
        60_000u64,
        30 * DAY_MS,
    )?;
    // the attestation age, 600 blocks to a year of 500 ms blocks.
    within(
        Param::MiningAttestationAge,
        params.attestation_max_age_blocks,
        600u64,
        365 * 24 * 3_600 * 2u64,
    )?;
    // workers settled per block, 100 to 100,000.
    within(
        Param::MiningSettleSlice,
        params.settle_slice,
        100u32,
        100_000u32,
    )?;
    Ok(())
}
