//! `phalanx tokenomics simulate --years N`: the chain's own settlement code run over simulated
//! time. A dev genesis with `--workers` computing workers (each in a pool of its own, the least
//! stake for score 1,000, paid out of the ecosystem allocation) is settled day after day with the production day length; each day's
//! `DayRecord` (budget, paid, treasury, kept in the pot) is written to `tokenomics.csv` with
//! the running emission and what is left in the pot, and `tokenomics.svg` plots the daily
//! budget, the cumulative emission and the pot. Nothing here is a model of the economics: the
//! numbers are what the runtime pays.

use crate::{CliError, Result};
use clap::{Args, Subcommand};
use phalanx_primitives::{Balance, Hash, Keypair, PHA};
use phalanx_runtime::mining::{self, synthetic};
use phalanx_runtime::{genesis, BlockContext, GenesisConfig};
use std::fmt::Write as _;
use std::path::PathBuf;

/// `phalanx tokenomics …`
#[derive(Debug, Subcommand)]
pub enum TokenomicsCommand {
    /// Run the settlement over simulated days; write a CSV table and an SVG plot.
    Simulate(SimulateArgs),
}

/// `phalanx tokenomics simulate …`
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Years of days to simulate (365 days each), 1 to 50.
    #[arg(long, default_value = "10")]
    pub years: u32,
    /// Computing workers, 1 to 10,000.
    #[arg(long, default_value = "100")]
    pub workers: u32,
    /// Directory for tokenomics.csv and tokenomics.svg (created if missing).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
}

/// One simulated day.
struct Row {
    day: u64,
    budget: Balance,
    paid: Balance,
    treasury: Balance,
    kept: Balance,
    emitted: Balance,
    pot: Balance,
}

/// Runs `phalanx tokenomics …`.
pub fn run(command: TokenomicsCommand) -> Result<()> {
    let TokenomicsCommand::Simulate(args) = command;
    if !(1..=50).contains(&args.years) || !(1..=10_000).contains(&args.workers) {
        return Err(CliError::with_reason(
            "invalid_arguments",
            "--years must be 1 to 50 and --workers 1 to 10,000",
        ));
    }
    let rows = simulate(args.years, args.workers)?;
    std::fs::create_dir_all(&args.out)?;
    let csv = args.out.join("tokenomics.csv");
    let svg = args.out.join("tokenomics.svg");
    std::fs::write(&csv, table(&rows))?;
    std::fs::write(&svg, plot(&rows))?;
    let last = rows
        .last()
        .ok_or_else(|| CliError::new("no day was simulated"))?;
    crate::output::line(&format!(
        "simulated {} days with {} computing workers: emitted {} PHA, {} PHA left in the pot; day 0 paid {} PHA, the last day {} PHA\n  table {}\n  plot  {}",
        rows.len(),
        args.workers,
        last.emitted / PHA,
        last.pot / PHA,
        rows[0].budget / PHA,
        last.budget / PHA,
        csv.display(),
        svg.display()
    ));
    Ok(())
}

fn simulate(years: u32, workers: u32) -> Result<Vec<Row>> {
    let fail = |e: mining::MiningError| CliError::new(format!("the settlement failed: {e}"));
    let validator = hex::encode(Keypair::dev("validator").account().0);
    let genesis_ms = 1_700_000_000_000;
    let mut config = GenesisConfig::dev(vec![validator], genesis_ms);
    // Production days and rules; the dev genesis only supplies the accounts and the policy.
    config.mining = phalanx_primitives::mining::MiningParams::default();
    let (block, mut state) = phalanx_runtime::genesis_block(&config)
        .map_err(|e| CliError::new(format!("genesis: {e}")))?;
    let funder = Keypair::dev("ecosystem").account();
    synthetic::add_computing_workers(&mut state, &funder, workers, 1_000, genesis_ms)
        .map_err(fail)?;
    let params = mining::params(&state).map_err(|e| CliError::new(e.to_string()))?;
    let pot_account = genesis::mining_pot();
    macro_rules! pot {
        () => {
            phalanx_runtime::balances::account(&state, &pot_account)
                .map(|a| a.free)
                .unwrap_or(0)
        };
    }
    let start_pot = pot!();
    let days = u64::from(years) * 365;
    let mut rows = Vec::with_capacity(days as usize);
    let bar = crate::progress::bar(days, "settling simulated days");
    for day in 0..days {
        bar.inc(1);
        let ctx = BlockContext {
            height: day + 1,
            timestamp_ms: genesis_ms + (day + 1) * params.day_ms,
            genesis_hash: block.hash(),
            parent_hash: Hash::of(&day.to_be_bytes()),
        };
        loop {
            synthetic::settle_step(&mut state, &ctx)
                .map_err(|code| CliError::new(format!("the settlement failed: {code}")))?;
            if synthetic::idle(&state).map_err(fail)? {
                break;
            }
        }
        let record = mining::day_record(&state, day)
            .map_err(|e| CliError::new(e.to_string()))?
            .ok_or_else(|| CliError::new(format!("day {day} was not settled")))?;
        let left = pot!();
        rows.push(Row {
            day,
            budget: record.budget,
            paid: record.paid,
            treasury: record.treasury,
            kept: record.kept_in_pot,
            emitted: start_pot - left,
            pot: left,
        });
    }
    bar.finish_and_clear();
    Ok(rows)
}

/// Units as PHA with 12 decimals.
fn pha(units: Balance) -> String {
    format!("{}.{:012}", units / PHA, units % PHA)
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "day,period,budget_pha,paid_to_workers_pha,treasury_pha,kept_in_pot_pha,emitted_total_pha,pot_pha\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            r.day,
            phalanx_runtime::schedule::period_of(r.day),
            pha(r.budget),
            pha(r.paid),
            pha(r.treasury),
            pha(r.kept),
            pha(r.emitted),
            pha(r.pot)
        );
    }
    out
}

/// Two stacked line charts: the daily budget; the cumulative emission and the pot.
fn plot(rows: &[Row]) -> String {
    const W: f64 = 900.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 90.0;
    const RIGHT: f64 = 20.0;
    let days = rows.len().max(2) as f64;
    let x = |day: u64| LEFT + (day as f64) / (days - 1.0) * (W - LEFT - RIGHT);
    let line = |values: &[(u64, f64)], top: f64, max: f64, colour: &str| -> String {
        let points: Vec<String> = values
            .iter()
            .map(|(day, v)| format!("{:.1},{:.1}", x(*day), top + H - v / max.max(1.0) * H))
            .collect();
        format!(
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
            points.join(" ")
        )
    };
    let m = |units: Balance| units as f64 / PHA as f64 / 1e6;
    let budget: Vec<(u64, f64)> = rows.iter().map(|r| (r.day, m(r.budget))).collect();
    let emitted: Vec<(u64, f64)> = rows.iter().map(|r| (r.day, m(r.emitted))).collect();
    let pot: Vec<(u64, f64)> = rows.iter().map(|r| (r.day, m(r.pot))).collect();
    let max_budget = budget.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let max_total = emitted
        .iter()
        .chain(pot.iter())
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    let (top1, top2) = (40.0, 40.0 + H + 80.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        top2 + H + 50.0
    );
    for (top, title, max) in [
        (top1, "Daily mining budget (million PHA)", max_budget),
        (
            top2,
            "Cumulative emission (blue) and mining pot (green), million PHA",
            max_total,
        ),
    ] {
        let _ = write!(
            svg,
            "<text x=\"{LEFT}\" y=\"{}\" font-size=\"14\">{title}</text>\n<line x1=\"{LEFT}\" y1=\"{top}\" x2=\"{LEFT}\" y2=\"{}\" stroke=\"black\"/>\n<line x1=\"{LEFT}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max:.3}</text>\n<text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\n<text x=\"{}\" y=\"{}\" text-anchor=\"end\">day {}</text>\n",
            top - 12.0,
            top + H,
            top + H,
            W - RIGHT,
            top + H,
            LEFT - 6.0,
            top + 10.0,
            LEFT - 6.0,
            top + H,
            W - RIGHT,
            top + H + 16.0,
            rows.len().saturating_sub(1)
        );
    }
    svg.push_str(&line(&budget, top1, max_budget, "#c0392b"));
    svg.push_str(&line(&emitted, top2, max_total, "#2c6fbb"));
    svg.push_str(&line(&pot, top2, max_total, "#2e8b57"));
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_year_pays_the_schedule_and_accounts_every_unit() {
        let rows = simulate(1, 3).expect("simulates");
        assert_eq!(rows.len(), 365);
        assert_eq!(rows[0].budget, 720_000 * PHA);
        assert_eq!(rows[180].budget, 540_000 * PHA);
        assert_eq!(rows[360].budget, 405_000 * PHA);
        let mut emitted = 0;
        for r in &rows {
            assert_eq!(r.paid + r.treasury + r.kept, r.budget, "day {}", r.day);
            emitted += r.paid + r.treasury;
            assert_eq!(r.emitted, emitted);
            assert_eq!(r.pot + r.emitted, 700_000_000 * PHA);
        }
        let csv = table(&rows);
        assert_eq!(csv.lines().count(), 366);
        assert!(csv
            .lines()
            .nth(1)
            .unwrap_or_default()
            .starts_with("0,0,720000.000000000000,"));
        let svg = plot(&rows);
        assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 3);
    }
}
