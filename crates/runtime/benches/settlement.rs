//! Daily settlement time: a state with N computing workers (10,000 and 100,000, each in a pool
//! of its own), a day of work accrued, then the settlement closing and paying that day, timed
//! on one core. Each block runs on a copy of the state whose parent copy stays alive, as on a
//! node (which keeps every unfinalized block's state), so the copy-on-write of shared state
//! nodes is counted. `settle_slice` is raised to N so one block does the whole day, which is the
//! worst case for a single block; at the default slice of 2,000 the same work spreads over
//! N / 1,000 blocks. Target (the mining issue): 100,000 workers settled in under 1 s.
//!
//! `cargo bench -p phalanx-runtime --bench settlement` (release build). Prints one line per N.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use phalanx_primitives::Hash;
use phalanx_runtime::mining::{self, synthetic};
use phalanx_runtime::{BlockContext, GenesisConfig};
use std::time::Instant;

fn main() {
    let validator = hex::encode(phalanx_primitives::Keypair::dev("validator").account().0);
    let genesis_ms = 1_700_000_000_000;
    let config = GenesisConfig::dev(vec![validator], genesis_ms);
    for n in [10_000u32, 100_000] {
        let (block, mut state) = phalanx_runtime::genesis_block(&config).unwrap();
        let mut params = mining::params(&state).unwrap();
        params.settle_slice = n;
        mining::set_params(&mut state, &params);
        let build = Instant::now();
        // P = 50 (the least stake, 707 PHA) so 100,000 pools fit in the ecosystem allocation.
        let funder = phalanx_primitives::Keypair::dev("ecosystem").account();
        synthetic::add_computing_workers(&mut state, &funder, n, 50, genesis_ms).unwrap();
        let built = build.elapsed();
        // The first block past the dev day's end closes and pays day 0.
        let ctx = BlockContext {
            height: 200,
            timestamp_ms: genesis_ms + params.day_ms + 1,
            genesis_hash: block.hash(),
            parent_hash: Hash::of(b"parent"),
        };
        // As on a node: each block executes on a copy of its parent's state, and the parent
        // stays alive (the first write to each shared node copies it).
        let mut parent = state.clone();
        let start = Instant::now();
        let mut blocks = 0;
        let mut events = Vec::new();
        while blocks == 0 || !synthetic::idle(&state).unwrap() {
            events.extend(synthetic::settle_step(&mut state, &ctx).unwrap());
            blocks += 1;
            parent = state.clone();
        }
        let settled = start.elapsed();
        drop(parent);
        let root = Instant::now();
        state.root();
        let rooted = root.elapsed();
        let day = mining::day_record(&state, 0).unwrap().unwrap();
        assert_eq!(day.workers, n, "every worker paid");
        assert_eq!(day.paid + day.treasury + day.kept_in_pot, day.budget);
        println!(
            "settlement of {n:>7} computing workers: {:>8.1} ms in {blocks} block(s) ({:.2} µs a worker); state root after it {:>8.1} ms; building the state took {:.1} s; paid {} units, {} left as dust",
            settled.as_secs_f64() * 1e3,
            settled.as_secs_f64() * 1e6 / f64::from(n),
            rooted.as_secs_f64() * 1e3,
            built.as_secs_f64(),
            day.paid,
            day.kept_in_pot,
        );
    }
}
