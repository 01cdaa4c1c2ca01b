//! Mining: pools and their invariants, the worker lifecycle, heartbeats, the daily payout to
//! the unit, the withdrawal queue and forced shutdown, commission and slashing shared by
//! delegators. Every block of every test also runs every module's invariants
//! (`TestChain::end_block`), the pool invariants among them.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::registry::tests::worker_identity;
use crate::testing::*;
use crate::Receipt;
use phalanx_primitives::call::{
    Call, MessageQueueCall, Origin, PrivilegedCall, RootCall, SignedMessage,
};
use phalanx_primitives::{Keypair, MAX_SUPPLY};
use proptest::prelude::*;

fn mining(call: MiningCall) -> Call {
    Call::Mining(call)
}

/// A worker's least stake at the test score (P = 100): 100·sqrt(100) = 1,000 PHA.
const LEAST_STAKE: Balance = 1_000 * PHA;

impl TestChain {
    /// Registers worker `name` operated by `operator`; returns its identity.
    fn mining_worker(&mut self, operator: &Keypair, name: &str) -> [u8; 32] {
        let identity = worker_identity(name);
        let registration = self.registration(&identity, &operator.account());
        assert_eq!(self.register(operator, registration).error, None);
        identity.account().0
    }

    fn ok(&mut self, who: &Keypair, call: MiningCall) -> Receipt {
        let receipt = self.apply(who, mining(call));
        assert_eq!(receipt.error, None, "{:?}", receipt.events);
        receipt
    }

    fn refused(&mut self, who: &Keypair, call: MiningCall, error: MiningError) {
        let receipt = self.apply(who, mining(call));
        assert_eq!(receipt.error, Some(code(error)));
    }

    /// Creates a pool owned by `owner` with `commission`‰; returns its id.
    fn pool(&mut self, owner: &Keypair, commission: u16) -> u64 {
        let receipt = self.ok(
            owner,
            MiningCall::CreatePool {
                commission_per_mille: commission,
                cap: None,
                allow_list: None,
            },
        );
        receipt
            .events
            .iter()
            .find_map(|e| match e {
                Event::PoolCreated { pool, .. } => Some(*pool),
                _ => None,
            })
            .unwrap()
    }

    /// Alice's pool `id`, funded with 10,000 PHA by charlie, with each of `workers` (operated
    /// by alice) added and started on twice the least stake.
    fn computing_in_pool(&mut self, id: u64, workers: &[[u8; 32]]) {
        self.ok(
            &key("charlie"),
            MiningCall::Contribute {
                pool: id,
                amount: 10_000 * PHA,
            },
        );
        for &worker in workers {
            self.ok(&key("alice"), MiningCall::AddWorker { pool: id, worker });
            self.ok(
                &key("alice"),
                MiningCall::StartWorker {
                    pool: id,
                    worker,
                    stake: 2 * LEAST_STAKE,
                },
            );
        }
    }

    fn pool_info(&self, id: u64) -> StakePool {
        pool(&self.state, id).unwrap().unwrap()
    }

    fn miner_info(&self, worker: &[u8; 32]) -> Miner {
        miner(&self.state, worker).unwrap().unwrap()
    }

    fn free_of(&self, who: &AccountId) -> Balance {
        balances::account(&self.state, who).unwrap().free
    }

    /// Answers every open heartbeat challenge of `workers` (bob relays).
    fn answer(&mut self, workers: &[[u8; 32]]) {
        for worker in workers {
            let Some((issued, _)) = open_challenge(&self.state, worker).unwrap() else {
                continue;
            };
            self.heartbeat(worker, issued);
        }
    }

    fn heartbeat(&mut self, worker: &[u8; 32], height: u64) -> Receipt {
        let origin = Origin::Worker(*worker);
        let sequence = crate::message_queue::next_sequence(&self.state, &origin).unwrap();
        let identity = ["w1", "w2", "w3", "w4"]
            .iter()
            .map(|n| worker_identity(n))
            .find(|k| k.account().0 == *worker)
            .unwrap();
        let message = SignedMessage::new(
            origin,
            sequence,
            HEARTBEAT_TOPIC.to_vec(),
            height.encode(),
            &identity,
            &self.ctx.genesis_hash,
        );
        let receipt = self.apply(
            &key("bob"),
            Call::MessageQueue(MessageQueueCall::Push(message)),
        );
        assert_eq!(receipt.error, None);
        receipt
    }

    /// Ends blocks until `blocks` have passed, answering challenges of `online` each block.
    fn run_online(&mut self, blocks: u64, online: &[[u8; 32]]) {
        for _ in 0..blocks {
            self.answer(online);
            self.end_block();
        }
    }

    fn days(&self) -> Vec<DayRecord> {
        let mut days = recent_days(&self.state, usize::MAX).unwrap();
        days.reverse();
        days
    }

    fn root_dispatch(&mut self, call: PrivilegedCall) -> Receipt {
        self.apply(&key("alice"), Call::Root(RootCall::Dispatch(call)))
    }
}

/// A chain with pool 0 owned by alice (`commission`‰), `stake` PHA contributed by charlie and
/// workers w1, w2 (operated by alice) bound to it.
fn pool_with_workers(commission: u16, stake: u64) -> (TestChain, u64, [u8; 32], [u8; 32]) {
    let mut chain = TestChain::new();
    let w1 = chain.mining_worker(&key("alice"), "w1");
    let w2 = chain.mining_worker(&key("alice"), "w2");
    let id = chain.pool(&key("alice"), commission);
    chain.ok(
        &key("charlie"),
        MiningCall::Contribute {
            pool: id,
            amount: u128::from(stake) * PHA,
        },
    );
    chain.ok(
        &key("alice"),
        MiningCall::AddWorker {
            pool: id,
            worker: w1,
        },
    );
    chain.ok(
        &key("alice"),
        MiningCall::AddWorker {
            pool: id,
            worker: w2,
        },
    );
    chain.end_block();
    (chain, id, w1, w2)
}

#[test]
fn the_genesis_day_is_open_and_the_dev_rules_are_stored() {
    let chain = TestChain::new();
    let s = settlement(&chain.state).unwrap();
    assert_eq!(s.open_day, 0);
    assert_eq!(s.open_day_start_ms, dev_config().timestamp_ms);
    assert_eq!(s.phase, SettlementPhase::Idle);
    assert_eq!(params(&chain.state).unwrap(), MiningParams::dev());
}

#[test]
fn a_worker_starts_only_with_enough_stake_from_the_pools_free_stake() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 1_500);
    let start = |stake| MiningCall::StartWorker {
        pool: id,
        worker: w1,
        stake,
    };
    chain.refused(
        &key("alice"),
        start(LEAST_STAKE - 1),
        MiningError::StakeTooLow {
            performance: 100,
            needed: LEAST_STAKE,
            offered: LEAST_STAKE - 1,
        },
    );
    chain.refused(
        &key("alice"),
        start(2_000 * PHA),
        MiningError::InsufficientFreeStake {
            pool: id,
            free: 1_500 * PHA,
            needed: 2_000 * PHA,
        },
    );
    chain.refused(
        &key("bob"),
        start(LEAST_STAKE),
        MiningError::NotPoolOwner(id),
    );
    chain.ok(&key("alice"), start(LEAST_STAKE));
    let m = chain.miner_info(&w1);
    assert_eq!(m.state, MinerState::Computing);
    assert_eq!(m.stake, LEAST_STAKE);
    // Ve = (1 + 1·0.3)·(1,000 + 0.3·100) = 1,339 at full confidence.
    assert_eq!(m.value_raw, 1_339 * PHA);
    let pool = chain.pool_info(id);
    assert_eq!(pool.bound, LEAST_STAKE);
    assert_eq!(free_stake(&chain.state, &pool).unwrap(), 500 * PHA);
    assert_eq!(pool_value(&chain.state, &pool).unwrap(), 1_500 * PHA);
    chain.refused(&key("alice"), start(LEAST_STAKE), wrong_state(&m, "ready"));
    chain.end_block();
}

#[test]
fn binding_needs_the_operator_and_a_registered_unbound_worker() {
    let mut chain = TestChain::new();
    let w1 = chain.mining_worker(&key("alice"), "w1");
    let bobs = chain.pool(&key("bob"), 0);
    let alices = chain.pool(&key("alice"), 0);
    chain.refused(
        &key("bob"),
        MiningCall::AddWorker {
            pool: bobs,
            worker: w1,
        },
        MiningError::NotWorkerOperator(hex::encode(w1)),
    );
    chain.refused(
        &key("alice"),
        MiningCall::AddWorker {
            pool: bobs,
            worker: w1,
        },
        MiningError::NotPoolOwner(bobs),
    );
    chain.refused(
        &key("alice"),
        MiningCall::AddWorker {
            pool: alices,
            worker: [7; 32],
        },
        MiningError::WorkerNotRegistered(hex::encode([7u8; 32])),
    );
    chain.ok(
        &key("alice"),
        MiningCall::AddWorker {
            pool: alices,
            worker: w1,
        },
    );
    chain.refused(
        &key("alice"),
        MiningCall::AddWorker {
            pool: alices,
            worker: w1,
        },
        MiningError::AlreadyBound {
            worker: hex::encode(w1),
            pool: alices,
        },
    );
    chain.refused(
        &key("alice"),
        MiningCall::CreatePool {
            commission_per_mille: 1_001,
            cap: None,
            allow_list: None,
        },
        MiningError::CommissionTooHigh(1_001),
    );
    chain.end_block();
}

#[test]
fn a_day_pays_exactly_its_budget_split_by_work_with_the_dust_left_in_the_pot() {
    let (mut chain, id, w1, w2) = pool_with_workers(100, 10_000);
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: LEAST_STAKE,
        },
    );
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w2,
            stake: 3 * LEAST_STAKE,
        },
    );
    let pot_before = chain.free_of(&genesis::mining_pot());
    let owner_before = chain.free_of(&key("alice").account());
    // Three dev days (60 blocks of 1 s each), every challenge answered.
    chain.run_online(200, &[w1, w2]);
    let days = chain.days();
    assert!(days.len() >= 3, "{days:?}");
    let mut paid_total = 0;
    for day in &days {
        assert_eq!(day.budget, 720_000 * PHA, "day {} of period 0", day.day);
        assert_eq!(
            day.treasury + day.paid + day.kept_in_pot,
            day.budget,
            "every unit accounted"
        );
        paid_total += day.paid + day.treasury;
        if day.points_raw > 0 {
            assert_eq!(day.workers, 2);
            // Rounding down costs at most a unit per worker.
            assert!(day.kept_in_pot <= 2, "dust {}", day.kept_in_pot);
        }
    }
    assert_eq!(
        chain.free_of(&genesis::mining_pot()),
        pot_before - paid_total
    );
    // The bigger stake earns more (higher V), and commission went to the owner.
    let (m1, m2) = (chain.miner_info(&w1), chain.miner_info(&w2));
    assert!(m2.earned > m1.earned, "{} vs {}", m2.earned, m1.earned);
    let pool = chain.pool_info(id);
    assert_eq!(pool.commission_paid, (m1.earned + m2.earned) - pool.rewards);
    assert!(pool.commission_paid > 0);
    assert!(chain.free_of(&key("alice").account()) > owner_before);
    // The rest raised the share price: charlie's 10,000 PHA of shares are now worth more.
    let charlie = shares_of(&chain.state, id, &key("charlie").account()).unwrap();
    assert_eq!(charlie, 10_000 * PHA);
    assert_eq!(
        shares_value(&chain.state, &pool, charlie).unwrap(),
        10_000 * PHA + pool.rewards
    );
    chain.end_block();
}

#[test]
fn a_day_nobody_worked_leaves_its_budget_in_the_pot() {
    let mut chain = TestChain::new();
    let pot = chain.free_of(&genesis::mining_pot());
    chain.run_blocks(130);
    let days = chain.days();
    assert_eq!(days.len(), 2);
    for day in days {
        assert_eq!((day.paid, day.treasury, day.workers), (0, 0, 0));
        assert_eq!(day.kept_in_pot, day.budget);
    }
    assert_eq!(chain.free_of(&genesis::mining_pot()), pot);
}

#[test]
fn the_treasury_ratio_is_paid_first_and_the_rest_split() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 2_000);
    let mut params = MiningParams::dev();
    params.treasury_per_mille = 250;
    assert_eq!(
        chain
            .root_dispatch(PrivilegedCall::SetMiningParams(params))
            .error,
        None
    );
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: LEAST_STAKE,
        },
    );
    let treasury = chain.free_of(&treasury::account());
    chain.run_online(130, &[w1]);
    let worked: Vec<_> = chain.days().into_iter().filter(|d| d.workers > 0).collect();
    assert!(!worked.is_empty());
    for day in &worked {
        assert_eq!(day.treasury, 180_000 * PHA);
        assert_eq!(day.paid + day.kept_in_pot, 540_000 * PHA);
        assert!(day.kept_in_pot <= 1);
    }
    // Fees also go to the treasury, so it grew by at least the budget's parts.
    assert!(chain.free_of(&treasury::account()) >= treasury + worked.len() as u128 * 180_000 * PHA);
}

#[test]
fn mining_parameters_are_bounded() {
    let mut chain = TestChain::new();
    let mut bad = MiningParams::dev();
    bad.day_ms = 1;
    let receipt = chain.root_dispatch(PrivilegedCall::SetMiningParams(bad));
    assert_eq!(
        receipt.error.map(|c| c.reason),
        Some("mining_day_ms_out_of_bounds".to_string())
    );
    let mut bad = MiningParams::dev();
    bad.max_p = bad.min_p - 1;
    let receipt = chain.root_dispatch(PrivilegedCall::SetMiningParams(bad));
    assert_eq!(
        receipt.error.map(|c| c.reason),
        Some("mining_max_p_out_of_bounds".to_string())
    );
    assert!(crate::params::check_mining(&MiningParams::default()).is_ok());
    assert!(crate::params::check_mining(&MiningParams::dev()).is_ok());
}

#[test]
fn a_silent_worker_goes_unresponsive_earns_nothing_is_slashed_and_comes_back_by_answering() {
    let (mut chain, id, w1, w2) = pool_with_workers(0, 10_000);
    for w in [w1, w2] {
        chain.ok(
            &key("alice"),
            MiningCall::StartWorker {
                pool: id,
                worker: w,
                stake: 2 * LEAST_STAKE,
            },
        );
    }
    // w2 never answers: within a few blocks it is challenged, and 10 blocks later unresponsive.
    chain.run_online(20, &[w1]);
    let m2 = chain.miner_info(&w2);
    assert_eq!(m2.state, MinerState::Unresponsive);
    assert_eq!(m2.heartbeats_missed, 1);
    assert!(chain
        .block_events
        .contains(&Event::WorkerUnresponsive { worker: w2 }));
    assert!(chain.miner_info(&w1).heartbeats_answered >= 1);
    assert_eq!(chain.miner_info(&w1).state, MinerState::Computing);
    // Past the grace period (30 s on dev) each settled day slashes 1% of its stake.
    chain.run_online(130, &[w1]);
    let m2 = chain.miner_info(&w2);
    assert!(m2.slashed > 0);
    assert_eq!(m2.stake, 2 * LEAST_STAKE - m2.slashed);
    let pool = chain.pool_info(id);
    assert_eq!(pool.slashed, m2.slashed);
    // It earned only while it was computing (the first ~10 blocks); its value moves by whole
    // hours (`value_moves_by_whole_hours_up_online_and_down_unresponsive`).
    let m1 = chain.miner_info(&w1);
    assert!(m2.earned * 5 < m1.earned, "{} vs {}", m2.earned, m1.earned);
    // A late answer to its open challenge revives it.
    let (issued, _) = m2.challenge.unwrap();
    let receipt = chain.heartbeat(&w2, issued);
    assert!(receipt
        .events
        .contains(&Event::WorkerResponsive { worker: w2 }));
    assert_eq!(chain.miner_info(&w2).state, MinerState::Computing);
    // A heartbeat that answers nothing is kept in the queue but refused.
    let receipt = chain.heartbeat(&w2, issued);
    assert!(receipt.events.iter().any(|e| matches!(
        e,
        Event::MiningMessageRefused { error, .. } if error.reason == "no_open_challenge"
    )));
    chain.end_block();
}

#[test]
fn heartbeats_are_rate_limited_per_worker_and_hour() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 2_000);
    let mut params = MiningParams::dev();
    params.max_challenges_per_hour = 2;
    chain.root_dispatch(PrivilegedCall::SetMiningParams(params));
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: LEAST_STAKE,
        },
    );
    // Two an hour means 30 minutes apart: over 200 blocks (200 s), one challenge.
    chain.run_online(200, &[w1]);
    let m = chain.miner_info(&w1);
    assert_eq!(m.heartbeats_answered, 1);
    let first = m.last_challenge_ms.unwrap();
    // Half an hour later (1,800 blocks of 1 s) the second comes, not before.
    chain.run_online(1_590, &[w1]);
    assert_eq!(chain.miner_info(&w1).heartbeats_answered, 1);
    chain.run_online(30, &[w1]);
    let m = chain.miner_info(&w1);
    assert_eq!(m.heartbeats_answered, 2);
    assert!(m.last_challenge_ms.unwrap() >= first + 1_800_000);
}

#[test]
fn stop_cools_down_then_reclaim_returns_the_stake_and_the_worker_can_be_unbound() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 2_000);
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: LEAST_STAKE,
        },
    );
    chain.run_online(5, &[w1]);
    chain.ok(
        &key("alice"),
        MiningCall::StopWorker {
            pool: id,
            worker: w1,
        },
    );
    let m = chain.miner_info(&w1);
    assert_eq!(m.state, MinerState::CoolingDown);
    let pool = chain.pool_info(id);
    assert_eq!((pool.bound, pool.releasing), (0, LEAST_STAKE));
    chain.refused(
        &key("charlie"),
        MiningCall::ReclaimWorker {
            pool: id,
            worker: w1,
        },
        MiningError::StillCoolingDown {
            worker: hex::encode(w1),
            until_ms: m.cooldown_until_ms,
        },
    );
    chain.run_blocks(61);
    // Anyone may reclaim once the cooldown is over.
    chain.ok(
        &key("charlie"),
        MiningCall::ReclaimWorker {
            pool: id,
            worker: w1,
        },
    );
    let pool = chain.pool_info(id);
    assert_eq!((pool.bound, pool.releasing), (0, 0));
    assert_eq!(chain.miner_info(&w1).state, MinerState::Ready);
    // Its last day's points were paid by now (a day closed while it cooled down).
    assert!(chain.miner_info(&w1).earned > 0);
    chain.end_block();
    chain.run_blocks(61);
    chain.ok(
        &key("alice"),
        MiningCall::RemoveWorker {
            pool: id,
            worker: w1,
        },
    );
    assert!(miner(&chain.state, &w1).unwrap().is_none());
    chain.end_block();
}

#[test]
fn withdrawals_pay_at_once_from_free_stake_or_queue_in_order() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 1_000);
    let dave = key("dave");
    chain.ok(
        &dave,
        MiningCall::Contribute {
            pool: id,
            amount: 500 * PHA,
        },
    );
    // New shares sit out the day they joined in and the next.
    chain.refused(
        &dave,
        MiningCall::Withdraw {
            pool: id,
            shares: PHA,
        },
        MiningError::SharesLocked { until_day: 2 },
    );
    chain.run_blocks(125);
    // A holding is all or at least a whole one: leaving half a PHA of shares is refused.
    chain.refused(
        &dave,
        MiningCall::Withdraw {
            pool: id,
            shares: 500 * PHA - PHA / 2,
        },
        MiningError::DustLeft { left: PHA / 2 },
    );
    // Week-long days from now: no reward lands in the pool during the test and pays the queue.
    let mut params = params(&chain.state).unwrap();
    params.day_ms = 7 * 86_400_000;
    set_params(&mut chain.state, &params);
    // All 1,500 PHA free: dave takes 100 at once.
    let before = chain.free_of(&dave.account());
    chain.ok(
        &dave,
        MiningCall::Withdraw {
            pool: id,
            shares: 100 * PHA,
        },
    );
    assert_eq!(
        chain.free_of(&dave.account()),
        before - PHA / 10 + 100 * PHA
    );
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: 1_300 * PHA,
        },
    );
    // 100 PHA free: charlie's 1,000 queue; dave's 300 queue behind it though 100 are free.
    chain.ok(
        &key("charlie"),
        MiningCall::Withdraw {
            pool: id,
            shares: 1_000 * PHA,
        },
    );
    // Dust can't queue (it would let a few accounts fill the queue): half a PHA is refused.
    chain.refused(
        &dave,
        MiningCall::Withdraw {
            pool: id,
            shares: PHA / 2,
        },
        MiningError::RequestTooSmall(PHA / 2),
    );
    chain.ok(
        &dave,
        MiningCall::Withdraw {
            pool: id,
            shares: 50 * PHA,
        },
    );
    // One waiting request per account.
    chain.refused(
        &dave,
        MiningCall::Withdraw {
            pool: id,
            shares: 10 * PHA,
        },
        MiningError::AlreadyQueued(id),
    );
    let pool = chain.pool_info(id);
    assert_eq!(pool.queue_tail - pool.queue_head, 2);
    assert_eq!(pool.queued_shares, 1_050 * PHA);
    chain.refused(
        &dave,
        MiningCall::Withdraw {
            pool: id,
            shares: 351 * PHA,
        },
        MiningError::NotEnoughShares {
            have: 350 * PHA,
            want: 351 * PHA,
        },
    );
    chain.end_block();
    // Nobody stops the worker: after the grace period (60 s on dev) the chain does, and once
    // it has cooled down and been reclaimed both requests are paid, in order.
    chain.run_online(65, &[w1]);
    assert!(chain.block_events.iter().any(|e| matches!(
        e,
        Event::WorkerStopped { forced: true, worker, .. } if *worker == w1
    )));
    chain.run_blocks(62);
    let receipt = chain.ok(
        &key("bob"),
        MiningCall::ReclaimWorker {
            pool: id,
            worker: w1,
        },
    );
    let paid: Vec<(AccountId, Balance)> = receipt
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PoolWithdrawn { who, amount, .. } => Some((*who, *amount)),
            _ => None,
        })
        .collect();
    assert_eq!(
        paid,
        vec![
            (key("charlie").account(), 1_000 * PHA),
            (dave.account(), 50 * PHA)
        ]
    );
    let pool = chain.pool_info(id);
    assert_eq!(pool.queue_head, pool.queue_tail, "queue served");
    assert_eq!(pool.queued_shares, 0);
    chain.end_block();
}

#[test]
fn a_slash_is_shared_by_every_shareholder() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 3_000);
    chain.ok(
        &key("dave"),
        MiningCall::Contribute {
            pool: id,
            amount: 1_000 * PHA,
        },
    );
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: 4_000 * PHA,
        },
    );
    let mut m = chain.miner_info(&w1);
    let mut events = Vec::new();
    slash(
        &mut chain.state,
        &mut m,
        500,
        SlashReason::AttestationRevoked,
        &mut events,
    )
    .unwrap();
    store_miner(&mut chain.state, &m);
    let pool = chain.pool_info(id);
    assert_eq!(pool.bound, 2_000 * PHA);
    assert_eq!(pool_value(&chain.state, &pool).unwrap(), 2_000 * PHA);
    // Charlie held 3/4 of the shares and dave 1/4: each lost half.
    let value = |who: &str| {
        let shares = shares_of(&chain.state, id, &key(who).account()).unwrap();
        shares_value(&chain.state, &pool, shares).unwrap()
    };
    assert_eq!(value("charlie"), 1_500 * PHA);
    assert_eq!(value("dave"), 500 * PHA);
    // A newcomer buys at the lower price: 1,000 PHA for 2,000 shares' worth of the old count.
    chain.ok(
        &key("eve"),
        MiningCall::Contribute {
            pool: id,
            amount: 1_000 * PHA,
        },
    );
    assert_eq!(
        shares_of(&chain.state, id, &key("eve").account()).unwrap(),
        2_000 * PHA
    );
    chain.end_block();
}

#[test]
fn a_revoked_tcb_stops_and_slashes_and_a_revoked_measurement_only_stops() {
    let mut chain = TestChain::new();
    // w1 runs on an out-of-date platform, w2 on an up-to-date one.
    let w1 = worker_identity("w1");
    let registration = chain.registration_with(&w1, &key("alice").account(), |report| {
        report.tcb_status = phalanx_attestation::TcbStatus::OutOfDate;
    });
    assert_eq!(chain.register(&key("alice"), registration).error, None);
    let w1 = w1.account().0;
    let w2 = chain.mining_worker(&key("alice"), "w2");
    let id = chain.pool(&key("alice"), 0);
    chain.computing_in_pool(id, &[w1, w2]);
    chain.end_block();
    // Governance now requires an up-to-date TCB: w1's platform is revoked.
    let mut policy = registry::policy(&chain.state).unwrap();
    policy.minimum_tcb_status = phalanx_attestation::TcbStatus::UpToDate;
    assert_eq!(
        chain
            .root_dispatch(PrivilegedCall::SetAttestationPolicy(policy.clone()))
            .error,
        None
    );
    chain.run_online(65, &[w1, w2]);
    let m1 = chain.miner_info(&w1);
    assert_eq!(m1.state, MinerState::CoolingDown);
    assert_eq!(m1.slashed, LEAST_STAKE, "half of 2,000 PHA");
    assert!(chain.block_events.iter().any(|e| matches!(
        e,
        Event::WorkerSlashed { reason: SlashReason::AttestationRevoked, worker, .. } if *worker == w1
    )));
    assert_eq!(chain.miner_info(&w2).state, MinerState::Computing);
    // Then the worker build itself is withdrawn: w2 stops, without a slash.
    policy.allowed_measurements.clear();
    policy.allowed_measurements.push([9; 32]);
    assert_eq!(
        chain
            .root_dispatch(PrivilegedCall::SetAttestationPolicy(policy))
            .error,
        None
    );
    chain.run_online(65, &[w2]);
    let m2 = chain.miner_info(&w2);
    assert_eq!(m2.state, MinerState::CoolingDown);
    assert_eq!(m2.slashed, 0);
}

#[test]
fn a_later_deny_list_or_collateral_minimum_revokes_running_workers() {
    let mut chain = TestChain::new();
    // w1's platform is affected by an advisory; w2 and w3 are not.
    let w1 = worker_identity("w1");
    let registration = chain.registration_with(&w1, &key("alice").account(), |report| {
        report.advisory_ids = vec!["INTEL-SA-00615".into()];
    });
    assert_eq!(chain.register(&key("alice"), registration).error, None);
    let w1 = w1.account().0;
    let recorded = registry::worker(&chain.state, &w1).unwrap().unwrap();
    assert_eq!(recorded.advisory_ids, ["INTEL-SA-00615"]);
    assert_eq!(recorded.tcb_evaluation_data_number, None, "no collateral");
    let w2 = chain.mining_worker(&key("alice"), "w2");
    let w3 = chain.mining_worker(&key("alice"), "w3");
    // w2 stands for a DCAP worker whose collateral carried evaluation number 16 (the runtime
    // tests can't register a real quote bound to their chain, so its record is written here);
    // w3 keeps no number, as a simulated quote has no collateral.
    let mut info = registry::worker(&chain.state, &w2).unwrap().unwrap();
    info.tcb_evaluation_data_number = Some(16);
    registry::store_worker(&mut chain.state, &info);
    let id = chain.pool(&key("alice"), 0);
    chain.computing_in_pool(id, &[w1, w2, w3]);
    chain.end_block();
    let set_policy =
        |chain: &mut TestChain, policy: &phalanx_primitives::attestation::AttestationPolicy| {
            let receipt = chain.root_dispatch(PrivilegedCall::SetAttestationPolicy(policy.clone()));
            assert_eq!(receipt.error, None);
        };
    // Governance denies the advisory: w1 is revoked at the next settlement, slashed and
    // stopped, as a TCB the policy no longer accepts would be.
    let mut policy = registry::policy(&chain.state).unwrap();
    policy.denied_advisories = vec!["INTEL-SA-00615".into()];
    set_policy(&mut chain, &policy);
    chain.run_online(65, &[w1, w2, w3]);
    let m1 = chain.miner_info(&w1);
    assert_eq!(m1.state, MinerState::CoolingDown);
    assert_eq!(m1.slashed, LEAST_STAKE, "half of 2,000 PHA");
    for w in [w2, w3] {
        assert_eq!(chain.miner_info(&w).state, MinerState::Computing);
    }
    // A minimum of 16 is met; 17 revokes w2 and not w3, which has no collateral to judge.
    policy.min_tcb_evaluation_data_number = 16;
    set_policy(&mut chain, &policy);
    chain.run_online(65, &[w2, w3]);
    assert_eq!(chain.miner_info(&w2).state, MinerState::Computing);
    policy.min_tcb_evaluation_data_number = 17;
    set_policy(&mut chain, &policy);
    chain.run_online(65, &[w2, w3]);
    let m2 = chain.miner_info(&w2);
    assert_eq!(m2.state, MinerState::CoolingDown);
    assert_eq!(m2.slashed, LEAST_STAKE);
    assert!(chain.block_events.iter().any(|e| matches!(
        e,
        Event::WorkerSlashed { reason: SlashReason::AttestationRevoked, worker, .. } if *worker == w2
    )));
    let m3 = chain.miner_info(&w3);
    assert_eq!((m3.state, m3.slashed), (MinerState::Computing, 0));
}

#[test]
fn stopping_first_and_re_registering_patched_does_not_escape_a_revocation_slash() {
    let mut chain = TestChain::new();
    let w1 = worker_identity("w1");
    let registration = chain.registration_with(&w1, &key("alice").account(), |report| {
        report.tcb_status = phalanx_attestation::TcbStatus::OutOfDate;
    });
    assert_eq!(chain.register(&key("alice"), registration).error, None);
    let id = chain.pool(&key("alice"), 0);
    chain.ok(
        &key("charlie"),
        MiningCall::Contribute {
            pool: id,
            amount: 10_000 * PHA,
        },
    );
    chain.ok(
        &key("alice"),
        MiningCall::AddWorker {
            pool: id,
            worker: w1.account().0,
        },
    );
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1.account().0,
            stake: 2 * LEAST_STAKE,
        },
    );
    chain.end_block();
    let mut policy = registry::policy(&chain.state).unwrap();
    policy.minimum_tcb_status = phalanx_attestation::TcbStatus::UpToDate;
    chain.root_dispatch(PrivilegedCall::SetAttestationPolicy(policy));
    // The owner stops it at once, before any settlement sees it…
    chain.ok(
        &key("alice"),
        MiningCall::StopWorker {
            pool: id,
            worker: w1.account().0,
        },
    );
    assert!(chain.miner_info(&w1.account().0).revoked_when_stopped);
    chain.end_block();
    // …and re-registers it on a patched platform during the cooldown.
    chain.run_blocks(3);
    let patched = chain.registration(&w1, &key("alice").account());
    assert_eq!(chain.register(&key("alice"), patched).error, None);
    chain.end_block();
    chain.run_blocks(62);
    let receipt = chain.ok(
        &key("bob"),
        MiningCall::ReclaimWorker {
            pool: id,
            worker: w1.account().0,
        },
    );
    assert!(receipt.events.iter().any(|e| matches!(
        e,
        Event::WorkerSlashed { reason: SlashReason::AttestationRevoked, amount, .. }
            if *amount == LEAST_STAKE
    )));
    let m = chain.miner_info(&w1.account().0);
    assert_eq!(
        (m.slashed, m.stake, m.state),
        (LEAST_STAKE, 0, MinerState::Ready)
    );
    chain.end_block();
}

#[test]
fn bankrupt_and_dust_pools_are_explicit() {
    let (mut chain, id, w1, _) = pool_with_workers(0, LEAST_STAKE as u64 / PHA as u64);
    // Past the contribution's lock, with nothing computing (so no reward lands).
    chain.run_blocks(125);
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: LEAST_STAKE,
        },
    );
    // Slash everything: the pool is worth nothing while charlie still has shares.
    let mut m = chain.miner_info(&w1);
    let mut events = Vec::new();
    slash(
        &mut chain.state,
        &mut m,
        1000,
        SlashReason::AttestationRevoked,
        &mut events,
    )
    .unwrap();
    store_miner(&mut chain.state, &m);
    chain.refused(
        &key("dave"),
        MiningCall::Contribute {
            pool: id,
            amount: PHA,
        },
        MiningError::PoolBankrupt(id),
    );
    // Withdrawing burns the shares for nothing.
    let receipt = chain.ok(
        &key("charlie"),
        MiningCall::Withdraw {
            pool: id,
            shares: LEAST_STAKE,
        },
    );
    assert!(receipt.events.contains(&Event::PoolWithdrawn {
        pool: id,
        who: key("charlie").account(),
        amount: 0,
        shares: LEAST_STAKE,
    }));
    // An empty pool starts again at one share per unit.
    chain.ok(
        &key("dave"),
        MiningCall::Contribute {
            pool: id,
            amount: 5 * PHA,
        },
    );
    assert_eq!(
        shares_of(&chain.state, id, &key("dave").account()).unwrap(),
        5 * PHA
    );
    chain.refused(
        &key("dave"),
        MiningCall::Contribute {
            pool: id,
            amount: 0,
        },
        MiningError::ZeroAmount,
    );
}

#[test]
fn caps_and_allow_lists_bound_contributions() {
    let mut chain = TestChain::new();
    chain.ok(
        &key("alice"),
        MiningCall::CreatePool {
            commission_per_mille: 0,
            cap: Some(1_000 * PHA),
            allow_list: Some(vec![key("bob").account()]),
        },
    );
    chain.refused(
        &key("charlie"),
        MiningCall::Contribute {
            pool: 0,
            amount: PHA,
        },
        MiningError::NotAllowed(0),
    );
    // Less than a whole holding (1 PHA of shares at the first price) buys nothing.
    chain.refused(
        &key("bob"),
        MiningCall::Contribute {
            pool: 0,
            amount: PHA / 2,
        },
        MiningError::ContributionTooSmall(PHA / 2),
    );
    chain.ok(
        &key("bob"),
        MiningCall::Contribute {
            pool: 0,
            amount: 900 * PHA,
        },
    );
    chain.refused(
        &key("bob"),
        MiningCall::Contribute {
            pool: 0,
            amount: 101 * PHA,
        },
        MiningError::OverCap {
            pool: 0,
            cap: 1_000 * PHA,
            value: 900 * PHA,
        },
    );
    chain.refused(
        &key("bob"),
        MiningCall::Contribute {
            pool: 9,
            amount: PHA,
        },
        MiningError::NoSuchPool(9),
    );
}

#[test]
fn settlement_works_in_slices_across_blocks() {
    // Many workers and a tiny slice: closing and paying a day take several blocks, and the
    // day still pays exactly its budget.
    let mut chain = TestChain::new();
    let names = ["w1", "w2", "w3", "w4"];
    let id = chain.pool(&key("alice"), 0);
    chain.ok(
        &key("charlie"),
        MiningCall::Contribute {
            pool: id,
            amount: 10_000 * PHA,
        },
    );
    let workers: Vec<[u8; 32]> = names
        .iter()
        .map(|n| chain.mining_worker(&key("alice"), n))
        .collect();
    for w in &workers {
        chain.ok(
            &key("alice"),
            MiningCall::AddWorker {
                pool: id,
                worker: *w,
            },
        );
        chain.ok(
            &key("alice"),
            MiningCall::StartWorker {
                pool: id,
                worker: *w,
                stake: LEAST_STAKE,
            },
        );
    }
    // The least slice the bounds allow is 100; force 1 directly to see the slicing.
    let mut params = params(&chain.state).unwrap();
    params.settle_slice = 1;
    set_params(&mut chain.state, &params);
    chain.run_online(70, &workers);
    let s = settlement(&chain.state).unwrap();
    assert_eq!(s.phase, SettlementPhase::Idle);
    let day = chain.days().into_iter().find(|d| d.workers > 0).unwrap();
    assert_eq!(day.workers, 4);
    assert_eq!(day.paid + day.kept_in_pot, day.budget);
    assert!(day.kept_in_pot <= 4);
    // Equal workers earn equally (to the unit).
    let earned: Vec<Balance> = workers.iter().map(|w| chain.miner_info(w).earned).collect();
    assert!(earned.iter().all(|e| *e == earned[0]), "{earned:?}");
}

#[test]
fn issuance_never_passes_the_maximum_and_the_pot_only_shrinks() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 2_000);
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: LEAST_STAKE,
        },
    );
    let mut pot = chain.free_of(&genesis::mining_pot());
    for _ in 0..4 {
        chain.run_online(60, &[w1]);
        let now = chain.free_of(&genesis::mining_pot());
        assert!(now <= pot);
        pot = now;
        assert!(balances::total_issuance(&chain.state).unwrap() <= MAX_SUPPLY);
    }
    assert!(pot < 700_000_000 * PHA);
}

#[test]
fn value_moves_by_whole_hours_up_online_and_down_unresponsive() {
    let (mut chain, id, w1, _) = pool_with_workers(0, 2_000);
    chain.ok(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: LEAST_STAKE,
        },
    );
    let work = work_params(&params(&chain.state).unwrap());
    let mut m = chain.miner_info(&w1);
    let start = m.accrued_to_ms;
    let ve = Fixed::from_raw(m.value_raw);
    // 90 minutes online: one whole hour of growth, the half hour carried.
    segment(&mut m, &work, start + 90 * 60_000).unwrap();
    assert_eq!(m.value_raw, work::grown(&work, ve, 1).raw());
    assert_eq!(m.value_anchor_ms, start + HOUR_MS);
    // Points: share × 1.5 hours.
    let share = work::share(ve, 100, Fixed::ONE).unwrap();
    assert_eq!(
        m.points_raw,
        work::points(share, 90 * 60_000).unwrap().raw()
    );
    // A day unresponsive: 24 hours of decay, no points.
    let points = m.points_raw;
    m.state = MinerState::Unresponsive;
    let v = Fixed::from_raw(m.value_raw);
    segment(&mut m, &work, start + HOUR_MS + 24 * HOUR_MS).unwrap();
    assert_eq!(m.value_raw, work::decayed(&work, v, 24).raw());
    assert!(m.value_raw < ve.raw());
    assert_eq!(m.points_raw, points);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random contributions, withdrawals, rewards and slashes: after each, value = free +
    /// bound + releasing, the shares add up, and every holder's shares are worth their part of
    /// the value within rounding.
    #[test]
    fn pool_invariants_hold_after_every_action(
        actions in proptest::collection::vec((0u8..5, 1u64..5_000, 0usize..3), 1..25)
    ) {
        let (mut chain, id, w1, _) = pool_with_workers(100, 2_000);
        chain.ok(&key("alice"), MiningCall::StartWorker { pool: id, worker: w1, stake: LEAST_STAKE });
        let holders = ["charlie", "dave", "eve"];
        for (kind, amount, who) in actions {
            let who = key(holders[who]);
            match kind {
                0 => { chain.apply(&who, mining(MiningCall::Contribute { pool: id, amount: u128::from(amount) * PHA })); }
                1 => {
                    let have = shares_of(&chain.state, id, &who.account()).unwrap();
                    let shares = have.min(u128::from(amount) * PHA);
                    if shares > 0 {
                        chain.apply(&who, mining(MiningCall::Withdraw { pool: id, shares }));
                    }
                }
                2 => {
                    // A reward lands on the pool's free stake.
                    let pool = chain.pool_info(id);
                    balances::transfer_free(&mut chain.state, &genesis::mining_pot(), &pool.account, u128::from(amount) * PHA / 7).unwrap();
                }
                3 => {
                    let mut m = chain.miner_info(&w1);
                    if m.stake > 0 {
                        let mut events = Vec::new();
                        slash(&mut chain.state, &mut m, (amount % 1000) as u16, SlashReason::Unresponsive, &mut events).unwrap();
                        store_miner(&mut chain.state, &m);
                    }
                }
                _ => chain.run_online(3, &[w1]),
            }
            let pool = chain.pool_info(id);
            let value = pool_value(&chain.state, &pool).unwrap();
            prop_assert_eq!(value, free_stake(&chain.state, &pool).unwrap() + pool.bound + pool.releasing);
            let mut priced = 0u128;
            for (holder, shares) in shareholders(&chain.state, id).unwrap() {
                let _ = holder;
                priced += shares_value(&chain.state, &pool, shares).unwrap();
            }
            for request in queue(&chain.state, id).unwrap() {
                priced += shares_value(&chain.state, &pool, request.shares).unwrap();
            }
            // Shares × price = value, each holder rounded down by less than a unit.
            prop_assert!(priced <= value);
            prop_assert!(value - priced <= 5 || pool.shares == 0, "{} vs {}", priced, value);
            chain.end_block();
        }
    }
}

/// `identity` (worker `name`) signs message `sequence` with `payload`.
fn signed_by(
    chain: &TestChain,
    name: &str,
    origin: Origin,
    sequence: u64,
    payload: &[u8],
) -> SignedMessage {
    SignedMessage::new(
        origin,
        sequence,
        b"note".to_vec(),
        payload.to_vec(),
        &worker_identity(name),
        &chain.ctx.genesis_hash,
    )
}

fn report_conflict(message: SignedMessage) -> Call {
    Call::MessageQueue(MessageQueueCall::ReportConflict(message))
}

#[test]
fn two_messages_signed_for_one_sequence_ban_slash_and_stop_the_worker_once() {
    use crate::message_queue::MessageQueueError;
    let (mut chain, id, w1, w2) = pool_with_workers(0, 10_000);
    for worker in [w1, w2] {
        chain.ok(
            &key("alice"),
            MiningCall::StartWorker {
                pool: id,
                worker,
                stake: 2 * LEAST_STAKE,
            },
        );
    }
    let origin = Origin::Worker(w1);
    let accepted = signed_by(&chain, "w1", origin, 0, b"first");
    let pushed = chain.apply(
        &key("bob"),
        Call::MessageQueue(MessageQueueCall::Push(accepted.clone())),
    );
    assert_eq!(pushed.error, None);
    chain.end_block();

    // Refused evidence changes nothing but the reporter's fee.
    let refusals = [
        (accepted.clone(), MessageQueueError::SameMessage),
        (
            signed_by(&chain, "w1", origin, 1, b"second"),
            MessageQueueError::NoMessageAtSequence(1),
        ),
        // Signed by another enclave in w1's name.
        (
            signed_by(&chain, "w2", origin, 0, b"forged"),
            MessageQueueError::BadSignature,
        ),
        (
            signed_by(&chain, "w1", Origin::Cluster([1; 32]), 0, b"x"),
            MessageQueueError::UnknownOriginKind { kind: "cluster" },
        ),
    ];
    for (message, error) in refusals {
        chain.begin();
        let mut expected = chain.state.clone();
        let receipt = chain.apply(&key("charlie"), report_conflict(message));
        assert_eq!(receipt.error, Some(code(error)));
        crate::system::charge(&mut expected, &key("charlie").account(), receipt.fee).unwrap();
        assert_eq!(
            chain.state.root(),
            expected.root(),
            "refused evidence changed state"
        );
    }
    chain.end_block();

    // The real thing: same sequence, other payload, w1's own signature.
    let charlie_before = chain.free_of(&key("charlie").account());
    let treasury_before = chain.free_of(&crate::treasury::account());
    let conflicting = signed_by(&chain, "w1", origin, 0, b"other");
    let receipt = chain.apply(&key("charlie"), report_conflict(conflicting.clone()));
    assert_eq!(receipt.error, None, "{:?}", receipt.events);
    assert!(receipt.events.contains(&Event::EnclaveBanned {
        identity: w1,
        reason: SlashReason::ConflictingMessages,
    }));
    // Half of its 2,000 PHA goes to the treasury, out of the pool its delegators own.
    assert!(receipt.events.contains(&Event::WorkerSlashed {
        pool: id,
        worker: w1,
        amount: LEAST_STAKE,
        reason: SlashReason::ConflictingMessages,
    }));
    assert!(receipt.events.contains(&Event::WorkerStopped {
        pool: id,
        worker: w1,
        forced: true,
    }));
    assert_eq!(
        chain.free_of(&key("charlie").account()),
        charlie_before,
        "evidence is free"
    );
    assert_eq!(
        chain.free_of(&crate::treasury::account()),
        treasury_before + LEAST_STAKE
    );
    assert_eq!(chain.miner_info(&w1).state, MinerState::CoolingDown);
    assert_eq!(chain.pool_info(id).slashed, LEAST_STAKE);
    assert_eq!(
        chain.miner_info(&w2).state,
        MinerState::Computing,
        "w2 untouched"
    );
    // Once: more evidence against it is refused.
    let again = chain.apply(
        &key("charlie"),
        report_conflict(signed_by(&chain, "w1", origin, 0, b"third")),
    );
    assert_eq!(
        again.error,
        Some(code(MessageQueueError::Banned(hex::encode(w1))))
    );
    chain.end_block();
    // After its cooldown its remaining stake comes back to the pool, and it never starts again.
    chain.run_online(61, &[w2]);
    chain.ok(
        &key("alice"),
        MiningCall::ReclaimWorker {
            pool: id,
            worker: w1,
        },
    );
    chain.refused(
        &key("alice"),
        MiningCall::StartWorker {
            pool: id,
            worker: w1,
            stake: 2 * LEAST_STAKE,
        },
        MiningError::Banned(hex::encode(w1)),
    );
    chain.end_block();
}

#[test]
fn a_gatekeepers_conflicting_messages_slash_and_remove_it() {
    let mut chain = TestChain::new();
    let gk = chain.mining_worker(&key("alice"), "w1");
    // Appointed, removed (its stake unbonding), appointed again, and a cluster member.
    for call in [
        PrivilegedCall::AppointGatekeeper(gk),
        PrivilegedCall::RemoveGatekeeper(gk),
        PrivilegedCall::AppointGatekeeper(gk),
        PrivilegedCall::CreateCluster,
        PrivilegedCall::AddClusterWorker {
            cluster: 0,
            worker: gk,
        },
    ] {
        assert_eq!(chain.root_dispatch(call).error, None);
    }
    chain.end_block();
    let stake = crate::gatekeeper::gatekeeper(&chain.state, &gk)
        .unwrap()
        .unwrap()
        .stake;
    assert_eq!(
        crate::gatekeeper::unbondings(&chain.state).unwrap().len(),
        1
    );
    let origin = Origin::Gatekeeper(gk);
    let pushed = chain.apply(
        &key("bob"),
        Call::MessageQueue(MessageQueueCall::Push(signed_by(
            &chain, "w1", origin, 0, b"a",
        ))),
    );
    assert_eq!(pushed.error, None);
    let receipt = chain.apply(
        &key("bob"),
        report_conflict(signed_by(&chain, "w1", origin, 0, b"b")),
    );
    assert_eq!(receipt.error, None, "{:?}", receipt.events);
    // Both its serving stake and the stake still unbonding from its first appointment.
    let slashed: Vec<Balance> = receipt
        .events
        .iter()
        .filter_map(|e| match e {
            Event::GatekeeperSlashed {
                identity,
                operator,
                amount,
                reason: SlashReason::ConflictingMessages,
            } if *identity == gk && *operator == key("alice").account() => Some(*amount),
            _ => None,
        })
        .collect();
    assert_eq!(slashed, vec![stake / 2, stake / 2]);
    assert!(
        !crate::gatekeeper::is_member(&chain.state, 0, &gk),
        "out of its cluster"
    );
    assert!(receipt
        .events
        .iter()
        .any(|e| matches!(e, Event::GatekeeperRemoved { identity, .. } if *identity == gk)));
    assert!(!crate::gatekeeper::is_appointed(&chain.state, &gk).unwrap());
    // The other halves unbond as after any removal.
    let unbonding = crate::gatekeeper::unbondings(&chain.state).unwrap();
    assert_eq!(
        unbonding.iter().map(|u| u.amount).collect::<Vec<_>>(),
        vec![stake - stake / 2, stake - stake / 2]
    );
    // It can't be appointed again, nor speak as a gatekeeper or a worker.
    assert_eq!(
        chain
            .root_dispatch(PrivilegedCall::AppointGatekeeper(gk))
            .error,
        Some(code(crate::gatekeeper::GatekeeperError::Banned(
            String::new()
        )))
    );
    let refused = chain.apply(
        &key("bob"),
        Call::MessageQueue(MessageQueueCall::Push(signed_by(
            &chain,
            "w1",
            Origin::Worker(gk),
            0,
            b"c",
        ))),
    );
    assert_eq!(
        refused.error,
        Some(code(crate::message_queue::MessageQueueError::Banned(
            hex::encode(gk)
        )))
    );
    chain.end_block();
}
