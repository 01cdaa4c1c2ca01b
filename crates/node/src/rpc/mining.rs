//! The mining module's methods: the rules and the settlement (`phalanx_mining`), stake pools
//! (`phalanx_pools`, `phalanx_pool`) and why an account or a worker earned what it earned
//! (`phalanx_rewards`). All read the finalized head; lists are paged.
//!
//! Fixed-point numbers (V, shares, points) are given both raw (`*_raw`, scaled by 10^12, what
//! the chain stores) and as decimal strings, so a reader never has to trust a float.

use super::{hex0x, internal, invalid_params, limit_arg, not_found, parse_account, Answer, Args};
use crate::chain::Chain;
use jsonrpsee::server::RpcModule;
use phalanx_primitives::mining::{Miner, MinerState, StakePool};
use phalanx_primitives::{AccountId, Balance};
use phalanx_runtime::fixed::Fixed;
use phalanx_runtime::{balances, genesis, mining, schedule, work};
use phalanx_state::State;
use serde_json::{json, Value};

const POOL_ID: &str = "a pool number (a non-negative integer)";

/// A fixed-point raw value as a decimal string with up to 12 fraction digits.
pub fn decimal(raw: u128) -> String {
    let whole = raw / Fixed::SCALE;
    let fraction = raw % Fixed::SCALE;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:012}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A pool with its derived figures: value, free stake, share price.
fn pool_json(state: &State, pool: &StakePool) -> Result<Value, jsonrpsee::types::ErrorObjectOwned> {
    let value = mining::pool_value(state, pool).map_err(internal)?;
    let free = mining::free_stake(state, pool).map_err(internal)?;
    let price = if pool.shares == 0 {
        None
    } else {
        Fixed::from_ratio(value, pool.shares).map(|p| decimal(p.raw()))
    };
    Ok(json!({
        "pool": pool,
        "value": value,
        "free": free,
        "share_price": price,
        "bankrupt": pool.shares > 0 && value == 0,
    }))
}

/// A worker's mining record with what explains its earnings.
fn miner_json(state: &State, m: &Miner) -> Result<Value, jsonrpsee::types::ErrorObjectOwned> {
    let params = mining::params(state).map_err(internal)?;
    let work = mining::work_params(&params);
    // Points are counted lazily on chain; bring a copy up to the head's time.
    let now = phalanx_runtime::system::block(state).map_err(internal)?.1;
    let today = mining::accrued(state, m, now).unwrap_or_else(|_| m.clone());
    let value = Fixed::from_raw(m.value_raw);
    let conf = work::confidence(m.confidence);
    let share = match m.state {
        MinerState::Computing => work::share(value, m.performance, conf).map(|s| s.raw()),
        _ => Some(0),
    };
    let registered = phalanx_runtime::registry::worker(state, &m.identity).map_err(internal)?;
    // A worker that has not started yet has no score on its record: the registry's applies.
    let performance = match m.performance {
        0 => registered
            .as_ref()
            .map_or(0, |w| w.performance.min(params.max_p)),
        p => p,
    };
    let min_stake = work::min_stake(&work, performance.max(params.min_p)).map(|s| s.raw());
    let last_day = match m.last_payout {
        Some((day, points, reward)) => {
            let record = mining::day_record(state, day).map_err(internal)?;
            Some(json!({
                "day": day,
                "points": decimal(points),
                "day_points": record.as_ref().map(|r| decimal(r.points_raw)),
                "day_paid_to_workers": record.as_ref().map(|r| r.paid),
                "reward": reward,
            }))
        }
        None => None,
    };
    Ok(json!({
        "worker": m,
        "value": decimal(m.value_raw),
        "confidence": decimal(conf.raw()),
        "share": share.map(decimal),
        "min_stake": min_stake,
        "points_today": decimal(today.points_raw),
        "last_payout": last_day,
        "why": explain(m, &params),
        // How it attests ("simulated": no real TEE; trust nothing it computes).
        "attestation": registered.as_ref().map(|w| w.quote_kind),
    }))
}

/// A sentence on the worker's earning state.
fn explain(m: &Miner, params: &phalanx_primitives::mining::MiningParams) -> String {
    match m.state {
        MinerState::Ready => "ready: bound to its pool but not computing, so it earns nothing".into(),
        MinerState::Computing => format!(
            "computing: earns share × hours of work points each day (share = sqrt(V² + (2·P·conf)²), P = {}, V grows by rho per hour online)",
            m.performance
        ),
        MinerState::Unresponsive => format!(
            "unresponsive since {} ms: missed a heartbeat, earns nothing and V decays until its enclave answers; past {} ms of grace each settled day slashes {}‰ of its stake",
            m.state_since_ms, params.unresponsive_grace_ms, params.unresponsive_slash_per_mille
        ),
        MinerState::CoolingDown => format!(
            "cooling down until {} ms: earns nothing; then its stake can be reclaimed into the pool",
            m.cooldown_until_ms
        ),
    }
}

/// Registers `phalanx_mining`, `phalanx_pools`, `phalanx_pool`, `phalanx_rewards` and
/// `phalanx_bonds`.
pub(super) fn mining_methods(
    module: &mut RpcModule<Chain>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    // Validator bonds, paged by account.
    module.register_blocking_method("phalanx_bonds", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["start", "limit"])?;
        let start = args
            .optional::<String>(0, "an account (pha1… or 0x-hex)")?
            .map(|text| {
                hex::decode(text.strip_prefix("0x").unwrap_or(&text))
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .map(AccountId)
                    .map_or_else(|| parse_account(&text), Ok)
            })
            .transpose()?;
        let limit = limit_arg(&args, 1)?;
        let state = chain.head_state();
        let mut page = Vec::new();
        let mut next = None;
        for (who, bond) in phalanx_runtime::staking::bonds(&state).map_err(internal)? {
            if start.is_some_and(|s| who.0 < s.0) {
                continue;
            }
            if page.len() == limit {
                next = Some(who);
                break;
            }
            let total = bond.total();
            page.push(json!({
                "account": who,
                "bonded": bond.bonded,
                "unbonding": bond.unbonding,
                "slashed": bond.slashed,
                "total": total,
            }));
        }
        Ok(json!({
            "bonds": page,
            "next": next,
            "params": phalanx_runtime::staking::params(&state).map_err(internal)?,
            "height": chain.height(),
        }))
    })?;

    module.register_blocking_method("phalanx_mining", |params, chain, _| -> Answer {
        Args::parse(&params, &[])?;
        let state = chain.head_state();
        let settlement = mining::settlement(&state).map_err(internal)?;
        let pot = balances::account(&state, &genesis::mining_pot())
            .map_err(internal)?
            .free;
        let budget = schedule::budget_of_day(schedule::DAILY_BUDGET, settlement.open_day, pot);
        Ok(json!({
            "params": mining::params(&state).map_err(internal)?,
            "settlement": settlement,
            "open_day_budget": budget,
            "period": schedule::period_of(settlement.open_day),
            "mining_pot": pot,
            "recent_days": mining::recent_days(&state, 30).map_err(internal)?,
            "height": chain.height(),
        }))
    })?;

    module.register_blocking_method("phalanx_pools", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["start", "limit"])?;
        let start = args.optional::<u64>(0, POOL_ID)?.unwrap_or(0);
        let limit = limit_arg(&args, 1)?;
        let state = chain.head_state();
        let pools = mining::pools(&state).map_err(internal)?;
        let mut page = Vec::new();
        let mut next = None;
        for pool in pools.iter().filter(|p| p.id >= start) {
            if page.len() == limit {
                next = Some(pool.id);
                break;
            }
            page.push(pool_json(&state, pool)?);
        }
        Ok(json!({ "pools": page, "next": next, "height": chain.height() }))
    })?;

    module.register_blocking_method("phalanx_pool", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["id"])?;
        let id: u64 = args.required(0, POOL_ID)?;
        let state = chain.head_state();
        let pool = mining::pool(&state, id)
            .map_err(internal)?
            .ok_or_else(|| not_found(format!("no stake pool #{id}")))?;
        let holders: Vec<Value> = mining::shareholders(&state, id)
            .map_err(internal)?
            .into_iter()
            .take(super::MAX_PAGE)
            .map(|(who, shares)| {
                let value = mining::shares_value(&state, &pool, shares).unwrap_or(0);
                json!({ "account": who, "shares": shares, "value": value })
            })
            .collect();
        let workers: Vec<Value> = pool
            .workers
            .iter()
            .filter_map(|w| mining::miner(&state, w).ok().flatten())
            .map(|m| miner_json(&state, &m))
            .collect::<Result<_, _>>()?;
        Ok(json!({
            "info": pool_json(&state, &pool)?,
            "shareholders": holders,
            "queue": mining::queue(&state, id).map_err(internal)?,
            "workers": workers,
            "height": chain.height(),
        }))
    })?;

    // `who` is a worker identity or an account (both 32 bytes): a bound worker is explained as
    // a worker, and any account by its shares and the pools it owns.
    module.register_blocking_method("phalanx_rewards", |params, chain, _| -> Answer {
        let args = Args::parse(&params, &["who"])?;
        let text: String = args.required(0, "an account address or a worker identity (0x-hex)")?;
        let state = chain.head_state();
        let raw = hex::decode(text.strip_prefix("0x").unwrap_or(&text))
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        let account = match raw {
            Some(bytes) => AccountId(bytes),
            None => parse_account(&text).map_err(|_| {
                invalid_params("`who` must be an account address or a worker identity (0x-hex)")
            })?,
        };
        let worker = mining::miner(&state, &account.0)
            .map_err(internal)?
            .map(|m| miner_json(&state, &m))
            .transpose()?;
        let mut stakes = Vec::new();
        let mut owned = Vec::new();
        let mut total: Balance = 0;
        for pool in mining::pools(&state).map_err(internal)? {
            let shares = mining::shares_of(&state, pool.id, &account).map_err(internal)?;
            if shares > 0 {
                let value = mining::shares_value(&state, &pool, shares).map_err(internal)?;
                total = total.saturating_add(value);
                stakes.push(json!({ "pool": pool.id, "shares": shares, "value": value }));
            }
            if pool.owner == account {
                owned.push(json!({
                    "pool": pool.id,
                    "commission_per_mille": pool.commission_per_mille,
                    "commission_paid": pool.commission_paid,
                    "rewards_to_shareholders": pool.rewards,
                    "slashed": pool.slashed,
                }));
            }
        }
        let banned = mining::ban(&state, &account.0).map_err(internal)?;
        Ok(json!({
            "who": hex0x(&account.0),
            "worker": worker,
            "banned": banned,
            "stakes": stakes,
            "staked_value": total,
            "pools_owned": owned,
            "height": chain.height(),
        }))
    })?;
    Ok(())
}
