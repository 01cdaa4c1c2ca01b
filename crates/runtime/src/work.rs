//! The work-point formula of the mining economics (DESIGN.md §5, Phala's formula), as pure
//! [`Fixed`] functions every validator computes alike:
//! - the least stake a worker needs to compute: `k·sqrt(P)` PHA;
//! - its initial mining value `Ve = (1 + conf·(re − 1))·(S + rig_k·P)`, at most `v_max`;
//! - `V` grows by `rho` per hour online up to `v_max`, and falls by `decay` per hour while
//!   unresponsive (a worker that is down loses value faster than it gains it back);
//! - its share `sqrt(V² + (2·P·conf)²)`, and work points `share × hours` while responsive.
//!
//! `P` is the attested benchmark score, `conf` the confidence the attestation policy gives the
//! platform's TCB status (1.0 up to date … 0.7 out of date), `S` the stake bound to the worker
//! in PHA. Every step rounds down ([`crate::fixed`]); `None` means an overflow (with the
//! defaults it can't happen; bounds come when the parameters become chain state).

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::fixed::Fixed;

/// The formula's parameters (the DESIGN.md defaults; not yet chain parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct WorkParams {
    /// `re`: how much confidence multiplies the initial value (1.3).
    pub re: Fixed,
    /// `rig_k`: PHA of value per point of performance score (0.3).
    pub rig_k: Fixed,
    /// `k`: the stake a worker needs is `k·sqrt(P)` PHA (100).
    pub k: Fixed,
    /// `v_max`: the most a worker's value grows to (30,000).
    pub v_max: Fixed,
    /// `rho`: growth of the value per hour online (1.0002).
    pub rho: Fixed,
    /// The value's factor per hour while unresponsive (0.9996).
    pub decay: Fixed,
    /// The least performance score a worker may compute with (50).
    pub min_p: u32,
}

impl Default for WorkParams {
    fn default() -> Self {
        WorkParams {
            re: Fixed::from_raw(1_300_000_000_000),
            rig_k: Fixed::from_raw(300_000_000_000),
            k: Fixed::from_int(100),
            v_max: Fixed::from_int(30_000),
            rho: Fixed::from_raw(1_000_200_000_000),
            decay: Fixed::from_raw(999_600_000_000),
            min_p: 50,
        }
    }
}

/// `conf` from a confidence in per-mille (the attestation policy's unit), at most one.
pub fn confidence(per_mille: u16) -> Fixed {
    Fixed::from_raw(u128::from(per_mille.min(1000)) * (Fixed::SCALE / 1000))
}

/// The least stake, in PHA, a worker with score `p` needs to compute: `k·sqrt(P)`.
pub fn min_stake(params: &WorkParams, p: u32) -> Option<Fixed> {
    params.k.checked_mul(Fixed::from_int(u64::from(p)).sqrt())
}

/// The initial mining value `Ve = (1 + conf·(re − 1))·(S + rig_k·P)`, at most `v_max`, for a
/// worker with score `p`, confidence `conf` and `stake` PHA bound to it.
pub fn initial_value(params: &WorkParams, p: u32, conf: Fixed, stake: Fixed) -> Option<Fixed> {
    let boost = Fixed::ONE.checked_add(conf.checked_mul(params.re.saturating_sub(Fixed::ONE))?)?;
    let base = stake.checked_add(params.rig_k.checked_mul(Fixed::from_int(u64::from(p)))?)?;
    Some(boost.checked_mul(base)?.min(params.v_max))
}

/// `v` after `hours` online: `v·rho^hours`, at most `v_max` (a value already above it stays
/// where it is).
pub fn grown(params: &WorkParams, v: Fixed, hours: u64) -> Fixed {
    if v >= params.v_max {
        return v;
    }
    // rho^hours overflows only long after v_max is reached.
    params
        .rho
        .pow(hours)
        .and_then(|factor| v.checked_mul(factor))
        .map_or(params.v_max, |grown| grown.min(params.v_max))
}

/// `v` after `hours` unresponsive: `v·decay^hours`.
pub fn decayed(params: &WorkParams, v: Fixed, hours: u64) -> Fixed {
    // decay ≤ 1 (a parameter bound), so neither step overflows.
    params
        .decay
        .pow(hours)
        .and_then(|factor| v.checked_mul(factor))
        .unwrap_or(Fixed::ZERO)
}

/// A worker's share: `sqrt(V² + (2·P·conf)²)`.
pub fn share(v: Fixed, p: u32, conf: Fixed) -> Option<Fixed> {
    let performance = Fixed::from_int(2 * u64::from(p)).checked_mul(conf)?;
    v.checked_mul(v)?
        .checked_add(performance.checked_mul(performance)?)
        .map(Fixed::sqrt)
}

/// Work points for `elapsed_ms` of responsive work at `share`: `share × hours`.
pub fn points(share: Fixed, elapsed_ms: u64) -> Option<Fixed> {
    share.checked_mul(Fixed::from_ratio(u128::from(elapsed_ms), 3_600_000)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_worker_of_score_1000_at_full_confidence_with_the_least_stake() {
        let params = WorkParams::default();
        let conf = confidence(1000);
        assert_eq!(conf, Fixed::ONE);
        // k·sqrt(1000) = 100 × 31.622776601683 = 3,162.2776601683 PHA.
        let stake = min_stake(&params, 1000).unwrap();
        assert_eq!(stake.raw(), 3_162_277_660_168_300);
        // Ve = 1.3 × (3,162.2776601683 + 300).
        let ve = initial_value(&params, 1000, conf, stake).unwrap();
        assert_eq!(ve.raw(), 4_500_960_958_218_790);
        // share = sqrt(Ve² + 2000²).
        let s = share(ve, 1000, conf).unwrap();
        assert_eq!(s.raw(), 4_925_307_051_079_131);
        // A day online: Ve × 1.0002^24; a day down: Ve × 0.9996^24.
        assert_eq!(grown(&params, ve, 24).raw(), 4_522_615_334_374_293);
        assert_eq!(decayed(&params, ve, 24).raw(), 4_457_949_913_625_583);
        // Half an hour of work at that share.
        assert_eq!(points(s, 1_800_000).unwrap().raw(), s.raw() / 2);
    }

    #[test]
    fn confidence_lowers_value_and_share_and_v_max_caps_growth() {
        let params = WorkParams::default();
        let stake = Fixed::from_int(5_000);
        let full = initial_value(&params, 2000, confidence(1000), stake).unwrap();
        let out_of_date = initial_value(&params, 2000, confidence(700), stake).unwrap();
        assert!(out_of_date < full);
        assert!(
            share(out_of_date, 2000, confidence(700)).unwrap()
                < share(full, 2000, confidence(1000)).unwrap()
        );
        assert_eq!(confidence(1500), Fixed::ONE, "confidence is at most one");
        // A large stake starts at v_max; growth never passes it.
        let big = initial_value(&params, 2000, Fixed::ONE, Fixed::from_int(1_000_000)).unwrap();
        assert_eq!(big, params.v_max);
        assert_eq!(
            grown(&params, Fixed::from_int(29_999), 10_000),
            params.v_max
        );
        assert_eq!(grown(&params, params.v_max, 1), params.v_max);
    }

    proptest! {
        #[test]
        fn value_moves_the_right_way_and_stays_in_bounds(
            p in 50u32..100_000,
            per_mille in 0u16..=1000,
            stake_pha in 0u64..10_000_000,
            hours in 0u64..50_000,
        ) {
            let params = WorkParams::default();
            let conf = confidence(per_mille);
            let ve = initial_value(&params, p, conf, Fixed::from_int(stake_pha)).unwrap();
            prop_assert!(ve <= params.v_max);
            let up = grown(&params, ve, hours);
            let down = decayed(&params, ve, hours);
            prop_assert!(up >= ve && up <= params.v_max);
            prop_assert!(down <= ve);
            // The share is at least each of its two legs.
            let s = share(up, p, conf).unwrap();
            prop_assert!(s >= up.saturating_sub(Fixed::from_raw(1)));
            let leg = Fixed::from_int(2 * u64::from(p)).checked_mul(conf).unwrap();
            prop_assert!(s >= leg.saturating_sub(Fixed::from_raw(1)));
        }
    }
}
