//! The random stream a run draws from: a pure function of its 32-byte seed, so every member of
//! a cluster that runs the same command with the same seed hands the contract the same bytes.
//!
//! Block `i` (counting from 0) is `SHA-256(RANDOM_LABEL || seed || i as u64 little-endian)`;
//! the stream is the blocks one after another, and each `random` host call takes the next bytes
//! of it. For a command the enclave derives the seed from the chain (see the enclave), so the
//! randomness is shared by the cluster and hidden from everyone else; for a query it is fresh
//! enclave randomness.

use sha2::{Digest, Sha256};

/// The domain label hashed before the seed.
pub const RANDOM_LABEL: &[u8] = b"phalanx/contract/random/v1";

/// A deterministic stream of bytes from a seed.
#[derive(Clone)]
pub struct RandomStream {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl std::fmt::Debug for RandomStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The seed is a secret of the run.
        f.debug_struct("RandomStream")
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl RandomStream {
    /// The stream of `seed`, at its start.
    pub fn new(seed: [u8; 32]) -> Self {
        RandomStream {
            seed,
            counter: 0,
            block: [0; 32],
            // Empty: the first byte asked for computes block 0.
            used: 32,
        }
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        for byte in out {
            if self.used == self.block.len() {
                let mut hasher = Sha256::new();
                hasher.update(RANDOM_LABEL);
                hasher.update(self.seed);
                hasher.update(self.counter.to_le_bytes());
                self.block = hasher.finalize().into();
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Pinned: the stream is consensus (every member must hand the contract the same bytes).
    #[test]
    fn stream_of_a_fixed_seed_is_pinned() {
        let mut stream = RandomStream::new([7; 32]);
        let mut out = [0u8; 40];
        stream.fill(&mut out);
        assert_eq!(hex(&out), PINNED_40_BYTES_OF_SEED_7);
    }

    #[test]
    fn draws_split_anywhere_give_the_same_bytes() {
        let mut whole = [0u8; 100];
        RandomStream::new([1; 32]).fill(&mut whole);
        let mut stream = RandomStream::new([1; 32]);
        let mut parts = [0u8; 100];
        let (a, rest) = parts.split_at_mut(3);
        let (b, c) = rest.split_at_mut(40);
        stream.fill(a);
        stream.fill(b);
        stream.fill(c);
        assert_eq!(whole, parts);
        let mut other = [0u8; 100];
        RandomStream::new([2; 32]).fill(&mut other);
        assert_ne!(whole, other);
    }

    // Computed outside this crate (Python hashlib) from the rule in the module docs.
    const PINNED_40_BYTES_OF_SEED_7: &str =
        "6a169a7a1470643d1880038da35aabdab8e6a2d4597cc3bc6bfc84e1f4429f4df5ad377f61946747";
}
