//! A validator added by governance, through the real binary, with no config edited:
//! `phalanx testnet --validators 4 --joining 1` writes four genesis validators and a fifth key
//! whose config knows the four (nobody's config knows it). The fifth node starts with the
//! others, but nobody lets it in and its chain stays at genesis. Once the network is past
//! height 128 (two epochs), alice funds its account and a proposal `SetValidators` naming all
//! five passes. From the next epoch on the four track it as a member, it connects in, catches up
//! the two-plus epochs it missed, publishes its p2p address on chain (signed by its key), and
//! votes: with validator 3 then killed, four of five validators (exactly the quorum) are left,
//! so blocks still finalizing proves the fifth signs them. All five agree on block hashes.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{block_hash, cli, height, ok, wait_until, Proc, EPOCH};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

fn start(dir: &Path, name: &str) -> (Proc, String) {
    let path = dir.join(format!("{name}.toml"));
    let proc = Proc::spawn(
        name,
        &["node", "--config", path.to_str().expect("utf-8")],
        &dir.join(format!("{name}.log")),
    );
    let rpc = proc.rpc_url();
    (proc, rpc)
}

/// The p2p address `key_hex` published on chain, as the node at `rpc` reads it (SCALE string).
fn published_address(rpc: &str, key_hex: &str) -> Option<String> {
    let key = format!("0x{}{key_hex}", hex::encode(b"peers/address/"));
    let value = common::rpc_call(rpc, "phalanx_storage", json!([key]))["result"].clone();
    let bytes = hex::decode(value.as_str()?.trim_start_matches("0x")).ok()?;
    // A SCALE string: compact length (one byte, len * 4, for short strings), then UTF-8.
    String::from_utf8(bytes.get(1..)?.to_vec()).ok()
}

#[test]
fn governance_adds_a_fifth_validator_that_catches_up_and_takes_part_in_finality() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let (written, ports) = common::write_testnet(dir, 4, 1);
    let joining_key = written["joining"][0]
        .as_str()
        .expect("joining key")
        .to_string();
    let mut keys: Vec<String> = written["validators"]
        .as_array()
        .expect("validators")
        .iter()
        .map(|k| k.as_str().expect("key").to_string())
        .collect();
    assert_eq!(keys.len(), 4);
    assert!(!keys.contains(&joining_key));
    let config = std::fs::read_to_string(dir.join("node0.toml")).expect("node0 config");
    assert!(
        !config.contains(&joining_key),
        "no genesis validator's config names the joining validator"
    );

    // The same key without `joining = true` is taken for a wrong key file and refused.
    let joining_config = std::fs::read_to_string(dir.join("join0.toml")).expect("join0 config");
    assert!(
        joining_config.contains("joining = true"),
        "{joining_config}"
    );
    std::fs::write(
        dir.join("wrong.toml"),
        joining_config
            .replace("joining = true\n", "")
            .replace("data_dir = \"join0\"", "data_dir = \"wrong\""),
    )
    .expect("write");
    let refused = std::process::Command::new(common::BIN)
        .args(["node", "--config"])
        .arg(dir.join("wrong.toml"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("is not a genesis validator"),
        "{stderr}"
    );

    let mut nodes: Vec<Option<(Proc, String)>> = (0..4)
        .map(|i| Some(start(dir, &format!("node{i}"))))
        .collect();
    let rpc =
        |nodes: &[Option<(Proc, String)>], i: usize| nodes[i].as_ref().expect("running").1.clone();
    let (joiner, joiner_rpc) = start(dir, "join0");
    joiner.wait(LIMIT, "the joiner logs that it follows", || {
        joiner.log_text().contains("not a genesis validator")
    });

    // Two epochs pass without it: it is not in the set, so nobody lets it in.
    wait_until(LIMIT, "the network passes height 2 * EPOCH", || {
        height(&rpc(&nodes, 0)).is_some_and(|h| h > 2 * EPOCH)
    });
    assert_eq!(height(&joiner_rpc), Some(0), "an outsider gets no blocks");

    // Fund the joiner (its address announcement costs a fee), then vote it in.
    let key_file = dir.join("join0.key");
    let key_file = key_file.to_str().expect("utf-8");
    let funded = ok(
        &rpc(&nodes, 0),
        &[
            "transfer", "--from", "alice", "--to", key_file, "--amount", "10",
        ],
    );
    assert_eq!(funded["status"], "finalized", "{funded}");
    keys.push(joining_key.clone());
    let call = json!({ "set_validators": keys }).to_string();
    ok(
        &rpc(&nodes, 1),
        &[
            "gov",
            "propose",
            "--from",
            "alice",
            "--description",
            "add a fifth validator",
            "--call",
            &call,
        ],
    );
    let id = ok(&rpc(&nodes, 1), &["gov", "list"])
        .as_array()
        .expect("list")
        .len()
        - 1;
    ok(
        &rpc(&nodes, 2),
        &[
            "gov",
            "vote",
            &id.to_string(),
            "aye",
            "--amount",
            "1000",
            "--from",
            "bob",
        ],
    );
    wait_until(LIMIT, "the proposal is enacted", || {
        ok(&rpc(&nodes, 0), &["gov", "show", &id.to_string()])["proposal"]["status"]["status"]
            == "enacted"
    });
    let enacted_at = height(&rpc(&nodes, 0)).expect("height");
    let next_epoch_start = (enacted_at / EPOCH + 1) * EPOCH;

    // It catches up from genesis, more than two epochs behind, and publishes its address.
    joiner.wait(LIMIT, "the joiner catches up past the new epoch", || {
        height(&joiner_rpc).is_some_and(|h| h >= next_epoch_start + 5)
    });
    let expected = format!("127.0.0.1:{}", ports[4]);
    wait_until(LIMIT, "the joiner's address is on chain", || {
        published_address(&rpc(&nodes, 0), &joining_key).as_deref() == Some(expected.as_str())
    });

    // Four of five left: finality now needs the joiner's votes.
    if let Some((mut proc, _)) = nodes[3].take() {
        proc.kill_hard();
    }
    let before = height(&rpc(&nodes, 0)).expect("height");
    wait_until(LIMIT, "four of five validators keep finalizing", || {
        height(&rpc(&nodes, 0)).is_some_and(|h| h >= before + 10)
    });
    let (sent_ok, sent) = cli(
        &joiner_rpc,
        &[
            "transfer", "--from", "alice", "--to", "bob", "--amount", "2",
        ],
    );
    assert!(sent_ok && sent["status"] == "finalized", "{sent}");
    let at = sent["height"].as_u64().expect("height");
    for i in 0..3 {
        let node = rpc(&nodes, i);
        wait_until(LIMIT, "every running node reaches the transfer", || {
            height(&node).is_some_and(|h| h >= at)
        });
    }
    for probe in [EPOCH, 2 * EPOCH, next_epoch_start, at] {
        let hashes: Vec<Option<String>> = (0..3)
            .map(|i| block_hash(&rpc(&nodes, i), probe))
            .chain([block_hash(&joiner_rpc, probe)])
            .collect();
        assert!(
            hashes[0].is_some() && hashes.iter().all(|h| *h == hashes[0]),
            "block hashes at {probe} differ: {hashes:?}"
        );
    }
}
