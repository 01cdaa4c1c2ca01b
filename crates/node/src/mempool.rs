//! The mempool: transactions admitted over RPC, waiting for a block.
//!
//! Admission (done by the chain before calling [`Mempool::insert`]) checks the envelope against
//! the latest finalized state, allowing nonces up to [`NONCE_WINDOW`] ahead. The pool keeps, per
//! sender, one transaction per nonce; a second transaction for a taken nonce replaces the first
//! only if it offers a higher fee. Block building takes each sender's transactions in nonce
//! order starting from the sender's next nonce in the parent state, so gaps wait.
//!
//! Bounds: [`MAX_POOL`] transactions in all and [`MAX_PER_SENDER`] per sender; beyond that a
//! submission is refused with a clear error rather than evicting someone else's.

use phalanx_primitives::{AccountId, Hash, SignedTransaction};
use std::collections::{BTreeMap, HashMap};

/// How far ahead of the account's next nonce a pooled transaction may be.
pub const NONCE_WINDOW: u64 = 256;
/// Most transactions in the pool.
pub const MAX_POOL: usize = 200_000;
/// Most transactions from one sender.
pub const MAX_PER_SENDER: usize = NONCE_WINDOW as usize;

/// Why the pool refused a transaction.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MempoolError {
    /// Already pooled.
    #[error("transaction {0} is already in the mempool")]
    AlreadyKnown(Hash),
    /// Another transaction with this nonce offers at least this fee.
    #[error("nonce {0} is already taken by a pooled transaction with an equal or higher fee; raise the fee to replace it")]
    NonceTaken(u64),
    /// The pool is full.
    #[error("the mempool is full ({MAX_POOL} transactions); try again shortly")]
    Full,
    /// This sender has too many pooled transactions.
    #[error("this account already has {MAX_PER_SENDER} pooled transactions; wait for some to be included")]
    SenderFull,
}

/// Pending transactions by sender and nonce.
#[derive(Debug, Default)]
pub struct Mempool {
    by_hash: HashMap<Hash, SignedTransaction>,
    by_sender: BTreeMap<AccountId, BTreeMap<u64, Hash>>,
}

impl Mempool {
    /// An empty pool.
    pub fn new() -> Mempool {
        Mempool::default()
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether `hash` is pooled.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Adds an already-admitted transaction.
    pub fn insert(&mut self, tx: SignedTransaction) -> Result<Hash, MempoolError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(MempoolError::AlreadyKnown(hash));
        }
        let sender = tx.tx.signer;
        let nonce = tx.tx.nonce;
        let existing = self
            .by_sender
            .get(&sender)
            .and_then(|m| m.get(&nonce))
            .copied();
        match existing {
            Some(old) => {
                let old_fee = self.by_hash.get(&old).map_or(0, |t| t.tx.fee);
                if tx.tx.fee <= old_fee {
                    return Err(MempoolError::NonceTaken(nonce));
                }
                self.by_hash.remove(&old);
            }
            None => {
                if self.by_hash.len() >= MAX_POOL {
                    return Err(MempoolError::Full);
                }
                if self.by_sender.get(&sender).map_or(0, BTreeMap::len) >= MAX_PER_SENDER {
                    return Err(MempoolError::SenderFull);
                }
            }
        }
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, hash);
        self.by_hash.insert(hash, tx);
        Ok(hash)
    }

    /// Transactions ready to execute after a state where sender `s` has next nonce `nonce(s)`:
    /// each sender's consecutive run from that nonce, senders interleaved round-robin so one
    /// busy account cannot starve the others. At most `limit` transactions.
    pub fn ready(&self, nonce: impl Fn(&AccountId) -> u64, limit: usize) -> Vec<SignedTransaction> {
        let mut queues: Vec<Vec<&SignedTransaction>> = self
            .by_sender
            .iter()
            .map(|(sender, txs)| {
                let first = nonce(sender);
                // The consecutive run of nonces starting at the account's next one.
                txs.range(first..)
                    .zip(first..)
                    .take_while(|((n, _), expected)| *n == expected)
                    .filter_map(|((_, hash), _)| self.by_hash.get(hash))
                    .collect::<Vec<_>>()
            })
            .filter(|run| !run.is_empty())
            .collect();
        let mut out = Vec::new();
        let mut round = 0;
        while out.len() < limit {
            let mut any = false;
            for queue in &mut queues {
                if let Some(tx) = queue.get(round) {
                    out.push((*tx).clone());
                    any = true;
                    if out.len() == limit {
                        break;
                    }
                }
            }
            if !any {
                break;
            }
            round += 1;
        }
        out
    }

    /// Drops what can never be included again: nonces below the sender's next nonce, and
    /// transactions that expire before `next_height`.
    pub fn prune(&mut self, nonce: impl Fn(&AccountId) -> u64, next_height: u64) {
        let by_hash = &mut self.by_hash;
        self.by_sender.retain(|sender, txs| {
            let next = nonce(sender);
            txs.retain(|n, hash| {
                let keep = *n >= next
                    && by_hash
                        .get(hash)
                        .is_some_and(|tx| tx.tx.expires_at >= next_height);
                if !keep {
                    by_hash.remove(hash);
                }
                keep
            });
            !txs.is_empty()
        });
    }

    /// Removes one transaction (e.g. found invalid while building a block).
    pub fn remove(&mut self, hash: &Hash) {
        if let Some(tx) = self.by_hash.remove(hash) {
            if let Some(txs) = self.by_sender.get_mut(&tx.tx.signer) {
                txs.remove(&tx.tx.nonce);
                if txs.is_empty() {
                    self.by_sender.remove(&tx.tx.signer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phalanx_primitives::call::{BalancesCall, Call};
    use phalanx_primitives::{Keypair, Transaction};

    fn tx(who: &str, nonce: u64, fee: u128) -> SignedTransaction {
        let key = Keypair::dev(who);
        Transaction {
            signer: key.account(),
            nonce,
            fee,
            expires_at: 100,
            call: Call::Balances(BalancesCall::Transfer {
                to: key.account(),
                amount: 1,
            }),
        }
        .sign(&key, &Hash::ZERO)
    }

    #[test]
    fn ready_takes_consecutive_nonces_round_robin() {
        let mut pool = Mempool::new();
        for n in [0, 1, 3] {
            pool.insert(tx("alice", n, 1)).expect("insert");
        }
        for n in [0, 1] {
            pool.insert(tx("bob", n, 1)).expect("insert");
        }
        let ready = pool.ready(|_| 0, 10);
        let order: Vec<(AccountId, u64)> =
            ready.iter().map(|t| (t.tx.signer, t.tx.nonce)).collect();
        assert_eq!(order.len(), 4, "alice's nonce 3 waits for 2");
        assert_eq!(order[0].1, 0);
        assert_eq!(order[1].1, 0);
        assert_ne!(order[0].0, order[1].0, "senders interleave");
        assert_eq!(pool.ready(|_| 0, 3).len(), 3);
    }

    #[test]
    fn duplicates_and_replacements() {
        let mut pool = Mempool::new();
        let first = tx("alice", 0, 10);
        pool.insert(first.clone()).expect("insert");
        assert_eq!(
            pool.insert(first.clone()),
            Err(MempoolError::AlreadyKnown(first.hash()))
        );
        assert_eq!(
            pool.insert(tx("alice", 0, 10)),
            Err(MempoolError::AlreadyKnown(first.hash()))
        );
        assert_eq!(
            pool.insert(tx("alice", 0, 5)),
            Err(MempoolError::NonceTaken(0))
        );
        let better = tx("alice", 0, 11);
        pool.insert(better.clone()).expect("replace");
        assert_eq!(pool.len(), 1);
        assert!(pool.contains(&better.hash()));
        assert!(!pool.contains(&first.hash()));
    }

    #[test]
    fn prune_drops_included_and_expired() {
        let mut pool = Mempool::new();
        for n in 0..4 {
            pool.insert(tx("alice", n, 1)).expect("insert");
        }
        pool.prune(|_| 2, 50);
        assert_eq!(pool.len(), 2);
        pool.prune(|_| 2, 101);
        assert!(pool.is_empty());
    }

    #[test]
    fn a_sender_cannot_fill_the_pool() {
        let mut pool = Mempool::new();
        for n in 0..MAX_PER_SENDER as u64 {
            pool.insert(tx("alice", n, 1)).expect("insert");
        }
        assert_eq!(
            pool.insert(tx("alice", MAX_PER_SENDER as u64, 1)),
            Err(MempoolError::SenderFull)
        );
        pool.insert(tx("bob", 0, 1)).expect("others still get in");
    }
}
