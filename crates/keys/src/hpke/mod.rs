//! Sealed requests, responses and key envelopes: RFC 9180 HPKE with the suite
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305 (KEM 0x0020, KDF 0x0001,
//! AEAD 0x0003), mode Base, through the `hpke` crate. `docs/hpke.md` is the byte-level
//! reference for clients in other languages; `docs/vectors/hpke.json` pins it.
//!
//! # Requests and responses
//!
//! ```text
//! info        = "phalanx/request/v1" (18 bytes) ‖ target (32) ‖ nonce (16) ‖ expires_at_ms (u64 LE, 8)
//! enc, ctx    = SetupBaseS(pkR = target's published X25519 key, info)
//! ciphertext  = ctx.Seal(aad = "", plaintext)             (the context's first and only message)
//! response key= ctx.Export("phalanx/response/v1", 32)
//! envelope    = enc (32) ‖ ciphertext (plaintext length + 16)
//! response    = nonce (12, random) ‖ ChaCha20-Poly1305(response key, nonce, aad = "", plaintext)
//! ```
//!
//! - The [`RequestContext`] is bound through `info`: an envelope opened under any other target,
//!   nonce or expiry fails authentication. HPKE's KEM context also binds the recipient's public
//!   key, so an envelope only opens with the secret of the key it was sealed to.
//! - The context itself is not secret and is not inside the envelope: it travels beside it. The
//!   recipient rebuilds it from what it expects (its own target id) and what the request says
//!   (nonce, expiry), then refuses expired requests ([`RequestContext::check_fresh`]) and nonces
//!   it has seen; both need a clock and memory, so they live in the caller, not here.
//! - The response key is exported from the same HPKE context, so the client needs no long-term
//!   key: it keeps the [`ResponseKey`] that [`seal_request`] returned until the answer arrives.
//!   Each response has a fresh random nonce, so one key may seal several responses (far fewer
//!   than 2^32).
//!
//! # Key envelopes between enclaves
//!
//! ```text
//! info        = "phalanx/key-share/v1" (20 bytes) ‖ label (0..=256 bytes)
//! skE, pkE    = DeriveKeyPair(ikm = ephemeral seed (32))      (RFC 9180 §7.1.3)
//! enc, ctx    = SetupBaseS(pkR = recipient enclave key, info) with that ephemeral key
//! envelope    = enc (32) ‖ ctx.Seal(aad, secret (32)) (48)
//! ```
//!
//! The ephemeral key is derived from the caller's seed instead of drawn at random, so two
//! gatekeepers that hold the same master key and seal the same secret to the same recipient emit
//! byte-identical envelopes (the chain can compare them). The seed must be secret (derive it
//! with [`crate::MasterKey::share_seed`] from the master key, the recipient and the epoch) and
//! must never seal two different secrets under the same label to the same recipient: the same
//! seed, recipient and info give the same HPKE key and nonce, and ChaCha20-Poly1305 under a
//! repeated nonce leaks the XOR of the plaintexts and allows forgeries.
//!
//! # Limits and refusals
//!
//! A sealed message carries at most [`MAX_SEALED_BYTES`] (1 MiB) of plaintext, so an envelope
//! is at most [`MAX_ENVELOPE_BYTES`] and a response at most [`MAX_RESPONSE_BYTES`]. Sealers
//! refuse larger plaintexts; openers check every length before any cryptography and refuse
//! anything truncated, oversized, tampered with, sealed for another context or to another key
//! with a descriptive [`Error`]. They never panic and never return a partial plaintext.

use ::hpke::aead::{AeadCtxR, AeadCtxS, ChaCha20Poly1305 as HpkeChaCha20Poly1305};
use ::hpke::kdf::HkdfSha256;
use ::hpke::kem::X25519HkdfSha256;
use ::hpke::{Deserializable, HpkeError, Kem as KemTrait, OpModeR, OpModeS, Serializable};
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

#[cfg(test)]
mod tests;

/// The KEM: DHKEM(X25519, HKDF-SHA256), RFC 9180 KEM id 0x0020.
pub(crate) type Kem = X25519HkdfSha256;
/// The KDF: HKDF-SHA256, RFC 9180 KDF id 0x0001.
pub(crate) type Kdf = HkdfSha256;
/// The AEAD: ChaCha20-Poly1305, RFC 9180 AEAD id 0x0003.
pub(crate) type HpkeAead = HpkeChaCha20Poly1305;
/// A sender's HPKE context in this suite.
pub(crate) type SenderContext = AeadCtxS<HpkeAead, Kdf, Kem>;
/// A receiver's HPKE context in this suite.
pub(crate) type ReceiverContext = AeadCtxR<HpkeAead, Kdf, Kem>;

/// The first bytes of a request's HPKE `info`; the encoded [`RequestContext`] follows.
pub const REQUEST_INFO_LABEL: &[u8] = b"phalanx/request/v1";
/// Length of a request's HPKE `info`: the label and the 56-byte context.
pub const REQUEST_INFO_LEN: usize = REQUEST_INFO_LABEL.len() + RequestContext::ENCODED_LEN;
/// The HPKE exporter context of a request's [`ResponseKey`].
pub const RESPONSE_EXPORTER_CONTEXT: &[u8] = b"phalanx/response/v1";
/// The first bytes of a key envelope's HPKE `info`; the caller's label follows.
pub const KEY_SHARE_INFO_LABEL: &[u8] = b"phalanx/key-share/v1";
/// Longest label [`seal_key`] accepts.
pub const MAX_KEY_LABEL_BYTES: usize = 256;
/// Length of the encapsulated key at the start of an [`Envelope`] (an X25519 public key).
pub const ENC_LEN: usize = 32;
/// Length of the Poly1305 tag at the end of every ciphertext.
pub const TAG_LEN: usize = 16;
/// Length of the random nonce at the start of a sealed response.
pub const RESPONSE_NONCE_LEN: usize = 12;
/// Most plaintext one sealed request, response or key envelope carries (1 MiB); also the most
/// associated data [`seal_key`] accepts.
pub const MAX_SEALED_BYTES: usize = 1 << 20;
/// Longest encoded [`Envelope`]: `enc`, [`MAX_SEALED_BYTES`] of ciphertext and the tag.
pub const MAX_ENVELOPE_BYTES: usize = ENC_LEN + MAX_SEALED_BYTES + TAG_LEN;
/// Longest sealed response: nonce, [`MAX_SEALED_BYTES`] of ciphertext and the tag.
pub const MAX_RESPONSE_BYTES: usize = RESPONSE_NONCE_LEN + MAX_SEALED_BYTES + TAG_LEN;
/// Length of a key envelope's ciphertext: a 32-byte secret and the tag.
const KEY_CIPHERTEXT_LEN: usize = 32 + TAG_LEN;

/// Why sealing or opening was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A plaintext or associated data to seal is over [`MAX_SEALED_BYTES`].
    #[error("the {what} to seal is {len} bytes, over the limit of {max}; send less per message (split it, or store it as an object and send its hash)")]
    TooLargeToSeal {
        /// What was too large: "plaintext" or "associated data".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Sealed bytes are longer than anything a sealer produces.
    #[error("the sealed {what} is {len} bytes, longer than the {max} bytes any sealed {what} can be; refuse it, no phalanx sealer produced it")]
    TooLargeToOpen {
        /// What was being opened: "envelope" or "response".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most it can be.
        max: usize,
    },
    /// Sealed bytes are shorter than the smallest sealed message (an empty plaintext).
    #[error("the sealed {what} is {len} bytes, shorter than the {min} bytes of an empty one; it was truncated in transit, ask the sender for it again")]
    Truncated {
        /// What was being opened: "envelope" or "response".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The least it can be.
        min: usize,
    },
    /// A key envelope's ciphertext is not exactly a sealed 32-byte secret.
    #[error("the key envelope's ciphertext is {len} bytes, but a sealed key is exactly {expected}; it was truncated or padded, or it is not a key envelope")]
    KeyEnvelopeLength {
        /// The ciphertext's length.
        len: usize,
        /// The length of a sealed key.
        expected: usize,
    },
    /// A key envelope label is over [`MAX_KEY_LABEL_BYTES`].
    #[error("the key label is {len} bytes, over the limit of {max}; use a short fixed label that names what the key is for")]
    LabelTooLong {
        /// The label's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Encoded request-context bytes are not exactly [`RequestContext::ENCODED_LEN`] long.
    #[error("a request context is exactly {expected} bytes (target, nonce, expiry), got {len}; the request is malformed, ask the client to send it again")]
    ContextLength {
        /// Bytes received.
        len: usize,
        /// The encoded length of a context.
        expected: usize,
    },
    /// The recipient's public key gives an all-zero X25519 shared secret (a low-order point).
    #[error("the recipient public key {key} is not a usable X25519 key (a low-order point); fetch the target's published encryption key again")]
    InvalidRecipientKey {
        /// The key, hex.
        key: String,
    },
    /// The envelope's encapsulated key gives an all-zero X25519 shared secret.
    #[error("the envelope's encapsulated key is not a usable X25519 key (a low-order point); the envelope was corrupted or forged, ask the sender to seal it again")]
    InvalidEncapsulatedKey,
    /// A request envelope failed authentication.
    #[error("the request did not open: it was tampered with, sealed to another key than this recipient's, or sealed for another target, nonce or expiry; the client must seal it again to this recipient's published key with the context it sends")]
    RequestNotOpened,
    /// A sealed response failed authentication.
    #[error("the response did not open: it was tampered with or sealed under another request's response key; open it with the response key returned when this request was sealed")]
    ResponseNotOpened,
    /// A key envelope failed authentication.
    #[error("the key envelope did not open: it was tampered with, sealed to another enclave key, or sealed under another label or associated data; ask the gatekeeper to seal the key again to this enclave's key")]
    KeyNotOpened,
    /// The request's expiry has passed.
    #[error("the request expired at {expires_at_ms} ms (unix time) and it is now {now_ms} ms; the client must seal a new request with a later expiry")]
    Expired {
        /// The request's expiry.
        expires_at_ms: u64,
        /// The recipient's clock.
        now_ms: u64,
    },
    /// The `hpke` crate drew its ephemeral key otherwise than as one 32-byte DeriveKeyPair input,
    /// so a key envelope would not be reproducible (a bug: phalanx-keys built against an `hpke`
    /// release it was not written for).
    #[error("the hpke library drew {drawn} random bytes for one ephemeral key instead of the 32-byte seed, so the key envelope would not be reproducible; this build pairs phalanx-keys with an hpke release it was not written for, please report it")]
    UnexpectedEphemeralDraw {
        /// Bytes the library asked for.
        drawn: usize,
    },
}

type Result<T, E = Error> = std::result::Result<T, E>;

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// What a request is bound to, through the HPKE `info`.
///
/// Its encoding is fixed-width, 56 bytes: `target (32) ‖ nonce (16) ‖ expires_at_ms (u64 LE)`,
/// the same bytes as its SCALE encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode, MaxEncodedLen)]
pub struct RequestContext {
    /// The contract or cluster id the request is for.
    pub target: [u8; 32],
    /// Random per request; the recipient refuses a nonce it has already seen (replay).
    pub nonce: [u8; 16],
    /// Unix time in milliseconds from which the recipient refuses the request.
    pub expires_at_ms: u64,
}

impl RequestContext {
    /// Length of the encoded context.
    pub const ENCODED_LEN: usize = 32 + 16 + 8;

    /// A context for `target`, with `nonce`, expiring at `expires_at_ms`.
    pub fn new(target: [u8; 32], nonce: [u8; 16], expires_at_ms: u64) -> Self {
        Self {
            target,
            nonce,
            expires_at_ms,
        }
    }

    /// The fixed 56-byte encoding: `target ‖ nonce ‖ expires_at_ms` (little-endian).
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut bytes = [0u8; Self::ENCODED_LEN];
        bytes[..32].copy_from_slice(&self.target);
        bytes[32..48].copy_from_slice(&self.nonce);
        bytes[48..].copy_from_slice(&self.expires_at_ms.to_le_bytes());
        bytes
    }

    /// Decodes exactly [`Self::ENCODED_LEN`] bytes; any other length is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] =
            bytes.try_into().map_err(|_| Error::ContextLength {
                len: bytes.len(),
                expected: Self::ENCODED_LEN,
            })?;
        let mut target = [0u8; 32];
        let mut nonce = [0u8; 16];
        let mut expiry = [0u8; 8];
        target.copy_from_slice(&bytes[..32]);
        nonce.copy_from_slice(&bytes[32..48]);
        expiry.copy_from_slice(&bytes[48..]);
        Ok(Self::new(target, nonce, u64::from_le_bytes(expiry)))
    }

    /// The HPKE `info` of a request under this context: [`REQUEST_INFO_LABEL`] followed by
    /// [`Self::to_bytes`].
    pub fn info(&self) -> [u8; REQUEST_INFO_LEN] {
        let mut info = [0u8; REQUEST_INFO_LEN];
        info[..REQUEST_INFO_LABEL.len()].copy_from_slice(REQUEST_INFO_LABEL);
        info[REQUEST_INFO_LABEL.len()..].copy_from_slice(&self.to_bytes());
        info
    }

    /// Refuses the request once `now_ms` (the recipient's clock, unix milliseconds) has reached
    /// its expiry. The recipient must also refuse a nonce it has seen before this expiry.
    pub fn check_fresh(&self, now_ms: u64) -> Result<()> {
        if now_ms >= self.expires_at_ms {
            return Err(Error::Expired {
                expires_at_ms: self.expires_at_ms,
                now_ms,
            });
        }
        Ok(())
    }
}

/// The key a response to one request is sealed under: 32 bytes exported from the request's
/// HPKE context with [`RESPONSE_EXPORTER_CONTEXT`]. Zeroized on drop; its `Debug` hides it.
#[derive(Clone)]
pub struct ResponseKey(Zeroizing<[u8; 32]>);

impl ResponseKey {
    /// A response key from its bytes (a client that stored it while waiting for the answer).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    /// The key's bytes. Secret: store them only where the request's plaintext could be stored.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Exports the response key from a request's HPKE context (sender or receiver side).
    fn export(export: impl FnOnce(&[u8], &mut [u8]) -> Result<(), HpkeError>) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        export(RESPONSE_EXPORTER_CONTEXT, key.as_mut())
            .expect("32 bytes is far below HKDF-SHA256's 8160-byte export limit");
        Self(key)
    }
}

impl std::fmt::Debug for ResponseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseKey(<secret>)")
    }
}

/// An HPKE-sealed message: the encapsulated ephemeral public key and the AEAD ciphertext.
///
/// Its byte encoding ([`Envelope::to_bytes`]) is `enc (32) ‖ ciphertext`; its SCALE encoding is
/// `enc (32) ‖ compact(ciphertext length) ‖ ciphertext`.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
pub struct Envelope {
    /// The sender's ephemeral X25519 public key (RFC 9180 `enc`).
    pub enc: [u8; ENC_LEN],
    /// The sealed plaintext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl Envelope {
    /// Length of the smallest envelope (an empty plaintext).
    pub const MIN_LEN: usize = ENC_LEN + TAG_LEN;

    /// `enc ‖ ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ENC_LEN + self.ciphertext.len());
        bytes.extend_from_slice(&self.enc);
        bytes.extend_from_slice(&self.ciphertext);
        bytes
    }

    /// Splits untrusted `enc ‖ ciphertext` bytes, refusing anything shorter than
    /// [`Envelope::MIN_LEN`] or longer than [`MAX_ENVELOPE_BYTES`]. Never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_sealed_len("envelope", bytes.len(), Self::MIN_LEN, MAX_ENVELOPE_BYTES)?;
        let (enc, ciphertext) = bytes.split_at(ENC_LEN);
        let mut envelope = Self {
            enc: [0u8; ENC_LEN],
            ciphertext: ciphertext.to_vec(),
        };
        envelope.enc.copy_from_slice(enc);
        Ok(envelope)
    }

    /// The same length checks as [`Envelope::from_bytes`], for an envelope built otherwise (SCALE,
    /// struct literal).
    fn check_len(&self) -> Result<()> {
        check_sealed_len(
            "envelope",
            ENC_LEN.saturating_add(self.ciphertext.len()),
            Self::MIN_LEN,
            MAX_ENVELOPE_BYTES,
        )
    }
}

impl std::fmt::Debug for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("enc", &hex::encode(self.enc))
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// Seals a request's `plaintext` to `recipient_public` (the target's published X25519 key),
/// bound to `ctx`. Returns the envelope to send and the key the response will be sealed under.
///
/// Draws the 32-byte ephemeral DeriveKeyPair input from `rng`, nothing else.
pub fn seal_request<R: RngCore + CryptoRng>(
    recipient_public: &[u8; 32],
    ctx: &RequestContext,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(Envelope, ResponseKey)> {
    check_plaintext_len(plaintext.len())?;
    let (enc, mut sender) = setup_sender(recipient_public, &ctx.info(), rng)?;
    let ciphertext = seal_first(&mut sender, &[], plaintext);
    let key = ResponseKey::export(|context, out| sender.export(context, out));
    Ok((Envelope { enc, ciphertext }, key))
}

/// Opens a request sealed to the X25519 key whose secret is `recipient_secret`, under `ctx`.
/// Returns the plaintext and the key to seal the response under.
///
/// Authentication alone does not make a request acceptable: the caller also checks
/// [`RequestContext::check_fresh`] and refuses a nonce it has seen (module docs).
pub fn open_request(
    recipient_secret: &[u8; 32],
    ctx: &RequestContext,
    envelope: &Envelope,
) -> Result<(Zeroizing<Vec<u8>>, ResponseKey)> {
    let (plaintext, receiver) = open_base(
        recipient_secret,
        &ctx.info(),
        &[],
        envelope,
        Error::RequestNotOpened,
    )?;
    let key = ResponseKey::export(|context, out| receiver.export(context, out));
    Ok((plaintext, key))
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// Seals a response under a request's [`ResponseKey`]: `nonce (12, from rng) ‖
/// ChaCha20-Poly1305(key, nonce, aad = "", plaintext)`.
pub fn seal_response<R: RngCore + CryptoRng>(
    key: &ResponseKey,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    check_plaintext_len(plaintext.len())?;
    let mut nonce = [0u8; RESPONSE_NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_bytes()));
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &[],
            },
        )
        .expect("ChaCha20-Poly1305 seals any in-memory plaintext up to 256 GiB");
    let mut sealed = Vec::with_capacity(RESPONSE_NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

/// Opens a response sealed by [`seal_response`] under `key`. Never panics.
pub fn open_response(key: &ResponseKey, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    check_sealed_len(
        "response",
        sealed.len(),
        RESPONSE_NONCE_LEN + TAG_LEN,
        MAX_RESPONSE_BYTES,
    )?;
    let (nonce, ciphertext) = sealed.split_at(RESPONSE_NONCE_LEN);
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key.as_bytes()));
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &[],
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::ResponseNotOpened)
}

// ---------------------------------------------------------------------------------------------
// Key envelopes
// ---------------------------------------------------------------------------------------------

/// The HPKE `info` of a key envelope: [`KEY_SHARE_INFO_LABEL`] followed by `label`.
fn key_share_info(label: &[u8]) -> Result<Vec<u8>> {
    if label.len() > MAX_KEY_LABEL_BYTES {
        return Err(Error::LabelTooLong {
            len: label.len(),
            max: MAX_KEY_LABEL_BYTES,
        });
    }
    Ok([KEY_SHARE_INFO_LABEL, label].concat())
}

/// Seals a 32-byte `secret` to another enclave's X25519 key, deterministically: the ephemeral
/// key is DeriveKeyPair(`ephemeral_seed`), so the same inputs always give the same envelope.
///
/// `label` names what the secret is (it goes into the HPKE `info`); `aad` is authenticated, not
/// encrypted (for example the epoch and the recipient's registration). The seed must be secret
/// and must never seal two different secrets under one label to one recipient (module docs);
/// derive it with [`crate::MasterKey::share_seed`].
pub fn seal_key(
    recipient_public: &[u8; 32],
    label: &[u8],
    aad: &[u8],
    secret: &[u8; 32],
    ephemeral_seed: &[u8; 32],
) -> Result<Envelope> {
    let info = key_share_info(label)?;
    let (envelope, _) =
        seal_with_ephemeral_seed(recipient_public, &info, aad, secret, ephemeral_seed)?;
    Ok(envelope)
}

/// Opens a key envelope sealed by [`seal_key`] to the X25519 key whose secret is
/// `recipient_secret`, under the same `label` and `aad`. Never panics.
pub fn open_key(
    recipient_secret: &[u8; 32],
    label: &[u8],
    aad: &[u8],
    envelope: &Envelope,
) -> Result<Zeroizing<[u8; 32]>> {
    let info = key_share_info(label)?;
    if envelope.ciphertext.len() != KEY_CIPHERTEXT_LEN {
        return Err(Error::KeyEnvelopeLength {
            len: envelope.ciphertext.len(),
            expected: KEY_CIPHERTEXT_LEN,
        });
    }
    let (plaintext, _) = open_base(recipient_secret, &info, aad, envelope, Error::KeyNotOpened)?;
    let mut secret = Zeroizing::new([0u8; 32]);
    // The ciphertext length was checked above, so an authentic plaintext is 32 bytes.
    if plaintext.len() != secret.len() {
        return Err(Error::KeyEnvelopeLength {
            len: envelope.ciphertext.len(),
            expected: KEY_CIPHERTEXT_LEN,
        });
    }
    secret.copy_from_slice(&plaintext);
    Ok(secret)
}

// ---------------------------------------------------------------------------------------------
// RFC 9180 Base mode, shared by all of the above
// ---------------------------------------------------------------------------------------------

fn check_plaintext_len(len: usize) -> Result<()> {
    if len > MAX_SEALED_BYTES {
        return Err(Error::TooLargeToSeal {
            what: "plaintext",
            len,
            max: MAX_SEALED_BYTES,
        });
    }
    Ok(())
}

fn check_sealed_len(what: &'static str, len: usize, min: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(Error::TooLargeToOpen { what, len, max });
    }
    if len < min {
        return Err(Error::Truncated { what, len, min });
    }
    Ok(())
}

/// SetupBaseS: encapsulates to `recipient_public` with an ephemeral key from `rng` (the `hpke`
/// crate draws 32 bytes and runs DeriveKeyPair on them).
fn setup_sender<R: RngCore + CryptoRng>(
    recipient_public: &[u8; 32],
    info: &[u8],
    rng: &mut R,
) -> Result<([u8; ENC_LEN], SenderContext)> {
    let invalid = || Error::InvalidRecipientKey {
        key: hex::encode(recipient_public),
    };
    let public = <Kem as KemTrait>::PublicKey::from_bytes(recipient_public)
        .expect("any 32 bytes deserialize as an X25519 public key (only the length is checked)");
    // The only failure of a Base-mode X25519 encapsulation is an all-zero shared secret.
    let (encapped, sender) =
        ::hpke::setup_sender::<HpkeAead, Kdf, Kem, R>(&OpModeS::Base, &public, info, rng)
            .map_err(|_| invalid())?;
    let mut enc = [0u8; ENC_LEN];
    enc.copy_from_slice(&encapped.to_bytes());
    Ok((enc, sender))
}

/// Seals the first (and only) message of a fresh sender context.
fn seal_first(sender: &mut SenderContext, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    sender
        .seal(plaintext, aad)
        .expect("the first message of a fresh context (sequence 0), at most 1 MiB, always seals")
}

/// SetupBaseS with the ephemeral key DeriveKeyPair(`seed`), then one Seal. Used by
/// [`seal_key`] and by the RFC 9180 vector check.
pub(crate) fn seal_with_ephemeral_seed(
    recipient_public: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    seed: &[u8; 32],
) -> Result<(Envelope, SenderContext)> {
    check_plaintext_len(plaintext.len())?;
    if aad.len() > MAX_SEALED_BYTES {
        return Err(Error::TooLargeToSeal {
            what: "associated data",
            len: aad.len(),
            max: MAX_SEALED_BYTES,
        });
    }
    let mut rng = EphemeralSeed::new(seed);
    let (enc, mut sender) = setup_sender(recipient_public, info, &mut rng)?;
    if rng.drawn != seed.len() {
        return Err(Error::UnexpectedEphemeralDraw { drawn: rng.drawn });
    }
    let ciphertext = seal_first(&mut sender, aad, plaintext);
    Ok((Envelope { enc, ciphertext }, sender))
}

/// SetupBaseR, then one Open. A failed tag becomes `refused`.
pub(crate) fn open_base(
    recipient_secret: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    envelope: &Envelope,
    refused: Error,
) -> Result<(Zeroizing<Vec<u8>>, ReceiverContext)> {
    envelope.check_len()?;
    let secret = <Kem as KemTrait>::PrivateKey::from_bytes(recipient_secret)
        .expect("any 32 bytes deserialize as an X25519 secret (only the length is checked)");
    let encapped = <Kem as KemTrait>::EncappedKey::from_bytes(&envelope.enc)
        .expect("any 32 bytes deserialize as an X25519 public key (only the length is checked)");
    // The only failure of a Base-mode X25519 decapsulation is an all-zero shared secret.
    let mut receiver =
        ::hpke::setup_receiver::<HpkeAead, Kdf, Kem>(&OpModeR::Base, &secret, &encapped, info)
            .map_err(|_| Error::InvalidEncapsulatedKey)?;
    let plaintext = receiver
        .open(&envelope.ciphertext, aad)
        .map_err(|_| refused)?;
    Ok((Zeroizing::new(plaintext), receiver))
}

/// The "RNG" that hands the `hpke` crate the caller's ephemeral seed as its DeriveKeyPair input.
///
/// `hpke` 0.12 draws exactly 32 bytes for an X25519 ephemeral key and runs DeriveKeyPair on
/// them; this yields the seed, then zeros, and counts what was drawn so that any other draw is
/// refused ([`Error::UnexpectedEphemeralDraw`]) rather than silently producing an envelope no
/// other gatekeeper would reproduce.
struct EphemeralSeed {
    seed: Zeroizing<[u8; 32]>,
    drawn: usize,
}

impl EphemeralSeed {
    fn new(seed: &[u8; 32]) -> Self {
        Self {
            seed: Zeroizing::new(*seed),
            drawn: 0,
        }
    }
}

impl RngCore for EphemeralSeed {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let start = self.drawn.min(self.seed.len());
        let take = dest.len().min(self.seed.len() - start);
        let (from_seed, beyond) = dest.split_at_mut(take);
        from_seed.copy_from_slice(&self.seed[start..start + take]);
        beyond.fill(0);
        self.drawn = self.drawn.saturating_add(dest.len());
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// The seed is secret, uniformly random key material (an HKDF output), and any draw beyond it is
/// refused after the fact, so the marker's promise holds for the one use made of it.
impl CryptoRng for EphemeralSeed {}
