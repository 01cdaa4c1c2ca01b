//! Everything the CLI prints on stdout goes through here.
//!
//! `println!` panics when stdout is a pipe whose reader has gone (`phalanx block | head -1`).
//! Here a closed stdout (`BrokenPipe`) ends the process quietly with exit code 0, as `cat`
//! does: nobody is left to read the rest, and the command itself did what it was asked. The
//! few `println!`s outside client commands (node banners) are covered by
//! [`exit_quietly_on_closed_stdout`], a panic hook that turns exactly that panic into the same
//! quiet exit.

use crate::CliError;
use serde_json::Value;
use std::io::{ErrorKind, Write};

/// Writes `text` and a newline to stdout; a closed stdout ends the process quietly (exit 0).
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    let written = writeln!(out, "{text}").and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Nowhere else to say it: stdout itself failed (a full disk behind a redirect, …).
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// Prints `value` as pretty JSON with `--json`, `text()` otherwise.
pub fn print(json_mode: bool, value: &Value, text: impl FnOnce() -> String) {
    if json_mode {
        line(&serde_json::to_string_pretty(value).unwrap_or_default());
    } else {
        line(&text());
    }
}

/// Reports `error`: with `--json` as a JSON object on stdout (its `reason` is the node's
/// `data.reason` when the node refused); the message always goes to stderr.
pub fn print_error(json_mode: bool, error: &CliError) {
    if json_mode {
        line(&serde_json::to_string_pretty(&error.to_json()).unwrap_or_default());
    }
    eprintln!("error: {error}");
}

/// Whether a panic payload is `println!`'s "failed printing to stdout" on a closed pipe.
fn is_closed_stdout(message: &str) -> bool {
    message.contains("failed printing to stdout") && message.contains("Broken pipe")
}

/// Installs a panic hook that ends the process quietly (exit 0) when the panic is `println!`
/// finding stdout closed, and otherwise reports the panic as usual.
pub fn exit_quietly_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_stdout(message) {
            std::process::exit(0);
        }
        report(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_the_closed_stdout_panic() {
        assert!(is_closed_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_stdout("index out of bounds"));
    }
}
