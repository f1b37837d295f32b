//! kill -9 of the server binary under a load of creates and denials (SQLite).

use super::*;

const KILL9_CLIENTS: usize = 200;
const KILL9_AFTER_ACKS: usize = 100;
const KILL9_AFTER_DENIALS: usize = 10;

#[derive(Default)]
struct Kill9Log {
    /// (action, outcome, request id when acknowledged)
    creates: Vec<(String, Outcome, Option<String>)>,
    /// (request id, outcome)
    denials: Vec<(String, Outcome)>,
}

struct Kill9Load {
    http: reqwest::Client,
    base: String,
    api_key: String,
    session: String,
    log: Mutex<Kill9Log>,
    acks: AtomicUsize,
    denials_acked: AtomicUsize,
    in_flight: AtomicUsize,
    kill_due: AtomicBool,
    killed: AtomicBool,
    kill_now: tokio::sync::Notify,
}

impl Kill9Load {
    /// Once enough is acknowledged of both kinds, the kill is due (while the rest is in flight).
    fn kill_when_due(&self) {
        if self.acks.load(Ordering::SeqCst) >= KILL9_AFTER_ACKS
            && self.denials_acked.load(Ordering::SeqCst) >= KILL9_AFTER_DENIALS
            && !self.kill_due.swap(true, Ordering::SeqCst)
        {
            self.kill_now.notify_one();
        }
    }

    /// One client: creates, one after another, denying every other request acknowledged to
    /// anyone, until the server is gone.
    async fn client(self: Arc<Self>, client: usize) {
        for i in 0..50 {
            if self.killed.load(Ordering::SeqCst) {
                return;
            }
            let action = format!("kill9 {client}-{i}");
            let req =
                self.http.post(format!("{}/api/v1/approval/request", self.base)).bearer_auth(&self.api_key);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let answer = send(req.json(&json!({ "action": action, "agentId": "loader" }))).await;
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let answer = match answer {
                Ok(a) => a,
                Err(_) => {
                    self.log.lock().expect("log").creates.push((action, Outcome::Unknown, None));
                    return;
                }
            };
            if answer.status != 201 {
                self.log.lock().expect("log").creates.push((action, Outcome::Refused, None));
                continue;
            }
            let id = answer.body["requestId"].as_str().expect("requestId").to_owned();
            self.log.lock().expect("log").creates.push((action, Outcome::Done, Some(id.clone())));
            let acked = self.acks.fetch_add(1, Ordering::SeqCst) + 1;
            self.kill_when_due();
            if acked.is_multiple_of(2) {
                let req = self
                    .http
                    .post(format!("{}/api/v1/approval/deny/{id}", self.base))
                    .bearer_auth(&self.session);
                self.in_flight.fetch_add(1, Ordering::SeqCst);
                let denied = send(req.json(&json!({ "reason": "load" }))).await;
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                let outcome = match &denied {
                    Ok(a) if a.status == 200 => {
                        self.denials_acked.fetch_add(1, Ordering::SeqCst);
                        self.kill_when_due();
                        Outcome::Done
                    }
                    Ok(_) => Outcome::Refused,
                    Err(_) => Outcome::Unknown,
                };
                self.log.lock().expect("log").denials.push((id, outcome));
                if outcome == Outcome::Unknown {
                    return;
                }
            }
        }
    }
}

/// 200 clients create requests (and deny some) on the real binary; SIGKILL strikes once 100
/// creates and 10 denials are acknowledged, with the rest in flight. After a restart every
/// acknowledged create exists exactly once, every acknowledged denial holds, nothing refused
/// happened, nothing is half-done (a request without its audit row or the reverse), and SQLite's
/// integrity check passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_no_acknowledged_write() {
    // A person and a key, written by an in-process server that is then stopped.
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let ada = app.person("ada@example.com").await;
    let api_key = app.api_key(&ada).await;
    let origin = app.origin.clone();
    let db = app.stop().await;

    // The real binary on that database, with the same public origin (so the session verifies).
    let port = free_port();
    let data_dir = db.dir.path().display().to_string();
    let mut server = Clawgate::start(&server_env(port, &origin, ("DATA_DIR", data_dir)));
    let load = Arc::new(Kill9Load {
        http: http_client(),
        base: server.base.clone(),
        api_key: api_key.clone(),
        session: ada.session.clone(),
        log: Mutex::default(),
        acks: AtomicUsize::new(0),
        denials_acked: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        kill_due: AtomicBool::new(false),
        killed: AtomicBool::new(false),
        kill_now: tokio::sync::Notify::new(),
    });
    let clients: Vec<_> = (0..KILL9_CLIENTS).map(|c| tokio::spawn(load.clone().client(c))).collect();
    tokio::time::timeout(Duration::from_secs(60), load.kill_now.notified()).await.unwrap_or_else(|_| {
        panic!(
            "{KILL9_AFTER_ACKS} creates and {KILL9_AFTER_DENIALS} denials acknowledged within 60 s\n{}",
            server.output()
        )
    });
    let in_flight_at_kill = load.in_flight.load(Ordering::SeqCst);
    server.kill9();
    load.killed.store(true, Ordering::SeqCst);
    for c in clients {
        tokio::time::timeout(Duration::from_secs(30), c).await.expect("clients end").expect("client");
    }
    drop(server);

    // A new process on the same files.
    let app = TestApp::spawn_on(db, |a| {
        a.rp_origin = Some(origin);
        a.max_pending_per_key = 0;
    })
    .await;
    let pool = app.state.db.pool();
    let integrity: String =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_one(pool).await.expect("pragma");
    assert_eq!(integrity, "ok");
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.expect("pragma");
    assert_eq!(sync, 2, "synchronous = FULL");
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, action, status FROM approval_requests")
            .fetch_all(pool)
            .await
            .expect("rows");
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT request_id, event FROM audit_events WHERE request_id IS NOT NULL")
            .fetch_all(pool)
            .await
            .expect("audit");

    let log = std::mem::take(&mut *load.log.lock().expect("log"));
    let by_action: HashMap<&str, (&str, &str)> =
        rows.iter().map(|(id, action, status)| (action.as_str(), (id.as_str(), status.as_str()))).collect();
    assert_eq!(by_action.len(), rows.len(), "no action was stored twice");
    let attempted: BTreeSet<&str> = log.creates.iter().map(|(a, _, _)| a.as_str()).collect();
    for (id, action, _) in &rows {
        assert!(attempted.contains(action.as_str()), "{id} ({action}) was never asked for");
    }
    let count = |o: Outcome| log.creates.iter().filter(|(_, out, _)| *out == o).count();
    for (action, outcome, id) in &log.creates {
        match outcome {
            Outcome::Done => {
                let id = id.as_deref().expect("id");
                assert_eq!(
                    by_action.get(action.as_str()).map(|r| r.0),
                    Some(id),
                    "acknowledged {action} is lost"
                );
            }
            Outcome::Refused => {
                assert!(!by_action.contains_key(action.as_str()), "refused {action} was stored")
            }
            Outcome::Unknown => {}
        }
    }
    let status_of: HashMap<&str, &str> = rows.iter().map(|(id, _, s)| (id.as_str(), s.as_str())).collect();
    for (id, outcome) in &log.denials {
        match outcome {
            Outcome::Done => {
                assert_eq!(status_of.get(id.as_str()), Some(&"DENIED"), "acknowledged denial of {id}")
            }
            Outcome::Refused => {
                assert_ne!(status_of.get(id.as_str()), Some(&"DENIED"), "refused denial of {id}")
            }
            Outcome::Unknown => {}
        }
    }
    // Nothing half-done: each request has exactly its events, and each event its request.
    let mut events: HashMap<&str, Vec<&str>> = HashMap::new();
    for (request, event) in &audit {
        assert!(
            status_of.contains_key(request.as_str()),
            "an audit row for a request that is not there: {request}"
        );
        events.entry(request.as_str()).or_default().push(event.as_str());
    }
    for (id, _, status) in &rows {
        let mut got = events.remove(id.as_str()).unwrap_or_default();
        got.sort_unstable();
        let want: Vec<&str> = match status.as_str() {
            "PENDING" => vec!["request.created"],
            "DENIED" => vec!["request.created", "request.denied"],
            other => panic!("{id} is {other}; nothing but denials decided anything"),
        };
        assert_eq!(got, want, "{id} is {status}");
    }
    // And the server says the same as its tables.
    for (id, outcome) in log.denials.iter().filter(|(_, o)| *o == Outcome::Done) {
        let one = app.get(&format!("/api/v1/approval/{id}"), &ada.auth()).await.expect(200);
        assert_eq!(one.body["status"], "DENIED", "{id} after restart: {outcome:?}");
    }
    app.get("/api/v1/auth/me", &ada.auth()).await.expect(200);
    app.ask(&api_key, "after the crash").await;

    let denials_done = log.denials.iter().filter(|(_, o)| *o == Outcome::Done).count();
    let denials_unknown = log.denials.iter().filter(|(_, o)| *o == Outcome::Unknown).count();
    let denied = rows.iter().filter(|(_, _, s)| s == "DENIED").count();
    eprintln!(
        "kill -9 under load (SQLite): {} creates sent by {KILL9_CLIENTS} clients, {} acknowledged, {} \
         refused, {in_flight_at_kill} requests in flight at the kill ({} creates unanswered); found after \
         restart: {} requests ({} of the unanswered had committed); denials: {denials_done} acknowledged, \
         {denials_unknown} unanswered, {denied} DENIED found; integrity_check ok",
        log.creates.len(),
        count(Outcome::Done),
        count(Outcome::Refused),
        count(Outcome::Unknown),
        rows.len(),
        rows.len() - count(Outcome::Done),
    );
}
