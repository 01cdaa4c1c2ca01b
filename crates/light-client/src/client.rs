//! The light client proper: a verified head that only moves forward on certified headers.

use crate::certificate::{verify_finalization, FinalizedAt, PublicKey};
use crate::{Error, Result};
use commonware_codec::{Copying, DecodeExt};
use parity_scale_codec::Encode;
use phalanx_primitives::{Block, Hash, Header};
use phalanx_state::Proof;

/// Follows a chain from its genesis header, trusting only what the validator set certified.
#[derive(Clone, Debug)]
pub struct LightClient {
    namespace: Vec<u8>,
    validators: Vec<PublicKey>,
    genesis: Hash,
    head: Header,
}

impl LightClient {
    /// Starts at the genesis header, trusting `validators` (ed25519 consensus keys) to certify
    /// blocks under `namespace` (the network's consensus namespace).
    pub fn new(genesis: Header, validators: &[[u8; 32]], namespace: &[u8]) -> Result<LightClient> {
        if genesis.height != 0 {
            return Err(Error::NotGenesis(genesis.height));
        }
        let validators = validators
            .iter()
            .map(|key| PublicKey::decode(Copying(&key[..])).map_err(|_| Error::BadValidatorKey))
            .collect::<Result<Vec<_>>>()?;
        if validators.is_empty() {
            return Err(Error::BadValidatorKey);
        }
        Ok(LightClient {
            namespace: namespace.to_vec(),
            validators,
            genesis: genesis.hash(),
            head: genesis,
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

    /// Accepts `header` if `certificate` finalizes it under the validator set and it is newer
    /// than the current head. Headers are final, so an older or equal height is refused as a
    /// replay rather than silently ignored.
    pub fn accept_header(&mut self, header: &Header, certificate: &[u8]) -> Result<FinalizedAt> {
        if header.height <= self.head.height {
            return Err(Error::NotNewer {
                height: header.height,
                head: self.head.height,
            });
        }
        let at = verify_finalization(
            &self.validators,
            &self.namespace,
            certificate,
            &header.hash(),
        )?;
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

    /// Accepts a whole block: its header as in [`Self::accept_header`] and its transactions
    /// against the header's transaction root.
    pub fn accept_block(&mut self, block: &Block, certificate: &[u8]) -> Result<FinalizedAt> {
        if !block.tx_root_matches() {
            return Err(Error::TxRootMismatch);
        }
        self.accept_header(&block.header, certificate)
    }

    /// Checks that in the state after the head, `key` holds `value` (or is absent if `None`).
    pub fn verify_value(&self, key: &[u8], value: Option<&[u8]>, proof: &Proof) -> Result<()> {
        proof.verify(&self.head.state_root, key, value)?;
        Ok(())
    }

    /// One-shot check without following: `certificate` finalizes `header` under the validator
    /// set, and `proof` shows `key` → `value` in its state. For clients that fetch a single
    /// proven value (e.g. `phalanx_stateProof`).
    pub fn verify_proven_value(
        &self,
        header: &Header,
        certificate: &[u8],
        key: &[u8],
        value: Option<&[u8]>,
        proof: &Proof,
    ) -> Result<FinalizedAt> {
        let at = verify_finalization(
            &self.validators,
            &self.namespace,
            certificate,
            &header.hash(),
        )?;
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
        header: Header,
        state: State,
        validators: Vec<[u8; 32]>,
        cert: Vec<u8>,
    }

    fn fixture() -> Fixture {
        let all = keys(4);
        let mut state = State::new();
        state.insert(b"balance/alice".to_vec(), b"100".to_vec());
        state.insert(b"balance/bob".to_vec(), b"7".to_vec());
        let genesis = Header {
            parent: Hash::ZERO,
            height: 0,
            timestamp_ms: 0,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
        };
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
            header,
            state,
            validators: raw_publics(&all),
            cert,
        }
    }

    #[test]
    fn follows_certified_headers_and_proves_values() {
        let mut f = fixture();
        let mut client =
            LightClient::new(f.genesis.clone(), &f.validators, NAMESPACE).expect("client");
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
        let mut client =
            LightClient::new(f.genesis.clone(), &f.validators, NAMESPACE).expect("client");
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
        let mut client =
            LightClient::new(f.genesis.clone(), &f.validators, NAMESPACE).expect("client");
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
        let mut client =
            LightClient::new(f.genesis.clone(), &f.validators, NAMESPACE).expect("client");
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
        let mut client =
            LightClient::new(f.genesis.clone(), &f.validators, NAMESPACE).expect("client");
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
            LightClient::new(f.header.clone(), &f.validators, NAMESPACE).is_err(),
            "must start at genesis"
        );
    }
}
