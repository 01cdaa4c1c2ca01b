//! [`ErrorCode`]: why a call failed, as receipts, events and proposals store it.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a call failed, as receipts, events and proposals store it: stable, machine-readable,
/// and free of any message text (rewording a message changes no state root and no receipt
/// byte). A code, once shipped, is never renamed or reused.
///
/// SCALE: `module String, reason String`; JSON: `{"module": "balances", "reason":
/// "insufficient_free"}`. The runtime's `describe` gives a code's words at read time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, Serialize, Deserialize)]
pub struct ErrorCode {
    /// The module whose rule refused (`params` for a parameter out of its bounds, `runtime`
    /// for corrupted state).
    pub module: String,
    /// The snake_case reason, unique within the module.
    pub reason: String,
}

impl ErrorCode {
    /// The code `reason` of `module`.
    pub fn new(module: &str, reason: &str) -> ErrorCode {
        ErrorCode {
            module: module.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for ErrorCode {
    /// `<module>.<reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.module, self.reason)
    }
}
