//! Governance commands: `phalanx gov propose|vote|unvote|list|show` and `phalanx root`.
//!
//! A privileged call is given as JSON in its serde form, for example:
//! - `{"treasury_spend":{"to":"pha1…","amount":1000000000000}}` (amounts in units)
//! - `{"set_validators":["<64 hex chars>", …]}` (ed25519 consensus keys)
//! - `{"set_chain_params":{"base_fee":…,"byte_fee":…,"max_tx_bytes":…,"max_block_txs":…,"max_expiry_blocks":…}}`
//! - `{"set_governance_params":{"voting_period":20,"enactment_delay":5,"proposal_deposit":…,"min_turnout":0}}`
//! - `{"cancel_proposal":{"proposal":3}}`

use crate::accounts::{pha_amount, signer};
use crate::flags::{NodeFlags, Target};
use crate::output::print;
use crate::submit::{block_on, dev_chain, report_inclusion, sign_and_submit, NonceFlag};
use crate::{CliError, Result};
use clap::{Args, Subcommand};
use phalanx_client::{Client, Proposal, ProposalStatus};
use phalanx_primitives::call::{Call, GovernanceCall, PrivilegedCall, RootCall};
use phalanx_primitives::units::format_pha;
use serde_json::json;

/// `phalanx gov …`
#[derive(Debug, Subcommand)]
pub enum GovCommand {
    /// Submit a proposal (locks the proposal deposit until it ends).
    Propose {
        /// Proposer: dev name, key file, or `-` to read a mnemonic from stdin.
        #[arg(long)]
        from: String,
        /// Privileged call as JSON; repeat for a batch executed together.
        #[arg(long = "call", required = true)]
        calls: Vec<String>,
        /// What the proposal does and why.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        nonce: NonceFlag,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Vote aye or nay with an amount of PHA (locked until voting ends); voting again replaces.
    Vote {
        /// Proposal id.
        proposal: u32,
        /// `aye` or `nay`.
        side: String,
        /// PHA behind the vote.
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        /// Voter.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        nonce: NonceFlag,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Withdraw your vote from an open proposal.
    Unvote {
        /// Proposal id.
        proposal: u32,
        /// Voter.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        nonce: NonceFlag,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// List proposals.
    List {
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Show one proposal with its tally.
    Show {
        /// Proposal id.
        proposal: u32,
        #[command(flatten)]
        node: NodeFlags,
    },
}

impl GovCommand {
    /// The node flags given to the command.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            GovCommand::Propose { node, .. }
            | GovCommand::Vote { node, .. }
            | GovCommand::Unvote { node, .. }
            | GovCommand::List { node }
            | GovCommand::Show { node, .. } => node,
        }
    }
}

/// `phalanx root …`
#[derive(Debug, Args)]
pub struct RootArgs {
    /// The root account (dev chains: alice).
    #[arg(long, default_value = "alice")]
    pub from: String,
    /// Privileged call as JSON.
    #[arg(long)]
    pub call: String,
    #[command(flatten)]
    pub nonce: NonceFlag,
    #[command(flatten)]
    pub node: NodeFlags,
}

/// Parses a privileged call from JSON, with the serde error as the message.
pub fn parse_call(text: &str) -> Result<PrivilegedCall> {
    serde_json::from_str(text).map_err(|e| {
        CliError::with_reason(
            "bad_call",
            format!("`{text}` is not a privileged call: {e} (see `phalanx gov propose --help`)"),
        )
    })
}

fn status_text(p: &Proposal) -> String {
    match &p.status {
        ProposalStatus::Voting => format!("voting until height {}", p.voting_ends_at),
        ProposalStatus::Passed { enact_at } => format!("passed, executes at height {enact_at}"),
        ProposalStatus::Rejected => "rejected".to_string(),
        ProposalStatus::Enacted { error: None } => "enacted".to_string(),
        ProposalStatus::Enacted { error: Some(code) } => format!("enacted with error: {code}"),
        ProposalStatus::Cancelled => "cancelled".to_string(),
    }
}

/// Runs a `gov` command against `target`.
pub fn run(command: GovCommand, target: &Target) -> Result<()> {
    let client = Client::new(&target.rpc)?;
    block_on(run_on(&client, command, target.json))
}

async fn run_on(client: &Client, command: GovCommand, json_mode: bool) -> Result<()> {
    match command {
        GovCommand::Propose {
            from,
            calls,
            description,
            nonce,
            ..
        } => {
            let key = signer(&from, dev_chain(client).await?)?;
            let calls = calls
                .iter()
                .map(|c| parse_call(c))
                .collect::<Result<Vec<_>>>()?;
            let call = Call::Governance(GovernanceCall::Propose {
                calls,
                description: description.into_bytes(),
            });
            let hash = sign_and_submit(client, &key, call, &nonce).await?;
            report_inclusion(client, &hash, json_mode, true).await
        }
        GovCommand::Vote {
            proposal,
            side,
            amount,
            from,
            nonce,
            ..
        } => {
            let aye = match side.to_lowercase().as_str() {
                "aye" | "yes" => true,
                "nay" | "no" => false,
                other => {
                    return Err(CliError::with_reason(
                        "bad_vote",
                        format!("vote `aye` or `nay`, not `{other}`"),
                    ))
                }
            };
            let amount = pha_amount(&amount)?;
            let key = signer(&from, dev_chain(client).await?)?;
            let call = Call::Governance(GovernanceCall::Vote {
                proposal,
                aye,
                amount,
            });
            let hash = sign_and_submit(client, &key, call, &nonce).await?;
            report_inclusion(client, &hash, json_mode, true).await
        }
        GovCommand::Unvote {
            proposal,
            from,
            nonce,
            ..
        } => {
            let key = signer(&from, dev_chain(client).await?)?;
            let call = Call::Governance(GovernanceCall::Unvote { proposal });
            let hash = sign_and_submit(client, &key, call, &nonce).await?;
            report_inclusion(client, &hash, json_mode, true).await
        }
        GovCommand::List { .. } => {
            let proposals = client.all_proposals().await?;
            print(json_mode, &json!(proposals), || {
                if proposals.is_empty() {
                    return "no proposals".to_string();
                }
                proposals
                    .iter()
                    .map(|p| {
                        format!(
                            "#{} {} — aye {} / nay {} — {}",
                            p.id,
                            p.description,
                            format_pha(p.aye),
                            format_pha(p.nay),
                            status_text(p)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            Ok(())
        }
        GovCommand::Show { proposal, .. } => {
            let answer = client.proposal(proposal).await?;
            let p = &answer.proposal;
            print(json_mode, &json!(answer), || {
                format!(
                    "proposal #{}\n  description: {}\n  proposer:    {}\n  deposit:     {}\n  calls:       {}\n  aye:         {}\n  nay:         {}\n  voters:      {}\n  status:      {}\n  (chain height {})",
                    p.id,
                    p.description,
                    p.proposer,
                    format_pha(p.deposit),
                    json!(p.calls),
                    format_pha(p.aye),
                    format_pha(p.nay),
                    p.voters,
                    status_text(p),
                    answer.height,
                )
            });
            Ok(())
        }
    }
}

/// Runs `phalanx root` against `target`.
pub fn root(args: RootArgs, target: &Target) -> Result<()> {
    let client = Client::new(&target.rpc)?;
    block_on(async {
        let key = signer(&args.from, dev_chain(&client).await?)?;
        let call = Call::Root(RootCall::Dispatch(parse_call(&args.call)?));
        let hash = sign_and_submit(&client, &key, call, &args.nonce).await?;
        report_inclusion(&client, &hash, target.json, true).await
    })
}
