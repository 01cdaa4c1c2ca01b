//! The contracts module's methods (docs/contracts.md): stored code, instances with their
//! published keys, commands with their results, and query deposits. All read the finalized head
//! and are bounded: lists are paged, a contract's keys are at most one per key epoch, and code
//! bytes are never returned (they are in the state under `contracts/code/<hash>`, readable with
//! `phalanx_storage` like any key).
//!
//! `contractKey` answers as `clusterKey` does (`super::prove_epoch_key`): the key's entry, the
//! epoch's `KeyEpoch` record and the current epoch's number, proven under one state root, so a
//! client checks the key it seals a command to (the SDK's `ContractKeyProof::verify`).

use super::{
    height_of, hex0x, internal, invalid_params, limit_arg, not_found, parse_account,
    prove_epoch_key, Answer, Args, KEY_EPOCH,
};
use crate::chain::Chain;
use jsonrpsee::server::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use phalanx_primitives::contract::{self as wire, Contract};
use phalanx_primitives::Hash;
use phalanx_runtime::{contracts, gatekeeper};
use serde_json::json;

const CONTRACT_ID: &str = "a contract id (32 bytes of hex)";
const CODE_HASH: &str = "a code hash (32 bytes of hex)";
const SEQUENCE: &str = "a command sequence number (a non-negative integer)";

/// A contract id (32 bytes of hex, `0x` optional) given as parameter `name`.
fn parse_contract_id(text: &str, name: &str) -> Result<[u8; 32], ErrorObjectOwned> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| invalid_params(format!("`{name}` must be {CONTRACT_ID}")))
}

/// Contract `id` at the head, or `not_found` naming it.
fn existing(state: &phalanx_state::State, id: &[u8; 32]) -> Result<Contract, ErrorObjectOwned> {
    contracts::contract(state, id)
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("no contract {}", hex::encode(id))))
}

/// Registers `phalanx_contracts`, `phalanx_contract`, `phalanx_contractKey`, `phalanx_command`,
/// `phalanx_code` and `phalanx_queryDeposit`.
pub(super) fn contract_methods(
    module: &mut RpcModule<Chain>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    // Paged by id. The walk to the cursor compares keys only (the state has no ranged scan by
    // arbitrary start), and decodes at most `limit + 1` records.
    module.register_blocking_method("phalanx_contracts", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["start", "limit"])?;
        let start = args
            .optional::<String>(0, CONTRACT_ID)?
            .map(|text| parse_contract_id(&text, "start"))
            .transpose()?;
        let limit = limit_arg(&args, 1)?;
        let state = chain.head_state();
        let prefix = wire::contract_key(&[0; 32]);
        let prefix = &prefix[..prefix.len() - 32];
        let mut records = Vec::new();
        let mut next = None;
        for (key, value) in state.scan_prefix(prefix) {
            let Ok(id) = <[u8; 32]>::try_from(&key[prefix.len()..]) else {
                return Err(internal("a malformed contract key"));
            };
            if start.is_some_and(|start| id < start) {
                continue;
            }
            if records.len() == limit {
                next = Some(id);
                break;
            }
            let record: Contract =
                phalanx_primitives::decode_strict(value, 1 << 10).map_err(internal)?;
            records.push(record);
        }
        Ok(json!({
            "contracts": records,
            "next": next.map(|id| hex0x(&id)),
            "params": contracts::params(&state).map_err(internal)?,
            "height": height_of(&state)?,
        }))
    })?;

    // One record, its code's, and one key per key epoch (bounded by the epochs that exist).
    module.register_blocking_method("phalanx_contract", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["id"])?;
        let id = parse_contract_id(&args.required::<String>(0, CONTRACT_ID)?, "id")?;
        let state = chain.head_state();
        let contract = existing(&state, &id)?;
        let code = contracts::code_info(&state, &contract.code_hash)
            .map_err(internal)?
            .ok_or_else(|| internal("a contract whose code is not stored"))?;
        let mut keys = Vec::new();
        for epoch in gatekeeper::key_epochs(&state).map_err(internal)? {
            if let Some(public_key) =
                contracts::contract_public(&state, &id, epoch.epoch).map_err(internal)?
            {
                keys.push(json!({ "epoch": epoch.epoch, "public_key": hex::encode(public_key) }));
            }
        }
        Ok(json!({
            "contract": contract,
            "code": code,
            "keys": keys,
            "height": height_of(&state)?,
        }))
    })?;

    // Proofs: real work, and the certificate comes from the block log.
    module.register_blocking_method("phalanx_contractKey", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["id", "epoch"])?;
        let id = parse_contract_id(&args.required::<String>(0, CONTRACT_ID)?, "id")?;
        let asked: Option<u32> = args.optional(1, KEY_EPOCH)?;
        let state = chain.head_state();
        existing(&state, &id)?;
        // Contracts are never deleted, so the key is proven at the head as it is now.
        prove_epoch_key(
            &chain,
            &state,
            asked,
            |epoch| wire::contract_public_key(&id, epoch),
            |epoch| {
                format!(
                    "contract {} has no published key for epoch {epoch} yet: a gatekeeper \
                     holding the epoch publishes it after the instantiation (and after each key \
                     rotation); try again in a few blocks",
                    hex::encode(id)
                )
            },
            |epoch, public_key| {
                json!({
                    "contract": hex::encode(id),
                    "epoch": epoch,
                    "public_key": hex::encode(public_key),
                })
            },
        )
    })?;

    // A command's sealed bytes are at most 16 KiB, its result's 16,256 bytes.
    module.register_blocking_method("phalanx_command", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["id", "sequence"])?;
        let id = parse_contract_id(&args.required::<String>(0, CONTRACT_ID)?, "id")?;
        let sequence: u64 = args.required(1, SEQUENCE)?;
        let state = chain.head_state();
        let contract = existing(&state, &id)?;
        let command = contracts::command(&state, &id, sequence)
            .map_err(internal)?
            .ok_or_else(|| {
                not_found(format!(
                    "contract {} has no command {sequence} (it has {} so far)",
                    hex::encode(id),
                    contract.commands
                ))
            })?;
        let result = contracts::result(&state, &id, sequence).map_err(internal)?;
        Ok(json!({
            "contract": hex::encode(id),
            "command": command,
            "result": result,
            "height": height_of(&state)?,
        }))
    })?;

    module.register_method("phalanx_code", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["hash"])?;
        let text: String = args.required(0, CODE_HASH)?;
        let hash = Hash::from_hex(&text)
            .ok_or_else(|| invalid_params(format!("`hash` must be {CODE_HASH}")))?;
        let state = chain.head_state();
        let code = contracts::code_info(&state, &hash)
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no code with hash {hash} is stored")))?;
        Ok(json!({ "code": code, "height": height_of(&state)? }))
    })?;

    module.register_method("phalanx_queryDeposit", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["address"])?;
        let who = parse_account(&args.required::<String>(0, "an account address (pha1…)")?)?;
        let state = chain.head_state();
        let deposit = contracts::deposit(&state, &who).map_err(internal)?;
        Ok(json!({ "address": who, "deposit": deposit, "height": height_of(&state)? }))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_ids_are_32_bytes_of_hex() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_contract_id(&hex, "id").ok(), Some([0xab; 32]));
        assert_eq!(
            parse_contract_id(&format!("0x{hex}"), "id").ok(),
            Some([0xab; 32])
        );
        for bad in ["", "0x01", "zz", &"ab".repeat(33)] {
            let e = parse_contract_id(bad, "id").expect_err(bad);
            assert_eq!(e.message(), "`id` must be a contract id (32 bytes of hex)");
        }
    }
}
