//! Attempts to break the envelopes: tampering, truncation, oversize, wrong context, wrong key,
//! cross-protocol confusion, and property tests over arbitrary inputs.

use super::*;
use crate::testing::ScriptedRng;
use crate::tree::MasterKey;
use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;
use rand_core::{OsRng, RngCore};

const SECRET: [u8; 32] = [0x11; 32];
const OTHER_SECRET: [u8; 32] = [0x22; 32];
const IKM_E: [u8; 32] = [0x33; 32];

fn public(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret)).to_bytes()
}

fn ctx() -> RequestContext {
    RequestContext::new([0xaa; 32], [0xbb; 16], 1_700_000_000_000)
}

/// A request sealed with a fixed ephemeral key, so every run tampers with the same bytes.
fn sealed(plaintext: &[u8]) -> (Envelope, ResponseKey) {
    seal_request(
        &public(&SECRET),
        &ctx(),
        plaintext,
        &mut ScriptedRng::new(&IKM_E),
    )
    .expect("seals")
}

#[test]
fn a_request_and_its_response_round_trip() {
    let (envelope, client_key) = sealed(b"query: balance");
    assert_eq!(envelope.ciphertext.len(), b"query: balance".len() + TAG_LEN);
    let (plaintext, worker_key) = open_request(&SECRET, &ctx(), &envelope).expect("opens");
    assert_eq!(plaintext.as_slice(), b"query: balance");
    assert_eq!(client_key.as_bytes(), worker_key.as_bytes());

    let response = seal_response(&worker_key, b"42 PHA", &mut OsRng).expect("seals");
    assert_eq!(response.len(), RESPONSE_NONCE_LEN + 6 + TAG_LEN);
    let answer = open_response(&client_key, &response).expect("opens");
    assert_eq!(answer.as_slice(), b"42 PHA");
}

#[test]
fn empty_plaintexts_round_trip() {
    let (envelope, key) = sealed(b"");
    assert_eq!(envelope.to_bytes().len(), Envelope::MIN_LEN);
    let (plaintext, _) = open_request(&SECRET, &ctx(), &envelope).expect("opens");
    assert!(plaintext.is_empty());
    let response = seal_response(&key, b"", &mut OsRng).expect("seals");
    assert_eq!(response.len(), RESPONSE_NONCE_LEN + TAG_LEN);
    assert!(open_response(&key, &response).expect("opens").is_empty());
}

#[test]
fn the_request_info_is_the_label_and_the_fixed_context_encoding() {
    let ctx = RequestContext::new([0x01; 32], [0x02; 16], 0x0102_0304_0506_0708);
    let expected = format!(
        "{}{}{}{}",
        hex::encode("phalanx/request/v1"),
        "01".repeat(32),
        "02".repeat(16),
        "0807060504030201"
    );
    assert_eq!(hex::encode(ctx.info()), expected);
    assert_eq!(REQUEST_INFO_LEN, 74);
    // The SCALE encoding is the same 56 bytes, and both decode back.
    assert_eq!(ctx.encode(), ctx.to_bytes().to_vec());
    assert_eq!(RequestContext::from_bytes(&ctx.to_bytes()), Ok(ctx));
    assert_eq!(
        RequestContext::decode(&mut &ctx.to_bytes()[..]).expect("decodes"),
        ctx
    );
    for len in [0, 55, 57] {
        assert_eq!(
            RequestContext::from_bytes(&vec![0; len]),
            Err(Error::ContextLength { len, expected: 56 })
        );
    }
}

#[test]
fn a_request_is_fresh_until_its_expiry() {
    let ctx = ctx();
    assert_eq!(ctx.check_fresh(ctx.expires_at_ms - 1), Ok(()));
    for now_ms in [ctx.expires_at_ms, ctx.expires_at_ms + 1, u64::MAX] {
        assert_eq!(
            ctx.check_fresh(now_ms),
            Err(Error::Expired {
                expires_at_ms: ctx.expires_at_ms,
                now_ms
            })
        );
    }
}

#[test]
fn flipping_any_bit_pattern_of_any_byte_is_refused() {
    let (envelope, _) = sealed(b"transfer 10 PHA to bob");
    let bytes = envelope.to_bytes();
    for index in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut tampered = bytes.clone();
            tampered[index] ^= mask;
            let tampered = Envelope::from_bytes(&tampered).expect("same length");
            assert_eq!(
                open_request(&SECRET, &ctx(), &tampered).map(|_| ()),
                Err(Error::RequestNotOpened),
                "byte {index} ^ {mask:#04x}"
            );
        }
    }
}

#[test]
fn truncated_and_extended_envelopes_are_refused() {
    let (envelope, _) = sealed(b"transfer 10 PHA to bob");
    let bytes = envelope.to_bytes();
    for len in 0..bytes.len() {
        match Envelope::from_bytes(&bytes[..len]) {
            Err(error) => {
                assert!(len < Envelope::MIN_LEN, "{len}: {error}");
                assert_eq!(
                    error,
                    Error::Truncated {
                        what: "envelope",
                        len,
                        min: Envelope::MIN_LEN
                    }
                );
            }
            Ok(short) => assert_eq!(
                open_request(&SECRET, &ctx(), &short).map(|_| ()),
                Err(Error::RequestNotOpened),
                "{len}"
            ),
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    let longer = Envelope::from_bytes(&longer).expect("within bounds");
    assert_eq!(
        open_request(&SECRET, &ctx(), &longer).map(|_| ()),
        Err(Error::RequestNotOpened)
    );
}

#[test]
fn another_target_nonce_or_expiry_does_not_open() {
    let (envelope, _) = sealed(b"call contract");
    let mut target = ctx();
    target.target[31] ^= 1;
    let mut nonce = ctx();
    nonce.nonce[0] ^= 1;
    let mut later = ctx();
    later.expires_at_ms += 1;
    let mut earlier = ctx();
    earlier.expires_at_ms -= 1;
    for wrong in [target, nonce, later, earlier] {
        assert_eq!(
            open_request(&SECRET, &wrong, &envelope).map(|_| ()),
            Err(Error::RequestNotOpened),
            "{wrong:?}"
        );
    }
}

#[test]
fn another_recipient_does_not_open() {
    let (envelope, _) = sealed(b"for the worker only");
    assert_eq!(
        open_request(&OTHER_SECRET, &ctx(), &envelope).map(|_| ()),
        Err(Error::RequestNotOpened)
    );
    // Secrets that clamp to the same scalar are the same X25519 key (RFC 7748), so they open it.
    let mut same_scalar = SECRET;
    same_scalar[0] ^= 0x07; // the low three bits are cleared by clamping
    assert_eq!(public(&same_scalar), public(&SECRET));
    assert!(open_request(&same_scalar, &ctx(), &envelope).is_ok());
}

#[test]
fn a_response_opens_only_under_its_own_request_key() {
    let (_, first) = sealed(b"first");
    let (_, second) = seal_request(&public(&SECRET), &ctx(), b"second", &mut OsRng).expect("seals");
    assert_ne!(first.as_bytes(), second.as_bytes());
    let response = seal_response(&first, b"for the first", &mut OsRng).expect("seals");
    assert_eq!(
        open_response(&second, &response),
        Err(Error::ResponseNotOpened)
    );
    assert_eq!(
        open_response(&first, &response).expect("opens").as_slice(),
        b"for the first"
    );
}

#[test]
fn the_response_key_is_the_exporter_output_not_a_constant() {
    // Same recipient and context, different ephemeral keys: different response keys.
    let (a, key_a) = sealed(b"x");
    let (b, key_b) = seal_request(
        &public(&SECRET),
        &ctx(),
        b"x",
        &mut ScriptedRng::new(&[0x34; 32]),
    )
    .expect("seals");
    assert_ne!(a.enc, b.enc);
    assert_ne!(key_a.as_bytes(), key_b.as_bytes());
    // Same ephemeral key, another context: another response key.
    let mut other = ctx();
    other.nonce[15] ^= 1;
    let (_, key_c) = seal_request(
        &public(&SECRET),
        &other,
        b"x",
        &mut ScriptedRng::new(&IKM_E),
    )
    .expect("seals");
    assert_ne!(key_a.as_bytes(), key_c.as_bytes());
}

#[test]
fn tampered_and_truncated_responses_are_refused() {
    let (_, key) = sealed(b"q");
    let response =
        seal_response(&key, b"the answer", &mut ScriptedRng::new(&[9; 12])).expect("seals");
    assert_eq!(&response[..RESPONSE_NONCE_LEN], &[9; 12]);
    for index in 0..response.len() {
        let mut tampered = response.clone();
        tampered[index] ^= 0x01;
        assert_eq!(
            open_response(&key, &tampered),
            Err(Error::ResponseNotOpened),
            "byte {index}"
        );
    }
    let min = RESPONSE_NONCE_LEN + TAG_LEN;
    for len in 0..response.len() {
        let expected = if len < min {
            Error::Truncated {
                what: "response",
                len,
                min,
            }
        } else {
            Error::ResponseNotOpened
        };
        assert_eq!(
            open_response(&key, &response[..len]),
            Err(expected),
            "{len}"
        );
    }
}

#[test]
fn oversized_inputs_are_refused_before_any_cryptography() {
    let too_big = vec![0u8; MAX_SEALED_BYTES + 1];
    let refused = Error::TooLargeToSeal {
        what: "plaintext",
        len: MAX_SEALED_BYTES + 1,
        max: MAX_SEALED_BYTES,
    };
    assert_eq!(
        seal_request(&public(&SECRET), &ctx(), &too_big, &mut OsRng).map(|_| ()),
        Err(refused.clone())
    );
    let (_, key) = sealed(b"q");
    assert_eq!(
        seal_response(&key, &too_big, &mut OsRng),
        Err(refused.clone())
    );
    assert_eq!(
        seal_with_ephemeral_seed(&public(&SECRET), b"", b"", &too_big, &IKM_E).map(|_| ()),
        Err(refused)
    );
    assert_eq!(
        seal_key(&public(&SECRET), b"label", &too_big, &[1; 32], &IKM_E),
        Err(Error::TooLargeToSeal {
            what: "associated data",
            len: MAX_SEALED_BYTES + 1,
            max: MAX_SEALED_BYTES
        })
    );

    let envelope_bytes = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    assert_eq!(
        Envelope::from_bytes(&envelope_bytes),
        Err(Error::TooLargeToOpen {
            what: "envelope",
            len: MAX_ENVELOPE_BYTES + 1,
            max: MAX_ENVELOPE_BYTES
        })
    );
    // An envelope built without from_bytes (SCALE, a literal) is checked when opened.
    let built = Envelope {
        enc: [9; 32],
        ciphertext: vec![0; MAX_SEALED_BYTES + TAG_LEN + 1],
    };
    assert_eq!(
        open_request(&SECRET, &ctx(), &built).map(|_| ()),
        Err(Error::TooLargeToOpen {
            what: "envelope",
            len: MAX_ENVELOPE_BYTES + 1,
            max: MAX_ENVELOPE_BYTES
        })
    );
    let short = Envelope {
        enc: [9; 32],
        ciphertext: vec![0; TAG_LEN - 1],
    };
    assert_eq!(
        open_request(&SECRET, &ctx(), &short).map(|_| ()),
        Err(Error::Truncated {
            what: "envelope",
            len: Envelope::MIN_LEN - 1,
            min: Envelope::MIN_LEN
        })
    );
    assert_eq!(
        open_response(&key, &vec![0; MAX_RESPONSE_BYTES + 1]),
        Err(Error::TooLargeToOpen {
            what: "response",
            len: MAX_RESPONSE_BYTES + 1,
            max: MAX_RESPONSE_BYTES
        })
    );
}

#[test]
fn the_largest_plaintext_round_trips() {
    let plaintext = vec![0x5a; MAX_SEALED_BYTES];
    let (envelope, key) =
        seal_request(&public(&SECRET), &ctx(), &plaintext, &mut OsRng).expect("seals");
    let bytes = envelope.to_bytes();
    assert_eq!(bytes.len(), MAX_ENVELOPE_BYTES);
    let envelope = Envelope::from_bytes(&bytes).expect("at the limit");
    let (opened, _) = open_request(&SECRET, &ctx(), &envelope).expect("opens");
    assert_eq!(opened.as_slice(), plaintext.as_slice());
    let response = seal_response(&key, &plaintext, &mut OsRng).expect("seals");
    assert_eq!(response.len(), MAX_RESPONSE_BYTES);
    assert_eq!(
        open_response(&key, &response).expect("opens").as_slice(),
        plaintext.as_slice()
    );
}

#[test]
fn low_order_keys_are_refused() {
    // u = 0 and u = 1 are low-order points: the X25519 shared secret is all zeros.
    for point in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        assert_eq!(
            seal_request(&point, &ctx(), b"x", &mut OsRng).map(|_| ()),
            Err(Error::InvalidRecipientKey {
                key: hex::encode(point)
            })
        );
        assert_eq!(
            seal_key(&point, b"label", b"", &[1; 32], &IKM_E),
            Err(Error::InvalidRecipientKey {
                key: hex::encode(point)
            })
        );
        let forged = Envelope {
            enc: point,
            ciphertext: vec![0; 40],
        };
        assert_eq!(
            open_request(&SECRET, &ctx(), &forged).map(|_| ()),
            Err(Error::InvalidEncapsulatedKey)
        );
    }
}

#[test]
fn key_envelopes_are_deterministic_per_seed() {
    let recipient = public(&SECRET);
    let secret = [0x44; 32];
    // Two gatekeepers holding the same master derive the same seed and emit the same bytes.
    let gatekeeper_a = MasterKey::from_bytes(&[0x55; 32]);
    let gatekeeper_b = MasterKey::from_bytes(&gatekeeper_a.to_bytes());
    let seed_a = gatekeeper_a.share_seed(&recipient, 3);
    let seed_b = gatekeeper_b.share_seed(&recipient, 3);
    let a = seal_key(&recipient, b"cluster", b"epoch 3", &secret, &seed_a).expect("seals");
    let b = seal_key(&recipient, b"cluster", b"epoch 3", &secret, &seed_b).expect("seals");
    assert_eq!(a.to_bytes(), b.to_bytes());
    assert_eq!(a.ciphertext.len(), KEY_CIPHERTEXT_LEN);
    // Another epoch, another seed, another ephemeral key.
    let c = seal_key(
        &recipient,
        b"cluster",
        b"epoch 3",
        &secret,
        &gatekeeper_a.share_seed(&recipient, 4),
    )
    .expect("seals");
    assert_ne!(a.enc, c.enc);
    let opened = open_key(&SECRET, b"cluster", b"epoch 3", &a).expect("opens");
    assert_eq!(*opened, secret);
    assert_eq!(
        *open_key(&SECRET, b"cluster", b"epoch 3", &c).expect("opens"),
        secret
    );
}

#[test]
fn key_envelopes_refuse_another_label_aad_recipient_or_length() {
    let envelope =
        seal_key(&public(&SECRET), b"cluster", b"aad", &[0x44; 32], &IKM_E).expect("seals");
    for (secret, label, aad) in [
        (&OTHER_SECRET, &b"cluster"[..], &b"aad"[..]),
        (&SECRET, b"contract", b"aad"),
        (&SECRET, b"cluster", b"aae"),
        (&SECRET, b"cluster", b""),
        (&SECRET, b"", b"aad"),
    ] {
        assert_eq!(
            open_key(secret, label, aad, &envelope),
            Err(Error::KeyNotOpened),
            "{label:?} {aad:?}"
        );
    }
    let bytes = envelope.to_bytes();
    for index in 0..bytes.len() {
        let mut tampered = bytes.clone();
        tampered[index] ^= 0x01;
        let tampered = Envelope::from_bytes(&tampered).expect("same length");
        assert_eq!(
            open_key(&SECRET, b"cluster", b"aad", &tampered),
            Err(Error::KeyNotOpened),
            "byte {index}"
        );
    }
    for len in [Envelope::MIN_LEN, bytes.len() - 1, bytes.len() + 1] {
        let mut resized = bytes.clone();
        resized.resize(len, 0);
        let resized = Envelope::from_bytes(&resized).expect("within bounds");
        assert_eq!(
            open_key(&SECRET, b"cluster", b"aad", &resized),
            Err(Error::KeyEnvelopeLength {
                len: len - ENC_LEN,
                expected: KEY_CIPHERTEXT_LEN
            })
        );
    }
    let long_label = [b'x'; MAX_KEY_LABEL_BYTES + 1];
    let too_long = Error::LabelTooLong {
        len: MAX_KEY_LABEL_BYTES + 1,
        max: MAX_KEY_LABEL_BYTES,
    };
    assert_eq!(
        seal_key(&public(&SECRET), &long_label, b"", &[1; 32], &IKM_E),
        Err(too_long.clone())
    );
    assert_eq!(
        open_key(&SECRET, &long_label, b"aad", &envelope),
        Err(too_long)
    );
    assert!(seal_key(
        &public(&SECRET),
        &long_label[..MAX_KEY_LABEL_BYTES],
        b"",
        &[1; 32],
        &IKM_E
    )
    .is_ok());
}

#[test]
fn requests_and_key_envelopes_never_open_as_each_other() {
    // A 32-byte request sealed with the same ephemeral key as a key envelope: same enc, same
    // ciphertext length, different info, so neither opens as the other.
    let secret = [0x44; 32];
    let (request, _) = sealed(&secret);
    let key = seal_key(&public(&SECRET), b"", b"", &secret, &IKM_E).expect("seals");
    assert_eq!(request.enc, key.enc);
    assert_ne!(request.ciphertext, key.ciphertext);
    assert_eq!(
        open_key(&SECRET, b"", b"", &request),
        Err(Error::KeyNotOpened)
    );
    assert_eq!(
        open_request(&SECRET, &ctx(), &key).map(|_| ()),
        Err(Error::RequestNotOpened)
    );
    // Not even with the request's info smuggled in as the key label.
    let label = ctx().info();
    let mimic = seal_key(&public(&SECRET), &label, b"", &secret, &IKM_E).expect("seals");
    assert_eq!(
        open_request(&SECRET, &ctx(), &mimic).map(|_| ()),
        Err(Error::RequestNotOpened)
    );
}

#[test]
fn the_ephemeral_seed_rng_yields_the_seed_then_counts_overdraws() {
    let mut rng = EphemeralSeed::new(&IKM_E);
    let mut first = [0u8; 32];
    rng.fill_bytes(&mut first);
    assert_eq!(first, IKM_E);
    assert_eq!(rng.drawn, 32);
    let mut more = [1u8; 8];
    rng.fill_bytes(&mut more);
    assert_eq!(more, [0; 8]);
    assert_eq!(rng.drawn, 40);
    let mut split = EphemeralSeed::new(&IKM_E);
    let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
    split.fill_bytes(&mut a);
    split.fill_bytes(&mut b);
    assert_eq!(&a[..], &IKM_E[..20]);
    assert_eq!(&b[..12], &IKM_E[20..]);
    assert_eq!(&b[12..], &[0; 8]);
}

#[test]
fn secrets_never_show_in_debug() {
    let (envelope, key) = sealed(b"secret plaintext");
    let debug = format!("{key:?}");
    assert_eq!(debug, "ResponseKey(<secret>)");
    assert!(!debug.contains(&hex::encode(key.as_bytes())));
    let debug = format!("{envelope:?}");
    assert!(debug.contains(&hex::encode(envelope.enc)), "{debug}");
    assert!(debug.contains("ciphertext_len: 32"), "{debug}");
}

#[test]
fn envelope_encodings_round_trip() {
    let (envelope, _) = sealed(b"bytes");
    let bytes = envelope.to_bytes();
    assert_eq!(&bytes[..ENC_LEN], &envelope.enc);
    assert_eq!(&bytes[ENC_LEN..], envelope.ciphertext.as_slice());
    assert_eq!(Envelope::from_bytes(&bytes), Ok(envelope.clone()));
    let scale = envelope.encode();
    // enc, compact length (21 << 2 = 0x54), ciphertext.
    assert_eq!(&scale[..ENC_LEN], &envelope.enc);
    assert_eq!(scale[ENC_LEN], 21 << 2);
    assert_eq!(&scale[ENC_LEN + 1..], envelope.ciphertext.as_slice());
    assert_eq!(
        Envelope::decode(&mut scale.as_slice()).expect("decodes"),
        envelope
    );
}

fn any_context() -> impl Strategy<Value = RequestContext> {
    (any::<[u8; 32]>(), any::<[u8; 16]>(), any::<u64>())
        .prop_map(|(target, nonce, expiry)| RequestContext::new(target, nonce, expiry))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn requests_and_responses_round_trip(
        secret in any::<[u8; 32]>(),
        ikm_e in any::<[u8; 32]>(),
        ctx in any_context(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
        answer in proptest::collection::vec(any::<u8>(), 0..2048),
        nonce in any::<[u8; 12]>(),
    ) {
        let (envelope, client_key) =
            seal_request(&public(&secret), &ctx, &plaintext, &mut ScriptedRng::new(&ikm_e))
                .expect("seals");
        let envelope = Envelope::from_bytes(&envelope.to_bytes()).expect("decodes");
        let (opened, worker_key) = open_request(&secret, &ctx, &envelope).expect("opens");
        prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        prop_assert_eq!(client_key.as_bytes(), worker_key.as_bytes());
        let response =
            seal_response(&worker_key, &answer, &mut ScriptedRng::new(&nonce)).expect("seals");
        let opened = open_response(&client_key, &response).expect("opens");
        prop_assert_eq!(opened.as_slice(), answer.as_slice());
    }

    #[test]
    fn key_envelopes_round_trip(
        secret in any::<[u8; 32]>(),
        seed in any::<[u8; 32]>(),
        shared in any::<[u8; 32]>(),
        label in proptest::collection::vec(any::<u8>(), 0..=MAX_KEY_LABEL_BYTES),
        aad in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let envelope = seal_key(&public(&secret), &label, &aad, &shared, &seed).expect("seals");
        let again = seal_key(&public(&secret), &label, &aad, &shared, &seed).expect("seals");
        prop_assert_eq!(&envelope, &again);
        prop_assert_eq!(*open_key(&secret, &label, &aad, &envelope).expect("opens"), shared);
    }

    #[test]
    fn openers_never_panic_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        secret in any::<[u8; 32]>(),
        ctx in any_context(),
    ) {
        let key = ResponseKey::from_bytes(&secret);
        prop_assert!(open_response(&key, &bytes).is_err());
        prop_assert!(RequestContext::from_bytes(&bytes).is_err() || bytes.len() == 56);
        if let Ok(envelope) = Envelope::from_bytes(&bytes) {
            prop_assert_eq!(envelope.to_bytes(), bytes.clone());
            prop_assert!(open_request(&secret, &ctx, &envelope).is_err());
            prop_assert!(open_key(&secret, b"label", b"", &envelope).is_err());
        } else {
            prop_assert!(bytes.len() < Envelope::MIN_LEN);
        }
        if let Ok(envelope) = Envelope::decode(&mut bytes.as_slice()) {
            prop_assert!(open_request(&secret, &ctx, &envelope).is_err());
            prop_assert!(open_key(&secret, b"label", b"", &envelope).is_err());
        }
    }
}
