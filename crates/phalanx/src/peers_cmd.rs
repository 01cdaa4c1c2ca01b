//! `phalanx peers set-address`: publish where a validator's p2p listener is, signed by its
//! consensus key (the key file the node runs with), through any node's RPC. A validator that
//! governance is about to add does this before the vote, so every validator can dial it the
//! moment its epoch starts; a running validator also keeps its address published by itself.

use crate::accounts::signer;
use crate::flags::{NodeFlags, Target};
use crate::submit::{block_on, dev_chain, report_inclusion, sign_and_submit, NonceFlag};
use crate::{CliError, Result};
use clap::{Args, Subcommand};
use phalanx_client::Client;
use phalanx_primitives::call::{Call, PeersCall};

/// `phalanx peers …`
#[derive(Debug, Subcommand)]
pub enum PeersCommand {
    /// Publish (or, with `--remove`, withdraw) a validator's p2p address on chain.
    SetAddress(SetAddressArgs),
}

impl PeersCommand {
    /// The node flags of the subcommand.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            PeersCommand::SetAddress(args) => &args.node,
        }
    }
}

/// `phalanx peers set-address …`
#[derive(Debug, Args)]
pub struct SetAddressArgs {
    /// The validator's key file (its consensus key pays the fee and signs).
    #[arg(long)]
    pub from: String,
    /// `ip:port` other validators can reach (e.g. 203.0.113.7:30300).
    #[arg(required_unless_present = "remove")]
    pub address: Option<String>,
    /// Withdraw the published address instead.
    #[arg(long, conflicts_with = "address")]
    pub remove: bool,
    #[command(flatten)]
    pub nonce: NonceFlag,
    #[command(flatten)]
    pub node: NodeFlags,
}

/// Runs `phalanx peers …` against `target`.
pub fn run(command: PeersCommand, target: &Target) -> Result<()> {
    match command {
        PeersCommand::SetAddress(args) => {
            let address = match (&args.address, args.remove) {
                (_, true) => String::new(),
                (Some(text), false) => {
                    // Checked as the chain checks it, before any fee is paid.
                    let parsed = phalanx_runtime::peers::parse_address(text).map_err(|e| {
                        CliError::with_reason("bad_address", format!("{text}: {e}"))
                    })?;
                    parsed.to_string()
                }
                (None, false) => {
                    return Err(CliError::with_reason(
                        "invalid_arguments",
                        "give an address or --remove",
                    ))
                }
            };
            let client = Client::new(&target.rpc)?;
            block_on(async {
                let key = signer(&args.from, dev_chain(&client).await?)?;
                let call = Call::Peers(PeersCall::SetAddress { address });
                let hash = sign_and_submit(&client, &key, call, &args.nonce).await?;
                report_inclusion(&client, &hash, target.json, true).await
            })
        }
    }
}
