//! End to end through the real binary: `phalanx dev` runs, client commands drive it (transfers,
//! governance with the dev genesis's short voting period, bad input), then it is stopped with
//! Ctrl-C (SIGINT) and restarted on the same data directory, which must resume with nothing
//! lost.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_phalanx");
const RPC_PORT: u16 = 19951;
const P2P_PORT: u16 = 39351;
const PHA: u128 = 1_000_000_000_000;

fn rpc() -> String {
    format!("http://127.0.0.1:{RPC_PORT}")
}

struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> Dev {
    let child = Command::new(BIN)
        .args(["dev", "--data-dir"])
        .arg(dir)
        .args([
            "--rpc-listen",
            &format!("127.0.0.1:{RPC_PORT}"),
            "--p2p-listen",
            &format!("127.0.0.1:{P2P_PORT}"),
            "--worker-port",
            "18150",
        ])
        .env("PHALANX_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("phalanx dev starts");
    let dev = Dev(child);
    wait_until(Duration::from_secs(60), "the dev node answers", || {
        cli(&["status"]).0
    });
    dev
}

/// Runs a client command with `--json`; returns (success, parsed stdout or stderr text).
fn cli(args: &[&str]) -> (bool, Value) {
    let out = Command::new(BIN)
        .args(["--rpc", &rpc(), "--json"])
        .args(args)
        .output()
        .expect("runs");
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        (
            true,
            serde_json::from_str(&text).unwrap_or(Value::String(text.to_string())),
        )
    } else {
        (
            false,
            Value::String(String::from_utf8_lossy(&out.stderr).to_string()),
        )
    }
}

fn ok(args: &[&str]) -> Value {
    let (success, value) = cli(args);
    assert!(success, "`phalanx {}` failed: {value}", args.join(" "));
    value
}

fn amount(v: &Value) -> u128 {
    serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("not an amount: {v}"))
}

fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting until {what}");
}

fn address(name: &str) -> String {
    ok(&["key", "inspect", name])["address"]
        .as_str()
        .expect("address")
        .to_string()
}

fn wait_proposal(id: u32, status: &str) -> Value {
    let mut last = Value::Null;
    wait_until(
        Duration::from_secs(90),
        &format!("proposal {id} is {status}"),
        || {
            last = ok(&["gov", "show", &id.to_string()])["proposal"].clone();
            last["status"]["status"] == status
        },
    );
    last
}

#[test]
fn dev_network_transfers_governs_and_resumes_after_ctrl_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dev = start(dir.path());

    // The two SIMULATED workers `phalanx dev` starts register themselves on chain.
    let mut workers = Value::Null;
    wait_until(
        Duration::from_secs(60),
        "both dev workers are registered",
        || {
            workers = ok(&["workers"]);
            workers["workers"].as_array().is_some_and(|w| w.len() == 2)
        },
    );
    let operators: Vec<&str> = workers["workers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|w| w["operator"].as_str().expect("operator"))
        .collect();
    assert!(
        operators.contains(&address("charlie").as_str())
            && operators.contains(&address("dave").as_str()),
        "{workers}"
    );
    for w in workers["workers"].as_array().expect("list") {
        assert_eq!(w["quote_kind"], "Simulated", "{w}");
        assert_eq!(w["confidence"], 1000, "{w}");
        assert!(w["performance"].as_u64().is_some_and(|p| p >= 50), "{w}");
    }

    // Transfers.
    let sent = ok(&[
        "transfer", "--from", "alice", "--to", "bob", "--amount", "5",
    ]);
    assert_eq!(sent["status"], "finalized");
    assert_eq!(amount(&ok(&["balance", "bob"])["free"]), 1_000_005 * PHA);
    let (refused, message) = cli(&[
        "transfer", "--from", "eve", "--to", "bob", "--amount", "2000000",
    ]);
    assert!(!refused, "an overdraft is not a success");
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("not enough free balance")),
        "{message}"
    );
    let (refused, message) = cli(&[
        "transfer",
        "--from",
        "alice",
        "--to",
        "pha1notanaddress",
        "--amount",
        "1",
    ]);
    assert!(
        !refused && message.as_str().is_some_and(|m| m.contains("bech32")),
        "{message}"
    );

    // Governance: a batch that spends from the treasury and changes the base fee passes.
    let dave = address("dave");
    let dave_before = amount(&ok(&["balance", "dave"])["free"]);
    let treasury_before = amount(&ok(&["treasury"])["balance"]);
    assert!(treasury_before > 0, "fees reached the treasury");
    let spend = format!(r#"{{"treasury_spend":{{"to":"{dave}","amount":1000}}}}"#);
    let fee = r#"{"set_chain_params":{"base_fee":2000000000,"byte_fee":1000000,"max_tx_bytes":65536,"max_block_txs":10000,"max_expiry_blocks":14400}}"#;
    ok(&[
        "gov",
        "propose",
        "--from",
        "alice",
        "--description",
        "pay dave, raise fee",
        "--call",
        &spend,
        "--call",
        fee,
    ]);
    let proposals = ok(&["gov", "list"]);
    let id = proposals.as_array().expect("list").len() as u32 - 1;
    ok(&[
        "gov",
        "vote",
        &id.to_string(),
        "aye",
        "--amount",
        "300",
        "--from",
        "bob",
    ]);
    ok(&[
        "gov",
        "vote",
        &id.to_string(),
        "nay",
        "--amount",
        "100",
        "--from",
        "charlie",
    ]);
    // A vote may change while open.
    ok(&[
        "gov",
        "vote",
        &id.to_string(),
        "nay",
        "--amount",
        "200",
        "--from",
        "charlie",
    ]);
    let (refused, message) = cli(&[
        "gov",
        "vote",
        &id.to_string(),
        "aye",
        "--amount",
        "5000000",
        "--from",
        "eve",
    ]);
    assert!(
        !refused
            && message
                .as_str()
                .is_some_and(|m| m.contains("not enough free PHA")),
        "{message}"
    );
    assert_eq!(
        amount(&ok(&["balance", "bob"])["locked"]),
        300 * PHA,
        "vote locked"
    );
    let enacted = wait_proposal(id, "enacted");
    assert!(enacted["status"]["error"].is_null(), "{enacted}");
    assert_eq!(amount(&enacted["aye"]), 300 * PHA);
    assert_eq!(amount(&enacted["nay"]), 200 * PHA);
    assert_eq!(
        amount(&ok(&["balance", "dave"])["free"]),
        dave_before + 1000
    );
    assert_eq!(
        amount(&ok(&["balance", "bob"])["locked"]),
        0,
        "locks released"
    );
    let transfer = ok(&[
        "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
    ]);
    assert!(
        amount(&transfer["receipt"]["fee"]) >= 2_000_000_000,
        "the new base fee applies"
    );

    // A proposal voted down changes nothing.
    let rejected_call = r#"{"set_chain_params":{"base_fee":1,"byte_fee":1,"max_tx_bytes":65536,"max_block_txs":10000,"max_expiry_blocks":14400}}"#;
    ok(&[
        "gov",
        "propose",
        "--from",
        "bob",
        "--description",
        "free lunch",
        "--call",
        rejected_call,
    ]);
    let id = id + 1;
    ok(&[
        "gov",
        "vote",
        &id.to_string(),
        "nay",
        "--amount",
        "10",
        "--from",
        "alice",
    ]);
    wait_proposal(id, "rejected");
    let transfer = ok(&[
        "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
    ]);
    assert!(
        amount(&transfer["receipt"]["fee"]) >= 2_000_000_000,
        "fee unchanged"
    );

    // Ctrl-C, then the same data dir resumes.
    let height = ok(&["status"])["height"].as_u64().expect("height");
    let bob = amount(&ok(&["balance", "bob"])["free"]);
    let pid = dev.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs")
        .success());
    let mut dev = dev;
    let deadline = Instant::now() + Duration::from_secs(20);
    let stopped = loop {
        if let Some(status) = dev.0.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        stopped.is_some_and(|s| s.success()),
        "Ctrl-C stops cleanly: {stopped:?}"
    );
    drop(dev);
    let _dev = start(dir.path());
    assert!(ok(&["status"])["height"].as_u64().expect("height") >= height);
    assert_eq!(amount(&ok(&["balance", "bob"])["free"]), bob);
    let sent = ok(&[
        "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
    ]);
    assert_eq!(
        sent["status"], "finalized",
        "the resumed chain keeps finalizing"
    );
}
