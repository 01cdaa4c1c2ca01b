//! Text helpers for command protocols, without `core::fmt` (which would bring float
//! formatting code into the module for nothing).

use alloc::vec::Vec;

/// Splits `input` at the first run of ASCII whitespace: `(first word, rest)`. The rest has its
/// leading whitespace removed but is otherwise untouched (values may hold spaces).
pub fn split_word(input: &[u8]) -> (&[u8], &[u8]) {
    let input = trim_start(input);
    let end = input
        .iter()
        .position(u8::is_ascii_whitespace)
        .unwrap_or(input.len());
    let (word, rest) = input.split_at(end);
    (word, trim_start(rest))
}

/// The whitespace-separated words of `input`.
pub fn words(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    input
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty())
}

/// `input` without leading ASCII whitespace.
pub fn trim_start(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    &input[start..]
}

/// `input` without trailing ASCII whitespace (a newline the CLI may add).
pub fn trim_end(input: &[u8]) -> &[u8] {
    let end = input
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &input[..end]
}

/// A decimal `u64` with no sign, spaces or leading `+`; `None` if it is not one or overflows.
pub fn parse_u64(word: &[u8]) -> Option<u64> {
    if word.is_empty() || word.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in word {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

/// Appends `value` in decimal.
pub fn push_u64(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = value;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `bytes` in lowercase hex.
pub fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// `value` as 8 little-endian bytes, the way the examples store numbers.
pub fn u64_bytes(value: u64) -> [u8; 8] {
    value.to_le_bytes()
}

/// Reads [`u64_bytes`]' format; `None` unless exactly 8 bytes.
pub fn u64_from(bytes: &[u8]) -> Option<u64> {
    let array: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_le_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_numbers() {
        assert_eq!(
            split_word(b"  put  my key rest "),
            (&b"put"[..], &b"my key rest "[..])
        );
        assert_eq!(split_word(b"list"), (&b"list"[..], &b""[..]));
        assert_eq!(words(b" a  b\tc\n").count(), 3);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b""), None);
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, 1234567890);
        out.push(b' ');
        push_hex(&mut out, &[0xab, 0x01]);
        assert_eq!(out, b"0 1234567890 ab01");
        assert_eq!(trim_end(b"x \n"), b"x");
    }
}
