//! The privileged path: the one place where calls that change the chain's rules execute.
//!
//! Governance (when a proposal passes) and the dev root are its only callers, so a privileged
//! call added later — tokenomics, slashing, gatekeepers, key rotation — becomes governable by
//! adding its variant here and nothing else. Governance does not import this module: the runtime
//! hands [`execute`] to `governance::on_block_end`, so the dependency runs one way, from here
//! into the modules whose rules a call changes (governance among them).

use crate::events::Event;
use crate::governance::GovernanceError;
use crate::{
    contracts, gatekeeper, governance, mining, params, registry, staking, system, treasury,
    BlockContext, DispatchResult,
};
use phalanx_primitives::call::PrivilegedCall;
use phalanx_state::State;

/// Executes `call` with privileged authority. A batch stops at its first failure; callers roll
/// back the whole batch (transactions and enactments both run on a checkpoint). Every parameter
/// it sets is checked against its bounds first ([`crate::params`]), so a refused value never
/// takes effect.
pub fn execute(
    state: &mut State,
    ctx: &BlockContext,
    call: &PrivilegedCall,
    events: &mut Vec<Event>,
) -> DispatchResult {
    match call {
        PrivilegedCall::SetChainParams(params) => {
            // Bounded, so no vote can brick the chain (see `crate::params`).
            params::check_chain(params)?;
            system::set_params(state, params);
            events.push(Event::ChainParamsChanged);
        }
        PrivilegedCall::SetGovernanceParams(params) => {
            params::check_governance(params)?;
            governance::set_params(state, params);
            events.push(Event::GovernanceParamsChanged);
        }
        PrivilegedCall::TreasurySpend { to, amount } => {
            treasury::spend(state, to, *amount, events)?
        }
        PrivilegedCall::SetValidators(keys) => {
            // Every node must derive the same participant set from this list, so refuse
            // anything a node would have to skip or merge (invalid points, duplicates), and
            // keys of small order, for which anyone could sign.
            system::check_validator_set(keys).map_err(GovernanceError::from)?;
            // Every named validator has something a fault can slash (genesis validators are
            // exempt until the first change of the set: nobody has bonded at genesis).
            staking::check_validator_bonds(state, keys)?;
            system::schedule_validators(state, keys);
            events.push(Event::ValidatorsChanged {
                count: keys.len() as u32,
            });
        }
        PrivilegedCall::CancelProposal { proposal } => {
            governance::cancel(state, ctx, *proposal, events)?
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
        PrivilegedCall::SetGatekeeperParams(params) => {
            params::check_gatekeeper(params)?;
            gatekeeper::set_params(state, params);
            events.push(Event::GatekeeperParamsChanged);
        }
        PrivilegedCall::AppointGatekeeper(identity) => {
            gatekeeper::appoint(state, ctx, identity, events)?
        }
        PrivilegedCall::RemoveGatekeeper(identity) => {
            gatekeeper::remove(state, ctx, identity, events)?
        }
        PrivilegedCall::CreateCluster => gatekeeper::create_cluster(state, ctx, events)?,
        PrivilegedCall::AddClusterWorker { cluster, worker } => {
            gatekeeper::add_worker(state, *cluster, worker, events)?
        }
        PrivilegedCall::RemoveClusterWorker { cluster, worker } => {
            gatekeeper::remove_worker(state, ctx, *cluster, worker, events)?
        }
        PrivilegedCall::RotateKeys => gatekeeper::rotate(state, ctx, events)?,
        PrivilegedCall::RetireKeyEpoch { epoch } => gatekeeper::retire(state, ctx, *epoch, events)?,
        PrivilegedCall::SetContractsParams(params) => {
            params::check_contracts(params)?;
            contracts::set_params(state, params);
            events.push(Event::ContractsParamsChanged);
        }
        PrivilegedCall::SetStakingParams(params) => {
            params::check_staking(params)?;
            staking::set_params(state, params);
            events.push(Event::StakingParamsChanged);
        }
        PrivilegedCall::SetMiningParams(params) => {
            params::check_mining(params)?;
            mining::set_params(state, params);
            events.push(Event::MiningParamsChanged);
        }
    }
    Ok(())
}
