//! The governance records the chain stores and the node serves: a [`Proposal`] and its
//! [`ProposalStatus`]. Calls that create and vote on them are in [`crate::call`].
//!
//! JSON: a status is `{"status": "passed", "enact_at": 40}` (`enacted` always has `error`,
//! `null` on success). It is read through a plain struct rather than serde's internally tagged
//! enum: a tagged enum buffers what it reads, and the buffer refuses u128 amounts under
//! `serde_json`'s `arbitrary_precision`, which clients need for PHA amounts.

use crate::call::PrivilegedCall;
use crate::error_code::ErrorCode;
use crate::{AccountId, Balance};
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Where a proposal stands.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(try_from = "StatusFields", into = "StatusFields")]
pub enum ProposalStatus {
    /// Open for votes.
    Voting,
    /// Passed; its calls run at the end of block `enact_at`.
    Passed {
        /// Height whose end executes the calls.
        enact_at: u64,
    },
    /// Did not pass.
    Rejected,
    /// Executed; `error` is the first failure's code if the batch was rolled back.
    Enacted {
        /// Why the batch failed, if it did.
        error: Option<ErrorCode>,
    },
    /// Cancelled as spam.
    Cancelled,
}

impl ProposalStatus {
    /// The status's word: `voting`, `passed`, `rejected`, `enacted` or `cancelled`.
    pub fn word(&self) -> &'static str {
        match self {
            ProposalStatus::Voting => "voting",
            ProposalStatus::Passed { .. } => "passed",
            ProposalStatus::Rejected => "rejected",
            ProposalStatus::Enacted { .. } => "enacted",
            ProposalStatus::Cancelled => "cancelled",
        }
    }
}

/// A status's JSON fields.
#[derive(Serialize, Deserialize)]
struct StatusFields {
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enact_at: Option<u64>,
    // `enacted` always carries `error` (null on success); the other states never do.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    error: Option<Option<ErrorCode>>,
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`, by default).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<ErrorCode>>, D::Error> {
    Option::<ErrorCode>::deserialize(deserializer).map(Some)
}

impl TryFrom<StatusFields> for ProposalStatus {
    type Error = String;

    fn try_from(fields: StatusFields) -> Result<Self, String> {
        Ok(match fields.status.as_str() {
            "voting" => ProposalStatus::Voting,
            "passed" => ProposalStatus::Passed {
                enact_at: fields
                    .enact_at
                    .ok_or("a passed proposal without `enact_at`")?,
            },
            "rejected" => ProposalStatus::Rejected,
            "enacted" => ProposalStatus::Enacted {
                error: fields.error.flatten(),
            },
            "cancelled" => ProposalStatus::Cancelled,
            other => return Err(format!("unknown proposal status `{other}`")),
        })
    }
}

impl From<ProposalStatus> for StatusFields {
    fn from(status: ProposalStatus) -> Self {
        let status_word = status.word().to_string();
        let (enact_at, error) = match status {
            ProposalStatus::Passed { enact_at } => (Some(enact_at), None),
            ProposalStatus::Enacted { error } => (None, Some(error)),
            _ => (None, None),
        };
        StatusFields {
            status: status_word,
            enact_at,
            error,
        }
    }
}

/// A governance proposal and its running tally.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id.
    pub id: u32,
    /// Who proposed it.
    pub proposer: AccountId,
    /// The privileged calls it runs if it passes.
    pub calls: Vec<PrivilegedCall>,
    /// What it is for.
    pub description: String,
    /// Reserved deposit.
    pub deposit: Balance,
    /// Height it was submitted at.
    pub submitted_at: u64,
    /// Last height at which votes count.
    pub voting_ends_at: u64,
    /// Units voting aye.
    pub aye: Balance,
    /// Units voting nay.
    pub nay: Balance,
    /// Number of voters.
    pub voters: u32,
    /// Minimum turnout in force when it was submitted.
    pub min_turnout: Balance,
    /// Where it stands.
    pub status: ProposalStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn round_trip(json: Value) -> ProposalStatus {
        let status: ProposalStatus = serde_json::from_value(json.clone()).expect("deserializes");
        assert_eq!(serde_json::to_value(&status).expect("serializes"), json);
        status
    }

    #[test]
    fn statuses_read_and_write_each_state_and_refuse_others() {
        let states = [
            (json!({ "status": "voting" }), ProposalStatus::Voting),
            (
                json!({ "status": "passed", "enact_at": 40 }),
                ProposalStatus::Passed { enact_at: 40 },
            ),
            (json!({ "status": "rejected" }), ProposalStatus::Rejected),
            (
                json!({ "status": "enacted", "error": null }),
                ProposalStatus::Enacted { error: None },
            ),
            (
                json!({ "status": "enacted", "error": { "module": "params", "reason": "voting_period_out_of_bounds" } }),
                ProposalStatus::Enacted {
                    error: Some(ErrorCode::new("params", "voting_period_out_of_bounds")),
                },
            ),
            (json!({ "status": "cancelled" }), ProposalStatus::Cancelled),
        ];
        for (json, status) in states {
            assert_eq!(round_trip(json), status);
        }
        for bad in [
            json!({ "status": "passed" }),
            json!({ "status": "lost" }),
            json!({ "enact_at": 3 }),
        ] {
            assert!(serde_json::from_value::<ProposalStatus>(bad).is_err());
        }
    }

    #[test]
    fn a_proposal_keeps_amounts_above_two_to_the_64() {
        let proposal = Proposal {
            id: 1,
            proposer: crate::Keypair::dev("alice").account(),
            calls: vec![],
            description: "<script>".into(),
            deposit: u128::MAX,
            submitted_at: 2,
            voting_ends_at: 9,
            aye: u128::MAX - 1,
            nay: 0,
            voters: 1,
            min_turnout: 5,
            status: ProposalStatus::Enacted { error: None },
        };
        let text = serde_json::to_string(&proposal).expect("serializes");
        let back: Proposal = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, proposal);
        let scale = proposal.encode();
        assert_eq!(
            crate::decode_strict::<Proposal>(&scale, 1 << 16).ok(),
            Some(proposal)
        );
    }
}
