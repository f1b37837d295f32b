//! The web app in a real browser: Debian's Chromium, headless, one at a time, with the DevTools
//! WebAuthn virtual authenticator standing in for Touch ID; a tab and what the tests do in it.
//!
//! Screenshots land in `target/screenshots/`.

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::target::{CreateTargetParams, SetAutoAttachParams};
use chromiumoxide::cdp::browser_protocol::web_authn::{
    AddVirtualAuthenticatorParams, AuthenticatorId, AuthenticatorProtocol, AuthenticatorTransport,
    EnableParams, SetUserVerifiedParams, VirtualAuthenticatorOptions,
};
use chromiumoxide::page::{Page, ScreenshotParams};
use futures::StreamExt;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest the page may take to show something after an action (a passkey ceremony included).
pub(crate) const UI_DEADLINE: Duration = Duration::from_secs(45);

/// One Chromium at a time: two starting together on two cores have been seen to stall.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) struct Chrome {
    pub(crate) browser: Browser,
    handler: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Chrome {
    pub(crate) fn browser(&self) -> &Browser {
        &self.browser
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        self.handler.abort();
    }
}

/// Chromium, or `None` (skip) when it is not installed and CI did not ask for browser tests.
pub(crate) async fn chrome() -> Option<Chrome> {
    if !std::path::Path::new(CHROMIUM).exists() {
        let required = std::env::var("CLAWGATE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        assert!(!required, "CLAWGATE_REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)");
        let reason = format!("{CHROMIUM} is missing (apt-get install chromium)");
        crate::harness::skip(&crate::harness::current_test(), &reason);
        return None;
    }
    let turn = ONE_BROWSER.lock().await;
    let profile = tempfile::tempdir().expect("profile dir");
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .new_headless_mode()
        .no_sandbox()
        .user_data_dir(profile.path())
        .window_size(1280, 900)
        .viewport(None)
        .launch_timeout(Duration::from_secs(60))
        .request_timeout(Duration::from_secs(30))
        // This machine's network is closed: no background calls to Google.
        .args([
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .build()
        .expect("browser config");
    let (browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    let handler = tokio::spawn(async move { while handler.next().await.is_some() {} });
    Some(Chrome { browser, handler, _profile: profile, _turn: turn })
}

/// One tab with a virtual platform authenticator (resident keys, user verification).
pub(crate) struct Tab {
    pub(crate) page: Page,
    authenticator: AuthenticatorId,
    shots: PathBuf,
}

impl Tab {
    pub(crate) async fn open(chrome: &Chrome, url: &str) -> Tab {
        Self::open_with(chrome, url, true).await
    }

    /// A tab whose authenticator can (`resident`) or cannot make discoverable passkeys.
    pub(crate) async fn open_with(chrome: &Chrome, url: &str, resident: bool) -> Tab {
        // The target is made with a plain CDP command and the page looked up afterwards:
        // chromiumoxide's `new_page`/`goto` wait for a load event they can miss under load.
        let created = chrome.browser.execute(CreateTargetParams::new("about:blank")).await.expect("new tab");
        let target = created.result.target_id;
        let started = Instant::now();
        let page = loop {
            match chrome.browser.get_page(target.clone()).await {
                Ok(page) => break page,
                Err(e) if started.elapsed() > UI_DEADLINE => panic!("the new tab never attached: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        // Workers this page starts (the service worker) must not wait for a debugger to resume them.
        let attach = SetAutoAttachParams::builder()
            .auto_attach(true)
            .wait_for_debugger_on_start(false)
            .flatten(true)
            .build()
            .expect("auto-attach params");
        page.execute(attach.clone()).await.expect("auto-attach");
        chrome.browser.execute(attach).await.expect("auto-attach");
        page.execute(EnableParams::default()).await.expect("WebAuthn domain");
        let options = VirtualAuthenticatorOptions::builder()
            .protocol(AuthenticatorProtocol::Ctap2)
            .transport(AuthenticatorTransport::Internal)
            .has_resident_key(resident)
            .has_user_verification(true)
            .is_user_verified(true)
            .automatic_presence_simulation(true)
            .build()
            .expect("authenticator options");
        let added =
            page.execute(AddVirtualAuthenticatorParams::new(options)).await.expect("virtual authenticator");
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        let tab = Tab { page, authenticator: added.result.authenticator_id, shots };
        tab.navigate(url).await;
        tab
    }

    /// Loads `url` and waits until the document is complete. Navigates from script: a CDP
    /// `Page.navigate` makes chromiumoxide wait for the same load event as `goto`.
    pub(crate) async fn navigate(&self, url: &str) {
        self.eval(&format!("location.href = {url:?}")).await;
        let ready = format!("document.readyState === 'complete' && location.href.startsWith({url:?})");
        self.wait(&ready, &format!("{url} to load")).await;
    }

    pub(crate) async fn eval(&self, js: &str) -> Value {
        self.try_eval(js).await.unwrap_or_else(|e| panic!("evaluating `{js}`: {e}"))
    }

    /// Evaluates `js` (awaiting a promise it returns), giving up after a few seconds.
    pub(crate) async fn try_eval(&self, js: &str) -> Result<Value, String> {
        let evaluation = tokio::time::timeout(Duration::from_secs(5), self.page.evaluate(js));
        let result =
            evaluation.await.map_err(|_| "no answer in 5 s".to_owned())?.map_err(|e| e.to_string())?;
        Ok(result.value().cloned().unwrap_or(Value::Null))
    }

    /// Waits until `js` is truthy and returns its value; fails after a deadline, saying what for.
    /// (While a page loads, evaluating can fail: that counts as "not yet".)
    pub(crate) async fn wait(&self, js: &str, what: &str) -> Value {
        let started = Instant::now();
        loop {
            let v = self.try_eval(js).await.unwrap_or(Value::Null);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if started.elapsed() > UI_DEADLINE {
                let shown = self.try_eval("document.querySelector('main')?.innerText").await;
                panic!("waited {UI_DEADLINE:?} for {what}; the page shows: {shown:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A real mouse click on the element. The page may re-render it under our feet (a live
    /// update arrives): then it is found again and clicked, until the deadline.
    pub(crate) async fn click(&self, selector: &str) {
        let started = Instant::now();
        loop {
            self.wait(&format!("!!document.querySelector({selector:?})"), selector).await;
            let clicked = match self.page.find_element(selector).await {
                Ok(el) => match el.scroll_into_view().await {
                    Ok(el) => el.click().await.map(|_| ()),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if started.elapsed() > UI_DEADLINE => panic!("clicking {selector}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    pub(crate) async fn type_into(&self, selector: &str, text: &str) {
        self.click(selector).await;
        let el = self.page.find_element(selector).await.expect("input");
        el.type_str(text).await.expect("typing");
    }

    pub(crate) async fn text(&self, selector: &str) -> String {
        self.eval(&format!("document.querySelector({selector:?})?.textContent ?? ''"))
            .await
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The viewport as a device of this size (a phone with `mobile`), until set again.
    pub(crate) async fn set_viewport(&self, width: i64, height: i64, mobile: bool) {
        let metrics =
            SetDeviceMetricsOverrideParams::new(width, height, if mobile { 3.0 } else { 1.0 }, mobile);
        self.page.execute(metrics).await.expect("viewport");
    }

    pub(crate) async fn set_user_verified(&self, verified: bool) {
        self.page
            .execute(SetUserVerifiedParams::new(self.authenticator.clone(), verified))
            .await
            .expect("set UV");
    }

    /// Saves `name` at desktop and at phone width.
    pub(crate) async fn screenshot(&self, name: &str) {
        for (label, width, height, mobile) in [("desktop", 1280, 900, false), ("phone", 390, 844, true)] {
            let metrics =
                SetDeviceMetricsOverrideParams::new(width, height, if mobile { 3.0 } else { 1.0 }, mobile);
            self.page.execute(metrics).await.expect("viewport");
            let png = self
                .page
                .screenshot(ScreenshotParams::builder().full_page(true).build())
                .await
                .expect("screenshot");
            std::fs::write(self.shots.join(format!("{name}-{label}.png")), png).expect("save screenshot");
        }
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(1280, 900, 1.0, false))
            .await
            .expect("viewport");
    }
}

/// Signs up in the page as `email` (a passkey made by the tab's authenticator) and waits for the
/// pending page's list.
pub(crate) async fn sign_up(tab: &Tab, email: &str) {
    tab.wait("document.querySelector('#signup')", "the sign-up form").await;
    tab.type_into("#signup-email", email).await;
    tab.click("#signup").await;
    tab.wait("document.querySelector('#pending')", "the pending page").await;
}

/// Makes an API key named `name` on the API keys page: the key, as shown once.
pub(crate) async fn new_key_in_page(tab: &Tab, name: &str) -> String {
    tab.click("nav a[href='/keys']").await;
    tab.type_into("#key-name", name).await;
    tab.click("form button[type=submit]").await;
    let key = tab.wait("document.querySelector('#new-key-value')?.value", "the new API key").await;
    key.as_str().expect("key").to_owned()
}
