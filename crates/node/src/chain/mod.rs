//! The chain: execution, finalized state, unfinalized forks, mempool and storage behind one
//! handle that consensus drives and RPC reads.
//!
//! Consensus may build on blocks that are notarized but not yet finalized, so every block this
//! node proposes or verifies is executed on a copy of its parent's state and kept in the fork
//! tree (state copies are O(1), see `phalanx_state`). When a block is finalized it is written to
//! the store *before* it becomes the head, forks that did not win are dropped, and the mempool
//! forgets what can no longer be included.
//!
//! A finalized block whose re-executed state root differs from its header means this node
//! computes differently from the validators that signed it — a bug, never a user error. The node
//! refuses to move past such a block and says so loudly rather than serve a wrong state.
//!
//! # Parts
//!
//! - [`executor`] (`executor.rs`): building and executing blocks, pure (no locks, no I/O);
//! - `forks.rs`: the finalized head and the executed blocks above it;
//! - `index.rs`: where each finalized transaction and block is;
//! - `admission.rs`: the mempool's ways in (clients, gossip, the node's own reports);
//! - [`crate::store`]: the durable block log, snapshots and validator-set proofs.
//!
//! # Locks
//!
//! Each part has its own lock, so a reader of the head does not wait for a block log fsync and
//! a submission does not wait for a block's execution. No lock is held while a block executes
//! or a signature is verified. Two paths hold two locks at once, always in this order:
//!
//! - `forks` then `index` ([`Chain::finalize`]), so a block's transactions are findable exactly
//!   when it is the head: a client that sees its receipt reads the state after it;
//! - `pool` then `index` (admission), so a transaction included meanwhile is not pooled again.
//!
//! Every other lock (`store`, `faults`, `halted`, `reporter`) is taken alone. `finalize` writes
//! the store first and releases it before touching the head, so any head a reader sees is
//! durably stored.

mod admission;
pub mod executor;
mod forks;
mod index;

pub use admission::{verify_signatures, MAX_GOSSIP_QUEUE_BYTES, MAX_GOSSIP_TXS};
pub use executor::BlockError;

use crate::mempool::{Mempool, MempoolError};
use crate::store::{Store, StoreError, StoredBlock, ValidatorSetProof};
use admission::{GossipQueue, Pool};
use executor::Executed;
use forks::Forks;
use index::TxIndex;
use phalanx_primitives::{AccountId, Block, CodecError, Hash, Header, Keypair, SignedTransaction};
use phalanx_runtime::system::{self, TxError};
use phalanx_runtime::{BlockContext, BlockOutcome, GenesisConfig, Receipt};
use phalanx_state::{Proof, State};
use serde::Serialize;
use std::collections::HashSet;
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

impl SubmitError {
    /// The stable reason word: `malformed`, the runtime's code for an envelope error, or the
    /// mempool's.
    pub fn reason(&self) -> &'static str {
        match self {
            SubmitError::Malformed(_) => "malformed",
            SubmitError::Invalid(tx) => {
                use phalanx_runtime::module::ErrorCodes as _;
                tx.code()
            }
            SubmitError::Mempool(m) => match m {
                MempoolError::AlreadyKnown(_) => "already_known",
                MempoolError::NonceTaken(_) => "nonce_taken",
                MempoolError::FeeTooLow { .. } => "fee_too_low",
                MempoolError::SenderFull(_) => "sender_full",
                MempoolError::TooManyFuture(..) => "too_many_future",
                MempoolError::FutureFull(_) => "future_full",
                MempoolError::CannotAfford { .. } => "cannot_afford",
            },
        }
    }
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

/// Values and proofs of several keys against one finalized head ([`Chain::prove_many`]).
#[derive(Clone, Debug)]
pub struct ProvenBatch {
    /// The finalized block the proofs are against.
    pub header: Header,
    /// Its finalization certificate.
    pub certificate: Vec<u8>,
    /// Each key's value (None = absent) and proof, in the order asked.
    pub entries: Vec<(Option<Vec<u8>>, Proof)>,
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

/// A wall clock in ms since the Unix epoch (the deterministic runtime supplies its own).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    })
}

/// Takes a lock. A poisoned lock means a panic elsewhere mid-update; the data is still the last
/// consistent write of each field, so keep serving rather than cascade the panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the handles share, one lock per part (see the module docs for the order).
struct Shared {
    /// The durable block log, snapshots and validator-set proofs.
    store: Mutex<Store>,
    /// The finalized head, its state and the executed blocks above it.
    forks: Mutex<Forks>,
    /// Where each finalized transaction and block is.
    index: Mutex<TxIndex>,
    /// The mempool and the client transactions waiting to be gossiped.
    pool: Mutex<Pool>,
    /// Misbehaviour consensus reported, newest last.
    faults: Mutex<Vec<String>>,
    /// Set when a finalized block failed to re-execute; the node then refuses to continue.
    halted: Mutex<Option<String>>,
    /// The account that signs this node's evidence reports.
    reporter: Mutex<Option<Keypair>>,
    /// Catch-up progress while far behind the network.
    catch_up: Mutex<crate::metrics::CatchUp>,
    /// The last few stored blocks read, decoded ([`RECENT_BLOCKS`] at most, newest last):
    /// clients polling for their transactions ask about the same few recent blocks many times,
    /// and decoding a full block for each question would cost more than the block did.
    recent: Mutex<std::collections::VecDeque<Arc<StoredBlock>>>,
}

/// How many decoded blocks [`Shared::recent`] keeps.
const RECENT_BLOCKS: usize = 8;

/// The shared handle to the chain.
#[derive(Clone)]
pub struct Chain {
    shared: Arc<Shared>,
    genesis: Arc<GenesisConfig>,
    genesis_block: Arc<Block>,
    heads: broadcast::Sender<HeadInfo>,
    clock: Clock,
    metrics: Arc<crate::metrics::NodeMetrics>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("genesis", &self.genesis_block.hash())
            .finish()
    }
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
        let mut index = TxIndex::default();
        let mut head = genesis_block.clone();
        for height in 0..store.len() {
            let Some(stored) = store.get(height)? else {
                break;
            };
            index.record(&stored.block);
            if height > from {
                executor::replay(&mut state, genesis_hash, &stored.block)?;
                record_validator_set(&mut store, height, &state)?;
            }
            head = stored.block;
        }
        if head.height() > from {
            store.write_snapshot(head.height(), head.hash(), &state.snapshot())?;
        }
        tracing::info!(height = head.height(), hash = %head.hash(), "chain opened");
        let (heads, _) = broadcast::channel(1024);
        let metrics = crate::metrics::NodeMetrics::new(&config.data_dir);
        metrics.head(head.height(), None);
        Ok(Chain {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                forks: Mutex::new(Forks::new(head, state)),
                index: Mutex::new(index),
                pool: Mutex::new(Pool {
                    mempool: Mempool::new(),
                    gossip: GossipQueue::default(),
                    pruned_at: 0,
                }),
                faults: Mutex::new(Vec::new()),
                halted: Mutex::new(None),
                reporter: Mutex::new(None),
                catch_up: Mutex::new(crate::metrics::CatchUp::default()),
                recent: Mutex::new(std::collections::VecDeque::new()),
            }),
            genesis: Arc::new(config.genesis),
            genesis_block: Arc::new(genesis_block),
            heads,
            clock,
            metrics,
        })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.shared.store)
    }

    fn forks(&self) -> MutexGuard<'_, Forks> {
        lock(&self.shared.forks)
    }

    fn index(&self) -> MutexGuard<'_, TxIndex> {
        lock(&self.shared.index)
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        lock(&self.shared.pool)
    }

    fn set_halted(&self, message: String) {
        *lock(&self.shared.halted) = Some(message);
    }

    /// The finalized state and the head's header, read together (the header alone: copying
    /// the head block would copy all its transactions, and admission asks once a transaction).
    fn finalized(&self) -> (State, Header) {
        let forks = self.forks();
        (forks.head_state().clone(), forks.head().header.clone())
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
        self.forks().head().clone()
    }

    /// The last finalized block's header (without copying its transactions).
    pub fn head_header(&self) -> Header {
        self.forks().head().header.clone()
    }

    /// The state after the last finalized block (an O(1) copy).
    pub fn head_state(&self) -> State {
        self.forks().head_state().clone()
    }

    /// The last finalized height.
    pub fn height(&self) -> u64 {
        self.forks().head().height()
    }

    /// Subscribes to finalized heads.
    pub fn subscribe(&self) -> broadcast::Receiver<HeadInfo> {
        self.heads.subscribe()
    }

    /// Misbehaviour consensus reported (equivocations), newest last.
    pub fn faults(&self) -> Vec<String> {
        lock(&self.shared.faults).clone()
    }

    /// Records misbehaviour reported by consensus.
    pub fn report_fault(&self, description: String) {
        tracing::warn!(%description, "consensus fault");
        let mut faults = lock(&self.shared.faults);
        faults.push(description);
        if faults.len() > 1_000 {
            faults.remove(0);
        }
    }

    /// Names the account that signs (and pays for) the transactions this node sends on its own:
    /// evidence reports and its published p2p address. A validator uses its consensus key.
    /// Without one, faults are only logged and kept in memory.
    pub fn set_reporter(&self, key: Keypair) {
        *lock(&self.shared.reporter) = Some(key);
    }

    /// The account set by [`Chain::set_reporter`], if any.
    pub fn reporter(&self) -> Option<AccountId> {
        lock(&self.shared.reporter).as_ref().map(Keypair::account)
    }

    /// Why the node stopped following the chain, if it did.
    pub fn halted(&self) -> Option<String> {
        lock(&self.shared.halted).clone()
    }

    /// The stored block at `height` (read from disk without holding the chain's lock).
    pub fn block(&self, height: u64) -> Result<Option<StoredBlock>, StoreError> {
        Ok(self.stored(height)?.map(Arc::unwrap_or_clone))
    }

    /// The stored block at `height`, shared: from the few recently read, or read from disk
    /// (without holding the chain's lock) and kept among them. A stored block never changes
    /// once finalized, so a kept copy can't go stale.
    fn stored(&self, height: u64) -> Result<Option<Arc<StoredBlock>>, StoreError> {
        if let Some(kept) = lock(&self.shared.recent)
            .iter()
            .find(|kept| kept.block.height() == height)
        {
            return Ok(Some(kept.clone()));
        }
        let location = self.store().locate(height);
        let Some(read) = location.map(|location| location.read()).transpose()? else {
            return Ok(None);
        };
        let read = Arc::new(read);
        // Only blocks near the head are kept: those are what clients ask about again and
        // again, and a client walking old heights can't pin large old blocks in memory.
        let near_head = height + RECENT_BLOCKS as u64 > self.height();
        let mut recent = lock(&self.shared.recent);
        if near_head && !recent.iter().any(|kept| kept.block.height() == height) {
            if recent.len() >= RECENT_BLOCKS {
                recent.pop_front();
            }
            recent.push_back(read.clone());
        }
        Ok(Some(read))
    }

    /// The stored block with `hash`.
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<StoredBlock>, StoreError> {
        let height = self.index().height_of(hash);
        match height {
            Some(height) => self.block(height),
            None => Ok(None),
        }
    }

    /// Where an included transaction is, with its receipt.
    pub fn transaction(&self, hash: &Hash) -> Result<Option<TxLocation>, StoreError> {
        let Some((height, index)) = self.index().transaction(hash) else {
            return Ok(None);
        };
        let Some(stored) = self.stored(height)? else {
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

    /// `key`'s value in the finalized state, with a proof and the certificate of that block.
    pub fn prove(&self, key: &[u8]) -> Result<ProvenValue, StoreError> {
        let (mut state, head) = self.finalized();
        let certificate = self
            .stored(head.height)?
            .map(|s| s.certificate.clone())
            .unwrap_or_default();
        let value = state.get(key).map(|v| v.to_vec());
        let proof = state.prove(key);
        Ok(ProvenValue {
            header: head,
            certificate,
            value,
            proof,
        })
    }

    /// Proves every key of `keys` against the same finalized head (a batch for enclaves, which
    /// check all their facts against one verified state root): the header, its certificate, and
    /// each key's value and proof, in order.
    pub fn prove_many(&self, keys: &[Vec<u8>]) -> Result<ProvenBatch, StoreError> {
        let (mut state, head) = self.finalized();
        let certificate = self
            .stored(head.height)?
            .map(|s| s.certificate.clone())
            .unwrap_or_default();
        let entries = keys
            .iter()
            .map(|key| (state.get(key).map(|v| v.to_vec()), state.prove(key)))
            .collect();
        Ok(ProvenBatch {
            header: head,
            certificate,
            entries,
        })
    }

    /// The context a transaction submitted now would be checked in.
    fn next_context(&self, head: &Header) -> BlockContext {
        BlockContext {
            height: head.height + 1,
            timestamp_ms: (self.clock)().max(head.timestamp_ms),
            genesis_hash: self.genesis_hash(),
            parent_hash: head.hash(),
        }
    }

    /// The state after `parent`, if this node has executed it.
    fn state_after(&self, parent: &Hash) -> Option<State> {
        self.forks().state_after(parent)
    }

    /// Builds a block on `parent` at `timestamp_ms` from the mempool (see [`crate::consensus::Application`]).
    pub fn build(&self, parent: &Block, timestamp_ms: u64) -> Option<Block> {
        if self.halted().is_some() {
            return None;
        }
        let parent_hash = parent.hash();
        let state = self.state_after(&parent_hash)?;
        let params = system::params(&state).ok()?;
        let ctx = BlockContext {
            height: parent.height() + 1,
            timestamp_ms: timestamp_ms.max(parent.header.timestamp_ms),
            genesis_hash: self.genesis_hash(),
            parent_hash,
        };
        let candidates = self.pool().mempool.ready(
            |who: &AccountId| system::nonce(&state, who).unwrap_or(u64::MAX),
            params.max_block_txs as usize,
        );
        // Every pooled transaction passed signature verification at admission.
        let built = {
            let _timer = crate::metrics::Timer::start(&self.metrics.block_execution);
            executor::build(state, &ctx, candidates, BUILD_BUDGET)
        };
        {
            let mut pool = self.pool();
            for bad in &built.rejected {
                // Its later nonces could not execute either.
                pool.mempool.evict(bad);
            }
        }
        let block = built.executed.block.clone();
        self.forks().insert(Arc::new(built.executed));
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
        match self.execute(&parent.header, block) {
            Ok(_) => true,
            Err(reason) => {
                tracing::warn!(height = block.height(), hash = %block.hash(), %reason, "refusing block");
                false
            }
        }
    }

    /// Executes `block` on `parent` (the executor's rules in order), or returns the cached result
    /// of an earlier execution, and keeps it in the fork tree.
    fn execute(&self, parent: &Header, block: &Block) -> Result<Arc<Executed>, BlockError> {
        executor::check_body(block)?;
        let hash = block.hash();
        if let Some(done) = self.forks().executed(&hash) {
            return Ok(done);
        }
        executor::check_link(parent, block)?;
        // No clock check here: a finalized block is final whatever this node's clock says.
        let state = self
            .state_after(&parent.hash())
            .ok_or(BlockError::UnknownParent)?;
        // Transactions this node admitted to its mempool had their signatures verified then;
        // every other signature is verified here.
        let admitted: HashSet<Hash> = {
            let pool = self.pool();
            block
                .transactions
                .iter()
                .map(SignedTransaction::hash)
                .filter(|hash| pool.mempool.contains(hash))
                .collect()
        };
        let executed = {
            let _timer = crate::metrics::Timer::start(&self.metrics.block_execution);
            Arc::new(executor::execute(
                state,
                self.genesis_hash(),
                block,
                &admitted,
            )?)
        };
        self.forks().insert(executed.clone());
        Ok(executed)
    }

    /// Applies a finalized block (see [`crate::consensus::Application`]): executes it if needed,
    /// stores it durably, makes it the head and prunes forks and the mempool.
    ///
    /// Bytes that do not match their own header ([`FinalizeError::BadBody`]) are refused without
    /// consequence: the caller fetches the block again. Only a block that is well formed, extends
    /// the head and still fails to execute here halts the chain, because then this node computes
    /// differently from the validators that certified it.
    ///
    /// Callers finalize one block at a time, in height order (marshal's delivery, the follower).
    pub fn finalize(&self, block: Block, certificate: Vec<u8>) -> Result<(), FinalizeError> {
        let head = self.head_header();
        if block.height() <= head.height {
            return Err(FinalizeError::AlreadyApplied(block.height()));
        }
        if let Some(reason) = self.halted() {
            return Err(FinalizeError::Halted(reason));
        }
        if block.height() != head.height + 1 || block.header.parent != head.hash() {
            return Err(FinalizeError::NotNext {
                height: block.height(),
                head: head.height,
            });
        }
        if executor::check_body(&block).is_err() {
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
                self.set_halted(message.clone());
                return Err(FinalizeError::Halted(message));
            }
        };
        // Debug builds (every test) check the runtime's invariants after every finalized block:
        // issuance within the cap, accounts summing to issuance, nothing negative.
        #[cfg(debug_assertions)]
        if let Err(e) = phalanx_runtime::invariants::check(&executed.state) {
            let message = format!("invariant broken after block {}: {e}", block.height());
            tracing::error!("{message}");
            self.set_halted(message.clone());
            return Err(FinalizeError::Halted(message));
        }
        let height = block.height();
        let hash = block.hash();
        // 1. Durably stored, before anything can see it as the head.
        let written = {
            let mut store = self.store();
            store
                .append_parts(&block, &certificate, &executed.outcome)
                .and_then(|()| {
                    record_validator_set(&mut store, height, &executed.state).map_err(|e| match e {
                        ChainError::Store(e) => e,
                        other => StoreError::Corrupt {
                            height,
                            reason: other.to_string(),
                        },
                    })
                })
        };
        if let Err(e) = written {
            let message = format!("cannot store finalized block {height}: {e}");
            tracing::error!("{message}");
            self.set_halted(message.clone());
            return Err(FinalizeError::Halted(message));
        }
        // 2. The head and the index together (lock order: forks, then index).
        {
            let mut forks = self.forks();
            self.index().record(&block);
            forks.finalize(block.clone(), executed.state.clone());
        }
        // 3. The pool forgets what the new head made stale, after the index has the block.
        let state = &executed.state;
        {
            let mut pool = self.pool();
            pool.mempool.prune_after_block(
                block.transactions.iter().map(|tx| tx.tx.signer),
                |who| system::nonce(state, who).unwrap_or(0),
                height + 1,
            );
            pool.pruned_at = height;
        }
        if height.is_multiple_of(SNAPSHOT_EVERY) {
            if let Err(e) = self.store().write_snapshot(height, hash, &state.snapshot()) {
                tracing::warn!(error = %e, "could not write a state snapshot; the block log still has everything");
            }
        }
        self.metrics.head(
            height,
            Some(block.header.timestamp_ms.saturating_sub(head.timestamp_ms)),
        );
        // Far behind (a full node syncing, a validator restarting behind): how fast it gains.
        if let Ok(params) = system::params(state) {
            let lag_ms = (self.clock)().saturating_sub(block.header.timestamp_ms);
            let behind = crate::metrics::behind_from_timestamps(lag_ms, params.block_interval_ms);
            lock(&self.shared.catch_up).observe(height, height.saturating_add(behind));
        }
        let _ = self.heads.send(HeadInfo::of(&block));
        Ok(())
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<crate::metrics::NodeMetrics> {
        &self.metrics
    }

    /// The text of a `/metrics` scrape: the recorded metrics, with the finalized lag and the
    /// mempool read now.
    pub fn scrape_metrics(&self) -> String {
        self.metrics.scrape(|| {
            let head_ms = self.forks().head().header.timestamp_ms;
            let lag_ms = (self.clock)().saturating_sub(head_ms);
            let mempool = {
                let pool = self.pool();
                (pool.mempool.len(), pool.mempool.bytes())
            };
            (lag_ms as f64 / 1000.0, mempool)
        })
    }

    /// The validator set of `epoch` with its proof against the state that names it, if this node
    /// recorded it (it records every epoch it finalizes the boundary of).
    pub fn validator_set(&self, epoch: u64) -> Option<ValidatorSetProof> {
        self.store().validator_set(epoch).cloned()
    }

    /// Writes a snapshot of the head state (on clean shutdown), so a restart replays nothing.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let (state, head) = self.finalized();
        self.store()
            .write_snapshot(head.height, head.hash(), &state.snapshot())
    }
}

#[cfg(test)]
mod tests;
