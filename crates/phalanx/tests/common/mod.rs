//! Helpers shared by the binary-level tests: running `phalanx` processes on free ports, reading
//! the addresses they print, signalling them, and polling with deadlines (never bare sleeps).

#![allow(clippy::panic, dead_code)] // test helpers fail the test by panicking; not every test uses all

pub mod scan;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_phalanx");

/// 1 PHA in units.
pub const PHA: u128 = 1_000_000_000_000;

/// Blocks per epoch (`runtime::system::EPOCH_LENGTH`).
pub const EPOCH: u64 = 64;

/// A running `phalanx` process: stdout lines are collected as they come, stderr (the log) goes
/// to a file whose tail is shown when a wait fails. Dropping it kills the process.
pub struct Proc {
    pub name: String,
    child: Mutex<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    log: PathBuf,
}

impl Proc {
    /// Starts `args` with stdout captured and stderr written to `log`.
    pub fn spawn(name: &str, args: &[&str], log: &Path) -> Proc {
        let stderr = std::fs::File::create(log).expect("create the log file");
        let mut child = Command::new(BIN)
            .args(args)
            .env(
                "PHALANX_LOG",
                std::env::var("PHALANX_TEST_LOG").unwrap_or_else(|_| "info,commonware=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start phalanx: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("lines").push(line);
            }
        });
        Proc {
            name: name.to_string(),
            child: Mutex::new(child),
            lines,
            reader: Some(reader),
            log: log.to_path_buf(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.lock().expect("child").id()
    }

    /// The exit status, if the process has exited.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .expect("child")
            .try_wait()
            .expect("try_wait")
    }

    /// Everything printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// The whole log (stderr) so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the process's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Fails the test with `what`, this process's output and the tail of its log.
    pub fn fail(&self, what: &str) -> ! {
        panic!(
            "{}: {what}\n--- stdout ---\n{}\n--- log tail ({}) ---\n{}",
            self.name,
            self.stdout(),
            self.log.display(),
            self.log_tail()
        );
    }

    /// Polls `check` every 200 ms until it holds; fails after `limit`.
    pub fn wait(&self, limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            if check() {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!("timed out after {limit:?} waiting until {what}"));
            }
            if let Some(status) = self.exited() {
                self.fail(&format!("exited ({status}) while waiting until {what}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for a stdout line matching `pred` and returns it.
    pub fn wait_line(&self, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut found = None;
        self.wait(limit, what, || {
            found = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|line| pred(line))
                .cloned();
            found.is_some()
        });
        found.expect("found")
    }

    /// The RPC URL the process printed (`… RPC http://<addr> …`, the bound address).
    pub fn rpc_url(&self) -> String {
        let line = self.wait_line(Duration::from_secs(120), "it prints its RPC address", |l| {
            l.contains("RPC") && l.contains("http://")
        });
        url_in(&line)
    }

    /// Sends `signal` (`INT`, `TERM`, …) with kill(1).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "{}: kill -{signal} failed", self.name);
    }

    /// SIGKILL (`kill -9`): no chance to clean up.
    pub fn kill_hard(&mut self) {
        let child = self.child.get_mut().expect("child");
        child.kill().expect("kill -9");
        let _ = child.wait();
    }

    /// Waits for the process to exit; fails after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                return status;
            }
            if Instant::now() > deadline {
                self.fail(&format!("did not exit within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first `http://…` URL in `line`, without trailing punctuation.
pub fn url_in(line: &str) -> String {
    let start = line.find("http://").expect("a URL in the line");
    line[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default()
        .trim_end_matches([',', ')'])
        .to_string()
}

/// Runs a client command against `rpc` with `--json`; returns (success, parsed stdout or the
/// stderr text).
pub fn cli(rpc: &str, args: &[&str]) -> (bool, Value) {
    let out = Command::new(BIN)
        .args(["--rpc", rpc, "--json"])
        .args(args)
        .output()
        .expect("runs");
    if out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        (
            true,
            serde_json::from_str(&text).unwrap_or(Value::String(text.to_string())),
        )
    } else {
        (
            false,
            Value::String(String::from_utf8_lossy(&out.stderr).to_string()),
        )
    }
}

/// A client command that must succeed.
pub fn ok(rpc: &str, args: &[&str]) -> Value {
    let (success, value) = cli(rpc, args);
    assert!(success, "`phalanx {}` failed: {value}", args.join(" "));
    value
}

/// The node's finalized height, if it answers.
pub fn height(rpc: &str) -> Option<u64> {
    let (success, status) = cli(rpc, &["status"]);
    success.then(|| status["height"].as_u64()).flatten()
}

/// The hash of the block at `at`, if the node has it.
pub fn block_hash(rpc: &str, at: u64) -> Option<String> {
    let (success, block) = cli(rpc, &["block", &at.to_string()]);
    success
        .then(|| block["hash"].as_str().map(str::to_string))
        .flatten()
}

pub fn amount(v: &Value) -> u128 {
    serde_json::from_value(v.clone()).unwrap_or_else(|_| panic!("not an amount: {v}"))
}

/// Polls `check` every 200 ms until it holds; panics after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {limit:?} waiting until {what}");
}

/// `n` distinct free TCP ports on 127.0.0.1, found by binding port 0 and releasing it. Only
/// for addresses that must be known ahead of time (validators' p2p); another process could take
/// a port in between, which would show as a bind error, not a wrong result.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

/// A `phalanx dev` process on free ports with its data in `dir`, and its RPC URL.
pub struct Dev {
    pub proc: Proc,
    pub rpc: String,
}

impl Dev {
    /// Starts `phalanx dev` (RPC, p2p and worker ports 0) with `extra` arguments and waits until
    /// it answers RPC. `log` receives its stderr.
    pub fn start(dir: &Path, log: &Path, extra: &[&str]) -> Dev {
        let dir = dir.to_str().expect("utf-8 path");
        let mut args = vec![
            "dev",
            "--data-dir",
            dir,
            "--rpc-listen",
            "127.0.0.1:0",
            "--p2p-listen",
            "127.0.0.1:0",
            "--worker-port",
            "0",
        ];
        args.extend_from_slice(extra);
        let proc = Proc::spawn("phalanx dev", &args, log);
        let rpc = proc.rpc_url();
        proc.wait(Duration::from_secs(60), "the dev node answers", || {
            height(&rpc).is_some()
        });
        Dev { proc, rpc }
    }

    /// The height the chain opened at, from the banner (`(height N; …`).
    pub fn opened_at(&self) -> u64 {
        let line = self
            .proc
            .wait_line(Duration::from_secs(60), "the banner", |l| {
                l.contains("(height ")
            });
        let start = line.find("(height ").expect("height") + "(height ".len();
        line[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no height in {line:?}"))
    }

    /// Waits until the finalized height reaches `at_least`; returns it.
    pub fn wait_height(&self, at_least: u64, limit: Duration) -> u64 {
        let mut seen = 0;
        self.proc.wait(limit, &format!("height {at_least}"), || {
            seen = height(&self.rpc).unwrap_or(0);
            seen >= at_least
        });
        seen
    }

    /// Sends 1 PHA from alice to bob and waits until it is finalized; returns (hash, height).
    pub fn transfer(&self) -> (String, u64) {
        let (success, sent) = cli(
            &self.rpc,
            &[
                "transfer", "--from", "alice", "--to", "bob", "--amount", "1",
            ],
        );
        if !success || sent["status"] != "finalized" {
            self.proc
                .fail(&format!("a transfer did not finalize: {sent}"));
        }
        (
            sent["hash"].as_str().expect("hash").to_string(),
            sent["height"].as_u64().expect("height"),
        )
    }
}

/// A plain HTTP/1.0 GET of `url` (`http://host:port/path`); returns the status code, the
/// headers and the body.
pub fn http_get(url: &str) -> (u16, String, String) {
    use std::io::{Read as _, Write as _};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("HTTP answer");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    (status, head.to_string(), body.to_string())
}

/// One raw JSON-RPC call over HTTP/1.0 (the CLI has no command for raw storage reads).
pub fn rpc_call(rpc: &str, method: &str, params: Value) -> Value {
    use std::io::{Read as _, Write as _};
    let host = rpc.trim_start_matches("http://").trim_end_matches('/');
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string();
    let mut stream = std::net::TcpStream::connect(host).expect("connect to RPC");
    write!(
        stream,
        "POST / HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let json = answer.split("\r\n\r\n").nth(1).expect("HTTP body");
    serde_json::from_str(json).expect("JSON-RPC answer")
}

/// Runs `phalanx --json testnet` into `dir` with `validators` genesis validators and `joining`
/// more outside the genesis, on free p2p ports, RPC on port 0 and 100 ms blocks. Returns the
/// command's JSON output and the p2p ports, genesis validators first.
pub fn write_testnet(dir: &Path, validators: usize, joining: usize) -> (Value, Vec<u16>) {
    let ports = free_ports(validators + joining);
    let listed: Vec<String> = ports.iter().map(u16::to_string).collect();
    let out = Command::new(BIN)
        .args(["--json", "testnet", "--validators", &validators.to_string()])
        .args(["--joining", &joining.to_string(), "--dir"])
        .arg(dir)
        .args(["--p2p-ports", &listed.join(",")])
        .args(["--rpc-base", "0", "--block-interval-ms", "100"])
        .output()
        .expect("testnet runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = serde_json::from_slice(&out.stdout).expect("testnet prints JSON");
    (written, ports)
}

/// Writes `<dir>/<operator>.toml`: a SIMULATED worker operated by dev account `operator`, data
/// in `data`, against `rpc`, listening on a free port; returns its path.
pub fn worker_config(dir: &Path, data: &Path, rpc: &str, operator: &str) -> PathBuf {
    let path = dir.join(format!("{operator}.toml"));
    std::fs::write(
        &path,
        format!(
            "simulated = true\ndata_dir = {data:?}\nnode_rpc = {rpc:?}\noperator_dev = {operator:?}\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .expect("write the worker config");
    path
}
