//! Restarts through the real binary, past epoch boundaries (64 blocks): `phalanx dev` with
//! 100 ms blocks is stopped with kill -9 in epoch 0, with Ctrl-C (SIGINT), kill -9 and SIGTERM
//! in epoch 1, and with SIGINT and kill -9 in epoch 5, and restarted on the same data directory
//! each time. After every restart: the chain reopened at least at the height it reported before
//! the stop, every transfer the CLI reported finalized is still found at the same height, and a
//! new transfer finalizes. A clean stop (SIGINT, SIGTERM) exits 0 and writes the shutdown
//! snapshot.
//!
//! One chain runs all the scenarios in order, so the test pays for the climb to epoch 5 once.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{cli, Dev, EPOCH};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// How a running node is stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// Ctrl-C.
    Interrupt,
    /// What service managers send.
    Terminate,
    /// kill -9: no cleanup at all.
    Kill,
}

/// Transfers the CLI reported finalized: (hash, height).
type Finalized = Vec<(String, u64)>;

fn start(data: &Path, logs: &Path, run: &mut u32) -> Dev {
    *run += 1;
    Dev::start(
        data,
        &logs.join(format!("dev-{run}.log")),
        &[
            "--workers",
            "0",
            "--gatekeepers",
            "0",
            "--block-interval-ms",
            "100",
        ],
    )
}

/// Runs the chain to `min_height`, sends a transfer, stops the node with `stop`, restarts it
/// and checks that nothing finalized was forgotten and that it finalizes again.
fn stop_and_restart(
    dev: Dev,
    stop: Stop,
    min_height: u64,
    finalized: &mut Finalized,
    data: &Path,
    logs: &Path,
    run: &mut u32,
) -> Dev {
    let mut dev = dev;
    dev.wait_height(min_height, Duration::from_secs(120));
    finalized.push(dev.transfer());
    let reported = common::height(&dev.rpc)
        .unwrap_or(0)
        .max(finalized.iter().map(|(_, h)| *h).max().unwrap_or(0));
    let snapshot = data.join("chain").join("state.snapshot");
    // Less a little: file times come from the kernel's coarse clock.
    let signalled = SystemTime::now() - Duration::from_millis(20);
    let started = Instant::now();
    match stop {
        Stop::Interrupt | Stop::Terminate => {
            dev.proc.signal(match stop {
                Stop::Interrupt => "INT",
                _ => "TERM",
            });
            let status = dev.proc.wait_exit(Duration::from_secs(30));
            if !status.success() {
                dev.proc
                    .fail(&format!("{stop:?} did not stop cleanly: {status}"));
            }
            assert!(
                dev.proc.stdout().contains("stopped; resume with"),
                "{stop:?}: the clean-stop message is printed"
            );
            let written = std::fs::metadata(&snapshot)
                .and_then(|m| m.modified())
                .expect("the snapshot exists");
            assert!(
                written >= signalled,
                "{stop:?}: the shutdown snapshot was written"
            );
        }
        Stop::Kill => dev.proc.kill_hard(),
    }
    eprintln!(
        "stopped with {stop:?} at height {reported} (took {:?})",
        started.elapsed()
    );
    drop(dev);

    let dev = start(data, logs, run);
    let opened = dev.opened_at();
    assert!(
        opened >= reported,
        "after {stop:?} the chain reopened at {opened}, below the {reported} it reported"
    );
    for (hash, at) in finalized.iter() {
        let (success, tx) = cli(&dev.rpc, &["tx", hash]);
        assert!(
            success && tx["status"] == "finalized" && tx["location"]["height"] == *at,
            "after {stop:?}: transfer {hash}, reported finalized at {at}, reads {tx}"
        );
    }
    finalized.push(dev.transfer());
    eprintln!("restarted after {stop:?} at height {opened}; a new transfer finalized");
    dev
}

#[test]
fn dev_restarts_in_epochs_0_1_and_5_keep_every_finalized_transfer() {
    let began = Instant::now();
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let (data, logs) = (data.path(), logs.path());
    let mut run = 0;
    let mut finalized = Finalized::new();

    let dev = start(data, logs, &mut run);
    // Epoch 0.
    let dev = stop_and_restart(dev, Stop::Kill, 10, &mut finalized, data, logs, &mut run);
    // Epoch 1: past the first boundary, where restarted nodes used to stop finalizing.
    let dev = stop_and_restart(
        dev,
        Stop::Interrupt,
        EPOCH + 4,
        &mut finalized,
        data,
        logs,
        &mut run,
    );
    let dev = stop_and_restart(
        dev,
        Stop::Kill,
        EPOCH + 12,
        &mut finalized,
        data,
        logs,
        &mut run,
    );
    let dev = stop_and_restart(
        dev,
        Stop::Terminate,
        EPOCH + 20,
        &mut finalized,
        data,
        logs,
        &mut run,
    );
    // Epoch 5.
    let dev = stop_and_restart(
        dev,
        Stop::Interrupt,
        5 * EPOCH + 2,
        &mut finalized,
        data,
        logs,
        &mut run,
    );
    let dev = stop_and_restart(
        dev,
        Stop::Kill,
        5 * EPOCH + 10,
        &mut finalized,
        data,
        logs,
        &mut run,
    );

    let last = finalized.last().map(|(_, h)| *h).unwrap_or(0);
    assert!(
        last > 5 * EPOCH,
        "the last transfer finalized in epoch 5 (height {last})"
    );
    drop(dev);
    eprintln!(
        "{} transfers finalized across {run} starts in {:?}",
        finalized.len(),
        began.elapsed()
    );
}
