//! What a verified quote says about a worker, the same for every kind of quote.

use core::fmt;

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use serde::{Deserialize, Serialize};

/// Which kind of quote produced a set of [`Claims`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, MaxEncodedLen, Serialize, Deserialize,
)]
pub enum QuoteKind {
    /// A simulated quote (`phalanx_attestation::SimulatedQuote`): no hardware, a dev/test
    /// double signed by a simulated root.
    #[codec(index = 0)]
    Simulated,
    /// An Intel SGX enclave, verified with DCAP.
    #[codec(index = 1)]
    SgxDcap,
    /// An Intel TDX trust domain, verified with DCAP.
    #[codec(index = 2)]
    TdxDcap,
}

/// Intel's verdict on the platform's trusted computing base, as reported by the TCB info of
/// the DCAP collateral (or claimed by a simulated quoting enclave).
///
/// Variants are declared from most to least acceptable, and their SCALE index is their
/// position: [`TcbStatus::acceptability_rank`] and the policy's minimum rely on that order.
/// This is a chain-visible enum: add new variants only at the end.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, MaxEncodedLen, Serialize, Deserialize,
)]
pub enum TcbStatus {
    /// The platform is fully patched.
    #[codec(index = 0)]
    UpToDate,
    /// Patched, but the enclave's software must apply mitigations (e.g. LVI hardening).
    #[codec(index = 1)]
    SWHardeningNeeded,
    /// Patched, but the platform configuration (e.g. BIOS settings, SMT) needs changing.
    #[codec(index = 2)]
    ConfigurationNeeded,
    /// Both a configuration change and software hardening are needed.
    #[codec(index = 3)]
    ConfigurationAndSWHardeningNeeded,
    /// Microcode or firmware is behind the latest TCB recovery.
    #[codec(index = 4)]
    OutOfDate,
    /// Out of date and the configuration needs changing as well.
    #[codec(index = 5)]
    OutOfDateConfigurationNeeded,
    /// The platform's keys were revoked: never acceptable.
    #[codec(index = 6)]
    Revoked,
}

impl TcbStatus {
    /// Every status, from most to least acceptable.
    pub const ALL: [TcbStatus; 7] = [
        TcbStatus::UpToDate,
        TcbStatus::SWHardeningNeeded,
        TcbStatus::ConfigurationNeeded,
        TcbStatus::ConfigurationAndSWHardeningNeeded,
        TcbStatus::OutOfDate,
        TcbStatus::OutOfDateConfigurationNeeded,
        TcbStatus::Revoked,
    ];

    /// 0 for the most acceptable status ([`TcbStatus::UpToDate`]), growing as it gets worse.
    pub const fn acceptability_rank(self) -> u8 {
        match self {
            TcbStatus::UpToDate => 0,
            TcbStatus::SWHardeningNeeded => 1,
            TcbStatus::ConfigurationNeeded => 2,
            TcbStatus::ConfigurationAndSWHardeningNeeded => 3,
            TcbStatus::OutOfDate => 4,
            TcbStatus::OutOfDateConfigurationNeeded => 5,
            TcbStatus::Revoked => 6,
        }
    }

    /// Whether this status is as acceptable as `minimum`, or more.
    pub const fn is_at_least(self, minimum: TcbStatus) -> bool {
        self.acceptability_rank() <= minimum.acceptability_rank()
    }

    /// Intel's name for the status, as it appears in TCB info JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SWHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
        }
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a verified quote proves, identical in shape for every [`QuoteKind`].
///
/// Claims are authenticated but not judged: check them against the chain's
/// [`AttestationPolicy`](super::AttestationPolicy) and the expected report data
/// (`phalanx_attestation::report_data()`) before trusting them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Claims {
    /// Which kind of quote these claims came from.
    pub kind: QuoteKind,
    /// The code identity: sha256 of the worker binary (simulated), `MRENCLAVE` (SGX), or the
    /// hash of `MRTD ‖ RTMR0..3` described at `phalanx_attestation::dcap::tdx_measurement` (TDX).
    #[serde(with = "crate::serde_hex")]
    pub measurement: [u8; 32],
    /// Who vouches for the code: the simulated root key (simulated), `MRSIGNER` (SGX), or the
    /// hash of `MRSIGNERSEAM` described at `phalanx_attestation::dcap::tdx_signer` (TDX).
    #[serde(with = "crate::serde_hex")]
    pub signer: [u8; 32],
    /// Security version: `ISVSVN` (SGX), the claimed SVN (simulated), 0 for TDX (a TD has no
    /// ISV SVN; its version is part of the measurement).
    pub svn: u16,
    /// Whether the host can inspect the enclave: SGX `DEBUG` attribute, or TDX `TUD` debug or
    /// profiling bits. Such an enclave keeps no secret.
    pub debug: bool,
    /// The 64 bytes the enclave bound into its report; see `phalanx_attestation::report_data()`.
    #[serde(with = "crate::serde_hex")]
    pub report_data: [u8; 64],
    /// The platform's TCB status, converged over platform and quoting enclave.
    pub tcb_status: TcbStatus,
    /// Intel security advisories (`INTEL-SA-xxxxx`) that apply to this platform.
    pub advisory_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the SCALE and JSON encodings of claims and of the enums the registry stores.
    #[test]
    fn golden_encodings_of_claims() {
        let claims = Claims {
            kind: QuoteKind::SgxDcap,
            measurement: [0x33; 32],
            signer: [0x44; 32],
            svn: 2,
            debug: true,
            report_data: [0x55; 64],
            tcb_status: TcbStatus::OutOfDate,
            advisory_ids: vec!["INTEL-SA-00615".into()],
        };
        let scale = concat!(
            "01", // kind = SgxDcap
            "3333333333333333333333333333333333333333333333333333333333333333", // measurement
            "4444444444444444444444444444444444444444444444444444444444444444", // signer
            "0200", // svn = 2 (u16 LE)
            "01",   // debug = true
            "55555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555", // report_data
            "04",   // tcb_status = OutOfDate
            "04",   // advisory_ids: 1 entry
            "38494e54454c2d53412d3030363135", // compact len 14 + "INTEL-SA-00615"
        );
        assert_eq!(hex::encode(claims.encode()), scale);
        let json = concat!(
            r#"{"kind":"SgxDcap","#,
            r#""measurement":"3333333333333333333333333333333333333333333333333333333333333333","#,
            r#""signer":"4444444444444444444444444444444444444444444444444444444444444444","#,
            r#""svn":2,"debug":true,"#,
            r#""report_data":"55555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555","#,
            r#""tcb_status":"OutOfDate","advisory_ids":["INTEL-SA-00615"]}"#,
        );
        assert_eq!(serde_json::to_string(&claims).expect("serializable"), json);
        assert_eq!(TcbStatus::ALL.map(|s| s.encode()[0]), [0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(
            [QuoteKind::Simulated, QuoteKind::SgxDcap, QuoteKind::TdxDcap].map(|k| k.encode()[0]),
            [0, 1, 2]
        );
    }
}
