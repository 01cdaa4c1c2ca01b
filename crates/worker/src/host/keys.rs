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
use phalanx_runtime::gatekeeper as chain;
use phalanx_runtime::message_queue::next_sequence_key;
use phalanx_runtime::registry::worker_key;

use super::{Host, HostError};
use crate::enclave::{Ecall, KeyStepReport, ProvenEntry, Reply, MAX_KEY_STEP_ENTRIES};

/// Least time between two key rounds.
pub(super) const KEY_ROUND_EVERY: Duration = Duration::from_secs(1);
/// A released message not yet proven delivered is relayed again after this long.
const RELAY_AGAIN_AFTER: Duration = Duration::from_secs(10);

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
        let (common, units, appointed) = self.key_facts(&me, &held).await?;
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
        self.relay_released(&me, appointed).await
    }

    /// Which keys to prove: the ones every batch carries, and the units split across batches.
    async fn key_facts(
        &self,
        me: &[u8; 32],
        held: &BTreeSet<u32>,
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

    /// Proves `keys` at one height, syncs the enclave there, and runs one key step.
    async fn key_step(&mut self, keys: &[Vec<u8>]) -> Result<(), HostError> {
        let unique: BTreeSet<&Vec<u8>> = keys.iter().collect();
        let keys: Vec<Vec<u8>> = unique.into_iter().cloned().collect();
        let proofs = self.client.state_proofs(&keys).await?;
        let head = self.info()?.head.map_or(0, |(height, _)| height);
        if head > proofs.height {
            // The node answered from behind the enclave (another node, or it restarted): the
            // proofs cannot be checked against the enclave's head. Try again next round.
            return Ok(());
        }
        self.sync_to(proofs.height).await?;
        if self.info()?.head.map(|(h, _)| h) != Some(proofs.height) {
            return Ok(()); // not there yet (a long sync goes in batches)
        }
        let me = self.info()?.identity;
        let next_key = next_sequence_key(&Origin::Gatekeeper(me));
        if let Some(entry) = proofs.entries.iter().find(|e| e.key == next_key) {
            let next_sequence = match &entry.value {
                Some(bytes) => phalanx_primitives::decode_strict::<u64>(bytes, 8)
                    .map_err(|e| HostError::UnexpectedAnswer(e.to_string()))?,
                None => 0,
            };
            self.enclave.ecall(Ecall::Delivered {
                origin: Origin::Gatekeeper(me),
                next_sequence,
                proof: entry.proof.clone(),
            })?;
        }
        let entries = proofs
            .entries
            .into_iter()
            .map(|e| ProvenEntry {
                key: e.key,
                value: e.value,
                proof: e.proof,
            })
            .collect();
        let Reply::KeyStepped { report, pending } =
            self.enclave.ecall(Ecall::KeyStep { entries })?
        else {
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

    /// Relays released messages still waiting for proof of delivery, each at most every
    /// [`RELAY_AGAIN_AFTER`]. While the chain lists this enclave (`me`) as no gatekeeper
    /// (removed, or not yet appointed), its gatekeeper messages are held back: the chain would
    /// refuse them, and the operator would pay for nothing, again and again. They stay in the
    /// outbox (bounded) and go out if it is appointed again.
    async fn relay_released(&mut self, me: &[u8; 32], appointed: bool) -> Result<(), HostError> {
        let Reply::Outbox(messages) = self.enclave.ecall(Ecall::Outbox)? else {
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
