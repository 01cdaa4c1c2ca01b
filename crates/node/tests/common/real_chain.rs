//! Shared setup for simulations that run the real `Chain`: its genesis, a clock lent from the
//! deterministic runtime, and opening a chain on disk.

use commonware_codec::Encode as _;
use commonware_runtime::{deterministic, Clock as _, Supervisor as _};
use phalanx_node::chain::Clock;
use phalanx_node::consensus::{adapter::now_ms, PublicKey};
use phalanx_node::{Chain, ChainConfig};
use phalanx_runtime::GenesisConfig;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Genesis time; the runtime's clock starts a second later.
pub const GENESIS_MS: u64 = 1_700_000_000_000;

/// A dev genesis naming `validators`.
pub fn genesis(validators: &[PublicKey]) -> GenesisConfig {
    GenesisConfig::dev(
        validators
            .iter()
            .map(|key| hex::encode(key.encode()))
            .collect(),
        GENESIS_MS,
    )
}

/// The runtime's clock, lent to the chains. The runtime refuses to finish while anything still
/// holds one of its contexts, so the test returns it with [`RuntimeClock::stop`] before the run
/// ends; the chains' clocks then stay at the last time read.
#[derive(Clone)]
pub struct RuntimeClock {
    context: Arc<Mutex<Option<deterministic::Context>>>,
    last_ms: Arc<AtomicU64>,
}

impl RuntimeClock {
    pub fn new(context: &deterministic::Context) -> Self {
        Self {
            context: Arc::new(Mutex::new(Some(context.child("chain_clock")))),
            last_ms: Arc::new(AtomicU64::new(now_ms(context))),
        }
    }

    /// A chain clock reading the runtime's time while it runs.
    pub fn chain_clock(&self) -> Clock {
        let clock = self.clone();
        Arc::new(move || {
            if let Some(context) = clock.context.lock().unwrap().as_ref() {
                clock.last_ms.store(now_ms(context), Ordering::SeqCst);
            }
            clock.last_ms.load(Ordering::SeqCst)
        })
    }

    pub fn stop(&self) {
        self.context.lock().unwrap().take();
    }
}

pub fn open_chain(dir: &Path, genesis: &GenesisConfig, clock: Clock) -> Chain {
    Chain::open(
        ChainConfig {
            data_dir: dir.to_path_buf(),
            genesis: genesis.clone(),
        },
        clock,
    )
    .expect("chain opens")
}

/// Sleeps in simulated time until `done` holds, reporting the heights now and then.
pub async fn wait_until(
    context: &deterministic::Context,
    chains: &BTreeMap<usize, Chain>,
    what: &str,
    done: impl Fn(&BTreeMap<usize, Chain>) -> bool,
) {
    let mut polls = 0u64;
    while !done(chains) {
        polls += 1;
        if polls.is_multiple_of(40) {
            let heights: Vec<u64> = chains.values().map(Chain::height).collect();
            eprintln!(
                "waiting for {what}: heights {heights:?} at {:?}",
                context.current()
            );
        }
        context.sleep(Duration::from_millis(250)).await;
    }
}

/// Whether every chain reached `height`.
pub fn all_reached(height: u64) -> impl Fn(&BTreeMap<usize, Chain>) -> bool {
    move |chains| chains.values().all(|chain| chain.height() >= height)
}
