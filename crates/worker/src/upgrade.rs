//! The host's side of an upgrade: moving a worker from its running enclave build to a newer one
//! on the same machine and data directory, through the attested handover of
//! [`crate::enclave::handover`]. No subcommand drives it yet; [`upgrade`] is the whole sequence.
//!
//! 1. start the new build as a [`Successor`] (its handover key and quote);
//! 2. [`Ecall::HandOver`] to the running build with the chain's attestation policy and its
//!    state proof (`phalanx_stateProof` of `registry/policy` at a head the enclave has);
//! 3. store and commit the old build's retirement ([`SealedStore::persist`]); the commit
//!    releases the handover package;
//! 4. the successor adopts the package; store and commit its first sealed state.
//!
//! A crash anywhere is resumed by running it again: before step 3's commit the old build is
//! unchanged; after it the old build is retired but still the committed state, and hands over
//! again without a new commit; once step 4 committed, the new build's file is the sealed file.

use crate::enclave::{Ecall, Enclave, Reply, SimulatedPlatform, Successor};
use crate::host::HostError;
use crate::store::SealedStore;

/// Hands `old`'s state (stored in `store`) to the build running on `new_platform`, which must be
/// the same machine (platform secret and counter). `policy` and `policy_proof` are the chain's
/// attestation policy and its proof at `old`'s verified head. Returns the new build's enclave,
/// committed; `old` is retired (it signs nothing more).
pub fn upgrade(
    store: &SealedStore,
    old: &mut Enclave,
    new_platform: SimulatedPlatform,
    policy: Vec<u8>,
    policy_proof: Vec<u8>,
) -> Result<Enclave, HostError> {
    let (mut successor, request) = Successor::new(new_platform);
    let package = match old.ecall(Ecall::HandOver {
        handover_key: request.handover_key,
        quote: request.quote,
        policy,
        policy_proof,
    })? {
        Reply::Pending(retirement) => store
            .persist(old, &retirement)?
            .handover
            .ok_or(HostError::UnexpectedReply("hand over"))?,
        Reply::HandedOver { package } => package,
        _ => return Err(HostError::UnexpectedReply("hand over")),
    };
    let (mut new, first) = successor.adopt(&package)?;
    store.persist(&mut new, &first)?;
    tracing::info!(
        ?new,
        "worker upgraded: the new enclave build holds the same identity"
    );
    Ok(new)
}
