//! Confidential contracts on chain (DESIGN.md §10): the records the chain stores and clients
//! read back, the payloads enclaves send through the message queue, the parameters governance
//! sets, and the storage keys clients and enclaves prove. The calls are
//! [`ContractsCall`](crate::call::ContractsCall); the rules are the runtime's `contracts` module;
//! the whole protocol is `docs/contracts.md`.
//!
//! Message-queue payloads (SCALE, decoded strictly):
//! - [`CONTRACT_KEY_TOPIC`], from an appointed gatekeeper ([`Origin::Gatekeeper`]): one
//!   [`ContractKeyMessage`], a contract's public key of a key epoch;
//! - [`RESULT_TOPIC`], from a registered worker ([`Origin::Worker`]): one [`ResultReport`],
//!   the outcome of one command;
//! - [`USAGE_TOPIC`], from a registered worker: one [`UsageReport`], query usage to settle.
//!
//! Chain-visible: every enum here only grows at the end; every struct's fields keep their order.
//!
//! [`Origin::Gatekeeper`]: crate::call::Origin::Gatekeeper
//! [`Origin::Worker`]: crate::call::Origin::Worker

use crate::hash::Hash;
use crate::units::{Balance, PHA};
use crate::AccountId;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Message-queue topic of a [`ContractKeyMessage`].
pub const CONTRACT_KEY_TOPIC: &[u8] = b"contracts/key";
/// Message-queue topic of a [`ResultReport`].
pub const RESULT_TOPIC: &[u8] = b"contracts/result";
/// Message-queue topic of a [`UsageReport`].
pub const USAGE_TOPIC: &[u8] = b"contracts/usage";

/// Longest instantiation salt, in bytes.
pub const MAX_SALT_BYTES: usize = 64;
/// Largest sealed command (an HPKE envelope of the command's input), in bytes.
pub const MAX_SEALED_COMMAND_BYTES: usize = 16 * 1024;
/// Largest sealed output in a [`ResultReport`], in bytes: what fits a message-queue payload
/// (16 KiB) beside the report's other fields.
pub const MAX_SEALED_OUTPUT_BYTES: usize = 16 * 1024 - 128;

/// Domain tag of a contract id.
pub const CONTRACT_ID_DOMAIN: &[u8] = b"phalanx/contract/v1";

/// The id of the contract `deployer` instantiates from `code_hash` on cluster `cluster` with
/// `salt`: `sha256("phalanx/contract/v1" ‖ deployer ‖ code_hash ‖ cluster u32 BE ‖ salt)`.
/// Every part but the salt has a fixed size and the salt is last, so no two inputs share an id.
/// Deterministic, so a deployer knows the id before the transaction is included.
pub fn contract_id(deployer: &AccountId, code_hash: &Hash, cluster: u32, salt: &[u8]) -> [u8; 32] {
    Hash::of_parts(&[
        CONTRACT_ID_DOMAIN,
        deployer.as_bytes(),
        code_hash.as_bytes(),
        &cluster.to_be_bytes(),
        salt,
    ])
    .0
}

/// The hash uploaded code is stored under: `sha256(code)`.
pub fn code_hash(code: &[u8]) -> Hash {
    Hash::of(code)
}

/// The hash a [`ResultReport`] must carry as `output_hash`: `sha256(sealed_output)`. It commits
/// to the sealed bytes (never to the plaintext, whose hash would leak a guessable output), so
/// members agree on it only if they sealed byte-identical outputs, and the chain can check it.
pub fn output_hash(sealed_output: &[u8]) -> Hash {
    Hash::of(sealed_output)
}

/// Contract rules, chain state changed by governance (`SetContractsParams`); absent from state
/// means [`ContractsParams::default`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ContractsParams {
    /// Largest code accepted by `UploadCode`, in bytes (the transaction must also fit the chain's
    /// `max_tx_bytes`).
    pub max_code_bytes: u32,
    /// Units per byte of uploaded code, paid by the uploader to the treasury (once per code).
    pub code_byte_fee: Balance,
    /// Least gas price a command may offer, in units per unit of gas (wasm fuel).
    pub min_gas_price: Balance,
    /// Most gas a command may ask for.
    pub max_gas_limit: u64,
    /// Blocks a command waits for a final result; then its whole reservation is refunded.
    pub command_timeout_blocks: u64,
    /// Blocks between a query-deposit withdrawal request and the PHA becoming free; usage
    /// reports can still charge it meanwhile.
    pub withdrawal_delay_blocks: u64,
}

impl Default for ContractsParams {
    fn default() -> Self {
        ContractsParams {
            // Fits a default transaction (64 KiB) with room for its envelope; more needs both
            // limits raised by governance.
            max_code_bytes: 60 * 1024,
            // 64 KiB of code costs about 6.5 PHA.
            code_byte_fee: PHA / 10_000,
            // A million units of fuel cost at least 0.001 PHA.
            min_gas_price: 1_000,
            max_gas_limit: 10_000_000_000,
            // Five minutes of 500 ms blocks.
            command_timeout_blocks: 600,
            // Ten minutes of 500 ms blocks.
            withdrawal_delay_blocks: 1_200,
        }
    }
}

/// Uploaded code's record (the code itself is stored beside it, under [`code_key`]).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CodeInfo {
    /// `sha256(code)`.
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u32,
    /// Who uploaded it first (and paid its storage).
    pub uploader: AccountId,
    /// Units the uploader paid to the treasury for its storage.
    pub fee: Balance,
    /// Height of the upload.
    pub uploaded_at: u64,
}

/// An instantiated contract.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Contract {
    /// Its id ([`contract_id`]).
    #[serde(with = "crate::serde_hex")]
    pub id: [u8; 32],
    /// Who instantiated it.
    pub deployer: AccountId,
    /// The code it runs.
    pub code_hash: Hash,
    /// The index of the cluster whose workers run it.
    pub cluster: u32,
    /// Height of its instantiation.
    pub created_at: u64,
    /// How many commands were ever submitted: the next command's sequence number.
    pub commands: u64,
}

/// Where a command stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    /// Waiting for a majority of the cluster to agree on its result.
    Pending,
    /// A result is final ([`CommandResult`]); the gas is paid and the rest refunded.
    Final,
    /// No result was final by its deadline; its whole reservation was refunded.
    TimedOut,
}

/// A command in a contract's inbound queue. Every member executes the queue in sequence order,
/// reading each entry with a state proof.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Command {
    /// Its position in the contract's queue (0, 1, …).
    pub sequence: u64,
    /// Who sent it (and whose PHA is reserved for its gas).
    pub caller: AccountId,
    /// The command, HPKE-sealed to the contract's key of `key_epoch`.
    #[serde(with = "crate::serde_hex::bytes")]
    pub sealed: Vec<u8>,
    /// Most gas it may use.
    pub gas_limit: u64,
    /// Units per unit of gas.
    pub gas_price: Balance,
    /// `gas_limit × gas_price`, reserved from the caller at submission.
    pub reserved: Balance,
    /// The key epoch whose contract key it is sealed to.
    pub key_epoch: u32,
    /// Height of its submission.
    pub submitted_at: u64,
    /// Time of its submission: the timestamp (ms since the Unix epoch) of the block that
    /// queued it, the clock the contract sees (`block_time_ms`) when members run it.
    pub submitted_at_ms: u64,
    /// Last height at which a result can become final; after it the reservation is refunded.
    pub deadline: u64,
    /// How many members must report the same result: a strict majority of the cluster's
    /// members at submission.
    pub quorum: u32,
    /// Where it stands.
    pub status: CommandStatus,
}

/// A command's final result: what a quorum of members agreed on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct CommandResult {
    /// `sha256(sealed_output)`.
    pub output_hash: Hash,
    /// The gas the members agree the command used.
    pub gas_used: u64,
    /// The output, sealed so that only the caller can open it.
    #[serde(with = "crate::serde_hex::bytes")]
    pub sealed_output: Vec<u8>,
    /// Height at which it became final.
    pub final_at: u64,
    /// How many members had agreed when it became final (they share the payment).
    pub agreeing: u32,
    /// Units paid to the agreeing members' operators.
    pub paid: Balance,
    /// Units refunded to the caller.
    pub refunded: Balance,
}

/// What one member reported about one command (kept to refuse a second report, and as
/// evidence when it disagrees with the final result).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct MemberReport {
    /// The reported `sha256(sealed_output)`.
    pub output_hash: Hash,
    /// The reported gas.
    pub gas_used: u64,
    /// Height of the block that accepted the report.
    pub reported_at: u64,
}

/// An account's query deposit: reserved PHA that usage reports charge (DESIGN.md §10).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct QueryDeposit {
    /// Units available for queries: what an enclave checks before serving one.
    pub available: Balance,
    /// Units asked back and not yet released; usage reports still charge them.
    pub withdrawing: Balance,
    /// Height at whose end `withdrawing` becomes free (0 when nothing is withdrawing).
    pub release_at: u64,
}

/// A contract's public key of a key epoch (payload of a [`CONTRACT_KEY_TOPIC`] message from a
/// gatekeeper holding the epoch). Derived master → cluster → contract (`phalanx-keys` tree), so
/// every holder sends the same bytes; the first one is stored, an identical one is a no-op and
/// a different one is refused as conflicting.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ContractKeyMessage {
    /// The contract.
    #[serde(with = "crate::serde_hex")]
    pub contract: [u8; 32],
    /// The key epoch.
    pub epoch: u32,
    /// The contract's X25519 public key in that epoch.
    #[serde(with = "crate::serde_hex")]
    pub public_key: [u8; 32],
}

/// A member's result of one command (payload of a [`RESULT_TOPIC`] message from a worker of
/// the contract's cluster).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct ResultReport {
    /// The contract.
    #[serde(with = "crate::serde_hex")]
    pub contract: [u8; 32],
    /// The command's sequence number.
    pub sequence: u64,
    /// `sha256(sealed_output)` ([`output_hash`]).
    pub output_hash: Hash,
    /// The output, sealed for the caller (at most [`MAX_SEALED_OUTPUT_BYTES`]). Members must
    /// seal deterministically (a key exported from the command's HPKE context), so honest
    /// members send identical bytes.
    #[serde(with = "crate::serde_hex::bytes")]
    pub sealed_output: Vec<u8>,
    /// Gas used (at most the command's limit).
    pub gas_used: u64,
}

/// Query usage a worker settles (payload of a [`USAGE_TOPIC`] message from a registered
/// worker): `amount` units move from `client`'s query deposit to the worker's operator.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct UsageReport {
    /// Whose deposit pays.
    pub client: AccountId,
    /// Units the enclave metered.
    pub amount: Balance,
    /// Strictly increasing per (worker, client), e.g. the metering period: a report with a
    /// nonce at or below the last settled one is refused as replayed.
    pub nonce: u64,
}

// ---- storage keys (defined here because clients and enclaves prove them; the runtime calls
// the same functions) ----

/// The runtime module's storage prefix.
pub const STORAGE_PREFIX: &[u8] = b"contracts/";

/// `contracts/code/` ‖ code hash → the raw code bytes (not SCALE-encoded, so `sha256(value)` is
/// the hash).
pub fn code_key(hash: &Hash) -> Vec<u8> {
    [&b"contracts/code/"[..], hash.as_bytes()].concat()
}

/// `contracts/code_info/` ‖ code hash → [`CodeInfo`].
pub fn code_info_key(hash: &Hash) -> Vec<u8> {
    [&b"contracts/code_info/"[..], hash.as_bytes()].concat()
}

/// The prefix of every [`contract_key`].
pub const CONTRACT_PREFIX: &[u8] = b"contracts/contract/";

/// `contracts/contract/` ‖ id → [`Contract`].
pub fn contract_key(id: &[u8; 32]) -> Vec<u8> {
    [CONTRACT_PREFIX, id].concat()
}

/// `contracts/key/` ‖ id ‖ `/` ‖ epoch u32 BE → the contract's 32-byte public key in `epoch`.
pub fn contract_public_key(id: &[u8; 32], epoch: u32) -> Vec<u8> {
    [&b"contracts/key/"[..], id, b"/", &epoch.to_be_bytes()].concat()
}

/// `contracts/command/` ‖ id ‖ `/` ‖ sequence u64 BE → [`Command`].
pub fn command_key(id: &[u8; 32], sequence: u64) -> Vec<u8> {
    [
        &b"contracts/command/"[..],
        id,
        b"/",
        &sequence.to_be_bytes(),
    ]
    .concat()
}

/// `contracts/result/` ‖ id ‖ `/` ‖ sequence u64 BE → [`CommandResult`].
pub fn result_key(id: &[u8; 32], sequence: u64) -> Vec<u8> {
    [&b"contracts/result/"[..], id, b"/", &sequence.to_be_bytes()].concat()
}

/// `contracts/report/` ‖ id ‖ `/` ‖ sequence u64 BE ‖ `/` ‖ worker → [`MemberReport`].
pub fn report_key(id: &[u8; 32], sequence: u64, worker: &[u8; 32]) -> Vec<u8> {
    [
        &b"contracts/report/"[..],
        id,
        b"/",
        &sequence.to_be_bytes(),
        b"/",
        worker,
    ]
    .concat()
}

/// `contracts/disagreement/` ‖ id ‖ `/` ‖ sequence u64 BE ‖ `/` ‖ worker → the
/// [`MemberReport`] of a member whose report differs from the final result (evidence).
pub fn disagreement_key(id: &[u8; 32], sequence: u64, worker: &[u8; 32]) -> Vec<u8> {
    [
        &b"contracts/disagreement/"[..],
        id,
        b"/",
        &sequence.to_be_bytes(),
        b"/",
        worker,
    ]
    .concat()
}

/// `contracts/deposit/` ‖ account → [`QueryDeposit`] (an enclave proves it before serving a
/// query).
pub fn deposit_key(who: &AccountId) -> Vec<u8> {
    [&b"contracts/deposit/"[..], who.as_bytes()].concat()
}

/// `contracts/usage/` ‖ worker ‖ `/` ‖ client → u64, the last settled [`UsageReport::nonce`].
pub fn usage_nonce_key(worker: &[u8; 32], client: &AccountId) -> Vec<u8> {
    [&b"contracts/usage/"[..], worker, b"/", client.as_bytes()].concat()
}

/// `contracts/params` → [`ContractsParams`].
pub fn params_key() -> Vec<u8> {
    b"contracts/params".to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_code_of_the_largest_size_fits_a_default_transaction() {
        let code = ContractsParams::default().max_code_bytes;
        let tx = crate::call::ChainParams::default().max_tx_bytes;
        // Room for the envelope: sender, nonce, fee, signature, call tag and length prefix.
        assert!(
            code + 1024 <= tx,
            "{code} bytes of code in a {tx}-byte transaction"
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_payloads_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = crate::decode_strict::<ResultReport>(&bytes, 1 << 14);
            let _ = crate::decode_strict::<UsageReport>(&bytes, 1 << 14);
            let _ = crate::decode_strict::<ContractKeyMessage>(&bytes, 1 << 14);
        }
    }

    #[test]
    fn contract_ids_are_pinned_and_bind_every_part() {
        let deployer = AccountId([1; 32]);
        let code = Hash([2; 32]);
        let id = contract_id(&deployer, &code, 3, b"salt");
        assert_eq!(
            hex::encode(id),
            hex::encode(
                Hash::of(
                    &[
                        &b"phalanx/contract/v1"[..],
                        &[1; 32],
                        &[2; 32],
                        &[0, 0, 0, 3],
                        b"salt"
                    ]
                    .concat()
                )
                .0
            )
        );
        assert_ne!(id, contract_id(&AccountId([9; 32]), &code, 3, b"salt"));
        assert_ne!(id, contract_id(&deployer, &Hash([9; 32]), 3, b"salt"));
        assert_ne!(id, contract_id(&deployer, &code, 4, b"salt"));
        assert_ne!(id, contract_id(&deployer, &code, 3, b"salt2"));
    }

    #[test]
    fn golden_contract_id() {
        // Pinned: a change of the derivation is a visible diff.
        assert_eq!(
            hex::encode(contract_id(&AccountId([0; 32]), &Hash::ZERO, 0, b"")),
            "6232cd61d39396e2c03797531005d09058bb3e1a47ea0b4b2679b59d70b7c980"
        );
    }

    #[test]
    fn storage_keys_are_pinned() {
        let id = [0xaa; 32];
        assert_eq!(
            command_key(&id, 258),
            [
                &b"contracts/command/"[..],
                &[0xaa; 32],
                b"/",
                &[0, 0, 0, 0, 0, 0, 1, 2]
            ]
            .concat()
        );
        assert_eq!(
            contract_public_key(&id, 1),
            [&b"contracts/key/"[..], &[0xaa; 32], b"/", &[0, 0, 0, 1]].concat()
        );
        assert_eq!(
            deposit_key(&AccountId([7; 32])),
            [&b"contracts/deposit/"[..], &[7; 32]].concat()
        );
        for key in [
            code_key(&Hash::ZERO),
            code_info_key(&Hash::ZERO),
            contract_key(&id),
            result_key(&id, 0),
            report_key(&id, 0, &[1; 32]),
            disagreement_key(&id, 0, &[1; 32]),
            usage_nonce_key(&[1; 32], &AccountId([2; 32])),
            params_key(),
        ] {
            assert!(key.starts_with(STORAGE_PREFIX));
        }
    }

    #[test]
    fn payloads_have_one_encoding_and_round_trip() {
        let report = ResultReport {
            contract: [1; 32],
            sequence: 2,
            output_hash: output_hash(&[3; 4]),
            sealed_output: vec![3; 4],
            gas_used: 5,
        };
        let bytes = report.encode();
        // contract, sequence u64 LE, hash, compact length 4 (0x10), bytes, gas u64 LE
        assert_eq!(bytes[32..40], 2u64.to_le_bytes());
        assert_eq!(bytes[72], 0x10);
        assert_eq!(bytes[77..], 5u64.to_le_bytes());
        assert_eq!(
            crate::decode_strict::<ResultReport>(&bytes, 1 << 16).ok(),
            Some(report.clone())
        );
        let json = serde_json::to_string(&report).expect("serializes");
        assert_eq!(
            serde_json::from_str::<ResultReport>(&json).ok(),
            Some(report)
        );
        let usage = UsageReport {
            client: AccountId([4; 32]),
            amount: 6,
            nonce: 7,
        };
        assert_eq!(
            usage.encode(),
            [&[4u8; 32][..], &6u128.to_le_bytes(), &7u64.to_le_bytes()].concat()
        );
        let key = ContractKeyMessage {
            contract: [8; 32],
            epoch: 9,
            public_key: [10; 32],
        };
        assert_eq!(
            key.encode(),
            [&[8u8; 32][..], &9u32.to_le_bytes(), &[10; 32]].concat()
        );
        assert_eq!(
            CommandStatus::TimedOut.encode(),
            vec![2],
            "statuses keep their codes"
        );
    }
}

// ---- what a command carries end to end (sealed by the client, opened in the enclave) ----

/// The `sealed` bytes of a `SubmitCommand`: SCALE of this. The client seals a
/// [`CommandPlaintext`] with HPKE (`phalanx-keys`, docs/hpke.md) to the contract's public key
/// of the command's key epoch, with the request context `target` = contract id, `nonce` = this
/// nonce and `expires_at_ms` = [`COMMAND_EXPIRY`] (commands are ordered by the chain, which
/// gives them their time; their context binds no deadline).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SealedCommand {
    /// Random per command (part of the HPKE context).
    pub nonce: [u8; 16],
    /// The HPKE envelope: `enc ‖ ciphertext` (`phalanx_keys::Envelope::to_bytes`).
    pub envelope: Vec<u8>,
}

/// The `expires_at_ms` of every command's HPKE context: none (see [`SealedCommand`]).
pub const COMMAND_EXPIRY: u64 = u64::MAX;

/// What a command's envelope holds. `caller` must be the account that submits the command: an
/// enclave refuses a command whose plaintext names another caller, so nobody can replay someone
/// else's sealed command as their own.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct CommandPlaintext {
    /// The submitting account.
    pub caller: AccountId,
    /// The contract's input.
    pub input: Vec<u8>,
}

/// What the caller reads once it opens a result's `sealed_output` with the response key
/// exported from its command's HPKE context (`phalanx_keys::open_response`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub enum CommandOutput {
    /// The contract ran to its end: its status (0 = done, anything else = it refused the
    /// request; its writes were dropped then) and output.
    Ran {
        /// The status the contract returned.
        status: i32,
        /// Its output.
        #[serde(with = "crate::serde_hex::bytes")]
        output: Vec<u8>,
    },
    /// The command could not run; nothing changed. `code` is a stable reason
    /// (`out_of_fuel`, `trap`, `not_opened`, `wrong_caller`, …) and `message` says more.
    Failed {
        /// Stable reason.
        code: String,
        /// Human-readable detail.
        message: String,
    },
}

// ---- what a query carries end to end (POSTed to a worker, opened in its enclave) ----

/// Longest a query may stay valid: a worker refuses one whose `expires_at_ms` is further than
/// this past its chain time (so the nonces it remembers against replays stay bounded).
pub const MAX_QUERY_VALIDITY_MS: u64 = 10 * 60 * 1000;
/// Largest query request body, in bytes.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// Domain tag of a query's caller signature.
pub const QUERY_SIGNATURE_DOMAIN: &[u8] = b"phalanx/query/v2";

/// The body of `POST /query` on a worker's endpoint: SCALE of this. The client seals a
/// [`QueryPlaintext`] with HPKE to the **cluster's** public key of `key_epoch`, with the
/// request context `{target: contract, nonce, expires_at_ms}`. The contract, cluster and epoch
/// travel in the clear (the worker routes by them); everything else is sealed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SealedQuery {
    /// The contract asked.
    pub contract: [u8; 32],
    /// The key epoch of the cluster key it is sealed to.
    pub key_epoch: u32,
    /// Random per query (part of the HPKE context; a repeat is refused).
    pub nonce: [u8; 16],
    /// Chain time (ms) from which the query is refused (part of the HPKE context).
    pub expires_at_ms: u64,
    /// The HPKE envelope: `enc ‖ ciphertext`.
    pub envelope: Vec<u8>,
}

/// What a query's envelope holds: the caller, its input, and the caller's ed25519 signature
/// over [`query_signing_bytes`], so the contract sees an authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryPlaintext {
    /// The asking account (its public key).
    pub caller: AccountId,
    /// The contract's input.
    pub input: Vec<u8>,
    /// `caller`'s signature over [`query_signing_bytes`].
    pub signature: [u8; 64],
}

/// What a query's caller signs: `"phalanx/query/v2" ‖ contract ‖ worker ‖ nonce ‖ expires_at_ms
/// u64 BE ‖ sha256(input)`. Naming the worker (its enclave identity) means a captured query
/// can't be replayed at another member, which would charge the caller again.
pub fn query_signing_bytes(
    contract: &[u8; 32],
    worker: &[u8; 32],
    nonce: &[u8; 16],
    expires_at_ms: u64,
    input: &[u8],
) -> Vec<u8> {
    [
        QUERY_SIGNATURE_DOMAIN,
        contract,
        worker,
        nonce,
        &expires_at_ms.to_be_bytes(),
        Hash::of(input).as_bytes(),
    ]
    .concat()
}

/// What the client reads once it opens a query's answer (the response body, sealed with the
/// key exported from the query's HPKE context): the contract's output (or why it could not
/// run), the fuel the query used, and how far this worker had run the contract's commands
/// (`as_of`: the next command sequence it runs), so a client can tell a stale answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QueryAnswer {
    /// The outcome.
    pub output: CommandOutput,
    /// Fuel used.
    pub fuel_used: u64,
    /// The next command sequence this worker runs: its state includes every command before.
    pub as_of: u64,
}
