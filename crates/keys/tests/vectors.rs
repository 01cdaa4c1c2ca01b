//! The encryption reference's test vectors: `docs/vectors/hpke.json` and
//! `docs/vectors/key_tree.json`, explained in `docs/hpke.md`.
//!
//! Every vector is an `input` and the `expected` output pinned from a run of this code. Each
//! test recomputes the output twice — with `phalanx-keys`, and step by step as `docs/hpke.md`
//! tells an outside client to (the labels and layouts written out here, RFC 9180 through the
//! `hpke` crate's own API, HKDF, X25519 and ChaCha20-Poly1305 directly) — asserts they agree,
//! and compares the result with the pinned `expected`. It also opens every sealed vector and
//! checks that flipping any single byte of its `enc` or ciphertext makes it fail to open.
//!
//! The `rfc9180` section is different: its expected values are RFC 9180's published test
//! vector (Appendix A.2.1, sequence number 0 and the first export), never regenerated.
//!
//! After an intended format change, rewrite the pinned outputs from the inputs with
//! `PHALANX_REGENERATE_VECTORS=1 cargo test -p phalanx-keys --test vectors`, and review the
//! diff of `docs/vectors/` (and `docs/hpke.md`) like any protocol change.

#![allow(clippy::panic)] // a vector that does not hold fails the test by panicking

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use hkdf::Hkdf;
use hpke::{Deserializable as _, Kem as _, Serializable as _};
use phalanx_keys::testing::{rfc9180_open, rfc9180_seal, ScriptedRng};
use phalanx_keys::{
    cluster_key, open_key, open_request, open_response, seal_key, seal_request, seal_response,
    ClusterKey, Envelope, Error, MasterKey, RequestContext, ResponseKey,
};
use serde_json::{json, Value};
use sha2::Sha256;

#[path = "support/vector_file.rs"]
mod vector_file;

use vector_file::VectorFile;

// ---------------------------------------------------------------------------------------------
// Helpers, written from docs/hpke.md rather than taken from the crate
// ---------------------------------------------------------------------------------------------

fn unhex(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex string, got {value}"));
    hex::decode(text).unwrap_or_else(|e| panic!("bad hex {text}: {e}"))
}

fn unhex_n<const N: usize>(value: &Value) -> [u8; N] {
    unhex(value)
        .try_into()
        .unwrap_or_else(|_| panic!("expected {N} bytes of hex, got {value}"))
}

fn u64_of(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("expected an integer, got {value}"))
}

fn text_of(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

/// A byte string given either as `"…_hex"` or as UTF-8 text under `"…"`.
fn bytes_of(input: &Value, name: &str) -> Vec<u8> {
    let hex_name = format!("{name}_hex");
    if input.get(&hex_name).is_some() {
        unhex(&input[hex_name])
    } else {
        text_of(&input[name]).as_bytes().to_vec()
    }
}

fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret)).to_bytes()
}

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// RFC 9180 SetupBaseS with ephemeral key DeriveKeyPair(`ikm_e`), one Seal, one Export — through
/// the `hpke` crate's own API, not phalanx-keys. Returns (enc, ciphertext, export).
fn reference_seal(
    recipient_public: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    ikm_e: &[u8; 32],
    exporter_context: &[u8],
) -> ([u8; 32], Vec<u8>, [u8; 32]) {
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient_public).expect("32 bytes");
    // hpke draws the ephemeral key as 32 bytes of ikm through DeriveKeyPair, as the RFC's ikmE.
    let (encapped, mut sender) = hpke::setup_sender::<HpkeAead, Kdf, Kem, _>(
        &hpke::OpModeS::Base,
        &public,
        info,
        &mut ScriptedRng::new(ikm_e),
    )
    .expect("encapsulates");
    let (_, ephemeral_public) = Kem::derive_keypair(ikm_e);
    assert_eq!(
        encapped.to_bytes().as_slice(),
        ephemeral_public.to_bytes().as_slice(),
        "enc is the public key of DeriveKeyPair(ikmE)"
    );
    let ciphertext = sender.seal(plaintext, aad).expect("seals");
    let mut exported = [0u8; 32];
    sender
        .export(exporter_context, &mut exported)
        .expect("exports");
    let mut enc = [0u8; 32];
    enc.copy_from_slice(&encapped.to_bytes());
    (enc, ciphertext, exported)
}

/// `"phalanx/request/v1" ‖ target ‖ nonce ‖ expires_at_ms (u64 LE)`.
fn request_info(target: &[u8; 32], nonce: &[u8; 16], expires_at_ms: u64) -> Vec<u8> {
    [
        &b"phalanx/request/v1"[..],
        target,
        nonce,
        &expires_at_ms.to_le_bytes(),
    ]
    .concat()
}

/// `HKDF-Expand(HKDF-Extract(salt = "phalanx/key-tree/v1", IKM = parent), info, 32)`.
fn tree_derive(parent: &[u8; 32], info: &[&[u8]]) -> [u8; 32] {
    let hkdf = Hkdf::<Sha256>::new(Some(b"phalanx/key-tree/v1"), parent);
    let mut out = [0u8; 32];
    hkdf.expand(&info.concat(), &mut out).expect("32 bytes");
    out
}

/// Every envelope that differs from `envelope` in one byte (of `enc` or the ciphertext, each
/// bit flipped) must fail to open.
fn assert_single_byte_flips_refused(
    envelope: &Envelope,
    open: impl Fn(&Envelope) -> Result<(), Error>,
    what: &str,
) {
    let bytes = envelope.to_bytes();
    for index in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[index] ^= 0xff;
        let tampered = Envelope::from_bytes(&tampered).expect("same length");
        assert!(
            open(&tampered).is_err(),
            "{what}: flipping byte {index} still opens"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// hpke.json
// ---------------------------------------------------------------------------------------------

#[test]
fn hpke() {
    let mut file = VectorFile::open("hpke.json");

    // RFC 9180 A.2.1: our deterministic seal path reproduces the published enc, ciphertext and
    // export, and our open path opens the published ciphertext.
    file.check_external("rfc9180", |input| {
        let secret: [u8; 32] = unhex_n(&input["skRm"]);
        let ikm_e: [u8; 32] = unhex_n(&input["ikmE"]);
        let (info, aad, pt) = (
            unhex(&input["info"]),
            unhex(&input["aad"]),
            unhex(&input["pt"]),
        );
        let exporter_context = unhex(&input["exporter_context"]);
        let public = x25519_public(&secret);
        let (envelope, exported) =
            rfc9180_seal(&public, &info, &aad, &pt, &ikm_e, &exporter_context).expect("seals");
        let (enc, ct, reference_export) =
            reference_seal(&public, &info, &aad, &pt, &ikm_e, &exporter_context);
        assert_eq!((envelope.enc, &envelope.ciphertext), (enc, &ct));
        assert_eq!(exported, reference_export);
        let (opened, opened_export) =
            rfc9180_open(&secret, &info, &aad, &envelope, &exporter_context).expect("opens");
        assert_eq!(opened.as_slice(), pt.as_slice());
        assert_eq!(opened_export, exported);
        assert_single_byte_flips_refused(
            &envelope,
            |e| rfc9180_open(&secret, &info, &aad, e, &exporter_context).map(|_| ()),
            "rfc9180",
        );
        json!({
            "pkRm": hex::encode(public),
            "enc": hex::encode(envelope.enc),
            "ct": hex::encode(&envelope.ciphertext),
            "exported_value": hex::encode(exported),
        })
    });

    file.check("requests", |input| {
        let secret: [u8; 32] = unhex_n(&input["recipient_secret"]);
        let ikm_e: [u8; 32] = unhex_n(&input["ikm_e"]);
        let target: [u8; 32] = unhex_n(&input["target"]);
        let nonce: [u8; 16] = unhex_n(&input["nonce"]);
        let expires_at_ms = u64_of(&input["expires_at_ms"]);
        let plaintext = bytes_of(input, "plaintext");
        let response_nonce: [u8; 12] = unhex_n(&input["response_nonce"]);
        let response_plaintext = bytes_of(input, "response_plaintext");
        let public = x25519_public(&secret);

        // phalanx-keys
        let ctx = RequestContext::new(target, nonce, expires_at_ms);
        let (envelope, client_key) =
            seal_request(&public, &ctx, &plaintext, &mut ScriptedRng::new(&ikm_e)).expect("seals");
        let (opened, worker_key) = open_request(&secret, &ctx, &envelope).expect("opens");
        assert_eq!(opened.as_slice(), plaintext.as_slice());
        assert_eq!(client_key.as_bytes(), worker_key.as_bytes());
        let response = seal_response(
            &worker_key,
            &response_plaintext,
            &mut ScriptedRng::new(&response_nonce),
        )
        .expect("seals");
        let answer = open_response(&client_key, &response).expect("opens");
        assert_eq!(answer.as_slice(), response_plaintext.as_slice());
        assert_single_byte_flips_refused(
            &envelope,
            |e| open_request(&secret, &ctx, e).map(|_| ()),
            "request",
        );
        for index in 0..response.len() {
            let mut tampered = response.clone();
            tampered[index] ^= 0xff;
            assert!(
                open_response(&client_key, &tampered).is_err(),
                "response byte {index}"
            );
        }

        // docs/hpke.md, step by step
        let info = request_info(&target, &nonce, expires_at_ms);
        assert_eq!(ctx.info().as_slice(), info.as_slice());
        let (enc, ciphertext, response_key) = reference_seal(
            &public,
            &info,
            b"",
            &plaintext,
            &ikm_e,
            b"phalanx/response/v1",
        );
        assert_eq!((envelope.enc, &envelope.ciphertext), (enc, &ciphertext));
        assert_eq!(client_key.as_bytes(), &response_key);
        let sealed_answer = chacha20poly1305::ChaCha20Poly1305::new((&response_key).into())
            .encrypt(
                (&response_nonce).into(),
                Payload {
                    msg: &response_plaintext,
                    aad: b"",
                },
            )
            .expect("seals");
        assert_eq!(response, [&response_nonce[..], &sealed_answer].concat());

        json!({
            "recipient_public": hex::encode(public),
            "context": hex::encode(ctx.to_bytes()),
            "info": hex::encode(info),
            "enc": hex::encode(envelope.enc),
            "ciphertext": hex::encode(&envelope.ciphertext),
            "envelope": hex::encode(envelope.to_bytes()),
            "response_key": hex::encode(response_key),
            "response": hex::encode(&response),
        })
    });

    file.check("key_shares", |input| {
        let secret: [u8; 32] = unhex_n(&input["recipient_secret"]);
        let label = bytes_of(input, "label");
        let aad = bytes_of(input, "aad");
        let shared: [u8; 32] = unhex_n(&input["secret"]);
        // The seed is given, or derived from a master key as gatekeepers do.
        let seed: [u8; 32] = if input.get("ephemeral_seed").is_some() {
            unhex_n(&input["ephemeral_seed"])
        } else {
            let master: [u8; 32] = unhex_n(&input["master"]);
            let epoch = u64_of(&input["epoch"]);
            let public = x25519_public(&secret);
            let seed = tree_derive(
                &master,
                &[
                    b"phalanx/key-tree/v1/share-seed",
                    &public,
                    &epoch.to_le_bytes(),
                ],
            );
            assert_eq!(
                *MasterKey::from_bytes(&master).share_seed(&public, epoch),
                seed
            );
            seed
        };
        let public = x25519_public(&secret);

        // phalanx-keys
        let envelope = seal_key(&public, &label, &aad, &shared, &seed).expect("seals");
        let again = seal_key(&public, &label, &aad, &shared, &seed).expect("seals");
        assert_eq!(envelope, again, "key envelopes are deterministic");
        let opened = open_key(&secret, &label, &aad, &envelope).expect("opens");
        assert_eq!(*opened, shared);
        assert_single_byte_flips_refused(
            &envelope,
            |e| open_key(&secret, &label, &aad, e).map(|_| ()),
            "key share",
        );

        // docs/hpke.md, step by step
        let info = [&b"phalanx/key-share/v1"[..], &label].concat();
        let (enc, ciphertext, _) = reference_seal(&public, &info, &aad, &shared, &seed, b"");
        assert_eq!((envelope.enc, &envelope.ciphertext), (enc, &ciphertext));

        json!({
            "recipient_public": hex::encode(public),
            "ephemeral_seed": hex::encode(seed),
            "info": hex::encode(&info),
            "enc": hex::encode(envelope.enc),
            "ciphertext": hex::encode(&envelope.ciphertext),
            "envelope": hex::encode(envelope.to_bytes()),
        })
    });

    file.finish();
}

/// A request sealed with the RFC's ephemeral input to the RFC's recipient has the RFC's `enc`:
/// `enc` depends only on `ikmE` (DeriveKeyPair), whatever the `info`.
#[test]
fn a_request_with_the_rfc_ephemeral_input_has_the_rfc_enc() {
    let file = VectorFile::open("hpke.json");
    let rfc = &file.doc["rfc9180"][0];
    let secret: [u8; 32] = unhex_n(&rfc["input"]["skRm"]);
    let ikm_e: [u8; 32] = unhex_n(&rfc["input"]["ikmE"]);
    let ctx = RequestContext::new([1; 32], [2; 16], 3);
    let (envelope, _) = seal_request(
        &x25519_public(&secret),
        &ctx,
        b"",
        &mut ScriptedRng::new(&ikm_e),
    )
    .expect("seals");
    assert_eq!(
        hex::encode(envelope.enc),
        text_of(&rfc["expected"]["enc"]),
        "the RFC's pkEm"
    );
    let _: ResponseKey = open_request(&secret, &ctx, &envelope).expect("opens").1;
}

// ---------------------------------------------------------------------------------------------
// key_tree.json
// ---------------------------------------------------------------------------------------------

#[test]
fn key_tree() {
    let mut file = VectorFile::open("key_tree.json");

    file.check("masters", |input| {
        let bytes: [u8; 32] = unhex_n(&input["master"]);
        let master = MasterKey::from_bytes(&bytes);
        let secret = tree_derive(&bytes, &[b"phalanx/key-tree/v1/master"]);
        assert_eq!(*master.secret_bytes(), secret);
        assert_eq!(master.public(), x25519_public(&secret));
        json!({
            "master_secret": hex::encode(secret),
            "master_public": hex::encode(master.public()),
        })
    });

    file.check("clusters", |input| {
        let master: [u8; 32] = unhex_n(&input["master"]);
        let cluster_id: [u8; 32] = unhex_n(&input["cluster_id"]);
        let cluster = cluster_key(&MasterKey::from_bytes(&master), &cluster_id);
        let secret = tree_derive(&master, &[b"phalanx/key-tree/v1/cluster", &cluster_id]);
        assert_eq!(*cluster.secret_bytes(), secret);
        assert_eq!(cluster.public(), x25519_public(&secret));
        json!({
            "cluster_secret": hex::encode(secret),
            "cluster_public": hex::encode(cluster.public()),
        })
    });

    file.check("contracts", |input| {
        let master: [u8; 32] = unhex_n(&input["master"]);
        let cluster_id: [u8; 32] = unhex_n(&input["cluster_id"]);
        let contract_id: [u8; 32] = unhex_n(&input["contract_id"]);
        let cluster = cluster_key(&MasterKey::from_bytes(&master), &cluster_id);
        let contract = cluster.contract_key(&contract_id);
        let cluster_secret = tree_derive(&master, &[b"phalanx/key-tree/v1/cluster", &cluster_id]);
        let secret = tree_derive(
            &cluster_secret,
            &[b"phalanx/key-tree/v1/contract", &contract_id],
        );
        assert_eq!(*contract.secret_bytes(), secret);
        assert_eq!(contract.public(), x25519_public(&secret));
        // A worker that received only the cluster secret derives the same contract key.
        let received = ClusterKey::from_bytes(&cluster_secret);
        assert_eq!(*received.contract_key(&contract_id).secret_bytes(), secret);
        json!({
            "contract_secret": hex::encode(secret),
            "contract_public": hex::encode(contract.public()),
        })
    });

    file.check("share_seeds", |input| {
        let master: [u8; 32] = unhex_n(&input["master"]);
        let recipient: [u8; 32] = unhex_n(&input["recipient"]);
        let epoch = u64_of(&input["epoch"]);
        let seed = tree_derive(
            &master,
            &[
                b"phalanx/key-tree/v1/share-seed",
                &recipient,
                &epoch.to_le_bytes(),
            ],
        );
        assert_eq!(
            *MasterKey::from_bytes(&master).share_seed(&recipient, epoch),
            seed
        );
        json!({ "share_seed": hex::encode(seed) })
    });

    file.finish();
}
