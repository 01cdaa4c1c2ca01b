//! The node's Prometheus metrics, served at `GET /metrics` on the RPC port in the Prometheus
//! text format (what `prometheus-client` writes, OpenMetrics-compatible).
//!
//! Names follow Prometheus conventions: everything under `phalanx_`, counters end in `_total`,
//! durations are `_seconds`, sizes `_bytes`. What only the moment of the scrape knows (the
//! finalized lag, the mempool, the store's size on disk, connected peers) is read then; the
//! rest is recorded where it happens (finalization, execution, admission, each RPC call).
//!
//! A validator's scrape also carries commonware's own metrics (consensus, p2p, storage,
//! runtime), after Phalanx's, under their own names; `phalanx_peers_connected` is counted
//! from commonware's per-peer `connected` series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A label naming why something was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    /// The stable reason code (`fee_too_low`, `bad_signature`, …).
    pub reason: String,
}

/// A label naming an RPC method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Method {
    /// The JSON-RPC method name.
    pub method: String,
}

type Seconds = Family<Method, Histogram, fn() -> Histogram>;

fn rpc_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
    ])
}

/// Every metric the node keeps, and the registry that encodes them.
pub struct NodeMetrics {
    registry: Registry,
    /// The finalized height.
    pub height: Gauge,
    /// Seconds between now and the finalized head's timestamp (set at each scrape).
    pub finalized_lag: Gauge<f64, AtomicU64>,
    /// Seconds between consecutive finalized blocks' timestamps.
    pub block_interval: Histogram,
    /// Seconds to build (propose) or execute (verify, finalize) a block; a block executed once
    /// and then served from the cache is counted once.
    pub block_execution: Histogram,
    /// Transactions in the mempool (set at each scrape).
    pub mempool_transactions: Gauge,
    /// Bytes of transactions in the mempool (set at each scrape).
    pub mempool_bytes: Gauge,
    /// Transactions refused at admission, by reason.
    pub admissions_refused: Family<Reason, Counter>,
    /// The consensus epoch of the finalized head.
    pub consensus_epoch: Gauge,
    /// The latest consensus view this node proposed or verified in.
    pub consensus_view: Gauge,
    /// Peers connected over p2p (validators; set at each scrape).
    pub peers_connected: Gauge,
    /// RPC call latency, by method.
    pub rpc_request: Seconds,
    /// Bytes the chain's data directory takes on disk (set at each scrape).
    pub store_bytes: Gauge,
    /// The data directory measured for `store_bytes`.
    data_dir: PathBuf,
    /// commonware's own metrics, when this node runs consensus.
    runtime: Mutex<Option<Box<dyn Fn() -> String + Send + Sync>>>,
    /// The last scrape's text and when it was made: scrapes within [`SCRAPE_CACHE`] of it get
    /// the same text, so a client looping on `/metrics` costs one encoding a second.
    cached: Mutex<Option<(std::time::Instant, String)>>,
}

/// How long a scrape's text is served again.
pub const SCRAPE_CACHE: Duration = Duration::from_secs(1);

impl std::fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeMetrics").finish_non_exhaustive()
    }
}

impl NodeMetrics {
    /// Registers every metric; `data_dir` is what `phalanx_store_bytes` measures.
    pub fn new(data_dir: &Path) -> Arc<NodeMetrics> {
        let mut registry = Registry::with_prefix("phalanx");
        let metrics = NodeMetrics {
            height: Gauge::default(),
            finalized_lag: Gauge::default(),
            block_interval: Histogram::new([0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0]),
            block_execution: Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ]),
            mempool_transactions: Gauge::default(),
            mempool_bytes: Gauge::default(),
            admissions_refused: Family::default(),
            consensus_epoch: Gauge::default(),
            consensus_view: Gauge::default(),
            peers_connected: Gauge::default(),
            rpc_request: Family::new_with_constructor(rpc_histogram as fn() -> Histogram),
            store_bytes: Gauge::default(),
            data_dir: data_dir.to_path_buf(),
            runtime: Mutex::new(None),
            cached: Mutex::new(None),
            registry: Registry::default(),
        };
        registry.register("height", "The finalized height", metrics.height.clone());
        registry.register(
            "finalized_lag_seconds",
            "Seconds since the finalized head's timestamp",
            metrics.finalized_lag.clone(),
        );
        registry.register(
            "block_interval_seconds",
            "Seconds between consecutive finalized blocks' timestamps",
            metrics.block_interval.clone(),
        );
        registry.register(
            "block_execution_seconds",
            "Seconds to execute a block",
            metrics.block_execution.clone(),
        );
        registry.register(
            "mempool_transactions",
            "Transactions in the mempool",
            metrics.mempool_transactions.clone(),
        );
        registry.register(
            "mempool_bytes",
            "Bytes of transactions in the mempool",
            metrics.mempool_bytes.clone(),
        );
        registry.register(
            "admissions_refused",
            "Transactions refused at admission, by reason",
            metrics.admissions_refused.clone(),
        );
        registry.register(
            "consensus_epoch",
            "The consensus epoch of the finalized head",
            metrics.consensus_epoch.clone(),
        );
        registry.register(
            "consensus_view",
            "The latest consensus view this node proposed or verified in",
            metrics.consensus_view.clone(),
        );
        registry.register(
            "peers_connected",
            "Peers connected over p2p",
            metrics.peers_connected.clone(),
        );
        registry.register(
            "rpc_request_duration_seconds",
            "RPC call latency, by method",
            metrics.rpc_request.clone(),
        );
        registry.register(
            "store_bytes",
            "Bytes the chain's data directory takes on disk",
            metrics.store_bytes.clone(),
        );
        Arc::new(NodeMetrics {
            registry,
            ..metrics
        })
    }

    /// The finalized head is now `height`: its gauges, and (when its parent's timestamp is
    /// known) the interval since the parent.
    pub fn head(&self, height: u64, interval_ms: Option<u64>) {
        self.height.set(gauge(height));
        self.consensus_epoch
            .set(gauge(phalanx_runtime::system::epoch_of(height)));
        if let Some(ms) = interval_ms {
            self.block_interval.observe(ms as f64 / 1000.0);
        }
    }

    /// Adds commonware's metrics (a validator's consensus runtime) to every scrape.
    pub fn set_runtime(&self, encode: impl Fn() -> String + Send + Sync + 'static) {
        *self.runtime.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(encode));
    }

    /// Records a refused admission.
    pub fn refused(&self, reason: &str) {
        self.admissions_refused
            .get_or_create(&Reason {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Records an RPC call of `method` that took `elapsed`.
    pub fn rpc_call(&self, method: &str, elapsed: Duration) {
        self.rpc_request
            .get_or_create(&Method {
                method: method.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The text of a scrape: the cached one if it is recent, else a new one with the finalized
    /// lag and the mempool (transactions, bytes) `now` reads.
    pub fn scrape(&self, now: impl FnOnce() -> (f64, (usize, usize))) -> String {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, text)) = cached.as_ref() {
            if at.elapsed() < SCRAPE_CACHE {
                return text.clone();
            }
        }
        let (lag_s, mempool) = now();
        let text = self.encode(lag_s, mempool);
        *cached = Some((std::time::Instant::now(), text.clone()));
        text
    }

    /// Records `view` as the consensus view, unless a later one was seen (a late verification
    /// of an older view does not move it back).
    pub fn view(&self, view: u64) {
        let view = gauge(view);
        self.consensus_view
            .inner()
            .fetch_max(view, std::sync::atomic::Ordering::Relaxed);
    }

    /// The text of a scrape, made now. `lag_s`, `mempool` (transactions, bytes) are read by the
    /// caller at the moment of the scrape.
    pub fn encode(&self, lag_s: f64, mempool: (usize, usize)) -> String {
        self.finalized_lag.set(lag_s);
        self.mempool_transactions.set(gauge(mempool.0));
        self.mempool_bytes.set(gauge(mempool.1));
        self.store_bytes.set(gauge(dir_size(&self.data_dir)));
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|encode| encode());
        if let Some(text) = &runtime {
            self.peers_connected.set(gauge(connected_peers(text)));
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            return String::new();
        }
        // One `# EOF` at the very end: ours is dropped when commonware's text follows.
        if let Some(runtime) = runtime {
            if let Some(stripped) = text.strip_suffix("# EOF\n") {
                text.truncate(stripped.len());
            }
            text.push_str(&runtime);
        }
        text
    }
}

fn gauge(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// Connected peers in commonware's encoding: its p2p tracker keeps one `…_connected{peer=…}`
/// series per connected peer (under `…tracker…directory_connected` in the release we pin).
fn connected_peers(text: &str) -> usize {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.split('{').next().is_some_and(|name| {
                name.contains("tracker") && name.ends_with("_connected") && line.contains("peer=")
            })
        })
        .count()
}

/// Bytes of the files under `dir` (a few levels deep; what the store writes).
fn dir_size(dir: &Path) -> u64 {
    fn walk(dir: &Path, depth: u32) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|entry| match entry.metadata() {
                Ok(meta) if meta.is_dir() && depth < 6 => walk(&entry.path(), depth + 1),
                Ok(meta) => meta.len(),
                Err(_) => 0,
            })
            .sum()
    }
    walk(dir, 0)
}

/// Blocks behind under which a node counts as level (no progress lines).
const LEVEL_BLOCKS: u64 = 16;
/// Least time between two catch-up progress lines.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Catch-up progress of a node far behind the network (a full node syncing, a validator
/// restarting behind): blocks a second since it fell behind, and the time left at that rate.
/// How far behind is estimated from the finalized head's timestamp and the block interval
/// ([`behind_from_timestamps`]), so it works whether the blocks come from a source's RPC or
/// from consensus peers.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// When and at which height the current catch-up started.
    started: Option<(std::time::Instant, u64)>,
    /// When the last progress line was logged.
    logged: Option<std::time::Instant>,
}

/// The rate (blocks a second) of `gained` blocks in `elapsed`, and the seconds `behind` blocks
/// take at that rate (`None` before any progress).
pub fn estimate(gained: u64, elapsed: Duration, behind: u64) -> (f64, Option<f64>) {
    let seconds = elapsed.as_secs_f64();
    if gained == 0 || seconds <= 0.0 {
        return (0.0, None);
    }
    let rate = gained as f64 / seconds;
    (rate, Some(behind as f64 / rate))
}

impl CatchUp {
    /// Notes the local `height` against the source's `target`; while more than
    /// [`LEVEL_BLOCKS`] behind, logs the rate and the time left at most every
    /// [`PROGRESS_EVERY`], and once level again, says so.
    pub fn observe(&mut self, height: u64, target: u64) {
        let behind = target.saturating_sub(height);
        let now = std::time::Instant::now();
        if behind <= LEVEL_BLOCKS {
            if let Some((since, from)) = self.started.take() {
                tracing::info!(
                    height,
                    blocks = height.saturating_sub(from),
                    seconds = now.duration_since(since).as_secs(),
                    "caught up"
                );
            }
            return;
        }
        let (since, from) = *self.started.get_or_insert((now, height));
        if self
            .logged
            .is_some_and(|at| now.duration_since(at) < PROGRESS_EVERY)
        {
            return;
        }
        self.logged = Some(now);
        let (rate, left) = estimate(
            height.saturating_sub(from),
            now.duration_since(since),
            behind,
        );
        tracing::info!(
            height,
            target,
            behind,
            blocks_per_second = format!("{rate:.1}"),
            time_left = left.map_or("unknown yet".to_string(), |s| format!("{s:.0} s")),
            "catching up"
        );
    }
}

/// Blocks a node is behind when its head was made `lag_ms` ago and blocks come every
/// `interval_ms` (an estimate: real blocks may come slower).
pub fn behind_from_timestamps(lag_ms: u64, interval_ms: u64) -> u64 {
    lag_ms / interval_ms.max(1)
}

/// A time measurement in flight: records into `histogram` when dropped.
#[derive(Debug)]
pub struct Timer<'a> {
    histogram: &'a Histogram,
    start: std::time::Instant,
}

impl<'a> Timer<'a> {
    /// Starts timing.
    pub fn start(histogram: &'a Histogram) -> Timer<'a> {
        Timer {
            histogram,
            start: std::time::Instant::now(),
        }
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// Counts of what was observed: for tests and tools reading a scrape.
pub fn value_of(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catch_up_rate_and_time_left_follow_from_the_blocks_gained() {
        assert_eq!(estimate(0, Duration::from_secs(10), 100), (0.0, None));
        let (rate, left) = estimate(500, Duration::from_secs(10), 1_000);
        assert!((rate - 50.0).abs() < 1e-9);
        assert_eq!(left.map(|s| s.round()), Some(20.0));
        assert_eq!(behind_from_timestamps(60_000, 500), 120);
        assert_eq!(behind_from_timestamps(60_000, 0), 60_000);
        // Level: nothing to log, and no catch-up started.
        let mut progress = CatchUp::default();
        progress.observe(100, 110);
        assert!(progress.started.is_none());
        progress.observe(100, 10_000);
        assert_eq!(progress.started.map(|(_, from)| from), Some(100));
        progress.observe(9_995, 10_000);
        assert!(progress.started.is_none(), "level again");
    }

    #[test]
    fn a_scrape_has_every_metric_under_its_conventional_name() {
        let dir = std::env::temp_dir().join(format!("phalanx-metrics-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        std::fs::write(dir.join("sub/file"), [0u8; 1000]).expect("file");
        let metrics = NodeMetrics::new(&dir);
        metrics.height.set(7);
        metrics.refused("fee_too_low");
        metrics.refused("fee_too_low");
        metrics.rpc_call("phalanx_status", Duration::from_millis(3));
        let text = metrics.encode(1.5, (3, 300));
        for name in [
            "phalanx_height 7",
            "phalanx_finalized_lag_seconds 1.5",
            "phalanx_mempool_transactions 3",
            "phalanx_mempool_bytes 300",
            "phalanx_admissions_refused_total{reason=\"fee_too_low\"} 2",
            "phalanx_rpc_request_duration_seconds_count{method=\"phalanx_status\"} 1",
            "phalanx_store_bytes 1000",
            "# TYPE phalanx_block_interval_seconds histogram",
            "# TYPE phalanx_block_execution_seconds histogram",
            "# TYPE phalanx_consensus_epoch gauge",
            "# TYPE phalanx_consensus_view gauge",
            "# TYPE phalanx_peers_connected gauge",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(value_of(&text, "phalanx_height"), Some(7.0));
        // With a runtime's text after ours: one EOF, and its peers counted.
        metrics.set_runtime(|| {
            "# TYPE validator_network_tracker_directory_connected gauge\nvalidator_network_tracker_directory_connected{peer=\"a\"} 1\nvalidator_network_tracker_directory_connected{peer=\"b\"} 1\nvalidator_network_tracker_tracked 2\n# EOF\n".to_string()
        });
        let text = metrics.encode(0.0, (0, 0));
        assert_eq!(text.matches("# EOF").count(), 1);
        assert_eq!(value_of(&text, "phalanx_peers_connected"), Some(2.0));
        // Scrapes within a second share one encoding; a later view never moves back.
        let first = metrics.scrape(|| (0.0, (0, 0)));
        metrics.height.set(99);
        assert_eq!(metrics.scrape(|| (0.0, (0, 0))), first);
        metrics.view(10);
        metrics.view(4);
        assert_eq!(metrics.consensus_view.get(), 10);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
