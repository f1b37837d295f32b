//! Standing grants over the API (issue 10, part 3): a request the gate asks about offers grant
//! widths; the person picks one when approving with their passkey; later calls of the same key
//! within that width pass (`decidedBy: "grant"`) exactly as many times as allowed, on every
//! instance, until the grant expires or is revoked; a deny rule still wins; only the owner sees
//! and revokes their grants, and a grant is only made from a gate call, at an offered width.

use crate::harness::grants::{
    GATE, START, approve_with_grant, asked, asking_person, bash, bash_in, gate, granted, start_with,
};
use crate::harness::{Auth, Person, TestApp, into_resp, on_both_backends, on_both_databases};
use clawgate::config::Backend;
use serde_json::{Value, json};

on_both_databases!(
    a_grant_chosen_with_the_approval_lets_calls_within_it_pass,
    a_grant_allows_exactly_its_uses_under_concurrency,
    a_grant_expires_at_its_expiry_to_the_millisecond,
    a_revoked_grant_allows_nothing_after_the_answer,
    grants_are_refused_unless_offered_and_kept_to_their_owner,
    a_deny_rule_wins_over_a_grant,
    a_ceremony_saved_before_grants_existed_still_approves,
    grant_options_are_narrowest_first_in_plain_words,
    a_call_without_a_cwd_is_never_granted_for_any_directory,
    the_gate_and_its_dry_run_name_the_grant_that_allows_a_call,
);

on_both_backends!(
    a_grant_allows_exactly_its_uses_across_instances,
    a_revoke_racing_calls_leaves_no_use_after_it
);

fn allowed_by(r: &Value, grant: &str) -> bool {
    r["decision"] == "allow" && r["decidedBy"] == "grant" && r["grantId"] == grant
}

/// `n` gate calls of `command` sent at once, spread over `apps`: their bodies.
async fn at_once(apps: &[&TestApp], key: &str, n: usize, command: &str) -> Vec<Value> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = apps[i % apps.len()];
            let req = app.http.post(app.url(GATE)).bearer_auth(key).json(&bash(command));
            tokio::spawn(async move { into_resp(req.send().await.expect("sent")).await })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.expect("joined");
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
        bodies.push(r.body);
    }
    bodies
}

async fn grant_listed(app: &TestApp, person: &Person, id: &str) -> Value {
    let list = app.get("/api/v1/grants", &person.auth()).await.expect(200);
    list.body["grants"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["id"] == id).cloned())
        .unwrap_or_else(|| panic!("grant {id} listed: {}", list.text))
}

async fn count(app: &TestApp, sql: &'static str, binds: &[&str]) -> i64 {
    let mut q = sqlx::query_scalar::<_, i64>(sql);
    for b in binds {
        q = q.bind(b.to_string());
    }
    q.fetch_one(app.state.db.pool()).await.expect("query")
}

async fn a_grant_chosen_with_the_approval_lets_calls_within_it_pass(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let id = asked(&app, &key, bash("cargo test --release")).await;

    // The pending request offers: this exact command and `cargo test` (never the bare program);
    // and the durations.
    let one = app.get(&format!("/api/v1/approval/{id}"), &ada.auth()).await.expect(200);
    let options = one.body["grantOptions"].as_array().expect("grantOptions").clone();
    let widths: Vec<Value> = options.iter().map(|o| o["width"].clone()).collect();
    assert_eq!(widths, vec![json!("exactCommand"), json!({"argvPrefix": 2})], "{}", one.text);
    assert!(options.iter().all(|o| o["description"].as_str().is_some_and(|d| d.contains("/srv/app"))));
    // Plain words since issue 17 (before: "commands starting `cargo test`", with Markdown
    // backticks the page showed literally).
    assert!(
        options[1]["description"].as_str().expect("description").contains("commands starting cargo test"),
        "{options:?}"
    );
    assert_eq!(one.body["grantDurations"], json!([900, 3600, 28800]));
    let pending = app.get("/api/v1/approval/pending", &ada.auth()).await.expect(200);
    assert_eq!(pending.body["requests"][0]["grantOptions"], json!(options));

    // A file tool's call offers "any call of this tool here"; a compound command offers nothing.
    let write = json!({"tool": "Write", "input": {"file_path": "/srv/app/notes.txt", "content": "x"}, "cwd": "/srv/app", "agentId": "claude"});
    let write_id = asked(&app, &key, write).await;
    let w = app.get(&format!("/api/v1/approval/{write_id}"), &ada.auth()).await.expect(200);
    let w_widths: Vec<Value> =
        w.body["grantOptions"].as_array().expect("options").iter().map(|o| o["width"].clone()).collect();
    assert_eq!(w_widths, vec![json!("toolInCwd")], "{}", w.text);
    let compound_id = asked(&app, &key, bash("cargo test && curl x")).await;
    let c = app.get(&format!("/api/v1/approval/{compound_id}"), &ada.auth()).await.expect(200);
    assert!(c.body.get("grantOptions").is_none() && c.body.get("grantDurations").is_none(), "{}", c.text);
    for other in [&write_id, &compound_id] {
        app.deny(&ada, other).await.expect(200);
    }

    // Approved with "commands starting `cargo test`", an hour, three uses.
    let approved = approve_with_grant(
        &app,
        &mut ada,
        &id,
        json!({"width": {"argvPrefix": 2}, "ttlSeconds": 3600, "maxUses": 3}),
    )
    .await
    .expect(200);
    assert_eq!(approved.body["status"], "APPROVED");
    let grant = approved.body["grantId"].as_str().expect("grantId").to_owned();
    assert!(grant.starts_with("grt_"), "{grant}");
    let after = app.get(&format!("/api/v1/approval/{id}"), &ada.auth()).await.expect(200);
    assert!(after.body.get("grantOptions").is_none(), "a decided request offers nothing: {}", after.text);
    let created = count(
        &app,
        "SELECT COUNT(*) FROM audit_events WHERE event = 'grant.created' AND request_id = $1 AND credential_id IS NOT NULL AND detail LIKE $2",
        &[&id, &format!("grant {grant}: commands starting cargo test%; for 3600 s; at most 3 uses")],
    )
    .await;
    assert_eq!(created, 1);

    // Within the grant: allowed by it, with a token that says so.
    let ok = gate(&app, &key, bash("cargo test --lib")).await;
    assert!(allowed_by(&ok.body, &grant), "{}", ok.text);
    assert!(ok.body["decisionId"].is_string() && ok.body.get("requestId").is_none(), "{}", ok.text);
    let token = ok.body["token"].as_str().expect("a token");
    let verified =
        app.verify(json!({"token": token, "action": "cargo test --lib", "accept": ["grant"]})).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);
    assert_eq!(verified.body["claims"]["decidedBy"], "grant");
    assert!(verified.body["claims"].get("credentialId").is_none(), "{}", verified.text);

    // Outside it: another command, another directory, another agent, a wrapper: asked.
    for call in [
        bash("cargo build"),
        bash_in("cargo test --lib", "/srv/other", "claude"),
        bash_in("cargo test --lib", "/srv/app", "someone-else"),
        bash("sudo cargo test"),
    ] {
        let r = gate(&app, &key, call.clone()).await;
        assert_eq!(r.body["decision"], "ask", "{call}: {}", r.text);
    }

    // Listed with what it covers and its use so far.
    let listed = grant_listed(&app, &ada, &grant).await;
    assert_eq!(listed["state"], "live");
    assert_eq!(listed["uses"], 1);
    assert_eq!(listed["maxUses"], 3);
    assert_eq!(listed["requestId"], id.as_str());
    assert_eq!(listed["agentId"], "claude");
    assert_eq!(listed["scope"]["argvPrefix"], json!(["cargo", "test"]));
    assert_eq!(listed["scope"]["exact"], false);
    assert!(listed["createdAt"].as_str().is_some() && listed["expiresAt"].as_str().is_some());
    assert!(listed.get("revokedAt").is_none());

    // Exactly three uses: two more pass, the next asks.
    for _ in 0..2 {
        let r = gate(&app, &key, bash("cargo test")).await;
        assert!(allowed_by(&r.body, &grant), "{}", r.text);
    }
    let r = gate(&app, &key, bash("cargo test")).await;
    assert_eq!(r.body["decision"], "ask", "{}", r.text);
    let listed = grant_listed(&app, &ada, &grant).await;
    assert_eq!((listed["state"].clone(), listed["uses"].clone()), (json!("usedUp"), json!(3)));
}

async fn a_grant_allows_exactly_its_uses_under_concurrency(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let grant = granted(
        &app,
        &mut ada,
        &key,
        "cargo test --release",
        json!({"width": {"argvPrefix": 2}, "ttlSeconds": 900, "maxUses": 3}),
    )
    .await;
    let bodies = at_once(&[&app], &key, 10, "cargo test --lib").await;
    let by_grant = bodies.iter().filter(|b| allowed_by(b, &grant)).count();
    assert_eq!(by_grant, 3, "{bodies:?}");
    assert!(bodies.iter().filter(|b| !allowed_by(b, &grant)).all(|b| b["decision"] == "ask"), "{bodies:?}");
    assert_eq!(grant_listed(&app, &ada, &grant).await["uses"], 3);
}

async fn a_grant_allows_exactly_its_uses_across_instances(backend: Backend) {
    let Some(a) = TestApp::spawn(backend).await else { return };
    let b = a.second_instance().await;
    let (mut ada, key) = asking_person(&a, "ada@example.com").await;
    let grant = granted(
        &a,
        &mut ada,
        &key,
        "cargo test --release",
        json!({"width": {"argvPrefix": 2}, "ttlSeconds": 900, "maxUses": 4}),
    )
    .await;
    let bodies = at_once(&[&a, &b], &key, 10, "cargo test --doc").await;
    let by_grant = bodies.iter().filter(|body| allowed_by(body, &grant)).count();
    assert_eq!(by_grant, 4, "{bodies:?}");
    let recorded = count(
        &a,
        "SELECT COUNT(*) FROM gate_decisions WHERE decided_by = 'grant' AND decision_ref = $1",
        &[&grant],
    )
    .await;
    assert_eq!(recorded, 4);
}

async fn a_grant_expires_at_its_expiry_to_the_millisecond(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let grant =
        granted(&app, &mut ada, &key, "make check", json!({"width": "exactCommand", "ttlSeconds": 900}))
            .await;
    let listed = grant_listed(&app, &ada, &grant).await;
    assert!(listed.get("maxUses").is_none(), "no limit chosen: {listed}");
    // The test server runs on a manual clock: the grant was made at its "now".
    app.clock.advance_ms(900_000 - 1);
    let last = gate(&app, &key, bash("make check")).await;
    assert!(allowed_by(&last.body, &grant), "1 ms before expiry: {}", last.text);
    // Exact means exact: an extra word is asked about.
    let longer = gate(&app, &key, bash("make check -j4")).await;
    assert_eq!(longer.body["decision"], "ask", "{}", longer.text);
    app.clock.advance_ms(1);
    let lapsed = gate(&app, &key, bash("make check")).await;
    assert_eq!(lapsed.body["decision"], "ask", "at expiry: {}", lapsed.text);
    assert_eq!(grant_listed(&app, &ada, &grant).await["state"], "expired");
    // Revoking a lapsed grant is a no-op that answers 204 (idempotent), and writes no audit row.
    app.delete(&format!("/api/v1/grants/{grant}"), &ada.auth()).await.expect(204);
    assert_eq!(grant_listed(&app, &ada, &grant).await["state"], "expired");
    let revoked = count(&app, "SELECT COUNT(*) FROM audit_events WHERE event = 'grant.revoked'", &[]).await;
    assert_eq!(revoked, 0);
}

async fn a_revoked_grant_allows_nothing_after_the_answer(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let grant = granted(
        &app,
        &mut ada,
        &key,
        "npm run lint --quiet",
        json!({"width": {"argvPrefix": 3}, "ttlSeconds": 28800}),
    )
    .await;
    let r = gate(&app, &key, bash("npm run lint -- --fix")).await;
    assert!(allowed_by(&r.body, &grant), "{}", r.text);
    // Someone else's session, even with the grant's id, finds nothing to revoke.
    let (email_session, _) = app.register("bob@example.com").await;
    let bob = Auth::Bearer(email_session);
    app.delete(&format!("/api/v1/grants/{grant}"), &bob).await.expect_error(404, "not_found");

    app.delete(&format!("/api/v1/grants/{grant}"), &ada.auth()).await.expect(204);
    let r = gate(&app, &key, bash("npm run lint -- --fix")).await;
    assert_eq!(r.body["decision"], "ask", "{}", r.text);
    let listed = grant_listed(&app, &ada, &grant).await;
    assert_eq!(listed["state"], "revoked");
    assert!(listed["revokedAt"].as_str().is_some(), "{listed}");
    // Again: 204, nothing more written.
    app.delete(&format!("/api/v1/grants/{grant}"), &ada.auth()).await.expect(204);
    let audited = count(
        &app,
        "SELECT COUNT(*) FROM audit_events WHERE event = 'grant.revoked' AND detail LIKE $1",
        &[&format!("grant {grant}:%")],
    )
    .await;
    assert_eq!(audited, 1);
}

async fn a_revoke_racing_calls_leaves_no_use_after_it(backend: Backend) {
    // No cap on pending requests: every call that is not allowed asks.
    let Some(app) = TestApp::spawn_with(backend, |a| a.max_pending_per_key = 0).await else { return };
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let grant = granted(
        &app,
        &mut ada,
        &key,
        "cargo test --release",
        json!({"width": {"argvPrefix": 2}, "ttlSeconds": 3600}),
    )
    .await;
    let calls = {
        let app_calls: Vec<_> = (0..12)
            .map(|_| {
                let req = app.http.post(app.url(GATE)).bearer_auth(&key).json(&bash("cargo test --lib"));
                tokio::spawn(async move { into_resp(req.send().await.expect("sent")).await })
            })
            .collect();
        app_calls
    };
    // Calls that read the clock from here on see a later millisecond than those before.
    app.clock.advance_ms(1);
    app.delete(&format!("/api/v1/grants/{grant}"), &ada.auth()).await.expect(204);
    // Every call after the answer asks.
    for _ in 0..3 {
        let r = gate(&app, &key, bash("cargo test --lib")).await;
        assert_eq!(r.body["decision"], "ask", "{}", r.text);
    }
    let mut by_grant = 0;
    for c in calls {
        let r = c.await.expect("joined");
        assert_eq!(r.status.as_u16(), 200, "{}", r.text);
        if allowed_by(&r.body, &grant) {
            by_grant += 1;
        } else {
            assert_eq!(r.body["decision"], "ask", "{}", r.text);
        }
    }
    // Each call the grant allowed was recorded, with its use, before the revocation.
    let revoked_at: i64 = sqlx::query_scalar("SELECT revoked_at FROM grants WHERE id = $1")
        .bind(grant.clone())
        .fetch_one(app.state.db.pool())
        .await
        .expect("revoked_at");
    let later = sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM audit_events WHERE event = 'gate.allowed' AND detail LIKE $1 AND at > $2",
    )
    .bind(format!("% by grant {grant}"))
    .bind(revoked_at)
    .fetch_one(app.state.db.pool())
    .await
    .expect("query");
    assert_eq!(later, 0);
    let recorded = count(
        &app,
        "SELECT COUNT(*) FROM gate_decisions WHERE decided_by = 'grant' AND decision_ref = $1",
        &[&grant],
    )
    .await;
    assert_eq!(recorded, by_grant, "every call it allowed is recorded as allowed by it");
    let uses = grant_listed(&app, &ada, &grant).await["uses"].as_i64().expect("uses");
    assert_eq!(uses, by_grant);
}

async fn grants_are_refused_unless_offered_and_kept_to_their_owner(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let id = asked(&app, &key, bash("cargo test --release")).await;
    for (grant, why) in [
        (json!({"width": "toolInCwd", "ttlSeconds": 900}), "toolInCwd on Bash"),
        (json!({"width": {"argvPrefix": 0}, "ttlSeconds": 900}), "a prefix short of the program"),
        (json!({"width": {"argvPrefix": 3}, "ttlSeconds": 900}), "a prefix as long as the command"),
        (json!({"width": {"argvPrefix": 9}, "ttlSeconds": 900}), "a prefix past the command"),
        (json!({"width": "exactCommand", "ttlSeconds": 999}), "a duration not offered"),
        (json!({"width": "exactCommand", "ttlSeconds": 900, "maxUses": 0}), "no uses"),
        (json!({"width": "exactCommand", "ttlSeconds": 900, "maxUses": 1001}), "too many uses"),
    ] {
        let r = start_with(&app, &id, grant).await;
        assert_eq!(r.status.as_u16(), 400, "{why}: {}", r.text);
        assert_eq!(r.code(), "not_grantable", "{why}: {}", r.text);
    }
    // Not a width at all, or a grant without a request: a bad body.
    let r = start_with(&app, &id, json!({"width": "everything", "ttlSeconds": 900})).await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text);
    let r =
        app.post(START, &Auth::None, json!({"grant": {"width": "exactCommand", "ttlSeconds": 900}})).await;
    assert_eq!(r.status.as_u16(), 400, "{}", r.text);

    // A request made through `POST /approval/request` was no gate call: nothing to scope a grant on.
    let plain = app.ask(&key, "deploy to production").await;
    let shown = app.get(&format!("/api/v1/approval/{}", plain.id), &ada.auth()).await.expect(200);
    assert!(shown.body.get("grantOptions").is_none(), "{}", shown.text);
    start_with(&app, &plain.id, json!({"width": "exactCommand", "ttlSeconds": 900}))
        .await
        .expect_error(400, "not_grantable");

    // A plain approval makes no grant.
    let approved = app.approve(&plain.id, &mut ada.key).await.expect(200);
    assert!(approved.body.get("grantId").is_none(), "{}", approved.text);
    // An already decided request offers nothing to grant.
    start_with(&app, &plain.id, json!({"width": "exactCommand", "ttlSeconds": 900})).await.expect(409);

    let grant = approve_with_grant(&app, &mut ada, &id, json!({"width": "exactCommand", "ttlSeconds": 900}))
        .await
        .expect(200)
        .body["grantId"]
        .as_str()
        .expect("grantId")
        .to_owned();

    // An agent key can neither list nor revoke.
    let agent = Auth::Bearer(key.clone());
    assert_eq!(app.get("/api/v1/grants", &agent).await.status.as_u16(), 401);
    assert_eq!(app.delete(&format!("/api/v1/grants/{grant}"), &agent).await.status.as_u16(), 401);
    assert_eq!(app.get("/api/v1/grants", &Auth::None).await.status.as_u16(), 401);

    // Another person sees none of them and cannot revoke them.
    let bob = app.person("bob@example.com").await;
    let theirs = app.get("/api/v1/grants", &bob.auth()).await.expect(200);
    assert_eq!(theirs.body["grants"], json!([]), "{}", theirs.text);
    app.delete(&format!("/api/v1/grants/{grant}"), &bob.auth()).await.expect_error(404, "not_found");
    app.delete("/api/v1/grants/grt_unknown", &ada.auth()).await.expect_error(404, "not_found");
    assert_eq!(grant_listed(&app, &ada, &grant).await["state"], "live");
    let r = gate(&app, &key, bash("cargo test --release")).await;
    assert!(allowed_by(&r.body, &grant), "{}", r.text);
}

async fn a_deny_rule_wins_over_a_grant(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let grant = granted(
        &app,
        &mut ada,
        &key,
        "cargo test --release",
        json!({"width": {"argvPrefix": 2}, "ttlSeconds": 3600}),
    )
    .await;
    let r = gate(&app, &key, bash("cargo test --lib")).await;
    assert!(allowed_by(&r.body, &grant), "{}", r.text);
    app.save_rules(
        &ada,
        json!({"default": "ask", "rules": [{"outcome": "deny", "tool": "Bash", "command": "cargo test*"}]}),
    )
    .await;
    let r = gate(&app, &key, bash("cargo test --lib")).await;
    assert_eq!(r.body["decision"], "deny", "{}", r.text);
    assert_eq!(grant_listed(&app, &ada, &grant).await["uses"], 1);
}

async fn a_ceremony_saved_before_grants_existed_still_approves(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let state_of = |ceremony: String| {
        let pool = app.state.db.pool().clone();
        async move {
            let text: String = sqlx::query_scalar("SELECT state FROM ceremonies WHERE id = $1")
                .bind(ceremony)
                .fetch_one(&pool)
                .await
                .expect("ceremony state");
            serde_json::from_str::<Value>(&text).expect("JSON state")
        }
    };
    // Without a grant, the state is stored exactly as before grants existed: `{"Known": …}`.
    let plain = asked(&app, &key, bash("cargo test --release")).await;
    let start = app.approval_ceremony(&plain).await.expect(200);
    let ceremony = start.body["ceremonyId"].as_str().expect("ceremonyId").to_owned();
    let state = state_of(ceremony.clone()).await;
    let keys: Vec<&String> = state.as_object().expect("an object").keys().collect();
    assert_eq!(keys, vec!["Known"], "{state}");
    // With one, the choice rides along; a state without it (an older build's) still finishes.
    let id = asked(&app, &key, bash("cargo test --lib")).await;
    let start = start_with(&app, &id, json!({"width": "exactCommand", "ttlSeconds": 900})).await.expect(200);
    let ceremony = start.body["ceremonyId"].as_str().expect("ceremonyId").to_owned();
    let mut state = state_of(ceremony.clone()).await;
    assert_eq!(state["grant"], json!({"width": "exactCommand", "ttlSeconds": 900}), "{state}");
    state.as_object_mut().expect("an object").remove("grant");
    // An older build kept no signed content with its ceremonies either.
    sqlx::query("UPDATE ceremonies SET state = $1, signed = NULL WHERE id = $2")
        .bind(state.to_string())
        .bind(ceremony)
        .execute(app.state.db.pool())
        .await
        .expect("rewritten");
    let credential = ada.key.get(&start.body["publicKey"]).await;
    let approved = app.send_approval(&id, &start.body["ceremonyId"], &credential).await.expect(200);
    assert!(approved.body.get("grantId").is_none(), "{}", approved.text);
    let listed = app.get("/api/v1/grants", &ada.auth()).await.expect(200);
    assert_eq!(listed.body["grants"], json!([]));
}

/// The request view's `grantOptions` for a pending request of `key` asking about `call`.
async fn options_of(app: &TestApp, person: &Person, key: &str, call: Value) -> (String, Vec<Value>) {
    let id = asked(app, key, call).await;
    let one = app.get(&format!("/api/v1/approval/{id}"), &person.auth()).await.expect(200);
    let options = one.body["grantOptions"].as_array().cloned().unwrap_or_default();
    (id, options)
}

fn descriptions(options: &[Value]) -> Vec<&str> {
    options.iter().map(|o| o["description"].as_str().expect("description")).collect()
}

/// Issue 17: exact first, then the longest prefix, then shorter ones (never the bare program,
/// never one ending on an option), in plain words with the command given apart for the page.
async fn grant_options_are_narrowest_first_in_plain_words(app: TestApp) {
    let (ada, key) = asking_person(&app, "ada@example.com").await;
    let (_, options) = options_of(&app, &ada, &key, bash("git push --force origin feature")).await;
    let widths: Vec<Value> = options.iter().map(|o| o["width"].clone()).collect();
    assert_eq!(widths, vec![json!("exactCommand"), json!({"argvPrefix": 4}), json!({"argvPrefix": 2})]);
    assert_eq!(
        descriptions(&options),
        [
            "exactly git push --force origin feature, by agent claude, in /srv/app",
            "commands starting git push --force origin, by agent claude, in /srv/app",
            "commands starting git push, by agent claude, in /srv/app",
        ]
    );
    assert_eq!(
        options[1]["covers"],
        json!({"what": "commands starting", "command": "git push --force origin", "agent": "by agent claude", "place": "in /srv/app"})
    );

    // `npm publish --access` would end on an option cut off from its value: not offered, and not
    // accepted when asked for.
    let (id, options) = options_of(&app, &ada, &key, bash("npm publish --access public")).await;
    let widths: Vec<Value> = options.iter().map(|o| o["width"].clone()).collect();
    assert_eq!(widths, vec![json!("exactCommand"), json!({"argvPrefix": 2})]);
    assert!(descriptions(&options).iter().all(|d| !d.contains('`')), "{options:?}");
    start_with(&app, &id, json!({"width": {"argvPrefix": 3}, "ttlSeconds": 900}))
        .await
        .expect_error(400, "not_grantable");
}

/// Issue 17: a grant is never wider than what the runtime told the server. A call that names no
/// working directory is offered grants for calls that name none, in words that say so; the grant
/// made then covers no call in a named directory.
async fn a_call_without_a_cwd_is_never_granted_for_any_directory(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let no_cwd = |command: &str| json!({"tool": "Bash", "input": {"command": command}, "agentId": "claude"});
    let (id, options) = options_of(&app, &ada, &key, no_cwd("cargo test --release")).await;
    assert_eq!(
        descriptions(&options),
        [
            "exactly cargo test --release, by agent claude, only in calls that name no working directory",
            "commands starting cargo test, by agent claude, only in calls that name no working directory",
        ]
    );
    assert!(descriptions(&options).iter().all(|d| !d.contains("any directory")));
    let approved =
        approve_with_grant(&app, &mut ada, &id, json!({"width": {"argvPrefix": 2}, "ttlSeconds": 900}))
            .await
            .expect(200);
    let grant = approved.body["grantId"].as_str().expect("grantId").to_owned();
    assert!(allowed_by(&gate(&app, &key, no_cwd("cargo test --lib")).await.body, &grant));
    for cwd in ["/srv/app", "/", "/home/ada"] {
        let r = gate(&app, &key, bash_in("cargo test --lib", cwd, "claude")).await;
        assert_eq!(r.body["decision"], "ask", "{cwd}: {}", r.text);
    }
    // A file tool's call without one is offered nothing.
    let write =
        json!({"tool": "Write", "input": {"file_path": "/srv/app/a", "content": "x"}, "agentId": "claude"});
    let (_, options) = options_of(&app, &ada, &key, write).await;
    assert!(options.is_empty(), "{options:?}");
}

/// Issue 17: explain is the decision. The gate's own explanation of a call a grant allows names
/// the grant and never says "=> ask"; the dry-run answers the same; the approve page's view of
/// the request shows the grant it made, and the list names the grant's key.
async fn the_gate_and_its_dry_run_name_the_grant_that_allows_a_call(app: TestApp) {
    let (mut ada, key) = asking_person(&app, "ada@example.com").await;
    let id = asked(&app, &key, bash("git push --force origin feature")).await;
    let grant = approve_with_grant(
        &app,
        &mut ada,
        &id,
        json!({"width": {"argvPrefix": 4}, "ttlSeconds": 3600, "maxUses": 5}),
    )
    .await
    .expect(200)
    .body["grantId"]
        .as_str()
        .expect("grantId")
        .to_owned();
    let verdict = format!(
        "=> allow (by grant {grant} \"commands starting git push --force origin, by agent claude, in /srv/app\", until "
    );

    let explained = app
        .post("/api/v1/gate/explain", &Auth::Bearer(key.clone()), bash("git push --force origin main"))
        .await;
    let explained = explained.expect(200);
    assert_eq!(explained.body["decision"], "allow", "{}", explained.text);
    assert_eq!(explained.body["decidedBy"], "grant");
    assert_eq!(explained.body["grantId"], grant.as_str());
    let words = explained.body["explanation"].as_str().expect("explanation").to_owned();
    assert!(words.lines().last().is_some_and(|l| l.starts_with(&verdict)), "{words}");
    assert!(words.ends_with("your rules alone would ask, by the default)"), "{words}");
    assert!(!words.contains("=> ask"), "{words}");

    let decided = gate(&app, &key, bash("git push --force origin main")).await;
    assert!(allowed_by(&decided.body, &grant), "{}", decided.text);
    let said = decided.body["explanation"].as_str().expect("explanation");
    assert_eq!(said, words, "the dry-run says what the gate says");

    // The request's own view now shows the grant its approval made.
    let one = app.get(&format!("/api/v1/approval/{id}"), &ada.auth()).await.expect(200);
    let made = &one.body["grant"];
    assert_eq!(made["id"], grant.as_str(), "{}", one.text);
    assert_eq!(made["covers"]["command"], "git push --force origin");
    assert_eq!((made["maxUses"].clone(), made["uses"].clone()), (json!(5), json!(1)));
    assert_eq!(made["state"], "live");
    assert_eq!(made["apiKeyName"], "bot", "the key's name: {made}");
    // Only the request that made it shows it, and the list names the key too.
    let plain = app.ask(&key, "deploy").await;
    app.approve(&plain.id, &mut ada.key).await.expect(200);
    let other = app.get(&format!("/api/v1/approval/{}", plain.id), &ada.auth()).await.expect(200);
    assert!(other.body.get("grant").is_none(), "{}", other.text);
    let listed = grant_listed(&app, &ada, &grant).await;
    assert_eq!(listed["apiKeyName"], "bot");
    assert!(listed["apiKeyId"].as_str().is_some_and(|k| !k.is_empty()), "{listed}");
}
