//! The host refuses to run a worker it cannot trust to be itself: a tampered or foreign sealed
//! file stops it before it talks to any node, and a non-simulated config is refused.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use std::net::SocketAddr;

use phalanx_worker::enclave::SealError;
use phalanx_worker::{spawn, ConfigError, EnclaveError, Error, HostError, WorkerConfig};

fn config(dir: &std::path::Path) -> WorkerConfig {
    // Nothing listens there: these workers must fail before they need a node.
    WorkerConfig::dev(
        "http://127.0.0.1:1",
        dir.to_path_buf(),
        "charlie",
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
}

fn wait_stopped(handle: &phalanx_worker::WorkerHandle) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while handle.is_running() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_worker_keeps_its_identity_and_refuses_a_tampered_sealed_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = spawn("w", config(dir.path())).expect("starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let identity = loop {
        if let Some(status) = first.status() {
            break status.identity;
        }
        assert!(std::time::Instant::now() < deadline, "no status");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // Its node is unreachable: it keeps retrying rather than stopping.
    assert!(first.is_running());
    first.stop().expect("stops cleanly");

    let again = spawn("w", config(dir.path())).expect("restarts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while again.status().is_none() {
        assert!(std::time::Instant::now() < deadline, "no status");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(again.status().expect("status").identity, identity);
    again.stop().expect("stops cleanly");

    let sealed = dir.path().join(phalanx_worker::host::SEALED_FILE);
    let mut bytes = std::fs::read(&sealed).expect("sealed file exists");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&sealed, &bytes).expect("tamper");
    let tampered = spawn("w", config(dir.path())).expect("thread starts");
    wait_stopped(&tampered);
    let err = tampered.stop().expect_err("refuses the tampered file");
    assert!(
        matches!(
            err,
            Error::Host(HostError::SealedFile {
                source: EnclaveError::Seal(SealError::Tampered),
                ..
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("tampered"));
}

#[test]
fn a_non_simulated_worker_is_refused_up_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.simulated = false;
    let err = spawn("w", config).expect_err("refused");
    assert!(
        matches!(err, Error::Config(ConfigError::NotSimulated)),
        "{err}"
    );
    assert!(err.to_string().contains("not built yet"));
}
