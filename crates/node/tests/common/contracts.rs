//! What the contracts RPC tests share (`#[path = "common/contracts.rs"] mod contracts;`, after
//! `common/gatekeeper.rs` as `history`): a tiny valid contract, and the messages the enclaves
//! would send, played here. The gatekeeper's contract key is derived from a known cluster
//! secret ([`CLUSTER_SECRET`]), so a test can open what is sealed to it, and members seal
//! results with the response key of the command they opened, as enclaves do.

#![allow(clippy::panic, dead_code)] // test helpers fail the test by panicking; not every test uses all

use super::history::{self, identity_of, worker_identity, GATEKEEPER, MEMBER_1, MEMBER_2};
use parity_scale_codec::Encode;
use phalanx_node::chain::Chain;
use phalanx_primitives::call::{Call, ContractsCall, MessageQueueCall, Origin, SignedMessage};
use phalanx_primitives::contract::{
    self as wire, CommandOutput, CommandPlaintext, ContractKeyMessage, ResultReport, SealedCommand,
    COMMAND_EXPIRY, CONTRACT_KEY_TOPIC, RESULT_TOPIC,
};
use phalanx_primitives::{AccountId, Hash, Keypair};

/// The cluster secret the test gatekeeper derives contract keys from (any 32 bytes do: the
/// chain cannot tell it from the published cluster key).
pub const CLUSTER_SECRET: [u8; 32] = [0x5e; 32];

/// The salt [`deploy`] instantiates with.
pub const SALT: &[u8] = b"vault";

/// A minimal contract (as `crates/runtime/src/contracts/tests.rs` builds one): exports
/// `memory` and the entry points `call` and `query`, both `() -> i32` returning `answer`.
pub fn wasm(answer: u8) -> Vec<u8> {
    assert!(answer < 64, "the LEB128 of the answer stays one byte");
    let mut code = b"\0asm\x01\0\0\0".to_vec();
    code.extend([0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f]);
    code.extend([0x03, 0x03, 0x02, 0x00, 0x00]);
    code.extend([0x05, 0x03, 0x01, 0x00, 0x01]);
    code.extend([0x07, 0x19, 0x03]);
    code.extend([0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00]);
    code.extend([0x04, b'c', b'a', b'l', b'l', 0x00, 0x00]);
    code.extend([0x05, b'q', b'u', b'e', b'r', b'y', 0x00, 0x01]);
    code.extend([0x0a, 0x0b, 0x02]);
    code.extend([0x04, 0x00, 0x41, answer, 0x0b]);
    code.extend([0x04, 0x00, 0x41, answer, 0x0b]);
    code
}

/// Contract `id`'s key pair as the test gatekeeper derives it.
pub fn contract_secret(id: &[u8; 32]) -> phalanx_keys::ContractKey {
    phalanx_keys::ClusterKey::from_bytes(&CLUSTER_SECRET).contract_key(id)
}

/// `payload` on `topic` signed by dev worker `name` as `origin`, with the next sequence of
/// that origin counting `pooled` messages of it already waiting.
fn push(
    chain: &Chain,
    origin: Origin,
    name: &str,
    pooled: u64,
    topic: &[u8],
    payload: Vec<u8>,
) -> Call {
    let sequence = phalanx_runtime::message_queue::next_sequence(&chain.head_state(), &origin)
        .expect("sequence")
        + pooled;
    Call::MessageQueue(MessageQueueCall::Push(SignedMessage::new(
        origin,
        sequence,
        topic.to_vec(),
        payload,
        &worker_identity(name),
        &chain.genesis_hash(),
    )))
}

/// The gatekeeper's message publishing `public_key` as contract `id`'s key of `epoch`.
pub fn key_message(chain: &Chain, id: [u8; 32], epoch: u32, public_key: [u8; 32]) -> Call {
    let message = ContractKeyMessage {
        contract: id,
        epoch,
        public_key,
    };
    push(
        chain,
        Origin::Gatekeeper(identity_of(GATEKEEPER)),
        GATEKEEPER,
        0,
        CONTRACT_KEY_TOPIC,
        message.encode(),
    )
}

/// Member `name`'s result report on command `sequence` of contract `id`.
pub fn report(
    chain: &Chain,
    name: &str,
    id: [u8; 32],
    sequence: u64,
    sealed_output: &[u8],
    gas_used: u64,
) -> Call {
    let report = ResultReport {
        contract: id,
        sequence,
        output_hash: wire::output_hash(sealed_output),
        sealed_output: sealed_output.to_vec(),
        gas_used,
    };
    push(
        chain,
        Origin::Worker(identity_of(name)),
        name,
        0,
        RESULT_TOPIC,
        report.encode(),
    )
}

/// `call` as a contracts call.
pub fn contracts(call: ContractsCall) -> Call {
    Call::Contracts(call)
}

/// What [`deploy`] made.
#[derive(Debug, Clone, Copy)]
pub struct Deployed {
    /// The code's hash.
    pub code_hash: Hash,
    /// The contract's id.
    pub id: [u8; 32],
    /// Its public key of epoch 0 (from [`contract_secret`]).
    pub public_key: [u8; 32],
    /// The heights of the upload, the instantiation and the key's publication.
    pub heights: [u64; 3],
}

/// After `history::gatekeeper_history` (epoch 0 current, cluster 0 holding `member-1` and
/// `member-2`): alice uploads [`wasm`]`(answer)`, instantiates it on cluster 0 with [`SALT`],
/// and the gatekeeper publishes the contract's key of epoch 0 (relayed by dave), each in its
/// own block.
pub fn deploy(chain: &Chain, produce: impl Fn(&Chain), answer: u8) -> Deployed {
    let code = wasm(answer);
    let code_hash = wire::code_hash(&code);
    history::send(
        chain,
        "alice",
        contracts(ContractsCall::UploadCode { code }),
    );
    produce(chain);
    let uploaded = chain.height();
    history::send(
        chain,
        "alice",
        contracts(ContractsCall::Instantiate {
            code_hash,
            cluster: 0,
            salt: SALT.to_vec(),
        }),
    );
    produce(chain);
    let instantiated = chain.height();
    let id = wire::contract_id(&Keypair::dev("alice").account(), &code_hash, 0, SALT);
    let public_key = contract_secret(&id).public();
    history::send(chain, "dave", key_message(chain, id, 0, public_key));
    produce(chain);
    Deployed {
        code_hash,
        id,
        public_key,
        heights: [uploaded, instantiated, chain.height()],
    }
}

/// Randomness that is the same on every run (the vectors pin sealed bytes): `fill_bytes` gives
/// `seed, seed + 1, …`.
pub struct FixedRng(pub u8);

impl rand_core::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for FixedRng {}

/// A command as the SDK seals it (`ContractKeyProof::seal_command`), but with fixed
/// randomness: the SCALE `SealedCommand` and the response key.
pub fn sealed_command(
    id: [u8; 32],
    public_key: &[u8; 32],
    caller: AccountId,
    input: &[u8],
    seed: u8,
) -> (Vec<u8>, phalanx_keys::ResponseKey) {
    let nonce = [seed; 16];
    let context = phalanx_keys::RequestContext {
        target: id,
        nonce,
        expires_at_ms: COMMAND_EXPIRY,
    };
    let plaintext = CommandPlaintext {
        caller,
        input: input.to_vec(),
    }
    .encode();
    let (envelope, key) =
        phalanx_keys::seal_request(public_key, &context, &plaintext, &mut FixedRng(seed))
            .expect("seals");
    (
        SealedCommand {
            nonce,
            envelope: envelope.to_bytes(),
        }
        .encode(),
        key,
    )
}

/// What an enclave does with a command of contract `id`: opens `sealed` with the contract's
/// secret, and returns the caller and input it holds with the key to seal the result under.
pub fn open_command(id: &[u8; 32], sealed: &[u8]) -> (CommandPlaintext, phalanx_keys::ResponseKey) {
    let command: SealedCommand =
        phalanx_primitives::decode_strict(sealed, 1 << 15).expect("a sealed command");
    let context = phalanx_keys::RequestContext {
        target: *id,
        nonce: command.nonce,
        expires_at_ms: COMMAND_EXPIRY,
    };
    let envelope = phalanx_keys::Envelope::from_bytes(&command.envelope).expect("an envelope");
    let (plaintext, key) =
        phalanx_keys::open_request(&contract_secret(id).secret_bytes(), &context, &envelope)
            .expect("opens with the contract's secret");
    let plaintext: CommandPlaintext =
        phalanx_primitives::decode_strict(&plaintext, 1 << 15).expect("a command plaintext");
    (plaintext, key)
}

/// `output` sealed under `key` as a member would (the same bytes for every member: the
/// randomness is fixed here, as it is derived from the command in an enclave).
pub fn seal_output(key: &phalanx_keys::ResponseKey, output: &CommandOutput) -> Vec<u8> {
    phalanx_keys::seal_response(key, &output.encode(), &mut FixedRng(0x77)).expect("seals")
}

/// Both members of cluster 0 report `sealed_output` and `gas_used` on command `sequence`
/// (relayed by dave) in one block: the result is final.
pub fn finalize(
    chain: &Chain,
    produce: impl Fn(&Chain),
    id: [u8; 32],
    sequence: u64,
    sealed_output: &[u8],
    gas_used: u64,
) {
    for name in [MEMBER_1, MEMBER_2] {
        history::send(
            chain,
            "dave",
            report(chain, name, id, sequence, sealed_output, gas_used),
        );
    }
    produce(chain);
}

/// Asserts that no contract message of blocks `from..=to` was refused.
pub fn assert_no_refusal(chain: &Chain, from: u64, to: u64) {
    for height in from..=to {
        let stored = chain.block(height).expect("read").expect("stored");
        for receipt in &stored.outcome.receipts {
            assert_eq!(receipt.error, None, "block {height}: a call failed");
            let refused = receipt.events.iter().find(|event| {
                matches!(event, phalanx_runtime::Event::ContractMessageRefused { .. })
            });
            assert_eq!(
                refused, None,
                "block {height}: a contract message was refused"
            );
        }
    }
}
