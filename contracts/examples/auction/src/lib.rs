//! A sealed-bid auction (first price): bids stay hidden inside the enclave until the auction
//! closes; then anyone can ask who won and at what price. Losing bids are never revealed.
//!
//! This example moves no money: a bid is a number. A real auction would escrow PHA.
//!
//! # Protocol (UTF-8 text)
//!
//! Commands:
//! - `open <seconds> <item>`: opens the contract's one auction for `item` (the rest of the
//!   line), closing `seconds` after the command's block time. The caller becomes its owner.
//!   Refused if an auction was already opened.
//! - `bid <amount>`: one sealed bid per caller, a positive integer, final. Refused after the
//!   deadline or close, for the owner, and for a second bid.
//! - `close`: closes the auction; by the owner at any time, by anyone once the deadline passed.
//!   Emits the event `auction closed`. Output `closed`.
//!
//! Queries:
//! - `status`: `open <item>; closes at <ms>; <n> bids` or `closed <item>; <n> bids`.
//! - `my-bid`: the caller's own bid; refused with `you have not bid`.
//! - `winner`: once closed (by `close` or by the deadline passing), `winner <caller hex>
//!   <amount>` or `no bids`; before that refused with `the auction is still open`.
//!
//! The highest bid wins; between equal bids, the earlier one.
//!
//! # State
//!
//! `owner` → 32 bytes; `item`; `deadline` → u64 ms; `closed` → present once closed;
//! `bids` → u64 count; `best` → caller ‖ u64 amount; `b` ‖ caller → u64 amount.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use phalanx_contract_sdk::{self as sdk, refusal, text, Response};

fn u64_at(key: &[u8]) -> Option<u64> {
    sdk::storage_get(key).and_then(|v| text::u64_from(&v))
}

fn bid_key(bidder: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'b');
    k.extend_from_slice(bidder);
    k
}

/// The auction's deadline, or a refusal if none was opened.
fn deadline() -> Result<u64, Vec<u8>> {
    u64_at(b"deadline").ok_or_else(|| refusal("no auction; open one with: open <seconds> <item>"))
}

/// Closed by `close`, or by its deadline passing.
fn is_closed(deadline: u64) -> bool {
    sdk::storage_get(b"closed").is_some() || sdk::block_time_ms() >= deadline
}

fn call(input: &[u8]) -> Response {
    let (command, rest) = text::split_word(input);
    let me = sdk::caller();
    match command {
        b"open" => {
            if sdk::storage_get(b"owner").is_some() {
                return Err(refusal("the auction was already opened"));
            }
            let (seconds, item) = text::split_word(rest);
            let item = text::trim_end(item);
            let seconds = text::parse_u64(seconds)
                .filter(|s| *s > 0)
                .ok_or_else(|| refusal("usage: open <seconds> <item>"))?;
            if item.is_empty() || item.len() > 256 {
                return Err(refusal("the item is 1 to 256 bytes"));
            }
            let deadline = seconds
                .checked_mul(1000)
                .and_then(|ms| sdk::block_time_ms().checked_add(ms))
                .ok_or_else(|| refusal("the auction would close too far in the future"))?;
            sdk::storage_set(b"owner", &me);
            sdk::storage_set(b"item", item);
            sdk::storage_set(b"deadline", &text::u64_bytes(deadline));
            sdk::storage_set(b"bids", &text::u64_bytes(0));
            Ok(b"ok".to_vec())
        }
        b"bid" => {
            let deadline = deadline()?;
            if is_closed(deadline) {
                return Err(refusal("the auction is closed"));
            }
            if sdk::storage_get(b"owner").as_deref() == Some(&me[..]) {
                return Err(refusal("the owner cannot bid"));
            }
            let amount = text::parse_u64(text::trim_end(rest))
                .filter(|a| *a > 0)
                .ok_or_else(|| refusal("usage: bid <amount>, a positive integer"))?;
            if sdk::storage_get(&bid_key(&me)).is_some() {
                return Err(refusal("you already bid; bids are final"));
            }
            sdk::storage_set(&bid_key(&me), &text::u64_bytes(amount));
            let bids = u64_at(b"bids").unwrap_or(0).saturating_add(1);
            sdk::storage_set(b"bids", &text::u64_bytes(bids));
            let beats_best = match sdk::storage_get(b"best") {
                Some(best) => text::u64_from(best.get(32..).unwrap_or_default())
                    .is_none_or(|top| amount > top),
                None => true,
            };
            if beats_best {
                let mut best = me.to_vec();
                best.extend_from_slice(&text::u64_bytes(amount));
                sdk::storage_set(b"best", &best);
            }
            Ok(b"ok".to_vec())
        }
        b"close" => {
            let deadline = deadline()?;
            if sdk::storage_get(b"closed").is_some() {
                return Err(refusal("the auction is already closed"));
            }
            let is_owner = sdk::storage_get(b"owner").as_deref() == Some(&me[..]);
            if !is_owner && sdk::block_time_ms() < deadline {
                return Err(refusal(
                    "only the owner can close the auction before its deadline",
                ));
            }
            sdk::storage_set(b"closed", b"1");
            sdk::emit_event(b"auction closed");
            Ok(b"closed".to_vec())
        }
        _ => Err(refusal(
            "unknown command; commands: open <seconds> <item>, bid <amount>, close",
        )),
    }
}

fn query(input: &[u8]) -> Response {
    let (command, _) = text::split_word(input);
    match command {
        b"status" => {
            let deadline = deadline()?;
            let item = sdk::storage_get(b"item").unwrap_or_default();
            let bids = u64_at(b"bids").unwrap_or(0);
            let mut out = Vec::new();
            if is_closed(deadline) {
                out.extend_from_slice(b"closed ");
                out.extend_from_slice(&item);
            } else {
                out.extend_from_slice(b"open ");
                out.extend_from_slice(&item);
                out.extend_from_slice(b"; closes at ");
                text::push_u64(&mut out, deadline);
            }
            out.extend_from_slice(b"; ");
            text::push_u64(&mut out, bids);
            out.extend_from_slice(b" bids");
            Ok(out)
        }
        b"my-bid" => {
            let amount =
                u64_at(&bid_key(&sdk::caller())).ok_or_else(|| refusal("you have not bid"))?;
            let mut out = Vec::new();
            text::push_u64(&mut out, amount);
            Ok(out)
        }
        b"winner" => {
            if !is_closed(deadline()?) {
                return Err(refusal("the auction is still open"));
            }
            let Some(best) = sdk::storage_get(b"best") else {
                return Ok(b"no bids".to_vec());
            };
            let (who, amount) = best.split_at(32.min(best.len()));
            let mut out = b"winner ".to_vec();
            text::push_hex(&mut out, who);
            out.push(b' ');
            text::push_u64(&mut out, text::u64_from(amount).unwrap_or(0));
            Ok(out)
        }
        _ => Err(refusal("unknown query; queries: status, my-bid, winner")),
    }
}

sdk::entry_points!(call: call, query: query);
