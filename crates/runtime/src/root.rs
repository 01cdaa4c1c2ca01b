//! Root: the dev-only shortcut to the privileged path.
//!
//! A dev genesis may name a root account that can dispatch any privileged call directly, so that
//! local networks can change parameters without waiting for a vote. A production genesis has no
//! root ([`crate::genesis`] refuses one), so there every privileged call goes through governance.
//!
//! Storage key: `root/account` → the root account.

use crate::events::Event;
use crate::genesis::{GenesisConfig, GenesisError};
use crate::module::{ErrorCodes, Module};
use crate::{privileged, BlockContext, DispatchResult};
use phalanx_primitives::{call::RootCall, AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};

const ROOT: &[u8] = b"root/account";

/// Why a root call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum RootError {
    /// The chain has no root account (production).
    #[error("this chain has no root account: privileged calls go through governance (phalanx gov propose)")]
    NoRoot,
    /// The sender is not the root account.
    #[error("only the root account may dispatch privileged calls directly")]
    NotRoot,
}

impl ErrorCodes for RootError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        (
            "no_root",
            "this chain has no root account: privileged calls go through governance",
        ),
        (
            "not_root",
            "only the root account may dispatch privileged calls directly",
        ),
    ];

    fn code(&self) -> &'static str {
        match self {
            RootError::NoRoot => "no_root",
            RootError::NotRoot => "not_root",
        }
    }
}

/// The root account, if the chain has one.
pub fn account(state: &State) -> Result<Option<AccountId>, CodecError> {
    state.get_decoded(ROOT)
}

/// Names the root account (genesis only).
pub fn set_account(state: &mut State, who: &AccountId) {
    state.put(ROOT.to_vec(), who);
}

/// The root module.
#[derive(Debug)]
pub struct Root;

impl Module for Root {
    const NAME: &'static str = "root";
    const STORAGE_PREFIX: &'static str = "root/";
    type Call = RootCall;
    type Error = RootError;

    /// Runs the privileged call if `who` is the root account; a failing privileged call fails
    /// with its own module's code.
    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &RootCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        let root = account(state)?.ok_or(RootError::NoRoot)?;
        if root != *who {
            return Err(RootError::NotRoot.into());
        }
        match call {
            RootCall::Dispatch(call) => {
                privileged::execute(state, ctx, call, events)?;
                events.push(Event::RootDispatched);
                Ok(())
            }
        }
    }

    /// Names the dev root, if the config has one (a production config cannot).
    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        if let Some(root) = &config.root {
            set_account(state, root);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use phalanx_primitives::call::{Call, ChainParams, PrivilegedCall};

    #[test]
    fn only_root_may_dispatch_and_its_call_takes_effect() {
        let mut chain = TestChain::new();
        let params = ChainParams {
            base_fee: 7,
            ..ChainParams::default()
        };
        let call = Call::Root(RootCall::Dispatch(PrivilegedCall::SetChainParams(
            params.clone(),
        )));
        let receipt = chain.apply(&key("bob"), call.clone());
        assert_eq!(receipt.error, Some(code(RootError::NotRoot)));
        assert_ne!(crate::system::params(&chain.state).expect("params"), params);
        let receipt = chain.apply(&key("alice"), call);
        assert_eq!(receipt.error, None);
        assert!(receipt.events.contains(&Event::RootDispatched));
        assert_eq!(crate::system::params(&chain.state).expect("params"), params);
        chain.end_block();
    }

    #[test]
    fn a_chain_without_root_refuses_every_root_call() {
        let mut config = dev_config();
        config.root = None;
        let mut chain = TestChain::with_config(&config);
        let call = Call::Root(RootCall::Dispatch(PrivilegedCall::SetRegistrationFrozen(
            true,
        )));
        let receipt = chain.apply(&key("alice"), call);
        assert_eq!(receipt.error, Some(code(RootError::NoRoot)));
        chain.end_block();
    }
}
