//! `phalanx dev`: the whole network in one process, with its data in a local folder.
//!
//! First start: makes the folder, a validator key and a dev genesis (dev accounts funded from the
//! ecosystem allocation, alice as root, short governance periods) and writes them there. Later
//! starts with the same folder resume the same chain where it stopped.
//!
//! Port 0 for `--rpc-listen`, `--p2p-listen` (one validator: nobody dials it) or
//! `--worker-port` picks free ports; the banner prints the bound RPC address
//! (`  RPC         http://<addr>`) and each worker's endpoint. A worker that cannot start (a
//! corrupt sealed file, a busy port) is listed as FAILED with the reason; the chain runs on.
//!
//! Beside the workers it runs `--gatekeepers` (default 1) more SIMULATED workers as gatekeepers:
//! once all have registered, the dev root appoints them and puts the workers in cluster 0 (only
//! on a network that has no key epoch and no cluster yet, so a resumed one is left as it is). The
//! gatekeeper enclave then generates key epoch 0's master key and delivers the cluster key to
//! both workers; the banner lines `worker … received the key of cluster 0` say when.

use crate::{CliError, Result};
use clap::Args;
use phalanx_node::config::{read_key_file, write_key_file};
use phalanx_node::service::{self, NodeSetup};
use phalanx_primitives::account::DEV_ACCOUNTS;
use phalanx_primitives::call::{Call, PrivilegedCall, RootCall};
use phalanx_primitives::units::format_pha;
use phalanx_primitives::{Keypair, PHA};
use phalanx_runtime::GenesisConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `phalanx dev` options.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Folder for the chain's data; the same folder resumes the same chain.
    #[arg(long, default_value = ".phalanx/dev")]
    pub data_dir: PathBuf,
    /// Address to serve JSON-RPC on (HTTP and WebSocket).
    #[arg(long, default_value = "127.0.0.1:9944")]
    pub rpc_listen: SocketAddr,
    /// Address for the validator's p2p.
    #[arg(long, default_value = "127.0.0.1:30300")]
    pub p2p_listen: SocketAddr,
    /// Delete the folder first and start a fresh chain.
    #[arg(long)]
    pub reset: bool,
    /// SIMULATED TEE workers to start beside the validator (operators charlie, dave, …).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// SIMULATED gatekeepers to start and appoint (workers too, operated by the next dev
    /// accounts after the workers' operators).
    #[arg(long, default_value_t = 1)]
    pub gatekeepers: usize,
    /// Query endpoint port of the first worker (the next ones count up; 0: free ports).
    #[arg(long, default_value_t = 8100)]
    pub worker_port: u16,
    /// Queries each client address may send a worker per second (bursts of twice as many;
    /// 0: no limit, e.g. for `cargo bench`).
    #[arg(long, default_value_t = 100)]
    pub worker_query_rate: u32,
    /// Least time between blocks, in milliseconds (10 to 900), written into the genesis of a
    /// new chain (the chain parameter `block_interval_ms`; default 500). An existing chain keeps
    /// its own (change it by governance, or start over with --reset).
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
}

/// Loads the dev validator key and genesis from `dir`, creating them on first start.
pub fn load_or_create(
    dir: &Path,
    block_interval_ms: Option<u64>,
) -> Result<([u8; 32], GenesisConfig)> {
    std::fs::create_dir_all(dir)?;
    let key_path = dir.join("validator.key");
    let genesis_path = dir.join("genesis.json");
    let secret = if key_path.exists() {
        read_key_file(&key_path)?
    } else {
        let secret = Keypair::generate().secret();
        write_key_file(&key_path, &secret)?;
        secret
    };
    let genesis = if genesis_path.exists() {
        // A data dir from an older phalanx whose genesis layout has changed since.
        serde_json::from_slice(&std::fs::read(&genesis_path)?).map_err(|e| {
            CliError::new(format!(
                "{}: {e}: this dev chain was made by another version of phalanx; start a fresh one with `phalanx dev --reset` (or another --data-dir)",
                genesis_path.display()
            ))
        })?
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut genesis = GenesisConfig::dev(
            vec![hex::encode(service::validator_public_key(&secret))],
            now,
        );
        if let Some(ms) = block_interval_ms {
            genesis.chain_params.block_interval_ms = ms;
        }
        std::fs::write(&genesis_path, serde_json::to_vec_pretty(&genesis)?)?;
        genesis
    };
    Ok((secret, genesis))
}

/// Runs the dev network until Ctrl-C or SIGTERM.
pub fn run(args: DevArgs) -> Result<()> {
    if let Some(ms) = args.block_interval_ms {
        phalanx_runtime::params::check_block_interval(ms)
            .map_err(|e| CliError::new(format!("--block-interval-ms {ms}: {e}")))?;
    }
    if args.reset && args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir)?;
    }
    crate::shutdown::watch_storage_panics(&args.data_dir);
    let (secret, genesis) = load_or_create(&args.data_dir, args.block_interval_ms)?;
    let public = service::validator_public_key(&secret);
    let validator = service::validator_config(
        secret,
        &[(public, args.p2p_listen)],
        args.p2p_listen,
        &args.data_dir,
        true,
    )?;
    let setup = NodeSetup {
        data_dir: args.data_dir.clone(),
        genesis: genesis.clone(),
        validator,
        rpc: args.rpc_listen,
    };
    let data_dir = args.data_dir.clone();
    let workers: Arc<Mutex<Vec<phalanx_worker::WorkerHandle>>> = Arc::default();
    let started = workers.clone();
    let (worker_count, worker_port, query_rate) =
        (args.workers, args.worker_port, args.worker_query_rate);
    let gatekeeper_count = args.gatekeepers;
    let asked_interval_ms = args.block_interval_ms;
    service::run(
        setup,
        move |chain, rpc| {
            let block_interval_ms = phalanx_runtime::system::params(&chain.head_state())
                .map(|p| p.block_interval_ms)
                .unwrap_or_default();
            if asked_interval_ms.is_some_and(|ms| ms != block_interval_ms) {
                eprintln!("note: this chain's block interval is {block_interval_ms} ms (a chain parameter); --block-interval-ms only sets it for a new chain (--reset starts one)");
            }
            let mut lines = vec![
                format!("Phalanx dev network — chain {} (genesis {})", genesis.chain_id, chain.genesis_hash()),
                format!("  RPC         http://{rpc}  (WebSocket ws://{rpc})"),
                format!("  dashboard   http://{rpc}/  (metrics http://{rpc}/metrics)"),
                format!("  data        {}  (height {}; the same --data-dir resumes)", data_dir.display(), chain.height()),
                format!("  validator   {}  (1 of 1; blocks at least {block_interval_ms} ms apart)", hex::encode(public)),
                "  dev accounts (well-known keys: anyone can sign for them; never use them outside a dev chain)".to_string(),
            ];
            let state = chain.head_state();
            for name in DEV_ACCOUNTS {
                let id = Keypair::dev(name).account();
                let free = phalanx_runtime::balances::account(&state, &id)
                    .map(|a| a.free)
                    .unwrap_or(0);
                lines.push(format!("    {name:<8} {id}  {}", format_pha(free)));
            }
            lines.push(
                "  root        alice (dev only: dispatches privileged calls without a vote)"
                    .to_string(),
            );
            println!("{}", lines.join("\n"));
            if worker_count + gatekeeper_count > 0 {
                let handles = start_workers(
                    &format!("http://{rpc}"),
                    &data_dir.join("workers"),
                    worker_count,
                    gatekeeper_count,
                    worker_port,
                    query_rate,
                );
                let roles: Vec<(String, Option<String>)> = handles
                    .iter()
                    .map(|h| (h.name().to_string(), h.status().map(|s| s.identity)))
                    .collect();
                started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(handles);
                spawn_key_setup(format!("http://{rpc}"), started.clone(), roles);
            }
            println!("Ctrl-C or SIGTERM stops cleanly.");
        },
        crate::shutdown::signal(),
    )?;
    // Stop the workers (each seals its state) before saying we stopped.
    for worker in std::mem::take(&mut *workers.lock().unwrap_or_else(|p| p.into_inner())) {
        if let Err(e) = worker.stop() {
            eprintln!("warning: a worker did not stop cleanly: {e}");
        }
    }
    println!(
        "stopped; resume with: phalanx dev --data-dir {}",
        args.data_dir.display()
    );
    Ok(())
}

/// How long a dev worker may take to open its sealed state and bind its endpoint.
const WORKER_START_LIMIT: Duration = Duration::from_secs(30);

/// Starts the dev workers (worker `i`: data in `base_dir/worker<i>`, operator
/// `DEV_OPERATORS[i % 4]`, endpoint port `first_port + i`, or a free port when 0; each client
/// address may send `query_rate` queries a second), waits until
/// each has started or failed, and lists them: running ones with their endpoint, failed ones
/// with the reason. Returns the running ones.
fn start_workers(
    rpc_url: &str,
    base_dir: &Path,
    workers: usize,
    gatekeepers: usize,
    first_port: u16,
    query_rate: u32,
) -> Vec<phalanx_worker::WorkerHandle> {
    let count = workers + gatekeepers;
    println!(
        "  workers     {workers} SIMULATED TEE workers and {gatekeepers} SIMULATED gatekeeper(s): no enclave hardware, their keys sit in files under {} and their quotes are signed by the public dev key; trust nothing they compute",
        base_dir.display()
    );
    let mut running = Vec::with_capacity(count);
    for i in 0..count {
        let name = if i < workers {
            format!("worker{i}")
        } else {
            format!("gatekeeper{}", i - workers)
        };
        let operators = phalanx_worker::DEV_OPERATORS;
        let operator = operators[i % operators.len()];
        let port = match first_port {
            0 => 0,
            first => first.saturating_add(u16::try_from(i).unwrap_or(u16::MAX)),
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let mut config =
            phalanx_worker::WorkerConfig::dev(rpc_url, base_dir.join(&name), operator, listen);
        config.queries_per_second_per_ip = query_rate;
        let started = phalanx_worker::spawn_announced(&name, config)
            .and_then(|mut handle| handle.wait_started(WORKER_START_LIMIT).map(|s| (handle, s)));
        match started {
            Ok((handle, status)) => {
                println!(
                    "    {name:<8} operator {operator:<8} query endpoint {}  running (SIMULATED)",
                    status.endpoint
                );
                running.push(handle);
            }
            Err(e) => {
                println!("    {name:<8} operator {operator:<8} FAILED: {e}");
                eprintln!("error: dev {name} did not start: {e}");
            }
        }
    }
    running
}

/// How long the dev key setup waits for every worker and gatekeeper to register.
const REGISTRATION_LIMIT: Duration = Duration::from_secs(120);

/// On a thread of its own: once every started worker has registered, appoints the gatekeepers
/// and puts the workers in cluster 0 through the dev root (alice), skipping what the chain
/// already has. Reports on stdout; a failure is a warning (the chain runs on).
fn spawn_key_setup(
    rpc_url: String,
    handles: Arc<Mutex<Vec<phalanx_worker::WorkerHandle>>>,
    roles: Vec<(String, Option<String>)>,
) {
    let spawned = std::thread::Builder::new()
        .name("dev-key-setup".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return eprintln!("warning: dev key setup could not start: {e}"),
            };
            if let Err(e) = runtime.block_on(key_setup(&rpc_url, &handles, &roles)) {
                eprintln!("warning: dev key setup failed: {e}");
            }
            if let Err(e) = runtime.block_on(mining_setup(&rpc_url, &handles, &roles)) {
                eprintln!("warning: dev mining setup failed: {e}");
            }
        });
    if let Err(e) = spawned {
        eprintln!("warning: dev key setup could not start: {e}");
    }
}

/// Waits until every handle reports a registration (or stopped).
async fn wait_registered(
    handles: &Mutex<Vec<phalanx_worker::WorkerHandle>>,
) -> std::result::Result<(), String> {
    let deadline = std::time::Instant::now() + REGISTRATION_LIMIT;
    loop {
        let registered = handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .all(|h| !h.is_running() || h.status().is_some_and(|s| s.registered.is_some()));
        if registered {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err("the workers did not all register within 120 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// PHA each dev pool's operator contributes beyond its worker's least stake.
const DEV_POOL_SPARE_PHA: u128 = 1_000;

/// Once the workers have registered, puts each in a stake pool of its operator and starts it
/// computing (a pool binds only workers its owner operates, so each operator has its own):
/// the operator creates the pool (10% commission), contributes the worker's least stake
/// `k·sqrt(P)` and a little more, binds the worker and starts it. A worker already bound (a
/// resumed chain) is left as the chain has it.
async fn mining_setup(
    rpc_url: &str,
    handles: &Mutex<Vec<phalanx_worker::WorkerHandle>>,
    roles: &[(String, Option<String>)],
) -> std::result::Result<(), String> {
    use phalanx_primitives::call::MiningCall;
    let workers: Vec<(usize, String, [u8; 32])> = roles
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| name.starts_with("worker"))
        .filter_map(|(i, (name, id))| {
            let id: [u8; 32] = hex::decode(id.as_deref()?).ok()?.try_into().ok()?;
            Some((i, name.clone(), id))
        })
        .collect();
    if workers.is_empty() {
        return Ok(());
    }
    wait_registered(handles).await?;
    let client = phalanx_client::Client::new(rpc_url).map_err(|e| e.to_string())?;
    let text = |e: phalanx_client::ClientError| e.to_string();
    let registry: serde_json::Value = client.call("phalanx_workers", vec![]).await.map_err(text)?;
    let mining: serde_json::Value = client.call("phalanx_mining", vec![]).await.map_err(text)?;
    let params: phalanx_primitives::mining::MiningParams =
        serde_json::from_value(mining["params"].clone()).map_err(|e| e.to_string())?;
    for (i, name, identity) in workers {
        let bound: serde_json::Value = client
            .call(
                "phalanx_rewards",
                vec![serde_json::json!(hex::encode(identity))],
            )
            .await
            .map_err(text)?;
        if bound["worker"].is_object() {
            continue;
        }
        let performance = registry["workers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|w| w["identity"].as_str() == Some(&hex::encode(identity)))
            .and_then(|w| w["performance"].as_u64())
            .ok_or_else(|| format!("{name} is not registered"))? as u32;
        let work = phalanx_runtime::mining::work_params(&params);
        let least = phalanx_runtime::work::min_stake(&work, performance.min(params.max_p))
            .ok_or("the least stake overflows")?
            .raw();
        // Whole PHA, rounded up.
        let stake = least.div_ceil(PHA) * PHA;
        let operator_name = phalanx_worker::DEV_OPERATORS[i % phalanx_worker::DEV_OPERATORS.len()];
        let operator = Keypair::dev(operator_name);
        let create = Call::Mining(MiningCall::CreatePool {
            commission_per_mille: 100,
            cap: None,
            allow_list: None,
        });
        let hash = client
            .sign_and_submit(&operator, create)
            .await
            .map_err(text)?;
        let included = client
            .wait_finalized(&hash, Duration::from_secs(60))
            .await
            .map_err(text)?;
        if let Some(error) = included.error() {
            return Err(format!("the chain refused {operator_name}'s pool: {error}"));
        }
        let pools: serde_json::Value = client.call("phalanx_pools", vec![]).await.map_err(text)?;
        let pool = pools["pools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["pool"]["owner"].as_str() == Some(&operator.account().to_string())
                    && p["pool"]["workers"].as_array().is_some_and(Vec::is_empty)
            })
            .filter_map(|p| p["pool"]["id"].as_u64())
            .max()
            .ok_or("the new pool is not listed")?;
        let calls = [
            MiningCall::Contribute {
                pool,
                amount: stake + DEV_POOL_SPARE_PHA * PHA,
            },
            MiningCall::AddWorker {
                pool,
                worker: identity,
            },
            MiningCall::StartWorker {
                pool,
                worker: identity,
                stake,
            },
        ];
        let mut last = None;
        for call in calls {
            last = Some(
                client
                    .sign_and_submit(&operator, Call::Mining(call))
                    .await
                    .map_err(text)?,
            );
        }
        if let Some(hash) = last {
            let included = client
                .wait_finalized(&hash, Duration::from_secs(60))
                .await
                .map_err(text)?;
            if let Some(error) = included.error() {
                return Err(format!("the chain refused to start {name}: {error}"));
            }
        }
        println!(
            "  {name}: computing in stake pool #{pool} of {operator_name} (stake {}, P {performance}; SIMULATED enclave); see phalanx rewards {}",
            format_pha(stake),
            hex::encode(identity)
        );
    }
    Ok(())
}

async fn key_setup(
    rpc_url: &str,
    handles: &Mutex<Vec<phalanx_worker::WorkerHandle>>,
    roles: &[(String, Option<String>)],
) -> std::result::Result<(), String> {
    let parse = |hex_id: &Option<String>| -> Option<[u8; 32]> {
        hex::decode(hex_id.as_deref()?).ok()?.try_into().ok()
    };
    let workers: Vec<[u8; 32]> = roles
        .iter()
        .filter(|(name, _)| name.starts_with("worker"))
        .filter_map(|(_, id)| parse(id))
        .collect();
    let gatekeepers: Vec<(String, [u8; 32])> = roles
        .iter()
        .filter(|(name, _)| name.starts_with("gatekeeper"))
        .filter_map(|(name, id)| Some((name.clone(), parse(id)?)))
        .collect();
    if gatekeepers.is_empty() {
        return Ok(());
    }
    wait_registered(handles).await?;
    let client = phalanx_client::Client::new(rpc_url).map_err(|e| e.to_string())?;
    // Only a new network is set up: once a key epoch or a cluster exists, what the chain holds
    // is the user's (a gatekeeper they removed stays removed across restarts).
    let epochs = client.all_key_epochs().await.map_err(|e| e.to_string())?;
    let clusters = client.all_clusters().await.map_err(|e| e.to_string())?;
    if !epochs.epochs.is_empty() || !clusters.is_empty() {
        return Ok(());
    }
    let appointed = client.gatekeepers().await.map_err(|e| e.to_string())?;
    let mut calls = Vec::new();
    for (name, identity) in &gatekeepers {
        if !appointed
            .gatekeepers
            .iter()
            .any(|g| g.identity == *identity)
        {
            calls.push(PrivilegedCall::AppointGatekeeper(*identity));
            println!("  {name}: appointing as gatekeeper (dev root)");
        }
    }
    if !workers.is_empty() {
        calls.push(PrivilegedCall::CreateCluster);
        for worker in &workers {
            calls.push(PrivilegedCall::AddClusterWorker {
                cluster: 0,
                worker: *worker,
            });
        }
        println!(
            "  cluster 0: creating it with {} worker(s) (dev root)",
            workers.len()
        );
    }
    if calls.is_empty() {
        return Ok(());
    }
    let alice = Keypair::dev("alice");
    let call = Call::Root(RootCall::Dispatch(PrivilegedCall::Batch(calls)));
    let hash = client
        .sign_and_submit(&alice, call)
        .await
        .map_err(|e| e.to_string())?;
    let included = client
        .wait_finalized(&hash, Duration::from_secs(60))
        .await
        .map_err(|e| e.to_string())?;
    match included.error() {
        Some(error) => Err(format!("the chain refused the dev key setup: {error}")),
        None => {
            println!(
                "  gatekeepers and cluster set up at block #{}; the gatekeeper enclave now generates key epoch 0",
                included.height
            );
            Ok(())
        }
    }
}
