//! [`WorkerInfo`]: a registered worker, as the registry stores it and the node serves it.

use crate::attestation::{QuoteKind, TcbStatus};
use crate::AccountId;
use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// A registered worker, as its last accepted attestation describes it. JSON writes keys as
/// bare hex (no `0x`); reading accepts the prefix too.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// The enclave's ed25519 identity key: the worker's id.
    #[serde(with = "crate::serde_hex")]
    pub identity: [u8; 32],
    /// The enclave's X25519 key clients seal requests to.
    #[serde(with = "crate::serde_hex")]
    pub encryption_key: [u8; 32],
    /// The account that owns the worker.
    pub operator: AccountId,
    /// Which kind of quote attested it.
    pub quote_kind: QuoteKind,
    /// The attested code measurement.
    #[serde(with = "crate::serde_hex")]
    pub measurement: [u8; 32],
    /// The platform's TCB status.
    pub tcb_status: TcbStatus,
    /// The policy's confidence in it, per-mille.
    pub confidence: u16,
    /// The benchmark score P.
    pub performance: u32,
    /// Where clients send encrypted queries.
    pub endpoint: String,
    /// Height of its first registration.
    pub registered_at: u64,
    /// Height of its last accepted (re-)registration.
    pub last_attested_at: u64,
    /// Height of the block its last attestation cited.
    pub recent_block_height: u64,
    /// The Intel advisories its last attestation said apply to the platform (a simulated
    /// quote carries its report's), kept so a later deny-list judges a running worker too.
    #[serde(default)]
    pub advisory_ids: Vec<String>,
    /// The TCB evaluation data number of the DCAP collateral its last attestation came with
    /// (0 when the collateral names none; `None` without collateral, as for a simulated
    /// quote), kept so a later minimum judges a running worker too.
    #[serde(default)]
    pub tcb_evaluation_data_number: Option<u32>,
}
