use super::*;
use crate::params::{Param, ParamsError, MIN_BLOCK_TXS};
use crate::testing::*;
use crate::{execute_block, system, BlockContext, DispatchError, Receipt};
use phalanx_primitives::call::{Call, ChainParams};
use phalanx_primitives::{Keypair, PHA};

/// Governance's tests run on the shared driver, which checks invariants after every block.
type Chain = TestChain;

/// Governance steps on the shared driver.
impl TestChain {
    fn propose(&mut self, who: &Keypair, calls: Vec<PrivilegedCall>) -> u32 {
        let receipt = self.call(
            who,
            Call::Governance(GovernanceCall::Propose {
                calls,
                description: b"test".to_vec(),
            }),
        );
        assert_eq!(receipt.error, None);
        receipt
            .events
            .iter()
            .find_map(|e| match e {
                Event::Proposed { proposal, .. } => Some(*proposal),
                _ => None,
            })
            .expect("proposed event")
    }

    fn vote(&mut self, who: &Keypair, proposal: u32, aye: bool, amount: Balance) -> Receipt {
        self.call(
            who,
            Call::Governance(GovernanceCall::Vote {
                proposal,
                aye,
                amount,
            }),
        )
    }

    fn proposal(&self, id: u32) -> Proposal {
        proposal(&self.state, id)
            .expect("readable")
            .expect("exists")
    }

    fn free(&self, who: &Keypair) -> Balance {
        balances::account(&self.state, &who.account())
            .expect("balance")
            .free
    }

    fn locked(&self, who: &Keypair) -> Balance {
        balances::account(&self.state, &who.account())
            .expect("balance")
            .locked
    }

    /// Runs until the proposal has been tallied and (if passed) enacted.
    fn finish(&mut self, id: u32) -> Proposal {
        let ends = self.proposal(id).voting_ends_at;
        let delay = params(&self.state).expect("params").enactment_delay;
        self.run_until(ends + delay);
        self.proposal(id)
    }
}

fn set_base_fee(fee: Balance) -> PrivilegedCall {
    PrivilegedCall::SetChainParams(ChainParams {
        base_fee: fee,
        ..ChainParams::default()
    })
}

#[test]
fn exactly_half_fails_and_one_unit_more_passes() {
    assert!(!passes(10, 10, 0));
    assert!(passes(11, 10, 0));
    assert!(!passes(0, 0, 0), "no votes cannot pass");
    assert!(!passes(11, 10, 22), "turnout below minimum");

    let mut chain = Chain::new();
    let (alice, bob) = (key("alice"), key("bob"));
    let tie = chain.propose(&alice, vec![set_base_fee(1)]);
    chain.vote(&alice, tie, true, 1_000 * PHA);
    chain.vote(&bob, tie, false, 1_000 * PHA);
    let more = chain.propose(&alice, vec![set_base_fee(2)]);
    chain.vote(&alice, more, true, 1_000 * PHA + 1);
    chain.vote(&bob, more, false, 1_000 * PHA);
    assert_eq!(chain.finish(tie).status, ProposalStatus::Rejected);
    assert_eq!(
        chain.finish(more).status,
        ProposalStatus::Enacted { error: None }
    );
    assert_eq!(
        crate::system::params(&chain.state)
            .expect("params")
            .base_fee,
        2
    );
}

#[test]
fn votes_can_change_and_withdraw_while_open() {
    let mut chain = Chain::new();
    let (alice, bob) = (key("alice"), key("bob"));
    let id = chain.propose(&alice, vec![set_base_fee(3)]);
    let free_before = chain.free(&bob);
    chain.vote(&bob, id, true, 500 * PHA);
    assert_eq!(chain.locked(&bob), 500 * PHA);
    // Change: nay with a different amount replaces the aye.
    chain.vote(&bob, id, false, 200 * PHA);
    let p = chain.proposal(id);
    assert_eq!((p.aye, p.nay, p.voters), (0, 200 * PHA, 1));
    assert_eq!(chain.locked(&bob), 200 * PHA);
    let receipt = chain.call(
        &bob,
        Call::Governance(GovernanceCall::Unvote { proposal: id }),
    );
    assert_eq!(receipt.error, None);
    assert_eq!(chain.locked(&bob), 0);
    let p = chain.proposal(id);
    assert_eq!((p.aye, p.nay, p.voters), (0, 0, 0));
    // Only fees were spent.
    assert_eq!(chain.free(&bob), free_before - 3 * (PHA / 10));
    let receipt = chain.call(
        &bob,
        Call::Governance(GovernanceCall::Unvote { proposal: id }),
    );
    assert_eq!(receipt.error, Some(code(GovernanceError::NoVote(id))));
}

#[test]
fn locks_and_deposit_are_released_when_voting_ends() {
    let mut chain = Chain::new();
    let (alice, bob, charlie) = (key("alice"), key("bob"), key("charlie"));
    let id = chain.propose(&alice, vec![set_base_fee(4)]);
    let deposit = chain.proposal(id).deposit;
    assert_eq!(
        balances::account(&chain.state, &alice.account())
            .expect("a")
            .reserved,
        deposit
    );
    chain.vote(&bob, id, true, 300 * PHA);
    chain.vote(&charlie, id, false, 100 * PHA);
    let ends = chain.proposal(id).voting_ends_at;
    chain.run_until(ends - 1);
    assert_eq!(chain.locked(&bob), 300 * PHA, "still locked while open");
    chain.run_until(ends);
    assert_eq!(chain.locked(&bob), 0);
    assert_eq!(chain.locked(&charlie), 0);
    assert_eq!(
        balances::account(&chain.state, &alice.account())
            .expect("a")
            .reserved,
        0
    );
    assert!(matches!(
        chain.proposal(id).status,
        ProposalStatus::Passed { .. }
    ));
    assert!(vote(&chain.state, id, &bob.account())
        .expect("readable")
        .is_none());
}

#[test]
fn passed_proposals_take_effect_validators_treasury_and_governance_params() {
    let mut chain = Chain::new();
    let (alice, dave) = (key("alice"), key("dave"));
    // Fill the treasury a little through fees first, then spend part of it.
    chain.block(vec![]);
    let treasury_before = treasury::balance(&chain.state).expect("treasury");
    let new_validators: Vec<[u8; 32]> = ["v1", "v2", "v3"]
        .iter()
        .map(|n| key(n).account().0)
        .collect();
    let new_params = GovernanceParams {
        voting_period: 10,
        enactment_delay: 1,
        proposal_deposit: 5 * PHA,
        min_turnout: 0,
    };
    let id = chain.propose(
        &alice,
        vec![
            PrivilegedCall::SetValidators(new_validators.clone()),
            PrivilegedCall::TreasurySpend {
                to: dave.account(),
                amount: PHA / 10,
            },
            PrivilegedCall::SetGovernanceParams(new_params.clone()),
        ],
    );
    chain.vote(&alice, id, true, 10 * PHA);
    let dave_before = chain.free(&dave);
    let treasury_at_vote = treasury::balance(&chain.state).expect("treasury");
    assert!(treasury_at_vote > treasury_before);
    let p = chain.finish(id);
    assert_eq!(p.status, ProposalStatus::Enacted { error: None });
    // The new set is scheduled; it takes over at the next epoch boundary.
    assert_eq!(
        crate::system::pending_validators(&chain.state).expect("validators"),
        Some(new_validators)
    );
    assert_eq!(chain.free(&dave), dave_before + PHA / 10);
    assert_eq!(params(&chain.state).expect("params"), new_params);
    assert!(chain
        .block_events
        .iter()
        .any(|e| matches!(e, Event::TreasurySpent { .. })));
    assert!(chain
        .block_events
        .contains(&Event::ValidatorsChanged { count: 3 }));
    // New proposals use the new periods.
    let next = chain.propose(&alice, vec![set_base_fee(9)]);
    let p = chain.proposal(next);
    assert_eq!(p.voting_ends_at - p.submitted_at, 10);
    assert_eq!(p.deposit, 5 * PHA);
}

#[test]
fn a_failing_call_rolls_back_the_whole_batch_and_records_the_error() {
    let mut chain = Chain::new();
    let alice = key("alice");
    let too_much = treasury::balance(&chain.state).expect("treasury") + 1_000_000 * PHA;
    let id = chain.propose(
        &alice,
        vec![
            set_base_fee(77),
            PrivilegedCall::TreasurySpend {
                to: alice.account(),
                amount: too_much,
            },
        ],
    );
    chain.vote(&alice, id, true, PHA);
    let p = chain.finish(id);
    match p.status {
        ProposalStatus::Enacted { error: Some(error) } => {
            assert_eq!(error.to_string(), "treasury.insufficient_funds")
        }
        other => panic!("expected a recorded failure, got {other:?}"),
    }
    assert_ne!(
        crate::system::params(&chain.state)
            .expect("params")
            .base_fee,
        77,
        "first call rolled back"
    );
    // The enacting block reports the failure alone: no event of the rolled-back call.
    assert!(chain.block_events.iter().any(
        |e| matches!(e, Event::ProposalEnacted { proposal, error: Some(_) } if *proposal == id)
    ));
    assert!(!chain.block_events.contains(&Event::ChainParamsChanged));
    // Every checkpoint the enactment opened was closed: the state journals nothing.
    assert!(!chain.state.journaling());
}

#[test]
fn a_rejected_proposal_changes_nothing() {
    let mut chain = Chain::new();
    let (alice, bob) = (key("alice"), key("bob"));
    let before = crate::system::params(&chain.state).expect("params");
    let id = chain.propose(&alice, vec![set_base_fee(123)]);
    chain.vote(&bob, id, false, PHA);
    assert_eq!(chain.finish(id).status, ProposalStatus::Rejected);
    chain.run_until(chain.ctx.height + 10);
    assert_eq!(crate::system::params(&chain.state).expect("params"), before);
}

#[test]
fn bad_votes_and_proposals_are_refused_and_lose_nothing() {
    let mut chain = Chain::new();
    let (alice, bob) = (key("alice"), key("bob"));
    let id = chain.propose(&alice, vec![set_base_fee(5)]);
    let bob_free = chain.free(&bob);

    // More than you hold.
    let r = chain.vote(&bob, id, true, bob_free * 2);
    assert!(
        r.error
            .as_ref()
            .is_some_and(|e| e.to_string() == "balances.cannot_vote"),
        "{r:?}"
    );
    // The same PHA twice: after locking almost everything, a second proposal cannot reuse it.
    let other = chain.propose(&alice, vec![set_base_fee(6)]);
    let bob_free = chain.free(&bob);
    assert_eq!(chain.vote(&bob, id, true, bob_free - PHA).error, None);
    let r = chain.vote(&bob, other, true, bob_free - PHA);
    assert!(
        r.error
            .as_ref()
            .is_some_and(|e| e.to_string() == "balances.cannot_vote"),
        "{r:?}"
    );
    // Zero, unknown proposal.
    assert_eq!(
        chain.vote(&bob, id, true, 0).error,
        Some(code(GovernanceError::ZeroVote))
    );
    assert_eq!(
        chain.vote(&bob, 999, true, 1).error,
        Some(code(GovernanceError::UnknownProposal(999)))
    );
    // After the end.
    let ends = chain.proposal(id).voting_ends_at;
    chain.run_until(ends);
    assert_eq!(
        chain.vote(&alice, id, true, PHA).error,
        Some(code(GovernanceError::VotingClosed(id)))
    );
    // Proposing without the deposit.
    let pauper = Keypair::from_secret([9; 32]);
    let fee_money = PHA;
    let r = chain.call(&alice, crate::testing::transfer_to("alice", 1));
    assert_eq!(r.error, None);
    let tx = chain.tx(
        &alice,
        Call::Balances(phalanx_primitives::call::BalancesCall::Transfer {
            to: pauper.account(),
            amount: fee_money,
        }),
    );
    chain.block(vec![tx]);
    let r = chain.call(
        &pauper,
        Call::Governance(GovernanceCall::Propose {
            calls: vec![set_base_fee(1)],
            description: vec![],
        }),
    );
    assert!(
        r.error
            .as_ref()
            .is_some_and(|e| e.to_string() == "governance.insufficient_free"),
        "{r:?}"
    );
    assert_eq!(
        balances::account(&chain.state, &pauper.account())
            .expect("p")
            .reserved,
        0
    );
    // Empty and invalid proposals.
    let r = chain.call(
        &alice,
        Call::Governance(GovernanceCall::Propose {
            calls: vec![],
            description: vec![],
        }),
    );
    assert_eq!(r.error, Some(code(GovernanceError::NoCalls)));
    let r = chain.call(
        &alice,
        Call::Governance(GovernanceCall::Propose {
            calls: vec![set_base_fee(1)],
            description: vec![0xff],
        }),
    );
    assert_eq!(r.error, Some(code(GovernanceError::BadDescription)));
}

#[test]
fn a_proposal_executes_once_only() {
    let mut chain = Chain::new();
    let (alice, eve) = (key("alice"), key("eve"));
    let id = chain.propose(
        &alice,
        vec![PrivilegedCall::TreasurySpend {
            to: eve.account(),
            amount: PHA / 100,
        }],
    );
    chain.vote(&alice, id, true, PHA);
    chain.block(vec![]); // fees to the treasury
    let eve_before = chain.free(&eve);
    chain.finish(id);
    chain.run_until(chain.ctx.height + 30);
    assert_eq!(chain.free(&eve), eve_before + PHA / 100);
    let enacted = chain
        .block_events
        .iter()
        .filter(|e| matches!(e, Event::ProposalEnacted { proposal, .. } if *proposal == id))
        .count();
    assert_eq!(enacted, 1);
    // Cancelling an ended proposal is refused.
    let mut events = Vec::new();
    assert_eq!(
        cancel(&mut chain.state, &chain.ctx, id, &mut events),
        Err(GovernanceError::AlreadyEnded(id))
    );
}

#[test]
fn cancelling_as_spam_forfeits_the_deposit_and_unlocks_votes() {
    let mut chain = Chain::new();
    let (alice, bob) = (key("alice"), key("bob"));
    let spam = chain.propose(&bob, vec![set_base_fee(1)]);
    chain.vote(&alice, spam, true, 50 * PHA);
    let deposit = chain.proposal(spam).deposit;
    let treasury_before = treasury::balance(&chain.state).expect("t");
    let cancel_call = Call::Root(phalanx_primitives::call::RootCall::Dispatch(
        PrivilegedCall::CancelProposal { proposal: spam },
    ));
    let r = chain.call(&alice, cancel_call);
    assert_eq!(r.error, None);
    assert_eq!(chain.proposal(spam).status, ProposalStatus::Cancelled);
    assert_eq!(chain.locked(&alice), 0);
    let bob_data = balances::account(&chain.state, &bob.account()).expect("b");
    assert_eq!(bob_data.reserved, 0);
    // Treasury gained the deposit plus the fee of the cancel transaction.
    assert_eq!(
        treasury::balance(&chain.state).expect("t"),
        treasury_before + deposit + r.fee
    );
}

#[test]
fn invalid_or_duplicate_validator_keys_are_refused() {
    let mut chain = Chain::new();
    let alice = key("alice");
    let good = key("v1").account().0;
    // Find 32 bytes that are not a valid ed25519 point.
    let bad = (0u8..=255)
        .map(|b| [b; 32])
        .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
        .expect("some byte pattern is not a curve point");
    for keys in [vec![good, bad], vec![good, good]] {
        let call = Call::Root(phalanx_primitives::call::RootCall::Dispatch(
            PrivilegedCall::SetValidators(keys),
        ));
        let receipt = chain.call(&alice, call);
        assert_eq!(
            receipt.error,
            Some(code(GovernanceError::InvalidValidatorKeys))
        );
    }
    assert_eq!(
        crate::system::pending_validators(&chain.state).expect("pending"),
        None
    );
}

fn root(call: PrivilegedCall) -> Call {
    Call::Root(phalanx_primitives::call::RootCall::Dispatch(call))
}

/// The due-queue entries of `queue` (`tally`, `enact` or `prune`), as (height, id).
fn queued(state: &State, queue: &str) -> Vec<(u64, u32)> {
    let prefix = format!("governance/due/{queue}/");
    state
        .scan_prefix(prefix.as_bytes())
        .map(|(key, _)| {
            let rest = &key[prefix.len()..];
            let height = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
            let id = u32::from_be_bytes(rest[8..].try_into().expect("4 bytes"));
            (height, id)
        })
        .collect()
}

#[test]
fn a_vote_for_max_block_txs_zero_never_takes_effect_and_a_corrective_vote_still_passes() {
    let (alice, bob, charlie) = (key("alice"), key("bob"), key("charlie"));
    let zero_txs = |params: &ChainParams| ChainParams {
        max_block_txs: 0,
        ..params.clone()
    };

    // The attack, with the bounds bypassed: once max_block_txs is 0, every block carrying a
    // transaction is invalid, the proposal that would fix it included.
    let mut bricked = Chain::new();
    let params = system::params(&bricked.state).expect("params");
    system::set_params(&mut bricked.state, &zero_txs(&params));
    let fix = bricked.tx(
        &alice,
        Call::Governance(GovernanceCall::Propose {
            calls: vec![PrivilegedCall::SetChainParams(params.clone())],
            description: b"undo".to_vec(),
        }),
    );
    assert_eq!(
        execute_block(&mut bricked.state.clone(), &bricked.ctx, &[fix]),
        Err(system::TxError::TooManyTransactions(0))
    );

    // Through governance the same value passes the vote but is refused at enactment.
    let mut chain = Chain::new();
    let before = system::params(&chain.state).expect("params");
    let bad = chain.propose(
        &alice,
        vec![PrivilegedCall::SetChainParams(zero_txs(&before))],
    );
    assert_eq!(chain.vote(&bob, bad, true, 1_000 * PHA).error, None);
    let refusal = DispatchError::from(ParamsError::OutOfBounds {
        param: Param::MaxBlockTxs,
        value: 0,
        min: MIN_BLOCK_TXS.into(),
        max: crate::params::MAX_BLOCK_TXS.into(),
    });
    assert_eq!(
        chain.finish(bad).status,
        ProposalStatus::Enacted {
            error: Some(code(refusal.clone()))
        }
    );
    assert!(chain.block_events.contains(&Event::ProposalEnacted {
        proposal: bad,
        error: Some(code(refusal))
    }));
    assert_eq!(system::params(&chain.state).expect("params"), before);

    // The chain still takes blocks with transactions: a corrective proposal, then two votes
    // in one block, pass and take effect.
    let corrective = PrivilegedCall::SetChainParams(ChainParams {
        base_fee: PHA / 500,
        ..before.clone()
    });
    let fix = chain.propose(&alice, vec![corrective]);
    let votes = [(&bob, true), (&charlie, false)]
        .into_iter()
        .map(|(who, aye)| {
            let amount = if aye { 2_000 * PHA } else { 1_000 * PHA };
            chain.tx(
                who,
                Call::Governance(GovernanceCall::Vote {
                    proposal: fix,
                    aye,
                    amount,
                }),
            )
        })
        .collect();
    let receipts = chain.block(votes);
    assert!(receipts.iter().all(|r| r.error.is_none()), "{receipts:?}");
    assert_eq!(
        chain.finish(fix).status,
        ProposalStatus::Enacted { error: None }
    );
    assert_eq!(
        system::params(&chain.state).expect("params").base_fee,
        PHA / 500
    );
}

#[test]
fn block_ends_take_only_the_proposals_that_fall_due() {
    let mut chain = Chain::new();
    let alice = key("alice");
    let ids: Vec<u32> = (0..12)
        .map(|i| chain.propose(&alice, vec![set_base_fee(100 + i)]))
        .collect();
    // One tally entry per proposal, at its end height; no list of open proposals to scan.
    let expected: Vec<(u64, u32)> = ids
        .iter()
        .map(|id| (chain.proposal(*id).voting_ends_at, *id))
        .collect();
    assert_eq!(queued(&chain.state, "tally"), expected);
    assert!(chain.state.get(b"governance/active").is_none());

    // A block end with nothing due changes nothing at all.
    let first_end = expected[0].0;
    let quiet = BlockContext {
        height: first_end - 1,
        ..chain.ctx
    };
    let mut state = chain.state.clone();
    let root = state.root();
    assert!(on_block_end(&mut state, &quiet, crate::privileged::execute).is_empty());
    assert_eq!(state.root(), root);

    // The block where the first ends tallies that one only (it has no votes, so it fails).
    chain.run_until(first_end);
    let tallied: Vec<&Event> = chain
        .block_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::ProposalRejected { .. } | Event::ProposalPassed { .. }
            )
        })
        .collect();
    assert_eq!(
        tallied,
        vec![&Event::ProposalRejected {
            proposal: ids[0],
            aye: 0,
            nay: 0
        }]
    );
    assert_eq!(queued(&chain.state, "tally"), expected[1..].to_vec());
    assert_eq!(
        queued(&chain.state, "prune"),
        vec![(first_end + FINISHED_PROPOSAL_RETENTION, ids[0])]
    );
    for id in &ids[1..] {
        assert_eq!(chain.proposal(*id).status, ProposalStatus::Voting);
    }
}

#[test]
fn finished_proposals_are_pruned_after_the_retention_and_their_outcome_stays_in_events() {
    let mut chain = Chain::new();
    let (alice, bob) = (key("alice"), key("bob"));
    let passed = chain.propose(&alice, vec![set_base_fee(11)]);
    let rejected = chain.propose(&alice, vec![set_base_fee(12)]);
    let cancelled = chain.propose(&alice, vec![set_base_fee(13)]);
    chain.vote(&alice, passed, true, PHA);
    chain.vote(&bob, rejected, false, PHA);
    let cancelled_at = chain.ctx.height;
    let receipt = chain.call(
        &alice,
        root(PrivilegedCall::CancelProposal {
            proposal: cancelled,
        }),
    );
    assert_eq!(receipt.error, None);
    assert!(receipt.events.contains(&Event::ProposalCancelled {
        proposal: cancelled
    }));
    let rejected_at = chain.proposal(rejected).voting_ends_at;
    let enacted = chain.finish(passed);
    let enacted_at = chain.ctx.height - 1;
    chain.finish(rejected);
    assert_eq!(enacted.status, ProposalStatus::Enacted { error: None });
    // Finished proposals stay readable while retained.
    assert_eq!(chain.proposal(rejected).status, ProposalStatus::Rejected);
    assert_eq!(chain.proposal(cancelled).status, ProposalStatus::Cancelled);
    assert_eq!(proposals(&chain.state).len(), 3);
    assert!(queued(&chain.state, "tally").is_empty());
    assert!(queued(&chain.state, "enact").is_empty());
    assert_eq!(
        queued(&chain.state, "prune"),
        vec![
            (cancelled_at + FINISHED_PROPOSAL_RETENTION, cancelled),
            (rejected_at + FINISHED_PROPOSAL_RETENTION, rejected),
            (enacted_at + FINISHED_PROPOSAL_RETENTION, passed),
        ]
    );

    // Nothing falls due in between, so the test jumps straight to the last block before the
    // first pruning, then to each pruning height.
    chain.ctx.height = cancelled_at + FINISHED_PROPOSAL_RETENTION - 1;
    chain.block(vec![]);
    assert_eq!(proposals(&chain.state).len(), 3);
    chain.block(vec![]);
    assert_eq!(proposal(&chain.state, cancelled), Ok(None));
    assert_eq!(proposals(&chain.state).len(), 2);
    chain.ctx.height = enacted_at + FINISHED_PROPOSAL_RETENTION;
    chain.block(vec![]);
    assert!(proposals(&chain.state).is_empty());
    let left: Vec<_> = chain
        .state
        .scan_prefix(b"governance/")
        .map(|(key, _)| String::from_utf8_lossy(key).into_owned())
        .collect();
    assert_eq!(left, vec!["governance/next", "governance/params"]);
    // Pruned proposals are unknown to calls; their outcome is in the events.
    assert_eq!(
        chain.vote(&bob, passed, true, PHA).error,
        Some(code(GovernanceError::UnknownProposal(passed)))
    );
    for event in [
        Event::ProposalEnacted {
            proposal: passed,
            error: None,
        },
        Event::ProposalRejected {
            proposal: rejected,
            aye: 0,
            nay: PHA,
        },
    ] {
        assert!(chain.block_events.contains(&event), "{event:?}");
    }
}

#[test]
fn a_proposal_passed_without_delay_executes_in_the_block_that_tallies_it() {
    let mut chain = Chain::new();
    let alice = key("alice");
    let no_delay = GovernanceParams {
        enactment_delay: 0,
        ..params(&chain.state).expect("params")
    };
    let receipt = chain.call(&alice, root(PrivilegedCall::SetGovernanceParams(no_delay)));
    assert_eq!(receipt.error, None);
    let id = chain.propose(&alice, vec![set_base_fee(21)]);
    chain.vote(&alice, id, true, PHA);
    let ends = chain.proposal(id).voting_ends_at;
    chain.run_until(ends - 1);
    let before = chain.block_events.len();
    chain.run_until(ends);
    assert_eq!(
        chain.block_events[before..].to_vec(),
        vec![
            Event::ProposalPassed {
                proposal: id,
                aye: PHA,
                nay: 0,
                enact_at: ends
            },
            Event::ChainParamsChanged,
            Event::ProposalEnacted {
                proposal: id,
                error: None
            },
        ]
    );
    assert_eq!(system::params(&chain.state).expect("params").base_fee, 21);
}

#[test]
fn small_order_and_non_canonical_validator_keys_are_refused() {
    let mut chain = Chain::new();
    let alice = key("alice");
    let good = key("v1").account().0;
    let unhex = |text: &str| -> [u8; 32] {
        hex::decode(text)
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    };
    // The eight points of small order, canonically encoded.
    let mut weak: Vec<[u8; 32]> = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        // Non-canonical encodings of the identity (sign bit on x = 0, y = p + 1).
        "0100000000000000000000000000000000000000000000000000000000000080",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]
    .iter()
    .map(|text| unhex(text))
    .collect();
    // A point not of small order whose y < 19 also has the encoding y + p: the same point under
    // other bytes, which would let one validator sit twice in a set.
    let (y, canonical) = (2u8..19)
        .map(|y| {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            (y, bytes)
        })
        .find(|(_, bytes)| {
            ed25519_dalek::VerifyingKey::from_bytes(bytes).is_ok_and(|key| !key.is_weak())
        })
        .expect("some small y is on the curve and not of small order");
    let mut aliased = unhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    aliased[0] += y;
    assert!(ed25519_dalek::VerifyingKey::from_bytes(&aliased).is_ok());
    weak.push(aliased);
    for key in weak {
        assert!(ed25519_dalek::VerifyingKey::from_bytes(&key).is_ok());
        let receipt = chain.call(&alice, root(PrivilegedCall::SetValidators(vec![good, key])));
        assert_eq!(
            receipt.error,
            Some(code(GovernanceError::WeakValidatorKey { index: 1 })),
            "{}",
            hex::encode(key)
        );
    }
    assert_eq!(system::pending_validators(&chain.state), Ok(None));
    // A key shifted by a point of order 2 (A + T, canonical, not of small order) is refused:
    // its owner could sign for both.
    let shifted = (ed25519_dalek::VerifyingKey::from_bytes(&good)
        .expect("a point")
        .to_edwards()
        + curve25519_dalek::constants::EIGHT_TORSION[4])
        .compress()
        .to_bytes();
    let receipt = chain.call(
        &alice,
        root(PrivilegedCall::SetValidators(vec![good, shifted])),
    );
    assert_eq!(
        receipt.error,
        Some(code(GovernanceError::WeakValidatorKey { index: 1 }))
    );
    // The canonical encoding of that same point is a fine key exactly when the point has no
    // small-order part (otherwise one secret could sign for it and for its shifts by torsion).
    let torsion_free = ed25519_dalek::VerifyingKey::from_bytes(&canonical)
        .expect("a point")
        .to_edwards()
        .is_torsion_free();
    let receipt = chain.call(
        &alice,
        root(PrivilegedCall::SetValidators(vec![good, canonical])),
    );
    if torsion_free {
        assert_eq!(receipt.error, None);
    } else {
        assert_eq!(
            receipt.error,
            Some(code(GovernanceError::WeakValidatorKey { index: 1 }))
        );
    }
}

#[test]
fn a_validator_set_larger_than_the_bound_is_refused() {
    let mut chain = Chain::new();
    let alice = key("alice");
    let keys = |n: usize| -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| key(&format!("validator/{i}")).account().0)
            .collect()
    };
    let max = crate::params::MAX_VALIDATORS;
    let receipt = chain.call(&alice, root(PrivilegedCall::SetValidators(keys(max + 1))));
    assert_eq!(
        receipt.error,
        Some(code(GovernanceError::TooManyValidators {
            count: max + 1,
            max
        }))
    );
    let receipt = chain.call(&alice, root(PrivilegedCall::SetValidators(keys(max))));
    assert_eq!(receipt.error, None);
    assert_eq!(
        system::pending_validators(&chain.state)
            .expect("pending")
            .map(|set| set.len()),
        Some(max)
    );
}

#[test]
fn a_tally_that_fails_midway_changes_nothing_and_is_retried_next_block() {
    let mut chain = Chain::new();
    let (alice, bob, charlie) = (key("alice"), key("bob"), key("charlie"));
    let id = chain.propose(&alice, vec![set_base_fee(4)]);
    chain.vote(&bob, id, true, 300 * PHA);
    chain.vote(&charlie, id, false, 100 * PHA);
    let ends = chain.proposal(id).voting_ends_at;
    chain.run_until(ends - 1);
    // The proposer's account record is corrupted, so the tally unlocks both votes and then
    // fails to return the deposit: only corrupted state gets there.
    let mut state = chain.state.clone();
    let proposer = balances::account_key(&alice.account());
    let record = state.get(&proposer).expect("alice has an account").to_vec();
    state.insert(proposer.clone(), vec![0xff]);
    assert_eq!(take_due(&mut state, TALLY_QUEUE, ends), vec![id]);
    let before = state.snapshot();
    let ctx = BlockContext {
        height: ends,
        ..chain.ctx
    };
    let mut events = Vec::new();
    tally(&mut state, &ctx, id, 0, &mut events);
    assert_eq!(events, Vec::new(), "nothing happened");
    assert!(!state.journaling(), "the checkpoint is closed");
    // Every unlock is undone; the one change is the retry queued for the next block.
    assert_eq!(
        queued(&state, "tally"),
        vec![(ends + 1, id)],
        "tried again next block"
    );
    let mut without_retry = state.clone();
    without_retry.remove(&due_key(TALLY_QUEUE, ends + 1, id));
    assert!(without_retry.snapshot() == before, "the state is as it was");
    assert_eq!(
        vote(&state, id, &bob.account())
            .expect("readable")
            .map(|v| v.amount),
        Some(300 * PHA)
    );
    // Repaired, the retry tallies it.
    state.insert(proposer, record);
    let mut events = Vec::new();
    let next = BlockContext {
        height: ends + 1,
        ..chain.ctx
    };
    for due in take_due(&mut state, TALLY_QUEUE, next.height) {
        tally(&mut state, &next, due, 0, &mut events);
    }
    assert!(
        matches!(events.as_slice(), [Event::ProposalPassed { proposal, .. }] if *proposal == id),
        "{events:?}"
    );
    for who in [&bob, &charlie] {
        assert_eq!(
            balances::account(&state, &who.account()).expect("b").locked,
            0
        );
    }
    assert_eq!(
        balances::account(&state, &alice.account())
            .expect("a")
            .reserved,
        0
    );
}
