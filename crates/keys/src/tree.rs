//! The key tree (DESIGN.md §8): one random master key per key epoch, and below it a key per
//! cluster and a key per contract, each derived with HKDF-SHA256 under a labelled info string.
//!
//! ```text
//! derive(parent, info) = HKDF-Expand(HKDF-Extract(salt = "phalanx/key-tree/v1", IKM = parent), info, 32)
//!
//! master secret   = derive(master,         "phalanx/key-tree/v1/master")
//! cluster secret  = derive(master,         "phalanx/key-tree/v1/cluster"    ‖ cluster id (32))
//! contract secret = derive(cluster secret, "phalanx/key-tree/v1/contract"   ‖ contract id (32))
//! share seed      = derive(master,         "phalanx/key-tree/v1/share-seed" ‖ recipient (32) ‖ epoch (u64 LE))
//! public          = X25519(secret, 9)   (RFC 7748: the secret is clamped when used as a scalar)
//! ```
//!
//! Every node is an X25519 key pair: clients seal requests to a cluster's or a contract's public
//! key, and the enclaves that hold the node's secret open them ([`crate::open_request`]).
//!
//! Invariants:
//! - Derivation is a pure function of its inputs: every gatekeeper holding the same master
//!   derives the same tree, byte for byte (`docs/vectors/key_tree.json` pins it).
//! - Children are one-way: a cluster secret reveals nothing about the master or about other
//!   clusters, a contract secret nothing about its cluster. Holding a cluster secret does give
//!   every contract key of that cluster (the cluster's workers need them).
//! - The master's own X25519 key is derived under its own label, never the master bytes
//!   themselves, so publishing or using it never exposes the root of the tree.
//! - The labels are distinct and none is a prefix of another, so no two kinds of derivation
//!   share an info string.
//! - A new key epoch starts from a fresh random master ([`MasterKey::generate`]), never one
//!   derived from the old master, so a removed gatekeeper learns nothing about the new tree;
//!   erasing a retired master (dropping it zeroizes it) erases its whole tree.

use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// HKDF-Extract salt of every derivation in the tree.
pub const TREE_SALT: &[u8] = b"phalanx/key-tree/v1";
/// Info of the master's own X25519 secret.
pub const MASTER_LABEL: &[u8] = b"phalanx/key-tree/v1/master";
/// Info prefix of a cluster secret; the cluster id follows.
pub const CLUSTER_LABEL: &[u8] = b"phalanx/key-tree/v1/cluster";
/// Info prefix of a contract secret; the contract id follows.
pub const CONTRACT_LABEL: &[u8] = b"phalanx/key-tree/v1/contract";
/// Info prefix of a key-envelope ephemeral seed; the recipient key and the epoch follow.
pub const SHARE_SEED_LABEL: &[u8] = b"phalanx/key-tree/v1/share-seed";

/// `HKDF-Expand(HKDF-Extract(TREE_SALT, parent), label ‖ parts…, 32)`.
fn derive(parent: &[u8; 32], label: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let hkdf = Hkdf::<Sha256>::new(Some(TREE_SALT), parent);
    let info: Vec<&[u8]> = std::iter::once(label)
        .chain(parts.iter().copied())
        .collect();
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf.expand_multi_info(&info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// The X25519 public key of `secret` (clamped as RFC 7748 says).
fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// One key epoch's master key: 32 random bytes held by the gatekeepers, the root of the tree.
/// Zeroized on drop; its `Debug` shows only its public key.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// A fresh master key for a new key epoch (the first gatekeeper, or a rotation).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    /// The master key from its 32 bytes (as received from another gatekeeper with
    /// [`crate::open_key`], or unsealed from the enclave's state).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    /// The master's 32 bytes, to hand to a new gatekeeper with [`crate::seal_key`] or to seal
    /// into the enclave's state. Never let them leave an enclave otherwise.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    /// The X25519 secret of [`MasterKey::public`] (derived under [`MASTER_LABEL`]).
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        derive(&self.0, MASTER_LABEL, &[])
    }

    /// The master's X25519 public key, which the gatekeepers publish for the epoch.
    pub fn public(&self) -> [u8; 32] {
        x25519_public(&self.secret_bytes())
    }

    /// The key of cluster `cluster_id` (the same as [`cluster_key`]).
    pub fn cluster_key(&self, cluster_id: &[u8; 32]) -> ClusterKey {
        ClusterKey(derive(&self.0, CLUSTER_LABEL, &[cluster_id]))
    }

    /// The secret seed of the ephemeral key with which this master's holders seal keys to
    /// `recipient` (an enclave's X25519 public key) in key epoch `epoch` ([`crate::seal_key`]).
    /// Every gatekeeper derives the same seed, so they emit the same envelope.
    pub fn share_seed(&self, recipient: &[u8; 32], epoch: u64) -> Zeroizing<[u8; 32]> {
        derive(
            &self.0,
            SHARE_SEED_LABEL,
            &[recipient, &epoch.to_le_bytes()],
        )
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("public", &hex::encode(self.public()))
            .finish_non_exhaustive()
    }
}

/// The key of cluster `cluster_id` under `master`.
pub fn cluster_key(master: &MasterKey, cluster_id: &[u8; 32]) -> ClusterKey {
    master.cluster_key(cluster_id)
}

/// A cluster's X25519 key, derived from the master; the parent of its contracts' keys.
/// Zeroized on drop; its `Debug` shows only its public key.
#[derive(Clone)]
pub struct ClusterKey(Zeroizing<[u8; 32]>);

impl ClusterKey {
    /// A cluster key from its secret bytes (as a worker receives it with [`crate::open_key`]).
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*secret))
    }

    /// The key of contract `contract_id` in this cluster.
    pub fn contract_key(&self, contract_id: &[u8; 32]) -> ContractKey {
        ContractKey(derive(&self.0, CONTRACT_LABEL, &[contract_id]))
    }

    /// The cluster's X25519 public key, which requests to the cluster are sealed to.
    pub fn public(&self) -> [u8; 32] {
        x25519_public(&self.0)
    }

    /// The cluster's X25519 secret (also the parent of its contract keys).
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterKey")
            .field("public", &hex::encode(self.public()))
            .finish_non_exhaustive()
    }
}

/// A contract's X25519 key, derived from its cluster's key. Zeroized on drop; its `Debug` shows
/// only its public key.
#[derive(Clone)]
pub struct ContractKey(Zeroizing<[u8; 32]>);

impl ContractKey {
    /// A contract key from its secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self(Zeroizing::new(*secret))
    }

    /// The contract's X25519 public key, which requests to the contract are sealed to.
    pub fn public(&self) -> [u8; 32] {
        x25519_public(&self.0)
    }

    /// The contract's X25519 secret.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }
}

impl std::fmt::Debug for ContractKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractKey")
            .field("public", &hex::encode(self.public()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpke::{open_request, seal_request, RequestContext};
    use rand_core::OsRng;
    use std::collections::HashSet;

    fn master() -> MasterKey {
        MasterKey::from_bytes(&[7; 32])
    }

    #[test]
    fn the_same_master_derives_the_same_tree() {
        let a = MasterKey::from_bytes(&[7; 32]);
        let b = MasterKey::from_bytes(&a.to_bytes());
        assert_eq!(a.public(), b.public());
        assert_eq!(*a.secret_bytes(), *b.secret_bytes());
        let (ca, cb) = (a.cluster_key(&[1; 32]), cluster_key(&b, &[1; 32]));
        assert_eq!(*ca.secret_bytes(), *cb.secret_bytes());
        assert_eq!(ca.public(), cb.public());
        let (ka, kb) = (ca.contract_key(&[2; 32]), cb.contract_key(&[2; 32]));
        assert_eq!(*ka.secret_bytes(), *kb.secret_bytes());
        assert_eq!(ka.public(), kb.public());
        assert_eq!(*a.share_seed(&[3; 32], 9), *b.share_seed(&[3; 32], 9));
    }

    #[test]
    fn a_received_cluster_key_derives_the_same_contracts() {
        let cluster = master().cluster_key(&[1; 32]);
        let received = ClusterKey::from_bytes(&cluster.secret_bytes());
        assert_eq!(
            *received.contract_key(&[5; 32]).secret_bytes(),
            *cluster.contract_key(&[5; 32]).secret_bytes()
        );
        let contract = cluster.contract_key(&[5; 32]);
        assert_eq!(
            ContractKey::from_bytes(&contract.secret_bytes()).public(),
            contract.public()
        );
    }

    #[test]
    fn every_input_changes_every_key() {
        let master = master();
        let mut secrets = HashSet::new();
        secrets.insert(*master.to_bytes());
        secrets.insert(*master.secret_bytes());
        for cluster_id in [[0u8; 32], [1; 32], [2; 32]] {
            let cluster = master.cluster_key(&cluster_id);
            secrets.insert(*cluster.secret_bytes());
            for contract_id in [[0u8; 32], [1; 32], [2; 32]] {
                secrets.insert(*cluster.contract_key(&contract_id).secret_bytes());
            }
        }
        // An id that differs in its last byte only.
        let mut last = [1u8; 32];
        last[31] = 2;
        secrets.insert(*master.cluster_key(&last).secret_bytes());
        // Another master, same ids.
        let other = MasterKey::from_bytes(&[8; 32]);
        secrets.insert(*other.secret_bytes());
        secrets.insert(*other.cluster_key(&[1; 32]).secret_bytes());
        // Master bytes, master secret, 3 clusters, 9 contracts, 1 near-duplicate, 2 other.
        assert_eq!(secrets.len(), 2 + 3 + 9 + 1 + 2);
    }

    #[test]
    fn share_seeds_depend_on_recipient_and_epoch() {
        let master = master();
        let seeds: HashSet<[u8; 32]> = [
            *master.share_seed(&[1; 32], 0),
            *master.share_seed(&[1; 32], 1),
            *master.share_seed(&[2; 32], 0),
            *MasterKey::from_bytes(&[8; 32]).share_seed(&[1; 32], 0),
        ]
        .into_iter()
        .collect();
        assert_eq!(seeds.len(), 4);
    }

    #[test]
    fn generated_masters_differ() {
        let a = MasterKey::generate(&mut OsRng);
        let b = MasterKey::generate(&mut OsRng);
        assert_ne!(*a.to_bytes(), *b.to_bytes());
        assert_ne!(a.public(), b.public());
    }

    #[test]
    fn debug_shows_public_keys_only() {
        let master = master();
        let cluster = master.cluster_key(&[1; 32]);
        let contract = cluster.contract_key(&[2; 32]);
        for (debug, secret, public) in [
            (format!("{master:?}"), master.to_bytes(), master.public()),
            (
                format!("{cluster:?}"),
                cluster.secret_bytes(),
                cluster.public(),
            ),
            (
                format!("{contract:?}"),
                contract.secret_bytes(),
                contract.public(),
            ),
        ] {
            assert!(debug.contains(&hex::encode(public)), "{debug}");
            assert!(!debug.contains(&hex::encode(*secret)), "{debug}");
        }
        assert!(!format!("{master:?}").contains(&hex::encode(*master.secret_bytes())));
    }

    #[test]
    fn tree_keys_open_requests_sealed_to_their_public_keys() {
        let contract = master().cluster_key(&[1; 32]).contract_key(&[2; 32]);
        let ctx = RequestContext::new([2; 32], [3; 16], 1_000);
        let (envelope, sent) =
            seal_request(&contract.public(), &ctx, b"hello", &mut OsRng).expect("seals");
        let (plaintext, received) =
            open_request(&contract.secret_bytes(), &ctx, &envelope).expect("opens");
        assert_eq!(plaintext.as_slice(), b"hello");
        assert_eq!(sent.as_bytes(), received.as_bytes());
    }

    #[test]
    fn labels_are_distinct_and_under_the_salt() {
        let labels = [
            MASTER_LABEL,
            CLUSTER_LABEL,
            CONTRACT_LABEL,
            SHARE_SEED_LABEL,
        ];
        for (i, a) in labels.iter().enumerate() {
            assert!(a.starts_with(TREE_SALT));
            for b in &labels[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{a:?} / {b:?}");
            }
        }
    }
}
