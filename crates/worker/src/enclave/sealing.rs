//! Sealing: encrypting the enclave's state so only the same enclave on the same platform can
//! read it back, stamped with the platform counter value it is committed at.
//!
//! ```text
//! seal key = HKDF-SHA256(ikm  = platform seal secret,
//!                        salt = measurement,
//!                        info = SEAL_KEY_INFO)
//! blob     = MAGIC (8) ‖ VERSION (1) ‖ measurement (32) ‖ counter (8, big-endian)
//!            ‖ nonce (12) ‖ ChaCha20-Poly1305(plaintext)
//! AAD      = MAGIC ‖ VERSION ‖ measurement ‖ counter      (the blob's whole header)
//! tag      = SHA-256(TAG_DOMAIN ‖ blob)                   (what the platform counter stores)
//! ```
//!
//! `counter` is the platform counter value the blob is committed at (see [`crate::enclave`],
//! "Sealed state"): it sits in the header so it can be read without the key, and in the AAD so
//! it is believed only after the blob authenticates. Version 2 added it; version-1 blobs (no
//! counter, no rollback protection) are refused. Version 3's plaintext adds the contracts the
//! enclave runs (their progress and state); a version-2 blob is refused with a message that
//! says so rather than failing to decode.
//!
//! Invariants:
//! - The key depends on the platform secret and the measurement only, so another enclave build
//!   (even on the same machine) derives another key; the measurement also sits in the
//!   authenticated header, so such a blob is refused with [`SealError::OtherMeasurement`]
//!   before any decryption is tried. A new build gets the old one's state by an attested
//!   handover, never by unsealing.
//! - The key does **not** depend on the platform's TCB level or security version (SVN): a
//!   microcode or firmware update leaves every blob readable and the worker's identity intact.
//!   On SGX the key request names the CPU SVN a blob was sealed under, and `EGETKEY` derives
//!   keys for any SVN up to the current one, so a real build records that SVN in its header
//!   and reseals under the new SVN at its next commit; a TCB downgrade cannot read blobs sealed
//!   after an upgrade.
//! - Any change to the header or ciphertext fails authentication ([`SealError::Tampered`]).
//! - The nonce is 96 random bits per sealing; a worker seals far fewer than 2^32 times under one
//!   key, so a collision is negligible. Each sealing therefore also has its own [`tag`].
//! - Unsealing untrusted bytes never panics (property-tested) and returns nothing partial.
//!
//! On real hardware the platform seal secret is `EGETKEY` (SGX, `MRENCLAVE` policy) or the TD's
//! sealing key; the format stays the same.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::platform::SimulatedPlatform;

/// First bytes of every sealed blob.
pub const MAGIC: &[u8; 8] = b"PHXSEAL\0";
/// The sealed format version this enclave writes and reads.
pub const VERSION: u8 = 3;
/// HKDF info string of the seal key.
pub const SEAL_KEY_INFO: &[u8] = b"phalanx/worker/seal-key/v1";
/// Domain of a blob's [`tag`].
pub const TAG_DOMAIN: &[u8] = b"phalanx/worker/sealed-tag/v1";
/// Header length: magic, version, measurement, counter.
pub const HEADER_LEN: usize = 8 + 1 + 32 + 8;
/// Length of the random nonce after the header.
pub const NONCE_LEN: usize = 12;
/// Length of the Poly1305 tag at the end.
pub const TAG_LEN: usize = 16;
/// Largest sealed blob accepted (the state is a few KiB plus the outbox; this bounds what the
/// host can feed).
pub const MAX_SEALED_BYTES: usize = 1 << 20;
/// Largest plaintext whose sealed blob stays within [`MAX_SEALED_BYTES`], so that [`unseal`]
/// takes it back.
pub const MAX_PLAINTEXT_BYTES: usize = MAX_SEALED_BYTES - HEADER_LEN - NONCE_LEN - TAG_LEN;

/// Why sealed bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Too short, too long or without the sealed-state magic.
    #[error("the sealed state file is not a phalanx sealed blob (wrong magic or size); restore the worker's own sealed file or delete it to start a new identity")]
    NotSealed,
    /// Written by another format version.
    #[error("the sealed state uses format version {found}, this worker reads version {VERSION}; run the worker release that wrote it, or delete the file to start a new identity")]
    UnsupportedVersion {
        /// The blob's version.
        found: u8,
    },
    /// Sealed by another enclave build.
    #[error("the sealed state belongs to enclave measurement {sealed_for}, but this enclave is {running}; only the same worker build can unseal it (upgrade by an attested handover from that build, or delete the file to start a new identity)")]
    OtherMeasurement {
        /// The measurement in the blob's header, hex.
        sealed_for: String,
        /// This enclave's measurement, hex.
        running: String,
    },
    /// Authentication failed: the blob was modified, or comes from another platform.
    #[error("the sealed state failed authentication: it was tampered with or sealed on another machine; restore the worker's own sealed file or delete it to start a new identity")]
    Tampered,
}

/// An authenticated blob's content.
pub struct Unsealed {
    /// The platform counter value it was sealed for.
    pub counter: u64,
    /// The sealed plaintext.
    pub plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Unsealed {
    // The plaintext holds the enclave's secrets: its length only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unsealed")
            .field("counter", &self.counter)
            .field("plaintext_bytes", &self.plaintext.len())
            .finish()
    }
}

/// Derives the seal key for this platform and measurement.
fn seal_key(platform: &SimulatedPlatform, measurement: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let hkdf = Hkdf::<Sha256>::new(Some(measurement), platform.seal_secret());
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf.expand(SEAL_KEY_INFO, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

fn header(measurement: &[u8; 32], counter: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8] = VERSION;
    header[9..41].copy_from_slice(measurement);
    header[41..].copy_from_slice(&counter.to_be_bytes());
    header
}

/// Seals `plaintext` under the platform's key for its measurement, for counter value `counter`.
pub fn seal(platform: &SimulatedPlatform, counter: u64, plaintext: &[u8]) -> Vec<u8> {
    let measurement = platform.measurement();
    let key = seal_key(platform, &measurement);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let header = header(&measurement, counter);
    let nonce = platform.random_12();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &header,
            },
        )
        .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
    let mut blob = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
    blob.extend_from_slice(&header);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    blob
}

/// The tag the platform counter stores for a committed `blob`.
pub fn tag(blob: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(TAG_DOMAIN)
        .chain_update(blob)
        .finalize()
        .into()
}

/// Unseals a blob from the untrusted host (rules in the module docs). Never panics. Says
/// nothing about freshness: the caller compares [`Unsealed::counter`] and [`tag`] with the
/// platform counter.
pub fn unseal(platform: &SimulatedPlatform, blob: &[u8]) -> Result<Unsealed, SealError> {
    if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN
        || blob.len() > MAX_SEALED_BYTES
        || &blob[..8] != MAGIC
    {
        return Err(SealError::NotSealed);
    }
    if blob[8] != VERSION {
        return Err(SealError::UnsupportedVersion { found: blob[8] });
    }
    let measurement = platform.measurement();
    if blob[9..41] != measurement {
        return Err(SealError::OtherMeasurement {
            sealed_for: hex::encode(&blob[9..41]),
            running: hex::encode(measurement),
        });
    }
    let key = seal_key(platform, &measurement);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let (header, rest) = blob.split_at(HEADER_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let plaintext = cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Tampered)?;
    let mut counter = [0u8; 8];
    counter.copy_from_slice(&header[41..]);
    Ok(Unsealed {
        counter: u64::from_be_bytes(counter),
        plaintext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn platform(secret: u8) -> SimulatedPlatform {
        SimulatedPlatform::dev([secret; 32])
    }

    #[test]
    fn round_trips_and_each_sealing_differs() {
        let p = platform(1);
        let a = seal(&p, 7, b"state");
        let b = seal(&p, 7, b"state");
        assert_ne!(a, b, "fresh nonce each time");
        assert_ne!(tag(&a), tag(&b), "so each sealing has its own tag");
        for blob in [&a, &b] {
            let unsealed = unseal(&p, blob).expect("unseals");
            assert_eq!(unsealed.plaintext.as_slice(), b"state");
            assert_eq!(unsealed.counter, 7);
        }
    }

    /// Pins the blob layout: a change here is a format change and needs a new VERSION.
    #[test]
    fn golden_header_layout() {
        let p = platform(1);
        let blob = seal(&p, 0x0102_0304_0506_0708, b"");
        assert_eq!(blob.len(), HEADER_LEN + NONCE_LEN + TAG_LEN);
        assert_eq!(&blob[..9], b"PHXSEAL\0\x03");
        assert_eq!(blob[9..41], p.measurement());
        assert_eq!(hex::encode(&blob[41..49]), "0102030405060708");
        assert_eq!(
            hex::encode(p.measurement()),
            hex::encode(phalanx_attestation::measure_worker_binary(
                b"phalanx-worker/simulated"
            ))
        );
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let p = platform(1);
        let blob = seal(&p, 3, b"some enclave state");
        for i in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[i] ^= 0x01;
            assert!(unseal(&p, &tampered).is_err(), "byte {i}");
        }
    }

    #[test]
    fn another_machine_cannot_unseal() {
        let blob = seal(&platform(1), 1, b"keys");
        assert_eq!(unseal(&platform(2), &blob).err(), Some(SealError::Tampered));
    }

    #[test]
    fn another_measurement_is_refused_even_when_relabelled() {
        let p = platform(1);
        let other = SimulatedPlatform::new(
            [1; 32],
            [0xee; 32],
            phalanx_runtime::genesis::dev_quoting_enclave(),
        );
        let blob = seal(&other, 1, b"keys");
        let err = unseal(&p, &blob).expect_err("refused");
        assert!(matches!(err, SealError::OtherMeasurement { .. }));
        assert!(err.to_string().contains("measurement"));
        // Rewriting the header to claim our measurement does not help: the key differs too.
        let mut relabelled = blob.clone();
        relabelled[9..41].copy_from_slice(&p.measurement());
        assert_eq!(unseal(&p, &relabelled).err(), Some(SealError::Tampered));
    }

    /// A host that edits the counter in the header (to pass an old blob off as current) breaks
    /// its authentication: the counter is believed only with the blob.
    #[test]
    fn the_counter_cannot_be_edited() {
        let p = platform(1);
        let blob = seal(&p, 4, b"state at 4");
        let mut edited = blob.clone();
        edited[41..49].copy_from_slice(&9u64.to_be_bytes());
        assert_eq!(unseal(&p, &edited).err(), Some(SealError::Tampered));
    }

    #[test]
    fn the_tag_is_pinned() {
        // SHA-256("phalanx/worker/sealed-tag/v1" ‖ "blob"), computed independently.
        assert_eq!(
            hex::encode(tag(b"blob")),
            "a7de7cfd4a84c7b3e82aa380c2f69de6b6dfd45ba9212f9c2ec8e18452451df4"
        );
    }

    #[test]
    fn short_foreign_and_future_blobs_are_refused() {
        let p = platform(1);
        assert_eq!(unseal(&p, b"").err(), Some(SealError::NotSealed));
        assert_eq!(unseal(&p, &[0u8; 100]).err(), Some(SealError::NotSealed));
        assert_eq!(
            unseal(&p, &vec![0u8; MAX_SEALED_BYTES + 1]).err(),
            Some(SealError::NotSealed)
        );
        for version in [1, 2, 4] {
            let mut other = seal(&p, 1, b"x");
            other[8] = version;
            assert_eq!(
                unseal(&p, &other).err(),
                Some(SealError::UnsupportedVersion { found: version })
            );
        }
    }

    proptest! {
        #[test]
        fn unsealing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = platform(3);
            prop_assert!(unseal(&p, &bytes).is_err());
            let mut with_header = header(&p.measurement(), 1).to_vec();
            with_header.extend_from_slice(&bytes);
            prop_assert!(unseal(&p, &with_header).is_err());
        }
    }
}
