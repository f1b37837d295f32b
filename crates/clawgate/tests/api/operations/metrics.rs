//! `/metrics` (Prometheus text format) on METRICS_ADDR: off by default, never on the public port;
//! requests counted by route template, decisions by outcome and by who decided, waiting agents,
//! pending requests, the database's commits. The text is parsed here, not grepped.

use crate::harness::serve::{clawgate, free_port};
use crate::harness::{Auth, TestApp, on_both_backends};
use clawgate::config::Backend;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

on_both_backends!(
    counters_move_by_exactly_what_happened,
    expiries_and_the_kill_switch_are_counted,
    push_deliveries_are_counted_by_result,
    only_the_metrics_port_serves_metrics,
);

/// One sample line: its name, labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed: every sample, and each family's declared type.
#[derive(Debug)]
struct Scrape {
    samples: Vec<Sample>,
    types: HashMap<String, String>,
}

/// Parses the text format 0.0.4 strictly enough to catch what Prometheus would refuse: every
/// sample belongs to a family whose HELP and TYPE came first, label values are quoted and
/// escaped, values are numbers.
fn parse(text: &str) -> Scrape {
    let mut types = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().expect("HELP names a metric");
            assert!(helped.insert(name.to_owned()), "HELP given twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().expect("name"), parts.next().expect("type"));
            assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "TYPE twice for {name}");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => panic!("a sample without a value: {line:?}"),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name {name:?}"
        );
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(after) = rest.strip_prefix('{') {
            let mut chars = after.char_indices().peekable();
            let end;
            loop {
                // label name
                let start = chars.peek().map(|(i, _)| *i).expect("label");
                let mut eq = None;
                for (i, c) in chars.by_ref() {
                    if c == '=' {
                        eq = Some(i);
                        break;
                    }
                    assert!(c.is_ascii_alphanumeric() || c == '_', "bad label name in {line:?}");
                }
                let eq = eq.expect("label=");
                let label = after[start..eq].to_owned();
                assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "label value is quoted: {line:?}");
                let mut value = String::new();
                loop {
                    match chars.next().expect("closing quote") {
                        (_, '\\') => match chars.next().expect("escape").1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            other => panic!("bad escape \\{other} in {line:?}"),
                        },
                        (_, '"') => break,
                        (_, '\n') => panic!("raw newline in a label value"),
                        (_, c) => value.push(c),
                    }
                }
                assert!(labels.insert(label, value).is_none(), "a label given twice: {line:?}");
                match chars.next().expect("`,` or `}`") {
                    (_, ',') => continue,
                    (i, '}') => {
                        end = i;
                        break;
                    }
                    (_, c) => panic!("unexpected {c:?} in {line:?}"),
                }
            }
            rest = &after[end + 1..];
        }
        let value = rest.strip_prefix(' ').expect("one space before the value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("not a number: {v:?} in {line:?}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")))
            .unwrap_or(name);
        assert!(types.contains_key(family) && helped.contains(family), "{name} has no HELP/TYPE before it");
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    Scrape { samples, types }
}

impl Scrape {
    /// The value of the one sample `name` whose labels include `labels` (0 when there is none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert!(found.len() <= 1, "{name} {labels:?} matches {} samples", found.len());
        found.first().map_or(0.0, |s| s.value)
    }

    /// Every value the label `label` takes in `name`.
    fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.samples.iter().filter(|s| s.name == name).filter_map(|s| s.labels.get(label).cloned()).collect()
    }

    /// Checks one histogram series (`labels` without `le`): buckets ascending in `le` and never
    /// decreasing, the last `+Inf`, equal to `_count`. Returns the count.
    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        assert_eq!(self.types.get(name).map(String::as_str), Some("histogram"), "{name} is a histogram");
        let matches =
            |s: &&Sample| labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v));
        let buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.name == format!("{name}_bucket"))
            .filter(matches)
            .map(|s| {
                let le = s.labels.get("le").expect("a bucket has le");
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le is a number") };
                (le, s.value)
            })
            .collect();
        assert!(buckets.len() >= 2, "{name} {labels:?} has buckets");
        for pair in buckets.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{name}: le ascending: {buckets:?}");
            assert!(pair[0].1 <= pair[1].1, "{name}: cumulative counts never decrease: {buckets:?}");
        }
        let (last_le, inf) = buckets[buckets.len() - 1];
        assert_eq!(last_le, f64::INFINITY, "{name}: the last bucket is +Inf");
        let count = self.value(&format!("{name}_count"), labels);
        assert_eq!(inf, count, "{name} {labels:?}: +Inf bucket equals _count");
        let sum = self.value(&format!("{name}_sum"), labels);
        assert!(sum >= 0.0 && sum.is_finite(), "{name}: sum {sum}");
        count
    }
}

async fn scrape(http: &reqwest::Client, metrics: &str) -> Scrape {
    let r = http.get(format!("{metrics}/metrics")).send().await.expect("metrics answer");
    assert_eq!(r.status().as_u16(), 200);
    let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    parse(&r.text().await.expect("text"))
}

/// A server with METRICS_ADDR on a free loopback port; the metrics base URL.
async fn spawn(backend: Backend) -> Option<(TestApp, String)> {
    let port = free_port();
    let app =
        TestApp::spawn_with(backend, |args| args.metrics_addr = Some(format!("127.0.0.1:{port}"))).await?;
    Some((app, format!("http://127.0.0.1:{port}")))
}

/// Scrapes until `what` holds, bounded.
async fn until(http: &reqwest::Client, metrics: &str, what: impl Fn(&Scrape) -> bool) -> Scrape {
    let started = Instant::now();
    loop {
        let s = scrape(http, metrics).await;
        if what(&s) {
            return s;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "metrics never showed what was expected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const REQUESTS: &str = "clawgate_http_requests_total";
const DECISIONS: &str = "clawgate_decisions_total";

async fn counters_move_by_exactly_what_happened(backend: Backend) {
    let Some((app, metrics)) = spawn(backend).await else { return };
    let http = reqwest::Client::new();
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let agent = Auth::Bearer(key.clone());
    let before = scrape(&http, &metrics).await;
    assert_eq!(before.value("clawgate_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert_eq!(before.value("clawgate_pending_requests", &[]), 0.0);
    assert_eq!(before.value("clawgate_waiting_agents", &[]), 0.0);
    let decided: Vec<f64> = before.samples.iter().filter(|s| s.name == DECISIONS).map(|s| s.value).collect();
    assert_eq!(decided, vec![0.0; 7], "nothing decided yet: every series is there, at 0");

    // A request, approved with the passkey; one status read.
    let asked = app.ask(&key, "deploy v1").await;
    let s = scrape(&http, &metrics).await;
    assert_eq!(s.value("clawgate_pending_requests", &[]), 1.0);
    app.approve(&asked.id, &mut ada.key).await.expect(200);
    app.status(&key, &asked.id).await.expect(200);

    // A second request, denied by the person while the agent waits on it.
    let second = app.ask(&key, "deploy v2").await;
    let wait = {
        let req = app
            .http
            .get(app.url(&format!("/api/v1/approval/status/{}?wait=30", second.id)))
            .bearer_auth(&key);
        tokio::spawn(async move { req.send().await.expect("sent").status().as_u16() })
    };
    until(&http, &metrics, |s| s.value("clawgate_waiting_agents", &[]) == 1.0).await;
    app.deny(&ada, &second.id).await.expect(200);
    assert_eq!(wait.await.expect("the wait ends"), 200);

    // Gate calls: the default rules allow `ls`; a rule denies curl.
    app.post("/api/v1/gate", &agent, json!({"tool": "Bash", "input": {"command": "ls -la"}}))
        .await
        .expect(200);
    app.save_rules(
        &ada,
        json!({"default": "allow", "rules": [{"outcome": "deny", "tool": "Bash", "command": "curl*"}]}),
    )
    .await;
    let denied = app
        .post("/api/v1/gate", &agent, json!({"tool": "Bash", "input": {"command": "curl x"}}))
        .await
        .expect(200);
    assert_eq!(denied.body["decision"], "deny");

    // Two paths no route knows.
    app.get("/api/v1/no-such-thing/12345", &Auth::None).await.expect(404);
    app.get("/nope-98765", &Auth::None).await.expect(404);

    let after = until(&http, &metrics, |s| s.value("clawgate_waiting_agents", &[]) == 0.0).await;
    let moved = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
    let req = |route: &str, method: &str, status: &str| {
        moved(REQUESTS, &[("route", route), ("method", method), ("status", status)])
    };
    assert_eq!(req("/api/v1/approval/request", "POST", "201"), 2.0);
    assert_eq!(req("/api/v1/approval/status/{id}", "GET", "200"), 2.0, "the read and the long poll");
    assert_eq!(req("/api/v1/approval/deny/{id}", "POST", "200"), 1.0);
    assert_eq!(req("/api/v1/gate", "POST", "200"), 2.0);
    assert_eq!(req("unmatched", "GET", "404"), 2.0);
    // The route is always a template: no request id, no made-up path, ever becomes a label.
    for route in after.label_values(REQUESTS, "route") {
        assert!(!route.contains("req_") && !route.contains("12345") && !route.contains("98765"), "{route}");
    }
    let dec = |outcome: &str, by: &str| moved(DECISIONS, &[("outcome", outcome), ("decided_by", by)]);
    assert_eq!(dec("approved", "passkey"), 1.0);
    assert_eq!(dec("denied", "person"), 1.0);
    assert_eq!(dec("approved", "rule"), 1.0);
    assert_eq!(dec("denied", "rule"), 1.0);
    for (outcome, by) in [("approved", "grant"), ("denied", "stop"), ("expired", "expiry")] {
        assert_eq!(dec(outcome, by), 0.0, "{outcome} by {by}");
    }
    assert_eq!(after.value("clawgate_pending_requests", &[]), 0.0);

    // Histograms: well-formed, and counting what was counted.
    for route in after.label_values(REQUESTS, "route") {
        let total: f64 = after
            .samples
            .iter()
            .filter(|s| s.name == REQUESTS && s.labels.get("route") == Some(&route))
            .map(|s| s.value)
            .sum();
        let timed = after.histogram("clawgate_http_request_duration_seconds", &[("route", &route)]);
        assert_eq!(timed, total, "{route}: every request counted is timed");
    }
    let waited = after
        .value("clawgate_http_request_duration_seconds_sum", &[("route", "/api/v1/approval/status/{id}")]);
    assert!(waited > 0.0, "the long poll's wait is in the duration");
    let commits = after.histogram("clawgate_store_commit_seconds", &[]);
    let batches = after.histogram("clawgate_store_batch_size", &[]);
    assert_eq!(commits, batches, "each commit has one size");
    assert!(commits > before.histogram("clawgate_store_commit_seconds", &[]), "the writes were committed");
    after.histogram("clawgate_store_batch_size", &[]);
    for result in ["sent", "gone", "failed"] {
        assert_eq!(
            after.value("clawgate_push_deliveries_total", &[("result", result)]),
            0.0,
            "no browser subscribed"
        );
    }
    assert_eq!(after.types.get(REQUESTS).map(String::as_str), Some("counter"));
    assert_eq!(after.types.get("clawgate_waiting_agents").map(String::as_str), Some("gauge"));
}

async fn expiries_and_the_kill_switch_are_counted(backend: Backend) {
    let Some((app, metrics)) = spawn(backend).await else { return };
    let http = reqwest::Client::new();
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let before = scrape(&http, &metrics).await;
    let lapsing = app.ask(&key, "deploy v1").await;
    app.clock.advance_ms(301_000);
    let read = app.status(&key, &lapsing.id).await.expect(200);
    assert_eq!(read.body["status"], "EXPIRED");
    app.ask(&key, "deploy v2").await;
    app.ask(&key, "deploy v3").await;
    let s = scrape(&http, &metrics).await;
    assert_eq!(s.value("clawgate_pending_requests", &[]), 2.0, "the lapsed one is not pending");
    app.post("/api/v1/stop", &ada.auth(), json!({})).await.expect(200);
    let after = scrape(&http, &metrics).await;
    let dec = |outcome: &str, by: &str| {
        let labels = [("outcome", outcome), ("decided_by", by)];
        after.value(DECISIONS, &labels) - before.value(DECISIONS, &labels)
    };
    assert_eq!(dec("expired", "expiry"), 1.0);
    assert_eq!(dec("denied", "stop"), 2.0, "one per request the stop denied");
    assert_eq!(dec("denied", "person"), 0.0);
    assert_eq!(after.value("clawgate_pending_requests", &[]), 0.0);
}

/// A push service on loopback: `/ok` accepts, `/gone` says the subscription is gone, `/fail`
/// fails. Its base URL.
async fn push_service() -> String {
    use axum::http::StatusCode;
    use axum::routing::post;
    let router = axum::Router::new()
        .route("/ok", post(|| async { StatusCode::CREATED }))
        .route("/gone", post(|| async { StatusCode::GONE }))
        .route("/fail", post(|| async { StatusCode::INTERNAL_SERVER_ERROR }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

async fn push_deliveries_are_counted_by_result(backend: Backend) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let port = free_port();
    let Some(app) = TestApp::spawn_with(backend, |args| {
        args.metrics_addr = Some(format!("127.0.0.1:{port}"));
        args.push_allow_http_loopback = true;
    })
    .await
    else {
        return;
    };
    let metrics = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let service = push_service().await;
    let browser = p256::SecretKey::from_slice(&[7u8; 32]).expect("a P-256 key").public_key();
    let keys = json!({
        "p256dh": URL_SAFE_NO_PAD.encode(browser.to_encoded_point(false).as_bytes()),
        "auth": URL_SAFE_NO_PAD.encode([7u8; 16]),
    });
    for path in ["/ok", "/gone", "/fail"] {
        let body = json!({"endpoint": format!("{service}{path}"), "expirationTime": null, "keys": keys});
        app.post("/api/v1/push/subscribe", &ada.auth(), body).await.expect(201);
    }
    app.ask(&key, "deploy v1").await;
    let pushed = |s: &Scrape, result: &str| s.value("clawgate_push_deliveries_total", &[("result", result)]);
    let s = until(&http, &metrics, |s| ["sent", "gone", "failed"].iter().all(|r| pushed(s, r) >= 1.0)).await;
    for result in ["sent", "gone", "failed"] {
        assert_eq!(pushed(&s, result), 1.0, "one push {result}");
    }
}

async fn only_the_metrics_port_serves_metrics(backend: Backend) {
    let Some((app, metrics)) = spawn(backend).await else { return };
    let http = reqwest::Client::new();
    app.get("/metrics", &Auth::None).await.expect(404);
    let other = http.get(format!("{metrics}/api/v1/health")).send().await.expect("answer");
    assert_eq!(other.status().as_u16(), 404, "the metrics port serves nothing else");
    // The public port's 404 for /metrics is counted like any unmatched path.
    let s = scrape(&http, &metrics).await;
    assert_eq!(s.value(REQUESTS, &[("route", "unmatched"), ("method", "GET"), ("status", "404")]), 1.0);
}

/// A bad or busy METRICS_ADDR stops the start, before the server says it listens, with words
/// that name it.
#[test]
fn metrics_addr_is_checked_at_start() {
    let refuse = |addr: &str| {
        let dir = tempfile::tempdir().expect("dir");
        let mut cmd = clawgate(dir.path());
        cmd.arg("serve").env("PORT", free_port().to_string()).env("METRICS_ADDR", addr);
        let out = cmd.output().expect("run");
        assert!(!out.status.success(), "clawgate must refuse METRICS_ADDR={addr}");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(!said.contains("clawgate is listening"), "refused before listening: {said}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let bad = refuse("localhost");
    assert!(bad.contains("METRICS_ADDR") && bad.contains("127.0.0.1:9464"), "{bad}");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let taken = refuse(&format!("127.0.0.1:{port}"));
    assert!(taken.contains("cannot listen for metrics on METRICS_ADDR"), "{taken}");
}

/// The binary serves metrics on METRICS_ADDR and says where.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_metrics_where_it_says() {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let metrics_port = std::iter::repeat_with(free_port).find(|p| *p != port).expect("another free port");
    let mut cmd = clawgate(dir.path());
    cmd.env("PORT", port.to_string()).env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"));
    let server = crate::harness::serve::Server::start(cmd, port);
    let http = reqwest::Client::new();
    let s = scrape(&http, &format!("http://127.0.0.1:{metrics_port}")).await;
    assert_eq!(s.value("clawgate_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    let public = http.get(format!("{}/metrics", server.base)).send().await.expect("answer");
    assert_eq!(public.status().as_u16(), 404);
    let said = server.stop();
    assert!(said.contains(&format!("metrics at http://127.0.0.1:{metrics_port}/metrics")), "{said}");
}

/// The metrics port goes through the same accept loop as the public one: a client that connects
/// and says nothing is closed at the header deadline, so it cannot hold the server's files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_of_the_metrics_port_is_closed() {
    use tokio::io::AsyncReadExt;
    let port = free_port();
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |args| {
        args.metrics_addr = Some(format!("127.0.0.1:{port}"));
        args.header_timeout_seconds = 1;
    })
    .await
    else {
        return;
    };
    // The server binds the metrics port before its accept loop starts: once the public port has
    // answered, the metrics port is open.
    app.get("/health", &Auth::None).await.expect(200);
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let mut byte = [0u8; 1];
    // Bounded far above the 1 s deadline: only a server that never closes runs into it.
    let read = tokio::time::timeout(Duration::from_secs(20), silent.read(&mut byte)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the metrics port kept a silent connection open: {read:?}"
    );
}
