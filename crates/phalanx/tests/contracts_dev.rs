//! Confidential contracts through a real `phalanx dev` (one gatekeeper, two workers in cluster
//! 0) and the CLI, as a user runs them: upload the prebuilt vault, instantiate it on cluster 0
//! (its gatekeeper publishes the contract key), send commands whose results come back
//! decrypted, with both members agreeing, and read the vault back with an encrypted query. A
//! marker string sent in a command is then searched for everywhere the network shows anything:
//! every data file (chain state, block log, the enclaves' sealed files), stdout, the log and the
//! RPC answers (every block, the contract, the command and its result). It is found nowhere.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::scan::Scanner;
use common::{cli, ok, rpc_call, wait_until, Dev};
use serde_json::{json, Value};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);
const MARKER: &str = "MARKER-5f1c2d9e-only-the-enclaves-see-this";

fn received(dev: &Dev, name: &str) -> bool {
    dev.proc.stdout().lines().any(|l| {
        l.contains(&format!(
            "worker {name}: received the key of cluster 0, key epoch 0"
        ))
    })
}

fn ran(dev: &Dev, name: &str, sequence: u64) -> bool {
    dev.proc.stdout().lines().any(|l| {
        l.contains(&format!(
            "worker {name}: ran command {sequence} of contract"
        ))
    })
}

/// The decrypted output text of a `contract call --json` answer.
fn output_text(answer: &Value) -> &str {
    assert_eq!(answer["status"], "final", "{answer}");
    assert_eq!(answer["output"]["ran"], true, "{answer}");
    answer["output"]["text"].as_str().expect("text output")
}

#[test]
fn a_vault_runs_on_both_members_and_its_secrets_never_leave_the_enclaves() {
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("dev.log");
    let mut dev = Dev::start(data.path(), &log, &["--block-interval-ms", "100"]);
    let rpc = dev.rpc.clone();
    wait_until(LIMIT, "both workers hold cluster 0's key", || {
        received(&dev, "worker0") && received(&dev, "worker1")
    });

    let vault = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/prebuilt/vault.wasm"
    );
    let uploaded = ok(&rpc, &["contract", "upload", vault, "--from", "alice"]);
    let code_hash = uploaded["code_hash"]
        .as_str()
        .expect("code hash")
        .to_string();
    let instance = ok(
        &rpc,
        &[
            "contract",
            "instantiate",
            &code_hash,
            "--cluster",
            "0",
            "--from",
            "alice",
        ],
    );
    let id = instance["contract"]
        .as_str()
        .expect("contract id")
        .to_string();
    wait_until(LIMIT, "the gatekeeper publishes the contract key", || {
        let (_, shown) = cli(&rpc, &["contract", "show", &id]);
        shown.to_string().contains("public_key")
    });

    // Commands: sealed by the CLI, run by both members, the result opened by the caller only.
    let put = ok(
        &rpc,
        &[
            "contract",
            "call",
            &id,
            &format!("put diary {MARKER}"),
            "--from",
            "bob",
        ],
    );
    assert_eq!(output_text(&put), "ok");
    assert_eq!(put["result"]["agreeing"], 2, "both members agreed: {put}");
    wait_until(LIMIT, "both members ran command 0", || {
        ran(&dev, "worker0", 0) && ran(&dev, "worker1", 0)
    });
    // Queries are paid from the caller's query deposit: none yet, so refused, saying how.
    let (answered, unpaid) = cli(
        &rpc,
        &["contract", "query", &id, "get diary", "--from", "bob"],
    );
    assert!(!answered, "{unpaid}");
    assert!(
        unpaid
            .to_string()
            .contains("a query needs at least 0.0002 PHA")
            && unpaid
                .to_string()
                .contains("phalanx contract deposit 1 --from bob"),
        "{unpaid}"
    );
    for who in ["bob", "ferdie"] {
        ok(&rpc, &["contract", "deposit", "1", "--from", who]);
    }
    // Queries: sealed to the cluster key and signed by the asker; bob reads his own key, ferdie
    // (another caller, the vault's rule) reads nothing of his.
    let got = ok(
        &rpc,
        &["contract", "query", &id, "get diary", "--from", "bob"],
    );
    assert_eq!(got["output"]["text"], MARKER, "{got}");
    assert_eq!(got["as_of"], 1, "{got}");
    let (_, other) = cli(
        &rpc,
        &["contract", "query", &id, "get diary", "--from", "ferdie"],
    );
    assert_eq!(other["output"]["ran"], true, "{other}");
    assert_ne!(other["output"]["status"], 0, "{other}");
    assert_ne!(other["output"]["text"], MARKER, "{other}");
    // A worker that is not there: a clear refusal; a named worker answers.
    let worker0 = dev
        .proc
        .stdout()
        .lines()
        .find(|l| l.contains("worker0 ") && l.contains("query endpoint"))
        .map(common::url_in)
        .expect("worker0's endpoint");
    let (answered, refused_query) = cli(
        &rpc,
        &[
            "contract",
            "query",
            &id,
            "get diary",
            "--from",
            "bob",
            "--worker",
            "http://127.0.0.1:1",
        ],
    );
    assert!(!answered, "{refused_query}");
    assert!(
        refused_query
            .to_string()
            .contains("no worker of cluster #0 answered"),
        "{refused_query}"
    );
    let asked = ok(
        &rpc,
        &[
            "contract", "query", &id, "list", "--from", "bob", "--worker", &worker0,
        ],
    );
    assert_eq!(asked["worker"], worker0.as_str(), "{asked}");
    // The serving enclaves report what the queries used; the chain moves it from bob's
    // deposit to their operators.
    let bob = phalanx_primitives::Keypair::dev("bob")
        .account()
        .to_address();
    let pha: u128 = 1_000_000_000_000;
    wait_until(LIMIT, "bob's query usage is settled on chain", || {
        let deposit = rpc_call(&rpc, "phalanx_queryDeposit", json!([bob]));
        let available = deposit["result"]["deposit"]["available"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                deposit["result"]["deposit"]["available"]
                    .as_u64()
                    .map(|v| v.to_string())
            })
            .and_then(|v| v.parse::<u128>().ok());
        available.is_some_and(|a| a < pha && a > pha / 2)
    });
    assert!(
        dev.proc.log_text().contains("reported metered query usage"),
        "a worker said it reported usage"
    );

    // The contract refuses what its rules refuse; the refusal comes back sealed too.
    let refused = ok(
        &rpc,
        &["contract", "call", &id, "fly away", "--from", "bob"],
    );
    assert_eq!(refused["status"], "final", "{refused}");
    assert_eq!(refused["output"]["ran"], true, "{refused}");
    assert_ne!(refused["output"]["status"], 0, "{refused}");

    // Everything the RPC shows about it, every block included.
    let mut answers = vec![
        ok(&rpc, &["contract", "show", &id]),
        ok(&rpc, &["contract", "list"]),
        put.clone(),
    ];
    for sequence in [0u64, 1] {
        answers.push(rpc_call(
            &rpc,
            "phalanx_command",
            json!([format!("0x{id}"), sequence]),
        ));
    }
    let result = &answers[3]["result"];
    assert!(
        result.to_string().contains("sealed_output"),
        "the command's result is on chain, sealed: {result}"
    );
    let head = common::height(&rpc).expect("height");
    for height in 0..=head {
        answers.push(rpc_call(&rpc, "phalanx_block", json!([height])));
        answers.push(rpc_call(&rpc, "phalanx_rawBlock", json!([height])));
    }
    dev.proc.signal("INT");
    assert!(dev.proc.wait_exit(LIMIT).success(), "a clean stop");

    let scanner = Scanner::new(&[("the marker".to_string(), MARKER.as_bytes().to_vec())]);
    let mut leaks = Vec::new();
    let files = scanner.scan_dir(data.path(), &mut leaks);
    scanner.scan(dev.proc.stdout().as_bytes(), "stdout", &mut leaks);
    scanner.scan(&std::fs::read(&log).expect("log"), "the log", &mut leaks);
    for (i, answer) in answers.iter().enumerate() {
        scanner.scan(
            answer.to_string().as_bytes(),
            &format!("RPC answer {i}"),
            &mut leaks,
        );
    }
    println!(
        "scanned for the marker: {files} files, stdout, the log, {} RPC answers over {} blocks",
        answers.len(),
        head + 1
    );
    assert!(files > 10);
    let mut probe = Vec::new();
    scanner.scan(format!("…{MARKER}…").as_bytes(), "a probe", &mut probe);
    assert_eq!(probe.len(), 1, "the scanner finds the marker where it is");
    assert!(
        leaks.is_empty(),
        "the marker was found outside the enclaves: {leaks:#?}"
    );
}
