//! How the long-running commands (`dev`, `node`, `worker`) stop.
//!
//! - **Signals**: Ctrl-C (SIGINT) and SIGTERM (what `kill`, systemd and container runtimes send)
//!   take the same clean path: consensus and RPC stop, the chain writes its shutdown snapshot,
//!   workers seal their state, exit code 0.
//! - **A full disk** stops the process with [`EXIT_DISK_FULL`] and a message naming the data
//!   directory. Where our own code writes, the node notices and stops cleanly
//!   ([`phalanx_node::service::ServiceError::DiskFull`]). Where a library writes (commonware's
//!   consensus journals and archives), a failed write is a panic in a background task; the
//!   panic hook installed by [`watch_storage_panics`] turns that panic into the same message and
//!   exit code instead of a backtrace and exit 101. Nothing reported finalized is lost either
//!   way: the block log is fsynced before a block is reported, and a torn tail is cut off at the
//!   next start.
//! - **Another storage failure** inside a library (an I/O error that is not a full disk) exits
//!   with [`EXIT_STORAGE`] and says where.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Exit code when the disk holding the data directory is full (sysexits' `EX_TEMPFAIL`: free
/// space and run the same command again).
pub const EXIT_DISK_FULL: u8 = 75;

/// Exit code when storage failed for another reason (sysexits' `EX_IOERR`).
pub const EXIT_STORAGE: u8 = 74;

/// Set once the process is listening for stop signals; flips to `true` on the first one.
static STOP: OnceLock<tokio::sync::watch::Receiver<bool>> = OnceLock::new();

/// Starts listening for Ctrl-C (SIGINT) and SIGTERM now, on a thread of its own, and returns once
/// the handlers are installed. Called before a long-running command prints that it is ready:
/// until a handler is installed, SIGTERM's default action kills the process on the spot, so a
/// signal sent right after the ready banner used to skip the clean shutdown.
pub fn listen() {
    if STOP.get().is_some() {
        return;
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (armed, is_armed) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for stop signals");
                    drop(armed);
                    return;
                }
            };
            runtime.block_on(async move {
                wait_for_signal(armed).await;
                let _ = stop.send(true);
            });
        });
    if spawned.is_ok() {
        // Installed in well under a second; never wait forever on it.
        let _ = is_armed.recv_timeout(std::time::Duration::from_secs(5));
    }
    let _ = STOP.set(stopped);
}

/// Installs the handlers, says so on `armed`, and completes on the first signal.
async fn wait_for_signal(armed: std::sync::mpsc::Sender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                let _ = armed.send(());
                tokio::select! {
                    _ = interrupt.recv() => tracing::info!("SIGINT: stopping cleanly"),
                    _ = terminate.recv() => tracing::info!("SIGTERM: stopping cleanly"),
                }
                return;
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops cleanly");
            }
        }
    }
    let ctrl_c = tokio::signal::ctrl_c();
    let _ = armed.send(());
    if let Err(e) = ctrl_c.await {
        // Without a signal handler nothing can ask for a clean stop; keep running.
        tracing::warn!(error = %e, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM since [`listen`] (which it calls if nobody
/// did; call it earlier so no signal is missed).
pub async fn signal() {
    listen();
    let Some(stopped) = STOP.get() else {
        return std::future::pending().await;
    };
    let mut stopped = stopped.clone();
    if stopped.wait_for(|stop| *stop).await.is_err() {
        // The listening thread is gone (it could not install handlers): never stop by signal.
        std::future::pending::<()>().await;
    }
}

static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Installs a panic hook that turns a storage panic inside a library into a clear message and
/// exit code ([`EXIT_DISK_FULL`] or [`EXIT_STORAGE`]) naming `data_dir`. Other panics keep the
/// default report (they are bugs).
pub fn watch_storage_panics(data_dir: &Path) {
    let shown = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    if DATA_DIR.set(shown).is_err() {
        return; // already installed
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = panic_message(info);
        let Some(mut kind) = storage_failure(&message) else {
            default_hook(info);
            return;
        };
        // commonware often reports a failed write as a bare `WriteFailed`, without the OS
        // error: ask the disk itself whether it is full.
        if kind == StorageFailure::Other && DATA_DIR.get().is_some_and(|dir| no_room_in(dir)) {
            kind = StorageFailure::DiskFull;
        }
        let dir = DATA_DIR
            .get()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the data directory".into());
        let code = match kind {
            StorageFailure::DiskFull => {
                eprintln!("error: disk full at {dir}: free space and restart (the same command resumes where it stopped)\n  detail: {message}");
                EXIT_DISK_FULL
            }
            StorageFailure::Other => {
                eprintln!("error: storage failed at {dir}: check the disk and its permissions, then restart (the same command resumes where it stopped)\n  detail: {message}");
                EXIT_STORAGE
            }
        };
        // Exit at once: the other threads may hold half-written state, and the next start
        // repairs a torn tail, whereas unwinding through them could report progress that was
        // never stored.
        std::process::exit(i32::from(code));
    }));
}

/// Room a node needs to keep going; a disk with less free space counts as full.
const PROBE_BYTES: usize = 1 << 20;

/// Whether `dir`'s filesystem refuses [`PROBE_BYTES`] more with "no space" (or "quota
/// exceeded"). The probe file is removed again.
fn no_room_in(dir: &Path) -> bool {
    use std::io::Write;
    let probe = dir.join(".phalanx-free-space-probe");
    let written = std::fs::File::create(&probe).and_then(|mut file| {
        file.write_all(&vec![0u8; PROBE_BYTES])?;
        file.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    written.is_err_and(|e| phalanx_node::service::caused_by_full_disk(&e))
}

fn panic_message(info: &std::panic::PanicHookInfo<'_>) -> String {
    let payload = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_default();
    match info.location() {
        Some(at) => format!("{payload} (at {at})"),
        None => payload,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StorageFailure {
    DiskFull,
    Other,
}

/// Classifies a panic message: commonware's storage layer panics with `unable to append to
/// journal: …`, `failed to sync …` and the like, with the I/O error's debug text.
fn storage_failure(message: &str) -> Option<StorageFailure> {
    if phalanx_node::service::mentions_full_disk(message) {
        return Some(StorageFailure::DiskFull);
    }
    let lower = message.to_ascii_lowercase();
    let storage = [
        "journal",
        "archive",
        "blob",
        "storage",
        "metadata",
        "partition",
    ]
    .iter()
    .any(|word| lower.contains(word));
    let failed = [
        "unable to",
        "failed to",
        "write failed",
        "sync failed",
        "writefailed",
        "syncfailed",
        "io error",
    ]
    .iter()
    .any(|word| lower.contains(word));
    (storage && failed).then_some(StorageFailure::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_with_room_is_not_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!no_room_in(dir.path()));
        assert!(
            std::fs::read_dir(dir.path())
                .expect("list")
                .next()
                .is_none(),
            "the probe is removed"
        );
    }

    #[test]
    fn storage_panics_are_classified() {
        let full = format!(
            "unable to append to journal: Runtime(Io({:?}))",
            std::io::Error::from_raw_os_error(28)
        );
        assert_eq!(
            storage_failure(&full),
            Some(StorageFailure::DiskFull),
            "{full}"
        );
        assert_eq!(
            storage_failure("unable to sync journal: Runtime(BlobSyncFailed(\"p\", \"00\", Os { code: 28, kind: StorageFull, message: \"No space left on device\" }))"),
            Some(StorageFailure::DiskFull)
        );
        assert_eq!(
            storage_failure("failed to put block in archive: Runtime(WriteFailed)"),
            Some(StorageFailure::Other)
        );
        assert_eq!(storage_failure("index out of bounds: the len is 3"), None);
        assert_eq!(
            storage_failure("called `Option::unwrap()` on a `None` value"),
            None
        );
    }
}
