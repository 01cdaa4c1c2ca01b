//! Genesis: the initial state, built from a [`GenesisConfig`] (a JSON file).
//!
//! The seed's token numbers are fixed here, not configurable: the whole maximum supply of
//! 1,000,000,000 PHA is minted once, split 15% private sale, 70% mining reward pot, 5% team,
//! 1% community and 9% ecosystem development. The config only says *which account* receives
//! each share. Dev accounts are funded out of the ecosystem share, never by extra minting.
//!
//! A production genesis (`production: true`) refuses a root account and dev accounts, so every
//! privileged call there goes through governance. It also refuses an attestation policy that
//! trusts a simulated quoting enclave or debug enclaves, so no simulated worker can join it.
//! A config without an `attestation_policy` gets the production policy (no simulated roots, no
//! allowed measurements yet: governance adds each worker release).
//!
//! Every parameter and the validator set are checked with the same bounds as a governance
//! change ([`crate::params`], [`system::check_validator_set`]), so no chain starts bricked.
//!
//! Dev chains trust the well-known SIMULATED quoting enclave [`dev_quoting_enclave`] and the
//! simulated worker build [`dev_worker_measurement`]: anyone can produce quotes they accept.

use crate::params::{self, ParamsError};
use crate::system::ValidatorSetError;
use crate::{balances, system};
use phalanx_attestation::{
    measure_worker_binary, AttestationPolicy, PolicyError, SimulatedQuotingEnclave,
};
use phalanx_primitives::call::{ChainParams, GovernanceParams};
use phalanx_primitives::gatekeeper::GatekeeperParams;
use phalanx_primitives::mining::MiningParams;
use phalanx_primitives::staking::StakingParams;
use phalanx_primitives::{AccountId, Balance, Keypair, MAX_SUPPLY, PHA};
use phalanx_state::State;
use serde::{Deserialize, Serialize};

/// Private sale: 15% of the maximum supply.
pub const PRIVATE_SALE: Balance = MAX_SUPPLY / 100 * 15;
/// Mining rewards: 70%, held in the mining reward pot (not circulating).
pub const MINING_REWARDS: Balance = MAX_SUPPLY / 100 * 70;
/// Team: 5%.
pub const TEAM: Balance = MAX_SUPPLY / 100 * 5;
/// Community: 1%.
pub const COMMUNITY: Balance = MAX_SUPPLY / 100;
/// Ecosystem development: 9%.
pub const ECOSYSTEM: Balance = MAX_SUPPLY / 100 * 9;

/// The account that holds the mining reward pot; only mining settlement pays out of it.
pub fn mining_pot() -> AccountId {
    AccountId::module("mining-reward-pot")
}

/// Why a genesis config was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenesisError {
    /// A production genesis named a root account.
    #[error("a production genesis cannot have a root account: remove `root`")]
    RootInProduction,
    /// A production genesis funds dev accounts.
    #[error("a production genesis cannot fund dev accounts: remove `dev_accounts`")]
    DevAccountsInProduction,
    /// Dev accounts ask for more than the ecosystem share holds.
    #[error("dev accounts need {needed} units but the ecosystem allocation is {ECOSYSTEM}")]
    DevFundingExceedsEcosystem {
        /// Units asked for.
        needed: Balance,
    },
    /// No validators.
    #[error("genesis needs at least one validator")]
    NoValidators,
    /// A validator key is not 32 bytes of hex.
    #[error("validator key `{0}` is not 64 hex characters")]
    BadValidatorKey(String),
    /// Vesting terms that can't be met.
    #[error("vesting of the {allocation} allocation: the cliff ({cliff_days} days) must not be after the end ({duration_days} days), which must be 1 to 3650 days")]
    BadVesting {
        /// Which allocation.
        allocation: &'static str,
        /// Its cliff.
        cliff_days: u32,
        /// Its duration.
        duration_days: u32,
    },
    /// A balance operation failed (cannot happen with the fixed numbers; reported anyway).
    #[error("genesis balances: {0}")]
    Balances(#[from] balances::BalancesError),
    /// A production genesis trusts a simulated quoting enclave.
    #[error("a production genesis cannot accept simulated attestation: empty `attestation_policy.accepted_simulated_roots`")]
    SimulatedRootsInProduction,
    /// A production genesis accepts debug enclaves.
    #[error("a production genesis cannot accept debug enclaves: set `attestation_policy.allow_debug` to false")]
    DebugEnclavesInProduction,
    /// The attestation policy is inconsistent.
    #[error("genesis attestation policy: {0}")]
    InvalidAttestationPolicy(PolicyError),
    /// A chain or governance parameter is outside its bounds.
    #[error("genesis parameters: {0}")]
    InvalidParams(#[from] ParamsError),
    /// The validator set is unfit: a key of small order, not canonical, not a point, listed
    /// twice, or too many keys.
    #[error("genesis validators: {0}")]
    InvalidValidatorSet(#[from] ValidatorSetError),
}

/// Seed of the well-known dev quoting enclave. **SIMULATED, dev-only**: it is public, so anyone
/// can sign quotes with it; only dev chains list its root.
pub const SIMULATED_DEV_QE_SEED: [u8; 32] = *b"phalanx/dev/simulated-qe/v1.....";

/// The "binary" whose measurement dev chains allow: the simulated worker build. **SIMULATED,
/// dev-only.**
pub const SIMULATED_DEV_WORKER_BINARY: &[u8] = b"phalanx-worker/simulated";

/// The well-known SIMULATED quoting enclave dev chains trust (dev-only; see
/// [`SIMULATED_DEV_QE_SEED`]).
pub fn dev_quoting_enclave() -> SimulatedQuotingEnclave {
    SimulatedQuotingEnclave::from_seed(SIMULATED_DEV_QE_SEED)
}

/// The measurement of the SIMULATED dev worker build (dev-only).
pub fn dev_worker_measurement() -> [u8; 32] {
    measure_worker_binary(SIMULATED_DEV_WORKER_BINARY)
}

/// The dev attestation policy: trusts [`dev_quoting_enclave`] and allows
/// [`dev_worker_measurement`], with the production rules otherwise.
pub fn dev_attestation_policy() -> AttestationPolicy {
    AttestationPolicy::dev(dev_quoting_enclave().root(), dev_worker_measurement())
}

/// Which account receives each genesis share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocations {
    /// Receives the private-sale 15%.
    pub private_sale: AccountId,
    /// Receives the team 5%.
    pub team: AccountId,
    /// Receives the community 1%.
    pub community: AccountId,
    /// Receives the ecosystem 9% (less what dev accounts receive).
    pub ecosystem: AccountId,
    /// How the team's allocation vests (none: all of it free at genesis).
    #[serde(default)]
    pub team_vesting: Option<VestingTerms>,
    /// How the private sale's allocation vests (none: all of it free at genesis).
    #[serde(default)]
    pub private_sale_vesting: Option<VestingTerms>,
}

/// How an allocation vests: nothing before the cliff, then linearly from genesis, so at the
/// cliff the share of the time since genesis is released at once and all of it at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VestingTerms {
    /// Days after genesis before anything can be claimed.
    pub cliff_days: u32,
    /// Days after genesis when all of it has vested (at least the cliff, at most ten years).
    pub duration_days: u32,
}

/// The longest vesting a genesis may set.
pub const MAX_VESTING_DAYS: u32 = 3_650;

/// A dev account funded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevAccount {
    /// Its well-known name (its key is [`Keypair::dev`] of the name).
    pub name: String,
    /// Whole PHA it receives.
    pub pha: u64,
}

/// Everything that decides a chain's first state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisConfig {
    /// A name for the chain (shown by `phalanx status`).
    pub chain_id: String,
    /// Production chains refuse dev shortcuts (root account, dev accounts, simulated trust).
    pub production: bool,
    /// Genesis time, ms since the Unix epoch: day and period boundaries count from here.
    pub timestamp_ms: u64,
    /// Who receives each share.
    pub allocations: Allocations,
    /// Dev accounts and their funding (from the ecosystem share).
    #[serde(default)]
    pub dev_accounts: Vec<DevAccount>,
    /// The dev root account, if any.
    #[serde(default)]
    pub root: Option<AccountId>,
    /// Consensus keys (ed25519, hex) of the validators.
    pub validators: Vec<String>,
    /// Fees and limits.
    #[serde(default)]
    pub chain_params: ChainParams,
    /// Governance periods and deposit.
    #[serde(default)]
    pub governance: GovernanceParams,
    /// How workers' attestations are judged; the production policy when absent.
    #[serde(default = "AttestationPolicy::production")]
    pub attestation_policy: AttestationPolicy,
    /// Gatekeeper stake and unbonding period.
    #[serde(default)]
    pub gatekeeper: GatekeeperParams,
    /// The mining rules (work formula, day length, heartbeats, slashing).
    #[serde(default)]
    pub mining: MiningParams,
    /// Validator bonds: unbonding period, equivocation slash and the least bond
    /// `SetValidators` accepts.
    #[serde(default)]
    pub staking: StakingParams,
}

impl GenesisConfig {
    /// A dev chain: the given validators, dev accounts alice … ferdie with 1,000,000 PHA each,
    /// alice as root, short governance periods, dev-derived allocation accounts, and the
    /// [`dev_attestation_policy`] (SIMULATED attestation accepted).
    pub fn dev(validators: Vec<String>, timestamp_ms: u64) -> GenesisConfig {
        GenesisConfig {
            chain_id: "phalanx-dev".to_string(),
            production: false,
            timestamp_ms,
            allocations: Allocations {
                private_sale: Keypair::dev("private-sale").account(),
                team: Keypair::dev("team").account(),
                community: Keypair::dev("community").account(),
                ecosystem: Keypair::dev("ecosystem").account(),
                // A dev chain shows vesting at work: the team's share vests over four years
                // after a one-year cliff, the private sale's over two after six months.
                team_vesting: Some(VestingTerms {
                    cliff_days: 365,
                    duration_days: 1_460,
                }),
                private_sale_vesting: Some(VestingTerms {
                    cliff_days: 180,
                    duration_days: 730,
                }),
            },
            dev_accounts: phalanx_primitives::account::DEV_ACCOUNTS
                .iter()
                .map(|name| DevAccount {
                    name: name.to_string(),
                    pha: 1_000_000,
                })
                .collect(),
            root: Some(Keypair::dev("alice").account()),
            validators,
            chain_params: ChainParams::default(),
            governance: GovernanceParams {
                voting_period: 20,
                enactment_delay: 5,
                proposal_deposit: 100 * PHA,
                min_turnout: 0,
            },
            attestation_policy: dev_attestation_policy(),
            // The least stake, and a minute of unbonding, so the whole lifecycle fits a demo.
            gatekeeper: GatekeeperParams {
                stake: crate::params::MIN_GATEKEEPER_STAKE,
                unbonding_ms: crate::params::MIN_GATEKEEPER_UNBONDING_MS,
            },
            // One-minute days and short grace periods: mining pays, slashes and cools down
            // within a demo.
            mining: MiningParams::dev(),
            // A minute of unbonding, so a bond's whole life fits a demo, and no least bond, so
            // a dev chain's validator set can change before anyone bonds.
            staking: StakingParams {
                unbonding_ms: 60_000,
                min_validator_bond: 0,
                ..StakingParams::default()
            },
        }
    }

    /// This config with `policy` as its attestation policy.
    pub fn with_attestation_policy(mut self, policy: AttestationPolicy) -> GenesisConfig {
        self.attestation_policy = policy;
        self
    }

    /// The validators' keys as bytes.
    pub fn validator_keys(&self) -> Result<Vec<[u8; 32]>, GenesisError> {
        self.validators
            .iter()
            .map(|text| {
                let trimmed = text.strip_prefix("0x").unwrap_or(text);
                hex::decode(trimmed)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| GenesisError::BadValidatorKey(text.clone()))
            })
            .collect()
    }

    /// Checks the config's rules without building a state.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.production && self.root.is_some() {
            return Err(GenesisError::RootInProduction);
        }
        if self.production && !self.dev_accounts.is_empty() {
            return Err(GenesisError::DevAccountsInProduction);
        }
        if self.production && !self.attestation_policy.accepted_simulated_roots.is_empty() {
            return Err(GenesisError::SimulatedRootsInProduction);
        }
        if self.production && self.attestation_policy.allow_debug {
            return Err(GenesisError::DebugEnclavesInProduction);
        }
        self.attestation_policy
            .validate()
            .map_err(GenesisError::InvalidAttestationPolicy)?;
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        system::check_validator_set(&self.validator_keys()?)?;
        params::check_chain(&self.chain_params)?;
        params::check_governance(&self.governance)?;
        params::check_gatekeeper(&self.gatekeeper)?;
        params::check_mining(&self.mining)?;
        params::check_staking(&self.staking)?;
        let needed: Balance = self
            .dev_accounts
            .iter()
            .map(|a| Balance::from(a.pha) * PHA)
            .sum();
        if needed > ECOSYSTEM {
            return Err(GenesisError::DevFundingExceedsEcosystem { needed });
        }
        Ok(())
    }
}

/// Builds the genesis state: validates `config`, then runs every module's genesis hook
/// ([`Module::genesis`](crate::module::Module::genesis)) in [`crate::MODULES`] order.
pub fn build_state(config: &GenesisConfig) -> Result<State, GenesisError> {
    config.validate()?;
    let mut state = State::new();
    for module in crate::MODULES {
        (module.genesis)(&mut state, config)?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_invariants;
    use crate::{registry, root};

    fn dev() -> GenesisConfig {
        GenesisConfig::dev(vec![crate::testing::validator_hex()], 1_700_000_000_000)
    }

    #[test]
    fn shares_are_exact_to_the_unit_and_sum_to_max_supply() {
        assert_eq!(PRIVATE_SALE, 150_000_000 * PHA);
        assert_eq!(MINING_REWARDS, 700_000_000 * PHA);
        assert_eq!(TEAM, 50_000_000 * PHA);
        assert_eq!(COMMUNITY, 10_000_000 * PHA);
        assert_eq!(ECOSYSTEM, 90_000_000 * PHA);
        assert_eq!(
            PRIVATE_SALE + MINING_REWARDS + TEAM + COMMUNITY + ECOSYSTEM,
            MAX_SUPPLY
        );
        assert_eq!(MAX_SUPPLY, 1_000_000_000_000_000_000_000);
    }

    #[test]
    fn dev_genesis_allocates_each_share_to_its_account() {
        let config = dev();
        let state = build_state(&config).expect("dev genesis");
        let free = |who: &AccountId| balances::account(&state, who).expect("balance").free;
        let vesting = |who: &AccountId| {
            (
                balances::unclaimed_vesting(&state, who).expect("vesting"),
                balances::spendable(&state, who).expect("spendable"),
            )
        };
        let a = &config.allocations;
        // The team's and the private sale's shares vest (the dev config says so): all frozen.
        assert_eq!(free(&a.private_sale), 150_000_000 * PHA);
        assert_eq!(vesting(&a.private_sale), (150_000_000 * PHA, 0));
        assert_eq!(free(&mining_pot()), 700_000_000 * PHA);
        assert_eq!(free(&a.team), 50_000_000 * PHA);
        assert_eq!(vesting(&a.team), (50_000_000 * PHA, 0));
        assert_eq!(free(&a.community), 10_000_000 * PHA);
        assert_eq!(free(&a.ecosystem), (90_000_000 - 6 * 1_000_000) * PHA);
        for name in phalanx_primitives::account::DEV_ACCOUNTS {
            assert_eq!(free(&Keypair::dev(name).account()), 1_000_000 * PHA);
        }
        assert_eq!(
            balances::total_issuance(&state).expect("issuance"),
            MAX_SUPPLY
        );
        check_invariants(&state);
        // Chain time counts from the genesis timestamp, kept in state.
        let genesis = config.timestamp_ms;
        assert_eq!(crate::system::genesis_time_ms(&state), Ok(genesis));
        let day = crate::schedule::DAY_MS;
        assert_eq!(crate::system::chain_day(&state, genesis, day), Ok(0));
        assert_eq!(
            crate::system::chain_day(&state, genesis + 181 * day + 5, day),
            Ok(181)
        );
    }

    #[test]
    fn production_refuses_dev_shortcuts() {
        let mut config = dev();
        config.production = true;
        assert_eq!(
            build_state(&config).err(),
            Some(GenesisError::RootInProduction)
        );
        config.root = None;
        assert_eq!(
            build_state(&config).err(),
            Some(GenesisError::DevAccountsInProduction)
        );
        config.dev_accounts.clear();
        assert_eq!(
            build_state(&config).err(),
            Some(GenesisError::SimulatedRootsInProduction)
        );
        let production_policy = AttestationPolicy::production().with_measurement([9; 32]);
        config.attestation_policy = AttestationPolicy {
            allow_debug: true,
            ..production_policy.clone()
        };
        assert_eq!(
            build_state(&config).err(),
            Some(GenesisError::DebugEnclavesInProduction)
        );
        config = config.with_attestation_policy(production_policy.clone());
        let state = build_state(&config).expect("clean production genesis");
        assert_eq!(root::account(&state).expect("root"), None);
        assert_eq!(registry::policy(&state).expect("policy"), production_policy);
    }

    #[test]
    fn dev_genesis_trusts_the_simulated_dev_enclave_and_worker() {
        let state = build_state(&dev()).expect("dev genesis");
        let policy = registry::policy(&state).expect("policy");
        assert_eq!(
            policy.accepted_simulated_roots,
            vec![dev_quoting_enclave().root()]
        );
        assert_eq!(policy.allowed_measurements, vec![dev_worker_measurement()]);
        assert_eq!(
            dev_worker_measurement(),
            measure_worker_binary(b"phalanx-worker/simulated")
        );
        assert!(!policy.allow_debug && !policy.registration_frozen);
        // Pinned: workers and tools derive these independently, so a change is a visible diff.
        assert_eq!(
            hex::encode(dev_quoting_enclave().root()),
            "41346fcea1a79ee76c02aa5b2b1299ebed5c551ddd2a5b2b2d2cfb74583bcd20"
        );
        assert_eq!(
            hex::encode(dev_worker_measurement()),
            "5248d9a6d77da98f6664355140b22c16c8911b543a88abb2616258f87447a59e"
        );
    }

    #[test]
    fn a_config_without_a_policy_gets_the_production_policy() {
        let mut json = serde_json::to_value(dev()).expect("serializes");
        json.as_object_mut()
            .expect("an object")
            .remove("attestation_policy");
        let config: GenesisConfig = serde_json::from_value(json).expect("parses");
        assert_eq!(config.attestation_policy, AttestationPolicy::production());
        let state = build_state(&config).expect("genesis");
        assert_eq!(
            registry::policy(&state).expect("policy"),
            AttestationPolicy::production()
        );
    }

    #[test]
    fn an_inconsistent_policy_is_refused() {
        let mut policy = dev_attestation_policy();
        policy.tcb_confidence.up_to_date = 1_001;
        let config = dev().with_attestation_policy(policy);
        assert!(matches!(
            build_state(&config),
            Err(GenesisError::InvalidAttestationPolicy(_))
        ));
    }

    #[test]
    fn dev_funding_cannot_exceed_the_ecosystem_share() {
        let mut config = dev();
        config.dev_accounts = vec![DevAccount {
            name: "alice".into(),
            pha: 90_000_001,
        }];
        assert!(matches!(
            build_state(&config),
            Err(GenesisError::DevFundingExceedsEcosystem { .. })
        ));
        config.validators = vec!["zz".into()];
        assert!(matches!(
            config.validate(),
            Err(GenesisError::BadValidatorKey(_))
        ));
    }

    #[test]
    fn genesis_refuses_vesting_that_cant_be_met_and_vests_nothing_without_terms() {
        for (cliff_days, duration_days) in [(10, 0), (400, 365), (0, MAX_VESTING_DAYS + 1)] {
            let mut config = dev();
            config.allocations.team_vesting = Some(VestingTerms {
                cliff_days,
                duration_days,
            });
            assert_eq!(
                build_state(&config).err(),
                Some(GenesisError::BadVesting {
                    allocation: "team",
                    cliff_days,
                    duration_days
                })
            );
        }
        let mut config = dev();
        config.allocations.team_vesting = None;
        let state = build_state(&config).expect("no vesting");
        let team = balances::account(&state, &config.allocations.team).expect("team");
        assert_eq!((team.free, team.reserved), (50_000_000 * PHA, 0));
        assert_eq!(
            balances::vesting(&state, &config.allocations.team),
            Ok(None)
        );
    }

    #[test]
    fn genesis_refuses_parameters_a_vote_could_not_set() {
        let mut config = dev();
        config.chain_params.max_block_txs = 0;
        assert!(matches!(
            build_state(&config),
            Err(GenesisError::InvalidParams(ParamsError::OutOfBounds {
                param: params::Param::MaxBlockTxs,
                value: 0,
                ..
            }))
        ));
        let mut config = dev();
        config.governance.voting_period = 0;
        assert!(matches!(
            build_state(&config),
            Err(GenesisError::InvalidParams(ParamsError::OutOfBounds {
                param: params::Param::VotingPeriod,
                ..
            }))
        ));
        let mut config = dev();
        config.governance.voting_period = params::MIN_VOTING_PERIOD;
        config.chain_params.max_block_txs = params::MIN_BLOCK_TXS;
        assert!(build_state(&config).is_ok(), "the boundary values are fine");
    }

    #[test]
    fn genesis_refuses_small_order_invalid_and_repeated_validator_keys() {
        let good = crate::testing::validator_hex();
        let identity = "01".to_string() + &"00".repeat(31);
        let order_8 = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a";
        let not_a_point = hex::encode([2u8; 32]);
        for (validators, expected) in [
            (
                vec![good.clone(), identity],
                ValidatorSetError::WeakKey { index: 1 },
            ),
            (
                vec![order_8.to_string()],
                ValidatorSetError::WeakKey { index: 0 },
            ),
            (
                vec![good.clone(), not_a_point],
                ValidatorSetError::InvalidKey { index: 1 },
            ),
            (
                vec![good.clone(), good.clone()],
                ValidatorSetError::Duplicate { index: 1 },
            ),
        ] {
            let mut config = dev();
            config.validators = validators;
            assert_eq!(
                build_state(&config).err(),
                Some(GenesisError::InvalidValidatorSet(expected))
            );
        }
        let mut config = dev();
        config.validators = (0..=params::MAX_VALIDATORS)
            .map(|i| hex::encode(Keypair::dev(&format!("validator/{i}")).account().0))
            .collect();
        assert_eq!(
            build_state(&config).err(),
            Some(GenesisError::InvalidValidatorSet(
                ValidatorSetError::TooMany {
                    count: params::MAX_VALIDATORS + 1,
                    max: params::MAX_VALIDATORS
                }
            ))
        );
        config.validators.pop();
        assert!(build_state(&config).is_ok());
    }

    #[test]
    fn genesis_config_round_trips_through_json() {
        let config = dev();
        let json = serde_json::to_string_pretty(&config).expect("serializes");
        let back: GenesisConfig = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, config);
        let (block_a, _) = crate::genesis_block(&config).expect("genesis");
        let (block_b, _) = crate::genesis_block(&back).expect("genesis");
        assert_eq!(block_a.hash(), block_b.hash(), "genesis is deterministic");
    }
}
