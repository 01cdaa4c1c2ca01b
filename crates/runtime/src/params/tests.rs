//! Every bound refused one step outside and accepted on the boundary; the defaults inside.

use super::*;
use crate::testing::*;
use parity_scale_codec::Encode;
use phalanx_primitives::call::{Call, PrivilegedCall, RootCall};

fn out_of_bounds(param: Param, value: u128, min: u128, max: u128) -> Result {
    Err(ParamsError::OutOfBounds {
        param,
        value,
        min,
        max,
    })
}

/// Checks `edit(default, value)` at `min - 1` (if any), `min`, `max` and `max + 1`.
fn check_both_ends<P: Default>(
    check: fn(&P) -> Result,
    param: Param,
    min: u128,
    max: u128,
    edit: impl Fn(&mut P, u128),
) {
    let with = |value: u128| {
        let mut params = P::default();
        edit(&mut params, value);
        check(&params)
    };
    assert_eq!(with(min), Ok(()), "{param} at its minimum");
    assert_eq!(with(max), Ok(()), "{param} at its maximum");
    if min > 0 {
        assert_eq!(
            with(min - 1),
            out_of_bounds(param, min - 1, min, max),
            "{param} below its minimum"
        );
    }
    assert_eq!(
        with(max + 1),
        out_of_bounds(param, max + 1, min, max),
        "{param} above its maximum"
    );
}

#[test]
fn defaults_and_the_dev_genesis_are_within_bounds() {
    assert_eq!(check_chain(&ChainParams::default()), Ok(()));
    assert_eq!(check_governance(&GovernanceParams::default()), Ok(()));
    let dev = crate::GenesisConfig::dev(vec![validator_hex()], 0);
    assert_eq!(check_chain(&dev.chain_params), Ok(()));
    assert_eq!(check_governance(&dev.governance), Ok(()));
}

#[test]
fn the_bounds_have_the_documented_values() {
    assert_eq!(MIN_BLOCK_TXS, 100);
    assert_eq!(MAX_BLOCK_TXS, 65_536);
    assert_eq!(MIN_TX_BYTES, 32_768);
    assert_eq!(MAX_TX_BYTES, 1_048_576);
    assert_eq!(MIN_TX_FEE, 10_000_000);
    assert_eq!(MAX_BASE_FEE, 10 * PHA);
    assert_eq!(MAX_BYTE_FEE, 1_000_000_000);
    assert_eq!(MIN_EXPIRY_BLOCKS, 600);
    assert_eq!(MAX_EXPIRY_BLOCKS, 1_209_600);
    assert_eq!(MIN_DCAP_VERIFICATION_FEE, PHA / 1_000);
    assert_eq!(MAX_DCAP_VERIFICATION_FEE, 100 * PHA);
    assert_eq!(MIN_VOTING_PERIOD, 10);
    assert_eq!(MAX_VOTING_PERIOD, 5_184_000);
    assert_eq!(MAX_ENACTMENT_DELAY, 5_184_000);
    assert_eq!(MIN_PROPOSAL_DEPOSIT, PHA);
    assert_eq!(MAX_PROPOSAL_DEPOSIT, 100_000 * PHA);
    assert_eq!(MAX_MIN_TURNOUT, 50_000_000 * PHA);
    assert_eq!(MAX_VALIDATORS, 128);
}

#[test]
fn no_transaction_is_shorter_than_the_smallest_the_fee_floor_assumes() {
    // The shortest call there is: a root dispatch of a one-byte privileged call.
    let smallest = TestChain::new().tx(
        &key("alice"),
        Call::Root(RootCall::Dispatch(PrivilegedCall::SetRegistrationFrozen(
            false,
        ))),
    );
    assert_eq!(smallest.encode().len(), SMALLEST_TX_BYTES + 4);
}

#[test]
fn each_chain_parameter_is_refused_outside_its_bounds() {
    check_both_ends(check_chain, Param::BaseFee, 0, MAX_BASE_FEE, |p, v| {
        p.base_fee = v
    });
    check_both_ends(check_chain, Param::ByteFee, 0, MAX_BYTE_FEE, |p, v| {
        p.byte_fee = v
    });
    check_both_ends(
        check_chain,
        Param::MaxTxBytes,
        MIN_TX_BYTES.into(),
        MAX_TX_BYTES.into(),
        |p, v| p.max_tx_bytes = v as u32,
    );
    check_both_ends(
        check_chain,
        Param::MaxBlockTxs,
        MIN_BLOCK_TXS.into(),
        MAX_BLOCK_TXS.into(),
        |p, v| p.max_block_txs = v as u32,
    );
    check_both_ends(
        check_chain,
        Param::BlockIntervalMs,
        MIN_BLOCK_INTERVAL_MS.into(),
        MAX_BLOCK_INTERVAL_MS.into(),
        |p, v| p.block_interval_ms = v as u64,
    );
    check_both_ends(
        check_chain,
        Param::MaxExpiryBlocks,
        MIN_EXPIRY_BLOCKS.into(),
        MAX_EXPIRY_BLOCKS.into(),
        |p, v| p.max_expiry_blocks = v as u64,
    );
    check_both_ends(
        check_chain,
        Param::DcapVerificationFee,
        MIN_DCAP_VERIFICATION_FEE,
        MAX_DCAP_VERIFICATION_FEE,
        |p, v| p.dcap_verification_fee = v,
    );
    // The vote that would have bricked the chain.
    let zero = ChainParams {
        max_block_txs: 0,
        ..ChainParams::default()
    };
    assert_eq!(
        check_chain(&zero),
        out_of_bounds(
            Param::MaxBlockTxs,
            0,
            MIN_BLOCK_TXS.into(),
            MAX_BLOCK_TXS.into()
        )
    );
}

#[test]
fn free_transactions_are_refused_whatever_the_split_of_the_fee() {
    let fees = |base_fee, byte_fee| {
        check_chain(&ChainParams {
            base_fee,
            byte_fee,
            ..ChainParams::default()
        })
    };
    let most = MAX_BASE_FEE + MAX_BYTE_FEE * 128;
    // All of the floor in the byte fee: 128 × 78,125 = 10,000,000 units.
    assert_eq!(fees(0, MIN_TX_FEE / 128), Ok(()));
    assert_eq!(
        fees(0, MIN_TX_FEE / 128 - 1),
        out_of_bounds(Param::SmallestTxFee, MIN_TX_FEE - 128, MIN_TX_FEE, most)
    );
    // All of it in the base fee.
    assert_eq!(fees(MIN_TX_FEE, 0), Ok(()));
    assert_eq!(
        fees(MIN_TX_FEE - 1, 0),
        out_of_bounds(Param::SmallestTxFee, MIN_TX_FEE - 1, MIN_TX_FEE, most)
    );
    assert_eq!(
        fees(0, 0),
        out_of_bounds(Param::SmallestTxFee, 0, MIN_TX_FEE, most)
    );
    // Both at their maximum is allowed: a vote then costs about 10.2 PHA.
    assert_eq!(fees(MAX_BASE_FEE, MAX_BYTE_FEE), Ok(()));
}

#[test]
fn each_governance_parameter_is_refused_outside_its_bounds() {
    check_both_ends(
        check_governance,
        Param::VotingPeriod,
        MIN_VOTING_PERIOD.into(),
        MAX_VOTING_PERIOD.into(),
        |p, v| p.voting_period = v as u64,
    );
    check_both_ends(
        check_governance,
        Param::EnactmentDelay,
        0,
        MAX_ENACTMENT_DELAY.into(),
        |p, v| p.enactment_delay = v as u64,
    );
    check_both_ends(
        check_governance,
        Param::ProposalDeposit,
        MIN_PROPOSAL_DEPOSIT,
        MAX_PROPOSAL_DEPOSIT,
        |p, v| p.proposal_deposit = v,
    );
    check_both_ends(
        check_governance,
        Param::MinTurnout,
        0,
        MAX_MIN_TURNOUT,
        |p, v| p.min_turnout = v,
    );
}

#[test]
fn the_error_names_the_parameter_and_its_bounds() {
    let error = check_governance(&GovernanceParams {
        voting_period: 0,
        ..GovernanceParams::default()
    })
    .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "voting_period = 0 is outside its bounds 10..=5184000; propose a value inside them"
    );
}

#[test]
fn the_dev_root_cannot_set_an_out_of_bounds_value_either() {
    let mut chain = TestChain::new();
    let before = crate::system::params(&chain.state).expect("params");
    let call = Call::Root(RootCall::Dispatch(PrivilegedCall::SetChainParams(
        ChainParams {
            max_tx_bytes: 100,
            ..before.clone()
        },
    )));
    let receipt = chain.apply(&key("alice"), call);
    let expected = ParamsError::OutOfBounds {
        param: Param::MaxTxBytes,
        value: 100,
        min: MIN_TX_BYTES.into(),
        max: MAX_TX_BYTES.into(),
    };
    assert_eq!(receipt.error, Some(code(expected)));
    assert_eq!(crate::system::params(&chain.state).expect("params"), before);

    // A bad governance parameter inside a batch rolls the good one before it back too.
    let batch = Call::Root(RootCall::Dispatch(PrivilegedCall::Batch(vec![
        PrivilegedCall::SetChainParams(ChainParams {
            base_fee: 5 * PHA,
            ..before.clone()
        }),
        PrivilegedCall::SetGovernanceParams(GovernanceParams {
            proposal_deposit: 0,
            ..GovernanceParams::default()
        }),
    ])));
    let receipt = chain.apply(&key("alice"), batch);
    assert!(
        receipt
            .error
            .as_ref()
            .is_some_and(|e| e.to_string() == "params.proposal_deposit_out_of_bounds"),
        "{receipt:?}"
    );
    assert_eq!(crate::system::params(&chain.state).expect("params"), before);
    chain.end_block();
}
