//! Mining from the command line: `phalanx pool …` (stake pools), `phalanx worker
//! start|stop|reclaim` (a bound worker's lifecycle), `phalanx rewards WHO` (why an account or a
//! worker earned what it earned) and `phalanx mining` (the rules, the settlement, recent days).
//!
//! Amounts are PHA (`1.5` is 1.5 PHA). A withdrawal names PHA too; it is turned into shares at
//! the pool's current price (at most the shares held), or `--all` redeems every share.

use crate::accounts::{account, pha_amount, signer};
use crate::flags::{NodeFlags, Target};
use crate::gatekeeper_cmd::parse_identity;
use crate::output;
use crate::submit::{block_on, dev_chain, report_inclusion, sign_and_submit, NonceFlag};
use crate::{CliError, Result};
use clap::{Args, Subcommand};
use phalanx_client::Client;
use phalanx_primitives::call::{Call, MessageQueueCall, MiningCall, SignedMessage};
use phalanx_primitives::units::format_pha;
use phalanx_primitives::Balance;
use serde_json::{json, Value};

/// `phalanx pool …`
#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Create a stake pool owned by `--from`.
    Create {
        /// The owner's cut of rewards, in percent (0 to 100, e.g. 12.5).
        #[arg(long, default_value = "0")]
        commission: String,
        /// The most PHA contributions may bring the pool to.
        #[arg(long)]
        cap: Option<String>,
        /// Only these accounts may contribute (repeat the flag).
        #[arg(long = "allow")]
        allow: Vec<String>,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Contribute PHA to a pool for shares.
    Contribute {
        /// The pool's number.
        pool: u64,
        /// PHA to contribute.
        amount: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Redeem shares worth AMOUNT PHA (or all with --all): paid at once from free stake, or
    /// queued until stake comes back from workers.
    Withdraw {
        /// The pool's number.
        pool: u64,
        /// PHA to withdraw.
        #[arg(required_unless_present = "all")]
        amount: Option<String>,
        /// Redeem every share you hold.
        #[arg(long, conflicts_with = "amount")]
        all: bool,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Bind a registered worker you operate to your pool.
    AddWorker {
        /// The pool's number.
        pool: u64,
        /// The worker's identity key (hex, as `phalanx workers` lists it).
        identity: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Unbind a worker that is ready (stopped and reclaimed) and fully paid.
    RemoveWorker {
        /// The pool's number.
        pool: u64,
        /// The worker's identity key (hex).
        identity: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// A pool: value, free stake, share price, shareholders, queue, workers.
    Info {
        /// The pool's number.
        pool: u64,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Every stake pool.
    List {
        #[command(flatten)]
        node: NodeFlags,
    },
}

/// `phalanx worker start|stop|reclaim …`
#[derive(Debug, Subcommand)]
pub enum WorkerAction {
    /// Start a bound worker computing with stake from its pool's free stake.
    Start {
        /// The pool's number.
        pool: u64,
        /// The worker's identity key (hex).
        identity: String,
        /// PHA of stake to bind: at least k·sqrt(P), the `least stake` `phalanx rewards
        /// IDENTITY` shows once the worker is bound (about 2,240 PHA for a dev worker).
        #[arg(long)]
        stake: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Stop a computing worker: it cools down, then its stake can be reclaimed.
    Stop {
        /// The pool's number.
        pool: u64,
        /// The worker's identity key (hex).
        identity: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Return a cooled-down worker's stake to its pool (anyone may do it).
    Reclaim {
        /// The pool's number.
        pool: u64,
        /// The worker's identity key (hex).
        identity: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Submit evidence that a worker or gatekeeper enclave signed two different messages for
    /// one sequence: the enclave is banned and slashed, and the fee comes back.
    ReportConflict {
        /// The other signed message: hex of its SCALE bytes, or its JSON (`origin`,
        /// `sequence`, `topic`, `payload`, `signature`).
        message: String,
        #[command(flatten)]
        send: SendArgs,
    },
}

/// A signed message from hex SCALE bytes or JSON.
fn parse_signed_message(text: &str) -> Result<SignedMessage> {
    let text = text.trim();
    let bad = |why: String| {
        CliError::with_reason(
            "invalid_arguments",
            format!("not a signed message ({why}): give the hex of its SCALE bytes or its JSON"),
        )
    };
    if text.starts_with('{') {
        return serde_json::from_str(text).map_err(|e| bad(e.to_string()));
    }
    let bytes = hex::decode(text.trim_start_matches("0x")).map_err(|e| bad(e.to_string()))?;
    phalanx_primitives::decode_strict(&bytes, 1 << 20).map_err(|e| bad(e.to_string()))
}

/// The sender, nonce and node of a command that sends a transaction.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Who signs and pays: dev account name, key file, or `-` for a mnemonic on stdin.
    #[arg(long)]
    pub from: String,
    /// Return once submitted instead of waiting for finalization.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub nonce: NonceFlag,
    #[command(flatten)]
    pub node: NodeFlags,
}

/// `phalanx stake …` (validator bonds)
#[derive(Debug, Subcommand)]
pub enum StakeCommand {
    /// Bond PHA as a validator: `--from` is the validator's key file (its consensus key is its
    /// account). Stored equivocation evidence slashes the bond.
    Bond {
        /// PHA to bond.
        amount: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Start bonded PHA on its way out: released after the unbonding period, slashable until
    /// then.
    Unbond {
        /// PHA to unbond.
        amount: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Every bond (or one account's) and the staking rules.
    Info {
        /// An account address, dev name or 0x-hex key; all bonds when absent.
        who: Option<String>,
        #[command(flatten)]
        node: NodeFlags,
    },
}

impl StakeCommand {
    /// The node flags of the subcommand.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            StakeCommand::Bond { send, .. } | StakeCommand::Unbond { send, .. } => &send.node,
            StakeCommand::Info { node, .. } => node,
        }
    }
}

/// Runs `phalanx stake …` against `target`.
pub fn run_stake(command: StakeCommand, target: &Target) -> Result<()> {
    use phalanx_primitives::call::StakingCall;
    let client = Client::new(&target.rpc)?;
    let json_mode = target.json;
    block_on(async move {
        match command {
            StakeCommand::Bond { amount, send: args } => {
                let call = Call::Staking(StakingCall::Bond {
                    amount: pha_amount(&amount)?,
                });
                send(&client, &args, call, json_mode).await
            }
            StakeCommand::Unbond { amount, send: args } => {
                let call = Call::Staking(StakingCall::Unbond {
                    amount: pha_amount(&amount)?,
                });
                send(&client, &args, call, json_mode).await
            }
            StakeCommand::Info { who, .. } => {
                let mut bonds = Vec::new();
                let mut start: Option<String> = match &who {
                    Some(spec) => {
                        let id = match parse_identity(spec) {
                            Ok(bytes) => phalanx_primitives::AccountId(bytes),
                            Err(_) => account(spec, dev_chain(&client).await?)?,
                        };
                        Some(format!("0x{}", hex::encode(id.0)))
                    }
                    None => None,
                };
                let only = start.clone();
                let mut params;
                loop {
                    let args = start.iter().map(|s| json!(s)).collect();
                    let page: Value = client.call("phalanx_bonds", args).await?;
                    params = page["params"].clone();
                    bonds.extend(page["bonds"].as_array().cloned().unwrap_or_default());
                    match (page["next"].as_str(), &only) {
                        (Some(next), None) => start = Some(next.to_string()),
                        _ => break,
                    }
                }
                if let Some(only) = &only {
                    let wanted = only.trim_start_matches("0x").to_string();
                    bonds.retain(|b| {
                        b["account"].as_str().is_some_and(|a| {
                            phalanx_primitives::AccountId::from_address(a)
                                .is_ok_and(|id| hex::encode(id.0) == wanted)
                        })
                    });
                }
                let value = json!({ "bonds": bonds, "params": params });
                output::print(json_mode, &value, || {
                    let mut lines: Vec<String> = bonds
                        .iter()
                        .map(|b| {
                            format!(
                                "{}  bonded {}  unbonding {}  slashed {}",
                                b["account"].as_str().unwrap_or("?"),
                                units(&b["bonded"]),
                                units(&json!(serde_json::from_value::<Balance>(
                                    b["total"].clone()
                                )
                                .unwrap_or(0)
                                .saturating_sub(
                                    serde_json::from_value::<Balance>(b["bonded"].clone())
                                        .unwrap_or(0)
                                ))),
                                units(&b["slashed"])
                            )
                        })
                        .collect();
                    if lines.is_empty() {
                        lines.push("no bonds".into());
                    }
                    lines.push(format!(
                        "rules: a validator bonds at least {}; unbonding takes {} s of chain time; each stored fault slashes {} of the bond",
                        units(&params["min_validator_bond"]),
                        params["unbonding_ms"].as_u64().unwrap_or(0) / 1000,
                        percent(&params["equivocation_slash_per_mille"])
                    ));
                    lines.join("\n")
                });
                Ok(())
            }
        }
    })
}

/// `phalanx rewards WHO`
#[derive(Debug, Args)]
pub struct RewardsArgs {
    /// A worker identity (hex), an account address or a dev account name.
    pub who: String,
    #[command(flatten)]
    pub node: NodeFlags,
}

impl PoolCommand {
    /// The node flags of the subcommand.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            PoolCommand::Create { send, .. }
            | PoolCommand::Contribute { send, .. }
            | PoolCommand::Withdraw { send, .. }
            | PoolCommand::AddWorker { send, .. }
            | PoolCommand::RemoveWorker { send, .. } => &send.node,
            PoolCommand::Info { node, .. } | PoolCommand::List { node } => node,
        }
    }
}

impl WorkerAction {
    /// The node flags of the subcommand.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            WorkerAction::Start { send, .. }
            | WorkerAction::Stop { send, .. }
            | WorkerAction::Reclaim { send, .. }
            | WorkerAction::ReportConflict { send, .. } => &send.node,
        }
    }
}

/// A percentage with up to one decimal as per mille: `12.5` → 125.
fn per_mille(text: &str) -> Result<u16> {
    let bad = || {
        CliError::with_reason(
            "invalid_arguments",
            format!("`{text}` is not a commission in percent from 0 to 100 (e.g. 12.5)"),
        )
    };
    let (whole, tenth) = match text.trim_end_matches('%').split_once('.') {
        Some((w, t)) if t.len() == 1 => (w, t),
        Some(_) => return Err(bad()),
        None => (text.trim_end_matches('%'), "0"),
    };
    let whole: u16 = whole.parse().map_err(|_| bad())?;
    let tenth: u16 = tenth.parse().map_err(|_| bad())?;
    let value = whole
        .checked_mul(10)
        .and_then(|v| v.checked_add(tenth))
        .ok_or_else(bad)?;
    if value > 1_000 {
        return Err(bad());
    }
    Ok(value)
}

async fn send(client: &Client, args: &SendArgs, call: Call, json_mode: bool) -> Result<()> {
    let key = signer(&args.from, dev_chain(client).await?)?;
    let hash = sign_and_submit(client, &key, call, &args.nonce).await?;
    report_inclusion(client, &hash, json_mode, !args.no_wait).await
}

/// Runs `phalanx pool …` against `target`.
pub fn run_pool(command: PoolCommand, target: &Target) -> Result<()> {
    let client = Client::new(&target.rpc)?;
    let json_mode = target.json;
    block_on(async move {
        match command {
            PoolCommand::Create {
                commission,
                cap,
                allow,
                send: args,
            } => {
                let dev = dev_chain(&client).await?;
                let allow_list = if allow.is_empty() {
                    None
                } else {
                    Some(
                        allow
                            .iter()
                            .map(|spec| account(spec, dev))
                            .collect::<Result<Vec<_>>>()?,
                    )
                };
                let call = Call::Mining(MiningCall::CreatePool {
                    commission_per_mille: per_mille(&commission)?,
                    cap: cap.as_deref().map(pha_amount).transpose()?,
                    allow_list,
                });
                send(&client, &args, call, json_mode).await
            }
            PoolCommand::Contribute {
                pool,
                amount,
                send: args,
            } => {
                let call = Call::Mining(MiningCall::Contribute {
                    pool,
                    amount: pha_amount(&amount)?,
                });
                send(&client, &args, call, json_mode).await
            }
            PoolCommand::Withdraw {
                pool,
                amount,
                all,
                send: args,
            } => {
                let me = signer(&args.from, dev_chain(&client).await?)?.account();
                let rewards: Value = client
                    .call(
                        "phalanx_rewards",
                        vec![json!(format!("0x{}", hex::encode(me.0)))],
                    )
                    .await?;
                let held = rewards["stakes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|s| s["pool"].as_u64() == Some(pool))
                    .cloned()
                    .ok_or_else(|| {
                        CliError::with_reason(
                            "not_enough_shares",
                            format!("you hold no shares of pool #{pool}"),
                        )
                    })?;
                let shares: u128 = serde_json::from_value(held["shares"].clone()).unwrap_or(0);
                let value: Balance = serde_json::from_value(held["value"].clone()).unwrap_or(0);
                let shares = match (all, amount) {
                    (true, _) => shares,
                    (false, Some(text)) => {
                        let wanted = pha_amount(&text)?;
                        if value == 0 || wanted > value {
                            return Err(CliError::with_reason(
                                "not_enough_shares",
                                format!(
                                    "your shares of pool #{pool} are worth {}, less than {}",
                                    format_pha(value),
                                    format_pha(wanted)
                                ),
                            ));
                        }
                        // Rounded up, so the withdrawal is worth at least what was asked.
                        let exact = wanted.saturating_mul(shares);
                        exact.div_ceil(value).min(shares)
                    }
                    (false, None) => {
                        return Err(CliError::with_reason(
                            "invalid_arguments",
                            "give an amount or --all",
                        ))
                    }
                };
                let call = Call::Mining(MiningCall::Withdraw { pool, shares });
                send(&client, &args, call, json_mode).await
            }
            PoolCommand::AddWorker {
                pool,
                identity,
                send: args,
            } => {
                let worker = parse_identity(&identity)?;
                send(
                    &client,
                    &args,
                    Call::Mining(MiningCall::AddWorker { pool, worker }),
                    json_mode,
                )
                .await
            }
            PoolCommand::RemoveWorker {
                pool,
                identity,
                send: args,
            } => {
                let worker = parse_identity(&identity)?;
                send(
                    &client,
                    &args,
                    Call::Mining(MiningCall::RemoveWorker { pool, worker }),
                    json_mode,
                )
                .await
            }
            PoolCommand::Info { pool, .. } => {
                let info: Value = client.call("phalanx_pool", vec![json!(pool)]).await?;
                output::print(json_mode, &info, || pool_text(&info));
                Ok(())
            }
            PoolCommand::List { .. } => {
                let mut all = Vec::new();
                let mut start: Option<u64> = None;
                loop {
                    let params = start.iter().map(|s| json!(s)).collect();
                    let page: Value = client.call("phalanx_pools", params).await?;
                    all.extend(page["pools"].as_array().cloned().unwrap_or_default());
                    match page["next"].as_u64() {
                        Some(next) => start = Some(next),
                        None => break,
                    }
                }
                let value = json!({ "pools": all });
                output::print(json_mode, &value, || {
                    if all.is_empty() {
                        return "no stake pools".to_string();
                    }
                    all.iter().map(pool_line).collect::<Vec<_>>().join("\n")
                });
                Ok(())
            }
        }
    })
}

/// Runs `phalanx worker start|stop|reclaim …` against `target`.
pub fn run_worker(action: WorkerAction, target: &Target) -> Result<()> {
    let client = Client::new(&target.rpc)?;
    let json_mode = target.json;
    block_on(async move {
        let (call, args) = match action {
            WorkerAction::Start {
                pool,
                identity,
                stake,
                send,
            } => (
                MiningCall::StartWorker {
                    pool,
                    worker: parse_identity(&identity)?,
                    stake: pha_amount(&stake)?,
                },
                send,
            ),
            WorkerAction::Stop {
                pool,
                identity,
                send,
            } => (
                MiningCall::StopWorker {
                    pool,
                    worker: parse_identity(&identity)?,
                },
                send,
            ),
            WorkerAction::Reclaim {
                pool,
                identity,
                send,
            } => (
                MiningCall::ReclaimWorker {
                    pool,
                    worker: parse_identity(&identity)?,
                },
                send,
            ),
            WorkerAction::ReportConflict {
                message,
                send: args,
            } => {
                let call = Call::MessageQueue(MessageQueueCall::ReportConflict(
                    parse_signed_message(&message)?,
                ));
                return send(&client, &args, call, json_mode).await;
            }
        };
        send(&client, &args, Call::Mining(call), json_mode).await
    })
}

/// Runs `phalanx rewards WHO`.
pub fn run_rewards(args: RewardsArgs, target: &Target) -> Result<()> {
    let client = Client::new(&target.rpc)?;
    let json_mode = target.json;
    block_on(async move {
        let who = match parse_identity(&args.who) {
            Ok(bytes) => format!("0x{}", hex::encode(bytes)),
            Err(_) => {
                let id = account(&args.who, dev_chain(&client).await?)?;
                format!("0x{}", hex::encode(id.0))
            }
        };
        let value: Value = client.call("phalanx_rewards", vec![json!(who)]).await?;
        output::print(json_mode, &value, || rewards_text(&value));
        Ok(())
    })
}

/// Runs `phalanx mining`.
pub fn run_mining(node: &NodeFlags, target: &Target) -> Result<()> {
    let _ = node;
    let client = Client::new(&target.rpc)?;
    let json_mode = target.json;
    block_on(async move {
        let value: Value = client.call("phalanx_mining", vec![]).await?;
        output::print(json_mode, &value, || mining_text(&value));
        Ok(())
    })
}

fn units(value: &Value) -> String {
    serde_json::from_value::<Balance>(value.clone())
        .map(format_pha)
        .unwrap_or_else(|_| "?".into())
}

fn pool_line(info: &Value) -> String {
    let pool = &info["pool"];
    format!(
        "pool #{}  owner {}  commission {}  value {}  free {}  bound {}  workers {}{}",
        pool["id"],
        pool["owner"].as_str().unwrap_or("?"),
        percent(&pool["commission_per_mille"]),
        units(&info["value"]),
        units(&info["free"]),
        units(&pool["bound"]),
        pool["workers"].as_array().map_or(0, Vec::len),
        if info["bankrupt"].as_bool() == Some(true) {
            "  BANKRUPT"
        } else {
            ""
        }
    )
}

/// Per mille as a percentage (`125` → `12.5%`).
fn percent(per_mille: &Value) -> String {
    let value = per_mille.as_u64().unwrap_or(0);
    match value % 10 {
        0 => format!("{}%", value / 10),
        tenth => format!("{}.{tenth}%", value / 10),
    }
}

fn miner_line(w: &Value) -> String {
    let m = &w["worker"];
    let simulated = if w["attestation"] == "simulated" {
        "  [SIMULATED attestation: no real TEE]"
    } else {
        ""
    };
    format!(
        "  worker {}  {}  stake {}  P {}  V {}  share {}  earned {}  slashed {}  heartbeats {} answered / {} missed{simulated}",
        m["identity"].as_str().unwrap_or("?"),
        m["state"].as_str().unwrap_or("?"),
        units(&m["stake"]),
        m["performance"],
        w["value"].as_str().unwrap_or("?"),
        w["share"].as_str().unwrap_or("-"),
        units(&m["earned"]),
        units(&m["slashed"]),
        m["heartbeats_answered"],
        m["heartbeats_missed"],
    )
}

fn pool_text(info: &Value) -> String {
    let mut lines = vec![pool_line(&info["info"])];
    if let Some(price) = info["info"]["share_price"].as_str() {
        lines.push(format!(
            "  share price {price} (what a share contributed at 1 PHA is worth now)"
        ));
    }
    for holder in info["shareholders"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  holder {}  shares {}  worth {}",
            holder["account"].as_str().unwrap_or("?"),
            holder["shares"],
            units(&holder["value"])
        ));
    }
    for request in info["queue"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  queued withdrawal: {} for {} shares since {} ms",
            request["who"].as_str().unwrap_or("?"),
            request["shares"],
            request["since_ms"]
        ));
    }
    for worker in info["workers"].as_array().into_iter().flatten() {
        lines.push(miner_line(worker));
    }
    lines.join("\n")
}

fn rewards_text(value: &Value) -> String {
    let mut lines = Vec::new();
    if let Some(ban) = value["banned"].as_object() {
        lines.push(format!(
            "BANNED for provable misbehaviour ({}) at height {}: it can never compute again",
            ban.get("reason").and_then(Value::as_str).unwrap_or("?"),
            ban.get("at_height")
                .map_or("?".to_string(), Value::to_string)
        ));
    }
    if value["worker"].is_object() {
        let w = &value["worker"];
        lines.push(format!("worker of pool #{}:", w["worker"]["pool"]));
        lines.push(miner_line(w));
        lines.push(format!("  {}", w["why"].as_str().unwrap_or("")));
        lines.push(format!(
            "  conf {}  least stake {}  points so far today {}",
            w["confidence"].as_str().unwrap_or("?"),
            units(&w["min_stake"]),
            w["points_today"].as_str().unwrap_or("?")
        ));
        if let Some(last) = w["last_payout"].as_object() {
            lines.push(format!(
                "  last payout: day {}: {} points of the day's {} → {}",
                last["day"],
                last["points"].as_str().unwrap_or("?"),
                last["day_points"].as_str().unwrap_or("?"),
                units(&last["reward"])
            ));
        }
    }
    for stake in value["stakes"].as_array().into_iter().flatten() {
        lines.push(format!(
            "stake in pool #{}: {} shares worth {}",
            stake["pool"],
            stake["shares"],
            units(&stake["value"])
        ));
    }
    for owned in value["pools_owned"].as_array().into_iter().flatten() {
        lines.push(format!(
            "owner of pool #{}: commission {}, {} paid to you, {} to shareholders, {} slashed",
            owned["pool"],
            percent(&owned["commission_per_mille"]),
            units(&owned["commission_paid"]),
            units(&owned["rewards_to_shareholders"]),
            units(&owned["slashed"])
        ));
    }
    if lines.is_empty() {
        lines.push("no mining rewards: not a bound worker, no pool shares, no pool owned".into());
    }
    lines.join("\n")
}

fn mining_text(value: &Value) -> String {
    let s = &value["settlement"];
    let mut lines = vec![
        format!(
            "day {} (period {}): budget {}; mining pot {}; settlement {}",
            s["open_day"],
            value["period"],
            units(&value["open_day_budget"]),
            units(&value["mining_pot"]),
            s["phase"]["phase"].as_str().unwrap_or("?")
        ),
        format!(
            "rules: a day is {} s of chain time; least stake {}·sqrt(P) PHA; a heartbeat at most every {} s, {} blocks to answer; past {} s unresponsive in a day, {} of the stake is slashed; cooldown {} s; treasury share {}",
            value["params"]["day_ms"].as_u64().unwrap_or(0) / 1000,
            value["params"]["k_raw"].as_u64().map_or(0, |k| k / 1_000_000_000_000),
            3600 / value["params"]["max_challenges_per_hour"].as_u64().unwrap_or(1).max(1),
            value["params"]["answer_window_blocks"],
            value["params"]["unresponsive_grace_ms"].as_u64().unwrap_or(0) / 1000,
            percent(&value["params"]["unresponsive_slash_per_mille"]),
            value["params"]["cooldown_ms"].as_u64().unwrap_or(0) / 1000,
            percent(&value["params"]["treasury_per_mille"]),
        ),
    ];
    for day in value["recent_days"]
        .as_array()
        .into_iter()
        .flatten()
        .take(10)
    {
        lines.push(format!(
            "  day {}: budget {}, paid {} to {} workers, treasury {}, kept in pot {}",
            day["day"],
            units(&day["budget"]),
            units(&day["paid"]),
            day["workers"],
            units(&day["treasury"]),
            units(&day["kept_in_pot"])
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commissions_are_percent_with_one_decimal() {
        assert_eq!(per_mille("0").unwrap(), 0);
        assert_eq!(per_mille("12.5").unwrap(), 125);
        assert_eq!(per_mille("100").unwrap(), 1_000);
        assert_eq!(per_mille("7%").unwrap(), 70);
        for bad in ["100.1", "-1", "1.25", "x", "", "70000"] {
            assert!(per_mille(bad).is_err(), "{bad}");
        }
    }
}
