//! Phalanx TEE worker: an enclave that holds the worker's keys and follows the chain through a
//! light client, and the untrusted host that feeds it (DESIGN.md §2, §7–§9).
//!
//! ```text
//!  node RPC ──blocks, certificates──▶ host ──Ecall──▶ enclave (keys, light client, sequence)
//!  chain   ◀──Register tx (operator)── host ◀─Reply── enclave (signed registration, messages)
//!  disk    ◀──sealed blob──────────── host
//!  clients ──GET /info──▶ host's query endpoint
//! ```
//!
//! - [`enclave`]: the trusted half, a pure state machine behind an ecall table ([`Ecall`] in,
//!   [`Reply`] out). It creates and seals its ed25519 identity and X25519 encryption keys,
//!   verifies every block it is given with the light client, attests (benchmark + quote +
//!   report data binding its keys, the chain and its verified head), signs registrations, and
//!   signs sequenced messages that its own logic made, released only once the sealed state that
//!   records them is committed to the platform's monotonic counter. No ecall ever returns a
//!   secret; the enclave's clock is its verified head.
//! - [`host`]: the untrusted half: files, node RPC, the operator's transactions, the clock.
//! - [`store`]: the host's sealed-state files and their crash-safe commit protocol.
//! - [`upgrade`](mod@upgrade): moving a worker to a newer enclave build by an attested handover.
//! - [`endpoint`]: the worker's HTTP query endpoint (for now `GET /info`).
//! - [`config`]: the worker's TOML configuration.
//! - [`dev`]: the dev network's workers ([`spawn_dev_workers`]).
//!
//! **Everything here is SIMULATED.** The platform under the enclave
//! ([`enclave::SimulatedPlatform`]) is software: its seal secret is a file, its quotes are
//! signed by a key every dev chain publishes. A SIMULATED worker protects nothing and can only
//! join chains whose attestation policy trusts the dev quoting enclave (never a production
//! chain). Real SGX/TDX builds replace the platform; the ecall boundary is where they plug in.
//!
//! Invariants: the enclave's head only moves one certified, linking block at a time; its keys
//! leave it only sealed under a key derived from the platform secret and its measurement; it
//! resumes only from the sealed state its platform counter names (no rollback), and releases
//! nothing a rollback could undo; a registration always cites the enclave's own verified head.

pub mod config;
pub mod dev;
pub mod enclave;
pub mod endpoint;
mod fs;
pub mod host;
pub mod metrics;
pub mod store;
pub mod upgrade;

use std::path::Path;

use tokio::sync::{mpsc, oneshot, watch};

pub use config::{ConfigError, WorkerConfig};
pub use dev::{spawn_dev_workers, spawn_dev_workers_on, DEV_FIRST_PORT, DEV_OPERATORS};
pub use enclave::{
    CounterError, Ecall, Enclave, EnclaveError, EnclaveInfo, Pending, Reply, SimulatedPlatform,
};
pub use endpoint::WorkerStatus;
pub use host::{Command, HostError};
pub use store::SealedStore;
pub use upgrade::upgrade;

/// Why a worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The worker stopped with an error.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The worker's thread or async runtime could not be started.
    #[error("cannot start the worker's runtime: {0}; the machine may be out of threads or memory")]
    Runtime(std::io::Error),
    /// The worker's thread panicked (a bug).
    #[error("the worker thread panicked; this is a bug, please report it with the log")]
    Panicked,
    /// The worker neither started nor failed in time.
    #[error("the worker did not start within {0:?}; check its data directory and the log")]
    StartTimeout(std::time::Duration),
    /// The worker stopped before its enclave started, without an error.
    #[error("the worker stopped before its enclave started")]
    StoppedBeforeStart,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs a worker until `shutdown` completes (or a fatal error). Call it inside a tokio runtime.
pub async fn run(
    config: WorkerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Keep the sender alive: nothing sends commands to a worker run this way.
    let (_commands, receiver) = mpsc::unbounded_channel();
    let (status, _) = watch::channel(None);
    host::run_host(
        config,
        host::HostOptions::default(),
        |_| {},
        shutdown,
        receiver,
        status,
    )
    .await?;
    Ok(())
}

/// `phalanx worker --config FILE`: loads the config and runs the worker until `shutdown`
/// completes (the binary passes Ctrl-C or SIGTERM; it is polled inside the worker's runtime).
/// Once the query endpoint listens it prints `query endpoint listening on http://<addr>`.
pub fn cli_run(
    config_path: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let config = WorkerConfig::load(config_path)?;
    println!(
        "Phalanx worker — SIMULATED enclave (no TEE hardware: its keys are only as safe as this \
         machine's files, and its attestation is signed by the public dev quoting key)\n  \
         node {}\n  data {}\nCtrl-C or SIGTERM stops cleanly.",
        config.node_rpc,
        config.data_dir.display(),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async move {
        let (_commands, receiver) = mpsc::unbounded_channel();
        let (status, _) = watch::channel(None);
        let listening = |bound| println!("  query endpoint listening on http://{bound}");
        host::run_host(
            config,
            host::HostOptions::default(),
            listening,
            shutdown,
            receiver,
            status,
        )
        .await?;
        Ok(())
    })
}

/// A worker running on its own thread (see [`spawn`]). Dropping it stops the worker.
#[derive(Debug)]
pub struct WorkerHandle {
    name: String,
    status: watch::Receiver<Option<WorkerStatus>>,
    commands: mpsc::UnboundedSender<Command>,
    stop: Option<oneshot::Sender<()>>,
    /// Receives `()` once the enclave has started; disconnects if the worker stopped first.
    started: std::sync::mpsc::Receiver<()>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl WorkerHandle {
    /// The worker's name (its thread name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker's public facts, once its enclave has started.
    pub fn status(&self) -> Option<WorkerStatus> {
        self.status.borrow().clone()
    }

    /// Asks the worker to re-register now (fresh quote and benchmark). Returns false if the
    /// worker has stopped.
    pub fn reregister(&self) -> bool {
        self.commands.send(Command::Reregister).is_ok()
    }

    /// Waits until the worker's enclave has started (its sealed state accepted, its query
    /// endpoint listening) and returns its status, or returns why it stopped before that: a
    /// corrupt sealed file, a busy port, … A worker that failed is stopped for good.
    pub fn wait_started(&mut self, limit: std::time::Duration) -> Result<WorkerStatus> {
        use std::sync::mpsc::RecvTimeoutError;
        match self.started.recv_timeout(limit) {
            Ok(()) => self.status().ok_or(Error::StoppedBeforeStart),
            Err(RecvTimeoutError::Timeout) => Err(Error::StartTimeout(limit)),
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(status) = self.status() {
                    return Ok(status);
                }
                self.shutdown()?;
                Err(Error::StoppedBeforeStart)
            }
        }
    }

    /// Whether the worker is still running.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the worker (it seals its state) and waits for it.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| Error::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!(worker = %self.name, error = %e, "worker stopped with an error");
        }
    }
}

/// Starts a worker on its own thread with its own async runtime.
pub fn spawn(name: &str, config: WorkerConfig) -> Result<WorkerHandle> {
    spawn_with(name, config, host::HostOptions::default())
}

/// [`spawn`], printing the worker's registrations on stdout under `name` (as `phalanx dev`
/// does for its workers).
pub fn spawn_announced(name: &str, config: WorkerConfig) -> Result<WorkerHandle> {
    spawn_with(
        name,
        config,
        host::HostOptions {
            announce: Some(name.to_string()),
        },
    )
}

pub(crate) fn spawn_with(
    name: &str,
    config: WorkerConfig,
    options: host::HostOptions,
) -> Result<WorkerHandle> {
    config.validate()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (commands, receiver) = mpsc::unbounded_channel();
    let (status_tx, status) = watch::channel(None);
    let (started_tx, started) = std::sync::mpsc::sync_channel::<()>(1);
    let mut first_status = status_tx.subscribe();
    // As `phalanx worker` runs it: HTTP on two threads, so answering queries doesn't wait on
    // one thread that also follows the chain.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("{name}-rt"))
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let shutdown = async move {
                let _ = stopped.await;
            };
            runtime.block_on(async move {
                let host = host::run_host(config, options, |_| {}, shutdown, receiver, status_tx);
                tokio::pin!(host);
                // The host publishes its first status once the enclave started; if it stops
                // before, the status sender and then `started_tx` are dropped unsent.
                let announce = async move {
                    if first_status.wait_for(Option::is_some).await.is_ok() {
                        let _ = started_tx.send(());
                    }
                };
                tokio::select! {
                    outcome = &mut host => outcome,
                    () = announce => host.await,
                }
                .map_err(Error::from)
            })
        })
        .map_err(Error::Runtime)?;
    Ok(WorkerHandle {
        name: name.to_string(),
        status,
        commands,
        stop: Some(stop),
        started,
        thread: Some(thread),
    })
}
