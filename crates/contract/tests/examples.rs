//! The three example contracts (`contracts/examples`), built to wasm by the test itself and run
//! through the executor: their text protocols, per-caller privacy, the auction's and the vote's
//! rules, and determinism of a command across fresh executors.

#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use phalanx_contract::testing::MemoryHost;
use phalanx_contract::{validate, CodeLimits, Executor, Mode};
use support::{account, env, example, hex, Chain, FUEL};

#[test]
fn examples_pass_validation_and_stay_small() {
    for name in ["vault", "auction", "voting"] {
        let code = example(name);
        assert_eq!(validate(&code, &CodeLimits::default()), Ok(()), "{name}");
        // opt-level "z" + LTO, no fmt: a few KiB, far under the 256 KiB limit.
        assert!(code.len() < 32 * 1024, "{name} is {} bytes", code.len());
    }
}

#[test]
fn vault_keeps_each_callers_keys_to_itself() {
    let mut vault = Chain::new(&example("vault"));

    assert_eq!(vault.call("alice", "put diary dear diary, today"), "ok");
    assert_eq!(vault.query("alice", "get diary"), "dear diary, today");
    // Bob sees nothing of Alice's, and his key of the same name is his own.
    assert_eq!(vault.query_refused("bob", "get diary"), "no such key");
    assert_eq!(vault.query("bob", "list"), "");
    assert_eq!(vault.call("bob", "put diary bob's"), "ok");
    assert_eq!(vault.query("bob", "get diary"), "bob's");
    assert_eq!(vault.query("alice", "get diary"), "dear diary, today");

    // Overwrite, list in first-stored order, delete.
    assert_eq!(vault.call("alice", "put pin 1234"), "ok");
    assert_eq!(vault.call("alice", "put diary second entry"), "ok");
    assert_eq!(vault.query("alice", "list"), "diary\npin");
    assert_eq!(vault.query("alice", "get diary"), "second entry");
    assert_eq!(vault.call("alice", "delete diary"), "ok");
    assert_eq!(vault.query_refused("alice", "get diary"), "no such key");
    assert_eq!(vault.query("alice", "list"), "pin");
    assert_eq!(vault.call_refused("alice", "delete diary"), "no such key");
    assert_eq!(vault.query("bob", "get diary"), "bob's");

    // Every stored key is in its owner's namespace: `v` or `i` followed by the caller.
    for key in vault.host.storage.keys() {
        let owner = &key[1..33];
        assert!(
            owner == account("alice") || owner == account("bob"),
            "{key:?}"
        );
    }
    assert_eq!(
        vault.host.storage.len(),
        4,
        "alice: pin + index, bob: diary + index"
    );

    // Bad input is refused with the protocol, and nothing is written.
    assert!(vault
        .call_refused("alice", "remember this")
        .starts_with("unknown command"));
    assert_eq!(
        vault.call_refused("alice", "put onlykey"),
        "a value is 1 to 4096 bytes"
    );
    assert_eq!(
        vault.call_refused("alice", &format!("put {} v", "k".repeat(65))),
        "a key is 1 to 64 bytes without spaces"
    );
    assert!(vault
        .query_refused("alice", "dump")
        .starts_with("unknown query"));
}

#[test]
fn auction_hides_bids_until_it_closes() {
    let mut auction = Chain::new(&example("auction"));
    assert!(auction
        .query_refused("bob", "status")
        .starts_with("no auction"));
    assert_eq!(auction.call_refused("bob", "bid 5"), auction_missing());

    let opened_at = auction.time_ms;
    assert_eq!(auction.call("owner", "open 60 a painting"), "ok");
    let deadline = opened_at + 60_000;
    assert_eq!(
        auction.call_refused("mallory", "open 1 my auction"),
        "the auction was already opened"
    );

    assert_eq!(auction.call("bob", "bid 100"), "ok");
    assert_eq!(auction.call("carol", "bid 250"), "ok");
    // Equal to the best: the earlier bid (carol's) stays ahead.
    assert_eq!(auction.call("dave", "bid 250"), "ok");
    assert_eq!(
        auction.call_refused("bob", "bid 900"),
        "you already bid; bids are final"
    );
    assert_eq!(
        auction.call_refused("owner", "bid 1"),
        "the owner cannot bid"
    );
    assert_eq!(
        auction.call_refused("erin", "bid 0"),
        "usage: bid <amount>, a positive integer"
    );

    // While open: your own bid only, never the winner.
    assert_eq!(auction.query("bob", "my-bid"), "100");
    assert_eq!(auction.query_refused("erin", "my-bid"), "you have not bid");
    assert_eq!(
        auction.query_refused("bob", "winner"),
        "the auction is still open"
    );
    assert_eq!(
        auction.query("anyone", "status"),
        format!("open a painting; closes at {deadline}; 3 bids")
    );

    assert_eq!(
        auction.call_refused("carol", "close"),
        "only the owner can close the auction before its deadline"
    );
    let closing = auction.run("owner", Mode::Command, "close").unwrap();
    assert_eq!(closing.output, b"closed");
    assert_eq!(closing.events, vec![b"auction closed".to_vec()]);

    assert_eq!(
        auction.query("anyone", "winner"),
        format!("winner {} 250", hex(&account("carol")))
    );
    assert_eq!(
        auction.query("anyone", "status"),
        "closed a painting; 3 bids"
    );
    assert_eq!(
        auction.call_refused("erin", "bid 1000"),
        "the auction is closed"
    );
    assert_eq!(
        auction.call_refused("owner", "close"),
        "the auction is already closed"
    );
}

fn auction_missing() -> String {
    "no auction; open one with: open <seconds> <item>".into()
}

#[test]
fn auction_closes_by_itself_at_its_deadline() {
    let mut auction = Chain::new(&example("auction"));
    assert_eq!(auction.call("owner", "open 10 a vase"), "ok");
    assert_eq!(auction.call("bob", "bid 7"), "ok");
    auction.time_ms += 9_999;
    assert_eq!(
        auction.query_refused("bob", "winner"),
        "the auction is still open"
    );
    auction.time_ms += 1;
    // At the deadline: no more bids, the winner is public, anyone may close.
    assert_eq!(
        auction.call_refused("carol", "bid 8"),
        "the auction is closed"
    );
    assert_eq!(
        auction.query("carol", "winner"),
        format!("winner {} 7", hex(&account("bob")))
    );
    assert_eq!(auction.call("carol", "close"), "closed");

    let mut empty = Chain::new(&example("auction"));
    assert_eq!(empty.call("owner", "open 1 nothing"), "ok");
    empty.time_ms += 1_000;
    assert_eq!(empty.query("anyone", "winner"), "no bids");
}

#[test]
fn voting_counts_one_vote_each_and_shows_the_tally_only_after_close() {
    let mut vote = Chain::new(&example("voting"));
    assert_eq!(
        vote.call_refused("owner", "open 60 onlyone"),
        "a vote has 2 to 16 options"
    );
    assert_eq!(
        vote.call_refused("owner", "open 60 red red"),
        "options must be distinct"
    );
    let deadline = vote.time_ms + 60_000;
    assert_eq!(vote.call("owner", "open 60 red green blue"), "ok");

    assert_eq!(vote.call("alice", "vote red"), "ok");
    assert_eq!(vote.call("bob", "vote blue"), "ok");
    assert_eq!(vote.call("carol", "vote red"), "ok");
    assert_eq!(vote.call_refused("alice", "vote blue"), "you already voted");
    assert_eq!(vote.call_refused("dave", "vote purple"), "no such option");

    assert_eq!(vote.query("alice", "voted"), "yes");
    assert_eq!(vote.query("dave", "voted"), "no");
    assert_eq!(
        vote.query_refused("alice", "tally"),
        "the vote is still open"
    );
    assert_eq!(
        vote.query("anyone", "status"),
        format!("open until {deadline}; options red green blue; 3 votes")
    );

    // The ballots are nowhere in state: a voter's record says only that they voted.
    for (key, value) in &vote.host.storage {
        if key.first() == Some(&b'v') && key.len() == 33 {
            assert_eq!(value, b"1");
        }
    }

    assert_eq!(
        vote.call_refused("alice", "close"),
        "only the owner can close the vote before its deadline"
    );
    let closing = vote.run("owner", Mode::Command, "close").unwrap();
    assert_eq!(closing.output, b"closed");
    assert_eq!(closing.events, vec![b"vote closed".to_vec()]);
    assert_eq!(vote.query("anyone", "tally"), "red 2\ngreen 0\nblue 1");
    assert_eq!(
        vote.call_refused("dave", "vote green"),
        "the vote is closed"
    );
    assert_eq!(
        vote.query("anyone", "status"),
        "closed; options red green blue; 3 votes"
    );
}

/// The same command on two fresh executors, with fresh copies of the same state, gives the
/// same outcome: output, fuel, events and writes. That is what lets every member of a cluster
/// reach the same state.
#[test]
fn a_command_is_deterministic_across_executors() {
    let code = example("auction");
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let executor = Executor::default();
        let contract = executor.compile(&code).unwrap();
        let mut host = MemoryHost::default();
        let mut outcome_of = |caller: &str, input: &str| {
            let outcome = executor
                .run(
                    &contract,
                    &env(caller, Mode::Command, 5_000),
                    input.as_bytes(),
                    FUEL,
                    &mut host,
                )
                .unwrap();
            host.apply(&outcome);
            outcome
        };
        outcome_of("owner", "open 60 lamp");
        outcome_of("bob", "bid 10");
        outcomes.push(outcome_of("carol", "bid 20"));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    let outcome = &outcomes[0];
    assert_eq!(outcome.output, b"ok");
    // carol's bid, the count and the new best.
    let keys: Vec<&[u8]> = outcome.writes.keys().map(Vec::as_slice).collect();
    let mut carol_bid = b"b".to_vec();
    carol_bid.extend_from_slice(&account("carol"));
    assert_eq!(keys, vec![&carol_bid[..], b"best", b"bids"]);
    assert!(outcome.fuel_used > 0);
}

/// `contracts/prebuilt/<name>.wasm` are committed so a newcomer can deploy an example with
/// nothing but the `phalanx` binary (README); they must be exactly what the sources build.
#[test]
fn the_prebuilt_examples_are_what_the_sources_build() {
    for name in ["vault", "auction", "voting"] {
        let path = support::repo_root().join(format!("contracts/prebuilt/{name}.wasm"));
        let committed =
            std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert!(
            committed == example(name),
            "{} differs from what contracts/examples/{name} builds now: refresh it with \
             `cargo build --release --locked --target wasm32-unknown-unknown --manifest-path \
             contracts/Cargo.toml --target-dir target/contracts && cp target/contracts/\
             wasm32-unknown-unknown/release/phalanx_example_{name}.wasm \
             contracts/prebuilt/{name}.wasm`",
            path.display()
        );
    }
}
