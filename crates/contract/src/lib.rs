//! Confidential contracts: validation of uploaded WASM code (the chain runs it on upload) and
//! the executor enclaves run it with.
//!
//! SKELETON: [`validate`] is the interface the runtime calls; its body is being written.

/// Limits an uploaded module must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimits {
    /// Largest accepted code, in bytes.
    pub max_code_bytes: usize,
}

impl Default for CodeLimits {
    fn default() -> Self {
        CodeLimits {
            max_code_bytes: 256 * 1024,
        }
    }
}

/// Why uploaded code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The code is larger than [`CodeLimits::max_code_bytes`].
    #[error("contract code is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Checks `code` before it is stored on chain. Deterministic: every validator reaches the same
/// answer.
pub fn validate(code: &[u8], limits: &CodeLimits) -> Result<(), CodeError> {
    if code.len() > limits.max_code_bytes {
        return Err(CodeError::TooLarge {
            size: code.len(),
            limit: limits.max_code_bytes,
        });
    }
    Ok(())
}
