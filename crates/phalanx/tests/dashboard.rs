//! The dashboard in a real browser: headless Chromium loads the page `phalanx dev` serves and
//! the test reads the DOM it built (`--dump-dom`): a height that increases between two loads,
//! the dev workers with their SIMULATED attestation in plain sight, and a proposal this test
//! created whose description is HTML and must show as text. The page records its own errors
//! (uncaught ones included) in `#errors`, which must stay empty. A screenshot is written to the
//! target directory (and to `docs/dashboard.png`, the README's picture, with
//! `PHALANX_UPDATE_SCREENSHOT=1`).
//!
//! Without a Chromium on the machine the test says so and passes, unless
//! `PHALANX_REQUIRE_BROWSER=1` (CI sets it, after installing one).

#![allow(clippy::panic)] // integration-test helpers fail the test by panicking

mod common;

use common::{wait_until, Dev};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn browser() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .map(str::to_string)
}

/// Loads `url` headless and returns the DOM after its scripts ran, and the browser's log.
fn load(browser: &str, url: &str, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().expect("profile dir");
    // A browser that hangs must not hold CI for its whole budget.
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("the browser runs");
    assert!(
        out.status.success(),
        "the browser failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text between `<b id="height">` and `</b>`.
fn shown_height(dom: &str) -> Option<u64> {
    let start = dom.find("id=\"height\">")? + "id=\"height\">".len();
    dom[start..].split('<').next()?.parse().ok()
}

#[test]
fn the_dashboard_shows_the_live_chain_and_renders_attacker_text_as_text() {
    let Some(browser) = browser() else {
        assert!(
            std::env::var_os("PHALANX_REQUIRE_BROWSER").is_none(),
            "PHALANX_REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!("SKIPPED: no Chromium on this machine (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = tempfile::tempdir().expect("tempdir");
    let dev = Dev::start(dir.path(), &logs.path().join("dev.log"), &[]);
    wait_until(
        Duration::from_secs(60),
        "the dev workers registered",
        || {
            common::ok(&dev.rpc, &["workers"])["workers"]
                .as_array()
                .is_some_and(|w| w.len() >= 3)
        },
    );
    let hostile = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">bold claims";
    let proposed = common::ok(
        &dev.rpc,
        &[
            "gov",
            "propose",
            "--from",
            "alice",
            "--description",
            hostile,
            "--call",
            r#"{"set_registration_frozen":false}"#,
        ],
    );
    assert_eq!(proposed["status"], "finalized", "{proposed}");

    let page = format!("{}/", dev.rpc);
    let (first, log) = load(&browser, &page, &["--dump-dom"]);
    let height = shown_height(&first).unwrap_or_else(|| panic!("no height shown:\n{first}"));
    assert!(height > 0, "{first}");
    assert!(
        first.matches("class=\"worker\"").count() >= 2,
        "the dev workers are listed:\n{first}"
    );
    assert!(first.contains(">SIMULATED<"), "SIMULATED in plain sight");
    assert!(
        first.contains("class=\"badge live\""),
        "the WebSocket subscription is live:\n{first}"
    );
    // The hostile description is text on the page, not markup.
    assert!(
        first.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x"),
        "the description is shown as text:\n{first}"
    );
    assert!(
        !first.contains("<img src=\"x\""),
        "no element from the description"
    );
    assert!(
        first.contains("<title>Phalanx dashboard</title>"),
        "its script never ran"
    );
    // Every panel filled in, and no error recorded by the page or logged by the browser.
    assert!(first.contains("id=\"errors-section\" hidden"), "{first}");
    assert!(first.contains("class=\"proposal\""), "{first}");
    assert!(first.contains("class=\"pool\""), "{first}");
    assert!(first.contains("class=\"block\""), "{first}");
    for line in ["class=\"budget\"", "class=\"emitted\"", "class=\"pot\""] {
        assert!(
            first.contains(line),
            "the mining schedule chart draws {line}"
        );
    }
    // The page writes nothing to the console unless something failed (Chromium logs every
    // console message, whatever its level, as `INFO:CONSOLE`).
    for bad in [":CONSOLE", "Uncaught", "Refused to"] {
        assert!(!log.contains(bad), "the browser logged {bad}:\n{log}");
    }

    // Live: a later load shows a higher height.
    dev.wait_height(height + 3, Duration::from_secs(60));
    let (second, _) = load(&browser, &page, &["--dump-dom"]);
    let later = shown_height(&second).unwrap_or_else(|| panic!("no height shown:\n{second}"));
    assert!(later > height, "the height moves: {height} then {later}");

    // The picture the README shows.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    load(
        &browser,
        &page,
        &[
            &format!("--screenshot={}", target.display()),
            "--window-size=1400,1600",
            "--hide-scrollbars",
        ],
    );
    let png = std::fs::read(&target).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real picture"
    );
    if std::env::var_os("PHALANX_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dashboard.png");
        std::fs::write(docs, &png).expect("docs/dashboard.png");
    }
}
