//! The attestation policy under governance: passed proposals change who may register.

use super::tests::worker_identity;
use super::*;
use crate::governance::{self, ProposalStatus};
use crate::testing::*;
use crate::Receipt;
use phalanx_attestation::{measure_worker_binary, TcbStatus};
use phalanx_primitives::call::{Call, GovernanceCall, PrivilegedCall};
use phalanx_primitives::PHA;

const V2: &[u8] = b"phalanx-worker/v2";

/// The shared driver: each block gets a stand-in hash, so registrations can cite it.
type Chain = TestChain;

/// Registry steps on the shared driver.
impl TestChain {
    /// Alice's worker `name` running `binary` registers, citing the previous block, in a block
    /// of its own.
    fn register_build(&mut self, name: &str, binary: &[u8]) -> Receipt {
        let alice = key("alice");
        let measurement = measure_worker_binary(binary);
        let registration = self.registration_with(&worker_identity(name), &alice.account(), |r| {
            r.measurement = measurement
        });
        self.call(&alice, Call::Registry(RegistryCall::Register(registration)))
    }

    /// Proposes `call`, votes it through with bob's PHA and runs until it is enacted.
    fn enact(&mut self, call: PrivilegedCall) -> ProposalStatus {
        let receipt = self.call(
            &key("alice"),
            Call::Governance(GovernanceCall::Propose {
                calls: vec![call],
                description: b"registry".to_vec(),
            }),
        );
        let id = receipt
            .events
            .iter()
            .find_map(|e| match e {
                Event::Proposed { proposal, .. } => Some(*proposal),
                _ => None,
            })
            .expect("proposed");
        let vote = self.call(
            &key("bob"),
            Call::Governance(GovernanceCall::Vote {
                proposal: id,
                aye: true,
                amount: 1_000 * PHA,
            }),
        );
        assert_eq!(vote.error, None);
        let proposal = governance::proposal(&self.state, id)
            .expect("readable")
            .expect("exists");
        let delay = governance::params(&self.state)
            .expect("params")
            .enactment_delay;
        self.run_until(proposal.voting_ends_at + delay);
        governance::proposal(&self.state, id)
            .expect("readable")
            .expect("exists")
            .status
    }
}

#[test]
fn a_passed_policy_change_lets_a_new_build_register() {
    let mut chain = Chain::new();
    let v2 = measure_worker_binary(V2);
    let refused = chain.register_build("1", V2);
    let not_allowed = PolicyError::MeasurementNotAllowed {
        measurement: hex::encode(v2),
    };
    assert_eq!(
        refused.error,
        Some(code(RegistryError::Policy(not_allowed)))
    );

    let new_policy = policy(&chain.state).expect("policy").with_measurement(v2);
    let status = chain.enact(PrivilegedCall::SetAttestationPolicy(new_policy.clone()));
    assert_eq!(status, ProposalStatus::Enacted { error: None });
    assert!(chain
        .block_events
        .contains(&Event::AttestationPolicyChanged));
    assert_eq!(policy(&chain.state).expect("policy"), new_policy);

    let accepted = chain.register_build("1", V2);
    assert_eq!(accepted.error, None);
    let info = worker(&chain.state, &worker_identity("1").account().0)
        .expect("readable")
        .expect("registered");
    assert_eq!(info.measurement, v2);
}

#[test]
fn a_passed_policy_change_can_also_shut_a_build_out() {
    let mut chain = Chain::new();
    let simulated = crate::genesis::SIMULATED_DEV_WORKER_BINARY;
    assert_eq!(chain.register_build("1", simulated).error, None);
    let mut new_policy = policy(&chain.state).expect("policy");
    new_policy.allowed_measurements = vec![measure_worker_binary(V2)];
    let status = chain.enact(PrivilegedCall::SetAttestationPolicy(new_policy));
    assert_eq!(status, ProposalStatus::Enacted { error: None });
    let refused = chain.register_build("2", simulated);
    let measurement = hex::encode(measure_worker_binary(simulated));
    assert_eq!(
        refused.error,
        Some(code(RegistryError::Policy(
            PolicyError::MeasurementNotAllowed { measurement }
        )))
    );
}

#[test]
fn an_invalid_policy_is_not_enacted() {
    let mut chain = Chain::new();
    let before = policy(&chain.state).expect("policy");
    let mut bad = before.clone();
    bad.minimum_tcb_status = TcbStatus::Revoked;
    let status = chain.enact(PrivilegedCall::SetAttestationPolicy(bad));
    assert!(
        matches!(status, ProposalStatus::Enacted { error: Some(ref e) } if e.to_string() == "registry.invalid_policy"),
        "{status:?}"
    );
    assert_eq!(policy(&chain.state).expect("policy"), before);
}

#[test]
fn a_passed_freeze_stops_registration_until_unfrozen() {
    let mut chain = Chain::new();
    let simulated = crate::genesis::SIMULATED_DEV_WORKER_BINARY;
    assert_eq!(
        chain.enact(PrivilegedCall::SetRegistrationFrozen(true)),
        ProposalStatus::Enacted { error: None }
    );
    assert!(chain
        .block_events
        .contains(&Event::RegistrationFrozen { frozen: true }));
    assert!(policy(&chain.state).expect("policy").registration_frozen);
    assert_eq!(
        chain.register_build("1", simulated).error,
        Some(code(RegistryError::RegistrationFrozen))
    );
    assert!(workers(&chain.state).is_empty());

    assert_eq!(
        chain.enact(PrivilegedCall::SetRegistrationFrozen(false)),
        ProposalStatus::Enacted { error: None }
    );
    assert_eq!(chain.register_build("1", simulated).error, None);
}
