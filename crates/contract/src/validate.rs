//! Validation of uploaded contract code: what the chain checks before it stores a module, and
//! what the executor checks again before it compiles one.
//!
//! # Rules
//!
//! In this order; the first broken rule is the error:
//!
//! 1. At most [`CodeLimits::max_code_bytes`] bytes ([`CodeError::TooLarge`]).
//! 2. The WebAssembly 1 binary header ([`CodeError::NotWasm`]) and sections that end inside the
//!    bytes ([`CodeError::Truncated`]).
//! 3. A valid module for wasmi with the features Phalanx enables: mutable globals, sign
//!    extension, multi-value, bulk memory, reference types and extended constants. Disabled, so
//!    refused: floating point (`f32`/`f64` types or any float instruction, [`CodeError::Floats`]:
//!    NaN bit patterns are not deterministic across machines), SIMD, threads, memory64,
//!    multi-memory, tail calls, custom page sizes, wide arithmetic ([`CodeError::Invalid`]).
//!    wasmi's strict compile limits apply too (at least 40 bytes per function on average once
//!    the code is over 1000 bytes, at most 32 parameters or results).
//! 4. No start function ([`CodeError::StartFunction`]): nothing runs at instantiation, so every
//!    instruction a contract executes is inside an entry point, with its input and its fuel.
//! 5. At most [`CodeLimits::max_functions`] defined functions, [`CodeLimits::max_globals`]
//!    globals, [`CodeLimits::max_tables`] tables whose initial size is at most
//!    [`CodeLimits::max_table_elements`], [`CodeLimits::max_element_segments`] element
//!    segments and [`CodeLimits::max_data_segments`] data segments.
//! 6. Imports: functions only, only from module `phalanx`, only names of
//!    [`crate::abi::HOST_FUNCTIONS`], each with exactly its signature.
//! 7. Exports: a memory `memory` whose initial size and declared maximum (if any) are at most
//!    [`CodeLimits::max_memory_pages`], and the functions `call` and `query`, both `() -> i32`.
//!    Other exports are allowed and ignored.
//!
//! Everything here is a pure function of the bytes and the limits, so every validator reaches
//! the same answer. The wasmi version is pinned in the workspace for that reason: its parser and
//! its messages are part of the answer.

use crate::abi::{self, IMPORT_MODULE, MEMORY_EXPORT};
use std::sync::OnceLock;
use wasmi::{
    CompilationMode, Config, EnforcedLimits, Engine, ExternType, FuncType, Module, ValType,
};

/// The size of a WebAssembly memory page.
pub const PAGE_BYTES: usize = 64 * 1024;

/// Limits an uploaded module must respect. The executor enforces the same memory and table
/// limits at run time ([`crate::Executor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLimits {
    /// Largest accepted code, in bytes.
    pub max_code_bytes: usize,
    /// Most 64 KiB pages the memory may start with, declare as its maximum, or grow to.
    pub max_memory_pages: u32,
    /// Most functions the module defines (imports not counted).
    pub max_functions: u32,
    /// Most globals the module defines.
    pub max_globals: u32,
    /// Most tables.
    pub max_tables: u32,
    /// Most elements a table starts with, or grows to.
    pub max_table_elements: u32,
    /// Most element segments.
    pub max_element_segments: u32,
    /// Most data segments.
    pub max_data_segments: u32,
}

impl Default for CodeLimits {
    fn default() -> Self {
        CodeLimits {
            max_code_bytes: 256 * 1024,
            // 4 MiB: a contract is a small state machine, not a database.
            max_memory_pages: 64,
            max_functions: 4096,
            max_globals: 256,
            max_tables: 1,
            max_table_elements: 4096,
            max_element_segments: 64,
            max_data_segments: 256,
        }
    }
}

/// Why uploaded code was refused. Append only: [`CodeError::code`] is what the chain records.
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
    /// The bytes do not start with the WebAssembly 1 header (`\0asm`, version 1).
    #[error("contract code is not a WebAssembly module: it must start with \\0asm version 1")]
    NotWasm,
    /// A section's declared size runs past the end of the bytes.
    #[error("contract code is truncated: the section at byte {offset} runs past the end; upload the whole file")]
    Truncated {
        /// Where the section starts.
        offset: usize,
    },
    /// wasmi refused the module (malformed, invalid, or uses a disabled feature).
    #[error("contract code is not a valid module: {reason}")]
    Invalid {
        /// wasmi's explanation.
        reason: String,
    },
    /// The module uses `f32`/`f64` types or instructions.
    #[error("contract code uses floating point, which is not deterministic; build without floats")]
    Floats,
    /// The module has a start function.
    #[error("contract code has a start function; do the work in `call` instead")]
    StartFunction,
    /// An import from a module other than `phalanx`.
    #[error("contract imports `{name}` from module `{module}`; only module `phalanx` is provided")]
    ForeignImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
    /// An import from `phalanx` that the ABI does not have.
    #[error("contract imports `phalanx.{name}`, which the host ABI does not provide")]
    UnknownImport {
        /// The import's name.
        name: String,
    },
    /// A host function imported with the wrong signature.
    #[error("contract imports `phalanx.{name}` as {found}, but it is {expected}")]
    ImportSignature {
        /// The import's name.
        name: String,
        /// The ABI's signature, as `(i32, i32) -> i32`.
        expected: String,
        /// The module's signature.
        found: String,
    },
    /// An import of a memory, table or global (the host provides functions only).
    #[error("contract imports `{name}` as a {kind}; the host provides functions only")]
    ImportNotFunction {
        /// The import's name.
        name: String,
        /// `memory`, `table` or `global`.
        kind: &'static str,
    },
    /// No memory exported as `memory`.
    #[error("contract does not export its memory as `memory`")]
    MissingMemory,
    /// An entry point is missing, or exported as something else than a function.
    #[error("contract does not export the function `{name}`")]
    MissingEntry {
        /// `call` or `query`.
        name: &'static str,
    },
    /// An entry point is not `() -> i32`.
    #[error("contract exports `{name}` as {found}, but entry points are () -> i32")]
    EntrySignature {
        /// `call` or `query`.
        name: &'static str,
        /// Its signature.
        found: String,
    },
    /// The memory starts with more pages than allowed.
    #[error("contract memory starts with {pages} pages of 64 KiB, more than the limit of {limit}")]
    MemoryTooLarge {
        /// Initial pages.
        pages: u64,
        /// [`CodeLimits::max_memory_pages`].
        limit: u32,
    },
    /// The memory declares a maximum above the limit.
    #[error("contract memory declares a maximum of {pages} pages of 64 KiB, more than the limit of {limit}")]
    MemoryMaximumTooLarge {
        /// Declared maximum pages.
        pages: u64,
        /// [`CodeLimits::max_memory_pages`].
        limit: u32,
    },
    /// More defined functions than allowed.
    #[error("contract defines {count} functions, more than the limit of {limit}")]
    TooManyFunctions {
        /// How many.
        count: u32,
        /// [`CodeLimits::max_functions`].
        limit: u32,
    },
    /// More globals than allowed.
    #[error("contract defines {count} globals, more than the limit of {limit}")]
    TooManyGlobals {
        /// How many.
        count: u32,
        /// [`CodeLimits::max_globals`].
        limit: u32,
    },
    /// More tables than allowed.
    #[error("contract defines {count} tables, more than the limit of {limit}")]
    TooManyTables {
        /// How many.
        count: u32,
        /// [`CodeLimits::max_tables`].
        limit: u32,
    },
    /// A table starts with more elements than allowed.
    #[error("contract table starts with {elements} elements, more than the limit of {limit}")]
    TableTooLarge {
        /// Initial elements.
        elements: u64,
        /// [`CodeLimits::max_table_elements`].
        limit: u32,
    },
    /// More element segments than allowed.
    #[error("contract has {count} element segments, more than the limit of {limit}")]
    TooManyElementSegments {
        /// How many.
        count: u32,
        /// [`CodeLimits::max_element_segments`].
        limit: u32,
    },
    /// More data segments than allowed.
    #[error("contract has {count} data segments, more than the limit of {limit}")]
    TooManyDataSegments {
        /// How many.
        count: u32,
        /// [`CodeLimits::max_data_segments`].
        limit: u32,
    },
}

impl CodeError {
    /// Every code of [`CodeError`] with what it means, in variant order. Append only.
    pub const CODES: &'static [(&'static str, &'static str)] = &[
        ("too_large", "the code is larger than the limit"),
        ("not_wasm", "the bytes are not a WebAssembly 1 module"),
        ("truncated", "a section runs past the end of the bytes"),
        (
            "invalid",
            "the module is malformed, invalid, or uses a disabled feature",
        ),
        ("floats", "the module uses floating point"),
        ("start_function", "the module has a start function"),
        (
            "foreign_import",
            "an import from a module other than phalanx",
        ),
        ("unknown_import", "an import the host ABI does not provide"),
        (
            "import_signature",
            "a host function imported with the wrong signature",
        ),
        (
            "import_not_function",
            "an import of a memory, table or global",
        ),
        ("missing_memory", "no memory exported as memory"),
        ("missing_entry", "call or query is not exported"),
        ("entry_signature", "call or query is not () -> i32"),
        ("memory_too_large", "the memory starts with too many pages"),
        (
            "memory_maximum_too_large",
            "the memory declares too large a maximum",
        ),
        ("too_many_functions", "too many functions"),
        ("too_many_globals", "too many globals"),
        ("too_many_tables", "too many tables"),
        ("table_too_large", "a table starts with too many elements"),
        ("too_many_element_segments", "too many element segments"),
        ("too_many_data_segments", "too many data segments"),
    ];

    /// This error's stable code (one of [`Self::CODES`]).
    pub fn code(&self) -> &'static str {
        match self {
            CodeError::TooLarge { .. } => "too_large",
            CodeError::NotWasm => "not_wasm",
            CodeError::Truncated { .. } => "truncated",
            CodeError::Invalid { .. } => "invalid",
            CodeError::Floats => "floats",
            CodeError::StartFunction => "start_function",
            CodeError::ForeignImport { .. } => "foreign_import",
            CodeError::UnknownImport { .. } => "unknown_import",
            CodeError::ImportSignature { .. } => "import_signature",
            CodeError::ImportNotFunction { .. } => "import_not_function",
            CodeError::MissingMemory => "missing_memory",
            CodeError::MissingEntry { .. } => "missing_entry",
            CodeError::EntrySignature { .. } => "entry_signature",
            CodeError::MemoryTooLarge { .. } => "memory_too_large",
            CodeError::MemoryMaximumTooLarge { .. } => "memory_maximum_too_large",
            CodeError::TooManyFunctions { .. } => "too_many_functions",
            CodeError::TooManyGlobals { .. } => "too_many_globals",
            CodeError::TooManyTables { .. } => "too_many_tables",
            CodeError::TableTooLarge { .. } => "table_too_large",
            CodeError::TooManyElementSegments { .. } => "too_many_element_segments",
            CodeError::TooManyDataSegments { .. } => "too_many_data_segments",
        }
    }
}

/// Checks `code` before it is stored on chain. Deterministic: every validator reaches the same
/// answer. See the module docs for the rules.
pub fn validate(code: &[u8], limits: &CodeLimits) -> Result<(), CodeError> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| Engine::new(&engine_config()));
    compile(engine, code, limits).map(drop)
}

/// The wasmi configuration every Phalanx engine starts from: the features of rule 3, fuel on,
/// eager compilation (so compiling never charges fuel during a run, and a module that
/// validates has been fully translated), and start functions let through to [`compile`], which
/// refuses them with their own error.
pub(crate) fn engine_config() -> Config {
    let mut config = Config::default();
    config
        .floats(false)
        .wasm_multi_memory(false)
        .wasm_tail_call(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .wasm_mutable_global(true)
        .wasm_sign_extension(true)
        .wasm_multi_value(true)
        .wasm_bulk_memory(true)
        .wasm_reference_types(true)
        .wasm_extended_const(true)
        .consume_fuel(true)
        .compilation_mode(CompilationMode::Eager)
        .enforced_limits(EnforcedLimits::strict())
        .allow_start_fn(true);
    config
}

/// Validates `code` and compiles it with `engine` (configured from [`engine_config`]).
pub(crate) fn compile(
    engine: &Engine,
    code: &[u8],
    limits: &CodeLimits,
) -> Result<Module, CodeError> {
    if code.len() > limits.max_code_bytes {
        return Err(CodeError::TooLarge {
            size: code.len(),
            limit: limits.max_code_bytes,
        });
    }
    check_framing(code)?;
    let module = match Module::new(engine, code) {
        Ok(module) => module,
        Err(error) => return Err(classify_compile_error(code, error)),
    };
    check_sections(code, limits)?;
    check_imports(&module)?;
    check_exports(&module, limits)?;
    Ok(module)
}

/// Tells a module that fails only because of floats from any other refusal, by compiling it
/// again with floats enabled (only on this error path).
fn classify_compile_error(code: &[u8], error: wasmi::Error) -> CodeError {
    static FLOAT_PROBE: OnceLock<Engine> = OnceLock::new();
    let probe = FLOAT_PROBE.get_or_init(|| {
        let mut config = engine_config();
        config.floats(true);
        Engine::new(&config)
    });
    if Module::new(probe, code).is_ok() {
        CodeError::Floats
    } else {
        CodeError::Invalid {
            reason: error.to_string(),
        }
    }
}

const HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// Rule 2: the header, and every section's declared size within the bytes. Anything else odd
/// (a malformed size) is left to wasmi, which explains it.
fn check_framing(code: &[u8]) -> Result<(), CodeError> {
    if code.len() < HEADER.len() || code[..HEADER.len()] != HEADER {
        return Err(CodeError::NotWasm);
    }
    let mut reader = Reader::new(&code[HEADER.len()..], HEADER.len());
    while !reader.is_empty() {
        let offset = reader.offset();
        if reader.u8().is_none() {
            return Err(CodeError::Truncated { offset });
        }
        let Some(size) = reader.leb_u32() else {
            // Ends inside the size, or the size is malformed: tell the two apart.
            return if reader.is_empty() {
                Err(CodeError::Truncated { offset })
            } else {
                Ok(())
            };
        };
        if reader.take(size as usize).is_none() {
            return Err(CodeError::Truncated { offset });
        }
    }
    Ok(())
}

// Section ids of the WebAssembly binary format.
const SECTION_FUNCTION: u8 = 3;
const SECTION_TABLE: u8 = 4;
const SECTION_GLOBAL: u8 = 6;
const SECTION_START: u8 = 8;
const SECTION_ELEMENT: u8 = 9;
const SECTION_DATA: u8 = 11;

/// Rules 4 and 5, read from the section headers of a module wasmi accepted. A section whose
/// contents this reader cannot follow is refused rather than let through.
fn check_sections(code: &[u8], limits: &CodeLimits) -> Result<(), CodeError> {
    let unreadable = |what: &str| CodeError::Invalid {
        reason: format!("cannot read the {what} section"),
    };
    let mut reader = Reader::new(code.get(HEADER.len()..).unwrap_or_default(), HEADER.len());
    while !reader.is_empty() {
        let (Some(id), Some(size)) = (reader.u8(), reader.leb_u32()) else {
            return Err(unreadable("next"));
        };
        let Some(payload) = reader.take(size as usize) else {
            return Err(unreadable("next"));
        };
        let mut section = Reader::new(payload, 0);
        let count = || {
            Reader::new(payload, 0)
                .leb_u32()
                .ok_or_else(|| unreadable("counted"))
        };
        match id {
            SECTION_START => return Err(CodeError::StartFunction),
            SECTION_FUNCTION => {
                let count = count()?;
                if count > limits.max_functions {
                    return Err(CodeError::TooManyFunctions {
                        count,
                        limit: limits.max_functions,
                    });
                }
            }
            SECTION_GLOBAL => {
                let count = count()?;
                if count > limits.max_globals {
                    return Err(CodeError::TooManyGlobals {
                        count,
                        limit: limits.max_globals,
                    });
                }
            }
            SECTION_ELEMENT => {
                let count = count()?;
                if count > limits.max_element_segments {
                    return Err(CodeError::TooManyElementSegments {
                        count,
                        limit: limits.max_element_segments,
                    });
                }
            }
            SECTION_DATA => {
                let count = count()?;
                if count > limits.max_data_segments {
                    return Err(CodeError::TooManyDataSegments {
                        count,
                        limit: limits.max_data_segments,
                    });
                }
            }
            SECTION_TABLE => {
                let count = section.leb_u32().ok_or_else(|| unreadable("table"))?;
                if count > limits.max_tables {
                    return Err(CodeError::TooManyTables {
                        count,
                        limit: limits.max_tables,
                    });
                }
                for _ in 0..count {
                    let elements =
                        table_initial_size(&mut section).ok_or_else(|| unreadable("table"))?;
                    if elements > u64::from(limits.max_table_elements) {
                        return Err(CodeError::TableTooLarge {
                            elements,
                            limit: limits.max_table_elements,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads one table type and returns its initial size. Tables with an initializer expression
/// (`0x40 0x00` prefix) are refused as unreadable: with function references disabled their
/// initializer can only be a null reference, which Rust never emits.
fn table_initial_size(section: &mut Reader<'_>) -> Option<u64> {
    const FUNCREF: u8 = 0x70;
    const EXTERNREF: u8 = 0x6f;
    match section.u8()? {
        FUNCREF | EXTERNREF => {}
        _ => return None,
    }
    let flags = section.u8()?;
    let minimum = section.leb_u32()?;
    match flags {
        0x00 => {}
        0x01 => {
            section.leb_u32()?;
        }
        _ => return None,
    }
    Some(u64::from(minimum))
}

/// Rule 6.
fn check_imports(module: &Module) -> Result<(), CodeError> {
    for import in module.imports() {
        let name = import.name();
        if import.module() != IMPORT_MODULE {
            return Err(CodeError::ForeignImport {
                module: import.module().to_owned(),
                name: name.to_owned(),
            });
        }
        let found = match import.ty() {
            ExternType::Func(ty) => ty,
            other => {
                return Err(CodeError::ImportNotFunction {
                    name: name.to_owned(),
                    kind: extern_kind(other),
                })
            }
        };
        let Some(expected) = abi::host_function(name) else {
            return Err(CodeError::UnknownImport {
                name: name.to_owned(),
            });
        };
        if found.params() != expected.params || found.results() != expected.results {
            return Err(CodeError::ImportSignature {
                name: name.to_owned(),
                expected: signature(expected.params, expected.results),
                found: signature(found.params(), found.results()),
            });
        }
    }
    Ok(())
}

/// Rule 7.
fn check_exports(module: &Module, limits: &CodeLimits) -> Result<(), CodeError> {
    let Some(ExternType::Memory(memory)) = module.get_export(MEMORY_EXPORT) else {
        return Err(CodeError::MissingMemory);
    };
    let limit = limits.max_memory_pages;
    if memory.minimum() > u64::from(limit) {
        return Err(CodeError::MemoryTooLarge {
            pages: memory.minimum(),
            limit,
        });
    }
    if let Some(maximum) = memory.maximum() {
        if maximum > u64::from(limit) {
            return Err(CodeError::MemoryMaximumTooLarge {
                pages: maximum,
                limit,
            });
        }
    }
    for name in abi::ENTRIES {
        let Some(ExternType::Func(ty)) = module.get_export(name) else {
            return Err(CodeError::MissingEntry { name });
        };
        if !is_entry_signature(&ty) {
            return Err(CodeError::EntrySignature {
                name,
                found: signature(ty.params(), ty.results()),
            });
        }
    }
    Ok(())
}

fn is_entry_signature(ty: &FuncType) -> bool {
    ty.params().is_empty() && ty.results() == [ValType::I32]
}

fn extern_kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "function",
        ExternType::Memory(_) => "memory",
        ExternType::Table(_) => "table",
        ExternType::Global(_) => "global",
    }
}

/// `(i32, i32) -> i32`, the way errors show signatures.
fn signature(params: &[ValType], results: &[ValType]) -> String {
    let list = |types: &[ValType]| {
        types
            .iter()
            .map(|t| match t {
                ValType::I32 => "i32",
                ValType::I64 => "i64",
                ValType::F32 => "f32",
                ValType::F64 => "f64",
                ValType::V128 => "v128",
                ValType::FuncRef => "funcref",
                ValType::ExternRef => "externref",
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match results {
        [] => format!("({})", list(params)),
        [one] => format!("({}) -> {}", list(params), list(&[*one])),
        _ => format!("({}) -> ({})", list(params), list(results)),
    }
}

/// A reader over bytes that never reads past them; `offset` is for error messages.
struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], offset: usize) -> Self {
        Reader { bytes, offset }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn offset(&self) -> usize {
        self.offset
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        self.offset += n;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    /// An unsigned LEB128 of at most 5 bytes that fits in 32 bits.
    fn leb_u32(&mut self) -> Option<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let byte = self.u8()?;
            let bits = u32::from(byte & 0x7f);
            if i == 4 && bits > 0x0f {
                return None;
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}
