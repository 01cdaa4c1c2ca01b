//! Time per verification, one `name: N µs/op` line per case, for scripts to compare.
//!
//! Run with `cargo bench -p phalanx-attestation`. DCAP cases use the sample quotes shipped in
//! the `dcap-qvl` crate (see `tests/support/dcap_samples.rs`).
#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../tests/support/dcap_samples.rs"]
mod dcap_samples;

use std::hint::black_box;
use std::time::{Duration, Instant};

use phalanx_attestation::{verify, Quote, SimulatedQuotingEnclave, SimulatedReport};

/// Runs `op` repeatedly for about `budget` (after a short warm-up) and prints µs/op.
fn bench(name: &str, budget: Duration, mut op: impl FnMut()) {
    for _ in 0..3 {
        op();
    }
    let start = Instant::now();
    let mut iterations = 0u64;
    while start.elapsed() < budget {
        op();
        iterations += 1;
    }
    let per_op = start.elapsed().as_secs_f64() * 1e6 / iterations as f64;
    println!("{name}: {per_op:.1} µs/op");
}

fn main() {
    let budget = Duration::from_secs(2);

    let qe = SimulatedQuotingEnclave::from_seed([7; 32]);
    let roots = [qe.root()];
    let quote = qe.quote(SimulatedReport::for_worker(b"phalanx-worker", [0x22; 64]));
    bench("verify_simulated", budget, || {
        black_box(verify(black_box(&quote), None, 0, &roots).unwrap());
    });

    for (name, sample, quote) in [
        (
            "verify_dcap_sgx",
            dcap_samples::sgx(),
            Quote::SgxDcap as fn(Vec<u8>) -> Quote,
        ),
        ("verify_dcap_tdx", dcap_samples::tdx(), Quote::TdxDcap),
    ] {
        let quote = quote(sample.raw_quote.clone());
        bench(name, budget, || {
            black_box(
                verify(black_box(&quote), Some(&sample.collateral), sample.now, &[]).unwrap(),
            );
        });
    }
}
