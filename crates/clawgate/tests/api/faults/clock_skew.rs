//! An instance whose clock is five minutes off (libfaketime) on a shared PostgreSQL database.

use super::*;

/// Debian's libfaketime, wherever the architecture put it; `None` (with a note) when missing.
fn libfaketime() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketime.so.1")])
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            !env_flag("CLAWGATE_REQUIRE_FAULT_TOOLS"),
            "CLAWGATE_REQUIRE_FAULT_TOOLS=1 but libfaketime is missing (apt-get install libfaketime)"
        );
        crate::harness::skip(
            &crate::harness::current_test(),
            "libfaketime is missing (apt-get install libfaketime)",
        );
    }
    found
}

/// The database's clock: the true time for every instance that shares it.
async fn database_now_ms(url: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let now: i64 = sqlx::query_scalar("SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT")
        .fetch_one(&mut conn)
        .await
        .expect("clock");
    let _ = conn.close().await;
    now
}

/// What a skewed instance did, next to an honest one on the same database.
#[derive(Debug)]
struct SkewSeen {
    /// expiresAt the skewed instance wrote minus the honest one's, for the same lifetime.
    expires_at_off_ms: i64,
    /// A fresh 30 s request made on the honest instance, read through the skewed one.
    fresh_status: String,
    /// That request approved through the skewed instance: whether its token verifies on the
    /// honest instance (`None` when it could not be approved).
    fresh_token_valid: Option<bool>,
    /// The skewed instance's own request, approved through the honest one: the answer's status.
    its_request_approved_elsewhere: u16,
    /// An approval sent to the skewed instance after the request's real expiry: the status of the
    /// approval, or of the ceremony's start when that was refused already.
    late_approval: u16,
}

struct SkewSetup<'a> {
    http: &'a reqwest::Client,
    honest: &'a str,
    origin: &'a str,
    url: &'a str,
    faketime: &'a Path,
}

async fn probe_skewed(s: &SkewSetup<'_>, owner: &mut Owner, skew: &str, clock_source: &str) -> SkewSeen {
    let port = free_port();
    let mut env = server_env(port, s.origin, ("DATABASE_URL", s.url.to_owned()));
    env.extend([
        ("LD_PRELOAD", s.faketime.display().to_string()),
        ("FAKETIME", skew.to_owned()),
        // Timers and timeouts keep real time; only the wall clock is off.
        ("DONT_FAKE_MONOTONIC", "1".to_owned()),
        ("CLOCK_SOURCE", clock_source.to_owned()),
    ]);
    let skewed = Clawgate::start(&env);
    let (http, honest, key) = (s.http, s.honest, owner.api_key.clone());

    // The same lifetime asked of both, back to back.
    let t0 = database_now_ms(s.url).await;
    let on_honest = create(http, honest, &key, "asked of the honest instance", 300).await;
    let on_skewed = create(http, &skewed.base, &key, "asked of the skewed instance", 300).await;
    let t1 = database_now_ms(s.url).await;
    let honest_expiry = parse_ms(&on_honest.body["expiresAt"]);
    assert!(
        (t0 + 300_000 - 1_000..=t1 + 300_000 + 1_000).contains(&honest_expiry),
        "the honest instance writes the true expiry ({t0}..{t1} + 300 s): {honest_expiry}"
    );
    let expires_at_off_ms = parse_ms(&on_skewed.body["expiresAt"]) - honest_expiry;
    let its_id = on_skewed.body["requestId"].as_str().expect("id").to_owned();
    let its_request_approved_elsewhere = match start_ceremony(http, honest, &its_id).await.expect("answer") {
        start if start.status == 200 => {
            let signed = owner.key.get(&start.body["publicKey"]).await;
            send_approval(http, honest, &its_id, &start.body["ceremonyId"], &signed)
                .await
                .expect("answer")
                .status
        }
        refused => refused.status,
    };

    // A fresh request of the honest instance, through the skewed one: status, then approval.
    let fresh = create(http, honest, &key, "fresh, 30 s", 30).await;
    let fresh_id = fresh.body["requestId"].as_str().expect("id").to_owned();
    let read = expect(status_of(http, &skewed.base, &key, &fresh_id).await, 200);
    let fresh_status = read.body["status"].as_str().expect("status").to_owned();
    let mut fresh_token_valid = None;
    if fresh_status == "PENDING" {
        assert_eq!(read.body["expiresAt"], fresh.body["expiresAt"]);
        let start = expect(start_ceremony(http, &skewed.base, &fresh_id).await, 200);
        let signed = owner.key.get(&start.body["publicKey"]).await;
        expect(send_approval(http, &skewed.base, &fresh_id, &start.body["ceremonyId"], &signed).await, 200);
        let seen = expect(status_of(http, honest, &key, &fresh_id).await, 200);
        assert_eq!(seen.body["status"], "APPROVED");
        let token = seen.body["token"].as_str().expect("token");
        fresh_token_valid =
            expect(verify_token(http, honest, token, false).await, 200).body["valid"].as_bool();
    }

    // An approval after the request's real expiry. Waiting out even the shortest lifetime (30 s)
    // would be slow, so once the ceremony has begun the stored expiry is moved to one second ago
    // by the database's clock: the request has truly lapsed, as if its 300 s had passed.
    let late = create(http, honest, &key, "late approval", 300).await;
    let late_id = late.body["requestId"].as_str().expect("id").to_owned();
    let start = start_ceremony(http, &skewed.base, &late_id).await.expect("answer");
    let late_approval = if start.status == 200 {
        let signed = owner.key.get(&start.body["publicKey"]).await;
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(s.url).await.expect("connect");
        sqlx::query(
            "UPDATE approval_requests \
             SET expires_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT - 1000 WHERE id = $1",
        )
        .bind(&late_id)
        .execute(&mut conn)
        .await
        .expect("update");
        let _ = conn.close().await;
        let sent = send_approval(http, &skewed.base, &late_id, &start.body["ceremonyId"], &signed).await;
        let sent = sent.expect("answer");
        if sent.status == 410 {
            assert_eq!(sent.code(), "request_expired");
        }
        sent.status
    } else {
        start.status
    };
    skewed.stop();
    SkewSeen {
        expires_at_off_ms,
        fresh_status,
        fresh_token_valid,
        its_request_approved_elsewhere,
        late_approval,
    }
}

/// An instance whose clock is 5 minutes ahead or behind (libfaketime), beside an honest one on
/// the same PostgreSQL database: with the database's clock (the default) it writes the true
/// expiry, does not expire a fresh request early, cannot approve after the real expiry, and its
/// tokens verify elsewhere. With CLOCK_SOURCE=local the same probes catch it out, which shows
/// they can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_clock_makes_no_wrong_expiry_on_a_shared_database() {
    let Some(faketime) = libfaketime() else { return };
    let Some(db) = TestDb::new(Backend::Postgres).await else { return };
    let url = db.url.clone().expect("a PostgreSQL URL");
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let honest = Clawgate::start(&server_env(port, &origin, ("DATABASE_URL", url.clone())));
    let http = http_client();
    let mut owner = enroll(&http, &honest.base, &origin, "ada@example.com").await;
    let setup =
        SkewSetup { http: &http, honest: &honest.base, origin: &origin, url: &url, faketime: &faketime };

    // The database's clock first: a local-clock instance ahead expires everything it sees.
    for (skew, source) in [("+5m", "database"), ("-5m", "database"), ("+5m", "local"), ("-5m", "local")] {
        let seen = probe_skewed(&setup, &mut owner, skew, source).await;
        eprintln!("clock {skew}, CLOCK_SOURCE={source}: {seen:?}");
        if source == "database" {
            assert!(
                seen.expires_at_off_ms.abs() <= 1_000,
                "{skew}: expiresAt off by {} ms",
                seen.expires_at_off_ms
            );
            assert_eq!(seen.fresh_status, "PENDING", "{skew}: a fresh request expired early");
            assert_eq!(
                seen.fresh_token_valid,
                Some(true),
                "{skew}: its token verifies on the honest instance"
            );
            assert_eq!(seen.its_request_approved_elsewhere, 200, "{skew}: its request approves elsewhere");
            assert_eq!(seen.late_approval, 410, "{skew}: an approval after the real expiry");
        } else if skew.starts_with('+') {
            assert!(seen.expires_at_off_ms > 240_000, "the probe sees a local clock ahead: {seen:?}");
            assert_eq!(seen.fresh_status, "EXPIRED", "the probe sees early expiry: {seen:?}");
        } else {
            assert!(seen.expires_at_off_ms < -240_000, "the probe sees a local clock behind: {seen:?}");
            assert_eq!(seen.late_approval, 200, "the probe sees a late approval: {seen:?}");
        }
    }
    honest.stop();
    drop(db);
}
