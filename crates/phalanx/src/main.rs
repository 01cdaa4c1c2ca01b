//! `phalanx`: one binary for the whole network — a local dev network, validator nodes, and every
//! client action (keys, transfers, blocks, governance).
//!
//! Client commands talk JSON-RPC to `--rpc` (default the dev node, `http://127.0.0.1:9944`,
//! or `$PHALANX_RPC`); `--json` prints machine-readable output for scripts. Wherever an account
//! is expected, a `pha1…` address works, and on dev chains so does a dev account name
//! (`alice`, `bob`, `charlie`, `dave`, `eve`, `ferdie`).
//!
//! Exit codes: 0 success (also a clean stop by Ctrl-C or SIGTERM), 1 any error,
//! [`shutdown::EXIT_DISK_FULL`] (75) the disk holding the data directory is full,
//! [`shutdown::EXIT_STORAGE`] (74) another storage failure.

mod accounts;
mod bench;
mod client_cmd;
mod dev;
mod gov_cmd;
mod node_cmd;
mod shutdown;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// A decentralized confidential cloud: chain node, dev network and client.
#[derive(Debug, Parser)]
#[command(name = "phalanx", version, about, propagate_version = true)]
struct Cli {
    /// Node RPC URL for client commands.
    #[arg(long, global = true, env = "PHALANX_RPC", default_value = phalanx_client::DEFAULT_RPC)]
    rpc: String,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
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
    /// Run a TEE worker (SIMULATED enclave: no real TEE yet) from a config file.
    Worker {
        /// The worker's TOML config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Write configs for an N-validator network on loopback (see README).
    Testnet(node_cmd::TestnetArgs),
    /// Create or inspect keys.
    Key {
        #[command(subcommand)]
        command: client_cmd::KeyCommand,
    },
    /// Chain status: height, head, validators.
    Status,
    /// An account's balance and nonce.
    Balance {
        /// Address or dev account name.
        who: String,
    },
    /// Send PHA.
    Transfer(client_cmd::TransferArgs),
    /// Show a finalized block (default: the head).
    Block {
        /// Height or block hash.
        which: Option<String>,
    },
    /// Show a transaction's status and receipt.
    Tx {
        /// Transaction hash.
        hash: String,
    },
    /// Governance: propose, vote, list.
    Gov {
        #[command(subcommand)]
        command: gov_cmd::GovCommand,
    },
    /// The treasury's balance (and the mining pot and issuance).
    Treasury,
    /// Registered TEE workers and the attestation policy.
    Workers,
    /// Dispatch a privileged call as the dev root account (dev chains only).
    Root(gov_cmd::RootArgs),
    /// Benchmark: finalized transfers per second through an in-process dev node.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PHALANX_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(match cli.command {
            Command::Dev(_) | Command::Node { .. } | Command::Worker { .. } => {
                "info,commonware=warn"
            }
            _ => "warn",
        })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Node { config } => node_cmd::run_node(&config),
        Command::Worker { config } => {
            phalanx_worker::cli_run(&config, shutdown::signal()).map_err(worker_error)
        }
        Command::Testnet(args) => node_cmd::testnet(args, cli.json),
        Command::Bench(args) => bench::run(args),
        command => client_cmd::run(command, &cli.rpc, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(e.exit_code)
        }
    }
}

/// A worker's error; a full disk gets its own exit code, like the node's.
fn worker_error(e: phalanx_worker::Error) -> CliError {
    if phalanx_node::service::caused_by_full_disk(&e) {
        return CliError {
            message: format!("disk full: free space and restart ({e})"),
            exit_code: shutdown::EXIT_DISK_FULL,
        };
    }
    CliError::new(e.to_string())
}

/// A CLI-level error: a message for the user and the process's exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    message: String,
    exit_code: u8,
}

impl CliError {
    fn new(message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            exit_code: 1,
        }
    }
}

impl From<phalanx_node::service::ServiceError> for CliError {
    fn from(e: phalanx_node::service::ServiceError) -> Self {
        CliError {
            exit_code: if e.is_disk_full() {
                shutdown::EXIT_DISK_FULL
            } else {
                1
            },
            message: e.to_string(),
        }
    }
}

macro_rules! impl_from_display {
    ($($t:ty),*) => {$(
        impl From<$t> for CliError {
            fn from(e: $t) -> Self {
                CliError::new(e.to_string())
            }
        }
    )*};
}
impl_from_display!(
    phalanx_client::ClientError,
    phalanx_node::config::ConfigError,
    phalanx_node::consensus::Error,
    phalanx_primitives::account::AccountError,
    std::io::Error,
    serde_json::Error
);

/// The CLI's result type.
pub type Result<T = ()> = std::result::Result<T, CliError>;

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
        assert_eq!(cli.rpc, "http://h:1");
        assert!(
            Cli::try_parse_from(["phalanx", "transfer", "--from", "alice"]).is_err(),
            "missing --to and --amount"
        );
        let cli = Cli::try_parse_from([
            "phalanx", "gov", "vote", "3", "aye", "--amount", "10", "--from", "bob",
        ])
        .expect("vote parses");
        assert!(matches!(cli.command, Command::Gov { .. }));
    }
}
