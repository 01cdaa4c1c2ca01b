//! Adversarial doubles for tests in this and other crates: forged and tampered quotes.
//!
//! None of these can pass verification against an honest policy; that is what they are for.
//! Built only for this crate's tests and with the `testing` feature, which dependents enable in
//! their `[dev-dependencies]`, so no production build carries them.

use crate::quote::Quote;
use crate::simulated::{SimulatedQuote, SimulatedQuotingEnclave, SimulatedReport, SimulatedRoot};

/// A simulated quote that names `root` as its signer but carries a made-up signature, as an
/// attacker without the root's key would produce.
pub fn forged_simulated_quote(root: SimulatedRoot, report: SimulatedReport) -> Quote {
    Quote::Simulated(SimulatedQuote {
        report,
        root,
        signature: [0x5a; 64],
    })
}

/// The report of `quote` re-signed by `rogue`, a quoting enclave that is not on the policy.
pub fn resigned_by(rogue: &SimulatedQuotingEnclave, quote: &SimulatedQuote) -> Quote {
    rogue.quote(quote.report.clone())
}

/// `quote` with one byte of its raw DCAP bytes flipped (`index` wraps around the length); a
/// simulated quote gets one bit of its report data flipped instead.
pub fn tampered(quote: &Quote, index: usize) -> Quote {
    let flip = |raw: &[u8]| {
        let mut raw = raw.to_vec();
        if !raw.is_empty() {
            let i = index % raw.len();
            raw[i] ^= 0x01;
        }
        raw
    };
    match quote {
        Quote::SgxDcap(raw) => Quote::SgxDcap(flip(raw)),
        Quote::TdxDcap(raw) => Quote::TdxDcap(flip(raw)),
        Quote::Simulated(simulated) => {
            let mut simulated = simulated.clone();
            simulated.report.report_data[index % 64] ^= 0x01;
            Quote::Simulated(simulated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulated::SimulatedError;
    use crate::verify::{verify, AttestationError};

    #[test]
    fn the_doubles_are_refused() {
        let qe = SimulatedQuotingEnclave::from_seed([1; 32]);
        let rogue = SimulatedQuotingEnclave::from_seed([66; 32]);
        let report = SimulatedReport::for_worker(b"worker", [7; 64]);
        let honest = qe.sign(report.clone());
        let roots = [qe.root()];
        assert!(verify(&Quote::Simulated(honest.clone()), None, 0, &roots).is_ok());
        assert_eq!(
            verify(&forged_simulated_quote(qe.root(), report), None, 0, &roots),
            Err(AttestationError::Simulated(SimulatedError::BadSignature))
        );
        assert!(matches!(
            verify(&resigned_by(&rogue, &honest), None, 0, &roots),
            Err(AttestationError::Simulated(
                SimulatedError::UnknownRoot { .. }
            ))
        ));
        assert_eq!(
            verify(&tampered(&Quote::Simulated(honest), 3), None, 0, &roots),
            Err(AttestationError::Simulated(SimulatedError::BadSignature))
        );
    }
}
