//! The epoch orchestrator: one simplex instance per epoch, over that epoch's validator set.
//!
//! The delivery task sends a [`Transition`] once the chain has applied an epoch's last block
//! (the boundary); [`Epochs`] then stops the running instance and starts the next epoch's, rooted
//! at the boundary block, if this node is in the new set. Votes heard for a later epoch (the
//! muxer's backup channel) mean this node missed its boundary's finalization, so it asks marshal
//! to fetch it, at most once per [`HINT_INTERVAL`]. [`EpochSchemes`] keeps every epoch's set for
//! marshal, which verifies each certificate against the set of its own epoch.

use super::{
    adapter::{BlockOf, Builder, MarshalOf, Transition},
    config::EngineConfig,
    evidence::EvidenceReporter,
    Application, Digest, Error, PrivateKey, PublicKey, Result, Scheme,
};
use commonware_consensus::{
    marshal::standard::Inline,
    simplex::{
        self, elector::RoundRobin, scheme::reporter::AttributableReporter, ForwardPolicy,
        SkipBudget, SkipPolicy,
    },
    types::{Epoch, Epocher as _, FixedEpocher, ViewDelta},
    Reporters,
};
use commonware_cryptography::{
    certificate::{Provider as CertificateProvider, Scoped},
    Sha256,
};
use commonware_p2p::{utils::mux::MuxHandle, Blocker, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Handle, Metrics, Spawner, Storage};
use commonware_utils::{channel::mpsc, ordered::Set, vec::NonEmptyVec, NZUsize, NonZeroDuration};
use futures::future::{select, Either};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tracing::{info, warn};

/// The validator set of every epoch this node has seen, as marshal's certificate provider: a
/// certificate verifies only against the set of the epoch it belongs to.
#[derive(Clone, Debug)]
pub struct EpochSchemes {
    namespace: Vec<u8>,
    signer: PrivateKey,
    schemes: Arc<Mutex<BTreeMap<u64, Scoped<Scheme>>>>,
}

impl EpochSchemes {
    pub(super) fn new(namespace: Vec<u8>, signer: PrivateKey) -> Self {
        Self {
            namespace,
            signer,
            schemes: Arc::default(),
        }
    }

    /// Records the set of `epoch`; returns the signing scheme if this node is in it.
    pub(super) fn insert(&self, epoch: u64, participants: Set<PublicKey>) -> Option<Scheme> {
        let signing = Scheme::signer(&self.namespace, participants.clone(), self.signer.clone());
        let scoped = match &signing {
            Some(scheme) => Scoped::scheme(Arc::new(scheme.clone())),
            None => Scoped::verifier(Arc::new(Scheme::verifier(&self.namespace, participants))),
        };
        self.schemes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(epoch, scoped);
        signing
    }
}

impl CertificateProvider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        self.schemes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&epoch.get())
            .cloned()
    }
}

/// Sorted, duplicate-free participant set of an epoch.
pub(super) fn participant_set(mut validators: Vec<PublicKey>) -> Result<Set<PublicKey>> {
    validators.sort();
    validators.dedup();
    if validators.is_empty() {
        return Err(Error::InvalidValidatorSet);
    }
    Set::try_from(validators).map_err(|_| Error::InvalidValidatorSet)
}

/// Messages of a simplex channel for an epoch this node has no instance for.
pub(super) type Backup = mpsc::Receiver<(u64, commonware_p2p::Message<PublicKey>)>;

/// How often at most a node that hears a later epoch asks for its boundary finalization.
const HINT_INTERVAL: Duration = Duration::from_secs(1);

/// Starts and stops the per-epoch simplex instances.
pub(super) struct Epochs<E, A, B, S, F>
where
    E: Spawner + Clock + Storage + Metrics + rand_core_010::CryptoRng,
    A: Application,
    S: Sender,
{
    pub(super) config: EngineConfig,
    pub(super) application: A,
    pub(super) inline: Inline<E, Scheme, Builder<A>, BlockOf<A>, FixedEpocher>,
    pub(super) marshal: MarshalOf<A>,
    pub(super) epocher: FixedEpocher,
    pub(super) schemes: EpochSchemes,
    pub(super) blocker: B,
    pub(super) votes: MuxHandle<S>,
    pub(super) certificates: MuxHandle<S>,
    pub(super) certificate_resolver: MuxHandle<S>,
    pub(super) page_cache: CacheRef,
    pub(super) fetch_timeout: NonZeroDuration,
    pub(super) peer_sets: F,
    /// The epoch running now and its instance (`None` while this node is not in the set).
    pub(super) current: Option<(u64, Option<Handle<()>>)>,
}

impl<E, A, B, S, F> Epochs<E, A, B, S, F>
where
    E: Spawner + Clock + Storage + Metrics + rand_core_010::CryptoRng,
    A: Application,
    S: Sender<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    F: FnMut(u64, &[PublicKey]) + Send + 'static,
{
    /// Enters the `first` epoch, then the epoch of every transition the delivery task sends;
    /// a vote of a later epoch on the `backup` channel means this node missed a boundary.
    pub(super) async fn run(
        mut self,
        context: E,
        first: Transition,
        mut transitions: mpsc::UnboundedReceiver<Transition>,
        mut backup: Backup,
    ) {
        let mut set = participant_set(self.config.validators.clone()).ok();
        self.enter(&context, first, &mut set).await;
        let mut last_hint: Option<SystemTime> = None;
        loop {
            let next = select(Box::pin(transitions.recv()), Box::pin(backup.recv())).await;
            match next {
                Either::Left((Some(transition), _)) => {
                    let current = self.current.as_ref().map(|(epoch, _)| *epoch);
                    if current.is_some_and(|current| transition.epoch <= current) {
                        continue;
                    }
                    if let Some((epoch, Some(handle))) = self.current.take() {
                        handle.abort();
                        let _ = handle.await;
                        info!(epoch, "epoch ended");
                    }
                    self.enter(&context, transition, &mut set).await;
                }
                Either::Right((Some((channel, (peer, _))), _)) => {
                    // A peer votes in a later epoch: we missed our boundary's finalization.
                    let Some((epoch, _)) = self.current else {
                        continue;
                    };
                    if channel <= epoch {
                        continue;
                    }
                    let now = context.current();
                    if last_hint.is_some_and(|last| {
                        now.duration_since(last).unwrap_or_default() < HINT_INTERVAL
                    }) {
                        continue;
                    }
                    last_hint = Some(now);
                    if let Some(boundary) = self.epocher.last(Epoch::new(epoch)) {
                        info!(epoch, ahead = channel, %peer, "a peer is in a later epoch; fetching the boundary");
                        self.marshal
                            .hint_finalized(boundary, NonEmptyVec::new(peer));
                    }
                }
                // The delivery task or the muxer stopped: the node is shutting down.
                Either::Left((None, _)) | Either::Right((None, _)) => return,
            }
        }
    }

    /// Enters `transition.epoch`: records its set and, if this node is in it, starts its
    /// simplex instance rooted at the boundary block.
    async fn enter(
        &mut self,
        context: &E,
        transition: Transition,
        set: &mut Option<Set<PublicKey>>,
    ) {
        let epoch = transition.epoch;
        if let Some(next) = transition
            .validators
            .and_then(|validators| participant_set(validators).ok())
        {
            *set = Some(next);
        }
        let Some(participants) = set.clone() else {
            warn!(epoch, "no valid validator set for the epoch");
            self.current = Some((epoch, None));
            return;
        };
        let keys: Vec<PublicKey> = participants.iter().cloned().collect();
        (self.peer_sets)(epoch, &keys);
        let Some(scheme) = self.schemes.insert(epoch, participants) else {
            info!(
                epoch,
                validators = keys.len(),
                "not in this epoch's validator set; not voting"
            );
            self.current = Some((epoch, None));
            return;
        };
        let handle = match self
            .start(context, epoch, scheme, transition.boundary)
            .await
        {
            Ok(handle) => Some(handle),
            Err(err) => {
                warn!(epoch, %err, "could not start the epoch's consensus");
                None
            }
        };
        info!(epoch, validators = keys.len(), boundary = %transition.boundary, "epoch started");
        self.current = Some((epoch, handle));
    }

    async fn start(
        &mut self,
        context: &E,
        epoch: u64,
        scheme: Scheme,
        boundary: Digest,
    ) -> Result<Handle<()>> {
        let network = |err: commonware_p2p::utils::mux::Error| Error::Network(err.to_string());
        let votes = self.votes.register(epoch).await.map_err(network)?;
        let certificates = self.certificates.register(epoch).await.map_err(network)?;
        let resolver = self
            .certificate_resolver
            .register(epoch)
            .await
            .map_err(network)?;
        let context = context.child("simplex").with_attribute("epoch", epoch);
        let evidence = AttributableReporter::new(
            context.child("evidence"),
            scheme.clone(),
            EvidenceReporter::new(scheme.clone(), self.application.clone()),
            Sequential,
            true,
        );
        let timeouts = self.config.timeouts;
        let buffer_size = NZUsize!(1 << 20);
        let engine = simplex::Engine::new(
            context.child("engine"),
            simplex::Config {
                scheme,
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.blocker.clone(),
                automaton: self.inline.clone(),
                relay: self.inline.clone(),
                reporter: Reporters::from((self.inline.clone(), evidence)),
                track_historical_votes: false,
                strategy: Sequential,
                partition: format!("{}-simplex-{epoch}", self.config.partition_prefix),
                mailbox_size: self.config.mailbox_size,
                epoch: Epoch::new(epoch),
                floor: simplex::Floor::Genesis(boundary),
                replay_buffer: buffer_size,
                write_buffer: buffer_size,
                page_cache: self.page_cache.clone(),
                leader_timeout: timeouts.leader,
                certification_timeout: timeouts.notarization,
                timeout_retry: timeouts.nullify_retry,
                view_retention: ViewDelta::new(1_024),
                skip: SkipPolicy::Enabled {
                    timeout: timeouts.skip_silent_leader,
                    budget: SkipBudget::Participants,
                },
                fetch_timeout: self.fetch_timeout,
                fetch_retry_delay: Duration::from_millis(100),
                forward: ForwardPolicy::SilentLeader,
            },
        );
        Ok(engine.start(votes, certificates, resolver))
    }
}
