//! Treasury: an account no key controls. It receives every transaction fee (and, as those
//! modules land, slashes and the treasury share of mining rewards) and pays out only through a
//! privileged [`TreasurySpend`](phalanx_primitives::call::PrivilegedCall::TreasurySpend), which
//! means only when governance votes for it.

use crate::balances::{self, BalancesError};
use crate::events::Event;
use crate::module::{ErrorCodes, Module};
use crate::{BlockContext, DispatchResult};
use phalanx_primitives::{AccountId, Balance};
use phalanx_state::State;
use std::convert::Infallible;

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

impl ErrorCodes for TreasuryError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        (
            "insufficient_funds",
            "the treasury holds less than asked for",
        ),
        ("zero_amount", "the spend amount must be greater than zero"),
    ];

    /// A balances failure keeps its own code (and module, see
    /// [`DispatchError::code`](crate::DispatchError::code)).
    fn code(&self) -> &'static str {
        match self {
            TreasuryError::InsufficientFunds { .. } => "insufficient_funds",
            TreasuryError::ZeroAmount => "zero_amount",
            TreasuryError::Balances(e) => e.code(),
        }
    }
}

/// The treasury module: no calls (it spends only through the privileged path) and no storage
/// of its own (its PHA is an ordinary balance of [`account`]).
#[derive(Debug)]
pub struct Treasury;

impl Module for Treasury {
    const NAME: &'static str = "treasury";
    const STORAGE_PREFIX: &'static str = "treasury/";
    type Call = Infallible;
    type Error = TreasuryError;

    fn dispatch(
        _state: &mut State,
        _ctx: &BlockContext,
        _who: &AccountId,
        call: &Infallible,
        _fee: Balance,
        _events: &mut Vec<Event>,
    ) -> DispatchResult {
        match *call {}
    }
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
