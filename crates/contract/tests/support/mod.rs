//! Shared by the contract tests: the example contracts built to wasm (once per test binary),
//! hand-written modules, and a runner over [`MemoryHost`].

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use phalanx_contract::testing::MemoryHost;
use phalanx_contract::{Contract, Env, ExecError, Executor, Mode, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Fuel for a run in these tests: plenty for the examples, small enough that an endless loop
/// ends in well under a second.
pub const FUEL: u64 = 10_000_000;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the `contracts/` workspace for wasm32-unknown-unknown, once per test binary, and
/// returns the directory holding the `.wasm` files.
pub fn wasm_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let target_dir = root.join("target/contracts");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .arg("--manifest-path")
            .arg(root.join("contracts/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            // Flags meant for the host build must not leak into the contracts' build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .expect("cargo runs");
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            if stderr.contains("wasm32-unknown-unknown")
                && (stderr.contains("target may not be installed")
                    || stderr.contains("can't find crate for `core`"))
            {
                panic!(
                    "the wasm32-unknown-unknown target is not installed; run \
                     `rustup target add wasm32-unknown-unknown` (.ci/run does)\n{stderr}"
                );
            }
            panic!("building contracts/ to wasm failed:\n{stderr}");
        }
        target_dir.join("wasm32-unknown-unknown/release")
    })
}

/// The bytes of example `name` (`vault`, `auction`, `voting`).
pub fn example(name: &str) -> Vec<u8> {
    let path = wasm_dir().join(format!("phalanx_example_{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A 32-byte account id that reads as its name in hex dumps.
pub fn account(name: &str) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..name.len()].copy_from_slice(name.as_bytes());
    id
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn env(caller: &str, mode: Mode, time_ms: u64) -> Env {
    Env {
        caller: account(caller),
        height: 42,
        time_ms,
        random_seed: [9; 32],
        mode,
    }
}

/// One contract, its committed state and a clock: sends commands (applying their writes like
/// the enclave does) and queries.
pub struct Chain {
    pub executor: Executor,
    pub contract: Contract,
    pub host: MemoryHost,
    pub time_ms: u64,
}

impl Chain {
    pub fn new(code: &[u8]) -> Chain {
        let executor = Executor::default();
        let contract = executor.compile(code).unwrap();
        Chain {
            executor,
            contract,
            host: MemoryHost::default(),
            time_ms: 1_000_000,
        }
    }

    pub fn run(&mut self, caller: &str, mode: Mode, input: &str) -> Result<Outcome, ExecError> {
        let env = env(caller, mode, self.time_ms);
        let before = self.host.storage.clone();
        let outcome =
            self.executor
                .run(&self.contract, &env, input.as_bytes(), FUEL, &mut self.host)?;
        // The executor never writes through the host.
        assert_eq!(self.host.storage, before);
        assert!(outcome.fuel_used > 0 && outcome.fuel_used <= FUEL);
        if mode == Mode::Query {
            assert!(outcome.writes.is_empty() && outcome.events.is_empty());
        }
        if outcome.is_success() {
            self.host.apply(&outcome);
        } else {
            assert!(outcome.writes.is_empty() && outcome.events.is_empty());
        }
        Ok(outcome)
    }

    /// A command that must succeed; returns its output as text.
    pub fn call(&mut self, caller: &str, input: &str) -> String {
        let outcome = self.run(caller, Mode::Command, input).unwrap();
        assert_eq!(outcome.status, 0, "{input:?} refused: {}", text(&outcome));
        text(&outcome)
    }

    /// A command that must be refused; returns the reason.
    pub fn call_refused(&mut self, caller: &str, input: &str) -> String {
        let outcome = self.run(caller, Mode::Command, input).unwrap();
        assert_eq!(outcome.status, 1, "{input:?} accepted: {}", text(&outcome));
        text(&outcome)
    }

    /// A query that must succeed.
    pub fn query(&mut self, caller: &str, input: &str) -> String {
        let outcome = self.run(caller, Mode::Query, input).unwrap();
        assert_eq!(outcome.status, 0, "{input:?} refused: {}", text(&outcome));
        text(&outcome)
    }

    /// A query that must be refused; returns the reason.
    pub fn query_refused(&mut self, caller: &str, input: &str) -> String {
        let outcome = self.run(caller, Mode::Query, input).unwrap();
        assert_eq!(outcome.status, 1, "{input:?} accepted: {}", text(&outcome));
        text(&outcome)
    }
}

pub fn text(outcome: &Outcome) -> String {
    String::from_utf8(outcome.output.clone()).unwrap()
}

/// Every host function of the ABI, imported under `$name`.
pub const IMPORTS: &str = r#"
    (import "phalanx" "input_len" (func $input_len (result i32)))
    (import "phalanx" "input_read" (func $input_read (param i32)))
    (import "phalanx" "output" (func $output (param i32 i32)))
    (import "phalanx" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
    (import "phalanx" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
    (import "phalanx" "storage_remove" (func $storage_remove (param i32 i32)))
    (import "phalanx" "caller" (func $caller (param i32)))
    (import "phalanx" "block_height" (func $block_height (result i64)))
    (import "phalanx" "block_time_ms" (func $block_time_ms (result i64)))
    (import "phalanx" "random" (func $random (param i32 i32)))
    (import "phalanx" "event" (func $event (param i32 i32)))
    (import "phalanx" "http_request" (func $http_request (param i32 i32) (result i32)))
    (import "phalanx" "http_response_read" (func $http_response_read (param i32)))
"#;

/// A module with every import, one page of memory, `extra` items, and the two entry points
/// with the given bodies (each must leave an i32 status).
pub fn wat_contract(extra: &str, call: &str, query: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
            {IMPORTS}
            (memory (export "memory") 1)
            {extra}
            (func (export "call") (result i32) {call})
            (func (export "query") (result i32) {query}))"#
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("bad test module: {e}\n{text}"))
}

pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|e| panic!("bad test module: {e}\n{text}"))
}
