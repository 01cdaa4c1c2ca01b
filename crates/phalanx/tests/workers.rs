//! Workers through the real binary: a dev worker whose sealed file was corrupted is reported as
//! FAILED by `phalanx dev` (which file, that it is corrupt, what to do) and never listed as
//! running, while the chain and the other worker run on; `phalanx worker` on that file exits
//! non-zero with the same explanation; a healthy `phalanx worker` listens on a free port it
//! prints, and SIGTERM stops it cleanly (its state sealed). `phalanx dev` stops cleanly on
//! SIGTERM too.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{worker_config, Dev, Proc};
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

const LIMIT: Duration = Duration::from_secs(60);

fn http_get(url: &str, path: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the worker");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

#[test]
fn a_corrupt_sealed_file_is_reported_and_never_listed_as_running() {
    let data = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let (data, logs) = (data.path(), logs.path());
    let args = ["--workers", "2", "--block-interval-ms", "100"];

    // First start: both workers run and seal their state.
    let mut dev = Dev::start(data, &logs.join("dev-1.log"), &args);
    for name in ["worker0", "worker1"] {
        let line = dev
            .proc
            .wait_line(LIMIT, &format!("{name} is listed"), |l| {
                l.trim_start().starts_with(name)
            });
        assert!(
            line.contains("running") && line.contains("http://127.0.0.1:"),
            "{line}"
        );
    }
    let sealed = data.join("workers").join("worker0").join("enclave.sealed");
    assert!(sealed.exists(), "worker0 sealed its state");
    dev.proc.signal("TERM");
    let status = dev.proc.wait_exit(Duration::from_secs(30));
    if !status.success() {
        dev.proc
            .fail(&format!("SIGTERM did not stop dev cleanly: {status}"));
    }
    assert!(dev.proc.stdout().contains("stopped; resume with"));
    drop(dev);

    // Corrupt worker0's sealed file in the middle (the header stays valid).
    let mut bytes = std::fs::read(&sealed).expect("read the sealed file");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&sealed, &bytes).expect("corrupt the sealed file");

    // Restart: worker0 is FAILED with the file and what to do; worker1 runs; the chain runs.
    let dev = Dev::start(data, &logs.join("dev-2.log"), &args);
    let failed = dev.proc.wait_line(LIMIT, "worker0 is listed", |l| {
        l.trim_start().starts_with("worker0")
    });
    let sealed_shown = sealed.display().to_string();
    assert!(
        failed.contains("FAILED")
            && failed.contains(&sealed_shown)
            && failed.contains("corrupt")
            && failed.contains("delete it"),
        "{failed}"
    );
    let running = dev.proc.wait_line(LIMIT, "worker1 is listed", |l| {
        l.trim_start().starts_with("worker1")
    });
    assert!(running.contains("running"), "{running}");
    assert!(
        !dev.proc
            .stdout()
            .lines()
            .any(|l| l.trim_start().starts_with("worker0") && l.contains("running")),
        "worker0 is never listed as running:\n{}",
        dev.proc.stdout()
    );
    let (_, at) = dev.transfer();
    assert!(at > 0, "the chain runs on without worker0");

    // `phalanx worker` on the corrupt file: a clear message and a non-zero exit.
    let config = worker_config(
        logs,
        &data.join("workers").join("worker0"),
        &dev.rpc,
        "charlie",
    );
    let config = config.to_str().expect("utf-8");
    let mut corrupt = Proc::spawn(
        "phalanx worker (corrupt)",
        &["worker", "--config", config],
        &logs.join("worker-corrupt.log"),
    );
    let status = corrupt.wait_exit(Duration::from_secs(30));
    let log = corrupt.log_text();
    assert!(
        !status.success(),
        "a corrupt sealed file is an error: {status}"
    );
    assert!(
        log.contains(&sealed_shown) && log.contains("corrupt") && log.contains("delete it"),
        "{log}"
    );
    assert!(
        !corrupt.stdout().contains("query endpoint listening"),
        "{}",
        corrupt.stdout()
    );

    // A healthy `phalanx worker` on a free port, stopped by SIGTERM.
    let fresh = logs.join("fresh-worker");
    let config = worker_config(logs, &fresh, &dev.rpc, "eve");
    let config = config.to_str().expect("utf-8");
    let mut worker = Proc::spawn(
        "phalanx worker",
        &["worker", "--config", config],
        &logs.join("worker-fresh.log"),
    );
    let line = worker.wait_line(LIMIT, "the worker prints its endpoint", |l| {
        l.contains("query endpoint listening on http://")
    });
    let url = common::url_in(&line);
    let info = http_get(&url, "/info");
    assert!(
        info.starts_with("HTTP/1.0 200") || info.starts_with("HTTP/1.1 200"),
        "{info}"
    );
    assert!(info.contains("\"simulated\":true"), "{info}");
    let signalled = SystemTime::now() - Duration::from_millis(20);
    worker.signal("TERM");
    let status = worker.wait_exit(Duration::from_secs(30));
    if !status.success() {
        worker.fail(&format!(
            "SIGTERM did not stop the worker cleanly: {status}"
        ));
    }
    let sealed_at = std::fs::metadata(fresh.join("enclave.sealed"))
        .and_then(|m| m.modified())
        .expect("the worker sealed its state");
    assert!(
        sealed_at >= signalled,
        "the worker sealed its state on SIGTERM"
    );
}
