//! Governance commands: `phalanx gov propose|vote|unvote|list|show` and `phalanx root`.
//!
//! A privileged call is given as JSON in its serde form, for example:
//! - `{"treasury_spend":{"to":"pha1…","amount":1000000000000}}` (amounts in units)
//! - `{"set_validators":["<64 hex chars>", …]}` (ed25519 consensus keys)
//! - `{"set_chain_params":{"base_fee":…}}`: the fields left out keep the chain's current values
//!   (the CLI reads them from the node and fills them in), so a fee change never resets, say,
//!   `block_interval_ms` or `dcap_verification_fee` to a default
//! - `{"set_governance_params":{"voting_period":20}}`: the same for governance's parameters
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
use phalanx_primitives::Hash;
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

fn bad_call(text: &str, e: impl std::fmt::Display) -> CliError {
    CliError::with_reason(
        "bad_call",
        format!("`{text}` is not a privileged call: {e} (see `phalanx gov propose --help`)"),
    )
}

/// Parses a privileged call, first filling every field a `set_chain_params` or
/// `set_governance_params` (also inside a `batch`) leaves out with the chain's current value,
/// so the call changes only what it names. Each filled field is listed on stderr.
pub async fn parse_call_on(client: &Client, text: &str) -> Result<PrivilegedCall> {
    let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| bad_call(text, e))?;
    let (chain, governance) = client.params().await?;
    let current = [
        ("set_chain_params", serde_json::to_value(chain)?),
        ("set_governance_params", serde_json::to_value(governance)?),
    ];
    let mut filled = Vec::new();
    complete(&mut value, &current, &mut filled);
    if !filled.is_empty() {
        eprintln!("keeping the chain's current {}", filled.join(", "));
    }
    serde_json::from_value(value).map_err(|e| bad_call(text, e))
}

/// Fills missing parameter fields in `call` (see [`parse_call_on`]), recursing into batches.
fn complete(
    call: &mut serde_json::Value,
    current: &[(&str, serde_json::Value)],
    filled: &mut Vec<String>,
) {
    let Some(object) = call.as_object_mut() else {
        return;
    };
    if let Some(serde_json::Value::Array(calls)) = object.get_mut("batch") {
        for inner in calls {
            complete(inner, current, filled);
        }
        return;
    }
    for (name, now) in current {
        let (Some(serde_json::Value::Object(given)), Some(now)) =
            (object.get_mut(*name), now.as_object())
        else {
            continue;
        };
        for (field, value) in now {
            if !given.contains_key(field) {
                given.insert(field.clone(), value.clone());
                filled.push(format!("{field} = {value}"));
            }
        }
    }
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
            let mut parsed = Vec::with_capacity(calls.len());
            for call in &calls {
                parsed.push(parse_call_on(client, call).await?);
            }
            propose(client, &from, parsed, description, &nonce, json_mode).await?;
            Ok(())
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

/// Submits `calls` as a governance proposal from `from` and reports its inclusion (what
/// `phalanx gov propose` does, and the other commands' `--propose`).
pub async fn propose(
    client: &Client,
    from: &str,
    calls: Vec<PrivilegedCall>,
    description: String,
    nonce: &NonceFlag,
    json_mode: bool,
) -> Result<Hash> {
    let key = signer(from, dev_chain(client).await?)?;
    let call = Call::Governance(GovernanceCall::Propose {
        calls,
        description: description.into_bytes(),
    });
    let hash = sign_and_submit(client, &key, call, nonce).await?;
    report_inclusion(client, &hash, json_mode, true).await?;
    Ok(hash)
}

/// Dispatches `call` as the dev root account `from` and reports its inclusion (what
/// `phalanx root` does, and the other commands that send a privileged call).
pub async fn dispatch_as_root(
    client: &Client,
    from: &str,
    call: PrivilegedCall,
    nonce: &NonceFlag,
    json_mode: bool,
) -> Result<Hash> {
    let key = signer(from, dev_chain(client).await?)?;
    let call = Call::Root(RootCall::Dispatch(call));
    let hash = sign_and_submit(client, &key, call, nonce).await?;
    report_inclusion(client, &hash, json_mode, true).await?;
    Ok(hash)
}

/// Runs `phalanx root` against `target`.
pub fn root(args: RootArgs, target: &Target) -> Result<()> {
    let client = Client::new(&target.rpc)?;
    block_on(async {
        let call = parse_call_on(&client, &args.call).await?;
        dispatch_as_root(&client, &args.from, call, &args.nonce, target.json).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::complete;
    use serde_json::json;

    #[test]
    fn missing_parameters_keep_their_current_values_even_inside_a_batch() {
        let current = [
            (
                "set_chain_params",
                json!({"base_fee": 1, "block_interval_ms": 100}),
            ),
            (
                "set_governance_params",
                json!({"voting_period": 20, "min_turnout": 0}),
            ),
        ];
        let mut call = json!({"batch": [
            {"set_chain_params": {"base_fee": 5}},
            {"set_governance_params": {"voting_period": 30, "min_turnout": 7}},
            {"treasury_spend": {"to": "x", "amount": 1}},
        ]});
        let mut filled = Vec::new();
        complete(&mut call, &current, &mut filled);
        assert_eq!(
            call,
            json!({"batch": [
                {"set_chain_params": {"base_fee": 5, "block_interval_ms": 100}},
                {"set_governance_params": {"voting_period": 30, "min_turnout": 7}},
                {"treasury_spend": {"to": "x", "amount": 1}},
            ]})
        );
        assert_eq!(filled, vec!["block_interval_ms = 100".to_string()]);
    }
}
