//! The pure half of the chain: building a block from candidate transactions on a state, and
//! checking and executing a block on its parent's state.
//!
//! Nothing here takes a lock or touches the disk: each function gets a state copy (O(1), see
//! `phalanx_state`) and returns the post-state with what the block did. [`super::Chain`] decides
//! which state to start from (the finalized head or a pending fork), which transactions are
//! candidates, and where results go.
//!
//! Rules a block must pass, cheap ones first, in the order [`super::Chain`] applies them:
//! 1. its transactions match the header's `tx_root` and it fits in [`MAX_BLOCK_BYTES`]
//!    ([`check_body`]) — the execution cache is keyed by the header hash, which commits to the
//!    body only through `tx_root`, so this comes before any cache lookup;
//! 2. it names its parent, follows its height and does not go back in time ([`check_link`]);
//! 3. it executes, and the post-state root is the header's ([`execute`]).

use super::ChainError;
use parity_scale_codec::Encode;
use phalanx_primitives::block::{tx_root, MAX_BLOCK_BYTES};
use phalanx_primitives::{Block, Hash, Header, SignedTransaction};
use phalanx_runtime::system::{SignatureCheck, TxError};
use phalanx_runtime::{BlockContext, BlockOutcome};
use phalanx_state::State;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Room left in a block for its header and length prefixes when filling it.
const HEADER_ROOM: usize = 1024;

/// A block executed on its parent's state.
pub struct Executed {
    /// The block.
    pub block: Block,
    /// The state after it.
    pub state: State,
    /// Its receipts and end-of-block events.
    pub outcome: BlockOutcome,
}

// `State` has no `Debug` (it can be huge): show which block this is.
impl std::fmt::Debug for Executed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executed")
            .field("height", &self.block.height())
            .field("hash", &self.block.hash())
            .field("state_root", &self.block.header.state_root)
            .finish_non_exhaustive()
    }
}

/// Why a block was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The transactions do not hash to the header's transaction root.
    #[error("transaction root does not match the transactions")]
    TxRoot,
    /// The encoded block exceeds [`MAX_BLOCK_BYTES`].
    #[error("block is too large")]
    TooLarge,
    /// The header names another parent.
    #[error("parent hash does not match")]
    Parent,
    /// The height is not the parent's plus one.
    #[error("height {height} does not follow {parent}")]
    Height {
        /// The block's height.
        height: u64,
        /// The parent's height.
        parent: u64,
    },
    /// The timestamp is earlier than the parent's.
    #[error("timestamp goes backwards")]
    TimeGoesBack,
    /// This node has not executed the parent, so it has no state to execute on.
    #[error("parent state unknown")]
    UnknownParent,
    /// A transaction (or the block as a whole) fails a runtime rule.
    #[error("{0}")]
    Execution(TxError),
    /// The post-state root differs from the header's.
    #[error("state root {computed} does not match header {expected}")]
    StateRoot {
        /// Root computed here.
        computed: Hash,
        /// Root in the header.
        expected: Hash,
    },
}

/// The context `block` executes in on a chain with genesis `genesis_hash`.
pub fn context_of(block: &Block, genesis_hash: Hash) -> BlockContext {
    BlockContext {
        height: block.height(),
        timestamp_ms: block.header.timestamp_ms,
        genesis_hash,
        parent_hash: block.header.parent,
    }
}

/// Rule 1: the body matches its header and the block is not oversized.
pub fn check_body(block: &Block) -> Result<(), BlockError> {
    if !block.tx_root_matches() {
        return Err(BlockError::TxRoot);
    }
    if block.encoded_size() > MAX_BLOCK_BYTES {
        return Err(BlockError::TooLarge);
    }
    Ok(())
}

/// Rule 2: `block` extends `parent`.
pub fn check_link(parent: &Header, block: &Block) -> Result<(), BlockError> {
    if block.header.parent != parent.hash() {
        return Err(BlockError::Parent);
    }
    if block.height() != parent.height + 1 {
        return Err(BlockError::Height {
            height: block.height(),
            parent: parent.height,
        });
    }
    if block.header.timestamp_ms < parent.timestamp_ms {
        return Err(BlockError::TimeGoesBack);
    }
    Ok(())
}

/// Rule 3: executes `block` on `state`, its parent's state, and checks the resulting root.
/// Signatures of transactions in `verified` were checked already (at admission); every other
/// signature is verified here.
pub fn execute(
    mut state: State,
    genesis_hash: Hash,
    block: &Block,
    verified: &HashSet<Hash>,
) -> Result<Executed, BlockError> {
    let ctx = context_of(block, genesis_hash);
    check_count(&state, block)?;
    let checks = signature_checks(block, &genesis_hash, verified);
    let outcome =
        phalanx_runtime::execute_block_with(&mut state, &ctx, &block.transactions, checks)
            .map_err(BlockError::Execution)?;
    let computed = state.root();
    if computed != block.header.state_root {
        return Err(BlockError::StateRoot {
            computed,
            expected: block.header.state_root,
        });
    }
    Ok(Executed {
        block: block.clone(),
        state,
        outcome,
    })
}

/// Refuses a block with more transactions than the chain allows before any signature is
/// checked (the runtime refuses it too, but only after the signatures were paid for).
fn check_count(state: &State, block: &Block) -> Result<(), BlockError> {
    let params = phalanx_runtime::system::params(state)
        .map_err(|e| BlockError::Execution(TxError::from(e)))?;
    if block.transactions.len() > params.max_block_txs as usize {
        return Err(BlockError::Execution(TxError::TooManyTransactions(
            params.max_block_txs,
        )));
    }
    Ok(())
}

/// The signature check each of `block`'s transactions still needs. Known good (each hashed
/// once here): those in `verified`
/// (checked at admission) and those the parallel batches pass now, up to the first failing
/// batch (one bad signature refuses the whole block, so a block full of them costs one failed
/// batch a core). A transaction left out is checked again, alone, as it executes, and refused
/// there if its signature is bad: the same verdict (the single and batch checks agree by
/// construction).
fn signature_checks(
    block: &Block,
    genesis: &Hash,
    verified: &HashSet<Hash>,
) -> impl Fn(&SignedTransaction) -> SignatureCheck {
    let mut checked = HashSet::with_capacity(block.transactions.len());
    let mut unknown = Vec::new();
    let mut unknown_hashes = Vec::new();
    for tx in &block.transactions {
        let hash = tx.hash();
        if verified.contains(&hash) {
            checked.insert(hash);
        } else {
            unknown.push(tx);
            unknown_hashes.push(hash);
        }
    }
    let verdicts =
        super::admission::verify_refs(&unknown, genesis, super::admission::Verdicts::UntilFailure);
    checked.extend(
        unknown_hashes
            .into_iter()
            .zip(verdicts)
            .filter_map(|(hash, valid)| valid.then_some(hash)),
    );
    move |tx| {
        if checked.contains(&tx.hash()) {
            SignatureCheck::AlreadyVerified
        } else {
            SignatureCheck::Verify
        }
    }
}

/// Re-executes a stored (finalized) block on `state` in place, verifying every signature (in
/// parallel batches), and checks the root against its header.
pub fn replay(state: &mut State, genesis_hash: Hash, block: &Block) -> Result<(), ChainError> {
    let height = block.height();
    let ctx = context_of(block, genesis_hash);
    let checks = signature_checks(block, &genesis_hash, &HashSet::new());
    phalanx_runtime::execute_block_with(state, &ctx, &block.transactions, checks)
        .map_err(|error| ChainError::Replay { height, error })?;
    let computed = state.root();
    if computed != block.header.state_root {
        return Err(ChainError::RootMismatch {
            height,
            computed,
            expected: block.header.state_root,
        });
    }
    Ok(())
}

/// A block built by [`build`], with the candidates that failed to execute.
#[derive(Debug)]
pub struct Built {
    /// The block, its post-state and outcome.
    pub executed: Executed,
    /// Candidates that failed to execute (their senders' later nonces cannot execute either).
    pub rejected: Vec<Hash>,
}

/// Builds the block after `parent` at `ctx` on `state` (the parent's state) from `candidates`,
/// in their order, every one of them with its signature already verified (at admission).
///
/// Stops before the block would outgrow [`MAX_BLOCK_BYTES`] or once executing has taken
/// `budget` (wall time: the only input that is not in the arguments, and it only decides how
/// much goes in; whatever is built, other validators re-execute it deterministically).
pub fn build(
    mut state: State,
    ctx: &BlockContext,
    candidates: Vec<SignedTransaction>,
    budget: Duration,
) -> Built {
    phalanx_runtime::begin_block(&mut state, ctx);
    let mut included = Vec::with_capacity(candidates.len());
    let mut receipts = Vec::with_capacity(candidates.len());
    let mut rejected = Vec::new();
    let mut size = 0usize;
    let started = Instant::now();
    for tx in candidates {
        let tx_size = tx.encoded_size();
        if size + tx_size + HEADER_ROOM > MAX_BLOCK_BYTES || started.elapsed() > budget {
            break;
        }
        match phalanx_runtime::apply_transaction_with(
            &mut state,
            ctx,
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
    let block_events = phalanx_runtime::end_block(&mut state, ctx);
    let header = Header {
        parent: ctx.parent_hash,
        height: ctx.height,
        timestamp_ms: ctx.timestamp_ms,
        tx_root: tx_root(&included),
        state_root: state.root(),
    };
    Built {
        executed: Executed {
            block: Block {
                header,
                transactions: included,
            },
            state,
            outcome: BlockOutcome {
                receipts,
                block_events,
            },
        },
        rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phalanx_primitives::call::{BalancesCall, Call};
    use phalanx_primitives::{Keypair, Transaction, PHA};
    use phalanx_runtime::GenesisConfig;

    const T0: u64 = 1_700_000_000_000;

    fn genesis() -> (Block, State) {
        let validator = hex::encode(Keypair::dev("validator").account().0);
        phalanx_runtime::genesis_block(&GenesisConfig::dev(vec![validator], T0)).expect("genesis")
    }

    fn transfer(genesis: &Block, nonce: u64) -> SignedTransaction {
        let key = Keypair::dev("alice");
        Transaction {
            signer: key.account(),
            nonce,
            fee: PHA / 100,
            expires_at: 50,
            call: Call::Balances(BalancesCall::Transfer {
                to: Keypair::dev("bob").account(),
                amount: PHA,
            }),
        }
        .sign(&key, &genesis.hash())
    }

    fn context_after(parent: &Block) -> BlockContext {
        BlockContext {
            height: parent.height() + 1,
            timestamp_ms: parent.header.timestamp_ms + 500,
            genesis_hash: parent.hash(),
            parent_hash: parent.hash(),
        }
    }

    #[test]
    fn a_built_block_executes_to_the_same_state_and_leaves_the_parent_state_alone() {
        let (genesis, mut state) = genesis();
        let parent_root = state.root();
        let candidates = vec![transfer(&genesis, 0), transfer(&genesis, 5)];
        let built = build(
            state.clone(),
            &context_after(&genesis),
            candidates.clone(),
            Duration::from_secs(60),
        );
        // Nonce 5 does not follow nonce 0: left out and reported.
        assert_eq!(
            built.executed.block.transactions,
            vec![candidates[0].clone()]
        );
        assert_eq!(built.rejected, vec![candidates[1].hash()]);
        assert_eq!(state.root(), parent_root);

        let block = built.executed.block;
        assert_eq!(check_body(&block), Ok(()));
        assert_eq!(check_link(&genesis.header, &block), Ok(()));
        let mut executed =
            execute(state, genesis.hash(), &block, &HashSet::new()).expect("executes");
        assert_eq!(executed.state.root(), block.header.state_root);
        assert_eq!(executed.outcome, built.executed.outcome);
    }

    #[test]
    fn each_rule_refuses_with_its_own_error() {
        let (genesis, state) = genesis();
        let good = build(
            state.clone(),
            &context_after(&genesis),
            vec![transfer(&genesis, 0)],
            Duration::from_secs(60),
        )
        .executed
        .block;

        let mut body = good.clone();
        body.transactions.clear();
        assert_eq!(check_body(&body), Err(BlockError::TxRoot));

        let mut orphan = good.clone();
        orphan.header.parent = Hash([7; 32]);
        assert_eq!(
            check_link(&genesis.header, &orphan),
            Err(BlockError::Parent)
        );

        let mut skipped = good.clone();
        skipped.header.height = 2;
        assert_eq!(
            check_link(&genesis.header, &skipped),
            Err(BlockError::Height {
                height: 2,
                parent: 0
            })
        );

        let mut early = good.clone();
        early.header.timestamp_ms = T0 - 1;
        assert_eq!(
            check_link(&genesis.header, &early),
            Err(BlockError::TimeGoesBack)
        );

        let mut lying = good.clone();
        lying.header.state_root = Hash([9; 32]);
        assert_eq!(
            execute(state.clone(), genesis.hash(), &lying, &HashSet::new()).err(),
            Some(BlockError::StateRoot {
                computed: good.header.state_root,
                expected: Hash([9; 32]),
            })
        );

        let mut replayed = state;
        assert!(matches!(
            replay(&mut replayed, genesis.hash(), &lying),
            Err(ChainError::RootMismatch { height: 1, .. })
        ));
    }
}
