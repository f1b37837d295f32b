//! Fuzzing from the outside: schemathesis (PyPI) generates requests from the served OpenAPI
//! document, as each kind of caller (nobody, a person's session, an agent's key), and checks
//! that nothing answers 5xx and nothing answers outside the document (status codes, content types,
//! headers, response schemas, negative data refused, auth not ignored).
//!
//! Not checked: "schema-valid requests are accepted" (schemathesis' positive_data_acceptance):
//! a request can match the schema and still be refused on purpose, e.g. a well-formed passkey
//! assertion whose signature is made up.

use crate::harness::TestApp;
use clawgate::config::Backend;
use std::path::PathBuf;
use std::process::Stdio;

/// Test cases per operation and caller; enough to cover every operation's edges in CI time.
const EXAMPLES: &str = "25";

/// The venv's schemathesis, or `None` (skip) when there is none and none is required.
fn schemathesis() -> Option<PathBuf> {
    let python = crate::harness::test_python("schemathesis", "the API fuzzing test")?;
    Some(python.with_file_name("schemathesis"))
}

async fn fuzz(app: &TestApp, st: &PathBuf, caller: &str, header: Option<String>) {
    // schemathesis keeps a cache and reports in its working directory: not in the source tree.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let mut cmd = tokio::process::Command::new(st);
    cmd.current_dir(scratch.path());
    cmd.arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--url", &app.base])
        .args(["--checks", "all", "--exclude-checks", "positive_data_acceptance"])
        .args(["--max-examples", EXAMPLES, "--phases", "examples,coverage,fuzzing"])
        // One worker: schemathesis' workers are threads, and Python 3.11 (Debian 12) keeps the
        // AST converter's recursion depth per interpreter, so two threads parsing at once (the
        // fuzzer describes its filters from their source) can fail with "AST constructor
        // recursion depth mismatch", a crash of the tool that would read as a finding.
        .args(["--seed", "7", "--generation-database", "none", "--no-color", "--workers", "1"])
        .args(["--request-timeout", "10"])
        // The server's own logs (warnings) would drown the report.
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(h) = header {
        cmd.args(["--header", &h]);
    }
    let out = cmd.output().await.expect("schemathesis runs");
    let report = String::from_utf8_lossy(&out.stdout);
    let summary: String =
        report.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    eprintln!("schemathesis as {caller}:\n{summary}");
    assert!(
        out.status.success(),
        "schemathesis found problems as {caller}:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let Some(st) = schemathesis() else { return };
    // Limits raised so the fuzzer exercises the operations rather than the limiters (which have
    // their own tests); everything else as configured by default.
    let app = TestApp::spawn_with(Backend::Sqlite, |a| {
        a.auth_rate_limit = 1_000_000;
        a.poll_rate_limit = 1_000_000;
        a.gate_rate_limit = 1_000_000;
        a.max_pending_per_key = 0;
    })
    .await
    .expect("server");
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    // Real objects for the fuzzer to find: a pending request, a decided one.
    app.ask(&key, "fuzzing target").await;
    let decided = app.ask(&key, "decided").await;
    app.deny(&ada, &decided.id).await.expect(200);

    fuzz(&app, &st, "nobody", None).await;
    fuzz(&app, &st, "a person", Some(format!("Authorization: Bearer {}", ada.session))).await;
    fuzz(&app, &st, "an agent", Some(format!("Authorization: Bearer {key}"))).await;
}
