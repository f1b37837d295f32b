//! A real clawgate server per test, on a loopback port, over SQLite or PostgreSQL, with a clock
//! the test moves by hand; and small typed helpers for the calls the tests make.

use clawgate::app::{self, AppState};
use clawgate::clock::Clock;
use clawgate::clock::{ManualClock, SystemClock};
use clawgate::config::ServeArgs;
use clawgate::config::{Backend, Settings};
use clawgate_testkit::SoftKey;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::{OnceCell, oneshot};

pub mod browser;
pub mod cli;
pub mod concurrency;
pub mod evidence;
pub mod grants;
pub mod mcp;
pub mod openclaw;
pub mod push;
pub mod repo;
pub mod serve;
pub mod waiting;

/// A child process's output as it comes: each line parsed as JSON (or kept as a string), so a
/// test waits on what the process says rather than on a clock.
pub fn json_lines(
    output: impl std::io::Read + Send + 'static,
) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    use std::io::BufRead;
    let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(output).lines().map_while(Result::ok) {
            let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    lines
}

/// The test venv's Python if it can `import module`, or `None` (skip, saying so) when there is
/// none and none is required. scripts/test prepares target/test-venv and sets CLAWGATE_TEST_PYTHON;
/// CLAWGATE_REQUIRE_PUSH_TESTS=1 (CI) makes a missing one a failure.
pub fn test_python(module: &str, tests: &str) -> Option<std::path::PathBuf> {
    use std::process::{Command, Stdio};
    let configured = std::env::var_os("CLAWGATE_TEST_PYTHON").map(std::path::PathBuf::from);
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python");
    let python = configured.or_else(|| venv.exists().then_some(venv));
    let usable = python.as_ref().is_some_and(|p| {
        let import = format!("import {module}");
        Command::new(p).args(["-c", &import]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    });
    if usable {
        return python;
    }
    let required = std::env::var("CLAWGATE_REQUIRE_PUSH_TESTS").is_ok_and(|v| v == "1" || v == "true");
    assert!(
        !required,
        "CLAWGATE_REQUIRE_PUSH_TESTS is set but there is no test Python with `{module}` ({python:?}): run \
         scripts/test (it prepares target/test-venv) or set CLAWGATE_TEST_PYTHON"
    );
    skip(
        &current_test(),
        &format!("no test Python with `{module}` (CLAWGATE_TEST_PYTHON, target/test-venv) for {tests}"),
    );
    None
}

/// The env var scripts/test sets to the file skipped tests are listed in (one line each).
pub const SKIP_LOG_ENV: &str = "CLAWGATE_SKIP_LOG";

/// Says that `test` is skipped and why: on stderr (which cargo shows only for failures) and, when
/// scripts/test set CLAWGATE_SKIP_LOG, as one line appended to that file, which the script lists
/// after the run. Tests run in parallel: each line is one `write` to a file opened for appending,
/// so lines never interleave.
pub fn skip(test: &str, reason: &str) {
    let line = format!("{test}: {}\n", reason.replace('\n', " "));
    eprint!("note: SKIPPED {line}");
    let Some(path) = std::env::var_os(SKIP_LOG_ENV) else { return };
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("note: cannot record the skip in {}: {e}", std::path::Path::new(&path).display());
    }
}

/// The running test's name: libtest names each test's thread after it, and `#[tokio::test]`
/// bodies run on that thread.
pub fn current_test() -> String {
    std::thread::current().name().unwrap_or("an unnamed test").to_owned()
}

/// PostgreSQL that tests create their databases in. Override with CLAWGATE_TEST_POSTGRES_URL.
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn postgres_admin_url() -> String {
    std::env::var("CLAWGATE_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned())
}

/// Whether PostgreSQL must be there (CI sets CLAWGATE_REQUIRE_POSTGRES=1).
fn postgres_required() -> bool {
    std::env::var("CLAWGATE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

static POSTGRES_REACHABLE: OnceCell<bool> = OnceCell::const_new();

async fn postgres_reachable() -> bool {
    *POSTGRES_REACHABLE
        .get_or_init(|| async {
            use sqlx::Connection;
            let ok = sqlx::PgConnection::connect(&postgres_admin_url()).await.is_ok();
            if !ok {
                assert!(
                    !postgres_required(),
                    "CLAWGATE_REQUIRE_POSTGRES is set but PostgreSQL is unreachable at {}",
                    postgres_admin_url()
                );
            }
            ok
        })
        .await
}

/// Settings as `clawgate serve` would have them with nothing configured, on `port`, but for
/// what tests need: quieter logs, room for many sign-ins, and the local clock (tests move a
/// manual clock; the database's would undo that).
pub fn default_args(data_dir: &std::path::Path, port: u16) -> ServeArgs {
    let (dir, port) = (data_dir.to_string_lossy(), port.to_string());
    let quiet = ["--log-level", "warn", "--auth-rate-limit", "1000", "--clock-source", "local"];
    let flags = [&["--data-dir", &*dir, "--port", &port][..], &quiet].concat();
    ServeArgs::from_flags(&flags).expect("the test flags parse")
}

/// A database for one test: a temp folder for SQLite, or a fresh PostgreSQL database (dropped at
/// the end). `share` gives a second server the same database, as a second instance would have.
pub struct TestDb {
    pub backend: Backend,
    pub dir: TempDir,
    pub url: Option<String>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Some(Self { backend, dir, url: None, pg_name: None }),
            Backend::Postgres => {
                if !postgres_reachable().await {
                    // Every test that needs it says so, not only the first to find it missing.
                    let reason = format!("PostgreSQL is unreachable at {}", postgres_admin_url());
                    skip(&current_test(), &reason);
                    return None;
                }
                let name = format!("clawgate_test_{}", random_suffix());
                admin_exec(&format!("CREATE DATABASE {name}")).await;
                let mut url = url::Url::parse(&postgres_admin_url()).expect("postgres URL");
                url.set_path(&name);
                Some(Self { backend, dir, url: Some(url.to_string()), pg_name: Some(name) })
            }
        }
    }

    /// The same database for another server; the original stays the owner.
    pub fn share(&self) -> Self {
        let url = match self.backend {
            Backend::Sqlite => {
                Some(format!("sqlite://{}?mode=rwc", self.dir.path().join("clawgate.db").display()))
            }
            Backend::Postgres => self.url.clone(),
        };
        Self { backend: self.backend, dir: tempfile::tempdir().expect("temp dir"), url, pg_name: None }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // A runtime of its own: Drop cannot await, and the test's runtime may be shutting down.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    rt.block_on(admin_exec(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")));
                }
            })
            .join();
        }
    }
}

async fn admin_exec(sql: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(&postgres_admin_url()).await.expect("connect to PostgreSQL");
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.expect("admin statement");
    let _ = conn.close().await;
}

fn random_suffix() -> String {
    let bytes: [u8; 8] = rand_bytes();
    hex_lower(&bytes)
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("OS randomness");
    b
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One running server.
pub struct TestApp {
    /// Where to send requests (`http://127.0.0.1:PORT`).
    pub base: String,
    /// The WebAuthn origin (`http://localhost:PORT`).
    pub origin: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub state: Arc<AppState>,
    db: Option<TestDb>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Who is calling.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    /// `Authorization: Bearer …` (a session token, or an agent key).
    Bearer(String),
    /// `X-API-Key: …`
    ApiKey(String),
}

/// A response: status, headers and the JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// Fails the test if the answer breaks the wire contract (see `crate::contract`).
    pub fn held_to_contract(&self, method: &Method, path: &str) {
        let content_type = self.headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        crate::contract::check(method, path, self.status.as_u16(), content_type, &self.body);
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self
    }

    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        assert_eq!(self.code(), code, "unexpected error code; body: {}", self.text);
        assert!(
            self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error explains itself in words: {}",
            self.text
        );
        self
    }
}

/// A person with an account, a passkey session and the authenticator holding their passkey.
pub struct Person {
    pub email: String,
    pub user_id: String,
    pub session: String,
    pub key: SoftKey,
}

impl Person {
    pub fn auth(&self) -> Auth {
        Auth::Bearer(self.session.clone())
    }
}

/// An agent request as created.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub binding_code: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server with settings changed by `tweak` (registration mode, token lifetime, …).
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut ServeArgs)) -> Option<Self> {
        let db = TestDb::new(backend).await?;
        Some(Self::spawn_on(db, tweak).await)
    }

    pub async fn spawn_on(db: TestDb, tweak: impl FnOnce(&mut ServeArgs)) -> Self {
        Self::spawn_on_port(db, 0, tweak).await
    }

    /// A server on `port` (0: any free one). The same port again after [`TestApp::stop`] is the
    /// same server restarted, as a browser that stays on its page sees it.
    pub async fn spawn_on_port(db: TestDb, port: u16, tweak: impl FnOnce(&mut ServeArgs)) -> Self {
        app::install_tls_provider();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        let mut args = default_args(db.dir.path(), port);
        args.db.database_url = db.url.clone();
        tweak(&mut args);
        let settings = Settings::from_args(&args).expect("test settings are valid");
        let origin = settings.rp_origin.origin().ascii_serialization();
        let clock = ManualClock::new(SystemClock.now_ms());
        let state = app::build_state(settings, Arc::new(clock.clone())).await.expect("server state");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://127.0.0.1:{port}"),
            origin,
            http: reqwest::Client::builder().build().expect("http client"),
            clock,
            state,
            db: Some(db),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server (finishing requests in flight) and hands back its database.
    pub async fn stop(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        // Nothing else may hold the pool open once the server is gone.
        self.state.db.close().await;
        self.db.take().expect("the database is handed back once")
    }

    /// Another server on the same database, as a second instance behind a load balancer.
    pub async fn second_instance(&self) -> TestApp {
        self.second_instance_with(|_| {}).await
    }

    /// Another server on the same database, with settings changed by `tweak`.
    pub async fn second_instance_with(&self, tweak: impl FnOnce(&mut ServeArgs)) -> TestApp {
        let db = self.db.as_ref().expect("the database is still here").share();
        let origin = self.origin.clone();
        TestApp::spawn_on(db, |args| {
            args.rp_origin = Some(origin);
            tweak(args);
        })
        .await
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the base URL")
    }

    pub fn backend(&self) -> Backend {
        self.state.db.backend()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn call(&self, method: Method, path: &str, auth: &Auth, body: Option<&Value>) -> Resp {
        let verb = method.clone();
        let mut req = self.http.request(method, self.url(path));
        req = match auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::ApiKey(k) => req.header("x-api-key", k),
        };
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = into_resp(req.send().await.expect("request reaches the server")).await;
        resp.held_to_contract(&verb, path);
        resp
    }

    /// A POST as if from client `ip` (`X-Forwarded-For`: the server must trust it, see
    /// `trust_forwarded_for`), for tests that tell clients apart.
    pub async fn post_from(&self, ip: &str, path: &str, body: Value) -> Resp {
        let r = self.http.post(self.url(path)).header("x-forwarded-for", ip).json(&body).send().await;
        let resp = into_resp(r.expect("request reaches the server")).await;
        resp.held_to_contract(&Method::POST, path);
        resp
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Resp {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.call(Method::POST, path, auth, Some(&body)).await
    }

    pub async fn put(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.call(Method::PUT, path, auth, Some(&body)).await
    }

    pub async fn delete(&self, path: &str, auth: &Auth) -> Resp {
        self.call(Method::DELETE, path, auth, None).await
    }

    /// `POST /auth/register`: an email session token.
    pub async fn register(&self, email: &str) -> (String, String) {
        let r = self.post("/api/v1/auth/register", &Auth::None, json!({ "email": email })).await.expect(201);
        (
            r.body["token"].as_str().expect("token").to_owned(),
            r.body["user"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// Starts and completes adding a passkey held by `key`; the response of `register/complete`.
    pub async fn add_passkey(&self, session: &str, key: &mut SoftKey) -> Resp {
        let auth = Auth::Bearer(session.to_owned());
        let start = self.post("/api/v1/passkey/register/start", &auth, json!({})).await.expect(200);
        let credential = key.create(&start.body["publicKey"]).await;
        self.post(
            "/api/v1/passkey/register/complete",
            &auth,
            json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential, "name": "test key" }),
        )
        .await
    }

    /// A new account with one passkey, signed in with it.
    pub async fn person(&self, email: &str) -> Person {
        self.person_with(email, SoftKey::new(&self.origin)).await
    }

    /// A new account whose passkey lives in `key`.
    pub async fn person_with(&self, email: &str, mut key: SoftKey) -> Person {
        let (email_session, user_id) = self.register(email).await;
        let done = self.add_passkey(&email_session, &mut key).await.expect(201);
        assert_eq!(done.body["method"], "passkey");
        Person {
            email: email.to_owned(),
            user_id,
            session: done.body["token"].as_str().expect("token").to_owned(),
            key,
        }
    }

    /// Passkey sign-in (login ceremony): a fresh passkey session.
    pub async fn login(&self, email: Option<&str>, key: &mut SoftKey) -> Resp {
        let body = match email {
            Some(e) => json!({ "email": e }),
            None => json!({}),
        };
        let start = self.post("/api/v1/passkey/authenticate/start", &Auth::None, body).await.expect(200);
        assert_eq!(start.body["purpose"], "login");
        let credential = key.get(&start.body["publicKey"]).await;
        self.post(
            "/api/v1/passkey/authenticate/complete",
            &Auth::None,
            json!({ "ceremonyId": start.body["ceremonyId"], "credential": credential }),
        )
        .await
    }

    /// A new API key for the person.
    pub async fn api_key(&self, person: &Person) -> String {
        let r =
            self.post("/api/v1/auth/api-keys", &person.auth(), json!({ "name": "bot" })).await.expect(201);
        r.body["key"].as_str().expect("key").to_owned()
    }

    /// The agent asks; the request as created.
    pub async fn ask(&self, key: &str, action: &str) -> Created {
        let r = self
            .post(
                "/api/v1/approval/request",
                &Auth::Bearer(key.to_owned()),
                json!({ "action": action, "agentId": "bot" }),
            )
            .await
            .expect(201);
        Created {
            id: r.body["requestId"].as_str().expect("requestId").to_owned(),
            binding_code: r.body["bindingCode"].as_str().expect("bindingCode").to_owned(),
        }
    }

    pub async fn status(&self, key: &str, request_id: &str) -> Resp {
        self.get(&format!("/api/v1/approval/status/{request_id}"), &Auth::Bearer(key.to_owned())).await
    }

    /// `authenticate/start` with `requestId`: the approval ceremony (`ceremonyId`, `publicKey`).
    pub async fn approval_ceremony(&self, request_id: &str) -> Resp {
        self.post("/api/v1/passkey/authenticate/start", &Auth::None, json!({ "requestId": request_id })).await
    }

    /// The whole approval: start the ceremony, sign with `key`, send it.
    pub async fn approve(&self, request_id: &str, key: &mut SoftKey) -> Resp {
        let start = self.approval_ceremony(request_id).await.expect(200);
        assert_eq!(start.body["purpose"], "approve");
        let credential = key.get(&start.body["publicKey"]).await;
        self.send_approval(request_id, &start.body["ceremonyId"], &credential).await
    }

    pub async fn send_approval(&self, request_id: &str, ceremony_id: &Value, credential: &Value) -> Resp {
        self.post(
            &format!("/api/v1/approval/approve/{request_id}"),
            &Auth::None,
            json!({ "ceremonyId": ceremony_id, "credential": credential }),
        )
        .await
    }

    /// Asks with `agent_key` and approves with the person's passkey: the request id and its token.
    pub async fn approved(&self, person: &mut Person, agent_key: &str, action: &str) -> (String, String) {
        let asked = self.ask(agent_key, action).await;
        self.approve(&asked.id, &mut person.key).await.expect(200);
        let status = self.status(agent_key, &asked.id).await.expect(200);
        (asked.id, status.body["token"].as_str().expect("a token once approved").to_owned())
    }

    /// Replaces `who`'s rule set with `rules`, over the version it is at now.
    pub async fn save_rules(&self, who: &Person, rules: Value) {
        let current = self.get("/api/v1/rules", &who.auth()).await.expect(200);
        let version = current.body["version"].clone();
        self.put("/api/v1/rules", &who.auth(), json!({"rules": rules, "expectedVersion": version}))
            .await
            .expect(200);
    }

    /// `POST /approval/verify-token` with this body.
    pub async fn verify(&self, body: Value) -> Resp {
        self.post("/api/v1/approval/verify-token", &Auth::None, body).await.expect(200)
    }

    pub async fn deny(&self, person: &Person, request_id: &str) -> Resp {
        self.post(&format!("/api/v1/approval/deny/{request_id}"), &person.auth(), json!({ "reason": "no" }))
            .await
    }

    /// Runs a statement on the server's own database (for checks a client cannot make).
    pub async fn scalar_i64(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(self.state.db.pool()).await.expect("query")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

pub async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, headers, body, text }
}

/// Runs an async test body against SQLite and against PostgreSQL, as two tests.
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let Some(app) = $crate::harness::TestApp::spawn(clawgate::config::Backend::Sqlite).await else {
                        return;
                    };
                    super::$name(app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some(app) = $crate::harness::TestApp::spawn(clawgate::config::Backend::Postgres).await else {
                        return;
                    };
                    super::$name(app).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_databases;

/// Runs `async fn name(backend: Backend)` on SQLite and on PostgreSQL, as two tests, for tests
/// that start their servers themselves (other settings, several instances, a push service).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(clawgate::config::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(clawgate::config::Backend::Postgres).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;
