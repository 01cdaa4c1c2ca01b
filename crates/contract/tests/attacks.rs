//! The executor against hostile and careless modules: endless loops, unbounded memory, deep
//! recursion, traps, oversized outputs, keys, values and events, HTTP from a command, writes
//! from a query. Every one ends in its own error (or a discarded write), never a panic, and the
//! executor keeps working afterwards.

#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use phalanx_contract::abi::{self, HttpRequest, HttpResponse};
use phalanx_contract::random::RandomStream;
use phalanx_contract::testing::MemoryHost;
use phalanx_contract::{
    CodeLimits, Contract, Env, ExecError, ExecLimits, Executor, HttpError, Mode, Outcome,
};
use support::{account, env, wat_contract, FUEL};

fn run_with(
    executor: &Executor,
    code: &[u8],
    env: &Env,
    input: &[u8],
    fuel: u64,
    host: &mut MemoryHost,
) -> Result<Outcome, ExecError> {
    let contract = executor.compile(code).unwrap();
    executor.run(&contract, env, input, fuel, host)
}

fn command(code: &[u8]) -> Result<Outcome, ExecError> {
    run_with(
        &Executor::default(),
        code,
        &env("attacker", Mode::Command, 0),
        b"",
        FUEL,
        &mut MemoryHost::default(),
    )
}

fn query(code: &[u8], host: &mut MemoryHost) -> Result<Outcome, ExecError> {
    run_with(
        &Executor::default(),
        code,
        &env("attacker", Mode::Query, 0),
        b"",
        FUEL,
        host,
    )
}

/// A contract whose `call` runs `body` and whose `query` returns 0.
fn call_only(extra: &str, body: &str) -> Vec<u8> {
    wat_contract(extra, body, "i32.const 0")
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let code = call_only("", "(loop $l (br $l)) i32.const 0");
    assert_eq!(command(&code), Err(ExecError::OutOfFuel { limit: FUEL }));
    // Out of fuel inside a host call: a random draw priced beyond the fuel left.
    let code = call_only(
        "",
        "(call $random (i32.const 0) (i32.const 1000000)) i32.const 0",
    );
    let result = run_with(
        &Executor::default(),
        &code,
        &env("a", Mode::Command, 0),
        b"",
        10_000,
        &mut MemoryHost::default(),
    );
    assert_eq!(result, Err(ExecError::OutOfFuel { limit: 10_000 }));
}

#[test]
fn unbounded_memory_growth_hits_the_memory_limit() {
    let limits = CodeLimits::default();
    // Grows one page at a time until refused; a refusal that returned -1 instead of trapping
    // would end the loop and return 0, failing the assertion.
    let code = call_only(
        "",
        "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) i32.const 0",
    );
    assert_eq!(
        command(&code),
        Err(ExecError::GrowLimit {
            memory_bytes: limits.max_memory_pages as usize * 65536,
            table_elements: limits.max_table_elements,
        })
    );
    // Up to the limit is fine: from 1 page to 64, memory.grow returns the old size.
    let code = call_only("", "(i32.ne (memory.grow (i32.const 63)) (i32.const 1))");
    assert_eq!(command(&code).unwrap().status, 0);
}

#[test]
fn deep_recursion_hits_the_stack_limit() {
    let code = call_only("(func $down (result i32) (call $down))", "call $down");
    assert_eq!(
        command(&code),
        Err(ExecError::StackOverflow {
            depth: ExecLimits::default().max_recursion_depth
        })
    );
}

#[test]
fn a_trap_is_an_error_and_the_executor_keeps_working() {
    let executor = Executor::default();
    let mut host = MemoryHost::default();
    let env = env("a", Mode::Command, 0);
    let unreachable = call_only("", "unreachable");
    assert_eq!(
        run_with(&executor, &unreachable, &env, b"", FUEL, &mut host),
        Err(ExecError::Trap {
            reason: "wasm `unreachable` instruction executed"
        })
    );
    let divide = call_only("", "(i32.div_u (i32.const 1) (i32.const 0))");
    assert_eq!(
        run_with(&executor, &divide, &env, b"", FUEL, &mut host),
        Err(ExecError::Trap {
            reason: "integer divide by zero"
        })
    );
    // Writes made before a trap are gone with it.
    let write_then_trap = call_only(
        "",
        "(call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)) unreachable",
    );
    assert!(run_with(&executor, &write_then_trap, &env, b"", FUEL, &mut host).is_err());
    assert!(host.storage.is_empty());
    // The same executor then runs a good contract.
    let echo = call_only(
        "",
        "(call $input_read (i32.const 0)) (call $output (i32.const 0) (call $input_len)) i32.const 0",
    );
    let outcome = run_with(&executor, &echo, &env, b"still here", FUEL, &mut host).unwrap();
    assert_eq!(outcome.output, b"still here");
}

#[test]
fn oversized_outputs_keys_values_and_too_many_events_or_writes_are_refused() {
    let limits = ExecLimits::default();
    let output = call_only(
        "",
        "(call $output (i32.const 0) (i32.const 65537)) i32.const 0",
    );
    assert_eq!(
        command(&output),
        Err(ExecError::OutputTooLarge {
            size: 65537,
            limit: limits.max_output_bytes
        })
    );
    let key = call_only(
        "",
        "(call $storage_set (i32.const 0) (i32.const 257) (i32.const 0) (i32.const 1)) i32.const 0",
    );
    assert_eq!(
        command(&key),
        Err(ExecError::KeyTooLarge {
            size: 257,
            limit: limits.max_key_bytes
        })
    );
    let value = call_only(
        "",
        "(call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 16385)) i32.const 0",
    );
    assert_eq!(
        command(&value),
        Err(ExecError::ValueTooLarge {
            size: 16385,
            limit: limits.max_value_bytes
        })
    );
    let big_event = call_only(
        "",
        "(call $event (i32.const 0) (i32.const 1025)) i32.const 0",
    );
    assert_eq!(
        command(&big_event),
        Err(ExecError::EventTooLarge {
            size: 1025,
            limit: limits.max_event_bytes
        })
    );
    let events = call_only(
        "",
        "(local $i i32) (loop $l (call $event (i32.const 0) (i32.const 1)) \
         (local.set $i (i32.add (local.get $i) (i32.const 1))) \
         (br_if $l (i32.lt_u (local.get $i) (i32.const 17)))) i32.const 0",
    );
    assert_eq!(
        command(&events),
        Err(ExecError::TooManyEvents {
            limit: limits.max_events
        })
    );
    // 257 distinct 4-byte keys (the loop counter); rewriting one key would not count twice.
    let writes = call_only(
        "",
        "(local $i i32) (loop $l (i32.store (i32.const 0) (local.get $i)) \
         (call $storage_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 1)) \
         (local.set $i (i32.add (local.get $i) (i32.const 1))) \
         (br_if $l (i32.lt_u (local.get $i) (i32.const 257)))) i32.const 0",
    );
    assert_eq!(
        command(&writes),
        Err(ExecError::TooManyWrites {
            limit: limits.max_writes
        })
    );
    let same_key = call_only(
        "",
        "(local $i i32) (loop $l \
         (call $storage_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 1)) \
         (local.set $i (i32.add (local.get $i) (i32.const 1))) \
         (br_if $l (i32.lt_u (local.get $i) (i32.const 1000)))) i32.const 0",
    );
    assert_eq!(command(&same_key).unwrap().writes.len(), 1);
}

#[test]
fn pointers_outside_memory_and_oversized_input_are_refused() {
    let past_end = call_only(
        "",
        "(call $output (i32.const 65530) (i32.const 100)) i32.const 0",
    );
    assert_eq!(
        command(&past_end),
        Err(ExecError::OutOfBounds {
            ptr: 65530,
            len: 100
        })
    );
    let negative = call_only("", "(call $caller (i32.const -1)) i32.const 0");
    assert_eq!(
        command(&negative),
        Err(ExecError::OutOfBounds {
            ptr: u32::MAX,
            len: 32
        })
    );
    let echo = call_only("", "i32.const 0");
    let limit = ExecLimits::default().max_input_bytes;
    let result = run_with(
        &Executor::default(),
        &echo,
        &env("a", Mode::Command, 0),
        &vec![0; limit + 1],
        FUEL,
        &mut MemoryHost::default(),
    );
    assert_eq!(
        result,
        Err(ExecError::InputTooLarge {
            size: limit + 1,
            limit
        })
    );
}

/// A contract whose `call` and `query` both set `k` = `v`, read it back and output it.
fn write_then_read() -> Vec<u8> {
    let body = "(call $storage_set (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 1)) \
                (drop (call $storage_get (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 8))) \
                (call $output (i32.const 8) (i32.const 1)) i32.const 0";
    wat_contract(r#"(data (i32.const 0) "kv")"#, body, body)
}

#[test]
fn a_query_sees_its_own_writes_but_persists_nothing() {
    let mut host = MemoryHost::default();
    let outcome = query(&write_then_read(), &mut host).unwrap();
    assert_eq!(
        outcome.output, b"v",
        "the overlay serves the query's own reads"
    );
    assert!(outcome.writes.is_empty());
    assert!(host.storage.is_empty());

    let outcome = command(&write_then_read()).unwrap();
    assert_eq!(outcome.output, b"v");
    assert_eq!(
        outcome.writes.into_iter().collect::<Vec<_>>(),
        vec![(b"k".to_vec(), Some(b"v".to_vec()))]
    );
}

#[test]
fn a_refusal_keeps_its_output_and_fuel_but_drops_writes_and_events() {
    let code = call_only(
        r#"(data (i32.const 0) "no")"#,
        "(call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)) \
         (call $event (i32.const 0) (i32.const 2)) \
         (call $output (i32.const 0) (i32.const 2)) i32.const 7",
    );
    let outcome = command(&code).unwrap();
    assert_eq!(outcome.status, 7);
    assert_eq!(outcome.output, b"no");
    assert!(outcome.writes.is_empty() && outcome.events.is_empty());
    assert!(outcome.fuel_used > 0);
}

#[test]
fn committed_state_is_read_through_the_host_and_removes_are_writes() {
    let code = wat_contract(
        r#"(data (i32.const 0) "k")"#,
        "(call $storage_remove (i32.const 0) (i32.const 1)) \
         (call $output (i32.const 0) (i32.const 0)) \
         (i32.ne (call $storage_get (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 8)) \
                 (i32.const -1))",
        "(call $output (i32.const 8) \
            (call $storage_get (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 8))) \
         i32.const 0",
    );
    let mut host = MemoryHost::default();
    host.storage.insert(b"k".to_vec(), b"committed".to_vec());
    // A value longer than the buffer: its length comes back, nothing is copied.
    let outcome = query(&code, &mut host).unwrap();
    assert_eq!(outcome.output.len(), 9);
    assert_eq!(outcome.output, vec![0; 9]);
    let executor = Executor::default();
    let outcome = run_with(
        &executor,
        &code,
        &env("a", Mode::Command, 0),
        b"",
        FUEL,
        &mut host,
    )
    .unwrap();
    assert_eq!(
        outcome.status, 0,
        "after the remove, the key reads as absent"
    );
    host.apply(&outcome);
    assert!(host.storage.is_empty());

    host.fail_reads = Some("sealed value does not open".into());
    assert_eq!(
        query(&code, &mut host),
        Err(ExecError::Storage(phalanx_contract::StorageError {
            reason: "sealed value does not open".into()
        }))
    );
}

/// A query that sends the request stored at 1024 and outputs the response, or returns the
/// negated error code as its status.
fn http_contract(request: &[u8]) -> Vec<u8> {
    let escaped: String = request.iter().map(|b| format!("\\{b:02x}")).collect();
    let body = format!(
        "(local $n i32) \
         (local.set $n (call $http_request (i32.const 1024) (i32.const {len}))) \
         (if (i32.lt_s (local.get $n) (i32.const 0)) \
             (then (return (i32.sub (i32.const 0) (local.get $n))))) \
         (call $http_response_read (i32.const 4096)) \
         (call $output (i32.const 4096) (local.get $n)) i32.const 0",
        len = request.len()
    );
    wat_contract(
        &format!(r#"(data (i32.const 1024) "{escaped}")"#),
        &body,
        &body,
    )
}

fn price_request() -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        url: "https://oracle.example/price".into(),
        headers: vec![("accept".into(), "text/plain".into())],
        body: Vec::new(),
        timeout_ms: ExecLimits::default().http_timeout_ms,
        max_response_bytes: ExecLimits::default().max_http_response_bytes,
    }
}

#[test]
fn http_is_for_queries_only() {
    let code = http_contract(&price_request().encode().unwrap());
    let response = HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"7".to_vec(),
    };
    let answer = response.clone();
    let mut host = MemoryHost {
        http: Box::new(move |_| Ok(answer.clone())),
        ..MemoryHost::default()
    };
    let outcome = query(&code, &mut host).unwrap();
    assert_eq!(HttpResponse::decode(&outcome.output).unwrap(), response);
    // The host was asked exactly what the contract wrote, with the executor's timeout and cap.
    assert_eq!(host.http_requests, vec![price_request()]);

    host.http = Box::new(|_| Err(HttpError::Timeout));
    let outcome = query(&code, &mut host).unwrap();
    assert_eq!(outcome.status, -abi::HTTP_TIMEOUT);

    // In a command the host is never asked.
    let asked = host.http_requests.len();
    let result = run_with(
        &Executor::default(),
        &code,
        &env("a", Mode::Command, 0),
        b"",
        FUEL,
        &mut host,
    );
    assert_eq!(result, Err(ExecError::HttpInCommand));
    assert_eq!(host.http_requests.len(), asked);

    // A malformed request traps before reaching the host.
    let mut bad = price_request();
    bad.headers = vec![("x".into(), "a\r\nInjected: 1".into())];
    let code = http_contract(&bad.encode().unwrap());
    assert_eq!(
        query(&code, &mut host),
        Err(ExecError::MalformedHttpRequest(
            abi::HttpFormatError::BadHeader
        ))
    );
    assert_eq!(host.http_requests.len(), asked);
}

#[test]
fn env_and_randomness_reach_the_contract_deterministically() {
    // Output: caller (32) ‖ height (8) ‖ time (8) ‖ 16 random bytes.
    let code = call_only(
        "",
        "(call $caller (i32.const 0)) \
         (i64.store (i32.const 32) (call $block_height)) \
         (i64.store (i32.const 40) (call $block_time_ms)) \
         (call $random (i32.const 48) (i32.const 16)) \
         (call $output (i32.const 0) (i32.const 64)) i32.const 0",
    );
    let mut env = Env {
        caller: account("alice"),
        height: 1234,
        time_ms: 1_700_000_000_000,
        random_seed: [3; 32],
        mode: Mode::Command,
    };
    let run = |env: &Env| {
        run_with(
            &Executor::default(),
            &code,
            env,
            b"",
            FUEL,
            &mut MemoryHost::default(),
        )
        .unwrap()
    };
    let first = run(&env);
    let mut expected = account("alice").to_vec();
    expected.extend_from_slice(&1234u64.to_le_bytes());
    expected.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
    let mut random = [0u8; 16];
    RandomStream::new([3; 32]).fill(&mut random);
    expected.extend_from_slice(&random);
    assert_eq!(first.output, expected);
    assert_eq!(run(&env), first, "same env, same outcome, fuel included");
    env.random_seed = [4; 32];
    let other = run(&env);
    assert_ne!(other.output[48..], first.output[48..]);
    assert_eq!(other.fuel_used, first.fuel_used);
}

#[test]
fn host_calls_cost_fuel_per_byte() {
    let output_of = |len: u32| {
        let code = call_only(
            "",
            &format!("(call $output (i32.const 0) (i32.const {len})) i32.const 0"),
        );
        command(&code).unwrap().fuel_used
    };
    // The same instructions; only the copied bytes differ.
    assert_eq!(output_of(1000) - output_of(100), 900 * abi::FUEL_PER_BYTE);
}

#[test]
fn code_from_another_executor_is_refused_not_a_panic() {
    let code = call_only("", "i32.const 0");
    let other: Contract = Executor::default().compile(&code).unwrap();
    let result = Executor::default().run(
        &other,
        &env("a", Mode::Command, 0),
        b"",
        FUEL,
        &mut MemoryHost::default(),
    );
    assert_eq!(result, Err(ExecError::ForeignContract));
}

#[test]
fn every_exec_error_has_a_distinct_stable_code() {
    let codes: Vec<&str> = ExecError::CODES.iter().map(|(code, _)| *code).collect();
    let mut unique = codes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), codes.len());
    assert_eq!(
        codes[0], "out_of_fuel",
        "append only: the first code never moves"
    );
    assert_eq!(ExecError::HttpInCommand.code(), "http_in_command");
}
