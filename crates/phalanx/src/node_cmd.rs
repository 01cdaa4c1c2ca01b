//! `phalanx node --config FILE` and `phalanx testnet` (configs for an N-validator loopback
//! network).

use crate::client_cmd::print;
use crate::{CliError, Result};
use clap::Args;
use phalanx_node::config::{
    parse_key_hex, read_key_file, write_key_file, NodeConfig, ValidatorEntry,
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
    /// Least time between blocks, in milliseconds (10 to 900), written into the genesis as the
    /// chain parameter `block_interval_ms` (default 500).
    #[arg(long)]
    pub block_interval_ms: Option<u64>,
    /// Also write keys and configs for this many validators that are NOT in genesis (named
    /// `joinK`): they follow the chain until a governance vote adds them (see README).
    #[arg(long, default_value_t = 0)]
    pub joining: usize,
}

/// Writes a genesis and one key + config per validator.
pub fn testnet(args: TestnetArgs, json_mode: bool) -> Result<()> {
    if args.validators == 0 {
        return Err(CliError::new("a network needs at least one validator"));
    }
    if let Some(ms) = args.block_interval_ms {
        phalanx_runtime::params::check_block_interval(ms)
            .map_err(|e| CliError::new(format!("--block-interval-ms {ms}: {e}")))?;
    }
    let nodes = args.validators.saturating_add(args.joining);
    let p2p_ports = match &args.p2p_ports {
        Some(ports) if ports.len() != nodes => {
            return Err(CliError::new(format!(
                "--p2p-ports lists {} ports for {} validators ({} joining); give one port per validator",
                ports.len(),
                nodes,
                args.joining
            )))
        }
        Some(ports) if ports.contains(&0) => {
            return Err(CliError::new(
                "--p2p-ports cannot use port 0: every validator must know the others' addresses ahead of time",
            ))
        }
        Some(ports) => ports.clone(),
        None => (0..nodes)
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
    let (founders, joiners) = entries.split_at(args.validators);
    let mut genesis =
        GenesisConfig::dev(founders.iter().map(|e| e.public_key.clone()).collect(), now);
    if let Some(ms) = args.block_interval_ms {
        genesis.chain_params.block_interval_ms = ms;
    }
    std::fs::write(
        args.dir.join("genesis.json"),
        serde_json::to_vec_pretty(&genesis)?,
    )?;
    let mut configs = Vec::new();
    let mut joining = Vec::new();
    for (i, secret) in secrets.iter().enumerate() {
        // Joining validators know the genesis validators; nobody's config names them.
        let name = if i < args.validators {
            format!("node{i}")
        } else {
            format!("join{}", i - args.validators)
        };
        let key_file = PathBuf::from(format!("{name}.key"));
        write_key_file(&args.dir.join(&key_file), secret)?;
        let config = NodeConfig {
            data_dir: name.clone().into(),
            genesis: "genesis.json".into(),
            rpc: SocketAddr::new(loopback, rpc_port(i)?),
            key_file: Some(key_file),
            p2p: Some(entries[i].address),
            follow: None,
            local_network: true,
            block_interval_ms: None,
            public_address: None,
            joining: i >= args.validators,
            validators: founders.to_vec(),
        };
        let path = args.dir.join(format!("{name}.toml"));
        config.save(&path)?;
        if i < args.validators {
            configs.push(path);
        } else {
            joining.push(path);
        }
    }
    let value = json!({
        "dir": args.dir,
        "configs": configs,
        "validators": founders.iter().map(|e| &e.public_key).collect::<Vec<_>>(),
        "joining_configs": joining,
        "joining": joiners.iter().map(|e| &e.public_key).collect::<Vec<_>>(),
    });
    print(json_mode, &value, || {
        let mut text = format!(
            "wrote a {}-validator network to {} with a DEV genesis: the dev accounts (alice, bob, charlie, dave, eve, ferdie) are funded and their keys are public, and alice is the root account (privileged calls without a vote); for testing only, never for real value\nstart each validator in its own terminal:",
            args.validators,
            args.dir.display()
        );
        for path in &configs {
            text.push_str(&format!("\n  phalanx node --config {}", path.display()));
        }
        for (path, entry) in joining.iter().zip(joiners) {
            text.push_str(&format!(
                "\njoining (not in genesis; it votes once governance adds key {}): phalanx node --config {}",
                entry.public_key,
                path.display()
            ));
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
    // The configured validators are an address book that must cover the genesis set; any
    // validator added later is found through the address it publishes on chain.
    let configured = config
        .validators
        .iter()
        .map(|v| Ok((parse_key_hex(&v.public_key)?, v.address)))
        .collect::<Result<Vec<_>>>()?;
    let genesis_keys = genesis
        .validator_keys()
        .map_err(|e| CliError::new(e.to_string()))?;
    let missing = genesis_keys
        .iter()
        .filter(|key| !configured.iter().any(|(listed, _)| listed == *key))
        .count();
    if missing > 0 {
        return Err(phalanx_node::config::ConfigError::ValidatorMismatch(format!(
            "{missing} of the {} genesis validators have no entry; list every genesis validator with its p2p address",
            genesis_keys.len()
        ))
        .into());
    }
    let me_key = service::validator_public_key(&secret);
    if !genesis_keys.contains(&me_key) && !config.joining {
        return Err(CliError::with_reason(
            "not_a_validator",
            format!(
                "key {} (from {}) is not a genesis validator; if governance is adding it, set `joining = true` in the config, otherwise check the key file",
                hex::encode(me_key),
                key_file.display()
            ),
        ));
    }
    let public_address = match config.public_address {
        Some(address) => Some(address),
        None if p2p.ip().is_unspecified() || p2p.port() == 0 => None,
        None => Some(p2p),
    };
    if let Some(address) = public_address {
        // The chain refuses what it cannot dial; refuse it here rather than pay for it forever.
        phalanx_runtime::peers::parse_address(&address.to_string()).map_err(|e| {
            CliError::with_reason(
                "bad_public_address",
                format!("public_address {address}: {e}; set `public_address` to the ip:port other validators can reach"),
            )
        })?;
    } else if config.joining {
        return Err(CliError::with_reason(
            "bad_public_address",
            "a joining validator must publish where it listens: set `public_address` (p2p listens on an unspecified address or port 0)",
        ));
    }
    let mut configured = configured;
    configured.sort();
    let mut validator = service::validator_config(
        secret,
        &configured,
        p2p,
        &config.data_dir,
        config.local_network,
    )?;
    validator.timeouts = timeouts;
    validator.public_address = public_address;
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
