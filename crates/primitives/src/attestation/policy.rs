//! The attestation policy: which verified claims the chain accepts, and how much it trusts them.
//!
//! The policy is chain state, changed only by governance (DESIGN.md §7). Rules, checked in this
//! order by [`AttestationPolicy::evaluate`]:
//! 1. while `registration_frozen`, nothing is accepted;
//! 2. a debug enclave (the host can read its memory) is refused unless `allow_debug`;
//! 3. the measurement must be one of `allowed_measurements`;
//! 4. a simulated quote's signer must be one of `accepted_simulated_roots` (also enforced when
//!    the quote is verified, by `phalanx_attestation::verify()`; checked again so claims
//!    verified elsewhere cannot slip through);
//! 5. a `Revoked` TCB is never accepted, whatever the minimum says;
//! 6. the TCB status must be at least `minimum_tcb_status` in the order of [`TcbStatus`];
//! 7. no Intel advisory that applies to the platform may be on `denied_advisories` (an
//!    unpatched platform is refused even while its collateral still calls it acceptable);
//! 8. the accepted claims get the confidence `tcb_confidence` gives their TCB status.
//!
//! DCAP collateral is the registrant's to supply, so the policy also bounds how old it may be:
//! [`AttestationPolicy::check_collateral`] refuses collateral whose TCB evaluation data number
//! is below `min_tcb_evaluation_data_number` (Intel raises that number with each TCB recovery,
//! so old-but-unexpired collateral can't vouch for a platform the newer evaluation downgrades).

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use serde::{Deserialize, Serialize};

use super::claims::{Claims, QuoteKind, TcbStatus};

/// The public key of a simulated quoting enclave, as listed in the attestation policy.
pub type SimulatedRoot = [u8; 32];

/// Why the policy refused verified claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Governance has frozen worker registration.
    #[error("worker registration is frozen by governance; wait until it is unfrozen")]
    RegistrationFrozen,
    /// The enclave runs in debug mode, so the host can read its secrets.
    #[error("the enclave runs in debug mode and keeps no secrets; rebuild and launch it in production mode")]
    DebugEnclave,
    /// The measured code is not an allowed worker build.
    #[error("measurement {measurement} is not an allowed worker build; run an allowed release or ask governance to allow this one")]
    MeasurementNotAllowed {
        /// The refused measurement, hex.
        measurement: String,
    },
    /// Simulated claims whose signer is not one of this policy's simulated roots.
    #[error("simulated attestation by {signer} is not accepted by this chain's policy; use a real tee or a dev chain that lists this root")]
    SimulatedNotAccepted {
        /// The simulated root, hex.
        signer: String,
    },
    /// Intel has revoked the platform.
    #[error("the platform's tcb is revoked; this machine cannot be used as a worker")]
    TcbRevoked,
    /// The platform's TCB is worse than the policy's minimum.
    #[error("tcb status {status} is below the required minimum {minimum}; update the platform's microcode, firmware or configuration and attest again")]
    TcbBelowMinimum {
        /// The platform's status.
        status: TcbStatus,
        /// The policy's minimum.
        minimum: TcbStatus,
    },
    /// The policy itself is inconsistent (only possible if governance set a bad value).
    #[error("the attestation policy is invalid: {0}; governance must correct it")]
    InvalidPolicy(String),
    /// An advisory that applies to the platform is on the policy's deny-list.
    #[error("the platform is affected by {advisory}, which governance denies; patch the platform (microcode, firmware) and attest again")]
    AdvisoryDenied {
        /// The advisory id.
        advisory: String,
    },
    /// The DCAP collateral predates the TCB evaluation the policy requires.
    #[error("the collateral's tcb evaluation data number is {number}, below the required {minimum}; fetch current collateral from the PCCS and attest again")]
    CollateralTooOld {
        /// The collateral's number (0 when it names none).
        number: u32,
        /// The policy's minimum.
        minimum: u32,
    },
    /// A list of the policy is longer than its bound.
    #[error("the attestation policy lists {len} {field}, more than the {max} allowed; drop the ones no longer needed")]
    TooManyEntries {
        /// Which list.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Its bound.
        max: usize,
    },
}

/// Most worker builds a policy may allow at once: releases still in service, with room to
/// spare. The list is read on every registration, so it must stay short.
pub const MAX_ALLOWED_MEASUREMENTS: usize = 256;

/// Most simulated quoting enclaves a (dev or test) policy may trust.
pub const MAX_SIMULATED_ROOTS: usize = 16;
/// Most advisories a policy may deny.
pub const MAX_DENIED_ADVISORIES: usize = 64;
/// Longest advisory id a policy may deny (`INTEL-SA-00615` is 14 bytes).
pub const MAX_ADVISORY_BYTES: usize = 32;

/// How much the chain trusts an accepted worker, in per-mille (0..=1000).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    MaxEncodedLen,
    Serialize,
    Deserialize,
)]
pub struct Confidence(u16);

impl Confidence {
    /// Full confidence, 1000 ‰.
    pub const FULL: Confidence = Confidence(1000);

    /// A confidence of `per_mille` ‰, or `None` above 1000.
    pub const fn from_per_mille(per_mille: u16) -> Option<Self> {
        if per_mille <= 1000 {
            Some(Confidence(per_mille))
        } else {
            None
        }
    }

    /// The confidence in per-mille.
    pub const fn per_mille(self) -> u16 {
        self.0
    }
}

/// Confidence in per-mille for each acceptable [`TcbStatus`]. A total map by construction:
/// one field per status, and none for [`TcbStatus::Revoked`], which is never accepted.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, MaxEncodedLen, Serialize, Deserialize)]
pub struct TcbConfidence {
    /// For [`TcbStatus::UpToDate`].
    pub up_to_date: u16,
    /// For [`TcbStatus::SWHardeningNeeded`].
    pub sw_hardening_needed: u16,
    /// For [`TcbStatus::ConfigurationNeeded`].
    pub configuration_needed: u16,
    /// For [`TcbStatus::ConfigurationAndSWHardeningNeeded`].
    pub configuration_and_sw_hardening_needed: u16,
    /// For [`TcbStatus::OutOfDate`].
    pub out_of_date: u16,
    /// For [`TcbStatus::OutOfDateConfigurationNeeded`].
    pub out_of_date_configuration_needed: u16,
}

impl Default for TcbConfidence {
    /// Falls with the acceptability order: 1000, 900, 850, 800, 700, 650 ‰.
    fn default() -> Self {
        TcbConfidence {
            up_to_date: 1000,
            sw_hardening_needed: 900,
            configuration_needed: 850,
            configuration_and_sw_hardening_needed: 800,
            out_of_date: 700,
            out_of_date_configuration_needed: 650,
        }
    }
}

impl TcbConfidence {
    /// The per-mille for `status`; `None` for [`TcbStatus::Revoked`].
    pub const fn get(&self, status: TcbStatus) -> Option<u16> {
        match status {
            TcbStatus::UpToDate => Some(self.up_to_date),
            TcbStatus::SWHardeningNeeded => Some(self.sw_hardening_needed),
            TcbStatus::ConfigurationNeeded => Some(self.configuration_needed),
            TcbStatus::ConfigurationAndSWHardeningNeeded => {
                Some(self.configuration_and_sw_hardening_needed)
            }
            TcbStatus::OutOfDate => Some(self.out_of_date),
            TcbStatus::OutOfDateConfigurationNeeded => Some(self.out_of_date_configuration_needed),
            TcbStatus::Revoked => None,
        }
    }
}

/// The chain's attestation policy (governance-controlled chain state).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct AttestationPolicy {
    /// Worker builds allowed to register, by [`Claims::measurement`].
    #[serde(with = "crate::serde_hex::list")]
    pub allowed_measurements: Vec<[u8; 32]>,
    /// Simulated quoting-enclave keys whose quotes are accepted. Empty on production chains.
    #[serde(with = "crate::serde_hex::list")]
    pub accepted_simulated_roots: Vec<SimulatedRoot>,
    /// The worst TCB status still accepted.
    pub minimum_tcb_status: TcbStatus,
    /// Confidence per TCB status.
    #[serde(default)]
    pub tcb_confidence: TcbConfidence,
    /// Accept debug enclaves (never on a chain that holds real secrets).
    #[serde(default)]
    pub allow_debug: bool,
    /// Refuse every registration while set.
    #[serde(default)]
    pub registration_frozen: bool,
    /// Intel advisories (`INTEL-SA-…`) whose platforms are refused (at most
    /// [`MAX_DENIED_ADVISORIES`], each at most 32 bytes).
    #[serde(default)]
    pub denied_advisories: Vec<String>,
    /// The lowest TCB evaluation data number DCAP collateral may carry (0: any).
    #[serde(default)]
    pub min_tcb_evaluation_data_number: u32,
}

impl AttestationPolicy {
    /// The production policy: no simulated roots, no debug enclaves, any non-revoked TCB (with
    /// falling confidence), and no allowed measurements yet: governance adds each release.
    pub fn production() -> Self {
        AttestationPolicy {
            allowed_measurements: Vec::new(),
            accepted_simulated_roots: Vec::new(),
            minimum_tcb_status: TcbStatus::OutOfDateConfigurationNeeded,
            tcb_confidence: TcbConfidence::default(),
            allow_debug: false,
            registration_frozen: false,
            denied_advisories: Vec::new(),
            min_tcb_evaluation_data_number: 0,
        }
    }

    /// A dev-chain policy: the production rules plus one simulated root and one allowed
    /// measurement (typically `phalanx_attestation::measure_worker_binary` of the dev worker).
    pub fn dev(simulated_root: SimulatedRoot, measurement: [u8; 32]) -> Self {
        AttestationPolicy {
            allowed_measurements: vec![measurement],
            accepted_simulated_roots: vec![simulated_root],
            ..Self::production()
        }
    }

    /// This policy with `measurement` also allowed.
    pub fn with_measurement(mut self, measurement: [u8; 32]) -> Self {
        if !self.allowed_measurements.contains(&measurement) {
            self.allowed_measurements.push(measurement);
        }
        self
    }

    /// Checks the policy is consistent and its lists within [`MAX_ALLOWED_MEASUREMENTS`] and
    /// [`MAX_SIMULATED_ROOTS`]; governance should call this before storing one.
    pub fn validate(&self) -> Result<(), PolicyError> {
        for (field, len, max) in [
            (
                "allowed measurements",
                self.allowed_measurements.len(),
                MAX_ALLOWED_MEASUREMENTS,
            ),
            (
                "simulated roots",
                self.accepted_simulated_roots.len(),
                MAX_SIMULATED_ROOTS,
            ),
            (
                "denied advisories",
                self.denied_advisories.len(),
                MAX_DENIED_ADVISORIES,
            ),
        ] {
            if len > max {
                return Err(PolicyError::TooManyEntries { field, len, max });
            }
        }
        if let Some(long) = self
            .denied_advisories
            .iter()
            .find(|a| a.len() > MAX_ADVISORY_BYTES)
        {
            return Err(PolicyError::InvalidPolicy(format!(
                "advisory id {long:?} is longer than {MAX_ADVISORY_BYTES} bytes"
            )));
        }
        if self.minimum_tcb_status == TcbStatus::Revoked {
            return Err(PolicyError::InvalidPolicy(
                "the minimum tcb status cannot be revoked".into(),
            ));
        }
        for status in TcbStatus::ALL {
            if let Some(per_mille) = self.tcb_confidence.get(status) {
                if Confidence::from_per_mille(per_mille).is_none() {
                    return Err(PolicyError::InvalidPolicy(format!(
                        "confidence for {status} is {per_mille}, over 1000 per-mille"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks DCAP collateral's TCB evaluation data number (`None` when it names none) against
    /// `min_tcb_evaluation_data_number`.
    pub fn check_collateral(&self, evaluation_data_number: Option<u32>) -> Result<(), PolicyError> {
        let number = evaluation_data_number.unwrap_or(0);
        if number < self.min_tcb_evaluation_data_number {
            return Err(PolicyError::CollateralTooOld {
                number,
                minimum: self.min_tcb_evaluation_data_number,
            });
        }
        Ok(())
    }

    /// Judges authenticated `claims`; on acceptance returns the confidence they earn.
    /// The rules and their order are in the module docs.
    pub fn evaluate(&self, claims: &Claims) -> Result<Confidence, PolicyError> {
        if self.registration_frozen {
            return Err(PolicyError::RegistrationFrozen);
        }
        if claims.debug && !self.allow_debug {
            return Err(PolicyError::DebugEnclave);
        }
        if !self.allowed_measurements.contains(&claims.measurement) {
            return Err(PolicyError::MeasurementNotAllowed {
                measurement: hex::encode(claims.measurement),
            });
        }
        if claims.kind == QuoteKind::Simulated
            && !self.accepted_simulated_roots.contains(&claims.signer)
        {
            return Err(PolicyError::SimulatedNotAccepted {
                signer: hex::encode(claims.signer),
            });
        }
        let status = claims.tcb_status;
        let Some(per_mille) = self.tcb_confidence.get(status) else {
            return Err(PolicyError::TcbRevoked);
        };
        if !status.is_at_least(self.minimum_tcb_status) {
            return Err(PolicyError::TcbBelowMinimum {
                status,
                minimum: self.minimum_tcb_status,
            });
        }
        if let Some(advisory) = claims
            .advisory_ids
            .iter()
            .find(|id| self.denied_advisories.contains(id))
        {
            return Err(PolicyError::AdvisoryDenied {
                advisory: advisory.clone(),
            });
        }
        Confidence::from_per_mille(per_mille).ok_or_else(|| {
            PolicyError::InvalidPolicy(format!(
                "confidence for {status} is {per_mille}, over 1000 per-mille"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash;

    const WORKER: &[u8] = b"phalanx-worker release build";

    /// Any 32 bytes: the policy compares signer keys, it does not check signatures.
    const ROOT: SimulatedRoot = [42; 32];

    /// A simulated measurement: sha256 of the binary.
    fn measure(binary: &[u8]) -> [u8; 32] {
        Hash::of(binary).0
    }

    fn setup() -> AttestationPolicy {
        AttestationPolicy::dev(ROOT, measure(WORKER))
    }

    /// The claims of an honest simulated quote of `WORKER` signed by `ROOT`, edited by `edit`.
    fn claims_with(edit: impl FnOnce(&mut Claims)) -> Claims {
        let mut claims = Claims {
            kind: QuoteKind::Simulated,
            measurement: measure(WORKER),
            signer: ROOT,
            svn: 0,
            debug: false,
            report_data: [7; 64],
            tcb_status: TcbStatus::UpToDate,
            advisory_ids: Vec::new(),
        };
        edit(&mut claims);
        claims
    }

    #[test]
    fn simulated_claims_are_refused_by_the_production_policy() {
        let policy = AttestationPolicy::production().with_measurement(measure(WORKER));
        assert!(policy.accepted_simulated_roots.is_empty());
        assert_eq!(
            policy.evaluate(&claims_with(|_| {})),
            Err(PolicyError::SimulatedNotAccepted {
                signer: hex::encode(ROOT)
            })
        );
    }

    #[test]
    fn a_measurement_not_on_the_policy_is_refused() {
        let policy = setup();
        let claims = claims_with(|c| c.measurement = measure(b"patched worker"));
        assert_eq!(
            policy.evaluate(&claims),
            Err(PolicyError::MeasurementNotAllowed {
                measurement: hex::encode(measure(b"patched worker"))
            })
        );
    }

    #[test]
    fn debug_enclaves_are_refused_unless_allowed() {
        let mut policy = setup();
        let claims = claims_with(|c| c.debug = true);
        assert_eq!(policy.evaluate(&claims), Err(PolicyError::DebugEnclave));
        policy.allow_debug = true;
        assert_eq!(policy.evaluate(&claims), Ok(Confidence::FULL));
    }

    #[test]
    fn frozen_registration_refuses_everything() {
        let mut policy = setup();
        policy.registration_frozen = true;
        assert_eq!(
            policy.evaluate(&claims_with(|_| {})),
            Err(PolicyError::RegistrationFrozen)
        );
    }

    #[test]
    fn tcb_status_maps_to_falling_confidence_and_revoked_is_never_accepted() {
        let mut policy = setup();
        let expected = [1000, 900, 850, 800, 700, 650];
        for (status, per_mille) in TcbStatus::ALL.into_iter().zip(expected) {
            let claims = claims_with(|c| c.tcb_status = status);
            assert_eq!(
                policy.evaluate(&claims).map(Confidence::per_mille),
                Ok(per_mille)
            );
        }
        let revoked = claims_with(|c| c.tcb_status = TcbStatus::Revoked);
        assert_eq!(policy.evaluate(&revoked), Err(PolicyError::TcbRevoked));
        // Even a (rejected-by-validate) minimum of Revoked does not let it through.
        policy.minimum_tcb_status = TcbStatus::Revoked;
        assert!(policy.validate().is_err());
        assert_eq!(policy.evaluate(&revoked), Err(PolicyError::TcbRevoked));
    }

    #[test]
    fn tcb_below_the_minimum_is_refused() {
        let mut policy = setup();
        policy.minimum_tcb_status = TcbStatus::ConfigurationNeeded;
        let ok = claims_with(|c| c.tcb_status = TcbStatus::SWHardeningNeeded);
        assert_eq!(policy.evaluate(&ok).map(Confidence::per_mille), Ok(900));
        let old = claims_with(|c| c.tcb_status = TcbStatus::OutOfDate);
        assert_eq!(
            policy.evaluate(&old),
            Err(PolicyError::TcbBelowMinimum {
                status: TcbStatus::OutOfDate,
                minimum: TcbStatus::ConfigurationNeeded
            })
        );
    }

    #[test]
    fn an_out_of_range_confidence_is_an_invalid_policy() {
        let mut policy = setup();
        policy.tcb_confidence.up_to_date = 1001;
        assert!(matches!(
            policy.validate(),
            Err(PolicyError::InvalidPolicy(_))
        ));
        assert!(matches!(
            policy.evaluate(&claims_with(|_| {})),
            Err(PolicyError::InvalidPolicy(_))
        ));
        assert!(AttestationPolicy::production().validate().is_ok());
    }

    #[test]
    fn overlong_lists_are_an_invalid_policy_and_the_bound_itself_is_fine() {
        let mut policy = setup();
        policy.allowed_measurements = (0..MAX_ALLOWED_MEASUREMENTS)
            .map(|i| measure(&i.to_be_bytes()))
            .collect();
        assert_eq!(policy.validate(), Ok(()));
        policy.allowed_measurements.push([0xee; 32]);
        assert_eq!(
            policy.validate(),
            Err(PolicyError::TooManyEntries {
                field: "allowed measurements",
                len: MAX_ALLOWED_MEASUREMENTS + 1,
                max: MAX_ALLOWED_MEASUREMENTS
            })
        );
        let mut policy = setup();
        policy.accepted_simulated_roots = vec![[1; 32]; MAX_SIMULATED_ROOTS];
        assert_eq!(policy.validate(), Ok(()));
        policy.accepted_simulated_roots.push([2; 32]);
        assert!(matches!(
            policy.validate(),
            Err(PolicyError::TooManyEntries {
                field: "simulated roots",
                ..
            })
        ));
    }

    #[test]
    fn policy_round_trips_through_scale_json_and_toml() {
        let policy = setup();
        let scale = policy.encode();
        assert_eq!(
            AttestationPolicy::decode(&mut &scale[..]),
            Ok(policy.clone())
        );
        let json = serde_json::to_string(&policy).expect("serializable");
        assert!(json.contains(&hex::encode(measure(WORKER))), "{json}");
        assert_eq!(
            serde_json::from_str::<AttestationPolicy>(&json).ok(),
            Some(policy.clone())
        );
        let toml = toml::to_string(&policy).expect("serializable");
        assert_eq!(
            toml::from_str::<AttestationPolicy>(&toml).ok(),
            Some(policy)
        );
    }

    /// Pins the SCALE and JSON encodings of a policy: it is chain state, carried in a
    /// governance call and written in genesis files.
    #[test]
    fn golden_encodings_of_a_policy() {
        let policy = AttestationPolicy::dev([0x11; 32], [0x22; 32]);
        let scale = concat!(
            "04", // allowed_measurements: 1 entry
            "2222222222222222222222222222222222222222222222222222222222222222",
            "04", // accepted_simulated_roots: 1 entry
            "1111111111111111111111111111111111111111111111111111111111111111",
            "05", // minimum_tcb_status = OutOfDateConfigurationNeeded
            "e803",
            "8403",
            "5203",
            "2003",
            "bc02",
            "8a02",     // tcb_confidence, u16 LE each
            "00",       // allow_debug
            "00",       // registration_frozen
            "00",       // denied_advisories: none
            "00000000", // min_tcb_evaluation_data_number: 0
        );
        assert_eq!(hex::encode(policy.encode()), scale);
        let json = concat!(
            r#"{"allowed_measurements":["2222222222222222222222222222222222222222222222222222222222222222"],"#,
            r#""accepted_simulated_roots":["1111111111111111111111111111111111111111111111111111111111111111"],"#,
            r#""minimum_tcb_status":"OutOfDateConfigurationNeeded","#,
            r#""tcb_confidence":{"up_to_date":1000,"sw_hardening_needed":900,"configuration_needed":850,"#,
            r#""configuration_and_sw_hardening_needed":800,"out_of_date":700,"out_of_date_configuration_needed":650},"#,
            r#""allow_debug":false,"registration_frozen":false,"denied_advisories":[],"#,
            r#""min_tcb_evaluation_data_number":0}"#,
        );
        assert_eq!(serde_json::to_string(&policy).expect("serializable"), json);
        assert_eq!(hex::encode(Confidence::FULL.encode()), "e803");
        assert_eq!(
            serde_json::to_string(&Confidence::FULL).ok(),
            Some("1000".into())
        );
    }

    #[test]
    fn a_minimal_genesis_policy_gets_the_defaults() {
        let json = r#"{"allowed_measurements":["0x0101010101010101010101010101010101010101010101010101010101010101"],
                       "accepted_simulated_roots":[],"minimum_tcb_status":"OutOfDate"}"#;
        let policy: AttestationPolicy = serde_json::from_str(json).expect("valid");
        assert_eq!(policy.allowed_measurements, vec![[1u8; 32]]);
        assert_eq!(policy.tcb_confidence, TcbConfidence::default());
        assert!(!policy.allow_debug && !policy.registration_frozen);
    }
}
