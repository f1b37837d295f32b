//! First use (issue 17): an offline check against the wrong origin names the issuer it expected
//! instead of saying "bad signature", and passes once told the server's public origin.

use crate::harness::TestApp;
use crate::harness::cli::{assert_exit, clawgate_at, run, text};
use clawgate::config::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_check_against_another_origin_names_the_issuer() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let (_, token) = app.approved(&mut ada, &key, "delete ./old-data").await;
    let mut at_ip = clawgate_at(&app.base, "");
    at_ip.args(["verify", &token, "--offline"]);
    let out = run(at_ip).await;
    assert_exit(&out, 5);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("wrong_issuer") && stderr.contains(&app.origin), "{stderr}");
    let mut named = clawgate_at(&app.base, "");
    named.args(["verify", &token, "--offline", "--issuer", &app.origin]);
    assert_exit(&run(named).await, 0);
}
