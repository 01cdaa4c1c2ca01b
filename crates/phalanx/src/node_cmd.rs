//! `phalanx node --config FILE` and `phalanx testnet` (configs for an N-validator loopback
//! network).

use crate::client_cmd::print;
use crate::{CliError, Result};
use clap::Args;
use phalanx_node::config::{
    parse_key_hex, read_key_file, timeouts_with_block_interval, write_key_file, NodeConfig,
    ValidatorEntry,
};
use phalanx_node::service::{self, NodeSetup};
use phalanx_primitives::Keypair;
use phalanx_runtime::GenesisConfig;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// `phalanx testnet` options.
#[derive(Debug, Args)]
pub struct TestnetArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Folder to write the genesis, keys and configs into.
    #[arg(long, default_value = ".phalanx/testnet")]
    pub dir: PathBuf,
    /// First p2p port (validator i listens on base + i).
    #[arg(long, default_value_t = 30400)]
    pub p2p_base: u16,
    /// Explicit p2p ports, one per validator (comma-separated), instead of `--p2p-base`.
    #[arg(long, value_delimiter = ',', conflicts_with = "p2p_base")]
    pub p2p_ports: Option<Vec<u16>>,
    /// First RPC port (validator i serves on base + i); 0: every node picks a free port and
    /// prints it at start-up.
    #[arg(long, default_value_t = 9950)]
    pub rpc_base: u16,
    /// Least time between blocks, in milliseconds, written into every config (default: the
    /// node's default, 500).
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
}

/// Writes a genesis and one key + config per validator.
pub fn testnet(args: TestnetArgs, json_mode: bool) -> Result<()> {
    if args.validators == 0 {
        return Err(CliError::new("a network needs at least one validator"));
    }
    if let Some(ms) = args.block_interval_ms {
        timeouts_with_block_interval(ms)?;
    }
    let p2p_ports = match &args.p2p_ports {
        Some(ports) if ports.len() != args.validators => {
            return Err(CliError::new(format!(
                "--p2p-ports lists {} ports for {} validators; give one port per validator",
                ports.len(),
                args.validators
            )))
        }
        Some(ports) if ports.contains(&0) => {
            return Err(CliError::new(
                "--p2p-ports cannot use port 0: every validator must know the others' addresses ahead of time",
            ))
        }
        Some(ports) => ports.clone(),
        None => (0..args.validators)
            .map(|i| {
                u16::try_from(i)
                    .ok()
                    .and_then(|i| args.p2p_base.checked_add(i))
                    .ok_or_else(|| CliError::new("--p2p-base plus the validator count passes port 65535"))
            })
            .collect::<Result<Vec<u16>>>()?,
    };
    let rpc_port = |i: usize| -> Result<u16> {
        if args.rpc_base == 0 {
            return Ok(0);
        }
        u16::try_from(i)
            .ok()
            .and_then(|i| args.rpc_base.checked_add(i))
            .ok_or_else(|| CliError::new("--rpc-base plus the validator count passes port 65535"))
    };
    std::fs::create_dir_all(&args.dir)?;
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut secrets = Vec::new();
    let mut entries = Vec::new();
    for port in &p2p_ports {
        let secret = Keypair::generate().secret();
        let address = SocketAddr::new(loopback, *port);
        entries.push(ValidatorEntry {
            public_key: hex::encode(service::validator_public_key(&secret)),
            address,
        });
        secrets.push(secret);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let genesis = GenesisConfig::dev(entries.iter().map(|e| e.public_key.clone()).collect(), now);
    std::fs::write(
        args.dir.join("genesis.json"),
        serde_json::to_vec_pretty(&genesis)?,
    )?;
    let mut configs = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        let key_file = PathBuf::from(format!("node{i}.key"));
        write_key_file(&args.dir.join(&key_file), secret)?;
        let config = NodeConfig {
            data_dir: format!("node{i}").into(),
            genesis: "genesis.json".into(),
            rpc: SocketAddr::new(loopback, rpc_port(i)?),
            key_file: Some(key_file),
            p2p: Some(entries[i].address),
            follow: None,
            local_network: true,
            block_interval_ms: args.block_interval_ms,
            validators: entries.clone(),
        };
        let path = args.dir.join(format!("node{i}.toml"));
        config.save(&path)?;
        configs.push(path);
    }
    let value = json!({ "dir": args.dir, "configs": configs, "validators": entries.iter().map(|e| &e.public_key).collect::<Vec<_>>() });
    print(json_mode, &value, || {
        let mut text = format!(
            "wrote a {}-validator network to {}; start each validator in its own terminal:",
            args.validators,
            args.dir.display()
        );
        for path in &configs {
            text.push_str(&format!("\n  phalanx node --config {}", path.display()));
        }
        if args.rpc_base == 0 {
            text.push_str("\neach node prints the RPC address it bound (`RPC http://…`)");
        } else {
            text.push_str(&format!(
                "\nthen e.g. `phalanx --rpc http://127.0.0.1:{} status`",
                args.rpc_base
            ));
        }
        text
    });
    Ok(())
}

/// Runs a validator (or a full node) from its config until Ctrl-C or SIGTERM.
pub fn run_node(path: &Path) -> Result<()> {
    let config = NodeConfig::load(path)?;
    let timeouts = config.timeouts()?;
    crate::shutdown::watch_storage_panics(&config.data_dir);
    let genesis: GenesisConfig = serde_json::from_slice(&std::fs::read(&config.genesis)?)?;
    let (key_file, p2p) = match (&config.key_file, config.p2p, &config.follow) {
        (Some(key_file), Some(p2p), None) => (key_file.clone(), p2p),
        (None, None, Some(source)) => {
            let source_url = source.clone();
            service::run_follower(
                config.data_dir.clone(),
                genesis,
                config.rpc,
                source,
                move |chain, rpc| println!("phalanx full node: height {}, RPC http://{rpc}, following {source_url}", chain.height()),
                crate::shutdown::signal(),
            )?;
            return Ok(());
        }
        _ => {
            return Err(CliError::new(
                "a node config sets either `key_file` and `p2p` (a validator) or `follow` (a full node), not both",
            ))
        }
    };
    let secret = read_key_file(&key_file)?;
    // The configured validators must be exactly the genesis validators.
    let mut configured = config
        .validators
        .iter()
        .map(|v| Ok((parse_key_hex(&v.public_key)?, v.address)))
        .collect::<Result<Vec<_>>>()?;
    let genesis_keys = genesis
        .validator_keys()
        .map_err(|e| CliError::new(e.to_string()))?;
    let mut listed: Vec<[u8; 32]> = configured.iter().map(|(k, _)| *k).collect();
    listed.sort();
    let mut expected = genesis_keys.clone();
    expected.sort();
    if listed != expected {
        return Err(
            phalanx_node::config::ConfigError::ValidatorMismatch(format!(
                "config lists {} keys, genesis {}; they must be the same set",
                listed.len(),
                expected.len()
            ))
            .into(),
        );
    }
    configured.sort();
    let mut validator = service::validator_config(
        secret,
        &configured,
        p2p,
        &config.data_dir,
        config.local_network,
    )?;
    validator.timeouts = timeouts;
    let setup = NodeSetup {
        data_dir: config.data_dir.clone(),
        genesis,
        validator,
        rpc: config.rpc,
    };
    let me = hex::encode(service::validator_public_key(&secret));
    service::run(
        setup,
        move |chain, rpc| {
            println!(
                "phalanx node {me}: height {}, RPC http://{rpc}",
                chain.height()
            );
        },
        crate::shutdown::signal(),
    )?;
    Ok(())
}
