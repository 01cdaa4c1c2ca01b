//! Checking a finalization certificate from outside the chain.
//!
//! A finalization certificate is `2f + 1` ed25519 `finalize` signatures (with a bitmap of who
//! signed) over the proposal `(epoch, view, parent view, block hash)`, signed under the
//! network [`NAMESPACE`](super::NAMESPACE) suffixed with `_FINALIZE`. Whoever knows the validator
//! set can check it without running consensus: decode, compare the block hash, count the signers
//! against the quorum and verify every signature. This is what the worker enclave's light client
//! does before it trusts a block's state root.
//!
//! Nothing here needs a runtime: randomness for batch verification comes from the OS.

use super::{digest_of, hash_of, Error, Finalization, PublicKey, Result, Scheme};
use commonware_codec::{Copying, Decode, Encode};
use commonware_consensus::{Epochable, Viewable};
use commonware_cryptography::certificate::Scheme as _;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use phalanx_primitives::Hash;

/// Where in consensus a verified certificate finalized its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalizedAt {
    /// Consensus epoch (Phalanx runs a single epoch, 0, for a given validator set).
    pub epoch: u64,
    /// The view in which the block was finalized.
    pub view: u64,
    /// The view of the block's parent.
    pub parent_view: u64,
    /// How many validators signed.
    pub signers: usize,
}

/// Builds the verifying scheme for a validator set (any order; duplicates are rejected).
pub fn verifier(validators: &[PublicKey], namespace: &[u8]) -> Result<Scheme> {
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

/// Encodes a finalization certificate as [`super::Application::finalized`] receives it.
pub fn encode_finalization(finalization: &Finalization) -> Vec<u8> {
    finalization.encode().to_vec()
}

/// Verifies that `certificate` finalizes the block `expected_block_hash` under the validator set
/// `validators` and signing namespace `namespace` (the network uses [`super::NAMESPACE`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_consensus::{
        simplex::types::{Finalize, Proposal},
        types::{Epoch, Round, View},
    };
    use commonware_cryptography::{certificate::Signers, ed25519::PrivateKey, Signer as _};
    use commonware_utils::non_empty;

    const NS: &[u8] = super::super::NAMESPACE;

    fn keys(n: u64) -> Vec<PrivateKey> {
        (0..n).map(PrivateKey::from_seed).collect()
    }

    fn publics(keys: &[PrivateKey]) -> Vec<PublicKey> {
        keys.iter().map(|k| k.public_key()).collect()
    }

    /// Signs a finalization of `hash` by the given signers of the set `all`.
    fn certify(all: &[PrivateKey], signers: &[usize], namespace: &[u8], hash: Hash) -> Vec<u8> {
        let participants = Set::try_from(publics(all)).expect("distinct keys");
        let proposal = Proposal::new(
            Round::new(Epoch::zero(), View::new(7)),
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
        let finalization =
            Finalization::from_finalizes(&assembler, non_empty![@finalizes.iter()], &Sequential)
                .expect("assembles");
        encode_finalization(&finalization)
    }

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
        forged_set[3] = PrivateKey::from_seed(99);
        let cert = certify(&forged_set, &[0, 1, 3], NS, hash);
        let err = verify_finalization(&publics(&all), NS, &cert, &hash).expect_err("outsider");
        assert!(matches!(err, Error::InvalidSignatures));
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
