//! Enclave throughput: how fast it verifies certified blocks while syncing, and what its
//! SIMULATED attestation costs. Prints `name: value` lines a script can compare.
//!
//! Method: build a chain of `BLOCKS` empty blocks certified by 3 of 4 validators (not timed),
//! pin a fresh enclave to it, then time relaying every block through `Ecall::SyncBlock` (strict
//! decode, height/order checks, certificate verification, parent link, transaction root), and
//! each epoch's next validator set through `Ecall::AdvanceEpoch` (a state proof). Then
//! time `QUOTES` simulated quotes, one full `Ecall::Register` (benchmark + quote + signature)
//! and sealing the state.
//!
//! Run: `cargo bench -p phalanx-worker --bench sync` (release build).

#![allow(clippy::panic)] // a bench that cannot set up its chain has nothing to measure

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use phalanx_primitives::Keypair;
use phalanx_worker::{Ecall, Reply, SimulatedPlatform};

const BLOCKS: u64 = 2_000;
const QUOTES: u32 = 2_000;

fn main() {
    let chain = common::FakeChain::new(BLOCKS);
    let (mut enclave, _) = common::enclave(1);
    enclave.ecall(chain.init()).expect("pins the chain");
    // Each epoch's last block is followed by the next set's proof, as the host relays it.
    let calls: Vec<Ecall> = (1..=BLOCKS)
        .flat_map(|h| {
            let boundary =
                h == phalanx_light_client::last_height_of(phalanx_light_client::epoch_of(h));
            let next = boundary.then(|| chain.advance(phalanx_light_client::epoch_of(h) + 1));
            std::iter::once(chain.sync(h)).chain(next)
        })
        .collect();
    let start = Instant::now();
    for call in calls {
        enclave.ecall(call).expect("an honest block");
    }
    let sync = start.elapsed().as_secs_f64();
    assert_eq!(common::head(&mut enclave), BLOCKS);

    let platform = SimulatedPlatform::dev([2; 32]);
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 0..QUOTES {
        let mut report_data = [0u8; 64];
        report_data[..4].copy_from_slice(&i.to_le_bytes());
        bytes += platform.quote(report_data).len();
    }
    let quote = start.elapsed().as_secs_f64() / f64::from(QUOTES);

    let start = Instant::now();
    let reply = enclave
        .ecall(Ecall::Register {
            operator: Keypair::dev("charlie").account(),
            endpoint: "http://127.0.0.1:8100".into(),
        })
        .expect("registers");
    let register = start.elapsed().as_secs_f64();
    let Reply::Registration { benchmark, .. } = reply else {
        panic!("unexpected reply to Register");
    };

    let start = Instant::now();
    let sealed = common::seal(&mut enclave);
    let seal = start.elapsed().as_secs_f64();

    println!("blocks_synced: {BLOCKS}");
    println!("sync_blocks_per_s: {:.0}", BLOCKS as f64 / sync);
    println!("sync_us_per_block: {:.1}", sync * 1e6 / BLOCKS as f64);
    println!("simulated_quote_us: {:.1}", quote * 1e6);
    println!("simulated_quote_bytes: {}", bytes / QUOTES as usize);
    println!("register_ecall_ms: {:.1}", register * 1e3);
    println!("performance_score_p: {}", benchmark.score);
    println!(
        "benchmark_signatures_per_s: {}",
        benchmark.signatures_per_second
    );
    println!("seal_us: {:.1}", seal * 1e6);
    println!("sealed_bytes: {}", sealed.len());
}
