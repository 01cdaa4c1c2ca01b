//! What the RPC tests share (`#[path = "common/gatekeeper.rs"] mod history;`) to give the
//! gatekeeper module something to show: dev workers registered as the SIMULATED dev worker's
//! enclave would register them, root calls that appoint gatekeepers and build clusters, and the
//! key messages a gatekeeper enclave would send (the enclave side is played here; no key
//! material exists behind the published public keys).
//!
//! The node's tests cannot use `phalanx-attestation` (not a dependency of the node), so the
//! simulated quote is put together from what the runtime exposes: the dev quoting enclave signs
//! a report decoded from its SCALE bytes, laid out as `SimulatedReport` is.

#![allow(clippy::panic, dead_code)] // test helpers fail the test by panicking; not every test uses all

use commonware_cryptography::{Hasher, Sha512};
use parity_scale_codec::{Decode, Encode};
use phalanx_client::Client;
use phalanx_node::chain::Chain;
use phalanx_primitives::call::{
    Call, MessageQueueCall, Origin, PrivilegedCall, Registration, RegistryCall, RootCall,
    SignedMessage,
};
use phalanx_primitives::gatekeeper::{KeyMessage, KEY_TOPIC};
use phalanx_primitives::{AccountId, Hash, Keypair};

/// Every transaction sent here may be included up to this height.
pub const EXPIRES_AT: u64 = 600;

/// The identity key of dev test worker `name` (what its enclave would generate).
pub fn worker_identity(name: &str) -> Keypair {
    Keypair::dev(&format!("worker/{name}"))
}

/// Worker `name`'s identity as 32 bytes.
pub fn identity_of(name: &str) -> [u8; 32] {
    worker_identity(name).account().0
}

/// Worker `name`'s X25519 key (any 32 bytes do for the chain).
pub fn encryption_key_of(name: &str) -> [u8; 32] {
    Hash::of_parts(&[b"x25519/", &identity_of(name)]).0
}

/// Signs `call` as dev account `who` with its next nonce (past its pooled transactions) and
/// the required fee, and pools it; returns its hash.
pub fn send(chain: &Chain, who: &str, call: Call) -> Hash {
    let key = Keypair::dev(who);
    let (_, nonce) = chain.next_nonce(&key.account()).expect("nonce");
    let params = phalanx_runtime::system::params(&chain.head_state()).expect("params");
    let tx = Client::sign_with_nonce(
        &key,
        &chain.genesis_hash(),
        &params,
        nonce,
        EXPIRES_AT,
        call,
    );
    chain.submit(&tx.encode()).expect("admitted")
}

/// `call` dispatched by the dev root (alice).
pub fn root(call: PrivilegedCall) -> Call {
    Call::Root(RootCall::Dispatch(call))
}

/// The registration of dev worker `name` for `operator`, citing the chain's head: a quote by
/// the SIMULATED dev quoting enclave of the dev worker build, bound to its keys, this chain
/// and the head (`report_data` = SHA-512 of the domain and those four 32-byte values).
pub fn registration(chain: &Chain, name: &str, operator: AccountId) -> Call {
    let identity = worker_identity(name);
    let encryption_key = encryption_key_of(name);
    let genesis = chain.genesis_hash();
    let head = chain.head();
    let cited = (head.height(), head.hash());
    let report_data = Sha512::hash(&[
        b"phalanx/attestation/report-data/v1",
        &identity.account().0,
        &encryption_key,
        genesis.as_bytes(),
        cited.1.as_bytes(),
    ])
    .0;
    // SimulatedReport = measurement, svn u16, debug bool, report_data, tcb_status (00
    // UpToDate), advisory_ids Vec<String> (empty).
    let report = [
        &phalanx_runtime::genesis::dev_worker_measurement()[..],
        &0u16.to_le_bytes(),
        &[0],
        &report_data,
        &[0],
        &[0],
    ]
    .concat();
    let quote = phalanx_runtime::genesis::dev_quoting_enclave()
        .quote(Decode::decode(&mut report.as_slice()).expect("a simulated report"))
        .encode();
    let registration = Registration {
        identity: identity.account().0,
        encryption_key,
        quote,
        collateral: None,
        recent_block: cited,
        performance: 100,
        endpoint: format!("http://127.0.0.1:81/{name}"),
        operator,
        signature: [0; 64],
    }
    .sign(&identity, &genesis);
    Call::Registry(RegistryCall::Register(registration))
}

/// Gatekeeper `name`'s key message number `sequence`, relayed as a message-queue push.
pub fn key_message(chain: &Chain, name: &str, sequence: u64, message: &KeyMessage) -> Call {
    let identity = worker_identity(name);
    Call::MessageQueue(MessageQueueCall::Push(SignedMessage::new(
        Origin::Gatekeeper(identity.account().0),
        sequence,
        KEY_TOPIC.to_vec(),
        message.encode(),
        &identity,
        &chain.genesis_hash(),
    )))
}

/// What [`gatekeeper_history`] published.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// Epoch 0's master public key.
    pub master: [u8; 32],
    /// Cluster 0's public key in epoch 0.
    pub cluster: [u8; 32],
    /// The heights of the history's four blocks.
    pub heights: [u64; 4],
}

/// The dev test worker names [`gatekeeper_history`] registers.
pub const GATEKEEPER: &str = "gatekeeper";
/// Appointed, put in cluster 0, then removed as gatekeeper.
pub const MEMBER_1: &str = "member-1";
/// In cluster 0.
pub const MEMBER_2: &str = "member-2";

/// Builds a gatekeeper history on `chain`, finalizing each step with `produce`:
/// 1. dave registers dev workers `gatekeeper`, `member-1` and `member-2` (he operates all three);
/// 2. alice, the dev root, appoints `gatekeeper` and `member-1` (dave reserves both stakes;
///    epoch 0 is requested), creates clusters 0 and 1 and adds `member-1` and `member-2` to
///    cluster 0;
/// 3. the gatekeeper's enclave (played here) publishes epoch 0's master public key, then
///    cluster 0's public key in epoch 0 (messages 0 and 1, relayed by dave);
/// 4. alice removes gatekeeper `member-1`: its stake unbonds and epoch 1 is requested.
pub fn gatekeeper_history(chain: &Chain, produce: impl Fn(&Chain)) -> Published {
    let dave = Keypair::dev("dave").account();
    for name in [GATEKEEPER, MEMBER_1, MEMBER_2] {
        send(chain, "dave", registration(chain, name, dave));
    }
    produce(chain);
    let first = chain.height();
    for call in [
        PrivilegedCall::AppointGatekeeper(identity_of(GATEKEEPER)),
        PrivilegedCall::AppointGatekeeper(identity_of(MEMBER_1)),
        PrivilegedCall::CreateCluster,
        PrivilegedCall::CreateCluster,
        PrivilegedCall::AddClusterWorker {
            cluster: 0,
            worker: identity_of(MEMBER_1),
        },
        PrivilegedCall::AddClusterWorker {
            cluster: 0,
            worker: identity_of(MEMBER_2),
        },
    ] {
        send(chain, "alice", root(call));
    }
    produce(chain);
    let master = Hash::of(b"test: master public key of epoch 0").0;
    let cluster = Hash::of(b"test: public key of cluster 0 in epoch 0").0;
    let messages = [
        KeyMessage::MasterKey {
            epoch: 0,
            public_key: master,
        },
        KeyMessage::ClusterKey {
            cluster: 0,
            epoch: 0,
            public_key: cluster,
        },
    ];
    for (sequence, message) in messages.iter().enumerate() {
        send(
            chain,
            "dave",
            key_message(chain, GATEKEEPER, sequence as u64, message),
        );
    }
    produce(chain);
    send(
        chain,
        "alice",
        root(PrivilegedCall::RemoveGatekeeper(identity_of(MEMBER_1))),
    );
    produce(chain);
    let last = chain.height();
    Published {
        master,
        cluster,
        heights: [first, first + 1, first + 2, last],
    }
}

/// Asserts that every transaction of blocks `from..=to` succeeded and no key message was
/// refused (a history that silently failed would make every later check meaningless).
pub fn assert_all_succeeded(chain: &Chain, from: u64, to: u64) {
    for height in from..=to {
        let stored = chain.block(height).expect("read").expect("stored");
        for (tx, receipt) in stored
            .block
            .transactions
            .iter()
            .zip(&stored.outcome.receipts)
        {
            assert_eq!(
                receipt.error, None,
                "block {height}: {:?} failed",
                tx.tx.call
            );
            let refused = receipt
                .events
                .iter()
                .find(|event| matches!(event, phalanx_runtime::Event::KeyMessageRefused { .. }));
            assert_eq!(refused, None, "block {height}: a key message was refused");
        }
    }
}
