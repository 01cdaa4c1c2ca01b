//! The **SIMULATED** TEE platform: what a real CPU would give the enclave, faked in software.
//!
//! A real enclave gets three things from its hardware that the untrusted host cannot touch:
//! 1. a **seal secret** fused into the CPU, mixed with the enclave's measurement (SGX
//!    `EGETKEY` with `MRENCLAVE` policy, TDX's equivalent via the TD module);
//! 2. a **quoting enclave** that signs reports of the enclave's measurement and report data
//!    (Intel's QE, verified remotely with DCAP);
//! 3. a **cycle counter** (`rdtsc`, readable inside SGX2 enclaves and TDs) to time work, and a
//!    random-number instruction (`rdrand`).
//!
//! [`SimulatedPlatform`] fakes all three: the seal secret is 32 bytes the host stores in a file
//! beside the sealed state, the quoting enclave is the well-known dev key every dev chain
//! trusts ([`phalanx_runtime::genesis::dev_quoting_enclave`]), and the counter and randomness
//! come from the operating system. It therefore protects **nothing**: whoever runs the host can
//! read the seal secret, unseal the worker's keys and forge quotes. It exists so that every
//! protocol around the enclave can be built and tested before real enclave builds exist
//! (DESIGN.md §12). A real SGX or TDX build replaces this one type; nothing else in the enclave
//! changes.

use core::fmt;
use std::time::{Duration, Instant};

use phalanx_attestation::{SimulatedQuotingEnclave, SimulatedReport};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

/// Why the simulated platform could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The simulated platform secret file could not be read or written.
    #[error("cannot use the SIMULATED platform secret file {path}: {source}; check the worker's data directory permissions")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The simulated platform secret file does not hold 32 bytes.
    #[error("the SIMULATED platform secret file {path} is not 32 bytes; restore it from a backup, or delete it together with the sealed state to start a new worker identity")]
    BadSecretFile {
        /// The file.
        path: String,
    },
}

/// **SIMULATED** TEE hardware: seal secret, quoting enclave, measurement, counter, randomness.
/// See the module docs for what a real platform provides instead.
pub struct SimulatedPlatform {
    /// Stands in for the CPU's fused seal secret. Never leaves this type.
    seal_secret: Zeroizing<[u8; 32]>,
    /// The code identity of the running enclave (sha256 of the simulated worker "binary").
    measurement: [u8; 32],
    /// Signs reports; on a real machine this is Intel's quoting enclave.
    quoting_enclave: SimulatedQuotingEnclave,
    /// Origin of the cycle counter.
    epoch: Instant,
}

impl SimulatedPlatform {
    /// A simulated platform with the given seal secret, enclave measurement and quoting enclave.
    pub fn new(
        seal_secret: [u8; 32],
        measurement: [u8; 32],
        quoting_enclave: SimulatedQuotingEnclave,
    ) -> Self {
        SimulatedPlatform {
            seal_secret: Zeroizing::new(seal_secret),
            measurement,
            quoting_enclave,
            epoch: Instant::now(),
        }
    }

    /// The dev platform: the dev worker measurement
    /// ([`phalanx_runtime::genesis::dev_worker_measurement`]) quoted by the well-known dev
    /// quoting enclave, with `seal_secret` as the machine's fused secret.
    pub fn dev(seal_secret: [u8; 32]) -> Self {
        SimulatedPlatform::new(
            seal_secret,
            phalanx_runtime::genesis::dev_worker_measurement(),
            phalanx_runtime::genesis::dev_quoting_enclave(),
        )
    }

    /// The dev platform whose "fused" secret lives in `path` (created with a fresh random
    /// secret, owner-readable only, if absent). SIMULATED: a file is no fuse.
    pub fn dev_from_file(path: &std::path::Path) -> Result<Self, PlatformError> {
        let shown = path.display().to_string();
        let io = |source| PlatformError::Io {
            path: shown.clone(),
            source,
        };
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(path).map_err(io)?);
            let secret: [u8; 32] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| PlatformError::BadSecretFile {
                        path: shown.clone(),
                    })?;
            return Ok(SimulatedPlatform::dev(secret));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        crate::fs::write_private(path, secret.as_ref()).map_err(io)?;
        Ok(SimulatedPlatform::dev(*secret))
    }

    /// The measurement of the enclave running on this platform.
    pub fn measurement(&self) -> [u8; 32] {
        self.measurement
    }

    /// The root key of the simulated quoting enclave (what a dev policy must list).
    pub fn quoting_root(&self) -> [u8; 32] {
        self.quoting_enclave.root()
    }

    /// The seal secret, for the sealing module only (`EGETKEY`).
    pub(crate) fn seal_secret(&self) -> &[u8; 32] {
        &self.seal_secret
    }

    /// Asks the quoting enclave for a quote over this enclave's measurement and `report_data`
    /// (`EREPORT` + the QE). Returns the SCALE-encoded [`phalanx_attestation::Quote`].
    pub fn quote(&self, report_data: [u8; 64]) -> Vec<u8> {
        use parity_scale_codec::Encode;
        let mut report = SimulatedReport::for_worker(b"", report_data);
        report.measurement = self.measurement;
        self.quoting_enclave.quote(report).encode()
    }

    /// The cycle counter, as time since the platform started (`rdtsc`): it times the benchmark
    /// and the quote, and is never a date. This is the only place the enclave side touches
    /// `std::time` (an [`Instant`]); the enclave's clock is the chain's
    /// ([`crate::enclave::Enclave`]'s verified head).
    pub fn cycle_counter(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// 32 bytes from the platform's random-number instruction (`rdrand`).
    pub fn random_32(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        bytes
    }

    /// 12 bytes from the platform's random-number instruction (AEAD nonces).
    pub(crate) fn random_12(&self) -> [u8; 12] {
        let mut bytes = [0u8; 12];
        OsRng.fill_bytes(&mut bytes);
        bytes
    }
}

impl fmt::Debug for SimulatedPlatform {
    // Says loudly what this is and never prints the seal secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SimulatedPlatform(SIMULATED, not a TEE: protects nothing; measurement {}, quoting root {})",
            hex::encode(self.measurement),
            hex::encode(self.quoting_root())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phalanx_attestation::Quote;

    #[test]
    fn debug_says_simulated_and_hides_the_secret() {
        let platform = SimulatedPlatform::dev([0xab; 32]);
        let shown = format!("{platform:?}");
        assert!(shown.contains("SIMULATED"));
        assert!(!shown.contains(&hex::encode([0xab; 32])));
    }

    #[test]
    fn quotes_carry_the_platform_measurement_and_verify_under_the_dev_root() {
        let platform = SimulatedPlatform::dev([1; 32]);
        let quote = Quote::decode_strict(&platform.quote([7; 64])).expect("decodes");
        let claims = phalanx_attestation::verify(&quote, None, 0, &[platform.quoting_root()])
            .expect("verifies");
        assert_eq!(
            claims.measurement,
            phalanx_runtime::genesis::dev_worker_measurement()
        );
        assert_eq!(claims.report_data, [7; 64]);
        assert!(!claims.debug);
    }

    #[test]
    fn the_secret_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("platform.secret");
        let first = SimulatedPlatform::dev_from_file(&path).expect("created");
        let second = SimulatedPlatform::dev_from_file(&path).expect("read back");
        assert_eq!(first.seal_secret(), second.seal_secret());
        std::fs::write(&path, [1, 2, 3]).expect("truncate");
        assert!(matches!(
            SimulatedPlatform::dev_from_file(&path),
            Err(PlatformError::BadSecretFile { .. })
        ));
    }
}
