//! The registration check: a quote authenticated by [`verify()`], bound to one registration by
//! its report data, and judged by the chain's [`AttestationPolicy`].
//!
//! The policy itself (its rules, [`AttestationPolicy::evaluate`], and [`PolicyError`]) is plain
//! data and lives in `phalanx_primitives::attestation`, so that the calls carrying it need no
//! verifier; this module only adds the steps that need one.

use phalanx_primitives::attestation::{AttestationPolicy, Claims, Confidence, PolicyError};

use crate::dcap::Collateral;
use crate::quote::Quote;
use crate::report_data::check_report_data;
use crate::verify::{verify, AttestationError};

/// The whole registration check: authenticate `quote` (simulated roots from `policy`), check it
/// carries `expected_report_data` ([`crate::report_data()`] of the registration), and judge it
/// with `policy`. Returns the claims and the confidence they earn.
pub fn verify_and_evaluate(
    policy: &AttestationPolicy,
    quote: &Quote,
    collateral: Option<&Collateral>,
    now_unix_secs: u64,
    expected_report_data: &[u8; 64],
) -> Result<(Claims, Confidence), AttestationError> {
    // Refuse before doing any signature work.
    if policy.registration_frozen {
        return Err(PolicyError::RegistrationFrozen.into());
    }
    let claims = verify(
        quote,
        collateral,
        now_unix_secs,
        &policy.accepted_simulated_roots,
    )?;
    check_report_data(&claims, expected_report_data)?;
    let confidence = policy.evaluate(&claims)?;
    Ok((claims, confidence))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report_data::{report_data, ReportDataError};
    use crate::simulated::{
        measure_worker_binary, SimulatedError, SimulatedQuotingEnclave, SimulatedReport,
    };

    const WORKER: &[u8] = b"phalanx-worker release build";

    fn binding() -> [u8; 64] {
        report_data(&[1; 32], &[2; 32], &[3; 32], &[4; 32])
    }

    fn setup() -> (SimulatedQuotingEnclave, AttestationPolicy) {
        let qe = SimulatedQuotingEnclave::from_seed([42; 32]);
        let policy = AttestationPolicy::dev(qe.root(), measure_worker_binary(WORKER));
        (qe, policy)
    }

    #[test]
    fn a_dev_worker_registers_with_full_confidence() {
        let (qe, policy) = setup();
        let quote = qe.quote(SimulatedReport::for_worker(WORKER, binding()));
        let (claims, confidence) =
            verify_and_evaluate(&policy, &quote, None, 0, &binding()).expect("accepted");
        assert_eq!(confidence, Confidence::FULL);
        assert_eq!(claims.measurement, measure_worker_binary(WORKER));
    }

    #[test]
    fn a_simulated_quote_is_refused_by_the_production_policy() {
        let (qe, _) = setup();
        let policy =
            AttestationPolicy::production().with_measurement(measure_worker_binary(WORKER));
        assert!(policy.accepted_simulated_roots.is_empty());
        let quote = qe.quote(SimulatedReport::for_worker(WORKER, binding()));
        let err =
            verify_and_evaluate(&policy, &quote, None, 0, &binding()).expect_err("must be refused");
        assert_eq!(
            err,
            AttestationError::Simulated(SimulatedError::NotAccepted)
        );
        assert!(err.to_string().contains("real sgx or tdx enclave"), "{err}");
        // Even claims authenticated elsewhere are refused by the policy itself.
        let claims = qe
            .sign(SimulatedReport::for_worker(WORKER, binding()))
            .verify(&[qe.root()])
            .expect("accepted root");
        assert_eq!(
            policy.evaluate(&claims),
            Err(PolicyError::SimulatedNotAccepted {
                signer: hex::encode(qe.root())
            })
        );
    }

    #[test]
    fn report_data_for_another_worker_is_refused() {
        let (qe, policy) = setup();
        let someone_else = report_data(&[9; 32], &[2; 32], &[3; 32], &[4; 32]);
        let quote = qe.quote(SimulatedReport::for_worker(WORKER, someone_else));
        assert!(matches!(
            verify_and_evaluate(&policy, &quote, None, 0, &binding()),
            Err(AttestationError::ReportData(
                ReportDataError::Mismatch { .. }
            ))
        ));
    }

    #[test]
    fn frozen_registration_refuses_everything() {
        let (qe, mut policy) = setup();
        policy.registration_frozen = true;
        let quote = qe.quote(SimulatedReport::for_worker(WORKER, binding()));
        assert_eq!(
            verify_and_evaluate(&policy, &quote, None, 0, &binding()),
            Err(AttestationError::Policy(PolicyError::RegistrationFrozen))
        );
    }
}
