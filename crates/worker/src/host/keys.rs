//! The host's half of key management: fetch the facts the enclave needs with proofs, feed them
//! to [`Ecall::KeyStep`], store and commit what it changed, and relay the key messages it
//! released (the enclave's half and the protocol: [`crate::enclave::gatekeeper`]).
//!
//! # A key round
//! 1. List what exists (RPC, unproven: it only decides which keys to ask proofs for): key
//!    epochs, gatekeepers, clusters, and for a gatekeeper every cluster's members.
//! 2. Ask `phalanx_stateProofs` for those keys, in batches of at most 1,024, each batch
//!    self-contained (the facts a decision combines are always proven at one height).
//! 3. Sync the enclave to exactly the batch's height, prove delivery of its released messages
//!    (`mq/next/<origin>`, [`Ecall::Delivered`]), and run [`Ecall::KeyStep`].
//! 4. Store and commit the pending state it returns; relay the messages the commit releases,
//!    and every released message not yet proven delivered that was last relayed long ago.
//!
//! The lists in step 1 can lie (this host and the node are untrusted): a missing entry only
//! delays, an invented one fails its proof in the enclave.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use phalanx_primitives::call::{Call, MessageQueueCall, Origin, SignedMessage};
use phalanx_primitives::contract::{self as wire, Contract};
use phalanx_runtime::gatekeeper as chain;
use phalanx_runtime::message_queue::next_sequence_key;
use phalanx_runtime::registry::worker_key;

use super::{Host, HostError};
use crate::enclave::{contracts, Ecall, KeyStepReport, ProvenEntry, Reply, MAX_KEY_STEP_ENTRIES};

/// Least time between two key rounds.
pub(super) const KEY_ROUND_EVERY: Duration = Duration::from_secs(1);
/// A released message not yet proven delivered is relayed again after this long.
const RELAY_AGAIN_AFTER: Duration = Duration::from_secs(10);

/// Most contracts a round lists (pages of `phalanx_contracts`).
const MAX_CONTRACTS_LISTED: usize = 10_000;

/// Most callers whose deposits one proof batch carries (two keys each, within one
/// `phalanx_stateProofs` call).
const MAX_CALLERS_PROVEN: usize = 300;
/// Usage is reported at once when this many callers owe.
const SETTLE_WHEN_CALLERS_OWE: usize = 64;
/// Most usage reports one round makes.
const MAX_REPORTS_PER_ROUND: usize = 64;

/// Keys one decision needs together: proven in the same batch.
type Unit = Vec<Vec<u8>>;

impl Host {
    /// One key round (see the module docs), at most every [`KEY_ROUND_EVERY`].
    pub(super) async fn key_round(&mut self) -> Result<(), HostError> {
        if self
            .last_key_round
            .is_some_and(|at| at.elapsed() < KEY_ROUND_EVERY)
        {
            return Ok(());
        }
        self.last_key_round = Some(Instant::now());
        let info = self.info()?;
        let me = info.identity;
        let held: BTreeSet<u32> = info
            .master_epochs
            .iter()
            .copied()
            .chain(info.cluster_keys.iter().map(|(_, epoch)| *epoch))
            .collect();
        let contracts = self.list_contracts().await?;
        let (common, units, appointed) = self.key_facts(&me, &held, &contracts).await?;
        let mut batches = Vec::new();
        let mut batch = common.clone();
        for unit in units {
            if batch.len() + unit.len() > MAX_KEY_STEP_ENTRIES && batch.len() > common.len() {
                batches.push(std::mem::replace(&mut batch, common.clone()));
            }
            batch.extend(unit);
        }
        batches.push(batch);
        for keys in batches {
            self.key_step(&keys).await?;
        }
        self.relay_released(&me, appointed).await?;
        // Usage is reported even when a contract step failed (the operator's income must not
        // wait on an unrelated contract).
        let ran = self.contract_round(&contracts).await;
        self.usage_round().await?;
        ran
    }

    /// `key`'s value in the node's finalized state, decoded (unproven: for the host's own
    /// decisions and metrics, never for the enclave).
    async fn storage<T: parity_scale_codec::Decode>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, HostError> {
        let value: Option<String> = self
            .client
            .call(
                "phalanx_storage",
                vec![serde_json::json!(format!("0x{}", hex::encode(key)))],
            )
            .await?;
        Ok(value
            .and_then(|v| hex::decode(v.trim_start_matches("0x")).ok())
            .and_then(|bytes| phalanx_primitives::decode_strict::<T>(&bytes, 64 * 1024).ok()))
    }

    /// Mirrors the chain's mining record of this worker in the metrics: computing or
    /// unresponsive, heartbeats answered and missed, and when the attestation expires.
    async fn observe_mining(
        &mut self,
        miner: Option<&phalanx_primitives::mining::Miner>,
    ) -> Result<(), HostError> {
        use phalanx_primitives::mining::MinerState;
        let state = miner.map(|m| m.state);
        self.metrics
            .computing
            .set(i64::from(state == Some(MinerState::Computing)));
        self.metrics
            .unresponsive
            .set(i64::from(state == Some(MinerState::Unresponsive)));
        if let Some(miner) = miner {
            self.metrics
                .heartbeats(miner.heartbeats_answered, miner.heartbeats_missed);
        }
        // The maximum age is a governance parameter: read again once a minute at most.
        let stale = self
            .max_age
            .is_none_or(|(at, _)| at.elapsed() > std::time::Duration::from_secs(60));
        if stale {
            let params: Option<phalanx_primitives::mining::MiningParams> =
                self.storage(&phalanx_runtime::mining::params_key()).await?;
            if let Some(params) = params {
                self.max_age = Some((std::time::Instant::now(), params.attestation_max_age_blocks));
            }
        }
        if let (Some((_, max_age)), Some(attested)) = (self.max_age, self.registered) {
            let head = self.info()?.head.map_or(0, |(height, _)| height);
            let expires = i128::from(attested) + i128::from(max_age) - i128::from(head);
            self.metrics
                .attestation_expires_in_blocks
                .set(i64::try_from(expires).unwrap_or(i64::MAX));
        }
        Ok(())
    }

    /// Answers this worker's heartbeat challenge, if the chain shows one: an unproven look at
    /// its mining record first (cheap, every poll), then the record proven to the enclave,
    /// which signs the answer; stored, committed and relayed like every message.
    pub(super) async fn heartbeat_round(&mut self) -> Result<(), HostError> {
        let me = self.info()?.identity;
        let key = phalanx_runtime::mining::miner_key(&me);
        let miner: Option<phalanx_primitives::mining::Miner> = self.storage(&key).await?;
        // Metrics never stand in the way of the answer.
        if let Err(e) = self.observe_mining(miner.as_ref()).await {
            tracing::debug!(error = %e, "could not update the mining metrics");
        }
        let challenged = miner.and_then(|miner| miner.challenge);
        if challenged.is_none() {
            return Ok(());
        }
        let origin = Origin::Worker(me);
        let keys = vec![key, next_sequence_key(&origin)];
        let Some(entries) = self.prove_synced(&keys, origin).await? else {
            return Ok(());
        };
        let Reply::Heartbeat { challenge, pending } = self.ecall(Ecall::Heartbeat { entries })?
        else {
            return Err(HostError::UnexpectedReply("heartbeat"));
        };
        if let Some(pending) = pending {
            let committed = self.store.persist(&mut self.enclave, &pending)?;
            self.send_messages(&committed.messages).await?;
            tracing::debug!(?challenge, "answered a heartbeat challenge");
        }
        Ok(())
    }

    /// Keeps the query desk paid: proves the deposits of recently active callers before their
    /// proofs age out, and reports metered usage once the oldest is
    /// `settle_usage_every_blocks` old (or many callers owe).
    async fn usage_round(&mut self) -> Result<(), HostError> {
        let due = self.desk.deposits_to_prove(MAX_CALLERS_PROVEN);
        if !due.is_empty() {
            self.prove_deposits(&due).await?;
        }
        let (callers, _, oldest) = self.desk.owed();
        let head = self.info()?.head.map_or(0, |(height, _)| height);
        let old = oldest.is_some_and(|since| {
            head.saturating_sub(since) >= self.config.settle_usage_every_blocks
        });
        if callers == 0 || !(old || callers >= SETTLE_WHEN_CALLERS_OWE) {
            return Ok(());
        }
        let Reply::Settled { reports, pending } = self.ecall(Ecall::SettleUsage {
            max: MAX_REPORTS_PER_ROUND,
        })?
        else {
            return Err(HostError::UnexpectedReply("settle usage"));
        };
        if let Some(pending) = pending {
            let committed = self.store.persist(&mut self.enclave, &pending)?;
            self.send_messages(&committed.messages).await?;
            tracing::info!(reports, "reported metered query usage");
        }
        Ok(())
    }

    /// Proves `callers`' deposits (and the contract parameters) to the enclave at one height.
    async fn prove_deposits(
        &mut self,
        callers: &[phalanx_primitives::AccountId],
    ) -> Result<(), HostError> {
        let me = self.info()?.identity;
        for chunk in callers.chunks(MAX_CALLERS_PROVEN) {
            let mut keys = vec![wire::params_key()];
            for caller in chunk {
                keys.push(wire::deposit_key(caller));
                keys.push(wire::usage_nonce_key(&me, caller));
            }
            // The enclave may move a block on meanwhile: one more try at the new height.
            for _ in 0..2 {
                let Some(entries) = self.prove_synced(&keys, Origin::Worker(me)).await? else {
                    continue;
                };
                match self.ecall(Ecall::ProveDeposits {
                    callers: chunk.to_vec(),
                    entries,
                })? {
                    Reply::DepositsProven(_) => break,
                    _ => return Err(HostError::UnexpectedReply("prove deposits")),
                }
            }
        }
        Ok(())
    }

    /// Serves the query desk's requests to prove callers' deposits, and tells each waiting
    /// query how it went.
    pub(super) async fn prove_deposits_for(&mut self, jobs: Vec<super::queries::DepositJob>) {
        let mut callers: Vec<phalanx_primitives::AccountId> =
            jobs.iter().map(|j| j.caller).collect();
        callers.sort();
        callers.dedup();
        let result = self
            .prove_deposits(&callers)
            .await
            .map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::warn!(error = %e, "could not prove query deposits");
        }
        for job in jobs {
            let _ = job.done.send(result.clone());
        }
    }

    /// Which keys to prove: the ones every batch carries, and the units split across batches.
    async fn key_facts(
        &self,
        me: &[u8; 32],
        held: &BTreeSet<u32>,
        contracts: &[Contract],
    ) -> Result<(Unit, Vec<Unit>, bool), HostError> {
        let origin = Origin::Gatekeeper(*me);
        let mut common = vec![
            chain::gatekeeper_key(me),
            chain::requested_epoch_key(),
            chain::current_epoch_key(),
            next_sequence_key(&origin),
        ];
        let epochs = self.client.all_key_epochs().await?;
        let live: Vec<u32> = epochs
            .epochs
            .iter()
            .filter(|e| e.retired_at.is_none())
            .map(|e| e.epoch)
            .collect();
        // Live epochs, and retired ones only while the enclave still holds their keys (so it
        // erases them): a long history of epochs never grows the batch.
        for epoch in &epochs.epochs {
            if epoch.retired_at.is_none() {
                common.push(chain::epoch_key(epoch.epoch));
                common.push(chain::master_share_key(epoch.epoch, me));
            } else if held.contains(&epoch.epoch) {
                common.push(chain::epoch_key(epoch.epoch));
            }
        }
        let gatekeepers = self.client.gatekeepers().await?;
        let appointed = gatekeepers.gatekeepers.iter().any(|g| g.identity == *me);
        let mut units = Vec::new();
        if appointed {
            for g in &gatekeepers.gatekeepers {
                let mut unit = vec![chain::gatekeeper_key(&g.identity)];
                unit.extend(
                    live.iter()
                        .map(|e| chain::master_share_key(*e, &g.identity)),
                );
                units.push(unit);
            }
        }
        if appointed {
            // A gatekeeper publishes every contract's public key of each live epoch.
            for contract in contracts {
                let mut unit = vec![wire::contract_key(&contract.id)];
                unit.extend(
                    live.iter()
                        .map(|e| wire::contract_public_key(&contract.id, *e)),
                );
                units.push(unit);
            }
        }
        for cluster in self.client.all_clusters().await? {
            let index = cluster.index;
            let mut head: Unit = vec![chain::cluster_key(index)];
            head.extend(live.iter().map(|e| chain::cluster_public_key(index, *e)));
            if appointed {
                // A gatekeeper serves every member: each member's unit carries the cluster's
                // own keys too, so a batch never splits a member from its cluster.
                let detail = self.client.cluster_with_members(index).await?;
                for member in detail.members {
                    let mut unit = head.clone();
                    unit.push(chain::cluster_member_key(index, &member));
                    unit.push(worker_key(&member));
                    unit.extend(
                        live.iter()
                            .map(|e| chain::cluster_share_key(index, *e, &member)),
                    );
                    units.push(unit);
                }
                if cluster.members == 0 {
                    units.push(head);
                }
            } else {
                // A member only needs its own shares.
                let mut unit = head;
                unit.push(chain::cluster_member_key(index, me));
                unit.extend(live.iter().map(|e| chain::cluster_share_key(index, *e, me)));
                units.push(unit);
            }
        }
        Ok((common, units, appointed))
    }

    /// Proves `keys` at one height and syncs the enclave there; then proves to it the delivery
    /// of `origin`'s messages (`keys` must include its `mq/next` key). `None` when the node
    /// answered from another height than the enclave can reach now (try again next round).
    async fn prove_synced(
        &mut self,
        keys: &[Vec<u8>],
        origin: Origin,
    ) -> Result<Option<Vec<ProvenEntry>>, HostError> {
        let unique: BTreeSet<&Vec<u8>> = keys.iter().collect();
        let keys: Vec<Vec<u8>> = unique.into_iter().cloned().collect();
        let proofs = self.client.state_proofs(&keys).await?;
        let head = self.info()?.head.map_or(0, |(height, _)| height);
        if head > proofs.height {
            // The node answered from behind the enclave (another node, or it restarted): the
            // proofs cannot be checked against the enclave's head. Try again next round.
            return Ok(None);
        }
        self.sync_to(proofs.height).await?;
        if self.info()?.head.map(|(h, _)| h) != Some(proofs.height) {
            return Ok(None); // not there yet (a long sync goes in batches)
        }
        let next_key = next_sequence_key(&origin);
        if let Some(entry) = proofs.entries.iter().find(|e| e.key == next_key) {
            let next_sequence = match &entry.value {
                Some(bytes) => phalanx_primitives::decode_strict::<u64>(bytes, 8)
                    .map_err(|e| HostError::UnexpectedAnswer(e.to_string()))?,
                None => 0,
            };
            self.ecall(Ecall::Delivered {
                origin,
                next_sequence,
                proof: entry.proof.clone(),
            })?;
        }
        Ok(Some(
            proofs
                .entries
                .into_iter()
                .map(|e| ProvenEntry {
                    key: e.key,
                    value: e.value,
                    proof: e.proof,
                })
                .collect(),
        ))
    }

    /// Proves `keys` at one height, syncs the enclave there, and runs one key step.
    async fn key_step(&mut self, keys: &[Vec<u8>]) -> Result<(), HostError> {
        let me = self.info()?.identity;
        let Some(entries) = self.prove_synced(keys, Origin::Gatekeeper(me)).await? else {
            return Ok(());
        };
        let Reply::KeyStepped { report, pending } = self.ecall(Ecall::KeyStep { entries })? else {
            return Err(HostError::UnexpectedReply("key step"));
        };
        self.log_key_report(&report);
        if let Some(pending) = pending {
            let committed = self.store.persist(&mut self.enclave, &pending)?;
            self.send_messages(&committed.messages).await?;
        }
        Ok(())
    }

    fn log_key_report(&self, report: &KeyStepReport) {
        for refused in &report.refused {
            tracing::warn!(%refused, "the enclave refused a key share");
        }
        if report.messages > 0 {
            tracing::info!(messages = report.messages, "the enclave made key messages");
        }
        let name = self.options.announce.as_deref();
        for epoch in &report.masters_received {
            tracing::info!(epoch, "gatekeeper enclave received the master key");
            if let Some(name) = name {
                println!("  worker {name}: holds the master key of key epoch {epoch} (SIMULATED enclave)");
            }
        }
        for (cluster, epoch) in &report.cluster_keys_received {
            tracing::info!(cluster, epoch, "enclave received its cluster key");
            if let Some(name) = name {
                println!("  worker {name}: received the key of cluster {cluster}, key epoch {epoch} (SIMULATED enclave)");
            }
        }
        for epoch in &report.erased {
            tracing::info!(epoch, "enclave erased the keys of a key epoch");
        }
    }

    /// Every contract on chain (paged `phalanx_contracts`; unproven: it only decides what to
    /// prove).
    async fn list_contracts(&self) -> Result<Vec<Contract>, HostError> {
        let mut all = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let params = start.iter().map(|s| serde_json::json!(s)).collect();
            let page: serde_json::Value = self.client.call("phalanx_contracts", params).await?;
            let contracts: Vec<Contract> = serde_json::from_value(page["contracts"].clone())
                .map_err(|e| HostError::UnexpectedAnswer(format!("phalanx_contracts: {e}")))?;
            all.extend(contracts);
            match page["next"].as_str() {
                Some(next) if all.len() < MAX_CONTRACTS_LISTED => start = Some(next.to_string()),
                _ => return Ok(all),
            }
        }
    }

    /// Runs the commands waiting in the contracts of the clusters this enclave holds a key
    /// of: per contract, its record, the enclave's membership, the code and the next commands,
    /// proven at one height ([`Ecall::ContractStep`]); the reports it makes are stored with
    /// the new state, committed, then relayed.
    async fn contract_round(&mut self, contracts: &[Contract]) -> Result<(), HostError> {
        let info = self.info()?;
        let held: BTreeSet<u32> = info.cluster_keys.iter().map(|(c, _)| *c).collect();
        let me = info.identity;
        let progress: std::collections::BTreeMap<[u8; 32], u64> =
            info.contracts.iter().copied().collect();
        for contract in contracts {
            if !held.contains(&contract.cluster) {
                continue;
            }
            let cached = self
                .code
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains_key(&contract.id);
            if !cached {
                // For queries: an untrusted copy, checked against the proven hash inside.
                let key = format!("0x{}", hex::encode(wire::code_key(&contract.code_hash)));
                let value: Option<String> = self
                    .client
                    .call("phalanx_storage", vec![serde_json::json!(key)])
                    .await?;
                if let Some(code) = value.and_then(|v| hex::decode(v.trim_start_matches("0x")).ok())
                {
                    self.code
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert(contract.id, std::sync::Arc::new(code));
                }
            }
            let next = progress.get(&contract.id).copied().unwrap_or(0);
            // A contract the enclave has not seen is shown to it even before its first command
            // (so queries of it are answered).
            if next >= contract.commands && progress.contains_key(&contract.id) {
                continue;
            }
            let to = contract
                .commands
                .min(next + contracts::MAX_COMMANDS_PER_STEP as u64);
            let mut keys = contracts::contract_keys(contract, &me, next, to);
            keys.push(next_sequence_key(&Origin::Worker(me)));
            let Some(entries) = self.prove_synced(&keys, Origin::Worker(me)).await? else {
                continue;
            };
            let Reply::ContractStepped { ran, pending } =
                self.ecall(Ecall::ContractStep { entries })?
            else {
                return Err(HostError::UnexpectedReply("contract step"));
            };
            if let Some(pending) = pending {
                let committed = self.store.persist(&mut self.enclave, &pending)?;
                self.send_messages(&committed.messages).await?;
            }
            let name = self.options.announce.as_deref();
            for (id, sequence, outcome) in ran {
                let id = hex::encode(id);
                tracing::info!(contract = %id, sequence, %outcome, "enclave ran a command");
                if let Some(name) = name {
                    println!(
                        "  worker {name}: ran command {sequence} of contract {}… ({outcome})",
                        &id[..12]
                    );
                }
            }
        }
        Ok(())
    }

    /// Relays released messages still waiting for proof of delivery, each at most every
    /// [`RELAY_AGAIN_AFTER`]. While the chain lists this enclave (`me`) as no gatekeeper
    /// (removed, or not yet appointed), its gatekeeper messages are held back: the chain would
    /// refuse them, and the operator would pay for nothing, again and again. They stay in the
    /// outbox (bounded) and go out if it is appointed again.
    async fn relay_released(&mut self, me: &[u8; 32], appointed: bool) -> Result<(), HostError> {
        let Reply::Outbox(messages) = self.ecall(Ecall::Outbox)? else {
            return Err(HostError::UnexpectedReply("outbox"));
        };
        let due: Vec<SignedMessage> = messages
            .into_iter()
            .filter(|m| appointed || m.origin != Origin::Gatekeeper(*me))
            .filter(|m| {
                self.relayed
                    .get(&(m.origin, m.sequence))
                    .is_none_or(|at| at.elapsed() >= RELAY_AGAIN_AFTER)
            })
            .collect();
        self.send_messages(&due).await
    }

    /// Sends each message in a transaction from the operator (who pays the fee), in order.
    async fn send_messages(&mut self, messages: &[SignedMessage]) -> Result<(), HostError> {
        self.relayed
            .retain(|_, at| at.elapsed() < RELAY_AGAIN_AFTER * 6);
        for message in messages {
            self.client
                .sign_and_submit(
                    &self.operator,
                    Call::MessageQueue(MessageQueueCall::Push(message.clone())),
                )
                .await?;
            self.relayed
                .insert((message.origin, message.sequence), Instant::now());
        }
        Ok(())
    }
}
