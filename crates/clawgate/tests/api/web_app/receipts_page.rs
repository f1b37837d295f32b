//! The receipts page in Chromium: an approval and a denial made in the page with Chromium's
//! virtual authenticator show as signed by the person's passkey, the approve page links to the
//! approval's receipt, and the chain and checkpoint the page
//! downloads hold under `clawgate audit verify`'s checks, made without the server.

use crate::harness::browser::{Tab, chrome, new_key_in_page, sign_up};
use crate::harness::{Auth, TestApp};
use clawgate::config::Backend;
use clawgate_agent::audit::{Options, verify_chain};
use serde_json::{Value, json};

/// Keeps, in the page, the text of every file it offers for download.
const CAPTURE: &str = "(() => {
  window.__downloads = [];
  const make = URL.createObjectURL;
  URL.createObjectURL = (blob) => { blob.text().then((t) => window.__downloads.push(t)); return make(blob); };
  return true;
})()";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_page_shows_each_receipt_and_its_download_verifies_offline() {
    let Some(chrome) = chrome().await else { return };
    let app = TestApp::spawn(Backend::Sqlite).await.expect("server");
    let tab = Tab::open(&chrome, &app.origin).await;
    sign_up(&tab, "ada@example.com").await;
    let key = new_key_in_page(&tab, "deploy bot").await;
    let asked = app.ask(&key, "deploy api@v2 to production").await;
    tab.navigate(&format!("{}/approve/{}", app.origin, asked.id)).await;
    tab.wait("document.querySelector('#approve')", "the approve button").await;
    tab.click("#approve").await;
    tab.wait("document.querySelector('.badge.APPROVED')", "the approved badge").await;
    // The decided request links to its receipt, which the receipts page opens first.
    tab.wait("document.querySelector('#receipt-link')", "the link to the receipt").await;
    tab.click("#receipt-link").await;
    let opened =
        "document.querySelector('#opened-receipt .receipt[data-kind=\"request.approved\"]')?.textContent";
    let opened = tab.wait(opened, "the receipt opened").await;
    assert!(opened.as_str().is_some_and(|t| t.contains("signed by your passkey")), "{opened}");
    // A denial made in the page is signed by the passkey too.
    let refused = app.ask(&key, "drop the database").await;
    tab.navigate(&format!("{}/approve/{}", app.origin, refused.id)).await;
    tab.wait("document.querySelector('#deny')", "the deny button").await;
    tab.click("#deny").await;
    tab.wait("document.querySelector('.badge.DENIED')", "the denied badge").await;

    tab.navigate(&format!("{}/receipts", app.origin)).await;
    tab.wait("document.querySelector('.receipt[data-kind=\"request.approved\"]')", "the approval's receipt")
        .await;
    let approval = tab.text(".receipt[data-kind=\"request.approved\"]").await;
    assert!(approval.contains("deploy api@v2 to production"), "{approval}");
    assert!(approval.contains("signed by your passkey"), "{approval}");
    let kinds = tab.eval("[...document.querySelectorAll('.receipt')].map((r) => r.dataset.kind)").await;
    assert_eq!(
        kinds,
        json!([
            "request.denied",
            "request.approved",
            "api_key.created",
            "passkey.registered",
            "account.created"
        ]),
        "newest first"
    );

    assert_eq!(tab.eval(CAPTURE).await, json!(true));
    tab.click("#download-chain").await;
    tab.wait("window.__downloads.length === 1", "the chain's download").await;
    tab.click("#download-checkpoint").await;
    tab.wait("window.__downloads.length === 2", "the checkpoint's download").await;
    let files = tab.eval("window.__downloads").await;
    let chain = serde_json::from_str(files[0].as_str().expect("text")).expect("a chain file");
    let checkpoint: Value = serde_json::from_str(files[1].as_str().expect("text")).expect("JSON");
    let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).body;
    let options = Options {
        rp_id: Some("localhost".into()),
        origin: Some(app.origin.clone()),
        checkpoints: vec![checkpoint["checkpoint"].as_str().expect("checkpoint").to_owned()],
        jwks: Some(serde_json::from_value(jwks).expect("JWKS")),
    };
    let summary = verify_chain(&chain, &options).expect("Chromium's chain holds");
    assert_eq!(summary.passkey_checked.get("request.approved"), Some(&1), "{summary:?}");
    assert_eq!(summary.passkey_checked.get("request.denied"), Some(&1), "{summary:?}");
    assert_eq!(summary.passkey_checked.get("passkey.registered"), Some(&1), "{summary:?}");
    assert_eq!(summary.checkpoints.len(), 1);
}
