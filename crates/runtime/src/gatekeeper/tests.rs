//! Gatekeepers: appointment and stake, removal and unbonding, key epochs, clusters, key
//! messages (honest, replayed, conflicting, from strangers), each refusal with its own error.

use super::*;
use crate::message_queue::{self, MessageQueueError};
use crate::registry::tests::worker_identity;
use crate::testing::*;
use crate::Receipt;
use parity_scale_codec::Encode;
use phalanx_primitives::call::{
    Call, MessageQueueCall, Origin, PrivilegedCall, RootCall, SignedMessage,
};
use phalanx_primitives::gatekeeper::KEY_TOPIC;
use phalanx_primitives::{Keypair, PHA};

/// Gatekeeper steps on the shared driver.
impl TestChain {
    /// Alice (root) executes `call` in the open block.
    fn root(&mut self, call: PrivilegedCall) -> Receipt {
        self.apply(&key("alice"), Call::Root(RootCall::Dispatch(call)))
    }

    /// `operator` registers worker `name`; returns its identity key.
    fn worker(&mut self, name: &str, operator: &Keypair) -> Keypair {
        let identity = worker_identity(name);
        let registration = self.registration(&identity, &operator.account());
        assert_eq!(self.register(operator, registration).error, None);
        identity
    }

    /// Relays key message `message` from gatekeeper `from` with its next sequence (bob relays).
    fn key_message(&mut self, from: &Keypair, message: &KeyMessage) -> Receipt {
        let origin = Origin::Gatekeeper(from.account().0);
        let sequence = message_queue::next_sequence(&self.state, &origin).expect("sequence");
        let signed = SignedMessage::new(
            origin,
            sequence,
            KEY_TOPIC.to_vec(),
            message.encode(),
            from,
            &self.ctx.genesis_hash,
        );
        self.apply(
            &key("bob"),
            Call::MessageQueue(MessageQueueCall::Push(signed)),
        )
    }

    /// Relays `message` and asserts it was queued but its effect refused with `error`.
    fn key_message_refused(
        &mut self,
        from: &Keypair,
        message: &KeyMessage,
        error: GatekeeperError,
    ) {
        let receipt = self.key_message(from, message);
        assert_eq!(receipt.error, None, "the push itself succeeds");
        let refused = receipt.events.iter().any(|e| {
            matches!(e, Event::KeyMessageRefused { error: code, .. }
                if *code == crate::DispatchError::from(error.clone()).code())
        });
        assert!(refused, "expected {error:?} in {:?}", receipt.events);
    }
}

fn reserved(chain: &TestChain, who: &Keypair) -> Balance {
    balances::account(&chain.state, &who.account())
        .expect("account")
        .reserved
}

/// A chain with two registered workers (operators charlie and dave) appointed as gatekeepers.
fn two_gatekeepers() -> (TestChain, Keypair, Keypair) {
    let mut chain = TestChain::new();
    let g1 = chain.worker("g1", &key("charlie"));
    let g2 = chain.worker("g2", &key("dave"));
    for g in [&g1, &g2] {
        assert_eq!(
            chain
                .root(PrivilegedCall::AppointGatekeeper(g.account().0))
                .error,
            None
        );
    }
    chain.end_block();
    (chain, g1, g2)
}

#[test]
fn appointment_reserves_stake_and_requests_epoch_zero() {
    let mut chain = TestChain::new();
    let charlie = key("charlie");
    let g1 = chain.worker("g1", &charlie);
    let stake = params(&chain.state).expect("params").stake;
    assert_eq!(
        stake,
        crate::params::MIN_GATEKEEPER_STAKE,
        "dev genesis stake"
    );
    let receipt = chain.root(PrivilegedCall::AppointGatekeeper(g1.account().0));
    assert_eq!(receipt.error, None);
    assert!(receipt
        .events
        .contains(&Event::KeyEpochRequested { epoch: 0 }));
    assert_eq!(reserved(&chain, &charlie), stake);
    assert_eq!(requested_epoch(&chain.state), Ok(Some(0)));
    assert_eq!(current_epoch(&chain.state), Ok(None));
    let record = gatekeeper(&chain.state, &g1.account().0)
        .expect("read")
        .expect("appointed");
    assert_eq!((record.operator, record.stake), (charlie.account(), stake));
    // Appointing again, or an unregistered key, is refused and changes nothing.
    let again = chain.root(PrivilegedCall::AppointGatekeeper(g1.account().0));
    assert_eq!(
        again.error,
        Some(code(GatekeeperError::AlreadyAppointed(hex::encode(
            g1.account().0
        ))))
    );
    let stranger = Keypair::dev("stranger").account().0;
    let unregistered = chain.root(PrivilegedCall::AppointGatekeeper(stranger));
    assert_eq!(
        unregistered.error,
        Some(code(GatekeeperError::UnregisteredWorker(hex::encode(
            stranger
        ))))
    );
    assert_eq!(reserved(&chain, &charlie), stake);
    chain.end_block();
}

#[test]
fn an_operator_without_the_stake_cannot_have_a_gatekeeper() {
    let mut chain = TestChain::new();
    let poor = Keypair::dev("poor");
    // Enough to pay fees and register, not enough to stake.
    assert_eq!(
        chain
            .call(&key("alice"), transfer_to("poor", 10 * PHA))
            .error,
        None
    );
    let worker = chain.worker("p", &poor);
    let receipt = chain.root(PrivilegedCall::AppointGatekeeper(worker.account().0));
    let error = receipt.error.expect("refused");
    assert_eq!(
        error.module, "balances",
        "the balance rule that refused: {error}"
    );
    assert_eq!(is_appointed(&chain.state, &worker.account().0), Ok(false));
    chain.end_block();
}

#[test]
fn only_root_or_governance_appoints() {
    let mut chain = TestChain::new();
    let g1 = chain.worker("g1", &key("charlie"));
    // Bob is not root: the root module refuses him.
    let receipt = chain.apply(
        &key("bob"),
        Call::Root(RootCall::Dispatch(PrivilegedCall::AppointGatekeeper(
            g1.account().0,
        ))),
    );
    assert_eq!(receipt.error.map(|e| e.module), Some("root".to_string()));
    assert_eq!(is_appointed(&chain.state, &g1.account().0), Ok(false));
    let rotate = chain.apply(
        &key("bob"),
        Call::Root(RootCall::Dispatch(PrivilegedCall::RotateKeys)),
    );
    assert_eq!(rotate.error.map(|e| e.module), Some("root".to_string()));
    chain.end_block();
}

#[test]
fn removal_unbonds_in_chain_time_then_frees_the_stake() {
    let (mut chain, g1, _g2) = two_gatekeepers();
    let charlie = key("charlie");
    let stake = params(&chain.state).expect("params").stake;
    let removed_at = chain.ctx.timestamp_ms;
    let receipt = chain.root(PrivilegedCall::RemoveGatekeeper(g1.account().0));
    assert_eq!(receipt.error, None);
    let release_at_ms = removed_at + crate::params::MIN_GATEKEEPER_UNBONDING_MS;
    assert!(receipt.events.contains(&Event::GatekeeperRemoved {
        identity: g1.account().0,
        release_at_ms
    }));
    assert_eq!(is_appointed(&chain.state, &g1.account().0), Ok(false));
    chain.end_block();
    // Still reserved until chain time passes the release (TestChain blocks are 1 s apart).
    while chain.ctx.timestamp_ms < release_at_ms {
        assert_eq!(
            reserved(&chain, &charlie),
            stake,
            "at {}",
            chain.ctx.timestamp_ms
        );
        chain.end_block();
    }
    chain.end_block();
    assert_eq!(reserved(&chain, &charlie), 0);
    assert!(chain.block_events.iter().any(|e| matches!(
        e,
        Event::GatekeeperStakeReleased { amount, .. } if *amount == stake
    )));
    assert_eq!(unbondings(&chain.state), Ok(vec![]));
    // Removing again is refused.
    let again = chain.root(PrivilegedCall::RemoveGatekeeper(g1.account().0));
    assert_eq!(
        again.error,
        Some(code(GatekeeperError::NotAppointed(hex::encode(
            g1.account().0
        ))))
    );
    chain.end_block();
}

#[test]
fn the_first_master_key_wins_and_shares_make_holders() {
    let (mut chain, g1, g2) = two_gatekeepers();
    let master = KeyMessage::MasterKey {
        epoch: 0,
        public_key: [7; 32],
    };
    let receipt = chain.key_message(&g1, &master);
    assert_eq!(receipt.error, None);
    assert!(receipt.events.contains(&Event::MasterKeyPublished {
        epoch: 0,
        public_key: [7; 32],
        generator: g1.account().0
    }));
    assert_eq!(current_epoch(&chain.state), Ok(Some(0)));
    assert_eq!(requested_epoch(&chain.state), Ok(None));
    assert!(holds(&chain.state, 0, &g1.account().0));
    // A second master for the same epoch (a race, or a forgery) is refused: not requested.
    chain.key_message_refused(
        &g2,
        &KeyMessage::MasterKey {
            epoch: 0,
            public_key: [8; 32],
        },
        GatekeeperError::EpochNotRequested(0),
    );
    assert_eq!(
        key_epoch(&chain.state, 0)
            .expect("read")
            .and_then(|e| e.master_public),
        Some([7; 32])
    );
    // g2 does not hold epoch 0, so it cannot share it or publish cluster keys.
    let share_to_g1 = KeyMessage::MasterKeyShare {
        epoch: 0,
        gatekeeper: g1.account().0,
        sealed: vec![1; 80],
    };
    chain.key_message_refused(&g2, &share_to_g1, GatekeeperError::NotHolder(0));
    // g1 shares with g2: stored once, g2 now holds it.
    let share = KeyMessage::MasterKeyShare {
        epoch: 0,
        gatekeeper: g2.account().0,
        sealed: vec![2; 80],
    };
    let receipt = chain.key_message(&g1, &share);
    assert!(receipt.events.contains(&Event::MasterKeyShared {
        epoch: 0,
        gatekeeper: g2.account().0
    }));
    assert!(holds(&chain.state, 0, &g2.account().0));
    assert_eq!(
        master_share(&chain.state, 0, &g2.account().0),
        Some(vec![2; 80])
    );
    // The identical share again (from g2, which now holds it, or g1) is a no-op...
    let root = chain.state.root();
    let receipt = chain.key_message(&g2, &share);
    assert!(!receipt.events.iter().any(|e| matches!(
        e,
        Event::MasterKeyShared { .. } | Event::KeyMessageRefused { .. }
    )));
    assert_ne!(chain.state.root(), root, "only the queue and fees moved");
    // ...a different one is a conflict, evidence against its sender.
    let conflicting = KeyMessage::MasterKeyShare {
        epoch: 0,
        gatekeeper: g2.account().0,
        sealed: vec![3; 80],
    };
    chain.key_message_refused(&g1, &conflicting, GatekeeperError::ConflictingKey);
    assert_eq!(
        master_share(&chain.state, 0, &g2.account().0),
        Some(vec![2; 80])
    );
    chain.end_block();
    // Removed, g2's enclave erases the master: the chain forgets it held one and its share, so
    // once re-appointed it is shared the epoch again.
    chain.root(PrivilegedCall::RemoveGatekeeper(g2.account().0));
    assert!(!holds(&chain.state, 0, &g2.account().0));
    assert_eq!(master_share(&chain.state, 0, &g2.account().0), None);
    assert!(holds(&chain.state, 0, &g1.account().0));
    chain.root(PrivilegedCall::AppointGatekeeper(g2.account().0));
    let receipt = chain.key_message(&g1, &share);
    assert!(receipt.events.contains(&Event::MasterKeyShared {
        epoch: 0,
        gatekeeper: g2.account().0
    }));
    assert!(holds(&chain.state, 0, &g2.account().0));
    chain.end_block();
}

#[test]
fn strangers_removed_gatekeepers_and_bad_payloads_are_refused() {
    let (mut chain, g1, g2) = two_gatekeepers();
    let master = KeyMessage::MasterKey {
        epoch: 0,
        public_key: [7; 32],
    };
    // A registered worker that is not a gatekeeper cannot speak as one.
    let worker = chain.worker("w", &key("eve"));
    let receipt = chain.key_message(&worker, &master);
    assert_eq!(
        receipt.error,
        Some(code(MessageQueueError::NotAGatekeeper {
            identity: hex::encode(worker.account().0)
        }))
    );
    assert_eq!(
        requested_epoch(&chain.state),
        Ok(Some(0)),
        "nothing published"
    );
    // Garbage and oversized sealed keys are queued but refused.
    let origin = Origin::Gatekeeper(g1.account().0);
    let garbage = SignedMessage::new(
        origin,
        0,
        KEY_TOPIC.to_vec(),
        vec![9, 9, 9],
        &g1,
        &chain.ctx.genesis_hash,
    );
    let receipt = chain.apply(
        &key("bob"),
        Call::MessageQueue(MessageQueueCall::Push(garbage)),
    );
    assert!(receipt
        .events
        .iter()
        .any(|e| matches!(e, Event::KeyMessageRefused { error, .. } if error.reason == "malformed_message")));
    assert_eq!(chain.key_message(&g1, &master).error, None);
    chain.key_message_refused(
        &g1,
        &KeyMessage::MasterKeyShare {
            epoch: 0,
            gatekeeper: g2.account().0,
            sealed: vec![0; MAX_SEALED_KEY_BYTES + 1],
        },
        GatekeeperError::SealedKeyTooLarge(MAX_SEALED_KEY_BYTES + 1),
    );
    // Removed: g2's messages are refused at the queue, whatever they say.
    assert_eq!(
        chain
            .root(PrivilegedCall::RemoveGatekeeper(g2.account().0))
            .error,
        None
    );
    let receipt = chain.key_message(&g2, &master);
    assert_eq!(
        receipt.error,
        Some(code(MessageQueueError::NotAGatekeeper {
            identity: hex::encode(g2.account().0)
        }))
    );
    // And nothing can be shared to it any more.
    chain.key_message_refused(
        &g1,
        &KeyMessage::MasterKeyShare {
            epoch: 0,
            gatekeeper: g2.account().0,
            sealed: vec![2; 80],
        },
        GatekeeperError::NotAppointed(hex::encode(g2.account().0)),
    );
    // The removal requested epoch 1, so the removed gatekeeper learns nothing new.
    assert_eq!(requested_epoch(&chain.state), Ok(Some(1)));
    chain.end_block();
}

#[test]
fn clusters_get_keys_only_for_members_and_lose_them_on_removal() {
    let (mut chain, g1, _g2) = two_gatekeepers();
    let w1 = chain.worker("w1", &key("eve"));
    let w2 = chain.worker("w2", &key("eve"));
    assert_eq!(chain.root(PrivilegedCall::CreateCluster).error, None);
    for w in [&w1, &w2] {
        let receipt = chain.root(PrivilegedCall::AddClusterWorker {
            cluster: 0,
            worker: w.account().0,
        });
        assert_eq!(receipt.error, None);
    }
    assert_eq!(
        chain
            .root(PrivilegedCall::AddClusterWorker {
                cluster: 0,
                worker: w1.account().0
            })
            .error,
        Some(code(GatekeeperError::AlreadyMember(0)))
    );
    assert_eq!(
        chain
            .root(PrivilegedCall::AddClusterWorker {
                cluster: 5,
                worker: w1.account().0
            })
            .error,
        Some(code(GatekeeperError::UnknownCluster(5)))
    );
    let record = cluster(&chain.state, 0).expect("read").expect("created");
    assert_eq!((record.members, record.id), (2, cluster_id(0)));
    assert_eq!(
        chain
            .key_message(
                &g1,
                &KeyMessage::MasterKey {
                    epoch: 0,
                    public_key: [7; 32]
                }
            )
            .error,
        None
    );
    let share = |worker: &Keypair, epoch| KeyMessage::ClusterKeyShare {
        cluster: 0,
        epoch,
        worker: worker.account().0,
        sealed: vec![5; 80],
    };
    // A share before the cluster's public key is refused (the member could not check it).
    chain.key_message_refused(
        &g1,
        &share(&w1, 0),
        GatekeeperError::NoClusterKey {
            cluster: 0,
            epoch: 0,
        },
    );
    let public = KeyMessage::ClusterKey {
        cluster: 0,
        epoch: 0,
        public_key: [4; 32],
    };
    assert!(chain
        .key_message(&g1, &public)
        .events
        .contains(&Event::ClusterKeyPublished {
            cluster: 0,
            epoch: 0,
            public_key: [4; 32]
        }));
    chain.key_message_refused(
        &g1,
        &KeyMessage::ClusterKey {
            cluster: 0,
            epoch: 0,
            public_key: [5; 32],
        },
        GatekeeperError::ConflictingKey,
    );
    for w in [&w1, &w2] {
        assert_eq!(chain.key_message(&g1, &share(w, 0)).error, None);
        assert_eq!(
            cluster_share(&chain.state, 0, 0, &w.account().0),
            Some(vec![5; 80])
        );
    }
    // A non-member gets nothing.
    let outsider = chain.worker("out", &key("eve"));
    chain.key_message_refused(&g1, &share(&outsider, 0), GatekeeperError::NotMember(0));
    // Removing w2 requests epoch 1; once published, w2 can get no share of it.
    let receipt = chain.root(PrivilegedCall::RemoveClusterWorker {
        cluster: 0,
        worker: w2.account().0,
    });
    assert!(receipt
        .events
        .contains(&Event::KeyEpochRequested { epoch: 1 }));
    assert_eq!(members(&chain.state, 0), vec![w1.account().0]);
    assert_eq!(
        chain
            .key_message(
                &g1,
                &KeyMessage::MasterKey {
                    epoch: 1,
                    public_key: [8; 32]
                }
            )
            .error,
        None
    );
    assert_eq!(
        chain
            .key_message(
                &g1,
                &KeyMessage::ClusterKey {
                    cluster: 0,
                    epoch: 1,
                    public_key: [9; 32]
                }
            )
            .error,
        None
    );
    assert_eq!(chain.key_message(&g1, &share(&w1, 1)).error, None);
    chain.key_message_refused(&g1, &share(&w2, 1), GatekeeperError::NotMember(0));
    chain.end_block();
}

#[test]
fn rotation_and_retirement() {
    let (mut chain, g1, g2) = two_gatekeepers();
    let rotate = chain.root(PrivilegedCall::RotateKeys);
    // Epoch 0 is requested but not published: nothing to rotate from.
    assert_eq!(
        rotate.error,
        Some(code(GatekeeperError::RotationPending(0)))
    );
    assert_eq!(
        chain
            .key_message(
                &g1,
                &KeyMessage::MasterKey {
                    epoch: 0,
                    public_key: [1; 32]
                }
            )
            .error,
        None
    );
    assert_eq!(
        chain
            .key_message(
                &g1,
                &KeyMessage::MasterKeyShare {
                    epoch: 0,
                    gatekeeper: g2.account().0,
                    sealed: vec![1; 80]
                }
            )
            .error,
        None
    );
    assert_eq!(chain.root(PrivilegedCall::CreateCluster).error, None);
    assert_eq!(
        chain
            .key_message(
                &g1,
                &KeyMessage::ClusterKey {
                    cluster: 0,
                    epoch: 0,
                    public_key: [2; 32]
                }
            )
            .error,
        None
    );
    // The current epoch cannot be retired.
    assert_eq!(
        chain
            .root(PrivilegedCall::RetireKeyEpoch { epoch: 0 })
            .error,
        Some(code(GatekeeperError::CannotRetire(0)))
    );
    let receipt = chain.root(PrivilegedCall::RotateKeys);
    assert!(receipt
        .events
        .contains(&Event::KeyEpochRequested { epoch: 1 }));
    assert_eq!(
        chain.root(PrivilegedCall::RotateKeys).error,
        Some(code(GatekeeperError::RotationPending(1)))
    );
    // A master for an epoch that is not the requested one is refused.
    chain.key_message_refused(
        &g2,
        &KeyMessage::MasterKey {
            epoch: 2,
            public_key: [3; 32],
        },
        GatekeeperError::EpochNotRequested(2),
    );
    // g2 generates epoch 1 (any appointed gatekeeper may; the first wins).
    assert_eq!(
        chain
            .key_message(
                &g2,
                &KeyMessage::MasterKey {
                    epoch: 1,
                    public_key: [3; 32]
                }
            )
            .error,
        None
    );
    assert_eq!(current_epoch(&chain.state), Ok(Some(1)));
    // Retire epoch 0: its shares leave the state; no key message about it is accepted.
    let receipt = chain.root(PrivilegedCall::RetireKeyEpoch { epoch: 0 });
    assert!(receipt
        .events
        .contains(&Event::KeyEpochRetired { epoch: 0 }));
    // Its shares leave at the end of the block (a bounded number per block).
    assert!(master_share(&chain.state, 0, &g2.account().0).is_some());
    assert!(key_epoch(&chain.state, 0)
        .expect("read")
        .and_then(|e| e.retired_at)
        .is_some());
    chain.key_message_refused(
        &g1,
        &KeyMessage::ClusterKey {
            cluster: 0,
            epoch: 0,
            public_key: [2; 32],
        },
        GatekeeperError::EpochNotLive(0),
    );
    assert_eq!(
        chain
            .root(PrivilegedCall::RetireKeyEpoch { epoch: 0 })
            .error,
        Some(code(GatekeeperError::CannotRetire(0)))
    );
    chain.end_block();
    assert_eq!(master_share(&chain.state, 0, &g2.account().0), None);
}

#[test]
fn gatekeeper_params_are_bounded() {
    let mut chain = TestChain::new();
    let low = GatekeeperParams {
        stake: 1,
        unbonding_ms: 60_000,
    };
    let receipt = chain.root(PrivilegedCall::SetGatekeeperParams(low));
    assert_eq!(
        receipt.error.map(|e| e.reason),
        Some("gatekeeper_stake_out_of_bounds".to_string())
    );
    let ok = GatekeeperParams {
        stake: 5_000 * PHA,
        unbonding_ms: 3_600_000,
    };
    assert_eq!(
        chain
            .root(PrivilegedCall::SetGatekeeperParams(ok.clone()))
            .error,
        None
    );
    assert_eq!(params(&chain.state), Ok(ok));
    chain.end_block();
}

#[test]
fn appointed_and_removed_twice_in_one_block_unbonds_both_stakes() {
    let mut chain = TestChain::new();
    let charlie = key("charlie");
    let g1 = chain.worker("g1", &charlie);
    let id = g1.account().0;
    let stake = params(&chain.state).expect("params").stake;
    let batch = PrivilegedCall::Batch(vec![
        PrivilegedCall::AppointGatekeeper(id),
        PrivilegedCall::RemoveGatekeeper(id),
        PrivilegedCall::AppointGatekeeper(id),
        PrivilegedCall::RemoveGatekeeper(id),
    ]);
    assert_eq!(chain.root(batch).error, None);
    assert_eq!(reserved(&chain, &charlie), 2 * stake);
    let pending = unbondings(&chain.state).expect("read");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].amount, 2 * stake, "one slot holds both stakes");
    // The invariant holds at the end of the block, and both stakes come back together.
    chain.end_block();
    let release = pending[0].release_at_ms;
    while chain.ctx.timestamp_ms <= release {
        chain.end_block();
    }
    chain.end_block();
    assert_eq!(reserved(&chain, &charlie), 0);
}

#[test]
fn a_retired_epochs_shares_are_purged_a_bounded_number_per_block() {
    let (mut chain, g1, _g2) = two_gatekeepers();
    let master = |epoch, byte| KeyMessage::MasterKey {
        epoch,
        public_key: [byte; 32],
    };
    assert_eq!(chain.key_message(&g1, &master(0, 1)).error, None);
    chain.end_block();
    // More shares than one block purges, written as the chain would have stored them.
    let count = PURGES_PER_BLOCK + 10;
    for i in 0..count {
        let mut worker = [7u8; 32];
        worker[..2].copy_from_slice(&(i as u16).to_be_bytes());
        chain
            .state
            .put(cluster_share_key(0, 0, &worker), &vec![1u8; 80]);
    }
    assert_eq!(chain.root(PrivilegedCall::RotateKeys).error, None);
    assert_eq!(chain.key_message(&g1, &master(1, 2)).error, None);
    assert_eq!(
        chain
            .root(PrivilegedCall::RetireKeyEpoch { epoch: 0 })
            .error,
        None
    );
    let shares = |chain: &TestChain| {
        chain
            .state
            .scan_prefix(&[CLUSTER_SHARE_PREFIX, &0u32.to_be_bytes()].concat())
            .count()
    };
    assert_eq!(shares(&chain), count);
    chain.end_block();
    assert_eq!(
        shares(&chain),
        count - PURGES_PER_BLOCK,
        "one block's budget"
    );
    assert!(
        holds(&chain.state, 0, &g1.account().0),
        "the holder goes last"
    );
    chain.end_block();
    assert_eq!(shares(&chain), 0);
    assert!(
        !holds(&chain.state, 0, &g1.account().0),
        "holders are purged too"
    );
    assert!(holds(&chain.state, 1, &g1.account().0));
    assert_eq!(
        chain.state.scan_prefix(PURGE_PREFIX).count(),
        0,
        "the epoch left the purge list"
    );
}

#[test]
fn a_platform_the_policy_revoked_since_registration_gets_no_keys() {
    let mut chain = TestChain::new();
    // w1's platform is affected by an advisory; w3 runs an older build the policy still
    // allows; w2 is neither.
    let w1 = worker_identity("w1");
    let registration = chain.registration_with(&w1, &key("eve").account(), |report| {
        report.advisory_ids = vec!["INTEL-SA-00615".into()];
    });
    assert_eq!(chain.register(&key("eve"), registration).error, None);
    let w2 = chain.worker("w2", &key("eve"));
    let older_build = phalanx_attestation::measure_worker_binary(b"older worker");
    let mut policy = registry::policy(&chain.state).expect("policy");
    policy.allowed_measurements.push(older_build);
    registry::set_policy(&mut chain.state, &policy);
    let w3 = worker_identity("w3");
    let registration = chain.registration_with(&w3, &key("eve").account(), |report| {
        report.measurement = older_build;
    });
    assert_eq!(chain.register(&key("eve"), registration).error, None);
    // Then governance denies the advisory and withdraws the older build.
    policy.denied_advisories = vec!["INTEL-SA-00615".into()];
    policy.allowed_measurements.retain(|m| *m != older_build);
    registry::set_policy(&mut chain.state, &policy);
    // The reasons (the receipt's code names none): w1's TCB, w3's build.
    let judged = |who: &Keypair| {
        let info = registry::worker(&chain.state, &who.account().0)
            .expect("read")
            .expect("registered");
        registry::revocation(&policy, &info)
    };
    assert_eq!(judged(&w1), Some(registry::Revocation::Tcb));
    assert_eq!(judged(&w3), Some(registry::Revocation::Measurement));
    assert_eq!(judged(&w2), None);
    let revoked = |who: &Keypair, why| {
        Some(code(GatekeeperError::Revoked(
            hex::encode(who.account().0),
            why,
        )))
    };
    let appoint = |chain: &mut TestChain, who: &Keypair| {
        chain
            .root(PrivilegedCall::AppointGatekeeper(who.account().0))
            .error
    };
    assert_eq!(
        appoint(&mut chain, &w1),
        revoked(&w1, registry::Revocation::Tcb)
    );
    assert_eq!(
        appoint(&mut chain, &w3),
        revoked(&w3, registry::Revocation::Measurement)
    );
    assert_eq!(appoint(&mut chain, &w2), None);
    assert_eq!(chain.root(PrivilegedCall::CreateCluster).error, None);
    let add = |chain: &mut TestChain, who: &Keypair| {
        chain
            .root(PrivilegedCall::AddClusterWorker {
                cluster: 0,
                worker: who.account().0,
            })
            .error
    };
    assert_eq!(
        add(&mut chain, &w1),
        revoked(&w1, registry::Revocation::Tcb)
    );
    assert_eq!(
        add(&mut chain, &w3),
        revoked(&w3, registry::Revocation::Measurement)
    );
    assert_eq!(add(&mut chain, &w2), None);
    for who in [&w1, &w3] {
        assert_eq!(is_appointed(&chain.state, &who.account().0), Ok(false));
        assert!(!is_member(&chain.state, 0, &who.account().0));
    }
    chain.end_block();
}
