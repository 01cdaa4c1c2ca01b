//! JSON-RPC over HTTP and WebSocket (one port, both protocols).
//!
//! Methods (all under `phalanx_`): `status`, `submitTransaction`, `account`, `block`, `rawBlock`
//! (SCALE block and certificate, for light clients), `workers`,
//! `finalizedHead`, `transaction`, `stateProof`, `storage`, `chainParams`, `proposals`,
//! `proposal`, `treasury`, `faults`, `genesis`; and the subscription `subscribeFinalized`
//! (notifications `phalanx_finalized`, unsubscribe `phalanx_unsubscribeFinalized`).
//!
//! Errors are structured: a stable numeric code per kind (see [`codes`]), a message that says
//! what is wrong, and `data.reason`, a stable snake_case word scripts can match on. Amounts are
//! JSON integers in units (1 PHA = 10^12 units); byte strings are `0x`-prefixed hex.

use crate::chain::{Chain, SubmitError};
use crate::mempool::MempoolError;
use jsonrpsee::server::{RpcModule, Server, ServerHandle, SubscriptionMessage};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use parity_scale_codec::Encode;
use phalanx_primitives::{AccountId, Block, Hash};
use phalanx_runtime::system::TxError;
use phalanx_runtime::{balances, governance, system, treasury};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// Stable error codes.
pub mod codes {
    /// Parameters are missing or malformed (JSON-RPC standard code).
    pub const INVALID_PARAMS: i32 = -32602;
    /// The transaction bytes do not decode.
    pub const MALFORMED_TRANSACTION: i32 = 1001;
    /// The transaction envelope breaks a rule (signature, nonce, fee, expiry, size).
    pub const INVALID_TRANSACTION: i32 = 1002;
    /// The mempool refused the transaction.
    pub const MEMPOOL_REFUSED: i32 = 1003;
    /// The thing asked for does not exist.
    pub const NOT_FOUND: i32 = 1004;
    /// The node failed internally (storage).
    pub const INTERNAL: i32 = 1005;
}

/// Largest request body: a maximal transaction in hex plus envelope.
pub const MAX_REQUEST_BYTES: u32 = 4 << 20;

fn error(code: i32, message: impl Into<String>, reason: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), Some(json!({ "reason": reason })))
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(codes::INVALID_PARAMS, message, "invalid_params")
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    error(codes::INTERNAL, e.to_string(), "internal")
}

/// The stable reason word for a transaction error.
pub fn tx_reason(e: &TxError) -> &'static str {
    match e {
        TxError::TooLarge { .. } => "too_large",
        TxError::BadSignature => "bad_signature",
        TxError::Expired { .. } => "expired",
        TxError::ExpiryTooFar { .. } => "expiry_too_far",
        TxError::StaleNonce { .. } => "stale_nonce",
        TxError::FutureNonce { .. } => "future_nonce",
        TxError::FeeTooLow { .. } => "fee_too_low",
        TxError::CannotPayFee { .. } => "insufficient_balance",
        TxError::TooManyTransactions(_) => "too_many_transactions",
        TxError::Corrupted(_) => "internal",
    }
}

fn submit_error(e: SubmitError) -> ErrorObjectOwned {
    match &e {
        SubmitError::Malformed(_) => {
            error(codes::MALFORMED_TRANSACTION, e.to_string(), "malformed")
        }
        SubmitError::Invalid(tx) => error(codes::INVALID_TRANSACTION, e.to_string(), tx_reason(tx)),
        SubmitError::Mempool(m) => {
            let reason = match m {
                MempoolError::AlreadyKnown(_) => "already_known",
                MempoolError::NonceTaken(_) => "nonce_taken",
                MempoolError::Full => "mempool_full",
                MempoolError::SenderFull => "sender_full",
            };
            error(codes::MEMPOOL_REFUSED, e.to_string(), reason)
        }
    }
}

/// Parses `0x…` or bare hex.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|_| invalid_params("expected hex bytes (0x…)"))
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn one<T: serde::de::DeserializeOwned>(params: &Params) -> Result<T, ErrorObjectOwned> {
    let mut seq = params.sequence();
    seq.next::<T>().map_err(|e| invalid_params(e.to_string()))
}

fn optional<T: serde::de::DeserializeOwned>(
    params: &Params,
) -> Result<Option<T>, ErrorObjectOwned> {
    if params.is_object() {
        return Err(invalid_params("pass parameters as a list"));
    }
    let mut seq = params.sequence();
    seq.optional_next::<T>()
        .map_err(|e| invalid_params(e.to_string()))
}

fn parse_account(text: &str) -> Result<AccountId, ErrorObjectOwned> {
    AccountId::from_address(text)
        .map_err(|e| error(codes::INVALID_PARAMS, e.to_string(), "bad_address"))
}

/// JSON view of a block with receipts.
pub fn block_json(
    block: &Block,
    certificate: &[u8],
    outcome: Option<&phalanx_runtime::BlockOutcome>,
) -> Value {
    let txs: Vec<Value> = block
        .transactions
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            json!({
                "hash": tx.hash(),
                "signer": tx.tx.signer,
                "nonce": tx.tx.nonce,
                "fee": tx.tx.fee,
                "expires_at": tx.tx.expires_at,
                "call": tx.tx.call,
                "receipt": outcome.and_then(|o| o.receipts.get(i)),
            })
        })
        .collect();
    json!({
        "hash": block.hash(),
        "height": block.header.height,
        "parent": block.header.parent,
        "timestamp_ms": block.header.timestamp_ms,
        "tx_root": block.header.tx_root,
        "state_root": block.header.state_root,
        "transactions": txs,
        "block_events": outcome.map(|o| &o.block_events),
        "certificate": hex0x(certificate),
    })
}

/// Builds the RPC module for `chain`.
pub fn module(chain: Chain) -> Result<RpcModule<Chain>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(chain);

    module.register_method(
        "phalanx_status",
        |_, chain, _| -> Result<Value, ErrorObjectOwned> {
            let head = chain.head();
            let state = chain.head_state();
            let validators: Vec<String> = system::validators(&state)
                .map_err(internal)?
                .iter()
                .map(hex::encode)
                .collect();
            let genesis = chain.genesis_config();
            Ok(json!({
                "chain_id": genesis.chain_id,
                "production": genesis.production,
                "genesis_hash": chain.genesis_hash(),
                "height": head.header.height,
                "head_hash": head.hash(),
                "state_root": head.header.state_root,
                "timestamp_ms": head.header.timestamp_ms,
                "mempool": chain.mempool_len(),
                "validators": validators,
                "faults": chain.faults().len(),
                "halted": chain.halted(),
            }))
        },
    )?;

    module.register_method(
        "phalanx_submitTransaction",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let text: String = one(&params)?;
            let bytes = parse_hex(&text)?;
            let hash = chain.submit(&bytes).map_err(submit_error)?;
            Ok(json!({ "hash": hash }))
        },
    )?;

    module.register_method(
        "phalanx_account",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let who = parse_account(&one::<String>(&params)?)?;
            let state = chain.head_state();
            let data = balances::account(&state, &who).map_err(internal)?;
            let nonce = system::nonce(&state, &who).map_err(internal)?;
            Ok(json!({
                "address": who,
                "free": data.free,
                "reserved": data.reserved,
                "locked": data.locked,
                "total": data.total(),
                "nonce": nonce,
                "height": chain.height(),
            }))
        },
    )?;

    module.register_method(
        "phalanx_block",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let which: Option<Value> = optional(&params)?;
            let stored = match which {
                None | Some(Value::Null) => chain.block(chain.height()).map_err(internal)?,
                Some(Value::Number(n)) => {
                    let height = n
                        .as_u64()
                        .ok_or_else(|| invalid_params("height must be a non-negative integer"))?;
                    chain.block(height).map_err(internal)?
                }
                Some(Value::String(text)) => match text.parse::<u64>() {
                    Ok(height) => chain.block(height).map_err(internal)?,
                    Err(_) => {
                        let hash = Hash::from_hex(&text).ok_or_else(|| {
                            invalid_params("expected a height or a 32-byte block hash")
                        })?;
                        chain.block_by_hash(&hash).map_err(internal)?
                    }
                },
                Some(_) => return Err(invalid_params("expected a height or a block hash")),
            };
            let stored = stored.ok_or_else(|| {
                error(
                    codes::NOT_FOUND,
                    "no finalized block there yet",
                    "not_found",
                )
            })?;
            Ok(block_json(
                &stored.block,
                &stored.certificate,
                Some(&stored.outcome),
            ))
        },
    )?;

    module.register_method(
        "phalanx_rawBlock",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let height: u64 = one(&params)?;
            let stored = chain.block(height).map_err(internal)?.ok_or_else(|| {
                error(
                    codes::NOT_FOUND,
                    format!("no finalized block at height {height} yet"),
                    "not_found",
                )
            })?;
            Ok(json!({
                "height": height,
                "block": hex0x(&stored.block.encode()),
                "certificate": hex0x(&stored.certificate),
            }))
        },
    )?;

    module.register_method(
        "phalanx_workers",
        |_, chain, _| -> Result<Value, ErrorObjectOwned> {
            let state = chain.head_state();
            Ok(json!({
                "workers": phalanx_runtime::registry::workers(&state),
                "policy": phalanx_runtime::registry::policy(&state).map_err(internal)?,
                "height": chain.height(),
            }))
        },
    )?;

    module.register_method(
        "phalanx_finalizedHead",
        |_, chain, _| -> Result<Value, ErrorObjectOwned> {
            let head = chain.head();
            Ok(json!({
                "height": head.header.height,
                "hash": head.hash(),
                "parent": head.header.parent,
                "timestamp_ms": head.header.timestamp_ms,
                "state_root": head.header.state_root,
                "transactions": head.transactions.len(),
            }))
        },
    )?;

    module.register_method(
        "phalanx_transaction",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let text: String = one(&params)?;
            let hash = Hash::from_hex(&text)
                .ok_or_else(|| invalid_params("expected a 32-byte transaction hash"))?;
            if let Some(location) = chain.transaction(&hash).map_err(internal)? {
                return Ok(json!({ "status": "finalized", "location": location }));
            }
            let status = if chain.is_pending(&hash) {
                "pending"
            } else {
                "unknown"
            };
            Ok(json!({ "status": status }))
        },
    )?;

    module.register_method(
        "phalanx_stateProof",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let key = parse_hex(&one::<String>(&params)?)?;
            let proven = chain.prove(&key).map_err(internal)?;
            Ok(json!({
                "height": proven.header.height,
                "block_hash": proven.header.hash(),
                "state_root": proven.header.state_root,
                "header": hex0x(&proven.header.encode()),
                "key": hex0x(&key),
                "value": proven.value.as_deref().map(hex0x),
                "proof": hex0x(&proven.proof.encode()),
                "certificate": hex0x(&proven.certificate),
            }))
        },
    )?;

    module.register_method(
        "phalanx_storage",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let key = parse_hex(&one::<String>(&params)?)?;
            Ok(json!(chain.head_state().get(&key).map(|v| hex0x(v))))
        },
    )?;

    module.register_method("phalanx_chainParams", |_, chain, _| -> Result<Value, ErrorObjectOwned> {
        let state = chain.head_state();
        let params = system::params(&state).map_err(internal)?;
        Ok(json!({ "chain": params, "governance": governance::params(&state).map_err(internal)? }))
    })?;

    module.register_method(
        "phalanx_proposals",
        |_, chain, _| -> Result<Value, ErrorObjectOwned> {
            Ok(json!(governance::proposals(&chain.head_state())))
        },
    )?;

    module.register_method(
        "phalanx_proposal",
        |params, chain, _| -> Result<Value, ErrorObjectOwned> {
            let id: u32 = one(&params)?;
            let state = chain.head_state();
            let proposal = governance::proposal(&state, id)
                .map_err(internal)?
                .ok_or_else(|| {
                    error(codes::NOT_FOUND, format!("no proposal #{id}"), "not_found")
                })?;
            Ok(json!({ "proposal": proposal, "height": chain.height() }))
        },
    )?;

    module.register_method("phalanx_treasury", |_, chain, _| -> Result<Value, ErrorObjectOwned> {
        let state = chain.head_state();
        Ok(json!({
            "account": treasury::account(),
            "balance": treasury::balance(&state).map_err(internal)?,
            "mining_pot": balances::account(&state, &phalanx_runtime::genesis::mining_pot()).map_err(internal)?.free,
            "total_issuance": balances::total_issuance(&state).map_err(internal)?,
        }))
    })?;

    module.register_method(
        "phalanx_faults",
        |_, chain, _| -> Result<Value, ErrorObjectOwned> { Ok(json!(chain.faults())) },
    )?;

    module.register_method(
        "phalanx_genesis",
        |_, chain, _| -> Result<Value, ErrorObjectOwned> {
            Ok(json!({ "hash": chain.genesis_hash(), "config": chain.genesis_config() }))
        },
    )?;

    module.register_subscription(
        "phalanx_subscribeFinalized",
        "phalanx_finalized",
        "phalanx_unsubscribeFinalized",
        |_, pending, chain, _| async move {
            let mut heads = chain.subscribe();
            let sink = pending.accept().await?;
            loop {
                match heads.recv().await {
                    Ok(head) => {
                        let message = SubscriptionMessage::from_json(&head)?;
                        if sink.send(message).await.is_err() {
                            return Ok(());
                        }
                    }
                    // A slow subscriber skips heads rather than stall the node.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        },
    )?;

    Ok(module)
}

/// Starts the RPC server on `addr`; returns the bound address and the handle that stops it.
pub async fn serve(chain: Chain, addr: SocketAddr) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let module = module(chain).map_err(std::io::Error::other)?;
    let server = Server::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_connections(1_000)
        .build(addr)
        .await?;
    let bound = server.local_addr()?;
    Ok((bound, server.start(module)))
}
