//! Confidential contracts inside the enclave: the member role of a contract's cluster (DESIGN.md
//! §10; the chain's rules are the runtime's `contracts` module, the wire types
//! `phalanx_primitives::contract`).
//!
//! # Protocol
//! The host proves, against the enclave's verified head, a contract's record, this enclave's
//! membership of the contract's cluster, the code, and the commands of the contract's inbound
//! queue from the one this enclave runs next. [`step`] then runs them **in sequence order**,
//! each exactly once:
//! 1. The command is opened with the contract's key of the command's key epoch (derived cluster
//!    key → contract key; the cluster key came from a gatekeeper, see [`super::gatekeeper`]),
//!    with the HPKE context `{contract id, the command's nonce, COMMAND_EXPIRY}`.
//! 2. Its plaintext must name the account that submitted it (`CommandPlaintext::caller`), so a
//!    sealed command copied by someone else runs as nothing.
//! 3. The code runs under the executor with the command's gas limit as fuel, the caller, the
//!    queueing block's height and timestamp, and randomness derived from the contract key and
//!    the sequence: every member computes the same thing.
//! 4. A successful run (status 0) applies its writes to the contract's state, which is part of
//!    the enclave's sealed state (never on disk in the clear).
//! 5. The output is sealed to the caller with the response key exported from the command's
//!    HPKE context and a nonce derived from that key, so every honest member seals identical
//!    bytes, and reported as a `ResultReport` (output hash = sha256 of the sealed bytes).
//!
//! A command that can't be opened (sealed to another key, tampered) is reported with an empty
//! sealed output and no gas: nothing ran, and nobody can read why except by that fact.
//!
//! # Invariants
//! - Each command runs once: `next` only moves forward, with the state change and the report
//!   sealed together in one transition (the outbox's commit protocol).
//! - A host that withholds or reorders entries only delays: a command runs only when every
//!   command before it ran, and only from a proven entry.
//! - Nothing here reads the host's clock or randomness.

use std::collections::{BTreeMap, HashMap};

use parity_scale_codec::{Decode, Encode};
use phalanx_contract::{
    Env, Executor, Host, HttpError, HttpRequest, HttpResponse, Mode, StorageError,
};
use phalanx_keys::{open_request, seal_response, ClusterKey, Envelope, RequestContext};
use phalanx_primitives::contract::{
    self as wire, CommandOutput, CommandPlaintext, ResultReport, SealedCommand, COMMAND_EXPIRY,
    MAX_SEALED_COMMAND_BYTES, MAX_SEALED_OUTPUT_BYTES,
};
use phalanx_primitives::{decode_strict, Hash};
use phalanx_runtime::gatekeeper as keys_chain;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

use super::gatekeeper::{KeyError, KeyState, View};

/// Most bytes of keys and values one contract's state may hold (it is sealed with the rest of
/// the enclave's state).
pub const MAX_CONTRACT_STATE_BYTES: usize = 256 * 1024;
/// Most commands one step runs.
pub const MAX_COMMANDS_PER_STEP: usize = 32;
/// Most compiled contracts kept in memory (not sealed: recompiled from proven code).
const MAX_COMPILED: usize = 16;
/// Largest proven command record decoded (its sealed bytes plus the fixed fields).
const MAX_COMMAND_RECORD_BYTES: usize = MAX_SEALED_COMMAND_BYTES + 1024;
/// Most fuel one command burns, whatever its gas limit (about a second of a release build):
/// a command can't hold a cluster for longer. Every member caps alike, so results agree.
pub const MAX_COMMAND_FUEL: u64 = 2_000_000_000;
/// Most fuel one step burns before it stops and lets the host do other work (a batching
/// bound only: it changes no result).
const MAX_STEP_FUEL: u64 = 4_000_000_000;

/// The contracts this enclave runs, sealed with the rest of its state.
#[derive(Clone, Default, Encode, Decode)]
pub struct ContractsState {
    contracts: BTreeMap<[u8; 32], ContractState>,
}

/// One contract's progress and private state.
#[derive(Clone, Default, Encode, Decode)]
struct ContractState {
    /// The sequence of the next command to run.
    next: u64,
    /// Its storage.
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Its cluster (from its proven record).
    cluster: u32,
    /// Its code's hash (from its proven record): code handed in for a query must match it.
    code_hash: Hash,
}

impl Drop for ContractState {
    fn drop(&mut self) {
        for value in self.storage.values_mut() {
            value.zeroize();
        }
    }
}

impl std::fmt::Debug for ContractsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractsState")
            .field("contracts", &self.progress())
            .finish_non_exhaustive()
    }
}

impl ContractsState {
    /// Each contract this enclave ran commands of, with the next sequence it runs (public
    /// facts: the chain shows the same once the reports land).
    pub fn progress(&self) -> Vec<([u8; 32], u64)> {
        self.contracts.iter().map(|(id, c)| (*id, c.next)).collect()
    }

    /// The next command sequence of `contract` this enclave runs.
    pub fn next(&self, contract: &[u8; 32]) -> u64 {
        self.contracts.get(contract).map_or(0, |c| c.next)
    }

    /// What a query of `contract` reads, if this enclave runs it.
    pub(crate) fn for_query(&self, contract: &[u8; 32]) -> Option<ForQuery<'_>> {
        self.contracts.get(contract).map(|c| ForQuery {
            cluster: c.cluster,
            code_hash: c.code_hash,
            storage: &c.storage,
            next: c.next,
        })
    }
}

/// A contract as a query reads it.
pub(crate) struct ForQuery<'a> {
    /// Its cluster.
    pub cluster: u32,
    /// Its code's hash.
    pub code_hash: Hash,
    /// Its committed storage.
    pub storage: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    /// The next command it runs (the answer's `as_of`).
    pub next: u64,
}

/// TEST HOOK: a contract's storage, to check that two members reached the same state.
#[cfg(any(test, feature = "testing"))]
impl ContractsState {
    /// `contract`'s storage (empty if unknown).
    pub fn testing_storage(&self, contract: &[u8; 32]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        self.contracts
            .get(contract)
            .map(|c| c.storage.clone())
            .unwrap_or_default()
    }
}

/// What one step did (public facts only).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ContractStepOutcome {
    /// Result reports to send as this worker, in order.
    pub reports: Vec<ResultReport>,
    /// (contract, sequence, what the host may know: `ran`, `not_opened` or `wrong_caller`; the
    /// contract's status stays sealed for the caller).
    pub ran: Vec<([u8; 32], u64, String)>,
}

/// Compiled code, by code hash (memory only).
#[derive(Default)]
pub(crate) struct Compiled {
    executor: Executor,
    modules: HashMap<Hash, phalanx_contract::Contract>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("modules", &self.modules.len())
            .finish_non_exhaustive()
    }
}

impl Compiled {
    fn get(&mut self, hash: &Hash, code: &[u8]) -> Result<phalanx_contract::Contract, String> {
        if let Some(module) = self.modules.get(hash) {
            return Ok(module.clone());
        }
        let module = self.executor.compile(code).map_err(|e| e.to_string())?;
        if self.modules.len() >= MAX_COMPILED {
            self.modules.clear();
        }
        self.modules.insert(*hash, module.clone());
        Ok(module)
    }
}

/// Runs the commands the `view` proves (see the module docs), at most `room` of them (the
/// outbox's free slots). `state` is updated in place, and on error left unchanged.
pub(crate) fn step(
    state: &mut ContractsState,
    keys: &KeyState,
    me: &[u8; 32],
    view: &View,
    compiled: &mut Compiled,
    room: usize,
) -> Result<ContractStepOutcome, KeyError> {
    let mut next = state.clone();
    let mut out = ContractStepOutcome::default();
    let limit = room.min(MAX_COMMANDS_PER_STEP);
    let mut burnt = 0u64;
    let contracts: Vec<wire::Contract> = view.records_under(wire::CONTRACT_PREFIX)?;
    for contract in contracts {
        if !view.proven_present(&keys_chain::cluster_member_key(contract.cluster, me)) {
            continue;
        }
        let Some(Some(code)) = view.get(&wire::code_key(&contract.code_hash)) else {
            continue;
        };
        let entry = next.contracts.entry(contract.id).or_default();
        entry.cluster = contract.cluster;
        entry.code_hash = contract.code_hash;
        while out.reports.len() < limit && entry.next < contract.commands && burnt < MAX_STEP_FUEL {
            let sequence = entry.next;
            let Some(Some(bytes)) = view.get(&wire::command_key(&contract.id, sequence)) else {
                break;
            };
            let command: wire::Command =
                decode_strict(bytes, MAX_COMMAND_RECORD_BYTES).map_err(|e| {
                    KeyError::Undecodable {
                        key: hex::encode(wire::command_key(&contract.id, sequence)),
                        reason: e.to_string(),
                    }
                })?;
            let Some(cluster_secret) = keys.cluster_secret(contract.cluster, command.key_epoch)
            else {
                break; // the key of its epoch hasn't reached this enclave yet
            };
            let key = ClusterKey::from_bytes(&cluster_secret).contract_key(&contract.id);
            let (report, ran) = run_command(
                &contract,
                &command,
                &key.secret_bytes(),
                code,
                &mut entry.storage,
                compiled,
            );
            burnt = burnt.saturating_add(report.gas_used);
            out.reports.push(report);
            out.ran.push((contract.id, sequence, ran));
            entry.next += 1;
        }
        // Kept even before its first command: a query of a new contract reads its empty
        // state rather than being told this worker does not run it.
    }
    *state = next;
    Ok(out)
}

/// Runs one command; returns its report and a short public word for the log.
fn run_command(
    contract: &wire::Contract,
    command: &wire::Command,
    contract_secret: &[u8; 32],
    code: &[u8],
    storage: &mut BTreeMap<Vec<u8>, Vec<u8>>,
    compiled: &mut Compiled,
) -> (ResultReport, String) {
    let report = |sealed_output: Vec<u8>, gas_used: u64| ResultReport {
        contract: contract.id,
        sequence: command.sequence,
        output_hash: wire::output_hash(&sealed_output),
        sealed_output,
        gas_used,
    };
    // 1. Open it; without that there is no key to answer with.
    let Some((plaintext, response_key)) = open_command(contract, command, contract_secret) else {
        return (report(Vec::new(), 0), "not_opened".into());
    };
    let seal = |output: CommandOutput| -> Vec<u8> {
        let mut bytes = output.encode();
        if bytes.len() + 64 > MAX_SEALED_OUTPUT_BYTES {
            bytes = CommandOutput::Failed {
                code: "output_too_large".into(),
                message: format!(
                    "the output is {} bytes; a result holds at most {MAX_SEALED_OUTPUT_BYTES}",
                    bytes.len()
                ),
            }
            .encode();
        }
        // The nonce is bound to this queue position as well as the key: a copy of the same
        // sealed command queued elsewhere (same envelope, same response key) gets another
        // nonce, so no two outputs are ever sealed under one key and nonce.
        let seed = Hash::of_parts(&[
            b"phalanx/contract/output-nonce/v2",
            response_key.as_bytes(),
            &contract.id,
            &command.sequence.to_be_bytes(),
        ]);
        seal_response(&response_key, &bytes, &mut DerivedRng::new(seed.0)).unwrap_or_default()
    };
    // 2. The caller it names must be the one who submitted it.
    let plaintext = match decode_strict::<CommandPlaintext>(&plaintext, MAX_SEALED_COMMAND_BYTES) {
        Ok(p) if p.caller == command.caller => p,
        // A copy of someone else's command: nothing is sealed with their key for the copier
        // (not even a known refusal), nothing runs.
        Ok(_) => return (report(Vec::new(), 0), "wrong_caller".into()),
        Err(e) => {
            let failed = failed("malformed", &format!("the command does not decode: {e}"));
            return (report(seal(failed), 0), "malformed".into());
        }
    };
    // 3. Run it.
    let module = match compiled.get(&contract.code_hash, code) {
        Ok(module) => module,
        Err(e) => {
            let failed = failed("code_refused", &e);
            return (report(seal(failed), 0), "code_refused".into());
        }
    };
    let env = Env {
        caller: command.caller.0,
        height: command.submitted_at,
        time_ms: command.submitted_at_ms,
        random_seed: Hash::of_parts(&[
            b"phalanx/contract/command-seed/v1",
            contract_secret,
            &command.sequence.to_be_bytes(),
        ])
        .0,
        mode: Mode::Command,
    };
    let fuel = command.gas_limit.min(MAX_COMMAND_FUEL);
    let mut host = StateHost { storage };
    match compiled
        .executor
        .run(&module, &env, &plaintext.input, fuel, &mut host)
    {
        Ok(outcome) => {
            // 4. Apply the writes of a successful run, within the state's bound.
            if outcome.status == 0 {
                let mut updated = storage.clone();
                for (key, value) in outcome.writes {
                    match value {
                        Some(value) => updated.insert(key, value),
                        None => updated.remove(&key),
                    };
                }
                let size: usize = updated.iter().map(|(k, v)| k.len() + v.len()).sum();
                if size > MAX_CONTRACT_STATE_BYTES {
                    let failed = failed(
                        "state_full",
                        &format!(
                            "the contract's state would be {size} bytes, over the {MAX_CONTRACT_STATE_BYTES}-byte limit"
                        ),
                    );
                    return (report(seal(failed), fuel), "ran".into());
                }
                *storage = updated;
            }
            // Whether the contract accepted is the caller's to know: the host hears "ran".
            let word = "ran".to_string();
            let ran = CommandOutput::Ran {
                status: outcome.status,
                output: outcome.output,
            };
            (report(seal(ran), outcome.fuel_used), word)
        }
        Err(e) => {
            let failed = failed(e.code(), &e.to_string());
            (report(seal(failed), fuel), "ran".into())
        }
    }
}

pub(crate) fn failed(code: &str, message: &str) -> CommandOutput {
    CommandOutput::Failed {
        code: code.into(),
        message: message.into(),
    }
}

/// Opens a command's envelope with the contract's key; `None` if it doesn't decode or open.
fn open_command(
    contract: &wire::Contract,
    command: &wire::Command,
    contract_secret: &[u8; 32],
) -> Option<(zeroize::Zeroizing<Vec<u8>>, phalanx_keys::ResponseKey)> {
    let sealed: SealedCommand = decode_strict(&command.sealed, MAX_SEALED_COMMAND_BYTES).ok()?;
    let envelope = Envelope::from_bytes(&sealed.envelope).ok()?;
    let context = RequestContext {
        target: contract.id,
        nonce: sealed.nonce,
        expires_at_ms: COMMAND_EXPIRY,
    };
    open_request(contract_secret, &context, &envelope).ok()
}

/// The executor's view of a contract's storage (read only: writes come back in the outcome).
struct StateHost<'a> {
    storage: &'a BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Host for StateHost<'_> {
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.storage.get(key).cloned())
    }

    fn http(&mut self, _request: &HttpRequest) -> Result<HttpResponse, HttpError> {
        // Commands never reach the network (the executor refuses it first).
        Err(HttpError::Failed)
    }
}

/// A deterministic byte stream (SHA-256 of seed ‖ block counter) where a seal needs a nonce
/// every member must draw alike. Used only with a seed unique to one sealing.
pub(crate) struct DerivedRng {
    seed: [u8; 32],
    counter: u64,
    buffer: [u8; 32],
    used: usize,
}

impl DerivedRng {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        DerivedRng {
            seed,
            counter: 0,
            buffer: [0; 32],
            used: 32,
        }
    }
}

impl RngCore for DerivedRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == 32 {
                self.buffer = Hash::of_parts(&[&self.seed, &self.counter.to_be_bytes()]).0;
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.buffer[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for DerivedRng {}

impl Drop for DerivedRng {
    fn drop(&mut self) {
        self.seed.zeroize();
        self.buffer.zeroize();
    }
}

/// The storage keys one contract's step needs from the chain: its record, this enclave's
/// membership of its cluster, its code and commands `from..to` (the host caps the range).
pub fn contract_keys(contract: &wire::Contract, me: &[u8; 32], from: u64, to: u64) -> Vec<Vec<u8>> {
    let mut keys = vec![
        wire::contract_key(&contract.id),
        keys_chain::cluster_member_key(contract.cluster, me),
        wire::code_key(&contract.code_hash),
    ];
    keys.extend((from..to).map(|sequence| wire::command_key(&contract.id, sequence)));
    keys
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use phalanx_keys::{open_response, seal_request, ResponseKey};
    use phalanx_primitives::contract::{Command, CommandStatus};
    use phalanx_primitives::AccountId;

    const CLUSTER_SECRET: [u8; 32] = [9; 32];
    const ID: [u8; 32] = [5; 32];
    const ME: [u8; 32] = [1; 32];
    const CALLER: AccountId = AccountId([3; 32]);

    /// Stores its input under itself, outputs it, and returns 0; `loop` as input never ends (in
    /// a command or a query); a query of `http` ‖ an encoded request makes that request and
    /// outputs the encoded response (or returns the negated `HTTP_*` error).
    fn echo_store() -> Vec<u8> {
        wat::parse_str(
            r#"(module
                (import "phalanx" "input_len" (func $input_len (result i32)))
                (import "phalanx" "input_read" (func $input_read (param i32)))
                (import "phalanx" "output" (func $output (param i32 i32)))
                (import "phalanx" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
                (import "phalanx" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
                (import "phalanx" "http_request" (func $http_request (param i32 i32) (result i32)))
                (import "phalanx" "http_response_read" (func $http_response_read (param i32)))
                (memory (export "memory") 1)
                (func (export "call") (result i32)
                    (call $input_read (i32.const 0))
                    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x706f6f6c))
                        (then (loop (br 0))))
                    (call $storage_set (i32.const 0) (call $input_len) (i32.const 0) (call $input_len))
                    (call $output (i32.const 0) (call $input_len))
                    i32.const 0)
                (func (export "query") (result i32) (local $n i32)
                    (call $input_read (i32.const 0))
                    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x706f6f6c))
                        (then (loop (br 0))))
                    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x70747468))
                        (then
                            (local.set $n (call $http_request (i32.const 4)
                                (i32.sub (call $input_len) (i32.const 4))))
                            (if (i32.lt_s (local.get $n) (i32.const 0))
                                (then (return (i32.sub (i32.const 0) (local.get $n)))))
                            (call $http_response_read (i32.const 4096))
                            (call $output (i32.const 4096) (local.get $n))
                            (return (i32.const 0))))
                    (local.set $n (call $storage_get (i32.const 0) (call $input_len) (i32.const 1024) (i32.const 1024)))
                    (if (i32.lt_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
                    (call $output (i32.const 1024) (local.get $n))
                    i32.const 0))"#,
        )
        .unwrap()
    }

    struct Chain {
        view: View,
        contract: wire::Contract,
    }

    impl Chain {
        fn new(members: &[[u8; 32]]) -> Chain {
            let code = echo_store();
            let contract = wire::Contract {
                id: ID,
                deployer: CALLER,
                code_hash: wire::code_hash(&code),
                cluster: 0,
                created_at: 1,
                commands: 0,
            };
            let mut view = View::default();
            for member in members {
                view.insert_proven(keys_chain::cluster_member_key(0, member), Some(vec![]));
            }
            view.insert_proven(wire::code_key(&contract.code_hash), Some(code));
            let mut chain = Chain { view, contract };
            chain.publish();
            chain
        }

        fn publish(&mut self) {
            self.view
                .insert_proven(wire::contract_key(&ID), Some(self.contract.encode()));
        }

        /// Queues `input` from `caller` naming `named` inside; returns the caller's response
        /// key. `tamper` flips a ciphertext byte.
        fn submit(
            &mut self,
            caller: AccountId,
            named: AccountId,
            input: &[u8],
            tamper: bool,
        ) -> ResponseKey {
            let public = ClusterKey::from_bytes(&CLUSTER_SECRET)
                .contract_key(&ID)
                .public();
            let nonce = [self.contract.commands as u8; 16];
            let context = RequestContext {
                target: ID,
                nonce,
                expires_at_ms: COMMAND_EXPIRY,
            };
            let plaintext = CommandPlaintext {
                caller: named,
                input: input.to_vec(),
            };
            let (envelope, key) = seal_request(
                &public,
                &context,
                &plaintext.encode(),
                &mut rand_core::OsRng,
            )
            .unwrap();
            let mut envelope = envelope.to_bytes();
            if tamper {
                let last = envelope.len() - 1;
                envelope[last] ^= 1;
            }
            let sequence = self.contract.commands;
            let command = Command {
                sequence,
                caller,
                sealed: SealedCommand { nonce, envelope }.encode(),
                gas_limit: 1_000_000,
                gas_price: 1,
                reserved: 1_000_000,
                key_epoch: 0,
                submitted_at: 10 + sequence,
                submitted_at_ms: 1_700_000_000_000,
                deadline: 1_000,
                quorum: 2,
                status: CommandStatus::Pending,
            };
            self.view
                .insert_proven(wire::command_key(&ID, sequence), Some(command.encode()));
            self.contract.commands += 1;
            self.publish();
            key
        }
    }

    fn member_keys() -> KeyState {
        let mut keys = KeyState::default();
        keys.testing_insert_cluster_key(0, 0, CLUSTER_SECRET);
        keys
    }

    fn run(
        state: &mut ContractsState,
        keys: &KeyState,
        me: &[u8; 32],
        view: &View,
    ) -> ContractStepOutcome {
        step(state, keys, me, view, &mut Compiled::default(), 256).unwrap()
    }

    fn opened(key: &ResponseKey, report: &ResultReport) -> CommandOutput {
        let bytes = open_response(key, &report.sealed_output).unwrap();
        decode_strict(&bytes, MAX_SEALED_OUTPUT_BYTES).unwrap()
    }

    #[test]
    fn two_members_reach_the_same_state_and_report_the_same_bytes_only_the_caller_opens() {
        let other = [2u8; 32];
        let mut chain = Chain::new(&[ME, other]);
        let key = chain.submit(CALLER, CALLER, b"hello", false);
        let keys = member_keys();
        let (mut a, mut b) = (ContractsState::default(), ContractsState::default());
        let first = run(&mut a, &keys, &ME, &chain.view);
        let second = run(&mut b, &keys, &other, &chain.view);
        assert_eq!(first.reports.len(), 1);
        assert_eq!(
            first.reports, second.reports,
            "identical reports from both members"
        );
        let report = &first.reports[0];
        assert_eq!(report.output_hash, wire::output_hash(&report.sealed_output));
        assert!(report.gas_used > 0);
        assert_eq!(
            opened(&key, report),
            CommandOutput::Ran {
                status: 0,
                output: b"hello".to_vec()
            }
        );
        assert_eq!(a.testing_storage(&ID), b.testing_storage(&ID));
        assert_eq!(
            a.testing_storage(&ID).get(&b"hello"[..]),
            Some(&b"hello".to_vec())
        );
        // The sealed output hides the output: another response key can't open it.
        let stranger = ResponseKey::from_bytes(&[7; 32]);
        assert!(open_response(&stranger, &report.sealed_output).is_err());
        assert!(!report.sealed_output.windows(5).any(|w| w == b"hello"));
        assert_eq!(a.progress(), vec![(ID, 1)]);
    }

    #[test]
    fn commands_run_in_order_once_and_a_withheld_one_only_delays() {
        let mut chain = Chain::new(&[ME]);
        let k0 = chain.submit(CALLER, CALLER, b"a", false);
        let k1 = chain.submit(CALLER, CALLER, b"b", false);
        let _k2 = chain.submit(CALLER, CALLER, b"c", false);
        let keys = member_keys();
        let mut state = ContractsState::default();
        // The host withholds command 1: 0 runs, 2 waits.
        let mut partial = Chain::new(&[ME]);
        partial.contract = chain.contract.clone();
        partial.publish();
        for sequence in [0u64, 2] {
            let key = wire::command_key(&ID, sequence);
            let value = chain.view.get(&key).unwrap().map(<[u8]>::to_vec);
            partial.view.insert_proven(key, value);
        }
        let out = run(&mut state, &keys, &ME, &partial.view);
        assert_eq!(out.ran.iter().map(|r| r.1).collect::<Vec<_>>(), vec![0]);
        assert_eq!(
            opened(&k0, &out.reports[0]),
            CommandOutput::Ran {
                status: 0,
                output: b"a".to_vec()
            }
        );
        let out = run(&mut state, &keys, &ME, &chain.view);
        assert_eq!(out.ran.iter().map(|r| r.1).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            opened(&k1, &out.reports[0]),
            CommandOutput::Ran {
                status: 0,
                output: b"b".to_vec()
            }
        );
        // Replayed entries run nothing again.
        let again = run(&mut state, &keys, &ME, &chain.view);
        assert!(again.reports.is_empty());
        assert_eq!(state.next(&ID), 3);
    }

    /// Queues a copy of command `of`'s sealed bytes as a new command from `caller`.
    fn copy(chain: &mut Chain, of: u64, caller: AccountId) {
        let bytes = chain
            .view
            .get(&wire::command_key(&ID, of))
            .unwrap()
            .unwrap();
        let mut command: Command = decode_strict(bytes, MAX_COMMAND_RECORD_BYTES).unwrap();
        command.sequence = chain.contract.commands;
        command.caller = caller;
        chain.view.insert_proven(
            wire::command_key(&ID, command.sequence),
            Some(command.encode()),
        );
        chain.contract.commands += 1;
        chain.publish();
    }

    #[test]
    fn a_copied_or_repeated_command_never_reuses_a_nonce_and_gives_a_copier_nothing() {
        let mut chain = Chain::new(&[ME]);
        let key = chain.submit(CALLER, CALLER, b"secret output", false);
        copy(&mut chain, 0, CALLER); // bob sends the same bytes again
        copy(&mut chain, 0, AccountId([4; 32])); // mallory copies them
        let mut state = ContractsState::default();
        let out = run(&mut state, &member_keys(), &ME, &chain.view);
        assert_eq!(out.reports.len(), 3);
        let (first, again, copied) = (&out.reports[0], &out.reports[1], &out.reports[2]);
        // The same plaintext output, sealed twice under the same response key: other nonces,
        // so other bytes (the nonce leads the sealed output).
        assert_eq!(opened(&key, first), opened(&key, again));
        assert_ne!(first.sealed_output[..12], again.sealed_output[..12]);
        // Mallory's copy runs as nothing and gets nothing sealed under bob's key.
        assert!(copied.sealed_output.is_empty());
        assert_eq!(
            (copied.gas_used, out.ran[2].2.as_str()),
            (0, "wrong_caller")
        );
        // The host hears only that commands ran, never their status.
        assert_eq!(out.ran[0].2, "ran");
    }

    #[test]
    fn refused_commands_change_nothing_and_say_why() {
        let mut chain = Chain::new(&[ME]);
        let stranger = AccountId([4; 32]);
        // A command copied by someone else: it names its first sender.
        let k0 = chain.submit(stranger, CALLER, b"copied", false);
        // A tampered envelope: nobody can open it, nothing runs, no gas.
        let _k1 = chain.submit(CALLER, CALLER, b"tampered", true);
        // An endless loop runs out of fuel: the whole limit is used.
        let k2 = chain.submit(CALLER, CALLER, b"loop", false);
        let keys = member_keys();
        let mut state = ContractsState::default();
        let out = run(&mut state, &keys, &ME, &chain.view);
        assert_eq!(out.reports.len(), 3);
        let _ = k0;
        assert!(
            out.reports[0].sealed_output.is_empty(),
            "nothing sealed for a copier"
        );
        assert_eq!(out.reports[0].gas_used, 0);
        assert_eq!(out.ran[0].2, "wrong_caller");
        assert!(out.reports[1].sealed_output.is_empty());
        assert_eq!(out.reports[1].gas_used, 0);
        assert_eq!(out.ran[1].2, "not_opened");
        assert!(matches!(
            opened(&k2, &out.reports[2]),
            CommandOutput::Failed { code, .. } if code == "out_of_fuel"
        ));
        assert_eq!(out.reports[2].gas_used, 1_000_000);
        assert!(
            state.testing_storage(&ID).is_empty(),
            "no command wrote anything"
        );
        assert_eq!(state.next(&ID), 3);
    }

    const NOW: u64 = 1_700_000_000_000;

    /// A query from `signer` for `input`, sealed to `cluster_secret`'s public key; returns the
    /// body and the response key.
    fn sealed_query(
        signer: &phalanx_primitives::Keypair,
        input: &[u8],
        nonce: [u8; 16],
        expires_at_ms: u64,
        cluster_secret: &[u8; 32],
        forge_signature: bool,
    ) -> (Vec<u8>, ResponseKey) {
        use phalanx_primitives::contract::{query_signing_bytes, QueryPlaintext, SealedQuery};
        let mut signature =
            signer.sign(&query_signing_bytes(&ID, &ME, &nonce, expires_at_ms, input));
        if forge_signature {
            signature[0] ^= 1;
        }
        let plaintext = QueryPlaintext {
            caller: signer.account(),
            input: input.to_vec(),
            signature,
        };
        let context = RequestContext {
            target: ID,
            nonce,
            expires_at_ms,
        };
        let public = ClusterKey::from_bytes(cluster_secret).public();
        let (envelope, key) = seal_request(
            &public,
            &context,
            &plaintext.encode(),
            &mut rand_core::OsRng,
        )
        .unwrap();
        let body = SealedQuery {
            contract: ID,
            key_epoch: 0,
            nonce,
            expires_at_ms,
            envelope: envelope.to_bytes(),
        }
        .encode();
        (body, key)
    }

    use super::super::desk::{DeskView, NoNetwork, QueryDesk, QueryError};

    /// A desk answering from `state` at height `height`.
    fn desk_at(state: &ContractsState, keys: &KeyState, height: u64) -> QueryDesk {
        let desk = QueryDesk::new();
        publish(&desk, state, keys, height);
        desk
    }

    fn publish(desk: &QueryDesk, state: &ContractsState, keys: &KeyState, height: u64) {
        publish_as(desk, state, keys, height, ME);
    }

    fn publish_as(
        desk: &QueryDesk,
        state: &ContractsState,
        keys: &KeyState,
        height: u64,
        me: [u8; 32],
    ) {
        desk.publish(Some(DeskView {
            me,
            height,
            time_ms: NOW,
            contracts: std::sync::Arc::new(state.clone()),
            keys: std::sync::Arc::new(keys.clone()),
        }));
    }

    /// A member that ran one command ("hello" from CALLER), and a desk answering from its
    /// state at `height`.
    fn one_command(height: u64) -> (ContractsState, KeyState, QueryDesk) {
        let mut chain = Chain::new(&[ME]);
        chain.submit(CALLER, CALLER, b"hello", false);
        let keys = member_keys();
        let mut state = ContractsState::default();
        run(&mut state, &keys, &ME, &chain.view);
        let desk = desk_at(&state, &keys, height);
        (state, keys, desk)
    }

    /// Proves `who`'s deposit of `units` with `settled` as the last settled usage nonce.
    fn prove(desk: &QueryDesk, height: u64, who: AccountId, units: u128, settled: Option<u64>) {
        assert_eq!(prove_count(desk, height, who, units, settled), 1);
    }

    /// How many callers' deposits the proof recorded.
    fn prove_count(
        desk: &QueryDesk,
        height: u64,
        who: AccountId,
        units: u128,
        settled: Option<u64>,
    ) -> usize {
        let mut view = View::default();
        view.insert_proven(wire::params_key(), None);
        let deposit = wire::QueryDeposit {
            available: units,
            ..Default::default()
        };
        view.insert_proven(wire::deposit_key(&who), Some(deposit.encode()));
        view.insert_proven(
            wire::usage_nonce_key(&ME, &who),
            settled.map(|n| n.encode()),
        );
        desk.prove_deposits(&ME, height, &[who], &view).unwrap()
    }

    #[test]
    fn queries_read_the_state_and_refuse_replays_forgeries_and_stale_or_foreign_requests() {
        use phalanx_primitives::contract::QueryAnswer;
        let (state, keys, desk) = one_command(12);
        let code = echo_store();
        let alice = phalanx_primitives::Keypair::dev("alice");
        let ask = |body: &[u8], code: &[u8]| desk.answer(body, code, &mut NoNetwork);
        let (body, key) = sealed_query(
            &alice,
            b"hello",
            [1; 16],
            NOW + 60_000,
            &CLUSTER_SECRET,
            false,
        );
        // No proof of alice's deposit yet: the host is told whose to prove, and the nonce is
        // not spent, so the same query is answered once it is.
        assert_eq!(
            ask(&body, &code).unwrap_err(),
            QueryError::NeedDeposit(alice.account())
        );
        prove(&desk, 12, alice.account(), 1_000_000_000_000, None);
        for who in [ferdie(), alice.account()] {
            prove(&desk, 12, who, 1_000_000_000_000, None);
        }
        let answered = ask(&body, &code).unwrap();
        assert_eq!(answered.caller, alice.account());
        let answer: QueryAnswer =
            decode_strict(&open_response(&key, &answered.sealed).unwrap(), 1 << 16).unwrap();
        assert_eq!(
            answer.output,
            CommandOutput::Ran {
                status: 0,
                output: b"hello".to_vec()
            }
        );
        assert_eq!(answer.as_of, 1);
        assert!(answer.fuel_used > 0);
        // The same body again: refused.
        assert_eq!(ask(&body, &code).unwrap_err(), QueryError::Replayed);
        // Expired, or valid for too long, by the enclave's chain time.
        let (old, _) = sealed_query(&alice, b"hello", [2; 16], NOW, &CLUSTER_SECRET, false);
        assert!(matches!(ask(&old, &code), Err(QueryError::Expired { .. })));
        let (far, _) = sealed_query(
            &alice,
            b"hello",
            [3; 16],
            NOW + 3_600_000,
            &CLUSTER_SECRET,
            false,
        );
        assert!(matches!(ask(&far, &code), Err(QueryError::TooLong { .. })));
        // A forged caller signature, another cluster's key, tampered or truncated bytes.
        let (forged, _) = sealed_query(&alice, b"hello", [4; 16], NOW + 1, &CLUSTER_SECRET, true);
        assert_eq!(ask(&forged, &code).unwrap_err(), QueryError::BadSignature);
        let (foreign, _) = sealed_query(&alice, b"hello", [5; 16], NOW + 1, &[8; 32], false);
        assert_eq!(ask(&foreign, &code).unwrap_err(), QueryError::NotOpened);
        let (mut tampered, _) =
            sealed_query(&alice, b"hello", [6; 16], NOW + 1, &CLUSTER_SECRET, false);
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(ask(&tampered, &code).unwrap_err(), QueryError::NotOpened);
        assert!(matches!(
            ask(&tampered[..10], &code),
            Err(QueryError::Malformed(_))
        ));
        // Someone who saw a nonce spends it first: the real query with it is still answered.
        let mallory = phalanx_primitives::Keypair::dev("ferdie");
        let (first, _) = sealed_query(&mallory, b"x", [9; 16], NOW + 1, &CLUSTER_SECRET, false);
        ask(&first, &code).unwrap();
        let (real, _) = sealed_query(&alice, b"hello", [9; 16], NOW + 1, &CLUSTER_SECRET, false);
        assert!(ask(&real, &code).is_ok());
        // Signed for another worker (this one is ME): a member that is not ME refuses it, so a
        // captured query can't be charged again at another member.
        let elsewhere = QueryDesk::new();
        publish_as(&elsewhere, &state, &keys, 12, [2; 32]);
        let (for_me, _) = sealed_query(&alice, b"hello", [8; 16], NOW + 1, &CLUSTER_SECRET, false);
        assert_eq!(
            elsewhere
                .answer(&for_me, &code, &mut NoNetwork)
                .unwrap_err(),
            QueryError::BadSignature
        );
        // Code the host swapped: a desk that has not compiled the contract's code refuses
        // it; one that has runs the code it checked and ignores the host's copy.
        let (_, _, fresh_desk) = one_command(12);
        prove(&fresh_desk, 12, alice.account(), 1_000_000_000_000, None);
        let (fresh, _) = sealed_query(&alice, b"hello", [7; 16], NOW + 1, &CLUSTER_SECRET, false);
        assert_eq!(
            fresh_desk
                .answer(&fresh, b"other code", &mut NoNetwork)
                .unwrap_err(),
            QueryError::WrongCode
        );
        let (fresh, key) = sealed_query(&alice, b"hello", [7; 16], NOW + 1, &CLUSTER_SECRET, false);
        let swapped = ask(&fresh, b"other code").unwrap();
        let answer: QueryAnswer =
            decode_strict(&open_response(&key, &swapped.sealed).unwrap(), 1 << 16).unwrap();
        assert_eq!(
            answer.output,
            CommandOutput::Ran {
                status: 0,
                output: b"hello".to_vec()
            }
        );
        // A stale deposit proof is not used: the host must prove it again.
        publish(
            &desk,
            &state,
            &keys,
            12 + super::super::desk::MAX_DEPOSIT_PROOF_AGE + 1,
        );
        let (later, _) = sealed_query(&alice, b"hello", [10; 16], NOW + 1, &CLUSTER_SECRET, false);
        assert_eq!(
            ask(&later, &code).unwrap_err(),
            QueryError::NeedDeposit(alice.account())
        );
    }

    fn ferdie() -> AccountId {
        phalanx_primitives::Keypair::dev("ferdie").account()
    }

    #[test]
    fn queries_are_paid_from_the_deposit_and_settled_once_with_rising_nonces() {
        let (state, keys, desk) = one_command(20);
        let code = echo_store();
        let alice = phalanx_primitives::Keypair::dev("alice");
        let price = wire::ContractsParams::default().min_gas_price;
        let least = price
            * u128::from(super::super::desk::QUERY_BASE_FUEL + super::super::desk::MIN_QUERY_FUEL);
        // Too small a deposit: refused, with what it can pay and what a query needs.
        prove(&desk, 20, alice.account(), least - 1, None);
        let (body, _) = sealed_query(&alice, b"a", [1; 16], NOW + 1, &CLUSTER_SECRET, false);
        assert_eq!(
            desk.answer(&body, &code, &mut NoNetwork).unwrap_err(),
            QueryError::InsufficientDeposit {
                caller: alice.account(),
                available: least - 1,
                needed: least
            }
        );
        publish(&desk, &state, &keys, 30);
        // A caller with no deposit at all is refused too, and not metered (accounts cost
        // nothing to make, so they must not fill the meter).
        let bob = phalanx_primitives::Keypair::dev("bob");
        prove(&desk, 20, bob.account(), 0, None);
        let (nothing, _) = sealed_query(&bob, b"a", [2; 16], NOW + 1, &CLUSTER_SECRET, false);
        assert_eq!(
            desk.answer(&nothing, &code, &mut NoNetwork).unwrap_err(),
            QueryError::InsufficientDeposit {
                caller: bob.account(),
                available: 0,
                needed: least
            }
        );
        assert_eq!(desk.testing_spendable(&bob.account()), None);
        // Enough for three: each is charged for its base and the fuel it burned.
        let deposit = 1_000 * least;
        prove(&desk, 30, alice.account(), deposit, None);
        let mut charged = 0;
        for n in 0..3u8 {
            let (body, _) =
                sealed_query(&alice, b"a", [10 + n; 16], NOW + 1, &CLUSTER_SECRET, false);
            let answered = desk.answer(&body, &code, &mut NoNetwork).unwrap();
            assert_eq!(
                answered.charged,
                price * u128::from(super::super::desk::QUERY_BASE_FUEL + answered.fuel_used)
            );
            charged += answered.charged;
        }
        assert_eq!(
            desk.testing_spendable(&alice.account()),
            Some(deposit - charged)
        );
        assert_eq!(desk.owed().0, 1);
        assert_eq!(desk.owed().1, charged);
        // One report for all three; a report still in the outbox (nonce 4, after a restart)
        // pushes the next nonce above it.
        let outbox: HashMap<AccountId, u64> = [(alice.account(), 4)].into_iter().collect();
        let settlement = desk.settle(8, &outbox);
        assert_eq!(
            settlement.reports,
            vec![wire::UsageReport {
                client: alice.account(),
                amount: charged,
                nonce: 5
            }]
        );
        assert_eq!(desk.owed().1, 0, "reported: owed no more");
        // Not sent (the outbox refused it): put back, and settled again with the same nonce.
        desk.restore(settlement);
        assert_eq!(desk.owed().1, charged);
        let settlement = desk.settle(8, &outbox);
        assert_eq!(settlement.reports[0].nonce, 5);
        // Reported but unsettled, it still counts against the deposit ...
        assert_eq!(
            desk.testing_spendable(&alice.account()),
            Some(deposit - charged)
        );
        // ... until a proof shows it settled (nonce 5, deposit lowered by the chain).
        prove(&desk, 31, alice.account(), deposit - charged, Some(5));
        assert_eq!(
            desk.testing_spendable(&alice.account()),
            Some(deposit - charged)
        );
        assert!(
            desk.settle(8, &HashMap::new()).reports.is_empty(),
            "nothing owed"
        );
        // An older proof than the one held changes nothing.
        assert_eq!(prove_count(&desk, 30, alice.account(), deposit, None), 0);
        assert_eq!(
            desk.testing_spendable(&alice.account()),
            Some(deposit - charged)
        );
        // After a restart, a report still in the outbox (nonce 9) is noted: the next report
        // goes above it, and it counts against the deposit until proven settled.
        let restarted = desk_at(&state, &keys, 32);
        restarted.note_reported(&[wire::UsageReport {
            client: alice.account(),
            amount: 7,
            nonce: 9,
        }]);
        prove(&restarted, 32, alice.account(), deposit, Some(5));
        assert_eq!(
            restarted.testing_spendable(&alice.account()),
            Some(deposit - 7)
        );
        let (again, _) = sealed_query(&alice, b"a", [40; 16], NOW + 1, &CLUSTER_SECRET, false);
        restarted.answer(&again, &code, &mut NoNetwork).unwrap();
        assert_eq!(restarted.settle(8, &HashMap::new()).reports[0].nonce, 10);
        // A query that can pay for only part of its fuel runs with what it can pay for.
        prove(&desk, 32, alice.account(), least + price * 1_000, Some(5));
        let (endless, _) = sealed_query(&alice, b"loop", [30; 16], NOW + 1, &CLUSTER_SECRET, false);
        let answered = desk.answer(&endless, &code, &mut NoNetwork).unwrap();
        assert_eq!(
            answered.fuel_used,
            super::super::desk::MIN_QUERY_FUEL + 1_000
        );
        assert_eq!(desk.testing_spendable(&alice.account()), Some(0));
    }

    /// Answers every request with `body`, recording what it was asked.
    struct Recording {
        asked: Vec<HttpRequest>,
        body: Vec<u8>,
    }

    impl super::super::desk::Ocalls for Recording {
        fn http(&mut self, request: &HttpRequest) -> Result<HttpResponse, HttpError> {
            self.asked.push(request.clone());
            Ok(HttpResponse {
                status: 200,
                headers: vec![],
                body: self.body.clone(),
            })
        }
    }

    #[test]
    fn a_query_reaches_the_network_only_through_the_hosts_ocall() {
        let (_, _, desk) = one_command(12);
        let alice = phalanx_primitives::Keypair::dev("alice");
        prove(&desk, 12, alice.account(), 1_000_000_000_000, None);
        let request = HttpRequest {
            method: "GET".into(),
            url: "http://oracle.test/price".into(),
            headers: vec![],
            body: vec![],
            timeout_ms: 0,
            max_response_bytes: 0,
        };
        let input = [&b"http"[..], &request.encode().unwrap()].concat();
        let mut host = Recording {
            asked: vec![],
            body: b"42".to_vec(),
        };
        let (body, key) = sealed_query(&alice, &input, [1; 16], NOW + 1, &CLUSTER_SECRET, false);
        let answered = desk.answer(&body, &echo_store(), &mut host).unwrap();
        let answer: phalanx_primitives::contract::QueryAnswer =
            decode_strict(&open_response(&key, &answered.sealed).unwrap(), 1 << 16).unwrap();
        let CommandOutput::Ran { status: 0, output } = answer.output else {
            panic!("{:?}", answer.output)
        };
        assert_eq!(HttpResponse::decode(&output).unwrap().body, b"42");
        assert_eq!(host.asked.len(), 1);
        assert_eq!(host.asked[0].url, "http://oracle.test/price");
        // The executor's caps, never the contract's wishes, bound what the host is asked.
        let limits = phalanx_contract::ExecLimits::default();
        assert_eq!(host.asked[0].timeout_ms, limits.http_timeout_ms);
        assert_eq!(
            host.asked[0].max_response_bytes,
            limits.max_http_response_bytes
        );
        // A host without network: the contract sees HTTP_FAILED, nothing else breaks.
        let (body, key) = sealed_query(&alice, &input, [2; 16], NOW + 1, &CLUSTER_SECRET, false);
        let answered = desk
            .answer(&body, &echo_store(), &mut super::super::desk::NoNetwork)
            .unwrap();
        let answer: phalanx_primitives::contract::QueryAnswer =
            decode_strict(&open_response(&key, &answered.sealed).unwrap(), 1 << 16).unwrap();
        assert_eq!(
            answer.output,
            CommandOutput::Ran {
                status: -phalanx_contract::abi::HTTP_FAILED,
                output: vec![]
            }
        );
    }

    #[test]
    fn a_contract_is_answered_before_its_first_command() {
        let chain = Chain::new(&[ME]);
        let keys = member_keys();
        let mut state = ContractsState::default();
        let out = run(&mut state, &keys, &ME, &chain.view);
        assert!(out.reports.is_empty());
        assert_eq!(state.progress(), vec![(ID, 0)], "known before any command");
        let desk = desk_at(&state, &keys, 12);
        let alice = phalanx_primitives::Keypair::dev("alice");
        prove(&desk, 12, alice.account(), 1_000_000_000_000, None);
        let (body, key) = sealed_query(&alice, b"x", [1; 16], NOW + 1, &CLUSTER_SECRET, false);
        let answered = desk.answer(&body, &echo_store(), &mut NoNetwork).unwrap();
        let answer: phalanx_primitives::contract::QueryAnswer =
            decode_strict(&open_response(&key, &answered.sealed).unwrap(), 1 << 16).unwrap();
        assert_eq!(answer.as_of, 0);
        // The echo contract finds nothing stored under "x": status 1, an empty state.
        assert_eq!(
            answer.output,
            CommandOutput::Ran {
                status: 1,
                output: vec![]
            }
        );
    }

    #[test]
    fn a_non_member_or_a_member_without_the_key_runs_nothing() {
        let mut chain = Chain::new(&[[2; 32]]);
        chain.submit(CALLER, CALLER, b"x", false);
        let mut state = ContractsState::default();
        let out = run(&mut state, &member_keys(), &ME, &chain.view);
        assert!(out.reports.is_empty(), "not a proven member");
        let mut chain = Chain::new(&[ME]);
        chain.submit(CALLER, CALLER, b"x", false);
        let out = run(&mut state, &KeyState::default(), &ME, &chain.view);
        assert!(out.reports.is_empty(), "no key of the command's epoch yet");
        assert_eq!(state.next(&ID), 0);
    }
}
