//! End to end through the real binary: `phalanx dev` runs, client commands drive it (transfers,
//! governance with the dev genesis's short voting period, bad input), then it is stopped with
//! Ctrl-C (SIGINT) and restarted on the same data directory, which must resume with nothing
//! lost. Every port is 0: the node prints the RPC address it bound. Its SIMULATED gatekeeper
//! publishes key epoch 0 and both workers receive cluster 0's key; the restart keeps them.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{amount, wait_until, Dev, PHA};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// The running dev node's RPC URL (it changes on restart: port 0).
static RPC: Mutex<String> = Mutex::new(String::new());

fn start(dir: &Path, log: &Path, extra: &[&str]) -> Dev {
    let dev = Dev::start(dir, log, extra);
    *RPC.lock().expect("rpc") = dev.rpc.clone();
    dev
}

/// Runs a client command with `--json`; returns (success, parsed stdout or stderr text).
fn cli(args: &[&str]) -> (bool, Value) {
    let rpc = RPC.lock().expect("rpc").clone();
    common::cli(&rpc, args)
}

fn ok(args: &[&str]) -> Value {
    let rpc = RPC.lock().expect("rpc").clone();
    common::ok(&rpc, args)
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

/// Metric names an alert rule's `expr` in deploy/prometheus/alerts.yml reads.
fn alert_metrics() -> Vec<String> {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/prometheus/alerts.yml"
    ))
    .expect("the alert rules");
    let mut names: Vec<String> = rules
        .lines()
        .filter_map(|line| line.trim().strip_prefix("expr:"))
        .flat_map(|expr| {
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|word| word.starts_with("phalanx_"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether `scrape` (Prometheus text) has a series of metric `name` (a counter's `_total`, a
/// histogram's `_count` included).
fn has_metric(scrape: &str, name: &str) -> bool {
    scrape.lines().filter(|l| !l.starts_with('#')).any(|line| {
        let series = line.split(['{', ' ']).next().unwrap_or_default();
        series == name
            || series.strip_suffix("_count") == Some(name)
            || series.strip_suffix("_total") == Some(name.trim_end_matches("_total"))
    })
}

/// Scrapes the dev node's and a dev worker's `/metrics` and finds every metric the node and
/// the worker promise, and every metric the shipped alert rules read.
fn check_metrics(dev: &Dev) {
    let (status, head, node) = common::http_get(&format!("{}/metrics", dev.rpc));
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(node.ends_with("# EOF\n"), "one scrape, one EOF");
    assert_eq!(node.matches("# EOF").count(), 1);
    for name in [
        "phalanx_height",
        "phalanx_finalized_lag_seconds",
        "phalanx_block_interval_seconds",
        "phalanx_block_execution_seconds",
        "phalanx_mempool_transactions",
        "phalanx_mempool_bytes",
        "phalanx_consensus_epoch",
        "phalanx_consensus_view",
        "phalanx_peers_connected",
        "phalanx_rpc_request_duration_seconds",
        "phalanx_store_bytes",
    ] {
        assert!(
            has_metric(&node, name),
            "{name} missing from the node's scrape:\n{node}"
        );
    }
    let height = node
        .lines()
        .find_map(|l| l.strip_prefix("phalanx_height "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("the height");
    assert!(height > 0, "{node}");
    // A refused admission shows up by reason.
    let answer = common::rpc_call(
        &dev.rpc,
        "phalanx_submitTransaction",
        serde_json::json!(["0x00"]),
    );
    assert_eq!(answer["error"]["data"]["reason"], "malformed", "{answer}");
    // A scrape is cached for a second: the next one shows it.
    let mut node = String::new();
    wait_until(Duration::from_secs(10), "the refusal is counted", || {
        node = common::http_get(&format!("{}/metrics", dev.rpc)).2;
        node.contains("phalanx_admissions_refused_total{reason=\"malformed\"} 1")
    });
    assert!(
        node.contains(
            "phalanx_rpc_request_duration_seconds_count{method=\"phalanx_submitTransaction\"}"
        ),
        "{node}"
    );
    // commonware's own metrics come along (consensus, p2p).
    assert!(
        node.lines().count() > 100,
        "commonware's metrics are missing:\n{node}"
    );
    // The first worker's endpoint, as `phalanx dev` prints it.
    let line = dev
        .proc
        .wait_line(Duration::from_secs(30), "worker0's endpoint", |l| {
            l.contains("worker0") && l.contains("query endpoint http://")
        });
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("endpoint url");
    let mut worker = String::new();
    wait_until(Duration::from_secs(30), "worker0 counts its ecalls", || {
        let (status, _, body) = common::http_get(&format!("{url}/metrics"));
        worker = body;
        status == 200 && worker.contains("phalanx_worker_ecall_duration_seconds_count")
    });
    for name in [
        "phalanx_worker_head_lag_blocks",
        "phalanx_worker_registered",
        "phalanx_worker_attestation_age_blocks",
        "phalanx_worker_simulated",
        "phalanx_worker_ecall_duration_seconds",
        "phalanx_worker_query_duration_seconds",
        "phalanx_worker_heartbeats_answered_total",
        "phalanx_worker_heartbeats_missed_total",
    ] {
        assert!(
            has_metric(&worker, name),
            "{name} missing from the worker's scrape:\n{worker}"
        );
    }
    assert!(
        worker.contains("phalanx_worker_simulated 1"),
        "SIMULATED in plain sight"
    );
    let both = format!("{node}\n{worker}");
    let alerts = alert_metrics();
    assert!(alerts.len() >= 8, "{alerts:?}");
    for name in &alerts {
        assert!(
            has_metric(&both, name),
            "alerts.yml reads {name}, which no scrape has"
        );
    }
}

#[test]
fn dev_network_transfers_governs_and_resumes_after_ctrl_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let mut dev = start(dir.path(), &logs.path().join("dev-1.log"), &[]);

    // The two SIMULATED workers and the gatekeeper `phalanx dev` starts register themselves.
    let mut workers = Value::Null;
    wait_until(
        Duration::from_secs(60),
        "both dev workers and the gatekeeper are registered",
        || {
            workers = ok(&["workers"]);
            workers["workers"].as_array().is_some_and(|w| w.len() == 3)
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
            && operators.contains(&address("dave").as_str())
            && operators.contains(&address("eve").as_str()),
        "{workers}"
    );
    // The gatekeeper is appointed, publishes key epoch 0, and both workers get cluster 0's key.
    for name in ["worker0", "worker1"] {
        dev.proc.wait_line(
            Duration::from_secs(60),
            &format!("{name} receives the key of cluster 0"),
            |l| {
                l.contains(&format!(
                    "worker {name}: received the key of cluster 0, key epoch 0"
                ))
            },
        );
    }
    let epochs = ok(&["keys", "epochs"]);
    let gatekeepers = ok(&["gatekeeper", "list"]);
    assert_eq!(epochs["current"], 0, "{epochs}");
    let master = epochs["epochs"][0]["master_public"].clone();
    assert!(master.is_string(), "{epochs}");
    assert_eq!(
        epochs["epochs"][0]["generator"], gatekeepers["gatekeepers"][0]["identity"],
        "the appointed gatekeeper generated it: {gatekeepers}"
    );
    let cluster = ok(&["cluster", "show", "0"]);
    assert_eq!(
        cluster["members"].as_array().map(Vec::len),
        Some(2),
        "{cluster}"
    );
    assert_eq!(cluster["keys"][0]["epoch"], 0, "{cluster}");
    for w in workers["workers"].as_array().expect("list") {
        assert_eq!(w["quote_kind"], "Simulated", "{w}");
        assert_eq!(w["confidence"], 1000, "{w}");
        assert!(w["performance"].as_u64().is_some_and(|p| p >= 50), "{w}");
    }

    check_metrics(&dev);

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
            // The CLI's own check refuses it ("not enough spendable balance"), or admission
            // does ("… would cost N units … but it can spend M (free and not frozen)"), or the runtime's balance
            // check ("not enough free balance").
            .is_some_and(|m| m.contains("not enough spendable balance")
                || m.contains("not enough free balance")
                || (m.contains("would cost") && m.contains("free"))),
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
    // Ferdie operates no dev worker, so nothing but the spend moves his balance (dave's pool
    // earns him commission).
    let ferdie = address("ferdie");
    let ferdie_before = amount(&ok(&["balance", "ferdie"])["free"]);
    let treasury_before = amount(&ok(&["treasury"])["balance"]);
    assert!(treasury_before > 0, "fees reached the treasury");
    let spend = format!(r#"{{"treasury_spend":{{"to":"{ferdie}","amount":1000}}}}"#);
    // Only the base fee is named: the CLI keeps every other parameter at its current value.
    let fee = r#"{"set_chain_params":{"base_fee":2000000000}}"#;
    let rpc = RPC.lock().expect("rpc").clone();
    let params_before = common::rpc_call(&rpc, "phalanx_chainParams", serde_json::json!([]));
    ok(&[
        "gov",
        "propose",
        "--from",
        "alice",
        "--description",
        "pay ferdie, raise fee",
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
                .is_some_and(|m| m.contains("balances.cannot_vote")),
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
        amount(&ok(&["balance", "ferdie"])["free"]),
        ferdie_before + 1000
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
    let params_after = common::rpc_call(&rpc, "phalanx_chainParams", serde_json::json!([]));
    for unchanged in [
        "byte_fee",
        "max_block_txs",
        "block_interval_ms",
        "dcap_verification_fee",
    ] {
        let find = |v: &Value| v["result"]["chain"][unchanged].as_u64();
        assert!(find(&params_before).is_some(), "{params_before}");
        assert_eq!(
            find(&params_after),
            find(&params_before),
            "{unchanged} kept"
        );
    }

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
    dev.proc.signal("INT");
    let stopped = dev.proc.wait_exit(Duration::from_secs(20));
    assert!(stopped.success(), "Ctrl-C stops cleanly: {stopped:?}");
    drop(dev);
    // The restart logs in JSON, one object a line, as a log shipper wants.
    let dev = start(
        dir.path(),
        &logs.path().join("dev-2.log"),
        &["--log-format", "json"],
    );
    let log = dev.proc.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the restarted node logged nothing");
    for line in &lines {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        !log.contains('\u{1b}'),
        "no terminal colour codes in a log file"
    );
    assert!(ok(&["status"])["height"].as_u64().expect("height") >= height);
    // Keys survive the restart: the same epoch, the same master, nothing generated anew.
    let resumed = ok(&["keys", "epochs"]);
    assert_eq!(
        (
            &resumed["current"],
            &resumed["epochs"][0]["master_public"],
            &resumed["requested"]
        ),
        (&Value::from(0), &master, &Value::Null),
        "{resumed}"
    );
    assert_eq!(amount(&ok(&["balance", "bob"])["free"]), bob);
    let sent = ok(&[
        "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
    ]);
    assert_eq!(
        sent["status"], "finalized",
        "the resumed chain keeps finalizing"
    );
}
