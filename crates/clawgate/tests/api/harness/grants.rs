//! Standing grants as the tests make them: a person whose rules ask about everything, a gate call
//! that asks, and the person's passkey approval choosing a grant.

use crate::harness::{Auth, Person, Resp, TestApp};
use serde_json::{Value, json};

/// The gate's route.
pub(crate) const GATE: &str = "/api/v1/gate";
/// Where a passkey ceremony starts (an approval's too, with its grant).
pub(crate) const START: &str = "/api/v1/passkey/authenticate/start";

/// A Bash call of `command` in `cwd` by agent `agent`.
pub(crate) fn bash_in(command: &str, cwd: &str, agent: &str) -> Value {
    json!({"tool": "Bash", "input": {"command": command}, "cwd": cwd, "agentId": agent})
}

/// A Bash call of `command` in /srv/app by agent `claude`.
pub(crate) fn bash(command: &str) -> Value {
    bash_in(command, "/srv/app", "claude")
}

/// `POST /api/v1/gate` with an agent key: its answer, which must be 200.
pub(crate) async fn gate(app: &TestApp, key: &str, call: Value) -> Resp {
    app.post(GATE, &Auth::Bearer(key.to_owned()), call).await.expect(200)
}

/// A person whose rules ask about everything, and an agent key of theirs.
pub(crate) async fn asking_person(app: &TestApp, email: &str) -> (Person, String) {
    let person = app.person(email).await;
    let key = app.api_key(&person).await;
    app.save_rules(&person, json!({"default": "ask"})).await;
    (person, key)
}

/// The gate asks about `call`: the pending request's id.
pub(crate) async fn asked(app: &TestApp, key: &str, call: Value) -> String {
    let r = gate(app, key, call).await;
    assert_eq!(r.body["decision"], "ask", "{}", r.text);
    r.body["requestId"].as_str().expect("requestId").to_owned()
}

/// `authenticate/start` for `request_id` with `grant`.
pub(crate) async fn start_with(app: &TestApp, request_id: &str, grant: Value) -> Resp {
    app.post(START, &Auth::None, json!({"requestId": request_id, "grant": grant})).await
}

/// Approves `request_id` with the person's passkey, choosing `grant`: the approval's answer.
pub(crate) async fn approve_with_grant(
    app: &TestApp,
    person: &mut Person,
    request_id: &str,
    grant: Value,
) -> Resp {
    let start = start_with(app, request_id, grant).await.expect(200);
    assert_eq!(start.body["purpose"], "approve");
    let credential = person.key.get(&start.body["publicKey"]).await;
    app.send_approval(request_id, &start.body["ceremonyId"], &credential).await
}

/// The gate asks about `command`; the person approves it with `grant`: the grant's id.
pub(crate) async fn granted(
    app: &TestApp,
    person: &mut Person,
    key: &str,
    command: &str,
    grant: Value,
) -> String {
    let id = asked(app, key, bash(command)).await;
    let approved = approve_with_grant(app, person, &id, grant).await.expect(200);
    assert_eq!(approved.body["status"], "APPROVED");
    approved.body["grantId"].as_str().expect("grantId").to_owned()
}
