//! Confidential contracts (docs/contracts.md): `phalanx contract upload|instantiate|call|query|
//! list|show|deposit|withdraw`.
//!
//! `query` seals its input, signed by the asker, to the contract's cluster key
//! (`phalanx_client::seal_query`), POSTs it to a worker of that cluster (`/query`) and opens
//! the answer with the response key only this process holds.
//!
//! `call` seals its input for the contract's enclaves with the SDK
//! (`ContractKeyProof::seal_command`), sends it, waits for the cluster's final result and opens
//! it with the response key only this process holds. It checks the contract key's state proof
//! against the state root **of the node it talks to**: that node is trusted. Against a remote
//! node you do not run, check the root with a light client instead (`phalanx-light-client`);
//! a lying node could otherwise hand out a key of its own.
//!
//! Every command prints text, or JSON with `--json`. Malformed input (a file that is not valid
//! contract code or too large, a hash or id that is not 64 hex characters, a salt over 64
//! bytes, an amount that is not PHA) is refused before anything is sent, each with a reason of
//! its own (`bad_code`, `bad_code_hash`, `bad_contract_id`, `bad_salt`, `bad_amount`, …); a
//! call the chain refused is `call_failed` naming the chain's code.

use crate::accounts::{pha_amount, signer};
use crate::flags::{NodeFlags, Target};
use crate::output::print;
use crate::submit::{block_on, dev_chain, sign_and_submit, NonceFlag};
use crate::{CliError, Result};
use clap::{Args, Subcommand};
use phalanx_client::contracts as calls;
use phalanx_client::{
    open_command_output, Client, ClientError, CommandOutput, CommandStatus, ContractDetail,
    ContractsPage, Included,
};
use phalanx_primitives::call::Call;
use phalanx_primitives::contract::{self as wire, MAX_SALT_BYTES};
use phalanx_primitives::units::format_pha;
use phalanx_primitives::{Hash, Keypair};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// Who signs a contract transaction, and where.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Who signs and pays: dev account name, key file, or `-` to read a mnemonic from stdin.
    #[arg(long)]
    pub from: String,
    #[command(flatten)]
    pub nonce: NonceFlag,
    #[command(flatten)]
    pub node: NodeFlags,
}

/// `phalanx contract …`
#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Upload contract code (a WebAssembly module); prints its hash, size and storage fee.
    /// Code already stored is reported as such and not sent again.
    Upload {
        /// The .wasm file.
        file: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Instantiate stored code on a cluster; prints the new contract's id.
    Instantiate {
        /// The code's hash (64 hex characters, as `upload` prints it).
        code_hash: String,
        /// The index of the cluster whose workers run it.
        #[arg(long)]
        cluster: u32,
        /// Makes the id differ from another instance of the same code on the same cluster
        /// (at most 64 bytes).
        #[arg(long, default_value = "")]
        salt: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Send a command: seal the input for the contract's enclaves, submit it, wait for the
    /// cluster's result and print it decrypted. The contract key's proof is checked against
    /// the state root of the node given by --rpc, which is TRUSTED: for a node you do not run,
    /// check its root with a light client instead.
    Call {
        /// The contract's id (64 hex characters).
        contract: String,
        /// The input, as text.
        input: String,
        /// Most gas the command may use.
        #[arg(long, default_value_t = 10_000_000)]
        gas_limit: u64,
        /// Units of PHA per unit of gas [default: the chain's minimum].
        #[arg(long)]
        gas_price: Option<u128>,
        /// Return once the command is queued (its result can then not be read: the key that
        /// opens it is not kept).
        #[arg(long)]
        no_wait: bool,
        /// How long to wait for the result, in seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Ask a question: seal the input to the contract's cluster key, POST it to a worker of
    /// that cluster, and print the answer decrypted. Read only: nothing persists. Signed by
    /// --from, so the contract sees who asks. The cluster key's proof is checked against the
    /// state root of the --rpc node, which is TRUSTED (as for `call`).
    Query {
        /// The contract's id (64 hex characters).
        contract: String,
        /// The input, as text.
        input: String,
        /// The worker to ask: its query endpoint (`http://host:port`) [default: each member of
        /// the contract's cluster in turn, as registered on chain].
        #[arg(long)]
        worker: Option<String>,
        /// Who asks: dev account name, key file, or `-` to read a mnemonic from stdin.
        #[arg(long)]
        from: String,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// List the contracts and the contract parameters.
    List {
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Show a contract: its code, cluster, commands and public key in each epoch.
    Show {
        /// The contract's id (64 hex characters).
        contract: String,
        #[command(flatten)]
        node: NodeFlags,
    },
    /// Add PHA to your query deposit (reserved; queries are paid from it).
    Deposit {
        /// Amount in PHA (up to 12 decimals).
        #[arg(allow_hyphen_values = true)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Start withdrawing PHA from your query deposit (free again after a delay).
    Withdraw {
        /// Amount in PHA (up to 12 decimals).
        #[arg(allow_hyphen_values = true)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
}

impl ContractCommand {
    /// The node flags given to the command.
    pub fn flags(&self) -> &NodeFlags {
        match self {
            ContractCommand::Upload { sign, .. }
            | ContractCommand::Instantiate { sign, .. }
            | ContractCommand::Call { sign, .. }
            | ContractCommand::Deposit { sign, .. }
            | ContractCommand::Withdraw { sign, .. } => &sign.node,
            ContractCommand::List { node }
            | ContractCommand::Show { node, .. }
            | ContractCommand::Query { node, .. } => node,
        }
    }
}

/// 32 bytes as 64 hex characters (`0x` optional), or an error with `reason` naming `what`.
fn parse_32(text: &str, what: &str, reason: &str) -> Result<[u8; 32]> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            CliError::with_reason(
                reason,
                format!("`{text}` is not {what}: 64 hex characters (0x optional)"),
            )
        })
}

/// A contract id.
pub fn parse_contract_id(text: &str) -> Result<[u8; 32]> {
    parse_32(
        text,
        "a contract id (as `phalanx contract list` shows it)",
        "bad_contract_id",
    )
}

/// A code hash.
pub fn parse_code_hash(text: &str) -> Result<Hash> {
    parse_32(
        text,
        "a code hash (as `phalanx contract upload` prints it)",
        "bad_code_hash",
    )
    .map(Hash)
}

/// A salt as bytes: its UTF-8, at most [`MAX_SALT_BYTES`].
fn parse_salt(text: &str) -> Result<Vec<u8>> {
    if text.len() > MAX_SALT_BYTES {
        return Err(CliError::with_reason(
            "bad_salt",
            format!("the salt is {} bytes; at most {MAX_SALT_BYTES}", text.len()),
        ));
    }
    Ok(text.as_bytes().to_vec())
}

/// A PHA amount above zero.
fn positive_amount(text: &str) -> Result<u128> {
    let amount = pha_amount(text)?;
    if amount == 0 {
        return Err(CliError::with_reason(
            "bad_amount",
            "the amount must be greater than zero",
        ));
    }
    Ok(amount)
}

/// Reads and checks contract code before anything is sent: its size against `max_bytes` and
/// the contract rules (`phalanx_contract::validate`, as the chain checks them).
fn read_code(file: &std::path::Path, max_bytes: usize) -> Result<Vec<u8>> {
    let code = std::fs::read(file).map_err(|e| {
        CliError::with_reason(
            "file_not_found",
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    if code.len() > max_bytes {
        return Err(CliError::with_reason(
            "code_too_large",
            format!(
                "{} is {} bytes; this chain takes at most {max_bytes} in one transaction",
                file.display(),
                code.len()
            ),
        ));
    }
    let limits = phalanx_contract::CodeLimits {
        max_code_bytes: max_bytes,
        ..Default::default()
    };
    phalanx_contract::validate(&code, &limits).map_err(|e| {
        CliError::with_reason(
            "bad_code",
            format!(
                "{} is not valid contract code: {e} (docs/contracts-abi.md lists the rules)",
                file.display()
            ),
        )
    })?;
    Ok(code)
}

/// Signs and submits `call`, waits for it, and returns where it landed; a call the chain
/// refused is an error (reason `call_failed`) naming its code and the fee paid.
async fn send(client: &Client, key: &Keypair, call: Call, nonce: &NonceFlag) -> Result<Included> {
    let hash = sign_and_submit(client, key, call, nonce).await?;
    let included = client
        .wait_finalized(&hash, Duration::from_secs(60))
        .await?;
    if let Some(error) = included.error() {
        return Err(CliError::with_reason(
            "call_failed",
            format!(
                "transaction {hash} was included in block {} but its call failed: {error} (the fee of {} was paid)",
                included.height,
                format_pha(included.receipt.fee)
            ),
        )
        .detail("hash", json!(hash))
        .detail("height", json!(included.height))
        .detail("receipt", json!(included.receipt)));
    }
    Ok(included)
}

/// `not_found` from the node as `None`.
fn found<T>(answer: std::result::Result<T, ClientError>) -> Result<Option<T>> {
    match answer {
        Ok(value) => Ok(Some(value)),
        Err(ClientError::Rpc { reason, .. }) if reason.as_deref() == Some("not_found") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Contract `id`, or an error saying there is none.
async fn contract(client: &Client, id: &[u8; 32]) -> Result<ContractDetail> {
    found(client.contract(id).await)?.ok_or_else(|| {
        CliError::with_reason(
            "unknown_contract",
            format!(
                "there is no contract {} on this chain (`phalanx contract list` shows them)",
                hex::encode(id)
            ),
        )
    })
}

/// Runs `phalanx contract …` against `target`.
pub fn run(command: ContractCommand, target: &Target) -> Result<()> {
    let json_mode = target.json;
    // Local checks first: nothing is sent when the input is malformed.
    match &command {
        ContractCommand::Instantiate {
            code_hash, salt, ..
        } => {
            parse_code_hash(code_hash)?;
            parse_salt(salt)?;
        }
        ContractCommand::Call { contract, .. }
        | ContractCommand::Show { contract, .. }
        | ContractCommand::Query { contract, .. } => {
            parse_contract_id(contract)?;
        }
        ContractCommand::Deposit { amount, .. } | ContractCommand::Withdraw { amount, .. } => {
            positive_amount(amount)?;
        }
        ContractCommand::Upload { file, .. } => {
            // The size limit comes from the chain; the rest is checked here already.
            read_code(file, usize::MAX)?;
        }
        ContractCommand::List { .. } => {}
    }
    let client = Client::new(&target.rpc)?;
    block_on(async move {
        match command {
            ContractCommand::Upload { file, sign } => upload(&client, file, sign, json_mode).await,
            ContractCommand::Instantiate {
                code_hash,
                cluster,
                salt,
                sign,
            } => instantiate(&client, &code_hash, cluster, &salt, sign, json_mode).await,
            ContractCommand::Call {
                contract,
                input,
                gas_limit,
                gas_price,
                no_wait,
                timeout,
                sign,
            } => {
                let options = CallOptions {
                    gas_limit,
                    gas_price,
                    no_wait,
                    timeout: Duration::from_secs(timeout),
                };
                call(&client, &contract, &input, options, sign, json_mode).await
            }
            ContractCommand::Query {
                contract,
                input,
                worker,
                from,
                ..
            } => query(&client, &contract, &input, worker, &from, json_mode).await,
            ContractCommand::List { .. } => {
                let page = client.all_contracts().await?;
                print(json_mode, &json!(page), || list_text(&page));
                Ok(())
            }
            ContractCommand::Show { contract: id, .. } => {
                let detail = contract(&client, &parse_contract_id(&id)?).await?;
                print(json_mode, &json!(detail), || show_text(&detail));
                Ok(())
            }
            ContractCommand::Deposit { amount, sign } => {
                let amount = positive_amount(&amount)?;
                deposit(&client, calls::deposit(amount), sign, json_mode).await
            }
            ContractCommand::Withdraw { amount, sign } => {
                let amount = positive_amount(&amount)?;
                deposit(&client, calls::withdraw(amount), sign, json_mode).await
            }
        }
    })
}

async fn upload(client: &Client, file: PathBuf, sign: SignArgs, json_mode: bool) -> Result<()> {
    let params = client.contracts(None, Some(1)).await?.params;
    let (chain, _) = client.params().await?;
    // The transaction carries the code plus about a hundred bytes of envelope.
    let max =
        (params.max_code_bytes as usize).min((chain.max_tx_bytes as usize).saturating_sub(256));
    let code = read_code(&file, max)?;
    let hash = wire::code_hash(&code);
    let size = code.len();
    if let Some(stored) = found(client.code(&hash).await)? {
        let info = stored.code;
        print(
            json_mode,
            &json!({ "code_hash": hash, "size": size, "already_stored": true, "code": info }),
            || {
                format!(
                    "code {hash} ({size} bytes) is already stored: uploaded by {} at height {}; nothing was sent\ninstantiate it with `phalanx contract instantiate {hash} --cluster <index> --from <account>`",
                    info.uploader, info.uploaded_at
                )
            },
        );
        return Ok(());
    }
    let key = signer(&sign.from, dev_chain(client).await?)?;
    let included = send(client, &key, calls::upload_code(code), &sign.nonce).await?;
    let info = client.code(&hash).await?.code;
    print(
        json_mode,
        &json!({
            "code_hash": hash,
            "size": size,
            "already_stored": false,
            "fee": info.fee,
            "hash": included.receipt.tx_hash,
            "height": included.height,
            "code": info,
        }),
        || {
            format!(
                "uploaded code {hash}: {size} bytes, storage fee {} (to the treasury) plus the transaction fee {}, in block {}\ninstantiate it with `phalanx contract instantiate {hash} --cluster <index> --from <account>`",
                format_pha(info.fee),
                format_pha(included.receipt.fee),
                included.height
            )
        },
    );
    Ok(())
}

async fn instantiate(
    client: &Client,
    code_hash: &str,
    cluster: u32,
    salt: &str,
    sign: SignArgs,
    json_mode: bool,
) -> Result<()> {
    let code_hash = parse_code_hash(code_hash)?;
    let salt = parse_salt(salt)?;
    let key = signer(&sign.from, dev_chain(client).await?)?;
    if found(client.code(&code_hash).await)?.is_none() {
        return Err(CliError::with_reason(
            "unknown_code",
            format!("no code with hash {code_hash} is stored: upload it first (`phalanx contract upload <file.wasm>`)"),
        ));
    }
    if found(client.cluster(cluster, None, Some(1)).await)?.is_none() {
        return Err(CliError::with_reason(
            "unknown_cluster",
            format!("there is no cluster #{cluster} (`phalanx cluster list` shows them)"),
        ));
    }
    let id = wire::contract_id(&key.account(), &code_hash, cluster, &salt);
    if found(client.contract(&id).await)?.is_some() {
        return Err(CliError::with_reason(
            "already_instantiated",
            format!(
                "{} already instantiated this code on cluster #{cluster} with this salt (contract {}): pass another --salt",
                key.account(),
                hex::encode(id)
            ),
        ));
    }
    let included = send(
        client,
        &key,
        calls::instantiate(code_hash, cluster, salt),
        &sign.nonce,
    )
    .await?;
    print(
        json_mode,
        &json!({
            "contract": hex::encode(id),
            "code_hash": code_hash,
            "cluster": cluster,
            "hash": included.receipt.tx_hash,
            "height": included.height,
        }),
        || {
            format!(
                "contract {} instantiated on cluster #{cluster} in block {}\nthe cluster's gatekeeper publishes the contract's key next; `phalanx contract show {}` lists it once published, then send commands with `phalanx contract call {} <input> --from <account>`",
                hex::encode(id),
                included.height,
                hex::encode(id),
                hex::encode(id)
            )
        },
    );
    Ok(())
}

/// `call`'s options beyond the input.
struct CallOptions {
    gas_limit: u64,
    gas_price: Option<u128>,
    no_wait: bool,
    timeout: Duration,
}

async fn call(
    client: &Client,
    contract_id: &str,
    input: &str,
    options: CallOptions,
    sign: SignArgs,
    json_mode: bool,
) -> Result<()> {
    let id = parse_contract_id(contract_id)?;
    let key = signer(&sign.from, dev_chain(client).await?)?;
    let detail = contract(client, &id).await?;
    let params = client.contracts(None, Some(1)).await?.params;
    let gas_price = options.gas_price.unwrap_or(params.min_gas_price);
    let proof = found(client.contract_key(&id, None).await)?.ok_or_else(|| {
        CliError::with_reason(
            "no_contract_key",
            format!(
                "contract {} has no public key published for the current key epoch yet, so nothing can be sealed to it: the gatekeeper of cluster #{} publishes it after the instantiation and after each key rotation; try again in a few blocks (`phalanx contract show {}` lists its keys)",
                hex::encode(id),
                detail.contract.cluster,
                hex::encode(id)
            ),
        )
    })?;
    // The node is trusted here (see the module docs): its answer's root is taken as the
    // trusted one. The proof is still checked against it (key, value, epoch current).
    let trusted_root = proof.state_root;
    let (sealed, response_key) = proof
        .seal_command(&trusted_root, key.account(), input.as_bytes())
        .map_err(|e| CliError::with_reason("seal_failed", e.to_string()))?;
    let included = send(
        client,
        &key,
        calls::submit_command(&proof, sealed, options.gas_limit, gas_price),
        &sign.nonce,
    )
    .await?;
    let sequence = calls::command_sequence(&included, &id).ok_or_else(|| {
        CliError::new("the transaction was included but its receipt names no queued command")
    })?;
    let queued = json!({
        "contract": hex::encode(id),
        "sequence": sequence,
        "key_epoch": proof.epoch,
        "hash": included.receipt.tx_hash,
        "height": included.height,
    });
    if options.no_wait {
        print(
            json_mode,
            &json!({ "status": "queued", "command": queued }),
            || {
                format!(
                "command {sequence} queued for contract {} in block {} (not waiting: its result cannot be opened later, the key that opens it is not kept)",
                hex::encode(id),
                included.height
            )
            },
        );
        return Ok(());
    }
    let done = client.wait_command(&id, sequence, options.timeout).await?;
    let command = &done.command;
    match (command.status, &done.result) {
        (CommandStatus::Pending, _) => Err(CliError::with_reason(
            "timeout",
            format!(
                "command {sequence} of contract {} has no final result after {} s; it is refunded if none is final by height {} (`phalanx contract show {}`)",
                hex::encode(id),
                options.timeout.as_secs(),
                command.deadline,
                hex::encode(id)
            ),
        )
        .detail("command", queued)),
        (CommandStatus::TimedOut, _) | (CommandStatus::Final, None) => Err(CliError::with_reason(
            "command_timed_out",
            format!(
                "command {sequence} of contract {} timed out: the cluster's members did not agree on a result by height {}; the {} reserved for its gas was refunded",
                hex::encode(id),
                command.deadline,
                format_pha(command.reserved)
            ),
        )
        .detail("command", queued)),
        (CommandStatus::Final, Some(result)) => {
            let output = open_command_output(&response_key, &result.sealed_output)
                .map_err(|e| CliError::with_reason("unreadable_result", e.to_string()))?;
            let gas = json!({
                "gas_used": result.gas_used,
                "paid": result.paid,
                "refunded": result.refunded,
                "agreeing": result.agreeing,
                "final_at": result.final_at,
            });
            let shown = output_json(&output);
            print(
                json_mode,
                &json!({ "status": "final", "command": queued, "result": gas, "output": shown }),
                || {
                    format!(
                        "command {sequence} of contract {}: final at height {} ({} member(s) agreed)\n  {}\n  gas used {} ({} paid to the members' operators, {} refunded)",
                        hex::encode(id),
                        result.final_at,
                        result.agreeing,
                        output_text(&output),
                        result.gas_used,
                        format_pha(result.paid),
                        format_pha(result.refunded)
                    )
                },
            );
            match output {
                CommandOutput::Failed { code, message } => Err(CliError::with_reason(
                    "command_failed",
                    format!("the command could not run in the enclave: {message} ({code}); nothing changed"),
                )),
                CommandOutput::Ran { .. } => Ok(()),
            }
        }
    }
}

/// How long a query stays valid, past the chain time of the node's head.
const QUERY_VALIDITY_MS: u64 = 2 * 60 * 1000;

async fn query(
    client: &Client,
    contract_id: &str,
    input: &str,
    worker: Option<String>,
    from: &str,
    json_mode: bool,
) -> Result<()> {
    let id = parse_contract_id(contract_id)?;
    let key = signer(from, dev_chain(client).await?)?;
    let detail = contract(client, &id).await?;
    let cluster = detail.contract.cluster;
    let proof = found(client.cluster_key(cluster, None).await)?.ok_or_else(|| {
        CliError::with_reason(
            "no_cluster_key",
            format!(
                "cluster #{cluster} has no key for the current key epoch yet, so no query can be sealed to it: its gatekeeper shares one a few blocks after the cluster is made and after each key rotation; try again shortly (`phalanx cluster show {cluster}` lists its keys)"
            ),
        )
    })?;
    // The node is trusted here, as for `call`: its answer's root is taken as the trusted one.
    let trusted_root = proof.state_root;
    let header: phalanx_primitives::Header =
        phalanx_primitives::decode_strict(&proof.header, 1 << 10)
            .map_err(|e| CliError::with_reason("bad_answer", e.to_string()))?;
    let expires_at_ms = header.timestamp_ms + QUERY_VALIDITY_MS;
    // Each query names the worker it is for (its enclave identity), so it is sealed per worker.
    let mut registered = Vec::new();
    for member in client.cluster_with_members(cluster).await?.members {
        if let Some(info) = client.worker(&member).await? {
            registered.push((info.endpoint, Some(info.identity)));
        }
    }
    let endpoints = match worker {
        Some(url) => {
            let identity = registered
                .iter()
                .find(|(e, _)| *e == url)
                .and_then(|(_, id)| *id);
            vec![(url, identity)]
        }
        None => registered,
    };
    if endpoints.is_empty() {
        return Err(CliError::with_reason(
            "no_worker",
            format!("cluster #{cluster} has no registered member to ask"),
        ));
    }
    let mut refusals = Vec::new();
    for (endpoint, identity) in &endpoints {
        // A worker not registered at that URL says who it is (if it lies, its enclave
        // refuses the query as signed for another worker).
        let identity = match identity {
            Some(identity) => *identity,
            None => match worker_identity(endpoint) {
                Ok(identity) => identity,
                Err(e) => {
                    refusals.push(format!("{endpoint}: {e}"));
                    continue;
                }
            },
        };
        let sealed = phalanx_client::seal_query(
            &proof,
            &trusted_root,
            &key,
            id,
            identity,
            input.as_bytes(),
            expires_at_ms,
        )
        .map_err(|e| CliError::with_reason("seal_failed", e.to_string()))?;
        let answer = match post_query(endpoint, &sealed.body) {
            Ok(answer) => answer,
            Err(e) => {
                refusals.push(format!("{endpoint}: {e}"));
                continue;
            }
        };
        match answer {
            (200, body) => {
                let answer = phalanx_client::open_query_answer(&sealed.response_key, &body)
                    .map_err(|e| {
                        CliError::with_reason(
                            "bad_answer",
                            format!("{endpoint} answered bytes that do not open: {e}"),
                        )
                    })?;
                let shown = output_json(&answer.output);
                print(
                    json_mode,
                    &json!({
                        "contract": hex::encode(id),
                        "worker": endpoint,
                        "output": shown,
                        "fuel_used": answer.fuel_used,
                        "as_of": answer.as_of,
                    }),
                    || {
                        format!(
                            "query of contract {} answered by {endpoint} (its state includes the first {} command(s), fuel {})\n  {}",
                            hex::encode(id),
                            answer.as_of,
                            answer.fuel_used,
                            output_text(&answer.output)
                        )
                    },
                );
                return match answer.output {
                    CommandOutput::Failed { code, message } => Err(CliError::with_reason(
                        "query_failed",
                        format!("the query could not run in the enclave: {message} ({code})"),
                    )),
                    CommandOutput::Ran { .. } => Ok(()),
                };
            }
            (status, body) => {
                let text = String::from_utf8_lossy(&body).to_string();
                let reason = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["reason"].as_str().map(str::to_string))
                    .unwrap_or_default();
                refusals.push(format!("{endpoint}: HTTP {status} {text}"));
                if reason == "insufficient_deposit" {
                    let message = serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v["message"].as_str().map(str::to_string))
                        .unwrap_or(text);
                    return Err(CliError::with_reason(
                        "insufficient_deposit",
                        format!(
                            "{endpoint} refused the query: {message}; add to the deposit, e.g. `phalanx contract deposit 1 --from {from}`"
                        ),
                    ));
                }
                // A refusal about the query itself is the same at every member; the others
                // are this worker's state, so the next member is asked.
                if !matches!(
                    reason.as_str(),
                    "busy" | "not_ready" | "deposit_unknown" | "rate_limited"
                ) {
                    return Err(CliError::with_reason(
                        "query_refused",
                        format!("{endpoint} refused the query: {text}"),
                    ));
                }
            }
        }
    }
    Err(CliError::with_reason(
        "no_answer",
        format!(
            "no worker of cluster #{cluster} answered: {}",
            refusals.join("; ")
        ),
    ))
}

/// The enclave identity a worker's `GET /info` reports.
fn worker_identity(endpoint: &str) -> std::result::Result<[u8; 32], String> {
    let (status, body) = http_exchange(endpoint, "GET", "/info", &[])?;
    if status != 200 {
        return Err(format!("GET /info answered HTTP {status}"));
    }
    let info: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    info["identity"]
        .as_str()
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| "GET /info names no identity".to_string())
}

/// POSTs `body` to `{endpoint}/query` (plain `http://` only) and returns the status and body.
fn post_query(endpoint: &str, body: &[u8]) -> std::result::Result<(u16, Vec<u8>), String> {
    http_exchange(endpoint, "POST", "/query", body)
}

/// One HTTP/1.1 request to `{endpoint}{path}` (plain `http://` only): the status and body.
fn http_exchange(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::result::Result<(u16, Vec<u8>), String> {
    use std::io::{Read, Write};
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{endpoint}` is not an http:// endpoint"))?;
    let host = rest.split('/').next().unwrap_or(rest);
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    // Longer than a worker takes at most (40 s: a deposit proof, a queue wait and a
    // query's outbound HTTP), so a slow answer is not given up on and asked (and paid) again
    // elsewhere.
    let timeout = Some(Duration::from_secs(45));
    stream
        .set_read_timeout(timeout)
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(timeout)
        .map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the worker's answer has no HTTP header")?;
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("the worker's answer has no HTTP status")?;
    let mut body = answer[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = unchunk(&body).ok_or("the worker's chunked answer is malformed")?;
    }
    Ok((status, body))
}

/// The payload of an HTTP/1.1 chunked body.
fn unchunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line]).ok()?.trim(), 16).ok()?;
        body = &body[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Bytes as text if they are UTF-8, else as `0x` hex.
fn bytes_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => format!("0x{}", hex::encode(bytes)),
    }
}

fn output_json(output: &CommandOutput) -> serde_json::Value {
    match output {
        CommandOutput::Ran { status, output } => json!({
            "ran": true,
            "status": status,
            "text": std::str::from_utf8(output).ok(),
            "hex": format!("0x{}", hex::encode(output)),
        }),
        CommandOutput::Failed { code, message } => {
            json!({ "ran": false, "code": code, "message": message })
        }
    }
}

fn output_text(output: &CommandOutput) -> String {
    match output {
        CommandOutput::Ran { status: 0, output } => format!("output: {}", bytes_text(output)),
        CommandOutput::Ran { status, output } => format!(
            "the contract refused (status {status}; nothing it wrote was kept): {}",
            bytes_text(output)
        ),
        CommandOutput::Failed { code, message } => {
            format!("failed in the enclave: {message} ({code})")
        }
    }
}

async fn deposit(client: &Client, call: Call, sign: SignArgs, json_mode: bool) -> Result<()> {
    let key = signer(&sign.from, dev_chain(client).await?)?;
    let included = send(client, &key, call, &sign.nonce).await?;
    let now = client.query_deposit(&key.account()).await?;
    let d = &now.deposit;
    print(
        json_mode,
        &json!({
            "hash": included.receipt.tx_hash,
            "height": included.height,
            "address": now.address,
            "deposit": d,
        }),
        || {
            let mut text = format!(
                "finalized in block {}; query deposit of {}: {} available",
                included.height,
                now.address,
                format_pha(d.available)
            );
            if d.withdrawing > 0 {
                text.push_str(&format!(
                    ", {} withdrawing (free at the end of block {})",
                    format_pha(d.withdrawing),
                    d.release_at
                ));
            }
            text
        },
    );
    Ok(())
}

fn list_text(page: &ContractsPage) -> String {
    let p = &page.params;
    let mut lines = vec![format!(
        "{} contract(s) at height {}; code costs {} a byte, gas at least {} units, commands time out after {} blocks",
        page.contracts.len(),
        page.height,
        format_pha(p.code_byte_fee),
        p.min_gas_price,
        p.command_timeout_blocks
    )];
    for c in &page.contracts {
        lines.push(format!(
            "  {}  cluster #{}  code {}  {} command(s)  deployed by {} at height {}",
            hex::encode(c.id),
            c.cluster,
            c.code_hash,
            c.commands,
            c.deployer,
            c.created_at
        ));
    }
    lines.join("\n")
}

fn show_text(detail: &ContractDetail) -> String {
    let c = &detail.contract;
    let mut lines = vec![
        format!("contract {}", hex::encode(c.id)),
        format!("  cluster:   #{}", c.cluster),
        format!(
            "  code:      {} ({} bytes, uploaded by {} at height {})",
            c.code_hash, detail.code.size, detail.code.uploader, detail.code.uploaded_at
        ),
        format!("  deployer:  {} at height {}", c.deployer, c.created_at),
        format!("  commands:  {}", c.commands),
    ];
    if detail.keys.is_empty() {
        lines.push(
            "  public keys: none yet (the cluster's gatekeeper publishes one per key epoch)"
                .to_string(),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hashes_salts_and_amounts_are_checked_before_sending() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_contract_id(&hex).ok(), Some([0xab; 32]));
        assert_eq!(
            parse_code_hash(&format!("0x{hex}")).ok(),
            Some(Hash([0xab; 32]))
        );
        for bad in ["", "zz", &"ab".repeat(31)] {
            assert_eq!(
                parse_contract_id(bad).expect_err(bad).reason(),
                "bad_contract_id"
            );
            assert_eq!(
                parse_code_hash(bad).expect_err(bad).reason(),
                "bad_code_hash"
            );
        }
        assert_eq!(parse_salt(&"s".repeat(64)).ok(), Some(vec![b's'; 64]));
        assert_eq!(
            parse_salt(&"s".repeat(65)).expect_err("long").reason(),
            "bad_salt"
        );
        assert_eq!(
            positive_amount("0").expect_err("zero").reason(),
            "bad_amount"
        );
        assert_eq!(
            positive_amount("-1").expect_err("negative").reason(),
            "bad_amount"
        );
        assert_eq!(positive_amount("1.5").ok(), Some(1_500_000_000_000));
    }

    #[test]
    fn outputs_read_as_text_or_hex() {
        assert_eq!(
            output_text(&CommandOutput::Ran {
                status: 0,
                output: b"ok".to_vec()
            }),
            "output: ok"
        );
        assert_eq!(
            output_text(&CommandOutput::Ran {
                status: 3,
                output: vec![0xff, 0x00]
            }),
            "the contract refused (status 3; nothing it wrote was kept): 0xff00"
        );
        assert_eq!(
            output_text(&CommandOutput::Failed {
                code: "out_of_fuel".into(),
                message: "ran out of gas".into()
            }),
            "failed in the enclave: ran out of gas (out_of_fuel)"
        );
    }
}
