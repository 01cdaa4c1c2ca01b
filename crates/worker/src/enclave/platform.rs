//! The **SIMULATED** TEE platform: what a real CPU would give the enclave, faked in software.
//!
//! A real enclave gets four things from its hardware that the untrusted host cannot touch:
//! 1. a **seal secret** fused into the CPU, mixed with the enclave's measurement (SGX
//!    `EGETKEY` with `MRENCLAVE` policy, TDX's equivalent via the TD module);
//! 2. a **quoting enclave** that signs reports of the enclave's measurement and report data
//!    (Intel's QE, verified remotely with DCAP);
//! 3. a **monotonic counter** in a replay-protected store, which the host can read but never
//!    move backwards ([`MonotonicCounter`]; it is what makes a rolled-back sealed file
//!    detectable, see [`crate::enclave`]'s "Sealed state" protocol);
//! 4. a **cycle counter** (`rdtsc`, readable inside SGX2 enclaves and TDs) to time work, and a
//!    random-number instruction (`rdrand`).
//!
//! [`SimulatedPlatform`] fakes all four: the seal secret is 32 bytes the host stores in a file
//! beside the sealed state, the quoting enclave is the well-known dev key every dev chain
//! trusts ([`phalanx_runtime::genesis::dev_quoting_enclave`]), the monotonic counter is a file
//! ([`FileCounter`]) or memory ([`MemoryCounter`]), and the cycle counter and randomness come
//! from the operating system. It therefore protects **nothing**: whoever runs the host can
//! read the seal secret, unseal the worker's keys, forge quotes and reset the counter. It
//! exists so that every protocol around the enclave can be built and tested before real
//! enclave builds exist (DESIGN.md §12). A real SGX or TDX build replaces this one type (and
//! the counter behind [`MonotonicCounter`]); nothing else in the enclave changes.

use core::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
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

/// The seal secret's file inside a worker's data directory ([`SimulatedPlatform::dev_in`]).
pub const SECRET_FILE: &str = "simulated-platform.secret";
/// The monotonic counter's file inside a worker's data directory ([`FileCounter`]).
pub const COUNTER_FILE: &str = "simulated-platform.counter";

/// Where the platform's monotonic counter stands: its value and the tag of the one sealed blob
/// committed at that value (`sealing::tag`, a SHA-256 of the blob). A platform that never
/// committed anything is at value 0 with an all-zero tag ([`CounterState::default`]).
///
/// The tag is what makes the counter fork-proof and not only rollback-proof: two blobs sealed
/// for the same value (two enclave instances run side by side from one file, or a blob that
/// was never committed) cannot both be current, because only one of them has this tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterState {
    /// How many sealed states were committed on this platform.
    pub value: u64,
    /// The tag of the sealed blob committed at `value`.
    pub tag: [u8; 32],
}

/// Why the platform's monotonic counter could not be read or advanced.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// The counter is not where the enclave left it: another instance of this enclave
    /// committed state in the meantime.
    #[error("the platform counter is at {found}, not at {expected} where this enclave left it: another instance of this enclave committed sealed state since; stop this instance and restart the worker from its sealed files")]
    Moved {
        /// The value the enclave committed last (or started from).
        expected: u64,
        /// The value the counter holds.
        found: u64,
    },
    /// An advance that is not by exactly one.
    #[error("the platform counter advances one step at a time, not from {from} to {to}; this is a bug, please report it")]
    NotOneStep {
        /// The current value.
        from: u64,
        /// The requested value.
        to: u64,
    },
    /// The SIMULATED counter file could not be read or written.
    #[error("cannot use the SIMULATED platform counter file {path}: {source}; check the worker's data directory")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The SIMULATED counter file does not hold a counter.
    #[error("the SIMULATED platform counter file {path} is not {COUNTER_FILE_BYTES} bytes; restore it from a backup together with the sealed state, or delete both (and the platform secret) to start a new worker identity")]
    BadFile {
        /// The file.
        path: String,
    },
    /// The in-memory counter was poisoned by a panicking holder (tests only).
    #[error("the in-memory platform counter is unusable after a panic elsewhere; restart")]
    Poisoned,
}

/// The platform's monotonic counter: the replay-protected store the enclave commits each
/// sealed state to (protocol in [`crate::enclave`]'s "Sealed state"). Only the enclave moves
/// it, one step at a time, and never backwards.
///
/// Real hardware: on SGX this is a counter in a replay-protected store reached over a channel
/// only the enclave can authenticate — a TPM 2.0 NV index holding `value ‖ tag` written under
/// an enclave-bound session, or an RPMB partition (SGX's own PSE counters hold no tag and are
/// deprecated); on TDX, the same NV index in the TD's vTPM. Whatever holds it must make
/// [`MonotonicCounter::advance_to`] atomic: it compares and writes in one step.
pub trait MonotonicCounter: Send {
    /// The counter's value and tag.
    fn read(&self) -> Result<CounterState, CounterError>;

    /// Moves the counter from `from` to `to` (`to.value == from.value + 1`) in one atomic
    /// step, refusing with [`CounterError::Moved`] if it is not at `from`.
    fn advance_to(&mut self, from: &CounterState, to: &CounterState) -> Result<(), CounterError>;
}

/// Checks an advance is one step from where the counter is.
fn check_advance(
    current: &CounterState,
    from: &CounterState,
    to: &CounterState,
) -> Result<(), CounterError> {
    if current != from {
        return Err(CounterError::Moved {
            expected: from.value,
            found: current.value,
        });
    }
    if from.value.checked_add(1) != Some(to.value) {
        return Err(CounterError::NotOneStep {
            from: from.value,
            to: to.value,
        });
    }
    Ok(())
}

/// An in-memory counter for tests. Clones share one counter, as the enclave instances of one
/// machine share its hardware counter: drop an enclave, start another on a platform with a
/// clone, and it sees what the first committed.
#[derive(Clone, Debug, Default)]
pub struct MemoryCounter {
    state: Arc<Mutex<CounterState>>,
}

impl MemoryCounter {
    /// A counter at 0.
    pub fn new() -> Self {
        MemoryCounter::default()
    }
}

impl MonotonicCounter for MemoryCounter {
    fn read(&self) -> Result<CounterState, CounterError> {
        self.state
            .lock()
            .map(|state| *state)
            .map_err(|_| CounterError::Poisoned)
    }

    fn advance_to(&mut self, from: &CounterState, to: &CounterState) -> Result<(), CounterError> {
        let mut state = self.state.lock().map_err(|_| CounterError::Poisoned)?;
        check_advance(&state, from, to)?;
        *state = *to;
        Ok(())
    }
}

/// Bytes of the SIMULATED counter file: the value (8, little-endian) and the tag (32).
pub const COUNTER_FILE_BYTES: usize = 8 + 32;

/// **SIMULATED** monotonic counter: a file in the worker's data directory, replaced
/// atomically on each advance. The host owns that file, so it can delete or rewind it: this
/// protects **nothing** and only lets the protocol run (a missing file reads as 0). Nor is
/// the compare-and-write atomic across processes. See [`MonotonicCounter`] for the real
/// stores that replace it.
#[derive(Debug)]
pub struct FileCounter {
    path: PathBuf,
}

impl FileCounter {
    /// The counter in `path` (read when used; a missing file is a counter at 0).
    pub fn at(path: &Path) -> Self {
        FileCounter {
            path: path.to_path_buf(),
        }
    }

    fn io(&self, source: std::io::Error) -> CounterError {
        CounterError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }
}

impl MonotonicCounter for FileCounter {
    fn read(&self) -> Result<CounterState, CounterError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CounterState::default())
            }
            Err(e) => return Err(self.io(e)),
        };
        let bad = || CounterError::BadFile {
            path: self.path.display().to_string(),
        };
        if bytes.len() != COUNTER_FILE_BYTES {
            return Err(bad());
        }
        let (value, tag) = bytes.split_at(8);
        Ok(CounterState {
            value: u64::from_le_bytes(value.try_into().map_err(|_| bad())?),
            tag: tag.try_into().map_err(|_| bad())?,
        })
    }

    fn advance_to(&mut self, from: &CounterState, to: &CounterState) -> Result<(), CounterError> {
        check_advance(&self.read()?, from, to)?;
        let mut bytes = [0u8; COUNTER_FILE_BYTES];
        bytes[..8].copy_from_slice(&to.value.to_le_bytes());
        bytes[8..].copy_from_slice(&to.tag);
        crate::fs::write_atomic(&self.path, &bytes).map_err(|e| self.io(e))
    }
}

/// **SIMULATED** TEE hardware: seal secret, quoting enclave, measurement, monotonic counter,
/// cycle counter, randomness. See the module docs for what a real platform provides instead.
pub struct SimulatedPlatform {
    /// Stands in for the CPU's fused seal secret. Never leaves this type.
    seal_secret: Zeroizing<[u8; 32]>,
    /// The code identity of the running enclave (sha256 of the simulated worker "binary").
    measurement: [u8; 32],
    /// Signs reports; on a real machine this is Intel's quoting enclave.
    quoting_enclave: SimulatedQuotingEnclave,
    /// The replay-protected counter sealed state is committed to.
    counter: Box<dyn MonotonicCounter>,
    /// Origin of the cycle counter.
    epoch: Instant,
}

impl SimulatedPlatform {
    /// A simulated platform with the given seal secret, enclave measurement and quoting enclave,
    /// and a fresh in-memory counter (replace it with [`Self::with_counter`]).
    pub fn new(
        seal_secret: [u8; 32],
        measurement: [u8; 32],
        quoting_enclave: SimulatedQuotingEnclave,
    ) -> Self {
        SimulatedPlatform {
            seal_secret: Zeroizing::new(seal_secret),
            measurement,
            quoting_enclave,
            counter: Box::new(MemoryCounter::new()),
            epoch: Instant::now(),
        }
    }

    /// This platform with `counter` as its monotonic counter (the machine's one counter: every
    /// enclave started on this machine must get the same one).
    pub fn with_counter(mut self, counter: impl MonotonicCounter + 'static) -> Self {
        self.counter = Box::new(counter);
        self
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

    /// The dev platform of the worker whose data directory is `dir`: its "fused" secret in
    /// [`SECRET_FILE`] (created with a fresh random secret, owner-readable only, if absent) and
    /// its monotonic counter in [`COUNTER_FILE`]. SIMULATED: a file is no fuse, and a counter
    /// the host can rewrite is no counter.
    pub fn dev_in(dir: &Path) -> Result<Self, PlatformError> {
        let path = dir.join(SECRET_FILE);
        let shown = path.display().to_string();
        let io = |source| PlatformError::Io {
            path: shown.clone(),
            source,
        };
        let counter = FileCounter::at(&dir.join(COUNTER_FILE));
        if path.exists() {
            let bytes = Zeroizing::new(std::fs::read(&path).map_err(io)?);
            let secret: [u8; 32] =
                bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| PlatformError::BadSecretFile {
                        path: shown.clone(),
                    })?;
            return Ok(SimulatedPlatform::dev(secret).with_counter(counter));
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(secret.as_mut());
        crate::fs::write_private(&path, secret.as_ref()).map_err(io)?;
        Ok(SimulatedPlatform::dev(*secret).with_counter(counter))
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

    /// Where the monotonic counter stands (for the enclave only).
    pub(crate) fn read_counter(&self) -> Result<CounterState, CounterError> {
        self.counter.read()
    }

    /// Commits: moves the monotonic counter from `from` to `to` (for the enclave only).
    pub(crate) fn advance_counter(
        &mut self,
        from: &CounterState,
        to: &CounterState,
    ) -> Result<(), CounterError> {
        self.counter.advance_to(from, to)
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

    /// The platform's random-number instruction as an RNG, for enclave logic that takes one
    /// (fresh master keys).
    pub(crate) fn rng(&self) -> impl rand_core::RngCore + rand_core::CryptoRng {
        OsRng
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
        let first = SimulatedPlatform::dev_in(dir.path()).expect("created");
        let second = SimulatedPlatform::dev_in(dir.path()).expect("read back");
        assert_eq!(first.seal_secret(), second.seal_secret());
        std::fs::write(dir.path().join(SECRET_FILE), [1, 2, 3]).expect("truncate");
        assert!(matches!(
            SimulatedPlatform::dev_in(dir.path()),
            Err(PlatformError::BadSecretFile { .. })
        ));
    }

    fn state(value: u64, tag: u8) -> CounterState {
        CounterState {
            value,
            tag: [tag; 32],
        }
    }

    /// Both counters: start at 0, move one step at a time from exactly where they are, and
    /// refuse a stale `from` (another instance committed) or a jump, changing nothing.
    fn check_counter(counter: &mut dyn MonotonicCounter) {
        assert_eq!(counter.read().expect("reads"), CounterState::default());
        counter
            .advance_to(&CounterState::default(), &state(1, 1))
            .expect("one step");
        assert_eq!(counter.read().expect("reads"), state(1, 1));
        // A second instance that still believes the counter is at 0.
        assert!(matches!(
            counter.advance_to(&CounterState::default(), &state(1, 2)),
            Err(CounterError::Moved {
                expected: 0,
                found: 1
            })
        ));
        // The right value with another tag is another state.
        assert!(matches!(
            counter.advance_to(&state(1, 9), &state(2, 2)),
            Err(CounterError::Moved { .. })
        ));
        for to in [state(1, 2), state(3, 2), state(0, 0)] {
            assert!(matches!(
                counter.advance_to(&state(1, 1), &to),
                Err(CounterError::NotOneStep { .. })
            ));
        }
        assert_eq!(counter.read().expect("reads"), state(1, 1));
        counter
            .advance_to(&state(1, 1), &state(2, 7))
            .expect("one step");
        assert_eq!(counter.read().expect("reads"), state(2, 7));
    }

    #[test]
    fn the_memory_counter_moves_one_step_from_where_it_is_and_clones_share_it() {
        let mut counter = MemoryCounter::new();
        let clone = counter.clone();
        check_counter(&mut counter);
        assert_eq!(clone.read().expect("reads"), state(2, 7));
    }

    #[test]
    fn the_simulated_counter_file_moves_one_step_and_refuses_a_bad_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(COUNTER_FILE);
        let mut counter = FileCounter::at(&path);
        check_counter(&mut counter);
        // Another handle on the same file (a restarted worker) reads what was committed.
        assert_eq!(FileCounter::at(&path).read().expect("reads"), state(2, 7));
        let bytes = std::fs::read(&path).expect("the file");
        assert_eq!(bytes.len(), COUNTER_FILE_BYTES);
        assert_eq!(bytes[..8], 2u64.to_le_bytes());
        std::fs::write(&path, [0u8; 7]).expect("truncate");
        let err = FileCounter::at(&path).read().expect_err("bad file");
        assert!(matches!(err, CounterError::BadFile { .. }), "{err}");
        assert!(err.to_string().contains("SIMULATED"));
        // The platform built on a data directory uses this file.
        std::fs::remove_file(&path).expect("remove");
        let mut platform = SimulatedPlatform::dev_in(dir.path()).expect("platform");
        platform
            .advance_counter(&CounterState::default(), &state(1, 3))
            .expect("advances");
        assert_eq!(FileCounter::at(&path).read().expect("reads"), state(1, 3));
    }
}
