//! The chain block as consensus and marshal see it.
//!
//! Marshal stores and ships blocks with commonware-codec; Phalanx blocks are SCALE encoded. The
//! wrapper frames the chain's canonical bytes with a varint length and checks on decode that the
//! bytes are the block's only encoding, so `encode(decode(bytes)) == bytes` holds as marshal
//! requires. The block hash is computed once, when the wrapper is built.

use super::{digest_of, ChainBlock, Digest};
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error as CodecError, RangeCfg, Read, Write};
use commonware_consensus::{types::Height, BoundedBlock, Heightable};
use commonware_cryptography::Digestible;
use std::fmt;

/// Default bound on a block's encoded size: the largest block the chain builds and accepts
/// ([`phalanx_primitives::block::MAX_BLOCK_BYTES`]). Consensus must carry every block the chain
/// may build: with a smaller bound, a leader whose mempool holds more than the bound proposes
/// blocks its peers cannot receive, and its views time out for as long as its mempool stays full.
pub const DEFAULT_MAX_BLOCK_BYTES: usize = phalanx_primitives::block::MAX_BLOCK_BYTES;

/// A chain block with its canonical bytes and hash, as marshal stores and ships it.
#[derive(Clone)]
pub struct ConsensusBlock<B: ChainBlock> {
    block: B,
    bytes: Bytes,
    digest: Digest,
}

impl<B: ChainBlock> ConsensusBlock<B> {
    /// Wraps a chain block.
    pub fn new(block: B) -> Self {
        let bytes = Bytes::from(block.to_bytes());
        let digest = digest_of(&block.block_hash());
        Self {
            block,
            bytes,
            digest,
        }
    }

    /// The chain block.
    pub fn block(&self) -> &B {
        &self.block
    }

    /// Unwraps the chain block.
    pub fn into_block(self) -> B {
        self.block
    }
}

impl<B: ChainBlock> fmt::Debug for ConsensusBlock<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsensusBlock")
            .field("height", &self.block.block_height())
            .field("hash", &self.block.block_hash())
            .finish()
    }
}

impl<B: ChainBlock> PartialEq for ConsensusBlock<B> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl<B: ChainBlock> Eq for ConsensusBlock<B> {}

impl<B: ChainBlock> Write for ConsensusBlock<B> {
    fn write(&self, buf: &mut impl BufMut) {
        self.bytes.write(buf);
    }
}

impl<B: ChainBlock> EncodeSize for ConsensusBlock<B> {
    fn encode_size(&self) -> usize {
        self.bytes.encode_size()
    }
}

impl<B: ChainBlock> Read for ConsensusBlock<B> {
    /// Maximum size of the chain block's bytes.
    type Cfg = usize;

    fn read_cfg(buf: &mut impl Buf, max_bytes: &usize) -> Result<Self, CodecError> {
        let range: RangeCfg<usize> = (..=*max_bytes).into();
        let bytes = Bytes::read_cfg(buf, &range)?;
        let block = B::from_bytes(&bytes)
            .ok_or(CodecError::Invalid("phalanx::Block", "undecodable block"))?;
        let wrapped = Self::new(block);
        // Reject any alternate encoding: consensus compares blocks by their bytes.
        if wrapped.bytes != bytes {
            return Err(CodecError::Invalid(
                "phalanx::Block",
                "non-canonical encoding",
            ));
        }
        Ok(wrapped)
    }
}

impl<B: ChainBlock> Digestible for ConsensusBlock<B> {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl<B: ChainBlock> Heightable for ConsensusBlock<B> {
    fn height(&self) -> Height {
        Height::new(self.block.block_height())
    }
}

impl<B: ChainBlock> commonware_consensus::Block for ConsensusBlock<B> {
    fn parent(&self) -> Digest {
        digest_of(&self.block.parent_hash())
    }
}

impl<B: ChainBlock> BoundedBlock for ConsensusBlock<B> {
    fn max_encode_size(max_bytes: &usize) -> usize {
        max_bytes.encode_size() + max_bytes
    }
}
