//! Root: the dev-only shortcut to the privileged path.
//!
//! A dev genesis may name a root account that can dispatch any privileged call directly, so that
//! local networks can change parameters without waiting for a vote. A production genesis has no
//! root ([`crate::genesis`] refuses one), so there every privileged call goes through governance.
//!
//! Storage key: `root/account` → the root account.

use crate::events::Event;
use crate::{privileged, BlockContext, DispatchResult};
use phalanx_primitives::{call::RootCall, AccountId, CodecError};
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

/// The root account, if the chain has one.
pub fn account(state: &State) -> Result<Option<AccountId>, CodecError> {
    state.get_decoded(ROOT)
}

/// Names the root account (genesis only).
pub fn set_account(state: &mut State, who: &AccountId) {
    state.put(ROOT.to_vec(), who);
}

/// Executes a root call from `who`.
pub fn dispatch(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    call: &RootCall,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use phalanx_primitives::call::{Call, ChainParams, PrivilegedCall};

    #[test]
    fn only_root_may_dispatch_and_its_call_takes_effect() {
        let (mut state, ctx) = dev_chain();
        let params = ChainParams {
            base_fee: 7,
            ..ChainParams::default()
        };
        let call = Call::Root(RootCall::Dispatch(PrivilegedCall::SetChainParams(
            params.clone(),
        )));
        let by_bob = signed(&key("bob"), 0, call.clone(), &ctx);
        let receipt = crate::apply_transaction(&mut state, &ctx, &by_bob).expect("envelope");
        assert_eq!(receipt.error, Some(RootError::NotRoot.to_string()));
        assert_ne!(crate::system::params(&state).expect("params"), params);
        let by_alice = signed(&key("alice"), 0, call, &ctx);
        let receipt = crate::apply_transaction(&mut state, &ctx, &by_alice).expect("envelope");
        assert_eq!(receipt.error, None);
        assert_eq!(crate::system::params(&state).expect("params"), params);
    }
}
