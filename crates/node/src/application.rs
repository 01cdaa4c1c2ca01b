//! The chain as consensus sees it: [`Application`] for [`Chain`], [`ChainBlock`] for [`Block`].

use crate::chain::{Chain, FinalizeError};
use crate::consensus::{Application, ChainBlock, Misbehaviour, PublicKey, Verdict};
use commonware_codec::DecodeExt as _;
use parity_scale_codec::Encode;
use phalanx_primitives::{Block, Hash};

impl ChainBlock for Block {
    fn block_hash(&self) -> Hash {
        self.hash()
    }

    fn block_height(&self) -> u64 {
        self.header.height
    }

    fn parent_hash(&self) -> Hash {
        self.header.parent
    }

    fn timestamp_ms(&self) -> u64 {
        self.header.timestamp_ms
    }

    fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Strict, and the body must match the header: consensus agrees on the header hash only,
    /// so a peer serving the right header with other transactions is refused here, at decode
    /// time, and blocked by the network layer.
    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Block::decode_strict(bytes)
            .ok()
            .filter(|block| block.tx_root_matches())
    }
}

impl Application for Chain {
    type Block = Block;

    fn genesis(&self) -> Block {
        self.genesis_block()
    }

    fn propose(&self, parent: &Block, timestamp_ms: u64) -> Option<Block> {
        self.build(parent, timestamp_ms)
    }

    fn observe_view(&self, view: u64) {
        self.metrics().view(view);
    }

    fn verify(&self, parent: &Block, block: &Block, now_ms: u64) -> Verdict {
        if !self.knows_state_after(&parent.hash()) {
            return Verdict::UnknownParent;
        }
        if self.check_at(parent, block, now_ms) {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    }

    fn finalized(&self, block: Block, certificate: Option<Vec<u8>>) {
        match self.finalize(block, certificate.unwrap_or_default()) {
            Ok(()) | Err(FinalizeError::AlreadyApplied(_)) => {}
            Err(err) => tracing::warn!(%err, "finalized block not applied"),
        }
    }

    fn finalized_height(&self) -> u64 {
        self.height()
    }

    fn finalized_hash(&self, height: u64) -> Option<Hash> {
        self.block(height)
            .ok()
            .flatten()
            .map(|stored| stored.block.hash())
    }

    fn next_validators(&self) -> Option<Vec<PublicKey>> {
        let keys = phalanx_runtime::system::validators(&self.head_state()).ok()?;
        let keys: Vec<PublicKey> = keys
            .iter()
            .filter_map(|key| PublicKey::decode(commonware_codec::Copying(&key[..])).ok())
            .collect();
        (!keys.is_empty()).then_some(keys)
    }

    fn block_interval(&self) -> Option<std::time::Duration> {
        let params = phalanx_runtime::system::params(&self.head_state()).ok()?;
        Some(std::time::Duration::from_millis(params.block_interval_ms))
    }

    fn genesis_validators(&self) -> Option<Vec<PublicKey>> {
        let keys = self.genesis_config().validator_keys().ok()?;
        let keys: Vec<PublicKey> = keys
            .iter()
            .filter_map(|key| PublicKey::decode(commonware_codec::Copying(&key[..])).ok())
            .collect();
        (!keys.is_empty()).then_some(keys)
    }

    fn peer_address(&self, validator: &PublicKey) -> Option<std::net::SocketAddr> {
        use commonware_codec::Encode as _;
        let key = <[u8; 32]>::try_from(validator.encode().as_ref()).ok()?;
        phalanx_runtime::peers::address(&self.head_state(), &phalanx_primitives::AccountId(key))
            .ok()
            .flatten()
    }

    fn take_gossip(&self, max_bytes: usize) -> Vec<Vec<u8>> {
        Chain::take_gossip(self, max_bytes)
    }

    fn admit_gossip(&self, batch: &[u8]) -> bool {
        Chain::admit_gossip(self, batch)
    }

    fn misbehaviour(&self, evidence: Misbehaviour) {
        self.report_fault(format!("{evidence:?}"));
        match self.report_evidence(evidence.evidence) {
            Ok(hash) => tracing::info!(%hash, "submitted the fault evidence to the chain"),
            Err(reason) => tracing::warn!(%reason, "fault evidence not submitted"),
        }
    }
}
