//! Test doubles and helpers shared by the runtime's unit tests.

use crate::{genesis, BlockContext, GenesisConfig};
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::{Keypair, SignedTransaction, Transaction, PHA};
use phalanx_state::State;

/// The consensus key of the one validator of test chains, hex (a real key: genesis refuses
/// invalid and small-order keys).
pub fn validator_hex() -> String {
    hex::encode(key("validator").account().0)
}

/// A dev genesis state and the context of block 1.
pub fn dev_chain() -> (State, BlockContext) {
    let config = GenesisConfig::dev(vec![validator_hex()], 1_700_000_000_000);
    let (block, state) = crate::genesis_block(&config).expect("dev genesis builds");
    let ctx = BlockContext {
        height: 1,
        timestamp_ms: config.timestamp_ms + 1_000,
        genesis_hash: block.hash(),
        parent_hash: block.hash(),
    };
    let _ = genesis::mining_pot();
    (state, ctx)
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

/// Panics with the broken invariant, if any.
pub fn check_invariants(state: &State) {
    if let Err(e) = crate::invariants::check(state) {
        panic!("invariant broken: {e}");
    }
}
