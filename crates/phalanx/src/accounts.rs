//! Turning what the user typed into accounts, keys and amounts, with errors that say which
//! of them it was meant to be and what is wrong with it.
//!
//! A key comes from a dev account name (dev chains only), a key file (a BIP-39 mnemonic or a
//! 64-hex-character secret, as `phalanx key new --out FILE` writes), or `-`: the same read from
//! stdin, so a mnemonic never has to sit in shell history or `ps` output. A mnemonic typed on
//! the command line still works, with a warning.

use crate::{CliError, Result};
use phalanx_primitives::account::{AccountError, DEV_ACCOUNTS};
use phalanx_primitives::units::{parse_pha, Balance, PHA};
use phalanx_primitives::{AccountId, Keypair};
use std::io::Read;
use std::path::Path;

/// Decimals of PHA: 1 unit is 10^-12 PHA.
const DECIMALS: usize = 12;

/// The dev genesis's allocation accounts, also known by name on a dev chain (so the team's
/// vesting allocation can be claimed in `phalanx dev`).
const DEV_ALLOCATIONS: [&str; 4] = ["team", "private-sale", "community", "ecosystem"];

/// Whether `name` is a dev account name (or a dev allocation's).
pub fn is_dev_name(name: &str) -> bool {
    let name = name.to_lowercase();
    DEV_ACCOUNTS.contains(&name.as_str()) || DEV_ALLOCATIONS.contains(&name.as_str())
}

/// Whether `text` is meant as an address (`pha1…`, any case).
fn looks_like_address(text: &str) -> bool {
    text.get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("pha1"))
}

/// Characters of bech32's data part.
const BECH32_CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Length of every Phalanx address: `pha`, `1`, 52 characters of key and 6 of checksum.
const ADDRESS_LEN: usize = 62;

/// What is wrong with `text` as a bech32 address, in words a person can act on; `None`
/// when no simple cause shows (the decoder's own message is used then).
fn bech32_mistake(text: &str) -> Option<String> {
    if text.chars().any(|c| c.is_ascii_lowercase()) && text.chars().any(|c| c.is_ascii_uppercase())
    {
        return Some("it mixes upper and lower case; write it all in one case".into());
    }
    let lower = text.to_ascii_lowercase();
    let (_, data) = lower.rsplit_once('1')?;
    if let Some(bad) = data.chars().find(|c| !BECH32_CHARSET.contains(*c)) {
        return Some(format!(
            "`{bad}` cannot appear in a bech32 address (after `pha1` there is never a 1, b, i or o); check for a typo"
        ));
    }
    if text.len() != ADDRESS_LEN {
        return Some(format!(
            "it is {} characters long, a Phalanx address has {ADDRESS_LEN}; part of it is missing or extra",
            text.len()
        ));
    }
    Some("its checksum does not match: a character is mistyped".into())
}

/// Parses an address, saying what is wrong with a bad one (reason `bad_address`).
pub fn address(text: &str) -> Result<AccountId> {
    // BIP-350: an all-uppercase address (as QR codes carry it) is the same address.
    let cased = if text.chars().any(|c| c.is_ascii_lowercase()) {
        text.to_string()
    } else {
        text.to_ascii_lowercase()
    };
    AccountId::from_address(&cased).map_err(|e| {
        let why = match &e {
            AccountError::Bech32(_) => bech32_mistake(text).unwrap_or_else(|| e.to_string()),
            _ => e.to_string(),
        };
        CliError::with_reason(
            "bad_address",
            format!("`{text}` is not a valid Phalanx address: {why}"),
        )
    })
}

/// An account from a `pha1…` address, a dev name (dev chains only) or a key file.
pub fn account(spec: &str, dev_chain: bool) -> Result<AccountId> {
    if looks_like_address(spec) {
        return address(spec);
    }
    if is_dev_name(spec) {
        if !dev_chain {
            return Err(CliError::with_reason("not_dev_chain", format!("`{spec}` is a dev account name; this chain is not a dev chain, use a pha1… address")));
        }
        return Ok(Keypair::dev(spec).account());
    }
    if Path::new(spec).is_file() {
        return Ok(signer(spec, dev_chain)?.account());
    }
    Err(CliError::with_reason(
        "bad_account",
        format!("`{spec}` is neither a pha1… address, a dev account name nor a key file"),
    ))
}

/// A key from the text of a key file or stdin: a mnemonic or a hex secret. `source` names
/// where it came from, for the error.
fn key_from_text(text: &str, source: &str) -> Result<Keypair> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CliError::with_reason(
            "bad_key_file",
            format!("{source} is empty; it should hold a mnemonic or a 64-hex-character secret"),
        ));
    }
    let words = text.split_whitespace().count();
    if words > 1 {
        return Keypair::from_mnemonic(text).map_err(|e| {
            CliError::with_reason(
                "bad_mnemonic",
                format!("{source} holds {words} words but not a valid BIP-39 mnemonic: {e}"),
            )
        });
    }
    Keypair::from_secret_hex(text).map_err(|_| {
        CliError::with_reason(
            "bad_key_file",
            format!("{source} holds neither a mnemonic (12 to 24 words) nor a secret (64 hex characters)"),
        )
    })
}

/// Reads a key (mnemonic or hex secret) from stdin.
fn key_from_stdin() -> Result<Keypair> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::with_reason("io", format!("cannot read a key from stdin: {e}")))?;
    key_from_text(&text, "stdin")
}

/// Reads a key from the file at `path`, saying whether it is missing, unreadable or holds no
/// key.
pub fn key_from_file(path: &Path) -> Result<Keypair> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CliError::with_reason(
            "file_not_found",
            format!("no key file at `{shown}` (create one with `phalanx key new --out {shown}`)"),
        ),
        _ => CliError::with_reason("io", format!("cannot read the key file `{shown}`: {e}")),
    })?;
    key_from_text(&text, &format!("the key file `{shown}`"))
}

/// A signing key from a dev name (dev chains only), a key file, `-` (stdin), or a quoted
/// BIP-39 mnemonic (discouraged: it shows in shell history and `ps`).
pub fn signer(spec: &str, dev_chain: bool) -> Result<Keypair> {
    if spec == "-" {
        return key_from_stdin();
    }
    if is_dev_name(spec) {
        if !dev_chain {
            return Err(CliError::with_reason(
                "not_dev_chain",
                format!("`{spec}` is a dev account; this chain is not a dev chain"),
            ));
        }
        return Ok(Keypair::dev(spec));
    }
    if spec.split_whitespace().count() >= 12 {
        eprintln!("warning: a mnemonic on the command line shows in shell history and `ps`; put it in a key file, or pass `-` and give it on stdin");
        return Ok(Keypair::from_mnemonic(spec)?);
    }
    let path = Path::new(spec);
    if !path.exists() {
        return Err(CliError::with_reason(
            "file_not_found",
            format!("cannot sign as `{spec}`: there is no key file by that name; give a dev account name, a key file (from `phalanx key new --out FILE`), or `-` to read a mnemonic from stdin"),
        ));
    }
    key_from_file(path)
}

/// The account behind whatever `phalanx key inspect` was given: an address (any network's
/// prefix is named when it is not `pha`), a dev name, `-` (stdin), a key file or a mnemonic.
pub fn inspect(spec: &str) -> Result<AccountId> {
    if looks_like_address(spec) {
        return address(spec);
    }
    if spec == "-" || is_dev_name(spec) || spec.split_whitespace().count() >= 12 {
        return Ok(signer(spec, true)?.account());
    }
    let path = Path::new(spec);
    if !path.exists() {
        // Another network's address is not a missing file.
        if let Err(e @ AccountError::WrongPrefix(_)) = AccountId::from_address(spec) {
            return Err(CliError::with_reason(
                "bad_address",
                format!("`{spec}` is not a Phalanx address: {e}"),
            ));
        }
        return Err(CliError::with_reason(
            "file_not_found",
            format!("`{spec}` is not a pha1… address, a dev account name, or an existing key file (no file `{spec}`)"),
        ));
    }
    Ok(key_from_file(path)?.account())
}

/// Parses a PHA amount (`12`, `0.5`, `1.000000000001`), saying what is wrong with a bad one:
/// reasons `bad_amount` and `too_many_decimals`.
pub fn pha_amount(text: &str) -> Result<Balance> {
    let number = text.trim().trim_end_matches("PHA").trim();
    if let Some((_, decimals)) = number.split_once('.') {
        if decimals.len() > DECIMALS && decimals.chars().all(|c| c.is_ascii_digit()) {
            return Err(CliError::with_reason(
                "too_many_decimals",
                format!(
                    "`{text}` has {} decimals; PHA has {DECIMALS} (the smallest amount is 0.000000000001)",
                    decimals.len()
                ),
            ));
        }
    }
    parse_pha(text).ok_or_else(|| {
        let why = if number.starts_with('-') {
            "an amount cannot be negative".to_string()
        } else if !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit() || c == '.')
            && number.matches('.').count() <= 1
        {
            format!("more than the {} PHA an amount can hold", u128::MAX / PHA)
        } else {
            "write it in PHA with a dot for decimals, e.g. 10 or 0.25".to_string()
        };
        CliError::with_reason("bad_amount", format!("`{text}` is not a PHA amount: {why}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_or_say_what_is_wrong() {
        assert_eq!(pha_amount("1.5").ok(), Some(PHA + PHA / 2));
        assert_eq!(pha_amount("0.000000000001").ok(), Some(1));
        let error = pha_amount("1.0000000000001").expect_err("13 decimals");
        assert_eq!(error.reason(), "too_many_decimals");
        assert!(
            error.to_string().contains("has 13 decimals; PHA has 12"),
            "{error}"
        );
        for bad in ["-1", "1e5", "", "abc", "1.2.3"] {
            let error = pha_amount(bad).expect_err("refused");
            assert_eq!(error.reason(), "bad_amount", "{bad}");
        }
        let error = pha_amount("-1").expect_err("negative");
        assert!(error.to_string().contains("negative"), "{error}");
        let error = pha_amount("999999999999999999999999999999999999999").expect_err("big");
        assert!(error.to_string().contains("more than"), "{error}");
    }

    #[test]
    fn bad_addresses_and_missing_files_are_told_apart() {
        let error = account("pha1notanaddress", true).expect_err("bad address");
        assert_eq!(error.reason(), "bad_address");
        assert!(error.to_string().contains("pha1notanaddress"), "{error}");
        let error = signer("/nonexistent/key", true).expect_err("missing");
        assert_eq!(error.reason(), "file_not_found");
        let error = inspect("no-such-file.key").expect_err("missing");
        assert_eq!(error.reason(), "file_not_found");
        assert!(
            error.to_string().contains("no file `no-such-file.key`"),
            "{error}"
        );
        let error = inspect("PHA1notanaddress").expect_err("bad address, any case");
        assert_eq!(error.reason(), "bad_address");
        assert!(
            error.to_string().contains("mixes upper and lower case"),
            "{error}"
        );
        let good = Keypair::dev("alice").account().to_address();
        assert_eq!(good.len(), ADDRESS_LEN);
        assert_eq!(
            address(&good.to_uppercase()).ok(),
            Some(Keypair::dev("alice").account())
        );
        let cases = [
            ("pha1notanaddress".to_string(), "`o` cannot appear"),
            (
                good[..good.len() - 1].to_string(),
                "it is 61 characters long",
            ),
            (
                format!(
                    "{}{}",
                    &good[..10],
                    &good[10..].replacen(
                        &good[10..11],
                        if &good[10..11] == "q" { "p" } else { "q" },
                        1
                    )
                ),
                "checksum does not match",
            ),
        ];
        for (text, expected) in cases {
            let error = address(&text).expect_err("refused");
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
        // BIP-350's valid bech32m test string `a1lqfn3a`: an address of another network.
        let error = inspect("a1lqfn3a").expect_err("another prefix");
        assert_eq!(error.reason(), "bad_address");
        assert!(error.to_string().contains("prefix is `a`"), "{error}");
        let error = key_from_file(Path::new("/nonexistent/key")).expect_err("missing");
        assert_eq!(error.reason(), "file_not_found");
        let error = signer("alice", false).expect_err("not dev");
        assert_eq!(error.reason(), "not_dev_chain");
    }

    #[test]
    fn key_text_is_a_mnemonic_or_a_secret() {
        let (mnemonic, key) = Keypair::generate_mnemonic();
        let read = key_from_text(&format!("{mnemonic}\n"), "test").expect("mnemonic");
        assert_eq!(read.account(), key.account());
        let secret = hex::encode(key.secret());
        let read = key_from_text(&secret, "test").expect("secret");
        assert_eq!(read.account(), key.account());
        assert_eq!(
            key_from_text("", "test").expect_err("empty").reason(),
            "bad_key_file"
        );
        assert_eq!(
            key_from_text("zz", "test").expect_err("garbage").reason(),
            "bad_key_file"
        );
        assert_eq!(
            key_from_text("one two three", "test")
                .expect_err("bad words")
                .reason(),
            "bad_mnemonic"
        );
    }
}
