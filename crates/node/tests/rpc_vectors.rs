//! The RPC part of the wire reference: `docs/vectors/rpc.json` pins, for every JSON-RPC method
//! of the node, example requests and the exact answers (results and errors) of a chain built
//! here deterministically, and this test checks that the node still gives exactly those.
//!
//! The chain is the dev genesis of `docs/vectors/state.json` (same validator seed, same
//! timestamp, so the same genesis hash), with a clock that never moves, and blocks built by
//! hand at fixed timestamps (no consensus, so no certificates): nothing in an answer depends on
//! when or where the test runs. The only value left out is the subscription id, which the
//! server draws at random (see `excluded` in the file).
//!
//! The calls run in the order of the file, over HTTP against the real server (so error
//! answers pass through the same middleware a client meets), the subscription over WebSocket.
//!
//! The test also checks that every method the node registers has a vector, and that the method
//! table of `docs/wire.md` names, for each method, vectors that exist for it. Three more tests
//! hold the layouts `docs/wire.md` spells out for what the answers carry to the runtime: the
//! events table (each event's byte, JSON name and fields, SCALE rebuilt from its JSON field by
//! field), the attestation policy and `WorkerInfo` (SCALE rebuilt from their JSON), and the
//! `GenesisConfig` table (its fields, and which of them a genesis file may leave out).
//!
//! After an intended change of an answer, rewrite the file with
//! `PHALANX_REGENERATE_VECTORS=1 cargo test -p phalanx-node --test rpc_vectors` and review the
//! diff of `docs/vectors/rpc.json` (and `docs/wire.md`) like any protocol change.

#![allow(clippy::panic)] // a vector that does not hold fails the test by panicking

#[path = "common/gatekeeper.rs"]
mod history;

#[path = "common/contracts.rs"]
mod contracts;

use jsonrpsee::core::client::{ClientT, SubscriptionClientT};
use jsonrpsee::core::traits::ToRpcParams;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::ws_client::WsClientBuilder;
use parity_scale_codec::Encode;
use phalanx_client::Client;
use phalanx_node::chain::{Chain, ChainConfig, Clock};
use phalanx_primitives::call::{BalancesCall, Call, GovernanceCall, MiningCall, PrivilegedCall};
use phalanx_primitives::{Hash, Keypair, SignedTransaction, PHA};
use phalanx_runtime::{balances, system, GenesisConfig};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Set to rewrite the file from the node's answers instead of comparing.
const REGENERATE: &str = "PHALANX_REGENERATE_VECTORS";

/// The validator's secret seed and the genesis time of `state.json`'s dev chain.
const VALIDATOR_SEED: &str = "a11af85c91428cdfae3380fea2176495c60db5db6320451bfa3dbe7bd7eb51a9";
const GENESIS_MS: u64 = 1_700_000_000_000;
/// What the node's clock says, always (it only bounds the timestamp of admitted transactions'
/// context; block timestamps are given when blocks are built).
const CLOCK_MS: u64 = GENESIS_MS + 3_600_000;
/// Blocks are `BLOCK_MS` apart, block `h` at `GENESIS_MS + h · BLOCK_MS`.
const BLOCK_MS: u64 = 500;
/// What proposal 0 pays bob out of the treasury: less than the fees it holds by then.
const TREASURY_SPEND: u128 = PHA / 1_000;
/// Every transaction here may be included up to this height.
const EXPIRES_AT: u64 = 600;

fn docs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn fixed_clock() -> Clock {
    Arc::new(|| CLOCK_MS)
}

fn validator() -> Keypair {
    Keypair::from_secret_hex(VALIDATOR_SEED).expect("seed")
}

fn open_chain(dir: &std::path::Path) -> Chain {
    let genesis = GenesisConfig::dev(vec![hex::encode(validator().account().0)], GENESIS_MS);
    Chain::open(
        ChainConfig {
            data_dir: dir.to_path_buf(),
            genesis,
        },
        fixed_clock(),
    )
    .expect("chain opens")
}

/// Builds and finalizes the next block from the mempool, at its fixed timestamp.
fn produce(chain: &Chain) {
    let head = chain.head();
    let timestamp_ms = GENESIS_MS + (head.height() + 1) * BLOCK_MS;
    let block = chain.build(&head, timestamp_ms).expect("builds");
    chain.finalize(block, Vec::new()).expect("finalizes");
}

fn produce_to(chain: &Chain, height: u64) {
    while chain.height() < height {
        produce(chain);
    }
}

/// `call` signed by dev account `who` with `nonce`, offering exactly the required fee.
fn signed(chain: &Chain, who: &str, nonce: u64, call: Call) -> SignedTransaction {
    let params = system::params(&chain.head_state()).expect("params");
    Client::sign_with_nonce(
        &Keypair::dev(who),
        &chain.genesis_hash(),
        &params,
        nonce,
        EXPIRES_AT,
        call,
    )
}

fn pool(chain: &Chain, tx: &SignedTransaction) -> Hash {
    chain.submit(&tx.encode()).expect("admitted")
}

fn transfer(to: &str, amount: u128) -> Call {
    Call::Balances(BalancesCall::Transfer {
        to: Keypair::dev(to).account(),
        amount,
    })
}

fn propose(calls: Vec<PrivilegedCall>, description: &str) -> Call {
    Call::Governance(GovernanceCall::Propose {
        calls,
        description: description.as_bytes().to_vec(),
    })
}

/// Params exactly as pinned: a list, an object, or none at all (`null`).
#[derive(Debug)]
struct Raw(Value);

impl ToRpcParams for Raw {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        match self.0 {
            Value::Null => Ok(None),
            value => serde_json::value::to_raw_value(&value).map(Some),
        }
    }
}

/// The answer to one request: `{"result": …}` or `{"error": {code, message, data}}`.
async fn ask(client: &HttpClient, method: &str, params: &Value) -> Value {
    match client
        .request::<Value, _>(method, Raw(params.clone()))
        .await
    {
        Ok(result) => json!({ "result": result }),
        Err(jsonrpsee::core::ClientError::Call(e)) => {
            let data = e
                .data()
                .map(|raw| serde_json::from_str::<Value>(raw.get()).expect("data is JSON"));
            json!({ "error": { "code": e.code(), "message": e.message(), "data": data } })
        }
        Err(other) => panic!("{method} {params}: no JSON-RPC answer: {other}"),
    }
}

/// The vectors, in the order they are asked.
struct Calls {
    client: HttpClient,
    out: Vec<Value>,
}

impl Calls {
    async fn call(&mut self, name: &str, about: &str, method: &str, params: Value) {
        let answer = ask(&self.client, method, &params).await;
        let mut vector = json!({
            "name": name,
            "about": about,
            "method": method,
            "params": params,
        });
        let object = vector.as_object_mut().expect("object");
        for (key, value) in answer.as_object().expect("object") {
            object.insert(key.clone(), value.clone());
        }
        self.out.push(vector);
    }
}

/// What the chain is, for the file's readers (the code above is what builds it).
fn chain_description(chain: &Chain, heights: &Value) -> Value {
    json!({
        "genesis": "GenesisConfig::dev (see state.json chain.input.genesis.config) with the one validator whose secret seed is `validator_seed`, at `genesis_timestamp_ms`; the genesis hash is state.json's chain.expected.genesis.hash",
        "validator_seed": VALIDATOR_SEED,
        "validator": hex::encode(validator().account().0),
        "genesis_timestamp_ms": GENESIS_MS,
        "genesis_hash": chain.genesis_hash(),
        "clock_ms": CLOCK_MS,
        "clock": "the node's clock is fixed at `clock_ms`; block h is built at genesis_timestamp_ms + 500·h and finalized by hand, without consensus, so every `certificate` here is `0x` (certificates.json and state.json pin real ones)",
        "transactions": "signed by dev keys (docs/wire.md#keys) offering exactly the required fee, expiring at height 600",
        "history": [
            "block 1: alice proposes a treasury spend of 0.001 PHA to bob (proposal 0, nonce 0); charlie transfers 1 PHA to dave (nonce 0); charlie transfers 0 PHA to dave (nonce 1), which fails with balances.zero_amount",
            "block 2: bob votes aye on proposal 0 with 500 PHA (nonce 0)",
            "blocks 3 to `tally`: empty; the end of block `tally` passes proposal 0 (block_events: proposal_passed)",
            "block `enactment`: proposal 0's treasury spend executes (block_events: treasury_spent, proposal_enacted)",
            "block `proposal_1`: alice proposes freezing worker registration (proposal 1, nonce 1), still voting at the end",
            "block `registrations`: dave registers three dev workers (`Keypair::dev(\"worker/gatekeeper\")`, `…/member-1`, `…/member-2`, each with the SIMULATED dev quote citing block `proposal_1`; nonces 0 to 2)",
            "block `appointments`: alice, the dev root, appoints `gatekeeper` and `member-1` (dave reserves both stakes; epoch 0 is requested), creates clusters 0 and 1 and adds `member-1` and `member-2` to cluster 0 (nonces 2 to 7)",
            "block `keys`: the gatekeeper's enclave (played by the test: no key exists behind these public keys) publishes epoch 0's master public key H(\"test: master public key of epoch 0\") and cluster 0's key H(\"test: public key of cluster 0 in epoch 0\") in epoch 0, its messages 0 and 1 on topic gatekeeper/key, relayed by dave (nonces 3 and 4)",
            "block `removal`: alice removes gatekeeper `member-1` (nonce 8): its stake unbonds for the dev minute and epoch 1 is requested",
            "block `upload`: alice uploads a 65-byte contract (common/contracts.rs `wasm(7)`; nonce 9)",
            "block `instantiation`: alice instantiates it on cluster 0 with salt \"vault\" (nonce 10)",
            "block `contract_key`: the gatekeeper's enclave publishes the contract's key of epoch 0, derived from the cluster secret [0x5e; 32] (`ClusterKey::contract_key`), its message 2 on topic contracts/key, relayed by dave (nonce 5)",
            "block `command`: bob submits command 0 (nonce 1): `vector input` sealed by bob to the contract key with fixed randomness (nonce [1; 16], HPKE seed bytes 1, 2, …), gas limit 1,000,000 at 1,000 units",
            "block `result`: members `member-1` and `member-2` each report the same sealed output (CommandOutput::Ran { status: 0, output: \"stored\" } sealed under the command's response key with the response nonce 0x77, 0x78, …) and 5,000 gas, their messages 0 on topic contracts/result, relayed by dave (nonces 6 and 7): the result is final",
            "block `head`: bob deposits 10 PHA for queries (nonce 2); dave creates stake pool 0 (10% commission), contributes 2,000 PHA and binds `member-2` (nonces 8 to 10); charlie bonds 100 PHA as a validator (nonce 2)",
            "then the calls below run in order: eve's and ferdie's transactions sent with phalanx_submitTransaction(s) wait in the mempool until `phalanx_subscribeFinalized` sees the block after `head` include them",
        ],
        "heights": heights,
    })
}

/// Runs the history and every call; returns the whole vector file as the node answers it.
async fn compute() -> (Value, BTreeSet<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = open_chain(dir.path());
    let registered: BTreeSet<String> = phalanx_node::rpc::module(chain.clone())
        .expect("module")
        .method_names()
        .map(str::to_string)
        .collect();
    let (addr, handle) =
        phalanx_node::rpc::serve(chain.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serves");
    let client = HttpClientBuilder::default()
        .build(format!("http://{addr}"))
        .expect("http client");

    // Block 1: a proposal, a transfer and a transfer that fails.
    let bob = Keypair::dev("bob").account();
    pool(
        &chain,
        &signed(
            &chain,
            "alice",
            0,
            propose(
                vec![PrivilegedCall::TreasurySpend {
                    to: bob,
                    amount: TREASURY_SPEND,
                }],
                "pay bob",
            ),
        ),
    );
    let paid = pool(&chain, &signed(&chain, "charlie", 0, transfer("dave", PHA)));
    let failed = pool(&chain, &signed(&chain, "charlie", 1, transfer("dave", 0)));
    produce(&chain);
    // Block 2: a vote.
    let vote = GovernanceCall::Vote {
        proposal: 0,
        aye: true,
        amount: 500 * PHA,
    };
    pool(&chain, &signed(&chain, "bob", 0, Call::Governance(vote)));
    produce(&chain);
    let voting_ends_at = phalanx_runtime::governance::proposal(&chain.head_state(), 0)
        .expect("readable")
        .expect("proposal 0")
        .voting_ends_at;
    produce_to(&chain, voting_ends_at);
    let enact_at = match phalanx_runtime::governance::proposal(&chain.head_state(), 0)
        .expect("readable")
        .expect("proposal 0")
        .status
    {
        phalanx_runtime::governance::ProposalStatus::Passed { enact_at } => enact_at,
        other => panic!("proposal 0 should have passed: {other:?}"),
    };
    produce_to(&chain, enact_at);
    // The head: a second proposal, left voting.
    pool(
        &chain,
        &signed(
            &chain,
            "alice",
            1,
            propose(
                vec![PrivilegedCall::SetRegistrationFrozen(true)],
                "freeze registration",
            ),
        ),
    );
    produce(&chain);
    let proposal_1 = chain.height();
    // The gatekeeper module: registered workers, appointments, clusters, published keys, a
    // removal.
    let published = history::gatekeeper_history(&chain, produce);
    let [registrations, appointments, keys, removal] = published.heights;
    history::assert_all_succeeded(&chain, registrations, removal);
    // The contracts module: code, a contract on cluster 0 and its key, a command made final by
    // both members, a query deposit.
    let deployed = contracts::deploy(&chain, produce, 7);
    let [upload, instantiation, contract_key] = deployed.heights;
    let bob_account = Keypair::dev("bob").account();
    let (sealed, _) = contracts::sealed_command(
        deployed.id,
        &deployed.public_key,
        bob_account,
        b"vector input",
        1,
    );
    history::send(
        &chain,
        "bob",
        Call::Contracts(phalanx_primitives::call::ContractsCall::SubmitCommand {
            contract: deployed.id,
            key_epoch: 0,
            sealed: sealed.clone(),
            gas_limit: 1_000_000,
            gas_price: 1_000,
        }),
    );
    produce(&chain);
    let command = chain.height();
    let (_, member_key) = contracts::open_command(&deployed.id, &sealed);
    let output = phalanx_primitives::contract::CommandOutput::Ran {
        status: 0,
        output: b"stored".to_vec(),
    };
    let sealed_output = contracts::seal_output(&member_key, &output);
    contracts::finalize(&chain, produce, deployed.id, 0, &sealed_output, 5_000);
    let result = chain.height();
    history::send(
        &chain,
        "bob",
        Call::Contracts(phalanx_primitives::call::ContractsCall::Deposit { amount: 10 * PHA }),
    );
    let member_2 = Keypair::dev("worker/member-2").account().0;
    for call in [
        MiningCall::CreatePool {
            commission_per_mille: 100,
            cap: None,
            allow_list: None,
        },
        MiningCall::Contribute {
            pool: 0,
            amount: 2_000 * PHA,
        },
        MiningCall::AddWorker {
            pool: 0,
            worker: member_2,
        },
    ] {
        history::send(&chain, "dave", Call::Mining(call));
    }
    history::send(
        &chain,
        "charlie",
        Call::Staking(phalanx_primitives::call::StakingCall::Bond { amount: 100 * PHA }),
    );
    produce(&chain);
    let head = chain.height();
    history::assert_all_succeeded(&chain, registrations, head);
    contracts::assert_no_refusal(&chain, upload, head);
    let heights = json!({
        "tally": voting_ends_at,
        "enactment": enact_at,
        "proposal_1": proposal_1,
        "registrations": registrations,
        "appointments": appointments,
        "keys": keys,
        "removal": removal,
        "upload": upload,
        "instantiation": instantiation,
        "contract_key": contract_key,
        "command": command,
        "result": result,
        "head": head,
    });

    let mut calls = Calls {
        client,
        out: Vec::new(),
    };
    let alice = Keypair::dev("alice").account().to_address();
    let charlie = Keypair::dev("charlie").account().to_address();
    let eve = Keypair::dev("eve").account().to_address();
    let block_2 = chain.block(2).expect("read").expect("stored").block.hash();

    // Node and chain.
    calls
        .call(
            "status",
            "the node's view of the chain; mempool empty, no faults, not halted",
            "phalanx_status",
            json!([]),
        )
        .await;
    calls
        .call(
            "genesis",
            "the genesis hash and the GenesisConfig the chain started from (docs/wire.md#genesisconfig-json)",
            "phalanx_genesis",
            json!([]),
        )
        .await;
    calls
        .call(
            "chain_params",
            "current chain and governance parameters (the dev genesis' governance periods)",
            "phalanx_chainParams",
            json!([]),
        )
        .await;
    calls
        .call(
            "finalized_head",
            "the head block's summary (the same object phalanx_finalized notifications carry)",
            "phalanx_finalizedHead",
            json!([]),
        )
        .await;

    // Accounts.
    calls
        .call(
            "account",
            "alice: paid two proposal fees, seven root calls' fees, an upload (with its storage fee) and an instantiation, and reserves proposal 1's deposit (proposal 0's came back)",
            "phalanx_account",
            json!([alice]),
        )
        .await;
    calls
        .call(
            "account_by_name",
            "the same method with its parameter by name: bob, whose 500 PHA vote lock ended with the vote",
            "phalanx_account",
            json!({ "address": bob.to_address() }),
        )
        .await;
    calls
        .call(
            "account_unknown",
            "an account that never held anything: all zero",
            "phalanx_account",
            json!([Keypair::dev("nobody").account().to_address()]),
        )
        .await;
    calls
        .call(
            "account_bad_address",
            "not an address: code -32602, reason bad_address",
            "phalanx_account",
            json!(["pha1notanaddress"]),
        )
        .await;
    calls
        .call(
            "next_nonce",
            "charlie sent nonces 0 and 1; nothing of his is pooled",
            "phalanx_nextNonce",
            json!([charlie]),
        )
        .await;

    // Blocks.
    calls
        .call(
            "block_genesis",
            "block 0: no transactions, no events, no certificate",
            "phalanx_block",
            json!([0]),
        )
        .await;
    calls
        .call(
            "block_1",
            "block 1 with its three transactions and receipts (the third failed: error with the node's message)",
            "phalanx_block",
            json!([1]),
        )
        .await;
    calls
        .call(
            "block_by_hash",
            "block 2, asked for by its hash",
            "phalanx_block",
            json!([block_2]),
        )
        .await;
    calls
        .call(
            "block_by_decimal_string",
            "a height may also be a decimal string: the tally block, whose block_events show proposal 0 passing",
            "phalanx_block",
            json!([voting_ends_at.to_string()]),
        )
        .await;
    calls
        .call(
            "block_enactment",
            "the block whose end enacted proposal 0: treasury_spent and proposal_enacted block events",
            "phalanx_block",
            json!({ "block": enact_at }),
        )
        .await;
    calls
        .call(
            "block_head",
            "no parameter: the head",
            "phalanx_block",
            json!([]),
        )
        .await;
    calls
        .call(
            "block_not_found",
            "a height not finalized yet: code 1004, reason not_found",
            "phalanx_block",
            json!([1_000_000]),
        )
        .await;
    calls
        .call(
            "block_bad_param",
            "neither a height nor a hash: code -32602, reason invalid_params",
            "phalanx_block",
            json!([true]),
        )
        .await;
    calls
        .call(
            "raw_block",
            "block 1 as SCALE bytes (docs/wire.md#blocks) and its certificate",
            "phalanx_rawBlock",
            json!([1]),
        )
        .await;
    calls
        .call(
            "raw_block_extra_param",
            "an unknown named parameter: invalid_params naming it",
            "phalanx_rawBlock",
            json!({ "height": 1, "hash": "0x00" }),
        )
        .await;

    // Transactions.
    calls
        .call(
            "transaction_finalized",
            "charlie's 1 PHA transfer: where it is and its receipt",
            "phalanx_transaction",
            json!([paid]),
        )
        .await;
    calls
        .call(
            "transaction_failed",
            "charlie's zero transfer: included, fee paid, error balances.zero_amount with the node's words",
            "phalanx_transaction",
            json!([failed]),
        )
        .await;
    calls
        .call(
            "transaction_unknown",
            "a hash this node never saw",
            "phalanx_transaction",
            json!([Hash([9; 32])]),
        )
        .await;
    calls
        .call(
            "transaction_bad_hash",
            "not a 32-byte hash: invalid_params",
            "phalanx_transaction",
            json!(["0x1234"]),
        )
        .await;

    // State.
    let bob_key = balances::account_key(&bob);
    calls
        .call(
            "state_proof",
            "bob's balance (key balances/account/<bob>) with its proof against the head",
            "phalanx_stateProof",
            json!([hex0x(&bob_key)]),
        )
        .await;
    calls
        .call(
            "state_proof_absent",
            "an absent key: value null, the proof shows absence",
            "phalanx_stateProof",
            json!([hex0x(b"nothing/here")]),
        )
        .await;
    calls
        .call(
            "state_proofs",
            "bob's balance and an absent key, proven against one finalized head",
            "phalanx_stateProofs",
            json!([[hex0x(&bob_key), hex0x(b"nothing/here")]]),
        )
        .await;
    calls
        .call(
            "state_proofs_bad_hex",
            "a key that is not hex: invalid_params",
            "phalanx_stateProofs",
            json!([["0xzz"]]),
        )
        .await;
    calls
        .call(
            "storage",
            "the raw value of system/params (SCALE ChainParams)",
            "phalanx_storage",
            json!([hex0x(b"system/params")]),
        )
        .await;
    calls
        .call(
            "storage_absent",
            "an absent key: null",
            "phalanx_storage",
            json!([hex0x(b"nothing/here")]),
        )
        .await;
    calls
        .call(
            "storage_bad_hex",
            "a key that is not hex: invalid_params",
            "phalanx_storage",
            json!(["0xzz"]),
        )
        .await;
    calls
        .call(
            "validator_set",
            "epoch 0's set, proven against the genesis state root",
            "phalanx_validatorSet",
            json!([0]),
        )
        .await;
    calls
        .call(
            "validator_set_not_found",
            "epoch 1 starts after block 63, not finalized yet: not_found",
            "phalanx_validatorSet",
            json!([1]),
        )
        .await;

    // Governance, treasury, workers, faults.
    calls
        .call(
            "proposals",
            "every proposal: 0 enacted, 1 voting",
            "phalanx_proposals",
            json!([]),
        )
        .await;
    calls
        .call(
            "proposals_page",
            "one per page from id 0: next is 1",
            "phalanx_proposals",
            json!([0, 1]),
        )
        .await;
    calls
        .call(
            "proposals_bad_limit",
            "a limit outside 1..=100: invalid_params",
            "phalanx_proposals",
            json!({ "limit": 0 }),
        )
        .await;
    calls
        .call(
            "proposal",
            "proposal 0 after its enactment (status enacted, error null: its call succeeded)",
            "phalanx_proposal",
            json!([0]),
        )
        .await;
    calls
        .call(
            "proposal_not_found",
            "no such proposal: not_found",
            "phalanx_proposal",
            json!([99]),
        )
        .await;
    calls
        .call(
            "treasury",
            "the treasury account and balance (the fees of the transactions so far, less the 0.001 PHA paid to bob), the mining pot, total issuance",
            "phalanx_treasury",
            json!([]),
        )
        .await;
    calls
        .call(
            "bonds",
            "charlie's 100 PHA bond and the dev staking rules",
            "phalanx_bonds",
            json!([]),
        )
        .await;
    calls
        .call(
            "mining",
            "the dev mining rules, day 0 open and idle, its budget of 720,000 PHA, the pot",
            "phalanx_mining",
            json!([]),
        )
        .await;
    calls
        .call(
            "pools",
            "dave's pool 0: 2,000 PHA free, share price 1",
            "phalanx_pools",
            json!([]),
        )
        .await;
    calls
        .call(
            "pool",
            "pool 0 with dave's shares and `member-2` bound, ready",
            "phalanx_pool",
            json!([0]),
        )
        .await;
    calls
        .call(
            "pool_not_found",
            "no pool 7: not_found",
            "phalanx_pool",
            json!([7]),
        )
        .await;
    calls
        .call(
            "rewards_worker",
            "`member-2`, bound and ready: its least stake from the registry's score, why it earns nothing",
            "phalanx_rewards",
            json!([hex::encode(Keypair::dev("worker/member-2").account().0)]),
        )
        .await;
    calls
        .call(
            "rewards_account",
            "dave: 2,000 PHA of shares in pool 0, which he owns",
            "phalanx_rewards",
            json!([Keypair::dev("dave").account().to_string()]),
        )
        .await;
    calls
        .call(
            "workers",
            "the three workers dave registered, in identity order, and the dev attestation policy",
            "phalanx_workers",
            json!([]),
        )
        .await;
    calls
        .call(
            "workers_bad_start",
            "a start that is not a 32-byte key: invalid_params",
            "phalanx_workers",
            json!(["0x01"]),
        )
        .await;
    calls
        .call(
            "workers_page",
            "one per page: next is the second worker's identity",
            "phalanx_workers",
            json!({ "limit": 1 }),
        )
        .await;

    // Gatekeepers, key epochs, clusters and the published keys.
    calls
        .call(
            "gatekeepers",
            "`gatekeeper` serves (dave's stake reserved); `member-1`'s stake unbonds until a minute of chain time after `head`; the dev genesis' gatekeeper parameters",
            "phalanx_gatekeepers",
            json!([]),
        )
        .await;
    calls
        .call(
            "key_epochs",
            "epoch 0 published (current) with its master public key and generator; epoch 1 requested by the removal",
            "phalanx_keyEpochs",
            json!([]),
        )
        .await;
    calls
        .call(
            "key_epochs_page",
            "one per page from epoch 0: next is 1",
            "phalanx_keyEpochs",
            json!({ "start": 0, "limit": 1 }),
        )
        .await;
    calls
        .call(
            "key_epochs_bad_start",
            "an epoch must be a non-negative integer: invalid_params",
            "phalanx_keyEpochs",
            json!([-1]),
        )
        .await;
    calls
        .call(
            "clusters",
            "cluster 0 (two members) and cluster 1 (empty)",
            "phalanx_clusters",
            json!([]),
        )
        .await;
    calls
        .call(
            "clusters_page",
            "from index 1 on",
            "phalanx_clusters",
            json!([1]),
        )
        .await;
    calls
        .call(
            "cluster",
            "cluster 0: its members (identity order, hex) and its public key of epoch 0",
            "phalanx_cluster",
            json!([0]),
        )
        .await;
    calls
        .call(
            "cluster_members_page",
            "one member per page: next is the second member's identity (0x-hex)",
            "phalanx_cluster",
            json!({ "index": 0, "limit": 1 }),
        )
        .await;
    calls
        .call(
            "cluster_not_found",
            "no cluster 7: not_found",
            "phalanx_cluster",
            json!([7]),
        )
        .await;
    calls
        .call(
            "cluster_bad_start",
            "a start that is not a 32-byte identity: invalid_params",
            "phalanx_cluster",
            json!([0, "0x01"]),
        )
        .await;
    calls
        .call(
            "cluster_key",
            "cluster 0's key in the current epoch (0): the key, the SCALE value and proof of gatekeeper/cluster_key/<0>/<0> against the head's state root, and the head's header and certificate (0x here: no consensus)",
            "phalanx_clusterKey",
            json!([0]),
        )
        .await;
    calls
        .call(
            "cluster_key_by_epoch",
            "the same, asking for epoch 0 by name",
            "phalanx_clusterKey",
            json!({ "index": 0, "epoch": 0 }),
        )
        .await;
    calls
        .call(
            "cluster_key_not_found",
            "epoch 1 is requested, not published: no key of cluster 0 for it, not_found",
            "phalanx_clusterKey",
            json!([0, 1]),
        )
        .await;
    calls
        .call(
            "master_key",
            "the current epoch's (0) master public key with the proof of its KeyEpoch record (gatekeeper/epoch/<0>)",
            "phalanx_masterKey",
            json!([]),
        )
        .await;
    calls
        .call(
            "master_key_requested",
            "epoch 1 waits for a gatekeeper to publish its master key: not_found",
            "phalanx_masterKey",
            json!([1]),
        )
        .await;
    calls
        .call(
            "master_key_bad_epoch",
            "an epoch must be a non-negative integer: invalid_params",
            "phalanx_masterKey",
            json!(["latest"]),
        )
        .await;
    // Contracts.
    let contract_id = hex::encode(deployed.id);
    calls
        .call(
            "contracts",
            "every contract (one here), in id order, with the contract parameters (the defaults)",
            "phalanx_contracts",
            json!([]),
        )
        .await;
    calls
        .call(
            "contracts_bad_start",
            "a start that is not a 32-byte contract id: invalid_params",
            "phalanx_contracts",
            json!({ "start": "0x01" }),
        )
        .await;
    calls
        .call(
            "contract",
            "the contract: its record (id hex, deployer, code hash, cluster, created_at, commands), its code's record and its key of epoch 0",
            "phalanx_contract",
            json!([contract_id]),
        )
        .await;
    calls
        .call(
            "contract_not_found",
            "no such contract: not_found",
            "phalanx_contract",
            json!([hex::encode([0u8; 32])]),
        )
        .await;
    calls
        .call(
            "contract_key",
            "the contract's key of the current epoch (0), proven like cluster_key: the entry contracts/key/<id>/<0>, the epoch's record and the current epoch under the head's state root",
            "phalanx_contractKey",
            json!([contract_id]),
        )
        .await;
    calls
        .call(
            "contract_key_by_epoch",
            "the same, asking for epoch 0 by name",
            "phalanx_contractKey",
            json!({ "id": contract_id, "epoch": 0 }),
        )
        .await;
    calls
        .call(
            "contract_key_not_found",
            "no key of epoch 1 (requested, not published): not_found",
            "phalanx_contractKey",
            json!([contract_id, 1]),
        )
        .await;
    calls
        .call(
            "command",
            "command 0: bob's sealed command, final, with its result (sealed_output opens only with bob's response key)",
            "phalanx_command",
            json!([contract_id, 0]),
        )
        .await;
    calls
        .call(
            "command_not_found",
            "no command 1 yet: not_found",
            "phalanx_command",
            json!({ "id": contract_id, "sequence": 1 }),
        )
        .await;
    calls
        .call(
            "code",
            "the stored code's record (not its bytes)",
            "phalanx_code",
            json!([deployed.code_hash]),
        )
        .await;
    calls
        .call(
            "code_not_found",
            "no code with that hash: not_found",
            "phalanx_code",
            json!([Hash::ZERO]),
        )
        .await;
    calls
        .call(
            "query_deposit",
            "bob's query deposit: 10 PHA available",
            "phalanx_queryDeposit",
            json!([bob_account.to_address()]),
        )
        .await;
    calls
        .call(
            "query_deposit_bad_address",
            "not an address: bad_address",
            "phalanx_queryDeposit",
            json!(["pha1nothing"]),
        )
        .await;
    calls
        .call(
            "faults",
            "no fault seen (entries, when there are, are free text for people)",
            "phalanx_faults",
            json!([]),
        )
        .await;

    // Submitting.
    let eve_tx = signed(&chain, "eve", 0, transfer("ferdie", 2 * PHA));
    let ferdie_tx = signed(&chain, "ferdie", 0, transfer("eve", PHA));
    let mut forged = signed(&chain, "eve", 1, transfer("ferdie", PHA));
    forged.signature[0] ^= 1;
    calls
        .call(
            "submit",
            "eve sends ferdie 2 PHA (nonce 0): its hash",
            "phalanx_submitTransaction",
            json!([hex0x(&eve_tx.encode())]),
        )
        .await;
    calls
        .call(
            "submit_bad_signature",
            "eve's next transaction with one signature bit flipped: code 1002, reason bad_signature",
            "phalanx_submitTransaction",
            json!([hex0x(&forged.encode())]),
        )
        .await;
    calls
        .call(
            "submit_malformed",
            "bytes that are no transaction: code 1001, reason malformed",
            "phalanx_submitTransaction",
            json!(["0x00"]),
        )
        .await;
    calls
        .call(
            "submit_many",
            "ferdie's transfer (admitted), eve's again (already_known, code 1003) and junk (malformed): one answer per entry",
            "phalanx_submitTransactions",
            json!([[hex0x(&ferdie_tx.encode()), hex0x(&eve_tx.encode()), "0x00"]]),
        )
        .await;
    calls
        .call(
            "transaction_pending",
            "eve's transfer, waiting in this node's mempool",
            "phalanx_transaction",
            json!([eve_tx.hash()]),
        )
        .await;
    calls
        .call(
            "next_nonce_pooled",
            "eve has nonce 0 pooled: her next transaction takes nonce 1",
            "phalanx_nextNonce",
            json!({ "address": eve }),
        )
        .await;
    calls
        .call(
            "status_with_pool",
            "two transactions wait in the mempool",
            "phalanx_status",
            json!([]),
        )
        .await;

    // Protocol errors.
    calls
        .call(
            "method_not_found",
            "no such method: code -32601, reason method_not_found",
            "phalanx_nothing",
            json!([]),
        )
        .await;
    calls
        .call(
            "too_many_params",
            "a parameter where the method takes none: invalid_params",
            "phalanx_treasury",
            json!([1]),
        )
        .await;
    calls
        .call(
            "subscribe_over_http",
            "subscriptions need WebSocket: code 1006, reason subscription_over_http",
            "phalanx_subscribeFinalized",
            json!([]),
        )
        .await;
    calls
        .call(
            "unsubscribe_over_http",
            "the same for unsubscribing",
            "phalanx_unsubscribeFinalized",
            json!(["0"]),
        )
        .await;

    // The subscription, over WebSocket: the block after the head takes eve's and ferdie's
    // transactions.
    let ws = WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await
        .expect("ws client");
    let mut heads = ws
        .subscribe::<Value, _>(
            "phalanx_subscribeFinalized",
            Raw(json!([])),
            "phalanx_unsubscribeFinalized",
        )
        .await
        .expect("subscribes");
    produce(&chain);
    let notified = heads.next().await.expect("a notification").expect("a head");
    let jsonrpsee::core::client::SubscriptionKind::Subscription(id) = heads.kind() else {
        panic!("a subscription by id");
    };
    let unsubscribed: Value = ws
        .request("phalanx_unsubscribeFinalized", Raw(json!([id])))
        .await
        .expect("unsubscribes");
    calls.out.push(json!({
        "name": "subscribe_finalized",
        "about": "over WebSocket: the answer is a subscription id (random, so not pinned); `notification` is the `result` of the phalanx_finalized message for the block after the head, which took eve's and ferdie's transactions",
        "method": "phalanx_subscribeFinalized",
        "params": [],
        "notification": notified,
    }));
    calls.out.push(json!({
        "name": "unsubscribe_finalized",
        "about": "over WebSocket, with the id phalanx_subscribeFinalized answered (random, so not pinned): true once the subscription ends",
        "method": "phalanx_unsubscribeFinalized",
        "params": ["<subscription id>"],
        "result": unsubscribed,
    }));
    drop(heads);

    handle.stop().expect("stops");
    let doc = json!({
        "about": "JSON-RPC answers of a node, pinned (docs/wire.md#json-rpc). Each vector is one request, `method` with `params` (a list by position or an object by name), and the answer's `result`, or its `error` {code, message, data: {reason}}: match on data.reason, `message` is for people and may be reworded (regenerate then). The calls run in the listed order against the chain `chain` describes; crates/node/tests/rpc_vectors.rs builds it and checks the node still answers exactly this.",
        "chain": chain_description(&chain, &heights),
        "excluded": [
            {
                "what": "the subscription id phalanx_subscribeFinalized answers",
                "why": "the server draws it at random; only its use (notifications carry it in params.subscription) is fixed"
            },
            {
                "what": "the id of each JSON-RPC answer",
                "why": "it echoes the request's id, whatever the client chose"
            }
        ],
        "calls": calls.out,
    });
    (doc, registered)
}

/// The vector names the method table of docs/wire.md links for each method.
fn wire_md_links() -> Vec<(String, Vec<String>)> {
    let path = docs_dir().join("wire.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|line| line.starts_with("| `phalanx_"))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let method = cells[0]
                .trim_start_matches("| ")
                .trim_matches('`')
                .to_string();
            let last = cells.last().copied().unwrap_or_default();
            let names = last
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect();
            (method, names)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_answers_match_the_pinned_vectors() {
    let (computed, registered) = compute().await;
    let path = docs_dir().join("vectors/rpc.json");

    // Same genesis as state.json's chain, so the two files describe one network.
    let state = read_json(&docs_dir().join("vectors/state.json"));
    assert_eq!(
        computed["chain"]["genesis_hash"],
        json!(format!(
            "0x{}",
            state["chain"]["expected"]["genesis"]["hash"]
                .as_str()
                .expect("state.json genesis hash")
        )),
        "the RPC chain's genesis differs from state.json's dev genesis"
    );

    // Every method the node serves has a vector.
    let calls = computed["calls"].as_array().expect("calls");
    let covered: BTreeSet<String> = calls
        .iter()
        .filter(|call| call.get("error").is_none())
        .map(|call| call["method"].as_str().expect("method").to_string())
        .collect();
    let missing: Vec<&String> = registered
        .iter()
        .filter(|method| !covered.contains(*method))
        .collect();
    assert!(
        missing.is_empty(),
        "methods without an answer vector: {missing:?}"
    );

    // docs/wire.md's method table links each method to vectors of that method.
    let links = wire_md_links();
    let linked: BTreeSet<&String> = links.iter().map(|(method, _)| method).collect();
    for method in &registered {
        assert!(
            linked.contains(method),
            "docs/wire.md's method table has no row for {method}"
        );
    }
    for (method, names) in &links {
        assert!(!names.is_empty(), "docs/wire.md: {method} links no vector");
        for name in names {
            let vector = calls.iter().find(|call| call["name"] == json!(name));
            assert!(
                vector.is_some_and(|v| v["method"] == json!(method)),
                "docs/wire.md links {method} to vector `{name}`, which rpc.json has not for that method"
            );
        }
    }

    if std::env::var_os(REGENERATE).is_some() {
        let text = serde_json::to_string_pretty(&computed).expect("serializes") + "\n";
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let pinned = read_json(&path);
    let mut mismatches = Vec::new();
    for section in ["about", "chain", "excluded"] {
        if pinned[section] != computed[section] {
            mismatches.push(format!(
                "{section}: pinned {}\n  computed {}",
                pinned[section], computed[section]
            ));
        }
    }
    let pinned_calls = pinned["calls"].as_array().cloned().unwrap_or_default();
    for index in 0..calls.len().max(pinned_calls.len()) {
        let (want, got) = (pinned_calls.get(index), calls.get(index));
        if want != got {
            mismatches.push(format!(
                "calls[{index}]: pinned {}\n  computed {}",
                want.unwrap_or(&Value::Null),
                got.unwrap_or(&Value::Null)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}: {} part(s) differ from the node's answers (an RPC shape changed? regenerate with \
         {REGENERATE}=1 and review the diff):\n{}",
        path.display(),
        mismatches.len(),
        mismatches.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The layouts docs/wire.md spells out for what these answers carry (events in receipts and
// block_events, the workers page, the genesis config), checked against the runtime: each is
// encoded again byte by byte from its JSON as the page describes and compared with SCALE.
// ---------------------------------------------------------------------------------------------

fn wire_md() -> String {
    let path = docs_dir().join("wire.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The body rows of the table of docs/wire.md whose header line is `header`, cell by cell.
fn md_table(text: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().skip_while(|line| *line != header);
    assert!(
        lines.next().is_some(),
        "docs/wire.md has no table `{header}`"
    );
    lines
        .skip(1) // the |---| line
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            line.trim()
                .trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_string())
                .collect()
        })
        .collect()
}

/// The `name type` pairs written in backticks in a table cell.
fn typed_fields(cell: &str) -> Vec<(String, String)> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|field| {
            let (name, ty) = field.split_once(' ')?;
            Some((name.to_string(), ty.to_string()))
        })
        .collect()
}

fn compact(len: usize) -> Vec<u8> {
    match len {
        0..=63 => vec![(len as u8) << 2],
        64..=16_383 => (((len as u16) << 2) | 1).to_le_bytes().to_vec(),
        _ => (((len as u32) << 2) | 2).to_le_bytes().to_vec(),
    }
}

fn bytes_of(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    if text.starts_with("pha1") {
        return phalanx_primitives::AccountId::from_address(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .0
            .to_vec();
    }
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn int_of(value: &Value) -> u128 {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("not an integer {value}: {e}"))
}

/// SCALE of `value` (the JSON of a field) read as the type docs/wire.md names.
fn encode_as(ty: &str, value: &Value) -> Vec<u8> {
    let string = |value: &Value| {
        let text = value
            .as_str()
            .unwrap_or_else(|| panic!("not a string: {value}"));
        [compact(text.len()), text.as_bytes().to_vec()].concat()
    };
    match ty {
        "[u8;32]" => {
            let bytes = bytes_of(value);
            assert_eq!(bytes.len(), 32, "{value}");
            bytes
        }
        "u128" => int_of(value).to_le_bytes().to_vec(),
        "u64" => (int_of(value) as u64).to_le_bytes().to_vec(),
        "u32" => (int_of(value) as u32).to_le_bytes().to_vec(),
        "u16" => (int_of(value) as u16).to_le_bytes().to_vec(),
        "u8" => vec![int_of(value) as u8],
        "bool" => vec![u8::from(value.as_bool().expect("a bool"))],
        "String" => string(value),
        "Vec<String>" => {
            let items = value.as_array().expect("an array");
            let mut out = compact(items.len());
            items.iter().for_each(|item| out.extend(string(item)));
            out
        }
        "Vec<u8>" => {
            let bytes = bytes_of(value);
            [compact(bytes.len()), bytes].concat()
        }
        "ErrorCode" => [string(&value["module"]), string(&value["reason"])].concat(),
        "Option<ErrorCode>" if value.is_null() => vec![0],
        "Option<ErrorCode>" => [vec![1], encode_as("ErrorCode", value)].concat(),
        "Origin" => {
            let (kind, key) = value
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("an origin");
            let tag = ["worker", "gatekeeper", "cluster", "contract"]
                .iter()
                .position(|k| k == kind)
                .expect("an origin kind");
            [vec![tag as u8], encode_as("[u8;32]", key)].concat()
        }
        "SlashReason" => {
            let tag = [
                "unresponsive",
                "attestation_revoked",
                "conflicting_messages",
                "conflicting_results",
            ]
            .iter()
            .position(|r| value.as_str() == Some(r))
            .unwrap_or_else(|| panic!("not a slash reason: {value}"));
            vec![tag as u8]
        }
        other => panic!("docs/wire.md names a type this test cannot encode: {other}"),
    }
}

/// One of every event, with distinct values.
fn every_event() -> Vec<phalanx_runtime::Event> {
    use phalanx_primitives::call::Origin;
    use phalanx_runtime::{ErrorCode, Event};
    let who = |name: &str| Keypair::dev(name).account();
    let code = ErrorCode::new("balances", "zero_amount");
    vec![
        Event::FeePaid {
            who: who("a"),
            amount: 1,
        },
        Event::Transferred {
            from: who("a"),
            to: who("b"),
            amount: u128::MAX,
        },
        Event::CallFailed {
            error: code.clone(),
        },
        Event::ChainParamsChanged,
        Event::GovernanceParamsChanged,
        Event::TreasurySpent {
            to: who("c"),
            amount: 7,
        },
        Event::ValidatorsChanged { count: 4 },
        Event::Proposed {
            proposal: 3,
            proposer: who("d"),
            deposit: 100,
            voting_ends_at: 99,
        },
        Event::Voted {
            proposal: 3,
            who: who("e"),
            aye: true,
            amount: 5,
        },
        Event::Unvoted {
            proposal: 3,
            who: who("e"),
        },
        Event::ProposalPassed {
            proposal: 3,
            aye: 9,
            nay: 1,
            enact_at: 120,
        },
        Event::ProposalRejected {
            proposal: 4,
            aye: 1,
            nay: 9,
        },
        Event::ProposalEnacted {
            proposal: 3,
            error: None,
        },
        Event::ProposalEnacted {
            proposal: 5,
            error: Some(code),
        },
        Event::ProposalCancelled { proposal: 6 },
        Event::RootDispatched,
        Event::WorkerRegistered {
            identity: [1; 32],
            operator: who("f"),
            confidence: 900,
            performance: 150,
        },
        Event::WorkerReregistered {
            identity: [1; 32],
            operator: who("f"),
            confidence: 850,
            performance: 160,
        },
        Event::AttestationPolicyChanged,
        Event::RegistrationFrozen { frozen: true },
        Event::MessagePushed {
            origin: Origin::Cluster([2; 32]),
            sequence: 8,
            topic: b"topic".to_vec(),
        },
        Event::ValidatorsActivated { epoch: 2, count: 4 },
        Event::MisbehaviourReported {
            validator: [3; 32],
            kind: 1,
            epoch: 2,
            view: 77,
            reporter: who("g"),
        },
        Event::PeerAddressSet {
            who: who("h"),
            address: "10.0.0.1:9000".into(),
        },
        Event::GatekeeperParamsChanged,
        Event::GatekeeperAppointed {
            identity: [4; 32],
            operator: who("i"),
            stake: 1_000 * PHA,
        },
        Event::GatekeeperRemoved {
            identity: [4; 32],
            release_at_ms: 1_700_000_060_000,
        },
        Event::GatekeeperStakeReleased {
            identity: [4; 32],
            operator: who("i"),
            amount: 1_000 * PHA,
        },
        Event::KeyEpochRequested { epoch: 1 },
        Event::MasterKeyPublished {
            epoch: 1,
            public_key: [5; 32],
            generator: [4; 32],
        },
        Event::MasterKeyShared {
            epoch: 1,
            gatekeeper: [6; 32],
        },
        Event::KeyEpochRetired { epoch: 0 },
        Event::ClusterCreated { cluster: 2 },
        Event::ClusterWorkerAdded {
            cluster: 2,
            worker: [7; 32],
        },
        Event::ClusterWorkerRemoved {
            cluster: 2,
            worker: [7; 32],
        },
        Event::ClusterKeyPublished {
            cluster: 2,
            epoch: 1,
            public_key: [8; 32],
        },
        Event::ClusterKeyDelivered {
            cluster: 2,
            epoch: 1,
            worker: [7; 32],
        },
        Event::KeyMessageRefused {
            gatekeeper: [6; 32],
            sequence: 9,
            error: ErrorCode::new("gatekeeper", "conflicting_key"),
        },
        Event::CodeUploaded {
            code_hash: Hash([9; 32]),
            uploader: who("j"),
            size: 1_234,
            fee: 5 * PHA,
        },
        Event::ContractInstantiated {
            contract: [10; 32],
            code_hash: Hash([9; 32]),
            cluster: 2,
            deployer: who("j"),
        },
        Event::ContractKeyPublished {
            contract: [10; 32],
            epoch: 1,
            public_key: [11; 32],
        },
        Event::CommandSubmitted {
            contract: [10; 32],
            sequence: 3,
            caller: who("k"),
            reserved: 7_000,
            deadline: 900,
        },
        Event::CommandFinalized {
            contract: [10; 32],
            sequence: 3,
            output_hash: Hash([12; 32]),
            gas_used: 40,
            agreeing: 2,
            paid: 4_000,
            refunded: 3_000,
        },
        Event::CommandTimedOut {
            contract: [10; 32],
            sequence: 4,
            refunded: 7_000,
        },
        Event::ContractResultDisputed {
            contract: [10; 32],
            sequence: 3,
            worker: [13; 32],
            output_hash: Hash([14; 32]),
            gas_used: 41,
        },
        Event::QueryDeposited {
            who: who("k"),
            amount: 10,
            available: 30,
        },
        Event::QueryWithdrawalStarted {
            who: who("k"),
            amount: 5,
            withdrawing: 5,
            release_at: 1_300,
        },
        Event::QueryWithdrawn {
            who: who("k"),
            amount: 5,
        },
        Event::QueryUsageSettled {
            client: who("k"),
            worker: [13; 32],
            operator: who("l"),
            requested: 9,
            charged: 8,
            nonce: 2,
        },
        Event::ContractsParamsChanged,
        Event::ContractMessageRefused {
            origin: Origin::Worker([13; 32]),
            sequence: 5,
            error: ErrorCode::new("contracts", "already_reported"),
        },
        Event::VestingClaimed {
            who: who("c"),
            amount: 15,
            still_vesting: 16,
        },
        Event::MiningParamsChanged,
        Event::PoolCreated {
            pool: 1,
            owner: who("a"),
            commission_per_mille: 100,
        },
        Event::PoolContributed {
            pool: 1,
            who: who("b"),
            amount: 17,
            shares: 18,
        },
        Event::PoolWithdrawn {
            pool: 1,
            who: who("b"),
            amount: 19,
            shares: 20,
        },
        Event::PoolWithdrawalQueued {
            pool: 1,
            who: who("b"),
            shares: 21,
        },
        Event::PoolWorkerAdded {
            pool: 1,
            worker: [0x41; 32],
        },
        Event::PoolWorkerRemoved {
            pool: 1,
            worker: [0x41; 32],
        },
        Event::WorkerStarted {
            pool: 1,
            worker: [0x41; 32],
            stake: 22,
            initial_value_raw: 23,
        },
        Event::WorkerStopped {
            pool: 1,
            worker: [0x41; 32],
            forced: true,
        },
        Event::WorkerReclaimed {
            pool: 1,
            worker: [0x41; 32],
            stake: 24,
        },
        Event::WorkerSlashed {
            pool: 1,
            worker: [0x41; 32],
            amount: 25,
            reason: phalanx_runtime::mining::SlashReason::Unresponsive,
        },
        Event::WorkerUnresponsive { worker: [0x41; 32] },
        Event::WorkerResponsive { worker: [0x41; 32] },
        Event::DaySettled {
            day: 3,
            budget: 28,
            treasury: 1,
            paid: 26,
            kept_in_pot: 1,
            workers: 1,
        },
        Event::MiningHookFailed {
            error: ErrorCode::new("mining", "corrupted"),
        },
        Event::MiningMessageRefused {
            worker: [0x41; 32],
            sequence: 6,
            error: ErrorCode::new("mining", "no_open_challenge"),
        },
        Event::StakingParamsChanged,
        Event::ValidatorBonded {
            who: who("e"),
            amount: 29,
            bonded: 30,
        },
        Event::ValidatorUnbonding {
            who: who("e"),
            amount: 31,
            release_at_ms: 32,
        },
        Event::ValidatorUnbonded {
            who: who("e"),
            amount: 33,
        },
        Event::ValidatorSlashed {
            validator: [0x42; 32],
            amount: 34,
        },
        Event::StakingHookFailed {
            error: ErrorCode::new("staking", "corrupted"),
        },
        Event::EnclaveBanned {
            identity: [3; 32],
            reason: phalanx_runtime::mining::SlashReason::ConflictingMessages,
        },
        Event::GatekeeperSlashed {
            identity: [3; 32],
            operator: who("charlie"),
            amount: 5_000,
            reason: phalanx_runtime::mining::SlashReason::ConflictingResults,
        },
    ]
}

/// A row of the events table: its byte, JSON name and `(field, type)`s in SCALE order.
type EventRow = (u8, String, Vec<(String, String)>);

#[test]
fn the_events_table_of_wire_md_is_the_runtime_s() {
    use parity_scale_codec::Decode;
    let text = wire_md();
    let table = md_table(&text, "| byte | JSON `event` | fields (SCALE, in order) |");
    let rows: Vec<EventRow> = table
        .iter()
        .map(|row| {
            let byte = u8::from_str_radix(row[0].trim_matches('`'), 16).expect("a hex byte");
            (
                byte,
                row[1].trim_matches('`').to_string(),
                typed_fields(&row[2]),
            )
        })
        .collect();
    for (position, (byte, _, _)) in rows.iter().enumerate() {
        assert_eq!(
            usize::from(*byte),
            position,
            "the events table skips or repeats a byte"
        );
    }
    // The runtime decodes a variant at every byte of the table and at none past it.
    let padding = [0u8; 512];
    for (byte, name, _) in &rows {
        let bytes = [&[*byte][..], &padding].concat();
        assert!(
            phalanx_runtime::Event::decode(&mut &bytes[..]).is_ok(),
            "byte {byte:02x} ({name}) is no event"
        );
    }
    let past = [&[rows.len() as u8][..], &padding].concat();
    assert!(
        phalanx_runtime::Event::decode(&mut &past[..]).is_err(),
        "the runtime has an event the table of docs/wire.md does not list"
    );
    let mut seen = BTreeSet::new();
    for event in every_event() {
        let scale = event.encode();
        let json = serde_json::to_value(&event).expect("serializes");
        let (byte, name, fields) = &rows[usize::from(scale[0])];
        seen.insert(*byte);
        assert_eq!(json["event"], json!(name), "{event:?}: JSON name");
        let keys: BTreeSet<&String> = json.as_object().expect("object").keys().collect();
        let event_key = "event".to_string();
        let expected_keys: BTreeSet<&String> = fields
            .iter()
            .map(|(field, _)| field)
            .chain(std::iter::once(&event_key))
            .collect();
        assert_eq!(
            keys, expected_keys,
            "{event:?}: JSON fields against the table"
        );
        let by_hand: Vec<u8> = std::iter::once(*byte)
            .chain(
                fields
                    .iter()
                    .flat_map(|(field, ty)| encode_as(ty, &json[field])),
            )
            .collect();
        assert_eq!(
            hex::encode(&by_hand),
            hex::encode(&scale),
            "{event:?}: SCALE as docs/wire.md describes it"
        );
    }
    assert_eq!(
        seen.len(),
        rows.len(),
        "every event of the table is checked"
    );
}

/// `AttestationPolicy` from its JSON, byte by byte as docs/wire.md#attestation-policy says.
fn policy_by_hand(policy: &Value) -> Vec<u8> {
    let statuses = [
        "UpToDate",
        "SWHardeningNeeded",
        "ConfigurationNeeded",
        "ConfigurationAndSWHardeningNeeded",
        "OutOfDate",
        "OutOfDateConfigurationNeeded",
        "Revoked",
    ];
    let list = |value: &Value| {
        let items = value.as_array().expect("a list");
        let mut out = compact(items.len());
        for item in items {
            out.extend(encode_as("[u8;32]", item));
        }
        out
    };
    let status = |value: &Value| {
        vec![statuses
            .iter()
            .position(|s| value == s)
            .expect("a TCB status") as u8]
    };
    let confidence = &policy["tcb_confidence"];
    let mut out = list(&policy["allowed_measurements"]);
    out.extend(list(&policy["accepted_simulated_roots"]));
    out.extend(status(&policy["minimum_tcb_status"]));
    for field in [
        "up_to_date",
        "sw_hardening_needed",
        "configuration_needed",
        "configuration_and_sw_hardening_needed",
        "out_of_date",
        "out_of_date_configuration_needed",
    ] {
        out.extend(encode_as("u16", &confidence[field]));
    }
    out.extend(encode_as("bool", &policy["allow_debug"]));
    out.extend(encode_as("bool", &policy["registration_frozen"]));
    let denied = policy["denied_advisories"].as_array().expect("a list");
    out.extend(compact(denied.len()));
    for advisory in denied {
        out.extend(encode_as("String", advisory));
    }
    out.extend(encode_as("u32", &policy["min_tcb_evaluation_data_number"]));
    out
}

#[test]
fn the_policy_and_worker_layouts_of_wire_md_are_the_runtime_s() {
    use phalanx_primitives::attestation::{AttestationPolicy, QuoteKind, TcbStatus};
    for policy in [
        phalanx_runtime::genesis::dev_attestation_policy(),
        AttestationPolicy::production(),
        AttestationPolicy {
            minimum_tcb_status: TcbStatus::SWHardeningNeeded,
            allow_debug: true,
            registration_frozen: true,
            denied_advisories: vec!["INTEL-SA-00615".into()],
            min_tcb_evaluation_data_number: 17,
            ..AttestationPolicy::production().with_measurement([7; 32])
        },
    ] {
        let json = serde_json::to_value(&policy).expect("serializes");
        assert_eq!(
            hex::encode(policy_by_hand(&json)),
            hex::encode(policy.encode()),
            "{json}"
        );
    }
    // The dev policy as the page spells it out.
    let dev = phalanx_runtime::genesis::dev_attestation_policy().encode();
    assert_eq!(dev.len(), 86);
    assert_eq!(
        hex::encode(&dev[66..]),
        "05e803840352032003bc028a0200000000000000"
    );

    let worker = phalanx_runtime::registry::WorkerInfo {
        identity: [1; 32],
        encryption_key: [2; 32],
        operator: Keypair::dev("operator").account(),
        quote_kind: QuoteKind::TdxDcap,
        measurement: [3; 32],
        tcb_status: TcbStatus::OutOfDate,
        confidence: 700,
        performance: 120,
        endpoint: "https://worker.example:8100".into(),
        registered_at: 5,
        last_attested_at: 9,
        recent_block_height: 8,
        advisory_ids: vec!["INTEL-SA-00615".into(), "INTEL-SA-00828".into()],
        tcb_evaluation_data_number: Some(17),
    };
    let json = serde_json::to_value(&worker).expect("serializes");
    assert_eq!(json["quote_kind"], json!("TdxDcap"));
    assert_eq!(json["tcb_status"], json!("OutOfDate"));
    let by_hand = [
        encode_as("[u8;32]", &json["identity"]),
        encode_as("[u8;32]", &json["encryption_key"]),
        encode_as("[u8;32]", &json["operator"]),
        vec![2], // TdxDcap
        encode_as("[u8;32]", &json["measurement"]),
        vec![4], // OutOfDate
        encode_as("u16", &json["confidence"]),
        encode_as("u32", &json["performance"]),
        encode_as("String", &json["endpoint"]),
        encode_as("u64", &json["registered_at"]),
        encode_as("u64", &json["last_attested_at"]),
        encode_as("u64", &json["recent_block_height"]),
        encode_as("Vec<String>", &json["advisory_ids"]),
        vec![1], // Some
        encode_as("u32", &json["tcb_evaluation_data_number"]),
    ]
    .concat();
    assert_eq!(hex::encode(by_hand), hex::encode(worker.encode()));
    assert_eq!(json.as_object().expect("object").len(), 14, "{json}");
    // Without collateral: `null`, one byte.
    let simulated = phalanx_runtime::registry::WorkerInfo {
        advisory_ids: Vec::new(),
        tcb_evaluation_data_number: None,
        ..worker
    };
    let json = serde_json::to_value(&simulated).expect("serializes");
    assert!(json["tcb_evaluation_data_number"].is_null(), "{json}");
    assert_eq!(simulated.encode().last(), Some(&0));
}

#[test]
fn the_genesis_config_table_of_wire_md_is_the_runtime_s() {
    let text = wire_md();
    let table = md_table(&text, "| field | JSON | required | meaning |");
    let config = serde_json::to_value(GenesisConfig::dev(
        vec![hex::encode(validator().account().0)],
        GENESIS_MS,
    ))
    .expect("serializes");
    let fields: BTreeSet<String> = table
        .iter()
        .map(|row| row[0].trim_matches('`').to_string())
        .collect();
    let keys: BTreeSet<String> = config
        .as_object()
        .expect("object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        fields, keys,
        "the GenesisConfig table lists other fields than the JSON has"
    );
    for row in &table {
        let field = row[0].trim_matches('`');
        let mut without = config.clone();
        without.as_object_mut().expect("object").remove(field);
        let parsed = serde_json::from_value::<GenesisConfig>(without);
        let required = row[2].starts_with("yes");
        assert_eq!(
            parsed.is_err(),
            required,
            "`{field}`: required is `{}`",
            row[2]
        );
    }
    // Unknown fields are ignored; inside `chain_params` two fields may be left out, the others
    // not; inside `governance` and `gatekeeper` none may.
    let mut extra = config.clone();
    extra["not_a_field"] = json!(1);
    assert!(serde_json::from_value::<GenesisConfig>(extra).is_ok());
    for (object, field, optional) in [
        ("chain_params", "dcap_verification_fee", true),
        ("chain_params", "block_interval_ms", true),
        ("chain_params", "base_fee", false),
        ("chain_params", "max_expiry_blocks", false),
        ("governance", "min_turnout", false),
        ("gatekeeper", "stake", false),
        ("gatekeeper", "unbonding_ms", false),
    ] {
        let mut partial = config.clone();
        partial[object]
            .as_object_mut()
            .expect("object")
            .remove(field);
        let parsed = serde_json::from_value::<GenesisConfig>(partial);
        assert_eq!(parsed.is_ok(), optional, "{object}.{field}");
    }
}
