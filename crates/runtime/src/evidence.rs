//! Evidence: consensus equivocation, stored on chain so it survives restarts and can be slashed.
//!
//! Consensus sees two conflicting votes of one validator (`ConflictingNotarize`,
//! `ConflictingFinalize`, `NullifyFinalize`) and the node that saw them submits the encoded
//! fault in an [`EvidenceCall::ReportEquivocation`] transaction. Any account may report. Rules,
//! each with its own [`EvidenceError`]:
//! 1. the evidence decodes as a fault and is at most
//!    [`MAX_EVIDENCE_BYTES`](phalanx_light_client::evidence::MAX_EVIDENCE_BYTES);
//! 2. its votes are of the current epoch or the one before (the chain keeps the retiring set
//!    one more epoch; older evidence is too late);
//! 3. the signer is in that epoch's set and both signatures verify under this network's
//!    namespace (`network_namespace(genesis hash)`): the light client's own check;
//! 4. the same fault (validator, epoch, view, kind) was not stored before.
//!
//! A new fault is stored and the reporter's fee is refunded from the treasury, so reporting
//! costs an honest node nothing while a spammer of bad or repeated evidence pays for every try.
//! Storing it slashes the validator's bond ([`crate::staking::slash_equivocation`]).
//!
//! Storage: `evidence/` followed directly by the validator key (32 bytes), the epoch (u64 BE), the
//! view (u64 BE) and the kind (u8), with no separators → [`Misbehaviour`].

use crate::events::Event;
use crate::module::{ErrorCodes, Module};
use crate::{balances, system, treasury, BlockContext, DispatchResult};
use parity_scale_codec::{Decode, Encode};
use phalanx_light_client::evidence::{claimed_epoch, verify_fault, EvidenceError as CheckError};
use phalanx_primitives::call::EvidenceCall;
use phalanx_primitives::{AccountId, Balance, CodecError};
use phalanx_state::{State, StateExt};
use serde::Serialize;

const PREFIX: &[u8] = b"evidence/";

/// A stored fault.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize)]
pub struct Misbehaviour {
    /// The validator's ed25519 consensus key.
    #[serde(serialize_with = "crate::events::hex_bytes")]
    pub validator: [u8; 32],
    /// 0 conflicting notarize, 1 conflicting finalize, 2 nullify and finalize.
    pub kind: u8,
    /// Epoch of the votes.
    pub epoch: u64,
    /// View of the votes.
    pub view: u64,
    /// Who reported it.
    pub reporter: AccountId,
    /// Height of the block that stored it.
    pub reported_at: u64,
}

/// Why a report failed. Chain-visible: variants only grow at the end.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum EvidenceError {
    /// The evidence does not prove a fault: malformed, not a fault, bad signatures, unknown
    /// signer or too large.
    #[error("invalid evidence: {0}")]
    Invalid(CheckError),
    /// The votes are from an epoch whose validator set the chain no longer (or not yet) keeps.
    #[error("evidence of epoch {epoch} is too old or too new; the chain is in epoch {current}")]
    EpochOutOfRange {
        /// The votes' epoch.
        epoch: u64,
        /// The current epoch.
        current: u64,
    },
    /// This fault is stored already.
    #[error("this fault was already reported")]
    AlreadyReported,
}

impl ErrorCodes for EvidenceError {
    const CODES: &'static [(&'static str, &'static str)] = &[
        ("evidence_too_large", "the evidence is over the size limit"),
        (
            "evidence_malformed",
            "the evidence does not decode as a consensus activity",
        ),
        (
            "not_a_fault",
            "the activity is not two conflicting votes of one validator",
        ),
        (
            "unknown_signer",
            "the signer is not in the validator set of the votes' epoch",
        ),
        (
            "wrong_epoch",
            "the votes are from another epoch than the set they were checked against",
        ),
        ("bad_signature", "the votes' signatures do not verify"),
        (
            "invalid_validator_set",
            "the epoch's validator set could not be used",
        ),
        (
            "epoch_out_of_range",
            "the votes are from an epoch whose validator set the chain does not keep",
        ),
        ("already_reported", "this fault was already reported"),
    ];

    fn code(&self) -> &'static str {
        match self {
            EvidenceError::Invalid(CheckError::TooLarge(_)) => "evidence_too_large",
            EvidenceError::Invalid(CheckError::Malformed) => "evidence_malformed",
            EvidenceError::Invalid(CheckError::NotAFault) => "not_a_fault",
            EvidenceError::Invalid(CheckError::UnknownSigner) => "unknown_signer",
            EvidenceError::Invalid(CheckError::WrongEpoch { .. }) => "wrong_epoch",
            EvidenceError::Invalid(CheckError::BadSignature) => "bad_signature",
            EvidenceError::Invalid(CheckError::ValidatorSet(_)) => "invalid_validator_set",
            EvidenceError::EpochOutOfRange { .. } => "epoch_out_of_range",
            EvidenceError::AlreadyReported => "already_reported",
        }
    }
}

fn key(validator: &[u8; 32], epoch: u64, view: u64, kind: u8) -> Vec<u8> {
    [
        PREFIX,
        &validator[..],
        &epoch.to_be_bytes(),
        &view.to_be_bytes(),
        &[kind],
    ]
    .concat()
}

/// The evidence module.
#[derive(Debug)]
pub struct Evidence;

impl Module for Evidence {
    const NAME: &'static str = "evidence";
    const STORAGE_PREFIX: &'static str = "evidence/";
    type Call = EvidenceCall;
    type Error = EvidenceError;

    /// Stores a new fault and refunds `fee`, the reporter's fee (see the module docs).
    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &EvidenceCall,
        fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult {
        match call {
            EvidenceCall::ReportEquivocation { evidence } => {
                report(state, ctx, who, evidence, fee, events)
            }
        }
    }
}

fn report(
    state: &mut State,
    ctx: &BlockContext,
    who: &AccountId,
    evidence: &[u8],
    fee: Balance,
    events: &mut Vec<Event>,
) -> DispatchResult {
    let current = system::epoch_of(ctx.height);
    if evidence.len() > phalanx_light_client::evidence::MAX_EVIDENCE_BYTES {
        return Err(EvidenceError::Invalid(CheckError::TooLarge(evidence.len())).into());
    }
    let epoch = claimed_epoch(evidence).ok_or(EvidenceError::Invalid(CheckError::Malformed))?;
    let set = system::validators_of_epoch(state, epoch, current)?
        .ok_or(EvidenceError::EpochOutOfRange { epoch, current })?;
    let namespace = phalanx_light_client::network_namespace(&ctx.genesis_hash);
    let fault = verify_fault(&set, epoch, &namespace, evidence).map_err(EvidenceError::Invalid)?;
    let kind = fault.kind as u8;
    let key = key(&fault.validator, fault.epoch, fault.view, kind);
    if state.get(&key).is_some() {
        return Err(EvidenceError::AlreadyReported.into());
    }
    let record = Misbehaviour {
        validator: fault.validator,
        kind,
        epoch: fault.epoch,
        view: fault.view,
        reporter: *who,
        reported_at: ctx.height,
    };
    state.put(key, &record);
    // New evidence costs its reporter nothing.
    balances::transfer_free(state, &treasury::account(), who, fee)?;
    events.push(Event::MisbehaviourReported {
        validator: fault.validator,
        kind,
        epoch: fault.epoch,
        view: fault.view,
        reporter: *who,
    });
    // And it slashes the validator's bond, once per stored fault.
    crate::staking::slash_equivocation(state, &fault.validator, events)?;
    Ok(())
}

/// Every stored fault, ordered by validator, epoch, view and kind.
pub fn all(state: &State) -> Result<Vec<Misbehaviour>, CodecError> {
    state
        .scan_prefix(PREFIX)
        .map(|(_, value)| phalanx_primitives::decode_strict(value, 1_024))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{code, key, TestChain};
    use crate::GenesisConfig;
    use phalanx_light_client::testing::{conflicting_notarize, keys, raw_publics};
    use phalanx_primitives::call::Call;
    use phalanx_primitives::PHA;

    /// A dev chain whose genesis names four consensus validators, at block 1.
    fn chain() -> (TestChain, Vec<phalanx_light_client::testing::ValidatorKey>) {
        let validators = keys(4);
        let config = GenesisConfig::dev(
            raw_publics(&validators).iter().map(hex::encode).collect(),
            1_700_000_000_000,
        );
        (TestChain::with_config(&config), validators)
    }

    fn report(evidence: Vec<u8>) -> Call {
        Call::Evidence(EvidenceCall::ReportEquivocation { evidence })
    }

    fn free(chain: &TestChain, who: &AccountId) -> Balance {
        balances::account(&chain.state, who).expect("account").free
    }

    #[test]
    fn a_proven_equivocation_is_stored_once_and_its_reporter_pays_nothing() {
        let (mut chain, validators) = chain();
        let namespace = phalanx_light_client::network_namespace(&chain.ctx.genesis_hash);
        let evidence = conflicting_notarize(&validators, 2, &namespace, 0, 9);
        let reporter = key("ferdie");
        let before = free(&chain, &reporter.account());
        let receipt = chain.apply(&reporter, report(evidence.clone()));
        assert_eq!(receipt.error, None);
        assert_eq!(
            free(&chain, &reporter.account()),
            before,
            "the fee came back"
        );
        let stored = all(&chain.state).expect("readable");
        assert_eq!(
            stored,
            vec![Misbehaviour {
                validator: raw_publics(&validators)[2],
                kind: 0,
                epoch: 0,
                view: 9,
                reporter: reporter.account(),
                reported_at: 1,
            }]
        );
        // The same fault again: refused, and this time the fee is kept.
        let receipt = chain.apply(&reporter, report(evidence));
        assert_eq!(receipt.error, Some(code(EvidenceError::AlreadyReported)));
        assert!(free(&chain, &reporter.account()) < before);
        assert_eq!(all(&chain.state).expect("readable").len(), 1);
        chain.end_block();
    }

    #[test]
    fn a_stored_fault_slashes_the_validators_bond_once() {
        let (mut chain, validators) = chain();
        let namespace = phalanx_light_client::network_namespace(&chain.ctx.genesis_hash);
        let validator = AccountId(raw_publics(&validators)[2]);
        // The validator's consensus account bonds 1,000 PHA (funded by bob).
        chain.begin();
        balances::transfer_free(
            &mut chain.state,
            &key("bob").account(),
            &validator,
            1_000 * PHA,
        )
        .expect("funds");
        crate::staking::bond_more(&mut chain.state, &validator, 1_000 * PHA, &mut Vec::new())
            .expect("bonds");
        let treasury = free(&chain, &treasury::account());
        let evidence = conflicting_notarize(&validators, 2, &namespace, 0, 11);
        let receipt = chain.apply(&key("ferdie"), report(evidence.clone()));
        assert_eq!(receipt.error, None);
        // 10% of the bond, to the treasury (which also refunded the reporter's fee).
        assert!(receipt.events.contains(&Event::ValidatorSlashed {
            validator: validator.0,
            amount: 100 * PHA,
        }));
        let bond = crate::staking::bond(&chain.state, &validator).expect("bond");
        assert_eq!((bond.bonded, bond.slashed), (900 * PHA, 100 * PHA));
        // The fee it took, it refunded: the treasury is up by the slash alone.
        assert_eq!(free(&chain, &treasury::account()), treasury + 100 * PHA);
        // The same fault again is refused, so it slashes nothing more.
        let receipt = chain.apply(&key("ferdie"), report(evidence));
        assert_eq!(receipt.error, Some(code(EvidenceError::AlreadyReported)));
        let bond = crate::staking::bond(&chain.state, &validator).expect("bond");
        assert_eq!(bond.bonded, 900 * PHA);
        chain.end_block();
    }

    #[test]
    fn forged_foreign_truncated_and_out_of_epoch_evidence_is_refused() {
        let (mut chain, validators) = chain();
        let namespace = phalanx_light_client::network_namespace(&chain.ctx.genesis_hash);
        let outsiders: Vec<_> = (50..54).map(phalanx_light_client::testing::key).collect();
        let good = conflicting_notarize(&validators, 1, &namespace, 0, 3);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            // Signed by keys that are not this chain's validators.
            (
                "outsiders",
                conflicting_notarize(&outsiders, 1, &namespace, 0, 3),
            ),
            // Signed for another network (the base namespace, no genesis hash).
            (
                "another network",
                conflicting_notarize(
                    &validators,
                    1,
                    phalanx_light_client::certificate::NAMESPACE,
                    0,
                    3,
                ),
            ),
            ("truncated", good[..good.len() - 10].to_vec()),
            ("garbage", vec![0xff; 40]),
            (
                "oversized",
                vec![0; phalanx_light_client::evidence::MAX_EVIDENCE_BYTES + 1],
            ),
            // Votes of an epoch the chain has no set for.
            (
                "epoch 7",
                conflicting_notarize(&validators, 1, &namespace, 7, 3),
            ),
        ];
        let reporter = key("ferdie");
        for (what, evidence) in cases {
            let receipt = chain.apply(&reporter, report(evidence));
            assert!(receipt.error.is_some(), "{what} evidence was accepted");
        }
        assert!(all(&chain.state).expect("readable").is_empty());
        chain.end_block();
    }
}
