//! PHA amounts. Balances are `u128` in the smallest unit; 1 PHA = 10^12 units.

/// An amount of PHA in the smallest unit.
pub type Balance = u128;

/// Units in one PHA (12 decimals).
pub const PHA: Balance = 1_000_000_000_000;

/// The hard cap on total issuance: 1,000,000,000 PHA. Nothing ever mints beyond it.
pub const MAX_SUPPLY: Balance = 1_000_000_000 * PHA;

/// Formats an amount as PHA with up to 12 decimals, trailing zeros trimmed (`1.5 PHA`).
pub fn format_pha(amount: Balance) -> String {
    let whole = amount / PHA;
    let frac = amount % PHA;
    if frac == 0 {
        return format!("{whole} PHA");
    }
    let digits = format!("{frac:012}");
    format!("{whole}.{} PHA", digits.trim_end_matches('0'))
}

/// Parses a decimal PHA amount (`"12"`, `"0.5"`, `"1.000000000001"`) into units.
pub fn parse_pha(text: &str) -> Option<Balance> {
    let text = text.trim().trim_end_matches("PHA").trim();
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text, ""),
    };
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if frac.len() > 12
        || !whole
            .chars()
            .chain(frac.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: Balance = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_units: Balance = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<12}").parse().ok()?
    };
    whole.checked_mul(PHA)?.checked_add(frac_units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        assert_eq!(format_pha(PHA), "1 PHA");
        assert_eq!(format_pha(PHA + PHA / 2), "1.5 PHA");
        assert_eq!(format_pha(1), "0.000000000001 PHA");
        assert_eq!(parse_pha("1.5"), Some(PHA + PHA / 2));
        assert_eq!(parse_pha("0.000000000001"), Some(1));
        assert_eq!(parse_pha("42 PHA"), Some(42 * PHA));
        assert_eq!(parse_pha(".5"), Some(PHA / 2));
    }

    #[test]
    fn rejects_bad_amounts() {
        assert_eq!(parse_pha(""), None);
        assert_eq!(
            parse_pha("1.0000000000001"),
            None,
            "13 decimals is below one unit"
        );
        assert_eq!(parse_pha("-1"), None);
        assert_eq!(parse_pha("1e5"), None);
        assert_eq!(parse_pha("999999999999999999999999999999999999999"), None);
    }
}
