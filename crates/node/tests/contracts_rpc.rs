//! The contracts module over JSON-RPC and the SDK's side of a command, against a chain driven
//! by hand (common/gatekeeper.rs gives it a gatekeeper, epoch 0 and cluster 0 with two members;
//! common/contracts.rs plays the gatekeeper publishing a contract key and the members reporting
//! a result): every method's answer before and after, strict parameters and clear `not_found`s,
//! a contract key whose proof the SDK checks (tampering and a forged key refused against a
//! trusted root), and a command sealed by the SDK, opened by the "enclave" with the contract's
//! secret, reported by both members and opened again by the SDK from the final result.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

#[path = "common/gatekeeper.rs"]
mod history;
#[path = "common/served.rs"]
mod served;

#[path = "common/contracts.rs"]
mod contracts;

use served::{invalid, not_found, produce, refused, serve};

use phalanx_client::{
    open_command_output, Client, CommandOutput, CommandStatus, ContractKeyProof, KeyProofError,
    OpenError, SealError, TransactionStatus,
};
use phalanx_primitives::call::ContractsCall;
use phalanx_primitives::contract::{self as wire, ContractsParams};
use phalanx_primitives::{Keypair, PHA};
use phalanx_state::ProofError;
use serde_json::{json, Value};

/// The included transaction `hash` (finalized by now).
async fn included(client: &Client, hash: &phalanx_primitives::Hash) -> phalanx_client::Included {
    match client.transaction(hash).await.expect("transaction") {
        TransactionStatus::Finalized(included) => included,
        other => panic!("{hash} is not finalized: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts_commands_and_deposits_read_back_with_proofs_and_a_round_trip() {
    let (_dir, chain, client, handle) = serve().await;
    let alice = Keypair::dev("alice").account();
    let bob = Keypair::dev("bob").account();
    let params = ContractsParams::default();

    // Nothing yet.
    let page = client.contracts(None, None).await.expect("contracts");
    assert_eq!(
        (page.contracts.len(), page.next, &page.params, page.height),
        (0, None, &params, 0)
    );
    let unknown = hex::encode([9u8; 32]);
    assert_eq!(
        not_found(&client, "phalanx_contract", json!([unknown])).await,
        format!("no contract {unknown}")
    );
    assert_eq!(
        not_found(&client, "phalanx_contractKey", json!([unknown])).await,
        format!("no contract {unknown}")
    );
    assert_eq!(
        not_found(&client, "phalanx_command", json!([unknown, 0])).await,
        format!("no contract {unknown}")
    );
    let code_hash = wire::code_hash(&contracts::wasm(7));
    assert_eq!(
        not_found(&client, "phalanx_code", json!([code_hash])).await,
        format!("no code with hash {code_hash} is stored")
    );
    let deposit = client.query_deposit(&bob).await.expect("deposit");
    assert_eq!(
        (deposit.address, deposit.deposit, deposit.height),
        (bob, Default::default(), 0)
    );

    // A gatekeeper, epoch 0, cluster 0 with two members; then the contract and its key.
    let published = history::gatekeeper_history(&chain, produce);
    history::assert_all_succeeded(&chain, published.heights[0], published.heights[3]);
    let deployed = contracts::deploy(&chain, produce, 7);
    let [uploaded, instantiated, keyed] = deployed.heights;
    contracts::assert_no_refusal(&chain, uploaded, keyed);
    assert_eq!(deployed.code_hash, code_hash);
    // A second contract of the same code, whose key nobody publishes.
    history::send(
        &chain,
        "alice",
        contracts::contracts(ContractsCall::Instantiate {
            code_hash,
            cluster: 0,
            salt: b"other".to_vec(),
        }),
    );
    produce(&chain);
    let second = wire::contract_id(&alice, &code_hash, 0, b"other");
    let head = chain.head();

    // Code.
    let size = contracts::wasm(7).len() as u32;
    let stored = client.code(&code_hash).await.expect("code");
    assert_eq!(
        (
            stored.code.hash,
            stored.code.size,
            stored.code.uploader,
            stored.code.fee,
            stored.code.uploaded_at,
            stored.height
        ),
        (
            code_hash,
            size,
            alice,
            params.code_byte_fee * size as u128,
            uploaded,
            head.height()
        )
    );

    // Contracts, in id order, paged.
    let mut ids = vec![deployed.id, second];
    ids.sort();
    let page = client.all_contracts().await.expect("contracts");
    let listed: Vec<[u8; 32]> = page.contracts.iter().map(|c| c.id).collect();
    assert_eq!((listed, page.next), (ids.clone(), None));
    let first = client.contracts(None, Some(1)).await.expect("page 1");
    assert_eq!((first.contracts[0].id, first.next), (ids[0], Some(ids[1])));
    let rest = client
        .contracts(Some(&ids[1]), Some(1))
        .await
        .expect("page 2");
    assert_eq!((rest.contracts[0].id, rest.next), (ids[1], None));
    let raw: Value = client
        .call("phalanx_contracts", vec![Value::Null, json!(1)])
        .await
        .expect("raw");
    assert_eq!(raw["next"], json!(format!("0x{}", hex::encode(ids[1]))));
    assert_eq!(raw["contracts"][0]["id"], json!(hex::encode(ids[0])));

    // One contract: its record, its code and its key of epoch 0.
    let detail = client.contract(&deployed.id).await.expect("contract");
    let c = &detail.contract;
    assert_eq!(
        (
            c.id,
            c.deployer,
            c.code_hash,
            c.cluster,
            c.created_at,
            c.commands
        ),
        (deployed.id, alice, code_hash, 0, instantiated, 0)
    );
    assert_eq!(detail.code, stored.code);
    let keys: Vec<(u32, [u8; 32])> = detail
        .keys
        .iter()
        .map(|k| (k.epoch, k.public_key))
        .collect();
    assert_eq!(keys, vec![(0, deployed.public_key)]);
    assert!(client
        .contract(&second)
        .await
        .expect("second")
        .keys
        .is_empty());

    // Keys not published say so.
    let id = hex::encode(deployed.id);
    assert_eq!(
        not_found(&client, "phalanx_contractKey", json!([hex::encode(second)])).await,
        format!(
            "contract {} has no published key for epoch 0 yet: a gatekeeper holding the epoch \
             publishes it after the instantiation (and after each key rotation); try again in a \
             few blocks",
            hex::encode(second)
        )
    );
    assert!(not_found(&client, "phalanx_contractKey", json!([id, 1]))
        .await
        .starts_with(&format!(
            "contract {id} has no published key for epoch 1 yet"
        )));

    // The key, proven as a cluster key is, and checked by the same SDK code.
    let proof = client.contract_key(&deployed.id, None).await.expect("key");
    assert_eq!(
        (proof.contract, proof.epoch, proof.public_key),
        (deployed.id, 0, deployed.public_key)
    );
    assert_eq!(
        (proof.height, proof.block_hash, proof.state_root),
        (head.height(), head.hash(), head.header.state_root)
    );
    assert_eq!(proof.key, wire::contract_public_key(&deployed.id, 0));
    assert_eq!(ContractKeyProof::storage_key(&deployed.id, 0), proof.key);
    assert_eq!(proof.verify(), Ok(()));
    assert_eq!(
        client
            .contract_key(&deployed.id, Some(0))
            .await
            .expect("by epoch"),
        proof
    );
    let generic: Value = client
        .call(
            "phalanx_stateProof",
            vec![json!(format!("0x{}", hex::encode(&proof.key)))],
        )
        .await
        .expect("state proof");
    assert_eq!(
        generic["proof"],
        json!(format!("0x{}", hex::encode(&proof.proof)))
    );

    // Tampering is refused.
    let mut forged = proof.clone();
    forged.public_key[0] ^= 1;
    assert_eq!(forged.verify(), Err(KeyProofError::PublicKeyMismatch));
    forged.value = forged.public_key.to_vec();
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::ValueMismatch))
    );
    let mut forged = proof.clone();
    forged.contract = second;
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::WrongKey { .. })
    ));
    let mut forged = proof.clone();
    forged.proof[1] ^= 1;
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::RootMismatch))
    );
    let mut forged = proof.clone();
    forged.header[0] ^= 1;
    assert_eq!(forged.verify(), Err(KeyProofError::HeaderMismatch));
    let mut forged = proof.clone();
    forged.current_epoch.value = Some(parity_scale_codec::Encode::encode(&1u32));
    assert_eq!(
        forged.verify(),
        Err(KeyProofError::Proof(ProofError::ValueMismatch))
    );
    let mut forged = proof.clone();
    forged.epoch_record.key = wire::contract_key(&deployed.id);
    assert!(matches!(
        forged.verify(),
        Err(KeyProofError::WrongKey { .. })
    ));

    // Sealing needs a root the caller trusts: another root, or a whole forged tree around a
    // key of the node's making, is refused.
    let trusted = head.header.state_root;
    let mut other_root = trusted;
    other_root.0[0] ^= 1;
    assert!(matches!(
        proof.seal_command(&other_root, bob, b"x"),
        Err(SealError::Proof(KeyProofError::UntrustedRoot { .. }))
    ));
    let lie = forged_answer(&proof, [0x66; 32]);
    assert_eq!(
        lie.verify(),
        Ok(()),
        "every proof of the lie holds on its own"
    );
    assert!(matches!(
        lie.seal_command(&trusted, bob, b"x"),
        Err(SealError::Proof(KeyProofError::UntrustedRoot { .. }))
    ));
    assert!(matches!(
        proof.seal_command(&trusted, bob, &vec![0; wire::MAX_SEALED_COMMAND_BYTES]),
        Err(SealError::CommandTooLarge { .. })
    ));

    // A command: sealed by the SDK, submitted by bob, its gas reserved.
    let marker = b"marker: the vault's secret";
    let (sealed, response_key) = proof
        .seal_command(&trusted, bob, marker)
        .expect("seals against the trusted root");
    let (gas_limit, gas_price) = (1_000_000u64, params.min_gas_price);
    let hash = history::send(
        &chain,
        "bob",
        phalanx_client::contracts::submit_command(&proof, sealed.clone(), gas_limit, gas_price),
    );
    produce(&chain);
    let submitted = chain.height();
    let included = included(&client, &hash).await;
    assert_eq!(included.error(), None);
    assert_eq!(
        phalanx_client::contracts::command_sequence(&included, &deployed.id),
        Some(0)
    );
    assert_eq!(
        phalanx_client::contracts::command_sequence(&included, &second),
        None
    );
    let reserved = gas_limit as u128 * gas_price;
    let pending = client.command(&deployed.id, 0).await.expect("command");
    let command = &pending.command;
    assert_eq!(
        (
            pending.contract,
            command.sequence,
            command.caller,
            &command.sealed,
            command.gas_limit,
            command.gas_price,
            command.reserved,
            command.key_epoch,
            command.submitted_at,
            command.deadline,
            command.quorum,
            command.status,
        ),
        (
            deployed.id,
            0,
            bob,
            &sealed,
            gas_limit,
            gas_price,
            reserved,
            0,
            submitted,
            submitted + params.command_timeout_blocks,
            2,
            CommandStatus::Pending,
        )
    );
    assert_eq!(pending.result, None);
    assert_eq!(client.account(&bob).await.expect("bob").reserved, reserved);
    assert!(
        !serde_json::to_string(&pending)
            .expect("json")
            .contains("marker"),
        "the input never shows in the clear"
    );

    // The members open it with the contract's secret (the caller is bound inside), run it and
    // both report the same sealed output: final.
    let (plaintext, member_key) = contracts::open_command(&deployed.id, &command.sealed);
    assert_eq!(
        (plaintext.caller, plaintext.input.as_slice()),
        (bob, &marker[..])
    );
    let output = CommandOutput::Ran {
        status: 0,
        output: b"stored".to_vec(),
    };
    let sealed_output = contracts::seal_output(&member_key, &output);
    let gas_used = 5_000;
    contracts::finalize(&chain, produce, deployed.id, 0, &sealed_output, gas_used);
    contracts::assert_no_refusal(&chain, chain.height(), chain.height());
    let done = client
        .wait_command(&deployed.id, 0, std::time::Duration::from_secs(5))
        .await
        .expect("final");
    assert_eq!(done.command.status, CommandStatus::Final);
    let result = done.result.expect("a final result");
    let paid = gas_used as u128 * gas_price;
    assert_eq!(
        (
            result.output_hash,
            result.gas_used,
            &result.sealed_output,
            result.final_at,
            result.agreeing,
            result.paid,
            result.refunded
        ),
        (
            wire::output_hash(&sealed_output),
            gas_used,
            &sealed_output,
            chain.height(),
            2,
            paid,
            reserved - paid
        )
    );
    assert_eq!(client.account(&bob).await.expect("bob").reserved, 0);
    // Only the caller's response key opens it.
    assert_eq!(
        open_command_output(&response_key, &result.sealed_output).expect("opens"),
        output
    );
    let (_, another_key) = proof.seal_command(&trusted, bob, marker).expect("seals");
    assert!(matches!(
        open_command_output(&another_key, &result.sealed_output),
        Err(OpenError::Open(_))
    ));
    assert_eq!(
        not_found(&client, "phalanx_command", json!([id, 1])).await,
        format!("contract {id} has no command 1 (it has 1 so far)")
    );

    // Query deposits.
    history::send(&chain, "bob", phalanx_client::contracts::deposit(10 * PHA));
    produce(&chain);
    history::send(&chain, "bob", phalanx_client::contracts::withdraw(3 * PHA));
    produce(&chain);
    let deposit = client.query_deposit(&bob).await.expect("deposit");
    assert_eq!(
        (
            deposit.deposit.available,
            deposit.deposit.withdrawing,
            deposit.deposit.release_at,
            deposit.height
        ),
        (
            7 * PHA,
            3 * PHA,
            chain.height() + params.withdrawal_delay_blocks,
            chain.height()
        )
    );

    handle.stop().expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_strict_and_named() {
    let (_dir, _chain, client, handle) = serve().await;
    assert_eq!(
        invalid(&client, "phalanx_contracts", json!(["0x01"])).await,
        "`start` must be a contract id (32 bytes of hex)"
    );
    assert_eq!(
        invalid(&client, "phalanx_contracts", json!([null, 0])).await,
        "`limit` must be an integer from 1 to 100"
    );
    assert_eq!(
        invalid(&client, "phalanx_contract", json!([])).await,
        "missing parameter `id`: a contract id (32 bytes of hex)"
    );
    assert_eq!(
        invalid(&client, "phalanx_contract", json!(["xyz"])).await,
        "`id` must be a contract id (32 bytes of hex)"
    );
    let id = hex::encode([1u8; 32]);
    assert_eq!(
        invalid(&client, "phalanx_contractKey", json!([id, -1])).await,
        "`epoch` must be a key epoch (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_command", json!([id])).await,
        "missing parameter `sequence`: a command sequence number (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_command", json!([id, "0"])).await,
        "`sequence` must be a command sequence number (a non-negative integer)"
    );
    assert_eq!(
        invalid(&client, "phalanx_code", json!(["0x01"])).await,
        "`hash` must be a code hash (32 bytes of hex)"
    );
    let (code, reason, _) = refused(&client, "phalanx_queryDeposit", json!(["pha1nope"])).await;
    assert_eq!((code, reason.as_str()), (-32602, "bad_address"));
    assert_eq!(
        invalid(&client, "phalanx_queryDeposit", json!(["a", "b"])).await,
        "2 parameters given; this method takes `address`"
    );
    handle.stop().expect("stops");
}

/// `answer` rebuilt by a lying node: a state of its own holding `public_key` as the contract's
/// key, with the same epoch record and current epoch, under a header it made for that root.
fn forged_answer(answer: &ContractKeyProof, public_key: [u8; 32]) -> ContractKeyProof {
    let forged = served::forge(
        &answer.key,
        public_key,
        &answer.epoch_record,
        &answer.current_epoch,
        &answer.header,
    );
    ContractKeyProof {
        public_key,
        value: forged.value,
        proof: forged.proof,
        block_hash: forged.block_hash,
        state_root: forged.state_root,
        header: forged.header,
        epoch_record: forged.epoch_record,
        current_epoch: forged.current_epoch,
        ..answer.clone()
    }
}
