//! Checking equivocation evidence from outside consensus.
//!
//! With the attributable ed25519 scheme, two votes by one validator that cannot both be honest
//! are transferable proof of a fault:
//!
//! - `ConflictingNotarize`: notarize votes for two different blocks in one view;
//! - `ConflictingFinalize`: finalize votes for two different blocks in one view;
//! - `NullifyFinalize`: a vote to skip a view and a vote to finalize a block in it.
//!
//! Evidence is the commonware-codec encoding of the consensus activity (both signed votes).
//! Anyone who knows the validator set of the votes' epoch and the network namespace can check
//! it: decode strictly, make sure the activity is one of the three faults, name the signer and
//! verify both signatures. The runtime does exactly this before it stores evidence on chain.
//!
//! Batch signature verification draws random coefficients from the OS: the verdict on honest
//! or forged evidence is the same on every validator except with negligible probability, so
//! execution stays deterministic.

use crate::certificate::{verifier, PublicKey, Scheme};
use commonware_codec::{Copying, Decode};
use commonware_consensus::simplex::types::{Activity, Attributable};
use commonware_consensus::{Epochable, Viewable};
use commonware_cryptography::certificate::Scheme as _;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Quorum as _;

/// The digest consensus votes on.
type Digest = commonware_cryptography::sha256::Digest;

/// Largest encoded evidence accepted (two votes and their signatures are a few hundred bytes).
pub const MAX_EVIDENCE_BYTES: usize = 4_096;

/// The kind of fault two votes prove. Its discriminant is its stable code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// Notarize votes for two different blocks in the same view.
    ConflictingNotarize = 0,
    /// Finalize votes for two different blocks in the same view.
    ConflictingFinalize = 1,
    /// A nullify vote and a finalize vote in the same view.
    NullifyFinalize = 2,
}

/// A verified fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What the validator did.
    pub kind: FaultKind,
    /// Its ed25519 consensus key.
    pub validator: [u8; 32],
    /// The epoch of the conflicting votes.
    pub epoch: u64,
    /// Their view.
    pub view: u64,
}

/// Why evidence was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// Over [`MAX_EVIDENCE_BYTES`].
    #[error("evidence is {0} bytes, over the {MAX_EVIDENCE_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not a consensus activity.
    #[error("evidence does not decode as a consensus activity")]
    Malformed,
    /// An activity, but not one that proves a fault.
    #[error("the activity is not a fault (two conflicting votes of one validator)")]
    NotAFault,
    /// The signer is not in the validator set it was checked against.
    #[error("the signer is not in the validator set of the votes' epoch")]
    UnknownSigner,
    /// The votes' epoch is not the one the set was given for.
    #[error("the votes are from epoch {found}, not epoch {expected}")]
    WrongEpoch {
        /// The votes' epoch.
        found: u64,
        /// The epoch the validator set belongs to.
        expected: u64,
    },
    /// A signature does not verify.
    #[error("the votes' signatures do not verify")]
    BadSignature,
    /// The validator set is unusable.
    #[error("invalid validator set: {0}")]
    ValidatorSet(String),
}

/// Most validators a set may have (the runtime's bound): decoding evidence before its set is
/// known accepts signer indices below it.
const MAX_SIGNERS: usize = 128;

/// The epoch the evidence's votes claim, read without checking anything else (the check needs
/// that epoch's validator set). `None` if the bytes are not a fault at all.
pub fn claimed_epoch(evidence: &[u8]) -> Option<u64> {
    if evidence.len() > MAX_EVIDENCE_BYTES {
        return None;
    }
    let activity = Activity::<Scheme, Digest>::decode_cfg(Copying(evidence), &MAX_SIGNERS).ok()?;
    match &activity {
        Activity::ConflictingNotarize(f) => Some(f.epoch().get()),
        Activity::ConflictingFinalize(f) => Some(f.epoch().get()),
        Activity::NullifyFinalize(f) => Some(f.epoch().get()),
        _ => None,
    }
}

/// Checks `evidence` against `validators`, the set of `epoch`, under `namespace`.
pub fn verify_fault(
    validators: &[[u8; 32]],
    epoch: u64,
    namespace: &[u8],
    evidence: &[u8],
) -> Result<Fault, EvidenceError> {
    if evidence.len() > MAX_EVIDENCE_BYTES {
        return Err(EvidenceError::TooLarge(evidence.len()));
    }
    let keys = validators
        .iter()
        .map(|key| {
            use commonware_codec::DecodeExt as _;
            PublicKey::decode(Copying(&key[..]))
                .map_err(|_| EvidenceError::ValidatorSet("a key is not an ed25519 key".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let scheme =
        verifier(&keys, namespace).map_err(|e| EvidenceError::ValidatorSet(e.to_string()))?;
    let activity =
        Activity::<Scheme, Digest>::decode_cfg(Copying(evidence), &scheme.participants().len())
            .map_err(|_| EvidenceError::Malformed)?;
    let (kind, signer, found_epoch, view) = match &activity {
        Activity::ConflictingNotarize(f) => (
            FaultKind::ConflictingNotarize,
            f.signer(),
            f.epoch(),
            f.view(),
        ),
        Activity::ConflictingFinalize(f) => (
            FaultKind::ConflictingFinalize,
            f.signer(),
            f.epoch(),
            f.view(),
        ),
        Activity::NullifyFinalize(f) => {
            (FaultKind::NullifyFinalize, f.signer(), f.epoch(), f.view())
        }
        _ => return Err(EvidenceError::NotAFault),
    };
    if found_epoch.get() != epoch {
        return Err(EvidenceError::WrongEpoch {
            found: found_epoch.get(),
            expected: epoch,
        });
    }
    let key = scheme
        .participants()
        .key(signer)
        .ok_or(EvidenceError::UnknownSigner)?;
    let bytes: &[u8] = key.as_ref();
    let validator: [u8; 32] = bytes.try_into().map_err(|_| EvidenceError::UnknownSigner)?;
    let mut rng = commonware_utils::sys_rng();
    if !activity.verify(&mut rng, &scheme, &Sequential) {
        return Err(EvidenceError::BadSignature);
    }
    Ok(Fault {
        kind,
        validator,
        epoch,
        view: view.get(),
    })
}
