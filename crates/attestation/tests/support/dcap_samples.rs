//! Finds the sample quotes and collateral shipped inside the `dcap-qvl` crate package, so the
//! tests and the bench verify real Intel quotes without copying them into this repository.
//!
//! Lookup: `$PHALANX_DCAP_QVL_SAMPLES` if set; otherwise the exact `dcap-qvl` version resolved
//! in the workspace's `Cargo.lock`, under `$CARGO_HOME/registry/src/*/dcap-qvl-<version>/sample`
//! (`CARGO_HOME` defaulting to `~/.cargo`), which is where cargo unpacked the dependency to
//! build this crate.
#![allow(dead_code, clippy::panic, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Directory holding `sgx_quote`, `sgx_quote_collateral.json`, `tdx_quote`, ….
pub fn sample_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PHALANX_DCAP_QVL_SAMPLES") {
        return PathBuf::from(dir);
    }
    let version = dcap_qvl_version();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set");
    let registry = cargo_home.join("registry").join("src");
    let entries = std::fs::read_dir(&registry)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", registry.display()));
    for entry in entries.flatten() {
        let candidate = entry
            .path()
            .join(format!("dcap-qvl-{version}"))
            .join("sample");
        if candidate.join("sgx_quote").is_file() {
            return candidate;
        }
    }
    panic!(
        "dcap-qvl {version} samples not found under {}; set PHALANX_DCAP_QVL_SAMPLES to the \
         crate's sample/ directory",
        registry.display()
    )
}

/// The `dcap-qvl` version this workspace resolved, read from the nearest `Cargo.lock`.
fn dcap_qvl_version() -> String {
    let mut dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")));
    while let Some(d) = dir {
        if let Ok(lock) = std::fs::read_to_string(d.join("Cargo.lock")) {
            let mut lines = lock.lines();
            while let Some(line) = lines.next() {
                if line.trim() == "name = \"dcap-qvl\"" {
                    let version = lines.next().unwrap_or_default();
                    return version
                        .trim()
                        .strip_prefix("version = \"")
                        .and_then(|v| v.strip_suffix('"'))
                        .expect("Cargo.lock: version line after name")
                        .to_string();
                }
            }
        }
        dir = d.parent();
    }
    panic!(
        "no Cargo.lock resolving dcap-qvl above {}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Reads one sample file.
pub fn read(name: &str) -> Vec<u8> {
    let path = sample_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A sample quote, its collateral and a verification time inside the collateral's validity.
pub struct Sample {
    pub name: &'static str,
    pub raw_quote: Vec<u8>,
    pub collateral: phalanx_attestation::Collateral,
    pub now: u64,
}

/// `2025-07-01T00:00:00Z`: inside the SGX and TDX samples' TCB info, QE identity and CRL
/// validity (issued 2025-06-19, next update 2025-07-19).
pub const JULY_2025: u64 = 1_751_328_000;
/// `2026-03-01T00:00:00Z`: inside the outdated TDX sample's validity (2026-02-18 .. 2026-03-20).
pub const MARCH_2026: u64 = 1_772_323_200;
/// `2026-10-20T00:00:00Z`: inside the TD 1.5ex sample's validity (2026-10-08 .. 2026-11-06).
pub const OCTOBER_2026: u64 = 1_792_454_400;

pub fn sample(name: &'static str, quote_file: &str, collateral_file: &str, now: u64) -> Sample {
    let collateral = phalanx_attestation::Collateral::from_json(&read(collateral_file))
        .unwrap_or_else(|e| panic!("{collateral_file}: {e}"));
    Sample {
        name,
        raw_quote: read(quote_file),
        collateral,
        now,
    }
}

pub fn sgx() -> Sample {
    sample("sgx", "sgx_quote", "sgx_quote_collateral.json", JULY_2025)
}

pub fn tdx() -> Sample {
    sample("tdx", "tdx_quote", "tdx_quote_collateral.json", JULY_2025)
}

pub fn tdx_outdated() -> Sample {
    sample(
        "tdx_outdated",
        "tdx_quote_outdated",
        "tdx_quote_outdated_collateral.json",
        MARCH_2026,
    )
}

pub fn tdx_td15ex() -> Sample {
    sample(
        "tdx_td15ex",
        "tdx_quote_td15ex",
        "tdx_quote_td15ex_collateral.json",
        OCTOBER_2026,
    )
}
