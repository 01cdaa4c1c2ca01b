//! `phalanx contract` through the real binary against a real `phalanx dev --gatekeepers 0`
//! (no gatekeeper, so no key epoch and no contract key): a tiny module is uploaded (hash, size
//! and fee as the chain computes them) and uploading it again sends nothing; a cluster is
//! created and the code instantiated on it (the id as `contract_id` computes it), listed and
//! shown; a second instantiation with the same salt, unknown code and an unknown cluster are
//! refused; `call` is refused with a clear message while no contract key is published; the
//! query deposit grows and starts a withdrawal; and malformed input is refused before anything
//! is sent (alice's nonce does not move).

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{amount, ok, Dev, BIN, PHA};
use phalanx_primitives::contract::{code_hash, contract_id, ContractsParams};
use phalanx_primitives::Keypair;
use serde_json::Value;
use std::process::Command;

/// A minimal contract (as `crates/runtime/src/contracts/tests.rs` builds one): exports
/// `memory`, `call` and `query`, both `() -> i32` returning 7.
fn wasm() -> Vec<u8> {
    let mut code = b"\0asm\x01\0\0\0".to_vec();
    code.extend([0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f]);
    code.extend([0x03, 0x03, 0x02, 0x00, 0x00]);
    code.extend([0x05, 0x03, 0x01, 0x00, 0x01]);
    code.extend([0x07, 0x19, 0x03]);
    code.extend([0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00]);
    code.extend([0x04, b'c', b'a', b'l', b'l', 0x00, 0x00]);
    code.extend([0x05, b'q', b'u', b'e', b'r', b'y', 0x00, 0x01]);
    code.extend([0x0a, 0x0b, 0x02]);
    code.extend([0x04, 0x00, 0x41, 7, 0x0b]);
    code.extend([0x04, 0x00, 0x41, 7, 0x0b]);
    code
}

/// Runs `args` with `--json`, expects exit code 1 with `reason`; returns the error object.
fn refused(rpc: &str, args: &[&str], reason: &str) -> Value {
    let out = Command::new(BIN)
        .args(["--rpc", rpc, "--json"])
        .args(args)
        .output()
        .expect("phalanx runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "`phalanx {}` should fail\nstdout: {stdout}\nstderr: {stderr}",
        args.join(" ")
    );
    let error: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    assert_eq!(error["reason"], reason, "{error}");
    let message = error["error"].as_str().expect("a message");
    assert!(stderr.contains(message), "stderr: {stderr}");
    error
}

/// Runs `args` without `--json`; returns what it printed.
fn text(rpc: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["--rpc", rpc])
        .args(args)
        .output()
        .expect("phalanx runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "`phalanx {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn nonce(rpc: &str, who: &str) -> u64 {
    ok(rpc, &["balance", who])["nonce"]
        .as_u64()
        .expect("a nonce")
}

#[test]
fn contracts_through_the_cli() {
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let files = tempfile::tempdir().expect("tempdir");
    let dev = Dev::start(
        data.path(),
        &logs.path().join("dev.log"),
        &["--block-interval-ms", "100", "--gatekeepers", "0"],
    );
    let rpc = dev.rpc.as_str();
    let code = wasm();
    let module = files.path().join("tiny.wasm");
    std::fs::write(&module, &code).expect("writes the module");
    let module = module.to_str().expect("utf-8 path");
    let junk = files.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").expect("writes junk");
    let junk = junk.to_str().expect("utf-8 path");
    let hash = code_hash(&code);
    let params = ContractsParams::default();

    // Nothing yet.
    let listed = ok(rpc, &["contract", "list"]);
    assert_eq!(listed["contracts"], serde_json::json!([]));
    assert_eq!(
        amount(&listed["params"]["code_byte_fee"]),
        params.code_byte_fee
    );

    // Malformed input is refused before anything is sent.
    let before = nonce(rpc, "alice");
    let e = refused(
        rpc,
        &["contract", "upload", junk, "--from", "alice"],
        "bad_code",
    );
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|m| m.contains("is not valid contract code")),
        "{e}"
    );
    refused(
        rpc,
        &[
            "contract",
            "upload",
            "/nonexistent/x.wasm",
            "--from",
            "alice",
        ],
        "file_not_found",
    );
    let e = refused(
        rpc,
        &[
            "contract",
            "instantiate",
            "0x1234",
            "--cluster",
            "0",
            "--from",
            "alice",
        ],
        "bad_code_hash",
    );
    assert_eq!(
        e["error"],
        "`0x1234` is not a code hash (as `phalanx contract upload` prints it): 64 hex characters (0x optional)"
    );
    let long_salt = "s".repeat(65);
    refused(
        rpc,
        &[
            "contract",
            "instantiate",
            &hash.to_hex(),
            "--cluster",
            "0",
            "--salt",
            &long_salt,
            "--from",
            "alice",
        ],
        "bad_salt",
    );
    refused(
        rpc,
        &["contract", "call", "nope", "hello", "--from", "alice"],
        "bad_contract_id",
    );
    refused(rpc, &["contract", "show", "12"], "bad_contract_id");
    refused(
        rpc,
        &["contract", "deposit", "0", "--from", "alice"],
        "bad_amount",
    );
    refused(
        rpc,
        &["contract", "withdraw", "ten", "--from", "alice"],
        "bad_amount",
    );
    // Checked against the chain, still before sending: unknown code, no such cluster.
    refused(
        rpc,
        &[
            "contract",
            "instantiate",
            &hash.to_hex(),
            "--cluster",
            "0",
            "--from",
            "alice",
        ],
        "unknown_code",
    );
    assert_eq!(nonce(rpc, "alice"), before, "nothing was sent");

    // Upload: hash, size and the storage fee.
    let uploaded = ok(rpc, &["contract", "upload", module, "--from", "alice"]);
    assert_eq!(uploaded["code_hash"], serde_json::json!(hash), "{uploaded}");
    assert_eq!(uploaded["size"], code.len());
    assert_eq!(uploaded["already_stored"], false);
    let fee = params.code_byte_fee * code.len() as u128;
    assert_eq!(amount(&uploaded["fee"]), fee);
    assert_eq!(amount(&uploaded["code"]["fee"]), fee);
    assert_eq!(
        uploaded["code"]["uploader"],
        Keypair::dev("alice").account().to_address()
    );
    let after_upload = nonce(rpc, "alice");
    assert_eq!(after_upload, before + 1);
    // Again: already stored, nothing sent.
    let again = text(rpc, &["contract", "upload", module, "--from", "bob"]);
    assert!(
        again.starts_with(&format!(
            "code {hash} ({} bytes) is already stored: uploaded by {} at height",
            code.len(),
            Keypair::dev("alice").account().to_address()
        )),
        "{again}"
    );
    let again = ok(rpc, &["contract", "upload", module, "--from", "bob"]);
    assert_eq!(again["already_stored"], true);
    assert_eq!(nonce(rpc, "bob"), 0, "bob sent nothing");

    // A cluster, then an instance on it.
    refused(
        rpc,
        &[
            "contract",
            "instantiate",
            &hash.to_hex(),
            "--cluster",
            "0",
            "--from",
            "alice",
        ],
        "unknown_cluster",
    );
    ok(rpc, &["cluster", "create"]);
    let expected = contract_id(&Keypair::dev("alice").account(), &hash, 0, b"demo");
    let id = hex::encode(expected);
    let instantiated = ok(
        rpc,
        &[
            "contract",
            "instantiate",
            &hash.to_hex(),
            "--cluster",
            "0",
            "--salt",
            "demo",
            "--from",
            "alice",
        ],
    );
    assert_eq!(instantiated["contract"], id, "{instantiated}");
    assert_eq!(instantiated["cluster"], 0);
    let e = refused(
        rpc,
        &[
            "contract",
            "instantiate",
            &hash.to_hex(),
            "--cluster",
            "0",
            "--salt",
            "demo",
            "--from",
            "alice",
        ],
        "already_instantiated",
    );
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|m| m.contains("pass another --salt")),
        "{e}"
    );
    let second = text(
        rpc,
        &[
            "contract",
            "instantiate",
            &hash.to_hex(),
            "--cluster",
            "0",
            "--from",
            "alice",
        ],
    );
    let second_id = hex::encode(contract_id(&Keypair::dev("alice").account(), &hash, 0, b""));
    assert!(
        second.starts_with(&format!("contract {second_id} instantiated on cluster #0")),
        "{second}"
    );
    assert!(
        second.contains("the cluster's gatekeeper publishes the contract's key next"),
        "{second}"
    );

    // Listed and shown.
    let listed = ok(rpc, &["contract", "list"]);
    let mut ids: Vec<String> = listed["contracts"]
        .as_array()
        .expect("contracts")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    let mut expected_ids = vec![id.clone(), second_id.clone()];
    expected_ids.sort();
    assert_eq!(ids, expected_ids);
    let shown = ok(rpc, &["contract", "show", &id]);
    assert_eq!(shown["contract"]["cluster"], 0);
    assert_eq!(shown["contract"]["code_hash"], serde_json::json!(hash));
    assert_eq!(shown["contract"]["commands"], 0);
    assert_eq!(shown["code"]["size"], code.len());
    assert_eq!(shown["keys"], serde_json::json!([]));
    let shown = text(rpc, &["contract", "show", &format!("0x{id}")]);
    assert!(shown.contains("public keys: none yet"), "{shown}");
    // Before its cluster has a key, a query can't be sealed: said plainly, with what to do.
    let e = refused(
        rpc,
        &["contract", "query", &id, "get x", "--from", "bob"],
        "no_cluster_key",
    );
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|m| m.contains("try again shortly")),
        "{e}"
    );
    refused(
        rpc,
        &["contract", "show", &"00".repeat(32)],
        "unknown_contract",
    );

    // No gatekeeper, so no contract key: call says so and sends nothing.
    let before_call = nonce(rpc, "bob");
    let e = refused(
        rpc,
        &["contract", "call", &id, "hello", "--from", "bob"],
        "no_contract_key",
    );
    let message = e["error"].as_str().expect("message");
    assert!(
        message.contains(&format!(
            "contract {id} has no public key published for the current key epoch yet"
        )) && message.contains("the gatekeeper of cluster #0 publishes it"),
        "{message}"
    );
    assert_eq!(nonce(rpc, "bob"), before_call);

    // Query deposits.
    let deposited = ok(rpc, &["contract", "deposit", "5", "--from", "bob"]);
    assert_eq!(amount(&deposited["deposit"]["available"]), 5 * PHA);
    let withdrawn = ok(rpc, &["contract", "withdraw", "2", "--from", "bob"]);
    let deposit = &withdrawn["deposit"];
    assert_eq!(
        (
            amount(&deposit["available"]),
            amount(&deposit["withdrawing"])
        ),
        (3 * PHA, 2 * PHA)
    );
    let height = withdrawn["height"].as_u64().expect("height");
    assert_eq!(
        deposit["release_at"].as_u64(),
        Some(height + params.withdrawal_delay_blocks)
    );
    refused(
        rpc,
        &["contract", "withdraw", "4", "--from", "bob"],
        "call_failed",
    );
    let bob = ok(rpc, &["balance", "bob"]);
    assert_eq!(
        amount(&bob["reserved"]),
        5 * PHA,
        "the deposit stays reserved"
    );
}
