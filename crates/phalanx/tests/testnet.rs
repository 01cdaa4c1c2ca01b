//! The documented 4-validator loopback network, through the real binary: `phalanx testnet`
//! writes the configs (100 ms blocks), four `phalanx node` processes and one full node
//! (following validator 0, checking every certificate) run them. A transfer sent to one
//! validator is seen by all. Past the first epoch boundary (height 64) validator 3 is killed
//! with kill -9: the other three keep finalizing. Restarted, it reopens at least where it was,
//! catches up and takes part again: with validator 2 then stopped by SIGTERM (a clean exit),
//! the network needs validator 3's votes to finalize, and it does. All nodes agree on the block
//! hashes at common heights.
//!
//! Ports: RPC on port 0 (each node prints the address it bound). Validators must know each
//! other's p2p addresses ahead of time, so the test picks free p2p ports by binding port 0 and
//! releasing it (`common::free_ports`).

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{block_hash, cli, height, wait_until, Proc, EPOCH, PHA};
use std::path::Path;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);

struct Node {
    proc: Proc,
    rpc: String,
}

fn start_node(dir: &Path, config: &str, log: &str) -> Node {
    let path = dir.join(config);
    let proc = Proc::spawn(
        config,
        &["node", "--config", path.to_str().expect("utf-8")],
        &dir.join(log),
    );
    let rpc = proc.rpc_url();
    Node { proc, rpc }
}

/// Asserts that every node in `nodes` has the same block hash at each of `heights`.
fn agree(nodes: &[&Node], heights: &[u64]) {
    for &at in heights {
        let hashes: Vec<Option<String>> = nodes.iter().map(|n| block_hash(&n.rpc, at)).collect();
        assert!(
            hashes[0].is_some() && hashes.iter().all(|h| *h == hashes[0]),
            "block hashes at height {at} differ: {:?}",
            nodes
                .iter()
                .map(|n| &n.proc.name)
                .zip(&hashes)
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn four_validators_and_a_full_node_agree_and_a_validator_restarted_past_an_epoch_rejoins() {
    let began = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    common::write_testnet(dir, 4, 0);
    let mut nodes: Vec<Option<Node>> = (0..4)
        .map(|i| {
            Some(start_node(
                dir,
                &format!("node{i}.toml"),
                &format!("node{i}-a.log"),
            ))
        })
        .collect();
    let rpc = |nodes: &[Option<Node>], i: usize| nodes[i].as_ref().expect("running").rpc.clone();
    std::fs::write(
        dir.join("full.toml"),
        format!(
            "data_dir = \"full\"\ngenesis = \"genesis.json\"\nrpc = \"127.0.0.1:0\"\nfollow = \"{}\"\nvalidators = []\n",
            rpc(&nodes, 0)
        ),
    )
    .expect("write full node config");
    let full = start_node(dir, "full.toml", "full.log");

    wait_until(LIMIT, "all validators finalize past height 3", || {
        (0..4).all(|i| height(&rpc(&nodes, i)).is_some_and(|h| h >= 3))
    });
    let (sent_ok, sent) = cli(
        &rpc(&nodes, 1),
        &[
            "transfer", "--from", "alice", "--to", "bob", "--amount", "3",
        ],
    );
    assert!(sent_ok && sent["status"] == "finalized", "{sent}");
    let at = sent["height"].as_u64().expect("finalized height");
    let mut everyone: Vec<&Node> = nodes.iter().flatten().collect();
    everyone.push(&full);
    for node in &everyone {
        node.proc.wait(LIMIT, &format!("height {at}"), || {
            height(&node.rpc).is_some_and(|h| h >= at)
        });
        let bob = cli(&node.rpc, &["balance", "bob"]).1;
        assert_eq!(
            common::amount(&bob["free"]),
            1_000_003 * PHA,
            "{}",
            node.proc.name
        );
        assert_eq!(
            block_hash(&node.rpc, at).as_deref(),
            sent["block"].as_str(),
            "{} has the same block at {at}",
            node.proc.name
        );
    }

    // Past the first epoch boundary, kill -9 validator 3.
    let node3 = nodes[3].as_ref().expect("running");
    node3
        .proc
        .wait(LIMIT, "validator 3 passes the first epoch boundary", || {
            height(&node3.rpc).is_some_and(|h| h >= EPOCH + 3)
        });
    let reported = height(&node3.rpc).expect("height");
    if let Some(mut node) = nodes[3].take() {
        node.proc.kill_hard();
    }
    let before = height(&rpc(&nodes, 0)).expect("height");
    wait_until(LIMIT, "the remaining three keep finalizing", || {
        height(&rpc(&nodes, 0)).is_some_and(|h| h >= before + 5)
    });
    let (sent_ok, sent) = cli(
        &rpc(&nodes, 2),
        &[
            "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
        ],
    );
    assert!(
        sent_ok && sent["status"] == "finalized",
        "with one validator down: {sent}"
    );

    // Restart validator 3: it reopens at least where it was and catches up.
    let node3 = start_node(dir, "node3.toml", "node3-b.log");
    let opened = node3
        .proc
        .wait_line(LIMIT, "the start-up line", |l| l.contains(": height "));
    let opened: u64 = opened
        .split(": height ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no height in {opened:?}"));
    assert!(
        opened >= reported,
        "validator 3 reopened at {opened}, below its {reported}"
    );
    let target = height(&rpc(&nodes, 0)).expect("height");
    node3.proc.wait(
        LIMIT,
        &format!("validator 3 catches up to {target}"),
        || height(&node3.rpc).is_some_and(|h| h >= target),
    );
    nodes[3] = Some(node3);

    // Stop validator 2 cleanly: now no block finalizes without validator 3's votes.
    if let Some(mut node) = nodes[2].take() {
        node.proc.signal("TERM");
        let status = node.proc.wait_exit(Duration::from_secs(30));
        if !status.success() {
            node.proc
                .fail(&format!("SIGTERM did not stop it cleanly: {status}"));
        }
    }
    let before = height(&rpc(&nodes, 3)).expect("height");
    let node3 = nodes[3].as_ref().expect("running");
    node3.proc.wait(
        LIMIT,
        "validators 0, 1 and the restarted 3 finalize together",
        || height(&node3.rpc).is_some_and(|h| h >= before + 5),
    );
    let (sent_ok, sent) = cli(
        &node3.rpc,
        &[
            "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
        ],
    );
    assert!(
        sent_ok && sent["status"] == "finalized",
        "via the restarted validator: {sent}"
    );
    let last = sent["height"].as_u64().expect("height");

    let mut running: Vec<&Node> = nodes.iter().flatten().collect();
    running.push(&full);
    for node in &running {
        node.proc.wait(LIMIT, &format!("height {last}"), || {
            height(&node.rpc).is_some_and(|h| h >= last)
        });
    }
    agree(
        &running,
        &[1, at, EPOCH - 1, EPOCH, EPOCH + 1, reported, before, last],
    );
    eprintln!("testnet scenario took {:?}", began.elapsed());
}
