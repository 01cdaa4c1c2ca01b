//! The CLI's error: a message for people, a stable `reason` for scripts, and the exit code.
//!
//! With `--json` an error is printed on stdout as `{"error": message, "reason": reason, …}`
//! (and the message on stderr too). The reason is the node's `data.reason` when the node
//! refused (`stale_nonce`, `insufficient_balance`, `bad_address`, …), so a script matches one
//! word whether the node or the CLI said no; errors found locally use words of their own,
//! listed in the README's CLI section.

use phalanx_client::ClientError;
use phalanx_primitives::account::AccountError;
use serde_json::{json, Map, Value};

/// The reason of an error that has no better word (mostly node start-up failures).
pub const FAILED: &str = "failed";

/// A CLI-level error: a message for the user, a stable reason and the process's exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    message: String,
    reason: String,
    exit_code: u8,
    /// The node's numeric error code, when the node refused.
    code: Option<i32>,
    /// More fields for the JSON error object (the hash of a transaction whose call failed, …).
    details: Map<String, Value>,
}

impl CliError {
    /// An error with the generic reason [`FAILED`].
    pub fn new(message: impl Into<String>) -> CliError {
        CliError::with_reason(FAILED, message)
    }

    /// An error with a stable snake_case `reason`.
    pub fn with_reason(reason: &str, message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            reason: reason.to_string(),
            exit_code: 1,
            code: None,
            details: Map::new(),
        }
    }

    /// The same error with exit code `code`.
    pub fn exit_code(mut self, code: u8) -> CliError {
        self.exit_code = code;
        self
    }

    /// The same error with `key: value` added to its JSON object.
    pub fn detail(mut self, key: &str, value: Value) -> CliError {
        self.details.insert(key.to_string(), value);
        self
    }

    /// The stable reason word.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The process's exit code for this error (never 0).
    pub fn code(&self) -> u8 {
        self.exit_code.max(1)
    }

    /// The error as the JSON object printed with `--json`.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("error".into(), json!(self.message));
        object.insert("reason".into(), json!(self.reason));
        if let Some(code) = self.code {
            object.insert("code".into(), json!(code));
        }
        for (key, value) in &self.details {
            object.insert(key.clone(), value.clone());
        }
        Value::Object(object)
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        let (reason, code) = match &e {
            ClientError::Rpc { code, reason, .. } => (
                reason.clone().unwrap_or_else(|| "rpc_error".into()),
                Some(*code),
            ),
            ClientError::Unreachable { .. } => ("unreachable".into(), None),
            ClientError::Decode(_) => ("unexpected_answer".into(), None),
            ClientError::Timeout(_) => ("timeout".into(), None),
        };
        let mut error = CliError::with_reason(&reason, e.to_string());
        error.code = code;
        error
    }
}

impl From<AccountError> for CliError {
    fn from(e: AccountError) -> Self {
        let reason = match e {
            AccountError::Bech32(_)
            | AccountError::WrongPrefix(_)
            | AccountError::WrongLength(_)
            | AccountError::InvalidKey => "bad_address",
            AccountError::Mnemonic(_) => "bad_mnemonic",
            AccountError::SecretFormat => "bad_secret",
        };
        CliError::with_reason(reason, e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::with_reason("io", e.to_string())
    }
}

impl From<serde_json::Error> for CliError {
    fn from(e: serde_json::Error) -> Self {
        CliError::with_reason("bad_json", e.to_string())
    }
}

impl From<phalanx_node::config::ConfigError> for CliError {
    fn from(e: phalanx_node::config::ConfigError) -> Self {
        CliError::with_reason("bad_config", e.to_string())
    }
}

impl From<phalanx_node::consensus::Error> for CliError {
    fn from(e: phalanx_node::consensus::Error) -> Self {
        CliError::with_reason("consensus", e.to_string())
    }
}

/// The CLI's result type.
pub type Result<T = ()> = std::result::Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_refusal_keeps_its_reason_and_code() {
        let error = CliError::from(ClientError::Rpc {
            code: 1002,
            message: "stale nonce".into(),
            reason: Some("stale_nonce".into()),
        });
        assert_eq!(
            error.to_json(),
            json!({ "error": "stale nonce", "reason": "stale_nonce", "code": 1002 })
        );
        assert_eq!(error.code(), 1);
    }

    #[test]
    fn details_join_the_json_object_and_exit_codes_are_never_zero() {
        let error = CliError::with_reason("call_failed", "the call failed")
            .detail("hash", json!("0x01"))
            .exit_code(0);
        assert_eq!(
            error.to_json(),
            json!({ "error": "the call failed", "reason": "call_failed", "hash": "0x01" })
        );
        assert_eq!(error.code(), 1, "an error never exits 0");
    }
}
