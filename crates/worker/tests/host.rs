//! The host refuses to run a worker it cannot trust to be itself: a tampered, foreign or
//! rolled-back sealed file stops it before it talks to any node, and a non-simulated config is
//! refused.

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

/// Runs a worker until its enclave started, then stops it (which seals and commits its state).
fn run_once(dir: &std::path::Path) -> String {
    let mut worker = spawn("w", config(dir)).expect("starts");
    let status = worker
        .wait_started(std::time::Duration::from_secs(30))
        .expect("the enclave starts");
    worker.stop().expect("stops cleanly");
    status.identity
}

/// `phalanx worker` on a data directory whose sealed file was rolled back to an older copy:
/// the CLI entry point returns the error (the binary prints it and exits non-zero), naming the
/// file, the counters and what to do, and leaves the files as they are.
#[test]
fn a_rolled_back_sealed_file_stops_the_worker_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let identity = run_once(dir.path());
    let sealed = dir.path().join(phalanx_worker::host::SEALED_FILE);
    let old = std::fs::read(&sealed).expect("sealed file");
    assert_eq!(run_once(dir.path()), identity, "a clean restart resumes");
    let latest = std::fs::read(&sealed).expect("sealed file");
    assert_ne!(old, latest);

    std::fs::write(&sealed, &old).expect("roll back");
    let config_path = dir.path().join("worker.toml");
    std::fs::write(
        &config_path,
        toml::to_string(&config(dir.path())).expect("config serializes"),
    )
    .expect("config written");
    let err = phalanx_worker::cli_run(&config_path, std::future::pending())
        .expect_err("a rolled-back file stops the worker");
    assert!(
        matches!(
            &err,
            Error::Host(HostError::StaleSealedFile {
                path,
                source: EnclaveError::RolledBack { sealed: s, current: c },
            }) if *path == sealed && s < c
        ),
        "{err}"
    );
    let text = err.to_string();
    for needed in [
        sealed.display().to_string().as_str(),
        "rolled back",
        "latest sealed file",
    ] {
        assert!(text.contains(needed), "{needed:?} missing from: {text}");
    }
    assert_eq!(
        std::fs::read(&sealed).expect("kept"),
        old,
        "nothing replaced"
    );

    // Restoring the latest file brings the same worker back.
    std::fs::write(&sealed, &latest).expect("restore");
    assert_eq!(run_once(dir.path()), identity);
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
