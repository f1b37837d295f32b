//! One run: start the server, set up, drive each scenario, measure the ceilings and memory, report.

use crate::actors::{Actors, ask, ask_many, get, post, text};
use crate::memory;
use crate::pgdb::{FreshDb, redacted};
use crate::report::{Machine, Report, Row};
use crate::scenario::{self, Figures};
use crate::server::{GATE_RATE_LIMIT, MAX_PENDING_PER_KEY, Server};
use crate::wrk::{self, Load, Outcome};
use crate::{Settings, ceilings};
use serde_json::json;
use std::sync::Arc;

/// Where the no-DB ceiling is read: the smallest file the server serves (343 bytes, compiled in).
const NO_DB_PATH: &str = "/icon.svg";
/// Two calls the built-in rules decide at once: an allow (by the default) and a deny.
const GATE_ALLOWED: &str = "cargo test --lib";
const GATE_DENIED: &str = "rm -rf /";
/// The gate's everyday case: a short call the built-in rules allow.
const GATE_ROUTINE: &str = "ls -la";
/// The target: p99 ≤ 5 ms at this many decisions a second (open loop).
const GATE_RATE: u32 = 1000;
/// Rate label of the no-DB ceiling in the table.
const NO_DB: &str = "no-DB ceiling";

fn from_wrk(name: &str, o: Outcome) -> Row {
    Row {
        name: name.to_owned(),
        driver: "wrk",
        count: o.requests,
        elapsed: o.elapsed,
        median: o.p50,
        p99: o.p99,
        ratios: Vec::new(),
        non2xx: o.non2xx,
        socket_errors: o.socket_errors,
    }
}

fn from_figures(name: &str, driver: &'static str, f: &Figures) -> Row {
    Row {
        name: name.to_owned(),
        driver,
        count: f.count as u64,
        elapsed: f.elapsed,
        median: f.median,
        p99: f.p99,
        ratios: Vec::new(),
        non2xx: 0,
        socket_errors: 0,
    }
}

/// The command as it was given (settings from the environment; any password hidden).
fn command_line() -> String {
    let mut words = Vec::new();
    for name in ["BENCH_SECONDS", "BENCH_THREADS", "BENCH_CONNECTIONS", "BENCH_CONCURRENCY", "BENCH_WAITERS"]
    {
        if let Ok(v) = std::env::var(name) {
            words.push(format!("{name}={v}"));
        }
    }
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        words.push(format!("BENCH_DATABASE_URL={}", redacted(&url)));
    }
    words.push("scripts/bench".to_owned());
    words.join(" ")
}

pub async fn bench(settings: Settings, open_files: u64) -> anyhow::Result<()> {
    wrk::check().await?;
    let machine = Machine::read();
    let command = command_line();
    println!("clawgate-bench: {} cores ({}); {command}", machine.cores, machine.cpu);
    let fresh = match &settings.database_url {
        Some(url) => Some(FreshDb::create(url).await?),
        None => None,
    };
    let measured = measure(&settings, fresh.as_ref().map(|db| db.url.as_str())).await;
    if let Some(db) = fresh {
        let name = db.name().to_owned();
        match db.drop_it().await {
            Ok(()) => println!("dropped the run's database {name}"),
            Err(e) => eprintln!("could not drop the run's database {name}: {e:#}"),
        }
    }
    let (scenarios, ceilings, idle_kib, waiters, floor, mut notes) = measured?;
    notes.push(format!("open-file limit raised to {open_files} (the server and the bare server inherit it)"));
    let failures: Vec<String> = scenarios
        .iter()
        .filter(|r| r.non2xx > 0 || r.socket_errors > 0)
        .map(|r| format!("{}: {} answers >= 400, {} socket errors", r.name, r.non2xx, r.socket_errors))
        .collect();
    let backend = if settings.database_url.is_some() { "postgres" } else { "sqlite" };
    let report = Report {
        backend: backend.to_owned(),
        machine,
        command,
        settings: json!({
            "seconds": settings.seconds.as_secs(), "wrk_threads": settings.threads,
            "wrk_connections": settings.connections, "reqwest_concurrency": settings.concurrency,
            "waiters": settings.waiters, "max_pending_per_key": MAX_PENDING_PER_KEY,
            "gate_rate_limit": GATE_RATE_LIMIT,
        }),
        scenarios,
        ceilings,
        idle_kib,
        waiters,
        floor,
        notes,
    };
    report.print();
    std::fs::create_dir_all(&settings.results_dir)?;
    let path = settings.results_dir.join(format!("results-{backend}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report.json())?)?;
    println!("results: {}", std::fs::canonicalize(&path)?.display());
    anyhow::ensure!(failures.is_empty(), "answers that were not 2xx:\n  {}", failures.join("\n  "));
    Ok(())
}

type Measured = (Vec<Row>, Vec<Row>, u64, memory::Waiters, memory::Floor, Vec<String>);

async fn measure(settings: &Settings, database_url: Option<&str>) -> anyhow::Result<Measured> {
    let server = Server::start(database_url, settings.waiters).await?;
    println!("server: {} on {}", server.binary, server.backend);
    let actors = Arc::new(Actors::set_up(&server).await?);
    let idle_kib = memory::rss_kib(server.pid()?)?;
    let scripts = tempfile::tempdir()?;
    let load =
        Load { threads: settings.threads, connections: settings.connections, duration: settings.seconds };
    let drive = |name: &'static str, lua: String| {
        let (dir, base, load) = (scripts.path(), server.base(), &load);
        async move {
            println!("running {name} (wrk, {} s)", load.duration.as_secs());
            let outcome = wrk::run(dir, name, &base, &lua, load).await?;
            anyhow::Ok(from_wrk(name, outcome))
        }
    };
    let mut notes = Vec::new();

    let no_db = drive("ceiling", wrk::fixed("GET", NO_DB_PATH, &[], None)?).await?;
    let health = drive("health", wrk::fixed("GET", "/health", &[], None)?).await?;

    let one = vec![actors.key(&server, "create-1").await?];
    let mut sixteen = Vec::new();
    for i in 0..16 {
        sixteen.push(actors.key(&server, &format!("create-16-{i}")).await?);
    }
    let create_one = drive("create-1-key", wrk::create(&one)?).await?;
    let pending = create_one.count - create_one.non2xx;
    let create_sixteen = drive("create-16-keys", wrk::create(&sixteen)?).await?;
    notes.push(format!(
        "create runs with MAX_PENDING_PER_KEY={MAX_PENDING_PER_KEY}: the cap is on and its check (the key's \
         counter of pending requests, read and bumped in the create's own statement) runs on every create; it is set above the \
         run's volume so that no create is refused (the default is 10 per key). Every request created stays \
         pending: the 1-key run started with 0 pending, the 16-key run with {pending}."
    ));

    // The gate: an allow and a deny by the built-in rules, in turn (each recorded with its audit
    // row through the writer's group commit; the allow signs a token).
    let gater = actors.key(&server, "gate").await?;
    let calls = [GATE_ALLOWED, GATE_DENIED].map(|command| {
        json!({"tool": "Bash", "input": {"command": command}, "cwd": "/srv/app", "agentId": "bench"})
            .to_string()
    });
    for (call, expected) in calls.iter().zip(["allow", "deny"]) {
        let answer =
            post(&server.http, server.url("/api/v1/gate"), &gater, serde_json::from_str(call)?).await?;
        anyhow::ensure!(answer["decision"] == expected, "the gate answered {answer} to {call}");
    }
    let gate = drive("gate", wrk::gate(&calls, &gater)?).await?;
    // Allowed calls only, from one key of their own: each is a decision row, its audit row and a
    // signed token.
    let router = actors.key(&server, "gate-allow").await?;
    let routine =
        json!({"tool": "Bash", "input": {"command": GATE_ROUTINE}, "cwd": "/srv/app", "agentId": "bench"});
    let answer = post(&server.http, server.url("/api/v1/gate"), &router, routine.clone()).await?;
    anyhow::ensure!(answer["decision"] == "allow", "the gate answered {answer} to {routine}");
    let gate_allow = drive("gate-allow", wrk::gate(&[routine.to_string()], &router)?).await?;
    notes.push(format!(
        "gate runs with GATE_RATE_LIMIT={GATE_RATE_LIMIT}: the per-key limit is on and checked on every call, \
         above the run's volume so that no call is refused (the default is 600 a minute per key)."
    ));
    println!(
        "running the gate at {GATE_RATE} decisions/s (reqwest, paced, {} s)",
        settings.seconds.as_secs()
    );
    let gate_paced = {
        let (http, url, key, calls) =
            (server.http.clone(), server.url("/api/v1/gate"), gater.clone(), calls.clone());
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        scenario::paced(GATE_RATE, settings.seconds, move || {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (http, url, key) = (http.clone(), url.clone(), key.clone());
            let body: serde_json::Value = serde_json::from_str(&calls[i % calls.len()]).unwrap_or_default();
            async move {
                let answer = post(&http, url, &key, body).await?;
                anyhow::ensure!(answer["decision"] == "allow" || answer["decision"] == "deny", "{answer}");
                anyhow::Ok(())
            }
        })
        .await?
    };

    let agent = actors.key(&server, "agent").await?;
    let ids = ask_many(&server, &agent, 100, "bench status").await?;
    let status = drive("status", wrk::status(&ids, &agent)?).await?;

    let id = ask(&server, &agent, "bench verify").await?;
    actors.approve(&server, &id).await?;
    let approved = get(&server.http, server.url(&format!("/api/v1/approval/status/{id}")), &agent).await?;
    let token = text(&approved, "token")?;
    let body = json!({ "token": token }).to_string();
    let token_valid = || async {
        let r =
            post(&server.http, server.url("/api/v1/approval/verify-token"), "", json!({ "token": token }));
        let r = r.await?;
        anyhow::ensure!(r["valid"] == true, "the token did not verify: {r}");
        anyhow::Ok(())
    };
    // verify-token answers 200 for an invalid token too: checked valid before and after.
    token_valid().await?;
    let headers = [("Content-Type", "application/json")];
    let verify =
        drive("verify", wrk::fixed("POST", "/api/v1/approval/verify-token", &headers, Some(&body))?).await?;
    token_valid().await?;

    println!(
        "running ask + approve (reqwest, {} clients, {} s)",
        settings.concurrency,
        settings.seconds.as_secs()
    );
    let (s, a, k) = (Arc::new(server), actors.clone(), Arc::new(agent));
    let approvals = scenario::run(settings.concurrency, settings.seconds, {
        let (s, a, k) = (s.clone(), a.clone(), k.clone());
        move || {
            let (s, a, k) = (s.clone(), a.clone(), k.clone());
            async move {
                let id = ask(&s, &k, "bench approve").await?;
                a.approve(&s, &id).await
            }
        }
    })
    .await?;
    let server = Arc::try_unwrap(s).map_err(|_| anyhow::anyhow!("the server is still shared"))?;

    println!("measuring the ceilings ({} s each)", settings.seconds.as_secs());
    let sqlite = ceilings::sqlite_commits(&server.dir().join("ceiling.db"), settings.seconds).await?;
    let sqlite = from_figures("SQLite durable commits, 1 connection", "in-process", &sqlite);
    let mut raw = vec![sqlite];
    if let Some(url) = database_url {
        let pg = ceilings::postgres_commits(url, 64, settings.seconds).await?;
        raw.push(from_figures("PostgreSQL commits, 64 connections", "in-process", &pg));
        notes.push(format!("PostgreSQL: {}", ceilings::postgres_durability(url).await?));
    }
    let jwks = get(&server.http, server.url("/.well-known/jwks.json"), "").await?;
    let ed = ceilings::ed25519_verifies(&token, &jwks, settings.seconds).await?;
    let ed = from_figures("Ed25519 verifications, 1 core", "in-process", &ed);
    let no_db_rate = no_db.per_second();
    // The backend's own: the SQLite file on SQLite, PostgreSQL's group commit on PostgreSQL.
    let commit_rate = raw.last().map_or(f64::NAN, Row::per_second);
    let ed_rate = ed.per_second();

    println!("parking {} waiting agents", settings.waiters);
    let waiters = memory::waiting_agents(&server, &actors, settings.waiters).await?;
    server.stop().await?;
    println!("parking {} connections on a bare axum server", settings.waiters);
    let floor = memory::bare_floor(settings.waiters).await?;

    notes.push(format!(
        "ask + approve runs on the reqwest driver in the bench process ({} clients; the passkey signs \
         client-side, one signature at a time): not comparable with the wrk ceiling, so no ratio.",
        settings.concurrency
    ));
    notes.push(format!(
        "gate at {GATE_RATE}/s: one call started every millisecond whatever the earlier ones do (open \
         loop, reqwest in the bench process); latency counts from when a call was due. Target: p99 <= 5 ms."
    ));
    notes.push(
        "wrk counts answers >= 400 as errors; verify-token answers 200 for an invalid token too, so the \
         token was checked valid before and after its run."
            .to_owned(),
    );
    notes.push(
        "wrk, the server and PostgreSQL share the same cores: read the ratios, not the absolute rates."
            .to_owned(),
    );

    let named = |name: &str, row: Row| Row { name: name.to_owned(), ..row };
    let scenarios = vec![
        named(&format!("GET {NO_DB_PATH} ({NO_DB})"), no_db.against(NO_DB, no_db_rate)),
        named("GET /health (pings the DB)", health.against(NO_DB, no_db_rate)),
        named("create, 1 key", create_one.against("durable commits", commit_rate).against(NO_DB, no_db_rate)),
        named(
            "create, 16 keys",
            create_sixteen.against("durable commits", commit_rate).against(NO_DB, no_db_rate),
        ),
        named("status, 100 ids, no wait", status.against(NO_DB, no_db_rate)),
        named(
            "gate: rule allow + deny",
            gate.against("durable commits", commit_rate).against(NO_DB, no_db_rate),
        ),
        named(
            &format!("gate: allowed `{GATE_ROUTINE}`, 1 key"),
            gate_allow.against("durable commits", commit_rate).against(NO_DB, no_db_rate),
        ),
        from_figures(&format!("gate at {GATE_RATE}/s (paced)"), "reqwest", &gate_paced),
        named("verify-token (no consume)", verify.against("Ed25519 on 1 core", ed_rate)),
        from_figures("ask + approve (passkey ceremony)", "reqwest", &approvals),
    ];
    let mut ceilings = raw;
    ceilings.push(ed);
    Ok((scenarios, ceilings, idle_kib, waiters, floor, notes))
}
