//! Gatekeepers, clusters and key epochs: the records the chain keeps about who holds the
//! network's keys, and the key messages gatekeeper enclaves send (DESIGN.md §8).
//!
//! A **gatekeeper** is a registered, attested worker appointed by a privileged call; its
//! operator's [`GatekeeperParams::stake`] is reserved while it serves and during the unbonding
//! period after removal. A **key epoch** has one master key, generated fresh in one gatekeeper's
//! enclave; the chain keeps its public key. A **cluster** is a set of workers that share the
//! cluster key of each epoch, derived from the epoch's master (`phalanx-keys`, key tree).
//!
//! Gatekeeper enclaves speak to the chain through the message queue as
//! [`Origin::Gatekeeper`](crate::call::Origin::Gatekeeper): topic [`KEY_TOPIC`], payload the
//! SCALE encoding of one [`KeyMessage`]. Key material only ever travels sealed (HPKE) to an
//! attested enclave's encryption key; public keys are published in the clear.
//!
//! Chain-visible: [`KeyMessage`] variants only grow at the end.

use crate::hash::Hash;
use crate::units::{Balance, PHA};
use crate::AccountId;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// The message-queue topic of every [`KeyMessage`].
pub const KEY_TOPIC: &[u8] = b"gatekeeper/key";
/// Most gatekeepers appointed at once.
pub const MAX_GATEKEEPERS: u32 = 32;
/// Most workers in one cluster.
pub const MAX_CLUSTER_MEMBERS: u32 = 10_000;
/// Largest sealed key in a [`KeyMessage`]: an HPKE envelope of a 32-byte secret is 80 bytes.
pub const MAX_SEALED_KEY_BYTES: usize = 256;

/// Gatekeeper rules, chain state changed by governance.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct GatekeeperParams {
    /// Units the operator of an appointed gatekeeper must reserve.
    pub stake: Balance,
    /// Chain time (ms of block timestamps) between removal and the stake's release.
    pub unbonding_ms: u64,
}

impl Default for GatekeeperParams {
    fn default() -> Self {
        GatekeeperParams {
            stake: 10_000 * PHA,
            // A week of chain time.
            unbonding_ms: 7 * 24 * 3_600 * 1_000,
        }
    }
}

/// An appointed gatekeeper (stored while it serves; removed ones are in unbonding).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Gatekeeper {
    /// The worker identity (enclave ed25519 key) that speaks as this gatekeeper.
    #[serde(with = "crate::serde_hex")]
    pub identity: [u8; 32],
    /// The enclave's X25519 key, which other gatekeepers seal the master key to.
    #[serde(with = "crate::serde_hex")]
    pub encryption_key: [u8; 32],
    /// The operator whose stake is reserved.
    pub operator: AccountId,
    /// The stake reserved.
    pub stake: Balance,
    /// Height of the appointment.
    pub appointed_at: u64,
}

/// Stake of a removed gatekeeper, released at `release_at_ms` of chain time.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Unbonding {
    /// The removed gatekeeper's identity.
    #[serde(with = "crate::serde_hex")]
    pub identity: [u8; 32],
    /// Whose stake.
    pub operator: AccountId,
    /// How much.
    pub amount: Balance,
    /// The first block timestamp at which it is released.
    pub release_at_ms: u64,
}

/// One key epoch.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct KeyEpoch {
    /// The epoch number (0, 1, …).
    pub epoch: u32,
    /// The master key's public key, once a gatekeeper published it.
    #[serde(with = "crate::serde_hex::option")]
    pub master_public: Option<[u8; 32]>,
    /// The gatekeeper whose enclave generated the master key.
    #[serde(with = "crate::serde_hex::option")]
    pub generator: Option<[u8; 32]>,
    /// Height at which the epoch was requested (first appointment or rotation).
    pub requested_at: u64,
    /// Height at which it was retired: every enclave erases its keys.
    pub retired_at: Option<u64>,
}

/// A cluster of workers that share keys.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Cluster {
    /// Its number, assigned by the chain in creation order.
    pub index: u32,
    /// The 32-byte id the key tree and [`Origin::Cluster`](crate::call::Origin::Cluster) use.
    #[serde(with = "crate::serde_hex")]
    pub id: [u8; 32],
    /// How many workers it has.
    pub members: u32,
    /// Height of its creation.
    pub created_at: u64,
}

/// The storage key of key epoch `epoch`'s [`KeyEpoch`] record: `gatekeeper/epoch/` ‖ epoch u32
/// BE. Defined here, beside the record, because clients prove it (the runtime and the SDK both
/// call this one function).
pub fn epoch_key(epoch: u32) -> Vec<u8> {
    [&b"gatekeeper/epoch/"[..], &epoch.to_be_bytes()].concat()
}

/// The storage key of the current key epoch's number (the newest published one, a SCALE
/// u32): proved by clients beside a cluster key, so they seal only to the current epoch.
pub const CURRENT_EPOCH_KEY: &[u8] = b"gatekeeper/current_epoch";

/// The storage key of cluster `index`'s public key in `epoch`: `gatekeeper/cluster_key/` ‖
/// index u32 BE ‖ `/` ‖ epoch u32 BE (proved by clients, like [`epoch_key`]).
pub fn cluster_public_key(index: u32, epoch: u32) -> Vec<u8> {
    [
        &b"gatekeeper/cluster_key/"[..],
        &index.to_be_bytes(),
        b"/",
        &epoch.to_be_bytes(),
    ]
    .concat()
}

/// The 32-byte id of cluster `index`: `sha256("phalanx/cluster/v1" ‖ index as 4 bytes BE)`.
pub fn cluster_id(index: u32) -> [u8; 32] {
    Hash::of_parts(&[b"phalanx/cluster/v1", &index.to_be_bytes()]).0
}

/// What a gatekeeper enclave tells the chain (payload of a [`KEY_TOPIC`] message).
///
/// The chain checks who may send each kind (see the runtime's `gatekeeper` module); it cannot
/// open sealed keys, so a recipient enclave checks what it opens against the published public
/// key. Every gatekeeper holding an epoch emits byte-identical messages for it (derivation and
/// sealing are deterministic), so the chain keeps one copy and flags a differing one.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyMessage {
    /// The fresh master key of a requested epoch: its public key.
    MasterKey {
        /// The epoch.
        epoch: u32,
        /// The master public key.
        #[serde(with = "crate::serde_hex")]
        public_key: [u8; 32],
    },
    /// The epoch's master key sealed to another gatekeeper's enclave key.
    MasterKeyShare {
        /// The epoch.
        epoch: u32,
        /// The recipient gatekeeper's identity.
        #[serde(with = "crate::serde_hex")]
        gatekeeper: [u8; 32],
        /// The HPKE envelope (`phalanx-keys` `seal_key`).
        #[serde(with = "crate::serde_hex::bytes")]
        sealed: Vec<u8>,
    },
    /// A cluster's public key in an epoch.
    ClusterKey {
        /// The cluster's index.
        cluster: u32,
        /// The epoch.
        epoch: u32,
        /// The cluster public key.
        #[serde(with = "crate::serde_hex")]
        public_key: [u8; 32],
    },
    /// A cluster's secret key of an epoch sealed to one member's enclave key.
    ClusterKeyShare {
        /// The cluster's index.
        cluster: u32,
        /// The epoch.
        epoch: u32,
        /// The member worker's identity.
        #[serde(with = "crate::serde_hex")]
        worker: [u8; 32],
        /// The HPKE envelope.
        #[serde(with = "crate::serde_hex::bytes")]
        sealed: Vec<u8>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_messages_have_one_encoding_and_round_trip() {
        let share = KeyMessage::ClusterKeyShare {
            cluster: 1,
            epoch: 2,
            worker: [3; 32],
            sealed: vec![4; 80],
        };
        let bytes = share.encode();
        // variant 3, cluster u32 LE, epoch u32 LE, worker, compact length 80 (0x40 << 2 = 0x41 0x01), bytes
        assert_eq!(bytes[..9], [3, 1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(bytes[41..43], [0x41, 0x01]);
        assert_eq!(
            crate::decode_strict::<KeyMessage>(&bytes, 1024).ok(),
            Some(share.clone())
        );
        let json = serde_json::to_string(&share).expect("serializes");
        assert_eq!(serde_json::from_str::<KeyMessage>(&json).ok(), Some(share));
    }

    #[test]
    fn cluster_ids_differ_per_index() {
        assert_ne!(cluster_id(0), cluster_id(1));
        assert_eq!(cluster_id(7), cluster_id(7));
    }
}
