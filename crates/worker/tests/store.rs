//! The host's sealed-state files under crashes: the worker is killed (its enclave and host
//! dropped) after every step of storing a change, restarted from its data directory, and must
//! resume with everything it released, never release a sequence number with a second content,
//! and never be left without a state it accepts.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use std::collections::BTreeMap;

use common::{info, outbox, synced, FakeChain, Machine};
use phalanx_primitives::call::{Origin, SignedMessage};
use phalanx_worker::{Enclave, EnclaveError, HostError, SealedStore};

/// Where the worker is killed while storing a change: just after the step named.
#[derive(Clone, Copy, Debug)]
enum Crash {
    /// The enclave sealed the change; the host wrote nothing.
    Sealed,
    /// The pending file is written; no commit.
    PendingWritten,
    /// Committed (the counter moved, the message was released); the pending file is not yet
    /// renamed over the sealed file.
    Committed,
    /// All steps done.
    Renamed,
}

fn start(store: &SealedStore, machine: &Machine) -> (Enclave, phalanx_worker::store::Opened) {
    store
        .start(|| Ok(machine.platform()))
        .expect("the worker starts from its files")
}

/// Every (origin, sequence) must have one content across everything ever released.
fn check_one_content_per_sequence(released: &[SignedMessage]) {
    let mut seen: BTreeMap<(Origin, u64), &SignedMessage> = BTreeMap::new();
    for message in released {
        if let Some(earlier) = seen.insert((message.origin, message.sequence), message) {
            assert_eq!(
                earlier, message,
                "sequence {} released with two contents",
                message.sequence
            );
        }
    }
}

#[test]
fn a_crash_at_every_step_resumes_without_loss_or_a_second_content() {
    let chain = FakeChain::new(2);
    for crash in [
        Crash::Sealed,
        Crash::PendingWritten,
        Crash::Committed,
        Crash::Renamed,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SealedStore::in_dir(dir.path());
        let machine = Machine::new(11);
        let (mut enclave, opened) = start(&store, &machine);
        assert!(opened.created);
        synced(&chain, &mut enclave, 1);
        store.seal(&mut enclave).expect("stores the pinned chain");
        let me = Origin::Worker(info(&mut enclave).identity);
        let mut released = Vec::new();

        // Message 0 is released and stored normally.
        let pending = enclave
            .testing_emit(me, b"topic", b"zero".to_vec())
            .expect("emits");
        released.extend(
            store
                .persist(&mut enclave, &pending)
                .expect("stored")
                .messages,
        );

        // Message 1: the worker dies at `crash`.
        let pending = enclave
            .testing_emit(me, b"topic", b"one".to_vec())
            .expect("emits");
        match crash {
            Crash::Sealed => {}
            Crash::PendingWritten => store.write_pending(&pending).expect("written"),
            Crash::Committed => {
                store.write_pending(&pending).expect("written");
                released.extend(
                    store
                        .commit(&mut enclave, &pending)
                        .expect("commits")
                        .messages,
                );
            }
            Crash::Renamed => {
                released.extend(
                    store
                        .persist(&mut enclave, &pending)
                        .expect("stored")
                        .messages,
                );
            }
        }
        let one_was_released = released.len() == 2;
        drop(enclave); // kill -9

        let (mut enclave, opened) = start(&store, &machine);
        assert!(!opened.created, "{crash:?}: the same worker resumes");
        assert_eq!(
            opened.resumed_from.as_deref(),
            Some(store.sealed_path()),
            "{crash:?}"
        );
        assert!(
            !store.pending_path().exists(),
            "{crash:?}: no pending file left"
        );
        match crash {
            Crash::PendingWritten => assert!(
                matches!(
                    opened.discarded.as_slice(),
                    [(_, EnclaveError::NotCommitted { .. })]
                ),
                "{crash:?}: {:?}",
                opened.discarded
            ),
            _ => assert!(opened.discarded.is_empty(), "{crash:?}"),
        }
        // Nothing released is lost: the outbox hands it out again, byte for byte.
        assert_eq!(outbox(&mut enclave), released, "{crash:?}");
        assert_eq!(info(&mut enclave).head.map(|(h, _)| h), Some(1));

        // The worker goes on: its next message takes the next free sequence, and a message
        // that was never released may have its sequence reused with new content.
        let pending = enclave
            .testing_emit(me, b"topic", b"after the crash".to_vec())
            .expect("emits");
        let next = store
            .persist(&mut enclave, &pending)
            .expect("stored")
            .messages;
        assert_eq!(
            next[0].sequence,
            if one_was_released { 2 } else { 1 },
            "{crash:?}"
        );
        released.extend(next);
        check_one_content_per_sequence(&released);
        let sequences: Vec<u64> = released.iter().map(|m| m.sequence).collect();
        assert_eq!(
            sequences,
            (0..released.len() as u64).collect::<Vec<_>>(),
            "{crash:?}: gap-free"
        );

        // And it survives a clean restart too.
        drop(enclave);
        let (mut enclave, _) = start(&store, &machine);
        assert_eq!(outbox(&mut enclave), released, "{crash:?}");
    }
}

/// A first start killed before its commit leaves only an uncommitted pending file: the next
/// start discards it and creates a new identity (the lost one was never used).
#[test]
fn a_first_start_killed_before_its_commit_starts_anew() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SealedStore::in_dir(dir.path());
    let machine = Machine::new(12);
    let (mut never, started) = Enclave::start(machine.platform(), &[]).expect("fresh start");
    let lost = info(&mut never).identity;
    store
        .write_pending(&started.pending.expect("new keys are pending"))
        .expect("written");
    drop(never);

    let (mut enclave, opened) = start(&store, &machine);
    assert!(opened.created);
    assert!(matches!(
        opened.discarded.as_slice(),
        [(_, EnclaveError::NotCommitted { .. })]
    ));
    let identity = info(&mut enclave).identity;
    assert_ne!(identity, lost);
    assert!(store.sealed_path().exists() && !store.pending_path().exists());
    drop(enclave);
    let (mut again, opened) = start(&store, &machine);
    assert!(!opened.created);
    assert_eq!(info(&mut again).identity, identity);
}

/// A rolled-back sealed file is refused at start with the reason, and the store neither
/// replaces it with a new identity nor deletes anything: the operator can still restore the
/// latest file.
#[test]
fn a_rolled_back_sealed_file_is_reported_and_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SealedStore::in_dir(dir.path());
    let machine = Machine::new(13);
    let (mut enclave, _) = start(&store, &machine);
    let old = std::fs::read(store.sealed_path()).expect("sealed file");
    store.seal(&mut enclave).expect("a later state");
    let latest = std::fs::read(store.sealed_path()).expect("sealed file");
    drop(enclave);

    std::fs::write(store.sealed_path(), &old).expect("roll back");
    let err = store
        .start(|| Ok(machine.platform()))
        .expect_err("rolled back");
    assert!(
        matches!(
            &err,
            HostError::StaleSealedFile {
                path,
                source: EnclaveError::RolledBack { sealed: 1, current: 2 },
            } if path == store.sealed_path()
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&store.sealed_path().display().to_string()) && text.contains("rolled back"),
        "{text}"
    );
    assert_eq!(std::fs::read(store.sealed_path()).expect("kept"), old);

    // A stale pending copy beside it changes nothing.
    std::fs::write(store.pending_path(), &old).expect("stale pending");
    assert!(matches!(
        store.start(|| Ok(machine.platform())),
        Err(HostError::StaleSealedFile { .. })
    ));

    // Restoring the latest file brings the worker back.
    std::fs::remove_file(store.pending_path()).expect("remove");
    std::fs::write(store.sealed_path(), &latest).expect("restore");
    let (_, opened) = start(&store, &machine);
    assert!(!opened.created);
}
