//! Contracts: code upload, instances and their keys, commands with their gas, results agreed by
//! a cluster majority (and the members that disagree), timeouts, query deposits and usage; every
//! refusal by its code, and total issuance unchanged by every flow.

use super::*;
use crate::message_queue::{self, MessageQueueError};
use crate::registry::tests::worker_identity;
use crate::testing::code;
use crate::testing::*;
use crate::Receipt;
use parity_scale_codec::Encode;
use phalanx_primitives::call::{
    Call, MessageQueueCall, Origin, PrivilegedCall, RootCall, SignedMessage,
};
use phalanx_primitives::gatekeeper::{KeyMessage, KEY_TOPIC};
use phalanx_primitives::{Keypair, PHA};

/// A minimal contract: exports `memory` and the entry points `call` and `query`, both
/// `() -> i32` returning `answer` (so different answers are different code).
fn wasm(answer: u8) -> Vec<u8> {
    let mut code = b"\0asm\x01\0\0\0".to_vec();
    // type section: one type, () -> i32
    code.extend([0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f]);
    // function section: two functions of type 0
    code.extend([0x03, 0x03, 0x02, 0x00, 0x00]);
    // memory section: one memory, at least one page, no maximum
    code.extend([0x05, 0x03, 0x01, 0x00, 0x01]);
    // export section: "memory" (memory 0), "call" (function 0), "query" (function 1)
    code.extend([0x07, 0x19, 0x03]);
    code.extend([0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00]);
    code.extend([0x04, b'c', b'a', b'l', b'l', 0x00, 0x00]);
    code.extend([0x05, b'q', b'u', b'e', b'r', b'y', 0x00, 0x01]);
    // code section: two bodies `i32.const answer; end` (answer < 64 keeps the LEB128 one byte)
    assert!(answer < 64);
    code.extend([0x0a, 0x0b, 0x02]);
    code.extend([0x04, 0x00, 0x41, answer, 0x0b]);
    code.extend([0x04, 0x00, 0x41, answer, 0x0b]);
    code
}

/// Contract steps on the shared driver (names prefixed: inherent methods are crate-wide).
impl TestChain {
    /// Alice (root) executes `call` in the open block.
    fn contracts_root(&mut self, call: PrivilegedCall) -> Receipt {
        self.apply(&key("alice"), Call::Root(RootCall::Dispatch(call)))
    }

    /// `signer` sends contracts call `call` in the open block.
    fn contracts_call(&mut self, signer: &Keypair, call: ContractsCall) -> Receipt {
        self.apply(signer, Call::Contracts(call))
    }

    /// `operator` registers worker `name`; returns its identity key.
    fn contracts_worker(&mut self, name: &str, operator: &Keypair) -> Keypair {
        let identity = worker_identity(name);
        let registration = self.registration(&identity, &operator.account());
        assert_eq!(self.register(operator, registration).error, None);
        identity
    }

    /// `from` signs `payload` on `topic` as `origin` with its next sequence; charlie (the
    /// gatekeeper's operator, whose balance no test counts) relays it.
    fn contracts_push(
        &mut self,
        origin: Origin,
        from: &Keypair,
        topic: &[u8],
        payload: Vec<u8>,
    ) -> Receipt {
        let sequence = message_queue::next_sequence(&self.state, &origin).expect("sequence");
        let signed = SignedMessage::new(
            origin,
            sequence,
            topic.to_vec(),
            payload,
            from,
            &self.ctx.genesis_hash,
        );
        self.apply(
            &key("charlie"),
            Call::MessageQueue(MessageQueueCall::Push(signed)),
        )
    }

    /// Gatekeeper `gk` publishes `contract`'s key of `epoch`.
    fn contracts_key(
        &mut self,
        gk: &Keypair,
        contract: [u8; 32],
        epoch: u32,
        public_key: [u8; 32],
    ) -> Receipt {
        let message = ContractKeyMessage {
            contract,
            epoch,
            public_key,
        };
        self.contracts_push(
            Origin::Gatekeeper(gk.account().0),
            gk,
            CONTRACT_KEY_TOPIC,
            message.encode(),
        )
    }

    /// Member `worker` reports `sealed_output` and `gas_used` for command `sequence`.
    fn contracts_report(
        &mut self,
        worker: &Keypair,
        contract: [u8; 32],
        sequence: u64,
        sealed_output: &[u8],
        gas_used: u64,
    ) -> Receipt {
        let report = ResultReport {
            contract,
            sequence,
            output_hash: output_hash(sealed_output),
            sealed_output: sealed_output.to_vec(),
            gas_used,
        };
        self.contracts_push(
            Origin::Worker(worker.account().0),
            worker,
            RESULT_TOPIC,
            report.encode(),
        )
    }

    /// Worker `worker` settles `amount` of `client`'s usage with `nonce`.
    fn contracts_usage(
        &mut self,
        worker: &Keypair,
        client: &Keypair,
        amount: Balance,
        nonce: u64,
    ) -> Receipt {
        let report = UsageReport {
            client: client.account(),
            amount,
            nonce,
        };
        self.contracts_push(
            Origin::Worker(worker.account().0),
            worker,
            USAGE_TOPIC,
            report.encode(),
        )
    }

    /// `caller` submits `sealed` to `contract` under epoch 0 with `gas_limit` at `gas_price`.
    fn contracts_submit(
        &mut self,
        caller: &Keypair,
        contract: [u8; 32],
        gas_limit: u64,
        gas_price: Balance,
    ) -> Receipt {
        self.contracts_call(
            caller,
            ContractsCall::SubmitCommand {
                contract,
                key_epoch: 0,
                sealed: b"sealed command".to_vec(),
                gas_limit,
                gas_price,
            },
        )
    }
}

fn account_of(chain: &TestChain, who: &AccountId) -> balances::AccountData {
    balances::account(&chain.state, who).expect("account")
}

fn free_of(chain: &TestChain, who: &Keypair) -> Balance {
    account_of(chain, &who.account()).free
}

fn reserved_of(chain: &TestChain, who: &Keypair) -> Balance {
    account_of(chain, &who.account()).reserved
}

fn issuance(chain: &TestChain) -> Balance {
    balances::total_issuance(&chain.state).expect("issuance")
}

fn contracts_code(error: ContractsError) -> phalanx_primitives::ErrorCode {
    code(error)
}

/// Asserts `receipt` pushed its message but the contracts module refused its effect.
fn assert_refused(receipt: &Receipt, error: ContractsError) {
    assert_eq!(receipt.error, None, "the push itself succeeds");
    let expected = contracts_code(error);
    let refused = receipt
        .events
        .iter()
        .any(|e| matches!(e, Event::ContractMessageRefused { error, .. } if *error == expected));
    assert!(refused, "expected {expected} in {:?}", receipt.events);
}

/// Whether `receipt` recorded `event`.
fn has(receipt: &Receipt, event: &Event) -> bool {
    receipt.events.contains(event)
}

/// A chain with one gatekeeper (operator charlie) holding published key epoch 0, cluster 0 of
/// three members (operators dave, eve, ferdie), code `wasm(1)` uploaded by alice and
/// instantiated by alice on cluster 0 with salt `s`, and the contract's epoch-0 key published.
struct World {
    chain: TestChain,
    gk: Keypair,
    members: Vec<Keypair>,
    operators: Vec<Keypair>,
    code: Hash,
    contract: [u8; 32],
}

const CONTRACT_PUBLIC_KEY: [u8; 32] = [7; 32];

fn world() -> World {
    let mut chain = TestChain::new();
    let gk = chain.contracts_worker("gk", &key("charlie"));
    assert_eq!(
        chain
            .contracts_root(PrivilegedCall::AppointGatekeeper(gk.account().0))
            .error,
        None
    );
    let master = KeyMessage::MasterKey {
        epoch: 0,
        public_key: [9; 32],
    };
    let published = chain.contracts_push(
        Origin::Gatekeeper(gk.account().0),
        &gk,
        KEY_TOPIC,
        master.encode(),
    );
    assert!(has(
        &published,
        &Event::MasterKeyPublished {
            epoch: 0,
            public_key: [9; 32],
            generator: gk.account().0
        }
    ));
    assert_eq!(
        chain.contracts_root(PrivilegedCall::CreateCluster).error,
        None
    );
    let operators: Vec<Keypair> = ["dave", "eve", "ferdie"].into_iter().map(key).collect();
    let mut members = Vec::new();
    for (i, operator) in operators.iter().enumerate() {
        let member = chain.contracts_worker(&format!("m{i}"), operator);
        let added = chain.contracts_root(PrivilegedCall::AddClusterWorker {
            cluster: 0,
            worker: member.account().0,
        });
        assert_eq!(added.error, None);
        members.push(member);
    }
    chain.end_block();
    let code = wasm(1);
    let uploaded = chain.contracts_call(
        &key("alice"),
        ContractsCall::UploadCode { code: code.clone() },
    );
    assert_eq!(uploaded.error, None);
    let code = code_hash(&code);
    let instantiated = chain.contracts_call(
        &key("alice"),
        ContractsCall::Instantiate {
            code_hash: code,
            cluster: 0,
            salt: b"s".to_vec(),
        },
    );
    assert_eq!(instantiated.error, None);
    let contract = contract_id(&key("alice").account(), &code, 0, b"s");
    let keyed = chain.contracts_key(&gk, contract, 0, CONTRACT_PUBLIC_KEY);
    assert!(has(
        &keyed,
        &Event::ContractKeyPublished {
            contract,
            epoch: 0,
            public_key: CONTRACT_PUBLIC_KEY
        }
    ));
    chain.end_block();
    World {
        chain,
        gk,
        members,
        operators,
        code,
        contract,
    }
}

// ---- code ----

#[test]
fn code_is_stored_once_by_hash_and_its_storage_is_paid_to_the_treasury() {
    let mut chain = TestChain::new();
    let before = issuance(&chain);
    let bob = key("bob");
    let code = wasm(2);
    let hash = code_hash(&code);
    let params = params(&chain.state).expect("params");
    let fee = params.code_byte_fee * code.len() as Balance;
    let treasury = account_of(&chain, &treasury::account()).free;
    let free = free_of(&chain, &bob);
    let receipt = chain.contracts_call(&bob, ContractsCall::UploadCode { code: code.clone() });
    assert_eq!(receipt.error, None);
    assert!(has(
        &receipt,
        &Event::CodeUploaded {
            code_hash: hash,
            uploader: bob.account(),
            size: code.len() as u32,
            fee
        }
    ));
    assert_eq!(free_of(&chain, &bob), free - receipt.fee - fee);
    assert_eq!(
        account_of(&chain, &treasury::account()).free,
        treasury + receipt.fee + fee,
        "the storage fee and the transaction fee both go to the treasury"
    );
    assert_eq!(stored_code(&chain.state, &hash), Some(code.clone()));
    assert_eq!(
        code_info(&chain.state, &hash).expect("read"),
        Some(CodeInfo {
            hash,
            size: code.len() as u32,
            uploader: bob.account(),
            fee,
            uploaded_at: chain.height(),
        })
    );
    // A second upload (by anyone) changes nothing and charges only the transaction fee.
    let dave = key("dave");
    let free = free_of(&chain, &dave);
    let again = chain.contracts_call(&dave, ContractsCall::UploadCode { code });
    assert_eq!(again.error, None);
    assert_eq!(again.events.len(), 1, "only the fee: {:?}", again.events);
    assert_eq!(free_of(&chain, &dave), free - again.fee);
    assert_eq!(
        code_info(&chain.state, &hash)
            .expect("read")
            .map(|c| c.uploader),
        Some(bob.account())
    );
    chain.end_block();
    assert_eq!(issuance(&chain), before);
}

#[test]
fn oversized_and_invalid_code_is_refused() {
    let mut chain = TestChain::new();
    let small = ContractsParams {
        max_code_bytes: crate::params::MIN_CONTRACT_CODE_BYTES,
        ..ContractsParams::default()
    };
    assert_eq!(
        chain
            .contracts_root(PrivilegedCall::SetContractsParams(small))
            .error,
        None
    );
    let big = vec![0u8; 1025];
    let receipt =
        chain.contracts_call(&key("bob"), ContractsCall::UploadCode { code: big.clone() });
    assert_eq!(
        receipt.error,
        Some(contracts_code(ContractsError::CodeTooLarge {
            size: 1025,
            max: 1024
        }))
    );
    assert_eq!(code_info(&chain.state, &code_hash(&big)), Ok(None));
    let garbage = b"not a wasm module".to_vec();
    let receipt = chain.contracts_call(
        &key("bob"),
        ContractsCall::UploadCode {
            code: garbage.clone(),
        },
    );
    assert_eq!(
        receipt.error,
        Some(contracts_code(ContractsError::InvalidCode(String::new())))
    );
    assert_eq!(code_info(&chain.state, &code_hash(&garbage)), Ok(None));
    // An uploader who can pay the transaction fee (PHA / 10 in tests) but not the storage.
    assert_eq!(
        chain
            .apply(&key("alice"), transfer_to("poor", PHA / 10 + 1_000))
            .error,
        None
    );
    let receipt = chain.contracts_call(
        &Keypair::dev("poor"),
        ContractsCall::UploadCode { code: wasm(3) },
    );
    assert_eq!(
        receipt.error.map(|e| e.to_string()),
        Some("balances.insufficient_free".to_string())
    );
    chain.end_block();
}

// ---- instances and keys ----

#[test]
fn instantiation_records_the_contract_and_refuses_unknown_code_clusters_and_duplicates() {
    let World {
        mut chain,
        code,
        contract,
        ..
    } = world();
    let alice = key("alice");
    let record = self::contract(&chain.state, &contract)
        .expect("read")
        .expect("instantiated");
    assert_eq!(
        record,
        Contract {
            id: contract,
            deployer: alice.account(),
            code_hash: code,
            cluster: 0,
            created_at: 2,
            commands: 0,
        }
    );
    let instantiate = |code_hash, cluster, salt: &[u8]| ContractsCall::Instantiate {
        code_hash,
        cluster,
        salt: salt.to_vec(),
    };
    let duplicate = chain.contracts_call(&alice, instantiate(code, 0, b"s"));
    assert_eq!(
        duplicate.error,
        Some(contracts_code(ContractsError::AlreadyInstantiated(
            String::new()
        )))
    );
    let unknown_code = chain.contracts_call(&alice, instantiate(Hash([1; 32]), 0, b"t"));
    assert_eq!(
        unknown_code.error,
        Some(contracts_code(ContractsError::UnknownCode(String::new())))
    );
    let unknown_cluster = chain.contracts_call(&alice, instantiate(code, 7, b"t"));
    assert_eq!(
        unknown_cluster.error,
        Some(contracts_code(ContractsError::UnknownCluster(7)))
    );
    let long_salt = chain.contracts_call(&alice, instantiate(code, 0, &[0; 65]));
    assert_eq!(
        long_salt.error,
        Some(contracts_code(ContractsError::SaltTooLong(65)))
    );
    // The same code, cluster and salt from another deployer is another contract.
    let bob = key("bob");
    let receipt = chain.contracts_call(&bob, instantiate(code, 0, b"s"));
    let id = contract_id(&bob.account(), &code, 0, b"s");
    assert_ne!(id, contract);
    assert!(has(
        &receipt,
        &Event::ContractInstantiated {
            contract: id,
            code_hash: code,
            cluster: 0,
            deployer: bob.account()
        }
    ));
    chain.end_block();
}

#[test]
fn contract_keys_first_publication_wins_repeats_are_no_ops_and_conflicts_are_refused() {
    let World {
        mut chain,
        gk,
        contract,
        ..
    } = world();
    let key_path = phalanx_primitives::contract::contract_public_key(&contract, 0);
    assert_eq!(
        chain.state.get(&key_path).map(|v| v.to_vec()),
        Some(CONTRACT_PUBLIC_KEY.to_vec()),
        "stored under the key clients prove"
    );
    let repeat = chain.contracts_key(&gk, contract, 0, CONTRACT_PUBLIC_KEY);
    assert_eq!(repeat.error, None);
    assert!(
        !repeat.events.iter().any(|e| matches!(
            e,
            Event::ContractKeyPublished { .. } | Event::ContractMessageRefused { .. }
        )),
        "an identical key is a no-op: {:?}",
        repeat.events
    );
    let conflicting = chain.contracts_key(&gk, contract, 0, [8; 32]);
    assert_refused(&conflicting, ContractsError::ConflictingKey);
    assert_eq!(
        contract_public(&chain.state, &contract, 0),
        Ok(Some(CONTRACT_PUBLIC_KEY))
    );
    let unknown = chain.contracts_key(&gk, [3; 32], 0, [8; 32]);
    assert_refused(&unknown, ContractsError::UnknownContract(String::new()));
    let not_live = chain.contracts_key(&gk, contract, 1, [8; 32]);
    assert_refused(&not_live, ContractsError::EpochNotLive(1));
    // A second gatekeeper that holds no share of epoch 0 cannot publish for it.
    let gk2 = chain.contracts_worker("gk2", &key("bob"));
    assert_eq!(
        chain
            .contracts_root(PrivilegedCall::AppointGatekeeper(gk2.account().0))
            .error,
        None
    );
    let stranger = chain.contracts_key(&gk2, contract, 0, CONTRACT_PUBLIC_KEY);
    assert_refused(&stranger, ContractsError::NotHolder(0));
    // A worker cannot speak for the gatekeepers: its message on the topic has no effect.
    let worker = worker_identity("m0");
    let from_worker = chain.contracts_push(
        Origin::Worker(worker.account().0),
        &worker,
        CONTRACT_KEY_TOPIC,
        ContractKeyMessage {
            contract,
            epoch: 0,
            public_key: [8; 32],
        }
        .encode(),
    );
    assert_eq!(from_worker.error, None);
    assert_eq!(from_worker.events.len(), 2, "fee and push only");
    chain.end_block();
}

// ---- commands ----

#[test]
fn a_command_reserves_its_gas_and_joins_the_queue_in_order() {
    let World {
        mut chain,
        contract,
        ..
    } = world();
    let bob = key("bob");
    let before = issuance(&chain);
    let free = free_of(&chain, &bob);
    let receipt = chain.contracts_submit(&bob, contract, 1_000_000, 2_000);
    assert_eq!(receipt.error, None);
    let reserved = 2_000_000_000;
    let deadline = chain.height() + ContractsParams::default().command_timeout_blocks;
    assert!(has(
        &receipt,
        &Event::CommandSubmitted {
            contract,
            sequence: 0,
            caller: bob.account(),
            reserved,
            deadline
        }
    ));
    assert_eq!(free_of(&chain, &bob), free - receipt.fee - reserved);
    assert_eq!(reserved_of(&chain, &bob), reserved);
    let second = chain.contracts_submit(&bob, contract, 10, 1_000);
    assert_eq!(second.error, None);
    let stored = command(&chain.state, &contract, 1)
        .expect("read")
        .expect("queued");
    assert_eq!(
        stored,
        Command {
            sequence: 1,
            caller: bob.account(),
            sealed: b"sealed command".to_vec(),
            gas_limit: 10,
            gas_price: 1_000,
            reserved: 10_000,
            key_epoch: 0,
            submitted_at: chain.height(),
            submitted_at_ms: chain.ctx.timestamp_ms,
            deadline,
            quorum: 2,
            status: CommandStatus::Pending,
        }
    );
    assert_eq!(
        self::contract(&chain.state, &contract)
            .expect("read")
            .map(|c| c.commands),
        Some(2)
    );
    chain.end_block();
    assert_eq!(issuance(&chain), before);
}

#[test]
fn commands_are_refused_with_a_code_for_each_rule() {
    let World {
        mut chain,
        gk,
        code,
        contract,
        ..
    } = world();
    let bob = key("bob");
    let submit = |contract, key_epoch, sealed: Vec<u8>, gas_limit, gas_price| {
        Call::Contracts(ContractsCall::SubmitCommand {
            contract,
            key_epoch,
            sealed,
            gas_limit,
            gas_price,
        })
    };
    let cases = [
        (
            submit(
                contract,
                0,
                vec![0; MAX_SEALED_COMMAND_BYTES + 1],
                10,
                1_000,
            ),
            ContractsError::CommandTooLarge(MAX_SEALED_COMMAND_BYTES + 1),
        ),
        (
            submit(contract, 0, vec![1], 0, 1_000),
            ContractsError::GasLimitOutOfRange {
                gas_limit: 0,
                max: 0,
            },
        ),
        (
            submit(contract, 0, vec![1], u64::MAX, 1_000),
            ContractsError::GasLimitOutOfRange {
                gas_limit: 0,
                max: 0,
            },
        ),
        (
            submit(contract, 0, vec![1], 10, 999),
            ContractsError::GasPriceTooLow { price: 0, min: 0 },
        ),
        (
            submit([5; 32], 0, vec![1], 10, 1_000),
            ContractsError::UnknownContract(String::new()),
        ),
        (
            submit(contract, 1, vec![1], 10, 1_000),
            ContractsError::StaleKeyEpoch { got: 1, current: 0 },
        ),
        (
            submit(contract, 0, vec![1], 10, Balance::MAX),
            ContractsError::GasCostOverflow,
        ),
    ];
    for (call, error) in cases {
        let receipt = chain.apply(&bob, call);
        assert_eq!(receipt.error, Some(contracts_code(error)));
    }
    // Not enough free PHA for the gas: the balances rule refuses.
    let all = free_of(&chain, &bob);
    let receipt = chain.contracts_submit(&bob, contract, 1_000_000, all / 1_000_000 + 1);
    assert_eq!(
        receipt.error.map(|e| e.to_string()),
        Some("balances.insufficient_free".to_string())
    );
    // A contract whose key is not published yet takes no commands.
    let alice = key("alice");
    chain.contracts_call(
        &alice,
        ContractsCall::Instantiate {
            code_hash: code,
            cluster: 0,
            salt: b"unkeyed".to_vec(),
        },
    );
    let unkeyed = contract_id(&alice.account(), &code, 0, b"unkeyed");
    let receipt = chain.contracts_submit(&bob, unkeyed, 10, 1_000);
    assert_eq!(
        receipt.error,
        Some(contracts_code(ContractsError::NoContractKey {
            contract: String::new(),
            epoch: 0
        }))
    );
    // A contract on a cluster without members takes no commands either.
    chain.contracts_root(PrivilegedCall::CreateCluster);
    chain.contracts_call(
        &alice,
        ContractsCall::Instantiate {
            code_hash: code,
            cluster: 1,
            salt: vec![],
        },
    );
    let lonely = contract_id(&alice.account(), &code, 1, b"");
    chain.contracts_key(&gk, lonely, 0, [4; 32]);
    let receipt = chain.contracts_submit(&bob, lonely, 10, 1_000);
    assert_eq!(
        receipt.error,
        Some(contracts_code(ContractsError::EmptyCluster(1)))
    );
    assert_eq!(reserved_of(&chain, &bob), 0, "nothing stayed reserved");
    assert_eq!(
        self::contract(&chain.state, &contract)
            .expect("read")
            .map(|c| c.commands),
        Some(0)
    );
    chain.end_block();
}

#[test]
fn a_rotation_makes_clients_seal_to_the_new_epoch() {
    let World {
        mut chain,
        gk,
        contract,
        ..
    } = world();
    let bob = key("bob");
    assert_eq!(chain.contracts_root(PrivilegedCall::RotateKeys).error, None);
    let master = KeyMessage::MasterKey {
        epoch: 1,
        public_key: [10; 32],
    };
    chain.contracts_push(
        Origin::Gatekeeper(gk.account().0),
        &gk,
        KEY_TOPIC,
        master.encode(),
    );
    let stale = chain.contracts_submit(&bob, contract, 10, 1_000);
    assert_eq!(
        stale.error,
        Some(contracts_code(ContractsError::StaleKeyEpoch {
            got: 0,
            current: 1
        }))
    );
    let call = |key_epoch| ContractsCall::SubmitCommand {
        contract,
        key_epoch,
        sealed: vec![1],
        gas_limit: 10,
        gas_price: 1_000,
    };
    let unpublished = chain.contracts_call(&bob, call(1));
    assert_eq!(
        unpublished.error,
        Some(contracts_code(ContractsError::NoContractKey {
            contract: String::new(),
            epoch: 1
        }))
    );
    chain.contracts_key(&gk, contract, 1, [11; 32]);
    assert_eq!(chain.contracts_call(&bob, call(1)).error, None);
    assert_eq!(
        command(&chain.state, &contract, 0)
            .expect("read")
            .map(|c| c.key_epoch),
        Some(1)
    );
    chain.end_block();
}

// ---- results ----

#[test]
fn a_majority_finalizes_the_result_pays_its_operators_and_refunds_the_rest() {
    let World {
        mut chain,
        members,
        operators,
        contract,
        ..
    } = world();
    let bob = key("bob");
    let before = issuance(&chain);
    assert_eq!(
        chain.contracts_submit(&bob, contract, 1_000, 3_001).error,
        None
    );
    let reserved = 3_001_000;
    chain.end_block();
    let free_bob = free_of(&chain, &bob);
    let operator_free: Vec<Balance> = operators.iter().map(|o| free_of(&chain, o)).collect();
    let output = b"sealed output for bob";
    // One report is not a majority of three.
    let first = chain.contracts_report(&members[0], contract, 0, output, 333);
    assert_eq!(first.error, None);
    assert!(!first
        .events
        .iter()
        .any(|e| matches!(e, Event::CommandFinalized { .. })));
    assert_eq!(
        command(&chain.state, &contract, 0)
            .expect("read")
            .map(|c| c.status),
        Some(CommandStatus::Pending)
    );
    let second = chain.contracts_report(&members[1], contract, 0, output, 333);
    // 333 gas × 3,001 = 999,333, split in two: 499,666 each, the odd unit back to bob.
    let paid = 999_332;
    let refunded = reserved - paid;
    assert!(has(
        &second,
        &Event::CommandFinalized {
            contract,
            sequence: 0,
            output_hash: output_hash(output),
            gas_used: 333,
            agreeing: 2,
            paid,
            refunded
        }
    ));
    assert_eq!(free_of(&chain, &operators[0]), operator_free[0] + 499_666);
    assert_eq!(free_of(&chain, &operators[1]), operator_free[1] + 499_666);
    assert_eq!(
        free_of(&chain, &operators[2]),
        operator_free[2],
        "not agreeing yet"
    );
    assert_eq!(free_of(&chain, &bob), free_bob + refunded);
    assert_eq!(reserved_of(&chain, &bob), 0);
    let stored = result(&chain.state, &contract, 0)
        .expect("read")
        .expect("final");
    assert_eq!(
        stored,
        CommandResult {
            output_hash: output_hash(output),
            gas_used: 333,
            sealed_output: output.to_vec(),
            final_at: chain.height(),
            agreeing: 2,
            paid,
            refunded,
        }
    );
    assert_eq!(
        chain
            .state
            .get(&phalanx_primitives::contract::result_key(&contract, 0))
            .map(|v| v.to_vec()),
        Some(stored.encode()),
        "readable under the key the caller proves"
    );
    chain.end_block();
    // The third member is late: agreeing earns nothing and is no evidence.
    let late = chain.contracts_report(&members[2], contract, 0, output, 333);
    assert_eq!(late.error, None);
    assert_eq!(late.events.len(), 2, "fee and push only: {:?}", late.events);
    assert_eq!(free_of(&chain, &operators[2]), operator_free[2]);
    assert_eq!(
        disagreement(&chain.state, &contract, 0, &members[2].account().0),
        Ok(None)
    );
    chain.end_block();
    assert_eq!(issuance(&chain), before);
}

#[test]
fn members_that_disagree_with_the_final_result_are_recorded_as_evidence() {
    let World {
        mut chain,
        members,
        operators,
        contract,
        ..
    } = world();
    let bob = key("bob");
    let before = issuance(&chain);
    chain.contracts_submit(&bob, contract, 100, 1_000);
    chain.contracts_submit(&bob, contract, 100, 1_000);
    chain.end_block();
    let wrong_operator = free_of(&chain, &operators[0]);
    // Command 0: the wrong member reports first; the majority then agrees without it.
    let wrong = chain.contracts_report(&members[0], contract, 0, b"wrong", 100);
    assert_eq!(wrong.error, None);
    chain.contracts_report(&members[1], contract, 0, b"right", 50);
    let finalizing = chain.contracts_report(&members[2], contract, 0, b"right", 50);
    let flagged = Event::ContractResultDisputed {
        contract,
        sequence: 0,
        worker: members[0].account().0,
        output_hash: output_hash(b"wrong"),
        gas_used: 100,
    };
    assert!(has(&finalizing, &flagged), "{:?}", finalizing.events);
    assert_eq!(
        disagreement(&chain.state, &contract, 0, &members[0].account().0),
        Ok(Some(MemberReport {
            output_hash: output_hash(b"wrong"),
            gas_used: 100,
            reported_at: chain.height(),
        }))
    );
    assert_eq!(free_of(&chain, &operators[0]), wrong_operator, "unpaid");
    // Same output, different gas: also a disagreement.
    chain.contracts_report(&members[0], contract, 1, b"out", 60);
    chain.contracts_report(&members[1], contract, 1, b"out", 60);
    let late = chain.contracts_report(&members[2], contract, 1, b"out", 61);
    assert!(has(
        &late,
        &Event::ContractResultDisputed {
            contract,
            sequence: 1,
            worker: members[2].account().0,
            output_hash: output_hash(b"out"),
            gas_used: 61,
        }
    ));
    chain.end_block();
    assert_eq!(issuance(&chain), before);
}

#[test]
fn bad_reports_are_refused_and_leave_the_command_pending() {
    let World {
        mut chain,
        members,
        contract,
        ..
    } = world();
    let bob = key("bob");
    chain.contracts_submit(&bob, contract, 100, 1_000);
    chain.end_block();
    // A registered worker outside the cluster.
    let outsider = chain.contracts_worker("outsider", &key("dave"));
    let receipt = chain.contracts_report(&outsider, contract, 0, b"out", 10);
    assert_refused(&receipt, ContractsError::NotMember(0));
    // A report whose hash is not the sealed output's.
    let forged = ResultReport {
        contract,
        sequence: 0,
        output_hash: Hash([1; 32]),
        sealed_output: b"out".to_vec(),
        gas_used: 10,
    };
    let m0 = &members[0];
    let receipt = chain.contracts_push(
        Origin::Worker(m0.account().0),
        m0,
        RESULT_TOPIC,
        forged.encode(),
    );
    assert_refused(&receipt, ContractsError::OutputHashMismatch);
    let receipt = chain.contracts_report(m0, contract, 0, b"out", 101);
    assert_refused(
        &receipt,
        ContractsError::GasOverLimit {
            gas_used: 0,
            gas_limit: 0,
        },
    );
    let receipt = chain.contracts_report(m0, contract, 9, b"out", 10);
    assert_refused(&receipt, ContractsError::UnknownCommand(9));
    let receipt = chain.contracts_report(m0, [6; 32], 0, b"out", 10);
    assert_refused(&receipt, ContractsError::UnknownContract(String::new()));
    let receipt = chain.contracts_push(
        Origin::Worker(m0.account().0),
        m0,
        RESULT_TOPIC,
        vec![1, 2, 3],
    );
    assert_refused(&receipt, ContractsError::MalformedMessage(String::new()));
    let huge = vec![0; MAX_SEALED_OUTPUT_BYTES + 1];
    let receipt = chain.contracts_report(m0, contract, 0, &huge, 10);
    assert_refused(&receipt, ContractsError::OutputTooLarge(huge.len()));
    // The first real report counts; a second one from the same member is refused.
    assert_eq!(
        chain.contracts_report(m0, contract, 0, b"out", 10).error,
        None
    );
    let again = chain.contracts_report(m0, contract, 0, b"out", 10);
    assert_refused(&again, ContractsError::AlreadyReported);
    // Relaying the very same signed message again is a replay the queue refuses.
    let origin = Origin::Worker(m0.account().0);
    let last = message_queue::next_sequence(&chain.state, &origin).expect("sequence") - 1;
    let replayed = message_queue::message(&chain.state, &origin, last)
        .expect("read")
        .expect("stored")
        .message;
    let receipt = chain.apply(&bob, Call::MessageQueue(MessageQueueCall::Push(replayed)));
    assert_eq!(
        receipt.error,
        Some(code(MessageQueueError::ReplayedSequence {
            got: last,
            expected: last + 1
        }))
    );
    // A second, *different* result for the same command is two results for one input: the
    // enclave is banned (it computes nowhere any more), and its report still counts once.
    let changed = chain.contracts_report(m0, contract, 0, b"other", 10);
    assert!(has(
        &changed,
        &Event::EnclaveBanned {
            identity: m0.account().0,
            reason: crate::mining::SlashReason::ConflictingResults,
        }
    ));
    assert!(crate::mining::ban(&chain.state, &m0.account().0)
        .expect("read")
        .is_some());
    // Nothing it signs is accepted any more.
    let third = chain.contracts_report(m0, contract, 0, b"third", 10);
    assert_eq!(
        third.error,
        Some(code(MessageQueueError::Banned(hex::encode(m0.account().0))))
    );
    assert_eq!(
        command(&chain.state, &contract, 0)
            .expect("read")
            .map(|c| c.status),
        Some(CommandStatus::Pending)
    );
    assert_eq!(reserved_of(&chain, &bob), 100_000);
    chain.end_block();
}

#[test]
fn a_command_without_a_final_result_is_refunded_in_full_at_its_deadline() {
    let World {
        mut chain,
        members,
        contract,
        ..
    } = world();
    let bob = key("bob");
    let before = issuance(&chain);
    let fast = ContractsParams {
        command_timeout_blocks: crate::params::MIN_COMMAND_TIMEOUT_BLOCKS,
        ..ContractsParams::default()
    };
    assert_eq!(
        chain
            .contracts_root(PrivilegedCall::SetContractsParams(fast))
            .error,
        None
    );
    let free = free_of(&chain, &bob);
    let receipt = chain.contracts_submit(&bob, contract, 100, 1_000);
    let deadline = chain.height() + 10;
    // Members split one against one: no majority.
    chain.contracts_report(&members[0], contract, 0, b"a", 10);
    chain.contracts_report(&members[1], contract, 0, b"b", 10);
    chain.run_until(deadline - 1);
    assert_eq!(reserved_of(&chain, &bob), 100_000, "still reserved");
    let events = chain.end_block();
    assert_eq!(
        events,
        vec![Event::CommandTimedOut {
            contract,
            sequence: 0,
            refunded: 100_000
        }]
    );
    assert_eq!(reserved_of(&chain, &bob), 0);
    assert_eq!(free_of(&chain, &bob), free - receipt.fee);
    assert_eq!(
        command(&chain.state, &contract, 0)
            .expect("read")
            .map(|c| c.status),
        Some(CommandStatus::TimedOut)
    );
    let late = chain.contracts_report(&members[2], contract, 0, b"a", 10);
    assert_refused(&late, ContractsError::CommandTimedOut(0));
    assert_eq!(result(&chain.state, &contract, 0), Ok(None));
    chain.end_block();
    assert_eq!(issuance(&chain), before);
}

#[test]
fn timeouts_are_refunded_at_most_sixty_four_a_block() {
    let World {
        mut chain,
        contract,
        ..
    } = world();
    let bob = key("bob");
    let fast = ContractsParams {
        command_timeout_blocks: crate::params::MIN_COMMAND_TIMEOUT_BLOCKS,
        ..ContractsParams::default()
    };
    chain.contracts_root(PrivilegedCall::SetContractsParams(fast));
    let count = EXPIRIES_PER_BLOCK as u64 + 3;
    for _ in 0..count {
        assert_eq!(
            chain.contracts_submit(&bob, contract, 10, 1_000).error,
            None
        );
    }
    let deadline = chain.height() + 10;
    chain.run_until(deadline - 1);
    let first = chain.end_block();
    assert_eq!(first.len(), EXPIRIES_PER_BLOCK);
    assert_eq!(reserved_of(&chain, &bob), 3 * 10_000);
    let second = chain.end_block();
    assert_eq!(second.len(), 3);
    assert_eq!(
        second.last(),
        Some(&Event::CommandTimedOut {
            contract,
            sequence: count - 1,
            refunded: 10_000
        })
    );
    assert_eq!(reserved_of(&chain, &bob), 0);
}

// ---- query deposits and usage ----

#[test]
fn deposits_are_reserved_and_withdrawals_wait_their_delay() {
    let mut chain = TestChain::new();
    let bob = key("bob");
    let before = issuance(&chain);
    let free = free_of(&chain, &bob);
    let deposit_receipt = chain.contracts_call(&bob, ContractsCall::Deposit { amount: 100 * PHA });
    assert!(has(
        &deposit_receipt,
        &Event::QueryDeposited {
            who: bob.account(),
            amount: 100 * PHA,
            available: 100 * PHA
        }
    ));
    assert_eq!(reserved_of(&chain, &bob), 100 * PHA);
    assert_eq!(
        chain
            .state
            .get(&phalanx_primitives::contract::deposit_key(&bob.account()))
            .map(|v| v.to_vec()),
        Some(
            QueryDeposit {
                available: 100 * PHA,
                withdrawing: 0,
                release_at: 0
            }
            .encode()
        ),
        "stored under the key an enclave proves"
    );
    let too_much = chain.contracts_call(&bob, ContractsCall::Withdraw { amount: 101 * PHA });
    assert_eq!(
        too_much.error,
        Some(contracts_code(ContractsError::InsufficientDeposit {
            available: 0,
            needed: 0
        }))
    );
    for call in [
        ContractsCall::Deposit { amount: 0 },
        ContractsCall::Withdraw { amount: 0 },
    ] {
        assert_eq!(
            chain.contracts_call(&bob, call).error,
            Some(contracts_code(ContractsError::ZeroAmount))
        );
    }
    let delay = ContractsParams::default().withdrawal_delay_blocks;
    let withdraw = chain.contracts_call(&bob, ContractsCall::Withdraw { amount: 40 * PHA });
    let release_at = chain.height() + delay;
    assert!(has(
        &withdraw,
        &Event::QueryWithdrawalStarted {
            who: bob.account(),
            amount: 40 * PHA,
            withdrawing: 40 * PHA,
            release_at
        }
    ));
    chain.run_until(release_at - 1);
    assert_eq!(reserved_of(&chain, &bob), 100 * PHA, "still held");
    let events = chain.end_block();
    assert_eq!(
        events,
        vec![Event::QueryWithdrawn {
            who: bob.account(),
            amount: 40 * PHA
        }]
    );
    assert_eq!(reserved_of(&chain, &bob), 60 * PHA);
    // Five transactions, each paying the same fee.
    let fees = 5 * deposit_receipt.fee;
    assert_eq!(free_of(&chain, &bob), free - fees - 60 * PHA);
    assert_eq!(
        deposit(&chain.state, &bob.account()),
        Ok(QueryDeposit {
            available: 60 * PHA,
            withdrawing: 0,
            release_at: 0
        })
    );
    // Without the free PHA, no deposit.
    let receipt = chain.contracts_call(&bob, ContractsCall::Deposit { amount: free });
    assert_eq!(
        receipt.error.map(|e| e.to_string()),
        Some("balances.insufficient_free".to_string())
    );
    chain.end_block();
    assert_eq!(issuance(&chain), before);
}

#[test]
fn usage_reports_pay_the_operator_from_the_deposit_once_per_nonce() {
    let World {
        mut chain,
        members,
        operators,
        ..
    } = world();
    let bob = key("bob");
    let before = issuance(&chain);
    chain.contracts_call(&bob, ContractsCall::Deposit { amount: 10 * PHA });
    let operator_free = free_of(&chain, &operators[0]);
    let receipt = chain.contracts_usage(&members[0], &bob, 3 * PHA, 1);
    assert!(has(
        &receipt,
        &Event::QueryUsageSettled {
            client: bob.account(),
            worker: members[0].account().0,
            operator: operators[0].account(),
            requested: 3 * PHA,
            charged: 3 * PHA,
            nonce: 1
        }
    ));
    assert_eq!(free_of(&chain, &operators[0]), operator_free + 3 * PHA);
    assert_eq!(reserved_of(&chain, &bob), 7 * PHA);
    assert_eq!(
        usage_nonce(&chain.state, &members[0].account().0, &bob.account()),
        Ok(Some(1))
    );
    // The same period again, or an older one, is a replay.
    let replay = chain.contracts_usage(&members[0], &bob, 3 * PHA, 1);
    assert_refused(&replay, ContractsError::ReplayedUsage { nonce: 1, last: 1 });
    let older = chain.contracts_usage(&members[0], &bob, PHA, 0);
    assert_refused(&older, ContractsError::ReplayedUsage { nonce: 0, last: 1 });
    // Nonces are per worker: another worker's first report settles.
    assert_eq!(chain.contracts_usage(&members[1], &bob, PHA, 1).error, None);
    // Never more than the deposit.
    let capped = chain.contracts_usage(&members[0], &bob, 100 * PHA, 2);
    assert!(has(
        &capped,
        &Event::QueryUsageSettled {
            client: bob.account(),
            worker: members[0].account().0,
            operator: operators[0].account(),
            requested: 100 * PHA,
            charged: 6 * PHA,
            nonce: 2
        }
    ));
    assert_eq!(reserved_of(&chain, &bob), 0);
    assert_eq!(
        deposit(&chain.state, &bob.account()),
        Ok(QueryDeposit::default())
    );
    // With nothing left, a report settles nothing (its nonce is still used).
    let empty = chain.contracts_usage(&members[0], &bob, PHA, 3);
    assert!(empty
        .events
        .iter()
        .any(|e| matches!(e, Event::QueryUsageSettled { charged: 0, .. })));
    chain.end_block();
    assert_eq!(issuance(&chain), before);
}

#[test]
fn a_withdrawal_cannot_race_the_usage_report_of_queries_already_served() {
    let World {
        mut chain,
        members,
        operators,
        ..
    } = world();
    let bob = key("bob");
    chain.contracts_call(&bob, ContractsCall::Deposit { amount: 10 * PHA });
    chain.end_block();
    // Bob was served 4 PHA of queries, then asks for everything back at once.
    let withdraw = chain.contracts_call(&bob, ContractsCall::Withdraw { amount: 10 * PHA });
    assert_eq!(withdraw.error, None);
    let release_at = chain.height() + ContractsParams::default().withdrawal_delay_blocks;
    chain.end_block();
    let operator_free = free_of(&chain, &operators[0]);
    let usage = chain.contracts_usage(&members[0], &bob, 4 * PHA, 1);
    assert!(usage
        .events
        .iter()
        .any(|e| matches!(e, Event::QueryUsageSettled { charged, .. } if *charged == 4 * PHA)));
    assert_eq!(free_of(&chain, &operators[0]), operator_free + 4 * PHA);
    assert_eq!(
        deposit(&chain.state, &bob.account()),
        Ok(QueryDeposit {
            available: 0,
            withdrawing: 6 * PHA,
            release_at
        })
    );
    chain.run_until(release_at - 1);
    let events = chain.end_block();
    assert_eq!(
        events,
        vec![Event::QueryWithdrawn {
            who: bob.account(),
            amount: 6 * PHA
        }]
    );
    assert_eq!(reserved_of(&chain, &bob), 0);
    assert_eq!(
        deposit(&chain.state, &bob.account()),
        Ok(QueryDeposit::default())
    );
}

#[test]
fn a_usage_report_that_empties_a_withdrawal_ends_it() {
    let World {
        mut chain, members, ..
    } = world();
    let bob = key("bob");
    chain.contracts_call(&bob, ContractsCall::Deposit { amount: 5 * PHA });
    chain.contracts_call(&bob, ContractsCall::Withdraw { amount: 2 * PHA });
    // 3 PHA available go first, then the 2 withdrawing: nothing is left to release.
    chain.contracts_usage(&members[0], &bob, 5 * PHA, 1);
    assert_eq!(
        deposit(&chain.state, &bob.account()),
        Ok(QueryDeposit::default())
    );
    chain.end_block();
    assert_eq!(chain.state.scan_prefix(RELEASE_PREFIX).count(), 0);
}

// ---- parameters ----

#[test]
fn contract_parameters_are_bounded() {
    let mut chain = TestChain::new();
    assert_eq!(
        crate::params::check_contracts(&ContractsParams::default()),
        Ok(())
    );
    let bad = ContractsParams {
        command_timeout_blocks: 1,
        ..ContractsParams::default()
    };
    let receipt = chain.contracts_root(PrivilegedCall::SetContractsParams(bad));
    assert_eq!(
        receipt.error.map(|e| e.to_string()),
        Some("params.contracts_command_timeout_out_of_bounds".to_string())
    );
    let bad = ContractsParams {
        code_byte_fee: 0,
        ..ContractsParams::default()
    };
    let receipt = chain.contracts_root(PrivilegedCall::SetContractsParams(bad));
    assert_eq!(
        receipt.error.map(|e| e.to_string()),
        Some("params.contracts_code_byte_fee_out_of_bounds".to_string())
    );
    let good = ContractsParams {
        withdrawal_delay_blocks: 10,
        ..ContractsParams::default()
    };
    let receipt = chain.contracts_root(PrivilegedCall::SetContractsParams(good.clone()));
    assert!(has(&receipt, &Event::ContractsParamsChanged));
    assert_eq!(params(&chain.state), Ok(good));
    chain.end_block();
}

#[test]
fn the_module_prefix_is_the_one_clients_build_keys_with() {
    assert_eq!(
        Contracts::STORAGE_PREFIX.as_bytes(),
        phalanx_primitives::contract::STORAGE_PREFIX
    );
}

#[test]
fn a_banned_members_reports_count_for_no_quorum_and_earn_nothing() {
    let World {
        mut chain,
        members,
        operators,
        contract,
        ..
    } = world();
    let bob = key("bob");
    for _ in 0..2 {
        assert_eq!(
            chain.contracts_submit(&bob, contract, 1_000, 1_000).error,
            None
        );
    }
    chain.end_block();
    let operator_free: Vec<Balance> = operators.iter().map(|o| free_of(&chain, o)).collect();
    let (m0, m1, m2) = (&members[0], &members[1], &members[2]);
    assert_eq!(
        chain.contracts_report(m0, contract, 0, b"out", 10).error,
        None
    );
    assert_eq!(
        chain.contracts_report(m0, contract, 1, b"next", 10).error,
        None
    );
    // m0 reports another result for command 0: banned, and out of the cluster.
    let conflict = chain.contracts_report(m0, contract, 0, b"other", 10);
    assert!(has(
        &conflict,
        &Event::EnclaveBanned {
            identity: m0.account().0,
            reason: crate::mining::SlashReason::ConflictingResults,
        }
    ));
    assert!(has(
        &conflict,
        &Event::ClusterWorkerRemoved {
            cluster: 0,
            worker: m0.account().0,
        }
    ));
    assert!(!crate::gatekeeper::is_member(
        &chain.state,
        0,
        &m0.account().0
    ));
    // Its earlier reports still sit in the tallies, but don't make a quorum with m1's.
    for sequence in [0, 1] {
        let output: &[u8] = if sequence == 0 { b"out" } else { b"next" };
        let receipt = chain.contracts_report(m1, contract, sequence, output, 10);
        assert_eq!(receipt.error, None);
        assert!(!receipt
            .events
            .iter()
            .any(|e| matches!(e, Event::CommandFinalized { .. })));
        assert_eq!(
            command(&chain.state, &contract, sequence)
                .expect("read")
                .map(|c| c.status),
            Some(CommandStatus::Pending)
        );
    }
    // m2 agrees with m1 on command 0: final with two members that are not banned, and only
    // their operators are paid.
    let last = chain.contracts_report(m2, contract, 0, b"out", 10);
    assert!(last.events.iter().any(|e| matches!(
        e,
        Event::CommandFinalized {
            sequence: 0,
            agreeing: 2,
            paid: 10_000,
            ..
        }
    )));
    assert_eq!(free_of(&chain, &operators[0]), operator_free[0]);
    assert_eq!(free_of(&chain, &operators[1]), operator_free[1] + 5_000);
    assert_eq!(free_of(&chain, &operators[2]), operator_free[2] + 5_000);
    // It can't come back into a cluster or be appointed a gatekeeper.
    assert_eq!(
        chain
            .contracts_root(PrivilegedCall::AddClusterWorker {
                cluster: 0,
                worker: m0.account().0,
            })
            .error,
        Some(code(crate::gatekeeper::GatekeeperError::Banned(
            String::new()
        )))
    );
    assert_eq!(
        chain
            .contracts_root(PrivilegedCall::AppointGatekeeper(m0.account().0))
            .error,
        Some(code(crate::gatekeeper::GatekeeperError::Banned(
            String::new()
        )))
    );
    chain.end_block();
}
