//! The chain: execution, finalized state, unfinalized forks, mempool and storage behind one
//! handle that consensus drives and RPC reads.
//!
//! Consensus may build on blocks that are notarized but not yet finalized, so every block this
//! node proposes or verifies is executed on a copy of its parent's state and kept in `pending`
//! (state copies are O(1), see `phalanx_state`). When a block is finalized it is written to the
//! store *before* it becomes the head, forks that did not win are dropped, and the mempool
//! forgets what can no longer be included.
//!
//! A finalized block whose re-executed state root differs from its header means this node
//! computes differently from the validators that signed it — a bug, never a user error. The node
//! refuses to move past such a block and says so loudly rather than serve a wrong state.

use crate::mempool::{Mempool, MempoolError, SenderState, NONCE_WINDOW};
use crate::store::{Store, StoreError, StoredBlock, ValidatorSetProof};
use parity_scale_codec::Encode;
use phalanx_primitives::block::{tx_root, MAX_BLOCK_BYTES};
use phalanx_primitives::{AccountId, Block, CodecError, Hash, Header, Keypair, SignedTransaction};
use phalanx_runtime::system::{self, NonceCheck, SignatureCheck, TxError};
use phalanx_runtime::{BlockContext, BlockOutcome, GenesisConfig, Receipt};
use phalanx_state::{Proof, State};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// How far ahead of this node's clock a block's timestamp may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 10_000;
/// Longest a leader spends executing transactions into one block, so that building (and
/// re-executing on other validators) stays well inside consensus timeouts however full the
/// mempool is. What does not fit waits for the next block.
pub const BUILD_BUDGET: std::time::Duration = std::time::Duration::from_millis(250);
/// Write a state snapshot every this many finalized blocks.
pub const SNAPSHOT_EVERY: u64 = 256;

/// Failures opening or running the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The genesis config is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(#[from] phalanx_runtime::genesis::GenesisError),
    /// The data directory holds another chain.
    #[error("the data directory holds a chain with genesis {found}, not {expected}: use another --data-dir")]
    WrongChain {
        /// Genesis hash in the store.
        found: Hash,
        /// Genesis hash of the config.
        expected: Hash,
    },
    /// Re-executing a stored or finalized block gave another state root.
    #[error("block {height} re-executes to state root {computed}, but its header says {expected}: this node disagrees with the network; stop it and report a bug")]
    RootMismatch {
        /// Height.
        height: u64,
        /// Root computed here.
        computed: Hash,
        /// Root in the header.
        expected: Hash,
    },
    /// A stored block failed to execute.
    #[error("stored block {height} does not execute: {error}")]
    Replay {
        /// Height.
        height: u64,
        /// Why.
        error: TxError,
    },
    /// State bytes were unreadable.
    #[error("unreadable state: {0}")]
    Codec(#[from] CodecError),
}

/// Below this many signatures, verifying on one thread beats starting others.
const PARALLEL_VERIFY_MIN: usize = 32;

/// Whether each transaction's signature is its signer's for the chain `genesis`, verified
/// strictly and spread over the machine's cores.
pub fn verify_signatures(txs: &[SignedTransaction], genesis: &Hash) -> Vec<bool> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if txs.len() < PARALLEL_VERIFY_MIN || cores == 1 {
        return txs.iter().map(|tx| tx.verify_signature(genesis)).collect();
    }
    let chunk = txs.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let workers: Vec<_> = txs
            .chunks(chunk)
            .map(|part| {
                let worker = scope.spawn(move || {
                    part.iter()
                        .map(|tx| tx.verify_signature(genesis))
                        .collect::<Vec<bool>>()
                });
                (part.len(), worker)
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

/// Records, when `height` is genesis or an epoch's last block, the validator set its state names
/// for the next epoch, with a proof (served as `phalanx_validatorSet` to light clients).
fn record_validator_set(store: &mut Store, height: u64, state: &State) -> Result<(), ChainError> {
    use phalanx_light_client::{epoch_of, last_height_of, VALIDATORS_KEY};
    let epoch = if height == 0 {
        0
    } else if height == last_height_of(epoch_of(height)) {
        epoch_of(height) + 1
    } else {
        return Ok(());
    };
    if store.validator_set(epoch).is_some() {
        return Ok(());
    }
    let validators = system::validators(state)?;
    let proof = state.clone().prove(VALIDATORS_KEY);
    store.record_validator_set(ValidatorSetProof {
        epoch,
        height,
        validators,
        proof,
    })?;
    Ok(())
}

/// Why [`Chain::finalize`] did not apply a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinalizeError {
    /// The height is already applied (a redelivery after a restart); nothing to do.
    #[error("block {0} is already applied")]
    AlreadyApplied(u64),
    /// The block does not extend the head (a gap or another parent).
    #[error("block {height} does not extend the head at {head}")]
    NotNext {
        /// Height offered.
        height: u64,
        /// Height of the head.
        head: u64,
    },
    /// The transactions do not match the header's transaction root (or the block is oversized):
    /// the bytes are bad, not the block. Fetch it again from another source.
    #[error("block {0}'s body does not match its header; fetch it again")]
    BadBody(u64),
    /// The chain halted (this block or an earlier one failed here); see the message.
    #[error("the chain halted: {0}")]
    Halted(String),
}

/// Why a submitted transaction was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The bytes are not a transaction.
    #[error("malformed transaction: {0}")]
    Malformed(#[from] CodecError),
    /// The envelope fails a rule.
    #[error("{0}")]
    Invalid(#[from] TxError),
    /// The pool refused it.
    #[error("{0}")]
    Mempool(#[from] MempoolError),
}

/// How a node opens its chain.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// Where blocks and snapshots live.
    pub data_dir: PathBuf,
    /// The genesis.
    pub genesis: GenesisConfig,
}

/// A summary of a finalized block, pushed to subscribers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeadInfo {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: Hash,
    /// Parent hash.
    pub parent: Hash,
    /// Timestamp (ms).
    pub timestamp_ms: u64,
    /// Post-state root.
    pub state_root: Hash,
    /// Transactions carried.
    pub transactions: u32,
}

impl HeadInfo {
    fn of(block: &Block) -> HeadInfo {
        HeadInfo {
            height: block.header.height,
            hash: block.hash(),
            parent: block.header.parent,
            timestamp_ms: block.header.timestamp_ms,
            state_root: block.header.state_root,
            transactions: block.transactions.len() as u32,
        }
    }
}

/// Where an included transaction is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxLocation {
    /// Block height.
    pub height: u64,
    /// Block hash.
    pub block: Hash,
    /// Position in the block.
    pub index: u32,
    /// Its receipt.
    pub receipt: Receipt,
}

/// A value with its proof against a finalized block.
#[derive(Clone, Debug)]
pub struct ProvenValue {
    /// The finalized block the proof is against.
    pub header: Header,
    /// Its finalization certificate.
    pub certificate: Vec<u8>,
    /// The value (None = absent).
    pub value: Option<Vec<u8>>,
    /// The proof.
    pub proof: Proof,
}

struct Executed {
    block: Block,
    state: State,
    outcome: BlockOutcome,
}

struct Inner {
    store: Store,
    head: Block,
    head_state: State,
    pending: HashMap<Hash, Arc<Executed>>,
    mempool: Mempool,
    tx_index: HashMap<Hash, (u64, u32)>,
    height_by_hash: HashMap<Hash, u64>,
    faults: Vec<String>,
    /// Set when a finalized block failed to re-execute; the node then refuses to continue.
    halted: Option<String>,
    /// Transactions admitted from this node's clients, waiting to be gossiped (hash, bytes).
    gossip: std::collections::VecDeque<(Hash, Vec<u8>)>,
    /// Bytes in `gossip`.
    gossip_bytes: usize,
    /// The account that signs this node's evidence reports.
    reporter: Option<Keypair>,
}

/// Most bytes of client transactions waiting to be gossiped; beyond it the oldest are not
/// gossiped (they stay in this node's mempool and are included when it leads).
pub const MAX_GOSSIP_QUEUE_BYTES: usize = 4 << 20;
/// Most transactions in one gossip message.
pub const MAX_GOSSIP_TXS: usize = 4_096;

/// A wall clock in ms since the Unix epoch (the deterministic runtime supplies its own).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The shared handle to the chain.
#[derive(Clone)]
pub struct Chain {
    inner: Arc<Mutex<Inner>>,
    genesis: Arc<GenesisConfig>,
    genesis_block: Arc<Block>,
    heads: broadcast::Sender<HeadInfo>,
    clock: Clock,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("genesis", &self.genesis_block.hash())
            .finish()
    }
}

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

impl Chain {
    /// Opens the chain in `config.data_dir`: creates genesis on first start, otherwise loads the
    /// last snapshot and re-executes the finalized blocks after it.
    pub fn open(config: ChainConfig, clock: Clock) -> Result<Chain, ChainError> {
        let (genesis_block, genesis_state) = phalanx_runtime::genesis_block(&config.genesis)?;
        let genesis_hash = genesis_block.hash();
        let mut store = Store::open(&config.data_dir)?;
        if store.is_empty() {
            store.append(&StoredBlock {
                block: genesis_block.clone(),
                certificate: Vec::new(),
                outcome: BlockOutcome::default(),
            })?;
        }
        let stored_genesis = store.get(0)?.map(|s| s.block.hash()).unwrap_or(Hash::ZERO);
        if stored_genesis != genesis_hash {
            return Err(ChainError::WrongChain {
                found: stored_genesis,
                expected: genesis_hash,
            });
        }
        // Start from the newest usable snapshot, else from genesis.
        record_validator_set(&mut store, 0, &genesis_state)?;
        let mut state = genesis_state;
        let mut from = 0;
        if let Some(snapshot) = store.read_snapshot()? {
            let matches = store
                .get(snapshot.height)?
                .is_some_and(|s| s.block.hash() == snapshot.block_hash);
            if matches {
                state = State::from_snapshot(&snapshot.state)?;
                from = snapshot.height;
            } else {
                tracing::warn!(
                    height = snapshot.height,
                    "snapshot does not match the block log; replaying from genesis"
                );
            }
        }
        let mut tx_index = HashMap::new();
        let mut height_by_hash = HashMap::new();
        let mut head = genesis_block.clone();
        for height in 0..store.len() {
            let Some(stored) = store.get(height)? else {
                break;
            };
            for (index, tx) in stored.block.transactions.iter().enumerate() {
                tx_index.insert(tx.hash(), (height, index as u32));
            }
            height_by_hash.insert(stored.block.hash(), height);
            if height > from {
                let ctx = BlockContext {
                    height,
                    timestamp_ms: stored.block.header.timestamp_ms,
                    genesis_hash,
                    parent_hash: stored.block.header.parent,
                };
                phalanx_runtime::execute_block(&mut state, &ctx, &stored.block.transactions)
                    .map_err(|error| ChainError::Replay { height, error })?;
                let computed = state.root();
                if computed != stored.block.header.state_root {
                    return Err(ChainError::RootMismatch {
                        height,
                        computed,
                        expected: stored.block.header.state_root,
                    });
                }
                record_validator_set(&mut store, height, &state)?;
            }
            head = stored.block;
        }
        if head.height() > from {
            store.write_snapshot(head.height(), head.hash(), &state.snapshot())?;
        }
        tracing::info!(height = head.height(), hash = %head.hash(), "chain opened");
        let (heads, _) = broadcast::channel(1024);
        Ok(Chain {
            inner: Arc::new(Mutex::new(Inner {
                store,
                head,
                head_state: state,
                pending: HashMap::new(),
                mempool: Mempool::new(),
                tx_index,
                height_by_hash,
                faults: Vec::new(),
                halted: None,
                gossip: std::collections::VecDeque::new(),
                gossip_bytes: 0,
                reporter: None,
            })),
            genesis: Arc::new(config.genesis),
            genesis_block: Arc::new(genesis_block),
            heads,
            clock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere mid-update; the data is still the last
        // consistent write of each field, so keep serving rather than cascade the panic.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The genesis config.
    pub fn genesis_config(&self) -> &GenesisConfig {
        &self.genesis
    }

    /// The genesis block hash (transactions are signed for it).
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_block.hash()
    }

    /// The genesis block.
    pub fn genesis_block(&self) -> Block {
        (*self.genesis_block).clone()
    }

    /// The last finalized block.
    pub fn head(&self) -> Block {
        self.lock().head.clone()
    }

    /// The state after the last finalized block (an O(1) copy).
    pub fn head_state(&self) -> State {
        self.lock().head_state.clone()
    }

    /// The last finalized height.
    pub fn height(&self) -> u64 {
        self.lock().head.height()
    }

    /// Subscribes to finalized heads.
    pub fn subscribe(&self) -> broadcast::Receiver<HeadInfo> {
        self.heads.subscribe()
    }

    /// Transactions waiting in the mempool.
    pub fn mempool_len(&self) -> usize {
        self.lock().mempool.len()
    }

    /// Misbehaviour consensus reported (equivocations), newest last.
    pub fn faults(&self) -> Vec<String> {
        self.lock().faults.clone()
    }

    /// Records misbehaviour reported by consensus.
    pub fn report_fault(&self, description: String) {
        tracing::warn!(%description, "consensus fault");
        let mut inner = self.lock();
        inner.faults.push(description);
        if inner.faults.len() > 1_000 {
            inner.faults.remove(0);
        }
    }

    /// Names the account that signs (and pays for) the transactions this node sends on its own:
    /// evidence reports and its published p2p address. A validator uses its consensus key.
    /// Without one, faults are only logged and kept in memory.
    pub fn set_reporter(&self, key: Keypair) {
        self.lock().reporter = Some(key);
    }

    /// The account set by [`Chain::set_reporter`], if any.
    pub fn reporter(&self) -> Option<phalanx_primitives::AccountId> {
        self.lock().reporter.as_ref().map(Keypair::account)
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
        let Some(reporter) = self.lock().reporter.clone() else {
            return Err("no reporter account is configured".into());
        };
        let state = self.head_state();
        let params = system::params(&state).map_err(|e| e.to_string())?;
        let account = reporter.account();
        let mut nonce = system::nonce(&state, &account).map_err(|e| e.to_string())?;
        {
            let inner = self.lock();
            while inner.mempool.has_nonce(&account, nonce) {
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

    /// Why the node stopped following the chain, if it did.
    pub fn halted(&self) -> Option<String> {
        self.lock().halted.clone()
    }

    /// The stored block at `height` (read from disk without holding the chain's lock).
    pub fn block(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        let location = self.lock().store.locate(height);
        location.map(|location| location.read()).transpose()
    }

    /// The stored block with `hash`.
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<StoredBlock>, StoreError> {
        let height = self.lock().height_by_hash.get(hash).copied();
        match height {
            Some(height) => self.block(height),
            None => Ok(None),
        }
    }

    /// Where an included transaction is, with its receipt.
    pub fn transaction(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let Some((height, index)) = self.lock().tx_index.get(hash).copied() else {
            return Ok(None);
        };
        let Some(stored) = self.block(height)? else {
            return Ok(None);
        };
        let block = stored.block.hash();
        Ok(stored
            .outcome
            .receipts
            .get(index as usize)
            .cloned()
            .map(|receipt| TxLocation {
                height,
                block,
                index,
                receipt,
            }))
    }

    /// Whether `hash` is waiting in the mempool.
    pub fn is_pending(&self, hash: &Hash) -> bool {
        self.lock().mempool.contains(hash)
    }

    /// `key`'s value in the finalized state, with a proof and the certificate of that block.
    pub fn prove(&self, key: &[u8]) -> Result<ProvenValue, StoreError> {
        let (mut state, head) = {
            let inner = self.lock();
            (inner.head_state.clone(), inner.head.clone())
        };
        let certificate = self
            .block(head.height())?
            .map(|s| s.certificate)
            .unwrap_or_default();
        let value = state.get(key).cloned();
        let proof = state.prove(key);
        Ok(ProvenValue {
            header: head.header,
            certificate,
            value,
            proof,
        })
    }

    /// The context a transaction submitted now would be checked in.
    fn next_context(&self, head: &Block) -> BlockContext {
        BlockContext {
            height: head.height() + 1,
            timestamp_ms: (self.clock)().max(head.header.timestamp_ms),
            genesis_hash: self.genesis_hash(),
            parent_hash: head.hash(),
        }
    }

    /// Admits encoded transaction bytes into the mempool.
    pub fn submit(&self, bytes: &[u8]) -> Result<Hash, SubmitError> {
        let tx = SignedTransaction::decode_strict(bytes)?;
        self.submit_tx(tx)
    }

    /// Admits a decoded transaction from a client into the mempool and queues it for gossip to
    /// the other validators.
    pub fn submit_tx(&self, tx: SignedTransaction) -> Result<Hash, SubmitError> {
        self.submit_checked(tx, SignatureCheck::Verify)
    }

    /// Admits many client transactions at once. Their signatures are verified first, in
    /// parallel on every core (each one strictly, as block execution does), then each is admitted
    /// as [`Self::submit_tx`] would. One result per transaction, in order.
    pub fn submit_batch(&self, txs: Vec<SignedTransaction>) -> Vec<Result<Hash, SubmitError>> {
        let valid = verify_signatures(&txs, &self.genesis_hash());
        txs.into_iter()
            .zip(valid)
            .map(|(tx, valid)| {
                if valid {
                    self.submit_checked(tx, SignatureCheck::AlreadyVerified)
                } else {
                    Err(SubmitError::Invalid(TxError::BadSignature))
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
        let mut inner = self.lock();
        inner.gossip_bytes += bytes.len();
        inner.gossip.push_back((hash, bytes));
        while inner.gossip_bytes > MAX_GOSSIP_QUEUE_BYTES {
            let Some((_, dropped)) = inner.gossip.pop_front() else {
                break;
            };
            inner.gossip_bytes -= dropped.len();
        }
        Ok(hash)
    }

    /// Client transactions admitted since the last call and still pooled, for gossip: at most
    /// [`MAX_GOSSIP_TXS`] whose encoding as a gossip message (a SCALE `Vec<Vec<u8>>`, length
    /// prefixes included) stays within `max_bytes`.
    pub fn take_gossip(&self, max_bytes: usize) -> Vec<Vec<u8>> {
        use parity_scale_codec::{Compact, CompactLen};
        let mut inner = self.lock();
        let mut out = Vec::new();
        // The outer length prefix, at most 5 bytes for any count we send.
        let mut size = 5;
        while let Some((hash, next)) = inner.gossip.front() {
            let framed = next.len() + Compact::<u32>::compact_len(&(next.len() as u32));
            if out.len() >= MAX_GOSSIP_TXS || size + framed > max_bytes {
                if out.is_empty() {
                    // Larger than any message: never gossiped (this node still includes it).
                    if let Some((_, dropped)) = inner.gossip.pop_front() {
                        inner.gossip_bytes -= dropped.len();
                    }
                    continue;
                }
                break;
            }
            let pooled = inner.mempool.contains(hash);
            let Some((_, bytes)) = inner.gossip.pop_front() else {
                break;
            };
            inner.gossip_bytes -= bytes.len();
            // Replaced, evicted or already included: not worth a peer's time.
            if pooled {
                size += framed;
                out.push(bytes);
            }
        }
        out
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
        let (state, head) = {
            let inner = self.lock();
            (inner.head_state.clone(), inner.head.clone())
        };
        let ctx = self.next_context(&head);
        let mut seen = std::collections::HashSet::new();
        let mut fresh = Vec::with_capacity(encoded.len());
        for bytes in encoded {
            let Ok(tx) = SignedTransaction::decode_strict(&bytes) else {
                return false;
            };
            let hash = tx.hash();
            if !seen.insert(hash) {
                continue;
            }
            {
                let inner = self.lock();
                if inner.mempool.contains(&hash) || inner.tx_index.contains_key(&hash) {
                    continue;
                }
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
        let valid = verify_signatures(&fresh, &self.genesis_hash());
        if valid.contains(&false) {
            return false;
        }
        for tx in fresh {
            // Refused by the pool's bounds: not the peer's fault.
            let _ = self.admit(tx, SignatureCheck::AlreadyVerified);
        }
        true
    }

    /// Checks a transaction against the finalized state and pools it.
    fn admit(&self, tx: SignedTransaction, signature: SignatureCheck) -> Result<Hash, SubmitError> {
        let (state, head) = {
            let inner = self.lock();
            (inner.head_state.clone(), inner.head.clone())
        };
        let ctx = self.next_context(&head);
        // Checked outside the lock: signature verification is the expensive part.
        system::check_envelope_with(
            &state,
            &ctx,
            &tx,
            NonceCheck::AllowFuture(NONCE_WINDOW),
            signature,
        )?;
        let sender = SenderState {
            nonce: system::nonce(&state, &tx.tx.signer)?,
            free: phalanx_runtime::balances::account(&state, &tx.tx.signer)?.free,
        };
        let mut inner = self.lock();
        if inner.tx_index.contains_key(&tx.hash()) {
            return Err(TxError::StaleNonce {
                got: tx.tx.nonce,
                expected: tx.tx.nonce + 1,
            }
            .into());
        }
        Ok(inner.mempool.insert(tx, sender)?)
    }

    /// The state after `parent`, if this node has executed it.
    fn state_after(&self, parent: &Hash) -> Option<State> {
        let inner = self.lock();
        if inner.head.hash() == *parent {
            return Some(inner.head_state.clone());
        }
        inner.pending.get(parent).map(|e| e.state.clone())
    }

    /// Builds a block on `parent` at `timestamp_ms` from the mempool (see [`crate::consensus::Application`]).
    pub fn build(&self, parent: &Block, timestamp_ms: u64) -> Option<Block> {
        if self.halted().is_some() {
            return None;
        }
        let parent_hash = parent.hash();
        let mut state = self.state_after(&parent_hash)?;
        let params = system::params(&state).ok()?;
        let ctx = BlockContext {
            height: parent.height() + 1,
            timestamp_ms: timestamp_ms.max(parent.header.timestamp_ms),
            genesis_hash: self.genesis_hash(),
            parent_hash,
        };
        let candidates = {
            let inner = self.lock();
            let nonce_state = state.clone();
            inner.mempool.ready(
                |who: &AccountId| system::nonce(&nonce_state, who).unwrap_or(u64::MAX),
                params.max_block_txs as usize,
            )
        };
        phalanx_runtime::begin_block(&mut state, &ctx);
        let mut included = Vec::with_capacity(candidates.len());
        let mut receipts = Vec::with_capacity(candidates.len());
        let mut rejected = Vec::new();
        let mut size = 0usize;
        let started = std::time::Instant::now();
        for tx in candidates {
            let tx_size = tx.encoded_size();
            if size + tx_size + 1024 > MAX_BLOCK_BYTES || started.elapsed() > BUILD_BUDGET {
                break;
            }
            // Every pooled transaction passed signature verification at admission.
            match phalanx_runtime::apply_transaction_with(
                &mut state,
                &ctx,
                &tx,
                SignatureCheck::AlreadyVerified,
            ) {
                Ok(receipt) => {
                    size += tx_size;
                    receipts.push(receipt);
                    included.push(tx);
                }
                Err(_) => rejected.push(tx.hash()),
            }
        }
        let block_events = phalanx_runtime::end_block(&mut state, &ctx);
        let header = Header {
            parent: parent_hash,
            height: ctx.height,
            timestamp_ms: ctx.timestamp_ms,
            tx_root: tx_root(&included),
            state_root: state.root(),
        };
        let block = Block {
            header,
            transactions: included,
        };
        let hash = block.hash();
        let mut inner = self.lock();
        for bad in rejected {
            // Its later nonces could not execute either.
            inner.mempool.evict(&bad);
        }
        inner.pending.insert(
            hash,
            Arc::new(Executed {
                block: block.clone(),
                state,
                outcome: BlockOutcome {
                    receipts,
                    block_events,
                },
            }),
        );
        Some(block)
    }

    /// Whether this node has the state after block `hash` (finalized head or a pending block).
    pub fn knows_state_after(&self, hash: &Hash) -> bool {
        self.state_after(hash).is_some()
    }

    /// Re-executes `block` on `parent` with this node's clock; true if valid.
    pub fn check(&self, parent: &Block, block: &Block) -> bool {
        self.check_at(parent, block, (self.clock)())
    }

    /// Re-executes `block` on `parent`, judging its timestamp against `now_ms`; true if valid
    /// (see [`crate::consensus::Application::verify`]).
    pub fn check_at(&self, parent: &Block, block: &Block, now_ms: u64) -> bool {
        if block.header.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
            tracing::warn!(
                height = block.height(),
                "refusing block: timestamp is too far in the future"
            );
            return false;
        }
        match self.execute(parent, block) {
            Ok(_) => true,
            Err(reason) => {
                tracing::warn!(height = block.height(), hash = %block.hash(), %reason, "refusing block");
                false
            }
        }
    }

    fn execute(&self, parent: &Block, block: &Block) -> Result<Arc<Executed>, String> {
        // The cache is keyed by the header hash, which commits to the body only through
        // `tx_root`: check the body against it first, or a peer could pair an executed header
        // with other transactions and have them stored with the honest receipts.
        if !block.tx_root_matches() {
            return Err("transaction root does not match the transactions".into());
        }
        if block.encoded_size() > MAX_BLOCK_BYTES {
            return Err("block is too large".into());
        }
        let hash = block.hash();
        if let Some(done) = self.lock().pending.get(&hash) {
            return Ok(done.clone());
        }
        let parent_hash = parent.hash();
        if block.header.parent != parent_hash {
            return Err("parent hash does not match".into());
        }
        if block.height() != parent.height() + 1 {
            return Err(format!(
                "height {} does not follow {}",
                block.height(),
                parent.height()
            ));
        }
        if block.header.timestamp_ms < parent.header.timestamp_ms {
            return Err("timestamp goes backwards".into());
        }
        // No clock check here: a finalized block is final whatever this node's clock says.
        let mut state = self
            .state_after(&parent_hash)
            .ok_or("parent state unknown")?;
        let ctx = BlockContext {
            height: block.height(),
            timestamp_ms: block.header.timestamp_ms,
            genesis_hash: self.genesis_hash(),
            parent_hash,
        };
        // Transactions this node admitted to its mempool had their signatures verified then;
        // every other signature is verified here.
        let admitted: std::collections::HashSet<Hash> = {
            let inner = self.lock();
            block
                .transactions
                .iter()
                .map(SignedTransaction::hash)
                .filter(|hash| inner.mempool.contains(hash))
                .collect()
        };
        let outcome =
            phalanx_runtime::execute_block_with(&mut state, &ctx, &block.transactions, |tx| {
                if admitted.contains(&tx.hash()) {
                    SignatureCheck::AlreadyVerified
                } else {
                    SignatureCheck::Verify
                }
            })
            .map_err(|e| e.to_string())?;
        let computed = state.root();
        if computed != block.header.state_root {
            return Err(format!(
                "state root {computed} does not match header {}",
                block.header.state_root
            ));
        }
        let executed = Arc::new(Executed {
            block: block.clone(),
            state,
            outcome,
        });
        self.lock().pending.insert(hash, executed.clone());
        Ok(executed)
    }

    /// Applies a finalized block (see [`crate::consensus::Application`]): executes it if needed,
    /// stores it durably, makes it the head and prunes forks and the mempool.
    ///
    /// Bytes that do not match their own header ([`FinalizeError::BadBody`]) are refused without
    /// consequence: the caller fetches the block again. Only a block that is well formed, extends
    /// the head and still fails to execute here halts the chain, because then this node computes
    /// differently from the validators that certified it.
    pub fn finalize(&self, block: Block, certificate: Vec<u8>) -> Result<(), FinalizeError> {
        let head = self.head();
        if block.height() <= head.height() {
            return Err(FinalizeError::AlreadyApplied(block.height()));
        }
        if let Some(reason) = self.halted() {
            return Err(FinalizeError::Halted(reason));
        }
        if block.height() != head.height() + 1 || block.header.parent != head.hash() {
            return Err(FinalizeError::NotNext {
                height: block.height(),
                head: head.height(),
            });
        }
        if !block.tx_root_matches() || block.encoded_size() > MAX_BLOCK_BYTES {
            tracing::warn!(
                height = block.height(),
                hash = %block.hash(),
                "finalized header arrived with a body that does not match it; refusing the bytes"
            );
            return Err(FinalizeError::BadBody(block.height()));
        }
        let executed = match self.execute(&head, &block) {
            Ok(executed) => executed,
            Err(reason) => {
                let message = format!(
                    "finalized block {} ({}) fails here: {reason}",
                    block.height(),
                    block.hash()
                );
                tracing::error!(
                    "{message}; this node disagrees with the network and stops following it"
                );
                self.lock().halted = Some(message.clone());
                return Err(FinalizeError::Halted(message));
            }
        };
        // Debug builds (every test) check the runtime's invariants after every finalized block:
        // issuance within the cap, accounts summing to issuance, nothing negative.
        #[cfg(debug_assertions)]
        if let Err(e) = phalanx_runtime::invariants::check(&executed.state) {
            let message = format!("invariant broken after block {}: {e}", block.height());
            tracing::error!("{message}");
            self.lock().halted = Some(message.clone());
            return Err(FinalizeError::Halted(message));
        }
        let mut inner = self.lock();
        let stored = StoredBlock {
            block: block.clone(),
            certificate,
            outcome: executed.outcome.clone(),
        };
        if let Err(e) = inner.store.append(&stored).and_then(|()| {
            record_validator_set(&mut inner.store, block.height(), &executed.state).map_err(|e| {
                match e {
                    ChainError::Store(e) => e,
                    other => StoreError::Corrupt {
                        height: block.height(),
                        reason: other.to_string(),
                    },
                }
            })
        }) {
            let message = format!("cannot store finalized block {}: {e}", block.height());
            tracing::error!("{message}");
            inner.halted = Some(message.clone());
            return Err(FinalizeError::Halted(message));
        }
        let height = block.height();
        let hash = block.hash();
        for (index, tx) in block.transactions.iter().enumerate() {
            inner.tx_index.insert(tx.hash(), (height, index as u32));
        }
        inner.height_by_hash.insert(hash, height);
        inner.head = block.clone();
        inner.head_state = executed.state.clone();
        inner.pending.retain(|_, e| e.block.height() > height);
        let state = executed.state.clone();
        inner
            .mempool
            .prune(|who| system::nonce(&state, who).unwrap_or(0), height + 1);
        if height.is_multiple_of(SNAPSHOT_EVERY) {
            if let Err(e) = inner.store.write_snapshot(height, hash, &state.snapshot()) {
                tracing::warn!(error = %e, "could not write a state snapshot; the block log still has everything");
            }
        }
        drop(inner);
        let _ = self.heads.send(HeadInfo::of(&block));
        Ok(())
    }

    /// The validator set of `epoch` with its proof against the state that names it, if this node
    /// recorded it (it records every epoch it finalizes the boundary of).
    pub fn validator_set(&self, epoch: u64) -> Option<ValidatorSetProof> {
        self.lock().store.validator_set(epoch).cloned()
    }

    /// Writes a snapshot of the head state (on clean shutdown), so a restart replays nothing.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let inner = self.lock();
        inner.store.write_snapshot(
            inner.head.height(),
            inner.head.hash(),
            &inner.head_state.snapshot(),
        )
    }
}

#[cfg(test)]
mod tests;
