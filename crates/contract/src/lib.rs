//! Confidential contracts (DESIGN.md §10): validation of uploaded WASM code, which the chain
//! runs on upload, and the executor enclaves run contracts with.
//!
//! ```text
//!  upload ──validate(code, limits)──▶ stored on chain (or a CodeError code)
//!  enclave: Executor::compile(code) ──▶ Contract
//!           Executor::run(contract, Env, input, fuel, &mut Host) ──▶ Outcome | ExecError
//!                      │  host ABI, module "phalanx" (abi)
//!                      ├─ input / output / caller / block height and time / random / event
//!                      ├─ storage get (Host) · set / remove (overlay, returned in Outcome)
//!                      └─ http_request (queries only, the untrusted host's ocall)
//! ```
//!
//! - [`validate`](mod@validate): the rules uploaded code must follow (size, no floats, imports only of
//!   the host ABI with their exact signatures, `memory`, `call` and `query` exported, bounded
//!   memory, tables, functions, globals and segments, no start function), each refusal its own
//!   [`CodeError`] with a stable code.
//! - [`exec`]: the [`Executor`] — wasmi with fuel metering, memory and table limits through a
//!   resource limiter, a recursion limit — and the [`Host`] trait the enclave implements.
//! - [`abi`]: the host functions, entry points, fuel prices, return codes and the HTTP wire
//!   format. `docs/contracts-abi.md` is the reference for contract authors; the no_std SDK in
//!   `contracts/sdk` implements the contract side.
//! - [`random`]: the deterministic random stream of a run.
//! - `testing` (feature `testing`): an in-memory [`Host`] for tests.
//!
//! Invariants:
//! - Deterministic: validation is a pure function of the bytes and limits; a command's
//!   [`Outcome`] is a pure function of the code, [`Env`], input, fuel limit and committed state.
//!   wasmi is pinned to one exact version because its fuel costs are part of that function.
//! - Nothing a module does panics the process: every failure is a [`CodeError`] or an
//!   [`ExecError`] (property- and attack-tested in `tests/`).
//! - A failed run writes nothing; a query persists nothing.
//!
//! It sits below the worker enclave (which implements [`Host`]) and the runtime (which calls
//! [`validate()`] on upload), and depends on no other Phalanx crate.

pub mod abi;
pub mod exec;
pub mod random;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod validate;

pub use crate::abi::{HttpRequest, HttpResponse};
pub use crate::exec::{
    Contract, Env, ExecError, ExecLimits, Executor, Host, HttpError, Mode, Outcome, StorageError,
    Writes,
};
pub use crate::validate::{validate, CodeError, CodeLimits, PAGE_BYTES};

/// The crate's result type for runs.
pub type Result<T, E = ExecError> = std::result::Result<T, E>;
