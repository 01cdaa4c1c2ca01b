//! The gatekeeper module over JSON-RPC, against a chain driven by hand: what each method shows
//! before anything happened and after a history (common/gatekeeper.rs) that leaves a serving
//! gatekeeper, an unbonding stake, a published epoch and a requested one, two clusters and
//! published keys; strict parameters and clear `not_found` answers; and published keys whose
//! state proofs the SDK checks, refusing a tampered proof, public key, value, storage key or
//! header.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

#[path = "common/gatekeeper.rs"]
mod history;
#[path = "common/served.rs"]
mod served;

use history::{identity_of, GATEKEEPER, MEMBER_1, MEMBER_2};
use phalanx_client::{ClusterKeyProof, KeyProofError, MasterKeyProof, ProvenValue, SealError};
use phalanx_node::chain::Chain;
use phalanx_primitives::call::PrivilegedCall;
use phalanx_primitives::gatekeeper::cluster_id;
use phalanx_primitives::gatekeeper::KeyMessage;
use phalanx_primitives::Keypair;
use phalanx_runtime::{gatekeeper, GenesisConfig};
use phalanx_state::ProofError;
use serde_json::{json, Value};
use served::{invalid, not_found, produce, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_module_state_reads_back_before_and_after_a_history() {
    let (_dir, chain, client, handle) = serve().await;
    let dev = GenesisConfig::dev(vec![], 0).gatekeeper;

    // Nothing yet: the dev parameters, no gatekeeper, epoch or cluster, and no key to prove.
    let set = client.gatekeepers().await.expect("gatekeepers");
    assert_eq!(
        (
            set.gatekeepers.len(),
            set.unbonding.len(),
            &set.params,
            set.height
        ),
        (0, 0, &dev, 0)
    );
    let epochs = client.key_epochs(None, None).await.expect("epochs");
    assert_eq!(
        (
            epochs.epochs.len(),
            epochs.current,
            epochs.requested,
            epochs.next
        ),
        (0, None, None, None)
    );
    assert!(client.all_clusters().await.expect("clusters").is_empty());
    assert_eq!(
        not_found(&client, "phalanx_masterKey", json!([])).await,
        "no key epoch has been published yet: once a gatekeeper is appointed, its enclave \
         publishes the master key of epoch 0"
    );
    assert_eq!(
        not_found(&client, "phalanx_cluster", json!([0])).await,
        "no cluster #0"
    );
    assert_eq!(
        not_found(&client, "phalanx_clusterKey", json!([0])).await,
        "no cluster #0"
    );

    let published = history::gatekeeper_history(&chain, produce);
    let [registered, appointed, keys_at, removed] = published.heights;
    history::assert_all_succeeded(&chain, registered, removed);
    let head = chain.head();
    assert_eq!(head.height(), removed);

    // Gatekeepers: `gatekeeper` serves; `member-1`'s stake unbonds for the dev minute.
    let set = client.gatekeepers().await.expect("gatekeepers");
    let dave = Keypair::dev("dave").account();
    assert_eq!(set.height, removed);
    assert_eq!(set.gatekeepers.len(), 1);
    let serving = &set.gatekeepers[0];
    assert_eq!(
        (
            serving.identity,
            serving.encryption_key,
            serving.operator,
            serving.stake,
            serving.appointed_at
        ),
        (
            identity_of(GATEKEEPER),
            history::encryption_key_of(GATEKEEPER),
            dave,
            dev.stake,
            appointed
        )
    );
    assert_eq!(set.unbonding.len(), 1);
    let unbonding = &set.unbonding[0];
    assert_eq!(
        (
            unbonding.identity,
            unbonding.operator,
            unbonding.amount,
            unbonding.release_at_ms
        ),
        (
            identity_of(MEMBER_1),
            dave,
            dev.stake,
            head.header.timestamp_ms + dev.unbonding_ms
        )
    );
    let account = client.account(&dave).await.expect("dave");
    assert_eq!(account.reserved, 2 * dev.stake, "both stakes stay reserved");

    // Epochs: 0 published by `gatekeeper` at `keys`, 1 requested by the removal.
    let epochs = client.all_key_epochs().await.expect("epochs");
    assert_eq!(
        (epochs.current, epochs.requested, epochs.next, epochs.height),
        (Some(0), Some(1), None, removed)
    );
    type Shown = (u32, Option<[u8; 32]>, Option<[u8; 32]>, u64, Option<u64>);
    let shown: Vec<Shown> = epochs
        .epochs
        .iter()
        .map(|e| {
            (
                e.epoch,
                e.master_public,
                e.generator,
                e.requested_at,
                e.retired_at,
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (
                0,
                Some(published.master),
                Some(identity_of(GATEKEEPER)),
                appointed,
                None
            ),
            (1, None, None, removed, None),
        ]
    );
    let page = client.key_epochs(Some(1), Some(1)).await.expect("page");
    assert_eq!(
        (page.epochs.len(), page.epochs[0].epoch, page.next),
        (1, 1, None)
    );
    let page = client.key_epochs(None, Some(1)).await.expect("page");
    assert_eq!((page.epochs[0].epoch, page.next), (0, Some(1)));

    // Clusters: 0 with two members and a key in epoch 0, 1 empty; one per page.
    let clusters = client.all_clusters().await.expect("clusters");
    let shown: Vec<(u32, [u8; 32], u32, u64)> = clusters
        .iter()
        .map(|c| (c.index, c.id, c.members, c.created_at))
        .collect();
    assert_eq!(
        shown,
        vec![
            (0, cluster_id(0), 2, appointed),
            (1, cluster_id(1), 0, appointed)
        ]
    );
    let page = client.clusters(None, Some(1)).await.expect("page");
    assert_eq!(
        (page.clusters.len(), page.next, page.height),
        (1, Some(1), removed)
    );
    let mut members = vec![identity_of(MEMBER_1), identity_of(MEMBER_2)];
    members.sort();
    let detail = client.cluster(0, None, None).await.expect("cluster 0");
    assert_eq!(detail.cluster, clusters[0]);
    assert_eq!(
        (detail.members.clone(), detail.next),
        (members.clone(), None)
    );
    let keys: Vec<(u32, [u8; 32])> = detail
        .keys
        .iter()
        .map(|k| (k.epoch, k.public_key))
        .collect();
    assert_eq!(keys, vec![(0, published.cluster)]);
    let first = client.cluster(0, None, Some(1)).await.expect("page 1");
    assert_eq!(
        (first.members.clone(), first.next),
        (vec![members[0]], Some(members[1]))
    );
    let second = client
        .cluster(0, Some(&members[1]), Some(1))
        .await
        .expect("page 2");
    assert_eq!((second.members, second.next), (vec![members[1]], None));
    let all = client.cluster_with_members(0).await.expect("all members");
    assert_eq!(all.members, members);
    let empty = client.cluster(1, None, None).await.expect("cluster 1");
    assert!(empty.members.is_empty() && empty.keys.is_empty());
    // Members are hex without 0x, as identities are in every record; the cursor is 0x-hex.
    let raw: Value = client
        .call("phalanx_cluster", vec![json!(0), Value::Null, json!(1)])
        .await
        .expect("raw");
    assert_eq!(raw["members"][0], json!(hex::encode(members[0])));
    assert_eq!(raw["next"], json!(format!("0x{}", hex::encode(members[1]))));
    assert_eq!(
        raw["keys"],
        json!([{ "epoch": 0, "public_key": hex::encode(published.cluster) }])
    );

    // Keys that are not there say why.
    assert_eq!(
        not_found(&client, "phalanx_cluster", json!([7])).await,
        "no cluster #7"
    );
    assert_eq!(
        not_found(&client, "phalanx_clusterKey", json!([0, 1])).await,
        "cluster #0 has no published key for epoch 1"
    );
    assert_eq!(
        not_found(&client, "phalanx_clusterKey", json!([1])).await,
        "cluster #1 has no published key for epoch 0"
    );
    assert_eq!(
        not_found(&client, "phalanx_masterKey", json!([1])).await,
        "key epoch 1 is requested and waits for a gatekeeper to publish its master key"
    );
    assert_eq!(
        not_found(&client, "phalanx_masterKey", json!([7])).await,
        "no key epoch 7"
    );
    assert_eq!(keys_height(&chain), keys_at);

    handle.stop().expect("stops");
}

/// The height of the block whose state first held the master key (a sanity check that the
/// history's key messages landed where it says).
fn keys_height(chain: &Chain) -> u64 {
    (0..=chain.height())
        .find(|height| {
            let stored = chain.block(*height).expect("read").expect("stored");
            stored.outcome.receipts.iter().any(|receipt| {
                receipt
                    .events
                    .iter()
                    .any(|event| matches!(event, phalanx_runtime::Event::MasterKeyPublished { .. }))
            })
        })
        .expect("a block published the master key")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_strict_and_named() {
    let (_dir, _chain, client, handle) = serve().await;
    assert_eq!(
        invalid(&client, "phalanx_gatekeepers", json!([1])).await,
        "1 parameters given; this method takes no parameters"
    );
    assert_eq!(
        invalid(&client, "phalanx_keyEpochs", json!([-1])).await,
        "`start` must be a key epoch (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_clusters", json!(["x"])).await,
        "`start` must be a cluster index (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_clusters", json!([null, 101])).await,
        "`limit` must be an integer from 1 to 100"
    );
    assert_eq!(
        invalid(&client, "phalanx_cluster", json!([])).await,
        "missing parameter `index`: a cluster index (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_cluster", json!([4294967296u64])).await,
        "`index` must be a cluster index (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_cluster", json!([0, "0x01"])).await,
        "`start` must be a worker identity key: 32 bytes of hex"
    );
    assert_eq!(
        invalid(&client, "phalanx_cluster", json!([0, null, 0])).await,
        "`limit` must be an integer from 1 to 100"
    );
    assert_eq!(
        invalid(&client, "phalanx_clusterKey", json!([0, 1.5])).await,
        "`epoch` must be a key epoch (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_clusterKey", json!([0, 0, 0])).await,
        "3 parameters given; this method takes `index`, `epoch`"
    );
    assert_eq!(
        invalid(&client, "phalanx_masterKey", json!(["0"])).await,
        "`epoch` must be a key epoch (a non-negative integer)"
    );
    // By name too.
    let named: Value = client
        .call("phalanx_gatekeepers", vec![])
        .await
        .expect("no parameters");
    assert_eq!(named["gatekeepers"], json!([]));
    handle.stop().expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_keys_come_with_proofs_the_sdk_checks_and_tampering_is_refused() {
    let (_dir, chain, client, handle) = serve().await;
    let published = history::gatekeeper_history(&chain, produce);
    history::assert_all_succeeded(&chain, published.heights[0], published.heights[3]);
    let head = chain.head();

    // The SDK lays out the keys as the runtime does.
    assert_eq!(
        ClusterKeyProof::storage_key(3, 5),
        gatekeeper::cluster_public_key(3, 5)
    );
    assert_eq!(MasterKeyProof::storage_key(5), gatekeeper::epoch_key(5));

    // Cluster 0's key in the current epoch (0), proven against the finalized head.
    let cluster = client.cluster_key(0, None).await.expect("cluster key");
    assert_eq!(
        (cluster.cluster, cluster.epoch, cluster.public_key),
        (0, 0, published.cluster)
    );
    assert_eq!(
        (cluster.height, cluster.block_hash, cluster.state_root),
        (head.height(), head.hash(), head.header.state_root)
    );
    assert_eq!(cluster.key, gatekeeper::cluster_public_key(0, 0));
    assert_eq!(cluster.verify(), Ok(()));
    assert_eq!(
        client.cluster_key(0, Some(0)).await.expect("by epoch"),
        cluster
    );
    // The same entry through phalanx_stateProof: the same value and proof.
    let generic: Value = client
        .call(
            "phalanx_stateProof",
            vec![json!(format!("0x{}", hex::encode(&cluster.key)))],
        )
        .await
        .expect("state proof");
    assert_eq!(
        generic["value"],
        json!(format!("0x{}", hex::encode(&cluster.value)))
    );
    assert_eq!(
        generic["proof"],
        json!(format!("0x{}", hex::encode(&cluster.proof)))
    );

    // Epoch 0's master key.
    let master = client.master_key(None).await.expect("master key");
    assert_eq!((master.epoch, master.public_key), (0, published.master));
    assert_eq!(master.verify(), Ok(()));
    let record = master.record().expect("record");
    assert_eq!(
        (record.generator, record.retired_at),
        (Some(identity_of(GATEKEEPER)), None)
    );
    assert_eq!(client.master_key(Some(0)).await.expect("by epoch"), master);

    // Tampering with any part of a cluster key's answer is refused.
    let mut forged = cluster.clone();
    forged.public_key[0] ^= 1;
    assert_eq!(forged.verify(), Err(KeyProofError::PublicKeyMismatch));
    forged.value = forged.public_key.to_vec();
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::ValueMismatch))
    );
    let mut forged = cluster.clone();
    forged.proof[1] ^= 1; // the first sibling hash, after the one-byte compact length
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::RootMismatch))
    );
    let mut forged = cluster.clone();
    forged.cluster = 1;
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::WrongKey { .. })
    ));
    let mut forged = cluster.clone();
    forged.key = gatekeeper::cluster_public_key(1, 0);
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::WrongKey { .. })
    ));
    let mut forged = cluster.clone();
    forged.state_root.0[0] ^= 1;
    assert_eq!(forged.verify(), Err(KeyProofError::HeaderMismatch));
    let mut forged = cluster.clone();
    forged.header[0] ^= 1;
    assert_eq!(forged.verify(), Err(KeyProofError::HeaderMismatch));
    forged.header.push(0);
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::MalformedHeader(_))
    ));
    // A root and header made up together still need a proof that leads to that root.
    let mut forged = cluster.clone();
    let mut header: phalanx_primitives::Header =
        phalanx_primitives::decode_strict(&cluster.header, 1024).expect("header");
    header.state_root.0[0] ^= 1;
    forged.header = parity_scale_codec::Encode::encode(&header);
    forged.state_root = header.state_root;
    forged.block_hash = header.hash();
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::RootMismatch))
    );

    // And the master key's.
    let mut forged = master.clone();
    forged.public_key[31] ^= 1;
    assert_eq!(forged.verify(), Err(KeyProofError::PublicKeyMismatch));
    let mut forged = master.clone();
    forged.epoch = 1;
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::WrongKey { .. })
    ));
    let mut forged = master.clone();
    let mut record = master.record().expect("record");
    record.master_public = Some([7; 32]);
    forged.value = parity_scale_codec::Encode::encode(&record);
    forged.public_key = [7; 32];
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::ValueMismatch))
    );
    let mut forged = master.clone();
    forged.value.push(0);
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::MalformedValue { .. })
    ));

    // The epoch's record and the current epoch come proven under the same root: a lying node
    // can't pass a retired or superseded key off as current.
    assert_eq!(cluster.epoch_record.key, gatekeeper::epoch_key(0));
    assert_eq!(cluster.current_epoch.key, gatekeeper::current_epoch_key());
    let mut forged = cluster.clone();
    forged.current_epoch.value = Some(parity_scale_codec::Encode::encode(&7u32));
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::ValueMismatch))
    );
    let mut forged = cluster.clone();
    forged.current_epoch.value = None;
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::ValueMismatch))
    );
    let mut forged = cluster.clone();
    forged.current_epoch.key = gatekeeper::requested_epoch_key();
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::WrongKey { .. })
    ));
    let mut forged = cluster.clone();
    forged.epoch_record = master_entry(&master);
    forged.epoch_record.proof[1] ^= 1;
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::RootMismatch))
    );
    let mut forged = cluster.clone();
    forged.epoch_record.key = gatekeeper::epoch_key(1);
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::WrongKey { .. })
    ));

    // Epoch 1 published: epoch 0's key still opens (so it is still served) but is no longer
    // the one to seal to; once retired it is refused outright.
    let epoch_1 = [
        KeyMessage::MasterKey {
            epoch: 1,
            public_key: [0x11; 32],
        },
        KeyMessage::ClusterKey {
            cluster: 0,
            epoch: 1,
            public_key: [0x21; 32],
        },
    ];
    for (i, message) in epoch_1.iter().enumerate() {
        history::send(
            &chain,
            "dave",
            history::key_message(&chain, GATEKEEPER, 2 + i as u64, message),
        );
    }
    produce(&chain);
    history::assert_all_succeeded(&chain, chain.height(), chain.height());
    let current = client.cluster_key(0, None).await.expect("current key");
    assert_eq!((current.epoch, current.public_key), (1, [0x21; 32]));
    assert_eq!(current.verify(), Ok(()));
    let old = client.cluster_key(0, Some(0)).await.expect("epoch 0 key");
    assert_eq!(
        old.verify(),
        Err(KeyProofError::NotCurrent {
            epoch: 0,
            current: 1
        })
    );
    history::send(
        &chain,
        "alice",
        history::root(PrivilegedCall::RetireKeyEpoch { epoch: 0 }),
    );
    produce(&chain);
    history::assert_all_succeeded(&chain, chain.height(), chain.height());
    let retired = client.cluster_key(0, Some(0)).await.expect("epoch 0 key");
    assert_eq!(
        retired.verify(),
        Err(KeyProofError::Retired {
            epoch: 0,
            at: chain.height()
        })
    );
    // A stale answer (from before the retirement) still checks out on its own: only a trusted
    // root tells. seal_request refuses it against the trusted head's root.
    assert_eq!(
        old.verify(),
        Err(KeyProofError::NotCurrent {
            epoch: 0,
            current: 1
        })
    );
    let trusted = chain.head().header.state_root;
    let stale = current.clone(); // epoch 1, proven one block before the retirement
    assert_eq!(stale.verify(), Ok(()));
    assert!(matches!(
        stale.seal_request(&trusted, [0; 32], u64::MAX, b"request"),
        Err(SealError::Proof(KeyProofError::UntrustedRoot { .. }))
    ));
    let fresh = client.cluster_key(0, None).await.expect("current key");
    assert_eq!(fresh.state_root, trusted);
    assert!(fresh
        .seal_request(&trusted, [0; 32], u64::MAX, b"request")
        .is_ok());

    // A lying node makes up a whole state tree around its own key: every proof in the answer
    // holds, verify() passes; only the trusted root exposes it.
    let forged = forged_answer(&fresh, [0x66; 32]);
    assert_eq!(forged.verify(), Ok(()));
    assert_eq!(forged.public_key, [0x66; 32]);
    assert!(matches!(
        forged.seal_request(&trusted, [0; 32], u64::MAX, b"request"),
        Err(SealError::Proof(KeyProofError::UntrustedRoot { .. }))
    ));

    handle.stop().expect("stops");
}

/// `answer` rebuilt by a lying node: a state of its own holding `public_key` as the cluster
/// key, the same epoch record and current epoch, under a header it made for that root.
fn forged_answer(answer: &ClusterKeyProof, public_key: [u8; 32]) -> ClusterKeyProof {
    let forged = served::forge(
        &answer.key,
        public_key,
        &answer.epoch_record,
        &answer.current_epoch,
        &answer.header,
    );
    ClusterKeyProof {
        public_key,
        value: forged.value,
        proof: forged.proof,
        block_hash: forged.block_hash,
        state_root: forged.state_root,
        header: forged.header,
        epoch_record: forged.epoch_record,
        current_epoch: forged.current_epoch,
        ..answer.clone()
    }
}

/// The master key answer's record as a proven entry (the same storage entry a cluster key's
/// `epoch_record` proves).
fn master_entry(master: &MasterKeyProof) -> ProvenValue {
    ProvenValue {
        key: master.key.clone(),
        value: Some(master.value.clone()),
        proof: master.proof.clone(),
    }
}
