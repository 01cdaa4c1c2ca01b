//! The executor: runs one entry point of validated code under wasmi with fuel, memory, table
//! and stack limits, behind the host ABI of [`crate::abi`].
//!
//! # A run
//!
//! [`Executor::run`] takes compiled code, an [`Env`], the input bytes, a fuel limit and the
//! enclave's [`Host`]. It instantiates the code in a fresh store (contracts keep nothing in
//! memory between runs: state lives in storage), runs `call` for a [`Mode::Command`] or `query`
//! for a [`Mode::Query`], and returns an [`Outcome`] or an [`ExecError`].
//!
//! # Rules
//!
//! - Determinism. A command's outcome (status, output, fuel used, events, writes) is a pure
//!   function of the code, the [`Env`], the input, the fuel limit and the committed storage the
//!   host reads from. wasmi's fuel costs per instruction are fixed by its pinned version; host
//!   calls cost [`abi::HOST_CALL_FUEL`] plus a price per byte; randomness comes from
//!   [`Env::random_seed`] ([`RandomStream`]); compilation is eager so it never costs fuel
//!   during a run.
//! - Storage writes are buffered in an overlay (later reads of the run see them) and returned in
//!   [`Outcome::writes`]; the caller applies them only to a successful command. A query's writes
//!   and events are discarded: queries persist nothing. A contract that returns a non-zero
//!   status refused the request: its writes and events are discarded, its output (the reason)
//!   and fuel used are kept.
//! - Errors. A trap, running out of fuel, a limit, or a host call the rules refuse ends the run
//!   with an [`ExecError`] and no writes. An error consumes the whole fuel limit (the chain
//!   charges the gas limit), so no fuel figure is returned with it. Nothing a module does panics
//!   the process.
//! - Outbound HTTP is for queries only: a command that calls it traps with
//!   [`ExecError::HttpInCommand`], because members of a cluster would see different answers.

use crate::abi::{self, HttpRequest, HttpResponse};
use crate::random::RandomStream;
use crate::validate::{self, CodeError, CodeLimits, PAGE_BYTES};
use std::collections::BTreeMap;
use wasmi::errors::{ErrorKind, FuelError, MemoryError, TableError};
use wasmi::{Caller, Engine, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder};
use wasmi::{TrapCode, TypedFunc};

/// Which entry point runs, and the rules that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An ordered, on-chain command: runs `call`, may write, may not make HTTP requests.
    Command,
    /// A read-only query: runs `query`, may make HTTP requests, persists nothing.
    Query,
}

/// The context of a run, the same on every member of the cluster for a command.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Env {
    /// Who sent the command or query (a 32-byte account id).
    pub caller: [u8; 32],
    /// The block the command was ordered in (for a query: the enclave's verified head).
    pub height: u64,
    /// That block's time, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Seed of the run's random stream (see [`crate::random`]). For a command it must be the
    /// same on every member; for a query it should be fresh enclave randomness.
    pub random_seed: [u8; 32],
    /// Command or query.
    pub mode: Mode,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The seed stays out of logs.
        f.debug_struct("Env")
            .field("caller", &hex(&self.caller))
            .field("height", &self.height)
            .field("time_ms", &self.time_ms)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// A failure of the host to read committed storage (a sealed value that does not open, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct StorageError {
    /// What went wrong.
    pub reason: String,
}

/// Why an outbound HTTP request produced no response. The contract sees it as a negative
/// return code ([`abi::HTTP_FAILED`], [`abi::HTTP_TIMEOUT`], [`abi::HTTP_RESPONSE_TOO_LARGE`])
/// and may carry on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// Connection, DNS or TLS failure, or the host refused to perform it.
    #[error("the request failed")]
    Failed,
    /// No complete response within [`HttpRequest::timeout_ms`].
    #[error("the request timed out")]
    Timeout,
    /// The response was larger than [`HttpRequest::max_response_bytes`].
    #[error("the response was too large")]
    ResponseTooLarge,
}

impl HttpError {
    fn guest_code(self) -> i32 {
        match self {
            HttpError::Failed => abi::HTTP_FAILED,
            HttpError::Timeout => abi::HTTP_TIMEOUT,
            HttpError::ResponseTooLarge => abi::HTTP_RESPONSE_TOO_LARGE,
        }
    }
}

/// What the enclave provides to a run: the contract's committed state and the outbound HTTP
/// ocall. Writes never reach the host during a run; they come back in [`Outcome::writes`].
pub trait Host {
    /// The committed value under `key` in this contract's state, if any.
    fn storage_get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Performs an outbound HTTP request through the untrusted host (queries only: the executor
    /// never calls it for a command). The host sees the whole request and can forge the
    /// response; `docs/contracts-abi.md` says what that means for contract authors.
    fn http(&mut self, request: &HttpRequest) -> Result<HttpResponse, HttpError>;
}

/// Run-time limits, beyond the code limits of [`CodeLimits`] (whose memory and table limits
/// the executor also enforces at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// Deepest call nesting (wasmi's recursion limit).
    pub max_recursion_depth: usize,
    /// Largest input.
    pub max_input_bytes: usize,
    /// Largest output.
    pub max_output_bytes: usize,
    /// Largest storage key.
    pub max_key_bytes: usize,
    /// Largest storage value.
    pub max_value_bytes: usize,
    /// Most distinct keys one run may write or remove.
    pub max_writes: usize,
    /// Most events one run may emit.
    pub max_events: usize,
    /// Largest event.
    pub max_event_bytes: usize,
    /// Most outbound HTTP requests one query may make.
    pub max_http_calls: u32,
    /// Largest encoded HTTP request.
    pub max_http_request_bytes: usize,
    /// Largest encoded HTTP response a contract receives.
    pub max_http_response_bytes: usize,
    /// How long the host may take for one HTTP request.
    pub http_timeout_ms: u64,
}

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            max_recursion_depth: 1024,
            max_input_bytes: 64 * 1024,
            max_output_bytes: 64 * 1024,
            max_key_bytes: 256,
            max_value_bytes: 16 * 1024,
            max_writes: 256,
            max_events: 16,
            max_event_bytes: 1024,
            max_http_calls: 4,
            max_http_request_bytes: 16 * 1024,
            max_http_response_bytes: 64 * 1024,
            http_timeout_ms: 5_000,
        }
    }
}

/// Storage writes of a run, by key: `Some(value)` sets, `None` removes. Ordered by key, so the
/// same run always lists them the same way.
pub type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The entry point's return value: `0` for success, anything else means the contract refused
    /// the request (then [`Outcome::writes`] and [`Outcome::events`] are empty and the output
    /// says why).
    pub status: i32,
    /// The last output the contract set (empty if none).
    pub output: Vec<u8>,
    /// Fuel consumed, at most the run's limit.
    pub fuel_used: u64,
    /// Events, in emission order (always empty for a query or a refusal).
    pub events: Vec<Vec<u8>>,
    /// Storage writes to apply (always empty for a query or a refusal).
    pub writes: Writes,
}

impl Outcome {
    /// Whether the contract accepted the request.
    pub fn is_success(&self) -> bool {
        self.status == 0
    }
}

/// Why a run failed. Append only: [`ExecError::code`] is what the chain records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The run used all its fuel.
    #[error("contract ran out of fuel (limit {limit}); send it with more gas")]
    OutOfFuel {
        /// The run's fuel limit.
        limit: u64,
    },
    /// The contract grew its memory or a table past the limit.
    #[error("contract grew its memory past {memory_bytes} bytes or a table past {table_elements} elements")]
    GrowLimit {
        /// [`CodeLimits::max_memory_pages`] in bytes.
        memory_bytes: usize,
        /// [`CodeLimits::max_table_elements`].
        table_elements: u32,
    },
    /// Calls nested deeper than the stack allows.
    #[error("contract overflowed its call stack (at most {depth} nested calls)")]
    StackOverflow {
        /// [`ExecLimits::max_recursion_depth`].
        depth: usize,
    },
    /// The contract trapped (`unreachable`, out-of-bounds access, division by zero, …).
    #[error("contract trapped: {reason}")]
    Trap {
        /// The trap.
        reason: &'static str,
    },
    /// The code could not be instantiated (a data or element segment out of bounds).
    #[error("contract could not be instantiated: {reason}")]
    Instantiation {
        /// wasmi's explanation.
        reason: String,
    },
    /// The compiled code belongs to another executor.
    #[error("contract was compiled by another executor; compile it with this one")]
    ForeignContract,
    /// The input is larger than allowed.
    #[error("input is {size} bytes, more than the limit of {limit}")]
    InputTooLarge {
        /// Its size.
        size: usize,
        /// [`ExecLimits::max_input_bytes`].
        limit: usize,
    },
    /// The contract set a larger output than allowed.
    #[error("contract output is {size} bytes, more than the limit of {limit}")]
    OutputTooLarge {
        /// Its size.
        size: usize,
        /// [`ExecLimits::max_output_bytes`].
        limit: usize,
    },
    /// A storage key larger than allowed.
    #[error("contract used a storage key of {size} bytes, more than the limit of {limit}")]
    KeyTooLarge {
        /// Its size.
        size: usize,
        /// [`ExecLimits::max_key_bytes`].
        limit: usize,
    },
    /// A storage value larger than allowed.
    #[error("contract stored a value of {size} bytes, more than the limit of {limit}")]
    ValueTooLarge {
        /// Its size.
        size: usize,
        /// [`ExecLimits::max_value_bytes`].
        limit: usize,
    },
    /// More distinct keys written than allowed.
    #[error("contract wrote more than {limit} storage keys in one run")]
    TooManyWrites {
        /// [`ExecLimits::max_writes`].
        limit: usize,
    },
    /// More events than allowed.
    #[error("contract emitted more than {limit} events in one run")]
    TooManyEvents {
        /// [`ExecLimits::max_events`].
        limit: usize,
    },
    /// An event larger than allowed.
    #[error("contract emitted an event of {size} bytes, more than the limit of {limit}")]
    EventTooLarge {
        /// Its size.
        size: usize,
        /// [`ExecLimits::max_event_bytes`].
        limit: usize,
    },
    /// A command called `http_request`.
    #[error("contract made an HTTP request in a command; HTTP is for queries only")]
    HttpInCommand,
    /// More HTTP requests than allowed in one query.
    #[error("contract made more than {limit} HTTP requests in one query")]
    TooManyHttpCalls {
        /// [`ExecLimits::max_http_calls`].
        limit: u32,
    },
    /// An HTTP request larger than allowed.
    #[error("contract HTTP request is {size} bytes, more than the limit of {limit}")]
    HttpRequestTooLarge {
        /// Its size.
        size: usize,
        /// [`ExecLimits::max_http_request_bytes`].
        limit: usize,
    },
    /// The HTTP request bytes do not follow the ABI's format.
    #[error("contract HTTP request is malformed: {0}")]
    MalformedHttpRequest(#[from] abi::HttpFormatError),
    /// `http_response_read` with no response to read.
    #[error("contract read an HTTP response without a successful http_request")]
    NoHttpResponse,
    /// A pointer range outside the contract's memory.
    #[error("contract passed memory range {ptr}+{len}, outside its memory")]
    OutOfBounds {
        /// Start.
        ptr: u32,
        /// Length.
        len: u32,
    },
    /// The host could not read committed storage.
    #[error("storage read failed: {0}")]
    Storage(#[from] StorageError),
    /// wasmi failed in a way none of the above describes (a bug to report).
    #[error("contract engine failed: {reason}")]
    Engine {
        /// wasmi's explanation.
        reason: String,
    },
}

impl ExecError {
    /// Every code of [`ExecError`] with what it means, in variant order. Append only.
    pub const CODES: &'static [(&'static str, &'static str)] = &[
        ("out_of_fuel", "the run used all its fuel"),
        ("grow_limit", "memory or a table grew past the limit"),
        ("stack_overflow", "calls nested too deep"),
        ("trap", "the contract trapped"),
        ("instantiation", "the code could not be instantiated"),
        (
            "foreign_contract",
            "the code was compiled by another executor",
        ),
        ("input_too_large", "the input is too large"),
        ("output_too_large", "the output is too large"),
        ("key_too_large", "a storage key is too large"),
        ("value_too_large", "a storage value is too large"),
        ("too_many_writes", "too many storage keys written"),
        ("too_many_events", "too many events"),
        ("event_too_large", "an event is too large"),
        ("http_in_command", "an HTTP request in a command"),
        ("too_many_http_calls", "too many HTTP requests"),
        ("http_request_too_large", "an HTTP request is too large"),
        ("malformed_http_request", "an HTTP request is malformed"),
        (
            "no_http_response",
            "an HTTP response read without a response",
        ),
        (
            "out_of_bounds",
            "a memory range outside the contract's memory",
        ),
        ("storage", "the host could not read storage"),
        ("engine", "the engine failed"),
    ];

    /// This error's stable code (one of [`Self::CODES`]).
    pub fn code(&self) -> &'static str {
        match self {
            ExecError::OutOfFuel { .. } => "out_of_fuel",
            ExecError::GrowLimit { .. } => "grow_limit",
            ExecError::StackOverflow { .. } => "stack_overflow",
            ExecError::Trap { .. } => "trap",
            ExecError::Instantiation { .. } => "instantiation",
            ExecError::ForeignContract => "foreign_contract",
            ExecError::InputTooLarge { .. } => "input_too_large",
            ExecError::OutputTooLarge { .. } => "output_too_large",
            ExecError::KeyTooLarge { .. } => "key_too_large",
            ExecError::ValueTooLarge { .. } => "value_too_large",
            ExecError::TooManyWrites { .. } => "too_many_writes",
            ExecError::TooManyEvents { .. } => "too_many_events",
            ExecError::EventTooLarge { .. } => "event_too_large",
            ExecError::HttpInCommand => "http_in_command",
            ExecError::TooManyHttpCalls { .. } => "too_many_http_calls",
            ExecError::HttpRequestTooLarge { .. } => "http_request_too_large",
            ExecError::MalformedHttpRequest(_) => "malformed_http_request",
            ExecError::NoHttpResponse => "no_http_response",
            ExecError::OutOfBounds { .. } => "out_of_bounds",
            ExecError::Storage(_) => "storage",
            ExecError::Engine { .. } => "engine",
        }
    }
}

// Lets host functions stop a run with an `ExecError`, which `run` gets back intact.
impl wasmi::errors::HostError for ExecError {}

/// Code that passed [`validate`](crate::validate) and was compiled by one [`Executor`].
#[derive(Debug, Clone)]
pub struct Contract {
    module: Module,
}

/// Compiles and runs contracts. One per process is enough; it is `Send + Sync`, and runs share
/// nothing but the compiled code.
#[derive(Debug, Clone)]
pub struct Executor {
    engine: Engine,
    code_limits: CodeLimits,
    limits: ExecLimits,
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new(CodeLimits::default(), ExecLimits::default())
    }
}

impl Executor {
    /// An executor that accepts code within `code_limits` and runs it within `limits`.
    pub fn new(code_limits: CodeLimits, limits: ExecLimits) -> Self {
        let mut config = validate::engine_config();
        config.set_max_recursion_depth(limits.max_recursion_depth);
        Executor {
            engine: Engine::new(&config),
            code_limits,
            limits,
        }
    }

    /// The code limits it validates with.
    pub fn code_limits(&self) -> &CodeLimits {
        &self.code_limits
    }

    /// The run-time limits it runs with.
    pub fn limits(&self) -> &ExecLimits {
        &self.limits
    }

    /// Validates `code` (the same rules as [`crate::validate`]) and compiles it.
    pub fn compile(&self, code: &[u8]) -> Result<Contract, CodeError> {
        validate::compile(&self.engine, code, &self.code_limits).map(|module| Contract { module })
    }

    /// Runs `contract`'s entry point for `env.mode` with `input`, at most `fuel` fuel, reading
    /// committed storage from `host`. See the module docs for the rules.
    pub fn run(
        &self,
        contract: &Contract,
        env: &Env,
        input: &[u8],
        fuel: u64,
        host: &mut dyn Host,
    ) -> Result<Outcome, ExecError> {
        if !Engine::same(contract.module.engine(), &self.engine) {
            return Err(ExecError::ForeignContract);
        }
        if input.len() > self.limits.max_input_bytes {
            return Err(ExecError::InputTooLarge {
                size: input.len(),
                limit: self.limits.max_input_bytes,
            });
        }
        let memory_bytes = self.code_limits.max_memory_pages as usize * PAGE_BYTES;
        let state = RunState {
            host,
            env: *env,
            limits: self.limits,
            fuel_limit: fuel,
            input,
            output: Vec::new(),
            overlay: Writes::new(),
            events: Vec::new(),
            random: RandomStream::new(env.random_seed),
            http_calls: 0,
            http_response: None,
            memory: None,
            store_limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .table_elements(self.code_limits.max_table_elements as usize)
                .instances(1)
                .memories(1)
                .tables(self.code_limits.max_tables as usize)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.store_limits);
        let error = |e: wasmi::Error| self.exec_error(e, fuel);
        store.set_fuel(fuel).map_err(error)?;

        let linker = host_functions(&self.engine).map_err(error)?;
        let instance = linker
            .instantiate_and_start(&mut store, &contract.module)
            .map_err(|e| match self.exec_error(e, fuel) {
                ExecError::Engine { reason } => ExecError::Instantiation { reason },
                other => other,
            })?;
        let memory = instance
            .get_memory(&store, abi::MEMORY_EXPORT)
            .ok_or_else(|| ExecError::Instantiation {
                reason: "no memory export".into(),
            })?;
        store.data_mut().memory = Some(memory);
        let entry = match env.mode {
            Mode::Command => abi::CALL_ENTRY,
            Mode::Query => abi::QUERY_ENTRY,
        };
        let entry: TypedFunc<(), i32> =
            instance
                .get_typed_func(&store, entry)
                .map_err(|e| ExecError::Instantiation {
                    reason: e.to_string(),
                })?;
        let status = entry.call(&mut store, ()).map_err(error)?;
        let left = store.get_fuel().map_err(error)?;
        let state = store.into_data();
        let keep = status == 0 && env.mode == Mode::Command;
        Ok(Outcome {
            status,
            output: state.output,
            fuel_used: fuel.saturating_sub(left),
            events: if keep { state.events } else { Vec::new() },
            writes: if keep { state.overlay } else { Writes::new() },
        })
    }

    /// What a wasmi error from a run means.
    fn exec_error(&self, error: wasmi::Error, fuel: u64) -> ExecError {
        let out_of_fuel = matches!(
            error.kind(),
            ErrorKind::TrapCode(TrapCode::OutOfFuel)
                | ErrorKind::Memory(MemoryError::OutOfFuel { .. })
                | ErrorKind::Table(TableError::OutOfFuel { .. })
                | ErrorKind::Fuel(FuelError::OutOfFuel { .. })
        );
        if out_of_fuel {
            return ExecError::OutOfFuel { limit: fuel };
        }
        let grow_limited = matches!(
            error.kind(),
            ErrorKind::TrapCode(TrapCode::GrowthOperationLimited)
                | ErrorKind::Memory(MemoryError::ResourceLimiterDeniedAllocation)
                | ErrorKind::Table(TableError::ResourceLimiterDeniedAllocation)
        );
        if grow_limited {
            return ExecError::GrowLimit {
                memory_bytes: self.code_limits.max_memory_pages as usize * PAGE_BYTES,
                table_elements: self.code_limits.max_table_elements,
            };
        }
        if let Some(code) = error.as_trap_code() {
            return match code {
                TrapCode::StackOverflow => ExecError::StackOverflow {
                    depth: self.limits.max_recursion_depth,
                },
                other => ExecError::Trap {
                    reason: other.trap_message(),
                },
            };
        }
        let reason = error.to_string();
        match error.downcast::<ExecError>() {
            Some(exec) => exec,
            None => ExecError::Engine { reason },
        }
    }
}

/// The store's data during a run.
struct RunState<'r> {
    host: &'r mut dyn Host,
    env: Env,
    limits: ExecLimits,
    fuel_limit: u64,
    input: &'r [u8],
    output: Vec<u8>,
    overlay: Writes,
    events: Vec<Vec<u8>>,
    random: RandomStream,
    http_calls: u32,
    http_response: Option<Vec<u8>>,
    memory: Option<Memory>,
    store_limits: StoreLimits,
}

type Ctx<'a, 'r> = Caller<'a, RunState<'r>>;
type HostResult<T> = Result<T, wasmi::Error>;

fn fail<T>(error: ExecError) -> HostResult<T> {
    Err(wasmi::Error::host(error))
}

/// Takes `base + bytes * per_byte` fuel, or ends the run out of fuel.
fn charge(caller: &mut Ctx<'_, '_>, base: u64, bytes: usize, per_byte: u64) -> HostResult<()> {
    let cost = (bytes as u64).saturating_mul(per_byte).saturating_add(base);
    let left = caller.get_fuel()?;
    if cost > left {
        caller.set_fuel(0)?;
        let limit = caller.data().fuel_limit;
        return fail(ExecError::OutOfFuel { limit });
    }
    caller.set_fuel(left - cost)
}

fn memory(caller: &Ctx<'_, '_>) -> HostResult<Memory> {
    match caller.data().memory {
        Some(memory) => Ok(memory),
        // Set right after instantiation, before any entry point runs.
        None => fail(ExecError::Instantiation {
            reason: "a host function ran before the memory was known".into(),
        }),
    }
}

/// The bytes at `ptr..ptr + len` of the contract's memory (pointers are unsigned).
fn read(caller: &Ctx<'_, '_>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    let (ptr, len) = (ptr as u32, len as u32);
    let memory = memory(caller)?;
    let data = memory.data(caller);
    let start = ptr as usize;
    match start
        .checked_add(len as usize)
        .and_then(|end| data.get(start..end))
    {
        Some(bytes) => Ok(bytes.to_vec()),
        None => fail(ExecError::OutOfBounds { ptr, len }),
    }
}

/// Writes `bytes` at `ptr` in the contract's memory.
fn write(caller: &mut Ctx<'_, '_>, ptr: i32, bytes: &[u8]) -> HostResult<()> {
    let ptr = ptr as u32;
    let memory = memory(caller)?;
    let data = memory.data_mut(caller);
    let start = ptr as usize;
    match start
        .checked_add(bytes.len())
        .and_then(|end| data.get_mut(start..end))
    {
        Some(target) => {
            target.copy_from_slice(bytes);
            Ok(())
        }
        None => fail(ExecError::OutOfBounds {
            ptr,
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }),
    }
}

/// A length the contract passed, checked against `limit` before any byte is read.
fn checked_len(len: i32, limit: usize, too_large: impl Fn(usize) -> ExecError) -> HostResult<()> {
    let len = len as u32 as usize;
    if len > limit {
        return fail(too_large(len));
    }
    Ok(())
}

fn key_of(caller: &mut Ctx<'_, '_>, ptr: i32, len: i32) -> HostResult<Vec<u8>> {
    let limit = caller.data().limits.max_key_bytes;
    checked_len(len, limit, |size| ExecError::KeyTooLarge { size, limit })?;
    read(caller, ptr, len)
}

fn record_write(caller: &mut Ctx<'_, '_>, key: Vec<u8>, value: Option<Vec<u8>>) -> HostResult<()> {
    let state = caller.data_mut();
    let limit = state.limits.max_writes;
    if !state.overlay.contains_key(&key) && state.overlay.len() >= limit {
        return fail(ExecError::TooManyWrites { limit });
    }
    state.overlay.insert(key, value);
    Ok(())
}

/// Casts a length the executor bounded (all limits are far below 2 GiB) to the ABI's `i32`.
fn abi_len(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// The host functions of [`abi::HOST_FUNCTIONS`], linked for one run.
fn host_functions<'r>(engine: &Engine) -> HostResult<Linker<RunState<'r>>> {
    use abi::{FUEL_PER_BYTE, HOST_CALL_FUEL, IMPORT_MODULE as M};
    let mut linker = Linker::<RunState<'r>>::new(engine);

    linker.func_wrap(M, "input_len", |mut caller: Ctx<'_, 'r>| {
        charge(&mut caller, HOST_CALL_FUEL, 0, 0)?;
        Ok(abi_len(caller.data().input.len()))
    })?;

    linker.func_wrap(M, "input_read", |mut caller: Ctx<'_, 'r>, ptr: i32| {
        let len = caller.data().input.len();
        charge(&mut caller, HOST_CALL_FUEL, len, FUEL_PER_BYTE)?;
        let input = caller.data().input;
        write(&mut caller, ptr, input)
    })?;

    linker.func_wrap(
        M,
        "output",
        |mut caller: Ctx<'_, 'r>, ptr: i32, len: i32| {
            let limit = caller.data().limits.max_output_bytes;
            checked_len(len, limit, |size| ExecError::OutputTooLarge { size, limit })?;
            charge(
                &mut caller,
                HOST_CALL_FUEL,
                len as u32 as usize,
                FUEL_PER_BYTE,
            )?;
            let bytes = read(&caller, ptr, len)?;
            caller.data_mut().output = bytes;
            Ok(())
        },
    )?;

    linker.func_wrap(
        M,
        "storage_get",
        |mut caller: Ctx<'_, 'r>, key_ptr: i32, key_len: i32, val_ptr: i32, val_cap: i32| {
            let key = key_of(&mut caller, key_ptr, key_len)?;
            charge(&mut caller, HOST_CALL_FUEL, key.len(), FUEL_PER_BYTE)?;
            let state = caller.data_mut();
            let value = match state.overlay.get(&key) {
                Some(buffered) => buffered.clone(),
                None => match state.host.storage_get(&key) {
                    Ok(value) => value,
                    Err(e) => return fail(ExecError::Storage(e)),
                },
            };
            let Some(value) = value else {
                return Ok(abi::ABSENT);
            };
            charge(&mut caller, 0, value.len(), FUEL_PER_BYTE)?;
            // Copied only if it fits; the length tells the contract how much room to make.
            if value.len() <= val_cap as u32 as usize {
                write(&mut caller, val_ptr, &value)?;
            }
            Ok(abi_len(value.len()))
        },
    )?;

    linker.func_wrap(
        M,
        "storage_set",
        |mut caller: Ctx<'_, 'r>, key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32| {
            let key = key_of(&mut caller, key_ptr, key_len)?;
            let limit = caller.data().limits.max_value_bytes;
            checked_len(val_len, limit, |size| ExecError::ValueTooLarge {
                size,
                limit,
            })?;
            let bytes = key.len() + val_len as u32 as usize;
            charge(&mut caller, HOST_CALL_FUEL, bytes, abi::WRITE_FUEL_PER_BYTE)?;
            let value = read(&caller, val_ptr, val_len)?;
            record_write(&mut caller, key, Some(value))
        },
    )?;

    linker.func_wrap(
        M,
        "storage_remove",
        |mut caller: Ctx<'_, 'r>, key_ptr: i32, key_len: i32| {
            let key = key_of(&mut caller, key_ptr, key_len)?;
            charge(
                &mut caller,
                HOST_CALL_FUEL,
                key.len(),
                abi::WRITE_FUEL_PER_BYTE,
            )?;
            record_write(&mut caller, key, None)
        },
    )?;

    linker.func_wrap(M, "caller", |mut caller: Ctx<'_, 'r>, ptr: i32| {
        charge(&mut caller, HOST_CALL_FUEL, 32, FUEL_PER_BYTE)?;
        let id = caller.data().env.caller;
        write(&mut caller, ptr, &id)
    })?;

    linker.func_wrap(M, "block_height", |mut caller: Ctx<'_, 'r>| {
        charge(&mut caller, HOST_CALL_FUEL, 0, 0)?;
        Ok(caller.data().env.height as i64)
    })?;

    linker.func_wrap(M, "block_time_ms", |mut caller: Ctx<'_, 'r>| {
        charge(&mut caller, HOST_CALL_FUEL, 0, 0)?;
        Ok(caller.data().env.time_ms as i64)
    })?;

    linker.func_wrap(
        M,
        "random",
        |mut caller: Ctx<'_, 'r>, ptr: i32, len: i32| {
            let n = len as u32 as usize;
            charge(
                &mut caller,
                HOST_CALL_FUEL,
                n,
                FUEL_PER_BYTE + abi::RANDOM_FUEL_PER_BYTE,
            )?;
            // Bounded by the fuel just charged, and checked against the memory by `write`.
            let mut bytes = vec![0u8; n];
            caller.data_mut().random.fill(&mut bytes);
            write(&mut caller, ptr, &bytes)
        },
    )?;

    linker.func_wrap(M, "event", |mut caller: Ctx<'_, 'r>, ptr: i32, len: i32| {
        let limits = caller.data().limits;
        let limit = limits.max_event_bytes;
        checked_len(len, limit, |size| ExecError::EventTooLarge { size, limit })?;
        if caller.data().events.len() >= limits.max_events {
            return fail(ExecError::TooManyEvents {
                limit: limits.max_events,
            });
        }
        charge(
            &mut caller,
            HOST_CALL_FUEL,
            len as u32 as usize,
            FUEL_PER_BYTE,
        )?;
        let bytes = read(&caller, ptr, len)?;
        caller.data_mut().events.push(bytes);
        Ok(())
    })?;

    linker.func_wrap(
        M,
        "http_request",
        |mut caller: Ctx<'_, 'r>, ptr: i32, len: i32| {
            let state = caller.data();
            if state.env.mode == Mode::Command {
                return fail(ExecError::HttpInCommand);
            }
            let limits = state.limits;
            if state.http_calls >= limits.max_http_calls {
                return fail(ExecError::TooManyHttpCalls {
                    limit: limits.max_http_calls,
                });
            }
            let limit = limits.max_http_request_bytes;
            checked_len(len, limit, |size| ExecError::HttpRequestTooLarge {
                size,
                limit,
            })?;
            charge(
                &mut caller,
                abi::HTTP_CALL_FUEL,
                len as u32 as usize,
                FUEL_PER_BYTE,
            )?;
            let bytes = read(&caller, ptr, len)?;
            let request = abi::decode_http_request(
                &bytes,
                limits.http_timeout_ms,
                limits.max_http_response_bytes,
            )
            .map_err(|e| wasmi::Error::host(ExecError::from(e)))?;
            let state = caller.data_mut();
            state.http_calls += 1;
            state.http_response = None;
            let encoded = match state.host.http(&request) {
                Ok(response) => match response.encode() {
                    Ok(encoded) => encoded,
                    Err(_) => return Ok(abi::HTTP_FAILED),
                },
                Err(e) => return Ok(e.guest_code()),
            };
            if encoded.len() > limits.max_http_response_bytes {
                return Ok(abi::HTTP_RESPONSE_TOO_LARGE);
            }
            let len = encoded.len();
            state.http_response = Some(encoded);
            charge(&mut caller, 0, len, FUEL_PER_BYTE)?;
            Ok(abi_len(len))
        },
    )?;

    linker.func_wrap(
        M,
        "http_response_read",
        |mut caller: Ctx<'_, 'r>, ptr: i32| {
            let Some(response) = caller.data_mut().http_response.take() else {
                return fail(ExecError::NoHttpResponse);
            };
            charge(&mut caller, HOST_CALL_FUEL, response.len(), FUEL_PER_BYTE)?;
            write(&mut caller, ptr, &response)?;
            caller.data_mut().http_response = Some(response);
            Ok(())
        },
    )?;

    Ok(linker)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
