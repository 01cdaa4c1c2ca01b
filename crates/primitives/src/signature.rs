//! The chain's ed25519 verification rule, one signature at a time or many at once, with the
//! same verdict either way.
//!
//! A signature `(R, s)` by key `A` over message `M` is valid when:
//! - `A` decodes to a curve point that is not of small order (anyone could sign for such a
//!   key);
//! - `s` is a canonical scalar (below the group order `ℓ`), so a signature can't be re-encoded;
//! - `R` decodes to a curve point;
//! - `[8]([s]B − R − [k]A)` is the identity, `k = SHA-512(R ‖ A ‖ M) mod ℓ`, with `R` and `A`
//!   as the bytes given.
//!
//! The equation is the cofactored one (as in ZIP-215). An honest signature satisfies both it
//! and the cofactorless `[s]B = R + [k]A`; they differ only for crafted signatures whose `R`
//! or `A` carries a small-order component. The cofactored form is the one a batch can check
//! exactly: [`verify_batch`] tests `[8](Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ))` for random 128-bit `zᵢ`,
//! which is the identity when every signature is valid and, when one is not, only with
//! probability about 2⁻¹²⁸. A cofactorless batch would not be exact: the torsion parts of
//! crafted signatures cancel for some `zᵢ` (half of them for an order-2 part), so one node's
//! batch could accept what another node's single check refuses, and validators would disagree
//! about a block. With this rule every node reaches the same verdict whichever way it checks.
//!
//! The `zᵢ` are drawn from a SHA-512 transcript of the whole batch (every `k` and `s`), so they
//! are deterministic but unpredictable before the batch is fixed: a signer grinding its own
//! signature changes the `zᵢ` with it.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// A signature's parts once decoded and checked for form: everything but the equation.
struct Parsed {
    key: EdwardsPoint,
    r: EdwardsPoint,
    r_bytes: [u8; 32],
    s: Scalar,
    k: Scalar,
}

/// Decodes a public key: `None` if it is not a curve point or is of small order.
fn decode_key(key: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*key)
        .decompress()
        .filter(|point| !point.is_small_order())
}

/// Decoded keys by their bytes, for one run of checks (a sender signs many of a batch's
/// transactions, and decoding a key costs a square root).
#[derive(Default)]
struct Keys(std::collections::HashMap<[u8; 32], Option<EdwardsPoint>>);

impl Keys {
    fn get(&mut self, key: &[u8; 32]) -> Option<EdwardsPoint> {
        *self.0.entry(*key).or_insert_with(|| decode_key(key))
    }
}

/// The challenge `k = SHA-512(R ‖ A ‖ M) mod ℓ`, of `R` and `A` as the bytes given.
pub(crate) fn challenge(r: &[u8; 32], key: &[u8; 32], message: &[u8]) -> Scalar {
    let digest = Sha512::new()
        .chain_update(r)
        .chain_update(key)
        .chain_update(message)
        .finalize();
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&digest);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// Decodes `signature` and hashes `message` for the key `key` (already decoded as `point`);
/// `None` if the signature is malformed.
fn parse_with(
    point: EdwardsPoint,
    key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Option<Parsed> {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    Some(Parsed {
        key: point,
        r,
        r_bytes,
        s,
        k: challenge(&r_bytes, key, message),
    })
}

/// Whether `signature` is `key`'s over `message` under the chain's rule (module docs).
pub fn verify(key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    single_with(&(key, message, signature), &mut Keys::default())
}

/// One signature to check: the signer's key, the signed message and the signature.
pub type Item<'a> = (&'a [u8; 32], &'a [u8], &'a [u8; 64]);

/// Whether every signature of `items` is valid: the verdict [`verify`] would give on each,
/// reached with one multi-scalar multiplication (about twice as fast per signature for
/// batches of a few dozen). An empty batch is valid.
pub fn verify_batch(items: &[Item<'_>]) -> bool {
    batch_with(items, &mut Keys::default())
}

/// [`verify_batch`] with decoded keys shared across calls.
fn batch_with(items: &[Item<'_>], keys: &mut Keys) -> bool {
    let mut parsed = Vec::with_capacity(items.len());
    for (key, message, signature) in items {
        match keys
            .get(key)
            .and_then(|point| parse_with(point, key, message, signature))
        {
            Some(p) => parsed.push(p),
            None => return false,
        }
    }
    match parsed.as_slice() {
        [] => return true,
        [only] => return holds(only),
        _ => {}
    }
    let mut transcript = Sha512::new().chain_update(b"phalanx/ed25519-batch/v1");
    for p in &parsed {
        transcript.update(p.k.as_bytes());
        transcript.update(p.s.as_bytes());
        transcript.update(p.r_bytes);
    }
    let seed = transcript.finalize();
    let zs: Vec<Scalar> = (0..parsed.len() as u64)
        .map(|i| {
            let z = Sha512::new()
                .chain_update(seed)
                .chain_update(i.to_le_bytes())
                .finalize();
            let mut low = [0u8; 16];
            low.copy_from_slice(&z[..16]);
            Scalar::from(u128::from_le_bytes(low))
        })
        .collect();
    // Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = [Σ zᵢsᵢ]B + Σ [−zᵢ]Rᵢ + Σ [−zᵢkᵢ]Aᵢ
    let b_coefficient: Scalar = parsed.iter().zip(&zs).map(|(p, z)| z * p.s).sum();
    let scalars = std::iter::once(b_coefficient)
        .chain(zs.iter().map(|z| -z))
        .chain(parsed.iter().zip(&zs).map(|(p, z)| -(z * p.k)));
    let points = std::iter::once(curve25519_dalek::constants::ED25519_BASEPOINT_POINT)
        .chain(parsed.iter().map(|p| p.r))
        .chain(parsed.iter().map(|p| p.key));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

/// Checks many signatures, batching them in groups of [`BATCH`]; a group that fails is checked
/// one by one, so the verdict on each is exactly [`verify`]'s. One verdict per item, in order.
pub fn verify_each(items: &[Item<'_>]) -> Vec<bool> {
    let mut verdicts = Vec::with_capacity(items.len());
    let mut keys = Keys::default();
    for group in items.chunks(BATCH) {
        if batch_with(group, &mut keys) {
            verdicts.extend(std::iter::repeat_n(true, group.len()));
        } else {
            verdicts.extend(group.iter().map(|item| single_with(item, &mut keys)));
        }
    }
    verdicts
}

/// The items known good, in order, up to the first group of [`BATCH`] that fails (nothing of
/// it or after it is marked good): for callers that refuse the whole lot at the first bad
/// signature (a block, a peer's gossip), so a lot full of bad signatures costs one failed
/// batch, not a single check each. One flag per item, in order.
pub fn verify_until_failure(items: &[Item<'_>]) -> Vec<bool> {
    let mut verdicts = vec![false; items.len()];
    let mut keys = Keys::default();
    for (index, group) in items.chunks(BATCH).enumerate() {
        if !batch_with(group, &mut keys) {
            break;
        }
        let start = index * BATCH;
        verdicts[start..start + group.len()].fill(true);
    }
    verdicts
}

/// [`verify`] with decoded keys shared across calls.
fn single_with((key, message, signature): &Item<'_>, keys: &mut Keys) -> bool {
    keys.get(key)
        .and_then(|point| parse_with(point, key, message, signature))
        .is_some_and(|p| holds(&p))
}

/// Whether a decoded signature satisfies the equation: `[8]([s]B − [k]A − R)` is the identity.
fn holds(p: &Parsed) -> bool {
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &-p.key, &p.s) - p.r;
    check.mul_by_cofactor().is_identity()
}

/// Signatures checked together by [`verify_each`]: past a few dozen the per-signature cost of a
/// multi-scalar multiplication barely falls, and a failing group costs its size in single
/// checks.
pub const BATCH: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Keypair;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};

    /// A signature by `keypair` over `message` whose `R` carries the small-order point
    /// `torsion`: `R = [r]B + T`, `s = r + k·a`. The cofactorless equation misses it by `−T`;
    /// the cofactored one holds.
    fn with_torsion(keypair: &Keypair, message: &[u8], r: u64, torsion: EdwardsPoint) -> [u8; 64] {
        let a = keypair.secret_scalar();
        let key = keypair.account().0;
        let r_scalar = Scalar::from(r);
        let big_r = (ED25519_BASEPOINT_POINT * r_scalar + torsion).compress();
        let k = challenge(big_r.as_bytes(), &key, message);
        let s = r_scalar + k * a;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(big_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    #[test]
    fn honest_signatures_pass_alone_and_in_batches() {
        let keys: Vec<Keypair> = (0..70).map(|i| Keypair::dev(&format!("k{i}"))).collect();
        let messages: Vec<Vec<u8>> = (0..70u32)
            .map(|i| i.to_le_bytes().repeat(i as usize))
            .collect();
        let signatures: Vec<[u8; 64]> =
            keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
        let accounts: Vec<[u8; 32]> = keys.iter().map(|k| k.account().0).collect();
        let items: Vec<Item<'_>> = (0..70)
            .map(|i| (&accounts[i], messages[i].as_slice(), &signatures[i]))
            .collect();
        assert!(items.iter().all(|(k, m, s)| verify(k, m, s)));
        assert!(verify_batch(&items));
        assert_eq!(verify_each(&items), vec![true; 70]);
        // And the dalek strict check agrees on honest signatures.
        for (key, message, signature) in &items {
            let key = ed25519_dalek::VerifyingKey::from_bytes(key).expect("a key");
            let signature = ed25519_dalek::Signature::from_bytes(signature);
            assert!(key.verify_strict(message, &signature).is_ok());
        }
    }

    #[test]
    fn one_bad_signature_fails_the_batch_and_is_the_only_one_refused() {
        let keys: Vec<Keypair> = (0..40).map(|i| Keypair::dev(&format!("k{i}"))).collect();
        let accounts: Vec<[u8; 32]> = keys.iter().map(|k| k.account().0).collect();
        let mut signatures: Vec<[u8; 64]> = keys.iter().map(|k| k.sign(b"msg")).collect();
        // Each kind of damage: a flipped bit of R, of s, a signature by another key, s + ℓ.
        let mut cases = Vec::new();
        let mut flipped_r = signatures[3];
        flipped_r[0] ^= 1;
        cases.push(flipped_r);
        let mut flipped_s = signatures[3];
        flipped_s[40] ^= 1;
        cases.push(flipped_s);
        cases.push(signatures[4]);
        let mut unreduced = signatures[3];
        let s = Scalar::from_canonical_bytes(unreduced[32..].try_into().expect("32"))
            .expect("canonical");
        // s + ℓ as 32 bytes: the same scalar, not canonically encoded.
        let mut wide = [0u8; 32];
        let mut carry = 0u16;
        // ℓ = 2²⁵² + 27742317777372353535851937790883648493, little-endian.
        let ell: [u8; 32] =
            hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .expect("hex")
                .try_into()
                .expect("32 bytes");
        for i in 0..32 {
            let sum = u16::from(s.as_bytes()[i]) + u16::from(ell[i]) + carry;
            wide[i] = sum as u8;
            carry = sum >> 8;
        }
        // s < ℓ < 2²⁵³, so s + ℓ still fits in 32 bytes.
        assert_eq!(carry, 0);
        unreduced[32..].copy_from_slice(&wide[..32]);
        cases.push(unreduced);
        for bad in cases {
            signatures[3] = bad;
            let items: Vec<Item<'_>> = (0..40)
                .map(|i| (&accounts[i], b"msg".as_slice(), &signatures[i]))
                .collect();
            assert!(!verify(items[3].0, items[3].1, items[3].2));
            assert!(!verify_batch(&items));
            let mut expected = vec![true; 40];
            expected[3] = false;
            assert_eq!(verify_each(&items), expected);
            // Refusing the lot at the first bad one: the first group (0..64 holds index 3)
            // fails, so nothing is marked good.
            assert_eq!(verify_until_failure(&items), vec![false; 40]);
        }
    }

    #[test]
    fn a_non_canonical_small_order_r_is_accepted_as_the_rule_says() {
        // R = the identity encoded with y = p + 1 (not canonical), s = k·a: the cofactored
        // equation holds, and decoding takes y mod p. The wire spec says so; this pins it, alone
        // and in a batch, so an SDK can check its own verifier against the same case.
        let keypair = Keypair::dev("encoder");
        let key = keypair.account().0;
        let mut r_bytes = [0xffu8; 32];
        r_bytes[0] = 0xee;
        r_bytes[31] = 0x7f;
        assert!(CompressedEdwardsY(r_bytes)
            .decompress()
            .is_some_and(|point| point.is_identity()));
        let message = b"non-canonical";
        let s = challenge(&r_bytes, &key, message) * keypair.secret_scalar();
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_bytes);
        signature[32..].copy_from_slice(s.as_bytes());
        assert!(verify(&key, message, &signature));
        let other = Keypair::dev("other");
        let other_key = other.account().0;
        let other_signature = other.sign(b"x");
        assert!(verify_batch(&[
            (&key, message.as_slice(), &signature),
            (&other_key, b"x".as_slice(), &other_signature),
        ]));
    }

    #[test]
    fn refusing_the_lot_stops_at_the_first_failing_group() {
        let keys: Vec<Keypair> = (0..150).map(|i| Keypair::dev(&format!("k{i}"))).collect();
        let accounts: Vec<[u8; 32]> = keys.iter().map(|k| k.account().0).collect();
        let mut signatures: Vec<[u8; 64]> = keys.iter().map(|k| k.sign(b"lot")).collect();
        let items = |signatures: &[[u8; 64]]| -> Vec<bool> {
            let items: Vec<Item<'_>> = (0..150)
                .map(|i| (&accounts[i], b"lot".as_slice(), &signatures[i]))
                .collect();
            verify_until_failure(&items)
        };
        assert_eq!(items(&signatures), vec![true; 150]);
        signatures[100][50] ^= 1;
        let verdicts = items(&signatures);
        assert_eq!(&verdicts[..64], &[true; 64][..], "the first group is good");
        assert!(
            verdicts[64..].iter().all(|v| !v),
            "the failing group and after"
        );
    }

    #[test]
    fn small_order_keys_are_refused_even_with_a_signature_that_satisfies_the_equation() {
        // For a small-order A, [8][k]A is the identity, so R = [r]B, s = r satisfies the
        // cofactored equation for any message: anyone could sign. The key is refused first.
        for torsion in EIGHT_TORSION {
            let key = torsion.compress().0;
            let r = Scalar::from(7u64);
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice((ED25519_BASEPOINT_POINT * r).compress().as_bytes());
            signature[32..].copy_from_slice(r.as_bytes());
            assert!(!verify(&key, b"steal", &signature));
            assert!(!verify_batch(&[(&key, b"steal".as_slice(), &signature)]));
        }
    }

    #[test]
    fn single_and_batch_checks_agree_on_signatures_with_a_small_order_part() {
        // What made a cofactorless batch unsafe: these pass a cofactorless batch for some zᵢ
        // and fail a cofactorless single check. Under the chain's rule both checks accept them,
        // in any batch, whatever its zᵢ; with the torsion on top of a wrong s both refuse.
        let keypair = Keypair::dev("grinder");
        let key = keypair.account().0;
        let others: Vec<Keypair> = (0..5).map(|i| Keypair::dev(&format!("o{i}"))).collect();
        let other_keys: Vec<[u8; 32]> = others.iter().map(|k| k.account().0).collect();
        let other_sigs: Vec<[u8; 64]> = others.iter().map(|k| k.sign(b"other")).collect();
        for (index, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
            for nonce in 0..16u64 {
                let message = nonce.to_le_bytes();
                let signature = with_torsion(&keypair, &message, 1000 + nonce, *torsion);
                // The old strict (cofactorless) check refuses it.
                let dalek_key = ed25519_dalek::VerifyingKey::from_bytes(&key).expect("key");
                let dalek_sig = ed25519_dalek::Signature::from_bytes(&signature);
                assert!(
                    dalek_key.verify_strict(&message, &dalek_sig).is_err(),
                    "torsion {index}"
                );
                assert!(verify(&key, &message, &signature));
                assert!(verify_batch(&[(&key, message.as_slice(), &signature)]));
                let mut items: Vec<Item<'_>> = (0..5)
                    .map(|i| (&other_keys[i], b"other".as_slice(), &other_sigs[i]))
                    .collect();
                items.push((&key, message.as_slice(), &signature));
                assert!(verify_batch(&items));
                // The same torsion over a wrong s: refused alone and in every batch.
                let mut wrong = signature;
                let s = Scalar::from_canonical_bytes(wrong[32..].try_into().expect("32"))
                    .expect("canonical")
                    + Scalar::ONE;
                wrong[32..].copy_from_slice(s.as_bytes());
                assert!(!verify(&key, &message, &wrong));
                assert!(!verify_batch(&[(&key, message.as_slice(), &wrong)]));
                items.pop();
                items.push((&key, message.as_slice(), &wrong));
                assert!(!verify_batch(&items));
            }
        }
    }
}
