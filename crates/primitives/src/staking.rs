//! Validator bonds (DESIGN.md §6): PHA a validator's consensus account holds as a bond, which
//! stored equivocation evidence slashes. The rules live in the runtime's `staking` module.
//!
//! Chain-visible.

use crate::units::Balance;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Most unbonding chunks one bond may have waiting.
pub const MAX_UNBONDING_CHUNKS: usize = 16;

/// Staking rules: chain state changed through the privileged path, within bounds.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct StakingParams {
    /// Chain time (ms) between an unbond and the PHA's release: long enough for evidence of
    /// what the validator signed before to be reported and slashed.
    pub unbonding_ms: u64,
    /// Per-mille of its bond (bonded and unbonding) a validator loses for each stored fault.
    pub equivocation_slash_per_mille: u16,
    /// The least a key's account must have bonded (not counting unbonding chunks) for
    /// `SetValidators` to name it, so every validator has something a fault can slash.
    pub min_validator_bond: Balance,
}

impl Default for StakingParams {
    fn default() -> Self {
        StakingParams {
            // 28 days of chain time.
            unbonding_ms: 28 * 86_400_000,
            equivocation_slash_per_mille: 100,
            // 0.005% of the supply: a tenth of it is what one stored fault costs.
            min_validator_bond: 50_000 * crate::units::PHA,
        }
    }
}

/// A chunk of a bond on its way out: released once both its time and its height are reached
/// (the height outlasts the evidence window, so a fault signed while bonded can still be
/// reported and slashed even if block time jumps, after a halt say).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Unbonding {
    /// Chain time (ms) from which it may be released.
    pub release_at_ms: u64,
    /// Height from which it may be released.
    pub release_at_height: u64,
    /// Units.
    pub amount: Balance,
}

/// An account's validator bond.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Bond {
    /// Units bonded (what a fault slashes first).
    pub bonded: Balance,
    /// Chunks on their way out, oldest first.
    pub unbonding: Vec<Unbonding>,
    /// Units slashed, ever.
    pub slashed: Balance,
}

impl Bond {
    /// Bonded and unbonding together: what a fault's slash is a fraction of.
    pub fn total(&self) -> Balance {
        self.unbonding
            .iter()
            .fold(self.bonded, |sum, chunk| sum.saturating_add(chunk.amount))
    }
}
