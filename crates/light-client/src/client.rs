//! The light client proper: a verified head that only moves forward on certified headers, and
//! the validator set that certifies them, which it follows across epochs by state proof.
//!
//! # Validator sets
//!
//! Heights are split into epochs of [`EPOCH_LENGTH`] blocks and each epoch is certified by its
//! own set. The state after block `h` names, under [`VALIDATORS_KEY`], the set of the epoch
//! containing `h + 1`. So the client starts from the genesis header and the set proven against
//! the genesis state root (never a set taken as given), accepts headers of that epoch only
//! (their certificates must name it), and once its head is an epoch's last block it must be
//! shown the next set by a proof against that block's state root before it accepts anything
//! later. Once the client is past an epoch, that epoch's retired set can certify nothing it
//! accepts. (A client starting from genesis, or one rolled back to older saved progress, walks
//! through old epochs again and trusts their sets there: keys that leak after they retire are
//! a long-range risk that a checkpoint or a monotonic counter closes.)

use crate::certificate::{verify_finalization_in_epoch, FinalizedAt, PublicKey};
use crate::{Error, Result};
use commonware_codec::{Copying, DecodeExt};
use parity_scale_codec::Encode;
use phalanx_primitives::{Block, Hash, Header};
use phalanx_state::Proof;

/// Blocks per epoch; the runtime's `system::EPOCH_LENGTH` (a node test checks they agree).
pub const EPOCH_LENGTH: u64 = 64;
/// State key of the validator set (a SCALE `Vec<[u8; 32]>` of ed25519 keys): the runtime's
/// `system/validators` (a node test checks they agree).
pub const VALIDATORS_KEY: &[u8] = b"system/validators";

/// The epoch containing `height`.
pub fn epoch_of(height: u64) -> u64 {
    height / EPOCH_LENGTH
}

/// The last height of `epoch` (its boundary block).
pub fn last_height_of(epoch: u64) -> u64 {
    epoch
        .saturating_mul(EPOCH_LENGTH)
        .saturating_add(EPOCH_LENGTH - 1)
}

/// Follows a chain from its genesis header, trusting only what each epoch's validator set
/// certified.
#[derive(Clone, Debug)]
pub struct LightClient {
    namespace: Vec<u8>,
    genesis: Hash,
    head: Header,
    /// The epoch whose set `validators` is: always the epoch of `head.height + 1`, except right
    /// after an epoch's last block, until [`LightClient::advance_epoch`] moves it on.
    epoch: u64,
    validators: Vec<PublicKey>,
    raw_validators: Vec<[u8; 32]>,
}

/// Decodes a validator set: non-empty, each key a valid ed25519 key.
fn decode_set(validators: &[[u8; 32]]) -> Result<Vec<PublicKey>> {
    if validators.is_empty() {
        return Err(Error::BadValidatorKey);
    }
    let keys = validators
        .iter()
        .map(|key| PublicKey::decode(Copying(&key[..])).map_err(|_| Error::BadValidatorKey))
        .collect::<Result<Vec<_>>>()?;
    // Small-order or non-canonical keys would let anyone sign for them: refused up front.
    crate::certificate::check_validator_keys(&keys)?;
    Ok(keys)
}

/// Checks that `proof` shows `validators` under [`VALIDATORS_KEY`] in the state with `root`.
fn verify_set(root: &Hash, validators: &[[u8; 32]], proof: &Proof) -> Result<()> {
    proof.verify(root, VALIDATORS_KEY, Some(&validators.to_vec().encode()))?;
    Ok(())
}

impl LightClient {
    /// Starts at the genesis header. `validators` must be the genesis state's set, shown by
    /// `proof` against the genesis state root; blocks are certified under `namespace` (the
    /// network's consensus namespace).
    pub fn new(
        genesis: Header,
        validators: &[[u8; 32]],
        proof: &Proof,
        namespace: &[u8],
    ) -> Result<LightClient> {
        if genesis.height != 0 {
            return Err(Error::NotGenesis(genesis.height));
        }
        verify_set(&genesis.state_root, validators, proof)?;
        Ok(LightClient {
            namespace: namespace.to_vec(),
            validators: decode_set(validators)?,
            raw_validators: validators.to_vec(),
            genesis: genesis.hash(),
            head: genesis,
            epoch: 0,
        })
    }

    /// Resumes from state saved by this client earlier (and kept authenticated, e.g. sealed):
    /// the genesis hash, head, epoch and set as [`Self::epoch`] and [`Self::validators`] gave
    /// them.
    pub fn resume(
        genesis: Hash,
        head: Header,
        epoch: u64,
        validators: &[[u8; 32]],
        namespace: &[u8],
    ) -> Result<LightClient> {
        // The epoch of the next header, or the head's own epoch while the head is that epoch's
        // last block and the next set has not been shown yet.
        let next = epoch_of(head.height.saturating_add(1));
        let pending = epoch.saturating_add(1) == next && head.height == last_height_of(epoch);
        if epoch != next && !pending {
            return Err(Error::WrongEpoch {
                height: head.height,
                epoch,
            });
        }
        Ok(LightClient {
            namespace: namespace.to_vec(),
            validators: decode_set(validators)?,
            raw_validators: validators.to_vec(),
            genesis,
            head,
            epoch,
        })
    }

    /// The genesis hash this client follows.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis
    }

    /// The newest verified header.
    pub fn head(&self) -> &Header {
        &self.head
    }

    /// The epoch whose validator set the client holds.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// That set, as raw ed25519 keys.
    pub fn validators(&self) -> &[[u8; 32]] {
        &self.raw_validators
    }

    /// Whether the head is the last block of the client's epoch, so the next epoch's set must be
    /// shown ([`Self::advance_epoch`]) before any later header.
    pub fn needs_next_set(&self) -> bool {
        self.head.height == last_height_of(self.epoch)
    }

    /// Accepts `header` if `certificate` finalizes it under the set of the client's epoch, it is
    /// in that epoch and it is newer than the current head. Headers are final, so an older or
    /// equal height is refused as a replay rather than silently ignored.
    pub fn accept_header(&mut self, header: &Header, certificate: &[u8]) -> Result<FinalizedAt> {
        if header.height <= self.head.height {
            return Err(Error::NotNewer {
                height: header.height,
                head: self.head.height,
            });
        }
        let at = self.certified(header, certificate)?;
        if header.height == self.head.height + 1 && header.parent != self.head.hash() {
            // Two certified headers at consecutive heights that do not link: the validator set
            // signed a fork, which only more than a third of byzantine validators can do.
            return Err(Error::Fork {
                height: header.height,
            });
        }
        self.head = header.clone();
        Ok(at)
    }

    /// Checks that `header` is in the client's epoch and `certificate` finalizes it under that
    /// epoch's set.
    fn certified(&self, header: &Header, certificate: &[u8]) -> Result<FinalizedAt> {
        if epoch_of(header.height) != self.epoch {
            return Err(Error::WrongEpoch {
                height: header.height,
                epoch: self.epoch,
            });
        }
        Ok(verify_finalization_in_epoch(
            &self.validators,
            &self.namespace,
            certificate,
            &header.hash(),
            self.epoch,
        )?)
    }

    /// Accepts a whole block: its header as in [`Self::accept_header`] and its transactions
    /// against the header's transaction root.
    pub fn accept_block(&mut self, block: &Block, certificate: &[u8]) -> Result<FinalizedAt> {
        if !block.tx_root_matches() {
            return Err(Error::TxRootMismatch);
        }
        self.accept_header(&block.header, certificate)
    }

    /// Moves to the next epoch: the head must be the last block of the current one, and `proof`
    /// must show `validators` under [`VALIDATORS_KEY`] in its state.
    pub fn advance_epoch(&mut self, validators: &[[u8; 32]], proof: &Proof) -> Result<()> {
        if !self.needs_next_set() {
            return Err(Error::NotAtBoundary {
                head: self.head.height,
                epoch: self.epoch,
            });
        }
        verify_set(&self.head.state_root, validators, proof)?;
        self.validators = decode_set(validators)?;
        self.raw_validators = validators.to_vec();
        self.epoch += 1;
        Ok(())
    }

    /// Checks that in the state after the head, `key` holds `value` (or is absent if `None`).
    pub fn verify_value(&self, key: &[u8], value: Option<&[u8]>, proof: &Proof) -> Result<()> {
        proof.verify(&self.head.state_root, key, value)?;
        Ok(())
    }

    /// One-shot check without following: `certificate` finalizes `header` under the set of the
    /// client's epoch (and `header` is in it), and `proof` shows `key` → `value` in its state.
    /// For clients that fetch a single proven value (e.g. `phalanx_stateProof`).
    pub fn verify_proven_value(
        &self,
        header: &Header,
        certificate: &[u8],
        key: &[u8],
        value: Option<&[u8]>,
        proof: &Proof,
    ) -> Result<FinalizedAt> {
        if header.height < self.head.height {
            return Err(Error::NotNewer {
                height: header.height,
                head: self.head.height,
            });
        }
        let at = self.certified(header, certificate)?;
        proof.verify(&header.state_root, key, value)?;
        Ok(at)
    }

    /// The encoded head header (for sealing the client's progress).
    pub fn encoded_head(&self) -> Vec<u8> {
        self.head.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::NAMESPACE;
    use crate::testing::{certify, keys, raw_publics};
    use phalanx_state::State;

    struct Fixture {
        genesis: Header,
        genesis_proof: Proof,
        header: Header,
        state: State,
        validators: Vec<[u8; 32]>,
        cert: Vec<u8>,
    }

    fn fixture() -> Fixture {
        let all = keys(4);
        let mut state = State::new();
        state.insert(VALIDATORS_KEY.to_vec(), raw_publics(&all).encode());
        let genesis = Header {
            parent: Hash::ZERO,
            height: 0,
            timestamp_ms: 0,
            tx_root: Hash::ZERO,
            state_root: state.root(),
        };
        let genesis_proof = state.prove(VALIDATORS_KEY);
        state.insert(b"balance/alice".to_vec(), b"100".to_vec());
        state.insert(b"balance/bob".to_vec(), b"7".to_vec());
        let header = Header {
            parent: genesis.hash(),
            height: 1,
            timestamp_ms: 1,
            tx_root: Hash::ZERO,
            state_root: state.root(),
        };
        let cert = certify(&all, &[0, 1, 2], NAMESPACE, header.hash());
        Fixture {
            genesis,
            genesis_proof,
            header,
            state,
            validators: raw_publics(&all),
            cert,
        }
    }

    #[test]
    fn follows_certified_headers_and_proves_values() {
        let mut f = fixture();
        let mut client = LightClient::new(
            f.genesis.clone(),
            &f.validators,
            &f.genesis_proof,
            NAMESPACE,
        )
        .expect("client");
        client.accept_header(&f.header, &f.cert).expect("certified");
        assert_eq!(client.head(), &f.header);
        let proof = f.state.prove(b"balance/alice");
        client
            .verify_value(b"balance/alice", Some(b"100"), &proof)
            .expect("proven");
        let absent = f.state.prove(b"balance/carol");
        client
            .verify_value(b"balance/carol", None, &absent)
            .expect("absence proven");
    }

    #[test]
    fn a_tampered_value_is_rejected() {
        let mut f = fixture();
        let mut client = LightClient::new(
            f.genesis.clone(),
            &f.validators,
            &f.genesis_proof,
            NAMESPACE,
        )
        .expect("client");
        client.accept_header(&f.header, &f.cert).expect("certified");
        let proof = f.state.prove(b"balance/alice");
        assert!(matches!(
            client.verify_value(b"balance/alice", Some(b"1000"), &proof),
            Err(Error::Proof(_))
        ));
        assert!(matches!(
            client.verify_value(b"balance/alice", None, &proof),
            Err(Error::Proof(_))
        ));
    }

    #[test]
    fn a_proof_for_another_root_is_rejected() {
        let f = fixture();
        let mut client = LightClient::new(
            f.genesis.clone(),
            &f.validators,
            &f.genesis_proof,
            NAMESPACE,
        )
        .expect("client");
        client.accept_header(&f.header, &f.cert).expect("certified");
        let mut other = f.state.clone();
        other.insert(b"balance/alice".to_vec(), b"1000".to_vec());
        let proof = other.prove(b"balance/alice");
        assert!(matches!(
            client.verify_value(b"balance/alice", Some(b"1000"), &proof),
            Err(Error::Proof(_))
        ));
        // The same proof checked one-shot against the certified header fails too.
        assert!(client
            .verify_proven_value(&f.header, &f.cert, b"balance/alice", Some(b"1000"), &proof)
            .is_err());
    }

    #[test]
    fn a_forged_certificate_is_rejected_and_the_head_does_not_move() {
        let f = fixture();
        let mut client = LightClient::new(
            f.genesis.clone(),
            &f.validators,
            &f.genesis_proof,
            NAMESPACE,
        )
        .expect("client");
        // Signed by outsiders pretending to be the validator set.
        let outsiders: Vec<_> = (100..104).map(crate::testing::key).collect();
        let forged = certify(&outsiders, &[0, 1, 2, 3], NAMESPACE, f.header.hash());
        assert!(matches!(
            client.accept_header(&f.header, &forged),
            Err(Error::Certificate(_))
        ));
        // A valid certificate for another header.
        let mut lie = f.header.clone();
        lie.state_root = Hash::of(b"forged state");
        assert!(matches!(
            client.accept_header(&lie, &f.cert),
            Err(Error::Certificate(_))
        ));
        assert_eq!(client.head(), &f.genesis);
        assert!(client.accept_header(&f.header, &[0xde, 0xad]).is_err());
    }

    #[test]
    fn replays_and_forks_are_refused() {
        let f = fixture();
        let all = keys(4);
        let mut client = LightClient::new(
            f.genesis.clone(),
            &f.validators,
            &f.genesis_proof,
            NAMESPACE,
        )
        .expect("client");
        client.accept_header(&f.header, &f.cert).expect("certified");
        assert!(matches!(
            client.accept_header(&f.header, &f.cert),
            Err(Error::NotNewer { .. })
        ));
        let fork = Header {
            parent: Hash::of(b"elsewhere"),
            height: 2,
            timestamp_ms: 2,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        };
        let cert = certify(&all, &[0, 1, 3], NAMESPACE, fork.hash());
        assert!(matches!(
            client.accept_header(&fork, &cert),
            Err(Error::Fork { height: 2 })
        ));
        assert!(
            LightClient::new(f.header.clone(), &f.validators, &f.genesis_proof, NAMESPACE).is_err(),
            "must start at genesis"
        );
    }

    /// A header at height `height` whose state holds `validators` as the set.
    fn boundary_header(height: u64, validators: &[[u8; 32]]) -> (Header, State) {
        let mut state = State::new();
        state.insert(VALIDATORS_KEY.to_vec(), validators.to_vec().encode());
        let header = Header {
            parent: Hash::of(b"somewhere in the epoch"),
            height,
            timestamp_ms: height,
            tx_root: Hash::ZERO,
            state_root: state.root(),
        };
        (header, state)
    }

    #[test]
    fn the_genesis_set_must_be_proven_against_the_genesis_state() {
        let f = fixture();
        // A host pinning its own key: the proof does not show that set in the genesis state.
        let own = raw_publics(&keys(1));
        assert!(matches!(
            LightClient::new(f.genesis.clone(), &own, &f.genesis_proof, NAMESPACE),
            Err(Error::Proof(_))
        ));
        // The right set with a proof from another state.
        let (_, mut other) = boundary_header(0, &own);
        assert!(LightClient::new(
            f.genesis.clone(),
            &f.validators,
            &other.prove(VALIDATORS_KEY),
            NAMESPACE
        )
        .is_err());
    }

    #[test]
    fn follows_the_validator_set_across_an_epoch_boundary_and_retires_the_old_one() {
        use crate::testing::certify_in_epoch;
        let f = fixture();
        let old_keys = keys(4);
        let new_keys: Vec<_> = (10..14).map(crate::testing::key).collect();
        let new_set = raw_publics(&new_keys);
        let mut client = LightClient::new(
            f.genesis.clone(),
            &f.validators,
            &f.genesis_proof,
            NAMESPACE,
        )
        .expect("client");

        // The epoch's last block names the next set in its state.
        let (boundary, mut state) = boundary_header(EPOCH_LENGTH - 1, &new_set);
        assert!(matches!(
            client.advance_epoch(&new_set, &state.prove(VALIDATORS_KEY)),
            Err(Error::NotAtBoundary { head: 0, epoch: 0 })
        ));
        client
            .accept_header(
                &boundary,
                &certify_in_epoch(&old_keys, &[0, 1, 2], NAMESPACE, boundary.hash(), 0),
            )
            .expect("the old set certifies its own epoch");
        assert!(client.needs_next_set());

        // Before the next set is shown, nothing of epoch 1 is accepted, whoever signed it.
        let next = Header {
            parent: boundary.hash(),
            height: EPOCH_LENGTH,
            timestamp_ms: EPOCH_LENGTH,
            tx_root: Hash::ZERO,
            state_root: Hash::of(b"epoch 1"),
        };
        let by_new = certify_in_epoch(&new_keys, &[0, 1, 2], NAMESPACE, next.hash(), 1);
        assert!(matches!(
            client.accept_header(&next, &by_new),
            Err(Error::WrongEpoch { epoch: 0, .. })
        ));

        // A forged set (the host's own keys), or a proof from another state, is refused.
        let forged = raw_publics(&keys(1));
        assert!(client
            .advance_epoch(&forged, &state.prove(VALIDATORS_KEY))
            .is_err());
        let (_, mut elsewhere) = boundary_header(EPOCH_LENGTH - 1, &forged);
        assert!(client
            .advance_epoch(&forged, &elsewhere.prove(VALIDATORS_KEY))
            .is_err());
        assert_eq!(client.epoch(), 0);

        client
            .advance_epoch(&new_set, &state.prove(VALIDATORS_KEY))
            .expect("proven next set");
        assert_eq!(client.epoch(), 1);
        assert_eq!(client.validators(), new_set.as_slice());

        // The retired set can certify nothing now, in any epoch.
        for epoch in [0, 1] {
            let by_old = certify_in_epoch(&old_keys, &[0, 1, 2, 3], NAMESPACE, next.hash(), epoch);
            assert!(matches!(
                client.accept_header(&next, &by_old),
                Err(Error::Certificate(_))
            ));
        }
        // The new set certifying in the wrong epoch is refused too.
        let wrong_epoch = certify_in_epoch(&new_keys, &[0, 1, 2], NAMESPACE, next.hash(), 0);
        assert!(client.accept_header(&next, &wrong_epoch).is_err());
        client.accept_header(&next, &by_new).expect("the new set");
        assert_eq!(client.head(), &next);

        // Resuming from saved progress keeps the epoch and set.
        let resumed = LightClient::resume(
            client.genesis_hash(),
            client.head().clone(),
            client.epoch(),
            client.validators(),
            NAMESPACE,
        )
        .expect("resume");
        assert_eq!(resumed.epoch(), 1);
        assert!(LightClient::resume(
            client.genesis_hash(),
            client.head().clone(),
            3,
            client.validators(),
            NAMESPACE
        )
        .is_err());
    }
}
