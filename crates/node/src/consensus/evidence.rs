//! Misbehaviour evidence from consensus.
//!
//! Simplex reports every vote it sees. With the attributable ed25519 scheme two votes by the same
//! validator that cannot both be honest are transferable proof of a fault:
//!
//! - `ConflictingNotarize`: notarize votes for two different blocks in one view (equivocation);
//! - `ConflictingFinalize`: finalize votes for two different blocks in one view;
//! - `NullifyFinalize`: a vote to skip a view and a vote to finalize a block in it.
//!
//! [`EvidenceReporter`] keeps only these (consensus wraps it in an `AttributableReporter`, so
//! the signatures are verified before it sees them), logs them and hands them to the chain
//! through [`Application::misbehaviour`](super::Application::misbehaviour). The evidence bytes
//! are the commonware-codec encoding of the consensus activity, so anyone holding the validator
//! set can re-check them with [`verify_misbehaviour`] (what a slashing transaction would do).

use super::{certificate::verifier, Application, Digest, Error, PublicKey, Result, Scheme};
use commonware_actor::Feedback;
use commonware_codec::{Copying, Decode, Encode};
use commonware_consensus::{
    simplex::types::{Activity, Attributable},
    Reporter, Viewable,
};
use commonware_cryptography::certificate::Scheme as _;
use commonware_parallel::Sequential;
use commonware_utils::ordered::Quorum as _;
use tracing::warn;

/// The kind of fault a validator committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MisbehaviourKind {
    /// Notarize votes for two different blocks in the same view.
    ConflictingNotarize,
    /// Finalize votes for two different blocks in the same view.
    ConflictingFinalize,
    /// A nullify vote and a finalize vote in the same view.
    NullifyFinalize,
}

/// Verified proof that a validator misbehaved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Misbehaviour {
    /// What the validator did.
    pub kind: MisbehaviourKind,
    /// The offending validator's public key.
    pub validator: PublicKey,
    /// The consensus view of the conflicting votes.
    pub view: u64,
    /// commonware-codec encoding of the consensus activity (both signed votes).
    pub evidence: Vec<u8>,
}

/// Converts a consensus activity into evidence if it proves a fault.
fn misbehaviour_of(scheme: &Scheme, activity: &Activity<Scheme, Digest>) -> Option<Misbehaviour> {
    let (kind, signer, view) = match activity {
        Activity::ConflictingNotarize(fault) => (
            MisbehaviourKind::ConflictingNotarize,
            fault.signer(),
            fault.view(),
        ),
        Activity::ConflictingFinalize(fault) => (
            MisbehaviourKind::ConflictingFinalize,
            fault.signer(),
            fault.view(),
        ),
        Activity::NullifyFinalize(fault) => (
            MisbehaviourKind::NullifyFinalize,
            fault.signer(),
            fault.view(),
        ),
        _ => return None,
    };
    let validator = scheme.participants().key(signer)?.clone();
    Some(Misbehaviour {
        kind,
        validator,
        view: view.get(),
        evidence: activity.encode().to_vec(),
    })
}

/// Re-checks evidence bytes against a validator set and namespace.
pub fn verify_misbehaviour(
    validators: &[PublicKey],
    namespace: &[u8],
    evidence: &[u8],
) -> Result<Misbehaviour> {
    let scheme = verifier(validators, namespace)?;
    let activity =
        Activity::<Scheme, Digest>::decode_cfg(Copying(evidence), &scheme.participants().len())
            .map_err(|err| Error::InvalidEvidence(err.to_string()))?;
    let misbehaviour = misbehaviour_of(&scheme, &activity)
        .ok_or(Error::InvalidEvidence("the activity is not a fault".into()))?;
    let mut rng = commonware_utils::sys_rng();
    if !activity.verify(&mut rng, &scheme, &Sequential) {
        return Err(Error::InvalidEvidence("signatures do not verify".into()));
    }
    Ok(misbehaviour)
}

/// Consensus reporter that forwards fault evidence to the chain.
#[derive(Clone, Debug)]
pub struct EvidenceReporter<A> {
    scheme: Scheme,
    application: A,
}

impl<A: Application> EvidenceReporter<A> {
    /// Creates a reporter resolving signers against `scheme`'s participants.
    pub fn new(scheme: Scheme, application: A) -> Self {
        Self {
            scheme,
            application,
        }
    }
}

impl<A: Application> Reporter for EvidenceReporter<A> {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        if let Some(misbehaviour) = misbehaviour_of(&self.scheme, &activity) {
            warn!(
                kind = ?misbehaviour.kind,
                validator = %misbehaviour.validator,
                view = misbehaviour.view,
                "validator misbehaviour detected"
            );
            self.application.misbehaviour(misbehaviour);
        }
        Feedback::Ok
    }
}
