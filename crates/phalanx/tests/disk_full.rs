//! A full disk through the real binary: `phalanx dev` runs on a small tmpfs, which is then
//! filled up. The node must stop with a clear message ("disk full at <data dir>: free space and
//! restart") and exit code 75, not panic (exit 101); started again while the disk is still full
//! it stops the same way; once the tmpfs is enlarged it resumes: it reopens at least at the
//! height it reported, every transfer reported finalized is still there, and a new one
//! finalizes.
//!
//! Mounting needs root (CI runs as root); elsewhere the test prints why it skips.

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{cli, Dev, Proc};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `phalanx`'s exit code for a full disk (`shutdown::EXIT_DISK_FULL`).
const EXIT_DISK_FULL: i32 = 75;

/// A tmpfs mounted for the test; unmounted (lazily) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("mount runs")
            .success();
        assert!(ok, "remounting the tmpfs with size {size} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Writes zeros into `path` until the filesystem refuses with "no space".
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0u8; 1 << 20];
    loop {
        match file.write_all(&chunk).and_then(|()| file.sync_all()) {
            Ok(()) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return,
            Err(e) => panic!("filling the disk failed otherwise: {e}"),
        }
    }
}

/// Waits for `dev` to stop by itself and checks the disk-full message and exit code.
fn assert_stops_disk_full(mut proc: Proc, data: &Path, what: &str) {
    let status = proc.wait_exit(Duration::from_secs(90));
    let log = proc.log_text();
    let expected = format!("disk full at {}: free space and restart", data.display());
    if status.code() != Some(EXIT_DISK_FULL) || !log.contains(&expected) {
        proc.fail(&format!(
            "{what}: expected exit {EXIT_DISK_FULL} and {expected:?}, got {status}"
        ));
    }
    assert!(
        !log.contains("panicked at"),
        "{what}: no raw panic report:\n{log}"
    );
    let message = log
        .lines()
        .find(|l| l.contains(&expected))
        .unwrap_or_default();
    eprintln!("{what}: {status}; {message}");
}

#[test]
fn a_full_disk_stops_the_node_cleanly_and_it_resumes_once_space_is_freed() {
    if !is_root() {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    }
    let mount_point = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let tmpfs = match Tmpfs::mount(mount_point.path(), "64M") {
        Ok(tmpfs) => tmpfs,
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let data = mount_point.path().join("dev");
    let args = [
        "--workers",
        "0",
        "--gatekeepers",
        "0",
        "--block-interval-ms",
        "100",
    ];

    let dev = Dev::start(&data, &logs.path().join("dev-1.log"), &args);
    dev.wait_height(10, Duration::from_secs(60));
    let finalized = dev.transfer();
    let reported = common::height(&dev.rpc).unwrap_or(0).max(finalized.1);
    fill(&mount_point.path().join("filler"));
    assert_stops_disk_full(dev.proc, &data, "running when the disk filled up");

    // Still full: a new start stops the same way instead of hanging or panicking.
    let still_full = Proc::spawn(
        "phalanx dev (disk still full)",
        &[
            "dev",
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--rpc-listen",
            "127.0.0.1:0",
            "--p2p-listen",
            "127.0.0.1:0",
            "--workers",
            "0",
            "--block-interval-ms",
            "100",
        ],
        &logs.path().join("dev-2.log"),
    );
    assert_stops_disk_full(still_full, &data, "started on a full disk");

    // Space freed: it resumes with nothing lost.
    tmpfs.resize("256M");
    let dev = Dev::start(&data, &logs.path().join("dev-3.log"), &args);
    let opened = dev.opened_at();
    assert!(
        opened >= reported,
        "reopened at {opened}, below the {reported} it reported"
    );
    let (success, tx) = cli(&dev.rpc, &["tx", &finalized.0]);
    assert!(
        success && tx["status"] == "finalized" && tx["location"]["height"] == finalized.1,
        "the transfer reported finalized at {} reads {tx}",
        finalized.1
    );
    let (_, at) = dev.transfer();
    assert!(at > opened, "a new transfer finalizes after the restart");
    eprintln!("resumed at height {opened} (reported {reported}); a new transfer finalized at {at}");
    let mut dev = dev;
    dev.proc.signal("INT");
    let status = dev.proc.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "Ctrl-C stops cleanly: {status}");
    drop(tmpfs);
}
