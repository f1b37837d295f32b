//! A restart with pending requests, some of which lapse while the server is down.

use super::*;

on_both_databases!(a_restart_keeps_pending_requests_and_expires_those_that_lapsed);

/// How long the server is down, by its clock.
const DOWNTIME_MS: i64 = 200_000;

/// 100 pending requests (30 s to 600 s), two approval ceremonies begun; the server stops, 200 s
/// pass, a new server starts on the same database. Requests still in time keep their `expiresAt`
/// exactly and can be approved; lapsed ones are EXPIRED and can be neither approved (ceremony
/// start or one begun before the restart: 410) nor denied (410); the ceremony begun before the
/// restart for a request still in time completes.
async fn a_restart_keeps_pending_requests_and_expires_those_that_lapsed(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    // A key may have 10 requests waiting (MAX_PENDING_PER_KEY): ten keys, ten requests each.
    let mut keys = Vec::new();
    for _ in 0..10 {
        keys.push(app.api_key(&ada).await);
    }
    let before = app.clock.now_ms();
    // (id, key, lifetime in seconds, expiresAt as first answered)
    let mut asked: Vec<(String, String, i64, Value)> = Vec::new();
    for i in 0..100_i64 {
        // 30 s to 600 s, and both sides of the downtime's edge (200 s lapses, 201 s does not).
        let lifetime = match i {
            0 => 200,
            1 => 201,
            _ => 30 + (i - 2) * 570 / 97,
        };
        let key = keys[usize::try_from(i).expect("small") % keys.len()].clone();
        let r = app
            .post(
                "/api/v1/approval/request",
                &Auth::Bearer(key.clone()),
                json!({ "action": format!("pending {i}"), "agentId": "bot", "expiresInSeconds": lifetime }),
            )
            .await
            .expect(201);
        assert_eq!(parse_ms(&r.body["expiresAt"]), before + lifetime * 1000);
        asked.push((
            r.body["requestId"].as_str().expect("id").to_owned(),
            key,
            lifetime,
            r.body["expiresAt"].clone(),
        ));
    }
    let lapses = |lifetime: i64| lifetime * 1000 <= DOWNTIME_MS;
    // Ceremonies begun and signed before the restart: one for a request that outlives the
    // downtime (600 s), one for a request that does not (30 s).
    let (live_id, lapsing_id) = (asked[99].0.clone(), asked[2].0.clone());
    assert!(!lapses(asked[99].2) && lapses(asked[2].2));
    let mut begun = Vec::new();
    for id in [&live_id, &lapsing_id] {
        let start = app.approval_ceremony(id).await.expect(200);
        let signed = ada.key.get(&start.body["publicKey"]).await;
        begun.push((start.body["ceremonyId"].clone(), signed));
    }

    let origin = app.origin.clone();
    let db = app.stop().await;
    let app = TestApp::spawn_on(db, |a| {
        a.rp_origin = Some(origin);
        a.poll_rate_limit = 1_000_000;
    })
    .await;
    // The new process's clock: 200 s after the old one stopped.
    app.clock.set_ms(before + DOWNTIME_MS);

    // The ceremony state lives in the database: the one begun before the restart completes.
    app.send_approval(&live_id, &begun[0].0, &begun[0].1).await.expect(200);
    app.send_approval(&lapsing_id, &begun[1].0, &begun[1].1).await.expect_error(410, "request_expired");

    let (mut kept, mut lapsed) = (0, 0);
    for (id, key, lifetime, expires_at) in &asked {
        let status = app.status(key, id).await.expect(200);
        assert_eq!(&status.body["expiresAt"], expires_at, "{id} keeps its expiry exactly");
        if lapses(*lifetime) {
            lapsed += 1;
            assert_eq!(
                status.body["status"], "EXPIRED",
                "{id} ({lifetime} s) lapsed while the server was down"
            );
            assert!(status.body.get("token").is_none());
            assert_eq!(status.body["decidedAt"], *expires_at);
            app.approval_ceremony(id).await.expect_error(410, "request_expired");
            app.deny(&ada, id).await.expect_error(410, "request_expired");
        } else {
            kept += 1;
            if *id == live_id {
                assert_eq!(status.body["status"], "APPROVED");
                continue;
            }
            assert_eq!(status.body["status"], "PENDING", "{id} ({lifetime} s) is still in time");
            app.approve(id, &mut ada.key).await.expect(200);
            let approved = app.status(key, id).await.expect(200);
            assert_eq!(approved.body["status"], "APPROVED");
            assert!(approved.body["token"].is_string());
        }
    }
    let expired = app.scalar_i64("SELECT COUNT(*) FROM approval_requests WHERE status = 'EXPIRED'").await;
    let approved = app
        .scalar_i64("SELECT COUNT(*) FROM approval_requests WHERE status = 'APPROVED' AND token IS NOT NULL")
        .await;
    let others =
        app.scalar_i64("SELECT COUNT(*) FROM approval_requests WHERE status IN ('PENDING', 'DENIED')").await;
    assert_eq!((expired, approved, others), (lapsed, kept, 0));
    let expiry_rows =
        app.scalar_i64("SELECT COUNT(*) FROM audit_events WHERE event = 'request.expired'").await;
    let decision_rows = app
        .scalar_i64("SELECT COUNT(*) FROM audit_events WHERE event IN ('request.approved', 'request.denied')")
        .await;
    assert_eq!((expiry_rows, decision_rows), (lapsed, kept), "one audit row per decision, none for refusals");
    eprintln!(
        "restart with 100 pending on {:?}: {kept} kept their expiry and were approved (one with a ceremony \
         begun before the restart), {lapsed} lapsed during {} s of downtime and refused approval and denial",
        app.backend(),
        DOWNTIME_MS / 1000
    );
}
