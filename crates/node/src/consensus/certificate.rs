//! Finalization certificates.
//!
//! The code that checks a certificate from outside the chain lives in the light client
//! (`phalanx_light_client::certificate`), because the worker enclave runs it too; consensus and
//! the node use the same functions, so there is exactly one definition of what a valid
//! certificate is.

pub use phalanx_light_client::certificate::{
    decode_finalization, encode_finalization, verifier, verify_finalization, FinalizedAt,
};
