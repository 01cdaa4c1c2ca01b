//! How transactions enter the mempool: from this node's clients (checked against the finalized
//! state, then queued for gossip to the other validators), from peers' gossip, and from the
//! node itself (evidence reports, signed by its reporter account).
//!
//! Signature verification is the costly part of admission, so it runs without any lock held,
//! after every cheap rule, and for batches in parallel on every core ([`verify_signatures`]).

use super::{Chain, SubmitError};
use crate::mempool::{Mempool, SenderState, NONCE_WINDOW};
use parity_scale_codec::{Compact, CompactLen, Encode};
use phalanx_primitives::{Hash, SignedTransaction};
use phalanx_runtime::system::{self, NonceCheck, SignatureCheck, TxError};
use std::collections::{HashSet, VecDeque};

/// Most bytes of client transactions waiting to be gossiped; beyond it the oldest are not
/// gossiped (they stay in this node's mempool and are included when it leads).
pub const MAX_GOSSIP_QUEUE_BYTES: usize = 4 << 20;
/// Most transactions in one gossip message.
pub const MAX_GOSSIP_TXS: usize = 4_096;

/// Below this many signatures, verifying on one thread beats starting others.
const PARALLEL_VERIFY_MIN: usize = 2 * phalanx_primitives::signature::BATCH;

/// Whether each transaction's signature is its signer's for the chain `genesis`: the chain's
/// rule ([`phalanx_primitives::signature`]), checked in batches (one multi-scalar
/// multiplication per group, a failing group re-checked one by one, so each verdict is exactly
/// the single check's) spread over the machine's cores.
pub fn verify_signatures(txs: &[SignedTransaction], genesis: &Hash) -> Vec<bool> {
    let txs: Vec<&SignedTransaction> = txs.iter().collect();
    verify_refs(&txs, genesis, Verdicts::Each)
}

/// What a caller of [`verify_refs`] needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdicts {
    /// Every transaction's own verdict (a client's batch: each is answered on its own).
    Each,
    /// Only which are surely good; the caller refuses the whole lot at the first bad signature
    /// (a block, a peer's gossip), so each core stops at its first failing batch and marks the
    /// rest unchecked (`false`), and a lot full of bad signatures costs little.
    UntilFailure,
}

/// [`verify_signatures`] on borrowed transactions.
pub(super) fn verify_refs(
    txs: &[&SignedTransaction],
    genesis: &Hash,
    verdicts: Verdicts,
) -> Vec<bool> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if txs.len() < PARALLEL_VERIFY_MIN || cores == 1 {
        return verify_part(txs, genesis, verdicts);
    }
    let chunk = txs.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let workers: Vec<_> = txs
            .chunks(chunk)
            .map(|part| {
                (
                    part.len(),
                    scope.spawn(move || verify_part(part, genesis, verdicts)),
                )
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|(len, worker)| {
                // A verifying thread cannot panic; if it somehow did, count its part invalid.
                worker.join().unwrap_or_else(|_| vec![false; len])
            })
            .collect()
    })
}

/// [`verify_signatures`] on one thread.
fn verify_part(txs: &[&SignedTransaction], genesis: &Hash, verdicts: Verdicts) -> Vec<bool> {
    let payloads: Vec<Vec<u8>> = txs
        .iter()
        .map(|tx| tx.tx.signing_payload(genesis))
        .collect();
    let items: Vec<phalanx_primitives::signature::Item<'_>> = txs
        .iter()
        .zip(&payloads)
        .map(|(tx, payload)| (&tx.tx.signer.0, payload.as_slice(), &tx.signature))
        .collect();
    match verdicts {
        Verdicts::Each => phalanx_primitives::signature::verify_each(&items),
        Verdicts::UntilFailure => phalanx_primitives::signature::verify_until_failure(&items),
    }
}

/// What the first half of an admission read from the finalized state.
#[derive(Debug)]
pub(super) struct AdmissionRead {
    /// The sender's nonce and spendable balance.
    pub(super) sender: SenderState,
    /// The height of the state read.
    pub(super) height: u64,
}

/// `who`'s nonce and spendable balance in `state`: what admission checks a transaction's
/// sender against.
fn sender_in(
    state: &phalanx_state::State,
    who: &phalanx_primitives::AccountId,
) -> Result<SenderState, SubmitError> {
    Ok(SenderState {
        nonce: system::nonce(state, who)?,
        free: phalanx_runtime::balances::spendable(state, who)?,
    })
}

/// The mempool and the queue of client transactions to gossip, behind one lock: what is
/// gossiped is checked against what is pooled.
#[derive(Debug)]
pub(super) struct Pool {
    pub(super) mempool: Mempool,
    pub(super) gossip: GossipQueue,
    /// The height of the last finalized block the mempool was pruned after: an admission that
    /// read an older state re-reads its sender from the head (see `admit_unmetered`).
    pub(super) pruned_at: u64,
}

/// Transactions admitted from this node's clients, oldest first, waiting to be gossiped.
#[derive(Debug, Default)]
pub(super) struct GossipQueue {
    /// (hash, encoded transaction).
    queue: VecDeque<(Hash, Vec<u8>)>,
    /// Bytes in `queue`.
    bytes: usize,
}

impl GossipQueue {
    /// Queues a transaction, forgetting the oldest beyond [`MAX_GOSSIP_QUEUE_BYTES`].
    fn push(&mut self, hash: Hash, bytes: Vec<u8>) {
        self.bytes += bytes.len();
        self.queue.push_back((hash, bytes));
        while self.bytes > MAX_GOSSIP_QUEUE_BYTES {
            let Some((_, dropped)) = self.queue.pop_front() else {
                break;
            };
            self.bytes -= dropped.len();
        }
    }

    /// Takes, oldest first, at most [`MAX_GOSSIP_TXS`] transactions that are still `pooled` and
    /// whose gossip message stays within `max_bytes` (see [`Chain::take_gossip`]).
    fn take(&mut self, max_bytes: usize, pooled: impl Fn(&Hash) -> bool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        // The outer length prefix, at most 5 bytes for any count we send.
        let mut size = 5;
        while let Some((hash, next)) = self.queue.front() {
            let framed = next.len() + Compact::<u32>::compact_len(&(next.len() as u32));
            if out.len() >= MAX_GOSSIP_TXS || size + framed > max_bytes {
                if out.is_empty() {
                    // Larger than any message: never gossiped (this node still includes it).
                    if let Some((_, dropped)) = self.queue.pop_front() {
                        self.bytes -= dropped.len();
                    }
                    continue;
                }
                break;
            }
            let pooled = pooled(hash);
            let Some((_, bytes)) = self.queue.pop_front() else {
                break;
            };
            self.bytes -= bytes.len();
            // Replaced, evicted or already included: not worth a peer's time.
            if pooled {
                size += framed;
                out.push(bytes);
            }
        }
        out
    }
}

impl Chain {
    /// Transactions waiting in the mempool.
    pub fn mempool_len(&self) -> usize {
        self.pool().mempool.len()
    }

    /// Whether `hash` is waiting in the mempool.
    pub fn is_pending(&self, hash: &Hash) -> bool {
        self.pool().mempool.contains(hash)
    }

    /// `who`'s finalized next nonce, and the nonce its next transaction should carry: past its
    /// transactions with consecutive nonces from there waiting in this node's mempool. The head
    /// and the pool sit behind different locks, so the pair is read again if a block was
    /// finalized in between.
    pub fn next_nonce(
        &self,
        who: &phalanx_primitives::AccountId,
    ) -> Result<(u64, u64), phalanx_primitives::CodecError> {
        loop {
            let (height, state) = {
                let forks = self.forks();
                (forks.head().height(), forks.head_state().clone())
            };
            let finalized = phalanx_runtime::system::nonce(&state, who)?;
            let next = self.pool().mempool.next_nonce(who, finalized);
            if self.height() == height {
                return Ok((finalized, next));
            }
        }
    }

    /// Submits encoded consensus fault evidence in a transaction signed by the reporter
    /// account, so the fault is stored on chain (the runtime verifies it and refunds the fee
    /// when it is new). Returns the transaction hash, or why it was not submitted.
    pub fn report_evidence(&self, evidence: Vec<u8>) -> Result<Hash, String> {
        self.submit_as_reporter(phalanx_primitives::call::Call::Evidence(
            phalanx_primitives::call::EvidenceCall::ReportEquivocation { evidence },
        ))
    }

    /// Signs `call` with the reporter account (next nonce after what this node already pooled
    /// for it, the required fee) and submits it. Returns the hash, or why it was not submitted.
    pub fn submit_as_reporter(&self, call: phalanx_primitives::call::Call) -> Result<Hash, String> {
        let Some(reporter) = super::lock(&self.shared.reporter).clone() else {
            return Err("no reporter account is configured".into());
        };
        let state = self.head_state();
        let params = system::params(&state).map_err(|e| e.to_string())?;
        let account = reporter.account();
        let mut nonce = system::nonce(&state, &account).map_err(|e| e.to_string())?;
        {
            let pool = self.pool();
            while pool.mempool.has_nonce(&account, nonce) {
                nonce += 1;
            }
        }
        let signed = phalanx_client::Client::sign_with_nonce(
            &reporter,
            &self.genesis_hash(),
            &params,
            nonce,
            self.height() + 100,
            call,
        );
        self.submit_tx(signed).map_err(|e| e.to_string())
    }

    /// Admits encoded transaction bytes into the mempool.
    pub fn submit(&self, bytes: &[u8]) -> Result<Hash, SubmitError> {
        let tx = SignedTransaction::decode_strict(bytes).map_err(|e| {
            let e = SubmitError::from(e);
            self.metrics().refused(e.reason());
            e
        })?;
        self.submit_tx(tx)
    }

    /// Admits a decoded transaction from a client into the mempool and queues it for gossip to
    /// the other validators.
    pub fn submit_tx(&self, tx: SignedTransaction) -> Result<Hash, SubmitError> {
        self.submit_checked(tx, SignatureCheck::Verify)
    }

    /// Admits many client transactions at once. Their signatures are verified first, in batches
    /// on every core (each verdict the single check's, as block execution reaches), then each is admitted
    /// as [`Self::submit_tx`] would. One result per transaction, in order.
    pub fn submit_batch(&self, txs: Vec<SignedTransaction>) -> Vec<Result<Hash, SubmitError>> {
        let valid = verify_signatures(&txs, &self.genesis_hash());
        txs.into_iter()
            .zip(valid)
            .map(|(tx, valid)| {
                if valid {
                    self.submit_checked(tx, SignatureCheck::AlreadyVerified)
                } else {
                    let e = SubmitError::Invalid(TxError::BadSignature);
                    self.metrics().refused(e.reason());
                    Err(e)
                }
            })
            .collect()
    }

    fn submit_checked(
        &self,
        tx: SignedTransaction,
        signature: SignatureCheck,
    ) -> Result<Hash, SubmitError> {
        let bytes = tx.encode();
        let hash = self.admit(tx, signature)?;
        self.pool().gossip.push(hash, bytes);
        Ok(hash)
    }

    /// Client transactions admitted since the last call and still pooled, for gossip: at most
    /// [`MAX_GOSSIP_TXS`] whose encoding as a gossip message (a SCALE `Vec<Vec<u8>>`, length
    /// prefixes included) stays within `max_bytes`.
    pub fn take_gossip(&self, max_bytes: usize) -> Vec<Vec<u8>> {
        let mut pool = self.pool();
        let Pool {
            mempool, gossip, ..
        } = &mut *pool;
        gossip.take(max_bytes, |hash| mempool.contains(hash))
    }

    /// Admits a batch of transactions a peer gossiped (a SCALE `Vec<Vec<u8>>`), without gossiping
    /// them again. `false` if the batch is malformed or carries a forged signature.
    ///
    /// Signatures are the costly part, so they are checked last, and only for transactions
    /// this node does not know yet and whose envelope passes every cheap rule: a peer resending
    /// known or hopeless transactions costs a lookup each, not a verification.
    pub fn admit_gossip(&self, batch: &[u8]) -> bool {
        let Ok(encoded) = phalanx_primitives::decode_strict::<Vec<Vec<u8>>>(
            batch,
            crate::consensus::engine::MAX_GOSSIP_BYTES,
        ) else {
            return false;
        };
        if encoded.len() > MAX_GOSSIP_TXS {
            return false;
        }
        let (state, head) = self.finalized();
        let ctx = self.next_context(&head);
        let mut seen = HashSet::new();
        let mut fresh = Vec::with_capacity(encoded.len());
        for bytes in encoded {
            let Ok(tx) = SignedTransaction::decode_strict(&bytes) else {
                return false;
            };
            let hash = tx.hash();
            if !seen.insert(hash) {
                continue;
            }
            if self.knows(&hash) {
                continue;
            }
            let cheap = system::check_envelope_with(
                &state,
                &ctx,
                &tx,
                NonceCheck::AllowFuture(NONCE_WINDOW),
                SignatureCheck::AlreadyVerified,
            );
            if cheap.is_ok() {
                fresh.push(tx);
            }
        }
        let fresh_refs: Vec<&SignedTransaction> = fresh.iter().collect();
        let valid = verify_refs(&fresh_refs, &self.genesis_hash(), Verdicts::UntilFailure);
        if valid.contains(&false) {
            return false;
        }
        for tx in fresh {
            // Refused by the pool's bounds: not the peer's fault.
            let _ = self.admit(tx, SignatureCheck::AlreadyVerified);
        }
        true
    }

    /// Whether `hash` is pooled or already finalized.
    fn knows(&self, hash: &Hash) -> bool {
        // Lock order: pool, then index.
        let pool = self.pool();
        pool.mempool.contains(hash) || self.index().contains(hash)
    }

    /// Checks a transaction against the finalized state and pools it; a refusal is counted
    /// by reason (`phalanx_admissions_refused_total`).
    fn admit(&self, tx: SignedTransaction, signature: SignatureCheck) -> Result<Hash, SubmitError> {
        let admitted = self.admit_unmetered(tx, signature);
        if let Err(e) = &admitted {
            self.metrics().refused(e.reason());
        }
        admitted
    }

    fn admit_unmetered(
        &self,
        tx: SignedTransaction,
        signature: SignatureCheck,
    ) -> Result<Hash, SubmitError> {
        let read = self.admission_read(&tx, signature)?;
        self.admit_read(tx, read)
    }

    /// The first half of an admission, outside any lock: the transaction checked against the
    /// finalized state, and its sender as that state has it.
    pub(super) fn admission_read(
        &self,
        tx: &SignedTransaction,
        signature: SignatureCheck,
    ) -> Result<AdmissionRead, SubmitError> {
        let (state, head) = self.finalized();
        let ctx = self.next_context(&head);
        // Checked outside any lock: signature verification is the expensive part.
        system::check_envelope_with(
            &state,
            &ctx,
            tx,
            NonceCheck::AllowFuture(NONCE_WINDOW),
            signature,
        )?;
        Ok(AdmissionRead {
            sender: sender_in(&state, &tx.tx.signer)?,
            height: head.height,
        })
    }

    /// The second half: pools `tx` under the pool lock, given what [`Self::admission_read`]
    /// read (blocks may have been finalized since).
    pub(super) fn admit_read(
        &self,
        tx: SignedTransaction,
        read: AdmissionRead,
    ) -> Result<Hash, SubmitError> {
        let AdmissionRead { mut sender, height } = read;
        // A block that uses this sender's nonce (with this transaction or another of its own)
        // must keep this one out. `finalize` moves the head and records the block in the index
        // before it prunes the pool (after the block's own senders only), under the pool lock
        // held here. So a block the read already has, or one pruned after this, is covered;
        // only a block finalized and pruned between the read and this lock is not, and then
        // the sender is read again from the head (lock order: pool, then forks, released, then
        // index).
        let mut pool = self.pool();
        if pool.pruned_at > height {
            sender = sender_in(self.forks().head_state(), &tx.tx.signer)?;
        }
        if tx.tx.nonce < sender.nonce {
            return Err(TxError::StaleNonce {
                got: tx.tx.nonce,
                expected: sender.nonce,
            }
            .into());
        }
        if self.index().contains(&tx.hash()) {
            return Err(TxError::StaleNonce {
                got: tx.tx.nonce,
                expected: tx.tx.nonce + 1,
            }
            .into());
        }
        Ok(pool.mempool.insert(tx, sender)?)
    }
}
