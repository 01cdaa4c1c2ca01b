//! Unit tests of the enclave that need no chain: keys, sealing across restarts, refusals
//! before a chain is pinned. Chain scenarios (sync, proofs, registration, messages) are in
//! `tests/enclave.rs`.

use super::*;

fn platform() -> SimulatedPlatform {
    SimulatedPlatform::dev([42; 32])
}

fn info(enclave: &mut Enclave) -> EnclaveInfo {
    match enclave.ecall(Ecall::Info).expect("info never fails") {
        Reply::Info(info) => info,
        other => panic!("unexpected reply {other:?}"),
    }
}

#[test]
fn a_restart_from_the_sealed_file_keeps_the_identity() {
    let (mut first, started) = Enclave::start(platform(), None).expect("fresh start");
    assert!(started.created);
    let before = info(&mut first);
    assert!(before.simulated);
    assert_eq!(before.genesis_hash, None);

    let (mut again, restarted) =
        Enclave::start(platform(), Some(&started.sealed)).expect("restart");
    assert!(!restarted.created);
    assert_eq!(info(&mut again), before);
    // The blob is resealed with a fresh nonce, and that one restores the same keys too.
    assert_ne!(restarted.sealed, started.sealed);
    let (mut third, _) = Enclave::start(platform(), Some(&restarted.sealed)).expect("restart");
    assert_eq!(info(&mut third).identity, before.identity);

    // A second fresh enclave is another worker.
    let (mut other, _) = Enclave::start(platform(), None).expect("fresh start");
    let other = info(&mut other);
    assert_ne!(other.identity, before.identity);
    assert_ne!(other.encryption_key, before.encryption_key);
}

#[test]
fn a_tampered_sealed_file_is_refused() {
    let (_, started) = Enclave::start(platform(), None).expect("fresh start");
    let mut tampered = started.sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    let err = Enclave::start(platform(), Some(&tampered)).expect_err("refused");
    assert!(
        matches!(err, EnclaveError::Seal(SealError::Tampered)),
        "{err}"
    );
    assert!(err.to_string().contains("tampered"));
    let err = Enclave::start(platform(), Some(&started.sealed[..40])).expect_err("refused");
    assert!(
        matches!(err, EnclaveError::Seal(SealError::NotSealed)),
        "{err}"
    );
}

#[test]
fn a_sealed_file_from_another_measurement_is_refused() {
    let (_, started) = Enclave::start(platform(), None).expect("fresh start");
    let other_build = SimulatedPlatform::new(
        [42; 32],
        phalanx_attestation::measure_worker_binary(b"phalanx-worker/simulated v2"),
        phalanx_runtime::genesis::dev_quoting_enclave(),
    );
    let err = Enclave::start(other_build, Some(&started.sealed)).expect_err("refused");
    assert!(
        matches!(err, EnclaveError::Seal(SealError::OtherMeasurement { .. })),
        "{err}"
    );
    // And another machine (another platform secret) with the same build cannot read it either.
    let other_machine = SimulatedPlatform::dev([43; 32]);
    assert!(matches!(
        Enclave::start(other_machine, Some(&started.sealed)),
        Err(EnclaveError::Seal(SealError::Tampered))
    ));
}

#[test]
fn chain_ecalls_before_pinning_are_refused() {
    let (mut enclave, _) = Enclave::start(platform(), None).expect("fresh start");
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
        Ecall::SignMessage {
            topic: vec![],
            payload: vec![],
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
    assert_eq!(info(&mut enclave).next_sequence, 0);
}

#[test]
fn debug_output_is_public_and_says_simulated() {
    let (enclave, started) = Enclave::start(platform(), None).expect("fresh start");
    let shown = format!("{enclave:?}");
    assert!(shown.contains("SIMULATED"));
    assert!(!shown.contains(&hex::encode(enclave.identity.secret())));
    assert!(!shown.contains(&hex::encode(enclave.encryption.to_bytes())));
    // The sealed blob does not carry the secrets in the clear.
    let secret = enclave.identity.secret();
    assert!(!started.sealed.windows(32).any(|w| w == secret));
}

#[test]
fn there_is_no_enclave_time_before_a_chain_is_pinned() {
    let (mut enclave, _) = Enclave::start(platform(), None).expect("fresh start");
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
