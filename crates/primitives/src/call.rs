//! The calls a transaction can carry.
//!
//! [`Call`] is chain-visible: a variant's position is its wire code, so variants are only ever
//! added at the end, never reordered or removed. The same holds for every nested call enum.
//!
//! Privileged calls ([`PrivilegedCall`]) change the chain's own rules. They are never sent
//! directly by an account: governance executes them when a proposal passes, and on dev chains a
//! named root account may dispatch them through [`RootCall::Dispatch`] (a production genesis has
//! no root account, so that path is closed there).

use crate::account::AccountId;
use crate::units::{Balance, PHA};
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Everything an account can ask the chain to do.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Move PHA between accounts.
    Balances(BalancesCall),
    /// Dispatch a privileged call as the dev root account.
    Root(RootCall),
    /// Propose, vote on and manage governance proposals.
    Governance(GovernanceCall),
}

/// Calls of the balances module.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancesCall {
    /// Send `amount` units to `to`.
    Transfer {
        /// The receiving account.
        to: AccountId,
        /// Units to send.
        amount: Balance,
    },
}

/// Calls of the root (sudo) path, accepted only from the genesis-named root account.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootCall {
    /// Execute a privileged call with root authority.
    Dispatch(PrivilegedCall),
}

/// Calls of the governance module.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernanceCall {
    /// Submit a proposal: a batch of privileged calls executed together if it passes. Locks
    /// the proposal deposit until the proposal ends.
    Propose {
        /// The calls to execute, in order, if the proposal passes.
        calls: Vec<PrivilegedCall>,
        /// What the proposal does and why (UTF-8, at most 4 KiB).
        description: Vec<u8>,
    },
    /// Vote on an open proposal with `amount` units, which stay locked until voting ends.
    /// Voting again replaces the earlier vote.
    Vote {
        /// The proposal.
        proposal: u32,
        /// Aye (true) or nay (false).
        aye: bool,
        /// Units behind the vote.
        amount: Balance,
    },
    /// Withdraw a vote from a proposal that is still open, unlocking its PHA.
    Unvote {
        /// The proposal.
        proposal: u32,
    },
}

/// Calls that change the chain's rules; only governance (or a dev root) can execute them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivilegedCall {
    /// Replace the fee and size parameters.
    SetChainParams(ChainParams),
    /// Replace governance's own periods, deposit and turnout.
    SetGovernanceParams(GovernanceParams),
    /// Pay `amount` from the treasury to `to`.
    TreasurySpend {
        /// The recipient.
        to: AccountId,
        /// Units to pay.
        amount: Balance,
    },
    /// Replace the validator set (ed25519 consensus keys) from the next epoch on.
    SetValidators(Vec<[u8; 32]>),
    /// End a proposal as spam: it does not execute and its deposit goes to the treasury.
    CancelProposal {
        /// The proposal to cancel.
        proposal: u32,
    },
    /// Several privileged calls, executed in order; the first failure stops the batch.
    Batch(Vec<PrivilegedCall>),
}

/// Fee and size rules, chain state changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ChainParams {
    /// Fee every transaction pays, in units.
    pub base_fee: Balance,
    /// Fee per byte of the encoded transaction, in units.
    pub byte_fee: Balance,
    /// Largest encoded transaction accepted, in bytes.
    pub max_tx_bytes: u32,
    /// Most transactions in one block.
    pub max_block_txs: u32,
    /// How many blocks ahead a transaction's expiry may lie.
    pub max_expiry_blocks: u64,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            base_fee: PHA / 1_000,
            byte_fee: PHA / 1_000_000,
            max_tx_bytes: 64 * 1024,
            max_block_txs: 10_000,
            max_expiry_blocks: 14_400,
        }
    }
}

/// Governance's own rules, chain state changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GovernanceParams {
    /// Blocks a proposal stays open for voting.
    pub voting_period: u64,
    /// Blocks between a proposal passing and its calls executing.
    pub enactment_delay: u64,
    /// Units locked by the proposer until the proposal ends.
    pub proposal_deposit: Balance,
    /// Least total units that must vote for the result to count (0 = no minimum).
    pub min_turnout: Balance,
}

impl Default for GovernanceParams {
    fn default() -> Self {
        GovernanceParams {
            // About a week and a day at one block per second.
            voting_period: 7 * 24 * 3_600,
            enactment_delay: 24 * 3_600,
            proposal_deposit: 1_000 * PHA,
            min_turnout: 0,
        }
    }
}
