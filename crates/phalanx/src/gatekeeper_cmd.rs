//! Gatekeepers, clusters and key epochs (DESIGN.md §8): `phalanx gatekeeper appoint|remove|list`,
//! `phalanx cluster create|add|remove|list|show` and `phalanx keys rotate|retire|epochs`.
//!
//! The commands that change something send one privileged call: by default dispatched by the
//! dev root (`--from`, default `alice`; dev chains only), exactly as `phalanx root` does, or
//! with `--propose` as a governance proposal, as `phalanx gov propose` does. They report the
//! inclusion like every command that sends a transaction; a call the chain refused is an error
//! (reason `call_failed`) that names its code, `gatekeeper.unregistered_worker` say. A worker
//! identity is 64 hex characters (`0x` optional), as `phalanx workers` lists them; anything
//! else is refused (reason `bad_identity`) before anything is sent.
//!
//! The listing commands show identities as hex, amounts in PHA, and flag the workers whose
//! attestation is SIMULATED (no real TEE: dev chains).

use crate::flags::{NodeFlags, Target};
use crate::gov_cmd::{dispatch_as_root, propose};
use crate::output::print;
use crate::submit::{block_on, NonceFlag};
use crate::{CliError, Result};
use clap::{Args, Subcommand};
use phalanx_client::{
    Client, ClusterDetail, ClustersPage, KeyEpoch, KeyEpochsPage, TransactionStatus,
};
use phalanx_primitives::attestation::QuoteKind;
use phalanx_primitives::call::PrivilegedCall;
use phalanx_primitives::units::format_pha;
use phalanx_primitives::Hash;
use serde_json::json;
use std::collections::BTreeMap;

/// How a command that changes the gatekeeper module sends its privileged call.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// Who signs: the dev root (dev chains: alice), or with --propose the proposer (dev name,
    /// key file, or `-` to read a mnemonic from stdin).
    #[arg(long, default_value = "alice")]
    pub from: String,
    /// Submit the call as a governance proposal (locks the proposal deposit) instead of
    /// dispatching it as the dev root.
    #[arg(long)]
    pub propose: bool,
    /// What the proposal does and why (with --propose; a sentence naming the call otherwise).
    #[arg(long, requires = "propose")]
    pub description: Option<String>,
    #[command(flatten)]
    pub nonce: NonceFlag,
    #[command(flatten)]
    pub node: NodeFlags,
}

/// `phalanx gatekeeper …`
#[derive(Debug, Subcommand)]
pub enum GatekeeperCommand {
    /// Appoint a registered worker as a gatekeeper; its operator reserves the gatekeeper stake.
    Appoint {
        /// The worker's identity key (hex, as `phalanx workers` lists it).
        identity: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Remove a gatekeeper: its stake unbonds, and a new key epoch is requested.
    Remove {
        /// The gatekeeper's identity key (hex).
        identity: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// List the gatekeepers, the stakes still unbonding, and the stake rules.
    List {
        #[command(flatten)]
        node: NodeFlags,
    },
}

/// `phalanx cluster …`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create an empty cluster (the chain assigns its index).
    Create {
        #[command(flatten)]
        send: SendArgs,
    },
    /// Add a registered worker to a cluster.
    Add {
        /// The cluster's index.
        cluster: u32,
        /// The worker's identity key (hex).
        worker: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Remove a worker from a cluster (a new key epoch is requested, so it gets no later key).
    Remove {
        /// The cluster's index.
        cluster: u32,
        /// The worker's identity key (hex).
        worker: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// List the clusters.
    List {
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Show a cluster: its members and its public key in each epoch.
    Show {
        /// The cluster's index.
        cluster: u32,
        #[command(flatten)]
        node: NodeFlags,
    },
}

/// `phalanx keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Start a new key epoch: a gatekeeper enclave generates a fresh master key.
    Rotate {
        #[command(flatten)]
        send: SendArgs,
    },
    /// Retire an older key epoch: every enclave erases its keys, so what was sealed under them
    /// can no longer be opened.
    Retire {
        /// The epoch to retire (older than the current one).
        epoch: u32,
        #[command(flatten)]
        send: SendArgs,
    },
    /// List the key epochs: requested, published (with the master public key) or retired.
    Epochs {
        #[command(flatten)]
        node: NodeFlags,
    },
}

impl GatekeeperCommand {
    /// The node flags given to the command.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            GatekeeperCommand::Appoint { send, .. } | GatekeeperCommand::Remove { send, .. } => {
                &send.node
            }
            GatekeeperCommand::List { node } => node,
        }
    }
}

impl ClusterCommand {
    /// The node flags given to the command.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            ClusterCommand::Create { send }
            | ClusterCommand::Add { send, .. }
            | ClusterCommand::Remove { send, .. } => &send.node,
            ClusterCommand::List { node } | ClusterCommand::Show { node, .. } => node,
        }
    }
}

impl KeysCommand {
    /// The node flags given to the command.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            KeysCommand::Rotate { send } | KeysCommand::Retire { send, .. } => &send.node,
            KeysCommand::Epochs { node } => node,
        }
    }
}

/// A worker identity key: 32 bytes as 64 hex characters, `0x` optional.
pub fn parse_identity(text: &str) -> Result<[u8; 32]> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            CliError::with_reason(
                "bad_identity",
                format!(
                    "`{text}` is not a worker identity key: 64 hex characters (0x optional), as \
                     `phalanx workers` lists them"
                ),
            )
        })
}

/// A sentence naming `call`, the description of a proposal given none.
fn describe(call: &PrivilegedCall) -> String {
    match call {
        PrivilegedCall::AppointGatekeeper(identity) => {
            format!("appoint gatekeeper {}", hex::encode(identity))
        }
        PrivilegedCall::RemoveGatekeeper(identity) => {
            format!("remove gatekeeper {}", hex::encode(identity))
        }
        PrivilegedCall::CreateCluster => "create a cluster".to_string(),
        PrivilegedCall::AddClusterWorker { cluster, worker } => {
            format!("add worker {} to cluster {cluster}", hex::encode(worker))
        }
        PrivilegedCall::RemoveClusterWorker { cluster, worker } => {
            format!(
                "remove worker {} from cluster {cluster}",
                hex::encode(worker)
            )
        }
        PrivilegedCall::RotateKeys => "rotate the keys: start a new key epoch".to_string(),
        PrivilegedCall::RetireKeyEpoch { epoch } => format!("retire key epoch {epoch}"),
        other => format!("{}", json!(other)),
    }
}

/// Sends `call` as `args` say and reports its inclusion; in text mode, adds what to do next
/// (a proposal's id, a new cluster's index).
async fn send(
    client: &Client,
    call: PrivilegedCall,
    args: SendArgs,
    json_mode: bool,
) -> Result<()> {
    let creates_cluster = call == PrivilegedCall::CreateCluster;
    if args.propose {
        let description = args.description.unwrap_or_else(|| describe(&call));
        let hash = propose(
            client,
            &args.from,
            vec![call],
            description,
            &args.nonce,
            json_mode,
        )
        .await?;
        if !json_mode {
            if let Some(id) = event_field(client, &hash, "proposed", "proposal").await? {
                crate::output::line(&format!(
                    "proposal #{id}: vote with `phalanx gov vote {id} aye --amount <PHA> --from <account>`; it runs once voting ends, if it passes"
                ));
            }
        }
        return Ok(());
    }
    let hash = dispatch_as_root(client, &args.from, call, &args.nonce, json_mode).await?;
    if creates_cluster && !json_mode {
        if let Some(index) = event_field(client, &hash, "cluster_created", "cluster").await? {
            crate::output::line(&format!(
                "cluster #{index} created; add workers with `phalanx cluster add {index} <worker identity>`"
            ));
        }
    }
    Ok(())
}

/// Field `field` (an integer) of the first `event` in finalized transaction `hash`'s receipt.
async fn event_field(
    client: &Client,
    hash: &Hash,
    event: &str,
    field: &str,
) -> Result<Option<u64>> {
    let TransactionStatus::Finalized(included) = client.transaction(hash).await? else {
        return Ok(None);
    };
    Ok(included
        .receipt
        .events
        .iter()
        .find(|e| e.name == event)
        .and_then(|e| e.fields.get(field))
        .and_then(serde_json::Value::as_u64))
}

/// How each registered worker attests: identity → SIMULATED or not.
async fn attestation_kinds(client: &Client) -> Result<BTreeMap<[u8; 32], QuoteKind>> {
    let mut kinds = BTreeMap::new();
    let mut start = None;
    loop {
        let page = client.workers(start.as_ref(), None).await?;
        kinds.extend(page.workers.iter().map(|w| (w.identity, w.quote_kind)));
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(kinds),
        }
    }
}

/// `"  [SIMULATED attestation: no real TEE]"` for a simulated worker, a note for one no longer
/// registered, nothing otherwise.
fn attestation_note(kinds: &BTreeMap<[u8; 32], QuoteKind>, identity: &[u8; 32]) -> &'static str {
    match kinds.get(identity) {
        Some(QuoteKind::Simulated) => "  [SIMULATED attestation: no real TEE]",
        Some(_) => "",
        None => "  (not a registered worker)",
    }
}

/// A span of chain time, roughly: `45 s`, `12 min`, `5 h`, `7 d`.
fn duration_text(ms: u64) -> String {
    let s = ms / 1_000;
    match s {
        0..120 => format!("{s} s"),
        120..7_200 => format!("{} min", s / 60),
        7_200..172_800 => format!("{} h", s / 3_600),
        _ => format!("{} d", s / 86_400),
    }
}

/// Runs `phalanx gatekeeper …` against `target`.
pub fn run_gatekeeper(command: GatekeeperCommand, target: &Target) -> Result<()> {
    let json_mode = target.json;
    match command {
        GatekeeperCommand::Appoint {
            identity,
            send: args,
        } => {
            let call = PrivilegedCall::AppointGatekeeper(parse_identity(&identity)?);
            let client = Client::new(&target.rpc)?;
            block_on(send(&client, call, args, json_mode))
        }
        GatekeeperCommand::Remove {
            identity,
            send: args,
        } => {
            let call = PrivilegedCall::RemoveGatekeeper(parse_identity(&identity)?);
            let client = Client::new(&target.rpc)?;
            block_on(send(&client, call, args, json_mode))
        }
        GatekeeperCommand::List { .. } => {
            let client = Client::new(&target.rpc)?;
            block_on(async {
                let set = client.gatekeepers().await?;
                let kinds = attestation_kinds(&client).await?;
                let now_ms = client.status().await?.timestamp_ms;
                print(json_mode, &json!(set), || {
                    let mut lines = vec![format!(
                        "{} gatekeeper(s) at height {}; each reserves a stake of {} from its operator, released {} of chain time after its removal",
                        set.gatekeepers.len(),
                        set.height,
                        format_pha(set.params.stake),
                        duration_text(set.params.unbonding_ms),
                    )];
                    for g in &set.gatekeepers {
                        lines.push(format!(
                            "  {}{}\n    operator {}  stake {}  appointed at height {}",
                            hex::encode(g.identity),
                            attestation_note(&kinds, &g.identity),
                            g.operator,
                            format_pha(g.stake),
                            g.appointed_at,
                        ));
                    }
                    if !set.unbonding.is_empty() {
                        lines.push(format!("unbonding ({}):", set.unbonding.len()));
                    }
                    for u in &set.unbonding {
                        let when = if u.release_at_ms > now_ms {
                            format!("in {}", duration_text(u.release_at_ms - now_ms))
                        } else {
                            "with the next block".to_string()
                        };
                        lines.push(format!(
                            "  {}  operator {}  {} released at chain time {} ms ({when})",
                            hex::encode(u.identity),
                            u.operator,
                            format_pha(u.amount),
                            u.release_at_ms,
                        ));
                    }
                    lines.join("\n")
                });
                Ok(())
            })
        }
    }
}

/// Runs `phalanx cluster …` against `target`.
pub fn run_cluster(command: ClusterCommand, target: &Target) -> Result<()> {
    let json_mode = target.json;
    let call = match &command {
        ClusterCommand::Create { .. } => Some(PrivilegedCall::CreateCluster),
        ClusterCommand::Add {
            cluster, worker, ..
        } => Some(PrivilegedCall::AddClusterWorker {
            cluster: *cluster,
            worker: parse_identity(worker)?,
        }),
        ClusterCommand::Remove {
            cluster, worker, ..
        } => Some(PrivilegedCall::RemoveClusterWorker {
            cluster: *cluster,
            worker: parse_identity(worker)?,
        }),
        ClusterCommand::List { .. } | ClusterCommand::Show { .. } => None,
    };
    let client = Client::new(&target.rpc)?;
    block_on(async move {
        match (command, call) {
            (ClusterCommand::Create { send: args }, Some(call))
            | (ClusterCommand::Add { send: args, .. }, Some(call))
            | (ClusterCommand::Remove { send: args, .. }, Some(call)) => {
                send(&client, call, args, json_mode).await
            }
            (ClusterCommand::List { .. }, _) => {
                let mut page = client.clusters(None, None).await?;
                while let Some(next) = page.next {
                    let more = client.clusters(Some(next), None).await?;
                    page.clusters.extend(more.clusters);
                    page = ClustersPage {
                        clusters: page.clusters,
                        ..more
                    };
                }
                print(json_mode, &json!(page), || {
                    let mut lines = vec![format!(
                        "{} cluster(s) at height {}",
                        page.clusters.len(),
                        page.height
                    )];
                    for c in &page.clusters {
                        lines.push(format!(
                            "  #{}  id {}  {} member(s)  created at height {}",
                            c.index,
                            hex::encode(c.id),
                            c.members,
                            c.created_at
                        ));
                    }
                    lines.join("\n")
                });
                Ok(())
            }
            (ClusterCommand::Show { cluster, .. }, _) => {
                let detail = client.cluster_with_members(cluster).await?;
                let kinds = attestation_kinds(&client).await?;
                print(json_mode, &json!(detail), || show_cluster(&detail, &kinds));
                Ok(())
            }
            (_, None) => Err(CliError::new("no call to send")),
        }
    })
}

fn show_cluster(detail: &ClusterDetail, kinds: &BTreeMap<[u8; 32], QuoteKind>) -> String {
    let c = &detail.cluster;
    let mut lines = vec![
        format!("cluster #{}  (id {})", c.index, hex::encode(c.id)),
        format!(
            "  created at height {}, {} member(s)",
            c.created_at, c.members
        ),
    ];
    if detail.members.is_empty() {
        lines.push("  members:     none".to_string());
    } else {
        lines.push("  members:".to_string());
    }
    for member in &detail.members {
        lines.push(format!(
            "    {}{}",
            hex::encode(member),
            attestation_note(kinds, member)
        ));
    }
    if detail.keys.is_empty() {
        lines
            .push("  public keys: none yet (a gatekeeper publishes one per key epoch)".to_string());
    } else {
        lines.push("  public keys:".to_string());
    }
    for key in &detail.keys {
        lines.push(format!(
            "    epoch {}  {}",
            key.epoch,
            hex::encode(key.public_key)
        ));
    }
    lines.push(format!("  (chain height {})", detail.height));
    lines.join("\n")
}

/// One key epoch as a line.
fn epoch_line(e: &KeyEpoch, kinds: &BTreeMap<[u8; 32], QuoteKind>) -> String {
    match (e.master_public, e.retired_at) {
        (None, _) => format!(
            "  epoch {}  requested at height {}, waiting for a gatekeeper enclave to publish its master key",
            e.epoch, e.requested_at
        ),
        (Some(master), retired) => {
            let by = e
                .generator
                .map(|g| format!("{}{}", hex::encode(g), attestation_note(kinds, &g)))
                .unwrap_or_else(|| "?".to_string());
            let state = match retired {
                Some(at) => format!("retired at height {at} (its keys are erased)"),
                None => "published".to_string(),
            };
            format!(
                "  epoch {}  {state}\n    master public key {}\n    generated by gatekeeper {by}; requested at height {}",
                e.epoch,
                hex::encode(master),
                e.requested_at
            )
        }
    }
}

fn epochs_text(page: &KeyEpochsPage, kinds: &BTreeMap<[u8; 32], QuoteKind>) -> String {
    if page.epochs.is_empty() {
        return format!(
            "no key epoch yet (height {}): appointing the first gatekeeper requests epoch 0",
            page.height
        );
    }
    let current = page
        .current
        .map_or("none published yet".to_string(), |e| e.to_string());
    let requested = page.requested.map_or("none".to_string(), |e| e.to_string());
    let mut lines = vec![format!(
        "key epochs at height {}: current {current}, requested {requested}",
        page.height
    )];
    lines.extend(page.epochs.iter().map(|e| epoch_line(e, kinds)));
    lines.join("\n")
}

/// Runs `phalanx keys …` against `target`.
pub fn run_keys(command: KeysCommand, target: &Target) -> Result<()> {
    let json_mode = target.json;
    let client = Client::new(&target.rpc)?;
    block_on(async move {
        match command {
            KeysCommand::Rotate { send: args } => {
                send(&client, PrivilegedCall::RotateKeys, args, json_mode).await
            }
            KeysCommand::Retire { epoch, send: args } => {
                send(
                    &client,
                    PrivilegedCall::RetireKeyEpoch { epoch },
                    args,
                    json_mode,
                )
                .await
            }
            KeysCommand::Epochs { .. } => {
                let page = client.all_key_epochs().await?;
                let kinds = attestation_kinds(&client).await?;
                print(json_mode, &json!(page), || epochs_text(&page, &kinds));
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_64_hex_characters() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_identity(&hex).ok(), Some([0xab; 32]));
        assert_eq!(parse_identity(&format!("0x{hex}")).ok(), Some([0xab; 32]));
        for bad in [
            "",
            "zz",
            &"ab".repeat(31),
            &"ab".repeat(33),
            &format!("{hex}0"),
        ] {
            let e = parse_identity(bad).expect_err(bad);
            assert_eq!(e.reason(), "bad_identity", "{bad}");
        }
    }

    #[test]
    fn durations_read_in_the_largest_whole_unit() {
        assert_eq!(duration_text(60_000), "60 s");
        assert_eq!(duration_text(600_000), "10 min");
        assert_eq!(duration_text(3 * 3_600_000), "3 h");
        assert_eq!(duration_text(7 * 24 * 3_600_000), "7 d");
    }

    #[test]
    fn epochs_read_as_requested_published_or_retired() {
        let kinds = BTreeMap::from([([2; 32], QuoteKind::Simulated)]);
        let page = KeyEpochsPage {
            epochs: vec![
                KeyEpoch {
                    epoch: 0,
                    master_public: Some([1; 32]),
                    generator: Some([2; 32]),
                    requested_at: 3,
                    retired_at: Some(9),
                },
                KeyEpoch {
                    epoch: 1,
                    master_public: None,
                    generator: None,
                    requested_at: 8,
                    retired_at: None,
                },
            ],
            next: None,
            current: Some(0),
            requested: Some(1),
            height: 10,
        };
        assert_eq!(
            epochs_text(&page, &kinds),
            format!(
                "key epochs at height 10: current 0, requested 1\n  epoch 0  retired at height 9 (its keys are erased)\n    master public key {}\n    generated by gatekeeper {}  [SIMULATED attestation: no real TEE]; requested at height 3\n  epoch 1  requested at height 8, waiting for a gatekeeper enclave to publish its master key",
                "01".repeat(32),
                "02".repeat(32)
            )
        );
        let none = KeyEpochsPage {
            epochs: vec![],
            current: None,
            requested: None,
            ..page
        };
        assert_eq!(
            epochs_text(&none, &kinds),
            "no key epoch yet (height 10): appointing the first gatekeeper requests epoch 0"
        );
    }
}
