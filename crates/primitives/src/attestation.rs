//! The attestation data the chain stores and governance sets: what a verified quote claims
//! ([`Claims`], [`QuoteKind`], [`TcbStatus`]) and the [`AttestationPolicy`] that judges claims
//! ([`AttestationPolicy::evaluate`]) and turns their TCB status into a [`Confidence`].
//!
//! These are plain data and pure rules, so the calls that carry a policy
//! ([`PrivilegedCall::SetAttestationPolicy`](crate::call::PrivilegedCall::SetAttestationPolicy))
//! and everything that builds them (the client SDK) need nothing of quote verification.
//! Verifying quotes (simulated, SGX-DCAP, TDX-DCAP) is `phalanx-attestation`'s job; it re-exports
//! these types and checks a quote against a policy with `phalanx_attestation::verify_and_evaluate`.
//!
//! Wire rules: SCALE and serde encodings are pinned by golden tests; [`TcbStatus`] and
//! [`QuoteKind`] are chain-visible enums (their position is their code), so they only grow at the
//! end.

mod claims;
mod policy;

pub use claims::{Claims, QuoteKind, TcbStatus};
pub use policy::{
    AttestationPolicy, Confidence, PolicyError, SimulatedRoot, TcbConfidence, MAX_ADVISORY_BYTES,
    MAX_ALLOWED_MEASUREMENTS, MAX_DENIED_ADVISORIES, MAX_SIMULATED_ROOTS,
};
