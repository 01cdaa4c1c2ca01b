//! Signing a call, submitting it, and reporting where it landed: shared by every command that
//! sends a transaction (`transfer`, `gov …`, `root`), and the readable receipt `tx` prints.

use crate::{CliError, Result};
use clap::Args;
use phalanx_client::{Client, Event, Included};
use phalanx_primitives::call::Call;
use phalanx_primitives::units::format_pha;
use phalanx_primitives::{Hash, Keypair};
use serde_json::{json, Value};
use std::time::Duration;

/// Options of every command that signs a transaction.
#[derive(Clone, Debug, Default, Args)]
pub struct NonceFlag {
    /// Sign with this nonce instead of asking the node for the account's next one (which
    /// counts its transactions already waiting in the node's mempool).
    #[arg(long)]
    pub nonce: Option<u64>,
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

/// Signs `call` as `key` (with `nonce`, or the account's next one) and submits it.
pub async fn sign_and_submit(
    client: &Client,
    key: &Keypair,
    call: Call,
    nonce: &NonceFlag,
) -> Result<Hash> {
    Ok(client
        .sign_and_submit_with_nonce(key, call, nonce.nonce)
        .await?)
}

/// Waits for `hash` (unless `wait` is false) and prints the outcome. A call that was included
/// but failed is an error (reason `call_failed`) that still names the block and the fee paid.
pub async fn report_inclusion(
    client: &Client,
    hash: &Hash,
    json_mode: bool,
    wait: bool,
) -> Result<()> {
    if !wait {
        crate::output::print(
            json_mode,
            &json!({ "hash": hash, "status": "submitted" }),
            || format!("submitted {hash}"),
        );
        return Ok(());
    }
    let included = client.wait_finalized(hash, Duration::from_secs(60)).await?;
    let fee = included.receipt.fee;
    if let Some(error) = included.error() {
        return Err(CliError::with_reason(
            "call_failed",
            format!(
                "transaction {hash} was included in block {} but its call failed: {error} (the fee of {} was paid)",
                included.height,
                format_pha(fee)
            ),
        )
        .detail("hash", json!(hash))
        .detail("height", json!(included.height))
        .detail("block", json!(included.block))
        .detail("receipt", json!(included.receipt)));
    }
    crate::output::print(
        json_mode,
        &json!({ "hash": hash, "status": "finalized", "height": included.height, "block": included.block, "receipt": included.receipt }),
        || {
            format!(
                "finalized in block {} (tx {hash}, fee {})",
                included.height,
                format_pha(fee)
            )
        },
    );
    Ok(())
}

/// An amount in units from JSON (a number, or a string of digits), 0 if it is neither.
pub fn amount(value: &Value) -> u128 {
    serde_json::from_value::<u128>(value.clone())
        .ok()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

/// Fields of events that hold amounts of PHA (shown as PHA, not units).
const AMOUNT_FIELDS: [&str; 5] = ["amount", "deposit", "aye", "nay", "fee"];

/// One event as a line: `transferred: from pha1…, to pha1…, amount 1 PHA`.
fn event_line(event: &Event) -> String {
    let name = event.name.replace('_', " ");
    // Who and what first, then the amounts (the node's JSON comes with its keys sorted).
    let mut shown: Vec<(&String, &Value)> = event.fields.iter().collect();
    shown.sort_by_key(|(key, _)| AMOUNT_FIELDS.contains(&key.as_str()));
    let details: Vec<String> = shown
        .into_iter()
        .map(|(key, value)| {
            let shown = match value {
                Value::Number(_) if AMOUNT_FIELDS.contains(&key.as_str()) => {
                    format_pha(amount(value))
                }
                Value::String(text) => text.clone(),
                Value::Null => "none".to_string(),
                // An error code (`call_failed`, `proposal_enacted`): `module.reason`.
                Value::Object(code) => match (code.get("module"), code.get("reason")) {
                    (Some(Value::String(module)), Some(Value::String(reason))) => {
                        format!("{module}.{reason}")
                    }
                    _ => value.to_string(),
                },
                other => other.to_string(),
            };
            format!("{} {shown}", key.replace('_', " "))
        })
        .collect();
    if details.is_empty() {
        name
    } else {
        format!("{name}: {}", details.join(", "))
    }
}

/// A finalized transaction's receipt as text: where it is, its fee, whether its call
/// succeeded, and its events one per line.
pub fn receipt_text(hash: &Hash, included: &Included) -> String {
    let receipt = &included.receipt;
    let result = match included.error() {
        None => "ok".to_string(),
        Some(error) => format!("FAILED: {error} (its effects were rolled back; the fee was paid)"),
    };
    let mut lines = vec![
        format!("transaction {hash}"),
        format!(
            "  finalized in block {} ({}), index {}",
            included.height, included.block, included.index
        ),
        format!("  fee:     {}", format_pha(receipt.fee)),
        format!("  result:  {result}"),
    ];
    if receipt.events.is_empty() {
        lines.push("  events:  none".to_string());
    } else {
        lines.push("  events:".to_string());
        lines.extend(
            receipt
                .events
                .iter()
                .map(|e| format!("    {}", event_line(e))),
        );
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_reads_as_text_with_amounts_in_pha() {
        let hash = Hash([7; 32]);
        let included = Included {
            height: 12,
            block: Hash([9; 32]),
            index: 1,
            receipt: serde_json::from_value(json!({
                "tx_hash": hash,
                "fee": 2_000_000_000u64,
                "error": null,
                "events": [
                    { "event": "fee_paid", "who": "pha1payer", "amount": 2_000_000_000u64 },
                    { "event": "transferred", "from": "pha1a", "to": "pha1b", "amount": 1_500_000_000_000u64 },
                    { "event": "root_dispatched" }
                ]
            }))
            .expect("a receipt"),
        };
        let text = receipt_text(&hash, &included);
        assert_eq!(
            text,
            format!(
                "transaction {hash}\n  finalized in block 12 ({}), index 1\n  fee:     0.002 PHA\n  result:  ok\n  events:\n    fee paid: who pha1payer, amount 0.002 PHA\n    transferred: from pha1a, to pha1b, amount 1.5 PHA\n    root dispatched",
                Hash([9; 32])
            )
        );
    }

    #[test]
    fn a_failed_call_says_so_in_the_receipt() {
        let hash = Hash([1; 32]);
        let included = Included {
            height: 3,
            block: Hash([2; 32]),
            index: 0,
            receipt: serde_json::from_value(json!({
                "tx_hash": hash,
                "fee": 1,
                "error": {
                    "module": "balances",
                    "reason": "insufficient_free",
                    "message": "not enough free balance"
                },
                "events": [
                    {
                        "event": "call_failed",
                        "error": { "module": "balances", "reason": "insufficient_free" }
                    }
                ]
            }))
            .expect("a receipt"),
        };
        let text = receipt_text(&hash, &included);
        assert!(
            text.contains("result:  FAILED: not enough free balance (balances.insufficient_free)"),
            "{text}"
        );
        assert!(
            text.ends_with("events:\n    call failed: error balances.insufficient_free"),
            "{text}"
        );
    }
}
