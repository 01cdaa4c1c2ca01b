//! Key management inside the enclave: the gatekeeper role (generate, share and derive keys)
//! and the member role (receive a cluster's key), both driven by chain state the enclave
//! verified itself (DESIGN.md §8; the chain's rules are in `phalanx_runtime::gatekeeper`).
//!
//! # Protocol
//! The host reads chain state and hands the enclave `(key, value, proof)` entries; the enclave
//! checks each proof against its verified head ([`View`] holds only checked entries) and runs
//! [`step`], which decides everything from that view and the keys it already holds:
//! 1. **Appointment.** The enclave acts as a gatekeeper only while the view proves its own
//!    `gatekeeper/member/<identity>` record. A proof that the record is absent (removed) makes
//!    it erase every master key it holds.
//! 2. **Fresh master.** When the view proves epoch `e` requested and not yet published, a
//!    gatekeeper holding no master for `e` generates one from enclave randomness and emits
//!    [`KeyMessage::MasterKey`]. If another gatekeeper's master wins (the epoch record names a
//!    different public key), the enclave drops its own and waits for a share.
//! 3. **Sharing.** For every epoch it holds, it seals the master to each gatekeeper whose
//!    appointment record the view proves and whose share slot the view proves empty, with
//!    [`seal_key`] to the encryption key in that record (which the chain copied from the
//!    attested registration). The ephemeral seed is derived from the master, so every holder
//!    emits the same envelope.
//! 4. **Receiving.** A share addressed to this enclave is opened and kept only if the master's
//!    public key equals the epoch record's: a forged or mis-sealed master is refused.
//! 5. **Clusters.** For every epoch it holds and every cluster the view proves, it emits the
//!    cluster's public key, then seals the cluster secret to each member whose membership and
//!    registration the view proves and whose share slot is empty. A member enclave opens its
//!    share and keeps it only if it matches the published cluster key.
//! 6. **Retirement.** An epoch whose record proves it retired is erased: masters and cluster
//!    keys of that epoch leave the sealed state for good.
//! 7. **Contracts.** For every epoch it holds and every contract the view proves, it publishes
//!    the contract's public key (master → cluster → contract) where the slot is proven empty;
//!    members derive the same secret from their cluster key (see [`super::contracts`]).
//!
//! # Invariants
//! - Nothing here believes the host: every fact is a proven entry, and a missing entry only
//!   delays (liveness), never leads to sealing a key to someone the chain did not appoint or
//!   admit.
//! - A key is only ever sealed to an enclave encryption key taken from proven chain state.
//! - Each message is emitted once per slot (`emitted`), so a host that runs [`step`] again
//!   before its messages are included gets no duplicates.
//! - Secrets are zeroized when dropped or erased; no secret leaves in a [`StepOutcome`].

use std::collections::{BTreeMap, BTreeSet};

use parity_scale_codec::{Decode, Encode};
use phalanx_keys::{cluster_key, open_key, seal_key, Envelope, MasterKey};
use phalanx_primitives::contract::{Contract, ContractKeyMessage};
use phalanx_primitives::gatekeeper::{
    Cluster, Gatekeeper, KeyEpoch, KeyMessage, MAX_SEALED_KEY_BYTES,
};
use phalanx_primitives::worker::WorkerInfo;
use phalanx_primitives::{decode_strict, Hash};
use phalanx_runtime::gatekeeper as chain;
use phalanx_runtime::registry::worker_key;
use rand_core::{CryptoRng, RngCore};
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, Zeroizing};

/// Label of a master key sealed to a gatekeeper (the `label` of [`seal_key`]).
pub const MASTER_SHARE_LABEL: &[u8] = b"phalanx/gatekeeper/master-share/v1";
/// Label of a cluster key sealed to a member.
pub const CLUSTER_SHARE_LABEL: &[u8] = b"phalanx/gatekeeper/cluster-share/v1";

/// Largest record decoded from a proven value.
const MAX_RECORD_BYTES: usize = 4096;

/// Why a key step could not run. A failed step changes nothing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// A proven value does not decode as the record its key names: the chain and this enclave
    /// disagree on a format.
    #[error("the chain value at {key} does not decode ({reason}); run a worker release that matches the chain")]
    Undecodable {
        /// The storage key, hex.
        key: String,
        /// The decoder's reason.
        reason: String,
    },
}

/// Chain state entries the enclave proved against its head: `Some(value)` present,
/// `None` proven absent. Keys the host did not supply are unknown.
#[derive(Debug, Default)]
pub struct View {
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl View {
    /// Records an entry. Only the enclave calls this, after checking its proof.
    pub(crate) fn insert_proven(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.entries.insert(key, value);
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `None`: not supplied; `Some(None)`: proven absent; `Some(Some(v))`: proven value.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.entries.get(key).map(|v| v.as_deref())
    }

    /// The proven record at `key`, decoded.
    fn record<T: Decode>(&self, key: &[u8]) -> Result<Option<Option<T>>, KeyError> {
        match self.get(key) {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(bytes)) => decode_strict(bytes, MAX_RECORD_BYTES)
                .map(|v| Some(Some(v)))
                .map_err(|e| KeyError::Undecodable {
                    key: hex::encode(key),
                    reason: e.to_string(),
                }),
        }
    }

    /// Whether `key` is proven empty.
    fn proven_absent(&self, key: &[u8]) -> bool {
        matches!(self.get(key), Some(None))
    }

    /// Whether `key` is proven present.
    pub(crate) fn proven_present(&self, key: &[u8]) -> bool {
        matches!(self.get(key), Some(Some(_)))
    }

    /// Every proven-present record whose key starts with `prefix`, decoded.
    pub(crate) fn records_under<T: Decode>(&self, prefix: &[u8]) -> Result<Vec<T>, KeyError> {
        self.entries
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(key, value)| Some((key, value.as_ref()?)))
            .map(|(key, bytes)| {
                decode_strict(bytes, MAX_RECORD_BYTES).map_err(|e| KeyError::Undecodable {
                    key: hex::encode(key),
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

/// The keys an enclave holds, sealed with the rest of its state.
#[derive(Clone, Default, Encode, Decode)]
pub struct KeyState {
    /// Master secrets by epoch.
    masters: BTreeMap<u32, [u8; 32]>,
    /// Cluster secrets this enclave received as a member, by (cluster, epoch).
    cluster_keys: BTreeMap<(u32, u32), [u8; 32]>,
    /// Messages emitted and not yet seen on chain, by epoch: the storage key each fills (for a
    /// master, its epoch record). A slot leaves once the chain shows it filled, and a whole
    /// epoch on retirement, so this holds only what is in flight.
    emitted: BTreeMap<u32, BTreeSet<Vec<u8>>>,
    /// Epochs erased for good (retired): never accepted again.
    retired: BTreeSet<u32>,
}

#[cfg(any(test, feature = "testing"))]
impl KeyState {
    /// TEST HOOK: the masters and cluster keys held, labelled (see `Enclave::testing_secrets`).
    pub(crate) fn testing_secrets(&self) -> Vec<(String, [u8; 32])> {
        let masters = self
            .masters
            .iter()
            .map(|(epoch, secret)| (format!("master of key epoch {epoch}"), *secret));
        let clusters = self.cluster_keys.iter().map(|((cluster, epoch), secret)| {
            (
                format!("key of cluster {cluster}, key epoch {epoch}"),
                *secret,
            )
        });
        masters.chain(clusters).collect()
    }
}

#[cfg(test)]
impl KeyState {
    /// TEST HOOK: holds `secret` as the key of (`cluster`, `epoch`), as if a share arrived.
    pub(crate) fn testing_insert_cluster_key(
        &mut self,
        cluster: u32,
        epoch: u32,
        secret: [u8; 32],
    ) {
        self.cluster_keys.insert((cluster, epoch), secret);
    }
}

impl Drop for KeyState {
    fn drop(&mut self) {
        for secret in self.masters.values_mut() {
            secret.zeroize();
        }
        for secret in self.cluster_keys.values_mut() {
            secret.zeroize();
        }
    }
}

impl std::fmt::Debug for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyState")
            .field("master_epochs", &self.masters.keys().collect::<Vec<_>>())
            .field(
                "cluster_keys",
                &self.cluster_keys.keys().collect::<Vec<_>>(),
            )
            .field("retired", &self.retired)
            .finish_non_exhaustive()
    }
}

impl KeyState {
    /// The epochs whose master this enclave holds.
    pub fn master_epochs(&self) -> Vec<u32> {
        self.masters.keys().copied().collect()
    }

    /// The (cluster, epoch) keys this enclave holds as a member.
    pub fn cluster_epochs(&self) -> Vec<(u32, u32)> {
        self.cluster_keys.keys().copied().collect()
    }

    /// The public key of cluster `cluster` in `epoch`, if this enclave holds its secret.
    pub fn cluster_public(&self, cluster: u32, epoch: u32) -> Option<[u8; 32]> {
        let secret = self.cluster_keys.get(&(cluster, epoch))?;
        Some(x25519_dalek::PublicKey::from(&StaticSecret::from(*secret)).to_bytes())
    }

    /// The cluster secret of (`cluster`, `epoch`), for the enclave's own use (opening requests).
    pub(crate) fn cluster_secret(&self, cluster: u32, epoch: u32) -> Option<Zeroizing<[u8; 32]>> {
        self.cluster_keys
            .get(&(cluster, epoch))
            .map(|s| Zeroizing::new(*s))
    }

    fn master(&self, epoch: u32) -> Option<MasterKey> {
        self.masters.get(&epoch).map(MasterKey::from_bytes)
    }

    fn erase_epoch(&mut self, epoch: u32) {
        if let Some(mut secret) = self.masters.remove(&epoch) {
            secret.zeroize();
        }
        let stale: Vec<(u32, u32)> = self
            .cluster_keys
            .keys()
            .filter(|(_, e)| *e == epoch)
            .copied()
            .collect();
        for slot in stale {
            if let Some(mut secret) = self.cluster_keys.remove(&slot) {
                secret.zeroize();
            }
        }
    }
}

/// Who this enclave is.
pub(crate) struct Me<'a> {
    /// Its identity (worker id, and its gatekeeper id if appointed).
    pub identity: [u8; 32],
    /// Its X25519 secret, which shares to it are sealed to.
    pub encryption_secret: &'a StaticSecret,
}

impl std::fmt::Debug for Me<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Me")
            .field("identity", &hex::encode(self.identity))
            .finish_non_exhaustive()
    }
}

/// What a step did: messages to emit, in order, and what it learned or refused.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// Key messages to send as this gatekeeper, in order.
    pub messages: Vec<KeyMessage>,
    /// Contract public keys to publish as this gatekeeper (topic `contracts/key`), in order.
    pub contract_keys: Vec<ContractKeyMessage>,
    /// Master epochs received by share in this step.
    pub masters_received: Vec<u32>,
    /// (cluster, epoch) keys received in this step.
    pub cluster_keys_received: Vec<(u32, u32)>,
    /// Epochs erased in this step.
    pub erased: Vec<u32>,
    /// Shares refused, with why (forged, or not for this enclave's key).
    pub refused: Vec<String>,
}

/// The storage keys [`step`] reads, so a host knows what to prove: the caller adds the records
/// of every gatekeeper, cluster, member and worker it knows (see the host).
pub fn base_keys(identity: &[u8; 32]) -> Vec<Vec<u8>> {
    vec![
        chain::gatekeeper_key(identity),
        chain::requested_epoch_key(),
        chain::current_epoch_key(),
    ]
}

/// The additional keys a step needs for epoch `epoch`: its record and the share to `identity`.
pub fn epoch_keys(identity: &[u8; 32], epoch: u32) -> Vec<Vec<u8>> {
    vec![
        chain::epoch_key(epoch),
        chain::master_share_key(epoch, identity),
    ]
}

fn tag(parts: &[&[u8]]) -> [u8; 32] {
    Hash::of_parts(parts).0
}

/// Runs one key step on `keys` from the proven `view` (see the module docs). Messages are
/// returned for the caller to emit through the outbox; `keys` is updated in place, and on error
/// left unchanged.
pub(crate) fn step(
    keys: &mut KeyState,
    me: &Me<'_>,
    view: &View,
    rng: &mut (impl RngCore + CryptoRng),
    room: usize,
) -> Result<StepOutcome, KeyError> {
    let mut next = keys.clone();
    let mut outcome = StepOutcome::default();
    run(&mut next, me, view, rng, &mut outcome, room)?;
    *keys = next;
    Ok(outcome)
}

fn run(
    keys: &mut KeyState,
    me: &Me<'_>,
    view: &View,
    rng: &mut (impl RngCore + CryptoRng),
    out: &mut StepOutcome,
    room: usize,
) -> Result<(), KeyError> {
    // 6. Retired epochs go first, for both roles.
    let epochs: Vec<KeyEpoch> = view.records_under(chain::EPOCH_PREFIX)?;
    for epoch in &epochs {
        if epoch.retired_at.is_some() && !keys.retired.contains(&epoch.epoch) {
            keys.erase_epoch(epoch.epoch);
            keys.retired.insert(epoch.epoch);
            out.erased.push(epoch.epoch);
        }
    }
    prune_emitted(keys, view, &epochs);
    let published = |e: u32| {
        epochs
            .iter()
            .find(|r| r.epoch == e && r.retired_at.is_none())
            .and_then(|r| r.master_public)
    };

    // Member role: open cluster shares addressed to this enclave.
    receive_cluster_keys(keys, me, view, out)?;

    // 1. Appointment.
    let appointed = match view.record::<Gatekeeper>(&chain::gatekeeper_key(&me.identity))? {
        None => return Ok(()), // not supplied: no gatekeeper work this step
        Some(None) => {
            let held: Vec<u32> = keys.masters.keys().copied().collect();
            for epoch in held {
                if let Some(mut secret) = keys.masters.remove(&epoch) {
                    secret.zeroize();
                }
                out.erased.push(epoch);
            }
            return Ok(());
        }
        Some(Some(record)) => record,
    };
    debug_assert_eq!(appointed.identity, me.identity);

    // Drop masters that lost the race for their epoch (the record names another key).
    let lost: Vec<u32> = keys
        .masters
        .iter()
        .filter(|(e, s)| published(**e).is_some_and(|p| p != MasterKey::from_bytes(s).public()))
        .map(|(e, _)| *e)
        .collect();
    for epoch in lost {
        if let Some(mut secret) = keys.masters.remove(&epoch) {
            secret.zeroize();
        }
    }

    // 4. Receive masters sealed to this enclave.
    for epoch in &epochs {
        let Some(public) = published(epoch.epoch) else {
            continue;
        };
        if keys.masters.contains_key(&epoch.epoch) {
            continue;
        }
        let Some(Some(sealed)) =
            view.record::<Vec<u8>>(&chain::master_share_key(epoch.epoch, &me.identity))?
        else {
            continue;
        };
        let aad = (epoch.epoch, me.identity).encode();
        match open_share(me, MASTER_SHARE_LABEL, &aad, &sealed) {
            Ok(secret) if MasterKey::from_bytes(&secret).public() == public => {
                keys.masters.insert(epoch.epoch, *secret);
                out.masters_received.push(epoch.epoch);
            }
            Ok(_) => out.refused.push(format!(
                "the master key of epoch {} sealed to this enclave does not match the published one",
                epoch.epoch
            )),
            Err(e) => out.refused.push(format!(
                "the master key share of epoch {} does not open: {e}",
                epoch.epoch
            )),
        }
    }

    // 2. Fresh master for a requested epoch.
    if let Some(Some(requested)) = view.record::<u32>(&chain::requested_epoch_key())? {
        let waiting = epochs
            .iter()
            .any(|r| r.epoch == requested && r.master_public.is_none());
        if waiting && !keys.masters.contains_key(&requested) && !keys.retired.contains(&requested) {
            let master = MasterKey::generate(rng);
            let public_key = master.public();
            keys.masters.insert(requested, *master.to_bytes());
            emit(
                keys,
                out,
                room,
                requested,
                chain::epoch_key(requested),
                KeyMessage::MasterKey {
                    epoch: requested,
                    public_key,
                },
            );
        }
    }

    // 3 and 5. Share what this enclave holds, for published epochs only.
    let gatekeepers: Vec<Gatekeeper> = view.records_under(chain::MEMBER_PREFIX)?;
    let clusters: Vec<Cluster> = view.records_under(chain::CLUSTER_PREFIX)?;
    let contracts: Vec<Contract> =
        view.records_under(phalanx_primitives::contract::CONTRACT_PREFIX)?;
    let held: Vec<u32> = keys.masters.keys().copied().collect();
    for epoch in held {
        let Some(public) = published(epoch) else {
            continue;
        };
        let Some(master) = keys.master(epoch) else {
            continue;
        };
        if master.public() != public {
            continue;
        }
        for other in &gatekeepers {
            if other.identity == me.identity
                || !view.proven_absent(&chain::master_share_key(epoch, &other.identity))
            {
                continue;
            }
            let aad = (epoch, other.identity).encode();
            let seed = master.share_seed(&other.identity, u64::from(epoch));
            let Some(sealed) = seal_to(
                &other.encryption_key,
                MASTER_SHARE_LABEL,
                &aad,
                &master.to_bytes(),
                &seed,
            ) else {
                out.refused.push(format!(
                    "gatekeeper {} has an unusable encryption key",
                    hex::encode(other.identity)
                ));
                continue;
            };
            emit(
                keys,
                out,
                room,
                epoch,
                chain::master_share_key(epoch, &other.identity),
                KeyMessage::MasterKeyShare {
                    epoch,
                    gatekeeper: other.identity,
                    sealed,
                },
            );
        }
        for cluster in &clusters {
            let ck = cluster_key(&master, &cluster.id);
            let cluster_public = ck.public();
            let public_slot = chain::cluster_public_key(cluster.index, epoch);
            match view.record::<[u8; 32]>(&public_slot)? {
                Some(None) => emit(
                    keys,
                    out,
                    room,
                    epoch,
                    public_slot.clone(),
                    KeyMessage::ClusterKey {
                        cluster: cluster.index,
                        epoch,
                        public_key: cluster_public,
                    },
                ),
                Some(Some(on_chain)) if on_chain == cluster_public => {
                    for worker in proven_members(view, cluster.index)? {
                        if !view.proven_absent(&chain::cluster_share_key(
                            cluster.index,
                            epoch,
                            &worker,
                        )) {
                            continue;
                        }
                        let Some(Some(info)) = view.record::<WorkerInfo>(&worker_key(&worker))?
                        else {
                            continue;
                        };
                        let aad = (cluster.index, epoch, worker).encode();
                        let tag = tag(&[b"cluster-share", &cluster.id, &worker]);
                        let seed = master.share_seed(&tag, u64::from(epoch));
                        let Some(sealed) = seal_to(
                            &info.encryption_key,
                            CLUSTER_SHARE_LABEL,
                            &aad,
                            &ck.secret_bytes(),
                            &seed,
                        ) else {
                            out.refused.push(format!(
                                "worker {} has an unusable encryption key",
                                hex::encode(worker)
                            ));
                            continue;
                        };
                        emit(
                            keys,
                            out,
                            room,
                            epoch,
                            chain::cluster_share_key(cluster.index, epoch, &worker),
                            KeyMessage::ClusterKeyShare {
                                cluster: cluster.index,
                                epoch,
                                worker,
                                sealed,
                            },
                        );
                    }
                }
                // Another key is on chain: this enclave disagrees with the chain's copy and
                // shares nothing for the cluster (its messages would be refused as conflicts).
                Some(Some(_)) => out.refused.push(format!(
                    "cluster {} has another public key for epoch {epoch} on chain",
                    cluster.index
                )),
                None => {}
            }
        }
        // 7. Contracts: publish each one's public key of this epoch (master → cluster →
        // contract), where the view proves the slot empty.
        for contract in &contracts {
            let slot = phalanx_primitives::contract::contract_public_key(&contract.id, epoch);
            if !view.proven_absent(&slot) {
                continue;
            }
            let cluster_id = phalanx_primitives::gatekeeper::cluster_id(contract.cluster);
            let public_key = cluster_key(&master, &cluster_id)
                .contract_key(&contract.id)
                .public();
            emit_contract_key(
                keys,
                out,
                room,
                epoch,
                ContractKeyMessage {
                    contract: contract.id,
                    epoch,
                    public_key,
                },
            );
        }
    }
    Ok(())
}

/// Opens the cluster shares the view proves for this enclave (as a member).
fn receive_cluster_keys(
    keys: &mut KeyState,
    me: &Me<'_>,
    view: &View,
    out: &mut StepOutcome,
) -> Result<(), KeyError> {
    let prefix = chain::CLUSTER_SHARE_PREFIX;
    let shares: Vec<(Vec<u8>, Vec<u8>)> = view
        .entries
        .range(prefix.to_vec()..)
        .take_while(|(key, _)| key.starts_with(prefix))
        .filter_map(|(key, value)| Some((key.clone(), value.clone()?)))
        .collect();
    for (key, value) in shares {
        // `<epoch BE>/<cluster BE>/<worker>` after the prefix.
        let rest = &key[prefix.len()..];
        if rest.len() != 4 + 1 + 4 + 1 + 32 || rest[9] != b'/' || rest[10..] != me.identity {
            continue;
        }
        let epoch = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let cluster = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]);
        if keys.retired.contains(&epoch) || keys.cluster_keys.contains_key(&(cluster, epoch)) {
            continue;
        }
        let Some(Some(public)) =
            view.record::<[u8; 32]>(&chain::cluster_public_key(cluster, epoch))?
        else {
            continue;
        };
        let sealed: Vec<u8> =
            decode_strict(&value, MAX_RECORD_BYTES).map_err(|e| KeyError::Undecodable {
                key: hex::encode(&key),
                reason: e.to_string(),
            })?;
        let aad = (cluster, epoch, me.identity).encode();
        match open_share(me, CLUSTER_SHARE_LABEL, &aad, &sealed) {
            Ok(secret) => {
                let opened = x25519_dalek::PublicKey::from(&StaticSecret::from(*secret)).to_bytes();
                if opened == public {
                    keys.cluster_keys.insert((cluster, epoch), *secret);
                    out.cluster_keys_received.push((cluster, epoch));
                } else {
                    out.refused.push(format!(
                        "the key of cluster {cluster} epoch {epoch} sealed to this enclave does not match the published one"
                    ));
                }
            }
            Err(e) => out.refused.push(format!(
                "the key share of cluster {cluster} epoch {epoch} does not open: {e}"
            )),
        }
    }
    Ok(())
}

/// Members of `cluster` whose membership the view proves.
fn proven_members(view: &View, cluster: u32) -> Result<Vec<[u8; 32]>, KeyError> {
    let prefix = [chain::CLUSTER_MEMBER_PREFIX, &cluster.to_be_bytes(), b"/"].concat();
    Ok(view
        .entries
        .range(prefix.clone()..)
        .take_while(|(key, _)| key.starts_with(&prefix))
        .filter(|(key, _)| view.proven_present(key))
        .filter_map(|(key, _)| key[prefix.len()..].try_into().ok())
        .collect())
}

/// Emits `message` once per `slot`, while the outbox has `room`; a message left out for room is
/// not marked, so a later step emits it.
fn emit(
    keys: &mut KeyState,
    out: &mut StepOutcome,
    room: usize,
    epoch: u32,
    slot: Vec<u8>,
    message: KeyMessage,
) {
    if out.messages.len() + out.contract_keys.len() < room
        && keys.emitted.entry(epoch).or_default().insert(slot)
    {
        out.messages.push(message);
    }
}

/// [`emit`] for a contract's public key.
fn emit_contract_key(
    keys: &mut KeyState,
    out: &mut StepOutcome,
    room: usize,
    epoch: u32,
    message: ContractKeyMessage,
) {
    let slot = phalanx_primitives::contract::contract_public_key(&message.contract, epoch);
    if out.messages.len() + out.contract_keys.len() < room
        && keys.emitted.entry(epoch).or_default().insert(slot)
    {
        out.contract_keys.push(message);
    }
}

/// Forgets emitted slots the chain shows filled (a master: its epoch record names a master),
/// and every slot of a retired epoch.
fn prune_emitted(keys: &mut KeyState, view: &View, epochs: &[KeyEpoch]) {
    let retired = keys.retired.clone();
    keys.emitted.retain(|epoch, slots| {
        if retired.contains(epoch) {
            return false;
        }
        slots.retain(|slot| {
            let filled = match epochs.iter().find(|e| chain::epoch_key(e.epoch) == *slot) {
                Some(record) => record.master_public.is_some(),
                None => view.proven_present(slot),
            };
            !filled
        });
        !slots.is_empty()
    });
}

/// Seals `secret` to `recipient`; `None` if the recipient key is unusable (a low-order point
/// the chain should never have accepted), in which case nothing is sent to it.
fn seal_to(
    recipient: &[u8; 32],
    label: &[u8],
    aad: &[u8],
    secret: &[u8; 32],
    seed: &[u8; 32],
) -> Option<Vec<u8>> {
    let sealed = seal_key(recipient, label, aad, secret, seed)
        .ok()?
        .to_bytes();
    (sealed.len() <= MAX_SEALED_KEY_BYTES).then_some(sealed)
}

fn open_share(
    me: &Me<'_>,
    label: &[u8],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<[u8; 32]>, phalanx_keys::Error> {
    let envelope = Envelope::from_bytes(sealed)?;
    open_key(&me.encryption_secret.to_bytes(), label, aad, &envelope)
}

/// Test and bench hooks: never in the default build (feature `testing`, or this crate's tests).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;

    /// Records `key` as proven to hold `value` (the enclave checks a proof first; benches and
    /// tests that build a view by hand skip it).
    pub fn insert(view: &mut View, key: Vec<u8>, value: Option<Vec<u8>>) {
        view.insert_proven(key, value);
    }

    /// A registered worker's record as the registry stores it, with the fields key management
    /// reads (`identity`, `encryption_key`) and fixed dev values elsewhere.
    pub fn worker_info(identity: [u8; 32], encryption_key: [u8; 32]) -> WorkerInfo {
        WorkerInfo {
            identity,
            encryption_key,
            operator: phalanx_primitives::AccountId([2; 32]),
            quote_kind: phalanx_primitives::attestation::QuoteKind::Simulated,
            measurement: [0; 32],
            tcb_status: phalanx_primitives::attestation::TcbStatus::UpToDate,
            confidence: 1000,
            performance: 100,
            endpoint: "http://w".into(),
            registered_at: 1,
            last_attested_at: 1,
            recent_block_height: 1,
            advisory_ids: Vec::new(),
            tcb_evaluation_data_number: None,
        }
    }

    /// [`step`] for an enclave with `identity` and `encryption_secret`.
    pub fn run_step(
        keys: &mut KeyState,
        identity: [u8; 32],
        encryption_secret: &StaticSecret,
        view: &View,
        room: usize,
    ) -> Result<StepOutcome, KeyError> {
        let me = Me {
            identity,
            encryption_secret,
        };
        step(keys, &me, view, &mut rand_core::OsRng, room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phalanx_primitives::gatekeeper::cluster_id;
    use phalanx_primitives::{AccountId, Keypair};
    use rand_core::OsRng;

    /// An enclave's keys, as the chain knows them.
    struct Party {
        identity: [u8; 32],
        secret: StaticSecret,
        keys: KeyState,
    }

    impl Party {
        fn new(name: &str) -> Party {
            Party {
                identity: Keypair::dev(name).account().0,
                secret: StaticSecret::random_from_rng(OsRng),
                keys: KeyState::default(),
            }
        }

        fn public(&self) -> [u8; 32] {
            x25519_dalek::PublicKey::from(&self.secret).to_bytes()
        }

        fn step(&mut self, view: &View) -> StepOutcome {
            let me = Me {
                identity: self.identity,
                encryption_secret: &self.secret,
            };
            step(&mut self.keys, &me, view, &mut OsRng, 256).expect("step runs")
        }
    }

    /// A chain state the test edits as the runtime would, as a proven view.
    #[derive(Default)]
    struct Chain {
        entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    }

    impl Chain {
        fn put(&mut self, key: Vec<u8>, value: impl Encode) {
            self.entries.insert(key, Some(value.encode()));
        }

        fn absent(&mut self, key: Vec<u8>) {
            self.entries.entry(key).or_insert(None);
        }

        fn view(&self) -> View {
            let mut view = View::default();
            for (key, value) in &self.entries {
                view.insert_proven(key.clone(), value.clone());
            }
            view
        }

        fn appoint(&mut self, party: &Party) {
            self.put(
                chain::gatekeeper_key(&party.identity),
                Gatekeeper {
                    identity: party.identity,
                    encryption_key: party.public(),
                    operator: AccountId([1; 32]),
                    stake: 1,
                    appointed_at: 1,
                },
            );
        }

        fn remove(&mut self, party: &Party) {
            self.entries
                .insert(chain::gatekeeper_key(&party.identity), None);
        }

        fn request(&mut self, epoch: u32) {
            self.put(chain::requested_epoch_key(), epoch);
            self.put(
                chain::epoch_key(epoch),
                KeyEpoch {
                    epoch,
                    master_public: None,
                    generator: None,
                    requested_at: 1,
                    retired_at: None,
                },
            );
        }

        /// Applies key messages the way the runtime does (first master wins, slots fill once).
        fn apply(&mut self, sender: &Party, messages: &[KeyMessage]) {
            for message in messages {
                match message {
                    KeyMessage::MasterKey { epoch, public_key } => {
                        let requested = self.entries.get(&chain::requested_epoch_key());
                        if requested != Some(&Some(epoch.encode())) {
                            continue;
                        }
                        self.entries.insert(chain::requested_epoch_key(), None);
                        self.put(chain::current_epoch_key(), *epoch);
                        self.put(
                            chain::epoch_key(*epoch),
                            KeyEpoch {
                                epoch: *epoch,
                                master_public: Some(*public_key),
                                generator: Some(sender.identity),
                                requested_at: 1,
                                retired_at: None,
                            },
                        );
                    }
                    KeyMessage::MasterKeyShare {
                        epoch,
                        gatekeeper,
                        sealed,
                    } => self.put(chain::master_share_key(*epoch, gatekeeper), sealed.clone()),
                    KeyMessage::ClusterKey {
                        cluster,
                        epoch,
                        public_key,
                    } => self.put(chain::cluster_public_key(*cluster, *epoch), *public_key),
                    KeyMessage::ClusterKeyShare {
                        cluster,
                        epoch,
                        worker,
                        sealed,
                    } => self.put(
                        chain::cluster_share_key(*cluster, *epoch, worker),
                        sealed.clone(),
                    ),
                }
            }
        }

        /// Proves every share slot and cluster key slot between these parties empty unless set.
        fn prove_slots(&mut self, gatekeepers: &[&Party], members: &[&Party], epochs: &[u32]) {
            for epoch in epochs {
                for g in gatekeepers {
                    self.absent(chain::master_share_key(*epoch, &g.identity));
                }
                self.absent(chain::cluster_public_key(0, *epoch));
                for m in members {
                    self.absent(chain::cluster_share_key(0, *epoch, &m.identity));
                }
            }
        }

        fn cluster(&mut self, members: &[&Party]) {
            self.put(
                chain::cluster_key(0),
                Cluster {
                    index: 0,
                    id: cluster_id(0),
                    members: members.len() as u32,
                    created_at: 1,
                },
            );
            for m in members {
                self.put(chain::cluster_member_key(0, &m.identity), ());
                self.put(
                    worker_key(&m.identity),
                    super::testing::worker_info(m.identity, m.public()),
                );
            }
        }
    }

    /// Runs `party` against the chain and applies what it emits; returns its outcome.
    fn turn(chain: &mut Chain, party: &mut Party) -> StepOutcome {
        let outcome = party.step(&chain.view());
        let messages = outcome.messages.clone();
        chain.apply(party, &messages);
        outcome
    }

    #[test]
    fn first_launch_generates_once_and_a_second_gatekeeper_gets_the_same_keys() {
        let mut chain = Chain::default();
        let (mut g1, mut g2) = (Party::new("g1"), Party::new("g2"));
        let (w1, w2) = (Party::new("w1"), Party::new("w2"));
        chain.appoint(&g1);
        chain.request(0);
        chain.cluster(&[&w1, &w2]);
        chain.prove_slots(&[&g1, &g2], &[&w1, &w2], &[0]);
        let first = turn(&mut chain, &mut g1);
        assert!(matches!(
            first.messages[..],
            [KeyMessage::MasterKey { epoch: 0, .. }]
        ));
        // Its next step (the master is published now) publishes the cluster key; again later
        // (cluster key on chain) the member shares.
        let second = turn(&mut chain, &mut g1);
        assert!(matches!(
            second.messages[..],
            [KeyMessage::ClusterKey {
                cluster: 0,
                epoch: 0,
                ..
            }]
        ));
        let third = turn(&mut chain, &mut g1);
        assert_eq!(third.messages.len(), 2, "one share per member: {third:?}");
        assert!(
            turn(&mut chain, &mut g1).messages.is_empty(),
            "nothing twice"
        );
        // g2 is appointed: g1 shares the master; g2 opens it.
        chain.appoint(&g2);
        let shared = turn(&mut chain, &mut g1);
        assert!(matches!(
            shared.messages[..],
            [KeyMessage::MasterKeyShare { epoch: 0, .. }]
        ));
        let received = turn(&mut chain, &mut g2);
        assert_eq!(received.masters_received, vec![0]);
        assert_eq!(g1.keys.master_epochs(), g2.keys.master_epochs());
        // Both derive identical cluster keys and seal identical shares: g2, run against a state
        // where the cluster slots are still empty, emits byte-identical messages.
        let mut fresh = Chain {
            entries: chain.entries.clone(),
        };
        fresh.entries.insert(chain::cluster_public_key(0, 0), None);
        let mut g2_again = Party {
            identity: g2.identity,
            secret: g2.secret.clone(),
            keys: g2.keys.clone(),
        };
        let from_g2 = g2_again.step(&fresh.view());
        assert_eq!(from_g2.messages, second.messages, "identical cluster key");
        fresh.apply(&g2_again, &from_g2.messages);
        for w in [&w1, &w2] {
            fresh
                .entries
                .insert(chain::cluster_share_key(0, 0, &w.identity), None);
        }
        let shares_from_g2 = g2_again.step(&fresh.view());
        assert_eq!(
            shares_from_g2.messages, third.messages,
            "byte-identical sealed shares"
        );
    }

    #[test]
    fn a_member_receives_its_cluster_key_and_a_forged_share_is_refused() {
        let mut chain = Chain::default();
        let mut g1 = Party::new("g1");
        let (mut w1, mut outsider) = (Party::new("w1"), Party::new("out"));
        chain.appoint(&g1);
        chain.request(0);
        chain.cluster(&[&w1]);
        chain.prove_slots(&[&g1], &[&w1, &outsider], &[0]);
        for _ in 0..3 {
            turn(&mut chain, &mut g1);
        }
        let got = turn(&mut chain, &mut w1);
        assert_eq!(got.cluster_keys_received, vec![(0, 0)]);
        // Everything g1 sent is on chain now: its next step forgets it (the sealed state keeps
        // only messages in flight).
        assert!(!g1.keys.emitted.is_empty());
        turn(&mut chain, &mut g1);
        assert!(g1.keys.emitted.is_empty(), "{:?}", g1.keys.emitted);
        let on_chain: [u8; 32] = decode_strict(
            chain.entries[&chain::cluster_public_key(0, 0)]
                .as_deref()
                .expect("published"),
            32,
        )
        .expect("key");
        assert_eq!(w1.keys.cluster_public(0, 0), Some(on_chain));
        // No share was ever made for the non-member.
        assert!(chain.entries[&chain::cluster_share_key(0, 0, &outsider.identity)].is_none());
        assert!(turn(&mut chain, &mut outsider)
            .cluster_keys_received
            .is_empty());
        // A share sealed to the outsider's key with some other secret does not match the
        // published cluster key: refused, nothing kept.
        let forged = seal_key(
            &outsider.public(),
            CLUSTER_SHARE_LABEL,
            &(0u32, 0u32, outsider.identity).encode(),
            &[9; 32],
            &[1; 32],
        )
        .expect("seals")
        .to_bytes();
        chain.put(chain::cluster_share_key(0, 0, &outsider.identity), forged);
        let refused = turn(&mut chain, &mut outsider);
        assert!(refused.cluster_keys_received.is_empty());
        assert_eq!(refused.refused.len(), 1, "{refused:?}");
        assert_eq!(outsider.keys.cluster_epochs(), vec![]);
    }

    #[test]
    fn a_forged_master_share_is_refused() {
        let mut chain = Chain::default();
        let (mut g1, mut g2) = (Party::new("g1"), Party::new("g2"));
        chain.appoint(&g1);
        chain.appoint(&g2);
        chain.request(0);
        chain.prove_slots(&[&g1, &g2], &[], &[0]);
        turn(&mut chain, &mut g1);
        // Someone seals a master of their own to g2 under the right label: its public key is
        // not the published one, so g2 refuses it.
        let forged = MasterKey::generate(&mut OsRng);
        let sealed = seal_key(
            &g2.public(),
            MASTER_SHARE_LABEL,
            &(0u32, g2.identity).encode(),
            &forged.to_bytes(),
            &[3; 32],
        )
        .expect("seals")
        .to_bytes();
        chain.put(chain::master_share_key(0, &g2.identity), sealed);
        let outcome = g2.step(&chain.view());
        assert!(outcome.masters_received.is_empty());
        assert_eq!(outcome.refused.len(), 1);
        assert!(g2.keys.master_epochs().is_empty());
    }

    #[test]
    fn removal_and_retirement_erase_keys_and_removed_parties_get_nothing_new() {
        let mut chain = Chain::default();
        let (mut g1, mut g2) = (Party::new("g1"), Party::new("g2"));
        let (mut w1, w2) = (Party::new("w1"), Party::new("w2"));
        chain.appoint(&g1);
        chain.appoint(&g2);
        chain.request(0);
        chain.cluster(&[&w1, &w2]);
        chain.prove_slots(&[&g1, &g2], &[&w1, &w2], &[0, 1]);
        for _ in 0..4 {
            turn(&mut chain, &mut g1);
        }
        turn(&mut chain, &mut g2);
        turn(&mut chain, &mut w1);
        assert_eq!(g2.keys.master_epochs(), vec![0]);
        // g2 is removed and w2 leaves the cluster; epoch 1 is requested.
        chain.remove(&g2);
        chain
            .entries
            .insert(chain::cluster_member_key(0, &w2.identity), None);
        chain.request(1);
        let removed = turn(&mut chain, &mut g2);
        assert_eq!(
            removed.erased,
            vec![0],
            "a removed gatekeeper erases its masters"
        );
        assert!(removed.messages.is_empty());
        for _ in 0..3 {
            turn(&mut chain, &mut g1);
        }
        assert_eq!(g1.keys.master_epochs(), vec![0, 1]);
        assert!(
            chain.entries[&chain::master_share_key(1, &g2.identity)].is_none(),
            "nothing for the removed gatekeeper"
        );
        assert!(
            chain.entries[&chain::cluster_share_key(0, 1, &w2.identity)].is_none(),
            "nothing for the removed member"
        );
        assert!(chain.entries[&chain::cluster_share_key(0, 1, &w1.identity)].is_some());
        turn(&mut chain, &mut w1);
        assert_eq!(w1.keys.cluster_epochs(), vec![(0, 0), (0, 1)]);
        // Retire epoch 0: every enclave erases it, and never takes it back.
        let mut retired: KeyEpoch = decode_strict(
            chain.entries[&chain::epoch_key(0)]
                .as_deref()
                .expect("record"),
            MAX_RECORD_BYTES,
        )
        .expect("decodes");
        retired.retired_at = Some(9);
        chain.put(chain::epoch_key(0), retired);
        assert_eq!(turn(&mut chain, &mut g1).erased, vec![0]);
        assert_eq!(turn(&mut chain, &mut w1).erased, vec![0]);
        assert_eq!(g1.keys.master_epochs(), vec![1]);
        assert_eq!(w1.keys.cluster_epochs(), vec![(0, 1)]);
        assert_eq!(
            w1.keys.cluster_secret(0, 0),
            None,
            "old ciphertext can no longer be opened"
        );
    }

    #[test]
    fn facts_the_host_withholds_only_delay() {
        let mut g1 = Party::new("g1");
        // Nothing supplied: nothing happens, nothing is erased.
        let outcome = g1.step(&View::default());
        assert_eq!(outcome, StepOutcome::default());
        // Appointed and requested, but the epoch record withheld: no master yet.
        let mut chain = Chain::default();
        chain.appoint(&g1);
        chain.put(chain::requested_epoch_key(), 0u32);
        assert!(g1.step(&chain.view()).messages.is_empty());
        // A garbled record is an error and changes nothing.
        chain
            .entries
            .insert(chain::epoch_key(0), Some(vec![1, 2, 3]));
        let me = Me {
            identity: g1.identity,
            encryption_secret: &g1.secret,
        };
        assert!(matches!(
            step(&mut g1.keys, &me, &chain.view(), &mut OsRng, 256),
            Err(KeyError::Undecodable { .. })
        ));
        assert!(g1.keys.master_epochs().is_empty());
    }
}
