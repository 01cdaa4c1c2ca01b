//! The client SDK's typed results against this node's real answers: every answer of
//! `phalanx_block`, `phalanx_transaction`, `phalanx_proposals`, `phalanx_proposal`,
//! `phalanx_workers`, `phalanx_rawBlock`, `phalanx_validatorSet` and `phalanx_treasury` that a
//! short governance history produces (a transfer, a failed call, proposals that are voting,
//! passed, rejected, enacted and enacted with an error), then of `phalanx_workers`,
//! `phalanx_gatekeepers`, `phalanx_keyEpochs`, `phalanx_clusters`, `phalanx_cluster`,
//! `phalanx_clusterKey` and `phalanx_masterKey` after a gatekeeper history (registered workers,
//! appointments, a removal, clusters, published keys), reads into the SDK's type and writes
//! back to exactly the same JSON. A field the node adds, drops or reshapes fails here.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

use parity_scale_codec::Encode;
#[path = "common/gatekeeper.rs"]
mod history;

use phalanx_client::{
    CallError, Client, ClusterDetail, ClusterKeyProof, ClustersPage, DescribedCode, ErrorCode,
    GatekeeperSet, KeyEpochsPage, MasterKeyProof, ProposalStatus, TransactionStatus, WorkersPage,
};
use phalanx_node::chain::{system_clock, Chain, ChainConfig};
use phalanx_primitives::call::{
    BalancesCall, Call, GovernanceCall, GovernanceParams, PrivilegedCall,
};
use phalanx_primitives::{Hash, Keypair, Transaction, PHA};
use phalanx_runtime::GenesisConfig;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

fn chain(dir: &std::path::Path) -> Chain {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let validator = hex::encode(Keypair::dev("validator").account().0);
    let genesis = GenesisConfig::dev(vec![validator], now - 10_000);
    Chain::open(
        ChainConfig {
            data_dir: dir.to_path_buf(),
            genesis,
        },
        system_clock(),
    )
    .expect("chain opens")
}

/// Signs `call` as dev account `who` with `nonce` and pools it; returns its hash.
fn submit(chain: &Chain, who: &str, nonce: u64, call: Call) -> Hash {
    let key = Keypair::dev(who);
    let tx = Transaction {
        signer: key.account(),
        nonce,
        fee: PHA / 10,
        expires_at: chain.height() + 100,
        call,
    }
    .sign(&key, &chain.genesis_hash());
    chain.submit(&tx.encode()).expect("admitted")
}

fn produce(chain: &Chain) {
    let head = chain.head();
    let block = chain
        .build(&head, head.header.timestamp_ms + 500)
        .expect("builds");
    chain.finalize(block, vec![]).expect("finalizes");
}

fn produce_to(chain: &Chain, height: u64) {
    while chain.height() < height {
        produce(chain);
    }
}

/// Calls `method` and returns the SDK's reading of the answer, after checking that it writes
/// back to the very JSON the node sent.
async fn typed<T: DeserializeOwned + Serialize>(
    client: &Client,
    method: &str,
    params: Vec<Value>,
) -> T {
    let raw: Value = client.call(method, params).await.expect(method);
    let typed: T = serde_json::from_value(raw.clone())
        .unwrap_or_else(|e| panic!("{method}: the SDK cannot read {raw}: {e}"));
    assert_eq!(
        serde_json::to_value(&typed).expect("serializes"),
        raw,
        "{method}: the SDK's type loses or adds something"
    );
    typed
}

fn status_of(proposals: &[phalanx_client::Proposal]) -> Vec<(u32, ProposalStatus)> {
    proposals.iter().map(|p| (p.id, p.status.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_reads_into_the_sdk_types_and_back_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let chain = chain(dir.path());
    let (addr, handle) =
        phalanx_node::rpc::serve(chain.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serves");
    let client = Client::new(&format!("http://{addr}")).expect("client");
    let dave = Keypair::dev("dave").account();

    // Block 1: a transfer, a transfer of nothing (fails), and three proposals.
    let paid = submit(
        &chain,
        "charlie",
        0,
        Call::Balances(BalancesCall::Transfer {
            to: dave,
            amount: PHA,
        }),
    );
    let failed = submit(
        &chain,
        "charlie",
        1,
        Call::Balances(BalancesCall::Transfer {
            to: dave,
            amount: 0,
        }),
    );
    let propose = |calls: Vec<PrivilegedCall>| {
        Call::Governance(GovernanceCall::Propose {
            calls,
            description: b"sdk types".to_vec(),
        })
    };
    let out_of_bounds = GovernanceParams {
        voting_period: 0,
        ..GovernanceParams::default()
    };
    submit(
        &chain,
        "alice",
        0,
        propose(vec![PrivilegedCall::SetGovernanceParams(out_of_bounds)]),
    );
    submit(
        &chain,
        "alice",
        1,
        propose(vec![PrivilegedCall::SetRegistrationFrozen(false)]),
    );
    submit(
        &chain,
        "alice",
        2,
        propose(vec![PrivilegedCall::SetRegistrationFrozen(true)]),
    );
    produce(&chain);
    // Block 2: votes — aye on #0 and #1, nay on #2.
    for (nonce, (proposal, aye)) in [(0, true), (1, true), (2, false)].into_iter().enumerate() {
        let vote = GovernanceCall::Vote {
            proposal,
            aye,
            amount: PHA,
        };
        submit(&chain, "bob", nonce as u64, Call::Governance(vote));
    }
    produce(&chain);

    // Receipts: one that succeeded, one whose call failed with a code and the node's words.
    let status: TransactionStatus = typed(&client, "phalanx_transaction", vec![json!(paid)]).await;
    let included = status.included().expect("finalized").clone();
    assert_eq!((included.height, included.error()), (1, None));
    assert_eq!(included.receipt.events[0].name, "fee_paid");
    let status: TransactionStatus =
        typed(&client, "phalanx_transaction", vec![json!(failed)]).await;
    let error = status.included().and_then(|i| i.receipt.error.clone());
    assert_eq!(
        error,
        Some(CallError::Code(DescribedCode {
            code: ErrorCode::new("balances", "zero_amount"),
            message: Some("the amount must be greater than zero".into()),
        }))
    );
    let unknown: TransactionStatus =
        typed(&client, "phalanx_transaction", vec![json!(Hash([9; 32]))]).await;
    assert_eq!(unknown, TransactionStatus::Unknown);
    assert_eq!(client.transaction(&failed).await.expect("typed"), status);

    // Blocks: genesis (no certificate, no transactions) and block 1 with its receipts.
    let genesis: phalanx_client::FinalizedBlock =
        typed(&client, "phalanx_block", vec![json!(0)]).await;
    assert!(genesis.certificate.is_empty() && genesis.transactions.is_empty());
    let block: phalanx_client::FinalizedBlock =
        typed(&client, "phalanx_block", vec![json!(1)]).await;
    assert_eq!(block.transactions.len(), 5);
    assert!(block.transactions.iter().all(|tx| tx.receipt.is_some()));
    assert_eq!(
        client.block(Some("1")).await.expect("typed").hash,
        block.hash
    );
    let raw: phalanx_client::RawBlock = typed(&client, "phalanx_rawBlock", vec![json!(1)]).await;
    assert_eq!(
        raw.block,
        chain
            .block(1)
            .expect("read")
            .expect("stored")
            .block
            .encode()
    );
    let set: phalanx_client::ValidatorSet =
        typed(&client, "phalanx_validatorSet", vec![json!(0)]).await;
    assert_eq!(set.validators, vec![Keypair::dev("validator").account().0]);
    let _: phalanx_client::Treasury = typed(&client, "phalanx_treasury", vec![]).await;
    let workers: WorkersPage = typed(&client, "phalanx_workers", vec![]).await;
    assert!(workers.workers.is_empty() && workers.next.is_none());

    // Proposals while voting, after the tally (dev chain: 20 blocks of voting), and after
    // enactment (5 blocks later), with the block events of both.
    let page: phalanx_client::ProposalsPage =
        typed(&client, "phalanx_proposals", vec![json!(null), json!(2)]).await;
    assert_eq!(
        (status_of(&page.proposals), page.next),
        (
            vec![(0, ProposalStatus::Voting), (1, ProposalStatus::Voting)],
            Some(2)
        )
    );
    let voting_ends = page.proposals[0].voting_ends_at;
    produce_to(&chain, voting_ends + 1);
    let tallied =
        typed::<phalanx_client::ProposalsPage>(&client, "phalanx_proposals", vec![]).await;
    let ProposalStatus::Passed { enact_at } = tallied.proposals[0].status else {
        panic!("proposal #0 should have passed: {:?}", tallied.proposals[0]);
    };
    assert_eq!(
        status_of(&tallied.proposals),
        vec![
            (0, ProposalStatus::Passed { enact_at }),
            (1, ProposalStatus::Passed { enact_at }),
            (2, ProposalStatus::Rejected),
        ]
    );
    let tally_block: phalanx_client::FinalizedBlock =
        typed(&client, "phalanx_block", vec![json!(voting_ends)]).await;
    assert!(!tally_block.block_events.unwrap_or_default().is_empty());
    produce_to(&chain, enact_at + 1);
    let enacted =
        typed::<phalanx_client::ProposalsPage>(&client, "phalanx_proposals", vec![]).await;
    assert_eq!(
        status_of(&enacted.proposals),
        vec![
            (
                0,
                ProposalStatus::Enacted {
                    error: Some(ErrorCode::new("params", "voting_period_out_of_bounds"))
                }
            ),
            (1, ProposalStatus::Enacted { error: None }),
            (2, ProposalStatus::Rejected),
        ]
    );
    let one: phalanx_client::ProposalAt = typed(&client, "phalanx_proposal", vec![json!(0)]).await;
    assert_eq!(one.proposal, enacted.proposals[0]);
    assert_eq!(
        client.all_proposals().await.expect("typed"),
        enacted.proposals
    );
    let enactment: phalanx_client::FinalizedBlock =
        typed(&client, "phalanx_block", vec![json!(enact_at)]).await;
    let names: Vec<String> = enactment
        .block_events
        .unwrap_or_default()
        .into_iter()
        .map(|event| event.name)
        .collect();
    assert!(
        names.iter().any(|name| name == "proposal_enacted"),
        "{names:?}"
    );

    // The gatekeeper module after a history (common/gatekeeper.rs): registered workers, a
    // serving and an unbonding gatekeeper, a published and a requested epoch, two clusters and
    // published keys with their proofs.
    let published = history::gatekeeper_history(&chain, produce);
    history::assert_all_succeeded(&chain, published.heights[0], published.heights[3]);
    let workers: WorkersPage = typed(&client, "phalanx_workers", vec![]).await;
    assert_eq!(workers.workers.len(), 3);
    assert_eq!(
        client
            .worker(&history::identity_of(history::GATEKEEPER))
            .await
            .expect("typed"),
        workers
            .workers
            .iter()
            .find(|w| w.identity == history::identity_of(history::GATEKEEPER))
            .cloned()
    );
    let set: GatekeeperSet = typed(&client, "phalanx_gatekeepers", vec![]).await;
    assert_eq!((set.gatekeepers.len(), set.unbonding.len()), (1, 1));
    assert_eq!(client.gatekeepers().await.expect("typed"), set);
    let epochs: KeyEpochsPage = typed(&client, "phalanx_keyEpochs", vec![]).await;
    assert_eq!((epochs.current, epochs.requested), (Some(0), Some(1)));
    assert_eq!(client.key_epochs(None, None).await.expect("typed"), epochs);
    let page: KeyEpochsPage =
        typed(&client, "phalanx_keyEpochs", vec![json!(null), json!(1)]).await;
    assert_eq!(page.next, Some(1));
    let clusters: ClustersPage = typed(&client, "phalanx_clusters", vec![]).await;
    assert_eq!(clusters.clusters.len(), 2);
    assert_eq!(client.clusters(None, None).await.expect("typed"), clusters);
    let detail: ClusterDetail = typed(
        &client,
        "phalanx_cluster",
        vec![json!(0), json!(null), json!(1)],
    )
    .await;
    assert_eq!((detail.members.len(), detail.keys.len()), (1, 1));
    assert!(detail.next.is_some());
    assert_eq!(
        client.cluster(0, None, Some(1)).await.expect("typed"),
        detail
    );
    let key: ClusterKeyProof = typed(&client, "phalanx_clusterKey", vec![json!(0)]).await;
    assert_eq!(key.verify(), Ok(()));
    assert_eq!(client.cluster_key(0, None).await.expect("typed"), key);
    let master: MasterKeyProof = typed(&client, "phalanx_masterKey", vec![]).await;
    assert_eq!(master.verify(), Ok(()));
    assert_eq!(client.master_key(None).await.expect("typed"), master);

    handle.stop().expect("stops");
}
