//! The signed transaction envelope.
//!
//! A transaction names its signer, the signer's next nonce, the fee it offers, the height after
//! which it expires and one [`Call`]. The signature covers a domain tag, the chain's genesis
//! hash and the SCALE encoding of the transaction, so a signature is valid on one chain only.

use crate::account::{AccountId, Keypair};
use crate::call::Call;
use crate::codec::{decode_strict, CodecError};
use crate::hash::Hash;
use crate::units::Balance;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Domain tag prepended to every transaction signing payload.
pub const TX_SIGNING_DOMAIN: &[u8] = b"phalanx/tx/v1";

/// Hard ceiling on an encoded transaction, whatever the chain parameters say.
pub const MAX_TX_BYTES: usize = 1 << 20;

/// What the signer asks for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Transaction {
    /// The account that signs and pays.
    pub signer: AccountId,
    /// The signer's next nonce: one more than its last included transaction.
    pub nonce: u64,
    /// Fee offered, in units; at least the chain's required fee, all of it is charged.
    pub fee: Balance,
    /// Last block height at which the transaction may be included.
    pub expires_at: u64,
    /// What to do.
    pub call: Call,
}

impl Transaction {
    /// The bytes the signer signs: domain ‖ genesis hash ‖ SCALE(transaction).
    pub fn signing_payload(&self, genesis: &Hash) -> Vec<u8> {
        let mut payload = Vec::with_capacity(TX_SIGNING_DOMAIN.len() + 32 + 128);
        payload.extend_from_slice(TX_SIGNING_DOMAIN);
        payload.extend_from_slice(genesis.as_bytes());
        self.encode_to(&mut payload);
        payload
    }

    /// Signs the transaction for the chain with `genesis`. The key must be the signer's.
    pub fn sign(self, key: &Keypair, genesis: &Hash) -> SignedTransaction {
        let signature = key.sign(&self.signing_payload(genesis));
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

/// A transaction with its signer's ed25519 signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedTransaction {
    /// The transaction.
    pub tx: Transaction,
    /// ed25519 signature over [`Transaction::signing_payload`].
    pub signature: [u8; 64],
}

impl SignedTransaction {
    /// The transaction's id: SHA-256 of its full encoding.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }

    /// Whether the signature is the signer's, for the chain with `genesis`.
    pub fn verify_signature(&self, genesis: &Hash) -> bool {
        self.tx
            .signer
            .verify(&self.tx.signing_payload(genesis), &self.signature)
    }

    /// Decodes untrusted bytes strictly (size, depth, no trailing bytes).
    pub fn decode_strict(bytes: &[u8]) -> Result<SignedTransaction, CodecError> {
        decode_strict(bytes, MAX_TX_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::BalancesCall;
    use proptest::prelude::*;

    fn transfer(nonce: u64) -> Transaction {
        Transaction {
            signer: Keypair::dev("alice").account(),
            nonce,
            fee: 1_000,
            expires_at: 100,
            call: Call::Balances(BalancesCall::Transfer {
                to: Keypair::dev("bob").account(),
                amount: 5,
            }),
        }
    }

    #[test]
    fn signature_binds_chain_and_content() {
        let genesis = Hash::of(b"genesis");
        let signed = transfer(0).sign(&Keypair::dev("alice"), &genesis);
        assert!(signed.verify_signature(&genesis));
        assert!(!signed.verify_signature(&Hash::of(b"another chain")));
        let mut tampered = signed.clone();
        tampered.tx.nonce = 1;
        assert!(!tampered.verify_signature(&genesis));
        let wrong_key = transfer(0).sign(&Keypair::dev("bob"), &genesis);
        assert!(!wrong_key.verify_signature(&genesis));
    }

    #[test]
    fn golden_encoding_of_a_transfer() {
        // Pins the wire format: a change here is a protocol change.
        let tx = Transaction {
            signer: AccountId([1; 32]),
            nonce: 2,
            fee: 3,
            expires_at: 4,
            call: Call::Balances(BalancesCall::Transfer {
                to: AccountId([5; 32]),
                amount: 6,
            }),
        };
        assert_eq!(
            hex::encode(tx.encode()),
            concat!(
                "0101010101010101010101010101010101010101010101010101010101010101",
                "0200000000000000",
                "03000000000000000000000000000000",
                "0400000000000000",
                "0000",
                "0505050505050505050505050505050505050505050505050505050505050505",
                "06000000000000000000000000000000",
            )
        );
    }

    #[test]
    fn decode_round_trips_and_refuses_trailing() {
        let signed = transfer(7).sign(&Keypair::dev("alice"), &Hash::ZERO);
        let bytes = signed.encode();
        assert_eq!(SignedTransaction::decode_strict(&bytes), Ok(signed));
        let mut extra = bytes;
        extra.push(0);
        assert_eq!(
            SignedTransaction::decode_strict(&extra),
            Err(CodecError::TrailingBytes(1))
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = SignedTransaction::decode_strict(&bytes);
        }

        #[test]
        fn encode_decode_round_trip(nonce in any::<u64>(), fee in any::<u128>(), amount in any::<u128>(), expires in any::<u64>()) {
            let mut tx = transfer(nonce);
            tx.fee = fee;
            tx.expires_at = expires;
            tx.call = Call::Balances(BalancesCall::Transfer { to: AccountId([9; 32]), amount });
            let signed = tx.sign(&Keypair::dev("alice"), &Hash::ZERO);
            prop_assert_eq!(SignedTransaction::decode_strict(&signed.encode()), Ok(signed));
        }
    }
}
