//! No key ever leaves an enclave in the clear. A real `phalanx dev` (one gatekeeper, two
//! workers in cluster 0) runs through key epoch 0, a rotation to epoch 1 and the retirement of
//! epoch 0. The secrets its enclaves held — identity and encryption secrets, every master and
//! every cluster key — are read back through the SIMULATED platform's test hook (its seal secret
//! is a file) and checked against the public keys the chain published, so they are the real
//! ones. Then every byte the network showed the world is scanned for them, raw and in every
//! text encoding the codebase uses: every file under the data directory (chain state and block
//! log on disk, the workers' and the gatekeeper's files), stdout and the log, and the answers
//! of the RPC methods (every block with its transactions, keys, epochs, clusters, workers).
//! Retirement is checked too: after it, no enclave holds any key of epoch 0.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::scan::{base64, encodings, Scanner};
use common::{ok, rpc_call, wait_until, Dev};
use phalanx_client::{ClusterKeyProof, KeyProofError, SealError};
use phalanx_keys::tree::{ClusterKey, MasterKey};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

/// The enclave secrets sealed in dev worker directory `dir`, read while the worker may be
/// writing: a blob older than the counter (a commit in between) is retried.
fn secrets_in(dir: &Path) -> Vec<(String, [u8; 32])> {
    let mut last = String::new();
    for _ in 0..50 {
        match phalanx_worker::enclave::testing_secrets_in(dir) {
            Ok(secrets) => return secrets,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "could not read the sealed state in {}: {last}",
        dir.display()
    );
}

fn labelled(who: &str, secrets: Vec<(String, [u8; 32])>) -> Vec<(String, [u8; 32])> {
    secrets
        .into_iter()
        .map(|(label, secret)| (format!("{who}: {label}"), secret))
        .collect()
}

fn find<'a>(secrets: &'a [(String, [u8; 32])], label: &str) -> &'a [u8; 32] {
    secrets
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no {label:?} among {:?}", names(secrets)))
}

fn names(secrets: &[(String, [u8; 32])]) -> Vec<&str> {
    secrets.iter().map(|(l, _)| l.as_str()).collect()
}

fn key_of(value: &Value) -> [u8; 32] {
    hex::decode(value.as_str().expect("hex key"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

fn received(dev: &Dev, name: &str, epoch: u32) -> bool {
    dev.proc.stdout().lines().any(|l| {
        l.contains(&format!(
            "worker {name}: received the key of cluster 0, key epoch {epoch}"
        ))
    })
}

#[test]
fn the_scanner_finds_a_planted_secret_in_every_encoding() {
    let secret = [0x5a; 32];
    let mut secret_b = [7u8; 32];
    secret_b[0] = 200;
    let scanner = Scanner::new(&[
        ("marker".into(), secret.to_vec()),
        ("other".into(), secret_b.to_vec()),
    ]);
    for (encoding, needle) in encodings(&secret_b) {
        let mut haystack = b"prefix bytes \x00\xff ".to_vec();
        haystack.extend_from_slice(&needle);
        haystack.extend_from_slice(b" suffix");
        let mut leaks = Vec::new();
        scanner.scan(&haystack, encoding, &mut leaks);
        assert_eq!(leaks.len(), 1, "{encoding}: {leaks:?}");
        assert!(leaks[0].0.starts_with("other"), "{leaks:?}");
    }
    assert_eq!(base64(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("nested")).expect("mkdir");
    std::fs::write(
        dir.path().join("nested/file"),
        [&[1u8, 2][..], &secret].concat(),
    )
    .expect("write");
    let mut leaks = Vec::new();
    assert_eq!(scanner.scan_dir(dir.path(), &mut leaks), 1);
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    let mut clean = Vec::new();
    scanner.scan(&[0x5a; 31], "31 bytes", &mut clean);
    assert!(clean.is_empty(), "{clean:?}");
}

#[test]
fn no_enclave_secret_appears_on_chain_on_disk_in_logs_or_over_rpc() {
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("dev.log");
    let mut dev = Dev::start(data.path(), &log, &["--block-interval-ms", "100"]);
    let rpc = dev.rpc.clone();
    let workers_dir: PathBuf = data.path().join("workers");

    wait_until(
        LIMIT,
        "both workers hold cluster 0's key of epoch 0",
        || received(&dev, "worker0", 0) && received(&dev, "worker1", 0),
    );
    assert_eq!(ok(&rpc, &["keys", "rotate"])["status"], "finalized");
    wait_until(
        LIMIT,
        "both workers hold cluster 0's key of epoch 1",
        || received(&dev, "worker0", 1) && received(&dev, "worker1", 1),
    );

    // Both epochs are live: read every enclave's secrets now, and check them against the chain.
    let mut secrets = Vec::new();
    for name in ["gatekeeper0", "worker0", "worker1"] {
        secrets.extend(labelled(name, secrets_in(&workers_dir.join(name))));
    }
    let cluster = ok(&rpc, &["cluster", "show", "0"]);
    let epochs = ok(&rpc, &["keys", "epochs"]);
    for epoch in [0u32, 1] {
        let master = MasterKey::from_bytes(find(
            &secrets,
            &format!("gatekeeper0: master of key epoch {epoch}"),
        ));
        let record = &epochs["epochs"][epoch as usize];
        assert_eq!(
            master.public(),
            key_of(&record["master_public"]),
            "{epochs}"
        );
        let published = cluster["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["epoch"] == epoch)
            .map(|k| key_of(&k["public_key"]))
            .unwrap_or_else(|| panic!("no cluster key of epoch {epoch}: {cluster}"));
        for worker in ["worker0", "worker1"] {
            let held = find(
                &secrets,
                &format!("{worker}: key of cluster 0, key epoch {epoch}"),
            );
            assert_eq!(ClusterKey::from_bytes(held).public(), published);
        }
    }

    // A client seals to the cluster's current key through the SDK (which checks the proofs
    // first); only the holder of that epoch's cluster key opens it, and reads its answer.
    let proof: ClusterKeyProof =
        serde_json::from_value(rpc_call(&rpc, "phalanx_clusterKey", json!([0]))["result"].clone())
            .expect("a cluster key answer");
    assert_eq!(proof.epoch, 1);
    let target = phalanx_primitives::gatekeeper::cluster_id(0);
    let sealed = proof
        .seal_request(
            &proof.state_root,
            target,
            u64::MAX,
            b"marker request plaintext",
        )
        .expect("seals to a verified current key");
    let member = find(&secrets, "worker0: key of cluster 0, key epoch 1");
    let (opened, response_key) = phalanx_keys::open_request(
        &ClusterKey::from_bytes(member).secret_bytes(),
        &sealed.context,
        &sealed.envelope,
    )
    .expect("the member opens it");
    assert_eq!(&opened[..], b"marker request plaintext");
    let answer = phalanx_keys::seal_response(&response_key, b"the answer", &mut rand_core::OsRng)
        .expect("seals the answer");
    let read = phalanx_keys::open_response(&sealed.response_key, &answer).expect("opens");
    assert_eq!(&read[..], b"the answer");
    let old_key = find(&secrets, "worker0: key of cluster 0, key epoch 0");
    assert!(phalanx_keys::open_request(
        &ClusterKey::from_bytes(old_key).secret_bytes(),
        &sealed.context,
        &sealed.envelope
    )
    .is_err());
    // Epoch 0's key is superseded: the SDK refuses to seal to it.
    let old: ClusterKeyProof = serde_json::from_value(
        rpc_call(&rpc, "phalanx_clusterKey", json!([0, 0]))["result"].clone(),
    )
    .expect("epoch 0's key");
    assert!(matches!(
        old.seal_request(&old.state_root, target, u64::MAX, b"x"),
        Err(SealError::Proof(KeyProofError::NotCurrent {
            epoch: 0,
            current: 1
        }))
    ));

    // Retire epoch 0: every enclave erases it.
    assert_eq!(ok(&rpc, &["keys", "retire", "0"])["status"], "finalized");
    wait_until(LIMIT, "the three enclaves erase key epoch 0", || {
        dev.proc
            .log_text()
            .matches("erased the keys of a key epoch")
            .count()
            >= 3
    });

    let retired: ClusterKeyProof = serde_json::from_value(
        rpc_call(&rpc, "phalanx_clusterKey", json!([0, 0]))["result"].clone(),
    )
    .expect("epoch 0's key");
    assert!(matches!(
        retired.seal_request(&retired.state_root, target, u64::MAX, b"x"),
        Err(SealError::Proof(KeyProofError::Retired { epoch: 0, .. }))
    ));

    // Everything the RPC shows, every block with its transactions included.
    let mut answers = Vec::new();
    for args in [
        &["status"][..],
        &["workers"],
        &["gatekeeper", "list"],
        &["cluster", "list"],
        &["cluster", "show", "0"],
        &["keys", "epochs"],
    ] {
        answers.push(ok(&rpc, args));
    }
    for epoch in [0u32, 1] {
        answers.push(rpc_call(&rpc, "phalanx_masterKey", json!([epoch])));
        answers.push(rpc_call(&rpc, "phalanx_clusterKey", json!([0, epoch])));
    }
    for method in ["phalanx_gatekeepers", "phalanx_clusters", "phalanx_workers"] {
        answers.push(rpc_call(&rpc, method, json!([])));
    }
    let head = common::height(&rpc).expect("height");
    for height in 0..=head {
        answers.push(rpc_call(&rpc, "phalanx_block", json!([height])));
        answers.push(rpc_call(&rpc, "phalanx_rawBlock", json!([height])));
    }
    // The blocks scanned carry the enclaves' key messages (shares included), not only their
    // effects.
    let shared = answers
        .iter()
        .filter(|a| a.to_string().contains("cluster_key_delivered"))
        .count();
    assert!(shared >= 2, "blocks delivering cluster keys: {shared}");

    dev.proc.signal("INT");
    assert!(dev.proc.wait_exit(LIMIT).success(), "a clean stop");

    // After retirement no enclave holds any key of epoch 0 (data sealed under it is lost).
    for name in ["gatekeeper0", "worker0", "worker1"] {
        let now = secrets_in(&workers_dir.join(name));
        assert!(
            !now.iter().any(|(l, _)| l.ends_with("epoch 0")),
            "{name} still holds a key of the retired epoch: {:?}",
            names(&now)
        );
        assert!(
            now.iter().any(|(l, _)| l.ends_with("epoch 1")),
            "{name} kept epoch 1: {:?}",
            names(&now)
        );
        secrets.extend(labelled(name, now));
    }

    let needles: Vec<(String, Vec<u8>)> = secrets
        .iter()
        .map(|(label, secret)| (label.clone(), secret.to_vec()))
        .collect();
    let scanner = Scanner::new(&needles);
    let mut leaks = Vec::new();
    let files = scanner.scan_dir(data.path(), &mut leaks);
    assert!(files > 10, "the node's and the enclaves' files: {files}");
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
        "scanned for {} enclave secrets ({} needles): {files} files, stdout, the log, {} RPC answers over {} blocks",
        secrets.len(),
        scanner.needles.len(),
        answers.len(),
        head + 1
    );
    assert!(
        leaks.is_empty(),
        "{} secret(s) found outside their enclave ({} secrets, {files} files, {} RPC answers scanned): {leaks:#?}",
        leaks.len(),
        secrets.len(),
        answers.len()
    );
}
