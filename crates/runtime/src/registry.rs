//! Registry: the chain's attestation policy and the TEE workers it has accepted.
//!
//! The [`AttestationPolicy`] is chain state, set at genesis and changed only by privileged calls
//! (governance, or the dev root): which worker builds may register, which simulated quoting
//! enclaves are trusted (none on production), the minimum TCB status, TCB status → confidence,
//! and the registration freeze switch (DESIGN.md §7).
//!
//! Protocol of [`RegistryCall::Register`], sent by the worker's operator account (which pays the
//! fee and owns the worker). Each rule has its own [`RegistryError`]; cheap checks run first:
//! 1. registration is not frozen;
//! 2. the endpoint is a non-empty URL of at most [`MAX_ENDPOINT_BYTES`] without whitespace or
//!    control characters;
//! 3. the benchmark score P is at least [`MIN_PERFORMANCE_SCORE`];
//! 4. the registration's operator is the sender, so a registration seen in the mempool cannot
//!    be replayed by someone else to claim the worker;
//! 5. the identity key signed the registration for this chain, so the enclave vouches for the
//!    score, the endpoint and the operator;
//! 6. the cited recent block is one of the last [`system::RECENT_BLOCK_HASHES`] blocks, with
//!    the hash the chain recorded for it;
//! 7. if the identity is already registered: the sender is its operator, and the cited block is
//!    newer than the one its last attestation cited (else it is a replay);
//! 8. the quote (and DCAP collateral) authenticates with [`phalanx_attestation::verify()`] at the
//!    block's time, trusting only the policy's simulated roots;
//! 9. its report data is [`report_data()`] of (identity, encryption key, genesis hash, recent
//!    block hash): the quote was made for these keys, on this chain, after that block;
//! 10. the policy accepts the claims (debug, measurement, TCB, denied advisories) and gives
//!     them a confidence; DCAP collateral must carry a TCB evaluation data number of at least
//!     the policy's minimum (governance raises it after each Intel TCB recovery);
//! 11. the claims name at most [`MAX_DENIED_ADVISORIES`] advisories of at most
//!     [`MAX_ADVISORY_BYTES`] each (the record keeps them, for the daily standing check);
//! 12. a re-registration's DCAP collateral number is no lower than the one the identity last
//!     attested with (per identity: a new identity is held only to the policy's minimum).
//!
//! Pricing: a registration whose quote declares a DCAP kind pays
//! [`ChainParams::dcap_verification_fee`](phalanx_primitives::call::ChainParams) on top of the
//! size-based fee, as part of its envelope's required fee ([`system::required_fee_for`]), so
//! the fee is paid before rule 1 and kept whatever the outcome. Simulated quotes cost one
//! signature check and pay no surcharge.
//!
//! A first registration stores a [`WorkerInfo`]; a re-registration by the same operator
//! refreshes everything the attestation and benchmark say (keys, quote kind, measurement, TCB,
//! confidence, P, endpoint) and keeps `registered_at`.
//!
//! Storage keys: `registry/policy` → [`AttestationPolicy`] (absent = the production policy),
//! `registry/worker/<identity>` → [`WorkerInfo`].

use crate::events::Event;
use crate::genesis::{GenesisConfig, GenesisError};
use crate::module::{ErrorCodes, Module};
use crate::{system, BlockContext, DispatchResult};
use parity_scale_codec::Decode;
use phalanx_attestation::{
    check_report_data, report_data, verify, AttestationError, AttestationPolicy, Collateral,
    DcapError, PolicyError, Quote, QuoteError, QuoteKind, ReportDataError, SimulatedError,
};
use phalanx_primitives::attestation::{MAX_ADVISORY_BYTES, MAX_DENIED_ADVISORIES};
use phalanx_primitives::call::{Call, Registration, RegistryCall, MAX_ENDPOINT_BYTES};
use phalanx_primitives::{AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};

const POLICY: &[u8] = b"registry/policy";
const WORKER_PREFIX: &[u8] = b"registry/worker/";

/// The lowest benchmark score P a worker may register with (Phala's minimum). A constant for
/// now; tokenomics will make it a governance parameter.
pub const MIN_PERFORMANCE_SCORE: u32 = 50;

/// Why a registry call failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum RegistryError {
    /// Governance has frozen registration.
    #[error("worker registration is frozen by governance; wait until it is unfrozen")]
    RegistrationFrozen,
    /// The endpoint is empty, too long, or not a plain URL.
    #[error("the query endpoint must be a URL of 1 to {MAX_ENDPOINT_BYTES} bytes without spaces or control characters")]
    BadEndpoint,
    /// The benchmark score is below the minimum.
    #[error("performance score {score} is below the minimum {minimum}; this machine is too slow to be a worker")]
    PerformanceTooLow {
        /// The enclave's score.
        score: u32,
        /// The minimum.
        minimum: u32,
    },
    /// The registration names another operator than the sender: someone replayed it.
    #[error("the registration names operator {operator} but was sent by {sender}; only the operator named by the enclave may submit it")]
    OperatorMismatch {
        /// The operator the enclave signed for.
        operator: AccountId,
        /// The sender.
        sender: AccountId,
    },
    /// The identity key's signature does not cover this registration on this chain.
    #[error("the registration is not signed by its identity key for this chain; let the enclave sign it again")]
    BadIdentitySignature,
    /// The cited block is not among the recent blocks the chain keeps.
    #[error(
        "block #{height} is not one of the last {} blocks; attest again citing a recent block",
        system::RECENT_BLOCK_HASHES
    )]
    StaleBlock {
        /// The cited height.
        height: u64,
    },
    /// The cited block hash is not the chain's hash at that height.
    #[error("the cited hash of block #{height} is not this chain's; attest again citing a block of this chain")]
    BlockHashMismatch {
        /// The cited height.
        height: u64,
    },
    /// The worker is registered by another operator.
    #[error("this worker is owned by operator {operator}; only its operator can re-register it")]
    OwnedByAnotherOperator {
        /// The worker's operator.
        operator: AccountId,
    },
    /// A re-registration cites a block no newer than the worker's last attestation.
    #[error("the registration cites block #{cited} but the worker last attested at block #{last}: a replay; attest again citing a newer block")]
    ReplayedRegistration {
        /// The cited height.
        cited: u64,
        /// The height cited by the stored attestation.
        last: u64,
    },
    /// The quote or collateral is malformed or does not authenticate.
    #[error(transparent)]
    Attestation(#[from] AttestationError),
    /// The quote's report data binds other keys, another chain or another block.
    #[error(transparent)]
    ReportData(#[from] ReportDataError),
    /// The attestation policy refuses the claims (or is itself invalid).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Corrupted state.
    #[error("corrupted registry state: {0}")]
    Corrupted(String),
    /// A production chain was asked to trust simulated attestation or debug enclaves.
    #[error("a production chain cannot accept simulated quoting roots or debug enclaves")]
    SimulatedTrustInProduction,
    /// The attestation names more advisories, or a longer one, than a worker record keeps.
    #[error("the attestation names {count} advisory id(s), more than the {MAX_DENIED_ADVISORIES} a worker record keeps or one longer than {MAX_ADVISORY_BYTES} bytes")]
    TooManyAdvisories {
        /// Advisories named.
        count: usize,
    },
    /// A re-registration's DCAP collateral is older than the collateral the worker last
    /// attested with.
    #[error("the collateral's TCB evaluation data number is {number}, older than the {recorded} this worker last attested with; attest again with current collateral")]
    CollateralOlderThanRecorded {
        /// The new collateral's number.
        number: u32,
        /// The number of the worker's last attestation.
        recorded: u32,
    },
}

impl ErrorCodes for RegistryError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        (
            "registration_frozen",
            "worker registration is frozen by governance",
        ),
        (
            "bad_endpoint",
            "the query endpoint is empty, too long, or not a plain URL",
        ),
        (
            "performance_too_low",
            "the benchmark score is below the minimum",
        ),
        (
            "operator_mismatch",
            "the registration names another operator than the sender",
        ),
        (
            "bad_identity_signature",
            "the registration is not signed by its identity key for this chain",
        ),
        (
            "stale_block",
            "the cited block is not one of the recent blocks the chain keeps",
        ),
        (
            "block_hash_mismatch",
            "the cited block hash is not this chain's",
        ),
        (
            "owned_by_another_operator",
            "the worker is registered by another operator",
        ),
        (
            "replayed_registration",
            "the registration cites a block no newer than the worker's last attestation",
        ),
        ("corrupted", "the registry state could not be decoded"),
        (
            "simulated_trust_in_production",
            "a production chain cannot accept simulated quoting roots or debug enclaves",
        ),
        (
            "too_many_advisories",
            "the attestation names more advisories than a worker record keeps",
        ),
        (
            "collateral_older_than_recorded",
            "the collateral is older than the one the worker last attested with",
        ),
        // The attestation crate's errors, one code each (that crate's enums are not chain
        // types; their codes are fixed here).
        ("quote_too_large", "the quote is over the size limit"),
        ("quote_malformed", "the quote bytes are malformed"),
        ("quote_trailing_bytes", "bytes follow the encoded quote"),
        (
            "simulated_not_accepted",
            "the chain's policy accepts no simulated attestation",
        ),
        (
            "simulated_unknown_root",
            "the simulated quote is signed by a quoting enclave the policy does not trust",
        ),
        (
            "simulated_malformed_root",
            "the simulated quoting enclave's key is malformed",
        ),
        (
            "simulated_bad_signature",
            "the simulated quote's signature does not verify",
        ),
        (
            "dcap_missing_collateral",
            "a DCAP quote needs its collateral",
        ),
        (
            "dcap_too_large",
            "the DCAP collateral is over the size limit",
        ),
        ("dcap_rejected", "the DCAP verifier rejected the quote"),
        (
            "dcap_kind_mismatch",
            "the DCAP quote is of another kind than it declares",
        ),
        (
            "dcap_malformed_collateral_json",
            "the DCAP collateral is not valid JSON",
        ),
        (
            "dcap_malformed_collateral",
            "the DCAP collateral is malformed",
        ),
        (
            "dcap_verifier_panicked",
            "the DCAP verifier failed on the quote",
        ),
        (
            "report_data_mismatch",
            "the quote's report data binds other keys, another chain or another block",
        ),
        ("debug_enclave", "the enclave runs in debug mode"),
        (
            "measurement_not_allowed",
            "the measurement is not an allowed worker build",
        ),
        (
            "policy_simulated_not_accepted",
            "the policy does not accept this simulated attestation",
        ),
        ("tcb_revoked", "the platform's TCB is revoked"),
        (
            "tcb_below_minimum",
            "the TCB status is below the required minimum",
        ),
        ("invalid_policy", "the attestation policy is invalid"),
        (
            "policy_too_many_entries",
            "the attestation policy lists too many entries",
        ),
        (
            "advisory_denied",
            "an advisory that applies to the platform is on the policy's deny-list",
        ),
        (
            "collateral_too_old",
            "the DCAP collateral predates the TCB evaluation the policy requires",
        ),
    ];

    fn code(&self) -> &'static str {
        match self {
            RegistryError::RegistrationFrozen => "registration_frozen",
            RegistryError::BadEndpoint => "bad_endpoint",
            RegistryError::PerformanceTooLow { .. } => "performance_too_low",
            RegistryError::OperatorMismatch { .. } => "operator_mismatch",
            RegistryError::BadIdentitySignature => "bad_identity_signature",
            RegistryError::StaleBlock { .. } => "stale_block",
            RegistryError::BlockHashMismatch { .. } => "block_hash_mismatch",
            RegistryError::OwnedByAnotherOperator { .. } => "owned_by_another_operator",
            RegistryError::ReplayedRegistration { .. } => "replayed_registration",
            RegistryError::Attestation(e) => attestation_code(e),
            RegistryError::ReportData(e) => report_data_code(e),
            RegistryError::Policy(e) => policy_code(e),
            RegistryError::Corrupted(_) => "corrupted",
            RegistryError::SimulatedTrustInProduction => "simulated_trust_in_production",
            RegistryError::TooManyAdvisories { .. } => "too_many_advisories",
            RegistryError::CollateralOlderThanRecorded { .. } => "collateral_older_than_recorded",
        }
    }
}

/// Why the policy in force no longer accepts a registered worker's platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Its code measurement is no longer allowed.
    Measurement,
    /// Its TCB is revoked: a status the policy no longer accepts, an advisory it now denies,
    /// or collateral older than its minimum evaluation number.
    Tcb,
}

/// Judges a registered worker's recorded attestation against `policy` as registration judged
/// it (measurement, TCB status, denied advisories, collateral number), for a policy changed
/// since: `None` while the policy still accepts it.
pub fn revocation(policy: &AttestationPolicy, info: &WorkerInfo) -> Option<Revocation> {
    if !policy.allowed_measurements.contains(&info.measurement) {
        return Some(Revocation::Measurement);
    }
    let collateral_too_old = info
        .tcb_evaluation_data_number
        .is_some_and(|number| policy.check_collateral(Some(number)).is_err());
    let tcb_revoked = policy.tcb_confidence.get(info.tcb_status).is_none()
        || !info.tcb_status.is_at_least(policy.minimum_tcb_status)
        || info
            .advisory_ids
            .iter()
            .any(|advisory| policy.denied_advisories.contains(advisory))
        || collateral_too_old;
    tcb_revoked.then_some(Revocation::Tcb)
}

/// Judges the evaluation number of a registration's DCAP collateral (`None` without any):
/// at least the policy's minimum, and no older than the collateral the worker last attested
/// with (older collateral that still verifies may not list an advisory denied since, so a
/// worker can't go back to it).
fn check_collateral_number(
    policy: &AttestationPolicy,
    number: Option<u32>,
    existing: Option<&WorkerInfo>,
) -> Result<(), RegistryError> {
    let Some(number) = number else {
        return Ok(());
    };
    policy.check_collateral(Some(number))?;
    match existing.and_then(|existing| existing.tcb_evaluation_data_number) {
        Some(recorded) if number < recorded => {
            Err(RegistryError::CollateralOlderThanRecorded { number, recorded })
        }
        _ => Ok(()),
    }
}

fn attestation_code(e: &AttestationError) -> &'static str {
    match e {
        AttestationError::Quote(QuoteError::TooLarge { .. }) => "quote_too_large",
        AttestationError::Quote(QuoteError::Malformed(_)) => "quote_malformed",
        AttestationError::Quote(QuoteError::TrailingBytes(_)) => "quote_trailing_bytes",
        AttestationError::Simulated(SimulatedError::NotAccepted) => "simulated_not_accepted",
        AttestationError::Simulated(SimulatedError::UnknownRoot { .. }) => "simulated_unknown_root",
        AttestationError::Simulated(SimulatedError::MalformedRoot) => "simulated_malformed_root",
        AttestationError::Simulated(SimulatedError::BadSignature) => "simulated_bad_signature",
        AttestationError::Dcap(DcapError::MissingCollateral) => "dcap_missing_collateral",
        AttestationError::Dcap(DcapError::TooLarge { .. }) => "dcap_too_large",
        AttestationError::Dcap(DcapError::Rejected { .. }) => "dcap_rejected",
        AttestationError::Dcap(DcapError::KindMismatch { .. }) => "dcap_kind_mismatch",
        AttestationError::Dcap(DcapError::MalformedCollateralJson(_)) => {
            "dcap_malformed_collateral_json"
        }
        AttestationError::Dcap(DcapError::MalformedCollateral(_)) => "dcap_malformed_collateral",
        AttestationError::Dcap(DcapError::VerifierPanicked) => "dcap_verifier_panicked",
        AttestationError::ReportData(e) => report_data_code(e),
        AttestationError::Policy(e) => policy_code(e),
    }
}

fn report_data_code(e: &ReportDataError) -> &'static str {
    match e {
        ReportDataError::Mismatch { .. } => "report_data_mismatch",
    }
}

fn policy_code(e: &PolicyError) -> &'static str {
    match e {
        PolicyError::RegistrationFrozen => "registration_frozen",
        PolicyError::DebugEnclave => "debug_enclave",
        PolicyError::MeasurementNotAllowed { .. } => "measurement_not_allowed",
        PolicyError::SimulatedNotAccepted { .. } => "policy_simulated_not_accepted",
        PolicyError::TcbRevoked => "tcb_revoked",
        PolicyError::TcbBelowMinimum { .. } => "tcb_below_minimum",
        PolicyError::InvalidPolicy(_) => "invalid_policy",
        PolicyError::TooManyEntries { .. } => "policy_too_many_entries",
        PolicyError::AdvisoryDenied { .. } => "advisory_denied",
        PolicyError::CollateralTooOld { .. } => "collateral_too_old",
    }
}

impl From<CodecError> for RegistryError {
    fn from(e: CodecError) -> Self {
        RegistryError::Corrupted(e.to_string())
    }
}

pub use phalanx_primitives::worker::WorkerInfo;

/// The storage key of the attestation policy (for state proofs).
pub fn policy_key() -> Vec<u8> {
    POLICY.to_vec()
}

/// The storage key of worker `identity` (for state proofs).
pub fn worker_key(identity: &[u8; 32]) -> Vec<u8> {
    [WORKER_PREFIX, identity].concat()
}

/// The attestation policy; the production policy if none was ever set.
pub fn policy(state: &State) -> Result<AttestationPolicy, CodecError> {
    Ok(state
        .get_decoded(POLICY)?
        .unwrap_or_else(AttestationPolicy::production))
}

/// Stores `policy` as is (genesis; privileged changes go through [`change_policy`]).
pub fn set_policy(state: &mut State, policy: &AttestationPolicy) {
    state.put(POLICY.to_vec(), policy);
}

/// Sets the policy's registration freeze switch.
pub fn set_frozen(state: &mut State, frozen: bool) -> Result<(), CodecError> {
    let mut current = policy(state)?;
    current.registration_frozen = frozen;
    set_policy(state, &current);
    Ok(())
}

/// Worker `identity`, if registered.
pub fn worker(state: &State, identity: &[u8; 32]) -> Result<Option<WorkerInfo>, CodecError> {
    state.get_decoded(&worker_key(identity))
}

/// Stores `info` as is (registration writes it after its checks; benchmarks build states
/// with it).
#[doc(hidden)]
pub fn store_worker(state: &mut State, info: &WorkerInfo) {
    state.put(worker_key(&info.identity), info);
}

/// Every registered worker, in identity order.
pub fn workers(state: &State) -> Vec<WorkerInfo> {
    state
        .scan_prefix(WORKER_PREFIX)
        .filter_map(|(_, value)| WorkerInfo::decode(&mut value.as_slice()).ok())
        .collect()
}

/// Replaces the policy (privileged) after checking it is consistent.
pub fn change_policy(
    state: &mut State,
    policy: &AttestationPolicy,
    events: &mut Vec<Event>,
) -> Result<(), RegistryError> {
    policy.validate()?;
    if system::is_production(state)?
        && (!policy.accepted_simulated_roots.is_empty() || policy.allow_debug)
    {
        return Err(RegistryError::SimulatedTrustInProduction);
    }
    set_policy(state, policy);
    events.push(Event::AttestationPolicyChanged);
    Ok(())
}

/// Freezes or unfreezes registration (privileged).
pub fn freeze(
    state: &mut State,
    frozen: bool,
    events: &mut Vec<Event>,
) -> Result<(), RegistryError> {
    set_frozen(state, frozen)?;
    events.push(Event::RegistrationFrozen { frozen });
    Ok(())
}

/// The registry module.
#[derive(Debug)]
pub struct Registry;

impl Module for Registry {
    const NAME: &'static str = "registry";
    const STORAGE_PREFIX: &'static str = "registry/";
    type Call = RegistryCall;
    type Error = RegistryError;

    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &RegistryCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            RegistryCall::Register(registration) => {
                register(state, ctx, who, registration, events)?
            }
        }
        Ok(())
    }

    /// The config's attestation policy (validated with the config).
    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        set_policy(state, &config.attestation_policy);
        Ok(())
    }
}

/// Whether `call` registers a worker with a quote that declares a DCAP kind (SGX or TDX): such
/// a registration pays the DCAP verification surcharge (see the module docs).
pub fn declares_dcap_quote(call: &Call) -> bool {
    match call {
        Call::Registry(RegistryCall::Register(registration)) => matches!(
            Quote::declared_kind(&registration.quote),
            Some(QuoteKind::SgxDcap | QuoteKind::TdxDcap)
        ),
        _ => false,
    }
}

fn valid_endpoint(endpoint: &str) -> bool {
    !endpoint.is_empty()
        && endpoint.len() <= MAX_ENDPOINT_BYTES
        && !endpoint
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
}

/// Registers or re-registers the worker in `registration`, sent by `who` (rules in the module
/// docs, in order).
pub fn register(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    registration: &Registration,
    events: &mut Vec<Event>,
) -> Result<(), RegistryError> {
    let policy = policy(state)?;
    if policy.registration_frozen {
        return Err(RegistryError::RegistrationFrozen);
    }
    if !valid_endpoint(&registration.endpoint) {
        return Err(RegistryError::BadEndpoint);
    }
    if registration.performance < MIN_PERFORMANCE_SCORE {
        return Err(RegistryError::PerformanceTooLow {
            score: registration.performance,
            minimum: MIN_PERFORMANCE_SCORE,
        });
    }
    if registration.operator != *who {
        return Err(RegistryError::OperatorMismatch {
            operator: registration.operator,
            sender: *who,
        });
    }
    if !registration.verify_signature(&ctx.genesis_hash) {
        return Err(RegistryError::BadIdentitySignature);
    }
    let (cited, cited_hash) = registration.recent_block;
    match system::recent_block_hash(state, cited)? {
        None => return Err(RegistryError::StaleBlock { height: cited }),
        Some(hash) if hash != cited_hash => {
            return Err(RegistryError::BlockHashMismatch { height: cited })
        }
        Some(_) => {}
    }
    let existing = worker(state, &registration.identity)?;
    if let Some(existing) = &existing {
        if existing.operator != *who {
            return Err(RegistryError::OwnedByAnotherOperator {
                operator: existing.operator,
            });
        }
        if cited <= existing.recent_block_height {
            return Err(RegistryError::ReplayedRegistration {
                cited,
                last: existing.recent_block_height,
            });
        }
    }

    let quote = Quote::decode_strict(&registration.quote).map_err(AttestationError::from)?;
    let collateral = registration
        .collateral
        .as_deref()
        .map(Collateral::decode_strict)
        .transpose()
        .map_err(AttestationError::from)?;
    let now_unix_secs = ctx.timestamp_ms / 1_000;
    let claims = verify(
        &quote,
        collateral.as_ref(),
        now_unix_secs,
        &policy.accepted_simulated_roots,
    )?;
    let expected = report_data(
        &registration.identity,
        &registration.encryption_key,
        ctx.genesis_hash.as_bytes(),
        cited_hash.as_bytes(),
    );
    check_report_data(&claims, &expected)?;
    let confidence = policy.evaluate(&claims)?.per_mille();
    // The record keeps the advisories so a later deny-list judges the running worker: as many,
    // and as long, as a deny-list may be.
    if claims.advisory_ids.len() > MAX_DENIED_ADVISORIES
        || claims
            .advisory_ids
            .iter()
            .any(|advisory| advisory.len() > MAX_ADVISORY_BYTES)
    {
        return Err(RegistryError::TooManyAdvisories {
            count: claims.advisory_ids.len(),
        });
    }
    // DCAP collateral's number (0 when it names none), kept so a later minimum judges the
    // running worker; a simulated quote has no real collateral to judge.
    let tcb_evaluation_data_number = match (claims.kind, &collateral) {
        (QuoteKind::SgxDcap | QuoteKind::TdxDcap, Some(collateral)) => {
            Some(phalanx_attestation::dcap::tcb_evaluation_data_number(collateral).unwrap_or(0))
        }
        _ => None,
    };
    check_collateral_number(&policy, tcb_evaluation_data_number, existing.as_ref())?;

    let info = WorkerInfo {
        identity: registration.identity,
        encryption_key: registration.encryption_key,
        operator: *who,
        quote_kind: claims.kind,
        measurement: claims.measurement,
        tcb_status: claims.tcb_status,
        confidence,
        performance: registration.performance,
        endpoint: registration.endpoint.clone(),
        registered_at: existing.as_ref().map_or(ctx.height, |w| w.registered_at),
        last_attested_at: ctx.height,
        recent_block_height: cited,
        advisory_ids: claims.advisory_ids.clone(),
        tcb_evaluation_data_number,
    };
    state.put(worker_key(&info.identity), &info);
    let (identity, operator, performance) = (info.identity, info.operator, info.performance);
    events.push(if existing.is_some() {
        Event::WorkerReregistered {
            identity,
            operator,
            confidence,
            performance,
        }
    } else {
        Event::WorkerRegistered {
            identity,
            operator,
            confidence,
            performance,
        }
    });
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod governance_tests;
