//! Phalanx chain node.
//!
//! Wires the pure runtime to the outside world: commonware simplex consensus and authenticated
//! p2p ([`consensus`]), the [`chain`] (execution of proposed and finalized blocks over the
//! authenticated state, unfinalized forks, the [`mempool`]), durable [`store`]age with restart
//! by snapshot and replay, and the JSON-RPC API ([`rpc`]) that the CLI, the SDK, workers and the
//! dashboard use.
//!
//! Invariants: a block becomes the head only after it is durably stored; the head state's root
//! always equals the head header's `state_root`; a transaction enters the mempool only after its
//! envelope passed the runtime's checks against the finalized state.

pub mod application;
pub mod chain;
pub mod config;
pub mod consensus;
pub mod follower;
pub mod mempool;
pub mod metrics;
pub mod rpc;
pub mod service;
pub mod store;

pub use chain::{Chain, ChainConfig, ChainError, FinalizeError, HeadInfo};
