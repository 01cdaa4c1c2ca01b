//! A full node that is not a validator: it follows a validator's RPC, trusting nothing it
//! receives until the validator set's finalization certificate for it checks out.
//!
//! Protocol: poll the source's finalized height; fetch each missing block (`phalanx_rawBlock`)
//! in order; decode it strictly; verify its certificate with the light client's
//! [`verify_finalization_in_epoch`] against the validator set of the block's epoch (read from this node's
//! own re-executed state: after block `h` the state names the set of the epoch containing
//! `h + 1`, see `phalanx_runtime::system`) and check the certificate's epoch; re-execute it ([`Chain::finalize`] checks the
//! state root). Marshal may finalize a block without its own certificate (it was learned as the
//! ancestor of a later finalized block); such a block is accepted only once a later certified
//! block links back to it by parent hashes. A source that lies can stall this node, never
//! mislead it. Limitation: uncertified blocks that cross an epoch boundary cannot be checked
//! (the later certificate is signed by a set this node has not derived yet), so following stalls
//! there.

use crate::chain::Chain;
use parity_scale_codec::Encode;
use phalanx_client::Client;
use phalanx_light_client::certificate::{verify_finalization_in_epoch, PublicKey};
use phalanx_light_client::network_namespace;
use phalanx_primitives::{Block, Hash};
use serde::Deserialize;
use std::time::Duration;

/// Why following stopped or a block was refused.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The source could not be asked.
    #[error("source node: {0}")]
    Source(#[from] phalanx_client::ClientError),
    /// The source sent bytes that are not a block or hex.
    #[error("source sent a malformed block at height {0}")]
    Malformed(u64),
    /// A certificate did not verify.
    #[error("block {height} has an invalid certificate: {reason}")]
    BadCertificate {
        /// Height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// Uncertified blocks did not link to the next certified block.
    #[error("blocks {from}..={to} do not link to a certified block")]
    Unlinked {
        /// First uncertified height.
        from: u64,
        /// Certified height.
        to: u64,
    },
    /// The genesis validator keys are unusable.
    #[error("genesis validator key is not an ed25519 key")]
    BadValidatorKey,
    /// The local chain refused to apply a certified block.
    #[error("the local chain refused block {height}: {reason}")]
    Refused {
        /// Height.
        height: u64,
        /// Why.
        reason: crate::chain::FinalizeError,
    },
    /// Too many blocks without a certificate in a row: a source that withholds certificates
    /// cannot make this node buffer without bound.
    #[error("more than {MAX_UNCERTIFIED} blocks (or {MAX_UNCERTIFIED_BYTES} bytes) in a row without a certificate from {0}")]
    TooManyUncertified(u64),
}

/// Most blocks a follower buffers while waiting for a certified descendant. Marshal certifies
/// most heights itself; an honest source never has this many uncertified heights in a row,
/// and they could not cross an epoch boundary anyway.
pub const MAX_UNCERTIFIED: usize = 64;
/// Most bytes of uncertified blocks a follower buffers (a few full blocks).
pub const MAX_UNCERTIFIED_BYTES: usize = 32 << 20;
/// Most heights one round of following fetches before asking the source's height again, so a
/// source claiming an absurd height costs nothing but its own answers.
pub const MAX_HEIGHTS_PER_ROUND: u64 = 1_024;

#[derive(Deserialize)]
struct RawBlock {
    block: String,
    certificate: String,
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()
}

/// Follows `source` into `chain` until `shutdown` resolves.
pub async fn follow(
    chain: Chain,
    source: Client,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), FollowError> {
    tokio::pin!(shutdown);
    loop {
        let step = async {
            let remote = source.status().await?.height;
            sync_to(&chain, &source, remote).await
        };
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            result = step => {
                if let Err(e) = result {
                    // A lying or unreachable source stalls us; keep trying, loudly.
                    tracing::warn!(error = %e, "following the source failed; retrying");
                }
            }
        }
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

async fn fetch(source: &Client, height: u64) -> Result<(Block, Vec<u8>), FollowError> {
    let raw: RawBlock = source
        .call("phalanx_rawBlock", vec![serde_json::json!(height)])
        .await?;
    let bytes = unhex(&raw.block).ok_or(FollowError::Malformed(height))?;
    let block = Block::decode_strict(&bytes).map_err(|_| FollowError::Malformed(height))?;
    let certificate = unhex(&raw.certificate).ok_or(FollowError::Malformed(height))?;
    // The certificate signs the header only; a body that does not match it is a bad answer,
    // refused before anything is buffered or executed.
    if block.height() != height || !block.tx_root_matches() {
        return Err(FollowError::Malformed(height));
    }
    Ok((block, certificate))
}

/// The validator set of the epoch of the block after `chain`'s head, as its state names it.
fn next_validators(chain: &Chain) -> Result<Vec<PublicKey>, FollowError> {
    use commonware_codec::DecodeExt as _;
    phalanx_runtime::system::validators(&chain.head_state())
        .map_err(|_| FollowError::BadValidatorKey)?
        .iter()
        .map(|key| {
            PublicKey::decode(commonware_codec::Copying(&key[..]))
                .map_err(|_| FollowError::BadValidatorKey)
        })
        .collect()
}

/// Applies every block up to `target`, verified as described in the module docs.
pub async fn sync_to(chain: &Chain, source: &Client, target: u64) -> Result<(), FollowError> {
    use phalanx_runtime::system::epoch_of;
    let mut pending: Vec<Block> = Vec::new();
    let mut pending_bytes = 0usize;
    let mut height = chain.height() + 1;
    let target = target.min(chain.height().saturating_add(MAX_HEIGHTS_PER_ROUND));
    while height <= target {
        let (block, certificate) = fetch(source, height).await?;
        if certificate.is_empty() {
            let size = block.encoded_size();
            if pending.len() >= MAX_UNCERTIFIED || pending_bytes + size > MAX_UNCERTIFIED_BYTES {
                return Err(FollowError::TooManyUncertified(
                    pending.first().map_or(height, Block::height),
                ));
            }
            pending_bytes += size;
            pending.push(block);
            height += 1;
            continue;
        }
        let epoch = epoch_of(height);
        if epoch != epoch_of(chain.height() + 1) {
            return Err(FollowError::BadCertificate {
                height,
                reason: "uncertified blocks before it cross an epoch boundary".into(),
            });
        }
        let validators = next_validators(chain)?;
        let namespace = network_namespace(&chain.genesis_hash());
        verify_finalization_in_epoch(&validators, &namespace, &certificate, &block.hash(), epoch)
            .map_err(|e| FollowError::BadCertificate {
            height,
            reason: e.to_string(),
        })?;
        // Uncertified ancestors must link, by parent hashes, to this certified block.
        let mut expected: Hash = block.header.parent;
        for ancestor in pending.iter().rev() {
            if ancestor.hash() != expected {
                return Err(FollowError::Unlinked {
                    from: pending[0].height(),
                    to: height,
                });
            }
            expected = ancestor.header.parent;
        }
        pending_bytes = 0;
        for ancestor in pending.drain(..) {
            let h = ancestor.height();
            chain
                .finalize(ancestor, Vec::new())
                .map_err(|reason| FollowError::Refused { height: h, reason })?;
        }
        chain
            .finalize(block, certificate)
            .map_err(|reason| FollowError::Refused { height, reason })?;
        height += 1;
    }
    Ok(())
}
