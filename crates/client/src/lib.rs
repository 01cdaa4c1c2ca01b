//! Phalanx client SDK: talk to a node over JSON-RPC, build, sign and submit transactions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), phalanx_client::ClientError> {
//! use phalanx_client::Client;
//! use phalanx_primitives::{call::{BalancesCall, Call}, Keypair, PHA};
//! let client = Client::new("http://127.0.0.1:9944")?;
//! let alice = Keypair::dev("alice");
//! let bob = Keypair::dev("bob").account();
//! let hash = client.sign_and_submit(&alice, Call::Balances(BalancesCall::Transfer { to: bob, amount: PHA })).await?;
//! let included = client.wait_finalized(&hash, std::time::Duration::from_secs(30)).await?;
//! println!("in block {}", included.height);
//! # Ok(()) }
//! ```
//!
//! Answers come as typed results ([`types`]: blocks with receipts, transaction status, workers,
//! proposals, gatekeepers, key epochs, clusters, …), each matching the node's JSON field for
//! field; [`Client::call`] reaches any other method. [`config_file`] loads the TOML configs of
//! the node and the worker.
//!
//! Published keys come with their state proofs ([`Client::cluster_key`],
//! [`Client::contract_key`], [`Client::master_key`]): [`ClusterKeyProof::verify`],
//! [`ContractKeyProof::verify`] and [`MasterKeyProof::verify`] check the proof against the
//! answer's state root, so a client seals to a key the chain holds, not to whatever the node
//! says (trusting the state root itself takes a light client, or a node you run).
//!
//! Confidential contracts ([`contracts`]): [`ContractKeyProof::seal_command`] seals a command
//! for the contract's enclaves and returns the key that opens its result
//! ([`open_command_output`]); [`contracts`] builds the `ContractsCall` transactions.
//!
//! The SDK holds no long-term state: nonces come from the node at signing time
//! (`phalanx_nextNonce`, which counts the account's transactions already waiting in that node's
//! mempool, so several submissions in a row each get the next one). One signer sending through
//! several nodes at once should manage nonces itself ([`Client::sign_with_nonce`], or
//! [`Client::sign_and_submit_with_nonce`] with `Some(nonce)`).

pub mod config_file;
pub mod contracts;
pub mod types;

pub use config_file::{load_toml, resolve_relative, ConfigFileError};
pub use contracts::{
    open_command_output, open_query_answer, seal_query, OpenError, SealedQueryRequest,
};
pub use types::{
    cluster_id, BlockTransaction, CallError, Cluster, ClusterDetail, ClusterKeyProof,
    ClusterPublicKey, ClustersPage, CodeInfo, Command, CommandDetail, CommandOutput, CommandResult,
    CommandStatus, Contract, ContractDetail, ContractKeyProof, ContractsPage, ContractsParams,
    DescribedCode, ErrorCode, Event, FinalizedBlock, Gatekeeper, GatekeeperParams, GatekeeperSet,
    Included, KeyEpoch, KeyEpochsPage, KeyProofError, MasterKeyProof, Proposal, ProposalAt,
    ProposalStatus, ProposalsPage, ProvenValue, QueryDeposit, QueryDepositAt, RawBlock, Receipt,
    SealError, SealedRequest, StateProofs, StoredCode, TransactionStatus, Treasury, Unbonding,
    ValidatorSet, WorkerInfo, WorkersPage,
};

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::ClientError as RpcClientError;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use parity_scale_codec::Encode;
use phalanx_primitives::call::{Call, ChainParams, GovernanceParams};
use phalanx_primitives::{AccountId, Balance, Hash, Keypair, SignedTransaction, Transaction};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The dev node's RPC address.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:9944";

/// Blocks ahead that a transaction built by the SDK stays valid.
pub const DEFAULT_EXPIRY_BLOCKS: u64 = 600;

/// How many following nonces [`Client::sign_and_submit`] tries when the node finds the one it
/// picked already taken by a pooled transaction.
pub const MAX_NONCE_RETRIES: u32 = 64;

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error.
    #[error("{message}")]
    Rpc {
        /// Stable numeric code.
        code: i32,
        /// Human message.
        message: String,
        /// Stable snake_case reason, when the node gave one.
        reason: Option<String>,
    },
    /// The node could not be reached.
    #[error("cannot reach the node at {url}: {message} (is `phalanx dev` running?)")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The answer was not what this SDK expects (version mismatch?).
    #[error("unexpected answer from the node: {0}")]
    Decode(String),
    /// A wait ran out.
    #[error(
        "transaction {0} was not finalized within the wait; check later with `phalanx tx {0}`"
    )]
    Timeout(Hash),
}

/// A crate-wide result.
pub type Result<T> = std::result::Result<T, ClientError>;

/// `phalanx_status`.
#[derive(Clone, Debug, Deserialize)]
pub struct Status {
    /// Chain name.
    pub chain_id: String,
    /// Whether it is a production chain.
    pub production: bool,
    /// Genesis hash.
    pub genesis_hash: Hash,
    /// Finalized height.
    pub height: u64,
    /// Finalized head hash.
    pub head_hash: Hash,
    /// Head state root.
    pub state_root: Hash,
    /// Head timestamp.
    pub timestamp_ms: u64,
    /// Mempool size.
    pub mempool: usize,
    /// Validator keys (hex).
    pub validators: Vec<String>,
    /// Faults seen.
    pub faults: usize,
    /// Why the node halted, if it did.
    pub halted: Option<String>,
}

/// `phalanx_account`.
#[derive(Clone, Debug, Deserialize)]
pub struct AccountInfo {
    /// The account.
    pub address: AccountId,
    /// Units not held by a module (part may be frozen).
    pub free: Balance,
    /// Units held by modules (deposits, stake).
    pub reserved: Balance,
    /// Units behind open votes: a freeze over free PHA and stake, not extra units.
    pub locked: Balance,
    /// Units of a vesting allocation not claimed yet (frozen).
    pub vesting: Balance,
    /// Units that can be sent or pay fees: free less what is frozen and not covered by stake.
    pub spendable: Balance,
    /// Free and reserved.
    pub total: Balance,
    /// Next nonce.
    pub nonce: u64,
    /// Height read at.
    pub height: u64,
}

/// A JSON-RPC client for one node.
#[derive(Debug, Clone)]
pub struct Client {
    http: HttpClient,
    url: String,
}

#[derive(Deserialize)]
struct Params {
    chain: ChainParams,
    governance: GovernanceParams,
}

impl Client {
    /// A client for the node at `url` (`http://host:port`).
    pub fn new(url: &str) -> Result<Client> {
        let http = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_request_size(8 << 20)
            .max_response_size(64 << 20)
            .build(url)
            .map_err(|e| ClientError::Unreachable {
                url: url.into(),
                message: e.to_string(),
            })?;
        Ok(Client {
            http,
            url: url.to_string(),
        })
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn map_error(&self, e: RpcClientError) -> ClientError {
        match e {
            RpcClientError::Call(obj) => ClientError::Rpc {
                code: obj.code(),
                message: obj.message().to_string(),
                reason: obj
                    .data()
                    .and_then(|d| serde_json::from_str::<Value>(d.get()).ok())
                    .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string)),
            },
            RpcClientError::ParseError(e) => ClientError::Decode(e.to_string()),
            other => ClientError::Unreachable {
                url: self.url.clone(),
                message: other.to_string(),
            },
        }
    }

    /// Calls `method` with `params` and decodes the answer.
    pub async fn call<T: DeserializeOwned>(&self, method: &str, params: Vec<Value>) -> Result<T> {
        let mut builder = jsonrpsee::core::params::ArrayParams::new();
        for p in params {
            builder
                .insert(p)
                .map_err(|e| ClientError::Decode(e.to_string()))?;
        }
        let value: Value = self
            .http
            .request(method, builder)
            .await
            .map_err(|e| self.map_error(e))?;
        serde_json::from_value(value).map_err(|e| ClientError::Decode(format!("{method}: {e}")))
    }

    /// Chain status.
    pub async fn status(&self) -> Result<Status> {
        let value: Value = self
            .http
            .request("phalanx_status", rpc_params![])
            .await
            .map_err(|e| self.map_error(e))?;
        serde_json::from_value(value).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// An account's balance and nonce.
    pub async fn account(&self, who: &AccountId) -> Result<AccountInfo> {
        self.call("phalanx_account", vec![Value::String(who.to_address())])
            .await
    }

    /// The chain and governance parameters.
    pub async fn params(&self) -> Result<(ChainParams, GovernanceParams)> {
        let p: Params = self.call("phalanx_chainParams", vec![]).await?;
        Ok((p.chain, p.governance))
    }

    /// A finalized block with its receipts, by height, hash, or the head (`None`).
    pub async fn block(&self, which: Option<&str>) -> Result<FinalizedBlock> {
        let params = which
            .map(|w| vec![Value::String(w.to_string())])
            .unwrap_or_default();
        self.call("phalanx_block", params).await
    }

    /// The SCALE block at `height` and its certificate, for light clients.
    pub async fn raw_block(&self, height: u64) -> Result<RawBlock> {
        self.call("phalanx_rawBlock", vec![Value::from(height)])
            .await
    }

    /// The validator set that certifies `epoch`, with its proof.
    pub async fn validator_set(&self, epoch: u64) -> Result<ValidatorSet> {
        self.call("phalanx_validatorSet", vec![Value::from(epoch)])
            .await
    }

    /// One page of registered workers, in identity order, from identity `start` on (at most
    /// `limit`, by default and at most the node's page size, 100).
    pub async fn workers(
        &self,
        start: Option<&[u8; 32]>,
        limit: Option<u32>,
    ) -> Result<WorkersPage> {
        let start = start.map_or(Value::Null, |key| format!("0x{}", hex::encode(key)).into());
        self.call(
            "phalanx_workers",
            vec![start, limit.map_or(Value::Null, Value::from)],
        )
        .await
    }

    /// The worker with identity key `identity`, if registered.
    pub async fn worker(&self, identity: &[u8; 32]) -> Result<Option<WorkerInfo>> {
        // Pages start at the first identity at or after `start`: a page of one is the worker.
        let page = self.workers(Some(identity), Some(1)).await?;
        Ok(page
            .workers
            .into_iter()
            .find(|worker| worker.identity == *identity))
    }

    /// One page of governance proposals, in id order, from id `start` on (at most `limit`, by
    /// default and at most 100).
    pub async fn proposals(&self, start: Option<u32>, limit: Option<u32>) -> Result<ProposalsPage> {
        let start = start.map_or(Value::Null, Value::from);
        self.call(
            "phalanx_proposals",
            vec![start, limit.map_or(Value::Null, Value::from)],
        )
        .await
    }

    /// Every proposal still readable, following the pages.
    pub async fn all_proposals(&self) -> Result<Vec<Proposal>> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page = self.proposals(start, None).await?;
            all.extend(page.proposals);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Proposal `id` (`not_found` once pruned, 14,400 blocks after it ended).
    pub async fn proposal(&self, id: u32) -> Result<ProposalAt> {
        self.call("phalanx_proposal", vec![Value::from(id)]).await
    }

    /// The treasury's balance, the mining pot and the total issuance.
    pub async fn treasury(&self) -> Result<Treasury> {
        self.call("phalanx_treasury", vec![]).await
    }

    /// The appointed gatekeepers, the stakes still unbonding and the gatekeeper parameters.
    pub async fn gatekeepers(&self) -> Result<GatekeeperSet> {
        self.call("phalanx_gatekeepers", vec![]).await
    }

    /// One page of key epochs, in epoch order, from epoch `start` on (at most `limit`, by
    /// default and at most 100), with the current and requested epochs.
    pub async fn key_epochs(
        &self,
        start: Option<u32>,
        limit: Option<u32>,
    ) -> Result<KeyEpochsPage> {
        self.call(
            "phalanx_keyEpochs",
            vec![
                start.map_or(Value::Null, Value::from),
                limit.map_or(Value::Null, Value::from),
            ],
        )
        .await
    }

    /// Every key epoch, following the pages; `current`, `requested` and `height` are the last
    /// page's.
    pub async fn all_key_epochs(&self) -> Result<KeyEpochsPage> {
        let mut all = self.key_epochs(None, None).await?;
        while let Some(next) = all.next {
            let page = self.key_epochs(Some(next), None).await?;
            all.epochs.extend(page.epochs);
            all = KeyEpochsPage {
                epochs: all.epochs,
                ..page
            };
        }
        Ok(all)
    }

    /// One page of clusters, in index order, from index `start` on (at most `limit`, by default
    /// and at most 100).
    pub async fn clusters(&self, start: Option<u32>, limit: Option<u32>) -> Result<ClustersPage> {
        self.call(
            "phalanx_clusters",
            vec![
                start.map_or(Value::Null, Value::from),
                limit.map_or(Value::Null, Value::from),
            ],
        )
        .await
    }

    /// Every cluster, following the pages.
    pub async fn all_clusters(&self) -> Result<Vec<Cluster>> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page = self.clusters(start, None).await?;
            all.extend(page.clusters);
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Cluster `index` with one page of its members, from identity `start` on (at most
    /// `limit`, by default and at most 100), and its public key in each epoch; `not_found` if
    /// there is no such cluster.
    pub async fn cluster(
        &self,
        index: u32,
        start: Option<&[u8; 32]>,
        limit: Option<u32>,
    ) -> Result<ClusterDetail> {
        let start = start.map_or(Value::Null, |key| format!("0x{}", hex::encode(key)).into());
        self.call(
            "phalanx_cluster",
            vec![
                Value::from(index),
                start,
                limit.map_or(Value::Null, Value::from),
            ],
        )
        .await
    }

    /// Cluster `index` with all its members, following the pages; `keys` and `height` are the
    /// last page's.
    pub async fn cluster_with_members(&self, index: u32) -> Result<ClusterDetail> {
        let mut all = self.cluster(index, None, None).await?;
        while let Some(next) = all.next {
            let page = self.cluster(index, Some(&next), None).await?;
            all.members.extend(page.members);
            all = ClusterDetail {
                members: all.members,
                ..page
            };
        }
        Ok(all)
    }

    /// Cluster `index`'s public key in `epoch` (by default the current epoch) with its state
    /// proof; check it with [`ClusterKeyProof::verify`]. `not_found` if the cluster does not
    /// exist or has no key published for that epoch.
    pub async fn cluster_key(&self, index: u32, epoch: Option<u32>) -> Result<ClusterKeyProof> {
        self.call(
            "phalanx_clusterKey",
            vec![Value::from(index), epoch.map_or(Value::Null, Value::from)],
        )
        .await
    }

    /// Key epoch `epoch`'s master public key (by default the current epoch's) with its state
    /// proof; check it with [`MasterKeyProof::verify`]. `not_found` until it is published.
    pub async fn master_key(&self, epoch: Option<u32>) -> Result<MasterKeyProof> {
        self.call(
            "phalanx_masterKey",
            vec![epoch.map_or(Value::Null, Value::from)],
        )
        .await
    }

    /// One page of contracts, in id order, from id `start` on (at most `limit`, by default and
    /// at most 100), with the contract parameters.
    pub async fn contracts(
        &self,
        start: Option<&[u8; 32]>,
        limit: Option<u32>,
    ) -> Result<ContractsPage> {
        let start = start.map_or(Value::Null, |id| format!("0x{}", hex::encode(id)).into());
        self.call(
            "phalanx_contracts",
            vec![start, limit.map_or(Value::Null, Value::from)],
        )
        .await
    }

    /// Every contract, following the pages; `params` and `height` are the last page's.
    pub async fn all_contracts(&self) -> Result<ContractsPage> {
        let mut all = self.contracts(None, None).await?;
        while let Some(next) = all.next {
            let page = self.contracts(Some(&next), None).await?;
            all.contracts.extend(page.contracts);
            all = ContractsPage {
                contracts: all.contracts,
                ..page
            };
        }
        Ok(all)
    }

    /// Contract `id`, its code's record and its public key in each epoch; `not_found` if
    /// there is no such contract.
    pub async fn contract(&self, id: &[u8; 32]) -> Result<ContractDetail> {
        self.call("phalanx_contract", vec![Value::from(hex::encode(id))])
            .await
    }

    /// Contract `id`'s public key in `epoch` (by default the current epoch) with its state
    /// proof; check it with [`ContractKeyProof::verify`], seal to it with
    /// [`ContractKeyProof::seal_command`]. `not_found` if the contract does not exist or no
    /// gatekeeper has published its key for that epoch yet.
    pub async fn contract_key(
        &self,
        id: &[u8; 32],
        epoch: Option<u32>,
    ) -> Result<ContractKeyProof> {
        self.call(
            "phalanx_contractKey",
            vec![
                Value::from(hex::encode(id)),
                epoch.map_or(Value::Null, Value::from),
            ],
        )
        .await
    }

    /// Command `sequence` of contract `id`, with its result once final; `not_found` if there
    /// is no such contract or command.
    pub async fn command(&self, id: &[u8; 32], sequence: u64) -> Result<CommandDetail> {
        self.call(
            "phalanx_command",
            vec![Value::from(hex::encode(id)), Value::from(sequence)],
        )
        .await
    }

    /// Polls command `sequence` of contract `id` until it is final or timed out, or `timeout`
    /// passes: then the last answer is returned, its status still
    /// [`CommandStatus::Pending`].
    pub async fn wait_command(
        &self,
        id: &[u8; 32],
        sequence: u64,
        timeout: Duration,
    ) -> Result<CommandDetail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let detail = self.command(id, sequence).await?;
            if detail.command.status != CommandStatus::Pending {
                return Ok(detail);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(detail);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stored code `hash`'s record; `not_found` if no such code is stored.
    pub async fn code(&self, hash: &Hash) -> Result<StoredCode> {
        self.call("phalanx_code", vec![Value::String(hash.to_hex())])
            .await
    }

    /// `who`'s query deposit (zero when it has none).
    pub async fn query_deposit(&self, who: &AccountId) -> Result<QueryDepositAt> {
        self.call(
            "phalanx_queryDeposit",
            vec![Value::String(who.to_address())],
        )
        .await
    }

    /// Proves `keys` (at most 1,024) against one finalized state root (`phalanx_stateProofs`).
    pub async fn state_proofs(&self, keys: &[Vec<u8>]) -> Result<StateProofs> {
        let keys: Vec<Value> = keys
            .iter()
            .map(|k| Value::from(format!("0x{}", hex::encode(k))))
            .collect();
        self.call("phalanx_stateProofs", vec![Value::Array(keys)])
            .await
    }

    /// Submits a signed transaction; returns its hash.
    pub async fn submit(&self, tx: &SignedTransaction) -> Result<Hash> {
        #[derive(Deserialize)]
        struct Submitted {
            hash: Hash,
        }
        let hex = format!("0x{}", hex::encode(tx.encode()));
        let answer: Submitted = self
            .call("phalanx_submitTransaction", vec![Value::String(hex)])
            .await?;
        Ok(answer.hash)
    }

    /// Signs `call` as `key` with an explicit nonce, fee and expiry for the chain `genesis`.
    pub fn sign_with_nonce(
        key: &Keypair,
        genesis: &Hash,
        params: &ChainParams,
        nonce: u64,
        expires_at: u64,
        call: Call,
    ) -> SignedTransaction {
        let mut tx = Transaction {
            signer: key.account(),
            nonce,
            fee: 0,
            expires_at,
            call,
        };
        // The fee field has a fixed width, so the size (and the fee) does not depend on it.
        let len = tx.clone().sign(key, genesis).encoded_size();
        tx.fee = params.required_fee(&tx.call, len);
        tx.sign(key, genesis)
    }

    /// The nonce `who`'s next transaction should carry: its finalized nonce moved past its
    /// transactions already waiting in the node's mempool (`phalanx_nextNonce`). A node
    /// without that method gives the finalized nonce (`phalanx_account`).
    pub async fn next_nonce(&self, who: &AccountId) -> Result<u64> {
        #[derive(Deserialize)]
        struct Answer {
            nonce: u64,
        }
        let address = Value::String(who.to_address());
        match self
            .call::<Answer>("phalanx_nextNonce", vec![address])
            .await
        {
            Ok(answer) => Ok(answer.nonce),
            Err(ClientError::Rpc { reason, .. })
                if reason.as_deref() == Some("method_not_found") =>
            {
                Ok(self.account(who).await?.nonce)
            }
            Err(e) => Err(e),
        }
    }

    /// The fee a transaction from `key` carrying `call` must offer on this chain now.
    pub async fn fee(&self, key: &Keypair, call: &Call) -> Result<Balance> {
        let status = self.status().await?;
        let (params, _) = self.params().await?;
        // The nonce and expiry have fixed widths, so the size (and the fee) does not depend
        // on them.
        let tx = Client::sign_with_nonce(key, &status.genesis_hash, &params, 0, 0, call.clone());
        Ok(tx.tx.fee)
    }

    /// Signs `call` as `key` with the required fee and `nonce` (by default the account's
    /// next, see [`Client::next_nonce`]), and returns it ready to submit.
    pub async fn sign(
        &self,
        key: &Keypair,
        call: Call,
        nonce: Option<u64>,
    ) -> Result<SignedTransaction> {
        let nonce = match nonce {
            Some(nonce) => nonce,
            None => self.next_nonce(&key.account()).await?,
        };
        let status = self.status().await?;
        let (params, _) = self.params().await?;
        Ok(Client::sign_with_nonce(
            key,
            &status.genesis_hash,
            &params,
            nonce,
            status.height + DEFAULT_EXPIRY_BLOCKS,
            call,
        ))
    }

    /// Signs `call` as `key` with its next nonce and the required fee, and submits it.
    pub async fn sign_and_submit(&self, key: &Keypair, call: Call) -> Result<Hash> {
        self.sign_and_submit_with_nonce(key, call, None).await
    }

    /// Signs `call` as `key` with the required fee and `nonce`, and submits it. Without a
    /// nonce it takes the account's next ([`Client::next_nonce`]); should the node still find
    /// that nonce taken by a pooled transaction (another submission got there first, or the
    /// node predates `phalanx_nextNonce`), it moves on to the following nonce, at most
    /// [`MAX_NONCE_RETRIES`] times. An explicit nonce is tried once.
    pub async fn sign_and_submit_with_nonce(
        &self,
        key: &Keypair,
        call: Call,
        nonce: Option<u64>,
    ) -> Result<Hash> {
        let (mut next, retries) = match nonce {
            Some(nonce) => (nonce, 0),
            None => (self.next_nonce(&key.account()).await?, MAX_NONCE_RETRIES),
        };
        let status = self.status().await?;
        let (params, _) = self.params().await?;
        let mut tries = 0;
        loop {
            let tx = Client::sign_with_nonce(
                key,
                &status.genesis_hash,
                &params,
                next,
                status.height + DEFAULT_EXPIRY_BLOCKS,
                call.clone(),
            );
            match self.submit(&tx).await {
                Err(ClientError::Rpc { reason, .. })
                    if tries < retries
                        && matches!(reason.as_deref(), Some("nonce_taken" | "already_known")) =>
                {
                    tries += 1;
                    next += 1;
                }
                answer => return answer,
            }
        }
    }

    /// Where a transaction is, as far as this node knows.
    pub async fn transaction(&self, hash: &Hash) -> Result<TransactionStatus> {
        self.call("phalanx_transaction", vec![Value::String(hash.to_hex())])
            .await
    }

    /// Polls until `hash` is finalized or `timeout` passes.
    pub async fn wait_finalized(&self, hash: &Hash, timeout: Duration) -> Result<Included> {
        self.wait_finalized_every(hash, timeout, Duration::from_millis(100))
            .await
    }

    /// [`Client::wait_finalized`], asking every `every` (a benchmark timing when finality
    /// comes polls more often than a client waiting for it needs to).
    pub async fn wait_finalized_every(
        &self,
        hash: &Hash,
        timeout: Duration,
        every: Duration,
    ) -> Result<Included> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let TransactionStatus::Finalized(included) = self.transaction(hash).await? {
                return Ok(included);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Timeout(*hash));
            }
            tokio::time::sleep(every).await;
        }
    }
}
