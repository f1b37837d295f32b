//! First use (issue 17): opening `127.0.0.1` instead of `localhost` (which the log's address
//! invites) is sent to `localhost` before anything is created. (An offline check against the wrong
//! origin: `tokens/issuer.rs`.)

use crate::harness::TestApp;
use clawgate::config::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opened_at_127_0_0_1_is_sent_to_localhost_first() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let ada = app.person("ada@example.com").await;
    let asked = app.ask(&app.api_key(&ada).await, "delete ./old-data").await;
    let plain =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    for path in ["/".to_owned(), "/keys?from=log".to_owned(), format!("/approve/{}", asked.id)] {
        let r = plain.get(format!("{}{path}", app.base)).send().await.expect("sent");
        assert_eq!(r.status().as_u16(), 308, "{path}");
        let location = r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default();
        assert_eq!(location, format!("{}{path}", app.origin), "{path}");
    }
    // At `localhost` the page itself; the API answers at either name.
    let at_home = plain.get(format!("{}/keys", app.origin)).send().await.expect("sent");
    assert_eq!(at_home.status().as_u16(), 200);
    let api = plain.get(format!("{}/health", app.base)).send().await.expect("sent");
    assert_eq!(api.status().as_u16(), 200);
}
