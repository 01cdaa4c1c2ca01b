//! Private voting: one vote per caller, ballots never revealed, and the tally shown only after
//! the vote closes. The contract keeps only who has voted and a running count per option, never
//! which option a caller chose.
//!
//! # Protocol (UTF-8 text)
//!
//! Commands:
//! - `open <seconds> <option> <option>...`: opens the contract's one vote with 2 to 16 distinct
//!   options (each 1 to 32 bytes, no spaces), closing `seconds` after the command's block time.
//!   The caller becomes its owner. Refused if a vote was already opened.
//! - `vote <option>`: casts the caller's vote. Refused after close, for an unknown option, and
//!   for a second vote (`you already voted`).
//! - `close`: closes the vote; by the owner at any time, by anyone once the deadline passed.
//!   Emits the event `vote closed`. Output `closed`.
//!
//! Queries:
//! - `status`: `open until <ms>; options <a> <b> ...; <n> votes` or `closed; options ...; <n>
//!   votes`.
//! - `voted`: `yes` or `no` for the caller.
//! - `tally`: once closed (by `close` or by the deadline passing), one line `<option> <count>`
//!   per option in the order they were given; before that refused with `the vote is still open`.
//!
//! # State
//!
//! `owner` → 32 bytes; `options` → options joined by `\n`; `deadline` → u64 ms; `closed`;
//! `votes` → u64; `c` ‖ option index (1 byte) → u64 count; `v` ‖ caller → present once voted.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use phalanx_contract_sdk::{self as sdk, refusal, text, Response};

const MAX_OPTIONS: usize = 16;
const MAX_OPTION_BYTES: usize = 32;

fn u64_at(key: &[u8]) -> u64 {
    sdk::storage_get(key)
        .and_then(|v| text::u64_from(&v))
        .unwrap_or(0)
}

fn options() -> Vec<Vec<u8>> {
    sdk::storage_get(b"options")
        .map(|joined| joined.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect())
        .unwrap_or_default()
}

fn count_key(index: usize) -> [u8; 2] {
    // Fits: at most MAX_OPTIONS options.
    [b'c', index as u8]
}

fn voter_key(voter: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'v');
    k.extend_from_slice(voter);
    k
}

fn deadline() -> Result<u64, Vec<u8>> {
    sdk::storage_get(b"deadline")
        .and_then(|v| text::u64_from(&v))
        .ok_or_else(|| refusal("no vote; open one with: open <seconds> <option> <option>..."))
}

fn is_closed(deadline: u64) -> bool {
    sdk::storage_get(b"closed").is_some() || sdk::block_time_ms() >= deadline
}

fn call(input: &[u8]) -> Response {
    let (command, rest) = text::split_word(input);
    let me = sdk::caller();
    match command {
        b"open" => {
            if sdk::storage_get(b"owner").is_some() {
                return Err(refusal("the vote was already opened"));
            }
            let mut words = text::words(rest);
            let seconds = words
                .next()
                .and_then(text::parse_u64)
                .filter(|s| *s > 0)
                .ok_or_else(|| refusal("usage: open <seconds> <option> <option>..."))?;
            let choices: Vec<&[u8]> = words.collect();
            if choices.len() < 2 || choices.len() > MAX_OPTIONS {
                return Err(refusal("a vote has 2 to 16 options"));
            }
            for (i, choice) in choices.iter().enumerate() {
                if choice.len() > MAX_OPTION_BYTES {
                    return Err(refusal("an option is 1 to 32 bytes"));
                }
                if choices[..i].contains(choice) {
                    return Err(refusal("options must be distinct"));
                }
            }
            let deadline = seconds
                .checked_mul(1000)
                .and_then(|ms| sdk::block_time_ms().checked_add(ms))
                .ok_or_else(|| refusal("the vote would close too far in the future"))?;
            sdk::storage_set(b"owner", &me);
            sdk::storage_set(b"options", &choices.join(&b'\n'));
            sdk::storage_set(b"deadline", &text::u64_bytes(deadline));
            sdk::storage_set(b"votes", &text::u64_bytes(0));
            Ok(b"ok".to_vec())
        }
        b"vote" => {
            if is_closed(deadline()?) {
                return Err(refusal("the vote is closed"));
            }
            let choice = text::trim_end(rest);
            let Some(index) = options().iter().position(|o| o.as_slice() == choice) else {
                return Err(refusal("no such option"));
            };
            if sdk::storage_get(&voter_key(&me)).is_some() {
                return Err(refusal("you already voted"));
            }
            sdk::storage_set(&voter_key(&me), b"1");
            let count = u64_at(&count_key(index)).saturating_add(1);
            sdk::storage_set(&count_key(index), &text::u64_bytes(count));
            let votes = u64_at(b"votes").saturating_add(1);
            sdk::storage_set(b"votes", &text::u64_bytes(votes));
            Ok(b"ok".to_vec())
        }
        b"close" => {
            let deadline = deadline()?;
            if sdk::storage_get(b"closed").is_some() {
                return Err(refusal("the vote is already closed"));
            }
            let is_owner = sdk::storage_get(b"owner").as_deref() == Some(&me[..]);
            if !is_owner && sdk::block_time_ms() < deadline {
                return Err(refusal(
                    "only the owner can close the vote before its deadline",
                ));
            }
            sdk::storage_set(b"closed", b"1");
            sdk::emit_event(b"vote closed");
            Ok(b"closed".to_vec())
        }
        _ => Err(refusal(
            "unknown command; commands: open <seconds> <option> <option>..., vote <option>, close",
        )),
    }
}

fn query(input: &[u8]) -> Response {
    let (command, _) = text::split_word(input);
    match command {
        b"status" => {
            let deadline = deadline()?;
            let mut out = Vec::new();
            if is_closed(deadline) {
                out.extend_from_slice(b"closed");
            } else {
                out.extend_from_slice(b"open until ");
                text::push_u64(&mut out, deadline);
            }
            out.extend_from_slice(b"; options");
            for option in options() {
                out.push(b' ');
                out.extend_from_slice(&option);
            }
            out.extend_from_slice(b"; ");
            text::push_u64(&mut out, u64_at(b"votes"));
            out.extend_from_slice(b" votes");
            Ok(out)
        }
        b"voted" => {
            deadline()?;
            Ok(if sdk::storage_get(&voter_key(&sdk::caller())).is_some() {
                b"yes".to_vec()
            } else {
                b"no".to_vec()
            })
        }
        b"tally" => {
            if !is_closed(deadline()?) {
                return Err(refusal("the vote is still open"));
            }
            let mut out = Vec::new();
            for (i, option) in options().iter().enumerate() {
                if i > 0 {
                    out.push(b'\n');
                }
                out.extend_from_slice(option);
                out.push(b' ');
                text::push_u64(&mut out, u64_at(&count_key(i)));
            }
            Ok(out)
        }
        _ => Err(refusal("unknown query; queries: status, voted, tally")),
    }
}

sdk::entry_points!(call: call, query: query);
