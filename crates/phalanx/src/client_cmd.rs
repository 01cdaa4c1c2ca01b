//! Client commands: keys, status, balances, transfers, blocks, transactions, treasury,
//! workers. Governance (`gov`, `root`) has a module of its own; both share `submit` and `output`.

use crate::accounts::{account, inspect, pha_amount, signer};
use crate::flags::{JsonFlag, NodeFlags, Target, TopFlags};
use crate::submit::{dev_chain, receipt_text, report_inclusion, sign_and_submit, NonceFlag};
use crate::{CliError, Result};
use clap::{Args, Subcommand};
use phalanx_client::{Client, TransactionStatus};
use phalanx_primitives::attestation::QuoteKind;
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::units::format_pha;
use phalanx_primitives::{Hash, Keypair};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

// `node_cmd` and `bench` reach these through here.
pub use crate::output::print;
pub use crate::submit::block_on;

/// The client commands that are not governance.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create or inspect keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Chain status: height, head, validators.
    Status {
        #[command(flatten)]
        node: NodeFlags,
    },
    /// An account's balance and nonce.
    Balance {
        /// Address or dev account name.
        who: String,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Send PHA.
    Transfer(TransferArgs),
    /// Claim what has vested of your vesting allocation (team and private-sale shares vest as
    /// the genesis config says): it is unfrozen, so it becomes spendable. Pays an ordinary fee.
    ClaimVested {
        /// Whose allocation: dev account name, key file, or `-` to read a mnemonic from stdin.
        #[arg(long)]
        from: String,
        /// Return once submitted instead of waiting for finalization.
        #[arg(long)]
        no_wait: bool,
        #[command(flatten)]
        nonce: NonceFlag,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Show a finalized block (default: the head).
    Block {
        /// Height or block hash.
        which: Option<String>,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Show a transaction's status and receipt.
    Tx {
        /// Transaction hash.
        hash: String,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// The treasury's balance (and the mining pot and issuance).
    Treasury {
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Registered TEE workers and the attestation policy.
    Workers {
        #[command(flatten)]
        node: NodeFlags,
    },
}

impl ClientCommand {
    /// Where the command connects and how it prints.
    pub fn target(&self, top: &TopFlags) -> Target {
        match self {
            ClientCommand::Key { command } => match command {
                KeyCommand::New { output, .. } | KeyCommand::Inspect { output, .. } => {
                    Target::new(top, None, Some(output))
                }
            },
            ClientCommand::Transfer(args) => Target::new(top, Some(&args.node), None),
            ClientCommand::ClaimVested { node, .. } => Target::new(top, Some(node), None),
            ClientCommand::Status { node }
            | ClientCommand::Balance { node, .. }
            | ClientCommand::Block { node, .. }
            | ClientCommand::Tx { node, .. }
            | ClientCommand::Treasury { node }
            | ClientCommand::Workers { node } => Target::new(top, Some(node), None),
        }
    }
}

/// `phalanx key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a new key (24-word mnemonic by default).
    New {
        /// Write the key to this new file (mode 600) instead of printing the secret; an
        /// existing file is never overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Create a raw 32-byte secret instead of a mnemonic.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        output: JsonFlag,
    },
    /// Show the address behind an address, dev name, key file, or `-` (a mnemonic or secret
    /// read from stdin).
    Inspect {
        /// What to inspect.
        what: String,
        #[command(flatten)]
        output: JsonFlag,
    },
}

/// `phalanx transfer …`
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Who pays: dev account name, key file, or `-` to read a mnemonic from stdin.
    #[arg(long)]
    pub from: String,
    /// Who receives: address or dev account name.
    #[arg(long)]
    pub to: String,
    /// Amount in PHA (up to 12 decimals, e.g. 1.5).
    #[arg(long, allow_hyphen_values = true)]
    pub amount: String,
    /// Return once submitted instead of waiting for finalization.
    #[arg(long)]
    pub no_wait: bool,
    #[command(flatten)]
    pub nonce: NonceFlag,
    #[command(flatten)]
    pub node: NodeFlags,
}

fn key_json(key: &Keypair) -> Value {
    json!({ "address": key.account(), "public_key": hex::encode(key.account().0) })
}

/// Creates `path` for a new key (mode 600 from the start) and writes `secret`; an existing
/// file is refused (reason `file_exists`), so a key is never lost to a typo.
fn write_new_key_file(path: &Path, secret: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => CliError::with_reason(
            "file_exists",
            format!(
                "`{}` already exists; refusing to overwrite it (it may hold a key): choose another --out or move it away",
                path.display()
            ),
        ),
        _ => CliError::with_reason("io", format!("cannot create `{}`: {e}", path.display())),
    })?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

fn key_command(command: KeyCommand, json_mode: bool) -> Result<()> {
    match command {
        KeyCommand::New { out, raw, .. } => {
            let (secret_text, key) = if raw {
                let key = Keypair::generate();
                (hex::encode(key.secret()), key)
            } else {
                Keypair::generate_mnemonic()
            };
            let mut value = key_json(&key);
            match &out {
                Some(path) => {
                    write_new_key_file(path, &secret_text)?;
                    value["file"] = json!(path);
                }
                None => value[if raw { "secret" } else { "mnemonic" }] = json!(secret_text),
            }
            print(json_mode, &value, || match &out {
                Some(path) => format!(
                    "address: {}\nkey written to {}",
                    key.account(),
                    path.display()
                ),
                None => format!(
                    "address: {}\n{}: {secret_text}\nkeep this secret: it controls the account",
                    key.account(),
                    if raw { "secret" } else { "mnemonic" }
                ),
            });
            Ok(())
        }
        KeyCommand::Inspect { what, .. } => {
            let id = inspect(&what)?;
            let value = json!({ "address": id, "public_key": hex::encode(id.0) });
            print(json_mode, &value, || {
                format!("address:    {id}\npublic key: {}", hex::encode(id.0))
            });
            Ok(())
        }
    }
}

/// Sends PHA, refusing before any fee is paid what would surely fail: a zero amount, or more
/// than the sender's free balance can cover together with the fee.
async fn transfer(client: &Client, args: TransferArgs, json_mode: bool) -> Result<()> {
    let amount = pha_amount(&args.amount)?;
    if amount == 0 {
        return Err(CliError::with_reason(
            "zero_amount",
            "the amount is zero: a transfer must move at least 0.000000000001 PHA",
        ));
    }
    let dev = dev_chain(client).await?;
    let key = signer(&args.from, dev)?;
    let to = account(&args.to, dev)?;
    let call = Call::Balances(BalancesCall::Transfer { to, amount });
    let fee = client.fee(&key, &call).await?;
    let sender = client.account(&key.account()).await?;
    let needed = amount.saturating_add(fee);
    if needed > sender.spendable {
        return Err(CliError::with_reason(
            "insufficient_balance",
            format!(
                "not enough spendable balance: {} can spend {}{}, and sending {} costs {} with the fee of {}; nothing was sent",
                key.account(),
                format_pha(sender.spendable),
                if sender.spendable < sender.free {
                    format!(
                        " of its {} free (the rest is frozen by open votes or unclaimed vesting)",
                        format_pha(sender.free)
                    )
                } else {
                    String::new()
                },
                format_pha(amount),
                format_pha(needed),
                format_pha(fee)
            ),
        ));
    }
    let hash = sign_and_submit(client, &key, call, &args.nonce).await?;
    report_inclusion(client, &hash, json_mode, !args.no_wait).await
}

/// Dispatches every client command but governance.
pub fn run(command: ClientCommand, target: &Target) -> Result<()> {
    let json_mode = target.json;
    if let ClientCommand::Key { command } = command {
        return key_command(command, json_mode);
    }
    let client = Client::new(&target.rpc)?;
    block_on(async move {
        match command {
            ClientCommand::Status { .. } => {
                let status = client.status().await?;
                let value: Value = client.call("phalanx_status", vec![]).await?;
                print(json_mode, &value, || {
                    format!(
                        "chain:      {}{}\ngenesis:    {}\nheight:     {}\nhead:       {}\nstate root: {}\nmempool:    {}\nvalidators: {}{}",
                        status.chain_id,
                        if status.production { "" } else { " (dev)" },
                        status.genesis_hash,
                        status.height,
                        status.head_hash,
                        status.state_root,
                        status.mempool,
                        status.validators.len(),
                        status.halted.map(|h| format!("\nHALTED:     {h}")).unwrap_or_default(),
                    )
                });
                Ok(())
            }
            ClientCommand::Balance { who, .. } => {
                let id = account(&who, dev_chain(&client).await?)?;
                let info = client.account(&id).await?;
                let value = json!({
                    "address": id, "free": info.free, "reserved": info.reserved, "locked": info.locked,
                    "vesting": info.vesting, "spendable": info.spendable,
                    "total": info.total, "nonce": info.nonce, "height": info.height,
                });
                print(json_mode, &value, || {
                    format!(
                        "{id}\n  spendable: {}\n  free:      {}\n  reserved:  {}\n  locked:    {} (by votes; free or staked PHA)\n  vesting:   {} (not claimed)\n  nonce:     {} (at height {})",
                        format_pha(info.spendable),
                        format_pha(info.free),
                        format_pha(info.reserved),
                        format_pha(info.locked),
                        format_pha(info.vesting),
                        info.nonce,
                        info.height
                    )
                });
                Ok(())
            }
            ClientCommand::Block { which, .. } => {
                let block = client.block(which.as_deref()).await?;
                print(json_mode, &json!(block), || {
                    format!(
                        "block {}\n  hash:       0x{}\n  parent:     0x{}\n  time (ms):  {}\n  state root: 0x{}\n  txs:        {}\n  certified:  {}",
                        block.height,
                        block.hash,
                        block.parent,
                        block.timestamp_ms,
                        block.state_root,
                        block.transactions.len(),
                        if block.certificate.is_empty() { "genesis or via descendant" } else { "yes" },
                    )
                });
                Ok(())
            }
            ClientCommand::Treasury { .. } => {
                let treasury = client.treasury().await?;
                print(json_mode, &json!(treasury), || {
                    format!(
                        "treasury {}\n  balance:          {}\n  mining pot:       {}\n  total issuance:   {}",
                        treasury.account,
                        format_pha(treasury.balance),
                        format_pha(treasury.mining_pot),
                        format_pha(treasury.total_issuance),
                    )
                });
                Ok(())
            }
            ClientCommand::Workers { .. } => {
                let page = client.workers(None, None).await?;
                print(json_mode, &json!(page), || {
                    let mut lines = vec![format!(
                        "{} registered worker(s) at height {}",
                        page.workers.len(),
                        page.height
                    )];
                    for w in &page.workers {
                        lines.push(format!(
                            "  {}{}
    operator {}  P {}  confidence {}‰  tcb {:?}
    endpoint {}  registered at {} (last attested at {})",
                            hex::encode(w.identity),
                            if w.quote_kind == QuoteKind::Simulated {
                                "  [SIMULATED attestation: no real TEE]"
                            } else {
                                ""
                            },
                            w.operator,
                            w.performance,
                            w.confidence,
                            w.tcb_status,
                            w.endpoint,
                            w.registered_at,
                            w.last_attested_at,
                        ));
                    }
                    let roots = page.policy.accepted_simulated_roots.len();
                    lines.push(format!(
                        "policy: {} allowed measurement(s), {} simulated root(s){}, registration {}",
                        page.policy.allowed_measurements.len(),
                        roots,
                        if roots > 0 { " (SIMULATED trust accepted: dev chain)" } else { "" },
                        if page.policy.registration_frozen { "frozen" } else { "open" },
                    ));
                    lines.join("\n")
                });
                Ok(())
            }
            ClientCommand::Transfer(args) => transfer(&client, args, json_mode).await,
            ClientCommand::ClaimVested {
                from,
                no_wait,
                nonce,
                ..
            } => {
                let dev = dev_chain(&client).await?;
                let key = signer(&from, dev)?;
                let call = Call::Balances(BalancesCall::ClaimVested);
                let hash = sign_and_submit(&client, &key, call, &nonce).await?;
                report_inclusion(&client, &hash, json_mode, !no_wait).await
            }
            ClientCommand::Tx { hash, .. } => {
                let hash = Hash::from_hex(&hash).ok_or_else(|| {
                    CliError::with_reason(
                        "bad_hash",
                        format!(
                            "`{hash}` is not a transaction hash: 64 hex characters, 0x optional"
                        ),
                    )
                })?;
                let status = client.transaction(&hash).await?;
                let value =
                    json!({ "hash": hash, "status": status.word(), "location": status.included() });
                print(json_mode, &value, || {
                    match &status {
                    TransactionStatus::Finalized(included) => receipt_text(&hash, included),
                    TransactionStatus::Pending => {
                        format!("transaction {hash}\n  pending: waiting in the node's mempool")
                    }
                    TransactionStatus::Unknown => format!(
                        "transaction {hash}\n  unknown to this node: neither in its mempool nor in a finalized block (dropped, expired, or never sent here)"
                    ),
                }
                });
                Ok(())
            }
            ClientCommand::Key { .. } => Err(CliError::new("key commands need no node")),
        }
    })
}
