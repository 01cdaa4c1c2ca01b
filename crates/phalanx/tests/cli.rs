//! The CLI a new user can trust, through the real binary: keys (bad addresses and missing
//! files explained, no overwriting, mnemonics from a file or stdin), `--json` errors as one
//! JSON object with the node's `reason`, amounts refused before any fee is paid, nonces that
//! let `transfer --no-wait` run twice in a row, a readable `tx` receipt, help that lists only
//! the flags a subcommand uses, a closed stdout that ends a command quietly, and logs without
//! colour codes when they go to a file.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{amount, wait_until, Dev, BIN, PHA};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// An RPC URL nothing listens on: commands that must fail before talking to a node are run
/// against it, so reaching the node would show as `unreachable`.
const NO_NODE: &str = "http://127.0.0.1:9";

/// What a finished run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts a failure whose JSON object (on stdout) has `reason`; returns the object.
    fn refused(&self, reason: &str) -> Value {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "expected a failure, got {:?}\nstdout: {}\nstderr: {}",
            self.code,
            self.stdout,
            self.stderr
        );
        let error = self.json();
        assert_eq!(error["reason"], reason, "{error}");
        let message = error["error"].as_str().expect("an error message");
        assert!(
            self.stderr.contains(message),
            "the message goes to stderr too: {}",
            self.stderr
        );
        error
    }
}

/// Runs `phalanx args…` with `stdin` as its input.
fn run_with(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("phalanx starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    finished(child.wait_with_output().expect("phalanx runs"))
}

fn run(args: &[&str]) -> Run {
    run_with(args, "")
}

fn finished(out: Output) -> Run {
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Runs `phalanx args…` with its stdout a pipe whose reader is gone before anything is
/// written; `stdin` is given only after that, so the command cannot have printed earlier.
fn run_into_closed_pipe(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("phalanx starts");
    drop(child.stdout.take());
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    finished(child.wait_with_output().expect("phalanx runs"))
}

#[test]
fn key_inspect_says_what_is_wrong() {
    let bad = run(&["key", "inspect", "pha1notanaddress", "--json"]).refused("bad_address");
    let message = bad["error"].as_str().expect("message");
    assert!(
        message.contains("pha1notanaddress") && message.contains("`o` cannot appear"),
        "{message}"
    );
    let alice = run(&["key", "inspect", "alice", "--json"]).json()["address"]
        .as_str()
        .expect("alice's address")
        .to_string();
    let short =
        run(&["key", "inspect", &alice[..alice.len() - 1], "--json"]).refused("bad_address");
    assert!(
        short["error"]
            .as_str()
            .is_some_and(|m| m.contains("61 characters long")),
        "{short}"
    );
    // BIP-350's valid bech32m string `a1lqfn3a`: some other network's address.
    let other = run(&["key", "inspect", "a1lqfn3a", "--json"]).refused("bad_address");
    assert!(
        other["error"]
            .as_str()
            .is_some_and(|m| m.contains("prefix is `a`, expected `pha`")),
        "{other}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nobody.key");
    let missing = missing.to_str().expect("utf-8");
    let error = run(&["--json", "key", "inspect", missing]).refused("file_not_found");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|m| m.contains("no file")),
        "{error}"
    );
    // An address in capitals is the same address (BIP-350).
    let upper = run(&["key", "inspect", &alice.to_uppercase(), "--json"]).json();
    assert_eq!(upper["address"], alice.as_str());
    // Without --json: the message on stderr, nothing on stdout.
    let text = run(&["key", "inspect", "pha1notanaddress"]);
    assert_eq!(text.code, Some(1));
    assert!(text.stdout.is_empty(), "{}", text.stdout);
    assert!(
        text.stderr.starts_with("error: `pha1notanaddress`"),
        "{}",
        text.stderr
    );
}

#[test]
fn key_new_never_overwrites_and_mnemonics_come_from_a_file_or_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("my.key");
    let file = path.to_str().expect("utf-8");
    let made = run(&["key", "new", "--out", file, "--json"]).json();
    let address = made["address"].as_str().expect("address").to_string();
    let written = std::fs::read_to_string(&path).expect("key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner reads a key file");
    }
    run(&["key", "new", "--out", file, "--json"]).refused("file_exists");
    assert_eq!(
        std::fs::read_to_string(&path).expect("key file"),
        written,
        "the existing key is untouched"
    );
    // The file holds a 24-word mnemonic: from the file, and from stdin, it is the same key.
    assert_eq!(written.split_whitespace().count(), 24, "{written}");
    assert_eq!(
        run(&["key", "inspect", file, "--json"]).json()["address"],
        address.as_str()
    );
    let from_stdin = run_with(&["key", "inspect", "-", "--json"], &written);
    assert_eq!(
        from_stdin.json()["address"],
        address.as_str(),
        "{}",
        from_stdin.stderr
    );
    assert!(
        from_stdin.stderr.is_empty(),
        "no warning: {}",
        from_stdin.stderr
    );
    // On the command line it still works, with a warning about shell history and `ps`.
    let on_argv = run(&["key", "inspect", written.trim(), "--json"]);
    assert_eq!(on_argv.json()["address"], address.as_str());
    assert!(
        on_argv.stderr.contains("shell history"),
        "{}",
        on_argv.stderr
    );
    // A raw secret from stdin signs as the same account `key new --raw` printed.
    let raw = run(&["key", "new", "--raw", "--json"]).json();
    let secret = raw["secret"].as_str().expect("secret");
    assert_eq!(
        run_with(&["key", "inspect", "-", "--json"], secret).json()["address"],
        raw["address"]
    );
    // Garbage on stdin is explained.
    run_with(&["key", "inspect", "-", "--json"], "not a key\n").refused("bad_mnemonic");
    run_with(&["key", "inspect", "-", "--json"], "\n").refused("bad_key_file");
}

#[test]
fn amounts_are_checked_before_any_node_is_asked() {
    let transfer = |amount: &str| {
        run(&[
            "transfer", "--from", "alice", "--to", "bob", "--amount", amount, "--rpc", NO_NODE,
            "--json",
        ])
    };
    let error = transfer("1.0000000000001").refused("too_many_decimals");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|m| m.contains("13 decimals; PHA has 12")),
        "{error}"
    );
    transfer("0").refused("zero_amount");
    transfer("0.000000000000").refused("zero_amount");
    transfer("-3").refused("bad_amount");
    transfer("ten").refused("bad_amount");
    // A valid amount gets as far as the (absent) node.
    transfer("1").refused("unreachable");
}

#[test]
fn a_malformed_command_line_with_json_is_a_json_error() {
    let out = run(&["--json", "transfer", "--frm", "alice"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.json()["reason"], "invalid_arguments");
    let out = run(&["--json", "gov"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let error = out.json();
    assert_eq!(error["reason"], "invalid_arguments");
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|m| m.contains("missing")),
        "{error}"
    );
    // Without --json it is clap's usual message.
    let out = run(&["transfer", "--frm", "alice"]);
    assert_eq!(out.code, Some(2));
    assert!(
        out.stdout.is_empty() && out.stderr.contains("--frm"),
        "{}",
        out.stderr
    );
}

#[test]
fn help_lists_only_the_flags_a_subcommand_uses() {
    let help = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--help");
        let out = run(&all);
        assert_eq!(out.code, Some(0), "{}", out.stderr);
        out.stdout
    };
    for args in [&["dev"][..], &["node"], &["worker"], &["bench"]] {
        let text = help(args);
        assert!(
            !text.contains("--rpc ") && !text.contains("--json"),
            "`phalanx {}` uses neither --rpc nor --json:\n{text}",
            args.join(" ")
        );
    }
    for args in [&["key", "new"][..], &["key", "inspect"], &["testnet"]] {
        let text = help(args);
        assert!(
            text.contains("--json") && !text.contains("--rpc "),
            "`phalanx {}` prints but talks to no node:\n{text}",
            args.join(" ")
        );
    }
    for args in [
        &["status"][..],
        &["balance"],
        &["transfer"],
        &["block"],
        &["tx"],
        &["gov", "vote"],
        &["gov", "list"],
        &["root"],
        &["workers"],
    ] {
        let text = help(args);
        assert!(
            text.contains("--json") && text.contains("--rpc <URL>"),
            "`phalanx {}` talks to a node:\n{text}",
            args.join(" ")
        );
    }
    let transfer = help(&["transfer"]);
    assert!(transfer.contains("--nonce <NONCE>"), "{transfer}");
    let testnet = help(&["testnet"]);
    assert!(testnet.contains("DEV genesis"), "{testnet}");
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let mnemonic = run(&["key", "new", "--json"]).json()["mnemonic"]
        .as_str()
        .expect("mnemonic")
        .to_string();
    let out = run_into_closed_pipe(&["key", "inspect", "-"], &mnemonic);
    assert_eq!(out.code, Some(0), "exit 0, not a panic: {}", out.stderr);
    assert!(out.stderr.is_empty(), "quietly: {}", out.stderr);
    let out = run_into_closed_pipe(&["key", "new", "--json"], "");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    let out = run_into_closed_pipe(&["--help"], "");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

/// `phalanx testnet` says it writes a dev genesis.
#[test]
fn testnet_says_its_genesis_is_for_development() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_ports(1)[0].to_string();
    let out = run(&[
        "testnet",
        "--validators",
        "1",
        "--dir",
        dir.path().to_str().expect("utf-8"),
        "--p2p-ports",
        &port,
        "--rpc-base",
        "0",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("DEV genesis") && out.stdout.contains("alice"),
        "{}",
        out.stdout
    );
}

fn address_of(name: &str) -> String {
    run(&["key", "inspect", name, "--json"]).json()["address"]
        .as_str()
        .expect("address")
        .to_string()
}

fn balance(rpc: &str, who: &str) -> Value {
    run(&["balance", who, "--rpc", rpc, "--json"]).json()
}

/// Waits until `hash` is finalized; returns `phalanx tx` in JSON.
fn wait_finalized(rpc: &str, hash: &str) -> Value {
    let mut last = Value::Null;
    wait_until(
        Duration::from_secs(60),
        &format!("{hash} is finalized"),
        || {
            last = run(&["tx", hash, "--rpc", rpc, "--json"]).json();
            last["status"] == "finalized"
        },
    );
    last
}

#[test]
fn against_a_dev_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("dev.log");
    let dev = Dev::start(
        dir.path(),
        &log,
        &[
            "--block-interval-ms",
            "100",
            "--workers",
            "0",
            "--gatekeepers",
            "0",
        ],
    );
    let rpc = dev.rpc.as_str();

    // --rpc and --json after the subcommand, or before it.
    let after = run(&["status", "--rpc", rpc, "--json"]).json();
    let before = run(&["--rpc", rpc, "--json", "status"]).json();
    assert_eq!(after["genesis_hash"], before["genesis_hash"]);
    assert!(after["genesis_hash"].is_string(), "{after}");

    // Two `--no-wait` transfers in a row from one account: the second takes the next nonce.
    let alice_before = balance(rpc, "alice");
    let nonce = alice_before["nonce"].as_u64().expect("nonce");
    let bob_before = amount(&balance(rpc, "bob")["free"]);
    let send = |amount: &str| {
        run(&[
            "transfer",
            "--from",
            "alice",
            "--to",
            "bob",
            "--amount",
            amount,
            "--no-wait",
            "--rpc",
            rpc,
            "--json",
        ])
    };
    let first = send("1");
    let second = send("2");
    let (first, second) = (first.json(), second.json());
    assert_eq!(
        (&first["status"], &second["status"]),
        (&"submitted".into(), &"submitted".into())
    );
    assert_ne!(first["hash"], second["hash"]);
    for sent in [&first, &second] {
        let tx = wait_finalized(rpc, sent["hash"].as_str().expect("hash"));
        assert!(tx["location"]["receipt"]["error"].is_null(), "{tx}");
    }
    assert_eq!(amount(&balance(rpc, "bob")["free"]), bob_before + 3 * PHA);
    assert_eq!(balance(rpc, "alice")["nonce"], nonce + 2);

    // An explicit --nonce: a used one is refused with the node's own reason and code.
    let stale = run(&[
        "transfer",
        "--from",
        "alice",
        "--to",
        "bob",
        "--amount",
        "1",
        "--nonce",
        &nonce.to_string(),
        "--rpc",
        rpc,
        "--json",
    ])
    .refused("stale_nonce");
    assert_eq!(stale["code"], 1002, "{stale}");
    // The next one is taken as given.
    let given = run(&[
        "transfer",
        "--from",
        "alice",
        "--to",
        "bob",
        "--amount",
        "1",
        "--nonce",
        &(nonce + 2).to_string(),
        "--rpc",
        rpc,
        "--json",
    ])
    .json();
    assert_eq!(given["status"], "finalized", "{given}");
    assert_eq!(balance(rpc, "alice")["nonce"], nonce + 3);

    // Other node refusals carry the node's reason too.
    let missing = run(&["block", "99999999", "--rpc", rpc, "--json"]).refused("not_found");
    assert_eq!(missing["code"], 1004, "{missing}");

    // More than the sender has, or nothing at all: refused before any fee is paid.
    let eve_before = balance(rpc, "eve");
    let free = amount(&eve_before["free"]);
    // All of it: with the fee on top, more than eve has.
    let everything = format!("{}.{:012}", free / PHA, free % PHA);
    let over = run(&[
        "transfer",
        "--from",
        "eve",
        "--to",
        "bob",
        "--amount",
        &everything,
        "--rpc",
        rpc,
        "--json",
    ])
    .refused("insufficient_balance");
    assert!(
        over["error"].as_str().is_some_and(
            |m| m.contains("not enough spendable balance") && m.contains("nothing was sent")
        ),
        "{over}"
    );
    run(&[
        "transfer", "--from", "eve", "--to", "bob", "--amount", "0", "--rpc", rpc, "--json",
    ])
    .refused("zero_amount");
    let eve_after = balance(rpc, "eve");
    assert_eq!(eve_after["free"], eve_before["free"], "no fee was paid");
    assert_eq!(eve_after["nonce"], eve_before["nonce"]);

    // `tx HASH` in text: a readable receipt.
    let hash = given["hash"].as_str().expect("hash");
    let receipt = run(&["tx", hash, "--rpc", rpc]);
    assert_eq!(receipt.code, Some(0), "{}", receipt.stderr);
    let (alice, bob) = (address_of("alice"), address_of("bob"));
    let text = &receipt.stdout;
    assert!(!text.trim_start().starts_with('{'), "not JSON: {text}");
    assert!(
        text.contains(&format!("transaction {}", hash.trim_start_matches("0x"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("finalized in block {}", given["height"])),
        "{text}"
    );
    assert!(text.contains("result:  ok"), "{text}");
    assert!(
        text.contains(&format!(
            "transferred: from {alice}, to {bob}, amount 1 PHA"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("fee paid: who {alice}, amount ")),
        "{text}"
    );
    let unknown = run(&["tx", &"ab".repeat(32), "--rpc", rpc]);
    assert!(
        unknown.stdout.contains("unknown to this node"),
        "{}",
        unknown.stdout
    );
    run(&["tx", "0x12", "--rpc", rpc, "--json"]).refused("bad_hash");

    // A validator's p2p address: published from a key, refused before any fee when the chain
    // could not dial it, and withdrawn.
    let dave_before = balance(rpc, "dave");
    run(&[
        "peers",
        "set-address",
        "0.0.0.0:30300",
        "--from",
        "dave",
        "--rpc",
        rpc,
        "--json",
    ])
    .refused("bad_address");
    assert_eq!(
        balance(rpc, "dave")["nonce"],
        dave_before["nonce"],
        "nothing was sent"
    );
    let dave_key = hex::encode(phalanx_primitives::Keypair::dev("dave").account().0);
    let storage_key = format!("0x{}{dave_key}", hex::encode(b"peers/address/"));
    let published = run(&[
        "peers",
        "set-address",
        "10.1.2.3:30300",
        "--from",
        "dave",
        "--rpc",
        rpc,
        "--json",
    ])
    .json();
    assert_eq!(published["status"], "finalized", "{published}");
    let stored = common::rpc_call(rpc, "phalanx_storage", serde_json::json!([storage_key]));
    let stored = stored["result"].as_str().expect("stored").to_string();
    assert!(
        stored.ends_with(&hex::encode(b"10.1.2.3:30300")),
        "{stored}"
    );
    let removed = run(&[
        "peers",
        "set-address",
        "--remove",
        "--from",
        "dave",
        "--rpc",
        rpc,
        "--json",
    ])
    .json();
    assert_eq!(removed["status"], "finalized", "{removed}");
    let gone = common::rpc_call(rpc, "phalanx_storage", serde_json::json!([storage_key]));
    assert!(gone["result"].is_null(), "{gone}");

    // A closed stdout while talking to the node: exit 0, nothing on stderr.
    let out = run_into_closed_pipe(&["block", "--rpc", rpc], "");
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.is_empty(), "{}", out.stderr);

    // The node's log went to a file: plain text, no colour codes.
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("INFO"), "the log has lines: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "no terminal escape codes in a log file"
    );
    drop(dev);
}

#[test]
fn a_dev_data_dir_from_an_older_genesis_layout_is_refused_with_the_way_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The dev genesis as a phalanx from before `staking.min_validator_bond` wrote it.
    let mut old = serde_json::to_value(phalanx_runtime::GenesisConfig::dev(
        vec![hex::encode(
            phalanx_primitives::Keypair::dev("validator").account().0,
        )],
        1_700_000_000_000,
    ))
    .expect("serializes");
    old["staking"]
        .as_object_mut()
        .expect("a staking object")
        .remove("min_validator_bond");
    std::fs::write(
        dir.path().join("genesis.json"),
        serde_json::to_vec(&old).expect("json"),
    )
    .expect("write");
    let data_dir = dir.path().to_str().expect("utf-8");
    let out = run(&["dev", "--data-dir", data_dir]);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    for part in ["genesis.json", "min_validator_bond", "phalanx dev --reset"] {
        assert!(out.stderr.contains(part), "{part}: {}", out.stderr);
    }
}
