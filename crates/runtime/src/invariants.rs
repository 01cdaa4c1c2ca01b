//! State invariants, checkable after any block (like FRAME's `try_state`).
//!
//! Each module checks its own ([`Module::check_invariants`](crate::module::Module)); [`check`]
//! runs them all, in [`crate::MODULES`] order.

use phalanx_primitives::{AccountId, Balance};
use phalanx_state::State;

/// A broken invariant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvariantError {
    /// Total issuance is above the maximum supply.
    #[error("total issuance {0} exceeds the maximum supply")]
    IssuanceAboveMax(Balance),
    /// The accounts do not add up to total issuance.
    #[error("accounts sum to {sum} but total issuance is {issuance}")]
    AccountsDoNotSum {
        /// Sum over accounts.
        sum: Balance,
        /// Recorded issuance.
        issuance: Balance,
    },
    /// The state could not be read.
    #[error("state unreadable: {0}")]
    Unreadable(String),
    /// An account's named holds do not add up to its reserved part.
    #[error("account {account} holds {holds} by name but has {reserved} reserved")]
    HoldsDoNotSum {
        /// The account.
        account: AccountId,
        /// The sum of its holds.
        holds: Balance,
        /// Its reserved part.
        reserved: Balance,
    },
    /// Locked PHA does not match the votes that lock it.
    #[error("accounts hold {locked} locked units but open votes lock {votes}")]
    LocksDoNotMatchVotes {
        /// Sum of all accounts' locked units.
        locked: Balance,
        /// Sum of the amounts of all stored votes.
        votes: Balance,
    },
    /// Reserved PHA does not match the holds that reserve it.
    #[error("accounts hold {reserved} reserved units but open proposals' deposits and gatekeeper stakes are {deposits}")]
    ReservesDoNotMatchDeposits {
        /// Sum of all accounts' reserved units.
        reserved: Balance,
        /// Sum of the deposits of proposals still voting and of gatekeeper stakes (serving and
        /// unbonding).
        deposits: Balance,
    },
    /// A module's records disagree with each other.
    #[error("{module}: {detail}")]
    Inconsistent {
        /// The module.
        module: &'static str,
        /// What disagrees.
        detail: String,
    },
}

/// Runs every module's invariants check; the first broken one is returned.
pub fn check(state: &State) -> Result<(), InvariantError> {
    crate::MODULES
        .iter()
        .try_for_each(|module| (module.check_invariants)(state))
}
