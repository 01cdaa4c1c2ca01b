//! Test-only doubles (feature `testing`): scripted randomness, so a sealed request or response
//! is reproducible byte for byte, and the raw RFC 9180 Base-mode seal/open on the same code path
//! as [`crate::seal_key`], so it can be checked against RFC 9180's published test vectors.
//!
//! Nothing here belongs in a product build: a scripted RNG is not random.

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::hpke::{open_base, seal_with_ephemeral_seed, Envelope, Error};
use crate::Result;

/// An "RNG" that yields exactly the bytes it was given, in order, and fails the test if more are
/// drawn. A sealed request draws its 32-byte ephemeral DeriveKeyPair input (RFC 9180 `ikmE`); a
/// sealed response draws its 12-byte nonce.
#[derive(Debug, Clone)]
pub struct ScriptedRng {
    bytes: Vec<u8>,
    next: usize,
}

impl ScriptedRng {
    /// An RNG that yields `bytes` and then nothing.
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            bytes: bytes.to_vec(),
            next: 0,
        }
    }

    /// How many scripted bytes were not drawn.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.next
    }
}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(
            dest.len() <= self.remaining(),
            "ScriptedRng: {} bytes drawn but only {} scripted bytes remain; the test scripted too \
             little randomness",
            dest.len(),
            self.remaining()
        );
        dest.copy_from_slice(&self.bytes[self.next..self.next + dest.len()]);
        self.next += dest.len();
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Test vectors only: the caller scripts what a real RNG would have drawn.
impl CryptoRng for ScriptedRng {}

/// RFC 9180 SetupBaseS with the ephemeral key DeriveKeyPair(`ikm_e`), one Seal of `plaintext`
/// under `aad`, and one Export of 32 bytes under `exporter_context`: the inputs and outputs of an
/// RFC 9180 Appendix A test vector (sequence number 0). The same code path as
/// [`crate::seal_key`], with the caller's `info`.
pub fn rfc9180_seal(
    recipient_public: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    ikm_e: &[u8; 32],
    exporter_context: &[u8],
) -> Result<(Envelope, [u8; 32])> {
    let (envelope, sender) =
        seal_with_ephemeral_seed(recipient_public, info, aad, plaintext, ikm_e)?;
    let mut exported = [0u8; 32];
    sender
        .export(exporter_context, &mut exported)
        .expect("32 bytes is far below HKDF-SHA256's export limit");
    Ok((envelope, exported))
}

/// RFC 9180 SetupBaseR, one Open and one 32-byte Export: the receiving side of
/// [`rfc9180_seal`], on the same code path as [`crate::open_key`].
pub fn rfc9180_open(
    recipient_secret: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    envelope: &Envelope,
    exporter_context: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, [u8; 32])> {
    let (plaintext, receiver) =
        open_base(recipient_secret, info, aad, envelope, Error::KeyNotOpened)?;
    let mut exported = [0u8; 32];
    receiver
        .export(exporter_context, &mut exported)
        .expect("32 bytes is far below HKDF-SHA256's export limit");
    Ok((plaintext, exported))
}
