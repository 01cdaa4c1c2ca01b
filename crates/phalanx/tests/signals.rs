//! A stop signal sent the moment `phalanx dev` says it is ready still takes the clean path
//! (exit 0, shutdown snapshot, "stopped; resume with"). The handlers used to be installed only
//! when the shutdown future was first polled, after the ready banner, so a SIGTERM in between
//! killed the process by the default action (seen once in CI as "signal: 15").

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::Dev;
use std::time::Duration;

#[test]
fn sigterm_right_after_the_ready_banner_stops_cleanly() {
    for round in 0..3 {
        let data = tempfile::tempdir().expect("tempdir");
        let logs = tempfile::tempdir().expect("tempdir");
        let mut dev = Dev::start(
            data.path(),
            &logs.path().join("dev.log"),
            &["--workers", "0", "--gatekeepers", "0"],
        );
        // `Dev::start` returns as soon as the RPC address is printed: signal at once.
        dev.proc.signal(if round == 1 { "INT" } else { "TERM" });
        let status = dev.proc.wait_exit(Duration::from_secs(30));
        if !status.success() {
            dev.proc.fail(&format!(
                "round {round}: the signal did not stop dev cleanly: {status}"
            ));
        }
        assert!(
            dev.proc.stdout().contains("stopped; resume with"),
            "round {round}: {}",
            dev.proc.stdout()
        );
    }
}
