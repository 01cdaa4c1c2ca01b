//! The documented 4-validator loopback network, through the real binary: `phalanx testnet`
//! writes the configs, four `phalanx node` processes and one full node (following validator 0,
//! checking every certificate) run them; a transfer sent to one validator is seen by all;
//! with one validator stopped the other three keep finalizing.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_phalanx");
const P2P_BASE: u16 = 39400;
const RPC_BASE: u16 = 19960;
const FULL_RPC: u16 = 19970;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_node(config: &Path) -> Proc {
    Proc(
        Command::new(BIN)
            .args(["node", "--config"])
            .arg(config)
            .env("PHALANX_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("phalanx node starts"),
    )
}

fn cli(rpc_port: u16, args: &[&str]) -> Option<Value> {
    let out = Command::new(BIN)
        .args(["--rpc", &format!("http://127.0.0.1:{rpc_port}"), "--json"])
        .args(args)
        .output()
        .expect("runs");
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("json output"))
}

fn height(rpc_port: u16) -> Option<u64> {
    cli(rpc_port, &["status"]).and_then(|s| s["height"].as_u64())
}

fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("timed out waiting until {what}");
}

#[test]
fn four_validators_and_a_full_node_agree_and_survive_one_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["--json", "testnet", "--validators", "4", "--dir"])
        .arg(dir.path())
        .args([
            "--p2p-base",
            &P2P_BASE.to_string(),
            "--rpc-base",
            &RPC_BASE.to_string(),
        ])
        .output()
        .expect("testnet runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut nodes: Vec<Option<Proc>> = (0..4)
        .map(|i| Some(spawn_node(&dir.path().join(format!("node{i}.toml")))))
        .collect();
    std::fs::write(
        dir.path().join("full.toml"),
        format!(
            "data_dir = \"full\"\ngenesis = \"genesis.json\"\nrpc = \"127.0.0.1:{FULL_RPC}\"\nfollow = \"http://127.0.0.1:{RPC_BASE}\"\nvalidators = []\n"
        ),
    )
    .expect("write full node config");
    let _full = spawn_node(&dir.path().join("full.toml"));

    wait_until(
        Duration::from_secs(90),
        "all validators finalize past height 3",
        || (0..4).all(|i| height(RPC_BASE + i).is_some_and(|h| h >= 3)),
    );
    let sent = cli(
        RPC_BASE + 1,
        &[
            "transfer", "--from", "alice", "--to", "bob", "--amount", "3",
        ],
    )
    .expect("transfer via validator 1");
    let at = sent["height"].as_u64().expect("finalized height");
    let expected: u128 = 1_000_003 * 1_000_000_000_000;
    for port in (0..4).map(|i| RPC_BASE + i).chain([FULL_RPC]) {
        wait_until(
            Duration::from_secs(60),
            &format!("node at {port} reaches height {at}"),
            || height(port).is_some_and(|h| h >= at),
        );
        let bob = cli(port, &["balance", "bob"]).expect("balance");
        assert_eq!(
            serde_json::from_value::<u128>(bob["free"].clone()).expect("amount"),
            expected,
            "node at {port}"
        );
        let block = cli(port, &["block", &at.to_string()]).expect("block");
        assert_eq!(
            block["hash"], sent["block"],
            "node at {port} has the same block at {at}"
        );
    }

    // Stop validator 3: three of four still finalize.
    nodes[3] = None;
    let before = height(RPC_BASE).expect("height");
    wait_until(
        Duration::from_secs(90),
        "the remaining three keep finalizing",
        || height(RPC_BASE).is_some_and(|h| h >= before + 5),
    );
    let sent = cli(
        RPC_BASE + 2,
        &[
            "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
        ],
    )
    .expect("transfer with one validator down");
    assert_eq!(sent["status"], "finalized");
    wait_until(Duration::from_secs(60), "the full node follows", || {
        height(FULL_RPC).is_some_and(|h| h >= sent["height"].as_u64().unwrap_or(u64::MAX))
    });
}
