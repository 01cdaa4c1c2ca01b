//! A private key-value vault: every caller has a namespace of its own, and only that caller can
//! write or read it. Nobody else — other callers, the chain, the workers' hosts — sees a key or
//! a value: commands and queries are sealed to the enclave and the state is encrypted at rest.
//!
//! # Protocol (UTF-8 text, one command per request)
//!
//! Commands (`phalanx contract call`):
//! - `put <key> <value>`: stores `value` (the rest of the line, spaces included, 1 to 4096
//!   bytes) under `key` (1 to 64 bytes, no whitespace). Output `ok`.
//! - `delete <key>`: removes `key`. Output `ok`; refused with `no such key`.
//!
//! Queries (`phalanx contract query`):
//! - `get <key>`: the value; refused with `no such key`.
//! - `list`: the caller's keys, one per line, in the order they were first stored.
//!
//! Anything else is refused with the list of commands.
//!
//! # State
//!
//! `v` ‖ caller (32 bytes) ‖ key → value; `i` ‖ caller → the caller's keys joined by `\n`.

#![no_std]

extern crate alloc;

use alloc::vec::Vec;
use phalanx_contract_sdk::{self as sdk, refusal, text, Response};

const MAX_KEY: usize = 64;
const MAX_VALUE: usize = 4096;

fn entry_key(owner: &[u8; 32], key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 32 + key.len());
    k.push(b'v');
    k.extend_from_slice(owner);
    k.extend_from_slice(key);
    k
}

fn index_key(owner: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'i');
    k.extend_from_slice(owner);
    k
}

fn index(owner: &[u8; 32]) -> Vec<Vec<u8>> {
    sdk::storage_get(&index_key(owner))
        .map(|joined| {
            joined
                .split(|b| *b == b'\n')
                .filter(|k| !k.is_empty())
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default()
}

fn store_index(owner: &[u8; 32], keys: &[Vec<u8>]) {
    if keys.is_empty() {
        sdk::storage_remove(&index_key(owner));
    } else {
        sdk::storage_set(&index_key(owner), &keys.join(&b'\n'));
    }
}

fn parse_key(word: &[u8]) -> Result<&[u8], Vec<u8>> {
    if word.is_empty() || word.len() > MAX_KEY {
        return Err(refusal("a key is 1 to 64 bytes without spaces"));
    }
    Ok(word)
}

fn call(input: &[u8]) -> Response {
    let (command, rest) = text::split_word(input);
    let owner = sdk::caller();
    match command {
        b"put" => {
            let (key, value) = text::split_word(rest);
            let key = parse_key(key)?;
            let value = text::trim_end(value);
            if value.is_empty() || value.len() > MAX_VALUE {
                return Err(refusal("a value is 1 to 4096 bytes"));
            }
            let mut keys = index(&owner);
            if !keys.iter().any(|k| k.as_slice() == key) {
                keys.push(key.to_vec());
                store_index(&owner, &keys);
            }
            sdk::storage_set(&entry_key(&owner, key), value);
            Ok(b"ok".to_vec())
        }
        b"delete" => {
            let key = parse_key(text::trim_end(rest))?;
            let mut keys = index(&owner);
            let Some(at) = keys.iter().position(|k| k.as_slice() == key) else {
                return Err(refusal("no such key"));
            };
            keys.remove(at);
            store_index(&owner, &keys);
            sdk::storage_remove(&entry_key(&owner, key));
            Ok(b"ok".to_vec())
        }
        _ => Err(refusal(
            "unknown command; commands: put <key> <value>, delete <key>",
        )),
    }
}

fn query(input: &[u8]) -> Response {
    let (command, rest) = text::split_word(input);
    let owner = sdk::caller();
    match command {
        b"get" => {
            let key = parse_key(text::trim_end(rest))?;
            sdk::storage_get(&entry_key(&owner, key)).ok_or_else(|| refusal("no such key"))
        }
        b"list" => Ok(index(&owner).join(&b'\n')),
        _ => Err(refusal("unknown query; queries: get <key>, list")),
    }
}

sdk::entry_points!(call: call, query: query);
