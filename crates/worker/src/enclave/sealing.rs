//! Sealing: encrypting the enclave's state so only the same enclave on the same platform can
//! read it back.
//!
//! ```text
//! seal key = HKDF-SHA256(ikm  = platform seal secret,
//!                        salt = measurement,
//!                        info = SEAL_KEY_INFO)
//! blob     = MAGIC (8) ‖ VERSION (1) ‖ measurement (32) ‖ nonce (12) ‖ ChaCha20-Poly1305(plaintext)
//! AAD      = MAGIC ‖ VERSION ‖ measurement          (the blob's whole header)
//! ```
//!
//! Invariants:
//! - The key depends on the measurement, so another enclave build (even on the same machine)
//!   derives another key; the measurement also sits in the authenticated header, so such a blob
//!   is refused with [`SealError::OtherMeasurement`] before any decryption is tried.
//! - Any change to the header or ciphertext fails authentication ([`SealError::Tampered`]).
//! - The nonce is 96 random bits per sealing; a worker seals far fewer than 2^32 times under one
//!   key, so a collision is negligible.
//! - Unsealing untrusted bytes never panics (property-tested) and returns nothing partial.
//!
//! On real hardware the platform seal secret is `EGETKEY` (SGX, `MRENCLAVE` policy) or the TD's
//! sealing key; the format stays the same.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::platform::SimulatedPlatform;

/// First bytes of every sealed blob.
pub const MAGIC: &[u8; 8] = b"PHXSEAL\0";
/// The sealed format version this enclave writes and reads.
pub const VERSION: u8 = 1;
/// HKDF info string of the seal key.
pub const SEAL_KEY_INFO: &[u8] = b"phalanx/worker/seal-key/v1";
/// Header length: magic, version, measurement.
pub const HEADER_LEN: usize = 8 + 1 + 32;
/// Length of the random nonce after the header.
pub const NONCE_LEN: usize = 12;
/// Length of the Poly1305 tag at the end.
pub const TAG_LEN: usize = 16;
/// Largest sealed blob accepted (the state is a few KiB; this bounds what the host can feed).
pub const MAX_SEALED_BYTES: usize = 1 << 20;

/// Why sealed bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Too short, too long or without the sealed-state magic.
    #[error("the sealed state file is not a phalanx sealed blob (wrong magic or size); restore the worker's own sealed file or delete it to start a new identity")]
    NotSealed,
    /// Written by another format version.
    #[error("the sealed state uses format version {found}, this worker reads version {VERSION}; run the worker release that wrote it")]
    UnsupportedVersion {
        /// The blob's version.
        found: u8,
    },
    /// Sealed by another enclave build.
    #[error("the sealed state belongs to enclave measurement {sealed_for}, but this enclave is {running}; only the same worker build can unseal it (migrate keys explicitly, or delete the file to start a new identity)")]
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

/// Derives the seal key for this platform and measurement.
fn seal_key(platform: &SimulatedPlatform, measurement: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let hkdf = Hkdf::<Sha256>::new(Some(measurement), platform.seal_secret());
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf.expand(SEAL_KEY_INFO, key.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    key
}

fn header(measurement: &[u8; 32]) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8] = VERSION;
    header[9..].copy_from_slice(measurement);
    header
}

/// Seals `plaintext` under the platform's key for its measurement.
pub fn seal(platform: &SimulatedPlatform, plaintext: &[u8]) -> Vec<u8> {
    let measurement = platform.measurement();
    let key = seal_key(platform, &measurement);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let header = header(&measurement);
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

/// Unseals a blob from the untrusted host (rules in the module docs). Never panics.
pub fn unseal(platform: &SimulatedPlatform, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
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
    if blob[9..HEADER_LEN] != measurement {
        return Err(SealError::OtherMeasurement {
            sealed_for: hex::encode(&blob[9..HEADER_LEN]),
            running: hex::encode(measurement),
        });
    }
    let key = seal_key(platform, &measurement);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_ref()));
    let (header, rest) = blob.split_at(HEADER_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Tampered)
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
        let a = seal(&p, b"state");
        let b = seal(&p, b"state");
        assert_ne!(a, b, "fresh nonce each time");
        assert_eq!(unseal(&p, &a).expect("unseals").as_slice(), b"state");
        assert_eq!(unseal(&p, &b).expect("unseals").as_slice(), b"state");
    }

    /// Pins the blob layout: a change here is a format change and needs a new VERSION.
    #[test]
    fn golden_header_layout() {
        let p = platform(1);
        let blob = seal(&p, b"");
        assert_eq!(blob.len(), HEADER_LEN + NONCE_LEN + TAG_LEN);
        assert_eq!(&blob[..9], b"PHXSEAL\0\x01");
        assert_eq!(blob[9..41], p.measurement());
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
        let blob = seal(&p, b"some enclave state");
        for i in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[i] ^= 0x01;
            assert!(unseal(&p, &tampered).is_err(), "byte {i}");
        }
    }

    #[test]
    fn another_machine_cannot_unseal() {
        let blob = seal(&platform(1), b"keys");
        assert_eq!(unseal(&platform(2), &blob), Err(SealError::Tampered));
    }

    #[test]
    fn another_measurement_is_refused_even_when_relabelled() {
        let p = platform(1);
        let other = SimulatedPlatform::new(
            [1; 32],
            [0xee; 32],
            phalanx_runtime::genesis::dev_quoting_enclave(),
        );
        let blob = seal(&other, b"keys");
        let err = unseal(&p, &blob).expect_err("refused");
        assert!(matches!(err, SealError::OtherMeasurement { .. }));
        assert!(err.to_string().contains("measurement"));
        // Rewriting the header to claim our measurement does not help: the key differs too.
        let mut relabelled = blob.clone();
        relabelled[9..41].copy_from_slice(&p.measurement());
        assert_eq!(unseal(&p, &relabelled), Err(SealError::Tampered));
    }

    #[test]
    fn short_foreign_and_future_blobs_are_refused() {
        let p = platform(1);
        assert_eq!(unseal(&p, b""), Err(SealError::NotSealed));
        assert_eq!(unseal(&p, &[0u8; 100]), Err(SealError::NotSealed));
        let mut future = seal(&p, b"x");
        future[8] = 2;
        assert_eq!(
            unseal(&p, &future),
            Err(SealError::UnsupportedVersion { found: 2 })
        );
    }

    proptest! {
        #[test]
        fn unsealing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let p = platform(3);
            prop_assert!(unseal(&p, &bytes).is_err());
            let mut with_header = header(&p.measurement()).to_vec();
            with_header.extend_from_slice(&bytes);
            prop_assert!(unseal(&p, &with_header).is_err());
        }
    }
}
