//! Test doubles for driving an enclave: a certified chain (honest validators), and the ways a
//! hostile host can lie to it — outsiders' certificates, replays, gaps, forks.
#![allow(dead_code)] // each test binary uses a different part

use commonware_cryptography::ed25519::PrivateKey;
use parity_scale_codec::Encode;
use phalanx_light_client::testing::{certify, certify_in_epoch, keys, raw_publics};
use phalanx_light_client::{epoch_of, last_height_of, network_namespace, VALIDATORS_KEY};
use phalanx_primitives::block::tx_root;
use phalanx_primitives::{Block, Hash, Header};
use phalanx_state::State;
use phalanx_worker::enclave::platform::MemoryCounter;
use phalanx_worker::enclave::{Committed, Pending};
use phalanx_worker::{Ecall, Enclave, EnclaveInfo, Reply, SimulatedPlatform};

/// A chain of certified blocks, each with the state it commits to. Each epoch is certified by
/// its own set: `sets[e]` (the last set keeps certifying once the list runs out).
pub struct FakeChain {
    pub validators: Vec<PrivateKey>,
    pub sets: Vec<Vec<PrivateKey>>,
    pub blocks: Vec<Block>,
    pub certificates: Vec<Vec<u8>>,
    pub states: Vec<State>,
}

/// A block at `height` on `parent` committing to `state` (no transactions).
pub fn block(parent: Hash, height: u64, state: &mut State) -> Block {
    Block {
        header: Header {
            parent,
            height,
            timestamp_ms: 1_000 * height,
            tx_root: tx_root(&[]),
            state_root: state.root(),
        },
        transactions: vec![],
    }
}

impl FakeChain {
    /// Genesis plus `length` blocks, certified by 3 of 4 validators. Block `h`'s state holds
    /// `counter` → `h`, `block/<h>` → `h` and the validator set of the epoch of `h + 1`.
    pub fn new(length: u64) -> FakeChain {
        FakeChain::with_sets(length, vec![keys(4)])
    }

    /// Like [`Self::new`], with epoch `e` certified by `sets[e]`.
    pub fn with_sets(length: u64, sets: Vec<Vec<PrivateKey>>) -> FakeChain {
        FakeChain::with_state(length, sets, |_, _| {})
    }

    /// Like [`Self::with_sets`], with `edit(h, state)` run on the state of every block `h`
    /// (genesis included) before it is committed to.
    pub fn with_state(
        length: u64,
        sets: Vec<Vec<PrivateKey>>,
        edit: impl Fn(u64, &mut State),
    ) -> FakeChain {
        let mut state = State::new();
        state.insert(b"counter".to_vec(), 0u64.encode());
        state.insert(VALIDATORS_KEY.to_vec(), raw_publics(&sets[0]).encode());
        edit(0, &mut state);
        let genesis = block(Hash::ZERO, 0, &mut state);
        let mut chain = FakeChain {
            validators: sets[0].clone(),
            sets,
            blocks: vec![genesis],
            certificates: vec![vec![]],
            states: vec![state],
        };
        for _ in 0..length {
            chain.extend_with(&edit);
        }
        chain
    }

    /// The set certifying `epoch`.
    pub fn set(&self, epoch: u64) -> &[PrivateKey] {
        let index = usize::try_from(epoch)
            .expect("small")
            .min(self.sets.len() - 1);
        &self.sets[index]
    }

    /// Appends one certified block.
    pub fn extend(&mut self) {
        self.extend_with(&|_, _| {});
    }

    /// Appends one certified block, with `edit` run on its state.
    pub fn extend_with(&mut self, edit: &impl Fn(u64, &mut State)) {
        let parent = self.blocks.last().expect("genesis exists");
        let height = parent.header.height + 1;
        let parent_hash = parent.hash();
        let mut state = self.states.last().expect("genesis state").clone();
        state.insert(b"counter".to_vec(), height.encode());
        state.insert(format!("block/{height}").into_bytes(), height.encode());
        state.insert(
            VALIDATORS_KEY.to_vec(),
            raw_publics(self.set(epoch_of(height + 1))).encode(),
        );
        edit(height, &mut state);
        let block = block(parent_hash, height, &mut state);
        let certificate = self.certify(&block);
        self.blocks.push(block);
        self.certificates.push(certificate);
        self.states.push(state);
    }

    /// A certificate by 3 of the 4 honest validators of the block's epoch.
    pub fn certify(&self, block: &Block) -> Vec<u8> {
        let epoch = epoch_of(block.height());
        certify_in_epoch(
            self.set(epoch),
            &[0, 1, 2],
            &self.namespace(),
            block.hash(),
            epoch,
        )
    }

    /// A certificate by 4 outsiders who are not the validator set.
    pub fn forge(&self, block: &Block) -> Vec<u8> {
        let outsiders: Vec<PrivateKey> =
            (100..104).map(phalanx_light_client::testing::key).collect();
        certify(&outsiders, &[0, 1, 2, 3], &self.namespace(), block.hash())
    }

    /// The genesis validators' raw public keys.
    pub fn validator_keys(&self) -> Vec<[u8; 32]> {
        raw_publics(&self.validators)
    }

    pub fn genesis_hash(&self) -> Hash {
        self.blocks[0].hash()
    }

    /// The network's consensus namespace (the base plus this genesis hash).
    pub fn namespace(&self) -> Vec<u8> {
        network_namespace(&self.genesis_hash())
    }

    /// The ecall that pins this chain (the genesis set with its proof).
    pub fn init(&self) -> Ecall {
        let mut genesis_state = self.states[0].clone();
        Ecall::InitChain {
            genesis_block: self.blocks[0].encode(),
            validators: self.validator_keys(),
            validators_proof: genesis_state.prove(VALIDATORS_KEY).encode(),
        }
    }

    /// The ecall that shows the set of `epoch` (proven in the previous epoch's last block).
    pub fn advance(&self, epoch: u64) -> Ecall {
        let boundary = usize::try_from(last_height_of(epoch - 1)).expect("small");
        let mut state = self.states[boundary].clone();
        Ecall::AdvanceEpoch {
            validators: raw_publics(self.set(epoch)),
            proof: state.prove(VALIDATORS_KEY).encode(),
        }
    }

    /// The ecall that relays block `height` with its honest certificate.
    pub fn sync(&self, height: u64) -> Ecall {
        let i = usize::try_from(height).expect("small");
        Ecall::SyncBlock {
            block: self.blocks[i].encode(),
            certificate: self.certificates[i].clone(),
        }
    }
}

/// One simulated machine: its platform secret, the enclave build it runs and its one
/// monotonic counter, which every enclave started on it shares (as hardware would).
#[derive(Clone, Debug)]
pub struct Machine {
    pub secret: [u8; 32],
    pub measurement: [u8; 32],
    pub counter: MemoryCounter,
}

impl Machine {
    /// A machine running the dev worker build.
    pub fn new(secret: u8) -> Machine {
        Machine {
            secret: [secret; 32],
            measurement: phalanx_runtime::genesis::dev_worker_measurement(),
            counter: MemoryCounter::new(),
        }
    }

    /// The same machine (secret and counter) running another enclave build.
    pub fn running(&self, measurement: [u8; 32]) -> Machine {
        Machine {
            measurement,
            ..self.clone()
        }
    }

    /// The platform an enclave started on this machine gets.
    pub fn platform(&self) -> SimulatedPlatform {
        SimulatedPlatform::new(
            self.secret,
            self.measurement,
            phalanx_runtime::genesis::dev_quoting_enclave(),
        )
        .with_counter(self.counter.clone())
    }

    /// A new enclave (new keys), committed; returns it and its committed blob.
    pub fn fresh(&self) -> (Enclave, Vec<u8>) {
        let (mut enclave, started) = Enclave::start(self.platform(), &[]).expect("fresh start");
        let pending = started.pending.expect("new keys are pending");
        commit(&mut enclave, &pending);
        (enclave, pending.sealed)
    }

    /// An enclave restarted from `sealed`.
    pub fn restart(&self, sealed: &[u8]) -> Enclave {
        Enclave::start(self.platform(), &[sealed])
            .expect("restart")
            .0
    }
}

/// A fresh committed dev enclave on a new machine with the given platform secret.
pub fn enclave(secret: u8) -> (Enclave, Machine) {
    let machine = Machine::new(secret);
    let (enclave, _) = machine.fresh();
    (enclave, machine)
}

/// An enclave restarted on `machine` from `sealed`.
pub fn restart(machine: &Machine, sealed: &[u8]) -> Enclave {
    machine.restart(sealed)
}

/// Commits `pending` (the host stored it) and returns what was released.
pub fn commit(enclave: &mut Enclave, pending: &Pending) -> Committed {
    match enclave
        .ecall(Ecall::Commit {
            counter: pending.counter,
        })
        .expect("commits")
    {
        Reply::Committed(committed) => committed,
        other => panic!("unexpected reply {other:?}"),
    }
}

pub fn info(enclave: &mut Enclave) -> EnclaveInfo {
    match enclave.ecall(Ecall::Info).expect("info never fails") {
        Reply::Info(info) => info,
        other => panic!("unexpected reply {other:?}"),
    }
}

pub fn head(enclave: &mut Enclave) -> u64 {
    info(enclave).head.expect("pinned").0
}

/// Seals and commits the enclave's state; returns the committed blob.
pub fn seal(enclave: &mut Enclave) -> Vec<u8> {
    match enclave.ecall(Ecall::Seal).expect("seals") {
        Reply::Pending(pending) => {
            commit(enclave, &pending);
            pending.sealed
        }
        other => panic!("unexpected reply {other:?}"),
    }
}

/// The committed messages the enclave hands out again.
pub fn outbox(enclave: &mut Enclave) -> Vec<phalanx_primitives::call::SignedMessage> {
    match enclave.ecall(Ecall::Outbox).expect("outbox never fails") {
        Reply::Outbox(messages) => messages,
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Pins `chain` and syncs blocks `1..=to`, showing each epoch's set at its boundary.
pub fn synced(chain: &FakeChain, enclave: &mut Enclave, to: u64) {
    enclave.ecall(chain.init()).expect("pins");
    for height in 1..=to {
        match enclave.ecall(chain.sync(height)).expect("honest block") {
            Reply::Synced {
                needs_next_set: true,
                ..
            } => {
                enclave
                    .ecall(chain.advance(epoch_of(height) + 1))
                    .expect("proven next set");
            }
            Reply::Synced { .. } => {}
            other => panic!("unexpected reply {other:?}"),
        }
    }
}
