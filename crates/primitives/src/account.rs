//! Accounts: ed25519 public keys, shown as bech32m addresses with the `pha` prefix.
//!
//! Keys come from 32 random bytes, from a BIP-39 mnemonic, or — on dev chains only — from a
//! well-known name (`alice`, `bob`, …). A mnemonic's secret is the first 32 bytes of its BIP-39
//! seed (empty passphrase) hashed with SHA-256 under the label `phalanx/ed25519/v1`, so one
//! phrase always gives one account.

use crate::hash::Hash;
use bech32::{primitives::decode::CheckedHrpstring, Bech32m, Hrp};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The human-readable part of every Phalanx address.
pub const ADDRESS_PREFIX: &str = "pha";

/// The names of the dev accounts a dev genesis funds, in order.
pub const DEV_ACCOUNTS: [&str; 6] = ["alice", "bob", "charlie", "dave", "eve", "ferdie"];

/// Problems with an address or key the user typed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountError {
    /// The text is not a valid bech32m string.
    #[error("not a valid bech32m address ({0}); addresses look like pha1…")]
    Bech32(String),
    /// The address has another network's prefix.
    #[error("address prefix is `{0}`, expected `pha`")]
    WrongPrefix(String),
    /// The payload is not 32 bytes.
    #[error("address carries {0} bytes, expected a 32-byte ed25519 public key")]
    WrongLength(usize),
    /// The 32 bytes are not a valid ed25519 point.
    #[error("address is not a valid ed25519 public key")]
    InvalidKey,
    /// The mnemonic phrase failed its checksum or word list.
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    /// A secret key was not 32 bytes of hex.
    #[error("a secret key is 64 hex characters (32 bytes)")]
    SecretFormat,
}

/// An account: the 32 bytes of an ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, MaxEncodedLen)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The bech32m address, `pha1…`.
    pub fn to_address(&self) -> String {
        let hrp = Hrp::parse_unchecked(ADDRESS_PREFIX);
        bech32::encode::<Bech32m>(hrp, &self.0).expect("32 bytes always fit a bech32m string")
    }

    /// Parses a `pha1…` address; the checksum must be bech32m (not the older bech32).
    pub fn from_address(text: &str) -> Result<AccountId, AccountError> {
        let checked = CheckedHrpstring::new::<Bech32m>(text)
            .map_err(|e| AccountError::Bech32(e.to_string()))?;
        let hrp = checked.hrp();
        // An all-uppercase address is the same address (BIP-350; QR codes use it); mixed case
        // never gets here, the checksum decoder refuses it.
        if !hrp.as_str().eq_ignore_ascii_case(ADDRESS_PREFIX) {
            return Err(AccountError::WrongPrefix(hrp.to_string()));
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AccountError::WrongLength(bytes.len()))?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| AccountError::InvalidKey)?;
        Ok(AccountId(bytes))
    }

    /// Verifies an ed25519 signature by this account over `message` under the chain's rule
    /// ([`crate::signature`]: no small-order key, canonical `s`, the cofactored equation), the
    /// verdict a batch check gives too.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        crate::signature::verify(&self.0, message, signature)
    }

    /// A deterministic account for module-owned funds (pots, treasury, escrow) that no key
    /// controls: the hash of a label. Nobody can sign for it because finding a secret key for a
    /// given public key is infeasible.
    pub fn module(label: &str) -> AccountId {
        AccountId(Hash::of_parts(&[b"phalanx/module/", label.as_bytes()]).0)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_address())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_address())
    }
}

impl FromStr for AccountId {
    type Err = AccountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AccountId::from_address(s)
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_address())
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AccountId::from_address(&text).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 key pair that signs for one account.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "Keypair({})", self.account())
    }
}

impl Keypair {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Keypair {
        let mut secret = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
        Keypair::from_secret(secret)
    }

    /// The key for a 32-byte secret.
    pub fn from_secret(secret: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// Parses 64 hex characters (optionally `0x`-prefixed) as a secret.
    pub fn from_secret_hex(text: &str) -> Result<Keypair, AccountError> {
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let bytes = hex::decode(text).map_err(|_| AccountError::SecretFormat)?;
        let secret: [u8; 32] = bytes.try_into().map_err(|_| AccountError::SecretFormat)?;
        Ok(Keypair::from_secret(secret))
    }

    /// A new 24-word mnemonic and its key.
    pub fn generate_mnemonic() -> (String, Keypair) {
        let mut entropy = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut entropy);
        let mnemonic =
            bip39::Mnemonic::from_entropy(&entropy).expect("32 bytes is a valid entropy length");
        let phrase = mnemonic.to_string();
        let key = Keypair::from_mnemonic(&phrase).expect("a generated mnemonic parses");
        (phrase, key)
    }

    /// The key a BIP-39 English mnemonic stands for.
    pub fn from_mnemonic(phrase: &str) -> Result<Keypair, AccountError> {
        let mnemonic =
            bip39::Mnemonic::parse(phrase).map_err(|e| AccountError::Mnemonic(e.to_string()))?;
        let seed = mnemonic.to_seed("");
        let secret = Hash::of_parts(&[b"phalanx/ed25519/v1", &seed[..32]]);
        Ok(Keypair::from_secret(secret.0))
    }

    /// A well-known dev key for `name` (`alice`, `bob`, …). Anyone can derive it: it is for
    /// dev chains only, and a production genesis never funds one.
    pub fn dev(name: &str) -> Keypair {
        let secret = Hash::of_parts(&[b"phalanx/dev-account/", name.to_lowercase().as_bytes()]);
        Keypair::from_secret(secret.0)
    }

    /// The account this key signs for.
    pub fn account(&self) -> AccountId {
        AccountId(self.signing.verifying_key().to_bytes())
    }

    /// The 32-byte secret (to store in a key file).
    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The secret scalar, for tests that craft signatures by hand.
    #[cfg(test)]
    pub(crate) fn secret_scalar(&self) -> curve25519_dalek::scalar::Scalar {
        self.signing.to_scalar()
    }
}

/// Whether `bytes` is an ed25519 public key others can trust signatures of, as a validator's
/// consensus key must be: a point on the curve, encoded canonically, not of small order, and
/// with no small-order part (in the prime-order subgroup).
///
/// A small-order key (the identity or another point of the 8-element torsion subgroup) has no
/// secret behind it: under cofactored (ZIP-215) verification, which consensus uses, anyone can
/// make signatures that verify for it. A non-canonical encoding names the same point as other
/// bytes, so one key could sit twice in a set whose byte strings are all distinct. And under
/// the cofactored equation the owner of `A` can also sign for `A + T` (`T` of small order), so
/// one secret could hold up to eight distinct keys of a set unless keys with a small-order part
/// are refused.
pub fn is_strong_public_key(bytes: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(bytes).is_ok_and(|key| {
        let point = key.to_edwards();
        !key.is_weak() && point.is_torsion_free() && point.compress().to_bytes() == *bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_with_a_small_order_part_is_not_strong() {
        // A + T for each small-order T ≠ identity: a valid, canonically encoded point, not of
        // small order, that A's owner can sign for under the cofactored rule.
        let keypair = Keypair::dev("validator");
        let a = curve25519_dalek::edwards::CompressedEdwardsY(keypair.account().0)
            .decompress()
            .expect("a point");
        assert!(is_strong_public_key(&keypair.account().0));
        for torsion in curve25519_dalek::constants::EIGHT_TORSION.iter().skip(1) {
            let shifted = (a + torsion).compress().0;
            assert!(VerifyingKey::from_bytes(&shifted).is_ok_and(|k| !k.is_weak()));
            assert!(!is_strong_public_key(&shifted));
            // And its owner can indeed sign for it: why it is refused.
            let message = b"two seats";
            let r = curve25519_dalek::scalar::Scalar::from(99u64);
            let big_r = (curve25519_dalek::constants::ED25519_BASEPOINT_POINT * r).compress();
            let k = crate::signature::challenge(big_r.as_bytes(), &shifted, message);
            let s = r + k * keypair.secret_scalar();
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(big_r.as_bytes());
            signature[32..].copy_from_slice(s.as_bytes());
            assert!(AccountId(shifted).verify(message, &signature));
        }
    }

    #[test]
    fn address_round_trips_and_has_prefix() {
        let account = Keypair::dev("alice").account();
        let address = account.to_address();
        assert!(address.starts_with("pha1"), "{address}");
        assert_eq!(AccountId::from_address(&address), Ok(account));
        // All uppercase is the same address (BIP-350); mixed case is refused.
        assert_eq!(
            AccountId::from_address(&address.to_uppercase()),
            Ok(account)
        );
        let mut mixed = address.clone();
        mixed.replace_range(0..1, "P");
        assert!(AccountId::from_address(&mixed).is_err());
    }

    #[test]
    fn address_rejects_wrong_prefix_checksum_and_length() {
        let account = Keypair::dev("bob").account();
        let other =
            bech32::encode::<Bech32m>(Hrp::parse_unchecked("btc"), &account.0).expect("encodes");
        assert_eq!(
            AccountId::from_address(&other),
            Err(AccountError::WrongPrefix("btc".into()))
        );
        // The older bech32 checksum is refused.
        let legacy = bech32::encode::<bech32::Bech32>(Hrp::parse_unchecked("pha"), &account.0)
            .expect("encodes");
        assert!(matches!(
            AccountId::from_address(&legacy),
            Err(AccountError::Bech32(_))
        ));
        let short =
            bech32::encode::<Bech32m>(Hrp::parse_unchecked("pha"), &[1u8; 20]).expect("encodes");
        assert_eq!(
            AccountId::from_address(&short),
            Err(AccountError::WrongLength(20))
        );
        let mut typo = account.to_address();
        typo.pop();
        typo.push('q');
        assert!(AccountId::from_address(&typo).is_err());
    }

    #[test]
    fn mnemonic_is_deterministic_and_checked() {
        let (phrase, key) = Keypair::generate_mnemonic();
        assert_eq!(phrase.split_whitespace().count(), 24);
        assert_eq!(
            Keypair::from_mnemonic(&phrase).expect("parses").account(),
            key.account()
        );
        let mut words: Vec<&str> = phrase.split_whitespace().collect();
        words.swap(0, 1);
        let swapped = words.join(" ");
        if swapped != phrase {
            assert!(
                Keypair::from_mnemonic(&swapped).is_err() || {
                    // A swap can, rarely, still satisfy the checksum; it must then be another key.
                    Keypair::from_mnemonic(&swapped).expect("parses").account() != key.account()
                }
            );
        }
        assert!(matches!(
            Keypair::from_mnemonic("not a phrase"),
            Err(AccountError::Mnemonic(_))
        ));
    }

    #[test]
    fn signatures_verify_only_for_the_signer_and_message() {
        let alice = Keypair::dev("alice");
        let bob = Keypair::dev("bob");
        let sig = alice.sign(b"hello");
        assert!(alice.account().verify(b"hello", &sig));
        assert!(!alice.account().verify(b"hellO", &sig));
        assert!(!bob.account().verify(b"hello", &sig));
        let mut forged = sig;
        forged[5] ^= 1;
        assert!(!alice.account().verify(b"hello", &forged));
    }

    #[test]
    fn dev_keys_are_stable_and_distinct() {
        assert_eq!(
            Keypair::dev("alice").account(),
            Keypair::dev("Alice").account()
        );
        assert_ne!(
            Keypair::dev("alice").account(),
            Keypair::dev("bob").account()
        );
        assert_ne!(
            AccountId::module("treasury"),
            AccountId::module("mining-pot")
        );
    }
}
