//! The one verification path: any [`Quote`] in, the same [`Claims`] out.

use phalanx_primitives::attestation::{Claims, PolicyError};

use crate::dcap::{verify_dcap, Collateral, DcapError};
use crate::quote::{Quote, QuoteError};
use crate::report_data::ReportDataError;
use crate::simulated::{SimulatedError, SimulatedRoot};

/// Why a quote was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The quote bytes could not be decoded.
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// A simulated quote was refused (not accepted on this chain, unknown root, bad signature).
    #[error(transparent)]
    Simulated(#[from] SimulatedError),
    /// A DCAP quote was refused (missing or stale collateral, bad chain or signature, …).
    #[error(transparent)]
    Dcap(#[from] DcapError),
    /// The quote's report data does not bind this registration.
    #[error(transparent)]
    ReportData(#[from] ReportDataError),
    /// The claims are authentic but the attestation policy refuses them.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Authenticates `quote` and returns what it claims.
///
/// - Simulated quotes must be signed by one of `accepted_simulated_roots` (a production chain
///   passes none, so they are all refused); `collateral` and `now_unix_secs` are not used.
/// - DCAP quotes are verified offline against `collateral`, which must be valid at
///   `now_unix_secs`, and must really be of the TEE type their variant names.
///
/// The claims are authentic, not acceptable: judge them with
/// [`crate::AttestationPolicy::evaluate`] and [`crate::check_report_data`], or call
/// [`crate::verify_and_evaluate`] which does all three.
pub fn verify(
    quote: &Quote,
    collateral: Option<&Collateral>,
    now_unix_secs: u64,
    accepted_simulated_roots: &[SimulatedRoot],
) -> Result<Claims, AttestationError> {
    match quote {
        Quote::Simulated(simulated) => Ok(simulated.verify(accepted_simulated_roots)?),
        Quote::SgxDcap(raw) => Ok(verify_dcap(raw, quote.kind(), collateral, now_unix_secs)?),
        Quote::TdxDcap(raw) => Ok(verify_dcap(raw, quote.kind(), collateral, now_unix_secs)?),
    }
}

/// [`verify()`] for a SCALE-encoded quote straight off the wire ([`Quote::decode_strict`]).
pub fn verify_encoded(
    encoded_quote: &[u8],
    collateral: Option<&Collateral>,
    now_unix_secs: u64,
    accepted_simulated_roots: &[SimulatedRoot],
) -> Result<Claims, AttestationError> {
    let quote = Quote::decode_strict(encoded_quote)?;
    verify(&quote, collateral, now_unix_secs, accepted_simulated_roots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulated::{SimulatedQuotingEnclave, SimulatedReport};
    use parity_scale_codec::Encode;

    #[test]
    fn dcap_quotes_without_collateral_are_refused() {
        let err = verify(&Quote::SgxDcap(vec![0; 100]), None, 0, &[]).expect_err("must be refused");
        assert_eq!(err, AttestationError::Dcap(DcapError::MissingCollateral));
        assert!(err.to_string().contains("need collateral"));
    }

    #[test]
    fn encoded_quotes_go_through_the_strict_decoder() {
        let qe = SimulatedQuotingEnclave::from_seed([3; 32]);
        let mut bytes = qe
            .quote(SimulatedReport::for_worker(b"w", [0; 64]))
            .encode();
        assert!(verify_encoded(&bytes, None, 0, &[qe.root()]).is_ok());
        bytes.push(0);
        assert_eq!(
            verify_encoded(&bytes, None, 0, &[qe.root()]),
            Err(AttestationError::Quote(QuoteError::TrailingBytes(1)))
        );
    }
}
