//! Client commands: keys, status, balances, transfers, blocks, transactions, treasury.

use crate::accounts::{account, signer};
use crate::{CliError, Command, Result};
use clap::{Args, Subcommand};
use phalanx_client::Client;
use phalanx_primitives::call::{BalancesCall, Call};
use phalanx_primitives::units::{format_pha, parse_pha};
use phalanx_primitives::{AccountId, Hash, Keypair};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// `phalanx key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a new key (24-word mnemonic by default).
    New {
        /// Write the key to this file (mode 600) instead of printing the secret.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Create a raw 32-byte secret instead of a mnemonic.
        #[arg(long)]
        raw: bool,
    },
    /// Show the address behind an address, dev name, key file or quoted mnemonic.
    Inspect {
        /// What to inspect.
        what: String,
    },
}

/// `phalanx transfer …`
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Who pays: dev account name, key file or quoted mnemonic.
    #[arg(long)]
    pub from: String,
    /// Who receives: address or dev account name.
    #[arg(long)]
    pub to: String,
    /// Amount in PHA (decimals allowed, e.g. 1.5).
    #[arg(long)]
    pub amount: String,
    /// Return once submitted instead of waiting for finalization.
    #[arg(long)]
    pub no_wait: bool,
}

/// Prints `value` as JSON, or `text` otherwise.
pub fn print(json_mode: bool, value: &Value, text: impl FnOnce() -> String) {
    if json_mode {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

/// Runs a future on a fresh runtime.
pub fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(future)
}

/// Whether the node runs a dev chain (dev names allowed).
pub async fn dev_chain(client: &Client) -> Result<bool> {
    Ok(!client.status().await?.production)
}

/// Waits for `hash` and prints the outcome.
pub async fn report_inclusion(
    client: &Client,
    hash: &Hash,
    json_mode: bool,
    wait: bool,
) -> Result<()> {
    if !wait {
        print(
            json_mode,
            &json!({ "hash": hash, "status": "submitted" }),
            || format!("submitted {hash}"),
        );
        return Ok(());
    }
    let included = client.wait_finalized(hash, Duration::from_secs(60)).await?;
    let error = included.error();
    let fee = serde_json::from_value::<u128>(included.receipt["fee"].clone()).unwrap_or(0);
    print(
        json_mode,
        &json!({ "hash": hash, "status": "finalized", "height": included.height, "block": included.block, "receipt": included.receipt }),
        || match &error {
            None => format!(
                "finalized in block {} (tx {hash}, fee {})",
                included.height,
                format_pha(fee)
            ),
            Some(e) => format!(
                "included in block {} but the call failed: {e} (fee {} was paid)",
                included.height,
                format_pha(fee)
            ),
        },
    );
    match error {
        Some(e) => Err(CliError::new(format!("call failed: {e}"))),
        None => Ok(()),
    }
}

fn key_json(key: &Keypair) -> Value {
    json!({ "address": key.account(), "public_key": hex::encode(key.account().0) })
}

fn key_command(command: KeyCommand, json_mode: bool) -> Result<()> {
    match command {
        KeyCommand::New { out, raw } => {
            let (secret_text, key) = if raw {
                let key = Keypair::generate();
                (hex::encode(key.secret()), key)
            } else {
                Keypair::generate_mnemonic()
            };
            let mut value = key_json(&key);
            match &out {
                Some(path) => {
                    std::fs::write(path, &secret_text)?;
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                    }
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
        KeyCommand::Inspect { what } => {
            let id: AccountId = if what.starts_with("pha1") {
                AccountId::from_address(&what)?
            } else {
                signer(&what, true)?.account()
            };
            let value = json!({ "address": id, "public_key": hex::encode(id.0) });
            print(json_mode, &value, || {
                format!("address:    {id}\npublic key: {}", hex::encode(id.0))
            });
            Ok(())
        }
    }
}

/// Dispatches every client command.
pub fn run(command: Command, rpc: &str, json_mode: bool) -> Result<()> {
    if let Command::Key { command } = command {
        return key_command(command, json_mode);
    }
    let client = Client::new(rpc)?;
    block_on(async move {
        match command {
            Command::Status => {
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
            Command::Balance { who } => {
                let id = account(&who, dev_chain(&client).await?)?;
                let info = client.account(&id).await?;
                let value = json!({
                    "address": id, "free": info.free, "reserved": info.reserved, "locked": info.locked,
                    "total": info.total, "nonce": info.nonce, "height": info.height,
                });
                print(json_mode, &value, || {
                    format!(
                        "{id}\n  free:     {}\n  reserved: {}\n  locked:   {}\n  nonce:    {} (at height {})",
                        format_pha(info.free),
                        format_pha(info.reserved),
                        format_pha(info.locked),
                        info.nonce,
                        info.height
                    )
                });
                Ok(())
            }
            Command::Transfer(args) => {
                let dev = dev_chain(&client).await?;
                let key = signer(&args.from, dev)?;
                let to = account(&args.to, dev)?;
                let amount = parse_pha(&args.amount).ok_or_else(|| {
                    CliError::new(format!(
                        "`{}` is not a PHA amount (e.g. 10 or 0.25)",
                        args.amount
                    ))
                })?;
                let hash = client
                    .sign_and_submit(&key, Call::Balances(BalancesCall::Transfer { to, amount }))
                    .await?;
                report_inclusion(&client, &hash, json_mode, !args.no_wait).await
            }
            Command::Block { which } => {
                let block = client.block(which.as_deref()).await?;
                print(json_mode, &block, || {
                    let txs = block["transactions"].as_array().map(Vec::len).unwrap_or(0);
                    format!(
                        "block {}\n  hash:       {}\n  parent:     {}\n  time (ms):  {}\n  state root: {}\n  txs:        {txs}\n  certified:  {}",
                        block["height"],
                        block["hash"].as_str().unwrap_or(""),
                        block["parent"].as_str().unwrap_or(""),
                        block["timestamp_ms"],
                        block["state_root"].as_str().unwrap_or(""),
                        if block["certificate"].as_str().is_some_and(|c| c.len() > 2) { "yes" } else { "genesis or via descendant" },
                    )
                });
                Ok(())
            }
            Command::Tx { hash } => {
                let hash = Hash::from_hex(&hash)
                    .ok_or_else(|| CliError::new("a transaction hash is 64 hex characters"))?;
                let (status, included) = client.transaction(&hash).await?;
                let value = json!({ "hash": hash, "status": status, "location": included.as_ref().map(|i| json!({"height": i.height, "block": i.block, "index": i.index, "receipt": i.receipt})) });
                print(json_mode, &value, || match &included {
                    Some(i) => format!(
                        "finalized in block {} at index {}\nreceipt: {}",
                        i.height, i.index, i.receipt
                    ),
                    None => status.clone(),
                });
                Ok(())
            }
            Command::Treasury => {
                let value: Value = client.call("phalanx_treasury", vec![]).await?;
                let amount =
                    |key: &str| serde_json::from_value::<u128>(value[key].clone()).unwrap_or(0);
                print(json_mode, &value, || {
                    format!(
                        "treasury {}\n  balance:          {}\n  mining pot:       {}\n  total issuance:   {}",
                        value["account"].as_str().unwrap_or(""),
                        format_pha(amount("balance")),
                        format_pha(amount("mining_pot")),
                        format_pha(amount("total_issuance")),
                    )
                });
                Ok(())
            }
            Command::Workers => {
                let value: Value = client.call("phalanx_workers", vec![]).await?;
                print(json_mode, &value, || {
                    let workers = value["workers"].as_array().cloned().unwrap_or_default();
                    let mut lines = vec![format!(
                        "{} registered worker(s) at height {}",
                        workers.len(),
                        value["height"]
                    )];
                    for w in &workers {
                        let simulated = w["quote_kind"]
                            .as_str()
                            .is_some_and(|k| k.eq_ignore_ascii_case("simulated"));
                        lines.push(format!(
                            "  {}{}
    operator {}  P {}  confidence {}‰  tcb {}
    endpoint {}  registered at {} (last attested at {})",
                            w["identity"].as_str().unwrap_or(""),
                            if simulated {
                                "  [SIMULATED attestation: no real TEE]"
                            } else {
                                ""
                            },
                            w["operator"].as_str().unwrap_or(""),
                            w["performance"],
                            w["confidence"],
                            w["tcb_status"].as_str().unwrap_or("?"),
                            w["endpoint"].as_str().unwrap_or(""),
                            w["registered_at"],
                            w["last_attested_at"],
                        ));
                    }
                    let roots = value["policy"]["accepted_simulated_roots"]
                        .as_array()
                        .map(Vec::len)
                        .unwrap_or(0);
                    lines.push(format!(
                        "policy: {} allowed measurement(s), {} simulated root(s){}, registration {}",
                        value["policy"]["allowed_measurements"].as_array().map(Vec::len).unwrap_or(0),
                        roots,
                        if roots > 0 { " (SIMULATED trust accepted: dev chain)" } else { "" },
                        if value["policy"]["registration_frozen"] == true { "frozen" } else { "open" },
                    ));
                    lines.join("\n")
                });
                Ok(())
            }
            Command::Gov { command } => crate::gov_cmd::run(&client, command, json_mode).await,
            Command::Root(args) => crate::gov_cmd::root(&client, args, json_mode).await,
            Command::Dev(_)
            | Command::Node { .. }
            | Command::Worker { .. }
            | Command::Testnet(_)
            | Command::Key { .. }
            | Command::Bench(_) => Err(CliError::new("not a client command")),
        }
    })
}
