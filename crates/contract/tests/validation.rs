//! `validate` on hand-written modules: every refusal has its own error, and no input — random
//! bytes or a mutated valid module — panics it.

#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use phalanx_contract::{validate, CodeError, CodeLimits, Executor, Mode};
use proptest::prelude::*;
use support::{env, wat, wat_contract};

fn check(code: &[u8]) -> Result<(), CodeError> {
    validate(code, &CodeLimits::default())
}

/// A minimal valid contract.
fn minimal() -> Vec<u8> {
    wat(r#"(module
        (memory (export "memory") 1)
        (func (export "call") (result i32) i32.const 0)
        (func (export "query") (result i32) i32.const 0))"#)
}

#[test]
fn a_minimal_contract_and_one_importing_the_whole_abi_are_valid() {
    assert_eq!(check(&minimal()), Ok(()));
    assert_eq!(
        check(&wat_contract("", "i32.const 0", "i32.const 0")),
        Ok(())
    );
}

#[test]
fn malformed_truncated_and_oversized_code_is_refused() {
    assert_eq!(check(b"hello, world"), Err(CodeError::NotWasm));
    assert_eq!(check(b""), Err(CodeError::NotWasm));
    // Version 2 of the binary format does not exist.
    assert_eq!(
        check(&[0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00]),
        Err(CodeError::NotWasm)
    );
    let code = wat_contract("", "i32.const 0", "i32.const 0");
    let half = &code[..code.len() / 2];
    assert!(matches!(check(half), Err(CodeError::Truncated { .. })));
    // A section that claims more bytes than follow.
    let mut lying = minimal();
    lying.extend_from_slice(&[0x00, 0x20, b'x']);
    assert_eq!(
        check(&lying),
        Err(CodeError::Truncated {
            offset: minimal().len()
        })
    );
    // Framing fine, contents garbage: wasmi explains.
    let mut garbage = minimal();
    garbage.extend_from_slice(&[0x03, 0x02, 0xff, 0xff]);
    assert!(matches!(check(&garbage), Err(CodeError::Invalid { .. })));

    let limits = CodeLimits::default();
    let mut big = minimal();
    // A custom section of padding, to go over the limit.
    let pad = limits.max_code_bytes - big.len();
    big.push(0x00);
    big.extend_from_slice(&leb(pad as u32 + 1));
    big.push(0x00); // empty custom section name
    big.extend(std::iter::repeat_n(0u8, pad));
    let size = big.len();
    assert!(size > limits.max_code_bytes);
    assert_eq!(
        check(&big),
        Err(CodeError::TooLarge {
            size,
            limit: limits.max_code_bytes
        })
    );
}

fn leb(mut value: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[test]
fn floats_are_refused_as_instructions_types_and_globals() {
    let instruction = wat_contract(
        "",
        "f32.const 1.5 f32.const 2.5 f32.add i32.trunc_f32_s",
        "i32.const 0",
    );
    assert_eq!(check(&instruction), Err(CodeError::Floats));
    let param = wat_contract("(func $f (param f64))", "i32.const 0", "i32.const 0");
    assert_eq!(check(&param), Err(CodeError::Floats));
    let global = wat_contract("(global f32 (f32.const 0))", "i32.const 0", "i32.const 0");
    assert_eq!(check(&global), Err(CodeError::Floats));
    // An integer reinterpretation of float bits is a float instruction too.
    let reinterpret = wat_contract(
        "",
        "i32.const 1 f32.reinterpret_i32 i32.reinterpret_f32",
        "i32.const 0",
    );
    assert_eq!(check(&reinterpret), Err(CodeError::Floats));
}

#[test]
fn imports_outside_the_abi_are_refused() {
    let module = |import: &str| {
        wat(&format!(
            r#"(module {import}
                (memory (export "memory") 1)
                (func (export "call") (result i32) i32.const 0)
                (func (export "query") (result i32) i32.const 0))"#
        ))
    };
    assert_eq!(
        check(&module(r#"(import "phalanx" "exit" (func (param i32)))"#)),
        Err(CodeError::UnknownImport {
            name: "exit".into()
        })
    );
    assert_eq!(
        check(&module(r#"(import "env" "abort" (func))"#)),
        Err(CodeError::ForeignImport {
            module: "env".into(),
            name: "abort".into()
        })
    );
    assert_eq!(
        check(&module(
            r#"(import "phalanx" "storage_get" (func (param i32 i32 i32) (result i32)))"#
        )),
        Err(CodeError::ImportSignature {
            name: "storage_get".into(),
            expected: "(i32, i32, i32, i32) -> i32".into(),
            found: "(i32, i32, i32) -> i32".into(),
        })
    );
    assert_eq!(
        check(&module(
            r#"(import "phalanx" "block_height" (func (result i32)))"#
        )),
        Err(CodeError::ImportSignature {
            name: "block_height".into(),
            expected: "() -> i64".into(),
            found: "() -> i32".into(),
        })
    );
    assert_eq!(
        check(&module(r#"(import "phalanx" "table" (table 1 funcref))"#)),
        Err(CodeError::ImportNotFunction {
            name: "table".into(),
            kind: "table"
        })
    );
    assert_eq!(
        check(&module(r#"(import "phalanx" "g" (global i32))"#)),
        Err(CodeError::ImportNotFunction {
            name: "g".into(),
            kind: "global"
        })
    );
}

#[test]
fn missing_or_mistyped_exports_are_refused() {
    let no_query = wat(r#"(module
        (memory (export "memory") 1)
        (func (export "call") (result i32) i32.const 0))"#);
    assert_eq!(
        check(&no_query),
        Err(CodeError::MissingEntry { name: "query" })
    );
    let no_memory = wat(r#"(module
        (memory 1)
        (func (export "call") (result i32) i32.const 0)
        (func (export "query") (result i32) i32.const 0))"#);
    assert_eq!(check(&no_memory), Err(CodeError::MissingMemory));
    let memory_is_a_function = wat(r#"(module
        (func (export "memory"))
        (func (export "call") (result i32) i32.const 0)
        (func (export "query") (result i32) i32.const 0))"#);
    assert_eq!(check(&memory_is_a_function), Err(CodeError::MissingMemory));
    let wrong_signature = wat(r#"(module
        (memory (export "memory") 1)
        (func (export "call") (param i32) (result i32) i32.const 0)
        (func (export "query") (result i32) i32.const 0))"#);
    assert_eq!(
        check(&wrong_signature),
        Err(CodeError::EntrySignature {
            name: "call",
            found: "(i32) -> i32".into()
        })
    );
    let imported_memory = wat(r#"(module
        (import "phalanx" "memory" (memory 1))
        (export "memory" (memory 0))
        (func (export "call") (result i32) i32.const 0)
        (func (export "query") (result i32) i32.const 0))"#);
    assert_eq!(
        check(&imported_memory),
        Err(CodeError::ImportNotFunction {
            name: "memory".into(),
            kind: "memory"
        })
    );
}

#[test]
fn start_functions_and_oversized_structures_are_refused() {
    let limits = CodeLimits::default();
    let start = wat_contract("(func $init) (start $init)", "i32.const 0", "i32.const 0");
    assert_eq!(check(&start), Err(CodeError::StartFunction));

    let entries = r#"(func (export "call") (result i32) i32.const 0)
        (func (export "query") (result i32) i32.const 0)"#;
    let memory = |decl: &str| {
        wat(&format!(
            "(module (memory (export \"memory\") {decl}) {entries})"
        ))
    };
    assert_eq!(check(&memory("64")), Ok(()));
    assert_eq!(
        check(&memory("65")),
        Err(CodeError::MemoryTooLarge {
            pages: 65,
            limit: limits.max_memory_pages
        })
    );
    assert_eq!(
        check(&memory("1 1000")),
        Err(CodeError::MemoryMaximumTooLarge {
            pages: 1000,
            limit: limits.max_memory_pages
        })
    );

    let with = |extra: &str| wat_contract(extra, "i32.const 0", "i32.const 0");
    assert_eq!(
        check(&with("(table 5000 funcref)")),
        Err(CodeError::TableTooLarge {
            elements: 5000,
            limit: limits.max_table_elements
        })
    );
    assert_eq!(
        check(&with("(table 1 funcref) (table 1 funcref)")),
        Err(CodeError::TooManyTables {
            count: 2,
            limit: limits.max_tables
        })
    );
    let globals: String = (0..=limits.max_globals)
        .map(|_| "(global i32 (i32.const 0))")
        .collect();
    assert_eq!(
        check(&with(&globals)),
        Err(CodeError::TooManyGlobals {
            count: limits.max_globals + 1,
            limit: limits.max_globals
        })
    );
    let data: String = (0..=limits.max_data_segments)
        .map(|i| format!("(data (i32.const {i}) \"x\")"))
        .collect();
    assert_eq!(
        check(&with(&data)),
        Err(CodeError::TooManyDataSegments {
            count: limits.max_data_segments + 1,
            limit: limits.max_data_segments
        })
    );
    let tight = CodeLimits {
        max_functions: 3,
        max_element_segments: 0,
        ..limits
    };
    // Two entry points and three helpers.
    let helpers = with("(func) (func) (func)");
    assert_eq!(
        validate(&helpers, &tight),
        Err(CodeError::TooManyFunctions { count: 5, limit: 3 })
    );
    let element = with("(table 1 funcref) (func $f) (elem (i32.const 0) $f)");
    assert_eq!(
        validate(
            &element,
            &CodeLimits {
                max_functions: 100,
                ..tight
            }
        ),
        Err(CodeError::TooManyElementSegments { count: 1, limit: 0 })
    );
}

#[test]
fn every_error_has_a_distinct_stable_code() {
    let codes: Vec<&str> = CodeError::CODES.iter().map(|(code, _)| *code).collect();
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len());
    assert_eq!(CodeError::Floats.code(), "floats");
    assert_eq!(
        codes[0], "too_large",
        "append only: the first code never moves"
    );
    assert!(codes.contains(&CodeError::StartFunction.code()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random bytes, with or without a valid header, never panic validation.
    #[test]
    fn validate_never_panics_on_random_bytes(
        header in any::<bool>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut code = Vec::new();
        if header {
            code.extend_from_slice(&[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
        }
        code.extend_from_slice(&bytes);
        let _ = check(&code);
    }

    /// A valid contract with bytes overwritten anywhere either fails validation with an error
    /// or runs to an outcome or an error: never a panic.
    #[test]
    fn mutated_contracts_never_panic_validation_or_execution(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut code = wat_contract(
            "(data (i32.const 16) \"key\")",
            "(call $storage_set (i32.const 16) (i32.const 3) (i32.const 16) (i32.const 3)) \
             (call $output (i32.const 16) (i32.const 3)) i32.const 0",
            "(drop (call $storage_get (i32.const 16) (i32.const 3) (i32.const 32) (i32.const 8))) \
             i32.const 0",
        );
        for (at, byte) in edits {
            let i = at.index(code.len());
            code[i] = byte;
        }
        let executor = Executor::default();
        if let Ok(contract) = executor.compile(&code) {
            let mut host = phalanx_contract::testing::MemoryHost::default();
            for mode in [Mode::Command, Mode::Query] {
                let _ = executor.run(&contract, &env("p", mode, 0), b"in", 100_000, &mut host);
            }
        }
    }
}
