//! End-to-end encryption throughput. Prints `name: value` lines a script can compare.
//!
//! Method, each on one thread after a short warm-up:
//! - `request_round_trips_per_s`: `seal_request` of a 1 KiB plaintext to a contract key and
//!   `open_request` of the envelope (two X25519 operations each way, the HPKE key schedule, one
//!   ChaCha20-Poly1305 seal and open, the exporter on both sides).
//! - `response_round_trips_per_s`: `seal_response` + `open_response` of a 1 KiB answer.
//! - `key_share_round_trips_per_s`: `seal_key` + `open_key` of a 32-byte secret with a
//!   share seed derived from the master (derivation included).
//! - `cluster_key_derivations_per_s`: `MasterKey::cluster_key` (HKDF-SHA256 only), and
//!   `cluster_public_keys_per_s` for deriving the key and its X25519 public key.
//!
//! Run: `cargo bench -p phalanx-keys` (release build). No figure here is asserted anywhere.

use std::hint::black_box;
use std::time::Instant;

use phalanx_keys::{
    open_key, open_request, open_response, seal_key, seal_request, seal_response, MasterKey,
    RequestContext,
};
use rand_core::OsRng;

const REQUESTS: u32 = 4_000;
const KEY_SHARES: u32 = 4_000;
const DERIVATIONS: u32 = 200_000;
const PUBLIC_KEYS: u32 = 10_000;
const PLAINTEXT_BYTES: usize = 1024;

/// Runs `step` `count` times after a warm-up of a tenth as many, and returns runs per second.
fn per_second(count: u32, mut step: impl FnMut(u32)) -> f64 {
    for i in 0..count / 10 {
        step(i);
    }
    let start = Instant::now();
    for i in 0..count {
        step(i);
    }
    f64::from(count) / start.elapsed().as_secs_f64()
}

fn main() {
    let master = MasterKey::generate(&mut OsRng);
    let contract = master.cluster_key(&[1; 32]).contract_key(&[2; 32]);
    let (public, secret) = (contract.public(), contract.secret_bytes());
    let plaintext = vec![0x5a_u8; PLAINTEXT_BYTES];
    let ctx = RequestContext::new([2; 32], [3; 16], u64::MAX);

    let requests = per_second(REQUESTS, |_| {
        let (envelope, _) =
            seal_request(&public, &ctx, &plaintext, &mut OsRng).expect("seals a request");
        let (opened, _) = open_request(&secret, &ctx, &envelope).expect("opens a request");
        black_box(opened);
    });

    let (_, response_key) = seal_request(&public, &ctx, b"", &mut OsRng).expect("seals");
    let responses = per_second(REQUESTS * 10, |_| {
        let sealed =
            seal_response(&response_key, &plaintext, &mut OsRng).expect("seals a response");
        black_box(open_response(&response_key, &sealed).expect("opens a response"));
    });

    let cluster_secret = master.cluster_key(&[1; 32]).secret_bytes();
    let key_shares = per_second(KEY_SHARES, |i| {
        let seed = master.share_seed(&public, u64::from(i));
        let envelope =
            seal_key(&public, b"cluster-key", b"", &cluster_secret, &seed).expect("seals a key");
        black_box(open_key(&secret, b"cluster-key", b"", &envelope).expect("opens a key"));
    });

    let mut cluster_id = [0u8; 32];
    let derivations = per_second(DERIVATIONS, |i| {
        cluster_id[..4].copy_from_slice(&i.to_le_bytes());
        black_box(master.cluster_key(&cluster_id));
    });
    let public_keys = per_second(PUBLIC_KEYS, |i| {
        cluster_id[..4].copy_from_slice(&i.to_le_bytes());
        black_box(master.cluster_key(&cluster_id).public());
    });

    println!("plaintext_bytes: {PLAINTEXT_BYTES}");
    println!("request_round_trips_per_s: {requests:.0}");
    println!("response_round_trips_per_s: {responses:.0}");
    println!("key_share_round_trips_per_s: {key_shares:.0}");
    println!("cluster_key_derivations_per_s: {derivations:.0}");
    println!("cluster_public_keys_per_s: {public_keys:.0}");
}
