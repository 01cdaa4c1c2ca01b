//! Deterministic fixed-point arithmetic for the mining economics (DESIGN.md §5): `sqrt`,
//! `0.75^k`, `rho^hours` and the products of the work-point formula, the same on every
//! validator and in every enclave, with no floating point.
//!
//! A [`Fixed`] is an unsigned number with twelve decimal places, stored as `value × 10^12` in a
//! `u128`: the same scale as PHA's units, so a balance in units *is* a `Fixed` amount of PHA.
//! The largest value is about 3.4·10^26.
//!
//! # Rounding
//! Every operation rounds **down** (toward zero), once, at its end: [`Fixed::checked_mul`] is
//! `floor(a·b / 10^12)`, [`Fixed::checked_div`] is `floor(a·10^12 / b)`, [`Fixed::sqrt`] is the
//! largest `r` with `r² ≤ a`. [`Fixed::pow`] multiplies by squaring, rounding down at every
//! product, so its result is never above the exact power. Each squaring doubles the error it
//! inherits and each product adds one unit (10^-12): for a base ≤ 1, `x^n` is at most
//! `n + 2·log2(n) + 2` units below (0.75^k over 200 periods: 2·10^-10); for a base above 1 the
//! error is relative, about `2·n` units (rho^hours over a year: 2·10^-8). Overflow is an error
//! (`None`), never a wrap. The property tests in this module check all of it against exact
//! big-integer results.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// An unsigned fixed-point number with twelve decimal places (see the module docs).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    Serialize,
    Deserialize,
)]
pub struct Fixed(u128);

/// `10^12`: one, in raw units.
const SCALE: u128 = 1_000_000_000_000;

impl Fixed {
    /// Zero.
    pub const ZERO: Fixed = Fixed(0);
    /// One.
    pub const ONE: Fixed = Fixed(SCALE);
    /// The raw units of one (`10^12`).
    pub const SCALE: u128 = SCALE;

    /// The number whose raw units are `raw` (`raw / 10^12`).
    pub const fn from_raw(raw: u128) -> Fixed {
        Fixed(raw)
    }

    /// Its raw units (`value × 10^12`).
    pub const fn raw(self) -> u128 {
        self.0
    }

    /// The whole number `n`.
    pub const fn from_int(n: u64) -> Fixed {
        Fixed(n as u128 * SCALE)
    }

    /// `numerator / denominator`, rounded down; `None` for a zero denominator or overflow.
    pub fn from_ratio(numerator: u128, denominator: u128) -> Option<Fixed> {
        mul_div(numerator, SCALE, denominator).map(Fixed)
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Fixed) -> Option<Fixed> {
        self.0.checked_add(other.0).map(Fixed)
    }

    /// `self − other`, or `None` below zero.
    pub fn checked_sub(self, other: Fixed) -> Option<Fixed> {
        self.0.checked_sub(other.0).map(Fixed)
    }

    /// `self − other`, or zero below zero.
    pub fn saturating_sub(self, other: Fixed) -> Fixed {
        Fixed(self.0.saturating_sub(other.0))
    }

    /// `self × other`, rounded down; `None` on overflow.
    pub fn checked_mul(self, other: Fixed) -> Option<Fixed> {
        mul_div(self.0, other.0, SCALE).map(Fixed)
    }

    /// `self / other`, rounded down; `None` for zero or overflow.
    pub fn checked_div(self, other: Fixed) -> Option<Fixed> {
        mul_div(self.0, SCALE, other.0).map(Fixed)
    }

    /// `self × n` for a whole `n` (a balance in units times a factor), rounded down; `None` on
    /// overflow. The result is in raw units: multiplying a balance by a `Fixed` factor gives a
    /// balance.
    pub fn mul_units(self, units: u128) -> Option<u128> {
        mul_div(self.0, units, SCALE)
    }

    /// The square root, rounded down: the largest `r` with `r × r ≤ self` (in raw units,
    /// `floor(sqrt(raw × 10^12))`). Always defined.
    pub fn sqrt(self) -> Fixed {
        // sqrt(raw/S)·S = sqrt(raw·S); raw·S can pass u128, so it is a 256-bit root.
        let (hi, lo) = wide_mul(self.0, SCALE);
        Fixed(isqrt_wide(hi, lo))
    }

    /// `self^n` by squaring, rounding down at every product; `None` on overflow.
    pub fn pow(self, mut n: u64) -> Option<Fixed> {
        let mut result = Fixed::ONE;
        let mut base = self;
        while n > 0 {
            if n & 1 == 1 {
                result = result.checked_mul(base)?;
            }
            n >>= 1;
            if n > 0 {
                // The squared base is used again (n has a bit left), and every power of a base
                // above one is at least one, so its overflow is the result's.
                base = base.checked_mul(base)?;
            }
        }
        Some(result)
    }
}

impl core::fmt::Display for Fixed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let fraction = format!("{:012}", self.0 % SCALE);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            write!(f, "{}", self.0 / SCALE)
        } else {
            write!(f, "{}.{fraction}", self.0 / SCALE)
        }
    }
}

/// The full 256-bit product of two `u128`s, as (high, low) halves.
fn wide_mul(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let hi_hi = a_hi * b_hi;
    let middle = (lo_lo >> 64) + (hi_lo & MASK) + (lo_hi & MASK);
    let low = (middle << 64) | (lo_lo & MASK);
    let high = hi_hi + (hi_lo >> 64) + (lo_hi >> 64) + (middle >> 64);
    (high, low)
}

/// `floor(a·b / d)` exactly (256-bit intermediate); `None` for `d = 0` or a result past u128.
pub fn mul_div(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    let (hi, lo) = wide_mul(a, b);
    if hi == 0 {
        return Some(lo / d);
    }
    if hi >= d {
        return None; // the quotient needs more than 128 bits
    }
    // Long division of (hi, lo) by d, one bit at a time: hi < d keeps the remainder in range.
    let mut remainder = hi;
    let mut quotient: u128 = 0;
    for bit in (0..128).rev() {
        let carry = remainder >> 127;
        remainder = (remainder << 1) | ((lo >> bit) & 1);
        quotient <<= 1;
        if carry == 1 || remainder >= d {
            remainder = remainder.wrapping_sub(d);
            quotient |= 1;
        }
    }
    Some(quotient)
}

/// `floor(sqrt(hi·2^128 + lo))`, bit by bit (the root of a 256-bit number fits in 128 bits).
fn isqrt_wide(hi: u128, lo: u128) -> u128 {
    let mut root: u128 = 0;
    for bit in (0..128).rev() {
        let candidate = root | (1u128 << bit);
        let (sq_hi, sq_lo) = wide_mul(candidate, candidate);
        if (sq_hi, sq_lo) <= (hi, lo) {
            root = candidate;
        }
    }
    root
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use num_bigint::BigUint;
    use proptest::prelude::*;

    fn big(n: u128) -> BigUint {
        BigUint::from(n)
    }

    /// `base^n` in raw units, rounded down once: exact (big-integer powers; for small `n`).
    fn exact_pow(base: u128, n: u64) -> BigUint {
        let n = u32::try_from(n).unwrap();
        if n == 0 {
            return big(SCALE);
        }
        big(base).pow(n) / big(SCALE).pow(n - 1)
    }

    /// `base^n` in raw units computed with 60 decimal places: within far less than one unit
    /// of the exact power (for large `n`, where the exact integers get too big).
    fn precise_pow(base: u128, mut n: u64) -> BigUint {
        let extra = BigUint::from(10u32).pow(48);
        let scale = big(SCALE) * &extra;
        let mut result = scale.clone();
        let mut b = big(base) * &extra;
        while n > 0 {
            if n & 1 == 1 {
                result = &result * &b / &scale;
            }
            n >>= 1;
            if n > 0 {
                b = &b * &b / &scale;
            }
        }
        result / extra
    }

    fn to_u128(n: &BigUint) -> u128 {
        u128::try_from(n.clone()).unwrap()
    }

    #[test]
    fn the_schedule_factors_and_golden_values() {
        let three_quarters = Fixed::from_ratio(3, 4).unwrap();
        assert_eq!(three_quarters.raw(), 750_000_000_000);
        assert_eq!(three_quarters.pow(0), Some(Fixed::ONE));
        assert_eq!(three_quarters.pow(1), Some(three_quarters));
        assert_eq!(three_quarters.pow(2).unwrap().raw(), 562_500_000_000);
        // 0.75^10 = 0.0563135147094726…: every product here is exact in twelve places but
        // the last, which rounds down.
        assert_eq!(three_quarters.pow(10).unwrap().raw(), 56_313_514_709);
        // 1.0002^24 (a day online) = 1.0048110562090152…, two units lower after rounding.
        let rho = Fixed::from_ratio(10_002, 10_000).unwrap();
        assert_eq!(rho.pow(24).unwrap().raw(), 1_004_811_056_207);
        assert_eq!(Fixed::from_int(2).sqrt().raw(), 1_414_213_562_373);
        assert_eq!(Fixed::from_int(30_000).sqrt().raw(), 173_205_080_756_887);
        assert_eq!(Fixed::from_int(4).sqrt(), Fixed::from_int(2));
        assert_eq!(Fixed::from_int(7).to_string(), "7");
        assert_eq!(three_quarters.to_string(), "0.75");
        assert_eq!(Fixed::from_ratio(1, 0), None);
        assert_eq!(
            Fixed::from_raw(u128::MAX).checked_mul(Fixed::from_int(2)),
            None
        );
        assert_eq!(Fixed::from_int(2).pow(200), None);
    }

    proptest! {
        #[test]
        fn mul_and_div_round_down_exactly(a in any::<u128>(), b in any::<u128>()) {
            let exact = big(a) * big(b) / big(SCALE);
            match Fixed::from_raw(a).checked_mul(Fixed::from_raw(b)) {
                Some(product) => prop_assert_eq!(big(product.raw()), exact),
                None => prop_assert!(exact > big(u128::MAX)),
            }
            if b > 0 {
                let exact = big(a) * big(SCALE) / big(b);
                match Fixed::from_raw(a).checked_div(Fixed::from_raw(b)) {
                    Some(quotient) => prop_assert_eq!(big(quotient.raw()), exact),
                    None => prop_assert!(exact > big(u128::MAX)),
                }
            }
        }

        #[test]
        fn sqrt_is_the_largest_root_not_above(a in any::<u128>()) {
            let root = big(Fixed::from_raw(a).sqrt().raw());
            let target = big(a) * big(SCALE);
            prop_assert!(&root * &root <= target);
            let next = &root + 1u32;
            prop_assert!(&next * &next > target);
        }

        #[test]
        fn powers_below_one_stay_within_n_units_below(
            base in 0u128..=SCALE,
            n in 0u64..2_000,
        ) {
            let got = Fixed::from_raw(base).pow(n).unwrap().raw();
            let exact = to_u128(&exact_pow(base, n));
            prop_assert!(got <= exact, "never above the exact power");
            // A squaring doubles the error it inherits (times the base, at most one), a product
            // adds one unit: at most n + 2·log2(n) + 2 units below in all.
            let bound = u128::from(n) + 2 * u128::from(64 - n.leading_zeros()) + 2;
            prop_assert!(exact - got <= bound, "{} below, more than {}", exact - got, bound);
        }

        #[test]
        fn growth_above_one_stays_within_its_relative_bound(
            tenths_of_a_permille in 0u128..=10,
            hours in 0u64..20_000,
        ) {
            // rho in [1, 1.001], up to 20,000 hours (2.3 years) of growth. Each squaring
            // doubles the relative error it inherits, so a power n is within 2·n units of
            // 10^-12, relatively: at most 4·10^-8 here.
            let rho = Fixed::from_raw(SCALE + tenths_of_a_permille * 100_000_000);
            let got = rho.pow(hours).unwrap().raw();
            let exact = to_u128(&precise_pow(rho.raw(), hours));
            prop_assert!(got <= exact + 1);
            let bound = exact / SCALE * 2 * (u128::from(hours) + 1) + 2 * (u128::from(hours) + 1);
            prop_assert!(exact.saturating_sub(got) <= bound, "{got} vs {exact}");
        }
    }
}
