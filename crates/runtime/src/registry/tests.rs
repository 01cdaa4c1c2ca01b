//! Registration: the honest path, each refusal with its own error, and re-registration.
//! The helpers (and the registry steps on `TestChain`) are shared with the message queue's and
//! the policy's governance tests.

use super::*;
use crate::genesis::{dev_quoting_enclave, dev_worker_measurement, SIMULATED_DEV_WORKER_BINARY};
use crate::testing::*;
use crate::Receipt;
use parity_scale_codec::Encode;
use phalanx_attestation::testing::{forged_simulated_quote, resigned_by, tampered};
use phalanx_attestation::{
    measure_worker_binary, SimulatedError, SimulatedQuotingEnclave, SimulatedReport, TcbStatus,
};
use phalanx_primitives::call::Call;
use phalanx_primitives::{Hash, Keypair};

/// The identity key of test worker `name` (what its enclave would generate).
pub(crate) fn worker_identity(name: &str) -> Keypair {
    Keypair::dev(&format!("worker/{name}"))
}

fn encryption_key_of(identity: &Keypair) -> [u8; 32] {
    Hash::of_parts(&[b"x25519/", identity.account().as_bytes()]).0
}

/// What an honest enclave running the dev worker would send: a quote by the dev simulated
/// quoting enclave bound to its keys, this chain and `cited`, P = 100, signed by `identity` for
/// `operator`. `edit` changes the report before it is signed.
pub(crate) fn signed_registration(
    ctx: &BlockContext,
    identity: &Keypair,
    operator: &AccountId,
    cited: (u64, Hash),
    edit: impl FnOnce(&mut SimulatedReport),
) -> Registration {
    let encryption_key = encryption_key_of(identity);
    let binding = report_data(
        identity.account().as_bytes(),
        &encryption_key,
        ctx.genesis_hash.as_bytes(),
        cited.1.as_bytes(),
    );
    let mut report = SimulatedReport::for_worker(SIMULATED_DEV_WORKER_BINARY, binding);
    edit(&mut report);
    Registration {
        identity: identity.account().0,
        encryption_key,
        quote: dev_quoting_enclave().quote(report).encode(),
        collateral: None,
        recent_block: cited,
        performance: 100,
        endpoint: "http://127.0.0.1:8100".into(),
        operator: *operator,
        signature: [0; 64],
    }
    .sign(identity, &ctx.genesis_hash)
}

/// Registry steps on the shared driver.
impl TestChain {
    /// An honest registration of `identity` for `operator`, citing the open block's parent.
    pub(crate) fn registration(&self, identity: &Keypair, operator: &AccountId) -> Registration {
        self.registration_with(identity, operator, |_| {})
    }

    /// [`TestChain::registration`] with `edit` applied to the report before the quoting enclave
    /// signs it.
    pub(crate) fn registration_with(
        &self,
        identity: &Keypair,
        operator: &AccountId,
        edit: impl FnOnce(&mut SimulatedReport),
    ) -> Registration {
        let cited = (self.height() - 1, self.ctx.parent_hash);
        signed_registration(&self.ctx, identity, operator, cited, edit)
    }

    /// Sends `registration` from `sender` in the open block.
    pub(crate) fn register(&mut self, sender: &Keypair, registration: Registration) -> Receipt {
        self.apply(sender, Call::Registry(RegistryCall::Register(registration)))
    }

    /// Asserts `registration` from `sender` is refused with `error` and changes nothing but the
    /// sender's fee and nonce.
    fn assert_registration_refused(
        &mut self,
        sender: &Keypair,
        registration: Registration,
        error: RegistryError,
    ) {
        // The block's begin hooks first, so the copy is the state the transaction meets.
        self.begin();
        let mut expected = self.state.clone();
        let receipt = self.register(sender, registration);
        assert_eq!(receipt.error, Some(code(error)));
        system::charge(&mut expected, &sender.account(), receipt.fee).expect("fee");
        assert_eq!(
            self.state.root(),
            expected.root(),
            "a refused registration changed the state"
        );
    }
}

fn simulated(error: SimulatedError) -> RegistryError {
    RegistryError::Attestation(AttestationError::Simulated(error))
}

/// Re-signs `registration` by `identity` after an edit.
fn resign(registration: Registration, identity: &Keypair, chain: &TestChain) -> Registration {
    registration.sign(identity, &chain.ctx.genesis_hash)
}

#[test]
fn a_simulated_worker_registers_on_a_dev_chain() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let honest = chain.registration(&worker, &alice.account());
    let receipt = chain.register(&alice, honest);
    assert_eq!(receipt.error, None);
    let identity = worker.account().0;
    assert!(receipt.events.contains(&Event::WorkerRegistered {
        identity,
        operator: alice.account(),
        confidence: 1_000,
        performance: 100,
    }));
    let info = super::worker(&chain.state, &identity)
        .expect("readable")
        .expect("registered");
    assert_eq!(
        info,
        WorkerInfo {
            identity,
            encryption_key: encryption_key_of(&worker),
            operator: alice.account(),
            quote_kind: QuoteKind::Simulated,
            measurement: dev_worker_measurement(),
            tcb_status: TcbStatus::UpToDate,
            confidence: 1_000,
            performance: 100,
            endpoint: "http://127.0.0.1:8100".into(),
            registered_at: 1,
            last_attested_at: 1,
            recent_block_height: 0,
            advisory_ids: Vec::new(),
            tcb_evaluation_data_number: None,
        }
    );
    assert_eq!(workers(&chain.state), vec![info.clone()]);
    let event = serde_json::to_value(&receipt.events[1]).expect("serializes");
    assert_eq!(event["event"], "worker_registered");
    assert_eq!(event["identity"], hex::encode(identity));
    let json = serde_json::to_value(&info).expect("serializes");
    assert_eq!(json["identity"], hex::encode(identity));
    assert_eq!(json["operator"], alice.account().to_address());
    chain.end_block();
}

#[test]
fn forged_resigned_and_tampered_quotes_are_refused() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let honest = chain.registration(&worker, &alice.account());
    let quote = match Quote::decode_strict(&honest.quote).expect("decodes") {
        Quote::Simulated(quote) => Some(quote),
        _ => None,
    }
    .expect("a simulated quote");
    let root = dev_quoting_enclave().root();

    let forged = Registration {
        quote: forged_simulated_quote(root, quote.report.clone()).encode(),
        ..honest.clone()
    };
    let forged = resign(forged, &worker, &chain);
    chain.assert_registration_refused(&alice, forged, simulated(SimulatedError::BadSignature));

    let rogue = SimulatedQuotingEnclave::from_seed([66; 32]);
    let resigned = Registration {
        quote: resigned_by(&rogue, &quote).encode(),
        ..honest.clone()
    };
    let resigned = resign(resigned, &worker, &chain);
    let unknown = simulated(SimulatedError::UnknownRoot {
        root: hex::encode(rogue.root()),
    });
    chain.assert_registration_refused(&alice, resigned, unknown);

    let flipped = Registration {
        quote: tampered(&Quote::Simulated(quote), 5).encode(),
        ..honest.clone()
    };
    let flipped = resign(flipped, &worker, &chain);
    chain.assert_registration_refused(&alice, flipped, simulated(SimulatedError::BadSignature));

    let garbage = resign(
        Registration {
            quote: vec![9, 9, 9],
            ..honest
        },
        &worker,
        &chain,
    );
    let decode_error = Quote::decode_strict(&garbage.quote).expect_err("garbage does not decode");
    chain.assert_registration_refused(
        &alice,
        garbage,
        RegistryError::Attestation(decode_error.into()),
    );
    assert!(workers(&chain.state).is_empty());
    chain.end_block();
}

#[test]
fn the_policy_refuses_unknown_builds_debug_enclaves_and_revoked_platforms() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let patched = measure_worker_binary(b"patched worker");
    let unknown_build =
        chain.registration_with(&worker, &alice.account(), |r| r.measurement = patched);
    let refused = RegistryError::Policy(PolicyError::MeasurementNotAllowed {
        measurement: hex::encode(patched),
    });
    chain.assert_registration_refused(&alice, unknown_build, refused);

    let debug = chain.registration_with(&worker, &alice.account(), |r| r.debug = true);
    chain.assert_registration_refused(
        &alice,
        debug,
        RegistryError::Policy(PolicyError::DebugEnclave),
    );

    let revoked = chain.registration_with(&worker, &alice.account(), |r| {
        r.tcb_status = TcbStatus::Revoked
    });
    chain.assert_registration_refused(
        &alice,
        revoked,
        RegistryError::Policy(PolicyError::TcbRevoked),
    );

    // A stricter policy, written straight into state (its governance path has its own tests).
    let mut policy = policy(&chain.state).expect("policy");
    policy.minimum_tcb_status = TcbStatus::UpToDate;
    set_policy(&mut chain.state, &policy);
    let old = chain.registration_with(&worker, &alice.account(), |r| {
        r.tcb_status = TcbStatus::OutOfDate
    });
    let below = PolicyError::TcbBelowMinimum {
        status: TcbStatus::OutOfDate,
        minimum: TcbStatus::UpToDate,
    };
    chain.assert_registration_refused(&alice, old, RegistryError::Policy(below));
    chain.end_block();
}

#[test]
fn a_record_keeps_at_most_a_deny_lists_worth_of_advisories() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let many: Vec<String> = (0..=MAX_DENIED_ADVISORIES)
        .map(|i| format!("INTEL-SA-{i:05}"))
        .collect();
    let too_many =
        chain.registration_with(&worker, &alice.account(), |r| r.advisory_ids = many.clone());
    chain.assert_registration_refused(
        &alice,
        too_many,
        RegistryError::TooManyAdvisories { count: 65 },
    );
    let long = chain.registration_with(&worker, &alice.account(), |r| {
        r.advisory_ids = vec!["A".repeat(MAX_ADVISORY_BYTES + 1)]
    });
    chain.assert_registration_refused(&alice, long, RegistryError::TooManyAdvisories { count: 1 });
    // A deny-list's worth, each as long as a deny-list allows, is kept.
    let most: Vec<String> = (0..MAX_DENIED_ADVISORIES)
        .map(|i| format!("{i:0>width$}", width = MAX_ADVISORY_BYTES))
        .collect();
    let registration =
        chain.registration_with(&worker, &alice.account(), |r| r.advisory_ids = most.clone());
    assert_eq!(chain.register(&alice, registration).error, None);
    let info = super::worker(&chain.state, &worker.account().0)
        .expect("readable")
        .expect("registered");
    assert_eq!(info.advisory_ids, most);
    assert_eq!(info.tcb_evaluation_data_number, None, "a simulated quote");
    chain.end_block();
}

#[test]
fn collateral_is_judged_against_the_minimum_and_the_workers_last() {
    let mut policy = crate::genesis::dev_attestation_policy();
    policy.min_tcb_evaluation_data_number = 16;
    let mut info = WorkerInfo {
        identity: [1; 32],
        encryption_key: [2; 32],
        operator: key("alice").account(),
        quote_kind: QuoteKind::SgxDcap,
        measurement: [3; 32],
        tcb_status: TcbStatus::UpToDate,
        confidence: 1000,
        performance: 100,
        endpoint: "https://worker.example".into(),
        registered_at: 1,
        last_attested_at: 1,
        recent_block_height: 0,
        advisory_ids: Vec::new(),
        tcb_evaluation_data_number: None,
    };
    // No collateral (a simulated quote): nothing to judge.
    assert_eq!(check_collateral_number(&policy, None, None), Ok(()));
    // Below the policy's minimum.
    assert_eq!(
        check_collateral_number(&policy, Some(15), None),
        Err(RegistryError::Policy(PolicyError::CollateralTooOld {
            number: 15,
            minimum: 16
        }))
    );
    assert_eq!(check_collateral_number(&policy, Some(16), None), Ok(()));
    // A worker that last attested with number 18 can't go back to 17, which the policy
    // would still accept; 18 and newer are fine.
    info.tcb_evaluation_data_number = Some(18);
    assert_eq!(
        check_collateral_number(&policy, Some(17), Some(&info)),
        Err(RegistryError::CollateralOlderThanRecorded {
            number: 17,
            recorded: 18
        })
    );
    assert_eq!(
        check_collateral_number(&policy, Some(18), Some(&info)),
        Ok(())
    );
    assert_eq!(
        check_collateral_number(&policy, Some(19), Some(&info)),
        Ok(())
    );
    // A worker that last attested without collateral has no number to hold it to.
    info.tcb_evaluation_data_number = None;
    assert_eq!(
        check_collateral_number(&policy, Some(16), Some(&info)),
        Ok(())
    );
}

#[test]
fn a_simulated_quote_is_refused_on_a_production_policy_chain() {
    let mut chain = TestChain::new();
    // The production policy, even with the simulated build's measurement allowed.
    set_policy(
        &mut chain.state,
        &AttestationPolicy::production().with_measurement(dev_worker_measurement()),
    );
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let honest = chain.registration(&worker, &alice.account());
    chain.assert_registration_refused(&alice, honest, simulated(SimulatedError::NotAccepted));
    chain.end_block();
}

#[test]
fn report_data_must_bind_these_keys_this_chain_and_the_cited_block() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let honest = chain.registration(&worker, &alice.account());
    let bound = report_data(
        &honest.identity,
        &honest.encryption_key,
        chain.ctx.genesis_hash.as_bytes(),
        honest.recent_block.1.as_bytes(),
    );

    // The host swaps in an encryption key it knows the secret of.
    let swapped = resign(
        Registration {
            encryption_key: [9; 32],
            ..honest.clone()
        },
        &worker,
        &chain,
    );
    let expected = report_data(
        &honest.identity,
        &[9; 32],
        chain.ctx.genesis_hash.as_bytes(),
        honest.recent_block.1.as_bytes(),
    );
    let mismatch = ReportDataError::Mismatch {
        expected: hex::encode(expected),
        got: hex::encode(bound),
    };
    chain.assert_registration_refused(&alice, swapped, RegistryError::ReportData(mismatch));

    // A quote taken for another chain.
    let other_chain = report_data(
        &honest.identity,
        &honest.encryption_key,
        &[0xee; 32],
        honest.recent_block.1.as_bytes(),
    );
    let foreign =
        chain.registration_with(&worker, &alice.account(), |r| r.report_data = other_chain);
    let mismatch = ReportDataError::Mismatch {
        expected: hex::encode(bound),
        got: hex::encode(other_chain),
    };
    chain.assert_registration_refused(&alice, foreign, RegistryError::ReportData(mismatch));
    chain.end_block();
}

#[test]
fn stale_future_and_foreign_block_hashes_are_refused() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let old = chain.registration(&worker, &alice.account());
    let forked = signed_registration(
        &chain.ctx,
        &worker,
        &alice.account(),
        (0, Hash::of(b"a fork")),
        |_| {},
    );
    chain.assert_registration_refused(
        &alice,
        forked,
        RegistryError::BlockHashMismatch { height: 0 },
    );
    let future = signed_registration(
        &chain.ctx,
        &worker,
        &alice.account(),
        (5, block_hash(5)),
        |_| {},
    );
    chain.assert_registration_refused(&alice, future, RegistryError::StaleBlock { height: 5 });

    chain.run_blocks(system::RECENT_BLOCK_HASHES);
    chain.begin();
    // Block 0 is now 257 blocks back: out of the window.
    assert_eq!(chain.height(), system::RECENT_BLOCK_HASHES + 1);
    assert_eq!(system::recent_block_hash(&chain.state, 0), Ok(None));
    chain.assert_registration_refused(&alice, old, RegistryError::StaleBlock { height: 0 });
    // The oldest block still kept is accepted.
    let oldest = signed_registration(
        &chain.ctx,
        &worker,
        &alice.account(),
        (1, block_hash(1)),
        |_| {},
    );
    assert_eq!(chain.register(&alice, oldest).error, None);
    chain.end_block();
}

#[test]
fn a_registration_replayed_by_another_account_is_refused() {
    let mut chain = TestChain::new();
    let (alice, eve, worker) = (key("alice"), key("eve"), worker_identity("1"));
    let alices = chain.registration(&worker, &alice.account());
    let replayed = RegistryError::OperatorMismatch {
        operator: alice.account(),
        sender: eve.account(),
    };
    chain.assert_registration_refused(&eve, alices.clone(), replayed);
    // Naming herself without the identity key's signature does not help.
    let claimed = Registration {
        operator: eve.account(),
        ..alices.clone()
    };
    chain.assert_registration_refused(&eve, claimed, RegistryError::BadIdentitySignature);
    // Nor does signing it with another key.
    let other = resign(
        Registration {
            operator: eve.account(),
            ..alices.clone()
        },
        &key("eve"),
        &chain,
    );
    chain.assert_registration_refused(&eve, other, RegistryError::BadIdentitySignature);
    // A registration signed for another chain.
    let foreign = alices.clone().sign(&worker, &Hash::of(b"another chain"));
    chain.assert_registration_refused(&alice, foreign, RegistryError::BadIdentitySignature);
    assert_eq!(chain.register(&alice, alices).error, None);
    chain.end_block();
}

#[test]
fn low_scores_and_bad_endpoints_are_refused() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let honest = chain.registration(&worker, &alice.account());
    let slow = resign(
        Registration {
            performance: MIN_PERFORMANCE_SCORE - 1,
            ..honest.clone()
        },
        &worker,
        &chain,
    );
    let too_low = RegistryError::PerformanceTooLow {
        score: MIN_PERFORMANCE_SCORE - 1,
        minimum: MIN_PERFORMANCE_SCORE,
    };
    chain.assert_registration_refused(&alice, slow, too_low);
    for endpoint in [
        String::new(),
        format!("http://{}", "a".repeat(MAX_ENDPOINT_BYTES)),
        "http://a b".into(),
        "http://a\n".into(),
    ] {
        let bad = resign(
            Registration {
                endpoint,
                ..honest.clone()
            },
            &worker,
            &chain,
        );
        chain.assert_registration_refused(&alice, bad, RegistryError::BadEndpoint);
    }
    let longest = format!("http://{}", "a".repeat(MAX_ENDPOINT_BYTES - 7));
    let minimal = resign(
        Registration {
            performance: MIN_PERFORMANCE_SCORE,
            endpoint: longest,
            ..honest
        },
        &worker,
        &chain,
    );
    assert_eq!(chain.register(&alice, minimal).error, None);
    chain.end_block();
}

#[test]
fn frozen_registration_refuses_new_workers_and_refreshes() {
    let mut chain = TestChain::new();
    let alice = key("alice");
    let first = chain.registration(&worker_identity("1"), &alice.account());
    assert_eq!(chain.register(&alice, first).error, None);
    chain.end_block();
    // Frozen straight in state (its governance path has its own tests).
    set_frozen(&mut chain.state, true).expect("freezes");
    assert!(policy(&chain.state).expect("policy").registration_frozen);
    let new = chain.registration(&worker_identity("2"), &alice.account());
    chain.assert_registration_refused(&alice, new.clone(), RegistryError::RegistrationFrozen);
    let refresh = chain.registration(&worker_identity("1"), &alice.account());
    chain.assert_registration_refused(&alice, refresh, RegistryError::RegistrationFrozen);
    set_frozen(&mut chain.state, false).expect("unfreezes");
    assert_eq!(chain.register(&alice, new).error, None);
    chain.end_block();
}

#[test]
fn re_registration_refreshes_the_worker_and_replays_are_refused() {
    let mut chain = TestChain::new();
    let (alice, bob, worker) = (key("alice"), key("bob"), worker_identity("1"));
    let first = chain.registration(&worker, &alice.account());
    assert_eq!(chain.register(&alice, first.clone()).error, None);

    chain.end_block();
    let refreshed = chain.registration_with(&worker, &alice.account(), |r| {
        r.tcb_status = TcbStatus::OutOfDate
    });
    let refreshed = resign(
        Registration {
            performance: 180,
            endpoint: "https://w1.example".into(),
            ..refreshed
        },
        &worker,
        &chain,
    );
    let receipt = chain.register(&alice, refreshed.clone());
    assert_eq!(receipt.error, None);
    assert!(receipt.events.contains(&Event::WorkerReregistered {
        identity: worker.account().0,
        operator: alice.account(),
        confidence: 700,
        performance: 180,
    }));
    let info = super::worker(&chain.state, &worker.account().0)
        .expect("readable")
        .expect("registered");
    assert_eq!(
        (info.tcb_status, info.confidence, info.performance),
        (TcbStatus::OutOfDate, 700, 180)
    );
    assert_eq!(info.endpoint, "https://w1.example");
    assert_eq!(
        (
            info.registered_at,
            info.last_attested_at,
            info.recent_block_height
        ),
        (1, 2, 1)
    );
    assert_eq!(workers(&chain.state).len(), 1);

    // The earlier registration, or the same one again, is a replay.
    chain.assert_registration_refused(
        &alice,
        first,
        RegistryError::ReplayedRegistration { cited: 0, last: 1 },
    );
    chain.assert_registration_refused(
        &alice,
        refreshed,
        RegistryError::ReplayedRegistration { cited: 1, last: 1 },
    );

    // Another operator cannot take the worker over, even with the enclave's signature.
    chain.end_block();
    let takeover = chain.registration(&worker, &bob.account());
    chain.assert_registration_refused(
        &bob,
        takeover,
        RegistryError::OwnedByAnotherOperator {
            operator: alice.account(),
        },
    );
    chain.end_block();
}

#[test]
fn a_production_chain_refuses_a_policy_with_simulated_trust() {
    let mut config =
        crate::GenesisConfig::dev(vec![crate::testing::validator_hex()], 1_700_000_000_000);
    config.production = true;
    config.root = None;
    config.dev_accounts.clear();
    config.attestation_policy = phalanx_attestation::AttestationPolicy::production();
    let mut state = crate::genesis::build_state(&config).expect("production genesis");
    let mut events = Vec::new();
    let dev_policy = crate::genesis::dev_attestation_policy();
    assert_eq!(
        crate::registry::change_policy(&mut state, &dev_policy, &mut events),
        Err(crate::registry::RegistryError::SimulatedTrustInProduction)
    );
    let mut debug = phalanx_attestation::AttestationPolicy::production();
    debug.allow_debug = true;
    assert_eq!(
        crate::registry::change_policy(&mut state, &debug, &mut events),
        Err(crate::registry::RegistryError::SimulatedTrustInProduction)
    );
    assert!(events.is_empty());
    assert_eq!(
        crate::registry::policy(&state).expect("policy"),
        phalanx_attestation::AttestationPolicy::production()
    );
}

#[test]
fn a_dcap_registration_pays_the_verification_fee_even_when_refused() {
    let mut chain = TestChain::new();
    chain.begin();
    let (alice, worker) = (key("alice"), worker_identity("tee"));
    let params = system::params(&chain.state).expect("params");
    let mut dcap = chain.registration(&worker, &alice.account());
    dcap.quote = Quote::SgxDcap(vec![0; 4_600]).encode();
    let dcap = resign(dcap, &worker, &chain);
    let call = Call::Registry(RegistryCall::Register(dcap));
    assert!(declares_dcap_quote(&call));

    // Offering only the size-based fee is not enough: the envelope is refused outright. The
    // transactions are built by hand, since the test sets their fee (`TestChain::tx` offers a
    // generous one), and the refused one goes through `apply_transaction`, which returns the
    // envelope error that `TestChain::apply_tx` would panic on.
    let unsigned = |fee| phalanx_primitives::Transaction {
        signer: alice.account(),
        nonce: 0,
        fee,
        expires_at: chain.height() + 10,
        call: call.clone(),
    };
    let probe = unsigned(0).sign(&alice, &chain.ctx.genesis_hash);
    let by_size = system::required_fee(&params, probe.encoded_size());
    let required = system::required_fee_for(&params, &probe);
    assert_eq!(required, by_size + params.dcap_verification_fee);
    let cheap = unsigned(by_size).sign(&alice, &chain.ctx.genesis_hash);
    assert_eq!(
        system::check_envelope(&chain.state, &chain.ctx, &cheap),
        Err(system::TxError::FeeTooLow {
            offered: by_size,
            required
        })
    );
    let mut mempool_view = chain.state.clone();
    assert!(matches!(
        crate::apply_transaction(&mut mempool_view, &chain.ctx, &cheap),
        Err(system::TxError::FeeTooLow { .. })
    ));

    // With the surcharge it is included; the quote fails verification (no collateral), and
    // the whole fee, surcharge included, stays paid.
    let treasury_before = crate::treasury::balance(&chain.state).expect("treasury");
    let paid = unsigned(required).sign(&alice, &chain.ctx.genesis_hash);
    let receipt = chain.apply_tx(&paid);
    assert_eq!(receipt.fee, required);
    assert_eq!(
        receipt.error,
        Some(code(RegistryError::Attestation(AttestationError::Dcap(
            phalanx_attestation::DcapError::MissingCollateral
        ))))
    );
    assert_eq!(
        crate::treasury::balance(&chain.state).expect("treasury"),
        treasury_before + required
    );
    assert_eq!(super::worker(&chain.state, &worker.account().0), Ok(None));
    chain.end_block();
}

#[test]
fn simulated_registrations_and_other_calls_pay_no_surcharge() {
    let mut chain = TestChain::new();
    let (alice, worker) = (key("alice"), worker_identity("1"));
    let params = system::params(&chain.state).expect("params");
    let simulated = Call::Registry(RegistryCall::Register(
        chain.registration(&worker, &alice.account()),
    ));
    for call in [simulated, transfer_to("bob", 1)] {
        assert!(!declares_dcap_quote(&call));
        let tx = chain.tx(&alice, call);
        assert_eq!(
            system::required_fee_for(&params, &tx),
            system::required_fee(&params, tx.encoded_size())
        );
    }
    // A TDX quote pays it too; an empty or unknown kind byte does not (it fails to decode
    // before any verification).
    for (quote, surcharged) in [
        (Quote::TdxDcap(vec![1]).encode(), true),
        (vec![], false),
        (vec![9, 9], false),
    ] {
        let mut registration = chain.registration(&worker, &alice.account());
        registration.quote = quote;
        let call = Call::Registry(RegistryCall::Register(registration));
        assert_eq!(declares_dcap_quote(&call), surcharged);
    }
}

/// The fee rule clients use (`ChainParams::required_fee`, in primitives, which cannot see the
/// attestation crate) agrees with the quote kinds the attestation crate declares.
#[test]
fn the_primitives_dcap_tags_are_the_attestation_crates_dcap_kinds() {
    use phalanx_attestation::{Quote, QuoteKind};
    for tag in 0..=u8::MAX {
        let dcap = matches!(
            Quote::declared_kind(&[tag]),
            Some(QuoteKind::SgxDcap | QuoteKind::TdxDcap)
        );
        assert_eq!(
            phalanx_primitives::call::DCAP_QUOTE_TAGS.contains(&tag),
            dcap,
            "tag {tag}"
        );
    }
}
