//! Test doubles and helpers shared by the runtime's unit tests, and [`TestChain`], the driver
//! every module's tests run a chain on.

use crate::module::ErrorCode;
use crate::{genesis, BlockContext, DispatchError, Event, GenesisConfig, Receipt};
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{AccountId, Hash, Keypair, SignedTransaction, Transaction, PHA};
use phalanx_state::State;
use std::collections::HashMap;

/// The consensus key of the one validator of test chains, hex (a real key: genesis refuses
/// invalid and small-order keys).
pub fn validator_hex() -> String {
    hex::encode(key("validator").account().0)
}

/// The genesis state of `config` and the context of block 1.
pub fn chain_of(config: &GenesisConfig) -> (State, BlockContext) {
    let (block, state) = crate::genesis_block(config).expect("genesis builds");
    let ctx = BlockContext {
        height: 1,
        timestamp_ms: config.timestamp_ms + 1_000,
        genesis_hash: block.hash(),
        parent_hash: block.hash(),
    };
    (state, ctx)
}

/// The dev genesis config of test chains.
pub fn dev_config() -> GenesisConfig {
    GenesisConfig::dev(vec![validator_hex()], 1_700_000_000_000)
}

/// A dev genesis state and the context of block 1.
pub fn dev_chain() -> (State, BlockContext) {
    let _ = genesis::mining_pot();
    chain_of(&dev_config())
}

/// The dev key called `name`.
pub fn key(name: &str) -> Keypair {
    Keypair::dev(name)
}

/// A transfer call to the dev account `name`.
pub fn transfer_to(name: &str, amount: u128) -> Call {
    Call::Balances(BalancesCall::Transfer {
        to: key(name).account(),
        amount,
    })
}

/// `call` signed by `signer` with `nonce`, a generous fee, and an expiry 100 blocks ahead.
pub fn signed(signer: &Keypair, nonce: u64, call: Call, ctx: &BlockContext) -> SignedTransaction {
    Transaction {
        signer: signer.account(),
        nonce,
        fee: PHA / 10,
        expires_at: ctx.height + 100,
        call,
    }
    .sign(signer, &ctx.genesis_hash)
}

/// The code a receipt records when a call fails with `error`.
pub fn code(error: impl Into<DispatchError>) -> ErrorCode {
    error.into().code()
}

/// The stand-in hash [`TestChain`] gives block `height` (the parent hash of block `height + 1`).
pub fn block_hash(height: u64) -> Hash {
    Hash::of_parts(&[b"block ", &height.to_be_bytes()])
}

/// Panics with the broken invariant, if any.
pub fn check_invariants(state: &State) {
    if let Err(e) = crate::invariants::check(state) {
        panic!("invariant broken: {e}");
    }
}

/// A chain driven block by block, the way module tests use it: transactions are applied to an
/// open block ([`apply`](TestChain::apply)), [`end_block`](TestChain::end_block) runs the
/// end-of-block hooks, checks every module's invariants and opens the next block. Each block
/// gets a stand-in hash (its parent hash in the next block), so recent block hashes are
/// realistic state ([`block_hash`]).
pub struct TestChain {
    /// The state, as of the open block.
    pub state: State,
    /// The open block.
    pub ctx: BlockContext,
    /// Every end-of-block event so far, in order.
    pub block_events: Vec<Event>,
    /// Whether the open block's begin hooks ran.
    begun: bool,
    /// Next nonces handed out by [`TestChain::tx`], ahead of the state for transactions built
    /// but not applied yet.
    nonces: HashMap<AccountId, u64>,
}

impl TestChain {
    /// A dev chain (alice … ferdie funded, alice root) at block 1.
    pub fn new() -> TestChain {
        TestChain::with_config(&dev_config())
    }

    /// A chain from `config`'s genesis, at block 1.
    pub fn with_config(config: &GenesisConfig) -> TestChain {
        let (state, ctx) = chain_of(config);
        TestChain {
            state,
            ctx,
            block_events: Vec::new(),
            begun: false,
            nonces: HashMap::new(),
        }
    }

    /// The current height (of the open block).
    pub fn height(&self) -> u64 {
        self.ctx.height
    }

    /// `call` signed by `signer` with its next nonce (counting transactions built but not yet
    /// applied).
    pub fn tx(&mut self, signer: &Keypair, call: Call) -> SignedTransaction {
        let from_state = crate::system::nonce(&self.state, &signer.account()).expect("nonce");
        let nonce = self.nonces.entry(signer.account()).or_insert(from_state);
        *nonce = (*nonce).max(from_state);
        let tx = signed(signer, *nonce, call, &self.ctx);
        *nonce += 1;
        tx
    }

    /// Runs the open block's begin hooks (recording its parent's hash), once. [`apply`] and
    /// [`end_block`] do it themselves; call it first only to read or copy the state as the
    /// block's transactions will see it.
    ///
    /// [`apply`]: TestChain::apply
    /// [`end_block`]: TestChain::end_block
    pub fn begin(&mut self) {
        if !self.begun {
            crate::begin_block(&mut self.state, &self.ctx);
            self.begun = true;
        }
    }

    /// Applies `call` from `signer` in the open block; panics if its envelope is invalid.
    pub fn apply(&mut self, signer: &Keypair, call: Call) -> Receipt {
        let tx = self.tx(signer, call);
        self.apply_tx(&tx)
    }

    /// Applies a built transaction in the open block; panics if its envelope is invalid.
    pub fn apply_tx(&mut self, tx: &SignedTransaction) -> Receipt {
        self.begin();
        crate::apply_transaction(&mut self.state, &self.ctx, tx).expect("valid envelope")
    }

    /// Ends the open block: end-of-block hooks, every invariant, then opens the next block.
    /// Returns the hooks' events.
    pub fn end_block(&mut self) -> Vec<Event> {
        self.begin();
        let events = crate::end_block(&mut self.state, &self.ctx);
        check_invariants(&self.state);
        self.block_events.extend(events.iter().cloned());
        self.ctx.parent_hash = block_hash(self.ctx.height);
        self.ctx.height += 1;
        self.ctx.timestamp_ms += 1_000;
        self.begun = false;
        events
    }

    /// Ends `n` blocks.
    pub fn run_blocks(&mut self, n: u64) {
        for _ in 0..n {
            self.end_block();
        }
    }

    /// Ends blocks until block `height` has ended (the open block is then `height + 1`).
    pub fn run_until(&mut self, height: u64) {
        while self.ctx.height <= height {
            self.end_block();
        }
    }

    /// Executes a whole block of `txs` (the open block must be untouched), the way
    /// [`crate::execute_block`] does; returns the receipts.
    pub fn block(&mut self, txs: Vec<SignedTransaction>) -> Vec<Receipt> {
        assert!(!self.begun, "the open block already has transactions");
        let receipts = txs.iter().map(|tx| self.apply_tx(tx)).collect();
        self.end_block();
        receipts
    }

    /// `call` from `signer` as a block of its own; returns its receipt.
    pub fn call(&mut self, signer: &Keypair, call: Call) -> Receipt {
        let tx = self.tx(signer, call);
        self.block(vec![tx]).remove(0)
    }
}
