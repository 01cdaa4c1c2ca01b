//! The worker's Prometheus metrics, served at `GET /metrics` on its query endpoint (text
//! format, read-only). Names are under `phalanx_worker_`; the host records them: the enclave's
//! verified head against the node's, registration and attestation, queries and their latency,
//! the time each ecall takes, and heartbeats answered and missed as the chain counts them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A label naming an ecall.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EcallLabel {
    /// The ecall (`sync_block`, `heartbeat`, …).
    pub ecall: String,
}

/// A label naming how a query ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `answered`, or the refusal's reason (`replayed`, `busy`, …).
    pub outcome: String,
}

fn latency() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    ])
}

/// Every metric a worker keeps, and the registry that encodes them.
pub struct WorkerMetrics {
    registry: Registry,
    /// Blocks the enclave's verified head is behind the node's finalized head.
    pub head_lag_blocks: Gauge,
    /// 1 once the chain has the worker's registration.
    pub registered: Gauge,
    /// Blocks since the chain last took the worker's attestation.
    pub attestation_age_blocks: Gauge,
    /// 1 when the platform is the SIMULATED one (it protects nothing).
    pub simulated: Gauge,
    /// 1 while the chain's mining record says the worker computes (and earns).
    pub computing: Gauge,
    /// 1 while the chain's mining record says the worker missed a heartbeat.
    pub unresponsive: Gauge,
    /// Blocks until the attestation is older than the chain's maximum age (negative: past it);
    /// re-registering renews it.
    pub attestation_expires_in_blocks: Gauge,
    /// Queries by how they ended.
    pub queries: Family<Outcome, Counter>,
    /// Seconds from an answered query's arrival to its answer.
    pub query_duration: Histogram,
    /// Seconds each ecall took, by ecall.
    pub ecall_duration: Family<EcallLabel, Histogram, fn() -> Histogram>,
    /// Heartbeats answered in time, as the chain counts them.
    pub heartbeats_answered: Counter,
    /// Heartbeats missed, as the chain counts them.
    pub heartbeats_missed: Counter,
    /// The chain's totals at the last look (`u64::MAX`: not looked yet).
    seen_answered: AtomicU64,
    seen_missed: AtomicU64,
}

impl std::fmt::Debug for WorkerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerMetrics").finish_non_exhaustive()
    }
}

impl WorkerMetrics {
    /// Registers every metric.
    pub fn new() -> Arc<WorkerMetrics> {
        let mut registry = Registry::with_prefix("phalanx_worker");
        let metrics = WorkerMetrics {
            registry: Registry::default(),
            head_lag_blocks: Gauge::default(),
            registered: Gauge::default(),
            attestation_age_blocks: Gauge::default(),
            simulated: Gauge::default(),
            computing: Gauge::default(),
            unresponsive: Gauge::default(),
            attestation_expires_in_blocks: Gauge::default(),
            queries: Family::default(),
            query_duration: latency(),
            ecall_duration: Family::new_with_constructor(latency as fn() -> Histogram),
            heartbeats_answered: Counter::default(),
            heartbeats_missed: Counter::default(),
            seen_answered: AtomicU64::new(u64::MAX),
            seen_missed: AtomicU64::new(u64::MAX),
        };
        registry.register(
            "head_lag_blocks",
            "Blocks the enclave's verified head is behind the node's finalized head",
            metrics.head_lag_blocks.clone(),
        );
        registry.register(
            "registered",
            "1 once the chain has the worker's registration",
            metrics.registered.clone(),
        );
        registry.register(
            "attestation_age_blocks",
            "Blocks since the chain last took the worker's attestation",
            metrics.attestation_age_blocks.clone(),
        );
        registry.register(
            "simulated",
            "1 when the platform is SIMULATED (it protects nothing)",
            metrics.simulated.clone(),
        );
        registry.register(
            "computing",
            "1 while the chain's mining record says the worker computes",
            metrics.computing.clone(),
        );
        registry.register(
            "unresponsive",
            "1 while the chain's mining record says the worker missed a heartbeat",
            metrics.unresponsive.clone(),
        );
        registry.register(
            "attestation_expires_in_blocks",
            "Blocks until the attestation passes the chain's maximum age",
            metrics.attestation_expires_in_blocks.clone(),
        );
        registry.register(
            "queries",
            "Queries by how they ended",
            metrics.queries.clone(),
        );
        registry.register(
            "query_duration_seconds",
            "Seconds from a query's arrival to its answer",
            metrics.query_duration.clone(),
        );
        registry.register(
            "ecall_duration_seconds",
            "Seconds each ecall took",
            metrics.ecall_duration.clone(),
        );
        registry.register(
            "heartbeats_answered",
            "Heartbeats answered in time, as the chain counts them",
            metrics.heartbeats_answered.clone(),
        );
        registry.register(
            "heartbeats_missed",
            "Heartbeats missed, as the chain counts them",
            metrics.heartbeats_missed.clone(),
        );
        Arc::new(WorkerMetrics {
            registry,
            ..metrics
        })
    }

    /// Records an ecall that took `elapsed`.
    pub fn ecall(&self, name: &str, elapsed: Duration) {
        self.ecall_duration
            .get_or_create(&EcallLabel {
                ecall: name.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a query that ended with `outcome` after `elapsed` (the latency histogram counts
    /// answered queries only: instant refusals would hide slow answers).
    pub fn query(&self, outcome: &str, elapsed: Duration) {
        self.queries
            .get_or_create(&Outcome {
                outcome: outcome.to_string(),
            })
            .inc();
        if outcome == "answered" {
            self.query_duration.observe(elapsed.as_secs_f64());
        }
    }

    /// Counts what the chain's totals (which only grow) added since the last look. The first
    /// look is the baseline: a restarted worker counts from zero, as any Prometheus counter
    /// does, rather than jumping by its lifetime totals.
    pub fn heartbeats(&self, answered: u64, missed: u64) {
        for (seen, counter, total) in [
            (&self.seen_answered, &self.heartbeats_answered, answered),
            (&self.seen_missed, &self.heartbeats_missed, missed),
        ] {
            let before = seen.swap(total, Ordering::Relaxed);
            if before != u64::MAX && total > before {
                counter.inc_by(total - before);
            }
        }
    }

    /// The text of a scrape.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        match prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            Ok(()) => text,
            Err(_) => String::new(),
        }
    }
}

/// A gauge value from a count.
pub fn gauge(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_has_every_worker_metric_and_heartbeats_follow_the_chain() {
        let metrics = WorkerMetrics::new();
        metrics.head_lag_blocks.set(2);
        metrics.registered.set(1);
        metrics.simulated.set(1);
        metrics.ecall("sync_block", Duration::from_millis(2));
        metrics.query("answered", Duration::from_millis(4));
        metrics.query("replayed", Duration::from_millis(1));
        // The first look is the baseline; then only what the chain added counts.
        metrics.heartbeats(3, 1);
        metrics.heartbeats(5, 1);
        metrics.heartbeats(8, 2);
        // A restart of the count (a new record) never makes a counter go down.
        metrics.heartbeats(0, 0);
        metrics.heartbeats(2, 0);
        let text = metrics.encode();
        for line in [
            "phalanx_worker_head_lag_blocks 2",
            "phalanx_worker_registered 1",
            "phalanx_worker_simulated 1",
            "# TYPE phalanx_worker_attestation_age_blocks gauge",
            "# TYPE phalanx_worker_attestation_expires_in_blocks gauge",
            "# TYPE phalanx_worker_computing gauge",
            "# TYPE phalanx_worker_unresponsive gauge",
            "phalanx_worker_ecall_duration_seconds_count{ecall=\"sync_block\"} 1",
            "phalanx_worker_queries_total{outcome=\"answered\"} 1",
            "phalanx_worker_queries_total{outcome=\"replayed\"} 1",
            "phalanx_worker_query_duration_seconds_count 1",
            "phalanx_worker_heartbeats_answered_total 7",
            "phalanx_worker_heartbeats_missed_total 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
