//! Upgrades: the running enclave build hands its whole state to a newer build that governance
//! approved, by an attested handover, never by letting the new build unseal the old one's files.
//!
//! Sealing is bound to the measurement ([`super::sealing`]), so a new build (measurement M2)
//! cannot read what the running one (M1) sealed. A TCB or SVN change (a microcode update) does
//! not change the seal key, so it needs nothing; only a measurement change needs this.
//!
//! # Protocol (both enclaves on one platform, the host relaying)
//! 1. **Request.** M2 starts as a [`Successor`]: it makes a transient X25519 handover key from
//!    platform randomness and asks the platform's quoting enclave for a quote whose report data
//!    is [`handover_report_data`] of that key. [`HandoverRequest`] carries the public key and the
//!    quote; the secret never leaves the successor.
//! 2. **Check.** M1 gets [`super::Ecall::HandOver`] with the request, the chain's attestation
//!    policy and its state proof. Cheap checks first, each refusal leaving M1 unchanged: M1 is
//!    pinned and has nothing pending; the quote decodes strictly and verifies under M1's own
//!    platform quoting root (a forged or tampered quote fails); its report data binds the
//!    offered handover key (a quote taken for another key fails); the policy decodes strictly
//!    and the proof shows it at `registry/policy` in M1's verified head; the policy accepts the
//!    quote's claims (allowed measurement, debug flag, TCB), with the registration freeze
//!    lifted, since a freeze stops new workers, not upgrades of registered ones; the measurement
//!    is not M1's own.
//! 3. **Retire.** M1 records that it handed over (to M2's measurement) and seals that as a
//!    pending transition; the package is the output it holds back. The host stores the blob
//!    and commits, and the commit releases the package. From then on M1 signs nothing (no
//!    message, no registration): one identity never has two live builds. A retired M1 that is
//!    restarted can hand over again (to a fresh successor), with no new transition, so an
//!    upgrade interrupted by a crash is simply run again.
//! 4. **Adopt.** The same successor opens the package ([`Successor::adopt`]): the header must
//!    name its measurement and its handover key, the key envelope must open with its secret, and
//!    the platform counter must still be exactly where the package says M1 committed it (so a
//!    package from an earlier handover, after M2 moved on, or from another machine, is refused).
//!    It adopts M1's identity and encryption keys, outbox (next sequences) and chain progress,
//!    and seals them under M2 for the next counter value, pending its commit. The worker keeps
//!    its on-chain identity and registration; M2 re-registers with its own quote.
//!
//! # Package
//! ```text
//! header   = MAGIC (8) ‖ VERSION (1) ‖ from measurement (32) ‖ to measurement (32)
//!            ‖ handover key (32) ‖ counter value (8, big-endian) ‖ counter tag (32)
//! package  = header ‖ key envelope (80) ‖ ChaCha20-Poly1305(K, nonce 0, aad = header, state)
//! envelope = phalanx_keys::seal_key(handover key, HANDOVER_KEY_LABEL, aad = header, K,
//!                                   fresh random seed)          (RFC 9180 HPKE, X25519)
//! ```
//! `K` is 32 fresh random bytes used for this one package (hence the fixed nonce); `state` is
//! the SCALE-encoded sealed state. Everything in the header is authenticated twice (HPKE aad and
//! AEAD aad), so a relabelled package does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use parity_scale_codec::Encode;
use phalanx_attestation::{AttestationError, AttestationPolicy, PolicyError};
use phalanx_keys::Envelope;
use phalanx_primitives::{decode_strict, CodecError};
use sha2::{Digest, Sha512};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};
use zeroize::Zeroizing;

use super::platform::{CounterState, SimulatedPlatform};
use super::SealedState;

/// Domain of [`handover_report_data`].
pub const HANDOVER_REPORT_DOMAIN: &[u8] = b"phalanx/worker/handover-report-data/v1";
/// The label of the key envelope (HPKE `info` after phalanx-keys' own prefix).
pub const HANDOVER_KEY_LABEL: &[u8] = b"phalanx/worker/handover-key/v1";
/// First bytes of every package.
pub const MAGIC: &[u8; 8] = b"PHXHAND\0";
/// The package format version.
pub const VERSION: u8 = 1;
/// Header length: magic, version, two measurements, handover key, counter value and tag.
pub const HEADER_LEN: usize = 8 + 1 + 32 + 32 + 32 + 8 + 32;
/// Length of the key envelope: an X25519 `enc`, a 32-byte key and its tag.
pub const ENVELOPE_LEN: usize = 32 + 32 + 16;
/// Length of the state's Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Largest package accepted (a sealed state's limit plus the framing).
pub const MAX_PACKAGE_BYTES: usize = super::sealing::MAX_SEALED_BYTES + HEADER_LEN + ENVELOPE_LEN;
/// Largest attestation policy decoded.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Why a handover was refused. Nothing changed on either side.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The successor's quote does not decode or verify (forged, tampered, unknown root).
    #[error("the successor's quote does not verify: {0}; start the new build on this platform and relay its request unchanged")]
    Quote(AttestationError),
    /// The quote does not bind the offered handover key.
    #[error("the successor's quote binds another handover key than the one offered; relay the new build's request unchanged")]
    NotBound,
    /// The policy bytes do not decode.
    #[error("the attestation policy bytes are malformed ({0}); relay the chain's policy exactly as the node serves it")]
    MalformedPolicy(CodecError),
    /// The chain's policy does not accept the successor.
    #[error("the chain's attestation policy does not allow the new build: {0}; governance must add its measurement to the allowed measurements first")]
    NotAllowed(PolicyError),
    /// The successor runs the same build as this enclave.
    #[error("the successor runs this same build; a restart needs no handover")]
    ToSelf,
    /// The handover key is unusable (a low-order X25519 point).
    #[error("the handover key is unusable ({0}); start the new build again for a fresh request")]
    BadKey(phalanx_keys::Error),
    /// The platform counter could not be read.
    #[error("cannot read the platform counter to check the handover package: {0}")]
    Counter(String),
    /// The successor already adopted a package.
    #[error("this successor already adopted a handover package; start a new one for another")]
    Spent,
    /// Too short, too long, or not a handover package.
    #[error("the handover package is not one (wrong magic, version or size); relay the package the old build released unchanged")]
    NotAPackage,
    /// The package is for another build.
    #[error("the handover package is for build {to}, but this enclave is {running}; start the build it names")]
    OtherMeasurement {
        /// The measurement it is for, hex.
        to: String,
        /// This enclave's measurement, hex.
        running: String,
    },
    /// The package is sealed to another successor's handover key.
    #[error("the handover package is sealed to another successor's handover key; ask the old build to hand over to this successor's request")]
    OtherRecipient,
    /// The package does not open (tampered).
    #[error("the handover package does not open: it was tampered with; ask the old build to hand over again")]
    NotOpened,
    /// The package opened but its state does not decode (a bug in the old build).
    #[error("the handover package's state is malformed ({0}); the old and new builds disagree on the state format")]
    Malformed(String),
    /// The platform counter is not where the package says the old build committed it.
    #[error("the handover package was released at counter {package}, but this platform's counter is at {current}: it is stale (the worker moved on since) or from another machine; hand over again from the current state")]
    Stale {
        /// The counter value in the package.
        package: u64,
        /// The platform counter.
        current: u64,
    },
}

/// What a successor sends the running build: its handover key and a quote binding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoverRequest {
    /// The transient X25519 key the state is sealed to.
    pub handover_key: [u8; 32],
    /// The SCALE-encoded quote whose report data is [`handover_report_data`] of the key.
    pub quote: Vec<u8>,
}

/// The report data of a handover quote: `SHA-512(HANDOVER_REPORT_DOMAIN ‖ handover key)`.
/// Its own domain, so a registration quote can never pass for a handover quote or back.
pub fn handover_report_data(handover_key: &[u8; 32]) -> [u8; 64] {
    Sha512::new()
        .chain_update(HANDOVER_REPORT_DOMAIN)
        .chain_update(handover_key)
        .finalize()
        .into()
}

/// Step 2 (module docs): checks a successor's request against the chain's policy (already
/// proven by the caller) and this platform's quoting root; returns the successor's measurement.
pub(super) fn check_request(
    platform: &SimulatedPlatform,
    handover_key: &[u8; 32],
    quote: &[u8],
    policy: &AttestationPolicy,
) -> Result<[u8; 32], HandoverError> {
    let claims =
        phalanx_attestation::verify::verify_encoded(quote, None, 0, &[platform.quoting_root()])
            .map_err(HandoverError::Quote)?;
    if claims.report_data != handover_report_data(handover_key) {
        return Err(HandoverError::NotBound);
    }
    let upgrade = AttestationPolicy {
        registration_frozen: false,
        ..policy.clone()
    };
    upgrade
        .evaluate(&claims)
        .map_err(HandoverError::NotAllowed)?;
    if claims.measurement == platform.measurement() {
        return Err(HandoverError::ToSelf);
    }
    Ok(claims.measurement)
}

/// Decodes the policy bytes the host relays (the caller proves them).
pub(super) fn decode_policy(bytes: &[u8]) -> Result<AttestationPolicy, HandoverError> {
    decode_strict(bytes, MAX_POLICY_BYTES).map_err(HandoverError::MalformedPolicy)
}

fn header(
    from: &[u8; 32],
    to: &[u8; 32],
    handover_key: &[u8; 32],
    at: &CounterState,
) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8] = VERSION;
    header[9..41].copy_from_slice(from);
    header[41..73].copy_from_slice(to);
    header[73..105].copy_from_slice(handover_key);
    header[105..113].copy_from_slice(&at.value.to_be_bytes());
    header[113..].copy_from_slice(&at.tag);
    header
}

/// Seals `state` to the successor (format in the module docs), naming the counter state `at`
/// the old build committed (or will have committed when the package is released).
pub(super) fn package(
    platform: &SimulatedPlatform,
    to: &[u8; 32],
    handover_key: &[u8; 32],
    at: &CounterState,
    state: &SealedState,
) -> Result<Vec<u8>, HandoverError> {
    let header = header(&platform.measurement(), to, handover_key, at);
    let key = Zeroizing::new(platform.random_32());
    let seed = Zeroizing::new(platform.random_32());
    let envelope = phalanx_keys::seal_key(handover_key, HANDOVER_KEY_LABEL, &header, &key, &seed)
        .map_err(HandoverError::BadKey)?;
    let plaintext = Zeroizing::new(state.encode());
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: &plaintext,
                aad: &header,
            },
        )
        .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
    let envelope = envelope.to_bytes();
    let mut package = Vec::with_capacity(HEADER_LEN + envelope.len() + ciphertext.len());
    package.extend_from_slice(&header);
    package.extend_from_slice(&envelope);
    package.extend_from_slice(&ciphertext);
    Ok(package)
}

/// The new build before it holds any state: a transient handover key and the platform (see the
/// module docs, steps 1 and 4). Dropping it forgets the key, and with it every package sealed
/// to it.
pub struct Successor {
    /// Taken by the enclave the successor becomes; `None` once it adopted a package.
    platform: Option<SimulatedPlatform>,
    secret: StaticSecret,
    public: [u8; 32],
}

impl core::fmt::Debug for Successor {
    // Public facts only.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Successor")
            .field("trust", &"SIMULATED")
            .field(
                "measurement",
                &self.platform.as_ref().map(|p| hex::encode(p.measurement())),
            )
            .field("handover_key", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

impl Successor {
    /// Step 1: a new build on `platform` asks for the running build's state.
    pub fn new(platform: SimulatedPlatform) -> (Successor, HandoverRequest) {
        let secret = StaticSecret::from(platform.random_32());
        let public = X25519Public::from(&secret).to_bytes();
        let quote = platform.quote(handover_report_data(&public));
        let request = HandoverRequest {
            handover_key: public,
            quote,
        };
        (
            Successor {
                platform: Some(platform),
                secret,
                public,
            },
            request,
        )
    }

    /// Step 4: opens `package` and becomes the enclave it describes, with its state sealed under
    /// this build for the next counter value (store and commit the [`super::Pending`] blob
    /// before anything else). A refused package changes nothing; once a package is adopted the
    /// successor is spent.
    pub fn adopt(&mut self, package: &[u8]) -> super::Result<(super::Enclave, super::Pending)> {
        let platform = self.platform.as_ref().ok_or(HandoverError::Spent)?;
        let state = Self::open(platform, &self.secret, &self.public, package)?;
        let current = platform.read_counter()?;
        let platform = self.platform.take().ok_or(HandoverError::Spent)?;
        super::Enclave::adopt(platform, state, current)
    }

    fn open(
        platform: &SimulatedPlatform,
        secret: &StaticSecret,
        public: &[u8; 32],
        package: &[u8],
    ) -> Result<SealedState, HandoverError> {
        if package.len() < HEADER_LEN + ENVELOPE_LEN + TAG_LEN
            || package.len() > MAX_PACKAGE_BYTES
            || &package[..8] != MAGIC
            || package[8] != VERSION
        {
            return Err(HandoverError::NotAPackage);
        }
        let (header, rest) = package.split_at(HEADER_LEN);
        let running = platform.measurement();
        if header[41..73] != running {
            return Err(HandoverError::OtherMeasurement {
                to: hex::encode(&header[41..73]),
                running: hex::encode(running),
            });
        }
        if header[73..105] != *public {
            return Err(HandoverError::OtherRecipient);
        }
        let (envelope, ciphertext) = rest.split_at(ENVELOPE_LEN);
        let envelope = Envelope::from_bytes(envelope).map_err(|_| HandoverError::NotOpened)?;
        let key = phalanx_keys::open_key(
            &Zeroizing::new(secret.to_bytes()),
            HANDOVER_KEY_LABEL,
            header,
            &envelope,
        )
        .map_err(|_| HandoverError::NotOpened)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
        let plaintext = cipher
            .decrypt(
                Nonce::from_slice(&[0u8; 12]),
                Payload {
                    msg: ciphertext,
                    aad: header,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| HandoverError::NotOpened)?;
        // Believed only now that the header authenticated.
        let mut value = [0u8; 8];
        value.copy_from_slice(&header[105..113]);
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&header[113..]);
        let at = CounterState {
            value: u64::from_be_bytes(value),
            tag,
        };
        let current = platform
            .read_counter()
            .map_err(|e| HandoverError::Counter(e.to_string()))?;
        if current != at {
            return Err(HandoverError::Stale {
                package: at.value,
                current: current.value,
            });
        }
        decode_strict(&plaintext, super::MAX_STATE_BYTES)
            .map_err(|e| HandoverError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phalanx_attestation::SimulatedQuotingEnclave;
    use proptest::prelude::*;

    /// Pins the header layout: a change here is a format change and needs a new VERSION.
    #[test]
    fn golden_header_layout() {
        let at = CounterState {
            value: 0x0102_0304_0506_0708,
            tag: [4; 32],
        };
        let header = header(&[1; 32], &[2; 32], &[3; 32], &at);
        let expected = [
            hex::encode(b"PHXHAND\0"),
            "01".into(),
            "01".repeat(32),
            "02".repeat(32),
            "03".repeat(32),
            "0102030405060708".into(),
            "04".repeat(32),
        ]
        .concat();
        assert_eq!(hex::encode(header), expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever bytes a host relays as a package, the successor refuses them without
        /// panicking, and stays usable.
        #[test]
        fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (mut successor, request) = Successor::new(platform(m2()));
            prop_assert!(successor.adopt(&bytes).is_err());
            // Framed with a header that names this successor: it must still not open.
            let mut framed =
                header(&[0; 32], &m2(), &request.handover_key, &CounterState::default()).to_vec();
            framed.extend_from_slice(&bytes);
            prop_assert!(successor.adopt(&framed).is_err());
            prop_assert!(successor.platform.is_some());
        }
    }

    #[test]
    fn the_report_data_is_pinned_and_differs_from_a_registration() {
        // SHA-512("phalanx/worker/handover-report-data/v1" ‖ 0x01 × 32), computed independently.
        assert_eq!(
            hex::encode(handover_report_data(&[1; 32])),
            "64d6b4935336aae8f4c7efedac890c089ce5cd334ec76f7731542389c0dc58a4bf679e75ecc0f2211e3e160c88e4afd735e4bcda65634148eb45dd600b6a61b1"
        );
        assert_ne!(
            handover_report_data(&[1; 32]),
            phalanx_attestation::report_data(&[1; 32], &[0; 32], &[0; 32], &[0; 32])
        );
    }

    fn m2() -> [u8; 32] {
        phalanx_attestation::measure_worker_binary(b"phalanx-worker/simulated v2")
    }

    fn platform(measurement: [u8; 32]) -> SimulatedPlatform {
        SimulatedPlatform::new(
            [5; 32],
            measurement,
            phalanx_runtime::genesis::dev_quoting_enclave(),
        )
    }

    fn policy() -> AttestationPolicy {
        phalanx_runtime::genesis::dev_attestation_policy().with_measurement(m2())
    }

    #[test]
    fn a_request_is_checked_against_the_quote_the_key_and_the_policy() {
        let old = SimulatedPlatform::dev([5; 32]);
        let (_, request) = Successor::new(platform(m2()));
        assert_eq!(
            check_request(&old, &request.handover_key, &request.quote, &policy())
                .expect("approved"),
            m2()
        );
        // A freeze of registrations does not stop an upgrade.
        let frozen = AttestationPolicy {
            registration_frozen: true,
            ..policy()
        };
        assert!(check_request(&old, &request.handover_key, &request.quote, &frozen).is_ok());
        // Not in the policy.
        let err = check_request(
            &old,
            &request.handover_key,
            &request.quote,
            &phalanx_runtime::genesis::dev_attestation_policy(),
        )
        .expect_err("not allowed");
        assert!(
            matches!(
                err,
                HandoverError::NotAllowed(PolicyError::MeasurementNotAllowed { .. })
            ),
            "{err}"
        );
        // Another key than the quote binds.
        assert!(matches!(
            check_request(&old, &[9; 32], &request.quote, &policy()),
            Err(HandoverError::NotBound)
        ));
        // Signed by a quoting enclave that is not this platform's.
        let rogue = SimulatedQuotingEnclave::from_seed([66; 32]);
        let mut report = phalanx_attestation::SimulatedReport::for_worker(
            b"",
            handover_report_data(&request.handover_key),
        );
        report.measurement = m2();
        let forged = rogue.quote(report).encode();
        assert!(matches!(
            check_request(&old, &request.handover_key, &forged, &policy()),
            Err(HandoverError::Quote(_))
        ));
        // To itself.
        let (_, same) = Successor::new(SimulatedPlatform::dev([5; 32]));
        assert!(matches!(
            check_request(&old, &same.handover_key, &same.quote, &policy()),
            Err(HandoverError::ToSelf)
        ));
    }
}
