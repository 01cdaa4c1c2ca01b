//! Unit tests of the enclave that need no chain: keys, sealing across restarts, the commit
//! protocol's bookkeeping, refusals before a chain is pinned. Chain scenarios (sync, proofs,
//! registration, the outbox) are in `tests/enclave.rs`, crash recovery through the host's files
//! in `tests/store.rs`.

use super::*;
use platform::MemoryCounter;

// One machine's counter per test (each test runs on its own thread), shared by every
// platform `platform()` makes in it.
thread_local! {
    static COUNTER: MemoryCounter = MemoryCounter::new();
}

fn platform() -> SimulatedPlatform {
    SimulatedPlatform::dev([42; 32]).with_counter(COUNTER.with(Clone::clone))
}

/// A new enclave whose keys are committed; returns it and its blob.
fn fresh() -> (Enclave, Vec<u8>) {
    let (mut enclave, started) = Enclave::start(platform(), &[]).expect("fresh start");
    let pending = started.pending.expect("new keys are pending");
    commit(&mut enclave, &pending);
    (enclave, pending.sealed)
}

fn commit(enclave: &mut Enclave, pending: &Pending) -> Committed {
    match enclave.ecall(Ecall::Commit {
        counter: pending.counter,
    }) {
        Ok(Reply::Committed(committed)) => committed,
        other => panic!("unexpected reply {other:?}"),
    }
}

fn restart(sealed: &[u8]) -> Result<Enclave, StartError> {
    Enclave::start(platform(), &[sealed]).map(|(enclave, _)| enclave)
}

fn info(enclave: &mut Enclave) -> EnclaveInfo {
    match enclave.ecall(Ecall::Info).expect("info never fails") {
        Reply::Info(info) => info,
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn a_restart_from_the_sealed_file_keeps_the_identity() {
    let (mut first, started) = Enclave::start(platform(), &[]).expect("fresh start");
    assert!(started.created);
    let pending = started.pending.expect("new keys are pending");
    assert_eq!(info(&mut first).pending, Some(pending.counter));
    // Until the first commit the new keys are nobody: a restart from that blob is refused.
    assert!(matches!(
        restart(&pending.sealed).map_err(|e| e.source),
        Err(EnclaveError::NotCommitted { .. })
    ));
    commit(&mut first, &pending);
    let before = info(&mut first);
    assert!(before.simulated);
    assert_eq!(before.genesis_hash, None);
    assert_eq!((before.committed, before.pending), (pending.counter, None));

    let (mut again, restarted) = Enclave::start(platform(), &[&pending.sealed]).expect("restart");
    assert!(!restarted.created);
    assert_eq!(restarted.accepted, Some(0));
    assert!(restarted.pending.is_none(), "resuming seals nothing");
    assert_eq!(info(&mut again), before);

    // A second fresh enclave is another worker.
    let (mut other, _) = fresh();
    let other = info(&mut other);
    assert_ne!(other.identity, before.identity);
    assert_ne!(other.encryption_key, before.encryption_key);
}

#[test]
fn a_tampered_sealed_file_is_refused() {
    let (_, sealed) = fresh();
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    let err = restart(&tampered).expect_err("refused");
    assert!(
        matches!(err.source, EnclaveError::Seal(SealError::Tampered)),
        "{err}"
    );
    assert_eq!(err.offered, Some(0));
    assert!(err.to_string().contains("tampered"));
    let err = restart(&sealed[..40]).expect_err("refused");
    assert!(
        matches!(err.source, EnclaveError::Seal(SealError::NotSealed)),
        "{err}"
    );
}

#[test]
fn a_sealed_file_from_another_measurement_is_refused() {
    let (_, sealed) = fresh();
    let other_build = SimulatedPlatform::new(
        [42; 32],
        phalanx_attestation::measure_worker_binary(b"phalanx-worker/simulated v2"),
        phalanx_runtime::genesis::dev_quoting_enclave(),
    )
    .with_counter(COUNTER.with(Clone::clone));
    let err = Enclave::start(other_build, &[&sealed]).expect_err("refused");
    assert!(
        matches!(
            err.source,
            EnclaveError::Seal(SealError::OtherMeasurement { .. })
        ),
        "{err}"
    );
    // And another machine (another platform secret) with the same build cannot read it either.
    let other_machine = SimulatedPlatform::dev([43; 32]);
    assert!(matches!(
        Enclave::start(other_machine, &[&sealed]).map_err(|e| e.source),
        Err(EnclaveError::Seal(SealError::Tampered))
    ));
}

#[test]
fn chain_ecalls_before_pinning_are_refused() {
    let (mut enclave, _) = fresh();
    let calls = [
        Ecall::SyncBlock {
            block: vec![],
            certificate: vec![],
        },
        Ecall::VerifyValue {
            key: b"k".to_vec(),
            value: None,
            proof: vec![],
        },
        Ecall::Register {
            operator: Keypair::dev("charlie").account(),
            endpoint: "http://127.0.0.1:1".into(),
        },
        Ecall::Delivered {
            origin: Origin::Worker([0; 32]),
            next_sequence: 1,
            proof: vec![],
        },
    ];
    for call in calls {
        assert!(
            matches!(
                enclave.ecall(call.clone()),
                Err(EnclaveError::ChainNotPinned)
            ),
            "{call:?}"
        );
    }
    // Messages are signed for a chain, so there are none before one is pinned.
    let me = Origin::Worker(enclave.identity.account().0);
    assert!(matches!(
        enclave.emit(me, b"t", vec![]),
        Err(EnclaveError::ChainNotPinned)
    ));
    let info = info(&mut enclave);
    assert_eq!((info.next_sequence, info.pending), (0, None));
}

#[test]
fn commits_need_a_pending_blob_and_its_counter() {
    let (mut enclave, _) = fresh();
    assert!(matches!(
        enclave.ecall(Ecall::Commit { counter: 2 }),
        Err(EnclaveError::NothingToCommit)
    ));
    let Ok(Reply::Pending(pending)) = enclave.ecall(Ecall::Seal) else {
        panic!("sealing gives a pending blob");
    };
    for counter in [0, pending.counter - 1, pending.counter + 1] {
        assert!(matches!(
            enclave.ecall(Ecall::Commit { counter }),
            Err(EnclaveError::WrongCommit { .. })
        ));
    }
    assert_eq!(info(&mut enclave).pending, Some(pending.counter));
    let committed = commit(&mut enclave, &pending);
    assert_eq!(committed.counter, pending.counter);
    assert!(committed.messages.is_empty());
    assert_eq!(info(&mut enclave).committed, pending.counter);
}

/// A commit whose counter write failed after all (or whose reply was lost) can be retried: the
/// enclave finds the counter already at its pending blob and completes.
#[test]
fn a_retried_commit_completes() {
    let (mut enclave, _) = fresh();
    let Ok(Reply::Pending(pending)) = enclave.ecall(Ecall::Seal) else {
        panic!("sealing gives a pending blob");
    };
    let target = enclave.pending.as_ref().expect("pending").target;
    let from = enclave.committed;
    enclave
        .platform
        .advance_counter(&from, &target)
        .expect("the counter moves, as if the commit's reply was lost");
    let committed = commit(&mut enclave, &pending);
    assert_eq!(committed.counter, pending.counter);
    assert!(restart(&pending.sealed).is_ok());
}

/// The outbox through the crate-internal entry point sibling modules use: a batch is one
/// transition, held back as a whole, released as a whole, in order.
#[test]
fn a_batch_of_messages_is_one_transition() {
    let (mut enclave, _) = fresh();
    // A chain to sign for: any pinned light client will do for signing.
    let genesis = Header {
        parent: Hash::ZERO,
        height: 0,
        timestamp_ms: 0,
        tx_root: phalanx_primitives::block::tx_root(&[]),
        state_root: Hash::ZERO,
    };
    let validators =
        phalanx_light_client::testing::raw_publics(&phalanx_light_client::testing::keys(4));
    let client = LightClient::resume(genesis.hash(), genesis, 0, &validators, b"test")
        .expect("a light client at genesis");
    enclave.chain = Some(Chain { client });
    let me = enclave.identity.account().0;
    let batch = vec![
        Outgoing {
            origin: Origin::Worker(me),
            topic: b"a".to_vec(),
            payload: vec![1],
        },
        Outgoing {
            origin: Origin::Gatekeeper(me),
            topic: b"b".to_vec(),
            payload: vec![2],
        },
        Outgoing {
            origin: Origin::Worker(me),
            topic: b"c".to_vec(),
            payload: vec![3],
        },
    ];
    let before = info(&mut enclave).committed;
    let pending = enclave.emit_all(batch.clone()).expect("emits");
    assert_eq!(
        pending.counter,
        before + 1,
        "one counter step for the batch"
    );
    assert!(enclave.released().is_empty());
    let committed = commit(&mut enclave, &pending);
    let got: Vec<_> = committed
        .messages
        .iter()
        .map(|m| (m.origin, m.sequence, m.payload.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Origin::Worker(me), 0, vec![1]),
            (Origin::Gatekeeper(me), 0, vec![2]),
            (Origin::Worker(me), 1, vec![3]),
        ]
    );
    // A batch with one bad message is refused whole.
    let mut bad = batch;
    bad[1].origin = Origin::Contract(me);
    assert!(matches!(
        enclave.emit_all(bad),
        Err(EnclaveError::NoKeyForOrigin { .. })
    ));
    assert_eq!(enclave.outbox.len(), 3);
    assert!(enclave.pending.is_none());
}

#[test]
fn debug_output_is_public_and_says_simulated() {
    let (enclave, sealed) = fresh();
    let shown = format!("{enclave:?}");
    assert!(shown.contains("SIMULATED"));
    assert!(!shown.contains(&hex::encode(enclave.identity.secret())));
    assert!(!shown.contains(&hex::encode(enclave.encryption.to_bytes())));
    // The sealed blob does not carry the secrets in the clear.
    let secret = enclave.identity.secret();
    assert!(!sealed.windows(32).any(|w| w == secret));
}

#[test]
fn there_is_no_enclave_time_before_a_chain_is_pinned() {
    let (mut enclave, _) = fresh();
    assert!(matches!(
        enclave.chain_time_ms(),
        Err(EnclaveError::ChainNotPinned)
    ));
    assert_eq!(info(&mut enclave).chain_time_ms, None);
}

/// The enclave's clock is the verified head (module docs, "Time"): no enclave source may read
/// the wall clock, and only the platform's cycle counter may take an `Instant`. Scans every
/// file of the enclave module, so a new one is covered without editing this test.
#[test]
fn nothing_in_the_enclave_reads_the_wall_clock() {
    // Built at run time so this file does not match itself.
    let wall_clock = ["System", "Time"].concat();
    let unix_epoch = ["UNIX", "_EPOCH"].concat();
    let instant_now = ["Instant", "::now"].concat();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/enclave");
    let mut scanned = 0;
    for entry in std::fs::read_dir(&dir).expect("the enclave sources") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("a source file");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        assert!(!source.contains(&wall_clock), "{name} reads the wall clock");
        assert!(!source.contains(&unix_epoch), "{name} reads the wall clock");
        if name != "platform.rs" {
            assert!(
                !source.contains(&instant_now),
                "{name} reads a clock; use the chain's time"
            );
        }
        scanned += 1;
    }
    assert!(scanned >= 4, "scanned {scanned} files in {}", dir.display());
}
