//! Turning what the user typed into accounts and keys.

use crate::{CliError, Result};
use phalanx_primitives::account::DEV_ACCOUNTS;
use phalanx_primitives::{AccountId, Keypair};
use std::path::Path;

/// Whether `name` is a dev account name.
pub fn is_dev_name(name: &str) -> bool {
    DEV_ACCOUNTS.contains(&name.to_lowercase().as_str())
}

/// An account from a `pha1…` address, a dev name (dev chains only) or a key file.
pub fn account(spec: &str, dev_chain: bool) -> Result<AccountId> {
    if spec.starts_with("pha1") {
        return Ok(AccountId::from_address(spec)?);
    }
    if is_dev_name(spec) {
        if !dev_chain {
            return Err(CliError::new(format!("`{spec}` is a dev account name; this chain is not a dev chain, use a pha1… address")));
        }
        return Ok(Keypair::dev(spec).account());
    }
    if Path::new(spec).is_file() {
        return Ok(signer(spec, dev_chain)?.account());
    }
    Err(CliError::new(format!(
        "`{spec}` is neither a pha1… address, a dev account name nor a key file"
    )))
}

/// A signing key from a dev name (dev chains only), a key file (hex secret), or a quoted
/// BIP-39 mnemonic.
pub fn signer(spec: &str, dev_chain: bool) -> Result<Keypair> {
    if is_dev_name(spec) {
        if !dev_chain {
            return Err(CliError::new(format!(
                "`{spec}` is a dev account; this chain is not a dev chain"
            )));
        }
        return Ok(Keypair::dev(spec));
    }
    if spec.split_whitespace().count() >= 12 {
        return Ok(Keypair::from_mnemonic(spec)?);
    }
    let path = Path::new(spec);
    if path.is_file() {
        let text = std::fs::read_to_string(path)?;
        let text = text.trim();
        if text.split_whitespace().count() >= 12 {
            return Ok(Keypair::from_mnemonic(text)?);
        }
        return Ok(Keypair::from_secret_hex(text)?);
    }
    Err(CliError::new(format!(
        "cannot sign as `{spec}`: give a dev account name, a key file (from `phalanx key new --out FILE`) or a quoted mnemonic"
    )))
}
