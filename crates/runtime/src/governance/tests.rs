use super::*;
use crate::testing::*;
use crate::{execute_block, BlockContext, Receipt};
use phalanx_primitives::call::{Call, ChainParams};
use phalanx_primitives::{Keypair, SignedTransaction, PHA};

/// A small chain driver: executes blocks one after another and checks invariants after each.
struct Chain {
    state: State,
    ctx: BlockContext,
    nonces: std::collections::HashMap<AccountId, u64>,
    events: Vec<Event>,
}

impl Chain {
    fn new() -> Chain {
        let (state, ctx) = dev_chain();
        Chain {
            state,
            ctx,
            nonces: Default::default(),
            events: Vec::new(),
        }
    }

    fn tx(&mut self, who: &Keypair, call: Call) -> SignedTransaction {
        let nonce = self.nonces.entry(who.account()).or_insert(0);
        let tx = signed(who, *nonce, call, &self.ctx);
        *nonce += 1;
        tx
    }

    /// Executes one block with `txs` and returns their receipts.
    fn block(&mut self, txs: Vec<SignedTransaction>) -> Vec<Receipt> {
        let outcome = execute_block(&mut self.state, &self.ctx, &txs).expect("valid block");
        check_invariants(&self.state);
        self.events.extend(outcome.block_events);
        self.ctx.height += 1;
        self.ctx.timestamp_ms += 1_000;
        outcome.receipts
    }

    fn call(&mut self, who: &Keypair, call: Call) -> Receipt {
        let tx = self.tx(who, call);
        self.block(vec![tx]).remove(0)
    }

    fn until(&mut self, height: u64) {
        while self.ctx.height <= height {
            self.block(vec![]);
        }
    }

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
        self.until(ends + delay);
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
    assert_eq!(receipt.error, Some(GovernanceError::NoVote(id).to_string()));
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
    chain.until(ends - 1);
    assert_eq!(chain.locked(&bob), 300 * PHA, "still locked while open");
    chain.until(ends);
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
        voting_period: 3,
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
        .events
        .iter()
        .any(|e| matches!(e, Event::TreasurySpent { .. })));
    assert!(chain
        .events
        .contains(&Event::ValidatorsChanged { count: 3 }));
    // New proposals use the new periods.
    let next = chain.propose(&alice, vec![set_base_fee(9)]);
    let p = chain.proposal(next);
    assert_eq!(p.voting_ends_at - p.submitted_at, 3);
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
            assert!(error.contains("treasury holds"), "{error}")
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
}

#[test]
fn a_rejected_proposal_changes_nothing() {
    let mut chain = Chain::new();
    let (alice, bob) = (key("alice"), key("bob"));
    let before = crate::system::params(&chain.state).expect("params");
    let id = chain.propose(&alice, vec![set_base_fee(123)]);
    chain.vote(&bob, id, false, PHA);
    assert_eq!(chain.finish(id).status, ProposalStatus::Rejected);
    chain.until(chain.ctx.height + 10);
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
            .as_deref()
            .is_some_and(|e| e.contains("not enough free PHA")),
        "{r:?}"
    );
    // The same PHA twice: after locking almost everything, a second proposal cannot reuse it.
    let other = chain.propose(&alice, vec![set_base_fee(6)]);
    let bob_free = chain.free(&bob);
    assert_eq!(chain.vote(&bob, id, true, bob_free - PHA).error, None);
    let r = chain.vote(&bob, other, true, bob_free - PHA);
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("not enough free PHA")),
        "{r:?}"
    );
    // Zero, unknown proposal.
    assert_eq!(
        chain.vote(&bob, id, true, 0).error,
        Some(GovernanceError::ZeroVote.to_string())
    );
    assert_eq!(
        chain.vote(&bob, 999, true, 1).error,
        Some(GovernanceError::UnknownProposal(999).to_string())
    );
    // After the end.
    let ends = chain.proposal(id).voting_ends_at;
    chain.until(ends);
    assert_eq!(
        chain.vote(&alice, id, true, PHA).error,
        Some(GovernanceError::VotingClosed(id).to_string())
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
            .as_deref()
            .is_some_and(|e| e.contains("not enough free PHA")),
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
    assert_eq!(r.error, Some(GovernanceError::NoCalls.to_string()));
    let r = chain.call(
        &alice,
        Call::Governance(GovernanceCall::Propose {
            calls: vec![set_base_fee(1)],
            description: vec![0xff],
        }),
    );
    assert_eq!(r.error, Some(GovernanceError::BadDescription.to_string()));
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
    chain.until(chain.ctx.height + 30);
    assert_eq!(chain.free(&eve), eve_before + PHA / 100);
    let enacted = chain
        .events
        .iter()
        .filter(|e| matches!(e, Event::ProposalEnacted { proposal, .. } if *proposal == id))
        .count();
    assert_eq!(enacted, 1);
    // Cancelling an ended proposal is refused.
    let mut events = Vec::new();
    assert_eq!(
        cancel(&mut chain.state, id, &mut events),
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
            Some(GovernanceError::InvalidValidatorKeys.to_string())
        );
    }
    assert_eq!(
        crate::system::pending_validators(&chain.state).expect("pending"),
        None
    );
}
