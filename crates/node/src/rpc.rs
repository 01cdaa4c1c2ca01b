//! JSON-RPC 2.0 over HTTP and WebSocket (one port, both protocols).
//!
//! Methods (all under `phalanx_`): `status`, `submitTransaction`, `account`, `nextNonce` (the
//! nonce an account's next transaction should carry, past its transactions already waiting in
//! this node's mempool), `block`, `rawBlock`
//! (SCALE block and certificate, for light clients), `validatorSet`, `workers`,
//! `finalizedHead`, `transaction`, `stateProof`, `storage`, `chainParams`, `proposals`,
//! `proposal`, `treasury`, `faults`, `genesis`; the gatekeeper module's `gatekeepers`,
//! `keyEpochs`, `clusters`, `cluster`, and the published keys with their state proofs,
//! `clusterKey` and `masterKey`; the contracts module's `contracts`, `contract`, `contractKey`
//! (proven like `clusterKey`), `command`, `code` and `queryDeposit` (`rpc/contracts.rs`); and
//! the WebSocket-only subscription `subscribeFinalized` (notifications `phalanx_finalized`,
//! unsubscribe `phalanx_unsubscribeFinalized`).
//!
//! # Parameters
//! Pass them as a list in the documented order, or as an object by name. A wrong type, a
//! missing required one or an extra one is `invalid_params`, with a message naming the
//! parameter and what it must be.
//!
//! # Lists are paged
//! `proposals`, `workers`, `faults`, `keyEpochs`, `clusters` and `contracts` take optional
//! `start` and `limit` (`[start, limit]` or `{"start": …, "limit": …}`) and return at most
//! `limit` entries (default and maximum [`MAX_PAGE`]) from `start` on, plus `next`: the `start`
//! of the following page, or `null` after the last. The cursor is the proposal id for
//! `proposals`, the worker identity key (hex) for `workers`, the epoch for `keyEpochs`, the
//! cluster index for `clusters`, the contract id (hex) for `contracts`, and the position in the
//! node's log of recent faults (oldest first; the log keeps the last 1000, so positions shift
//! once it is full) for `faults`. `cluster` pages its
//! members the same way (`[index, start, limit]`, the cursor a member's identity key).
//!
//! # Published keys
//! `clusterKey`, `contractKey` and `masterKey` answer a public key with the proof of the state
//! entry holding it (`key`, its SCALE `value`, the SCALE `proof`) against the finalized head,
//! and that head's SCALE `header` and `certificate`, so a client checks the key with a light
//! client instead of trusting this node (the SDK's `ClusterKeyProof::verify`,
//! `ContractKeyProof::verify` and `MasterKeyProof::verify` do the proof part). The shown `public_key` is always read from the proven value.
//!
//! # Limits
//! A request body holds at most [`MAX_REQUEST_BYTES`], a batch at most [`MAX_BATCH`] requests,
//! and a response at most [`MAX_RESPONSE_BYTES`], enough for the largest block in either view.
//!
//! # Where handlers run
//! Handlers that read the block log, build proofs, verify signatures or walk a list run on
//! tokio's blocking pool ([`RpcModule::register_blocking_method`]), never on the async workers
//! the node's consensus shares; those that read a field or two of the head state run inline.
//! No handler holds the chain lock across disk reads (the [`Chain`] accessors read the block
//! log outside it).
//!
//! # Errors
//! Every error has a stable numeric code (see [`codes`]), a message that says what is wrong,
//! and `data.reason`, a stable snake_case word scripts can match on: Phalanx's own (`not_found`,
//! `bad_signature`, `stale_nonce`, …) and, for the protocol errors, `parse_error`,
//! `invalid_request`, `method_not_found`, `invalid_params`, `subscription_over_http`,
//! `batch_too_large`, `request_too_large`, `response_too_large`, `malformed_body` (see
//! [`envelope`] for how they are enforced). An id must be a string, an integer from 0 to
//! 2^64 − 1, or null; any other id (`-1`, `1.0`, `2^64`, an object, a list) is answered with
//! `invalid_request` and id `null`. HTTP status is 200 for every JSON-RPC answer, 400 for a
//! body that is not JSON or whose framing is broken, 413 for one over the size limit.
//!
//! Amounts are JSON integers in units (1 PHA = 10^12 units); byte strings are `0x`-prefixed hex.

mod contracts;
pub mod dashboard;
pub mod envelope;
pub mod mining;

use crate::chain::{Chain, SubmitError};
use jsonrpsee::server::{
    BatchRequestConfig, RpcModule, RpcServiceBuilder, Server, ServerHandle, SubscriptionMessage,
};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use parity_scale_codec::Encode;
use phalanx_primitives::block::MAX_BLOCK_BYTES;
use phalanx_primitives::{AccountId, Block, CodecError, Hash};
use phalanx_runtime::system::TxError;
use phalanx_runtime::{balances, gatekeeper, governance, system, treasury};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// Stable error codes. The negative ones are JSON-RPC's and jsonrpsee's; each comes with the
/// `data.reason` given in its doc.
pub mod codes {
    /// `parse_error` (or `malformed_body`): the body is not JSON, or could not be read.
    pub const PARSE_ERROR: i32 = -32700;
    /// `invalid_request`: not a JSON-RPC 2.0 request object (bad id, version, method, params).
    pub const INVALID_REQUEST: i32 = -32600;
    /// `method_not_found`: no method has that name.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// `invalid_params` (or a more precise word such as `bad_address`): parameters are
    /// missing or malformed.
    pub const INVALID_PARAMS: i32 = -32602;
    /// `internal`: jsonrpsee failed to run the call.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// `batches_not_supported`.
    pub const BATCHES_NOT_SUPPORTED: i32 = -32005;
    /// `too_many_subscriptions`: this WebSocket connection holds the most it may.
    pub const TOO_MANY_SUBSCRIPTIONS: i32 = -32006;
    /// `request_too_large`: the body is over [`super::MAX_REQUEST_BYTES`].
    pub const REQUEST_TOO_LARGE: i32 = -32007;
    /// `response_too_large`: the answer would be over [`super::MAX_RESPONSE_BYTES`].
    pub const RESPONSE_TOO_LARGE: i32 = -32008;
    /// `server_busy`.
    pub const SERVER_BUSY: i32 = -32009;
    /// `batch_too_large`: more than [`super::MAX_BATCH`] requests in one batch.
    pub const BATCH_TOO_LARGE: i32 = -32010;
    /// `batch_response_too_large`: the batch's answers together are over
    /// [`super::MAX_RESPONSE_BYTES`]; send fewer requests at once.
    pub const BATCH_RESPONSE_TOO_LARGE: i32 = -32011;
    /// The transaction bytes do not decode (`malformed`).
    pub const MALFORMED_TRANSACTION: i32 = 1001;
    /// The transaction envelope breaks a rule (signature, nonce, fee, expiry, size).
    pub const INVALID_TRANSACTION: i32 = 1002;
    /// The mempool refused the transaction.
    pub const MEMPOOL_REFUSED: i32 = 1003;
    /// The thing asked for does not exist (`not_found`).
    pub const NOT_FOUND: i32 = 1004;
    /// The node failed internally (`internal`: storage).
    pub const INTERNAL: i32 = 1005;
    /// `subscription_over_http`: a subscription method called over HTTP; use WebSocket.
    pub const SUBSCRIPTION_OVER_HTTP: i32 = 1006;
}

/// Largest request body: a maximal transaction (1 MiB) in hex plus envelope, with room to spare.
pub const MAX_REQUEST_BYTES: u32 = 4 << 20;

/// Most transactions one `phalanx_submitTransactions` call carries.
pub const MAX_SUBMIT_BATCH: usize = 1_024;

/// An error object as JSON (for per-entry answers inside one result).
fn error_json(e: &ErrorObjectOwned) -> Value {
    let data = e
        .data()
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok());
    json!({ "code": e.code(), "message": e.message(), "data": data })
}

/// Largest response body. The biggest answer is one block of [`MAX_BLOCK_BYTES`]: `rawBlock`
/// hex-encodes it (2 bytes per byte) and `block` shows it as JSON, where a byte string inside a
/// call (a quote, a description, a payload) is a list of numbers, at most 4 bytes per byte
/// (`255,`), plus each transaction's hash, signer and receipt. 6× the block leaves room for
/// both and for the certificate.
pub const MAX_RESPONSE_BYTES: u32 = 6 * MAX_BLOCK_BYTES as u32;

/// Most requests in one batch. Together with [`MAX_RESPONSE_BYTES`] (a batch's answers share
/// it) this bounds what one HTTP request can make the node do; 256 leaves room for submitters
/// that batch transactions (`phalanx bench` sends 250 per batch).
pub const MAX_BATCH: u32 = 256;

/// Most entries in one page of a list method, and the default page size.
pub const MAX_PAGE: usize = 100;
/// Most keys one `phalanx_stateProofs` call proves (a proof is a few KiB at most, so the answer
/// stays far below [`MAX_RESPONSE_BYTES`]).
pub const MAX_PROOF_KEYS: usize = 1_024;

/// The methods that only make sense over WebSocket.
pub const SUBSCRIPTION_METHODS: [&str; 2] =
    ["phalanx_subscribeFinalized", "phalanx_unsubscribeFinalized"];

fn error(code: i32, message: impl Into<String>, reason: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), Some(json!({ "reason": reason })))
}

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(codes::INVALID_PARAMS, message, "invalid_params")
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    error(codes::INTERNAL, e.to_string(), "internal")
}

/// The stable reason word for a transaction error: the runtime's own code for it.
pub fn tx_reason(e: &TxError) -> &'static str {
    use phalanx_runtime::module::ErrorCodes as _;
    e.code()
}

fn submit_error(e: SubmitError) -> ErrorObjectOwned {
    match &e {
        // The codec's own text names Rust types and fields (`Transaction::nonce`): say it plainly.
        SubmitError::Malformed(CodecError::Malformed(_)) => error(
            codes::MALFORMED_TRANSACTION,
            "malformed transaction: the bytes are not a SCALE-encoded signed transaction (they \
             end early, or hold an unknown call)",
            "malformed",
        ),
        SubmitError::Malformed(_) => {
            error(codes::MALFORMED_TRANSACTION, e.to_string(), "malformed")
        }
        SubmitError::Invalid(tx) => error(codes::INVALID_TRANSACTION, e.to_string(), tx_reason(tx)),
        SubmitError::Mempool(_) => {
            let reason = e.reason();
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

/// A method's parameters, given by position (a list) or by name (an object).
///
/// Messages name the parameter and what it must be; serde's own messages are not passed on
/// (they name Rust types).
#[derive(Debug)]
struct Args {
    names: &'static [&'static str],
    values: Vec<Value>,
}

impl Args {
    fn parse(params: &Params, names: &'static [&'static str]) -> Result<Args, ErrorObjectOwned> {
        let takes = || {
            if names.is_empty() {
                "this method takes no parameters".to_string()
            } else {
                let listed: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
                format!("this method takes {}", listed.join(", "))
            }
        };
        let value = match params.as_str() {
            None => Value::Null,
            Some(text) => serde_json::from_str(text)
                .map_err(|_| invalid_params("the parameters are not valid JSON"))?,
        };
        let values = match value {
            Value::Null => Vec::new(),
            Value::Array(values) if values.len() <= names.len() => values,
            Value::Array(values) => {
                return Err(invalid_params(format!(
                    "{} parameters given; {}",
                    values.len(),
                    takes()
                )))
            }
            Value::Object(mut map) => {
                let values = names
                    .iter()
                    .map(|name| map.remove(*name).unwrap_or(Value::Null))
                    .collect();
                if let Some(unknown) = map.keys().next() {
                    return Err(invalid_params(format!(
                        "unknown parameter `{unknown}`; {}",
                        takes()
                    )));
                }
                values
            }
            _ => return Err(invalid_params("pass the parameters as a list or an object")),
        };
        Ok(Args { names, values })
    }

    fn name(&self, index: usize) -> &'static str {
        self.names.get(index).copied().unwrap_or("?")
    }

    /// Parameter `index`, `None` if absent or null; `what` says what it must be.
    fn optional<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
        what: &str,
    ) -> Result<Option<T>, ErrorObjectOwned> {
        match self.values.get(index) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::deserialize(value)
                .map(Some)
                .map_err(|_| invalid_params(format!("`{}` must be {what}", self.name(index)))),
        }
    }

    /// Parameter `index`, which must be there.
    fn required<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
        what: &str,
    ) -> Result<T, ErrorObjectOwned> {
        self.optional(index, what)?.ok_or_else(|| {
            invalid_params(format!("missing parameter `{}`: {what}", self.name(index)))
        })
    }
}

/// The `start` and `limit` of a list method.
fn page_args<K: serde::de::DeserializeOwned>(
    params: &Params,
    start_is: &str,
) -> Result<(Option<K>, usize), ErrorObjectOwned> {
    let args = Args::parse(params, &["start", "limit"])?;
    let start = args.optional::<K>(0, start_is)?;
    Ok((start, limit_arg(&args, 1)?))
}

/// Parameter `index` as a page size: 1 to [`MAX_PAGE`], [`MAX_PAGE`] when absent.
fn limit_arg(args: &Args, index: usize) -> Result<usize, ErrorObjectOwned> {
    let what = format!("an integer from 1 to {MAX_PAGE}");
    match args.optional::<u64>(index, &what)? {
        None => Ok(MAX_PAGE),
        Some(limit) if (1..=MAX_PAGE as u64).contains(&limit) => Ok(limit as usize),
        Some(_) => Err(invalid_params(format!(
            "`{}` must be {what}",
            args.name(index)
        ))),
    }
}

/// A worker identity key (32 bytes of hex, `0x` optional) given as parameter `name`.
fn parse_identity(text: &str, name: &str) -> Result<[u8; 32], ErrorObjectOwned> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            invalid_params(format!(
                "`{name}` must be a worker identity key: 32 bytes of hex"
            ))
        })
}

/// One page of `items`, which come in increasing `key` order: at most `limit` of those whose
/// key is at least `start`, and the key of the first one left out (the next page's `start`).
fn page<T, K: Ord>(
    items: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
    start: Option<&K>,
    limit: usize,
) -> (Vec<T>, Option<K>) {
    let mut rest = items
        .into_iter()
        .skip_while(|item| start.is_some_and(|start| key(item) < *start));
    let page: Vec<T> = rest.by_ref().take(limit).collect();
    let next = rest.next().map(|item| key(&item));
    (page, next)
}

fn parse_account(text: &str) -> Result<AccountId, ErrorObjectOwned> {
    AccountId::from_address(text)
        .map_err(|e| error(codes::INVALID_PARAMS, e.to_string(), "bad_address"))
}

fn not_found(message: impl Into<String>) -> ErrorObjectOwned {
    error(codes::NOT_FOUND, message, "not_found")
}

/// A receipt as JSON: its stored fields, with `error` (`{module, reason}`, a stable code) given
/// `message` too, the runtime's words for that code. The words are computed here, at read time,
/// and never stored, so rewording them changes no receipt.
pub fn receipt_json(receipt: &phalanx_runtime::Receipt) -> Value {
    let mut value = json!(receipt);
    if let (Some(code), Some(error)) = (&receipt.error, value.get_mut("error")) {
        if let Some(message) = phalanx_runtime::describe(code) {
            error["message"] = json!(message);
        }
    }
    value
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
                "receipt": outcome.and_then(|o| o.receipts.get(i)).map(receipt_json),
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

type Answer = Result<Value, ErrorObjectOwned>;

/// Builds the RPC module for `chain`.
pub fn module(chain: Chain) -> Result<RpcModule<Chain>, jsonrpsee::core::RegisterMethodError> {
    let mut module = RpcModule::new(chain);

    // Cheap: a few head-state reads, run inline.
    module.register_method("phalanx_status", |params, chain, _| -> Answer {
        Args::parse(&params, &[])?;
        let head = chain.head_header();
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
            "height": head.height,
            "head_hash": head.hash(),
            "state_root": head.state_root,
            "timestamp_ms": head.timestamp_ms,
            "mempool": chain.mempool_len(),
            "validators": validators,
            "faults": chain.faults().len(),
            "halted": chain.halted(),
        }))
    })?;

    // Signature verification and mempool admission: real work.
    module.register_blocking_method("phalanx_submitTransaction", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["transaction"])?;
        let text: String = args.required(0, "0x-hex of a SCALE-encoded signed transaction")?;
        let bytes = parse_hex(&text)?;
        let hash = chain.submit(&bytes).map_err(submit_error)?;
        Ok(json!({ "hash": hash }))
    })?;

    module.register_blocking_method(
        "phalanx_submitTransactions",
        |params, chain, _| -> Answer {
            let args = Args::parse(&params, &["transactions"])?;
            let texts: Vec<String> =
                args.required(0, "a list of 0x-hex SCALE-encoded signed transactions")?;
            if texts.len() > MAX_SUBMIT_BATCH {
                return Err(invalid_params(format!(
                    "at most {MAX_SUBMIT_BATCH} transactions per call"
                )));
            }
            // Undecodable entries are answered in place; the rest are verified together, in
            // parallel on every core.
            let mut answers: Vec<Value> = vec![Value::Null; texts.len()];
            let mut txs = Vec::new();
            let mut positions = Vec::new();
            for (index, text) in texts.iter().enumerate() {
                let decoded = parse_hex(text).and_then(|bytes| {
                    phalanx_primitives::SignedTransaction::decode_strict(&bytes)
                        .map_err(|e| submit_error(crate::chain::SubmitError::Malformed(e)))
                });
                match decoded {
                    Ok(tx) => {
                        txs.push(tx);
                        positions.push(index);
                    }
                    Err(e) => answers[index] = json!({ "error": error_json(&e) }),
                }
            }
            for (index, result) in positions.into_iter().zip(chain.submit_batch(txs)) {
                answers[index] = match result {
                    Ok(hash) => json!({ "hash": hash }),
                    Err(e) => json!({ "error": error_json(&submit_error(e)) }),
                };
            }
            Ok(json!(answers))
        },
    )?;

    module.register_method("phalanx_account", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["address"])?;
        let who = parse_account(&args.required::<String>(0, "an account address (pha1…)")?)?;
        let state = chain.head_state();
        let data = balances::account(&state, &who).map_err(internal)?;
        let nonce = system::nonce(&state, &who).map_err(internal)?;
        let spendable = balances::spendable(&state, &who).map_err(internal)?;
        let vesting = balances::unclaimed_vesting(&state, &who).map_err(internal)?;
        Ok(json!({
            "address": who,
            "free": data.free,
            "reserved": data.reserved,
            "locked": data.locked,
            "vesting": vesting,
            "spendable": spendable,
            "total": data.total(),
            "nonce": nonce,
            "height": chain.height(),
        }))
    })?;

    // One state read and a walk over one sender's pooled nonces: inline.
    module.register_method("phalanx_nextNonce", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["address"])?;
        let who = parse_account(&args.required::<String>(0, "an account address (pha1…)")?)?;
        let (finalized, nonce) = chain.next_nonce(&who).map_err(internal)?;
        Ok(json!({
            "address": who,
            "nonce": nonce,
            "pooled": nonce.saturating_sub(finalized),
            "height": chain.height(),
        }))
    })?;

    module.register_blocking_method("phalanx_block", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["block"])?;
        let which: Option<Value> = args.optional(0, "a height or a block hash")?;
        let stored = match which {
            None => chain.block(chain.height()).map_err(internal)?,
            Some(Value::Number(n)) => {
                let height = n.as_u64().ok_or_else(|| {
                    invalid_params("`block` must be a non-negative integer height or a block hash")
                })?;
                chain.block(height).map_err(internal)?
            }
            Some(Value::String(text)) => match text.parse::<u64>() {
                Ok(height) => chain.block(height).map_err(internal)?,
                Err(_) => {
                    let hash = Hash::from_hex(&text).ok_or_else(|| {
                        invalid_params("`block` must be a height or a 32-byte block hash")
                    })?;
                    chain.block_by_hash(&hash).map_err(internal)?
                }
            },
            Some(_) => return Err(invalid_params("`block` must be a height or a block hash")),
        };
        let stored = stored.ok_or_else(|| not_found("no finalized block there yet"))?;
        Ok(block_json(
            &stored.block,
            &stored.certificate,
            Some(&stored.outcome),
        ))
    })?;

    module.register_blocking_method("phalanx_rawBlock", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["height"])?;
        let height: u64 = args.required(0, "a block height (a non-negative integer)")?;
        let stored = chain
            .block(height)
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no finalized block at height {height} yet")))?;
        Ok(json!({
            "height": height,
            "block": hex0x(&stored.block.encode()),
            "certificate": hex0x(&stored.certificate),
        }))
    })?;

    module.register_blocking_method("phalanx_validatorSet", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["epoch"])?;
        let epoch: u64 = args.required(0, "an epoch number (a non-negative integer)")?;
        let set = chain.validator_set(epoch).ok_or_else(|| {
            not_found(format!(
                "this node has no validator set for epoch {epoch}: it starts once the \
                 previous epoch's last block is finalized"
            ))
        })?;
        Ok(json!({
            "epoch": set.epoch,
            "height": set.height,
            "validators": set.validators.iter().map(|key| hex0x(key)).collect::<Vec<_>>(),
            "proof": hex0x(&set.proof.encode()),
        }))
    })?;

    module.register_blocking_method("phalanx_workers", |params, chain, _| -> Answer {
        let (start, limit) = page_args::<String>(&params, "a worker identity key (0x-hex)")?;
        let start = start
            .map(|text| {
                parse_hex(&text)?.try_into().map_err(|_| {
                    invalid_params("`start` must be a worker identity key: 32 bytes of hex")
                })
            })
            .transpose()?;
        let state = chain.head_state();
        let (workers, next) = page(
            phalanx_runtime::registry::workers(&state),
            |worker| worker.identity,
            start.as_ref(),
            limit,
        );
        Ok(json!({
            "workers": workers,
            "next": next.map(|identity: [u8; 32]| hex0x(&identity)),
            "policy": phalanx_runtime::registry::policy(&state).map_err(internal)?,
            "height": chain.height(),
        }))
    })?;

    module.register_method("phalanx_finalizedHead", |params, chain, _| -> Answer {
        Args::parse(&params, &[])?;
        let head = chain.head();
        Ok(json!({
            "height": head.header.height,
            "hash": head.hash(),
            "parent": head.header.parent,
            "timestamp_ms": head.header.timestamp_ms,
            "state_root": head.header.state_root,
            "transactions": head.transactions.len(),
        }))
    })?;

    module.register_blocking_method("phalanx_transaction", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["hash"])?;
        let text: String = args.required(0, "a 32-byte transaction hash (0x-hex)")?;
        let hash = Hash::from_hex(&text)
            .ok_or_else(|| invalid_params("`hash` must be a 32-byte transaction hash (0x-hex)"))?;
        if let Some(location) = chain.transaction(&hash).map_err(internal)? {
            let receipt = receipt_json(&location.receipt);
            let mut location = json!(location);
            location["receipt"] = receipt;
            return Ok(json!({ "status": "finalized", "location": location }));
        }
        let status = if chain.is_pending(&hash) {
            "pending"
        } else {
            "unknown"
        };
        Ok(json!({ "status": status }))
    })?;

    module.register_blocking_method("phalanx_stateProof", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["key"])?;
        let key = parse_hex(&args.required::<String>(0, "a storage key (0x-hex)")?)?;
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
    })?;

    // Many keys against one finalized state root, so an enclave can check a set of facts
    // together (it verifies each proof against its own head, which the host syncs to `height`).
    module.register_blocking_method("phalanx_stateProofs", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["keys"])?;
        let texts = args.required::<Vec<String>>(0, "a list of storage keys (0x-hex)")?;
        if texts.len() > MAX_PROOF_KEYS {
            return Err(invalid_params(format!(
                "{} keys asked, at most {MAX_PROOF_KEYS} per call; split the list",
                texts.len()
            )));
        }
        let keys = texts
            .iter()
            .map(|text| parse_hex(text))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = chain.prove_many(&keys).map_err(internal)?;
        let (header, certificate, proven) = (batch.header, batch.certificate, batch.entries);
        let entries: Vec<Value> = keys
            .iter()
            .zip(proven)
            .map(|(key, (value, proof))| {
                json!({
                    "key": hex0x(key),
                    "value": value.as_deref().map(hex0x),
                    "proof": hex0x(&proof.encode()),
                })
            })
            .collect();
        Ok(json!({
            "height": header.height,
            "block_hash": header.hash(),
            "state_root": header.state_root,
            "header": hex0x(&header.encode()),
            "certificate": hex0x(&certificate),
            "entries": entries,
        }))
    })?;

    // A stored value can be as large as a transaction let it be: hex-encode it off the workers.
    module.register_blocking_method("phalanx_storage", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["key"])?;
        let key = parse_hex(&args.required::<String>(0, "a storage key (0x-hex)")?)?;
        Ok(json!(chain.head_state().get(&key).map(|v| hex0x(v))))
    })?;

    module.register_method("phalanx_chainParams", |params, chain, _| -> Answer {
        Args::parse(&params, &[])?;
        let state = chain.head_state();
        let params = system::params(&state).map_err(internal)?;
        Ok(json!({ "chain": params, "governance": governance::params(&state).map_err(internal)? }))
    })?;

    module.register_blocking_method("phalanx_proposals", |params, chain, _| -> Answer {
        let (start, limit) = page_args::<u32>(&params, "a proposal id (a non-negative integer)")?;
        let (proposals, next) = page(
            governance::proposals(&chain.head_state()),
            |proposal| proposal.id,
            start.as_ref(),
            limit,
        );
        Ok(json!({ "proposals": proposals, "next": next, "height": chain.height() }))
    })?;

    module.register_method("phalanx_proposal", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["id"])?;
        let id: u32 = args.required(0, "a proposal id (a non-negative integer)")?;
        let state = chain.head_state();
        let proposal = governance::proposal(&state, id)
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no proposal #{id}")))?;
        Ok(json!({ "proposal": proposal, "height": chain.height() }))
    })?;

    module.register_method("phalanx_treasury", |params, chain, _| -> Answer {
        Args::parse(&params, &[])?;
        let state = chain.head_state();
        Ok(json!({
            "account": treasury::account(),
            "balance": treasury::balance(&state).map_err(internal)?,
            "mining_pot": balances::account(&state, &phalanx_runtime::genesis::mining_pot()).map_err(internal)?.free,
            "total_issuance": balances::total_issuance(&state).map_err(internal)?,
        }))
    })?;

    module.register_blocking_method("phalanx_faults", |params, chain, _| -> Answer {
        let (start, limit) = page_args::<usize>(
            &params,
            "a position in the fault log (a non-negative integer)",
        )?;
        let (faults, next) = page(
            chain.faults().into_iter().enumerate(),
            |(position, _)| *position,
            start.as_ref(),
            limit,
        );
        let faults: Vec<String> = faults.into_iter().map(|(_, fault)| fault).collect();
        Ok(json!({ "faults": faults, "next": next }))
    })?;

    gatekeeper_methods(&mut module)?;
    contracts::contract_methods(&mut module)?;
    mining::mining_methods(&mut module)?;

    module.register_method("phalanx_genesis", |params, chain, _| -> Answer {
        Args::parse(&params, &[])?;
        Ok(json!({ "hash": chain.genesis_hash(), "config": chain.genesis_config() }))
    })?;

    module.register_subscription(
        SUBSCRIPTION_METHODS[0],
        "phalanx_finalized",
        SUBSCRIPTION_METHODS[1],
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

const CLUSTER_INDEX: &str = "a cluster index (a non-negative integer)";
const KEY_EPOCH: &str = "a key epoch (a non-negative integer)";

/// The height of the last block executed into `state`: what an answer read from it is "at".
fn height_of(state: &phalanx_state::State) -> Result<u64, ErrorObjectOwned> {
    Ok(system::block(state).map_err(internal)?.0)
}

/// The epoch a key method answers for: the one asked for, else the newest published one.
fn epoch_or_current(
    state: &phalanx_state::State,
    asked: Option<u32>,
) -> Result<u32, ErrorObjectOwned> {
    match asked {
        Some(epoch) => Ok(epoch),
        None => gatekeeper::current_epoch(state)
            .map_err(internal)?
            .ok_or_else(|| {
                not_found(
                    "no key epoch has been published yet: once a gatekeeper is appointed, its \
                     enclave publishes the master key of epoch 0",
                )
            }),
    }
}

/// A published key's answer: `fields` (what the key is) with the proof of `key` holding
/// `value` against the finalized head `proven` was read at, and what a light client needs to
/// trust that head (its SCALE header and certificate).
fn proven_key_json(fields: Value, proven: &crate::chain::ProvenValue, key: &[u8]) -> Value {
    let mut answer = fields;
    answer["key"] = json!(hex0x(key));
    answer["value"] = json!(proven.value.as_deref().map(hex0x));
    answer["proof"] = json!(hex0x(&proven.proof.encode()));
    answer["height"] = json!(proven.header.height);
    answer["block_hash"] = json!(proven.header.hash());
    answer["state_root"] = json!(proven.header.state_root);
    answer["header"] = json!(hex0x(&proven.header.encode()));
    answer["certificate"] = json!(hex0x(&proven.certificate));
    answer
}

/// A key published per key epoch (a cluster's, a contract's) as `phalanx_clusterKey` and
/// `phalanx_contractKey` answer it: `fields(epoch, public_key)` with the proof of
/// `storage_key(epoch)` against the finalized head, plus the epoch's record (retired or not)
/// and the current epoch's number proven at the same root, so a client can refuse to seal to a
/// key that is retired or no longer current. The public key shown is the proven value, never
/// one read elsewhere. `epoch` is `asked`, else the current one in `state`; asked for the
/// current epoch, it is read again if a block finalized between reading it and proving it.
/// `missing(epoch)` is the `not_found` message when no key is published for it.
fn prove_epoch_key(
    chain: &Chain,
    state: &phalanx_state::State,
    asked: Option<u32>,
    storage_key: impl Fn(u32) -> Vec<u8>,
    missing: impl Fn(u32) -> String,
    fields: impl Fn(u32, [u8; 32]) -> Value,
) -> Answer {
    let mut epoch = epoch_or_current(state, asked)?;
    let current_key = gatekeeper::current_epoch_key();
    let mut attempts = 0;
    let (key, record_key, mut batch) = loop {
        let key = storage_key(epoch);
        let record_key = gatekeeper::epoch_key(epoch);
        let batch = chain
            .prove_many(&[key.clone(), record_key.clone(), current_key.clone()])
            .map_err(internal)?;
        let proven_current = batch
            .entries
            .last()
            .and_then(|(value, _)| value.as_deref())
            .and_then(|v| phalanx_primitives::decode_strict::<u32>(v, 4).ok());
        attempts += 1;
        match proven_current {
            Some(current) if asked.is_none() && current != epoch && attempts < 3 => {
                epoch = current;
            }
            _ => break (key, record_key, batch),
        }
    };
    let (current, record) = match (batch.entries.pop(), batch.entries.pop()) {
        (Some(current), Some(record)) => (current, record),
        _ => return Err(internal("a proof batch came back short")),
    };
    let (value, proof) = batch
        .entries
        .pop()
        .ok_or_else(|| internal("a proof batch came back short"))?;
    let value = value.ok_or_else(|| not_found(missing(epoch)))?;
    let public_key: [u8; 32] = phalanx_primitives::decode_strict(&value, 32).map_err(internal)?;
    let proven = crate::chain::ProvenValue {
        header: batch.header,
        certificate: batch.certificate,
        value: Some(value),
        proof,
    };
    let entry = |key: &[u8], (value, proof): (Option<Vec<u8>>, phalanx_state::Proof)| {
        json!({
            "key": hex0x(key),
            "value": value.as_deref().map(hex0x),
            "proof": hex0x(&proof.encode()),
        })
    };
    let mut answer = proven_key_json(fields(epoch, public_key), &proven, &key);
    answer["epoch_record"] = entry(&record_key, record);
    answer["current_epoch"] = entry(&current_key, current);
    Ok(answer)
}

/// The gatekeeper module's methods: gatekeepers, key epochs, clusters, and the published keys
/// with their state proofs. Nothing here returns a sealed key (they are in the state, under
/// `gatekeeper/master_share/…` and `gatekeeper/cluster_share/…`, readable one at a time with
/// `phalanx_storage`/`phalanx_stateProof` like any key, and only their recipient enclave can
/// open them).
fn gatekeeper_methods(
    module: &mut RpcModule<Chain>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    // At most MAX_GATEKEEPERS records, plus the stakes in unbonding.
    module.register_blocking_method("phalanx_gatekeepers", |params, chain, _| -> Answer {
        Args::parse(&params, &[])?;
        let state = chain.head_state();
        Ok(json!({
            "gatekeepers": gatekeeper::gatekeepers(&state).map_err(internal)?,
            "unbonding": gatekeeper::unbondings(&state).map_err(internal)?,
            "params": gatekeeper::params(&state).map_err(internal)?,
            "height": height_of(&state)?,
        }))
    })?;

    module.register_blocking_method("phalanx_keyEpochs", |params, chain, _| -> Answer {
        let (start, limit) = page_args::<u32>(&params, KEY_EPOCH)?;
        let state = chain.head_state();
        let (epochs, next) = page(
            gatekeeper::key_epochs(&state).map_err(internal)?,
            |epoch| epoch.epoch,
            start.as_ref(),
            limit,
        );
        Ok(json!({
            "epochs": epochs,
            "next": next,
            "current": gatekeeper::current_epoch(&state).map_err(internal)?,
            "requested": gatekeeper::requested_epoch(&state).map_err(internal)?,
            "height": height_of(&state)?,
        }))
    })?;

    module.register_blocking_method("phalanx_clusters", |params, chain, _| -> Answer {
        let (start, limit) = page_args::<u32>(&params, CLUSTER_INDEX)?;
        let state = chain.head_state();
        let (clusters, next) = page(
            gatekeeper::clusters(&state).map_err(internal)?,
            |cluster| cluster.index,
            start.as_ref(),
            limit,
        );
        Ok(json!({ "clusters": clusters, "next": next, "height": height_of(&state)? }))
    })?;

    // Members are paged (a cluster holds up to 10,000); `keys` has one entry per published
    // epoch.
    module.register_blocking_method("phalanx_cluster", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["index", "start", "limit"])?;
        let index: u32 = args.required(0, CLUSTER_INDEX)?;
        let start = args
            .optional::<String>(1, "a worker identity key (0x-hex)")?
            .map(|text| parse_identity(&text, "start"))
            .transpose()?;
        let limit = limit_arg(&args, 2)?;
        let state = chain.head_state();
        let cluster = gatekeeper::cluster(&state, index)
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no cluster #{index}")))?;
        let (members, next) = page(
            gatekeeper::members(&state, index),
            |member| *member,
            start.as_ref(),
            limit,
        );
        let mut keys = Vec::new();
        for epoch in gatekeeper::key_epochs(&state).map_err(internal)? {
            if let Some(public_key) =
                gatekeeper::cluster_public(&state, index, epoch.epoch).map_err(internal)?
            {
                keys.push(json!({ "epoch": epoch.epoch, "public_key": hex::encode(public_key) }));
            }
        }
        Ok(json!({
            "cluster": cluster,
            "members": members.iter().map(hex::encode).collect::<Vec<_>>(),
            "next": next.map(|identity| hex0x(&identity)),
            "keys": keys,
            "height": height_of(&state)?,
        }))
    })?;

    // Proofs: real work, and the certificate comes from the block log.
    module.register_blocking_method("phalanx_clusterKey", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["index", "epoch"])?;
        let index: u32 = args.required(0, CLUSTER_INDEX)?;
        let asked: Option<u32> = args.optional(1, KEY_EPOCH)?;
        let state = chain.head_state();
        if gatekeeper::cluster(&state, index)
            .map_err(internal)?
            .is_none()
        {
            return Err(not_found(format!("no cluster #{index}")));
        }
        // Clusters are never deleted, so the key is proven at the head as it is now.
        prove_epoch_key(
            &chain,
            &state,
            asked,
            |epoch| gatekeeper::cluster_public_key(index, epoch),
            |epoch| format!("cluster #{index} has no published key for epoch {epoch}"),
            |epoch, public_key| {
                json!({ "cluster": index, "epoch": epoch, "public_key": hex::encode(public_key) })
            },
        )
    })?;

    module.register_blocking_method("phalanx_masterKey", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["epoch"])?;
        let asked: Option<u32> = args.optional(0, KEY_EPOCH)?;
        let epoch = epoch_or_current(&chain.head_state(), asked)?;
        let key = gatekeeper::epoch_key(epoch);
        let proven = chain.prove(&key).map_err(internal)?;
        let record: phalanx_primitives::gatekeeper::KeyEpoch = proven
            .value
            .as_deref()
            .map(|value| phalanx_primitives::decode_strict(value, 1 << 12))
            .transpose()
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no key epoch {epoch}")))?;
        let public_key = record.master_public.ok_or_else(|| {
            not_found(format!(
                "key epoch {epoch} is requested and waits for a gatekeeper to publish its master key"
            ))
        })?;
        Ok(proven_key_json(
            json!({ "epoch": epoch, "public_key": hex::encode(public_key) }),
            &proven,
            &key,
        ))
    })?;
    Ok(())
}

/// Starts the RPC server on `addr`; returns the bound address and the handle that stops it.
pub async fn serve(chain: Chain, addr: SocketAddr) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let module = module(chain.clone()).map_err(std::io::Error::other)?;
    let methods: std::sync::Arc<std::collections::HashSet<String>> =
        std::sync::Arc::new(module.method_names().map(str::to_string).collect());
    let metrics = chain.metrics().clone();
    let scrape_chain = chain.clone();
    let scrape: envelope::Scrape = std::sync::Arc::new(move || scrape_chain.scrape_metrics());
    let server = Server::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH))
        .max_connections(1_000)
        .set_rpc_middleware(RpcServiceBuilder::new().layer_fn(move |inner| {
            envelope::Reasons::timed(inner, metrics.clone(), methods.clone())
        }))
        .set_http_middleware(
            tower::ServiceBuilder::new().layer(envelope::GuardLayer::with_metrics(scrape)),
        )
        .build(addr)
        .await?;
    let bound = server.local_addr()?;
    Ok((bound, server.start(module)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: &str) -> Params<'_> {
        Params::new(Some(json))
    }

    fn message(e: ErrorObjectOwned) -> (i32, String) {
        (e.code(), e.message().to_string())
    }

    #[test]
    fn a_failed_receipt_shows_its_code_and_the_words_for_it() {
        let code = phalanx_runtime::ErrorCode::new("balances", "zero_amount");
        let receipt = phalanx_runtime::Receipt {
            tx_hash: Hash::ZERO,
            fee: 7,
            error: Some(code.clone()),
            events: vec![phalanx_runtime::Event::CallFailed { error: code }],
        };
        let json = receipt_json(&receipt);
        assert_eq!(
            json["error"],
            json!({
                "module": "balances",
                "reason": "zero_amount",
                "message": "the amount must be greater than zero",
            })
        );
        // Events keep the stored code alone.
        assert_eq!(
            json["events"][0]["error"],
            json!({ "module": "balances", "reason": "zero_amount" })
        );
        let ok = phalanx_runtime::Receipt {
            error: None,
            events: Vec::new(),
            ..receipt
        };
        assert_eq!(receipt_json(&ok)["error"], Value::Null);
    }

    #[test]
    fn next_nonce_counts_the_pooled_run_of_nonces() {
        use crate::chain::{system_clock, ChainConfig};
        use phalanx_primitives::call::{BalancesCall, Call};
        use phalanx_primitives::{Keypair, Transaction, PHA};
        let dir = tempfile::tempdir().expect("tempdir");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let genesis = phalanx_runtime::GenesisConfig::dev(
            vec![hex::encode(Keypair::dev("validator").account().0)],
            now - 10_000,
        );
        let chain = Chain::open(
            ChainConfig {
                data_dir: dir.path().to_path_buf(),
                genesis,
            },
            system_clock(),
        )
        .expect("chain opens");
        let rpc = module(chain.clone()).expect("module");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ask = |who: &str| runtime.block_on(rpc.call::<_, Value>("phalanx_nextNonce", [who]));
        let alice = Keypair::dev("alice");
        let address = alice.account().to_address();
        let send = |nonce: u64| {
            let tx = Transaction {
                signer: alice.account(),
                nonce,
                fee: PHA / 100,
                expires_at: chain.height() + 100,
                call: Call::Balances(BalancesCall::Transfer {
                    to: Keypair::dev("bob").account(),
                    amount: PHA,
                }),
            }
            .sign(&alice, &chain.genesis_hash());
            chain.submit_tx(tx).expect("admitted");
        };
        let answer = ask(&address).expect("answers");
        assert_eq!(
            (&answer["nonce"], &answer["pooled"]),
            (&json!(0), &json!(0))
        );
        send(0);
        send(1);
        send(3); // behind a gap: it cannot run before nonce 2, so 2 is next
        let answer = ask(&address).expect("answers");
        assert_eq!(
            (&answer["nonce"], &answer["pooled"]),
            (&json!(2), &json!(2))
        );
        assert_eq!(answer["address"], json!(address));
        let bob = ask(&Keypair::dev("bob").account().to_address()).expect("answers");
        assert_eq!(bob["nonce"], json!(0), "another account's pool is its own");
        // Once 0 and 1 are finalized, the answer is the same nonce, none of it pooled.
        let head = chain.head();
        let block = chain
            .build(&head, head.header.timestamp_ms + 500)
            .expect("builds");
        chain.finalize(block, vec![]).expect("finalizes");
        let answer = ask(&address).expect("answers");
        assert_eq!(
            (&answer["nonce"], &answer["pooled"]),
            (&json!(2), &json!(0))
        );
        send(2); // fills the gap: 2 and 3 are pooled now
        let answer = ask(&address).expect("answers");
        assert_eq!(
            (&answer["nonce"], &answer["pooled"]),
            (&json!(4), &json!(2))
        );
        // Bad input is refused with a reason, like every method's.
        let Err(jsonrpsee::core::server::MethodsError::JsonRpc(e)) = ask("pha1notanaddress") else {
            panic!("a bad address is refused");
        };
        assert_eq!(e.code(), codes::INVALID_PARAMS);
        let data: Value = serde_json::from_str(e.data().expect("data").get()).expect("json");
        assert_eq!(data["reason"], "bad_address");
    }

    #[test]
    fn pages_walk_a_list_once_in_order() {
        let items: Vec<u32> = vec![1, 3, 4, 7, 9];
        assert_eq!(page(items.clone(), |x| *x, None, 2), (vec![1, 3], Some(4)));
        assert_eq!(
            page(items.clone(), |x| *x, Some(&4), 2),
            (vec![4, 7], Some(9))
        );
        assert_eq!(page(items.clone(), |x| *x, Some(&9), 2), (vec![9], None));
        // A start between keys begins at the next one; past the end is empty.
        assert_eq!(page(items.clone(), |x| *x, Some(&5), 2), (vec![7, 9], None));
        assert_eq!(page(items.clone(), |x| *x, Some(&10), 2), (vec![], None));
        assert_eq!(page(items, |x| *x, None, 5), (vec![1, 3, 4, 7, 9], None));
    }

    #[test]
    fn page_arguments_are_bounded() {
        assert_eq!(
            page_args::<u32>(&Params::new(None), "an id").expect("defaults"),
            (None, MAX_PAGE)
        );
        assert_eq!(
            page_args::<u32>(&params("[3, 10]"), "an id").expect("positional"),
            (Some(3), 10)
        );
        assert_eq!(
            page_args::<u32>(&params(r#"{"limit": 1}"#), "an id").expect("named"),
            (None, 1)
        );
        for bad in ["[null, 0]", "[null, 101]", "[null, -1]", "[null, 1.5]"] {
            assert_eq!(
                message(page_args::<u32>(&params(bad), "an id").expect_err(bad)),
                (
                    codes::INVALID_PARAMS,
                    "`limit` must be an integer from 1 to 100".into()
                ),
                "{bad}"
            );
        }
        assert_eq!(
            message(page_args::<u32>(&params(r#"["x"]"#), "a proposal id").expect_err("type")),
            (
                codes::INVALID_PARAMS,
                "`start` must be a proposal id".into()
            )
        );
        assert_eq!(
            message(page_args::<u32>(&params(r#"{"begin": 1}"#), "an id").expect_err("name")),
            (
                codes::INVALID_PARAMS,
                "unknown parameter `begin`; this method takes `start`, `limit`".into()
            )
        );
        assert_eq!(
            message(page_args::<u32>(&params("[1, 2, 3]"), "an id").expect_err("count")),
            (
                codes::INVALID_PARAMS,
                "3 parameters given; this method takes `start`, `limit`".into()
            )
        );
    }

    #[test]
    fn parameter_errors_name_the_parameter_not_rust_types() {
        let args = Args::parse(&params(r#"[{"a": 1}]"#), &["height"]).expect("parses");
        let e = args
            .required::<u64>(0, "a block height")
            .expect_err("wrong type");
        assert_eq!(
            message(e),
            (
                codes::INVALID_PARAMS,
                "`height` must be a block height".into()
            )
        );
        let args = Args::parse(&params("[]"), &["height"]).expect("parses");
        let e = args
            .required::<u64>(0, "a block height")
            .expect_err("missing");
        assert_eq!(
            message(e),
            (
                codes::INVALID_PARAMS,
                "missing parameter `height`: a block height".into()
            )
        );
        let e = Args::parse(&params("7"), &["height"]).expect_err("scalar");
        assert_eq!(
            message(e),
            (
                codes::INVALID_PARAMS,
                "pass the parameters as a list or an object".into()
            )
        );
    }

    #[test]
    fn response_limit_fits_the_largest_block_in_both_views() {
        // rawBlock: hex doubles the block; block: byte strings as JSON numbers, up to 4×.
        let overhead = 1 << 20;
        assert!(MAX_RESPONSE_BYTES as usize >= 2 * MAX_BLOCK_BYTES + overhead);
        assert!(MAX_RESPONSE_BYTES as usize >= 4 * MAX_BLOCK_BYTES + overhead);
        assert!(MAX_REQUEST_BYTES as usize > 2 * phalanx_primitives::transaction::MAX_TX_BYTES);
    }
}
