//! Phalanx remote attestation: how the chain decides that a worker really runs the audited
//! worker binary inside a trusted execution environment, and how much to trust it.
//!
//! One verification path, [`verify()`], takes a [`Quote`] of any kind and returns the same
//! [`Claims`] for all of them (DESIGN.md §7):
//!
//! | kind | authenticated by | measurement | signer |
//! |---|---|---|---|
//! | [`Quote::Simulated`] | ed25519 signature of a simulated quoting-enclave key on the policy | sha256 of the worker binary | the simulated root key |
//! | [`Quote::SgxDcap`] | Intel DCAP (`dcap-qvl`, RustCrypto backend) against offline collateral | `MRENCLAVE` | `MRSIGNER` |
//! | [`Quote::TdxDcap`] | Intel DCAP (`dcap-qvl`, RustCrypto backend) against offline collateral | sha256 of a domain tag, `MRTD` and `RTMR0..3` (see [`dcap::tdx_measurement`]) | sha256 of a domain tag and `MRSIGNERSEAM` |
//!
//! Verification *authenticates*; it does not *judge*. A debug enclave, an unknown measurement or
//! an out-of-date platform all verify and come back as honest [`Claims`]; the chain's
//! [`AttestationPolicy`] (governance-controlled chain state) then accepts or refuses them and
//! turns the TCB status into a [`Confidence`]. [`verify_and_evaluate()`] does both in one call,
//! which is what registration should use.
//!
//! The claims and the policy are plain data with pure rules, defined in
//! [`phalanx_primitives::attestation`] (a call carries the policy, and the client SDK must build
//! that call without a quote verifier) and re-exported here.
//!
//! Invariants:
//! - A simulated quote is accepted only if its signing key is one of the simulated roots the
//!   caller passes in. A production genesis ([`AttestationPolicy::production`]) has none, so no
//!   simulated worker can ever join it.
//! - [`report_data()`] binds a quote to one worker identity key, one encryption key, one chain
//!   (genesis hash) and one recent block; [`check_report_data`] refuses any other binding.
//! - Every decoder of untrusted bytes ([`Quote::decode_strict`], [`Collateral::decode_strict`])
//!   goes through the chain's one strict decoder ([`phalanx_primitives::decode_strict`]): it
//!   refuses oversized input and trailing bytes and never panics (property-tested).
//! - Everything here is pure: no clock, no network, no files. The caller passes the time and the
//!   collateral (fetched elsewhere from a PCCS), so verification is deterministic and replayable
//!   by every node.
//!
//! It sits below the runtime (worker registration) and the worker/enclave crates (which produce
//! quotes), and above `phalanx-primitives` only.

pub mod dcap;
pub mod policy;
pub mod quote;
pub mod report_data;
pub mod simulated;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;

pub use dcap::{Collateral, DcapError};
pub use phalanx_primitives::attestation::{
    AttestationPolicy, Claims, Confidence, PolicyError, QuoteKind, TcbConfidence, TcbStatus,
    MAX_ALLOWED_MEASUREMENTS, MAX_SIMULATED_ROOTS,
};
pub use policy::verify_and_evaluate;
pub use quote::{Quote, QuoteError, MAX_QUOTE_BYTES};
pub use report_data::{check_report_data, report_data, ReportDataError, REPORT_DATA_DOMAIN};
pub use simulated::{
    measure_worker_binary, SimulatedError, SimulatedQuote, SimulatedQuotingEnclave,
    SimulatedReport, SimulatedRoot,
};
pub use verify::{verify, AttestationError};

/// The crate's result type: verification fails with an [`AttestationError`].
pub type Result<T, E = AttestationError> = std::result::Result<T, E>;
