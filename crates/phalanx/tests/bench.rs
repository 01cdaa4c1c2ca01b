//! `phalanx bench` on a small load, through the binary: every figure it promises is printed,
//! the flood is refused entirely, and the numbers are sane (not a performance test: the figures
//! themselves are machine-dependent and only reported).

mod common;

use std::collections::HashMap;

#[test]
fn bench_prints_throughput_latency_and_spam_figures() {
    let out = std::process::Command::new(common::BIN)
        .args([
            "bench",
            "--senders",
            "4",
            "--per-sender",
            "5",
            "--latency-samples",
            "3",
            "--spam",
            "40",
        ])
        .output()
        .expect("bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figures: HashMap<&str, f64> = stdout
        .lines()
        .filter_map(|line| line.split_once(": "))
        .filter_map(|(name, value)| Some((name, value.parse().ok()?)))
        .collect();
    let figure = |name: &str| {
        *figures
            .get(name)
            .unwrap_or_else(|| panic!("bench printed no {name}: {stdout}"))
    };
    assert_eq!(figure("validators"), 1.0);
    assert_eq!(figure("transfers_finalized"), 20.0);
    assert!(figure("finalized_transfers_per_s") > 0.0);
    assert!(figure("ed25519_verify_per_s_single_core") > 0.0);
    assert!(figure("ed25519_batch_verify_per_s_single_core") > 0.0);
    let (p50, p99) = (
        figure("submit_to_finalized_p50_ms"),
        figure("submit_to_finalized_p99_ms"),
    );
    assert!(p50 > 0.0 && p50 <= p99, "{stdout}");
    assert_eq!(figure("spam_sent"), 40.0);
    assert_eq!(
        figure("spam_refused"),
        40.0,
        "every spam transaction is refused"
    );
    assert!(figure("honest_transfer_during_spam_ms") > 0.0);
}
