//! A test that skips says so where scripts/test's summary can list it (`SKIPPED: N tests`), so that
//! a missing PostgreSQL, Python, Chromium, libfaketime or node is never mistaken for a pass.

use std::time::Duration;
use tokio::time::timeout;

/// A test that skips (here: PostgreSQL unreachable) is listed, with its name and the reason, in
/// the file scripts/test names in CLAWGATE_SKIP_LOG. Runs this test binary as scripts/test
/// would, on one test, against a PostgreSQL that is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_tests_are_listed_with_their_reason() {
    const TEST: &str = "approvals::revoked_key_waits::revoked_key_long_poll_gets_no_token::postgres";
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("skips.txt");
    std::fs::write(&log, "earlier: line\n").expect("log");
    let run = tokio::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args([TEST, "--exact", "--test-threads", "1"])
        .env(crate::harness::SKIP_LOG_ENV, &log)
        // Nothing listens on port 1: the connection is refused at once.
        .env("CLAWGATE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:1/postgres")
        .env_remove("CLAWGATE_REQUIRE_POSTGRES")
        .output();
    let out = timeout(Duration::from_secs(60), run).await.expect("the run ends").expect("the run starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "a skip is a pass: {stdout}");
    assert!(stdout.contains("1 passed"), "the one test ran: {stdout}");
    let lines: Vec<String> = std::fs::read_to_string(&log).expect("log").lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "one line appended per skip: {lines:?}");
    assert_eq!(lines[0], "earlier: line", "appended, not overwritten");
    assert!(
        lines[1].starts_with(&format!("{TEST}: PostgreSQL is unreachable at postgres://")),
        "the test's name and why: {}",
        lines[1]
    );
}
