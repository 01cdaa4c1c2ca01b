//! Checking a finalization certificate from outside the chain.
//!
//! A finalization certificate is `2f + 1` ed25519 `finalize` signatures (with a bitmap of who
//! signed) over the proposal `(epoch, view, parent view, block hash)`, signed under the
//! network [`NAMESPACE`] suffixed with `_FINALIZE`. Whoever knows the validator
//! set can check it without running consensus: decode, compare the block hash, count the signers
//! against the quorum and verify every signature. This is what the worker enclave's light client
//! does before it trusts a block's state root.
//!
//! A validator set is refused if any key is of small order or not canonically encoded
//! ([`is_strong_public_key`]): consensus verifies signatures the cofactored (ZIP-215) way, under
//! which anyone can sign for a small-order key, so such a key in the set would be a vote any
//! forger can cast.
//!
//! Nothing here needs a runtime: randomness for batch verification comes from the OS.

use commonware_codec::{Copying, Decode, Encode};
use commonware_consensus::{Epochable, Viewable};
use commonware_cryptography::certificate::Scheme as _;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use phalanx_primitives::account::is_strong_public_key;
use phalanx_primitives::Hash;

/// The consensus namespace of the Phalanx network: every vote is signed under it (suffixed per
/// vote kind), so certificates from another network never verify here.
pub const NAMESPACE: &[u8] = b"_PHALANX";

/// The attributable ed25519 signing scheme validators vote with.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// The digest consensus agrees on: a block's Phalanx hash.
pub type Digest = commonware_cryptography::sha256::Digest;

/// A validator's identity and vote-signing key.
pub type PublicKey = commonware_cryptography::ed25519::PublicKey;

/// A finalization certificate as stored and shipped by consensus.
pub type Finalization = commonware_consensus::simplex::types::Finalization<Scheme, Digest>;

/// Converts a Phalanx hash into the digest consensus works with.
pub fn digest_of(hash: &Hash) -> Digest {
    commonware_cryptography::sha256::Digest(hash.0)
}

/// Converts a consensus digest back into a Phalanx hash.
pub fn hash_of(digest: &Digest) -> Hash {
    Hash(digest.0)
}

/// Why a certificate was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The validator set is empty or lists a key twice.
    #[error("the validator set must be non-empty and list each key once")]
    InvalidValidatorSet,
    /// The certificate bytes do not decode.
    #[error("malformed finalization certificate: {0}")]
    MalformedCertificate(String),
    /// The certificate finalizes a different block.
    #[error("the certificate finalizes block {found}, not {expected}")]
    WrongBlock {
        /// The block hash the caller expected.
        expected: Hash,
        /// The block hash the certificate finalizes.
        found: Hash,
    },
    /// The signatures do not verify against the validator set (forged, outsider, too few).
    #[error("the certificate signatures do not verify against the validator set")]
    InvalidSignatures,
    /// The certificate belongs to another consensus epoch than the block.
    #[error("the certificate is of epoch {found}, not {expected}")]
    WrongEpoch {
        /// The epoch the caller expected.
        expected: u64,
        /// The certificate's epoch.
        found: u64,
    },
    /// A key of the validator set is of small order or not canonically encoded, so anyone
    /// could sign for it.
    #[error("validator key {key} is of small order or not canonically encoded, so anyone could sign for it; take the validator set from the chain's verified state")]
    WeakValidatorKey {
        /// The key, hex.
        key: String,
    },
}

/// A result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Where in consensus a verified certificate finalized its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalizedAt {
    /// Consensus epoch. Each epoch has its own validator set (changes take effect at epoch
    /// boundaries); check it with [`verify_finalization_in_epoch`].
    pub epoch: u64,
    /// The view in which the block was finalized.
    pub view: u64,
    /// The view of the block's parent.
    pub parent_view: u64,
    /// How many validators signed.
    pub signers: usize,
}

/// Checks that every key of a validator set is a strong ed25519 key (see the module docs).
pub fn check_validator_keys(validators: &[PublicKey]) -> Result<()> {
    for key in validators {
        let bytes: &[u8] = key.as_ref();
        let strong = <&[u8; 32]>::try_from(bytes).is_ok_and(is_strong_public_key);
        if !strong {
            return Err(Error::WeakValidatorKey {
                key: key.to_string(),
            });
        }
    }
    Ok(())
}

/// Builds the verifying scheme for a validator set (any order; duplicates and keys of small
/// order or in non-canonical encoding are rejected).
pub fn verifier(validators: &[PublicKey], namespace: &[u8]) -> Result<Scheme> {
    check_validator_keys(validators)?;
    let participants =
        Set::try_from(validators.to_vec()).map_err(|_| Error::InvalidValidatorSet)?;
    if participants.is_empty() {
        return Err(Error::InvalidValidatorSet);
    }
    Ok(Scheme::verifier(namespace, participants))
}

/// Decodes a finalization certificate without checking it.
pub fn decode_finalization(validators: usize, certificate: &[u8]) -> Result<Finalization> {
    Finalization::decode_cfg(Copying(certificate), &validators)
        .map_err(|err| Error::MalformedCertificate(err.to_string()))
}

/// Encodes a finalization certificate as consensus hands it to the chain.
pub fn encode_finalization(finalization: &Finalization) -> Vec<u8> {
    finalization.encode().to_vec()
}

/// Verifies that `certificate` finalizes the block `expected_block_hash` under the validator set
/// `validators` and signing namespace `namespace` (the network uses [`NAMESPACE`]).
///
/// Rejects undecodable bytes, a certificate for another block, fewer than a quorum of signers,
/// signers outside the set and any invalid signature.
pub fn verify_finalization(
    validators: &[PublicKey],
    namespace: &[u8],
    certificate: &[u8],
    expected_block_hash: &Hash,
) -> Result<FinalizedAt> {
    let scheme = verifier(validators, namespace)?;
    let finalization = decode_finalization(scheme.participants().len(), certificate)?;
    let found = hash_of(&finalization.proposal.payload);
    if finalization.proposal.payload != digest_of(expected_block_hash) {
        return Err(Error::WrongBlock {
            expected: *expected_block_hash,
            found,
        });
    }
    let mut rng = commonware_utils::sys_rng();
    if !finalization.verify(&mut rng, &scheme, &Sequential) {
        return Err(Error::InvalidSignatures);
    }
    Ok(FinalizedAt {
        epoch: finalization.epoch().get(),
        view: finalization.view().get(),
        parent_view: finalization.proposal.parent.get(),
        signers: finalization.certificate.signers.count(),
    })
}

/// [`verify_finalization`] for a certificate that must belong to `epoch`, whose validator set is
/// `validators`. A validator set only signs for its own epoch, so a certificate of another epoch
/// is refused even when the sets overlap.
pub fn verify_finalization_in_epoch(
    validators: &[PublicKey],
    namespace: &[u8],
    certificate: &[u8],
    expected_block_hash: &Hash,
    epoch: u64,
) -> Result<FinalizedAt> {
    let at = verify_finalization(validators, namespace, certificate, expected_block_hash)?;
    if at.epoch != epoch {
        return Err(Error::WrongEpoch {
            expected: epoch,
            found: at.epoch,
        });
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{certify, keys, publics};
    use commonware_cryptography::certificate::Signers;

    const NS: &[u8] = NAMESPACE;

    #[test]
    fn accepts_quorum_certificate() {
        let all = keys(4);
        let hash = Hash([7; 32]);
        let cert = certify(&all, &[0, 1, 3], NS, hash);
        let at = verify_finalization(&publics(&all), NS, &cert, &hash).expect("valid");
        assert_eq!(at.view, 7);
        assert_eq!(at.parent_view, 6);
        assert_eq!(at.signers, 3);
        // Order of the validator list does not matter.
        let mut reversed = publics(&all);
        reversed.reverse();
        assert!(verify_finalization(&reversed, NS, &cert, &hash).is_ok());
    }

    #[test]
    fn checks_the_epoch_when_asked() {
        let all = keys(4);
        let hash = Hash([7; 32]);
        let cert = certify(&all, &[0, 1, 2], NS, hash);
        let at = verify_finalization(&publics(&all), NS, &cert, &hash).expect("valid");
        assert!(verify_finalization_in_epoch(&publics(&all), NS, &cert, &hash, at.epoch).is_ok());
        let err = verify_finalization_in_epoch(&publics(&all), NS, &cert, &hash, at.epoch + 1)
            .expect_err("another epoch");
        assert!(matches!(err, Error::WrongEpoch { .. }));
    }

    #[test]
    fn rejects_tampered_block_hash() {
        let all = keys(4);
        let cert = certify(&all, &[0, 1, 2], NS, Hash([7; 32]));
        let err = verify_finalization(&publics(&all), NS, &cert, &Hash([8; 32]))
            .expect_err("other block");
        assert!(matches!(err, Error::WrongBlock { .. }));

        // Rewriting the payload inside the certificate breaks the signatures.
        let mut finalization = decode_finalization(4, &cert).expect("decodes");
        finalization.proposal.payload = digest_of(&Hash([8; 32]));
        let forged = encode_finalization(&finalization);
        let err = verify_finalization(&publics(&all), NS, &forged, &Hash([8; 32]))
            .expect_err("forged payload");
        assert!(matches!(err, Error::InvalidSignatures));
    }

    #[test]
    fn rejects_too_few_signatures() {
        let all = keys(4);
        let hash = Hash([1; 32]);
        // Take a valid 3-of-4 certificate and drop one signer: 2 of 4 is below the quorum.
        let cert = certify(&all, &[0, 1, 2], NS, hash);
        let mut finalization = decode_finalization(4, &cert).expect("decodes");
        let kept: Vec<_> = finalization.certificate.signers.iter().take(2).collect();
        finalization.certificate.signers = Signers::new(4, kept).expect("valid signer set");
        finalization.certificate.signatures.pop();
        let stripped = encode_finalization(&finalization);
        let err = verify_finalization(&publics(&all), NS, &stripped, &hash).expect_err("2 of 4");
        assert!(matches!(err, Error::InvalidSignatures));
    }

    #[test]
    fn rejects_wrong_signer() {
        let all = keys(4);
        let hash = Hash([2; 32]);
        // Signed by a set where validator 3 is replaced by an outsider.
        let mut forged_set = all.clone();
        forged_set[3] = crate::testing::key(99);
        let cert = certify(&forged_set, &[0, 1, 3], NS, hash);
        let err = verify_finalization(&publics(&all), NS, &cert, &hash).expect_err("outsider");
        assert!(matches!(err, Error::InvalidSignatures));
    }

    /// The eight points of small order, canonically encoded, and six non-canonical encodings
    /// of them (y + p where that fits in 255 bits, or the sign bit set on x = 0).
    const SMALL_ORDER: [&str; 14] = [
        "0100000000000000000000000000000000000000000000000000000000000000", // identity
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
        "0000000000000000000000000000000000000000000000000000000000000000", // order 4
        "0000000000000000000000000000000000000000000000000000000000000080", // order 4
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
        "0100000000000000000000000000000000000000000000000000000000000080", // identity, -0
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // identity, y = p + 1
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // both
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 4, y = p
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 4, y = p
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, -0
    ];

    fn public_key(hex_bytes: &str) -> PublicKey {
        let bytes: Vec<u8> = (0..hex_bytes.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex_bytes[i..i + 2], 16).expect("hex"))
            .collect();
        // Consensus decodes keys the ZIP-215 way: all of these are accepted as points.
        PublicKey::decode_cfg(Copying(&bytes[..]), &()).expect("decodes as a point")
    }

    #[test]
    fn small_order_and_non_canonical_keys_are_refused_in_a_validator_set() {
        let all = keys(3);
        let hash = Hash([4; 32]);
        let cert = certify(&all, &[0, 1, 2], NS, hash);
        assert!(verify_finalization(&publics(&all), NS, &cert, &hash).is_ok());
        for encoding in SMALL_ORDER {
            let mut set = publics(&all);
            set.push(public_key(encoding));
            for result in [
                verifier(&set, NS).map(|_| ()),
                check_validator_keys(&set),
                verify_finalization(&set, NS, &cert, &hash).map(|_| ()),
            ] {
                assert!(
                    matches!(result, Err(Error::WeakValidatorKey { ref key }) if key == encoding),
                    "{encoding}: {result:?}"
                );
            }
        }
    }

    /// The attack the check closes: with the identity point in a set of four, two honest votes
    /// and a signature anyone can make (R = identity, s = 0) form a quorum.
    #[test]
    fn a_small_order_key_would_let_anyone_cast_its_vote() {
        use commonware_codec::DecodeExt;
        use commonware_consensus::simplex::types::{Finalize, Proposal};
        use commonware_consensus::types::{Epoch, Round, View};
        use commonware_utils::{non_empty, Participant};

        let honest = keys(3);
        let weak = public_key(SMALL_ORDER[0]);
        let mut set = publics(&honest);
        set.push(weak.clone());
        let participants = Set::try_from(set.clone()).expect("distinct keys");
        let hash = Hash([5; 32]);
        let proposal = Proposal::new(
            Round::new(Epoch::new(0), View::new(7)),
            View::new(6),
            digest_of(&hash),
        );
        let finalizes: Vec<Finalize<Scheme, _>> = honest
            .iter()
            .map(|key| {
                let scheme = Scheme::signer(NS, participants.clone(), key.clone()).expect("member");
                Finalize::sign(&scheme, proposal.clone()).expect("signs")
            })
            .collect();
        let assembler = Scheme::verifier(NS, participants.clone());
        let mut finalization: Finalization =
            Finalization::from_finalizes(&assembler, non_empty![@finalizes.iter()], &Sequential)
                .expect("assembles");

        // Keep the first two honest signatures and add the forged one for the weak key.
        let honest_signers: Vec<_> = finalization.certificate.signers.iter().collect();
        let mut entries: Vec<_> = honest_signers
            .into_iter()
            .zip(finalization.certificate.signatures.drain(..))
            .take(2)
            .collect();
        let forged: [u8; 64] = std::array::from_fn(|i| u8::from(i == 0));
        let forged = commonware_cryptography::ed25519::Signature::decode(Copying(&forged[..]))
            .expect("64 bytes");
        let weak_index = participants.position(&weak).expect("member");
        entries.push((Participant::from_usize(weak_index), forged.into()));
        entries.sort_by_key(|(signer, _)| *signer);
        finalization.certificate.signers =
            Signers::new(4, entries.iter().map(|(signer, _)| *signer)).expect("valid signers");
        finalization.certificate.signatures = entries
            .into_iter()
            .map(|(_, signature)| signature)
            .collect();
        let forged_certificate = encode_finalization(&finalization);

        // Without the key check, the forged quorum verifies.
        let unchecked = Scheme::verifier(NS, participants);
        let decoded = decode_finalization(4, &forged_certificate).expect("decodes");
        assert!(decoded.verify(&mut commonware_utils::sys_rng(), &unchecked, &Sequential));
        // With it, the set itself is refused.
        assert!(matches!(
            verify_finalization(&set, NS, &forged_certificate, &hash),
            Err(Error::WeakValidatorKey { .. })
        ));
    }

    #[test]
    fn rejects_other_namespace_and_garbage() {
        let all = keys(4);
        let hash = Hash([3; 32]);
        let cert = certify(&all, &[0, 1, 2, 3], b"_OTHER", hash);
        assert!(matches!(
            verify_finalization(&publics(&all), NS, &cert, &hash),
            Err(Error::InvalidSignatures)
        ));
        assert!(matches!(
            verify_finalization(&publics(&all), NS, &[1, 2, 3], &hash),
            Err(Error::MalformedCertificate(_))
        ));
        let mut truncated = certify(&all, &[0, 1, 2], NS, hash);
        truncated.pop();
        assert!(verify_finalization(&publics(&all), NS, &truncated, &hash).is_err());
    }
}
