//! Peers: where each consensus node listens, published by the node's own key.
//!
//! A validator named by governance (`PrivilegedCall::SetValidators`) must be reachable by the
//! others without anyone editing their configs. Its node signs a transaction from its consensus
//! key (an ed25519 key is also an account) that records its p2p address here; when an epoch
//! starts, every validator reads the addresses of that epoch's set from its finalized state and
//! dials them. The signature is what makes the address trustworthy: only the key holder can
//! publish or change it, and the authenticated p2p handshake still proves the key on connect,
//! so a wrong address can only make a node unreachable, never impersonate it.
//!
//! Storage keys: `peers/address/<account>` → the address as text (`ip:port`).

use crate::events::Event;
use crate::module::{ErrorCodes, Module};
use crate::{BlockContext, DispatchResult};
use phalanx_primitives::call::PeersCall;
use phalanx_primitives::{AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};
use std::net::SocketAddr;

const ADDRESS_PREFIX: &[u8] = b"peers/address/";

/// Longest address text accepted (an IPv6 address with brackets and port fits in 47).
pub const MAX_ADDRESS_LEN: usize = 64;

/// Why a peers call failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum PeersError {
    /// The address is longer than [`MAX_ADDRESS_LEN`].
    #[error("the address is {len} bytes, over the {max}-byte limit")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The address is not `ip:port` with a routable-looking IP and a non-zero port.
    #[error("{0:?} is not an ip:port address other nodes can dial (e.g. 203.0.113.7:30300)")]
    Invalid(String),
    /// The sending account is not an ed25519 key anyone could use for consensus.
    #[error("the sending account is of small order or not canonically encoded, so it cannot be a consensus key")]
    WeakKey,
}

impl ErrorCodes for PeersError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("too_long", "the address is over the length limit"),
        (
            "invalid_address",
            "the address is not an ip:port other nodes can dial",
        ),
        ("weak_key", "the sending account cannot be a consensus key"),
    ];

    fn code(&self) -> &'static str {
        match self {
            PeersError::TooLong { .. } => "too_long",
            PeersError::Invalid(_) => "invalid_address",
            PeersError::WeakKey => "weak_key",
        }
    }
}

/// The storage key of `who`'s address.
pub fn address_key(who: &AccountId) -> Vec<u8> {
    [ADDRESS_PREFIX, &who.0[..]].concat()
}

/// Parses and checks an address as the chain accepts it.
pub fn parse_address(text: &str) -> Result<SocketAddr, PeersError> {
    if text.len() > MAX_ADDRESS_LEN {
        return Err(PeersError::TooLong {
            len: text.len(),
            max: MAX_ADDRESS_LEN,
        });
    }
    let address: SocketAddr = text
        .parse()
        .map_err(|_| PeersError::Invalid(text.to_string()))?;
    if address.port() == 0 || address.ip().is_unspecified() || address.ip().is_multicast() {
        return Err(PeersError::Invalid(text.to_string()));
    }
    Ok(address)
}

/// The address `who` published, if any (as stored: it was checked when set).
pub fn address(state: &State, who: &AccountId) -> Result<Option<SocketAddr>, CodecError> {
    let text: Option<String> = state.get_decoded(&address_key(who))?;
    Ok(text.and_then(|text| text.parse().ok()))
}

/// The peers module.
#[derive(Debug)]
pub struct Peers;

impl Module for Peers {
    const NAME: &'static str = "peers";
    const STORAGE_PREFIX: &'static str = "peers/";
    type Call = PeersCall;
    type Error = PeersError;

    fn dispatch(
        state: &mut State,
        _ctx: &BlockContext,
        who: &AccountId,
        call: &PeersCall,
        _fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            PeersCall::SetAddress { address } => {
                if !phalanx_primitives::account::is_strong_public_key(&who.0) {
                    return Err(PeersError::WeakKey.into());
                }
                if address.is_empty() {
                    state.remove(&address_key(who));
                } else {
                    // Stored in its canonical form, so every reader parses the same thing.
                    let parsed = parse_address(address)?;
                    state.put(address_key(who), &parsed.to_string());
                }
                events.push(Event::PeerAddressSet {
                    who: *who,
                    address: address.clone(),
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{key, TestChain};
    use phalanx_primitives::call::Call;

    fn set(address: &str) -> Call {
        Call::Peers(PeersCall::SetAddress {
            address: address.into(),
        })
    }

    #[test]
    fn a_key_publishes_replaces_and_removes_its_own_address() {
        let mut chain = TestChain::new();
        let alice = key("alice");
        let receipt = chain.apply(&alice, set("10.0.0.5:30300"));
        assert_eq!(receipt.error, None);
        assert_eq!(
            address(&chain.state, &alice.account()).unwrap(),
            Some("10.0.0.5:30300".parse().unwrap())
        );
        assert!(receipt.events.contains(&Event::PeerAddressSet {
            who: alice.account(),
            address: "10.0.0.5:30300".into()
        }));
        // Nobody else's entry moved.
        assert_eq!(address(&chain.state, &key("bob").account()).unwrap(), None);

        // A refused address fails the call, pays the fee and keeps the old address.
        let receipt = chain.apply(&alice, set("0.0.0.0:30300"));
        assert!(receipt.error.is_some());
        assert_eq!(
            address(&chain.state, &alice.account()).unwrap(),
            Some("10.0.0.5:30300".parse().unwrap())
        );

        let receipt = chain.apply(&alice, set("[2001:db8::7]:4000"));
        assert_eq!(receipt.error, None);
        assert_eq!(
            address(&chain.state, &alice.account()).unwrap(),
            Some("[2001:db8::7]:4000".parse().unwrap())
        );

        let receipt = chain.apply(&alice, set(""));
        assert_eq!(receipt.error, None);
        assert_eq!(address(&chain.state, &alice.account()).unwrap(), None);
        chain.end_block();
    }

    #[test]
    fn addresses_are_checked_before_they_are_stored() {
        for bad in [
            "",
            "localhost:30300",
            "203.0.113.7",
            "203.0.113.7:0",
            "0.0.0.0:30300",
            "[::]:30300",
            "224.0.0.1:30300",
            "203.0.113.7:70000",
            "203.0.113.7:30300 ",
        ] {
            if bad.is_empty() {
                continue;
            }
            assert!(parse_address(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("[{}]:30300", "1".repeat(70));
        assert_eq!(
            parse_address(&long),
            Err(PeersError::TooLong {
                len: long.len(),
                max: MAX_ADDRESS_LEN
            })
        );
        assert_eq!(
            parse_address("203.0.113.7:30300").unwrap().to_string(),
            "203.0.113.7:30300"
        );
        assert_eq!(parse_address("[2001:db8::1]:30300").unwrap().port(), 30300);
    }
}
