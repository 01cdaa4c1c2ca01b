//! Blocks: a header committing to the parent, time, transactions and post-state root.
//!
//! A block's hash is SHA-256 of its encoded header. The header commits to the transactions
//! through `tx_root` (a binary Merkle root of transaction hashes), and to the state *after*
//! executing them through `state_root`. A finalization certificate over the block hash plus a
//! state proof against `state_root` is what a light client needs to trust a value.

use crate::codec::{decode_strict, CodecError};
use crate::hash::Hash;
use crate::transaction::SignedTransaction;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Hard ceiling on an encoded block.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;

/// What a block commits to.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Header {
    /// Hash of the parent block (zero for genesis).
    pub parent: Hash,
    /// Height: the parent's plus one; genesis is 0.
    pub height: u64,
    /// Proposer's wall clock in milliseconds since the Unix epoch; never below the parent's.
    pub timestamp_ms: u64,
    /// Merkle root of the transaction hashes, in block order.
    pub tx_root: Hash,
    /// Root of the authenticated state after executing this block.
    pub state_root: Hash,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }
}

/// A header and its transactions.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Transactions, executed in order.
    pub transactions: Vec<SignedTransaction>,
}

impl Block {
    /// The block hash (the hash of the header).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The block height.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// Decodes untrusted bytes strictly.
    pub fn decode_strict(bytes: &[u8]) -> Result<Block, CodecError> {
        decode_strict(bytes, MAX_BLOCK_BYTES)
    }

    /// Whether `tx_root` matches the transactions carried.
    pub fn tx_root_matches(&self) -> bool {
        tx_root(&self.transactions) == self.header.tx_root
    }
}

/// The binary Merkle root of the transactions' hashes: leaves are transaction hashes, a node is
/// `H(0x01 ‖ left ‖ right)`, an odd node is carried up unchanged, and no transactions give
/// [`Hash::ZERO`].
pub fn tx_root(transactions: &[SignedTransaction]) -> Hash {
    let mut level: Vec<Hash> = transactions.iter().map(SignedTransaction::hash).collect();
    if level.is_empty() {
        return Hash::ZERO;
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => Hash::of_parts(&[&[1u8], left.as_bytes(), right.as_bytes()]),
                // `chunks(2)` never yields an empty slice; a lone node is carried up.
                _ => pair[0],
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Keypair;
    use crate::call::{BalancesCall, Call};
    use crate::transaction::Transaction;
    use proptest::prelude::*;

    fn tx(nonce: u64) -> SignedTransaction {
        let alice = Keypair::dev("alice");
        Transaction {
            signer: alice.account(),
            nonce,
            fee: 1,
            expires_at: 10,
            call: Call::Balances(BalancesCall::Transfer {
                to: alice.account(),
                amount: 1,
            }),
        }
        .sign(&alice, &Hash::ZERO)
    }

    #[test]
    fn tx_root_depends_on_order_and_content() {
        let (a, b, c) = (tx(0), tx(1), tx(2));
        assert_eq!(tx_root(&[]), Hash::ZERO);
        assert_eq!(tx_root(std::slice::from_ref(&a)), a.hash());
        assert_ne!(
            tx_root(&[a.clone(), b.clone()]),
            tx_root(&[b.clone(), a.clone()])
        );
        let three = tx_root(&[a.clone(), b.clone(), c.clone()]);
        let pair = Hash::of_parts(&[&[1], a.hash().as_bytes(), b.hash().as_bytes()]);
        assert_eq!(
            three,
            Hash::of_parts(&[&[1], pair.as_bytes(), c.hash().as_bytes()])
        );
    }

    #[test]
    fn block_hash_is_header_hash_and_golden() {
        let header = Header {
            parent: Hash([1; 32]),
            height: 2,
            timestamp_ms: 3,
            tx_root: Hash([4; 32]),
            state_root: Hash([5; 32]),
        };
        let block = Block {
            header: header.clone(),
            transactions: vec![],
        };
        assert_eq!(block.hash(), header.hash());
        assert_eq!(
            hex::encode(header.encode()),
            concat!(
                "0101010101010101010101010101010101010101010101010101010101010101",
                "0200000000000000",
                "0300000000000000",
                "0404040404040404040404040404040404040404040404040404040404040404",
                "0505050505050505050505050505050505050505050505050505050505050505",
            )
        );
        assert!(!block.tx_root_matches());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = Block::decode_strict(&bytes);
        }

        #[test]
        fn block_round_trips(height in any::<u64>(), n in 0usize..5) {
            let transactions: Vec<_> = (0..n as u64).map(tx).collect();
            let block = Block {
                header: Header {
                    parent: Hash::ZERO,
                    height,
                    timestamp_ms: height,
                    tx_root: tx_root(&transactions),
                    state_root: Hash::ZERO,
                },
                transactions,
            };
            prop_assert!(block.tx_root_matches());
            prop_assert_eq!(Block::decode_strict(&block.encode()), Ok(block));
        }
    }
}
