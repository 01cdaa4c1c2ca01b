//! The tree of blocks above the finalized head: the head with its state, and every block this
//! node built or verified on top of it, each with its post-state.
//!
//! Consensus may build on blocks that are notarized but not yet finalized, so several forks can
//! grow at once; each pending block keeps its own state copy (O(1)). Finalizing a block makes it
//! the head and drops every pending block at or below its height: those either are the new head
//! or lost.

use super::executor::Executed;
use phalanx_primitives::{Block, Hash};
use phalanx_state::State;
use std::collections::HashMap;
use std::sync::Arc;

/// The finalized head and the executed blocks above it.
pub struct Forks {
    head: Block,
    head_state: State,
    pending: HashMap<Hash, Arc<Executed>>,
}

impl Forks {
    /// A tree rooted at `head`, whose post-state is `head_state`, with nothing pending.
    pub fn new(head: Block, head_state: State) -> Self {
        Self {
            head,
            head_state,
            pending: HashMap::new(),
        }
    }

    /// The finalized head.
    pub fn head(&self) -> &Block {
        &self.head
    }

    /// The state after the finalized head.
    pub fn head_state(&self) -> &State {
        &self.head_state
    }

    /// The state after `block` (the head or a pending block), if this node executed it.
    pub fn state_after(&self, block: &Hash) -> Option<State> {
        if self.head.hash() == *block {
            return Some(self.head_state.clone());
        }
        self.pending.get(block).map(|e| e.state.clone())
    }

    /// The pending block `hash`, executed.
    pub fn executed(&self, hash: &Hash) -> Option<Arc<Executed>> {
        self.pending.get(hash).cloned()
    }

    /// Keeps an executed block until it is finalized or loses.
    pub fn insert(&mut self, executed: Arc<Executed>) {
        self.pending.insert(executed.block.hash(), executed);
    }

    /// Makes `block` (with post-state `state`) the head and drops the pending blocks that can no
    /// longer be finalized.
    pub fn finalize(&mut self, block: Block, state: State) {
        let height = block.height();
        self.head = block;
        self.head_state = state;
        self.pending.retain(|_, e| e.block.height() > height);
    }
}
