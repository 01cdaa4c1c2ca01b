//! Gatekeepers, clusters and key epochs (DESIGN.md §8): who holds the network's keys, and the
//! public half of every key they derive.
//!
//! # Rules
//! - **Appointment** ([`PrivilegedCall::AppointGatekeeper`]): only a registered (so attested)
//!   worker, at most [`MAX_GATEKEEPERS`]; its operator's [`GatekeeperParams::stake`] is moved
//!   from free to reserved. The first appointment requests key epoch 0.
//! - **Removal** ([`PrivilegedCall::RemoveGatekeeper`]): the record goes, the stake stays
//!   reserved until `unbonding_ms` of chain time (block timestamps) have passed, then
//!   [`Gatekeepers::on_block_end`] frees it. A new key epoch is requested, so the removed
//!   gatekeeper, which may have kept the old master key, learns nothing sealed from then on.
//! - **Slashing** ([`punish`], called by `mining::punish_enclave` on provable misbehaviour of
//!   an enclave): a gatekeeper loses `misbehaviour_slash_per_mille` of its stake to the
//!   treasury and is removed as above (the rest unbonds), and stake still unbonding from an
//!   earlier appointment loses the same fraction; the enclave leaves every cluster it is a
//!   member of (which requests a new key epoch, so it learns no key from then on). A banned
//!   enclave can't be appointed or added to a cluster again ([`GatekeeperError::Banned`]), nor
//!   can a worker whose platform the policy in force no longer accepts (measurement, TCB status,
//!   a denied advisory, old collateral: [`GatekeeperError::Revoked`], `registry::revocation`). A conflicting key from *different*
//!   gatekeepers is not slashed: two gatekeepers may race to publish a master key, and the
//!   chain keeps no record of who stored a slot's first key.
//! - **Only appointed gatekeepers speak as [`Origin::Gatekeeper`]**: the message queue asks
//!   [`is_appointed`] (rule 2 of `message_queue`), and the signing key is the gatekeeper's worker
//!   identity.
//! - **Key epochs.** An epoch is *requested* (first appointment, [`PrivilegedCall::RotateKeys`],
//!   or a removal), then *published* when a gatekeeper enclave sends [`KeyMessage::MasterKey`]
//!   for it: a fresh master key, generated in that enclave, never derived from the previous
//!   one. The first publication wins; the publishing gatekeeper holds the epoch. It then seals
//!   the master key to every other appointed gatekeeper ([`KeyMessage::MasterKeyShare`]); a
//!   gatekeeper with a stored share holds the epoch too. [`PrivilegedCall::RetireKeyEpoch`]
//!   retires an older epoch: its shares leave the state and every enclave erases its keys.
//! - **Clusters** ([`PrivilegedCall::CreateCluster`], `AddClusterWorker`, `RemoveClusterWorker`)
//!   are sets of registered workers. For each published epoch, a gatekeeper holding it
//!   publishes each cluster's public key ([`KeyMessage::ClusterKey`]) and seals the cluster's
//!   secret to each member ([`KeyMessage::ClusterKeyShare`]). A removal requests a new epoch, and
//!   no share of any epoch can be stored for a non-member.
//! - **One copy.** Every gatekeeper holding an epoch derives the same keys and seals them
//!   deterministically, so a second, identical message is accepted and changes nothing; a
//!   *different* one for the same slot is refused with [`GatekeeperError::ConflictingKey`] and
//!   the event is evidence against its sender.
//!
//! The chain cannot open a sealed key; the recipient enclave checks what it opens against the
//! published public key (and the public key of a master against the epoch's record), so a forged
//! share is refused there. A key message whose effect is refused here still uses up its
//! sequence number (the enclave cannot sign that sequence again): the message queue records
//! [`Event::KeyMessageRefused`] instead of failing the relaying transaction.
//!
//! Storage keys (all under `gatekeeper/`): `params` → [`GatekeeperParams`]; `member/<identity>`
//! → [`Gatekeeper`]; `unbonding/<release_at_ms BE>/<identity>` → [`Unbonding`];
//! `requested_epoch` → u32; `current_epoch` → u32 (the newest published epoch);
//! `epoch/<epoch BE>` → [`KeyEpoch`]; `holder/<epoch BE>/<identity>` → `()`;
//! `master_share/<epoch BE>/<identity>` → sealed bytes; `next_cluster` → u32;
//! `cluster/<index BE>` → [`Cluster`]; `cluster_member/<index BE>/<worker>` → `()`;
//! `cluster_key/<index BE>/<epoch BE>` → 32-byte public key;
//! `cluster_share/<epoch BE>/<index BE>/<worker>` → sealed bytes; `purge/<epoch BE>` → `()`, a
//! retired epoch whose shares are still being deleted.

use crate::balances::HoldReason;
use crate::events::Event;
use crate::genesis::{GenesisConfig, GenesisError};
use crate::invariants::InvariantError;
use crate::module::{ErrorCodes, Module, PrivilegedExecutor};
use crate::{balances, registry, BlockContext, DispatchResult};
use parity_scale_codec::Decode;
use phalanx_primitives::gatekeeper::{
    cluster_id, Cluster, Gatekeeper, GatekeeperParams, KeyEpoch, KeyMessage, Unbonding,
    MAX_CLUSTER_MEMBERS, MAX_GATEKEEPERS, MAX_SEALED_KEY_BYTES,
};
use phalanx_primitives::{AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};
use std::convert::Infallible;

const PARAMS: &[u8] = b"gatekeeper/params";
/// Storage prefix (see the module docs' key list).
pub const MEMBER_PREFIX: &[u8] = b"gatekeeper/member/";
const UNBONDING_PREFIX: &[u8] = b"gatekeeper/unbonding/";
const REQUESTED_EPOCH: &[u8] = b"gatekeeper/requested_epoch";
const CURRENT_EPOCH: &[u8] = phalanx_primitives::gatekeeper::CURRENT_EPOCH_KEY;
/// Storage prefix (see the module docs' key list).
pub const EPOCH_PREFIX: &[u8] = b"gatekeeper/epoch/";
const HOLDER_PREFIX: &[u8] = b"gatekeeper/holder/";
/// Storage prefix (see the module docs' key list).
pub const MASTER_SHARE_PREFIX: &[u8] = b"gatekeeper/master_share/";
const NEXT_CLUSTER: &[u8] = b"gatekeeper/next_cluster";
/// Storage prefix (see the module docs' key list).
pub const CLUSTER_PREFIX: &[u8] = b"gatekeeper/cluster/";
/// Storage prefix (see the module docs' key list).
pub const CLUSTER_MEMBER_PREFIX: &[u8] = b"gatekeeper/cluster_member/";
/// Storage prefix (see the module docs' key list).
pub const CLUSTER_KEY_PREFIX: &[u8] = b"gatekeeper/cluster_key/";
/// Storage prefix (see the module docs' key list).
pub const CLUSTER_SHARE_PREFIX: &[u8] = b"gatekeeper/cluster_share/";
const PURGE_PREFIX: &[u8] = b"gatekeeper/purge/";

/// Most unbondings released in one block; the rest wait for the next (bounded block work).
const RELEASES_PER_BLOCK: usize = 64;
/// Most sealed shares of retired epochs deleted in one block.
const PURGES_PER_BLOCK: usize = 256;

/// Why a gatekeeper call or key message was refused. Chain-visible: variants only grow at the
/// end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum GatekeeperError {
    /// The worker to appoint (or add to a cluster) is not registered.
    #[error("worker {0} is not registered; it must register with a valid attestation first")]
    UnregisteredWorker(String),
    /// Already a gatekeeper.
    #[error("worker {0} is already a gatekeeper")]
    AlreadyAppointed(String),
    /// Not a gatekeeper.
    #[error("{0} is not an appointed gatekeeper")]
    NotAppointed(String),
    /// The gatekeeper set is full.
    #[error("there are already {MAX_GATEKEEPERS} gatekeepers; remove one first")]
    TooManyGatekeepers,
    /// The operator cannot reserve the stake.
    #[error("the operator cannot reserve the gatekeeper stake: {0}")]
    Stake(balances::BalancesError),
    /// No such cluster.
    #[error("cluster {0} does not exist")]
    UnknownCluster(u32),
    /// The worker is already in the cluster.
    #[error("the worker is already a member of cluster {0}")]
    AlreadyMember(u32),
    /// The worker is not in the cluster.
    #[error("the worker is not a member of cluster {0}")]
    NotMember(u32),
    /// The cluster is full.
    #[error("cluster {0} has {MAX_CLUSTER_MEMBERS} members already")]
    ClusterFull(u32),
    /// Rotation needs a published epoch to rotate from.
    #[error(
        "no key epoch has been published yet; appoint a gatekeeper and let it publish epoch 0"
    )]
    NoKeyEpoch,
    /// A new epoch is requested and not yet published.
    #[error("key epoch {0} is already requested and waits for a gatekeeper to publish it")]
    RotationPending(u32),
    /// The epoch cannot be retired (the current one, unknown, or already retired).
    #[error(
        "key epoch {0} cannot be retired: only a published epoch older than the current one, once"
    )]
    CannotRetire(u32),
    /// A master key for an epoch nobody requested (or one already published).
    #[error("key epoch {0} is not waiting for a master key")]
    EpochNotRequested(u32),
    /// A key message about an epoch that is unknown, unpublished or retired.
    #[error("key epoch {0} is not published or is retired")]
    EpochNotLive(u32),
    /// The sending gatekeeper does not hold the epoch it speaks about.
    #[error("the sending gatekeeper does not hold key epoch {0}")]
    NotHolder(u32),
    /// A sealed key over the size limit.
    #[error("a sealed key is {0} bytes, over the {MAX_SEALED_KEY_BYTES}-byte limit")]
    SealedKeyTooLarge(usize),
    /// A cluster share before the cluster's public key of that epoch.
    #[error("cluster {cluster} has no published key for epoch {epoch} yet")]
    NoClusterKey {
        /// The cluster.
        cluster: u32,
        /// The epoch.
        epoch: u32,
    },
    /// A different key for a slot that already holds one: gatekeepers disagree.
    #[error("a different key was already published for this slot; gatekeepers disagree")]
    ConflictingKey,
    /// The payload is not a key message.
    #[error("the key message does not decode: {0}")]
    MalformedMessage(String),
    /// Corrupted state.
    #[error("corrupted gatekeeper state: {0}")]
    Corrupted(String),
    /// The worker's enclave was banned for provable misbehaviour.
    #[error("worker {0} was banned for provable misbehaviour; it can't be a gatekeeper or a cluster member")]
    Banned(String),
    /// The attestation policy in force no longer accepts the worker's platform (its
    /// measurement, TCB status, an advisory or its collateral), whatever it was at registration.
    #[error("the attestation policy no longer accepts worker {0} ({1:?} revoked); it must attest again on a platform the policy accepts")]
    Revoked(String, registry::Revocation),
}

impl ErrorCodes for GatekeeperError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("unregistered_worker", "the worker is not registered"),
        ("already_appointed", "the worker is already a gatekeeper"),
        ("not_appointed", "not an appointed gatekeeper"),
        ("too_many_gatekeepers", "the gatekeeper set is full"),
        ("stake", "the operator cannot reserve the gatekeeper stake"),
        ("unknown_cluster", "the cluster does not exist"),
        ("already_member", "the worker is already in the cluster"),
        ("not_member", "the worker is not in the cluster"),
        ("cluster_full", "the cluster is full"),
        ("no_key_epoch", "no key epoch has been published yet"),
        ("rotation_pending", "a new key epoch is already requested"),
        ("cannot_retire", "the key epoch cannot be retired"),
        (
            "epoch_not_requested",
            "the key epoch is not waiting for a master key",
        ),
        (
            "epoch_not_live",
            "the key epoch is not published or is retired",
        ),
        ("not_holder", "the gatekeeper does not hold the key epoch"),
        (
            "sealed_key_too_large",
            "the sealed key is over the size limit",
        ),
        (
            "no_cluster_key",
            "the cluster has no published key for the epoch",
        ),
        (
            "conflicting_key",
            "a different key was already published for this slot",
        ),
        ("malformed_message", "the key message does not decode"),
        ("corrupted", "the gatekeeper state could not be decoded"),
        ("banned", "the worker was banned for provable misbehaviour"),
        (
            "revoked",
            "the attestation policy no longer accepts the worker's platform",
        ),
    ];

    fn code(&self) -> &'static str {
        match self {
            GatekeeperError::UnregisteredWorker(_) => "unregistered_worker",
            GatekeeperError::AlreadyAppointed(_) => "already_appointed",
            GatekeeperError::NotAppointed(_) => "not_appointed",
            GatekeeperError::TooManyGatekeepers => "too_many_gatekeepers",
            GatekeeperError::Stake(_) => "stake",
            GatekeeperError::UnknownCluster(_) => "unknown_cluster",
            GatekeeperError::AlreadyMember(_) => "already_member",
            GatekeeperError::NotMember(_) => "not_member",
            GatekeeperError::ClusterFull(_) => "cluster_full",
            GatekeeperError::NoKeyEpoch => "no_key_epoch",
            GatekeeperError::RotationPending(_) => "rotation_pending",
            GatekeeperError::CannotRetire(_) => "cannot_retire",
            GatekeeperError::EpochNotRequested(_) => "epoch_not_requested",
            GatekeeperError::EpochNotLive(_) => "epoch_not_live",
            GatekeeperError::NotHolder(_) => "not_holder",
            GatekeeperError::SealedKeyTooLarge(_) => "sealed_key_too_large",
            GatekeeperError::NoClusterKey { .. } => "no_cluster_key",
            GatekeeperError::ConflictingKey => "conflicting_key",
            GatekeeperError::MalformedMessage(_) => "malformed_message",
            GatekeeperError::Corrupted(_) => "corrupted",
            GatekeeperError::Banned(_) => "banned",
            GatekeeperError::Revoked(..) => "revoked",
        }
    }
}

impl From<CodecError> for GatekeeperError {
    fn from(e: CodecError) -> Self {
        GatekeeperError::Corrupted(e.to_string())
    }
}

impl From<registry::RegistryError> for GatekeeperError {
    fn from(e: registry::RegistryError) -> Self {
        GatekeeperError::Corrupted(e.to_string())
    }
}

type Result<T = (), E = GatekeeperError> = std::result::Result<T, E>;

// ---- storage keys (public ones are what clients prove) ----

fn be32(n: u32) -> [u8; 4] {
    n.to_be_bytes()
}

/// The key of gatekeeper `identity`'s record.
pub fn gatekeeper_key(identity: &[u8; 32]) -> Vec<u8> {
    [MEMBER_PREFIX, identity].concat()
}

/// The key of key epoch `epoch`'s record.
pub fn epoch_key(epoch: u32) -> Vec<u8> {
    phalanx_primitives::gatekeeper::epoch_key(epoch)
}

/// The key of the newest published epoch number.
pub fn current_epoch_key() -> Vec<u8> {
    CURRENT_EPOCH.to_vec()
}

/// The key of the epoch number waiting for a master key.
pub fn requested_epoch_key() -> Vec<u8> {
    REQUESTED_EPOCH.to_vec()
}

/// The key marking gatekeeper `identity` as holder of `epoch`.
pub fn holder_key(epoch: u32, identity: &[u8; 32]) -> Vec<u8> {
    [HOLDER_PREFIX, &be32(epoch), b"/", identity].concat()
}

/// The key of `epoch`'s master key sealed to gatekeeper `identity`.
pub fn master_share_key(epoch: u32, identity: &[u8; 32]) -> Vec<u8> {
    [MASTER_SHARE_PREFIX, &be32(epoch), b"/", identity].concat()
}

/// The key of cluster `index`'s record.
pub fn cluster_key(index: u32) -> Vec<u8> {
    [CLUSTER_PREFIX, &be32(index)].concat()
}

/// The key marking `worker` as a member of cluster `index`.
pub fn cluster_member_key(index: u32, worker: &[u8; 32]) -> Vec<u8> {
    [CLUSTER_MEMBER_PREFIX, &be32(index), b"/", worker].concat()
}

/// The key of cluster `index`'s public key in `epoch`.
pub fn cluster_public_key(index: u32, epoch: u32) -> Vec<u8> {
    phalanx_primitives::gatekeeper::cluster_public_key(index, epoch)
}

/// The key of cluster `index`'s `epoch` secret sealed to `worker`. The epoch comes first, so
/// a retired epoch's shares are one contiguous range to purge.
pub fn cluster_share_key(index: u32, epoch: u32, worker: &[u8; 32]) -> Vec<u8> {
    [
        CLUSTER_SHARE_PREFIX,
        &be32(epoch),
        b"/",
        &be32(index),
        b"/",
        worker,
    ]
    .concat()
}

fn unbonding_key(release_at_ms: u64, identity: &[u8; 32]) -> Vec<u8> {
    [
        UNBONDING_PREFIX,
        &release_at_ms.to_be_bytes(),
        b"/",
        identity,
    ]
    .concat()
}

// ---- reads ----

/// The gatekeeper parameters.
pub fn params(state: &State) -> Result<GatekeeperParams, CodecError> {
    Ok(state.get_decoded(PARAMS)?.unwrap_or_default())
}

/// Stores gatekeeper parameters (callers check them with [`crate::params::check_gatekeeper`]).
pub fn set_params(state: &mut State, params: &GatekeeperParams) {
    state.put(PARAMS.to_vec(), params);
}

/// Gatekeeper `identity`, if appointed.
pub fn gatekeeper(state: &State, identity: &[u8; 32]) -> Result<Option<Gatekeeper>, CodecError> {
    state.get_decoded(&gatekeeper_key(identity))
}

/// Whether `identity` is an appointed gatekeeper (the message queue's origin check).
pub fn is_appointed(state: &State, identity: &[u8; 32]) -> Result<bool, CodecError> {
    Ok(state.get(&gatekeeper_key(identity)).is_some())
}

/// Every appointed gatekeeper, in identity order.
pub fn gatekeepers(state: &State) -> Result<Vec<Gatekeeper>, CodecError> {
    state
        .scan_prefix(MEMBER_PREFIX)
        .map(|(_, value)| phalanx_primitives::decode_strict(value, 1 << 12))
        .collect()
}

/// Stakes waiting to be released, in release order.
pub fn unbondings(state: &State) -> Result<Vec<Unbonding>, CodecError> {
    state
        .scan_prefix(UNBONDING_PREFIX)
        .map(|(_, value)| phalanx_primitives::decode_strict(value, 1 << 12))
        .collect()
}

/// The newest published key epoch, if any.
pub fn current_epoch(state: &State) -> Result<Option<u32>, CodecError> {
    state.get_decoded(CURRENT_EPOCH)
}

/// The epoch waiting for a master key, if any.
pub fn requested_epoch(state: &State) -> Result<Option<u32>, CodecError> {
    state.get_decoded(REQUESTED_EPOCH)
}

/// Key epoch `epoch`'s record.
pub fn key_epoch(state: &State, epoch: u32) -> Result<Option<KeyEpoch>, CodecError> {
    state.get_decoded(&epoch_key(epoch))
}

/// Every key epoch ever requested, oldest first.
pub fn key_epochs(state: &State) -> Result<Vec<KeyEpoch>, CodecError> {
    state
        .scan_prefix(EPOCH_PREFIX)
        .map(|(_, value)| phalanx_primitives::decode_strict(value, 1 << 12))
        .collect()
}

/// Whether gatekeeper `identity` holds `epoch`'s master key (as far as the chain knows).
pub fn holds(state: &State, epoch: u32, identity: &[u8; 32]) -> bool {
    state.get(&holder_key(epoch, identity)).is_some()
}

/// `epoch`'s master key sealed to gatekeeper `identity`, if stored.
pub fn master_share(state: &State, epoch: u32, identity: &[u8; 32]) -> Option<Vec<u8>> {
    state
        .get_decoded(&master_share_key(epoch, identity))
        .ok()
        .flatten()
}

/// Cluster `index`.
pub fn cluster(state: &State, index: u32) -> Result<Option<Cluster>, CodecError> {
    state.get_decoded(&cluster_key(index))
}

/// Every cluster, in index order.
pub fn clusters(state: &State) -> Result<Vec<Cluster>, CodecError> {
    state
        .scan_prefix(CLUSTER_PREFIX)
        .map(|(_, value)| phalanx_primitives::decode_strict(value, 1 << 12))
        .collect()
}

/// Whether `worker` is a member of cluster `index`.
pub fn is_member(state: &State, index: u32, worker: &[u8; 32]) -> bool {
    state.get(&cluster_member_key(index, worker)).is_some()
}

/// The members of cluster `index`, in identity order.
pub fn members(state: &State, index: u32) -> Vec<[u8; 32]> {
    let prefix = [CLUSTER_MEMBER_PREFIX, &be32(index), b"/"].concat();
    state
        .scan_prefix(&prefix)
        .filter_map(|(key, _)| key.get(prefix.len()..)?.try_into().ok())
        .collect()
}

/// Cluster `index`'s public key in `epoch`, once published.
pub fn cluster_public(
    state: &State,
    index: u32,
    epoch: u32,
) -> Result<Option<[u8; 32]>, CodecError> {
    state.get_decoded(&cluster_public_key(index, epoch))
}

/// Cluster `index`'s `epoch` secret sealed to `worker`, if stored.
pub fn cluster_share(state: &State, index: u32, epoch: u32, worker: &[u8; 32]) -> Option<Vec<u8>> {
    state
        .get_decoded(&cluster_share_key(index, epoch, worker))
        .ok()
        .flatten()
}

/// Every unit of PHA this module holds reserved: appointed gatekeepers' stakes and stakes in
/// unbonding (the runtime's reserved-balance invariant counts them).
pub fn reserved_total(state: &State) -> Result<Balance, CodecError> {
    let serving: Balance = gatekeepers(state)?.iter().map(|g| g.stake).sum();
    let unbonding: Balance = unbondings(state)?.iter().map(|u| u.amount).sum();
    Ok(serving.saturating_add(unbonding))
}

// ---- privileged calls ----

/// Requests the epoch after the newest one (published or requested); a pending request stays.
fn request_next_epoch(state: &mut State, ctx: &BlockContext, events: &mut Vec<Event>) -> Result {
    if requested_epoch(state)?.is_some() {
        return Ok(());
    }
    let epoch = match current_epoch(state)? {
        Some(current) => current.saturating_add(1),
        None => 0,
    };
    state.put(REQUESTED_EPOCH.to_vec(), &epoch);
    state.put(
        epoch_key(epoch),
        &KeyEpoch {
            epoch,
            master_public: None,
            generator: None,
            requested_at: ctx.height,
            retired_at: None,
        },
    );
    events.push(Event::KeyEpochRequested { epoch });
    Ok(())
}

/// Refuses a worker whose recorded measurement, TCB status, advisories or collateral number the
/// policy in force no longer accepts ([`registry::revocation`]). Not re-checked here: the
/// simulated roots and debug flag (a record keeps neither signer nor debug) and the
/// attestation's age.
fn judge(state: &State, info: &registry::WorkerInfo) -> Result {
    let policy = registry::policy(state)?;
    match registry::revocation(&policy, info) {
        Some(revocation) => Err(GatekeeperError::Revoked(
            hex::encode(info.identity),
            revocation,
        )),
        None => Ok(()),
    }
}

/// Appoints registered worker `identity`, reserving its operator's stake.
pub fn appoint(
    state: &mut State,
    ctx: &BlockContext,
    identity: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result {
    let worker = registry::worker(state, identity)?
        .ok_or_else(|| GatekeeperError::UnregisteredWorker(hex::encode(identity)))?;
    if crate::mining::ban(state, identity)?.is_some() {
        return Err(GatekeeperError::Banned(hex::encode(identity)));
    }
    judge(state, &worker)?;
    if is_appointed(state, identity)? {
        return Err(GatekeeperError::AlreadyAppointed(hex::encode(identity)));
    }
    if gatekeepers(state)?.len() >= MAX_GATEKEEPERS as usize {
        return Err(GatekeeperError::TooManyGatekeepers);
    }
    let stake = params(state)?.stake;
    balances::hold(state, &worker.operator, HoldReason::GatekeeperStake, stake)
        .map_err(GatekeeperError::Stake)?;
    state.put(
        gatekeeper_key(identity),
        &Gatekeeper {
            identity: *identity,
            encryption_key: worker.encryption_key,
            operator: worker.operator,
            stake,
            appointed_at: ctx.height,
        },
    );
    events.push(Event::GatekeeperAppointed {
        identity: *identity,
        operator: worker.operator,
        stake,
    });
    if current_epoch(state)?.is_none() {
        request_next_epoch(state, ctx, events)?;
    }
    Ok(())
}

/// Removes gatekeeper `identity`: its stake unbonds and a new key epoch is requested.
pub fn remove(
    state: &mut State,
    ctx: &BlockContext,
    identity: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result {
    let record = gatekeeper(state, identity)?
        .ok_or_else(|| GatekeeperError::NotAppointed(hex::encode(identity)))?;
    state.remove(&gatekeeper_key(identity));
    // Its enclave erases every master once it sees the removal, so it holds no epoch any more:
    // a re-appointment must be shared them again, into empty slots. (Retired epochs' entries
    // leave with their purge.)
    for epoch in key_epochs(state)? {
        if epoch.retired_at.is_none() {
            state.remove(&holder_key(epoch.epoch, identity));
            state.remove(&master_share_key(epoch.epoch, identity));
        }
    }
    let release_at_ms = ctx.timestamp_ms.saturating_add(params(state)?.unbonding_ms);
    // Appointed and removed twice in one block: the same release slot holds both stakes.
    let key = unbonding_key(release_at_ms, identity);
    let earlier: Option<Unbonding> = state.get_decoded(&key)?;
    let amount = earlier.map_or(0, |u| u.amount).saturating_add(record.stake);
    state.put(
        key,
        &Unbonding {
            identity: *identity,
            operator: record.operator,
            amount,
            release_at_ms,
        },
    );
    events.push(Event::GatekeeperRemoved {
        identity: *identity,
        release_at_ms,
    });
    if current_epoch(state)?.is_some() {
        request_next_epoch(state, ctx, events)?;
    }
    Ok(())
}

/// Punishes enclave `identity` for provable misbehaviour (see the module docs): slashes
/// `per_mille` of its unbonding and serving gatekeeper stake to the treasury, removes it as a
/// gatekeeper, and takes it out of every cluster.
pub fn punish(
    state: &mut State,
    ctx: &BlockContext,
    identity: &[u8; 32],
    per_mille: u16,
    reason: crate::mining::SlashReason,
    events: &mut Vec<Event>,
) -> Result {
    // Stakes are at most the supply (10²¹ units), so the product fits u128.
    let part = |stake: Balance| stake.saturating_mul(Balance::from(per_mille.min(1000))) / 1000;
    let slash = |state: &mut State,
                 operator: &AccountId,
                 amount: Balance,
                 events: &mut Vec<Event>|
     -> Result {
        if amount == 0 {
            return Ok(());
        }
        balances::slash_held(
            state,
            operator,
            HoldReason::GatekeeperStake,
            &crate::treasury::account(),
            amount,
        )
        .map_err(GatekeeperError::Stake)?;
        events.push(Event::GatekeeperSlashed {
            identity: *identity,
            operator: *operator,
            amount,
            reason,
        });
        Ok(())
    };
    // Stake still unbonding from an earlier appointment first (a removal below adds a record).
    for mut record in unbondings(state)? {
        if &record.identity != identity {
            continue;
        }
        let key = unbonding_key(record.release_at_ms, identity);
        let amount = part(record.amount);
        slash(state, &record.operator, amount, events)?;
        record.amount -= amount;
        if record.amount == 0 {
            state.remove(&key);
        } else {
            state.put(key, &record);
        }
    }
    if let Some(mut record) = gatekeeper(state, identity)? {
        let amount = part(record.stake);
        slash(state, &record.operator, amount, events)?;
        record.stake -= amount;
        state.put(gatekeeper_key(identity), &record);
        remove(state, ctx, identity, events)?;
    }
    for cluster in clusters(state)? {
        if is_member(state, cluster.index, identity) {
            remove_worker(state, ctx, cluster.index, identity, events)?;
        }
    }
    Ok(())
}

/// Creates an empty cluster with the next index.
pub fn create_cluster(state: &mut State, ctx: &BlockContext, events: &mut Vec<Event>) -> Result {
    let index: u32 = state.get_decoded(NEXT_CLUSTER)?.unwrap_or(0);
    state.put(NEXT_CLUSTER.to_vec(), &index.saturating_add(1));
    state.put(
        cluster_key(index),
        &Cluster {
            index,
            id: cluster_id(index),
            members: 0,
            created_at: ctx.height,
        },
    );
    events.push(Event::ClusterCreated { cluster: index });
    Ok(())
}

/// Adds registered `worker` to cluster `index`.
pub fn add_worker(
    state: &mut State,
    index: u32,
    worker: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result {
    let mut record = cluster(state, index)?.ok_or(GatekeeperError::UnknownCluster(index))?;
    let Some(info) = registry::worker(state, worker)? else {
        return Err(GatekeeperError::UnregisteredWorker(hex::encode(worker)));
    };
    if crate::mining::ban(state, worker)?.is_some() {
        return Err(GatekeeperError::Banned(hex::encode(worker)));
    }
    judge(state, &info)?;
    if is_member(state, index, worker) {
        return Err(GatekeeperError::AlreadyMember(index));
    }
    if record.members >= MAX_CLUSTER_MEMBERS {
        return Err(GatekeeperError::ClusterFull(index));
    }
    record.members += 1;
    state.put(cluster_key(index), &record);
    state.put(cluster_member_key(index, worker), &());
    events.push(Event::ClusterWorkerAdded {
        cluster: index,
        worker: *worker,
    });
    Ok(())
}

/// Removes `worker` from cluster `index` and requests a new key epoch.
pub fn remove_worker(
    state: &mut State,
    ctx: &BlockContext,
    index: u32,
    worker: &[u8; 32],
    events: &mut Vec<Event>,
) -> Result {
    let mut record = cluster(state, index)?.ok_or(GatekeeperError::UnknownCluster(index))?;
    if !is_member(state, index, worker) {
        return Err(GatekeeperError::NotMember(index));
    }
    record.members = record.members.saturating_sub(1);
    state.put(cluster_key(index), &record);
    state.remove(&cluster_member_key(index, worker));
    events.push(Event::ClusterWorkerRemoved {
        cluster: index,
        worker: *worker,
    });
    if current_epoch(state)?.is_some() {
        request_next_epoch(state, ctx, events)?;
    }
    Ok(())
}

/// Requests a new key epoch with a fresh master key.
pub fn rotate(state: &mut State, ctx: &BlockContext, events: &mut Vec<Event>) -> Result {
    if let Some(pending) = requested_epoch(state)? {
        return Err(GatekeeperError::RotationPending(pending));
    }
    if current_epoch(state)?.is_none() {
        return Err(GatekeeperError::NoKeyEpoch);
    }
    request_next_epoch(state, ctx, events)
}

/// Retires `epoch` (published, older than the current one): its sealed shares leave the state.
pub fn retire(
    state: &mut State,
    ctx: &BlockContext,
    epoch: u32,
    events: &mut Vec<Event>,
) -> Result {
    let current = current_epoch(state)?.ok_or(GatekeeperError::CannotRetire(epoch))?;
    let mut record = key_epoch(state, epoch)?.ok_or(GatekeeperError::CannotRetire(epoch))?;
    if epoch >= current || record.master_public.is_none() || record.retired_at.is_some() {
        return Err(GatekeeperError::CannotRetire(epoch));
    }
    record.retired_at = Some(ctx.height);
    state.put(epoch_key(epoch), &record);
    // Its sealed shares leave the state a bounded number per block (`on_block_end`).
    state.put([PURGE_PREFIX, &be32(epoch)].concat(), &());
    events.push(Event::KeyEpochRetired { epoch });
    Ok(())
}

/// Deletes up to `budget` sealed shares of retired epochs, oldest epoch first; an epoch leaves
/// the purge list once none of its shares is left.
fn purge_retired(state: &mut State, mut budget: usize) {
    let pending: Vec<(Vec<u8>, u32)> = state
        .scan_prefix(PURGE_PREFIX)
        .filter_map(|(key, _)| {
            let epoch = key.get(PURGE_PREFIX.len()..)?.try_into().ok()?;
            Some((key.to_vec(), u32::from_be_bytes(epoch)))
        })
        .collect();
    for (marker, epoch) in pending {
        for prefix in [MASTER_SHARE_PREFIX, CLUSTER_SHARE_PREFIX, HOLDER_PREFIX] {
            let range = [prefix, &be32(epoch), b"/"].concat();
            let keys: Vec<Vec<u8>> = state
                .scan_prefix(&range)
                .take(budget)
                .map(|(k, _)| k.to_vec())
                .collect();
            budget -= keys.len();
            for key in keys {
                state.remove(&key);
            }
            if budget == 0 {
                return;
            }
        }
        state.remove(&marker);
    }
}

// ---- key messages ----

/// Applies key message `payload` from appointed gatekeeper `sender` (the message queue has
/// checked the sender and its signature). On error nothing changed.
pub fn apply_key_message(
    state: &mut State,
    sender: &[u8; 32],
    payload: &[u8],
    events: &mut Vec<Event>,
) -> Result {
    let message: KeyMessage =
        phalanx_primitives::decode_strict(payload, phalanx_primitives::call::MAX_PAYLOAD_BYTES)
            .map_err(|e| GatekeeperError::MalformedMessage(e.to_string()))?;
    match message {
        KeyMessage::MasterKey { epoch, public_key } => {
            if requested_epoch(state)? != Some(epoch) {
                return Err(GatekeeperError::EpochNotRequested(epoch));
            }
            let mut record = key_epoch(state, epoch)?.ok_or(GatekeeperError::Corrupted(
                format!("epoch {epoch} has no record"),
            ))?;
            record.master_public = Some(public_key);
            record.generator = Some(*sender);
            state.put(epoch_key(epoch), &record);
            state.remove(REQUESTED_EPOCH);
            state.put(CURRENT_EPOCH.to_vec(), &epoch);
            state.put(holder_key(epoch, sender), &());
            events.push(Event::MasterKeyPublished {
                epoch,
                public_key,
                generator: *sender,
            });
        }
        KeyMessage::MasterKeyShare {
            epoch,
            gatekeeper: to,
            sealed,
        } => {
            check_live_holder(state, epoch, sender, &sealed)?;
            if !is_appointed(state, &to)? {
                return Err(GatekeeperError::NotAppointed(hex::encode(to)));
            }
            if store_once(state, master_share_key(epoch, &to), &sealed)? {
                state.put(holder_key(epoch, &to), &());
                events.push(Event::MasterKeyShared {
                    epoch,
                    gatekeeper: to,
                });
            }
        }
        KeyMessage::ClusterKey {
            cluster: index,
            epoch,
            public_key,
        } => {
            check_live_holder(state, epoch, sender, &[])?;
            if cluster(state, index)?.is_none() {
                return Err(GatekeeperError::UnknownCluster(index));
            }
            if store_once(state, cluster_public_key(index, epoch), &public_key)? {
                events.push(Event::ClusterKeyPublished {
                    cluster: index,
                    epoch,
                    public_key,
                });
            }
        }
        KeyMessage::ClusterKeyShare {
            cluster: index,
            epoch,
            worker,
            sealed,
        } => {
            check_live_holder(state, epoch, sender, &sealed)?;
            if cluster(state, index)?.is_none() {
                return Err(GatekeeperError::UnknownCluster(index));
            }
            if cluster_public(state, index, epoch)?.is_none() {
                return Err(GatekeeperError::NoClusterKey {
                    cluster: index,
                    epoch,
                });
            }
            if !is_member(state, index, &worker) {
                return Err(GatekeeperError::NotMember(index));
            }
            if store_once(state, cluster_share_key(index, epoch, &worker), &sealed)? {
                events.push(Event::ClusterKeyDelivered {
                    cluster: index,
                    epoch,
                    worker,
                });
            }
        }
    }
    Ok(())
}

/// The epoch is published and not retired, `sender` holds it, and `sealed` is within limits.
fn check_live_holder(state: &State, epoch: u32, sender: &[u8; 32], sealed: &[u8]) -> Result {
    if sealed.len() > MAX_SEALED_KEY_BYTES {
        return Err(GatekeeperError::SealedKeyTooLarge(sealed.len()));
    }
    let live = key_epoch(state, epoch)?
        .is_some_and(|e| e.master_public.is_some() && e.retired_at.is_none());
    if !live {
        return Err(GatekeeperError::EpochNotLive(epoch));
    }
    if !holds(state, epoch, sender) {
        return Err(GatekeeperError::NotHolder(epoch));
    }
    Ok(())
}

/// Stores `value` at `key` if the slot is empty (true); an identical value is accepted as a
/// no-op (false); a different one is a conflict.
fn store_once<V: parity_scale_codec::Encode + Decode + PartialEq>(
    state: &mut State,
    key: Vec<u8>,
    value: &V,
) -> Result<bool> {
    match state.get_decoded::<V>(&key)? {
        None => {
            state.put(key, value);
            Ok(true)
        }
        Some(existing) if existing == *value => Ok(false),
        Some(_) => Err(GatekeeperError::ConflictingKey),
    }
}

/// The gatekeeper module. Nobody calls it directly: governance appoints and removes, and
/// enclaves speak through the message queue.
#[derive(Debug)]
pub struct Gatekeepers;

impl Module for Gatekeepers {
    const NAME: &'static str = "gatekeeper";
    const STORAGE_PREFIX: &'static str = "gatekeeper/";
    type Call = Infallible;
    type Error = GatekeeperError;

    fn dispatch(
        _state: &mut State,
        _ctx: &BlockContext,
        _who: &AccountId,
        call: &Infallible,
        _fee: Balance,
        _events: &mut Vec<Event>,
    ) -> DispatchResult {
        match *call {}
    }

    fn genesis(state: &mut State, config: &GenesisConfig) -> Result<(), GenesisError> {
        set_params(state, &config.gatekeeper);
        Ok(())
    }

    /// Releases the stakes whose unbonding ended, at most [`RELEASES_PER_BLOCK`] a block.
    fn on_block_end(
        state: &mut State,
        ctx: &BlockContext,
        _privileged: PrivilegedExecutor,
    ) -> Vec<Event> {
        let due = state.due_keys(UNBONDING_PREFIX, ctx.timestamp_ms, RELEASES_PER_BLOCK);
        purge_retired(state, PURGES_PER_BLOCK);
        let mut events = Vec::new();
        for key in due {
            let value = state.get(&key).map(|v| v.to_vec()).unwrap_or_default();
            state.remove(&key);
            let Ok(unbonding) = Unbonding::decode(&mut value.as_slice()) else {
                continue;
            };
            // The amount was reserved at appointment and nothing else takes from it, so this
            // cannot fail; if it ever did, the stake stays reserved and the invariant flags it.
            if balances::release(
                state,
                &unbonding.operator,
                HoldReason::GatekeeperStake,
                unbonding.amount,
            )
            .is_ok()
            {
                events.push(Event::GatekeeperStakeReleased {
                    identity: unbonding.identity,
                    operator: unbonding.operator,
                    amount: unbonding.amount,
                });
            }
        }
        events
    }

    /// Every cluster's member count matches its member keys; the current epoch is published.
    fn check_invariants(state: &State) -> Result<(), InvariantError> {
        let unreadable = |e: CodecError| InvariantError::Unreadable(e.to_string());
        for cluster in clusters(state).map_err(unreadable)? {
            let counted = members(state, cluster.index).len() as u32;
            if counted != cluster.members {
                return Err(InvariantError::Inconsistent {
                    module: Self::NAME,
                    detail: format!(
                        "cluster {} records {} members but has {counted}",
                        cluster.index, cluster.members
                    ),
                });
            }
        }
        if let Some(current) = current_epoch(state).map_err(unreadable)? {
            let published = key_epoch(state, current)
                .map_err(unreadable)?
                .is_some_and(|e| e.master_public.is_some());
            if !published {
                return Err(InvariantError::Inconsistent {
                    module: Self::NAME,
                    detail: format!("current key epoch {current} has no master key"),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
