//! The privileged path: the one place where calls that change the chain's rules execute.
//!
//! Governance (when a proposal passes) and the dev root are its only callers, so a privileged
//! call added later — tokenomics, slashing, gatekeepers, key rotation — becomes governable by
//! adding its variant here and nothing else.

use crate::events::Event;
use crate::{governance, registry, system, treasury, BlockContext, DispatchResult};
use phalanx_primitives::call::PrivilegedCall;
use phalanx_state::State;

/// Executes `call` with privileged authority. A batch stops at its first failure; callers roll
/// back the whole batch (transactions and enactments both run on a checkpoint).
// `ctx` is part of the privileged-call contract: calls added later (tokenomics, slashing) need
// the block, even though none of today's uses it outside a batch.
#[allow(clippy::only_used_in_recursion)]
pub fn execute(
    state: &mut State,
    ctx: &BlockContext,
    call: &PrivilegedCall,
    events: &mut Vec<Event>,
) -> DispatchResult {
    match call {
        PrivilegedCall::SetChainParams(params) => {
            system::set_params(state, params);
            events.push(Event::ChainParamsChanged);
        }
        PrivilegedCall::SetGovernanceParams(params) => {
            governance::set_params(state, params);
            events.push(Event::GovernanceParamsChanged);
        }
        PrivilegedCall::TreasurySpend { to, amount } => {
            treasury::spend(state, to, *amount, events)?
        }
        PrivilegedCall::SetValidators(keys) => {
            if keys.is_empty() {
                return Err(governance::GovernanceError::EmptyValidatorSet.into());
            }
            // Every node must derive the same participant set from this list, so refuse
            // anything a node would have to skip or merge: invalid points and duplicates.
            let distinct: std::collections::BTreeSet<&[u8; 32]> = keys.iter().collect();
            if distinct.len() != keys.len()
                || keys
                    .iter()
                    .any(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
            {
                return Err(governance::GovernanceError::InvalidValidatorKeys.into());
            }
            system::schedule_validators(state, keys);
            events.push(Event::ValidatorsChanged {
                count: keys.len() as u32,
            });
        }
        PrivilegedCall::CancelProposal { proposal } => {
            governance::cancel(state, *proposal, events)?
        }
        PrivilegedCall::Batch(calls) => {
            for call in calls {
                execute(state, ctx, call, events)?;
            }
        }
        PrivilegedCall::SetAttestationPolicy(policy) => {
            registry::change_policy(state, policy, events)?
        }
        PrivilegedCall::SetRegistrationFrozen(frozen) => registry::freeze(state, *frozen, events)?,
    }
    Ok(())
}
