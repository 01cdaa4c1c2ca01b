//! Where each finalized transaction and block is in the block log, in memory: built from the log
//! on open and extended by every finalized block. The blocks themselves stay on disk
//! ([`crate::store`]).

use phalanx_primitives::{Block, Hash};
use std::collections::HashMap;

/// Finalized transactions and block hashes by where they are.
#[derive(Debug, Default)]
pub struct TxIndex {
    /// Transaction hash → (height, position in the block).
    transactions: HashMap<Hash, (u64, u32)>,
    /// Block hash → height.
    heights: HashMap<Hash, u64>,
}

impl TxIndex {
    /// Records the finalized `block`.
    pub fn record(&mut self, block: &Block) {
        let height = block.height();
        for (index, tx) in block.transactions.iter().enumerate() {
            self.transactions.insert(tx.hash(), (height, index as u32));
        }
        self.heights.insert(block.hash(), height);
    }

    /// Whether the transaction `hash` is in a finalized block.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.transactions.contains_key(hash)
    }

    /// The height and position of the finalized transaction `hash`.
    pub fn transaction(&self, hash: &Hash) -> Option<(u64, u32)> {
        self.transactions.get(hash).copied()
    }

    /// The height of the finalized block `hash`.
    pub fn height_of(&self, hash: &Hash) -> Option<u64> {
        self.heights.get(hash).copied()
    }
}
