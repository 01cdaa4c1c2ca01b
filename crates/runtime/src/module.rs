//! The one shape every runtime module has: the [`Module`] trait, the stable [`ErrorCode`]s its
//! failures are recorded with, and the [`ModuleEntry`] list the runtime's hooks iterate
//! ([`crate::MODULES`]).
//!
//! A module is a file `crates/runtime/src/<name>.rs` (tests in `<name>/tests.rs` once they grow)
//! holding, in this order: its module docs (protocol, rules, storage keys), its storage key
//! constants, all under `<STORAGE_PREFIX>`, its error enum with [`ErrorCodes`], its stored types,
//! its reads and writes, a unit struct implementing [`Module`], and its tests on
//! `crate::testing::TestChain`. `ARCHITECTURE.md` ("How to add a runtime module") walks
//! through adding one.
//!
//! # Error codes
//!
//! Receipts, events and proposals store an [`ErrorCode`] — the module's name and a snake_case
//! reason such as `insufficient_free` — never an error's `Display` text, so rewording a message
//! changes no state root and no receipt byte. A code, once shipped, is never renamed or reused;
//! new ones are appended. The human message is looked up at read time ([`crate::describe`]).

use crate::events::Event;
use crate::genesis::{GenesisConfig, GenesisError};
use crate::invariants::InvariantError;
use crate::{BlockContext, DispatchError, DispatchResult};
use phalanx_primitives::call::PrivilegedCall;
use phalanx_primitives::{AccountId, Balance};
use phalanx_state::State;
use std::fmt;

pub use phalanx_primitives::ErrorCode;

/// An error enum whose every variant has a stable code.
pub trait ErrorCodes {
    /// Every code of this enum with what it means, in variant order: what [`crate::describe`]
    /// shows next to a stored code. Append only.
    const CODES: &'static [(&'static str, &'static str)];

    /// This error's code: one of [`Self::CODES`]. An explicit `match`, never derived from the
    /// variant's name or its message, so renaming either keeps the code.
    fn code(&self) -> &'static str;
}

/// How a hook runs a privileged call: the runtime hands [`crate::privileged::execute`] to
/// every [`Module::on_block_end`], so a module that schedules privileged calls (governance)
/// runs them without importing the privileged path, which itself imports the modules whose
/// rules it changes. The dependency stays one way.
pub type PrivilegedExecutor =
    fn(&mut State, &BlockContext, &PrivilegedCall, &mut Vec<Event>) -> DispatchResult;

/// A runtime module. Implemented by a unit struct in the module's file (`balances::Balances`),
/// listed once in [`crate::MODULES`], and routed to from [`crate::dispatch`]'s match on
/// [`Call`](phalanx_primitives::call::Call).
pub trait Module {
    /// The module's name: its errors' [`ErrorCode::module`] and the `module` its storage keys
    /// start with (see [`Self::STORAGE_PREFIX`]).
    const NAME: &'static str;
    /// The prefix of every storage key the module writes, ending in `/`. No prefix is a prefix
    /// of another module's (a test checks), so modules never read or prove each other's keys.
    const STORAGE_PREFIX: &'static str;
    /// Its calls (an enum in `phalanx_primitives::call`), or
    /// [`Infallible`](std::convert::Infallible) for a module nobody calls directly.
    type Call;
    /// Its error enum.
    type Error: ErrorCodes;

    /// Executes `call` sent by `who`, who paid `fee`. On error the runtime rolls back every
    /// effect (events included) and records the error's code.
    fn dispatch(
        state: &mut State,
        ctx: &BlockContext,
        who: &AccountId,
        call: &Self::Call,
        fee: Balance,
        events: &mut Vec<Event>,
    ) -> DispatchResult;

    /// Writes the module's part of the genesis state (after the config was validated).
    fn genesis(_state: &mut State, _config: &GenesisConfig) -> Result<(), GenesisError> {
        Ok(())
    }

    /// Runs after each block's transactions, in [`crate::MODULES`] order; returns its events.
    /// Must not fail the block: a failure is recorded in state or events.
    fn on_block_end(
        _state: &mut State,
        _ctx: &BlockContext,
        _privileged: PrivilegedExecutor,
    ) -> Vec<Event> {
        Vec::new()
    }

    /// Checks what must hold after every block (tests run it after each block; debug nodes
    /// after each finalized one).
    fn check_invariants(_state: &State) -> Result<(), InvariantError> {
        Ok(())
    }
}

/// Runs `effect` on `state` all or nothing: on success, the events it made; on failure, `state`
/// is put back as it was and the error's stable code is returned. For effects that must never
/// fail what triggered them (end-of-block hooks, a queued message's effect): the caller records
/// the code as an event instead.
pub fn all_or_nothing<E: Into<DispatchError>>(
    state: &mut State,
    effect: impl FnOnce(&mut State, &mut Vec<Event>) -> Result<(), E>,
) -> Result<Vec<Event>, ErrorCode> {
    let checkpoint = state.checkpoint();
    let mut events = Vec::new();
    match effect(state, &mut events) {
        Ok(()) => {
            state.commit(checkpoint);
            Ok(events)
        }
        Err(e) => {
            state.rollback(checkpoint);
            Err(e.into().code())
        }
    }
}

/// One module's hooks, as the runtime iterates them.
#[derive(Clone, Copy)]
pub struct ModuleEntry {
    /// [`Module::NAME`].
    pub name: &'static str,
    /// [`Module::STORAGE_PREFIX`].
    pub storage_prefix: &'static str,
    /// [`ErrorCodes::CODES`] of its error.
    pub codes: &'static [(&'static str, &'static str)],
    /// [`Module::genesis`].
    pub genesis: fn(&mut State, &GenesisConfig) -> Result<(), GenesisError>,
    /// [`Module::on_block_end`].
    pub on_block_end: fn(&mut State, &BlockContext, PrivilegedExecutor) -> Vec<Event>,
    /// [`Module::check_invariants`].
    pub check_invariants: fn(&State) -> Result<(), InvariantError>,
}

impl ModuleEntry {
    /// The entry of module `M`.
    pub const fn of<M: Module>() -> ModuleEntry {
        ModuleEntry {
            name: M::NAME,
            storage_prefix: M::STORAGE_PREFIX,
            codes: <M::Error as ErrorCodes>::CODES,
            genesis: M::genesis,
            on_block_end: M::on_block_end,
            check_invariants: M::check_invariants,
        }
    }
}

impl fmt::Debug for ModuleEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleEntry")
            .field("name", &self.name)
            .field("storage_prefix", &self.storage_prefix)
            .finish_non_exhaustive()
    }
}
