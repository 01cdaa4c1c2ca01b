//! Report data: the 64 bytes that bind a quote to one worker on one chain at one time.
//!
//! ```text
//! report_data = SHA-512( REPORT_DATA_DOMAIN
//!                      ‖ identity_pubkey     (32 bytes, the worker's ed25519 identity key)
//!                      ‖ encryption_pubkey   (32 bytes, the worker's X25519 key clients seal to)
//!                      ‖ genesis_hash        (32 bytes, which chain)
//!                      ‖ recent_block_hash   (32 bytes, freshness: the quote is newer than it) )
//! ```
//!
//! SHA-512 because the field is exactly 64 bytes, so the whole field is digest and nothing is
//! padding. Every input has a fixed length, so the concatenation is unambiguous. The enclave
//! computes this inside the TEE and puts it in its report; the chain recomputes it from the
//! registration and refuses a quote whose report data differs — a quote taken for one key, one
//! chain or one moment cannot be replayed for another.

use sha2::{Digest, Sha512};

use phalanx_primitives::attestation::Claims;

/// Domain separation for report data; bump the version to change the layout.
pub const REPORT_DATA_DOMAIN: &[u8] = b"phalanx/attestation/report-data/v1";

/// Why a quote's report data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportDataError {
    /// The quote binds other keys, another chain or another block than the registration.
    #[error(
        "quote report data does not match this registration (expected {expected}, got {got}); \
         produce a fresh quote for these keys, this chain and a recent block"
    )]
    Mismatch {
        /// What the registration requires, hex.
        expected: String,
        /// What the quote carries, hex.
        got: String,
    },
}

/// Computes the report data a worker's quote must carry (layout in the module docs).
pub fn report_data(
    identity_pubkey: &[u8; 32],
    encryption_pubkey: &[u8; 32],
    genesis_hash: &[u8; 32],
    recent_block_hash: &[u8; 32],
) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(REPORT_DATA_DOMAIN);
    h.update(identity_pubkey);
    h.update(encryption_pubkey);
    h.update(genesis_hash);
    h.update(recent_block_hash);
    h.finalize().into()
}

/// Checks that verified `claims` carry exactly the `expected` report data.
pub fn check_report_data(claims: &Claims, expected: &[u8; 64]) -> Result<(), ReportDataError> {
    if claims.report_data == *expected {
        Ok(())
    } else {
        Err(ReportDataError::Mismatch {
            expected: hex::encode(expected),
            got: hex::encode(claims.report_data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulated::{SimulatedQuotingEnclave, SimulatedReport};

    #[test]
    fn every_input_changes_the_report_data() {
        let base = report_data(&[1; 32], &[2; 32], &[3; 32], &[4; 32]);
        assert_ne!(base, report_data(&[9; 32], &[2; 32], &[3; 32], &[4; 32]));
        assert_ne!(base, report_data(&[1; 32], &[9; 32], &[3; 32], &[4; 32]));
        assert_ne!(base, report_data(&[1; 32], &[2; 32], &[9; 32], &[4; 32]));
        assert_ne!(base, report_data(&[1; 32], &[2; 32], &[3; 32], &[9; 32]));
        // Swapping the two keys is a different binding too.
        assert_ne!(base, report_data(&[2; 32], &[1; 32], &[3; 32], &[4; 32]));
    }

    #[test]
    fn report_data_is_pinned() {
        let mut preimage = REPORT_DATA_DOMAIN.to_vec();
        for b in 1..=4u8 {
            preimage.extend_from_slice(&[b; 32]);
        }
        let expected: [u8; 64] = Sha512::digest(&preimage).into();
        assert_eq!(
            report_data(&[1; 32], &[2; 32], &[3; 32], &[4; 32]),
            expected
        );
    }

    #[test]
    fn a_quote_for_another_chain_is_a_mismatch() {
        let qe = SimulatedQuotingEnclave::from_seed([1; 32]);
        let ours = report_data(&[1; 32], &[2; 32], &[3; 32], &[4; 32]);
        let other_chain = report_data(&[1; 32], &[2; 32], &[0xee; 32], &[4; 32]);
        let claims = qe
            .sign(SimulatedReport::for_worker(b"worker", other_chain))
            .verify(&[qe.root()])
            .expect("accepted root");
        let err = check_report_data(&claims, &ours).expect_err("must be refused");
        assert!(matches!(err, ReportDataError::Mismatch { .. }));
        let claims = qe
            .sign(SimulatedReport::for_worker(b"worker", ours))
            .verify(&[qe.root()])
            .expect("accepted root");
        assert_eq!(check_report_data(&claims, &ours), Ok(()));
    }
}
