//! Flags shared by several subcommands. They are not global: each subcommand lists only the
//! ones it uses, so `phalanx dev --help` shows no `--rpc` and `phalanx key new --help` no
//! `--rpc` either. Given before the subcommand (`phalanx --rpc URL --json status`) they still
//! apply to the client commands.

use clap::Args;

/// `--json`.
#[derive(Clone, Debug, Default, Args)]
pub struct JsonFlag {
    /// Print JSON instead of text; an error is then `{"error": …, "reason": …}` on stdout
    /// (and a non-zero exit code).
    #[arg(long)]
    pub json: bool,
}

/// `--rpc` and `--json`, for commands that talk to a node.
#[derive(Clone, Debug, Default, Args)]
pub struct NodeFlags {
    /// Node RPC URL [default: $PHALANX_RPC, else http://127.0.0.1:9944].
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    #[command(flatten)]
    pub output: JsonFlag,
}

/// The flags given before the subcommand.
#[derive(Clone, Debug, Default, Args)]
pub struct TopFlags {
    /// Node RPC URL for client commands (also accepted after the subcommand).
    #[arg(long, value_name = "URL", env = "PHALANX_RPC")]
    pub rpc: Option<String>,
    /// Print JSON instead of text, errors included (also accepted after the subcommand).
    #[arg(long)]
    pub json: bool,
    /// How log lines on stderr look: `text` for people, `json` (one object a line) for log
    /// shippers.
    #[arg(
        long,
        value_enum,
        default_value = "text",
        global = true,
        env = "PHALANX_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

/// The format of log lines (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, coloured only on a terminal.
    #[default]
    Text,
    /// One JSON object a line: timestamp, level, target, fields.
    Json,
}

/// Where a client command connects and how it prints, once both places were read.
#[derive(Clone, Debug)]
pub struct Target {
    /// The node's RPC URL.
    pub rpc: String,
    /// `--json`.
    pub json: bool,
}

impl Target {
    /// Flags after the subcommand win over those before it; then `$PHALANX_RPC`, then the
    /// dev node's address.
    pub fn new(top: &TopFlags, node: Option<&NodeFlags>, json: Option<&JsonFlag>) -> Target {
        let json = top.json || json.is_some_and(|j| j.json) || node.is_some_and(|n| n.output.json);
        let rpc = node
            .and_then(|n| n.rpc.clone())
            .or_else(|| top.rpc.clone())
            .unwrap_or_else(|| phalanx_client::DEFAULT_RPC.to_string());
        Target { rpc, json }
    }
}
