//! Phalanx end-to-end encryption (DESIGN.md §8): what a client seals to an enclave, what the
//! enclave seals back, how gatekeepers hand keys to other enclaves, and the key tree those keys
//! come from.
//!
//! ```text
//!  client ──seal_request(target public, context)──▶ Envelope ──▶ worker: open_request
//!     │                                                               │
//!     └─ ResponseKey (HPKE exporter) ◀──── same key on both sides ────┘
//!  client: open_response ◀──────── seal_response(ResponseKey) ──────── worker
//!
//!  gatekeeper: MasterKey ─HKDF─▶ ClusterKey ─HKDF─▶ ContractKey      (tree)
//!  gatekeeper ──seal_key(enclave public, label, aad, secret, seed)──▶ Envelope ──▶ open_key
//! ```
//!
//! - [`hpke`]: RFC 9180 HPKE, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
//!   ChaCha20-Poly1305, mode Base, through the `hpke` crate. Requests bind a
//!   [`RequestContext`] (target id, nonce, expiry) into the HPKE `info`; the response key is
//!   exported from the same HPKE context, so a client needs no long-term key.
//!   [`seal_key`]/[`open_key`] carry a 32-byte secret between enclaves with a deterministic
//!   ephemeral key, so every gatekeeper emits the same envelope.
//! - [`tree`]: the key tree, HKDF-SHA256 with labelled info strings: epoch master → cluster →
//!   contract, each node an X25519 key pair.
//! - `testing` (feature `testing`): scripted randomness and the raw RFC 9180 seal/open, for
//!   test vectors only.
//!
//! The byte formats are specified in `docs/hpke.md` and pinned by `docs/vectors/hpke.json`
//! and `docs/vectors/key_tree.json`.
//!
//! Invariants:
//! - Everything here is pure: randomness comes from the caller's RNG, time from the caller's
//!   clock. Nothing here does I/O.
//! - Every decoder and opener of untrusted bytes checks lengths before any cryptography, refuses
//!   oversized input ([`MAX_SEALED_BYTES`] of plaintext), returns a descriptive [`Error`] and
//!   never panics (property-tested). Nothing partial is ever returned: a plaintext is released
//!   only after its tag verified.
//! - Secrets ([`MasterKey`], [`ClusterKey`], [`ContractKey`], [`ResponseKey`], opened
//!   plaintexts) are zeroized on drop, and their `Debug` never prints secret bytes.
//!
//! It sits below the worker/gatekeeper enclave and the client SDK, and depends on no other
//! Phalanx crate.

pub mod hpke;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod tree;

pub use crate::hpke::{
    open_key, open_request, open_response, seal_key, seal_request, seal_response, Envelope, Error,
    RequestContext, ResponseKey, ENC_LEN, KEY_SHARE_INFO_LABEL, MAX_ENVELOPE_BYTES,
    MAX_KEY_LABEL_BYTES, MAX_RESPONSE_BYTES, MAX_SEALED_BYTES, REQUEST_INFO_LABEL,
    REQUEST_INFO_LEN, RESPONSE_EXPORTER_CONTEXT, RESPONSE_NONCE_LEN, TAG_LEN,
};
pub use crate::tree::{cluster_key, ClusterKey, ContractKey, MasterKey};

/// The crate's result type: sealing and opening fail with an [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
