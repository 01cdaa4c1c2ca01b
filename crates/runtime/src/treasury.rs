//! Treasury: an account no key controls. It receives every transaction fee (and, as those
//! modules land, slashes and the treasury share of mining rewards) and pays out only through a
//! privileged [`TreasurySpend`](phalanx_primitives::call::PrivilegedCall::TreasurySpend), which
//! means only when governance votes for it.

use crate::balances::{self, BalancesError};
use crate::events::Event;
use phalanx_primitives::{AccountId, Balance};
use phalanx_state::State;

/// Why a treasury spend failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum TreasuryError {
    /// The treasury holds less than asked for.
    #[error("treasury holds {available} units, cannot spend {requested}")]
    InsufficientFunds {
        /// Units held.
        available: Balance,
        /// Units asked for.
        requested: Balance,
    },
    /// Spending nothing.
    #[error("treasury spend amount must be greater than zero")]
    ZeroAmount,
    /// A balances failure.
    #[error(transparent)]
    Balances(#[from] BalancesError),
}

/// The treasury's account.
pub fn account() -> AccountId {
    AccountId::module("treasury")
}

/// Free PHA the treasury holds.
pub fn balance(state: &State) -> Result<Balance, BalancesError> {
    Ok(balances::account(state, &account())?.free)
}

/// Pays `amount` to `to` (privileged).
pub fn spend(
    state: &mut State,
    to: &AccountId,
    amount: Balance,
    events: &mut Vec<Event>,
) -> Result<(), TreasuryError> {
    if amount == 0 {
        return Err(TreasuryError::ZeroAmount);
    }
    let available = balance(state)?;
    if available < amount {
        return Err(TreasuryError::InsufficientFunds {
            available,
            requested: amount,
        });
    }
    balances::transfer_free(state, &account(), to, amount)?;
    events.push(Event::TreasurySpent { to: *to, amount });
    Ok(())
}
