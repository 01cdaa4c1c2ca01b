//! State invariants, checkable after any block (like FRAME's `try_state`).

use crate::balances;
use phalanx_primitives::{Balance, MAX_SUPPLY};
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
}

/// Checks: issuance ≤ max supply; the sum of all accounts' free + reserved + locked equals
/// issuance (so nothing was created or destroyed, and no balance went below zero — they are
/// unsigned and every subtraction is checked).
pub fn check(state: &State) -> Result<(), InvariantError> {
    let issuance =
        balances::total_issuance(state).map_err(|e| InvariantError::Unreadable(e.to_string()))?;
    if issuance > MAX_SUPPLY {
        return Err(InvariantError::IssuanceAboveMax(issuance));
    }
    let sum = balances::accounts(state)
        .iter()
        .try_fold(0u128, |acc, (_, data)| acc.checked_add(data.total()))
        .ok_or(InvariantError::IssuanceAboveMax(Balance::MAX))?;
    if sum != issuance {
        return Err(InvariantError::AccountsDoNotSum { sum, issuance });
    }
    Ok(())
}
