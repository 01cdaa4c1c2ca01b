//! The mempool: transactions admitted over RPC or gossip, waiting for a block.
//!
//! Admission (done by the chain before calling [`Mempool::insert`]) checks the envelope against
//! the latest finalized state, allowing nonces up to [`NONCE_WINDOW`] ahead. The pool keeps, per
//! sender, one transaction per nonce; a second transaction for a taken nonce replaces the first
//! only if it offers a higher fee.
//!
//! # Bounds and priority
//!
//! A spammer pays nothing for what never reaches a block, so everything the pool holds is
//! bounded, and what it holds is what pays best:
//! - at most [`Limits::max_count`] transactions and [`Limits::max_bytes`] encoded bytes. When
//!   either is reached, a newcomer evicts, cheapest first, pooled transactions paying less per
//!   byte than it does (each victim takes the same sender's later nonces with it, whatever they
//!   pay, since they could no longer execute); a newcomer behind a nonce gap only evicts others
//!   behind a gap. Otherwise it is refused with [`MempoolError::FeeTooLow`];
//! - a replacement (same sender and nonce) must pay at least 10% more than what it replaces;
//! - at most [`Limits::max_per_sender`] transactions per sender;
//! - *future* transactions — those behind a nonce gap, which cannot execute until the gap is
//!   filled — at most [`Limits::max_future_per_sender`] per sender, and
//!   [`Limits::max_future_total`] and [`Limits::max_future_bytes`] in all, checked at admission
//!   (pruning can leave more behind a gap, e.g. when an earlier nonce expires, and then takes
//!   the expired transaction's successors with it);
//! - a sender's pooled transactions must be payable together: the sum of their fees and
//!   transferred amounts may not exceed the sender's free balance in the finalized state.
//!
//! Block building takes, among every sender's next executable transaction, the one paying the
//! most per byte first (ties: sender, then nonce), so a flood of cheap transactions waits behind
//! a normal transfer instead of crowding it out.

use phalanx_primitives::call::{BalancesCall, Call, ContractsCall, MiningCall};
use phalanx_primitives::{AccountId, Hash, SignedTransaction};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// How far ahead of the account's next nonce a pooled transaction may be.
pub const NONCE_WINDOW: u64 = 256;

/// The pool's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most transactions in the pool.
    pub max_count: usize,
    /// Most encoded bytes in the pool.
    pub max_bytes: usize,
    /// Most transactions from one sender.
    pub max_per_sender: usize,
    /// Most transactions behind a nonce gap from one sender.
    pub max_future_per_sender: usize,
    /// Most transactions behind a nonce gap in all.
    pub max_future_total: usize,
    /// Most encoded bytes behind a nonce gap in all: such transactions pay nothing until the
    /// gap is filled, so they get a small share of the pool.
    pub max_future_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_count: 100_000,
            max_bytes: 64 << 20,
            max_per_sender: NONCE_WINDOW as usize,
            max_future_per_sender: 16,
            max_future_total: 8_192,
            max_future_bytes: 8 << 20,
        }
    }
}

/// Why the pool refused a transaction.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MempoolError {
    /// Already pooled.
    #[error("transaction {0} is already in the mempool")]
    AlreadyKnown(Hash),
    /// Another transaction with this nonce offers at least this fee.
    #[error("nonce {0} is already taken by a pooled transaction with an equal or higher fee; raise the fee to replace it")]
    NonceTaken(u64),
    /// The pool is full of transactions paying at least as much per byte.
    #[error("the mempool is full and this transaction pays {offered} fee units per KiB; pay more than {lowest} per KiB to get in")]
    FeeTooLow {
        /// What this transaction pays per 1024 bytes.
        offered: u128,
        /// What the cheapest pooled transaction pays per 1024 bytes.
        lowest: u128,
    },
    /// This sender has too many pooled transactions.
    #[error("this account already has {0} pooled transactions; wait for some to be included")]
    SenderFull(usize),
    /// This sender has too many transactions behind a nonce gap.
    #[error("this account already has {0} pooled transactions behind a nonce gap; send the missing nonce {1} first")]
    TooManyFuture(usize, u64),
    /// The pool holds too many transactions behind nonce gaps.
    #[error("the mempool holds too many transactions behind nonce gaps; send nonce {0} (the account's next) instead")]
    FutureFull(u64),
    /// The sender cannot pay for all its pooled transactions together.
    #[error("the account's pooled transactions would cost {needed} units with this one, but it can spend {free} (free and not frozen)")]
    CannotAfford {
        /// Fees and amounts of the sender's pooled transactions plus this one.
        needed: u128,
        /// The sender's free balance in the finalized state.
        free: u128,
    },
}

/// What the pool needs to know about a sender from the latest finalized state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderState {
    /// The account's next nonce.
    pub nonce: u64,
    /// Its spendable balance (free and not frozen by votes or vesting).
    pub free: u128,
}

#[derive(Debug)]
struct Entry {
    tx: SignedTransaction,
    bytes: usize,
    rate: u128,
    cost: u128,
}

/// Fee per 1024 encoded bytes (what eviction and block building compare).
fn rate(fee: u128, bytes: usize) -> u128 {
    fee.saturating_mul(1024) / (bytes.max(1) as u128)
}

/// What a transaction can take from its sender's free balance: its fee and any amount it sends
/// or reserves (a command's gas, a query deposit).
fn cost(tx: &SignedTransaction) -> u128 {
    let moved = match &tx.tx.call {
        Call::Balances(BalancesCall::Transfer { amount, .. }) => *amount,
        Call::Contracts(ContractsCall::SubmitCommand {
            gas_limit,
            gas_price,
            ..
        }) => u128::from(*gas_limit).saturating_mul(*gas_price),
        Call::Contracts(ContractsCall::Deposit { amount }) => *amount,
        Call::Mining(MiningCall::Contribute { amount, .. }) => *amount,
        _ => 0,
    };
    tx.tx.fee.saturating_add(moved)
}

/// Pending transactions by sender and nonce, with fee-per-byte and expiry indexes and each
/// sender's running spend.
#[derive(Debug, Default)]
pub struct Mempool {
    limits: Limits,
    by_hash: HashMap<Hash, Entry>,
    by_sender: BTreeMap<AccountId, BTreeMap<u64, Hash>>,
    /// Every pooled transaction by (fee per byte, hash): the cheapest first.
    by_rate: BTreeSet<(u128, Hash)>,
    /// Every pooled transaction by (last height it may be included at, hash): what a new
    /// head expires is found at the front, without visiting the rest.
    by_expiry: BTreeSet<(u64, Hash)>,
    /// Each sender with something pooled: its next nonce as last seen (at admission or
    /// pruning). Forgotten with its last pooled transaction, so no sweep is needed.
    next_nonce: HashMap<AccountId, u64>,
    /// Each sender's pooled transactions behind a gap (count, bytes), and the totals.
    future: HashMap<AccountId, (usize, usize)>,
    /// What each sender's pooled transactions can spend together (the sum of their
    /// [`Entry::cost`]): kept up to date on every insert and removal, so admitting a sender's
    /// n-th transaction does not add up the n - 1 before it.
    spend: HashMap<AccountId, u128>,
    future_total: usize,
    future_bytes: usize,
    bytes: usize,
}

impl Mempool {
    /// An empty pool with the default [`Limits`].
    pub fn new() -> Mempool {
        Mempool::with_limits(Limits::default())
    }

    /// An empty pool with `limits`.
    pub fn with_limits(limits: Limits) -> Mempool {
        Mempool {
            limits,
            ..Mempool::default()
        }
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Encoded bytes pooled.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether `hash` is pooled.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// The pooled transaction `hash`.
    pub fn get(&self, hash: &Hash) -> Option<&SignedTransaction> {
        self.by_hash.get(hash).map(|entry| &entry.tx)
    }

    /// Whether `sender` has a pooled transaction with `nonce`.
    pub fn has_nonce(&self, sender: &AccountId, nonce: u64) -> bool {
        self.by_sender
            .get(sender)
            .is_some_and(|txs| txs.contains_key(&nonce))
    }

    /// The nonce `sender`'s next transaction should carry, given its finalized next nonce
    /// `finalized`: past the pooled transactions with consecutive nonces from there (those
    /// execute first). A pooled transaction behind a gap does not count: the gap comes first.
    pub fn next_nonce(&self, sender: &AccountId, finalized: u64) -> u64 {
        self.run_end(sender, finalized)
    }

    /// Transactions behind a nonce gap, in all.
    pub fn future_len(&self) -> usize {
        self.future_total
    }

    /// The nonce after `sender`'s pooled consecutive run from `next` (its next nonce).
    fn run_end(&self, sender: &AccountId, next: u64) -> u64 {
        let Some(txs) = self.by_sender.get(sender) else {
            return next;
        };
        // The usual case, a sender's nonces all pooled in order from `next`: when the lowest
        // is `next` and there are as many as the highest minus the lowest plus one, they are
        // one consecutive run (keys are distinct), found without walking it.
        if let (Some((&first, _)), Some((&last, _))) = (txs.first_key_value(), txs.last_key_value())
        {
            if first == next && last.checked_sub(first) == Some(txs.len() as u64 - 1) {
                return last + 1;
            }
        }
        walk_run(txs, next)
    }

    /// Recounts `sender`'s transactions behind a gap, given its next nonce.
    fn recount_future(&mut self, sender: &AccountId) {
        let next = self.next_nonce.get(sender).copied().unwrap_or(0);
        let end = self.run_end(sender, next);
        let now = self.by_sender.get(sender).map_or((0, 0), |txs| {
            txs.range(end..)
                .filter_map(|(_, hash)| self.by_hash.get(hash))
                .fold((0, 0), |(count, bytes), entry| {
                    (count + 1, bytes + entry.bytes)
                })
        });
        let before = if now.0 == 0 {
            self.future.remove(sender).unwrap_or((0, 0))
        } else {
            self.future.insert(*sender, now).unwrap_or((0, 0))
        };
        self.future_total = self.future_total + now.0 - before.0;
        self.future_bytes = self.future_bytes + now.1 - before.1;
    }

    /// Whether the pooled `hash` is behind a nonce gap.
    fn is_future(&self, entry: &Entry) -> bool {
        let sender = entry.tx.tx.signer;
        let next = self.next_nonce.get(&sender).copied().unwrap_or(0);
        entry.tx.tx.nonce >= self.run_end(&sender, next)
    }

    /// Adds an already-admitted transaction from a sender whose finalized state is `sender`.
    pub fn insert(
        &mut self,
        tx: SignedTransaction,
        sender_state: SenderState,
    ) -> Result<Hash, MempoolError> {
        let sender = tx.tx.signer;
        let result = self.pool(tx, sender_state);
        if !self.by_sender.contains_key(&sender) {
            // A sender is known only while it has something pooled (a refused first
            // transaction leaves nothing behind).
            self.next_nonce.remove(&sender);
        } else if result.is_err() {
            // Refused, but the sender's next nonce was brought up to date: what of its pooled
            // transactions is behind a gap may have changed with it.
            self.recount_future(&sender);
        }
        result
    }

    /// [`Mempool::insert`] but for its sender bookkeeping afterwards (forgetting a sender left
    /// with nothing pooled, recounting one a refusal updated).
    fn pool(
        &mut self,
        tx: SignedTransaction,
        sender_state: SenderState,
    ) -> Result<Hash, MempoolError> {
        use parity_scale_codec::Encode as _;
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(MempoolError::AlreadyKnown(hash));
        }
        let sender = tx.tx.signer;
        let nonce = tx.tx.nonce;
        self.next_nonce.insert(sender, sender_state.nonce);
        let bytes = tx.encoded_size();
        let entry = Entry {
            rate: rate(tx.tx.fee, bytes),
            cost: cost(&tx),
            bytes,
            tx,
        };
        let pooled = self.by_sender.get(&sender);
        let replaced = pooled.and_then(|txs| txs.get(&nonce)).copied();
        let mut future = false;
        if let Some(old) = replaced {
            // A replacement must pay at least 10% more, so re-sending one transaction with a
            // tiny bump cannot make every validator re-verify and re-gossip it for free.
            let old_fee = self.by_hash.get(&old).map_or(0, |e| e.tx.tx.fee);
            if entry.tx.tx.fee <= old_fee.saturating_add(old_fee / 10) {
                return Err(MempoolError::NonceTaken(nonce));
            }
            future = self.by_hash.get(&old).is_some_and(|e| self.is_future(e));
        } else {
            let count = pooled.map_or(0, BTreeMap::len);
            if count >= self.limits.max_per_sender {
                return Err(MempoolError::SenderFull(count));
            }
            // Behind a gap? (Counted against the gap limits.)
            let end = self.run_end(&sender, sender_state.nonce);
            if nonce > end {
                future = true;
                let (mine, _) = self.future.get(&sender).copied().unwrap_or((0, 0));
                if mine >= self.limits.max_future_per_sender {
                    return Err(MempoolError::TooManyFuture(mine, end));
                }
                if self.future_total >= self.limits.max_future_total
                    || self.future_bytes + entry.bytes > self.limits.max_future_bytes
                {
                    return Err(MempoolError::FutureFull(end));
                }
            }
        }
        // Everything the sender has pooled must be payable together.
        let replaced_cost = replaced
            .and_then(|old| self.by_hash.get(&old))
            .map_or(0, |old| old.cost);
        let others = self
            .spend
            .get(&sender)
            .copied()
            .unwrap_or(0)
            .saturating_sub(replaced_cost);
        let needed = others.saturating_add(entry.cost);
        if needed > sender_state.free {
            return Err(MempoolError::CannotAfford {
                needed,
                free: sender_state.free,
            });
        }
        // Make room: evict the cheapest per byte (never the sender's own, whose order matters),
        // as long as they pay less per byte than the newcomer.
        let (count_after, bytes_after) = match replaced.and_then(|old| self.by_hash.get(&old)) {
            Some(old) => (self.len(), self.bytes - old.bytes + entry.bytes),
            None => (self.len() + 1, self.bytes + entry.bytes),
        };
        let mut over_count = count_after.saturating_sub(self.limits.max_count);
        let mut over_bytes = bytes_after.saturating_sub(self.limits.max_bytes);
        let mut victims = Vec::new();
        if over_count > 0 || over_bytes > 0 {
            for (victim_rate, victim) in &self.by_rate {
                if over_count == 0 && over_bytes == 0 {
                    break;
                }
                let Some(found) = self.by_hash.get(victim) else {
                    continue;
                };
                if found.tx.tx.signer == sender {
                    continue;
                }
                // What cannot execute yet never pushes out what can.
                if future && !self.is_future(found) {
                    continue;
                }
                if *victim_rate >= entry.rate {
                    break;
                }
                victims.push(*victim);
                over_count = over_count.saturating_sub(1);
                over_bytes = over_bytes.saturating_sub(found.bytes);
            }
            if over_count > 0 || over_bytes > 0 {
                let lowest = self.by_rate.iter().next().map_or(0, |(lowest, _)| *lowest);
                return Err(MempoolError::FeeTooLow {
                    offered: entry.rate,
                    lowest,
                });
            }
        }
        for victim in victims {
            self.evict(&victim);
        }
        if let Some(old) = replaced {
            self.remove(&old);
            // Removing the sender's only transaction forgot the sender.
            self.next_nonce.insert(sender, sender_state.nonce);
        }
        self.bytes += entry.bytes;
        // Exact on a real chain: the sum was just checked against a free balance, which is
        // below the total issuance, far from `u128::MAX` (saturating only keeps a test with an
        // unbounded balance from overflowing).
        let spend = self.spend.entry(sender).or_default();
        *spend = spend.saturating_add(entry.cost);
        self.by_rate.insert((entry.rate, hash));
        self.by_expiry.insert((entry.tx.tx.expires_at, hash));
        self.by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, hash);
        self.by_hash.insert(hash, entry);
        self.recount_future(&sender);
        Ok(hash)
    }

    /// Removes `hash` and the same sender's later nonces (which could no longer execute).
    pub fn evict(&mut self, hash: &Hash) {
        let Some(entry) = self.by_hash.get(hash) else {
            return;
        };
        let (sender, nonce) = (entry.tx.tx.signer, entry.tx.tx.nonce);
        let later: Vec<Hash> = self
            .by_sender
            .get(&sender)
            .map(|txs| txs.range(nonce..).map(|(_, h)| *h).collect())
            .unwrap_or_default();
        for hash in later {
            self.remove(&hash);
        }
    }

    /// Transactions ready to execute after a state where sender `s` has next nonce `nonce(s)`:
    /// each sender's consecutive run from that nonce, the best fee per byte first among the
    /// senders' next transactions. At most `limit` transactions.
    pub fn ready(&self, nonce: impl Fn(&AccountId) -> u64, limit: usize) -> Vec<SignedTransaction> {
        // Each sender's consecutive run from its next nonce.
        let runs: Vec<Vec<&Entry>> = self
            .by_sender
            .iter()
            .map(|(sender, txs)| {
                let first = nonce(sender);
                txs.range(first..)
                    .zip(first..)
                    .take_while(|((n, _), expected)| *n == expected)
                    .filter_map(|((_, hash), _)| self.by_hash.get(hash))
                    .collect::<Vec<_>>()
            })
            .filter(|run| !run.is_empty())
            .collect();
        // Max-heap on (rate, then the lowest run index and position for a stable order).
        let mut heads: BinaryHeap<(u128, Reverse<usize>, Reverse<usize>)> = runs
            .iter()
            .enumerate()
            .map(|(run, txs)| (txs[0].rate, Reverse(run), Reverse(0)))
            .collect();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some((_, Reverse(run), Reverse(position))) = heads.pop() else {
                break;
            };
            out.push(runs[run][position].tx.clone());
            if let Some(next) = runs[run].get(position + 1) {
                heads.push((next.rate, Reverse(run), Reverse(position + 1)));
            }
        }
        out
    }

    /// Drops what can never be included again: nonces below the sender's next nonce, and
    /// transactions that expire before `next_height`. Recounts the transactions behind gaps.
    /// A full sweep of every sender: the reference [`Mempool::prune_after_block`], which
    /// visits only what a block changed, is property-tested against.
    #[cfg(test)]
    fn prune(&mut self, nonce: impl Fn(&AccountId) -> u64, next_height: u64) {
        let mut dropped = Vec::new();
        for (sender, txs) in &self.by_sender {
            let next = nonce(sender);
            self.next_nonce.insert(*sender, next);
            for (n, hash) in txs {
                let expired = self
                    .by_hash
                    .get(hash)
                    .is_none_or(|e| e.tx.tx.expires_at < next_height);
                if *n < next {
                    // Its nonce is used: it goes alone, its successors may still execute.
                    dropped.push((*hash, false));
                } else if expired {
                    dropped.push((*hash, true));
                }
            }
        }
        for (hash, expired) in dropped {
            if expired {
                // An expired transaction takes its later nonces with it: they could never
                // execute.
                self.evict(&hash);
            } else {
                self.remove(&hash);
            }
        }
        self.future.clear();
        self.future_total = 0;
        self.future_bytes = 0;
        let senders: Vec<AccountId> = self.by_sender.keys().copied().collect();
        for sender in senders {
            self.recount_future(&sender);
        }
    }

    /// Drops what can never be included again after a block whose transactions' signers are
    /// `senders`, the only accounts whose nonces the block moved: their nonces below `nonce`
    /// go (each alone: its successors may still execute), and whatever expires before
    /// `next_height`, found by expiry, with its sender's later nonces. Recounts the
    /// transactions behind gaps. Visits the block's senders and the expired transactions, not
    /// the whole pool.
    pub fn prune_after_block(
        &mut self,
        senders: impl IntoIterator<Item = AccountId>,
        nonce: impl Fn(&AccountId) -> u64,
        next_height: u64,
    ) {
        for sender in senders {
            let Some(txs) = self.by_sender.get(&sender) else {
                continue;
            };
            let next = nonce(&sender);
            let stale: Vec<Hash> = txs.range(..next).map(|(_, hash)| *hash).collect();
            self.next_nonce.insert(sender, next);
            for hash in stale {
                self.remove(&hash);
            }
            self.recount_future(&sender);
        }
        while self
            .by_expiry
            .first()
            .is_some_and(|(expires_at, _)| *expires_at < next_height)
        {
            let Some((_, hash)) = self.by_expiry.pop_first() else {
                break;
            };
            // It takes its later nonces with it: they could never execute.
            self.evict(&hash);
        }
    }

    /// Removes one transaction (e.g. found invalid while building a block).
    pub fn remove(&mut self, hash: &Hash) {
        let Some(entry) = self.by_hash.remove(hash) else {
            return;
        };
        self.bytes -= entry.bytes;
        self.by_rate.remove(&(entry.rate, *hash));
        self.by_expiry.remove(&(entry.tx.tx.expires_at, *hash));
        let sender = entry.tx.tx.signer;
        if let Some(txs) = self.by_sender.get_mut(&sender) {
            txs.remove(&entry.tx.tx.nonce);
            if txs.is_empty() {
                self.by_sender.remove(&sender);
                self.next_nonce.remove(&sender);
            }
        }
        if let Some(spend) = self.spend.get_mut(&sender) {
            *spend = spend.saturating_sub(entry.cost);
            if !self.by_sender.contains_key(&sender) {
                self.spend.remove(&sender);
            }
        }
        self.recount_future(&sender);
    }
}

/// The nonce after the consecutive run of `txs`' nonces from `next`, walked one by one.
fn walk_run(txs: &BTreeMap<u64, Hash>, next: u64) -> u64 {
    let mut end = next;
    for nonce in txs.range(next..).map(|(nonce, _)| *nonce) {
        if nonce != end {
            break;
        }
        end += 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use phalanx_primitives::{Keypair, Transaction, PHA};

    const RICH: SenderState = SenderState {
        nonce: 0,
        free: u128::MAX,
    };

    fn tx(who: &str, nonce: u64, fee: u128) -> SignedTransaction {
        transfer(&Keypair::dev(who), nonce, fee, 1)
    }

    fn transfer(key: &Keypair, nonce: u64, fee: u128, amount: u128) -> SignedTransaction {
        Transaction {
            signer: key.account(),
            nonce,
            fee,
            expires_at: 100,
            call: Call::Balances(BalancesCall::Transfer {
                to: key.account(),
                amount,
            }),
        }
        .sign(key, &Hash::ZERO)
    }

    fn small_limits() -> Limits {
        Limits {
            max_count: 8,
            max_bytes: 1 << 20,
            max_per_sender: 6,
            max_future_per_sender: 2,
            max_future_total: 3,
            max_future_bytes: 1 << 20,
        }
    }

    #[test]
    fn ready_takes_consecutive_nonces_best_fee_first() {
        let mut pool = Mempool::new();
        for n in [0, 1, 3] {
            pool.insert(tx("alice", n, 1), RICH).expect("insert");
        }
        for n in [0, 1] {
            pool.insert(tx("bob", n, 5), RICH).expect("insert");
        }
        let ready = pool.ready(|_| 0, 10);
        let order: Vec<(AccountId, u64)> =
            ready.iter().map(|t| (t.tx.signer, t.tx.nonce)).collect();
        let (alice, bob) = (
            Keypair::dev("alice").account(),
            Keypair::dev("bob").account(),
        );
        assert_eq!(
            order,
            vec![(bob, 0), (bob, 1), (alice, 0), (alice, 1)],
            "bob pays more per byte; alice's nonce 3 waits for 2"
        );
        assert_eq!(pool.ready(|_| 0, 3).len(), 3);
    }

    #[test]
    fn next_nonce_counts_the_pooled_run_but_not_a_gap() {
        let mut pool = Mempool::new();
        let alice = Keypair::dev("alice").account();
        assert_eq!(pool.next_nonce(&alice, 4), 4, "nothing pooled");
        let at_4 = SenderState { nonce: 4, ..RICH };
        for n in [4, 5, 7] {
            pool.insert(tx("alice", n, 1), at_4).expect("insert");
        }
        assert_eq!(
            pool.next_nonce(&alice, 4),
            6,
            "4 and 5 pooled; 7 waits behind 6"
        );
        assert_eq!(pool.next_nonce(&alice, 6), 6);
        assert_eq!(
            pool.next_nonce(&alice, 7),
            8,
            "once 6 is finalized, 7 counts"
        );
        assert_eq!(
            pool.next_nonce(&Keypair::dev("bob").account(), 0),
            0,
            "another sender's pool is its own"
        );
        pool.insert(tx("alice", 6, 1), at_4).expect("fill the gap");
        assert_eq!(pool.next_nonce(&alice, 4), 8);
    }

    #[test]
    fn duplicates_and_replacements() {
        let mut pool = Mempool::new();
        let first = tx("alice", 0, 10);
        pool.insert(first.clone(), RICH).expect("insert");
        assert_eq!(
            pool.insert(first.clone(), RICH),
            Err(MempoolError::AlreadyKnown(first.hash()))
        );
        assert_eq!(
            pool.insert(tx("alice", 0, 5), RICH),
            Err(MempoolError::NonceTaken(0))
        );
        assert_eq!(
            pool.insert(tx("alice", 0, 11), RICH),
            Err(MempoolError::NonceTaken(0)),
            "a replacement must pay at least 10% more"
        );
        let bytes = pool.bytes();
        let better = tx("alice", 0, 12);
        pool.insert(better.clone(), RICH).expect("replace");
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.bytes(), bytes, "the replacement has the same size");
        assert!(pool.contains(&better.hash()));
        assert!(!pool.contains(&first.hash()));
    }

    #[test]
    fn prune_drops_included_and_expired() {
        let mut pool = Mempool::new();
        for n in 0..4 {
            pool.insert(tx("alice", n, 1), RICH).expect("insert");
        }
        let alice = || [Keypair::dev("alice").account()];
        pool.prune_after_block(alice(), |_| 2, 50);
        assert_eq!(pool.len(), 2);
        pool.prune_after_block(alice(), |_| 2, 101);
        assert!(pool.is_empty());
        assert_eq!(pool.bytes(), 0);
    }

    #[test]
    fn a_sender_cannot_fill_the_pool() {
        let mut pool = Mempool::new();
        let max = Limits::default().max_per_sender;
        for n in 0..max as u64 {
            pool.insert(tx("alice", n, 1), RICH).expect("insert");
        }
        assert_eq!(
            pool.insert(tx("alice", max as u64, 1), RICH),
            Err(MempoolError::SenderFull(max))
        );
        pool.insert(tx("bob", 0, 1), RICH)
            .expect("others still get in");
    }

    #[test]
    fn transactions_behind_a_gap_are_limited_per_sender_and_in_all() {
        let mut pool = Mempool::with_limits(Limits {
            max_count: 100,
            max_per_sender: 10,
            ..small_limits()
        });
        // Alice's next nonce is 0: nonces 5 and 6 are behind a gap.
        pool.insert(tx("alice", 5, 1), RICH).expect("first future");
        pool.insert(tx("alice", 6, 1), RICH).expect("second future");
        assert_eq!(
            pool.insert(tx("alice", 7, 1), RICH),
            Err(MempoolError::TooManyFuture(2, 0))
        );
        // Consecutive nonces from the account's next one are never limited as future.
        for n in 0..3 {
            pool.insert(tx("alice", n, 1), RICH).expect("executable");
        }
        assert_eq!(pool.future_len(), 2);
        pool.insert(tx("bob", 9, 1), RICH)
            .expect("bob's first future");
        assert_eq!(
            pool.insert(tx("charlie", 9, 1), RICH),
            Err(MempoolError::FutureFull(0)),
            "the pool-wide future bound"
        );
        // Filling alice's gap (3, 4) makes 5 and 6 executable and frees future room.
        pool.insert(tx("alice", 3, 1), RICH).expect("gap");
        assert_eq!(pool.future_len(), 3);
        pool.insert(tx("alice", 4, 1), RICH).expect("gap closed");
        assert_eq!(pool.future_len(), 1, "only bob's is behind a gap now");
        pool.insert(tx("charlie", 9, 1), RICH).expect("room again");
        // Once blocks include alice's run, pruning recounts.
        pool.prune_after_block(
            [Keypair::dev("bob").account()],
            |who| {
                if *who == Keypair::dev("bob").account() {
                    9
                } else {
                    0
                }
            },
            1,
        );
        assert_eq!(
            pool.future_len(),
            1,
            "bob's is executable now, charlie's is not"
        );
    }

    #[test]
    fn a_sender_must_afford_all_its_pooled_transactions_together() {
        let mut pool = Mempool::new();
        let alice = Keypair::dev("alice");
        let funds = SenderState {
            nonce: 0,
            free: 100 * PHA,
        };
        pool.insert(transfer(&alice, 0, PHA, 60 * PHA), funds)
            .expect("61 of 100");
        assert_eq!(
            pool.insert(transfer(&alice, 1, PHA, 39 * PHA), funds),
            Err(MempoolError::CannotAfford {
                needed: 101 * PHA,
                free: 100 * PHA
            }),
            "each alone is affordable, both together are not"
        );
        pool.insert(transfer(&alice, 1, PHA, 38 * PHA), funds)
            .expect("exactly 100");
        // A replacement counts instead of the transaction it replaces.
        pool.insert(transfer(&alice, 1, 2 * PHA, 37 * PHA), funds)
            .expect("replacing within the balance");
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn a_commands_gas_and_a_deposit_count_as_spent() {
        let mut pool = Mempool::new();
        let bob = Keypair::dev("bob");
        let funds = SenderState {
            nonce: 0,
            free: 100 * PHA,
        };
        let signed = |nonce: u64, call: Call| {
            Transaction {
                signer: bob.account(),
                nonce,
                fee: PHA,
                expires_at: 100,
                call,
            }
            .sign(&bob, &Hash::ZERO)
        };
        let command = |gas_limit: u64| {
            Call::Contracts(ContractsCall::SubmitCommand {
                contract: [1; 32],
                key_epoch: 0,
                sealed: vec![0; 64],
                gas_limit,
                gas_price: PHA / 1_000_000,
            })
        };
        // 200,000,000 gas at a millionth of a PHA reserves 200 PHA: more than bob has.
        assert_eq!(
            pool.insert(signed(0, command(200_000_000)), funds),
            Err(MempoolError::CannotAfford {
                needed: 201 * PHA,
                free: 100 * PHA
            })
        );
        pool.insert(signed(0, command(50_000_000)), funds)
            .expect("51 of 100");
        assert_eq!(
            pool.insert(
                signed(
                    1,
                    Call::Contracts(ContractsCall::Deposit { amount: 49 * PHA })
                ),
                funds
            ),
            Err(MempoolError::CannotAfford {
                needed: 101 * PHA,
                free: 100 * PHA
            }),
            "the deposit and the command's gas together are more than bob has"
        );
    }

    #[test]
    fn a_full_pool_evicts_the_lowest_fee_per_byte_and_its_successors() {
        let mut pool = Mempool::with_limits(small_limits());
        // Eight cheap transactions fill the pool: four senders, two nonces each.
        for who in ["alice", "bob", "charlie", "dave"] {
            for n in 0..2 {
                pool.insert(tx(who, n, 10 + n as u128), RICH).expect("fits");
            }
        }
        assert_eq!(pool.len(), 8);
        // Paying no more per byte than the cheapest: refused.
        let refused = pool.insert(tx("eve", 0, 10), RICH);
        assert!(
            matches!(refused, Err(MempoolError::FeeTooLow { .. })),
            "{refused:?}"
        );
        // Paying more: evicts the cheapest (alice's nonce 0, fee 10, first by hash order among
        // equals) together with everything after it from the same sender.
        let rich = tx("eve", 0, 1_000);
        pool.insert(rich.clone(), RICH).expect("evicts");
        assert!(pool.contains(&rich.hash()));
        assert_eq!(
            pool.len(),
            8 - 2 + 1,
            "one fee-10 tx and its successor left"
        );
        let left: Vec<(AccountId, u64)> = pool
            .ready(|_| 0, 100)
            .iter()
            .map(|t| (t.tx.signer, t.tx.nonce))
            .collect();
        assert_eq!(left[0], (Keypair::dev("eve").account(), 0), "best first");
        for (sender, nonce) in &left {
            if *nonce == 1 {
                assert!(
                    left.contains(&(*sender, 0)),
                    "no sender is left with a gap after eviction"
                );
            }
        }
    }

    #[test]
    fn the_byte_bound_holds() {
        let limits = Limits {
            max_bytes: 1_000,
            ..Limits::default()
        };
        let mut pool = Mempool::with_limits(limits);
        let mut admitted = 0;
        for n in 0..20 {
            if pool.insert(tx("alice", n, 1), RICH).is_ok() {
                admitted += 1;
            }
            assert!(pool.bytes() <= 1_000);
        }
        assert!(admitted > 0 && admitted < 20, "admitted {admitted}");
    }

    /// The flood: many funded accounts fill the pool with future-nonce and low-fee
    /// transactions. A normal transfer paying an ordinary fee still gets in, and is the first
    /// thing the next block takes.
    #[test]
    fn a_flood_does_not_keep_a_normal_transfer_out() {
        let limits = Limits {
            max_count: 500,
            max_future_total: 100,
            ..Limits::default()
        };
        let mut pool = Mempool::with_limits(limits);
        let spammers: Vec<Keypair> = (0..300u32)
            .map(|i| Keypair::dev(&format!("spammer{i}")))
            .collect();
        let mut refused = 0;
        for key in &spammers {
            // A low-fee executable transaction and a couple of future ones each.
            for nonce in [0, 50, 51] {
                if pool.insert(transfer(key, nonce, 1, 1), RICH).is_err() {
                    refused += 1;
                }
            }
        }
        assert!(pool.len() <= 500 && pool.future_len() <= 100);
        assert!(refused > 0, "the flood hit the bounds");
        let normal = tx("alice", 0, PHA / 1000);
        pool.insert(normal.clone(), RICH)
            .expect("a normal fee gets in");
        let next_block = pool.ready(|_| 0, 10);
        assert_eq!(next_block[0].hash(), normal.hash());
    }

    /// Transactions behind a gap pay nothing until it is filled: they get a small byte budget
    /// and never push out what can execute, however much they offer.
    #[test]
    fn future_transactions_have_a_byte_budget_and_never_evict_executable_ones() {
        let probe = tx("alice", 0, 1);
        let one = parity_scale_codec::Encode::encoded_size(&probe);
        let mut pool = Mempool::with_limits(Limits {
            max_count: 4,
            max_future_bytes: 2 * one,
            ..Limits::default()
        });
        for who in ["alice", "bob", "charlie", "ferdie"] {
            pool.insert(tx(who, 0, 1), RICH).expect("executable");
        }
        // Full of cheap executable transactions: a rich future one may not push them out.
        let refused = pool.insert(tx("eve", 5, 1_000_000), RICH);
        assert!(
            matches!(refused, Err(MempoolError::FeeTooLow { .. })),
            "{refused:?}"
        );
        assert_eq!(pool.len(), 4);
        assert_eq!(pool.future_len(), 0);

        // With room in count, future transactions stop at their byte budget.
        let mut pool = Mempool::with_limits(Limits {
            max_future_bytes: 2 * one,
            ..Limits::default()
        });
        pool.insert(tx("dave", 5, 1), RICH).expect("first future");
        pool.insert(tx("eve", 5, 1), RICH).expect("second future");
        assert_eq!(
            pool.insert(tx("charlie", 5, 1), RICH),
            Err(MempoolError::FutureFull(0))
        );
        pool.insert(tx("charlie", 0, 1), RICH)
            .expect("executable ones are not limited by it");
    }

    #[test]
    fn an_expired_transaction_takes_its_successors_with_it() {
        let mut pool = Mempool::new();
        let alice = Keypair::dev("alice");
        let mut first = Transaction {
            signer: alice.account(),
            nonce: 0,
            fee: 1,
            expires_at: 10,
            call: Call::Balances(BalancesCall::Transfer {
                to: alice.account(),
                amount: 1,
            }),
        };
        pool.insert(first.clone().sign(&alice, &Hash::ZERO), RICH)
            .expect("short-lived");
        first.expires_at = 100;
        for nonce in 1..5 {
            first.nonce = nonce;
            pool.insert(first.clone().sign(&alice, &Hash::ZERO), RICH)
                .expect("long-lived");
        }
        pool.prune_after_block([alice.account()], |_| 0, 11);
        assert!(
            pool.is_empty(),
            "nothing after an expired nonce 0 could execute"
        );
        assert_eq!(pool.future_len(), 0);
        assert_eq!(pool.bytes(), 0);
    }

    /// One step of the property test below.
    #[derive(Clone, Debug)]
    enum Step {
        Insert {
            sender: usize,
            nonce: u64,
            fee: u128,
            amount: u128,
            next: u64,
            free: u128,
            expires_at: u64,
        },
        Remove(usize),
        Evict(usize),
        Prune {
            next: u64,
            height: u64,
        },
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..3usize, 0..10u64, 1..4u128, 0..50u128, 0..4u64, 0..400u128, 95..105u64)
                .prop_map(|(sender, nonce, fee, amount, next, free, expires_at)| Step::Insert {
                    sender,
                    nonce,
                    fee,
                    amount,
                    next,
                    free: free * PHA / 100,
                    expires_at,
                }),
            1 => any::<usize>().prop_map(Step::Remove),
            1 => any::<usize>().prop_map(Step::Evict),
            1 => (0..4u64, 90..110u64).prop_map(|(next, height)| Step::Prune { next, height }),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// After any mix of admissions (in order, out of order, replacing, refused), removals,
        /// evictions and prunes, each sender's running spend equals the sum of its pooled costs
        /// recomputed, and the nonce run found without a walk equals the walked one from every
        /// starting nonce.
        #[test]
        fn running_sums_and_runs_match_recomputation(steps in proptest::collection::vec(step(), 1..60)) {
            let keys = [Keypair::dev("alice"), Keypair::dev("bob"), Keypair::dev("carol")];
            let mut pool = Mempool::with_limits(small_limits());
            // The same steps with the per-block prune a node uses, told every sender moved.
            let mut twin = Mempool::with_limits(small_limits());
            // Each sender's next nonce as the pool last heard it: kept here, apart from the
            // pool's own record, to recount the transactions behind a gap from scratch.
            let mut heard: HashMap<AccountId, u64> = HashMap::new();
            for step in steps {
                let hashes: Vec<Hash> = pool.by_hash.keys().copied().collect();
                match step {
                    Step::Insert { sender, nonce, fee, amount, next, free, expires_at } => {
                        let key = &keys[sender];
                        let tx = Transaction {
                            signer: key.account(),
                            nonce,
                            fee: fee * PHA / 1000,
                            expires_at,
                            call: Call::Balances(BalancesCall::Transfer {
                                to: key.account(),
                                amount: amount * PHA / 100,
                            }),
                        }
                        .sign(key, &Hash::ZERO);
                        let sender = SenderState { nonce: next, free };
                        if !pool.by_hash.contains_key(&tx.hash()) {
                            heard.insert(key.account(), next);
                        }
                        let _ = pool.insert(tx.clone(), sender);
                        let _ = twin.insert(tx, sender);
                    }
                    Step::Remove(pick) if !hashes.is_empty() => {
                        pool.remove(&hashes[pick % hashes.len()]);
                        twin.remove(&hashes[pick % hashes.len()]);
                    }
                    Step::Evict(pick) if !hashes.is_empty() => {
                        pool.evict(&hashes[pick % hashes.len()]);
                        twin.evict(&hashes[pick % hashes.len()]);
                    }
                    Step::Prune { next, height } => {
                        for sender in pool.by_sender.keys() {
                            heard.insert(*sender, next);
                        }
                        pool.prune(|_| next, height);
                        twin.prune_after_block(keys.iter().map(Keypair::account), |_| next, height);
                    }
                    Step::Remove(_) | Step::Evict(_) => {}
                }
                let mut pooled: Vec<Hash> = pool.by_hash.keys().copied().collect();
                let mut twinned: Vec<Hash> = twin.by_hash.keys().copied().collect();
                pooled.sort_unstable();
                twinned.sort_unstable();
                proptest::prop_assert_eq!(pooled, twinned);
                proptest::prop_assert_eq!(pool.future_len(), twin.future_len());
                proptest::prop_assert_eq!(pool.future_bytes, twin.future_bytes);
                proptest::prop_assert_eq!(pool.bytes(), twin.bytes());
                proptest::prop_assert_eq!(&pool.spend, &twin.spend);
                proptest::prop_assert_eq!(pool.by_expiry.len(), pool.by_hash.len());
                proptest::prop_assert_eq!(twin.by_expiry.len(), twin.by_hash.len());
                // What is behind a gap, recounted from scratch from the nonces last heard.
                let (mut count, mut bytes) = (0, 0);
                for (sender, txs) in &pool.by_sender {
                    let end = walk_run(txs, heard.get(sender).copied().unwrap_or(0));
                    for (_, hash) in txs.range(end..) {
                        count += 1;
                        bytes += pool.by_hash[hash].bytes;
                    }
                }
                proptest::prop_assert_eq!(pool.future_len(), count);
                proptest::prop_assert_eq!(pool.future_bytes, bytes);
                // Only senders with something pooled are remembered, whichever prune ran.
                for p in [&pool, &twin] {
                    proptest::prop_assert!(p.next_nonce.keys().all(|s| p.by_sender.contains_key(s)));
                    proptest::prop_assert_eq!(p.next_nonce.len(), p.by_sender.len());
                }
                for key in &keys {
                    let sender = key.account();
                    let recomputed: u128 = pool
                        .by_hash
                        .values()
                        .filter(|e| e.tx.tx.signer == sender)
                        .map(|e| e.cost)
                        .sum();
                    proptest::prop_assert_eq!(
                        pool.spend.get(&sender).copied().unwrap_or(0),
                        recomputed
                    );
                    proptest::prop_assert_eq!(
                        pool.spend.contains_key(&sender),
                        pool.by_sender.contains_key(&sender)
                    );
                    if let Some(txs) = pool.by_sender.get(&sender) {
                        for next in 0..12 {
                            proptest::prop_assert_eq!(
                                pool.run_end(&sender, next),
                                walk_run(txs, next)
                            );
                        }
                    }
                }
            }
        }
    }
}
