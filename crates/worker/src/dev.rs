//! The dev network's workers: `phalanx dev` starts [`spawn_dev_workers`] beside its validator.
//!
//! Worker `i` keeps its data in `<base_dir>/worker<i>`, serves its query endpoint on
//! `127.0.0.1:<first_port + i>` and is operated (and paid for) by the dev account
//! `DEV_OPERATORS[i % 4]` — charlie, dave, eve, ferdie. Each registers with SIMULATED
//! attestation, which the dev chain's policy accepts and a production chain never would; the
//! same data folder resumes the same worker identity.

use std::net::SocketAddr;
use std::path::Path;

use crate::config::WorkerConfig;
use crate::host::HostOptions;
use crate::{Result, WorkerHandle};

/// The dev accounts that operate dev workers, in order.
pub const DEV_OPERATORS: [&str; 4] = ["charlie", "dave", "eve", "ferdie"];

/// The first dev worker's query port; worker `i` uses this plus `i`.
pub const DEV_FIRST_PORT: u16 = 8100;

/// Starts `count` dev workers against the node at `rpc_url`, with their data under `base_dir`
/// and endpoints on ports [`DEV_FIRST_PORT`]`..`, and prints that their trust is SIMULATED.
pub fn spawn_dev_workers(
    rpc_url: &str,
    base_dir: &Path,
    count: usize,
) -> Result<Vec<WorkerHandle>> {
    spawn_dev_workers_on(rpc_url, base_dir, count, DEV_FIRST_PORT)
}

/// [`spawn_dev_workers`] with endpoints on ports `first_port..` (port 0: any free port).
pub fn spawn_dev_workers_on(
    rpc_url: &str,
    base_dir: &Path,
    count: usize,
    first_port: u16,
) -> Result<Vec<WorkerHandle>> {
    let mut lines = vec![format!(
        "  workers     {count} SIMULATED TEE workers: no enclave hardware, their keys sit in files under {} and their quotes are signed by the public dev key; trust nothing they compute",
        base_dir.display()
    )];
    let mut handles = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("worker{i}");
        let operator = DEV_OPERATORS[i % DEV_OPERATORS.len()];
        let port = if first_port == 0 {
            0
        } else {
            first_port.saturating_add(u16::try_from(i).unwrap_or(u16::MAX))
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let config = WorkerConfig::dev(rpc_url, base_dir.join(&name), operator, listen);
        let shown = if port == 0 {
            "a free port on 127.0.0.1".to_string()
        } else {
            format!("http://{listen}")
        };
        lines.push(format!(
            "    {name:<8} operator {operator:<8} query endpoint {shown}  (SIMULATED)"
        ));
        handles.push(crate::spawn_with(
            &name,
            config,
            HostOptions {
                announce: Some(name.clone()),
            },
        )?);
    }
    println!("{}", lines.join("\n"));
    Ok(handles)
}
