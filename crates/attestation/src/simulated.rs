//! Simulated attestation: a SIMULATED quoting enclave for development and tests.
//!
//! There is no hardware here. A [`SimulatedQuotingEnclave`] holds an ed25519 key and signs
//! whatever [`SimulatedReport`] it is given; the only thing that makes its quotes mean anything
//! is that the chain's policy lists its public key as a [`SimulatedRoot`]. Dev and test chains
//! list one; a production genesis lists none, so simulated workers cannot join it.
//!
//! Wire rule: the root signs `SIMULATED_QUOTE_DOMAIN ‖ SCALE(report)` and the quote carries
//! `(report, root public key, signature)`. The signature is checked with `verify_strict`
//! (no small-order keys, canonical `S`), so a quote has exactly one valid signature per key.

use core::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use parity_scale_codec::{Decode, Encode};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};

use phalanx_primitives::attestation::{Claims, QuoteKind, TcbStatus};

pub use phalanx_primitives::attestation::SimulatedRoot;

/// Domain separation for the simulated quoting enclave's signatures.
pub const SIMULATED_QUOTE_DOMAIN: &[u8] = b"phalanx/attestation/simulated-quote/v1";

/// Why a simulated quote was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulatedError {
    /// The policy lists no simulated roots, as on every production chain.
    #[error(
        "this chain accepts no simulated quotes (its policy has no simulated roots); run the \
         worker in a real sgx or tdx enclave, or use a dev chain"
    )]
    NotAccepted,
    /// The quote was signed by a key that is not one of the accepted simulated roots.
    #[error(
        "simulated quote is signed by {root}, which is not an accepted simulated root; sign it \
         with the dev chain's simulated quoting enclave or add the root to the policy"
    )]
    UnknownRoot {
        /// The signing key, hex.
        root: String,
    },
    /// The root's key bytes are not a valid ed25519 public key.
    #[error("simulated quote names a malformed root key; regenerate the quote")]
    MalformedRoot,
    /// The signature does not match the report and the root key.
    #[error(
        "simulated quote signature is invalid (forged or tampered); regenerate the quote with \
         the simulated quoting enclave"
    )]
    BadSignature,
}

/// The measurement of a worker binary in simulation: sha256 of its bytes.
pub fn measure_worker_binary(binary: &[u8]) -> [u8; 32] {
    Sha256::digest(binary).into()
}

/// What a simulated quoting enclave attests to: the claims it vouches for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SimulatedReport {
    /// sha256 of the worker binary ([`measure_worker_binary`]).
    pub measurement: [u8; 32],
    /// Claimed security version.
    pub svn: u16,
    /// Claimed debug flag.
    pub debug: bool,
    /// The report data bound into the quote ([`crate::report_data()`]).
    pub report_data: [u8; 64],
    /// Claimed TCB status, so dev chains can exercise every confidence level.
    pub tcb_status: TcbStatus,
    /// Claimed advisory ids.
    pub advisory_ids: Vec<String>,
}

impl SimulatedReport {
    /// A report for a non-debug, up-to-date worker running `binary`, bound to `report_data`.
    pub fn for_worker(binary: &[u8], report_data: [u8; 64]) -> Self {
        SimulatedReport {
            measurement: measure_worker_binary(binary),
            svn: 0,
            debug: false,
            report_data,
            tcb_status: TcbStatus::UpToDate,
            advisory_ids: Vec::new(),
        }
    }

    fn signing_message(&self) -> Vec<u8> {
        let mut message = SIMULATED_QUOTE_DOMAIN.to_vec();
        self.encode_to(&mut message);
        message
    }
}

/// A quote from a [`SimulatedQuotingEnclave`]: a report, the root key that signed it and the
/// signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SimulatedQuote {
    /// The attested claims.
    pub report: SimulatedReport,
    /// The signing root's ed25519 public key.
    pub root: SimulatedRoot,
    /// ed25519 signature over `SIMULATED_QUOTE_DOMAIN ‖ SCALE(report)`.
    pub signature: [u8; 64],
}

impl SimulatedQuote {
    /// Authenticates the quote against the accepted roots and returns its claims.
    pub fn verify(&self, accepted_roots: &[SimulatedRoot]) -> Result<Claims, SimulatedError> {
        if accepted_roots.is_empty() {
            return Err(SimulatedError::NotAccepted);
        }
        // Membership first: it is cheap, and an unknown key is refused without curve work.
        if !accepted_roots.contains(&self.root) {
            return Err(SimulatedError::UnknownRoot {
                root: hex::encode(self.root),
            });
        }
        let key =
            VerifyingKey::from_bytes(&self.root).map_err(|_| SimulatedError::MalformedRoot)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.report.signing_message(), &signature)
            .map_err(|_| SimulatedError::BadSignature)?;
        let report = &self.report;
        Ok(Claims {
            kind: QuoteKind::Simulated,
            measurement: report.measurement,
            signer: self.root,
            svn: report.svn,
            debug: report.debug,
            report_data: report.report_data,
            tcb_status: report.tcb_status,
            advisory_ids: report.advisory_ids.clone(),
        })
    }
}

/// **SIMULATED** quoting enclave: a test/dev double that signs any report it is given.
///
/// It provides no confidentiality and no integrity beyond "whoever holds this key says so".
/// Only chains whose policy lists [`SimulatedQuotingEnclave::root`] accept its quotes.
pub struct SimulatedQuotingEnclave {
    key: SigningKey,
}

impl SimulatedQuotingEnclave {
    /// A simulated quoting enclave with a fresh random key.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        SimulatedQuotingEnclave {
            key: SigningKey::generate(rng),
        }
    }

    /// A simulated quoting enclave with a key derived from `seed` (deterministic dev chains and
    /// tests).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SimulatedQuotingEnclave {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The root public key a dev policy must list to accept this enclave's quotes.
    pub fn root(&self) -> SimulatedRoot {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `report` into a simulated quote.
    pub fn sign(&self, report: SimulatedReport) -> SimulatedQuote {
        let signature = self.key.sign(&report.signing_message()).to_bytes();
        SimulatedQuote {
            report,
            root: self.root(),
            signature,
        }
    }

    /// Signs `report` and wraps it as a [`crate::Quote`].
    pub fn quote(&self, report: SimulatedReport) -> crate::Quote {
        crate::Quote::Simulated(self.sign(report))
    }
}

impl fmt::Debug for SimulatedQuotingEnclave {
    // Never prints the key; says loudly what this is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SimulatedQuotingEnclave(SIMULATED, not a TEE; root {})",
            hex::encode(self.root())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> SimulatedReport {
        SimulatedReport::for_worker(b"worker binary v1", [9u8; 64])
    }

    #[test]
    fn a_root_on_the_list_verifies_and_claims_match_the_report() {
        let qe = SimulatedQuotingEnclave::from_seed([1; 32]);
        let claims = qe
            .sign(report())
            .verify(&[[5; 32], qe.root()])
            .expect("accepted root");
        assert_eq!(claims.kind, QuoteKind::Simulated);
        assert_eq!(
            claims.measurement,
            measure_worker_binary(b"worker binary v1")
        );
        assert_eq!(claims.signer, qe.root());
        assert_eq!(claims.report_data, [9u8; 64]);
        assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
        assert!(!claims.debug);
    }

    #[test]
    fn no_roots_means_refused_with_a_clear_error() {
        let qe = SimulatedQuotingEnclave::from_seed([1; 32]);
        let err = qe.sign(report()).verify(&[]).expect_err("must be refused");
        assert_eq!(err, SimulatedError::NotAccepted);
        assert!(err.to_string().contains("accepts no simulated quotes"));
    }

    #[test]
    fn a_tampered_report_fails_the_signature() {
        let qe = SimulatedQuotingEnclave::from_seed([1; 32]);
        let mut quote = qe.sign(report());
        quote.report.debug = true;
        assert_eq!(
            quote.verify(&[qe.root()]),
            Err(SimulatedError::BadSignature)
        );
    }

    #[test]
    fn a_quote_resigned_by_another_key_is_an_unknown_root() {
        let root = SimulatedQuotingEnclave::from_seed([1; 32]);
        let rogue = SimulatedQuotingEnclave::from_seed([2; 32]);
        let quote = rogue.sign(report());
        assert_eq!(
            quote.verify(&[root.root()]),
            Err(SimulatedError::UnknownRoot {
                root: hex::encode(rogue.root())
            })
        );
    }

    #[test]
    fn swapping_in_the_root_key_without_its_signature_fails() {
        let root = SimulatedQuotingEnclave::from_seed([1; 32]);
        let rogue = SimulatedQuotingEnclave::from_seed([2; 32]);
        let mut quote = rogue.sign(report());
        quote.root = root.root();
        assert_eq!(
            quote.verify(&[root.root()]),
            Err(SimulatedError::BadSignature)
        );
    }

    #[test]
    fn debug_output_says_simulated_and_hides_the_key() {
        let qe = SimulatedQuotingEnclave::from_seed([1; 32]);
        let shown = format!("{qe:?}");
        assert!(shown.contains("SIMULATED"));
        assert!(!shown.contains(&hex::encode([1u8; 32])));
    }
}
