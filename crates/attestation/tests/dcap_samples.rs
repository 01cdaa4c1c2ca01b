//! Real Intel SGX and TDX quotes (the samples shipped inside the `dcap-qvl` crate package)
//! through the one verification path, offline, at fixed times.
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "support/dcap_samples.rs"]
mod dcap_samples;

use dcap_samples::{sgx, tdx, tdx_outdated, tdx_td15ex, Sample};
use parity_scale_codec::Encode;
use phalanx_attestation::dcap::TDX_MEASUREMENT_DOMAIN;
use phalanx_attestation::verify::verify_encoded;
use phalanx_attestation::{
    report_data, testing, verify, verify_and_evaluate, AttestationError, AttestationPolicy, Claims,
    Collateral, Confidence, DcapError, PolicyError, Quote, QuoteKind, ReportDataError, TcbStatus,
};
use sha2::{Digest, Sha256};

/// Quote header length (v3, v4, v5).
const HEADER: usize = 48;
/// A v5 quote puts a body type and size (2 + 4 bytes) between header and report.
const V5_BODY_DESCRIPTOR: usize = 6;

fn sgx_quote(sample: &Sample) -> Quote {
    Quote::SgxDcap(sample.raw_quote.clone())
}

fn tdx_quote(sample: &Sample) -> Quote {
    Quote::TdxDcap(sample.raw_quote.clone())
}

fn verified(sample: &Sample, quote: &Quote) -> Claims {
    verify(quote, Some(&sample.collateral), sample.now, &[])
        .unwrap_or_else(|e| panic!("{} sample must verify: {e}", sample.name))
}

fn rejection(result: Result<Claims, AttestationError>) -> String {
    match result {
        Err(AttestationError::Dcap(DcapError::Rejected { reason })) => reason,
        other => panic!("expected a dcap rejection, got {other:?}"),
    }
}

/// The TDX measurement recomputed from raw quote bytes, independently of `dcap-qvl`'s parser:
/// the TD report starts at `report`, MRTD is at +136, RTMR0..3 at +328..+520.
fn tdx_measurement_from_raw(raw: &[u8], report: usize) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TDX_MEASUREMENT_DOMAIN);
    h.update(&raw[report + 136..report + 184]);
    h.update(&raw[report + 328..report + 520]);
    h.finalize().into()
}

#[test]
fn the_sgx_sample_verifies_with_its_real_tcb_status_and_advisories() {
    let sample = sgx();
    let raw = &sample.raw_quote;
    let claims = verified(&sample, &sgx_quote(&sample));
    assert_eq!(claims.kind, QuoteKind::SgxDcap);
    assert_eq!(
        claims.tcb_status,
        TcbStatus::ConfigurationAndSWHardeningNeeded
    );
    assert_eq!(claims.advisory_ids, ["INTEL-SA-00289", "INTEL-SA-00615"]);
    // SGX report body: MRENCLAVE at +64, MRSIGNER at +128, ISVSVN at +258, report data at +320.
    assert_eq!(claims.measurement[..], raw[HEADER + 64..HEADER + 96]);
    assert_eq!(
        hex::encode(claims.measurement),
        "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
    );
    assert_eq!(claims.signer[..], raw[HEADER + 128..HEADER + 160]);
    assert_eq!(
        claims.svn,
        u16::from_le_bytes([raw[HEADER + 258], raw[HEADER + 259]])
    );
    assert_eq!(claims.report_data[..], raw[HEADER + 320..HEADER + 384]);
    assert!(claims.report_data.starts_with(b"Hello, world!"));
    assert!(!claims.debug);
}

#[test]
fn the_tdx_sample_verifies_up_to_date_with_the_documented_measurement() {
    let sample = tdx();
    let raw = &sample.raw_quote;
    let claims = verified(&sample, &tdx_quote(&sample));
    assert_eq!(claims.kind, QuoteKind::TdxDcap);
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
    assert!(claims.advisory_ids.is_empty());
    assert_eq!(claims.measurement, tdx_measurement_from_raw(raw, HEADER));
    assert_eq!(claims.report_data[..], raw[HEADER + 520..HEADER + 584]);
    assert_eq!(claims.svn, 0);
    assert!(!claims.debug);
}

#[test]
fn the_tdx_1_5_ex_sample_verifies_up_to_date() {
    let sample = tdx_td15ex();
    let raw = &sample.raw_quote;
    let claims = verified(&sample, &tdx_quote(&sample));
    assert_eq!(claims.kind, QuoteKind::TdxDcap);
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
    assert!(claims.advisory_ids.is_empty());
    let report = HEADER + V5_BODY_DESCRIPTOR;
    assert_eq!(claims.measurement, tdx_measurement_from_raw(raw, report));
    assert_eq!(claims.report_data[..], raw[report + 520..report + 584]);
}

/// The "outdated" TDX sample's platform TCB is below every level its own TCB info lists, so
/// `dcap-qvl` (and therefore Phalanx) refuses it outright; `dcap-qvl` itself only verifies it
/// with its `danger-allow-tcb-override` feature.
#[test]
fn the_outdated_tdx_sample_has_no_matching_tcb_level_and_is_refused() {
    let sample = tdx_outdated();
    let reason = rejection(verify(
        &tdx_quote(&sample),
        Some(&sample.collateral),
        sample.now,
        &[],
    ));
    assert!(reason.contains("No matching TCB level"), "{reason}");
}

#[test]
fn a_tampered_quote_byte_is_refused() {
    for sample in [sgx(), tdx()] {
        let quote = if sample.name == "sgx" {
            sgx_quote(&sample)
        } else {
            tdx_quote(&sample)
        };
        // Header, report body (measurement), report data, quote signature and attestation key,
        // QE report, PCK leaf certificate. (Not the quote's trailing copy of Intel's root CA:
        // the chain is checked against the root built into dcap-qvl, so that copy is unused.)
        for index in [10, HEADER + 70, HEADER + 330, 700, 1000, 1500] {
            let tampered = testing::tampered(&quote, index);
            let result = verify(&tampered, Some(&sample.collateral), sample.now, &[]);
            assert!(
                matches!(
                    result,
                    Err(AttestationError::Dcap(DcapError::Rejected { .. }))
                ),
                "{} byte {index} flipped: {result:?}",
                sample.name
            );
        }
    }
}

#[test]
fn expired_or_not_yet_valid_collateral_is_refused() {
    let sample = sgx();
    let quote = sgx_quote(&sample);
    let august_2025 = 1_754_006_400;
    let reason = rejection(verify(&quote, Some(&sample.collateral), august_2025, &[]));
    assert!(reason.to_lowercase().contains("expired"), "{reason}");
    let june_2025 = 1_748_736_000;
    let reason = rejection(verify(&quote, Some(&sample.collateral), june_2025, &[]));
    assert!(!reason.is_empty());
    // And the message tells the user what to do.
    let err = verify(&quote, Some(&sample.collateral), august_2025, &[]).unwrap_err();
    assert!(err.to_string().contains("refetch"), "{err}");
}

#[test]
fn missing_or_foreign_collateral_is_refused() {
    let sample = sgx();
    let quote = sgx_quote(&sample);
    assert_eq!(
        verify(&quote, None, sample.now, &[]),
        Err(AttestationError::Dcap(DcapError::MissingCollateral))
    );
    let foreign = tdx().collateral;
    rejection(verify(&quote, Some(&foreign), sample.now, &[]));
}

#[test]
fn a_quote_submitted_under_the_wrong_kind_is_refused() {
    let sample = sgx();
    assert_eq!(
        verify(
            &tdx_quote(&sample),
            Some(&sample.collateral),
            sample.now,
            &[]
        ),
        Err(AttestationError::Dcap(DcapError::KindMismatch {
            declared: QuoteKind::TdxDcap,
            actual: QuoteKind::SgxDcap
        }))
    );
    let sample = tdx();
    assert!(matches!(
        verify(
            &sgx_quote(&sample),
            Some(&sample.collateral),
            sample.now,
            &[]
        ),
        Err(AttestationError::Dcap(DcapError::KindMismatch { .. }))
    ));
}

#[test]
fn real_quotes_and_collateral_survive_the_wire() {
    let sample = tdx();
    let encoded = tdx_quote(&sample).encode();
    let collateral = Collateral::decode_strict(&sample.collateral.encode()).unwrap();
    assert_eq!(collateral, sample.collateral);
    let claims = verify_encoded(&encoded, Some(&collateral), sample.now, &[]).unwrap();
    assert_eq!(claims.tcb_status, TcbStatus::UpToDate);
}

#[test]
fn governance_can_deny_an_advisory_and_require_newer_collateral() {
    let sample = sgx();
    let claims = verified(&sample, &sgx_quote(&sample));
    let policy = AttestationPolicy::production().with_measurement(claims.measurement);
    assert!(policy.evaluate(&claims).is_ok());
    // The platform is affected by INTEL-SA-00615: denying it refuses the platform.
    let denied = AttestationPolicy {
        denied_advisories: vec!["INTEL-SA-00001".into(), "INTEL-SA-00615".into()],
        ..policy.clone()
    };
    assert_eq!(
        denied.evaluate(&claims),
        Err(PolicyError::AdvisoryDenied {
            advisory: "INTEL-SA-00615".into()
        })
    );
    // The sample's collateral names its TCB evaluation; requiring a newer one refuses it.
    let number = phalanx_attestation::dcap::tcb_evaluation_data_number(&sample.collateral)
        .expect("the sample's TCB info names its evaluation data number");
    assert!(policy.check_collateral(Some(number)).is_ok());
    let newer = AttestationPolicy {
        min_tcb_evaluation_data_number: number + 1,
        ..policy.clone()
    };
    assert_eq!(
        newer.check_collateral(Some(number)),
        Err(PolicyError::CollateralTooOld {
            number,
            minimum: number + 1
        })
    );
    assert_eq!(
        newer.check_collateral(None),
        Err(PolicyError::CollateralTooOld {
            number: 0,
            minimum: number + 1
        })
    );
    // Bounds: a deny-list too long or an id too long is an invalid policy.
    let long = AttestationPolicy {
        denied_advisories: vec!["x".repeat(33)],
        ..policy.clone()
    };
    assert!(matches!(
        long.validate(),
        Err(PolicyError::InvalidPolicy(_))
    ));
    let many = AttestationPolicy {
        denied_advisories: (0..65).map(|i| format!("INTEL-SA-{i:05}")).collect(),
        ..policy
    };
    assert!(matches!(
        many.validate(),
        Err(PolicyError::TooManyEntries { .. })
    ));
}

#[test]
fn the_policy_judges_real_claims() {
    let sample = sgx();
    let quote = sgx_quote(&sample);
    let claims = verified(&sample, &quote);
    let policy = AttestationPolicy::production().with_measurement(claims.measurement);

    // Allowed, with the confidence of ConfigurationAndSWHardeningNeeded.
    let (_, confidence) = verify_and_evaluate(
        &policy,
        &quote,
        Some(&sample.collateral),
        sample.now,
        &claims.report_data,
    )
    .unwrap();
    assert_eq!(confidence, Confidence::from_per_mille(800).unwrap());

    // Not allowed: another release.
    assert!(matches!(
        AttestationPolicy::production().evaluate(&claims),
        Err(PolicyError::MeasurementNotAllowed { .. })
    ));

    // A stricter minimum refuses the platform.
    let strict = AttestationPolicy {
        minimum_tcb_status: TcbStatus::UpToDate,
        ..policy.clone()
    };
    assert_eq!(
        strict.evaluate(&claims),
        Err(PolicyError::TcbBelowMinimum {
            status: TcbStatus::ConfigurationAndSWHardeningNeeded,
            minimum: TcbStatus::UpToDate
        })
    );

    // The sample's report data ("Hello, world!") binds no Phalanx registration.
    let expected = report_data(&[1; 32], &[2; 32], &[3; 32], &[4; 32]);
    assert!(matches!(
        verify_and_evaluate(
            &policy,
            &quote,
            Some(&sample.collateral),
            sample.now,
            &expected
        ),
        Err(AttestationError::ReportData(
            ReportDataError::Mismatch { .. }
        ))
    ));
}
