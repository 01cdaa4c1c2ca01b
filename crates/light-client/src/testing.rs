//! Test doubles: validator keys and certificates signed by any subset of them (honest or not).

use crate::certificate::{digest_of, encode_finalization, Finalization, PublicKey, Scheme};
use commonware_consensus::simplex::types::{Finalize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::{ed25519::PrivateKey, Signer as _};
use commonware_parallel::Sequential;
use commonware_utils::{non_empty, ordered::Set};
use phalanx_primitives::Hash;

/// `n` deterministic validator keys.
pub fn keys(n: u64) -> Vec<PrivateKey> {
    (0..n).map(key).collect()
}

/// One deterministic key from `seed`.
pub fn key(seed: u64) -> PrivateKey {
    PrivateKey::from_seed(seed)
}

/// Their public keys.
pub fn publics(keys: &[PrivateKey]) -> Vec<PublicKey> {
    keys.iter().map(|k| k.public_key()).collect()
}

/// Their public keys as raw bytes.
pub fn raw_publics(keys: &[PrivateKey]) -> Vec<[u8; 32]> {
    keys.iter()
        .map(|k| {
            let public = k.public_key();
            let bytes: &[u8] = public.as_ref();
            bytes.try_into().expect("ed25519 public keys are 32 bytes")
        })
        .collect()
}

/// A finalization of `hash` signed by `signers` (indices into `all`) as the set `all`, in
/// epoch 0.
pub fn certify(all: &[PrivateKey], signers: &[usize], namespace: &[u8], hash: Hash) -> Vec<u8> {
    certify_in_epoch(all, signers, namespace, hash, 0)
}

/// A finalization of `hash` in `epoch` signed by `signers` (indices into `all`) as the set
/// `all`.
pub fn certify_in_epoch(
    all: &[PrivateKey],
    signers: &[usize],
    namespace: &[u8],
    hash: Hash,
    epoch: u64,
) -> Vec<u8> {
    let participants = Set::try_from(publics(all)).expect("distinct keys");
    let proposal = Proposal::new(
        Round::new(Epoch::new(epoch), View::new(7)),
        View::new(6),
        digest_of(&hash),
    );
    let finalizes: Vec<Finalize<Scheme, _>> = signers
        .iter()
        .map(|index| {
            let scheme = Scheme::signer(namespace, participants.clone(), all[*index].clone())
                .expect("signer is a participant");
            Finalize::sign(&scheme, proposal.clone()).expect("signer can sign")
        })
        .collect();
    let assembler = Scheme::verifier(namespace, participants);
    let finalization: Finalization =
        Finalization::from_finalizes(&assembler, non_empty![@finalizes.iter()], &Sequential)
            .expect("assembles");
    encode_finalization(&finalization)
}

/// Evidence that `all[signer]` notarized two different blocks in `(epoch, view)`: the encoded
/// `ConflictingNotarize` activity, as consensus reports it.
pub fn conflicting_notarize(
    all: &[PrivateKey],
    signer: usize,
    namespace: &[u8],
    epoch: u64,
    view: u64,
) -> Vec<u8> {
    use commonware_codec::Encode as _;
    use commonware_consensus::simplex::types::{Activity, ConflictingNotarize, Notarize};
    let participants = Set::try_from(publics(all)).expect("distinct keys");
    let scheme = Scheme::signer(namespace, participants, all[signer].clone())
        .expect("signer is a participant");
    let vote = |block: &[u8]| {
        let proposal = Proposal::new(
            Round::new(Epoch::new(epoch), View::new(view)),
            View::new(view.saturating_sub(1)),
            digest_of(&Hash::of(block)),
        );
        Notarize::sign(&scheme, proposal).expect("signer can sign")
    };
    let fault = ConflictingNotarize::new(vote(b"one block"), vote(b"another block"));
    Activity::ConflictingNotarize(fault).encode().to_vec()
}

/// A validator's consensus signing key, for crates that build evidence or certificates in tests.
pub type ValidatorKey = PrivateKey;
