//! Daily settlement time: a state with N computing workers (10,000 and 100,000, each in a pool
//! of its own, the worst case: every payout touches its own pool and owner), a day of work
//! accrued, then the settlement closing and paying that day, timed on one core.
//!
//! Each block settles on a copy of its parent's state with the parent kept alive (as a node
//! keeps every unfinalized block's state). Three ways, one line each:
//! - `one block`: `settle_slice` raised to N so a single block does each pass of the whole day,
//!   the worst case for one block: one block closes every worker, the next pays them all, and
//!   a third records the day (3 blocks in all); the state root taken once at the end;
//! - `as a node`: the default slice (2,000 workers a block per pass, so N/1,000 + 1 blocks), the
//!   state root taken after every block, and each block's parent state dropped once the next
//!   block is built (as a node drops a state once a later block is finalized). The system
//!   allocator does part of the work of those frees later, inside the next block's
//!   allocations, so that work lands in the settling time;
//! - `as a node, states kept`: the same with every state kept until the day is settled, which
//!   leaves those frees out: the difference from `as a node` is what freeing the old states
//!   costs, not settlement work.
//!
//! Each way runs three times from the same state; a line gives the median settling time, the
//! fastest and slowest run's, and the median run's state-root time and payouts.
//!
//! Each step runs on the block hook's journaled all-or-nothing checkpoint, as a node runs it;
//! it is the settlement part of the hook only (no heartbeat draw, no withdrawal sweep).
//!
//! Target (the mining issue): 100,000 workers settled in under 1 s.
//!
//! `cargo bench -p phalanx-runtime --bench settlement` (release build).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use phalanx_primitives::Hash;
use phalanx_runtime::mining::{self, synthetic};
use phalanx_runtime::{BlockContext, GenesisConfig};
use phalanx_state::State;
use std::time::{Duration, Instant};

/// What one settlement run measured.
struct Run {
    blocks: u32,
    settling: Duration,
    rooting: Duration,
}

/// Settles day 0 block by block: each block settles on a copy of its parent's state, which
/// stays alive until the next block (or, with `keep_states`, until the day is settled);
/// `root_every_block` takes the state root after each.
fn settle(
    mut state: State,
    ctx: &BlockContext,
    root_every_block: bool,
    keep_states: bool,
) -> (State, Run) {
    let mut run = Run {
        blocks: 0,
        settling: Duration::ZERO,
        rooting: Duration::ZERO,
    };
    let mut kept = Vec::new();
    let mut parent = state.clone();
    while run.blocks == 0 || !synthetic::idle(&state).unwrap() {
        let start = Instant::now();
        synthetic::settle_step(&mut state, ctx).unwrap();
        run.settling += start.elapsed();
        if root_every_block {
            let start = Instant::now();
            state.root();
            run.rooting += start.elapsed();
        }
        run.blocks += 1;
        let older = std::mem::replace(&mut parent, state.clone());
        if keep_states {
            kept.push(older);
        }
    }
    drop(parent);
    if !root_every_block {
        let start = Instant::now();
        state.root();
        run.rooting += start.elapsed();
    }
    drop(kept);
    (state, run)
}

/// Runs of each way; the median is reported.
const RUNS: usize = 3;

fn main() {
    let validator = hex::encode(phalanx_primitives::Keypair::dev("validator").account().0);
    let genesis_ms = 1_700_000_000_000;
    let config = GenesisConfig::dev(vec![validator], genesis_ms);
    for n in [10_000u32, 100_000] {
        let (block, mut state) = phalanx_runtime::genesis_block(&config).unwrap();
        let default_slice = mining::params(&state).unwrap().settle_slice;
        let build = Instant::now();
        // P = 50 (the least stake, 707 PHA) so 100,000 pools fit in the ecosystem allocation.
        let funder = phalanx_primitives::Keypair::dev("ecosystem").account();
        synthetic::add_computing_workers(&mut state, &funder, n, 50, genesis_ms).unwrap();
        state.root();
        let built = build.elapsed();
        let params = mining::params(&state).unwrap();
        // The first block past the dev day's end closes and pays day 0.
        let ctx = BlockContext {
            height: 200,
            timestamp_ms: genesis_ms + params.day_ms + 1,
            genesis_hash: block.hash(),
            parent_hash: Hash::of(b"parent"),
        };
        for (way, slice, root_every_block, keep_states) in [
            ("one block", n, false, false),
            ("as a node", default_slice, true, false),
            ("as a node, states kept", default_slice, true, true),
        ] {
            let mut params = params.clone();
            params.settle_slice = slice;
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                let mut start = state.clone();
                mining::set_params(&mut start, &params);
                let (settled, run) = settle(start, &ctx, root_every_block, keep_states);
                let day = mining::day_record(&settled, 0).unwrap().unwrap();
                assert_eq!(day.workers, n, "every worker paid");
                assert_eq!(day.paid + day.treasury + day.kept_in_pot, day.budget);
                runs.push((run, day));
            }
            runs.sort_by_key(|(run, _)| run.settling);
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let (run, day) = &runs[RUNS / 2];
            println!(
                "settlement of {n:>7} computing workers, {way} (slice {slice}): {:>7.1} ms settling (runs {:.1} to {:.1}) in {} block(s) ({:.2} µs a worker) + {:>7.1} ms of state roots; paid {} units, {} left as dust",
                ms(run.settling),
                ms(runs[0].0.settling),
                ms(runs[RUNS - 1].0.settling),
                run.blocks,
                run.settling.as_secs_f64() * 1e6 / f64::from(n),
                ms(run.rooting),
                day.paid,
                day.kept_in_pot,
            );
        }
        println!(
            "  (building the state of {n} workers took {:.1} s)",
            built.as_secs_f64()
        );
    }
}
