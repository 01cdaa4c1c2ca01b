//! Intel DCAP verification of SGX and TDX quotes, offline, with `dcap-qvl`.
//!
//! The quote is checked against collateral the caller supplies (TCB info, QE identity, CRLs and
//! their issuer chains, fetched from a PCCS by someone else and placed on chain or in the
//! request), at a time the caller supplies, against Intel's SGX root CA built into `dcap-qvl`.
//! `dcap-qvl` runs with its pure-Rust RustCrypto backend, chosen explicitly so no other crate
//! enabling `ring` can switch it.
//!
//! `dcap-qvl` is told to *accept* debug enclaves: verification reports them as
//! [`Claims::debug`] and the [`crate::AttestationPolicy`] refuses them, so the decision is made
//! in one place for every quote kind. All other attribute checks of `dcap-qvl` (TDX
//! migratable, SEPT_VE_DISABLE, service TDs, reserved bits) stay strict.
//!
//! `dcap-qvl` parses attacker-chosen bytes on every validator, so a panic in it would take
//! them all down with the same transaction. Each call into it runs under
//! [`std::panic::catch_unwind`] and a panic refuses the quote
//! ([`DcapError::VerifierPanicked`]) like any other verification failure: deterministic, so
//! every node reaches the same outcome. (This relies on the workspace building with
//! `panic = "unwind"`, Rust's default; the process still prints the panic message.)

use dcap_qvl::configs::RustCryptoConfig;
use dcap_qvl::quote::{EnclaveReport, Report, TDReport10};
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::{QuoteCollateralV3, QuotePolicy};
use parity_scale_codec::{Decode, Encode};
use sha2::{Digest, Sha256};

use phalanx_primitives::attestation::{Claims, QuoteKind, TcbStatus};
use phalanx_primitives::{decode_strict, CodecError};

use crate::quote::MAX_QUOTE_BYTES;

/// The largest encoded collateral accepted by [`Collateral::decode_strict`]. Real collateral is
/// 14–25 KiB, mostly the PCK CRL.
pub const MAX_COLLATERAL_BYTES: usize = 256 * 1024;

/// Domain tag of the TDX measurement hash ([`tdx_measurement`]).
pub const TDX_MEASUREMENT_DOMAIN: &[u8] = b"phalanx/attestation/tdx-measurement/v1";

/// Domain tag of the TDX signer hash ([`tdx_signer`]).
pub const TDX_SIGNER_DOMAIN: &[u8] = b"phalanx/attestation/tdx-signer/v1";

/// SGX `ATTRIBUTES.DEBUG`, bit 1 of the first attribute byte.
const SGX_ATTRIBUTE_DEBUG: u8 = 0x02;

/// Why a DCAP quote or its collateral was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcapError {
    /// A DCAP quote was submitted without collateral.
    #[error("dcap quotes need collateral; fetch it from a pccs for this quote and pass it in")]
    MissingCollateral,
    /// The raw DCAP quote is over the size limit.
    #[error("dcap quote is {len} bytes, over the {max}-byte limit; submit the quote unpadded")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// Bytes allowed.
        max: usize,
    },
    /// The quote failed DCAP verification: bad signature or certificate chain, tampered body,
    /// collateral expired or not yet valid at the given time, revoked certificate, disallowed
    /// TD attributes, …
    #[error(
        "dcap verification failed: {reason}; check that the quote is unmodified and the \
         collateral was fetched for it and is valid now (refetch it if expired)"
    )]
    Rejected {
        /// `dcap-qvl`'s explanation.
        reason: String,
    },
    /// The quote is valid but of the other TEE type than its [`crate::Quote`] variant says.
    #[error("quote was submitted as {declared:?} but is a {actual:?} quote; submit it under the right kind")]
    KindMismatch {
        /// Kind the quote was submitted as.
        declared: QuoteKind,
        /// Kind the quote bytes really are.
        actual: QuoteKind,
    },
    /// Collateral JSON could not be parsed.
    #[error("collateral json is malformed ({0}); pass the collateral exactly as the pccs client returned it")]
    MalformedCollateralJson(String),
    /// Collateral bytes are not a valid SCALE encoding, too large, or followed by extra bytes.
    #[error(
        "collateral bytes are malformed ({0}); re-encode the collateral with phalanx-attestation"
    )]
    MalformedCollateral(String),
    /// `dcap-qvl` panicked on this quote or collateral (a bug in the verifier, contained).
    #[error("the dcap verifier crashed on this quote and refused it; submit the quote and collateral exactly as the quoting enclave and pccs produced them, and report the crash if they were")]
    VerifierPanicked,
}

/// DCAP collateral for one quote: TCB info, QE identity, CRLs and issuer chains, as served by
/// an Intel PCS/PCCS. Verification is offline against it, so it must be fresh at the
/// verification time.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Collateral(QuoteCollateralV3);

impl Collateral {
    /// Parses collateral in `dcap-qvl`'s JSON format (what its PCCS client produces).
    pub fn from_json(json: &[u8]) -> Result<Self, DcapError> {
        serde_json::from_slice(json)
            .map(Collateral)
            .map_err(|e| DcapError::MalformedCollateralJson(e.to_string()))
    }

    /// Decodes SCALE-encoded collateral from untrusted bytes: bounded, strict, never panics.
    pub fn decode_strict(bytes: &[u8]) -> Result<Self, DcapError> {
        // The decoder is `dcap-qvl`'s own (derived) one: guarded like every call into it.
        contain_panic(|| {
            decode_strict(bytes, MAX_COLLATERAL_BYTES).map_err(|e| {
                DcapError::MalformedCollateral(match e {
                    CodecError::TooLarge { len, max } => {
                        format!("{len} bytes, over the {max}-byte limit")
                    }
                    CodecError::Malformed(m) => m,
                    CodecError::TrailingBytes(n) => format!("{n} trailing bytes"),
                })
            })
        })
    }

    /// The collateral in `dcap-qvl`'s own type.
    pub fn as_dcap(&self) -> &QuoteCollateralV3 {
        &self.0
    }
}

impl From<QuoteCollateralV3> for Collateral {
    fn from(collateral: QuoteCollateralV3) -> Self {
        Collateral(collateral)
    }
}

/// The TCB evaluation data number of `collateral`'s TCB info (`tcbEvaluationDataNumber`), if it
/// names one: Intel raises it with every TCB recovery, so it says how recent the evaluation
/// behind the collateral is. Read from the TCB info JSON (whose signature the verifier checks);
/// malformed JSON names none.
pub fn tcb_evaluation_data_number(collateral: &Collateral) -> Option<u32> {
    let info: serde_json::Value = serde_json::from_str(&collateral.0.tcb_info).ok()?;
    let number = info
        .get("tcbEvaluationDataNumber")
        .or_else(|| info.get("tcbInfo")?.get("tcbEvaluationDataNumber"))?;
    number.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// The 32-byte measurement Phalanx uses for a TD:
/// `sha256(TDX_MEASUREMENT_DOMAIN ‖ MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3)` (48 bytes each).
///
/// Why these: MRTD measures the initial TD image (firmware); RTMR0–2 the boot configuration,
/// kernel and command line; RTMR3 the application layer. Together they name the exact software
/// stack, and an allowed measurement pins all of it. `MRCONFIGID`, `MROWNER` and
/// `MROWNERCONFIG` are not covered: a worker TD must leave them zero or bind what they mean
/// into RTMR3. `MRSEAM` (the TDX module) is covered by the TCB status instead.
pub fn tdx_measurement(td: &TDReport10) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TDX_MEASUREMENT_DOMAIN);
    for register in [&td.mr_td, &td.rt_mr0, &td.rt_mr1, &td.rt_mr2, &td.rt_mr3] {
        h.update(register);
    }
    h.finalize().into()
}

/// The 32-byte signer Phalanx uses for a TD: `sha256(TDX_SIGNER_DOMAIN ‖ MRSIGNERSEAM)`, the
/// signer of the TDX module (all zero for Intel's). A TD has no MRSIGNER of its own; its code
/// identity is entirely in [`tdx_measurement`].
pub fn tdx_signer(td: &TDReport10) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TDX_SIGNER_DOMAIN);
    h.update(td.mr_signer_seam);
    h.finalize().into()
}

/// Verifies a raw DCAP quote submitted as `declared` against `collateral` at `now_unix_secs`.
pub fn verify_dcap(
    raw_quote: &[u8],
    declared: QuoteKind,
    collateral: Option<&Collateral>,
    now_unix_secs: u64,
) -> Result<Claims, DcapError> {
    if raw_quote.len() > MAX_QUOTE_BYTES {
        return Err(DcapError::TooLarge {
            len: raw_quote.len(),
            max: MAX_QUOTE_BYTES,
        });
    }
    let collateral = collateral.ok_or(DcapError::MissingCollateral)?;
    let verified = contain_panic(|| {
        QuoteVerifier::new_prod()
            .with_config::<RustCryptoConfig>()
            .allow_debug(true)
            .verify_with_policy(
                raw_quote,
                collateral.0.clone(),
                now_unix_secs,
                // Only supplies the time: judging the TCB is the Phalanx policy's job.
                &QuotePolicy::claims_only(now_unix_secs),
            )
            .map_err(|e| DcapError::Rejected {
                reason: format!("{e:#}"),
            })
    })?;

    let tcb_status = tcb_status(verified.tcb.status);
    let advisory_ids = verified.tcb.advisory_ids;
    let (actual, claims) = match &verified.report {
        Report::SgxEnclave(enclave) => (QuoteKind::SgxDcap, sgx_claims(enclave)),
        Report::TD10(td) => (QuoteKind::TdxDcap, tdx_claims(td)),
        Report::TD15(td) => (QuoteKind::TdxDcap, tdx_claims(&td.base)),
        Report::TD15Ex(td) => (QuoteKind::TdxDcap, tdx_claims(&td.base.base)),
    };
    if actual != declared {
        return Err(DcapError::KindMismatch { declared, actual });
    }
    let PartialClaims {
        measurement,
        signer,
        svn,
        debug,
        report_data,
    } = claims;
    Ok(Claims {
        kind: actual,
        measurement,
        signer,
        svn,
        debug,
        report_data,
        tcb_status,
        advisory_ids,
    })
}

/// Runs `call`, a call into `dcap-qvl`, turning a panic into [`DcapError::VerifierPanicked`]
/// (see the module docs).
///
/// `AssertUnwindSafe` holds because the closures passed here only read their inputs and build
/// a fresh verifier; nothing they could leave half-updated outlives the panic.
fn contain_panic<T>(call: impl FnOnce() -> Result<T, DcapError>) -> Result<T, DcapError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
        .unwrap_or(Err(DcapError::VerifierPanicked))
}

/// The report-body part of [`Claims`].
struct PartialClaims {
    measurement: [u8; 32],
    signer: [u8; 32],
    svn: u16,
    debug: bool,
    report_data: [u8; 64],
}

fn sgx_claims(enclave: &EnclaveReport) -> PartialClaims {
    PartialClaims {
        measurement: enclave.mr_enclave,
        signer: enclave.mr_signer,
        svn: enclave.isv_svn,
        debug: enclave.attributes[0] & SGX_ATTRIBUTE_DEBUG != 0,
        report_data: enclave.report_data,
    }
}

fn tdx_claims(td: &TDReport10) -> PartialClaims {
    PartialClaims {
        measurement: tdx_measurement(td),
        signer: tdx_signer(td),
        svn: 0,
        // TUD is the low byte of TD_ATTRIBUTES; any bit set (debug, profiling, …) makes the TD
        // inspectable by the host.
        debug: td.td_attributes[0] != 0,
        report_data: td.report_data,
    }
}

/// Maps `dcap-qvl`'s converged status to ours.
///
/// The TD 1.5 relaunch statuses mean the TD *launched* on an out-of-date TCB (the module was
/// updated since, but secrets the TD holds may have been exposed before): they are judged as
/// the corresponding out-of-date status until the TD is relaunched. The match is exhaustive on
/// purpose: a `dcap-qvl` upgrade that adds a status fails to compile here instead of guessing.
fn tcb_status(status: dcap_qvl::TcbStatus) -> TcbStatus {
    use dcap_qvl::TcbStatus as Dcap;
    match status {
        Dcap::UpToDate => TcbStatus::UpToDate,
        Dcap::SWHardeningNeeded => TcbStatus::SWHardeningNeeded,
        Dcap::ConfigurationNeeded => TcbStatus::ConfigurationNeeded,
        Dcap::ConfigurationAndSWHardeningNeeded => TcbStatus::ConfigurationAndSWHardeningNeeded,
        Dcap::OutOfDate => TcbStatus::OutOfDate,
        Dcap::OutOfDateConfigurationNeeded => TcbStatus::OutOfDateConfigurationNeeded,
        Dcap::Revoked => TcbStatus::Revoked,
        Dcap::TDRelaunchAdvised => TcbStatus::OutOfDate,
        Dcap::TDRelaunchAdvisedConfigurationNeeded => TcbStatus::OutOfDateConfigurationNeeded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn empty_collateral() -> Collateral {
        Collateral(QuoteCollateralV3 {
            pck_crl_issuer_chain: String::new(),
            root_ca_crl: Vec::new(),
            pck_crl: Vec::new(),
            tcb_info_issuer_chain: String::new(),
            tcb_info: String::new(),
            tcb_info_signature: Vec::new(),
            qe_identity_issuer_chain: String::new(),
            qe_identity: String::new(),
            qe_identity_signature: Vec::new(),
            pck_certificate_chain: None,
        })
    }

    #[test]
    fn relaunch_statuses_are_judged_as_out_of_date() {
        assert_eq!(
            tcb_status(dcap_qvl::TcbStatus::TDRelaunchAdvised),
            TcbStatus::OutOfDate
        );
        assert_eq!(
            tcb_status(dcap_qvl::TcbStatus::TDRelaunchAdvisedConfigurationNeeded),
            TcbStatus::OutOfDateConfigurationNeeded
        );
        assert_eq!(tcb_status(dcap_qvl::TcbStatus::Revoked), TcbStatus::Revoked);
    }

    #[test]
    fn garbage_quotes_are_rejected_not_panicked_on() {
        let collateral = empty_collateral();
        for raw in [&[][..], &[0u8; 48][..], &[4, 0, 2, 0, 0x81, 0, 0, 0][..]] {
            assert!(matches!(
                verify_dcap(raw, QuoteKind::TdxDcap, Some(&collateral), 0),
                Err(DcapError::Rejected { .. })
            ));
        }
        let oversized = vec![0u8; MAX_QUOTE_BYTES + 1];
        assert_eq!(
            verify_dcap(&oversized, QuoteKind::SgxDcap, Some(&collateral), 0),
            Err(DcapError::TooLarge {
                len: MAX_QUOTE_BYTES + 1,
                max: MAX_QUOTE_BYTES
            })
        );
    }

    #[test]
    #[allow(clippy::panic)]
    fn a_panic_in_the_verifier_refuses_the_quote_instead_of_crashing() {
        // No input known to make dcap-qvl 0.7.1 panic, so the guard gets a panicking stand-in.
        let crashed = contain_panic::<Claims>(|| panic!("index out of bounds in a parser"));
        assert_eq!(crashed, Err(DcapError::VerifierPanicked));
        assert!(
            crashed
                .expect_err("refused")
                .to_string()
                .contains("dcap verifier crashed"),
            "the error tells the user what happened"
        );
        // Outcomes of calls that do not panic pass through unchanged.
        assert_eq!(contain_panic(|| Ok(7)), Ok(7));
        assert_eq!(
            contain_panic::<()>(|| Err(DcapError::MissingCollateral)),
            Err(DcapError::MissingCollateral)
        );
        // And the guarded verifier still refuses garbage the ordinary way.
        assert!(matches!(
            verify_dcap(&[0u8; 48], QuoteKind::SgxDcap, Some(&empty_collateral()), 0),
            Err(DcapError::Rejected { .. })
        ));
    }

    #[test]
    fn malformed_collateral_json_is_a_typed_error() {
        assert!(matches!(
            Collateral::from_json(b"{\"tcb_info\": 3}"),
            Err(DcapError::MalformedCollateralJson(_))
        ));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_collateral_bytes_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048)
        ) {
            if let Ok(collateral) = Collateral::decode_strict(&bytes) {
                prop_assert_eq!(collateral.encode(), bytes);
            }
        }

        #[test]
        fn verifying_arbitrary_quote_bytes_never_panics(
            raw in proptest::collection::vec(any::<u8>(), 0..1024),
            tdx in any::<bool>(),
        ) {
            let collateral = empty_collateral();
            let kind = if tdx { QuoteKind::TdxDcap } else { QuoteKind::SgxDcap };
            prop_assert!(verify_dcap(&raw, kind, Some(&collateral), 0).is_err());
        }
    }
}
