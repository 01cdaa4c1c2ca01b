//! The mining lifecycle through the real binary, as an operator lives it: a `phalanx worker`
//! registers; its operator creates a stake pool, contributes, binds and starts the worker with
//! the CLI; the worker answers heartbeats and a settled dev day (one minute of chain time)
//! pays it; killed with SIGKILL, it goes unresponsive, earns nothing and is slashed once past
//! the grace period; restarted on the same data, it answers its open challenge and computes
//! again. `phalanx dev` runs its own workers computing in pools, checked by
//! `dev_workers_compute_and_earn_in_pools`, which also bonds and unbonds with `phalanx stake`.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{amount, cli, ok, wait_until, worker_config, Dev, Proc};
use serde_json::Value;
use std::time::Duration;

fn rewards(rpc: &str, who: &str) -> Value {
    ok(rpc, &["rewards", who])
}

fn worker_field(rpc: &str, identity: &str, field: &str) -> Value {
    rewards(rpc, identity)["worker"]["worker"][field].clone()
}

#[test]
fn a_worker_earns_goes_unresponsive_when_killed_is_slashed_and_comes_back() {
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let (data, logs) = (data.path(), logs.path());
    let dev = Dev::start(
        data,
        &logs.join("dev.log"),
        &["--workers", "0", "--gatekeepers", "0"],
    );
    let rpc = dev.rpc.clone();
    let config = worker_config(logs, &data.join("w"), &rpc, "charlie");
    let config = config.to_str().expect("utf-8");
    let mut worker = Proc::spawn(
        "phalanx worker",
        &["worker", "--config", config],
        &logs.join("worker.log"),
    );
    // Registered: `phalanx workers` lists it.
    let mut identity = String::new();
    wait_until(Duration::from_secs(90), "the worker registers", || {
        let listed = ok(&rpc, &["workers"]);
        match listed["workers"].as_array().and_then(|w| w.first()) {
            Some(w) => {
                identity = w["identity"].as_str().unwrap_or_default().to_string();
                true
            }
            None => false,
        }
    });

    // The operator's pool: refusals first, each with its reason.
    let (done, refused) = cli(
        &rpc,
        &[
            "pool",
            "create",
            "--from",
            "charlie",
            "--commission",
            "100.5",
        ],
    );
    assert!(!done, "a commission over 100% is refused: {refused}");
    let created = ok(
        &rpc,
        &["pool", "create", "--from", "charlie", "--commission", "10"],
    );
    assert_eq!(created["status"], "finalized", "{created}");
    ok(
        &rpc,
        &["pool", "contribute", "0", "10000", "--from", "charlie"],
    );
    let (done, refused) = cli(
        &rpc,
        &["pool", "add-worker", "0", &identity, "--from", "bob"],
    );
    assert!(!done, "only the pool's owner binds: {refused}");
    ok(
        &rpc,
        &["pool", "add-worker", "0", &identity, "--from", "charlie"],
    );
    let least = amount(&rewards(&rpc, &identity)["worker"]["min_stake"]);
    let (done, refused) = cli(
        &rpc,
        &[
            "worker", "start", "0", &identity, "--stake", "1", "--from", "charlie",
        ],
    );
    assert!(!done, "a stake below k·sqrt(P) is refused: {refused}");
    assert!(refused.to_string().contains("stake_too_low"), "{refused}");
    let stake_pha = least.div_ceil(1_000_000_000_000).to_string();
    ok(
        &rpc,
        &[
            "worker", "start", "0", &identity, "--stake", &stake_pha, "--from", "charlie",
        ],
    );
    assert_eq!(worker_field(&rpc, &identity, "state"), "computing");

    // It answers heartbeats and a settled day pays it (commission to charlie).
    wait_until(Duration::from_secs(150), "the worker is paid", || {
        amount(&worker_field(&rpc, &identity, "earned")) > 0
    });
    assert!(worker_field(&rpc, &identity, "heartbeats_answered").as_u64() > Some(0));
    let day = ok(&rpc, &["mining"])["recent_days"][0].clone();
    assert_eq!(
        amount(&day["paid"]) + amount(&day["treasury"]) + amount(&day["kept_in_pot"]),
        amount(&day["budget"]),
        "{day}"
    );
    let pool = ok(&rpc, &["pool", "info", "0"]);
    assert!(
        amount(&pool["info"]["pool"]["commission_paid"]) > 0,
        "{pool}"
    );

    // Killed: the next challenge goes unanswered.
    worker.kill_hard();
    wait_until(
        Duration::from_secs(90),
        "the worker is unresponsive",
        || worker_field(&rpc, &identity, "state") == "unresponsive",
    );
    // Past the grace period, a settled day slashes it (to the treasury, out of the pool).
    wait_until(Duration::from_secs(150), "the worker is slashed", || {
        amount(&worker_field(&rpc, &identity, "slashed")) > 0
    });
    let slashed = amount(&worker_field(&rpc, &identity, "slashed"));
    let pool = ok(&rpc, &["pool", "info", "0"]);
    assert_eq!(amount(&pool["info"]["pool"]["slashed"]), slashed);
    assert!(worker_field(&rpc, &identity, "heartbeats_missed").as_u64() >= Some(1));
    let explained = rewards(&rpc, &identity);
    assert!(
        explained["worker"]["why"]
            .as_str()
            .is_some_and(|why| why.starts_with("unresponsive")),
        "{explained}"
    );
    // A whole day unresponsive earns nothing: the only worker did no work, so the day's
    // budget stays in the pot.
    wait_until(Duration::from_secs(150), "a day nobody earned", || {
        let day = ok(&rpc, &["mining"])["recent_days"][0].clone();
        day["workers"].as_u64() == Some(0) && day["kept_in_pot"] == day["budget"]
    });

    // Restarted on the same data: it answers its open challenge and computes again.
    let mut worker = Proc::spawn(
        "phalanx worker (restarted)",
        &["worker", "--config", config],
        &logs.join("worker-2.log"),
    );
    wait_until(Duration::from_secs(90), "the worker computes again", || {
        worker_field(&rpc, &identity, "state") == "computing"
    });
    worker.signal("TERM");
    worker.wait_exit(Duration::from_secs(30));
}

#[test]
fn dev_workers_compute_and_earn_in_pools() {
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let dev = Dev::start(
        data.path(),
        &logs.path().join("dev.log"),
        &["--workers", "2", "--gatekeepers", "0"],
    );
    for name in ["worker0", "worker1"] {
        let line = dev
            .proc
            .wait_line(Duration::from_secs(120), &format!("{name} computes"), |l| {
                l.trim_start()
                    .starts_with(&format!("{name}: computing in stake pool"))
            });
        assert!(line.contains("SIMULATED"), "{line}");
    }
    let pools = ok(&dev.rpc, &["pool", "list"]);
    assert_eq!(pools["pools"].as_array().map(Vec::len), Some(2), "{pools}");
    // A bond, and its refusals: more than is bonded can't unbond.
    ok(&dev.rpc, &["stake", "bond", "100", "--from", "bob"]);
    let (done, refused) = cli(&dev.rpc, &["stake", "unbond", "101", "--from", "bob"]);
    assert!(
        !done && refused.to_string().contains("insufficient_bond"),
        "{refused}"
    );
    ok(&dev.rpc, &["stake", "unbond", "40", "--from", "bob"]);
    let info = ok(&dev.rpc, &["stake", "info", "bob"]);
    assert_eq!(info["bonds"].as_array().map(Vec::len), Some(1), "{info}");
    assert_eq!(
        amount(&info["bonds"][0]["bonded"]),
        60_000_000_000_000,
        "{info}"
    );
    assert_eq!(
        amount(&info["bonds"][0]["total"]),
        100_000_000_000_000,
        "{info}"
    );
    wait_until(Duration::from_secs(150), "a dev day is paid", || {
        let days = ok(&dev.rpc, &["mining"]);
        days["recent_days"]
            .as_array()
            .is_some_and(|d| d.iter().any(|day| day["workers"].as_u64() == Some(2)))
    });
}
