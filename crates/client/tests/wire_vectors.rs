//! The wire reference's test vectors (`docs/vectors/*.json`, explained in `docs/wire.md`).
//!
//! Every vector is an `input` and the `expected` output pinned from a run of this code. Each
//! test recomputes the output from the input in two ways where it can — with the Phalanx crates,
//! and byte by byte as `docs/wire.md` tells an outside client to (SHA-256, ed25519, SCALE,
//! varints) — asserts they agree, and compares the result with the pinned `expected`. So a
//! change of any wire format fails here, and so does a reference that no longer describes the
//! code.
//!
//! After an intended format change, rewrite the pinned outputs from the inputs with
//! `PHALANX_REGENERATE_VECTORS=1 cargo test -p phalanx-client --test wire_vectors`, and review
//! the diff of `docs/vectors/` (and `docs/wire.md`) like any protocol change.

#![allow(clippy::panic)] // a vector that does not hold fails the test by panicking

use commonware_codec::{Copying, DecodeExt};
use ed25519_dalek::Signer as _;
use parity_scale_codec::Encode;
use phalanx_client::Client;
use phalanx_light_client::certificate::{self, verify_finalization_in_epoch, PublicKey};
use phalanx_light_client::{namespace_for, network_namespace, LightClient, VALIDATORS_KEY};
use phalanx_primitives::account::AccountError;
use phalanx_primitives::block::tx_root;
use phalanx_primitives::call::{
    BalancesCall, Call, ChainParams, GovernanceCall, Origin, PrivilegedCall,
};
use phalanx_primitives::{AccountId, Block, Hash, Header, Keypair, SignedTransaction, Transaction};
use phalanx_runtime::{
    balances, gatekeeper, message_queue, registry, system, BlockContext, GenesisConfig,
};
use phalanx_state::{Proof, ProofError, State, Terminal};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[path = "../../keys/tests/support/vector_file.rs"]
mod vector_file;

use vector_file::VectorFile;

// ---------------------------------------------------------------------------------------------
// Small helpers, written from docs/wire.md rather than taken from the crates
// ---------------------------------------------------------------------------------------------

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn unhex(value: &Value) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex string, got {value}"));
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .unwrap_or_else(|e| panic!("bad hex {text}: {e}"))
}

fn unhex32(value: &Value) -> [u8; 32] {
    unhex(value)
        .try_into()
        .unwrap_or_else(|_| panic!("expected 32 bytes of hex, got {value}"))
}

fn u64_of(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("expected an integer, got {value}"))
}

fn u128_of(value: &Value) -> u128 {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("expected a u128, got {value}: {e}"))
}

fn text_of(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
}

/// commonware's varint: LEB128, 7 bits a byte, least significant group first.
fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn signing_key(seed: &[u8; 32]) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(seed)
}

fn public_of(seed: &[u8; 32]) -> [u8; 32] {
    signing_key(seed).verifying_key().to_bytes()
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

fn account_json(public: &[u8; 32]) -> Value {
    json!({
        "public_key": hex::encode(public),
        "address": AccountId(*public).to_address(),
    })
}

#[test]
fn keys() {
    let mut file = VectorFile::open("keys.json");
    file.check("mnemonic", |input| {
        let phrase = text_of(&input["phrase"]);
        let seed = bip39::Mnemonic::parse(phrase)
            .expect("a valid mnemonic")
            .to_seed("");
        let secret = sha256(&[b"phalanx/ed25519/v1", &seed[..32]]);
        let key = Keypair::from_mnemonic(phrase).expect("a valid mnemonic");
        assert_eq!(key.secret(), secret, "mnemonic derivation of {phrase}");
        let mut out = account_json(&key.account().0);
        out["bip39_seed"] = json!(hex::encode(seed));
        out["secret"] = json!(hex::encode(secret));
        out
    });
    file.check("mnemonic_rejected", |input| {
        let accepted = Keypair::from_mnemonic(text_of(&input["phrase"])).is_ok();
        json!({ "accepted": accepted })
    });
    file.check("secret", |input| {
        let secret = unhex32(&input["secret"]);
        let key = Keypair::from_secret(secret);
        assert_eq!(key.account().0, public_of(&secret));
        let mut out = account_json(&key.account().0);
        out["signature_of_empty_message"] = json!(hex::encode(key.sign(b"")));
        out
    });
    file.check("dev", |input| {
        let name = text_of(&input["name"]);
        let secret = sha256(&[b"phalanx/dev-account/", name.to_lowercase().as_bytes()]);
        let key = Keypair::dev(name);
        assert_eq!(key.secret(), secret, "dev key {name}");
        let mut out = account_json(&key.account().0);
        out["secret"] = json!(hex::encode(secret));
        out
    });
    file.check("module", |input| {
        let label = text_of(&input["label"]);
        let account = AccountId::module(label);
        assert_eq!(account.0, sha256(&[b"phalanx/module/", label.as_bytes()]));
        account_json(&account.0)
    });
    assert_eq!(
        phalanx_runtime::treasury::account(),
        AccountId::module("treasury")
    );
    assert_eq!(
        phalanx_runtime::genesis::mining_pot(),
        AccountId::module("mining-reward-pot")
    );
    file.finish();
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

fn address_error(e: &AccountError) -> &'static str {
    match e {
        AccountError::Bech32(_) => "bech32",
        AccountError::WrongPrefix(_) => "wrong_prefix",
        AccountError::WrongLength(_) => "wrong_length",
        AccountError::InvalidKey => "invalid_key",
        AccountError::Mnemonic(_) => "mnemonic",
        AccountError::SecretFormat => "secret_format",
    }
}

fn decode_address(input: &Value) -> Value {
    match AccountId::from_address(text_of(&input["address"])) {
        Ok(account) => json!({ "accepted": true, "public_key": hex::encode(account.0) }),
        Err(e) => json!({ "accepted": false, "error": address_error(&e) }),
    }
}

fn is_uppercase_case(input: &Value) -> bool {
    input["case"]
        .as_str()
        .is_some_and(|case| case.starts_with("all uppercase"))
}

#[test]
fn addresses() {
    let mut file = VectorFile::open("addresses.json");
    file.check("encode", |input| {
        let public = unhex32(&input["public_key"]);
        let address = AccountId(public).to_address();
        let ours = bech32::encode::<bech32::Bech32m>(
            bech32::Hrp::parse("pha").expect("valid prefix"),
            &public,
        )
        .expect("encodes");
        assert_eq!(address, ours);
        json!({ "address": address })
    });
    // The all-uppercase form is checked on its own (see below).
    file.check_if("decode", |input| !is_uppercase_case(input), decode_address);
    file.finish();
}

/// BIP-350 requires decoders to accept an all-uppercase address as the same address; the
/// vector pins that.
#[test]
fn uppercase_addresses_are_accepted() {
    let mut file = VectorFile::open("addresses.json");
    file.check_if("decode", is_uppercase_case, decode_address);
    file.finish();
}

// ---------------------------------------------------------------------------------------------
// Transactions and blocks
// ---------------------------------------------------------------------------------------------

fn chain_params(doc: &Value) -> ChainParams {
    ChainParams {
        base_fee: u128_of(&doc["chain_params"]["base_fee"]),
        byte_fee: u128_of(&doc["chain_params"]["byte_fee"]),
        ..ChainParams::default()
    }
}

/// Builds and signs the transaction an input describes, checking it against the byte-level
/// recipe; returns it with its JSON description.
fn signed_transaction(input: &Value, params: &ChainParams) -> (SignedTransaction, Value) {
    let secret = unhex32(&input["signer_secret"]);
    let key = Keypair::from_secret(secret);
    let genesis = Hash(unhex32(&input["genesis_hash"]));
    let call: Call = serde_json::from_value(input["call"].clone()).expect("a call in JSON");
    assert_eq!(
        serde_json::to_value(&call).expect("serializes"),
        input["call"],
        "the call's JSON form is not canonical"
    );
    let nonce = u64_of(&input["nonce"]);
    let expires_at = u64_of(&input["expires_at"]);
    let signed = if input["fee"] == "required" {
        Client::sign_with_nonce(&key, &genesis, params, nonce, expires_at, call.clone())
    } else {
        Transaction {
            signer: key.account(),
            nonce,
            fee: u128_of(&input["fee"]),
            expires_at,
            call: call.clone(),
        }
        .sign(&key, &genesis)
    };
    let tx = &signed.tx;

    // By hand: SCALE of the fixed-width fields, then the call.
    let tx_bytes = [
        &tx.signer.0[..],
        &tx.nonce.to_le_bytes(),
        &tx.fee.to_le_bytes(),
        &tx.expires_at.to_le_bytes(),
        &call.encode(),
    ]
    .concat();
    assert_eq!(tx.encode(), tx_bytes);
    let payload = [b"phalanx/tx/v1", &genesis.0[..], &tx_bytes].concat();
    assert_eq!(tx.signing_payload(&genesis), payload);
    let signature = signing_key(&secret).sign(&payload).to_bytes();
    assert_eq!(signed.signature, signature);
    let signed_bytes = [&tx_bytes[..], &signature].concat();
    assert_eq!(signed.encode(), signed_bytes);
    assert_eq!(signed.hash().0, sha256(&[&signed_bytes]));
    let required = params.base_fee + params.byte_fee * signed_bytes.len() as u128;
    assert_eq!(params.required_fee(&call, signed_bytes.len()), required);
    assert_eq!(
        SignedTransaction::decode_strict(&signed_bytes).as_ref(),
        Ok(&signed)
    );
    assert!(signed.verify_signature(&genesis));

    let out = json!({
        "call": hex::encode(call.encode()),
        "transaction": hex::encode(&tx_bytes),
        "signing_payload": hex::encode(&payload),
        "signature": hex::encode(signature),
        "signed_transaction": hex::encode(&signed_bytes),
        "hash": hex::encode(signed.hash().0),
        "encoded_size": signed_bytes.len(),
        "fee": tx.fee,
        "required_fee": required,
    });
    (signed, out)
}

/// The transaction vector named `name`.
fn named_transaction(doc: &Value, name: &str) -> Value {
    doc["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .find(|vector| vector["input"]["name"] == name)
        .unwrap_or_else(|| panic!("no transaction vector named {name}"))["input"]
        .clone()
}

/// `tx_root` as docs/wire.md describes it.
fn merkle_root(mut level: Vec<[u8; 32]>) -> [u8; 32] {
    if level.is_empty() {
        return [0; 32];
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => sha256(&[&[1], left, right]),
                _ => pair[0],
            })
            .collect();
    }
    level[0]
}

#[test]
fn transactions() {
    let mut file = VectorFile::open("transactions.json");
    let doc = file.doc.clone();
    let params = chain_params(&doc);
    assert_eq!(
        (params.base_fee, params.byte_fee),
        (
            ChainParams::default().base_fee,
            ChainParams::default().byte_fee
        ),
        "the vectors use the default fee parameters"
    );
    file.check("transactions", |input| signed_transaction(input, &params).1);
    file.check("rejected", |input| {
        let base = named_transaction(&doc, text_of(&input["from"]));
        let (signed, _) = signed_transaction(&base, &params);
        let mut bytes = signed.encode();
        let mut genesis = Hash(unhex32(&base["genesis_hash"]));
        let signature_at = bytes.len() - 64;
        match text_of(&input["mutation"]) {
            "flip the lowest bit of signature byte 0" => bytes[signature_at] ^= 1,
            "flip the lowest bit of the nonce" => bytes[32] ^= 1,
            "verify under another genesis hash" => genesis = Hash(unhex32(&input["genesis_hash"])),
            "append one byte" => bytes.push(0),
            "drop the last byte" => {
                bytes.pop();
            }
            "unknown call module (first call byte 0xff)" => bytes[32 + 8 + 16 + 8] = 0xff,
            other => panic!("unknown mutation {other}"),
        }
        let verdict = match SignedTransaction::decode_strict(&bytes) {
            Err(_) => json!({ "decodes": false, "reason": "malformed" }),
            Ok(tx) if tx.verify_signature(&genesis) => panic!("a rejected vector verifies"),
            Ok(_) => {
                json!({ "decodes": true, "signature_valid": false, "reason": "bad_signature" })
            }
        };
        let mut out = json!({ "signed_transaction": hex::encode(&bytes) });
        out.as_object_mut()
            .expect("object")
            .extend(verdict.as_object().expect("object").clone());
        out
    });
    file.check("headers", |input| {
        let header = Header {
            parent: Hash(unhex32(&input["parent"])),
            height: u64_of(&input["height"]),
            timestamp_ms: u64_of(&input["timestamp_ms"]),
            tx_root: Hash(unhex32(&input["tx_root"])),
            state_root: Hash(unhex32(&input["state_root"])),
        };
        let bytes = [
            &header.parent.0[..],
            &header.height.to_le_bytes(),
            &header.timestamp_ms.to_le_bytes(),
            &header.tx_root.0,
            &header.state_root.0,
        ]
        .concat();
        assert_eq!(header.encode(), bytes);
        assert_eq!(header.hash().0, sha256(&[&bytes]));
        json!({ "header": hex::encode(&bytes), "hash": hex::encode(header.hash().0) })
    });
    file.check("tx_roots", |input| {
        let txs: Vec<SignedTransaction> = input["transactions"]
            .as_array()
            .expect("names")
            .iter()
            .map(|name| signed_transaction(&named_transaction(&doc, text_of(name)), &params).0)
            .collect();
        let hashes: Vec<[u8; 32]> = txs.iter().map(|tx| tx.hash().0).collect();
        let root = tx_root(&txs);
        assert_eq!(root.0, merkle_root(hashes.clone()));
        json!({
            "transaction_hashes": hashes.iter().map(hex::encode).collect::<Vec<_>>(),
            "tx_root": hex::encode(root.0),
        })
    });
    file.finish();
}

// ---------------------------------------------------------------------------------------------
// Finalization certificates
// ---------------------------------------------------------------------------------------------

fn certificate_error(e: &certificate::Error) -> &'static str {
    match e {
        certificate::Error::InvalidValidatorSet => "invalid_validator_set",
        certificate::Error::MalformedCertificate(_) => "malformed_certificate",
        certificate::Error::WrongBlock { .. } => "wrong_block",
        certificate::Error::InvalidSignatures => "invalid_signatures",
        certificate::Error::WrongEpoch { .. } => "wrong_epoch",
        certificate::Error::WeakValidatorKey { .. } => "weak_validator_key",
    }
}

fn commonware_key(public: &[u8; 32]) -> PublicKey {
    PublicKey::decode(Copying(&public[..])).expect("a valid ed25519 key")
}

/// The consensus namespace of a network: base ‖ "/" ‖ genesis hash.
fn namespace(base: &[u8], genesis: &[u8; 32]) -> Vec<u8> {
    [base, b"/", genesis].concat()
}

/// A finalization certificate built byte by byte from a vector's input, with what it is made of.
struct BuiltCertificate {
    seeds: Vec<[u8; 32]>,
    sorted: Vec<[u8; 32]>,
    namespace: Vec<u8>,
    finalize_namespace: Vec<u8>,
    proposal: Vec<u8>,
    message: Vec<u8>,
    signatures: Vec<[u8; 64]>,
    bytes: Vec<u8>,
}

fn build_certificate(input: &Value) -> BuiltCertificate {
    let seeds: Vec<[u8; 32]> = input["validator_seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .map(unhex32)
        .collect();
    let mut sorted: Vec<[u8; 32]> = seeds.iter().map(public_of).collect();
    sorted.sort();
    let base = text_of(&input["namespace_base"]).as_bytes();
    let genesis = unhex32(&input["genesis_hash"]);
    let sign_genesis = input
        .get("sign_genesis_hash")
        .map(unhex32)
        .unwrap_or(genesis);
    let signed_namespace = namespace(base, &sign_genesis);
    let finalize_namespace = [&signed_namespace[..], b"_FINALIZE"].concat();
    let proposal = [
        varint(u64_of(&input["epoch"])),
        varint(u64_of(&input["view"])),
        varint(u64_of(&input["parent_view"])),
        unhex32(&input["block_hash"]).to_vec(),
    ]
    .concat();
    let message = [
        varint(finalize_namespace.len() as u64),
        finalize_namespace.clone(),
        proposal.clone(),
    ]
    .concat();
    let positions: Vec<usize> = input["signers"]
        .as_array()
        .expect("signers")
        .iter()
        .map(|p| u64_of(p) as usize)
        .collect();
    let mut signatures: Vec<[u8; 64]> = positions
        .iter()
        .map(|position| {
            let outsider = input
                .get("outsider")
                .filter(|o| u64_of(&o["position"]) as usize == *position);
            let seed = match outsider {
                Some(outsider) => unhex32(&outsider["seed"]),
                None => *seeds
                    .iter()
                    .find(|seed| public_of(seed) == sorted[*position])
                    .expect("a signer of the set"),
            };
            signing_key(&seed).sign(&message).to_bytes()
        })
        .collect();
    if let Some(index) = input.get("flip_signature_bit") {
        signatures[u64_of(index) as usize][0] ^= 1;
    }
    if let Some(pair) = input.get("swap_signatures") {
        signatures.swap(u64_of(&pair[0]) as usize, u64_of(&pair[1]) as usize);
    }
    let bits = input
        .get("bitmap_len")
        .map(u64_of)
        .unwrap_or(sorted.len() as u64);
    let mut bitmap = vec![0u8; bits.div_ceil(8) as usize];
    for position in &positions {
        bitmap[position / 8] |= 1 << (position % 8);
    }
    let bytes = [
        proposal.clone(),
        bits.to_be_bytes().to_vec(),
        bitmap,
        varint(signatures.len() as u64),
        signatures.concat(),
    ]
    .concat();
    BuiltCertificate {
        seeds,
        sorted,
        namespace: namespace(base, &genesis),
        finalize_namespace,
        proposal,
        message,
        signatures,
        bytes,
    }
}

fn certificate_vector(input: &Value) -> Value {
    let built = build_certificate(input);
    let base = text_of(&input["namespace_base"]).as_bytes();
    let genesis = unhex32(&input["genesis_hash"]);
    assert_eq!(built.namespace, namespace_for(base, &Hash(genesis)));
    if base == certificate::NAMESPACE {
        assert_eq!(built.namespace, network_namespace(&Hash(genesis)));
    }
    // The verifier takes the set in any order: pass it as given (unsorted).
    let validators: Vec<PublicKey> = built
        .seeds
        .iter()
        .map(|seed| commonware_key(&public_of(seed)))
        .collect();
    let block = input
        .get("verify_block_hash")
        .map(unhex32)
        .unwrap_or_else(|| unhex32(&input["block_hash"]));
    let epoch = input
        .get("verify_epoch")
        .map(u64_of)
        .unwrap_or_else(|| u64_of(&input["epoch"]));
    let verdict = match verify_finalization_in_epoch(
        &validators,
        &built.namespace,
        &built.bytes,
        &Hash(block),
        epoch,
    ) {
        Ok(at) => {
            assert_eq!(at.view, u64_of(&input["view"]));
            assert_eq!(at.parent_view, u64_of(&input["parent_view"]));
            json!({ "accepted": true, "signers": at.signers })
        }
        Err(e) => json!({ "accepted": false, "error": certificate_error(&e) }),
    };
    let n = built.sorted.len() as u64;
    let mut out = json!({
        "validators_sorted": built.sorted.iter().map(hex::encode).collect::<Vec<_>>(),
        "quorum": n - (n - 1) / 3,
        "namespace": hex::encode(&built.namespace),
        "finalize_namespace": hex::encode(&built.finalize_namespace),
        "proposal": hex::encode(&built.proposal),
        "signed_message": hex::encode(&built.message),
        "signatures": built.signatures.iter().map(hex::encode).collect::<Vec<_>>(),
        "certificate": hex::encode(&built.bytes),
    });
    out.as_object_mut()
        .expect("object")
        .extend(verdict.as_object().expect("object").clone());
    out
}

#[test]
fn certificates() {
    let mut file = VectorFile::open("certificates.json");
    file.check("quorum", |input| {
        let n = u64_of(&input["validators"]);
        let f = (n - 1) / 3;
        json!({ "max_faults": f, "quorum": n - f })
    });
    file.check("accepted", |input| {
        let out = certificate_vector(input);
        assert_eq!(out["accepted"], true, "{input}");
        // Where the light client's test helper can sign the same proposal (view 7 after 6, any
        // epoch), commonware's own assembly gives the same bytes.
        if input["view"] == 7 && input["parent_view"] == 6 {
            let built = build_certificate(input);
            let keys: Vec<_> = built
                .seeds
                .iter()
                .map(|seed| {
                    commonware_cryptography::ed25519::PrivateKey::decode(Copying(&seed[..]))
                        .expect("a 32-byte seed")
                })
                .collect();
            let signers: Vec<usize> = input["signers"]
                .as_array()
                .expect("signers")
                .iter()
                .map(|p| {
                    let public = built.sorted[u64_of(p) as usize];
                    built
                        .seeds
                        .iter()
                        .position(|seed| public_of(seed) == public)
                        .expect("in the set")
                })
                .collect();
            let theirs = phalanx_light_client::testing::certify_in_epoch(
                &keys,
                &signers,
                &built.namespace,
                Hash(unhex32(&input["block_hash"])),
                u64_of(&input["epoch"]),
            );
            assert_eq!(hex::encode(theirs), hex::encode(&built.bytes));
        }
        out
    });
    file.check("rejected", |input| {
        let out = certificate_vector(input);
        assert_eq!(out["accepted"], false, "{input}");
        out
    });
    file.finish();
}

// ---------------------------------------------------------------------------------------------
// State: keys, a dev chain's state, proofs
// ---------------------------------------------------------------------------------------------

fn account_of(value: &Value) -> AccountId {
    AccountId::from_address(text_of(value)).expect("a valid address")
}

/// A state key as docs/wire.md#state-keys lays it out.
fn state_key(input: &Value) -> Vec<u8> {
    let module = text_of(&input["module"]);
    let item = text_of(&input["item"]);
    let be64 = |field: &str| u64_of(&input[field]).to_be_bytes().to_vec();
    let be32 = |field: &str| (u64_of(&input[field]) as u32).to_be_bytes().to_vec();
    let account = || account_of(&input["account"]).0.to_vec();
    let identity = || unhex32(&input["identity"]).to_vec();
    let text = |s: &str| s.as_bytes().to_vec();
    let origin = || {
        let origin: Origin = serde_json::from_value(input["origin"].clone()).expect("origin");
        origin.encode()
    };
    match (module, item) {
        ("system", "nonce") => [text("system/nonce/"), account()].concat(),
        ("system", "block_hash") => [text("system/block_hash/"), be64("height")].concat(),
        ("system", fixed) => text(&format!("system/{fixed}")),
        ("balances", "account") => [text("balances/account/"), account()].concat(),
        ("balances", "issuance") => text("balances/issuance"),
        ("governance", "params") => text("governance/params"),
        ("governance", "next") => text("governance/next"),
        ("governance", "proposal") => [text("governance/proposal/"), be32("proposal")].concat(),
        ("governance", "vote") => [
            text("governance/vote/"),
            be32("proposal"),
            text("/"),
            account(),
        ]
        .concat(),
        ("governance", queue) => [
            text(&format!("governance/{queue}/")),
            be64("height"),
            be32("proposal"),
        ]
        .concat(),
        ("registry", "policy") => text("registry/policy"),
        ("registry", "worker") => [
            text("registry/worker/"),
            unhex32(&input["identity"]).to_vec(),
        ]
        .concat(),
        ("root", "account") => text("root/account"),
        ("mq", "next") => [text("mq/next/"), origin()].concat(),
        ("mq", "message") => [text("mq/message/"), origin(), text("/"), be64("sequence")].concat(),
        ("mq", "expire") => [
            text("mq/expire/"),
            be64("expire_at_ms"),
            text("/"),
            origin(),
            text("/"),
            be64("sequence"),
        ]
        .concat(),
        ("evidence", "fault") => [
            text("evidence/"),
            unhex32(&input["validator"]).to_vec(),
            be64("epoch"),
            be64("view"),
            vec![u64_of(&input["kind"]) as u8],
        ]
        .concat(),
        ("peers", "address") => [text("peers/address/"), account()].concat(),
        (
            "gatekeeper",
            fixed @ ("params" | "requested_epoch" | "current_epoch" | "next_cluster"),
        ) => text(&format!("gatekeeper/{fixed}")),
        ("gatekeeper", "member") => [text("gatekeeper/member/"), identity()].concat(),
        ("gatekeeper", "unbonding") => [
            text("gatekeeper/unbonding/"),
            be64("release_at_ms"),
            text("/"),
            identity(),
        ]
        .concat(),
        ("gatekeeper", "epoch") => [text("gatekeeper/epoch/"), be32("epoch")].concat(),
        ("gatekeeper", item @ ("holder" | "master_share")) => [
            text(&format!("gatekeeper/{item}/")),
            be32("epoch"),
            text("/"),
            identity(),
        ]
        .concat(),
        ("gatekeeper", "cluster") => [text("gatekeeper/cluster/"), be32("cluster")].concat(),
        ("gatekeeper", "cluster_member") => [
            text("gatekeeper/cluster_member/"),
            be32("cluster"),
            text("/"),
            identity(),
        ]
        .concat(),
        ("gatekeeper", "cluster_key") => [
            text("gatekeeper/cluster_key/"),
            be32("cluster"),
            text("/"),
            be32("epoch"),
        ]
        .concat(),
        ("gatekeeper", "cluster_share") => [
            text("gatekeeper/cluster_share/"),
            be32("epoch"),
            text("/"),
            be32("cluster"),
            text("/"),
            identity(),
        ]
        .concat(),
        other => panic!("no key layout for {other:?}"),
    }
}

/// Where the runtime exposes a key function, it must agree with [`state_key`].
fn runtime_key(input: &Value) -> Option<Vec<u8>> {
    let origin = || -> Origin { serde_json::from_value(input["origin"].clone()).expect("origin") };
    Some(match (text_of(&input["module"]), text_of(&input["item"])) {
        ("system", "nonce") => system::nonce_key(&account_of(&input["account"])),
        ("system", "validators") => VALIDATORS_KEY.to_vec(),
        ("balances", "account") => balances::account_key(&account_of(&input["account"])),
        ("peers", "address") => phalanx_runtime::peers::address_key(&account_of(&input["account"])),
        ("registry", "policy") => registry::policy_key(),
        ("registry", "worker") => registry::worker_key(&unhex32(&input["identity"])),
        ("mq", "next") => message_queue::next_sequence_key(&origin()),
        ("mq", "message") => message_queue::message_key(&origin(), u64_of(&input["sequence"])),
        ("mq", "expire") => message_queue::expiry_key(
            u64_of(&input["expire_at_ms"]),
            &origin(),
            u64_of(&input["sequence"]),
        ),
        ("gatekeeper", item) => {
            let identity = || unhex32(&input["identity"]);
            let epoch = || u64_of(&input["epoch"]) as u32;
            let cluster = || u64_of(&input["cluster"]) as u32;
            match item {
                "member" => gatekeeper::gatekeeper_key(&identity()),
                "requested_epoch" => gatekeeper::requested_epoch_key(),
                "current_epoch" => gatekeeper::current_epoch_key(),
                "epoch" => gatekeeper::epoch_key(epoch()),
                "holder" => gatekeeper::holder_key(epoch(), &identity()),
                "master_share" => gatekeeper::master_share_key(epoch(), &identity()),
                "cluster" => gatekeeper::cluster_key(cluster()),
                "cluster_member" => gatekeeper::cluster_member_key(cluster(), &identity()),
                "cluster_key" => gatekeeper::cluster_public_key(cluster(), epoch()),
                "cluster_share" => gatekeeper::cluster_share_key(cluster(), epoch(), &identity()),
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Names the documented item a key of the state is, or `None` for a key docs/wire.md does not
/// describe.
fn describe_key(key: &[u8]) -> Option<String> {
    const FIXED: [&str; 23] = [
        "system/params",
        "system/block",
        "system/validators",
        "system/previous_validators",
        "system/next_validators",
        "system/chain_id",
        "system/genesis_time",
        "system/production",
        "balances/issuance",
        "governance/params",
        "governance/next",
        "registry/policy",
        "root/account",
        "gatekeeper/params",
        "gatekeeper/requested_epoch",
        "gatekeeper/current_epoch",
        "gatekeeper/next_cluster",
        "mining/params",
        "staking/params",
        "mining/settlement",
        "mining/next_pool",
        "mining/waiting_cursor",
        "mining/slots",
    ];
    if let Some(fixed) = FIXED.iter().find(|fixed| key == fixed.as_bytes()) {
        return Some(fixed.to_string());
    }
    let prefixed: [(&str, usize, &str); 34] = [
        ("staking/bond/", 32, "staking/bond/<account>"),
        (
            "staking/release/",
            8 + 32,
            "staking/release/<release_at_ms u64 BE><account>",
        ),
        ("mining/lock/", 8 + 32, "mining/lock/<id u64 BE><account>"),
        ("mining/ban/", 32, "mining/ban/<identity>"),
        ("mining/pool/", 8, "mining/pool/<id u64 BE>"),
        ("mining/share/", 8 + 32, "mining/share/<id u64 BE><account>"),
        ("mining/queue/", 16, "mining/queue/<id u64 BE><seq u64 BE>"),
        ("mining/waiting/", 8, "mining/waiting/<id u64 BE>"),
        ("mining/miner/", 32, "mining/miner/<identity>"),
        ("mining/active/", 32, "mining/active/<identity>"),
        ("mining/slot/", 4, "mining/slot/<u32 BE>"),
        (
            "mining/deadline/",
            8 + 32,
            "mining/deadline/<height u64 BE><identity>",
        ),
        ("mining/day/", 8, "mining/day/<day u64 BE>"),
        ("system/nonce/", 32, "system/nonce/<account>"),
        ("system/block_hash/", 8, "system/block_hash/<height u64 BE>"),
        ("balances/account/", 32, "balances/account/<account>"),
        ("balances/hold/", 33, "balances/hold/<account><reason u8>"),
        ("balances/vesting/", 32, "balances/vesting/<account>"),
        ("governance/proposal/", 4, "governance/proposal/<id u32 BE>"),
        (
            "governance/vote/",
            4 + 1 + 32,
            "governance/vote/<id u32 BE>/<account>",
        ),
        (
            "governance/due/tally/",
            12,
            "governance/due/tally/<height u64 BE><id u32 BE>",
        ),
        (
            "governance/due/enact/",
            12,
            "governance/due/enact/<height u64 BE><id u32 BE>",
        ),
        (
            "governance/due/prune/",
            12,
            "governance/due/prune/<height u64 BE><id u32 BE>",
        ),
        ("registry/worker/", 32, "registry/worker/<identity>"),
        ("peers/address/", 32, "peers/address/<account>"),
        ("gatekeeper/member/", 32, "gatekeeper/member/<identity>"),
        (
            "gatekeeper/unbonding/",
            8 + 1 + 32,
            "gatekeeper/unbonding/<release_at_ms u64 BE>/<identity>",
        ),
        ("gatekeeper/epoch/", 4, "gatekeeper/epoch/<epoch u32 BE>"),
        (
            "gatekeeper/holder/",
            4 + 1 + 32,
            "gatekeeper/holder/<epoch u32 BE>/<identity>",
        ),
        (
            "gatekeeper/master_share/",
            4 + 1 + 32,
            "gatekeeper/master_share/<epoch u32 BE>/<identity>",
        ),
        (
            "gatekeeper/cluster/",
            4,
            "gatekeeper/cluster/<index u32 BE>",
        ),
        (
            "gatekeeper/cluster_member/",
            4 + 1 + 32,
            "gatekeeper/cluster_member/<index u32 BE>/<worker>",
        ),
        (
            "gatekeeper/cluster_key/",
            4 + 1 + 4,
            "gatekeeper/cluster_key/<index u32 BE>/<epoch u32 BE>",
        ),
        (
            "gatekeeper/cluster_share/",
            4 + 1 + 4 + 1 + 32,
            "gatekeeper/cluster_share/<epoch u32 BE>/<index u32 BE>/<worker>",
        ),
    ];
    prefixed
        .iter()
        .find(|(prefix, len, _)| {
            key.starts_with(prefix.as_bytes()) && key.len() == prefix.len() + len
        })
        .map(|(_, _, name)| name.to_string())
}

fn dump_entry(key: &[u8], value: Option<&[u8]>) -> Value {
    let item = describe_key(key).unwrap_or_else(|| {
        panic!(
            "state key {} ({}) is not described in docs/wire.md#state-keys",
            hex::encode(key),
            String::from_utf8_lossy(key)
        )
    });
    json!({
        "key": hex::encode(key),
        "item": item,
        "value": value.map(hex::encode),
    })
}

#[test]
fn state_keys_and_proofs() {
    let mut file = VectorFile::open("state.json");
    let doc = file.doc.clone();
    file.check("keys", |input| {
        let key = state_key(input);
        if let Some(theirs) = runtime_key(input) {
            assert_eq!(hex::encode(&theirs), hex::encode(&key), "{input}");
        }
        // The SDK lays out the keys it checks proofs of itself (it has no runtime).
        let epoch = || u64_of(&input["epoch"]) as u32;
        let sdk = match (text_of(&input["module"]), text_of(&input["item"])) {
            ("gatekeeper", "epoch") => Some(phalanx_client::MasterKeyProof::storage_key(epoch())),
            ("gatekeeper", "cluster_key") => Some(phalanx_client::ClusterKeyProof::storage_key(
                u64_of(&input["cluster"]) as u32,
                epoch(),
            )),
            _ => None,
        };
        if let Some(sdk) = sdk {
            assert_eq!(hex::encode(&sdk), hex::encode(&key), "{input}");
        }
        json!({ "key": hex::encode(key) })
    });
    file.check_single("chain", dev_chain);
    file.check("proofs", |input| {
        let mut state = state_of(input);
        let root = state.root();
        let proofs: Vec<Value> = input["queries"]
            .as_array()
            .expect("queries")
            .iter()
            .map(|query| {
                let key = unhex(query);
                let value = state.get(&key).cloned();
                let proof = state.prove(&key);
                assert_eq!(proof.verify(&root, &key, value.as_deref()), Ok(()));
                assert_eq!(
                    verify_by_hand(&proof.encode(), &root.0, &key, value.as_deref()),
                    Ok(())
                );
                json!({
                    "key": hex::encode(&key),
                    "value": value.map(hex::encode),
                    "proof": hex::encode(proof.encode()),
                    "siblings": proof.siblings.len(),
                    "terminal": match proof.terminal { Terminal::Empty => "empty", Terminal::Leaf { .. } => "leaf" },
                })
            })
            .collect();
        json!({ "root": hex::encode(root.0), "proofs": proofs })
    });
    file.check("rejected_proofs", |input| {
        let base = doc["proofs"]
            .as_array()
            .expect("proofs")
            .iter()
            .find(|vector| vector["input"]["name"] == input["state"])
            .expect("a named state")["input"]
            .clone();
        let mut state = state_of(&base);
        let mut root = state.root();
        let key = unhex(&input["key"]);
        let mut claimed = state.get(&key).map(|v| v.to_vec());
        let mut proof = state.prove(&key);
        let mut trailing = false;
        match text_of(&input["mutation"]) {
            "claim another value" | "claim a value for an absent key" => {
                claimed = Some(unhex(&input["claimed_value"]))
            }
            "claim the key is absent" => claimed = None,
            "flip the lowest bit of sibling 0" => proof.siblings[0].0[0] ^= 1,
            "drop the last sibling" => {
                proof.siblings.pop();
            }
            "verify against another root" => root = Hash(unhex32(&input["root"])),
            "append one byte to the encoded proof" => trailing = true,
            other => panic!("unknown mutation {other}"),
        }
        let mut bytes = proof.encode();
        if trailing {
            bytes.push(0);
        }
        let result = Proof::decode_strict(&bytes)
            .and_then(|proof| proof.verify(&root, &key, claimed.as_deref()));
        let by_hand = verify_by_hand(&bytes, &root.0, &key, claimed.as_deref());
        let error = match result {
            Ok(()) => panic!("a rejected proof verifies: {input}"),
            Err(ProofError::RootMismatch) => "root_mismatch",
            Err(ProofError::ValueMismatch) => "value_mismatch",
            Err(ProofError::TooDeep) => "too_deep",
            Err(ProofError::Codec(_)) => "malformed",
        };
        assert!(by_hand.is_err(), "the by-hand check accepts {input}");
        json!({
            "root": hex::encode(root.0),
            "claimed_value": claimed.map(hex::encode),
            "proof": hex::encode(&bytes),
            "accepted": false,
            "error": error,
        })
    });
    file.finish();
}

fn state_of(input: &Value) -> State {
    let mut state = State::new();
    for entry in input["entries"].as_array().expect("entries") {
        state.insert(unhex(&entry[0]), unhex(&entry[1]));
    }
    state
}

/// Proof verification written from docs/wire.md#state-proofs alone.
fn verify_by_hand(
    proof: &[u8],
    root: &[u8; 32],
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(), &'static str> {
    // SCALE compact length of the sibling list (modes 0b00, 0b01, 0b10 suffice up to 2^30).
    let (count, mut at) = match proof.first().ok_or("empty")? & 0b11 {
        0b00 => ((proof[0] >> 2) as usize, 1),
        0b01 => {
            let raw = u16::from_le_bytes([proof[0], *proof.get(1).ok_or("short")?]);
            ((raw >> 2) as usize, 2)
        }
        _ => return Err("more siblings than a proof can have"),
    };
    if count > 256 {
        return Err("too deep");
    }
    let mut siblings = Vec::new();
    for _ in 0..count {
        let sibling: [u8; 32] = proof
            .get(at..at + 32)
            .ok_or("short")?
            .try_into()
            .map_err(|_| "short")?;
        siblings.push(sibling);
        at += 32;
    }
    let path = sha256(&[key]);
    let bit = |hash: &[u8; 32], depth: usize| (hash[depth / 8] >> (7 - depth % 8)) & 1 == 1;
    let start = match (proof.get(at).ok_or("short")?, value) {
        (0, None) if proof.len() == at + 1 => [0u8; 32],
        (1, _) if proof.len() == at + 65 => {
            let leaf_path: [u8; 32] = proof[at + 1..at + 33].try_into().map_err(|_| "short")?;
            let value_hash: [u8; 32] = proof[at + 33..at + 65].try_into().map_err(|_| "short")?;
            match value {
                Some(value) if leaf_path != path || value_hash != sha256(&[value]) => {
                    return Err("another value")
                }
                None if leaf_path == path
                    || (0..count).any(|d| bit(&leaf_path, d) != bit(&path, d)) =>
                {
                    return Err("the leaf does not show absence")
                }
                _ => {}
            }
            sha256(&[&[0], &leaf_path, &value_hash])
        }
        _ => return Err("malformed or a value claimed for an empty subtree"),
    };
    let computed = siblings
        .iter()
        .enumerate()
        .rev()
        .fold(start, |acc, (depth, sibling)| {
            if bit(&path, depth) {
                sha256(&[&[1], sibling, &acc])
            } else {
                sha256(&[&[1], &acc, sibling])
            }
        });
    if computed == *root {
        Ok(())
    } else {
        Err("root mismatch")
    }
}

/// A dev genesis and one block on it, dumped for clients that decode state themselves; the
/// light client follows it from genesis.
fn dev_chain(input: &Value) -> Value {
    let seeds: Vec<[u8; 32]> = input["genesis"]["validator_seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .map(unhex32)
        .collect();
    let validators: Vec<[u8; 32]> = seeds.iter().map(public_of).collect();
    let config = GenesisConfig::dev(
        validators.iter().map(hex::encode).collect(),
        u64_of(&input["genesis"]["timestamp_ms"]),
    );
    let (genesis, mut state) = phalanx_runtime::genesis_block(&config).expect("dev genesis");
    let genesis_hash = genesis.hash();
    let genesis_dump: Vec<Value> = state
        .scan_prefix(b"")
        .map(|(key, value)| dump_entry(key, Some(value.as_slice())))
        .collect();
    let before = state.clone();
    let validators_proof = state.prove(VALIDATORS_KEY);
    let namespace = network_namespace(&genesis_hash);
    let mut light = LightClient::new(
        genesis.header.clone(),
        &validators,
        &validators_proof,
        &namespace,
    )
    .expect("the light client starts from the dev genesis");

    // Block 1: a proposal, a vote on it and a transfer.
    let params = system::params(&state).expect("params");
    let (alice, bob) = (Keypair::dev("alice"), Keypair::dev("bob"));
    let sign = |key: &Keypair, nonce: u64, call: Call| {
        Client::sign_with_nonce(key, &genesis_hash, &params, nonce, 600, call)
    };
    let transactions = vec![
        sign(
            &alice,
            0,
            Call::Governance(GovernanceCall::Propose {
                calls: vec![PrivilegedCall::TreasurySpend {
                    to: bob.account(),
                    amount: phalanx_primitives::PHA,
                }],
                description: b"pay bob".to_vec(),
            }),
        ),
        sign(
            &bob,
            0,
            Call::Governance(GovernanceCall::Vote {
                proposal: 0,
                aye: true,
                amount: 500 * phalanx_primitives::PHA,
            }),
        ),
        sign(
            &alice,
            1,
            Call::Balances(BalancesCall::Transfer {
                to: bob.account(),
                amount: 12_500_000_000_000,
            }),
        ),
    ];
    let timestamp_ms = u64_of(&input["block_1"]["timestamp_ms"]);
    let context = BlockContext {
        height: 1,
        timestamp_ms,
        genesis_hash,
        parent_hash: genesis_hash,
    };
    let outcome = phalanx_runtime::execute_block(&mut state, &context, &transactions)
        .expect("block 1 executes");
    for receipt in &outcome.receipts {
        assert_eq!(receipt.error, None, "{receipt:?}");
    }
    let block = Block {
        header: Header {
            parent: genesis_hash,
            height: 1,
            timestamp_ms,
            tx_root: tx_root(&transactions),
            state_root: state.root(),
        },
        transactions: transactions.clone(),
    };
    let mut changes: Vec<Value> = state
        .scan_prefix(b"")
        .filter(|(key, value)| before.get(key) != Some(*value))
        .map(|(key, value)| dump_entry(key, Some(value.as_slice())))
        .collect();
    changes.extend(
        before
            .scan_prefix(b"")
            .filter(|(key, _)| state.get(key).is_none())
            .map(|(key, _)| dump_entry(key, None)),
    );

    // Its certificate from the one validator (epoch 0, view 1 after view 0), and the light
    // client accepting it.
    let certificate = build_certificate(&json!({
        "validator_seeds": seeds.iter().map(hex::encode).collect::<Vec<_>>(),
        "namespace_base": String::from_utf8(certificate::NAMESPACE.to_vec()).expect("ascii"),
        "genesis_hash": hex::encode(genesis_hash.0),
        "epoch": 0,
        "view": 1,
        "parent_view": 0,
        "block_hash": hex::encode(block.hash().0),
        "signers": [0],
    }))
    .bytes;
    light
        .accept_block(&block, &certificate)
        .expect("the light client accepts block 1");
    let bob_key = balances::account_key(&bob.account());
    let bob_value = state.get(&bob_key).cloned();
    let bob_proof = state.prove(&bob_key);
    bob_proof
        .verify(&light.head().state_root, &bob_key, bob_value.as_deref())
        .expect("bob's balance is proven against the certified head");

    // A call that fails, in block 2: its receipt records the stable code of the error (module
    // and reason), never the error's message, so rewording a message changes no byte.
    let failing = sign(
        &alice,
        2,
        Call::Balances(BalancesCall::Transfer {
            to: bob.account(),
            amount: 0,
        }),
    );
    let context_2 = BlockContext {
        height: 2,
        timestamp_ms: timestamp_ms + 500,
        genesis_hash,
        parent_hash: block.hash(),
    };
    let mut state_2 = state.clone();
    phalanx_runtime::begin_block(&mut state_2, &context_2);
    let failed = phalanx_runtime::apply_transaction(&mut state_2, &context_2, &failing)
        .expect("a valid envelope whose call fails");
    assert!(failed.error.is_some(), "{failed:?}");

    json!({
        "failed_receipt": {
            "height": 2,
            "signed_transaction": hex::encode(failing.encode()),
            "receipt": serde_json::to_value(&failed).expect("receipt serializes"),
            "receipt_scale": hex::encode(failed.encode()),
        },
        "genesis": {
            "validators": validators.iter().map(hex::encode).collect::<Vec<_>>(),
            "header": hex::encode(genesis.header.encode()),
            "hash": hex::encode(genesis_hash.0),
            "state_root": hex::encode(genesis.header.state_root.0),
            "namespace": hex::encode(&namespace),
            "validators_proof": hex::encode(validators_proof.encode()),
            "state": genesis_dump,
        },
        "block_1": {
            "signed_transactions": transactions.iter().map(|tx| hex::encode(tx.encode())).collect::<Vec<_>>(),
            "block": hex::encode(block.encode()),
            "header": hex::encode(block.header.encode()),
            "hash": hex::encode(block.hash().0),
            "certificate": hex::encode(&certificate),
            "receipts": serde_json::to_value(&outcome.receipts).expect("receipts serialize"),
            "block_events": serde_json::to_value(&outcome.block_events).expect("events serialize"),
            "changes": changes,
            "bob_balance_proof": {
                "key": hex::encode(&bob_key),
                "value": bob_value.map(hex::encode),
                "proof": hex::encode(bob_proof.encode()),
            },
        },
    })
}
