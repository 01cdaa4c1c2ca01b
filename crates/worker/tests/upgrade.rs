//! Upgrades never brick keys: a worker moves from build M1 to build M2 on one simulated
//! machine by an attested handover, keeping its identity, its next sequence and its chain
//! progress; M2 never unseals M1's files, and M1 never hands its state to a build the chain did
//! not approve, to a forged or tampered quote, or to a stale successor.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{info, outbox, synced, FakeChain, Machine};
use parity_scale_codec::Encode;
use phalanx_attestation::{AttestationPolicy, Quote, SimulatedQuotingEnclave, SimulatedReport};
use phalanx_primitives::call::Origin;
use phalanx_primitives::Keypair;
use phalanx_runtime::registry::policy_key;
use phalanx_worker::enclave::handover::handover_report_data;
use phalanx_worker::enclave::{HandoverError, Successor};
use phalanx_worker::{upgrade, Ecall, Enclave, EnclaveError, HostError, Reply, SealedStore};

fn m2() -> [u8; 32] {
    phalanx_attestation::measure_worker_binary(b"phalanx-worker/simulated v2")
}

/// A chain whose attestation policy (at every height) is `policy`.
fn chain_with(policy: &AttestationPolicy) -> FakeChain {
    let policy = policy.encode();
    FakeChain::with_state(
        3,
        vec![phalanx_light_client::testing::keys(4)],
        |_, state| {
            state.insert(policy_key(), policy.clone());
        },
    )
}

/// The dev policy with M2 approved by governance.
fn approving() -> AttestationPolicy {
    phalanx_runtime::genesis::dev_attestation_policy().with_measurement(m2())
}

/// The policy bytes and their proof at block `height`.
fn policy_at(chain: &FakeChain, height: usize) -> (Vec<u8>, Vec<u8>) {
    let mut state = chain.states[height].clone();
    let value = state
        .get(&policy_key())
        .expect("the policy is in state")
        .clone();
    (value.to_vec(), state.prove(&policy_key()).encode())
}

fn hand_over(
    enclave: &mut Enclave,
    handover_key: [u8; 32],
    quote: Vec<u8>,
    (policy, policy_proof): (Vec<u8>, Vec<u8>),
) -> Result<Reply, EnclaveError> {
    enclave.ecall(Ecall::HandOver {
        handover_key,
        quote,
        policy,
        policy_proof,
    })
}

/// An M1 worker in a data directory, synced to block 2, with one message released.
fn running_m1(
    dir: &std::path::Path,
    machine: &Machine,
    chain: &FakeChain,
) -> (SealedStore, Enclave) {
    let store = SealedStore::in_dir(dir);
    let (mut enclave, _) = store.start(|| Ok(machine.platform())).expect("M1 starts");
    synced(chain, &mut enclave, 2);
    store.seal(&mut enclave).expect("stored");
    let me = Origin::Worker(info(&mut enclave).identity);
    let pending = enclave
        .testing_emit(me, b"heartbeat", b"from m1".to_vec())
        .expect("emits");
    store.persist(&mut enclave, &pending).expect("stored");
    (store, enclave)
}

#[test]
fn an_upgrade_keeps_the_identity_sequence_and_chain_progress() {
    let chain = chain_with(&approving());
    let dir = tempfile::tempdir().expect("tempdir");
    let machine = Machine::new(21);
    let (store, mut old) = running_m1(dir.path(), &machine, &chain);
    let before = info(&mut old);
    let m1_file = std::fs::read(store.sealed_path()).expect("M1's sealed file");
    let released = outbox(&mut old);

    let v2 = machine.running(m2());
    let mut new = upgrade(
        &store,
        &mut old,
        v2.platform(),
        policy_at(&chain, 2).0,
        policy_at(&chain, 2).1,
    )
    .expect("the approved build takes over");
    let after = info(&mut new);
    assert_eq!(after.identity, before.identity);
    assert_eq!(after.encryption_key, before.encryption_key);
    assert_eq!(after.next_sequence, before.next_sequence);
    assert_eq!(after.head, before.head);
    assert_eq!(after.genesis_hash, before.genesis_hash);
    assert_eq!(after.measurement, m2());
    assert_eq!(after.handed_over_to, None);
    assert_eq!(outbox(&mut new), released, "released messages go along");

    // M1 signs nothing more, and says why.
    let me = Origin::Worker(before.identity);
    let err = old
        .testing_emit(me, b"heartbeat", vec![])
        .expect_err("retired");
    assert!(matches!(err, EnclaveError::HandedOver { .. }), "{err}");
    assert!(matches!(
        old.ecall(Ecall::Register {
            operator: Keypair::dev("charlie").account(),
            endpoint: "http://127.0.0.1:1".into(),
        }),
        Err(EnclaveError::HandedOver { .. })
    ));
    assert_eq!(info(&mut old).handed_over_to, Some(m2()));

    // M2 goes on with the next sequence, signed by the same identity, and registers with its
    // own measurement under the same identity.
    let pending = new
        .testing_emit(me, b"heartbeat", b"from m2".to_vec())
        .expect("emits");
    let message = &store.persist(&mut new, &pending).expect("stored").messages[0];
    assert_eq!(message.sequence, before.next_sequence);
    assert!(message.verify_signature(&before.identity, &chain.genesis_hash()));
    let Reply::Registration { registration, .. } = new
        .ecall(Ecall::Register {
            operator: Keypair::dev("charlie").account(),
            endpoint: "http://127.0.0.1:1".into(),
        })
        .expect("registers")
    else {
        panic!("a registration");
    };
    assert_eq!(registration.identity, before.identity);
    let quote = Quote::decode_strict(&registration.quote).expect("quote");
    let claims =
        phalanx_attestation::verify(&quote, None, 0, &approving().accepted_simulated_roots)
            .expect("verifies");
    assert_eq!(claims.measurement, m2());
    assert!(approving().evaluate(&claims).is_ok());

    // M2 never unseals M1's file; M1 cannot read M2's; the data directory restarts as M2.
    let err = Enclave::start(v2.platform(), &[&m1_file]).expect_err("M1's blob");
    assert!(
        matches!(
            err.source,
            EnclaveError::Seal(phalanx_worker::enclave::SealError::OtherMeasurement { .. })
        ),
        "{err}"
    );
    let err = store
        .start(|| Ok(machine.platform()))
        .expect_err("M1 cannot run M2's state");
    assert!(matches!(err, HostError::SealedFile { .. }), "{err}");
    drop(new);
    let (mut again, opened) = store.start(|| Ok(v2.platform())).expect("M2 restarts");
    assert!(!opened.created);
    assert_eq!(info(&mut again).identity, before.identity);
    assert_eq!(info(&mut again).next_sequence, before.next_sequence + 1);
}

/// M1 hands over only to a quote from its own platform's quoting enclave, binding the offered
/// key, for a build the proven policy allows; each refusal leaves it able to go on.
#[test]
fn a_handover_to_an_unapproved_build_or_a_bad_quote_is_refused() {
    let approving_chain = chain_with(&approving());
    let dir = tempfile::tempdir().expect("tempdir");
    let machine = Machine::new(22);
    let (store, mut old) = running_m1(dir.path(), &machine, &approving_chain);
    let v2 = machine.running(m2());
    let (_, request) = Successor::new(v2.platform());
    let policy = policy_at(&approving_chain, 2);
    let handover_key = request.handover_key;

    let mut refused: Vec<(&str, Result<Reply, EnclaveError>)> = Vec::new();

    // A build the chain did not approve (v3), with a perfectly good quote.
    let v3 = machine.running(phalanx_attestation::measure_worker_binary(b"v3"));
    let (_, unapproved) = Successor::new(v3.platform());
    refused.push((
        "unapproved build",
        hand_over(
            &mut old,
            unapproved.handover_key,
            unapproved.quote,
            policy.clone(),
        ),
    ));

    // The policy the host claims allows v3, but the proof is of the real one.
    let claimed = approving()
        .with_measurement(phalanx_attestation::measure_worker_binary(b"v3"))
        .encode();
    let (_, unapproved) = Successor::new(v3.platform());
    refused.push((
        "unproven policy",
        hand_over(
            &mut old,
            unapproved.handover_key,
            unapproved.quote,
            (claimed, policy.1.clone()),
        ),
    ));

    // A forged quote: M2's measurement and the key, signed by a quoting enclave nobody trusts.
    let rogue = SimulatedQuotingEnclave::from_seed([99; 32]);
    let mut report = SimulatedReport::for_worker(b"", handover_report_data(&handover_key));
    report.measurement = m2();
    refused.push((
        "forged quote",
        hand_over(
            &mut old,
            handover_key,
            rogue.quote(report).encode(),
            policy.clone(),
        ),
    ));

    // A tampered quote: the real one with its measurement edited.
    let Quote::Simulated(mut quote) = Quote::decode_strict(&request.quote).expect("decodes") else {
        panic!("a simulated quote");
    };
    quote.report.debug = true;
    refused.push((
        "tampered quote",
        hand_over(
            &mut old,
            handover_key,
            Quote::Simulated(quote).encode(),
            policy.clone(),
        ),
    ));

    // The real quote offered with another key (a host swapping in its own key).
    let own_key =
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([3; 32])).to_bytes();
    refused.push((
        "quote for another key",
        hand_over(&mut old, own_key, request.quote.clone(), policy.clone()),
    ));

    // Truncated and oversized quotes, garbage policy and proof.
    refused.push((
        "truncated quote",
        hand_over(
            &mut old,
            handover_key,
            request.quote[..request.quote.len() / 2].to_vec(),
            policy.clone(),
        ),
    ));
    refused.push((
        "oversized quote",
        hand_over(&mut old, handover_key, vec![0; 70 * 1024], policy.clone()),
    ));
    refused.push((
        "garbage policy",
        hand_over(
            &mut old,
            handover_key,
            request.quote.clone(),
            (vec![0xff; 9], policy.1.clone()),
        ),
    ));
    refused.push((
        "garbage proof",
        hand_over(
            &mut old,
            handover_key,
            request.quote.clone(),
            (policy.0.clone(), vec![1, 2, 3]),
        ),
    ));

    // A "successor" that is this same build.
    let (_, same) = Successor::new(machine.platform());
    refused.push((
        "same build",
        hand_over(&mut old, same.handover_key, same.quote, policy.clone()),
    ));

    for (what, outcome) in &refused {
        assert!(outcome.is_err(), "{what}: {outcome:?}");
    }
    let expect = |what: &str, matches: fn(&EnclaveError) -> bool| {
        let (_, outcome) = refused.iter().find(|(w, _)| *w == what).expect("listed");
        let err = outcome.as_ref().expect_err("refused");
        assert!(matches(err), "{what}: {err}");
    };
    expect("unapproved build", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::NotAllowed(_)))
            && e.to_string().contains("governance")
    });
    expect("unproven policy", |e| {
        matches!(e, EnclaveError::LightClient(_))
    });
    expect("forged quote", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::Quote(_)))
    });
    expect("tampered quote", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::Quote(_)))
    });
    expect("quote for another key", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::NotBound))
    });
    expect("truncated quote", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::Quote(_)))
    });
    expect("oversized quote", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::Quote(_)))
    });
    expect("garbage policy", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::MalformedPolicy(_)))
    });
    expect("garbage proof", |e| {
        matches!(e, EnclaveError::MalformedProof(_))
    });
    expect("same build", |e| {
        matches!(e, EnclaveError::Handover(HandoverError::ToSelf))
    });

    // Nothing changed: M1 is not retired, has nothing pending, and goes on.
    let state = info(&mut old);
    assert_eq!((state.handed_over_to, state.pending), (None, None));
    let me = Origin::Worker(state.identity);
    let pending = old
        .testing_emit(me, b"heartbeat", vec![1])
        .expect("still signs");
    store.persist(&mut old, &pending).expect("stored");

    // And on a chain whose policy does not list M2, M2 itself is refused.
    let plain_chain = chain_with(&phalanx_runtime::genesis::dev_attestation_policy());
    let (_, mut plain) = running_m1(
        tempfile::tempdir().expect("tempdir").path(),
        &Machine::new(23),
        &plain_chain,
    );
    let v2 = Machine::new(23).running(m2());
    let (_, request) = Successor::new(v2.platform());
    assert!(matches!(
        hand_over(
            &mut plain,
            request.handover_key,
            request.quote,
            policy_at(&plain_chain, 2)
        ),
        Err(EnclaveError::Handover(HandoverError::NotAllowed(_)))
    ));
}

/// The package opens only for the successor that asked, unmodified, while the platform counter
/// is still where the old build committed it; an upgrade interrupted after the old build retired
/// is run again (the retired build hands over once more, without a new commit).
#[test]
fn a_package_opens_only_for_its_successor_and_an_interrupted_upgrade_resumes() {
    let chain = chain_with(&approving());
    let dir = tempfile::tempdir().expect("tempdir");
    let machine = Machine::new(24);
    let (store, mut old) = running_m1(dir.path(), &machine, &chain);
    let identity = info(&mut old).identity;
    let v2 = machine.running(m2());
    let (successor, request) = Successor::new(v2.platform());
    let Reply::Pending(retirement) = hand_over(
        &mut old,
        request.handover_key,
        request.quote,
        policy_at(&chain, 2),
    )
    .expect("approved") else {
        panic!("a pending retirement");
    };
    // Held back until the commit: the retirement is a transition like any other.
    assert_eq!(info(&mut old).pending, Some(retirement.counter));
    store.write_pending(&retirement).expect("written");
    let package = store
        .commit(&mut old, &retirement)
        .expect("commits")
        .handover
        .expect("the commit releases the package");
    store.promote().expect("renamed");

    // Another successor of the same build, tampered and truncated packages.
    let (mut other, _) = Successor::new(v2.platform());
    let refusals = [
        other.adopt(&package).map(|_| ()),
        Successor::new(v2.platform())
            .0
            .adopt(&package[..100])
            .map(|_| ()),
    ];
    assert!(matches!(
        refusals[0],
        Err(EnclaveError::Handover(HandoverError::OtherRecipient))
    ));
    assert!(matches!(
        refusals[1],
        Err(EnclaveError::Handover(HandoverError::NotAPackage))
    ));
    // A package for M2 offered to a v3 successor.
    let v3 = machine.running(phalanx_attestation::measure_worker_binary(b"v3"));
    assert!(matches!(
        Successor::new(v3.platform()).0.adopt(&package),
        Err(EnclaveError::Handover(
            HandoverError::OtherMeasurement { .. }
        ))
    ));

    // The successor crashed before adopting: the package is lost with its key. The retired M1
    // is still the committed state; restarted, it hands over again, with no new commit.
    drop(successor);
    drop(old);
    let (mut old, _) = store
        .start(|| Ok(machine.platform()))
        .expect("M1 (retired)");
    assert_eq!(info(&mut old).handed_over_to, Some(m2()));
    assert!(old
        .testing_emit(Origin::Worker(identity), b"t", vec![])
        .is_err());
    let (mut successor, request) = Successor::new(v2.platform());
    let Reply::HandedOver { package } = hand_over(
        &mut old,
        request.handover_key,
        request.quote,
        policy_at(&chain, 2),
    )
    .expect("approved") else {
        panic!("handed over at once");
    };
    // Tampering with any part of the package is caught (and leaves the successor usable):
    // the from-measurement, the counter in the header, the key envelope, the state.
    for at in [20, 110, 160, package.len() - 1] {
        let mut tampered = package.clone();
        tampered[at] ^= 1;
        assert!(
            matches!(
                successor.adopt(&tampered),
                Err(EnclaveError::Handover(HandoverError::NotOpened))
            ),
            "byte {at}"
        );
    }
    let (mut new, first) = successor.adopt(&package).expect("adopts");
    assert!(matches!(
        successor.adopt(&package),
        Err(EnclaveError::Handover(HandoverError::Spent))
    ));
    let counter = first.counter;
    store.persist(&mut new, &first).expect("stored");
    assert_eq!(info(&mut new).identity, identity);
    assert_eq!(info(&mut new).committed, counter);

    // The same retired M1 handing over once more now produces a stale package: M2 moved the
    // counter on, so no second M2 can be made from M1's old state.
    let (mut late, request) = Successor::new(v2.platform());
    let Reply::HandedOver { package } = hand_over(
        &mut old,
        request.handover_key,
        request.quote,
        policy_at(&chain, 2),
    )
    .expect("the stale M1 instance still answers") else {
        panic!("handed over at once");
    };
    let err = late.adopt(&package).expect_err("stale");
    assert!(
        matches!(
            err,
            EnclaveError::Handover(HandoverError::Stale { package: p, current: c }) if p < c
        ),
        "{err}"
    );
}

/// A data directory whose enclave retired (the upgrade was interrupted before the new build
/// committed) is not run by the old build's worker: it stops and says which build to run.
#[test]
fn the_old_build_does_not_run_a_retired_worker() {
    use phalanx_worker::enclave::platform::FileCounter;
    use phalanx_worker::host::{PLATFORM_COUNTER_FILE, PLATFORM_SECRET_FILE};
    use phalanx_worker::{SimulatedPlatform, WorkerConfig};

    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain_with(&approving());
    let store = SealedStore::in_dir(dir.path());
    let (mut old, _) = store
        .start(|| Ok(SimulatedPlatform::dev_in(dir.path())?))
        .expect("M1 starts on the worker's files");
    synced(&chain, &mut old, 2);
    store.seal(&mut old).expect("stored");
    // M2 on the same machine: the same SIMULATED secret and counter files.
    let secret: [u8; 32] = std::fs::read(dir.path().join(PLATFORM_SECRET_FILE))
        .expect("secret file")
        .try_into()
        .expect("32 bytes");
    let v2 = SimulatedPlatform::new(
        secret,
        m2(),
        phalanx_runtime::genesis::dev_quoting_enclave(),
    )
    .with_counter(FileCounter::at(&dir.path().join(PLATFORM_COUNTER_FILE)));
    let (successor, request) = Successor::new(v2);
    let Reply::Pending(retirement) = hand_over(
        &mut old,
        request.handover_key,
        request.quote,
        policy_at(&chain, 2),
    )
    .expect("approved") else {
        panic!("a pending retirement");
    };
    store.persist(&mut old, &retirement).expect("retired");
    drop((old, successor)); // the upgrade dies before M2 adopts

    let config = WorkerConfig::dev(
        "http://127.0.0.1:1",
        dir.path().to_path_buf(),
        "charlie",
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    );
    let mut worker = phalanx_worker::spawn("w", config).expect("thread starts");
    let err = worker
        .wait_started(std::time::Duration::from_secs(30))
        .expect_err("refused");
    assert!(
        matches!(&err, phalanx_worker::Error::Host(HostError::HandedOver { to }) if *to == hex::encode(m2())),
        "{err}"
    );
    assert!(err.to_string().contains("run that worker build"), "{err}");
}
