//! Key distribution in a real `phalanx dev`: its gatekeeper gives both workers cluster 0's
//! key; removing a worker from the cluster starts a new key epoch, whose key reaches the
//! remaining member and never the removed one; retiring the old epoch is then accepted.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{ok, wait_until, Dev};
use serde_json::{json, Value};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

fn received(dev: &Dev, name: &str, epoch: u32) -> bool {
    dev.proc.stdout().lines().any(|l| {
        l.contains(&format!(
            "worker {name}: received the key of cluster 0, key epoch {epoch}"
        ))
    })
}

#[test]
fn a_removed_member_gets_no_key_of_the_next_epoch() {
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let dev = Dev::start(
        data.path(),
        &logs.path().join("dev.log"),
        &["--block-interval-ms", "100"],
    );
    let rpc = dev.rpc.clone();
    wait_until(
        LIMIT,
        "both workers hold cluster 0's key of epoch 0",
        || received(&dev, "worker0", 0) && received(&dev, "worker1", 0),
    );
    let cluster = ok(&rpc, &["cluster", "show", "0"]);
    let members: Vec<String> = cluster["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m.as_str().expect("hex").to_string())
        .collect();
    assert_eq!(members.len(), 2, "{cluster}");
    let workers = ok(&rpc, &["workers"]);
    let identity_of = |operator: &str| -> String {
        let address = ok(&rpc, &["key", "inspect", operator])["address"].clone();
        workers["workers"]
            .as_array()
            .expect("workers")
            .iter()
            .find(|w| w["operator"] == address)
            .and_then(|w| w["identity"].as_str())
            .expect("a worker of this operator")
            .to_string()
    };
    // worker1 is operated by dave.
    let removed = identity_of("dave");
    assert!(members.contains(&removed));

    let sent = ok(&rpc, &["cluster", "remove", "0", &removed]);
    let events = sent["receipt"]["events"].as_array().expect("events");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "key_epoch_requested" && e["epoch"] == json!(1)),
        "removal requests a new epoch: {sent}"
    );
    wait_until(LIMIT, "worker0 holds cluster 0's key of epoch 1", || {
        received(&dev, "worker0", 1)
    });
    let epochs = ok(&rpc, &["keys", "epochs"]);
    assert_eq!(epochs["current"], 1, "{epochs}");
    assert_ne!(
        epochs["epochs"][0]["master_public"],
        epochs["epochs"][1]["master_public"]
    );
    // Give the gatekeeper a few more key rounds: nothing ever reaches the removed member.
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !received(&dev, "worker1", 1),
        "the removed worker got a key of the new epoch:\n{}",
        dev.proc.stdout()
    );
    // And the chain, by proof: no share of epoch 1 for the removed worker, one for the other.
    let share_of = |operator: &str| {
        let worker: [u8; 32] = hex::decode(identity_of(operator))
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let key = phalanx_runtime::gatekeeper::cluster_share_key(0, 1, &worker);
        common::rpc_call(
            &rpc,
            "phalanx_stateProof",
            json!([format!("0x{}", hex::encode(key))]),
        )["result"]["value"]
            .clone()
    };
    assert_eq!(share_of("dave"), Value::Null, "the removed worker's share");
    assert!(
        share_of("charlie").is_string(),
        "the remaining member's share"
    );
    let cluster = ok(&rpc, &["cluster", "show", "0"]);
    assert_eq!(cluster["members"], json!([identity_of("charlie")]));
    let keys: Vec<Value> = cluster["keys"].as_array().expect("keys").clone();
    assert!(keys.iter().any(|k| k["epoch"] == 1), "{cluster}");

    // The old epoch can now be retired; every enclave erases it.
    let retired = ok(&rpc, &["keys", "retire", "0"]);
    assert_eq!(retired["status"], "finalized", "{retired}");
    wait_until(LIMIT, "the workers erase key epoch 0", || {
        dev.proc
            .log_text()
            .matches("erased the keys of a key epoch")
            .count()
            >= 2
    });
}
