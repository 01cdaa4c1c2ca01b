//! The mining budget schedule (DESIGN.md §5), as pure functions of chain time: day `d` counts
//! whole days since the genesis timestamp (block timestamps, so the schedule holds at any
//! block time), period `k = d / 180`, and day `d`'s budget is
//! `720,000 PHA × 0.75^k` ([`Fixed`] math, rounded down), never more than the pot still holds.
//!
//! The decay alone pays at most `720,000 × 180 / 0.25 = 518.4M` PHA over all time, less than
//! the 700M pot: the pot-empty rule would only bite with a larger budget. The tests pin
//! both facts.

use phalanx_primitives::{Balance, PHA};

use crate::fixed::Fixed;

/// PHA a day shared by all computing workers in period 0.
pub const DAILY_BUDGET: Balance = 720_000 * PHA;
/// Days in a period (the budget falls by a quarter each period).
pub const PERIOD_DAYS: u64 = 180;
/// A day of chain time, in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// The day (0, 1, …) chain time `now_ms` falls in, counting whole `day_ms` days from
/// `genesis_ms`; a time before genesis is day 0. `day_ms` of 0 is treated as 1.
pub fn day_of(genesis_ms: u64, now_ms: u64, day_ms: u64) -> u64 {
    now_ms.saturating_sub(genesis_ms) / day_ms.max(1)
}

/// The period of day `day`.
pub fn period_of(day: u64) -> u64 {
    day / PERIOD_DAYS
}

/// `0.75^period`, rounded down (zero once it is below 10^-12).
pub fn decay(period: u64) -> Fixed {
    let three_quarters = Fixed::from_raw(Fixed::SCALE / 4 * 3);
    // Below one, so never overflows.
    three_quarters.pow(period).unwrap_or(Fixed::ZERO)
}

/// Day `day`'s budget from a base of `daily` units: `daily × 0.75^(day / 180)`, rounded down,
/// capped at `pot` (what the mining pot still holds).
pub fn budget_of_day(daily: Balance, day: u64, pot: Balance) -> Balance {
    decay(period_of(day))
        .mul_units(daily)
        .unwrap_or(Balance::MAX)
        .min(pot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_periods_count_from_genesis_in_chain_time() {
        let genesis = 1_700_000_000_000;
        assert_eq!(day_of(genesis, genesis, DAY_MS), 0);
        assert_eq!(day_of(genesis, genesis + DAY_MS - 1, DAY_MS), 0);
        assert_eq!(day_of(genesis, genesis + DAY_MS, DAY_MS), 1);
        assert_eq!(day_of(genesis, genesis - 5, DAY_MS), 0, "before genesis");
        assert_eq!(
            day_of(genesis, genesis + 10_000, 0),
            10_000,
            "a zero day is 1 ms"
        );
        // A dev day of one minute.
        assert_eq!(day_of(genesis, genesis + 3 * 60_000 + 59_999, 60_000), 3);
        assert_eq!(period_of(179), 0);
        assert_eq!(period_of(180), 1);
        assert_eq!(period_of(360), 2);
    }

    #[test]
    fn the_budget_falls_a_quarter_each_period_and_never_passes_the_pot() {
        let pot = 700_000_000 * PHA;
        assert_eq!(budget_of_day(DAILY_BUDGET, 0, pot), 720_000 * PHA);
        assert_eq!(budget_of_day(DAILY_BUDGET, 179, pot), 720_000 * PHA);
        assert_eq!(budget_of_day(DAILY_BUDGET, 180, pot), 540_000 * PHA);
        assert_eq!(budget_of_day(DAILY_BUDGET, 360, pot), 405_000 * PHA);
        assert_eq!(budget_of_day(DAILY_BUDGET, 540, pot), 303_750 * PHA);
        assert_eq!(
            budget_of_day(DAILY_BUDGET, 0, 5 * PHA),
            5 * PHA,
            "capped at the pot"
        );
        assert_eq!(
            budget_of_day(DAILY_BUDGET, 0, 0),
            0,
            "an empty pot pays nothing"
        );
        // A period far in the future pays nothing (0.75^k under 10^-12).
        assert_eq!(budget_of_day(DAILY_BUDGET, 180 * 200, pot), 0);
    }

    #[test]
    fn the_decay_alone_pays_about_518_4_million_and_the_pot_never_empties() {
        let mut pot: Balance = 700_000_000 * PHA;
        let mut paid: Balance = 0;
        let mut period = 0;
        loop {
            let daily = budget_of_day(DAILY_BUDGET, period * PERIOD_DAYS, pot);
            if daily == 0 {
                break;
            }
            let whole = daily * Balance::from(PERIOD_DAYS as u32);
            paid += whole;
            pot -= whole;
            period += 1;
        }
        let limit = 518_400_000 * PHA;
        assert!(paid <= limit);
        // Rounding down costs less than a thousandth of a PHA a day over all periods.
        assert!(limit - paid < PHA, "{} short", limit - paid);
        assert!(pot > 181_000_000 * PHA, "the pot keeps {} units", pot);
        // If governance tripled the budget, the pot would empty and the cap would bite.
        let mut pot: Balance = 700_000_000 * PHA;
        let mut day = 0;
        while pot > 0 && day < 100_000 {
            pot -= budget_of_day(3 * DAILY_BUDGET, day, pot);
            day += 1;
        }
        assert_eq!(pot, 0, "emptied on day {day}");
    }
}
