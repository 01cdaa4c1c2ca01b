//! Glue between marshal and the chain's [`Application`].
//!
//! - [`Builder`] implements marshal's application interface: it builds blocks on the parent
//!   consensus picked and re-executes proposed blocks. It spaces blocks at least the chain's
//!   block interval apart (the leader waits, measured from its parent's timestamp), so an idle
//!   network does not spin out empty blocks as fast as messages travel.
//! - When the chain lacks the post-state of a parent (it was notarized while this validator was
//!   away, or the validator restarted), [`Builder`] walks the parent's ancestry back to the
//!   closest block whose state the chain has and re-verifies forward from there.
//! - [`FinalizedReporter`] receives marshal's ordered finalized blocks and [`deliver`] hands them
//!   to the chain with their certificate, acknowledging each only after the chain applied it, so
//!   marshal redelivers anything the chain had not durably applied when it crashed.

use super::{
    certificate::encode_finalization, Application, ChainBlock, ConsensusBlock, Digest, PublicKey,
    Scheme, Verdict,
};
use commonware_actor::Feedback;
use commonware_consensus::{
    marshal::{ancestry::Ancestry, core::Mailbox, standard::Standard, Update},
    simplex::types::Context,
    types::{Epocher, Height},
    Heightable, Reporter,
};
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::{acknowledgement::Exact, channel::mpsc, Acknowledgement as _};
use futures::StreamExt as _;
use std::{
    future::pending,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tracing::{debug, info, warn};

/// The block type marshal handles for an application.
pub type BlockOf<A> = ConsensusBlock<<A as Application>::Block>;

/// Marshal's mailbox for an application's blocks.
pub type MarshalOf<A> = Mailbox<Scheme, Standard<BlockOf<A>>>;

/// Milliseconds since the unix epoch on the runtime clock.
pub fn now_ms(clock: &impl Clock) -> u64 {
    millis(clock.current())
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs a possibly blocking chain call off the async executor. `None` if the runtime shut down.
async fn blocking<E, T, F>(context: &E, call: F) -> Option<T>
where
    E: Spawner,
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    context
        .child("execute")
        .shared(true)
        .spawn(move |_| async move { call() })
        .await
        .ok()
}

/// Marshal-facing builder and verifier of blocks, backed by the chain.
#[derive(Clone, Debug)]
pub struct Builder<A> {
    application: A,
    block_interval: Duration,
}

impl<A: Application> Builder<A> {
    /// Wraps the chain; blocks are spaced at least `block_interval` apart.
    pub fn new(application: A, block_interval: Duration) -> Self {
        Self {
            application,
            block_interval,
        }
    }

    /// Makes the chain hold the post-state of `target` by re-verifying it and, as needed, its
    /// ancestors. `ancestors` yields `target`'s parent, grandparent, ... Returns false if the
    /// ancestry is invalid or cannot be restored.
    async fn restore<E, S>(&self, context: &E, target: BlockOf<A>, mut ancestors: S) -> bool
    where
        E: Spawner + Clock,
        S: futures::Stream<Item = Digested<BlockOf<A>>> + Unpin,
    {
        let floor = self.application.finalized_height();
        // Blocks whose state is still missing, the newest first.
        let mut missing = vec![target];
        loop {
            let Some(parent) = ancestors.next().await else {
                return false;
            };
            let parent = parent.inner().clone();
            let Some(child) = missing.last().cloned() else {
                return true;
            };
            match self.verify_pair(context, &parent, &child).await {
                Some(Verdict::Valid) => break,
                Some(Verdict::UnknownParent) if parent.block().block_height() > floor => {
                    missing.push(parent);
                }
                _ => return false,
            }
        }
        // The oldest missing block now has state; re-verify forward to the target.
        let Some(mut parent) = missing.pop() else {
            return true;
        };
        while let Some(child) = missing.pop() {
            if self.verify_pair(context, &parent, &child).await != Some(Verdict::Valid) {
                return false;
            }
            parent = child;
        }
        debug!(
            height = parent.block().block_height(),
            "restored parent state"
        );
        true
    }

    async fn verify_pair<E: Spawner + Clock>(
        &self,
        context: &E,
        parent: &BlockOf<A>,
        block: &BlockOf<A>,
    ) -> Option<Verdict> {
        let application = self.application.clone();
        let parent = parent.block().clone();
        let block = block.block().clone();
        let now = now_ms(context);
        blocking(context, move || application.verify(&parent, &block, now)).await
    }

    async fn build<E: Spawner + Clock>(
        &self,
        context: &E,
        parent: &BlockOf<A>,
    ) -> Option<Option<A::Block>> {
        let application = self.application.clone();
        let parent = parent.block().clone();
        let timestamp = now_ms(context);
        blocking(context, move || application.propose(&parent, timestamp)).await
    }
}

impl<E, A> commonware_consensus::Application<E> for Builder<A>
where
    E: Spawner + Clock,
    A: Application,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, PublicKey>;
    type Block = BlockOf<A>;
    type Input = ();

    async fn propose(
        &mut self,
        (context, consensus): (E, Self::Context),
        mut ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> Option<Digested<Self::Block>> {
        self.application.observe_view(consensus.round.view().get());
        let parent = ancestry.next().await?.inner().clone();

        // Space blocks: wait until the chain's block interval after the parent's timestamp.
        let interval = self
            .application
            .block_interval()
            .unwrap_or(self.block_interval);
        let earliest = UNIX_EPOCH + Duration::from_millis(parent.block().timestamp_ms()) + interval;
        if context.current() < earliest {
            context.sleep_until(earliest).await;
        }

        let mut built = self.build(&context, &parent).await?;
        if built.is_none() {
            // The chain lacks the parent's post-state: replay its ancestry, then try again.
            if !self.restore(&context, parent.clone(), ancestry).await {
                warn!(round = %consensus.round, "cannot build: parent state is unavailable");
                return None;
            }
            built = self.build(&context, &parent).await?;
        }
        let block = ConsensusBlock::new(built?);
        let digest = block.digest();
        // Every block of a dev chain is proposed here; at info level this would drown the log.
        debug!(
            round = %consensus.round,
            height = block.block().block_height(),
            hash = %block.block().block_hash(),
            "proposed block"
        );
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (context, consensus): (E, Self::Context),
        mut ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        self.application.observe_view(consensus.round.view().get());
        let (Some(block), Some(parent)) = (ancestry.next().await, ancestry.next().await) else {
            // Marshal hands over the block and its parent; without them there is nothing to
            // judge, so abstain rather than vote against the block.
            return pending().await;
        };
        let (block, parent) = (block.inner().clone(), parent.inner().clone());
        match self.verify_pair(&context, &parent, &block).await {
            Some(Verdict::Valid) => true,
            Some(Verdict::Invalid) => {
                warn!(round = %consensus.round, height = block.block().block_height(), "rejected invalid block");
                false
            }
            Some(Verdict::UnknownParent) => {
                if !self.restore(&context, parent.clone(), ancestry).await {
                    warn!(round = %consensus.round, "cannot verify: parent state is unavailable");
                    // The verdict could change once state is available: abstain.
                    return pending().await;
                }
                self.verify_pair(&context, &parent, &block).await == Some(Verdict::Valid)
            }
            // The runtime is shutting down.
            None => pending().await,
        }
    }
}

/// A finalized block waiting for the chain, with marshal's acknowledgement.
pub type Delivery<A> = (Digested<BlockOf<A>>, Exact);

/// Marshal reporter that queues finalized blocks for [`deliver`].
#[derive(Debug)]
pub struct FinalizedReporter<A: Application> {
    sender: mpsc::UnboundedSender<Delivery<A>>,
}

impl<A: Application> Clone for FinalizedReporter<A> {
    fn clone(&self) -> Self {
        Self {
            sender: self.sender.clone(),
        }
    }
}

impl<A: Application> FinalizedReporter<A> {
    /// Creates the reporter and the queue [`deliver`] drains.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<Delivery<A>>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self { sender }, receiver)
    }
}

impl<A: Application> Reporter for FinalizedReporter<A> {
    type Activity = Update<BlockOf<A>, Exact>;

    fn report(&mut self, update: Self::Activity) -> Feedback {
        match update {
            Update::Tip(round, height, digest) => {
                debug!(%round, height = height.get(), %digest, "finalized tip");
                Feedback::Ok
            }
            Update::Block(block, ack) => match self.sender.send((block, ack)) {
                Ok(()) => Feedback::Ok,
                Err(_) => Feedback::Closed,
            },
        }
    }
}

/// The chain applied the last block of an epoch: the next epoch can start.
#[derive(Clone, Debug)]
pub struct Transition {
    /// The epoch that starts.
    pub epoch: u64,
    /// Its validator set as the chain's state names it; `None` keeps the previous set.
    pub validators: Option<Vec<PublicKey>>,
    /// The digest of the previous epoch's last block (the new epoch's genesis).
    pub boundary: Digest,
}

/// Hands finalized blocks to the chain in height order, with their certificates.
///
/// First replays heights marshal already reported in an earlier run but the chain has not applied
/// (up to `processed`), then drains `queue` until marshal stops. After the chain applied the last
/// block of an epoch, announces the next epoch on `transitions`.
pub async fn deliver<E, A, ES>(
    context: E,
    application: A,
    marshal: MarshalOf<A>,
    processed: Option<u64>,
    mut queue: mpsc::UnboundedReceiver<Delivery<A>>,
    epocher: ES,
    transitions: mpsc::UnboundedSender<Transition>,
) where
    E: Spawner,
    A: Application,
    ES: Epocher,
{
    let announce = |block: &Digested<BlockOf<A>>| {
        let height = block.height();
        let Some(info) = epocher.containing(height) else {
            return;
        };
        // Only when the chain's head is this block, so its state names the next set.
        if height != info.last() || application.finalized_height() != height.get() {
            return;
        }
        let epoch = info.epoch().get() + 1;
        info!(epoch, boundary = height.get(), "epoch boundary finalized");
        let _ = transitions.send(Transition {
            epoch,
            validators: application.next_validators(),
            boundary: block.digest(),
        });
    };
    let applied = application.finalized_height();
    if let Some(processed) = processed.filter(|processed| *processed > applied) {
        info!(
            from = applied + 1,
            to = processed,
            "replaying finalized blocks to the chain"
        );
        for height in applied + 1..=processed {
            let Some(block) = marshal.get_block(Height::new(height)).await else {
                warn!(height, "finalized block missing from consensus storage");
                break;
            };
            apply(&context, &application, &marshal, &block).await;
            announce(&block);
        }
    }
    while let Some((block, ack)) = queue.recv().await {
        apply(&context, &application, &marshal, &block).await;
        announce(&block);
        ack.acknowledge();
    }
}

async fn apply<E: Spawner, A: Application>(
    context: &E,
    application: &A,
    marshal: &MarshalOf<A>,
    block: &Digested<BlockOf<A>>,
) {
    let height = block.height();
    let certificate = marshal
        .get_finalization(height)
        .await
        .filter(|finalization| finalization.proposal.payload == block.digest())
        .map(|finalization| encode_finalization(&finalization));
    debug!(
        height = height.get(),
        hash = %block.inner().block().block_hash(),
        certified = certificate.is_some(),
        "delivering finalized block"
    );
    let application = application.clone();
    let chain_block = block.inner().block().clone();
    let _ = blocking(context, move || {
        application.finalized(chain_block, certificate)
    })
    .await;
}
