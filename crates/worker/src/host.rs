//! The host: the untrusted half of a worker, which does all the I/O for its enclave.
//!
//! The host owns the files, the network and the clock; the enclave owns the keys. The host is
//! assumed hostile: everything it hands the enclave is checked there (see [`crate::enclave`]),
//! so a bug or an attacker here can stall the worker but cannot make it sign for a forged chain.
//!
//! # Loop
//! Every `poll_interval_ms`, and until shutdown:
//! 1. read the node's status; a production chain is refused (simulated trust cannot join it);
//! 2. if the enclave follows no chain yet, relay the genesis block (`phalanx_rawBlock(0)`) and
//!    the validator set (`phalanx_status`) — trust on first use, then sealed; a node serving
//!    another chain than the sealed one stops the worker;
//! 3. relay every finalized block after the enclave's head, in order, with its certificate
//!    (`phalanx_rawBlock(h)`), then store the freshly sealed state (atomic replace);
//! 4. once the enclave is within a few blocks of the chain's head, look the worker up on chain
//!    (`phalanx_workers`) and (re-)register when it is missing, its keys or endpoint changed,
//!    its attestation is `reregister_every_blocks` old, or a re-registration was requested.
//!    The enclave signs the registration with its identity key; the *operator's* key signs the
//!    transaction and pays the fee. A failed attempt is retried after [`RETRY_AFTER`].
//!
//! 5. once registered and caught up, at most every second, run a key round ([`keys`]): prove
//!    the gatekeeper and cluster facts the enclave needs, let it act on them
//!    ([`Ecall::KeyStep`]), store what it changed, and relay the key messages it released in
//!    transactions from the operator (which pays their fees).
//!
//! The enclave's state is sealed and stored ([`crate::store`]: pending file, commit, rename)
//! when a new identity is created, after the chain is pinned, after each sync batch and at
//! shutdown. At start the store offers the pending file, then the sealed file; a sealed file the
//! enclave refuses (rolled back, tampered, another build's) stops the worker with the reason.
//! The enclave releases a signed message only when the state recording it is committed; the
//! host relays it then, and again while the chain does not show it delivered.

mod keys;
pub mod queries;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use phalanx_client::{Client, ClientError, ValidatorSet};
use phalanx_primitives::call::{Call, Origin, RegistryCall};
use phalanx_primitives::{AccountId, Hash, Keypair};
use tokio::sync::{mpsc, watch};

use crate::config::{ConfigError, WorkerConfig};
use crate::enclave::platform::PlatformError;
use crate::enclave::{Ecall, Enclave, EnclaveError, EnclaveInfo, Reply, SimulatedPlatform};
use crate::endpoint::{self, EndpointError, WorkerStatus};
use crate::store::SealedStore;

pub use crate::enclave::platform::{
    COUNTER_FILE as PLATFORM_COUNTER_FILE, SECRET_FILE as PLATFORM_SECRET_FILE,
};
pub use crate::store::{PENDING_FILE, SEALED_FILE};
/// Wait after a failed registration before trying again.
pub const RETRY_AFTER: Duration = Duration::from_secs(3);
/// Most blocks relayed before the state is sealed and the loop looks around again.
const SYNC_BATCH: u64 = 1_000;
/// How close to the chain's head the enclave must be before it registers (the registry accepts
/// only the last `RECENT_BLOCK_HASHES` = 256 blocks as the cited recent block).
const CAUGHT_UP: u64 = 32;
/// How long to wait for a registration transaction to be finalized.
const REGISTRATION_WAIT: Duration = Duration::from_secs(60);

/// Why the host stopped, or why one round of its loop failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The simulated platform could not be set up.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The enclave refused a call.
    #[error("enclave: {0}")]
    Enclave(#[from] EnclaveError),
    /// The enclave refused its sealed state file at start-up: corrupt, truncated, sealed by
    /// another enclave measurement or on another machine.
    #[error("cannot start the enclave: its sealed state file {} is corrupt or not this enclave's: {source}", path.display())]
    SealedFile {
        /// The sealed state file.
        path: PathBuf,
        /// Why the enclave refused it (the message says what to do).
        source: EnclaveError,
    },
    /// The enclave refused its sealed state file at start-up because it is not the state the
    /// platform counter names: rolled back, never committed, or a superseded copy.
    #[error("cannot start the enclave: its sealed state file {} is not its latest state: {source}", path.display())]
    StaleSealedFile {
        /// The sealed state file.
        path: PathBuf,
        /// Why the enclave refused it (the message says what to do).
        source: EnclaveError,
    },
    /// The enclave handed its state to a newer build: this build must not run it.
    #[error("this worker's enclave handed its identity over to build {to}; run that worker build on this data directory")]
    HandedOver {
        /// The newer build's measurement, hex.
        to: String,
    },
    /// The enclave could not commit sealed state the host stored (the platform counter failed,
    /// or another instance of this enclave committed first).
    #[error("the enclave could not commit its sealed state: {0}")]
    Commit(EnclaveError),
    /// A file in the data directory could not be read or written.
    #[error("cannot use {path}: {source}; check the worker's data directory")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The query endpoint failed.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The node could not be reached or answered with an error.
    #[error("node: {0}")]
    Node(#[from] ClientError),
    /// The node serves another chain than the one sealed in the enclave.
    #[error("the node at {url} serves chain {node}, but this worker's enclave follows chain {pinned}; point `node_rpc` at its own chain or use a new `data_dir`")]
    WrongChain {
        /// The node URL.
        url: String,
        /// The enclave's chain.
        pinned: Hash,
        /// The node's chain.
        node: Hash,
    },
    /// The chain is a production chain, which never accepts simulated workers.
    #[error("the node serves a production chain, which accepts no SIMULATED workers; run a real enclave build (not available yet) or use a dev chain")]
    ProductionChain,
    /// The worker is registered by another operator.
    #[error("this worker is registered by operator {owner}, not {operator}; configure the owning operator's key")]
    OwnedByAnotherOperator {
        /// The owner on chain.
        owner: AccountId,
        /// The configured operator.
        operator: AccountId,
    },
    /// The chain refused the registration transaction.
    #[error("the chain refused the registration: {0}")]
    RegistrationRefused(String),
    /// The enclave answered an ecall with another reply (a bug).
    #[error("the enclave answered {0} with an unexpected reply; this is a bug, please report it")]
    UnexpectedReply(&'static str),
    /// The node answered with something that does not decode.
    #[error("the node's answer does not decode: {0}")]
    UnexpectedAnswer(String),
}

impl HostError {
    /// The error for a sealed file the enclave refused at start-up.
    pub(crate) fn sealed_file(path: PathBuf, source: EnclaveError) -> HostError {
        match source {
            EnclaveError::RolledBack { .. }
            | EnclaveError::NotCommitted { .. }
            | EnclaveError::Superseded { .. } => HostError::StaleSealedFile { path, source },
            source => HostError::SealedFile { path, source },
        }
    }

    /// Errors that stop the worker; others are logged and the loop tries again.
    fn is_fatal(&self) -> bool {
        matches!(
            self,
            HostError::Config(_)
                | HostError::Platform(_)
                | HostError::SealedFile { .. }
                | HostError::StaleSealedFile { .. }
                | HostError::HandedOver { .. }
                | HostError::Commit(_)
                | HostError::WrongChain { .. }
                | HostError::ProductionChain
                | HostError::OwnedByAnotherOperator { .. }
                | HostError::Io { .. }
        )
    }
}

/// A request to a running host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Re-register now (fresh quote and benchmark), even if not due.
    Reregister,
}

/// How the host reports to a person.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostOptions {
    /// Print registrations on stdout (the dev network does; a service logs only).
    pub announce: Option<String>,
}

/// One worker host: its enclave, its node client, its files.
struct Host {
    config: WorkerConfig,
    options: HostOptions,
    enclave: Enclave,
    client: Client,
    operator: Keypair,
    endpoint: String,
    store: SealedStore,
    status: watch::Sender<Option<WorkerStatus>>,
    force_reregister: bool,
    retry_at: Option<Instant>,
    registered: Option<u64>,
    /// When the last key round ran.
    last_key_round: Option<Instant>,
    /// When each released message was last relayed.
    relayed: HashMap<(Origin, u64), Instant>,
    /// Each contract's code, for queries (untrusted copies: the enclave checks the hash).
    code: queries::CodeCache,
    /// The enclave's query desk (deposits to prove, usage to settle).
    desk: crate::enclave::desk::QueryDesk,
    /// What `GET /metrics` shows.
    metrics: std::sync::Arc<crate::metrics::WorkerMetrics>,
    /// The chain's `attestation_max_age_blocks` and when it was read (for the metrics).
    max_age: Option<(Instant, u64)>,
}

impl Host {
    /// Runs `call` in the enclave, timing it (`phalanx_worker_ecall_duration_seconds`).
    fn ecall(&mut self, call: Ecall) -> Result<Reply, crate::enclave::EnclaveError> {
        let name = call.name();
        let start = std::time::Instant::now();
        let reply = self.enclave.ecall(call);
        self.metrics.ecall(name, start.elapsed());
        reply
    }

    fn info(&mut self) -> Result<EnclaveInfo, HostError> {
        match self.ecall(Ecall::Info)? {
            Reply::Info(info) => Ok(info),
            _ => Err(HostError::UnexpectedReply("info")),
        }
    }

    /// Seals the enclave's state and stores it (pending file, commit, rename).
    fn seal_and_store(&mut self) -> Result<(), HostError> {
        let committed = self.store.seal(&mut self.enclave)?;
        // Messages come with the message kinds that make them (none yet); until then a commit
        // releases nothing, and anything released would stay in the enclave's outbox.
        if !committed.messages.is_empty() {
            tracing::warn!(
                count = committed.messages.len(),
                "the enclave released messages this host does not relay yet; they stay in its outbox"
            );
        }
        Ok(())
    }

    /// Publishes the enclave's public facts (`GET /info`); returns its verified head height.
    fn publish(&mut self) -> Result<u64, HostError> {
        let info = self.info()?;
        let status = WorkerStatus {
            identity: hex::encode(info.identity),
            encryption_key: hex::encode(info.encryption_key),
            measurement: hex::encode(info.measurement),
            genesis_hash: info.genesis_hash.map(|h| h.to_hex()),
            head_height: info.head.map(|(height, _)| height),
            head_hash: info.head.map(|(_, hash)| hash.to_hex()),
            operator: self.operator.account().to_address(),
            endpoint: self.endpoint.clone(),
            registered: self.registered,
            simulated: info.simulated,
        };
        self.metrics
            .registered
            .set(i64::from(self.registered.is_some()));
        self.metrics.simulated.set(i64::from(info.simulated));
        self.status.send_replace(Some(status));
        Ok(info.head.map_or(0, |(height, _)| height))
    }

    async fn raw_block(&self, height: u64) -> Result<(Vec<u8>, Vec<u8>), HostError> {
        let raw = self.client.raw_block(height).await?;
        Ok((raw.block, raw.certificate))
    }

    async fn step(&mut self) -> Result<(), HostError> {
        let status = self.client.status().await?;
        if status.production {
            return Err(HostError::ProductionChain);
        }
        self.ensure_pinned(&status).await?;
        let synced = self.sync_to(status.height).await;
        let head = self.publish()?;
        self.metrics
            .head_lag_blocks
            .set(crate::metrics::gauge(status.height.saturating_sub(head)));
        if let Some(attested) = self.registered {
            self.metrics
                .attestation_age_blocks
                .set(crate::metrics::gauge(
                    status.height.saturating_sub(attested),
                ));
        }
        synced?;
        self.maybe_register(status.height).await?;
        if self.registered.is_some() {
            // Heartbeats first: a missed one stops the worker earning.
            self.heartbeat_round().await?;
            self.key_round().await?;
        }
        self.publish().map(drop)
    }

    async fn ensure_pinned(&mut self, status: &phalanx_client::Status) -> Result<(), HostError> {
        match self.info()?.genesis_hash {
            Some(pinned) if pinned == status.genesis_hash => Ok(()),
            Some(pinned) => Err(HostError::WrongChain {
                url: self.config.node_rpc.clone(),
                pinned,
                node: status.genesis_hash,
            }),
            None => {
                let (genesis_block, _) = self.raw_block(0).await?;
                // The genesis set with its proof: the enclave checks it against the genesis
                // state root, so neither this host nor the node can pin keys of its own.
                let (validators, validators_proof) = self.validator_set(0).await?;
                match self.ecall(Ecall::InitChain {
                    genesis_block,
                    validators,
                    validators_proof,
                })? {
                    Reply::ChainPinned { genesis_hash } => {
                        self.seal_and_store()?;
                        tracing::info!(genesis = %genesis_hash, "enclave pinned to the chain (trust on first use)");
                        Ok(())
                    }
                    _ => Err(HostError::UnexpectedReply("init chain")),
                }
            }
        }
    }

    /// The validator set of `epoch` and its proof, as the node serves them.
    async fn validator_set(&self, epoch: u64) -> Result<(Vec<[u8; 32]>, Vec<u8>), HostError> {
        let ValidatorSet {
            validators, proof, ..
        } = self.client.validator_set(epoch).await?;
        Ok((validators, proof))
    }

    /// Relays block `height`, first showing the enclave the validator set of its epoch if the
    /// enclave does not hold it yet (the previous block ended an epoch).
    async fn relay(&mut self, height: u64) -> Result<(), HostError> {
        let epoch = phalanx_light_client::epoch_of(height);
        if self.info()?.epoch.is_some_and(|held| held < epoch) {
            let (validators, proof) = self.validator_set(epoch).await?;
            self.ecall(Ecall::AdvanceEpoch { validators, proof })?;
            tracing::info!(epoch, "enclave moved to the next validator set");
        }
        let (block, certificate) = self.raw_block(height).await?;
        self.ecall(Ecall::SyncBlock { block, certificate })?;
        Ok(())
    }

    /// Relays blocks up to `target` (at most [`SYNC_BATCH`]), then seals the progress.
    async fn sync_to(&mut self, target: u64) -> Result<(), HostError> {
        let start = self.info()?.head.map_or(0, |(height, _)| height);
        let end = target.min(start + SYNC_BATCH);
        let mut outcome = Ok(());
        for height in start + 1..=end {
            let relayed = self.relay(height).await;
            if let Err(e) = relayed {
                outcome = Err(e);
                break;
            }
        }
        if end > start {
            self.seal_and_store()?;
        }
        outcome
    }

    async fn maybe_register(&mut self, chain_height: u64) -> Result<(), HostError> {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return Ok(());
        }
        let info = self.info()?;
        let Some((head, _)) = info.head else {
            return Ok(());
        };
        if chain_height.saturating_sub(head) > CAUGHT_UP {
            // Still syncing: a registration citing an old head would be refused as stale.
            return Ok(());
        }
        let operator = self.operator.account();
        let mine = self.client.worker(&info.identity).await?;
        let reason = match &mine {
            None => Some("not registered yet"),
            Some(w) if w.operator != operator => {
                return Err(HostError::OwnedByAnotherOperator {
                    owner: w.operator,
                    operator,
                })
            }
            Some(w) if head <= w.recent_block_height => None, // a newer block must come first
            Some(w) if w.encryption_key != info.encryption_key => Some("encryption key changed"),
            Some(w) if w.endpoint != self.endpoint => Some("endpoint changed"),
            Some(w)
                if chain_height.saturating_sub(w.last_attested_at)
                    >= self.config.reregister_every_blocks =>
            {
                Some("attestation due for a refresh")
            }
            Some(_) if self.force_reregister => Some("re-registration requested"),
            Some(w) => {
                self.registered = Some(w.last_attested_at);
                None
            }
        };
        let Some(reason) = reason else {
            return Ok(());
        };
        match self.register(reason).await {
            Ok(()) => Ok(()),
            Err(e) => {
                self.retry_at = Some(Instant::now() + RETRY_AFTER);
                Err(e)
            }
        }
    }

    async fn register(&mut self, reason: &str) -> Result<(), HostError> {
        let reply = self.ecall(Ecall::Register {
            operator: self.operator.account(),
            endpoint: self.endpoint.clone(),
        })?;
        let Reply::Registration {
            registration,
            benchmark,
            quote_time,
        } = reply
        else {
            return Err(HostError::UnexpectedReply("register"));
        };
        let cited = registration.recent_block.0;
        let hash = self
            .client
            .sign_and_submit(
                &self.operator,
                Call::Registry(RegistryCall::Register(registration)),
            )
            .await?;
        let included = self.client.wait_finalized(&hash, REGISTRATION_WAIT).await?;
        if let Some(error) = included.error() {
            return Err(HostError::RegistrationRefused(error));
        }
        self.force_reregister = false;
        self.retry_at = None;
        self.registered = Some(included.height);
        tracing::info!(
            reason,
            height = included.height,
            cited,
            performance = benchmark.score,
            quote_us = quote_time.as_micros() as u64,
            "worker registered with SIMULATED attestation"
        );
        if let Some(name) = &self.options.announce {
            println!(
                "  worker {name}: registered at block #{} ({reason}; P = {}, SIMULATED attestation: trust nothing it says)",
                included.height, benchmark.score
            );
        }
        Ok(())
    }
}

/// Runs a worker until `shutdown` completes or a fatal error; `commands` and `status` connect
/// it to a [`crate::WorkerHandle`]. `listening` is told the query endpoint's bound address (the
/// real port when `listen` asks for port 0).
pub(crate) async fn run_host(
    config: WorkerConfig,
    options: HostOptions,
    listening: impl FnOnce(std::net::SocketAddr) + Send,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    mut commands: mpsc::UnboundedReceiver<Command>,
    status: watch::Sender<Option<WorkerStatus>>,
) -> Result<(), HostError> {
    config.validate()?;
    let operator = config.operator()?;
    let client = Client::new(&config.node_rpc)?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| HostError::Io {
        path: config.data_dir.clone(),
        source,
    })?;
    let store = SealedStore::in_dir(&config.data_dir);
    let (enclave, opened) = store.start(|| Ok(SimulatedPlatform::dev_in(&config.data_dir)?))?;
    for (path, why) in &opened.discarded {
        tracing::warn!(file = %path.display(), reason = %why, "discarded a sealed state file the enclave refused");
    }
    tracing::warn!(
        ?enclave,
        created = opened.created,
        "worker enclave started: SIMULATED platform, it protects nothing"
    );
    let mut enclave = enclave;
    if let Reply::Info(info) = enclave.ecall(Ecall::Info)? {
        if let Some(to) = info.handed_over_to {
            return Err(HostError::HandedOver {
                to: hex::encode(to),
            });
        }
    }

    let (listener, bound) = endpoint::bind(config.listen).await?;
    tracing::info!(%bound, "query endpoint listening");
    listening(bound);
    let endpoint_url = config
        .public_endpoint
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let (stop_endpoint, endpoint_stopped) = tokio::sync::oneshot::channel::<()>();
    let (deposits, mut deposit_jobs) = mpsc::channel(endpoint::QUERY_QUEUE);
    let code = queries::CodeCache::default();
    let desk = enclave.query_desk();
    let metrics = crate::metrics::WorkerMetrics::new();
    let service = std::sync::Arc::new(queries::QueryService::new(
        desk.clone(),
        std::sync::Arc::clone(&code),
        deposits,
        config.query_concurrency,
        config.queries_per_second_per_ip,
        config.outbound_http,
        config.outbound_http_private,
    ));
    let server = tokio::spawn(endpoint::serve(
        listener,
        status.subscribe(),
        service,
        metrics.clone(),
        async move {
            let _ = endpoint_stopped.await;
        },
    ));

    let poll = Duration::from_millis(config.poll_interval_ms);
    let mut host = Host {
        config,
        options,
        enclave,
        client,
        operator,
        endpoint: endpoint_url,
        store,
        status,
        force_reregister: false,
        retry_at: None,
        registered: None,
        last_key_round: None,
        relayed: HashMap::new(),
        code,
        desk,
        metrics,
        max_age: None,
    };
    host.publish()?;
    tokio::pin!(shutdown);
    let mut last_warning: Option<String> = None;
    let mut commands_open = true;
    let outcome = loop {
        let stepped = tokio::select! {
            result = host.step() => result,
            _ = &mut shutdown => break Ok(()),
        };
        match stepped {
            Ok(()) => last_warning = None,
            Err(e) if e.is_fatal() => break Err(e),
            Err(e) => {
                // Repeats of the same problem (a node that is down) are logged once.
                let text = e.to_string();
                if last_warning.as_deref() != Some(text.as_str()) {
                    tracing::warn!(error = %text, "worker round failed; retrying");
                    last_warning = Some(text);
                }
            }
        }
        // Until the next round: commands, and queries as they come.
        let next_round = tokio::time::Instant::now() + poll;
        let stop = loop {
            tokio::select! {
                _ = &mut shutdown => break true,
                command = commands.recv(), if commands_open => match command {
                    Some(Command::Reregister) => {
                        host.force_reregister = true;
                        host.retry_at = None;
                        break false;
                    }
                    None => commands_open = false,
                },
                Some(job) = deposit_jobs.recv() => {
                    let mut jobs = vec![job];
                    while let Ok(more) = deposit_jobs.try_recv() {
                        jobs.push(more);
                    }
                    host.prove_deposits_for(jobs).await;
                }
                _ = tokio::time::sleep_until(next_round) => break false,
            }
        };
        if stop {
            break Ok(());
        }
    };
    let sealed = host.seal_and_store();
    let _ = stop_endpoint.send(());
    match server.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "query endpoint stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "query endpoint task failed"),
        Ok(Ok(())) => {}
    }
    outcome.and(sealed)
}
