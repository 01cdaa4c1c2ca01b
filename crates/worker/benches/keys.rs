//! Key distribution inside the enclave: how fast a gatekeeper turns a rotation into sealed
//! shares for a large cluster, how fast members open them, and HPKE request seal + open, all in
//! one run. Prints `name: value` lines a script can compare.
//!
//! Method: a view (built by hand, proofs skipped: the bench measures the key logic and its
//! cryptography) with one appointed gatekeeper, a published epoch and a cluster of `MEMBERS`
//! registered workers. Timed: (1) the gatekeeper's step that publishes the cluster key,
//! (2) the step that seals the cluster key to every member (a rotation's work for the cluster:
//! one derivation, `MEMBERS` HPKE key envelopes), (3) each member opening its share,
//! (4) `REQUESTS` HPKE request seal + open pairs of 1 KiB with `phalanx-keys`.
//!
//! Run: `cargo bench -p phalanx-worker --bench keys` (release build).

#![allow(clippy::panic)] // a bench that cannot set up its state has nothing to measure

use std::time::Instant;

use parity_scale_codec::Encode;
use phalanx_keys::{open_request, seal_request, RequestContext};
use phalanx_primitives::gatekeeper::{cluster_id, Cluster, Gatekeeper, KeyEpoch, KeyMessage};
use phalanx_primitives::{AccountId, Keypair};
use phalanx_runtime::gatekeeper as chain;
use phalanx_runtime::registry::worker_key;
use phalanx_worker::enclave::gatekeeper::{testing, KeyState, View};
use rand_core::OsRng;
use x25519_dalek::{PublicKey, StaticSecret};

const MEMBERS: usize = 1_000;
const REQUESTS: usize = 2_000;

fn main() {
    let gatekeeper = Keypair::dev("bench-gatekeeper").account().0;
    let gk_secret = StaticSecret::random_from_rng(OsRng);
    let members: Vec<([u8; 32], StaticSecret)> = (0..MEMBERS)
        .map(|i| {
            (
                Keypair::dev(&format!("bench-worker-{i}")).account().0,
                StaticSecret::random_from_rng(OsRng),
            )
        })
        .collect();
    let mut view = View::default();
    let put =
        |view: &mut View, key: Vec<u8>, value: Option<Vec<u8>>| testing::insert(view, key, value);
    put(
        &mut view,
        chain::gatekeeper_key(&gatekeeper),
        Some(
            Gatekeeper {
                identity: gatekeeper,
                encryption_key: PublicKey::from(&gk_secret).to_bytes(),
                operator: AccountId([1; 32]),
                stake: 1,
                appointed_at: 1,
            }
            .encode(),
        ),
    );
    put(&mut view, chain::requested_epoch_key(), Some(0u32.encode()));
    put(
        &mut view,
        chain::epoch_key(0),
        Some(
            KeyEpoch {
                epoch: 0,
                master_public: None,
                generator: None,
                requested_at: 1,
                retired_at: None,
            }
            .encode(),
        ),
    );
    put(
        &mut view,
        chain::cluster_key(0),
        Some(
            Cluster {
                index: 0,
                id: cluster_id(0),
                members: MEMBERS as u32,
                created_at: 1,
            }
            .encode(),
        ),
    );
    put(&mut view, chain::cluster_public_key(0, 0), None);
    for (identity, secret) in &members {
        put(
            &mut view,
            chain::cluster_member_key(0, identity),
            Some(().encode()),
        );
        put(&mut view, chain::cluster_share_key(0, 0, identity), None);
        let info = testing::worker_info(*identity, PublicKey::from(secret).to_bytes());
        put(&mut view, worker_key(identity), Some(info.encode()));
    }
    let mut keys = KeyState::default();
    // The master (not timed: generation is one random draw).
    let first =
        testing::run_step(&mut keys, gatekeeper, &gk_secret, &view, usize::MAX).expect("step");
    let KeyMessage::MasterKey { public_key, .. } = first.messages[0] else {
        panic!("expected the master key first: {first:?}");
    };
    put(
        &mut view,
        chain::epoch_key(0),
        Some(
            KeyEpoch {
                epoch: 0,
                master_public: Some(public_key),
                generator: Some(gatekeeper),
                requested_at: 1,
                retired_at: None,
            }
            .encode(),
        ),
    );
    put(&mut view, chain::requested_epoch_key(), None);
    let start = Instant::now();
    let published =
        testing::run_step(&mut keys, gatekeeper, &gk_secret, &view, usize::MAX).expect("step");
    let publish_time = start.elapsed();
    let KeyMessage::ClusterKey { public_key, .. } = published.messages[0] else {
        panic!("expected the cluster key: {published:?}");
    };
    put(
        &mut view,
        chain::cluster_public_key(0, 0),
        Some(public_key.encode()),
    );
    let start = Instant::now();
    let shares =
        testing::run_step(&mut keys, gatekeeper, &gk_secret, &view, usize::MAX).expect("step");
    let share_time = start.elapsed();
    assert_eq!(shares.messages.len(), MEMBERS);

    // Each member opens its share.
    let start = Instant::now();
    // Shares come in identity order; pair each member with its own.
    let by_worker: std::collections::BTreeMap<[u8; 32], &Vec<u8>> = shares
        .messages
        .iter()
        .map(|message| match message {
            KeyMessage::ClusterKeyShare { worker, sealed, .. } => (*worker, sealed),
            other => panic!("expected a share, got {other:?}"),
        })
        .collect();
    for (identity, secret) in &members {
        let sealed = by_worker[identity];
        let mut member_view = View::default();
        testing::insert(
            &mut member_view,
            chain::cluster_share_key(0, 0, identity),
            Some(sealed.encode()),
        );
        testing::insert(
            &mut member_view,
            chain::cluster_public_key(0, 0),
            Some(public_key.encode()),
        );
        let mut member = KeyState::default();
        let got =
            testing::run_step(&mut member, *identity, secret, &member_view, 0).expect("opens");
        assert_eq!(got.cluster_keys_received, vec![(0, 0)], "{got:?}");
    }
    let open_time = start.elapsed();

    // HPKE request seal + open.
    let recipient = StaticSecret::random_from_rng(OsRng);
    let recipient_public = PublicKey::from(&recipient).to_bytes();
    let plaintext = vec![7u8; 1024];
    let start = Instant::now();
    for i in 0..REQUESTS {
        let ctx = RequestContext {
            target: [1; 32],
            nonce: (i as u128).to_le_bytes(),
            expires_at_ms: 1,
        };
        let (envelope, _) =
            seal_request(&recipient_public, &ctx, &plaintext, &mut OsRng).expect("seals");
        open_request(&recipient.to_bytes(), &ctx, &envelope).expect("opens");
    }
    let hpke_time = start.elapsed();

    let per_s = |n: usize, t: std::time::Duration| n as f64 / t.as_secs_f64();
    println!("members: {MEMBERS}");
    println!(
        "cluster_key_publish_ms: {:.2}",
        publish_time.as_secs_f64() * 1e3
    );
    println!(
        "rotation_shares_for_{MEMBERS}_members_ms: {:.1}",
        share_time.as_secs_f64() * 1e3
    );
    println!(
        "key_distribution_messages_per_s: {:.0}",
        per_s(MEMBERS, share_time)
    );
    println!("member_share_opens_per_s: {:.0}", per_s(MEMBERS, open_time));
    println!(
        "hpke_request_seal_open_per_s: {:.0}",
        per_s(REQUESTS, hpke_time)
    );
}
