//! Confidential contracts from the client's side (docs/contracts.md): the `ContractsCall`
//! transactions, reading back where a command landed, and opening its result.
//!
//! A command's round trip:
//! 1. [`Client::contract_key`](crate::Client::contract_key) → a [`ContractKeyProof`];
//! 2. [`ContractKeyProof::seal_command`] with a state root you trust → the sealed bytes and a
//!    [`ResponseKey`] you keep;
//! 3. [`submit_command`] → the call; sign and send it
//!    ([`Client::sign_and_submit`](crate::Client::sign_and_submit)), wait for it
//!    ([`Client::wait_finalized`](crate::Client::wait_finalized)) and read its sequence number
//!    with [`command_sequence`];
//! 4. [`Client::wait_command`](crate::Client::wait_command) until it is final, then
//!    [`open_command_output`] on the result's `sealed_output`.

use crate::types::{CommandOutput, ContractKeyProof, Included};
use phalanx_keys::ResponseKey;
use phalanx_primitives::call::{Call, ContractsCall};
use phalanx_primitives::contract::MAX_SEALED_OUTPUT_BYTES;
use phalanx_primitives::{Balance, Hash};

/// `UploadCode { code }`: stores the code once under `sha256(code)`; the sender pays the
/// per-byte storage fee to the treasury (nothing more if it is already stored).
pub fn upload_code(code: Vec<u8>) -> Call {
    Call::Contracts(ContractsCall::UploadCode { code })
}

/// `Instantiate { code_hash, cluster, salt }`: a contract whose id is
/// `primitives::contract::contract_id(sender, code_hash, cluster, salt)`.
pub fn instantiate(code_hash: Hash, cluster: u32, salt: Vec<u8>) -> Call {
    Call::Contracts(ContractsCall::Instantiate {
        code_hash,
        cluster,
        salt,
    })
}

/// `SubmitCommand` for `sealed` (from [`ContractKeyProof::seal_command`] on `key`): the
/// contract and the key epoch are `key`'s, so the chain checks the command against the key it
/// was sealed to. Reserves `gas_limit × gas_price` from the sender until the result is final.
pub fn submit_command(
    key: &ContractKeyProof,
    sealed: Vec<u8>,
    gas_limit: u64,
    gas_price: Balance,
) -> Call {
    Call::Contracts(ContractsCall::SubmitCommand {
        contract: key.contract,
        key_epoch: key.epoch,
        sealed,
        gas_limit,
        gas_price,
    })
}

/// `Deposit { amount }`: adds to the sender's query deposit (reserved, for paying queries).
pub fn deposit(amount: Balance) -> Call {
    Call::Contracts(ContractsCall::Deposit { amount })
}

/// `Withdraw { amount }`: starts a delayed withdrawal from the sender's query deposit.
pub fn withdraw(amount: Balance) -> Call {
    Call::Contracts(ContractsCall::Withdraw { amount })
}

/// The sequence number the chain gave the command that finalized transaction `included`
/// submitted to `contract` (its `command_submitted` event); `None` if it submitted none.
pub fn command_sequence(included: &Included, contract: &[u8; 32]) -> Option<u64> {
    let id = hex::encode(contract);
    included
        .receipt
        .events
        .iter()
        .filter(|event| event.name == "command_submitted")
        .find(|event| {
            event
                .fields
                .get("contract")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|shown| shown.trim_start_matches("0x") == id)
        })
        .and_then(|event| event.fields.get("sequence"))
        .and_then(serde_json::Value::as_u64)
}

/// Why a command's result could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The sealed output does not open under this key: it was sealed for another command (or
    /// another caller), or it was altered.
    #[error("the result does not open with this command's response key: {0}")]
    Open(#[from] phalanx_keys::Error),
    /// It opened, but is not a SCALE `CommandOutput` (a member sealed something else).
    #[error("the opened result is not a command output: {0}")]
    Malformed(String),
}

/// Opens a final result's `sealed_output` with the [`ResponseKey`] that
/// [`ContractKeyProof::seal_command`] returned for that command, and decodes it strictly.
pub fn open_command_output(
    key: &ResponseKey,
    sealed_output: &[u8],
) -> Result<CommandOutput, OpenError> {
    let plaintext = phalanx_keys::open_response(key, sealed_output)?;
    phalanx_primitives::decode_strict(&plaintext, MAX_SEALED_OUTPUT_BYTES)
        .map_err(|e| OpenError::Malformed(e.to_string()))
}

/// A query sealed for a contract's cluster: the `POST /query` body for a worker of that
/// cluster, and the key only the sender holds to open the answer.
#[derive(Debug)]
pub struct SealedQueryRequest {
    /// The request body: SCALE `SealedQuery`.
    pub body: Vec<u8>,
    /// Opens the answer ([`open_query_answer`]); never sent.
    pub response_key: ResponseKey,
}

/// Seals a query for contract `contract` to its cluster's key (`cluster_key`, checked with
/// [`ClusterKeyProof::seal_request`](crate::ClusterKeyProof::seal_request) against
/// `trusted_root`), for the worker whose enclave identity is `worker` (another member refuses
/// it), signed by `signer` so the contract sees it as the caller, valid until
/// `expires_at_ms` of chain time (at most
/// [`MAX_QUERY_VALIDITY_MS`](phalanx_primitives::contract::MAX_QUERY_VALIDITY_MS) ahead of the
/// worker's chain time, or it refuses).
pub fn seal_query(
    cluster_key: &crate::ClusterKeyProof,
    trusted_root: &Hash,
    signer: &phalanx_primitives::Keypair,
    contract: [u8; 32],
    worker: [u8; 32],
    input: &[u8],
    expires_at_ms: u64,
) -> Result<SealedQueryRequest, crate::SealError> {
    use parity_scale_codec::Encode;
    use phalanx_primitives::contract::{query_signing_bytes, QueryPlaintext, SealedQuery};
    // The caller's signature covers the nonce, so the nonce is drawn here, not by the sealing.
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let plaintext = QueryPlaintext {
        caller: signer.account(),
        input: input.to_vec(),
        signature: signer.sign(&query_signing_bytes(
            &contract,
            &worker,
            &nonce,
            expires_at_ms,
            input,
        )),
    };
    let sealed = cluster_key.seal_request_with_nonce(
        trusted_root,
        contract,
        nonce,
        expires_at_ms,
        &plaintext.encode(),
    )?;
    let body = SealedQuery {
        contract,
        key_epoch: cluster_key.epoch,
        nonce,
        expires_at_ms,
        envelope: sealed.envelope.to_bytes(),
    }
    .encode();
    Ok(SealedQueryRequest {
        body,
        response_key: sealed.response_key,
    })
}

/// Opens a worker's answer to a query sealed with [`seal_query`] and decodes it strictly.
pub fn open_query_answer(
    key: &ResponseKey,
    sealed: &[u8],
) -> Result<phalanx_primitives::contract::QueryAnswer, OpenError> {
    let plaintext = phalanx_keys::open_response(key, sealed)?;
    phalanx_primitives::decode_strict(&plaintext, phalanx_primitives::contract::MAX_QUERY_BYTES)
        .map_err(|e| OpenError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parity_scale_codec::Encode;

    #[test]
    fn an_output_opens_only_with_its_key_and_decodes_strictly() {
        let key = ResponseKey::from_bytes(&[7; 32]);
        let output = CommandOutput::Ran {
            status: 0,
            output: b"hello".to_vec(),
        };
        let sealed = phalanx_keys::seal_response(&key, &output.encode(), &mut rand_core::OsRng)
            .expect("seals");
        assert_eq!(
            open_command_output(&key, &sealed).ok(),
            Some(output.clone())
        );
        let other = ResponseKey::from_bytes(&[8; 32]);
        assert!(matches!(
            open_command_output(&other, &sealed),
            Err(OpenError::Open(_))
        ));
        let mut trailing = output.encode();
        trailing.push(0);
        let sealed =
            phalanx_keys::seal_response(&key, &trailing, &mut rand_core::OsRng).expect("seals");
        assert!(matches!(
            open_command_output(&key, &sealed),
            Err(OpenError::Malformed(_))
        ));
    }

    #[test]
    fn calls_carry_what_they_are_given() {
        assert_eq!(
            deposit(5),
            Call::Contracts(ContractsCall::Deposit { amount: 5 })
        );
        assert_eq!(
            instantiate(Hash([1; 32]), 2, b"s".to_vec()),
            Call::Contracts(ContractsCall::Instantiate {
                code_hash: Hash([1; 32]),
                cluster: 2,
                salt: b"s".to_vec()
            })
        );
    }
}
