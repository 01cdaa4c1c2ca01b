//! `phalanx`: one binary for the whole network — a local dev network, validator nodes, and every
//! client action (keys, transfers, blocks, governance, gatekeepers, clusters, key epochs and
//! confidential contracts).
//!
//! Client commands talk JSON-RPC to `--rpc` (default the dev node, `http://127.0.0.1:9944`,
//! or `$PHALANX_RPC`); `--json` prints machine-readable output for scripts, errors included
//! (`{"error": …, "reason": …}` on stdout, see [`error`]). Both flags go before the subcommand
//! or after it, and only the subcommands that use them list them ([`flags`]). Wherever an
//! account is expected, a `pha1…` address works, and on dev chains so does a dev account name
//! (`alice`, `bob`, `charlie`, `dave`, `eve`, `ferdie`).
//!
//! Output goes through [`output`]: a closed stdout (`phalanx block | head -1`) ends the command
//! quietly with exit code 0, and log lines carry colour codes only on a terminal.
//!
//! Exit codes: 0 success (also a clean stop by Ctrl-C or SIGTERM), 1 any error, 2 a malformed
//! command line, [`shutdown::EXIT_DISK_FULL`] (75) the disk holding the data directory is
//! full, [`shutdown::EXIT_STORAGE`] (74) another storage failure.

mod accounts;
mod bench;
mod client_cmd;
mod contract_cmd;
mod dev;
mod error;
mod flags;
mod gatekeeper_cmd;
mod gov_cmd;
mod mining_cmd;
mod node_cmd;
mod output;
mod peers_cmd;
mod progress;
mod shutdown;
mod submit;
mod tokenomics_cmd;

pub use error::{CliError, Result};

use clap::{Parser, Subcommand};
use flags::{JsonFlag, NodeFlags, Target, TopFlags};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// A decentralized confidential cloud: chain node, dev network and client.
#[derive(Debug, Parser)]
#[command(name = "phalanx", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    top: TopFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole local network in one process (1 validator, funded dev accounts).
    Dev(dev::DevArgs),
    /// Run a validator of a multi-validator network from a config file.
    Node {
        /// The node's TOML config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Run a TEE worker (SIMULATED enclave: no real TEE yet) from a config file
    /// (`--config`), or start, stop or reclaim a worker bound to a stake pool.
    #[command(args_conflicts_with_subcommands = true)]
    Worker {
        /// The worker's TOML config (runs the worker).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<mining_cmd::WorkerAction>,
    },
    /// Write configs and a DEV genesis (funded dev accounts, dev root) for an N-validator
    /// network on loopback (see README).
    Testnet {
        #[command(flatten)]
        args: node_cmd::TestnetArgs,
        #[command(flatten)]
        output: JsonFlag,
    },
    #[command(flatten)]
    Client(client_cmd::ClientCommand),
    /// Governance: propose, vote, list.
    Gov {
        #[command(subcommand)]
        command: gov_cmd::GovCommand,
    },
    /// Dispatch a privileged call as the dev root account (dev chains only).
    Root(gov_cmd::RootArgs),
    /// Gatekeepers, the staked enclaves that hold the network's keys: appoint, remove, list.
    Gatekeeper {
        #[command(subcommand)]
        command: gatekeeper_cmd::GatekeeperCommand,
    },
    /// Clusters, sets of workers that share keys: create, add, remove, list, show.
    Cluster {
        #[command(subcommand)]
        command: gatekeeper_cmd::ClusterCommand,
    },
    /// Key epochs of the network's master key: rotate, retire, epochs.
    Keys {
        #[command(subcommand)]
        command: gatekeeper_cmd::KeysCommand,
    },
    /// Confidential contracts: upload, instantiate, call (sealed end to end), list, show, and
    /// query deposits.
    Contract {
        #[command(subcommand)]
        command: contract_cmd::ContractCommand,
    },
    /// Validators' p2p addresses on chain (publish yours before governance adds you).
    Peers {
        #[command(subcommand)]
        command: peers_cmd::PeersCommand,
    },
    /// Stake pools: create, contribute, withdraw, bind workers, info, list.
    Pool {
        #[command(subcommand)]
        command: mining_cmd::PoolCommand,
    },
    /// Why an account or a worker earned what it earned (points, V, P, conf, heartbeats,
    /// slashes, pool shares).
    Rewards(mining_cmd::RewardsArgs),
    /// Validator bonds: bond, unbond, info (equivocation evidence slashes them).
    Stake {
        #[command(subcommand)]
        command: mining_cmd::StakeCommand,
    },
    /// The mining rules, today's budget, the pot and the recent settled days.
    Mining {
        #[command(flatten)]
        node: NodeFlags,
    },
    /// The chain's settlement run over simulated years: a CSV table and an SVG plot of the
    /// daily budget, the cumulative emission and the pot.
    Tokenomics {
        #[command(subcommand)]
        command: tokenomics_cmd::TokenomicsCommand,
    },
    /// Benchmark: finalized transfers per second through an in-process dev node.
    Bench(bench::BenchArgs),
}

impl Command {
    /// Where the command connects and how it prints, from its flags and those before it.
    fn target(&self, top: &TopFlags) -> Target {
        match self {
            Command::Testnet { output, .. } => Target::new(top, None, Some(output)),
            Command::Client(command) => command.target(top),
            Command::Gov { command } => Target::new(top, Some(command.flags()), None),
            Command::Root(args) => Target::new(top, Some(&args.node), None),
            Command::Peers { command } => Target::new(top, Some(command.flags()), None),
            Command::Gatekeeper { command } => Target::new(top, Some(command.flags()), None),
            Command::Cluster { command } => Target::new(top, Some(command.flags()), None),
            Command::Keys { command } => Target::new(top, Some(command.flags()), None),
            Command::Contract { command } => Target::new(top, Some(command.flags()), None),
            Command::Pool { command } => Target::new(top, Some(command.flags()), None),
            Command::Rewards(args) => Target::new(top, Some(&args.node), None),
            Command::Stake { command } => Target::new(top, Some(command.flags()), None),
            Command::Mining { node } => Target::new(top, Some(node), None),
            Command::Worker {
                action: Some(action),
                ..
            } => Target::new(top, Some(action.flags()), None),
            Command::Dev(_)
            | Command::Node { .. }
            | Command::Worker { .. }
            | Command::Bench(_)
            | Command::Tokenomics { .. } => Target::new(top, None, None),
        }
    }
}

/// Parses the command line. With `--json` anywhere in it, a malformed command line is also
/// reported as a JSON object on stdout (reason `invalid_arguments`), as every other error is.
fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `use_stderr` is false for --help and --version, which are not errors.
            if e.use_stderr() && std::env::args_os().any(|arg| arg == "--json") {
                let text = e.to_string();
                let message = match e.kind() {
                    // Its text is the whole help, not an error line.
                    clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                        "a subcommand or argument is missing (see --help)"
                    }
                    _ => text
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches("error: ")
                        .trim(),
                };
                output::print_error(true, &CliError::with_reason("invalid_arguments", message));
                std::process::exit(e.exit_code());
            }
            e.exit()
        }
    }
}

fn main() -> ExitCode {
    output::exit_quietly_on_closed_stdout();
    let cli = parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHALANX_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(match cli.command {
            Command::Dev(_) | Command::Node { .. } | Command::Worker { action: None, .. } => {
                "info,commonware=warn"
            }
            _ => "warn",
        })
    });
    // Colour codes only on a terminal: a log file or pipe gets plain text. A non-empty
    // NO_COLOR turns them off there too (https://no-color.org).
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    match cli.top.log_format {
        flags::LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .init(),
        flags::LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    if matches!(
        cli.command,
        Command::Dev(_) | Command::Node { .. } | Command::Worker { action: None, .. }
    ) {
        // Before anything can print that it is ready: a stop signal must never find the
        // process without its handler.
        shutdown::listen();
    }
    let target = cli.command.target(&cli.top);
    let result = match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Node { config } => node_cmd::run_node(&config),
        Command::Worker {
            action: Some(action),
            ..
        } => mining_cmd::run_worker(action, &target),
        Command::Worker {
            config: Some(config),
            ..
        } => phalanx_worker::cli_run(&config, shutdown::signal()).map_err(worker_error),
        Command::Worker { .. } => Err(CliError::with_reason(
            "invalid_arguments",
            "give --config FILE to run a worker, or start|stop|reclaim (see --help)",
        )),
        Command::Pool { command } => mining_cmd::run_pool(command, &target),
        Command::Rewards(args) => mining_cmd::run_rewards(args, &target),
        Command::Stake { command } => mining_cmd::run_stake(command, &target),
        Command::Mining { node } => mining_cmd::run_mining(&node, &target),
        Command::Testnet { args, .. } => node_cmd::testnet(args, target.json),
        Command::Bench(args) => bench::run(args),
        Command::Tokenomics { command } => tokenomics_cmd::run(command),
        Command::Client(command) => client_cmd::run(command, &target),
        Command::Gov { command } => gov_cmd::run(command, &target),
        Command::Root(args) => gov_cmd::root(args, &target),
        Command::Peers { command } => peers_cmd::run(command, &target),
        Command::Gatekeeper { command } => gatekeeper_cmd::run_gatekeeper(command, &target),
        Command::Cluster { command } => gatekeeper_cmd::run_cluster(command, &target),
        Command::Keys { command } => gatekeeper_cmd::run_keys(command, &target),
        Command::Contract { command } => contract_cmd::run(command, &target),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::print_error(target.json, &e);
            ExitCode::from(e.code())
        }
    }
}

/// A worker's error; a full disk gets its own exit code, like the node's.
fn worker_error(e: phalanx_worker::Error) -> CliError {
    if phalanx_node::service::caused_by_full_disk(&e) {
        return CliError::with_reason(
            "disk_full",
            format!("disk full: free space and restart ({e})"),
        )
        .exit_code(shutdown::EXIT_DISK_FULL);
    }
    CliError::new(e.to_string())
}

impl From<phalanx_node::service::ServiceError> for CliError {
    fn from(e: phalanx_node::service::ServiceError) -> Self {
        if e.is_disk_full() {
            CliError::with_reason("disk_full", e.to_string()).exit_code(shutdown::EXIT_DISK_FULL)
        } else {
            CliError::new(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // Catches clashing flags (e.g. a subcommand flag shadowing a global one).
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from([
            "phalanx",
            "dev",
            "--data-dir",
            "x",
            "--rpc-listen",
            "127.0.0.1:1",
        ])
        .expect("dev parses");
        assert!(matches!(cli.command, Command::Dev(_)));
        let cli = Cli::try_parse_from([
            "phalanx",
            "--rpc",
            "http://h:1",
            "transfer",
            "--from",
            "alice",
            "--to",
            "bob",
            "--amount",
            "1.5",
        ])
        .expect("transfer parses");
        assert_eq!(cli.top.rpc.as_deref(), Some("http://h:1"));
        assert!(
            Cli::try_parse_from(["phalanx", "transfer", "--from", "alice"]).is_err(),
            "missing --to and --amount"
        );
        let cli = Cli::try_parse_from([
            "phalanx", "gov", "vote", "3", "aye", "--amount", "10", "--from", "bob",
        ])
        .expect("vote parses");
        assert!(matches!(cli.command, Command::Gov { .. }));
        let cli = Cli::try_parse_from([
            "phalanx",
            "cluster",
            "add",
            "3",
            "0xabcd",
            "--propose",
            "--description",
            "grow cluster 3",
            "--json",
        ])
        .expect("cluster add parses");
        assert!(cli.command.target(&cli.top).json);
        assert!(
            Cli::try_parse_from(["phalanx", "keys", "retire", "1", "--description", "x"]).is_err(),
            "--description needs --propose"
        );
        assert!(
            Cli::try_parse_from(["phalanx", "cluster", "show", "first"]).is_err(),
            "a cluster is an index"
        );
    }
}
